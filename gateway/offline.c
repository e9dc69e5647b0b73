/* gateway/offline.c - the core's offline policy: park, flush when the user shows up, expire.
 *
 * DESIGN. Three kinds of state, all bounded or answered:
 * - `requests`: every PRL_ACTION_STORE_* in flight, by request id, until its
 *   PRL_EVENT_STORE_RESULT (the daemon answers each exactly once). A park carries the
 *   PrlOfflineParkCtx that says how to answer the sender (offline.md §4).
 * - `flushes`: one Flush per user being delivered to. A flush is a small loop: CLAIM ->
 *   deliver the claimed messages one at a time, in receive order (a stanza and a bounce-window
 *   timer to XMPP; the core's per-destination queue to SIP) -> ACK each after its delivery is
 *   confirmed -> CLAIM again after a full batch -> RELEASE. Any failure RELEASEs and stops:
 *   the rest stays parked for the next online signal (offline.md §6).
 *   With a flush window above 1 a Window keeps several deliveries in flight (offline.md §6a,
 *   the window_* functions); deliver_next hands over to them.
 * - four LRU tables with a hard cap: when each user was last claimed (flush_recheck_s),
 *   which SIP users sent a REGISTER with expires 0 (offline.md §4d, §5), which SIP users
 *   are watched (reg_event: a sip.watch was emitted after a park, a sip.unwatch follows when a
 *   flush leaves nothing behind or the entry is evicted; offline.md §5), and which SIP users
 *   are known offline, with their last try over SIP (offline.md §4e).
 * Time comes only from events; ids and timer ids come from the core's counter (host).
 * Ownership: the module owns its tables, the contexts and the claimed copies of messages.
 * Rules: mapping-docs/offline.md.
 */
#include "gateway/offline.h"

#include <string.h>

#define LRU_CAP 10000

/* ---------------------------------------------------------------- helpers */

char *
prl_offline_owner_xmpp (const char *jid)
{
  if (jid == NULL || *jid == '\0')
    return NULL;
  const char *slash = strchr (jid, '/');
  gsize len = slash != NULL ? (gsize)(slash - jid) : strlen (jid);
  if (len == 0)
    return NULL;
  g_autofree char *bare = g_ascii_strdown (jid, (gssize)len);
  return g_strconcat ("xmpp:", bare, NULL);
}

char *
prl_offline_owner_sip (const char *uri)
{
  if (uri == NULL)
    return NULL;
  const char *s = uri;
  while (*s == ' ' || *s == '<')
    s++;
  if (g_ascii_strncasecmp (s, "sip:", 4) == 0)
    s += 4;
  else if (g_ascii_strncasecmp (s, "sips:", 5) == 0)
    s += 5;
  else
    return NULL;
  gsize n = strcspn (s, ";?>");
  g_autofree char *addr = g_strndup (s, n);
  char *at = strrchr (addr, '@');
  if (at == NULL || at == addr || at[1] == '\0')
    return NULL;
  *at = '\0';
  char *colon = strchr (addr, ':'); /* user:password */
  if (colon != NULL)
    *colon = '\0';
  if (*addr == '\0')
    return NULL;
  char *host = at + 1;
  char *end;
  if (*host == '[') { /* IPv6 reference: keep the brackets, drop a port after them */
    end = strchr (host, ']');
    if (end == NULL)
      return NULL;
    end[1] = '\0';
  } else if ((end = strchr (host, ':')) != NULL) {
    *end = '\0';
  }
  if (*host == '\0')
    return NULL;
  g_autofree char *lhost = g_ascii_strdown (host, -1);
  return g_strconcat ("sip:", addr, "@", lhost, NULL);
}

