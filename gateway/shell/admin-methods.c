/* gateway/shell/admin-methods.c - what each admin method answers (docs/admin.md).
 *
 * DESIGN: Redis-style command code: a method reads the daemon (daemon.h's introspection API),
 * builds a JsonNode with JsonBuilder and answers its call; it never sees a socket. The queue.*
 * methods ask the offline store (store/store.h) and answer from its callback; until an
 * offline store is configured they answer -32000 "offline store not configured". The store
 * calls are compiled when store/ is part of the build (PRL_HAVE_STORE, set by meson).
 * sessions.* show and end chat sessions (mapping-docs/chat.md); presence tracking does not
 * exist yet: presence.show says it is not tracked.
 */
#include "gateway/shell/admin-methods.h"

#include "gateway/chat.h"

#include <string.h>
#include <unistd.h>

#include "gateway/shell/admin-log.h"
#include "gateway/shell/daemon.h"
#include "gateway/shell/metrics.h"
#include "parley-version.h"

#define QUEUE_LIST_MAX 10000

static void
member_int (JsonBuilder *b, const char *name, gint64 v)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, v);
}

static void
member_str (JsonBuilder *b, const char *name, const char *v)
{
  json_builder_set_member_name (b, name);
  if (v)
    json_builder_add_string_value (b, v);
  else
    json_builder_add_null_value (b);
}

static void
member_bool (JsonBuilder *b, const char *name, gboolean v)
{
  json_builder_set_member_name (b, name);
  json_builder_add_boolean_value (b, v);
}

static void
member_strv (JsonBuilder *b, const char *name, char **v)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  for (guint i = 0; v && v[i]; i++)
    json_builder_add_string_value (b, v[i]);
  json_builder_end_array (b);
}

static char *
iso_time (gint64 us)
{
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (us / G_USEC_PER_SEC);
  return t ? g_date_time_format_iso8601 (t) : g_strdup ("?");
}

static PrlDaemon *
daemon_of (gpointer context)
{
  return prl_admin_get_daemon (context);
}

/* ---------------------------------------------------------------- status */

static void
do_status (PrlAdminCall *call, JsonObject *args, gpointer context)
{
  PrlDaemon *d = daemon_of (context);
  PrlDaemonStatus st;
  prl_daemon_status (d, &st);
  g_autofree char *started = iso_time (st.started_us);
  g_autofree char *xmpp_detail = prl_daemon_xmpp_describe (d);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  member_str (b, "version", PRL_VERSION);
  member_int (b, "pid", getpid ());
  member_str (b, "started", started);
  member_int (b, "uptime_s", st.uptime_us / G_USEC_PER_SEC);
  member_str (b, "config", st.config_path);
  json_builder_set_member_name (b, "links");
  json_builder_begin_object (b);

  json_builder_set_member_name (b, "xmpp");
  json_builder_begin_object (b);
  member_str (b, "state", st.xmpp_online ? "up" : "down");
  member_str (b, "component", st.xmpp_component);
  member_str (b, "server", st.xmpp_host);
  member_int (b, "port", st.xmpp_port);
  member_str (b, "detail", xmpp_detail);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "sip");
  json_builder_begin_object (b);
  member_str (b, "state", "up"); /* the transports are bound for the daemon's whole life */
  member_str (b, "bind", st.sip_bind);
  member_int (b, "port", st.sip_port);
  json_builder_set_member_name (b, "transports");
  json_builder_begin_array (b);
  if (st.sip_udp)
    json_builder_add_string_value (b, "udp");
  if (st.sip_tcp)
    json_builder_add_string_value (b, "tcp");
  json_builder_end_array (b);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "redis");
  json_builder_begin_object (b);
  member_str (b, "state", !st.has_store ? "not configured" : st.store_up ? "up" : "down");
  json_builder_end_object (b);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "core");
  json_builder_begin_object (b);
  member_int (b, "pending", st.core_pending);
  member_int (b, "queued", st.core_queued);
  json_builder_end_object (b);
  member_int (b, "admin_clients", prl_admin_n_clients (context));
  json_builder_end_object (b);
  prl_admin_call_return (call, json_builder_get_root (b));
}

