/* gateway/tests/test-addr-map.c - unit and property tests of the address mapping.
 *
 * The fixed cases live in test-vectors/addressing/ (run by test-vectors.c); here are the
 * checks a table of cases cannot make: the lossless round trip of mapping-docs/addressing.md
 * §11 over thousands of random addresses (non-ASCII, every escapable character, backslash
 * sequences, resources), in both modes and from both sides, and the output-safety property
 * (§12) over random hostile input. The expected SIP and XMPP forms are built here by an
 * independent encoder written from the rules, not by calling the code under test.
 *
 * Ownership: each test owns one PrlCoreConfig (g_auto), built with the core.h API.
 */
#include "gateway/addr-map.h"

#include <string.h>

/* ---- fixture ---------------------------------------------------------------------------- */

/* The vectors' default: sip.example.net direct, gw.example.com escaped sipgw.example.net. */
static void
config_init (PrlCoreConfig *c)
{
  prl_core_config_init (c);
  prl_core_config_add_domain (c, "sip.example.net", PRL_ADDR_DIRECT, "sip.example.net");
  prl_core_config_add_domain (c, "gw.example.com", PRL_ADDR_ESCAPED, "sipgw.example.net");
}

/* ---- independent encoders (from addressing.md §4 and §5) -------------------------------- */

static const char *const seqs[] = { "20", "22", "26", "27", "2f", "3a", "3c", "3e", "40", "5c" };

static gboolean
starts_sequence (const char *p)
{
  for (guint i = 0; i < G_N_ELEMENTS (seqs); i++)
    if (strncmp (p, seqs[i], 2) == 0)
      return TRUE;
  return FALSE;
}

static char *
xep0106_escape (const char *text)
{
  GString *out = g_string_new (NULL);
  for (const char *p = text; *p != '\0'; p++) {
    if (strchr (" \"&'/:<>@", *p) != NULL || (*p == '\\' && starts_sequence (p + 1)))
      g_string_append_printf (out, "\\%02x", (guint)(guchar)*p);
    else
      g_string_append_c (out, *p);
  }
  return g_string_free (out, FALSE);
}

static char *
pct (const char *text, const char *keep)
{
  GString *out = g_string_new (NULL);
  for (const char *p = text; *p != '\0'; p++) {
    if (g_ascii_isalnum (*p) || strchr (keep, *p) != NULL)
      g_string_append_c (out, *p);
    else
      g_string_append_printf (out, "%%%02X", (guint)(guchar)*p);
  }
  return g_string_free (out, FALSE);
}

#define USER_KEEP "-_.!~*'()&=+$,;?/"
#define PARAM_KEEP "-_.!~*'()[]/:&+$"

/* ---- random addresses ------------------------------------------------------------------- */

static const char *const atoms[] = {
  "a",
  "b",
  "z",
  "Q",
  "X",
  "0",
  "7",
  "-",
  "_",
  ".",
  "!",
  "~",
  "*",
  "(",
  ")",
  "+",
  "$",
  ",",
  ";",
  "?",
  "=",
  "#",
  "[",
  "]",
  "^",
  "{",
  "|",
  "}",
  "`",
  "@",
  "/",
  "\\",
  "'",
  "\"",
  "%",
  ":",
  " ",
  "&",
  "<",
  ">",
  "\xc3\xbc" /* ü */,
  "\xe6\x97\xa5\xe6\x9c\xac" /* 日本 */,
  "\xf0\x9f\x98\x80" /* 😀 */,
  "\\27",
  "\\5c",
  "\\20",
  "\\40",
  "\\2F",
  "\\2plus",
  "%41",
  "%%",
};

static char *
random_text (GRand *rng, guint max_atoms)
{
  GString *s = g_string_new (NULL);
  guint n = (guint)g_rand_int_range (rng, 1, (gint32)max_atoms + 1);
  for (guint i = 0; i < n; i++)
    g_string_append (s, atoms[g_rand_int_range (rng, 0, G_N_ELEMENTS (atoms))]);
  /* XEP-0106: a localpart neither starts nor ends with \20 (addressing.md §4.2) */
  while (s->len > 0 && s->str[s->len - 1] == ' ')
    g_string_truncate (s, s->len - 1);
  while (s->len > 0 && s->str[0] == ' ')
    g_string_erase (s, 0, 1);
  if (s->len == 0)
    g_string_append_c (s, 'u');
  return g_string_free (s, FALSE);
}

static char *
random_host (GRand *rng)
{
  static const char *const hosts[] = { "xmpp.example.com", "example.org", "a-b.c0.example",
                                       "h.example",        "192.0.2.7",   "[2001:db8::1]" };
  return g_strdup (hosts[g_rand_int_range (rng, 0, G_N_ELEMENTS (hosts))]);
}

