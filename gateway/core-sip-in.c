/* gateway/core-sip-in.c - the page-mode core, SIP -> XMPP: a MESSAGE is checked (link, SIPS,
 * addresses, body), relayed as a <message/>, and its server transaction waits in `pending` for
 * bounce_window_ms: an XMPP error with the same id in that window becomes the SIP final
 * response, otherwise the timer answers 202. Rules: mapping-docs/page-mode.md §1-§8.
 * Shares PrlCore with core.c (gateway/core-internal.h). */
#include "gateway/core-internal.h"

#include "gateway/addr-map.h"
#include "gateway/error-map.h"
#include "gateway/interop.h"
#include "gateway/message-map.h"

#include <string.h>

/* page-mode.md §3: body outcome -> response, reason, counter. */
static void
reject_body (GPtrArray *out, guint64 txn, PrlBodyStatus status)
{
  switch (status) {
  case PRL_BODY_EMPTY:
    prl_core_i_reject_sip (out, txn, 400, "Empty body", 0, NULL, "sip_in_rejected_empty");
    break;
  case PRL_BODY_UNSUPPORTED:
    prl_core_i_reject_sip (out, txn, 415, "Unsupported Media Type", 0, PRL_MESSAGE_MAP_ACCEPT,
                           "sip_in_rejected_415");
    break;
  case PRL_BODY_UNKNOWN_CHARSET:
    prl_core_i_reject_sip (out, txn, 415, "Unsupported charset", 0, PRL_MESSAGE_MAP_ACCEPT,
                           "sip_in_rejected_415");
    break;
  case PRL_BODY_BAD_CPIM:
    prl_core_i_reject_sip (out, txn, 400, "Malformed message/cpim body", 0, NULL,
                           "sip_in_rejected_cpim");
    break;
  case PRL_BODY_BAD_ENCODING:
    prl_core_i_reject_sip (out, txn, 400, "Body not valid in its charset", 0, NULL,
                           "sip_in_rejected_encoding");
    break;
  case PRL_BODY_ILLEGAL_CHAR:
    prl_core_i_reject_sip (out, txn, 400, "Body has characters XML forbids", 0, NULL,
                           "sip_in_rejected_char");
    break;
  case PRL_BODY_TOO_BIG:
    prl_core_i_reject_sip (out, txn, 413, "Message too large", 0, NULL, "sip_in_rejected_413");
    break;
  case PRL_BODY_OK:
    g_assert_not_reached ();
  }
}

gboolean
prl_core_i_text_is_xml_safe (const char *s)
{
  return s != NULL && prl_message_map_check_xml_text (s, strlen (s)) == PRL_BODY_OK;
}

/* offline.md §4a: what a relayed MESSAGE would be parked as. */
PrlStoredMessage *
prl_core_i_stored_from_stanza (PrlCore *self, const PrlXmppMessage *x, const char *call_id,
                               const char *target, gint64 now_us)
{
  PrlStoredMessage *s = prl_stored_message_new ();
  g_autofree char *owner = prl_offline_owner_xmpp (x->to);
  const char *slash = strchr (x->to, '/');
  s->id = g_strdup (x->id);
  s->to = slash != NULL ? g_strndup (x->to, (gsize)(slash - x->to)) : g_strdup (x->to);
  s->from = g_strdup (x->from);
  s->kind = g_strdup ("page");
  s->content_type = g_strdup (PRL_MESSAGE_MAP_CONTENT_TYPE);
  s->body = g_strdup (x->body);
  s->body_len = strlen (x->body);
  s->lang = g_strdup (x->lang);
  s->subject = g_strdup (x->subject);
  s->thread = g_strdup (x->thread);
  s->origin = g_strdup ("sip");
  s->original_id = g_strdup (call_id);
  s->original_to = g_strdup (target);
  prl_offline_stamp (self->offline, s, owner, now_us);
  return s;
}

