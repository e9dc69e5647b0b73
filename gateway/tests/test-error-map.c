/* gateway/tests/test-error-map.c - completeness of the RFC 7247 error tables.
 *
 * The row-by-row expectations are the vectors in test-vectors/errors/ (one file per row);
 * this file checks what rows cannot: that every status 300-699 and every RFC 6120 condition
 * has a mapping, that the class defaults cover the gaps, that the bare/full split follows
 * mapping-docs/errors.md §2.1, that no condition becomes 503 (§2.4), that every status the
 * tables produce or name has its reason phrase (§4), and that every condition has a valid
 * type (§3).
 *
 * Ownership: nothing allocated; every string from error-map.c is static.
 */
#include "gateway/error-map.h"

#include <string.h>

/* RFC 6120 §8.3.3, all defined stanza error conditions. */
static const char *const conditions[] = {
  "bad-request",
  "conflict",
  "feature-not-implemented",
  "forbidden",
  "gone",
  "internal-server-error",
  "item-not-found",
  "jid-malformed",
  "not-acceptable",
  "not-allowed",
  "not-authorized",
  "policy-violation",
  "recipient-unavailable",
  "redirect",
  "registration-required",
  "remote-server-not-found",
  "remote-server-timeout",
  "resource-constraint",
  "service-unavailable",
  "subscription-required",
  "undefined-condition",
  "unexpected-request",
};

/* The statuses RFC 7247 Table 3 lists (errors.md §1.1). */
static const guint table3[] = {
  300, 301, 302, 305, 380, 400, 401, 402, 403, 404, 405, 406, 407, 408, 410, 413,
  414, 415, 416, 420, 421, 423, 430, 439, 440, 480, 481, 482, 483, 484, 485, 486,
  487, 488, 489, 491, 493, 500, 501, 502, 503, 504, 505, 513, 600, 603, 604, 606,
};

/* Conditions whose bare-JID status differs from the full-JID one (errors.md §2.1). */
static const struct {
  const char *condition;
  guint full, bare;
} split[] = {
  { "feature-not-implemented", 405, 501 }, { "forbidden", 403, 603 },
  { "item-not-found", 404, 604 },          { "not-acceptable", 406, 606 },
  { "recipient-unavailable", 480, 600 },   { "service-unavailable", 405, 403 },
};

