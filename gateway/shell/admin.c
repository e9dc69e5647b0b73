/* gateway/shell/admin.c - the admin socket's I/O: listening, peers, lines in, answers out.
 *
 * DESIGN: a GSocketService on a UNIX socket we bind ourselves (so the mode is set through the
 * umask before anyone can connect, and a stale file can be told from a live listener). Each
 * client is a non-blocking GSocket with one input source and, only while answers wait, one
 * output source; no GInputStream, so nothing buffers beyond our bounds:
 *   - a request line longer than max_request_bytes gets -32600 and the connection closes
 *     after the answer is written;
 *   - answers queued beyond max_output_bytes (a client that never reads) close it at once;
 *   - a client silent (or not reading) for idle_timeout_s is closed by a 1 s sweep;
 *   - clients beyond max_clients and peers whose credentials are refused get one error line
 *     (best effort, never waited for) and are closed.
 * A client is never freed from inside a callback that still uses it: it is marked dead and a
 * reaper idle frees it. Answers find their client by id (admin-rpc.h), so a store answer
 * that arrives after the client left is dropped.
 *
 * Ownership: PrlAdmin owns its clients, the service, a copy of its config and the set of
 * unanswered calls (detached, not freed, when it goes).
 */
#include "gateway/shell/admin.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>

#include "gateway/shell/admin-methods.h"
#include "gateway/shell/admin-rpc.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

#define READ_CHUNK 16384

typedef struct {
  PrlAdmin *admin;
  guint64 id;
  GSocketConnection *conn;
  GSocket *sock;
  GSource *in_source, *out_source;
  GByteArray *in;
  GByteArray *out;
  gsize out_off;
  gint64 last_activity_us;
  gboolean closing; /* close once the output is written; read no more */
  gboolean dead;    /* freed by the reaper */
} Client;

struct _PrlAdmin {
  PrlDaemon *daemon;
  PrlAdminConfig config;
  GSocketService *service;
  GHashTable *clients; /* guint64* id -> Client*, owned */
  guint64 next_id;
  GHashTable *calls;       /* PrlAdminCall* awaiting an answer (admin-rpc.h) */
  GHashTable *warned_uids; /* uids refused once already: logged once each */
  guint sweep_id, reap_id;
  gid_t allowed_gid;
};

static void
client_free (gpointer data)
{
  Client *c = data;
  if (c->in_source) {
    g_source_destroy (c->in_source);
    g_source_unref (c->in_source);
  }
  if (c->out_source) {
    g_source_destroy (c->out_source);
    g_source_unref (c->out_source);
  }
  g_socket_close (c->sock, NULL);
  g_clear_object (&c->conn);
  g_byte_array_unref (c->in);
  g_byte_array_unref (c->out);
  g_free (c);
}

static gboolean
on_reap (gpointer user_data)
{
  PrlAdmin *self = user_data;
  GHashTableIter it;
  gpointer value;
  self->reap_id = 0;
  g_hash_table_iter_init (&it, self->clients);
  while (g_hash_table_iter_next (&it, NULL, &value))
    if (((Client *)value)->dead) {
      g_debug ("admin client %" G_GUINT64_FORMAT " closed", ((Client *)value)->id);
      g_hash_table_iter_remove (&it);
    }
  return G_SOURCE_REMOVE;
}

static void
kill_client (Client *c)
{
  c->dead = TRUE;
  if (c->in_source)
    g_source_destroy (c->in_source);
  if (c->out_source)
    g_source_destroy (c->out_source);
  if (c->admin->reap_id == 0)
    c->admin->reap_id = g_idle_add (on_reap, c->admin);
}

static gboolean on_writable (GSocket *sock, GIOCondition cond, gpointer user_data);

/* Writes what the socket takes now; waits for G_IO_OUT for the rest. */
static void
flush_output (Client *c)
{
  while (c->out_off < c->out->len) {
    g_autoptr (GError) error = NULL;
    gssize n = g_socket_send (c->sock, (const char *)c->out->data + c->out_off,
                              c->out->len - c->out_off, NULL, &error);
    if (n < 0) {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
        if (c->out_source == NULL) {
          c->out_source = g_socket_create_source (c->sock, G_IO_OUT, NULL);
          g_source_set_callback (c->out_source, (GSourceFunc)(void (*) (void))on_writable, c, NULL);
          g_source_attach (c->out_source, NULL);
        }
        return;
      }
      g_debug ("admin client %" G_GUINT64_FORMAT ": %s", c->id, error->message);
      kill_client (c);
      return;
    }
    c->out_off += (gsize)n;
    c->last_activity_us = g_get_monotonic_time ();
  }
  g_byte_array_set_size (c->out, 0);
  c->out_off = 0;
  if (c->out_source) {
    g_source_destroy (c->out_source);
    g_clear_pointer (&c->out_source, g_source_unref);
  }
  if (c->closing)
    kill_client (c);
}

