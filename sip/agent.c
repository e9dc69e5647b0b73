/* sip/agent.c - PrlSipAgent: sofia-sip nua on the GLib main loop, MESSAGE in and out.
 *
 * DESIGN
 * One nua stack per agent, on an su_glib root attached to the default GMainContext with
 * su_root_threading (root, 0), so sofia runs in our thread (LIBRARIES.md §2).
 *
 * Incoming MESSAGE (nua_i_message): sip/codec.c turns the sip_t into a PrlSipMessage. What
 * the codec refuses is answered 400 here (STYLE.md §3.6: the adapter answers only what it
 * cannot turn into an event). Accepted requests are saved (nua_save_event), given a guint64
 * txn id in `txns`, and handed to on_message; prl_sip_agent_respond() answers them later with
 * NUTAG_WITH_SAVED and destroys the handle, which we own.
 *
 * Dedupe: sofia keeps an answered UDP server transaction for Timer J (64*T1 = 32 s, ~10 KB
 * each, ~12 KB with INVITE sessions on: MSG_PRELOAD_BYTES); we shorten that with
 * NTATAG_SIP_T1X64 (LIBRARIES.md trap 3), so a retransmission
 * arriving after the transaction is gone reaches us as a new request. A bounded FIFO of
 * Call-ID + CSeq + From-tag keys remembers the final status sent: a late duplicate gets the
 * same status again; one arriving while the original is still unanswered is parked on the
 * original and answered together with it.
 *
 * Outgoing MESSAGE: one nua handle per request id (the core's msg->txn). Parts 2..n of a
 * chunked message reuse the handle, so nua keeps the Call-ID and From tag and bumps the CSeq
 * (STANDARDS.md §9). The handle is destroyed after the last part's final response or any
 * non-2xx. Values refused before the wire are reported from an idle callback, never from
 * inside prl_sip_agent_send().
 *
 * Reg event (RFC 3680): prl_sip_agent_watch() opens one subscription per AoR on a handle of
 * ours (hmagic = the Watch); nua refreshes it. NOTIFY bodies go through sip/reginfo.c and come
 * out as on_reginfo. A failed subscription leaves the Watch without a handle (no retry) until
 * unwatch; unwatch unsubscribes and the handle is destroyed on nua_r_unsubscribe.
 *
 * Ownership: the agent owns the nua, the root, every nua handle it created or was given, and
 * the saved events. sofia memory never leaves this file and sip/codec.c.
 * Sofia's own logs go to the "parley-sofia" domain (STYLE.md §3.7).
 */
#include "sip/sip.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netdb.h>

#include <sofia-sip/nta_tag.h>
#include <sofia-sip/nua.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su_glib.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/su_tag.h>
#include <sofia-sip/tport_tag.h>

#include "gateway/log-gate.h"
#include "gateway/message-map.h"
#include "parley-version.h"
#include "sip/codec.h"
#include "sip/invite.h"
#include "sip/reginfo.h"

#define SOFIA_LOG_DOMAIN "parley-sofia"
#define MAX_PARKED_DUPES 4
#define SHUTDOWN_TIMEOUT_MS 3000
#define MAX_PHRASES 4096
#define WATCH_EXPIRES "3600"
#define MAX_FAILURE_LOGGED 10000 /* AoRs whose failed subscription was logged */
/* The UDP socket's receive buffer (SO_RCVBUF). The kernel default (rmem_default, 208 KiB)
 * holds about 90 small datagrams, 11 ms of MESSAGEs at 8 000/s: a scheduling hiccup on a busy
 * host dropped requests, and their retransmissions failed the benchmark's steps. The kernel
 * caps the request at net.core.rmem_max and doubles it for its bookkeeping: 2 MiB, as the
 * Kamailio of bench/ gets. */
#define UDP_RMEM_BYTES (1024 * 1024)
/* Every SIP message sofia reads or builds gets one block this much larger than its bytes, and
 * the parser's many small pieces (headers, parameters) are cut from it (NTATAG_PRELOAD).
 * Without it each message made dozens of small mallocs; freed when the transaction ended,
 * they left the allocator's small-size slabs sparsely used by the dialogs and sessions set
 * up in between, and that memory could not go back. The size trades idle sessions against
 * retained transactions (the unused rest of a block is kept with them): RSS per idle chat
 * session (bench --only msrp, 1 000 / 10 000 sessions) and the peak of 16 000 MESSAGEs kept
 * 32 s (tests/integration/test_udp_memory.py) were, with no preload: 9.6 / 9.0 KiB and
 * 166 MB; 1024: 8.2 / 7.9 KiB, 167 MB; 2048: 6.3 / 6.3 KiB, 178 MB; 3072: 5.4 / 5.7 KiB,
 * 188 MB; 4096: 5.0 / 5.4 KiB, 230 MB (the block then passes 4 KiB). Only with INVITE sessions
 * (config.invite, [chat] enabled): without them no long-lived dialog is there to be scattered,
 * and the preload would only cost memory per transaction (the bench's gateway ceiling, MESSAGE
 * only: peak 940 -> 1346 MB with 3072). */
#define MSG_PRELOAD_BYTES 3072

/* Per-message lines ask the gate first, as do the plain debug lines on the MESSAGE path
 * (GATED_DEBUG): formatting lines the writer then drops cost a few per cent of the CPU per
 * message (gateway/log-gate.h). */
#define PRL_LOG_CALL(level, call_id, ...)                                                          \
  G_STMT_START                                                                                     \
  {                                                                                                \
    if (prl_log_gate_shows (PRL_LOG_GATE_SIP, (level)))                                            \
      g_log_structured (G_LOG_DOMAIN, level, "PRL_CALL_ID", call_id, "MESSAGE", __VA_ARGS__);      \
  }                                                                                                \
  G_STMT_END
#define GATED_DEBUG(...) PRL_GATED_DEBUG (PRL_LOG_GATE_SIP, __VA_ARGS__)

/* A duplicate parked on a pending server transaction. */
typedef struct {
  nua_handle_t *nh;
  nua_saved_event_t saved[1];
} ParkedDupe;

/* One received MESSAGE waiting for prl_sip_agent_respond(). */
typedef struct {
  guint64 id;
  nua_handle_t *nh;
  nua_saved_event_t saved[1];
  char *dedupe_key; /* NULL when dedupe is off */
  GPtrArray *dupes; /* ParkedDupe*, or NULL */
} ServerTxn;

/* One sent MESSAGE (or chunk sequence) by request id. */
typedef struct {
  guint64 request;
  nua_handle_t *nh;
  guint part, parts;
  gboolean is_outstanding;
} ClientReq;

/* One reg-event subscription (prl_sip_agent_watch). */
typedef struct {
  char *aor;
  nua_handle_t *nh; /* NULL once the subscription failed */
  gboolean unsubscribing;
} Watch;

