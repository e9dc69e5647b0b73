/* store/store-redis.c - the offline store in Redis (hiredis async on our own GSource).
 *
 * DESIGN.md §7, store/README.md (the key schema). Every key of one user carries the Redis
 * Cluster hash tag of its owner, so the user's operations are single-slot Lua scripts, atomic
 * on the server: park (quota), claim (lease + expiry + read), ack (lease check + delete),
 * release, purge, sweep (expiry of one user) and info (count, oldest). The scripts are loaded
 * with SCRIPT LOAD when the link comes up and run with EVALSHA; a NOSCRIPT answer (a SCRIPT
 * FLUSH, a failover) loads the script again and retries that command once. The global count
 * and the owner index live outside the user's slot and are kept by plain commands next to the
 * scripts: the count bounds the store (FULL) and may drift if parleyd dies between the two,
 * the index may hold owners with nothing left (list and expire verify, the sweep prunes).
 *
 * Link: connect in the background (literal IP and port, or a UNIX socket path), SELECT and
 * SCRIPT LOAD (the handshake), then up. Down again on any error; reconnect with exponential
 * backoff, 250 ms doubling to 10 s. One g_message per state change. A watchdog drops a link
 * whose connect or oldest command has waited 5 s (hiredis 0.14 has no timeouts of its own).
 * While down, operations fail with UNAVAILABLE; commands in flight when the link drops fail
 * with UNAVAILABLE too (hiredis answers them with a NULL reply as it frees the context).
 *
 * Ownership: an Op is one store operation; it owns its PrlStoreReply until the last of its
 * commands (Cmd, the hiredis privdata, in send order on self->inflight) has come back, then
 * hands the reply to the outbox (store-internal.h). Commands with no Op are fire-and-forget.
 * redisReply memory never leaves the reply callback: records are copied out and decoded
 * defensively (a record that does not decode is skipped and counted as corrupt).
 */
#include <errno.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "store/redis-source.h"
#include "store/store-internal.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 10000
#define WATCHDOG_MS 500
#define LINK_TIMEOUT_US (5 * G_USEC_PER_SEC) /* connect + handshake */
#define CMD_TIMEOUT_US (5 * G_USEC_PER_SEC)  /* oldest command in flight */
#define MAX_IN_FLIGHT 10000                  /* commands; new operations fail beyond it */
#define CLAIM_MAX 1000
#define LIST_MAX 10000
#define SCAN_COUNT "100"

/* ---- the scripts (KEYS are always the user's own, under one hash tag) ---- */

/* Drops the ids in gone from the queue and takes them (and freed body bytes) off the
 * counters; the counters go when the queue is empty. When gone is exactly the head of the
 * queue (a flush acking in order) one LTRIM does it, else one LREM each. KEYS[1..3] = q, n,
 * bytes. */
#define LUA_FORGET                                                                                 \
  "local function forget(gone, freed)\n"                                                           \
  "  if #gone == 0 then return end\n"                                                              \
  "  local want = {}\n"                                                                            \
  "  for _, id in ipairs(gone) do want[id] = true end\n"                                           \
  "  local head = redis.call('LRANGE', KEYS[1], 0, #gone - 1)\n"                                   \
  "  local prefix = #head == #gone\n"                                                              \
  "  for _, id in ipairs(head) do\n"                                                               \
  "    if not want[id] then prefix = false break end\n"                                            \
  "    want[id] = nil\n"                                                                           \
  "  end\n"                                                                                        \
  "  if prefix then\n"                                                                             \
  "    redis.call('LTRIM', KEYS[1], #gone, -1)\n"                                                  \
  "  else\n"                                                                                       \
  "    for _, id in ipairs(gone) do redis.call('LREM', KEYS[1], 1, id) end\n"                      \
  "  end\n"                                                                                        \
  "  if redis.call('LLEN', KEYS[1]) == 0 then\n"                                                   \
  "    redis.call('DEL', KEYS[2], KEYS[3])\n"                                                      \
  "    return\n"                                                                                   \
  "  end\n"                                                                                        \
  "  local n = tonumber(redis.call('GET', KEYS[2]) or '0') or 0\n"                                 \
  "  local b = tonumber(redis.call('GET', KEYS[3]) or '0') or 0\n"                                 \
  "  redis.call('SET', KEYS[2], string.format('%d', math.max(n - #gone, 0)))\n"                    \
  "  redis.call('SET', KEYS[3], string.format('%d', math.max(b - freed, 0)))\n"                    \
  "end\n"                                                                                          \
  "local function expired(key, now)\n"                                                             \
  "  local e = tonumber(redis.call('HGET', key, 'expires_us') or '0')\n"                           \
  "  return e ~= nil and e > 0 and e < now\n"                                                      \
  "end\n"

enum {
  SCRIPT_PARK,
  SCRIPT_CLAIM,
  SCRIPT_ACK,
  SCRIPT_RELEASE,
  SCRIPT_PURGE,
  SCRIPT_SWEEP,
  SCRIPT_INFO,
  N_SCRIPTS
};

