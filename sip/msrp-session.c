/* sip/msrp-session.c - what the stack does with frames: answers, binding, reassembly,
 * transactions and REPORTs (RFC 4975 §5.4, §7.1-§7.3, §7.7).
 *
 * Incoming requests are matched to a session by the last URI of their To-Path (our session
 * URI: §5.4, compared as §6.1 says); an unbound session is bound to the connection of its
 * first frame, a session bound elsewhere answers 506. Transaction responses follow the
 * Failure-Report of the request: "yes" (default) every outcome, "partial" errors only, "no"
 * nothing. REPORTs are never answered. Outgoing chunks are built here, one at a time, when
 * msrp-conn.c's round robin asks for the next one.
 */
#include "sip/msrp-internal.h"

#include <string.h>

void
prl_msrp_out_free (gpointer p)
{
  PrlMsrpOut *o = p;
  g_free (o->message_id);
  g_free (o->content_type);
  g_bytes_unref (o->body);
  g_free (o);
}

void
prl_msrp_txn_free (gpointer p)
{
  PrlMsrpTxn *t = p;
  if (t->due.data != NULL)
    g_queue_unlink (&t->stack->txn_due, &t->due);
  g_free (t->tid);
  g_free (t->message_id);
  g_free (t);
}

/* A message failed (>= 300): reported once, then forgotten. */
static void
out_fail (PrlMsrpStack *stack, PrlMsrpSession *s, PrlMsrpOut *o, guint status)
{
  if (s->conn != NULL)
    prl_msrp_conn_unqueue_out (s->conn, o);
  g_queue_remove (&s->waiting, o);
  prl_msrp_notice_report (stack, s->id, o->message_id, status, FALSE);
  g_hash_table_remove (prl_msrp_session_outs (s), o->message_id);
}

/* Transaction timeouts (§7.3). All transactions share one timeout, so their deadlines come
 * in send order: a FIFO behind one GSource whose ready time is the head's. A GLib timeout per
 * SEND made every loop iteration walk hundreds of sources during a windowed push. */
static void
arm_txn_timer (PrlMsrpStack *stack)
{
  PrlMsrpTxn *head = g_queue_peek_head (&stack->txn_due);
  g_source_set_ready_time (stack->txn_timer, head != NULL ? head->due_us : -1);
}

static void
txn_timeout (PrlMsrpStack *stack, PrlMsrpTxn *t)
{
  PrlMsrpSession *s = prl_msrp_session_get (stack, t->session);
  g_autofree char *mid = g_strdup (t->message_id);
  g_hash_table_remove (stack->txns, t->tid);
  PrlMsrpOut *o = s != NULL ? prl_msrp_session_out (s, mid) : NULL;
  if (o != NULL)
    out_fail (stack, s, o, 408);
}

static gboolean
on_txn_timer (gpointer data)
{
  PrlMsrpStack *stack = data;
  gint64 now = g_get_monotonic_time ();
  PrlMsrpTxn *t;
  while ((t = g_queue_peek_head (&stack->txn_due)) != NULL && t->due_us <= now)
    txn_timeout (stack, t); /* frees t, which unlinks it */
  arm_txn_timer (stack);
  return G_SOURCE_CONTINUE;
}

static gboolean
txn_timer_dispatch (GSource *source, GSourceFunc callback, gpointer data)
{
  return callback (data);
}

static GSourceFuncs txn_timer_funcs = { .dispatch = txn_timer_dispatch };

void
prl_msrp_txn_timer_init (PrlMsrpStack *stack)
{
  g_queue_init (&stack->txn_due);
  stack->txn_timer = g_source_new (&txn_timer_funcs, sizeof (GSource)); /* by ready time only */
  g_source_set_callback (stack->txn_timer, on_txn_timer, stack, NULL);
  g_source_attach (stack->txn_timer, NULL);
}

void
prl_msrp_txn_timer_clear (PrlMsrpStack *stack)
{
  if (stack->txn_timer == NULL)
    return;
  g_source_destroy (stack->txn_timer);
  g_clear_pointer (&stack->txn_timer, g_source_unref);
}

/* A new transaction for @tid (transfer full), timed from now. */
static void
txn_add (PrlMsrpStack *stack, PrlMsrpConn *conn, char *tid, guint64 session,
         const char *message_id)
{
  PrlMsrpTxn *t = g_new0 (PrlMsrpTxn, 1);
  t->tid = tid;
  t->session = session;
  t->message_id = g_strdup (message_id);
  t->conn = conn->id;
  t->stack = stack;
  t->due_us = g_get_monotonic_time () + (gint64)stack->config.transaction_timeout_ms * 1000;
  t->due.data = t;
  gboolean was_empty = g_queue_is_empty (&stack->txn_due);
  g_queue_push_tail_link (&stack->txn_due, &t->due);
  if (was_empty)
    arm_txn_timer (stack);
  g_hash_table_replace (stack->txns, t->tid, t);
}