/* What we answered to one request, for late retransmissions. */
typedef struct {
  char *key;
  guint status; /* 0 while the request is pending */
  char *reason;
  guint64 txn; /* the pending txn, 0 once answered */
  GList link;  /* in PrlSipAgent.dedupe_order, data = this */
} DedupeEntry;

/* A send refused before the wire, reported from an idle callback. */
typedef struct {
  guint64 request;
  guint status;
  char *reason;
} LocalFailure;

struct _PrlSipAgent {
  PrlSipAgentConfig config;
  PrlSipAgentCallbacks cb;
  gpointer user_data;

  su_root_t *root;
  nua_t *nua;
  guint port;

  PrlSipAgentStats stats;
  guint64 last_txn;
  GHashTable *txns;     /* guint64* id -> ServerTxn* (owned) */
  GHashTable *requests; /* guint64* request -> ClientReq* (owned) */
  GHashTable *dedupe;   /* key -> DedupeEntry* (owned; key is entry->key) */
  GQueue dedupe_order;  /* oldest first */
  GHashTable *phrases;  /* interned reason phrases (prl_sip_agent_phrase) */
  GQueue failures;      /* LocalFailure* */
  guint failure_idle;
  GHashTable *watches;     /* aor -> Watch* (owned) */
  GHashTable *unwatching;  /* Watch* (owned) waiting for nua_r_unsubscribe */
  GHashTable *fail_logged; /* aor -> NULL: failures already logged */
  PrlSipInvites *invites;  /* INVITE sessions (config.invite), or NULL */

  gboolean is_shutting_down, is_shutdown;
  PrlSipAgentDoneFunc done;
  gpointer done_data;
  guint shutdown_timer, done_idle;
};

/* ---------------------------------------------------------------- sofia logs */

/* su_logger_f receives printf fragments that are not always whole lines: collect them and
 * emit one log record per '\n'. sofia's logger is process-global, so is the buffer. */
static GString *sofia_line;
/* sofia drops what it cannot parse as a SIP message and only logs it: counted here. */
static guint64 sofia_garbage;

static void on_sofia_log (void *stream, const char *fmt, va_list ap) G_GNUC_PRINTF (2, 0);

static void
on_sofia_log (void *stream, const char *fmt, va_list ap)
{
  if (sofia_line == NULL)
    sofia_line = g_string_new (NULL);
  g_string_append_vprintf (sofia_line, fmt, ap);
  char *nl;
  while ((nl = memchr (sofia_line->str, '\n', sofia_line->len)) != NULL) {
    gsize n = (gsize)(nl - sofia_line->str);
    g_autofree char *line = g_strndup (sofia_line->str, n);
    g_string_erase (sofia_line, 0, (gssize)n + 1);
    if (strstr (line, "received garbage") != NULL)
      sofia_garbage++;
    if (*line != '\0')
      g_log_structured (SOFIA_LOG_DOMAIN, G_LOG_LEVEL_INFO, "MESSAGE", "%s", line);
  }
}

static void
init_sofia_once (void)
{
  static gsize done = 0;
  if (g_once_init_enter (&done)) {
    su_init ();
    /* Module logs without a logger of their own fall back to the default log's. */
    su_log_redirect (su_log_default, on_sofia_log, NULL);
    su_log_redirect (su_log_global, on_sofia_log, NULL);
    g_once_init_leave (&done, 1);
  }
}

/* ---------------------------------------------------------------- sofia's GSource */

/* sofia's GSource (su_source.c) rounds the time left to its next timer down to whole
 * milliseconds, and when that is 0 its prepare says "ready": for the last millisecond before
 * every timer the loop polls with timeout 0, dispatches, finds nothing due and goes round
 * again. nta arms its timer for the next transaction deadline, and with many transactions
 * (each answered UDP MESSAGE is kept for udp_retention_ms) one is nearly always less than a
 * millisecond away: parleyd spun at tens of thousands of empty iterations a second for as
 * long as retained transactions lasted, as much CPU again as the messages themselves
 * (bench/RESULTS.md). So sofia's source gets a prepare of ours around sofia's own, which
 * turns "ready" into "poll for at most 1 ms": check () (sofia's, unchanged) runs after the
 * poll and finds the timer due, or the stack's sockets readable, and the dispatch follows.
 *
 * Messages queued for the stack (su_msg: every nua call, every nua event) are not delayed:
 * sofia wakes the GMainContext when it queues the first one (su_port_wakeup ->
 * g_main_context_wakeup), so that poll returns at once and check () finds them. The prepare
 * cannot tell the two "ready"s apart (sofia 1.12.11 answers timeout 0 for both), and need not.
 * A timer already due waits at most the 1 ms poll: nta's timers are in milliseconds anyway.
 *
 * The GSourceFuncs of a GSource is a public field of the struct (gmain.h); the copy keeps
 * every other function of sofia's. */
static GSourceFuncs sofia_source_funcs;
static gboolean (*sofia_prepare) (GSource *source, gint *timeout);

static gboolean
prepare_sofia_source (GSource *source, gint *timeout)
{
  if (!sofia_prepare (source, timeout))
    return FALSE;
  *timeout = 1;
  return FALSE;
}

static void
round_up_sofia_timers (GSource *source)
{
  static gsize done = 0;
  if (g_once_init_enter (&done)) {
    sofia_source_funcs = *source->source_funcs;
    sofia_prepare = sofia_source_funcs.prepare;
    sofia_source_funcs.prepare = prepare_sofia_source;
    g_once_init_leave (&done, 1);
  }
  if (source->source_funcs->prepare == sofia_prepare)
    source->source_funcs = &sofia_source_funcs;
}

/* ---------------------------------------------------------------- config */

void
prl_sip_agent_config_init (PrlSipAgentConfig *c)
{
  g_return_if_fail (c != NULL);
  memset (c, 0, sizeof *c);
  c->bind_address = g_strdup ("127.0.0.1");
  c->port = 5060;
  c->udp = TRUE;
  c->tcp = TRUE;
  c->user_agent = g_strdup ("Parley/" PRL_VERSION);
  c->udp_retention_ms = 4000;
  c->dedupe_size = 65536;
}

void
prl_sip_agent_config_clear (PrlSipAgentConfig *c)
{
  if (c == NULL)
    return;
  g_clear_pointer (&c->bind_address, g_free);
  g_clear_pointer (&c->outbound_proxy, g_free);
  g_clear_pointer (&c->user_agent, g_free);
}

/* ---------------------------------------------------------------- tables */

static void
server_txn_free (ServerTxn *t)
{
  if (t->dupes != NULL) {
    for (guint i = 0; i < t->dupes->len; i++) {
      ParkedDupe *d = g_ptr_array_index (t->dupes, i);
      nua_destroy_event (d->saved);
      nua_handle_destroy (d->nh);
      g_free (d);
    }
    g_ptr_array_free (t->dupes, TRUE);
  }
  nua_destroy_event (t->saved);
  if (t->nh != NULL)
    nua_handle_destroy (t->nh);
  g_free (t->dedupe_key);
  g_free (t);
}

