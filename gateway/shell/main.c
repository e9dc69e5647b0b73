/* gateway/shell/main.c - parleyd: options, logging, signals, the one main loop.
 *
 * `parleyd --config FILE` runs until SIGTERM or SIGINT, then stops gracefully (XMPP stream
 * closed, SIP stack shut down) and exits 0. `--check-config` loads and validates the file,
 * prints every problem as FILE:LINE and exits 1 if there was any. SIGUSR1 logs the counters.
 * A second SIGTERM/SIGINT during shutdown exits at once.
 */
#include <stdio.h>
#include <stdlib.h>

#include <glib-unix.h>
#include <glib.h>

#include "gateway/shell/admin-log.h"
#include "gateway/shell/config.h"
#include "gateway/shell/daemon.h"
#include "parley-version.h"

typedef struct {
  GMainLoop *loop;
  PrlDaemon *daemon;
  gboolean stopping;
} App;

static void
on_stopped (gpointer user_data)
{
  App *app = user_data;
  g_main_loop_quit (app->loop);
}

static gboolean
on_terminate (gpointer user_data)
{
  App *app = user_data;
  if (app->stopping) {
    g_message ("second signal: exiting without waiting");
    g_main_loop_quit (app->loop);
    return G_SOURCE_CONTINUE;
  }
  app->stopping = TRUE;
  g_message ("shutting down");
  prl_daemon_stop (app->daemon, on_stopped, app);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_usr1 (gpointer user_data)
{
  App *app = user_data;
  prl_daemon_dump_stats (app->daemon);
  return G_SOURCE_CONTINUE;
}

/* [daemon] debug_domains turns on g_debug/g_info for those log domains, unless the
 * environment already chose (G_MESSAGES_DEBUG wins, as everywhere in GLib). */
static void
apply_debug_domains (char **domains)
{
  if (domains == NULL || g_getenv ("G_MESSAGES_DEBUG") != NULL)
    return;
  g_autofree char *joined = g_strjoinv (" ", domains);
  g_setenv ("G_MESSAGES_DEBUG", joined, TRUE);
}

/* Read by jemalloc when parleyd is linked with it (meson -Dallocator), ignored otherwise:
 * give freed pages back with MADV_DONTNEED at once rather than MADV_FREE, which leaves them
 * counted in RSS until the kernel wants them (trim_heap in daemon.c purges regularly). */
extern const char *malloc_conf;
const char *malloc_conf = "muzzy_decay_ms:0";

int
main (int argc, char **argv)
{
  g_autofree char *config_path = NULL;
  gboolean check_only = FALSE, version = FALSE;
  GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path, "Configuration file", "FILE" },
    { "check-config", 0, 0, G_OPTION_ARG_NONE, &check_only,
      "Validate the configuration, report every problem and exit", NULL },
    { "version", 'V', 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- SIP <-> XMPP messaging gateway");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_summary (ctx, "Relays instant messages between an XMPP server (as an "
                                     "XEP-0114 component) and a SIP domain.");
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    fprintf (stderr, "parleyd: %s\n", error->message);
    return 2;
  }
  if (version) {
    printf ("parleyd %s\n", PRL_VERSION);
    return 0;
  }
  if (config_path == NULL)
    config_path = g_strdup (SYSCONFDIR "/parley/parley.conf");

  g_autoptr (PrlConfig) config = prl_config_load (config_path, &error);
  if (config == NULL) {
    fprintf (stderr, "%s\n", error->message);
    return 1;
  }
  if (check_only) {
    printf ("%s: OK\n", config_path);
    return 0;
  }
  /* log.level on the admin socket can change domains' levels later (admin-log.h) */
  prl_admin_log_install (config->debug_domains, g_getenv ("G_MESSAGES_DEBUG") != NULL);
  apply_debug_domains (config->debug_domains);

  App app = { 0 };
  app.loop = g_main_loop_new (NULL, FALSE);
  app.daemon = prl_daemon_new (g_steal_pointer (&config), &error);
  if (app.daemon == NULL) {
    g_printerr ("parleyd: %s\n", error->message);
    g_main_loop_unref (app.loop);
    return 1;
  }
  guint s1 = g_unix_signal_add (SIGTERM, on_terminate, &app);
  guint s2 = g_unix_signal_add (SIGINT, on_terminate, &app);
  guint s3 = g_unix_signal_add (SIGUSR1, on_usr1, &app);
  g_message ("parleyd %s started", PRL_VERSION);
  g_main_loop_run (app.loop);
  g_source_remove (s1);
  g_source_remove (s2);
  g_source_remove (s3);
  prl_daemon_dump_stats (app.daemon);
  prl_daemon_free (app.daemon);
  g_main_loop_unref (app.loop);
  g_message ("stopped");
  return 0;
}
