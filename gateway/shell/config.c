/* gateway/shell/config.c - parley.conf: schema, defaults, validation.
 *
 * DESIGN: one table (`schema`) lists every key with its type, default and bounds; loading walks
 * the table, so a key cannot be read without being documented and checked. Problems are
 * collected, not returned at the first one: --check-config prints them all. GKeyFile does not
 * keep line numbers, so a small scan of the raw text (`index_lines`) records where each
 * group/key was written. Unknown groups and keys are errors (a typo must not silently fall
 * back to a default).
 *
 * Ownership: PrlConfig owns everything; the sub-structs are handed to the core and the adapters,
 * which copy what they keep.
 */
#include "gateway/shell/config.h"

#include <grp.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "parley-version.h"

/* clang-format off */
G_DEFINE_QUARK (prl-config-error-quark, prl_config_error)
/* clang-format on */

/* Bytes sofia adds to every MESSAGE besides User-Agent and the lines the core estimates
 * (see load_core). */
#define STACK_HEADER_BYTES 180

typedef enum { T_STRING, T_UINT, T_BOOL, T_LIST, T_ENUM } KeyType;

typedef struct {
  const char *group;
  const char *key;
  KeyType type;
  const char *def;     /* default, as text; NULL = required */
  guint64 min, max;    /* T_UINT bounds */
  const char *choices; /* T_ENUM / T_LIST items, ';'-separated; NULL = free */
} KeySpec;

