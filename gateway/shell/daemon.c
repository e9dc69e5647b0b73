/* gateway/shell/daemon.c - parleyd's wiring: adapters in, core, actions out.
 *
 * DESIGN: adapters call back into `on_*`, which fill a PrlEvent and call dispatch(). The core
 * returns actions; execute() runs them in order. An action may itself cause an event (the XMPP
 * link turns out to be down when a stanza is handed to it); such events are queued and
 * dispatched after the current batch, never re-entrantly, so the core always sees one event at
 * a time. Timers asked for by the core are GLib timeouts that feed PRL_EVENT_TIMER back.
 * Counters asked for by the core live in a hash table of static names (shown by SIGUSR1, and
 * later by the admin socket).
 */
#include "gateway/shell/daemon.h"

#include "gateway/core.h"

struct _PrlDaemon {
  PrlConfig *config;
  PrlCore *core;
  PrlXmppLink *xmpp;
  PrlSipAgent *sip;
  GHashTable *counters; /* const char* (static) -> guint64* */
  GHashTable *timers;   /* guint64 core timer id -> GSource id */
  GQueue deferred;      /* PrlEvent* produced while executing actions */
  gboolean dispatching;
  guint tick_id;
  PrlDaemonDoneFunc stop_done;
  gpointer stop_data;
};

static void dispatch (PrlDaemon *self, const PrlEvent *event);

static gint64
now_us (void)
{
  return g_get_real_time ();
}

static void
count (PrlDaemon *self, const char *name)
{
  guint64 *n = g_hash_table_lookup (self->counters, name);
  if (n == NULL) {
    n = g_new0 (guint64, 1);
    g_hash_table_insert (self->counters, (gpointer)name, n);
  }
  (*n)++;
}

typedef struct {
  PrlDaemon *daemon;
  guint64 id;
} TimerData;

static gboolean
on_timer (gpointer data)
{
  TimerData *t = data;
  PrlEvent ev = { .kind = PRL_EVENT_TIMER, .now_us = now_us (), .timer_id = t->id };
  g_hash_table_remove (t->daemon->timers, &t->id);
  dispatch (t->daemon, &ev);
  return G_SOURCE_REMOVE;
}

static void
start_timer (PrlDaemon *self, const PrlTimer *timer)
{
  TimerData *t = g_new0 (TimerData, 1);
  t->daemon = self;
  t->id = timer->id;
  guint source = g_timeout_add_full (G_PRIORITY_DEFAULT, timer->ms, on_timer, t, g_free);
  guint64 *key = g_new (guint64, 1);
  *key = timer->id;
  g_hash_table_insert (self->timers, key, GUINT_TO_POINTER (source));
}

static void
execute (PrlDaemon *self, const PrlAction *a)
{
  switch (a->kind) {
  case PRL_ACTION_SIP_RESPOND:
    prl_sip_agent_respond (self->sip, &a->respond);
    break;
  case PRL_ACTION_SIP_SEND:
    prl_sip_agent_send (self->sip, a->sip);
    break;
  case PRL_ACTION_XMPP_SEND:
    if (!prl_xmpp_link_send (self->xmpp, a->xmpp)) {
      /* The link dropped before the core heard of it: tell the core, which answers the
       * SIP sender with a retryable error instead of letting the message vanish. */
      PrlEvent *ev = g_new0 (PrlEvent, 1);
      ev->kind = PRL_EVENT_XMPP_LINK;
      ev->link_up = FALSE;
      g_queue_push_tail (&self->deferred, ev);
      count (self, "xmpp_send_link_down");
    }
    break;
  case PRL_ACTION_TIMER:
    start_timer (self, &a->timer);
    break;
  case PRL_ACTION_COUNT:
    count (self, a->counter);
    break;
  }
}

static void
dispatch (PrlDaemon *self, const PrlEvent *event)
{
  g_autoptr (GPtrArray) actions = prl_action_array_new ();
  prl_core_handle (self->core, event, actions);
  if (self->dispatching) {
    /* Only execute() can get here (through an adapter calling back synchronously); the
     * adapters promise not to, so this is a bug. */
    g_critical ("re-entrant dispatch of %s", prl_event_kind_to_string (event->kind));
  }
  self->dispatching = TRUE;
  for (guint i = 0; i < actions->len; i++)
    execute (self, g_ptr_array_index (actions, i));
  self->dispatching = FALSE;
  PrlEvent *next;
  while ((next = g_queue_pop_head (&self->deferred)) != NULL) {
    next->now_us = now_us ();
    dispatch (self, next);
    g_free (next);
  }
}

static void
on_xmpp_message (PrlXmppLink *link, const PrlXmppMessage *msg, gpointer user_data)
{
  PrlEvent ev
      = { .kind = PRL_EVENT_XMPP_MESSAGE, .now_us = now_us (), .xmpp = (PrlXmppMessage *)msg };
  dispatch (user_data, &ev);
}

static void
on_xmpp_state (PrlXmppLink *link, gboolean online, gpointer user_data)
{
  PrlDaemon *self = user_data;
  if (online)
    g_message ("XMPP component online as %s (%s:%u)", self->config->xmpp.component,
               self->config->xmpp.host, self->config->xmpp.port);
  else
    g_warning ("XMPP component offline; SIP senders get 503 until it is back");
  PrlEvent ev = { .kind = PRL_EVENT_XMPP_LINK, .now_us = now_us (), .link_up = online };
  dispatch (self, &ev);
}

