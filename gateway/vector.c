/* gateway/vector.c - .vec loader and runner (format: test-vectors/README.md).
 *
 * DESIGN. Loading is two passes over lines: statements are recognised by their first
 * character (`#` comment, `>` step, `<` expected line, `config` before the first step,
 * `field: value` inside a step), field values are decoded into byte strings (literal, or an
 * expression of quoted strings and repeat()), and at the end of each step the collected
 * fields are checked against the step kind and turned into a PrlEvent or probe arguments.
 * Unknown kinds, fields and keys are errors: a typo must fail a vector, not silently drop an
 * input. Every value is bounded (PRL_VECTOR_MAX_BYTES per file) so fuzzed files stay cheap.
 * The runner compares text per step and writes a unified-style diff for the failures.
 * Ownership: a PrlVector owns its config, steps and their events.
 */
#include "gateway/vector.h"

#include "gateway/addr-map.h"
#include "gateway/error-map.h"
#include "gateway/quote.h"

#include <string.h>

/* clang-format off */
G_DEFINE_QUARK (prl-vector-error-quark, prl_vector_error)
/* clang-format on */

/* ---------------------------------------------------------------- lifetime */

static void
step_free (PrlVectorStep *s)
{
  if (s == NULL)
    return;
  g_free (s->name);
  if (s->kind == PRL_VECTOR_STEP_EVENT) {
    switch (s->event.kind) {
    case PRL_EVENT_SIP_MESSAGE:
      prl_sip_message_free (s->event.sip);
      break;
    case PRL_EVENT_XMPP_MESSAGE:
      prl_xmpp_message_free (s->event.xmpp);
      break;
    case PRL_EVENT_SIP_RESPONSE:
      g_free (s->event.response.reason);
      g_free (s->event.response.contact);
      break;
    case PRL_EVENT_XMPP_LINK:
    case PRL_EVENT_TIMER:
    case PRL_EVENT_TICK:
    case PRL_EVENT_STORE_STATE:
      break;
    case PRL_EVENT_XMPP_PRESENCE:
      g_free (s->event.presence.from);
      g_free (s->event.presence.to);
      break;
    case PRL_EVENT_SIP_REGISTER:
      g_free (s->event.reg.aor);
      g_free (s->event.reg.contact);
      break;
    case PRL_EVENT_STORE_RESULT:
      g_clear_pointer (&s->event.store.messages, g_ptr_array_unref);
      break;
    case PRL_EVENT_FLUSH:
      g_free (s->event.owner);
      break;
    case PRL_EVENT_CHAT_INVITE:
    case PRL_EVENT_CHAT_OPENED:
    case PRL_EVENT_CHAT_FAILED:
    case PRL_EVENT_CHAT_CLOSED:
    case PRL_EVENT_CHAT_RECV:
    case PRL_EVENT_CHAT_SENT:
    case PRL_EVENT_CHAT_END:
      prl_sip_message_free (s->event.chat.invite);
      g_free (s->event.chat.reason);
      g_free (s->event.chat.content_type);
      g_free (s->event.chat.body);
      g_free (s->event.chat.message_id);
      break;
    }
  }
  g_free (s->from);
  g_free (s->to);
  g_free (s->condition);
  g_free (s->jid);
  g_free (s->address);
  g_free (s->expected);
  g_free (s);
}

void
prl_vector_free (PrlVector *v)
{
  if (v == NULL)
    return;
  g_free (v->name);
  g_free (v->title);
  prl_core_config_clear (&v->config);
  g_clear_pointer (&v->steps, g_ptr_array_unref);
  g_free (v);
}

/* ---------------------------------------------------------------- parse state */

typedef struct {
  const char *name;
  guint line;
  gsize budget; /* bytes values may still expand to */
  PrlVector *vector;
  gboolean has_domain;
  gboolean has_prefix;
  PrlVectorStep *step; /* open step, or NULL */
  GHashTable *fields;  /* field name -> GBytes*, of the open step */
  GPtrArray *messages; /* GBytes*: the repeatable `message:` fields of a store.result */
  GString *expected;   /* expected lines of the open step */
} Parser;

static gboolean G_GNUC_PRINTF (3, 4) fail (Parser *p, GError **error, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *msg = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, PRL_VECTOR_ERROR, PRL_VECTOR_ERROR_SYNTAX, "%s:%u: %s", p->name, p->line,
               msg);
  return FALSE;
}

/* ---------------------------------------------------------------- values */

