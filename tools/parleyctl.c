/* tools/parleyctl.c - the operator's CLI for parleyd's admin socket (docs/admin.md).
 *
 * `parleyctl [--socket PATH] [--json] METHOD [ARGS...]` sends one JSON-RPC 2.0 request on
 * the UNIX socket, waits for its one-line answer (with a timeout) and prints it: aligned
 * tables by default, the raw result with --json. METHOD is written with a dot or as words:
 * `queue show alice@sip.test` is queue.show ["alice@sip.test"].
 *
 * Exit codes (scripts can trust them): 0 ok; 1 the gateway answered with a JSON-RPC error;
 * 2 usage; 3 cannot connect (no socket: parleyd not running?; access denied); 4 a bad
 * answer, no answer, or a timeout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <json-glib/json-glib.h>

#define EXIT_RPC_ERROR 1
#define EXIT_USAGE 2
#define EXIT_CONNECT 3
#define EXIT_ANSWER 4
#define DEFAULT_SOCKET "/run/parley/admin.sock"
#define MAX_ANSWER (64 * 1024 * 1024)

static const char *const groups[] = { "sessions", "queue", "presence", "log", "config", NULL };

/* ---------------------------------------------------------------- tables */

typedef struct {
  GPtrArray *rows; /* GStrv */
  guint ncols;
} Table;

static Table *
table_new (guint ncols)
{
  Table *t = g_new0 (Table, 1);
  t->rows = g_ptr_array_new_with_free_func ((GDestroyNotify)g_strfreev);
  t->ncols = ncols;
  return t;
}

static void
table_add (Table *t, ...)
{
  va_list ap;
  va_start (ap, t);
  char **row = g_new0 (char *, t->ncols + 1);
  for (guint i = 0; i < t->ncols; i++) {
    const char *v = va_arg (ap, const char *);
    row[i] = g_strdup (v ? v : "");
  }
  va_end (ap);
  g_ptr_array_add (t->rows, row);
}

/* Prints and frees @t: columns padded to their widest cell (in characters). */
static void
table_print (Table *t)
{
  g_autofree glong *w = g_new0 (glong, t->ncols);
  for (guint r = 0; r < t->rows->len; r++) {
    char **row = g_ptr_array_index (t->rows, r);
    for (guint i = 0; i < t->ncols; i++)
      w[i] = MAX (w[i], g_utf8_strlen (row[i], -1));
  }
  for (guint r = 0; r < t->rows->len; r++) {
    char **row = g_ptr_array_index (t->rows, r);
    g_autoptr (GString) line = g_string_new (NULL);
    for (guint i = 0; i < t->ncols; i++) {
      g_string_append (line, row[i]);
      if (i + 1 < t->ncols)
        for (glong pad = g_utf8_strlen (row[i], -1); pad < w[i] + 2; pad++)
          g_string_append_c (line, ' ');
    }
    while (line->len > 0 && line->str[line->len - 1] == ' ')
      g_string_truncate (line, line->len - 1);
    printf ("%s\n", line->str);
  }
  g_ptr_array_unref (t->rows);
  g_free (t);
}

static char *
node_text (JsonNode *n)
{
  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    return g_strdup ("-");
  if (JSON_NODE_HOLDS_VALUE (n)) {
    GType t = json_node_get_value_type (n);
    if (t == G_TYPE_STRING)
      return g_strdup (json_node_get_string (n));
    if (t == G_TYPE_INT64)
      return g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (n));
    if (t == G_TYPE_BOOLEAN)
      return g_strdup (json_node_get_boolean (n) ? "yes" : "no");
    return g_strdup_printf ("%g", json_node_get_double (n));
  }
  if (JSON_NODE_HOLDS_ARRAY (n)) {
    JsonArray *a = json_node_get_array (n);
    g_autoptr (GString) s = g_string_new (NULL);
    for (guint i = 0; i < json_array_get_length (a); i++) {
      g_autofree char *e = node_text (json_array_get_element (a, i));
      g_string_append_printf (s, "%s%s", i ? ", " : "", e);
    }
    return s->len ? g_strdup (s->str) : g_strdup ("-");
  }
  return json_to_string (n, FALSE);
}