static void
on_sip_message (PrlSipAgent *agent, const PrlSipMessage *msg, gpointer user_data)
{
  PrlEvent ev = { .kind = PRL_EVENT_SIP_MESSAGE, .now_us = now_us (), .sip = (PrlSipMessage *)msg };
  dispatch (user_data, &ev);
}

static void
on_sip_response (PrlSipAgent *agent, guint64 request, guint status, const char *reason,
                 const char *contact, gpointer user_data)
{
  PrlEvent ev = { .kind = PRL_EVENT_SIP_RESPONSE, .now_us = now_us () };
  ev.response.request = request;
  ev.response.status = status;
  ev.response.reason = (char *)reason;
  ev.response.contact = (char *)contact;
  dispatch (user_data, &ev);
}

static gboolean
on_tick (gpointer user_data)
{
  PrlEvent ev = { .kind = PRL_EVENT_TICK, .now_us = now_us () };
  dispatch (user_data, &ev);
  return G_SOURCE_CONTINUE;
}

PrlDaemon *
prl_daemon_new (PrlConfig *config, GError **error)
{
  static const PrlSipAgentCallbacks sip_cb = { on_sip_message, on_sip_response };
  static const PrlXmppLinkCallbacks xmpp_cb = { on_xmpp_message, on_xmpp_state };
  g_autoptr (PrlDaemon) self = g_new0 (PrlDaemon, 1);

  self->config = config;
  self->counters = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  self->timers = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  g_queue_init (&self->deferred);
  self->core = prl_core_new (&config->core);
  self->sip = prl_sip_agent_new (&config->sip, &sip_cb, self, error);
  if (self->sip == NULL)
    return NULL;
  g_message ("SIP listening on %s:%u (%s%s%s)", config->sip.bind_address,
             prl_sip_agent_port (self->sip), config->sip.udp ? "udp" : "",
             config->sip.udp && config->sip.tcp ? "+" : "", config->sip.tcp ? "tcp" : "");
  self->xmpp = prl_xmpp_link_new (&config->xmpp, &xmpp_cb, self);
  prl_xmpp_link_start (self->xmpp);
  self->tick_id = g_timeout_add_seconds (1, on_tick, self);
  return g_steal_pointer (&self);
}

static void
on_sip_shutdown (gpointer user_data)
{
  PrlDaemon *self = user_data;
  PrlDaemonDoneFunc done = self->stop_done;
  self->stop_done = NULL;
  if (done)
    done (self->stop_data);
}

void
prl_daemon_stop (PrlDaemon *self, PrlDaemonDoneFunc done, gpointer user_data)
{
  g_return_if_fail (self != NULL);
  self->stop_done = done;
  self->stop_data = user_data;
  g_clear_handle_id (&self->tick_id, g_source_remove);
  if (self->xmpp)
    prl_xmpp_link_stop (self->xmpp);
  prl_sip_agent_shutdown (self->sip, on_sip_shutdown, self);
}

static void
remove_timer (gpointer key, gpointer value, gpointer user_data)
{
  g_source_remove (GPOINTER_TO_UINT (value));
}

void
prl_daemon_free (PrlDaemon *self)
{
  if (self == NULL)
    return;
  g_clear_handle_id (&self->tick_id, g_source_remove);
  if (self->timers)
    g_hash_table_foreach (self->timers, remove_timer, NULL);
  g_clear_pointer (&self->timers, g_hash_table_unref);
  g_queue_clear_full (&self->deferred, g_free);
  g_clear_pointer (&self->xmpp, prl_xmpp_link_free);
  g_clear_pointer (&self->sip, prl_sip_agent_free);
  g_clear_pointer (&self->core, prl_core_free);
  g_clear_pointer (&self->counters, g_hash_table_unref);
  g_clear_pointer (&self->config, prl_config_free);
  g_free (self);
}

void
prl_daemon_dump_stats (PrlDaemon *self)
{
  g_autoptr (GList) names = g_hash_table_get_keys (self->counters);
  names = g_list_sort (names, (GCompareFunc)g_strcmp0);
  g_autoptr (GString) s = g_string_new ("counters:");
  for (GList *l = names; l; l = l->next)
    g_string_append_printf (s, " %s=%" G_GUINT64_FORMAT, (const char *)l->data,
                            *(guint64 *)g_hash_table_lookup (self->counters, l->data));
  g_string_append_printf (s, "; pending=%u queued=%u", prl_core_pending (self->core),
                          prl_core_queued (self->core));
  const PrlXmppLinkStats *x = prl_xmpp_link_stats (self->xmpp);
  g_string_append_printf (s,
                          "; xmpp rx=%" G_GUINT64_FORMAT " tx=%" G_GUINT64_FORMAT
                          " malformed=%" G_GUINT64_FORMAT " connects=%" G_GUINT64_FORMAT,
                          x->rx_messages, x->tx_messages, x->rx_malformed, x->connects);
  const PrlSipAgentStats *p = prl_sip_agent_stats (self->sip);
  g_string_append_printf (
      s,
      "; sip rx=%" G_GUINT64_FORMAT " malformed=%" G_GUINT64_FORMAT
      " unparseable=%" G_GUINT64_FORMAT " duplicates=%" G_GUINT64_FORMAT " tx=%" G_GUINT64_FORMAT,
      p->rx_requests, p->rx_malformed, p->rx_unparseable, p->rx_duplicates, p->tx_requests);
  g_message ("%s", s->str);
}