/* Every key of parley.conf. Keep examples/parley.conf in step (a unit test compares them). */
static const KeySpec schema[] = {
  { "daemon", "debug_domains", T_LIST, "", 0, 0, NULL },
  { "daemon", "trim_interval_s", T_UINT, "10", 0, 3600, NULL },

  { "xmpp", "host", T_STRING, "127.0.0.1", 0, 0, NULL },
  { "xmpp", "port", T_UINT, "5347", 1, 65535, NULL },
  { "xmpp", "component", T_STRING, NULL, 0, 0, NULL },
  { "xmpp", "secret", T_STRING, NULL, 0, 0, NULL },
  { "xmpp", "reconnect_min_ms", T_UINT, "500", 10, 600000, NULL },
  { "xmpp", "reconnect_max_ms", T_UINT, "30000", 10, 3600000, NULL },
  { "xmpp", "disco_name", T_STRING, "Parley SIP gateway", 0, 0, NULL },
  { "xmpp", "domains", T_LIST, "", 0, 0, NULL },

  { "sip", "bind", T_STRING, "127.0.0.1", 0, 0, NULL },
  { "sip", "port", T_UINT, "5060", 0, 65535, NULL },
  { "sip", "transports", T_LIST, "udp;tcp", 0, 0, "udp;tcp" },
  { "sip", "outbound_proxy", T_STRING, "", 0, 0, NULL },
  { "sip", "user_agent", T_STRING, "Parley/" PRL_VERSION, 0, 0, NULL },
  { "sip", "udp_retention_ms", T_UINT, "4000", 500, 32000, NULL },
  { "sip", "dedupe_size", T_UINT, "65536", 16, 16777216, NULL },
  { "sip", "domains", T_LIST, "", 0, 0, NULL },
  { "sip", "reg_event", T_BOOL, "true", 0, 0, NULL },

  { "mapping", "mode", T_ENUM, "direct", 0, 0, "direct;escaped" },
  { "mapping", "sip_domain", T_STRING, "", 0, 0, NULL },

  { "core", "max_message_bytes", T_UINT, "131072", 1, 16777216, NULL },
  { "core", "udp_request_limit", T_UINT, "1300", 600, 65000, NULL },
  { "core", "sip_header_reserve", T_UINT, "400", 0, 4096, NULL },
  { "core", "chunk_over_tcp", T_BOOL, "false", 0, 0, NULL },
  { "core", "part_marker", T_STRING, "[%u/%u] ", 0, 0, NULL },
  { "core", "bounce_window_ms", T_UINT, "200", 0, 10000, NULL },
  { "core", "retry_after_s", T_UINT, "5", 1, 3600, NULL },
  { "core", "max_pending", T_UINT, "10000", 1, 10000000, NULL },
  { "core", "max_queued", T_UINT, "10000", 1, 10000000, NULL },
  { "core", "sip_window", T_UINT, "1", 1, 1024, NULL },
  { "core", "imdn", T_BOOL, "true", 0, 0, NULL },
  { "core", "iscomposing", T_BOOL, "true", 0, 0, NULL },
  { "core", "caps_cache_size", T_UINT, "4096", 1, 10000000, NULL },
  { "core", "caps_cache_ttl_s", T_UINT, "86400", 1, 31536000, NULL },

  { "admin", "socket", T_STRING, "/run/parley/admin.sock", 0, 0, NULL },
  { "admin", "mode", T_ENUM, "0600", 0, 0, "0600;0660" },
  { "admin", "group", T_STRING, "", 0, 0, NULL },
  { "admin", "max_clients", T_UINT, "32", 1, 1024, NULL },
  { "admin", "max_request_bytes", T_UINT, "65536", 256, 16777216, NULL },
  { "admin", "max_output_bytes", T_UINT, "1048576", 65536, 268435456, NULL },
  { "admin", "idle_timeout_s", T_UINT, "300", 1, 86400, NULL },

  { "offline", "store", T_ENUM, "redis", 0, 0, "redis;memory;none" },
  { "offline", "redis_host", T_STRING, "127.0.0.1", 0, 0, NULL },
  { "offline", "redis_port", T_UINT, "6379", 0, 65535, NULL },
  { "offline", "redis_db", T_UINT, "0", 0, 15, NULL },
  { "offline", "redis_prefix", T_STRING, "parley:", 0, 0, NULL },
  { "offline", "instance", T_STRING, "", 0, 0, NULL },
  { "offline", "expiry_s", T_UINT, "604800", 1, 31536000, NULL },
  { "offline", "quota_count", T_UINT, "1000", 0, 10000000, NULL },
  { "offline", "quota_bytes", T_UINT, "1048576", 0, 1073741824, NULL },
  { "offline", "max_total", T_UINT, "1000000", 0, 1000000000, NULL },
  { "offline", "stored_notice", T_STRING, "", 0, 0, NULL },
  { "offline", "flush_batch", T_UINT, "50", 1, 1000, NULL },
  { "offline", "lease_ms", T_UINT, "30000", 1000, 3600000, NULL },
  { "offline", "recheck_s", T_UINT, "30", 0, 86400, NULL },
  { "offline", "expire_interval_s", T_UINT, "60", 1, 86400, NULL },
  { "offline", "offline_retry_s", T_UINT, "60", 0, 86400, NULL },
  { "offline", "flush_window", T_UINT, "1", 1, 1024, NULL },
  { "offline", "flush_window_xmpp", T_UINT, "16", 1, 1024, NULL },
  /* [chat]: chat sessions over MSRP (mapping-docs/chat.md) */
  { "chat", "enabled", T_BOOL, "false", 0, 0, NULL },
  { "chat", "msrp_bind", T_STRING, "127.0.0.1", 0, 0, NULL },
  { "chat", "msrp_port", T_UINT, "2855", 0, 65535, NULL },
  { "chat", "msrp_host", T_STRING, "", 0, 0, NULL },
  { "chat", "relay", T_STRING, "", 0, 0, NULL },
  { "chat", "max_message_bytes", T_UINT, "131072", 256, 16777216, NULL },
  { "chat", "chunk_bytes", T_UINT, "2048", 64, 65536, NULL },
  { "chat", "idle_timeout_s", T_UINT, "600", 0, 86400, NULL },
  { "chat", "queue_max", T_UINT, "64", 1, 10000, NULL },
  { "chat", "max_sessions", T_UINT, "10000", 1, 1000000, NULL },
  { "chat", "fallback_s", T_UINT, "3600", 0, 604800, NULL },
  { "chat", "composing_refresh_s", T_UINT, "120", 10, 3600, NULL },
  { "chat", "cpim", T_BOOL, "true", 0, 0, NULL },
  { "chat", "offline_notice", T_STRING,
    "This user is offline. Type your message: it will be delivered when they are back.", 0, 0,
    NULL },
  { "offline", "push", T_ENUM, "message", 0, 0, "message;msrp;msrp-sip" },
};

typedef struct {
  const char *name;
  GKeyFile *kf;
  GHashTable *lines; /* "group\nkey" or "group" -> line number */
  GString *problems;
  guint n_problems;
  GHashTable *values; /* "group.key" -> effective value, for config.reload's diff */
} Loader;

