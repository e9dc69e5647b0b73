/* store/tests/store-checks.h - the PrlStore semantics, checked the same way on every backend.
 *
 * Included by test-store-memory.c and test-store-redis.c (statics only). Each check gets a
 * Backend: how to make a store for an instance id, and a second store (another instance) on
 * the same data. Operations are driven through the default GMainContext and waited for with
 * a 10 s bound; every answer is checked to come after the call returned, exactly once.
 */
#pragma once

#include <string.h>

#include "store/store.h"

typedef struct {
  PrlStore *(*open) (const char *instance); /* a fresh store on shared data */
} Backend;

typedef struct {
  guint calls;
  GError *error;
  GPtrArray *messages;
  GVariant *result;
} Answer;

static void
answer_clear (Answer *a)
{
  g_clear_error (&a->error);
  g_clear_pointer (&a->messages, g_ptr_array_unref);
  g_clear_pointer (&a->result, g_variant_unref);
  a->calls = 0;
}

static void
on_done (PrlStore *s, const GError *error, gpointer data)
{
  Answer *a = data;
  a->calls++;
  if (error != NULL)
    a->error = g_error_copy (error);
}

static void
on_claimed (PrlStore *s, GPtrArray *messages, const GError *error, gpointer data)
{
  Answer *a = data;
  a->calls++;
  if (error != NULL) {
    g_assert_null (messages);
    a->error = g_error_copy (error);
    return;
  }
  g_assert_nonnull (messages);
  a->messages = g_ptr_array_new_with_free_func ((GDestroyNotify)prl_stored_message_free);
  for (guint i = 0; i < messages->len; i++)
    g_ptr_array_add (a->messages, prl_stored_message_dup (g_ptr_array_index (messages, i)));
}

static void
on_query (PrlStore *s, GVariant *result, const GError *error, gpointer data)
{
  Answer *a = data;
  a->calls++;
  if (error != NULL)
    a->error = g_error_copy (error);
  else
    a->result = g_variant_ref (result);
}

