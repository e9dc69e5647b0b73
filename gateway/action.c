/* gateway/action.c - PrlAction lifetime and its canonical text form.
 *
 * prl_action_to_text() is the contract between the core and test-vectors/: one line per
 * action, fields in a fixed order, NULL/0 fields left out, strings quoted with the escapes of
 * test-vectors/README.md ("Action lines"). Long bodies are summarised by length, head and
 * tail so that a 64 KiB chunking vector stays readable.
 * Ownership: an action owns its message (sip/xmpp) and its strings; counter names are static.
 */
#include "gateway/action.h"

#include "gateway/quote.h"

#include <string.h>

#define BODY_FULL_MAX 256 /* longer bodies print as len/head/tail */
#define BODY_EDGE 16      /* bytes of head and tail */

PrlAction *
prl_action_new (PrlActionKind kind)
{
  PrlAction *action = g_new0 (PrlAction, 1);
  action->kind = kind;
  return action;
}

void
prl_action_free (PrlAction *action)
{
  if (action == NULL)
    return;
  switch (action->kind) {
  case PRL_ACTION_SIP_RESPOND:
    g_free (action->respond.reason);
    g_free (action->respond.accept);
    g_free (action->respond.contact);
    break;
  case PRL_ACTION_SIP_SEND:
    prl_sip_message_free (action->sip);
    break;
  case PRL_ACTION_XMPP_SEND:
    prl_xmpp_message_free (action->xmpp);
    break;
  case PRL_ACTION_TIMER:
  case PRL_ACTION_COUNT:
    break;
  case PRL_ACTION_STORE_PARK:
  case PRL_ACTION_STORE_CLAIM:
  case PRL_ACTION_STORE_ACK:
  case PRL_ACTION_STORE_RELEASE:
  case PRL_ACTION_STORE_EXPIRE:
    prl_stored_message_free (action->store.message);
    g_free (action->store.owner);
    g_free (action->store.id);
    g_free (action->store.after);
    break;
  case PRL_ACTION_SIP_WATCH:
  case PRL_ACTION_SIP_UNWATCH:
    g_free (action->aor);
    break;
  case PRL_ACTION_CHAT_OPEN:
  case PRL_ACTION_CHAT_ACCEPT:
  case PRL_ACTION_CHAT_REJECT:
  case PRL_ACTION_CHAT_SEND:
  case PRL_ACTION_CHAT_REPORT:
  case PRL_ACTION_CHAT_CLOSE:
    g_free (action->chat.from);
    g_free (action->chat.to);
    g_free (action->chat.call_id);
    g_free (action->chat.subject);
    g_free (action->chat.reason);
    g_free (action->chat.content_type);
    g_free (action->chat.body);
    g_free (action->chat.message_id);
    break;
  }
  g_free (action);
}

GPtrArray *
prl_action_array_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify)prl_action_free);
}

static void
append_str (GString *out, const char *name, const char *value)
{
  if (value == NULL)
    return;
  g_string_append_printf (out, " %s=", name);
  prl_quote_append (out, value, strlen (value));
}

static void
append_body (GString *out, const char *body, gsize len)
{
  if (body == NULL)
    return;
  g_string_append (out, " body=");
  if (len <= BODY_FULL_MAX) {
    prl_quote_append (out, body, len);
    return;
  }
  /* cut the head and the tail at character boundaries (never before a continuation byte) */
  const guchar *p = (const guchar *)body;
  gsize head = BODY_EDGE;
  while (head > 0 && (p[head] & 0xc0) == 0x80)
    head--;
  gsize tail = len - BODY_EDGE;
  while (tail < len && (p[tail] & 0xc0) == 0x80)
    tail++;
  g_string_append_printf (out, "len:%" G_GSIZE_FORMAT ",head:", len);
  prl_quote_append (out, body, head);
  g_string_append (out, ",tail:");
  prl_quote_append (out, body + tail, len - tail);
}

static void
respond_to_text (GString *out, const PrlSipRespond *r)
{
  g_string_append_printf (out, "sip.respond txn=%" G_GUINT64_FORMAT " status=%u", r->txn,
                          r->status);
  append_str (out, "reason", r->reason);
  if (r->retry_after_s > 0)
    g_string_append_printf (out, " retry-after=%u", r->retry_after_s);
  append_str (out, "accept", r->accept);
  append_str (out, "contact", r->contact);
}

