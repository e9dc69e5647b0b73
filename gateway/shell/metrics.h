/* gateway/shell/metrics.h - Prometheus text exposition format (version 0.0.4), pure.
 *
 * The admin socket's `metrics` method collects samples here and prints them: one family per
 * name, each with its # HELP and # TYPE lines, samples of a family together, label values and
 * help text escaped as the format requires. Names are made valid ([a-zA-Z_:][a-zA-Z0-9_:]*)
 * by replacing anything else with '_'. No I/O and no clock: the caller passes every value.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum { PRL_METRIC_COUNTER, PRL_METRIC_GAUGE } PrlMetricType;

typedef struct _PrlMetrics PrlMetrics;

PrlMetrics *prl_metrics_new (void);
void prl_metrics_free (PrlMetrics *metrics);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlMetrics, prl_metrics_free)

/* Adds one sample to the family @name (created on first use with @type and @help; later
 * samples keep the first type and help). @labels: NULL or a NULL-terminated list of
 * name, value pairs (borrowed). */
void prl_metrics_add (PrlMetrics *metrics, PrlMetricType type, const char *name, const char *help,
                      const char *const *labels, double value);
/* The exposition text (transfer full), families in the order first added. */
char *prl_metrics_to_text (PrlMetrics *metrics);

/* Helpers, public for the unit tests. (transfer full) */
char *prl_metrics_sanitize_name (const char *name);
char *prl_metrics_escape_label (const char *value);
char *prl_metrics_escape_help (const char *help);

G_END_DECLS
