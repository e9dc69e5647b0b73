/* gateway/core.c - the pure translation core for page mode: events in, actions out.
 *
 * DESIGN. Two small state machines share one struct:
 * - SIP -> XMPP: a MESSAGE is checked (link, SIPS, addresses, body), relayed as a <message/>,
 *   and its server transaction waits in `pending` for bounce_window_ms: an XMPP error with the
 *   same id in that window becomes the SIP final response, otherwise the timer answers 202.
 *   Errors that arrive later are only counted (the SIP side has had its answer).
 * - XMPP -> SIP: a <message/> is checked, mapped and planned into one or more parts
 *   (message-map.c); each destination (request URI) has a FIFO with at most sip_window
 *   messages in flight (RFC 3428: no overlapping MESSAGEs), and a message sends part n+1 only
 *   after part n's 2xx. A failure of any part answers the XMPP sender and drops the rest.
 * - Offline storage (gateway/offline.c, mapping-docs/offline.md): where page mode would give up
 *   (link down, a recipient-unavailable bounce, a 480/404/408, a SIP user known to be
 *   unregistered or, after such a failure, known offline) and the store is up, the message is
 *   parked instead and the sender answered
 *   when the store has spoken; online signals start flushes, which send to SIP through the
 *   same per-destination queue (OutMsg of kind OUT_FLUSH) and to XMPP from offline.c.
 * Time never comes from a clock: the daemon starts the timers the core asks for.
 * Ownership: in-flight messages are owned by `requests`, waiting ones by their destination's
 * queue, pending transactions by `pending_by_id` (`pending_by_timer` borrows them).
 * Rules: mapping-docs/page-mode.md (the § numbers cited below), addressing.md, errors.md.
 * Files: this one has the configuration, lifetime, XMPP -> SIP and the entry point; SIP -> XMPP
 * is core-sip-in.c, known-offline parking and the offline/chat hosts core-offline.c; what the
 * three share is gateway/core-internal.h.
 */
#include "gateway/core-internal.h"

#include "gateway/addr-map.h"
#include "gateway/error-map.h"
#include "gateway/interop.h"
#include "gateway/message-map.h"
#include "gateway/chat.h"
#include "gateway/offline.h"

#include <string.h>

#define DEFAULT_PART_MARKER "[%u/%u] "

/* ---------------------------------------------------------------- configuration */

static void
domain_rule_free (PrlDomainRule *rule)
{
  if (rule == NULL)
    return;
  g_free (rule->xmpp_domain);
  g_free (rule->sip_domain);
  g_free (rule);
}

void
prl_core_config_init (PrlCoreConfig *config)
{
  g_return_if_fail (config != NULL);
  memset (config, 0, sizeof *config);
  config->domains = g_ptr_array_new_with_free_func ((GDestroyNotify)domain_rule_free);
  config->id_prefix = g_strdup ("prl");
  config->max_message_bytes = 131072;
  config->udp_request_limit = 1300;
  config->sip_header_reserve = 400;
  config->outbound_udp = TRUE;
  config->chunk_over_tcp = FALSE;
  config->part_marker = g_strdup (DEFAULT_PART_MARKER);
  config->bounce_window_ms = 200;
  config->retry_after_s = 5;
  config->max_pending = 10000;
  config->max_queued = 10000;
  config->sip_window = 1;
  config->offline_enabled = FALSE;
  config->offline_expiry_s = 604800;
  config->flush_batch = 50;
  config->flush_lease_ms = 30000;
  config->flush_recheck_s = 30;
  config->expire_interval_s = 60;
  config->stored_notice = NULL;
  config->reg_event = FALSE; /* the daemon's default is true ([sip] reg_event) */
  config->offline_retry_s = 60;
  config->flush_window = 1;
  config->flush_window_xmpp = 1; /* the daemon's default is 16 ([offline] flush_window_xmpp) */
  config->chat_enabled = FALSE;
  config->chat_idle_timeout_s = 600;
  config->chat_queue_max = 64;
  config->chat_max_sessions = 10000;
  config->chat_fallback_s = 3600;
  config->chat_composing_refresh_s = 120;
  config->chat_cpim = TRUE;
  config->chat_offline_notice = NULL;
  config->offline_push = PRL_OFFLINE_PUSH_MESSAGE;
  config->imdn = TRUE;
  config->iscomposing = TRUE;
  config->caps_cache_size = 4096;
  config->caps_cache_ttl_s = 86400;
}

void
prl_core_config_clear (PrlCoreConfig *config)
{
  if (config == NULL)
    return;
  g_clear_pointer (&config->domains, g_ptr_array_unref);
  g_clear_pointer (&config->xmpp_domains, g_strfreev);
  g_clear_pointer (&config->sip_domains, g_strfreev);
  g_clear_pointer (&config->id_prefix, g_free);
  g_clear_pointer (&config->part_marker, g_free);
  g_clear_pointer (&config->stored_notice, g_free);
  g_clear_pointer (&config->chat_offline_notice, g_free);
}

