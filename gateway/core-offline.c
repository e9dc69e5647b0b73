/* gateway/core-offline.c - the page-mode core meeting the offline store: SIP owners known
 * offline (mapping-docs/offline.md §4e) and the callbacks offline.c and chat.c make into the
 * core (sending a parked message, a notice, a page-mode fallback). Shares PrlCore with core.c
 * (gateway/core-internal.h). */
#include "gateway/core-internal.h"

#include "gateway/addr-map.h"
#include "gateway/interop.h"
#include "gateway/message-map.h"

#include <string.h>

/* -------------------------------------------------- known offline (mapping-docs/offline.md §4e) */

/* The record @msg is parked as, with @text (@len bytes) as its body: what is left of it after
 * a failed part (park_failed), or the whole of it when it was never sent. */
PrlStoredMessage *
prl_core_i_stored_from_out (const OutMsg *msg, const char *owner, const char *text, gsize len)
{
  PrlStoredMessage *s = prl_stored_message_new ();
  s->owner = g_strdup (owner);
  s->to = g_strdup (msg->dest);
  s->original_to = g_strdup (msg->to_jid);
  s->from = g_strdup (msg->tmpl->from);
  s->kind = g_strdup ("page");
  s->content_type = g_strdup (PRL_MESSAGE_MAP_CONTENT_TYPE);
  s->body = g_strndup (text, len);
  s->body_len = len;
  s->lang = g_strdup (msg->tmpl->content_language);
  s->subject = g_strdup (msg->tmpl->subject);
  s->thread = g_strdup (msg->thread);
  s->origin = g_strdup ("xmpp");
  s->original_id = g_strdup (msg->id);
  s->received_us = msg->received_us;
  return s;
}

/* What a queued XMPP->SIP message that was never sent is parked as: a CPIM wrap (receipts.md
 * §4) as the text it wraps, as in park_failed. */
static PrlStoredMessage *
stored_from_out (const OutMsg *msg, const char *owner)
{
  if (msg->plain != NULL)
    return prl_core_i_stored_from_out (msg, owner, msg->plain, strlen (msg->plain));
  return prl_core_i_stored_from_out (msg, owner, msg->body, msg->len);
}

/* Parks @msg (transfer full) without sending it; if the park fails it is sent after all
 * (prl_core_i_offline_host.resume), as for an unregistered user (offline.md §4d). */
static void
park_unsent (PrlCore *self, OutMsg *msg, const char *owner, gint64 now_us, GPtrArray *out)
{
  PrlOfflineParkCtx *ctx = g_new0 (PrlOfflineParkCtx, 1);
  ctx->kind = PRL_OFFLINE_PARK_XMPP_NOW;
  ctx->orig_from = g_strdup (msg->from_jid);
  ctx->orig_to = g_strdup (msg->to_jid);
  ctx->orig_id = g_strdup (msg->id);
  PrlStoredMessage *s = stored_from_out (msg, owner);
  ctx->held = msg;
  ctx->held_free = (GDestroyNotify)prl_core_i_out_msg_free;
  prl_offline_park (self->offline, s, ctx, now_us, out);
}

/* A new message for a SIP user known to be offline is parked at once, unless its destination
 * still has traffic (it waits its turn, so the parked queue keeps receive order) or a retry
 * over SIP is due (offline_retry_s). TRUE if it took @msg. */
gboolean
prl_core_i_park_known_offline (PrlCore *self, OutMsg *msg, const char *owner, gint64 now_us,
                               GPtrArray *out)
{
  if (!msg->parkable || owner == NULL || !prl_offline_can_park (self->offline)
      || prl_offline_known_offline (self->offline) == 0
      || g_hash_table_contains (self->dests, msg->dest)
      || !prl_offline_park_at_once (self->offline, owner, now_us))
    return FALSE;
  park_unsent (self, msg, owner, now_us, out);
  return TRUE;
}

/* @failed was just parked after a 404/480/408: its owner is known offline from now on, and
 * the messages queued behind it for the same destination are parked too, in receive order
 * (each park is emitted after @failed's). What cannot be parked stays queued. */
