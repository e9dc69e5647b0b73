/* xmpp/link.c - PrlXmppLink: the XEP-0114 component connection on libstrophe and GLib.
 *
 * libstrophe 0.12 has no main-loop integration, so this file is the glue LIBRARIES.md §1
 * measured and recommends (fd source: ~100 µs RTT, 10 wakeups/s idle):
 *
 *  - A custom GSource polls the socket fd captured by the sockopt callback. prepare() asks
 *    for G_IO_OUT while the TCP connect is pending, otherwise G_IO_IN plus G_IO_OUT while
 *    xmpp_conn_send_queue_len() > 0 (that is the wakeup for sends made from other sources'
 *    callbacks); dispatch() runs xmpp_run_once(ctx, 0). xmpp_send() only queues and bytes
 *    leave at the start of the next run_once, and libstrophe's own writes (stream header,
 *    <handshake/>, </stream:stream>) are invisible to the queue length, so every dispatch
 *    that saw input (or completed the TCP connect) asks for one more "kick" pass at once.
 *    A tick (ready time TICK_MS after the last pass, while a connection exists) serves
 *    libstrophe's internal timers: the 5 s connect and 2 s disconnect timeouts.
 *  - Trap 1: libstrophe crashes on the server's <handshake/> in component mode because the
 *    stream-management state is only allocated by xmpp_connect_client(). Once per link,
 *    before the first component connect, we call xmpp_connect_client() to 127.0.0.1:9 while
 *    our sockopt callback refuses the socket: the state gets allocated, nothing is sent and
 *    the call fails with XMPP_EINT.
 *  - libstrophe does not reconnect: our timer retries with capped exponential backoff, for
 *    async failures (XMPP_CONN_DISCONNECT, error 0 on a refused connect) and synchronous
 *    ones (xmpp_connect_component() returning an error, no callback) alike.
 *  - Between TCP connect and the handshake libstrophe already queues user stanzas and the
 *    server silently drops them, so sending is gated on our own `online` flag, set only in
 *    XMPP_CONN_CONNECT.
 *
 * The sockopt callback has no userdata, so links are found by conn in a file-level table
 * (one thread: the default main context). The link owns ctx, conn and source; the log
 * handler never prints stanza text (bodies) or the secret.
 */
#include "xmpp/xmpp.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "gateway/log-gate.h"
#include "xmpp/codec.h"
#include "xmpp/link-internal.h"

/* The per-stanza debug lines ask the gate first (gateway/log-gate.h). */
#define GATED_DEBUG(...) PRL_GATED_DEBUG (PRL_LOG_GATE_XMPP, __VA_ARGS__)

#define TICK_MS 250
#define PROBE_HOST "127.0.0.1"
#define PROBE_PORT 9

typedef struct _LinkSource LinkSource;

struct _PrlXmppLink {
  PrlXmppLinkConfig config;
  PrlXmppLinkCallbacks callbacks;
  gpointer user_data;
  PrlXmppLinkStats stats;

  xmpp_log_t log;
  xmpp_ctx_t *ctx;
  xmpp_conn_t *conn;
  LinkSource *source; /* attached to the default context from the first start */

  int sock_fd;         /* the fd of the current attempt (sockopt callback), or -1 */
  guint reconnect_id;  /* pending reconnect timer */
  guint attempt;       /* failed attempts since the last handshake (backoff exponent) */
  gboolean is_probed;  /* the sm-state work-around has run */
  gboolean is_probing; /* ... and is running: refuse the socket */
  gboolean is_started; /* between start and stop: keep reconnecting */
  gboolean is_online;  /* handshake done, not lost, not stopped */
  gboolean is_freeing;
  gboolean has_warned; /* the current outage was already reported */
};

struct _LinkSource {
  GSource source;
  PrlXmppLink *link;
  GPollFD pfd;
  gboolean is_polling;     /* pfd is added */
  gboolean is_tcp_pending; /* connect() in progress: wait for writability */
  gboolean kick;           /* one more run_once pass wanted now */
};

static GHashTable *links_by_conn; /* xmpp_conn_t* -> PrlXmppLink*, for on_sockopt */

