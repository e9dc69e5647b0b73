/* sip/tests/test-codec.c - unit tests of sip/codec.c (no network).
 *
 * SIP text is parsed with msg_make (sip_default_mclass ()) and sip_object (), exactly what
 * the stack hands to sip/agent.c, then converted with prl_sip_codec_read(). The outgoing
 * checks are exercised on hand-made PrlSipMessage values.
 */
#include <string.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_parser.h>

#include "sip/codec.h"

typedef struct {
  msg_t *msg;
} Parsed;

static void
parsed_clear (Parsed *p)
{
  g_clear_pointer (&p->msg, msg_destroy);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Parsed, parsed_clear)

/* Parses @text (len -1: strlen) after turning every "\n" into "\r\n". */
static const sip_t *
parse (Parsed *p, const char *text, gssize len)
{
  if (len < 0)
    len = (gssize)strlen (text);
  GString *wire = g_string_sized_new ((gsize)len + 64);
  for (gssize i = 0; i < len; i++) {
    if (text[i] == '\n')
      g_string_append_c (wire, '\r');
    g_string_append_c (wire, text[i]);
  }
  p->msg = msg_make (sip_default_mclass (), 0, wire->str, (ssize_t)wire->len);
  g_string_free (wire, TRUE);
  return p->msg != NULL ? sip_object (p->msg) : NULL;
}

#define HEAD                                                                                       \
  "MESSAGE sip:bob@xmpp.example.com;transport=udp SIP/2.0\n"                                       \
  "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\n"                                             \
  "Max-Forwards: 70\n"