static void
client_req_free (ClientReq *r)
{
  if (r->nh != NULL) {
    nua_handle_bind (r->nh, NULL);
    nua_handle_destroy (r->nh);
  }
  g_free (r);
}

static void
dedupe_entry_free (DedupeEntry *e)
{
  g_free (e->key);
  g_free (e->reason);
  g_free (e);
}

static void
local_failure_free (LocalFailure *f)
{
  g_free (f->reason);
  g_free (f);
}

static void
update_gauges (PrlSipAgent *self)
{
  self->stats.pending_txns = g_hash_table_size (self->txns);
  self->stats.pending_requests = g_hash_table_size (self->requests);
  self->stats.dedupe_entries = g_hash_table_size (self->dedupe);
  self->stats.watches = self->watches != NULL ? g_hash_table_size (self->watches) : 0;
}

/* Remembers @key (pending on @txn); evicts the oldest entries beyond dedupe_size. */
static void
dedupe_add (PrlSipAgent *self, const char *key, guint64 txn)
{
  DedupeEntry *e = g_new0 (DedupeEntry, 1);
  e->key = g_strdup (key);
  e->txn = txn;
  e->link.data = e;
  g_hash_table_replace (self->dedupe, e->key, e);
  g_queue_push_tail_link (&self->dedupe_order, &e->link);
  while (self->dedupe_order.length > self->config.dedupe_size) {
    GList *oldest = g_queue_pop_head_link (&self->dedupe_order);
    DedupeEntry *old = oldest->data;
    g_hash_table_remove (self->dedupe, old->key); /* frees old */
  }
}

/* ---------------------------------------------------------------- responding */

/* nua_respond() keeps the phrase pointer until the stack processes the queued signal on a
 * later loop iteration (found by test: a freed phrase went out as garbage), so phrases live
 * as long as the agent. Distinct phrases are few (the core's error map); the table is capped
 * and beyond the cap the standard phrase, which is static in sofia, is used. */
const char *
prl_sip_agent_phrase (PrlSipAgent *self, guint status, const char *reason)
{
  const char *std = sip_status_phrase ((int)status);
  if (reason == NULL || (std != NULL && strcmp (reason, std) == 0))
    return std != NULL ? std : "Unknown";
  char *kept = g_hash_table_lookup (self->phrases, reason);
  if (kept != NULL)
    return kept;
  if (g_hash_table_size (self->phrases) >= MAX_PHRASES)
    return std != NULL ? std : "Unknown";
  kept = g_strdup (reason);
  g_hash_table_add (self->phrases, kept);
  return kept;
}

/* Sends one final response on @nh through the saved request or the current event. */
static void
respond_on (PrlSipAgent *self, nua_handle_t *nh, nua_saved_event_t *saved, guint status,
            const char *reason, const PrlSipRespond *extra)
{
  g_autofree char *retry_after = NULL;
  const char *accept = NULL, *contact = NULL;
  if (extra != NULL) {
    g_autoptr (GError) error = NULL;
    if (extra->retry_after_s > 0)
      retry_after = g_strdup_printf ("%u", extra->retry_after_s);
    if (extra->accept != NULL) {
      if (prl_sip_codec_check_text ("Accept", extra->accept, &error))
        accept = extra->accept;
      else
        g_debug ("txn %" G_GUINT64_FORMAT ": Accept dropped: %s", extra->txn, error->message);
      g_clear_error (&error);
    }
    /* RFC 3428: no Contact in a 2xx to MESSAGE. */
    if (extra->contact != NULL && status >= 300) {
      if (prl_sip_codec_check_contact (extra->contact, &error))
        contact = extra->contact;
      else
        g_debug ("txn %" G_GUINT64_FORMAT ": Contact dropped: %s", extra->txn, error->message);
    }
  }
  nua_respond (nh, (int)status, prl_sip_agent_phrase (self, status, reason),
               NUTAG_WITH (saved != NULL ? nua_saved_event_request (saved)
                                         : nua_current_request (self->nua)),
               TAG_IF (retry_after != NULL, SIPTAG_RETRY_AFTER_STR (retry_after)),
               TAG_IF (accept != NULL, SIPTAG_ACCEPT_STR (accept)),
               TAG_IF (contact != NULL, SIPTAG_CONTACT_STR (contact)),
               TAG_IF (contact == NULL, SIPTAG_CONTACT (SIP_NONE)), TAG_END ());
  self->stats.tx_responses++;
}

void
prl_sip_agent_respond (PrlSipAgent *self, const PrlSipRespond *respond)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (respond != NULL);
  g_return_if_fail (respond->status >= 200 && respond->status <= 699);

  ServerTxn *t = g_hash_table_lookup (self->txns, &respond->txn);
  if (t == NULL) {
    g_debug ("respond: unknown or answered txn %" G_GUINT64_FORMAT, respond->txn);
    return;
  }
  g_autofree char *reason = prl_sip_codec_reason (respond->status, respond->reason);
  GATED_DEBUG ("txn %" G_GUINT64_FORMAT ": %u %s", t->id, respond->status, reason);

  respond_on (self, t->nh, t->saved, respond->status, reason, respond);
  if (t->dupes != NULL)
    for (guint i = 0; i < t->dupes->len; i++) {
      ParkedDupe *d = g_ptr_array_index (t->dupes, i);
      respond_on (self, d->nh, d->saved, respond->status, reason, respond);
    }

  if (t->dedupe_key != NULL) {
    DedupeEntry *e = g_hash_table_lookup (self->dedupe, t->dedupe_key);
    if (e != NULL && e->txn == t->id) {
      e->status = respond->status;
      e->reason = g_strdup (reason);
      e->txn = 0;
    }
  }
  /* Destroying right after nua_respond is safe: the stack has queued the response
   * (LIBRARIES.md §2); server_txn_free destroys the saved events and handles. */
  g_hash_table_remove (self->txns, &respond->txn);
  update_gauges (self);
}

/* ---------------------------------------------------------------- incoming */