/* ---- backoff ------------------------------------------------------------------------- */

guint
prl_xmpp_backoff_delay (guint min_ms, guint max_ms, guint attempt)
{
  guint64 delay = MAX (min_ms, 1u);
  guint64 cap = MAX (max_ms, (guint)delay);
  for (guint i = 0; i < attempt && delay < cap; i++)
    delay *= 2;
  return (guint)MIN (delay, cap);
}

/* ---- the GSource ------------------------------------------------------------------------ */

static gboolean
source_prepare (GSource *source, gint *timeout)
{
  LinkSource *ls = (LinkSource *)source;
  *timeout = -1; /* the tick is the source's ready time */
  if (ls->is_polling) {
    if (ls->is_tcp_pending)
      ls->pfd.events = G_IO_OUT;
    else if (xmpp_conn_send_queue_len (ls->link->conn) > 0)
      ls->pfd.events = G_IO_IN | G_IO_OUT;
    else
      ls->pfd.events = G_IO_IN;
  }
  if (ls->kick)
    *timeout = 0;
  return ls->kick;
}

static gboolean
source_check (GSource *source)
{
  LinkSource *ls = (LinkSource *)source;
  return ls->kick || (ls->is_polling && ls->pfd.revents != 0);
}

static gboolean
source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  LinkSource *ls = (LinkSource *)source;
  PrlXmppLink *self = ls->link;
  gushort revents = ls->is_polling ? ls->pfd.revents : 0;
  gboolean connect_done = ls->is_tcp_pending && revents != 0;

  ls->kick = FALSE;
  ls->pfd.revents = 0;
  if (connect_done)
    ls->is_tcp_pending = FALSE;
  /* Acknowledge what arrives at once: toward a component, traffic is mostly one way (we
   * seldom have data to carry the ACK), and a server with Nagle on holds its next stanza
   * until the last one is acknowledged, i.e. for Linux's delayed-ACK time (up to 40 ms) if
   * we delay. The flag does not stick (tcp(7)), hence before every read. */
  if ((revents & G_IO_IN) && !ls->is_tcp_pending) {
    int on = 1;
    (void)setsockopt (ls->pfd.fd, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
  }
  xmpp_run_once (self->ctx, 0); /* may call on_conn_event and the stanza handlers */

  /* Input (or a finished TCP connect) may have made libstrophe or our handlers queue
   * bytes that only the next pass writes. */
  if (connect_done || (revents & (G_IO_IN | G_IO_HUP | G_IO_ERR)))
    ls->kick = TRUE;
  /* The source can recurse (see prl_xmpp_link_start), so it is not blocked here and every
   * change of its ready time writes GLib's wakeup fd: move the tick only when it has passed,
   * not on every pass (a tick at most TICK_MS away is all libstrophe's timers need). */
  gint64 ready = g_source_get_ready_time (source);
  if (xmpp_conn_is_disconnected (self->conn))
    g_source_set_ready_time (source, -1);
  else if (ready == -1 || ready <= g_source_get_time (source))
    g_source_set_ready_time (source, g_source_get_time (source) + TICK_MS * 1000);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs link_source_funcs = {
  .prepare = source_prepare,
  .check = source_check,
  .dispatch = source_dispatch,
};

static void
attach_fd (PrlXmppLink *self)
{
  LinkSource *ls = self->source;
  g_assert (!ls->is_polling);
  ls->pfd.fd = self->sock_fd;
  ls->pfd.events = G_IO_OUT;
  ls->pfd.revents = 0;
  ls->is_tcp_pending = TRUE;
  g_source_add_poll (&ls->source, &ls->pfd);
  ls->is_polling = TRUE;
  /* libstrophe's connect timeout is only checked inside run_once */
  g_source_set_ready_time (&ls->source, g_get_monotonic_time () + TICK_MS * 1000);
}

/* libstrophe has already closed the fd when it reports the disconnect. */
static void
detach_fd (PrlXmppLink *self)
{
  LinkSource *ls = self->source;
  if (ls == NULL || !ls->is_polling)
    return;
  g_source_remove_poll (&ls->source, &ls->pfd);
  ls->is_polling = FALSE;
  ls->is_tcp_pending = FALSE;
  self->sock_fd = -1;
}

/* ---- libstrophe callbacks -------------------------------------------------------------- */

/* libstrophe formats every stanza it sends or receives into a debug line ("SENT: <…>",
 * "RECV: <…>"): keep only the size, so no body or handshake digest reaches a log (the
 * digest is also logged on its own line: dropped). While the
 * link is not online, its errors are about the attempt we are retrying and already report
 * once ourselves, so they drop to info. */
static void
on_strophe_log (void *userdata, xmpp_log_level_t level, const char *area, const char *msg)
{
  PrlXmppLink *self = userdata;
  GLogLevelFlags glevel;
  switch (level) {
  case XMPP_LEVEL_DEBUG:
    glevel = G_LOG_LEVEL_DEBUG;
    break;
  case XMPP_LEVEL_INFO:
    glevel = G_LOG_LEVEL_INFO;
    break;
  case XMPP_LEVEL_WARN:
    glevel = G_LOG_LEVEL_MESSAGE;
    break;
  case XMPP_LEVEL_ERROR:
  default:
    glevel = G_LOG_LEVEL_WARNING;
    break;
  }
  if (self->is_probing)
    glevel = G_LOG_LEVEL_DEBUG; /* the work-around fails on purpose */
  else if (!self->is_online && glevel < G_LOG_LEVEL_INFO)
    glevel = G_LOG_LEVEL_INFO;
  if (!prl_log_gate_shows (PRL_LOG_GATE_STROPHE, glevel))
    return; /* the writer would drop it (gateway/shell/admin-log.c decides, log-gate.h) */
  if (msg == NULL)
    msg = "";
  if (g_str_has_prefix (msg, "Digest:"))
    return; /* the handshake digest stands in for the secret on this stream */
  if (g_str_has_prefix (msg, "SENT:") || g_str_has_prefix (msg, "RECV:"))
    g_log_structured ("parley-strophe", glevel, "MESSAGE", "%s: %.4s %" G_GSIZE_FORMAT " bytes",
                      area ? area : "", msg, strlen (msg) - 5);
  else
    g_log_structured ("parley-strophe", glevel, "MESSAGE", "%s: %s", area ? area : "", msg);
}

static int
on_sockopt (xmpp_conn_t *conn, void *sock)
{
  PrlXmppLink *self = links_by_conn ? g_hash_table_lookup (links_by_conn, conn) : NULL;
  if (self == NULL || self->is_probing)
    return -1; /* trap 1 work-around: libstrophe closes the socket before connect() */
  int fd = *(int *)sock;
  self->sock_fd = fd; /* called once per address tried: the last one is in use */

  /* Notice a server host that vanished without a RST within about 90 s. */
  int on = 1, idle = 60, interval = 10, count = 3;
  if (setsockopt (fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) != 0
      || setsockopt (fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) != 0
      || setsockopt (fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval) != 0
      || setsockopt (fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count) != 0)
    g_debug ("TCP keepalive not set: %s", g_strerror (errno));
  /* Stanzas are small and each one is complete: without this, Nagle holds a stanza while the
   * one before is unacknowledged, and a server delaying its ACK (up to 40 ms on Linux) delays
   * the message by as much (the benchmark's SIP->XMPP p99). */
  if (setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0)
    g_debug ("TCP_NODELAY not set: %s", g_strerror (errno));
  return 0;
}

static const char *
stream_error_name (xmpp_error_type_t type)
{
  switch (type) {
  case XMPP_SE_CONFLICT:
    return "conflict";
  case XMPP_SE_HOST_UNKNOWN:
    return "host-unknown";
  case XMPP_SE_INVALID_NS:
    return "invalid-namespace";
  case XMPP_SE_NOT_AUTHORIZED:
    return "not-authorized";
  case XMPP_SE_SYSTEM_SHUTDOWN:
    return "system-shutdown";
  case XMPP_SE_POLICY_VIOLATION:
    return "policy-violation";
  case XMPP_SE_CONN_TIMEOUT:
    return "connection-timeout";
  case XMPP_SE_XML_NOT_WELL_FORMED:
    return "not-well-formed";
  case XMPP_SE_INVALID_XML:
    return "invalid-xml";
  default:
    return "stream error";
  }
}

static char *
describe_failure (int error, xmpp_stream_error_t *stream_error)
{
  if (stream_error != NULL)
    return g_strdup_printf ("<%s/> from the server", stream_error_name (stream_error->type));
  if (error != 0)
    return g_strdup (g_strerror (error));
  return g_strdup ("connection refused or closed");
}

static gboolean on_reconnect (gpointer data);

static void
schedule_reconnect (PrlXmppLink *self)
{
  if (!self->is_started || self->reconnect_id != 0)
    return;
  guint delay = prl_xmpp_backoff_delay (self->config.reconnect_min_ms,
                                        self->config.reconnect_max_ms, self->attempt);
  if (self->attempt < G_MAXUINT)
    self->attempt++;
  g_info ("XMPP: reconnecting to %s:%u in %u ms (attempt %u)", self->config.host, self->config.port,
          delay, self->attempt);
  self->reconnect_id = g_timeout_add (delay, on_reconnect, self);
}

/* An attempt failed (never online): reported once per outage, then only at info level. */
static void
note_failure (PrlXmppLink *self, const char *why)
{
  if (!self->has_warned) {
    g_warning ("XMPP: component %s not connected to %s:%u (%s); retrying, backoff up to %u ms",
               self->config.component, self->config.host, self->config.port, why,
               self->config.reconnect_max_ms);
    self->has_warned = TRUE;
  } else {
    g_info ("XMPP: attempt to %s:%u failed (%s)", self->config.host, self->config.port, why);
  }
}

static void
on_conn_event (xmpp_conn_t *conn, xmpp_conn_event_t event, int error,
               xmpp_stream_error_t *stream_error, void *userdata)
{
  PrlXmppLink *self = userdata;
  if (self->is_freeing || self->is_probing)
    return;

  switch (event) {
  case XMPP_CONN_CONNECT:
    if (!self->is_started) {
      xmpp_disconnect (conn); /* stopped during the handshake */
      return;
    }
    self->is_online = TRUE;
    self->attempt = 0;
    self->has_warned = FALSE;
    self->stats.connects++;
    g_message ("XMPP: component %s online at %s:%u", self->config.component, self->config.host,
               self->config.port);
    if (self->callbacks.on_state)
      self->callbacks.on_state (self, TRUE, self->user_data);
    return;
  case XMPP_CONN_RAW_CONNECT:
    return;
  case XMPP_CONN_DISCONNECT:
  case XMPP_CONN_FAIL:
  default:
    break;
  }

  detach_fd (self);
  g_autofree char *why = describe_failure (error, stream_error);
  if (self->is_online) {
    self->is_online = FALSE;
    self->has_warned = TRUE; /* this message reports the outage */
    self->stats.disconnects++;
    g_message ("XMPP: component %s offline: %s; reconnecting", self->config.component, why);
    if (self->callbacks.on_state)
      self->callbacks.on_state (self, FALSE, self->user_data);
  } else if (self->is_started) {
    note_failure (self, why);
  } else {
    g_info ("XMPP: connection to %s:%u closed", self->config.host, self->config.port);
  }
  schedule_reconnect (self);
}

static void
send_stanza (PrlXmppLink *self, xmpp_stanza_t *stanza)
{
  xmpp_send (self->conn, stanza); /* queued; the next dispatch writes it */
  xmpp_stanza_release (stanza);
}

static int
on_message_stanza (xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *userdata)
{
  PrlXmppLink *self = userdata;
  g_autoptr (GError) error = NULL;
  g_autoptr (PrlXmppMessage) msg = prl_xmpp_codec_read_message (stanza, &error);
  if (msg == NULL) {
    self->stats.rx_malformed++;
    g_debug ("XMPP: malformed <message/> id=%s: %s", xmpp_stanza_get_id (stanza), error->message);
    xmpp_stanza_t *reply
        = prl_xmpp_codec_error_reply (stanza, "modify", "bad-request", error->message);
    if (reply != NULL && self->is_online) {
      self->stats.tx_errors++;
      send_stanza (self, reply);
    } else if (reply != NULL) {
      xmpp_stanza_release (reply);
    }
    return 1;
  }
  self->stats.rx_messages++;
  GATED_DEBUG ("XMPP: <message/> id=%s type=%s (%" G_GSIZE_FORMAT " bytes body)",
               msg->id ? msg->id : "-", msg->type ? msg->type : "-",
               msg->body ? strlen (msg->body) : 0);
  if (self->callbacks.on_message)
    self->callbacks.on_message (self, msg, self->user_data);
  return 1; /* keep the handler */
}

/* Availability feeds the offline store's "user online" signal (DESIGN.md §7); presence
 * gatewaying proper (RFC 8048) is not done here. */
static int
on_presence_stanza (xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *userdata)
{
  PrlXmppLink *self = userdata;
  const char *type = xmpp_stanza_get_type (stanza);
  const char *from = xmpp_stanza_get_from (stanza);
  const char *to = xmpp_stanza_get_to (stanza);
  self->stats.rx_presence++;
  if (type != NULL && strcmp (type, "unavailable") != 0)
    return 1;
  if (!prl_xmpp_codec_jid_is_valid (from) || !prl_xmpp_codec_jid_is_valid (to))
    return 1;
  GATED_DEBUG ("XMPP: presence %s", type == NULL ? "available" : type);
  if (self->callbacks.on_presence)
    self->callbacks.on_presence (self, from, to, type == NULL, self->user_data);
  return 1;
}

static int
on_iq_stanza (xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *userdata)
{
  PrlXmppLink *self = userdata;
  gboolean is_error = FALSE;
  self->stats.rx_iq++;
  xmpp_stanza_t *reply = prl_xmpp_disco_answer_iq (stanza, self->config.component,
                                                   self->config.disco_name, &is_error);
  g_debug ("XMPP: <iq/> type=%s id=%s -> %s", xmpp_stanza_get_type (stanza),
           xmpp_stanza_get_id (stanza),
           reply == NULL ? "ignored"
           : is_error    ? "error"
                         : "result");
  if (reply == NULL)
    return 1;
  if (!self->is_online) {
    xmpp_stanza_release (reply);
    return 1;
  }
  if (is_error)
    self->stats.tx_errors++;
  send_stanza (self, reply);
  return 1;
}

/* ---- connecting ------------------------------------------------------------------------ */

static void
connect_now (PrlXmppLink *self)
{
  self->sock_fd = -1;
  int rc = xmpp_connect_component (self->conn, self->config.host, (unsigned short)self->config.port,
                                   on_conn_event, self);
  if (rc != XMPP_EOK || self->sock_fd < 0) {
    /* synchronous failure: no callback comes */
    g_autofree char *why = g_strdup_printf ("connect failed at once (libstrophe error %d)", rc);
    note_failure (self, why);
    schedule_reconnect (self);
    return;
  }
  g_debug ("XMPP: connecting to %s:%u", self->config.host, self->config.port);
  attach_fd (self);
}

static gboolean
on_reconnect (gpointer data)
{
  PrlXmppLink *self = data;
  self->reconnect_id = 0;
  if (self->is_started && xmpp_conn_is_disconnected (self->conn))
    connect_now (self);
  return G_SOURCE_REMOVE;
}

/* Trap 1 (LIBRARIES.md): make libstrophe allocate the stream-management state it needs in
 * component mode, without any network traffic. */
static void
probe (PrlXmppLink *self)
{
  self->is_probing = TRUE;
  int rc = xmpp_connect_client (self->conn, PROBE_HOST, PROBE_PORT, on_conn_event, self);
  self->is_probing = FALSE;
  self->is_probed = TRUE;
  if (rc == XMPP_EOK) /* cannot happen while on_sockopt refuses every socket */
    g_critical ("XMPP: the libstrophe work-around connect did not fail (%s:%d)", PROBE_HOST,
                PROBE_PORT);
}

/* ---- public API ------------------------------------------------------------------------ */

void
prl_xmpp_link_config_init (PrlXmppLinkConfig *c)
{
  g_return_if_fail (c != NULL);
  *c = (PrlXmppLinkConfig){
    .port = PRL_XMPP_DEFAULT_PORT,
    .reconnect_min_ms = PRL_XMPP_DEFAULT_RECONNECT_MIN_MS,
    .reconnect_max_ms = PRL_XMPP_DEFAULT_RECONNECT_MAX_MS,
  };
}

void
prl_xmpp_link_config_clear (PrlXmppLinkConfig *c)
{
  if (c == NULL)
    return;
  g_clear_pointer (&c->host, g_free);
  g_clear_pointer (&c->component, g_free);
  if (c->secret != NULL)
    memset (c->secret, 0, strlen (c->secret));
  g_clear_pointer (&c->secret, g_free);
  g_clear_pointer (&c->disco_name, g_free);
  memset (c, 0, sizeof *c);
}

PrlXmppLink *
prl_xmpp_link_new (const PrlXmppLinkConfig *config, const PrlXmppLinkCallbacks *callbacks,
                   gpointer user_data)
{
  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (config->host != NULL && config->component != NULL, NULL);
  g_return_val_if_fail (config->secret != NULL, NULL);

  PrlXmppLink *self = g_new0 (PrlXmppLink, 1);
  self->config.host = g_strdup (config->host);
  self->config.port = config->port ? config->port : PRL_XMPP_DEFAULT_PORT;
  self->config.component = g_strdup (config->component);
  self->config.secret = g_strdup (config->secret);
  self->config.reconnect_min_ms
      = config->reconnect_min_ms ? config->reconnect_min_ms : PRL_XMPP_DEFAULT_RECONNECT_MIN_MS;
  self->config.reconnect_max_ms
      = config->reconnect_max_ms ? config->reconnect_max_ms : PRL_XMPP_DEFAULT_RECONNECT_MAX_MS;
  self->config.reconnect_max_ms
      = MAX (self->config.reconnect_max_ms, self->config.reconnect_min_ms);
  self->config.disco_name
      = g_strdup (config->disco_name ? config->disco_name : PRL_XMPP_DEFAULT_DISCO_NAME);
  if (callbacks != NULL)
    self->callbacks = *callbacks;
  self->user_data = user_data;
  self->sock_fd = -1;

  /* Idempotent; xmpp_shutdown() is never called because it is not reference-counted and
   * other contexts (a second link, the codec tests) may still live. */
  xmpp_initialize ();
  self->log = (xmpp_log_t){ .handler = on_strophe_log, .userdata = self };
  self->ctx = xmpp_ctx_new (NULL, &self->log);
  self->conn = xmpp_conn_new (self->ctx);
  xmpp_conn_set_jid (self->conn, self->config.component);
  xmpp_conn_set_pass (self->conn, self->config.secret);
  xmpp_conn_set_sockopt_callback (self->conn, on_sockopt);
  xmpp_handler_add (self->conn, on_message_stanza, NULL, "message", NULL, self);
  xmpp_handler_add (self->conn, on_iq_stanza, NULL, "iq", NULL, self);
  xmpp_handler_add (self->conn, on_presence_stanza, NULL, "presence", NULL, self);

  if (links_by_conn == NULL)
    links_by_conn = g_hash_table_new (g_direct_hash, g_direct_equal);
  g_hash_table_insert (links_by_conn, self->conn, self);
  return self;
}

void
prl_xmpp_link_start (PrlXmppLink *self)
{
  g_return_if_fail (self != NULL);
  if (self->is_started)
    return;
  self->is_started = TRUE;
  self->attempt = 0;
  self->has_warned = FALSE;
  if (self->source == NULL) {
    self->source = (LinkSource *)g_source_new (&link_source_funcs, sizeof (LinkSource));
    self->source->link = self;
    g_source_set_name (&self->source->source, "parley-xmpp-link");
    /* GLib blocks a non-recursive source around each dispatch by taking its fd out of the
     * poll set and putting it back, and each of those writes the context's wakeup eventfd:
     * two syscalls per dispatch, more than a stanza costs. Nothing here runs a nested loop. */
    g_source_set_can_recurse (&self->source->source, TRUE);
    g_source_attach (&self->source->source, NULL);
  }
  if (!self->is_probed)
    probe (self);
  g_message ("XMPP: component %s connecting to %s:%u", self->config.component, self->config.host,
             self->config.port);
  if (xmpp_conn_is_disconnected (self->conn))
    connect_now (self);
  /* else a stop is still closing the previous connection: its DISCONNECT reconnects */
}

gboolean
prl_xmpp_link_is_online (PrlXmppLink *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->is_online;
}

gboolean
prl_xmpp_link_send (PrlXmppLink *self, const PrlXmppMessage *msg)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (msg != NULL, FALSE);
  g_return_val_if_fail (msg->from != NULL && msg->to != NULL, FALSE);

  if (!self->is_online) {
    self->stats.tx_dropped_offline++;
    return FALSE;
  }
  /* As text: building a libstrophe tree only for xmpp_send() to render it cost more than the
   * rest of the send (xmpp/codec.c, prl_xmpp_codec_write_message_text). */
  gsize len = 0;
  g_autofree char *text = prl_xmpp_codec_write_message_text (msg, &len);
  xmpp_send_raw (self->conn, text, len); /* copied into libstrophe's queue */
  self->stats.tx_messages++;
  GATED_DEBUG ("XMPP: sent <message/> id=%s type=%s (%" G_GSIZE_FORMAT " bytes body)",
               msg->id ? msg->id : "-", msg->type ? msg->type : "-",
               msg->body ? strlen (msg->body) : 0);
  return TRUE;
}

