/* xmpp/codec.c - libstrophe <message/> stanza <-> PrlXmppMessage.
 *
 * Pure conversion (see xmpp/codec.h): every string read is copied into GLib memory, and
 * libstrophe's own allocations (xmpp_stanza_get_text()) are freed with xmpp_free() right
 * where they are made. Escaping on output is libstrophe's job (xmpp_stanza_set_text() and
 * attribute rendering), but libstrophe copies bytes verbatim, so a control character or
 * invalid UTF-8 from the SIP side would make the server close our stream: every string is
 * passed through prl_xmpp_codec_xml_safe() first.
 *
 * Note on xml:lang: libstrophe's expat parser strips the "xml" prefix, so a parsed stanza
 * carries the attribute as "lang"; both spellings are read, "xml:lang" is written.
 */
#include "xmpp/codec.h"

#include <string.h>

/* clang-format off */
G_DEFINE_QUARK (prl-xmpp-error-quark, prl_xmpp_error)
/* clang-format on */

#define MAX_JID_PART 1023

static gboolean
is_xml_char (gunichar c)
{
  /* XML 1.0 Char production */
  return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF)
         || (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

char *
prl_xmpp_codec_xml_safe (const char *s)
{
  if (s == NULL)
    return NULL;
  g_autofree char *valid = g_utf8_make_valid (s, -1);
  GString *out = NULL; /* created at the first character that needs a change */
  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);
    if (is_xml_char (c) && c != '\r') {
      if (out != NULL)
        g_string_append_len (out, p, g_utf8_next_char (p) - p);
      continue;
    }
    if (out == NULL)
      out = g_string_new_len (valid, p - valid);
    if (c == '\r') {
      /* XML 1.0 §2.11: the receiver's parser turns CRLF and CR into LF anyway, and
       * libstrophe cannot write &#13;: send what will be read */
      if (p[1] != '\n')
        g_string_append_c (out, '\n');
    } else {
      g_string_append_unichar (out, 0xFFFD);
    }
  }
  if (out == NULL)
    return g_steal_pointer (&valid);
  return g_string_free (out, FALSE);
}

gboolean
prl_xmpp_codec_jid_is_valid (const char *jid)
{
  if (jid == NULL || *jid == '\0')
    return FALSE;
  const char *slash = strchr (jid, '/');
  gsize bare_len = slash ? (gsize)(slash - jid) : strlen (jid);
  if (slash != NULL && (slash[1] == '\0' || strlen (slash + 1) > MAX_JID_PART))
    return FALSE;
  const char *at = memchr (jid, '@', bare_len);
  const char *domain = at ? at + 1 : jid;
  gsize domain_len = bare_len - (domain - jid);
  if (at != NULL && (at == jid || (gsize)(at - jid) > MAX_JID_PART))
    return FALSE;
  if (domain_len == 0 || domain_len > MAX_JID_PART)
    return FALSE;
  for (gsize i = 0; i < domain_len; i++) {
    guchar c = (guchar)domain[i];
    if (c <= 0x20 || c == 0x7F || c == '@')
      return FALSE;
  }
  return TRUE;
}

char *
prl_xmpp_codec_jid_domain (const char *jid)
{
  if (jid == NULL)
    return NULL;
  const char *slash = strchr (jid, '/');
  gsize bare_len = slash ? (gsize)(slash - jid) : strlen (jid);
  const char *at = memchr (jid, '@', bare_len);
  const char *domain = at ? at + 1 : jid;
  gsize domain_len = bare_len - (domain - jid);
  if (domain_len == 0)
    return NULL;
  return g_strndup (domain, domain_len);
}

/* libstrophe returns NULL both for "no text" and on allocation failure; an element that is
 * present but empty is an empty string for us. */
static char *
dup_text (xmpp_stanza_t *el)
{
  char *text = xmpp_stanza_get_text (el);
  if (text == NULL)
    return g_strdup ("");
  char *copy = g_strdup (text);
  xmpp_free (xmpp_stanza_get_context (el), text);
  return copy;
}

