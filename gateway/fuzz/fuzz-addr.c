/* gateway/fuzz/fuzz-addr.c - libFuzzer target for the address mapping (gateway/addr-map.c).
 *
 * Input: two lines (the text up to the first newline, then up to the next one), and, when
 * the input is a test-vectors/ file, also its first "from:" and "to:" values. Each pair is
 * tried as (from, to) SIP URIs and as JIDs, in that order and swapped, under one fixed
 * configuration that has a direct and an escaped rule. Checked on every success:
 * no CR, LF or control octet in an output, no '<', '>' or '"' in a URI (mapping-docs/
 * addressing.md §12), and the round trip of §11: whatever xmpp->sip accepts comes back
 * through sip->xmpp as the same JIDs (domains compared without case) and maps to the same
 * URIs again; whatever sip->xmpp accepts maps back through xmpp->sip and then reproduces
 * the same JIDs. Replayed over corpus-addr/ and test-vectors/ by standalone.c in the fuzz
 * suite.
 *
 * Ownership: the configuration is built once and kept for the process; every result is
 * freed before returning.
 */
#include "gateway/addr-map.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const PrlCoreConfig *
fixed_config (void)
{
  static PrlCoreConfig config;
  static gboolean ready = FALSE;

  if (!ready) {
    prl_core_config_init (&config);
    prl_core_config_add_domain (&config, "sip.example.net", PRL_ADDR_DIRECT, "sip.example.net");
    prl_core_config_add_domain (&config, "gw.example.com", PRL_ADDR_ESCAPED, "sipgw.example.net");
    ready = TRUE;
  }
  return &config;
}

static void
check_safe (const char *s, gboolean is_uri)
{
  g_assert (s != NULL);
  for (const char *p = s; *p != '\0'; p++) {
    g_assert ((guchar)*p >= 0x20 && *p != 0x7f);
    if (is_uri)
      g_assert (*p != '<' && *p != '>' && *p != '"' && *p != ' ' && (guchar)*p < 0x80);
  }
}

/* Equal up to ASCII case: bytes [0, exact) must match exactly, the rest without case. */
static gboolean
same_from (const char *a, gsize alen, const char *b, gsize blen, gsize exact)
{
  return alen == blen && exact <= alen && memcmp (a, b, exact) == 0
         && g_ascii_strncasecmp (a + exact, b + exact, alen - exact) == 0;
}

/* JIDs equal, domains compared without ASCII case (addressing.md §9): the domainpart, and
 * under the escaped rule's domain also the SIP host after the last \40 of the localpart. */
static gboolean
same_jid (const char *a, const char *b)
{
  const char *sa = strchr (a, '/'), *sb = strchr (b, '/');
  if ((sa == NULL) != (sb == NULL) || (sa != NULL && strcmp (sa, sb) != 0))
    return FALSE;
  gsize la = sa != NULL ? (gsize)(sa - a) : strlen (a);
  gsize lb = sb != NULL ? (gsize)(sb - b) : strlen (b);
  const char *aa = memchr (a, '@', la), *ab = memchr (b, '@', lb);
  if ((aa == NULL) != (ab == NULL))
    return FALSE;
  if (aa == NULL)
    return same_from (a, la, b, lb, 0);
  gsize lla = (gsize)(aa - a), llb = (gsize)(ab - b);
  if (!same_from (aa + 1, la - lla - 1, ab + 1, lb - llb - 1, 0))
    return FALSE;
  gsize exact = lla;
  if (la - lla - 1 == strlen ("gw.example.com")
      && g_ascii_strncasecmp (aa + 1, "gw.example.com", la - lla - 1) == 0) {
    g_autofree char *local = g_strndup (a, lla);
    const char *host = g_strrstr (local, "\\40");
    exact = host != NULL ? (gsize)(host - local) + 3 : lla;
  }
  return same_from (a, lla, b, llb, exact);
}

static void
from_xmpp (const PrlCoreConfig *config, const char *from, const char *to)
{
  g_autofree char *fu = NULL, *tu = NULL, *fj = NULL, *tj = NULL, *fu2 = NULL, *tu2 = NULL;
  PrlAddrError err;

  if (!prl_addr_xmpp_to_sip (config, from, to, &fu, &tu, &err)) {
    g_assert (fu == NULL && tu == NULL && err.text != NULL);
    return;
  }
  check_safe (fu, TRUE);
  check_safe (tu, TRUE);
  /* the answer travels the other way: the SIP user writes to the XMPP user */
  g_assert (prl_addr_sip_to_xmpp (config, tu, fu, &tj, &fj, &err));
  g_assert (same_jid (fj, from) && same_jid (tj, to));
  g_assert (prl_addr_xmpp_to_sip (config, fj, tj, &fu2, &tu2, &err));
  g_assert (strcmp (fu, fu2) == 0 && strcmp (tu, tu2) == 0);
}

static void
from_sip (const PrlCoreConfig *config, const char *from, const char *to)
{
  g_autofree char *fj = NULL, *tj = NULL, *fu = NULL, *tu = NULL, *fj2 = NULL, *tj2 = NULL;
  PrlAddrError err;

  if (!prl_addr_sip_to_xmpp (config, from, to, &fj, &tj, &err)) {
    g_assert (fj == NULL && tj == NULL && err.text != NULL);
    return;
  }
  check_safe (fj, FALSE);
  check_safe (tj, FALSE);
  g_assert (prl_addr_xmpp_to_sip (config, tj, fj, &tu, &fu, &err));
  check_safe (fu, TRUE);
  check_safe (tu, TRUE);
  g_assert (prl_addr_sip_to_xmpp (config, fu, tu, &fj2, &tj2, &err));
  g_assert (strcmp (fj, fj2) == 0 && strcmp (tj, tj2) == 0);
}

static void
run_pair (const char *a, const char *b)
{
  const PrlCoreConfig *config = fixed_config ();

  from_sip (config, a, b);
  from_sip (config, b, a);
  from_xmpp (config, a, b);
  from_xmpp (config, b, a);
}

/* The value of the first "NAME: value" line of a vector file, or NULL. Values written as
 * expressions (starting with a quote) are taken literally: still a fine input. */
static char *
vector_field (const char *text, const char *name)
{
  g_autofree char *key = g_strdup_printf ("\n%s: ", name);
  const char *p = strstr (text, key);
  if (p == NULL)
    return NULL;
  p += strlen (key);
  return g_strndup (p, strcspn (p, "\n"));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  const char *nl = memchr (text, '\n', size);
  gsize alen = nl != NULL ? (gsize)(nl - text) : size;
  const char *rest = nl != NULL ? nl + 1 : text + size;
  gsize rsize = size - (gsize)(rest - text);
  const char *nl2 = memchr (rest, '\n', rsize);
  gsize blen = nl2 != NULL ? (gsize)(nl2 - rest) : rsize;

  g_autofree char *a = g_strndup (text, alen); /* stops at a NUL byte, as C strings do */
  g_autofree char *b = g_strndup (rest, blen);
  run_pair (a, b);

  /* a test-vectors/ file used as a seed: its first from/to pair */
  g_autofree char *whole = g_strndup (text, size);
  g_autofree char *from = vector_field (whole, "from");
  g_autofree char *to = vector_field (whole, "to");
  if (from != NULL && to != NULL)
    run_pair (from, to);
  return 0;
}
