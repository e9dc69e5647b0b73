/* gateway/message-map.c - page-mode field rules: body decoding, header safety, chunking.
 *
 * DESIGN. Everything here is a pure function of its arguments, so gateway/core.c can stay a
 * small state machine and the unit tests (gateway/tests/test-message-map.c) can hammer the
 * tricky parts directly:
 * - body decoding (SIP -> XMPP): text/plain in any charset GLib can convert, message/cpim
 *   unwrapped to its text/plain entity; the result must be UTF-8 made of XML 1.0 characters,
 *   because it becomes element content of a <body/>;
 * - the size estimate of a MESSAGE we send: the header lines the core controls, plus a fixed
 *   reserve for what the SIP stack adds (Via, Max-Forwards, tags), plus the body;
 * - the chunk planner: a greedy walk that gives every part the largest slice that fits,
 *   backed off to a UTF-8 boundary and, if possible, to just after a whitespace, so that the
 *   concatenation of the slices is the original body byte for byte.
 * Rules: mapping-docs/page-mode.md §3 (body), §4 (CPIM), §9 (headers), §10 (chunking).
 */
#include "gateway/message-map.h"

#include "gateway/cpim.h"

#include <string.h>

/* ---------------------------------------------------------------- content type, charset */

static gboolean
is_token_char (guchar c)
{
  return g_ascii_isalnum (c) || strchr ("!#$%&'*+-.^_`|~", c) != NULL;
}

