/* sip/tests/test-reginfo.c - unit tests of sip/reginfo.c (RFC 3680 bodies, no network).
 *
 * Bodies written for these tests: a full state with an active contact, init and terminated
 * registrations, namespace prefixes with several registrations and unknown elements, and the
 * refusals (wrong root, truncation, size bound, garbage).
 */
#include <string.h>

#include "sip/reginfo.h"

static PrlReginfo *
parse_ok (const char *text)
{
  g_autoptr (GError) error = NULL;
  PrlReginfo *info = prl_reginfo_parse (text, strlen (text), &error);
  g_assert_no_error (error);
  g_assert_nonnull (info);
  return info;
}

static const PrlReginfoRegistration *
reg (const PrlReginfo *info, guint i)
{
  g_assert_cmpuint (i, <, info->registrations->len);
  return g_ptr_array_index (info->registrations, i);
}

static void
test_active (void)
{
  g_autoptr (PrlReginfo) info = parse_ok (
      "<?xml version=\"1.0\"?>\n"
      "<reginfo xmlns=\"urn:ietf:params:xml:ns:reginfo\" version=\"3\" state=\"full\">\n"
      " <registration aor=\"sip:bob@sip.test\" id=\"r1\" state=\"active\">\n"
      "  <contact id=\"c1\" state=\"active\" event=\"registered\" expires=\"600\">\n"
      "   <uri>sip:bob@127.0.0.1:5099</uri>\n"
      "  </contact>\n"
      " </registration>\n"
      "</reginfo>\n");
  g_assert_cmpstr (info->state, ==, "full");
  g_assert_cmpuint (info->version, ==, 3);
  g_assert_cmpuint (info->registrations->len, ==, 1);
  g_assert_cmpstr (reg (info, 0)->aor, ==, "sip:bob@sip.test");
  g_assert_cmpstr (reg (info, 0)->state, ==, "active");
  g_assert_true (reg (info, 0)->active);
  g_assert_cmpstr (reg (info, 0)->contact, ==, "sip:bob@127.0.0.1:5099");
}

static void
test_inactive (void)
{
  g_autoptr (PrlReginfo) info = parse_ok (
      "<reginfo xmlns=\"urn:ietf:params:xml:ns:reginfo\" version=\"0\" state=\"full\">"
      "<registration aor=\"sip:a@x\" id=\"1\" state=\"init\"/>"
      "<registration aor=\"sip:b@x\" id=\"2\" state=\"terminated\">"
      "<contact id=\"c\" state=\"terminated\" event=\"unregistered\"><uri>sip:b@h</uri></contact>"
      "</registration>"
      /* state active, but no active contact (RFC 3680 allows it transiently) */
      "<registration aor=\"sip:c@x\" id=\"3\" state=\"active\">"
      "<contact id=\"d\" state=\"terminated\" event=\"expired\"><uri>sip:c@h</uri></contact>"
      "</registration>"
      /* an active contact under a registration that is not active does not count */
      "<registration aor=\"sip:d@x\" id=\"4\" state=\"terminated\">"
      "<contact id=\"e\" state=\"active\"><uri>sip:d@h</uri></contact>"
      "</registration>"
      "</reginfo>");
  g_assert_cmpuint (info->registrations->len, ==, 4);
  for (guint i = 0; i < 4; i++) {
    g_assert_false (reg (info, i)->active);
    g_assert_null (reg (info, i)->contact);
  }
  g_assert_cmpstr (reg (info, 0)->state, ==, "init");
  g_assert_cmpstr (reg (info, 3)->aor, ==, "sip:d@x");
}