static const char *const script_source[N_SCRIPTS] = {
  /* park: KEYS q n bytes m; ARGV id body_len max_count max_bytes field value ...
   * -> 1 parked, 0 already there (a retry), error QUOTA */
  [SCRIPT_PARK] = "if redis.call('EXISTS', KEYS[4]) == 1 then return 0 end\n"
                  "local n = tonumber(redis.call('GET', KEYS[2]) or '0') or 0\n"
                  "local b = tonumber(redis.call('GET', KEYS[3]) or '0') or 0\n"
                  "local len = tonumber(ARGV[2])\n"
                  "local max_n = tonumber(ARGV[3])\n"
                  "local max_b = tonumber(ARGV[4])\n"
                  "if max_n > 0 and n >= max_n then return redis.error_reply('QUOTA count') end\n"
                  "if max_b > 0 and b + len > max_b then\n"
                  "  return redis.error_reply('QUOTA bytes')\n"
                  "end\n"
                  "redis.call('HSET', KEYS[4], unpack(ARGV, 5))\n"
                  "redis.call('RPUSH', KEYS[1], ARGV[1])\n"
                  "redis.call('INCR', KEYS[2])\n"
                  "redis.call('INCRBY', KEYS[3], ARGV[2])\n"
                  "return 1\n",
  /* claim: KEYS q n bytes lease; ARGV instance lease_ms now_us max mprefix after
   * -> {removed, record...} (records: HGETALL, receive order), error LEASED. A non-empty
   * after that is still queued: list from the id after it (LPOS, Redis >= 6.0.6; an older
   * server lists from the head, which is only slower). A record's expiry is read from its
   * HGETALL (one call per message listed) */
  [SCRIPT_CLAIM]
  = LUA_FORGET "local held = redis.call('GET', KEYS[4])\n"
               "if held and string.match(held, '^%d+ (.*)$') ~= ARGV[1] then\n"
               "  return redis.error_reply('LEASED')\n"
               "end\n"
               "redis.call('SET', KEYS[4], ARGV[2] .. ' ' .. ARGV[1], 'PX', ARGV[2])\n"
               "local now = tonumber(ARGV[3])\n"
               "local max = tonumber(ARGV[4])\n"
               "local out = {0}\n"
               "local gone, freed = {}, 0\n"
               "local start = 0\n"
               "if ARGV[6] ~= '' then\n"
               "  local pos = redis.pcall('LPOS', KEYS[1], ARGV[6])\n"
               "  if type(pos) == 'number' then start = pos + 1 end\n"
               "end\n"
               "while #out <= max do\n"
               "  local ids = redis.call('LRANGE', KEYS[1], start, start + 99)\n"
               "  if #ids == 0 then break end\n"
               "  for _, id in ipairs(ids) do\n"
               "    local key = ARGV[5] .. id\n"
               "    if #out > max then break end\n"
               "    if redis.call('TYPE', key).ok ~= 'hash' then\n"
               "      gone[#gone + 1] = id\n"
               "    else\n"
               "      local rec = redis.call('HGETALL', key)\n"
               "      local e, len = 0, 0\n"
               "      for i = 1, #rec - 1, 2 do\n"
               "        if rec[i] == 'expires_us' then e = tonumber(rec[i + 1]) or 0\n"
               "        elseif rec[i] == 'body' then len = #rec[i + 1] end\n"
               "      end\n"
               "      if e > 0 and e < now then\n"
               "        freed = freed + len\n"
               "        redis.call('DEL', key)\n"
               "        gone[#gone + 1] = id\n"
               "      else\n"
               "        out[#out + 1] = rec\n"
               "      end\n"
               "    end\n"
               "  end\n"
               "  start = start + 100\n"
               "end\n"
               "forget(gone, freed)\n"
               "out[1] = #gone\n"
               "return out\n",
  /* ack: KEYS q n bytes lease; ARGV instance mprefix id... -> how many were deleted (ids
   * gone already count 0), error LEASED; renews the lease */
  [SCRIPT_ACK] = LUA_FORGET "local held = redis.call('GET', KEYS[4])\n"
                            "local ms, holder\n"
                            "if held then ms, holder = string.match(held, '^(%d+) (.*)$') end\n"
                            "if holder ~= ARGV[1] then return redis.error_reply('LEASED') end\n"
                            "redis.call('PEXPIRE', KEYS[4], ms)\n"
                            "local gone, freed = {}, 0\n"
                            "for i = 3, #ARGV do\n"
                            "  local key = ARGV[2] .. ARGV[i]\n"
                            "  local t = redis.call('TYPE', key).ok\n"
                            "  if t ~= 'none' then\n"
                            "    if t == 'hash' then\n"
                            "      freed = freed + redis.call('HSTRLEN', key, 'body')\n"
                            "    end\n"
                            "    redis.call('DEL', key)\n"
                            "    gone[#gone + 1] = ARGV[i]\n"
                            "  end\n"
                            "end\n"
                            "forget(gone, freed)\n"
                            "return #gone\n",
  /* release: KEYS lease; ARGV instance -> 1 released, 0 not ours */
  [SCRIPT_RELEASE] = "local held = redis.call('GET', KEYS[1])\n"
                     "if held and string.match(held, '^%d+ (.*)$') == ARGV[1] then\n"
                     "  redis.call('DEL', KEYS[1])\n"
                     "  return 1\n"
                     "end\n"
                     "return 0\n",
  /* purge: KEYS q n bytes lease; ARGV mprefix -> how many the counter held */
  [SCRIPT_PURGE] = "local n = tonumber(redis.call('GET', KEYS[2]) or '0') or 0\n"
                   "local start = 0\n"
                   "while true do\n"
                   "  local ids = redis.call('LRANGE', KEYS[1], start, start + 99)\n"
                   "  if #ids == 0 then break end\n"
                   "  for _, id in ipairs(ids) do redis.call('DEL', ARGV[1] .. id) end\n"
                   "  start = start + 100\n"
                   "end\n"
                   "redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])\n"
                   "return n\n",
  /* sweep: KEYS q n bytes; ARGV now_us mprefix -> {removed, left, oldest received or -1} */
  [SCRIPT_SWEEP] = LUA_FORGET
  "local now = tonumber(ARGV[1])\n"
  "local gone, freed = {}, 0\n"
  "local start = 0\n"
  "while true do\n"
  "  local ids = redis.call('LRANGE', KEYS[1], start, start + 99)\n"
  "  if #ids == 0 then break end\n"
  "  for _, id in ipairs(ids) do\n"
  "    local key = ARGV[2] .. id\n"
  "    if redis.call('TYPE', key).ok ~= 'hash' then\n"
  "      gone[#gone + 1] = id\n"
  "    elseif expired(key, now) then\n"
  "      freed = freed + redis.call('HSTRLEN', key, 'body')\n"
  "      redis.call('DEL', key)\n"
  "      gone[#gone + 1] = id\n"
  "    end\n"
  "  end\n"
  "  start = start + 100\n"
  "end\n"
  "forget(gone, freed)\n"
  "local oldest = -1\n"
  "local first = redis.call('LINDEX', KEYS[1], 0)\n"
  "if first and redis.call('TYPE', ARGV[2] .. first).ok == 'hash' then\n"
  "  oldest = tonumber(redis.call('HGET', ARGV[2] .. first, 'received_us') or '-1') or -1\n"
  "end\n"
  "return {#gone, redis.call('LLEN', KEYS[1]), oldest}\n",
  /* info: KEYS q n; ARGV mprefix -> {count, oldest received or -1} */
  [SCRIPT_INFO]
  = "local oldest = -1\n"
    "local first = redis.call('LINDEX', KEYS[1], 0)\n"
    "if first and redis.call('TYPE', ARGV[1] .. first).ok == 'hash' then\n"
    "  oldest = tonumber(redis.call('HGET', ARGV[1] .. first, 'received_us') or '-1') or -1\n"
    "end\n"
    "return {redis.call('LLEN', KEYS[1]), oldest}\n",
};

/* ---- types ---- */

typedef enum {
  LINK_IDLE,       /* no context: waiting for the reconnect timer */
  LINK_CONNECTING, /* TCP/UNIX connect in progress */
  LINK_HANDSHAKE,  /* SELECT and SCRIPT LOAD sent */
  LINK_UP,
} LinkState;

typedef enum {
  HEALTH_UNKNOWN,
  HEALTH_UP,
  HEALTH_DOWN,
} Health;

typedef struct {
  PrlStore parent;
  char *host; /* literal IP, or a UNIX socket path when port == 0 */
  guint port;
  guint db;
  char *prefix;
  char *address;    /* for logs */
  char *total_key;  /* <prefix>total: messages in the whole store */
  char *owners_key; /* <prefix>owners: zset owner -> oldest received_us */

  redisAsyncContext *ac; /* NULL when LINK_IDLE */
  GSource *source;       /* ours (redis-source.c); kept until the next connect or free */
  LinkState link;
  gint64 link_since_us; /* monotonic: start of the connect */
  guint handshake_left;
  gboolean handshake_failed;
  Health health;
  char *last_error;
  guint reconnect_id;
  guint backoff_ms;
  guint watchdog_id;
  GQueue inflight; /* Cmd*, in send order (replies come back in that order) */
  char *sha[N_SCRIPTS];

  struct {
    guint64 parked, duplicates, claimed, acked, expired, corrupt;
    guint64 reconnects, script_reloads, timeouts, refused;
  } stats;
} StoreRedis;

typedef struct _Op Op;
typedef void (*ReplyFunc) (StoreRedis *self, Op *op, redisReply *reply, gpointer data);

