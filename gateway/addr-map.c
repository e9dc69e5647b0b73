/* gateway/addr-map.c - SIP URI <-> JID for both addressing modes.
 *
 * Design: two small strict parsers (SIP URI, JID) turn the wire strings into parts; the
 * domain rules of the PrlCoreConfig pick the mode from the recipient's domain; then the user
 * part is translated with one pair of inverse functions, XEP-0106 escaping on the XMPP side and
 * canonical %HH encoding on the SIP side. Because the two are exact inverses over the addresses
 * each side accepts, every accepted address round-trips losslessly (the unit test proves it on
 * random addresses, the fuzzer checks it on anything). Outputs are built only from validated
 * parts, so they never carry CR, LF, NUL, '<', '>' or '"' into a SIP header.
 *
 * Ownership: pure functions. Inputs are borrowed; the returned strings are (transfer full);
 * PrlAddrError holds static strings only. GLib only, no I/O.
 *
 * Rules implemented: mapping-docs/addressing.md §1 (SIP URI syntax), §2 (JID syntax), §3
 * (domains and hosts), §4 (user parts, XEP-0106), §5 (resources and gr), §6 (direct mode), §7
 * (escaped mode), §8 (rule choice, domain policy, loops, order of checks), §9 (case: never
 * folded), §10 (errors), §11 (round trip), §12 (output safety).
 */
#include "gateway/addr-map.h"

#include <string.h>

#define MAX_PART_BYTES 1023 /* RFC 7622 §3.3.1, §3.4: localpart and resourcepart */
#define MAX_HOST_BYTES 253  /* a DNS name in text form */

/* addressing.md §10: every failure, with its SIP status, XMPP condition and text. */
static const PrlAddrError E_SIP_SYNTAX = { 400, "jid-malformed", "invalid SIP URI" };
static const PrlAddrError E_SCHEME = { 416, "not-acceptable", "unsupported URI scheme" };
static const PrlAddrError E_JID_SYNTAX = { 400, "jid-malformed", "invalid JID" };
static const PrlAddrError E_LOCAL_LONG = { 400, "jid-malformed", "localpart too long" };
static const PrlAddrError E_NOT_CANONICAL
    = { 400, "jid-malformed", "localpart not canonically escaped" };
static const PrlAddrError E_USER_UTF8 = { 400, "bad-request", "user part is not UTF-8" };
static const PrlAddrError E_USER_CONTROL = { 400, "bad-request", "control character in user part" };
static const PrlAddrError E_USER_SPACE
    = { 400, "bad-request", "user part starts or ends with a space" };
static const PrlAddrError E_GR = { 400, "bad-request", "invalid gr parameter" };
static const PrlAddrError E_SENDER_NO_USER = { 400, "jid-malformed", "sender has no user part" };
static const PrlAddrError E_NO_USER = { 404, "item-not-found", "no user part" };
static const PrlAddrError E_NOT_SERVED = { 404, "item-not-found", "domain not served" };
static const PrlAddrError E_LOOP = { 404, "item-not-found", "loop refused" };
static const PrlAddrError E_NOT_ESC_XMPP = { 404, "item-not-found", "not an escaped XMPP address" };
static const PrlAddrError E_NOT_ESC_SIP = { 404, "item-not-found", "not an escaped SIP address" };
static const PrlAddrError E_SENDER_DOMAIN = { 403, "forbidden", "sender domain not served" };

static gboolean
fail (PrlAddrError *err, const PrlAddrError *what)
{
  *err = *what;
  return FALSE;
}

/* ---- character classes (RFC 3261 §25.1) ------------------------------------------------ */

static gboolean
is_unreserved (char c)
{
  return g_ascii_isalnum (c) || (c != '\0' && strchr ("-_.!~*'()", c) != NULL);
}

static gboolean
is_user_char (char c) /* unreserved / user-unreserved */
{
  return is_unreserved (c) || (c != '\0' && strchr ("&=+$,;?/", c) != NULL);
}

