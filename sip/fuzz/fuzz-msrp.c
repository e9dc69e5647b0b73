/* sip/fuzz/fuzz-msrp.c - libFuzzer target: the incremental MSRP parser (sip/msrp-parser.c).
 *
 * The input is fed three ways: whole, one byte per feed, and in slices whose sizes come from
 * the input's first byte. All three must give the same frames (as prl_msrp_frame_to_text)
 * and the same verdict. Every frame is checked (prl_msrp_frame_check), written back with
 * prl_msrp_frame_write and parsed again, which must give the same frame. Small bounds so
 * that the oversize paths are reached. Seeds: sip/fuzz/corpus-msrp/, test-vectors/msrp/.
 */
#include <stdint.h>
#include <string.h>

#include "sip/msrp-parser.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char *
run (const uint8_t *data, size_t size, size_t step, gboolean check)
{
  g_autoptr (PrlMsrpParser) p = prl_msrp_parser_new (512, 1024);
  g_autoptr (GPtrArray) frames = g_ptr_array_new_with_free_func ((GDestroyNotify)prl_msrp_frame_free);
  GString *text = g_string_new (NULL);
  gboolean ok = TRUE;
  for (size_t off = 0; ok && off < size; off += step)
    ok = prl_msrp_parser_feed (p, data + off, MIN (step, size - off), frames, NULL);
  for (guint i = 0; i < frames->len; i++) {
    PrlMsrpFrame *f = g_ptr_array_index (frames, i);
    g_autofree char *t = prl_msrp_frame_to_text (f);
    g_string_append_printf (text, "%s\n", t);
    const char *reason;
    guint status = prl_msrp_frame_check (f, &reason);
    g_assert (status == 0 || (status == 400 && reason != NULL));
    if (check && f->body_dropped == 0 && f->parse_error == NULL) {
      g_autoptr (GByteArray) wire = g_byte_array_new ();
      prl_msrp_frame_write (f, wire);
      g_autoptr (PrlMsrpParser) again = prl_msrp_parser_new (1 << 20, 1 << 20);
      g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify)prl_msrp_frame_free);
      g_assert (prl_msrp_parser_feed (again, wire->data, wire->len, out, NULL));
      /* a body holding its own end-line cannot be written back as one frame */
      if (f->body == NULL || !prl_msrp_body_has_end_line (f->body->data, f->body->len, f->tid)) {
        g_assert_cmpuint (out->len, ==, 1);
        g_assert_cmpuint (prl_msrp_parser_pending (again), ==, 0);
        PrlMsrpFrame *g = g_ptr_array_index (out, 0);
        g_assert (g->is_request == f->is_request && g->flag == f->flag);
        g_assert_cmpstr (g->tid, ==, f->tid);
        g_assert ((g->body == NULL) == (f->body == NULL));
        if (g->body != NULL)
          g_assert (g->body->len == f->body->len
                    && memcmp (g->body->data, f->body->data, f->body->len) == 0);
      }
    }
  }
  g_string_append_printf (text, "%s pending=%" G_GSIZE_FORMAT "\n", ok ? "ok" : "fatal",
                          ok ? prl_msrp_parser_pending (p) : 0);
  return g_string_free (text, FALSE);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size > 65536)
    return 0;
  g_autofree char *whole = run (data, size, MAX (size, 1), TRUE);
  g_autofree char *bytes = run (data, size, 1, FALSE);
  g_autofree char *sliced = run (data, size, size > 0 ? (data[0] % 29) + 1 : 1, FALSE);
  g_assert_cmpstr (whole, ==, bytes);
  g_assert_cmpstr (whole, ==, sliced);
  return 0;
}