static char *
member_text (JsonObject *o, const char *name)
{
  return node_text (o ? json_object_get_member (o, name) : NULL);
}

static JsonObject *
member_object (JsonObject *o, const char *name)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;
  return n && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

static JsonArray *
member_array (JsonObject *o, const char *name)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;
  return n && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
}

/* Any object as "key  value" lines, nested objects with dotted keys. */
static void
add_flat (Table *t, const char *prefix, JsonObject *o)
{
  g_autoptr (GList) names = json_object_get_members (o);
  for (GList *l = names; l; l = l->next) {
    g_autofree char *key
        = prefix ? g_strdup_printf ("%s.%s", prefix, (char *)l->data) : g_strdup (l->data);
    JsonNode *n = json_object_get_member (o, l->data);
    if (JSON_NODE_HOLDS_OBJECT (n)) {
      add_flat (t, key, json_node_get_object (n));
      continue;
    }
    g_autofree char *v = node_text (n);
    table_add (t, key, v);
  }
}

/* ---------------------------------------------------------------- human output per method */

static void
print_status (JsonObject *r)
{
  Table *t = table_new (2);
  const char *keys[] = { "version", "pid", "started", "config", "admin_clients" };
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++) {
    g_autofree char *v = member_text (r, keys[i]);
    table_add (t, keys[i], v);
  }
  gint64 up = json_object_get_int_member_with_default (r, "uptime_s", 0);
  g_autofree char *uptime = g_strdup_printf ("%" G_GINT64_FORMAT "d %02" G_GINT64_FORMAT
                                             ":%02" G_GINT64_FORMAT ":%02" G_GINT64_FORMAT,
                                             up / 86400, up / 3600 % 24, up / 60 % 60, up % 60);
  table_add (t, "uptime", uptime);
  JsonObject *core = member_object (r, "core");
  g_autofree char *pending = member_text (core, "pending");
  g_autofree char *queued = member_text (core, "queued");
  g_autofree char *corev = g_strdup_printf ("%s pending, %s queued", pending, queued);
  table_add (t, "core", corev);
  table_print (t);
  printf ("\n");
  JsonObject *links = member_object (r, "links");
  t = table_new (3);
  table_add (t, "LINK", "STATE", "DETAIL");
  JsonObject *x = member_object (links, "xmpp");
  g_autofree char *xs = member_text (x, "state");
  g_autofree char *xc = member_text (x, "component");
  g_autofree char *xh = member_text (x, "server");
  g_autofree char *xp = member_text (x, "port");
  g_autofree char *xd = g_strdup_printf ("component %s via %s:%s", xc, xh, xp);
  table_add (t, "xmpp", xs, xd);
  JsonObject *s = member_object (links, "sip");
  g_autofree char *ss = member_text (s, "state");
  g_autofree char *sb = member_text (s, "bind");
  g_autofree char *sp = member_text (s, "port");
  g_autofree char *st = member_text (s, "transports");
  g_autofree char *sd = g_strdup_printf ("%s:%s (%s)", sb, sp, st);
  table_add (t, "sip", ss, sd);
  g_autofree char *rs = member_text (member_object (links, "redis"), "state");
  table_add (t, "redis", rs, "offline store");
  table_print (t);
}