static int
hex_value (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static const char *
skip_blanks (const char *s, const char *end)
{
  while (s < end && (*s == ' ' || *s == '\t'))
    s++;
  return s;
}

/* Reads a quoted string at *@s (which points at '"') into @out. */
static gboolean
read_string (Parser *p, const char **s, const char *end, GByteArray *out, GError **error)
{
  const char *c = *s + 1;
  while (c < end && *c != '"') {
    if (*c != '\\') {
      g_byte_array_append (out, (const guint8 *)c, 1);
      c++;
      continue;
    }
    if (++c >= end)
      break;
    guint8 byte;
    switch (*c) {
    case '\\':
      byte = '\\';
      break;
    case '"':
      byte = '"';
      break;
    case 'n':
      byte = '\n';
      break;
    case 'r':
      byte = '\r';
      break;
    case 't':
      byte = '\t';
      break;
    case '0':
      byte = '\0';
      break;
    case 'x': {
      int hi = c + 1 < end ? hex_value (c[1]) : -1;
      int lo = c + 2 < end ? hex_value (c[2]) : -1;
      if (hi < 0 || lo < 0)
        return fail (p, error, "\\x needs two hex digits");
      byte = (guint8)(hi * 16 + lo);
      c += 2;
      break;
    }
    case 'u': {
      if (c + 1 >= end || c[1] != '{')
        return fail (p, error, "\\u needs {HEX}");
      gunichar cp = 0;
      int n = 0;
      for (c += 2; c < end && *c != '}'; c++, n++) {
        int h = hex_value (*c);
        if (h < 0 || n >= 6)
          return fail (p, error, "bad \\u{} code point");
        cp = cp * 16 + (gunichar)h;
      }
      if (c >= end || n == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return fail (p, error, "bad \\u{} code point");
      char buf[6];
      gint len = g_unichar_to_utf8 (cp, buf);
      g_byte_array_append (out, (const guint8 *)buf, (guint)len);
      c++;
      continue;
    }
    default:
      return fail (p, error, "unknown escape \\%c", *c);
    }
    g_byte_array_append (out, &byte, 1);
    c++;
  }
  if (c >= end)
    return fail (p, error, "unterminated string");
  *s = c + 1;
  return TRUE;
}

/* Decodes a value: a literal, or (when it starts with '"' or "repeat(") an expression of
 * `"..."`/repeat(N, "...") terms joined by " + ". */
static GBytes *
parse_value (Parser *p, const char *s, const char *end, GError **error)
{
  s = skip_blanks (s, end);
  while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
    end--;
  g_autoptr (GByteArray) out = g_byte_array_new ();
  gboolean is_expr = s < end && (*s == '"' || (end - s > 7 && strncmp (s, "repeat(", 7) == 0));
  if (!is_expr) {
    g_byte_array_append (out, (const guint8 *)s, (guint)(end - s));
  } else {
    for (;;) {
      s = skip_blanks (s, end);
      if (s < end && *s == '"') {
        if (!read_string (p, &s, end, out, error))
          return NULL;
      } else if (end - s > 7 && strncmp (s, "repeat(", 7) == 0) {
        s += 7;
        s = skip_blanks (s, end);
        guint64 n = 0;
        const char *digits = s;
        while (s < end && g_ascii_isdigit (*s) && n <= PRL_VECTOR_MAX_BYTES)
          n = n * 10 + (guint64)(*s++ - '0');
        if (s == digits || n > PRL_VECTOR_MAX_BYTES)
          return fail (p, error, "repeat() needs a count up to %u", PRL_VECTOR_MAX_BYTES), NULL;
        s = skip_blanks (s, end);
        if (s >= end || *s != ',')
          return fail (p, error, "repeat(N, \"...\") expected"), NULL;
        s = skip_blanks (s + 1, end);
        if (s >= end || *s != '"')
          return fail (p, error, "repeat(N, \"...\") expected"), NULL;
        g_autoptr (GByteArray) unit = g_byte_array_new ();
        if (!read_string (p, &s, end, unit, error))
          return NULL;
        s = skip_blanks (s, end);
        if (s >= end || *s != ')')
          return fail (p, error, "missing ) after repeat"), NULL;
        s++;
        if (unit->len > 0 && n > (p->budget - out->len) / unit->len)
          goto too_big;
        for (guint64 i = 0; i < n; i++)
          g_byte_array_append (out, unit->data, unit->len);
      } else {
        return fail (p, error, "expected a quoted string or repeat()"), NULL;
      }
      if (out->len > p->budget)
        goto too_big;
      s = skip_blanks (s, end);
      if (s == end)
        break;
      if (*s != '+')
        return fail (p, error, "expected + between terms"), NULL;
      s++;
    }
  }
  if (out->len > p->budget)
    goto too_big;
  p->budget -= out->len;
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));

too_big:
  g_set_error (error, PRL_VECTOR_ERROR, PRL_VECTOR_ERROR_TOO_BIG, "%s:%u: values exceed %u bytes",
               p->name, p->line, PRL_VECTOR_MAX_BYTES);
  return NULL;
}

/* A value as a C string; NULs cannot be represented. */
static gboolean
bytes_to_string (Parser *p, GBytes *b, const char *field, char **out, GError **error)
{
  gsize len = 0;
  const char *data = g_bytes_get_data (b, &len);
  if (len > 0 && memchr (data, '\0', len) != NULL)
    return fail (p, error, "field %s cannot hold a NUL byte", field);
  *out = g_strndup (data != NULL ? data : "", len);
  return TRUE;
}

static gboolean
parse_unsigned (Parser *p, const char *field, const char *s, guint64 max, guint64 *out,
                GError **error)
{
  if (!g_ascii_string_to_unsigned (s, 10, 0, max, out, NULL))
    return fail (p, error, "%s: not a number up to %" G_GUINT64_FORMAT ": %s", field, max, s);
  return TRUE;
}

static gboolean
parse_bool (Parser *p, const char *field, const char *s, gboolean *out, GError **error)
{
  if (g_ascii_strcasecmp (s, "true") == 0 || g_ascii_strcasecmp (s, "yes") == 0
      || strcmp (s, "1") == 0)
    *out = TRUE;
  else if (g_ascii_strcasecmp (s, "false") == 0 || g_ascii_strcasecmp (s, "no") == 0
           || strcmp (s, "0") == 0)
    *out = FALSE;
  else
    return fail (p, error, "%s: expected true/false, got %s", field, s);
  return TRUE;
}

/* ---------------------------------------------------------------- config */

static gboolean
parse_domain (Parser *p, const char *value, GError **error)
{
  g_auto (GStrv) words = g_strsplit_set (value, " \t", -1);
  g_autoptr (GPtrArray) w = g_ptr_array_new ();
  for (guint i = 0; words[i] != NULL; i++)
    if (*words[i] != '\0')
      g_ptr_array_add (w, words[i]);
  if (w->len == 2 && strcmp (g_ptr_array_index (w, 1), "direct") == 0)
    prl_core_config_add_domain (&p->vector->config, g_ptr_array_index (w, 0), PRL_ADDR_DIRECT,
                                NULL);
  else if (w->len == 3 && strcmp (g_ptr_array_index (w, 1), "escaped") == 0)
    prl_core_config_add_domain (&p->vector->config, g_ptr_array_index (w, 0), PRL_ADDR_ESCAPED,
                                g_ptr_array_index (w, 2));
  else
    return fail (p, error, "domain = XMPP-DOMAIN direct | XMPP-DOMAIN escaped SIP-DOMAIN");
  p->has_domain = TRUE;
  return TRUE;
}

static GStrv
parse_list (const char *value)
{
  g_auto (GStrv) items = g_strsplit_set (value, ",; \t", -1);
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  guint n = 0;
  for (guint i = 0; items[i] != NULL; i++) {
    if (*items[i] != '\0') {
      g_strv_builder_add (b, items[i]);
      n++;
    }
  }
  return n > 0 ? g_strv_builder_end (b) : NULL;
}

