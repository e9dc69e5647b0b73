/* sip/msrp-frame.c - MSRP frame data, semantic checks and serialisation (RFC 4975 §7.1).
 *
 * Pure: no sockets, no clock (random idents come from g_random, seeded by GLib from
 * /dev/urandom). The incremental parser lives in msrp-parser.c; this file knows what a
 * complete frame must contain and how it is written on the wire.
 */
#include "sip/msrp-frame.h"

#include <string.h>

#include "sip/msrp.h"

G_DEFINE_QUARK (prl-msrp-error-quark, prl_msrp_error)

static void
header_free (gpointer p)
{
  PrlMsrpHeader *h = p;
  g_free (h->name);
  g_free (h->value);
  g_free (h);
}

static PrlMsrpFrame *
frame_new (const char *tid)
{
  PrlMsrpFrame *f = g_new0 (PrlMsrpFrame, 1);
  f->tid = g_strdup (tid);
  f->flag = '$';
  f->headers = g_ptr_array_new_with_free_func (header_free);
  return f;
}

PrlMsrpFrame *
prl_msrp_frame_new_request (const char *tid, const char *method)
{
  PrlMsrpFrame *f = frame_new (tid);
  f->is_request = TRUE;
  f->method = g_strdup (method);
  return f;
}

PrlMsrpFrame *
prl_msrp_frame_new_response (const char *tid, guint status, const char *comment)
{
  PrlMsrpFrame *f = frame_new (tid);
  f->status = status;
  f->comment = g_strdup (comment);
  return f;
}

void
prl_msrp_frame_free (PrlMsrpFrame *frame)
{
  if (frame == NULL)
    return;
  g_free (frame->tid);
  g_free (frame->method);
  g_free (frame->comment);
  g_ptr_array_unref (frame->headers);
  if (frame->body != NULL)
    g_byte_array_unref (frame->body);
  g_free (frame);
}

void
prl_msrp_frame_add_header (PrlMsrpFrame *frame, const char *name, const char *value)
{
  PrlMsrpHeader *h = g_new (PrlMsrpHeader, 1);
  h->name = g_strdup (name);
  h->value = g_strdup (value);
  g_ptr_array_add (frame->headers, h);
}

static guint
count_header (const PrlMsrpFrame *frame, const char *name)
{
  guint n = 0;
  for (guint i = 0; i < frame->headers->len; i++) {
    const PrlMsrpHeader *h = g_ptr_array_index (frame->headers, i);
    n += g_ascii_strcasecmp (h->name, name) == 0;
  }
  return n;
}

const char *
prl_msrp_frame_get (const PrlMsrpFrame *frame, const char *name)
{
  for (guint i = 0; i < frame->headers->len; i++) {
    const PrlMsrpHeader *h = g_ptr_array_index (frame->headers, i);
    if (g_ascii_strcasecmp (h->name, name) == 0)
      return h->value;
  }
  return NULL;
}

void
prl_msrp_frame_set_body (PrlMsrpFrame *frame, const void *data, gsize len)
{
  if (frame->body != NULL)
    g_byte_array_unref (frame->body);
  frame->body = g_byte_array_sized_new (len);
  if (len > 0)
    g_byte_array_append (frame->body, data, len);
}

gboolean
prl_msrp_is_ident (const char *s, gsize len)
{
  if (s == NULL || len < PRL_MSRP_IDENT_MIN || len > PRL_MSRP_IDENT_MAX)
    return FALSE;
  if (!g_ascii_isalnum (s[0]))
    return FALSE;
  for (gsize i = 1; i < len; i++)
    if (!g_ascii_isalnum (s[i]) && (s[i] == '\0' || strchr (".-+%=", s[i]) == NULL))
      return FALSE;
  return TRUE;
}

/* 6 random bits per character (a 62-letter alphabet, so a few letters are a little likelier):
 * one g_random_int() gives five characters, where a call per character took GLib's global
 * random lock 32 times per SEND. */
