/* sip/msrp.h - PrlMsrpStack: Parley's own MSRP endpoint (RFC 4975), with the client side of
 * RFC 4976 relays (AUTH, Use-Path). Front door of the MSRP code in sip/msrp-*.c.
 *
 * One PrlMsrpStack listens on one TCP port (GIO, default GMainContext) and holds any number of
 * sessions. A session is one MSRP URI of ours ("msrp://host:port/<id>;tcp", <id> with at least
 * 80 random bits) bound to one peer path. Connections are opened (active) or accepted (passive)
 * as the SDP negotiation said (RFC 6135), and a passive one is bound to its session by the
 * To-Path of the first frame that arrives. Several sessions may share a connection.
 *
 * The stack answers transactions itself (200, 400, 413 over max_message_size, 415 for a type
 * outside accept_types or a CPIM-wrapped one outside accept_wrapped_types, 481 for an unknown
 * session), reassembles chunked messages by
 * Byte-Range (bounded), chunks what it sends into SENDs of at most chunk_size body bytes, and
 * interleaves (interrupts) long messages so that one big message does not hold back the small
 * ones queued behind it. What is a "message" for the caller is one complete reassembled body.
 *
 * Callbacks are never called re-entrantly from inside a prl_msrp_* call; they run from the
 * main loop. No GIO type appears here.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define PRL_MSRP_ERROR (prl_msrp_error_quark ())
GQuark prl_msrp_error_quark (void);

typedef enum {
  PRL_MSRP_ERROR_BIND,    /* could not listen */
  PRL_MSRP_ERROR_INVALID, /* a path / URI / value we were given is not valid */
  PRL_MSRP_ERROR_STATE,   /* unknown session, or the call does not fit its state */
  PRL_MSRP_ERROR_RELAY,   /* a relay is configured but not (yet) authorised */
} PrlMsrpError;

typedef struct _PrlMsrpStack PrlMsrpStack;

typedef struct {
  char *bind_address;          /* default "127.0.0.1" */
  guint port;                  /* listening TCP port; 0 = pick a free one (prl_msrp_stack_port) */
  char *host;                  /* host in our URIs and in SDP c=; NULL = bind_address */
  gsize max_message_size;      /* largest complete incoming message; 413 beyond; default 65536 */
  gsize chunk_size;            /* body bytes per outgoing SEND chunk; default 2048 */
  gsize max_buffer;            /* bound on one connection's unparsed input; default 131072 */
  guint max_connections;       /* accepted + opened connections; default 20000 */
  char **accept_types;         /* types we accept in SEND (415 otherwise); NULL = any.
                                  "type/ *" and "*" wildcards as in RFC 4975 a=accept-types */
  char **accept_wrapped_types; /* types we accept inside a message/cpim SEND (415 otherwise,
                                  judged on the first chunk); NULL = any. Same wildcards */
  char *relay;                 /* "msrp://host:port;tcp" of an RFC 4976 relay; NULL = none */
  guint transaction_timeout_ms;/* no response to a SEND after this: failed, 408; default 30000 */
  guint connect_timeout_ms;    /* active: TCP connect; passive: wait for the peer's first frame;
                                  default 30000 */
} PrlMsrpConfig;

void prl_msrp_config_init (PrlMsrpConfig *c);
void prl_msrp_config_clear (PrlMsrpConfig *c);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (PrlMsrpConfig, prl_msrp_config_clear)

/* One complete message received on a session (all borrowed for the callback). */
typedef struct {
  const char *message_id;     /* Message-ID header */
  const char *content_type;   /* Content-Type (with parameters), never NULL */
  const char *body;           /* reassembled body, NUL-terminated for convenience */
  gsize len;                  /* body length in bytes (may contain NULs) */
  gboolean success_report;    /* the sender asked Success-Report: yes: answer it with
                                 prl_msrp_session_report() once delivered */
} PrlMsrpMessage;

