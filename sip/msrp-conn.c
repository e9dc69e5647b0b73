/* sip/msrp-conn.c - MSRP connections: non-blocking sockets, bounded buffers, chunk scheduling.
 *
 * Reading: a GSocket source on the default context reads up to 64 KiB per dispatch into a
 * stack buffer and feeds the connection's parser (bounded: msrp-parser.h); a framing fault
 * drops the connection. Writing: frames are serialised into `out` and written without
 * blocking; a G_IO_OUT source waits when the kernel is full. Chunks of queued messages are
 * built lazily, only while less than PRL_MSRP_OUT_LOW_WATER bytes wait, taking one chunk per
 * message in turn (round robin over every message of every session on the connection), so a
 * long message never holds back a short one and memory stays bounded by the messages
 * themselves. Responses and REPORTs are written at once, ahead of chunks not yet built.
 * A write error never frees the connection under its caller: it is failed from an idle.
 */
#include "sip/msrp-internal.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#define READ_SIZE 16384
#define READS_PER_DISPATCH 4

typedef struct {
  PrlMsrpAnchor *anchor;
  guint64 conn;
} ConnectOp;

PrlMsrpConn *
prl_msrp_conn_new (PrlMsrpStack *stack)
{
  PrlMsrpConn *c = g_new0 (PrlMsrpConn, 1);
  c->stack = stack;
  c->id = ++stack->next_conn;
  c->parser = prl_msrp_parser_new (PRL_MSRP_MAX_HEADER, stack->config.max_buffer);
  c->out = g_byte_array_new ();
  c->sessions = g_hash_table_new (g_int64_hash, g_int64_equal);
  g_queue_init (&c->rr);
  g_hash_table_insert (stack->conns, &c->id, c);
  return c;
}

void
prl_msrp_conn_free (gpointer p)
{
  PrlMsrpConn *c = p;
  if (c->in_source != NULL) {
    g_source_destroy (c->in_source);
    g_source_unref (c->in_source);
  }
  if (c->out_source != NULL) {
    g_source_destroy (c->out_source);
    g_source_unref (c->out_source);
  }
  if (c->cancel != NULL) {
    g_cancellable_cancel (c->cancel);
    g_object_unref (c->cancel);
  }
  if (c->timer != 0)
    g_source_remove (c->timer);
  if (c->doom != 0)
    g_source_remove (c->doom);
  if (c->pump_idle != 0)
    g_source_remove (c->pump_idle);
  if (c->socket != NULL)
    g_socket_close (c->socket, NULL);
  g_clear_object (&c->gconn);
  prl_msrp_parser_free (c->parser);
  g_byte_array_unref (c->out);
  g_hash_table_unref (c->sessions);
  g_queue_clear (&c->rr);
  g_free (c->key);
  g_free (c->doom_reason);
  g_free (c);
}

PrlMsrpConn *
prl_msrp_conn_find (PrlMsrpStack *stack, const char *key)
{
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, stack->conns);
  while (g_hash_table_iter_next (&it, NULL, &v)) {
    PrlMsrpConn *c = v;
    if (!c->is_relay && c->key != NULL && c->doom == 0 && strcmp (c->key, key) == 0)
      return c;
  }
  return NULL;
}

void
prl_msrp_conn_close (PrlMsrpConn *conn)
{
  PrlMsrpStack *stack = conn->stack;
  g_assert (g_hash_table_size (conn->sessions) == 0);
  prl_msrp_txns_drop_conn (stack, conn->id);
  g_hash_table_remove (stack->conns, &conn->id);
}

void
prl_msrp_conn_fail (PrlMsrpConn *conn, const char *reason)
{
  PrlMsrpStack *stack = conn->stack;
  g_debug ("MSRP: connection %" G_GUINT64_FORMAT " lost: %s", conn->id, reason);
  g_queue_clear (&conn->rr);
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (guint64));
  GHashTableIter it;
  gpointer k;
  g_hash_table_iter_init (&it, conn->sessions);
  while (g_hash_table_iter_next (&it, &k, NULL))
    g_array_append_val (ids, *(guint64 *)k);
  g_hash_table_remove_all (conn->sessions);
  prl_msrp_txns_drop_conn (stack, conn->id);
  for (guint i = 0; i < ids->len; i++) {
    PrlMsrpSession *s = prl_msrp_session_get (stack, g_array_index (ids, guint64, i));
    if (s == NULL)
      continue;
    s->conn = NULL;
    prl_msrp_session_end (stack, s, 503, reason);
  }
  if (conn == stack->relay_conn)
    prl_msrp_relay_conn_lost (stack);
  g_hash_table_remove (stack->conns, &conn->id);
}

static gboolean
on_doom (gpointer data)
{
  PrlMsrpConn *c = data;
  c->doom = 0;
  g_autofree char *reason = g_steal_pointer (&c->doom_reason);
  prl_msrp_conn_fail (c, reason);
  return G_SOURCE_REMOVE;
}