void
prl_core_i_park_behind (PrlCore *self, const OutMsg *failed, gint64 now_us, GPtrArray *out)
{
  g_autofree char *owner = prl_offline_owner_sip (failed->dest);
  if (!prl_offline_mark_offline (self->offline, owner, now_us))
    return;
  Dest *d = g_hash_table_lookup (self->dests, failed->dest);
  if (d == NULL)
    return;
  GList *l = d->waiting.head;
  while (l != NULL) {
    GList *next = l->next;
    OutMsg *m = l->data;
    if (m->kind == OUT_PAGE && m->parkable) {
      g_queue_delete_link (&d->waiting, l);
      self->queued--;
      park_unsent (self, m, owner, now_us, out);
    }
    l = next;
  }
}

/* A 2xx from a SIP user taken for offline (a retry got through, or it came back unseen): it
 * is online, so its parked messages are flushed now. */
void
prl_core_i_back_online (PrlCore *self, const OutMsg *msg, gint64 now_us, GPtrArray *out)
{
  if (prl_offline_known_offline (self->offline) == 0)
    return;
  g_autofree char *owner = prl_offline_owner_sip (msg->dest);
  if (owner != NULL && prl_offline_is_known_offline (self->offline, owner))
    prl_offline_online (self->offline, owner, TRUE, now_us, out);
}

/* offline.md §6a: with flush_window > 1 a flushed MESSAGE starts at once, beside the others
 * of its flush, whatever sip_window says; page traffic to that user waits behind them. */
void
prl_core_i_start_flush_now (PrlCore *self, OutMsg *msg, GPtrArray *out)
{
  Dest *d = prl_core_i_dest_get (self, msg->dest);
  d->active++;
  prl_core_i_send_next_part (self, msg, out);
}

/* ---------------------------------------------------------------- offline host */

static guint64
host_next_seq (PrlCore *self)
{
  return ++self->next_seq;
}

static gboolean
host_link_up (PrlCore *self)
{
  return self->link_up;
}

static void
host_resume (PrlCore *self, gpointer held, GPtrArray *out)
{
  prl_core_i_enqueue (self, held, out);
}

static gboolean send_parked_message (PrlCore *self, const PrlStoredMessage *m, guint64 token,
                                     GPtrArray *out);

/* offline.md §6: a parked message to a SIP user: over an MSRP push session when so configured
 * (chat.md §12), else as a SIP MESSAGE. */
static gboolean
host_send_sip (PrlCore *self, const PrlStoredMessage *m, guint64 token, GPtrArray *out)
{
  if (prl_chat_push (self->chat, m, token, self->now_us, out))
    return TRUE;
  return send_parked_message (self, m, token, out);
}

/* A parked message as a SIP MESSAGE with the Date of its first receipt. */
static gboolean
send_parked_message (PrlCore *self, const PrlStoredMessage *m, guint64 token, GPtrArray *out)
{
  const char *body = m->body != NULL ? m->body : "";
  gsize len = m->body != NULL ? m->body_len : 0;
  if (m->to == NULL || m->from == NULL || !prl_message_map_header_is_safe (m->to)
      || !prl_message_map_header_is_safe (m->from) || !prl_message_map_header_is_safe (m->subject)
      || !g_utf8_validate_len (body, len, NULL) || memchr (body, '\0', len) != NULL)
    return FALSE;
  g_autoptr (PrlSipMessage) tmpl = prl_sip_message_new ();
  tmpl->request_uri = g_strdup (m->to);
  tmpl->from = g_strdup (m->from);
  tmpl->to = g_strdup (m->to);
  tmpl->call_id = prl_message_map_call_id_from_thread (m->thread);
  if (tmpl->call_id == NULL) /* the stored id: a re-delivery carries the same Call-ID */
    tmpl->call_id = g_strdup_printf ("%s@parley", m->id);
  if (!prl_message_map_call_id_is_valid (tmpl->call_id)) {
    g_free (tmpl->call_id);
    tmpl->call_id = g_strdup_printf ("%s-%" G_GUINT64_FORMAT "@parley", self->config.id_prefix,
                                     ++self->next_seq);
  }
  tmpl->cseq = 1;
  tmpl->subject = g_strdup (m->subject);
  tmpl->content_type = g_strdup (PRL_MESSAGE_MAP_CONTENT_TYPE);
  if (prl_message_map_lang_is_valid (m->lang))
    tmpl->content_language = g_strdup (m->lang);
  tmpl->date = prl_offline_format_http_date (m->received_us);
  GArray *cuts = prl_core_i_plan_cuts (self, tmpl, body, len);
  if (cuts == NULL)
    return FALSE;
  OutMsg *msg = prl_core_i_out_msg_new (OUT_FLUSH, g_steal_pointer (&tmpl), body, len, cuts);
  msg->token = token;
  if (self->config.flush_window > 1)
    prl_core_i_start_flush_now (self, msg, out); /* offline.md §6a */
  else
    prl_core_i_enqueue (self, msg, out);
  return TRUE;
}

