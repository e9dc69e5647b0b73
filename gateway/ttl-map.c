/* gateway/ttl-map.c - bounded, expiring string map (see ttl-map.h).
 *
 * DESIGN. A hash table finds an entry; a queue keeps entries in put order, which is also
 * expiry order because every entry gets the same ttl from its put (a put of an existing key
 * moves it to the tail). So expiry and eviction are both "pop the head", O(1) each.
 * Ownership: the map owns keys, values (value_free) and entries.
 */
#include "gateway/ttl-map.h"

typedef struct {
  char *key;
  gpointer value;
  gint64 expires_us;
  GList link; /* in order; link.data = this entry */
} Entry;

struct _PrlTtlMap {
  GHashTable *by_key; /* key (borrowed from the entry) -> Entry*, owned */
  GQueue order;       /* Entry links, oldest put first */
  guint max_entries;
  gint64 ttl_us;
  GDestroyNotify value_free;
};

static void
entry_free (PrlTtlMap *map, Entry *e)
{
  if (map->value_free != NULL && e->value != NULL)
    map->value_free (e->value);
  g_free (e->key);
  g_free (e);
}

PrlTtlMap *
prl_ttl_map_new (guint max_entries, gint64 ttl_us, GDestroyNotify value_free)
{
  PrlTtlMap *map = g_new0 (PrlTtlMap, 1);
  map->by_key = g_hash_table_new (g_str_hash, g_str_equal);
  g_queue_init (&map->order);
  map->max_entries = MAX (max_entries, 1);
  map->ttl_us = ttl_us;
  map->value_free = value_free;
  return map;
}

static void
drop (PrlTtlMap *map, Entry *e)
{
  g_queue_unlink (&map->order, &e->link);
  g_hash_table_remove (map->by_key, e->key);
  entry_free (map, e);
}

void
prl_ttl_map_free (PrlTtlMap *map)
{
  if (map == NULL)
    return;
  while (map->order.head != NULL)
    drop (map, map->order.head->data);
  g_hash_table_unref (map->by_key);
  g_free (map);
}

static void
expire (PrlTtlMap *map, gint64 now_us)
{
  while (map->order.head != NULL) {
    Entry *e = map->order.head->data;
    if (e->expires_us > now_us)
      break;
    drop (map, e);
  }
}

void
prl_ttl_map_put (PrlTtlMap *map, const char *key, gpointer value, gint64 now_us)
{
  g_return_if_fail (map != NULL && key != NULL);
  expire (map, now_us);
  Entry *old = g_hash_table_lookup (map->by_key, key);
  if (old != NULL)
    drop (map, old);
  while (g_hash_table_size (map->by_key) >= map->max_entries)
    drop (map, map->order.head->data);
  Entry *e = g_new0 (Entry, 1);
  e->key = g_strdup (key);
  e->value = value;
  e->expires_us = now_us + map->ttl_us;
  e->link.data = e;
  g_queue_push_tail_link (&map->order, &e->link);
  g_hash_table_insert (map->by_key, e->key, e);
}

gpointer
prl_ttl_map_get (PrlTtlMap *map, const char *key, gint64 now_us)
{
  g_return_val_if_fail (map != NULL, NULL);
  expire (map, now_us);
  Entry *e = key != NULL ? g_hash_table_lookup (map->by_key, key) : NULL;
  return e != NULL ? e->value : NULL;
}

gboolean
prl_ttl_map_remove (PrlTtlMap *map, const char *key)
{
  g_return_val_if_fail (map != NULL, FALSE);
  Entry *e = key != NULL ? g_hash_table_lookup (map->by_key, key) : NULL;
  if (e == NULL)
    return FALSE;
  drop (map, e);
  return TRUE;
}

guint
prl_ttl_map_size (PrlTtlMap *map, gint64 now_us)
{
  g_return_val_if_fail (map != NULL, 0);
  expire (map, now_us);
  return g_hash_table_size (map->by_key);
}

void
prl_ttl_map_set_limits (PrlTtlMap *map, guint max_entries, gint64 ttl_us)
{
  g_return_if_fail (map != NULL);
  map->max_entries = MAX (max_entries, 1);
  map->ttl_us = ttl_us;
  while (g_hash_table_size (map->by_key) > map->max_entries)
    drop (map, map->order.head->data);
}
