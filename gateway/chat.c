/* gateway/chat.c - chat sessions: XMPP type='chat' <-> MSRP (gateway/chat.h).
 *
 * Rules are in mapping-docs/chat.md; the § numbers below are its sections. A Chat is keyed by
 * "bare XMPP user JID\nbare JID of the SIP user as XMPP sees it", so both directions and
 * body-less stanzas find it without mapping addresses again.
 */
#include "gateway/chat-internal.h"

#include <string.h>

#include "gateway/addr-map.h"
#include "gateway/cpim.h"
#include "gateway/iscomposing.h"
#include "gateway/message-map.h"
#include "gateway/offline.h"

static void
held_free (Held *h)
{
  prl_xmpp_message_free (h->m);
  g_free (h);
}

static void
chat_free (Chat *c)
{
  g_free (c->key);
  g_free (c->jid);
  g_free (c->gw_jid);
  g_free (c->local_uri);
  g_free (c->remote_uri);
  g_free (c->thread);
  g_queue_clear_full (&c->queue, (GDestroyNotify)held_free);
  g_queue_clear_full (&c->pushq, (GDestroyNotify)prl_chat_i_pushed_free);
  g_free (c);
}

static void
sent_free (Sent *s)
{
  if (s->orig != NULL)
    prl_xmpp_message_free (s->orig);
  g_free (s);
}

/* Forgets @s, a Sent in self->sent (and in self->acked once answered 200). */
static void
sent_drop (PrlChat *self, Sent *s)
{
  if (s->acked_us != 0)
    g_queue_remove (&self->acked, s);
  g_hash_table_remove (self->sent, &s->token); /* frees s */
}

static void
receipt_free (Receipt *r)
{
  g_free (r->key);
  g_free (r->xmpp_id);
  g_free (r->jid);
  g_free (r->gw_jid);
  g_free (r->message_id);
  g_free (r);
}

PrlChat *
prl_chat_new (const PrlCoreConfig *config, const PrlChatHost *host, gpointer core)
{
  PrlChat *self = g_new0 (PrlChat, 1);
  self->config = config;
  self->host = *host;
  self->core = core;
  self->by_key = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify)chat_free);
  self->by_id = g_hash_table_new (g_int64_hash, g_int64_equal);
  self->sent = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, (GDestroyNotify)sent_free);
  self->receipts
      = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify)receipt_free);
  g_queue_init (&self->receipt_order);
  self->fallback = prl_offline_lru_new (MAX_FALLBACKS);
  self->recent = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify)prl_chat_i_recent_free);
  g_queue_init (&self->recent_order);
  g_queue_init (&self->acked);
  return self;
}

void
prl_chat_free (PrlChat *self)
{
  if (self == NULL)
    return;
  g_hash_table_unref (self->by_id);
  g_hash_table_unref (self->by_key);
  g_queue_clear (&self->acked); /* the Sents are freed with self->sent */
  g_hash_table_unref (self->sent);
  g_queue_clear (&self->receipt_order);
  g_hash_table_unref (self->receipts);
  prl_offline_lru_free (self->fallback);
  g_queue_clear (&self->recent_order);
  g_hash_table_unref (self->recent);
  g_free (self);
}

guint
prl_chat_count (PrlChat *self)
{
  return self != NULL ? g_hash_table_size (self->by_key) : 0;
}

/* ---------------------------------------------------------------- helpers */

void
prl_chat_i_count (GPtrArray *out, const char *counter)
{
  PrlAction *a = prl_action_new (PRL_ACTION_COUNT);
  a->counter = counter;
  g_ptr_array_add (out, a);
}

PrlAction *
prl_chat_i_chat_action (GPtrArray *out, PrlActionKind kind, guint64 id)
{
  PrlAction *a = prl_action_new (kind);
  a->chat.id = id;
  g_ptr_array_add (out, a);
  return a;
}

char *
prl_chat_i_bare (const char *jid)
{
  return g_strndup (jid, strcspn (jid, "/"));
}

static char *
pair_key (const char *user_jid, const char *gw_jid)
{
  g_autofree char *a = prl_chat_i_bare (user_jid);
  g_autofree char *b = prl_chat_i_bare (gw_jid);
  return g_strdup_printf ("%s\n%s", a, b);
}

Chat *
prl_chat_i_chat_add (PrlChat *self, char *key, guint64 id)
{
  Chat *c = g_new0 (Chat, 1);
  c->id = id;
  c->key = key;
  g_queue_init (&c->queue);
  g_hash_table_insert (self->by_key, c->key, c);
  g_hash_table_insert (self->by_id, &c->id, c);
  return c;
}

