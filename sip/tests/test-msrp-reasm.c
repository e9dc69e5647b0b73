/* sip/tests/test-msrp-reasm.c - unit tests of sip/msrp-reasm.c: in order, out of order,
 * '$' first, unknown totals, overlap, interruption, the 413 bound before allocation,
 * inconsistent ranges and eviction.
 */
#include <string.h>

#include "sip/msrp-reasm.h"

static PrlMsrpReasmResult
add (PrlMsrpReasm *r, const char *mid, const char *range, char flag, const char *data,
     GByteArray **out)
{
  g_autoptr (GByteArray) chunk = g_byte_array_new ();
  g_byte_array_append (chunk, (const guint8 *)data, (guint)strlen (data));
  g_autofree char *type = NULL;
  if (*out != NULL)
    g_clear_pointer (out, g_byte_array_unref);
  return prl_msrp_reasm_add (r, mid, range, flag, "text/plain", &chunk, out, &type);
}

#define ASSERT_BODY(out, text) g_assert_cmpmem ((out)->data, (out)->len, text, strlen (text))

static void
test_orders (void)
{
  g_autoptr (PrlMsrpReasm) r = prl_msrp_reasm_new (100, 4);
  g_autoptr (GByteArray) out = NULL;
  g_assert_cmpint (add (r, "m1", NULL, '$', "whole", &out), ==, PRL_MSRP_REASM_COMPLETE);
  ASSERT_BODY (out, "whole");
  g_assert_cmpint (add (r, "m2", "1-3/6", '+', "abc", &out), ==, PRL_MSRP_REASM_PENDING);
  g_assert_cmpint (add (r, "m2", "4-6/6", '$', "def", &out), ==, PRL_MSRP_REASM_COMPLETE);
  ASSERT_BODY (out, "abcdef");
  /* the '$' chunk first, then the middle, then the start */
  g_assert_cmpint (add (r, "m3", "7-9/9", '$', "ghi", &out), ==, PRL_MSRP_REASM_PENDING);
  g_assert_cmpint (add (r, "m3", "4-6/9", '+', "def", &out), ==, PRL_MSRP_REASM_PENDING);
  g_assert_cmpint (add (r, "m3", "1-3/9", '+', "abc", &out), ==, PRL_MSRP_REASM_COMPLETE);
  ASSERT_BODY (out, "abcdefghi");
  /* unknown totals; the '$' chunk fixes it */
  g_assert_cmpint (add (r, "m4", "1-*/*", '+', "ab", &out), ==, PRL_MSRP_REASM_PENDING);
  g_assert_cmpint (add (r, "m4", "3-*/*", '$', "cd", &out), ==, PRL_MSRP_REASM_COMPLETE);
  ASSERT_BODY (out, "abcd");
  /* overlap: the last received wins */
  g_assert_cmpint (add (r, "m5", "1-4/6", '+', "abcd", &out), ==, PRL_MSRP_REASM_PENDING);
  g_assert_cmpint (add (r, "m5", "3-6/6", '$', "XYef", &out), ==, PRL_MSRP_REASM_COMPLETE);
  ASSERT_BODY (out, "abXYef");
  /* an empty message */
  g_assert_cmpint (add (r, "m6", "1-0/0", '$', "", &out), ==, PRL_MSRP_REASM_COMPLETE);
  g_assert_cmpuint (out->len, ==, 0);
  g_assert_cmpuint (prl_msrp_reasm_pending (r), ==, 0);
}

static void
test_interrupt (void)
{
  g_autoptr (PrlMsrpReasm) r = prl_msrp_reasm_new (100, 4);
  g_autoptr (GByteArray) out = NULL;
  g_assert_cmpint (add (r, "m1", "1-3/9", '+', "abc", &out), ==, PRL_MSRP_REASM_PENDING);
  g_assert_cmpint (add (r, "m1", "4-*/9", '#', "de", &out), ==, PRL_MSRP_REASM_ABORTED);
  g_assert_cmpuint (prl_msrp_reasm_pending (r), ==, 0);
}

static void
test_bounds (void)
{
  g_autoptr (PrlMsrpReasm) r = prl_msrp_reasm_new (100, 2);
  g_autoptr (GByteArray) out = NULL;
  /* a huge total is refused before any allocation */
  g_assert_cmpint (add (r, "m1", "1-3/999999999999", '+', "abc", &out), ==,
                   PRL_MSRP_REASM_TOO_LARGE);
  g_assert_cmpuint (prl_msrp_reasm_bytes (r), ==, 0);
  /* unknown total, but a range that goes past the bound */
  g_assert_cmpint (add (r, "m2", "99-*/*", '+', "abc", &out), ==, PRL_MSRP_REASM_TOO_LARGE);
  g_assert_cmpint (add (r, "m3", "1-100/100", '+', "abc", &out), ==, PRL_MSRP_REASM_PENDING);
  g_assert_cmpuint (prl_msrp_reasm_bytes (r), ==, 100);
  /* inconsistent: another total for the same message */
  g_assert_cmpint (add (r, "m3", "4-6/50", '$', "def", &out), ==, PRL_MSRP_REASM_INVALID);
  g_assert_cmpint (add (r, "m4", "1-2/9", '$', "ab", &out), ==, PRL_MSRP_REASM_INVALID);
  g_assert_cmpint (add (r, "m5", "x", '$', "ab", &out), ==, PRL_MSRP_REASM_INVALID);
  /* at most two pending: the oldest goes */
  g_assert_cmpint (add (r, "a1", "1-1/3", '+', "a", &out), ==, PRL_MSRP_REASM_PENDING);
  g_assert_cmpint (add (r, "b1", "1-1/3", '+', "b", &out), ==, PRL_MSRP_REASM_PENDING);
  g_assert_cmpint (add (r, "c1", "1-1/3", '+', "c", &out), ==, PRL_MSRP_REASM_PENDING);
  g_assert_cmpuint (prl_msrp_reasm_pending (r), ==, 2);
  g_assert_cmpint (add (r, "a1", "2-3/3", '$', "aa", &out), ==, PRL_MSRP_REASM_PENDING);
  g_assert_cmpint (add (r, "c1", "2-3/3", '$', "cc", &out), ==, PRL_MSRP_REASM_COMPLETE);
  ASSERT_BODY (out, "ccc");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sip/msrp/reasm/orders", test_orders);
  g_test_add_func ("/sip/msrp/reasm/interrupt", test_interrupt);
  g_test_add_func ("/sip/msrp/reasm/bounds", test_bounds);
  return g_test_run ();
}
