/* sip/msrp-stack.c - PrlMsrpStack: configuration, listener, public session API, notices.
 *
 * Runs on the default GMainContext. Every callback of sip/msrp.h goes through the notice
 * queue and is called from an idle source, so no callback ever runs inside a prl_msrp_* call.
 * A stack freed from inside a callback is freed when the dispatch loop returns.
 * Frame handling is in msrp-session.c, sockets in msrp-conn.c, the relay client in
 * msrp-relay.c (see msrp-internal.h for who owns what).
 */
#include "sip/msrp-internal.h"

#include <string.h>

typedef enum { N_CONNECTED, N_MESSAGE, N_REPORT, N_CLOSED, N_RELAY } NoticeKind;

typedef struct {
  NoticeKind kind;
  guint64 session;
  char *message_id;
  char *text; /* content type, or reason */
  GByteArray *body;
  guint status;
  gboolean flag; /* report / success_report / relay ok */
} Notice;

static void
notice_free (gpointer p)
{
  Notice *n = p;
  g_free (n->message_id);
  g_free (n->text);
  if (n->body != NULL)
    g_byte_array_unref (n->body);
  g_free (n);
}

void
prl_msrp_config_init (PrlMsrpConfig *c)
{
  memset (c, 0, sizeof *c);
  c->bind_address = g_strdup ("127.0.0.1");
  c->max_message_size = 65536;
  c->chunk_size = 2048;
  c->max_buffer = 131072;
  c->max_connections = 20000;
  c->transaction_timeout_ms = 30000;
  c->connect_timeout_ms = 30000;
}

void
prl_msrp_config_clear (PrlMsrpConfig *c)
{
  g_clear_pointer (&c->bind_address, g_free);
  g_clear_pointer (&c->host, g_free);
  g_clear_pointer (&c->accept_types, g_strfreev);
  g_clear_pointer (&c->accept_wrapped_types, g_strfreev);
  g_clear_pointer (&c->relay, g_free);
}

PrlMsrpAnchor *
prl_msrp_anchor_ref (PrlMsrpAnchor *anchor)
{
  g_atomic_ref_count_inc (&anchor->ref);
  return anchor;
}

void
prl_msrp_anchor_unref (PrlMsrpAnchor *anchor)
{
  if (g_atomic_ref_count_dec (&anchor->ref))
    g_free (anchor);
}

static void stack_destroy (PrlMsrpStack *s);

static gboolean
dispatch_notices (gpointer data)
{
  PrlMsrpStack *s = data;
  s->notice_idle = 0;
  s->dispatching = TRUE;
  Notice *n;
  while (!s->free_pending && (n = g_queue_pop_head (&s->notices)) != NULL) {
    gboolean live = g_hash_table_contains (s->sessions, &n->session);
    switch (n->kind) {
    case N_CONNECTED:
      if (live && s->cb.on_connected != NULL)
        s->cb.on_connected (s, n->session, s->user_data);
      break;
    case N_MESSAGE:
      if (live && s->cb.on_message != NULL) {
        guint8 nul = 0;
        gsize len = n->body->len;
        g_byte_array_append (n->body, &nul, 1); /* NUL-terminated for convenience */
        PrlMsrpMessage m = {
          .message_id = n->message_id,
          .content_type = n->text != NULL ? n->text : "",
          .body = (const char *)n->body->data,
          .len = len,
          .success_report = n->flag,
        };
        s->cb.on_message (s, n->session, &m, s->user_data);
      }
      break;
    case N_REPORT:
      if (s->cb.on_report != NULL)
        s->cb.on_report (s, n->session, n->message_id, n->status, n->flag, s->user_data);
      break;
    case N_CLOSED:
      if (s->cb.on_closed != NULL)
        s->cb.on_closed (s, n->session, n->text, s->user_data);
      break;
    case N_RELAY:
      if (s->cb.on_relay != NULL)
        s->cb.on_relay (s, n->flag, s->user_data);
      break;
    }
    notice_free (n);
  }
  s->dispatching = FALSE;
  if (s->free_pending)
    stack_destroy (s);
  return G_SOURCE_REMOVE;
}

