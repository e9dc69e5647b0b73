/* gateway/core-internal.h - what the three parts of the page-mode core share: core.c
 * (configuration, lifetime, XMPP -> SIP and the entry point), core-sip-in.c (SIP -> XMPP) and
 * core-offline.c (known-offline parking and the hosts that offline.c and chat.c call back).
 * Internal to the core: nothing outside those three files includes it. */
#pragma once

#include "gateway/core.h"

#include "gateway/chat.h"
#include "gateway/interop.h"
#include "gateway/offline.h"

G_BEGIN_DECLS

typedef struct {
  guint64 seq; /* also the timer id */
  guint64 txn;
  char *xmpp_id;
  char *to_jid; /* the recipient: only it may bounce the message */
  /* offline_enabled: what to park if it bounces (offline.md §4b), kept as the few fields
   * stored_from_stanza() needs and turned into a PrlStoredMessage only on a bounce: nearly
   * every message is answered 202 and building the record for each cost a dozen
   * allocations per message (bench/RESULTS.md, "Profile and fixes"). */
  gboolean is_parkable;
  char *from_jid, *lang, *subject, *thread, *body, *call_id;
  gint64 received_us;
  char *sender_uri; /* ... and the notice's addresses */
  char *target_uri;
} Pending;
typedef enum {
  OUT_PAGE,   /* a relayed stanza: failures answer its sender */
  OUT_FLUSH,  /* a parked message being flushed: outcome to offline.c (token) */
  OUT_NOTICE, /* a stored_notice MESSAGE: fire and forget */
  OUT_NOTIFY, /* an IMDN or isComposing (interop.c): fire and forget, a 415 is remembered */
} OutKind;
typedef struct {
  char *from_jid; /* the original stanza, for the error we may owe its sender */
  char *to_jid;
  char *id;
  char *dest;          /* request URI: the queue key */
  PrlSipMessage *tmpl; /* headers of every part, no body */
  char *body;
  gsize len;
  GArray *cuts;    /* message-map.c plan */
  guint next;      /* next part to send, 1-based */
  guint64 request; /* the request id of every part (0 until part 1 is sent) */
  OutKind kind;
  guint64 token;      /* OUT_FLUSH: offline.c's token */
  gboolean parkable;  /* normal/chat/no type with a body (offline.md §4c) */
  char *thread;       /* the stanza's thread, kept for a park */
  char *plain;        /* body is a CPIM wrap of this (receipts.md §4: resent on a 415) */
  gint64 received_us; /* when the stanza arrived */
} OutMsg;
typedef struct {
  GQueue waiting; /* OutMsg*, owned */
  guint active;   /* messages in flight */
} Dest;
struct _PrlCore {
  PrlCoreConfig config;
  gboolean link_up;
  guint64 next_seq;                /* XMPP ids, generated Call-IDs, timer ids */
  guint64 next_request;            /* ids of the SIP requests we send */
  GHashTable *pending_by_id;       /* char* xmpp id -> Pending*, owned */
  GHashTable *pending_by_timer;    /* guint64* seq -> Pending*, borrowed */
  GHashTable *requests;            /* guint64* request id -> OutMsg*, owned */
  GHashTable *dests;               /* char* request URI -> Dest*, owned */
  guint queued;                    /* OutMsg waiting in all destination queues */
  const PrlCoreConfig *config_ref; /* &config, for offline.c */
  PrlOffline *offline;             /* offline policy state (offline.c) */
  PrlChat *chat;                   /* chat sessions (chat.c) */
  gint64 now_us;                   /* the current event's time (for paths without one) */
  PrlInterop *interop;             /* receipts, isComposing, caps cache (interop.c) */
};
extern const PrlOfflineHost prl_core_i_offline_host; /* core-offline.c */
extern const PrlChatHost prl_core_i_chat_host;       /* core-offline.c */

/* core.c: action helpers and the XMPP -> SIP queue */
void prl_core_i_count (GPtrArray *out, const char *counter);
void prl_core_i_out_msg_free (OutMsg *m);
void prl_core_i_respond (GPtrArray *out, guint64 txn, guint status, const char *reason,
                         guint retry_after_s, const char *accept, const char *contact);
void prl_core_i_reject_sip (GPtrArray *out, guint64 txn, guint status, const char *reason,
                            guint retry_after_s, const char *accept, const char *counter);
gboolean prl_core_i_has_scheme (const char *uri, const char *scheme);
gboolean prl_core_i_same_bare_jid (const char *a, const char *b);
void prl_core_i_send_next_part (PrlCore *self, OutMsg *msg, GPtrArray *out);
Dest *prl_core_i_dest_get (PrlCore *self, const char *uri);
GArray *prl_core_i_plan_cuts (PrlCore *self, const PrlSipMessage *tmpl, const char *body,
                              gsize len);
OutMsg *prl_core_i_out_msg_new (OutKind kind, PrlSipMessage *tmpl, const char *body, gsize len,
                                GArray *cuts);
void prl_core_i_enqueue (PrlCore *self, OutMsg *msg, GPtrArray *out);
void prl_core_i_on_xmpp_message (PrlCore *self, const PrlXmppMessage *m, gboolean allow_chat,
                                 gint64 now_us, GPtrArray *out);

/* core-sip-in.c: SIP -> XMPP */
gboolean prl_core_i_text_is_xml_safe (const char *s);
PrlStoredMessage *prl_core_i_stored_from_stanza (PrlCore *self, const PrlXmppMessage *x,
                                                 const char *call_id, const char *target,
                                                 gint64 now_us);
void prl_core_i_on_sip_message (PrlCore *self, const PrlSipMessage *m, gint64 now_us,
                                GPtrArray *out);
void prl_core_i_on_timer (PrlCore *self, guint64 id, gint64 now_us, GPtrArray *out);
void prl_core_i_on_xmpp_error (PrlCore *self, const PrlXmppMessage *m, gint64 now_us,
                               GPtrArray *out);
void prl_core_i_on_link (PrlCore *self, gboolean up, GPtrArray *out);

/* core-offline.c: known-offline parking (mapping-docs/offline.md §4e) */
PrlStoredMessage *prl_core_i_stored_from_out (const OutMsg *msg, const char *owner,
                                              const char *text, gsize len);
gboolean prl_core_i_park_known_offline (PrlCore *self, OutMsg *msg, const char *owner,
                                        gint64 now_us, GPtrArray *out);
void prl_core_i_park_behind (PrlCore *self, const OutMsg *failed, gint64 now_us, GPtrArray *out);
void prl_core_i_back_online (PrlCore *self, const OutMsg *msg, gint64 now_us, GPtrArray *out);
void prl_core_i_start_flush_now (PrlCore *self, OutMsg *msg, GPtrArray *out);
G_END_DECLS