const PrlXmppLinkStats *
prl_xmpp_link_stats (PrlXmppLink *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return &self->stats;
}

char *
prl_xmpp_link_describe (PrlXmppLink *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  const PrlXmppLinkStats *s = &self->stats;
  return g_strdup_printf (
      "component=%s server=%s:%u state=%s attempt=%u rx_messages=%" G_GUINT64_FORMAT
      " tx_messages=%" G_GUINT64_FORMAT " rx_malformed=%" G_GUINT64_FORMAT
      " rx_iq=%" G_GUINT64_FORMAT " tx_errors=%" G_GUINT64_FORMAT
      " tx_dropped_offline=%" G_GUINT64_FORMAT " connects=%" G_GUINT64_FORMAT
      " disconnects=%" G_GUINT64_FORMAT,
      self->config.component, self->config.host, self->config.port,
      self->is_online    ? "online"
      : self->is_started ? "connecting"
                         : "stopped",
      self->attempt, s->rx_messages, s->tx_messages, s->rx_malformed, s->rx_iq, s->tx_errors,
      s->tx_dropped_offline, s->connects, s->disconnects);
}

void
prl_xmpp_link_stop (PrlXmppLink *self)
{
  g_return_if_fail (self != NULL);
  if (!self->is_started)
    return;
  self->is_started = FALSE;
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  gboolean was_online = self->is_online;
  self->is_online = FALSE;
  if (!xmpp_conn_is_disconnected (self->conn)) {
    xmpp_disconnect (self->conn); /* queues </stream:stream>; DISCONNECT follows */
    if (self->source != NULL)
      self->source->kick = TRUE; /* libstrophe's own write: invisible to the queue length */
  }
  if (was_online) {
    self->stats.disconnects++;
    g_message ("XMPP: component %s offline: stopped", self->config.component);
    if (self->callbacks.on_state)
      self->callbacks.on_state (self, FALSE, self->user_data);
  }
}

void
prl_xmpp_link_free (PrlXmppLink *self)
{
  if (self == NULL)
    return;
  self->is_freeing = TRUE; /* on_conn_event ignores what releasing the conn reports */
  self->is_started = FALSE;
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  if (self->source != NULL) {
    detach_fd (self);
    g_source_destroy (&self->source->source);
    g_source_unref (&self->source->source);
    self->source = NULL;
  }
  if (links_by_conn != NULL) {
    g_hash_table_remove (links_by_conn, self->conn);
    if (g_hash_table_size (links_by_conn) == 0)
      g_clear_pointer (&links_by_conn, g_hash_table_unref);
  }
  xmpp_conn_release (self->conn); /* closes a live socket at once */
  xmpp_ctx_free (self->ctx);
  prl_xmpp_link_config_clear (&self->config);
  g_free (self);
}
