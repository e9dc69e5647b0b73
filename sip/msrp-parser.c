/* sip/msrp-parser.c - incremental, bounded MSRP frame parser (RFC 4975 §7.1).
 *
 * Three states: START (the "MSRP <tid> <method|code>" line), HEADERS (one line at a time,
 * until the end-line or a blank line) and BODY (scanning for the end-line). Lines are
 * collected in `line` until CRLF; the body goes straight into the frame's byte array, which
 * starts with a virtual CRLF so that an empty body written without its CRLF still ends.
 * The scan restarts each time a few bytes before the previous end of data, so feeding one
 * byte at a time stays linear.
 */
#include "sip/msrp-parser.h"

#include <string.h>

#include "sip/msrp.h"

typedef enum { S_START, S_HEADERS, S_BODY, S_FAILED } State;

struct _PrlMsrpParser {
  gsize max_header, max_body;
  State state;
  GByteArray *line;     /* the line being collected (START, HEADERS) */
  gsize header_bytes;   /* start line + headers of this frame so far */
  PrlMsrpFrame *frame;  /* the frame being built (HEADERS, BODY) */
  char *terminator;     /* "\r\n-------<tid>" (BODY) */
  gsize term_len;
  gsize scan;           /* where the next search in the body starts */
  gboolean discarding;  /* body over max_body: keep only a window */
};

/* The body array starts with this virtual CRLF (see the file comment). */
#define BODY_PREFIX 2

PrlMsrpParser *
prl_msrp_parser_new (gsize max_header, gsize max_body)
{
  PrlMsrpParser *p = g_new0 (PrlMsrpParser, 1);
  p->max_header = MAX (max_header, 64);
  p->max_body = max_body;
  p->line = g_byte_array_new ();
  return p;
}

void
prl_msrp_parser_free (PrlMsrpParser *parser)
{
  if (parser == NULL)
    return;
  g_byte_array_unref (parser->line);
  prl_msrp_frame_free (parser->frame);
  g_free (parser->terminator);
  g_free (parser);
}

gsize
prl_msrp_parser_pending (const PrlMsrpParser *parser)
{
  gsize n = parser->line->len;
  if (parser->frame != NULL) {
    n += parser->header_bytes;
    if (parser->frame->body != NULL)
      n += parser->frame->body->len;
  }
  return n;
}

static gboolean
fail (PrlMsrpParser *p, GError **error, const char *what)
{
  p->state = S_FAILED;
  g_set_error (error, PRL_MSRP_ERROR, PRL_MSRP_ERROR_INVALID, "MSRP framing: %s", what);
  return FALSE;
}

static gboolean
all (const char *s, gsize len, gboolean (*pred) (gchar))
{
  for (gsize i = 0; i < len; i++)
    if (!pred (s[i]))
      return FALSE;
  return len > 0;
}

static gboolean
is_upper (gchar c)
{
  return g_ascii_isupper (c);
}

static gboolean
is_digit (gchar c)
{
  return g_ascii_isdigit (c);
}