void
prl_chat_i_chat_remove (PrlChat *self, Chat *c)
{
  g_hash_table_remove (self->by_id, &c->id);
  g_hash_table_remove (self->by_key, c->key); /* frees c */
}

static void
receipt_add (PrlChat *self, Receipt *r)
{
  Receipt *old = g_hash_table_lookup (self->receipts, r->key);
  if (old != NULL) {
    g_queue_remove (&self->receipt_order, old->key);
    g_hash_table_remove (self->receipts, old->key);
  }
  g_hash_table_insert (self->receipts, r->key, r);
  g_queue_push_tail (&self->receipt_order, r->key);
  while (g_hash_table_size (self->receipts) > MAX_RECEIPTS) {
    char *oldest = g_queue_pop_head (&self->receipt_order);
    g_hash_table_remove (self->receipts, oldest);
  }
}

static Receipt *
receipt_take (PrlChat *self, const char *key)
{
  Receipt *r = NULL;
  char *stored = NULL;
  if (!g_hash_table_steal_extended (self->receipts, key, (gpointer *)&stored, (gpointer *)&r))
    return NULL;
  g_queue_remove (&self->receipt_order, stored);
  return r; /* (transfer full) */
}

/* An XMPP stanza from the SIP user's address to the XMPP user (chat state, receipt, text). */
static PrlXmppMessage *
to_xmpp (PrlChat *self, Chat *c)
{
  PrlXmppMessage *m = prl_xmpp_message_new ();
  m->from = g_strdup (c->gw_jid);
  m->to = g_strdup (c->jid);
  m->type = g_strdup ("chat");
  m->thread = g_strdup (c->thread);
  return m;
}

static void
send_xmpp (GPtrArray *out, PrlXmppMessage *m)
{
  PrlAction *a = prl_action_new (PRL_ACTION_XMPP_SEND);
  a->xmpp = m;
  g_ptr_array_add (out, a);
}

static void
send_chat_state (PrlChat *self, Chat *c, const char *state, GPtrArray *out)
{
  if (c->jid == NULL || !self->host.link_up (self->core))
    return;
  PrlXmppMessage *m = to_xmpp (self, c);
  m->has_chat_state = TRUE;
  m->chat_state = g_strdup (state);
  send_xmpp (out, m);
}

/* One MSRP message on @c: text (CPIM-wrapped when the peer takes it, §4) or isComposing. */
guint64
prl_chat_i_send_msrp (PrlChat *self, Chat *c, const char *content_type, const char *body, gsize len,
                      gboolean success_report, gint64 now_us, GPtrArray *out)
{
  PrlAction *a = prl_chat_i_chat_action (out, PRL_ACTION_CHAT_SEND, c->id);
  a->chat.token = self->host.next_seq (self->core);
  a->chat.success_report = success_report;
  if (c->peer_cpim && self->config->chat_cpim) {
    g_autofree char *stamp = prl_offline_format_stamp (now_us);
    a->chat.content_type = g_strdup ("message/cpim");
    a->chat.body = prl_cpim_build (c->local_uri, c->remote_uri, stamp, content_type, body, len,
                                   &a->chat.len);
  } else {
    a->chat.content_type = g_strdup (content_type);
    a->chat.body = g_strndup (body, len);
    a->chat.len = len;
  }
  c->last_us = now_us;
  return a->chat.token;
}

static void
send_composing (PrlChat *self, Chat *c, gboolean active, gint64 now_us, GPtrArray *out)
{
  if (!c->peer_composing) { /* its accept-types lacks isComposing (RFC 4975 §8.6) */
    prl_chat_i_count (out, "chat_out_composing_not_accepted");
    return;
  }
  guint refresh = self->config->chat_composing_refresh_s;
  g_autofree char *doc = prl_iscomposing_build (active, refresh);
  prl_chat_i_send_msrp (self, c, PRL_ISCOMPOSING_TYPE, doc, strlen (doc), FALSE, now_us, out);
  c->composing_sent_us = active ? now_us : 0;
  prl_chat_i_count (out, "chat_out_composing");
}