/* One operation: a user's call, answered once through its reply. */
struct _Op {
  StoreRedis *self;
  PrlStoreReply *reply;
  guint pending; /* its commands in flight */
  char *owner;
  char *id;
  PrlStoredMessage *message; /* park: kept while waiting for the global count */
  PrlStoreLimits limits;
  guint max;
  gint64 now_us;
  /* list / expire: the batch of owners being looked at */
  GPtrArray *owners; /* char* */
  GArray *counts;    /* guint64 per owner (list: count; expire: left) */
  GArray *oldest;    /* gint64 per owner */
  guint batch_left;
  guint64 batch_removed;
  guint64 removed;
  char *cursor; /* expire: ZSCAN cursor */
};

typedef struct {
  GPtrArray *bufs; /* char* (owned) */
  GArray *lens;    /* size_t */
} Args;

typedef struct {
  GList link; /* in self->inflight; data = this */
  StoreRedis *self;
  Op *op; /* NULL: fire and forget */
  ReplyFunc func;
  gpointer data;
  gint64 sent_us;
  int script; /* -1, or the script to reload on NOSCRIPT */
  gboolean is_retry;
  Args *args; /* kept for a script's retry */
} Cmd;

static void connect_now (StoreRedis *self);

/* ---- argument vectors ---- */

static Args *
args_new (void)
{
  Args *a = g_new0 (Args, 1);
  a->bufs = g_ptr_array_new_with_free_func (g_free);
  a->lens = g_array_new (FALSE, FALSE, sizeof (size_t));
  return a;
}

static void
args_free (Args *a)
{
  if (a == NULL)
    return;
  g_ptr_array_unref (a->bufs);
  g_array_unref (a->lens);
  g_free (a);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Args, args_free)

/* Binary-safe: @len bytes of @buf (the %b of hiredis's format). */
static void
args_add_len (Args *a, const char *buf, size_t len)
{
  char *copy = g_malloc (len + 1);
  if (len > 0)
    memcpy (copy, buf, len);
  copy[len] = '\0';
  g_ptr_array_add (a->bufs, copy);
  g_array_append_val (a->lens, len);
}

static void
args_add (Args *a, const char *s)
{
  args_add_len (a, s, strlen (s));
}

static void G_GNUC_PRINTF (2, 3) args_addf (Args *a, const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  g_autofree char *s = g_strdup_vprintf (format, ap);
  va_end (ap);
  args_add (a, s);
}

/* ---- keys ---- */

/* The owner inside its hash tag: braces (which would end the tag early and let two owners
 * share key names) and the escape character itself are percent-encoded. */
static char *
tag_of (const char *owner)
{
  GString *s = g_string_sized_new (strlen (owner) + 2);
  g_string_append_c (s, '{');
  for (const char *p = owner; *p != '\0'; p++) {
    if (*p == '{' || *p == '}' || *p == '%')
      g_string_append_printf (s, "%%%02X", (guint)(guchar)*p);
    else
      g_string_append_c (s, *p);
  }
  g_string_append_c (s, '}');
  return g_string_free (s, FALSE);
}

static char *
user_key (StoreRedis *self, const char *owner, const char *suffix)
{
  g_autofree char *tag = tag_of (owner);
  return g_strconcat (self->prefix, tag, ":", suffix, NULL);
}

static char *
message_key (StoreRedis *self, const char *owner, const char *id)
{
  g_autofree char *tag = tag_of (owner);
  return g_strconcat (self->prefix, tag, ":m:", id, NULL);
}

static char *
global_key (StoreRedis *self, const char *name)
{
  return g_strconcat (self->prefix, name, NULL);
}

/* EVALSHA <sha> <nkeys> with the first @nkeys of the user's q, n, bytes, lease keys; the
 * caller adds @extra keys (a message key) right after. */
static Args *
script_args (StoreRedis *self, int script, const char *owner, guint nkeys, guint extra)
{
  static const char *const suffix[] = { "q", "n", "bytes", "lease" };
  g_assert (nkeys <= G_N_ELEMENTS (suffix));
  Args *a = args_new ();
  args_add (a, "EVALSHA");
  args_add (a, self->sha[script]);
  args_addf (a, "%u", nkeys + extra);
  for (guint i = 0; i < nkeys; i++) {
    g_autofree char *k = user_key (self, owner, suffix[i]);
    args_add (a, k);
  }
  return a;
}

/* ---- operations and commands ---- */

static void
op_free (Op *op)
{
  g_free (op->owner);
  g_free (op->id);
  g_clear_pointer (&op->message, prl_stored_message_free);
  g_clear_pointer (&op->owners, g_ptr_array_unref);
  g_clear_pointer (&op->counts, g_array_unref);
  g_clear_pointer (&op->oldest, g_array_unref);
  g_free (op->cursor);
  g_free (op);
}

/* The op is answered once nothing of it is in flight any more. */
static void
op_maybe_finish (Op *op)
{
  if (op->pending > 0)
    return;
  prl_store_reply_send (g_steal_pointer (&op->reply));
  op_free (op);
}

static gboolean
op_failed (Op *op)
{
  return op->reply->error != NULL;
}

/* A new operation, or NULL when it was refused at once (answered from the outbox). */
static Op *
op_start (StoreRedis *self, PrlStoreReply *r)
{
  if (self->link != LINK_UP) {
    prl_store_reply_fail (r, PRL_STORE_ERROR_UNAVAILABLE, "redis at %s is down%s%s", self->address,
                          self->last_error != NULL ? ": " : "",
                          self->last_error != NULL ? self->last_error : "");
    prl_store_reply_send (r);
    return NULL;
  }
  if (self->inflight.length >= MAX_IN_FLIGHT) {
    self->stats.refused++;
    prl_store_reply_fail (r, PRL_STORE_ERROR_UNAVAILABLE, "%u redis commands in flight",
                          self->inflight.length);
    prl_store_reply_send (r);
    return NULL;
  }
  Op *op = g_new0 (Op, 1);
  op->self = self;
  op->reply = r;
  return op;
}

static void
cmd_free (Cmd *cmd)
{
  args_free (cmd->args);
  g_free (cmd);
}

static void on_reply (redisAsyncContext *ac, void *reply, void *privdata);

static gboolean
cmd_send (StoreRedis *self, Cmd *cmd)
{
  if (self->ac == NULL || self->link < LINK_HANDSHAKE)
    return FALSE;
  if (redisAsyncCommandArgv (self->ac, on_reply, cmd, (int)cmd->args->bufs->len,
                             (const char **)cmd->args->bufs->pdata,
                             (const size_t *)(void *)cmd->args->lens->data)
      != REDIS_OK)
    return FALSE;
  cmd->sent_us = g_get_monotonic_time ();
  cmd->link.data = cmd;
  g_queue_push_tail_link (&self->inflight, &cmd->link);
  return TRUE;
}

/* Sends @args (transfer full) for @op (or for nobody); @func gets the reply unless the link
 * dropped or the op already failed. A command that cannot be sent fails the op. */