/* ---------------------------------------------------------------- stats */

static const char *const plain_outcomes[]
    = { "relayed", "chunked", "queued", "parked", "flushed", "expired", "ignored", NULL };
static const char *const error_outcomes[]
    = { "link_lost", "parts_dropped", "rejected", "failed", "dropped", "bounced", NULL };

gboolean
prl_admin_split_counter (const char *name, const char **direction, char **outcome, char **kind)
{
  const char *rest;
  if (g_str_has_prefix (name, "sip_in_")) {
    *direction = "sip_to_xmpp";
    rest = name + strlen ("sip_in_");
  } else if (g_str_has_prefix (name, "xmpp_in_")) {
    *direction = "xmpp_to_sip";
    rest = name + strlen ("xmpp_in_");
  } else {
    return FALSE;
  }
  const char *const *lists[] = { plain_outcomes, error_outcomes };
  for (guint l = 0; l < G_N_ELEMENTS (lists); l++)
    for (guint i = 0; lists[l][i]; i++) {
      gsize n = strlen (lists[l][i]);
      if (strncmp (rest, lists[l][i], n) == 0 && (rest[n] == '\0' || rest[n] == '_')) {
        *outcome = g_strdup (lists[l][i]);
        *kind = g_strdup (rest[n] ? rest + n + 1 : "");
        return TRUE;
      }
    }
  *outcome = g_strdup (rest);
  *kind = g_strdup ("");
  return TRUE;
}

static GList *
sorted_counter_names (GHashTable *counters)
{
  return g_list_sort (g_hash_table_get_keys (counters), (GCompareFunc)g_strcmp0);
}

static void
add_direction (JsonBuilder *b, const char *direction, GHashTable *counters)
{
  g_autoptr (GHashTable) plain = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GHashTable) errors = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GList) names = sorted_counter_names (counters);
  for (GList *l = names; l; l = l->next) {
    const char *dir;
    g_autofree char *outcome = NULL, *kind = NULL;
    if (!prl_admin_split_counter (l->data, &dir, &outcome, &kind) || strcmp (dir, direction) != 0)
      continue;
    guint64 n = *(guint64 *)g_hash_table_lookup (counters, l->data);
    gboolean is_plain = g_strv_contains (plain_outcomes, outcome);
    GHashTable *into = is_plain ? plain : errors;
    char *key = is_plain || kind[0] == '\0' ? g_strdup (outcome)
                                            : g_strdup_printf ("%s_%s", outcome, kind);
    guint64 *sum = g_hash_table_lookup (into, key);
    if (sum == NULL) {
      sum = g_new0 (guint64, 1);
      g_hash_table_insert (into, key, sum);
    } else {
      g_free (key);
    }
    *sum += n;
  }
  json_builder_set_member_name (b, direction);
  json_builder_begin_object (b);
  for (guint i = 0; plain_outcomes[i]; i++) {
    guint64 *n = g_hash_table_lookup (plain, plain_outcomes[i]);
    member_int (b, plain_outcomes[i], n ? (gint64)*n : 0);
  }
  json_builder_set_member_name (b, "errors");
  json_builder_begin_object (b);
  g_autoptr (GList) keys = g_list_sort (g_hash_table_get_keys (errors), (GCompareFunc)g_strcmp0);
  for (GList *l = keys; l; l = l->next)
    member_int (b, l->data, (gint64) * (guint64 *)g_hash_table_lookup (errors, l->data));
  json_builder_end_object (b);
  json_builder_end_object (b);
}

