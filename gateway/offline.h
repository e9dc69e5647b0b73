/* gateway/offline.h - the core's offline policy: park, flush, expire (internal to gateway/).
 *
 * DESIGN. gateway/core.c decides *when* a message cannot be delivered now and hands it here
 * as a PrlStoredMessage plus a PrlOfflineParkCtx that says how to answer its sender once the
 * store has spoken; this module owns every store request in flight, the per-user flushes, the
 * bounded tables (recent claims, SIP users known to be unregistered, SIP users watched through
 * the reg event) and the expiry tick.
 * It never sends to SIP by itself: a flushed SIP message and the "resume" of a held message
 * go back through the core's per-destination queue via PrlOfflineHost. Pure like the core:
 * GLib only, time from the events, no clock.
 * Ownership: PrlOffline owns its tables; park contexts and held messages are (transfer full).
 * Rules: mapping-docs/offline.md (the § numbers cited in offline.c).
 */
#pragma once

#include "gateway/core.h"

G_BEGIN_DECLS

/* ---------------------------------------------------------------- pure helpers */

/* "xmpp:" + the bare JID of @jid, ASCII-lowercased (offline.md §2). (transfer full) */
char *prl_offline_owner_xmpp (const char *jid);
/* "sip:" + user@host of a SIP URI: scheme, password, port, params and headers dropped, host
 * lowercased (offline.md §2). NULL if @uri has no user@host. (transfer full) */
char *prl_offline_owner_sip (const char *uri);
/* XEP-0082 UTC stamp with milliseconds, "2025-03-01T09:15:00.000Z". (transfer full) */
char *prl_offline_format_stamp (gint64 us);
/* offline.md §4b: an XMPP error condition that means "not there now" rather than "never"
 * (recipient-unavailable, service-unavailable, remote-server-timeout, -not-found). */
gboolean prl_offline_condition_is_offline (const char *condition);
/* RFC 1123 date for a SIP Date header, "Sun, 06 Nov 1994 08:49:37 GMT". (transfer full) */
char *prl_offline_format_http_date (gint64 us);

/* A bounded map of string keys to a time, oldest insertion/update evicted first. */
typedef struct _PrlOfflineLru PrlOfflineLru;
PrlOfflineLru *prl_offline_lru_new (guint cap);
void prl_offline_lru_free (PrlOfflineLru *lru);
/* Sets @key to @value_us (moves it to the newest end). */
void prl_offline_lru_put (PrlOfflineLru *lru, const char *key, gint64 value_us);
/* TRUE and *@value_us if @key is present. */
gboolean prl_offline_lru_get (PrlOfflineLru *lru, const char *key, gint64 *value_us);
void prl_offline_lru_remove (PrlOfflineLru *lru, const char *key);
guint prl_offline_lru_size (PrlOfflineLru *lru);
/* The oldest key (borrowed until the next change), or NULL when empty. */
const char *prl_offline_lru_oldest (PrlOfflineLru *lru);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlOfflineLru, prl_offline_lru_free)

/* ---------------------------------------------------------------- the policy */

/* What to do with the sender once the store answers a park (offline.md §4). */
typedef enum {
  PRL_OFFLINE_PARK_SIP,      /* a SIP->XMPP MESSAGE: answer its transaction */
  PRL_OFFLINE_PARK_XMPP,     /* an XMPP->SIP stanza that failed: maybe an error stanza */
  PRL_OFFLINE_PARK_XMPP_NOW, /* an XMPP->SIP stanza not sent (unregistered / known offline
                                user): maybe resume */
  PRL_OFFLINE_PARK_CHAT,     /* an MSRP chat message for an offline XMPP user (chat.md §11):
                                nobody to answer, the outcome is counted */
} PrlOfflineParkKind;

typedef struct {
  PrlOfflineParkKind kind;
  /* SIP: the transaction and the answer if the park fails (FULL/UNAVAILABLE) */
  guint64 txn;
  guint fail_status;
  char *fail_reason;
  guint fail_retry_after_s;
  char *fail_contact;
  const char *fail_counter; /* static */
  /* XMPP: the original stanza's addresses and id, and the error if the park fails */
  char *orig_from, *orig_to, *orig_id;
  char *err_condition, *err_type, *err_text, *err_detail;
  /* notice (stored_notice): SIP: a MESSAGE from notice_from to notice_to; XMPP: a <message/>
   * from orig_to to orig_from */
  char *notice_from, *notice_to;
  gpointer held; /* XMPP_NOW: the core's queued message, handed back on failure */
  GDestroyNotify held_free;
} PrlOfflineParkCtx;

void prl_offline_park_ctx_free (PrlOfflineParkCtx *ctx);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlOfflineParkCtx, prl_offline_park_ctx_free)

