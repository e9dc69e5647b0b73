/* gateway/action.h - what the core asks the daemon to do (tagged union), and its text form.
 *
 * prl_core_handle() appends (transfer full) PrlAction* to a GPtrArray made by
 * prl_action_array_new(), which frees them. The daemon executes them in order, after the
 * core has returned. prl_action_to_text() gives the canonical one-line form that
 * test-vectors/ files compare against (format: test-vectors/README.md).
 */
#pragma once

#include "gateway/message.h"

G_BEGIN_DECLS

typedef enum {
  PRL_ACTION_SIP_RESPOND,   /* answer a received MESSAGE: .respond */
  PRL_ACTION_SIP_SEND,      /* send one MESSAGE (one part): .sip; answer comes as SIP_RESPONSE */
  PRL_ACTION_XMPP_SEND,     /* send one <message/>: .xmpp */
  PRL_ACTION_TIMER,         /* start a one-shot timer: .timer; fires as PRL_EVENT_TIMER */
  PRL_ACTION_COUNT,         /* bump the named counter (stats, metrics): .counter */
  PRL_ACTION_STORE_PARK,    /* park .store.message for .store.message->owner */
  PRL_ACTION_STORE_CLAIM,   /* claim .store.owner's messages (lease) for a flush */
  PRL_ACTION_STORE_ACK,     /* .store.id was delivered: remove it from .store.owner's queue */
  PRL_ACTION_STORE_RELEASE, /* stop flushing .store.owner (give the lease back) */
  PRL_ACTION_STORE_EXPIRE,  /* drop every parked message past its expiry (at .store.now_us) */
  PRL_ACTION_SIP_WATCH,     /* SUBSCRIBE to the reg event (RFC 3680) of .aor; no answer event */
  PRL_ACTION_SIP_UNWATCH,   /* end the reg-event subscription of .aor */
  /* chat sessions (mapping-docs/chat.md): all use .chat */
  PRL_ACTION_CHAT_OPEN,     /* INVITE .chat.to from .chat.from with an MSRP offer: CHAT_OPENED
                               or CHAT_FAILED follows */
  PRL_ACTION_CHAT_ACCEPT,   /* answer the INVITE .chat.txn 200 (MSRP answer) as chat .chat.id */
  PRL_ACTION_CHAT_REJECT,   /* answer the INVITE .chat.txn with .chat.status/.chat.reason */
  PRL_ACTION_CHAT_SEND,     /* one MSRP message on .chat.id: CHAT_SENT .chat.token follows */
  PRL_ACTION_CHAT_REPORT,   /* REPORT Status 000 .chat.status for .chat.message_id (.chat.len) */
  PRL_ACTION_CHAT_CLOSE,    /* end .chat.id (BYE, MSRP close); no event follows */
} PrlActionKind;

typedef struct {
  guint64 txn; /* PrlSipMessage.txn of the received request */
  guint status;
  char *reason;        /* reason phrase (never NULL) */
  guint retry_after_s; /* Retry-After header when > 0 */
  char *accept;        /* Accept header (415), or NULL */
  char *contact;       /* Contact header (3xx), or NULL */
} PrlSipRespond;

typedef struct {
  guint64 id;
  guint ms;
} PrlTimer;

/* Every store action is answered by one PRL_EVENT_STORE_RESULT with the same .request. */
typedef struct {
  guint64 request;
  PrlStoredMessage *message; /* park: owned */
  char *owner;               /* claim, ack, release */
  char *id;                  /* ack */
  char *after;               /* claim: list only what is queued after this id (NULL: all) */
  gint64 now_us;             /* claim, expire */
  guint max;                 /* claim: at most this many messages (flush_batch) */
  guint lease_ms;            /* claim: lease length (flush_lease_ms) */
} PrlStoreOp;

typedef struct {
  guint64 id;              /* chat id (the core's) */
  guint64 txn;             /* ACCEPT, REJECT: the SIP session of the INVITE */
  char *from, *to;         /* OPEN: SIP URIs (the XMPP user's, the SIP user's) */
  char *call_id, *subject; /* OPEN */
  guint status;            /* REJECT, REPORT */
  char *reason;            /* REJECT */
  guint64 token;           /* SEND */
  char *content_type;      /* SEND */
  char *body;              /* SEND: len bytes, NUL-terminated */
  gsize len;               /* SEND; REPORT: the reported message's size */
  gboolean success_report; /* SEND: ask for a success REPORT */
  char *message_id;        /* REPORT */
} PrlChatOp;

typedef struct {
  PrlActionKind kind;
  union {
    PrlSipRespond respond;
    PrlSipMessage *sip;   /* owned */
    PrlXmppMessage *xmpp; /* owned */
    PrlTimer timer;
    const char *counter; /* static string, e.g. "sip_in_relayed" */
    PrlStoreOp store;
    char *aor; /* sip.watch, sip.unwatch: "sip:user@host" (an offline owner key), owned */
    PrlChatOp chat; /* strings owned */
  };
} PrlAction;

PrlAction *prl_action_new (PrlActionKind kind);
void prl_action_free (PrlAction *action);
GPtrArray *prl_action_array_new (void);
/* (transfer full) one line, no trailing newline */
char *prl_action_to_text (const PrlAction *action);
/* (transfer full) every action's text, each followed by '\n'; "" for none */
char *prl_actions_to_text (GPtrArray *actions);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlAction, prl_action_free)

G_END_DECLS
