/* xmpp/disco.c - answers to the <iq/> stanzas the component receives.
 *
 * Pure: takes the received iq, returns the reply stanza to send (or NULL), and knows
 * nothing about the connection. The component serves XEP-0030 service discovery (STANDARDS.md
 * §6.6: identity gateway/simple, at least the disco#info feature, an empty item list rather
 * than an error) and answers every other request with <service-unavailable/> (RFC 6120 §8.4:
 * an iq get/set must be answered). Results and errors are never answered.
 */
#include "xmpp/link-internal.h"

#include <string.h>

#include "xmpp/codec.h"

static const char *const features[] = {
  PRL_XMPP_NS_DISCO_INFO, PRL_XMPP_NS_DISCO_ITEMS,
  "jid\\20escaping", /* XEP-0106: users appear as escaped JIDs in escaped mode */
};

static xmpp_stanza_t *
new_element (xmpp_ctx_t *ctx, const char *name)
{
  xmpp_stanza_t *el = xmpp_stanza_new (ctx);
  xmpp_stanza_set_name (el, name);
  return el;
}

/* <iq type='result'> addressed back to the sender, with an empty <query xmlns=@ns/> that
 * the caller may fill; *query is borrowed from the returned stanza. */
static xmpp_stanza_t *
new_result (xmpp_stanza_t *iq, const char *ns, xmpp_stanza_t **query)
{
  xmpp_ctx_t *ctx = xmpp_stanza_get_context (iq);
  xmpp_stanza_t *reply = new_element (ctx, "iq");
  xmpp_stanza_set_type (reply, "result");
  xmpp_stanza_set_from (reply, xmpp_stanza_get_to (iq));
  xmpp_stanza_set_to (reply, xmpp_stanza_get_from (iq));
  if (xmpp_stanza_get_id (iq) != NULL)
    xmpp_stanza_set_id (reply, xmpp_stanza_get_id (iq));
  *query = new_element (ctx, "query");
  xmpp_stanza_set_ns (*query, ns);
  xmpp_stanza_add_child_ex (reply, *query, 0);
  return reply;
}

static xmpp_stanza_t *
disco_info (xmpp_stanza_t *iq, const char *disco_name)
{
  xmpp_ctx_t *ctx = xmpp_stanza_get_context (iq);
  xmpp_stanza_t *query;
  xmpp_stanza_t *reply = new_result (iq, PRL_XMPP_NS_DISCO_INFO, &query);

  xmpp_stanza_t *identity = new_element (ctx, "identity");
  xmpp_stanza_set_attribute (identity, "category", "gateway");
  xmpp_stanza_set_attribute (identity, "type", "simple"); /* "Gateway to SIMPLE"; no "sip" type */
  g_autofree char *name = prl_xmpp_codec_xml_safe (disco_name);
  xmpp_stanza_set_attribute (identity, "name", name);
  xmpp_stanza_add_child_ex (query, identity, 0);

  for (guint i = 0; i < G_N_ELEMENTS (features); i++) {
    xmpp_stanza_t *feature = new_element (ctx, "feature");
    xmpp_stanza_set_attribute (feature, "var", features[i]);
    xmpp_stanza_add_child_ex (query, feature, 0);
  }
  return reply;
}

static gboolean
addressed_to_component (xmpp_stanza_t *iq, const char *component)
{
  g_autofree char *domain = prl_xmpp_codec_jid_domain (xmpp_stanza_get_to (iq));
  return domain != NULL && g_ascii_strcasecmp (domain, component) == 0;
}

xmpp_stanza_t *
prl_xmpp_disco_answer_iq (xmpp_stanza_t *iq, const char *component, const char *disco_name,
                          gboolean *is_error)
{
  g_return_val_if_fail (iq != NULL, NULL);
  g_return_val_if_fail (component != NULL, NULL);
  g_return_val_if_fail (is_error != NULL, NULL);

  *is_error = FALSE;
  const char *type = xmpp_stanza_get_type (iq);
  const char *from = xmpp_stanza_get_from (iq);
  const char *to = xmpp_stanza_get_to (iq);
  if (g_strcmp0 (type, "result") == 0 || g_strcmp0 (type, "error") == 0)
    return NULL; /* we send no requests, so nothing waits for these */
  if (from == NULL || to == NULL || *from == '\0' || *to == '\0')
    return NULL; /* XEP-0114: a reply needs both addresses */

  *is_error = TRUE;
  if (g_strcmp0 (type, "get") != 0 && g_strcmp0 (type, "set") != 0)
    return prl_xmpp_codec_error_reply (iq, "modify", "bad-request", NULL);

  /* RFC 6120 §8.2.3: a get/set has exactly one child element */
  xmpp_stanza_t *query = NULL;
  for (xmpp_stanza_t *c = xmpp_stanza_get_children (iq); c; c = xmpp_stanza_get_next (c))
    if (xmpp_stanza_is_tag (c)) {
      query = c;
      break;
    }
  const char *ns = query ? xmpp_stanza_get_ns (query) : NULL;
  gboolean is_query = query != NULL && g_strcmp0 (xmpp_stanza_get_name (query), "query") == 0;
  gboolean is_info = is_query && g_strcmp0 (ns, PRL_XMPP_NS_DISCO_INFO) == 0;
  gboolean is_items = is_query && g_strcmp0 (ns, PRL_XMPP_NS_DISCO_ITEMS) == 0;

  if (strcmp (type, "get") != 0 || !(is_info || is_items)
      || !addressed_to_component (iq, component))
    return prl_xmpp_codec_error_reply (iq, "cancel", "service-unavailable", NULL);
  if (xmpp_stanza_get_attribute (query, "node") != NULL)
    return prl_xmpp_codec_error_reply (iq, "cancel", "item-not-found", NULL);

  *is_error = FALSE;
  if (is_info)
    return disco_info (iq, disco_name ? disco_name : PRL_XMPP_DEFAULT_DISCO_NAME);
  xmpp_stanza_t *items;
  return new_result (iq, PRL_XMPP_NS_DISCO_ITEMS, &items); /* no items: empty, never an error */
}
