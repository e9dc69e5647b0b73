/* xmpp/tests/test-link.c - unit tests for the pure parts of the component link.
 *
 * No network: the reconnect backoff schedule (xmpp/link.c), the iq answers built by
 * xmpp/disco.c from stanzas parsed on a connection-less context, and the link API of a link
 * that is never started (offline sends are refused and counted). The live behaviour against
 * a real server is the integration suite's job.
 */
#include <string.h>

#include "xmpp/codec.h"
#include "xmpp/link-internal.h"

#define COMPONENT "sip.example.net"

static xmpp_ctx_t *ctx;

static void
test_backoff (void)
{
  g_assert_cmpuint (prl_xmpp_backoff_delay (500, 30000, 0), ==, 500);
  g_assert_cmpuint (prl_xmpp_backoff_delay (500, 30000, 1), ==, 1000);
  g_assert_cmpuint (prl_xmpp_backoff_delay (500, 30000, 2), ==, 2000);
  g_assert_cmpuint (prl_xmpp_backoff_delay (500, 30000, 5), ==, 16000);
  g_assert_cmpuint (prl_xmpp_backoff_delay (500, 30000, 6), ==, 30000);
  g_assert_cmpuint (prl_xmpp_backoff_delay (500, 30000, 7), ==, 30000);
  g_assert_cmpuint (prl_xmpp_backoff_delay (500, 30000, 1000), ==, 30000);
  g_assert_cmpuint (prl_xmpp_backoff_delay (500, 30000, G_MAXUINT), ==, 30000);
  /* monotonic, never above the cap */
  guint prev = 0;
  for (guint i = 0; i < 64; i++) {
    guint d = prl_xmpp_backoff_delay (300, 10000, i);
    g_assert_cmpuint (d, >=, prev);
    g_assert_cmpuint (d, <=, 10000);
    prev = d;
  }
  /* degenerate configurations */
  g_assert_cmpuint (prl_xmpp_backoff_delay (0, 0, 0), ==, 1);
  g_assert_cmpuint (prl_xmpp_backoff_delay (0, 8, 3), ==, 8);
  g_assert_cmpuint (prl_xmpp_backoff_delay (1000, 10, 5), ==, 1000);
  g_assert_cmpuint (prl_xmpp_backoff_delay (G_MAXUINT, G_MAXUINT, 40), ==, G_MAXUINT);
  g_assert_cmpuint (prl_xmpp_backoff_delay (G_MAXUINT / 2 + 1, G_MAXUINT, 1), ==, G_MAXUINT);
}

static xmpp_stanza_t *
answer (const char *xml, gboolean *is_error)
{
  xmpp_stanza_t *iq = xmpp_stanza_new_from_string (ctx, xml);
  g_assert_nonnull (iq);
  xmpp_stanza_t *reply = prl_xmpp_disco_answer_iq (iq, COMPONENT, "Test gateway", is_error);
  xmpp_stanza_release (iq);
  return reply;
}

static void
assert_error (xmpp_stanza_t *reply, const char *type, const char *condition)
{
  g_assert_nonnull (reply);
  g_assert_cmpstr (xmpp_stanza_get_name (reply), ==, "iq");
  g_assert_cmpstr (xmpp_stanza_get_type (reply), ==, "error");
  xmpp_stanza_t *error = xmpp_stanza_get_child_by_name (reply, "error");
  g_assert_nonnull (error);
  g_assert_cmpstr (xmpp_stanza_get_type (error), ==, type);
  g_assert_nonnull (xmpp_stanza_get_child_by_name_and_ns (error, condition, PRL_XMPP_NS_STANZAS));
}