static gboolean
parse_config (Parser *p, const char *line, const char *end, GError **error)
{
  const char *eq = memchr (line, '=', (gsize)(end - line));
  if (eq == NULL)
    return fail (p, error, "config KEY = VALUE expected");
  const char *k = skip_blanks (line, eq);
  const char *kend = eq;
  while (kend > k && (kend[-1] == ' ' || kend[-1] == '\t'))
    kend--;
  g_autofree char *key = g_strndup (k, (gsize)(kend - k));
  g_autoptr (GBytes) bytes = parse_value (p, eq + 1, end, error);
  if (bytes == NULL)
    return FALSE;
  g_autofree char *value = NULL;
  if (!bytes_to_string (p, bytes, key, &value, error))
    return FALSE;

  PrlCoreConfig *c = &p->vector->config;
  guint64 n = 0;
  if (strcmp (key, "domain") == 0)
    return parse_domain (p, value, error);
  if (strcmp (key, "id_prefix") == 0) {
    g_free (c->id_prefix);
    c->id_prefix = g_steal_pointer (&value);
    p->has_prefix = TRUE;
    return TRUE;
  }
  if (strcmp (key, "part_marker") == 0) {
    g_free (c->part_marker);
    c->part_marker = g_steal_pointer (&value);
    return TRUE;
  }
  if (strcmp (key, "xmpp_domains") == 0) {
    g_strfreev (c->xmpp_domains);
    c->xmpp_domains = parse_list (value);
    return TRUE;
  }
  if (strcmp (key, "sip_domains") == 0) {
    g_strfreev (c->sip_domains);
    c->sip_domains = parse_list (value);
    return TRUE;
  }
  if (strcmp (key, "outbound_udp") == 0)
    return parse_bool (p, key, value, &c->outbound_udp, error);
  if (strcmp (key, "chunk_over_tcp") == 0)
    return parse_bool (p, key, value, &c->chunk_over_tcp, error);
  if (strcmp (key, "offline_enabled") == 0)
    return parse_bool (p, key, value, &c->offline_enabled, error);
  if (strcmp (key, "reg_event") == 0)
    return parse_bool (p, key, value, &c->reg_event, error);
  if (strcmp (key, "chat_enabled") == 0)
    return parse_bool (p, key, value, &c->chat_enabled, error);
  if (strcmp (key, "chat_cpim") == 0)
    return parse_bool (p, key, value, &c->chat_cpim, error);
  if (strcmp (key, "chat_offline_notice") == 0) {
    g_free (c->chat_offline_notice);
    c->chat_offline_notice = g_steal_pointer (&value);
    return TRUE;
  }
  if (strcmp (key, "offline_push") == 0) {
    if (g_strcmp0 (value, "message") == 0)
      c->offline_push = PRL_OFFLINE_PUSH_MESSAGE;
    else if (g_strcmp0 (value, "msrp") == 0)
      c->offline_push = PRL_OFFLINE_PUSH_MSRP;
    else if (g_strcmp0 (value, "msrp-sip") == 0)
      c->offline_push = PRL_OFFLINE_PUSH_MSRP_SIP;
    else
      return fail (p, error, "offline_push: message, msrp or msrp-sip");
    return TRUE;
  }
  if (strcmp (key, "imdn") == 0)
    return parse_bool (p, key, value, &c->imdn, error);
  if (strcmp (key, "iscomposing") == 0)
    return parse_bool (p, key, value, &c->iscomposing, error);
  if (strcmp (key, "stored_notice") == 0) {
    g_free (c->stored_notice);
    c->stored_notice = g_steal_pointer (&value);
    return TRUE;
  }

  struct {
    const char *key;
    gsize *size;
    guint *uint;
  } numbers[] = {
    { "max_message_bytes", &c->max_message_bytes, NULL },
    { "udp_request_limit", &c->udp_request_limit, NULL },
    { "sip_header_reserve", &c->sip_header_reserve, NULL },
    { "bounce_window_ms", NULL, &c->bounce_window_ms },
    { "retry_after_s", NULL, &c->retry_after_s },
    { "max_pending", NULL, &c->max_pending },
    { "max_queued", NULL, &c->max_queued },
    { "sip_window", NULL, &c->sip_window },
    { "offline_expiry_s", NULL, &c->offline_expiry_s },
    { "flush_batch", NULL, &c->flush_batch },
    { "flush_lease_ms", NULL, &c->flush_lease_ms },
    { "flush_recheck_s", NULL, &c->flush_recheck_s },
    { "expire_interval_s", NULL, &c->expire_interval_s },
    { "offline_retry_s", NULL, &c->offline_retry_s },
    { "flush_window", NULL, &c->flush_window },
    { "flush_window_xmpp", NULL, &c->flush_window_xmpp },
    { "chat_idle_timeout_s", NULL, &c->chat_idle_timeout_s },
    { "chat_queue_max", NULL, &c->chat_queue_max },
    { "chat_max_sessions", NULL, &c->chat_max_sessions },
    { "chat_fallback_s", NULL, &c->chat_fallback_s },
    { "chat_composing_refresh_s", NULL, &c->chat_composing_refresh_s },
    { "caps_cache_size", NULL, &c->caps_cache_size },
    { "caps_cache_ttl_s", NULL, &c->caps_cache_ttl_s },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (numbers); i++) {
    if (strcmp (key, numbers[i].key) != 0)
      continue;
    if (!parse_unsigned (p, key, value, numbers[i].size != NULL ? G_MAXSIZE : G_MAXUINT, &n, error))
      return FALSE;
    if (numbers[i].size != NULL)
      *numbers[i].size = (gsize)n;
    else
      *numbers[i].uint = (guint)n;
    return TRUE;
  }
  return fail (p, error, "unknown config key %s", key);
}

/* ---------------------------------------------------------------- steps */

