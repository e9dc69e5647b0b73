/* gateway/tests/test-message-map.c - unit tests of gateway/message-map.c.
 *
 * Property tests the vectors cannot express: random bodies with random multi-byte characters
 * chunk and rejoin losslessly at many limits, every part fits, every cut is on a character
 * boundary; plus the table-like helpers (content types, charsets, Call-IDs, language tags).
 * Rules: mapping-docs/page-mode.md §3, §9, §10.
 */
#include "gateway/message-map.h"

#include <string.h>

static void
test_content_type (void)
{
  struct {
    const char *in, *media, *charset;
    gboolean ok;
  } cases[] = {
    { "text/plain", "text/plain", NULL, TRUE },
    { "Text/Plain ; charset=UTF-8", "text/plain", "UTF-8", TRUE },
    { "text/plain;charset=\"iso-8859-1\";format=flowed", "text/plain", "iso-8859-1", TRUE },
    { "message/CPIM", "message/cpim", NULL, TRUE },
    { "text", NULL, NULL, FALSE },
    { "text/", NULL, NULL, FALSE },
    { "text/plain;charset", NULL, NULL, FALSE },
    { "text/plain;charset=\"open", NULL, NULL, FALSE },
    { "text/plain garbage", NULL, NULL, FALSE },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *media = NULL;
    g_autofree char *charset = NULL;
    gboolean ok = prl_message_map_parse_content_type (cases[i].in, &media, &charset);
    g_assert_cmpint (ok, ==, cases[i].ok);
    g_assert_cmpstr (media, ==, cases[i].media);
    g_assert_cmpstr (charset, ==, cases[i].charset);
  }
}

static PrlBodyStatus
decode (const char *ct, const char *body, gsize len, char **text)
{
  g_autofree char *subject = NULL;
  return prl_message_map_sip_body (ct, body, len, 1000, text, &subject);
}

static void
test_sip_body (void)
{
  g_autofree char *t1 = NULL, *t2 = NULL, *t3 = NULL, *t4 = NULL, *t5 = NULL, *t6 = NULL;
  g_assert_cmpint (decode (NULL, "hi", 2, &t1), ==, PRL_BODY_OK);
  g_assert_cmpstr (t1, ==, "hi");
  g_assert_cmpint (decode ("text/plain;charset=iso-8859-1", "caf\xe9", 4, &t2), ==, PRL_BODY_OK);
  g_assert_cmpstr (t2, ==, "caf\xc3\xa9");
  g_assert_cmpint (decode ("text/plain;charset=us-ascii", "caf\xe9", 4, &t3), ==,
                   PRL_BODY_BAD_ENCODING);
  g_assert_cmpint (decode ("text/plain;charset=x-no-such", "x", 1, &t3), ==,
                   PRL_BODY_UNKNOWN_CHARSET);
  g_assert_cmpint (decode ("text/plain;charset=\"utf-8//IGNORE\"", "x", 1, &t3), ==,
                   PRL_BODY_UNKNOWN_CHARSET);
  g_assert_cmpint (decode ("text/html", "<b>x</b>", 8, &t3), ==, PRL_BODY_UNSUPPORTED);
  g_assert_cmpint (decode ("text/plain", "", 0, &t3), ==, PRL_BODY_EMPTY);
  g_assert_cmpint (decode ("text/plain", "a\0b", 3, &t3), ==, PRL_BODY_ILLEGAL_CHAR);
  g_assert_cmpint (decode ("text/plain", "a\x01", 2, &t3), ==, PRL_BODY_ILLEGAL_CHAR);
  g_assert_cmpint (decode ("text/plain", "\xef\xbf\xbe", 3, &t3), ==, PRL_BODY_ILLEGAL_CHAR);
  g_assert_cmpint (decode ("text/plain", "\xc3", 1, &t3), ==, PRL_BODY_BAD_ENCODING);
  g_assert_cmpint (decode ("text/plain", "\xed\xa0\x80", 3, &t3), ==, PRL_BODY_BAD_ENCODING);
  g_assert_null (t3);

  /* conversion may grow the text over the limit: 600 x e9 is 1200 bytes of UTF-8 */
  g_autofree char *latin = g_strnfill (600, (char)0xe9);
  g_assert_cmpint (decode ("text/plain;charset=latin1", latin, 600, &t4), ==, PRL_BODY_TOO_BIG);
  g_autofree char *big = g_strnfill (1001, 'a');
  g_assert_cmpint (decode ("text/plain", big, 1001, &t4), ==, PRL_BODY_TOO_BIG);

  const char *cpim = "From: <sip:a@b>\r\nSubject: Lunch\r\n\r\nContent-Type: text/plain\r\n\r\nok";
  g_autofree char *subject = NULL;
  g_assert_cmpint (
      prl_message_map_sip_body ("message/cpim", cpim, strlen (cpim), 1000, &t5, &subject), ==,
      PRL_BODY_OK);
  g_assert_cmpstr (t5, ==, "ok");
  g_assert_cmpstr (subject, ==, "Lunch");
  const char *inner_html = "From: <sip:a@b>\r\n\r\nContent-Type: text/html\r\n\r\n<p>";
  g_assert_cmpint (decode ("message/cpim", inner_html, strlen (inner_html), &t6), ==,
                   PRL_BODY_UNSUPPORTED);
  g_assert_cmpint (decode ("message/cpim", "junk", 4, &t6), ==, PRL_BODY_BAD_CPIM);
}

