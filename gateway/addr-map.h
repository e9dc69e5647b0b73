/* gateway/addr-map.h - SIP URI <-> JID, both modes (mapping-docs/addressing.md).
 *
 * Pure functions over a PrlCoreConfig's domain rules. A pair is mapped together because the
 * rule that applies to one side is chosen by the other (the recipient's domain picks the mode).
 * Invalid input never crashes and never yields a string with CR, LF or NUL.
 */
#pragma once

#include "gateway/core.h"

G_BEGIN_DECLS

/* Why a mapping failed: the SIP status and XMPP condition to answer with. */
typedef struct {
  guint sip_status;           /* 400, 403, 404, 416 ... */
  const char *xmpp_condition; /* "jid-malformed", "item-not-found", ... (static) */
  const char *text;           /* human-readable, static */
} PrlAddrError;

/* SIP -> XMPP: From URI and Request-URI (or To) of a received MESSAGE to (full/bare) JIDs.
 * Returns TRUE and sets *from_jid, *to_jid (transfer full), or FALSE and fills @err. */
gboolean prl_addr_sip_to_xmpp (const PrlCoreConfig *config, const char *from_uri,
                               const char *to_uri, char **from_jid, char **to_jid,
                               PrlAddrError *err);

/* XMPP -> SIP: stanza from/to JIDs to From URI and Request-URI. */
gboolean prl_addr_xmpp_to_sip (const PrlCoreConfig *config, const char *from_jid,
                               const char *to_jid, char **from_uri, char **to_uri,
                               PrlAddrError *err);

/* TRUE if @jid has a resourcepart ("full JID"). */
gboolean prl_addr_jid_is_full (const char *jid);

G_END_DECLS
