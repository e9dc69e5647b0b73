/* xmpp/codec.h - libstrophe <message/> stanza <-> PrlXmppMessage, internal to xmpp/.
 *
 * Pure conversion: no connection, no sockets, no clock; a context without a connection is
 * enough (tests and the fuzzer build stanzas with xmpp_stanza_new_from_string()). Strings
 * are copied out of the stanza into GLib memory, and stanzas built here belong to the
 * caller, who releases them with xmpp_stanza_release().
 */
#pragma once

#include <strophe.h>

#include "xmpp/xmpp.h"

G_BEGIN_DECLS

#define PRL_XMPP_NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define PRL_XMPP_NS_CHATSTATES "http://jabber.org/protocol/chatstates"
#define PRL_XMPP_NS_DELAY "urn:xmpp:delay"
#define PRL_XMPP_NS_RECEIPTS "urn:xmpp:receipts"
#define PRL_XMPP_NS_MARKERS "urn:xmpp:chat-markers:0"
#define PRL_XMPP_NS_SID "urn:xmpp:sid:0"

/* Decodes a <message/> (transfer full). Reads from, to, id, type (unknown values become
 * "normal", RFC 6121 §5.2.2), xml:lang, the first <subject/> and <body/> without xml:lang or
 * in the stanza's language (else the first one), <thread/>, the XEP-0085 element (its name in
 * chat_state), XEP-0184 <request/> and <received id/>, XEP-0333 <markable/> and <displayed id/>,
 * XEP-0359 <origin-id id/>, whether other children exist (has_payload), and for type='error' the <error/>
 * (type, condition, condition text as detail, <text/>; "cancel"/"undefined-condition" when
 * missing). Errors: PRL_XMPP_ERROR_MALFORMED when @stanza is not a <message/>, or from/to is
 * missing or not a syntactically valid JID. */
PrlXmppMessage *prl_xmpp_codec_read_message (xmpp_stanza_t *stanza, GError **error);

/* Builds a <message/> from @msg (transfer full): from, to, id, type and xml:lang attributes
 * when set, <subject/>, <thread/>, <body/>, the XEP-0085 element (chat_state, or <active/> when
 * only has_chat_state), the receipt, marker and origin-id elements that are set, and for
 * type='error' an <error type=…> with its condition (detail as its text) and <text/>
 * (defaults "cancel"/"undefined-condition"). has_payload has no content and is not written.
 * Text XML cannot carry is replaced by U+FFFD, line ends become LF (prl_xmpp_codec_xml_safe());
 * escaping is libstrophe's. */
xmpp_stanza_t *prl_xmpp_codec_write_message (xmpp_ctx_t *ctx, const PrlXmppMessage *msg);

/* The same <message/> as prl_xmpp_codec_write_message() builds, rendered as XML text
 * (transfer full; its length in @len when not NULL), for xmpp_send_raw(): no libstrophe
 * tree on the send path. Text is made XML-safe the same way, and &, <, > and " are escaped. */
char *prl_xmpp_codec_write_message_text (const PrlXmppMessage *msg, gsize *len);

/* Builds the RFC 6120 §8.3 error reply to @stanza (transfer full): same element name,
 * from/to swapped, id copied, type='error', <error type=@error_type><@condition/>
 * [<text>@text</text>]</error>. NULL when no reply is allowed: @stanza lacks from or to, or
 * is itself an error (never answer an error) or an iq result. */
xmpp_stanza_t *prl_xmpp_codec_error_reply (xmpp_stanza_t *stanza, const char *error_type,
                                           const char *condition, const char *text);

/* Copy of @s that XML 1.0 can carry (transfer full): invalid UTF-8 and characters outside
 * the XML Char production become U+FFFD; CRLF and CR become LF, as every XML parser would
 * read them (§2.11). NULL in, NULL out. */
char *prl_xmpp_codec_xml_safe (const char *s);

/* TRUE if @jid is a syntactically plausible JID: non-empty domain, non-empty localpart and
 * resource when their separators are present, no part above 1023 bytes, no whitespace or
 * control characters in the domain. */
gboolean prl_xmpp_codec_jid_is_valid (const char *jid);

/* The domain part of @jid (transfer full), or NULL if it has none. */
char *prl_xmpp_codec_jid_domain (const char *jid);

G_END_DECLS