static gboolean
issue_full (StoreRedis *self, Op *op, int script, Args *args, ReplyFunc func, gpointer data)
{
  Cmd *cmd = g_new0 (Cmd, 1);
  cmd->self = self;
  cmd->op = op;
  cmd->func = func;
  cmd->data = data;
  cmd->script = script;
  cmd->args = args;
  if (!cmd_send (self, cmd)) {
    if (op != NULL)
      prl_store_reply_fail (op->reply, PRL_STORE_ERROR_UNAVAILABLE, "redis at %s: cannot send",
                            self->address);
    cmd_free (cmd);
    return FALSE;
  }
  if (op != NULL)
    op->pending++;
  return TRUE;
}

static gboolean
issue (StoreRedis *self, Op *op, Args *args, ReplyFunc func, gpointer data)
{
  return issue_full (self, op, -1, args, func, data);
}

static gboolean
issue_script (StoreRedis *self, Op *op, int script, Args *args, ReplyFunc func, gpointer data)
{
  return issue_full (self, op, script, args, func, data);
}

/* A command with no op and no interest in the answer (index, global count). */
static void
fire (StoreRedis *self, Args *args)
{
  issue (self, NULL, args, NULL, NULL);
}

static void
on_reply (redisAsyncContext *ac, void *r, void *privdata)
{
  Cmd *cmd = privdata;
  StoreRedis *self = cmd->self;
  redisReply *reply = r;
  g_queue_unlink (&self->inflight, &cmd->link);

  /* NOSCRIPT (SCRIPT FLUSH, a restarted or failed-over server): load it again, retry once;
   * the LOAD and the retry are pipelined, so the retry runs after the load */
  if (reply != NULL && reply->type == REDIS_REPLY_ERROR && cmd->script >= 0 && !cmd->is_retry
      && reply->str != NULL && g_str_has_prefix (reply->str, "NOSCRIPT")) {
    self->stats.script_reloads++;
    g_autoptr (Args) load = args_new ();
    args_add (load, "SCRIPT");
    args_add (load, "LOAD");
    args_add (load, script_source[cmd->script]);
    issue (self, NULL, g_steal_pointer (&load), NULL, NULL);
    cmd->is_retry = TRUE;
    if (cmd_send (self, cmd))
      return; /* same Cmd, still counted in op->pending */
    reply = NULL;
  }

  Op *op = cmd->op;
  if (op != NULL) {
    op->pending--;
    if (reply == NULL)
      prl_store_reply_fail (op->reply, PRL_STORE_ERROR_UNAVAILABLE,
                            "connection to redis at %s lost", self->address);
  }
  if (reply != NULL && cmd->func != NULL && (op == NULL || !op_failed (op)))
    cmd->func (self, op, reply, cmd->data);
  cmd_free (cmd);
  if (op != NULL)
    op_maybe_finish (op);
}

/* An error reply that is not one of ours: a broken server or a bug; logged, UNAVAILABLE. */
static void
fail_unexpected (Op *op, redisReply *reply, const char *what)
{
  const char *detail
      = reply->type == REDIS_REPLY_ERROR && reply->str != NULL ? reply->str : "odd reply";
  g_warning ("redis store: %s: %s", what, detail);
  prl_store_reply_fail (op->reply, PRL_STORE_ERROR_UNAVAILABLE, "redis %s: %s", what, detail);
}

/* Our scripts' error codes; Redis 7 may put "ERR " in front of a script's error reply. */
static gboolean
is_error (redisReply *reply, const char *code)
{
  if (reply->type != REDIS_REPLY_ERROR || reply->str == NULL)
    return FALSE;
  const char *str = g_str_has_prefix (reply->str, "ERR ") ? reply->str + 4 : reply->str;
  return g_str_has_prefix (str, code);
}

/* An integer from an integer reply or a decimal bulk string; nil is 0. */
static gboolean
reply_to_int (redisReply *reply, gint64 *out)
{
  if (reply->type == REDIS_REPLY_INTEGER) {
    *out = reply->integer;
    return TRUE;
  }
  if (reply->type == REDIS_REPLY_NIL) {
    *out = 0;
    return TRUE;
  }
  if (reply->type == REDIS_REPLY_STRING && reply->str != NULL)
    return g_ascii_string_to_signed (reply->str, 10, G_MININT64, G_MAXINT64, out, NULL);
  return FALSE;
}

/* ---- records: PrlStoredMessage <-> the fields of a message hash ---- */

static const struct {
  const char *name;
  gsize offset;
} string_fields[] = {
  { "id", G_STRUCT_OFFSET (PrlStoredMessage, id) },
  { "owner", G_STRUCT_OFFSET (PrlStoredMessage, owner) },
  { "to", G_STRUCT_OFFSET (PrlStoredMessage, to) },
  { "original_to", G_STRUCT_OFFSET (PrlStoredMessage, original_to) },
  { "from", G_STRUCT_OFFSET (PrlStoredMessage, from) },
  { "kind", G_STRUCT_OFFSET (PrlStoredMessage, kind) },
  { "content_type", G_STRUCT_OFFSET (PrlStoredMessage, content_type) },
  { "lang", G_STRUCT_OFFSET (PrlStoredMessage, lang) },
  { "subject", G_STRUCT_OFFSET (PrlStoredMessage, subject) },
  { "thread", G_STRUCT_OFFSET (PrlStoredMessage, thread) },
  { "origin", G_STRUCT_OFFSET (PrlStoredMessage, origin) },
  { "original_id", G_STRUCT_OFFSET (PrlStoredMessage, original_id) },
};

#define FIELD(m, i) (G_STRUCT_MEMBER (char *, (m), string_fields[i].offset))

static void
encode_message (Args *a, const PrlStoredMessage *m)
{
  args_add (a, "v");
  args_add (a, "1");
  for (guint i = 0; i < G_N_ELEMENTS (string_fields); i++) {
    const char *value = FIELD ((PrlStoredMessage *)m, i);
    if (value != NULL) {
      args_add (a, string_fields[i].name);
      args_add (a, value);
    }
  }
  if (m->body != NULL) {
    args_add (a, "body");
    args_add_len (a, m->body, m->body_len);
  }
  args_add (a, "received_us");
  args_addf (a, "%" G_GINT64_FORMAT, m->received_us);
  args_add (a, "expires_us");
  args_addf (a, "%" G_GINT64_FORMAT, m->expires_us);
}

/* One HGETALL record, read back from Redis: untrusted. NULL when it does not decode (not an
 * array of string pairs, no id/owner/received_us, a bad number, the wrong owner). */
static PrlStoredMessage *
decode_message (redisReply *rec, const char *owner)
{
  if (rec->type != REDIS_REPLY_ARRAY || rec->elements % 2 != 0)
    return NULL;
  g_autoptr (PrlStoredMessage) m = prl_stored_message_new ();
  gboolean has_received = FALSE;
  for (size_t i = 0; i < rec->elements; i += 2) {
    redisReply *k = rec->element[i], *v = rec->element[i + 1];
    if (k == NULL || v == NULL || k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING
        || k->str == NULL || v->str == NULL)
      return NULL;
    const char *name = k->str;
    if (strcmp (name, "body") == 0) {
      g_free (m->body);
      m->body = g_malloc (v->len + 1);
      memcpy (m->body, v->str, v->len);
      m->body[v->len] = '\0';
      m->body_len = v->len;
      continue;
    }
    if (strcmp (name, "received_us") == 0 || strcmp (name, "expires_us") == 0) {
      gint64 t;
      if (!g_ascii_string_to_signed (v->str, 10, G_MININT64, G_MAXINT64, &t, NULL))
        return NULL;
      if (name[0] == 'r') {
        m->received_us = t;
        has_received = TRUE;
      } else
        m->expires_us = t;
      continue;
    }
    for (guint f = 0; f < G_N_ELEMENTS (string_fields); f++) {
      if (strcmp (name, string_fields[f].name) == 0) {
        /* text fields hold no NUL; one that does was not written by us */
        if (strlen (v->str) != v->len)
          return NULL;
        g_free (FIELD (m, f));
        FIELD (m, f) = g_strndup (v->str, v->len);
        break;
      }
    }
    /* unknown fields (a later version's) are ignored */
  }
  if (m->id == NULL || m->owner == NULL || !has_received || strcmp (m->owner, owner) != 0)
    return NULL;
  return g_steal_pointer (&m);
}

