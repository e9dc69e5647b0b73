/* gateway/cpim.c - message/cpim parser (RFC 3862; STANDARDS.md §5.9).
 *
 * Layout of a CPIM body: CPIM message headers ("Name: value", one per line), a blank line,
 * the encapsulated MIME entity's headers, a blank line, the entity body. Line ends are CRLF;
 * a bare LF is accepted too. Header values are kept raw (escapes are not decoded): the core
 * only reads the entity's Content-Type and, optionally, Subject. Header lines without a colon,
 * with an empty name, or with control characters are refused, so nothing odd can leak into a
 * header we later emit. Folded (continuation) lines are refused: CPIM forbids them.
 * Ownership: the returned PrlCpimMessage owns copies of everything; the input is borrowed.
 * Rules: mapping-docs/page-mode.md §4.
 */
#include "gateway/cpim.h"

#include <string.h>

/* clang-format off */
G_DEFINE_QUARK (prl-cpim-error-quark, prl_cpim_error)
/* clang-format on */

static void
header_free (PrlCpimHeader *h)
{
  if (h == NULL)
    return;
  g_free (h->name);
  g_free (h->value);
  g_free (h);
}

void
prl_cpim_message_free (PrlCpimMessage *msg)
{
  if (msg == NULL)
    return;
  g_clear_pointer (&msg->headers, g_ptr_array_unref);
  g_clear_pointer (&msg->mime_headers, g_ptr_array_unref);
  g_free (msg->content_type);
  g_free (msg->body);
  g_free (msg);
}

/* Finds the end of the line starting at @pos: returns the index of its terminator (the CR of
 * CRLF or the LF) and sets *next to the start of the next line; FALSE if no terminator. */
static gboolean
find_line (const char *data, gsize len, gsize pos, gsize *end, gsize *next)
{
  const char *lf = memchr (data + pos, '\n', len - pos);
  if (lf == NULL)
    return FALSE;
  gsize at = (gsize)(lf - data);
  *next = at + 1;
  *end = (at > pos && data[at - 1] == '\r') ? at - 1 : at;
  return TRUE;
}

static gboolean
is_name_char (guchar c)
{
  /* RFC 3862 header names: token characters; '.' separates a namespace prefix */
  return g_ascii_isalnum (c) || strchr ("-_.!%*+`'~", c) != NULL;
}

/* Parses one "Name: value" line of @len bytes into a header. */
static PrlCpimHeader *
parse_header (const char *line, gsize len, GError **error)
{
  gsize colon = 0;
  while (colon < len && is_name_char ((guchar)line[colon]))
    colon++;
  if (colon == 0 || colon >= len || line[colon] != ':') {
    g_set_error (error, PRL_CPIM_ERROR, PRL_CPIM_ERROR_MALFORMED, "bad CPIM header line");
    return NULL;
  }
  for (gsize i = colon + 1; i < len; i++) {
    guchar c = (guchar)line[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      g_set_error (error, PRL_CPIM_ERROR, PRL_CPIM_ERROR_MALFORMED,
                   "control character in CPIM header");
      return NULL;
    }
  }
  gsize v = colon + 1;
  while (v < len && (line[v] == ' ' || line[v] == '\t'))
    v++;
  gsize vend = len;
  while (vend > v && (line[vend - 1] == ' ' || line[vend - 1] == '\t'))
    vend--;
  PrlCpimHeader *h = g_new0 (PrlCpimHeader, 1);
  h->name = g_strndup (line, colon);
  h->value = g_strndup (line + v, vend - v);
  return h;
}

/* Reads a header block from @*pos up to and including its blank line. */
static GPtrArray *
parse_block (const char *data, gsize len, gsize *pos, GError **error)
{
  g_autoptr (GPtrArray) headers = g_ptr_array_new_with_free_func ((GDestroyNotify)header_free);
  for (;;) {
    gsize end, next;
    if (!find_line (data, len, *pos, &end, &next)) {
      g_set_error (error, PRL_CPIM_ERROR, PRL_CPIM_ERROR_MALFORMED,
                   "CPIM header block not terminated by a blank line");
      return NULL;
    }
    if (end == *pos) { /* blank line */
      *pos = next;
      return g_steal_pointer (&headers);
    }
    if (data[*pos] == ' ' || data[*pos] == '\t') {
      g_set_error (error, PRL_CPIM_ERROR, PRL_CPIM_ERROR_MALFORMED, "folded CPIM header line");
      return NULL;
    }
    if (headers->len >= PRL_CPIM_MAX_HEADERS) {
      g_set_error (error, PRL_CPIM_ERROR, PRL_CPIM_ERROR_TOO_MANY_HEADERS, "too many CPIM headers");
      return NULL;
    }
    PrlCpimHeader *h = parse_header (data + *pos, end - *pos, error);
    if (h == NULL)
      return NULL;
    g_ptr_array_add (headers, h);
    *pos = next;
  }
}