static void
do_stats (PrlAdminCall *call, JsonObject *args, gpointer context)
{
  PrlDaemon *d = daemon_of (context);
  GHashTable *counters = prl_daemon_counters (d);
  PrlDaemonStatus st;
  prl_daemon_status (d, &st);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_direction (b, "sip_to_xmpp", counters);
  add_direction (b, "xmpp_to_sip", counters);
  json_builder_set_member_name (b, "counters");
  json_builder_begin_object (b);
  g_autoptr (GList) names = sorted_counter_names (counters);
  for (GList *l = names; l; l = l->next)
    member_int (b, l->data, (gint64) * (guint64 *)g_hash_table_lookup (counters, l->data));
  json_builder_end_object (b);

  const PrlXmppLinkStats *x = st.xmpp_stats;
  json_builder_set_member_name (b, "xmpp");
  json_builder_begin_object (b);
  member_int (b, "rx_messages", x->rx_messages);
  member_int (b, "tx_messages", x->tx_messages);
  member_int (b, "rx_malformed", x->rx_malformed);
  member_int (b, "rx_iq", x->rx_iq);
  member_int (b, "tx_errors", x->tx_errors);
  member_int (b, "tx_dropped_offline", x->tx_dropped_offline);
  member_int (b, "connects", x->connects);
  member_int (b, "disconnects", x->disconnects);
  json_builder_end_object (b);

  const PrlSipAgentStats *p = st.sip_stats;
  json_builder_set_member_name (b, "sip");
  json_builder_begin_object (b);
  member_int (b, "rx_requests", p->rx_requests);
  member_int (b, "rx_malformed", p->rx_malformed);
  member_int (b, "rx_unparseable", p->rx_unparseable);
  member_int (b, "rx_duplicates", p->rx_duplicates);
  member_int (b, "rx_other", p->rx_other);
  member_int (b, "rx_responses", p->rx_responses);
  member_int (b, "tx_requests", p->tx_requests);
  member_int (b, "tx_refused", p->tx_refused);
  member_int (b, "tx_responses", p->tx_responses);
  member_int (b, "pending_txns", p->pending_txns);
  member_int (b, "pending_requests", p->pending_requests);
  member_int (b, "dedupe_entries", p->dedupe_entries);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "core");
  json_builder_begin_object (b);
  member_int (b, "pending", st.core_pending);
  member_int (b, "queued", st.core_queued);
  json_builder_end_object (b);
  json_builder_end_object (b);
  prl_admin_call_return (call, json_builder_get_root (b));
}

/* ---------------------------------------------------------------- metrics */

typedef struct {
  const char *name, *help;
  guint64 value;
} Sample;

