/* store/store-memory.c - the offline store in memory (GHashTable): for unit tests of the other
 * folders and for running without Redis.
 *
 * Same semantics as store-redis.c (store/README.md): per-user quota (count, bytes), a global
 * bound, duplicate ids parked once, leases, expiry, receive order. Nothing survives the
 * process. Time: this backend has no clock of its own; it keeps the latest now_us it was given
 * (claim, expire) and judges leases by it, so ack, which carries no time, renews a lease from
 * that value.
 *
 * Ownership: the data (Shared) is refcounted so that prl_store_memory_new_shared() can give a
 * second "instance" a handle on it; each handle is a PrlStore of its own. A user's messages
 * are PrlStoredMessage* owned by its queue; the id index points into that queue.
 */
#include "store/store-internal.h"

typedef struct {
  GQueue messages;   /* PrlStoredMessage* (owned), receive order */
  GHashTable *by_id; /* id -> GList* link in messages (borrowed) */
  guint64 bytes;     /* sum of body_len */
  char *lease_holder;
  gint64 lease_until_us;
  guint lease_ms;
} User;

typedef struct {
  grefcount ref;
  GHashTable *users; /* owner -> User* */
  guint64 total;     /* messages in the whole store */
  gint64 clock_us;   /* the latest now_us seen */
} Shared;

typedef struct {
  PrlStore parent;
  Shared *shared;
} StoreMemory;

static void
user_free (User *u)
{
  g_hash_table_unref (u->by_id);
  g_queue_clear_full (&u->messages, (GDestroyNotify)prl_stored_message_free);
  g_free (u->lease_holder);
  g_free (u);
}

static User *
user_lookup (Shared *sh, const char *owner, gboolean create)
{
  User *u = g_hash_table_lookup (sh->users, owner);
  if (u == NULL && create) {
    u = g_new0 (User, 1);
    g_queue_init (&u->messages);
    u->by_id = g_hash_table_new (g_str_hash, g_str_equal);
    g_hash_table_insert (sh->users, g_strdup (owner), u);
  }
  return u;
}

/* A user with no messages and no live lease takes no room. */
static void
user_drop_if_empty (Shared *sh, const char *owner, User *u)
{
  if (u->messages.length == 0 && (u->lease_holder == NULL || u->lease_until_us <= sh->clock_us))
    g_hash_table_remove (sh->users, owner);
}

static void
remove_link (Shared *sh, User *u, GList *link)
{
  PrlStoredMessage *m = link->data;
  g_hash_table_remove (u->by_id, m->id);
  u->bytes -= MIN (u->bytes, m->body_len);
  sh->total--;
  g_queue_delete_link (&u->messages, link);
  prl_stored_message_free (m);
}

static gboolean
is_expired (const PrlStoredMessage *m, gint64 now_us)
{
  return m->expires_us > 0 && m->expires_us < now_us;
}

static gboolean
lease_is_live (Shared *sh, User *u)
{
  return u->lease_holder != NULL && u->lease_until_us > sh->clock_us;
}

static void
memory_park (PrlStore *s, const PrlStoredMessage *m, const PrlStoreLimits *limits,
             PrlStoreDoneFunc done, gpointer user_data)
{
  Shared *sh = ((StoreMemory *)s)->shared;
  PrlStoreReply *r = prl_store_reply_new_done (s, done, user_data);
  User *u = user_lookup (sh, m->owner, FALSE);
  if (u != NULL && g_hash_table_contains (u->by_id, m->id)) {
    prl_store_reply_send (r); /* parked before: a retry, not a second copy */
    return;
  }
  guint count = u != NULL ? u->messages.length : 0;
  guint64 bytes = u != NULL ? u->bytes : 0;
  if (limits->max_total > 0 && sh->total >= limits->max_total)
    prl_store_reply_fail (r, PRL_STORE_ERROR_FULL, "the store holds %" G_GUINT64_FORMAT " messages",
                          sh->total);
  else if (limits->max_count > 0 && count >= limits->max_count)
    prl_store_reply_fail (r, PRL_STORE_ERROR_QUOTA, "%u messages already wait", count);
  else if (limits->max_bytes > 0 && bytes + m->body_len > limits->max_bytes)
    prl_store_reply_fail (r, PRL_STORE_ERROR_QUOTA, "byte quota full");
  else {
    u = user_lookup (sh, m->owner, TRUE);
    PrlStoredMessage *copy = prl_stored_message_dup (m);
    g_queue_push_tail (&u->messages, copy);
    g_hash_table_insert (u->by_id, copy->id, g_queue_peek_tail_link (&u->messages));
    u->bytes += m->body_len;
    sh->total++;
  }
  prl_store_reply_send (r);
}

