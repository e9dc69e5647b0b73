/* sip/tests/test-agent.c - loopback tests of PrlSipAgent (sip/agent.c) in one process.
 *
 * Two (or three) agents on free 127.0.0.1 ports (port 0) talk to each other on the default
 * GMainContext: a MESSAGE with every field, a 3-part chunked sequence, a 486, a value refused
 * before the wire, a MESSAGE over TCP through an outbound proxy, and a UDP retransmission
 * arriving after the transaction was dropped (dedupe), and an OPTIONS ping. Every case
 * runs under a 10 s timeout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/core.h"
#include "sip/sip.h"

typedef struct {
  GMainLoop *loop;
  guint timeout_id;
  PrlSipAgent *a, *b;  /* a sends, b receives */
  GPtrArray *received; /* PrlSipMessage* copies seen by b */
  GArray *statuses;    /* guint, on_response statuses seen by a */
  GPtrArray *reasons;  /* char* */
  guint answer;        /* status b answers with */
  gboolean is_in_send; /* set around prl_sip_agent_send: no re-entrant callbacks */
  guint want_responses;
  guint next_part, parts; /* chunked sending */
  guint64 chunk_txn;
  guint shutdowns;
  GPtrArray *registers; /* "aor contact expires" seen by b */
} Fixture;

static gboolean
on_timeout (gpointer data)
{
  g_error ("test timed out after 10 s");
  return G_SOURCE_REMOVE;
}

static void
on_b_message (PrlSipAgent *agent, const PrlSipMessage *msg, gpointer data)
{
  Fixture *f = data;
  g_assert_true (agent == f->b);
  g_assert_cmpuint (msg->txn, !=, 0);
  g_ptr_array_add (f->received, prl_sip_message_dup (msg));
  PrlSipRespond r = {
    .txn = msg->txn,
    .status = f->answer,
    .reason = (char *)(f->answer == 202 ? "Accepted" : "Busy Here\r\nX-Injected: 1"),
  };
  prl_sip_agent_respond (agent, &r);
  /* a second answer to the same txn is ignored */
  prl_sip_agent_respond (agent, &r);
}

static PrlSipMessage *
make_message (Fixture *f, guint64 txn, const char *body)
{
  PrlSipMessage *m = prl_sip_message_new ();
  m->txn = txn;
  m->request_uri = g_strdup_printf ("sip:bob@127.0.0.1:%u", prl_sip_agent_port (f->b));
  m->to = g_strdup_printf ("sip:bob@127.0.0.1:%u", prl_sip_agent_port (f->b));
  m->from = g_strdup ("sip:alice@xmpp.example.com;gr=laptop");
  prl_sip_message_set_body (m, body, strlen (body));
  m->part = 1;
  m->parts = 1;
  return m;
}

static void
send_guarded (Fixture *f, PrlSipAgent *agent, const PrlSipMessage *m)
{
  f->is_in_send = TRUE;
  prl_sip_agent_send (agent, m);
  f->is_in_send = FALSE;
}

static void
send_chunk (Fixture *f)
{
  g_autofree char *body = g_strdup_printf ("part %u of %u", f->next_part, f->parts);
  g_autoptr (PrlSipMessage) m = make_message (f, f->chunk_txn, body);
  m->part = f->next_part;
  m->parts = f->parts;
  m->call_id = g_strdup ("chunked-call-1");
  send_guarded (f, f->a, m);
}

static void
on_a_response (PrlSipAgent *agent, guint64 request, guint status, const char *reason,
               const char *contact, gpointer data)
{
  Fixture *f = data;
  g_assert_false (f->is_in_send);
  g_array_append_val (f->statuses, status);
  g_ptr_array_add (f->reasons, g_strdup (reason));
  if (request == f->chunk_txn && f->parts > 0 && status < 300 && f->next_part < f->parts) {
    f->next_part++;
    send_chunk (f);
    return;
  }
  if (f->statuses->len >= f->want_responses)
    g_main_loop_quit (f->loop);
}

