/* store/store.c - the PrlStore front door: error domain, vtable wrappers and the outbox.
 *
 * DESIGN.md §7, STYLE.md §3.8. The wrappers check their arguments (g_return_if_fail) and call
 * the backend's vtable. Every answer and every state change goes through the store's outbox
 * (store-internal.h): a queue drained by one idle callback on the default GMainContext, so an
 * answer never comes from inside the call that asked for it, nor from inside hiredis.
 *
 * Teardown: prl_store_free() asks the backend to let go of its resources (it fails what is
 * still in flight with UNAVAILABLE, into the outbox), then delivers the whole outbox and frees
 * the common part. Called from one of the store's own callbacks, the free waits until that
 * callback has returned. The backend structs embed PrlStore first and are freed here.
 *
 * Acks are coalesced by store-acks.c; every other wrapper first sends the acks still waiting
 * there, so the backend gets the requests in the order they were made.
 */
#include "store/store-internal.h"

/* clang-format off */
G_DEFINE_QUARK (prl-store-error-quark, prl_store_error)
/* clang-format on */

struct _PrlStoreOutbox {
  GQueue ready;        /* PrlStoreReply*, in the order they were sent */
  guint idle_id;       /* delivery scheduled */
  guint busy;          /* > 0 while a user callback runs */
  gboolean is_freeing; /* prl_store_free() was called */
};

static void
reply_free (PrlStoreReply *r)
{
  g_clear_error (&r->error);
  g_clear_pointer (&r->messages, g_ptr_array_unref);
  g_clear_pointer (&r->result, g_variant_unref);
  g_free (r);
}

static PrlStoreReply *
reply_new (PrlStore *s, PrlStoreReplyKind kind, gpointer user_data)
{
  PrlStoreReply *r = g_new0 (PrlStoreReply, 1);
  r->store = s;
  r->kind = kind;
  r->user_data = user_data;
  return r;
}

PrlStoreReply *
prl_store_reply_new_done (PrlStore *s, PrlStoreDoneFunc done, gpointer user_data)
{
  PrlStoreReply *r = reply_new (s, PRL_STORE_REPLY_DONE, user_data);
  r->func.done = done;
  return r;
}

PrlStoreReply *
prl_store_reply_new_claim (PrlStore *s, PrlStoreClaimFunc done, gpointer user_data)
{
  PrlStoreReply *r = reply_new (s, PRL_STORE_REPLY_CLAIM, user_data);
  r->func.claim = done;
  return r;
}

PrlStoreReply *
prl_store_reply_new_query (PrlStore *s, PrlStoreQueryFunc done, gpointer user_data)
{
  PrlStoreReply *r = reply_new (s, PRL_STORE_REPLY_QUERY, user_data);
  r->func.query = done;
  return r;
}

void
prl_store_reply_fail (PrlStoreReply *r, PrlStoreError code, const char *format, ...)
{
  if (r->error != NULL)
    return;
  va_list ap;
  va_start (ap, format);
  r->error = g_error_new_valist (PRL_STORE_ERROR, code, format, ap);
  va_end (ap);
}

/* Runs one reply's callback. A successful claim always gets an array, maybe empty. */
static void
deliver_one (PrlStoreReply *r)
{
  PrlStore *s = r->store;
  switch (r->kind) {
  case PRL_STORE_REPLY_DONE:
    if (r->func.done != NULL)
      r->func.done (s, r->error, r->user_data);
    break;
  case PRL_STORE_REPLY_CLAIM:
    if (r->error == NULL && r->messages == NULL)
      r->messages = g_ptr_array_new_with_free_func ((GDestroyNotify)prl_stored_message_free);
    if (r->func.claim != NULL)
      r->func.claim (s, r->error != NULL ? NULL : r->messages, r->error, r->user_data);
    break;
  case PRL_STORE_REPLY_QUERY:
    if (r->func.query != NULL)
      r->func.query (s, r->error != NULL ? NULL : r->result, r->error, r->user_data);
    break;
  case PRL_STORE_REPLY_STATE:
    /* no news is sent to a store on its way out */
    if (s->on_state != NULL && !s->outbox->is_freeing)
      s->on_state (s, r->is_up, s->state_data);
    break;
  }
}

static void real_free (PrlStore *s);