void
prl_core_config_add_domain (PrlCoreConfig *config, const char *xmpp_domain, PrlAddrMode mode,
                            const char *sip_domain)
{
  g_return_if_fail (config != NULL && xmpp_domain != NULL);
  if (config->domains == NULL)
    config->domains = g_ptr_array_new_with_free_func ((GDestroyNotify)domain_rule_free);
  PrlDomainRule *rule = g_new0 (PrlDomainRule, 1);
  rule->xmpp_domain = g_strdup (xmpp_domain);
  rule->mode = mode;
  rule->sip_domain = g_strdup (sip_domain != NULL ? sip_domain : xmpp_domain);
  g_ptr_array_add (config->domains, rule);
}

static void
config_copy (PrlCoreConfig *dst, const PrlCoreConfig *src)
{
  *dst = *src; /* scalars; every pointer is replaced below */
  dst->domains = g_ptr_array_new_with_free_func ((GDestroyNotify)domain_rule_free);
  for (guint i = 0; src->domains != NULL && i < src->domains->len; i++) {
    const PrlDomainRule *r = g_ptr_array_index (src->domains, i);
    prl_core_config_add_domain (dst, r->xmpp_domain, r->mode, r->sip_domain);
  }
  dst->xmpp_domains = g_strdupv (src->xmpp_domains);
  dst->sip_domains = g_strdupv (src->sip_domains);
  dst->id_prefix = g_strdup (src->id_prefix != NULL ? src->id_prefix : "prl");
  dst->part_marker = g_strdup (src->part_marker != NULL ? src->part_marker : DEFAULT_PART_MARKER);
  dst->stored_notice = g_strdup (src->stored_notice);
  dst->chat_offline_notice = g_strdup (src->chat_offline_notice);
  if (dst->sip_window == 0)
    dst->sip_window = 1;
}

/* ---------------------------------------------------------------- lifetime */

static void
pending_free (Pending *p)
{
  if (p == NULL)
    return;
  g_free (p->xmpp_id);
  g_free (p->to_jid);
  g_free (p->from_jid);
  g_free (p->lang);
  g_free (p->subject);
  g_free (p->thread);
  g_free (p->body);
  g_free (p->call_id);
  g_free (p->sender_uri);
  g_free (p->target_uri);
  g_free (p);
}

void
prl_core_i_out_msg_free (OutMsg *m)
{
  if (m == NULL)
    return;
  g_free (m->from_jid);
  g_free (m->to_jid);
  g_free (m->id);
  g_free (m->dest);
  prl_sip_message_free (m->tmpl);
  g_free (m->body);
  g_clear_pointer (&m->cuts, g_array_unref);
  g_free (m->thread);
  g_free (m->plain);
  g_free (m);
}

static void
dest_free (Dest *d)
{
  if (d == NULL)
    return;
  g_queue_clear_full (&d->waiting, (GDestroyNotify)prl_core_i_out_msg_free);
  g_free (d);
}

PrlCore *
prl_core_new (const PrlCoreConfig *config)
{
  g_return_val_if_fail (config != NULL, NULL);

  PrlCore *self = g_new0 (PrlCore, 1);
  config_copy (&self->config, config);
  self->pending_by_id
      = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify)pending_free);
  self->pending_by_timer = g_hash_table_new (g_int64_hash, g_int64_equal);
  self->requests = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                          (GDestroyNotify)prl_core_i_out_msg_free);
  self->dests = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)dest_free);
  self->config_ref = &self->config;
  self->offline = prl_offline_new (self, &prl_core_i_offline_host, &self->config_ref);
  self->chat = prl_chat_new (&self->config, &prl_core_i_chat_host, self);
  self->interop = prl_interop_new (&self->config);
  return self;
}

void
prl_core_set_config (PrlCore *self, const PrlCoreConfig *config)
{
  g_return_if_fail (self != NULL && config != NULL);
  /* Nothing in flight points into the configuration (pending transactions and queued
   * messages own copies of what they need), so it can be swapped between events. */
  PrlCoreConfig old = self->config;
  config_copy (&self->config, config);
  prl_core_config_clear (&old);
  prl_interop_set_config (self->interop, &self->config);
}

void
prl_core_free (PrlCore *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->chat, prl_chat_free);
  g_clear_pointer (&self->offline, prl_offline_free);
  g_clear_pointer (&self->interop, prl_interop_free);
  g_clear_pointer (&self->pending_by_timer, g_hash_table_unref);
  g_clear_pointer (&self->pending_by_id, g_hash_table_unref);
  g_clear_pointer (&self->requests, g_hash_table_unref);
  g_clear_pointer (&self->dests, g_hash_table_unref);
  prl_core_config_clear (&self->config);
  g_free (self);
}