static void
on_b_register (PrlSipAgent *agent, const char *aor, const char *contact, guint expires,
               gpointer data)
{
  Fixture *f = data;
  if (f->registers == NULL)
    f->registers = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (f->registers,
                   g_strdup_printf ("%s %s %u", aor, contact ? contact : "-", expires));
}

static PrlSipAgent *
new_agent (Fixture *f, const char *proxy, guint retention_ms)
{
  g_auto (PrlSipAgentConfig) c;
  prl_sip_agent_config_init (&c);
  c.port = 0;
  c.udp_retention_ms = retention_ms;
  if (proxy != NULL)
    c.outbound_proxy = g_strdup (proxy);
  PrlSipAgentCallbacks cb
      = { .on_message = on_b_message, .on_response = on_a_response, .on_register = on_b_register };
  g_autoptr (GError) error = NULL;
  PrlSipAgent *agent = prl_sip_agent_new (&c, &cb, f, &error);
  g_assert_no_error (error);
  g_assert_nonnull (agent);
  g_assert_cmpuint (prl_sip_agent_port (agent), >, 0);
  return agent;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  memset (f, 0, sizeof *f);
  f->loop = g_main_loop_new (NULL, FALSE);
  f->timeout_id = g_timeout_add_seconds (10, on_timeout, NULL);
  f->received = g_ptr_array_new_with_free_func ((GDestroyNotify)prl_sip_message_free);
  f->statuses = g_array_new (FALSE, FALSE, sizeof (guint));
  f->reasons = g_ptr_array_new_with_free_func (g_free);
  f->answer = 202;
  f->a = new_agent (f, NULL, 2000);
  f->b = new_agent (f, NULL, 2000);
  g_assert_cmpuint (prl_sip_agent_port (f->a), !=, prl_sip_agent_port (f->b));
}

static void
on_shutdown_done (gpointer data)
{
  Fixture *f = data;
  if (++f->shutdowns == 2)
    g_main_loop_quit (f->loop);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  prl_sip_agent_shutdown (f->a, on_shutdown_done, f);
  prl_sip_agent_shutdown (f->b, on_shutdown_done, f);
  g_main_loop_run (f->loop);
  g_assert_cmpuint (f->shutdowns, ==, 2);
  g_clear_pointer (&f->a, prl_sip_agent_free);
  g_clear_pointer (&f->b, prl_sip_agent_free);
  g_clear_handle_id (&f->timeout_id, g_source_remove);
  g_ptr_array_unref (f->received);
  g_array_unref (f->statuses);
  g_ptr_array_unref (f->reasons);
  g_clear_pointer (&f->registers, g_ptr_array_unref);
  g_main_loop_unref (f->loop);
}