void
prl_core_i_on_sip_message (PrlCore *self, const PrlSipMessage *m, gint64 now_us, GPtrArray *out)
{
  const PrlCoreConfig *cfg = &self->config;

  /* §1, offline.md §4a: with the store up the message is parked instead */
  gboolean park_now = !self->link_up && prl_offline_can_park (self->offline);
  if (!self->link_up && !park_now) {
    prl_core_i_reject_sip (out, m->txn, 503, "XMPP link down", cfg->retry_after_s, NULL,
                           "sip_in_rejected_link_down");
    return;
  }
  if (prl_core_i_has_scheme (m->request_uri, "sips")
      || prl_core_i_has_scheme (m->to, "sips")) { /* §2 */
    prl_core_i_reject_sip (out, m->txn, 403, "SIPS not gatewayed", 0, NULL, "sip_in_rejected_sips");
    return;
  }
  const char *target = m->request_uri != NULL ? m->request_uri : m->to;
  if (m->from == NULL || target == NULL) {
    prl_core_i_reject_sip (out, m->txn, 400, "Missing From or To", 0, NULL,
                           "sip_in_rejected_address");
    return;
  }
  g_autofree char *from_jid = NULL;
  g_autofree char *to_jid = NULL;
  PrlAddrError aerr = { 0 };
  if (!prl_addr_sip_to_xmpp (cfg, m->from, target, &from_jid, &to_jid, &aerr)) { /* §2 */
    guint status = aerr.sip_status >= 400 && aerr.sip_status <= 699 ? aerr.sip_status : 400;
    prl_core_i_reject_sip (out, m->txn, status, aerr.text != NULL ? aerr.text : "Bad address", 0,
                           NULL, "sip_in_rejected_address");
    return;
  }
  /* receipts.md §3, §5, §6: Content-Encoding, IMDN and isComposing bodies */
  g_autoptr (PrlSipMessage) decoded = NULL;
  if (prl_interop_sip_in (self->interop, cfg, m, from_jid, to_jid, self->link_up, now_us, &decoded,
                          out))
    return;
  if (decoded != NULL)
    m = decoded;

  g_autofree char *text = NULL;
  g_autofree char *cpim_subject = NULL;
  PrlBodyStatus bs = prl_message_map_sip_body (m->content_type, m->body, m->body_len,
                                               cfg->max_message_bytes, &text, &cpim_subject);
  if (bs != PRL_BODY_OK) { /* §3, §4 */
    reject_body (out, m->txn, bs);
    return;
  }
  if (m->subject != NULL && !prl_core_i_text_is_xml_safe (m->subject)) { /* §5 */
    prl_core_i_reject_sip (out, m->txn, 400, "Subject has characters XML forbids", 0, NULL,
                           "sip_in_rejected_char");
    return;
  }
  guint waiting
      = park_now ? prl_offline_requests (self->offline) : g_hash_table_size (self->pending_by_id);
  if ((park_now || cfg->bounce_window_ms > 0) && waiting >= cfg->max_pending) { /* §6 */
    prl_core_i_reject_sip (out, m->txn, 503, "Too many pending messages", cfg->retry_after_s, NULL,
                           "sip_in_rejected_busy");
    return;
  }

  /* §5: field by field (RFC 7572 Table 2) */
  guint64 seq = ++self->next_seq;
  PrlXmppMessage *x = prl_xmpp_message_new ();
  x->from = g_steal_pointer (&from_jid);
  x->to = g_steal_pointer (&to_jid);
  x->id = g_strdup_printf ("%s-%" G_GUINT64_FORMAT, cfg->id_prefix, seq);
  x->type = g_strdup ("normal");
  if (prl_message_map_lang_is_valid (m->content_language))
    x->lang = g_strdup (m->content_language);
  x->subject = g_strdup (m->subject != NULL ? m->subject : cpim_subject);
  if (m->call_id != NULL && *m->call_id != '\0' && prl_core_i_text_is_xml_safe (m->call_id))
    x->thread = g_strdup (m->call_id);
  x->body = g_steal_pointer (&text);
  prl_interop_sip_decorate (self->interop, cfg, m, target, x, now_us); /* receipts.md §1 */

  if (park_now) { /* offline.md §4a */
    PrlOfflineParkCtx *ctx = g_new0 (PrlOfflineParkCtx, 1);
    ctx->kind = PRL_OFFLINE_PARK_SIP;
    ctx->txn = m->txn;
    ctx->fail_status = 503;
    ctx->fail_reason = g_strdup ("XMPP link down");
    ctx->fail_retry_after_s = cfg->retry_after_s;
    ctx->fail_counter = "sip_in_rejected_link_down";
    ctx->notice_from = g_strdup (target);
    ctx->notice_to = g_strdup (m->from);
    prl_offline_park (self->offline,
                      prl_core_i_stored_from_stanza (self, x, m->call_id, target, now_us), ctx,
                      now_us, out);
    prl_xmpp_message_free (x);
    return;
  }

  PrlAction *send = prl_action_new (PRL_ACTION_XMPP_SEND);
  send->xmpp = x;
  g_ptr_array_add (out, send);

  if (cfg->bounce_window_ms == 0) { /* §6 */
    prl_core_i_respond (out, m->txn, 202, "Accepted", 0, NULL, NULL);
    prl_core_i_count (out, "sip_in_relayed");
    return;
  }
  Pending *p = g_new0 (Pending, 1);
  p->seq = seq;
  p->txn = m->txn;
  p->xmpp_id = g_strdup (x->id);
  p->to_jid = g_strdup (x->to);
  if (cfg->offline_enabled) { /* offline.md §4b */
    p->is_parkable = TRUE;
    p->from_jid = g_strdup (x->from);
    p->lang = g_strdup (x->lang);
    p->subject = g_strdup (x->subject);
    p->thread = g_strdup (x->thread);
    p->body = g_strdup (x->body);
    p->call_id = g_strdup (m->call_id);
    p->received_us = now_us;
    p->sender_uri = g_strdup (m->from);
    p->target_uri = g_strdup (target);
  }
  g_hash_table_replace (self->pending_by_id, p->xmpp_id, p);
  g_hash_table_replace (self->pending_by_timer, &p->seq, p);

  PrlAction *timer = prl_action_new (PRL_ACTION_TIMER);
  timer->timer.id = seq;
  timer->timer.ms = cfg->bounce_window_ms;
  g_ptr_array_add (out, timer);
}