guint
prl_core_pending (PrlCore *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return g_hash_table_size (self->pending_by_id);
}

GPtrArray *
prl_core_chats (PrlCore *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return prl_chat_list (self->chat);
}

guint
prl_core_queued (PrlCore *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->queued;
}

/* ---------------------------------------------------------------- action helpers */

void
prl_core_i_count (GPtrArray *out, const char *counter)
{
  PrlAction *a = prl_action_new (PRL_ACTION_COUNT);
  a->counter = counter;
  g_ptr_array_add (out, a);
}

void
prl_core_i_respond (GPtrArray *out, guint64 txn, guint status, const char *reason,
                    guint retry_after_s, const char *accept, const char *contact)
{
  PrlAction *a = prl_action_new (PRL_ACTION_SIP_RESPOND);
  a->respond.txn = txn;
  a->respond.status = status;
  a->respond.reason = g_strdup (reason);
  a->respond.retry_after_s = retry_after_s;
  a->respond.accept = g_strdup (accept);
  a->respond.contact = g_strdup (contact);
  g_ptr_array_add (out, a);
}

/* Rejects a received MESSAGE: one response and its counter. */
void
prl_core_i_reject_sip (GPtrArray *out, guint64 txn, guint status, const char *reason,
                       guint retry_after_s, const char *accept, const char *counter)
{
  prl_core_i_respond (out, txn, status, reason, retry_after_s, accept, NULL);
  prl_core_i_count (out, counter);
}

/* An error stanza back to the sender of @from/@to/@id (RFC 6120 §8.3: swap, copy the id). */
static void
xmpp_error_detail (GPtrArray *out, const char *orig_from, const char *orig_to, const char *orig_id,
                   const char *condition, const char *type, const char *text, const char *detail)
{
  PrlAction *a = prl_action_new (PRL_ACTION_XMPP_SEND);
  PrlXmppMessage *m = prl_xmpp_message_new ();
  m->from = g_strdup (orig_to);
  m->to = g_strdup (orig_from);
  m->id = g_strdup (orig_id);
  m->type = g_strdup ("error");
  m->error_type = g_strdup (type);
  m->error_condition = g_strdup (condition);
  m->error_text = g_strdup (text);
  m->error_detail = g_strdup (detail);
  a->xmpp = m;
  g_ptr_array_add (out, a);
}

static void
xmpp_error (GPtrArray *out, const char *orig_from, const char *orig_to, const char *orig_id,
            const char *condition, const char *type, const char *text)
{
  xmpp_error_detail (out, orig_from, orig_to, orig_id, condition, type, text, NULL);
}

static void
reject_xmpp (GPtrArray *out, const PrlXmppMessage *m, const char *condition, const char *type,
             const char *text, const char *counter)
{
  xmpp_error (out, m->from, m->to, m->id, condition, type, text);
  prl_core_i_count (out, counter);
}

gboolean
prl_core_i_has_scheme (const char *uri, const char *scheme)
{
  gsize n = strlen (scheme);
  return uri != NULL && g_ascii_strncasecmp (uri, scheme, n) == 0 && uri[n] == ':';
}

/* Bare JIDs equal (ASCII case-insensitively: servers have normalised the rest)? */
gboolean
prl_core_i_same_bare_jid (const char *a, const char *b)
{
  if (a == NULL || b == NULL)
    return FALSE;
  const char *sa = strchr (a, '/');
  const char *sb = strchr (b, '/');
  gsize la = sa != NULL ? (gsize)(sa - a) : strlen (a);
  gsize lb = sb != NULL ? (gsize)(sb - b) : strlen (b);
  return la == lb && g_ascii_strncasecmp (a, b, la) == 0;
}

/* ---------------------------------------------------------------- XMPP -> SIP */

static guint64 *
new_key (guint64 v)
{
  guint64 *k = g_new (guint64, 1);
  *k = v;
  return k;
}

/* Sends the next part of @msg, which the caller has just removed from any table. */
void
prl_core_i_send_next_part (PrlCore *self, OutMsg *msg, GPtrArray *out)
{
  const PrlCoreConfig *cfg = &self->config;
  PrlSipMessage *part = prl_message_map_make_part (
      msg->tmpl, cfg->sip_header_reserve, cfg->part_marker, msg->body, msg->cuts, msg->next);
  /* One request id for all the parts of a message: sip/sip.h sends parts 2..n of the same id
   * on the same nua handle (same Call-ID and From tag, next CSeq) and frees that handle only
   * after the last part. A fresh id per part left the agent holding the handle of every part
   * but the last one forever (page-mode.md §10). */
  if (msg->next == 1)
    msg->request = ++self->next_request;
  part->txn = msg->request;
  msg->next++;
  g_hash_table_replace (self->requests, new_key (msg->request), msg);
  PrlAction *a = prl_action_new (PRL_ACTION_SIP_SEND);
  a->sip = part;
  g_ptr_array_add (out, a);
}

