/* gateway/tests/test-offline.c - unit tests of gateway/offline.c (and its use by core.c).
 *
 * What the vectors do not show well: the date formats over many instants (checked against
 * GDateTime), owner-key normalisation, the bounded LRU tables, and a property test: N parked
 * messages flushed with random delivery failures and random re-claims are each acked at most
 * once, never before an earlier one, and every claim that got a lease ends with a release;
 * and the same for windowed SIP flushes (§6a) whose answers come in any order, against a fake
 * store that honours claim-after (or, at random, ignores it, as when the id is gone).
 * Rules: mapping-docs/offline.md §2, §5, §6, §6a.
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

/* ---------------------------------------------------------------- windowed property test */

typedef struct {
  PrlCore *core;
  GRand *rand;
  gint64 now;
  GPtrArray *parked;  /* PrlStoredMessage*: the fake store's queue, in order */
  GHashTable *acked;  /* id -> count */
  GHashTable *flying; /* MESSAGE request id -> message index (received order) */
  GQueue store_answers; /* PrlEvent* (store results, in the order the store applied them) */
  GPtrArray *sip_answers; /* PrlEvent* (SIP responses: delivered in any order) */
  gint64 last_sent;     /* received_us of the last message sent in this flush */
  gboolean leased;
} WinRig;

static gint
parked_index (WinRig *r, const char *id)
{
  for (guint k = 0; k < r->parked->len; k++)
    if (strcmp (((PrlStoredMessage *)g_ptr_array_index (r->parked, k))->id, id) == 0)
      return (gint)k;
  return -1;
}

static void
win_execute (WinRig *r, GPtrArray *out)
{
  for (guint i = 0; i < out->len; i++) {
    PrlAction *a = g_ptr_array_index (out, i);
    PrlEvent *ev = g_new0 (PrlEvent, 1);
    ev->kind = PRL_EVENT_STORE_RESULT;
    ev->store.request = a->store.request;
    switch (a->kind) {
    case PRL_ACTION_STORE_CLAIM: {
      gint from = 0;
      if (a->store.after != NULL && g_rand_boolean (r->rand)) /* else: as if it were gone */
        from = parked_index (r, a->store.after) + 1;
      ev->store.messages = g_ptr_array_new_with_free_func ((GDestroyNotify)prl_stored_message_free);
      for (guint k = (guint)from; k < r->parked->len && ev->store.messages->len < a->store.max;
           k++) {
        const PrlStoredMessage *m = g_ptr_array_index (r->parked, k);
        g_ptr_array_add (ev->store.messages, prl_stored_message_dup (m));
      }
      r->leased = TRUE;
      g_queue_push_tail (&r->store_answers, ev);
      break;
    }
    case PRL_ACTION_STORE_ACK: {
      guint n = GPOINTER_TO_UINT (g_hash_table_lookup (r->acked, a->store.id));
      g_assert_cmpuint (n, ==, 0); /* acked at most once */
      g_hash_table_insert (r->acked, g_strdup (a->store.id), GUINT_TO_POINTER (n + 1));
      gint k = parked_index (r, a->store.id);
      g_assert_cmpint (k, >=, 0);
      g_ptr_array_remove_index (r->parked, (guint)k);
      g_queue_push_tail (&r->store_answers, ev);
      break;
    }
    case PRL_ACTION_STORE_RELEASE:
      g_assert_true (r->leased);
      r->leased = FALSE;
      g_queue_push_tail (&r->store_answers, ev);
      break;
    case PRL_ACTION_SIP_SEND: {
      /* call-id "ID@parley": the message sent; never one already in flight, in receive order */
      g_autofree char *id = g_strndup (a->sip->call_id, strcspn (a->sip->call_id, "@"));
      gint k = parked_index (r, id);
      g_assert_cmpint (k, >=, 0); /* never one acked already */
      const PrlStoredMessage *m = g_ptr_array_index (r->parked, (guint)k);
      g_assert_cmpint (m->received_us, >, r->last_sent);
      r->last_sent = m->received_us;
      g_assert_false (g_hash_table_contains (r->flying, &a->sip->txn));
      g_hash_table_insert (r->flying, g_memdup2 (&a->sip->txn, sizeof a->sip->txn), NULL);
      ev->kind = PRL_EVENT_SIP_RESPONSE;
      ev->response.request = a->sip->txn;
      ev->response.status = g_rand_int_range (r->rand, 0, 30) == 0 ? 480 : 200;
      g_ptr_array_add (r->sip_answers, ev);
      break;
    }
    default:
      g_free (ev);
      break;
    }
  }
}

