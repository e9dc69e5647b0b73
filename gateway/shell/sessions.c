/* gateway/shell/sessions.c - chat sessions in the daemon (gateway/shell/sessions.h).
 *
 * Outgoing (CHAT_OPEN): new MSRP session -> SDP offer (a=setup:actpass) -> INVITE. A 2xx
 * answer is read, the MSRP session started active or passive as the answer's a=setup says
 * (RFC 6135), and CHAT_OPENED sent once MSRP is connected; any failure on the way is one
 * CHAT_FAILED (with a BYE when the dialog exists). Incoming: an INVITE whose offer is usable
 * becomes CHAT_INVITE; CHAT_ACCEPT answers 200 with our SDP and starts MSRP (passive unless
 * the offer said passive). MSRP messages, reports and losses become CHAT_RECV, CHAT_SENT and
 * CHAT_CLOSED. Message-ID -> token survives the session, so a SEND failed by a close still
 * comes back to the core (which then sends it in page mode).
 */
#include "gateway/shell/sessions.h"

#include <string.h>

#include "gateway/iscomposing.h"
#include "sip/sdp.h"

#define MAX_TOKENS 65536 /* Message-IDs waiting for an outcome (oldest forgotten first) */

typedef struct {
  guint64 chat;        /* the core's chat id (0 while an incoming INVITE waits for the core) */
  guint64 sip;         /* the agent's session id */
  guint64 msrp;        /* the MSRP session id, 0 before there is one */
  gboolean outgoing;
  gboolean connected;  /* MSRP connected (outgoing: CHAT_OPENED sent) */
  gboolean peer_cpim, peer_composing;
  char *offer_path;    /* incoming: the peer's a=path */
  char *offer_setup;   /* incoming: the peer's a=setup (or NULL) */
} Session;

typedef struct {
  PrlEventKind kind;
  guint64 id, token;
  guint status;
  char *reason;
} Later;

struct _PrlSessions {
  const PrlChatConfig *config;
  PrlSipAgent *sip;
  PrlMsrpStack *msrp;
  PrlSessionsEmitFunc emit;
  gpointer user_data;
  GHashTable *by_chat;  /* guint64* chat -> Session* (owned) */
  GHashTable *by_sip;   /* guint64* sip -> Session* (borrowed) */
  GHashTable *by_msrp;  /* guint64* msrp -> Session* (borrowed) */
  GHashTable *pending;  /* guint64* sip -> Session* (owned): INVITEs before the core's answer */
  GHashTable *tokens;   /* "msrp-session:Message-ID" -> guint64* token */
  GQueue token_order;   /* copies of the keys, oldest first */
  guint64 sdp_version;
  GQueue later;         /* Later* */
  guint later_idle;
};

static void
session_free (Session *s)
{
  g_free (s->offer_path);
  g_free (s->offer_setup);
  g_free (s);
}

static void
emit (PrlSessions *self, PrlEvent *ev)
{
  ev->now_us = g_get_real_time ();
  self->emit (ev, self->user_data);
}

static gboolean
on_later (gpointer data)
{
  PrlSessions *self = data;
  self->later_idle = 0;
  Later *l;
  while ((l = g_queue_pop_head (&self->later)) != NULL) {
    PrlEvent ev = { .kind = l->kind };
    ev.chat.id = l->id;
    ev.chat.token = l->token;
    ev.chat.status = l->status;
    ev.chat.reason = l->reason;
    emit (self, &ev);
    g_free (l->reason);
    g_free (l);
  }
  return G_SOURCE_REMOVE;
}

/* An outcome known while carrying out an action: emitted from the main loop. */
static void
emit_later (PrlSessions *self, PrlEventKind kind, guint64 id, guint64 token, guint status,
            const char *reason)
{
  Later *l = g_new0 (Later, 1);
  l->kind = kind, l->id = id, l->token = token, l->status = status;
  l->reason = g_strdup (reason);
  g_queue_push_tail (&self->later, l);
  if (self->later_idle == 0)
    self->later_idle = g_idle_add (on_later, self);
}

static void
forget (PrlSessions *self, Session *s)
{
  if (s->msrp != 0)
    g_hash_table_remove (self->by_msrp, &s->msrp);
  g_hash_table_remove (self->by_sip, &s->sip);
  g_hash_table_remove (self->by_chat, &s->chat); /* frees s */
}

