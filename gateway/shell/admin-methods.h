/* gateway/shell/admin-methods.h - the admin socket's methods (docs/admin.md), internal.
 *
 * The table is handed to prl_admin_rpc_dispatch() by admin.c with the PrlAdmin as context.
 * Every method reads the daemon through its introspection API (daemon.h) and never touches
 * a socket: it answers its PrlAdminCall, at once or when the offline store replies.
 */
#pragma once

#include "gateway/shell/admin-rpc.h"
#include "gateway/shell/admin.h"

G_BEGIN_DECLS

extern const PrlAdminMethod prl_admin_methods[];

/* (transfer none) the daemon an admin serves. */
PrlDaemon *prl_admin_get_daemon (PrlAdmin *admin);

/* The Prometheus exposition of @daemon's state (transfer full); @admin may be NULL. */
char *prl_admin_metrics_text (PrlDaemon *daemon, PrlAdmin *admin);

/* Splits a core counter name ("sip_in_rejected_413") into direction ("sip_to_xmpp"),
 * outcome ("rejected") and kind ("413", or "" when none). FALSE for names of another shape. */
gboolean prl_admin_split_counter (const char *name, const char **direction, char **outcome,
                                  char **kind);

G_END_DECLS
