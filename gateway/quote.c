/* gateway/quote.c - quoted strings for action text and vector probes (gateway/quote.h).
 *
 * Bytes are escaped so that any input, even invalid UTF-8 or NULs, prints as one readable
 * line that the vector loader (gateway/vector.c) can read back with the same escapes.
 */
#include "gateway/quote.h"

#include <string.h>

/* Length of the valid UTF-8 multi-byte sequence at @p (at most @left bytes), or 0. */
static gsize
utf8_seq_len (const guchar *p, gsize left)
{
  gsize n;
  if (p[0] >= 0xc2 && p[0] <= 0xdf)
    n = 2;
  else if (p[0] >= 0xe0 && p[0] <= 0xef)
    n = 3;
  else if (p[0] >= 0xf0 && p[0] <= 0xf4)
    n = 4;
  else
    return 0;
  if (n > left)
    return 0;
  return g_utf8_validate_len ((const char *)p, n, NULL) ? n : 0;
}

void
prl_quote_append (GString *out, const char *s, gsize len)
{
  g_return_if_fail (out != NULL && (s != NULL || len == 0));

  const guchar *p = (const guchar *)s;
  g_string_append_c (out, '"');
  for (gsize i = 0; i < len;) {
    guchar c = p[i];
    gsize n;
    switch (c) {
    case '\\':
      g_string_append (out, "\\\\");
      break;
    case '"':
      g_string_append (out, "\\\"");
      break;
    case '\n':
      g_string_append (out, "\\n");
      break;
    case '\r':
      g_string_append (out, "\\r");
      break;
    case '\t':
      g_string_append (out, "\\t");
      break;
    case '\0':
      g_string_append (out, "\\0");
      break;
    default:
      if (c >= 0x20 && c < 0x7f) {
        g_string_append_c (out, (char)c);
      } else if (c >= 0x80 && (n = utf8_seq_len (p + i, len - i)) > 0) {
        g_string_append_len (out, s + i, (gssize)n);
        i += n;
        continue;
      } else {
        g_string_append_printf (out, "\\x%02x", c);
      }
      break;
    }
    i++;
  }
  g_string_append_c (out, '"');
}

char *
prl_quote (const char *s)
{
  if (s == NULL)
    return g_strdup ("(null)");
  GString *out = g_string_new (NULL);
  prl_quote_append (out, s, strlen (s));
  return g_string_free (out, FALSE);
}