static void
print_stats (JsonObject *r)
{
  Table *t = table_new (3);
  table_add (t, "DIRECTION", "OUTCOME", "COUNT");
  const char *dirs[] = { "sip_to_xmpp", "xmpp_to_sip" };
  for (gsize d = 0; d < G_N_ELEMENTS (dirs); d++) {
    JsonObject *o = member_object (r, dirs[d]);
    if (o == NULL)
      continue;
    g_autoptr (GList) names = json_object_get_members (o);
    for (GList *l = names; l; l = l->next) {
      if (strcmp (l->data, "errors") == 0)
        continue;
      g_autofree char *v = member_text (o, l->data);
      table_add (t, dirs[d], l->data, v);
    }
    JsonObject *e = member_object (o, "errors");
    g_autoptr (GList) errs = e ? json_object_get_members (e) : NULL;
    for (GList *l = errs; l; l = l->next) {
      g_autofree char *v = member_text (e, l->data);
      g_autofree char *what = g_strdup_printf ("error: %s", (char *)l->data);
      table_add (t, dirs[d], what, v);
    }
  }
  table_print (t);
  printf ("\n");
  t = table_new (2);
  table_add (t, "ADAPTER COUNTER", "VALUE");
  const char *sections[] = { "xmpp", "sip", "core" };
  for (gsize i = 0; i < G_N_ELEMENTS (sections); i++) {
    JsonObject *o = member_object (r, sections[i]);
    if (o)
      add_flat (t, sections[i], o);
  }
  table_print (t);
}

static void
print_queues (JsonObject *r, const char *key)
{
  JsonArray *a = member_array (r, key);
  if (a == NULL || json_array_get_length (a) == 0) {
    printf ("no parked messages\n");
    return;
  }
  Table *t = table_new (3);
  table_add (t, "USER", "COUNT", "OLDEST");
  for (guint i = 0; i < json_array_get_length (a); i++) {
    JsonObject *o = json_array_get_object_element (a, i);
    g_autofree char *u = member_text (o, "user");
    g_autofree char *c = member_text (o, "count");
    g_autofree char *w = member_text (o, "oldest");
    table_add (t, u, c, w);
  }
  g_autofree char *total = member_text (r, "total");
  table_add (t, "total", total, "");
  table_print (t);
}

static void
print_list (JsonObject *r, const char *key, const char *empty)
{
  JsonArray *a = member_array (r, key);
  for (guint i = 0; a && i < json_array_get_length (a); i++) {
    g_autofree char *v = node_text (json_array_get_element (a, i));
    printf ("%s\n", v);
  }
  if ((a == NULL || json_array_get_length (a) == 0) && empty)
    printf ("%s\n", empty);
}

static void
print_human (const char *method, JsonNode *result)
{
  JsonObject *r = JSON_NODE_HOLDS_OBJECT (result) ? json_node_get_object (result) : NULL;
  if (r == NULL) {
    g_autofree char *v = node_text (result);
    printf ("%s\n", v);
  } else if (strcmp (method, "status") == 0) {
    print_status (r);
  } else if (strcmp (method, "stats") == 0) {
    print_stats (r);
  } else if (strcmp (method, "metrics") == 0) {
    fputs (json_object_get_string_member_with_default (r, "text", ""), stdout);
  } else if (strcmp (method, "queue.list") == 0 || strcmp (method, "queue.show") == 0) {
    print_queues (r, "queues");
  } else if (strcmp (method, "queue.purge") == 0) {
    print_queues (r, "purged");
  } else if (strcmp (method, "log.level") == 0) {
    print_list (r, "levels", "no run-time log levels set ([daemon] debug_domains applies)");
  } else if (strcmp (method, "sessions.list") == 0) {
    print_list (r, "sessions", NULL);
    if (json_object_has_member (r, "note"))
      printf ("%s\n", json_object_get_string_member (r, "note"));
  } else if (strcmp (method, "config.reload") == 0) {
    g_autofree char *file = member_text (r, "file");
    printf ("reloaded %s\n", file);
    Table *t = table_new (2);
    table_add (t, "KEY", "STATUS");
    JsonArray *a = member_array (r, "applied");
    for (guint i = 0; a && i < json_array_get_length (a); i++)
      table_add (t, json_array_get_string_element (a, i), "applied");
    a = member_array (r, "restart_required");
    for (guint i = 0; a && i < json_array_get_length (a); i++)
      table_add (t, json_array_get_string_element (a, i), "needs a restart (old value kept)");
    if (t->rows->len == 1)
      table_add (t, "(none)", "nothing changed");
    table_print (t);
  } else if (strcmp (method, "help") == 0) {
    Table *t = table_new (3);
    table_add (t, "METHOD", "PARAMS", "WHAT");
    JsonArray *a = member_array (r, "methods");
    for (guint i = 0; a && i < json_array_get_length (a); i++) {
      JsonObject *o = json_array_get_object_element (a, i);
      g_autofree char *n = member_text (o, "name");
      g_autofree char *p = member_text (o, "params");
      g_autofree char *s = member_text (o, "summary");
      table_add (t, n, strcmp (p, "-") ? p : "", s);
    }
    table_print (t);
  } else {
    Table *t = table_new (2);
    add_flat (t, NULL, r);
    table_print (t);
  }
}