static Notice *
notice_push (PrlMsrpStack *s, NoticeKind kind, guint64 session)
{
  Notice *n = g_new0 (Notice, 1);
  n->kind = kind;
  n->session = session;
  g_queue_push_tail (&s->notices, n);
  if (s->notice_idle == 0 && !s->dispatching)
    s->notice_idle = g_idle_add (dispatch_notices, s);
  return n;
}

void
prl_msrp_notice_connected (PrlMsrpStack *stack, guint64 session)
{
  notice_push (stack, N_CONNECTED, session);
}

void
prl_msrp_notice_message (PrlMsrpStack *stack, guint64 session, const char *message_id,
                         const char *content_type, GByteArray *body, gboolean report)
{
  Notice *n = notice_push (stack, N_MESSAGE, session);
  n->message_id = g_strdup (message_id);
  n->text = g_strdup (content_type);
  n->body = body;
  n->flag = report;
}

void
prl_msrp_notice_report (PrlMsrpStack *stack, guint64 session, const char *message_id, guint status,
                        gboolean report)
{
  Notice *n = notice_push (stack, N_REPORT, session);
  n->message_id = g_strdup (message_id);
  n->status = status;
  n->flag = report;
  if (status >= 300 && !report)
    stack->stats.tx_failed++;
  else if (!report)
    stack->stats.tx_messages++;
}

void
prl_msrp_notice_closed (PrlMsrpStack *stack, guint64 session, const char *reason)
{
  notice_push (stack, N_CLOSED, session)->text = g_strdup (reason);
}

void
prl_msrp_notice_relay (PrlMsrpStack *stack, gboolean ok)
{
  notice_push (stack, N_RELAY, 0)->flag = ok;
}

static void
session_free (gpointer p)
{
  PrlMsrpSession *s = p;
  g_assert (s->conn == NULL);
  if (s->timer != 0)
    g_source_remove (s->timer);
  g_queue_clear (&s->waiting);
  g_clear_pointer (&s->outs, g_hash_table_unref);
  g_clear_pointer (&s->reports, g_hash_table_unref);
  g_clear_pointer (&s->reasm, prl_msrp_reasm_free);
  g_free (s->path);
  g_free (s->to_path);
  g_free (s->peer_from);
  g_free (s);
}

PrlMsrpSession *
prl_msrp_session_get (PrlMsrpStack *stack, guint64 id)
{
  return g_hash_table_lookup (stack->sessions, &id);
}

static gboolean
on_incoming (GSocketService *service, GSocketConnection *gconn, GObject *source, gpointer data)
{
  PrlMsrpStack *s = data;
  if (g_hash_table_size (s->conns) >= s->config.max_connections) {
    g_debug ("MSRP: connection refused, %u connections", g_hash_table_size (s->conns));
    return TRUE; /* dropped: GIO closes it with the last reference */
  }
  PrlMsrpConn *c = prl_msrp_conn_new (s);
  prl_msrp_conn_attach (c, gconn);
  return TRUE;
}