static const char *
get_lang (xmpp_stanza_t *el)
{
  const char *lang = xmpp_stanza_get_attribute (el, "xml:lang");
  return lang ? lang : xmpp_stanza_get_attribute (el, "lang");
}

/* A child belongs to the stanza's own namespace (jabber:client, jabber:component:accept…)
 * when it has none of its own or the stanza's. */
static gboolean
in_stanza_ns (xmpp_stanza_t *stanza, xmpp_stanza_t *child)
{
  const char *ns = xmpp_stanza_get_ns (child);
  const char *parent_ns = xmpp_stanza_get_ns (stanza);
  return ns == NULL || (parent_ns != NULL && strcmp (ns, parent_ns) == 0);
}

/* RFC 6121 §5.2.3, §5.2.4: several <body/> or <subject/> may differ by xml:lang; take the
 * first in the stanza's language (or with none), else the first at all. */
static xmpp_stanza_t *
pick_by_lang (xmpp_stanza_t *stanza, const char *name, const char *stanza_lang)
{
  xmpp_stanza_t *first = NULL;
  for (xmpp_stanza_t *c = xmpp_stanza_get_children (stanza); c; c = xmpp_stanza_get_next (c)) {
    if (!xmpp_stanza_is_tag (c) || g_strcmp0 (xmpp_stanza_get_name (c), name) != 0
        || !in_stanza_ns (stanza, c))
      continue;
    const char *lang = get_lang (c);
    if (lang == NULL || (stanza_lang != NULL && g_ascii_strcasecmp (lang, stanza_lang) == 0))
      return c;
    if (first == NULL)
      first = c;
  }
  return first;
}

static const char *const known_types[] = { "normal", "chat", "headline", "groupchat", "error" };

static char *
normalize_type (const char *type)
{
  if (type == NULL)
    return NULL;
  for (guint i = 0; i < G_N_ELEMENTS (known_types); i++)
    if (strcmp (type, known_types[i]) == 0)
      return g_strdup (type);
  return g_strdup ("normal"); /* RFC 6121 §5.2.2: an unknown type is "normal" */
}

static void
read_error (xmpp_stanza_t *error, PrlXmppMessage *msg)
{
  const char *type = error ? xmpp_stanza_get_type (error) : NULL;
  msg->error_type = g_strdup (type ? type : "cancel");
  for (xmpp_stanza_t *c = error ? xmpp_stanza_get_children (error) : NULL; c;
       c = xmpp_stanza_get_next (c)) {
    if (!xmpp_stanza_is_tag (c) || g_strcmp0 (xmpp_stanza_get_ns (c), PRL_XMPP_NS_STANZAS) != 0)
      continue; /* application-specific conditions are not mapped */
    const char *name = xmpp_stanza_get_name (c);
    if (g_strcmp0 (name, "text") == 0) {
      if (msg->error_text == NULL)
        msg->error_text = dup_text (c);
    } else if (msg->error_condition == NULL && name != NULL) {
      msg->error_condition = g_strdup (name);
      char *detail = dup_text (c);
      if (*detail != '\0')
        msg->error_detail = detail;
      else
        g_free (detail);
    }
  }
  if (msg->error_condition == NULL)
    msg->error_condition = g_strdup ("undefined-condition");
}

static gboolean
is_chat_state (const char *name)
{
  static const char *const states[] = { "active", "composing", "paused", "inactive", "gone" };
  for (guint i = 0; i < G_N_ELEMENTS (states); i++)
    if (g_strcmp0 (name, states[i]) == 0)
      return TRUE;
  return FALSE;
}

/* An id attribute usable as a receipt/marker/stanza id: present, not empty, one line. */
static char *
dup_id (xmpp_stanza_t *el)
{
  const char *id = xmpp_stanza_get_attribute (el, "id");
  if (id == NULL || *id == '\0' || strlen (id) > 256)
    return NULL;
  for (const char *p = id; *p != '\0'; p++)
    if ((guchar)*p < 0x20 || *p == 0x7f)
      return NULL;
  return g_strdup (id);
}

