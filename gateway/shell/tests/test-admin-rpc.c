/* gateway/shell/tests/test-admin-rpc.c - JSON-RPC 2.0 framing and dispatch, run-time levels.
 *
 * Includes admin-rpc.c and admin-log.c (no sockets, no daemon): a fake method table answers
 * now or later, and a sink collects the answer lines as the socket code would write them.
 */
#include "../admin-log.c"
#include "../admin-rpc.c"

typedef struct {
  GPtrArray *lines; /* answers, in order */
  GHashTable *calls;
  PrlAdminCall *held; /* a call answered later */
} Fixture;

static void
on_send (gpointer owner, guint64 client_id, char *line)
{
  Fixture *f = owner;
  g_assert_cmpuint (client_id, ==, 7);
  g_assert_true (g_str_has_suffix (line, "\n"));
  g_assert_null (strchr (line, '\n') + 1 == line + strlen (line) ? NULL : "embedded newline");
  g_ptr_array_add (f->lines, line);
}

static void
m_echo (PrlAdminCall *call, JsonObject *args, gpointer context)
{
  const char *who = json_object_get_string_member_with_default (args, "who", "nobody");
  JsonNode *n = json_node_new (JSON_NODE_VALUE);
  json_node_set_string (n, who);
  prl_admin_call_return (call, n);
}

static void
m_fail (PrlAdminCall *call, JsonObject *args, gpointer context)
{
  prl_admin_call_error (call, PRL_ADMIN_NOT_CONFIGURED, "offline store not configured");
}

static void
m_later (PrlAdminCall *call, JsonObject *args, gpointer context)
{
  ((Fixture *)context)->held = call;
}

static const PrlAdminMethod methods[] = {
  { "echo", m_echo, { "who", "extra", NULL }, 1, "" },
  { "opt", m_echo, { "who", NULL }, 0, "" },
  { "fail", m_fail, { NULL }, 0, "" },
  { "later", m_later, { NULL }, 0, "" },
  { NULL },
};

static void
setup (Fixture *f, gconstpointer data)
{
  f->lines = g_ptr_array_new_with_free_func (g_free);
  f->calls = g_hash_table_new (g_direct_hash, g_direct_equal);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  g_ptr_array_unref (f->lines);
  g_assert_cmpuint (g_hash_table_size (f->calls), ==, 0);
  g_hash_table_unref (f->calls);
}

/* Dispatches @req; returns the one answer parsed ("" for none). */
static JsonNode *
ask (Fixture *f, const char *req)
{
  PrlAdminRpcSink sink = { on_send, f, f->calls };
  guint before = f->lines->len;
  prl_admin_rpc_dispatch (methods, f, req, strlen (req), &sink, 7);
  if (f->lines->len == before)
    return NULL;
  g_assert_cmpuint (f->lines->len, ==, before + 1);
  return json_from_string (g_ptr_array_index (f->lines, before), NULL);
}

static gint64
error_code (JsonNode *answer)
{
  g_assert_nonnull (answer);
  JsonObject *o = json_node_get_object (answer);
  g_assert_cmpstr (json_object_get_string_member (o, "jsonrpc"), ==, "2.0");
  g_assert_true (json_object_has_member (o, "id"));
  JsonObject *e = json_object_get_object_member (o, "error");
  g_assert_nonnull (e);
  g_assert_nonnull (json_object_get_string_member (e, "message"));
  return json_object_get_int_member (e, "code");
}

static void
test_results (Fixture *f, gconstpointer data)
{
  g_autoptr (JsonNode) a
      = ask (f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":[\"alice\"]}");
  JsonObject *o = json_node_get_object (a);
  g_assert_cmpint (json_object_get_int_member (o, "id"), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (o, "result"), ==, "alice");
  g_autoptr (JsonNode) b = ask (
      f, "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"echo\",\"params\":{\"who\":\"bob\"}}");
  o = json_node_get_object (b);
  g_assert_cmpstr (json_object_get_string_member (o, "id"), ==, "x");
  g_assert_cmpstr (json_object_get_string_member (o, "result"), ==, "bob");
  g_autoptr (JsonNode) c = ask (f, "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"opt\"}");
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (c), "result"), ==,
                   "nobody");
  /* a notification gets no answer, not even an error */
  g_assert_null (ask (f, "{\"jsonrpc\":\"2.0\",\"method\":\"opt\"}"));
  g_assert_null (ask (f, "{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}"));
}