PrlMsrpStack *
prl_msrp_stack_new (const PrlMsrpConfig *config, const PrlMsrpCallbacks *cb, gpointer user_data,
                    GError **error)
{
  g_return_val_if_fail (config != NULL && cb != NULL, NULL);
  if (config->relay != NULL) {
    g_autoptr (PrlMsrpUri) relay = prl_msrp_uri_parse (config->relay, error);
    if (relay == NULL)
      return NULL;
    if (relay->port == 0 || strcmp (relay->scheme, "msrp") != 0) {
      g_set_error (error, PRL_MSRP_ERROR, PRL_MSRP_ERROR_INVALID,
                   "relay URI needs msrp:// and a port: %s", config->relay);
      return NULL;
    }
  }
  const char *bind = config->bind_address != NULL ? config->bind_address : "127.0.0.1";
  g_autoptr (GInetAddress) ia = g_inet_address_new_from_string (bind);
  if (ia == NULL) {
    g_set_error (error, PRL_MSRP_ERROR, PRL_MSRP_ERROR_BIND, "bind address is not an IP: %s", bind);
    return NULL;
  }
  g_autoptr (GSocketAddress) sa = g_inet_socket_address_new (ia, (guint16)config->port);
  GSocketService *service = g_socket_service_new ();
  g_autoptr (GSocketAddress) effective = NULL;
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (service), sa, G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_TCP, NULL, &effective, error)) {
    g_object_unref (service);
    g_prefix_error (error, "MSRP listen on %s:%u: ", bind, config->port);
    if (error != NULL && *error != NULL) {
      (*error)->domain = PRL_MSRP_ERROR;
      (*error)->code = PRL_MSRP_ERROR_BIND;
    }
    return NULL;
  }
  PrlMsrpStack *s = g_new0 (PrlMsrpStack, 1);
  s->config = *config;
  s->config.bind_address = g_strdup (bind);
  s->config.host = g_strdup (config->host);
  s->config.accept_types = g_strdupv (config->accept_types);
  s->config.accept_wrapped_types = g_strdupv (config->accept_wrapped_types);
  s->config.relay = g_strdup (config->relay);
#define DEFAULT(field, value)                                                                      \
  if (s->config.field == 0)                                                                        \
  s->config.field = (value)
  DEFAULT (max_message_size, 65536);
  DEFAULT (chunk_size, 2048);
  DEFAULT (max_buffer, 131072);
  DEFAULT (max_connections, 20000);
  DEFAULT (transaction_timeout_ms, 30000);
  DEFAULT (connect_timeout_ms, 30000);
#undef DEFAULT
  s->cb = *cb;
  s->user_data = user_data;
  s->anchor = g_new0 (PrlMsrpAnchor, 1);
  g_atomic_ref_count_init (&s->anchor->ref);
  s->anchor->stack = s;
  s->service = service;
  s->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  s->host = g_strdup (config->host != NULL ? config->host : bind);
  s->sessions = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, session_free);
  s->by_sid = g_hash_table_new (g_str_hash, g_str_equal);
  s->conns = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, prl_msrp_conn_free);
  s->txns = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, prl_msrp_txn_free);
  prl_msrp_txn_timer_init (s);
  g_queue_init (&s->notices);
  s->incoming_id = g_signal_connect (service, "incoming", G_CALLBACK (on_incoming), s);
  g_socket_service_start (service);
  if (s->config.relay != NULL)
    prl_msrp_relay_start (s);
  return s;
}

static void
stack_destroy (PrlMsrpStack *s)
{
  prl_msrp_relay_stop (s);
  g_signal_handler_disconnect (s->service, s->incoming_id);
  g_socket_service_stop (s->service);
  g_socket_listener_close (G_SOCKET_LISTENER (s->service));
  g_clear_object (&s->service);
  /* unbind everything first, so that no session points at a freed connection */
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, s->sessions);
  while (g_hash_table_iter_next (&it, NULL, &v))
    ((PrlMsrpSession *)v)->conn = NULL;
  g_hash_table_remove_all (s->txns);
  g_clear_pointer (&s->conns, g_hash_table_unref);
  g_clear_pointer (&s->sessions, g_hash_table_unref);
  g_clear_pointer (&s->by_sid, g_hash_table_unref);
  g_clear_pointer (&s->txns, g_hash_table_unref);
  prl_msrp_txn_timer_clear (s);
  g_queue_clear_full (&s->notices, notice_free);
  if (s->notice_idle != 0)
    g_source_remove (s->notice_idle);
  s->anchor->stack = NULL;
  prl_msrp_anchor_unref (s->anchor);
  g_free (s->host);
  prl_msrp_config_clear (&s->config);
  g_free (s);
}

