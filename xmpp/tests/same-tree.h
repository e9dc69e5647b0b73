/* xmpp/tests/same-tree.h - a check shared by the codec's unit tests and its fuzz target:
 * two parsed stanzas are the same tree (the tree writer and the text writer must agree). */
#pragma once

#include <glib.h>
#include <strophe.h>

/* Two parsed stanzas are the same tree: names, attributes (in any order) and text. */
static G_GNUC_UNUSED void
assert_same_tree (xmpp_stanza_t *a, xmpp_stanza_t *b)
{
  g_assert_cmpint (xmpp_stanza_is_text (a), ==, xmpp_stanza_is_text (b));
  if (xmpp_stanza_is_text (a)) {
    g_assert_cmpstr (xmpp_stanza_get_text_ptr (a), ==, xmpp_stanza_get_text_ptr (b));
    return;
  }
  g_assert_cmpstr (xmpp_stanza_get_name (a), ==, xmpp_stanza_get_name (b));
  int n = xmpp_stanza_get_attribute_count (a);
  g_assert_cmpint (n, ==, xmpp_stanza_get_attribute_count (b));
  const char **attrs = g_new0 (const char *, 2 * n + 2);
  xmpp_stanza_get_attributes (a, attrs, 2 * n);
  for (int i = 0; i < 2 * n; i += 2)
    g_assert_cmpstr (attrs[i + 1], ==, xmpp_stanza_get_attribute (b, attrs[i]));
  g_free (attrs);
  xmpp_stanza_t *ca = xmpp_stanza_get_children (a), *cb = xmpp_stanza_get_children (b);
  for (; ca != NULL && cb != NULL; ca = xmpp_stanza_get_next (ca), cb = xmpp_stanza_get_next (cb))
    assert_same_tree (ca, cb);
  g_assert_true (ca == NULL && cb == NULL);
}