static void
index_lines (Loader *l, const char *data)
{
  g_auto (GStrv) lines = g_strsplit (data, "\n", -1);
  g_autofree char *group = NULL;
  for (guint i = 0; lines[i] != NULL; i++) {
    g_autofree char *line = g_strstrip (g_strdup (lines[i]));
    if (line[0] == '\0' || line[0] == '#' || line[0] == ';')
      continue;
    if (line[0] == '[') {
      char *end = strchr (line, ']');
      g_free (group);
      group = g_strndup (line + 1, end ? (gsize)(end - line - 1) : strlen (line + 1));
      g_hash_table_insert (l->lines, g_strdup (group), GUINT_TO_POINTER (i + 1));
      continue;
    }
    char *eq = strchr (line, '=');
    if (group == NULL || eq == NULL)
      continue;
    *eq = '\0';
    g_hash_table_insert (l->lines, g_strdup_printf ("%s\n%s", group, g_strstrip (line)),
                         GUINT_TO_POINTER (i + 1));
  }
}

G_GNUC_PRINTF (4, 5)
static void
problem (Loader *l, const char *group, const char *key, const char *fmt, ...)
{
  g_autofree char *where = key ? g_strdup_printf ("%s\n%s", group, key) : g_strdup (group);
  guint line = GPOINTER_TO_UINT (g_hash_table_lookup (l->lines, where));
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *text = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  if (l->problems->len > 0)
    g_string_append_c (l->problems, '\n');
  if (line > 0)
    g_string_append_printf (l->problems, "%s:%u: ", l->name, line);
  else
    g_string_append_printf (l->problems, "%s: ", l->name);
  if (key)
    g_string_append_printf (l->problems, "[%s] %s: %s", group, key, text);
  else
    g_string_append_printf (l->problems, "[%s]: %s", group, text);
  l->n_problems++;
}

static const KeySpec *
find_spec (const char *group, const char *key)
{
  for (gsize i = 0; i < G_N_ELEMENTS (schema); i++)
    if (strcmp (schema[i].group, group) == 0 && (key == NULL || strcmp (schema[i].key, key) == 0))
      return &schema[i];
  return NULL;
}

static void
check_unknown (Loader *l)
{
  g_auto (GStrv) groups = g_key_file_get_groups (l->kf, NULL);
  for (guint i = 0; groups[i]; i++) {
    if (find_spec (groups[i], NULL) == NULL) {
      problem (l, groups[i], NULL, "unknown group");
      continue;
    }
    g_auto (GStrv) keys = g_key_file_get_keys (l->kf, groups[i], NULL, NULL);
    for (guint k = 0; keys && keys[k]; k++)
      if (find_spec (groups[i], keys[k]) == NULL)
        problem (l, groups[i], keys[k], "unknown key");
  }
}

/* The value as written, or the default; NULL if required and missing (reported). */
static char *
raw_value (Loader *l, const KeySpec *s)
{
  char *v = NULL;
  if (g_key_file_has_key (l->kf, s->group, s->key, NULL)) {
    g_autoptr (GError) error = NULL;
    v = g_key_file_get_string (l->kf, s->group, s->key, &error);
    if (v == NULL)
      problem (l, s->group, s->key, "%s", error->message);
  } else if (s->def == NULL) {
    problem (l, s->group, s->key, "required key is missing");
  } else {
    v = g_strdup (s->def);
  }
  if (v != NULL)
    g_hash_table_insert (l->values, g_strdup_printf ("%s.%s", s->group, s->key), g_strdup (v));
  return v;
}

static gboolean
has_control (const char *s)
{
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      return TRUE;
  return FALSE;
}

static char *
get_string (Loader *l, const char *group, const char *key)
{
  const KeySpec *s = find_spec (group, key);
  g_assert (s && (s->type == T_STRING || s->type == T_ENUM));
  char *v = raw_value (l, s);
  if (v == NULL)
    return NULL;
  if (!g_utf8_validate (v, -1, NULL) || has_control (v)) {
    problem (l, group, key, "contains control characters or invalid UTF-8");
    g_free (v);
    return NULL;
  }
  if (s->type == T_ENUM) {
    g_auto (GStrv) choices = g_strsplit (s->choices, ";", -1);
    if (!g_strv_contains ((const char *const *)choices, v)) {
      problem (l, group, key, "'%s' is not one of: %s", v, s->choices);
      g_free (v);
      return NULL;
    }
  }
  return v;
}