/* XEP-0184 receipts, XEP-0333 markers, XEP-0359 origin-id (mapping-docs/receipts.md).
 * TRUE if @c was one of them (read, or ignored as an element of those namespaces). */
static gboolean
read_receipt_or_marker (xmpp_stanza_t *c, const char *ns, const char *name, PrlXmppMessage *msg)
{
  if (g_strcmp0 (ns, PRL_XMPP_NS_RECEIPTS) == 0) {
    if (g_strcmp0 (name, "request") == 0)
      msg->receipt_request = TRUE;
    else if (g_strcmp0 (name, "received") == 0 && msg->receipt_id == NULL)
      msg->receipt_id = dup_id (c);
    return TRUE;
  }
  if (g_strcmp0 (ns, PRL_XMPP_NS_MARKERS) == 0) {
    if (g_strcmp0 (name, "markable") == 0)
      msg->markable = TRUE;
    else if (g_strcmp0 (name, "displayed") == 0 && msg->displayed_id == NULL)
      msg->displayed_id = dup_id (c);
    return TRUE; /* received/acknowledged markers: not mapped */
  }
  if (g_strcmp0 (ns, PRL_XMPP_NS_SID) == 0 && g_strcmp0 (name, "origin-id") == 0) {
    if (msg->origin_id == NULL)
      msg->origin_id = dup_id (c);
    return TRUE;
  }
  return FALSE;
}

PrlXmppMessage *
prl_xmpp_codec_read_message (xmpp_stanza_t *stanza, GError **error)
{
  g_return_val_if_fail (stanza != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!xmpp_stanza_is_tag (stanza) || g_strcmp0 (xmpp_stanza_get_name (stanza), "message") != 0) {
    g_set_error (error, PRL_XMPP_ERROR, PRL_XMPP_ERROR_MALFORMED, "not a <message/>");
    return NULL;
  }
  const char *from = xmpp_stanza_get_from (stanza); /* borrowed from the stanza */
  const char *to = xmpp_stanza_get_to (stanza);
  if (from == NULL || to == NULL) {
    g_set_error (error, PRL_XMPP_ERROR, PRL_XMPP_ERROR_MALFORMED, "<message/> without %s",
                 from == NULL ? "from" : "to");
    return NULL;
  }
  if (!prl_xmpp_codec_jid_is_valid (from) || !prl_xmpp_codec_jid_is_valid (to)) {
    g_set_error (error, PRL_XMPP_ERROR, PRL_XMPP_ERROR_MALFORMED, "<message/> with an invalid %s",
                 prl_xmpp_codec_jid_is_valid (from) ? "to" : "from");
    return NULL;
  }

  g_autoptr (PrlXmppMessage) msg = prl_xmpp_message_new ();
  msg->from = g_strdup (from);
  msg->to = g_strdup (to);
  msg->id = g_strdup (xmpp_stanza_get_id (stanza));
  msg->type = normalize_type (xmpp_stanza_get_type (stanza));
  msg->lang = g_strdup (get_lang (stanza));

  xmpp_stanza_t *el = pick_by_lang (stanza, "body", msg->lang);
  if (el != NULL)
    msg->body = dup_text (el);
  el = pick_by_lang (stanza, "subject", msg->lang);
  if (el != NULL)
    msg->subject = dup_text (el);

  gboolean is_error = g_strcmp0 (msg->type, "error") == 0;
  xmpp_stanza_t *error_el = NULL;
  for (xmpp_stanza_t *c = xmpp_stanza_get_children (stanza); c; c = xmpp_stanza_get_next (c)) {
    if (!xmpp_stanza_is_tag (c))
      continue; /* character data between children is insignificant */
    const char *name = xmpp_stanza_get_name (c);
    const char *ns = xmpp_stanza_get_ns (c);
    if (g_strcmp0 (ns, PRL_XMPP_NS_CHATSTATES) == 0) {
      msg->has_chat_state = TRUE;
      if (msg->chat_state == NULL && is_chat_state (name))
        msg->chat_state = g_strdup (name);
    } else if (read_receipt_or_marker (c, ns, name, msg)) {
      continue;
    } else if (!in_stanza_ns (stanza, c)) {
      msg->has_payload = TRUE;
    } else if (g_strcmp0 (name, "body") == 0 || g_strcmp0 (name, "subject") == 0) {
      continue;
    } else if (g_strcmp0 (name, "thread") == 0) {
      if (msg->thread == NULL)
        msg->thread = dup_text (c);
    } else if (g_strcmp0 (name, "error") == 0 && is_error) {
      if (error_el == NULL)
        error_el = c;
    } else {
      msg->has_payload = TRUE;
    }
  }
  if (is_error)
    read_error (error_el, msg);
  return g_steal_pointer (&msg); /* (transfer full) */
}