/* Fails the connection later, from the main loop (callers still hold it). */
static void
doom (PrlMsrpConn *c, const char *reason)
{
  if (c->doom != 0)
    return;
  c->doom_reason = g_strdup (reason);
  c->doom = g_idle_add (on_doom, c);
  if (c->in_source != NULL) { /* read nothing more */
    g_source_destroy (c->in_source);
    g_clear_pointer (&c->in_source, g_source_unref);
  }
}

static void pump (PrlMsrpConn *c);
static void schedule_pump (PrlMsrpConn *c);

static gboolean
on_writable (GSocket *socket, GIOCondition cond, gpointer data)
{
  PrlMsrpConn *c = data;
  g_source_destroy (c->out_source);
  g_clear_pointer (&c->out_source, g_source_unref);
  pump (c);
  return G_SOURCE_REMOVE;
}

/* Writes what it can without blocking; arms G_IO_OUT for the rest. */
static void
flush (PrlMsrpConn *c)
{
  if (c->socket == NULL || c->doom != 0)
    return;
  while (c->out_off < c->out->len) {
    g_autoptr (GError) error = NULL;
    gssize n = g_socket_send (c->socket, (const char *)c->out->data + c->out_off,
                              c->out->len - c->out_off, NULL, &error);
    if (n < 0) {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
        if (c->out_source == NULL) {
          c->out_source = g_socket_create_source (c->socket, G_IO_OUT, NULL);
          g_source_set_callback (c->out_source, G_SOURCE_FUNC (on_writable), c, NULL);
          g_source_attach (c->out_source, NULL);
        }
        break;
      }
      doom (c, error->message);
      return;
    }
    c->out_off += (gsize)n;
  }
  if (c->out_off == c->out->len) {
    g_byte_array_set_size (c->out, 0);
    c->out_off = 0;
  } else if (c->out_off > 65536 && c->out_off > c->out->len / 2) {
    g_byte_array_remove_range (c->out, 0, (guint)c->out_off);
    c->out_off = 0;
  }
  /* a peer that does not read while we must answer it: bounded, then dropped */
  if (c->out->len - c->out_off > 4 * c->stack->config.max_buffer + PRL_MSRP_OUT_LOW_WATER)
    doom (c, "peer does not read");
}

static gboolean
on_pump_idle (gpointer data)
{
  PrlMsrpConn *c = data;
  c->pump_idle = 0;
  pump (c);
  return G_SOURCE_REMOVE;
}

/* Chunks are built from the main loop, never inside the call that queued a message, so that
 * every message queued meanwhile takes its turn from the first chunk on. */
static void
schedule_pump (PrlMsrpConn *c)
{
  if (c->pump_idle == 0 && !c->connecting && c->doom == 0)
    c->pump_idle = g_idle_add (on_pump_idle, c);
}

/* Builds chunks, one per queued message in turn, up to PRL_MSRP_OUT_LOW_WATER bytes per
 * dispatch; then yields (to reads, responses, other connections) and goes on from an idle,
 * or from G_IO_OUT when the kernel did not take what waits. */
static void
pump (PrlMsrpConn *c)
{
  gsize budget = PRL_MSRP_OUT_LOW_WATER;
  c->corked = TRUE; /* one send() for the chunks built here, not one each */
  while (c->doom == 0 && budget > 0 && c->out->len - c->out_off < PRL_MSRP_OUT_LOW_WATER) {
    PrlMsrpOut *o = g_queue_pop_head (&c->rr);
    if (o == NULL)
      break;
    o->queued = FALSE;
    gsize before = c->out->len;
    prl_msrp_out_next_chunk (c->stack, c, o);
    budget -= MIN (budget, MAX (c->out->len - before, 1));
    if (!o->sent_last) {
      o->queued = TRUE;
      g_queue_push_tail (&c->rr, o);
    }
  }
  c->corked = FALSE;
  flush (c);
  if (!g_queue_is_empty (&c->rr) && c->out_source == NULL)
    schedule_pump (c);
}

void
prl_msrp_conn_write_frame (PrlMsrpConn *conn, const PrlMsrpFrame *frame)
{
  prl_msrp_frame_write (frame, conn->out);
  prl_msrp_conn_written (conn);
}

void
prl_msrp_conn_written (PrlMsrpConn *conn)
{
  if (!conn->corked)
    flush (conn);
}

void
prl_msrp_conn_queue_out (PrlMsrpConn *conn, PrlMsrpOut *o)
{
  if (o->queued || o->sent_last)
    return;
  o->queued = TRUE;
  g_queue_push_tail (&conn->rr, o);
  schedule_pump (conn);
}

void
prl_msrp_conn_unqueue_out (PrlMsrpConn *conn, PrlMsrpOut *o)
{
  if (o->queued)
    g_queue_remove (&conn->rr, o);
  o->queued = FALSE;
}

