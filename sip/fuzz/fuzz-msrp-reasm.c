/* sip/fuzz/fuzz-msrp-reasm.c - libFuzzer target: Byte-Range reassembly (sip/msrp-reasm.c).
 *
 * The input is a list of chunks, one per line: "<message-id> <byte-range> <flag> <data>"
 * (the data runs to the end of the line; a missing range means none). They go into one
 * PrlMsrpReasm with a small max_message, and every outcome is checked: a completed message
 * is never larger than the bound nor than its total, allocation stays bounded. Seeds:
 * sip/fuzz/corpus-msrp-reasm/.
 */
#include <stdint.h>
#include <string.h>

#include "sip/msrp-frame.h"
#include "sip/msrp-reasm.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define MAX_MESSAGE 4096
#define MAX_PENDING 4

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (PrlMsrpReasm) r = prl_msrp_reasm_new (MAX_MESSAGE, MAX_PENDING);
  g_autofree char *text = g_strndup ((const char *)data, size);
  g_auto (GStrv) lines = g_strsplit (text, "\n", 200);
  for (guint i = 0; lines[i] != NULL; i++) {
    g_auto (GStrv) f = g_strsplit (lines[i], " ", 4);
    if (g_strv_length (f) < 3)
      continue;
    const char *range = strcmp (f[1], "-") == 0 ? NULL : f[1];
    char flag = f[2][0];
    if (flag == '\0')
      continue;
    g_autoptr (GByteArray) chunk = g_byte_array_new ();
    if (f[3] != NULL)
      g_byte_array_append (chunk, (const guint8 *)f[3], (guint)strlen (f[3]));
    g_autoptr (GByteArray) out = NULL;
    g_autofree char *type = NULL;
    PrlMsrpReasmResult res = prl_msrp_reasm_add (r, f[0], range, flag, "text/plain", &chunk, &out,
                                                 &type);
    g_assert ((res == PRL_MSRP_REASM_COMPLETE) == (out != NULL));
    if (out != NULL) {
      g_assert_cmpuint (out->len, <=, MAX_MESSAGE);
      gint64 start, end, total;
      if (range != NULL && prl_msrp_byte_range_parse (range, &start, &end, &total) && total >= 0)
        g_assert_cmpint ((gint64)out->len, ==, total);
      g_assert_cmpstr (type, ==, "text/plain");
    }
    g_assert_cmpuint (prl_msrp_reasm_pending (r), <=, MAX_PENDING);
    g_assert_cmpuint (prl_msrp_reasm_bytes (r), <=, MAX_PENDING * MAX_MESSAGE);
  }
  return 0;
}