/* Appends <@name [xmlns=@ns]>@text</@name> to @parent; @text may be NULL (empty element). */
static xmpp_stanza_t *
add_child (xmpp_stanza_t *parent, const char *name, const char *ns, const char *text)
{
  xmpp_ctx_t *ctx = xmpp_stanza_get_context (parent);
  xmpp_stanza_t *child = xmpp_stanza_new (ctx);
  xmpp_stanza_set_name (child, name);
  if (ns != NULL)
    xmpp_stanza_set_ns (child, ns);
  if (text != NULL && *text != '\0') {
    g_autofree char *safe = prl_xmpp_codec_xml_safe (text);
    xmpp_stanza_t *node = xmpp_stanza_new (ctx);
    xmpp_stanza_set_text (node, safe);
    xmpp_stanza_add_child_ex (child, node, 0); /* ownership moves to @child */
  }
  xmpp_stanza_add_child_ex (parent, child, 0);
  return child;
}

static void
set_attr (xmpp_stanza_t *stanza, const char *key, const char *value)
{
  if (value == NULL)
    return;
  g_autofree char *safe = prl_xmpp_codec_xml_safe (value);
  xmpp_stanza_set_attribute (stanza, key, safe);
}

static xmpp_stanza_t *
add_error (xmpp_stanza_t *parent, const char *type, const char *condition, const char *detail,
           const char *text)
{
  xmpp_stanza_t *error = add_child (parent, "error", NULL, NULL);
  set_attr (error, "type", type ? type : "cancel");
  add_child (error, condition ? condition : "undefined-condition", PRL_XMPP_NS_STANZAS, detail);
  if (text != NULL)
    add_child (error, "text", PRL_XMPP_NS_STANZAS, text);
  return error;
}

/* The XEP-0085 element to write: the named state when it is one of the five, <active/> for
 * has_chat_state alone, else none (a name never reaches the wire unchecked). */
static const char *
chat_state_name (const PrlXmppMessage *msg)
{
  if (msg->chat_state != NULL && is_chat_state (msg->chat_state))
    return msg->chat_state;
  return msg->has_chat_state || msg->chat_state != NULL ? "active" : NULL;
}

xmpp_stanza_t *
prl_xmpp_codec_write_message (xmpp_ctx_t *ctx, const PrlXmppMessage *msg)
{
  g_return_val_if_fail (ctx != NULL, NULL);
  g_return_val_if_fail (msg != NULL, NULL);

  xmpp_stanza_t *stanza = xmpp_stanza_new (ctx);
  xmpp_stanza_set_name (stanza, "message");
  set_attr (stanza, "from", msg->from);
  set_attr (stanza, "to", msg->to);
  set_attr (stanza, "id", msg->id);
  set_attr (stanza, "type", msg->type);
  set_attr (stanza, "xml:lang", msg->lang);
  if (msg->subject != NULL)
    add_child (stanza, "subject", NULL, msg->subject);
  if (msg->thread != NULL)
    add_child (stanza, "thread", NULL, msg->thread);
  if (msg->body != NULL)
    add_child (stanza, "body", NULL, msg->body);
  if (chat_state_name (msg) != NULL)
    add_child (stanza, chat_state_name (msg), PRL_XMPP_NS_CHATSTATES, NULL);
  if (msg->receipt_request)
    add_child (stanza, "request", PRL_XMPP_NS_RECEIPTS, NULL);
  if (msg->receipt_id != NULL)
    set_attr (add_child (stanza, "received", PRL_XMPP_NS_RECEIPTS, NULL), "id", msg->receipt_id);
  if (msg->markable)
    add_child (stanza, "markable", PRL_XMPP_NS_MARKERS, NULL);
  if (msg->displayed_id != NULL)
    set_attr (add_child (stanza, "displayed", PRL_XMPP_NS_MARKERS, NULL), "id", msg->displayed_id);
  if (msg->origin_id != NULL)
    set_attr (add_child (stanza, "origin-id", PRL_XMPP_NS_SID, NULL), "id", msg->origin_id);
  if (msg->delay_stamp != NULL) { /* XEP-0203: a flushed offline message */
    xmpp_stanza_t *delay = add_child (stanza, "delay", PRL_XMPP_NS_DELAY, NULL);
    set_attr (delay, "stamp", msg->delay_stamp);
    set_attr (delay, "from", msg->delay_from);
  }
  if (g_strcmp0 (msg->type, "error") == 0)
    add_error (stanza, msg->error_type, msg->error_condition, msg->error_detail, msg->error_text);
  return stanza; /* (transfer full) */
}

