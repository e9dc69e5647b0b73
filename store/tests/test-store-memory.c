/* store/tests/test-store-memory.c - the memory backend against the store semantics.
 *
 * The checks are shared with the Redis backend (store-checks.h); here two "instances" are two
 * handles on one memory store (prl_store_memory_new_shared). Also: the vtable is complete,
 * describe() reports, and memory-only lease timing from now_us.
 */
#include "store-checks.h"

static PrlStore *shared_root; /* the data every opened handle shares, for one test */

static PrlStore *
open_memory (const char *instance)
{
  return prl_store_memory_new_shared (shared_root, instance);
}

static const Backend memory_backend = { .open = open_memory };

static void
run_check (gconstpointer data)
{
  void (*check) (const Backend *) = (void (*) (const Backend *))data;
  shared_root = prl_store_memory_new ("root");
  check (&memory_backend);
  g_clear_pointer (&shared_root, prl_store_free);
}

/* Leases follow the now_us of the calls, not the wall clock. */
static void
test_lease_clock (void)
{
  g_autoptr (PrlStore) a = prl_store_memory_new ("gw-a");
  g_autoptr (PrlStore) b = prl_store_memory_new_shared (a, "gw-b");
  Answer r = { 0 };
  prl_store_claim (a, "u", 10, 1000, 1000000, on_claimed, &r);
  wait_count (&r.calls, 1);
  g_assert_no_error (r.error);
  answer_clear (&r);
  prl_store_claim (b, "u", 10, 1000, 1999999, on_claimed, &r);
  wait_count (&r.calls, 1);
  g_assert_error (r.error, PRL_STORE_ERROR, PRL_STORE_ERROR_LEASED);
  answer_clear (&r);
  prl_store_claim (b, "u", 10, 1000, 2000001, on_claimed, &r);
  wait_count (&r.calls, 1);
  g_assert_no_error (r.error);
  answer_clear (&r);
  g_autoptr (GVariant) d = prl_store_describe (b);
  const char *backend = NULL;
  g_assert_true (g_variant_lookup (d, "backend", "&s", &backend));
  g_assert_cmpstr (backend, ==, "memory");
  g_assert_true (prl_store_is_up (b));
}

static void
on_state_never (PrlStore *s, gboolean is_up, gpointer data)
{
  g_assert_not_reached ();
}

static void
test_state (void)
{
  g_autoptr (PrlStore) s = prl_store_memory_new ("gw-a");
  prl_store_set_state_func (s, on_state_never, NULL);
  g_assert_true (prl_store_is_up (s));
  spin (10);
}

static void
test_error_quark (void)
{
  g_assert_cmpstr (g_quark_to_string (PRL_STORE_ERROR), ==, "prl-store-error-quark");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/store/memory/roundtrip", (gconstpointer)check_roundtrip, run_check);
  g_test_add_data_func ("/store/memory/order", (gconstpointer)check_order, run_check);
  g_test_add_data_func ("/store/memory/quota", (gconstpointer)check_quota, run_check);
  g_test_add_data_func ("/store/memory/lease", (gconstpointer)check_lease, run_check);
  g_test_add_data_func ("/store/memory/expiry", (gconstpointer)check_expiry, run_check);
  g_test_add_data_func ("/store/memory/claim-after", (gconstpointer)check_claim_after, run_check);
  g_test_add_data_func ("/store/memory/ack-batch", (gconstpointer)check_ack_batch, run_check);
  g_test_add_data_func ("/store/memory/binary", (gconstpointer)check_binary, run_check);
  g_test_add_data_func ("/store/memory/free-pending", (gconstpointer)check_free_pending, run_check);
  g_test_add_data_func ("/store/memory/free-in-callback", (gconstpointer)check_free_in_callback,
                        run_check);
  g_test_add_func ("/store/memory/lease-clock", test_lease_clock);
  g_test_add_func ("/store/memory/state", test_state);
  g_test_add_func ("/store/memory/error-quark", test_error_quark);
  return g_test_run ();
}