static void
memory_claim (PrlStore *s, const char *owner, const char *after, guint max, guint lease_ms,
              gint64 now_us, PrlStoreClaimFunc done, gpointer user_data)
{
  Shared *sh = ((StoreMemory *)s)->shared;
  PrlStoreReply *r = prl_store_reply_new_claim (s, done, user_data);
  sh->clock_us = MAX (sh->clock_us, now_us);
  if (max == 0 || max > 1000)
    max = 1000;
  User *u = user_lookup (sh, owner, TRUE);
  if (lease_is_live (sh, u) && g_strcmp0 (u->lease_holder, s->instance) != 0) {
    prl_store_reply_fail (r, PRL_STORE_ERROR_LEASED, "%s is being flushed by %s", owner,
                          u->lease_holder);
    prl_store_reply_send (r);
    return;
  }
  g_free (u->lease_holder);
  u->lease_holder = g_strdup (s->instance);
  u->lease_ms = lease_ms;
  u->lease_until_us = now_us + (gint64)lease_ms * 1000;
  r->messages = g_ptr_array_new_with_free_func ((GDestroyNotify)prl_stored_message_free);
  GList *from = after != NULL ? g_hash_table_lookup (u->by_id, after) : NULL;
  GList *l = from != NULL ? from->next : u->messages.head; /* gone: from the head */
  while (l != NULL && r->messages->len < max) {
    GList *next = l->next;
    if (is_expired (l->data, now_us))
      remove_link (sh, u, l);
    else
      g_ptr_array_add (r->messages, prl_stored_message_dup (l->data));
    l = next;
  }
  prl_store_reply_send (r);
}

static void
memory_ack (PrlStore *s, const char *owner, const char *const *ids, guint n_ids,
            PrlStoreDoneFunc done, gpointer user_data)
{
  Shared *sh = ((StoreMemory *)s)->shared;
  PrlStoreReply *r = prl_store_reply_new_done (s, done, user_data);
  User *u = user_lookup (sh, owner, FALSE);
  if (u == NULL || !lease_is_live (sh, u) || g_strcmp0 (u->lease_holder, s->instance) != 0) {
    prl_store_reply_fail (r, PRL_STORE_ERROR_LEASED, "%s holds no lease on %s", s->instance, owner);
  } else {
    u->lease_until_us = sh->clock_us + (gint64)u->lease_ms * 1000;
    for (guint i = 0; i < n_ids; i++) {
      GList *link = g_hash_table_lookup (u->by_id, ids[i]);
      if (link != NULL) /* else gone already: acking twice is harmless */
        remove_link (sh, u, link);
    }
  }
  prl_store_reply_send (r);
}

static void
memory_release (PrlStore *s, const char *owner, PrlStoreDoneFunc done, gpointer user_data)
{
  Shared *sh = ((StoreMemory *)s)->shared;
  User *u = user_lookup (sh, owner, FALSE);
  if (u != NULL && g_strcmp0 (u->lease_holder, s->instance) == 0) {
    g_clear_pointer (&u->lease_holder, g_free);
    user_drop_if_empty (sh, owner, u);
  }
  prl_store_reply_send (prl_store_reply_new_done (s, done, user_data));
}

static void
memory_purge (PrlStore *s, const char *owner, PrlStoreDoneFunc done, gpointer user_data)
{
  Shared *sh = ((StoreMemory *)s)->shared;
  User *u = user_lookup (sh, owner, FALSE);
  if (u != NULL) {
    sh->total -= MIN (sh->total, u->messages.length);
    g_hash_table_remove (sh->users, owner);
  }
  prl_store_reply_send (prl_store_reply_new_done (s, done, user_data));
}

typedef struct {
  const char *owner;
  guint64 count;
  gint64 oldest_us;
} Entry;

static gint
entry_cmp (gconstpointer a, gconstpointer b)
{
  const Entry *x = a, *y = b;
  if (x->oldest_us != y->oldest_us)
    return x->oldest_us < y->oldest_us ? -1 : 1;
  return strcmp (x->owner, y->owner);
}