static guint
get_uint (Loader *l, const char *group, const char *key)
{
  const KeySpec *s = find_spec (group, key);
  g_assert (s && s->type == T_UINT);
  g_autofree char *v = raw_value (l, s);
  guint64 n = 0;
  g_autoptr (GError) error = NULL;
  if (v == NULL)
    return 0;
  g_strstrip (v);
  if (!g_ascii_string_to_unsigned (v, 10, s->min, s->max, &n, &error)) {
    problem (l, group, key,
             "'%s' is not a whole number from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT, v,
             s->min, s->max);
    return (guint)g_ascii_strtoull (s->def, NULL, 10);
  }
  return (guint)n;
}

static gboolean
get_bool (Loader *l, const char *group, const char *key)
{
  const KeySpec *s = find_spec (group, key);
  g_assert (s && s->type == T_BOOL);
  g_autofree char *v = raw_value (l, s);
  if (v == NULL)
    return FALSE;
  g_strstrip (v);
  if (g_ascii_strcasecmp (v, "true") == 0 || strcmp (v, "1") == 0)
    return TRUE;
  if (g_ascii_strcasecmp (v, "false") == 0 || strcmp (v, "0") == 0)
    return FALSE;
  problem (l, group, key, "'%s' is not true or false", v);
  return FALSE;
}

/* ';'-separated list; empty items dropped; NULL when empty. */
static char **
get_list (Loader *l, const char *group, const char *key)
{
  const KeySpec *s = find_spec (group, key);
  g_assert (s && s->type == T_LIST);
  g_autofree char *v = raw_value (l, s);
  if (v == NULL)
    return NULL;
  g_auto (GStrv) items = g_strsplit (v, ";", -1);
  g_auto (GStrv) choices = s->choices ? g_strsplit (s->choices, ";", -1) : NULL;
  g_autoptr (GStrvBuilder) out = g_strv_builder_new ();
  guint n = 0;
  for (guint i = 0; items[i]; i++) {
    char *item = g_strstrip (items[i]);
    if (item[0] == '\0')
      continue;
    if (has_control (item) || !g_utf8_validate (item, -1, NULL)) {
      problem (l, group, key, "item %u contains control characters", i + 1);
      continue;
    }
    if (choices && !g_strv_contains ((const char *const *)choices, item)) {
      problem (l, group, key, "'%s' is not one of: %s", item, s->choices);
      continue;
    }
    g_strv_builder_add (out, item);
    n++;
  }
  return n > 0 ? g_strv_builder_end (out) : NULL;
}

/* A DNS name as used for XMPP and SIP domains: labels of [A-Za-z0-9-], dots between. */
static gboolean
valid_domain (const char *d)
{
  gsize len = d ? strlen (d) : 0;
  if (len == 0 || len > 253 || d[0] == '.' || d[len - 1] == '.')
    return FALSE;
  for (const char *p = d; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '.')
      return FALSE;
  return strstr (d, "..") == NULL;
}

/* The part marker is a printf format: exactly two %u and no other conversion. */
static gboolean
valid_marker (const char *m)
{
  guint n = 0;
  for (const char *p = m; *p; p++) {
    if (*p != '%')
      continue;
    if (p[1] == 'u')
      n++;
    else if (p[1] != '%')
      return FALSE;
    p++;
  }
  return n == 2 && strlen (m) <= 32;
}

static void
load_xmpp (Loader *l, PrlConfig *c)
{
  PrlXmppLinkConfig *x = &c->xmpp;
  x->host = get_string (l, "xmpp", "host");
  if (x->host && !g_hostname_is_ip_address (x->host))
    problem (l, "xmpp", "host", "'%s' must be a literal IP address (name lookups would block)",
             x->host);
  x->port = get_uint (l, "xmpp", "port");
  x->component = get_string (l, "xmpp", "component");
  if (x->component && !valid_domain (x->component))
    problem (l, "xmpp", "component", "'%s' is not a valid domain name", x->component);
  x->secret = get_string (l, "xmpp", "secret");
  if (x->secret && x->secret[0] == '\0')
    problem (l, "xmpp", "secret", "must not be empty");
  x->reconnect_min_ms = get_uint (l, "xmpp", "reconnect_min_ms");
  x->reconnect_max_ms = get_uint (l, "xmpp", "reconnect_max_ms");
  if (x->reconnect_max_ms < x->reconnect_min_ms)
    problem (l, "xmpp", "reconnect_max_ms", "is below reconnect_min_ms");
  x->disco_name = get_string (l, "xmpp", "disco_name");
  c->core.xmpp_domains = get_list (l, "xmpp", "domains");
  for (guint i = 0; c->core.xmpp_domains && c->core.xmpp_domains[i]; i++)
    if (!valid_domain (c->core.xmpp_domains[i]))
      problem (l, "xmpp", "domains", "'%s' is not a valid domain name", c->core.xmpp_domains[i]);
}

