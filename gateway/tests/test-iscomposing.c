/* gateway/tests/test-iscomposing.c - RFC 3994 documents (gateway/iscomposing.c) and the CPIM
 * wrapper (prl_cpim_build) the chat core sends. Rules: mapping-docs/chat.md §4, §5. */
#include "gateway/cpim.h"
#include "gateway/iscomposing.h"

#include <string.h>

static gboolean
parse (const char *doc, gboolean *active, guint *refresh)
{
  return prl_iscomposing_parse (doc, strlen (doc), active, refresh);
}

static void
test_read (void)
{
  gboolean active = FALSE;
  guint refresh = 7;
  g_assert_true (parse ("<?xml version='1.0'?><isComposing "
                        "xmlns='urn:ietf:params:xml:ns:im-iscomposing'><state> active "
                        "</state><refresh>90</refresh></isComposing>",
                        &active, &refresh));
  g_assert_true (active);
  g_assert_cmpuint (refresh, ==, 90);
  g_assert_true (parse ("<c:isComposing xmlns:c='urn:ietf:params:xml:ns:im-iscomposing'>"
                        "<c:state>idle</c:state></c:isComposing>",
                        &active, &refresh));
  g_assert_false (active);
  g_assert_cmpuint (refresh, ==, 0);
  /* refresh out of range is ignored, not an error */
  g_assert_true (parse ("<isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing'><state>"
                        "active</state><refresh>0</refresh></isComposing>",
                        &active, &refresh));
  g_assert_cmpuint (refresh, ==, 0);
}

static void
test_refuse (void)
{
  gboolean active;
  guint refresh;
  const char *bad[] = {
    "",
    "<isComposing><state>active</state></isComposing>", /* no namespace */
    "<other xmlns='urn:ietf:params:xml:ns:im-iscomposing'><state>active</state></other>",
    "<isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing'></isComposing>", /* no state */
    "<isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing'><state>active</state>",
    "<isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing'><state>"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</state>"
    "</isComposing>",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    g_assert_false (prl_iscomposing_parse (bad[i], strlen (bad[i]), &active, &refresh));
  g_autofree char *huge = g_strnfill (PRL_ISCOMPOSING_MAX + 1, ' ');
  g_assert_false (prl_iscomposing_parse (huge, strlen (huge), &active, &refresh));
}

static void
test_build (void)
{
  g_autofree char *a = prl_iscomposing_build (TRUE, 120);
  gboolean active = FALSE;
  guint refresh = 0;
  g_assert_true (parse (a, &active, &refresh));
  g_assert_true (active);
  g_assert_cmpuint (refresh, ==, 120);
  g_autofree char *i = prl_iscomposing_build (FALSE, 120);
  g_assert_null (strstr (i, "<refresh>")); /* RFC 3994: refresh only with "active" */
  g_assert_true (parse (i, &active, &refresh));
  g_assert_false (active);
}

static void
test_cpim_build (void)
{
  gsize len = 0;
  g_autofree char *c = prl_cpim_build ("sip:a@x", "sip:b@y", "2026-11-22T03:00:00.000Z",
                                       "text/plain;charset=UTF-8", "hi\0there", 8, &len);
  g_assert_cmpuint (len, ==, strlen (c) + 6); /* the NUL in the body is kept */
  g_autoptr (GError) error = NULL;
  g_autoptr (PrlCpimMessage) m = prl_cpim_parse (c, len, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (prl_cpim_message_get_header (m, "From"), ==, "<sip:a@x>");
  g_assert_cmpstr (prl_cpim_message_get_header (m, "To"), ==, "<sip:b@y>");
  g_assert_cmpstr (prl_cpim_message_get_header (m, "DateTime"), ==, "2026-11-22T03:00:00.000Z");
  g_assert_cmpstr (m->content_type, ==, "text/plain;charset=UTF-8");
  g_assert_cmpuint (m->body_len, ==, 8);
  g_assert_cmpmem (m->body, 8, "hi\0there", 8);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/iscomposing/read", test_read);
  g_test_add_func ("/iscomposing/refuse", test_refuse);
  g_test_add_func ("/iscomposing/build", test_build);
  g_test_add_func ("/iscomposing/cpim-build", test_cpim_build);
  return g_test_run ();
}
