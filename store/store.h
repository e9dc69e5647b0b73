/* store/store.h - the offline store: messages parked for users who are offline (front door).
 *
 * DESIGN.md §7. A PrlStore is a small vtable (STYLE.md §3.8) with two implementations:
 * "redis" (store-redis.c: hiredis async on a GSource of our own, atomic Lua scripts, every key
 * of one user under one Redis Cluster hash tag) and "memory" (store-memory.c: for unit tests
 * and for running without Redis). Every operation is asynchronous and answers exactly once
 * through its callback, on the default GMainContext, never from inside the call itself.
 *
 * Delivery guarantee (with the core): a message is parked before the sender is acknowledged;
 * it leaves the store only when prl_store_ack() is called after its delivery was confirmed.
 * claim() hands out a user's messages under a lease (lease_ms) held by one instance, so two
 * parleyd processes sharing one Redis never flush the same user at the same time; a crash
 * mid-flush lets the lease expire and the next claim re-delivers what was in flight (and what
 * was delivered but whose ack the store had not applied yet).
 *
 * Acks are coalesced (store-acks.c), like a group commit: the acks of one owner reach the
 * backend in batches (one Redis script, one fsync), at most PRL_STORE_ACK_BATCH ids each and
 * at most one batch per owner waiting for its answer (the acks asked meanwhile go together
 * when it is answered); every ack still gets its own answer (its batch's). Any other
 * operation on the store sends the waiting acks first, so the backend applies everything in
 * the order it was asked (an ack asked before a claim is applied before that claim).
 */
#pragma once

#include <glib.h>

#include "gateway/message.h"

G_BEGIN_DECLS

#define PRL_STORE_ERROR (prl_store_error_quark ())
GQuark prl_store_error_quark (void);
typedef enum {
  PRL_STORE_ERROR_UNAVAILABLE, /* backend unreachable: retry later (SIP 503 / XMPP wait) */
  PRL_STORE_ERROR_CORRUPT,     /* a record did not decode: skipped and counted */
  PRL_STORE_ERROR_QUOTA,       /* the user's count or byte quota is full */
  PRL_STORE_ERROR_FULL,        /* the global bound is reached */
  PRL_STORE_ERROR_LEASED,      /* another instance is flushing this user */
} PrlStoreError;

/* PrlStoredMessage, the parked message, is plain data the core builds and delivers: it is
 * declared in gateway/message.h (and implemented in gateway/message.c). */

typedef struct {
  guint max_count;           /* per user; 0 = unlimited */
  guint64 max_bytes;         /* per user (sum of body_len); 0 = unlimited */
  guint64 max_total;         /* messages in the whole store; 0 = unlimited */
} PrlStoreLimits;

typedef struct _PrlStore PrlStore;

/* Completion of park/ack/release/purge: @error is NULL on success (borrowed). */
typedef void (*PrlStoreDoneFunc) (PrlStore *store, const GError *error, gpointer user_data);
/* Completion of claim: @messages (borrowed; PrlStoredMessage*, receive order, expired ones
 * already removed) or @error (LEASED when another instance holds the lease). */
typedef void (*PrlStoreClaimFunc) (PrlStore *store, GPtrArray *messages, const GError *error,
                                   gpointer user_data);
/* Completion of list/count queries for the admin socket: @result (borrowed) or @error. */
typedef void (*PrlStoreQueryFunc) (PrlStore *store, GVariant *result, const GError *error,
                                   gpointer user_data);
/* The backend went up (TRUE) or down (FALSE); logged once per change by the store itself. */
typedef void (*PrlStoreStateFunc) (PrlStore *store, gboolean is_up, gpointer user_data);

typedef struct {
  const char *name;          /* "redis", "memory" */
  void (*park) (PrlStore *s, const PrlStoredMessage *m, const PrlStoreLimits *limits,
                PrlStoreDoneFunc done, gpointer user_data);
  /* @after: NULL, or an id the caller already holds: list only what is queued after it (from
   * the head when it is not queued any more) */
  void (*claim) (PrlStore *s, const char *owner, const char *after, guint max, guint lease_ms,
                 gint64 now_us, PrlStoreClaimFunc done, gpointer user_data);
  /* removes the @n_ids messages @ids (all or none: LEASED), one answer */
  void (*ack) (PrlStore *s, const char *owner, const char *const *ids, guint n_ids,
               PrlStoreDoneFunc done, gpointer user_data);
  void (*release) (PrlStore *s, const char *owner, PrlStoreDoneFunc done, gpointer user_data);
  void (*purge) (PrlStore *s, const char *owner, PrlStoreDoneFunc done, gpointer user_data);
  /* a{s(tt)}: owner -> (count, oldest received_us), at most @max owners */
  void (*list) (PrlStore *s, guint max, PrlStoreQueryFunc done, gpointer user_data);
  /* removes every message whose expires_us < @now_us; result "t" = how many */
  void (*expire) (PrlStore *s, gint64 now_us, PrlStoreQueryFunc done, gpointer user_data);
  gboolean (*is_up) (PrlStore *s);
  GVariant *(*describe) (PrlStore *s);
  void (*free) (PrlStore *s);
} PrlStoreVTable;

