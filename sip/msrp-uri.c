/* sip/msrp-uri.c - MSRP URI parsing and comparison (RFC 4975 §6, §6.1).
 *
 * MSRP-URI = ("msrp" / "msrps") "://" [userinfo "@"] host [":" port] ["/" session-id]
 *            ";" transport *(";" param); session-id = 1*(unreserved / "+" / "=" / "/").
 * Unknown URI parameters are accepted and not kept.
 */
#include "sip/msrp-uri.h"

#include <stdlib.h>
#include <string.h>

#include "sip/msrp.h"

void
prl_msrp_uri_free (PrlMsrpUri *uri)
{
  if (uri == NULL)
    return;
  g_free (uri->scheme);
  g_free (uri->host);
  g_free (uri->session_id);
  g_free (uri->transport);
  g_free (uri);
}

static gboolean
is_session_char (char c)
{
  return g_ascii_isalnum (c) || (c != '\0' && strchr ("-._~+=/", c) != NULL);
}

static gboolean
is_host_char (char c)
{
  return g_ascii_isalnum (c) || c == '-' || c == '.';
}

static PrlMsrpUri *
bad (GError **error, const char *text, const char *why)
{
  g_set_error (error, PRL_MSRP_ERROR, PRL_MSRP_ERROR_INVALID, "not an MSRP URI (%s): %s", why,
               text);
  return NULL;
}

PrlMsrpUri *
prl_msrp_uri_parse (const char *text, GError **error)
{
  g_autoptr (PrlMsrpUri) u = g_new0 (PrlMsrpUri, 1);
  const char *p = text;
  if (g_ascii_strncasecmp (p, "msrps://", 8) == 0) {
    u->scheme = g_strdup ("msrps");
    p += 8;
  } else if (g_ascii_strncasecmp (p, "msrp://", 7) == 0) {
    u->scheme = g_strdup ("msrp");
    p += 7;
  } else {
    return bad (error, text, "scheme");
  }
  /* authority ends at '/' or ';' */
  const char *auth_end = p + strcspn (p, "/;");
  const char *at = memchr (p, '@', (gsize)(auth_end - p));
  if (at != NULL)
    p = at + 1; /* userinfo is ignored */
  const char *host_end;
  if (*p == '[') {
    host_end = memchr (p, ']', (gsize)(auth_end - p));
    if (host_end == NULL || host_end == p + 1)
      return bad (error, text, "IPv6 host");
    for (const char *c = p + 1; c < host_end; c++)
      if (!g_ascii_isxdigit (*c) && *c != ':' && *c != '.')
        return bad (error, text, "IPv6 host");
    u->host = g_strndup (p + 1, (gsize)(host_end - p - 1));
    host_end++;
  } else {
    host_end = p;
    while (host_end < auth_end && *host_end != ':')
      host_end++;
    if (host_end == p)
      return bad (error, text, "host");
    for (const char *c = p; c < host_end; c++)
      if (!is_host_char (*c))
        return bad (error, text, "host");
    u->host = g_ascii_strdown (p, host_end - p);
  }
  if (host_end < auth_end) {
    if (*host_end != ':' || host_end + 1 == auth_end || auth_end - host_end > 6)
      return bad (error, text, "port");
    guint port = 0;
    for (const char *c = host_end + 1; c < auth_end; c++) {
      if (!g_ascii_isdigit (*c))
        return bad (error, text, "port");
      port = port * 10 + (guint)(*c - '0');
    }
    if (port == 0 || port > 65535)
      return bad (error, text, "port");
    u->port = port;
  }
  p = auth_end;
  if (*p == '/') {
    const char *s = ++p;
    while (is_session_char (*p))
      p++;
    if (p == s)
      return bad (error, text, "session-id");
    u->session_id = g_strndup (s, (gsize)(p - s));
  }
  if (*p != ';')
    return bad (error, text, "transport");
  p++;
  gsize tl = strcspn (p, ";");
  if (tl == 0)
    return bad (error, text, "transport");
  for (gsize i = 0; i < tl; i++)
    if (!g_ascii_isalnum (p[i]) && p[i] != '-' && p[i] != '.')
      return bad (error, text, "transport");
  u->transport = g_ascii_strdown (p, (gssize)tl);
  for (p += tl; *p != '\0'; p++)
    if ((guchar)*p <= 0x20 || (guchar)*p >= 0x7f)
      return bad (error, text, "parameter");
  return g_steal_pointer (&u);
}

gboolean
prl_msrp_uri_equal (const PrlMsrpUri *a, const PrlMsrpUri *b)
{
  return strcmp (a->scheme, b->scheme) == 0 && g_ascii_strcasecmp (a->host, b->host) == 0
         && a->port == b->port && g_strcmp0 (a->session_id, b->session_id) == 0
         && strcmp (a->transport, b->transport) == 0;
}

gboolean
prl_msrp_uri_text_equal (const char *a, const char *b)
{
  g_autoptr (PrlMsrpUri) ua = prl_msrp_uri_parse (a, NULL);
  g_autoptr (PrlMsrpUri) ub = prl_msrp_uri_parse (b, NULL);
  return ua != NULL && ub != NULL && prl_msrp_uri_equal (ua, ub);
}

char **
prl_msrp_path_split (const char *path, GError **error)
{
  g_auto (GStrv) parts = g_strsplit_set (path != NULL ? path : "", " \t", -1);
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; parts[i] != NULL; i++) {
    if (parts[i][0] == '\0')
      continue;
    g_autoptr (PrlMsrpUri) u = prl_msrp_uri_parse (parts[i], error);
    if (u == NULL)
      return NULL;
    g_ptr_array_add (out, g_strdup (parts[i]));
  }
  if (out->len == 0) {
    g_set_error (error, PRL_MSRP_ERROR, PRL_MSRP_ERROR_INVALID, "empty MSRP path");
    return NULL;
  }
  g_ptr_array_add (out, NULL);
  return (char **)g_ptr_array_free (g_steal_pointer (&out), FALSE);
}

char *
prl_msrp_path_last (const char *path)
{
  g_auto (GStrv) parts = g_strsplit_set (path != NULL ? path : "", " \t", -1);
  for (gint i = (gint)g_strv_length (parts) - 1; i >= 0; i--)
    if (parts[i][0] != '\0')
      return g_strdup (parts[i]);
  return NULL;
}

char *
prl_msrp_path_first (const char *path)
{
  g_auto (GStrv) parts = g_strsplit_set (path != NULL ? path : "", " \t", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (parts[i][0] != '\0')
      return g_strdup (parts[i]);
  return NULL;
}