/* Ends @s on both legs without telling the core. */
static void
hang_up (PrlSessions *self, Session *s)
{
  if (s->msrp != 0)
    prl_msrp_session_close (self->msrp, s->msrp);
  prl_sip_agent_bye (self->sip, s->sip);
  forget (self, s);
}

static char *
token_key (guint64 msrp, const char *message_id)
{
  char num[24]; /* one per SEND and per report: no printf */
  guint i = sizeof num;
  num[--i] = '\0';
  do {
    num[--i] = (char)('0' + msrp % 10);
    msrp /= 10;
  } while (msrp > 0);
  return g_strconcat (num + i, ":", message_id, NULL);
}

static void
token_put (PrlSessions *self, guint64 msrp, const char *message_id, guint64 token)
{
  char *key = token_key (msrp, message_id);
  guint64 *v = g_new (guint64, 1);
  *v = token;
  g_queue_push_tail (&self->token_order, g_strdup (key));
  g_hash_table_replace (self->tokens, key, v);
  /* the order queue also holds keys already settled: bounded at twice the table */
  while (g_hash_table_size (self->tokens) > MAX_TOKENS
         || self->token_order.length > 2 * MAX_TOKENS) {
    char *old = g_queue_pop_head (&self->token_order);
    g_hash_table_remove (self->tokens, old);
    g_free (old);
  }
}

/* ---------------------------------------------------------------- SDP */

static char *
our_sdp (PrlSessions *self, guint64 msrp, const char *setup)
{
  PrlSdpMsrp d = { 0 };
  d.host = (char *)prl_msrp_stack_host (self->msrp);
  d.port = prl_msrp_stack_port (self->msrp);
  d.path = (char *)prl_msrp_session_path (self->msrp, msrp);
  /* what the stack takes (415 otherwise); message/cpim first: RFC 4975 §13 */
  d.accept_types = self->config->msrp.accept_types;
  d.accept_wrapped_types = self->config->msrp.accept_wrapped_types;
  d.setup = (char *)setup;
  d.max_size = self->config->max_size;
  return prl_sdp_msrp_build (&d, ++self->sdp_version);
}

static void
peer_types (Session *s, const PrlSdpMsrp *d)
{
  s->peer_cpim = prl_sdp_msrp_accepts (d->accept_types, "message/cpim");
  s->peer_composing = prl_sdp_msrp_accepts (d->accept_types, PRL_ISCOMPOSING_TYPE)
                      || (s->peer_cpim
                          && prl_sdp_msrp_accepts (d->accept_wrapped_types, PRL_ISCOMPOSING_TYPE));
}

/* ---------------------------------------------------------------- MSRP callbacks */

static void
on_msrp_connected (PrlMsrpStack *stack, guint64 msrp, gpointer data)
{
  PrlSessions *self = data;
  Session *s = g_hash_table_lookup (self->by_msrp, &msrp);
  if (s == NULL || s->connected)
    return;
  s->connected = TRUE;
  if (!s->outgoing)
    return;
  PrlEvent ev = { .kind = PRL_EVENT_CHAT_OPENED };
  ev.chat.id = s->chat;
  ev.chat.peer_cpim = s->peer_cpim;
  ev.chat.peer_composing = s->peer_composing;
  emit (self, &ev);
}

static void
on_msrp_message (PrlMsrpStack *stack, guint64 msrp, const PrlMsrpMessage *m, gpointer data)
{
  PrlSessions *self = data;
  Session *s = g_hash_table_lookup (self->by_msrp, &msrp);
  if (s == NULL || s->chat == 0)
    return;
  PrlEvent ev = { .kind = PRL_EVENT_CHAT_RECV };
  ev.chat.id = s->chat;
  ev.chat.content_type = (char *)m->content_type;
  ev.chat.body = (char *)m->body;
  ev.chat.len = m->len;
  ev.chat.message_id = (char *)m->message_id;
  ev.chat.success_report = m->success_report;
  emit (self, &ev);
}

