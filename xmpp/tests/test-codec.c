/* xmpp/tests/test-codec.c - unit tests for xmpp/codec.c (stanza <-> PrlXmppMessage).
 *
 * No network: stanzas are parsed with xmpp_stanza_new_from_string() on a context that
 * never gets a connection, and what the codec writes is rendered with xmpp_stanza_to_text()
 * and parsed again, exactly as the wire would carry it.
 */
#include <string.h>

#include "xmpp/codec.h"
#include "xmpp/tests/same-tree.h"

static xmpp_ctx_t *ctx;

static xmpp_stanza_t *
parse (const char *xml)
{
  xmpp_stanza_t *stanza = xmpp_stanza_new_from_string (ctx, xml);
  g_assert_nonnull (stanza);
  return stanza;
}

static PrlXmppMessage *
read_ok (const char *xml)
{
  g_autoptr (GError) error = NULL;
  xmpp_stanza_t *stanza = parse (xml);
  PrlXmppMessage *msg = prl_xmpp_codec_read_message (stanza, &error);
  xmpp_stanza_release (stanza);
  g_assert_no_error (error);
  g_assert_nonnull (msg);
  return msg;
}

static void
read_malformed (const char *xml)
{
  g_autoptr (GError) error = NULL;
  xmpp_stanza_t *stanza = parse (xml);
  PrlXmppMessage *msg = prl_xmpp_codec_read_message (stanza, &error);
  xmpp_stanza_release (stanza);
  g_assert_null (msg);
  g_assert_error (error, PRL_XMPP_ERROR, PRL_XMPP_ERROR_MALFORMED);
}

static char *
render (xmpp_stanza_t *stanza)
{
  char *buf = NULL;
  size_t len = 0;
  g_assert_cmpint (xmpp_stanza_to_text (stanza, &buf, &len), ==, XMPP_EOK);
  char *copy = g_strndup (buf, len);
  xmpp_free (ctx, buf);
  return copy;
}

/* prl_xmpp_codec_write_message(), after checking that the text writer (the send path) says
 * the same once both are parsed as the wire would carry them. */
static xmpp_stanza_t *
write_checked (const PrlXmppMessage *in)
{
  xmpp_stanza_t *stanza = prl_xmpp_codec_write_message (ctx, in);
  g_autofree char *rendered = render (stanza);
  gsize len = 0;
  g_autofree char *text = prl_xmpp_codec_write_message_text (in, &len);
  g_assert_cmpuint (len, ==, strlen (text));
  xmpp_stanza_t *a = parse (rendered), *b = parse (text);
  assert_same_tree (a, b);
  xmpp_stanza_release (a);
  xmpp_stanza_release (b);
  return stanza;
}

/* write -> text -> parse -> read, as across a real stream */
static PrlXmppMessage *
round_trip (const PrlXmppMessage *in)
{
  xmpp_stanza_t *stanza = write_checked (in);
  g_autofree char *text = render (stanza);
  xmpp_stanza_release (stanza);
  return read_ok (text);
}

static void
test_read_fields (void)
{
  g_autoptr (PrlXmppMessage) m = read_ok (
      "<message xmlns='jabber:component:accept' from='alice@xmpp.example.com/laptop' "
      "to='bob@sip.example.net' id='k3x9' type='chat' xml:lang='en'>"
      "<subject>Hi</subject><thread>th-1</thread><body>Hello &lt;there&gt; &amp; all</body>"
      "<active xmlns='http://jabber.org/protocol/chatstates'/></message>");
  g_assert_cmpstr (m->from, ==, "alice@xmpp.example.com/laptop");
  g_assert_cmpstr (m->to, ==, "bob@sip.example.net");
  g_assert_cmpstr (m->id, ==, "k3x9");
  g_assert_cmpstr (m->type, ==, "chat");
  g_assert_cmpstr (m->lang, ==, "en");
  g_assert_cmpstr (m->subject, ==, "Hi");
  g_assert_cmpstr (m->thread, ==, "th-1");
  g_assert_cmpstr (m->body, ==, "Hello <there> & all");
  g_assert_true (m->has_chat_state);
  g_assert_false (m->has_payload);
  g_assert_null (m->error_type);
  g_assert_null (m->error_condition);
}