/* A chat message stanza over the session (§4). */
static void
send_text (PrlChat *self, Chat *c, const PrlXmppMessage *m, gint64 received_us, gint64 now_us,
           GPtrArray *out)
{
  const char *body = m->body != NULL ? m->body : "";
  guint64 token = prl_chat_i_send_msrp (self, c, PRL_MESSAGE_MAP_CONTENT_TYPE, body, strlen (body),
                                        m->receipt_request && m->id != NULL, now_us, out);
  c->composing_sent_us = 0; /* RFC 3994 §3: sending a message ends "active" */
  Sent *s = g_new0 (Sent, 1);
  s->chat_id = c->id;
  s->orig = prl_xmpp_message_dup (m);
  s->received_us = received_us;
  s->token = token;
  g_hash_table_insert (self->sent, &s->token, s);
  prl_chat_i_count (out, "chat_out_messages");
}

/* Held stanzas go in page mode, each as received at its own time. */
static void
page_held (PrlChat *self, Chat *c, GPtrArray *out)
{
  Held *h;
  while ((h = g_queue_pop_head (&c->queue)) != NULL) {
    self->host.page (self->core, h->m, h->received_us, out);
    held_free (h);
  }
}

/* Ends @c from our side: CHAT_CLOSE, and messages still held go in page mode (§7). */
void
prl_chat_i_close_chat (PrlChat *self, Chat *c, gboolean tell_xmpp, const char *counter,
                       gint64 now_us, GPtrArray *out)
{
  prl_chat_i_chat_action (out, PRL_ACTION_CHAT_CLOSE, c->id);
  if (tell_xmpp && c->state == CHAT_ACTIVE)
    send_chat_state (self, c, "gone", out);
  page_held (self, c, out);
  prl_chat_i_push_fallback (self, c, now_us, out);
  prl_chat_i_count (out, counter);
  prl_chat_i_chat_remove (self, c);
}

/* ---------------------------------------------------------------- XMPP -> SIP */

gboolean
prl_chat_on_xmpp_control (PrlChat *self, const PrlXmppMessage *m, gint64 now_us, GPtrArray *out)
{
  if (self == NULL || !self->config->chat_enabled || m->from == NULL || m->to == NULL
      || (m->body != NULL && m->receipt_id == NULL)) /* a message: prl_chat_on_xmpp_message */
    return FALSE;
  if (m->receipt_id != NULL) { /* §8: the XMPP user got a message that asked for a receipt */
    g_autofree char *rkey = g_strconcat ("x", m->receipt_id, NULL);
    Receipt *r = receipt_take (self, rkey);
    if (r != NULL) {
      if (g_hash_table_lookup (self->by_id, &r->chat_id) != NULL) {
        PrlAction *a = prl_chat_i_chat_action (out, PRL_ACTION_CHAT_REPORT, r->chat_id);
        a->chat.message_id = g_strdup (r->message_id);
        a->chat.len = r->len;
        a->chat.status = 200;
        prl_chat_i_count (out, "chat_out_reports");
      }
      receipt_free (r);
      return m->body == NULL;
    }
  }
  if (m->body != NULL || g_hash_table_size (self->by_key) == 0)
    return FALSE;
  g_autofree char *key = pair_key (m->from, m->to);
  Chat *c = g_hash_table_lookup (self->by_key, key);
  if (c == NULL)
    return FALSE;
  if (c->state != CHAT_ACTIVE) { /* chat states while inviting carry nothing yet */
    prl_chat_i_count (out, "chat_in_state_ignored");
    return TRUE;
  }
  g_free (c->jid);
  c->jid = g_strdup (m->from);
  const char *st = m->chat_state;
  if (g_strcmp0 (st, "gone") == 0) { /* §6: <gone/> -> BYE */
    prl_chat_i_close_chat (self, c, FALSE, "chat_closed_gone", now_us, out);
  } else if (g_strcmp0 (st, "composing") == 0) { /* §5 */
    send_composing (self, c, TRUE, now_us, out);
  } else if (st != NULL) { /* active, paused, inactive -> idle, only after "active" */
    if (c->composing_sent_us != 0)
      send_composing (self, c, FALSE, now_us, out);
    else
      prl_chat_i_count (out, "chat_in_state_ignored");
  } else {
    prl_chat_i_count (out, "chat_in_state_ignored");
  }
  return TRUE;
}

gboolean
prl_chat_i_in_fallback (PrlChat *self, const char *key, gint64 now_us)
{
  gint64 until = 0;
  if (!prl_offline_lru_get (self->fallback, key, &until))
    return FALSE;
  if (until > now_us)
    return TRUE;
  prl_offline_lru_remove (self->fallback, key);
  return FALSE;
}