static gboolean
is_param_char (char c) /* unreserved / param-unreserved */
{
  return is_unreserved (c) || (c != '\0' && strchr ("[]/:&+$", c) != NULL);
}

static gboolean
is_header_char (char c) /* unreserved / hnv-unreserved */
{
  return is_unreserved (c) || (c != '\0' && strchr ("[]/?:+$", c) != NULL);
}

/* ---- %HH ------------------------------------------------------------------------------- */

/* Checks that s[0..len) is made of @ok characters and valid %HH escapes only. */
static gboolean
check_escaped (const char *s, gsize len, gboolean (*ok) (char))
{
  for (gsize i = 0; i < len; i++) {
    if (s[i] == '%') {
      if (i + 2 >= len || !g_ascii_isxdigit (s[i + 1]) || !g_ascii_isxdigit (s[i + 2]))
        return FALSE;
      i += 2;
    } else if (!ok (s[i]))
      return FALSE;
  }
  return TRUE;
}

/* Decodes s[0..len), already checked by check_escaped(); the result may hold any octet. */
static void
pct_decode (GString *out, const char *s, gsize len)
{
  for (gsize i = 0; i < len; i++) {
    if (s[i] == '%') {
      g_string_append_c (
          out, (char)(g_ascii_xdigit_value (s[i + 1]) * 16 + g_ascii_xdigit_value (s[i + 2])));
      i += 2;
    } else
      g_string_append_c (out, s[i]);
  }
}

/* addressing.md §4.3: every octet @ok refuses becomes %HH with uppercase hex. */
static void
pct_encode (GString *out, const char *s, gsize len, gboolean (*ok) (char))
{
  for (gsize i = 0; i < len; i++) {
    if (ok (s[i]))
      g_string_append_c (out, s[i]);
    else
      g_string_append_printf (out, "%%%02X", (guint)(guchar)s[i]);
  }
}

/* ---- hosts and domains (addressing.md §3) ------------------------------------------------ */

static gboolean
valid_ipv6 (const char *s, gsize len)
{
  gboolean has_colon = FALSE;

  if (len < 2)
    return FALSE;
  for (gsize i = 0; i < len; i++) {
    if (s[i] == ':')
      has_colon = TRUE;
    else if (!g_ascii_isxdigit (s[i]) && s[i] != '.')
      return FALSE;
  }
  return has_colon;
}

/* A DNS name (letters, digits, inner hyphens; labels of 1-63) or a dotted IPv4 address,
 * or "[IPv6]". ASCII only: IDNs must come as A-labels. No trailing dot. */
static gboolean
valid_host (const char *s, gsize len)
{
  if (len == 0 || len > MAX_HOST_BYTES + 2)
    return FALSE;
  if (s[0] == '[')
    return len > 2 && s[len - 1] == ']' && valid_ipv6 (s + 1, len - 2);
  if (len > MAX_HOST_BYTES)
    return FALSE;

  guint labels = 0, numeric = 0;
  gboolean last_numeric = FALSE;
  gsize start = 0;
  for (gsize i = 0; i <= len; i++) {
    if (i < len && s[i] != '.') {
      if (!g_ascii_isalnum (s[i]) && s[i] != '-')
        return FALSE;
      continue;
    }
    gsize llen = i - start;
    if (llen == 0 || llen > 63 || s[start] == '-' || s[i - 1] == '-')
      return FALSE;
    guint value = 0;
    last_numeric = TRUE;
    for (gsize k = start; k < i; k++) {
      if (!g_ascii_isdigit (s[k]))
        last_numeric = FALSE;
      else if (value < 1000)
        value = value * 10 + (guint)(s[k] - '0');
    }
    if (last_numeric) {
      numeric++;
      if (value > 255)
        return FALSE;
    }
    labels++;
    start = i + 1;
  }
  /* RFC 3261 toplabel starts with a letter; an all-digit name must be an IPv4 address */
  if (last_numeric)
    return numeric == 4 && labels == 4;
  return TRUE;
}

/* ---- SIP URIs (addressing.md §1) --------------------------------------------------------- */