/* ---- the same stanza as text, for the send path ------------------------------------------
 *
 * libstrophe builds a tree (one allocation per element, attribute, key and text node) and
 * renders it again in xmpp_send(): about 40 allocations per relayed message, the largest
 * share of parleyd's own cost per SIP->XMPP message in the profile (bench/RESULTS.md,
 * "Profile and fixes"). The link sends this text with xmpp_send_raw() instead. It is the
 * stanza prl_xmpp_codec_write_message() builds, element for element (the unit tests and the
 * fuzzer compare the two after parsing). */

/* Appends @s, made XML-safe as prl_xmpp_codec_xml_safe() does, with &, <, > and " escaped
 * (enough for text and for double-quoted attribute values). */
static void
append_escaped (GString *out, const char *s)
{
  g_autofree char *safe = NULL;
  for (const guchar *p = (const guchar *)s; *p != '\0'; p++) {
    if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p >= 0x80) {
      safe = prl_xmpp_codec_xml_safe (s); /* the rare case: not plain ASCII */
      s = safe;
      break;
    }
  }
  const char *run = s;
  for (const char *p = s;; p++) {
    const char *entity;
    switch (*p) {
    case '&':
      entity = "&amp;";
      break;
    case '<':
      entity = "&lt;";
      break;
    case '>':
      entity = "&gt;";
      break;
    case '"':
      entity = "&quot;";
      break;
    case '\0':
      g_string_append_len (out, run, p - run);
      return;
    default:
      continue;
    }
    g_string_append_len (out, run, p - run);
    g_string_append (out, entity);
    run = p + 1;
  }
}

static void
append_attr (GString *out, const char *key, const char *value)
{
  if (value == NULL)
    return;
  g_string_append_c (out, ' ');
  g_string_append (out, key);
  g_string_append (out, "=\"");
  append_escaped (out, value);
  g_string_append_c (out, '"');
}

/* <@name [xmlns=@ns]>@text</@name>, or <@name [xmlns=@ns]/> when @text is NULL or empty. */
static void
append_child (GString *out, const char *name, const char *ns, const char *text)
{
  g_string_append_c (out, '<');
  g_string_append (out, name);
  append_attr (out, "xmlns", ns);
  if (text == NULL || *text == '\0') {
    g_string_append (out, "/>");
    return;
  }
  g_string_append_c (out, '>');
  append_escaped (out, text);
  g_string_append (out, "</");
  g_string_append (out, name);
  g_string_append_c (out, '>');
}

/* <@name xmlns='@ns' id='@id'/> */
static void
append_empty_with_id (GString *out, const char *name, const char *ns, const char *id)
{
  g_string_append_c (out, '<');
  g_string_append (out, name);
  append_attr (out, "xmlns", ns);
  append_attr (out, "id", id);
  g_string_append (out, "/>");
}

