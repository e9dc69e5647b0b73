/* xmpp/xmpp.h - the XEP-0114 component link: Parley's one connection to the XMPP server.
 *
 * A PrlXmppLink owns a libstrophe context and connection driven from the default
 * GMainContext (no thread, no timer polling: LIBRARIES.md §1). It connects to a literal IP
 * address (libstrophe resolves names with a blocking getaddrinfo()), performs the handshake,
 * reconnects by itself with capped exponential backoff, answers XEP-0030 disco queries and
 * the iqs it does not serve, and hands every decoded <message/> to the caller as a plain
 * PrlXmppMessage (gateway/message.h). Nothing here exposes a libstrophe type: the codec
 * that converts stanzas lives in xmpp/codec.h, internal to this folder.
 *
 * Ownership: the caller owns the link; the link copies its config. Messages passed to
 * on_message are borrowed for the duration of the call. Callbacks run on the default main
 * context, from inside the link's GSource dispatch: they may call prl_xmpp_link_send() and
 * prl_xmpp_link_stop(), but must not free the link.
 */
#pragma once

#include <glib.h>

#include "gateway/message.h"

G_BEGIN_DECLS

#define PRL_XMPP_ERROR (prl_xmpp_error_quark ())
GQuark prl_xmpp_error_quark (void);

typedef enum {
  PRL_XMPP_ERROR_MALFORMED, /* a stanza that cannot be turned into a PrlXmppMessage */
  PRL_XMPP_ERROR_OFFLINE,   /* the link is not up (handshake not done) */
} PrlXmppError;

typedef struct _PrlXmppLink PrlXmppLink;

typedef struct {
  char *host;             /* literal IP address of the server's component port (no DNS) */
  guint port;             /* 0 = 5347 */
  char *component;        /* component JID/domain, e.g. "sip.example.net" */
  char *secret;           /* never logged */
  guint reconnect_min_ms; /* 0 = 500; first retry delay */
  guint reconnect_max_ms; /* 0 = 30000; the delay doubles up to this, reset after a handshake */
  char *disco_name;       /* XEP-0030 identity name; NULL = "Parley SIP gateway" */
} PrlXmppLinkConfig;

#define PRL_XMPP_DEFAULT_PORT 5347
#define PRL_XMPP_DEFAULT_RECONNECT_MIN_MS 500
#define PRL_XMPP_DEFAULT_RECONNECT_MAX_MS 30000
#define PRL_XMPP_DEFAULT_DISCO_NAME "Parley SIP gateway"

/* Fills @c with the defaults above and NULL strings. */
void prl_xmpp_link_config_init (PrlXmppLinkConfig *c);
/* Frees the strings of @c and zeroes it; safe to call twice. */
void prl_xmpp_link_config_clear (PrlXmppLinkConfig *c);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (PrlXmppLinkConfig, prl_xmpp_link_config_clear)

typedef struct {
  /* A decoded <message/> (any type, errors included), borrowed for the call. */
  void (*on_message) (PrlXmppLink *link, const PrlXmppMessage *msg, gpointer user_data);
  /* TRUE after a successful <handshake/>, FALSE when an online link is lost or stopped. */
  void (*on_state) (PrlXmppLink *link, gboolean online, gpointer user_data);
  /* A <presence/> to any JID of the component: available (no type) or type='unavailable'.
   * Other types (subscribe, probe, error ...) are not passed on. May be NULL. */
  void (*on_presence) (PrlXmppLink *link, const char *from, const char *to, gboolean available,
                       gpointer user_data);
} PrlXmppLinkCallbacks;

typedef struct {
  guint64 rx_messages;        /* <message/> stanzas decoded and passed to on_message */
  guint64 tx_messages;        /* messages handed to libstrophe by prl_xmpp_link_send() */
  guint64 rx_malformed;       /* stanzas the codec refused */
  guint64 rx_iq;              /* iq stanzas received (any type) */
  guint64 rx_presence;        /* presence stanzas received (any type) */
  guint64 tx_errors;          /* error stanzas the link generated itself (iq and message) */
  guint64 tx_dropped_offline; /* prl_xmpp_link_send() calls refused because the link was down */
  guint64 connects;           /* successful handshakes */
  guint64 disconnects;        /* losses (or stops) of an online link */
} PrlXmppLinkStats;

/* Creates a link (transfer full). @config and @callbacks are copied; host, component and
 * secret must be set. Does not connect. */
PrlXmppLink *prl_xmpp_link_new (const PrlXmppLinkConfig *config,
                                const PrlXmppLinkCallbacks *callbacks, gpointer user_data);
/* Starts connecting on the default main context; from then on the link reconnects by itself
 * until prl_xmpp_link_stop(). Connection problems are logged, never returned. */
void prl_xmpp_link_start (PrlXmppLink *link);
/* TRUE between a successful handshake and the loss of the connection (or stop). */
gboolean prl_xmpp_link_is_online (PrlXmppLink *link);
/* Queues @msg (borrowed) for sending. FALSE, with nothing sent and tx_dropped_offline
 * counted, unless the link is online. @msg must have from and to (XEP-0114). Text that XML
 * cannot carry (control characters, invalid UTF-8) is replaced by U+FFFD. TRUE means handed
 * to libstrophe, not delivered: a connection lost right after may still lose it. */
gboolean prl_xmpp_link_send (PrlXmppLink *link, const PrlXmppMessage *msg);
/* Counters (transfer none), valid as long as the link. */
const PrlXmppLinkStats *prl_xmpp_link_stats (PrlXmppLink *link);
/* One-line state snapshot for status dumps (transfer full). */
char *prl_xmpp_link_describe (PrlXmppLink *link);
/* Goes offline at once (on_state FALSE if it was online), sends </stream:stream> and stops
 * reconnecting. The TCP close completes asynchronously while the main loop runs (at most
 * about 2 s, libstrophe's disconnect timeout). prl_xmpp_link_start() may be called again. */
void prl_xmpp_link_stop (PrlXmppLink *link);
/* Closes the connection at once if needed and frees everything. NULL is allowed. */
void prl_xmpp_link_free (PrlXmppLink *link);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlXmppLink, prl_xmpp_link_free)

G_END_DECLS