Dest *
prl_core_i_dest_get (PrlCore *self, const char *uri)
{
  Dest *d = g_hash_table_lookup (self->dests, uri);
  if (d == NULL) {
    d = g_new0 (Dest, 1);
    g_queue_init (&d->waiting);
    g_hash_table_replace (self->dests, g_strdup (uri), d);
  }
  return d;
}

/* Starts waiting messages of @uri while its window allows; forgets an idle destination. */
static void
pump (PrlCore *self, const char *uri, GPtrArray *out)
{
  Dest *d = g_hash_table_lookup (self->dests, uri);
  if (d == NULL)
    return;
  while (d->active < self->config.sip_window && !g_queue_is_empty (&d->waiting)) {
    OutMsg *msg = g_queue_pop_head (&d->waiting);
    self->queued--;
    d->active++;
    prl_core_i_send_next_part (self, msg, out);
  }
  if (d->active == 0 && g_queue_is_empty (&d->waiting))
    g_hash_table_remove (self->dests, uri);
}

/* @msg is finished (done or failed): free it and let its destination move on. */
static void
finish (PrlCore *self, OutMsg *msg, GPtrArray *out)
{
  g_autofree char *uri = g_strdup (msg->dest);
  prl_core_i_out_msg_free (msg);
  Dest *d = g_hash_table_lookup (self->dests, uri);
  if (d != NULL && d->active > 0)
    d->active--;
  pump (self, uri, out);
}

static gboolean
fields_are_header_safe (const PrlXmppMessage *m)
{
  return prl_message_map_header_is_safe (m->id) && prl_message_map_header_is_safe (m->subject)
         && prl_message_map_header_is_safe (m->thread) && prl_message_map_header_is_safe (m->lang);
}

/* §10: the chunk plan of @body under @tmpl's headers; NULL if it cannot fit. */
GArray *
prl_core_i_plan_cuts (PrlCore *self, const PrlSipMessage *tmpl, const char *body, gsize len)
{
  const PrlCoreConfig *cfg = &self->config;
  if (cfg->outbound_udp || cfg->chunk_over_tcp) /* split only when the next hop is UDP, or told */
    return prl_message_map_plan_chunks (tmpl, cfg->sip_header_reserve, cfg->udp_request_limit,
                                        cfg->part_marker, body, len);
  GArray *cuts = g_array_new (FALSE, FALSE, sizeof (gsize));
  gsize zero = 0;
  g_array_append_val (cuts, zero);
  g_array_append_val (cuts, len);
  return cuts;
}

OutMsg *
prl_core_i_out_msg_new (OutKind kind, PrlSipMessage *tmpl, const char *body, gsize len,
                        GArray *cuts)
{
  OutMsg *msg = g_new0 (OutMsg, 1);
  msg->kind = kind;
  msg->dest = g_strdup (tmpl->request_uri);
  msg->tmpl = tmpl;
  msg->body = g_strndup (body, len);
  msg->len = len;
  msg->cuts = cuts;
  msg->next = 1;
  return msg;
}

/* §12: starts @msg (transfer full) now or queues it behind its destination's traffic. */
void
prl_core_i_enqueue (PrlCore *self, OutMsg *msg, GPtrArray *out)
{
  const PrlCoreConfig *cfg = &self->config;
  Dest *d = prl_core_i_dest_get (self, msg->dest);
  gboolean can_start = d->active < cfg->sip_window && g_queue_is_empty (&d->waiting);
  /* a flush has one message in flight per user: it is not held to max_queued */
  if (!can_start && self->queued >= cfg->max_queued && msg->kind != OUT_FLUSH) {
    if (msg->kind == OUT_PAGE)
      xmpp_error (out, msg->from_jid, msg->to_jid, msg->id, "resource-constraint", "wait",
                  "Too many queued messages");
    prl_core_i_count (out, msg->kind == OUT_PAGE     ? "xmpp_in_rejected_queue_full"
                           : msg->kind == OUT_NOTIFY ? "xmpp_in_notification_dropped"
                                                     : "offline_notice_dropped");
    prl_core_i_out_msg_free (msg);
    return;
  }
  if (can_start) {
    d->active++;
    prl_core_i_send_next_part (self, msg, out);
  } else {
    g_queue_push_tail (&d->waiting, msg);
    self->queued++;
    prl_core_i_count (out, "xmpp_in_queued");
  }
}

/* receipts.md §3, §6: an IMDN or isComposing made by interop.c (transfer full, may be NULL),
 * sent in its destination's queue like any MESSAGE, never split. */