char *
prl_admin_metrics_text (PrlDaemon *d, PrlAdmin *admin)
{
  g_autoptr (PrlMetrics) m = prl_metrics_new ();
  PrlDaemonStatus st;
  prl_daemon_status (d, &st);
  const char *version[] = { "version", PRL_VERSION, NULL };
  prl_metrics_add (m, PRL_METRIC_GAUGE, "parley_build_info", "parleyd version (always 1)", version,
                   1);
  prl_metrics_add (m, PRL_METRIC_GAUGE, "parley_uptime_seconds", "Seconds since parleyd started",
                   NULL, (double)st.uptime_us / G_USEC_PER_SEC);
  prl_metrics_add (m, PRL_METRIC_GAUGE, "parley_xmpp_link_up",
                   "1 while the XMPP component link is online", NULL, st.xmpp_online);
  prl_metrics_add (m, PRL_METRIC_GAUGE, "parley_store_up",
                   "1 while the offline store (Redis) is reachable; 0 when down or not "
                   "configured",
                   NULL, st.store_up);
  prl_metrics_add (m, PRL_METRIC_GAUGE, "parley_core_pending",
                   "SIP->XMPP transactions waiting in their bounce window", NULL, st.core_pending);
  prl_metrics_add (m, PRL_METRIC_GAUGE, "parley_core_queued",
                   "XMPP->SIP messages waiting for their destination", NULL, st.core_queued);
  const char *received[] = { "kind", "received", NULL };
  const char *sent[] = { "kind", "sent", NULL };
  const char *help_pending = "SIP transactions open: received ones not answered yet, sent "
                             "ones without a final response";
  prl_metrics_add (m, PRL_METRIC_GAUGE, "parley_sip_pending", help_pending, received,
                   st.sip_stats->pending_txns);
  prl_metrics_add (m, PRL_METRIC_GAUGE, "parley_sip_pending", help_pending, sent,
                   st.sip_stats->pending_requests);
  prl_metrics_add (m, PRL_METRIC_GAUGE, "parley_sip_dedupe_entries",
                   "Entries in the SIP retransmission cache", NULL, st.sip_stats->dedupe_entries);
  if (admin)
    prl_metrics_add (m, PRL_METRIC_GAUGE, "parley_admin_clients",
                     "Clients connected to the admin socket", NULL, prl_admin_n_clients (admin));

  /* The core's counters, one family each: parley_<counter>_total. The main outcomes are
   * always present (0 until they happen) so that dashboards and rate() have a series. */
  GHashTable *counters = prl_daemon_counters (d);
  static const char *const always[]
      = { "sip_in_relayed", "xmpp_in_relayed", "xmpp_in_chunked", NULL };
  g_autoptr (GList) names = sorted_counter_names (counters);
  for (guint i = 0; always[i]; i++)
    if (!g_hash_table_contains (counters, always[i]))
      names = g_list_insert_sorted (names, (gpointer)always[i], (GCompareFunc)g_strcmp0);
  for (GList *l = names; l; l = l->next) {
    guint64 *n = g_hash_table_lookup (counters, l->data);
    g_autofree char *name = g_strdup_printf ("parley_%s_total", (const char *)l->data);
    g_autofree char *help
        = g_strdup_printf ("Core events counted as %s (docs/admin.md)", (const char *)l->data);
    prl_metrics_add (m, PRL_METRIC_COUNTER, name, help, NULL, n ? (double)*n : 0);
  }

  const PrlXmppLinkStats *x = st.xmpp_stats;
  const Sample xs[] = {
    { "parley_xmpp_rx_messages_total", "XMPP <message/> stanzas received", x->rx_messages },
    { "parley_xmpp_tx_messages_total", "XMPP <message/> stanzas sent", x->tx_messages },
    { "parley_xmpp_rx_malformed_total", "XMPP stanzas refused by the codec", x->rx_malformed },
    { "parley_xmpp_rx_iq_total", "XMPP iq stanzas received", x->rx_iq },
    { "parley_xmpp_tx_errors_total", "XMPP error stanzas generated by the link", x->tx_errors },
    { "parley_xmpp_tx_dropped_offline_total", "XMPP sends refused while the link was down",
      x->tx_dropped_offline },
    { "parley_xmpp_connects_total", "Successful XMPP component handshakes", x->connects },
    { "parley_xmpp_disconnects_total", "Losses of the online XMPP link", x->disconnects },
  };
  const PrlSipAgentStats *p = st.sip_stats;
  const Sample ss[] = {
    { "parley_sip_rx_requests_total", "SIP MESSAGE requests received", p->rx_requests },
    { "parley_sip_rx_malformed_total", "SIP MESSAGE requests answered 400 by the agent",
      p->rx_malformed },
    { "parley_sip_rx_unparseable_total", "SIP datagrams or frames that were not SIP",
      p->rx_unparseable },
    { "parley_sip_rx_duplicates_total", "SIP retransmissions caught by the dedupe cache",
      p->rx_duplicates },
    { "parley_sip_rx_other_total", "Non-MESSAGE SIP requests", p->rx_other },
    { "parley_sip_rx_responses_total", "Final SIP responses to our requests", p->rx_responses },
    { "parley_sip_tx_requests_total", "SIP MESSAGE requests sent", p->tx_requests },
    { "parley_sip_tx_refused_total", "SIP sends refused before the wire", p->tx_refused },
    { "parley_sip_tx_responses_total", "SIP responses sent", p->tx_responses },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (xs); i++)
    prl_metrics_add (m, PRL_METRIC_COUNTER, xs[i].name, xs[i].help, NULL, (double)xs[i].value);
  for (gsize i = 0; i < G_N_ELEMENTS (ss); i++)
    prl_metrics_add (m, PRL_METRIC_COUNTER, ss[i].name, ss[i].help, NULL, (double)ss[i].value);
  return prl_metrics_to_text (m);
}