gboolean
prl_chat_on_xmpp_message (PrlChat *self, const PrlXmppMessage *m, const char *from_uri,
                          const char *to_uri, gint64 now_us, GPtrArray *out)
{
  const PrlCoreConfig *cfg = self != NULL ? self->config : NULL;
  if (cfg == NULL || !cfg->chat_enabled || g_strcmp0 (m->type, "chat") != 0 || m->body == NULL)
    return FALSE;
  g_autofree char *key = pair_key (m->from, m->to);
  Chat *c = g_hash_table_lookup (self->by_key, key);
  if (c == NULL) {
    if (prl_chat_i_in_fallback (self, key, now_us)) { /* §7: this peer refused MSRP lately */
      prl_chat_i_count (out, "chat_out_page_fallback");
      return FALSE;
    }
    if (g_hash_table_size (self->by_key) >= cfg->chat_max_sessions) {
      prl_chat_i_count (out, "chat_out_sessions_full");
      return FALSE;
    }
    c = prl_chat_i_chat_add (self, g_steal_pointer (&key), self->host.next_seq (self->core));
    c->state = CHAT_INVITING;
    c->jid = g_strdup (m->from);
    c->gw_jid = prl_chat_i_bare (m->to);
    c->local_uri = g_strdup (from_uri);
    c->remote_uri = g_strdup (to_uri);
    c->thread = prl_message_map_call_id_from_thread (m->thread);
    if (c->thread == NULL)
      c->thread = g_strdup_printf ("%s-chat-%" G_GUINT64_FORMAT "@parley", cfg->id_prefix, c->id);
    c->last_us = now_us;
    PrlAction *a = prl_chat_i_chat_action (out, PRL_ACTION_CHAT_OPEN, c->id);
    a->chat.from = g_strdup (from_uri);
    a->chat.to = g_strdup (to_uri);
    a->chat.call_id = g_strdup (c->thread);
    g_autofree char *who = prl_chat_i_bare (m->from);
    a->chat.subject = g_strdup_printf ("Chat with %s", who);
    prl_chat_i_count (out, "chat_out_invites");
  }
  g_free (c->jid);
  c->jid = g_strdup (m->from);
  if (c->state == CHAT_INVITING) { /* §3: held, bounded */
    if (c->queue.length >= cfg->chat_queue_max) {
      prl_chat_i_count (out, "chat_out_queue_full");
      return FALSE; /* page mode rather than a drop */
    }
    Held *h = g_new0 (Held, 1);
    h->m = prl_xmpp_message_dup (m);
    h->received_us = now_us;
    g_queue_push_tail (&c->queue, h);
    return TRUE;
  }
  send_text (self, c, m, now_us, now_us, out);
  return TRUE;
}

/* ---------------------------------------------------------------- SIP -> XMPP */

static void
on_invite (PrlChat *self, const PrlChatEvent *e, gint64 now_us, GPtrArray *out)
{
  const PrlCoreConfig *cfg = self->config;
  const PrlSipMessage *inv = e->invite;
  guint64 txn = inv->txn;
  guint status = 0;
  const char *reason = NULL;
  g_autofree char *from_jid = NULL;
  g_autofree char *to_jid = NULL;
  PrlAddrError aerr = { 0 };
  const char *target = inv->request_uri != NULL ? inv->request_uri : inv->to;
  if (!cfg->chat_enabled) {
    status = 488, reason = "Chat sessions are not gatewayed";
  } else if (!self->host.link_up (self->core) && !self->host.can_park (self->core)) {
    status = 480, reason = "XMPP link down"; /* with a store the messages are parked (§11) */
  } else if (inv->from == NULL || target == NULL
             || !prl_addr_sip_to_xmpp (cfg, inv->from, target, &from_jid, &to_jid, &aerr)) {
    status = aerr.sip_status >= 400 && aerr.sip_status <= 699 ? aerr.sip_status : 400;
    reason = aerr.text != NULL ? aerr.text : "Bad address";
  } else if (g_hash_table_size (self->by_key) >= cfg->chat_max_sessions) {
    status = 486, reason = "Too many chat sessions";
  } else if (inv->call_id != NULL && !prl_message_map_header_is_safe (inv->call_id)) {
    status = 400, reason = "Bad Call-ID";
  }
  if (status != 0) {
    PrlAction *a = prl_chat_i_chat_action (out, PRL_ACTION_CHAT_REJECT, 0);
    a->chat.txn = txn;
    a->chat.status = status;
    a->chat.reason = g_strdup (reason);
    prl_chat_i_count (out, "chat_in_rejected");
    return;
  }
  g_autofree char *key = pair_key (to_jid, from_jid);
  Chat *old = g_hash_table_lookup (self->by_key, key);
  if (old != NULL) /* §3: the newer session replaces the older one */
    prl_chat_i_close_chat (self, old, FALSE, "chat_closed_replaced", now_us, out);
  Chat *c = prl_chat_i_chat_add (self, g_steal_pointer (&key), self->host.next_seq (self->core));
  c->state = CHAT_ACTIVE;
  c->incoming = TRUE;
  c->jid = g_strdup (to_jid);
  c->gw_jid = prl_chat_i_bare (from_jid);
  c->local_uri = g_strdup (target);
  c->remote_uri = g_strdup (inv->from);
  c->thread = g_strdup (inv->call_id);
  c->peer_cpim = e->peer_cpim;
  c->peer_composing = e->peer_composing;
  c->last_us = now_us;
  PrlAction *a = prl_chat_i_chat_action (out, PRL_ACTION_CHAT_ACCEPT, c->id);
  a->chat.txn = txn;
  prl_chat_i_count (out, "chat_in_sessions");
}