static void
on_msrp_report (PrlMsrpStack *stack, guint64 msrp, const char *message_id, guint status,
                gboolean report, gpointer data)
{
  PrlSessions *self = data;
  g_autofree char *key = token_key (msrp, message_id);
  guint64 *token = g_hash_table_lookup (self->tokens, key);
  if (token == NULL)
    return;
  PrlEvent ev = { .kind = PRL_EVENT_CHAT_SENT };
  ev.chat.token = *token;
  ev.chat.status = status;
  ev.chat.report = report;
  /* the transaction outcome is final unless a success REPORT may follow */
  if (report || status >= 300)
    g_hash_table_remove (self->tokens, key);
  emit (self, &ev);
}

static void
on_msrp_closed (PrlMsrpStack *stack, guint64 msrp, const char *reason, gpointer data)
{
  PrlSessions *self = data;
  Session *s = g_hash_table_lookup (self->by_msrp, &msrp);
  if (s == NULL)
    return;
  g_message ("chat %" G_GUINT64_FORMAT ": MSRP session ended (%s)", s->chat, reason);
  gboolean opened = !s->outgoing || s->connected;
  guint64 chat = s->chat;
  s->msrp = 0; /* already gone in the stack */
  g_hash_table_remove (self->by_msrp, &msrp);
  hang_up (self, s);
  PrlEvent ev = { .kind = opened ? PRL_EVENT_CHAT_CLOSED : PRL_EVENT_CHAT_FAILED };
  ev.chat.id = chat;
  ev.chat.status = 503;
  ev.chat.reason = (char *)reason;
  emit (self, &ev);
}

static void
on_msrp_relay (PrlMsrpStack *stack, gboolean ok, gpointer data)
{
  if (ok)
    g_message ("MSRP relay: authorised");
  else
    g_warning ("MSRP relay: not authorised or lost; chat sessions wait for it");
}

/* ---------------------------------------------------------------- actions */

static void
do_open (PrlSessions *self, const PrlChatOp *op)
{
  g_autoptr (GError) error = NULL;
  guint64 msrp = prl_msrp_session_new (self->msrp, &error);
  if (msrp == 0) {
    g_warning ("chat %" G_GUINT64_FORMAT ": no MSRP session: %s", op->id, error->message);
    emit_later (self, PRL_EVENT_CHAT_FAILED, op->id, 0, 503, "MSRP unavailable");
    return;
  }
  g_autofree char *sdp = our_sdp (self, msrp, "actpass");
  Session *s = g_new0 (Session, 1);
  s->chat = op->id;
  s->msrp = msrp;
  s->outgoing = TRUE;
  s->sip = prl_sip_agent_invite (self->sip, op->from, op->to, op->call_id, op->subject, sdp);
  g_hash_table_insert (self->by_chat, &s->chat, s);
  g_hash_table_insert (self->by_sip, &s->sip, s);
  g_hash_table_insert (self->by_msrp, &s->msrp, s);
}

static void
do_accept (PrlSessions *self, const PrlChatOp *op)
{
  Session *s = NULL;
  guint64 *key = NULL;
  if (!g_hash_table_steal_extended (self->pending, &op->txn, (gpointer *)&key, (gpointer *)&s)) {
    emit_later (self, PRL_EVENT_CHAT_CLOSED, op->id, 0, 0, "INVITE gone");
    return;
  }
  s->chat = op->id;
  g_autoptr (GError) error = NULL;
  s->msrp = prl_msrp_session_new (self->msrp, &error);
  const char *setup = prl_sdp_msrp_answer_setup (s->offer_setup);
  gboolean active = g_strcmp0 (setup, "active") == 0;
  if (s->msrp == 0
      || !prl_msrp_session_start (self->msrp, s->msrp, s->offer_path, active, &error)) {
    g_warning ("chat %" G_GUINT64_FORMAT ": cannot answer: %s", op->id,
               error != NULL ? error->message : "?");
    if (s->msrp != 0)
      prl_msrp_session_close (self->msrp, s->msrp);
    prl_sip_agent_answer (self->sip, s->sip, 488, "Cannot use the MSRP offer", NULL);
    session_free (s);
    emit_later (self, PRL_EVENT_CHAT_CLOSED, op->id, 0, 0, "MSRP offer unusable");
    return;
  }
  g_autofree char *sdp = our_sdp (self, s->msrp, setup);
  prl_sip_agent_answer (self->sip, s->sip, 200, "OK", sdp);
  g_clear_pointer (&s->offer_path, g_free); /* only needed to answer */
  g_clear_pointer (&s->offer_setup, g_free);
  g_hash_table_insert (self->by_chat, &s->chat, s);
  g_hash_table_insert (self->by_sip, &s->sip, s);
  g_hash_table_insert (self->by_msrp, &s->msrp, s);
}