void
prl_msrp_txn_send (PrlMsrpStack *stack, PrlMsrpConn *conn, PrlMsrpFrame *frame, guint64 session,
                   const char *message_id)
{
  txn_add (stack, conn, g_strdup (frame->tid), session, message_id);
  prl_msrp_conn_write_frame (conn, frame);
}

void
prl_msrp_txns_drop_conn (PrlMsrpStack *stack, guint64 conn)
{
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, stack->txns);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (((PrlMsrpTxn *)v)->conn == conn)
      g_hash_table_iter_remove (&it);
}

/* A fresh tid whose end-line does not occur in @body (RFC 4975 §7.1). */
static char *
new_tid (PrlMsrpStack *stack, const guint8 *body, gsize len)
{
  for (;;) {
    char *tid = prl_msrp_random_ident (PRL_MSRP_TID_LEN);
    if (!g_hash_table_contains (stack->txns, tid) && !prl_msrp_body_has_end_line (body, len, tid))
      return tid;
    g_free (tid);
  }
}

void
prl_msrp_out_next_chunk (PrlMsrpStack *stack, PrlMsrpConn *conn, PrlMsrpOut *o)
{
  PrlMsrpSession *s = prl_msrp_session_get (stack, o->session);
  g_assert (s != NULL);
  gsize total = g_bytes_get_size (o->body);
  const guint8 *data = g_bytes_get_data (o->body, NULL);
  gsize n = MIN (stack->config.chunk_size, total - o->offset);
  char *tid = new_tid (stack, data + o->offset, n);
  /* a chunk over 2048 octets must be interruptible: its range-end is "*" (§7.1) */
  PrlMsrpSendChunk c = { .tid = tid,
                         .to_path = s->to_path,
                         .from_path = s->uri,
                         .message_id = o->message_id,
                         .content_type = o->content_type,
                         .first = o->offset + 1,
                         .last = o->offset + n,
                         .total = total,
                         .open_end = n > 2048,
                         .success_report = o->success_report,
                         .body = data + o->offset,
                         .len = n };
  o->offset += n;
  c.flag = o->offset == total ? '$' : '+';
  o->sent_last = c.flag == '$';
  o->in_flight++;
  stack->stats.tx_frames++;
  txn_add (stack, conn, tid, s->id, o->message_id); /* takes tid */
  prl_msrp_frame_write_send (&c, conn->out);
  prl_msrp_conn_written (conn);
}

/* A bodiless SEND: the active side's first frame when nothing is queued (§5.4). */
static void
send_empty (PrlMsrpStack *stack, PrlMsrpSession *s)
{
  g_autofree char *tid = new_tid (stack, NULL, 0);
  g_autoptr (PrlMsrpFrame) f = prl_msrp_frame_new_request (tid, "SEND");
  g_autofree char *mid = prl_msrp_random_ident (PRL_MSRP_TID_LEN);
  prl_msrp_frame_add_header (f, "To-Path", s->to_path);
  prl_msrp_frame_add_header (f, "From-Path", s->uri);
  prl_msrp_frame_add_header (f, "Message-ID", mid);
  prl_msrp_frame_add_header (f, "Byte-Range", "1-0/0");
  stack->stats.tx_frames++;
  prl_msrp_txn_send (stack, s->conn, f, s->id, NULL);
}

void
prl_msrp_session_up (PrlMsrpStack *stack, PrlMsrpSession *s, gboolean send_first)
{
  s->state = SESSION_UP;
  if (s->timer != 0) {
    g_source_remove (s->timer);
    s->timer = 0;
  }
  if (send_first && g_queue_is_empty (&s->waiting))
    send_empty (stack, s);
  PrlMsrpOut *o;
  while ((o = g_queue_pop_head (&s->waiting)) != NULL)
    prl_msrp_conn_queue_out (s->conn, o);
  prl_msrp_notice_connected (stack, s->id);
}

void
prl_msrp_sessions_conn_up (PrlMsrpStack *stack, PrlMsrpConn *conn)
{
  GHashTableIter it;
  gpointer k;
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_hash_table_iter_init (&it, conn->sessions);
  while (g_hash_table_iter_next (&it, &k, NULL))
    g_array_append_val (ids, *(guint64 *)k);
  for (guint i = 0; i < ids->len; i++) {
    PrlMsrpSession *s = prl_msrp_session_get (stack, g_array_index (ids, guint64, i));
    if (s != NULL && s->state == SESSION_CONNECTING)
      prl_msrp_session_up (stack, s, TRUE);
  }
}

