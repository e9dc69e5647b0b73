/* store/redis-source.h - hiredis async <-> GLib: a GSource of our own (LIBRARIES.md §3, trap 2).
 *
 * Internal to store/. The source polls the context's socket with g_source_add_poll; hiredis's
 * addRead/delRead/addWrite/delWrite hooks only flip the poll events, which GLib reads at its
 * next iteration (same thread: no wakeup, no eventfd write per command). When hiredis frees
 * the context it calls the cleanup hook: the source forgets the context and destroys itself,
 * so a dispatch never touches a freed context (the shipped adapters/glib.h does).
 *
 * Use: attach the source BEFORE redisAsyncSetConnectCallback(), which arms the write watch
 * that detects the end of the non-blocking connect.
 */
#pragma once

#include <glib.h>
#include <hiredis/async.h>

G_BEGIN_DECLS

/* Hooks @ac to a new source (transfer full: attach it, unref it when done). @ac must not have
 * an event library attached yet. The source does not own @ac. */
GSource *prl_redis_source_new (redisAsyncContext *ac);
/* The context the source still serves, or NULL once hiredis let go of it. */
redisAsyncContext *prl_redis_source_get_context (GSource *source);

G_END_DECLS