static char *
maybe_resource (GRand *rng)
{
  return g_rand_boolean (rng) ? random_text (rng, 4) : NULL;
}

static char *
sip_uri (const char *user_text, const char *host, const char *gr)
{
  g_autofree char *u = pct (user_text, USER_KEEP);
  g_autofree char *g = gr != NULL ? pct (gr, PARAM_KEEP) : NULL;
  return g_strdup_printf ("sip:%s@%s%s%s", u, host, g != NULL ? ";gr=" : "", g ? g : "");
}

static char *
jid (const char *local_text, const char *domain, const char *resource)
{
  g_autofree char *l = xep0106_escape (local_text);
  return g_strdup_printf ("%s@%s%s%s", l, domain, resource != NULL ? "/" : "",
                          resource != NULL ? resource : "");
}

/* ---- property: lossless round trip (addressing.md §11) ---------------------------------- */

#define ROUNDS 3000

static void
expect_pair (gboolean ok, const PrlAddrError *err, const char *got_from, const char *want_from,
             const char *got_to, const char *want_to, const char *what)
{
  if (!ok)
    g_error ("%s: refused (%u %s: %s)", what, err->sip_status, err->xmpp_condition, err->text);
  g_assert_cmpstr (got_from, ==, want_from);
  g_assert_cmpstr (got_to, ==, want_to);
}

/* A SIP user writes to an XMPP user; the answer travels back (direct mode, §6). */
static void
test_round_trip_direct (void)
{
  g_auto (PrlCoreConfig) config;
  config_init (&config);
  g_autoptr (GRand) rng = g_rand_new_with_seed (7247);

  for (guint i = 0; i < ROUNDS; i++) {
    g_autofree char *su = random_text (rng, 8), *xu = random_text (rng, 8);
    g_autofree char *sr = maybe_resource (rng), *xr = maybe_resource (rng);
    g_autofree char *xh = random_host (rng);
    g_autofree char *from = sip_uri (su, "sip.example.net", sr);
    g_autofree char *to = sip_uri (xu, xh, xr);
    g_autofree char *want_fj = jid (su, "sip.example.net", sr);
    g_autofree char *want_tj = jid (xu, xh, xr);
    g_autofree char *fj = NULL, *tj = NULL, *fu = NULL, *tu = NULL;
    PrlAddrError err = { 0 };

    gboolean ok = prl_addr_sip_to_xmpp (&config, from, to, &fj, &tj, &err);
    expect_pair (ok, &err, fj, want_fj, tj, want_tj, from);
    /* the reply: the XMPP user (tj) writes back to the SIP user (fj) */
    ok = prl_addr_xmpp_to_sip (&config, tj, fj, &fu, &tu, &err);
    expect_pair (ok, &err, fu, to, tu, from, tj);
  }
}

/* The same in escaped mode (§7): SIP users anywhere, XMPP users as user%40domain@S. */
static void
test_round_trip_escaped (void)
{
  g_auto (PrlCoreConfig) config;
  config_init (&config);
  g_autoptr (GRand) rng = g_rand_new_with_seed (106);

  for (guint i = 0; i < ROUNDS; i++) {
    g_autofree char *su = random_text (rng, 8), *xu = random_text (rng, 8);
    g_autofree char *sr = maybe_resource (rng), *xr = maybe_resource (rng);
    g_autofree char *sh = random_host (rng), *xh = random_host (rng);
    g_autofree char *whole_s = g_strdup_printf ("%s@%s", su, sh);
    g_autofree char *whole_x = g_strdup_printf ("%s@%s", xu, xh);
    g_autofree char *from = sip_uri (su, sh, sr);
    g_autofree char *to = sip_uri (whole_x, "sipgw.example.net", xr);
    g_autofree char *want_fj = jid (whole_s, "gw.example.com", sr);
    g_autofree char *want_tj = jid (xu, xh, xr);
    g_autofree char *fj = NULL, *tj = NULL, *fu = NULL, *tu = NULL;
    PrlAddrError err = { 0 };

    gboolean ok = prl_addr_sip_to_xmpp (&config, from, to, &fj, &tj, &err);
    expect_pair (ok, &err, fj, want_fj, tj, want_tj, from);
    ok = prl_addr_xmpp_to_sip (&config, tj, fj, &fu, &tu, &err);
    expect_pair (ok, &err, fu, to, tu, from, tj);
  }
}

/* Non-canonical SIP spellings (%HH of characters allowed raw, lowercase hex, mixed-case host)
 * map to the same JID as the canonical one: the round trip gives the canonical form. */