static void
drop_pending (PrlCore *self, Pending *p)
{
  g_hash_table_remove (self->pending_by_timer, &p->seq);
  g_hash_table_remove (self->pending_by_id, p->xmpp_id); /* frees p */
}

void
prl_core_i_on_timer (PrlCore *self, guint64 id, gint64 now_us, GPtrArray *out)
{
  Pending *p = g_hash_table_lookup (self->pending_by_timer, &id);
  if (p == NULL) {
    prl_offline_on_timer (self->offline, id, now_us, out); /* offline.md §6 */
    return; /* else already answered by a bounce or a link loss */
  }
  prl_core_i_respond (out, p->txn, 202, "Accepted", 0, NULL, NULL); /* §6 */
  prl_core_i_count (out, "sip_in_relayed");
  drop_pending (self, p);
}

/* A 3xx Contact from a gone/redirect address: kept only if it is one clean URI token. */
static char *
contact_from_detail (const char *detail)
{
  if (detail == NULL || *detail == '\0' || !prl_message_map_header_is_safe (detail))
    return NULL;
  for (const char *p = detail; *p != '\0'; p++)
    if (strchr (" \t<>\"", *p) != NULL)
      return NULL;
  return strchr (detail, ':') != NULL ? g_strdup (detail) : g_strconcat ("xmpp:", detail, NULL);
}