static void
test_prefixed (void)
{
  g_autoptr (PrlReginfo) info = parse_ok (
      "<r:reginfo xmlns:r=\"urn:ietf:params:xml:ns:reginfo\" xmlns:x=\"urn:example:x\" "
      "version=\"x\" state=\"partial\">"
      "<r:registration aor=\"sip:f@example.org\" state=\"active\">"
      "<r:contact state=\"terminated\"><r:uri>sip:old@h</r:uri></r:contact>"
      "<r:contact state=\"active\"><r:uri> sip:new@h:5070 </r:uri>"
      "<r:display-name>F &amp; co</r:display-name></r:contact>"
      "<r:contact state=\"active\"><r:uri>sip:second@h</r:uri></r:contact>"
      "<x:ext><r:contact state=\"active\"><r:uri>sip:hidden@h</r:uri></r:contact></x:ext>"
      "</r:registration>"
      "<x:other aor=\"sip:no@h\"/>"
      "<r:registration state=\"active\"/>" /* no aor: ignored */
      "</r:reginfo>");
  g_assert_cmpuint (info->version, ==, 0);
  g_assert_cmpuint (info->registrations->len, ==, 1);
  g_assert_true (reg (info, 0)->active);
  g_assert_cmpstr (reg (info, 0)->contact, ==, "sip:new@h:5070");
}

static void
test_refused (void)
{
  const char *bad[] = {
    "",
    "   ",
    "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:a@b\"/>",
    "<reginfo><registration aor=\"sip:a@b\" state=\"active\">",
    "<reginfo>&unknown;</reginfo>",
    "<reginfo></regInfo>",
    "\xff\xfe<reginfo/>",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (PrlReginfo) info = prl_reginfo_parse (bad[i], strlen (bad[i]), &error);
    g_assert_null (info);
    g_assert_nonnull (error);
  }
  /* not NUL-terminated: the length is what counts */
  const char text[] = "<reginfo/>XXXX";
  g_autoptr (PrlReginfo) ok = prl_reginfo_parse (text, 10, NULL);
  g_assert_nonnull (ok);
  g_autoptr (GError) error = NULL;
  g_autoptr (PrlReginfo) junk = prl_reginfo_parse (text, sizeof text - 1, &error);
  g_assert_null (junk);
}

static void
test_bounds (void)
{
  /* above the size bound: refused unread */
  gsize big = PRL_REGINFO_MAX_BYTES + 1;
  g_autofree char *huge = g_malloc (big);
  memset (huge, ' ', big);
  memcpy (huge, "<reginfo>", 9);
  g_autoptr (GError) error = NULL;
  g_assert_null (prl_reginfo_parse (huge, big, &error));
  g_assert_error (error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT);

  /* many registrations: only the first PRL_REGINFO_MAX_REGISTRATIONS are kept */
  GString *s = g_string_new ("<reginfo>");
  for (guint i = 0; i < PRL_REGINFO_MAX_REGISTRATIONS + 10; i++)
    g_string_append_printf (s, "<registration aor=\"sip:u%u@h\" state=\"init\"/>", i);
  g_string_append (s, "</reginfo>");
  g_autoptr (PrlReginfo) info = parse_ok (s->str);
  g_assert_cmpuint (info->registrations->len, ==, PRL_REGINFO_MAX_REGISTRATIONS);
  g_string_free (s, TRUE);

  /* deep nesting is skipped, not recursed into */
  GString *d = g_string_new ("<reginfo>");
  for (guint i = 0; i < 8000; i++)
    g_string_append (d, "<x>");
  for (guint i = 0; i < 8000; i++)
    g_string_append (d, "</x>");
  g_string_append (d, "</reginfo>");
  g_autoptr (PrlReginfo) deep = parse_ok (d->str);
  g_assert_cmpuint (deep->registrations->len, ==, 0);
  g_string_free (d, TRUE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sip/reginfo/active", test_active);
  g_test_add_func ("/sip/reginfo/inactive", test_inactive);
  g_test_add_func ("/sip/reginfo/prefixed", test_prefixed);
  g_test_add_func ("/sip/reginfo/refused", test_refused);
  g_test_add_func ("/sip/reginfo/bounds", test_bounds);
  return g_test_run ();
}
