/* gateway/caps-cache.h - what each SIP contact refused, remembered for a while (pure).
 *
 * A SIP peer that answers 415 to a message/cpim body (twinkle, baresip) or to an isComposing
 * body (baresip) is remembered here, per contact (its address of record: user@host, scheme
 * and parameters dropped, lower case), so that the next message goes as plain text at once
 * and no more isComposing is sent to it. Bounded in entries, each entry expiring ttl after
 * its last update (a phone may be upgraded, or the AoR move to another device): time comes
 * from the caller (the event's now_us). Rules: mapping-docs/receipts.md §4.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  PRL_CAP_CPIM = 1 << 0,        /* message/cpim bodies */
  PRL_CAP_ISCOMPOSING = 1 << 1, /* application/im-iscomposing+xml bodies */
} PrlCap;

typedef struct _PrlCapsCache PrlCapsCache;

PrlCapsCache *prl_caps_cache_new (guint max_entries, guint ttl_s);
void prl_caps_cache_free (PrlCapsCache *cache);
void prl_caps_cache_set_limits (PrlCapsCache *cache, guint max_entries, guint ttl_s);
/* TRUE if @contact (a SIP URI) refused @cap and the entry has not expired. */
gboolean prl_caps_cache_refused (PrlCapsCache *cache, const char *contact, PrlCap cap,
                                 gint64 now_us);
/* @contact refused @cap (a 415): remember it from @now_us on. */
void prl_caps_cache_refuse (PrlCapsCache *cache, const char *contact, PrlCap cap, gint64 now_us);
/* Entries alive at @now_us (status, tests). */
guint prl_caps_cache_size (PrlCapsCache *cache, gint64 now_us);
/* The cache key of a SIP URI: "user@host" in lower case, or NULL if there is none. */
char *prl_caps_cache_key (const char *uri);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlCapsCache, prl_caps_cache_free)

G_END_DECLS
