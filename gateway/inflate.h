/* gateway/inflate.h - Content-Encoding decoding of received SIP bodies (pure, bounded).
 *
 * linphone sends its IMDNs with `Content-Encoding: deflate` (PEERS.md §1.4); RFC 3261 §20.12
 * lets any body be encoded. The core decodes before it looks at the body, with zlib as a
 * pure library: bytes in, bytes out, no I/O. Output is bounded by the caller's limit, so a
 * small "zip bomb" costs at most that much memory before it is refused.
 * Rules: mapping-docs/receipts.md §5.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  PRL_INFLATE_OK,
  PRL_INFLATE_UNSUPPORTED, /* an encoding other than identity, deflate, gzip (415) */
  PRL_INFLATE_CORRUPT,     /* not a valid stream, truncated, or bytes after its end (400) */
  PRL_INFLATE_TOO_BIG,     /* would decode to more than max_out bytes (413) */
} PrlInflateStatus;

/* Decodes @len bytes at @data encoded with @encoding (a Content-Encoding value, one coding,
 * case-insensitive; NULL, "" or "identity" copy the bytes). "deflate" accepts the zlib
 * format (RFC 1950, what HTTP and SIP mean) and, as many senders do, raw deflate (RFC 1951);
 * "gzip"/"x-gzip" the gzip format. On PRL_INFLATE_OK sets *out (transfer full, NUL appended,
 * may hold NULs) and *out_len; never produces more than @max_out bytes. */
PrlInflateStatus prl_inflate_body (const char *encoding, const char *data, gsize len,
                                   gsize max_out, char **out, gsize *out_len);

G_END_DECLS