static gboolean
is_condition (const char *c)
{
  for (guint i = 0; i < G_N_ELEMENTS (conditions); i++)
    if (strcmp (conditions[i], c) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
is_type (const char *t)
{
  return strcmp (t, "cancel") == 0 || strcmp (t, "modify") == 0 || strcmp (t, "auth") == 0
         || strcmp (t, "wait") == 0;
}

static void
test_sip_to_xmpp_complete (void)
{
  for (guint status = 300; status <= 699; status++) {
    PrlXmppError e = prl_error_sip_to_xmpp (status);
    g_assert_nonnull (e.condition);
    g_assert_true (is_condition (e.condition));
    g_assert_true (is_type (e.type));
    g_assert_cmpstr (e.type, ==, prl_error_type_for (e.condition));
  }
  for (guint i = 0; i < G_N_ELEMENTS (table3); i++)
    g_assert_cmpstr (prl_sip_reason_phrase (table3[i]), !=, "Unknown");
}

static void
test_sip_to_xmpp_defaults (void)
{
  static const char *const by_class[]
      = { "redirect", "bad-request", "internal-server-error", "recipient-unavailable" };
  for (guint status = 300; status <= 699; status++) {
    gboolean listed = FALSE;
    for (guint i = 0; i < G_N_ELEMENTS (table3); i++)
      listed = listed || table3[i] == status;
    if (!listed)
      g_assert_cmpstr (prl_error_sip_to_xmpp (status).condition, ==, by_class[status / 100 - 3]);
  }
  /* outside the final-response range: a failure that names nothing (errors.md §1.3) */
  g_assert_cmpstr (prl_error_sip_to_xmpp (200).condition, ==, "internal-server-error");
  g_assert_cmpstr (prl_error_sip_to_xmpp (700).condition, ==, "internal-server-error");
  /* the two that RFC 7247 singles out */
  g_assert_cmpstr (prl_error_sip_to_xmpp (503).condition, ==, "internal-server-error");
  g_assert_cmpstr (prl_error_sip_to_xmpp (410).condition, ==, "gone");
}

static void
test_xmpp_to_sip_complete (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (conditions); i++)
    for (int full = 0; full <= 1; full++)
      for (int addr = 0; addr <= 1; addr++) {
        guint s = prl_error_xmpp_to_sip (conditions[i], full, addr);
        g_assert_cmpuint (s, >=, 300);
        g_assert_cmpuint (s, <=, 699);
        g_assert_cmpuint (s, !=, 503); /* errors.md §2.4 */
        g_assert_cmpstr (prl_sip_reason_phrase (s), !=, "Unknown");
        if (full)
          g_assert_cmpuint (s / 100, <, 6); /* one resource: never 6xx */
        if (strcmp (conditions[i], "gone") != 0)
          g_assert_cmpuint (s, ==, prl_error_xmpp_to_sip (conditions[i], full, !addr));
      }
}

static void
test_xmpp_to_sip_split (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (split); i++) {
    g_assert_cmpuint (prl_error_xmpp_to_sip (split[i].condition, TRUE, FALSE), ==, split[i].full);
    g_assert_cmpuint (prl_error_xmpp_to_sip (split[i].condition, FALSE, FALSE), ==, split[i].bare);
  }
  for (guint i = 0; i < G_N_ELEMENTS (conditions); i++) {
    gboolean is_split = FALSE;
    for (guint k = 0; k < G_N_ELEMENTS (split); k++)
      is_split = is_split || strcmp (split[k].condition, conditions[i]) == 0;
    if (!is_split)
      g_assert_cmpuint (prl_error_xmpp_to_sip (conditions[i], TRUE, FALSE), ==,
                        prl_error_xmpp_to_sip (conditions[i], FALSE, FALSE));
  }
  g_assert_cmpuint (prl_error_xmpp_to_sip ("gone", TRUE, TRUE), ==, 301);
  g_assert_cmpuint (prl_error_xmpp_to_sip ("gone", FALSE, FALSE), ==, 410);
  g_assert_cmpuint (prl_error_xmpp_to_sip ("no-such-condition", TRUE, FALSE), ==,
                    prl_error_xmpp_to_sip ("undefined-condition", TRUE, FALSE));
  g_assert_cmpuint (prl_error_xmpp_to_sip (NULL, FALSE, FALSE), ==, 400);
}

static void
test_types (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (conditions); i++)
    g_assert_true (is_type (prl_error_type_for (conditions[i])));
  g_assert_cmpstr (prl_error_type_for ("recipient-unavailable"), ==, "wait");
  g_assert_cmpstr (prl_error_type_for ("forbidden"), ==, "auth");
  g_assert_cmpstr (prl_error_type_for ("jid-malformed"), ==, "modify");
  g_assert_cmpstr (prl_error_type_for ("item-not-found"), ==, "cancel");
  g_assert_cmpstr (prl_error_type_for ("x-unknown"), ==, "cancel");
}

static void
test_reason_phrases (void)
{
  g_assert_cmpstr (prl_sip_reason_phrase (202), ==, "Accepted");
  g_assert_cmpstr (prl_sip_reason_phrase (404), ==, "Not Found");
  g_assert_cmpstr (prl_sip_reason_phrase (491), ==, "Request Pending");
  g_assert_cmpstr (prl_sip_reason_phrase (604), ==, "Does Not Exist Anywhere");
  g_assert_cmpstr (prl_sip_reason_phrase (499), ==, "Unknown");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/error-map/sip-to-xmpp/complete", test_sip_to_xmpp_complete);
  g_test_add_func ("/error-map/sip-to-xmpp/class-defaults", test_sip_to_xmpp_defaults);
  g_test_add_func ("/error-map/xmpp-to-sip/complete", test_xmpp_to_sip_complete);
  g_test_add_func ("/error-map/xmpp-to-sip/bare-full", test_xmpp_to_sip_split);
  g_test_add_func ("/error-map/types", test_types);
  g_test_add_func ("/error-map/reason-phrases", test_reason_phrases);
  return g_test_run ();
}
