/* gateway/shell/metrics.c - Prometheus text exposition format (see metrics.h).
 *
 * DESIGN: families are kept in insertion order (a GPtrArray) with a name index, so output is
 * stable for a given sequence of calls, which the unit tests and promtool both like. Values
 * are printed with %.17g (integers stay integers); non-finite values use the format's
 * spellings (+Inf, -Inf, NaN).
 */
#include "gateway/shell/metrics.h"

#include <math.h>
#include <string.h>

typedef struct {
  char *name;
  char *help;
  PrlMetricType type;
  GString *samples;
} Family;

struct _PrlMetrics {
  GPtrArray *families; /* Family*, owned */
  GHashTable *index;   /* name (borrowed from Family) -> Family* */
};

static void
family_free (gpointer data)
{
  Family *f = data;
  g_free (f->name);
  g_free (f->help);
  g_string_free (f->samples, TRUE);
  g_free (f);
}

PrlMetrics *
prl_metrics_new (void)
{
  PrlMetrics *m = g_new0 (PrlMetrics, 1);
  m->families = g_ptr_array_new_with_free_func (family_free);
  m->index = g_hash_table_new (g_str_hash, g_str_equal);
  return m;
}

void
prl_metrics_free (PrlMetrics *m)
{
  if (m == NULL)
    return;
  g_clear_pointer (&m->index, g_hash_table_unref);
  g_clear_pointer (&m->families, g_ptr_array_unref);
  g_free (m);
}

char *
prl_metrics_sanitize_name (const char *name)
{
  GString *s = g_string_new (NULL);
  for (const char *p = name; *p; p++) {
    gboolean ok
        = g_ascii_isalpha (*p) || *p == '_' || *p == ':' || (g_ascii_isdigit (*p) && p != name);
    g_string_append_c (s, ok ? *p : '_');
  }
  if (s->len == 0)
    g_string_append_c (s, '_');
  return g_string_free (s, FALSE);
}

/* Label names allow no ':' */
static char *
sanitize_label_name (const char *name)
{
  char *s = prl_metrics_sanitize_name (name);
  for (char *p = s; *p; p++)
    if (*p == ':')
      *p = '_';
  return s;
}

char *
prl_metrics_escape_label (const char *value)
{
  GString *s = g_string_new (NULL);
  for (const char *p = value; *p; p++) {
    if (*p == '\\')
      g_string_append (s, "\\\\");
    else if (*p == '"')
      g_string_append (s, "\\\"");
    else if (*p == '\n')
      g_string_append (s, "\\n");
    else
      g_string_append_c (s, *p);
  }
  return g_string_free (s, FALSE);
}

char *
prl_metrics_escape_help (const char *help)
{
  GString *s = g_string_new (NULL);
  for (const char *p = help; *p; p++) {
    if (*p == '\\')
      g_string_append (s, "\\\\");
    else if (*p == '\n')
      g_string_append (s, "\\n");
    else
      g_string_append_c (s, *p);
  }
  return g_string_free (s, FALSE);
}

static void
append_value (GString *s, double v)
{
  if (isnan (v))
    g_string_append (s, "NaN");
  else if (isinf (v))
    g_string_append (s, v > 0 ? "+Inf" : "-Inf");
  else {
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    g_string_append (s, g_ascii_formatd (buf, sizeof buf, "%.17g", v));
  }
}

void
prl_metrics_add (PrlMetrics *m, PrlMetricType type, const char *name, const char *help,
                 const char *const *labels, double value)
{
  g_return_if_fail (m != NULL && name != NULL);
  g_autofree char *clean = prl_metrics_sanitize_name (name);
  Family *f = g_hash_table_lookup (m->index, clean);
  if (f == NULL) {
    f = g_new0 (Family, 1);
    f->name = g_steal_pointer (&clean);
    f->help = prl_metrics_escape_help (help ? help : f->name);
    f->type = type;
    f->samples = g_string_new (NULL);
    g_ptr_array_add (m->families, f);
    g_hash_table_insert (m->index, f->name, f);
  }
  g_string_append (f->samples, f->name);
  if (labels && labels[0]) {
    g_string_append_c (f->samples, '{');
    for (guint i = 0; labels[i] && labels[i + 1]; i += 2) {
      g_autofree char *ln = sanitize_label_name (labels[i]);
      g_autofree char *lv = prl_metrics_escape_label (labels[i + 1]);
      g_string_append_printf (f->samples, "%s%s=\"%s\"", i ? "," : "", ln, lv);
    }
    g_string_append_c (f->samples, '}');
  }
  g_string_append_c (f->samples, ' ');
  append_value (f->samples, value);
  g_string_append_c (f->samples, '\n');
}

char *
prl_metrics_to_text (PrlMetrics *m)
{
  g_return_val_if_fail (m != NULL, NULL);
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < m->families->len; i++) {
    Family *f = g_ptr_array_index (m->families, i);
    g_string_append_printf (s, "# HELP %s %s\n# TYPE %s %s\n%s", f->name, f->help, f->name,
                            f->type == PRL_METRIC_COUNTER ? "counter" : "gauge", f->samples->str);
  }
  return g_string_free (s, FALSE);
}