/* What the offline module asks of the core (which owns the SIP send path). */
typedef struct {
  /* the next value of the core's id counter (ids, timer ids) */
  guint64 (*next_seq) (PrlCore *core);
  /* sends @m (borrowed) to SIP as a flushed message; the core reports its outcome with
   * prl_offline_sip_done (@token). FALSE if it cannot be sent at all. With flush_window > 1
   * it starts at once, beside the other messages of the flush (offline.md §6a). */
  gboolean (*send_sip) (PrlCore *core, const PrlStoredMessage *m, guint64 token, GPtrArray *out);
  /* sends a notice MESSAGE (fire and forget) */
  void (*send_notice) (PrlCore *core, const char *from, const char *to, const char *text,
                       GPtrArray *out);
  /* the park of a held message failed: send it as if it had never been held */
  void (*resume) (PrlCore *core, gpointer held, GPtrArray *out);
  /* the XMPP component link is up */
  gboolean (*link_up) (PrlCore *core);
} PrlOfflineHost;

typedef struct _PrlOffline PrlOffline;

/* @config is borrowed for the lifetime of the module (the core's copy; it may be swapped by
 * set_config, so the module reads it through @config_ref each time). */
PrlOffline *prl_offline_new (PrlCore *core, const PrlOfflineHost *host,
                             const PrlCoreConfig *const *config_ref);
void prl_offline_free (PrlOffline *off);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlOffline, prl_offline_free)

/* offline_enabled && the store is up (offline.md §3). */
gboolean prl_offline_can_park (PrlOffline *off);
/* @owner (an "sip:" key) sent a REGISTER with expires 0 and none since (offline.md §4d). */
gboolean prl_offline_is_unregistered (PrlOffline *off, const char *owner);
/* offline.md §4e, known offline: @owner (a "sip:" key) just failed with 404/480/408 and had
 * its message parked; later messages to it are parked without a try over SIP. FALSE (nothing
 * remembered) unless @owner is a SIP owner and offline_retry_s > 0. */
gboolean prl_offline_mark_offline (PrlOffline *off, const char *owner, gint64 now_us);
/* TRUE if a message to @owner is to be parked without a try over SIP: it is known offline
 * and was tried less than offline_retry_s ago. When a retry is due this notes @now_us as the
 * owner's last try and returns FALSE: that message goes over SIP (offline.md §4e). */
gboolean prl_offline_park_at_once (PrlOffline *off, const char *owner, gint64 now_us);
/* @owner is in the known-offline table (whether or not a retry is due). */
gboolean prl_offline_is_known_offline (PrlOffline *off, const char *owner);
/* Size of the known-offline table (0: no owner-key work needed). */
guint prl_offline_known_offline (PrlOffline *off);
/* Emits STORE_PARK for @m (transfer full: id, owner and expiry are filled in here when NULL/0)
 * and remembers @ctx (transfer full) until the result. */
void prl_offline_park (PrlOffline *off, PrlStoredMessage *m, PrlOfflineParkCtx *ctx, gint64 now_us,
                       GPtrArray *out);
/* Fills id, owner (from @owner), received_us and expires_us of a message about to be parked. */
void prl_offline_stamp (PrlOffline *off, PrlStoredMessage *m, const char *owner, gint64 now_us);

/* Online / offline signals (offline.md §5). @force bypasses flush_recheck_s. An online
 * signal also forgets that a SIP owner was known offline (offline.md §4e). */
void prl_offline_online (PrlOffline *off, const char *owner, gboolean force, gint64 now_us,
                         GPtrArray *out);
void prl_offline_offline (PrlOffline *off, const char *owner, gboolean unregistered,
                          GPtrArray *out);

/* Events the core passes on. Each returns TRUE if it was about this module. */
void prl_offline_on_store_state (PrlOffline *off, gboolean up);
void prl_offline_on_store_result (PrlOffline *off, const PrlStoreResult *r, gint64 now_us,
                                  GPtrArray *out);
gboolean prl_offline_on_timer (PrlOffline *off, guint64 id, gint64 now_us, GPtrArray *out);
gboolean prl_offline_on_xmpp_error (PrlOffline *off, const PrlXmppMessage *m, gint64 now_us,
                                    GPtrArray *out);
void prl_offline_on_link_down (PrlOffline *off, GPtrArray *out);
void prl_offline_on_tick (PrlOffline *off, gint64 now_us, GPtrArray *out);
/* The last part of flushed SIP message @token got a 2xx (@ok) or a failure. */
void prl_offline_sip_done (PrlOffline *off, guint64 token, gboolean ok, gint64 now_us,
                           GPtrArray *out);

/* Flushes in progress, store requests in flight, SIP owners watched (status, tests). */
guint prl_offline_flushing (PrlOffline *off);
guint prl_offline_watched (PrlOffline *off);
guint prl_offline_requests (PrlOffline *off);

G_END_DECLS