static void
do_metrics (PrlAdminCall *call, JsonObject *args, gpointer context)
{
  g_autofree char *text = prl_admin_metrics_text (daemon_of (context), context);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  member_str (b, "content_type", "text/plain; version=0.0.4");
  member_str (b, "text", text);
  json_builder_end_object (b);
  prl_admin_call_return (call, json_builder_get_root (b));
}

/* ---------------------------------------------------------------- sessions, presence */

static void
do_sessions_list (PrlAdminCall *call, JsonObject *args, gpointer context)
{
  PrlDaemon *d = daemon_of (context);
  g_autoptr (GPtrArray) chats = prl_daemon_chats (d);
  gint64 now = g_get_real_time ();
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "sessions");
  json_builder_begin_array (b);
  for (guint i = 0; i < chats->len; i++) {
    const PrlChatInfo *c = g_ptr_array_index (chats, i);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "id");
    json_builder_add_int_value (b, (gint64)c->id);
    member_str (b, "state", c->state);
    member_str (b, "origin", c->origin);
    member_str (b, "xmpp", c->xmpp);
    member_str (b, "sip", c->sip);
    member_str (b, "thread", c->thread);
    json_builder_set_member_name (b, "idle_s");
    json_builder_add_int_value (b, c->last_us > 0 ? (now - c->last_us) / G_USEC_PER_SEC : 0);
    json_builder_set_member_name (b, "held");
    json_builder_add_int_value (b, c->held);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  if (!prl_daemon_chat_enabled (d))
    member_str (b, "note", "chat sessions are not enabled in this parleyd ([chat] enabled)");
  json_builder_end_object (b);
  prl_admin_call_return (call, json_builder_get_root (b));
}

static void
do_sessions_close (PrlAdminCall *call, JsonObject *args, gpointer context)
{
  const char *id = json_object_get_string_member (args, "id");
  guint64 n = 0;
  if (!g_ascii_string_to_unsigned (id, 10, 1, G_MAXUINT64, &n, NULL)
      || !prl_daemon_chat_end (daemon_of (context), n)) {
    prl_admin_call_error (call, PRL_ADMIN_NOT_FOUND, "no such session: %s", id);
    return;
  }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "closed");
  json_builder_add_int_value (b, (gint64)n);
  json_builder_end_object (b);
  prl_admin_call_return (call, json_builder_get_root (b));
}

static void
do_presence_show (PrlAdminCall *call, JsonObject *args, gpointer context)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  member_str (b, "user", json_object_get_string_member (args, "user"));
  member_bool (b, "tracked", FALSE);
  member_str (b, "note", "presence is not tracked by this parleyd");
  json_builder_end_object (b);
  prl_admin_call_return (call, json_builder_get_root (b));
}

/* ---------------------------------------------------------------- log.level, config.reload */