static const struct {
  const char *name;
  PrlVectorStepKind kind;
  PrlEventKind event;
  const char *fields; /* allowed field names, space separated */
} step_kinds[] = {
  { "sip.message", PRL_VECTOR_STEP_EVENT, PRL_EVENT_SIP_MESSAGE,
    " now txn transport ruri from to call-id cseq subject content-type content-language date "
    "content-encoding body " },
  { "sip.response", PRL_VECTOR_STEP_EVENT, PRL_EVENT_SIP_RESPONSE,
    " now request status reason contact " },
  { "xmpp.message", PRL_VECTOR_STEP_EVENT, PRL_EVENT_XMPP_MESSAGE,
    " now from to id type lang subject thread body chat-state payload error-type "
    "error-condition error-text error-detail receipt-request receipt-id markable displayed-id "
    "origin-id " },
  { "xmpp.link", PRL_VECTOR_STEP_EVENT, PRL_EVENT_XMPP_LINK, " now state " },
  { "timer", PRL_VECTOR_STEP_EVENT, PRL_EVENT_TIMER, " now id " },
  { "tick", PRL_VECTOR_STEP_EVENT, PRL_EVENT_TICK, " now " },
  { "xmpp.presence", PRL_VECTOR_STEP_EVENT, PRL_EVENT_XMPP_PRESENCE, " now from to type " },
  { "sip.register", PRL_VECTOR_STEP_EVENT, PRL_EVENT_SIP_REGISTER, " now aor contact expires " },
  { "store.state", PRL_VECTOR_STEP_EVENT, PRL_EVENT_STORE_STATE, " now state " },
  { "flush", PRL_VECTOR_STEP_EVENT, PRL_EVENT_FLUSH, " now owner " },
  { "store.result", PRL_VECTOR_STEP_EVENT, PRL_EVENT_STORE_RESULT,
    " now request outcome count message " },
  { "chat.invite", PRL_VECTOR_STEP_EVENT, PRL_EVENT_CHAT_INVITE,
    " now txn transport ruri from to call-id cseq subject peer-cpim peer-composing " },
  { "chat.opened", PRL_VECTOR_STEP_EVENT, PRL_EVENT_CHAT_OPENED,
    " now id peer-cpim peer-composing " },
  { "chat.failed", PRL_VECTOR_STEP_EVENT, PRL_EVENT_CHAT_FAILED, " now id status reason " },
  { "chat.closed", PRL_VECTOR_STEP_EVENT, PRL_EVENT_CHAT_CLOSED, " now id reason " },
  { "chat.recv", PRL_VECTOR_STEP_EVENT, PRL_EVENT_CHAT_RECV,
    " now id content-type body message-id success-report " },
  { "chat.sent", PRL_VECTOR_STEP_EVENT, PRL_EVENT_CHAT_SENT, " now token status report " },
  { "chat.end", PRL_VECTOR_STEP_EVENT, PRL_EVENT_CHAT_END, " now id " },
  { "addr.sip-to-xmpp", PRL_VECTOR_STEP_ADDR_SIP_TO_XMPP, 0, " from to " },
  { "addr.xmpp-to-sip", PRL_VECTOR_STEP_ADDR_XMPP_TO_SIP, 0, " from to " },
  { "error.sip-to-xmpp", PRL_VECTOR_STEP_ERROR_SIP_TO_XMPP, 0, " status " },
  { "error.xmpp-to-sip", PRL_VECTOR_STEP_ERROR_XMPP_TO_SIP, 0, " condition jid address " },
};

/* Field @name as a C string (NULL if absent); FALSE on error. */
static gboolean
field_str (Parser *p, const char *name, char **out, GError **error)
{
  *out = NULL;
  GBytes *b = g_hash_table_lookup (p->fields, name);
  return b == NULL || bytes_to_string (p, b, name, out, error);
}

static gboolean
field_num (Parser *p, const char *name, guint64 max, guint64 *out, GError **error)
{
  g_autofree char *s = NULL;
  *out = 0;
  if (!field_str (p, name, &s, error))
    return FALSE;
  return s == NULL || parse_unsigned (p, name, s, max, out, error);
}

static gboolean
field_flag (Parser *p, const char *name, gboolean *out, GError **error)
{
  g_autofree char *s = NULL;
  *out = FALSE;
  if (!field_str (p, name, &s, error))
    return FALSE;
  return s == NULL || parse_bool (p, name, s, out, error);
}

static gboolean
build_sip_message (Parser *p, PrlVectorStep *step, GError **error)
{
  PrlSipMessage *m = step->event.sip = prl_sip_message_new ();
  guint64 n = 0;
  g_autofree char *transport = NULL;
  if (!field_num (p, "txn", G_MAXUINT64, &m->txn, error)
      || !field_num (p, "cseq", G_MAXUINT32, &n, error)
      || !field_str (p, "transport", &transport, error)
      || !field_str (p, "ruri", &m->request_uri, error) || !field_str (p, "from", &m->from, error)
      || !field_str (p, "to", &m->to, error) || !field_str (p, "call-id", &m->call_id, error)
      || !field_str (p, "subject", &m->subject, error)
      || !field_str (p, "content-type", &m->content_type, error)
      || !field_str (p, "content-language", &m->content_language, error)
      || !field_str (p, "date", &m->date, error)
      || !field_str (p, "content-encoding", &m->content_encoding, error))
    return FALSE;
  m->cseq = (guint32)n;
  if (transport == NULL || strcmp (transport, "udp") == 0)
    m->is_udp = TRUE;
  else if (strcmp (transport, "tcp") != 0)
    return fail (p, error, "transport: udp or tcp");
  GBytes *body = g_hash_table_lookup (p->fields, "body");
  if (body != NULL) {
    gsize len = 0;
    const char *data = g_bytes_get_data (body, &len);
    prl_sip_message_set_body (m, data != NULL ? data : "", len);
  }
  return TRUE;
}

