/* sip/tests/test-sdp.c - the SDP of MSRP sessions (sip/sdp.c): what we build reads back,
 * real offers read, bad ones refused, RFC 6135 roles, accept-types matching. */
#include "sip/sdp.h"

#include <string.h>

#define OFFER                                                                                      \
  "v=0\r\no=alice 2890844526 2890844527 IN IP4 alice.example.net\r\ns=-\r\n"                      \
  "c=IN IP4 alice.example.net\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n"                             \
  "m=message 7394 TCP/MSRP *\r\na=accept-types:message/cpim text/plain\r\n"                        \
  "a=accept-wrapped-types:application/im-iscomposing+xml\r\n"                                      \
  "a=path:msrp://relay.example.net:2855/r1;tcp msrp://alice.example.net:7394/2s93i9ek2a;tcp\r\n"   \
  "a=setup:actpass\r\na=max-size:65536\r\n"

static void
test_read_offer (void)
{
  g_auto (PrlSdpMsrp) d = { 0 };
  g_autofree char *problem = NULL;
  g_assert_true (prl_sdp_msrp_parse (OFFER, strlen (OFFER), &d, &problem));
  g_assert_cmpuint (d.port, ==, 7394);
  g_assert_cmpstr (d.host, ==, "alice.example.net");
  g_assert_cmpstr (d.path, ==,
                   "msrp://relay.example.net:2855/r1;tcp msrp://alice.example.net:7394/2s93i9ek2a;tcp");
  g_assert_cmpstr (d.accept_types[0], ==, "message/cpim");
  g_assert_cmpstr (d.accept_types[1], ==, "text/plain");
  g_assert_null (d.accept_types[2]);
  g_assert_cmpstr (d.accept_wrapped_types[0], ==, "application/im-iscomposing+xml");
  g_assert_cmpstr (d.setup, ==, "actpass");
  g_assert_cmpuint (d.max_size, ==, 65536);
}

static void
test_round_trip (void)
{
  char *types[] = { "message/cpim", "text/plain", NULL };
  PrlSdpMsrp b = { .host = "127.0.0.1", .port = 2855, .path = "msrp://127.0.0.1:2855/abc;tcp",
                   .accept_types = types, .setup = "passive", .max_size = 131072 };
  g_autofree char *sdp = prl_sdp_msrp_build (&b, 42);
  g_assert_nonnull (strstr (sdp, "m=message 2855 TCP/MSRP *\r\n"));
  g_assert_nonnull (strstr (sdp, "o=- 42 42 IN IP4 127.0.0.1\r\n"));
  g_auto (PrlSdpMsrp) d = { 0 };
  g_assert_true (prl_sdp_msrp_parse (sdp, strlen (sdp), &d, NULL));
  g_assert_cmpstr (d.path, ==, b.path);
  g_assert_cmpstr (d.setup, ==, "passive");
  g_assert_cmpuint (d.max_size, ==, 131072);
  g_assert_true (prl_sdp_msrp_accepts (d.accept_types, "text/plain;charset=UTF-8"));
}

static void
test_refuse (void)
{
  const char *bad[] = {
    "",
    "garbage",
    "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\nm=audio 5 RTP/AVP 0\r\n",
    "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\nm=message 5 TCP/MSRP *\r\n"
    "a=accept-types:text/plain\r\n", /* no path */
    "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\nm=message 5 TCP/MSRP *\r\n"
    "a=path:msrp://h:5/x;tcp\r\n", /* no accept-types */
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_auto (PrlSdpMsrp) d = { 0 };
    g_autofree char *problem = NULL;
    g_assert_false (prl_sdp_msrp_parse (bad[i], strlen (bad[i]), &d, &problem));
    g_assert_nonnull (problem);
  }
  /* a rejected m-line (port 0) parses, with port 0 */
  const char *rejected = "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\n"
                         "m=message 0 TCP/MSRP *\r\n";
  g_auto (PrlSdpMsrp) r = { 0 };
  g_assert_true (prl_sdp_msrp_parse (rejected, strlen (rejected), &r, NULL));
  g_assert_cmpuint (r.port, ==, 0);
}

static void
test_roles (void)
{
  g_assert_cmpstr (prl_sdp_msrp_answer_setup ("actpass"), ==, "passive");
  g_assert_cmpstr (prl_sdp_msrp_answer_setup (NULL), ==, "passive");
  g_assert_cmpstr (prl_sdp_msrp_answer_setup ("active"), ==, "passive");
  g_assert_cmpstr (prl_sdp_msrp_answer_setup ("passive"), ==, "active");
  g_assert_true (prl_sdp_msrp_offerer_active ("actpass", "passive"));
  g_assert_false (prl_sdp_msrp_offerer_active ("actpass", "active"));
  g_assert_true (prl_sdp_msrp_offerer_active ("actpass", NULL));
}

static void
test_accepts (void)
{
  char *list[] = { "text/*", "message/cpim", NULL };
  g_assert_true (prl_sdp_msrp_accepts (list, "text/plain"));
  g_assert_true (prl_sdp_msrp_accepts (list, "Message/CPIM"));
  g_assert_false (prl_sdp_msrp_accepts (list, "application/im-iscomposing+xml"));
  g_assert_false (prl_sdp_msrp_accepts (list, "textual/plain"));
  char *any[] = { "*", NULL };
  g_assert_true (prl_sdp_msrp_accepts (any, "image/png"));
  g_assert_false (prl_sdp_msrp_accepts (NULL, "text/plain"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sdp/read-offer", test_read_offer);
  g_test_add_func ("/sdp/round-trip", test_round_trip);
  g_test_add_func ("/sdp/refuse", test_refuse);
  g_test_add_func ("/sdp/roles", test_roles);
  g_test_add_func ("/sdp/accepts", test_accepts);
  return g_test_run ();
}