void
prl_msrp_stack_free (PrlMsrpStack *stack)
{
  if (stack == NULL)
    return;
  if (stack->dispatching) {
    stack->free_pending = TRUE;
    return;
  }
  stack_destroy (stack);
}

guint
prl_msrp_stack_port (PrlMsrpStack *stack)
{
  return stack->port;
}

const char *
prl_msrp_stack_host (PrlMsrpStack *stack)
{
  return stack->host;
}

gboolean
prl_msrp_stack_ready (PrlMsrpStack *stack)
{
  return stack->config.relay == NULL || stack->relay_state == RELAY_READY;
}

const PrlMsrpStats *
prl_msrp_stack_stats (PrlMsrpStack *stack)
{
  stack->stats.sessions = g_hash_table_size (stack->sessions);
  stack->stats.connections = g_hash_table_size (stack->conns);
  return &stack->stats;
}

guint64
prl_msrp_session_new (PrlMsrpStack *stack, GError **error)
{
  g_return_val_if_fail (stack != NULL, 0);
  if (!prl_msrp_stack_ready (stack)) {
    g_set_error (error, PRL_MSRP_ERROR, PRL_MSRP_ERROR_RELAY, "MSRP relay not authorised");
    return 0;
  }
  PrlMsrpSession *s = g_new0 (PrlMsrpSession, 1);
  s->id = ++stack->next_session;
  g_autofree char *sid = NULL;
  do {
    g_free (sid);
    sid = prl_msrp_random_ident (PRL_MSRP_SESSION_ID_LEN);
  } while (g_hash_table_contains (stack->by_sid, sid));
  gboolean v6 = strchr (stack->host, ':') != NULL;
  GString *b = g_string_new (stack->use_path);
  if (stack->use_path != NULL)
    g_string_append_c (b, ' ');
  gsize uri_at = b->len;
  g_string_append_printf (b, "msrp://%s%s%s:%u/%s;tcp", v6 ? "[" : "", stack->host, v6 ? "]" : "",
                          stack->port, sid);
  gsize sid_at = b->len + 1;
  g_string_append_len (b, "", 1); /* the path's NUL */
  g_string_append (b, sid);
  s->path = g_realloc (g_string_free (b, FALSE), sid_at + strlen (sid) + 1);
  s->uri = s->path + uri_at;
  s->sid = s->path + sid_at;
  g_queue_init (&s->waiting);
  g_hash_table_insert (stack->sessions, &s->id, s);
  /* the session-id part of the URI is the key: it is what a To-Path must name */
  g_hash_table_insert (stack->by_sid, (gpointer)s->sid, s);
  s->stack = stack;
  return s->id;
}

const char *
prl_msrp_session_path (PrlMsrpStack *stack, guint64 session)
{
  PrlMsrpSession *s = prl_msrp_session_get (stack, session);
  return s != NULL ? s->path : NULL;
}

static gboolean
on_passive_timeout (gpointer data)
{
  PrlMsrpSession *s = data;
  s->timer = 0;
  if (s->state != SESSION_UP)
    prl_msrp_session_end (s->stack, s, 503, "peer did not connect in time");
  return G_SOURCE_REMOVE;
}

static void
bind_conn (PrlMsrpSession *s, PrlMsrpConn *conn)
{
  s->conn = conn;
  g_hash_table_add (conn->sessions, &s->id);
}

