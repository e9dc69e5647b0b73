/* store/redis-source.c - the hiredis async context as a GSource (see redis-source.h).
 *
 * Design: one GPollFD on the context's fd. hiredis asks for read or write interest through
 * its ev hooks and we keep that in pfd.events; dispatch calls redisAsyncHandleRead/Write for
 * what poll reported. hiredis may free the context inside either call (a write to a dead
 * server, a failed connect): then it calls our cleanup hook first, which sets ac = NULL, and
 * dispatch stops touching the context from that point on.
 *
 * Ownership: the source never owns the context; the context's ev.data points to the source,
 * and finalize detaches the hooks if the context is still alive.
 */
#include "store/redis-source.h"

typedef struct {
  GSource source;
  redisAsyncContext *ac; /* NULL once hiredis cleaned up */
  GPollFD pfd;
} RedisSource;

static void
add_read (void *data)
{
  ((RedisSource *)data)->pfd.events |= G_IO_IN;
}

static void
del_read (void *data)
{
  ((RedisSource *)data)->pfd.events &= ~G_IO_IN;
}

static void
add_write (void *data)
{
  ((RedisSource *)data)->pfd.events |= G_IO_OUT;
}

static void
del_write (void *data)
{
  ((RedisSource *)data)->pfd.events &= ~G_IO_OUT;
}

/* hiredis is freeing the context (its fd closes right after): stop polling it for good. */
static void
cleanup (void *data)
{
  RedisSource *rs = data;
  rs->ac = NULL;
  rs->pfd.events = 0;
  g_source_remove_poll (&rs->source, &rs->pfd);
  g_source_destroy (&rs->source);
}

static gboolean
prepare (GSource *source, gint *timeout)
{
  *timeout = -1;
  return FALSE;
}

static gboolean
check (GSource *source)
{
  RedisSource *rs = (RedisSource *)source;
  return rs->ac != NULL && (rs->pfd.revents & (rs->pfd.events | G_IO_HUP | G_IO_ERR)) != 0;
}

static gboolean
dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  RedisSource *rs = (RedisSource *)source;
  gushort revents = rs->pfd.revents;
  gushort wanted = rs->pfd.events;
  rs->pfd.revents = 0;
  gboolean is_broken = (revents & (G_IO_HUP | G_IO_ERR)) != 0;
  /* read first: replies are processed, and an error or EOF tears the context down; with no
   * interest at all an error still needs a reader, or poll would report it forever */
  if (rs->ac != NULL
      && (((wanted & G_IO_IN) && (revents & (G_IO_IN | G_IO_HUP | G_IO_ERR)))
          || (is_broken && !(wanted & G_IO_OUT))))
    redisAsyncHandleRead (rs->ac);
  if (rs->ac != NULL && (wanted & G_IO_OUT) && (revents & (G_IO_OUT | G_IO_HUP | G_IO_ERR)))
    redisAsyncHandleWrite (rs->ac);
  return rs->ac != NULL ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static void
finalize (GSource *source)
{
  RedisSource *rs = (RedisSource *)source;
  if (rs->ac != NULL && rs->ac->ev.data == rs) {
    /* the context outlives us: hiredis must not call into freed memory */
    rs->ac->ev.addRead = NULL;
    rs->ac->ev.delRead = NULL;
    rs->ac->ev.addWrite = NULL;
    rs->ac->ev.delWrite = NULL;
    rs->ac->ev.cleanup = NULL;
    rs->ac->ev.data = NULL;
  }
}

static GSourceFuncs funcs = {
  .prepare = prepare,
  .check = check,
  .dispatch = dispatch,
  .finalize = finalize,
};

GSource *
prl_redis_source_new (redisAsyncContext *ac)
{
  g_return_val_if_fail (ac != NULL, NULL);
  g_return_val_if_fail (ac->ev.data == NULL, NULL);
  GSource *source = g_source_new (&funcs, sizeof (RedisSource));
  g_source_set_static_name (source, "parley-redis");
  RedisSource *rs = (RedisSource *)source;
  rs->ac = ac;
  rs->pfd.fd = ac->c.fd;
  rs->pfd.events = 0;
  g_source_add_poll (source, &rs->pfd);
  ac->ev.data = rs;
  ac->ev.addRead = add_read;
  ac->ev.delRead = del_read;
  ac->ev.addWrite = add_write;
  ac->ev.delWrite = del_write;
  ac->ev.cleanup = cleanup;
  return source;
}

redisAsyncContext *
prl_redis_source_get_context (GSource *source)
{
  g_return_val_if_fail (source != NULL, NULL);
  return ((RedisSource *)source)->ac;
}