static void
test_all_fields (Fixture *f, gconstpointer data)
{
  const char *body = "Meet at noon? \xc3\xa9\xe6\x97\xa5";
  g_autoptr (PrlSipMessage) m = make_message (f, 42, body);
  m->call_id = g_strdup ("a1b2c3d4@xmpp.example.com");
  m->subject = g_strdup ("Lunch \xe2\x98\x95");
  m->content_type = g_strdup ("text/plain;charset=UTF-8");
  m->content_language = g_strdup ("en");
  m->date = g_strdup ("Sat, 13 Nov 2010 23:29:00 GMT");
  f->want_responses = 1;
  send_guarded (f, f->a, m);
  g_main_loop_run (f->loop);

  g_assert_cmpuint (f->statuses->len, ==, 1);
  g_assert_cmpuint (g_array_index (f->statuses, guint, 0), ==, 202);
  g_assert_cmpstr (g_ptr_array_index (f->reasons, 0), ==, "Accepted");
  g_assert_cmpuint (f->received->len, ==, 1);
  PrlSipMessage *r = g_ptr_array_index (f->received, 0);
  g_assert_cmpstr (r->request_uri, ==, m->request_uri);
  g_assert_cmpstr (r->to, ==, m->to);
  g_assert_cmpstr (r->from, ==, "sip:alice@xmpp.example.com;gr=laptop");
  g_assert_cmpstr (r->call_id, ==, "a1b2c3d4@xmpp.example.com");
  g_assert_cmpstr (r->subject, ==, m->subject);
  g_assert_cmpstr (r->content_type, ==, "text/plain;charset=UTF-8");
  g_assert_cmpstr (r->content_language, ==, "en");
  g_assert_cmpstr (r->date, ==, "Sat, 13 Nov 2010 23:29:00 GMT");
  g_assert_cmpmem (r->body, r->body_len, body, strlen (body));
  g_assert_true (r->is_udp);

  const PrlSipAgentStats *sa = prl_sip_agent_stats (f->a), *sb = prl_sip_agent_stats (f->b);
  g_assert_cmpuint (sa->tx_requests, ==, 1);
  g_assert_cmpuint (sa->rx_responses, ==, 1);
  g_assert_cmpuint (sa->pending_requests, ==, 0);
  g_assert_cmpuint (sb->rx_requests, ==, 1);
  g_assert_cmpuint (sb->tx_responses, ==, 1);
  g_assert_cmpuint (sb->pending_txns, ==, 0);
  g_autoptr (GVariant) v = prl_sip_agent_describe (f->b);
  guint64 rx = 0;
  g_assert_true (g_variant_lookup (v, "rx_requests", "t", &rx));
  g_assert_cmpuint (rx, ==, 1);
}

static void
test_default_content_type (Fixture *f, gconstpointer data)
{
  g_autoptr (PrlSipMessage) m = make_message (f, 7, "with NUL");
  m->body[4] = '\0';
  f->want_responses = 1;
  send_guarded (f, f->a, m);
  g_main_loop_run (f->loop);
  PrlSipMessage *r = g_ptr_array_index (f->received, 0);
  g_assert_cmpstr (r->content_type, ==, "text/plain;charset=UTF-8");
  g_assert_nonnull (r->call_id);
  g_assert_cmpmem (r->body, r->body_len, "with\0NUL", 8);
}

static void
test_chunked (Fixture *f, gconstpointer data)
{
  f->chunk_txn = 99;
  f->parts = 3;
  f->next_part = 1;
  f->want_responses = 3;
  send_chunk (f);
  g_main_loop_run (f->loop);

  g_assert_cmpuint (f->statuses->len, ==, 3);
  g_assert_cmpuint (f->received->len, ==, 3);
  PrlSipMessage *first = g_ptr_array_index (f->received, 0);
  for (guint i = 0; i < 3; i++) {
    PrlSipMessage *r = g_ptr_array_index (f->received, i);
    g_autofree char *body = g_strdup_printf ("part %u of 3", i + 1);
    g_assert_cmpuint (g_array_index (f->statuses, guint, i), ==, 202);
    g_assert_cmpstr (r->body, ==, body);
    g_assert_cmpstr (r->call_id, ==, "chunked-call-1");
    g_assert_cmpuint (r->cseq, ==, first->cseq + i);
  }
  /* distinct CSeqs: none of the parts was taken for a retransmission */
  g_assert_cmpuint (prl_sip_agent_stats (f->b)->rx_duplicates, ==, 0);
  g_assert_cmpuint (prl_sip_agent_stats (f->a)->pending_requests, ==, 0);
}

static void
test_busy (Fixture *f, gconstpointer data)
{
  f->answer = 486;
  g_autoptr (PrlSipMessage) m = make_message (f, 5, "are you there?");
  f->want_responses = 1;
  send_guarded (f, f->a, m);
  g_main_loop_run (f->loop);
  g_assert_cmpuint (g_array_index (f->statuses, guint, 0), ==, 486);
  /* CR/LF in the reason the core gave were flattened before the wire */
  g_assert_cmpstr (g_ptr_array_index (f->reasons, 0), ==, "Busy Here X-Injected: 1");
  g_assert_cmpuint (prl_sip_agent_stats (f->a)->pending_requests, ==, 0);
}