char *
prl_xmpp_codec_write_message_text (const PrlXmppMessage *msg, gsize *len)
{
  g_return_val_if_fail (msg != NULL, NULL);

  GString *out = g_string_sized_new (256 + (msg->body != NULL ? strlen (msg->body) : 0));
  g_string_append (out, "<message");
  append_attr (out, "from", msg->from);
  append_attr (out, "to", msg->to);
  append_attr (out, "id", msg->id);
  append_attr (out, "type", msg->type);
  append_attr (out, "xml:lang", msg->lang);
  g_string_append_c (out, '>');
  if (msg->subject != NULL)
    append_child (out, "subject", NULL, msg->subject);
  if (msg->thread != NULL)
    append_child (out, "thread", NULL, msg->thread);
  if (msg->body != NULL)
    append_child (out, "body", NULL, msg->body);
  if (chat_state_name (msg) != NULL)
    append_child (out, chat_state_name (msg), PRL_XMPP_NS_CHATSTATES, NULL);
  if (msg->receipt_request)
    append_child (out, "request", PRL_XMPP_NS_RECEIPTS, NULL);
  if (msg->receipt_id != NULL)
    append_empty_with_id (out, "received", PRL_XMPP_NS_RECEIPTS, msg->receipt_id);
  if (msg->markable)
    append_child (out, "markable", PRL_XMPP_NS_MARKERS, NULL);
  if (msg->displayed_id != NULL)
    append_empty_with_id (out, "displayed", PRL_XMPP_NS_MARKERS, msg->displayed_id);
  if (msg->origin_id != NULL)
    append_empty_with_id (out, "origin-id", PRL_XMPP_NS_SID, msg->origin_id);
  if (msg->delay_stamp != NULL) { /* XEP-0203: a flushed offline message */
    g_string_append (out, "<delay");
    append_attr (out, "xmlns", PRL_XMPP_NS_DELAY);
    append_attr (out, "stamp", msg->delay_stamp);
    append_attr (out, "from", msg->delay_from);
    g_string_append (out, "/>");
  }
  if (g_strcmp0 (msg->type, "error") == 0) {
    g_string_append (out, "<error");
    append_attr (out, "type", msg->error_type ? msg->error_type : "cancel");
    g_string_append_c (out, '>');
    append_child (out, msg->error_condition ? msg->error_condition : "undefined-condition",
                  PRL_XMPP_NS_STANZAS, msg->error_detail);
    if (msg->error_text != NULL)
      append_child (out, "text", PRL_XMPP_NS_STANZAS, msg->error_text);
    g_string_append (out, "</error>");
  }
  g_string_append (out, "</message>");
  if (len != NULL)
    *len = out->len;
  return g_string_free (out, FALSE); /* (transfer full) */
}

xmpp_stanza_t *
prl_xmpp_codec_error_reply (xmpp_stanza_t *stanza, const char *error_type, const char *condition,
                            const char *text)
{
  g_return_val_if_fail (stanza != NULL, NULL);
  g_return_val_if_fail (condition != NULL, NULL);

  const char *name = xmpp_stanza_get_name (stanza);
  const char *from = xmpp_stanza_get_from (stanza);
  const char *to = xmpp_stanza_get_to (stanza);
  const char *type = xmpp_stanza_get_type (stanza);
  if (name == NULL || from == NULL || to == NULL || *from == '\0' || *to == '\0')
    return NULL; /* XEP-0114: nothing may leave without both addresses */
  if (g_strcmp0 (type, "error") == 0)
    return NULL; /* RFC 6120 §8.3.1: never answer an error */
  if (strcmp (name, "iq") == 0 && g_strcmp0 (type, "result") == 0)
    return NULL;

  xmpp_stanza_t *reply = xmpp_stanza_new (xmpp_stanza_get_context (stanza));
  xmpp_stanza_set_name (reply, name);
  set_attr (reply, "from", to);
  set_attr (reply, "to", from);
  set_attr (reply, "id", xmpp_stanza_get_id (stanza));
  xmpp_stanza_set_type (reply, "error");
  add_error (reply, error_type, condition, NULL, text);
  return reply; /* (transfer full) */
}
