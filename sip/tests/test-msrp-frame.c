/* sip/tests/test-msrp-frame.c - unit tests of sip/msrp-frame.c: serialisation round trips,
 * idents, Byte-Range and Status values, the end-line check of bodies, frame checks.
 */
#include <string.h>

#include "sip/msrp-parser.h"

static PrlMsrpFrame *
reparse (const PrlMsrpFrame *f)
{
  g_autoptr (GByteArray) wire = g_byte_array_new ();
  prl_msrp_frame_write (f, wire);
  g_autoptr (PrlMsrpParser) p = prl_msrp_parser_new (4096, 1 << 20);
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify)prl_msrp_frame_free);
  g_assert_true (prl_msrp_parser_feed (p, wire->data, wire->len, out, NULL));
  g_assert_cmpuint (out->len, ==, 1);
  g_assert_cmpuint (prl_msrp_parser_pending (p), ==, 0);
  return g_ptr_array_steal_index (out, 0);
}

static void
test_round_trip (void)
{
  g_autofree char *tid = prl_msrp_random_ident (16);
  g_autoptr (PrlMsrpFrame) f = prl_msrp_frame_new_request (tid, "SEND");
  /* Content-Type given first: written last anyway (RFC 4975 §7.1) */
  prl_msrp_frame_add_header (f, "Content-Type", "text/plain;charset=UTF-8");
  prl_msrp_frame_add_header (f, "Message-ID", "Mq4Vt7Yw2Rk9");
  prl_msrp_frame_add_header (f, "From-Path", "msrp://gw.example.net:2855/q8Zr4kTw2p;tcp");
  prl_msrp_frame_add_header (f, "To-Path", "msrp://ua.sip.example.net:2855/Zk31qP;tcp");
  prl_msrp_frame_add_header (f, "Byte-Range", "1-8/8");
  prl_msrp_frame_set_body (f, "a\r\n\0b\xc3\xa9\n", 8);
  f->flag = '+';
  g_autoptr (GByteArray) wire = g_byte_array_new ();
  prl_msrp_frame_write (f, wire);
  g_autofree char *head = g_strndup ((const char *)wire->data, 60);
  g_assert_true (g_str_has_prefix (head, "MSRP "));
  g_assert_nonnull (strstr (head, " SEND\r\nTo-Path: msrp://ua"));
  g_autoptr (PrlMsrpFrame) g = reparse (f);
  g_autofree char *a = prl_msrp_frame_to_text (f);
  g_autofree char *b = prl_msrp_frame_to_text (g);
  g_assert_nonnull (strstr (b, "Byte-Range=\"1-8/8\" Content-Type="));
  g_assert_cmpmem (g->body->data, g->body->len, f->body->data, f->body->len);
  g_assert_cmpint (g->flag, ==, '+');
  const char *reason;
  g_assert_cmpuint (prl_msrp_frame_check (g, &reason), ==, 0);

  g_autoptr (PrlMsrpFrame) r = prl_msrp_frame_new_response (tid, 200, "OK");
  prl_msrp_frame_add_header (r, "To-Path", "msrp://a:1/x;tcp");
  prl_msrp_frame_add_header (r, "From-Path", "msrp://b:2/y;tcp");
  g_autoptr (PrlMsrpFrame) r2 = reparse (r);
  g_autofree char *rt = prl_msrp_frame_to_text (r2);
  g_autofree char *want = g_strdup_printf (
      "200 \"OK\" tid=\"%s\" flag=$ To-Path=\"msrp://a:1/x;tcp\" From-Path=\"msrp://b:2/y;tcp\"", tid);
  g_assert_cmpstr (rt, ==, want);
}

static void
test_idents (void)
{
  g_assert_true (prl_msrp_is_ident ("abcd", 4));
  g_assert_true (prl_msrp_is_ident ("a.-+%=", 6));
  g_assert_false (prl_msrp_is_ident ("abc", 3));
  g_assert_false (prl_msrp_is_ident (".abc", 4));
  g_assert_false (prl_msrp_is_ident ("ab cd", 5));
  g_assert_false (prl_msrp_is_ident ("123e4567-e89b-12d3-a456-426614174000", 36));
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < 1000; i++) {
    char *id = prl_msrp_random_ident (16);
    g_assert_true (prl_msrp_is_ident (id, 16));
    g_assert_true (g_hash_table_add (seen, id));
  }
}