static void
on_incoming_message (PrlSipAgent *self, nua_handle_t *nh, const sip_t *sip)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PrlSipMessage) msg = prl_sip_codec_read (sip, &error);
  if (msg == NULL) {
    /* The peer's fault: answered here, counted, logged at debug (STYLE.md §3.6). */
    self->stats.rx_malformed++;
    g_debug ("400 to malformed MESSAGE: %s", error->message);
    respond_on (self, nh, NULL, 400, error->message, NULL);
    nua_handle_destroy (nh);
    return;
  }

  g_autofree char *key = self->config.dedupe_size > 0 ? prl_sip_codec_dedupe_key (sip) : NULL;
  DedupeEntry *seen = key != NULL ? g_hash_table_lookup (self->dedupe, key) : NULL;
  if (seen != NULL) {
    self->stats.rx_duplicates++;
    ServerTxn *pending = seen->txn != 0 ? g_hash_table_lookup (self->txns, &seen->txn) : NULL;
    PRL_LOG_CALL (G_LOG_LEVEL_DEBUG, msg->call_id, "duplicate MESSAGE (CSeq %u), %s", msg->cseq,
                  seen->status != 0 ? "answered again" : "parked");
    if (seen->status != 0) {
      respond_on (self, nh, NULL, seen->status, seen->reason, NULL);
      nua_handle_destroy (nh);
    } else if (pending != NULL
               && (pending->dupes == NULL || pending->dupes->len < MAX_PARKED_DUPES)) {
      ParkedDupe *d = g_new0 (ParkedDupe, 1);
      d->nh = nh;
      nua_save_event (self->nua, d->saved);
      if (pending->dupes == NULL)
        pending->dupes = g_ptr_array_new ();
      g_ptr_array_add (pending->dupes, d);
    } else
      nua_handle_destroy (nh);
    return;
  }

  ServerTxn *t = g_new0 (ServerTxn, 1);
  t->id = ++self->last_txn;
  t->nh = nh;
  nua_save_event (self->nua, t->saved);
  g_hash_table_insert (self->txns, &t->id, t);
  if (key != NULL) {
    t->dedupe_key = g_strdup (key);
    dedupe_add (self, key, t->id);
  }
  self->stats.rx_requests++;
  update_gauges (self);

  msg->txn = t->id;
  PRL_LOG_CALL (G_LOG_LEVEL_DEBUG, msg->call_id,
                "MESSAGE %s -> %s txn %" G_GUINT64_FORMAT " (%" G_GSIZE_FORMAT " bytes, %s)",
                msg->from, msg->to, t->id, msg->body_len, msg->is_udp ? "udp" : "stream");
  if (self->is_shutting_down) {
    PrlSipRespond r = { .txn = t->id, .status = 503, .reason = (char *)"Shutting down" };
    prl_sip_agent_respond (self, &r);
    return;
  }
  if (self->cb.on_message != NULL)
    self->cb.on_message (self, msg, self->user_data);
}

/* ---------------------------------------------------------------- outgoing */

static gboolean
on_failure_idle (gpointer data)
{
  PrlSipAgent *self = data;
  self->failure_idle = 0;
  LocalFailure *f;
  while ((f = g_queue_pop_head (&self->failures)) != NULL) {
    if (self->cb.on_response != NULL)
      self->cb.on_response (self, f->request, f->status, f->reason, NULL, self->user_data);
    local_failure_free (f);
  }
  return G_SOURCE_REMOVE;
}

static void
fail_later (PrlSipAgent *self, guint64 request, guint status, const char *reason)
{
  LocalFailure *f = g_new0 (LocalFailure, 1);
  f->request = request;
  f->status = status;
  f->reason = g_strdup (reason);
  g_queue_push_tail (&self->failures, f);
  self->stats.tx_refused++;
  if (self->failure_idle == 0)
    self->failure_idle = g_idle_add (on_failure_idle, self);
}

/* "<uri>" for To/From: a bare URI with ;params would otherwise lose them to the header. */
static char *
name_addr (const char *uri)
{
  return g_strdup_printf ("<%s>", uri);
}

void
prl_sip_agent_send (PrlSipAgent *self, const PrlSipMessage *msg)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (msg != NULL);

  if (self->is_shutting_down) {
    fail_later (self, msg->txn, 503, "Shutting down");
    return;
  }
  g_autoptr (GError) error = NULL;
  if (!prl_sip_codec_check_outgoing (msg, &error)) {
    PRL_LOG_CALL (G_LOG_LEVEL_DEBUG, msg->call_id != NULL ? msg->call_id : "",
                  "request %" G_GUINT64_FORMAT " refused: %s", msg->txn, error->message);
    fail_later (self, msg->txn, 500, "invalid header value");
    return;
  }

  ClientReq *r = g_hash_table_lookup (self->requests, &msg->txn);
  if (r != NULL && r->is_outstanding) {
    g_debug ("request %" G_GUINT64_FORMAT ": part %u sent before part %u was answered", msg->txn,
             msg->part, r->part);
    fail_later (self, msg->txn, 500, "previous part still pending");
    return;
  }
  if (r != NULL && msg->part <= 1) {
    /* A new message reusing a finished request id: start afresh. */
    g_hash_table_remove (self->requests, &msg->txn);
    r = NULL;
  }

  const char *ruri = msg->request_uri != NULL ? msg->request_uri : msg->to;
  if (r == NULL) {
    g_autofree char *to = name_addr (msg->to != NULL ? msg->to : msg->request_uri);
    g_autofree char *from = name_addr (msg->from);
    r = g_new0 (ClientReq, 1);
    r->request = msg->txn;
    r->nh
        = nua_handle (self->nua, (nua_hmagic_t *)r, SIPTAG_TO_STR (to), SIPTAG_FROM_STR (from),
                      TAG_IF (msg->call_id != NULL, SIPTAG_CALL_ID_STR (msg->call_id)), TAG_END ());
    g_hash_table_insert (self->requests, &r->request, r);
  }
  r->part = msg->part;
  r->parts = msg->parts;
  r->is_outstanding = TRUE;

  /* The payload is counted bytes (it may hold NULs): give sofia a payload object, made in a
   * temporary home; nua_message() copies its tags before returning. */
  su_home_t home[1] = { SU_HOME_INIT (home) };
  sip_payload_t *payload
      = msg->body != NULL ? sip_payload_create (home, msg->body, (isize_t)msg->body_len) : NULL;
  const char *ctype = msg->content_type != NULL ? msg->content_type
                      : payload != NULL         ? "text/plain;charset=UTF-8"
                                                : NULL;

  nua_message (
      r->nh, NUTAG_URL (ruri), TAG_IF (msg->subject != NULL, SIPTAG_SUBJECT_STR (msg->subject)),
      TAG_IF (ctype != NULL, SIPTAG_CONTENT_TYPE_STR (ctype)),
      TAG_IF (msg->content_language != NULL, SIPTAG_CONTENT_LANGUAGE_STR (msg->content_language)),
      TAG_IF (msg->date != NULL, SIPTAG_DATE_STR (msg->date)),
      TAG_IF (payload != NULL, SIPTAG_PAYLOAD (payload)), TAG_END ());
  su_home_deinit (home);
  self->stats.tx_requests++;
  update_gauges (self);
  PRL_LOG_CALL (G_LOG_LEVEL_DEBUG, msg->call_id != NULL ? msg->call_id : "",
                "MESSAGE request %" G_GUINT64_FORMAT " part %u/%u -> %s (%" G_GSIZE_FORMAT
                " bytes)",
                msg->txn, msg->part, msg->parts, ruri, msg->body_len);
}

