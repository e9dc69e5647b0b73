/* sip/msrp-relay.c - RFC 4976 client: AUTH to one relay, Use-Path, re-AUTH, reconnect.
 *
 * With config->relay set the stack keeps one connection to the relay. When it is up we send
 * AUTH (To-Path: the relay URI, From-Path: a URI of ours); a 200 gives Use-Path (prepended to
 * our a=path and to the To-Path of what we send) and Expires (we AUTH again at 3/4 of it).
 * Any other answer, a timeout or a lost connection marks the relay down (on_relay FALSE, the
 * sessions on the connection end) and we reconnect after 1, 2, 4 ... 30 s. Digest challenges
 * (401) are not answered: they count as a refusal.
 */
#include "sip/msrp-internal.h"

#include <stdlib.h>
#include <string.h>

#define BACKOFF_MAX_S 30

static void connect_relay (PrlMsrpStack *stack);

static gboolean
on_reconnect (gpointer data)
{
  PrlMsrpStack *stack = data;
  stack->relay_timer = 0;
  connect_relay (stack);
  return G_SOURCE_REMOVE;
}

static void
set_timer (PrlMsrpStack *stack, guint ms, GSourceFunc fn)
{
  if (stack->relay_timer != 0)
    g_source_remove (stack->relay_timer);
  stack->relay_timer = g_timeout_add (ms, fn, stack);
}

static void
connect_relay (PrlMsrpStack *stack)
{
  g_autoptr (PrlMsrpUri) u = prl_msrp_uri_parse (stack->config.relay, NULL);
  g_assert (u != NULL); /* checked by prl_msrp_stack_new */
  stack->relay_state = RELAY_CONNECTING;
  stack->relay_conn = prl_msrp_conn_open (stack, u->host, u->port, TRUE);
}

static gboolean
on_auth_timeout (gpointer data)
{
  PrlMsrpStack *stack = data;
  stack->relay_timer = 0;
  if (stack->relay_conn != NULL)
    prl_msrp_conn_fail (stack->relay_conn, "relay did not answer AUTH");
  return G_SOURCE_REMOVE;
}

static void
send_auth (PrlMsrpStack *stack)
{
  g_free (stack->auth_tid);
  stack->auth_tid = prl_msrp_random_ident (PRL_MSRP_TID_LEN);
  g_autoptr (PrlMsrpFrame) f = prl_msrp_frame_new_request (stack->auth_tid, "AUTH");
  prl_msrp_frame_add_header (f, "To-Path", stack->config.relay);
  prl_msrp_frame_add_header (f, "From-Path", stack->relay_base_uri);
  prl_msrp_conn_write_frame (stack->relay_conn, f);
  stack->stats.tx_frames++;
  set_timer (stack, stack->config.transaction_timeout_ms, on_auth_timeout);
}

static gboolean
on_reauth (gpointer data)
{
  PrlMsrpStack *stack = data;
  stack->relay_timer = 0;
  if (stack->relay_conn != NULL)
    send_auth (stack);
  return G_SOURCE_REMOVE;
}

void
prl_msrp_relay_start (PrlMsrpStack *stack)
{
  g_autofree char *id = prl_msrp_random_ident (PRL_MSRP_SESSION_ID_LEN);
  gboolean v6 = strchr (stack->host, ':') != NULL;
  stack->relay_base_uri = g_strdup_printf ("msrp://%s%s%s:%u/%s;tcp", v6 ? "[" : "",
                                           stack->host, v6 ? "]" : "", stack->port, id);
  stack->relay_backoff_s = 1;
  connect_relay (stack);
}

void
prl_msrp_relay_stop (PrlMsrpStack *stack)
{
  if (stack->relay_timer != 0)
    g_source_remove (stack->relay_timer);
  stack->relay_timer = 0;
  stack->relay_conn = NULL; /* freed with the other connections */
  g_clear_pointer (&stack->relay_base_uri, g_free);
  g_clear_pointer (&stack->use_path, g_free);
  g_clear_pointer (&stack->auth_tid, g_free);
}

void
prl_msrp_relay_conn_up (PrlMsrpStack *stack)
{
  stack->relay_state = RELAY_AUTHING;
  send_auth (stack);
}

void
prl_msrp_relay_conn_lost (PrlMsrpStack *stack)
{
  gboolean was_ready = stack->relay_state == RELAY_READY;
  stack->relay_conn = NULL;
  stack->relay_state = RELAY_DOWN;
  g_clear_pointer (&stack->auth_tid, g_free);
  g_message ("MSRP relay %s down; reconnecting in %u s", stack->config.relay,
             stack->relay_backoff_s);
  if (was_ready)
    prl_msrp_notice_relay (stack, FALSE);
  set_timer (stack, stack->relay_backoff_s * 1000, on_reconnect);
  stack->relay_backoff_s = MIN (stack->relay_backoff_s * 2, BACKOFF_MAX_S);
}

gboolean
prl_msrp_relay_on_response (PrlMsrpStack *stack, PrlMsrpFrame *frame)
{
  if (stack->auth_tid == NULL || strcmp (frame->tid, stack->auth_tid) != 0)
    return FALSE;
  g_clear_pointer (&stack->auth_tid, g_free);
  const char *use_path = prl_msrp_frame_get (frame, "Use-Path");
  g_auto (GStrv) uris = use_path != NULL ? prl_msrp_path_split (use_path, NULL) : NULL;
  if (frame->status != 200 || uris == NULL) {
    g_warning ("MSRP relay %s refused AUTH (%u)", stack->config.relay, frame->status);
    if (stack->relay_state != RELAY_READY) /* else conn_lost reports it */
      prl_msrp_notice_relay (stack, FALSE);
    prl_msrp_conn_fail (stack->relay_conn, "relay refused AUTH");
    return TRUE;
  }
  const char *exp = prl_msrp_frame_get (frame, "Expires");
  guint64 expires = exp != NULL ? g_ascii_strtoull (exp, NULL, 10) : 0;
  if (expires == 0 || expires > 86400 * 7)
    expires = 1800;
  g_free (stack->use_path);
  stack->use_path = g_strjoinv (" ", uris);
  stack->relay_backoff_s = 1;
  stack->stats.relay_auths++;
  if (stack->relay_state != RELAY_READY) {
    stack->relay_state = RELAY_READY;
    g_message ("MSRP relay %s: authorised, Use-Path %s", stack->config.relay, stack->use_path);
    prl_msrp_notice_relay (stack, TRUE);
  }
  set_timer (stack, (guint)MAX (expires * 750, 1000), on_reauth);
  return TRUE;
}
