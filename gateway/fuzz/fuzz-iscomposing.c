/* gateway/fuzz/fuzz-iscomposing.c - libFuzzer target: the RFC 3994 isComposing reader.
 *
 * Input: an MSRP message body claimed to be application/im-iscomposing+xml, untrusted.
 * prl_iscomposing_parse() must never crash or leak; what it accepts has a refresh within
 * 0..86400, and what we build must always read back as what we meant.
 * Seeds: gateway/fuzz/corpus-iscomposing/.
 */
#include <stdint.h>
#include <string.h>

#include "gateway/iscomposing.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  gboolean active = FALSE;
  guint refresh = 0;
  if (prl_iscomposing_parse ((const char *)data, size, &active, &refresh))
    g_assert (refresh <= 86400);
  /* round trip of our own documents, driven by the input's first byte */
  gboolean want = size > 0 && (data[0] & 1);
  guint want_refresh = size > 1 ? data[1] : 0;
  g_autofree char *doc = prl_iscomposing_build (want, want_refresh);
  g_assert (prl_iscomposing_parse (doc, strlen (doc), &active, &refresh));
  g_assert (active == want);
  g_assert (refresh == (want && want_refresh > 0 ? want_refresh : 0));
  return 0;
}