static void
test_sip_normalisation (void)
{
  g_auto (PrlCoreConfig) config;
  config_init (&config);
  g_autoptr (GRand) rng = g_rand_new_with_seed (3261);

  for (guint i = 0; i < ROUNDS; i++) {
    g_autofree char *xu = random_text (rng, 8);
    GString *odd = g_string_new ("sip:");
    for (const char *p = xu; *p != '\0'; p++) {
      gboolean raw_ok = g_ascii_isalnum (*p) || strchr (USER_KEEP, *p) != NULL;
      if (raw_ok && g_rand_boolean (rng))
        g_string_append_c (odd, *p);
      else
        g_string_append_printf (odd, g_rand_boolean (rng) ? "%%%02x" : "%%%02X", (guint)(guchar)*p);
    }
    g_string_append (odd, "@XMPP.Example.COM");
    g_autofree char *to = g_string_free (odd, FALSE);
    g_autofree char *canonical = sip_uri (xu, "xmpp.example.com", NULL);
    g_autofree char *fj = NULL, *tj = NULL, *fu = NULL, *tu = NULL;
    PrlAddrError err = { 0 };

    gboolean ok = prl_addr_sip_to_xmpp (&config, "sip:alice@sip.example.net", to, &fj, &tj, &err);
    g_assert_true (ok);
    ok = prl_addr_xmpp_to_sip (&config, tj, fj, &fu, &tu, &err);
    g_assert_true (ok);
    g_assert_cmpstr (fu, ==, canonical);
  }
}

/* Random JID localparts, escaped or not, canonical or not: whatever xmpp->sip accepts comes
 * back identical through sip->xmpp (§4.4 refuses the rest). */
static void
test_round_trip_random_jids (void)
{
  g_auto (PrlCoreConfig) config;
  config_init (&config);
  g_autoptr (GRand) rng = g_rand_new_with_seed (7622);
  guint accepted = 0;

  for (guint i = 0; i < ROUNDS; i++) {
    g_autofree char *text = random_text (rng, 6);
    /* drop what a JID localpart cannot hold raw, keep the backslash soup */
    GString *l = g_string_new (NULL);
    for (const char *p = text; *p != '\0'; p++)
      if (strchr (" \"&'/:<>@", *p) == NULL)
        g_string_append_c (l, *p);
    if (l->len == 0)
      g_string_append_c (l, 'x');
    g_autofree char *local = g_string_free (l, FALSE);
    gboolean escaped = g_rand_boolean (rng);
    g_autofree char *to = escaped ? g_strdup_printf ("%s\\40h.example@gw.example.com", local)
                                  : g_strdup_printf ("%s@sip.example.net", local);
    g_autofree char *from = g_strdup_printf ("%s@xmpp.example.com/r", local);
    g_autofree char *fu = NULL, *tu = NULL, *fj = NULL, *tj = NULL;
    PrlAddrError err = { 0 };

    if (!prl_addr_xmpp_to_sip (&config, from, to, &fu, &tu, &err)) {
      g_assert_cmpstr (err.text, ==, "localpart not canonically escaped");
      continue;
    }
    accepted++;
    g_assert_true (prl_addr_sip_to_xmpp (&config, tu, fu, &tj, &fj, &err));
    g_assert_cmpstr (fj, ==, from);
    g_assert_cmpstr (tj, ==, to);
  }
  g_assert_cmpuint (accepted, >, ROUNDS / 2);
}

/* ---- property: no header injection (addressing.md §12) ---------------------------------- */

static void
assert_safe (const char *s, gboolean is_uri)
{
  if (s == NULL)
    return;
  for (const char *p = s; *p != '\0'; p++) {
    g_assert_true (*p != '\r' && *p != '\n');
    if (is_uri)
      g_assert_true (*p != '<' && *p != '>' && *p != '"' && (guchar)*p > 0x20 && (guchar)*p < 0x7f);
  }
}

static void
test_hostile_input (void)
{
  g_auto (PrlCoreConfig) config;
  config_init (&config);
  g_autoptr (GRand) rng = g_rand_new_with_seed (1);
  static const char *const bits[] = { "sip:",
                                      "sips:",
                                      "tel:",
                                      "@",
                                      "sip.example.net",
                                      "sipgw.example.net",
                                      "gw.example.com",
                                      "xmpp.example.com",
                                      "\r\n",
                                      "\n",
                                      "%0d%0a",
                                      "%40",
                                      "%",
                                      "%4",
                                      "<",
                                      ">",
                                      "\"",
                                      ";gr=",
                                      "?h=v",
                                      ":5060",
                                      "\\40",
                                      "\\5c",
                                      "/",
                                      " ",
                                      "\t",
                                      "\x01",
                                      "\xff",
                                      "\xc3\xbc",
                                      "[::1]",
                                      "a",
                                      "B" };

  for (guint i = 0; i < ROUNDS * 3; i++) {
    GString *a = g_string_new (NULL), *b = g_string_new (NULL);
    for (gint n = g_rand_int_range (rng, 1, 9); n > 0; n--)
      g_string_append (a, bits[g_rand_int_range (rng, 0, G_N_ELEMENTS (bits))]);
    for (gint n = g_rand_int_range (rng, 1, 9); n > 0; n--)
      g_string_append (b, bits[g_rand_int_range (rng, 0, G_N_ELEMENTS (bits))]);
    g_autofree char *as = g_string_free (a, FALSE), *bs = g_string_free (b, FALSE);
    g_autofree char *x1 = NULL, *x2 = NULL, *s1 = NULL, *s2 = NULL;
    PrlAddrError err = { 0 };

    if (prl_addr_sip_to_xmpp (&config, as, bs, &x1, &x2, &err)) {
      assert_safe (x1, FALSE);
      assert_safe (x2, FALSE);
    } else
      g_assert_true (x1 == NULL && x2 == NULL && err.text != NULL && err.sip_status >= 400);
    if (prl_addr_xmpp_to_sip (&config, as, bs, &s1, &s2, &err)) {
      assert_safe (s1, TRUE);
      assert_safe (s2, TRUE);
    } else
      g_assert_true (s1 == NULL && s2 == NULL && err.text != NULL && err.sip_status >= 400);
  }
}