static void
check_info_result (xmpp_stanza_t *reply, const char *to_us)
{
  g_assert_nonnull (reply);
  g_assert_cmpstr (xmpp_stanza_get_type (reply), ==, "result");
  g_assert_cmpstr (xmpp_stanza_get_from (reply), ==, to_us);
  g_assert_cmpstr (xmpp_stanza_get_to (reply), ==, "bob@xmpp.example.com/laptop");
  g_assert_cmpstr (xmpp_stanza_get_id (reply), ==, "d1");
  xmpp_stanza_t *query
      = xmpp_stanza_get_child_by_name_and_ns (reply, "query", PRL_XMPP_NS_DISCO_INFO);
  g_assert_nonnull (query);
  xmpp_stanza_t *identity = xmpp_stanza_get_child_by_name (query, "identity");
  g_assert_nonnull (identity);
  g_assert_cmpstr (xmpp_stanza_get_attribute (identity, "category"), ==, "gateway");
  g_assert_cmpstr (xmpp_stanza_get_attribute (identity, "type"), ==, "simple");
  g_assert_cmpstr (xmpp_stanza_get_attribute (identity, "name"), ==, "Test gateway");

  const char *want[] = { PRL_XMPP_NS_DISCO_INFO, PRL_XMPP_NS_DISCO_ITEMS, "jid\\20escaping" };
  guint found = 0, features = 0;
  for (xmpp_stanza_t *c = xmpp_stanza_get_children (query); c; c = xmpp_stanza_get_next (c)) {
    if (g_strcmp0 (xmpp_stanza_get_name (c), "feature") != 0)
      continue;
    features++;
    for (guint i = 0; i < G_N_ELEMENTS (want); i++)
      if (g_strcmp0 (xmpp_stanza_get_attribute (c, "var"), want[i]) == 0)
        found++;
  }
  g_assert_cmpuint (features, ==, G_N_ELEMENTS (want));
  g_assert_cmpuint (found, ==, G_N_ELEMENTS (want));
}

static void
test_disco_info (void)
{
  gboolean is_error = TRUE;
  xmpp_stanza_t *r
      = answer ("<iq type='get' from='bob@xmpp.example.com/laptop' to='" COMPONENT
                "' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
                &is_error);
  g_assert_false (is_error);
  check_info_result (r, COMPONENT);
  xmpp_stanza_release (r);

  /* a user JID at the component, and a differently cased domain */
  r = answer ("<iq type='get' from='bob@xmpp.example.com/laptop' to='alice@SIP.Example.NET/x' "
              "id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
              &is_error);
  g_assert_false (is_error);
  check_info_result (r, "alice@SIP.Example.NET/x");
  xmpp_stanza_release (r);
}

static void
test_disco_info_rendered (void)
{
  gboolean is_error;
  xmpp_stanza_t *r
      = answer ("<iq type='get' from='bob@xmpp.example.com/laptop' to='" COMPONENT
                "' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
                &is_error);
  char *buf = NULL;
  size_t len = 0;
  g_assert_cmpint (xmpp_stanza_to_text (r, &buf, &len), ==, XMPP_EOK);
  /* the escaped feature survives as written in XEP-0106 */
  g_assert_nonnull (strstr (buf, "var=\"jid\\20escaping\""));
  xmpp_free (ctx, buf);
  xmpp_stanza_release (r);
}

static void
test_disco_items (void)
{
  gboolean is_error = TRUE;
  xmpp_stanza_t *r
      = answer ("<iq type='get' from='bob@xmpp.example.com/laptop' to='" COMPONENT
                "' id='i1'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>",
                &is_error);
  g_assert_false (is_error);
  g_assert_nonnull (r);
  g_assert_cmpstr (xmpp_stanza_get_type (r), ==, "result");
  g_assert_cmpstr (xmpp_stanza_get_id (r), ==, "i1");
  g_assert_cmpstr (xmpp_stanza_get_from (r), ==, COMPONENT);
  xmpp_stanza_t *query = xmpp_stanza_get_child_by_name_and_ns (r, "query", PRL_XMPP_NS_DISCO_ITEMS);
  g_assert_nonnull (query);
  g_assert_null (xmpp_stanza_get_children (query)); /* empty, never an error */
  xmpp_stanza_release (r);
}

static void
test_disco_node (void)
{
  gboolean is_error = FALSE;
  xmpp_stanza_t *r
      = answer ("<iq type='get' from='b@x' to='" COMPONENT "' id='n1'>"
                "<query xmlns='http://jabber.org/protocol/disco#info' node='foo'/></iq>",
                &is_error);
  g_assert_true (is_error);
  assert_error (r, "cancel", "item-not-found");
  g_assert_cmpstr (xmpp_stanza_get_id (r), ==, "n1");
  xmpp_stanza_release (r);
}

