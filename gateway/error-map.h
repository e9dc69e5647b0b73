/* gateway/error-map.h - the RFC 7247 error tables, both directions (mapping-docs/errors.md).
 *
 * Pure table lookups; every returned string is static.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  const char *condition; /* RFC 6120 defined condition, e.g. "item-not-found" */
  const char *type;      /* "cancel", "modify", "auth", "wait" (RFC 6120 §8.3.3) */
} PrlXmppError;

/* SIP final response (300-699) -> XMPP error (RFC 7247 Table 3 and class defaults). */
PrlXmppError prl_error_sip_to_xmpp (guint status);

/* XMPP error condition -> SIP status (RFC 7247 Table 2). @to_full_jid: the error concerns a
 * full JID (4xx) rather than a bare one (6xx); @has_address: gone/redirect carry a new address.
 * Unknown conditions map like undefined-condition. */
guint prl_error_xmpp_to_sip (const char *condition, gboolean to_full_jid, gboolean has_address);

/* Default XMPP error type for a condition (RFC 6120 §8.3.3). */
const char *prl_error_type_for (const char *condition);

/* Standard reason phrase for a SIP status ("Not Found"), or "Unknown". */
const char *prl_sip_reason_phrase (guint status);

G_END_DECLS