static void
test_header_checks (void)
{
  g_assert_true (prl_message_map_header_is_safe (NULL));
  g_assert_true (prl_message_map_header_is_safe ("Lunch\tat noon \xc3\xa9"));
  g_assert_false (prl_message_map_header_is_safe ("a\r\nVia: evil"));
  g_assert_false (prl_message_map_header_is_safe ("a\nb"));
  g_assert_false (prl_message_map_header_is_safe ("a\x7f"));
  g_assert_false (prl_message_map_header_is_safe ("\xff"));

  g_assert_true (prl_message_map_lang_is_valid ("en"));
  g_assert_true (prl_message_map_lang_is_valid ("zh-Hant-TW"));
  g_assert_true (prl_message_map_lang_is_valid ("de-CH-1996"));
  g_assert_false (prl_message_map_lang_is_valid (NULL));
  g_assert_false (prl_message_map_lang_is_valid (""));
  g_assert_false (prl_message_map_lang_is_valid ("en-"));
  g_assert_false (prl_message_map_lang_is_valid ("1en"));
  g_assert_false (prl_message_map_lang_is_valid ("en US"));
  g_assert_false (prl_message_map_lang_is_valid ("abcdefghi"));
  g_assert_false (prl_message_map_lang_is_valid ("en, fr"));
}

static void
test_call_id (void)
{
  g_assert_true (prl_message_map_call_id_is_valid ("a1b2c3d4"));
  g_assert_true (prl_message_map_call_id_is_valid ("abc@host.example"));
  g_assert_false (prl_message_map_call_id_is_valid ("a@b@c"));
  g_assert_false (prl_message_map_call_id_is_valid ("@b"));
  g_assert_false (prl_message_map_call_id_is_valid ("a@"));
  g_assert_false (prl_message_map_call_id_is_valid ("has space"));
  g_assert_false (prl_message_map_call_id_is_valid (""));

  g_autofree char *same = prl_message_map_call_id_from_thread ("abc@host");
  g_assert_cmpstr (same, ==, "abc@host");
  g_autofree char *enc = prl_message_map_call_id_from_thread ("a b@c@d\xc3\xa9");
  g_assert_cmpstr (enc, ==, "a%20b%40c%40d%C3%A9");
  g_assert_true (prl_message_map_call_id_is_valid (enc));
  g_assert_null (prl_message_map_call_id_from_thread (""));
  g_autofree char *long_thread = g_strnfill (200, ' ');
  g_autofree char *hashed = prl_message_map_call_id_from_thread (long_thread);
  g_assert_cmpuint (strlen (hashed), ==, 64);
  g_assert_true (prl_message_map_call_id_is_valid (hashed));
}

static void
test_marker (void)
{
  g_autofree char *a = prl_message_map_format_marker ("[%u/%u] ", 3, 12);
  g_assert_cmpstr (a, ==, "[3/12] ");
  g_autofree char *b = prl_message_map_format_marker ("%s%n 100%% %u %u %u", 1, 2);
  g_assert_cmpstr (b, ==, "%s%n 100% 1 2 %u"); /* never printf: extra conversions stay text */
  g_autofree char *c = prl_message_map_format_marker ("", 1, 2);
  g_assert_cmpstr (c, ==, "");
}

static void
test_estimate (void)
{
  g_autoptr (PrlSipMessage) m = prl_sip_message_new ();
  m->request_uri = g_strdup ("sip:a@b");
  m->from = g_strdup ("sip:c@d");
  m->to = g_strdup ("sip:a@b");
  m->call_id = g_strdup ("x");
  m->cseq = 1;
  m->content_type = g_strdup (PRL_MESSAGE_MAP_CONTENT_TYPE);
  prl_sip_message_set_body (m, "hello", 5);
  const char *wire = "MESSAGE sip:a@b SIP/2.0\r\n"
                     "From: <sip:c@d>\r\n"
                     "To: <sip:a@b>\r\n"
                     "Call-ID: x\r\n"
                     "CSeq: 1 MESSAGE\r\n"
                     "Content-Type: text/plain;charset=UTF-8\r\n"
                     "Content-Length: 5\r\n"
                     "\r\n"
                     "hello";
  g_assert_cmpuint (prl_message_map_estimate (m, 0), ==, strlen (wire));
  g_assert_cmpuint (prl_message_map_estimate (m, 400), ==, strlen (wire) + 400);
}

static PrlSipMessage *template(void)
{
  PrlSipMessage *m = prl_sip_message_new ();
  m->request_uri = g_strdup ("sip:alice@sip.example.net");
  m->from = g_strdup ("sip:bob@xmpp.example.com;gr=laptop");
  m->to = g_strdup ("sip:alice@sip.example.net");
  m->call_id = g_strdup ("thread-1");
  m->cseq = 1;
  m->content_type = g_strdup (PRL_MESSAGE_MAP_CONTENT_TYPE);
  return m;
}