/* Transaction response to @req, on @conn (§7.2): To-Path the previous hop, no body. */
static void
respond (PrlMsrpConn *conn, const PrlMsrpFrame *req, guint status, const char *our_uri)
{
  const char *fr = prl_msrp_frame_get (req, "Failure-Report");
  if (strcmp (req->method, "REPORT") == 0 || g_strcmp0 (fr, "no") == 0
      || (status == 200 && g_strcmp0 (fr, "partial") == 0))
    return;
  g_autofree char *prev = prl_msrp_path_first (prl_msrp_frame_get (req, "From-Path"));
  if (prev == NULL)
    return; /* nowhere to address it */
  g_autoptr (PrlMsrpFrame) f
      = prl_msrp_frame_new_response (req->tid, status, prl_msrp_status_phrase (status));
  prl_msrp_frame_add_header (f, "To-Path", prev);
  prl_msrp_frame_add_header (f, "From-Path", our_uri);
  prl_msrp_conn_write_frame (conn, f);
  conn->stack->stats.tx_frames++;
}

/* A message/cpim SEND whose wrapped type we do not take (a=accept-wrapped-types) is refused
 * 415 like an unoffered outer type, so the sender learns it was not delivered. Decided on the
 * first chunk when the entity's headers are in it (@complete FALSE: PARTIAL waits), else on
 * the complete message (@complete TRUE: headers that never end are refused too). */
static gboolean
wrapped_refused (PrlMsrpStack *stack, const char *content_type, const guint8 *data, gsize len,
                 gboolean complete)
{
  if (stack->config.accept_wrapped_types == NULL || !prl_msrp_type_is_cpim (content_type))
    return FALSE;
  g_autofree char *inner = NULL;
  switch (prl_msrp_cpim_inner_type (data, len, &inner)) {
  case PRL_MSRP_CPIM_FOUND:
    return !prl_msrp_type_accepted (stack->config.accept_wrapped_types, inner);
  case PRL_MSRP_CPIM_NONE:
    return TRUE;
  case PRL_MSRP_CPIM_PARTIAL:
  default:
    return complete;
  }
}

/* TRUE when @f carries the first bytes of its message (Byte-Range 1-..., or none). */
static gboolean
first_chunk (const PrlMsrpFrame *f)
{
  gint64 start = 1, end, total;
  const char *range = prl_msrp_frame_get (f, "Byte-Range");
  return range == NULL || (prl_msrp_byte_range_parse (range, &start, &end, &total) && start == 1);
}

static void
on_send (PrlMsrpStack *stack, PrlMsrpConn *conn, PrlMsrpSession *s, PrlMsrpFrame *f)
{
  const char *from = prl_msrp_frame_get (f, "From-Path");
  if (g_strcmp0 (from, s->peer_from != NULL ? s->peer_from : s->to_path) != 0) {
    g_free (s->peer_from);
    s->peer_from = g_strcmp0 (from, s->to_path) != 0 ? g_strdup (from) : NULL;
  }
  const char *mid = prl_msrp_frame_get (f, "Message-ID");
  const char *ct = prl_msrp_frame_get (f, "Content-Type");
  if (f->body_dropped > 0) {
    stack->stats.rx_too_large++;
    respond (conn, f, 413, s->uri);
    return;
  }
  if (f->body == NULL) { /* bodiless: binding or keep-alive only */
    respond (conn, f, 200, s->uri);
    return;
  }
  if (!prl_msrp_type_accepted (stack->config.accept_types, ct)
      || (first_chunk (f) && wrapped_refused (stack, ct, f->body->data, f->body->len, FALSE))) {
    stack->stats.rx_refused_type++;
    respond (conn, f, 415, s->uri);
    return;
  }
  g_autoptr (GByteArray) out = NULL;
  g_autofree char *type = NULL;
  switch (prl_msrp_reasm_add (prl_msrp_session_reasm (stack, s), mid,
                              prl_msrp_frame_get (f, "Byte-Range"), f->flag, ct, &f->body, &out,
                              &type)) {
  case PRL_MSRP_REASM_PENDING:
  case PRL_MSRP_REASM_ABORTED:
    respond (conn, f, 200, s->uri);
    break;
  case PRL_MSRP_REASM_COMPLETE:
    if (wrapped_refused (stack, type, out->data, out->len, TRUE)) {
      stack->stats.rx_refused_type++;
      respond (conn, f, 415, s->uri);
      break;
    }
    respond (conn, f, 200, s->uri);
    stack->stats.rx_messages++;
    prl_msrp_notice_message (stack, s->id, mid, type, g_steal_pointer (&out),
                             g_strcmp0 (prl_msrp_frame_get (f, "Success-Report"), "yes") == 0);
    break;
  case PRL_MSRP_REASM_TOO_LARGE:
    stack->stats.rx_too_large++;
    respond (conn, f, 413, s->uri);
    break;
  case PRL_MSRP_REASM_INVALID:
    stack->stats.rx_malformed++;
    respond (conn, f, 400, s->uri);
    break;
  }
}