static gboolean
on_deliver (gpointer data)
{
  PrlStore *s = data;
  PrlStoreOutbox *o = s->outbox;
  o->idle_id = 0;
  /* only what is queued now: answers to work started by these callbacks come next time */
  guint n = o->ready.length;
  o->busy++;
  for (guint i = 0; i < n && !o->is_freeing; i++) {
    PrlStoreReply *r = g_queue_pop_head (&o->ready);
    deliver_one (r);
    reply_free (r);
  }
  o->busy--;
  if (o->is_freeing)
    real_free (s);
  else if (o->ready.length > 0 && o->idle_id == 0)
    o->idle_id = g_idle_add (on_deliver, s);
  return G_SOURCE_REMOVE;
}

void
prl_store_reply_send (PrlStoreReply *r)
{
  g_return_if_fail (r != NULL);
  PrlStoreOutbox *o = r->store->outbox;
  g_queue_push_tail (&o->ready, r);
  if (o->idle_id == 0 && o->busy == 0 && !o->is_freeing)
    o->idle_id = g_idle_add (on_deliver, r->store);
}

void
prl_store_post_state (PrlStore *s, gboolean is_up)
{
  PrlStoreReply *r = reply_new (s, PRL_STORE_REPLY_STATE, NULL);
  r->is_up = is_up;
  prl_store_reply_send (r);
}

void
prl_store_init (PrlStore *s, const PrlStoreVTable *vtable, const char *instance)
{
  /* STYLE.md §3.8: a backend with a missing slot is a bug, caught at creation */
  g_assert (vtable != NULL && vtable->name != NULL);
  g_assert (vtable->park != NULL && vtable->claim != NULL && vtable->ack != NULL);
  g_assert (vtable->release != NULL && vtable->purge != NULL && vtable->list != NULL);
  g_assert (vtable->expire != NULL && vtable->is_up != NULL && vtable->describe != NULL);
  g_assert (vtable->free != NULL);
  s->vtable = vtable;
  s->instance = g_strdup (instance);
  s->outbox = g_new0 (PrlStoreOutbox, 1);
  g_queue_init (&s->outbox->ready);
  prl_store_acks_init (s);
}

gboolean
prl_store_is_freeing (PrlStore *s)
{
  return s->outbox->is_freeing;
}

void
prl_store_set_state_func (PrlStore *s, PrlStoreStateFunc func, gpointer user_data)
{
  g_return_if_fail (s != NULL);
  s->on_state = func;
  s->state_data = user_data;
}

/* Work asked of a store that is being freed fails at once (delivered by the final drain). */
static gboolean
refuse_if_freeing (PrlStore *s, PrlStoreReply *r)
{
  if (!s->outbox->is_freeing)
    return FALSE;
  prl_store_reply_fail (r, PRL_STORE_ERROR_UNAVAILABLE, "store is shutting down");
  prl_store_reply_send (r);
  return TRUE;
}

void
prl_store_park (PrlStore *s, const PrlStoredMessage *m, const PrlStoreLimits *limits,
                PrlStoreDoneFunc done, gpointer user_data)
{
  g_return_if_fail (s != NULL);
  g_return_if_fail (m != NULL && m->id != NULL && m->owner != NULL);
  g_return_if_fail (m->body != NULL || m->body_len == 0);
  if (s->outbox->is_freeing) {
    refuse_if_freeing (s, prl_store_reply_new_done (s, done, user_data));
    return;
  }
  static const PrlStoreLimits unlimited = { 0 };
  prl_store_acks_flush (s);
  s->vtable->park (s, m, limits != NULL ? limits : &unlimited, done, user_data);
}

void
prl_store_claim (PrlStore *s, const char *owner, guint max, guint lease_ms, gint64 now_us,
                 PrlStoreClaimFunc done, gpointer user_data)
{
  prl_store_claim_after (s, owner, NULL, max, lease_ms, now_us, done, user_data);
}

void
prl_store_claim_after (PrlStore *s, const char *owner, const char *after, guint max, guint lease_ms,
                       gint64 now_us, PrlStoreClaimFunc done, gpointer user_data)
{
  g_return_if_fail (s != NULL);
  g_return_if_fail (owner != NULL);
  g_return_if_fail (lease_ms > 0);
  if (s->outbox->is_freeing) {
    refuse_if_freeing (s, prl_store_reply_new_claim (s, done, user_data));
    return;
  }
  prl_store_acks_flush (s);
  s->vtable->claim (s, owner, after, max, lease_ms, now_us, done, user_data);
}

