/* sip/tests/test-msrp-parser.c - unit tests of sip/msrp-parser.c (no network).
 *
 * Frames split at every byte, several frames per feed, every order of the headers, the
 * transaction id rules, a missing end-line, and the bounds (header section, body).
 */
#include <string.h>

#include "sip/msrp-parser.h"
#include "sip/msrp.h"

#define SEND_FRAME                                                                       \
  "MSRP a786hjs2 SEND\r\nTo-Path: msrp://b.example.com:7777/s1;tcp\r\n"                  \
  "From-Path: msrp://a.example.com:8888/s2;tcp\r\nMessage-ID: 87652491\r\n"              \
  "Byte-Range: 1-25/25\r\nContent-Type: text/plain\r\n\r\nHey Bob, are you there?\r\n\r\n" \
  "-------a786hjs2$\r\n"

static GPtrArray *
feed (const char *data, gsize len, gsize step, gboolean expect_ok, gsize max_header,
      gsize max_body)
{
  g_autoptr (PrlMsrpParser) p = prl_msrp_parser_new (max_header, max_body);
  GPtrArray *frames = g_ptr_array_new_with_free_func ((GDestroyNotify)prl_msrp_frame_free);
  gboolean ok = TRUE;
  for (gsize off = 0; ok && off < len; off += step)
    ok = prl_msrp_parser_feed (p, data + off, MIN (step, len - off), frames, NULL);
  g_assert_true (ok == expect_ok);
  if (ok)
    g_assert_cmpuint (prl_msrp_parser_pending (p), ==, 0);
  return frames;
}

static void
check_send (const PrlMsrpFrame *f)
{
  g_assert_true (f->is_request);
  g_assert_cmpstr (f->method, ==, "SEND");
  g_assert_cmpstr (f->tid, ==, "a786hjs2");
  g_assert_cmpint (f->flag, ==, '$');
  g_assert_cmpstr (prl_msrp_frame_get (f, "to-path"), ==, "msrp://b.example.com:7777/s1;tcp");
  g_assert_cmpstr (prl_msrp_frame_get (f, "Message-ID"), ==, "87652491");
  g_assert_cmpmem (f->body->data, f->body->len, "Hey Bob, are you there?\r\n", 25);
  const char *reason;
  g_assert_cmpuint (prl_msrp_frame_check (f, &reason), ==, 0);
}

static void
test_every_split (void)
{
  gsize len = strlen (SEND_FRAME);
  for (gsize step = 1; step <= len; step++) {
    g_autoptr (GPtrArray) frames = feed (SEND_FRAME, len, step, TRUE, 4096, 4096);
    g_assert_cmpuint (frames->len, ==, 1);
    check_send (g_ptr_array_index (frames, 0));
  }
}

static void
test_two_per_feed (void)
{
  g_autofree char *two = g_strconcat (SEND_FRAME, SEND_FRAME, SEND_FRAME, NULL);
  for (gsize step = 1; step < 40; step += 3) {
    g_autoptr (GPtrArray) frames = feed (two, strlen (two), step, TRUE, 4096, 4096);
    g_assert_cmpuint (frames->len, ==, 3);
    for (guint i = 0; i < 3; i++)
      check_send (g_ptr_array_index (frames, i));
  }
}

/* every permutation of the six headers before Content-Type parses the same way */
static void
permute (const char **h, guint n, guint k, guint *count)
{
  if (k == n) {
    GString *s = g_string_new ("MSRP a786hjs2 SEND\r\n");
    for (guint i = 0; i < n; i++)
      g_string_append_printf (s, "%s\r\n", h[i]);
    g_string_append (s, "Content-Type: text/plain\r\n\r\nHey Bob, are you there?\r\n\r\n"
                        "-------a786hjs2$\r\n");
    g_autoptr (GPtrArray) frames = feed (s->str, s->len, 5, TRUE, 4096, 4096);
    g_assert_cmpuint (frames->len, ==, 1);
    check_send (g_ptr_array_index (frames, 0));
    g_string_free (s, TRUE);
    (*count)++;
    return;
  }
  for (guint i = k; i < n; i++) {
    const char *t = h[k];
    h[k] = h[i];
    h[i] = t;
    permute (h, n, k + 1, count);
    h[i] = h[k];
    h[k] = t;
  }
}

static void
test_header_orders (void)
{
  const char *h[] = { "To-Path: msrp://b.example.com:7777/s1;tcp",
                      "From-Path: msrp://a.example.com:8888/s2;tcp",
                      "Message-ID: 87652491",
                      "Byte-Range: 1-25/25",
                      "Success-Report: no",
                      "X-Unknown: kept" };
  guint count = 0;
  permute (h, G_N_ELEMENTS (h), 0, &count);
  g_assert_cmpuint (count, ==, 720);
}