static void
load_sip (Loader *l, PrlConfig *c)
{
  PrlSipAgentConfig *s = &c->sip;
  s->bind_address = get_string (l, "sip", "bind");
  if (s->bind_address && !g_hostname_is_ip_address (s->bind_address))
    problem (l, "sip", "bind", "'%s' must be a literal IP address", s->bind_address);
  s->port = get_uint (l, "sip", "port");
  g_auto (GStrv) transports = get_list (l, "sip", "transports");
  s->udp = transports && g_strv_contains ((const char *const *)transports, "udp");
  s->tcp = transports && g_strv_contains ((const char *const *)transports, "tcp");
  if (!s->udp && !s->tcp)
    problem (l, "sip", "transports", "at least one of udp, tcp is needed");
  s->outbound_proxy = get_string (l, "sip", "outbound_proxy");
  if (s->outbound_proxy && s->outbound_proxy[0] == '\0')
    g_clear_pointer (&s->outbound_proxy, g_free);
  if (s->outbound_proxy && !g_str_has_prefix (s->outbound_proxy, "sip:"))
    problem (l, "sip", "outbound_proxy", "'%s' is not a sip: URI", s->outbound_proxy);
  s->user_agent = get_string (l, "sip", "user_agent");
  s->udp_retention_ms = get_uint (l, "sip", "udp_retention_ms");
  s->dedupe_size = get_uint (l, "sip", "dedupe_size");
  c->core.reg_event = get_bool (l, "sip", "reg_event");
  c->core.sip_domains = get_list (l, "sip", "domains");
  for (guint i = 0; c->core.sip_domains && c->core.sip_domains[i]; i++)
    if (!valid_domain (c->core.sip_domains[i]))
      problem (l, "sip", "domains", "'%s' is not a valid domain name", c->core.sip_domains[i]);
  /* Chunking applies when what we send travels over UDP: the proxy's transport decides. */
  gboolean proxy_tcp = s->outbound_proxy && strstr (s->outbound_proxy, "transport=tcp") != NULL;
  c->core.outbound_udp = s->udp && !proxy_tcp;
}

static void
load_core (Loader *l, PrlConfig *c)
{
  PrlCoreConfig *k = &c->core;
  k->max_message_bytes = get_uint (l, "core", "max_message_bytes");
  k->udp_request_limit = get_uint (l, "core", "udp_request_limit");
  k->sip_header_reserve = get_uint (l, "core", "sip_header_reserve");
  if (k->sip_header_reserve + 200 > k->udp_request_limit)
    problem (l, "core", "sip_header_reserve", "leaves less than 200 bytes of udp_request_limit");
  /* The reserve stands for what sofia adds to every MESSAGE the core cannot see: Via (with
   * rport and branch), Max-Forwards, the From tag, a 10-digit CSeq, Allow and User-Agent.
   * Measured at 138 bytes plus the User-Agent line with an IPv4 Via; an IPv6 Via takes ~30
   * more. A smaller reserve lets parts exceed udp_request_limit on the wire (page-mode.md
   * §10), so refuse it instead of silently breaking the limit. */
  if (c->sip.user_agent != NULL) {
    gsize need = STACK_HEADER_BYTES + strlen ("User-Agent: \r\n") + strlen (c->sip.user_agent);
    if (k->sip_header_reserve < need)
      problem (l, "core", "sip_header_reserve",
               "%" G_GSIZE_FORMAT " is below the %" G_GSIZE_FORMAT " bytes the SIP stack adds "
               "to every request (Via, Max-Forwards, tags, CSeq, Allow, this user_agent)",
               k->sip_header_reserve, need);
  }
  k->chunk_over_tcp = get_bool (l, "core", "chunk_over_tcp");
  char *marker = get_string (l, "core", "part_marker");
  if (marker && !valid_marker (marker))
    problem (l, "core", "part_marker",
             "needs exactly two %%u (part, parts), no other %% "
             "conversion, at most 32 bytes");
  if (marker) {
    g_free (k->part_marker);
    k->part_marker = marker;
  }
  k->bounce_window_ms = get_uint (l, "core", "bounce_window_ms");
  k->retry_after_s = get_uint (l, "core", "retry_after_s");
  k->max_pending = get_uint (l, "core", "max_pending");
  k->max_queued = get_uint (l, "core", "max_queued");
  k->sip_window = get_uint (l, "core", "sip_window");
  k->imdn = get_bool (l, "core", "imdn");
  k->iscomposing = get_bool (l, "core", "iscomposing");
  k->caps_cache_size = get_uint (l, "core", "caps_cache_size");
  k->caps_cache_ttl_s = get_uint (l, "core", "caps_cache_ttl_s");

  g_autofree char *mode = get_string (l, "mapping", "mode");
  g_autofree char *sip_domain = get_string (l, "mapping", "sip_domain");
  const char *component = c->xmpp.component;
  if (mode == NULL || component == NULL || !valid_domain (component))
    return;
  if (strcmp (mode, "escaped") == 0) {
    if (sip_domain == NULL || !valid_domain (sip_domain)) {
      problem (l, "mapping", "sip_domain", "escaped mode needs the SIP domain routed to Parley");
      return;
    }
    prl_core_config_add_domain (k, component, PRL_ADDR_ESCAPED, sip_domain);
  } else {
    if (sip_domain && sip_domain[0] != '\0')
      problem (l, "mapping", "sip_domain",
               "only used in escaped mode (direct mode uses the "
               "component domain)");
    prl_core_config_add_domain (k, component, PRL_ADDR_DIRECT, component);
  }
}