static gboolean
build_xmpp_message (Parser *p, PrlVectorStep *step, GError **error)
{
  PrlXmppMessage *m = step->event.xmpp = prl_xmpp_message_new ();
  /* chat-state: yes/no (some XEP-0085 element) or the element's name */
  g_autofree char *state = NULL;
  if (!field_str (p, "chat-state", &state, error))
    return FALSE;
  static const char *const states[] = { "active", "composing", "paused", "inactive", "gone" };
  for (gsize i = 0; state != NULL && i < G_N_ELEMENTS (states); i++)
    if (strcmp (state, states[i]) == 0) {
      m->chat_state = g_strdup (state);
      m->has_chat_state = TRUE;
    }
  if (state != NULL && m->chat_state == NULL
      && !parse_bool (p, "chat-state", state, &m->has_chat_state, error))
    return FALSE;
  return field_flag (p, "receipt-request", &m->receipt_request, error)
         && field_flag (p, "markable", &m->markable, error)
         && field_str (p, "receipt-id", &m->receipt_id, error)
         && field_str (p, "displayed-id", &m->displayed_id, error)
         && field_str (p, "origin-id", &m->origin_id, error)
         && field_str (p, "from", &m->from, error) && field_str (p, "to", &m->to, error)
         && field_str (p, "id", &m->id, error) && field_str (p, "type", &m->type, error)
         && field_str (p, "lang", &m->lang, error) && field_str (p, "subject", &m->subject, error)
         && field_str (p, "thread", &m->thread, error) && field_str (p, "body", &m->body, error)
         && field_flag (p, "payload", &m->has_payload, error)
         && field_str (p, "error-type", &m->error_type, error)
         && field_str (p, "error-condition", &m->error_condition, error)
         && field_str (p, "error-text", &m->error_text, error)
         && field_str (p, "error-detail", &m->error_detail, error);
}

static const struct {
  const char *name;
  PrlStoreOutcome outcome;
} outcomes[] = {
  { "ok", PRL_STORE_OK },         { "unavailable", PRL_STORE_UNAVAILABLE },
  { "quota", PRL_STORE_QUOTA },   { "full", PRL_STORE_FULL },
  { "leased", PRL_STORE_LEASED },
};

static gboolean
set_stored_field (Parser *p, PrlStoredMessage *m, const char *key, char *value, GError **error)
{
  struct {
    const char *key;
    char **field;
  } strings[] = {
    { "id", &m->id },
    { "owner", &m->owner },
    { "to", &m->to },
    { "original-to", &m->original_to },
    { "from", &m->from },
    { "kind", &m->kind },
    { "content-type", &m->content_type },
    { "lang", &m->lang },
    { "subject", &m->subject },
    { "thread", &m->thread },
    { "origin", &m->origin },
    { "original-id", &m->original_id },
    { "body", &m->body },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (strings); i++) {
    if (strcmp (key, strings[i].key) != 0)
      continue;
    if (*strings[i].field != NULL)
      return fail (p, error, "message: %s given twice", key);
    if (strings[i].field == &m->body)
      m->body_len = strlen (value);
    *strings[i].field = g_strdup (value);
    return TRUE;
  }
  gint64 *times[] = { &m->received_us, &m->expires_us };
  const char *time_keys[] = { "received", "expires" };
  for (gsize i = 0; i < G_N_ELEMENTS (times); i++) {
    if (strcmp (key, time_keys[i]) != 0)
      continue;
    if (!g_ascii_string_to_signed (value, 10, 0, G_MAXINT64, times[i], NULL))
      return fail (p, error, "message: %s: microseconds expected", key);
    return TRUE;
  }
  return fail (p, error, "message: unknown key %s", key);
}

/* One `message:` line: KEY=VALUE pairs separated by blanks; a VALUE is a quoted string (the
 * escapes of "Values") or a bare word. */
static PrlStoredMessage *
parse_stored (Parser *p, GBytes *line, GError **error)
{
  gsize len = 0;
  const char *s = g_bytes_get_data (line, &len);
  const char *end = s + len;
  g_autoptr (PrlStoredMessage) m = prl_stored_message_new ();
  if (s != NULL && memchr (s, '\0', len) != NULL)
    return fail (p, error, "message: NUL byte"), NULL;
  for (s = skip_blanks (s, end); s != NULL && s < end; s = skip_blanks (s, end)) {
    const char *eq = s;
    while (eq < end && *eq != '=' && *eq != ' ' && *eq != '\t')
      eq++;
    if (eq >= end || *eq != '=' || eq == s)
      return fail (p, error, "message: KEY=VALUE expected"), NULL;
    g_autofree char *key = g_strndup (s, (gsize)(eq - s));
    s = eq + 1;
    g_autoptr (GByteArray) value = g_byte_array_new ();
    if (s < end && *s == '"') {
      if (!read_string (p, &s, end, value, error))
        return NULL;
    } else {
      const char *v = s;
      while (s < end && *s != ' ' && *s != '\t')
        s++;
      g_byte_array_append (value, (const guint8 *)v, (guint)(s - v));
    }
    if (memchr (value->data, '\0', value->len) != NULL)
      return fail (p, error, "message: %s cannot hold a NUL byte", key), NULL;
    g_autofree char *text = g_strndup ((const char *)value->data, value->len);
    if (!set_stored_field (p, m, key, text, error))
      return NULL;
  }
  return g_steal_pointer (&m);
}

static gboolean
build_store_result (Parser *p, PrlVectorStep *step, GError **error)
{
  PrlStoreResult *r = &step->event.store;
  g_autofree char *outcome = NULL;
  if (g_hash_table_lookup (p->fields, "request") == NULL)
    return fail (p, error, "store.result needs request");
  if (!field_num (p, "request", G_MAXUINT64, &r->request, error)
      || !field_num (p, "count", G_MAXUINT64, &r->count, error)
      || !field_str (p, "outcome", &outcome, error))
    return FALSE;
  gboolean found = FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (outcomes) && !found; i++) {
    if (g_strcmp0 (outcome, outcomes[i].name) == 0) {
      r->outcome = outcomes[i].outcome;
      found = TRUE;
    }
  }
  if (!found)
    return fail (p, error, "store.result outcome: ok, unavailable, quota, full or leased");
  if (p->messages->len == 0)
    return TRUE;
  r->messages = g_ptr_array_new_with_free_func ((GDestroyNotify)prl_stored_message_free);
  for (guint i = 0; i < p->messages->len; i++) {
    PrlStoredMessage *m = parse_stored (p, g_ptr_array_index (p->messages, i), error);
    if (m == NULL)
      return FALSE;
    g_ptr_array_add (r->messages, m);
  }
  return TRUE;
}