static gboolean
on_readable (GSocket *socket, GIOCondition cond, gpointer data)
{
  PrlMsrpConn *c = data;
  PrlMsrpStack *stack = c->stack;
  guint64 id = c->id;
  char buf[READ_SIZE];
  for (int round = 0; round < READS_PER_DISPATCH; round++) {
    g_autoptr (GError) error = NULL;
    gssize n = g_socket_receive (socket, buf, sizeof buf, NULL, &error);
    if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
      return G_SOURCE_CONTINUE;
    if (n <= 0) {
      prl_msrp_conn_fail (c, n == 0 ? "connection closed by peer" : error->message);
      return G_SOURCE_REMOVE;
    }
    g_autoptr (GPtrArray) frames = g_ptr_array_new_with_free_func (
        (GDestroyNotify)prl_msrp_frame_free);
    gboolean ok = prl_msrp_parser_feed (c->parser, buf, (gsize)n, frames, &error);
    for (guint i = 0; i < frames->len; i++) {
      prl_msrp_on_frame (stack, c, g_ptr_array_index (frames, i));
      if (g_hash_table_lookup (stack->conns, &id) != c || c->doom != 0)
        return G_SOURCE_REMOVE; /* closed while handling the frame */
    }
    if (!ok) {
      stack->stats.rx_malformed++;
      prl_msrp_conn_fail (c, error->message);
      return G_SOURCE_REMOVE;
    }
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_idle_timeout (gpointer data)
{
  PrlMsrpConn *c = data;
  c->timer = 0;
  if (c->connecting)
    prl_msrp_conn_fail (c, "connect timeout");
  else if (g_hash_table_size (c->sessions) == 0 && !c->is_relay)
    prl_msrp_conn_close (c); /* accepted, and no session was ever named on it */
  return G_SOURCE_REMOVE;
}

void
prl_msrp_conn_attach (PrlMsrpConn *conn, GSocketConnection *gconn)
{
  conn->gconn = g_object_ref (gconn);
  conn->socket = g_socket_connection_get_socket (gconn);
  g_socket_set_blocking (conn->socket, FALSE);
  /* A chat message is one small frame (or a 200): Nagle would hold it while the previous
   * one is unacknowledged, up to the peer's delayed-ACK time (40 ms on Linux). */
  g_autoptr (GError) error = NULL;
  if (!g_socket_set_option (conn->socket, IPPROTO_TCP, TCP_NODELAY, 1, &error))
    g_debug ("MSRP: TCP_NODELAY not set: %s", error->message);
  conn->in_source = g_socket_create_source (conn->socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  g_source_set_callback (conn->in_source, G_SOURCE_FUNC (on_readable), conn, NULL);
  g_source_attach (conn->in_source, NULL);
  if (conn->key == NULL && conn->timer == 0) /* passive: the first frame must come in time */
    conn->timer = g_timeout_add (conn->stack->config.connect_timeout_ms, on_idle_timeout, conn);
}

static void
on_connected (GObject *source, GAsyncResult *res, gpointer data)
{
  ConnectOp *op = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketConnection) gconn
      = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source), res, &error);
  PrlMsrpStack *stack = op->anchor->stack;
  PrlMsrpConn *c = stack != NULL ? g_hash_table_lookup (stack->conns, &op->conn) : NULL;
  prl_msrp_anchor_unref (op->anchor);
  g_free (op);
  if (c == NULL)
    return; /* the stack or the connection went away meanwhile */
  if (gconn == NULL) {
    prl_msrp_conn_fail (c, error->message);
    return;
  }
  c->connecting = FALSE;
  g_clear_object (&c->cancel);
  if (c->timer != 0) {
    g_source_remove (c->timer);
    c->timer = 0;
  }
  prl_msrp_conn_attach (c, gconn);
  flush (c);
  schedule_pump (c);
  if (c->is_relay)
    prl_msrp_relay_conn_up (stack);
  else
    prl_msrp_sessions_conn_up (stack, c);
}

PrlMsrpConn *
prl_msrp_conn_open (PrlMsrpStack *stack, const char *host, guint port, gboolean is_relay)
{
  PrlMsrpConn *c = prl_msrp_conn_new (stack);
  gboolean v6 = strchr (host, ':') != NULL;
  c->key = g_strdup_printf ("%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "", port);
  c->is_relay = is_relay;
  c->connecting = TRUE;
  c->cancel = g_cancellable_new ();
  c->timer = g_timeout_add (stack->config.connect_timeout_ms, on_idle_timeout, c);
  ConnectOp *op = g_new0 (ConnectOp, 1);
  op->anchor = prl_msrp_anchor_ref (stack->anchor);
  op->conn = c->id;
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_socket_client_connect_to_host_async (client, c->key, (guint16)port, c->cancel, on_connected,
                                         op);
  return c;
}