void
prl_admin_config_clear (PrlAdminConfig *c)
{
  g_clear_pointer (&c->socket_path, g_free);
  g_clear_pointer (&c->group, g_free);
}

/* [offline]: the offline store (store/) and the core's parking policy (offline.md §1).
 * "none" turns parking off: page mode then refuses what it cannot deliver. */
static void
load_offline (Loader *l, PrlConfig *c)
{
  PrlOfflineConfig *o = &c->offline;
  PrlCoreConfig *k = &c->core;
  g_autofree char *store = get_string (l, "offline", "store");
  o->store = store && strcmp (store, "none") != 0 ? g_steal_pointer (&store) : NULL;
  o->redis_host = get_string (l, "offline", "redis_host");
  o->redis_port = get_uint (l, "offline", "redis_port");
  if (o->redis_host && o->redis_port > 0 && !g_hostname_is_ip_address (o->redis_host))
    problem (l, "offline", "redis_host",
             "'%s' must be a literal IP address (or a UNIX socket path with redis_port = 0)",
             o->redis_host);
  if (o->redis_host && o->redis_port == 0 && !g_path_is_absolute (o->redis_host))
    problem (l, "offline", "redis_host", "with redis_port = 0 this is a UNIX socket path: "
             "'%s' is not absolute", o->redis_host);
  o->redis_db = get_uint (l, "offline", "redis_db");
  o->redis_prefix = get_string (l, "offline", "redis_prefix");
  o->instance = get_string (l, "offline", "instance");
  if (o->instance && o->instance[0] == '\0') {
    g_free (o->instance); /* two instances sharing a Redis must differ: host name + pid */
    o->instance = g_strdup_printf ("%s-%d", g_get_host_name (), (int)getpid ());
  }
  o->limits.max_count = get_uint (l, "offline", "quota_count");
  o->limits.max_bytes = get_uint (l, "offline", "quota_bytes");
  o->limits.max_total = get_uint (l, "offline", "max_total");
  k->offline_enabled = o->store != NULL;
  k->offline_expiry_s = get_uint (l, "offline", "expiry_s");
  k->flush_batch = get_uint (l, "offline", "flush_batch");
  k->flush_lease_ms = get_uint (l, "offline", "lease_ms");
  k->flush_recheck_s = get_uint (l, "offline", "recheck_s");
  k->expire_interval_s = get_uint (l, "offline", "expire_interval_s");
  k->offline_retry_s = get_uint (l, "offline", "offline_retry_s");
  k->flush_window = get_uint (l, "offline", "flush_window");
  k->flush_window_xmpp = get_uint (l, "offline", "flush_window_xmpp");
  char *notice = get_string (l, "offline", "stored_notice");
  g_free (k->stored_notice);
  k->stored_notice = notice && notice[0] != '\0' ? notice : NULL;
  if (k->stored_notice != notice)
    g_free (notice);
}