static void
do_reject (PrlSessions *self, const PrlChatOp *op)
{
  prl_sip_agent_answer (self->sip, op->txn, op->status, op->reason, NULL);
  g_hash_table_remove (self->pending, &op->txn);
}

static void
do_send (PrlSessions *self, const PrlChatOp *op)
{
  Session *s = g_hash_table_lookup (self->by_chat, &op->id);
  g_autoptr (GError) error = NULL;
  g_autofree char *mid = NULL;
  if (s != NULL && s->msrp != 0)
    mid = prl_msrp_session_send (self->msrp, s->msrp, op->content_type, op->body, op->len,
                                 op->success_report, &error);
  if (mid == NULL) {
    emit_later (self, PRL_EVENT_CHAT_SENT, 0, op->token, 503, "no session");
    return;
  }
  token_put (self, s->msrp, mid, op->token);
}

void
prl_sessions_execute (PrlSessions *self, const PrlAction *a)
{
  const PrlChatOp *op = &a->chat;
  switch (a->kind) {
  case PRL_ACTION_CHAT_OPEN:
    do_open (self, op);
    break;
  case PRL_ACTION_CHAT_ACCEPT:
    do_accept (self, op);
    break;
  case PRL_ACTION_CHAT_REJECT:
    do_reject (self, op);
    break;
  case PRL_ACTION_CHAT_SEND:
    do_send (self, op);
    break;
  case PRL_ACTION_CHAT_REPORT: {
    Session *s = g_hash_table_lookup (self->by_chat, &op->id);
    if (s != NULL && s->msrp != 0)
      prl_msrp_session_report (self->msrp, s->msrp, op->message_id, op->len, op->status);
    break;
  }
  case PRL_ACTION_CHAT_CLOSE: {
    Session *s = g_hash_table_lookup (self->by_chat, &op->id);
    if (s != NULL)
      hang_up (self, s);
    break;
  }
  default:
    g_assert_not_reached ();
  }
}

/* ---------------------------------------------------------------- SIP callbacks */

void
prl_sessions_on_invite (PrlSessions *self, const PrlSipMessage *invite)
{
  PrlSdpMsrp offer = { 0 };
  g_autofree char *problem = NULL;
  gboolean is_sdp = invite->content_type != NULL
                    && g_ascii_strncasecmp (invite->content_type, "application/sdp", 15) == 0;
  if (!is_sdp || !prl_sdp_msrp_parse (invite->body, invite->body_len, &offer, &problem)
      || offer.port == 0) {
    g_message ("INVITE %s from %s refused: %s", invite->call_id, invite->from,
               problem != NULL ? problem : is_sdp ? "MSRP m-line rejected" : "no SDP offer");
    prl_sip_agent_answer (self->sip, invite->txn, 488, "Only MSRP chat sessions", NULL);
    prl_sdp_msrp_clear (&offer);
    return;
  }
  Session *s = g_new0 (Session, 1);
  s->sip = invite->txn;
  s->offer_path = g_strdup (offer.path);
  s->offer_setup = g_strdup (offer.setup);
  peer_types (s, &offer);
  prl_sdp_msrp_clear (&offer);
  g_hash_table_insert (self->pending, &s->sip, s);
  PrlEvent ev = { .kind = PRL_EVENT_CHAT_INVITE };
  ev.chat.invite = (PrlSipMessage *)invite;
  ev.chat.peer_cpim = s->peer_cpim;
  ev.chat.peer_composing = s->peer_composing;
  emit (self, &ev);
}