static void
on_message_response (PrlSipAgent *self, int status, const char *phrase, const sip_t *sip,
                     ClientReq *r)
{
  if (status < 200 || r == NULL)
    return;
  guint64 request = r->request;
  r->is_outstanding = FALSE;
  gboolean is_last = status >= 300 || r->parts <= 1 || r->part >= r->parts;
  if (is_last)
    g_hash_table_remove (self->requests, &request); /* destroys the handle */
  self->stats.rx_responses++;
  update_gauges (self);
  GATED_DEBUG ("request %" G_GUINT64_FORMAT ": %d %s", request, status, phrase ? phrase : "");
  /* A 3xx names the new address in Contact: the core turns it into the gone/redirect text. */
  g_autofree char *contact = NULL;
  if (status >= 300 && status < 400 && sip != NULL && sip->sip_contact != NULL) {
    su_home_t home[1] = { SU_HOME_INIT (home) };
    char *s = url_as_string (home, sip->sip_contact->m_url);
    if (s != NULL && prl_sip_codec_check_uri ("Contact", s, NULL))
      contact = g_strdup (s);
    su_home_deinit (home);
  }
  if (self->cb.on_response != NULL)
    self->cb.on_response (self, request, (guint)status, phrase != NULL ? phrase : "", contact,
                          self->user_data);
}

/* ---------------------------------------------------------------- reg event (RFC 3680) */

static void
watch_free (Watch *w)
{
  if (w == NULL)
    return;
  if (w->nh != NULL)
    nua_handle_destroy (w->nh);
  g_free (w->aor);
  g_free (w);
}

void
prl_sip_agent_watch (PrlSipAgent *self, const char *aor)
{
  g_return_if_fail (self != NULL);
  if (aor == NULL || self->is_shutting_down || g_hash_table_contains (self->watches, aor))
    return;
  g_autoptr (GError) error = NULL;
  if (!prl_sip_codec_check_uri ("AoR", aor, &error)) {
    g_debug ("reg event: not watching %s: %s", aor, error->message);
    return;
  }
  Watch *w = g_new0 (Watch, 1);
  w->aor = g_strdup (aor);
  g_autofree char *to = name_addr (aor);
  g_autofree char *from = g_strdup_printf ("<sip:parley@%s>", self->config.bind_address);
  w->nh = nua_handle (self->nua, (nua_hmagic_t *)w, SIPTAG_TO_STR (to), SIPTAG_FROM_STR (from),
                      TAG_END ());
  g_hash_table_insert (self->watches, w->aor, w);
  nua_subscribe (w->nh, NUTAG_URL (aor), SIPTAG_EVENT_STR ("reg"),
                 SIPTAG_ACCEPT_STR ("application/reginfo+xml"), SIPTAG_EXPIRES_STR (WATCH_EXPIRES),
                 TAG_END ());
  self->stats.tx_subscribes++;
  g_debug ("reg event: SUBSCRIBE %s", aor);
}

void
prl_sip_agent_unwatch (PrlSipAgent *self, const char *aor)
{
  g_return_if_fail (self != NULL);
  Watch *w = aor != NULL ? g_hash_table_lookup (self->watches, aor) : NULL;
  if (w == NULL)
    return;
  g_hash_table_steal (self->watches, aor);
  g_hash_table_remove (self->fail_logged, w->aor);
  if (w->nh == NULL || self->is_shutting_down) {
    watch_free (w);
    return;
  }
  w->unsubscribing = TRUE;
  g_hash_table_add (self->unwatching, w);
  nua_unsubscribe (w->nh, TAG_END ());
  g_debug ("reg event: unSUBSCRIBE %s", w->aor);
}

/* The subscription of @w is over without our asking: count, log once, drop the handle. */
static void
watch_failed (PrlSipAgent *self, Watch *w, int status, const char *phrase)
{
  self->stats.subscribe_failed++;
  if (!g_hash_table_contains (self->fail_logged, w->aor)) {
    if (g_hash_table_size (self->fail_logged) >= MAX_FAILURE_LOGGED)
      g_hash_table_remove_all (self->fail_logged);
    g_hash_table_add (self->fail_logged, g_strdup (w->aor));
    g_debug ("reg event: subscription for %s failed: %d %s (the registrar may not offer the reg "
             "event; REGISTER replication still works)",
             w->aor, status, phrase != NULL ? phrase : "");
  }
  g_clear_pointer (&w->nh, nua_handle_destroy);
}

static void
on_subscribe_response (PrlSipAgent *self, int status, const char *phrase, Watch *w)
{
  if (w == NULL || w->unsubscribing || status < 200)
    return;
  if (status >= 300)
    watch_failed (self, w, status, phrase);
}

static void
on_unsubscribe_response (PrlSipAgent *self, int status, Watch *w)
{
  if (w == NULL || status < 200 || !w->unsubscribing)
    return;
  g_hash_table_remove (self->unwatching, w); /* frees it and its handle */
}

static void
on_notify (PrlSipAgent *self, const sip_t *sip, Watch *w)
{
  self->stats.rx_notifies++;
  if (w->unsubscribing)
    return;
  const sip_payload_t *pl = sip != NULL ? sip->sip_payload : NULL;
  if (pl != NULL && pl->pl_len > 0) {
    g_autoptr (GError) error = NULL;
    g_autoptr (PrlReginfo) info = prl_reginfo_parse (pl->pl_data, pl->pl_len, &error);
    if (info == NULL) {
      self->stats.rx_bad_reginfo++;
      g_debug ("reg event: NOTIFY for %s: bad body: %s", w->aor, error->message);
    }
    for (guint i = 0; info != NULL && i < info->registrations->len; i++) {
      const PrlReginfoRegistration *r = g_ptr_array_index (info->registrations, i);
      if (!prl_sip_codec_check_uri ("aor", r->aor, NULL))
        continue;
      const char *contact = r->contact;
      if (contact != NULL && !prl_sip_codec_check_uri ("contact", contact, NULL))
        contact = NULL;
      g_debug ("reg event: %s is %s%s%s", r->aor, r->active ? "active" : "not registered",
               contact != NULL ? " at " : "", contact != NULL ? contact : "");
      if (self->cb.on_reginfo != NULL)
        self->cb.on_reginfo (self, r->aor, r->active, contact, self->user_data);
    }
  }
  const sip_subscription_state_t *ss = sip != NULL ? sip->sip_subscription_state : NULL;
  if (ss != NULL && ss->ss_substate != NULL
      && g_ascii_strcasecmp (ss->ss_substate, "terminated") == 0)
    watch_failed (self, w, 0, "terminated by the notifier");
}

