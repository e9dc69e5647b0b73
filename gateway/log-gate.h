/* gateway/log-gate.h - whether a domain's debug and info lines are shown, asked before formatting.
 *
 * g_debug () formats its line and takes the log writer's lock before the writer decides to
 * drop it, and the per-message lines of sip/ and xmpp/ were a few per cent of parleyd's CPU
 * with nobody reading them. So those hot paths ask a gate first: one flag word per domain,
 * read without a lock. The daemon's writer (gateway/shell/admin-log.c) owns the decision and
 * sets the gates again whenever an input of it changes (startup, log.level, config.reload).
 * A gate nobody has set is open, so a program without that writer (the unit tests) formats
 * every line as before. Warnings and worse always pass.
 *
 * Global state, but only a cache of the writer's decision: the core never reads it.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  PRL_LOG_GATE_SIP,     /* "parley-sip" */
  PRL_LOG_GATE_XMPP,    /* "parley-xmpp" */
  PRL_LOG_GATE_STROPHE, /* "parley-strophe": libstrophe's own lines (xmpp/link.c) */
  PRL_LOG_GATE_N
} PrlLogGate;

/* The log domain of @gate (static string). */
const char *prl_log_gate_domain (PrlLogGate gate);

/* Records which of G_LOG_LEVEL_DEBUG and G_LOG_LEVEL_INFO are dropped for @gate's domain
 * (@dropped: those flags or-ed; other bits are ignored). Any thread. */
void prl_log_gate_set (PrlLogGate gate, GLogLevelFlags dropped);

/* Opens every gate again (tests). */
void prl_log_gate_reset (void);

/* The flags themselves: read them through prl_log_gate_shows (). */
extern gint prl_log_gate_dropped[PRL_LOG_GATE_N];

/* FALSE only when a line of @level from @gate's domain is known to be dropped: the caller may
 * then skip formatting it. */
static inline gboolean
prl_log_gate_shows (PrlLogGate gate, GLogLevelFlags level)
{
  return ((guint)g_atomic_int_get (&prl_log_gate_dropped[gate]) & (guint)level) == 0;
}

/* g_debug () behind @gate: the arguments are not evaluated when the line would be dropped. */
#define PRL_GATED_DEBUG(gate, ...)                                                                 \
  G_STMT_START                                                                                     \
  {                                                                                                \
    if (prl_log_gate_shows ((gate), G_LOG_LEVEL_DEBUG))                                            \
      g_debug (__VA_ARGS__);                                                                       \
  }                                                                                                \
  G_STMT_END

G_END_DECLS
