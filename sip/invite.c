/* sip/invite.c - INVITE sessions carrying an MSRP offer (sip/invite.h).
 *
 * Incoming: nua_i_invite on a fresh handle -> bind a Session (hmagic), on_invite; the caller
 * answers later with prl_sip_agent_answer() (nua keeps the server transaction; NUTAG_AUTOANSWER
 * is off). Outgoing: prl_sip_agent_invite() makes a handle bound to a Session and calls
 * nua_invite() with our SDP (media is off in the stack, so the body goes out verbatim:
 * LIBRARIES.md §4); nua acknowledges a 2xx itself. Either side's BYE, a CANCEL, or the stack
 * ending the call shows as nua_i_state "terminated", where the handle is destroyed.
 * Refusals before the wire are reported from an idle callback, never re-entrantly.
 */
#include "sip/invite.h"

#include <string.h>

#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su_tag.h>

#include "sip/codec.h"

#define SESSION_MAGIC 0x5e55104eu

typedef struct {
  guint32 magic; /* SESSION_MAGIC: tells our handles from the agent's others */
  guint64 id;
  nua_handle_t *nh;
  gboolean outgoing;
  gboolean answered;   /* a final response was sent (incoming) or received (outgoing) */
  gboolean ended;      /* reported or ended locally: no more callbacks */
  gboolean tcp;        /* incoming over TCP: our Contact needs ;transport=tcp */
} Session;

typedef struct {
  guint64 id;
  guint status;
  char *reason;
} LocalFailure;

struct _PrlSipInvites {
  PrlSipAgent *agent;
  nua_t *nua;
  PrlSipAgentStats *stats;
  char *tcp_contact; /* "<sip:host:port;transport=tcp>", or NULL without TCP */
  PrlSipAgentCallbacks cb;
  gpointer user_data;
  guint64 last_id;
  GHashTable *sessions; /* guint64* id -> Session* (owned) */
  GQueue failures;      /* LocalFailure* */
  guint failure_idle;
};

static void
session_free (Session *s)
{
  if (s->nh != NULL) {
    nua_handle_bind (s->nh, NULL);
    nua_handle_destroy (s->nh);
  }
  s->magic = 0;
  g_free (s);
}

static void
local_failure_free (LocalFailure *f)
{
  g_free (f->reason);
  g_free (f);
}

PrlSipInvites *
prl_sip_invites_new (PrlSipAgent *agent, nua_t *nua, PrlSipAgentStats *stats,
                     const char *tcp_contact)
{
  PrlSipInvites *inv = g_new0 (PrlSipInvites, 1);
  inv->tcp_contact = g_strdup (tcp_contact);
  inv->agent = agent;
  inv->nua = nua;
  inv->stats = stats;
  inv->sessions
      = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, (GDestroyNotify)session_free);
  g_queue_init (&inv->failures);
  return inv;
}

void
prl_sip_invites_free (PrlSipInvites *inv)
{
  if (inv == NULL)
    return;
  g_clear_handle_id (&inv->failure_idle, g_source_remove);
  g_queue_clear_full (&inv->failures, (GDestroyNotify)local_failure_free);
  g_hash_table_unref (inv->sessions);
  g_free (inv->tcp_contact);
  g_free (inv);
}

void
prl_sip_invites_set_callbacks (PrlSipInvites *inv, const PrlSipAgentCallbacks *cb,
                               gpointer user_data)
{
  if (cb != NULL)
    inv->cb = *cb;
  else
    memset (&inv->cb, 0, sizeof inv->cb);
  inv->user_data = user_data;
}

guint
prl_sip_invites_count (PrlSipInvites *inv)
{
  return inv != NULL ? g_hash_table_size (inv->sessions) : 0;
}

static void
gauge (PrlSipInvites *inv)
{
  inv->stats->sessions = g_hash_table_size (inv->sessions);
}

static Session *
session_new (PrlSipInvites *inv, nua_handle_t *nh, gboolean outgoing)
{
  Session *s = g_new0 (Session, 1);
  s->magic = SESSION_MAGIC;
  s->id = ++inv->last_id;
  s->nh = nh;
  s->outgoing = outgoing;
  g_hash_table_insert (inv->sessions, &s->id, s);
  gauge (inv);
  return s;
}

static void
session_remove (PrlSipInvites *inv, Session *s)
{
  g_hash_table_remove (inv->sessions, &s->id);
  gauge (inv);
}

/* ---------------------------------------------------------------- local failures */