static void
send_notification (PrlCore *self, PrlSipMessage *tmpl, GPtrArray *out)
{
  if (tmpl == NULL)
    return;
  g_autofree char *body = g_steal_pointer (&tmpl->body);
  gsize len = tmpl->body_len;
  tmpl->body_len = 0;
  GArray *cuts = prl_core_i_plan_cuts (self, tmpl, body, len);
  if (cuts == NULL || cuts->len != 2) {
    g_clear_pointer (&cuts, g_array_unref);
    prl_sip_message_free (tmpl);
    prl_core_i_count (out, "xmpp_in_notification_too_big");
    return;
  }
  prl_core_i_enqueue (self, prl_core_i_out_msg_new (OUT_NOTIFY, tmpl, body, len, cuts), out);
}

/* receipts.md §4: a 415 to a body the peer may not know. A CPIM wrap is sent again at once as
 * the plain text it wraps (same place in the queue: nothing lost, nothing twice); an IMDN or
 * isComposing is dropped. Either way the contact's refusal is remembered. FALSE if @msg was
 * plain text (then the 415 is an ordinary failure). */
static gboolean
resend_plain (PrlCore *self, OutMsg *msg, gint64 now_us, GPtrArray *out)
{
  const char *ct = msg->tmpl->content_type != NULL ? msg->tmpl->content_type : "";
  if (msg->kind == OUT_NOTIFY) {
    gboolean composing = g_str_has_prefix (ct, "application/im-iscomposing+xml");
    prl_interop_refused (self->interop, msg->dest, composing ? PRL_CAP_ISCOMPOSING : PRL_CAP_CPIM,
                         now_us, out);
    finish (self, msg, out);
    return TRUE;
  }
  if (msg->plain == NULL || msg->kind != OUT_PAGE)
    return FALSE;
  g_free (msg->tmpl->content_type);
  msg->tmpl->content_type = g_strdup (PRL_MESSAGE_MAP_CONTENT_TYPE);
  GArray *cuts = prl_core_i_plan_cuts (self, msg->tmpl, msg->plain, strlen (msg->plain));
  if (cuts == NULL)
    return FALSE; /* cannot happen: the wrap was bigger; answer the 415 then */
  prl_interop_refused (self->interop, msg->dest, PRL_CAP_CPIM, now_us, out);
  g_array_unref (msg->cuts);
  msg->cuts = cuts;
  g_free (msg->body);
  msg->body = g_steal_pointer (&msg->plain);
  msg->len = strlen (msg->body);
  msg->next = 1; /* a new request id: the 415 ended the old one */
  prl_core_i_count (out, "xmpp_in_cpim_fallback");
  prl_core_i_send_next_part (self, msg, out);
  return TRUE;
}

