/* sip/fuzz/fuzz-sdp.c - libFuzzer target: reading MSRP offers/answers (sip/sdp.c).
 *
 * Input: an INVITE or 2xx body claimed to be application/sdp, untrusted. prl_sdp_msrp_parse()
 * must never crash or leak, must give a reason exactly when it refuses, and what it accepts
 * with a port has a path and accept-types (what parleyd needs to start MSRP).
 * Seeds: sip/fuzz/corpus-sdp/.
 */
#include <stdint.h>

#include "sip/sdp.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_auto (PrlSdpMsrp) d = { 0 };
  g_autofree char *problem = NULL;
  gboolean ok = prl_sdp_msrp_parse ((const char *)data, size, &d, &problem);
  g_assert (ok == (problem == NULL));
  if (ok && d.port != 0) {
    g_assert (d.path != NULL && d.path[0] != '\0');
    g_assert (d.accept_types != NULL);
  }
  if (ok)
    (void)prl_sdp_msrp_accepts (d.accept_types, "text/plain");
  return 0;
}