void
prl_store_ack (PrlStore *s, const char *owner, const char *id, PrlStoreDoneFunc done,
               gpointer user_data)
{
  g_return_if_fail (s != NULL);
  g_return_if_fail (owner != NULL && id != NULL);
  if (s->outbox->is_freeing) {
    refuse_if_freeing (s, prl_store_reply_new_done (s, done, user_data));
    return;
  }
  prl_store_acks_add (s, owner, id, done, user_data);
}

void
prl_store_ack_many (PrlStore *s, const char *owner, const char *const *ids, guint n_ids,
                    PrlStoreDoneFunc done, gpointer user_data)
{
  g_return_if_fail (s != NULL);
  g_return_if_fail (owner != NULL && ids != NULL && n_ids > 0);
  for (guint i = 0; i < n_ids; i++)
    g_return_if_fail (ids[i] != NULL);
  if (s->outbox->is_freeing) {
    refuse_if_freeing (s, prl_store_reply_new_done (s, done, user_data));
    return;
  }
  prl_store_acks_flush (s);
  s->vtable->ack (s, owner, ids, n_ids, done, user_data);
}

void
prl_store_release (PrlStore *s, const char *owner, PrlStoreDoneFunc done, gpointer user_data)
{
  g_return_if_fail (s != NULL);
  g_return_if_fail (owner != NULL);
  if (s->outbox->is_freeing) {
    refuse_if_freeing (s, prl_store_reply_new_done (s, done, user_data));
    return;
  }
  prl_store_acks_flush (s);
  s->vtable->release (s, owner, done, user_data);
}

void
prl_store_purge (PrlStore *s, const char *owner, PrlStoreDoneFunc done, gpointer user_data)
{
  g_return_if_fail (s != NULL);
  g_return_if_fail (owner != NULL);
  if (s->outbox->is_freeing) {
    refuse_if_freeing (s, prl_store_reply_new_done (s, done, user_data));
    return;
  }
  prl_store_acks_flush (s);
  s->vtable->purge (s, owner, done, user_data);
}

void
prl_store_list (PrlStore *s, guint max, PrlStoreQueryFunc done, gpointer user_data)
{
  g_return_if_fail (s != NULL);
  if (s->outbox->is_freeing) {
    refuse_if_freeing (s, prl_store_reply_new_query (s, done, user_data));
    return;
  }
  prl_store_acks_flush (s);
  s->vtable->list (s, max, done, user_data);
}

void
prl_store_expire (PrlStore *s, gint64 now_us, PrlStoreQueryFunc done, gpointer user_data)
{
  g_return_if_fail (s != NULL);
  if (s->outbox->is_freeing) {
    refuse_if_freeing (s, prl_store_reply_new_query (s, done, user_data));
    return;
  }
  prl_store_acks_flush (s);
  s->vtable->expire (s, now_us, done, user_data);
}

gboolean
prl_store_is_up (PrlStore *s)
{
  g_return_val_if_fail (s != NULL, FALSE);
  return !s->outbox->is_freeing && s->vtable->is_up (s);
}

GVariant *
prl_store_describe (PrlStore *s)
{
  g_return_val_if_fail (s != NULL, NULL);
  return s->vtable->describe (s);
}

/* The backend lets go (its in-flight work lands in the outbox as UNAVAILABLE), then every
 * queued answer is delivered here, including answers to work those callbacks start. */
static void
real_free (PrlStore *s)
{
  PrlStoreOutbox *o = s->outbox;
  o->is_freeing = TRUE;
  g_clear_handle_id (&o->idle_id, g_source_remove);
  prl_store_acks_flush (s); /* asked before the free: the backend answers them (or fails them) */
  s->vtable->free (s);
  prl_store_acks_clear (s);
  o->busy++;
  PrlStoreReply *r;
  while ((r = g_queue_pop_head (&o->ready)) != NULL) {
    deliver_one (r);
    reply_free (r);
  }
  g_free (o);
  g_free (s->instance);
  g_free (s);
}

void
prl_store_free (PrlStore *s)
{
  if (s == NULL)
    return;
  PrlStoreOutbox *o = s->outbox;
  if (o->busy > 0) {
    /* called from one of our callbacks: on_deliver frees once it returns */
    o->is_freeing = TRUE;
    return;
  }
  real_free (s);
}