static void
win_free_event (PrlEvent *ev)
{
  if (ev->kind == PRL_EVENT_STORE_RESULT && ev->store.messages != NULL)
    g_ptr_array_unref (ev->store.messages);
  g_free (ev);
}

/* Delivers the pending answers, a random one of the two kinds each time, until none is left. */
static void
win_run (WinRig *r, PrlEvent *first)
{
  g_autoptr (GPtrArray) out = prl_action_array_new ();
  first->now_us = r->now;
  prl_core_handle (r->core, first, out);
  win_execute (r, out);
  for (;;) {
    gboolean store = !g_queue_is_empty (&r->store_answers);
    gboolean sip = r->sip_answers->len > 0;
    if (!store && !sip)
      break;
    PrlEvent *ev;
    if (store && (!sip || g_rand_boolean (r->rand))) {
      ev = g_queue_pop_head (&r->store_answers);
    } else {
      guint k = (guint)g_rand_int_range (r->rand, 0, (gint32)r->sip_answers->len);
      ev = g_ptr_array_steal_index_fast (r->sip_answers, k);
      g_assert_true (g_hash_table_remove (r->flying, &ev->response.request));
    }
    r->now += 1000;
    ev->now_us = r->now;
    g_ptr_array_set_size (out, 0);
    prl_core_handle (r->core, ev, out);
    win_free_event (ev);
    win_execute (r, out);
  }
}

static void
test_flush_window_property (void)
{
  for (guint32 seed = 1; seed <= 60; seed++) {
    WinRig r = { 0 };
    r.rand = g_rand_new_with_seed (seed);
    PrlCoreConfig c;
    prl_core_config_init (&c);
    prl_core_config_add_domain (&c, "sip.example.net", PRL_ADDR_DIRECT, NULL);
    c.offline_enabled = TRUE;
    c.flush_batch = (guint)g_rand_int_range (r.rand, 1, 7);
    c.flush_window = (guint)g_rand_int_range (r.rand, 2, 9);
    r.core = prl_core_new (&c);
    prl_core_config_clear (&c);
    r.parked = g_ptr_array_new_with_free_func ((GDestroyNotify)prl_stored_message_free);
    r.acked = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    r.flying = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
    r.sip_answers = g_ptr_array_new ();
    g_queue_init (&r.store_answers);
    guint n = (guint)g_rand_int_range (r.rand, 0, 60);
    for (guint i = 0; i < n; i++) {
      PrlStoredMessage *m = prl_stored_message_new ();
      m->id = g_strdup_printf ("m%03u", i);
      m->owner = g_strdup ("sip:alice@sip.example.net");
      m->to = g_strdup ("sip:alice@sip.example.net");
      m->from = g_strdup ("sip:bob@xmpp.example.com");
      m->kind = g_strdup ("page");
      m->origin = g_strdup ("xmpp");
      m->body = g_strdup ("x");
      m->body_len = 1;
      m->received_us = 1000000 * (gint64)(i + 1);
      g_ptr_array_add (r.parked, m);
    }
    r.now = 1;
    PrlEvent up = { .kind = PRL_EVENT_XMPP_LINK, .link_up = TRUE };
    win_run (&r, &up);
    PrlEvent sup = { .kind = PRL_EVENT_STORE_STATE, .store_up = TRUE };
    win_run (&r, &sup);
    for (int round = 0; round < 400 && r.parked->len > 0; round++) {
      PrlEvent reg = { .kind = PRL_EVENT_SIP_REGISTER };
      reg.reg.aor = (char *)"sip:alice@sip.example.net";
      reg.reg.contact = (char *)"sip:alice@192.0.2.7";
      reg.reg.expires = 3600;
      r.last_sent = 0; /* a new flush starts again from the oldest left */
      win_run (&r, &reg);
      g_assert_false (r.leased); /* every flush gave its lease back */
      g_assert_cmpuint (g_hash_table_size (r.flying), ==, 0);
    }
    g_assert_cmpuint (r.parked->len, ==, 0);
    g_assert_cmpuint (g_hash_table_size (r.acked), ==, n);
    prl_core_free (r.core);
    g_ptr_array_unref (r.parked);
    g_ptr_array_unref (r.sip_answers);
    g_hash_table_unref (r.acked);
    g_hash_table_unref (r.flying);
    g_rand_free (r.rand);
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
  g_test_add_func ("/offline/flush-window-property", test_flush_window_property);
  return g_test_run ();
}