/* "MSRP" SP transact-id SP (method / status-code [SP comment]). */
static gboolean
parse_start (PrlMsrpParser *p, const char *l, gsize len, GError **error)
{
  for (gsize i = 0; i < len; i++)
    if ((guchar)l[i] < 0x20 || l[i] == 0x7f)
      return fail (p, error, "control character in start line");
  if (len < 5 || memcmp (l, "MSRP ", 5) != 0)
    return fail (p, error, "start line is not MSRP");
  const char *tid = l + 5;
  const char *sp = memchr (tid, ' ', len - 5);
  if (sp == NULL || !prl_msrp_is_ident (tid, (gsize)(sp - tid)))
    return fail (p, error, "bad transaction id");
  g_autofree char *tid_s = g_strndup (tid, (gsize)(sp - tid));
  const char *rest = sp + 1;
  gsize rest_len = len - (gsize)(rest - l);
  if (rest_len >= 3 && all (rest, 3, is_digit) && (rest_len == 3 || rest[3] == ' ')) {
    guint status = (guint)((rest[0] - '0') * 100 + (rest[1] - '0') * 10 + (rest[2] - '0'));
    g_autofree char *comment = rest_len > 4 ? g_strndup (rest + 4, rest_len - 4) : NULL;
    p->frame = prl_msrp_frame_new_response (tid_s, status, comment);
    if (status < 100)
      p->frame->parse_error = "bad status code";
    if (comment != NULL && !g_utf8_validate (comment, -1, NULL))
      p->frame->parse_error = "comment is not UTF-8";
  } else {
    g_autofree char *method = g_strndup (rest, rest_len);
    p->frame = prl_msrp_frame_new_request (tid_s, method);
    if (!all (rest, rest_len, is_upper))
      p->frame->parse_error = "bad method";
  }
  p->terminator = g_strdup_printf ("\r\n-------%s", tid_s);
  p->term_len = strlen (p->terminator);
  p->state = S_HEADERS;
  return TRUE;
}

static gboolean
is_token_char (gchar c)
{
  return g_ascii_isalnum (c) || (c != '\0' && strchr ("-.!%*_+`'~", c) != NULL);
}

/* One header line, or the end-line of a bodiless frame (returns TRUE in *done). */
static void
parse_header (PrlMsrpParser *p, const char *l, gsize len, GPtrArray *frames)
{
  const char *end_line = p->terminator + 2;
  gsize el = p->term_len - 2;
  if (len == el + 1 && memcmp (l, end_line, el) == 0 && l[el] != '\0'
      && strchr ("+$#", l[el]) != NULL) {
    p->frame->flag = l[el];
    g_ptr_array_add (frames, g_steal_pointer (&p->frame));
    p->state = S_START;
    p->header_bytes = 0;
    g_clear_pointer (&p->terminator, g_free);
    return;
  }
  for (gsize i = 0; i < len; i++)
    if (((guchar)l[i] < 0x20 && l[i] != '\t') || l[i] == 0x7f) {
      p->frame->parse_error = "control character in header";
      return;
    }
  const char *colon = memchr (l, ':', len);
  if (colon == NULL || colon == l || !all (l, (gsize)(colon - l), is_token_char)) {
    p->frame->parse_error = "malformed header line";
    return;
  }
  g_autofree char *name = g_strndup (l, (gsize)(colon - l));
  g_autofree char *value = g_strndup (colon + 1, len - (gsize)(colon + 1 - l));
  g_strstrip (value);
  if (!g_utf8_validate (value, -1, NULL)) {
    p->frame->parse_error = "header is not UTF-8";
    return;
  }
  prl_msrp_frame_add_header (p->frame, name, value);
}

/* Collects a line; returns the bytes of @data used, and in *@complete whether the line
 * (without its CRLF) is now in p->line. */
static gsize
take_line (PrlMsrpParser *p, const guint8 *data, gsize len, gboolean *complete)
{
  *complete = FALSE;
  /* a CR at the end of the previous slice may pair with an LF here */
  gsize i = 0;
  if (p->line->len > 0 && p->line->data[p->line->len - 1] == '\r' && len > 0 && data[0] == '\n') {
    g_byte_array_set_size (p->line, p->line->len - 1);
    *complete = TRUE;
    return 1;
  }
  for (; i < len; i++) {
    if (data[i] == '\n' && i > 0 && data[i - 1] == '\r') {
      g_byte_array_append (p->line, data, (guint)(i - 1));
      *complete = TRUE;
      return i + 1;
    }
  }
  g_byte_array_append (p->line, data, (guint)len);
  return len;
}