void
prl_core_i_on_xmpp_message (PrlCore *self, const PrlXmppMessage *m, gboolean allow_chat,
                            gint64 now_us, GPtrArray *out)
{
  const PrlCoreConfig *cfg = &self->config;

  if (g_strcmp0 (m->type, "error") == 0) { /* §7 */
    prl_core_i_on_xmpp_error (self, m, now_us, out);
    return;
  }
  if (m->from == NULL) { /* §9: nobody to answer */
    prl_core_i_count (out, "xmpp_in_dropped_no_from");
    return;
  }
  if (m->to == NULL) {
    reject_xmpp (out, m, "jid-malformed", "modify", "Missing to address", "xmpp_in_rejected_jid");
    return;
  }
  if (g_strcmp0 (m->type, "groupchat") == 0) {
    reject_xmpp (out, m, "feature-not-implemented", "cancel", "Groupchat is not gatewayed",
                 "xmpp_in_rejected_groupchat");
    return;
  }
  if (allow_chat && prl_chat_on_xmpp_control (self->chat, m, now_us, out)) /* chat.md §5, §8 */
    return;
  if (m->body == NULL && m->subject == NULL) { /* receipts.md §3, §6: receipts, chat states */
    if (fields_are_header_safe (m))
      send_notification (self, prl_interop_xmpp_notification (self->interop, cfg, m, now_us, out),
                         out);
    else
      prl_core_i_count (out, "xmpp_in_ignored");
    return;
  }
  if (!fields_are_header_safe (m)) { /* §9: header injection */
    reject_xmpp (out, m, "bad-request", "modify", "Control character in a header field",
                 "xmpp_in_rejected_header");
    return;
  }
  const char *body = m->body != NULL ? m->body : "";
  gsize len = strlen (body);
  if (!g_utf8_validate_len (body, len, NULL)) {
    reject_xmpp (out, m, "bad-request", "modify", "Body is not valid UTF-8",
                 "xmpp_in_rejected_encoding");
    return;
  }
  if (len > cfg->max_message_bytes) { /* §10 */
    reject_xmpp (out, m, "policy-violation", "modify", "Message too large",
                 "xmpp_in_rejected_size");
    return;
  }
  g_autofree char *from_uri = NULL;
  g_autofree char *to_uri = NULL;
  PrlAddrError aerr = { 0 };
  if (!prl_addr_xmpp_to_sip (cfg, m->from, m->to, &from_uri, &to_uri, &aerr)) {
    const char *cond = aerr.xmpp_condition != NULL ? aerr.xmpp_condition : "jid-malformed";
    reject_xmpp (out, m, cond, prl_error_type_for (cond),
                 aerr.text != NULL ? aerr.text : "Bad address", "xmpp_in_rejected_jid");
    return;
  }

  if (allow_chat && prl_chat_on_xmpp_message (self->chat, m, from_uri, to_uri, now_us, out))
    return; /* chat.md §3: over an MSRP session */

  /* §9: field by field (RFC 7572 Table 1) */
  g_autoptr (PrlSipMessage) tmpl = prl_sip_message_new ();
  tmpl->request_uri = g_strdup (to_uri);
  tmpl->from = g_steal_pointer (&from_uri);
  tmpl->to = g_steal_pointer (&to_uri);
  tmpl->call_id = prl_message_map_call_id_from_thread (m->thread);
  if (tmpl->call_id == NULL)
    tmpl->call_id
        = g_strdup_printf ("%s-%" G_GUINT64_FORMAT "@parley", cfg->id_prefix, ++self->next_seq);
  tmpl->cseq = 1;
  tmpl->subject = g_strdup (m->subject);
  tmpl->content_type = g_strdup (PRL_MESSAGE_MAP_CONTENT_TYPE);
  if (prl_message_map_lang_is_valid (m->lang))
    tmpl->content_language = g_strdup (m->lang);

  /* receipts.md §1: a receipt request goes as CPIM with an IMDN request, if it fits one part */
  gsize wire_len = 0;
  g_autofree char *wire
      = prl_interop_wrap (self->interop, cfg, m, tmpl, body, len, &wire_len, now_us);
  GArray *cuts = wire != NULL ? prl_core_i_plan_cuts (self, tmpl, wire, wire_len) : NULL;
  if (wire != NULL && (cuts == NULL || cuts->len != 2)) {
    g_clear_pointer (&cuts, g_array_unref);
    g_clear_pointer (&wire, g_free);
    g_free (tmpl->content_type);
    tmpl->content_type = g_strdup (PRL_MESSAGE_MAP_CONTENT_TYPE);
  }
  /* §10 */
  if (wire == NULL)
    cuts = prl_core_i_plan_cuts (self, tmpl, body, len);
  if (cuts == NULL) {
    reject_xmpp (out, m, "policy-violation", "modify", "Message does not fit in a SIP request",
                 "xmpp_in_rejected_size");
    return;
  }
  OutMsg *msg
      = prl_core_i_out_msg_new (OUT_PAGE, g_steal_pointer (&tmpl), wire != NULL ? wire : body,
                                wire != NULL ? wire_len : len, cuts);
  if (wire != NULL)
    msg->plain = g_strndup (body, len);
  msg->from_jid = g_strdup (m->from);
  msg->to_jid = g_strdup (m->to);
  msg->id = g_strdup (m->id);
  msg->thread = g_strdup (m->thread);
  msg->received_us = now_us;
  /* offline.md §4: XEP-0160 - normal, chat or no type, with a body (never headline) */
  msg->parkable
      = m->body != NULL && *m->body != '\0'
        && (m->type == NULL || strcmp (m->type, "normal") == 0 || strcmp (m->type, "chat") == 0);

  g_autofree char *owner = prl_offline_owner_sip (msg->dest);
  if (msg->parkable && prl_offline_can_park (self->offline)
      && prl_offline_is_unregistered (self->offline, owner)) { /* offline.md §4d */
    PrlOfflineParkCtx *ctx = g_new0 (PrlOfflineParkCtx, 1);
    ctx->kind = PRL_OFFLINE_PARK_XMPP_NOW;
    ctx->orig_from = g_strdup (m->from);
    ctx->orig_to = g_strdup (m->to);
    ctx->orig_id = g_strdup (m->id);
    PrlStoredMessage *s = prl_stored_message_new ();
    s->owner = g_steal_pointer (&owner);
    s->to = g_strdup (msg->dest);
    s->original_to = g_strdup (m->to);
    s->from = g_strdup (msg->tmpl->from);
    s->kind = g_strdup ("page");
    s->content_type = g_strdup (PRL_MESSAGE_MAP_CONTENT_TYPE);
    s->body = g_strndup (body, len);
    s->body_len = len;
    s->lang = g_strdup (msg->tmpl->content_language);
    s->subject = g_strdup (m->subject);
    s->thread = g_strdup (m->thread);
    s->origin = g_strdup ("xmpp");
    s->original_id = g_strdup (m->id);
    ctx->held = msg;
    ctx->held_free = (GDestroyNotify)prl_core_i_out_msg_free;
    prl_offline_park (self->offline, s, ctx, now_us, out);
    return;
  }
  if (prl_core_i_park_known_offline (self, msg, owner, now_us, out)) /* offline.md §4e */
    return;
  prl_core_i_enqueue (self, msg, out); /* §12 */
}

