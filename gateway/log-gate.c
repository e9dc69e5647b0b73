/* gateway/log-gate.c - per-domain "dropped" flags for hot-path log lines (see log-gate.h).
 *
 * One gint per domain holding the dropped level bits; written with g_atomic_int_set, read
 * with g_atomic_int_get, so a writer on another thread needs no lock.
 */
#include "gateway/log-gate.h"

gint prl_log_gate_dropped[PRL_LOG_GATE_N];

static const char *const domains[PRL_LOG_GATE_N] = {
  [PRL_LOG_GATE_SIP] = "parley-sip",
  [PRL_LOG_GATE_XMPP] = "parley-xmpp",
  [PRL_LOG_GATE_STROPHE] = "parley-strophe",
};

const char *
prl_log_gate_domain (PrlLogGate gate)
{
  g_return_val_if_fail (gate < PRL_LOG_GATE_N, NULL);
  return domains[gate];
}

void
prl_log_gate_set (PrlLogGate gate, GLogLevelFlags dropped)
{
  g_return_if_fail (gate < PRL_LOG_GATE_N);
  g_atomic_int_set (&prl_log_gate_dropped[gate],
                    (gint)(dropped & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)));
}

void
prl_log_gate_reset (void)
{
  for (guint i = 0; i < PRL_LOG_GATE_N; i++)
    g_atomic_int_set (&prl_log_gate_dropped[i], 0);
}