/* offline.md §4a: the stored_notice MESSAGE to a SIP sender (fire and forget). */
static void
host_send_notice (PrlCore *self, const char *from, const char *to, const char *text, GPtrArray *out)
{
  if (!prl_message_map_header_is_safe (from) || !prl_message_map_header_is_safe (to))
    return;
  g_autoptr (PrlSipMessage) tmpl = prl_sip_message_new ();
  tmpl->request_uri = g_strdup (to);
  tmpl->from = g_strdup (from);
  tmpl->to = g_strdup (to);
  tmpl->call_id = g_strdup_printf ("%s-%" G_GUINT64_FORMAT "@parley", self->config.id_prefix,
                                   ++self->next_seq);
  tmpl->cseq = 1;
  tmpl->content_type = g_strdup (PRL_MESSAGE_MAP_CONTENT_TYPE);
  GArray *cuts = prl_core_i_plan_cuts (self, tmpl, text, strlen (text));
  if (cuts == NULL)
    return;
  prl_core_i_enqueue (
      self, prl_core_i_out_msg_new (OUT_NOTICE, g_steal_pointer (&tmpl), text, strlen (text), cuts),
      out);
}

const PrlOfflineHost prl_core_i_offline_host = {
  .next_seq = host_next_seq,
  .send_sip = host_send_sip,
  .send_notice = host_send_notice,
  .resume = host_resume,
  .link_up = host_link_up,
};

static void
chat_page (gpointer core, const PrlXmppMessage *m, gint64 now_us, GPtrArray *out)
{
  prl_core_i_on_xmpp_message (core, m, FALSE, now_us, out);
}

static guint64
chat_next_seq (gpointer core)
{
  return host_next_seq (core);
}

static gboolean
chat_link_up (gpointer core)
{
  return host_link_up (core);
}

static gboolean
chat_can_park (gpointer core)
{
  PrlCore *self = core;
  return prl_offline_can_park (self->offline);
}

/* chat.md §11: an MSRP message for an offline XMPP user; the session already told the sender. */
static void
chat_park (gpointer core, PrlStoredMessage *m, gint64 now_us, GPtrArray *out)
{
  PrlCore *self = core;
  PrlOfflineParkCtx *ctx = g_new0 (PrlOfflineParkCtx, 1);
  ctx->kind = PRL_OFFLINE_PARK_CHAT;
  if (m->owner == NULL)
    m->owner = prl_offline_owner_xmpp (m->to);
  prl_offline_park (self->offline, m, ctx, now_us, out);
}

static gboolean
chat_send_parked (gpointer core, const PrlStoredMessage *m, guint64 token, GPtrArray *out)
{
  return send_parked_message (core, m, token, out);
}

static void
chat_pushed (gpointer core, guint64 token, gboolean ok, gint64 now_us, GPtrArray *out)
{
  PrlCore *self = core;
  prl_offline_sip_done (self->offline, token, ok, now_us, out);
}

const PrlChatHost prl_core_i_chat_host = {
  .next_seq = chat_next_seq,
  .page = chat_page,
  .link_up = chat_link_up,
  .can_park = chat_can_park,
  .park = chat_park,
  .send_parked = chat_send_parked,
  .pushed = chat_pushed,
};