/* ---- park ---- */

static void
on_park_done (StoreRedis *self, Op *op, redisReply *reply, gpointer data)
{
  if (is_error (reply, "QUOTA")) {
    prl_store_reply_fail (op->reply, PRL_STORE_ERROR_QUOTA, "%s: %s", op->owner, reply->str);
    return;
  }
  gint64 added;
  if (reply->type != REDIS_REPLY_INTEGER || !reply_to_int (reply, &added)) {
    fail_unexpected (op, reply, "park");
    return;
  }
  if (added == 1) {
    self->stats.parked++;
    Args *incr = args_new ();
    args_add (incr, "INCR");
    args_add (incr, self->total_key);
    fire (self, incr);
  } else
    self->stats.duplicates++; /* a retry of a park that did land: one copy */
}

/* Index first (a crash then leaves a harmless stale entry), the script, and the index again
 * (a sweep may have pruned the owner between the two): pipelined, so in this order. */
static void
park_now (StoreRedis *self, Op *op)
{
  const PrlStoredMessage *m = op->message;
  g_autofree char *received = g_strdup_printf ("%" G_GINT64_FORMAT, m->received_us);
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1) {
      Args *a = script_args (self, SCRIPT_PARK, m->owner, 3, 1);
      g_autofree char *mkey = message_key (self, m->owner, m->id);
      args_add (a, mkey);
      args_add (a, m->id);
      args_addf (a, "%" G_GSIZE_FORMAT, m->body_len);
      args_addf (a, "%u", op->limits.max_count);
      args_addf (a, "%" G_GUINT64_FORMAT, op->limits.max_bytes);
      encode_message (a, m);
      if (!issue_script (self, op, SCRIPT_PARK, a, on_park_done, NULL))
        return;
    }
    Args *z = args_new ();
    args_add (z, "ZADD");
    args_add (z, self->owners_key);
    args_add (z, "NX");
    args_add (z, received);
    args_add (z, m->owner);
    fire (self, z);
  }
}

static void
on_park_total (StoreRedis *self, Op *op, redisReply *reply, gpointer data)
{
  gint64 total;
  if (!reply_to_int (reply, &total)) {
    fail_unexpected (op, reply, "GET total");
    return;
  }
  if (total >= 0 && (guint64)total >= op->limits.max_total) {
    prl_store_reply_fail (op->reply, PRL_STORE_ERROR_FULL,
                          "the store holds %" G_GINT64_FORMAT " messages", total);
    return;
  }
  park_now (self, op);
}

static void
redis_park (PrlStore *s, const PrlStoredMessage *m, const PrlStoreLimits *limits,
            PrlStoreDoneFunc done, gpointer user_data)
{
  StoreRedis *self = (StoreRedis *)s;
  Op *op = op_start (self, prl_store_reply_new_done (s, done, user_data));
  if (op == NULL)
    return;
  op->owner = g_strdup (m->owner);
  op->message = prl_stored_message_dup (m);
  op->limits = *limits;
  if (limits->max_total > 0) {
    /* the global bound lives outside the user's slot: read first, then park */
    Args *a = args_new ();
    args_add (a, "GET");
    args_add (a, self->total_key);
    issue (self, op, a, on_park_total, NULL);
  } else
    park_now (self, op);
  op_maybe_finish (op);
}

/* ---- claim ---- */

static void
decr_total (StoreRedis *self, gint64 n)
{
  if (n <= 0)
    return;
  Args *a = args_new ();
  args_add (a, "DECRBY");
  args_add (a, self->total_key);
  args_addf (a, "%" G_GINT64_FORMAT, n);
  fire (self, a);
}

static void
on_claim_done (StoreRedis *self, Op *op, redisReply *reply, gpointer data)
{
  if (is_error (reply, "LEASED")) {
    prl_store_reply_fail (op->reply, PRL_STORE_ERROR_LEASED, "%s is being flushed elsewhere",
                          op->owner);
    return;
  }
  gint64 removed;
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
      || !reply_to_int (reply->element[0], &removed)) {
    fail_unexpected (op, reply, "claim");
    return;
  }
  decr_total (self, removed);
  self->stats.expired += MAX (removed, 0);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify)prl_stored_message_free);
  for (size_t i = 1; i < reply->elements && out->len < op->max; i++) {
    PrlStoredMessage *m = decode_message (reply->element[i], op->owner);
    if (m == NULL) {
      self->stats.corrupt++; /* skipped: the rest still goes out */
      g_debug ("redis store: a record of %s does not decode", op->owner);
      continue;
    }
    g_ptr_array_add (out, m);
  }
  self->stats.claimed += out->len;
  op->reply->messages = out;
}

static void
redis_claim (PrlStore *s, const char *owner, const char *after, guint max, guint lease_ms,
             gint64 now_us, PrlStoreClaimFunc done, gpointer user_data)
{
  StoreRedis *self = (StoreRedis *)s;
  Op *op = op_start (self, prl_store_reply_new_claim (s, done, user_data));
  if (op == NULL)
    return;
  op->owner = g_strdup (owner);
  op->max = max == 0 || max > CLAIM_MAX ? CLAIM_MAX : max;
  Args *a = script_args (self, SCRIPT_CLAIM, owner, 4, 0);
  g_autofree char *mprefix = message_key (self, owner, "");
  args_add (a, s->instance);
  args_addf (a, "%u", lease_ms);
  args_addf (a, "%" G_GINT64_FORMAT, now_us);
  args_addf (a, "%u", op->max);
  args_add (a, mprefix);
  args_add (a, after != NULL ? after : "");
  issue_script (self, op, SCRIPT_CLAIM, a, on_claim_done, NULL);
  op_maybe_finish (op);
}

/* ---- ack, release, purge ---- */

static void
on_ack_done (StoreRedis *self, Op *op, redisReply *reply, gpointer data)
{
  if (is_error (reply, "LEASED")) {
    prl_store_reply_fail (op->reply, PRL_STORE_ERROR_LEASED, "%s holds no lease on %s",
                          self->parent.instance, op->owner);
    return;
  }
  gint64 deleted;
  if (reply->type != REDIS_REPLY_INTEGER || !reply_to_int (reply, &deleted) || deleted < 0) {
    fail_unexpected (op, reply, "ack");
    return;
  }
  self->stats.acked += (guint64)deleted;
  decr_total (self, deleted);
}