static void
sip_to_text (GString *out, const PrlSipMessage *m)
{
  g_string_append (out, "sip.send");
  if (m == NULL)
    return;
  if (m->txn != 0)
    g_string_append_printf (out, " request=%" G_GUINT64_FORMAT, m->txn);
  if (m->parts != 0)
    g_string_append_printf (out, " part=%u/%u", m->part, m->parts);
  append_str (out, "ruri", m->request_uri);
  append_str (out, "from", m->from);
  append_str (out, "to", m->to);
  append_str (out, "call-id", m->call_id);
  if (m->cseq != 0)
    g_string_append_printf (out, " cseq=%u", m->cseq);
  append_str (out, "subject", m->subject);
  append_str (out, "content-type", m->content_type);
  append_str (out, "content-language", m->content_language);
  append_str (out, "date", m->date);
  if (m->size_estimate != 0)
    g_string_append_printf (out, " size=%" G_GSIZE_FORMAT, m->size_estimate);
  append_body (out, m->body, m->body_len);
}

static void
xmpp_to_text (GString *out, const PrlXmppMessage *m)
{
  g_string_append (out, "xmpp.send");
  if (m == NULL)
    return;
  append_str (out, "from", m->from);
  append_str (out, "to", m->to);
  append_str (out, "id", m->id);
  if (m->type != NULL)
    g_string_append_printf (out, " type=%s", m->type);
  append_str (out, "lang", m->lang);
  append_str (out, "subject", m->subject);
  append_str (out, "thread", m->thread);
  if (m->body != NULL)
    append_body (out, m->body, strlen (m->body));
  if (m->error_condition != NULL)
    g_string_append_printf (out, " error=%s/%s", m->error_type != NULL ? m->error_type : "?",
                            m->error_condition);
  append_str (out, "error-text", m->error_text);
  append_str (out, "error-detail", m->error_detail);
  append_str (out, "delay", m->delay_stamp);
  append_str (out, "delay-from", m->delay_from);
  if (m->chat_state != NULL)
    g_string_append_printf (out, " chat-state=%s", m->chat_state);
  if (m->receipt_request)
    g_string_append (out, " receipt-request");
  append_str (out, "received", m->receipt_id);
  if (m->markable)
    g_string_append (out, " markable");
  append_str (out, "displayed", m->displayed_id);
  append_str (out, "origin-id", m->origin_id);
}

/* store.park request=N id="..." owner="..." to="..." original-to="..." from="..." kind="page"
 * origin="sip" original-id="..." received=US expires=US content-type="..." [lang subject
 * thread] body=...; store.claim request=N owner="..." now=US max=N lease-ms=N;
 * store.ack request=N owner="..." id="..."; store.release request=N owner="...";
 * store.expire request=N now=US; sip.watch aor="..."; sip.unwatch aor="..."
 * (test-vectors/README.md "Action lines"). */
static void
store_to_text (GString *out, const char *verb, const PrlStoreOp *op)
{
  g_string_append_printf (out, "store.%s request=%" G_GUINT64_FORMAT, verb, op->request);
  const PrlStoredMessage *m = op->message;
  if (m != NULL) {
    append_str (out, "id", m->id);
    append_str (out, "owner", m->owner);
    append_str (out, "to", m->to);
    append_str (out, "original-to", m->original_to);
    append_str (out, "from", m->from);
    append_str (out, "kind", m->kind);
    append_str (out, "origin", m->origin);
    append_str (out, "original-id", m->original_id);
    g_string_append_printf (out, " received=%" G_GINT64_FORMAT " expires=%" G_GINT64_FORMAT,
                            m->received_us, m->expires_us);
    append_str (out, "content-type", m->content_type);
    append_str (out, "lang", m->lang);
    append_str (out, "subject", m->subject);
    append_str (out, "thread", m->thread);
    if (m->body != NULL)
      append_body (out, m->body, m->body_len);
  }
  append_str (out, "owner", op->owner);
  append_str (out, "id", op->id);
  append_str (out, "after", op->after);
  if (op->now_us != 0)
    g_string_append_printf (out, " now=%" G_GINT64_FORMAT, op->now_us);
  if (op->max != 0)
    g_string_append_printf (out, " max=%u", op->max);
  if (op->lease_ms != 0)
    g_string_append_printf (out, " lease-ms=%u", op->lease_ms);
}

