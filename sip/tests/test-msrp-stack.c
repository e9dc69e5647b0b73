/* sip/tests/test-msrp-stack.c - two PrlMsrpStacks in one process, over loopback TCP.
 *
 * A is active, B passive (as after an SDP exchange where A offered). Covers: messages of
 * 1 byte, 2 KiB, 100 KiB (chunked) and non-ASCII text with success REPORTs; interleaving
 * of a short message behind a long one; 413, 415 (also for a CPIM-wrapped type) and 481
 * answers; a transaction timeout (408) against a peer that never answers; connection loss
 * (on_closed, 503); the bodiless first SEND; and 100 concurrent sessions.
 */
#include <string.h>

#include <gio/gio.h>

#include "sip/msrp.h"

typedef struct {
  guint64 session;
  char *message_id;
  guint status;
  gboolean report;
  GBytes *body;
  char *content_type;
} Event;

typedef struct {
  GPtrArray *messages; /* Event* */
  GPtrArray *reports;
  GPtrArray *closed;
  guint connected;
  gboolean auto_report; /* answer Success-Report: yes at once */
} Peer;

static void
event_free (gpointer p)
{
  Event *e = p;
  g_free (e->message_id);
  g_free (e->content_type);
  if (e->body != NULL)
    g_bytes_unref (e->body);
  g_free (e);
}

static void
peer_init (Peer *p)
{
  memset (p, 0, sizeof *p);
  p->messages = g_ptr_array_new_with_free_func (event_free);
  p->reports = g_ptr_array_new_with_free_func (event_free);
  p->closed = g_ptr_array_new_with_free_func (event_free);
}

static void
peer_clear (Peer *p)
{
  g_ptr_array_unref (p->messages);
  g_ptr_array_unref (p->reports);
  g_ptr_array_unref (p->closed);
}

static void
on_connected (PrlMsrpStack *stack, guint64 session, gpointer data)
{
  ((Peer *)data)->connected++;
}

static void
on_message (PrlMsrpStack *stack, guint64 session, const PrlMsrpMessage *msg, gpointer data)
{
  Peer *p = data;
  g_assert_cmpint (msg->body[msg->len], ==, 0);
  Event *e = g_new0 (Event, 1);
  e->session = session;
  e->message_id = g_strdup (msg->message_id);
  e->body = g_bytes_new (msg->body, msg->len);
  e->content_type = g_strdup (msg->content_type);
  e->report = msg->success_report;
  g_ptr_array_add (p->messages, e);
  if (p->auto_report && msg->success_report)
    g_assert_true (prl_msrp_session_report (stack, session, msg->message_id, msg->len, 200));
}

static void
on_report (PrlMsrpStack *stack, guint64 session, const char *message_id, guint status,
           gboolean report, gpointer data)
{
  Event *e = g_new0 (Event, 1);
  e->session = session;
  e->message_id = g_strdup (message_id);
  e->status = status;
  e->report = report;
  g_ptr_array_add (((Peer *)data)->reports, e);
}

static void
on_closed (PrlMsrpStack *stack, guint64 session, const char *reason, gpointer data)
{
  Event *e = g_new0 (Event, 1);
  e->session = session;
  e->content_type = g_strdup (reason);
  g_ptr_array_add (((Peer *)data)->closed, e);
}

static const PrlMsrpCallbacks callbacks = {
  .on_connected = on_connected,
  .on_message = on_message,
  .on_report = on_report,
  .on_closed = on_closed,
};

static PrlMsrpStack *
stack_new_full (Peer *peer, gsize max_message, const char *accept, const char *wrapped,
                guint txn_timeout_ms)
{
  g_auto (PrlMsrpConfig) c;
  prl_msrp_config_init (&c);
  if (max_message != 0)
    c.max_message_size = max_message;
  if (accept != NULL)
    c.accept_types = g_strsplit (accept, " ", -1);
  if (wrapped != NULL)
    c.accept_wrapped_types = g_strsplit (wrapped, " ", -1);
  if (txn_timeout_ms != 0)
    c.transaction_timeout_ms = txn_timeout_ms;
  g_autoptr (GError) error = NULL;
  PrlMsrpStack *s = prl_msrp_stack_new (&c, &callbacks, peer, &error);
  g_assert_no_error (error);
  g_assert_nonnull (s);
  g_assert_cmpuint (prl_msrp_stack_port (s), >, 0);
  g_assert_true (prl_msrp_stack_ready (s));
  return s;
}

