/* gateway/event.c - names of event kinds, as used in logs and in test-vectors/ step lines.
 *
 * The names are exactly the step kinds of test-vectors/README.md, so a log line can be
 * turned into a vector step by hand.
 */
#include "gateway/event.h"

const char *
prl_event_kind_to_string (PrlEventKind kind)
{
  switch (kind) {
  case PRL_EVENT_SIP_MESSAGE:
    return "sip.message";
  case PRL_EVENT_SIP_RESPONSE:
    return "sip.response";
  case PRL_EVENT_XMPP_MESSAGE:
    return "xmpp.message";
  case PRL_EVENT_XMPP_LINK:
    return "xmpp.link";
  case PRL_EVENT_TIMER:
    return "timer";
  case PRL_EVENT_TICK:
    return "tick";
  case PRL_EVENT_XMPP_PRESENCE:
    return "xmpp.presence";
  case PRL_EVENT_SIP_REGISTER:
    return "sip.register";
  case PRL_EVENT_STORE_STATE:
    return "store.state";
  case PRL_EVENT_STORE_RESULT:
    return "store.result";
  case PRL_EVENT_FLUSH:
    return "flush";
  case PRL_EVENT_CHAT_INVITE:
    return "chat.invite";
  case PRL_EVENT_CHAT_OPENED:
    return "chat.opened";
  case PRL_EVENT_CHAT_FAILED:
    return "chat.failed";
  case PRL_EVENT_CHAT_CLOSED:
    return "chat.closed";
  case PRL_EVENT_CHAT_RECV:
    return "chat.recv";
  case PRL_EVENT_CHAT_SENT:
    return "chat.sent";
  case PRL_EVENT_CHAT_END:
    return "chat.end";
  }
  return "unknown";
}