static void
test_read_minimal (void)
{
  g_autoptr (PrlXmppMessage) m = read_ok ("<message from='a@b' to='c@d'/>");
  g_assert_cmpstr (m->from, ==, "a@b");
  g_assert_cmpstr (m->to, ==, "c@d");
  g_assert_null (m->id);
  g_assert_null (m->type);
  g_assert_null (m->lang);
  g_assert_null (m->body);
  g_assert_null (m->subject);
  g_assert_null (m->thread);
  g_assert_false (m->has_chat_state);
  g_assert_false (m->has_payload);
}

static void
test_read_empty_body (void)
{
  g_autoptr (PrlXmppMessage) m = read_ok ("<message from='a@b' to='c@d'><body/></message>");
  g_assert_cmpstr (m->body, ==, "");
}

static void
test_read_type (void)
{
  const char *types[] = { "normal", "chat", "headline", "groupchat" };
  for (guint i = 0; i < G_N_ELEMENTS (types); i++) {
    g_autofree char *xml = g_strdup_printf ("<message from='a@b' to='c@d' type='%s'/>", types[i]);
    g_autoptr (PrlXmppMessage) m = read_ok (xml);
    g_assert_cmpstr (m->type, ==, types[i]);
  }
  /* RFC 6121 §5.2.2: an unknown type is handled as normal */
  g_autoptr (PrlXmppMessage) m = read_ok ("<message from='a@b' to='c@d' type='weird'/>");
  g_assert_cmpstr (m->type, ==, "normal");
}

static void
test_read_body_lang (void)
{
  /* the body in the stanza's language wins over an earlier one in another */
  g_autoptr (PrlXmppMessage) a
      = read_ok ("<message from='a@b' to='c@d' xml:lang='en'><body xml:lang='de'>Hallo</body>"
                 "<body>Hello</body></message>");
  g_assert_cmpstr (a->body, ==, "Hello");
  g_autoptr (PrlXmppMessage) b
      = read_ok ("<message from='a@b' to='c@d' xml:lang='de'><body xml:lang='fr'>Salut</body>"
                 "<body xml:lang='DE'>Hallo</body><body>Hello</body></message>");
  g_assert_cmpstr (b->body, ==, "Hallo");
  /* none matches: the first one rather than nothing */
  g_autoptr (PrlXmppMessage) c
      = read_ok ("<message from='a@b' to='c@d' xml:lang='en'><body xml:lang='fr'>Salut</body>"
                 "<body xml:lang='de'>Hallo</body><subject xml:lang='de'>S</subject></message>");
  g_assert_cmpstr (c->body, ==, "Salut");
  g_assert_cmpstr (c->subject, ==, "S");
  /* no stanza language: the first body without one */
  g_autoptr (PrlXmppMessage) d = read_ok (
      "<message from='a@b' to='c@d'><body xml:lang='fr'>Salut</body><body>Hi</body></message>");
  g_assert_cmpstr (d->body, ==, "Hi");
}

static void
test_read_payload (void)
{
  g_autoptr (PrlXmppMessage) a = read_ok (
      "<message from='a@b' to='c@d'><body>x</body><x xmlns='urn:other'/></message>");
  g_assert_true (a->has_payload);
  g_assert_false (a->has_chat_state);
  /* receipts, markers, origin-id and a named chat state are read, not payload */
  g_autoptr (PrlXmppMessage) r = read_ok (
      "<message from='a@b' to='c@d' id='m1'><body>x</body><request xmlns='urn:xmpp:receipts'/>"
      "<markable xmlns='urn:xmpp:chat-markers:0'/><origin-id xmlns='urn:xmpp:sid:0' id='o-1'/>"
      "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>");
  g_assert_false (r->has_payload);
  g_assert_true (r->receipt_request);
  g_assert_true (r->markable);
  g_assert_cmpstr (r->origin_id, ==, "o-1");
  g_assert_cmpstr (r->chat_state, ==, "composing");
  g_autoptr (PrlXmppMessage) k = read_ok (
      "<message from='a@b' to='c@d'><received xmlns='urn:xmpp:receipts' id='m1'/>"
      "<displayed xmlns='urn:xmpp:chat-markers:0' id='m2'/></message>");
  g_assert_cmpstr (k->receipt_id, ==, "m1");
  g_assert_cmpstr (k->displayed_id, ==, "m2");
  g_assert_null (k->body);
  /* a <body/> in a foreign namespace is payload, not the body */
  g_autoptr (PrlXmppMessage) b = read_ok (
      "<message xmlns='jabber:client' from='a@b' to='c@d'><body xmlns='urn:other'>no</body>"
      "<body>yes</body></message>");
  g_assert_cmpstr (b->body, ==, "yes");
  g_assert_true (b->has_payload);
  /* an unknown element in the stanza namespace */
  g_autoptr (PrlXmppMessage) c = read_ok ("<message from='a@b' to='c@d'><foo/></message>");
  g_assert_true (c->has_payload);
  /* whitespace between children is not payload */
  g_autoptr (PrlXmppMessage) d
      = read_ok ("<message from='a@b' to='c@d'>\n  <body>x</body>\n</message>");
  g_assert_false (d->has_payload);
}