static const char *
skip_ws (const char *p)
{
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

/* Reads a token at @p; returns its end, or @p if there is none. */
static const char *
scan_token (const char *p)
{
  while (*p != '\0' && is_token_char ((guchar)*p))
    p++;
  return p;
}

gboolean
prl_message_map_parse_content_type (const char *value, char **media_type, char **charset)
{
  g_return_val_if_fail (value != NULL && media_type != NULL && charset != NULL, FALSE);
  *media_type = NULL;
  *charset = NULL;

  const char *p = skip_ws (value);
  const char *type_end = scan_token (p);
  if (type_end == p || *type_end != '/')
    return FALSE;
  const char *sub = type_end + 1;
  const char *sub_end = scan_token (sub);
  if (sub_end == sub)
    return FALSE;
  g_autofree char *media = g_ascii_strdown (p, sub_end - p);
  g_autofree char *found = NULL;

  p = skip_ws (sub_end);
  while (*p == ';') {
    p = skip_ws (p + 1);
    const char *name_end = scan_token (p);
    if (name_end == p)
      return FALSE;
    gboolean is_charset = (name_end - p == 7 && g_ascii_strncasecmp (p, "charset", 7) == 0);
    p = skip_ws (name_end);
    if (*p != '=')
      return FALSE;
    p = skip_ws (p + 1);
    g_autoptr (GString) v = g_string_new (NULL);
    if (*p == '"') {
      for (p++; *p != '"'; p++) {
        if (*p == '\0')
          return FALSE;
        if (*p == '\\' && p[1] != '\0')
          p++;
        g_string_append_c (v, *p);
      }
      p++;
    } else {
      const char *v_end = scan_token (p);
      if (v_end == p)
        return FALSE;
      g_string_append_len (v, p, v_end - p);
      p = v_end;
    }
    if (is_charset && found == NULL)
      found = g_string_free (g_steal_pointer (&v), FALSE);
    p = skip_ws (p);
  }
  if (*p != '\0')
    return FALSE;
  *media_type = g_steal_pointer (&media);
  *charset = g_steal_pointer (&found);
  return TRUE;
}

static gboolean
is_xml_char (gunichar c)
{
  return c == 0x9 || c == 0xa || c == 0xd || (c >= 0x20 && c <= 0xd7ff)
         || (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);
}

PrlBodyStatus
prl_message_map_check_xml_text (const char *s, gsize len)
{
  g_return_val_if_fail (s != NULL || len == 0, PRL_BODY_BAD_ENCODING);
  const char *p = s;
  const char *end = s + len;
  PrlBodyStatus status = PRL_BODY_OK;
  while (p < end) {
    if (*p == '\0') { /* GLib reports NUL as a partial sequence: it is a bad character */
      status = PRL_BODY_ILLEGAL_CHAR;
      p++;
      continue;
    }
    gunichar c = g_utf8_get_char_validated (p, end - p);
    if (c == (gunichar)-1 || c == (gunichar)-2)
      return PRL_BODY_BAD_ENCODING; /* an encoding error wins over a bad character */
    if (!is_xml_char (c))
      status = PRL_BODY_ILLEGAL_CHAR;
    p = g_utf8_next_char (p);
  }
  return status;
}

static gboolean
charset_name_is_sane (const char *name)
{
  gsize n = strlen (name);
  if (n == 0 || n > 40)
    return FALSE;
  for (gsize i = 0; i < n; i++)
    if (!g_ascii_isalnum (name[i]) && strchr ("._:-", name[i]) == NULL)
      return FALSE;
  return TRUE;
}

/* Converts @len bytes in @charset (NULL = UTF-8) to UTF-8; sets *out (transfer full). */
static PrlBodyStatus
to_utf8 (const char *charset, const char *body, gsize len, char **out, gsize *out_len)
{
  if (charset == NULL || g_ascii_strcasecmp (charset, "utf-8") == 0
      || g_ascii_strcasecmp (charset, "utf8") == 0) {
    *out = g_strndup (body, len);
    *out_len = len;
    return PRL_BODY_OK;
  }
  if (g_ascii_strcasecmp (charset, "us-ascii") == 0 || g_ascii_strcasecmp (charset, "ascii") == 0) {
    for (gsize i = 0; i < len; i++)
      if ((guchar)body[i] >= 0x80)
        return PRL_BODY_BAD_ENCODING;
    *out = g_strndup (body, len);
    *out_len = len;
    return PRL_BODY_OK;
  }
  if (!charset_name_is_sane (charset))
    return PRL_BODY_UNKNOWN_CHARSET;

  /* open the converter first: g_convert() reports an unknown charset like a bad sequence */
  GIConv cd = g_iconv_open ("UTF-8", charset);
  if (cd == (GIConv)-1)
    return PRL_BODY_UNKNOWN_CHARSET;
  gsize read = 0, written = 0;
  char *converted = g_convert_with_iconv (body, (gssize)len, cd, &read, &written, NULL);
  g_iconv_close (cd);
  if (converted == NULL)
    return PRL_BODY_BAD_ENCODING;
  *out = converted;
  *out_len = written;
  return PRL_BODY_OK;
}

/* A CPIM Subject: value ("Subject: hi", "Subject:;lang=fr salut") usable as an XMPP subject. */
static char *
cpim_subject (const PrlCpimMessage *cpim)
{
  const char *v = prl_cpim_message_get_header (cpim, "Subject");
  if (v == NULL)
    return NULL;
  if (*v == ';') { /* ;lang=xx parameter before the text */
    const char *sp = strchr (v, ' ');
    if (sp == NULL)
      return NULL;
    v = sp + 1;
  }
  if (*v == '\0' || !prl_message_map_header_is_safe (v)
      || prl_message_map_check_xml_text (v, strlen (v)) != PRL_BODY_OK)
    return NULL;
  return g_strdup (v);
}

PrlBodyStatus
prl_message_map_sip_body (const char *content_type, const char *body, gsize len, gsize max_bytes,
                          char **text, char **subject)
{
  g_return_val_if_fail (text != NULL && subject != NULL, PRL_BODY_EMPTY);
  g_return_val_if_fail (body != NULL || len == 0, PRL_BODY_EMPTY);
  *text = NULL;
  *subject = NULL;

  if (len > max_bytes)
    return PRL_BODY_TOO_BIG;
  if (len == 0)
    return PRL_BODY_EMPTY;

  g_autofree char *media = NULL;
  g_autofree char *charset = NULL;
  if (!prl_message_map_parse_content_type (content_type != NULL ? content_type : "text/plain",
                                           &media, &charset))
    return PRL_BODY_UNSUPPORTED;

  g_autoptr (PrlCpimMessage) cpim = NULL;
  g_autofree char *found_subject = NULL;
  if (strcmp (media, "message/cpim") == 0) {
    cpim = prl_cpim_parse (body, len, NULL);
    if (cpim == NULL)
      return PRL_BODY_BAD_CPIM;
    g_clear_pointer (&media, g_free);
    g_clear_pointer (&charset, g_free);
    if (!prl_message_map_parse_content_type (cpim->content_type, &media, &charset))
      return PRL_BODY_UNSUPPORTED;
    body = cpim->body;
    len = cpim->body_len;
    if (len == 0)
      return PRL_BODY_EMPTY;
    found_subject = cpim_subject (cpim);
  }
  if (strcmp (media, "text/plain") != 0)
    return PRL_BODY_UNSUPPORTED;

  g_autofree char *utf8 = NULL;
  gsize utf8_len = 0;
  PrlBodyStatus status = to_utf8 (charset, body, len, &utf8, &utf8_len);
  if (status != PRL_BODY_OK)
    return status;
  status = prl_message_map_check_xml_text (utf8, utf8_len);
  if (status != PRL_BODY_OK)
    return status;
  if (utf8_len > max_bytes) /* conversion may grow the text */
    return PRL_BODY_TOO_BIG;
  *text = g_steal_pointer (&utf8);
  *subject = g_steal_pointer (&found_subject);
  return PRL_BODY_OK;
}

/* ---------------------------------------------------------------- header-level checks */

gboolean
prl_message_map_header_is_safe (const char *s)
{
  if (s == NULL)
    return TRUE;
  if (!g_utf8_validate (s, -1, NULL))
    return FALSE;
  for (const guchar *p = (const guchar *)s; *p != '\0'; p++)
    if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
      return FALSE;
  return TRUE;
}

gboolean
prl_message_map_lang_is_valid (const char *tag)
{
  if (tag == NULL)
    return FALSE;
  gsize n = strlen (tag);
  if (n == 0 || n > 64)
    return FALSE;
  gsize run = 0;
  gboolean first = TRUE;
  for (gsize i = 0; i <= n; i++) {
    char c = tag[i];
    if (c == '-' || c == '\0') {
      if (run == 0 || run > 8)
        return FALSE;
      run = 0;
      first = FALSE;
      continue;
    }
    if (first ? !g_ascii_isalpha (c) : !g_ascii_isalnum (c))
      return FALSE;
    run++;
  }
  return TRUE;
}

/* RFC 3261 §25.1 word characters (Call-ID). */
static gboolean
is_word_char (guchar c)
{
  return g_ascii_isalnum (c) || (c != '\0' && strchr ("-.!%*_+`'~()<>:\\\"/[]?{}", c) != NULL);
}

gboolean
prl_message_map_call_id_is_valid (const char *s)
{
  if (s == NULL)
    return FALSE;
  gsize n = strlen (s);
  if (n == 0 || n > PRL_MESSAGE_MAP_CALL_ID_MAX)
    return FALSE;
  gboolean seen_at = FALSE;
  gsize run = 0;
  for (gsize i = 0; i < n; i++) {
    guchar c = (guchar)s[i];
    if (c == '@' && !seen_at) {
      if (run == 0)
        return FALSE;
      seen_at = TRUE;
      run = 0;
      continue;
    }
    if (!is_word_char (c))
      return FALSE;
    run++;
  }
  return run > 0;
}

char *
prl_message_map_call_id_from_thread (const char *thread)
{
  if (thread == NULL || *thread == '\0')
    return NULL;
  if (prl_message_map_call_id_is_valid (thread))
    return g_strdup (thread);
  GString *out = g_string_new (NULL);
  for (const guchar *p = (const guchar *)thread; *p != '\0'; p++) {
    if (is_word_char (*p))
      g_string_append_c (out, (char)*p);
    else
      g_string_append_printf (out, "%%%02X", *p);
  }
  if (out->len > PRL_MESSAGE_MAP_CALL_ID_MAX) {
    g_string_free (out, TRUE);
    return g_compute_checksum_for_string (G_CHECKSUM_SHA256, thread, -1);
  }
  return g_string_free (out, FALSE);
}

/* ---------------------------------------------------------------- size and chunking */

char *
prl_message_map_format_marker (const char *format, guint part, guint parts)
{
  GString *out = g_string_new (NULL);
  guint used = 0;
  for (const char *p = format != NULL ? format : ""; *p != '\0'; p++) {
    if (p[0] == '%' && p[1] == '%') {
      g_string_append_c (out, '%');
      p++;
    } else if (p[0] == '%' && p[1] == 'u' && used < 2) {
      g_string_append_printf (out, "%u", used == 0 ? part : parts);
      used++;
      p++;
    } else {
      g_string_append_c (out, *p);
    }
  }
  return g_string_free (out, FALSE);
}

static gsize
digits (gsize n)
{
  gsize d = 1;
  while (n >= 10) {
    n /= 10;
    d++;
  }
  return d;
}

static gsize
line_len (const char *name, const char *value)
{
  return value != NULL ? strlen (name) + 2 + strlen (value) + 2 : 0; /* "Name: value\r\n" */
}

/* Every byte of the estimate except the Content-Length value and the body. */
static gsize
fixed_size (const PrlSipMessage *m, gsize reserve)
{
  gsize n = strlen ("MESSAGE ") + (m->request_uri ? strlen (m->request_uri) : 0)
            + strlen (" SIP/2.0\r\n");
  n += m->from != NULL ? strlen ("From: <>\r\n") + strlen (m->from) : 0;
  n += m->to != NULL ? strlen ("To: <>\r\n") + strlen (m->to) : 0;
  n += line_len ("Call-ID", m->call_id);
  n += strlen ("CSeq:  MESSAGE\r\n") + digits (m->cseq);
  n += line_len ("Subject", m->subject);
  n += line_len ("Content-Type", m->content_type);
  n += line_len ("Content-Language", m->content_language);
  n += line_len ("Date", m->date);
  n += strlen ("Content-Length: \r\n") + strlen ("\r\n");
  return n + reserve;
}

gsize
prl_message_map_estimate (const PrlSipMessage *m, gsize header_reserve)
{
  g_return_val_if_fail (m != NULL, 0);
  return fixed_size (m, header_reserve) + digits (m->body_len) + m->body_len;
}

/* Largest body length whose request fits in @limit with cseq @k, or -1. */
static gssize
max_body (const PrlSipMessage *tmpl, gsize reserve, gsize limit, guint k)
{
  PrlSipMessage m = *tmpl;
  m.cseq = k;
  gsize fixed = fixed_size (&m, reserve);
  if (limit < fixed + 1)
    return -1;
  gsize b = limit - fixed - 1; /* assumes a 1-digit length, then backs off */
  while (b > 0 && fixed + digits (b) + b > limit)
    b--;
  return fixed + digits (b) + b <= limit ? (gssize)b : -1;
}

static gboolean
is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* One greedy pass assuming @assumed parts; returns the cuts or NULL if a part cannot hold a
 * single character. */
static GArray *
plan_pass (const PrlSipMessage *tmpl, gsize reserve, gsize limit, const char *marker_format,
           const char *body, gsize len, guint assumed)
{
  g_autoptr (GArray) cuts = g_array_new (FALSE, FALSE, sizeof (gsize));
  gsize pos = 0;
  g_array_append_val (cuts, pos);
  for (guint k = 1; pos < len; k++) {
    if (k == G_MAXUINT)
      return NULL;
    gssize room = max_body (tmpl, reserve, limit, k);
    g_autofree char *marker = prl_message_map_format_marker (marker_format, k, assumed);
    gsize mlen = strlen (marker);
    if (room < 0 || (gsize)room <= mlen)
      return NULL;
    gsize budget = (gsize)room - mlen;
    gsize cut;
    if (len - pos <= budget) {
      cut = len;
    } else {
      cut = pos + budget;
      while (cut > pos && ((guchar)body[cut] & 0xc0) == 0x80)
        cut--;
      if (cut == pos)
        return NULL;
      /* prefer a cut just after whitespace in the second half of the budget */
      for (gsize i = cut; i > pos + budget / 2; i--) {
        if (is_space (body[i - 1])) {
          cut = i;
          break;
        }
      }
    }
    g_array_append_val (cuts, cut);
    pos = cut;
  }
  return g_steal_pointer (&cuts);
}

GArray *
prl_message_map_plan_chunks (const PrlSipMessage *tmpl, gsize header_reserve, gsize limit,
                             const char *marker_format, const char *body, gsize len)
{
  g_return_val_if_fail (tmpl != NULL && (body != NULL || len == 0), NULL);

  PrlSipMessage whole = *tmpl;
  whole.cseq = 1;
  whole.body_len = len;
  if (prl_message_map_estimate (&whole, header_reserve) <= limit) {
    GArray *cuts = g_array_new (FALSE, FALSE, sizeof (gsize));
    gsize zero = 0;
    g_array_append_val (cuts, zero);
    g_array_append_val (cuts, len);
    return cuts;
  }
  if (len == 0)
    return NULL; /* not even the headers fit */

  /* Markers must name the real number of parts, which depends on the markers' own length.
   * Plan with an assumed count; if more parts come out, assume that many and plan again.
   * Fewer parts than assumed are fine: their markers are no longer than the assumed ones. */
  guint assumed = 2;
  for (;;) {
    g_autoptr (GArray) cuts
        = plan_pass (tmpl, header_reserve, limit, marker_format, body, len, assumed);
    if (cuts == NULL)
      return NULL;
    guint count = cuts->len - 1;
    if (count <= assumed)
      return g_steal_pointer (&cuts);
    assumed = count;
  }
}

PrlSipMessage *
prl_message_map_make_part (const PrlSipMessage *tmpl, gsize header_reserve,
                           const char *marker_format, const char *body, const GArray *cuts, guint k)
{
  g_return_val_if_fail (tmpl != NULL && cuts != NULL, NULL);
  g_return_val_if_fail (k >= 1 && k < cuts->len, NULL);

  guint parts = cuts->len - 1;
  gsize start = g_array_index (cuts, gsize, k - 1);
  gsize end = g_array_index (cuts, gsize, k);
  PrlSipMessage *m = prl_sip_message_dup (tmpl);
  m->cseq = k;
  m->part = k;
  m->parts = parts;
  if (parts == 1) {
    prl_sip_message_set_body (m, body + start, end - start);
  } else {
    g_autofree char *marker = prl_message_map_format_marker (marker_format, k, parts);
    g_autoptr (GString) text = g_string_new (marker);
    g_string_append_len (text, body + start, (gssize)(end - start));
    prl_sip_message_set_body (m, text->str, text->len);
  }
  m->size_estimate = prl_message_map_estimate (m, header_reserve);
  return m;
}
