/* gateway/iscomposing.c - RFC 3994 isComposing documents (gateway/iscomposing.h). */
#include "gateway/iscomposing.h"

#include <string.h>

#define NS "urn:ietf:params:xml:ns:im-iscomposing"

typedef struct {
  int depth;
  gboolean root_ok;
  const char *in;   /* "state" or "refresh" while inside one at depth 2, else NULL */
  GString *state, *refresh;
} Reader;

static void
on_start (GMarkupParseContext *ctx, const char *name, const char **attr_names,
          const char **attr_values, gpointer data, GError **error)
{
  Reader *r = data;
  r->depth++;
  if (r->depth == 1) {
    const char *local = strchr (name, ':') != NULL ? strchr (name, ':') + 1 : name;
    gboolean ns_ok = FALSE;
    for (int i = 0; attr_names[i] != NULL; i++)
      if ((strcmp (attr_names[i], "xmlns") == 0 || g_str_has_prefix (attr_names[i], "xmlns:"))
          && strcmp (attr_values[i], NS) == 0)
        ns_ok = TRUE;
    r->root_ok = ns_ok && strcmp (local, "isComposing") == 0;
    if (!r->root_ok)
      g_set_error_literal (error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT, "not isComposing");
    return;
  }
  const char *local = strchr (name, ':') != NULL ? strchr (name, ':') + 1 : name;
  if (r->depth == 2 && strcmp (local, "state") == 0)
    r->in = "state";
  else if (r->depth == 2 && strcmp (local, "refresh") == 0)
    r->in = "refresh";
}

static void
on_end (GMarkupParseContext *ctx, const char *name, gpointer data, GError **error)
{
  Reader *r = data;
  if (r->depth == 2)
    r->in = NULL;
  r->depth--;
}

static void
on_text (GMarkupParseContext *ctx, const char *text, gsize len, gpointer data, GError **error)
{
  Reader *r = data;
  if (r->in == NULL)
    return;
  GString *s = strcmp (r->in, "state") == 0 ? r->state : r->refresh;
  if (s->len + len > 64) {
    g_set_error_literal (error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT, "value too long");
    return;
  }
  g_string_append_len (s, text, (gssize)len);
}

gboolean
prl_iscomposing_parse (const char *data, gsize len, gboolean *active, guint *refresh_s)
{
  if (data == NULL || len == 0 || len > PRL_ISCOMPOSING_MAX)
    return FALSE;
  static const GMarkupParser parser = { on_start, on_end, on_text, NULL, NULL };
  Reader r = { 0 };
  r.state = g_string_new (NULL);
  r.refresh = g_string_new (NULL);
  GMarkupParseContext *ctx = g_markup_parse_context_new (&parser, 0, &r, NULL);
  gboolean ok = g_markup_parse_context_parse (ctx, data, (gssize)len, NULL)
                && g_markup_parse_context_end_parse (ctx, NULL) && r.root_ok;
  g_markup_parse_context_free (ctx);
  if (ok) {
    g_strstrip (r.state->str);
    g_strstrip (r.refresh->str);
    ok = r.state->str[0] != '\0';
  }
  if (ok) {
    *active = strcmp (r.state->str, "active") == 0;
    guint64 v = 0;
    *refresh_s = 0;
    if (r.refresh->str[0] != '\0'
        && g_ascii_string_to_unsigned (r.refresh->str, 10, 1, 86400, &v, NULL))
      *refresh_s = (guint)v;
  }
  g_string_free (r.state, TRUE);
  g_string_free (r.refresh, TRUE);
  return ok;
}

char *
prl_iscomposing_build (gboolean active, guint refresh_s)
{
  GString *s = g_string_new ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                             "<isComposing xmlns=\"" NS "\">\n");
  g_string_append_printf (s, "  <state>%s</state>\n", active ? "active" : "idle");
  g_string_append (s, "  <contenttype>text/plain</contenttype>\n");
  if (active && refresh_s > 0)
    g_string_append_printf (s, "  <refresh>%u</refresh>\n", refresh_s);
  g_string_append (s, "</isComposing>\n");
  return g_string_free (s, FALSE);
}
