/* sip/sdp.c - build and read the SDP of an MSRP session (sip/sdp.h). */
#include "sip/sdp.h"

#include <string.h>

#include <sofia-sip/sdp.h>
#include <sofia-sip/su_alloc.h>

void
prl_sdp_msrp_clear (PrlSdpMsrp *s)
{
  if (s == NULL)
    return;
  g_free (s->host);
  g_free (s->path);
  g_strfreev (s->accept_types);
  g_strfreev (s->accept_wrapped_types);
  g_free (s->setup);
  memset (s, 0, sizeof *s);
}

static const char *
find_attr (const sdp_attribute_t *media_attrs, const sdp_attribute_t *session_attrs,
           const char *name)
{
  sdp_attribute_t *a = sdp_attribute_find (media_attrs, name);
  if (a == NULL)
    a = sdp_attribute_find (session_attrs, name);
  return a != NULL ? (a->a_value != NULL ? a->a_value : "") : NULL;
}

static char **
split_words (const char *value)
{
  if (value == NULL)
    return NULL;
  GPtrArray *words = g_ptr_array_new ();
  g_auto (GStrv) parts = g_strsplit_set (value, " \t", -1);
  for (char **p = parts; *p != NULL; p++)
    if (**p != '\0')
      g_ptr_array_add (words, g_strdup (*p));
  g_ptr_array_add (words, NULL);
  return (char **)g_ptr_array_free (words, FALSE);
}

static gboolean
proto_is_msrp (const sdp_media_t *m)
{
  return m->m_proto_name != NULL
         && (g_ascii_strcasecmp (m->m_proto_name, "TCP/MSRP") == 0
             || g_ascii_strcasecmp (m->m_proto_name, "TCP/TLS/MSRP") == 0);
}

gboolean
prl_sdp_msrp_parse (const char *sdp, gsize len, PrlSdpMsrp *out, char **error)
{
  g_return_val_if_fail (out != NULL, FALSE);
  memset (out, 0, sizeof *out);
  if (sdp == NULL || len == 0 || len > 65536) {
    if (error != NULL)
      *error = g_strdup (sdp == NULL || len == 0 ? "empty SDP" : "SDP too large");
    return FALSE;
  }
  su_home_t *home = su_home_new (sizeof (su_home_t));
  sdp_parser_t *parser = sdp_parse (home, sdp, (issize_t)len, sdp_f_anynet);
  sdp_session_t *session = parser != NULL ? sdp_session (parser) : NULL;
  const char *problem = NULL;
  const sdp_media_t *m = NULL;
  if (session == NULL) {
    problem = parser != NULL && sdp_parsing_error (parser) != NULL ? sdp_parsing_error (parser)
                                                                 : "unparsable SDP";
  } else {
    for (m = session->sdp_media; m != NULL; m = m->m_next)
      if (m->m_type_name != NULL && g_ascii_strcasecmp (m->m_type_name, "message") == 0
          && proto_is_msrp (m))
        break;
    if (m == NULL)
      problem = "no m=message line over TCP/MSRP";
  }
  if (problem == NULL) {
    out->port = m->m_rejected ? 0 : (guint)MIN (m->m_port, 65535);
    const sdp_connection_t *c
        = m->m_connections != NULL ? m->m_connections : session->sdp_connection;
    if (c != NULL && c->c_address != NULL)
      out->host = g_strdup (c->c_address);
    const char *path = find_attr (m->m_attributes, NULL, "path");
    const char *types = find_attr (m->m_attributes, session->sdp_attributes, "accept-types");
    if (out->port != 0 && (path == NULL || *path == '\0'))
      problem = "no a=path";
    else if (out->port != 0 && (types == NULL || *types == '\0'))
      problem = "no a=accept-types";
    else {
      out->path = g_strdup (path);
      out->accept_types = split_words (types != NULL ? types : "");
      out->accept_wrapped_types = split_words (
          find_attr (m->m_attributes, session->sdp_attributes, "accept-wrapped-types"));
      const char *setup = find_attr (m->m_attributes, session->sdp_attributes, "setup");
      if (setup != NULL)
        out->setup = g_strdup (setup);
      const char *max = find_attr (m->m_attributes, session->sdp_attributes, "max-size");
      if (max != NULL)
        out->max_size = g_ascii_strtoull (max, NULL, 10);
      if (out->path != NULL && !g_utf8_validate (out->path, -1, NULL))
        problem = "a=path is not UTF-8";
    }
  }
  if (problem != NULL && error != NULL)
    *error = g_strdup (problem);
  if (parser != NULL)
    sdp_parser_free (parser);
  su_home_unref (home);
  if (problem != NULL)
    prl_sdp_msrp_clear (out);
  return problem == NULL;
}

