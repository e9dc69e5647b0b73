/* sip/invite.h - INVITE sessions on the agent's nua (internal to sip/).
 *
 * The agent (sip/agent.c) owns the nua and hands every INVITE-dialog event to
 * prl_sip_invites_on_event(); the public calls (prl_sip_agent_invite/answer/bye in sip.h)
 * are implemented here. A session is one nua handle bound to a Session (hmagic).
 */
#pragma once

#include <glib.h>
#include <sofia-sip/nua.h>

#include "sip/sip.h"

G_BEGIN_DECLS

typedef struct _PrlSipInvites PrlSipInvites;

/* @tcp_contact: the Contact for answers to INVITEs that came over TCP, or NULL. */
PrlSipInvites *prl_sip_invites_new (PrlSipAgent *agent, nua_t *nua, PrlSipAgentStats *stats,
                                    const char *tcp_contact);
/* Destroys every session handle (call before nua_destroy). */
void prl_sip_invites_free (PrlSipInvites *inv);
/* Sets the callbacks used (the agent's, copied; may be changed to none on free). */
void prl_sip_invites_set_callbacks (PrlSipInvites *inv, const PrlSipAgentCallbacks *cb,
                                    gpointer user_data);
/* TRUE when @event belonged to a session (or started one) and was handled. */
gboolean prl_sip_invites_on_event (PrlSipInvites *inv, nua_event_t event, int status,
                                   const char *phrase, nua_handle_t *nh, nua_hmagic_t *hmagic,
                                   const sip_t *sip, tagi_t tags[]);
/* Sessions alive. */
guint prl_sip_invites_count (PrlSipInvites *inv);

/* The agent's accessor for the public calls. */
PrlSipInvites *prl_sip_agent_invites (PrlSipAgent *agent);
/* A reason phrase that outlives the call (nua_respond() keeps the pointer until it sends):
 * @reason (already made safe by prl_sip_codec_reason) kept once by the agent, or the
 * status's standard phrase once too many distinct phrases were seen. */
const char *prl_sip_agent_phrase (PrlSipAgent *agent, guint status, const char *reason);

G_END_DECLS