gboolean
prl_msrp_session_start (PrlMsrpStack *stack, guint64 session, const char *remote_path,
                        gboolean active, GError **error)
{
  PrlMsrpSession *s = prl_msrp_session_get (stack, session);
  if (s == NULL || s->remote_path != NULL) {
    g_set_error (error, PRL_MSRP_ERROR, PRL_MSRP_ERROR_STATE,
                 s == NULL ? "unknown MSRP session" : "MSRP session already started");
    return FALSE;
  }
  g_auto (GStrv) uris = prl_msrp_path_split (remote_path, error);
  if (uris == NULL)
    return FALSE;
  g_autoptr (PrlMsrpUri) first = prl_msrp_uri_parse (uris[0], error);
  if (active && stack->config.relay == NULL && first->port == 0) {
    g_set_error (error, PRL_MSRP_ERROR, PRL_MSRP_ERROR_INVALID, "no port in %s", uris[0]);
    return FALSE;
  }
  if (active && stack->config.relay != NULL && stack->relay_state != RELAY_READY) {
    g_set_error (error, PRL_MSRP_ERROR, PRL_MSRP_ERROR_RELAY, "MSRP relay not authorised");
    return FALSE;
  }
  g_autofree char *remote = g_strjoinv (" ", uris);
  if (stack->use_path != NULL) {
    s->to_path = g_strdup_printf ("%s %s", stack->use_path, remote);
    s->remote_path = s->to_path + strlen (stack->use_path) + 1;
  } else
    s->remote_path = s->to_path = g_steal_pointer (&remote);
  s->active = active;
  if (s->state == SESSION_UP) /* passive, and the peer was quicker than our start */
    return TRUE;
  if (!active) {
    s->state = SESSION_WAITING;
    s->timer = g_timeout_add (stack->config.connect_timeout_ms, on_passive_timeout, s);
    return TRUE;
  }
  if (stack->config.relay != NULL) {
    bind_conn (s, stack->relay_conn);
    prl_msrp_session_up (stack, s, TRUE);
    return TRUE;
  }
  gboolean v6 = strchr (first->host, ':') != NULL;
  g_autofree char *key
      = g_strdup_printf ("%s%s%s:%u", v6 ? "[" : "", first->host, v6 ? "]" : "", first->port);
  PrlMsrpConn *conn = prl_msrp_conn_find (stack, key);
  if (conn == NULL)
    conn = prl_msrp_conn_open (stack, first->host, first->port, FALSE);
  bind_conn (s, conn);
  if (conn->connecting)
    s->state = SESSION_CONNECTING;
  else
    prl_msrp_session_up (stack, s, TRUE);
  return TRUE;
}

char *
prl_msrp_session_send (PrlMsrpStack *stack, guint64 session, const char *content_type,
                       const void *body, gsize len, gboolean success_report, GError **error)
{
  PrlMsrpSession *s = prl_msrp_session_get (stack, session);
  if (s == NULL) {
    g_set_error (error, PRL_MSRP_ERROR, PRL_MSRP_ERROR_STATE, "unknown MSRP session");
    return NULL;
  }
  if (content_type == NULL || *content_type == '\0' || strpbrk (content_type, "\r\n") != NULL) {
    g_set_error (error, PRL_MSRP_ERROR, PRL_MSRP_ERROR_INVALID, "bad Content-Type");
    return NULL;
  }
  PrlMsrpOut *o = g_new0 (PrlMsrpOut, 1);
  o->session = s->id;
  do {
    g_free (o->message_id);
    o->message_id = prl_msrp_random_ident (PRL_MSRP_TID_LEN);
  } while (prl_msrp_session_out (s, o->message_id) != NULL);
  o->content_type = g_strdup (content_type);
  o->body = g_bytes_new (body, len);
  o->success_report = success_report;
  g_hash_table_insert (prl_msrp_session_outs (s), o->message_id, o);
  if (s->state == SESSION_UP)
    prl_msrp_conn_queue_out (s->conn, o);
  else
    g_queue_push_tail (&s->waiting, o);
  return g_strdup (o->message_id);
}