/* A complete MSRP message from the SIP user (§4, §5). */
static void
on_recv (PrlChat *self, Chat *c, const PrlChatEvent *e, gint64 now_us, GPtrArray *out)
{
  c->last_us = now_us;
  const char *type = e->content_type != NULL ? e->content_type : "text/plain";
  const char *body = e->body != NULL ? e->body : "";
  gsize len = e->body != NULL ? e->len : 0;
  g_autoptr (PrlCpimMessage) cpim = NULL;
  if (g_ascii_strncasecmp (type, "message/cpim", 12) == 0) {
    cpim = prl_cpim_parse (body, len, NULL);
    if (cpim != NULL
        && g_ascii_strncasecmp (cpim->content_type, PRL_ISCOMPOSING_TYPE,
                                strlen (PRL_ISCOMPOSING_TYPE))
               == 0) {
      type = cpim->content_type, body = cpim->body, len = cpim->body_len;
    }
  }
  if (g_ascii_strncasecmp (type, PRL_ISCOMPOSING_TYPE, strlen (PRL_ISCOMPOSING_TYPE)) == 0) {
    gboolean active = FALSE;
    guint refresh = 0;
    if (!prl_iscomposing_parse (body, len, &active, &refresh)) {
      prl_chat_i_count (out, "chat_in_bad_iscomposing");
      return;
    }
    c->peer_composing_until = active ? now_us + (gint64)(refresh > 0 ? refresh : 120) * US : 0;
    send_chat_state (self, c, active ? "composing" : "active", out); /* §5 table */
    prl_chat_i_count (out, "chat_in_composing");
    return;
  }
  g_autofree char *text = NULL;
  g_autofree char *cpim_subject = NULL;
  PrlBodyStatus bs = prl_message_map_sip_body (
      e->content_type, e->body, e->len, self->config->max_message_bytes, &text, &cpim_subject);
  if (bs != PRL_BODY_OK || text == NULL) {
    prl_chat_i_count (out, "chat_in_rejected_body"); /* already answered by the MSRP stack */
    return;
  }
  PrlXmppMessage *m = to_xmpp (self, c);
  m->id = g_strdup_printf ("%s-%" G_GUINT64_FORMAT, self->config->id_prefix,
                           self->host.next_seq (self->core));
  m->body = g_steal_pointer (&text);
  m->subject = g_steal_pointer (&cpim_subject);
  gboolean parkable = self->config->offline_enabled && self->host.can_park (self->core);
  if (!self->host.link_up (self->core)) {
    if (parkable) { /* §11: nobody on the XMPP side: park, and say so in the session */
      self->host.park (self->core, prl_chat_i_stored_from (c, m, e, now_us), now_us, out);
      prl_chat_i_offline_notice (self, c, now_us, out);
      prl_chat_i_count (out, "chat_in_parked");
    } else {
      prl_chat_i_count (out, "chat_in_dropped_link_down");
    }
    prl_xmpp_message_free (m);
    return;
  }
  if (parkable)
    prl_chat_i_recent_add (self, m->id, c->id, prl_chat_i_stored_from (c, m, e, now_us), now_us);
  m->has_chat_state = TRUE;
  m->chat_state = g_strdup ("active"); /* XEP-0085: a message ends "composing" */
  c->peer_composing_until = 0;
  if (e->success_report && e->message_id != NULL) { /* §8 */
    m->receipt_request = TRUE;
    Receipt *r = g_new0 (Receipt, 1);
    r->key = g_strconcat ("x", m->id, NULL);
    r->chat_id = c->id;
    r->message_id = g_strdup (e->message_id);
    r->len = e->len;
    receipt_add (self, r);
  }
  send_xmpp (out, m);
  prl_chat_i_count (out, "chat_in_messages");
}

