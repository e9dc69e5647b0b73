/* gateway/event.h - what happens to the gateway, as the core sees it (tagged union).
 *
 * The daemon's adapters fill a PrlEvent from the wire and hand it to prl_core_handle(),
 * which borrows it for the call only. Time comes in as a value (now_us), so the core never
 * reads a clock.
 */
#pragma once

#include "gateway/message.h"

G_BEGIN_DECLS

typedef enum {
  PRL_EVENT_SIP_MESSAGE,  /* .sip: a MESSAGE request arrived; .sip.txn names the transaction */
  PRL_EVENT_SIP_RESPONSE, /* .response: final response to a request the core sent */
  PRL_EVENT_XMPP_MESSAGE, /* .xmpp: a <message/> arrived over the component link */
  PRL_EVENT_XMPP_LINK,    /* .link_up: the component link is authenticated (TRUE) or lost */
  PRL_EVENT_TIMER,        /* .timer_id: a timer the core started (PRL_ACTION_TIMER) fired */
  PRL_EVENT_TICK,         /* 1 s housekeeping */
  PRL_EVENT_XMPP_PRESENCE, /* .presence: a <presence/> reached the component (to any JID of it) */
  PRL_EVENT_SIP_REGISTER,  /* .reg: a REGISTER the SIP proxy replicated to Parley (accepted) */
  PRL_EVENT_STORE_STATE,   /* .store_up: the offline store became usable (TRUE) or not */
  PRL_EVENT_STORE_RESULT,  /* .store: the answer to a PRL_ACTION_STORE_* with .store.request */
  PRL_EVENT_FLUSH,         /* .owner: the operator asked to deliver this user's parked messages */
  /* chat sessions (mapping-docs/chat.md): all use .chat */
  PRL_EVENT_CHAT_INVITE,   /* a SIP INVITE with a usable MSRP offer: .chat.invite, .chat.peer_* */
  PRL_EVENT_CHAT_OPENED,   /* our CHAT_OPEN .chat.id is established (2xx and MSRP connected) */
  PRL_EVENT_CHAT_FAILED,   /* our CHAT_OPEN .chat.id failed with .chat.status (SIP or local) */
  PRL_EVENT_CHAT_CLOSED,   /* .chat.id ended from outside (BYE, MSRP loss): .chat.reason */
  PRL_EVENT_CHAT_RECV,     /* one complete MSRP message on .chat.id (.chat.content_type, .body…) */
  PRL_EVENT_CHAT_SENT,     /* outcome of CHAT_SEND .chat.token: .chat.status, .chat.report */
  PRL_EVENT_CHAT_END,      /* the operator ends .chat.id (sessions.close) */
} PrlEventKind;

/* Outcome of an offline-store operation (store/store.h errors, as the core sees them). */
typedef enum {
  PRL_STORE_OK,
  PRL_STORE_UNAVAILABLE, /* backend unreachable */
  PRL_STORE_QUOTA,       /* the recipient's quota is full */
  PRL_STORE_FULL,        /* the global bound is reached */
  PRL_STORE_LEASED,      /* another instance is flushing this user */
} PrlStoreOutcome;

typedef struct {
  char *from;         /* sender JID (full), as on the wire */
  char *to;           /* the gateway JID it was sent to */
  gboolean available; /* no type (available) = TRUE; type='unavailable' = FALSE */
} PrlXmppPresence;

typedef struct {
  char *aor;        /* To URI of the REGISTER (the user's address of record) */
  char *contact;    /* first Contact URI, or NULL */
  guint expires;    /* 0 = unregistered */
} PrlSipRegister;

typedef struct {
  guint64 request;      /* the action's request id */
  PrlStoreOutcome outcome;
  GPtrArray *messages;  /* claim only: PrlStoredMessage* in receive order (borrowed), or NULL */
  guint64 count;        /* expire: how many were removed */
} PrlStoreResult;

typedef struct {
  guint64 request; /* PrlSipMessage.txn of the sent request */
  guint status;    /* final status (>= 200); 408 for a local transaction timeout */
  char *reason;    /* reason phrase, or NULL */
  char *contact;   /* first Contact URI of a 3xx, or NULL */
} PrlSipResponse;

/* A chat-session event (PRL_EVENT_CHAT_*); strings borrowed. */
typedef struct {
  guint64 id;               /* the chat id the core gave (CHAT_OPEN / CHAT_ACCEPT) */
  PrlSipMessage *invite;    /* CHAT_INVITE: the INVITE (txn = the SIP session to answer) */
  gboolean peer_cpim;       /* CHAT_INVITE, CHAT_OPENED: the peer's accept-types has message/cpim */
  gboolean peer_composing;  /* ... and application/im-iscomposing+xml */
  guint status;             /* CHAT_FAILED, CHAT_SENT */
  gboolean report;          /* CHAT_SENT: a success REPORT (not the transaction response) */
  guint64 token;            /* CHAT_SENT: the CHAT_SEND's token */
  char *reason;             /* CHAT_FAILED, CHAT_CLOSED: short text, or NULL */
  char *content_type;       /* CHAT_RECV */
  char *body;               /* CHAT_RECV: NUL-terminated, len bytes */
  gsize len;
  char *message_id;         /* CHAT_RECV: MSRP Message-ID */
  gboolean success_report;  /* CHAT_RECV: the sender asked for a success REPORT */
} PrlChatEvent;

typedef struct {
  PrlEventKind kind;
  gint64 now_us; /* wall clock in the daemon, fixed in tests */
  union {
    PrlSipMessage *sip; /* borrowed */
    PrlSipResponse response;
    PrlXmppMessage *xmpp; /* borrowed */
    gboolean link_up;
    guint64 timer_id;
    PrlXmppPresence presence;
    PrlSipRegister reg;
    gboolean store_up;
    PrlStoreResult store;
    char *owner; /* borrowed: "xmpp:bare-jid" or "sip:user@host" (offline.md §2) */
    PrlChatEvent chat;
  };
} PrlEvent;

const char *prl_event_kind_to_string (PrlEventKind kind);

G_END_DECLS
