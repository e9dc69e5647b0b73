/* xmpp/fuzz/fuzz-stanza.c - libFuzzer target for the stanza codec (xmpp/codec.c, xmpp/disco.c).
 *
 * The input bytes are parsed as one stanza with xmpp_stanza_new_from_string() (libstrophe's
 * own expat parser, as on the wire), decoded with prl_xmpp_codec_read_message(), written
 * back with prl_xmpp_codec_write_message(), rendered, parsed and decoded again. Invariants:
 * nothing crashes or leaks, a decoded message survives its own round trip, the text writer
 * of the send path (prl_xmpp_codec_write_message_text) parses to the same tree, and the text
 * fields come back as prl_xmpp_codec_xml_safe() made them. The error-reply and iq-answer
 * builders run on the same input. Replayed under gcc by gateway/fuzz/standalone.c in the
 * fuzz suite; built for libFuzzer with -Dfuzzing=true.
 */
#include <stdint.h>
#include <stdlib.h>

#include "xmpp/codec.h"
#include "xmpp/tests/same-tree.h"
#include "xmpp/link-internal.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static xmpp_ctx_t *ctx; /* one for the process: a connection-less context */

static void
check_same_text (const char *first, const char *second)
{
  g_autofree char *expected = prl_xmpp_codec_xml_safe (first);
  g_assert_cmpstr (expected, ==, second);
}

static void
round_trip (const PrlXmppMessage *first)
{
  xmpp_stanza_t *out = prl_xmpp_codec_write_message (ctx, first);
  char *buf = NULL;
  size_t len = 0;
  g_assert_cmpint (xmpp_stanza_to_text (out, &buf, &len), ==, XMPP_EOK);
  xmpp_stanza_release (out);
  xmpp_stanza_t *again = xmpp_stanza_new_from_string (ctx, buf);
  xmpp_free (ctx, buf);
  g_assert_nonnull (again); /* what we write must always be well-formed */
  /* the send path's text writer says the same */
  g_autofree char *text = prl_xmpp_codec_write_message_text (first, NULL);
  xmpp_stanza_t *as_text = xmpp_stanza_new_from_string (ctx, text);
  g_assert_nonnull (as_text);
  assert_same_tree (again, as_text);
  xmpp_stanza_release (as_text);

  g_autoptr (GError) error = NULL;
  g_autoptr (PrlXmppMessage) second = prl_xmpp_codec_read_message (again, &error);
  xmpp_stanza_release (again);
  g_assert_no_error (error);
  g_assert_cmpstr (first->type, ==, second->type);
  check_same_text (first->body, second->body);
  check_same_text (first->subject, second->subject);
  check_same_text (first->thread, second->thread);
  g_assert_cmpint (first->has_chat_state, ==, second->has_chat_state);
  if (g_strcmp0 (first->type, "error") == 0) {
    check_same_text (first->error_type, second->error_type);
    check_same_text (first->error_condition, second->error_condition);
    check_same_text (first->error_text, second->error_text);
    check_same_text (first->error_detail, second->error_detail);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (ctx == NULL) {
    xmpp_initialize ();
    ctx = xmpp_ctx_new (NULL, NULL);
  }
  g_autofree char *text = g_strndup ((const char *)data, size);
  xmpp_stanza_t *stanza = xmpp_stanza_new_from_string (ctx, text);
  if (stanza == NULL)
    return 0; /* not well-formed: libstrophe's parser refused it, nothing to decode */

  g_autoptr (GError) error = NULL;
  g_autoptr (PrlXmppMessage) msg = prl_xmpp_codec_read_message (stanza, &error);
  if (msg != NULL)
    round_trip (msg);
  else
    g_assert_error (error, PRL_XMPP_ERROR, PRL_XMPP_ERROR_MALFORMED);

  xmpp_stanza_t *reply = prl_xmpp_codec_error_reply (stanza, "modify", "bad-request", "fuzz");
  if (reply != NULL)
    xmpp_stanza_release (reply);
  gboolean is_error;
  reply = prl_xmpp_disco_answer_iq (stanza, "sip.example.net", "Fuzz", &is_error);
  if (reply != NULL)
    xmpp_stanza_release (reply);
  xmpp_stanza_release (stanza);
  return 0;
}