/* chat.* steps (test-vectors/README.md "Chat steps"). */
static gboolean
build_chat (Parser *p, PrlVectorStep *step, GError **error)
{
  PrlChatEvent *e = &step->event.chat;
  guint64 n = 0;
  if (step->event.kind == PRL_EVENT_CHAT_INVITE) {
    /* the INVITE's fields are those of sip.message (no body: the SDP is the adapter's) */
    gboolean ok = build_sip_message (p, step, error);
    PrlSipMessage *invite = step->event.sip; /* .sip and .chat share the union */
    step->event.sip = NULL;
    e->invite = invite;
    if (!ok)
      return FALSE;
  }
  if (!field_num (p, "id", G_MAXUINT64, &e->id, error)
      || !field_num (p, "token", G_MAXUINT64, &e->token, error)
      || !field_num (p, "status", 999, &n, error) || !field_str (p, "reason", &e->reason, error)
      || !field_str (p, "content-type", &e->content_type, error)
      || !field_str (p, "message-id", &e->message_id, error)
      || !field_flag (p, "peer-cpim", &e->peer_cpim, error)
      || !field_flag (p, "peer-composing", &e->peer_composing, error)
      || !field_flag (p, "report", &e->report, error)
      || !field_flag (p, "success-report", &e->success_report, error))
    return FALSE;
  e->status = (guint)n;
  GBytes *body = g_hash_table_lookup (p->fields, "body");
  if (body != NULL) {
    gsize len = 0;
    const char *data = g_bytes_get_data (body, &len);
    e->body = g_malloc (len + 1);
    if (len > 0)
      memcpy (e->body, data, len);
    e->body[len] = '\0';
    e->len = len;
  }
  return TRUE;
}

static gboolean
build_step (Parser *p, PrlVectorStep *step, GError **error)
{
  g_autofree char *now = NULL;
  guint64 n = 0;
  switch (step->kind) {
  case PRL_VECTOR_STEP_ADDR_SIP_TO_XMPP:
  case PRL_VECTOR_STEP_ADDR_XMPP_TO_SIP:
    return field_str (p, "from", &step->from, error) && field_str (p, "to", &step->to, error);
  case PRL_VECTOR_STEP_ERROR_SIP_TO_XMPP:
    if (!field_num (p, "status", 999, &n, error))
      return FALSE;
    step->status = (guint)n;
    return TRUE;
  case PRL_VECTOR_STEP_ERROR_XMPP_TO_SIP:
    return field_str (p, "condition", &step->condition, error)
           && field_str (p, "jid", &step->jid, error)
           && field_str (p, "address", &step->address, error);
  case PRL_VECTOR_STEP_EVENT:
    break;
  }

  if (!field_str (p, "now", &now, error))
    return FALSE;
  if (now != NULL && !g_ascii_string_to_signed (now, 10, 0, G_MAXINT64, &step->event.now_us, NULL))
    return fail (p, error, "now: microseconds expected");

  switch (step->event.kind) {
  case PRL_EVENT_SIP_MESSAGE:
    return build_sip_message (p, step, error);
  case PRL_EVENT_XMPP_MESSAGE:
    return build_xmpp_message (p, step, error);
  case PRL_EVENT_SIP_RESPONSE:
    if (!field_num (p, "request", G_MAXUINT64, &step->event.response.request, error)
        || !field_num (p, "status", 999, &n, error)
        || !field_str (p, "reason", &step->event.response.reason, error)
        || !field_str (p, "contact", &step->event.response.contact, error))
      return FALSE;
    step->event.response.status = (guint)n;
    return TRUE;
  case PRL_EVENT_XMPP_LINK: {
    g_autofree char *state = NULL;
    if (!field_str (p, "state", &state, error))
      return FALSE;
    if (g_strcmp0 (state, "up") != 0 && g_strcmp0 (state, "down") != 0)
      return fail (p, error, "xmpp.link needs state: up or down");
    step->event.link_up = strcmp (state, "up") == 0;
    return TRUE;
  }
  case PRL_EVENT_TIMER:
    if (g_hash_table_lookup (p->fields, "id") == NULL)
      return fail (p, error, "timer needs id");
    return field_num (p, "id", G_MAXUINT64, &step->event.timer_id, error);
  case PRL_EVENT_TICK:
    return TRUE;
  case PRL_EVENT_XMPP_PRESENCE: {
    g_autofree char *type = NULL;
    if (!field_str (p, "from", &step->event.presence.from, error)
        || !field_str (p, "to", &step->event.presence.to, error)
        || !field_str (p, "type", &type, error))
      return FALSE;
    if (type != NULL && strcmp (type, "available") != 0 && strcmp (type, "unavailable") != 0)
      return fail (p, error, "xmpp.presence type: available or unavailable");
    step->event.presence.available = type == NULL || strcmp (type, "available") == 0;
    return TRUE;
  }
  case PRL_EVENT_SIP_REGISTER:
    if (!field_str (p, "aor", &step->event.reg.aor, error)
        || !field_str (p, "contact", &step->event.reg.contact, error)
        || !field_num (p, "expires", G_MAXUINT, &n, error))
      return FALSE;
    step->event.reg.expires = (guint)n;
    return TRUE;
  case PRL_EVENT_STORE_STATE: {
    g_autofree char *state = NULL;
    if (!field_str (p, "state", &state, error))
      return FALSE;
    if (g_strcmp0 (state, "up") != 0 && g_strcmp0 (state, "down") != 0)
      return fail (p, error, "store.state needs state: up or down");
    step->event.store_up = strcmp (state, "up") == 0;
    return TRUE;
  }
  case PRL_EVENT_STORE_RESULT:
    return build_store_result (p, step, error);
  case PRL_EVENT_FLUSH:
    if (!field_str (p, "owner", &step->event.owner, error))
      return FALSE;
    if (step->event.owner == NULL)
      return fail (p, error, "flush needs owner");
    return TRUE;
  case PRL_EVENT_CHAT_INVITE:
  case PRL_EVENT_CHAT_OPENED:
  case PRL_EVENT_CHAT_FAILED:
  case PRL_EVENT_CHAT_CLOSED:
  case PRL_EVENT_CHAT_RECV:
  case PRL_EVENT_CHAT_SENT:
  case PRL_EVENT_CHAT_END:
    return build_chat (p, step, error);
  }
  return TRUE;
}

