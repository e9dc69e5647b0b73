/* gateway/ttl-map.h - a bounded map of string keys whose entries expire (pure).
 *
 * The core has no clock: every call takes the current time (an event's now_us). An entry
 * lives ttl_us from its last put; at most max_entries live at once, the oldest put is evicted
 * to make room. Expired entries are dropped lazily, oldest first, on every call. Used for the
 * per-contact capability cache (caps-cache.c) and the receipt correlation (interop.c).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _PrlTtlMap PrlTtlMap;

/* @value_free frees values (may be NULL). @max_entries >= 1. */
PrlTtlMap *prl_ttl_map_new (guint max_entries, gint64 ttl_us, GDestroyNotify value_free);
void prl_ttl_map_free (PrlTtlMap *map);
/* Inserts or replaces @key (copied) with @value (transfer full); the entry's life restarts. */
void prl_ttl_map_put (PrlTtlMap *map, const char *key, gpointer value, gint64 now_us);
/* (transfer none) the live value of @key, or NULL. */
gpointer prl_ttl_map_get (PrlTtlMap *map, const char *key, gint64 now_us);
/* Removes @key (frees its value); TRUE if it was there. */
gboolean prl_ttl_map_remove (PrlTtlMap *map, const char *key);
/* Drops expired entries; returns how many live. */
guint prl_ttl_map_size (PrlTtlMap *map, gint64 now_us);
/* Changes the bounds (config.reload); shrinking evicts the oldest at once. */
void prl_ttl_map_set_limits (PrlTtlMap *map, guint max_entries, gint64 ttl_us);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlTtlMap, prl_ttl_map_free)

G_END_DECLS
