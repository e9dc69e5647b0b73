/* gateway/chat.h - the chat-session state machine of the core (mapping-docs/chat.md).
 *
 * One chat joins one XMPP user and one SIP user (keyed by the pair of bare addresses, as the
 * XMPP side writes them) to one MSRP session. States: none -> inviting -> active -> gone
 * (closing is immediate: CHAT_CLOSE ends the session and no event follows). Pure like the
 * rest of the core: events in, actions out, time from events. gateway/core.c owns the
 * PrlChat and calls it at the points named below.
 */
#pragma once

#include "gateway/action.h"
#include "gateway/core.h"
#include "gateway/event.h"

G_BEGIN_DECLS

typedef struct _PrlChat PrlChat;

/* What the chat machine needs from the core. */
typedef struct {
  guint64 (*next_seq) (gpointer core);
  /* Sends @m XMPP -> SIP in page mode (fallback: a refused INVITE, a failed SEND). */
  void (*page) (gpointer core, const PrlXmppMessage *m, gint64 now_us, GPtrArray *out);
  gboolean (*link_up) (gpointer core);
  /* offline storage (chat.md §11, §12) */
  gboolean (*can_park) (gpointer core);
  /* parks @m (transfer full) for an offline XMPP user; nobody is answered */
  void (*park) (gpointer core, PrlStoredMessage *m, gint64 now_us, GPtrArray *out);
  /* sends parked @m as a SIP MESSAGE (the push session could not be opened) */
  gboolean (*send_parked) (gpointer core, const PrlStoredMessage *m, guint64 token,
                           GPtrArray *out);
  /* the parked message @token went out over a push session (@ok) or failed */
  void (*pushed) (gpointer core, guint64 token, gboolean ok, gint64 now_us, GPtrArray *out);
} PrlChatHost;

PrlChat *prl_chat_new (const PrlCoreConfig *config, const PrlChatHost *host, gpointer core);
void prl_chat_free (PrlChat *chat);

/* An XMPP stanza without body (chat state, receipt) from a user who may be in a chat: TRUE
 * when the chat machine took it. Called before page mode drops body-less stanzas. */
gboolean prl_chat_on_xmpp_control (PrlChat *chat, const PrlXmppMessage *m, gint64 now_us,
                                   GPtrArray *out);
/* An XMPP type='chat' message with a body, already checked and mapped (@from_uri, @to_uri):
 * TRUE when it goes (or waits to go) over a session; FALSE: send it in page mode. */
gboolean prl_chat_on_xmpp_message (PrlChat *chat, const PrlXmppMessage *m, const char *from_uri,
                                   const char *to_uri, gint64 now_us, GPtrArray *out);
/* An XMPP error stanza: TRUE when it bounces a message a session delivered (chat.md §11). */
gboolean prl_chat_on_xmpp_error (PrlChat *chat, const PrlXmppMessage *m, gint64 now_us,
                                 GPtrArray *out);
/* A flush delivers parked @m to a SIP user: TRUE when it goes over an MSRP push session
 * (offline_push, chat.md §12); the outcome comes back through host.pushed (@token). */
gboolean prl_chat_push (PrlChat *chat, const PrlStoredMessage *m, guint64 token, gint64 now_us,
                        GPtrArray *out);
/* The PRL_EVENT_CHAT_* events. */
void prl_chat_on_event (PrlChat *chat, const PrlEvent *event, GPtrArray *out);
/* Unavailable presence from @jid: its chats end. */
void prl_chat_on_unavailable (PrlChat *chat, const char *jid, gint64 now_us, GPtrArray *out);
/* The XMPP link went down: every chat ends (nothing could reach the XMPP side). */
void prl_chat_on_link_down (PrlChat *chat, gint64 now_us, GPtrArray *out);
/* 1 s housekeeping: idle timeouts, isComposing refreshes, expired fallbacks. */
void prl_chat_on_tick (PrlChat *chat, gint64 now_us, GPtrArray *out);
/* Chats alive (inviting + active). */
guint prl_chat_count (PrlChat *chat);

/* One chat as the operator sees it (sessions.list). */
typedef struct {
  guint64 id;
  const char *state;   /* "inviting", "active" */
  const char *origin;  /* "xmpp", "sip", "push" */
  char *xmpp;          /* the XMPP user (JID), NULL for a push session */
  char *sip;           /* the SIP user (URI) */
  char *thread;        /* = the INVITE Call-ID */
  gint64 last_us;      /* last traffic */
  guint held;          /* stanzas (or parked messages) waiting for the INVITE */
} PrlChatInfo;
void prl_chat_info_free (PrlChatInfo *info);
/* (transfer full) PrlChatInfo* of every chat, by id. */
GPtrArray *prl_chat_list (PrlChat *chat);
/* The operator ends @id (sessions.close): BYE and <gone/>. FALSE if there is no such chat. */
gboolean prl_chat_end (PrlChat *chat, guint64 id, gint64 now_us, GPtrArray *out);

G_END_DECLS
