/* sip/msrp-internal.h - the state behind sip/msrp.h, shared by the sip/msrp-*.c files.
 *
 * Ownership: the stack owns its sessions (by id), connections (by id), transactions (by tid)
 * and the notice queue. A session names its connection by pointer while it is bound (the
 * connection outlives that: every close path unbinds first); a connection keeps the ids of
 * the sessions bound to it. Outgoing messages (PrlMsrpOut) belong to their session; a
 * connection's round-robin queue only borrows them. Async GIO callbacks receive an anchor
 * (a refcounted box that forgets the stack when it is freed), never the stack itself.
 *
 * Files: msrp-stack.c (API, config, notices, listener), msrp-session.c (frames in, answers,
 * transactions, reports), msrp-conn.c (sockets, buffers, chunk scheduling), msrp-relay.c
 * (RFC 4976 AUTH client).
 */
#pragma once

#include <gio/gio.h>

#include "sip/msrp-frame.h"
#include "sip/msrp-parser.h"
#include "sip/msrp-reasm.h"
#include "sip/msrp-types.h"
#include "sip/msrp-uri.h"
#include "sip/msrp.h"

G_BEGIN_DECLS

/* Bounds not in PrlMsrpConfig. */
#define PRL_MSRP_MAX_HEADER 16384     /* start line + headers of one frame */
#define PRL_MSRP_OUT_LOW_WATER 65536  /* chunks are built only while less is queued */
#define PRL_MSRP_REASM_PENDING_MAX 16 /* incomplete messages per session */
#define PRL_MSRP_TID_LEN 16           /* 16 alphanumerics: ~95 random bits */
#define PRL_MSRP_SESSION_ID_LEN 20    /* ~119 random bits */

typedef struct _PrlMsrpConn PrlMsrpConn;

typedef struct {
  gatomicrefcount ref;
  PrlMsrpStack *stack; /* NULL once the stack is freed */
} PrlMsrpAnchor;

typedef enum { SESSION_NEW, SESSION_CONNECTING, SESSION_WAITING, SESSION_UP } PrlMsrpSessionState;

typedef struct {
  guint64 session;
  char *message_id;
  char *content_type;
  GBytes *body;
  gsize offset; /* next byte to send */
  gboolean success_report;
  guint in_flight;    /* chunks sent and not answered */
  gboolean queued;    /* in its connection's round-robin queue */
  gboolean sent_last; /* the '$' chunk is built */
} PrlMsrpOut;

typedef struct {
  PrlMsrpStack *stack;
  guint64 id;
  /* one allocation per side, so that an idle session keeps few blocks (RSS per session) */
  char *path;              /* our a=path: [Use-Path SP] uri, NUL, then the session-id */
  const char *uri;         /* our session URI: the tail of path */
  const char *sid;         /* the session-id of our URI, after path's NUL (key of by_sid) */
  char *to_path;           /* To-Path of what we send: [Use-Path SP] remote path, or NULL */
  const char *remote_path; /* the peer's a=path: the tail of to_path, NULL before start */
  char *peer_from; /* From-Path of the peer's last request when it is not to_path (REPORTs go
                      there), else NULL */
  PrlMsrpSessionState state;
  gboolean active;
  PrlMsrpConn *conn; /* bound connection, or NULL */
  GQueue waiting;    /* PrlMsrpOut* queued before the session is up, in order */
  /* made on first use (an idle session keeps none: RSS per idle session) */
  GHashTable *outs;    /* message_id -> PrlMsrpOut*, owned: not yet fully answered, or NULL */
  GHashTable *reports; /* message_ids awaiting a success REPORT, or NULL */
  PrlMsrpReasm *reasm; /* or NULL */
  guint timer;         /* passive: wait for the first frame */
} PrlMsrpSession;

