/* sip/tests/test-msrp-uri.c - unit tests of sip/msrp-uri.c (RFC 4975 §6, §6.1). */
#include "sip/msrp-uri.h"

static void
test_parse (void)
{
  g_autoptr (PrlMsrpUri) u = prl_msrp_uri_parse ("MSRP://user@Gw.Example.NET:2855/q8Zr4kTw2p;TCP;x=y", NULL);
  g_assert_nonnull (u);
  g_assert_cmpstr (u->scheme, ==, "msrp");
  g_assert_cmpstr (u->host, ==, "gw.example.net");
  g_assert_cmpuint (u->port, ==, 2855);
  g_assert_cmpstr (u->session_id, ==, "q8Zr4kTw2p");
  g_assert_cmpstr (u->transport, ==, "tcp");
  g_autoptr (PrlMsrpUri) v = prl_msrp_uri_parse ("msrps://[::1]:9/a/b+c=;tcp", NULL);
  g_assert_nonnull (v);
  g_assert_cmpstr (v->host, ==, "::1");
  g_assert_cmpstr (v->session_id, ==, "a/b+c=");
  g_autoptr (PrlMsrpUri) relay = prl_msrp_uri_parse ("msrp://127.0.0.1:17065;tcp", NULL);
  g_assert_nonnull (relay);
  g_assert_null (relay->session_id);
  const char *bad[] = { "sip:a@b", "msrp://host/x", "msrp://:1/x;tcp", "msrp://h:0/x;tcp",
                        "msrp://h:99999/x;tcp", "msrp://h:1/;tcp", "msrp://h:1/x;", "msrp://h h:1/x;tcp",
                        "msrp://h:1/x?;tcp", "" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) error = NULL;
    g_assert_null (prl_msrp_uri_parse (bad[i], &error));
    g_assert_nonnull (error);
  }
}

static void
test_compare (void)
{
  g_assert_true (prl_msrp_uri_text_equal ("msrp://a.example:1/Ab;tcp", "MSRP://A.EXAMPLE:1/Ab;TCP"));
  g_assert_true (prl_msrp_uri_text_equal ("msrp://u@a.example:1/Ab;tcp", "msrp://a.example:1/Ab;tcp"));
  g_assert_false (prl_msrp_uri_text_equal ("msrp://a.example:1/Ab;tcp", "msrp://a.example:1/ab;tcp"));
  g_assert_false (prl_msrp_uri_text_equal ("msrp://a.example:1/Ab;tcp", "msrp://a.example/Ab;tcp"));
  g_assert_false (prl_msrp_uri_text_equal ("msrp://a.example:1/Ab;tcp", "msrps://a.example:1/Ab;tcp"));
  g_assert_false (prl_msrp_uri_text_equal ("msrp://a.example:1;tcp", "msrp://a.example:1/Ab;tcp"));
}

static void
test_paths (void)
{
  g_auto (GStrv) p = prl_msrp_path_split ("msrp://r:1/x;tcp  msrp://b:2/y;tcp", NULL);
  g_assert_cmpuint (g_strv_length (p), ==, 2);
  g_autofree char *last = prl_msrp_path_last ("msrp://r:1/x;tcp msrp://b:2/y;tcp ");
  g_assert_cmpstr (last, ==, "msrp://b:2/y;tcp");
  g_autofree char *first = prl_msrp_path_first (" msrp://r:1/x;tcp msrp://b:2/y;tcp");
  g_assert_cmpstr (first, ==, "msrp://r:1/x;tcp");
  g_autoptr (GError) error = NULL;
  g_assert_null (prl_msrp_path_split (" ", &error));
  g_assert_nonnull (error);
  g_assert_null (prl_msrp_path_split ("msrp://r:1/x;tcp bogus", NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sip/msrp/uri/parse", test_parse);
  g_test_add_func ("/sip/msrp/uri/compare", test_compare);
  g_test_add_func ("/sip/msrp/uri/paths", test_paths);
  return g_test_run ();
}