static gboolean
on_writable (GSocket *sock, GIOCondition cond, gpointer user_data)
{
  Client *c = user_data;
  if (c->dead)
    return G_SOURCE_REMOVE;
  g_source_ref (c->out_source);
  GSource *mine = c->out_source;
  flush_output (c);
  gboolean keep = c->out_source == mine && !c->dead;
  g_source_unref (mine);
  return keep ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static void
queue_line (Client *c, char *line)
{
  g_autofree char *owned = line;
  if (c->dead)
    return;
  gsize len = strlen (owned);
  if (c->out->len - c->out_off + len > c->admin->config.max_output_bytes) {
    g_message ("admin client %" G_GUINT64_FORMAT " closed: it does not read its answers "
               "(over %u bytes queued)",
               c->id, c->admin->config.max_output_bytes);
    kill_client (c);
    return;
  }
  g_byte_array_append (c->out, (const guint8 *)owned, (guint)len);
  if (c->out_source == NULL)
    flush_output (c);
}

static void
on_answer (gpointer owner, guint64 client_id, char *line)
{
  PrlAdmin *self = owner;
  Client *c = g_hash_table_lookup (self->clients, &client_id);
  if (c == NULL) {
    g_free (line);
    return;
  }
  queue_line (c, line);
}

static void
refuse (Client *c, int code, const char *message)
{
  queue_line (c, prl_admin_rpc_error_line (code, message));
  c->closing = TRUE;
  if (c->in_source)
    g_source_destroy (c->in_source);
  if (c->out->len == 0)
    kill_client (c);
}

static void
handle_line (Client *c, const char *line, gsize len)
{
  while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
    len--;
  if (len == 0)
    return; /* blank lines are tolerated (telnet, hand-typed input) */
  PrlAdminRpcSink sink = { on_answer, c->admin, c->admin->calls };
  prl_admin_rpc_dispatch (prl_admin_methods, c->admin, line, len, &sink, c->id);
}

static void
oversize (Client *c)
{
  g_autofree char *msg = g_strdup_printf ("invalid request: longer than %u bytes",
                                          c->admin->config.max_request_bytes);
  g_byte_array_set_size (c->in, 0);
  refuse (c, PRL_ADMIN_INVALID_REQUEST, msg);
}

/* Hands every complete line to the dispatcher; at EOF a last unterminated line too. */
static void
process_input (Client *c, gboolean eof)
{
  gsize start = 0;
  guint max = c->admin->config.max_request_bytes;
  while (!c->dead && !c->closing) {
    guint8 *nl = memchr (c->in->data + start, '\n', c->in->len - start);
    if (nl == NULL)
      break;
    gsize len = (gsize)(nl - (c->in->data + start));
    if (len > max) {
      oversize (c);
      return;
    }
    handle_line (c, (const char *)c->in->data + start, len);
    start += len + 1;
  }
  if (c->dead || c->closing)
    return;
  g_byte_array_remove_range (c->in, 0, (guint)start);
  if (c->in->len > max) {
    oversize (c);
    return;
  }
  if (eof && c->in->len > 0) {
    handle_line (c, (const char *)c->in->data, c->in->len);
    g_byte_array_set_size (c->in, 0);
  }
}

static gboolean
on_readable (GSocket *sock, GIOCondition cond, gpointer user_data)
{
  Client *c = user_data;
  guint8 buf[READ_CHUNK];
  if (c->dead || c->closing)
    return G_SOURCE_REMOVE;
  g_autoptr (GError) error = NULL;
  gssize n = g_socket_receive (sock, (char *)buf, sizeof buf, NULL, &error);
  if (n < 0) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
      return G_SOURCE_CONTINUE;
    g_debug ("admin client %" G_GUINT64_FORMAT ": %s", c->id, error->message);
    kill_client (c);
    return G_SOURCE_REMOVE;
  }
  c->last_activity_us = g_get_monotonic_time ();
  if (n == 0) {
    /* The client closed its side (e.g. `nc -N`): answer what it sent, then close. */
    process_input (c, TRUE);
    if (!c->dead) {
      c->closing = TRUE;
      if (c->out->len == 0)
        kill_client (c);
    }
    return G_SOURCE_REMOVE;
  }
  g_byte_array_append (c->in, buf, (guint)n);
  process_input (c, FALSE);
  return c->dead || c->closing ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

/* SO_PEERCRED (through GCredentials) and SO_PEERGROUPS for the supplementary groups. */
static gboolean
peer_allowed (PrlAdmin *self, GSocket *sock, guint *uid_out)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GCredentials) creds = g_socket_get_credentials (sock, &error);
  if (creds == NULL) {
    g_warning ("admin socket: cannot read peer credentials: %s", error->message);
    return FALSE;
  }
  uid_t uid = g_credentials_get_unix_user (creds, NULL);
  *uid_out = (guint)uid;
  if (uid == 0 || uid == getuid ())
    return TRUE;
  if (!self->config.group_access)
    return FALSE;
  const struct ucred *cred = g_credentials_get_native (creds, G_CREDENTIALS_TYPE_LINUX_UCRED);
  if (cred && cred->gid == self->allowed_gid)
    return TRUE;
  gid_t groups[256];
  socklen_t len = sizeof groups;
  if (getsockopt (g_socket_get_fd (sock), SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
    for (gsize i = 0; i < len / sizeof (gid_t); i++)
      if (groups[i] == self->allowed_gid)
        return TRUE;
  return FALSE;
}

static gboolean
on_incoming (GSocketService *service, GSocketConnection *conn, GObject *source, gpointer user_data)
{
  PrlAdmin *self = user_data;
  Client *c = g_new0 (Client, 1);
  c->admin = self;
  c->id = ++self->next_id;
  c->conn = g_object_ref (conn);
  c->sock = g_socket_connection_get_socket (conn);
  c->in = g_byte_array_new ();
  c->out = g_byte_array_new ();
  c->last_activity_us = g_get_monotonic_time ();
  g_socket_set_blocking (c->sock, FALSE);
  guint64 *key = g_new (guint64, 1);
  *key = c->id;
  g_hash_table_insert (self->clients, key, c);

  guint uid = (guint)-1;
  if (!peer_allowed (self, c->sock, &uid)) {
    if (!g_hash_table_contains (self->warned_uids, GUINT_TO_POINTER (uid + 1))) {
      g_hash_table_add (self->warned_uids, GUINT_TO_POINTER (uid + 1));
      g_warning ("admin socket: refused a client with uid %u (logged once per uid)", uid);
    }
    g_autofree char *msg = g_strdup_printf ("permission denied: uid %u may not use the admin "
                                            "socket",
                                            uid);
    refuse (c, PRL_ADMIN_DENIED, msg);
    return TRUE;
  }
  guint live = 0;
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, self->clients);
  while (g_hash_table_iter_next (&it, NULL, &value))
    live += !((Client *)value)->dead;
  if (live > self->config.max_clients) {
    g_autofree char *msg
        = g_strdup_printf ("too many clients (max_clients = %u)", self->config.max_clients);
    refuse (c, PRL_ADMIN_DENIED, msg);
    return TRUE;
  }
  g_debug ("admin client %" G_GUINT64_FORMAT " connected (uid %u)", c->id, uid);
  c->in_source = g_socket_create_source (c->sock, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  g_source_set_callback (c->in_source, (GSourceFunc)(void (*) (void))on_readable, c, NULL);
  g_source_attach (c->in_source, NULL);
  return TRUE;
}

static gboolean
on_sweep (gpointer user_data)
{
  PrlAdmin *self = user_data;
  gint64 now = g_get_monotonic_time ();
  gint64 limit = (gint64)self->config.idle_timeout_s * G_USEC_PER_SEC;
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, self->clients);
  while (g_hash_table_iter_next (&it, NULL, &value)) {
    Client *c = value;
    if (!c->dead && now - c->last_activity_us > limit) {
      g_debug ("admin client %" G_GUINT64_FORMAT " idle: closed", c->id);
      kill_client (c);
    }
  }
  return G_SOURCE_CONTINUE;
}

