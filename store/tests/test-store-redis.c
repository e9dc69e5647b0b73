/* store/tests/test-store-redis.c - the Redis backend against a real redis-server.
 *
 * Each test starts its own redis-server (Debian's; a missing binary fails the test) on a free
 * loopback port in a temp dir, with `--appendonly yes --appendfsync always --save ''`, drives the
 * store through the default GMainContext with 10 s bounds, and always kills the server (SIGKILL)
 * and removes the dir at the end. Beyond the shared semantics (store-checks.h, two stores with
 * different instance ids playing two parleyd processes): NOSCRIPT after SCRIPT FLUSH, Redis
 * killed and restarted on the same AOF (nothing lost, state changes reported), a store
 * started before its Redis, a UNIX socket, and records that do not decode.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <hiredis/hiredis.h>

#include "store-checks.h"

typedef struct {
  GPid pid; /* 0: not running */
  guint port;
  char *dir;
  char *sock;
} Server;

static Server srv;

static guint
free_port (void)
{
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  g_assert_cmpint (fd, >=, 0);
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  g_assert_cmpint (bind (fd, (struct sockaddr *)&sa, sizeof sa), ==, 0);
  socklen_t len = sizeof sa;
  g_assert_cmpint (getsockname (fd, (struct sockaddr *)&sa, &len), ==, 0);
  close (fd);
  return ntohs (sa.sin_port);
}

/* A plain synchronous connection, for what the test does behind the store's back. */
static redisContext *
sync_connect (void)
{
  struct timeval tv = { 1, 0 };
  redisContext *c = redisConnectWithTimeout ("127.0.0.1", (int)srv.port, tv);
  g_assert_nonnull (c);
  return c;
}

static redisReply *
sync_command (const char *format, ...)
{
  redisContext *c = sync_connect ();
  g_assert_cmpint (c->err, ==, 0);
  va_list ap;
  va_start (ap, format);
  redisReply *r = redisvCommand (c, format, ap);
  va_end (ap);
  g_assert_nonnull (r);
  redisFree (c);
  return r;
}

static gboolean
server_answers (void)
{
  struct timeval tv = { 0, 200000 };
  redisContext *c = redisConnectWithTimeout ("127.0.0.1", (int)srv.port, tv);
  gboolean ok = FALSE;
  if (c != NULL && c->err == 0) {
    redisReply *r = redisCommand (c, "PING");
    ok = r != NULL && r->type == REDIS_REPLY_STATUS && g_strcmp0 (r->str, "PONG") == 0;
    if (r != NULL)
      freeReplyObject (r);
  }
  if (c != NULL)
    redisFree (c);
  return ok;
}