/* Polls with timeout 0 on the default context: GLib passes 0 when a source said "ready". */
static guint zero_polls;

static gint
counting_poll (GPollFD *fds, guint nfds, gint timeout)
{
  if (timeout == 0)
    zero_polls++;
  return g_poll (fds, nfds, timeout);
}

static gboolean
on_quiet_over (gpointer data)
{
  g_main_loop_quit (((Fixture *)data)->loop);
  return G_SOURCE_REMOVE;
}

/* sofia's own GSource said "ready" for the last millisecond before each of its timers, so
 * the loop spun (poll timeout 0, nothing due) until every answered transaction had gone:
 * agent.c's prepare turns that into a 1 ms poll. Forty MESSAGEs leave forty transactions on
 * each side, expiring after 100 ms (Timer J / K): count the zero-timeout polls meanwhile. */
static void
test_no_spin (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->a, prl_sip_agent_free);
  g_clear_pointer (&f->b, prl_sip_agent_free);
  f->a = new_agent (f, NULL, 100);
  f->b = new_agent (f, NULL, 100);
  f->want_responses = 40;
  for (guint i = 0; i < f->want_responses; i++) {
    g_autoptr (PrlSipMessage) m = make_message (f, 100 + i, "tick");
    send_guarded (f, f->a, m);
  }
  g_main_loop_run (f->loop);
  g_assert_cmpuint (f->statuses->len, ==, 40);
  zero_polls = 0;
  g_main_context_set_poll_func (NULL, counting_poll);
  g_timeout_add (400, on_quiet_over, f);
  g_main_loop_run (f->loop);
  g_main_context_set_poll_func (NULL, g_poll);
  g_test_message ("%u polls with timeout 0 in 400 ms", zero_polls);
  g_assert_cmpuint (zero_polls, <, 100);
}

static void
test_refused (Fixture *f, gconstpointer data)
{
  g_autoptr (PrlSipMessage) m = make_message (f, 13, "x");
  m->subject = g_strdup ("hi\r\nX-Injected: yes");
  f->want_responses = 2;
  send_guarded (f, f->a, m);
  g_free (m->subject);
  m->subject = NULL;
  g_free (m->from);
  m->from = g_strdup ("Alice <sip:alice@example.net>");
  send_guarded (f, f->a, m);
  g_main_loop_run (f->loop);
  for (guint i = 0; i < 2; i++) {
    g_assert_cmpuint (g_array_index (f->statuses, guint, i), ==, 500);
    g_assert_cmpstr (g_ptr_array_index (f->reasons, i), ==, "invalid header value");
  }
  g_assert_cmpuint (f->received->len, ==, 0);
  g_assert_cmpuint (prl_sip_agent_stats (f->a)->tx_refused, ==, 2);
  g_assert_cmpuint (prl_sip_agent_stats (f->a)->tx_requests, ==, 0);
}

static void
test_outbound_proxy_tcp (Fixture *f, gconstpointer data)
{
  g_autofree char *proxy
      = g_strdup_printf ("sip:127.0.0.1:%u;transport=tcp", prl_sip_agent_port (f->b));
  g_autoptr (PrlSipAgent) c = new_agent (f, proxy, 2000);
  g_autoptr (PrlSipMessage) m = make_message (f, 77, "via the proxy");
  g_free (m->request_uri);
  m->request_uri = g_strdup ("sip:carol@example.invalid");
  g_free (m->to);
  m->to = NULL;
  f->want_responses = 1;
  send_guarded (f, c, m);
  g_main_loop_run (f->loop);
  g_assert_cmpuint (g_array_index (f->statuses, guint, 0), ==, 202);
  PrlSipMessage *r = g_ptr_array_index (f->received, 0);
  g_assert_false (r->is_udp);
  g_assert_cmpstr (r->request_uri, ==, "sip:carol@example.invalid");
  g_assert_cmpstr (r->to, ==, "sip:carol@example.invalid");
}

