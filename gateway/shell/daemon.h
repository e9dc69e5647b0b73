/* gateway/shell/daemon.h - parleyd's wiring: adapters in, core, actions out.
 *
 * PrlDaemon owns the core, the XMPP component link and the SIP agent, all on the default
 * GMainContext. Its dispatcher is the only place where the pure core meets I/O: an adapter
 * callback becomes a PrlEvent, the core returns actions, and the daemon executes them after
 * the core has returned (STYLE.md §3.8).
 */
#pragma once

#include "gateway/shell/config.h"
#include "store/store.h"

G_BEGIN_DECLS

typedef struct _PrlDaemon PrlDaemon;

/* Takes ownership of @config. Binds the SIP transports and starts the XMPP link; FALSE with
 * @error when a transport cannot be bound. */
PrlDaemon *prl_daemon_new (PrlConfig *config, GError **error);
/* Graceful stop: closes the XMPP stream, shuts SIP down, then calls @done(@user_data). */
typedef void (*PrlDaemonDoneFunc) (gpointer user_data);
void prl_daemon_stop (PrlDaemon *daemon, PrlDaemonDoneFunc done, gpointer user_data);
void prl_daemon_free (PrlDaemon *daemon);
/* Logs every counter and the adapters' statistics (SIGUSR1). */
void prl_daemon_dump_stats (PrlDaemon *daemon);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlDaemon, prl_daemon_free)

/* Introspection and control for the admin socket (gateway/shell/admin*.c). All on the main
 * loop; pointers handed out are borrowed and valid until the next reload or the free. */
typedef struct {
  gint64 started_us; /* wall clock at prl_daemon_new */
  gint64 uptime_us;  /* monotonic */
  const char *config_path;
  gboolean xmpp_online;
  const char *xmpp_host, *xmpp_component;
  guint xmpp_port;
  const char *sip_bind;
  guint sip_port;
  gboolean sip_udp, sip_tcp;
  gboolean has_store, store_up; /* the offline store: configured, and reachable */
  guint core_pending, core_queued;
  const PrlXmppLinkStats *xmpp_stats;
  const PrlSipAgentStats *sip_stats;
} PrlDaemonStatus;

void prl_daemon_status (PrlDaemon *daemon, PrlDaemonStatus *out);
/* One-line XMPP link state (transfer full). */
char *prl_daemon_xmpp_describe (PrlDaemon *daemon);
/* The core's counters (transfer none): const char* (static) -> guint64*. */
GHashTable *prl_daemon_counters (PrlDaemon *daemon);
/* Chat sessions (transfer full): PrlChatInfo* (gateway/chat.h), by id; empty when chat is off. */
GPtrArray *prl_daemon_chats (PrlDaemon *daemon);
/* Whether chat sessions are enabled ([chat] enabled). */
gboolean prl_daemon_chat_enabled (PrlDaemon *daemon);
/* Ends chat session @id (BYE, <gone/>); FALSE if there is none. */
gboolean prl_daemon_chat_end (PrlDaemon *daemon, guint64 id);
/* The offline store (transfer none), or NULL when none is configured. */
PrlStore *prl_daemon_store (PrlDaemon *daemon);
/* Starts delivering @user's parked messages now. FALSE with @error (PRL_STORE_ERROR_
 * UNAVAILABLE, "offline store not configured") while there is no store. */
gboolean prl_daemon_flush_user (PrlDaemon *daemon, const char *user, GError **error);

typedef struct {
  char **applied;          /* "group.key" changed and now in force */
  char **restart_required; /* "group.key" changed in the file but only read at start */
} PrlDaemonReload;
void prl_daemon_reload_clear (PrlDaemonReload *reload);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (PrlDaemonReload, prl_daemon_reload_clear)
/* config.reload: re-reads the file the daemon was started with. Live keys ([core], [xmpp]
 * domains, [sip] domains, [daemon] debug_domains, [admin] limits) take effect at once; the
 * others are listed in @out->restart_required and keep their running values. A bad file
 * changes nothing: FALSE with @error (PRL_CONFIG_ERROR, the --check-config problem list). */
gboolean prl_daemon_reload (PrlDaemon *daemon, PrlDaemonReload *out, GError **error);

G_END_DECLS