static const char *
failed_counter (guint status)
{
  if (status < 400)
    return "xmpp_in_failed_3xx";
  if (status < 500)
    return "xmpp_in_failed_4xx";
  if (status < 600)
    return "xmpp_in_failed_5xx";
  return "xmpp_in_failed_6xx";
}

/* offline.md §4c: parks what is left of @msg (from the failed part on). TRUE if it did. */
static gboolean
park_failed (PrlCore *self, OutMsg *msg, guint status, const PrlXmppError *err, const char *text,
             const char *detail, gint64 now_us, GPtrArray *out)
{
  if (!msg->parkable || (status != 480 && status != 404 && status != 408)
      || !prl_offline_can_park (self->offline))
    return FALSE;
  g_autofree char *owner = prl_offline_owner_sip (msg->dest);
  if (owner == NULL)
    return FALSE;
  guint failed = msg->next - 1; /* the part that got @status */
  gsize from = g_array_index (msg->cuts, gsize, failed - 1);
  if (msg->plain != NULL) { /* a CPIM wrap is one part: park the text */
    g_free (msg->body);
    msg->body = g_steal_pointer (&msg->plain);
    msg->len = strlen (msg->body);
    from = 0;
  }
  PrlStoredMessage *s = prl_core_i_stored_from_out (msg, owner, msg->body + from, msg->len - from);
  PrlOfflineParkCtx *ctx = g_new0 (PrlOfflineParkCtx, 1);
  ctx->kind = PRL_OFFLINE_PARK_XMPP;
  ctx->orig_from = g_strdup (msg->from_jid);
  ctx->orig_to = g_strdup (msg->to_jid);
  ctx->orig_id = g_strdup (msg->id);
  ctx->err_condition = g_strdup (err->condition);
  ctx->err_type = g_strdup (err->type);
  ctx->err_text = g_strdup (text);
  ctx->err_detail = g_strdup (detail);
  ctx->fail_counter = failed_counter (status);
  prl_offline_park (self->offline, s, ctx, now_us, out);
  return TRUE;
}

/* §11: a final response to a part we sent. */
static void
on_sip_response (PrlCore *self, const PrlSipResponse *r, gint64 now_us, GPtrArray *out)
{
  if (r->status < 200)
    return; /* provisional: the adapter should not pass it on, but it is harmless */
  gpointer key = NULL, value = NULL;
  if (!g_hash_table_lookup_extended (self->requests, &r->request, &key, &value)) {
    prl_core_i_count (out, "sip_response_unknown");
    return;
  }
  g_hash_table_steal (self->requests, &r->request);
  g_free (key);
  OutMsg *msg = value;
  if (r->status == 415 && resend_plain (self, msg, now_us, out)) /* receipts.md §4 */
    return;
  guint parts = msg->cuts->len - 1;
  gboolean ok = r->status < 300;

  if (ok && msg->next <= parts) {
    prl_core_i_send_next_part (self, msg, out); /* §10: n+1 only after n's 2xx */
    return;
  }
  if (msg->kind != OUT_PAGE) { /* offline.md §6: no error stanza for these */
    OutKind kind = msg->kind;
    guint64 token = msg->token;
    finish (self, msg, out);
    if (kind == OUT_FLUSH)
      prl_offline_sip_done (self->offline, token, ok, now_us, out);
    else if (!ok)
      prl_core_i_count (out, kind == OUT_NOTIFY ? "xmpp_in_notification_failed"
                                                : "offline_notice_failed");
    return;
  }
  if (ok) {
    prl_core_i_count (out, parts > 1 ? "xmpp_in_chunked" : "xmpp_in_relayed");
    prl_core_i_back_online (self, msg, now_us, out); /* offline.md §4e */
    finish (self, msg, out);
    return;
  }

  PrlXmppError err = prl_error_sip_to_xmpp (r->status);
  const char *reason = prl_sip_reason_phrase (r->status);
  if (r->reason != NULL && *r->reason != '\0' && prl_core_i_text_is_xml_safe (r->reason))
    reason = r->reason;
  g_autofree char *text = parts > 1
                              ? g_strdup_printf ("%s (part %u of %u)", reason, msg->next - 1, parts)
                              : g_strdup (reason);
  err.condition = err.condition != NULL ? err.condition : "undefined-condition";
  err.type = err.type != NULL ? err.type : prl_error_type_for (err.condition);
  /* errors.md: 301 -> gone and 3xx -> redirect carry the new address (RFC 6120 §8.3.3.5/.14) */
  const char *detail = NULL;
  if ((strcmp (err.condition, "gone") == 0 || strcmp (err.condition, "redirect") == 0)
      && r->contact != NULL && prl_message_map_header_is_safe (r->contact)
      && prl_core_i_text_is_xml_safe (r->contact))
    detail = r->contact;
  if (park_failed (self, msg, r->status, &err, text, detail, now_us, out)) {
    prl_core_i_park_behind (self, msg, now_us, out); /* offline.md §4e */
    finish (self, msg, out);
    return;
  }
  xmpp_error_detail (out, msg->from_jid, msg->to_jid, msg->id, err.condition, err.type, text,
                     detail);
  prl_core_i_count (out, failed_counter (r->status));
  if (msg->next <= parts)
    prl_core_i_count (out, "xmpp_in_parts_dropped");
  finish (self, msg, out);
}