typedef struct {
  GString *user; /* decoded user part (any octets), NULL when there is none */
  char *host;    /* lowercased */
  GString *gr;   /* decoded gr value, NULL when absent or valueless */
} SipUri;

static void
sip_uri_clear (SipUri *u)
{
  if (u->user != NULL)
    g_string_free (u->user, TRUE);
  if (u->gr != NULL)
    g_string_free (u->gr, TRUE);
  g_free (u->host);
  memset (u, 0, sizeof *u);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (SipUri, sip_uri_clear)

/* Parses "sip:" / "sips:" user [":" password] "@" host [":" port] *(";" param) ["?" headers].
 * Strict: no whitespace, no control or non-ASCII octet anywhere, every %HH valid. */
static gboolean
parse_sip_uri (const char *s, SipUri *u, PrlAddrError *err)
{
  if (s == NULL)
    return fail (err, &E_SIP_SYNTAX);
  for (const char *p = s; *p != '\0'; p++)
    if ((guchar)*p <= 0x20 || (guchar)*p >= 0x7f)
      return fail (err, &E_SIP_SYNTAX);

  /* scheme */
  const char *colon = strchr (s, ':');
  if (colon == NULL || colon == s || !g_ascii_isalpha (s[0]))
    return fail (err, &E_SIP_SYNTAX);
  for (const char *p = s; p < colon; p++)
    if (!g_ascii_isalnum (*p) && *p != '+' && *p != '-' && *p != '.')
      return fail (err, &E_SIP_SYNTAX);
  gsize scheme_len = (gsize)(colon - s);
  if (!((scheme_len == 3 && g_ascii_strncasecmp (s, "sip", 3) == 0)
        || (scheme_len == 4 && g_ascii_strncasecmp (s, "sips", 4) == 0)))
    return fail (err, &E_SCHEME);

  const char *p = colon + 1;

  /* userinfo: the user part never holds a raw '@' and nothing after the host may */
  const char *at = strchr (p, '@');
  if (at != NULL) {
    gsize ulen = (gsize)(at - p);
    if (ulen == 0 || !check_escaped (p, ulen, is_user_char))
      return fail (err, &E_SIP_SYNTAX); /* empty user, bad %HH, ':' password, ... */
    u->user = g_string_sized_new (ulen);
    pct_decode (u->user, p, ulen);
    p = at + 1;
    if (strchr (p, '@') != NULL)
      return fail (err, &E_SIP_SYNTAX);
  }

  /* host */
  const char *h = p;
  if (*p == '[') {
    const char *close = strchr (p, ']');
    if (close == NULL)
      return fail (err, &E_SIP_SYNTAX);
    p = close + 1;
  } else
    while (*p != '\0' && *p != ':' && *p != ';' && *p != '?')
      p++;
  if (!valid_host (h, (gsize)(p - h)))
    return fail (err, &E_SIP_SYNTAX);
  u->host = g_ascii_strdown (h, p - h);

  /* port (not part of the address: dropped) */
  if (*p == ':') {
    guint digits = 0, port = 0;
    for (p++; g_ascii_isdigit (*p); p++, digits++)
      port = port * 10 + (guint)(*p - '0');
    if (digits == 0 || digits > 5 || port > 65535)
      return fail (err, &E_SIP_SYNTAX);
  }

  /* parameters: only gr is kept (addressing.md §5) */
  while (*p == ';') {
    const char *name = ++p;
    while (*p != '\0' && *p != '=' && *p != ';' && *p != '?')
      p++;
    gsize nlen = (gsize)(p - name);
    if (nlen == 0 || !check_escaped (name, nlen, is_param_char))
      return fail (err, &E_SIP_SYNTAX);
    const char *value = NULL;
    gsize vlen = 0;
    if (*p == '=') {
      value = ++p;
      while (*p != '\0' && *p != ';' && *p != '?')
        p++;
      vlen = (gsize)(p - value);
      if (vlen == 0 || !check_escaped (value, vlen, is_param_char))
        return fail (err, &E_SIP_SYNTAX);
    }
    if (nlen == 2 && g_ascii_strncasecmp (name, "gr", 2) == 0) {
      if (u->gr != NULL)
        return fail (err, &E_SIP_SYNTAX); /* two gr parameters */
      if (value != NULL) {
        u->gr = g_string_sized_new (vlen);
        pct_decode (u->gr, value, vlen);
      }
    }
  }

  /* headers (dropped) */
  if (*p == '?') {
    p++;
    do {
      const char *hdr = p;
      while (*p != '\0' && *p != '&')
        p++;
      const char *eq = memchr (hdr, '=', (gsize)(p - hdr));
      if (eq == NULL || eq == hdr || !check_escaped (hdr, (gsize)(eq - hdr), is_header_char)
          || !check_escaped (eq + 1, (gsize)(p - eq - 1), is_header_char))
        return fail (err, &E_SIP_SYNTAX);
    } while (*p == '&' && *++p != '\0');
  }

  if (*p != '\0')
    return fail (err, &E_SIP_SYNTAX);
  return TRUE;
}

/* ---- JIDs (addressing.md §2) ------------------------------------------------------------- */

typedef struct {
  char *local;    /* as on the wire (escaped form), NULL when there is none */
  char *domain;   /* lowercased */
  char *resource; /* NULL for a bare JID */
} Jid;

static void
jid_clear (Jid *j)
{
  g_free (j->local);
  g_free (j->domain);
  g_free (j->resource);
  memset (j, 0, sizeof *j);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Jid, jid_clear)

/* TRUE if s[0..len) is UTF-8 without C0, DEL or C1 control characters (nor NUL). */
static gboolean
valid_text (const char *s, gsize len)
{
  if (!g_utf8_validate_len (s, len, NULL))
    return FALSE;
  for (const char *p = s; p < s + len; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
      return FALSE;
  }
  return TRUE;
}

/* localpart "@" domainpart ["/" resourcepart], RFC 7622 §3 plus the ASCII-host policy. */
static gboolean
parse_jid (const char *s, Jid *j, PrlAddrError *err)
{
  if (s == NULL || !valid_text (s, strlen (s)))
    return fail (err, &E_JID_SYNTAX);

  const char *slash = strchr (s, '/');
  gsize bare_len = slash != NULL ? (gsize)(slash - s) : strlen (s);
  if (slash != NULL) {
    gsize rlen = strlen (slash + 1);
    if (rlen == 0 || rlen > MAX_PART_BYTES)
      return fail (err, &E_JID_SYNTAX);
    j->resource = g_strdup (slash + 1);
  }

  const char *at = memchr (s, '@', bare_len);
  const char *d = s;
  if (at != NULL) {
    gsize llen = (gsize)(at - s);
    if (llen == 0)
      return fail (err, &E_JID_SYNTAX);
    for (gsize i = 0; i < llen; i++)
      if (strchr (" \"&'/:<>@", s[i]) != NULL)
        return fail (err, &E_JID_SYNTAX);
    if (llen > MAX_PART_BYTES)
      return fail (err, &E_LOCAL_LONG);
    j->local = g_strndup (s, llen);
    d = at + 1;
  }
  gsize dlen = bare_len - (gsize)(d - s);
  if (!valid_host (d, dlen)) /* also refuses a second '@' */
    return fail (err, &E_JID_SYNTAX);
  j->domain = g_ascii_strdown (d, dlen);
  return TRUE;
}

/* ---- user parts: XEP-0106 (addressing.md §4) ------------------------------------------- */

static const char escapable[] = " \"&'/:<>@\\";

/* The ten sequences, in the order of escapable[]; lowercase hex only (XEP-0106). */
static const char *const sequences[]
    = { "20", "22", "26", "27", "2f", "3a", "3c", "3e", "40", "5c" };

/* Returns the character the sequence at @s stands for ("\\27" -> '\''), or 0 when @s does
 * not start one of the ten. @s is NUL-terminated or has at least 3 bytes. */
static char
escape_sequence_at (const char *s)
{
  if (s[0] != '\\' || s[1] == '\0' || s[2] == '\0')
    return 0;
  for (guint i = 0; i < G_N_ELEMENTS (sequences); i++)
    if (s[1] == sequences[i][0] && s[2] == sequences[i][1])
      return escapable[i];
  return 0;
}

/* Decoded SIP user (any octets) -> JID localpart. Refuses what no localpart can hold. */
static gboolean
escape_local (const char *u, gsize len, GString *out, PrlAddrError *err)
{
  for (gsize i = 0; i < len; i++)
    if ((guchar)u[i] < 0x20 || u[i] == 0x7f)
      return fail (err, &E_USER_CONTROL);
  if (!g_utf8_validate_len (u, len, NULL))
    return fail (err, &E_USER_UTF8);
  if (!valid_text (u, len))
    return fail (err, &E_USER_CONTROL); /* C1 controls */
  if (len > 0 && (u[0] == ' ' || u[len - 1] == ' '))
    return fail (err, &E_USER_SPACE); /* XEP-0106: \20 never first or last */

  gsize start = out->len;
  for (gsize i = 0; i < len; i++) {
    char c = u[i];
    gboolean escape;
    if (c == '\\')
      escape = i + 2 < len && escape_sequence_at (u + i) != 0;
    else
      escape = strchr (escapable, c) != NULL;
    if (escape)
      g_string_append_printf (out, "\\%02x", (guint)(guchar)c);
    else
      g_string_append_c (out, c);
  }
  if (out->len - start > MAX_PART_BYTES)
    return fail (err, &E_LOCAL_LONG);
  return TRUE;
}

/* JID localpart -> the text it stands for: only the ten sequences are undone. */
static void
unescape_local (const char *l, GString *out)
{
  for (const char *p = l; *p != '\0'; p++) {
    char c = escape_sequence_at (p);
    if (c != 0) {
      g_string_append_c (out, c);
      p += 2;
    } else
      g_string_append_c (out, *p);
  }
}

/* JID localpart -> SIP text, refusing a localpart that is not the canonical escaped form of
 * that text (so that mapping it back gives the same JID: addressing.md §4.4). */
static gboolean
unescape_canonical (const char *l, GString *out, PrlAddrError *err)
{
  g_autoptr (GString) again = g_string_new (NULL);
  PrlAddrError ignored;

  unescape_local (l, out);
  if (!escape_local (out->str, out->len, again, &ignored) || strcmp (again->str, l) != 0)
    return fail (err, &E_NOT_CANONICAL);
  return TRUE;
}

/* ---- resources and gr (addressing.md §5) ------------------------------------------------- */

static gboolean
append_resource (GString *jid, const GString *gr, PrlAddrError *err)
{
  if (gr == NULL)
    return TRUE;
  if (gr->len > MAX_PART_BYTES || !valid_text (gr->str, gr->len))
    return fail (err, &E_GR);
  g_string_append_c (jid, '/');
  g_string_append_len (jid, gr->str, gr->len);
  return TRUE;
}

static void
append_gr (GString *uri, const char *resource)
{
  if (resource == NULL)
    return;
  g_string_append (uri, ";gr=");
  pct_encode (uri, resource, strlen (resource), is_param_char);
}

/* ---- domain rules (addressing.md §8) ----------------------------------------------------- */

static const PrlDomainRule *
rule_by_xmpp (const PrlCoreConfig *config, const char *domain)
{
  for (guint i = 0; config->domains != NULL && i < config->domains->len; i++) {
    const PrlDomainRule *r = g_ptr_array_index (config->domains, i);
    if (r->xmpp_domain != NULL && g_ascii_strcasecmp (r->xmpp_domain, domain) == 0)
      return r;
  }
  return NULL;
}

static const PrlDomainRule *
escaped_by_sip (const PrlCoreConfig *config, const char *domain)
{
  for (guint i = 0; config->domains != NULL && i < config->domains->len; i++) {
    const PrlDomainRule *r = g_ptr_array_index (config->domains, i);
    if (r->mode == PRL_ADDR_ESCAPED && r->sip_domain != NULL
        && g_ascii_strcasecmp (r->sip_domain, domain) == 0)
      return r;
  }
  return NULL;
}

/* A domain Parley itself stands for: no XMPP user can live there (addressing.md §8.4). */
static gboolean
is_gateway_domain (const PrlCoreConfig *config, const char *domain)
{
  return rule_by_xmpp (config, domain) != NULL || escaped_by_sip (config, domain) != NULL;
}

static gboolean
in_list (char **list, const char *domain)
{
  if (list == NULL)
    return TRUE;
  for (char **p = list; *p != NULL; p++)
    if (g_ascii_strcasecmp (*p, domain) == 0)
      return TRUE;
  return FALSE;
}

/* ---- SIP -> XMPP ------------------------------------------------------------------------- */

/* addressing.md §6.1 / §7.1: the SIP user alice@host as a JID under @rule. */
static gboolean
sip_user_to_jid (const PrlDomainRule *rule, const SipUri *u, GString *jid, PrlAddrError *err)
{
  if (rule->mode == PRL_ADDR_DIRECT) {
    if (!escape_local (u->user->str, u->user->len, jid, err))
      return FALSE;
    g_string_append_printf (jid, "@%s", u->host);
  } else {
    g_autoptr (GString) whole = g_string_new_len (u->user->str, u->user->len);
    g_string_append_printf (whole, "@%s", u->host);
    if (!escape_local (whole->str, whole->len, jid, err))
      return FALSE;
    g_autofree char *gw = g_ascii_strdown (rule->xmpp_domain, -1);
    g_string_append_printf (jid, "@%s", gw);
  }
  return append_resource (jid, u->gr, err);
}

gboolean
prl_addr_sip_to_xmpp (const PrlCoreConfig *config, const char *from_uri, const char *to_uri,
                      char **from_jid, char **to_jid, PrlAddrError *err)
{
  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (from_jid != NULL && to_jid != NULL && err != NULL, FALSE);
  *from_jid = *to_jid = NULL;

  g_auto (SipUri) from = { 0 };
  g_auto (SipUri) to = { 0 };
  if (!parse_sip_uri (from_uri, &from, err) || !parse_sip_uri (to_uri, &to, err))
    return FALSE;
  if (to.user == NULL)
    return fail (err, &E_NO_USER);
  if (from.user == NULL)
    return fail (err, &E_SENDER_NO_USER);

  g_autoptr (GString) fj = g_string_new (NULL);
  g_autoptr (GString) tj = g_string_new (NULL);
  const PrlDomainRule *rule = escaped_by_sip (config, to.host);

  if (rule != NULL) {
    /* §7.1: To is user%40xmpp-domain@S; From is any SIP user */
    if (escaped_by_sip (config, from.host) != NULL || !in_list (config->sip_domains, from.host))
      return fail (err, &E_SENDER_DOMAIN);
    const char *sep = g_strrstr_len (to.user->str, (gssize)to.user->len, "@");
    if (sep == NULL || sep == to.user->str)
      return fail (err, &E_NOT_ESC_XMPP);
    const char *d = sep + 1;
    gsize dlen = to.user->len - (gsize)(d - to.user->str);
    if (!valid_host (d, dlen))
      return fail (err, &E_NOT_ESC_XMPP);
    g_autofree char *domain = g_ascii_strdown (d, (gssize)dlen);
    if (rule_by_xmpp (config, domain) != NULL)
      return fail (err, &E_LOOP);
    if (!escape_local (to.user->str, (gsize)(sep - to.user->str), tj, err))
      return FALSE;
    g_string_append_printf (tj, "@%s", domain);
    if (!append_resource (tj, to.gr, err))
      return FALSE;
  } else {
    /* §6.1: To is an XMPP user; From is a SIP user of a direct domain */
    if (rule_by_xmpp (config, to.host) != NULL)
      return fail (err, &E_LOOP);
    rule = rule_by_xmpp (config, from.host);
    if (rule == NULL || rule->mode != PRL_ADDR_DIRECT)
      return fail (err, &E_SENDER_DOMAIN);
    if (!in_list (config->xmpp_domains, to.host))
      return fail (err, &E_NOT_SERVED);
    if (!escape_local (to.user->str, to.user->len, tj, err))
      return FALSE;
    g_string_append_printf (tj, "@%s", to.host);
    if (!append_resource (tj, to.gr, err))
      return FALSE;
  }

  if (!sip_user_to_jid (rule, &from, fj, err))
    return FALSE;
  *from_jid = g_string_free (g_steal_pointer (&fj), FALSE);
  *to_jid = g_string_free (g_steal_pointer (&tj), FALSE);
  return TRUE;
}

/* ---- XMPP -> SIP ------------------------------------------------------------------------- */

gboolean
prl_addr_xmpp_to_sip (const PrlCoreConfig *config, const char *from_jid, const char *to_jid,
                      char **from_uri, char **to_uri, PrlAddrError *err)
{
  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (from_uri != NULL && to_uri != NULL && err != NULL, FALSE);
  *from_uri = *to_uri = NULL;

  g_auto (Jid) from = { 0 };
  g_auto (Jid) to = { 0 };
  if (!parse_jid (from_jid, &from, err) || !parse_jid (to_jid, &to, err))
    return FALSE;
  if (to.local == NULL)
    return fail (err, &E_NO_USER);
  if (from.local == NULL)
    return fail (err, &E_SENDER_NO_USER);
  const PrlDomainRule *rule = rule_by_xmpp (config, to.domain); /* §8.2 */
  if (rule == NULL)
    return fail (err, &E_NOT_SERVED);
  if (is_gateway_domain (config, from.domain)
      || (rule->mode == PRL_ADDR_DIRECT && !in_list (config->xmpp_domains, from.domain)))
    return fail (err, &E_SENDER_DOMAIN);

  g_autoptr (GString) to_text = g_string_new (NULL);
  g_autoptr (GString) from_text = g_string_new (NULL);
  if (!unescape_canonical (to.local, to_text, err)
      || !unescape_canonical (from.local, from_text, err))
    return FALSE;

  g_autoptr (GString) tu = g_string_new ("sip:");
  g_autoptr (GString) fu = g_string_new ("sip:");
  if (rule->mode == PRL_ADDR_DIRECT) {
    /* §6.2 */
    pct_encode (tu, to_text->str, to_text->len, is_user_char);
    g_string_append_printf (tu, "@%s", to.domain);
    pct_encode (fu, from_text->str, from_text->len, is_user_char);
    g_string_append_printf (fu, "@%s", from.domain);
  } else {
    /* §7.2: the To localpart stands for user@host, split at its last '@' */
    const char *sep = strrchr (to_text->str, '@');
    if (sep == NULL || sep == to_text->str || !valid_host (sep + 1, strlen (sep + 1)))
      return fail (err, &E_NOT_ESC_SIP);
    g_autofree char *host = g_ascii_strdown (sep + 1, -1);
    if (escaped_by_sip (config, host) != NULL)
      return fail (err, &E_LOOP);
    if (!in_list (config->sip_domains, host))
      return fail (err, &E_NOT_SERVED);
    pct_encode (tu, to_text->str, (gsize)(sep - to_text->str), is_user_char);
    g_string_append_printf (tu, "@%s", host);

    g_string_append_printf (from_text, "@%s", from.domain);
    pct_encode (fu, from_text->str, from_text->len, is_user_char);
    g_autofree char *gw = g_ascii_strdown (rule->sip_domain, -1);
    g_string_append_printf (fu, "@%s", gw);
  }
  append_gr (tu, to.resource);
  append_gr (fu, from.resource);

  *from_uri = g_string_free (g_steal_pointer (&fu), FALSE);
  *to_uri = g_string_free (g_steal_pointer (&tu), FALSE);
  return TRUE;
}

gboolean
prl_addr_jid_is_full (const char *jid)
{
  g_return_val_if_fail (jid != NULL, FALSE);
  return strchr (jid, '/') != NULL;
}
