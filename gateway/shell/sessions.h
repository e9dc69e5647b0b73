/* gateway/shell/sessions.h - chat sessions in the daemon: the core's CHAT_* actions carried
 * out with the SIP agent (INVITE/BYE, sip/invite.c), the SDP (sip/sdp.c) and the MSRP stack
 * (sip/msrp.h), and what those report turned back into PRL_EVENT_CHAT_* events.
 *
 * PrlSessions owns the MSRP stack and the table chat id -> (SIP session, MSRP session). Events
 * go to the daemon through the @emit function given at creation; an outcome known while an
 * action is being carried out (a refusal before the wire) is emitted from an idle callback,
 * so the core never sees an event re-entrantly.
 */
#pragma once

#include "gateway/event.h"
#include "gateway/action.h"
#include "gateway/shell/config.h"
#include "sip/msrp.h"
#include "sip/sip.h"

G_BEGIN_DECLS

typedef struct _PrlSessions PrlSessions;
typedef void (*PrlSessionsEmitFunc) (const PrlEvent *event, gpointer user_data);

/* Starts the MSRP endpoint of @config (NULL with @error when it cannot listen). @sip is
 * borrowed and must outlive the result. */
PrlSessions *prl_sessions_new (const PrlChatConfig *config, PrlSipAgent *sip,
                               PrlSessionsEmitFunc emit, gpointer user_data, GError **error);
void prl_sessions_free (PrlSessions *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlSessions, prl_sessions_free)

/* Carries out one PRL_ACTION_CHAT_* action. */
void prl_sessions_execute (PrlSessions *s, const PrlAction *a);

/* The SIP agent's session callbacks, forwarded by the daemon. */
void prl_sessions_on_invite (PrlSessions *s, const PrlSipMessage *invite);
void prl_sessions_on_invite_result (PrlSessions *s, guint64 sip_session, guint status,
                                    const char *reason, const char *sdp, gsize sdp_len);
void prl_sessions_on_session_end (PrlSessions *s, guint64 sip_session, const char *reason);

/* Sessions alive, and the MSRP stack's counters (for status and metrics). */
guint prl_sessions_count (PrlSessions *s);
const PrlMsrpStats *prl_sessions_msrp_stats (PrlSessions *s);

G_END_DECLS