/* ---- dedupe: a raw UDP peer retransmits after the server transaction is gone */

typedef struct {
  Fixture *f;
  int fd;
  struct sockaddr_in to;
  char *request;
  guint sent, timer, want_lines;
  GPtrArray *lines; /* status lines received */
} RawPeer;

static gboolean
on_raw_readable (int fd, GIOCondition cond, gpointer data)
{
  RawPeer *p = data;
  char buf[4096];
  ssize_t n = recv (fd, buf, sizeof buf - 1, 0);
  if (n <= 0)
    return G_SOURCE_CONTINUE;
  buf[n] = '\0';
  char *eol = strstr (buf, "\r\n");
  if (eol != NULL)
    *eol = '\0';
  g_ptr_array_add (p->lines, g_strdup (buf));
  if (p->lines->len == p->want_lines)
    g_main_loop_quit (p->f->loop);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_raw_send (gpointer data)
{
  RawPeer *p = data;
  ssize_t n
      = sendto (p->fd, p->request, strlen (p->request), 0, (struct sockaddr *)&p->to, sizeof p->to);
  g_assert_cmpint (n, ==, (ssize_t)strlen (p->request));
  if (++p->sent < 3)
    return G_SOURCE_CONTINUE;
  p->timer = 0;
  return G_SOURCE_REMOVE;
}

static void
test_dedupe (Fixture *f, gconstpointer data)
{
  /* b keeps answered UDP transactions only 100 ms, so retransmissions 400 ms apart reach
   * the agent as new requests and must be caught by the dedupe cache. */
  g_clear_pointer (&f->b, prl_sip_agent_free);
  f->b = new_agent (f, NULL, 100);
  f->answer = 486;

  RawPeer p = { .f = f, .lines = g_ptr_array_new_with_free_func (g_free), .want_lines = 3 };
  p.fd = socket (AF_INET, SOCK_DGRAM, 0);
  g_assert_cmpint (p.fd, >=, 0);
  struct sockaddr_in local = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  g_assert_cmpint (bind (p.fd, (struct sockaddr *)&local, sizeof local), ==, 0);
  socklen_t len = sizeof local;
  g_assert_cmpint (getsockname (p.fd, (struct sockaddr *)&local, &len), ==, 0);
  p.to = (struct sockaddr_in){ .sin_family = AF_INET,
                               .sin_port = htons (prl_sip_agent_port (f->b)),
                               .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  p.request = g_strdup_printf ("MESSAGE sip:bob@127.0.0.1:%u SIP/2.0\r\n"
                               "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bK-dedupe-1\r\n"
                               "Max-Forwards: 70\r\n"
                               "From: <sip:alice@127.0.0.1>;tag=t1\r\n"
                               "To: <sip:bob@127.0.0.1>\r\n"
                               "Call-ID: dedupe-1@127.0.0.1\r\n"
                               "CSeq: 7 MESSAGE\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Length: 2\r\n\r\nhi",
                               prl_sip_agent_port (f->b), ntohs (local.sin_port));
  guint watch = g_unix_fd_add (p.fd, G_IO_IN, on_raw_readable, &p);
  on_raw_send (&p);
  p.timer = g_timeout_add (400, on_raw_send, &p);
  g_main_loop_run (f->loop);
  g_source_remove (watch);
  g_clear_handle_id (&p.timer, g_source_remove);

  g_assert_cmpuint (p.lines->len, ==, 3);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpstr (g_ptr_array_index (p.lines, i), ==, "SIP/2.0 486 Busy Here X-Injected: 1");
  g_assert_cmpuint (f->received->len, ==, 1);
  const PrlSipAgentStats *s = prl_sip_agent_stats (f->b);
  g_assert_cmpuint (s->rx_requests, ==, 1);
  g_assert_cmpuint (s->rx_duplicates, ==, 2);
  g_assert_cmpuint (s->dedupe_entries, ==, 1);
  close (p.fd);
  g_free (p.request);
  g_ptr_array_unref (p.lines);
}

/* Sends one request from a raw UDP socket to agent b and returns the status line of the
 * first answer (transfer full). @build gets the local port for the Via. */
static char *
raw_exchange (Fixture *f, char *(*build) (guint local_port, gconstpointer data), gconstpointer data)
{
  RawPeer p
      = { .f = f, .lines = g_ptr_array_new_with_free_func (g_free), .want_lines = 1, .sent = 2 };
  p.fd = socket (AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in local = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  g_assert_cmpint (bind (p.fd, (struct sockaddr *)&local, sizeof local), ==, 0);
  socklen_t len = sizeof local;
  g_assert_cmpint (getsockname (p.fd, (struct sockaddr *)&local, &len), ==, 0);
  p.to = (struct sockaddr_in){ .sin_family = AF_INET,
                               .sin_port = htons (prl_sip_agent_port (f->b)),
                               .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  p.request = build (ntohs (local.sin_port), data);
  guint watch = g_unix_fd_add (p.fd, G_IO_IN, on_raw_readable, &p);
  on_raw_send (&p);
  g_main_loop_run (f->loop);
  g_source_remove (watch);
  char *first = g_strdup (g_ptr_array_index (p.lines, 0));
  close (p.fd);
  g_free (p.request);
  g_ptr_array_unref (p.lines);
  return first;
}

static char *
build_options (guint local_port, gconstpointer data)
{
  return g_strdup_printf ("OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
                          "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bK-options-1\r\n"
                          "Max-Forwards: 70\r\nFrom: <sip:proxy@127.0.0.1>;tag=p1\r\n"
                          "To: <sip:127.0.0.1>\r\n"
                          "Call-ID: ping-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                          local_port);
}

static void
test_options (Fixture *f, gconstpointer data)
{
  g_autofree char *status = raw_exchange (f, build_options, NULL);
  g_assert_cmpstr (status, ==, "SIP/2.0 200 OK");
  g_assert_cmpuint (prl_sip_agent_stats (f->b)->rx_other, ==, 1);
  g_assert_cmpuint (f->received->len, ==, 0);
}

/* A REGISTER replicated by the proxy: answered 200, reported with its AoR, Contact and
 * expiry; an unregistration (Expires: 0) is reported with expires 0. */
typedef struct {
  const char *call_id, *contact_and_expires;
} RawRegister;

static char *
build_register (guint local_port, gconstpointer data)
{
  const RawRegister *r = data;
  return g_strdup_printf ("REGISTER sip:sip.example.net SIP/2.0\r\n"
                          "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bK-%s\r\n"
                          "Max-Forwards: 70\r\nFrom: <sip:alice@sip.example.net>;tag=r1\r\n"
                          "To: <sip:alice@sip.example.net>\r\nCall-ID: %s\r\n"
                          "CSeq: 1 REGISTER\r\n%sContent-Length: 0\r\n\r\n",
                          local_port, r->call_id, r->call_id, r->contact_and_expires);
}

static void
send_raw_register (Fixture *f, const char *call_id, const char *contact_and_expires)
{
  RawRegister r = { call_id, contact_and_expires };
  g_autofree char *status = raw_exchange (f, build_register, &r);
  g_assert_cmpstr (status, ==, "SIP/2.0 200 OK");
}

static void
test_register (Fixture *f, gconstpointer data)
{
  send_raw_register (f, "reg-1", "Contact: <sip:alice@127.0.0.1:5999>\r\nExpires: 600\r\n");
  send_raw_register (f, "reg-2", "Contact: <sip:alice@127.0.0.1:5999>;expires=0\r\n");
  send_raw_register (f, "reg-3", "Contact: *\r\nExpires: 0\r\n");
  g_assert_nonnull (f->registers);
  g_assert_cmpuint (f->registers->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (f->registers, 0), ==,
                   "sip:alice@sip.example.net sip:alice@127.0.0.1:5999 600");
  g_assert_cmpstr (g_ptr_array_index (f->registers, 1), ==,
                   "sip:alice@sip.example.net sip:alice@127.0.0.1:5999 0");
  g_assert_cmpstr (g_ptr_array_index (f->registers, 2), ==, "sip:alice@sip.example.net - 0");
  g_assert_cmpuint (f->received->len, ==, 0);
}

static void
test_bad_config (void)
{
  g_auto (PrlSipAgentConfig) c;
  prl_sip_agent_config_init (&c);
  c.port = 0;
  c.udp = c.tcp = FALSE;
  g_autoptr (GError) error = NULL;
  g_assert_null (prl_sip_agent_new (&c, NULL, NULL, &error));
  g_assert_error (error, PRL_SIP_ERROR, PRL_SIP_ERROR_INVALID);
  g_clear_error (&error);
  c.udp = TRUE;
  c.outbound_proxy = g_strdup ("sip:proxy\r\nX: y");
  g_assert_null (prl_sip_agent_new (&c, NULL, NULL, &error));
  g_assert_error (error, PRL_SIP_ERROR, PRL_SIP_ERROR_INVALID);
}

static void
test_port_in_use (void)
{
  g_auto (PrlSipAgentConfig) c;
  prl_sip_agent_config_init (&c);
  c.port = 0;
  g_autoptr (GError) error = NULL;
  g_autoptr (PrlSipAgent) first = prl_sip_agent_new (&c, NULL, NULL, &error);
  g_assert_no_error (error);
  c.port = prl_sip_agent_port (first);
  g_autoptr (PrlSipAgent) second = prl_sip_agent_new (&c, NULL, NULL, &error);
  g_assert_null (second);
  g_assert_error (error, PRL_SIP_ERROR, PRL_SIP_ERROR_BIND);
}

/* ---- the core and the agent together: a chunked message as the daemon runs it */

typedef struct {
  GMainLoop *loop;
  PrlCore *core;
  PrlSipAgent *a, *b;
  GPtrArray *received; /* PrlSipMessage* seen by b */
  gboolean is_done;
} CoreRun;

static void core_run_dispatch (CoreRun *r, const PrlEvent *ev);

static void
on_core_b_message (PrlSipAgent *agent, const PrlSipMessage *msg, gpointer data)
{
  CoreRun *r = data;
  g_ptr_array_add (r->received, prl_sip_message_dup (msg));
  PrlSipRespond resp = { .txn = msg->txn, .status = 202, .reason = (char *)"Accepted" };
  prl_sip_agent_respond (agent, &resp);
}

static void
on_core_a_response (PrlSipAgent *agent, guint64 request, guint status, const char *reason,
                    const char *contact, gpointer data)
{
  PrlEvent ev = { .kind = PRL_EVENT_SIP_RESPONSE };
  ev.response.request = request;
  ev.response.status = status;
  ev.response.reason = (char *)reason;
  core_run_dispatch (data, &ev);
}

static void
core_run_dispatch (CoreRun *r, const PrlEvent *ev)
{
  g_autoptr (GPtrArray) out = prl_action_array_new ();
  prl_core_handle (r->core, ev, out);
  for (guint i = 0; i < out->len; i++) {
    PrlAction *a = g_ptr_array_index (out, i);
    if (a->kind == PRL_ACTION_SIP_SEND)
      prl_sip_agent_send (r->a, a->sip);
    else if (a->kind == PRL_ACTION_XMPP_SEND)
      g_error ("unexpected XMPP error stanza");
    else if (a->kind == PRL_ACTION_COUNT && strcmp (a->counter, "xmpp_in_chunked") == 0) {
      r->is_done = TRUE;
      g_main_loop_quit (r->loop);
    }
  }
}

/* Regression: the core used to give every part a new request id, so the agent kept the nua
 * handle of every part but the last one forever (pending_requests grew by parts - 1 per
 * chunked message). All parts now share one id, hence one handle, freed after the last. */
static void
test_core_chunked (void)
{
  CoreRun r = { .loop = g_main_loop_new (NULL, FALSE) };
  r.received = g_ptr_array_new_with_free_func ((GDestroyNotify)prl_sip_message_free);
  guint timeout = g_timeout_add_seconds (10, on_timeout, NULL);

  PrlSipAgentCallbacks cb = { .on_message = on_core_b_message, .on_response = on_core_a_response };
  g_auto (PrlSipAgentConfig) bc;
  prl_sip_agent_config_init (&bc);
  bc.port = 0;
  g_autoptr (GError) error = NULL;
  r.b = prl_sip_agent_new (&bc, &cb, &r, &error);
  g_assert_no_error (error);
  g_auto (PrlSipAgentConfig) ac;
  prl_sip_agent_config_init (&ac);
  ac.port = 0;
  ac.outbound_proxy = g_strdup_printf ("sip:127.0.0.1:%u;transport=udp", prl_sip_agent_port (r.b));
  r.a = prl_sip_agent_new (&ac, &cb, &r, &error);
  g_assert_no_error (error);

  g_auto (PrlCoreConfig) config;
  prl_core_config_init (&config);
  prl_core_config_add_domain (&config, "sip.example.net", PRL_ADDR_DIRECT, NULL);
  r.core = prl_core_new (&config);

  g_autoptr (PrlXmppMessage) x = prl_xmpp_message_new ();
  x->from = g_strdup ("bob@xmpp.example.com/laptop");
  x->to = g_strdup ("alice@sip.example.net");
  x->id = g_strdup ("m1");
  x->thread = g_strdup ("chunk-thread");
  x->body = g_strnfill (1500, 'x');
  PrlEvent ev = { .kind = PRL_EVENT_XMPP_MESSAGE, .xmpp = x };
  core_run_dispatch (&r, &ev);
  g_main_loop_run (r.loop);

  g_assert_true (r.is_done);
  g_assert_cmpuint (r.received->len, ==, 3);
  PrlSipMessage *first = g_ptr_array_index (r.received, 0);
  for (guint i = 0; i < r.received->len; i++) {
    PrlSipMessage *m = g_ptr_array_index (r.received, i);
    g_assert_cmpstr (m->call_id, ==, "chunk-thread");
    g_assert_cmpuint (m->cseq, ==, first->cseq + i); /* one handle: consecutive CSeqs */
  }
  /* every handle of the sequence is gone */
  g_assert_cmpuint (prl_sip_agent_stats (r.a)->pending_requests, ==, 0);
  g_assert_cmpuint (prl_core_queued (r.core), ==, 0);

  g_clear_pointer (&r.a, prl_sip_agent_free);
  g_clear_pointer (&r.b, prl_sip_agent_free);
  g_clear_pointer (&r.core, prl_core_free);
  g_source_remove (timeout);
  g_ptr_array_unref (r.received);
  g_main_loop_unref (r.loop);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/sip/agent/all-fields", test_all_fields);
  ADD ("/sip/agent/default-content-type", test_default_content_type);
  ADD ("/sip/agent/chunked", test_chunked);
  ADD ("/sip/agent/busy", test_busy);
  ADD ("/sip/agent/refused", test_refused);
  ADD ("/sip/agent/outbound-proxy-tcp", test_outbound_proxy_tcp);
  ADD ("/sip/agent/dedupe", test_dedupe);
  ADD ("/sip/agent/options", test_options);
  ADD ("/sip/agent/register", test_register);
  ADD ("/sip/agent/no-spin", test_no_spin);
#undef ADD
  g_test_add_func ("/sip/agent/bad-config", test_bad_config);
  g_test_add_func ("/sip/agent/port-in-use", test_port_in_use);
  g_test_add_func ("/sip/agent/core-chunked", test_core_chunked);
  return g_test_run ();
}