typedef struct {
  /* The session is usable: active side connected (and, via a relay, the first SEND went out),
   * or passive side saw the peer's first frame for it. Messages queued before are sent now. */
  void (*on_connected) (PrlMsrpStack *stack, guint64 session, gpointer user_data);
  /* A complete message arrived on @session. */
  void (*on_message) (PrlMsrpStack *stack, guint64 session, const PrlMsrpMessage *msg,
                      gpointer user_data);
  /* Outcome of a message we sent (by the Message-ID prl_msrp_session_send returned):
   * @status 200 with @report FALSE when every chunk got its 200 transaction response;
   * @status 200 with @report TRUE when a success REPORT arrived (only if we asked for it);
   * >= 300 when a chunk was refused, a failure REPORT arrived, it timed out (408) or the
   * connection was lost before it went out (503). Called once with @report FALSE per message,
   * plus once more with @report TRUE for a success REPORT. */
  void (*on_report) (PrlMsrpStack *stack, guint64 session, const char *message_id, guint status,
                     gboolean report, gpointer user_data);
  /* The session ended by itself: connection lost or refused, connect timeout, relay refused
   * (never after prl_msrp_session_close). @reason is a short text for logs. */
  void (*on_closed) (PrlMsrpStack *stack, guint64 session, const char *reason,
                     gpointer user_data);
  /* The relay connection is authorised (@ok TRUE, Use-Path known) or lost / refused. May be
   * NULL. Without a relay it is never called. */
  void (*on_relay) (PrlMsrpStack *stack, gboolean ok, gpointer user_data);
} PrlMsrpCallbacks;

typedef struct {
  guint64 sessions;            /* gauge */
  guint64 connections;         /* gauge */
  guint64 rx_frames, tx_frames;
  guint64 rx_messages, tx_messages; /* complete messages */
  guint64 rx_malformed;        /* frames refused 400 or connections dropped for bad framing */
  guint64 rx_too_large;        /* 413 sent */
  guint64 rx_unknown_session;  /* 481 sent */
  guint64 rx_refused_type;     /* 415 sent: outer type, or the type wrapped in CPIM */
  guint64 tx_failed;           /* messages reported >= 300 */
  guint64 relay_auths;         /* successful AUTHs */
} PrlMsrpStats;

/* Listens on config->port (TCP). With a relay it connects and AUTHs at once, keeps the
 * connection, re-AUTHs before Expires and reconnects with backoff. @config, @cb copied. */
PrlMsrpStack *prl_msrp_stack_new (const PrlMsrpConfig *config, const PrlMsrpCallbacks *cb,
                                  gpointer user_data, GError **error);
void prl_msrp_stack_free (PrlMsrpStack *stack);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlMsrpStack, prl_msrp_stack_free)
guint prl_msrp_stack_port (PrlMsrpStack *stack);
/* The host of our URIs (for SDP c=). */
const char *prl_msrp_stack_host (PrlMsrpStack *stack);
/* TRUE when no relay is configured, or the relay has authorised us. */
gboolean prl_msrp_stack_ready (PrlMsrpStack *stack);

/* Creates a session: returns its id (> 0), or 0 with PRL_MSRP_ERROR_RELAY when a relay is
 * configured and not authorised. */
guint64 prl_msrp_session_new (PrlMsrpStack *stack, GError **error);
/* (transfer none) our a=path value: "msrp://host:port/id;tcp", or with a relay
 * "<Use-Path> msrp://host:port/id;tcp". Valid until the session is closed. */
const char *prl_msrp_session_path (PrlMsrpStack *stack, guint64 session);
/* Starts the session towards the peer's a=path @remote_path (space-separated URIs, first =
 * next hop, last = the peer's session URI). @active TRUE: we connect (to the relay when one is
 * configured, else to the first URI of @remote_path) and send at once (an empty SEND if no
 * message is queued); FALSE: we wait for the peer to connect (or, with a relay, for its frames
 * to arrive over the relay connection). FALSE with PRL_MSRP_ERROR_INVALID on a bad path. */
gboolean prl_msrp_session_start (PrlMsrpStack *stack, guint64 session, const char *remote_path,
                                 gboolean active, GError **error);
/* Queues one message (sent as soon as the session is connected, chunked). Returns (transfer
 * full) its Message-ID, or NULL with an error (unknown or closed session). @success_report asks
 * the peer for a success REPORT. Failure-Report is left at its default (yes), so refusals
 * come back as transaction responses. */
char *prl_msrp_session_send (PrlMsrpStack *stack, guint64 session, const char *content_type,
                             const void *body, gsize len, gboolean success_report,
                             GError **error);
/* Sends a REPORT for a message we received on @session (@message_id, @len its full size),
 * with Status: 000 @status. FALSE if the session is unknown or closed. */
gboolean prl_msrp_session_report (PrlMsrpStack *stack, guint64 session, const char *message_id,
                                  gsize len, guint status);
/* Closes the session (no on_closed); the connection is closed when no session uses it. Unsent
 * queued messages are reported 503 through on_report first. Unknown ids are ignored. */
void prl_msrp_session_close (PrlMsrpStack *stack, guint64 session);

const PrlMsrpStats *prl_msrp_stack_stats (PrlMsrpStack *stack);

G_END_DECLS