/* Body bytes; returns the bytes of @data that belong to this frame. */
static gsize
take_body (PrlMsrpParser *p, const guint8 *data, gsize len, GPtrArray *frames)
{
  GByteArray *b = p->frame->body;
  gsize old = b->len;
  g_byte_array_append (b, data, (guint)len);
  gsize tl = p->term_len;
  gsize from = p->scan;
  gsize held = G_MAXSIZE; /* a terminator at the very end, waiting for its flag */
  while (from + tl <= b->len) {
    const guint8 *hit = memmem (b->data + from, b->len - from, p->terminator, tl);
    if (hit == NULL)
      break;
    gsize at = (gsize)(hit - b->data);
    if (at + tl + 3 > b->len) {
      held = at; /* flag and CRLF not here yet */
      break;
    }
    char flag = (char)b->data[at + tl];
    if (strchr ("+$#", flag) != NULL && flag != '\0' && b->data[at + tl + 1] == '\r'
        && b->data[at + tl + 2] == '\n') {
      gsize used = at + tl + 3 - old;
      PrlMsrpFrame *f = g_steal_pointer (&p->frame);
      f->flag = flag;
      if (p->discarding || at - BODY_PREFIX > p->max_body) {
        f->body_dropped += at - BODY_PREFIX;
        g_byte_array_set_size (b, BODY_PREFIX);
      } else {
        g_byte_array_set_size (b, at);
      }
      g_byte_array_remove_range (b, 0, BODY_PREFIX);
      g_ptr_array_add (frames, f);
      g_clear_pointer (&p->terminator, g_free);
      p->state = S_START;
      p->header_bytes = 0;
      p->discarding = FALSE;
      return used;
    }
    from = at + 1;
  }
  /* no end-line yet: the next search starts where a terminator could still begin */
  p->scan = b->len >= tl + 2 ? MAX (p->scan, b->len - (tl + 2)) : 0;
  p->scan = MIN (p->scan, held);
  if (!p->discarding && b->len - BODY_PREFIX > p->max_body)
    p->discarding = TRUE;
  if (p->discarding && b->len > BODY_PREFIX + tl + 2) {
    /* keep the prefix and a window of tl + 2 bytes (enough for a terminator without its
     * flag and CRLF); count the rest as dropped */
    gsize drop = b->len - BODY_PREFIX - (tl + 2);
    g_byte_array_remove_range (b, BODY_PREFIX, (guint)drop);
    p->frame->body_dropped += drop;
    p->scan = p->scan >= drop ? p->scan - drop : 0;
    p->scan = MAX (p->scan, BODY_PREFIX);
  }
  return len;
}

gboolean
prl_msrp_parser_feed (PrlMsrpParser *parser, const void *data, gsize len, GPtrArray *frames,
                      GError **error)
{
  PrlMsrpParser *p = parser;
  const guint8 *d = data;
  if (p->state == S_FAILED)
    return fail (p, error, "parser already failed");
  while (len > 0) {
    gsize used;
    if (p->state == S_BODY) {
      used = take_body (p, d, len, frames);
    } else {
      gboolean complete;
      used = take_line (p, d, len, &complete);
      p->header_bytes += used;
      if (p->header_bytes > p->max_header)
        return fail (p, error, "header section over its bound");
      if (complete) {
        g_autoptr (GByteArray) l = g_steal_pointer (&p->line);
        p->line = g_byte_array_new ();
        if (p->state == S_START) {
          /* stray CRLFs between frames are skipped */
          if (l->len == 0)
            p->header_bytes = 0;
          else if (!parse_start (p, (const char *)l->data, l->len, error))
            return FALSE;
        } else if (l->len == 0) {
          /* blank line: a body follows */
          prl_msrp_frame_set_body (p->frame, "\r\n", BODY_PREFIX);
          p->scan = 0;
          p->state = S_BODY;
        } else {
          parse_header (p, (const char *)l->data, l->len, frames);
        }
      }
    }
    d += used;
    len -= used;
  }
  return TRUE;
}
