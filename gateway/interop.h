/* gateway/interop.h - what page mode needs to get along with real peers (pure, stateful).
 *
 * Called by gateway/core.c at a few hooks, so that the page-mode state machine itself barely
 * changes:
 * - received bodies: Content-Encoding (linphone deflates its IMDNs), IMDN documents (RFC 5438)
 *   and isComposing documents (RFC 3994) that are answered here instead of being relayed;
 * - receipts and markers: XEP-0184 <request/>/<received/> and XEP-0333 <markable/>/<displayed/>
 *   <-> CPIM imdn.Disposition-Notification and IMDN delivered/displayed, XEP-0359 origin-id <->
 *   imdn.Message-ID, with a bounded, expiring correlation table;
 * - chat states <-> isComposing in page mode;
 * - the per-contact capability cache (caps-cache.c) that the 415 fallback teaches.
 * Time comes from the events (now_us); ids are made from the configured id_prefix and a
 * counter, so every output is reproducible in test-vectors/.
 * Rules: mapping-docs/receipts.md.
 */
#pragma once

#include "gateway/caps-cache.h"
#include "gateway/core.h"

G_BEGIN_DECLS

typedef struct _PrlInterop PrlInterop;

PrlInterop *prl_interop_new (const PrlCoreConfig *config);
void prl_interop_free (PrlInterop *interop);
/* config.reload: new bounds for the cache and the correlation table. */
void prl_interop_set_config (PrlInterop *interop, const PrlCoreConfig *config);

/* SIP -> XMPP, before the body is decoded: undoes Content-Encoding, and answers IMDN and
 * isComposing requests itself (200 plus the XMPP receipt, marker or chat state, or an
 * error). Returns TRUE if @m was answered. Otherwise, when the body was decoded, *decoded is
 * a copy of @m with the plain body (transfer full) that the caller goes on with. */
gboolean prl_interop_sip_in (PrlInterop *interop, const PrlCoreConfig *config,
                             const PrlSipMessage *m, const char *from_jid, const char *to_jid,
                             gboolean link_up, gint64 now_us, PrlSipMessage **decoded,
                             GPtrArray *out);

/* SIP -> XMPP: @x is about to be relayed for @m (already decoded). A CPIM body with an IMDN
 * request sets x->receipt_request / x->markable, its imdn.Message-ID becomes x->origin_id, and
 * the request is remembered so that the XMPP recipient's receipt or marker becomes an IMDN. */
void prl_interop_sip_decorate (PrlInterop *interop, const PrlCoreConfig *config,
                               const PrlSipMessage *m, const char *target, PrlXmppMessage *x,
                               gint64 now_us);

/* XMPP -> SIP: a stanza without body or subject. Returns the MESSAGE to send for it (an IMDN
 * for a receipt or displayed marker, an isComposing for a chat state; headers and body set,
 * transfer full), or NULL (counted in @out). */
PrlSipMessage *prl_interop_xmpp_notification (PrlInterop *interop, const PrlCoreConfig *config,
                                              const PrlXmppMessage *m, gint64 now_us,
                                              GPtrArray *out);

/* XMPP -> SIP: @m asks for a receipt or a displayed marker and @tmpl's destination is not
 * known to refuse CPIM: returns @body wrapped in message/cpim with an IMDN request (transfer
 * full, length in *out_len), sets tmpl->content_type and remembers the request. Else NULL. */
char *prl_interop_wrap (PrlInterop *interop, const PrlCoreConfig *config, const PrlXmppMessage *m,
                        PrlSipMessage *tmpl, const char *body, gsize len, gsize *out_len,
                        gint64 now_us);

/* @contact answered 415 to a body of kind @cap: remember it (counted in @out). */
void prl_interop_refused (PrlInterop *interop, const char *contact, PrlCap cap, gint64 now_us,
                          GPtrArray *out);
/* TRUE if @contact refused @cap recently. */
gboolean prl_interop_is_refused (PrlInterop *interop, const char *contact, PrlCap cap,
                                 gint64 now_us);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlInterop, prl_interop_free)

G_END_DECLS