/* §7: an error stanza for a message we relayed. */
void
prl_core_i_on_xmpp_error (PrlCore *self, const PrlXmppMessage *m, gint64 now_us, GPtrArray *out)
{
  Pending *p = m->id != NULL ? g_hash_table_lookup (self->pending_by_id, m->id) : NULL;
  if (p == NULL || !prl_core_i_same_bare_jid (m->from, p->to_jid)) {
    if (prl_chat_on_xmpp_error (self->chat, m, now_us, out)) /* chat.md §11 */
      return;
    if (prl_offline_on_xmpp_error (self->offline, m, now_us, out)) /* offline.md §6 */
      return;
    prl_core_i_count (out, "xmpp_late_bounce"); /* §7: never answer an error with an error */
    return;
  }
  const char *condition = m->error_condition != NULL ? m->error_condition : "undefined-condition";
  gboolean has_address = m->error_detail != NULL && *m->error_detail != '\0';
  guint status = prl_error_xmpp_to_sip (condition, prl_addr_jid_is_full (m->from), has_address);
  if (status < 300 || status > 699)
    status = 500;
  const char *reason = prl_sip_reason_phrase (status);
  if (m->error_text != NULL && *m->error_text != '\0'
      && prl_message_map_header_is_safe (m->error_text))
    reason = m->error_text;
  g_autofree char *contact = NULL;
  if (status >= 300 && status < 400)
    contact = contact_from_detail (m->error_detail);
  if (p->is_parkable && prl_offline_condition_is_offline (condition)
      && prl_offline_can_park (self->offline)) { /* offline.md §4b */
    const PrlXmppMessage relayed = { .from = p->from_jid,
                                     .to = p->to_jid,
                                     .id = p->xmpp_id,
                                     .lang = p->lang,
                                     .subject = p->subject,
                                     .thread = p->thread,
                                     .body = p->body };
    PrlStoredMessage *stored
        = prl_core_i_stored_from_stanza (self, &relayed, p->call_id, p->target_uri, p->received_us);
    PrlOfflineParkCtx *ctx = g_new0 (PrlOfflineParkCtx, 1);
    ctx->kind = PRL_OFFLINE_PARK_SIP;
    ctx->txn = p->txn;
    ctx->fail_status = status;
    ctx->fail_reason = g_strdup (reason);
    ctx->fail_contact = g_steal_pointer (&contact);
    ctx->fail_counter = "sip_in_bounced";
    ctx->notice_from = g_steal_pointer (&p->target_uri);
    ctx->notice_to = g_steal_pointer (&p->sender_uri);
    prl_offline_park (self->offline, stored, ctx, now_us, out);
    drop_pending (self, p);
    return;
  }
  prl_core_i_respond (out, p->txn, status, reason, 0, NULL, contact);
  prl_core_i_count (out, "sip_in_bounced");
  drop_pending (self, p);
}

static gint
compare_seq (gconstpointer a, gconstpointer b)
{
  const Pending *pa = *(Pending *const *)a;
  const Pending *pb = *(Pending *const *)b;
  return pa->seq < pb->seq ? -1 : pa->seq > pb->seq;
}

void
prl_core_i_on_link (PrlCore *self, gboolean up, GPtrArray *out)
{
  self->link_up = up;
  if (up)
    return;
  prl_offline_on_link_down (self->offline, out); /* offline.md §6 */
  /* §8: the library may have lost what we handed it; answer 503 so the sender retries.
   * Oldest first, so the output does not depend on hash order. */
  g_autoptr (GPtrArray) all = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;
  g_hash_table_iter_init (&iter, self->pending_by_id);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (all, value);
  g_ptr_array_sort (all, compare_seq);
  for (guint i = 0; i < all->len; i++) {
    Pending *p = g_ptr_array_index (all, i);
    prl_core_i_respond (out, p->txn, 503, "XMPP link down", self->config.retry_after_s, NULL, NULL);
    prl_core_i_count (out, "sip_in_link_lost");
  }
  g_hash_table_remove_all (self->pending_by_timer);
  g_hash_table_remove_all (self->pending_by_id);
}
