/* gateway/tests/test-offline.c - unit tests of gateway/offline.c (and its use by core.c).
 *
 * What the vectors do not show well: the date formats over many instants (checked against
 * GDateTime), owner-key normalisation, the bounded LRU tables, and a property test: N parked
 * messages flushed with random delivery failures and random re-claims are each acked at most
 * once, never before an earlier one, and every claim that got a lease ends with a release.
 * Rules: mapping-docs/offline.md §2, §5, §6.
 */
#include "gateway/offline.h"

#include <string.h>

static void
test_stamp (void)
{
  g_autofree char *a = prl_offline_format_stamp (1740820500123000);
  g_assert_cmpstr (a, ==, "2025-03-01T09:15:00.123Z");
  g_autofree char *b = prl_offline_format_http_date (784111777000000);
  g_assert_cmpstr (b, ==, "Sun, 06 Nov 1994 08:49:37 GMT");
  g_autofree char *c = prl_offline_format_stamp (0);
  g_assert_cmpstr (c, ==, "1970-01-01T00:00:00.000Z");
  g_autofree char *d = prl_offline_format_stamp (951782400000000); /* leap day 2000 */
  g_assert_cmpstr (d, ==, "2000-02-29T00:00:00.000Z");
  GRand *rand = g_rand_new_with_seed (7);
  for (int i = 0; i < 2000; i++) {
    gint64 s = (gint64)g_rand_double_range (rand, 0, 4102444800.0); /* up to 2100 */
    gint64 us = s * G_USEC_PER_SEC + g_rand_int_range (rand, 0, 1000) * 1000;
    g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (s);
    g_autofree char *want_iso = g_date_time_format (dt, "%Y-%m-%dT%H:%M:%S");
    g_autofree char *want_http = g_date_time_format (dt, "%a, %d %b %Y %H:%M:%S GMT");
    g_autofree char *iso = prl_offline_format_stamp (us);
    g_autofree char *http = prl_offline_format_http_date (us);
    g_assert_true (g_str_has_prefix (iso, want_iso));
    g_assert_cmpint (strlen (iso), ==, 24);
    g_assert_cmpstr (http, ==, want_http); /* C locale in tests: English names */
  }
  g_rand_free (rand);
}

static void
test_owner_keys (void)
{
  struct {
    const char *in, *want;
  } sip[] = {
    { "sip:alice@SIP.Example.NET", "sip:alice@sip.example.net" },
    { "sip:Alice@sip.example.net:5061;transport=tcp?x=y", "sip:Alice@sip.example.net" },
    { "<sips:alice:pw@[2001:DB8::1]:5060>", "sip:alice@[2001:db8::1]" },
    { "sip:alice@host;gr=urn:uuid:1", "sip:alice@host" },
    { "sip:host.example.net", NULL },
    { "tel:+123", NULL },
    { "sip:@host", NULL },
    { NULL, NULL },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (sip); i++) {
    g_autofree char *got = prl_offline_owner_sip (sip[i].in);
    g_assert_cmpstr (got, ==, sip[i].want);
  }
  g_autofree char *x1 = prl_offline_owner_xmpp ("Bob@XMPP.example.com/Laptop");
  g_assert_cmpstr (x1, ==, "xmpp:bob@xmpp.example.com");
  g_autofree char *x2 = prl_offline_owner_xmpp ("bob@xmpp.example.com");
  g_assert_cmpstr (x2, ==, "xmpp:bob@xmpp.example.com");
  g_assert_null (prl_offline_owner_xmpp ("/res"));
  g_assert_null (prl_offline_owner_xmpp (NULL));
}

static void
test_lru (void)
{
  g_autoptr (PrlOfflineLru) lru = prl_offline_lru_new (3);
  prl_offline_lru_put (lru, "a", 1);
  prl_offline_lru_put (lru, "b", 2);
  prl_offline_lru_put (lru, "c", 3);
  prl_offline_lru_put (lru, "a", 4); /* refresh: b is now the oldest */
  prl_offline_lru_put (lru, "d", 5);
  g_assert_cmpuint (prl_offline_lru_size (lru), ==, 3);
  gint64 v = 0;
  g_assert_false (prl_offline_lru_get (lru, "b", &v));
  g_assert_true (prl_offline_lru_get (lru, "a", &v));
  g_assert_cmpint (v, ==, 4);
  prl_offline_lru_remove (lru, "c");
  prl_offline_lru_remove (lru, "zz");
  g_assert_cmpuint (prl_offline_lru_size (lru), ==, 2);
  for (int i = 0; i < 1000; i++) {
    g_autofree char *k = g_strdup_printf ("k%d", i);
    prl_offline_lru_put (lru, k, i);
  }
  g_assert_cmpuint (prl_offline_lru_size (lru), ==, 3);
  g_assert_true (prl_offline_lru_get (lru, "k999", NULL));
}

/* ---------------------------------------------------------------- property test */

typedef struct {
  GPtrArray *parked; /* PrlStoredMessage*: the fake store's queue for one user, in order */
  GHashTable *acked; /* id -> count */
  guint64 last_acked_index;
  gboolean leased;
} FakeStore;

static void handle_all (PrlCore *core, FakeStore *st, GRand *rand, PrlEvent *ev, gint64 *now);

static void
feed (PrlCore *core, FakeStore *st, GRand *rand, PrlEvent *ev, gint64 *now)
{
  ev->now_us = *now;
  handle_all (core, st, rand, ev, now);
}

