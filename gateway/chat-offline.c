/* gateway/chat-offline.c - chat sessions meeting the offline store (mapping-docs/chat.md
 * §11, §12): what a SIP user says to an XMPP user who cannot be reached is parked (with an
 * offline notice in the session), and parked messages for SIP users may be pushed over an MSRP
 * session parleyd opens (OMA IM Appendix K) instead of one MESSAGE each. */
#include "gateway/chat-internal.h"

#include <string.h>

#include "gateway/cpim.h"
#include "gateway/message-map.h"

void
prl_chat_i_pushed_free (Pushed *p)
{
  prl_stored_message_free (p->m);
  g_free (p);
}

void
prl_chat_i_recent_free (Recent *r)
{
  g_free (r->id);
  prl_stored_message_free (r->park);
  g_free (r);
}

/* What a chat message from the SIP user is when it has to wait in the store (§11). */
PrlStoredMessage *
prl_chat_i_stored_from (Chat *c, const PrlXmppMessage *m, const PrlChatEvent *e, gint64 now_us)
{
  PrlStoredMessage *s = prl_stored_message_new ();
  s->to = prl_chat_i_bare (c->jid);
  s->original_to = g_strdup (c->local_uri);
  s->from = g_strdup (c->gw_jid);
  s->kind = g_strdup ("chat");
  s->content_type = g_strdup (PRL_MESSAGE_MAP_CONTENT_TYPE);
  s->body = g_strdup (m->body);
  s->body_len = strlen (m->body);
  s->subject = g_strdup (m->subject);
  s->thread = g_strdup (c->thread);
  s->origin = g_strdup ("sip");
  s->original_id = g_strdup (e->message_id);
  s->received_us = now_us;
  return s;
}

/* §11: the configured text, once per session, as if the XMPP user had said it. */
void
prl_chat_i_offline_notice (PrlChat *self, Chat *c, gint64 now_us, GPtrArray *out)
{
  const char *text = self->config->chat_offline_notice;
  if (c->told_offline || text == NULL || *text == '\0')
    return;
  c->told_offline = TRUE;
  prl_chat_i_send_msrp (self, c, PRL_MESSAGE_MAP_CONTENT_TYPE, text, strlen (text), FALSE, now_us,
                        out);
  prl_chat_i_count (out, "chat_offline_notices");
}

void
prl_chat_i_recent_add (PrlChat *self, const char *id, guint64 chat_id, PrlStoredMessage *park,
                       gint64 now_us)
{
  Recent *r = g_new0 (Recent, 1);
  r->id = g_strdup (id);
  r->chat_id = chat_id;
  r->park = park;
  r->at_us = now_us;
  Recent *old = g_hash_table_lookup (self->recent, id);
  if (old != NULL) {
    g_queue_remove (&self->recent_order, old);
    g_hash_table_remove (self->recent, id);
  }
  g_hash_table_insert (self->recent, r->id, r);
  g_queue_push_tail (&self->recent_order, r);
  while (self->recent_order.length > MAX_RECENT) {
    Recent *oldest = g_queue_pop_head (&self->recent_order);
    g_hash_table_remove (self->recent, oldest->id);
  }
}

gboolean
prl_chat_on_xmpp_error (PrlChat *self, const PrlXmppMessage *m, gint64 now_us, GPtrArray *out)
{
  if (self == NULL || m->id == NULL)
    return FALSE;
  Recent *r = g_hash_table_lookup (self->recent, m->id);
  if (r == NULL)
    return FALSE;
  g_queue_remove (&self->recent_order, r);
  g_hash_table_steal (self->recent, m->id);
  if (prl_offline_condition_is_offline (m->error_condition) && self->host.can_park (self->core)) {
    self->host.park (self->core, g_steal_pointer (&r->park), now_us, out);
    Chat *c = g_hash_table_lookup (self->by_id, &r->chat_id);
    if (c != NULL)
      prl_chat_i_offline_notice (self, c, now_us, out);
    prl_chat_i_count (out, "chat_in_parked");
  } else {
    prl_chat_i_count (out, "chat_in_bounced");
  }
  prl_chat_i_recent_free (r);
  return TRUE;
}

/* "sip:offline@DOMAIN", DOMAIN the host of @from (a gateway domain): who opens the session. */
static char *
push_identity (const char *from)
{
  const char *at = from != NULL ? strchr (from, '@') : NULL;
  if (at == NULL)
    return NULL;
  g_autofree char *host = g_strndup (at + 1, strcspn (at + 1, ";>?"));
  return *host != '\0' ? g_strdup_printf ("sip:offline@%s", host) : NULL;
}