/* ---------------------------------------------------------------- shutdown */

static gboolean
on_done_idle (gpointer data)
{
  PrlSipAgent *self = data;
  self->done_idle = 0;
  if (self->done != NULL)
    self->done (self->done_data);
  return G_SOURCE_REMOVE;
}

static void
finish_shutdown (PrlSipAgent *self)
{
  if (self->is_shutdown)
    return;
  self->is_shutdown = TRUE;
  g_clear_handle_id (&self->shutdown_timer, g_source_remove);

  /* Requests the stack never answered: report them so the caller can park the messages. */
  GList *open = g_hash_table_get_values (self->requests);
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (guint64));
  for (GList *l = open; l != NULL; l = l->next) {
    ClientReq *r = l->data;
    if (r->is_outstanding)
      g_array_append_val (ids, r->request);
  }
  g_list_free (open);
  g_hash_table_remove_all (self->requests);
  g_hash_table_remove_all (self->txns);
  update_gauges (self);
  for (guint i = 0; i < ids->len; i++)
    if (self->cb.on_response != NULL)
      self->cb.on_response (self, g_array_index (ids, guint64, i), 503, "Shutting down", NULL,
                            self->user_data);
  g_array_free (ids, TRUE);
  if (self->done != NULL && self->done_idle == 0)
    self->done_idle = g_idle_add (on_done_idle, self);
}

static gboolean
on_shutdown_timeout (gpointer data)
{
  PrlSipAgent *self = data;
  self->shutdown_timer = 0;
  g_warning ("SIP stack shutdown did not finish in %d ms", SHUTDOWN_TIMEOUT_MS);
  finish_shutdown (self);
  return G_SOURCE_REMOVE;
}

void
prl_sip_agent_shutdown (PrlSipAgent *self, PrlSipAgentDoneFunc done, gpointer user_data)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (!self->is_shutting_down);
  self->is_shutting_down = TRUE;
  self->done = done;
  self->done_data = user_data;

  GList *ids = g_hash_table_get_keys (self->txns);
  GArray *pending = g_array_new (FALSE, FALSE, sizeof (guint64));
  for (GList *l = ids; l != NULL; l = l->next)
    g_array_append_val (pending, *(guint64 *)l->data);
  g_list_free (ids);
  for (guint i = 0; i < pending->len; i++) {
    PrlSipRespond r = { .txn = g_array_index (pending, guint64, i),
                        .status = 503,
                        .reason = (char *)"Shutting down" };
    prl_sip_agent_respond (self, &r);
  }
  g_array_free (pending, TRUE);

  g_message ("SIP agent on port %u shutting down", self->port);
  self->shutdown_timer = g_timeout_add (SHUTDOWN_TIMEOUT_MS, on_shutdown_timeout, self);
  nua_shutdown (self->nua);
}

/* ---------------------------------------------------------------- nua events */

/* RFC 3261 §20.19 delta-seconds: digits only; beyond 2^32-1 reads as 2^32-1. */
static gboolean
parse_expires (const char *s, guint *out)
{
  guint64 v = 0;
  if (*s == '\0')
    return FALSE;
  for (; *s != '\0'; s++) {
    if (!g_ascii_isdigit (*s))
      return FALSE;
    v = MIN (v * 10 + (guint64)(*s - '0'), (guint64)G_MAXUINT32);
  }
  *out = (guint)v;
  return TRUE;
}

/* A REGISTER replicated by the SIP proxy (as msilo dumps on REGISTER): Parley is not the
 * registrar, it only learns that the user is reachable (expires > 0) or gone (0). Answered
 * 200 at once; the proxy ignores the answer to a replicated request. */
static void
on_incoming_register (PrlSipAgent *self, nua_t *nua, nua_handle_t *nh, const sip_t *sip)
{
  self->stats.rx_other++;
  su_home_t home[1] = { SU_HOME_INIT (home) };
  char *aor = sip && sip->sip_to ? url_as_string (home, sip->sip_to->a_url) : NULL;
  char *contact = NULL;
  guint expires = 3600; /* RFC 3261 §10.2.1.1: default when neither says */
  gboolean expires_ok = TRUE;
  if (sip && sip->sip_expires)
    expires = (guint)MIN (sip->sip_expires->ex_delta, G_MAXUINT32);
  if (sip && sip->sip_contact) {
    if (sip->sip_contact->m_url->url_type == url_any) { /* Contact: * (remove all) */
      expires = 0;
    } else {
      contact = url_as_string (home, sip->sip_contact->m_url);
      if (sip->sip_contact->m_expires)
        expires_ok = parse_expires (sip->sip_contact->m_expires, &expires);
    }
  } /* no Contact: a query, which says nothing about reachability */
  /* A garbled expires parameter must not read as 0 (an unregistration) */
  gboolean valid = expires_ok && aor != NULL && prl_sip_codec_check_uri ("To", aor, NULL)
                   && (contact == NULL || prl_sip_codec_check_uri ("Contact", contact, NULL));
  if (!valid) {
    self->stats.rx_malformed++;
    nua_respond (nh, 400, "Invalid REGISTER", NUTAG_WITH_THIS (nua), TAG_END ());
  } else {
    nua_respond (nh, SIP_200_OK, NUTAG_WITH_THIS (nua), TAG_END ());
  }
  self->stats.tx_responses++;
  nua_handle_destroy (nh);
  if (valid && (contact != NULL || expires == 0) && self->cb.on_register != NULL)
    self->cb.on_register (self, aor, contact, contact != NULL ? expires : 0, self->user_data);
  su_home_deinit (home);
}

static void
on_nua_event (nua_event_t event, int status, const char *phrase, nua_t *nua, nua_magic_t *magic,
              nua_handle_t *nh, nua_hmagic_t *hmagic, const sip_t *sip, tagi_t tags[])
{
  PrlSipAgent *self = (PrlSipAgent *)magic;
  if (self->invites != NULL
      && prl_sip_invites_on_event (self->invites, event, status, phrase, nh, hmagic, sip, tags))
    return;
  switch (event) {
  case nua_i_message:
    on_incoming_message (self, nh, sip);
    break;
  case nua_r_message:
    on_message_response (self, status, phrase, sip, (ClientReq *)hmagic);
    break;
  case nua_r_shutdown:
    if (status >= 200)
      finish_shutdown (self);
    break;
  case nua_i_options:
    /* Proxies ping us: 200 with what the core takes (gateway/message-map.h). */
    self->stats.rx_other++;
    nua_respond (nh, SIP_200_OK, NUTAG_WITH_THIS (nua), SIPTAG_ACCEPT_STR (PRL_MESSAGE_MAP_ACCEPT),
                 TAG_END ());
    self->stats.tx_responses++;
    nua_handle_destroy (nh);
    break;
  case nua_i_register:
    on_incoming_register (self, nua, nh, sip);
    break;
  case nua_r_subscribe:
    on_subscribe_response (self, status, phrase, (Watch *)hmagic);
    break;
  case nua_r_unsubscribe:
    on_unsubscribe_response (self, status, (Watch *)hmagic);
    break;
  case nua_i_notify:
    if (hmagic != NULL) { /* on one of our subscriptions (nua has answered it) */
      on_notify (self, sip, (Watch *)hmagic);
      break;
    }
    /* fall through */
  case nua_i_invite:
  case nua_i_subscribe:
  case nua_i_publish:
  case nua_i_info:
  case nua_i_refer:
  case nua_i_method:
    /* The stack has answered (or answers when the handle goes); we only own the handle. */
    self->stats.rx_other++;
    GATED_DEBUG ("%s: %d %s", nua_event_name (event), status, phrase ? phrase : "");
    if (nh != NULL && hmagic == NULL)
      nua_handle_destroy (nh);
    break;
  case nua_i_error:
    g_debug ("stack error: %d %s", status, phrase ? phrase : "");
    break;
  default:
    GATED_DEBUG ("%s: %d %s", nua_event_name (event), status, phrase ? phrase : "");
    break;
  }
}