/* One script for the whole batch: one lease check, one AOF record, one reply. */
static void
redis_ack (PrlStore *s, const char *owner, const char *const *ids, guint n_ids,
           PrlStoreDoneFunc done, gpointer user_data)
{
  StoreRedis *self = (StoreRedis *)s;
  Op *op = op_start (self, prl_store_reply_new_done (s, done, user_data));
  if (op == NULL)
    return;
  op->owner = g_strdup (owner);
  Args *a = script_args (self, SCRIPT_ACK, owner, 4, 0);
  g_autofree char *mprefix = message_key (self, owner, "");
  args_add (a, s->instance);
  args_add (a, mprefix);
  for (guint i = 0; i < n_ids; i++)
    args_add (a, ids[i]);
  issue_script (self, op, SCRIPT_ACK, a, on_ack_done, NULL);
  op_maybe_finish (op);
}

static void
on_int_done (StoreRedis *self, Op *op, redisReply *reply, gpointer data)
{
  gint64 n;
  if (reply->type != REDIS_REPLY_INTEGER || !reply_to_int (reply, &n)) {
    fail_unexpected (op, reply, data);
    return;
  }
  if (g_strcmp0 (data, "purge") == 0)
    decr_total (self, n);
}

static void
redis_release (PrlStore *s, const char *owner, PrlStoreDoneFunc done, gpointer user_data)
{
  StoreRedis *self = (StoreRedis *)s;
  Op *op = op_start (self, prl_store_reply_new_done (s, done, user_data));
  if (op == NULL)
    return;
  Args *a = args_new ();
  g_autofree char *lease = user_key (self, owner, "lease");
  args_add (a, "EVALSHA");
  args_add (a, self->sha[SCRIPT_RELEASE]);
  args_add (a, "1");
  args_add (a, lease);
  args_add (a, s->instance);
  issue_script (self, op, SCRIPT_RELEASE, a, on_int_done, "release");
  op_maybe_finish (op);
}

/* The owner index entry stays: the next sweep prunes it (and never loses a live one). */
static void
redis_purge (PrlStore *s, const char *owner, PrlStoreDoneFunc done, gpointer user_data)
{
  StoreRedis *self = (StoreRedis *)s;
  Op *op = op_start (self, prl_store_reply_new_done (s, done, user_data));
  if (op == NULL)
    return;
  Args *a = script_args (self, SCRIPT_PURGE, owner, 4, 0);
  g_autofree char *mprefix = message_key (self, owner, "");
  args_add (a, mprefix);
  issue_script (self, op, SCRIPT_PURGE, a, on_int_done, "purge");
  op_maybe_finish (op);
}

/* ---- list ---- */

static Args *
info_args (StoreRedis *self, const char *owner)
{
  Args *a = script_args (self, SCRIPT_INFO, owner, 2, 0);
  g_autofree char *mprefix = message_key (self, owner, "");
  args_add (a, mprefix);
  return a;
}

/* {count, oldest} from the info or sweep script, starting at element @first. */
static gboolean
read_count_oldest (redisReply *reply, size_t first, gint64 *count, gint64 *oldest)
{
  return reply->type == REDIS_REPLY_ARRAY && reply->elements >= first + 2
         && reply_to_int (reply->element[first], count)
         && reply_to_int (reply->element[first + 1], oldest);
}

static void
batch_init (Op *op)
{
  g_clear_pointer (&op->owners, g_ptr_array_unref);
  g_clear_pointer (&op->counts, g_array_unref);
  g_clear_pointer (&op->oldest, g_array_unref);
  op->owners = g_ptr_array_new_with_free_func (g_free);
  op->counts = g_array_new (FALSE, TRUE, sizeof (guint64));
  op->oldest = g_array_new (FALSE, TRUE, sizeof (gint64));
  op->batch_left = 0;
  op->batch_removed = 0;
}

static void
batch_add (Op *op, const char *owner)
{
  g_ptr_array_add (op->owners, g_strdup (owner));
  g_array_set_size (op->counts, op->owners->len);
  g_array_set_size (op->oldest, op->owners->len);
}

static void
on_list_info (StoreRedis *self, Op *op, redisReply *reply, gpointer data)
{
  guint i = GPOINTER_TO_UINT (data);
  gint64 count, oldest;
  if (!read_count_oldest (reply, 0, &count, &oldest)) {
    fail_unexpected (op, reply, "info");
    return;
  }
  g_array_index (op->counts, guint64, i) = (guint64)MAX (count, 0);
  g_array_index (op->oldest, gint64, i) = oldest;
  if (--op->batch_left > 0)
    return;
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{s(tt)}"));
  for (guint k = 0; k < op->owners->len; k++) {
    guint64 n = g_array_index (op->counts, guint64, k);
    if (n == 0)
      continue; /* a stale index entry */
    g_variant_builder_add (&b, "{s(tt)}", (const char *)g_ptr_array_index (op->owners, k), n,
                           (guint64)MAX (g_array_index (op->oldest, gint64, k), 0));
  }
  op->reply->result = g_variant_ref_sink (g_variant_builder_end (&b));
}

static void
on_list_owners (StoreRedis *self, Op *op, redisReply *reply, gpointer data)
{
  if (reply->type != REDIS_REPLY_ARRAY) {
    fail_unexpected (op, reply, "list");
    return;
  }
  batch_init (op);
  for (size_t i = 0; i < reply->elements; i++) {
    redisReply *e = reply->element[i];
    if (e->type == REDIS_REPLY_STRING && e->str != NULL && strlen (e->str) == e->len)
      batch_add (op, e->str);
  }
  if (op->owners->len == 0) {
    op->reply->result
        = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("{s(tt)}"), NULL, 0));
    return;
  }
  for (guint i = 0; i < op->owners->len; i++) {
    op->batch_left++;
    if (!issue_script (self, op, SCRIPT_INFO, info_args (self, g_ptr_array_index (op->owners, i)),
                       on_list_info, GUINT_TO_POINTER (i)))
      return;
  }
}

static void
redis_list (PrlStore *s, guint max, PrlStoreQueryFunc done, gpointer user_data)
{
  StoreRedis *self = (StoreRedis *)s;
  Op *op = op_start (self, prl_store_reply_new_query (s, done, user_data));
  if (op == NULL)
    return;
  Args *a = args_new ();
  args_add (a, "ZRANGE");
  args_add (a, self->owners_key);
  args_add (a, "0");
  args_addf (a, "%u", (max == 0 || max > LIST_MAX ? LIST_MAX : max) - 1);
  issue (self, op, a, on_list_owners, NULL);
  op_maybe_finish (op);
}

/* ---- expire: ZSCAN the owner index, sweep each owner, prune or refresh its entry ---- */

static void expire_scan (StoreRedis *self, Op *op);

/* A pruned owner got a message meanwhile: put the entry back. */
static void
on_expire_recheck (StoreRedis *self, Op *op, redisReply *reply, gpointer data)
{
  const char *owner = g_ptr_array_index (op->owners, GPOINTER_TO_UINT (data));
  gint64 count, oldest;
  if (read_count_oldest (reply, 0, &count, &oldest) && count > 0) {
    Args *z = args_new ();
    args_add (z, "ZADD");
    args_add (z, self->owners_key);
    args_add (z, "NX");
    args_addf (z, "%" G_GINT64_FORMAT, MAX (oldest, 0));
    args_add (z, owner);
    fire (self, z);
  }
}