void
prl_sessions_on_invite_result (PrlSessions *self, guint64 sip_session, guint status,
                               const char *reason, const char *sdp, gsize sdp_len)
{
  Session *s = g_hash_table_lookup (self->by_sip, &sip_session);
  if (s == NULL)
    return;
  guint64 chat = s->chat;
  PrlSdpMsrp answer = { 0 };
  g_autofree char *problem = NULL;
  g_autoptr (GError) error = NULL;
  if (status < 300) {
    if (!prl_sdp_msrp_parse (sdp, sdp_len, &answer, &problem) || answer.port == 0) {
      status = 488, reason = problem != NULL ? problem : "MSRP m-line rejected";
    } else {
      peer_types (s, &answer);
      gboolean active = prl_sdp_msrp_offerer_active ("actpass", answer.setup);
      if (!prl_msrp_session_start (self->msrp, s->msrp, answer.path, active, &error))
        status = 488, reason = error->message;
    }
    prl_sdp_msrp_clear (&answer);
    if (status < 300)
      return; /* CHAT_OPENED when MSRP connects */
    hang_up (self, s);
  } else {
    prl_msrp_session_close (self->msrp, s->msrp);
    forget (self, s);
  }
  g_message ("chat %" G_GUINT64_FORMAT ": INVITE failed: %u %s", chat, status,
             reason != NULL ? reason : "");
  PrlEvent ev = { .kind = PRL_EVENT_CHAT_FAILED };
  ev.chat.id = chat;
  ev.chat.status = status;
  ev.chat.reason = (char *)reason;
  emit (self, &ev);
}

void
prl_sessions_on_session_end (PrlSessions *self, guint64 sip_session, const char *reason)
{
  Session *s = g_hash_table_lookup (self->by_sip, &sip_session);
  if (s == NULL) {
    g_hash_table_remove (self->pending, &sip_session);
    return;
  }
  gboolean opened = !s->outgoing || s->connected;
  guint64 chat = s->chat;
  if (s->msrp != 0)
    prl_msrp_session_close (self->msrp, s->msrp);
  forget (self, s);
  PrlEvent ev = { .kind = opened ? PRL_EVENT_CHAT_CLOSED : PRL_EVENT_CHAT_FAILED };
  ev.chat.id = chat;
  ev.chat.status = 487;
  ev.chat.reason = (char *)reason;
  emit (self, &ev);
}

/* ---------------------------------------------------------------- lifetime */

PrlSessions *
prl_sessions_new (const PrlChatConfig *config, PrlSipAgent *sip, PrlSessionsEmitFunc emit_func,
                  gpointer user_data, GError **error)
{
  static const PrlMsrpCallbacks cb = { .on_connected = on_msrp_connected,
                                       .on_message = on_msrp_message,
                                       .on_report = on_msrp_report,
                                       .on_closed = on_msrp_closed,
                                       .on_relay = on_msrp_relay };
  PrlSessions *self = g_new0 (PrlSessions, 1);
  self->config = config;
  self->sip = sip;
  self->emit = emit_func;
  self->user_data = user_data;
  self->msrp = prl_msrp_stack_new (&config->msrp, &cb, self, error);
  if (self->msrp == NULL) {
    g_free (self);
    return NULL;
  }
  self->by_chat
      = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, (GDestroyNotify)session_free);
  self->by_sip = g_hash_table_new (g_int64_hash, g_int64_equal);
  self->by_msrp = g_hash_table_new (g_int64_hash, g_int64_equal);
  self->pending
      = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, (GDestroyNotify)session_free);
  self->tokens = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_queue_init (&self->token_order);
  g_queue_init (&self->later);
  g_message ("MSRP listening on %s:%u%s%s", prl_msrp_stack_host (self->msrp),
             prl_msrp_stack_port (self->msrp), config->msrp.relay != NULL ? ", relay " : "",
             config->msrp.relay != NULL ? config->msrp.relay : "");
  return self;
}

static void
later_free (Later *l)
{
  g_free (l->reason);
  g_free (l);
}

void
prl_sessions_free (PrlSessions *self)
{
  if (self == NULL)
    return;
  g_clear_handle_id (&self->later_idle, g_source_remove);
  g_queue_clear_full (&self->later, (GDestroyNotify)later_free);
  g_clear_pointer (&self->msrp, prl_msrp_stack_free);
  g_hash_table_unref (self->by_msrp);
  g_hash_table_unref (self->by_sip);
  g_hash_table_unref (self->by_chat);
  g_hash_table_unref (self->pending);
  g_queue_clear_full (&self->token_order, g_free);
  g_hash_table_unref (self->tokens);
  g_free (self);
}

guint
prl_sessions_count (PrlSessions *self)
{
  return self != NULL ? g_hash_table_size (self->by_chat) : 0;
}

const PrlMsrpStats *
prl_sessions_msrp_stats (PrlSessions *self)
{
  return self != NULL ? prl_msrp_stack_stats (self->msrp) : NULL;
}