static const char *
find_header (const GPtrArray *headers, const char *name, gboolean case_sensitive)
{
  if (headers == NULL)
    return NULL;
  for (guint i = 0; i < headers->len; i++) {
    const PrlCpimHeader *h = g_ptr_array_index (headers, i);
    if (case_sensitive ? strcmp (h->name, name) == 0 : g_ascii_strcasecmp (h->name, name) == 0)
      return h->value;
  }
  return NULL;
}

PrlCpimMessage *
prl_cpim_parse (const char *data, gsize len, GError **error)
{
  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autoptr (PrlCpimMessage) msg = g_new0 (PrlCpimMessage, 1);
  gsize pos = 0;
  if (len == 0) {
    g_set_error (error, PRL_CPIM_ERROR, PRL_CPIM_ERROR_MALFORMED, "empty CPIM body");
    return NULL;
  }
  msg->headers = parse_block (data, len, &pos, error);
  if (msg->headers == NULL)
    return NULL;
  if (msg->headers->len == 0) {
    g_set_error (error, PRL_CPIM_ERROR, PRL_CPIM_ERROR_MALFORMED, "no CPIM message headers");
    return NULL;
  }
  msg->mime_headers = parse_block (data, len, &pos, error);
  if (msg->mime_headers == NULL)
    return NULL;
  const char *ct = find_header (msg->mime_headers, "Content-Type", FALSE);
  if (ct == NULL || *ct == '\0') {
    g_set_error (error, PRL_CPIM_ERROR, PRL_CPIM_ERROR_NO_CONTENT_TYPE,
                 "encapsulated entity without Content-Type");
    return NULL;
  }
  msg->content_type = g_strdup (ct);
  msg->body_len = len - pos;
  msg->body = g_malloc (msg->body_len + 1);
  if (msg->body_len > 0)
    memcpy (msg->body, data + pos, msg->body_len);
  msg->body[msg->body_len] = '\0';
  return g_steal_pointer (&msg);
}

const char *
prl_cpim_message_get_header (const PrlCpimMessage *msg, const char *name)
{
  g_return_val_if_fail (msg != NULL && name != NULL, NULL);
  return find_header (msg->headers, name, TRUE);
}

const char *
prl_cpim_message_get_mime_header (const PrlCpimMessage *msg, const char *name)
{
  g_return_val_if_fail (msg != NULL && name != NULL, NULL);
  return find_header (msg->mime_headers, name, FALSE);
}

char *
prl_cpim_build (const char *from, const char *to, const char *datetime, const char *content_type,
                const char *body, gsize len, gsize *out_len)
{
  return prl_cpim_build_full (from, to, datetime, NULL, NULL, content_type, body, len, out_len);
}

char *
prl_cpim_build_full (const char *from, const char *to, const char *datetime, const char *subject,
                     const char *message_id, const char *content_type, const char *body, gsize len,
                     gsize *out_len)
{
  g_return_val_if_fail (from != NULL && to != NULL && content_type != NULL, NULL);
  /* plain appends, no printf: this runs once per pushed message (chat.md §12) */
  GString *s = g_string_sized_new (len + 240);
  g_string_append (s, "From: <");
  g_string_append (s, from);
  g_string_append (s, ">\r\nTo: <");
  g_string_append (s, to);
  g_string_append (s, ">\r\n");
  if (datetime != NULL) {
    g_string_append (s, "DateTime: ");
    g_string_append (s, datetime);
    g_string_append (s, "\r\n");
  }
  if (subject != NULL) {
    g_string_append (s, "Subject: ");
    g_string_append (s, subject);
    g_string_append (s, "\r\n");
  }
  if (message_id != NULL) {
    g_string_append (s, "NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: ");
    g_string_append (s, message_id);
    g_string_append (s, "\r\n");
  }
  g_string_append (s, "\r\nContent-Type: ");
  g_string_append (s, content_type);
  g_string_append (s, "\r\n\r\n");
  if (body != NULL)
    g_string_append_len (s, body, (gssize)len);
  if (out_len != NULL)
    *out_len = s->len;
  return g_string_free (s, FALSE);
}