static void
test_read_chat_state_only (void)
{
  g_autoptr (PrlXmppMessage) m
      = read_ok ("<message from='a@b' to='c@d' type='chat'>"
                 "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>");
  g_assert_true (m->has_chat_state);
  g_assert_null (m->body);
  g_assert_false (m->has_payload);
}

static void
test_read_error (void)
{
  g_autoptr (PrlXmppMessage) m = read_ok (
      "<message from='bob@xmpp.example.com' to='alice@sip.example.net' id='e1' type='error'>"
      "<body>original</body><error type='cancel' by='xmpp.example.com'>"
      "<gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>xmpp:bob@new.example.com</gone>"
      "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>Moved away</text>"
      "<app-specific xmlns='urn:example'/></error></message>");
  g_assert_cmpstr (m->type, ==, "error");
  g_assert_cmpstr (m->id, ==, "e1");
  g_assert_cmpstr (m->error_type, ==, "cancel");
  g_assert_cmpstr (m->error_condition, ==, "gone");
  g_assert_cmpstr (m->error_detail, ==, "xmpp:bob@new.example.com");
  g_assert_cmpstr (m->error_text, ==, "Moved away");
  g_assert_cmpstr (m->body, ==, "original");
  g_assert_false (m->has_payload);

  /* the text element may come first; an empty condition has no detail */
  g_autoptr (PrlXmppMessage) n = read_ok (
      "<message from='a@b' to='c@d' type='error'><error type='wait'>"
      "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Later</text>"
      "<recipient-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
  g_assert_cmpstr (n->error_type, ==, "wait");
  g_assert_cmpstr (n->error_condition, ==, "recipient-unavailable");
  g_assert_null (n->error_detail);
  g_assert_cmpstr (n->error_text, ==, "Later");
}

static void
test_read_error_incomplete (void)
{
  g_autoptr (PrlXmppMessage) a = read_ok ("<message from='a@b' to='c@d' type='error'/>");
  g_assert_cmpstr (a->error_type, ==, "cancel");
  g_assert_cmpstr (a->error_condition, ==, "undefined-condition");
  g_assert_null (a->error_text);
  /* legacy <error code='404'/> without a condition element */
  g_autoptr (PrlXmppMessage) b = read_ok (
      "<message from='a@b' to='c@d' type='error'><error code='404' type='cancel'/></message>");
  g_assert_cmpstr (b->error_condition, ==, "undefined-condition");
  /* an <error/> child in a non-error message is payload, not an error */
  g_autoptr (PrlXmppMessage) c
      = read_ok ("<message from='a@b' to='c@d'><error type='cancel'/></message>");
  g_assert_null (c->error_type);
  g_assert_true (c->has_payload);
}

static void
test_malformed (void)
{
  read_malformed ("<message to='c@d'><body>x</body></message>");
  read_malformed ("<message from='a@b'><body>x</body></message>");
  read_malformed ("<message/>");
  read_malformed ("<message from='' to='c@d'/>");
  read_malformed ("<message from='a@b' to='@d'/>");
  read_malformed ("<message from='a@b/' to='c@d'/>");
  read_malformed ("<message from='a@' to='c@d'/>");
  read_malformed ("<message from='a@b c' to='c@d'/>");
  read_malformed ("<iq from='a@b' to='c@d' type='get'/>");
  read_malformed ("<presence from='a@b' to='c@d'/>");
}

static void
test_parse_failures (void)
{
  /* what the link never sees but the fuzzer does: libstrophe refuses, nothing to decode */
  const char *bad[] = { "",
                        "garbage",
                        "<message from='a@b' to='c@d'><body>trunc",
                        "<message from='a@b' to='c@d'",
                        "<message from='a@b' to='c@d'></mess>",
                        "<message from='a@b' to='c@d'>&bogus;</message>" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    g_assert_null (xmpp_stanza_new_from_string (ctx, bad[i]));
}

static void
test_write_fields (void)
{
  g_autoptr (PrlXmppMessage) in = prl_xmpp_message_new ();
  in->from = g_strdup ("alice@sip.example.net");
  in->to = g_strdup ("bob@xmpp.example.com/laptop");
  in->id = g_strdup ("id-1");
  in->type = g_strdup ("chat");
  in->lang = g_strdup ("en");
  in->subject = g_strdup ("Subj");
  in->thread = g_strdup ("thr");
  in->body = g_strdup ("Body");
  in->has_chat_state = TRUE;
  xmpp_stanza_t *s = write_checked (in);
  g_assert_cmpstr (xmpp_stanza_get_name (s), ==, "message");
  g_assert_cmpstr (xmpp_stanza_get_from (s), ==, "alice@sip.example.net");
  g_assert_cmpstr (xmpp_stanza_get_to (s), ==, "bob@xmpp.example.com/laptop");
  g_assert_cmpstr (xmpp_stanza_get_id (s), ==, "id-1");
  g_assert_cmpstr (xmpp_stanza_get_type (s), ==, "chat");
  g_assert_cmpstr (xmpp_stanza_get_attribute (s, "xml:lang"), ==, "en");
  g_assert_nonnull (xmpp_stanza_get_child_by_name (s, "subject"));
  g_assert_nonnull (xmpp_stanza_get_child_by_name (s, "thread"));
  g_assert_nonnull (xmpp_stanza_get_child_by_name (s, "body"));
  g_assert_nonnull (xmpp_stanza_get_child_by_name_and_ns (s, "active", PRL_XMPP_NS_CHATSTATES));
  g_assert_null (xmpp_stanza_get_child_by_name (s, "error"));
  g_autofree char *text = render (s);
  g_assert_nonnull (strstr (text, "xml:lang=\"en\""));
  g_assert_nonnull (strstr (text, "<body>Body</body>"));
  xmpp_stanza_release (s);
}

static void
test_write_minimal (void)
{
  g_autoptr (PrlXmppMessage) in = prl_xmpp_message_new ();
  in->from = g_strdup ("a@b");
  in->to = g_strdup ("c@d");
  xmpp_stanza_t *s = write_checked (in);
  g_assert_null (xmpp_stanza_get_type (s));
  g_assert_null (xmpp_stanza_get_id (s));
  g_assert_null (xmpp_stanza_get_children (s));
  g_autofree char *text = render (s);
  g_assert_null (strstr (text, "type="));
  g_assert_cmpint (xmpp_stanza_get_attribute_count (s), ==, 2);
  xmpp_stanza_release (s);
  /* an empty body is still a body */
  in->body = g_strdup ("");
  g_autoptr (PrlXmppMessage) out = round_trip (in);
  g_assert_cmpstr (out->body, ==, "");
}

/* XEP-0203: a flushed offline message carries when it was first received and who held it. */
static void
test_write_delay (void)
{
  g_autoptr (PrlXmppMessage) in = prl_xmpp_message_new ();
  in->from = g_strdup ("alice@sip.example.net");
  in->to = g_strdup ("bob@xmpp.example.com");
  in->body = g_strdup ("sent while you were away");
  in->delay_stamp = g_strdup ("2026-11-21T22:40:00.123Z");
  in->delay_from = g_strdup ("sip.example.net");
  xmpp_stanza_t *s = write_checked (in);
  xmpp_stanza_t *delay = xmpp_stanza_get_child_by_ns (s, "urn:xmpp:delay");
  g_assert_nonnull (delay);
  g_assert_cmpstr (xmpp_stanza_get_name (delay), ==, "delay");
  g_assert_cmpstr (xmpp_stanza_get_attribute (delay, "stamp"), ==, "2026-11-21T22:40:00.123Z");
  g_assert_cmpstr (xmpp_stanza_get_attribute (delay, "from"), ==, "sip.example.net");
  xmpp_stanza_release (s);
  /* no stamp, no element */
  g_clear_pointer (&in->delay_stamp, g_free);
  s = write_checked (in);
  g_assert_null (xmpp_stanza_get_child_by_ns (s, "urn:xmpp:delay"));
  xmpp_stanza_release (s);
}

static void
test_write_error (void)
{
  g_autoptr (PrlXmppMessage) in = prl_xmpp_message_new ();
  in->from = g_strdup ("alice@sip.example.net");
  in->to = g_strdup ("bob@xmpp.example.com/laptop");
  in->id = g_strdup ("k3x9");
  in->type = g_strdup ("error");
  in->error_type = g_strdup ("modify");
  in->error_condition = g_strdup ("redirect");
  in->error_detail = g_strdup ("xmpp:alice@elsewhere.example");
  in->error_text = g_strdup ("Moved");
  xmpp_stanza_t *s = write_checked (in);
  xmpp_stanza_t *error = xmpp_stanza_get_child_by_name (s, "error");
  g_assert_nonnull (error);
  g_assert_cmpstr (xmpp_stanza_get_type (error), ==, "modify");
  xmpp_stanza_t *cond
      = xmpp_stanza_get_child_by_name_and_ns (error, "redirect", PRL_XMPP_NS_STANZAS);
  g_assert_nonnull (cond);
  xmpp_stanza_t *text = xmpp_stanza_get_child_by_name_and_ns (error, "text", PRL_XMPP_NS_STANZAS);
  g_assert_nonnull (text);
  xmpp_stanza_release (s);

  g_autoptr (PrlXmppMessage) out = round_trip (in);
  g_assert_cmpstr (out->error_type, ==, "modify");
  g_assert_cmpstr (out->error_condition, ==, "redirect");
  g_assert_cmpstr (out->error_detail, ==, "xmpp:alice@elsewhere.example");
  g_assert_cmpstr (out->error_text, ==, "Moved");

  /* missing error fields get RFC 6120 defaults, never an <error/> without a condition */
  g_autoptr (PrlXmppMessage) bare = prl_xmpp_message_new ();
  bare->from = g_strdup ("a@b");
  bare->to = g_strdup ("c@d");
  bare->type = g_strdup ("error");
  g_autoptr (PrlXmppMessage) back = round_trip (bare);
  g_assert_cmpstr (back->error_type, ==, "cancel");
  g_assert_cmpstr (back->error_condition, ==, "undefined-condition");
  g_assert_null (back->error_text);
  g_assert_null (back->error_detail);
}

/* chat states, receipts, markers and origin-id through both writers (tree and text) */
static void
test_round_trip_extensions (void)
{
  g_autoptr (PrlXmppMessage) in = prl_xmpp_message_new ();
  in->from = g_strdup ("alice@sip.example.net");
  in->to = g_strdup ("bob@xmpp.example.com");
  in->id = g_strdup ("m1");
  in->type = g_strdup ("chat");
  in->body = g_strdup ("hi");
  in->chat_state = g_strdup ("composing");
  in->receipt_request = TRUE;
  in->markable = TRUE;
  in->origin_id = g_strdup ("o<1>");
  g_autoptr (PrlXmppMessage) out = round_trip (in);
  g_assert_cmpstr (out->chat_state, ==, "composing");
  g_assert_true (out->receipt_request);
  g_assert_true (out->markable);
  g_assert_cmpstr (out->origin_id, ==, "o<1>");
  g_autoptr (PrlXmppMessage) ack = prl_xmpp_message_new ();
  ack->from = g_strdup ("alice@sip.example.net");
  ack->to = g_strdup ("bob@xmpp.example.com");
  ack->receipt_id = g_strdup ("m\"9");
  ack->displayed_id = g_strdup ("m8");
  ack->chat_state = g_strdup ("bogus><x"); /* never written as a name: <active/> */
  g_autoptr (PrlXmppMessage) back = round_trip (ack);
  g_assert_cmpstr (back->receipt_id, ==, "m\"9");
  g_assert_cmpstr (back->displayed_id, ==, "m8");
  g_assert_cmpstr (back->chat_state, ==, "active");
}

static void
test_round_trip (void)
{
  g_autoptr (PrlXmppMessage) in = prl_xmpp_message_new ();
  in->from = g_strdup ("+15551234@sip.example.net");
  in->to = g_strdup ("bob@xmpp.example.com/laptop");
  in->id = g_strdup ("a\"b'<c>&d");
  in->type = g_strdup ("headline");
  in->lang = g_strdup ("fr");
  in->subject = g_strdup ("Re: <x> & y");
  in->thread = g_strdup ("t&1");
  in->body = g_strdup ("1 < 2 && 3 > 2 ]]> \"quoted\" 'single'\nline two\ttab\r\nÜñíçødé ☃ 😀");
  in->has_chat_state = TRUE;
  g_autoptr (PrlXmppMessage) out = round_trip (in);
  g_assert_cmpstr (out->from, ==, in->from);
  g_assert_cmpstr (out->to, ==, in->to);
  g_assert_cmpstr (out->id, ==, in->id);
  g_assert_cmpstr (out->type, ==, in->type);
  g_assert_cmpstr (out->lang, ==, in->lang);
  g_assert_cmpstr (out->subject, ==, in->subject);
  g_assert_cmpstr (out->thread, ==, in->thread);
  /* XML 1.0 §2.11: CRLF arrives as LF */
  g_assert_cmpstr (out->body, ==,
                   "1 < 2 && 3 > 2 ]]> \"quoted\" 'single'\nline two\ttab\nÜñíçødé ☃ 😀");
  g_assert_true (out->has_chat_state);
  g_assert_false (out->has_payload);
}

static void
test_escaping (void)
{
  g_autoptr (PrlXmppMessage) in = prl_xmpp_message_new ();
  in->from = g_strdup ("a@b");
  in->to = g_strdup ("c@d");
  in->body = g_strdup ("<script>alert('x')</script> & &amp; </body><body>injected");
  xmpp_stanza_t *s = write_checked (in);
  g_autofree char *text = render (s);
  xmpp_stanza_release (s);
  g_assert_null (strstr (text, "<script>"));
  g_assert_null (strstr (text, "</body><body>"));
  g_assert_nonnull (strstr (text, "&lt;script&gt;"));
  g_autoptr (PrlXmppMessage) out = read_ok (text);
  g_assert_cmpstr (out->body, ==, in->body);
}

static void
test_xml_safe (void)
{
  g_autofree char *a = prl_xmpp_codec_xml_safe ("ok\tok\nok");
  g_assert_cmpstr (a, ==, "ok\tok\nok");
  g_autofree char *b = prl_xmpp_codec_xml_safe ("a\x01"
                                                "b\x1f"
                                                "c");
  g_assert_cmpstr (b, ==,
                   "a\xef\xbf\xbd"
                   "b\xef\xbf\xbd"
                   "c");
  g_autofree char *c = prl_xmpp_codec_xml_safe ("bad\xff\xfeutf8");
  g_assert_true (g_utf8_validate (c, -1, NULL));
  g_assert_nonnull (strstr (c, "\xef\xbf\xbd"));
  g_autofree char *d = prl_xmpp_codec_xml_safe ("\xef\xbf\xbf"); /* U+FFFF is not an XML Char */
  g_assert_cmpstr (d, ==, "\xef\xbf\xbd");
  g_autofree char *e = prl_xmpp_codec_xml_safe ("a\r\nb\rc\n\r");
  g_assert_cmpstr (e, ==, "a\nb\nc\n\n");
  g_assert_null (prl_xmpp_codec_xml_safe (NULL));

  /* what the SIP side may hand us still makes a well-formed stanza */
  g_autoptr (PrlXmppMessage) in = prl_xmpp_message_new ();
  in->from = g_strdup ("a@b");
  in->to = g_strdup ("c@d");
  in->body = g_strdup ("bell\x07 esc\x1b[0m bad\xc3");
  in->id = g_strdup ("id\x01");
  g_autoptr (PrlXmppMessage) out = round_trip (in);
  g_assert_cmpstr (out->body, ==, "bell\xef\xbf\xbd esc\xef\xbf\xbd[0m bad\xef\xbf\xbd");
  g_assert_cmpstr (out->id, ==, "id\xef\xbf\xbd");
}

static void
test_error_reply (void)
{
  xmpp_stanza_t *s = parse ("<message from='alice@x.example/r' to='bob@sip.example.net' id='m1'>"
                            "<body>hi</body></message>");
  xmpp_stanza_t *r = prl_xmpp_codec_error_reply (s, "modify", "bad-request", "Bad <thing>");
  g_assert_nonnull (r);
  g_assert_cmpstr (xmpp_stanza_get_name (r), ==, "message");
  g_assert_cmpstr (xmpp_stanza_get_from (r), ==, "bob@sip.example.net");
  g_assert_cmpstr (xmpp_stanza_get_to (r), ==, "alice@x.example/r");
  g_assert_cmpstr (xmpp_stanza_get_id (r), ==, "m1");
  g_assert_cmpstr (xmpp_stanza_get_type (r), ==, "error");
  g_autofree char *text = render (r);
  g_autoptr (PrlXmppMessage) m = read_ok (text);
  g_assert_cmpstr (m->error_type, ==, "modify");
  g_assert_cmpstr (m->error_condition, ==, "bad-request");
  g_assert_cmpstr (m->error_text, ==, "Bad <thing>");
  g_assert_null (m->body);
  xmpp_stanza_release (r);
  xmpp_stanza_release (s);

  /* never answer an error; never send without both addresses */
  const char *none[] = { "<message from='a@b' to='c@d' type='error'/>", "<message to='c@d'/>",
                         "<message from='a@b'/>", "<message from='' to='c@d'/>",
                         "<iq from='a@b' to='c@d' type='result' id='1'/>" };
  for (guint i = 0; i < G_N_ELEMENTS (none); i++) {
    s = parse (none[i]);
    g_assert_null (prl_xmpp_codec_error_reply (s, "modify", "bad-request", NULL));
    xmpp_stanza_release (s);
  }
}

static void
test_jid (void)
{
  const char *good[] = { "d",
                         "a@d",
                         "a@d/r",
                         "d/r",
                         "a@d/r/with/slash@and@at",
                         "alice\\40sip.example.net@gw.example.com",
                         "+15551234@sip.example.net" };
  const char *bad[] = { "", "@d", "a@", "a@/r", "a@d/", "/r", "a b@d c", "a@d\tx", "a@b@c" };
  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    g_assert_true (prl_xmpp_codec_jid_is_valid (good[i]));
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    g_assert_false (prl_xmpp_codec_jid_is_valid (bad[i]));
  g_autofree char *long_node = g_strnfill (1024, 'n');
  g_autofree char *long_jid = g_strconcat (long_node, "@d", NULL);
  g_assert_false (prl_xmpp_codec_jid_is_valid (long_jid));

  g_autofree char *d1 = prl_xmpp_codec_jid_domain ("a@d.example/r@x");
  g_assert_cmpstr (d1, ==, "d.example");
  g_autofree char *d2 = prl_xmpp_codec_jid_domain ("d.example");
  g_assert_cmpstr (d2, ==, "d.example");
  g_assert_null (prl_xmpp_codec_jid_domain ("a@"));
  g_assert_null (prl_xmpp_codec_jid_domain (NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  xmpp_initialize ();
  ctx = xmpp_ctx_new (NULL, NULL);

  g_test_add_func ("/xmpp/codec/read/fields", test_read_fields);
  g_test_add_func ("/xmpp/codec/read/minimal", test_read_minimal);
  g_test_add_func ("/xmpp/codec/read/empty-body", test_read_empty_body);
  g_test_add_func ("/xmpp/codec/read/type", test_read_type);
  g_test_add_func ("/xmpp/codec/read/body-lang", test_read_body_lang);
  g_test_add_func ("/xmpp/codec/read/payload", test_read_payload);
  g_test_add_func ("/xmpp/codec/read/chat-state-only", test_read_chat_state_only);
  g_test_add_func ("/xmpp/codec/read/error", test_read_error);
  g_test_add_func ("/xmpp/codec/read/error-incomplete", test_read_error_incomplete);
  g_test_add_func ("/xmpp/codec/read/malformed", test_malformed);
  g_test_add_func ("/xmpp/codec/read/parse-failures", test_parse_failures);
  g_test_add_func ("/xmpp/codec/write/fields", test_write_fields);
  g_test_add_func ("/xmpp/codec/write/minimal", test_write_minimal);
  g_test_add_func ("/xmpp/codec/write/error", test_write_error);
  g_test_add_func ("/xmpp/codec/write/delay", test_write_delay);
  g_test_add_func ("/xmpp/codec/write/escaping", test_escaping);
  g_test_add_func ("/xmpp/codec/write/xml-safe", test_xml_safe);
  g_test_add_func ("/xmpp/codec/round-trip", test_round_trip);
  g_test_add_func ("/xmpp/codec/round-trip-extensions", test_round_trip_extensions);
  g_test_add_func ("/xmpp/codec/error-reply", test_error_reply);
  g_test_add_func ("/xmpp/codec/jid", test_jid);

  int rc = g_test_run ();
  xmpp_ctx_free (ctx);
  xmpp_shutdown ();
  return rc;
}
