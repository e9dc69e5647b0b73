/* sip/codec.c - sofia sip_t <-> PrlSipMessage, and the checks on outgoing values.
 *
 * Pure conversion: no nua calls, no sockets, no clock. Strings are copied out of the msg_t
 * into GLib memory (repaired to UTF-8, control characters flattened to spaces), so nothing
 * here can outlive sofia's memory by accident; sofia's temporaries live in a local su_home
 * freed before returning. Used by sip/agent.c, sip/tests/test-codec.c and sip/fuzz/fuzz-sip.c.
 * Field choice: STANDARDS.md §2.2 (RFC 7572 Table 2) and gateway/message.h.
 */
#include "sip/codec.h"

#include <string.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/url.h>

/* clang-format off */
G_DEFINE_QUARK (prl-sip-error-quark, prl_sip_error)
/* clang-format on */

/* A temporary su_home for sofia's encoders, freed by g_auto. */
typedef struct {
  su_home_t home[1];
} TmpHome;

static void
tmp_home_clear (TmpHome *t)
{
  su_home_deinit (t->home);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (TmpHome, tmp_home_clear)

static void
tmp_home_init (TmpHome *t)
{
  memset (t, 0, sizeof *t);
  su_home_init (t->home);
}

/* Copies sofia text into GLib memory as UTF-8 with no control characters: received values
 * may be folded (CR LF SP) or carry raw bytes, and the core and the XMPP side expect one
 * clean line. Runs of whitespace/control characters become a single space. */
static char *
copy_text (const char *s)
{
  if (s == NULL)
    return NULL;
  /* Nearly every value (URIs, Call-ID, Content-Type) is already one clean line of printable
   * ASCII with single inner spaces: then the result is a plain copy, one allocation instead
   * of three. This runs several times per MESSAGE. */
  const guchar *q = (const guchar *)s;
  while (*q > 0x20 && *q < 0x7f)
    q++;
  while (*q == ' ' && q[1] > 0x20 && q[1] < 0x7f && q != (const guchar *)s) {
    for (q++; *q > 0x20 && *q < 0x7f; q++)
      ;
  }
  if (*q == '\0')
    return g_strdup (s);
  g_autofree char *valid = g_utf8_make_valid (s, -1);
  GString *out = g_string_sized_new (strlen (valid));
  gboolean in_space = FALSE;
  for (const char *p = valid; *p != '\0'; p++) {
    guchar c = (guchar)*p;
    if (c < 0x20 || c == 0x7f || c == ' ') {
      if (!in_space && out->len > 0)
        g_string_append_c (out, ' ');
      in_space = TRUE;
      continue;
    }
    in_space = FALSE;
    g_string_append_c (out, (char)c);
  }
  if (out->len > 0 && out->str[out->len - 1] == ' ')
    g_string_truncate (out, out->len - 1);
  return g_string_free (out, FALSE);
}

static char *
url_text (su_home_t *home, const url_t *url)
{
  char *s = url_as_string (home, url);
  return s != NULL && *s != '\0' ? copy_text (s) : NULL;
}

static char *
header_text (su_home_t *home, const sip_header_t *h)
{
  if (h == NULL)
    return NULL;
  char *s = sip_header_as_string (home, h);
  return s != NULL ? copy_text (s) : NULL;
}

static PrlSipMessage *
refuse (GError **error, const char *what)
{
  g_set_error (error, PRL_SIP_ERROR, PRL_SIP_ERROR_MALFORMED, "%s", what);
  return NULL;
}

PrlSipMessage *
prl_sip_codec_read (const sip_t *sip, GError **error)
{
  if (sip == NULL || sip->sip_request == NULL)
    return refuse (error, "Not a SIP request");
  sip_method_t method = sip->sip_request->rq_method;
  if (method != sip_method_message && method != sip_method_invite)
    return refuse (error, "Not a MESSAGE request");
  if (sip->sip_from == NULL)
    return refuse (error, "Missing or malformed From");
  if (sip->sip_to == NULL)
    return refuse (error, "Missing or malformed To");
  if (sip->sip_call_id == NULL || sip->sip_call_id->i_id == NULL || *sip->sip_call_id->i_id == '\0')
    return refuse (error, "Missing or malformed Call-ID");
  if (sip->sip_cseq == NULL)
    return refuse (error, "Missing or malformed CSeq");
  if (sip->sip_cseq->cs_method != method)
    return refuse (error, "CSeq method does not match the request");

  g_auto (TmpHome) tmp;
  tmp_home_init (&tmp);
  g_autoptr (PrlSipMessage) m = prl_sip_message_new ();

  m->request_uri = url_text (tmp.home, sip->sip_request->rq_url);
  m->from = url_text (tmp.home, sip->sip_from->a_url);
  m->to = url_text (tmp.home, sip->sip_to->a_url);
  if (m->request_uri == NULL)
    return refuse (error, "Malformed Request-URI");
  if (m->from == NULL)
    return refuse (error, "Missing or malformed From");
  if (m->to == NULL)
    return refuse (error, "Missing or malformed To");

  m->call_id = copy_text (sip->sip_call_id->i_id);
  m->cseq = sip->sip_cseq->cs_seq;
  if (sip->sip_subject != NULL)
    m->subject = copy_text (sip->sip_subject->g_string);
  m->content_type = header_text (tmp.home, (const sip_header_t *)sip->sip_content_type);
  m->content_language = header_text (tmp.home, (const sip_header_t *)sip->sip_content_language);
  m->date = header_text (tmp.home, (const sip_header_t *)sip->sip_date);
  /* the core decodes the body (mapping-docs/receipts.md §5: linphone deflates its IMDNs) */
  m->content_encoding
      = header_text (tmp.home, (const sip_header_t *)sip->sip_content_encoding);

  /* sofia's payload is a counted buffer, not NUL-terminated; set_body copies and adds one. */
  if (sip->sip_payload != NULL && sip->sip_payload->pl_data != NULL)
    prl_sip_message_set_body (m, sip->sip_payload->pl_data, sip->sip_payload->pl_len);

  const char *transport = sip->sip_via != NULL ? sip_via_transport (sip->sip_via) : NULL;
  m->is_udp = transport != NULL && g_ascii_strcasecmp (transport, "UDP") == 0;
  return g_steal_pointer (&m);
}

char *
prl_sip_codec_dedupe_key (const sip_t *sip)
{
  if (sip == NULL || sip->sip_call_id == NULL || sip->sip_call_id->i_id == NULL
      || sip->sip_cseq == NULL)
    return NULL;
  const char *tag
      = sip->sip_from != NULL && sip->sip_from->a_tag != NULL ? sip->sip_from->a_tag : "";
  return g_strdup_printf (
      "%s\n%" G_GUINT32_FORMAT "\n%s\n%s", sip->sip_call_id->i_id, (guint32)sip->sip_cseq->cs_seq,
      sip->sip_cseq->cs_method_name != NULL ? sip->sip_cseq->cs_method_name : "", tag);
}

static gboolean
invalid (GError **error, const char *what, const char *why)
{
  g_set_error (error, PRL_SIP_ERROR, PRL_SIP_ERROR_INVALID, "%s: %s", what, why);
  return FALSE;
}

gboolean
prl_sip_codec_check_text (const char *what, const char *value, GError **error)
{
  if (value == NULL)
    return TRUE;
  if (!g_utf8_validate (value, -1, NULL))
    return invalid (error, what, "not UTF-8");
  for (const char *p = value; *p != '\0'; p++) {
    guchar c = (guchar)*p;
    if (c == '\r' || c == '\n')
      return invalid (error, what, "contains CR or LF");
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return invalid (error, what, "contains a control character");
  }
  return TRUE;
}

/* prl_sip_codec_check_uri () with the caller's scratch @home. */
static gboolean
check_uri_in (su_home_t *home, const char *what, const char *uri, GError **error)
{
  if (uri == NULL || *uri == '\0')
    return invalid (error, what, "missing");
  if (!prl_sip_codec_check_text (what, uri, error))
    return FALSE;
  if (strpbrk (uri, "<> \t\"") != NULL)
    return invalid (error, what, "not a bare URI");
  url_t *url = url_make (home, uri);
  if (url == NULL)
    return invalid (error, what, "unparsable URI");
  if (url->url_type != url_sip && url->url_type != url_sips && url->url_type != url_tel)
    return invalid (error, what, "not a sip:, sips: or tel: URI");
  if (url->url_type != url_tel && (url->url_host == NULL || *url->url_host == '\0'))
    return invalid (error, what, "URI without host");
  if (url->url_user != NULL) { /* "bo%0D%0Ab": a line break once someone unescapes it */
    gsize n = strlen (url->url_user);
    g_autofree char *user = g_malloc (n + 1);
    gsize len = url_unescape_to (user, url->url_user, n);
    user[len] = '\0';
    if (strlen (user) != len || !prl_sip_codec_check_text (what, user, NULL))
      return invalid (error, what, "escaped control character in the user part");
  }
  return TRUE;
}

gboolean
prl_sip_codec_check_uri (const char *what, const char *uri, GError **error)
{
  g_auto (TmpHome) tmp;
  tmp_home_init (&tmp);
  return check_uri_in (tmp.home, what, uri, error);
}

/* RFC 3261 §25.1: callid = word [ "@" word ]. */
static gboolean
is_callid (const char *s)
{
  static const char word_extra[] = "-.!%*_+`'~()<>:\\\"/[]?{}";
  gboolean seen_at = FALSE;
  if (*s == '\0' || *s == '@')
    return FALSE;
  for (const char *p = s; *p != '\0'; p++) {
    if (*p == '@' && !seen_at && p[1] != '\0')
      seen_at = TRUE;
    else if (!g_ascii_isalnum (*p) && strchr (word_extra, *p) == NULL)
      return FALSE;
  }
  return TRUE;
}

gboolean
prl_sip_codec_check_outgoing (const PrlSipMessage *m, GError **error)
{
  g_return_val_if_fail (m != NULL, FALSE);
  if (m->request_uri == NULL && m->to == NULL)
    return invalid (error, "Request-URI", "missing");
  /* One scratch home for every parse below. To is nearly always the Request-URI itself:
   * the same string passed above, so it is not parsed twice. */
  g_auto (TmpHome) tmp;
  tmp_home_init (&tmp);
  if (m->request_uri != NULL && !check_uri_in (tmp.home, "Request-URI", m->request_uri, error))
    return FALSE;
  if (m->to != NULL && g_strcmp0 (m->to, m->request_uri) != 0
      && !check_uri_in (tmp.home, "To", m->to, error))
    return FALSE;
  if (!check_uri_in (tmp.home, "From", m->from, error))
    return FALSE;
  if (m->call_id != NULL && (!prl_sip_codec_check_text ("Call-ID", m->call_id, error)))
    return FALSE;
  if (m->call_id != NULL && !is_callid (m->call_id))
    return invalid (error, "Call-ID", "not a Call-ID word");
  if (!prl_sip_codec_check_text ("Subject", m->subject, error)
      || !prl_sip_codec_check_text ("Content-Type", m->content_type, error)
      || !prl_sip_codec_check_text ("Content-Language", m->content_language, error)
      || !prl_sip_codec_check_text ("Date", m->date, error))
    return FALSE;

  /* Let sofia's own parsers judge the structured headers: what they cannot parse, nua
   * would silently drop or mangle. */
  if (m->content_type != NULL && sip_content_type_make (tmp.home, m->content_type) == NULL)
    return invalid (error, "Content-Type", "unparsable");
  if (m->content_language != NULL
      && sip_content_language_make (tmp.home, m->content_language) == NULL)
    return invalid (error, "Content-Language", "unparsable");
  if (m->date != NULL && sip_date_make (tmp.home, m->date) == NULL)
    return invalid (error, "Date", "unparsable");
  return TRUE;
}

gboolean
prl_sip_codec_check_contact (const char *contact, GError **error)
{
  if (contact == NULL || *contact == '\0')
    return invalid (error, "Contact", "missing");
  if (!prl_sip_codec_check_text ("Contact", contact, error))
    return FALSE;
  g_auto (TmpHome) tmp;
  tmp_home_init (&tmp);
  sip_contact_t *c = sip_contact_make (tmp.home, contact);
  if (c == NULL || c->m_url->url_type == url_any)
    return invalid (error, "Contact", "unparsable");
  /* xmpp: too: a 301/302 mapped from an XMPP gone/redirect carries the new XMPP address
   * (RFC 7247 Table 2: MUST for 301; mapping-docs/page-mode.md §7). sofia knows no xmpp
   * type, so match the scheme by name. */
  gboolean is_xmpp = c->m_url->url_type == url_unknown && c->m_url->url_scheme != NULL
                     && g_ascii_strcasecmp (c->m_url->url_scheme, "xmpp") == 0;
  if (c->m_url->url_type != url_sip && c->m_url->url_type != url_sips
      && c->m_url->url_type != url_tel && !is_xmpp)
    return invalid (error, "Contact", "not a sip:, sips:, tel: or xmpp: URI");
  return TRUE;
}

char *
prl_sip_codec_reason (guint status, const char *reason)
{
  g_autofree char *clean = copy_text (reason);
  if (clean == NULL || *clean == '\0') {
    const char *std = sip_status_phrase ((int)status);
    return g_strdup (std != NULL ? std : "Unknown");
  }
  if (strlen (clean) > 128) {
    const char *end = clean + 128;
    /* cut at a character boundary */
    end = g_utf8_find_prev_char (clean, end + 1);
    clean[end - clean] = '\0';
  }
  return g_steal_pointer (&clean);
}
