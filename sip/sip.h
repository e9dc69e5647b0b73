/* sip/sip.h - PrlSipAgent: the SIP user agent of the gateway (front door of sip/).
 *
 * One PrlSipAgent is one sofia-sip nua stack bound to one address on UDP and/or TCP,
 * running on the default GMainContext (su_glib root, no extra thread: LIBRARIES.md §2).
 * It receives SIP MESSAGE requests and hands them to the caller as PrlSipMessage (answered
 * later by transaction id), and sends MESSAGE requests for the caller, reporting their
 * final status by request id. It can also watch an address of record through the reg event
 * package (RFC 3680: SUBSCRIBE "Event: reg", NOTIFYs parsed by sip/reginfo.c) and report its
 * registration state through on_reginfo. No sofia type appears here: sip_t, msg_t and nua handles
 * stay inside sip/ (STYLE.md §3.1 rule 2).
 *
 * Callbacks are never called re-entrantly from inside a prl_sip_agent_* call; they run
 * from the main loop.
 */
#pragma once

#include <glib.h>

#include "gateway/action.h"
#include "gateway/message.h"

G_BEGIN_DECLS

#define PRL_SIP_ERROR (prl_sip_error_quark ())
GQuark prl_sip_error_quark (void);

typedef enum {
  PRL_SIP_ERROR_MALFORMED, /* a request or value we cannot accept (peer's fault) */
  PRL_SIP_ERROR_INVALID,   /* a value we were asked to put on the wire is unsafe or unparsable */
  PRL_SIP_ERROR_BIND,      /* the stack could not be created / bind its sockets */
} PrlSipError;

typedef struct _PrlSipAgent PrlSipAgent;

typedef struct {
  char *bind_address;     /* default "127.0.0.1" */
  guint port;             /* default 5060; 0 = pick a free port (see prl_sip_agent_port) */
  gboolean udp, tcp;      /* default both TRUE; at least one must be TRUE */
  char *outbound_proxy;   /* e.g. "sip:127.0.0.1:5060" or "sip:proxy;transport=tcp"; every
                             request we send goes there; NULL = route by Request-URI */
  char *user_agent;       /* default "Parley/<version>" */
  guint udp_retention_ms; /* NTATAG_SIP_T1X64 value, default 4000 (LIBRARIES.md trap 3);
                             also the timeout of sent MESSAGEs (Timer F); 0 = sofia's 32 s */
  guint dedupe_size;      /* entries in the Call-ID+CSeq+From-tag dedupe cache, default 65536;
                             0 disables deduplication */
  gboolean invite;        /* take and make INVITE sessions (chat over MSRP, sip/invite.c);
                             default FALSE: INVITEs are refused by the stack */
} PrlSipAgentConfig;

/* Fills @c with the defaults above (strings owned by @c: free with prl_sip_agent_config_clear). */
void prl_sip_agent_config_init (PrlSipAgentConfig *c);
/* Frees the strings of @c and zeroes it; safe to call twice. */
void prl_sip_agent_config_clear (PrlSipAgentConfig *c);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (PrlSipAgentConfig, prl_sip_agent_config_clear)

typedef struct {
  /* A MESSAGE arrived. @msg is borrowed for the call (copy what you keep); msg->txn names the
   * server transaction, which must later be answered once with prl_sip_agent_respond(). */
  void (*on_message) (PrlSipAgent *agent, const PrlSipMessage *msg, gpointer user_data);
  /* Final response (>= 200) to prl_sip_agent_send(@request); a local timeout is 408, a
   * transport failure 503, a refused value 500 "invalid header value". @reason and @contact
   * (the first Contact URI of a 3xx response, else NULL) are borrowed. */
  void (*on_response) (PrlSipAgent *agent, guint64 request, guint status, const char *reason,
                       const char *contact, gpointer user_data);
  /* A REGISTER (replicated by the proxy) for @aor: @contact and @expires > 0 when the user
   * registered, @expires 0 when it unregistered. Already answered 200. May be NULL. */
  void (*on_register) (PrlSipAgent *agent, const char *aor, const char *contact, guint expires,
                       gpointer user_data);
  /* A reg-event NOTIFY (RFC 3680) for a watched AoR, once per <registration> in its body:
   * @active when the registration is active with at least one active contact, @contact the
   * first active contact's URI or NULL. @aor is the registration's aor attribute (checked as a
   * SIP URI). All borrowed. May be NULL. */
  void (*on_reginfo) (PrlSipAgent *agent, const char *aor, gboolean active, const char *contact,
                      gpointer user_data);
  /* Sessions (config.invite): an INVITE arrived; @invite->txn is the session id to answer
   * with prl_sip_agent_answer() (once); @invite->body is the offer (borrowed). May be NULL. */
  void (*on_invite) (PrlSipAgent *agent, const PrlSipMessage *invite, gpointer user_data);
  /* Final response to prl_sip_agent_invite(@session): @sdp the answer body of a 2xx (or NULL,
   * @sdp_len bytes, borrowed). A local failure is 500, a timeout 408. After a non-2xx the
   * session is gone. */
  void (*on_invite_result) (PrlSipAgent *agent, guint64 session, guint status, const char *reason,
                            const char *sdp, gsize sdp_len, gpointer user_data);
  /* The session ended from the far side (BYE, CANCEL) or the stack (timeout, shutdown);
   * never after prl_sip_agent_bye(). */
  void (*on_session_end) (PrlSipAgent *agent, guint64 session, const char *reason,
                          gpointer user_data);
} PrlSipAgentCallbacks;