static PrlMsrpStack *
stack_new (Peer *peer, gsize max_message, const char *accept, guint txn_timeout_ms)
{
  return stack_new_full (peer, max_message, accept, NULL, txn_timeout_ms);
}

static gboolean
on_deadline (gpointer data)
{
  *(gboolean *)data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the main loop until *@count >= @want (10 s at most). */
static void
wait_for (const guint *count, guint want)
{
  gboolean expired = FALSE;
  guint t = g_timeout_add (10000, on_deadline, &expired);
  while (*count < want && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (t);
  g_assert_cmpuint (*count, >=, want);
}

/* A session pair: a on A (active), b on B (passive). */
static void
pair (PrlMsrpStack *a, PrlMsrpStack *b, guint64 *sa, guint64 *sb)
{
  g_autoptr (GError) error = NULL;
  *sa = prl_msrp_session_new (a, &error);
  *sb = prl_msrp_session_new (b, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (prl_msrp_session_path (a, *sa), "msrp://127.0.0.1:"));
  g_assert_true (prl_msrp_session_start (b, *sb, prl_msrp_session_path (a, *sa), FALSE, &error));
  g_assert_true (prl_msrp_session_start (a, *sa, prl_msrp_session_path (b, *sb), TRUE, &error));
  g_assert_no_error (error);
}

static void
test_exchange (void)
{
  Peer pa, pb;
  peer_init (&pa);
  peer_init (&pb);
  pb.auto_report = TRUE;
  PrlMsrpStack *a = stack_new (&pa, 0, NULL, 0);
  PrlMsrpStack *b = stack_new (&pb, 256 * 1024, "text/plain message/cpim", 0);
  guint64 sa, sb;
  pair (a, b, &sa, &sb);
  wait_for (&pb.connected, 1); /* the bodiless first SEND bound the passive side */
  wait_for (&pa.connected, 1);

  gsize sizes[] = { 1, 2048, 100 * 1024 };
  g_autoptr (GPtrArray) bodies = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++) {
    guint8 *data = g_malloc (sizes[i]);
    for (gsize k = 0; k < sizes[i]; k++)
      data[k] = (guint8)(k * 7 + i);
    g_ptr_array_add (bodies, g_bytes_new_take (data, sizes[i]));
  }
  const char *text = "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80";
  g_ptr_array_add (bodies, g_bytes_new (text, strlen (text)));
  g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < bodies->len; i++) {
    gsize len;
    const void *d = g_bytes_get_data (g_ptr_array_index (bodies, i), &len);
    g_autoptr (GError) error = NULL;
    char *id = prl_msrp_session_send (a, sa, "text/plain;charset=UTF-8", d, len, TRUE, &error);
    g_assert_no_error (error);
    g_ptr_array_add (ids, id);
  }
  wait_for (&pb.messages->len, bodies->len);
  wait_for (&pa.reports->len, 2 * bodies->len);
  for (guint i = 0; i < bodies->len; i++) {
    const char *id = g_ptr_array_index (ids, i);
    gboolean got_msg = FALSE, got_200 = FALSE, got_report = FALSE;
    for (guint k = 0; k < pb.messages->len; k++) {
      Event *e = g_ptr_array_index (pb.messages, k);
      if (strcmp (e->message_id, id) == 0) {
        g_assert_true (g_bytes_equal (e->body, g_ptr_array_index (bodies, i)));
        g_assert_cmpstr (e->content_type, ==, "text/plain;charset=UTF-8");
        g_assert_true (e->report);
        g_assert_cmpuint (e->session, ==, sb);
        got_msg = TRUE;
      }
    }
    for (guint k = 0; k < pa.reports->len; k++) {
      Event *e = g_ptr_array_index (pa.reports, k);
      if (strcmp (e->message_id, id) == 0) {
        g_assert_cmpuint (e->status, ==, 200);
        g_assert_cmpuint (e->session, ==, sa);
        if (e->report)
          got_report = TRUE;
        else
          got_200 = TRUE;
      }
    }
    g_assert_true (got_msg && got_200 && got_report);
  }
  /* and back, B to A, on the same connection */
  g_autofree char *back = prl_msrp_session_send (b, sb, "text/plain", "pong", 4, FALSE, NULL);
  g_assert_nonnull (back);
  wait_for (&pa.messages->len, 1);
  g_assert_false (((Event *)g_ptr_array_index (pa.messages, 0))->report);
  const PrlMsrpStats *st = prl_msrp_stack_stats (b);
  g_assert_cmpuint (st->rx_messages, ==, bodies->len);
  g_assert_cmpuint (st->sessions, ==, 1);
  g_assert_cmpuint (st->connections, ==, 1);
  g_assert_cmpuint (st->rx_malformed, ==, 0);
  g_assert_cmpuint (prl_msrp_stack_stats (a)->tx_messages, ==, bodies->len);

  prl_msrp_session_close (a, sa);
  wait_for (&pb.closed->len, 1); /* A closed the connection: B's session ends */
  g_assert_cmpuint (pa.closed->len, ==, 0);
  prl_msrp_stack_free (a);
  prl_msrp_stack_free (b);
  peer_clear (&pa);
  peer_clear (&pb);
}