static void
expire_batch_done (StoreRedis *self, Op *op)
{
  decr_total (self, (gint64)op->batch_removed);
  op->removed += op->batch_removed;
  self->stats.expired += op->batch_removed;
  for (guint i = 0; i < op->owners->len; i++) {
    const char *owner = g_ptr_array_index (op->owners, i);
    guint64 left = g_array_index (op->counts, guint64, i);
    gint64 oldest = g_array_index (op->oldest, gint64, i);
    Args *z = args_new ();
    if (left == 0) {
      /* prune, then look again: a park that raced with us re-adds it (ZREM and the
       * re-check are pipelined, so the re-check sees any park that ran before the ZREM) */
      args_add (z, "ZREM");
      args_add (z, self->owners_key);
      args_add (z, owner);
      fire (self, z);
      if (!issue_script (self, op, SCRIPT_INFO, info_args (self, owner), on_expire_recheck,
                         GUINT_TO_POINTER (i)))
        return;
    } else {
      args_add (z, "ZADD");
      args_add (z, self->owners_key);
      args_add (z, "XX");
      args_addf (z, "%" G_GINT64_FORMAT, MAX (oldest, 0));
      args_add (z, owner);
      fire (self, z);
    }
  }
  if (g_strcmp0 (op->cursor, "0") != 0)
    expire_scan (self, op);
  else
    op->reply->result = g_variant_ref_sink (g_variant_new_uint64 (op->removed));
}

static void
on_expire_swept (StoreRedis *self, Op *op, redisReply *reply, gpointer data)
{
  guint i = GPOINTER_TO_UINT (data);
  gint64 removed, left, oldest;
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3
      || !reply_to_int (reply->element[0], &removed)
      || !read_count_oldest (reply, 1, &left, &oldest)) {
    fail_unexpected (op, reply, "sweep");
    return;
  }
  op->batch_removed += (guint64)MAX (removed, 0);
  g_array_index (op->counts, guint64, i) = (guint64)MAX (left, 0);
  g_array_index (op->oldest, gint64, i) = oldest;
  if (--op->batch_left == 0)
    expire_batch_done (self, op);
}

static void
on_expire_scanned (StoreRedis *self, Op *op, redisReply *reply, gpointer data)
{
  /* [cursor, [member, score, ...]] */
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
      || reply->element[0]->type != REDIS_REPLY_STRING
      || reply->element[1]->type != REDIS_REPLY_ARRAY) {
    fail_unexpected (op, reply, "ZSCAN");
    return;
  }
  g_free (op->cursor);
  op->cursor = g_strdup (reply->element[0]->str);
  batch_init (op);
  redisReply *members = reply->element[1];
  for (size_t i = 0; i + 1 < members->elements; i += 2) {
    redisReply *e = members->element[i];
    if (e->type == REDIS_REPLY_STRING && e->str != NULL && strlen (e->str) == e->len)
      batch_add (op, e->str);
  }
  if (op->owners->len == 0) {
    expire_batch_done (self, op);
    return;
  }
  for (guint i = 0; i < op->owners->len; i++) {
    const char *owner = g_ptr_array_index (op->owners, i);
    Args *a = script_args (self, SCRIPT_SWEEP, owner, 3, 0);
    g_autofree char *mprefix = message_key (self, owner, "");
    args_addf (a, "%" G_GINT64_FORMAT, op->now_us);
    args_add (a, mprefix);
    op->batch_left++;
    if (!issue_script (self, op, SCRIPT_SWEEP, a, on_expire_swept, GUINT_TO_POINTER (i)))
      return;
  }
}

static void
expire_scan (StoreRedis *self, Op *op)
{
  Args *a = args_new ();
  args_add (a, "ZSCAN");
  args_add (a, self->owners_key);
  args_add (a, op->cursor != NULL ? op->cursor : "0");
  args_add (a, "COUNT");
  args_add (a, SCAN_COUNT);
  issue (self, op, a, on_expire_scanned, NULL);
}

static void
redis_expire (PrlStore *s, gint64 now_us, PrlStoreQueryFunc done, gpointer user_data)
{
  StoreRedis *self = (StoreRedis *)s;
  Op *op = op_start (self, prl_store_reply_new_query (s, done, user_data));
  if (op == NULL)
    return;
  op->now_us = now_us;
  expire_scan (self, op);
  op_maybe_finish (op);
}

/* ---- the link ---- */

static void
report (StoreRedis *self, gboolean is_up)
{
  Health h = is_up ? HEALTH_UP : HEALTH_DOWN;
  if (self->health == h || prl_store_is_freeing (&self->parent))
    return;
  self->health = h;
  if (is_up)
    g_message ("redis store up at %s (db %u)", self->address, self->db);
  else
    g_message ("redis store down at %s: %s; retrying", self->address,
               self->last_error != NULL ? self->last_error : "unreachable");
  prl_store_post_state (&self->parent, is_up);
}

static void
set_error (StoreRedis *self, const char *reason)
{
  g_free (self->last_error);
  self->last_error = g_strdup (reason != NULL && *reason != '\0' ? reason : "unknown error");
}