/* chat.open id=N from="..." to="..." call-id="..." [subject]; chat.accept id=N txn=N;
 * chat.reject txn=N status=N reason="..."; chat.send id=N token=N content-type="..."
 * [success-report] body=...; chat.report id=N message-id="..." len=N status=N; chat.close id=N */
static void
chat_to_text (GString *out, const char *verb, const PrlChatOp *op)
{
  g_string_append_printf (out, "chat.%s", verb);
  if (op->id != 0)
    g_string_append_printf (out, " id=%" G_GUINT64_FORMAT, op->id);
  if (op->txn != 0)
    g_string_append_printf (out, " txn=%" G_GUINT64_FORMAT, op->txn);
  append_str (out, "from", op->from);
  append_str (out, "to", op->to);
  append_str (out, "call-id", op->call_id);
  append_str (out, "subject", op->subject);
  if (op->token != 0)
    g_string_append_printf (out, " token=%" G_GUINT64_FORMAT, op->token);
  append_str (out, "content-type", op->content_type);
  if (op->success_report)
    g_string_append (out, " success-report");
  append_str (out, "message-id", op->message_id);
  if (op->message_id != NULL)
    g_string_append_printf (out, " len=%" G_GSIZE_FORMAT, op->len);
  if (op->status != 0)
    g_string_append_printf (out, " status=%u", op->status);
  append_str (out, "reason", op->reason);
  if (op->body != NULL)
    append_body (out, op->body, op->len);
}

char *
prl_action_to_text (const PrlAction *action)
{
  g_return_val_if_fail (action != NULL, NULL);

  GString *out = g_string_new (NULL);
  switch (action->kind) {
  case PRL_ACTION_SIP_RESPOND:
    respond_to_text (out, &action->respond);
    break;
  case PRL_ACTION_SIP_SEND:
    sip_to_text (out, action->sip);
    break;
  case PRL_ACTION_XMPP_SEND:
    xmpp_to_text (out, action->xmpp);
    break;
  case PRL_ACTION_TIMER:
    g_string_append_printf (out, "timer id=%" G_GUINT64_FORMAT " ms=%u", action->timer.id,
                            action->timer.ms);
    break;
  case PRL_ACTION_COUNT:
    g_string_append_printf (out, "count %s", action->counter != NULL ? action->counter : "?");
    break;
  case PRL_ACTION_STORE_PARK:
    store_to_text (out, "park", &action->store);
    break;
  case PRL_ACTION_STORE_CLAIM:
    store_to_text (out, "claim", &action->store);
    break;
  case PRL_ACTION_STORE_ACK:
    store_to_text (out, "ack", &action->store);
    break;
  case PRL_ACTION_STORE_RELEASE:
    store_to_text (out, "release", &action->store);
    break;
  case PRL_ACTION_STORE_EXPIRE:
    store_to_text (out, "expire", &action->store);
    break;
  case PRL_ACTION_SIP_WATCH:
    g_string_append (out, "sip.watch");
    append_str (out, "aor", action->aor);
    break;
  case PRL_ACTION_SIP_UNWATCH:
    g_string_append (out, "sip.unwatch");
    append_str (out, "aor", action->aor);
    break;
  case PRL_ACTION_CHAT_OPEN:
    chat_to_text (out, "open", &action->chat);
    break;
  case PRL_ACTION_CHAT_ACCEPT:
    chat_to_text (out, "accept", &action->chat);
    break;
  case PRL_ACTION_CHAT_REJECT:
    chat_to_text (out, "reject", &action->chat);
    break;
  case PRL_ACTION_CHAT_SEND:
    chat_to_text (out, "send", &action->chat);
    break;
  case PRL_ACTION_CHAT_REPORT:
    chat_to_text (out, "report", &action->chat);
    break;
  case PRL_ACTION_CHAT_CLOSE:
    chat_to_text (out, "close", &action->chat);
    break;
  }
  return g_string_free (out, FALSE);
}

char *
prl_actions_to_text (GPtrArray *actions)
{
  g_return_val_if_fail (actions != NULL, NULL);

  GString *out = g_string_new (NULL);
  for (guint i = 0; i < actions->len; i++) {
    g_autofree char *line = prl_action_to_text (g_ptr_array_index (actions, i));
    g_string_append (out, line);
    g_string_append_c (out, '\n');
  }
  return g_string_free (out, FALSE);
}