static void
on_report (PrlMsrpStack *stack, PrlMsrpSession *s, PrlMsrpFrame *f)
{
  const char *mid = prl_msrp_frame_get (f, "Message-ID");
  guint status = prl_msrp_status_parse (prl_msrp_frame_get (f, "Status"));
  PrlMsrpOut *o = prl_msrp_session_out (s, mid);
  if (o != NULL && status >= 300) { /* a failure REPORT while chunks are still going out */
    out_fail (stack, s, o, status);
    return;
  }
  if (s->reports != NULL && mid != NULL && g_hash_table_remove (s->reports, mid))
    prl_msrp_notice_report (stack, s->id, mid, status, TRUE);
  /* REPORTs for unknown Message-IDs are ignored (§7.1.2) */
}

static void
on_response (PrlMsrpStack *stack, PrlMsrpConn *conn, PrlMsrpFrame *f)
{
  if (prl_msrp_relay_on_response (stack, f))
    return;
  PrlMsrpTxn *t = g_hash_table_lookup (stack->txns, f->tid);
  if (t == NULL || t->conn != conn->id)
    return; /* late or unknown: nothing to do */
  guint64 sid = t->session;
  g_autofree char *mid = g_strdup (t->message_id);
  g_hash_table_remove (stack->txns, f->tid);
  PrlMsrpSession *s = prl_msrp_session_get (stack, sid);
  if (s == NULL)
    return;
  if (mid == NULL) { /* our bodiless first SEND */
    if (f->status == 481)
      prl_msrp_session_end (stack, s, 503, "peer does not know the session (481)");
    return;
  }
  PrlMsrpOut *o = prl_msrp_session_out (s, mid);
  if (o == NULL)
    return;
  if (f->status >= 300) {
    out_fail (stack, s, o, f->status);
    return;
  }
  o->in_flight--;
  if (o->in_flight == 0 && o->sent_last) {
    prl_msrp_notice_report (stack, s->id, mid, 200, FALSE);
    if (o->success_report)
      g_hash_table_add (prl_msrp_session_reports (s), g_strdup (mid));
    g_hash_table_remove (s->outs, mid);
  }
}

/* The session named by the last URI of To-Path, compared as §6.1 says. */
static PrlMsrpSession *
match_session (PrlMsrpStack *stack, const PrlMsrpFrame *f, char **our_uri)
{
  g_autofree char *last = prl_msrp_path_last (prl_msrp_frame_get (f, "To-Path"));
  g_autoptr (PrlMsrpUri) u = last != NULL ? prl_msrp_uri_parse (last, NULL) : NULL;
  *our_uri = g_steal_pointer (&last);
  if (u == NULL || u->session_id == NULL)
    return NULL;
  PrlMsrpSession *s = g_hash_table_lookup (stack->by_sid, u->session_id);
  if (s == NULL)
    return NULL;
  g_autoptr (PrlMsrpUri) ours = prl_msrp_uri_parse (s->uri, NULL);
  return prl_msrp_uri_equal (u, ours) ? s : NULL;
}

void
prl_msrp_on_frame (PrlMsrpStack *stack, PrlMsrpConn *conn, PrlMsrpFrame *f)
{
  stack->stats.rx_frames++;
  const char *reason = NULL;
  guint bad = prl_msrp_frame_check (f, &reason);
  if (!f->is_request) {
    if (bad == 0)
      on_response (stack, conn, f);
    return;
  }
  g_autofree char *our_uri = NULL;
  PrlMsrpSession *s = match_session (stack, f, &our_uri);
  const char *from = s != NULL ? s->uri : our_uri != NULL ? our_uri : "msrp://invalid;tcp";
  if (bad != 0) {
    g_debug ("MSRP: malformed %s (%s)", f->method, reason);
    stack->stats.rx_malformed++;
    respond (conn, f, 400, from);
    return;
  }
  gboolean send = strcmp (f->method, "SEND") == 0;
  if (!send && strcmp (f->method, "REPORT") != 0) {
    respond (conn, f, 501, from);
    return;
  }
  if (s == NULL) {
    stack->stats.rx_unknown_session++;
    respond (conn, f, 481, from);
    return;
  }
  if (s->conn == NULL && !s->active) {
    /* the first frame binds a passive session to this connection (§5.4) */
    s->conn = conn;
    g_hash_table_add (conn->sessions, &s->id);
    if (conn->timer != 0 && !conn->connecting) {
      g_source_remove (conn->timer);
      conn->timer = 0;
    }
    prl_msrp_session_up (stack, s, FALSE);
  } else if (s->conn != conn) {
    respond (conn, f, 506, from);
    return;
  }
  if (send)
    on_send (stack, conn, s, f);
  else
    on_report (stack, s, f);
}