/* An existing file at @path: a stale socket is removed; a live one or anything else is an
 * error (never unlink what is not ours to remove). */
static gboolean
clear_stale (const char *path, GSocketAddress *addr, GError **error)
{
  struct stat st;
  if (lstat (path, &st) != 0)
    return TRUE;
  if (!S_ISSOCK (st.st_mode)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS, "%s exists and is not a socket", path);
    return FALSE;
  }
  g_autoptr (GSocket) probe
      = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL);
  g_autoptr (GError) probe_error = NULL;
  if (probe != NULL) {
    g_socket_set_blocking (probe, FALSE);
    if (g_socket_connect (probe, addr, NULL, &probe_error)
        || !g_error_matches (probe_error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED)) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                   "%s is in use by a running process (another parleyd?)", path);
      return FALSE;
    }
  }
  if (unlink (path) != 0 && errno != ENOENT) {
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "cannot remove stale %s: %s",
                 path, g_strerror (errno));
    return FALSE;
  }
  g_message ("removed stale admin socket %s", path);
  return TRUE;
}

static GSocket *
make_socket (const PrlAdminConfig *config, gid_t gid, GError **error)
{
  const char *path = config->socket_path;
  g_autoptr (GSocketAddress) addr = g_unix_socket_address_new (path);
  if (!clear_stale (path, addr, error))
    return NULL;
  g_autoptr (GSocket) sock
      = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
  if (sock == NULL)
    return NULL;
  mode_t mode = config->group_access ? 0660 : 0600;
  /* The mode is right from the first moment the file exists (the umask is process-wide,
   * and this runs before any thread). */
  mode_t old = umask (0777 & ~mode);
  gboolean bound = g_socket_bind (sock, addr, FALSE, error);
  umask (old);
  if (!bound) {
    g_prefix_error (error, "%s: ", path);
    return NULL;
  }
  if ((config->group_access && chown (path, (uid_t)-1, gid) != 0) || chmod (path, mode) != 0) {
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "%s: %s", path,
                 g_strerror (errno));
    unlink (path);
    return NULL;
  }
  g_socket_set_listen_backlog (sock, 64);
  if (!g_socket_listen (sock, error)) {
    unlink (path);
    return NULL;
  }
  return g_steal_pointer (&sock);
}