/* Closes the open step: builds its input and stores its expected text. */
static gboolean
close_step (Parser *p, GError **error)
{
  if (p->step == NULL)
    return TRUE;
  PrlVectorStep *step = p->step;
  p->step = NULL;
  g_ptr_array_add (p->vector->steps, step);
  guint line = p->line;
  p->line = step->line;
  gboolean ok = build_step (p, step, error);
  p->line = line;
  step->expected = g_string_free (g_steal_pointer (&p->expected), FALSE);
  g_hash_table_remove_all (p->fields);
  g_ptr_array_set_size (p->messages, 0);
  return ok;
}

static gboolean
open_step (Parser *p, const char *s, const char *end, GError **error)
{
  if (!close_step (p, error))
    return FALSE;
  s = skip_blanks (s, end);
  while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
    end--;
  g_autofree char *name = g_strndup (s, (gsize)(end - s));
  for (gsize i = 0; i < G_N_ELEMENTS (step_kinds); i++) {
    if (strcmp (name, step_kinds[i].name) != 0)
      continue;
    PrlVectorStep *step = g_new0 (PrlVectorStep, 1);
    step->kind = step_kinds[i].kind;
    step->event.kind = step_kinds[i].event;
    step->name = g_steal_pointer (&name);
    step->line = p->line;
    p->step = step;
    p->expected = g_string_new (NULL);
    return TRUE;
  }
  return fail (p, error, "unknown step kind %s", name);
}

static const char *
allowed_fields (const PrlVectorStep *step)
{
  for (gsize i = 0; i < G_N_ELEMENTS (step_kinds); i++)
    if (strcmp (step->name, step_kinds[i].name) == 0)
      return step_kinds[i].fields;
  return "";
}

static gboolean
parse_field (Parser *p, const char *s, const char *end, GError **error)
{
  const char *colon = memchr (s, ':', (gsize)(end - s));
  if (colon == NULL)
    return fail (p, error, "expected field: value");
  g_autofree char *name = g_strndup (s, (gsize)(colon - s));
  g_strstrip (name);
  g_autofree char *padded = g_strdup_printf (" %s ", name);
  if (*name == '\0' || strstr (allowed_fields (p->step), padded) == NULL)
    return fail (p, error, "field %s not allowed in %s", name, p->step->name);
  gboolean repeatable = strcmp (name, "message") == 0; /* store.result: one per message */
  if (!repeatable && g_hash_table_contains (p->fields, name))
    return fail (p, error, "field %s given twice", name);
  GBytes *value = parse_value (p, colon + 1, end, error);
  if (value == NULL)
    return FALSE;
  if (repeatable) {
    g_ptr_array_add (p->messages, value);
    return TRUE;
  }
  g_hash_table_insert (p->fields, g_steal_pointer (&name), value);
  return TRUE;
}

static gboolean
parse_line (Parser *p, const char *s, const char *end, GError **error)
{
  const char *t = skip_blanks (s, end);
  if (t == end)
    return TRUE;
  if (*t == '#') {
    if (p->vector->title == NULL) {
      const char *c = skip_blanks (t + 1, end);
      p->vector->title = g_strndup (c, (gsize)(end - c));
    }
    return TRUE;
  }
  if (*t == '>')
    return open_step (p, t + 1, end, error);
  if (*t == '<') {
    if (p->step == NULL)
      return fail (p, error, "expected output outside a step");
    const char *c = t + 1;
    if (c < end && *c == ' ')
      c++;
    while (end > c && (end[-1] == ' ' || end[-1] == '\t'))
      end--;
    g_string_append_len (p->expected, c, end - c);
    g_string_append_c (p->expected, '\n');
    return TRUE;
  }
  if (end - t > 7 && strncmp (t, "config", 6) == 0 && (t[6] == ' ' || t[6] == '\t')) {
    if (p->step != NULL || p->vector->steps->len > 0)
      return fail (p, error, "config after the first step");
    return parse_config (p, t + 7, end, error);
  }
  if (p->step == NULL)
    return fail (p, error, "statement outside a step");
  if (p->expected->len > 0)
    return fail (p, error, "input field after expected output");
  return parse_field (p, t, end, error);
}

PrlVector *
prl_vector_load_data (const char *data, gsize len, const char *name, GError **error)
{
  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autoptr (PrlVector) v = g_new0 (PrlVector, 1);
  v->name = g_strdup (name != NULL ? name : "(data)");
  prl_core_config_init (&v->config);
  v->steps = g_ptr_array_new_with_free_func ((GDestroyNotify)step_free);

  Parser p = { .name = v->name, .budget = PRL_VECTOR_MAX_BYTES, .vector = v };
  p.fields = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_bytes_unref);
  p.messages = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
  gboolean ok = TRUE;
  const char *s = data, *end = data + len;
  while (ok && s < end) {
    const char *nl = memchr (s, '\n', (gsize)(end - s));
    const char *line_end = nl != NULL ? nl : end;
    const char *trimmed = line_end;
    if (trimmed > s && trimmed[-1] == '\r')
      trimmed--;
    p.line++;
    ok = parse_line (&p, s, trimmed, error);
    s = nl != NULL ? nl + 1 : end;
  }
  if (ok)
    ok = close_step (&p, error);
  if (p.step != NULL)
    step_free (p.step);
  if (p.expected != NULL)
    g_string_free (p.expected, TRUE);
  g_hash_table_unref (p.fields);
  g_ptr_array_unref (p.messages);
  if (!ok)
    return NULL;

  if (!p.has_domain) { /* README: the default domains */
    prl_core_config_add_domain (&v->config, "sip.example.net", PRL_ADDR_DIRECT, NULL);
    prl_core_config_add_domain (&v->config, "gw.example.com", PRL_ADDR_ESCAPED,
                                "sipgw.example.net");
  }
  if (!p.has_prefix) {
    g_free (v->config.id_prefix);
    v->config.id_prefix = g_strdup ("t");
  }
  return g_steal_pointer (&v);
}

