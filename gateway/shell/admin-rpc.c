/* gateway/shell/admin-rpc.c - JSON-RPC 2.0 framing and dispatch (see admin-rpc.h).
 *
 * DESIGN: a request is checked in the order JSON-RPC 2.0 implies: JSON at all (-32700), then
 * the shape of a request object (-32600; batches are refused here too, one request per line
 * is the protocol of this socket), then the method (-32601), then the params (-32602). The
 * id is echoed only when it is valid (string, number or null); otherwise the answer carries
 * id null. All JSON goes through json-glib; a generator never emits raw newlines inside a
 * line (strings are escaped), so one answer is always exactly one line.
 *
 * Ownership: a PrlAdminCall owns a copy of the request id and sits in the sink's `calls` set
 * until it is answered; answering frees it.
 */
#include "gateway/shell/admin-rpc.h"

#include <string.h>

struct _PrlAdminCall {
  JsonNode *id; /* NULL for a notification */
  char *method;
  guint64 client_id;
  PrlAdminRpcSink sink; /* sink.send NULL once detached */
};

char *
prl_admin_rpc_to_line (JsonNode *node)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, node);
  gsize len = 0;
  g_autofree char *text = json_generator_to_data (gen, &len);
  return g_strconcat (text, "\n", NULL);
}

static JsonNode *
error_node (JsonNode *id, int code, const char *message, JsonNode *data)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "jsonrpc");
  json_builder_add_string_value (b, "2.0");
  json_builder_set_member_name (b, "id");
  if (id)
    json_builder_add_value (b, json_node_copy (id));
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "error");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "code");
  json_builder_add_int_value (b, code);
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, message);
  if (data) {
    json_builder_set_member_name (b, "data");
    json_builder_add_value (b, data);
  }
  json_builder_end_object (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

char *
prl_admin_rpc_error_line (int code, const char *message)
{
  g_autoptr (JsonNode) node = error_node (NULL, code, message, NULL);
  return prl_admin_rpc_to_line (node);
}

static void
send_line (const PrlAdminRpcSink *sink, guint64 client_id, char *line)
{
  if (sink->send)
    sink->send (sink->owner, client_id, line);
  else
    g_free (line);
}

static void
call_free (PrlAdminCall *call)
{
  if (call->sink.calls)
    g_hash_table_remove (call->sink.calls, call);
  g_clear_pointer (&call->id, json_node_unref);
  g_free (call->method);
  g_free (call);
}

void
prl_admin_call_return (PrlAdminCall *call, JsonNode *result)
{
  g_return_if_fail (call != NULL);
  g_autoptr (JsonNode) res = result ? result : json_node_new (JSON_NODE_NULL);
  if (call->id != NULL) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "jsonrpc");
    json_builder_add_string_value (b, "2.0");
    json_builder_set_member_name (b, "id");
    json_builder_add_value (b, json_node_copy (call->id));
    json_builder_set_member_name (b, "result");
    json_builder_add_value (b, g_steal_pointer (&res));
    json_builder_end_object (b);
    g_autoptr (JsonNode) root = json_builder_get_root (b);
    send_line (&call->sink, call->client_id, prl_admin_rpc_to_line (root));
  }
  call_free (call);
}

void
prl_admin_call_error_data (PrlAdminCall *call, int code, JsonNode *data, const char *fmt, ...)
{
  g_return_if_fail (call != NULL);
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *message = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  if (call->id != NULL) {
    g_autoptr (JsonNode) node = error_node (call->id, code, message, data);
    send_line (&call->sink, call->client_id, prl_admin_rpc_to_line (node));
  } else if (data) {
    json_node_unref (data);
  }
  call_free (call);
}

const char *
prl_admin_call_method (PrlAdminCall *call)
{
  return call->method;
}

guint64
prl_admin_call_client (PrlAdminCall *call)
{
  return call->client_id;
}

void
prl_admin_rpc_detach_all (GHashTable *calls)
{
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init (&it, calls);
  while (g_hash_table_iter_next (&it, &key, NULL)) {
    PrlAdminCall *call = key;
    call->sink.send = NULL;
    call->sink.calls = NULL;
    g_hash_table_iter_remove (&it);
  }
}

static void
reply_error (const PrlAdminRpcSink *sink, guint64 client_id, JsonNode *id, int code,
             const char *message)
{
  g_autoptr (JsonNode) node = error_node (id, code, message, NULL);
  send_line (sink, client_id, prl_admin_rpc_to_line (node));
}

static const PrlAdminMethod *
find_method (const PrlAdminMethod *methods, const char *name)
{
  for (const PrlAdminMethod *m = methods; m->name; m++)
    if (strcmp (m->name, name) == 0)
      return m;
  return NULL;
}

static guint
n_params (const PrlAdminMethod *m)
{
  guint n = 0;
  while (n < G_N_ELEMENTS (m->params) && m->params[n])
    n++;
  return n;
}