static void
do_log_level (PrlAdminCall *call, JsonObject *args, gpointer context)
{
  const char *domain = json_object_get_string_member_with_default (args, "domain", NULL);
  const char *level = json_object_get_string_member_with_default (args, "level", NULL);
  if (domain && !level) {
    prl_admin_call_error (call, PRL_ADMIN_INVALID_PARAMS,
                          "log.level needs a level after the "
                          "domain (debug, info, message, "
                          "warning, default)");
    return;
  }
  g_autoptr (GError) error = NULL;
  if (domain && !prl_admin_log_set_level (domain, level, &error)) {
    prl_admin_call_error (call, PRL_ADMIN_INVALID_PARAMS, "%s", error->message);
    return;
  }
  if (domain)
    g_message ("log level of %s set to %s by the admin socket", domain, level);
  g_auto (GStrv) levels = prl_admin_log_levels ();
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  member_strv (b, "levels", levels);
  json_builder_end_object (b);
  prl_admin_call_return (call, json_builder_get_root (b));
}

static void
do_config_reload (PrlAdminCall *call, JsonObject *args, gpointer context)
{
  PrlDaemon *d = daemon_of (context);
  g_auto (PrlDaemonReload) r = { 0 };
  g_autoptr (GError) error = NULL;
  if (!prl_daemon_reload (d, &r, &error)) {
    g_auto (GStrv) problems = g_strsplit (error->message, "\n", -1);
    g_autoptr (JsonBuilder) data = json_builder_new ();
    json_builder_begin_object (data);
    member_strv (data, "problems", problems);
    json_builder_end_object (data);
    g_warning ("config.reload refused, old configuration kept: %s", error->message);
    prl_admin_call_error_data (call, PRL_ADMIN_FAILED, json_builder_get_root (data),
                               "configuration not reloaded (old one kept): %s", error->message);
    return;
  }
  PrlDaemonStatus st;
  prl_daemon_status (d, &st);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  member_str (b, "file", st.config_path);
  member_strv (b, "applied", r.applied);
  member_strv (b, "restart_required", r.restart_required);
  member_str (b, "note",
              r.restart_required[0] ? "keys under restart_required keep their running "
                                      "values until parleyd is restarted"
                                    : NULL);
  json_builder_end_object (b);
  prl_admin_call_return (call, json_builder_get_root (b));
}

/* ---------------------------------------------------------------- queue.* */

#ifdef PRL_HAVE_STORE
/* An owner key ("sip:alice@sip.test") matches USER given as the same key, or as the bare
 * address on either side ("alice@sip.test"). */
static gboolean
owner_matches (const char *owner, const char *user)
{
  if (strchr (user, ':') != NULL)
    return g_ascii_strcasecmp (owner, user) == 0;
  const char *colon = strchr (owner, ':');
  return colon != NULL && g_ascii_strcasecmp (colon + 1, user) == 0;
}

typedef struct {
  PrlAdminCall *call;
  char *user; /* NULL for queue.list */
  guint to_purge, purged;
  gboolean failed;
  GVariant *listing; /* a{s(tt)} kept for purge's answer */
} QueueOp;

static void
queue_op_free (QueueOp *op)
{
  g_free (op->user);
  g_clear_pointer (&op->listing, g_variant_unref);
  g_free (op);
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *)a, *(const char *const *)b);
}

static void
add_entries (JsonBuilder *b, GVariant *listing, const char *user, guint64 *total)
{
  /* Owned copies: an "&s" from g_variant_iter_next() dies with the child value when the
   * listing was built in memory (not serialised), which the stores' listings are. */
  g_autoptr (GPtrArray) owners = g_ptr_array_new_with_free_func (g_free);
  GVariantIter it;
  char *owner;
  guint64 count, oldest;
  g_variant_iter_init (&it, listing);
  while (g_variant_iter_next (&it, "{s(tt)}", &owner, &count, &oldest)) {
    if (user == NULL || owner_matches (owner, user))
      g_ptr_array_add (owners, owner);
    else
      g_free (owner);
  }
  g_ptr_array_sort (owners, compare_strings);
  json_builder_begin_array (b);
  for (guint i = 0; i < owners->len; i++) {
    const char *o = g_ptr_array_index (owners, i);
    g_variant_lookup (listing, o, "(tt)", &count, &oldest);
    g_autofree char *when = iso_time ((gint64)oldest);
    json_builder_begin_object (b);
    member_str (b, "user", o);
    member_int (b, "count", (gint64)count);
    member_int (b, "oldest_us", (gint64)oldest);
    member_str (b, "oldest", when);
    json_builder_end_object (b);
    *total += count;
  }
  json_builder_end_array (b);
}