char *
prl_msrp_random_ident (guint len)
{
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  char *s = g_malloc (len + 1);
  guint32 bits = 0;
  guint left = 0;
  for (guint i = 0; i < len; i++) {
    if (left == 0) {
      bits = g_random_int ();
      left = 5;
    }
    s[i] = alphabet[(bits & 63) % (sizeof alphabet - 1)];
    bits >>= 6;
    left--;
  }
  s[len] = '\0';
  return s;
}

/* A decimal number of at most 18 digits (no sign, no blanks); advances *p. */
static gboolean
parse_number (const char **p, gint64 *out)
{
  const char *s = *p;
  gint64 v = 0;
  int digits = 0;
  while (g_ascii_isdigit (*s)) {
    if (++digits > 18)
      return FALSE;
    v = v * 10 + (*s++ - '0');
  }
  if (digits == 0)
    return FALSE;
  *p = s;
  *out = v;
  return TRUE;
}

gboolean
prl_msrp_byte_range_parse (const char *value, gint64 *start, gint64 *end, gint64 *total)
{
  const char *p = value;
  if (!parse_number (&p, start) || *start < 1 || *p++ != '-')
    return FALSE;
  if (*p == '*') {
    *end = -1;
    p++;
  } else if (!parse_number (&p, end) || *end < *start - 1) {
    return FALSE;
  }
  if (*p++ != '/')
    return FALSE;
  if (*p == '*') {
    *total = -1;
    p++;
  } else if (!parse_number (&p, total) || (*end >= 0 && *end > *total)) {
    return FALSE;
  }
  return *p == '\0';
}

guint
prl_msrp_status_parse (const char *value)
{
  /* "000" SP 3DIGIT [SP comment] */
  if (value == NULL || strncmp (value, "000 ", 4) != 0)
    return 0;
  const char *c = value + 4;
  if (!g_ascii_isdigit (c[0]) || !g_ascii_isdigit (c[1]) || !g_ascii_isdigit (c[2]))
    return 0;
  if (c[3] != '\0' && c[3] != ' ')
    return 0;
  guint code = (guint)((c[0] - '0') * 100 + (c[1] - '0') * 10 + (c[2] - '0'));
  return code >= 100 ? code : 0;
}

const char *
prl_msrp_status_phrase (guint status)
{
  switch (status) {
  case 200: return "OK";
  case 400: return "Bad Request";
  case 403: return "Forbidden";
  case 408: return "Request Timeout";
  case 413: return "Message Too Large";
  case 415: return "Unsupported Media Type";
  case 423: return "Interval Out Of Bounds";
  case 481: return "Session Does Not Exist";
  case 501: return "Unknown Method";
  case 503: return "Service Unavailable";
  case 506: return "Session Bound Elsewhere";
  default: return status < 300 ? "OK" : "Failed";
  }
}