PrlVector *
prl_vector_load (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_autofree char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &data, &len, error))
    return NULL;
  return prl_vector_load_data (data, len, path, error);
}

/* ---------------------------------------------------------------- running */

char *
prl_vector_probe (const PrlVector *v, const PrlVectorStep *step)
{
  g_return_val_if_fail (v != NULL && step != NULL, NULL);
  GString *out = g_string_new (NULL);
  g_autofree char *a = NULL;
  g_autofree char *b = NULL;
  PrlAddrError err = { 0 };
  gboolean ok;

  switch (step->kind) {
  case PRL_VECTOR_STEP_ADDR_SIP_TO_XMPP:
  case PRL_VECTOR_STEP_ADDR_XMPP_TO_SIP:
    ok = step->kind == PRL_VECTOR_STEP_ADDR_SIP_TO_XMPP
             ? prl_addr_sip_to_xmpp (&v->config, step->from, step->to, &a, &b, &err)
             : prl_addr_xmpp_to_sip (&v->config, step->from, step->to, &a, &b, &err);
    if (ok) {
      g_string_append (out, "from=");
      prl_quote_append (out, a != NULL ? a : "", a != NULL ? strlen (a) : 0);
      g_string_append (out, " to=");
      prl_quote_append (out, b != NULL ? b : "", b != NULL ? strlen (b) : 0);
    } else {
      g_string_append_printf (out, "error sip=%u xmpp=%s text=", err.sip_status,
                              err.xmpp_condition != NULL ? err.xmpp_condition : "?");
      prl_quote_append (out, err.text != NULL ? err.text : "",
                        err.text != NULL ? strlen (err.text) : 0);
    }
    break;
  case PRL_VECTOR_STEP_ERROR_SIP_TO_XMPP: {
    PrlXmppError x = prl_error_sip_to_xmpp (step->status);
    g_string_append_printf (out, "condition=%s type=%s", x.condition != NULL ? x.condition : "?",
                            x.type != NULL ? x.type : "?");
    break;
  }
  case PRL_VECTOR_STEP_ERROR_XMPP_TO_SIP: {
    gboolean full = step->jid != NULL && prl_addr_jid_is_full (step->jid);
    guint status = prl_error_xmpp_to_sip (step->condition != NULL ? step->condition : "", full,
                                          step->address != NULL);
    const char *reason = prl_sip_reason_phrase (status);
    g_string_append_printf (out, "status=%u reason=", status);
    prl_quote_append (out, reason != NULL ? reason : "", reason != NULL ? strlen (reason) : 0);
    break;
  }
  case PRL_VECTOR_STEP_EVENT:
    break;
  }
  g_string_append_c (out, '\n');
  return g_string_free (out, FALSE);
}

/* Appends a line diff of @want and @got (both '\n'-terminated lines) to @diff. */
static void
diff_lines (GString *diff, const char *want, const char *got)
{
  g_auto (GStrv) a = g_strsplit (want, "\n", -1);
  g_auto (GStrv) b = g_strsplit (got, "\n", -1);
  guint n = g_strv_length (a), m = g_strv_length (b);
  if (n > 0 && *a[n - 1] == '\0')
    n--;
  if (m > 0 && *b[m - 1] == '\0')
    m--;
  if ((guint64)n * m > 4000000) { /* too big for LCS: plain replace */
    for (guint i = 0; i < n; i++)
      g_string_append_printf (diff, "-%s\n", a[i]);
    for (guint j = 0; j < m; j++)
      g_string_append_printf (diff, "+%s\n", b[j]);
    return;
  }
  /* LCS table, then a walk from the top */
  guint *t = g_new0 (guint, (gsize)(n + 1) * (m + 1));
#define T(i, j) t[(gsize)(i) * (m + 1) + (j)]
  for (guint i = n; i-- > 0;)
    for (guint j = m; j-- > 0;)
      T (i, j) = strcmp (a[i], b[j]) == 0 ? T (i + 1, j + 1) + 1 : MAX (T (i + 1, j), T (i, j + 1));
  guint i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && strcmp (a[i], b[j]) == 0) {
      g_string_append_printf (diff, " %s\n", a[i]);
      i++;
      j++;
    } else if (j < m && (i == n || T (i, j + 1) >= T (i + 1, j))) {
      g_string_append_printf (diff, "+%s\n", b[j++]);
    } else {
      g_string_append_printf (diff, "-%s\n", a[i++]);
    }
  }
#undef T
  g_free (t);
}

gboolean
prl_vector_run (const PrlVector *v, PrlVectorObserver observer, gpointer user_data, char **diff)
{
  g_return_val_if_fail (v != NULL, FALSE);

  g_autoptr (PrlCore) core = prl_core_new (&v->config);
  g_autoptr (GString) report = g_string_new (NULL);
  gboolean ok = TRUE;
  for (guint i = 0; i < v->steps->len; i++) {
    const PrlVectorStep *step = g_ptr_array_index (v->steps, i);
    g_autofree char *got = NULL;
    if (step->kind == PRL_VECTOR_STEP_EVENT) {
      g_autoptr (GPtrArray) actions = prl_action_array_new ();
      prl_core_handle (core, &step->event, actions);
      got = prl_actions_to_text (actions);
      if (observer != NULL)
        observer (v, step, actions, user_data);
    } else {
      got = prl_vector_probe (v, step);
    }
    if (strcmp (got, step->expected) == 0)
      continue;
    if (ok)
      g_string_append_printf (report, "--- %s (expected)\n+++ %s (got)\n", v->name, v->name);
    ok = FALSE;
    g_string_append_printf (report, "@@ step %u: > %s (line %u) @@\n", i + 1, step->name,
                            step->line);
    diff_lines (report, step->expected, got);
  }
  if (diff != NULL)
    *diff = ok ? NULL : g_string_free (g_steal_pointer (&report), FALSE);
  return ok;
}
