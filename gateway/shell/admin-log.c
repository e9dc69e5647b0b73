/* gateway/shell/admin-log.c - run-time log levels per domain (see admin-log.h).
 *
 * DESIGN: the state is a small table guarded by a mutex (GLib may log from its own threads).
 * Levels are ranked error(0) critical(1) warning(2) message(3) info(4) debug(5); a threshold
 * shows every rank up to it, and is never below warning. When our decision is "show" for a
 * debug/info line that GLib's default writer would drop (G_MESSAGES_DEBUG does not name the
 * domain), the line is written with GLib's journald or standard-streams writer directly,
 * which is what g_log_writer_default does once it has decided to keep a line.
 * Every change of a decision input also refreshes the hot paths' gates (gateway/log-gate.h),
 * so that sip/ and xmpp/ skip formatting the debug lines this writer would drop.
 */
#include "gateway/shell/admin-log.h"

#include "gateway/log-gate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static GMutex lock;
static GHashTable *thresholds; /* domain -> GINT_TO_POINTER (rank + 1) */
static char **config_domains;  /* [daemon] debug_domains; NULL: none */
static gboolean env_chose;

static const char *const level_names[]
    = { "error", "critical", "warning", "message", "info", "debug" };

static int
rank (GLogLevelFlags level)
{
  if (level & G_LOG_LEVEL_ERROR)
    return 0;
  if (level & G_LOG_LEVEL_CRITICAL)
    return 1;
  if (level & G_LOG_LEVEL_WARNING)
    return 2;
  if (level & G_LOG_LEVEL_MESSAGE)
    return 3;
  if (level & G_LOG_LEVEL_INFO)
    return 4;
  return 5;
}

static void
ensure_table (void)
{
  if (thresholds == NULL)
    thresholds = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

/* -1: no opinion (GLib decides), 0: drop, 1: show. Called with the lock held. */
static int
decide (const char *domain, GLogLevelFlags level)
{
  int r = rank (level);
  if (r <= 2)
    return -1;
  ensure_table ();
  gpointer t = NULL;
  if (domain == NULL || !g_hash_table_lookup_extended (thresholds, domain, NULL, &t))
    g_hash_table_lookup_extended (thresholds, "all", NULL, &t);
  if (t != NULL)
    return r <= GPOINTER_TO_INT (t) - 1 ? 1 : 0;
  if (r == 3 || env_chose)
    return -1;
  gboolean listed
      = config_domains
        && (g_strv_contains ((const char *const *)config_domains, "all")
            || (domain && g_strv_contains ((const char *const *)config_domains, domain)));
  return listed ? 1 : 0;
}

/* Called with the lock held. */
static gboolean
would_show_locked (const char *domain, GLogLevelFlags level)
{
  int d = decide (domain, level);
  if (d >= 0)
    return d == 1;
  return !g_log_writer_default_would_drop (level, domain);
}

/* Tells the gates what on_log will drop. Called with the lock held after every change. */
static void
refresh_gates (void)
{
  for (PrlLogGate g = 0; g < PRL_LOG_GATE_N; g++) {
    const char *domain = prl_log_gate_domain (g);
    GLogLevelFlags dropped = 0;
    if (!would_show_locked (domain, G_LOG_LEVEL_DEBUG))
      dropped |= G_LOG_LEVEL_DEBUG;
    if (!would_show_locked (domain, G_LOG_LEVEL_INFO))
      dropped |= G_LOG_LEVEL_INFO;
    prl_log_gate_set (g, dropped);
  }
}

gboolean
prl_admin_log_would_show (const char *domain, GLogLevelFlags level)
{
  g_mutex_lock (&lock);
  gboolean shown = would_show_locked (domain, level);
  g_mutex_unlock (&lock);
  return shown;
}

static GLogWriterOutput
on_log (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  const char *domain = NULL;
  for (gsize i = 0; i < n_fields; i++)
    if (strcmp (fields[i].key, "GLIB_DOMAIN") == 0 && fields[i].length < 0)
      domain = fields[i].value;
  g_mutex_lock (&lock);
  int d = decide (domain, level);
  g_mutex_unlock (&lock);
  if (d == 0)
    return G_LOG_WRITER_HANDLED;
  if (d == 1 && g_log_writer_default_would_drop (level, domain)) {
    if (g_log_writer_is_journald (fileno (stderr))
        && g_log_writer_journald (level, fields, n_fields, user_data) == G_LOG_WRITER_HANDLED)
      return G_LOG_WRITER_HANDLED;
    return g_log_writer_standard_streams (level, fields, n_fields, user_data);
  }
  return g_log_writer_default (level, fields, n_fields, user_data);
}

void
prl_admin_log_install (char **domains, gboolean environment_chose)
{
  prl_admin_log_set_config_domains (domains);
  g_mutex_lock (&lock);
  env_chose = environment_chose;
  refresh_gates ();
  g_mutex_unlock (&lock);
  g_log_set_writer_func (on_log, NULL, NULL);
}

void
prl_admin_log_set_config_domains (char **domains)
{
  g_mutex_lock (&lock);
  g_strfreev (config_domains);
  config_domains = g_strdupv (domains);
  refresh_gates ();
  g_mutex_unlock (&lock);
}

static gboolean
valid_domain (const char *d)
{
  if (d == NULL || d[0] == '\0' || strlen (d) > 64)
    return FALSE;
  for (const char *p = d; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_' && *p != '.')
      return FALSE;
  return TRUE;
}

gboolean
prl_admin_log_set_level (const char *domain, const char *level, GError **error)
{
  if (!valid_domain (domain)) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "'%s' is not a log domain (letters, digits, '-', '_', '.')", domain ? domain : "");
    return FALSE;
  }
  int r = -1;
  for (guint i = 2; i < G_N_ELEMENTS (level_names); i++)
    if (g_strcmp0 (level, level_names[i]) == 0)
      r = (int)i;
  if (r < 0 && g_strcmp0 (level, "default") != 0) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "'%s' is not a level: debug, info, message, warning or default",
                 level ? level : "");
    return FALSE;
  }
  g_mutex_lock (&lock);
  ensure_table ();
  if (r < 0)
    g_hash_table_remove (thresholds, domain);
  else
    g_hash_table_insert (thresholds, g_strdup (domain), GINT_TO_POINTER (r + 1));
  refresh_gates ();
  g_mutex_unlock (&lock);
  return TRUE;
}

static int
compare_strings (const void *a, const void *b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

char **
prl_admin_log_levels (void)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_mutex_lock (&lock);
  ensure_table ();
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, thresholds);
  while (g_hash_table_iter_next (&it, &k, &v)) {
    g_autofree char *s = g_strdup_printf ("%s=%s", (char *)k, level_names[GPOINTER_TO_INT (v) - 1]);
    g_strv_builder_add (b, s);
  }
  g_mutex_unlock (&lock);
  char **out = g_strv_builder_end (b);
  qsort (out, g_strv_length (out), sizeof (char *), compare_strings);
  return out;
}

void
prl_admin_log_reset (void)
{
  g_mutex_lock (&lock);
  g_clear_pointer (&thresholds, g_hash_table_unref);
  g_clear_pointer (&config_domains, g_strfreev);
  env_chose = FALSE;
  g_mutex_unlock (&lock);
  prl_log_gate_reset (); /* no writer decision any more: format everything, as without it */
}