static void
test_iq_unsupported (void)
{
  const char *requests[] = {
    "<iq type='get' from='b@x/r' to='" COMPONENT
    "' id='v1'><query xmlns='jabber:iq:version'/></iq>",
    "<iq type='set' from='b@x/r' to='" COMPONENT
    "' id='v1'><query xmlns='jabber:iq:register'/></iq>",
    "<iq type='get' from='b@x/r' to='" COMPONENT "' id='v1'><ping xmlns='urn:xmpp:ping'/></iq>",
    ("<iq type='set' from='b@x/r' to='" COMPONENT "' id='v1'>"
     "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>"),
    "<iq type='get' from='b@x/r' to='" COMPONENT "' id='v1'/>",
    ("<iq type='get' from='b@x/r' to='other.example' id='v1'>"
     "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>"),
  };
  for (guint i = 0; i < G_N_ELEMENTS (requests); i++) {
    gboolean is_error = FALSE;
    xmpp_stanza_t *r = answer (requests[i], &is_error);
    g_assert_true (is_error);
    assert_error (r, "cancel", "service-unavailable");
    g_assert_cmpstr (xmpp_stanza_get_to (r), ==, "b@x/r");
    g_assert_cmpstr (xmpp_stanza_get_id (r), ==, "v1");
    xmpp_stanza_release (r);
  }
  gboolean is_error = FALSE;
  xmpp_stanza_t *r = answer (
      "<iq from='b@x' to='" COMPONENT "' id='t'><ping xmlns='urn:xmpp:ping'/></iq>", &is_error);
  assert_error (r, "modify", "bad-request");
  xmpp_stanza_release (r);
}

static void
test_iq_ignored (void)
{
  const char *ignored[] = {
    "<iq type='result' from='b@x' to='" COMPONENT "' id='r1'/>",
    ("<iq type='error' from='b@x' to='" COMPONENT "' id='r1'><error type='cancel'>"
     "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"),
    "<iq type='get' to='" COMPONENT "' id='r1'><query xmlns='jabber:iq:version'/></iq>",
    "<iq type='get' from='b@x' id='r1'><query xmlns='jabber:iq:version'/></iq>",
  };
  for (guint i = 0; i < G_N_ELEMENTS (ignored); i++) {
    gboolean is_error = TRUE;
    g_assert_null (answer (ignored[i], &is_error));
    g_assert_false (is_error);
  }
}

static guint state_calls;

static void
on_state (PrlXmppLink *link, gboolean online, gpointer user_data)
{
  state_calls++;
}

static void
test_link_offline (void)
{
  g_auto (PrlXmppLinkConfig) config;
  prl_xmpp_link_config_init (&config);
  g_assert_cmpuint (config.port, ==, 5347);
  g_assert_cmpuint (config.reconnect_min_ms, ==, 500);
  g_assert_cmpuint (config.reconnect_max_ms, ==, 30000);
  config.host = g_strdup ("127.0.0.1");
  config.component = g_strdup (COMPONENT);
  config.secret = g_strdup ("s3cret");
  PrlXmppLinkCallbacks callbacks = { .on_state = on_state };

  g_autoptr (PrlXmppLink) link = prl_xmpp_link_new (&config, &callbacks, NULL);
  g_assert_false (prl_xmpp_link_is_online (link));
  g_autoptr (PrlXmppMessage) msg = prl_xmpp_message_new ();
  msg->from = g_strdup ("alice@" COMPONENT);
  msg->to = g_strdup ("bob@xmpp.example.com");
  msg->body = g_strdup ("hi");
  g_assert_false (prl_xmpp_link_send (link, msg));
  g_assert_false (prl_xmpp_link_send (link, msg));
  const PrlXmppLinkStats *stats = prl_xmpp_link_stats (link);
  g_assert_cmpuint (stats->tx_dropped_offline, ==, 2);
  g_assert_cmpuint (stats->tx_messages, ==, 0);
  g_assert_cmpuint (stats->connects, ==, 0);
  prl_xmpp_link_stop (link); /* not started: nothing happens */
  g_assert_cmpuint (state_calls, ==, 0);
  g_autofree char *text = prl_xmpp_link_describe (link);
  g_assert_nonnull (strstr (text, "state=stopped"));
  g_assert_null (strstr (text, "s3cret"));

  prl_xmpp_link_config_clear (&config);
  prl_xmpp_link_config_clear (&config); /* twice is fine */
  g_assert_null (config.secret);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  xmpp_initialize ();
  ctx = xmpp_ctx_new (NULL, NULL);

  g_test_add_func ("/xmpp/link/backoff", test_backoff);
  g_test_add_func ("/xmpp/link/disco/info", test_disco_info);
  g_test_add_func ("/xmpp/link/disco/info-rendered", test_disco_info_rendered);
  g_test_add_func ("/xmpp/link/disco/items", test_disco_items);
  g_test_add_func ("/xmpp/link/disco/node", test_disco_node);
  g_test_add_func ("/xmpp/link/iq/unsupported", test_iq_unsupported);
  g_test_add_func ("/xmpp/link/iq/ignored", test_iq_ignored);
  g_test_add_func ("/xmpp/link/offline", test_link_offline);

  int rc = g_test_run ();
  xmpp_ctx_free (ctx);
  return rc;
}