struct _PrlMsrpConn {
  PrlMsrpStack *stack;
  guint64 id;
  char *key; /* "host:port" for connections we opened, else NULL */
  gboolean is_relay;
  gboolean connecting;
  GSocketConnection *gconn;
  GSocket *socket;
  GSource *in_source, *out_source;
  GCancellable *cancel;
  guint timer; /* connect timeout; passive: first-frame timeout */
  PrlMsrpParser *parser;
  GByteArray *out; /* bytes not yet written */
  gsize out_off;
  GQueue rr;            /* PrlMsrpOut* with chunks left, borrowed */
  GHashTable *sessions; /* session ids bound (guint64*, borrowed from the sessions) */
  guint pump_idle;      /* idle source building the next chunks */
  gboolean corked;      /* pump() is building chunks: frames wait for its one flush */
  guint doom;           /* idle source failing the connection after a write error */
  char *doom_reason;
};

typedef struct {
  char *tid;
  guint64 session;  /* 0 for AUTH */
  char *message_id; /* NULL: a bodiless SEND or AUTH */
  guint64 conn;
  GList due;      /* in stack->txn_due (data = this) until answered or timed out */
  gint64 due_us;  /* monotonic: when it times out */
  PrlMsrpStack *stack;
} PrlMsrpTxn;

typedef enum { RELAY_DOWN, RELAY_CONNECTING, RELAY_AUTHING, RELAY_READY } PrlMsrpRelayState;

struct _PrlMsrpStack {
  PrlMsrpConfig config;
  PrlMsrpCallbacks cb;
  gpointer user_data;
  PrlMsrpStats stats;
  PrlMsrpAnchor *anchor;
  GSocketService *service;
  gulong incoming_id;
  guint port;
  char *host;
  GHashTable *sessions; /* guint64* -> PrlMsrpSession*, owned */
  GHashTable *by_sid;   /* session-id text (borrowed from the session) -> PrlMsrpSession* */
  GHashTable *conns;    /* guint64* -> PrlMsrpConn*, owned */
  GHashTable *txns;     /* tid -> PrlMsrpTxn*, owned */
  GQueue txn_due;       /* PrlMsrpTxn* (borrowed), earliest deadline first */
  GSource *txn_timer;   /* ready when the head of @txn_due times out */
  guint64 next_session, next_conn;
  GQueue notices; /* pending callbacks */
  guint notice_idle;
  gboolean dispatching, free_pending;
  /* relay client (msrp-relay.c) */
  PrlMsrpRelayState relay_state;
  PrlMsrpConn *relay_conn;
  char *relay_base_uri; /* our From-Path in AUTH */
  char *use_path;
  char *auth_tid;
  guint relay_timer; /* reconnect or re-AUTH */
  guint relay_backoff_s;
};

/* msrp-stack.c */
void prl_msrp_notice_connected (PrlMsrpStack *stack, guint64 session);
void prl_msrp_notice_message (PrlMsrpStack *stack, guint64 session, const char *message_id,
                              const char *content_type, GByteArray *body, gboolean report);
void prl_msrp_notice_report (PrlMsrpStack *stack, guint64 session, const char *message_id,
                             guint status, gboolean report);
void prl_msrp_notice_closed (PrlMsrpStack *stack, guint64 session, const char *reason);
void prl_msrp_notice_relay (PrlMsrpStack *stack, gboolean ok);
PrlMsrpSession *prl_msrp_session_get (PrlMsrpStack *stack, guint64 id);
/* Ends a session: unsent and unanswered messages reported @status, on_closed with @reason
 * when not NULL; unbinds it and closes its connection when no other session uses it. */
/* The session's tables, made on first use. */
GHashTable *prl_msrp_session_outs (PrlMsrpSession *s);
GHashTable *prl_msrp_session_reports (PrlMsrpSession *s);
PrlMsrpReasm *prl_msrp_session_reasm (PrlMsrpStack *stack, PrlMsrpSession *s);
/* The pending message @mid of @s, or NULL (also when nothing is pending). */
PrlMsrpOut *prl_msrp_session_out (PrlMsrpSession *s, const char *mid);
void prl_msrp_session_end (PrlMsrpStack *stack, PrlMsrpSession *s, guint status,
                           const char *reason);
