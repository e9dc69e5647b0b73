/* gateway/tests/test-cpim.c - unit tests of the message/cpim parser (gateway/cpim.c).
 *
 * Cases the vectors cannot easily show: header order and case rules, bare LF line ends,
 * truncation at every byte, bodies with NULs. Rules: mapping-docs/page-mode.md §4.
 */
#include "gateway/cpim.h"

#include <string.h>

#define SAMPLE                                                                                     \
  "From: <sip:bob@xmpp.example.com>\r\n"                                                           \
  "To: <sip:alice@sip.example.net>\r\n"                                                            \
  "DateTime: 2025-03-01T09:15:00Z\r\n"                                                             \
  "NS: imdn <urn:ietf:params:imdn>\r\n"                                                            \
  "imdn.Message-ID: Qm3vT8pLx2\r\n"                                                                \
  "imdn.Disposition-Notification: positive-delivery\r\n"                                           \
  "\r\n"                                                                                           \
  "Content-Type: text/plain;charset=UTF-8\r\n"                                                     \
  "\r\n"                                                                                           \
  "Are you there?"

static void
test_sample (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PrlCpimMessage) m = prl_cpim_parse (SAMPLE, strlen (SAMPLE), &error);
  g_assert_no_error (error);
  g_assert_nonnull (m);
  g_assert_cmpuint (m->headers->len, ==, 6);
  g_assert_cmpstr (prl_cpim_message_get_header (m, "From"), ==, "<sip:bob@xmpp.example.com>");
  g_assert_cmpstr (prl_cpim_message_get_header (m, "imdn.Message-ID"), ==, "Qm3vT8pLx2");
  g_assert_null (prl_cpim_message_get_header (m, "from")); /* CPIM names are case-sensitive */
  g_assert_cmpstr (prl_cpim_message_get_mime_header (m, "content-type"), ==,
                   "text/plain;charset=UTF-8");
  g_assert_cmpstr (m->content_type, ==, "text/plain;charset=UTF-8");
  g_assert_cmpuint (m->body_len, ==, strlen ("Are you there?"));
  g_assert_cmpmem (m->body, m->body_len, "Are you there?", m->body_len);
}

static void
test_bare_lf (void)
{
  const char *in = "From: <sip:a@b>\nTo: <sip:c@d>\n\nContent-Type: text/plain\n\nhi\n";
  g_autoptr (PrlCpimMessage) m = prl_cpim_parse (in, strlen (in), NULL);
  g_assert_nonnull (m);
  g_assert_cmpmem (m->body, m->body_len, "hi\n", 3);
}

static void
test_body_with_nul (void)
{
  const char in[] = "From: <sip:a@b>\r\n\r\nContent-Type: text/plain\r\n\r\na\0b";
  g_autoptr (PrlCpimMessage) m = prl_cpim_parse (in, sizeof in - 1, NULL);
  g_assert_nonnull (m);
  g_assert_cmpuint (m->body_len, ==, 3);
  g_assert_cmpint (m->body[1], ==, '\0');
  g_assert_cmpint (m->body[3], ==, '\0'); /* NUL appended */
}

static void
expect_error (const char *in, PrlCpimError code)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PrlCpimMessage) m = prl_cpim_parse (in, strlen (in), &error);
  g_assert_null (m);
  g_assert_error (error, PRL_CPIM_ERROR, (gint)code);
}

static void
test_errors (void)
{
  expect_error ("", PRL_CPIM_ERROR_MALFORMED);
  expect_error ("\r\n\r\nContent-Type: text/plain\r\n\r\nx", PRL_CPIM_ERROR_MALFORMED);
  expect_error ("From <sip:a@b>\r\n\r\nContent-Type: text/plain\r\n\r\nx",
                PRL_CPIM_ERROR_MALFORMED);
  expect_error ("From: <sip:a@b>\r\n continued\r\n\r\nContent-Type: text/plain\r\n\r\nx",
                PRL_CPIM_ERROR_MALFORMED);
  expect_error ("From: <sip:a\x01@b>\r\n\r\nContent-Type: text/plain\r\n\r\nx",
                PRL_CPIM_ERROR_MALFORMED);
  expect_error ("From: <sip:a@b>\r\n\r\nX-Other: 1\r\n\r\nx", PRL_CPIM_ERROR_NO_CONTENT_TYPE);
  expect_error ("From: <sip:a@b>\r\nTo: <sip:c@d>", PRL_CPIM_ERROR_MALFORMED);
  expect_error ("From: <sip:a@b>\r\n\r\nContent-Type: text/plain\r\n", PRL_CPIM_ERROR_MALFORMED);
}

static void
test_too_many_headers (void)
{
  g_autoptr (GString) in = g_string_new (NULL);
  for (int i = 0; i <= PRL_CPIM_MAX_HEADERS; i++)
    g_string_append_printf (in, "X%d: y\r\n", i);
  g_string_append (in, "\r\nContent-Type: text/plain\r\n\r\nx");
  expect_error (in->str, PRL_CPIM_ERROR_TOO_MANY_HEADERS);
}

/* Every prefix of a valid body parses or fails cleanly, never reading past its length. */
static void
test_truncations (void)
{
  gsize n = strlen (SAMPLE);
  for (gsize i = 0; i <= n; i++) {
    g_autofree char *copy = g_memdup2 (SAMPLE, i); /* exact size: no terminator to lean on */
    g_autoptr (PrlCpimMessage) m = prl_cpim_parse (copy, i, NULL);
    if (m != NULL)
      g_assert_cmpuint (m->body_len, <=, i);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cpim/sample", test_sample);
  g_test_add_func ("/cpim/bare-lf", test_bare_lf);
  g_test_add_func ("/cpim/body-with-nul", test_body_with_nul);
  g_test_add_func ("/cpim/errors", test_errors);
  g_test_add_func ("/cpim/too-many-headers", test_too_many_headers);
  g_test_add_func ("/cpim/truncations", test_truncations);
  return g_test_run ();
}