/* One parked message as message/sip: the MESSAGE it would have been (OMA IM Appendix K). */
static char *
as_message_sip (const PrlStoredMessage *m, gsize *len)
{
  g_autofree char *date = prl_offline_format_http_date (m->received_us);
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "MESSAGE %s SIP/2.0\r\nFrom: <%s>\r\nTo: <%s>\r\n", m->to, m->from,
                          m->to);
  if (m->original_id != NULL && prl_message_map_header_is_safe (m->original_id))
    g_string_append_printf (s, "Call-ID: %s\r\n", m->original_id);
  g_string_append_printf (s, "Date: %s\r\n", date);
  if (m->subject != NULL)
    g_string_append_printf (s, "Subject: %s\r\n", m->subject);
  g_string_append_printf (s, "Content-Type: %s\r\nContent-Length: %" G_GSIZE_FORMAT "\r\n\r\n",
                          PRL_MESSAGE_MAP_CONTENT_TYPE, m->body_len);
  g_string_append_len (s, m->body != NULL ? m->body : "", (gssize)m->body_len);
  *len = s->len;
  return g_string_free (s, FALSE);
}

void
prl_chat_i_send_push (PrlChat *self, Chat *c, const Pushed *p, gint64 now_us, GPtrArray *out)
{
  const PrlStoredMessage *m = p->m;
  PrlAction *a = prl_chat_i_chat_action (out, PRL_ACTION_CHAT_SEND, c->id);
  a->chat.token = self->host.next_seq (self->core);
  if (self->config->offline_push == PRL_OFFLINE_PUSH_MSRP_SIP) {
    a->chat.content_type = g_strdup ("message/sip");
    a->chat.body = as_message_sip (m, &a->chat.len);
  } else {
    g_autofree char *stamp = prl_offline_format_stamp (m->received_us);
    const char *id = m->original_id != NULL && prl_message_map_header_is_safe (m->original_id)
                         ? m->original_id
                         : NULL;
    a->chat.content_type = g_strdup ("message/cpim");
    a->chat.body
        = prl_cpim_build_full (m->from, m->to, stamp, m->subject, id, PRL_MESSAGE_MAP_CONTENT_TYPE,
                               m->body, m->body_len, &a->chat.len);
  }
  Sent *sent = g_new0 (Sent, 1);
  sent->chat_id = c->id;
  sent->push_token = p->token;
  sent->token = a->chat.token;
  g_hash_table_insert (self->sent, &sent->token, sent);
  c->inflight++;
  c->last_us = now_us;
  prl_chat_i_count (out, "chat_push_messages");
}

gboolean
prl_chat_push (PrlChat *self, const PrlStoredMessage *m, guint64 token, gint64 now_us,
               GPtrArray *out)
{
  const PrlCoreConfig *cfg = self != NULL ? self->config : NULL;
  if (cfg == NULL || cfg->offline_push == PRL_OFFLINE_PUSH_MESSAGE || !cfg->chat_enabled
      || m->owner == NULL || m->to == NULL || m->from == NULL
      || !prl_message_map_header_is_safe (m->to) || !prl_message_map_header_is_safe (m->from)
      || (m->subject != NULL && !prl_message_map_header_is_safe (m->subject)))
    return FALSE;
  g_autofree char *key = g_strconcat (PUSH_PREFIX, m->owner, NULL);
  Chat *c = g_hash_table_lookup (self->by_key, key);
  if (c == NULL) {
    g_autofree char *me = push_identity (m->from);
    if (me == NULL || prl_chat_i_in_fallback (self, key, now_us)
        || g_hash_table_size (self->by_key) >= cfg->chat_max_sessions)
      return FALSE; /* MESSAGEs, as without push */
    c = prl_chat_i_chat_add (self, g_steal_pointer (&key), self->host.next_seq (self->core));
    c->state = CHAT_INVITING;
    c->push = TRUE;
    c->local_uri = g_steal_pointer (&me);
    c->remote_uri = g_strdup (m->to);
    c->thread = g_strdup_printf ("%s-push-%" G_GUINT64_FORMAT "@parley", cfg->id_prefix, c->id);
    c->last_us = now_us;
    PrlAction *a = prl_chat_i_chat_action (out, PRL_ACTION_CHAT_OPEN, c->id);
    a->chat.from = g_strdup (c->local_uri);
    a->chat.to = g_strdup (c->remote_uri);
    a->chat.call_id = g_strdup (c->thread);
    a->chat.subject = g_strdup ("Messages stored while you were offline");
    prl_chat_i_count (out, "chat_push_sessions");
  }
  if (c->state == CHAT_ACTIVE) { /* sent now: no copy of the message to keep */
    Pushed now = { .m = (PrlStoredMessage *)m, .token = token };
    prl_chat_i_send_push (self, c, &now, now_us, out);
    return TRUE;
  }
  Pushed *p = g_new0 (Pushed, 1);
  p->m = prl_stored_message_dup (m);
  p->token = token;
  g_queue_push_tail (&c->pushq, p);
  return TRUE;
}

/* §12: parked messages waiting for a push session that will not open go as MESSAGEs. */
void
prl_chat_i_push_fallback (PrlChat *self, Chat *c, gint64 now_us, GPtrArray *out)
{
  Pushed *p;
  while ((p = g_queue_pop_head (&c->pushq)) != NULL) {
    if (!self->host.send_parked (self->core, p->m, p->token, out))
      self->host.pushed (self->core, p->token, FALSE, now_us, out);
    prl_chat_i_pushed_free (p);
  }
}
