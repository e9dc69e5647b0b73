/* gateway/message.c - constructors, copies and destructors of PrlSipMessage and PrlXmppMessage.
 *
 * Plain data: every string field is owned by its struct (GLib memory) and NULL means
 * "absent". A SIP body may hold NUL bytes, so it is copied by length, always with one extra
 * NUL after it so that text bodies can be read as C strings.
 * Types: gateway/message.h.
 */
#include "gateway/message.h"

#include <string.h>

PrlSipMessage *
prl_sip_message_new (void)
{
  return g_new0 (PrlSipMessage, 1);
}

static char *
dup_bytes (const char *data, gsize len)
{
  char *copy = g_malloc (len + 1);
  if (len > 0)
    memcpy (copy, data, len);
  copy[len] = '\0';
  return copy;
}

PrlSipMessage *
prl_sip_message_dup (const PrlSipMessage *m)
{
  g_return_val_if_fail (m != NULL, NULL);

  PrlSipMessage *copy = g_new0 (PrlSipMessage, 1);
  *copy = *m; /* scalars; every pointer is replaced below */
  copy->request_uri = g_strdup (m->request_uri);
  copy->from = g_strdup (m->from);
  copy->to = g_strdup (m->to);
  copy->call_id = g_strdup (m->call_id);
  copy->subject = g_strdup (m->subject);
  copy->content_type = g_strdup (m->content_type);
  copy->content_language = g_strdup (m->content_language);
  copy->date = g_strdup (m->date);
  copy->content_encoding = g_strdup (m->content_encoding);
  copy->body = m->body != NULL ? dup_bytes (m->body, m->body_len) : NULL;
  if (m->body == NULL)
    copy->body_len = 0;
  return copy;
}

void
prl_sip_message_free (PrlSipMessage *m)
{
  if (m == NULL)
    return;
  g_free (m->request_uri);
  g_free (m->from);
  g_free (m->to);
  g_free (m->call_id);
  g_free (m->subject);
  g_free (m->content_type);
  g_free (m->content_language);
  g_free (m->date);
  g_free (m->content_encoding);
  g_free (m->body);
  g_free (m);
}

void
prl_sip_message_set_body (PrlSipMessage *m, const char *data, gsize len)
{
  g_return_if_fail (m != NULL);
  g_return_if_fail (data != NULL || len == 0);

  g_free (m->body);
  m->body = dup_bytes (data, len);
  m->body_len = len;
}

PrlXmppMessage *
prl_xmpp_message_new (void)
{
  return g_new0 (PrlXmppMessage, 1);
}

PrlXmppMessage *
prl_xmpp_message_dup (const PrlXmppMessage *m)
{
  g_return_val_if_fail (m != NULL, NULL);

  PrlXmppMessage *copy = g_new0 (PrlXmppMessage, 1);
  copy->from = g_strdup (m->from);
  copy->to = g_strdup (m->to);
  copy->id = g_strdup (m->id);
  copy->type = g_strdup (m->type);
  copy->lang = g_strdup (m->lang);
  copy->subject = g_strdup (m->subject);
  copy->thread = g_strdup (m->thread);
  copy->body = g_strdup (m->body);
  copy->has_chat_state = m->has_chat_state;
  copy->has_payload = m->has_payload;
  copy->chat_state = g_strdup (m->chat_state);
  copy->receipt_request = m->receipt_request;
  copy->receipt_id = g_strdup (m->receipt_id);
  copy->markable = m->markable;
  copy->displayed_id = g_strdup (m->displayed_id);
  copy->origin_id = g_strdup (m->origin_id);
  copy->error_type = g_strdup (m->error_type);
  copy->error_condition = g_strdup (m->error_condition);
  copy->error_text = g_strdup (m->error_text);
  copy->error_detail = g_strdup (m->error_detail);
  copy->delay_stamp = g_strdup (m->delay_stamp);
  copy->delay_from = g_strdup (m->delay_from);
  return copy;
}

void
prl_xmpp_message_free (PrlXmppMessage *m)
{
  if (m == NULL)
    return;
  g_free (m->from);
  g_free (m->to);
  g_free (m->id);
  g_free (m->type);
  g_free (m->lang);
  g_free (m->subject);
  g_free (m->thread);
  g_free (m->body);
  g_free (m->error_type);
  g_free (m->error_condition);
  g_free (m->error_text);
  g_free (m->error_detail);
  g_free (m->delay_stamp);
  g_free (m->delay_from);
  g_free (m->chat_state);
  g_free (m->receipt_id);
  g_free (m->displayed_id);
  g_free (m->origin_id);
  g_free (m);
}

PrlStoredMessage *
prl_stored_message_new (void)
{
  return g_new0 (PrlStoredMessage, 1);
}

PrlStoredMessage *
prl_stored_message_dup (const PrlStoredMessage *m)
{
  g_return_val_if_fail (m != NULL, NULL);
  PrlStoredMessage *d = g_new0 (PrlStoredMessage, 1);
  d->id = g_strdup (m->id);
  d->owner = g_strdup (m->owner);
  d->to = g_strdup (m->to);
  d->original_to = g_strdup (m->original_to);
  d->from = g_strdup (m->from);
  d->kind = g_strdup (m->kind);
  d->content_type = g_strdup (m->content_type);
  d->body = m->body != NULL ? g_memdup2 (m->body, m->body_len + 1) : NULL;
  d->body_len = m->body_len;
  d->lang = g_strdup (m->lang);
  d->subject = g_strdup (m->subject);
  d->thread = g_strdup (m->thread);
  d->origin = g_strdup (m->origin);
  d->original_id = g_strdup (m->original_id);
  d->received_us = m->received_us;
  d->expires_us = m->expires_us;
  return d;
}

void
prl_stored_message_free (PrlStoredMessage *m)
{
  if (m == NULL)
    return;
  g_free (m->id);
  g_free (m->owner);
  g_free (m->to);
  g_free (m->original_to);
  g_free (m->from);
  g_free (m->kind);
  g_free (m->content_type);
  g_free (m->body);
  g_free (m->lang);
  g_free (m->subject);
  g_free (m->thread);
  g_free (m->origin);
  g_free (m->original_id);
  g_free (m);
}