typedef struct _PrlStoreOutbox PrlStoreOutbox;
typedef struct _PrlStoreAcks PrlStoreAcks;

/* The most ids one coalesced ack carries (a longer run of acks is sent in several). */
#define PRL_STORE_ACK_BATCH 256

struct _PrlStore {
  const PrlStoreVTable *vtable;
  char *instance;            /* this process's id, the lease holder's name */
  PrlStoreStateFunc on_state;
  gpointer state_data;
  PrlStoreOutbox *outbox;    /* private (store.c): answers waiting for their idle delivery */
  PrlStoreAcks *acks;        /* private (store-acks.c): acks waiting to be sent together */
};

/* Redis at @host:@port (a literal IP or a UNIX socket path when @port is 0), database @db,
 * keys prefixed with @prefix. Connects in the background and reconnects with capped
 * exponential backoff; operations while down fail at once with UNAVAILABLE. */
PrlStore *prl_store_redis_new (const char *host, guint port, guint db, const char *prefix,
                               const char *instance);
PrlStore *prl_store_memory_new (const char *instance);
/* A second handle, named @instance, on the data of memory store @other (so two "instances"
 * can compete for leases in tests); the data lives until its last handle is freed. */
PrlStore *prl_store_memory_new_shared (PrlStore *other, const char *instance);

void prl_store_set_state_func (PrlStore *s, PrlStoreStateFunc func, gpointer user_data);
/* The operations: thin wrappers over the vtable. */
void prl_store_park (PrlStore *s, const PrlStoredMessage *m, const PrlStoreLimits *limits,
                     PrlStoreDoneFunc done, gpointer user_data);
void prl_store_claim (PrlStore *s, const char *owner, guint max, guint lease_ms, gint64 now_us,
                      PrlStoreClaimFunc done, gpointer user_data);
/* A claim that lists only the messages queued after @after (an id the caller took from an
 * earlier claim and still holds), or from the head when @after is NULL or no longer queued:
 * so a flush that claims ahead of its deliveries does not read again what it holds. */
void prl_store_claim_after (PrlStore *s, const char *owner, const char *after, guint max,
                            guint lease_ms, gint64 now_us, PrlStoreClaimFunc done,
                            gpointer user_data);
/* Removes message @id once delivered; coalesced with the other acks of @owner (above): sent
 * in the next main-loop iteration, or when @owner's batch at the backend is answered. LEASED
 * when this instance holds no lease on @owner. */
void prl_store_ack (PrlStore *s, const char *owner, const char *id, PrlStoreDoneFunc done,
                    gpointer user_data);
/* Removes @n_ids (> 0) messages at once, in one backend call, after the acks waiting to be
 * coalesced: all or none (LEASED), one answer. @ids are borrowed for the call only. */
void prl_store_ack_many (PrlStore *s, const char *owner, const char *const *ids, guint n_ids,
                         PrlStoreDoneFunc done, gpointer user_data);
void prl_store_release (PrlStore *s, const char *owner, PrlStoreDoneFunc done,
                        gpointer user_data);
void prl_store_purge (PrlStore *s, const char *owner, PrlStoreDoneFunc done, gpointer user_data);
void prl_store_list (PrlStore *s, guint max, PrlStoreQueryFunc done, gpointer user_data);
void prl_store_expire (PrlStore *s, gint64 now_us, PrlStoreQueryFunc done, gpointer user_data);
gboolean prl_store_is_up (PrlStore *s);
GVariant *prl_store_describe (PrlStore *s);
/* Operations still pending complete with UNAVAILABLE from inside this call (callbacks must
 * not start new work on @s then: it fails too). Safe to call from any store callback: the
 * store is then freed once that callback returns. NULL is ignored. */
void prl_store_free (PrlStore *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlStore, prl_store_free)

G_END_DECLS