static gboolean
is_param (const PrlAdminMethod *m, const char *name)
{
  for (guint i = 0; i < n_params (m); i++)
    if (strcmp (m->params[i], name) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
is_string (JsonNode *n)
{
  return JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING;
}

/* params (absent, array or object) -> a fresh object of strings; NULL with @why on error. */
static JsonObject *
normalise_params (const PrlAdminMethod *m, JsonNode *params, char **why)
{
  g_autoptr (JsonObject) args = json_object_new ();
  guint n = n_params (m);
  if (params == NULL || JSON_NODE_HOLDS_NULL (params)) {
    /* no params */
  } else if (JSON_NODE_HOLDS_ARRAY (params)) {
    JsonArray *a = json_node_get_array (params);
    if (json_array_get_length (a) > n) {
      *why = g_strdup_printf ("%s takes at most %u params", m->name, n);
      return NULL;
    }
    for (guint i = 0; i < json_array_get_length (a); i++) {
      JsonNode *v = json_array_get_element (a, i);
      if (!is_string (v)) {
        *why = g_strdup_printf ("param %u (%s) must be a string", i + 1, m->params[i]);
        return NULL;
      }
      json_object_set_string_member (args, m->params[i], json_node_get_string (v));
    }
  } else if (JSON_NODE_HOLDS_OBJECT (params)) {
    JsonObject *o = json_node_get_object (params);
    g_autoptr (GList) names = json_object_get_members (o);
    for (GList *l = names; l; l = l->next) {
      if (!is_param (m, l->data)) {
        *why = g_strdup_printf ("%s has no param '%s'", m->name, (const char *)l->data);
        return NULL;
      }
      JsonNode *v = json_object_get_member (o, l->data);
      if (!is_string (v)) {
        *why = g_strdup_printf ("param '%s' must be a string", (const char *)l->data);
        return NULL;
      }
      json_object_set_string_member (args, l->data, json_node_get_string (v));
    }
  } else {
    *why = g_strdup ("params must be an array or an object");
    return NULL;
  }
  for (guint i = 0; i < m->n_required; i++) {
    if (!json_object_has_member (args, m->params[i])
        || json_object_get_string_member (args, m->params[i])[0] == '\0') {
      *why = g_strdup_printf ("%s needs param '%s'", m->name, m->params[i]);
      return NULL;
    }
  }
  return g_steal_pointer (&args);
}

void
prl_admin_rpc_dispatch (const PrlAdminMethod *methods, gpointer context, const char *line,
                        gsize len, const PrlAdminRpcSink *sink, guint64 client_id)
{
  g_return_if_fail (methods != NULL && sink != NULL);
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) error = NULL;
  if (!g_utf8_validate_len (line, len, NULL)) {
    reply_error (sink, client_id, NULL, PRL_ADMIN_PARSE_ERROR, "parse error: invalid UTF-8");
    return;
  }
  if (!json_parser_load_from_data (parser, line, (gssize)len, &error)) {
    g_autofree char *msg = g_strdup_printf ("parse error: %s", error->message);
    reply_error (sink, client_id, NULL, PRL_ADMIN_PARSE_ERROR, msg);
    return;
  }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL) {
    reply_error (sink, client_id, NULL, PRL_ADMIN_PARSE_ERROR, "parse error: empty request");
    return;
  }
  if (JSON_NODE_HOLDS_ARRAY (root)) {
    reply_error (sink, client_id, NULL, PRL_ADMIN_INVALID_REQUEST,
                 "batch requests are not supported: send one object per line");
    return;
  }
  if (!JSON_NODE_HOLDS_OBJECT (root)) {
    reply_error (sink, client_id, NULL, PRL_ADMIN_INVALID_REQUEST,
                 "invalid request: not an object");
    return;
  }
  JsonObject *req = json_node_get_object (root);
  JsonNode *id = json_object_get_member (req, "id");
  gboolean is_notification = id == NULL;
  if (id && !JSON_NODE_HOLDS_NULL (id)) {
    GType t = JSON_NODE_HOLDS_VALUE (id) ? json_node_get_value_type (id) : G_TYPE_INVALID;
    if (t != G_TYPE_STRING && t != G_TYPE_INT64 && t != G_TYPE_DOUBLE) {
      reply_error (sink, client_id, NULL, PRL_ADMIN_INVALID_REQUEST,
                   "invalid request: id must be a string, a number or null");
      return;
    }
  }
  JsonNode *version = json_object_get_member (req, "jsonrpc");
  if (version == NULL || !is_string (version)
      || strcmp (json_node_get_string (version), "2.0") != 0) {
    reply_error (sink, client_id, id, PRL_ADMIN_INVALID_REQUEST,
                 "invalid request: \"jsonrpc\" must be \"2.0\"");
    return;
  }
  JsonNode *method = json_object_get_member (req, "method");
  if (method == NULL || !is_string (method)) {
    reply_error (sink, client_id, id, PRL_ADMIN_INVALID_REQUEST,
                 "invalid request: \"method\" must be a string");
    return;
  }
  const char *name = json_node_get_string (method);
  const PrlAdminMethod *m = find_method (methods, name);
  if (m == NULL) {
    if (!is_notification) {
      g_autofree char *msg = g_strdup_printf ("method not found: %s", name);
      reply_error (sink, client_id, id, PRL_ADMIN_METHOD_NOT_FOUND, msg);
    }
    return;
  }
  g_autofree char *why = NULL;
  g_autoptr (JsonObject) args = normalise_params (m, json_object_get_member (req, "params"), &why);
  if (args == NULL) {
    if (!is_notification)
      reply_error (sink, client_id, id, PRL_ADMIN_INVALID_PARAMS, why);
    return;
  }
  PrlAdminCall *call = g_new0 (PrlAdminCall, 1);
  call->id = is_notification ? NULL : json_node_copy (id);
  call->method = g_strdup (name);
  call->client_id = client_id;
  call->sink = *sink;
  if (sink->calls)
    g_hash_table_add (sink->calls, call);
  m->func (call, args, context);
}