PrlAdmin *
prl_admin_new (PrlDaemon *daemon, const PrlAdminConfig *config, GError **error)
{
  g_return_val_if_fail (daemon != NULL && config != NULL && config->socket_path != NULL, NULL);
  gid_t gid = config->gid != (guint)-1 ? (gid_t)config->gid : getegid ();
  g_autoptr (GSocket) sock = make_socket (config, gid, error);
  if (sock == NULL)
    return NULL;
  PrlAdmin *self = g_new0 (PrlAdmin, 1);
  self->daemon = daemon;
  self->config = *config;
  self->config.socket_path = g_strdup (config->socket_path);
  self->config.group = g_strdup (config->group);
  self->allowed_gid = gid;
  self->clients = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, client_free);
  self->calls = g_hash_table_new (g_direct_hash, g_direct_equal);
  self->warned_uids = g_hash_table_new (g_direct_hash, g_direct_equal);
  self->service = g_socket_service_new ();
  if (!g_socket_listener_add_socket (G_SOCKET_LISTENER (self->service), sock, NULL, error)) {
    unlink (config->socket_path);
    prl_admin_free (self);
    return NULL;
  }
  g_signal_connect (self->service, "incoming", G_CALLBACK (on_incoming), self);
  g_socket_service_start (self->service);
  self->sweep_id = g_timeout_add_seconds (1, on_sweep, self);
  return self;
}

void
prl_admin_set_limits (PrlAdmin *self, const PrlAdminConfig *config)
{
  g_return_if_fail (self != NULL && config != NULL);
  self->config.max_clients = config->max_clients;
  self->config.max_request_bytes = config->max_request_bytes;
  self->config.max_output_bytes = config->max_output_bytes;
  self->config.idle_timeout_s = config->idle_timeout_s;
}

guint
prl_admin_n_clients (PrlAdmin *self)
{
  guint live = 0;
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, self->clients);
  while (g_hash_table_iter_next (&it, NULL, &value))
    live += !((Client *)value)->dead;
  return live;
}

PrlDaemon *
prl_admin_get_daemon (PrlAdmin *self)
{
  return self->daemon;
}

void
prl_admin_free (PrlAdmin *self)
{
  if (self == NULL)
    return;
  if (self->service) {
    g_signal_handlers_disconnect_by_data (self->service, self);
    g_socket_service_stop (self->service);
    g_socket_listener_close (G_SOCKET_LISTENER (self->service));
    g_clear_object (&self->service);
    if (self->config.socket_path)
      unlink (self->config.socket_path);
  }
  g_clear_handle_id (&self->sweep_id, g_source_remove);
  g_clear_handle_id (&self->reap_id, g_source_remove);
  if (self->calls)
    prl_admin_rpc_detach_all (self->calls);
  g_clear_pointer (&self->calls, g_hash_table_unref);
  g_clear_pointer (&self->clients, g_hash_table_unref);
  g_clear_pointer (&self->warned_uids, g_hash_table_unref);
  prl_admin_config_clear (&self->config);
  g_free (self);
}