/* ---- a few fixed cases the vectors cannot express --------------------------------------- */

static void
test_jid_is_full (void)
{
  g_assert_true (prl_addr_jid_is_full ("bob@xmpp.example.com/laptop"));
  g_assert_false (prl_addr_jid_is_full ("bob@xmpp.example.com"));
}

static void
test_null_input (void)
{
  g_auto (PrlCoreConfig) config;
  config_init (&config);
  g_autofree char *a = NULL, *b = NULL;
  PrlAddrError err = { 0 };

  g_assert_false (prl_addr_sip_to_xmpp (&config, NULL, "sip:b@x.example", &a, &b, &err));
  g_assert_cmpuint (err.sip_status, ==, 400);
  g_assert_false (prl_addr_xmpp_to_sip (&config, "b@x.example", NULL, &a, &b, &err));
  g_assert_cmpstr (err.xmpp_condition, ==, "jid-malformed");
  g_assert_null (a);
  g_assert_null (b);
}

/* xmpp_domains / sip_domains lists (addressing.md §8.3), not expressible in default vectors */
static void
test_domain_lists (void)
{
  g_auto (PrlCoreConfig) config;
  config_init (&config);
  config.xmpp_domains = g_strsplit ("xmpp.example.com", ";", -1);
  config.sip_domains = g_strsplit ("sip.example.org", ";", -1);
  g_autofree char *a = NULL, *b = NULL;
  PrlAddrError err = { 0 };

  g_assert_false (prl_addr_sip_to_xmpp (&config, "sip:alice@sip.example.net",
                                        "sip:bob@other.example", &a, &b, &err));
  g_assert_cmpstr (err.text, ==, "domain not served");
  g_assert_true (prl_addr_sip_to_xmpp (&config, "sip:alice@sip.example.net",
                                       "sip:bob@XMPP.example.com", &a, &b, &err));
  g_clear_pointer (&a, g_free);
  g_clear_pointer (&b, g_free);
  g_assert_false (
      prl_addr_xmpp_to_sip (&config, "bob@other.example", "alice@sip.example.net", &a, &b, &err));
  g_assert_cmpuint (err.sip_status, ==, 403);
  g_assert_false (prl_addr_xmpp_to_sip (&config, "bob@xmpp.example.com",
                                        "carol\\40sip.example.net@gw.example.com", &a, &b, &err));
  g_assert_cmpstr (err.text, ==, "domain not served");
  g_assert_true (prl_addr_xmpp_to_sip (&config, "bob@other.example",
                                       "carol\\40sip.example.org@gw.example.com", &a, &b, &err));
  g_assert_cmpstr (b, ==, "sip:carol@sip.example.org");
  g_clear_pointer (&a, g_free);
  g_clear_pointer (&b, g_free);
  g_assert_false (prl_addr_sip_to_xmpp (&config, "sip:carol@sip.example.net",
                                        "sip:bob%40xmpp.example.com@sipgw.example.net", &a, &b,
                                        &err));
  g_assert_cmpuint (err.sip_status, ==, 403);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/addr-map/round-trip/direct", test_round_trip_direct);
  g_test_add_func ("/addr-map/round-trip/escaped", test_round_trip_escaped);
  g_test_add_func ("/addr-map/round-trip/sip-normalisation", test_sip_normalisation);
  g_test_add_func ("/addr-map/round-trip/random-jids", test_round_trip_random_jids);
  g_test_add_func ("/addr-map/hostile-input", test_hostile_input);
  g_test_add_func ("/addr-map/jid-is-full", test_jid_is_full);
  g_test_add_func ("/addr-map/null-input", test_null_input);
  g_test_add_func ("/addr-map/domain-lists", test_domain_lists);
  return g_test_run ();
}