static void
test_errors (Fixture *f, gconstpointer data)
{
  const struct {
    const char *req;
    gint64 code;
  } cases[] = {
    { "{not json", PRL_ADMIN_PARSE_ERROR },
    { "\xff\xfe", PRL_ADMIN_PARSE_ERROR },
    { "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"opt\"}]", PRL_ADMIN_INVALID_REQUEST },
    { "42", PRL_ADMIN_INVALID_REQUEST },
    { "{\"id\":1,\"method\":\"opt\"}", PRL_ADMIN_INVALID_REQUEST },
    { "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"opt\"}", PRL_ADMIN_INVALID_REQUEST },
    { "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"opt\"}", PRL_ADMIN_INVALID_REQUEST },
    { "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", PRL_ADMIN_INVALID_REQUEST },
    { "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"nope\"}", PRL_ADMIN_METHOD_NOT_FOUND },
    { "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"}", PRL_ADMIN_INVALID_PARAMS },
    { "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":[1]}",
      PRL_ADMIN_INVALID_PARAMS },
    { "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":[\"a\",\"b\",\"c\"]}",
      PRL_ADMIN_INVALID_PARAMS },
    { "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":{\"whom\":\"a\"}}",
      PRL_ADMIN_INVALID_PARAMS },
    { "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":\"a\"}",
      PRL_ADMIN_INVALID_PARAMS },
    { "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"fail\"}", PRL_ADMIN_NOT_CONFIGURED },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (JsonNode) a = ask (f, cases[i].req);
    g_assert_cmpint (error_code (a), ==, cases[i].code);
  }
  /* the id is echoed once the request is an object with a valid id */
  g_autoptr (JsonNode) a = ask (f, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"nope\"}");
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (a), "id"), ==, 9);
  g_autofree char *line = prl_admin_rpc_error_line (PRL_ADMIN_DENIED, "no \"way\"\n");
  g_autoptr (JsonNode) b = json_from_string (line, NULL);
  g_assert_cmpint (error_code (b), ==, PRL_ADMIN_DENIED);
}

static void
test_deferred (Fixture *f, gconstpointer data)
{
  g_assert_null (ask (f, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"later\"}"));
  g_assert_nonnull (f->held);
  g_assert_cmpuint (g_hash_table_size (f->calls), ==, 1);
  g_assert_cmpstr (prl_admin_call_method (f->held), ==, "later");
  prl_admin_call_return (g_steal_pointer (&f->held), NULL);
  g_assert_cmpuint (f->lines->len, ==, 1);
  g_assert_nonnull (strstr (g_ptr_array_index (f->lines, 0), "\"result\":null"));
  /* the owner goes away before the answer: it is dropped, the call still freed */
  g_assert_null (ask (f, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"later\"}"));
  prl_admin_rpc_detach_all (f->calls);
  prl_admin_call_error (g_steal_pointer (&f->held), PRL_ADMIN_FAILED, "late");
  g_assert_cmpuint (f->lines->len, ==, 1);
}