static gboolean
on_timeout_flag (gpointer data)
{
  *(gboolean *)data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the default context until *@count reaches @want; fails the test after 10 s. */
static void
wait_count (guint *count, guint want)
{
  gboolean is_late = FALSE;
  guint id = g_timeout_add (10000, on_timeout_flag, &is_late);
  while (*count < want && !is_late)
    g_main_context_iteration (NULL, TRUE);
  if (!is_late)
    g_source_remove (id);
  g_assert_false (is_late);
  g_assert_cmpuint (*count, ==, want);
}

static void
spin (guint ms)
{
  gboolean is_late = FALSE;
  g_timeout_add (ms, on_timeout_flag, &is_late);
  while (!is_late)
    g_main_context_iteration (NULL, TRUE);
}

static PrlStoredMessage *
make_message (const char *owner, const char *id, const char *body, gint64 received_us)
{
  PrlStoredMessage *m = prl_stored_message_new ();
  m->id = g_strdup (id);
  m->owner = g_strdup (owner);
  m->to = g_strdup ("juliet@xmpp.test");
  m->original_to = g_strdup ("sip:juliet@xmpp.test");
  m->from = g_strdup ("romeo\\40sip.test@gw.xmpp.test");
  m->kind = g_strdup ("page");
  m->content_type = g_strdup ("text/plain;charset=UTF-8");
  m->body = g_strdup (body);
  m->body_len = strlen (body);
  m->lang = g_strdup ("en");
  m->subject = g_strdup ("s");
  m->thread = g_strdup ("t-1");
  m->origin = g_strdup ("sip");
  m->original_id = g_strdup ("call-1@sip.test");
  m->received_us = received_us;
  m->expires_us = received_us + 7 * G_TIME_SPAN_DAY;
  return m;
}

static void
assert_same_message (const PrlStoredMessage *a, const PrlStoredMessage *b)
{
  g_assert_cmpstr (a->id, ==, b->id);
  g_assert_cmpstr (a->owner, ==, b->owner);
  g_assert_cmpstr (a->to, ==, b->to);
  g_assert_cmpstr (a->original_to, ==, b->original_to);
  g_assert_cmpstr (a->from, ==, b->from);
  g_assert_cmpstr (a->kind, ==, b->kind);
  g_assert_cmpstr (a->content_type, ==, b->content_type);
  g_assert_cmpmem (a->body, a->body_len, b->body, b->body_len);
  g_assert_cmpint (a->body[a->body_len], ==, 0);
  g_assert_cmpstr (a->lang, ==, b->lang);
  g_assert_cmpstr (a->subject, ==, b->subject);
  g_assert_cmpstr (a->thread, ==, b->thread);
  g_assert_cmpstr (a->origin, ==, b->origin);
  g_assert_cmpstr (a->original_id, ==, b->original_id);
  g_assert_cmpint (a->received_us, ==, b->received_us);
  g_assert_cmpint (a->expires_us, ==, b->expires_us);
}

/* ---- synchronous helpers: each also checks the answer did not come from inside the call ---- */

static void
park_expect (PrlStore *s, const PrlStoredMessage *m, const PrlStoreLimits *limits, int code)
{
  Answer a = { 0 };
  prl_store_park (s, m, limits, on_done, &a);
  g_assert_cmpuint (a.calls, ==, 0);
  wait_count (&a.calls, 1);
  if (code < 0)
    g_assert_no_error (a.error);
  else
    g_assert_error (a.error, PRL_STORE_ERROR, code);
  answer_clear (&a);
}

static GPtrArray *
claim_expect (PrlStore *s, const char *owner, guint max, guint lease_ms, int code)
{
  Answer a = { 0 };
  prl_store_claim (s, owner, max, lease_ms, g_get_real_time (), on_claimed, &a);
  g_assert_cmpuint (a.calls, ==, 0);
  wait_count (&a.calls, 1);
  if (code >= 0) {
    g_assert_error (a.error, PRL_STORE_ERROR, code);
    answer_clear (&a);
    return NULL;
  }
  g_assert_no_error (a.error);
  return g_steal_pointer (&a.messages);
}

static void
ack_expect (PrlStore *s, const char *owner, const char *id, int code)
{
  Answer a = { 0 };
  prl_store_ack (s, owner, id, on_done, &a);
  g_assert_cmpuint (a.calls, ==, 0);
  wait_count (&a.calls, 1);
  if (code < 0)
    g_assert_no_error (a.error);
  else
    g_assert_error (a.error, PRL_STORE_ERROR, code);
  answer_clear (&a);
}

static void
release_ok (PrlStore *s, const char *owner)
{
  Answer a = { 0 };
  prl_store_release (s, owner, on_done, &a);
  wait_count (&a.calls, 1);
  g_assert_no_error (a.error);
}

static void
purge_ok (PrlStore *s, const char *owner)
{
  Answer a = { 0 };
  prl_store_purge (s, owner, on_done, &a);
  wait_count (&a.calls, 1);
  g_assert_no_error (a.error);
}

static GVariant *
list_ok (PrlStore *s, guint max)
{
  Answer a = { 0 };
  prl_store_list (s, max, on_query, &a);
  g_assert_cmpuint (a.calls, ==, 0);
  wait_count (&a.calls, 1);
  g_assert_no_error (a.error);
  g_assert_true (g_variant_is_of_type (a.result, G_VARIANT_TYPE ("a{s(tt)}")));
  return g_steal_pointer (&a.result);
}

static guint64
expire_ok (PrlStore *s, gint64 now_us)
{
  Answer a = { 0 };
  prl_store_expire (s, now_us, on_query, &a);
  g_assert_cmpuint (a.calls, ==, 0);
  wait_count (&a.calls, 1);
  g_assert_no_error (a.error);
  guint64 n = g_variant_get_uint64 (a.result);
  answer_clear (&a);
  return n;
}

/* ---- the checks ---- */

static void
check_roundtrip (const Backend *b)
{
  g_autoptr (PrlStore) s = b->open ("gw-a");
  gint64 now = g_get_real_time ();
  g_autoptr (PrlStoredMessage) m1 = make_message ("xmpp:juliet@xmpp.test", "m1", "hello", now);
  g_autoptr (PrlStoredMessage) m2 = make_message ("xmpp:juliet@xmpp.test", "m2", "", now + 1);
  g_autoptr (PrlStoredMessage) m3 = prl_stored_message_new (); /* optional fields unset */
  m3->id = g_strdup ("m3");
  m3->owner = g_strdup ("xmpp:juliet@xmpp.test");
  m3->to = g_strdup ("juliet@xmpp.test");
  m3->from = g_strdup ("sip:romeo@sip.test");
  m3->received_us = now + 2;
  park_expect (s, m1, NULL, -1);
  park_expect (s, m2, NULL, -1);
  park_expect (s, m3, NULL, -1);
  park_expect (s, m1, NULL, -1); /* a retry: still one copy */
  g_autoptr (GPtrArray) got = claim_expect (s, "xmpp:juliet@xmpp.test", 10, 30000, -1);
  g_assert_cmpuint (got->len, ==, 3);
  assert_same_message (g_ptr_array_index (got, 0), m1);
  assert_same_message (g_ptr_array_index (got, 1), m2);
  PrlStoredMessage *g3 = g_ptr_array_index (got, 2);
  g_assert_cmpstr (g3->id, ==, "m3");
  g_assert_null (g3->body);
  g_assert_cmpuint (g3->body_len, ==, 0);
  g_assert_null (g3->lang);
  g_assert_null (g3->original_id);
  g_assert_cmpint (g3->expires_us, ==, 0);
  /* another user sees nothing */
  g_autoptr (GPtrArray) none = claim_expect (s, "sip:alice@sip.test", 10, 30000, -1);
  g_assert_cmpuint (none->len, ==, 0);
  release_ok (s, "sip:alice@sip.test");
  ack_expect (s, "xmpp:juliet@xmpp.test", "m1", -1);
  ack_expect (s, "xmpp:juliet@xmpp.test", "m1", -1); /* twice: harmless */
  ack_expect (s, "xmpp:juliet@xmpp.test", "m2", -1);
  g_autoptr (GPtrArray) rest = claim_expect (s, "xmpp:juliet@xmpp.test", 10, 30000, -1);
  g_assert_cmpuint (rest->len, ==, 1);
  g_assert_cmpstr (((PrlStoredMessage *)g_ptr_array_index (rest, 0))->id, ==, "m3");
  ack_expect (s, "xmpp:juliet@xmpp.test", "m3", -1);
  release_ok (s, "xmpp:juliet@xmpp.test");
  g_autoptr (GVariant) l = list_ok (s, 100);
  g_assert_cmpuint (g_variant_n_children (l), ==, 0);
}

static void
check_order (const Backend *b)
{
  g_autoptr (PrlStore) s = b->open ("gw-a");
  const char *owner = "sip:bulk@sip.test";
  gint64 now = g_get_real_time ();
  Answer a = { 0 };
  for (guint i = 0; i < 1000; i++) { /* all in flight at once */
    g_autofree char *id = g_strdup_printf ("id-%04u", i);
    g_autofree char *body = g_strdup_printf ("message %u", i);
    g_autoptr (PrlStoredMessage) m = make_message (owner, id, body, now + i);
    prl_store_park (s, m, NULL, on_done, &a);
  }
  wait_count (&a.calls, 1000);
  g_assert_no_error (a.error);
  g_autoptr (GPtrArray) got = claim_expect (s, owner, 1000, 30000, -1);
  g_assert_cmpuint (got->len, ==, 1000);
  for (guint i = 0; i < got->len; i++) {
    g_autofree char *id = g_strdup_printf ("id-%04u", i);
    g_assert_cmpstr (((PrlStoredMessage *)g_ptr_array_index (got, i))->id, ==, id);
  }
  g_autoptr (GPtrArray) some = claim_expect (s, owner, 10, 30000, -1);
  g_assert_cmpuint (some->len, ==, 10);
  g_assert_cmpstr (((PrlStoredMessage *)g_ptr_array_index (some, 9))->id, ==, "id-0009");
  g_autoptr (GVariant) l = list_ok (s, 100);
  guint64 count = 0, oldest = 0;
  g_assert_true (g_variant_lookup (l, owner, "(tt)", &count, &oldest));
  g_assert_cmpuint (count, ==, 1000);
  g_assert_cmpuint (oldest, ==, (guint64)now);
  purge_ok (s, owner);
  g_autoptr (GPtrArray) none = claim_expect (s, owner, 10, 30000, -1);
  g_assert_cmpuint (none->len, ==, 0);
  g_autoptr (GVariant) l2 = list_ok (s, 100);
  g_assert_false (g_variant_lookup (l2, owner, "(tt)", &count, &oldest));
}

static void
check_quota (const Backend *b)
{
  g_autoptr (PrlStore) s = b->open ("gw-a");
  gint64 now = g_get_real_time ();
  PrlStoreLimits by_count = { .max_count = 2 };
  g_autoptr (PrlStoredMessage) m1 = make_message ("sip:q@sip.test", "q1", "abc", now);
  g_autoptr (PrlStoredMessage) m2 = make_message ("sip:q@sip.test", "q2", "abc", now);
  g_autoptr (PrlStoredMessage) m3 = make_message ("sip:q@sip.test", "q3", "abc", now);
  park_expect (s, m1, &by_count, -1);
  park_expect (s, m2, &by_count, -1);
  park_expect (s, m3, &by_count, PRL_STORE_ERROR_QUOTA);
  park_expect (s, m2, &by_count, -1); /* a retry of a parked one is not refused */
  g_autoptr (PrlStoredMessage) other = make_message ("sip:r@sip.test", "r1", "abc", now);
  park_expect (s, other, &by_count, -1); /* per user */

  PrlStoreLimits by_bytes = { .max_bytes = 10 };
  g_autoptr (PrlStoredMessage) b1 = make_message ("sip:b@sip.test", "b1", "123456", now);
  g_autoptr (PrlStoredMessage) b2 = make_message ("sip:b@sip.test", "b2", "123456", now);
  g_autoptr (PrlStoredMessage) b3 = make_message ("sip:b@sip.test", "b3", "1234", now);
  park_expect (s, b1, &by_bytes, -1);
  park_expect (s, b2, &by_bytes, PRL_STORE_ERROR_QUOTA);
  park_expect (s, b3, &by_bytes, -1); /* exactly 10 */

  /* acking frees room */
  g_autoptr (GPtrArray) got = claim_expect (s, "sip:q@sip.test", 10, 30000, -1);
  g_assert_cmpuint (got->len, ==, 2);
  ack_expect (s, "sip:q@sip.test", "q1", -1);
  park_expect (s, m3, &by_count, -1);

  /* the global bound: 5 messages in the store now */
  PrlStoreLimits total = { .max_total = 5 };
  g_autoptr (PrlStoredMessage) f = make_message ("sip:f@sip.test", "f1", "x", now);
  park_expect (s, f, &total, PRL_STORE_ERROR_FULL);
  total.max_total = 6;
  park_expect (s, f, &total, -1);
  for (const char *const *o = (const char *const[]){ "sip:q@sip.test", "sip:r@sip.test",
                                                     "sip:b@sip.test", "sip:f@sip.test", NULL };
       *o != NULL; o++)
    purge_ok (s, *o);
  park_expect (s, f, &total, -1); /* purge gave the room back */
  purge_ok (s, "sip:f@sip.test");
}

static void
check_lease (const Backend *b)
{
  g_autoptr (PrlStore) a = b->open ("gw-a");
  g_autoptr (PrlStore) c = b->open ("gw-b");
  const char *owner = "xmpp:lease@xmpp.test";
  gint64 now = g_get_real_time ();
  g_autoptr (PrlStoredMessage) m1 = make_message (owner, "l1", "one", now);
  g_autoptr (PrlStoredMessage) m2 = make_message (owner, "l2", "two", now);
  park_expect (a, m1, NULL, -1);
  park_expect (c, m2, NULL, -1);
  g_autoptr (GPtrArray) got = claim_expect (a, owner, 10, 30000, -1);
  g_assert_cmpuint (got->len, ==, 2);
  claim_expect (c, owner, 10, 30000, PRL_STORE_ERROR_LEASED);
  ack_expect (c, owner, "l1", PRL_STORE_ERROR_LEASED);
  ack_expect (a, owner, "l1", -1);
  g_autoptr (GPtrArray) again = claim_expect (a, owner, 10, 30000, -1); /* re-claim: ours */
  g_assert_cmpuint (again->len, ==, 1);
  release_ok (c, owner); /* not c's lease: nothing happens */
  claim_expect (c, owner, 10, 30000, PRL_STORE_ERROR_LEASED);
  release_ok (a, owner);
  g_autoptr (GPtrArray) by_c = claim_expect (c, owner, 10, 300, -1);
  g_assert_cmpuint (by_c->len, ==, 1);
  g_assert_cmpstr (((PrlStoredMessage *)g_ptr_array_index (by_c, 0))->id, ==, "l2");
  /* c's short lease runs out: a may claim (and c may not ack any more) */
  spin (600);
  g_autoptr (GPtrArray) by_a = claim_expect (a, owner, 10, 30000, -1);
  g_assert_cmpuint (by_a->len, ==, 1);
  ack_expect (c, owner, "l2", PRL_STORE_ERROR_LEASED);
  ack_expect (a, owner, "l2", -1);
  release_ok (a, owner);
}

/* Ids of @got, space-separated (for one comparison per claim). */
static char *
ids_of (const GPtrArray *got)
{
  GString *out = g_string_new (NULL);
  for (guint i = 0; got != NULL && i < got->len; i++)
    g_string_append_printf (out, "%s%s", i > 0 ? " " : "",
                            ((const PrlStoredMessage *)g_ptr_array_index (got, i))->id);
  return g_string_free (out, FALSE);
}

static char *
claim_after_ids (PrlStore *s, const char *owner, const char *after, guint max)
{
  Answer a = { 0 };
  prl_store_claim_after (s, owner, after, max, 30000, g_get_real_time (), on_claimed, &a);
  g_assert_cmpuint (a.calls, ==, 0);
  wait_count (&a.calls, 1);
  g_assert_no_error (a.error);
  char *ids = ids_of (a.messages);
  answer_clear (&a);
  return ids;
}

static void
park_numbered (PrlStore *s, const char *owner, guint n)
{
  gint64 now = g_get_real_time ();
  Answer a = { 0 };
  for (guint i = 0; i < n; i++) {
    g_autofree char *id = g_strdup_printf ("k%u", i);
    g_autoptr (PrlStoredMessage) m = make_message (owner, id, "body", now + i);
    prl_store_park (s, m, NULL, on_done, &a);
  }
  wait_count (&a.calls, n);
  g_assert_no_error (a.error);
}

static guint64
count_of (PrlStore *s, const char *owner)
{
  g_autoptr (GVariant) l = list_ok (s, 1000);
  guint64 count = 0, oldest = 0;
  if (!g_variant_lookup (l, owner, "(tt)", &count, &oldest))
    return 0;
  return count;
}

/* claim_after lists what is queued after an id the caller holds; from the head when that id
 * is unknown or gone. */
static void
check_claim_after (const Backend *b)
{
  g_autoptr (PrlStore) s = b->open ("gw-a");
  const char *owner = "sip:after@sip.test";
  park_numbered (s, owner, 8);
  g_autofree char *first = claim_after_ids (s, owner, NULL, 3);
  g_assert_cmpstr (first, ==, "k0 k1 k2");
  g_autofree char *next = claim_after_ids (s, owner, "k2", 3);
  g_assert_cmpstr (next, ==, "k3 k4 k5");
  g_autofree char *tail = claim_after_ids (s, owner, "k5", 10);
  g_assert_cmpstr (tail, ==, "k6 k7");
  g_autofree char *none = claim_after_ids (s, owner, "k7", 10);
  g_assert_cmpstr (none, ==, "");
  g_autofree char *unknown = claim_after_ids (s, owner, "nope", 2);
  g_assert_cmpstr (unknown, ==, "k0 k1");
  ack_expect (s, owner, "k5", -1);
  g_autofree char *gone = claim_after_ids (s, owner, "k5", 2); /* acked: from the head */
  g_assert_cmpstr (gone, ==, "k0 k1");
  purge_ok (s, owner);
}

/* Acks asked together are answered each, once, after the call; they reach the store before a
 * claim asked after them; a batch is all or none (LEASED); the counters follow. */
static void
check_ack_batch (const Backend *b)
{
  g_autoptr (PrlStore) s = b->open ("gw-a");
  g_autoptr (PrlStore) other = b->open ("gw-b");
  const char *owner = "sip:batch@sip.test";
  guint n = PRL_STORE_ACK_BATCH + 44; /* more than one batch */
  park_numbered (s, owner, n + 10);
  g_autoptr (GPtrArray) got = claim_expect (s, owner, 1000, 30000, -1);
  g_assert_cmpuint (got->len, ==, n + 10);

  /* n coalesced acks, then at once a claim: it must not list any of them */
  Answer acks = { 0 };
  for (guint i = 0; i < n; i++) {
    g_autofree char *id = g_strdup_printf ("k%u", i);
    prl_store_ack (s, owner, id, on_done, &acks);
  }
  g_assert_cmpuint (acks.calls, ==, 0);
  Answer claim = { 0 };
  prl_store_claim (s, owner, 1000, 30000, g_get_real_time (), on_claimed, &claim);
  wait_count (&claim.calls, 1);
  g_assert_cmpuint (acks.calls, ==, n); /* the acks' answers came before the claim's */
  g_assert_no_error (acks.error);
  g_assert_no_error (claim.error);
  g_autofree char *left = ids_of (claim.messages);
  g_autofree char *want = g_strdup_printf ("k%u k%u k%u k%u k%u k%u k%u k%u k%u k%u", n, n + 1,
                                           n + 2, n + 3, n + 4, n + 5, n + 6, n + 7, n + 8, n + 9);
  g_assert_cmpstr (left, ==, want);
  answer_clear (&claim);
  answer_clear (&acks);
  g_assert_cmpuint (count_of (s, owner), ==, 10);

  /* out of order, a duplicate and an id gone already: one answer, the rest stays in order */
  g_autofree char *a1 = g_strdup_printf ("k%u", n + 7);
  g_autofree char *a2 = g_strdup_printf ("k%u", n + 2);
  const char *ids[] = { a1, a2, a1, "k0" };
  Answer many = { 0 };
  prl_store_ack_many (s, owner, ids, G_N_ELEMENTS (ids), on_done, &many);
  g_assert_cmpuint (many.calls, ==, 0);
  wait_count (&many.calls, 1);
  g_assert_no_error (many.error);
  answer_clear (&many);
  g_assert_cmpuint (count_of (s, owner), ==, 8);

  /* another instance: LEASED, and nothing of the batch is removed */
  g_autofree char *b1 = g_strdup_printf ("k%u", n);
  g_autofree char *b2 = g_strdup_printf ("k%u", n + 1);
  Answer theirs = { 0 };
  prl_store_ack (other, owner, b1, on_done, &theirs);
  prl_store_ack (other, owner, b2, on_done, &theirs);
  wait_count (&theirs.calls, 2);
  g_assert_error (theirs.error, PRL_STORE_ERROR, PRL_STORE_ERROR_LEASED);
  answer_clear (&theirs);
  g_assert_cmpuint (count_of (s, owner), ==, 8);

  /* the head acked in order (the common case) */
  const char *head[] = { b1, b2 };
  prl_store_ack_many (s, owner, head, 2, on_done, &many);
  wait_count (&many.calls, 1);
  g_assert_no_error (many.error);
  answer_clear (&many);
  g_autoptr (GPtrArray) rest = claim_expect (s, owner, 1000, 30000, -1);
  g_autofree char *rest_ids = ids_of (rest);
  g_autofree char *rest_want
      = g_strdup_printf ("k%u k%u k%u k%u k%u k%u", n + 3, n + 4, n + 5, n + 6, n + 8, n + 9);
  g_assert_cmpstr (rest_ids, ==, rest_want);
  g_assert_cmpuint (count_of (s, owner), ==, 6);
  purge_ok (s, owner);
}

static void
check_expiry (const Backend *b)
{
  g_autoptr (PrlStore) s = b->open ("gw-a");
  gint64 now = g_get_real_time ();
  g_autoptr (PrlStoredMessage) old = make_message ("sip:e1@sip.test", "e-old", "x", now - 10);
  old->expires_us = now - 5;
  g_autoptr (PrlStoredMessage) live = make_message ("sip:e1@sip.test", "e-live", "y", now);
  g_autoptr (PrlStoredMessage) never = make_message ("sip:e1@sip.test", "e-never", "z", now);
  never->expires_us = 0;
  park_expect (s, old, NULL, -1);
  park_expect (s, live, NULL, -1);
  park_expect (s, never, NULL, -1);
  g_autoptr (GPtrArray) got = claim_expect (s, "sip:e1@sip.test", 10, 30000, -1);
  g_assert_cmpuint (got->len, ==, 2);
  g_assert_cmpstr (((PrlStoredMessage *)g_ptr_array_index (got, 0))->id, ==, "e-live");
  g_assert_cmpstr (((PrlStoredMessage *)g_ptr_array_index (got, 1))->id, ==, "e-never");
  release_ok (s, "sip:e1@sip.test");

  /* the sweep, over several users */
  for (guint u = 0; u < 3; u++) {
    g_autofree char *owner = g_strdup_printf ("sip:sweep%u@sip.test", u);
    for (guint i = 0; i < 4; i++) {
      g_autofree char *id = g_strdup_printf ("s%u-%u", u, i);
      g_autoptr (PrlStoredMessage) m = make_message (owner, id, "x", now + i);
      m->expires_us = now + 1000 + i; /* i < 2 expire at now + 1001.5 */
      park_expect (s, m, NULL, -1);
    }
  }
  g_assert_cmpuint (expire_ok (s, now), ==, 0);
  g_assert_cmpuint (expire_ok (s, now + 1002), ==, 3 * 2 + 0);
  g_autoptr (GVariant) l = list_ok (s, 100);
  guint64 count = 0, oldest = 0;
  g_assert_true (g_variant_lookup (l, "sip:sweep1@sip.test", "(tt)", &count, &oldest));
  g_assert_cmpuint (count, ==, 2);
  g_assert_cmpuint (oldest, ==, (guint64)now + 2);
  /* e1 still holds e-live and e-never: both expire... e-never never does */
  g_assert_cmpuint (expire_ok (s, now + 30 * G_TIME_SPAN_DAY), ==, 3 * 2 + 1);
  g_autoptr (GVariant) l2 = list_ok (s, 100);
  g_assert_cmpuint (g_variant_n_children (l2), ==, 1);
  g_assert_true (g_variant_lookup (l2, "sip:e1@sip.test", "(tt)", &count, &oldest));
  g_assert_cmpuint (count, ==, 1);
  purge_ok (s, "sip:e1@sip.test");
}

static void
check_binary (const Backend *b)
{
  g_autoptr (PrlStore) s = b->open ("gw-a");
  const char *owner = "sip:odd{tag}%@sip.test"; /* braces cannot break the hash tag */
  g_autoptr (PrlStoredMessage) m = make_message (owner, "bin", "", g_get_real_time ());
  static const char body[] = "a\0b\0\0c\xff\xfe\n\r\0";
  g_free (m->body);
  m->body = g_malloc (sizeof body);
  memcpy (m->body, body, sizeof body);
  m->body_len = sizeof body - 1;
  park_expect (s, m, NULL, -1);
  g_autoptr (GPtrArray) got = claim_expect (s, owner, 10, 30000, -1);
  g_assert_cmpuint (got->len, ==, 1);
  assert_same_message (g_ptr_array_index (got, 0), m);
  g_autoptr (GVariant) l = list_ok (s, 100);
  guint64 count = 0, oldest = 0;
  g_assert_true (g_variant_lookup (l, owner, "(tt)", &count, &oldest));
  g_assert_cmpuint (count, ==, 1);
  purge_ok (s, owner);
}

/* Work pending when the store is freed is answered exactly once, from the free. */
static void
check_free_pending (const Backend *b)
{
  PrlStore *s = b->open ("gw-a");
  Answer a = { 0 }, c = { 0 }, q = { 0 };
  g_autoptr (PrlStoredMessage) m = make_message ("sip:free@sip.test", "f", "x", 1);
  prl_store_park (s, m, NULL, on_done, &a);
  prl_store_claim (s, "sip:free@sip.test", 1, 1000, 1, on_claimed, &c);
  prl_store_list (s, 10, on_query, &q);
  prl_store_free (s);
  g_assert_cmpuint (a.calls, ==, 1);
  g_assert_cmpuint (c.calls, ==, 1);
  g_assert_cmpuint (q.calls, ==, 1);
  spin (50);
  g_assert_cmpuint (a.calls, ==, 1);
  answer_clear (&a);
  answer_clear (&c);
  answer_clear (&q);
}

static void
on_done_free (PrlStore *s, const GError *error, gpointer data)
{
  (*(guint *)data)++;
  prl_store_free (s); /* allowed from a callback */
}

static void
check_free_in_callback (const Backend *b)
{
  PrlStore *s = b->open ("gw-a");
  guint calls = 0;
  Answer other = { 0 };
  prl_store_release (s, "sip:x@sip.test", on_done_free, &calls);
  prl_store_release (s, "sip:y@sip.test", on_done, &other);
  wait_count (&calls, 1);
  g_assert_cmpuint (other.calls, ==, 1); /* answered by the free */
  answer_clear (&other);
}
