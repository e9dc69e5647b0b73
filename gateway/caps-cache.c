/* gateway/caps-cache.c - per-contact refusals (see caps-cache.h), on a PrlTtlMap.
 *
 * Values are the refused PrlCap bits stored in the pointer itself (never 0: an entry exists
 * only once something was refused). Ownership: the map owns everything.
 * Rules: mapping-docs/receipts.md §4.
 */
#include "gateway/caps-cache.h"

#include "gateway/ttl-map.h"

#include <string.h>

struct _PrlCapsCache {
  PrlTtlMap *map;
};

PrlCapsCache *
prl_caps_cache_new (guint max_entries, guint ttl_s)
{
  PrlCapsCache *c = g_new0 (PrlCapsCache, 1);
  c->map = prl_ttl_map_new (max_entries, (gint64)ttl_s * G_USEC_PER_SEC, NULL);
  return c;
}

void
prl_caps_cache_free (PrlCapsCache *c)
{
  if (c == NULL)
    return;
  prl_ttl_map_free (c->map);
  g_free (c);
}

void
prl_caps_cache_set_limits (PrlCapsCache *c, guint max_entries, guint ttl_s)
{
  g_return_if_fail (c != NULL);
  prl_ttl_map_set_limits (c->map, max_entries, (gint64)ttl_s * G_USEC_PER_SEC);
}

char *
prl_caps_cache_key (const char *uri)
{
  if (uri == NULL)
    return NULL;
  const char *p = uri;
  if (g_ascii_strncasecmp (p, "sip:", 4) == 0)
    p += 4;
  else if (g_ascii_strncasecmp (p, "sips:", 5) == 0)
    p += 5;
  gsize n = strcspn (p, ";?>");
  if (n == 0 || memchr (p, '@', n) == NULL)
    return NULL;
  return g_ascii_strdown (p, (gssize)n);
}

gboolean
prl_caps_cache_refused (PrlCapsCache *c, const char *contact, PrlCap cap, gint64 now_us)
{
  g_return_val_if_fail (c != NULL, FALSE);
  g_autofree char *key = prl_caps_cache_key (contact);
  if (key == NULL)
    return FALSE;
  guint bits = GPOINTER_TO_UINT (prl_ttl_map_get (c->map, key, now_us));
  return (bits & cap) != 0;
}

void
prl_caps_cache_refuse (PrlCapsCache *c, const char *contact, PrlCap cap, gint64 now_us)
{
  g_return_if_fail (c != NULL);
  g_autofree char *key = prl_caps_cache_key (contact);
  if (key == NULL)
    return;
  guint bits = GPOINTER_TO_UINT (prl_ttl_map_get (c->map, key, now_us));
  prl_ttl_map_put (c->map, key, GUINT_TO_POINTER (bits | cap), now_us);
}

guint
prl_caps_cache_size (PrlCapsCache *c, gint64 now_us)
{
  g_return_val_if_fail (c != NULL, 0);
  return prl_ttl_map_size (c->map, now_us);
}
