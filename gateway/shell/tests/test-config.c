/* gateway/shell/tests/test-config.c - parley.conf loading, validation and the example file.
 *
 * Includes config.c to reach its schema: the example must document every key with its
 * default, and every bad key must be reported with its line number.
 */
#include "../config.c"

static void
test_example_complete (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PrlConfig) c = prl_config_load (PRL_EXAMPLE_CONF, &error);
  g_assert_no_error (error);
  g_assert_nonnull (c);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_assert_true (g_key_file_load_from_file (kf, PRL_EXAMPLE_CONF, G_KEY_FILE_NONE, NULL));
  for (gsize i = 0; i < G_N_ELEMENTS (schema); i++) {
    g_autofree char *v = g_key_file_get_string (kf, schema[i].group, schema[i].key, NULL);
    g_assert_nonnull (v);
    if (schema[i].def != NULL && strcmp (schema[i].key, "user_agent") != 0)
      g_assert_cmpstr (v, ==, schema[i].def);
  }
  g_assert_cmpstr (c->core.part_marker, ==, "[%u/%u] ");
  g_assert_true (c->core.outbound_udp);
}

static void
test_every_problem_reported (void)
{
  const char *text = "[xmpp]\n"
                     "host = xmpp.example.com\n" /* line 2: not an IP */
                     "component = sip.example.net\n"
                     "secret = s\n"
                     "port = 99999\n"  /* line 5: out of range */
                     "colour = blue\n" /* line 6: unknown key */
                     "[sip]\n"
                     "transports = udp;sctp\n" /* line 8: bad item */
                     "[core]\n"
                     "part_marker = %s %u\n"    /* line 10: bad format */
                     "chunk_over_tcp = maybe\n" /* line 11 */
                     "[mapping]\n"
                     "mode = escaped\n" /* missing sip_domain */
                     "[colours]\n";     /* line 14: unknown group */
  g_autoptr (GError) error = NULL;
  g_autoptr (PrlConfig) c = prl_config_load_data ("t.conf", text, &error);
  g_assert_null (c);
  g_assert_error (error, PRL_CONFIG_ERROR, PRL_CONFIG_ERROR_INVALID);
  const char *want[] = { "t.conf:2: [xmpp] host",
                         "t.conf:5: [xmpp] port",
                         "t.conf:6: [xmpp] colour: unknown key",
                         "t.conf:8: [sip] transports",
                         "t.conf:10: [core] part_marker",
                         "t.conf:11: [core] chunk_over_tcp",
                         "[mapping] sip_domain",
                         "t.conf:14: [colours]: unknown group" };
  for (gsize i = 0; i < G_N_ELEMENTS (want); i++)
    if (strstr (error->message, want[i]) == NULL)
      g_error ("missing '%s' in:\n%s", want[i], error->message);
}

static void
test_required_and_modes (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PrlConfig) none = prl_config_load_data ("e.conf", "[xmpp]\n", &error);
  g_assert_null (none);
  g_assert_nonnull (strstr (error->message, "[xmpp] component: required key is missing"));
  g_assert_nonnull (strstr (error->message, "[xmpp] secret: required key is missing"));
  g_clear_error (&error);

  g_autoptr (PrlConfig) esc = prl_config_load_data (
      "x.conf",
      "[xmpp]\ncomponent=gw.example.com\nsecret=s\n[mapping]\nmode=escaped\n"
      "sip_domain=sipgw.example.net\n[sip]\noutbound_proxy=sip:10.0.0.1;transport=tcp\n",
      &error);
  g_assert_no_error (error);
  g_assert_cmpuint (esc->core.domains->len, ==, 1);
  PrlDomainRule *r = g_ptr_array_index (esc->core.domains, 0);
  g_assert_cmpint (r->mode, ==, PRL_ADDR_ESCAPED);
  g_assert_cmpstr (r->sip_domain, ==, "sipgw.example.net");
  g_assert_false (esc->core.outbound_udp);
}

/* Regression: a reserve below what the SIP stack really adds (or a long User-Agent eating
 * it) let every full part go out over udp_request_limit; now the file is refused. */
static void
test_reserve_covers_stack (void)
{
  const char *base = "[xmpp]\ncomponent=sip.example.net\nsecret=s\n";
  g_autoptr (GError) error = NULL;
  g_autofree char *small = g_strconcat (base, "[core]\nsip_header_reserve = 100\n", NULL);
  g_assert_null (prl_config_load_data ("r.conf", small, &error));
  g_assert_nonnull (strstr (error->message, "r.conf:5: [core] sip_header_reserve: 100 is below"));
  g_clear_error (&error);

  g_autofree char *ua = g_strnfill (300, 'u');
  g_autofree char *long_ua = g_strconcat (base, "[sip]\nuser_agent = ", ua, "\n", NULL);
  g_assert_null (prl_config_load_data ("u.conf", long_ua, &error));
  g_assert_nonnull (strstr (error->message, "[core] sip_header_reserve: 400 is below"));
  g_clear_error (&error);

  g_autoptr (PrlConfig) ok = prl_config_load_data ("o.conf", base, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ok->core.sip_header_reserve, ==, 400);
}

static void
test_unreadable (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_null (prl_config_load ("/nonexistent/parley.conf", &error));
  g_assert_error (error, PRL_CONFIG_ERROR, PRL_CONFIG_ERROR_READ);
  g_clear_error (&error);
  g_assert_null (prl_config_load_data ("b.conf", "this is not a key file\n", &error));
  g_assert_error (error, PRL_CONFIG_ERROR, PRL_CONFIG_ERROR_READ);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/shell/config/example-complete", test_example_complete);
  g_test_add_func ("/shell/config/every-problem-reported", test_every_problem_reported);
  g_test_add_func ("/shell/config/required-and-modes", test_required_and_modes);
  g_test_add_func ("/shell/config/reserve-covers-stack", test_reserve_covers_stack);
  g_test_add_func ("/shell/config/unreadable", test_unreadable);
  return g_test_run ();
}
