/* gateway/fuzz/fuzz-inflate.c - libFuzzer target: Content-Encoding decoding (zlib, bounded).
 *
 * Input: the first byte picks the coding (deflate, gzip, identity, an unknown one), the rest
 * is the body. The output must never exceed the limit (64 KiB here), whatever the input:
 * that is the zip-bomb guarantee. Seeds: gateway/fuzz/corpus-inflate/.
 */
#include "gateway/inflate.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const char *const codings[] = { "deflate", "gzip", "identity", "br" };
  if (size == 0)
    return 0;
  const char *coding = codings[data[0] % G_N_ELEMENTS (codings)];
  char *out = NULL;
  gsize len = 0;
  PrlInflateStatus st
      = prl_inflate_body (coding, (const char *)data + 1, size - 1, 65536, &out, &len);
  if (st == PRL_INFLATE_OK)
    g_assert (out != NULL && len <= 65536 && out[len] == '\0');
  else
    g_assert (out == NULL);
  g_free (out);
  return 0;
}