/* A long message queued first does not hold back a short one behind it. */
static void
test_interleave (void)
{
  Peer pa, pb;
  peer_init (&pa);
  peer_init (&pb);
  PrlMsrpStack *a = stack_new (&pa, 0, NULL, 0);
  PrlMsrpStack *b = stack_new (&pb, 1024 * 1024, NULL, 0);
  guint64 sa, sb;
  pair (a, b, &sa, &sb);
  gsize big_len = 600 * 1024;
  g_autofree char *big = g_malloc0 (big_len);
  g_autofree char *id_big = prl_msrp_session_send (a, sa, "text/plain", big, big_len, FALSE, NULL);
  g_autofree char *id_small = prl_msrp_session_send (a, sa, "text/plain", "hi", 2, FALSE, NULL);
  wait_for (&pb.messages->len, 2);
  g_assert_cmpstr (((Event *)g_ptr_array_index (pb.messages, 0))->message_id, ==, id_small);
  g_assert_cmpstr (((Event *)g_ptr_array_index (pb.messages, 1))->message_id, ==, id_big);
  wait_for (&pa.reports->len, 2);
  prl_msrp_stack_free (a);
  prl_msrp_stack_free (b);
  peer_clear (&pa);
  peer_clear (&pb);
}

static guint
report_status (Peer *p, const char *id)
{
  for (guint k = 0; k < p->reports->len; k++) {
    Event *e = g_ptr_array_index (p->reports, k);
    if (strcmp (e->message_id, id) == 0 && !e->report)
      return e->status;
  }
  return 0;
}

static void
test_refusals (void)
{
  Peer pa, pb;
  peer_init (&pa);
  peer_init (&pb);
  PrlMsrpStack *a = stack_new (&pa, 0, NULL, 0);
  PrlMsrpStack *b = stack_new (&pb, 4096, "text/plain message/*", 0);
  guint64 sa, sb;
  pair (a, b, &sa, &sb);
  g_autofree char *big = g_malloc0 (10000);
  g_autofree char *id413 = prl_msrp_session_send (a, sa, "text/plain", big, 10000, FALSE, NULL);
  g_autofree char *id415 = prl_msrp_session_send (a, sa, "image/png", "x", 1, FALSE, NULL);
  g_autofree char *idok = prl_msrp_session_send (a, sa, "message/cpim", "y", 1, FALSE, NULL);
  wait_for (&pa.reports->len, 3);
  g_assert_cmpuint (report_status (&pa, id413), ==, 413);
  g_assert_cmpuint (report_status (&pa, id415), ==, 415);
  g_assert_cmpuint (report_status (&pa, idok), ==, 200);
  g_assert_cmpuint (prl_msrp_stack_stats (b)->rx_too_large, >=, 1);
  g_assert_cmpuint (prl_msrp_stack_stats (a)->tx_failed, ==, 2);
  g_assert_cmpuint (pb.messages->len, ==, 1);

  /* 481: a session id B never gave out; A's bodiless first SEND is refused */
  g_autoptr (GError) error = NULL;
  guint64 s2 = prl_msrp_session_new (a, &error);
  g_autofree char *bogus = g_strdup_printf ("msrp://127.0.0.1:%u/nosuchsession;tcp",
                                            prl_msrp_stack_port (b));
  g_assert_true (prl_msrp_session_start (a, s2, bogus, TRUE, &error));
  wait_for (&pa.closed->len, 1);
  g_assert_cmpuint (((Event *)g_ptr_array_index (pa.closed, 0))->session, ==, s2);
  g_assert_cmpuint (prl_msrp_stack_stats (b)->rx_unknown_session, ==, 1);
  g_assert_null (prl_msrp_session_send (a, s2, "text/plain", "z", 1, FALSE, &error));
  g_assert_error (error, PRL_MSRP_ERROR, PRL_MSRP_ERROR_STATE);

  /* bad paths */
  g_clear_error (&error);
  guint64 s3 = prl_msrp_session_new (a, NULL);
  g_assert_false (prl_msrp_session_start (a, s3, "sip:bob@example.com", TRUE, &error));
  g_assert_error (error, PRL_MSRP_ERROR, PRL_MSRP_ERROR_INVALID);

  /* connection loss: B goes away, A's session ends; a queued message is reported 503 */
  prl_msrp_stack_free (b);
  wait_for (&pa.closed->len, 2);
  g_clear_error (&error);
  g_autofree char *late = prl_msrp_session_send (a, sa, "text/plain", "z", 1, FALSE, &error);
  g_assert_null (late);
  prl_msrp_stack_free (a);
  peer_clear (&pa);
  peer_clear (&pb);
}