/* ---------------------------------------------------------------- creation */

/* Finds a port free for the configured transports on @host. sofia binds UDP and TCP to one
 * port from NUTAG_URL, so ask the kernel for a UDP port and check TCP can take it too. */
static guint
pick_free_port (const char *host, gboolean udp, gboolean tcp)
{
  struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_DGRAM };
  struct addrinfo *ai = NULL;
  if (getaddrinfo (host, "0", &hints, &ai) != 0 || ai == NULL)
    return 0;
  guint port = 0;
  for (int attempt = 0; attempt < 32 && port == 0; attempt++) {
    struct sockaddr_storage ss;
    memcpy (&ss, ai->ai_addr, ai->ai_addrlen);
    int first = socket (ai->ai_family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
    socklen_t len = ai->ai_addrlen;
    if (first < 0 || bind (first, (struct sockaddr *)&ss, ai->ai_addrlen) != 0
        || getsockname (first, (struct sockaddr *)&ss, &len) != 0) {
      if (first >= 0)
        close (first);
      break;
    }
    guint candidate = ntohs (ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                      : ((struct sockaddr_in *)&ss)->sin_port);
    gboolean ok = TRUE;
    if (udp && tcp) {
      int second = socket (ai->ai_family, SOCK_STREAM, 0);
      int one = 1;
      setsockopt (second, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      ok = second >= 0 && bind (second, (struct sockaddr *)&ss, len) == 0;
      if (second >= 0)
        close (second);
    }
    close (first);
    if (ok)
      port = candidate;
  }
  freeaddrinfo (ai);
  return port;
}

static char *
bind_url (const PrlSipAgentConfig *c, guint port)
{
  gboolean is_v6 = strchr (c->bind_address, ':') != NULL && c->bind_address[0] != '[';
  return g_strdup_printf ("sip:%s%s%s:%u%s", is_v6 ? "[" : "", c->bind_address, is_v6 ? "]" : "",
                          port,
                          c->udp && c->tcp ? ""
                          : c->udp         ? ";transport=udp"
                                           : ";transport=tcp");
}

static gboolean
check_config (const PrlSipAgentConfig *c, GError **error)
{
  if (c->bind_address == NULL || *c->bind_address == '\0'
      || strpbrk (c->bind_address, " \t\r\n;<>@/") != NULL) {
    g_set_error (error, PRL_SIP_ERROR, PRL_SIP_ERROR_INVALID, "invalid bind address");
    return FALSE;
  }
  if (!c->udp && !c->tcp) {
    g_set_error (error, PRL_SIP_ERROR, PRL_SIP_ERROR_INVALID, "neither UDP nor TCP enabled");
    return FALSE;
  }
  if (c->port > 65535) {
    g_set_error (error, PRL_SIP_ERROR, PRL_SIP_ERROR_INVALID, "invalid port %u", c->port);
    return FALSE;
  }
  if (c->outbound_proxy != NULL
      && !prl_sip_codec_check_uri ("outbound proxy", c->outbound_proxy, error))
    return FALSE;
  if (!prl_sip_codec_check_text ("User-Agent", c->user_agent, error))
    return FALSE;
  return TRUE;
}

static nua_t *
create_nua (PrlSipAgent *self, const char *url)
{
  const PrlSipAgentConfig *c = &self->config;
  return nua_create (
      self->root, on_nua_event, (nua_magic_t *)self, NUTAG_URL (url), NUTAG_MEDIA_ENABLE (0),
      /* we answer these; else the stack answers MESSAGE 200 itself and OPTIONS
       * with "Accept: application/sdp" */
      NUTAG_APPL_METHOD ("MESSAGE, OPTIONS"),
      /* a separate tag: a three-method list in one string crashes the second nua_create()
       * of a process in msg_params_join() (sofia 1.12.11) */
      NUTAG_APPL_METHOD ("REGISTER"), NUTAG_ENABLEMESSAGE (1), NUTAG_ENABLEINVITE (c->invite),
      NUTAG_AUTOANSWER (0),
      SIPTAG_ALLOW_STR (c->invite ? "INVITE, ACK, BYE, CANCEL, MESSAGE, OPTIONS, REGISTER, NOTIFY"
                                  : "MESSAGE, OPTIONS, REGISTER, NOTIFY"),
      /* No 100rel or timer: we are a MESSAGE UA (LIBRARIES.md §2). */
      SIPTAG_SUPPORTED (SIP_NONE),
      TAG_IF (c->user_agent != NULL, SIPTAG_USER_AGENT_STR (c->user_agent)),
      TAG_IF (c->user_agent == NULL, SIPTAG_USER_AGENT (SIP_NONE)),
      TAG_IF (c->outbound_proxy != NULL, NUTAG_PROXY (c->outbound_proxy)),
      TAG_IF (c->udp_retention_ms > 0, NTATAG_SIP_T1X64 (c->udp_retention_ms)),
      TAG_IF (c->invite, NTATAG_PRELOAD (MSG_PRELOAD_BYTES)), TPTAG_UDP_RMEM (UDP_RMEM_BYTES),
      TAG_END ());
}

PrlSipAgent *
prl_sip_agent_new (const PrlSipAgentConfig *config, const PrlSipAgentCallbacks *cb,
                   gpointer user_data, GError **error)
{
  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (!check_config (config, error))
    return NULL;
  init_sofia_once ();

  g_autoptr (PrlSipAgent) self = g_new0 (PrlSipAgent, 1);
  self->config.bind_address = g_strdup (config->bind_address);
  self->config.port = config->port;
  self->config.udp = config->udp;
  self->config.tcp = config->tcp;
  self->config.outbound_proxy = g_strdup (config->outbound_proxy);
  self->config.user_agent = g_strdup (config->user_agent);
  self->config.udp_retention_ms = config->udp_retention_ms;
  self->config.dedupe_size = config->dedupe_size;
  self->config.invite = config->invite;
  if (cb != NULL)
    self->cb = *cb;
  self->user_data = user_data;
  self->txns
      = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, (GDestroyNotify)server_txn_free);
  self->requests
      = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, (GDestroyNotify)client_req_free);
  self->dedupe
      = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify)dedupe_entry_free);
  self->phrases = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_queue_init (&self->dedupe_order);
  g_queue_init (&self->failures);
  self->watches = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify)watch_free);
  self->unwatching = g_hash_table_new_full (NULL, NULL, (GDestroyNotify)watch_free, NULL);
  self->fail_logged = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  self->root = su_glib_root_create ((su_root_magic_t *)self);
  if (self->root == NULL) {
    g_set_error (error, PRL_SIP_ERROR, PRL_SIP_ERROR_BIND, "cannot create the sofia root");
    return NULL;
  }
  /* The default (1) would run the SIP stack in a thread of its own: LIBRARIES.md §2. */
  su_root_threading (self->root, 0);
  /* GLib blocks a non-recursive source around each dispatch: every socket fd of the stack
   * leaves the poll set and comes back, and each move writes the context's wakeup eventfd,
   * which cost about a quarter of parleyd's CPU per message (bench/RESULTS.md, "Profile and
   * fixes"). The stack's callbacks never iterate the loop (prl_sip_agent_free does, but only
   * from outside them), so allowing recursion changes nothing else. */
  g_source_set_can_recurse (su_glib_root_gsource (self->root), TRUE);
  round_up_sofia_timers (su_glib_root_gsource (self->root));
  g_source_attach (su_glib_root_gsource (self->root), NULL);

  /* Port 0: pick one; another process may take it between the probe and the bind, so retry. */
  g_autofree char *url = NULL;
  for (int attempt = 0; attempt < 8 && self->nua == NULL; attempt++) {
    guint port = config->port;
    if (port == 0)
      port = pick_free_port (config->bind_address, config->udp, config->tcp);
    if (port == 0)
      break;
    g_free (url);
    url = bind_url (config, port);
    self->nua = create_nua (self, url);
    if (self->nua != NULL)
      self->port = port;
    if (config->port != 0)
      break;
  }
  if (self->nua == NULL) {
    g_set_error (error, PRL_SIP_ERROR, PRL_SIP_ERROR_BIND, "cannot bind SIP on %s",
                 url != NULL ? url : config->bind_address);
    return NULL;
  }
  if (config->invite) {
    const char *host = config->bind_address != NULL ? config->bind_address : "127.0.0.1";
    g_autofree char *tcp_contact
        = config->tcp ? g_strdup_printf (strchr (host, ':') != NULL ? "<sip:[%s]:%u;transport=tcp>"
                                                                     : "<sip:%s:%u;transport=tcp>",
                                         host, self->port)
                      : NULL;
    self->invites = prl_sip_invites_new (self, self->nua, &self->stats, tcp_contact);
    prl_sip_invites_set_callbacks (self->invites, cb, user_data);
  }
  g_message ("SIP agent listening on %s%s%s", url, config->udp && config->tcp ? " (udp+tcp)" : "",
             config->outbound_proxy != NULL ? ", outbound proxy set" : "");
  return g_steal_pointer (&self);
}