static gboolean
on_reconnect (gpointer data)
{
  StoreRedis *self = data;
  self->reconnect_id = 0;
  self->stats.reconnects++;
  connect_now (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect (StoreRedis *self)
{
  if (self->reconnect_id != 0 || prl_store_is_freeing (&self->parent))
    return;
  guint delay = self->backoff_ms;
  self->backoff_ms = MIN (self->backoff_ms * 2, BACKOFF_MAX_MS);
  g_debug ("redis store: reconnecting to %s in %u ms", self->address, delay);
  self->reconnect_id = g_timeout_add (delay, on_reconnect, self);
}

/* The context is gone or going (hiredis frees it after the callback that got us here). */
static void
link_lost (StoreRedis *self)
{
  self->ac = NULL;
  self->link = LINK_IDLE;
  g_clear_handle_id (&self->watchdog_id, g_source_remove);
  report (self, FALSE);
  schedule_reconnect (self);
}

static void
on_disconnect (const redisAsyncContext *ac, int status)
{
  StoreRedis *self = ac->data;
  if (status != REDIS_OK)
    set_error (self, ac->errstr);
  else if (self->link == LINK_UP)
    set_error (self, "connection closed");
  link_lost (self);
}

static void
on_handshake (StoreRedis *self, Op *op, redisReply *reply, gpointer data)
{
  int script = GPOINTER_TO_INT (data) - 1; /* -1: SELECT */
  gboolean ok = script < 0 ? reply->type == REDIS_REPLY_STATUS
                           : reply->type == REDIS_REPLY_STRING && reply->str != NULL
                                 && g_ascii_strcasecmp (reply->str, self->sha[script]) == 0;
  if (!ok) {
    if (!self->handshake_failed && self->ac != NULL) {
      self->handshake_failed = TRUE;
      set_error (self, reply->type == REDIS_REPLY_ERROR ? reply->str : "odd handshake reply");
      g_warning ("redis store at %s: %s", self->address, self->last_error);
      redisAsyncDisconnect (self->ac); /* clean close once the replies are in */
    }
    return;
  }
  if (--self->handshake_left > 0 || self->handshake_failed)
    return;
  self->link = LINK_UP;
  self->backoff_ms = BACKOFF_MIN_MS;
  g_clear_pointer (&self->last_error, g_free);
  report (self, TRUE);
}

static void
on_connect (const redisAsyncContext *ac, int status)
{
  StoreRedis *self = ac->data;
  if (status != REDIS_OK) {
    set_error (self, ac->errstr);
    link_lost (self);
    return;
  }
  self->link = LINK_HANDSHAKE;
  self->handshake_failed = FALSE;
  self->handshake_left = 0;
  if (self->db != 0) {
    Args *a = args_new ();
    args_add (a, "SELECT");
    args_addf (a, "%u", self->db);
    self->handshake_left++;
    issue (self, NULL, a, on_handshake, GINT_TO_POINTER (0));
  }
  for (int i = 0; i < N_SCRIPTS; i++) {
    Args *a = args_new ();
    args_add (a, "SCRIPT");
    args_add (a, "LOAD");
    args_add (a, script_source[i]);
    self->handshake_left++;
    issue (self, NULL, a, on_handshake, GINT_TO_POINTER (i + 1));
  }
}

/* Drops the link from outside hiredis (the watchdog): every command in flight fails. */
static void
drop_link (StoreRedis *self)
{
  redisAsyncContext *ac = self->ac;
  redisAsyncFree (ac); /* a connected context calls on_disconnect, which clears self->ac */
  if (self->ac != NULL)
    link_lost (self);
}

static gboolean
on_watchdog (gpointer data)
{
  StoreRedis *self = data;
  gint64 now = g_get_monotonic_time ();
  const char *why = NULL;
  if (self->link != LINK_UP && now - self->link_since_us > LINK_TIMEOUT_US)
    why = "connect timed out";
  Cmd *oldest = g_queue_peek_head (&self->inflight);
  if (oldest != NULL && now - oldest->sent_us > CMD_TIMEOUT_US)
    why = "command timed out";
  if (why == NULL || self->ac == NULL)
    return G_SOURCE_CONTINUE;
  self->stats.timeouts++;
  self->watchdog_id = 0;
  set_error (self, why);
  g_warning ("redis store at %s: %s, dropping the connection", self->address, why);
  drop_link (self);
  return G_SOURCE_REMOVE;
}

static void
drop_source (GSource *source)
{
  g_source_destroy (source);
  g_source_unref (source);
}

static void
connect_now (StoreRedis *self)
{
  g_clear_pointer (&self->source, drop_source);
  redisAsyncContext *ac = self->port != 0 ? redisAsyncConnect (self->host, (int)self->port)
                                          : redisAsyncConnectUnix (self->host);
  if (ac == NULL || ac->err != 0) {
    set_error (self, ac != NULL ? ac->errstr : "cannot allocate a context");
    if (ac != NULL)
      redisAsyncFree (ac);
    report (self, FALSE);
    schedule_reconnect (self);
    return;
  }
  ac->data = self;
  self->ac = ac;
  self->link = LINK_CONNECTING;
  self->link_since_us = g_get_monotonic_time ();
  /* LIBRARIES.md §3: attach first; setting the connect callback arms the write watch */
  self->source = prl_redis_source_new (ac);
  g_source_attach (self->source, NULL);
  redisAsyncSetConnectCallback (ac, on_connect);
  redisAsyncSetDisconnectCallback (ac, on_disconnect);
  self->watchdog_id = g_timeout_add (WATCHDOG_MS, on_watchdog, self);
}

/* ---- the rest of the vtable ---- */

static gboolean
redis_is_up (PrlStore *s)
{
  return ((StoreRedis *)s)->link == LINK_UP;
}

static GVariant *
redis_describe (PrlStore *s)
{
  StoreRedis *self = (StoreRedis *)s;
  GVariantDict d;
  g_variant_dict_init (&d, NULL);
  g_variant_dict_insert (&d, "backend", "s", "redis");
  g_variant_dict_insert (&d, "instance", "s", s->instance != NULL ? s->instance : "");
  g_variant_dict_insert (&d, "address", "s", self->address);
  g_variant_dict_insert (&d, "db", "u", self->db);
  g_variant_dict_insert (&d, "prefix", "s", self->prefix);
  g_variant_dict_insert (&d, "up", "b", self->link == LINK_UP);
  if (self->last_error != NULL)
    g_variant_dict_insert (&d, "last-error", "s", self->last_error);
  g_variant_dict_insert (&d, "in-flight", "u", self->inflight.length);
  g_variant_dict_insert (&d, "parked", "t", self->stats.parked);
  g_variant_dict_insert (&d, "duplicates", "t", self->stats.duplicates);
  g_variant_dict_insert (&d, "claimed", "t", self->stats.claimed);
  g_variant_dict_insert (&d, "acked", "t", self->stats.acked);
  g_variant_dict_insert (&d, "expired", "t", self->stats.expired);
  g_variant_dict_insert (&d, "corrupt", "t", self->stats.corrupt);
  g_variant_dict_insert (&d, "reconnects", "t", self->stats.reconnects);
  g_variant_dict_insert (&d, "script-reloads", "t", self->stats.script_reloads);
  g_variant_dict_insert (&d, "timeouts", "t", self->stats.timeouts);
  g_variant_dict_insert (&d, "refused", "t", self->stats.refused);
  return g_variant_dict_end (&d);
}

static void
redis_free (PrlStore *s)
{
  StoreRedis *self = (StoreRedis *)s;
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  g_clear_handle_id (&self->watchdog_id, g_source_remove);
  if (self->ac != NULL) {
    /* in-flight commands get their NULL reply now: their ops fail with UNAVAILABLE */
    redisAsyncFree (self->ac);
    self->ac = NULL;
  }
  g_assert (self->inflight.length == 0);
  g_clear_pointer (&self->source, drop_source);
  for (int i = 0; i < N_SCRIPTS; i++)
    g_free (self->sha[i]);
  g_free (self->host);
  g_free (self->prefix);
  g_free (self->address);
  g_free (self->total_key);
  g_free (self->owners_key);
  g_free (self->last_error);
}

static const PrlStoreVTable redis_vtable = {
  .name = "redis",
  .park = redis_park,
  .claim = redis_claim,
  .ack = redis_ack,
  .release = redis_release,
  .purge = redis_purge,
  .list = redis_list,
  .expire = redis_expire,
  .is_up = redis_is_up,
  .describe = redis_describe,
  .free = redis_free,
};

PrlStore *
prl_store_redis_new (const char *host, guint port, guint db, const char *prefix,
                     const char *instance)
{
  g_return_val_if_fail (host != NULL && *host != '\0', NULL);
  g_return_val_if_fail (instance != NULL && *instance != '\0', NULL);
  g_return_val_if_fail (port <= 65535, NULL);
  StoreRedis *self = g_new0 (StoreRedis, 1);
  prl_store_init (&self->parent, &redis_vtable, instance);
  self->host = g_strdup (host);
  self->port = port;
  self->db = db;
  self->prefix = g_strdup (prefix != NULL ? prefix : "");
  self->address = port != 0 ? g_strdup_printf ("%s:%u", host, port) : g_strdup (host);
  self->total_key = global_key (self, "total");
  self->owners_key = global_key (self, "owners");
  self->backoff_ms = BACKOFF_MIN_MS;
  g_queue_init (&self->inflight);
  for (int i = 0; i < N_SCRIPTS; i++)
    self->sha[i] = g_compute_checksum_for_string (G_CHECKSUM_SHA1, script_source[i], -1);
  connect_now (self);
  return &self->parent;
}