static gboolean
on_failure_idle (gpointer data)
{
  PrlSipInvites *inv = data;
  inv->failure_idle = 0;
  LocalFailure *f;
  while ((f = g_queue_pop_head (&inv->failures)) != NULL) {
    if (inv->cb.on_invite_result != NULL)
      inv->cb.on_invite_result (inv->agent, f->id, f->status, f->reason, NULL, 0, inv->user_data);
    local_failure_free (f);
  }
  return G_SOURCE_REMOVE;
}

static guint64
fail_later (PrlSipInvites *inv, guint status, const char *reason)
{
  LocalFailure *f = g_new0 (LocalFailure, 1);
  f->id = ++inv->last_id;
  f->status = status;
  f->reason = g_strdup (reason);
  g_queue_push_tail (&inv->failures, f);
  if (inv->failure_idle == 0)
    inv->failure_idle = g_idle_add (on_failure_idle, inv);
  return f->id;
}

/* nua_respond() keeps the phrase pointer until it sends: the agent keeps phrases for us. */
static const char *
intern_phrase (PrlSipInvites *inv, guint status, const char *reason)
{
  g_autofree char *clean = prl_sip_codec_reason (status, reason);
  return prl_sip_agent_phrase (inv->agent, status, clean);
}

/* ---------------------------------------------------------------- public calls */

guint64
prl_sip_agent_invite (PrlSipAgent *agent, const char *from, const char *to, const char *call_id,
                      const char *subject, const char *sdp)
{
  PrlSipInvites *inv = prl_sip_agent_invites (agent);
  g_return_val_if_fail (inv != NULL, 0);
  g_autoptr (GError) error = NULL;
  if (from == NULL || to == NULL || sdp == NULL || !prl_sip_codec_check_uri ("From", from, &error)
      || !prl_sip_codec_check_uri ("To", to, &error)
      || (call_id != NULL && !prl_sip_codec_check_text ("Call-ID", call_id, &error))
      || (subject != NULL && !prl_sip_codec_check_text ("Subject", subject, &error))) {
    g_debug ("INVITE refused: %s", error != NULL ? error->message : "missing value");
    return fail_later (inv, 500, "invalid header value");
  }
  g_autofree char *to_na = g_strdup_printf ("<%s>", to);
  g_autofree char *from_na = g_strdup_printf ("<%s>", from);
  nua_handle_t *nh
      = nua_handle (inv->nua, NULL, SIPTAG_TO_STR (to_na), SIPTAG_FROM_STR (from_na),
                    TAG_IF (call_id != NULL, SIPTAG_CALL_ID_STR (call_id)), TAG_END ());
  if (nh == NULL)
    return fail_later (inv, 500, "cannot create a handle");
  Session *s = session_new (inv, nh, TRUE);
  nua_handle_bind (nh, (nua_hmagic_t *)s);
  nua_invite (nh, NUTAG_URL (to), TAG_IF (subject != NULL, SIPTAG_SUBJECT_STR (subject)),
              SIPTAG_CONTENT_TYPE_STR ("application/sdp"), SIPTAG_PAYLOAD_STR (sdp), TAG_END ());
  inv->stats->tx_invites++;
  g_debug ("INVITE session %" G_GUINT64_FORMAT " -> %s", s->id, to);
  return s->id;
}

void
prl_sip_agent_answer (PrlSipAgent *agent, guint64 session, guint status, const char *reason,
                      const char *sdp)
{
  PrlSipInvites *inv = prl_sip_agent_invites (agent);
  g_return_if_fail (inv != NULL);
  Session *s = g_hash_table_lookup (inv->sessions, &session);
  if (s == NULL || s->outgoing || s->answered) {
    g_debug ("answer to session %" G_GUINT64_FORMAT " ignored", session);
    return;
  }
  s->answered = TRUE;
  const char *phrase = intern_phrase (inv, status, reason);
  if (status >= 200 && status < 300 && sdp != NULL) {
    /* An automatic Contact lacks ;transport=tcp for a TCP INVITE (LIBRARIES.md §2). */
    const char *contact = s->tcp ? inv->tcp_contact : NULL;
    nua_respond (s->nh, status, phrase, TAG_IF (contact != NULL, SIPTAG_CONTACT_STR (contact)),
                 SIPTAG_CONTENT_TYPE_STR ("application/sdp"), SIPTAG_PAYLOAD_STR (sdp),
                 TAG_END ());
  } else {
    nua_respond (s->nh, status >= 300 ? status : 500, phrase, TAG_END ());
    s->ended = TRUE; /* the handle goes at nua_i_state terminated */
  }
  inv->stats->tx_responses++;
}