static void
test_values (void)
{
  gint64 s, e, t;
  g_assert_true (prl_msrp_byte_range_parse ("1-25/25", &s, &e, &t));
  g_assert_true (s == 1 && e == 25 && t == 25);
  g_assert_true (prl_msrp_byte_range_parse ("2049-*/*", &s, &e, &t));
  g_assert_true (s == 2049 && e == -1 && t == -1);
  g_assert_true (prl_msrp_byte_range_parse ("1-0/0", &s, &e, &t));
  const char *bad[] = { "0-1/1", "1-2/1", "5-3/9", "1-2", "1-2/3x", "-1-2/3", "1 -2/3", "",
                        "1-99999999999999999999/1" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    g_assert_false (prl_msrp_byte_range_parse (bad[i], &s, &e, &t));
  g_assert_cmpuint (prl_msrp_status_parse ("000 200 OK"), ==, 200);
  g_assert_cmpuint (prl_msrp_status_parse ("000 413"), ==, 413);
  g_assert_cmpuint (prl_msrp_status_parse ("200"), ==, 0);
  g_assert_cmpuint (prl_msrp_status_parse ("000 20"), ==, 0);
  g_assert_cmpuint (prl_msrp_status_parse ("000 2000"), ==, 0);
  g_assert_cmpstr (prl_msrp_status_phrase (481), ==, "Session Does Not Exist");
}

static void
test_end_line_in_body (void)
{
  const char *body = "x\r\n-------abcd$\r\ny";
  g_assert_true (prl_msrp_body_has_end_line ((const guint8 *)body, strlen (body), "abcd"));
  g_assert_false (prl_msrp_body_has_end_line ((const guint8 *)body, strlen (body), "abce"));
  g_assert_false (prl_msrp_body_has_end_line ((const guint8 *)"-------abcd", 11, "abcd"));
}

static void
test_checks (void)
{
  const char *reason;
  g_autoptr (PrlMsrpFrame) f = prl_msrp_frame_new_request ("abcd", "SEND");
  g_assert_cmpuint (prl_msrp_frame_check (f, &reason), ==, 400);
  prl_msrp_frame_add_header (f, "To-Path", "msrp://a:1/x;tcp");
  prl_msrp_frame_add_header (f, "From-Path", "msrp://b:2/y;tcp");
  g_assert_cmpuint (prl_msrp_frame_check (f, &reason), ==, 400);
  g_assert_cmpstr (reason, ==, "Message-ID missing");
  prl_msrp_frame_add_header (f, "Message-ID", "m1aaaa");
  g_assert_cmpuint (prl_msrp_frame_check (f, &reason), ==, 0);
  prl_msrp_frame_set_body (f, "x", 1);
  g_assert_cmpuint (prl_msrp_frame_check (f, &reason), ==, 400);
  g_assert_cmpstr (reason, ==, "body without Content-Type");
  prl_msrp_frame_add_header (f, "Content-Type", "text/plain");
  prl_msrp_frame_add_header (f, "Failure-Report", "maybe");
  g_assert_cmpuint (prl_msrp_frame_check (f, &reason), ==, 400);
}

/* The stack's SEND fast path writes exactly what a frame with the same headers would. */
static void
test_write_send (void)
{
  static const char body[] = "hello -------x$ body";
  struct {
    gsize first, last, total;
    gboolean open_end, report;
    gsize len;
    char flag;
  } cases[] = {
    { 1, 20, 20, FALSE, TRUE, 20, '$' },
    { 1, 10, 20, FALSE, FALSE, 10, '+' },
    { 3000, 0, 9000, TRUE, FALSE, 20, '+' },
    { 1, 0, 0, FALSE, FALSE, 0, '$' },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (PrlMsrpFrame) f = prl_msrp_frame_new_request ("tid1234ABCD", "SEND");
    prl_msrp_frame_add_header (f, "To-Path", "msrp://127.0.0.1:2855/b;tcp");
    prl_msrp_frame_add_header (f, "From-Path", "msrp://127.0.0.1:2856/a;tcp");
    prl_msrp_frame_add_header (f, "Message-ID", "mid5678");
    g_autofree char *range
        = cases[i].open_end
              ? g_strdup_printf ("%" G_GSIZE_FORMAT "-*/%" G_GSIZE_FORMAT, cases[i].first,
                                 cases[i].total)
              : g_strdup_printf ("%" G_GSIZE_FORMAT "-%" G_GSIZE_FORMAT "/%" G_GSIZE_FORMAT,
                                 cases[i].first, cases[i].last, cases[i].total);
    prl_msrp_frame_add_header (f, "Byte-Range", range);
    if (cases[i].report)
      prl_msrp_frame_add_header (f, "Success-Report", "yes");
    prl_msrp_frame_add_header (f, "Content-Type", "message/cpim");
    prl_msrp_frame_set_body (f, body, cases[i].len);
    f->flag = cases[i].flag;
    g_autoptr (GByteArray) want = g_byte_array_new ();
    prl_msrp_frame_write (f, want);
    PrlMsrpSendChunk c = { .tid = "tid1234ABCD",
                           .to_path = "msrp://127.0.0.1:2855/b;tcp",
                           .from_path = "msrp://127.0.0.1:2856/a;tcp",
                           .message_id = "mid5678",
                           .content_type = "message/cpim",
                           .first = cases[i].first,
                           .last = cases[i].last,
                           .total = cases[i].total,
                           .open_end = cases[i].open_end,
                           .success_report = cases[i].report,
                           .body = (const guint8 *)body,
                           .len = cases[i].len,
                           .flag = cases[i].flag };
    g_autoptr (GByteArray) got = g_byte_array_new ();
    g_byte_array_append (got, (const guint8 *)"x", 1); /* appends */
    prl_msrp_frame_write_send (&c, got);
    g_assert_cmpmem (got->data + 1, got->len - 1, want->data, want->len);
  }
  /* random idents: the length asked for, alphanumeric, and not all the same */
  g_autofree char *a = prl_msrp_random_ident (16);
  g_autofree char *b = prl_msrp_random_ident (16);
  g_assert_cmpuint (strlen (a), ==, 16);
  g_assert_true (prl_msrp_is_ident (a, 16));
  for (const char *p = a; *p != '\0'; p++)
    g_assert_true (g_ascii_isalnum (*p));
  g_assert_cmpstr (a, !=, b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sip/msrp/frame/round-trip", test_round_trip);
  g_test_add_func ("/sip/msrp/frame/idents", test_idents);
  g_test_add_func ("/sip/msrp/frame/values", test_values);
  g_test_add_func ("/sip/msrp/frame/end-line-in-body", test_end_line_in_body);
  g_test_add_func ("/sip/msrp/frame/checks", test_checks);
  g_test_add_func ("/sip/msrp/frame/write-send", test_write_send);
  return g_test_run ();
}
