/* gateway/tests/test-core.c - unit tests of gateway/core.c through its public API.
 *
 * What the vectors do not show well: configuration defaults and copying, the bounds
 * (max_pending, max_queued) with their status counters, teardown with work in flight (run
 * under valgrind), and a random event storm that must never break the core's invariants.
 * Rules: mapping-docs/page-mode.md §6, §8, §12.
 */
#include "gateway/core.h"

#include <string.h>

static PrlCoreConfig
make_config (void)
{
  PrlCoreConfig c;
  prl_core_config_init (&c);
  prl_core_config_add_domain (&c, "sip.example.net", PRL_ADDR_DIRECT, NULL);
  g_free (c.id_prefix);
  c.id_prefix = g_strdup ("t");
  return c;
}

static char *
feed (PrlCore *core, const PrlEvent *ev)
{
  g_autoptr (GPtrArray) out = prl_action_array_new ();
  prl_core_handle (core, ev, out);
  return prl_actions_to_text (out);
}

static void
link_up (PrlCore *core)
{
  PrlEvent ev = { .kind = PRL_EVENT_XMPP_LINK, .link_up = TRUE };
  g_autofree char *out = feed (core, &ev);
  g_assert_cmpstr (out, ==, "");
}

static char *
sip_in (PrlCore *core, guint64 txn, const char *body)
{
  g_autoptr (PrlSipMessage) m = prl_sip_message_new ();
  m->txn = txn;
  m->request_uri = g_strdup ("sip:bob@xmpp.example.com");
  m->from = g_strdup ("sip:alice@sip.example.net");
  m->to = g_strdup ("sip:bob@xmpp.example.com");
  m->call_id = g_strdup_printf ("c%" G_GUINT64_FORMAT, txn);
  m->content_type = g_strdup ("text/plain");
  prl_sip_message_set_body (m, body, strlen (body));
  PrlEvent ev = { .kind = PRL_EVENT_SIP_MESSAGE, .sip = m };
  return feed (core, &ev);
}

static char *
xmpp_in (PrlCore *core, const char *id, const char *body)
{
  g_autoptr (PrlXmppMessage) m = prl_xmpp_message_new ();
  m->from = g_strdup ("bob@xmpp.example.com/laptop");
  m->to = g_strdup ("alice@sip.example.net");
  m->id = g_strdup (id);
  m->body = g_strdup (body);
  PrlEvent ev = { .kind = PRL_EVENT_XMPP_MESSAGE, .xmpp = m };
  return feed (core, &ev);
}

static void
test_defaults (void)
{
  g_auto (PrlCoreConfig) c;
  prl_core_config_init (&c);
  g_assert_cmpstr (c.id_prefix, ==, "prl");
  g_assert_cmpuint (c.max_message_bytes, ==, 131072);
  g_assert_cmpuint (c.udp_request_limit, ==, 1300);
  g_assert_cmpuint (c.sip_header_reserve, ==, 400);
  g_assert_true (c.outbound_udp);
  g_assert_false (c.chunk_over_tcp);
  g_assert_cmpstr (c.part_marker, ==, "[%u/%u] ");
  g_assert_cmpuint (c.bounce_window_ms, ==, 200);
  g_assert_cmpuint (c.retry_after_s, ==, 5);
  g_assert_cmpuint (c.max_pending, ==, 10000);
  g_assert_cmpuint (c.max_queued, ==, 10000);
  g_assert_cmpuint (c.sip_window, ==, 1);
  g_assert_nonnull (c.domains);
  g_assert_cmpuint (c.domains->len, ==, 0);
  prl_core_config_clear (&c);
  prl_core_config_clear (&c); /* safe twice */
}

static void
test_config_copied (void)
{
  PrlCoreConfig c = make_config ();
  g_autoptr (PrlCore) core = prl_core_new (&c);
  prl_core_config_clear (&c); /* the core must not depend on the caller's copy */
  link_up (core);
  g_autofree char *out = sip_in (core, 1, "hi");
  g_assert_true (g_str_has_prefix (out, "xmpp.send from=\"alice@sip.example.net\""));
}

static void
test_max_pending (void)
{
  g_auto (PrlCoreConfig) c = make_config ();
  c.max_pending = 2;
  g_autoptr (PrlCore) core = prl_core_new (&c);
  link_up (core);
  g_free (sip_in (core, 1, "a"));
  g_free (sip_in (core, 2, "b"));
  g_assert_cmpuint (prl_core_pending (core), ==, 2);
  g_autofree char *out = sip_in (core, 3, "c");
  g_assert_cmpstr (out, ==,
                   "sip.respond txn=3 status=503 reason=\"Too many pending messages\" "
                   "retry-after=5\ncount sip_in_rejected_busy\n");
  PrlEvent timer = { .kind = PRL_EVENT_TIMER, .timer_id = 1 };
  g_autofree char *fired = feed (core, &timer);
  g_assert_cmpstr (fired, ==,
                   "sip.respond txn=1 status=202 reason=\"Accepted\"\n"
                   "count sip_in_relayed\n");
  g_autofree char *again = feed (core, &timer); /* a stale timer does nothing */
  g_assert_cmpstr (again, ==, "");
  g_assert_cmpuint (prl_core_pending (core), ==, 1);

  PrlEvent down = { .kind = PRL_EVENT_XMPP_LINK, .link_up = FALSE };
  g_autofree char *lost = feed (core, &down);
  g_assert_cmpstr (lost, ==,
                   "sip.respond txn=2 status=503 reason=\"XMPP link down\" "
                   "retry-after=5\ncount sip_in_link_lost\n");
  g_assert_cmpuint (prl_core_pending (core), ==, 0);
}