static void
on_opened (PrlChat *self, Chat *c, const PrlChatEvent *e, gint64 now_us, GPtrArray *out)
{
  if (c->state != CHAT_INVITING)
    return;
  c->state = CHAT_ACTIVE;
  c->peer_cpim = e->peer_cpim;
  c->peer_composing = e->peer_composing;
  c->last_us = now_us;
  prl_chat_i_count (out, c->push ? "chat_push_opened" : "chat_out_sessions");
  Pushed *p;
  while ((p = g_queue_pop_head (&c->pushq)) != NULL) {
    prl_chat_i_send_push (self, c, p, now_us, out);
    prl_chat_i_pushed_free (p);
  }
  Held *h;
  while ((h = g_queue_pop_head (&c->queue)) != NULL) {
    send_text (self, c, h->m, h->received_us, now_us, out);
    held_free (h);
  }
}

/* §7: statuses that say "no MSRP here" (rather than "not now"). */
static gboolean
refuses_msrp (guint status)
{
  return status == 415 || status == 488 || status == 606 || status == 405 || status == 501
         || status == 420;
}

static void
on_failed (PrlChat *self, Chat *c, const PrlChatEvent *e, gint64 now_us, GPtrArray *out)
{
  if ((refuses_msrp (e->status) || c->push) && self->config->chat_fallback_s > 0)
    prl_offline_lru_put (self->fallback, c->key,
                         now_us + (gint64)self->config->chat_fallback_s * US);
  page_held (self, c, out);                        /* page mode parks them on 480/404/408 (§7) */
  prl_chat_i_push_fallback (self, c, now_us, out); /* §12: MESSAGEs after all */
  prl_chat_i_count (out, "chat_out_invite_failed");
  prl_chat_i_chat_remove (self, c);
}

static void
on_sent (PrlChat *self, const PrlChatEvent *e, gint64 now_us, GPtrArray *out)
{
  if (e->report && e->status >= 300) { /* §7: a failure REPORT, possibly after the 200 */
    Sent *s = g_hash_table_lookup (self->sent, &e->token);
    if (s == NULL || s->orig == NULL)
      return;
    prl_chat_i_count (out, "chat_out_failed_report");
    self->host.page (self->core, s->orig, s->received_us, out);
    sent_drop (self, s);
    return;
  }
  if (e->report) { /* §8: a success REPORT for a message whose sender asked for a receipt */
    Sent *s = g_hash_table_lookup (self->sent, &e->token);
    if (s != NULL && s->acked_us != 0)
      sent_drop (self, s); /* delivered end to end */
    g_autofree char *rkey = g_strdup_printf ("t%" G_GUINT64_FORMAT, e->token);
    Receipt *r = receipt_take (self, rkey);
    if (r == NULL)
      return;
    if (e->status < 300 && self->host.link_up (self->core)) {
      PrlXmppMessage *m = prl_xmpp_message_new ();
      m->from = g_strdup (r->gw_jid);
      m->to = g_strdup (r->jid);
      m->id = g_strdup_printf ("%s-%" G_GUINT64_FORMAT, self->config->id_prefix,
                               self->host.next_seq (self->core));
      m->receipt_id = g_strdup (r->xmpp_id);
      send_xmpp (out, m);
      prl_chat_i_count (out, "chat_in_receipts");
    }
    receipt_free (r);
    return;
  }
  Sent *s = g_hash_table_lookup (self->sent, &e->token);
  if (s == NULL || s->acked_us != 0)
    return; /* isComposing, or already settled */
  g_hash_table_steal (self->sent, &e->token);
  Chat *c = g_hash_table_lookup (self->by_id, &s->chat_id);
  if (s->orig == NULL) { /* §12: a pushed parked message; offline.c acks or stops its flush */
    if (c != NULL && c->inflight > 0)
      c->inflight--;
    self->host.pushed (self->core, s->push_token, e->status < 300, now_us, out);
    if (e->status >= 300 && c != NULL)
      prl_chat_i_close_chat (self, c, FALSE, "chat_closed_send_failed", now_us, out);
    sent_free (s);
    return;
  }
  if (e->status < 300) {
    prl_chat_i_count (out, "chat_out_delivered");
    if (s->orig->receipt_request && s->orig->id != NULL && c != NULL) {
      Receipt *r = g_new0 (Receipt, 1);
      r->key = g_strdup_printf ("t%" G_GUINT64_FORMAT, e->token);
      r->chat_id = c->id;
      r->xmpp_id = g_strdup (s->orig->id);
      r->jid = g_strdup (s->orig->from);
      r->gw_jid = g_strdup (s->orig->to);
      receipt_add (self, r);
    }
    /* §7: a 200 is hop by hop (a relay answers it itself); a failure REPORT may follow */
    s->acked_us = now_us;
    g_hash_table_insert (self->sent, &s->token, s);
    g_queue_push_tail (&self->acked, s);
    while (self->acked.length > MAX_ACKED)
      sent_drop (self, g_queue_peek_head (&self->acked));
    return;
  } else { /* §7: a refused or lost SEND goes again in page mode - never dropped */
    prl_chat_i_count (out, "chat_out_send_failed");
    self->host.page (self->core, s->orig, s->received_us, out);
    if (c != NULL && (e->status == 481 || e->status == 503 || e->status == 408))
      prl_chat_i_close_chat (self, c, FALSE, "chat_closed_send_failed", now_us, out);
  }
  sent_free (s);
}