/* Civil date of a day count since 1970-01-01 (H. Hinnant's days_from_civil, inverted). */
static void
civil_from_days (gint64 z, gint64 *y, guint *m, guint *d)
{
  z += 719468;
  gint64 era = (z >= 0 ? z : z - 146096) / 146097;
  gint64 doe = z - era * 146097;
  gint64 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  gint64 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  gint64 mp = (5 * doy + 2) / 153;
  *d = (guint)(doy - (153 * mp + 2) / 5 + 1);
  *m = (guint)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

typedef struct {
  gint64 year;
  guint month, day, hour, min, sec, msec, wday; /* wday: 0 = Sunday */
} Civil;

static Civil
civil (gint64 us)
{
  Civil c;
  gint64 ms = us >= 0 ? us / 1000 : -((-us + 999) / 1000);
  gint64 days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
  gint64 rest = ms - days * 86400000;
  civil_from_days (days, &c.year, &c.month, &c.day);
  c.hour = (guint)(rest / 3600000);
  c.min = (guint)(rest / 60000 % 60);
  c.sec = (guint)(rest / 1000 % 60);
  c.msec = (guint)(rest % 1000);
  c.wday = (guint)(((days % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
  return c;
}

char *
prl_offline_format_stamp (gint64 us)
{
  Civil c = civil (us);
  if (c.year < 0 || c.year > 9999) /* not a date this gateway meets: the general path */
    return g_strdup_printf ("%04" G_GINT64_FORMAT "-%02u-%02uT%02u:%02u:%02u.%03uZ", c.year,
                            c.month, c.day, c.hour, c.min, c.sec, c.msec);
  /* once per flushed message (XEP-0203 stamp, CPIM DateTime): digits by hand, no printf */
  char s[] = "0000-00-00T00:00:00.000Z";
  const struct {
    guint value, at, digits;
  } parts[] = { { (guint)c.year, 0, 4 }, { c.month, 5, 2 }, { c.day, 8, 2 },  { c.hour, 11, 2 },
                { c.min, 14, 2 },        { c.sec, 17, 2 },  { c.msec, 20, 3 } };
  for (guint i = 0; i < G_N_ELEMENTS (parts); i++)
    for (guint k = 0, v = parts[i].value; k < parts[i].digits; k++, v /= 10)
      s[parts[i].at + parts[i].digits - 1 - k] = (char)('0' + v % 10);
  return g_strdup (s);
}

gboolean
prl_offline_condition_is_offline (const char *condition)
{
  static const char *const offline[] = { "recipient-unavailable", "service-unavailable",
                                         "remote-server-timeout", "remote-server-not-found" };
  for (gsize i = 0; i < G_N_ELEMENTS (offline); i++)
    if (g_strcmp0 (condition, offline[i]) == 0)
      return TRUE;
  return FALSE;
}

char *
prl_offline_format_http_date (gint64 us)
{
  static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
  static const char *const months[]
      = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
  Civil c = civil (us);
  return g_strdup_printf ("%s, %02u %s %04" G_GINT64_FORMAT " %02u:%02u:%02u GMT", days[c.wday],
                          c.day, months[c.month - 1], c.year, c.hour, c.min, c.sec);
}

/* ---------------------------------------------------------------- bounded LRU */

typedef struct {
  char *key;
  gint64 value;
} LruItem;

struct _PrlOfflineLru {
  guint cap;
  GHashTable *index; /* key (borrowed from the item) -> GList* link in order */
  GQueue order;      /* LruItem*, oldest first, owned */
};

static void
lru_item_free (LruItem *item)
{
  g_free (item->key);
  g_free (item);
}

PrlOfflineLru *
prl_offline_lru_new (guint cap)
{
  PrlOfflineLru *lru = g_new0 (PrlOfflineLru, 1);
  lru->cap = cap > 0 ? cap : 1;
  lru->index = g_hash_table_new (g_str_hash, g_str_equal);
  g_queue_init (&lru->order);
  return lru;
}

void
prl_offline_lru_free (PrlOfflineLru *lru)
{
  if (lru == NULL)
    return;
  g_hash_table_unref (lru->index);
  g_queue_clear_full (&lru->order, (GDestroyNotify)lru_item_free);
  g_free (lru);
}

void
prl_offline_lru_put (PrlOfflineLru *lru, const char *key, gint64 value_us)
{
  g_return_if_fail (lru != NULL && key != NULL);
  GList *link = g_hash_table_lookup (lru->index, key);
  if (link != NULL) {
    ((LruItem *)link->data)->value = value_us;
    g_queue_unlink (&lru->order, link);
    g_queue_push_tail_link (&lru->order, link);
    return;
  }
  while (lru->order.length >= lru->cap) {
    LruItem *old = g_queue_pop_head (&lru->order);
    g_hash_table_remove (lru->index, old->key);
    lru_item_free (old);
  }
  LruItem *item = g_new0 (LruItem, 1);
  item->key = g_strdup (key);
  item->value = value_us;
  g_queue_push_tail (&lru->order, item);
  g_hash_table_insert (lru->index, item->key, lru->order.tail);
}

gboolean
prl_offline_lru_get (PrlOfflineLru *lru, const char *key, gint64 *value_us)
{
  g_return_val_if_fail (lru != NULL, FALSE);
  GList *link = key != NULL ? g_hash_table_lookup (lru->index, key) : NULL;
  if (link == NULL)
    return FALSE;
  if (value_us != NULL)
    *value_us = ((LruItem *)link->data)->value;
  return TRUE;
}

void
prl_offline_lru_remove (PrlOfflineLru *lru, const char *key)
{
  g_return_if_fail (lru != NULL);
  GList *link = key != NULL ? g_hash_table_lookup (lru->index, key) : NULL;
  if (link == NULL)
    return;
  LruItem *item = link->data;
  g_hash_table_remove (lru->index, item->key);
  g_queue_delete_link (&lru->order, link);
  lru_item_free (item);
}

const char *
prl_offline_lru_oldest (PrlOfflineLru *lru)
{
  g_return_val_if_fail (lru != NULL, NULL);
  LruItem *item = g_queue_peek_head (&lru->order);
  return item != NULL ? item->key : NULL;
}

guint
prl_offline_lru_size (PrlOfflineLru *lru)
{
  g_return_val_if_fail (lru != NULL, 0);
  return lru->order.length;
}

/* ---------------------------------------------------------------- state */

void
prl_offline_park_ctx_free (PrlOfflineParkCtx *ctx)
{
  if (ctx == NULL)
    return;
  g_free (ctx->fail_reason);
  g_free (ctx->fail_contact);
  g_free (ctx->orig_from);
  g_free (ctx->orig_to);
  g_free (ctx->orig_id);
  g_free (ctx->err_condition);
  g_free (ctx->err_type);
  g_free (ctx->err_text);
  g_free (ctx->err_detail);
  g_free (ctx->notice_from);
  g_free (ctx->notice_to);
  if (ctx->held != NULL && ctx->held_free != NULL)
    ctx->held_free (ctx->held);
  g_free (ctx);
}

typedef enum { REQ_PARK, REQ_CLAIM, REQ_ACK, REQ_RELEASE, REQ_EXPIRE, REQ_WACK } ReqKind;

typedef struct {
  ReqKind kind;
  PrlOfflineParkCtx *ctx; /* park, owned */
  char *owner;            /* claim, park */
} Req;

typedef struct {
  char *owner;
  gboolean is_sip;            /* deliver to SIP ("sip:" owner) or to XMPP */
  guint64 claim;              /* request id of the claim in flight, 0 if none */
  gboolean leased;            /* a claim succeeded: a release is owed at the end */
  GQueue batch;               /* PrlStoredMessage*, owned: claimed, not yet sent */
  guint batch_len;            /* how many the last claim returned */
  PrlStoredMessage *inflight; /* being delivered, owned */
  guint64 token;              /* its timer id (XMPP) or send token (SIP), 0 if none */
  gboolean stop;              /* the user went offline: stop after the message in flight */
  gboolean parked_since;      /* a park for this user succeeded during the flush */
  guint64 acking;             /* request id of the ack in flight, 0 if none (§6) */
  struct _Window *win;        /* flush window > 1 (§6a): the deliveries in flight; else NULL */
} Flush;

struct _PrlOffline {
  PrlCore *core;
  PrlOfflineHost host;
  const PrlCoreConfig *const *config;
  gboolean store_up;
  guint64 next_request;
  gint64 next_expire_us;
  GHashTable *requests;        /* guint64* -> Req*, owned */
  GHashTable *flushes;         /* char* owner -> Flush*, owned */
  GHashTable *by_token;        /* guint64* token -> Flush*, borrowed */
  GHashTable *by_id;           /* char* id of an XMPP message in flight -> Flush*, borrowed */
  PrlOfflineLru *claims;       /* owner -> when last claimed */
  PrlOfflineLru *unregistered; /* "sip:" owner -> when the REGISTER expires 0 was seen */
  PrlOfflineLru *watched;      /* "sip:" owner -> when its sip.watch was emitted */
  PrlOfflineLru *absent;       /* "sip:" owner known offline -> its last try over SIP (§4e) */
};

static void
req_free (Req *r)
{
  if (r == NULL)
    return;
  prl_offline_park_ctx_free (r->ctx);
  g_free (r->owner);
  g_free (r);
}

static void window_free (struct _Window *w);

static void
flush_free (Flush *f)
{
  if (f == NULL)
    return;
  g_free (f->owner);
  g_queue_clear_full (&f->batch, (GDestroyNotify)prl_stored_message_free);
  prl_stored_message_free (f->inflight);
  window_free (f->win);
  g_free (f);
}

static guint64 *
new_key (guint64 v)
{
  guint64 *k = g_new (guint64, 1);
  *k = v;
  return k;
}

PrlOffline *
prl_offline_new (PrlCore *core, const PrlOfflineHost *host, const PrlCoreConfig *const *config_ref)
{
  g_return_val_if_fail (host != NULL && config_ref != NULL, NULL);
  PrlOffline *off = g_new0 (PrlOffline, 1);
  off->core = core;
  off->host = *host;
  off->config = config_ref;
  off->requests
      = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, (GDestroyNotify)req_free);
  off->flushes = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify)flush_free);
  off->by_token = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  off->by_id = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  off->claims = prl_offline_lru_new (LRU_CAP);
  off->unregistered = prl_offline_lru_new (LRU_CAP);
  off->watched = prl_offline_lru_new (LRU_CAP);
  off->absent = prl_offline_lru_new (LRU_CAP);
  return off;
}

void
prl_offline_free (PrlOffline *off)
{
  if (off == NULL)
    return;
  g_clear_pointer (&off->by_token, g_hash_table_unref);
  g_clear_pointer (&off->by_id, g_hash_table_unref);
  g_clear_pointer (&off->flushes, g_hash_table_unref);
  g_clear_pointer (&off->requests, g_hash_table_unref);
  g_clear_pointer (&off->claims, prl_offline_lru_free);
  g_clear_pointer (&off->unregistered, prl_offline_lru_free);
  g_clear_pointer (&off->watched, prl_offline_lru_free);
  g_clear_pointer (&off->absent, prl_offline_lru_free);
  g_free (off);
}

static const PrlCoreConfig *
cfg (PrlOffline *off)
{
  return *off->config;
}

gboolean
prl_offline_can_park (PrlOffline *off)
{
  g_return_val_if_fail (off != NULL, FALSE);
  return cfg (off)->offline_enabled && off->store_up; /* §3 */
}

gboolean
prl_offline_is_unregistered (PrlOffline *off, const char *owner)
{
  g_return_val_if_fail (off != NULL, FALSE);
  return prl_offline_lru_get (off->unregistered, owner, NULL);
}

/* §4e: the owner's LRU value is the time of its last try over SIP. */
gboolean
prl_offline_mark_offline (PrlOffline *off, const char *owner, gint64 now_us)
{
  g_return_val_if_fail (off != NULL, FALSE);
  if (owner == NULL || !g_str_has_prefix (owner, "sip:") || cfg (off)->offline_retry_s == 0)
    return FALSE;
  prl_offline_lru_put (off->absent, owner, now_us);
  return TRUE;
}

gboolean
prl_offline_park_at_once (PrlOffline *off, const char *owner, gint64 now_us)
{
  g_return_val_if_fail (off != NULL, FALSE);
  gint64 tried = 0;
  if (!prl_offline_lru_get (off->absent, owner, &tried))
    return FALSE;
  guint retry_s = cfg (off)->offline_retry_s;
  if (retry_s == 0 || now_us - tried >= (gint64)retry_s * G_USEC_PER_SEC) {
    prl_offline_lru_put (off->absent, owner, now_us); /* this one tries SIP */
    return FALSE;
  }
  return TRUE;
}

gboolean
prl_offline_is_known_offline (PrlOffline *off, const char *owner)
{
  g_return_val_if_fail (off != NULL, FALSE);
  return prl_offline_lru_get (off->absent, owner, NULL);
}

guint
prl_offline_known_offline (PrlOffline *off)
{
  g_return_val_if_fail (off != NULL, 0);
  return prl_offline_lru_size (off->absent);
}

guint
prl_offline_flushing (PrlOffline *off)
{
  g_return_val_if_fail (off != NULL, 0);
  return g_hash_table_size (off->flushes);
}

guint
prl_offline_watched (PrlOffline *off)
{
  g_return_val_if_fail (off != NULL, 0);
  return prl_offline_lru_size (off->watched);
}

guint
prl_offline_requests (PrlOffline *off)
{
  g_return_val_if_fail (off != NULL, 0);
  return g_hash_table_size (off->requests);
}

/* ---------------------------------------------------------------- actions */

static void
count (GPtrArray *out, const char *counter)
{
  PrlAction *a = prl_action_new (PRL_ACTION_COUNT);
  a->counter = counter;
  g_ptr_array_add (out, a);
}

/* A new store action with a fresh request id, remembered as @req (transfer full). */
static PrlAction *
store_action (PrlOffline *off, PrlActionKind kind, Req *req, GPtrArray *out)
{
  PrlAction *a = prl_action_new (kind);
  a->store.request = ++off->next_request;
  g_hash_table_replace (off->requests, new_key (a->store.request), req);
  g_ptr_array_add (out, a);
  return a;
}

static Req *
req_new (ReqKind kind)
{
  Req *r = g_new0 (Req, 1);
  r->kind = kind;
  return r;
}

static void
respond (GPtrArray *out, guint64 txn, guint status, const char *reason, guint retry_after_s,
         const char *contact)
{
  PrlAction *a = prl_action_new (PRL_ACTION_SIP_RESPOND);
  a->respond.txn = txn;
  a->respond.status = status;
  a->respond.reason = g_strdup (reason);
  a->respond.retry_after_s = retry_after_s;
  a->respond.contact = g_strdup (contact);
  g_ptr_array_add (out, a);
}

static void
xmpp_send (GPtrArray *out, PrlXmppMessage *m)
{
  PrlAction *a = prl_action_new (PRL_ACTION_XMPP_SEND);
  a->xmpp = m;
  g_ptr_array_add (out, a);
}

static void
xmpp_error (GPtrArray *out, const PrlOfflineParkCtx *ctx, const char *condition, const char *type,
            const char *text, const char *detail)
{
  PrlXmppMessage *m = prl_xmpp_message_new ();
  m->from = g_strdup (ctx->orig_to);
  m->to = g_strdup (ctx->orig_from);
  m->id = g_strdup (ctx->orig_id);
  m->type = g_strdup ("error");
  m->error_type = g_strdup (type);
  m->error_condition = g_strdup (condition);
  m->error_text = g_strdup (text);
  m->error_detail = g_strdup (detail);
  xmpp_send (out, m);
}

static void
watch_action (GPtrArray *out, PrlActionKind kind, const char *owner)
{
  PrlAction *a = prl_action_new (kind);
  a->aor = g_strdup (owner); /* the "sip:user@host" key is the AoR */
  g_ptr_array_add (out, a);
}

/* §5: a SIP user now has parked messages: watch its registration state (once). */
static void
watch (PrlOffline *off, const char *owner, gint64 now_us, GPtrArray *out)
{
  if (!cfg (off)->reg_event || owner == NULL || !g_str_has_prefix (owner, "sip:")
      || prl_offline_lru_get (off->watched, owner, NULL))
    return;
  if (prl_offline_lru_size (off->watched) >= LRU_CAP) { /* the oldest watch ends */
    g_autofree char *old = g_strdup (prl_offline_lru_oldest (off->watched));
    prl_offline_lru_remove (off->watched, old);
    watch_action (out, PRL_ACTION_SIP_UNWATCH, old);
  }
  prl_offline_lru_put (off->watched, owner, now_us);
  watch_action (out, PRL_ACTION_SIP_WATCH, owner);
}

/* §5: nothing is parked for @owner any more: stop watching it (if it was). */
static void
unwatch (PrlOffline *off, const char *owner, GPtrArray *out)
{
  if (!prl_offline_lru_get (off->watched, owner, NULL))
    return;
  prl_offline_lru_remove (off->watched, owner);
  watch_action (out, PRL_ACTION_SIP_UNWATCH, owner);
}

/* ---------------------------------------------------------------- parking (§4) */

void
prl_offline_stamp (PrlOffline *off, PrlStoredMessage *m, const char *owner, gint64 now_us)
{
  g_return_if_fail (off != NULL && m != NULL);
  const PrlCoreConfig *c = cfg (off);
  if (m->id == NULL)
    m->id = g_strdup_printf ("%s-%" G_GUINT64_FORMAT, c->id_prefix, off->host.next_seq (off->core));
  if (m->owner == NULL)
    m->owner = g_strdup (owner);
  if (m->received_us == 0)
    m->received_us = now_us;
  if (m->expires_us == 0)
    m->expires_us = m->received_us + (gint64)c->offline_expiry_s * G_USEC_PER_SEC;
}

void
prl_offline_park (PrlOffline *off, PrlStoredMessage *m, PrlOfflineParkCtx *ctx, gint64 now_us,
                  GPtrArray *out)
{
  g_return_if_fail (off != NULL && m != NULL && ctx != NULL && out != NULL);
  prl_offline_stamp (off, m, NULL, now_us);
  Req *req = req_new (REQ_PARK);
  req->ctx = ctx;
  req->owner = g_strdup (m->owner);
  PrlAction *a = store_action (off, PRL_ACTION_STORE_PARK, req, out);
  a->store.message = m;
}

static void
on_park_result (PrlOffline *off, PrlOfflineParkCtx *ctx, const char *owner, PrlStoreOutcome outcome,
                gint64 now_us, GPtrArray *out)
{
  if (outcome == PRL_STORE_OK && owner != NULL) {
    Flush *f = g_hash_table_lookup (off->flushes, owner);
    if (f != NULL) /* the claim in flight may not have seen it: keep watching (§5) */
      f->parked_since = TRUE;
  }
  const char *notice = cfg (off)->stored_notice;
  if (ctx->kind == PRL_OFFLINE_PARK_CHAT) { /* chat.md §11: the session told the sender */
    count (out, outcome == PRL_STORE_OK      ? "offline_parked_chat"
                : outcome == PRL_STORE_QUOTA ? "offline_park_refused_quota"
                                             : "offline_park_failed_chat");
    return;
  }
  if (ctx->kind == PRL_OFFLINE_PARK_SIP) {
    if (outcome == PRL_STORE_OK) { /* §4a, §4b */
      respond (out, ctx->txn, 202, "Accepted", 0, NULL);
      count (out, "offline_parked_sip");
      if (notice != NULL && ctx->notice_from != NULL && ctx->notice_to != NULL)
        off->host.send_notice (off->core, ctx->notice_from, ctx->notice_to, notice, out);
    } else if (outcome == PRL_STORE_QUOTA) { /* DESIGN.md §7: a clear error when full */
      respond (out, ctx->txn, 486, "Recipient's mailbox is full", 0, NULL);
      count (out, "offline_park_refused_quota");
    } else { /* the page-mode answer */
      respond (out, ctx->txn, ctx->fail_status, ctx->fail_reason, ctx->fail_retry_after_s,
               ctx->fail_contact);
      if (ctx->fail_counter != NULL)
        count (out, ctx->fail_counter);
      count (out, "offline_park_failed");
    }
    return;
  }

  if (outcome == PRL_STORE_OK) { /* §4c, §4d */
    count (out, "offline_parked_xmpp");
    watch (off, owner, now_us, out);
    if (notice != NULL) {
      PrlXmppMessage *m = prl_xmpp_message_new ();
      m->from = g_strdup (ctx->orig_to);
      m->to = g_strdup (ctx->orig_from);
      m->id = g_strdup_printf ("%s-%" G_GUINT64_FORMAT, cfg (off)->id_prefix,
                               off->host.next_seq (off->core));
      m->type = g_strdup ("normal");
      m->body = g_strdup (notice);
      xmpp_send (out, m);
    }
  } else if (outcome == PRL_STORE_QUOTA) {
    xmpp_error (out, ctx, "resource-constraint", "wait", "mailbox full", NULL);
    count (out, "offline_park_refused_quota");
  } else if (ctx->kind == PRL_OFFLINE_PARK_XMPP_NOW && ctx->held != NULL) {
    count (out, "offline_park_failed"); /* §4d: send it after all */
    gpointer held = g_steal_pointer (&ctx->held);
    off->host.resume (off->core, held, out);
  } else {
    xmpp_error (out, ctx, ctx->err_condition, ctx->err_type, ctx->err_text, ctx->err_detail);
    if (ctx->fail_counter != NULL)
      count (out, ctx->fail_counter);
    count (out, "offline_park_failed");
  }
}

/* ---------------------------------------------------------------- flushing (§5, §6) */

static guint claim_size (PrlOffline *off, const Flush *f);

static void
start_claim (PrlOffline *off, Flush *f, gint64 now_us, GPtrArray *out)
{
  Req *req = req_new (REQ_CLAIM);
  req->owner = g_strdup (f->owner);
  PrlAction *a = store_action (off, PRL_ACTION_STORE_CLAIM, req, out);
  a->store.owner = g_strdup (f->owner);
  a->store.now_us = now_us;
  a->store.max = claim_size (off, f);
  a->store.lease_ms = cfg (off)->flush_lease_ms;
  f->claim = a->store.request;
  prl_offline_lru_put (off->claims, f->owner, now_us);
}

static void
simple_op (PrlOffline *off, PrlActionKind kind, ReqKind rkind, const char *owner, const char *id,
           GPtrArray *out)
{
  PrlAction *a = store_action (off, kind, req_new (rkind), out);
  a->store.owner = g_strdup (owner);
  a->store.id = g_strdup (id);
}

static void forget_inflight (PrlOffline *off, Flush *f);
static void window_forget (PrlOffline *off, Flush *f);
static gboolean window_fill (PrlOffline *off, Flush *f, gint64 now_us, GPtrArray *out);
static gboolean same_bare (const char *a, const char *b);
static gboolean window_take (PrlOffline *off, Flush *f, const char *id);
static void window_claimed (Flush *f, const GPtrArray *messages);

/* §6: the message in flight was delivered: ack it, and deliver the next one only once the
 * store confirms, so a crash re-delivers at most that one message (the acks would otherwise
 * trail the deliveries, each an fsync behind). */
static void
ack_inflight (PrlOffline *off, Flush *f, GPtrArray *out)
{
  Req *req = req_new (REQ_ACK);
  req->owner = g_strdup (f->owner);
  PrlAction *a = store_action (off, PRL_ACTION_STORE_ACK, req, out);
  a->store.owner = g_strdup (f->owner);
  a->store.id = g_strdup (f->inflight->id);
  f->acking = a->store.request;
  count (out, f->is_sip ? "offline_flushed_sip" : "offline_flushed_xmpp");
  forget_inflight (off, f);
}

static void
forget_inflight (PrlOffline *off, Flush *f)
{
  if (f->token != 0)
    g_hash_table_remove (off->by_token, &f->token);
  if (f->inflight != NULL && f->inflight->id != NULL
      && g_hash_table_lookup (off->by_id, f->inflight->id) == f)
    g_hash_table_remove (off->by_id, f->inflight->id);
  f->token = 0;
  g_clear_pointer (&f->inflight, prl_stored_message_free);
}

/* Ends @f: gives the lease back if it holds one, and forgets it. */
static void
end_flush (PrlOffline *off, Flush *f, GPtrArray *out)
{
  forget_inflight (off, f);
  if (f->win != NULL)
    window_forget (off, f);
  if (f->leased)
    simple_op (off, PRL_ACTION_STORE_RELEASE, REQ_RELEASE, f->owner, NULL, out);
  g_hash_table_remove (off->flushes, f->owner); /* frees f */
}

static PrlXmppMessage *
stored_to_stanza (PrlOffline *off, const PrlStoredMessage *m)
{
  PrlXmppMessage *x = prl_xmpp_message_new ();
  x->from = g_strdup (m->from);
  x->to = g_strdup (m->to);
  x->id = g_strdup (m->id); /* §6: the dedupe hint */
  x->type = g_strdup (g_strcmp0 (m->kind, "chat") == 0 ? "chat" : "normal");
  x->lang = g_strdup (m->lang);
  x->subject = g_strdup (m->subject);
  x->thread = g_strdup (m->thread);
  x->body = g_strndup (m->body != NULL ? m->body : "", m->body_len);
  x->delay_stamp = prl_offline_format_stamp (m->received_us);
  /* XEP-0203: stamped by the gateway's component domain (the domain of 'from') */
  const char *from = m->from != NULL ? m->from : "";
  const char *at = strchr (from, '@');
  const char *dom = at != NULL ? at + 1 : from;
  x->delay_from = g_strndup (dom, strcspn (dom, "/"));
  (void)off;
  return x;
}

/* Delivers the next claimed message of @f, or claims again, or ends the flush. */
static void
deliver_next (PrlOffline *off, Flush *f, gint64 now_us, GPtrArray *out)
{
  if (window_fill (off, f, now_us, out)) /* §6a: a flush window > 1 */
    return;
  const PrlCoreConfig *c = cfg (off);
  for (;;) {
    if (f->stop) {
      count (out, "offline_flush_stopped");
      end_flush (off, f, out);
      return;
    }
    PrlStoredMessage *m = g_queue_pop_head (&f->batch);
    if (m == NULL) {
      if (c->flush_batch > 0 && f->batch_len >= c->flush_batch) { /* §6: more may wait */
        start_claim (off, f, now_us, out);
        return;
      }
      /* §5: everything claimed was delivered and acked and the store had no more */
      g_autofree char *owner = f->parked_since ? NULL : g_strdup (f->owner);
      end_flush (off, f, out);
      if (owner != NULL)
        unwatch (off, owner, out);
      return;
    }
    f->inflight = m;
    f->token = off->host.next_seq (off->core);
    g_hash_table_replace (off->by_token, new_key (f->token), f);
    if (f->is_sip) {
      if (!off->host.send_sip (off->core, m, f->token, out)) {
        count (out, "offline_flush_stopped");
        end_flush (off, f, out);
      }
      return;
    }
    if (!off->host.link_up (off->core)) {
      count (out, "offline_flush_stopped");
      end_flush (off, f, out);
      return;
    }
    g_hash_table_replace (off->by_id, g_strdup (m->id), f);
    xmpp_send (out, stored_to_stanza (off, m));
    if (c->bounce_window_ms > 0) {
      PrlAction *t = prl_action_new (PRL_ACTION_TIMER);
      t->timer.id = f->token;
      t->timer.ms = c->bounce_window_ms;
      g_ptr_array_add (out, t);
      return;
    }
    ack_inflight (off, f, out); /* no confirmation window: delivered once handed over */
    return;
  }
}

/* The message in flight was delivered: ack it and go on. */
static void
delivered (PrlOffline *off, Flush *f, gint64 now_us, GPtrArray *out)
{
  ack_inflight (off, f, out); /* the next one follows the ack's answer */
}

/* The message in flight failed: stop, the rest stays parked (§6). */
static void
undelivered (PrlOffline *off, Flush *f, GPtrArray *out)
{
  count (out, "offline_flush_stopped");
  end_flush (off, f, out);
}

static gint
compare_received (gconstpointer a, gconstpointer b)
{
  const PrlStoredMessage *ma = *(PrlStoredMessage *const *)a;
  const PrlStoredMessage *mb = *(PrlStoredMessage *const *)b;
  return ma->received_us < mb->received_us ? -1 : ma->received_us > mb->received_us;
}

static void
on_claim_result (PrlOffline *off, const char *owner, const PrlStoreResult *r, gint64 now_us,
                 GPtrArray *out)
{
  Flush *f = g_hash_table_lookup (off->flushes, owner);
  if (f == NULL || f->claim != r->request) {
    count (out, "offline_store_unknown");
    return;
  }
  f->claim = 0;
  if (r->outcome == PRL_STORE_LEASED) { /* another instance is at it: not ours to release */
    count (out, "offline_claim_leased");
    f->leased = FALSE;
    end_flush (off, f, out);
    return;
  }
  if (r->outcome != PRL_STORE_OK) {
    count (out, "offline_claim_failed");
    end_flush (off, f, out);
    return;
  }
  f->leased = TRUE;
  g_autoptr (GPtrArray) batch = g_ptr_array_new ();
  for (guint i = 0; r->messages != NULL && i < r->messages->len; i++) {
    const PrlStoredMessage *m = g_ptr_array_index (r->messages, i);
    if (m != NULL && m->id != NULL && window_take (off, f, m->id)) /* §6a */
      g_ptr_array_add (batch, prl_stored_message_dup (m));
  }
  if (f->win != NULL)
    window_claimed (f, r->messages); /* §6a: where the next claim starts */
  g_ptr_array_sort (batch, compare_received); /* stable: receive order, whatever came back */
  for (guint i = 0; i < batch->len; i++)
    g_queue_push_tail (&f->batch, g_ptr_array_index (batch, i));
  f->batch_len = r->messages != NULL ? r->messages->len : 0;
  deliver_next (off, f, now_us, out);
}

void
prl_offline_online (PrlOffline *off, const char *owner, gboolean force, gint64 now_us,
                    GPtrArray *out)
{
  g_return_if_fail (off != NULL && out != NULL);
  if (owner == NULL)
    return;
  if (g_str_has_prefix (owner, "sip:")) {
    prl_offline_lru_remove (off->unregistered, owner);
    prl_offline_lru_remove (off->absent, owner); /* §4e */
  }
  if (!prl_offline_can_park (off))
    return;
  Flush *f = g_hash_table_lookup (off->flushes, owner);
  if (f != NULL) {
    if (force)
      f->stop = FALSE; /* back before the stop took effect: carry on */
    return;
  }
  gint64 last = 0;
  if (!force && prl_offline_lru_get (off->claims, owner, &last)
      && now_us - last < (gint64)cfg (off)->flush_recheck_s * G_USEC_PER_SEC)
    return;
  f = g_new0 (Flush, 1);
  f->owner = g_strdup (owner);
  f->is_sip = g_str_has_prefix (owner, "sip:");
  g_queue_init (&f->batch);
  g_hash_table_replace (off->flushes, f->owner, f);
  start_claim (off, f, now_us, out);
}

void
prl_offline_offline (PrlOffline *off, const char *owner, gboolean unregistered, GPtrArray *out)
{
  g_return_if_fail (off != NULL && out != NULL);
  if (owner == NULL)
    return;
  if (unregistered)
    prl_offline_lru_put (off->unregistered, owner, 0);
  Flush *f = g_hash_table_lookup (off->flushes, owner);
  if (f != NULL)
    f->stop = TRUE; /* §6: takes effect after the message in flight / the claim answer */
}

/* ---------------------------------------------------------------- the flush window (§6a)
 *
 * With a window W > 1 (flush_window for SIP owners, flush_window_xmpp for XMPP owners) up to
 * W messages of a flush are sent and not yet confirmed at once (the slots). Each is acked as
 * soon as its delivery is confirmed, whatever the order of the confirmations, and the acks
 * are not waited for: a crash re-delivers the messages in flight and those whose ack was not
 * answered yet, instead of at most one with W = 1 (deliver_next, which these functions leave
 * alone). Each claim asks for max(flush_batch, W, min(4 W, 256)) messages (claim_size), so a
 * window is not starved by claims of a few. Claims overlap the deliveries: once at most one
 * claim's worth is left to send, the next claim goes out, behind the acks already emitted
 * (the daemon sends store requests in order on one connection, so the store applies those
 * acks first). It asks
 * only for what is queued after the last id the previous claim returned (`after`), so it does
 * not read again what the flush holds; should that id be gone, the store lists from the head,
 * and the ids the flush already holds are dropped from its answer (window_take).
 * A failure sends nothing more, and the flush ends (release) once the deliveries in flight
 * have been answered.
 */

#define WINDOW_CLAIM_MAX 1000 /* the most a claim returns (store-redis.c CLAIM_MAX) */
#define WINDOW_CLAIM_LEAD 256 /* 4 W up to this (claim_size) */

typedef struct {
  PrlStoredMessage *m; /* owned */
  guint64 token;       /* timer id (XMPP) or send token (SIP) */
} Slot;

typedef struct _Window {
  guint size;
  GQueue slots;       /* Slot*, owned, in send order */
  GHashTable *acking; /* guint64* request id of an ack in flight -> char* message id */
  GHashTable *held;   /* char* ids claimed by this flush and not yet known removed */
  guint asked;        /* the max= of the last claim */
  char *after;        /* the last id (store order) the last claim returned, or NULL */
  gboolean failed;    /* a delivery or an ack failed: send nothing more */
} Window;

static void
slot_free (Slot *s)
{
  prl_stored_message_free (s->m);
  g_free (s);
}

static void
window_free (Window *w)
{
  if (w == NULL)
    return;
  g_queue_clear_full (&w->slots, (GDestroyNotify)slot_free);
  g_hash_table_unref (w->acking);
  g_hash_table_unref (w->held);
  g_free (w->after);
  g_free (w);
}

/* @f's window, made on first use; NULL when its window is 1 (the plain flush). */
static Window *
window_of (PrlOffline *off, Flush *f)
{
  if (f->win != NULL)
    return f->win;
  guint size = f->is_sip ? cfg (off)->flush_window : cfg (off)->flush_window_xmpp;
  if (size <= 1)
    return NULL;
  Window *w = g_new0 (Window, 1);
  w->size = size;
  g_queue_init (&w->slots);
  w->acking = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  w->held = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  w->asked = claim_size (off, f); /* the claim that started the flush */
  f->win = w;
  return w;
}

/* A claimed message for @f: TRUE to keep it; FALSE if the flush holds that id already (a
 * claim that overlapped the deliveries lists them again). Always TRUE with a window of 1. */
static gboolean
window_take (PrlOffline *off, Flush *f, const char *id)
{
  Window *w = window_of (off, f);
  if (w == NULL)
    return TRUE;
  if (g_hash_table_contains (w->held, id))
    return FALSE;
  g_hash_table_add (w->held, g_strdup (id));
  return TRUE;
}

/* A claim of @f answered @messages (store order): the next claim lists what comes after the
 * last of them. */
static void
window_claimed (Flush *f, const GPtrArray *messages)
{
  const PrlStoredMessage *last = messages != NULL && messages->len > 0
                                     ? g_ptr_array_index (messages, messages->len - 1)
                                     : NULL;
  if (last == NULL || last->id == NULL)
    return;
  g_free (f->win->after);
  f->win->after = g_strdup (last->id);
}

/* Forgets @s (its token, its id) and frees it. */
static void
window_drop (PrlOffline *off, Flush *f, Slot *s)
{
  g_hash_table_remove (off->by_token, &s->token);
  if (s->m->id != NULL && g_hash_table_lookup (off->by_id, s->m->id) == f)
    g_hash_table_remove (off->by_id, s->m->id);
  g_queue_remove (&f->win->slots, s);
  slot_free (s);
}

/* Every delivery in flight is forgotten (the flush ends; nothing of it is acked now). */
static void
window_forget (PrlOffline *off, Flush *f)
{
  while (!g_queue_is_empty (&f->win->slots))
    window_drop (off, f, g_queue_peek_head (&f->win->slots));
}

/* @s was delivered: ack it (§6) and free its slot. */
static void
window_ack (PrlOffline *off, Flush *f, Slot *s, GPtrArray *out)
{
  Req *req = req_new (REQ_WACK);
  req->owner = g_strdup (f->owner);
  PrlAction *a = store_action (off, PRL_ACTION_STORE_ACK, req, out);
  a->store.owner = g_strdup (f->owner);
  a->store.id = g_strdup (s->m->id);
  g_hash_table_replace (f->win->acking, new_key (a->store.request), g_strdup (s->m->id));
  count (out, f->is_sip ? "offline_flushed_sip" : "offline_flushed_xmpp");
  window_drop (off, f, s);
}

/* Sends @m (transfer full) in a new slot; FALSE if it cannot go out. */
static gboolean
window_send (PrlOffline *off, Flush *f, PrlStoredMessage *m, GPtrArray *out)
{
  Slot *s = g_new0 (Slot, 1);
  s->m = m;
  s->token = off->host.next_seq (off->core);
  g_queue_push_tail (&f->win->slots, s);
  g_hash_table_replace (off->by_token, new_key (s->token), f);
  if (f->is_sip) {
    if (off->host.send_sip (off->core, m, s->token, out))
      return TRUE;
    window_drop (off, f, s);
    return FALSE;
  }
  if (!off->host.link_up (off->core)) {
    window_drop (off, f, s);
    return FALSE;
  }
  g_hash_table_replace (off->by_id, g_strdup (m->id), f);
  xmpp_send (out, stored_to_stanza (off, m));
  guint ms = cfg (off)->bounce_window_ms;
  if (ms == 0) {
    window_ack (off, f, s, out); /* no confirmation window: delivered once handed over */
    return TRUE;
  }
  PrlAction *t = prl_action_new (PRL_ACTION_TIMER);
  t->timer.id = s->token;
  t->timer.ms = ms;
  g_ptr_array_add (out, t);
  return TRUE;
}

/* How many messages a claim of @f asks for: flush_batch, or with a window W > 1 at least
 * 4 W but no more than WINDOW_CLAIM_LEAD unless W itself is more (at most WINDOW_CLAIM_MAX):
 * a claim's worth must outlast the next claim's round trip (the store fsyncs the lease
 * first), or the window runs dry while it is answered, as it did with claims of W for W = 32;
 * and a claim of many hundreds holds Redis and the main loop for milliseconds, which drains a
 * wide window too. flush_batch 0 (one claim of everything) stays 0. */
static guint
claim_size (PrlOffline *off, const Flush *f)
{
  const PrlCoreConfig *c = cfg (off);
  guint w = f->is_sip ? c->flush_window : c->flush_window_xmpp;
  if (w <= 1 || c->flush_batch == 0)
    return c->flush_batch;
  guint lead = MAX (w, MIN (4 * w, WINDOW_CLAIM_LEAD));
  return MIN (MAX (c->flush_batch, lead), WINDOW_CLAIM_MAX);
}

/* The next claim while deliveries go on: @max messages queued after the last one the previous
 * claim returned. */
static void
window_claim (PrlOffline *off, Flush *f, guint max, gint64 now_us, GPtrArray *out)
{
  start_claim (off, f, now_us, out);
  PrlAction *a = g_ptr_array_index (out, out->len - 1);
  g_assert (a->kind == PRL_ACTION_STORE_CLAIM);
  a->store.max = max;
  a->store.after = g_strdup (f->win->after);
  f->win->asked = max;
}

/* The windowed counterpart of deliver_next: fills the window from the batch, claims the next
 * batch early, or ends the flush. FALSE (and nothing done) when @f's window is 1. */
static gboolean
window_fill (PrlOffline *off, Flush *f, gint64 now_us, GPtrArray *out)
{
  Window *w = window_of (off, f);
  if (w == NULL)
    return FALSE;
  const PrlCoreConfig *c = cfg (off);
  while (!f->stop && !w->failed && w->slots.length < w->size && !g_queue_is_empty (&f->batch))
    if (!window_send (off, f, g_queue_pop_head (&f->batch), out))
      w->failed = TRUE;
  if (f->claim != 0)
    return TRUE;              /* its answer calls again */
  if (f->stop || w->failed) { /* §6: the rest stays parked */
    if (g_queue_is_empty (&w->slots)) {
      count (out, "offline_flush_stopped");
      end_flush (off, f, out);
    }
    return TRUE;
  }
  gboolean more = c->flush_batch > 0 && f->batch_len >= w->asked; /* a full claim */
  if (more) {
    guint max = claim_size (off, f);
    if (f->batch.length <= max)
      window_claim (off, f, max, now_us, out);
    return TRUE;
  }
  if (!g_queue_is_empty (&f->batch) || !g_queue_is_empty (&w->slots)
      || g_hash_table_size (w->acking) > 0)
    return TRUE;
  /* §5: everything claimed was delivered and acked and the store had no more */
  g_autofree char *owner = f->parked_since ? NULL : g_strdup (f->owner);
  end_flush (off, f, out);
  if (owner != NULL)
    unwatch (off, owner, out);
  return TRUE;
}

/* A delivery of a windowed flush was confirmed (@ok) or failed: by @token (a timer, a SIP
 * outcome) or by the error stanza @err. FALSE if it is not one of @f's. */
static gboolean
window_on_outcome (PrlOffline *off, Flush *f, guint64 token, const PrlXmppMessage *err, gboolean ok,
                   gint64 now_us, GPtrArray *out)
{
  Slot *s = NULL;
  for (GList *l = f->win->slots.head; l != NULL && s == NULL; l = l->next) {
    Slot *c = l->data;
    if (err != NULL ? g_strcmp0 (c->m->id, err->id) == 0 : c->token == token)
      s = c;
  }
  if (s == NULL || (err != NULL && !same_bare (err->from, s->m->to)))
    return FALSE;
  if (ok) {
    window_ack (off, f, s, out);
  } else {
    window_drop (off, f, s); /* not acked: it comes again, maybe after later ones (§6a) */
    f->win->failed = TRUE;
  }
  window_fill (off, f, now_us, out);
  return TRUE;
}

/* The answer to a windowed flush's ack. */
static void
window_on_ack (PrlOffline *off, const Req *req, const PrlStoreResult *r, gint64 now_us,
               GPtrArray *out)
{
  Flush *f = req->owner != NULL ? g_hash_table_lookup (off->flushes, req->owner) : NULL;
  Window *w = f != NULL ? f->win : NULL;
  char *id = w != NULL ? g_hash_table_lookup (w->acking, &r->request) : NULL;
  if (r->outcome != PRL_STORE_OK) {
    count (out, "offline_store_error"); /* an unacked message comes again: same id */
    if (id != NULL)
      w->failed = TRUE;
  } else if (id != NULL) {
    g_hash_table_remove (w->held, id); /* gone from the store: no claim lists it again */
  }
  if (id == NULL)
    return; /* not this flush's (it ended) */
  g_hash_table_remove (w->acking, &r->request);
  window_fill (off, f, now_us, out);
}

/* §6: the XMPP link went down: what is in flight may be lost, so none of it is acked. */
static void
window_link_down (PrlOffline *off, Flush *f, GPtrArray *out)
{
  window_forget (off, f);
  f->win->failed = TRUE;
  if (f->claim != 0)
    return; /* ends with the claim's answer */
  count (out, "offline_flush_stopped");
  end_flush (off, f, out);
}

/* ---------------------------------------------------------------- events */

void
prl_offline_on_store_state (PrlOffline *off, gboolean up)
{
  g_return_if_fail (off != NULL);
  off->store_up = up;
}

void
prl_offline_on_store_result (PrlOffline *off, const PrlStoreResult *r, gint64 now_us,
                             GPtrArray *out)
{
  g_return_if_fail (off != NULL && r != NULL && out != NULL);
  gpointer key = NULL, value = NULL;
  if (!g_hash_table_lookup_extended (off->requests, &r->request, &key, &value)) {
    count (out, "offline_store_unknown");
    return;
  }
  g_hash_table_steal (off->requests, &r->request);
  g_free (key);
  g_autoptr (GPtrArray) keep = g_ptr_array_new_with_free_func ((GDestroyNotify)req_free);
  Req *req = value;
  g_ptr_array_add (keep, req);
  switch (req->kind) {
  case REQ_PARK:
    on_park_result (off, req->ctx, req->owner, r->outcome, now_us, out);
    break;
  case REQ_CLAIM:
    on_claim_result (off, req->owner, r, now_us, out);
    break;
  case REQ_ACK: {
    Flush *f = req->owner != NULL ? g_hash_table_lookup (off->flushes, req->owner) : NULL;
    gboolean ours = f != NULL && f->acking == r->request;
    if (ours)
      f->acking = 0;
    if (r->outcome != PRL_STORE_OK) {
      count (out, "offline_store_error"); /* an unacked message comes again: same id */
      if (ours)
        end_flush (off, f, out); /* §6: stop rather than risk more than one re-delivery */
    } else if (ours) {
      deliver_next (off, f, now_us, out);
    }
    break;
  }
  case REQ_WACK:
    window_on_ack (off, req, r, now_us, out);
    break;
  case REQ_RELEASE:
    if (r->outcome != PRL_STORE_OK)
      count (out, "offline_store_error");
    break;
  case REQ_EXPIRE:
    /* §7: the daemon adds r->count to offline_expired itself (a count action has no amount) */
    if (r->outcome != PRL_STORE_OK)
      count (out, "offline_expire_failed");
    break;
  }
}

gboolean
prl_offline_on_timer (PrlOffline *off, guint64 id, gint64 now_us, GPtrArray *out)
{
  g_return_val_if_fail (off != NULL, FALSE);
  Flush *f = g_hash_table_lookup (off->by_token, &id);
  if (f != NULL && f->win != NULL)
    return window_on_outcome (off, f, id, NULL, TRUE, now_us, out);
  if (f == NULL || f->is_sip || f->inflight == NULL)
    return FALSE;
  delivered (off, f, now_us, out); /* §6: no error within the bounce window */
  return TRUE;
}

static gboolean
same_bare (const char *a, const char *b)
{
  g_autofree char *ka = prl_offline_owner_xmpp (a);
  g_autofree char *kb = prl_offline_owner_xmpp (b);
  return ka != NULL && g_strcmp0 (ka, kb) == 0;
}

gboolean
prl_offline_on_xmpp_error (PrlOffline *off, const PrlXmppMessage *m, gint64 now_us, GPtrArray *out)
{
  g_return_val_if_fail (off != NULL && m != NULL, FALSE);
  (void)now_us;
  Flush *f = m->id != NULL ? g_hash_table_lookup (off->by_id, m->id) : NULL;
  if (f != NULL && f->win != NULL)
    return window_on_outcome (off, f, 0, m, FALSE, now_us, out);
  if (f == NULL || f->inflight == NULL || !same_bare (m->from, f->inflight->to))
    return FALSE;
  undelivered (off, f, out);
  return TRUE;
}

static gint
compare_owner (gconstpointer a, gconstpointer b)
{
  const Flush *fa = *(Flush *const *)a;
  const Flush *fb = *(Flush *const *)b;
  return strcmp (fa->owner, fb->owner);
}

void
prl_offline_on_link_down (PrlOffline *off, GPtrArray *out)
{
  g_return_if_fail (off != NULL && out != NULL);
  /* §6: an XMPP delivery in flight may be lost: stop (release) without acking it */
  g_autoptr (GPtrArray) all = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;
  g_hash_table_iter_init (&iter, off->flushes);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (!((Flush *)value)->is_sip)
      g_ptr_array_add (all, value);
  g_ptr_array_sort (all, compare_owner);
  for (guint i = 0; i < all->len; i++) {
    Flush *f = g_ptr_array_index (all, i);
    if (f->win != NULL)
      window_link_down (off, f, out);
    else if (f->inflight != NULL)
      undelivered (off, f, out);
    else
      f->stop = TRUE;
  }
}

void
prl_offline_on_tick (PrlOffline *off, gint64 now_us, GPtrArray *out)
{
  g_return_if_fail (off != NULL && out != NULL);
  guint interval = cfg (off)->expire_interval_s;
  if (!prl_offline_can_park (off) || interval == 0 || now_us < off->next_expire_us)
    return;
  off->next_expire_us = now_us + (gint64)interval * G_USEC_PER_SEC; /* §7 */
  PrlAction *a = store_action (off, PRL_ACTION_STORE_EXPIRE, req_new (REQ_EXPIRE), out);
  a->store.now_us = now_us;
}

void
prl_offline_sip_done (PrlOffline *off, guint64 token, gboolean ok, gint64 now_us, GPtrArray *out)
{
  g_return_if_fail (off != NULL && out != NULL);
  Flush *f = g_hash_table_lookup (off->by_token, &token);
  if (f != NULL && f->win != NULL) {
    window_on_outcome (off, f, token, NULL, ok, now_us, out);
    return;
  }
  if (f == NULL || !f->is_sip || f->inflight == NULL)
    return;
  if (ok)
    delivered (off, f, now_us, out);
  else
    undelivered (off, f, out); /* §6: no error stanza: the sender was told it was stored */
}
