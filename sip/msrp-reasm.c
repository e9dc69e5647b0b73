/* sip/msrp-reasm.c - Byte-Range reassembly (RFC 4975 §7.3.1, §14.5).
 *
 * Each incomplete message keeps a buffer and the sorted, merged list of byte intervals
 * received. The buffer is sized to the total when the total is known (after the bound
 * check), else it grows with the chunks, never past max_message. A message is complete
 * when its '$' chunk has come and the intervals cover [0, total).
 */
#include "sip/msrp-reasm.h"

#include <string.h>

#include "sip/msrp-frame.h"

typedef struct {
  gint64 from, to; /* 0-based, [from, to) */
} Span;

typedef struct {
  char *message_id;
  char *content_type;
  gint64 total;      /* -1 while unknown */
  gboolean saw_last; /* the '$' chunk arrived */
  GByteArray *buf;
  GArray *spans; /* Span, sorted, disjoint, not adjacent */
  guint64 seq;   /* creation order, for eviction */
} Entry;

struct _PrlMsrpReasm {
  gsize max_message;
  guint max_pending;
  GHashTable *entries; /* message_id -> Entry* */
  guint64 seq;
};

static void
entry_free (gpointer p)
{
  Entry *e = p;
  g_free (e->message_id);
  g_free (e->content_type);
  g_byte_array_unref (e->buf);
  g_array_unref (e->spans);
  g_free (e);
}

PrlMsrpReasm *
prl_msrp_reasm_new (gsize max_message, guint max_pending)
{
  PrlMsrpReasm *r = g_new0 (PrlMsrpReasm, 1);
  r->max_message = max_message;
  r->max_pending = MAX (max_pending, 1);
  r->entries = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, entry_free);
  return r;
}

void
prl_msrp_reasm_free (PrlMsrpReasm *reasm)
{
  if (reasm == NULL)
    return;
  g_hash_table_unref (reasm->entries);
  g_free (reasm);
}

guint
prl_msrp_reasm_pending (const PrlMsrpReasm *reasm)
{
  return g_hash_table_size (reasm->entries);
}

gsize
prl_msrp_reasm_bytes (const PrlMsrpReasm *reasm)
{
  gsize n = 0;
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, reasm->entries);
  while (g_hash_table_iter_next (&it, NULL, &v))
    n += ((Entry *)v)->buf->len;
  return n;
}

/* Inserts [from, to) and merges neighbours. */
static void
add_span (GArray *spans, gint64 from, gint64 to)
{
  if (from >= to)
    return;
  guint i = 0;
  while (i < spans->len && g_array_index (spans, Span, i).to < from)
    i++;
  Span s = { from, to };
  while (i < spans->len && g_array_index (spans, Span, i).from <= to) {
    Span *o = &g_array_index (spans, Span, i);
    s.from = MIN (s.from, o->from);
    s.to = MAX (s.to, o->to);
    g_array_remove_index (spans, i);
  }
  g_array_insert_val (spans, i, s);
}

static gint64
covered_end (const Entry *e)
{
  if (e->spans->len == 0)
    return 0;
  return g_array_index (e->spans, Span, e->spans->len - 1).to;
}

static void
evict_oldest (PrlMsrpReasm *r, const Entry *keep)
{
  Entry *oldest = NULL;
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, r->entries);
  while (g_hash_table_iter_next (&it, NULL, &v)) {
    Entry *e = v;
    if (e != keep && (oldest == NULL || e->seq < oldest->seq))
      oldest = e;
  }
  if (oldest != NULL)
    g_hash_table_remove (r->entries, oldest->message_id);
}

PrlMsrpReasmResult
prl_msrp_reasm_add (PrlMsrpReasm *reasm, const char *message_id, const char *byte_range,
                    char flag, const char *content_type, GByteArray **data, GByteArray **out,
                    char **out_type)
{
  PrlMsrpReasm *r = reasm;
  gint64 start = 1, end = -1, total = -1;
  gint64 len = (gint64)(*data)->len;
  *out = NULL;
  *out_type = NULL;
  if (byte_range != NULL && !prl_msrp_byte_range_parse (byte_range, &start, &end, &total)) {
    g_hash_table_remove (r->entries, message_id);
    return PRL_MSRP_REASM_INVALID;
  }
  if (byte_range == NULL && flag == '$')
    total = len;
  if (flag == '#') {
    g_hash_table_remove (r->entries, message_id);
    return PRL_MSRP_REASM_ABORTED;
  }
  gint64 stop = start - 1 + len; /* 0-based end, exclusive */
  gint64 max = (gint64)r->max_message;
  if (total > max || stop > max) {
    g_hash_table_remove (r->entries, message_id);
    return PRL_MSRP_REASM_TOO_LARGE;
  }
  Entry *e = g_hash_table_lookup (r->entries, message_id);
  /* the common case: one chunk that is the whole message, taken as it is */
  if (e == NULL && start == 1 && flag == '$' && (total < 0 || total == len)) {
    *out = g_steal_pointer (data);
    *out_type = g_strdup (content_type);
    return PRL_MSRP_REASM_COMPLETE;
  }
  if (e == NULL) {
    e = g_new0 (Entry, 1);
    e->message_id = g_strdup (message_id);
    e->content_type = g_strdup (content_type);
    e->total = -1;
    e->buf = g_byte_array_new ();
    e->spans = g_array_new (FALSE, FALSE, sizeof (Span));
    e->seq = r->seq++;
    g_hash_table_insert (r->entries, e->message_id, e);
    if (g_hash_table_size (r->entries) > r->max_pending)
      evict_oldest (r, e);
  }
  if (e->content_type == NULL && content_type != NULL)
    e->content_type = g_strdup (content_type);
  if (flag == '$') {
    /* the last chunk fixes the total */
    if ((total >= 0 && stop != total) || (e->total >= 0 && stop != e->total)) {
      g_hash_table_remove (r->entries, message_id);
      return PRL_MSRP_REASM_INVALID;
    }
    total = stop;
    e->saw_last = TRUE;
  }
  if (total >= 0) {
    if ((e->total >= 0 && e->total != total) || covered_end (e) > total || stop > total) {
      g_hash_table_remove (r->entries, message_id);
      return PRL_MSRP_REASM_INVALID;
    }
    if (e->total < 0) {
      e->total = total;
      /* bounded by max_message above: allocate once */
      g_byte_array_set_size (e->buf, (guint)total);
    }
  } else if ((gint64)e->buf->len < stop) {
    g_byte_array_set_size (e->buf, (guint)stop);
  }
  if (len > 0) {
    memcpy (e->buf->data + start - 1, (*data)->data, (gsize)len);
    add_span (e->spans, start - 1, stop);
  }
  if (e->saw_last && e->total >= 0
      && (e->total == 0
          || (e->spans->len == 1 && g_array_index (e->spans, Span, 0).from == 0
              && g_array_index (e->spans, Span, 0).to == e->total))) {
    g_byte_array_set_size (e->buf, (guint)e->total);
    *out = g_steal_pointer (&e->buf);
    e->buf = g_byte_array_new ();
    *out_type = g_steal_pointer (&e->content_type);
    g_hash_table_remove (r->entries, message_id);
    return PRL_MSRP_REASM_COMPLETE;
  }
  return PRL_MSRP_REASM_PENDING;
}