/* [chat]: the MSRP endpoint and the core's session policy (mapping-docs/chat.md §2). */
static void
load_chat (Loader *l, PrlConfig *c)
{
  PrlChatConfig *ch = &c->chat;
  PrlCoreConfig *k = &c->core;
  prl_msrp_config_init (&ch->msrp);
  ch->enabled = get_bool (l, "chat", "enabled");
  g_free (ch->msrp.bind_address);
  ch->msrp.bind_address = get_string (l, "chat", "msrp_bind");
  ch->msrp.port = get_uint (l, "chat", "msrp_port");
  g_autofree char *host = get_string (l, "chat", "msrp_host");
  g_free (ch->msrp.host);
  ch->msrp.host = host != NULL && host[0] != '\0' ? g_steal_pointer (&host) : NULL;
  g_autofree char *relay = get_string (l, "chat", "relay");
  if (relay != NULL && relay[0] != '\0' && !g_str_has_prefix (relay, "msrp://"))
    problem (l, "chat", "relay", "'%s' is not an msrp:// URI", relay);
  g_free (ch->msrp.relay);
  ch->msrp.relay = relay != NULL && relay[0] != '\0' ? g_steal_pointer (&relay) : NULL;
  ch->msrp.max_message_size = get_uint (l, "chat", "max_message_bytes");
  ch->msrp.chunk_size = get_uint (l, "chat", "chunk_bytes");
  ch->max_size = ch->msrp.max_message_size;
  /* what the chat core can deliver (chat.md §4, §5); a SEND of anything else gets 415, and
   * RFC 4975 §13 wants message/cpim first from a CPIM gateway */
  g_strfreev (ch->msrp.accept_types);
  ch->msrp.accept_types
      = g_strsplit ("message/cpim text/plain application/im-iscomposing+xml", " ", -1);
  /* inside CPIM the core delivers text and isComposing only (chat.md §4, §5): a CPIM SEND
   * wrapping anything else gets 415 too, so its sender learns it was not delivered */
  g_strfreev (ch->msrp.accept_wrapped_types);
  ch->msrp.accept_wrapped_types = g_strsplit ("text/plain application/im-iscomposing+xml", " ", -1);
  k->chat_enabled = ch->enabled;
  k->chat_idle_timeout_s = get_uint (l, "chat", "idle_timeout_s");
  k->chat_queue_max = get_uint (l, "chat", "queue_max");
  k->chat_max_sessions = get_uint (l, "chat", "max_sessions");
  k->chat_fallback_s = get_uint (l, "chat", "fallback_s");
  k->chat_composing_refresh_s = get_uint (l, "chat", "composing_refresh_s");
  k->chat_cpim = get_bool (l, "chat", "cpim");
  g_autofree char *notice = get_string (l, "chat", "offline_notice");
  g_free (k->chat_offline_notice);
  k->chat_offline_notice = notice != NULL && notice[0] != '\0' ? g_steal_pointer (&notice) : NULL;
  c->sip.invite = ch->enabled;
  g_autofree char *push = get_string (l, "offline", "push");
  k->offline_push = g_strcmp0 (push, "msrp") == 0       ? PRL_OFFLINE_PUSH_MSRP
                    : g_strcmp0 (push, "msrp-sip") == 0 ? PRL_OFFLINE_PUSH_MSRP_SIP
                                                        : PRL_OFFLINE_PUSH_MESSAGE;
  if (k->offline_push != PRL_OFFLINE_PUSH_MESSAGE && !ch->enabled)
    problem (l, "offline", "push", "'%s' needs [chat] enabled = true (the MSRP endpoint)", push);
}

static void
offline_config_clear (PrlOfflineConfig *o)
{
  g_clear_pointer (&o->store, g_free);
  g_clear_pointer (&o->redis_host, g_free);
  g_clear_pointer (&o->redis_prefix, g_free);
  g_clear_pointer (&o->instance, g_free);
}

/* [admin]: the operator socket (admin.c). The path must fit in sun_path; a group only makes
 * sense with mode 0660 and is resolved here, once, so the daemon never looks it up. */