typedef struct {
  guint64 rx_requests;      /* MESSAGE requests handed to on_message */
  guint64 rx_malformed;     /* MESSAGE requests answered 400 by the agent itself */
  guint64 rx_unparseable;   /* datagrams/frames sofia could not parse as SIP at all (a broken
                               request line): no transaction, so no response is possible */
  guint64 rx_duplicates;    /* retransmissions caught by the dedupe cache */
  guint64 rx_other;         /* non-MESSAGE requests (OPTIONS, ...), answered by the stack */
  guint64 rx_responses;     /* final responses to our requests (before on_response) */
  guint64 tx_requests;      /* MESSAGE requests handed to the stack */
  guint64 tx_refused;       /* prl_sip_agent_send() calls refused before the wire */
  guint64 tx_responses;     /* responses sent (by the core's order, dedupe and 400s) */
  guint64 pending_txns;     /* received requests not answered yet (gauge) */
  guint64 pending_requests; /* sent requests (chunk sequences) still open (gauge) */
  guint64 dedupe_entries;   /* entries in the dedupe cache (gauge) */
  guint64 tx_subscribes;    /* reg-event SUBSCRIBEs started (prl_sip_agent_watch) */
  guint64 subscribe_failed; /* reg-event subscriptions refused (489, 404, 403...), timed out or
                               terminated by the notifier */
  guint64 rx_notifies;      /* reg-event NOTIFYs received on our subscriptions */
  guint64 rx_bad_reginfo;   /* NOTIFY bodies the reginfo parser refused */
  guint64 watches;          /* AoRs watched (gauge) */
  guint64 rx_invites;       /* INVITEs handed to on_invite */
  guint64 tx_invites;       /* INVITEs sent */
  guint64 sessions;         /* INVITE sessions alive (gauge) */
} PrlSipAgentStats;

/* Creates the stack and binds the configured transports, on the default GMainContext.
 * su_init() is done once inside. @config and @cb are copied.
 * Returns (transfer full) the agent, or NULL with PRL_SIP_ERROR_BIND / _INVALID set. */
PrlSipAgent *prl_sip_agent_new (const PrlSipAgentConfig *config, const PrlSipAgentCallbacks *cb,
                                gpointer user_data, GError **error);
/* The port bound (the chosen one when config->port was 0). */
guint prl_sip_agent_port (PrlSipAgent *agent);
/* Answers the received request @respond->txn. An unknown or already answered txn is
 * ignored (g_debug). No Contact is sent on a 2xx (RFC 3428). */
void prl_sip_agent_respond (PrlSipAgent *agent, const PrlSipRespond *respond);
/* Sends one MESSAGE (@msg is borrowed; msg->txn is the caller's request id). Parts 2..n of
 * one chunked message (same txn, part > 1) go on the same dialog-less handle: same Call-ID
 * and From tag, next CSeq. The outcome always comes back through on_response. */
void prl_sip_agent_send (PrlSipAgent *agent, const PrlSipMessage *msg);
/* Watches @aor ("sip:user@host"): SUBSCRIBE "Event: reg" (Accept: application/reginfo+xml,
 * Expires 3600) to it through the outbound proxy, on one nua handle per AoR that nua keeps
 * refreshed. NOTIFYs are reported through on_reginfo. A refused or failed subscription is
 * counted (subscribe_failed) and logged once per AoR at debug level; the AoR stays "watched"
 * (no retry) until prl_sip_agent_unwatch(). Watching an AoR already watched does nothing. */
void prl_sip_agent_watch (PrlSipAgent *agent, const char *aor);
/* Ends the watch of @aor (unSUBSCRIBE, Expires 0); unknown AoRs are ignored. */
void prl_sip_agent_unwatch (PrlSipAgent *agent, const char *aor);
/* Sessions (config.invite; sip/invite.c). Sends an INVITE from @from to @to (bare URIs) with
 * @sdp (application/sdp), Call-ID @call_id (NULL: sofia makes one) and @subject (or NULL).
 * Returns the session id; the outcome comes through on_invite_result. */
guint64 prl_sip_agent_invite (PrlSipAgent *agent, const char *from, const char *to,
                              const char *call_id, const char *subject, const char *sdp);
/* Answers the received INVITE @session: a 2xx with @sdp, or a failure (@sdp NULL; the session
 * is then gone). Unknown or answered sessions are ignored. */
void prl_sip_agent_answer (PrlSipAgent *agent, guint64 session, guint status, const char *reason,
                           const char *sdp);
/* Ends @session: BYE when established, CANCEL while our INVITE is unanswered, 480 for an
 * unanswered received INVITE. No callback follows. Unknown sessions are ignored. */
void prl_sip_agent_bye (PrlSipAgent *agent, guint64 session);

/* (transfer none) counters, valid until the agent is freed. */
const PrlSipAgentStats *prl_sip_agent_stats (PrlSipAgent *agent);
/* (transfer full) a{st} snapshot of the stats for status dumps. */
GVariant *prl_sip_agent_describe (PrlSipAgent *agent);
/* Called once when prl_sip_agent_shutdown() has finished. */
typedef void (*PrlSipAgentDoneFunc) (gpointer user_data);

/* Starts an orderly shutdown (nua_shutdown). Pending received requests are answered 503,
 * pending sent requests reported 503 through on_response. @done(@user_data) is called from
 * the main loop when finished, or after 3 s at the latest. Call once. */
void prl_sip_agent_shutdown (PrlSipAgent *agent, PrlSipAgentDoneFunc done, gpointer user_data);
/* Frees the agent. Without a finished shutdown first, it shuts down synchronously (up to 3 s
 * of iterations of the default main context) and no callback is called. */
void prl_sip_agent_free (PrlSipAgent *agent);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlSipAgent, prl_sip_agent_free)

G_END_DECLS