/* In the child: die with the test, even when an assertion aborts it. */
static void
child_setup (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* Starts redis-server (again, on the same port and dir when restarting); waits 10 s at most. */
static void
server_start (void)
{
  g_autofree char *exe = g_find_program_in_path ("redis-server");
  g_assert_nonnull (exe); /* a missing peer is a failure, never a skip */
  if (srv.dir == NULL) {
    g_autoptr (GError) error = NULL;
    srv.dir = g_dir_make_tmp ("prl-store-redis-XXXXXX", &error);
    g_assert_no_error (error);
    srv.sock = g_build_filename (srv.dir, "redis.sock", NULL);
    if (srv.port == 0)
      srv.port = free_port ();
  }
  g_autofree char *port = g_strdup_printf ("%u", srv.port);
  g_autofree char *log = g_build_filename (srv.dir, "redis.log", NULL);
  const char *argv[] = { exe,         "--port",
                         port,        "--bind",
                         "127.0.0.1", "--dir",
                         srv.dir,     "--appendonly",
                         "yes",       "--appendfsync",
                         "always",    "--save",
                         "",          "--unixsocket",
                         srv.sock,    "--unixsocketperm",
                         "700",       "--logfile",
                         log,         "--daemonize",
                         "no",        NULL };
  g_autoptr (GError) error = NULL;
  g_spawn_async (NULL, (char **)argv, NULL,
                 G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL
                     | G_SPAWN_STDERR_TO_DEV_NULL,
                 child_setup, NULL, &srv.pid, &error);
  g_assert_no_error (error);
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (!server_answers ()) {
    g_assert_cmpint (g_get_monotonic_time (), <, deadline);
    g_usleep (20000);
  }
}

static void
server_signal (int sig)
{
  g_assert_cmpint (srv.pid, >, 0);
  g_assert_cmpint (kill (srv.pid, sig), ==, 0);
}

static void
server_kill (void)
{
  if (srv.pid <= 0)
    return;
  kill (srv.pid, SIGKILL);
  int status;
  while (waitpid (srv.pid, &status, 0) < 0 && errno == EINTR)
    ;
  g_spawn_close_pid (srv.pid);
  srv.pid = 0;
}

static void
remove_tree (const char *path)
{
  GDir *d = g_dir_open (path, 0, NULL);
  if (d != NULL) {
    const char *name;
    while ((name = g_dir_read_name (d)) != NULL) {
      g_autofree char *child = g_build_filename (path, name, NULL);
      remove_tree (child);
    }
    g_dir_close (d);
  }
  g_remove (path);
}

static void
server_cleanup (void)
{
  server_kill ();
  if (srv.dir != NULL)
    remove_tree (srv.dir);
  g_clear_pointer (&srv.dir, g_free);
  g_clear_pointer (&srv.sock, g_free);
  srv.port = 0;
}

/* ---- stores ---- */

typedef struct {
  guint ups, downs;
  gboolean is_up;
} States;

static void
on_state (PrlStore *s, gboolean is_up, gpointer data)
{
  States *st = data;
  if (is_up)
    st->ups++;
  else
    st->downs++;
  st->is_up = is_up;
  g_assert_cmpint (prl_store_is_up (s), ==, is_up);
}

static void
wait_up (PrlStore *s)
{
  gboolean is_late = FALSE;
  guint id = g_timeout_add (10000, on_timeout_flag, &is_late);
  while (!prl_store_is_up (s) && !is_late)
    g_main_context_iteration (NULL, TRUE);
  if (!is_late)
    g_source_remove (id);
  g_assert_true (prl_store_is_up (s));
}

static PrlStore *
open_redis (const char *instance)
{
  PrlStore *s = prl_store_redis_new ("127.0.0.1", srv.port, 0, "t:", instance);
  g_assert_false (prl_store_is_up (s)); /* it connects in the background */
  wait_up (s);
  return s;
}

static const Backend redis_backend = { .open = open_redis };

static void
run_check (gconstpointer data)
{
  void (*check) (const Backend *) = (void (*) (const Backend *))data;
  server_start ();
  check (&redis_backend);
  server_cleanup ();
}

static guint64
stat_of (PrlStore *s, const char *name)
{
  g_autoptr (GVariant) d = prl_store_describe (s);
  guint64 v = 0;
  g_assert_true (g_variant_lookup (d, name, "t", &v));
  return v;
}

/* ---- Redis-only tests ---- */

static void
test_noscript (void)
{
  server_start ();
  g_autoptr (PrlStore) s = open_redis ("gw-a");
  gint64 now = g_get_real_time ();
  g_autoptr (PrlStoredMessage) m1 = make_message ("sip:ns@sip.test", "n1", "one", now);
  g_autoptr (PrlStoredMessage) m2 = make_message ("sip:ns@sip.test", "n2", "two", now);
  park_expect (s, m1, NULL, -1);
  redisReply *r = sync_command ("SCRIPT FLUSH");
  g_assert_cmpint (r->type, ==, REDIS_REPLY_STATUS);
  freeReplyObject (r);
  park_expect (s, m2, NULL, -1);
  g_assert_cmpuint (stat_of (s, "script-reloads"), ==, 1);
  r = sync_command ("SCRIPT FLUSH");
  freeReplyObject (r);
  g_autoptr (GPtrArray) got = claim_expect (s, "sip:ns@sip.test", 10, 30000, -1);
  g_assert_cmpuint (got->len, ==, 2);
  g_assert_cmpuint (stat_of (s, "script-reloads"), ==, 2);
  server_cleanup ();
}

static void
test_restart (void)
{
  server_start ();
  States st = { 0 };
  g_autoptr (PrlStore) s = prl_store_redis_new ("127.0.0.1", srv.port, 0, "t:", "gw-a");
  prl_store_set_state_func (s, on_state, &st);
  wait_count (&st.ups, 1);
  const char *owner = "xmpp:durable@xmpp.test";
  gint64 now = g_get_real_time ();
  Answer a = { 0 };
  for (guint i = 0; i < 50; i++) {
    g_autofree char *id = g_strdup_printf ("d%02u", i);
    g_autoptr (PrlStoredMessage) m = make_message (owner, id, "keep me", now + i);
    prl_store_park (s, m, NULL, on_done, &a);
  }
  wait_count (&a.calls, 50);
  g_assert_no_error (a.error);
  answer_clear (&a);

  /* a command in flight when Redis dies fails with UNAVAILABLE */
  server_signal (SIGSTOP);
  g_autoptr (PrlStoredMessage) lost = make_message (owner, "lost", "x", now + 100);
  prl_store_park (s, lost, NULL, on_done, &a);
  spin (100);
  g_assert_cmpuint (a.calls, ==, 0);
  server_kill (); /* SIGKILL ends a stopped process too */
  wait_count (&a.calls, 1);
  g_assert_error (a.error, PRL_STORE_ERROR, PRL_STORE_ERROR_UNAVAILABLE);
  answer_clear (&a);
  wait_count (&st.downs, 1);
  g_assert_false (prl_store_is_up (s));

  /* while down: at once, but never from inside the call */
  gint64 t0 = g_get_monotonic_time ();
  park_expect (s, lost, NULL, PRL_STORE_ERROR_UNAVAILABLE);
  claim_expect (s, owner, 10, 1000, PRL_STORE_ERROR_UNAVAILABLE);
  g_assert_cmpint (g_get_monotonic_time () - t0, <, G_USEC_PER_SEC);
  spin (1200); /* a few reconnect attempts fail quietly */
  g_assert_cmpuint (st.downs, ==, 1);

  server_start (); /* same port, same AOF */
  wait_count (&st.ups, 2);
  g_assert_cmpuint (st.downs, ==, 1);
  g_autoptr (GPtrArray) got = claim_expect (s, owner, 100, 30000, -1);
  g_assert_cmpuint (got->len, ==, 50);
  for (guint i = 0; i < 50; i++) {
    g_autofree char *id = g_strdup_printf ("d%02u", i);
    g_assert_cmpstr (((PrlStoredMessage *)g_ptr_array_index (got, i))->id, ==, id);
  }
  server_cleanup ();
}

/* The store may start before Redis: down first, up once Redis listens. */
static void
test_start_late (void)
{
  srv.port = free_port ();
  States st = { 0 };
  g_autoptr (PrlStore) s = prl_store_redis_new ("127.0.0.1", srv.port, 0, "t:", "gw-a");
  prl_store_set_state_func (s, on_state, &st);
  wait_count (&st.downs, 1);
  g_autoptr (PrlStoredMessage) m = make_message ("sip:late@sip.test", "l", "x", 1);
  park_expect (s, m, NULL, PRL_STORE_ERROR_UNAVAILABLE);
  server_start (); /* on the port the store dials */
  wait_count (&st.ups, 1);
  park_expect (s, m, NULL, -1);
  server_cleanup ();
}

static void
test_unix_socket (void)
{
  server_start ();
  g_autoptr (PrlStore) s = prl_store_redis_new (srv.sock, 0, 0, "u:", "gw-a");
  wait_up (s);
  g_autoptr (PrlStoredMessage) m
      = make_message ("sip:unix@sip.test", "x1", "hi", g_get_real_time ());
  park_expect (s, m, NULL, -1);
  g_autoptr (GPtrArray) got = claim_expect (s, "sip:unix@sip.test", 10, 1000, -1);
  g_assert_cmpuint (got->len, ==, 1);
  g_autoptr (GVariant) d = prl_store_describe (s);
  const char *backend = NULL;
  g_assert_true (g_variant_lookup (d, "backend", "&s", &backend));
  g_assert_cmpstr (backend, ==, "redis");
  server_cleanup ();
}

/* Records written by someone else: skipped and counted, the rest still delivered. */
static void
test_corrupt (void)
{
  server_start ();
  g_autoptr (PrlStore) s = open_redis ("gw-a");
  const char *owner = "sip:c@sip.test";
  g_autoptr (PrlStoredMessage) good = make_message (owner, "good", "fine", g_get_real_time ());
  park_expect (s, good, NULL, -1);
  static const char *const cmds[] = {
    "HSET t:{sip:c@sip.test}:m:noowner id noowner received_us 1",
    "HSET t:{sip:c@sip.test}:m:badtime id badtime owner sip:c@sip.test received_us soon",
    "HSET t:{sip:c@sip.test}:m:other id other owner sip:d@sip.test received_us 1",
    "SET t:{sip:c@sip.test}:m:string notahash",
    "RPUSH t:{sip:c@sip.test}:q noowner badtime other string ghost",
    "INCRBY t:{sip:c@sip.test}:n 5",
  };
  for (guint i = 0; i < G_N_ELEMENTS (cmds); i++) {
    redisReply *r = sync_command ("%s", "PING");
    freeReplyObject (r);
    redisContext *c = sync_connect ();
    g_auto (GStrv) argv = g_strsplit (cmds[i], " ", -1);
    guint argc = g_strv_length (argv);
    r = redisCommandArgv (c, (int)argc, (const char **)argv, NULL);
    g_assert_nonnull (r);
    g_assert_cmpint (r->type, !=, REDIS_REPLY_ERROR);
    freeReplyObject (r);
    redisFree (c);
  }
  g_autoptr (GPtrArray) got = claim_expect (s, owner, 10, 30000, -1);
  g_assert_cmpuint (got->len, ==, 1);
  g_assert_cmpstr (((PrlStoredMessage *)g_ptr_array_index (got, 0))->id, ==, "good");
  g_assert_cmpuint (stat_of (s, "corrupt"), ==, 3);
  ack_expect (s, owner, "good", -1);
  ack_expect (s, owner, "string", -1);
  purge_ok (s, owner);
  server_cleanup ();
}

static void
cleanup_at_exit (void)
{
  server_cleanup ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  atexit (cleanup_at_exit); /* a failed assertion aborts: no redis-server is left behind */
  g_test_add_data_func ("/store/redis/roundtrip", (gconstpointer)check_roundtrip, run_check);
  g_test_add_data_func ("/store/redis/order", (gconstpointer)check_order, run_check);
  g_test_add_data_func ("/store/redis/quota", (gconstpointer)check_quota, run_check);
  g_test_add_data_func ("/store/redis/lease", (gconstpointer)check_lease, run_check);
  g_test_add_data_func ("/store/redis/expiry", (gconstpointer)check_expiry, run_check);
  g_test_add_data_func ("/store/redis/claim-after", (gconstpointer)check_claim_after, run_check);
  g_test_add_data_func ("/store/redis/ack-batch", (gconstpointer)check_ack_batch, run_check);
  g_test_add_data_func ("/store/redis/binary", (gconstpointer)check_binary, run_check);
  g_test_add_data_func ("/store/redis/free-pending", (gconstpointer)check_free_pending, run_check);
  g_test_add_data_func ("/store/redis/free-in-callback", (gconstpointer)check_free_in_callback,
                        run_check);
  g_test_add_func ("/store/redis/noscript", test_noscript);
  g_test_add_func ("/store/redis/restart", test_restart);
  g_test_add_func ("/store/redis/start-late", test_start_late);
  g_test_add_func ("/store/redis/unix-socket", test_unix_socket);
  g_test_add_func ("/store/redis/corrupt", test_corrupt);
  return g_test_run ();
}