/* Answers the call with the store's error (and frees @op); FALSE when there is none. */
static gboolean
answered_store_error (QueueOp *op, const GError *error)
{
  if (error == NULL)
    return FALSE;
  prl_admin_call_error (op->call, PRL_ADMIN_FAILED, "offline store: %s", error->message);
  queue_op_free (op);
  return TRUE;
}

static void
on_listed (PrlStore *store, GVariant *result, const GError *error, gpointer user_data)
{
  QueueOp *op = user_data;
  if (answered_store_error (op, error))
    return;
  guint64 total = 0;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  if (op->user)
    member_str (b, "user", op->user);
  json_builder_set_member_name (b, "queues");
  add_entries (b, result, op->user, &total);
  member_int (b, "total", (gint64)total);
  json_builder_end_object (b);
  prl_admin_call_return (op->call, json_builder_get_root (b));
  queue_op_free (op);
}

static PrlStore *
store_or_answer (PrlAdminCall *call, gpointer context)
{
  PrlStore *store = prl_daemon_store (daemon_of (context));
  if (store == NULL)
    prl_admin_call_error (call, PRL_ADMIN_NOT_CONFIGURED, "offline store not configured");
  return store;
}

static void
do_queue_list (PrlAdminCall *call, JsonObject *args, gpointer context)
{
  PrlStore *store = store_or_answer (call, context);
  if (store == NULL)
    return;
  QueueOp *op = g_new0 (QueueOp, 1);
  op->call = call;
  prl_store_list (store, QUEUE_LIST_MAX, on_listed, op);
}

/* queue.show: the store hands out messages only under a delivery lease, so the admin view
 * is the per-owner count and oldest time, filtered to USER (store.h's list). */
static void
do_queue_show (PrlAdminCall *call, JsonObject *args, gpointer context)
{
  PrlStore *store = store_or_answer (call, context);
  if (store == NULL)
    return;
  QueueOp *op = g_new0 (QueueOp, 1);
  op->call = call;
  op->user = g_strdup (json_object_get_string_member (args, "user"));
  prl_store_list (store, QUEUE_LIST_MAX, on_listed, op);
}

static void
purge_answer (QueueOp *op)
{
  guint64 total = 0;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  member_str (b, "user", op->user);
  json_builder_set_member_name (b, "purged");
  add_entries (b, op->listing, op->user, &total);
  member_int (b, "total", (gint64)total);
  json_builder_end_object (b);
  g_message ("queue.purge %s: %" G_GUINT64_FORMAT " parked messages removed", op->user, total);
  prl_admin_call_return (op->call, json_builder_get_root (b));
  queue_op_free (op);
}

static void
on_purged (PrlStore *store, const GError *error, gpointer user_data)
{
  QueueOp *op = user_data;
  if (error && !op->failed) {
    op->failed = TRUE;
    prl_admin_call_error (op->call, PRL_ADMIN_FAILED, "offline store: %s", error->message);
  }
  if (++op->purged < op->to_purge)
    return;
  if (op->failed)
    queue_op_free (op);
  else
    purge_answer (op);
}

