/* gateway/inflate.c - Content-Encoding decoding with zlib, bounded (see inflate.h).
 *
 * DESIGN. zlib is called with a fixed-size output window and the total is checked after
 * every call, so the output never exceeds max_out (+ one window that is not kept): a body
 * that inflates past the limit is refused as too big, whatever its compression ratio. The
 * whole stream must be consumed and end with Z_STREAM_END: a truncated stream or trailing
 * bytes are corrupt. "deflate" tries the zlib wrapper first, then raw deflate (RFC 9110
 * §8.4.1.2 notes that senders confuse the two).
 * Ownership: the result is GLib memory owned by the caller; the zlib stream lives and dies
 * inside one call. Rules: mapping-docs/receipts.md §5.
 */
#include "gateway/inflate.h"

#include <string.h>
#include <zlib.h>

#define WINDOW 16384

static PrlInflateStatus
run (int window_bits, const char *data, gsize len, gsize max_out, char **out, gsize *out_len)
{
  z_stream zs;
  memset (&zs, 0, sizeof zs);
  if (inflateInit2 (&zs, window_bits) != Z_OK)
    return PRL_INFLATE_CORRUPT;
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  guchar chunk[WINDOW];
  zs.next_in = (Bytef *)data;
  zs.avail_in = (uInt)len;
  PrlInflateStatus status = PRL_INFLATE_CORRUPT;
  for (;;) {
    zs.next_out = chunk;
    zs.avail_out = sizeof chunk;
    int rc = inflate (&zs, Z_NO_FLUSH);
    gsize got = sizeof chunk - zs.avail_out;
    if (buf->len + got > max_out) {
      status = PRL_INFLATE_TOO_BIG;
      break;
    }
    g_byte_array_append (buf, chunk, (guint)got);
    if (rc == Z_STREAM_END) {
      status = zs.avail_in == 0 ? PRL_INFLATE_OK : PRL_INFLATE_CORRUPT;
      break;
    }
    if (rc != Z_OK || (got == 0 && zs.avail_in == 0))
      break; /* error, or input exhausted before the end of the stream */
  }
  inflateEnd (&zs);
  if (status != PRL_INFLATE_OK)
    return status;
  *out_len = buf->len;
  g_byte_array_append (buf, (const guint8 *)"", 1);
  *out = (char *)g_byte_array_free (g_steal_pointer (&buf), FALSE);
  return PRL_INFLATE_OK;
}

PrlInflateStatus
prl_inflate_body (const char *encoding, const char *data, gsize len, gsize max_out, char **out,
                  gsize *out_len)
{
  g_return_val_if_fail (out != NULL && out_len != NULL, PRL_INFLATE_CORRUPT);
  g_return_val_if_fail (data != NULL || len == 0, PRL_INFLATE_CORRUPT);
  *out = NULL;
  *out_len = 0;
  g_autofree char *coding = g_strstrip (g_ascii_strdown (encoding != NULL ? encoding : "", -1));
  if (*coding == '\0' || strcmp (coding, "identity") == 0) {
    if (len > max_out)
      return PRL_INFLATE_TOO_BIG;
    *out = g_malloc (len + 1);
    if (len > 0)
      memcpy (*out, data, len);
    (*out)[len] = '\0';
    *out_len = len;
    return PRL_INFLATE_OK;
  }
  if (len > G_MAXUINT32)
    return PRL_INFLATE_TOO_BIG;
  if (strcmp (coding, "gzip") == 0 || strcmp (coding, "x-gzip") == 0)
    return run (15 + 16, data, len, max_out, out, out_len);
  if (strcmp (coding, "deflate") != 0)
    return PRL_INFLATE_UNSUPPORTED;
  PrlInflateStatus st = run (15, data, len, max_out, out, out_len);
  if (st == PRL_INFLATE_CORRUPT)
    st = run (-15, data, len, max_out, out, out_len);
  return st;
}