/* A CPIM body around @type and @body, its CPIM headers padded with a Subject of @pad bytes
 * (so that they need not fit in the first chunk). (transfer full) */
static char *
cpim (const char *type, const char *body, gsize pad)
{
  g_autofree char *subject = g_strnfill (pad, 's');
  return g_strdup_printf ("From: <sip:a@example.com>\r\nTo: <sip:b@example.net>\r\n"
                          "Subject: %s\r\n\r\nContent-Type: %s\r\n\r\n%s",
                          subject, type, body);
}

/* 415 for a CPIM-wrapped type outside accept_wrapped_types: the sender's message fails,
 * nothing reaches on_message. Judged on the first chunk when the entity's headers are in it
 * (the later chunks of a long one go nowhere), else on the complete message. */
static void
test_wrapped_refused (void)
{
  Peer pa, pb;
  peer_init (&pa);
  peer_init (&pb);
  PrlMsrpStack *a = stack_new (&pa, 0, NULL, 0);
  PrlMsrpStack *b = stack_new_full (&pb, 0, "message/cpim text/plain",
                                    "text/plain application/im-iscomposing+xml", 0);
  guint64 sa, sb;
  pair (a, b, &sa, &sb);
  g_autofree char *big = g_strnfill (6000, 'x');
  struct {
    char *body;
    guint want;
  } cases[] = {
    { cpim ("image/png", "\x89PNG", 0), 415 },             /* one chunk */
    { cpim ("text/plain;charset=UTF-8", "hi", 0), 200 },    /* delivered */
    { cpim ("image/png", big, 0), 415 },                    /* first of 3 chunks */
    { cpim ("image/png", "late", 3000), 415 },              /* headers past chunk 1 */
    { cpim ("Text/Plain", "long headers", 3000), 200 },     /* delivered */
    { g_strdup ("no cpim headers at all"), 415 },           /* never a blank line */
    { g_strdup ("From: <sip:a@b>\r\n\r\nContent-ID: <1>\r\n\r\nx"), 415 }, /* no type */
  };
  char *ids[G_N_ELEMENTS (cases)];
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    ids[i] = prl_msrp_session_send (a, sa, "message/cpim", cases[i].body,
                                    strlen (cases[i].body), FALSE, NULL);
  wait_for (&pa.reports->len, G_N_ELEMENTS (cases));
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_test_message ("case %u", i);
    g_assert_cmpuint (report_status (&pa, ids[i]), ==, cases[i].want);
  }
  g_assert_cmpuint (pb.messages->len, ==, 2);
  g_assert_cmpuint (prl_msrp_stack_stats (b)->rx_refused_type, ==, 5);
  g_assert_cmpuint (prl_msrp_stack_stats (b)->rx_messages, ==, 2);
  /* a bare image/png is still refused by accept_types, and text/plain still taken */
  g_autofree char *bare = prl_msrp_session_send (a, sa, "image/png", "x", 1, FALSE, NULL);
  g_autofree char *text = prl_msrp_session_send (a, sa, "text/plain", "x", 1, FALSE, NULL);
  wait_for (&pa.reports->len, G_N_ELEMENTS (cases) + 2);
  g_assert_cmpuint (report_status (&pa, bare), ==, 415);
  g_assert_cmpuint (report_status (&pa, text), ==, 200);
  g_assert_cmpuint (pb.messages->len, ==, 3);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_free (cases[i].body);
    g_free (ids[i]);
  }
  prl_msrp_stack_free (a);
  prl_msrp_stack_free (b);
  peer_clear (&pa);
  peer_clear (&pb);
}