guint
prl_msrp_frame_check (const PrlMsrpFrame *frame, const char **reason)
{
#define REFUSE(text) \
  do {               \
    *reason = text;  \
    return 400;      \
  } while (0)
  *reason = NULL;
  if (frame->parse_error != NULL)
    REFUSE (frame->parse_error);
  if (count_header (frame, "To-Path") != 1)
    REFUSE ("To-Path missing or repeated");
  if (count_header (frame, "From-Path") != 1)
    REFUSE ("From-Path missing or repeated");
  if (*prl_msrp_frame_get (frame, "To-Path") == '\0'
      || *prl_msrp_frame_get (frame, "From-Path") == '\0')
    REFUSE ("empty path");
  if (!frame->is_request) {
    if (frame->flag != '$')
      REFUSE ("response not ending in $");
    return 0;
  }
  if (count_header (frame, "Message-ID") > 1)
    REFUSE ("Message-ID repeated");
  const char *mid = prl_msrp_frame_get (frame, "Message-ID");
  if (mid != NULL && !prl_msrp_is_ident (mid, strlen (mid)))
    REFUSE ("Message-ID is not an ident");
  gboolean send = strcmp (frame->method, "SEND") == 0;
  gboolean report = strcmp (frame->method, "REPORT") == 0;
  if ((send || report) && mid == NULL)
    REFUSE ("Message-ID missing");
  const char *range = prl_msrp_frame_get (frame, "Byte-Range");
  gint64 start, end, total;
  if (range != NULL) {
    if (count_header (frame, "Byte-Range") > 1)
      REFUSE ("Byte-Range repeated");
    if (!prl_msrp_byte_range_parse (range, &start, &end, &total))
      REFUSE ("Byte-Range malformed");
    gsize len = (frame->body != NULL ? frame->body->len : 0) + frame->body_dropped;
    if (send && end >= 0 && (gint64)len > end - start + 1)
      REFUSE ("body longer than Byte-Range");
    if (send && total >= 0 && start - 1 + (gint64)len > total)
      REFUSE ("body beyond Byte-Range total");
  }
  if (report) {
    if (prl_msrp_status_parse (prl_msrp_frame_get (frame, "Status")) == 0)
      REFUSE ("REPORT without a valid Status");
  }
  if (frame->body != NULL && prl_msrp_frame_get (frame, "Content-Type") == NULL)
    REFUSE ("body without Content-Type");
  if (frame->body == NULL && prl_msrp_frame_get (frame, "Content-Type") != NULL)
    REFUSE ("Content-Type without body");
  const char *sr = prl_msrp_frame_get (frame, "Success-Report");
  if (sr != NULL && strcmp (sr, "yes") != 0 && strcmp (sr, "no") != 0)
    REFUSE ("Success-Report malformed");
  const char *fr = prl_msrp_frame_get (frame, "Failure-Report");
  if (fr != NULL && strcmp (fr, "yes") != 0 && strcmp (fr, "no") != 0
      && strcmp (fr, "partial") != 0)
    REFUSE ("Failure-Report malformed");
  return 0;
#undef REFUSE
}

void
prl_msrp_frame_write (const PrlMsrpFrame *frame, GByteArray *out)
{
  g_autoptr (GString) s = g_string_sized_new (256);
  if (frame->is_request)
    g_string_append_printf (s, "MSRP %s %s\r\n", frame->tid, frame->method);
  else if (frame->comment != NULL)
    g_string_append_printf (s, "MSRP %s %03u %s\r\n", frame->tid, frame->status, frame->comment);
  else
    g_string_append_printf (s, "MSRP %s %03u\r\n", frame->tid, frame->status);
  /* To-Path, From-Path first and Content-Type last (§7.1), others in their given order. */
  static const char *const first[] = { "To-Path", "From-Path" };
  for (guint k = 0; k < G_N_ELEMENTS (first); k++) {
    const char *v = prl_msrp_frame_get (frame, first[k]);
    if (v != NULL)
      g_string_append_printf (s, "%s: %s\r\n", first[k], v);
  }
  for (guint i = 0; i < frame->headers->len; i++) {
    const PrlMsrpHeader *h = g_ptr_array_index (frame->headers, i);
    if (g_ascii_strcasecmp (h->name, "To-Path") == 0
        || g_ascii_strcasecmp (h->name, "From-Path") == 0
        || g_ascii_strcasecmp (h->name, "Content-Type") == 0)
      continue;
    g_string_append_printf (s, "%s: %s\r\n", h->name, h->value);
  }
  const char *ct = prl_msrp_frame_get (frame, "Content-Type");
  if (frame->body != NULL) {
    g_string_append_printf (s, "Content-Type: %s\r\n\r\n", ct != NULL ? ct : "text/plain");
    g_byte_array_append (out, (const guint8 *)s->str, (guint)s->len);
    g_byte_array_append (out, frame->body->data, frame->body->len);
    g_string_truncate (s, 0);
    g_string_append (s, "\r\n");
  }
  g_string_append_printf (s, "-------%s%c\r\n", frame->tid, frame->flag);
  g_byte_array_append (out, (const guint8 *)s->str, (guint)s->len);
}

static void
append_str (GByteArray *out, const char *s)
{
  g_byte_array_append (out, (const guint8 *)s, (guint)strlen (s));
}

static void
append_header (GByteArray *out, const char *name, const char *value)
{
  append_str (out, name);
  g_byte_array_append (out, (const guint8 *)": ", 2);
  append_str (out, value);
  g_byte_array_append (out, (const guint8 *)"\r\n", 2);
}

