/* gateway/message.h - the plain data the core speaks: one SIP MESSAGE, one XMPP <message/>.
 *
 * Adapters (xmpp/codec.c, sip/codec.c) fill these from library objects and turn them back
 * into wire messages; the core (gateway/core.c) maps one into the other. Every string is
 * owned by the struct (GLib memory, NUL-terminated, UTF-8 unless said otherwise) and freed by
 * the _free function; NULL means "absent". Nothing here holds a library handle.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* One SIP MESSAGE request, received (event) or to send (action). */
typedef struct {
  guint64 txn;       /* received: the adapter's server-transaction id, quoted back in
                        PRL_ACTION_SIP_RESPOND; sent: the core's request id, quoted back
                        in PRL_EVENT_SIP_RESPONSE, the same for every part of a chunked
                        message (sip/sip.h: parts 2..n reuse part 1's handle) */
  gboolean is_udp;   /* received: came over UDP */
  char *request_uri; /* "sip:bob@xmpp.example.com" (as on the wire, params kept) */
  char *from;        /* From URI without display name and tag, params kept
                        ("sip:alice@sip.example.net;gr=x") */
  char *to;          /* To URI, same form */
  char *call_id;
  guint32 cseq;
  char *subject;
  char *content_type; /* whole header value, parameters included, or NULL */
  char *content_language;
  char *date; /* Date: header value, or NULL */
  char *content_encoding; /* received: Content-Encoding value ("deflate"), or NULL */
  char *body; /* body bytes, NUL-terminated for convenience; may hold NULs */
  gsize body_len;
  guint part;          /* sent only: 1-based part number of a chunked message */
  guint parts;         /* sent only: number of parts (1 = not chunked) */
  gsize size_estimate; /* sent only: the core's estimate of the whole request in bytes */
} PrlSipMessage;

PrlSipMessage *prl_sip_message_new (void);
PrlSipMessage *prl_sip_message_dup (const PrlSipMessage *m);
void prl_sip_message_free (PrlSipMessage *m);
/* Replaces m->body with a copy of @len bytes at @data (NUL appended). */
void prl_sip_message_set_body (PrlSipMessage *m, const char *data, gsize len);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlSipMessage, prl_sip_message_free)

/* One XMPP <message/> stanza, received (event) or to send (action). */
typedef struct {
  char *from; /* JID as on the wire (full or bare); NULL only if missing */
  char *to;
  char *id;
  char *type; /* NULL (absent), "normal", "chat", "headline", "groupchat", "error" */
  char *lang; /* xml:lang of the stanza */
  char *subject;
  char *thread;
  char *body;              /* text of <body/> (UTF-8), NULL if there is none */
  gboolean has_chat_state; /* an XEP-0085 element was present */
  gboolean has_payload;    /* other child elements the codec did not map */
  char *chat_state;        /* XEP-0085 element name ("composing", ...), NULL = none or
                              unknown; written as <active/> when NULL and has_chat_state */
  /* receipts and markers (mapping-docs/receipts.md) */
  gboolean receipt_request; /* XEP-0184 <request/> */
  char *receipt_id;         /* XEP-0184 <received id/> */
  gboolean markable;        /* XEP-0333 <markable/> */
  char *displayed_id;       /* XEP-0333 <displayed id/> */
  char *origin_id;          /* XEP-0359 <origin-id id/> */
  /* type='error' only (RFC 6120 §8.3) */
  char *error_type;      /* "cancel", "modify", "auth", "wait" */
  char *error_condition; /* "item-not-found", ... (urn:ietf:params:xml:ns:xmpp-stanzas) */
  char *error_text;      /* <text/>, or NULL */
  char *error_detail;    /* character data of the condition element (gone/redirect URI) */
  /* XEP-0203 delayed delivery (sent only: a flushed offline message) */
  char *delay_stamp;     /* UTC, "YYYY-MM-DDThh:mm:ss[.sss]Z" */
  char *delay_from;      /* who delayed it (the component domain) */
} PrlXmppMessage;

PrlXmppMessage *prl_xmpp_message_new (void);
PrlXmppMessage *prl_xmpp_message_dup (const PrlXmppMessage *m);
void prl_xmpp_message_free (PrlXmppMessage *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlXmppMessage, prl_xmpp_message_free)

/* One parked message: what msilo stores, and more (DESIGN.md §7 "What is stored"). */
typedef struct {
  char *id;                  /* unique, assigned by the caller before park */
  char *owner;               /* canonical recipient key, e.g. "xmpp:juliet@xmpp.test" or
                                "sip:alice@sip.test" (one user = one hash tag) */
  char *to;                  /* recipient address to deliver to (bare JID or SIP URI) */
  char *original_to;         /* the original Request-URI / stanza 'to' */
  char *from;                /* sender, in the recipient's protocol (JID or SIP URI) */
  char *kind;                /* "page" or "chat" */
  char *content_type;        /* as delivered, e.g. "text/plain;charset=UTF-8" */
  char *body;                /* UTF-8 text, NUL-terminated (body_len bytes before the NUL) */
  gsize body_len;
  char *lang, *subject, *thread;
  char *origin;              /* "sip" or "xmpp": the side the message came from */
  char *original_id;         /* the original Call-ID or stanza id (kept for correlation) */
  gint64 received_us;        /* first receipt (wall clock, µs) */
  gint64 expires_us;         /* dropped after this even if the user never comes back */
} PrlStoredMessage;

PrlStoredMessage *prl_stored_message_new (void);
PrlStoredMessage *prl_stored_message_dup (const PrlStoredMessage *m);
void prl_stored_message_free (PrlStoredMessage *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlStoredMessage, prl_stored_message_free)

G_END_DECLS
