/* gateway/shell/admin.h - the operator admin socket (DESIGN.md §9), front door.
 *
 * A UNIX stream socket speaking JSON-RPC 2.0, one JSON object per line (docs/admin.md lists
 * the methods; tools/parleyctl.c is its CLI). PrlAdmin is owned by the PrlDaemon and runs on
 * the default GMainContext: every client is non-blocking, with a bounded input line, a bounded
 * output queue and an idle timeout, so a slow or hostile client can never stall the gateway.
 * Peers are checked with SO_PEERCRED: root and parleyd's own uid, plus members of the
 * configured group when the socket mode is 0660.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _PrlDaemon PrlDaemon;

/* [admin] of parley.conf (config.c fills it in). */
typedef struct {
  char *socket_path;       /* NULL: no admin socket */
  gboolean group_access;   /* mode 0660 (else 0600) */
  char *group;             /* group owning the socket with mode 0660; NULL: our own */
  guint gid;               /* @group resolved by the config loader; (guint)-1 if none */
  guint max_clients;       /* clients at once */
  guint max_request_bytes; /* longest request line */
  guint max_output_bytes;  /* answers queued for a client that does not read */
  guint idle_timeout_s;    /* silent clients are closed */
} PrlAdminConfig;

/* Frees the strings (defined in config.c, which fills the struct in). */
void prl_admin_config_clear (PrlAdminConfig *config);

typedef struct _PrlAdmin PrlAdmin;

/* Creates the socket at config->socket_path (replacing a stale socket file, never a live one
 * or another kind of file) with the configured mode and group, and starts serving @daemon
 * (borrowed; it must outlive the PrlAdmin). (transfer full), or NULL with @error (G_IO_ERROR)
 * when the socket cannot be created. @config is copied. */
PrlAdmin *prl_admin_new (PrlDaemon *daemon, const PrlAdminConfig *config, GError **error);
/* config.reload: new client limits, applied to connected clients too. Path, mode and group
 * are kept (they need a restart). */
void prl_admin_set_limits (PrlAdmin *admin, const PrlAdminConfig *config);
/* Clients connected now. */
guint prl_admin_n_clients (PrlAdmin *admin);
/* Closes every client, stops listening and removes the socket file. NULL is allowed. */
void prl_admin_free (PrlAdmin *admin);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlAdmin, prl_admin_free)

G_END_DECLS
