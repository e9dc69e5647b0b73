/* gateway/fuzz/fuzz-vector.c - libFuzzer target: the .vec loader, and the core behind it.
 *
 * Any input is parsed as a test vector (gateway/vector.c); whatever loads is then run on a
 * fresh core, so the fuzzer also drives prl_core_handle() with arbitrary event sequences and
 * configurations. Outputs are not compared: only crashes, aborts and leaks count.
 * Seeds: gateway/fuzz/corpus-vector/ and test-vectors/.
 */
#include "gateway/vector.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (PrlVector) v = prl_vector_load_data ((const char *)data, size, "fuzz", NULL);
  if (v == NULL)
    return 0;
  g_autofree char *diff = NULL;
  (void)prl_vector_run (v, NULL, NULL, &diff);
  return 0;
}