void
prl_sip_agent_bye (PrlSipAgent *agent, guint64 session)
{
  PrlSipInvites *inv = prl_sip_agent_invites (agent);
  g_return_if_fail (inv != NULL);
  Session *s = g_hash_table_lookup (inv->sessions, &session);
  if (s == NULL || s->ended)
    return;
  s->ended = TRUE;
  if (!s->answered && s->outgoing)
    nua_cancel (s->nh, TAG_END ());
  else if (!s->answered) {
    s->answered = TRUE;
    nua_respond (s->nh, SIP_480_TEMPORARILY_UNAVAILABLE, TAG_END ());
  } else
    nua_bye (s->nh, TAG_END ());
}

/* ---------------------------------------------------------------- events */

static void
on_incoming (PrlSipInvites *inv, nua_handle_t *nh, const sip_t *sip)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PrlSipMessage) m = prl_sip_codec_read (sip, &error);
  if (m == NULL || inv->cb.on_invite == NULL) {
    if (m == NULL)
      g_debug ("INVITE refused: %s", error->message);
    nua_respond (nh, m == NULL ? 400 : 480,
                 intern_phrase (inv, m == NULL ? 400 : 480,
                                m == NULL ? error->message : "Not accepting sessions"),
                 TAG_END ());
    nua_handle_destroy (nh);
    return;
  }
  Session *s = session_new (inv, nh, FALSE);
  s->tcp = !m->is_udp;
  nua_handle_bind (nh, (nua_hmagic_t *)s);
  m->txn = s->id;
  inv->stats->rx_invites++;
  inv->cb.on_invite (inv->agent, m, inv->user_data);
}

static void
report_end (PrlSipInvites *inv, Session *s, const char *reason)
{
  if (s->ended)
    return;
  s->ended = TRUE;
  if (inv->cb.on_session_end != NULL)
    inv->cb.on_session_end (inv->agent, s->id, reason, inv->user_data);
}

static void
on_invite_response (PrlSipInvites *inv, Session *s, int status, const char *phrase,
                    const sip_t *sip)
{
  if (status < 200 || s->answered)
    return;
  s->answered = TRUE;
  if (s->ended) { /* cancelled or ended by us: no callback; a 2xx that crossed the CANCEL */
    if (status < 300)
      nua_bye (s->nh, TAG_END ());
    return;
  }
  const char *body = NULL;
  gsize len = 0;
  if (status < 300 && sip != NULL && sip->sip_payload != NULL) {
    body = sip->sip_payload->pl_data;
    len = sip->sip_payload->pl_len;
  }
  if (status >= 300)
    s->ended = TRUE;
  if (inv->cb.on_invite_result != NULL)
    inv->cb.on_invite_result (inv->agent, s->id, (guint)status, phrase, body, len,
                              inv->user_data);
}

gboolean
prl_sip_invites_on_event (PrlSipInvites *inv, nua_event_t event, int status, const char *phrase,
                          nua_handle_t *nh, nua_hmagic_t *hmagic, const sip_t *sip,
                          tagi_t tags[])
{
  if (inv == NULL)
    return FALSE;
  if (event == nua_i_invite && hmagic == NULL) {
    on_incoming (inv, nh, sip);
    return TRUE;
  }
  switch (event) { /* events of INVITE dialogs only: other handles never see these */
  case nua_r_invite:
  case nua_i_bye:
  case nua_r_bye:
  case nua_i_cancel:
  case nua_r_cancel:
  case nua_i_state:
  case nua_i_ack:
  case nua_i_active:
  case nua_i_terminated:
  case nua_i_prack:
  case nua_i_update:
  case nua_r_update:
  case nua_i_invite: /* a re-INVITE on a session */
    break;
  default:
    return FALSE;
  }
  Session *s = (Session *)hmagic;
  if (s == NULL || s->magic != SESSION_MAGIC)
    return FALSE;
  switch (event) {
  case nua_r_invite:
    on_invite_response (inv, s, status, phrase, sip);
    break;
  case nua_i_bye:
    report_end (inv, s, "BYE");
    break;
  case nua_i_cancel:
    report_end (inv, s, "CANCEL");
    break;
  case nua_i_state: {
    int state = nua_callstate_init;
    tl_gets (tags, NUTAG_CALLSTATE_REF (state), TAG_END ());
    if (state == nua_callstate_terminated) {
      report_end (inv, s, "terminated");
      s->nh = NULL; /* destroyed here, not again in session_free */
      nua_handle_bind (nh, NULL);
      nua_handle_destroy (nh);
      session_remove (inv, s);
    }
    break;
  }
  default:
    g_debug ("session %" G_GUINT64_FORMAT ": %s %d %s", s->id, nua_event_name (event), status,
             phrase != NULL ? phrase : "");
    break;
  }
  return TRUE;
}