char *
prl_sdp_msrp_build (const PrlSdpMsrp *s, guint64 session_id)
{
  g_return_val_if_fail (s != NULL && s->host != NULL && s->path != NULL, NULL);
  const char *ipver = strchr (s->host, ':') != NULL ? "IP6" : "IP4";
  GString *b = g_string_new (NULL);
  g_string_append_printf (b, "v=0\r\no=- %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
                          " IN %s %s\r\ns=-\r\nc=IN %s %s\r\nt=0 0\r\n",
                          session_id, session_id, ipver, s->host, ipver, s->host);
  g_string_append_printf (b, "m=message %u TCP/MSRP *\r\n", s->port);
  if (s->accept_types != NULL && s->accept_types[0] != NULL) {
    g_autofree char *types = g_strjoinv (" ", s->accept_types);
    g_string_append_printf (b, "a=accept-types:%s\r\n", types);
  }
  if (s->accept_wrapped_types != NULL && s->accept_wrapped_types[0] != NULL) {
    g_autofree char *types = g_strjoinv (" ", s->accept_wrapped_types);
    g_string_append_printf (b, "a=accept-wrapped-types:%s\r\n", types);
  }
  g_string_append_printf (b, "a=path:%s\r\n", s->path);
  if (s->setup != NULL)
    g_string_append_printf (b, "a=setup:%s\r\n", s->setup);
  if (s->max_size > 0)
    g_string_append_printf (b, "a=max-size:%" G_GUINT64_FORMAT "\r\n", s->max_size);
  return g_string_free (b, FALSE);
}

const char *
prl_sdp_msrp_answer_setup (const char *offer_setup)
{
  /* RFC 6135: answer actpass with passive (we take connections); answer active with passive
   * and passive with active; an offer without a=setup follows RFC 4975 (offerer active). */
  if (offer_setup != NULL && g_ascii_strcasecmp (offer_setup, "passive") == 0)
    return "active";
  return "passive";
}

gboolean
prl_sdp_msrp_offerer_active (const char *offer_setup, const char *answer_setup)
{
  if (answer_setup == NULL)
    return TRUE; /* RFC 4975 §5.4: without RFC 6135 the offerer connects */
  if (g_ascii_strcasecmp (answer_setup, "active") == 0)
    return FALSE;
  if (g_ascii_strcasecmp (answer_setup, "passive") == 0)
    return TRUE;
  /* "actpass" in an answer is invalid; treat as the RFC 4975 default */
  (void)offer_setup;
  return TRUE;
}

gboolean
prl_sdp_msrp_accepts (char *const *accept, const char *type)
{
  if (accept == NULL || type == NULL)
    return FALSE;
  gsize tlen = strcspn (type, ";");
  while (tlen > 0 && g_ascii_isspace (type[tlen - 1]))
    tlen--;
  const char *slash = memchr (type, '/', tlen);
  for (char *const *a = accept; *a != NULL; a++) {
    const char *t = *a;
    if (strcmp (t, "*") == 0)
      return TRUE;
    gsize alen = strlen (t);
    if (alen == tlen && g_ascii_strncasecmp (t, type, tlen) == 0)
      return TRUE;
    if (slash != NULL && alen >= 2 && t[alen - 1] == '*' && t[alen - 2] == '/'
        && (gsize)(slash - type) == alen - 2 && g_ascii_strncasecmp (t, type, alen - 2) == 0)
      return TRUE;
  }
  return FALSE;
}
