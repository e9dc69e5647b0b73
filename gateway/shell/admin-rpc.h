/* gateway/shell/admin-rpc.h - JSON-RPC 2.0 framing and dispatch for the admin socket.
 *
 * Pure: no sockets. prl_admin_rpc_dispatch() takes one request line, validates it against the
 * JSON-RPC 2.0 rules and a method table, normalises the params (positional or named) into a
 * JsonObject of strings and calls the method. A method answers through its PrlAdminCall, at
 * once or later (the offline store answers asynchronously); the answer line goes to the
 * PrlAdminRpcSink, which the socket code (admin.c) looks up by client id, so a client that
 * left before its answer is simply skipped (STYLE.md §3.1: ids, not pointers).
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* JSON-RPC 2.0 error codes, and ours in the -32000.. server range (docs/admin.md). */
typedef enum {
  PRL_ADMIN_PARSE_ERROR = -32700,      /* not JSON */
  PRL_ADMIN_INVALID_REQUEST = -32600,  /* not a request object, batch, or too long */
  PRL_ADMIN_METHOD_NOT_FOUND = -32601, /* unknown method */
  PRL_ADMIN_INVALID_PARAMS = -32602,   /* missing, extra or ill-typed params */
  PRL_ADMIN_INTERNAL_ERROR = -32603,   /* a bug */
  PRL_ADMIN_NOT_CONFIGURED = -32000,   /* the feature is off (offline store, sessions) */
  PRL_ADMIN_NOT_FOUND = -32001,        /* no such session / user */
  PRL_ADMIN_FAILED = -32002,           /* the operation failed (store down, bad config) */
  PRL_ADMIN_DENIED = -32003,           /* peer credentials refused; too many clients */
} PrlAdminErrorCode;

typedef struct _PrlAdminCall PrlAdminCall;

/* Where answers go: @send(@owner, @client_id, @line) with @line (transfer full) ending in
 * '\n'. @calls is the owner's set of unanswered calls (PrlAdminCall*, no free func):
 * prl_admin_rpc_detach_all() makes them answer into the void when the owner goes away. */
typedef struct {
  void (*send) (gpointer owner, guint64 client_id, char *line);
  gpointer owner;
  GHashTable *calls;
} PrlAdminRpcSink;

/* A method: @args holds the params by name (strings only), borrowed for the call. The method
 * must answer @call exactly once, now or later, with prl_admin_call_return/_error. */
typedef void (*PrlAdminMethodFunc) (PrlAdminCall *call, JsonObject *args, gpointer context);

typedef struct {
  const char *name; /* e.g. "queue.show" */
  PrlAdminMethodFunc func;
  const char *params[4]; /* param names in positional order, NULL-terminated */
  guint n_required;      /* the first n_required params must be present */
  const char *summary;   /* one line, for `parleyctl help` and docs */
} PrlAdminMethod;

/* Handles one request line (without its '\n'; need not be NUL-terminated). @methods ends
 * with a { NULL } entry. Errors are answered on @sink; notifications (no "id") get no
 * answer, not even an error, as JSON-RPC 2.0 says. */
void prl_admin_rpc_dispatch (const PrlAdminMethod *methods, gpointer context, const char *line,
                             gsize len, const PrlAdminRpcSink *sink, guint64 client_id);

/* Answers @call with @result (transfer full; NULL means JSON null) and frees the call. */
void prl_admin_call_return (PrlAdminCall *call, JsonNode *result);
/* Answers @call with an error and frees it. @data (transfer full, may be NULL) becomes
 * error.data. */
void prl_admin_call_error_data (PrlAdminCall *call, int code, JsonNode *data, const char *fmt, ...)
    G_GNUC_PRINTF (4, 5);
#define prl_admin_call_error(call, code, ...)                                                      \
  prl_admin_call_error_data (call, code, NULL, __VA_ARGS__)
const char *prl_admin_call_method (PrlAdminCall *call);
guint64 prl_admin_call_client (PrlAdminCall *call);

/* The owner is going away: unanswered calls will drop their answers. */
void prl_admin_rpc_detach_all (GHashTable *calls);

/* An error line with id null (transfer full), for the socket's own refusals. */
char *prl_admin_rpc_error_line (int code, const char *message);
/* Serialises @node (borrowed) on one line, with '\n' (transfer full). */
char *prl_admin_rpc_to_line (JsonNode *node);

G_END_DECLS