static gboolean
on_silent_incoming (GSocketService *service, GSocketConnection *c, GObject *src, gpointer data)
{
  g_ptr_array_add (data, g_object_ref (c)); /* kept open, never answered */
  return TRUE;
}

static void
test_timeout (void)
{
  Peer pa;
  peer_init (&pa);
  PrlMsrpStack *a = stack_new (&pa, 0, NULL, 300);
  g_autoptr (GPtrArray) held = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GSocketService) silent = g_socket_service_new ();
  guint16 port = g_socket_listener_add_any_inet_port (G_SOCKET_LISTENER (silent), NULL, NULL);
  g_signal_connect (silent, "incoming", G_CALLBACK (on_silent_incoming), held);
  guint64 sa = prl_msrp_session_new (a, NULL);
  g_autofree char *path = g_strdup_printf ("msrp://127.0.0.1:%u/silent;tcp", port);
  g_assert_true (prl_msrp_session_start (a, sa, path, TRUE, NULL));
  g_autofree char *id = prl_msrp_session_send (a, sa, "text/plain", "hello?", 6, FALSE, NULL);
  wait_for (&pa.reports->len, 1);
  g_assert_cmpuint (report_status (&pa, id), ==, 408);
  /* closing with a message still queued reports it 503 */
  g_autofree char *id2 = prl_msrp_session_send (a, sa, "text/plain", "again", 5, FALSE, NULL);
  prl_msrp_session_close (a, sa);
  g_assert_cmpuint (pa.reports->len, ==, 1); /* not from inside the call */
  wait_for (&pa.reports->len, 2);
  g_assert_cmpuint (report_status (&pa, id2), ==, 503);
  g_assert_cmpuint (pa.closed->len, ==, 0);
  g_socket_service_stop (silent);
  prl_msrp_stack_free (a);
  peer_clear (&pa);
}

static void
test_many_sessions (void)
{
  Peer pa, pb;
  peer_init (&pa);
  peer_init (&pb);
  PrlMsrpStack *a = stack_new (&pa, 0, NULL, 0);
  PrlMsrpStack *b = stack_new (&pb, 0, NULL, 0);
  enum { N = 100 };
  guint64 sa[N], sb[N];
  for (guint i = 0; i < N; i++) {
    pair (a, b, &sa[i], &sb[i]);
    g_autofree char *text = g_strdup_printf ("message %u", i);
    g_autofree char *id = prl_msrp_session_send (a, sa[i], "text/plain", text, strlen (text),
                                                 FALSE, NULL);
    g_assert_nonnull (id);
  }
  wait_for (&pb.messages->len, N);
  wait_for (&pa.reports->len, N);
  for (guint k = 0; k < N; k++)
    g_assert_cmpuint (((Event *)g_ptr_array_index (pa.reports, k))->status, ==, 200);
  for (guint k = 0; k < pb.messages->len; k++) {
    Event *e = g_ptr_array_index (pb.messages, k);
    for (guint i = 0; i < N; i++)
      if (sb[i] == e->session) {
        g_autofree char *want = g_strdup_printf ("message %u", i);
        g_assert_cmpmem (g_bytes_get_data (e->body, NULL), g_bytes_get_size (e->body), want,
                         strlen (want));
      }
  }
  g_assert_cmpuint (prl_msrp_stack_stats (b)->sessions, ==, N);
  /* every session of A goes to the same host:port: one connection (RFC 4975 §5.1 reuse) */
  g_assert_cmpuint (prl_msrp_stack_stats (a)->connections, ==, 1);
  prl_msrp_stack_free (a);
  prl_msrp_stack_free (b);
  peer_clear (&pa);
  peer_clear (&pb);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sip/msrp/stack/exchange", test_exchange);
  g_test_add_func ("/sip/msrp/stack/interleave", test_interleave);
  g_test_add_func ("/sip/msrp/stack/refusals", test_refusals);
  g_test_add_func ("/sip/msrp/stack/wrapped-refused", test_wrapped_refused);
  g_test_add_func ("/sip/msrp/stack/timeout", test_timeout);
  g_test_add_func ("/sip/msrp/stack/many-sessions", test_many_sessions);
  return g_test_run ();
}