/* ---------------------------------------------------------------- the exchange */

static GSocketConnection *
connect_socket (const char *path, int *exit_code)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketAddress) addr = g_unix_socket_address_new (path);
  g_autoptr (GError) error = NULL;
  GSocketConnection *conn
      = g_socket_client_connect (client, G_SOCKET_CONNECTABLE (addr), NULL, &error);
  if (conn != NULL)
    return conn;
  *exit_code = EXIT_CONNECT;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    g_printerr ("parleyctl: no admin socket at %s: parleyd not running? (or its [admin] "
                "socket is elsewhere: use --socket)\n",
                path);
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED))
    g_printerr ("parleyctl: nothing listens on %s: parleyd not running? (stale socket)\n", path);
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED))
    g_printerr ("parleyctl: access denied to %s: run as root, as parleyd's user, or as a "
                "member of the socket's group\n",
                path);
  else
    g_printerr ("parleyctl: cannot connect to %s: %s\n", path, error->message);
  return NULL;
}

/* One line from @sock, '\n' excluded; NULL on EOF/timeout/error (message printed if
 * @verbose). */
static char *
read_line (GSocket *sock, gboolean verbose)
{
  g_autoptr (GString) buf = g_string_new (NULL);
  char chunk[16384];
  for (;;) {
    char *nl = memchr (buf->str, '\n', buf->len);
    if (nl)
      return g_strndup (buf->str, (gsize)(nl - buf->str));
    g_autoptr (GError) error = NULL;
    gssize n = g_socket_receive (sock, chunk, sizeof chunk, NULL, &error);
    if (n < 0) {
      if (verbose)
        g_printerr ("parleyctl: %s\n", g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)
                                           ? "timed out waiting for parleyd's answer"
                                           : error->message);
      return NULL;
    }
    if (n == 0) {
      if (buf->len > 0)
        return g_string_free (g_steal_pointer (&buf), FALSE);
      if (verbose)
        g_printerr ("parleyctl: parleyd closed the connection without an answer\n");
      return NULL;
    }
    if (buf->len + (gsize)n > MAX_ANSWER) {
      g_printerr ("parleyctl: answer larger than %d bytes\n", MAX_ANSWER);
      return NULL;
    }
    g_string_append_len (buf, chunk, n);
  }
}

static char *
build_request (const char *method, char **params)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "jsonrpc");
  json_builder_add_string_value (b, "2.0");
  json_builder_set_member_name (b, "id");
  json_builder_add_int_value (b, 1);
  json_builder_set_member_name (b, "method");
  json_builder_add_string_value (b, method);
  json_builder_set_member_name (b, "params");
  json_builder_begin_array (b);
  for (guint i = 0; params && params[i]; i++)
    json_builder_add_string_value (b, params[i]);
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *text = json_to_string (root, FALSE);
  return g_strconcat (text, "\n", NULL);
}

static void
print_json (JsonNode *n)
{
  g_autofree char *text = json_to_string (n, TRUE);
  printf ("%s\n", text);
}

