/* store/store-acks.c - prl_store_ack() coalesced: the acks of one owner asked within one
 * main-loop iteration go to the backend as one call (store.h).
 *
 * DESIGN. A flush acks each message as its delivery is confirmed; with a flush window many
 * confirmations arrive together (one read of MSRP 200s, a burst of SIP 2xx). One backend call
 * per ack cost Redis a script run, an AOF write and a reply each, and parleyd a command each;
 * one call per batch costs that once. A batch is one owner's acks in the order asked; it is
 * handed to the backend from an idle callback at G_PRIORITY_DEFAULT (the iteration after the
 * one that asked), when it holds PRL_STORE_ACK_BATCH ids, or before any other operation on the
 * store (store.c calls prl_store_acks_flush first), so the backend sees every request in the
 * order it was made and an ack asked before a claim is applied before it. Batches of
 * different owners go out in the order of their first ack.
 *
 * What a batch's answer means is the backend's (all or none); each ack in it gets that same
 * answer, once, through its own callback, in the order the acks were asked.
 *
 * Ownership: the PrlStore owns its PrlStoreAcks; a Batch owns its ids and waiters until the
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

struct _PrlStoreAcks {
  GHashTable *by_owner; /* owner (the Batch's) -> Batch*, borrowed from @order */
  GQueue order;         /* Batch*, owned, by first ack */
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

void
prl_store_acks_init (PrlStore *s)
{
  s->acks = g_new0 (PrlStoreAcks, 1);
  s->acks->by_owner = g_hash_table_new (g_str_hash, g_str_equal);
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
  g_hash_table_unref (a->by_owner);
  g_clear_pointer (&s->acks, g_free);
}

/* The backend's one answer, fanned out to every ack of the batch. */
static void
on_batch_done (PrlStore *s, const GError *error, gpointer data)
{
  Batch *b = data;
  for (guint i = 0; i < b->waiters->len; i++) {
    const Waiter *w = &g_array_index (b->waiters, Waiter, i);
    if (w->done != NULL)
      w->done (s, error, w->user_data);
  }
  batch_free (b);
}

static void
send_batch (PrlStore *s, Batch *b)
{
  PrlStoreAcks *a = s->acks;
  g_hash_table_remove (a->by_owner, b->owner);
  g_queue_remove (&a->order, b);
  s->vtable->ack (s, b->owner, (const char *const *)b->ids->pdata, b->ids->len, on_batch_done, b);
}

void
prl_store_acks_flush (PrlStore *s)
{
  PrlStoreAcks *a = s->acks;
  Batch *b;
  while ((b = g_queue_peek_head (&a->order)) != NULL)
    send_batch (s, b);
}

static gboolean
on_idle (gpointer data)
{
  PrlStore *s = data;
  s->acks->idle_id = 0;
  prl_store_acks_flush (s);
  return G_SOURCE_REMOVE;
}

void
prl_store_acks_add (PrlStore *s, const char *owner, const char *id, PrlStoreDoneFunc done,
                    gpointer user_data)
{
  PrlStoreAcks *a = s->acks;
  Batch *b = g_hash_table_lookup (a->by_owner, owner);
  if (b == NULL) {
    b = g_new0 (Batch, 1);
    b->owner = g_strdup (owner);
    b->ids = g_ptr_array_new_with_free_func (g_free);
    b->waiters = g_array_new (FALSE, FALSE, sizeof (Waiter));
    g_hash_table_insert (a->by_owner, b->owner, b);
    g_queue_push_tail (&a->order, b);
  }
  g_ptr_array_add (b->ids, g_strdup (id));
  Waiter w = { done, user_data };
  g_array_append_val (b->waiters, w);
  if (b->ids->len >= PRL_STORE_ACK_BATCH) {
    send_batch (s, b);
    return;
  }
  if (a->idle_id == 0)
    a->idle_id = g_idle_add_full (G_PRIORITY_DEFAULT, on_idle, s, NULL);
}
