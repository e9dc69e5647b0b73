/* gateway/chat.h - the chat-session state machine of the core (mapping-docs/chat.md).
 *
 * One chat joins one XMPP user and one SIP user (keyed by the pair of bare addresses, as the
 * XMPP side writes them) to one MSRP session. States: none -> inviting -> active -> gone
 * (closing is immediate: CHAT_CLOSE ends the session and no event follows). Pure like the
 * rest of the core: events in, actions out, time from events. gateway/core.c owns the
 * PrlChat and calls it at the points named below.
 */
#pragma once

#include "gateway/action.h"
#include "gateway/core.h"
#include "gateway/event.h"

G_BEGIN_DECLS

typedef struct _PrlChat PrlChat;

/* What the chat machine needs from the core. */
typedef struct {
  guint64 (*next_seq) (gpointer core);
  /* Sends @m XMPP -> SIP in page mode (fallback: a refused INVITE, a failed SEND). */
  void (*page) (gpointer core, const PrlXmppMessage *m, gint64 now_us, GPtrArray *out);
  gboolean (*link_up) (gpointer core);
} PrlChatHost;

PrlChat *prl_chat_new (const PrlCoreConfig *config, const PrlChatHost *host, gpointer core);
void prl_chat_free (PrlChat *chat);

/* An XMPP stanza without body (chat state, receipt) from a user who may be in a chat: TRUE
 * when the chat machine took it. Called before page mode drops body-less stanzas. */
gboolean prl_chat_on_xmpp_control (PrlChat *chat, const PrlXmppMessage *m, gint64 now_us,
                                   GPtrArray *out);
/* An XMPP type='chat' message with a body, already checked and mapped (@from_uri, @to_uri):
 * TRUE when it goes (or waits to go) over a session; FALSE: send it in page mode. */
gboolean prl_chat_on_xmpp_message (PrlChat *chat, const PrlXmppMessage *m, const char *from_uri,
                                   const char *to_uri, gint64 now_us, GPtrArray *out);
/* The PRL_EVENT_CHAT_* events. */
void prl_chat_on_event (PrlChat *chat, const PrlEvent *event, GPtrArray *out);
/* Unavailable presence from @jid: its chats end. */
void prl_chat_on_unavailable (PrlChat *chat, const char *jid, gint64 now_us, GPtrArray *out);
/* The XMPP link went down: every chat ends (nothing could reach the XMPP side). */
void prl_chat_on_link_down (PrlChat *chat, gint64 now_us, GPtrArray *out);
/* 1 s housekeeping: idle timeouts, isComposing refreshes, expired fallbacks. */
void prl_chat_on_tick (PrlChat *chat, gint64 now_us, GPtrArray *out);
/* Chats alive (inviting + active). */
guint prl_chat_count (PrlChat *chat);

G_END_DECLS