void
prl_chat_on_event (PrlChat *self, const PrlEvent *event, GPtrArray *out)
{
  g_return_if_fail (self != NULL);
  const PrlChatEvent *e = &event->chat;
  gint64 now = event->now_us;
  if (event->kind == PRL_EVENT_CHAT_INVITE) {
    g_return_if_fail (e->invite != NULL);
    on_invite (self, e, now, out);
    return;
  }
  if (event->kind == PRL_EVENT_CHAT_SENT) {
    on_sent (self, e, now, out);
    return;
  }
  if (event->kind == PRL_EVENT_CHAT_END) { /* §6: the operator (sessions.close) */
    if (!prl_chat_end (self, e->id, now, out))
      prl_chat_i_count (out, "chat_event_unknown");
    return;
  }
  Chat *c = g_hash_table_lookup (self->by_id, &e->id);
  if (c == NULL) {
    prl_chat_i_count (out, "chat_event_unknown");
    return;
  }
  switch (event->kind) {
  case PRL_EVENT_CHAT_OPENED:
    on_opened (self, c, e, now, out);
    break;
  case PRL_EVENT_CHAT_FAILED:
    on_failed (self, c, e, now, out);
    break;
  case PRL_EVENT_CHAT_CLOSED: /* §6: BYE or MSRP loss -> <gone/> */
    if (c->state == CHAT_ACTIVE)
      send_chat_state (self, c, "gone", out);
    prl_chat_i_count (out, "chat_closed_remote");
    prl_chat_i_chat_remove (self, c);
    break;
  case PRL_EVENT_CHAT_RECV:
    on_recv (self, c, e, now, out);
    break;
  default:
    break;
  }
}

/* ---------------------------------------------------------------- offline push (§12) */

/* ---------------------------------------------------------------- housekeeping */

void
prl_chat_on_unavailable (PrlChat *self, const char *jid, gint64 now_us, GPtrArray *out)
{
  if (self == NULL || jid == NULL || g_hash_table_size (self->by_key) == 0)
    return;
  g_autofree char *who = prl_chat_i_bare (jid);
  gsize n = strlen (who);
  GPtrArray *ending = g_ptr_array_new ();
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, self->by_key);
  while (g_hash_table_iter_next (&it, NULL, &v)) {
    Chat *c = v;
    if (strncmp (c->key, who, n) == 0 && c->key[n] == '\n')
      g_ptr_array_add (ending, c);
  }
  for (guint i = 0; i < ending->len; i++)
    prl_chat_i_close_chat (self, g_ptr_array_index (ending, i), FALSE, "chat_closed_unavailable",
                           now_us, out);
  g_ptr_array_free (ending, TRUE);
}

void
prl_chat_on_link_down (PrlChat *self, gint64 now_us, GPtrArray *out)
{
  /* §6, §11: with a store, sessions stay and what the SIP users say is parked */
  if (self == NULL || (self->config->offline_enabled && self->host.can_park (self->core)))
    return;
  GList *all = g_hash_table_get_values (self->by_key);
  for (GList *l = all; l != NULL; l = l->next)
    if (!((Chat *)l->data)->push)
      prl_chat_i_close_chat (self, l->data, FALSE, "chat_closed_link_down", now_us, out);
  g_list_free (all);
}