static void
load_admin (Loader *l, PrlConfig *c)
{
  PrlAdminConfig *a = &c->admin;
  a->socket_path = get_string (l, "admin", "socket");
  if (a->socket_path && a->socket_path[0] == '\0')
    g_clear_pointer (&a->socket_path, g_free);
  if (a->socket_path && !g_path_is_absolute (a->socket_path))
    problem (l, "admin", "socket", "'%s' is not an absolute path", a->socket_path);
  else if (a->socket_path
           && strlen (a->socket_path) >= sizeof (((struct sockaddr_un *)0)->sun_path))
    problem (l, "admin", "socket", "path is longer than a UNIX socket address allows");
  g_autofree char *mode = get_string (l, "admin", "mode");
  a->group_access = mode && strcmp (mode, "0660") == 0;
  a->group = get_string (l, "admin", "group");
  a->gid = (guint)-1;
  if (a->group && a->group[0] == '\0')
    g_clear_pointer (&a->group, g_free);
  if (a->group && !a->group_access)
    problem (l, "admin", "group", "needs mode = 0660");
  else if (a->group) {
    struct group *gr = getgrnam (a->group);
    if (gr == NULL)
      problem (l, "admin", "group", "no such group '%s'", a->group);
    else
      a->gid = gr->gr_gid;
  }
  a->max_clients = get_uint (l, "admin", "max_clients");
  a->max_request_bytes = get_uint (l, "admin", "max_request_bytes");
  a->max_output_bytes = get_uint (l, "admin", "max_output_bytes");
  a->idle_timeout_s = get_uint (l, "admin", "idle_timeout_s");
}

PrlConfig *
prl_config_load_data (const char *name, const char *data, GError **error)
{
  g_return_val_if_fail (name != NULL && data != NULL, NULL);
  g_autoptr (PrlConfig) c = g_new0 (PrlConfig, 1);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) parse_error = NULL;
  g_autoptr (GHashTable) lines = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GString) problems = g_string_new (NULL);
  Loader l = { name, kf, lines, problems, 0, NULL };

  c->path = g_strdup (name);
  c->values = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  l.values = c->values;
  prl_core_config_init (&c->core);
  g_key_file_set_list_separator (kf, ';');
  if (!g_key_file_load_from_data (kf, data, (gsize)-1, G_KEY_FILE_NONE, &parse_error)) {
    g_set_error (error, PRL_CONFIG_ERROR, PRL_CONFIG_ERROR_READ, "%s: %s", name,
                 parse_error->message);
    return NULL;
  }
  index_lines (&l, data);
  check_unknown (&l);
  c->debug_domains = get_list (&l, "daemon", "debug_domains");
  c->trim_interval_s = get_uint (&l, "daemon", "trim_interval_s");
  load_xmpp (&l, c);
  load_sip (&l, c);
  load_core (&l, c);
  load_admin (&l, c);
  load_offline (&l, c);
  load_chat (&l, c);
  if (l.n_problems > 0) {
    g_set_error_literal (error, PRL_CONFIG_ERROR, PRL_CONFIG_ERROR_INVALID, problems->str);
    return NULL;
  }
  return g_steal_pointer (&c);
}

PrlConfig *
prl_config_load (const char *path, GError **error)
{
  g_autofree char *data = NULL;
  g_autoptr (GError) read_error = NULL;
  if (!g_file_get_contents (path, &data, NULL, &read_error)) {
    g_set_error (error, PRL_CONFIG_ERROR, PRL_CONFIG_ERROR_READ, "%s", read_error->message);
    return NULL;
  }
  return prl_config_load_data (path, data, error);
}

char **
prl_config_diff (const PrlConfig *a, const PrlConfig *b)
{
  g_return_val_if_fail (a != NULL && b != NULL, NULL);
  g_autoptr (GStrvBuilder) out = g_strv_builder_new ();
  for (gsize i = 0; i < G_N_ELEMENTS (schema); i++) {
    g_autofree char *name = g_strdup_printf ("%s.%s", schema[i].group, schema[i].key);
    if (g_strcmp0 (g_hash_table_lookup (a->values, name), g_hash_table_lookup (b->values, name))
        != 0)
      g_strv_builder_add (out, name);
  }
  return g_strv_builder_end (out);
}

void
prl_config_free (PrlConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->path);
  g_clear_pointer (&config->values, g_hash_table_unref);
  g_strfreev (config->debug_domains);
  prl_core_config_clear (&config->core);
  prl_xmpp_link_config_clear (&config->xmpp);
  prl_sip_agent_config_clear (&config->sip);
  prl_admin_config_clear (&config->admin);
  offline_config_clear (&config->offline);
  prl_msrp_config_clear (&config->chat.msrp);
  g_free (config);
}
