/* sip/tests/test-msrp-types.c - unit tests of sip/msrp-types.c: accept-types matching and
 * the type wrapped in a CPIM body, whole or cut anywhere (a first chunk). */
#include <string.h>

#include "sip/msrp-types.h"

static void
test_accepted (void)
{
  char *accept[] = { "message/cpim", "text/plain", "application/*", NULL };
  g_assert_true (prl_msrp_type_accepted (NULL, "image/png"));
  g_assert_true (prl_msrp_type_accepted (accept, "text/plain"));
  g_assert_true (prl_msrp_type_accepted (accept, "Text/Plain ; charset=UTF-8"));
  g_assert_true (prl_msrp_type_accepted (accept, "application/im-iscomposing+xml"));
  g_assert_false (prl_msrp_type_accepted (accept, "image/png"));
  g_assert_false (prl_msrp_type_accepted (accept, "text/html"));
  g_assert_false (prl_msrp_type_accepted (accept, "applicationx/y"));
  g_assert_false (prl_msrp_type_accepted (accept, NULL));
  char *any[] = { "*", NULL };
  g_assert_true (prl_msrp_type_accepted (any, "image/png"));
  g_assert_true (prl_msrp_type_is_cpim ("Message/CPIM"));
  g_assert_true (prl_msrp_type_is_cpim ("message/cpim;x=y"));
  g_assert_false (prl_msrp_type_is_cpim ("message/cpimx"));
  g_assert_false (prl_msrp_type_is_cpim (NULL));
}

#define CPIM_PNG                                                                                   \
  "From: <sip:alice@example.com>\r\nTo: <sip:bob@example.net>\r\n"                                 \
  "DateTime: 2026-11-22T05:00:00Z\r\n\r\n"                                                         \
  "Content-ID: <x@y>\r\ncontent-type :no\r\nCONTENT-TYPE:  image/png \r\n\r\n"                     \
  "\x89PNG\r\n\x1a\n"

static PrlMsrpCpimType
inner (const char *data, gsize len, char **type)
{
  return prl_msrp_cpim_inner_type ((const guint8 *)data, len, type);
}

static void
test_cpim_inner (void)
{
  g_autofree char *t = NULL;
  gsize len = strlen (CPIM_PNG);
  g_assert_cmpint (inner (CPIM_PNG, len, &t), ==, PRL_MSRP_CPIM_FOUND);
  g_assert_cmpstr (t, ==, "image/png");
  /* cut anywhere: PARTIAL until the Content-Type line has its end, then FOUND */
  const char *ct_line = strstr (CPIM_PNG, "CONTENT-TYPE");
  gsize found_at = (gsize)(strchr (ct_line, '\n') - CPIM_PNG) + 1;
  for (gsize cut = 0; cut <= len; cut++) {
    g_autofree char *u = NULL;
    PrlMsrpCpimType r = inner (CPIM_PNG, cut, &u);
    if (cut < found_at) {
      g_assert_cmpint (r, ==, PRL_MSRP_CPIM_PARTIAL);
      g_assert_null (u);
    } else {
      g_assert_cmpint (r, ==, PRL_MSRP_CPIM_FOUND);
      g_assert_cmpstr (u, ==, "image/png");
    }
  }
  /* LF-only lines; a Content-Type among the CPIM headers is not the entity's */
  const char *lf = "From: <sip:a@b>\nContent-Type: image/gif\n\nContent-Type: text/plain\n\nhi";
  g_clear_pointer (&t, g_free);
  g_assert_cmpint (inner (lf, strlen (lf), &t), ==, PRL_MSRP_CPIM_FOUND);
  g_assert_cmpstr (t, ==, "text/plain");
  /* no Content-Type in the entity's headers, or an empty one */
  const char *none = "From: <sip:a@b>\r\n\r\nContent-ID: <1>\r\n\r\nbody";
  g_clear_pointer (&t, g_free);
  g_assert_cmpint (inner (none, strlen (none), &t), ==, PRL_MSRP_CPIM_NONE);
  g_assert_null (t);
  const char *empty = "From: <sip:a@b>\r\n\r\nContent-Type: \r\n\r\nbody";
  g_assert_cmpint (inner (empty, strlen (empty), &t), ==, PRL_MSRP_CPIM_NONE);
  /* not CPIM at all: no blank line */
  g_assert_cmpint (inner ("hello", 5, &t), ==, PRL_MSRP_CPIM_PARTIAL);
  g_assert_cmpint (inner ("", 0, &t), ==, PRL_MSRP_CPIM_PARTIAL);
  g_assert_null (t);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sip/msrp/types/accepted", test_accepted);
  g_test_add_func ("/sip/msrp/types/cpim-inner", test_cpim_inner);
  return g_test_run ();
}
