/* store/store-acks.c - prl_store_ack() coalesced: the acks of one owner go to the backend in
 * batches, at most one batch per owner waiting for its answer at a time (store.h).
 *
 * DESIGN. A flush acks each message as its delivery is confirmed; with a flush window many
 * confirmations arrive close together (a read of MSRP 200s, a burst of SIP 2xx). One backend
 * call per ack cost Redis a script run, an AOF record, an fsync (appendfsync always: one per
 * event-loop iteration with writes) and a reply each. So acks are grouped like a group commit:
 * - an owner with no batch at the backend gets its acks sent from an idle callback at
 *   G_PRIORITY_DEFAULT (the next main-loop iteration), all those asked until then together;
 * - while one of its batches is at the backend, its new acks wait, and go together as soon as
 *   that batch is answered: the batch size follows the backend's latency, and a flush with a
 *   window of 1 (the next delivery waits for the ack's answer) never waits at all;
 * - a batch of PRL_STORE_ACK_BATCH ids goes at once, and every other operation on the store
 *   first sends every waiting batch (store.c calls prl_store_acks_flush), so the backend sees
 *   the requests in the order they were made: an ack asked before a claim is applied before
 *   it. Batches of different owners go out in the order of their first ack.
 * A waiting ack is bounded: by the batch size, and by the next claim of its flush.
 *
 * What a batch's answer means is the backend's (all or none); each ack in it gets that same
 * answer, once, through its own callback, in the order the acks were asked.
 *
 * Ownership: the PrlStore owns its PrlStoreAcks and that its Owner entries (one per owner with
 * acks waiting or a batch at the backend); a Batch owns its ids and waiters until the
 * backend's answer has been fanned out (the Batch is that call's user_data).
 */
#include "store/store-internal.h"

typedef struct {
  PrlStoreDoneFunc done;
  gpointer user_data;
} Waiter;

typedef struct {
  char *owner;
  GPtrArray *ids;  /* char*, owned */
  GArray *waiters; /* Waiter, in the order asked */
} Batch;

typedef struct {
  char *owner;
  Batch *waiting;   /* acks not sent yet, or NULL */
  guint at_backend; /* batches sent and not answered */
  GList link;       /* in PrlStoreAcks.order while @waiting (data = this) */
} Owner;

struct _PrlStoreAcks {
  GHashTable *owners; /* owner (the Owner's) -> Owner*, owned */
  GQueue order;       /* Owner* with a waiting batch, by its first ack (links borrowed) */
  guint idle_id;
};

static void
batch_free (Batch *b)
{
  g_free (b->owner);
  g_ptr_array_unref (b->ids);
  g_array_unref (b->waiters);
  g_free (b);
}

static void
owner_free (Owner *o)
{
  g_assert (o->waiting == NULL);
  g_free (o->owner);
  g_free (o);
}

void
prl_store_acks_init (PrlStore *s)
{
  s->acks = g_new0 (PrlStoreAcks, 1);
  s->acks->owners = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                           (GDestroyNotify)owner_free);
  g_queue_init (&s->acks->order);
}

void
prl_store_acks_clear (PrlStore *s)
{
  PrlStoreAcks *a = s->acks;
  if (a == NULL)
    return;
  g_assert (g_queue_is_empty (&a->order)); /* flushed first */
  g_clear_handle_id (&a->idle_id, g_source_remove);
  g_hash_table_unref (a->owners); /* batches still at the backend answer without it */
  g_clear_pointer (&s->acks, g_free);
}

static void send_waiting (PrlStore *s, Owner *o);

/* An owner with nothing waiting and nothing at the backend takes no room. */
static void
owner_maybe_drop (PrlStoreAcks *a, Owner *o)
{
  if (o->waiting == NULL && o->at_backend == 0)
    g_hash_table_remove (a->owners, o->owner);
}

/* The backend's one answer, fanned out to every ack of the batch; then the acks of that owner
 * that waited meanwhile go (those callbacks may have added some). */
static void
on_batch_done (PrlStore *s, const GError *error, gpointer data)
{
  Batch *b = data;
  for (guint i = 0; i < b->waiters->len; i++) {
    const Waiter *w = &g_array_index (b->waiters, Waiter, i);
    if (w->done != NULL)
      w->done (s, error, w->user_data);
  }
  PrlStoreAcks *a = s->acks; /* NULL once the store is being freed */
  Owner *o = a != NULL ? g_hash_table_lookup (a->owners, b->owner) : NULL;
  batch_free (b);
  if (o == NULL)
    return;
  g_assert (o->at_backend > 0);
  o->at_backend--;
  if (o->at_backend == 0 && o->waiting != NULL && !prl_store_is_freeing (s))
    send_waiting (s, o);
  else
    owner_maybe_drop (a, o);
}

static void
send_waiting (PrlStore *s, Owner *o)
{
  Batch *b = g_steal_pointer (&o->waiting);
  g_queue_unlink (&s->acks->order, &o->link);
  o->at_backend++;
  s->vtable->ack (s, b->owner, (const char *const *)b->ids->pdata, b->ids->len, on_batch_done, b);
}

void
prl_store_acks_flush (PrlStore *s)
{
  PrlStoreAcks *a = s->acks;
  Owner *o;
  while ((o = g_queue_peek_head (&a->order)) != NULL)
    send_waiting (s, o);
}

/* Sends the batches of owners with nothing at the backend; the others go with the answer. */
static gboolean
on_idle (gpointer data)
{
  PrlStore *s = data;
  PrlStoreAcks *a = s->acks;
  a->idle_id = 0;
  for (GList *l = a->order.head, *next; l != NULL; l = next) {
    next = l->next;
    Owner *o = l->data;
    if (o->at_backend == 0)
      send_waiting (s, o);
  }
  return G_SOURCE_REMOVE;
}

void
prl_store_acks_add (PrlStore *s, const char *owner, const char *id, PrlStoreDoneFunc done,
                    gpointer user_data)
{
  PrlStoreAcks *a = s->acks;
  Owner *o = g_hash_table_lookup (a->owners, owner);
  if (o == NULL) {
    o = g_new0 (Owner, 1);
    o->owner = g_strdup (owner);
    o->link.data = o;
    g_hash_table_insert (a->owners, o->owner, o);
  }
  Batch *b = o->waiting;
  if (b == NULL) {
    b = o->waiting = g_new0 (Batch, 1);
    b->owner = g_strdup (owner);
    b->ids = g_ptr_array_new_with_free_func (g_free);
    b->waiters = g_array_new (FALSE, FALSE, sizeof (Waiter));
    g_queue_push_tail_link (&a->order, &o->link);
  }
  g_ptr_array_add (b->ids, g_strdup (id));
  Waiter w = { done, user_data };
  g_array_append_val (b->waiters, w);
  if (b->ids->len >= PRL_STORE_ACK_BATCH)
    send_waiting (s, o);
  else if (o->at_backend == 0 && a->idle_id == 0)
    a->idle_id = g_idle_add_full (G_PRIORITY_DEFAULT, on_idle, s, NULL);
}