static void
test_max_queued (void)
{
  g_auto (PrlCoreConfig) c = make_config ();
  c.max_queued = 1;
  g_autoptr (PrlCore) core = prl_core_new (&c);
  g_autofree char *a = xmpp_in (core, "m1", "one");
  g_assert_true (g_str_has_prefix (a, "sip.send request=1 part=1/1"));
  g_autofree char *b = xmpp_in (core, "m2", "two");
  g_assert_cmpstr (b, ==, "count xmpp_in_queued\n");
  g_assert_cmpuint (prl_core_queued (core), ==, 1);
  g_autofree char *d = xmpp_in (core, "m3", "three");
  g_assert_cmpstr (d, ==,
                   "xmpp.send from=\"alice@sip.example.net\" "
                   "to=\"bob@xmpp.example.com/laptop\" id=\"m3\" type=error "
                   "error=wait/resource-constraint error-text=\"Too many queued "
                   "messages\"\ncount xmpp_in_rejected_queue_full\n");
  PrlEvent ok = { .kind = PRL_EVENT_SIP_RESPONSE, .response = { .request = 1, .status = 200 } };
  g_autofree char *e = feed (core, &ok);
  g_assert_true (g_str_has_prefix (e, "count xmpp_in_relayed\nsip.send request=2 part=1/1"));
  g_assert_cmpuint (prl_core_queued (core), ==, 0);
}

/* Teardown with pending, in-flight and queued work must free everything (valgrind). */
static void
test_free_busy (void)
{
  g_auto (PrlCoreConfig) c = make_config ();
  PrlCore *core = prl_core_new (&c);
  link_up (core);
  g_free (sip_in (core, 1, "pending"));
  g_autofree char *big = g_strnfill (5000, 'x');
  g_free (xmpp_in (core, "m1", big));
  g_free (xmpp_in (core, "m2", "queued"));
  prl_core_free (core);
}

/* Random events: the core never crashes and its counts stay within their bounds. */
static void
test_storm (void)
{
  g_auto (PrlCoreConfig) c = make_config ();
  c.max_pending = 5;
  c.max_queued = 5;
  c.udp_request_limit = 700;
  g_autoptr (PrlCore) core = prl_core_new (&c);
  for (int i = 0; i < 3000; i++) {
    g_autoptr (GPtrArray) out = prl_action_array_new ();
    PrlEvent ev = { .now_us = i };
    g_autoptr (PrlSipMessage) sm = NULL;
    g_autoptr (PrlXmppMessage) xm = NULL;
    switch (g_test_rand_int_range (0, 6)) {
    case 0:
      sm = prl_sip_message_new ();
      sm->txn = (guint64)i;
      sm->request_uri = g_strdup (g_test_rand_bit () ? "sip:bob@xmpp.example.com" : "sips:x@y");
      sm->from = g_strdup ("sip:alice@sip.example.net");
      prl_sip_message_set_body (sm, "hello", (gsize)g_test_rand_int_range (0, 6));
      ev.kind = PRL_EVENT_SIP_MESSAGE;
      ev.sip = sm;
      break;
    case 1:
      xm = prl_xmpp_message_new ();
      xm->from = g_strdup ("bob@xmpp.example.com/r");
      xm->to = g_strdup (g_test_rand_bit () ? "alice@sip.example.net" : "carol@sip.example.net");
      xm->id = g_strdup_printf ("t-%d", g_test_rand_int_range (1, 20));
      xm->type = g_test_rand_bit () ? g_strdup ("error") : NULL;
      xm->error_condition = g_strdup ("item-not-found");
      xm->body = g_strnfill ((gsize)g_test_rand_int_range (0, 2000), 'z');
      ev.kind = PRL_EVENT_XMPP_MESSAGE;
      ev.xmpp = xm;
      break;
    case 2:
      ev.kind = PRL_EVENT_SIP_RESPONSE;
      ev.response.request = (guint64)g_test_rand_int_range (0, 40);
      ev.response.status = (guint)g_test_rand_int_range (100, 700);
      break;
    case 3:
      ev.kind = PRL_EVENT_XMPP_LINK;
      ev.link_up = g_test_rand_int_range (0, 10) > 0;
      break;
    case 4:
      ev.kind = PRL_EVENT_TIMER;
      ev.timer_id = (guint64)g_test_rand_int_range (0, 40);
      break;
    default:
      ev.kind = PRL_EVENT_TICK;
      break;
    }
    prl_core_handle (core, &ev, out);
    g_assert_cmpuint (prl_core_pending (core), <=, 5);
    g_assert_cmpuint (prl_core_queued (core), <=, 5);
    for (guint j = 0; j < out->len; j++) {
      const PrlAction *a = g_ptr_array_index (out, j);
      if (a->kind == PRL_ACTION_SIP_SEND)
        g_assert_cmpuint (a->sip->size_estimate, <=, 700);
    }
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/core/defaults", test_defaults);
  g_test_add_func ("/core/config-copied", test_config_copied);
  g_test_add_func ("/core/max-pending", test_max_pending);
  g_test_add_func ("/core/max-queued", test_max_queued);
  g_test_add_func ("/core/free-busy", test_free_busy);
  g_test_add_func ("/core/storm", test_storm);
  return g_test_run ();
}