static void
test_bad_tids (void)
{
  const char *bad[] = { "MSRP abc SEND\r\n", "MSRP .abcd SEND\r\n", "MSRP ab/cd SEND\r\n",
                        "MSRP  abcd SEND\r\n", "MSRP abcdefghijklmnopqrstuvwxyz0123456 SEND\r\n",
                        "MSRPabcd SEND\r\n", "msrp abcd SEND\r\n", "MSRP abcd\r\n" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GPtrArray) frames = feed (bad[i], strlen (bad[i]), 1, FALSE, 4096, 4096);
    g_assert_cmpuint (frames->len, ==, 0);
  }
}

static void
test_missing_end_line (void)
{
  g_autoptr (PrlMsrpParser) p = prl_msrp_parser_new (4096, 4096);
  g_autoptr (GPtrArray) frames = g_ptr_array_new_with_free_func ((GDestroyNotify)prl_msrp_frame_free);
  gsize len = strlen (SEND_FRAME) - strlen ("-------a786hjs2$\r\n");
  g_assert_true (prl_msrp_parser_feed (p, SEND_FRAME, len, frames, NULL));
  g_assert_cmpuint (frames->len, ==, 0);
  g_assert_cmpuint (prl_msrp_parser_pending (p), >, 0);
  /* a wrong tid or flag does not end it either */
  g_assert_true (prl_msrp_parser_feed (p, "-------a786hjs3$\r\n-------a786hjs2?\r\n", 36, frames,
                                       NULL));
  g_assert_cmpuint (frames->len, ==, 0);
  g_assert_true (prl_msrp_parser_feed (p, "\r\n-------a786hjs2+\r\n", 20, frames, NULL));
  g_assert_cmpuint (frames->len, ==, 1);
  PrlMsrpFrame *f = g_ptr_array_index (frames, 0);
  g_assert_cmpint (f->flag, ==, '+');
  g_assert_cmpuint (f->body->len, ==, 25 + 2 + 36);
}

static void
test_oversize (void)
{
  /* header section over the bound: fatal, after at most the bound */
  g_autoptr (PrlMsrpParser) p = prl_msrp_parser_new (256, 1024);
  g_autoptr (GPtrArray) frames = g_ptr_array_new_with_free_func ((GDestroyNotify)prl_msrp_frame_free);
  g_assert_true (prl_msrp_parser_feed (p, "MSRP abcd SEND\r\nX: ", 19, frames, NULL));
  gboolean ok = TRUE;
  guint fed = 0;
  for (; ok && fed < 1000; fed++)
    ok = prl_msrp_parser_feed (p, "y", 1, frames, NULL);
  g_assert_false (ok);
  g_assert_cmpuint (fed, <=, 256);
  g_autoptr (GError) error = NULL;
  g_assert_false (prl_msrp_parser_feed (p, "z", 1, frames, &error));
  g_assert_error (error, PRL_MSRP_ERROR, PRL_MSRP_ERROR_INVALID);

  /* body over the bound: counted, not kept; the parser's memory stays small */
  g_autoptr (PrlMsrpParser) q = prl_msrp_parser_new (4096, 1000);
  const char *head = "MSRP abcd SEND\r\nTo-Path: msrp://b:1/s;tcp\r\nFrom-Path: msrp://a:2/t;tcp\r\n"
                     "Message-ID: m1aaaa\r\nContent-Type: text/plain\r\n\r\n";
  g_assert_true (prl_msrp_parser_feed (q, head, strlen (head), frames, NULL));
  char block[997];
  memset (block, 'x', sizeof block);
  for (guint i = 0; i < 1000; i++) {
    g_assert_true (prl_msrp_parser_feed (q, block, sizeof block, frames, NULL));
    g_assert_cmpuint (prl_msrp_parser_pending (q), <, 4096);
  }
  g_assert_true (prl_msrp_parser_feed (q, "\r\n-------abcd$\r\n", 16, frames, NULL));
  g_assert_cmpuint (frames->len, ==, 1);
  PrlMsrpFrame *f = g_ptr_array_index (frames, 0);
  g_assert_cmpuint (f->body_dropped, ==, 997 * 1000);
  g_assert_cmpuint (f->body->len, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sip/msrp/parser/every-split", test_every_split);
  g_test_add_func ("/sip/msrp/parser/several-per-feed", test_two_per_feed);
  g_test_add_func ("/sip/msrp/parser/header-orders", test_header_orders);
  g_test_add_func ("/sip/msrp/parser/bad-tids", test_bad_tids);
  g_test_add_func ("/sip/msrp/parser/missing-end-line", test_missing_end_line);
  g_test_add_func ("/sip/msrp/parser/oversize", test_oversize);
  return g_test_run ();
}