/* Executes the core's actions like a daemon with a fake store and a flaky XMPP peer. */
static void
handle_all (PrlCore *core, FakeStore *st, GRand *rand, PrlEvent *ev, gint64 *now)
{
  g_autoptr (GPtrArray) out = prl_action_array_new ();
  prl_core_handle (core, ev, out);
  for (guint i = 0; i < out->len; i++) {
    PrlAction *a = g_ptr_array_index (out, i);
    *now += 1000;
    switch (a->kind) {
    case PRL_ACTION_STORE_CLAIM: {
      g_autoptr (GPtrArray) batch = g_ptr_array_new ();
      for (guint k = 0; k < st->parked->len && batch->len < a->store.max; k++)
        g_ptr_array_add (batch, g_ptr_array_index (st->parked, k));
      st->leased = TRUE;
      PrlEvent r = { .kind = PRL_EVENT_STORE_RESULT };
      r.store.request = a->store.request;
      r.store.outcome = PRL_STORE_OK;
      r.store.messages = batch;
      feed (core, st, rand, &r, now);
      break;
    }
    case PRL_ACTION_STORE_ACK: {
      guint idx = 0;
      for (idx = 0; idx < st->parked->len; idx++)
        if (strcmp (((PrlStoredMessage *)g_ptr_array_index (st->parked, idx))->id, a->store.id)
            == 0)
          break;
      g_assert_cmpuint (idx, ==, 0); /* only ever the oldest one: receive order */
      PrlStoredMessage *m = g_ptr_array_index (st->parked, 0);
      guint n = GPOINTER_TO_UINT (g_hash_table_lookup (st->acked, m->id));
      g_assert_cmpuint (n, ==, 0); /* acked at most once */
      g_hash_table_insert (st->acked, g_strdup (m->id), GUINT_TO_POINTER (n + 1));
      g_ptr_array_remove_index (st->parked, 0);
      PrlEvent r = { .kind = PRL_EVENT_STORE_RESULT };
      r.store.request = a->store.request;
      feed (core, st, rand, &r, now);
      break;
    }
    case PRL_ACTION_STORE_RELEASE: {
      g_assert_true (st->leased);
      st->leased = FALSE;
      PrlEvent r = { .kind = PRL_EVENT_STORE_RESULT };
      r.store.request = a->store.request;
      feed (core, st, rand, &r, now);
      break;
    }
    case PRL_ACTION_XMPP_SEND: {
      g_assert_nonnull (a->xmpp->delay_stamp);
      if (g_rand_int_range (rand, 0, 4) == 0) { /* the recipient bounces it */
        PrlXmppMessage *err = prl_xmpp_message_dup (a->xmpp);
        g_free (err->type);
        err->type = g_strdup ("error");
        g_free (err->from);
        err->from = g_strdup (a->xmpp->to);
        err->error_condition = g_strdup ("service-unavailable");
        PrlEvent r = { .kind = PRL_EVENT_XMPP_MESSAGE, .xmpp = err };
        feed (core, st, rand, &r, now);
        prl_xmpp_message_free (err);
      }
      break;
    }
    case PRL_ACTION_TIMER: {
      PrlEvent r = { .kind = PRL_EVENT_TIMER, .timer_id = a->timer.id };
      feed (core, st, rand, &r, now);
      break;
    }
    default:
      break;
    }
  }
}

static void
test_flush_property (void)
{
  for (guint32 seed = 1; seed <= 50; seed++) {
    GRand *rand = g_rand_new_with_seed (seed);
    PrlCoreConfig c;
    prl_core_config_init (&c);
    prl_core_config_add_domain (&c, "sip.example.net", PRL_ADDR_DIRECT, NULL);
    c.offline_enabled = TRUE;
    c.flush_batch = (guint)g_rand_int_range (rand, 1, 6);
    PrlCore *core = prl_core_new (&c);
    prl_core_config_clear (&c);
    FakeStore st = { 0 };
    st.parked = g_ptr_array_new_with_free_func ((GDestroyNotify)prl_stored_message_free);
    st.acked = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    guint n = (guint)g_rand_int_range (rand, 0, 40);
    for (guint i = 0; i < n; i++) {
      PrlStoredMessage *m = prl_stored_message_new ();
      m->id = g_strdup_printf ("m%03u", i);
      m->owner = g_strdup ("xmpp:bob@xmpp.example.com");
      m->to = g_strdup ("bob@xmpp.example.com");
      m->from = g_strdup ("alice@sip.example.net");
      m->body = g_strdup ("x");
      m->body_len = 1;
      m->received_us = 1000000 * (gint64)(i + 1);
      g_ptr_array_add (st.parked, m);
    }
    gint64 now = 1;
    PrlEvent up = { .kind = PRL_EVENT_XMPP_LINK, .link_up = TRUE };
    feed (core, &st, rand, &up, &now);
    PrlEvent sup = { .kind = PRL_EVENT_STORE_STATE, .store_up = TRUE };
    feed (core, &st, rand, &sup, &now);
    for (int round = 0; round < 200 && st.parked->len > 0; round++) {
      PrlEvent p = { .kind = PRL_EVENT_XMPP_PRESENCE };
      p.presence.from = (char *)"bob@xmpp.example.com/x";
      p.presence.to = (char *)"gw.example.com";
      p.presence.available = TRUE;
      feed (core, &st, rand, &p, &now);
      g_assert_false (st.leased); /* every lease given back once the flush ended */
    }
    g_assert_cmpuint (st.parked->len, ==, 0);
    g_assert_cmpuint (g_hash_table_size (st.acked), ==, n);
    prl_core_free (core);
    g_ptr_array_unref (st.parked);
    g_hash_table_unref (st.acked);
    g_rand_free (rand);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/offline/stamp", test_stamp);
  g_test_add_func ("/offline/owner-keys", test_owner_keys);
  g_test_add_func ("/offline/lru", test_lru);
  g_test_add_func ("/offline/flush-property", test_flush_property);
  return g_test_run ();
}
