/* gateway/shell/tests/test-metrics.c - Prometheus text exposition: grouping, escaping, names.
 */
#include "../metrics.c"

static void
test_families (void)
{
  g_autoptr (PrlMetrics) m = prl_metrics_new ();
  const char *a[] = { "kind", "received", NULL };
  const char *b[] = { "kind", "sent", NULL };
  prl_metrics_add (m, PRL_METRIC_GAUGE, "parley_sip_pending", "Open SIP transactions", a, 2);
  prl_metrics_add (m, PRL_METRIC_COUNTER, "parley_sip_in_relayed_total", "Relayed", NULL, 41);
  prl_metrics_add (m, PRL_METRIC_GAUGE, "parley_sip_pending", "ignored", b, 0.5);
  g_autofree char *text = prl_metrics_to_text (m);
  g_assert_cmpstr (text, ==,
                   "# HELP parley_sip_pending Open SIP transactions\n"
                   "# TYPE parley_sip_pending gauge\n"
                   "parley_sip_pending{kind=\"received\"} 2\n"
                   "parley_sip_pending{kind=\"sent\"} 0.5\n"
                   "# HELP parley_sip_in_relayed_total Relayed\n"
                   "# TYPE parley_sip_in_relayed_total counter\n"
                   "parley_sip_in_relayed_total 41\n");
}

static void
test_escaping (void)
{
  g_autofree char *l = prl_metrics_escape_label ("a\\b\"c\nd");
  g_assert_cmpstr (l, ==, "a\\\\b\\\"c\\nd");
  g_autofree char *h = prl_metrics_escape_help ("x\\y \"z\"\n");
  g_assert_cmpstr (h, ==, "x\\\\y \"z\"\\n");
  g_autofree char *n1 = prl_metrics_sanitize_name ("parley_sip-in.x_total");
  g_assert_cmpstr (n1, ==, "parley_sip_in_x_total");
  g_autofree char *n2 = prl_metrics_sanitize_name ("9lives");
  g_assert_cmpstr (n2, ==, "_lives");
  g_autoptr (PrlMetrics) m = prl_metrics_new ();
  const char *lab[] = { "user", "al\"ice", NULL };
  prl_metrics_add (m, PRL_METRIC_GAUGE, "g", NULL, lab, 1.0 / 0.0);
  prl_metrics_add (m, PRL_METRIC_GAUGE, "g", NULL, NULL, 0.0 / 0.0);
  g_autofree char *text = prl_metrics_to_text (m);
  g_assert_nonnull (strstr (text, "g{user=\"al\\\"ice\"} +Inf\n"));
  g_assert_nonnull (strstr (text, "\ng NaN\n"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/shell/metrics/families", test_families);
  g_test_add_func ("/shell/metrics/escaping", test_escaping);
  return g_test_run ();
}