/* ---------------------------------------------------------------- entry point */

/* offline.md §5: a sign of life from a user; presence and REGISTER are strong signs. */
static void
online_signal (PrlCore *self, char *(*owner_of) (const char *), const char *address,
               gboolean available, gboolean strong, gboolean unreg, gint64 now_us, GPtrArray *out)
{
  /* The hot path (every message) pays nothing for this when parking is off. */
  if (!self->config.offline_enabled)
    return;
  char *owner = owner_of (address);
  if (available)
    prl_offline_online (self->offline, owner, strong, now_us, out);
  else
    prl_offline_offline (self->offline, owner, unreg, out);
  g_free (owner);
}

void
prl_core_handle (PrlCore *self, const PrlEvent *event, GPtrArray *out)
{
  g_return_if_fail (self != NULL && event != NULL && out != NULL);
  gint64 now = event->now_us;
  self->now_us = now;

  switch (event->kind) {
  case PRL_EVENT_SIP_MESSAGE:
    g_return_if_fail (event->sip != NULL);
    prl_core_i_on_sip_message (self, event->sip, now, out);
    online_signal (self, prl_offline_owner_sip, event->sip->from, TRUE, FALSE, FALSE, now, out);
    break;
  case PRL_EVENT_SIP_RESPONSE:
    on_sip_response (self, &event->response, now, out);
    break;
  case PRL_EVENT_XMPP_MESSAGE:
    g_return_if_fail (event->xmpp != NULL);
    prl_core_i_on_xmpp_message (self, event->xmpp, TRUE, now, out);
    if (g_strcmp0 (event->xmpp->type, "error") != 0)
      online_signal (self, prl_offline_owner_xmpp, event->xmpp->from, TRUE, FALSE, FALSE, now, out);
    break;
  case PRL_EVENT_XMPP_LINK:
    if (!event->link_up)
      prl_chat_on_link_down (self->chat, now, out);
    prl_core_i_on_link (self, event->link_up, out);
    break;
  case PRL_EVENT_TIMER:
    prl_core_i_on_timer (self, event->timer_id, now, out);
    break;
  case PRL_EVENT_TICK:
    prl_offline_on_tick (self->offline, now, out); /* offline.md §7 */
    prl_chat_on_tick (self->chat, now, out);
    break;
  case PRL_EVENT_XMPP_PRESENCE:
    if (!event->presence.available)
      prl_chat_on_unavailable (self->chat, event->presence.from, now, out);
    online_signal (self, prl_offline_owner_xmpp, event->presence.from, event->presence.available,
                   TRUE, FALSE, now, out);
    break;
  case PRL_EVENT_SIP_REGISTER:
    online_signal (self, prl_offline_owner_sip, event->reg.aor, event->reg.expires > 0, TRUE, TRUE,
                   now, out);
    break;
  case PRL_EVENT_STORE_STATE:
    prl_offline_on_store_state (self->offline, event->store_up);
    break;
  case PRL_EVENT_STORE_RESULT:
    prl_offline_on_store_result (self->offline, &event->store, now, out);
    break;
  case PRL_EVENT_FLUSH: /* offline.md §5: parleyctl queue flush, like a strong online signal */
    g_return_if_fail (event->owner != NULL);
    prl_offline_online (self->offline, event->owner, TRUE, now, out);
    break;
  case PRL_EVENT_CHAT_INVITE:
  case PRL_EVENT_CHAT_OPENED:
  case PRL_EVENT_CHAT_FAILED:
  case PRL_EVENT_CHAT_CLOSED:
  case PRL_EVENT_CHAT_RECV:
  case PRL_EVENT_CHAT_SENT:
  case PRL_EVENT_CHAT_END:
    prl_chat_on_event (self->chat, event, out);
    break;
  }
}
