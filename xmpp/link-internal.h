/* xmpp/link-internal.h - the pure pieces of the component link, internal to xmpp/.
 *
 * Factored out of xmpp/link.c so xmpp/tests/test-link.c can check them without a network:
 * the reconnect backoff schedule and the iq answers (xmpp/disco.c). Stanzas returned are
 * owned by the caller (xmpp_stanza_release()).
 */
#pragma once

#include <strophe.h>

#include "xmpp/xmpp.h"

G_BEGIN_DECLS

#define PRL_XMPP_NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define PRL_XMPP_NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"

/* Delay before reconnect attempt number @attempt (0 = the first retry after a loss or a
 * failed attempt): @min_ms doubled @attempt times, capped at @max_ms. A @min_ms of 0 counts
 * as 1 and a @max_ms below @min_ms as @min_ms. Never overflows. */
guint prl_xmpp_backoff_delay (guint min_ms, guint max_ms, guint attempt);

/* The answer to an <iq/> received on the component link (transfer full), or NULL when none
 * is due (result/error iqs, iqs without from or to). XEP-0030 disco#info get to @component
 * or any JID at it: identity gateway/simple named @disco_name and the features disco#info,
 * disco#items, jid\20escaping; disco#items get: an empty result; a node we do not serve:
 * item-not-found; any other get/set: service-unavailable (cancel), RFC 6120 §8.4.
 * *is_error is set when the answer is an error stanza. */
xmpp_stanza_t *prl_xmpp_disco_answer_iq (xmpp_stanza_t *iq, const char *component,
                                         const char *disco_name, gboolean *is_error);

G_END_DECLS
