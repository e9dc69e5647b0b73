/* store/store-internal.h - what the two backends share with store.c (not a front door).
 *
 * Every answer of a store goes through its outbox: a backend fills a PrlStoreReply and hands
 * it to prl_store_reply_send(); store.c delivers the queued replies from one idle callback on
 * the default GMainContext. So user callbacks never run inside a store call nor inside a
 * hiredis callback, and a callback may free the store (the free is deferred until delivery
 * returns). State changes (on_state) travel through the same queue, in order with answers.
 *
 * Ownership: a PrlStoreReply owns its error, messages and result; prl_store_reply_send()
 * takes the reply.
 */
#pragma once

#include "store/store.h"

G_BEGIN_DECLS

typedef enum {
  PRL_STORE_REPLY_DONE,
  PRL_STORE_REPLY_CLAIM,
  PRL_STORE_REPLY_QUERY,
  PRL_STORE_REPLY_STATE,
} PrlStoreReplyKind;

typedef struct {
  PrlStore *store;
  PrlStoreReplyKind kind;
  union {
    PrlStoreDoneFunc done;
    PrlStoreClaimFunc claim;
    PrlStoreQueryFunc query;
  } func;
  gpointer user_data;
  GError *error;       /* the first failure wins */
  GPtrArray *messages; /* CLAIM: PrlStoredMessage* (owned) */
  GVariant *result;    /* QUERY: owned (sunk) */
  gboolean is_up;      /* STATE */
} PrlStoreReply;

/* Fills the common part and checks that @vtable has no NULL slot (g_assert). */
void prl_store_init (PrlStore *s, const PrlStoreVTable *vtable, const char *instance);
gboolean prl_store_is_freeing (PrlStore *s);

PrlStoreReply *prl_store_reply_new_done (PrlStore *s, PrlStoreDoneFunc done, gpointer user_data);
PrlStoreReply *prl_store_reply_new_claim (PrlStore *s, PrlStoreClaimFunc done, gpointer user_data);
PrlStoreReply *prl_store_reply_new_query (PrlStore *s, PrlStoreQueryFunc done, gpointer user_data);
/* Records a failure (printf-style message) unless one is already recorded. */
void prl_store_reply_fail (PrlStoreReply *r, PrlStoreError code, const char *format, ...)
    G_GNUC_PRINTF (3, 4);
/* Queues @r (transfer full) for delivery from the idle callback. */
void prl_store_reply_send (PrlStoreReply *r);
/* Queues an on_state notification. */
void prl_store_post_state (PrlStore *s, gboolean is_up);

/* store-acks.c: the coalescing of prl_store_ack() (store.h). */
void prl_store_acks_init (PrlStore *s);
/* Queues one ack; it goes out with the others of its owner from an idle callback (main-loop
 * priority, so in the next iteration), or at once when its owner's batch is full. */
void prl_store_acks_add (PrlStore *s, const char *owner, const char *id, PrlStoreDoneFunc done,
                         gpointer user_data);
/* Hands every waiting batch to the backend now (before any other operation, and at free). */
void prl_store_acks_flush (PrlStore *s);
/* Frees the (empty) state; call after the last flush. */
void prl_store_acks_clear (PrlStore *s);

G_END_DECLS
