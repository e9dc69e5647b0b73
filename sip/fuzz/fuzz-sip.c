/* sip/fuzz/fuzz-sip.c - libFuzzer target: sofia's SIP parser followed by sip/codec.c.
 *
 * Input: one SIP message as it could arrive in a datagram. It is parsed with msg_make
 * (sip_default_mclass ()) and sip_object (), exactly what nua hands to sip/agent.c, then
 * converted with prl_sip_codec_read(); what the codec accepts is fed back through the
 * outgoing checks, and the raw bytes (as text) through the value checks. Must never crash,
 * abort or leak on any input. Seeds: sip/fuzz/corpus-sip/.
 */
#include <stdint.h>
#include <string.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_parser.h>

#include "sip/codec.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  msg_t *msg = msg_make (sip_default_mclass (), 0, data, (ssize_t)size);
  if (msg != NULL) {
    const sip_t *sip = sip_object (msg);
    g_autoptr (GError) error = NULL;
    g_autoptr (PrlSipMessage) m = prl_sip_codec_read (sip, &error);
    g_assert ((m == NULL) == (error != NULL));
    if (m != NULL) {
      /* Everything the codec produced is one clean UTF-8 line per field. */
      g_assert (prl_sip_codec_check_text ("from", m->from, NULL));
      g_assert (prl_sip_codec_check_text ("subject", m->subject, NULL));
      g_assert (prl_sip_codec_check_text ("call-id", m->call_id, NULL));
      g_assert (prl_sip_codec_check_text ("content-type", m->content_type, NULL));
      g_assert (m->body == NULL || m->body[m->body_len] == '\0');
      (void)prl_sip_codec_check_outgoing (m, NULL);
      (void)prl_sip_codec_check_contact (m->to, NULL);
    }
    g_free (prl_sip_codec_dedupe_key (sip));
    msg_destroy (msg);
  }

  g_autofree char *text = g_strndup ((const char *)data, size);
  (void)prl_sip_codec_check_uri ("uri", text, NULL);
  (void)prl_sip_codec_check_contact (text, NULL);
  g_autofree char *reason = prl_sip_codec_reason (200, text);
  g_assert (prl_sip_codec_check_text ("reason", reason, NULL));
  return 0;
}