PrlMsrpAnchor *prl_msrp_anchor_ref (PrlMsrpAnchor *anchor);
void prl_msrp_anchor_unref (PrlMsrpAnchor *anchor);

/* msrp-session.c */
void prl_msrp_on_frame (PrlMsrpStack *stack, PrlMsrpConn *conn, PrlMsrpFrame *frame);
/* The connection is up: sessions waiting on it start; the active ones send first. */
void prl_msrp_sessions_conn_up (PrlMsrpStack *stack, PrlMsrpConn *conn);
/* Makes the session usable on its bound connection (queued messages go out, on_connected). */
void prl_msrp_session_up (PrlMsrpStack *stack, PrlMsrpSession *s, gboolean send_first);
/* Builds the next chunk of @o as a SEND into @conn's output (msrp-conn.c's scheduler). */
void prl_msrp_out_next_chunk (PrlMsrpStack *stack, PrlMsrpConn *conn, PrlMsrpOut *o);
void prl_msrp_out_free (gpointer p);
void prl_msrp_txn_free (gpointer p);
/* The transaction timer: one GSource for all of them (msrp-session.c). */
void prl_msrp_txn_timer_init (PrlMsrpStack *stack);
void prl_msrp_txn_timer_clear (PrlMsrpStack *stack);
/* Sends @frame on @conn as a new transaction of @session / @message_id (timer armed). */
void prl_msrp_txn_send (PrlMsrpStack *stack, PrlMsrpConn *conn, PrlMsrpFrame *frame,
                        guint64 session, const char *message_id);
/* Drops the transactions of @conn (its sessions are being ended). */
void prl_msrp_txns_drop_conn (PrlMsrpStack *stack, guint64 conn);

/* msrp-conn.c */
PrlMsrpConn *prl_msrp_conn_new (PrlMsrpStack *stack);
/* Takes over an accepted (passive) or connected (active) GSocketConnection. */
void prl_msrp_conn_attach (PrlMsrpConn *conn, GSocketConnection *gconn);
/* Opens an active connection to @host:@port; prl_msrp_sessions_conn_up or a failure follow. */
PrlMsrpConn *prl_msrp_conn_open (PrlMsrpStack *stack, const char *host, guint port,
                                 gboolean is_relay);
PrlMsrpConn *prl_msrp_conn_find (PrlMsrpStack *stack, const char *key);
void prl_msrp_conn_write_frame (PrlMsrpConn *conn, const PrlMsrpFrame *frame);
/* The caller appended bytes to conn->out itself: send them (unless pump() is building). */
void prl_msrp_conn_written (PrlMsrpConn *conn);
/* Schedules chunks of @o on @conn (round robin with the other messages). */
void prl_msrp_conn_queue_out (PrlMsrpConn *conn, PrlMsrpOut *o);
void prl_msrp_conn_unqueue_out (PrlMsrpConn *conn, PrlMsrpOut *o);
/* Connection lost or dropped: every bound session ends (503 and on_closed), relay handled. */
void prl_msrp_conn_fail (PrlMsrpConn *conn, const char *reason);
/* Closes quietly (no session bound any more). */
void prl_msrp_conn_close (PrlMsrpConn *conn);
void prl_msrp_conn_free (gpointer p);

/* msrp-relay.c */
void prl_msrp_relay_start (PrlMsrpStack *stack);
void prl_msrp_relay_stop (PrlMsrpStack *stack);
void prl_msrp_relay_conn_up (PrlMsrpStack *stack);
void prl_msrp_relay_conn_lost (PrlMsrpStack *stack);
/* A response whose tid is the AUTH's: TRUE when it was consumed. */
gboolean prl_msrp_relay_on_response (PrlMsrpStack *stack, PrlMsrpFrame *frame);

G_END_DECLS