gboolean
prl_msrp_session_report (PrlMsrpStack *stack, guint64 session, const char *message_id, gsize len,
                         guint status)
{
  PrlMsrpSession *s = prl_msrp_session_get (stack, session);
  if (s == NULL || s->state != SESSION_UP || message_id == NULL
      || !prl_msrp_is_ident (message_id, strlen (message_id)) || status < 100 || status > 999)
    return FALSE;
  g_autofree char *tid = prl_msrp_random_ident (PRL_MSRP_TID_LEN);
  g_autoptr (PrlMsrpFrame) f = prl_msrp_frame_new_request (tid, "REPORT");
  prl_msrp_frame_add_header (f, "To-Path", s->peer_from != NULL ? s->peer_from : s->to_path);
  prl_msrp_frame_add_header (f, "From-Path", s->uri);
  prl_msrp_frame_add_header (f, "Message-ID", message_id);
  g_autofree char *range = g_strdup_printf ("1-%" G_GSIZE_FORMAT "/%" G_GSIZE_FORMAT, len, len);
  prl_msrp_frame_add_header (f, "Byte-Range", range);
  g_autofree char *st = g_strdup_printf ("000 %03u %s", status, prl_msrp_status_phrase (status));
  prl_msrp_frame_add_header (f, "Status", st);
  prl_msrp_conn_write_frame (s->conn, f);
  return TRUE;
}

void
prl_msrp_session_end (PrlMsrpStack *stack, PrlMsrpSession *s, guint status, const char *reason)
{
  GHashTableIter it;
  gpointer v;
  if (s->outs != NULL) {
    g_hash_table_iter_init (&it, s->outs);
    while (g_hash_table_iter_next (&it, NULL, &v)) {
      PrlMsrpOut *o = v;
      if (s->conn != NULL)
        prl_msrp_conn_unqueue_out (s->conn, o);
      prl_msrp_notice_report (stack, s->id, o->message_id, status, FALSE);
    }
    g_hash_table_remove_all (s->outs);
  }
  g_queue_clear (&s->waiting);
  /* its transactions go too: nothing may answer into a dead session */
  g_hash_table_iter_init (&it, stack->txns);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (((PrlMsrpTxn *)v)->session == s->id)
      g_hash_table_iter_remove (&it);
  PrlMsrpConn *conn = g_steal_pointer (&s->conn);
  if (conn != NULL) {
    g_hash_table_remove (conn->sessions, &s->id);
    if (g_hash_table_size (conn->sessions) == 0 && !conn->is_relay)
      prl_msrp_conn_close (conn);
  }
  if (reason != NULL)
    prl_msrp_notice_closed (stack, s->id, reason);
  g_hash_table_remove (stack->by_sid, s->sid);
  g_hash_table_remove (stack->sessions, &s->id);
}

void
prl_msrp_session_close (PrlMsrpStack *stack, guint64 session)
{
  PrlMsrpSession *s = prl_msrp_session_get (stack, session);
  if (s != NULL)
    prl_msrp_session_end (stack, s, 503, NULL);
}

GHashTable *
prl_msrp_session_outs (PrlMsrpSession *s)
{
  if (s->outs == NULL)
    s->outs = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, prl_msrp_out_free);
  return s->outs;
}

GHashTable *
prl_msrp_session_reports (PrlMsrpSession *s)
{
  if (s->reports == NULL)
    s->reports = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return s->reports;
}

PrlMsrpReasm *
prl_msrp_session_reasm (PrlMsrpStack *stack, PrlMsrpSession *s)
{
  if (s->reasm == NULL)
    s->reasm = prl_msrp_reasm_new (stack->config.max_message_size, PRL_MSRP_REASM_PENDING_MAX);
  return s->reasm;
}

PrlMsrpOut *
prl_msrp_session_out (PrlMsrpSession *s, const char *mid)
{
  return s->outs != NULL && mid != NULL ? g_hash_table_lookup (s->outs, mid) : NULL;
}
