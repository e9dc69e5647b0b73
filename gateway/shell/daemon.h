/* gateway/shell/daemon.h - parleyd's wiring: adapters in, core, actions out.
 *
 * PrlDaemon owns the core, the XMPP component link and the SIP agent, all on the default
 * GMainContext. Its dispatcher is the only place where the pure core meets I/O: an adapter
 * callback becomes a PrlEvent, the core returns actions, and the daemon executes them after
 * the core has returned (STYLE.md §3.8).
 */
#pragma once

#include "gateway/shell/config.h"

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

G_END_DECLS
