/* gateway/core.h - the pure translation core: events in, actions out.
 *
 * No sockets, no clock, no library handles: the core links GLib only, so everything it does
 * is reproducible from test-vectors/. The daemon (gateway/daemon/) is the only caller.
 * Rules: mapping-docs/addressing.md, errors.md, page-mode.md, offline.md (gateway/offline.c).
 */
#pragma once

#include "gateway/event.h"
#include "gateway/action.h"

G_BEGIN_DECLS

typedef enum {
  PRL_ADDR_DIRECT,  /* same user@domain on both sides (RFC 7247 federation) */
  PRL_ADDR_ESCAPED, /* SIP users as XEP-0106-escaped JIDs under a gateway domain */
} PrlAddrMode;

/* How a flush delivers parked messages to a SIP user (mapping-docs/chat.md §12). */
typedef enum {
  PRL_OFFLINE_PUSH_MESSAGE,  /* one SIP MESSAGE each (msilo's way) */
  PRL_OFFLINE_PUSH_MSRP,     /* OMA IM Appendix K: one MSRP session, a message/cpim SEND each */
  PRL_OFFLINE_PUSH_MSRP_SIP, /* the same with each SEND a message/sip (the MESSAGE as it was) */
} PrlOfflinePush;

typedef struct {
  char *xmpp_domain; /* the component domain that serves this rule */
  PrlAddrMode mode;
  char *sip_domain; /* direct: equal to xmpp_domain; escaped: the SIP domain routed to
                       Parley under which XMPP users appear (user%40host@sip_domain) */
} PrlDomainRule;

typedef struct {
  GPtrArray *domains;       /* PrlDomainRule*, owned; at least one */
  char **xmpp_domains;      /* direct mode: XMPP domains SIP users may reach; NULL = any */
  char **sip_domains;       /* escaped mode: SIP domains XMPP users may reach; NULL = any */
  char *id_prefix;          /* prefix of ids the core makes (XMPP ids, Call-IDs) */
  gsize max_message_bytes;  /* bodies above this are refused (413 / policy-violation) */
  gsize udp_request_limit;  /* no UDP request above this (whole request, RFC 3261 §18.1.1) */
  gsize sip_header_reserve; /* bytes the SIP stack adds that the core cannot see (Via, tags…) */
  gboolean outbound_udp;    /* the SIP next hop is reached over UDP */
  gboolean chunk_over_tcp;  /* split also when the next hop is TCP */
  char *part_marker;        /* printf format with two %u (part, parts), e.g. "[%u/%u] " */
  guint bounce_window_ms;   /* SIP->XMPP: wait this long for an XMPP error before 202 */
  guint retry_after_s;      /* Retry-After on 503 while the XMPP link is down */
  guint max_pending;        /* bound on SIP->XMPP transactions in their bounce window */
  guint max_queued;         /* bound on XMPP->SIP messages waiting for their destination */
  guint sip_window;         /* outstanding MESSAGEs per destination (RFC 3428: 1) */
  /* offline storage (mapping-docs/offline.md) */
  gboolean offline_enabled; /* park undeliverable messages in the store (needs the store up) */
  guint offline_expiry_s;   /* a parked message is dropped this long after its receipt */
  guint flush_batch;        /* messages per claim; a full batch is followed by another claim */
  guint flush_lease_ms;     /* lease a claim asks for (another instance waits this long) */
  guint flush_recheck_s;    /* weak online signals claim a user at most once per this */
  guint expire_interval_s;  /* TICK: STORE_EXPIRE at most this often (0 = never) */
  char *stored_notice;      /* text sent to the sender when a message was parked; NULL = none */
  gboolean reg_event;       /* watch SIP owners with parked messages (sip.watch, RFC 3680) */
  guint offline_retry_s;    /* a SIP owner known offline is tried over SIP at most this often */
  guint flush_window;       /* flushed MESSAGEs in flight per SIP owner (1: RFC 3428 order) */
  guint flush_window_xmpp;  /* flushed stanzas in their bounce windows per XMPP owner */
  /* chat sessions over MSRP (mapping-docs/chat.md, gateway/chat.c) */
  gboolean chat_enabled;    /* type='chat' stanzas open MSRP sessions; FALSE: page mode */
  guint chat_idle_timeout_s; /* a session without traffic this long is closed (BYE) */
  guint chat_queue_max;     /* stanzas held per session while its INVITE is pending */
  guint chat_max_sessions;  /* sessions at once; beyond: page mode / 486 */
  guint chat_fallback_s;    /* a peer that refused MSRP gets page mode this long */
  guint chat_composing_refresh_s; /* isComposing <refresh> we send, and re-send period */
  gboolean chat_cpim;       /* wrap outgoing MSRP messages in CPIM when the peer accepts it */
  char *chat_offline_notice; /* said in a session whose XMPP user is offline (chat.md §11);
                                NULL = none */
  PrlOfflinePush offline_push; /* how parked messages reach SIP users (chat.md §12) */
  /* real peers (mapping-docs/receipts.md, gateway/interop.c) */
  gboolean imdn;            /* XEP-0184/XEP-0333 <-> IMDN (RFC 5438) over message/cpim */
  gboolean iscomposing;     /* XEP-0085 chat states <-> isComposing (RFC 3994) in page mode */
  guint caps_cache_size;    /* SIP contacts whose 415 refusals are remembered */
  guint caps_cache_ttl_s;   /* ... for this long after the last refusal */
} PrlCoreConfig;

/* Fills @config with the documented defaults (examples/parley.conf) and no domains. */
void prl_core_config_init (PrlCoreConfig *config);
void prl_core_config_clear (PrlCoreConfig *config);
void prl_core_config_add_domain (PrlCoreConfig *config, const char *xmpp_domain, PrlAddrMode mode,
                                 const char *sip_domain);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (PrlCoreConfig, prl_core_config_clear)

typedef struct _PrlCore PrlCore;

/* @config is copied. */
PrlCore *prl_core_new (const PrlCoreConfig *config);
void prl_core_free (PrlCore *core);
/* Replaces the configuration (config.reload): @config is copied; messages in flight finish
 * under the rules they started with where it matters (parts already cut stay as cut). */
void prl_core_set_config (PrlCore *core, const PrlCoreConfig *config);
/* Feeds one event; appends (transfer full) PrlAction* to @out. @event is borrowed for the call
 * only. Cannot fail: bad input yields reply actions (SIP 4xx, XMPP <error/>) and a counter. */
void prl_core_handle (PrlCore *core, const PrlEvent *event, GPtrArray *out);
/* Number of SIP transactions waiting and XMPP->SIP messages queued (for status). */
guint prl_core_pending (PrlCore *core);
guint prl_core_queued (PrlCore *core);
/* (transfer full) PrlChatInfo* (gateway/chat.h) of every chat session, by id. */
GPtrArray *prl_core_chats (PrlCore *core);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlCore, prl_core_free)

G_END_DECLS
