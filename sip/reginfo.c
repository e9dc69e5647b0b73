/* sip/reginfo.c - parser of RFC 3680 application/reginfo+xml bodies (pure, GLib only).
 *
 * DESIGN. A GMarkup pass with a small state machine: the root must be <reginfo>; each
 * <registration> directly under it opens a PrlReginfoRegistration; each <contact> directly
 * under a registration counts when its state is "active"; the text of a <uri> directly under
 * such a contact is the contact URI (the first one wins). Anything else (unknown elements,
 * <display-name>, <unknown-param>, extension namespaces) is skipped. Names are compared by
 * local name, so "<r:registration>" matches too. GMarkup keeps its own stack (no recursion),
 * and the input is capped at PRL_REGINFO_MAX_BYTES, so a hostile body costs bounded time and
 * memory. RFC 3680 §5.3: a registration is active when its state is "active" and at least
 * one of its contacts is "active".
 */
#include "sip/reginfo.h"

#include <string.h>

#define URI_MAX 2048 /* longer contact URIs are ignored */

typedef enum { IN_OTHER, IN_ROOT, IN_REGISTRATION, IN_CONTACT, IN_URI } Where;

typedef struct {
  PrlReginfo *info;
  gboolean seen_root;
  guint depth;      /* element depth, the root is 1 */
  guint skip_depth; /* > 0: inside an element we do not look into */
  Where where;
  PrlReginfoRegistration *reg; /* the open registration (owned by info), or NULL */
  gboolean contact_active;     /* the open <contact> has state="active" */
  GString *uri;                /* text of the open <uri>, or NULL */
} Parser;

static void
registration_free (PrlReginfoRegistration *r)
{
  if (r == NULL)
    return;
  g_free (r->aor);
  g_free (r->state);
  g_free (r->contact);
  g_free (r);
}

void
prl_reginfo_free (PrlReginfo *info)
{
  if (info == NULL)
    return;
  g_free (info->state);
  g_clear_pointer (&info->registrations, g_ptr_array_unref);
  g_free (info);
}

static const char *
local_name (const char *name)
{
  const char *colon = strrchr (name, ':');
  return colon != NULL ? colon + 1 : name;
}

static const char *
attr (const char **names, const char **values, const char *wanted)
{
  for (guint i = 0; names[i] != NULL; i++)
    if (strcmp (local_name (names[i]), wanted) == 0)
      return values[i];
  return NULL;
}

static void
on_start (GMarkupParseContext *ctx, const char *element, const char **names, const char **values,
          gpointer user_data, GError **error)
{
  Parser *p = user_data;
  const char *name = local_name (element);
  p->depth++;
  if (p->skip_depth > 0)
    return;
  if (!p->seen_root) {
    p->seen_root = TRUE;
    if (strcmp (name, "reginfo") != 0) {
      g_set_error (error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
                   "root element is <%s>, not <reginfo>", name);
      return;
    }
    p->info->state = g_strdup (attr (names, values, "state"));
    const char *version = attr (names, values, "version");
    guint64 v = 0;
    if (version != NULL && g_ascii_string_to_unsigned (version, 10, 0, G_MAXUINT64, &v, NULL))
      p->info->version = v;
    p->where = IN_ROOT;
    return;
  }
  switch (p->where) {
  case IN_ROOT: {
    const char *aor = attr (names, values, "aor");
    if (strcmp (name, "registration") == 0 && aor != NULL
        && p->info->registrations->len < PRL_REGINFO_MAX_REGISTRATIONS) {
      PrlReginfoRegistration *r = g_new0 (PrlReginfoRegistration, 1);
      r->aor = g_strdup (aor);
      r->state = g_strdup (attr (names, values, "state"));
      g_ptr_array_add (p->info->registrations, r);
      p->reg = r;
      p->where = IN_REGISTRATION;
      return;
    }
    break;
  }
  case IN_REGISTRATION:
    if (strcmp (name, "contact") == 0) {
      p->contact_active = g_strcmp0 (attr (names, values, "state"), "active") == 0;
      if (p->contact_active && g_strcmp0 (p->reg->state, "active") == 0)
        p->reg->active = TRUE;
      p->where = IN_CONTACT;
      return;
    }
    break;
  case IN_CONTACT:
    if (strcmp (name, "uri") == 0) {
      p->uri = g_string_new (NULL);
      p->where = IN_URI;
      return;
    }
    break;
  case IN_URI:
  case IN_OTHER:
    break;
  }
  p->skip_depth = p->depth; /* not ours: skip it and everything inside */
}

static void
on_end (GMarkupParseContext *ctx, const char *element, gpointer user_data, GError **error)
{
  Parser *p = user_data;
  guint depth = p->depth--;
  if (p->skip_depth > 0) {
    if (depth == p->skip_depth)
      p->skip_depth = 0;
    return;
  }
  switch (p->where) {
  case IN_URI: {
    g_autofree char *uri = g_strstrip (g_string_free (g_steal_pointer (&p->uri), FALSE));
    if (p->contact_active && p->reg->contact == NULL && *uri != '\0' && strlen (uri) <= URI_MAX)
      p->reg->contact = g_steal_pointer (&uri);
    p->where = IN_CONTACT;
    break;
  }
  case IN_CONTACT:
    p->where = IN_REGISTRATION;
    break;
  case IN_REGISTRATION:
    if (!p->reg->active) /* a contact URI only for an active registration */
      g_clear_pointer (&p->reg->contact, g_free);
    p->reg = NULL;
    p->where = IN_ROOT;
    break;
  case IN_ROOT:
    p->where = IN_OTHER;
    break;
  case IN_OTHER:
    break;
  }
}

static void
on_text (GMarkupParseContext *ctx, const char *text, gsize len, gpointer user_data, GError **error)
{
  Parser *p = user_data;
  if (p->skip_depth == 0 && p->where == IN_URI && p->uri != NULL && p->uri->len <= URI_MAX)
    g_string_append_len (p->uri, text, (gssize)len);
}

PrlReginfo *
prl_reginfo_parse (const char *data, gsize len, GError **error)
{
  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (len > PRL_REGINFO_MAX_BYTES) {
    g_set_error (error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
                 "reginfo body of %" G_GSIZE_FORMAT " bytes (at most %d)", len,
                 PRL_REGINFO_MAX_BYTES);
    return NULL;
  }
  static const GMarkupParser parser
      = { .start_element = on_start, .end_element = on_end, .text = on_text };
  g_autoptr (PrlReginfo) info = g_new0 (PrlReginfo, 1);
  info->registrations = g_ptr_array_new_with_free_func ((GDestroyNotify)registration_free);
  Parser p = { .info = info, .where = IN_OTHER };
  GMarkupParseContext *ctx = g_markup_parse_context_new (&parser, 0, &p, NULL);
  gboolean ok = g_markup_parse_context_parse (ctx, data != NULL ? data : "", (gssize)len, error)
                && g_markup_parse_context_end_parse (ctx, error);
  g_markup_parse_context_free (ctx);
  if (p.uri != NULL)
    g_string_free (p.uri, TRUE);
  if (!ok)
    return NULL;
  if (!p.seen_root) {
    g_set_error (error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT, "no <reginfo> element");
    return NULL;
  }
  return g_steal_pointer (&info);
}