static void
on_listed_for_purge (PrlStore *store, GVariant *result, const GError *error, gpointer user_data)
{
  QueueOp *op = user_data;
  if (answered_store_error (op, error))
    return;
  op->listing = g_variant_ref (result);
  g_autoptr (GPtrArray) owners = g_ptr_array_new_with_free_func (g_free);
  GVariantIter it;
  const char *owner;
  guint64 count, oldest;
  g_variant_iter_init (&it, result);
  while (g_variant_iter_loop (&it, "{&s(tt)}", &owner, &count, &oldest)) /* &s: see add_entries */
    if (owner_matches (owner, op->user))
      g_ptr_array_add (owners, g_strdup (owner));
  if (owners->len == 0) {
    prl_admin_call_error (op->call, PRL_ADMIN_NOT_FOUND, "no parked messages for %s", op->user);
    queue_op_free (op);
    return;
  }
  op->to_purge = owners->len;
  for (guint i = 0; i < owners->len; i++)
    prl_store_purge (store, g_ptr_array_index (owners, i), on_purged, op);
}

static void
do_queue_purge (PrlAdminCall *call, JsonObject *args, gpointer context)
{
  PrlStore *store = store_or_answer (call, context);
  if (store == NULL)
    return;
  QueueOp *op = g_new0 (QueueOp, 1);
  op->call = call;
  op->user = g_strdup (json_object_get_string_member (args, "user"));
  prl_store_list (store, QUEUE_LIST_MAX, on_listed_for_purge, op);
}
#else
/* store/ is not part of this build: there is never an offline store. */
static void
no_store (PrlAdminCall *call, JsonObject *args, gpointer context)
{
  prl_admin_call_error (call, PRL_ADMIN_NOT_CONFIGURED, "offline store not configured");
}
#define do_queue_list no_store
#define do_queue_show no_store
#define do_queue_purge no_store
#endif

static void
do_queue_flush (PrlAdminCall *call, JsonObject *args, gpointer context)
{
  const char *user = json_object_get_string_member (args, "user");
  g_autoptr (GError) error = NULL;
  if (!prl_daemon_flush_user (daemon_of (context), user, &error)) {
    gboolean off = prl_daemon_store (daemon_of (context)) == NULL;
    prl_admin_call_error (call, off ? PRL_ADMIN_NOT_CONFIGURED : PRL_ADMIN_FAILED, "%s",
                          error->message);
    return;
  }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  member_str (b, "user", user);
  member_bool (b, "flushing", TRUE);
  json_builder_end_object (b);
  prl_admin_call_return (call, json_builder_get_root (b));
}

static void do_help (PrlAdminCall *call, JsonObject *args, gpointer context);

const PrlAdminMethod prl_admin_methods[] = {
  { "status", do_status, { NULL }, 0, "version, uptime, link states" },
  { "stats", do_stats, { NULL }, 0, "counters per direction and outcome, adapter counters" },
  { "sessions.list", do_sessions_list, { NULL }, 0, "open chat sessions" },
  { "sessions.close", do_sessions_close, { "id", NULL }, 1, "close a chat session" },
  { "queue.list", do_queue_list, { NULL }, 0, "users with parked messages" },
  { "queue.show", do_queue_show, { "user", NULL }, 1, "one user's parked messages" },
  { "queue.flush", do_queue_flush, { "user", NULL }, 1, "deliver a user's parked messages now" },
  { "queue.purge", do_queue_purge, { "user", NULL }, 1, "delete a user's parked messages" },
  { "presence.show", do_presence_show, { "user", NULL }, 1, "what parleyd knows of a user" },
  { "log.level", do_log_level, { "domain", "level", NULL }, 0, "show or set a log domain's level" },
  { "config.reload", do_config_reload, { NULL }, 0, "re-read the configuration file" },
  { "metrics", do_metrics, { NULL }, 0, "Prometheus text exposition" },
  { "help", do_help, { NULL }, 0, "the methods" },
  { NULL },
};

static void
do_help (PrlAdminCall *call, JsonObject *args, gpointer context)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "methods");
  json_builder_begin_array (b);
  for (const PrlAdminMethod *m = prl_admin_methods; m->name; m++) {
    json_builder_begin_object (b);
    member_str (b, "name", m->name);
    member_strv (b, "params", (char **)m->params);
    member_str (b, "summary", m->summary);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
  prl_admin_call_return (call, json_builder_get_root (b));
}