static void
memory_list (PrlStore *s, guint max, PrlStoreQueryFunc done, gpointer user_data)
{
  Shared *sh = ((StoreMemory *)s)->shared;
  PrlStoreReply *r = prl_store_reply_new_query (s, done, user_data);
  g_autoptr (GArray) entries = g_array_new (FALSE, FALSE, sizeof (Entry));
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init (&it, sh->users);
  while (g_hash_table_iter_next (&it, &key, &value)) {
    User *u = value;
    if (u->messages.length == 0)
      continue;
    const PrlStoredMessage *first = g_queue_peek_head (&u->messages);
    Entry e = { key, u->messages.length, first->received_us };
    g_array_append_val (entries, e);
  }
  g_array_sort (entries, entry_cmp); /* oldest first, as the Redis index is ordered */
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{s(tt)}"));
  for (guint i = 0; i < entries->len && (max == 0 || i < max); i++) {
    const Entry *e = &g_array_index (entries, Entry, i);
    g_variant_builder_add (&b, "{s(tt)}", e->owner, e->count, (guint64)MAX (e->oldest_us, 0));
  }
  r->result = g_variant_ref_sink (g_variant_builder_end (&b));
  prl_store_reply_send (r);
}

static void
memory_expire (PrlStore *s, gint64 now_us, PrlStoreQueryFunc done, gpointer user_data)
{
  Shared *sh = ((StoreMemory *)s)->shared;
  PrlStoreReply *r = prl_store_reply_new_query (s, done, user_data);
  sh->clock_us = MAX (sh->clock_us, now_us);
  guint64 removed = 0;
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init (&it, sh->users);
  while (g_hash_table_iter_next (&it, &key, &value)) {
    User *u = value;
    for (GList *l = u->messages.head, *next; l != NULL; l = next) {
      next = l->next;
      if (is_expired (l->data, now_us)) {
        remove_link (sh, u, l);
        removed++;
      }
    }
    if (u->messages.length == 0 && !lease_is_live (sh, u))
      g_hash_table_iter_remove (&it);
  }
  r->result = g_variant_ref_sink (g_variant_new_uint64 (removed));
  prl_store_reply_send (r);
}

static gboolean
memory_is_up (PrlStore *s)
{
  return TRUE;
}

static GVariant *
memory_describe (PrlStore *s)
{
  Shared *sh = ((StoreMemory *)s)->shared;
  guint64 bytes = 0;
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, sh->users);
  while (g_hash_table_iter_next (&it, NULL, &value))
    bytes += ((User *)value)->bytes;
  GVariantDict d;
  g_variant_dict_init (&d, NULL);
  g_variant_dict_insert (&d, "backend", "s", "memory");
  g_variant_dict_insert (&d, "instance", "s", s->instance != NULL ? s->instance : "");
  g_variant_dict_insert (&d, "up", "b", TRUE);
  g_variant_dict_insert (&d, "owners", "u", g_hash_table_size (sh->users));
  g_variant_dict_insert (&d, "messages", "t", sh->total);
  g_variant_dict_insert (&d, "bytes", "t", bytes);
  return g_variant_dict_end (&d);
}

static void
shared_unref (Shared *sh)
{
  if (g_ref_count_dec (&sh->ref)) {
    g_hash_table_unref (sh->users);
    g_free (sh);
  }
}

static void
memory_free (PrlStore *s)
{
  g_clear_pointer (&((StoreMemory *)s)->shared, shared_unref);
}

static const PrlStoreVTable memory_vtable = {
  .name = "memory",
  .park = memory_park,
  .claim = memory_claim,
  .ack = memory_ack,
  .release = memory_release,
  .purge = memory_purge,
  .list = memory_list,
  .expire = memory_expire,
  .is_up = memory_is_up,
  .describe = memory_describe,
  .free = memory_free,
};

static PrlStore *
handle_new (Shared *sh, const char *instance)
{
  StoreMemory *self = g_new0 (StoreMemory, 1);
  prl_store_init (&self->parent, &memory_vtable, instance);
  self->shared = sh;
  return &self->parent;
}

PrlStore *
prl_store_memory_new (const char *instance)
{
  g_return_val_if_fail (instance != NULL, NULL);
  Shared *sh = g_new0 (Shared, 1);
  g_ref_count_init (&sh->ref);
  sh->users = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)user_free);
  return handle_new (sh, instance);
}

PrlStore *
prl_store_memory_new_shared (PrlStore *other, const char *instance)
{
  g_return_val_if_fail (other != NULL && other->vtable == &memory_vtable, NULL);
  g_return_val_if_fail (instance != NULL, NULL);
  Shared *sh = ((StoreMemory *)other)->shared;
  g_ref_count_inc (&sh->ref);
  return handle_new (sh, instance);
}