static void
append_decimal (GByteArray *out, guint64 v)
{
  char buf[24];
  guint i = sizeof buf;
  do {
    buf[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v > 0);
  g_byte_array_append (out, (const guint8 *)buf + i, (guint)(sizeof buf - i));
}

void
prl_msrp_frame_write_send (const PrlMsrpSendChunk *c, GByteArray *out)
{
  append_str (out, "MSRP ");
  append_str (out, c->tid);
  append_str (out, " SEND\r\n");
  append_header (out, "To-Path", c->to_path);
  append_header (out, "From-Path", c->from_path);
  append_header (out, "Message-ID", c->message_id);
  append_str (out, "Byte-Range: ");
  append_decimal (out, c->first);
  g_byte_array_append (out, (const guint8 *)"-", 1);
  if (c->open_end)
    g_byte_array_append (out, (const guint8 *)"*", 1);
  else
    append_decimal (out, c->last);
  g_byte_array_append (out, (const guint8 *)"/", 1);
  append_decimal (out, c->total);
  g_byte_array_append (out, (const guint8 *)"\r\n", 2);
  if (c->success_report)
    append_header (out, "Success-Report", "yes");
  append_header (out, "Content-Type", c->content_type);
  g_byte_array_append (out, (const guint8 *)"\r\n", 2);
  if (c->len > 0)
    g_byte_array_append (out, c->body, (guint)c->len);
  append_str (out, "\r\n-------");
  append_str (out, c->tid);
  guint8 end[3] = { (guint8)c->flag, '\r', '\n' };
  g_byte_array_append (out, end, 3);
}

gboolean
prl_msrp_body_has_end_line (const guint8 *data, gsize len, const char *tid)
{
  g_autofree char *needle = g_strconcat ("-------", tid, NULL);
  gsize n = strlen (needle);
  for (gsize i = 0; i + n < len; i++) {
    if (data[i] == '-' && memcmp (data + i, needle, n) == 0
        && strchr ("+$#", data[i + n]) != NULL && data[i + n] != '\0')
      return TRUE;
  }
  return FALSE;
}

void
prl_msrp_quote (GString *out, const void *data, gsize len)
{
  const guint8 *p = data;
  g_string_append_c (out, '"');
  for (gsize i = 0; i < len; i++) {
    guint8 c = p[i];
    if (c == '"' || c == '\\')
      g_string_append_printf (out, "\\%c", c);
    else if (c == '\r')
      g_string_append (out, "\\r");
    else if (c == '\n')
      g_string_append (out, "\\n");
    else if (c >= 0x20 && c < 0x7f)
      g_string_append_c (out, (char)c);
    else
      g_string_append_printf (out, "\\x%02x", c);
  }
  g_string_append_c (out, '"');
}

char *
prl_msrp_frame_to_text (const PrlMsrpFrame *frame)
{
  GString *s = g_string_new (NULL);
  if (frame->is_request) {
    g_string_append (s, frame->method);
  } else {
    g_string_append_printf (s, "%03u", frame->status);
    if (frame->comment != NULL) {
      g_string_append_c (s, ' ');
      prl_msrp_quote (s, frame->comment, strlen (frame->comment));
    }
  }
  g_string_append (s, " tid=");
  prl_msrp_quote (s, frame->tid, strlen (frame->tid));
  g_string_append_printf (s, " flag=%c", frame->flag);
  for (guint i = 0; i < frame->headers->len; i++) {
    const PrlMsrpHeader *h = g_ptr_array_index (frame->headers, i);
    g_string_append_printf (s, " %s=", h->name);
    prl_msrp_quote (s, h->value, strlen (h->value));
  }
  if (frame->body != NULL) {
    if (frame->body->len > 64 || frame->body_dropped > 0)
      g_string_append_printf (s, " body=len:%" G_GSIZE_FORMAT,
                              frame->body->len + frame->body_dropped);
    else {
      g_string_append (s, " body=");
      prl_msrp_quote (s, frame->body->data, frame->body->len);
    }
  }
  return g_string_free (s, FALSE);
}
