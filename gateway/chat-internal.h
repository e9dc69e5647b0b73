/* gateway/chat-internal.h - what gateway/chat.c (the session state machine) and
 * gateway/chat-offline.c (sessions meeting the offline store, mapping-docs/chat.md §11-§12)
 * share. Internal to the core: nothing outside those two files includes it. */
#pragma once

#include "gateway/chat.h"
#include "gateway/offline.h"

G_BEGIN_DECLS

#define MAX_RECEIPTS 4096        /* receipts we wait for, each way (oldest forgotten first) */
#define MAX_FALLBACKS 10000      /* pairs remembered as "no MSRP" */
#define MAX_RECENT 4096          /* delivered stanzas that a bounce may still name (§11) */
#define RECENT_US (30 * US)      /* ... for this long */
#define MAX_ACKED 4096           /* SENDs answered 200 kept for a late failure REPORT (§7) */
#define ACKED_US (30 * US)       /* ... for this long */
#define PUSH_LINGER_US (2 * US)  /* a push session with nothing to send closes after this (§12) */
#define PUSH_PREFIX "\001push\n" /* push chats' keys: no JID pair looks like it */
#define US 1000000

typedef enum {
  CHAT_INVITING, /* CHAT_OPEN sent, waiting for CHAT_OPENED / CHAT_FAILED */
  CHAT_ACTIVE,
} ChatState;

typedef struct {
  guint64 id;
  char *key;
  ChatState state;
  gboolean incoming;
  char *jid;        /* the XMPP user (full JID of the last stanza, or bare) */
  char *gw_jid;     /* the SIP user as an XMPP address */
  char *local_uri;  /* the XMPP user as a SIP URI (CPIM From) */
  char *remote_uri; /* the SIP user */
  char *thread;     /* <thread/> = INVITE Call-ID (§3) */
  gboolean peer_cpim, peer_composing;
  GQueue queue;                /* Held* while inviting */
  gint64 last_us;              /* last traffic either way (idle timeout, §6) */
  gint64 composing_sent_us;    /* we told the peer "active" then; 0 = idle */
  gint64 peer_composing_until; /* the peer is composing until then; 0 = not */
  gboolean told_offline;       /* the offline notice went into this session (§11) */
  gboolean push;               /* an offline push session (§12): no XMPP side */
  GQueue pushq;                /* Pushed* waiting for the push session to open */
  guint inflight;              /* push: SENDs without an outcome yet */
} Chat;

/* A parked message for a push session (§12), with its flush token. */
typedef struct {
  PrlStoredMessage *m;
  guint64 token;
} Pushed;

/* A stanza a session delivered to XMPP, kept a while in case it bounces (§11). */
typedef struct {
  char *id;
  guint64 chat_id;
  PrlStoredMessage *park; /* what to park if it bounces as offline */
  gint64 at_us;
} Recent;

/* A stanza held while the INVITE is pending, with its time of receipt (a fallback to page
 * mode parks it with that time, offline.md §3). */
typedef struct {
  PrlXmppMessage *m;
  gint64 received_us;
} Held;

/* A message we sent on a session, until its transaction outcome (§4: fallback on failure). */
typedef struct {
  guint64 chat_id;
  PrlXmppMessage *orig; /* the stanza, for page-mode fallback and the receipt (NULL: push) */
  gint64 received_us;
  guint64 push_token; /* push (§12): the flush token to report to offline.c */
  guint64 token;      /* the CHAT_SEND's token */
  gint64 acked_us;    /* its 200 came then (0: not yet); kept a while for a failure REPORT */
} Sent;

/* A receipt we wait for: XMPP <request/> -> our SEND (by token), or MSRP Success-Report ->
 * the XMPP stanza we delivered (by its id). */
typedef struct {
  char *key; /* "t<token>" or "x<xmpp id>" */
  guint64 chat_id;
  char *xmpp_id; /* t: the original stanza id to echo in <received/> */
  char *jid, *gw_jid;
  char *message_id; /* x: the MSRP message to REPORT */
  gsize len;
} Receipt;

struct _PrlChat {
  const PrlCoreConfig *config;
  PrlChatHost host;
  gpointer core;
  GHashTable *by_key;      /* key -> Chat* (owned) */
  GHashTable *by_id;       /* guint64* -> Chat* (borrowed) */
  GHashTable *sent;        /* guint64* token -> Sent* (owned) */
  GHashTable *receipts;    /* key -> Receipt* (owned) */
  GQueue receipt_order;    /* Receipt keys (borrowed), oldest first */
  PrlOfflineLru *fallback; /* pair key -> until_us */
  GHashTable *recent;      /* xmpp id -> Recent* (owned) */
  GQueue acked;            /* Sent* (in sent) answered 200, oldest first (§7) */
  GQueue recent_order;     /* Recent* (borrowed), oldest first */
};

void prl_chat_i_count (GPtrArray *out, const char *counter);
PrlAction *prl_chat_i_chat_action (GPtrArray *out, PrlActionKind kind, guint64 id);
char *prl_chat_i_bare (const char *jid);
Chat *prl_chat_i_chat_add (PrlChat *self, char *key, guint64 id);
void prl_chat_i_chat_remove (PrlChat *self, Chat *c);
guint64 prl_chat_i_send_msrp (PrlChat *self, Chat *c, const char *content_type, const char *body,
                              gsize len, gboolean success_report, gint64 now_us, GPtrArray *out);
void prl_chat_i_close_chat (PrlChat *self, Chat *c, gboolean tell_xmpp, const char *counter,
                            gint64 now_us, GPtrArray *out);
gboolean prl_chat_i_in_fallback (PrlChat *self, const char *key, gint64 now_us);
void prl_chat_i_pushed_free (Pushed *p);
void prl_chat_i_recent_free (Recent *r);
PrlStoredMessage *prl_chat_i_stored_from (Chat *c, const PrlXmppMessage *m, const PrlChatEvent *e,
                                          gint64 now_us);
void prl_chat_i_offline_notice (PrlChat *self, Chat *c, gint64 now_us, GPtrArray *out);
void prl_chat_i_recent_add (PrlChat *self, const char *id, guint64 chat_id, PrlStoredMessage *park,
                            gint64 now_us);
void prl_chat_i_send_push (PrlChat *self, Chat *c, const Pushed *p, gint64 now_us,
                           GPtrArray *out);
void prl_chat_i_push_fallback (PrlChat *self, Chat *c, gint64 now_us, GPtrArray *out);

G_END_DECLS