static void
test_all_fields (void)
{
  g_auto (Parsed) p = { 0 };
  const sip_t *sip = parse (&p,
                            HEAD "From: \"Alice A.\" <sip:alice@sip.example.net;gr=x>;tag=4fa2\n"
                                 "To: Bob <sip:bob@xmpp.example.com>\n"
                                 "Call-ID: a1b2c3d4@host\n"
                                 "CSeq: 17 MESSAGE\n"
                                 "Subject: Lunch\n"
                                 "Content-Language: en, de\n"
                                 "Date: Sat, 13 Nov 2010 23:29:00 GMT\n"
                                 "Content-Type: text/plain;charset=UTF-8\n"
                                 "Content-Length: 13\n"
                                 "\n"
                                 "Meet at noon?",
                            -1);
  g_assert_nonnull (sip);
  g_autoptr (GError) error = NULL;
  g_autoptr (PrlSipMessage) m = prl_sip_codec_read (sip, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (m->request_uri, ==, "sip:bob@xmpp.example.com;transport=udp");
  g_assert_cmpstr (m->from, ==, "sip:alice@sip.example.net;gr=x");
  g_assert_cmpstr (m->to, ==, "sip:bob@xmpp.example.com");
  g_assert_cmpstr (m->call_id, ==, "a1b2c3d4@host");
  g_assert_cmpuint (m->cseq, ==, 17);
  g_assert_cmpstr (m->subject, ==, "Lunch");
  g_assert_cmpstr (m->content_language, ==, "en, de");
  g_assert_cmpstr (m->date, ==, "Sat, 13 Nov 2010 23:29:00 GMT");
  g_assert_cmpstr (m->content_type, ==, "text/plain;charset=UTF-8");
  g_assert_cmpuint (m->body_len, ==, 13);
  g_assert_cmpstr (m->body, ==, "Meet at noon?");
  g_assert_true (m->is_udp);
  g_assert_cmpuint (m->txn, ==, 0);

  g_autofree char *key = prl_sip_codec_dedupe_key (sip);
  g_assert_cmpstr (key, ==, "a1b2c3d4@host\n17\nMESSAGE\n4fa2");
}

static void
test_minimal_tcp (void)
{
  g_auto (Parsed) p = { 0 };
  const sip_t *sip = parse (&p,
                            "MESSAGE sip:bob@example.com SIP/2.0\n"
                            "Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK-2\n"
                            "From: sip:alice@example.net\n"
                            "To: sip:bob@example.com\n"
                            "Call-ID: x\n"
                            "CSeq: 1 MESSAGE\n"
                            "Content-Length: 0\n"
                            "\n",
                            -1);
  g_autoptr (GError) error = NULL;
  g_autoptr (PrlSipMessage) m = prl_sip_codec_read (sip, &error);
  g_assert_no_error (error);
  g_assert_false (m->is_udp);
  g_assert_cmpstr (m->from, ==, "sip:alice@example.net");
  g_assert_null (m->subject);
  g_assert_null (m->content_type);
  g_assert_null (m->content_language);
  g_assert_null (m->date);
  g_assert_cmpuint (m->body_len, ==, 0);
  g_autofree char *key = prl_sip_codec_dedupe_key (sip);
  g_assert_cmpstr (key, ==, "x\n1\nMESSAGE\n");
}

typedef struct {
  const char *name;
  const char *text;
  const char *reason;
} BadCase;

static const BadCase bad_cases[] = {
  { "missing-from", HEAD "To: <sip:b@x>\nCall-ID: c\nCSeq: 1 MESSAGE\nContent-Length: 0\n\n",
    "Missing or malformed From" },
  { "malformed-from",
    HEAD "From: <<<garbage\nTo: <sip:b@x>\nCall-ID: c\nCSeq: 1 MESSAGE\nContent-Length: 0\n\n",
    "Missing or malformed From" },
  { "missing-to", HEAD "From: <sip:a@x>;tag=1\nCall-ID: c\nCSeq: 1 MESSAGE\nContent-Length: 0\n\n",
    "Missing or malformed To" },
  { "missing-call-id",
    HEAD "From: <sip:a@x>;tag=1\nTo: <sip:b@x>\nCSeq: 1 MESSAGE\nContent-Length: 0\n\n",
    "Missing or malformed Call-ID" },
  { "missing-cseq", HEAD "From: <sip:a@x>;tag=1\nTo: <sip:b@x>\nCall-ID: c\nContent-Length: 0\n\n",
    "Missing or malformed CSeq" },
  { "bad-cseq",
    HEAD "From: <sip:a@x>;tag=1\nTo: <sip:b@x>\nCall-ID: c\nCSeq: x MESSAGE\nContent-Length: 0\n\n",
    "Missing or malformed CSeq" },
  { "cseq-method",
    HEAD "From: <sip:a@x>;tag=1\nTo: <sip:b@x>\nCall-ID: c\nCSeq: 1 INVITE\nContent-Length: 0\n\n",
    "CSeq method does not match the request" },
  { "not-message",
    "OPTIONS sip:b@x SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK-3\nFrom: <sip:a@x>;tag=1\n"
    "To: <sip:b@x>\nCall-ID: c\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n",
    "Not a MESSAGE request" },
  { "response",
    "SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bK-3\nFrom: <sip:a@x>;tag=1\n"
    "To: <sip:b@x>\nCall-ID: c\nCSeq: 1 MESSAGE\nContent-Length: 0\n\n",
    "Not a SIP request" },
};

static void
test_bad (gconstpointer data)
{
  const BadCase *c = data;
  g_auto (Parsed) p = { 0 };
  const sip_t *sip = parse (&p, c->text, -1);
  g_assert_nonnull (sip);
  g_autoptr (GError) error = NULL;
  g_autoptr (PrlSipMessage) m = prl_sip_codec_read (sip, &error);
  g_assert_null (m);
  g_assert_error (error, PRL_SIP_ERROR, PRL_SIP_ERROR_MALFORMED);
  g_assert_cmpstr (error->message, ==, c->reason);
}

static void
test_null (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_null (prl_sip_codec_read (NULL, &error));
  g_assert_error (error, PRL_SIP_ERROR, PRL_SIP_ERROR_MALFORMED);
  g_assert_null (prl_sip_codec_dedupe_key (NULL));
}

static void
test_non_ascii_body (void)
{
  const char *body = "h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80";
  g_autofree char *text = g_strdup_printf (
      HEAD
      "From: <sip:a@x>;tag=1\nTo: <sip:b@x>\nCall-ID: c\nCSeq: 1 MESSAGE\n"
      "Subject: caf\xc3\xa9\nContent-Type: text/plain; charset=utf-8\nContent-Length: %zu\n\n%s",
      strlen (body), body);
  g_auto (Parsed) p = { 0 };
  const sip_t *sip = parse (&p, text, -1);
  g_autoptr (GError) error = NULL;
  g_autoptr (PrlSipMessage) m = prl_sip_codec_read (sip, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (m->body_len, ==, strlen (body));
  g_assert_cmpmem (m->body, m->body_len, body, strlen (body));
  g_assert_cmpstr (m->subject, ==, "caf\xc3\xa9");
  g_assert_cmpstr (m->content_type, ==, "text/plain;charset=utf-8");
}

static void
test_body_with_nuls (void)
{
  static const char text[]
      = HEAD "From: <sip:a@x>;tag=1\nTo: <sip:b@x>\nCall-ID: c\nCSeq: 1 MESSAGE\n"
             "Content-Type: application/octet-stream\nContent-Length: 7\n\n"
             "a\0b\0\xff\0c";
  g_auto (Parsed) p = { 0 };
  const sip_t *sip = parse (&p, text, sizeof text - 1);
  g_autoptr (GError) error = NULL;
  g_autoptr (PrlSipMessage) m = prl_sip_codec_read (sip, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (m->body_len, ==, 7);
  g_assert_cmpmem (m->body, 7, "a\0b\0\xff\0c", 7);
  g_assert_cmpint (m->body[7], ==, '\0');
}

static void
test_body_length_wins (void)
{
  /* Content-Length shorter than the datagram: the rest is not body (RFC 3261 §18.3). */
  g_auto (Parsed) p = { 0 };
  const sip_t *sip
      = parse (&p,
               HEAD "From: <sip:a@x>;tag=1\nTo: <sip:b@x>\nCall-ID: c\nCSeq: 1 MESSAGE\n"
                    "Content-Length: 3\n\nabcdef",
               -1);
  g_autoptr (GError) error = NULL;
  g_autoptr (PrlSipMessage) m = prl_sip_codec_read (sip, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (m->body_len, ==, 3);
  g_assert_cmpstr (m->body, ==, "abc");
}

static void
test_folded_header (void)
{
  g_auto (Parsed) p = { 0 };
  const sip_t *sip
      = parse (&p,
               HEAD "From: <sip:a@x>;tag=1\nTo:\n <sip:b@x>\nCall-ID: c\nCSeq: 1\n\tMESSAGE\n"
                    "Subject: lunch\n   at noon\n\ttoday\nContent-Length: 0\n\n",
               -1);
  g_assert_nonnull (sip);
  g_autoptr (GError) error = NULL;
  g_autoptr (PrlSipMessage) m = prl_sip_codec_read (sip, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (m->to, ==, "sip:b@x");
  g_assert_cmpstr (m->subject, ==, "lunch at noon today");
  g_assert_cmpuint (m->cseq, ==, 1);
}

static void
test_check_text (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (prl_sip_codec_check_text ("Subject", "plain \t text \xc3\xa9", &error));
  g_assert_true (prl_sip_codec_check_text ("Subject", NULL, &error));
  g_assert_no_error (error);
  const char *bad[] = { "a\rb", "a\nb", "a\r\nX-Injected: 1", "bell\x07", "del\x7f", "\xff\xfe" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_assert_false (prl_sip_codec_check_text ("Subject", bad[i], &error));
    g_assert_error (error, PRL_SIP_ERROR, PRL_SIP_ERROR_INVALID);
    g_clear_error (&error);
  }
}

static PrlSipMessage *
good_outgoing (void)
{
  PrlSipMessage *m = prl_sip_message_new ();
  m->request_uri = g_strdup ("sip:alice@sip.example.net");
  m->to = g_strdup ("sip:alice@sip.example.net");
  m->from = g_strdup ("sip:bob@xmpp.example.com;gr=laptop");
  m->call_id = g_strdup ("a1b2c3d4");
  m->subject = g_strdup ("Lunch");
  m->content_type = g_strdup ("text/plain;charset=UTF-8");
  m->content_language = g_strdup ("en");
  m->date = g_strdup ("Sat, 13 Nov 2010 23:29:00 GMT");
  return m;
}

static void
test_check_outgoing (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PrlSipMessage) good = good_outgoing ();
  g_assert_true (prl_sip_codec_check_outgoing (good, &error));
  g_assert_no_error (error);

  struct {
    gsize offset;
    const char *value;
  } bad[] = {
    { G_STRUCT_OFFSET (PrlSipMessage, request_uri), "sip:a@b\r\nX: y" },
    { G_STRUCT_OFFSET (PrlSipMessage, request_uri), "<sip:a@b>" },
    { G_STRUCT_OFFSET (PrlSipMessage, request_uri), "http://example.com/" },
    { G_STRUCT_OFFSET (PrlSipMessage, to), "sip:a@b>;x=<y" },
    { G_STRUCT_OFFSET (PrlSipMessage, from), "sip:a@b\n" },
    { G_STRUCT_OFFSET (PrlSipMessage, from), "Bob <sip:a@b>" },
    { G_STRUCT_OFFSET (PrlSipMessage, from), NULL },
    { G_STRUCT_OFFSET (PrlSipMessage, call_id), "abc\r\nVia: x" },
    { G_STRUCT_OFFSET (PrlSipMessage, call_id), "two words" },
    { G_STRUCT_OFFSET (PrlSipMessage, subject), "hi\r\nContact: <sip:evil@x>" },
    { G_STRUCT_OFFSET (PrlSipMessage, subject), "lf\nonly" },
    { G_STRUCT_OFFSET (PrlSipMessage, content_type), "text/plain\r\n" },
    { G_STRUCT_OFFSET (PrlSipMessage, content_type), "not a type" },
    { G_STRUCT_OFFSET (PrlSipMessage, content_language), "en\rde" },
    { G_STRUCT_OFFSET (PrlSipMessage, date), "yesterday" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (PrlSipMessage) m = good_outgoing ();
    char **field = G_STRUCT_MEMBER_P (m, bad[i].offset);
    g_free (*field);
    *field = g_strdup (bad[i].value);
    g_assert_false (prl_sip_codec_check_outgoing (m, &error));
    g_assert_error (error, PRL_SIP_ERROR, PRL_SIP_ERROR_INVALID);
    g_clear_error (&error);
  }

  /* A missing Call-ID, Subject, etc. is fine: nua makes a Call-ID. */
  g_autoptr (PrlSipMessage) bare = prl_sip_message_new ();
  bare->to = g_strdup ("sip:a@b");
  bare->from = g_strdup ("sip:c@d");
  g_assert_true (prl_sip_codec_check_outgoing (bare, &error));
  g_assert_no_error (error);
}

static void
test_check_contact (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (prl_sip_codec_check_contact ("<sip:gw@192.0.2.1;transport=tcp>", &error));
  g_assert_true (prl_sip_codec_check_contact ("sip:alice@example.net", &error));
  g_assert_true (prl_sip_codec_check_contact ("\"A\" <sip:alice@example.net>;expires=60", &error));
  /* the new address of an XMPP gone/redirect (the core's 301/302, RFC 7247 Table 2) */
  g_assert_true (prl_sip_codec_check_contact ("xmpp:robert@xmpp.example.com", &error));
  g_assert_true (prl_sip_codec_check_contact ("<xmpp:robert@xmpp.example.com>", &error));
  g_assert_no_error (error);
  const char *bad[] = { NULL, "", "<sip:a@b>\r\nX: 1", "<<<", "<http://x/>", "xmpp:a@b\r\nX: 1" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_assert_false (prl_sip_codec_check_contact (bad[i], &error));
    g_assert_error (error, PRL_SIP_ERROR, PRL_SIP_ERROR_INVALID);
    g_clear_error (&error);
  }
}

static void
test_check_uri (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (prl_sip_codec_check_uri ("To", "sip:bob@sip.example.net", &error));
  g_assert_true (prl_sip_codec_check_uri ("To", "sip:b%40o%20b@sip.example.net", &error));
  g_assert_true (prl_sip_codec_check_uri ("To", "tel:+15551234", &error));
  g_assert_no_error (error);
  /* escaped control characters in the user part, and a NUL that would cut it short */
  const char *bad[] = { "sip:bo%0D%0Ab@sip.example.net", "sip:bo%0ab@sip.example.net",
                        "sip:bo%00b@sip.example.net", "sip:bo%7Fb@sip.example.net",
                        "http://x/", "sip:bob@", "<sip:bob@x>" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_assert_false (prl_sip_codec_check_uri ("To", bad[i], &error));
    g_assert_error (error, PRL_SIP_ERROR, PRL_SIP_ERROR_INVALID);
    g_clear_error (&error);
  }
}

static void
test_reason (void)
{
  g_autofree char *a = prl_sip_codec_reason (202, "Accepted");
  g_autofree char *b = prl_sip_codec_reason (486, "Busy\r\nX-Injected: yes");
  g_autofree char *c = prl_sip_codec_reason (404, NULL);
  g_autofree char *d = prl_sip_codec_reason (480, "  \r\n ");
  g_autofree char *long_in = g_strnfill (300, 'x');
  g_autofree char *e = prl_sip_codec_reason (500, long_in);
  g_assert_cmpstr (a, ==, "Accepted");
  g_assert_cmpstr (b, ==, "Busy X-Injected: yes");
  g_assert_cmpstr (c, ==, "Not Found");
  g_assert_cmpstr (d, ==, "Temporarily Unavailable");
  g_assert_cmpuint (strlen (e), ==, 128);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sip/codec/all-fields", test_all_fields);
  g_test_add_func ("/sip/codec/minimal-tcp", test_minimal_tcp);
  for (guint i = 0; i < G_N_ELEMENTS (bad_cases); i++) {
    g_autofree char *path = g_strdup_printf ("/sip/codec/%s", bad_cases[i].name);
    g_test_add_data_func (path, &bad_cases[i], test_bad);
  }
  g_test_add_func ("/sip/codec/null", test_null);
  g_test_add_func ("/sip/codec/non-ascii-body", test_non_ascii_body);
  g_test_add_func ("/sip/codec/body-with-nuls", test_body_with_nuls);
  g_test_add_func ("/sip/codec/body-length-wins", test_body_length_wins);
  g_test_add_func ("/sip/codec/folded-header", test_folded_header);
  g_test_add_func ("/sip/codec/check-text", test_check_text);
  g_test_add_func ("/sip/codec/check-outgoing", test_check_outgoing);
  g_test_add_func ("/sip/codec/check-contact", test_check_contact);
  g_test_add_func ("/sip/codec/check-uri", test_check_uri);
  g_test_add_func ("/sip/codec/reason", test_reason);
  return g_test_run ();
}