PrlSipInvites *
prl_sip_agent_invites (PrlSipAgent *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->invites;
}

guint
prl_sip_agent_port (PrlSipAgent *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->port;
}

const PrlSipAgentStats *
prl_sip_agent_stats (PrlSipAgent *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  update_gauges (self);
  self->stats.rx_unparseable = sofia_garbage;
  return &self->stats;
}

GVariant *
prl_sip_agent_describe (PrlSipAgent *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  const PrlSipAgentStats *s = prl_sip_agent_stats (self);
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{st}"));
#define ADD(field) g_variant_builder_add (&b, "{st}", #field, (guint64)s->field)
  ADD (rx_requests);
  ADD (rx_malformed);
  ADD (rx_unparseable);
  ADD (rx_duplicates);
  ADD (rx_other);
  ADD (rx_responses);
  ADD (tx_requests);
  ADD (tx_refused);
  ADD (tx_responses);
  ADD (pending_txns);
  ADD (pending_requests);
  ADD (dedupe_entries);
  ADD (tx_subscribes);
  ADD (subscribe_failed);
  ADD (rx_notifies);
  ADD (rx_bad_reginfo);
  ADD (watches);
  ADD (rx_invites);
  ADD (tx_invites);
  ADD (sessions);
#undef ADD
  g_variant_builder_add (&b, "{st}", "port", (guint64)self->port);
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

void
prl_sip_agent_free (PrlSipAgent *self)
{
  if (self == NULL)
    return;
  if (self->nua != NULL && !self->is_shutdown) {
    /* Not shut down by the caller: do it now, silently. nua_destroy() is only allowed
     * after nua_r_shutdown, hence the bounded wait (the timeout ends it after 3 s). */
    memset (&self->cb, 0, sizeof self->cb);
    if (self->invites != NULL)
      prl_sip_invites_set_callbacks (self->invites, NULL, NULL);
    if (!self->is_shutting_down)
      prl_sip_agent_shutdown (self, NULL, NULL);
    self->done = NULL;
    while (!self->is_shutdown)
      g_main_context_iteration (NULL, TRUE);
  }
  g_clear_handle_id (&self->shutdown_timer, g_source_remove);
  g_clear_handle_id (&self->done_idle, g_source_remove);
  g_clear_handle_id (&self->failure_idle, g_source_remove);
  g_queue_clear_full (&self->failures, (GDestroyNotify)local_failure_free);
  if (self->txns != NULL)
    g_hash_table_remove_all (self->txns);
  if (self->requests != NULL)
    g_hash_table_remove_all (self->requests);
  g_clear_pointer (&self->watches, g_hash_table_unref);
  g_clear_pointer (&self->unwatching, g_hash_table_unref);
  g_clear_pointer (&self->fail_logged, g_hash_table_unref);
  g_clear_pointer (&self->invites, prl_sip_invites_free);
  g_clear_pointer (&self->nua, nua_destroy);
  g_clear_pointer (&self->root, su_root_destroy);
  g_clear_pointer (&self->txns, g_hash_table_unref);
  g_clear_pointer (&self->requests, g_hash_table_unref);
  g_queue_init (&self->dedupe_order); /* links are inside the entries freed below */
  g_clear_pointer (&self->dedupe, g_hash_table_unref);
  g_clear_pointer (&self->phrases, g_hash_table_unref);
  prl_sip_agent_config_clear (&self->config);
  g_free (self);
}