/* Random text: ASCII letters, spaces and 2/3/4-byte characters. */
static char *
random_text (gsize approx_len)
{
  static const char *pieces[]
      = { "a", "b", "Z", " ", "\n", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xe6\xbc\xa2",
          "\t" };
  GString *s = g_string_new (NULL);
  while (s->len < approx_len)
    g_string_append (s, pieces[g_test_rand_int_range (0, G_N_ELEMENTS (pieces))]);
  return g_string_free (s, FALSE);
}

static void
check_plan (const PrlSipMessage *tmpl, gsize reserve, gsize limit, const char *marker,
            const char *body)
{
  gsize len = strlen (body);
  g_autoptr (GArray) cuts = prl_message_map_plan_chunks (tmpl, reserve, limit, marker, body, len);
  if (cuts == NULL)
    return; /* refused: checked separately */
  guint parts = cuts->len - 1;
  g_autoptr (GString) joined = g_string_new (NULL);
  for (guint k = 1; k <= parts; k++) {
    g_autoptr (PrlSipMessage) part
        = prl_message_map_make_part (tmpl, reserve, marker, body, cuts, k);
    g_assert_cmpuint (part->size_estimate, <=, limit);
    g_assert_cmpuint (part->size_estimate, ==, prl_message_map_estimate (part, reserve));
    g_assert_cmpuint (part->cseq, ==, k);
    g_assert_cmpuint (part->parts, ==, parts);
    g_assert_true (g_utf8_validate_len (part->body, part->body_len, NULL));
    gsize skip = 0;
    if (parts > 1) {
      g_autofree char *m = prl_message_map_format_marker (marker, k, parts);
      skip = strlen (m);
      g_assert_cmpmem (part->body, skip, m, skip);
    }
    g_string_append_len (joined, part->body + skip, (gssize)(part->body_len - skip));
  }
  g_assert_cmpuint (joined->len, ==, len);
  g_assert_cmpmem (joined->str, joined->len, body, len);
}

static void
test_chunk_property (void)
{
  g_autoptr (PrlSipMessage) tmpl = template();
  const char *markers[] = { "[%u/%u] ", "", "(part %u of %u) ", "%u" };
  for (int round = 0; round < 200; round++) {
    g_autofree char *body = random_text (g_test_rand_int_range (0, 6000));
    gsize limit = g_test_rand_int_range (150, 2000);
    gsize reserve = g_test_rand_int_range (0, 100);
    check_plan (tmpl, reserve, limit, markers[round % G_N_ELEMENTS (markers)], body);
  }
}

static void
test_chunk_edges (void)
{
  g_autoptr (PrlSipMessage) tmpl = template();
  g_autofree char *body = g_strnfill (500, 'x');
  PrlSipMessage whole = *tmpl;
  whole.body_len = 500;
  gsize exact = prl_message_map_estimate (&whole, 0);

  g_autoptr (GArray) one = prl_message_map_plan_chunks (tmpl, 0, exact, "[%u/%u] ", body, 500);
  g_assert_cmpuint (one->len - 1, ==, 1); /* exactly at the limit: not split */
  g_autoptr (GArray) two = prl_message_map_plan_chunks (tmpl, 0, exact - 1, "[%u/%u] ", body, 500);
  g_assert_cmpuint (two->len - 1, ==, 2); /* one byte over: split */

  /* a budget smaller than one 4-byte character cannot be met */
  PrlSipMessage empty = *tmpl;
  empty.body_len = 0;
  gsize headers = prl_message_map_estimate (&empty, 0);
  g_assert_null (prl_message_map_plan_chunks (tmpl, 0, headers + 7, "[%u/%u] ",
                                              "\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 8));
  g_assert_null (prl_message_map_plan_chunks (tmpl, 0, 10, "", "x", 1));

  /* whitespace is preferred: the cut comes right after the last space */
  g_autofree char *as = g_strnfill (300, 'a');
  g_autofree char *bs = g_strnfill (300, 'b');
  g_autofree char *words = g_strdup_printf ("%s %s", as, bs);
  g_autoptr (GArray) w
      = prl_message_map_plan_chunks (tmpl, 0, headers + 450, "", words, strlen (words));
  g_assert_cmpuint (w->len - 1, ==, 2);
  g_assert_cmpuint (g_array_index (w, gsize, 1), ==, 301);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/message-map/content-type", test_content_type);
  g_test_add_func ("/message-map/sip-body", test_sip_body);
  g_test_add_func ("/message-map/header-checks", test_header_checks);
  g_test_add_func ("/message-map/call-id", test_call_id);
  g_test_add_func ("/message-map/marker", test_marker);
  g_test_add_func ("/message-map/estimate", test_estimate);
  g_test_add_func ("/message-map/chunk-property", test_chunk_property);
  g_test_add_func ("/message-map/chunk-edges", test_chunk_edges);
  return g_test_run ();
}