static void
test_log_levels (void)
{
  prl_admin_log_reset ();
  char *cfg[] = { "parley-sip", NULL };
  prl_admin_log_set_config_domains (cfg);
  g_assert_true (prl_admin_log_would_show ("parley-sip", G_LOG_LEVEL_DEBUG));
  g_assert_false (prl_admin_log_would_show ("parley-core", G_LOG_LEVEL_DEBUG));
  g_assert_true (prl_admin_log_would_show ("parley-core", G_LOG_LEVEL_WARNING));
  g_autoptr (GError) error = NULL;
  g_assert_true (prl_admin_log_set_level ("parley-core", "info", &error));
  g_assert_true (prl_admin_log_would_show ("parley-core", G_LOG_LEVEL_INFO));
  g_assert_false (prl_admin_log_would_show ("parley-core", G_LOG_LEVEL_DEBUG));
  g_assert_true (prl_admin_log_set_level ("all", "warning", &error));
  g_assert_false (prl_admin_log_would_show ("parley-sip", G_LOG_LEVEL_MESSAGE));
  g_assert_true (prl_admin_log_would_show ("parley-sip", G_LOG_LEVEL_WARNING));
  g_assert_true (prl_admin_log_would_show ("parley-sip", G_LOG_LEVEL_CRITICAL));
  g_auto (GStrv) levels = prl_admin_log_levels ();
  g_assert_cmpuint (g_strv_length (levels), ==, 2);
  g_assert_cmpstr (levels[0], ==, "all=warning");
  g_assert_cmpstr (levels[1], ==, "parley-core=info");
  g_assert_true (prl_admin_log_set_level ("all", "default", &error));
  g_assert_true (prl_admin_log_would_show ("parley-sip", G_LOG_LEVEL_DEBUG));
  g_assert_false (prl_admin_log_set_level ("parley-core", "loud", &error));
  g_assert_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
  g_clear_error (&error);
  g_assert_false (prl_admin_log_set_level ("bad domain", "debug", &error));
  prl_admin_log_reset ();
}

/* The hot paths' gates follow every decision input, and agree with the writer. */
static void
test_log_gates (void)
{
  prl_admin_log_reset ();
  g_assert_true (prl_log_gate_shows (PRL_LOG_GATE_SIP, G_LOG_LEVEL_DEBUG)); /* unset: open */
  char *cfg[] = { "parley-sip", NULL };
  prl_admin_log_set_config_domains (cfg);
  g_assert_true (prl_log_gate_shows (PRL_LOG_GATE_SIP, G_LOG_LEVEL_DEBUG));
  g_assert_false (prl_log_gate_shows (PRL_LOG_GATE_XMPP, G_LOG_LEVEL_DEBUG));
  g_assert_false (prl_log_gate_shows (PRL_LOG_GATE_STROPHE, G_LOG_LEVEL_INFO));
  g_assert_true (prl_log_gate_shows (PRL_LOG_GATE_XMPP, G_LOG_LEVEL_MESSAGE));
  g_assert_true (prl_log_gate_shows (PRL_LOG_GATE_XMPP, G_LOG_LEVEL_WARNING));
  g_autoptr (GError) error = NULL;
  g_assert_true (prl_admin_log_set_level ("parley-strophe", "info", &error));
  g_assert_true (prl_log_gate_shows (PRL_LOG_GATE_STROPHE, G_LOG_LEVEL_INFO));
  g_assert_false (prl_log_gate_shows (PRL_LOG_GATE_STROPHE, G_LOG_LEVEL_DEBUG));
  g_assert_true (prl_admin_log_set_level ("all", "debug", &error));
  g_assert_true (prl_log_gate_shows (PRL_LOG_GATE_XMPP, G_LOG_LEVEL_DEBUG));
  g_assert_false (prl_log_gate_shows (PRL_LOG_GATE_STROPHE, G_LOG_LEVEL_DEBUG));
  g_assert_true (prl_admin_log_set_level ("parley-sip", "message", &error));
  g_assert_false (prl_log_gate_shows (PRL_LOG_GATE_SIP, G_LOG_LEVEL_DEBUG));
  for (PrlLogGate g = 0; g < PRL_LOG_GATE_N; g++)
    for (guint l = G_LOG_LEVEL_ERROR; l <= G_LOG_LEVEL_DEBUG; l <<= 1)
      g_assert_cmpint (prl_log_gate_shows (g, l), ==,
                       prl_admin_log_would_show (prl_log_gate_domain (g), l));
  prl_admin_log_reset ();
  g_assert_true (prl_log_gate_shows (PRL_LOG_GATE_XMPP, G_LOG_LEVEL_DEBUG));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/shell/admin-rpc/results", Fixture, NULL, setup, test_results, teardown);
  g_test_add ("/shell/admin-rpc/errors", Fixture, NULL, setup, test_errors, teardown);
  g_test_add ("/shell/admin-rpc/deferred", Fixture, NULL, setup, test_deferred, teardown);
  g_test_add_func ("/shell/admin-log/levels", test_log_levels);
  g_test_add_func ("/shell/admin-log/gates", test_log_gates);
  return g_test_run ();
}