int
main (int argc, char **argv)
{
  g_autofree char *socket_path = NULL;
  gboolean as_json = FALSE;
  int timeout_s = 10;
  GOptionEntry entries[] = {
    { "socket", 's', 0, G_OPTION_ARG_FILENAME, &socket_path,
      "Admin socket (default $PARLEY_ADMIN_SOCKET or " DEFAULT_SOCKET ")", "PATH" },
    { "json", 'j', 0, G_OPTION_ARG_NONE, &as_json, "Print the raw JSON result", NULL },
    { "timeout", 't', 0, G_OPTION_ARG_INT, &timeout_s, "Seconds to wait for the answer (10)", "S" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("METHOD [ARGS...]");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_summary (
      ctx, "Talks to a running parleyd over its admin socket (docs/admin.md).\n\n"
           "Methods: status, stats, sessions list, sessions close ID, queue list,\n"
           "  queue show USER, queue flush USER, queue purge USER, presence show USER,\n"
           "  log level [DOMAIN LEVEL], config reload, metrics, help\n\n"
           "Exit codes: 0 ok, 1 error answer, 2 usage, 3 cannot connect, 4 bad or no answer");
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("parleyctl: %s (try --help)\n", error->message);
    return EXIT_USAGE;
  }
  if (argc < 2) {
    g_printerr ("parleyctl: which method? (try --help)\n");
    return EXIT_USAGE;
  }
  if (timeout_s <= 0) {
    g_printerr ("parleyctl: --timeout must be positive\n");
    return EXIT_USAGE;
  }
  /* "queue show X" and "queue.show X" are the same request */
  g_autofree char *method = NULL;
  int first = 2;
  if (strchr (argv[1], '.') == NULL && g_strv_contains (groups, argv[1])) {
    if (argc < 3) {
      g_printerr ("parleyctl: '%s' needs a sub-command (try --help)\n", argv[1]);
      return EXIT_USAGE;
    }
    method = g_strdup_printf ("%s.%s", argv[1], argv[2]);
    first = 3;
  } else {
    method = g_strdup (argv[1]);
  }
  if (socket_path == NULL)
    socket_path = g_strdup (g_getenv ("PARLEY_ADMIN_SOCKET") ? g_getenv ("PARLEY_ADMIN_SOCKET")
                                                             : DEFAULT_SOCKET);

  int code = 0;
  g_autoptr (GSocketConnection) conn = connect_socket (socket_path, &code);
  if (conn == NULL)
    return code;
  GSocket *sock = g_socket_connection_get_socket (conn);
  g_socket_set_timeout (sock, (guint)timeout_s);
  g_autofree char *request = build_request (method, argv + first);
  /* A refusal (credentials, too many clients) may close the socket before the request is
   * written: the error line is still there to read, so a failed write is not the end. */
  gboolean sent = g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)),
                                             request, strlen (request), NULL, NULL, &error);
  g_autofree char *line = read_line (sock, sent);
  if (line == NULL) {
    if (!sent)
      g_printerr ("parleyctl: sending to %s: %s\n", socket_path, error->message);
    return EXIT_ANSWER;
  }
  g_clear_error (&error);
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, line, -1, &error)
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))) {
    g_printerr ("parleyctl: not a JSON-RPC answer: %s\n", error ? error->message : line);
    return EXIT_ANSWER;
  }
  JsonObject *answer = json_node_get_object (json_parser_get_root (parser));
  JsonNode *err = json_object_get_member (answer, "error");
  if (err && JSON_NODE_HOLDS_OBJECT (err)) {
    JsonObject *e = json_node_get_object (err);
    gint64 ecode = json_object_get_int_member_with_default (e, "code", 0);
    const char *msg = json_object_get_string_member_with_default (e, "message", "?");
    if (as_json) {
      print_json (err);
    } else {
      g_printerr ("parleyctl: %s: %s (%" G_GINT64_FORMAT ")\n", method, msg, ecode);
      JsonArray *problems = member_array (member_object (e, "data"), "problems");
      for (guint i = 0; problems && i < json_array_get_length (problems); i++)
        g_printerr ("  %s\n", json_array_get_string_element (problems, i));
    }
    /* the socket refused us before reading the request (credentials, too many clients) */
    if (ecode == -32003)
      return EXIT_CONNECT;
    return EXIT_RPC_ERROR;
  }
  JsonNode *result = json_object_get_member (answer, "result");
  if (result == NULL) {
    g_printerr ("parleyctl: answer without result or error: %s\n", line);
    return EXIT_ANSWER;
  }
  if (as_json)
    print_json (result);
  else
    print_human (method, result);
  return 0;
}