void
prl_chat_on_tick (PrlChat *self, gint64 now_us, GPtrArray *out)
{
  if (self == NULL)
    return;
  Sent *done; /* §7: SENDs answered 200 long enough ago for no failure REPORT to come */
  while ((done = g_queue_peek_head (&self->acked)) != NULL && now_us - done->acked_us > ACKED_US)
    sent_drop (self, done);
  if (g_hash_table_size (self->by_key) == 0 && self->recent_order.length == 0)
    return;
  const PrlCoreConfig *cfg = self->config;
  gint64 idle = (gint64)cfg->chat_idle_timeout_s * US;
  gint64 refresh = (gint64)cfg->chat_composing_refresh_s * US;
  GPtrArray *ending = g_ptr_array_new ();
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, self->by_key);
  while (g_hash_table_iter_next (&it, NULL, &v)) {
    Chat *c = v;
    if (c->state != CHAT_ACTIVE)
      continue;
    if (c->push) { /* §12: done when nothing is in flight and the flush sent nothing new */
      if (c->inflight == 0 && now_us - c->last_us >= PUSH_LINGER_US)
        g_ptr_array_add (ending, c);
      continue;
    }
    if (idle > 0 && now_us - c->last_us >= idle) {
      g_ptr_array_add (ending, c);
      continue;
    }
    /* RFC 3994 §4: "active" lapses after its refresh unless repeated; the XMPP user has not
     * sent anything since <composing/>, so repeat it (§5). */
    if (c->composing_sent_us != 0 && refresh > 0 && now_us - c->composing_sent_us >= refresh - US) {
      gint64 keep = c->last_us;
      send_composing (self, c, TRUE, now_us, out);
      c->last_us = keep; /* typing is not traffic for the idle timer */
    }
    if (c->peer_composing_until != 0 && now_us >= c->peer_composing_until) {
      c->peer_composing_until = 0;
      send_chat_state (self, c, "active", out); /* the peer's "active" lapsed: idle */
    }
  }
  for (guint i = 0; i < ending->len; i++) { /* §6: idle timeout -> BYE and <gone/> */
    Chat *c = g_ptr_array_index (ending, i);
    prl_chat_i_close_chat (self, c, !c->push, c->push ? "chat_push_closed" : "chat_closed_idle",
                           now_us, out);
  }
  g_ptr_array_free (ending, TRUE);
  /* §11: deliveries too old to bounce now */
  Recent *r;
  while ((r = g_queue_peek_head (&self->recent_order)) != NULL && now_us - r->at_us > RECENT_US) {
    g_queue_pop_head (&self->recent_order);
    g_hash_table_remove (self->recent, r->id);
  }
}

/* ---------------------------------------------------------------- operator */

void
prl_chat_info_free (PrlChatInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->xmpp);
  g_free (info->sip);
  g_free (info->thread);
  g_free (info);
}

static gint
by_id (gconstpointer a, gconstpointer b)
{
  const PrlChatInfo *x = *(PrlChatInfo *const *)a, *y = *(PrlChatInfo *const *)b;
  return x->id < y->id ? -1 : x->id > y->id;
}

GPtrArray *
prl_chat_list (PrlChat *self)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify)prl_chat_info_free);
  if (self == NULL)
    return out;
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, self->by_key);
  while (g_hash_table_iter_next (&it, NULL, &v)) {
    const Chat *c = v;
    PrlChatInfo *i = g_new0 (PrlChatInfo, 1);
    i->id = c->id;
    i->state = c->state == CHAT_ACTIVE ? "active" : "inviting";
    i->origin = c->push ? "push" : c->incoming ? "sip" : "xmpp";
    i->xmpp = g_strdup (c->jid);
    i->sip = g_strdup (c->remote_uri);
    i->thread = g_strdup (c->thread);
    i->last_us = c->last_us;
    i->held = c->queue.length + c->pushq.length;
    g_ptr_array_add (out, i);
  }
  g_ptr_array_sort (out, by_id);
  return out;
}

gboolean
prl_chat_end (PrlChat *self, guint64 id, gint64 now_us, GPtrArray *out)
{
  Chat *c = self != NULL ? g_hash_table_lookup (self->by_id, &id) : NULL;
  if (c == NULL)
    return FALSE;
  prl_chat_i_close_chat (self, c, TRUE, "chat_closed_operator", now_us, out);
  return TRUE;
}
