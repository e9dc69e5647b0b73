/* gateway/shell/daemon.c - parleyd's wiring: adapters in, core, actions out.
 *
 * DESIGN: adapters call back into `on_*`, which fill a PrlEvent and call dispatch(). The core
 * returns actions; execute() runs them in order. An action may itself cause an event (the XMPP
 * link turns out to be down when a stanza is handed to it); such events are queued and
 * dispatched after the current batch, never re-entrantly, so the core always sees one event at
 * a time. Timers asked for by the core are GLib timeouts that feed PRL_EVENT_TIMER back.
 * Counters asked for by the core live in a hash table of static names (shown by SIGUSR1 and
 * by the admin socket, which the daemon owns and serves through the introspection API at
 * the end of this file).
 */
#include "gateway/shell/daemon.h"

#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "gateway/chat.h"
#include "gateway/core.h"
#include "gateway/shell/admin-log.h"
#include "gateway/shell/admin.h"
#include "gateway/shell/sessions.h"

struct _PrlDaemon {
  PrlConfig *config;
  PrlCore *core;
  PrlXmppLink *xmpp;
  PrlSipAgent *sip;
  GHashTable *counters;  /* const char* (static) -> guint64* */
  GQueue due;            /* Due*: the core's timers, earliest first */
  GSource *timer_source; /* ready when the head of @due is due */
  GQueue deferred;       /* PrlEvent* produced while executing actions */
  gboolean dispatching;
  guint tick_id;
  guint trim_ticks; /* ticks since the last malloc_trim */
  gint64 started_us, started_mono_us;
  PrlAdmin *admin; /* NULL when [admin] socket is empty or could not be created */
  PrlStore *store; /* the offline store (DESIGN.md §7); NULL when [offline] store = none */
  PrlSessions *sessions; /* chat sessions over MSRP; NULL when [chat] enabled = false */
  gboolean is_freeing;
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

/* The core's timers (a bounce window per SIP->XMPP message, one per flushed stanza) are
 * many, short and nearly all the same length. One GLib timeout each made every loop iteration
 * walk hundreds of sources (a third of parleyd's CPU under load: bench/RESULTS.md), so they
 * live in one deadline-ordered queue behind a single GSource whose ready time is the head's.
 * Inserting walks from the tail, which is O(1) when, as usual, the new deadline is the last. */
typedef struct {
  gint64 due_us; /* monotonic */
  guint64 id;
} Due;

static void
arm_timers (PrlDaemon *self)
{
  Due *head = g_queue_peek_head (&self->due);
  g_source_set_ready_time (self->timer_source, head != NULL ? head->due_us : -1);
}

static gboolean
on_timers_due (gpointer data)
{
  PrlDaemon *self = data;
  gint64 now = g_get_monotonic_time ();
  Due *head;
  while ((head = g_queue_peek_head (&self->due)) != NULL && head->due_us <= now) {
    g_queue_pop_head (&self->due);
    PrlEvent ev = { .kind = PRL_EVENT_TIMER, .now_us = now_us (), .timer_id = head->id };
    g_free (head);
    dispatch (self, &ev); /* may start more timers */
  }
  arm_timers (self);
  return G_SOURCE_CONTINUE;
}

static gboolean
timer_source_dispatch (GSource *source, GSourceFunc callback, gpointer data)
{
  return callback (data);
}

static GSourceFuncs timer_source_funcs = { .dispatch = timer_source_dispatch };

static void
start_timer (PrlDaemon *self, const PrlTimer *timer)
{
  Due *d = g_new0 (Due, 1);
  d->due_us = g_get_monotonic_time () + (gint64)timer->ms * 1000;
  d->id = timer->id;
  GList *after = self->due.tail;
  while (after != NULL && ((Due *)after->data)->due_us > d->due_us)
    after = after->prev;
  if (after == NULL)
    g_queue_push_head (&self->due, d);
  else
    g_queue_insert_after (&self->due, after, d);
  if (self->due.head->data == d)
    arm_timers (self);
}

/* ---------------------------------------------------------------- the offline store
 *
 * Store actions become store calls; every answer comes back (never synchronously, store.h)
 * as one PRL_EVENT_STORE_RESULT with the action's request id. While the daemon is being
 * freed the store completes what is pending with UNAVAILABLE: those answers are dropped. */

typedef struct {
  PrlDaemon *daemon;
  guint64 request;
} StoreCall;

static StoreCall *
store_call_new (PrlDaemon *self, guint64 request)
{
  StoreCall *c = g_new0 (StoreCall, 1);
  c->daemon = self;
  c->request = request;
  return c;
}

static PrlStoreOutcome
store_outcome (const GError *error)
{
  if (error == NULL)
    return PRL_STORE_OK;
  if (error->domain == PRL_STORE_ERROR) {
    switch ((PrlStoreError)error->code) {
    case PRL_STORE_ERROR_QUOTA:
      return PRL_STORE_QUOTA;
    case PRL_STORE_ERROR_FULL:
      return PRL_STORE_FULL;
    case PRL_STORE_ERROR_LEASED:
      return PRL_STORE_LEASED;
    case PRL_STORE_ERROR_UNAVAILABLE:
    case PRL_STORE_ERROR_CORRUPT:
      break;
    }
  }
  return PRL_STORE_UNAVAILABLE;
}

static void
store_answer (StoreCall *c, const GError *error, GPtrArray *messages, guint64 count)
{
  PrlDaemon *self = c->daemon;
  guint64 request = c->request;
  g_free (c);
  if (self->is_freeing)
    return;
  if (error != NULL && !g_error_matches (error, PRL_STORE_ERROR, PRL_STORE_ERROR_LEASED))
    g_debug ("store request %" G_GUINT64_FORMAT ": %s", request, error->message);
  PrlEvent ev = { .kind = PRL_EVENT_STORE_RESULT, .now_us = now_us () };
  ev.store.request = request;
  ev.store.outcome = store_outcome (error);
  ev.store.messages = messages;
  ev.store.count = count;
  dispatch (self, &ev);
}

static void
on_store_done (PrlStore *store, const GError *error, gpointer data)
{
  store_answer (data, error, NULL, 0);
}

static void
on_store_claimed (PrlStore *store, GPtrArray *messages, const GError *error, gpointer data)
{
  store_answer (data, error, error == NULL ? messages : NULL, 0);
}

static void
on_store_expired (PrlStore *store, GVariant *result, const GError *error, gpointer data)
{
  StoreCall *c = data;
  guint64 n = 0;
  if (error == NULL && result != NULL && g_variant_is_of_type (result, G_VARIANT_TYPE_UINT64))
    n = g_variant_get_uint64 (result);
  if (n > 0 && !c->daemon->is_freeing) {
    guint64 *total = g_hash_table_lookup (c->daemon->counters, "offline_expired");
    if (total == NULL) {
      total = g_new0 (guint64, 1);
      g_hash_table_insert (c->daemon->counters, (gpointer) "offline_expired", total);
    }
    *total += n; /* offline.md §7: the daemon adds the number removed */
    g_message ("offline store: %" G_GUINT64_FORMAT " expired message(s) dropped", n);
  }
  store_answer (c, error, NULL, n);
}

static void flush_xmpp_owners (PrlDaemon *self);

static void
on_store_state (PrlStore *store, gboolean is_up, gpointer data)
{
  PrlDaemon *self = data;
  if (self->is_freeing)
    return;
  PrlEvent ev = { .kind = PRL_EVENT_STORE_STATE, .now_us = now_us (), .store_up = is_up };
  dispatch (self, &ev);
  if (is_up && prl_xmpp_link_is_online (self->xmpp))
    flush_xmpp_owners (self);
}

static void
execute_store (PrlDaemon *self, const PrlAction *a)
{
  const PrlStoreOp *op = &a->store;
  StoreCall *c = store_call_new (self, op->request);
  if (self->store == NULL) { /* parking is off: the core should not ask; answer as down */
    PrlEvent *ev = g_new0 (PrlEvent, 1);
    ev->kind = PRL_EVENT_STORE_RESULT;
    ev->store.request = op->request;
    ev->store.outcome = PRL_STORE_UNAVAILABLE;
    g_queue_push_tail (&self->deferred, ev);
    g_free (c);
    return;
  }
  switch (a->kind) {
  case PRL_ACTION_STORE_PARK:
    prl_store_park (self->store, op->message, &self->config->offline.limits, on_store_done, c);
    break;
  case PRL_ACTION_STORE_CLAIM:
    prl_store_claim_after (self->store, op->owner, op->after, op->max, op->lease_ms, op->now_us,
                           on_store_claimed, c);
    break;
  case PRL_ACTION_STORE_ACK:
    prl_store_ack (self->store, op->owner, op->id, on_store_done, c);
    break;
  case PRL_ACTION_STORE_RELEASE:
    prl_store_release (self->store, op->owner, on_store_done, c);
    break;
  case PRL_ACTION_STORE_EXPIRE:
    prl_store_expire (self->store, op->now_us, on_store_expired, c);
    break;
  default:
    g_assert_not_reached ();
  }
}

/* offline.md §5: what was parked because the XMPP link was down (or the server bounced)
 * goes out as soon as the link is back -- the XMPP server itself keeps what its offline users
 * miss -- so every XMPP owner with parked messages is flushed, as if asked by the operator. */
static void
on_owners_listed (PrlStore *store, GVariant *result, const GError *error, gpointer data)
{
  PrlDaemon *self = data;
  if (error != NULL || result == NULL || self->is_freeing
      || !g_variant_is_of_type (result, G_VARIANT_TYPE ("a{s(tt)}")))
    return;
  GVariantIter iter;
  const char *owner;
  guint n = 0;
  g_variant_iter_init (&iter, result);
  /* g_variant_iter_loop: its "&s" stays valid for the whole iteration (iter_next's would die
   * with the child value of an in-memory listing) */
  while (g_variant_iter_loop (&iter, "{&s(tt)}", &owner, NULL, NULL)) {
    if (!g_str_has_prefix (owner, "xmpp:"))
      continue;
    PrlEvent ev = { .kind = PRL_EVENT_FLUSH, .now_us = now_us (), .owner = (char *)owner };
    dispatch (self, &ev);
    n++;
  }
  if (n > 0)
    g_message ("offline store: flushing %u XMPP recipient(s) now that the link is up", n);
}

static void
flush_xmpp_owners (PrlDaemon *self)
{
  if (self->store != NULL && prl_store_is_up (self->store))
    prl_store_list (self->store, 100000, on_owners_listed, self);
}

static PrlStore *
store_new (const PrlOfflineConfig *o)
{
  if (o->store == NULL)
    return NULL;
  if (strcmp (o->store, "memory") == 0) {
    g_warning ("offline store in memory: parked messages are lost when parleyd stops");
    return prl_store_memory_new (o->instance);
  }
  g_message ("offline store: Redis at %s%s%u, instance %s", o->redis_host, o->redis_port ? ":" : "",
             o->redis_port, o->instance);
  return prl_store_redis_new (o->redis_host, o->redis_port, o->redis_db, o->redis_prefix,
                              o->instance);
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
  case PRL_ACTION_STORE_PARK:
  case PRL_ACTION_STORE_CLAIM:
  case PRL_ACTION_STORE_ACK:
  case PRL_ACTION_STORE_RELEASE:
  case PRL_ACTION_STORE_EXPIRE:
    execute_store (self, a);
    break;
  case PRL_ACTION_SIP_WATCH:
    prl_sip_agent_watch (self->sip, a->aor);
    break;
  case PRL_ACTION_SIP_UNWATCH:
    prl_sip_agent_unwatch (self->sip, a->aor);
    break;
  case PRL_ACTION_CHAT_OPEN:
  case PRL_ACTION_CHAT_ACCEPT:
  case PRL_ACTION_CHAT_REJECT:
  case PRL_ACTION_CHAT_SEND:
  case PRL_ACTION_CHAT_REPORT:
  case PRL_ACTION_CHAT_CLOSE:
    if (self->sessions != NULL)
      prl_sessions_execute (self->sessions, a);
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
  else if (self->store != NULL)
    g_warning ("XMPP component offline; messages from SIP are parked until it is back");
  else
    g_warning ("XMPP component offline; SIP senders get 503 until it is back");
  PrlEvent ev = { .kind = PRL_EVENT_XMPP_LINK, .now_us = now_us (), .link_up = online };
  dispatch (self, &ev);
  if (online)
    flush_xmpp_owners (self);
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

/* Online signals for the offline store (DESIGN.md §7): the core decides what they mean. */
static void
on_sip_register (PrlSipAgent *agent, const char *aor, const char *contact, guint expires,
                 gpointer user_data)
{
  PrlEvent ev = { .kind = PRL_EVENT_SIP_REGISTER, .now_us = now_us () };
  ev.reg.aor = (char *)aor;
  ev.reg.contact = (char *)contact;
  ev.reg.expires = expires;
  dispatch (user_data, &ev);
}

/* A reg-event NOTIFY (RFC 3680) about a watched AoR: the same online signal as a REGISTER
 * (an active contact = expires > 0, none = expires 0). */
static void
on_sip_reginfo (PrlSipAgent *agent, const char *aor, gboolean active, const char *contact,
                gpointer user_data)
{
  PrlEvent ev = { .kind = PRL_EVENT_SIP_REGISTER, .now_us = now_us () };
  ev.reg.aor = (char *)aor;
  ev.reg.contact = (char *)contact;
  ev.reg.expires = active ? 3600 : 0;
  dispatch (user_data, &ev);
}

static void
on_xmpp_presence (PrlXmppLink *link, const char *from, const char *to, gboolean available,
                  gpointer user_data)
{
  PrlEvent ev = { .kind = PRL_EVENT_XMPP_PRESENCE, .now_us = now_us () };
  ev.presence.from = (char *)from;
  ev.presence.to = (char *)to;
  ev.presence.available = available;
  dispatch (user_data, &ev);
}

/* Chat sessions (gateway/shell/sessions.c): the agent's INVITE callbacks go there, and what
 * it reports comes back as PRL_EVENT_CHAT_* from the main loop. */
static void
on_session_event (const PrlEvent *event, gpointer user_data)
{
  dispatch (user_data, event);
}

static void
on_sip_invite (PrlSipAgent *agent, const PrlSipMessage *invite, gpointer user_data)
{
  PrlDaemon *self = user_data;
  if (self->sessions != NULL)
    prl_sessions_on_invite (self->sessions, invite);
  else
    prl_sip_agent_answer (agent, invite->txn, 488, "Chat sessions are not gatewayed", NULL);
}

static void
on_sip_invite_result (PrlSipAgent *agent, guint64 session, guint status, const char *reason,
                      const char *sdp, gsize sdp_len, gpointer user_data)
{
  PrlDaemon *self = user_data;
  if (self->sessions != NULL)
    prl_sessions_on_invite_result (self->sessions, session, status, reason, sdp, sdp_len);
}

static void
on_sip_session_end (PrlSipAgent *agent, guint64 session, const char *reason, gpointer user_data)
{
  PrlDaemon *self = user_data;
  if (self->sessions != NULL)
    prl_sessions_on_session_end (self->sessions, session, reason);
}

/* After a burst the heap holds much freed memory (sofia keeps every answered UDP
 * transaction udp_retention_ms, then frees it), which the allocator would keep, so RSS would
 * stay at the burst's peak: every [daemon] trim_interval_s it is given back - jemalloc (when
 * parleyd is linked with it, meson -Dallocator) purges its arenas, glibc's malloc_trim()
 * releases free pages. mallctl is a weak reference: NULL without jemalloc. */
extern int mallctl (const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    __attribute__ ((weak));

static void
trim_heap (PrlDaemon *self)
{
  guint every = self->config->trim_interval_s;
  if (every == 0 || ++self->trim_ticks < every)
    return;
  self->trim_ticks = 0;
  if (mallctl != NULL) {
    mallctl ("arena.4096.purge", NULL, NULL, NULL, 0); /* 4096: MALLCTL_ARENAS_ALL */
    return;
  }
#ifdef __GLIBC__
  malloc_trim (0);
#endif
}

static gboolean
on_tick (gpointer user_data)
{
  PrlEvent ev = { .kind = PRL_EVENT_TICK, .now_us = now_us () };
  dispatch (user_data, &ev);
  trim_heap (user_data);
  return G_SOURCE_CONTINUE;
}

PrlDaemon *
prl_daemon_new (PrlConfig *config, GError **error)
{
  static const PrlSipAgentCallbacks sip_cb = { .on_message = on_sip_message,
                                               .on_response = on_sip_response,
                                               .on_register = on_sip_register,
                                               .on_reginfo = on_sip_reginfo,
                                               .on_invite = on_sip_invite,
                                               .on_invite_result = on_sip_invite_result,
                                               .on_session_end = on_sip_session_end };
  static const PrlXmppLinkCallbacks xmpp_cb = { .on_message = on_xmpp_message,
                                                .on_state = on_xmpp_state,
                                                .on_presence = on_xmpp_presence };
  g_autoptr (PrlDaemon) self = g_new0 (PrlDaemon, 1);

  self->config = config;
  /* Ids the core makes (XMPP ids, Call-IDs, parked message ids) must never repeat across
   * restarts or between instances sharing one Redis, and should not be guessable (an XMPP
   * error naming an id is matched to the pending message): 64 random bits per process. */
  g_free (config->core.id_prefix);
  config->core.id_prefix = g_strdup_printf ("p%08x%08x", g_random_int (), g_random_int ());
  self->counters = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  g_queue_init (&self->due);
  self->timer_source = g_source_new (&timer_source_funcs, sizeof (GSource));
  g_source_set_callback (self->timer_source, on_timers_due, self, NULL);
  g_source_attach (self->timer_source, NULL);
  g_queue_init (&self->deferred);
  self->core = prl_core_new (&config->core);
  self->sip = prl_sip_agent_new (&config->sip, &sip_cb, self, error);
  if (self->sip == NULL)
    return NULL;
  g_message ("SIP listening on %s:%u (%s%s%s)", config->sip.bind_address,
             prl_sip_agent_port (self->sip), config->sip.udp ? "udp" : "",
             config->sip.udp && config->sip.tcp ? "+" : "", config->sip.tcp ? "tcp" : "");
  if (config->chat.enabled) {
    self->sessions = prl_sessions_new (&config->chat, self->sip, on_session_event, self, error);
    if (self->sessions == NULL)
      return NULL;
  }
  self->store = store_new (&config->offline);
  if (self->store != NULL) {
    prl_store_set_state_func (self->store, on_store_state, self);
    if (prl_store_is_up (self->store)) { /* the memory store is up from the start */
      PrlEvent ev = { .kind = PRL_EVENT_STORE_STATE, .now_us = now_us (), .store_up = TRUE };
      dispatch (self, &ev);
    }
  }
  self->xmpp = prl_xmpp_link_new (&config->xmpp, &xmpp_cb, self);
  prl_xmpp_link_start (self->xmpp);
  self->tick_id = g_timeout_add_seconds (1, on_tick, self);
  self->started_us = g_get_real_time ();
  self->started_mono_us = g_get_monotonic_time ();
  if (config->admin.socket_path != NULL) {
    /* The gateway relays without its admin socket: a failure is loud but not fatal. */
    g_autoptr (GError) admin_error = NULL;
    self->admin = prl_admin_new (self, &config->admin, &admin_error);
    if (self->admin == NULL)
      g_warning ("admin socket disabled: %s", admin_error->message);
    else
      g_message ("admin socket at %s", config->admin.socket_path);
  }
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
  g_clear_pointer (&self->admin, prl_admin_free);
  g_clear_handle_id (&self->tick_id, g_source_remove);
  if (self->xmpp)
    prl_xmpp_link_stop (self->xmpp);
  prl_sip_agent_shutdown (self->sip, on_sip_shutdown, self);
}

void
prl_daemon_free (PrlDaemon *self)
{
  if (self == NULL)
    return;
  self->is_freeing = TRUE;
  g_clear_pointer (&self->store, prl_store_free); /* pending answers come back, and are dropped */
  g_clear_pointer (&self->admin, prl_admin_free);
  g_clear_handle_id (&self->tick_id, g_source_remove);
  if (self->timer_source != NULL)
    g_source_destroy (self->timer_source);
  g_clear_pointer (&self->timer_source, g_source_unref);
  g_queue_clear_full (&self->due, g_free);
  g_queue_clear_full (&self->deferred, g_free);
  g_clear_pointer (&self->xmpp, prl_xmpp_link_free);
  g_clear_pointer (&self->sessions, prl_sessions_free);
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

void
prl_daemon_status (PrlDaemon *self, PrlDaemonStatus *out)
{
  g_return_if_fail (self != NULL && out != NULL);
  const PrlConfig *c = self->config;
  *out = (PrlDaemonStatus){ 0 };
  out->started_us = self->started_us;
  out->uptime_us = g_get_monotonic_time () - self->started_mono_us;
  out->config_path = c->path;
  out->xmpp_online = prl_xmpp_link_is_online (self->xmpp);
  out->xmpp_host = c->xmpp.host;
  out->xmpp_port = c->xmpp.port;
  out->xmpp_component = c->xmpp.component;
  out->sip_bind = c->sip.bind_address;
  out->sip_port = prl_sip_agent_port (self->sip);
  out->sip_udp = c->sip.udp;
  out->sip_tcp = c->sip.tcp;
  out->has_store = self->store != NULL;
  out->store_up = self->store != NULL && prl_store_is_up (self->store);
  out->core_pending = prl_core_pending (self->core);
  out->core_queued = prl_core_queued (self->core);
  out->xmpp_stats = prl_xmpp_link_stats (self->xmpp);
  out->sip_stats = prl_sip_agent_stats (self->sip);
}

char *
prl_daemon_xmpp_describe (PrlDaemon *self)
{
  return prl_xmpp_link_describe (self->xmpp);
}

GHashTable *
prl_daemon_counters (PrlDaemon *self)
{
  return self->counters;
}

GPtrArray *
prl_daemon_chats (PrlDaemon *self)
{
  return prl_core_chats (self->core);
}

gboolean
prl_daemon_chat_enabled (PrlDaemon *self)
{
  return self->sessions != NULL;
}

gboolean
prl_daemon_chat_end (PrlDaemon *self, guint64 id)
{
  g_autoptr (GPtrArray) chats = prl_core_chats (self->core);
  gboolean found = FALSE;
  for (guint i = 0; i < chats->len && !found; i++)
    found = ((PrlChatInfo *)g_ptr_array_index (chats, i))->id == id;
  if (!found)
    return FALSE;
  PrlEvent ev = { .kind = PRL_EVENT_CHAT_END, .now_us = now_us () };
  ev.chat.id = id;
  dispatch (self, &ev);
  return TRUE;
}

PrlStore *
prl_daemon_store (PrlDaemon *self)
{
  return self->store;
}

gboolean
prl_daemon_flush_user (PrlDaemon *self, const char *user, GError **error)
{
  g_return_val_if_fail (self != NULL && user != NULL, FALSE);
  /* The core claims @user's messages and delivers them as if the user had just come online
   * (offline.md §5); the outcome shows in the queue and the counters. */
  if (self->store == NULL) {
    g_set_error_literal (error, PRL_STORE_ERROR, PRL_STORE_ERROR_UNAVAILABLE,
                         "offline store not configured");
    return FALSE;
  }
  if (!prl_store_is_up (self->store)) {
    g_set_error_literal (error, PRL_STORE_ERROR, PRL_STORE_ERROR_UNAVAILABLE,
                         "offline store unreachable");
    return FALSE;
  }
  if (strchr (user, '@') == NULL || strpbrk (user, " \r\n") != NULL) {
    g_set_error (error, PRL_STORE_ERROR, PRL_STORE_ERROR_CORRUPT,
                 "'%s' is not a user (sip:user@host, xmpp:user@domain or user@domain)", user);
    return FALSE;
  }
  /* A bare address means both sides, as in queue.show. */
  gboolean bare = !g_str_has_prefix (user, "sip:") && !g_str_has_prefix (user, "xmpp:");
  g_autofree char *as_sip = bare ? g_strconcat ("sip:", user, NULL) : NULL;
  g_autofree char *as_xmpp = bare ? g_strconcat ("xmpp:", user, NULL) : NULL;
  const char *owners[] = { bare ? as_sip : user, as_xmpp };
  for (guint i = 0; i < G_N_ELEMENTS (owners) && owners[i] != NULL; i++) {
    PrlEvent ev = { .kind = PRL_EVENT_FLUSH, .now_us = now_us (), .owner = (char *)owners[i] };
    dispatch (self, &ev);
  }
  return TRUE;
}

void
prl_daemon_reload_clear (PrlDaemonReload *reload)
{
  g_clear_pointer (&reload->applied, g_strfreev);
  g_clear_pointer (&reload->restart_required, g_strfreev);
}

/* Keys that take effect without a restart: the core's rules (the address mapping aside,
 * which names the component), the allow-lists, logging and the admin limits. */
static gboolean
is_live_key (const char *key)
{
  static const char *const live[] = { "xmpp.domains",
                                      "sip.domains",
                                      "daemon.debug_domains",
                                      "admin.max_clients",
                                      "admin.max_request_bytes",
                                      "admin.max_output_bytes",
                                      "admin.idle_timeout_s",
                                      NULL };
  return g_str_has_prefix (key, "core.") || g_strv_contains (live, key);
}

gboolean
prl_daemon_reload (PrlDaemon *self, PrlDaemonReload *out, GError **error)
{
  g_return_val_if_fail (self != NULL && out != NULL, FALSE);
  g_autoptr (PrlConfig) fresh = prl_config_load (self->config->path, error);
  if (fresh == NULL)
    return FALSE;
  g_auto (GStrv) changed = prl_config_diff (self->config, fresh);
  g_autoptr (GStrvBuilder) applied = g_strv_builder_new ();
  g_autoptr (GStrvBuilder) restart = g_strv_builder_new ();
  for (guint i = 0; changed[i]; i++) {
    if (!is_live_key (changed[i])) {
      g_strv_builder_add (restart, changed[i]);
      continue;
    }
    g_strv_builder_add (applied, changed[i]);
    g_hash_table_insert (self->config->values, g_strdup (changed[i]),
                         g_strdup (g_hash_table_lookup (fresh->values, changed[i])));
  }
  /* The new [core] with what only a restart may change kept as running: the domain rules
   * (they follow [xmpp] component and [mapping]) and outbound_udp (from [sip]). */
  PrlCoreConfig core = fresh->core;
  GPtrArray *running_rules = self->config->core.domains;
  self->config->core.domains = fresh->core.domains;
  core.domains = running_rules;
  core.outbound_udp = self->config->core.outbound_udp;
  /* ...and the per-process id prefix and the [offline] part (restart-only keys). */
  char *running_prefix = self->config->core.id_prefix;
  self->config->core.id_prefix = fresh->core.id_prefix;
  core.id_prefix = running_prefix;
  char *running_notice = self->config->core.stored_notice;
  self->config->core.stored_notice = fresh->core.stored_notice;
  core.stored_notice = running_notice;
  const PrlCoreConfig *run = &self->config->core;
  core.offline_enabled = run->offline_enabled;
  core.offline_expiry_s = run->offline_expiry_s;
  core.flush_batch = run->flush_batch;
  core.flush_lease_ms = run->flush_lease_ms;
  core.flush_recheck_s = run->flush_recheck_s;
  core.expire_interval_s = run->expire_interval_s;
  core.offline_retry_s = run->offline_retry_s;
  core.flush_window = run->flush_window;
  core.flush_window_xmpp = run->flush_window_xmpp;
  core.reg_event = run->reg_event; /* [sip] reg_event: restart only */
  fresh->core = self->config->core;
  self->config->core = core;
  prl_core_set_config (self->core, &self->config->core);

  g_strfreev (self->config->debug_domains);
  self->config->debug_domains = g_steal_pointer (&fresh->debug_domains);
  prl_admin_log_set_config_domains (self->config->debug_domains);
  PrlAdminConfig *a = &self->config->admin;
  a->max_clients = fresh->admin.max_clients;
  a->max_request_bytes = fresh->admin.max_request_bytes;
  a->max_output_bytes = fresh->admin.max_output_bytes;
  a->idle_timeout_s = fresh->admin.idle_timeout_s;
  if (self->admin)
    prl_admin_set_limits (self->admin, a);

  out->applied = g_strv_builder_end (applied);
  out->restart_required = g_strv_builder_end (restart);
  g_message ("configuration reloaded from %s: %u keys applied, %u need a restart",
             self->config->path, g_strv_length (out->applied),
             g_strv_length (out->restart_required));
  return TRUE;
}
