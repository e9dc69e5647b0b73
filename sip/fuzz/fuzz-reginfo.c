/* sip/fuzz/fuzz-reginfo.c - libFuzzer target: the RFC 3680 reginfo body parser.
 *
 * Input: the body of a reg-event NOTIFY, as untrusted bytes. prl_reginfo_parse() must never
 * crash, abort or leak, must set an error exactly when it returns NULL, and what it returns
 * must be well formed (an aor on every registration, a contact only on active ones).
 * Seeds: sip/fuzz/corpus-reginfo/.
 */
#include <stdint.h>

#include "sip/reginfo.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PrlReginfo) info = prl_reginfo_parse ((const char *)data, size, &error);
  g_assert ((info == NULL) == (error != NULL));
  if (info != NULL) {
    g_assert (info->registrations->len <= PRL_REGINFO_MAX_REGISTRATIONS);
    for (guint i = 0; i < info->registrations->len; i++) {
      const PrlReginfoRegistration *r = g_ptr_array_index (info->registrations, i);
      g_assert (r->aor != NULL && g_utf8_validate (r->aor, -1, NULL));
      g_assert (r->contact == NULL || r->active);
    }
  }
  return 0;
}
