/* gateway/fuzz/fuzz-cpim.c - libFuzzer target: CPIM parser and SIP body decoding.
 *
 * Input: the first line is an outer Content-Type value, the rest is the body, so one corpus
 * drives both prl_cpim_parse() and prl_message_map_sip_body() (content types, charsets, CPIM
 * unwrap, XML character checks). Must never crash or abort on any input.
 * Seeds: gateway/fuzz/corpus-cpim/ and test-vectors/.
 */
#include "gateway/cpim.h"
#include "gateway/message-map.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *s = (const char *)data;
  const char *nl = memchr (s, '\n', size);
  gsize head = nl != NULL ? (gsize)(nl - s) : 0;
  g_autofree char *content_type = nl != NULL ? g_strndup (s, head) : NULL;
  const char *body = nl != NULL ? nl + 1 : s;
  gsize len = nl != NULL ? size - head - 1 : size;

  g_autoptr (PrlCpimMessage) cpim = prl_cpim_parse (body, len, NULL);
  if (cpim != NULL) {
    (void)prl_cpim_message_get_header (cpim, "From");
    (void)prl_cpim_message_get_mime_header (cpim, "content-type");
  }

  g_autofree char *text = NULL;
  g_autofree char *subject = NULL;
  PrlBodyStatus st = prl_message_map_sip_body (content_type, body, len, 1 << 20, &text, &subject);
  if (st == PRL_BODY_OK)
    g_assert (text != NULL && prl_message_map_check_xml_text (text, strlen (text)) == PRL_BODY_OK);
  g_autofree char *t2 = NULL;
  g_autofree char *s2 = NULL;
  (void)prl_message_map_sip_body ("message/cpim", body, len, 1 << 20, &t2, &s2);
  return 0;
}
