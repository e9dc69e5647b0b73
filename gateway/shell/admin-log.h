/* gateway/shell/admin-log.h - run-time log levels per domain (admin `log.level`).
 *
 * GLib 2.74 decides what debug/info lines to show from G_MESSAGES_DEBUG alone. parleyd
 * installs its own writer (prl_admin_log_install, from main.c) which lets three layers
 * decide, first match wins: a level set at run time for the domain (log.level DOMAIN LEVEL),
 * one set for "all", then [daemon] debug_domains -- unless G_MESSAGES_DEBUG was set in the
 * environment, which keeps GLib's own behaviour as before. Lines that pass go to
 * g_log_writer_default (journald or stderr). Warnings and worse are never hidden. Each change
 * also updates the hot paths' gates (gateway/log-gate.h) to match.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Installs the writer (once, before any thread). @config_domains ([daemon] debug_domains,
 * borrowed) apply unless @env_chose (G_MESSAGES_DEBUG was set when parleyd started). */
void prl_admin_log_install (char **config_domains, gboolean env_chose);
/* config.reload: new [daemon] debug_domains (borrowed); ignored when the environment chose. */
void prl_admin_log_set_config_domains (char **domains);
/* Sets @domain's threshold: "debug", "info", "message", "warning", or "default" to forget
 * the run-time choice. @domain "all" applies to every domain without its own. FALSE with
 * @error (G_OPTION_ERROR_BAD_VALUE) on an unknown level or a malformed domain. */
gboolean prl_admin_log_set_level (const char *domain, const char *level, GError **error);
/* The run-time choices as "domain=level", sorted (transfer full). */
char **prl_admin_log_levels (void);
/* Whether a line of @level from @domain is shown (the writer's decision; for tests). */
gboolean prl_admin_log_would_show (const char *domain, GLogLevelFlags level);
/* Forgets every run-time choice and the config domains (tests). */
void prl_admin_log_reset (void);

G_END_DECLS
