/* gateway/imdn.c - IMDN and isComposing documents, CPIM wrapping (see imdn.h).
 *
 * DESIGN. Both documents are tiny and flat, so a GMarkup parser with a path-free state
 * machine is enough: we track the depth and the local name of the open elements, collect the
 * text of <message-id> and <datetime> (direct children of the root) and the first element
 * inside <status>. GMarkup knows no DTD and expands only the five predefined entities and
 * character references, so there is no entity-expansion attack; the depth is capped at 16.
 * Building escapes every text with g_markup_escape_text().
 * Ownership: parse results and built strings are GLib memory owned by the caller.
 * Rules: mapping-docs/receipts.md §1 (CPIM), §3 (IMDN), §6 (isComposing).
 */
#include "gateway/imdn.h"

#include <string.h>

/* clang-format off */
G_DEFINE_QUARK (prl-imdn-error-quark, prl_imdn_error)
/* clang-format on */

#define MAX_DEPTH 16
#define MAX_TEXT 1024

void
prl_imdn_free (PrlImdn *imdn)
{
  if (imdn == NULL)
    return;
  g_free (imdn->message_id);
  g_free (imdn->datetime);
  g_free (imdn->status);
  g_free (imdn);
}

static const char *
local_name (const char *name)
{
  const char *colon = strrchr (name, ':');
  return colon != NULL ? colon + 1 : name;
}

typedef struct {
  const char *root;         /* expected root element */
  const char *stack[MAX_DEPTH];
  guint depth;
  GString *text;            /* text of the element being collected, or NULL */
  char **collect_into;      /* where that text goes */
  PrlImdn *imdn;            /* IMDN parse */
  char *state, *refresh;    /* isComposing parse */
  gboolean root_seen;
} Parse;

static void
on_start (GMarkupParseContext *ctx, const char *name, const char **attr_names,
          const char **attr_values, gpointer data, GError **error)
{
  Parse *p = data;
  const char *local = local_name (name);
  if (p->depth == 0) {
    if (p->root_seen || strcmp (local, p->root) != 0) {
      g_set_error (error, PRL_IMDN_ERROR, PRL_IMDN_ERROR_MALFORMED, "root is not <%s>", p->root);
      return;
    }
    p->root_seen = TRUE;
  }
  if (p->depth >= MAX_DEPTH) {
    g_set_error (error, PRL_IMDN_ERROR, PRL_IMDN_ERROR_MALFORMED, "nested too deep");
    return;
  }
  const char *parent = p->depth > 0 ? p->stack[p->depth - 1] : NULL;
  const char *grand = p->depth > 1 ? p->stack[p->depth - 2] : NULL;
  p->stack[p->depth++] = g_intern_string (local);
  if (p->imdn != NULL) {
    if (p->depth == 2 && strcmp (local, "message-id") == 0 && p->imdn->message_id == NULL)
      p->collect_into = &p->imdn->message_id;
    else if (p->depth == 2 && strcmp (local, "datetime") == 0 && p->imdn->datetime == NULL)
      p->collect_into = &p->imdn->datetime;
    else if (p->depth == 2 && p->imdn->kind == 0) {
      if (strcmp (local, "delivery-notification") == 0)
        p->imdn->kind = PRL_IMDN_DELIVERY;
      else if (strcmp (local, "display-notification") == 0)
        p->imdn->kind = PRL_IMDN_DISPLAY;
      else if (strcmp (local, "processing-notification") == 0)
        p->imdn->kind = PRL_IMDN_PROCESSING;
    } else if (p->depth == 4 && g_strcmp0 (parent, "status") == 0 && grand != NULL
               && strstr (grand, "-notification") != NULL && p->imdn->status == NULL)
      p->imdn->status = g_strdup (local);
  } else if (p->depth == 2 && strcmp (local, "state") == 0 && p->state == NULL) {
    p->collect_into = &p->state;
  } else if (p->depth == 2 && strcmp (local, "refresh") == 0 && p->refresh == NULL) {
    p->collect_into = &p->refresh;
  }
  if (p->collect_into != NULL && p->text == NULL)
    p->text = g_string_new (NULL);
}

static void
on_end (GMarkupParseContext *ctx, const char *name, gpointer data, GError **error)
{
  Parse *p = data;
  if (p->text != NULL) {
    *p->collect_into = g_strstrip (g_string_free (p->text, FALSE));
    p->text = NULL;
    p->collect_into = NULL;
  }
  if (p->depth > 0)
    p->depth--;
}

static void
on_text (GMarkupParseContext *ctx, const char *text, gsize len, gpointer data, GError **error)
{
  Parse *p = data;
  if (p->text == NULL)
    return;
  if (p->text->len + len > MAX_TEXT) {
    g_set_error (error, PRL_IMDN_ERROR, PRL_IMDN_ERROR_MALFORMED, "element text too long");
    return;
  }
  g_string_append_len (p->text, text, (gssize)len);
}

static const GMarkupParser parser = { on_start, on_end, on_text, NULL, NULL };

static gboolean
run_parse (Parse *p, const char *data, gsize len, GError **error)
{
  if (len > G_MAXSSIZE || (data == NULL && len > 0)) {
    g_set_error (error, PRL_IMDN_ERROR, PRL_IMDN_ERROR_MALFORMED, "bad input");
    return FALSE;
  }
  if (memchr (data, '\0', len) != NULL) {
    g_set_error (error, PRL_IMDN_ERROR, PRL_IMDN_ERROR_MALFORMED, "NUL in document");
    return FALSE;
  }
  GMarkupParseContext *ctx = g_markup_parse_context_new (&parser, 0, p, NULL);
  gboolean ok = g_markup_parse_context_parse (ctx, data, (gssize)len, error)
                && g_markup_parse_context_end_parse (ctx, error);
  g_markup_parse_context_free (ctx);
  if (p->text != NULL)
    g_string_free (p->text, TRUE);
  p->text = NULL;
  if (ok && !p->root_seen) {
    g_set_error (error, PRL_IMDN_ERROR, PRL_IMDN_ERROR_MALFORMED, "empty document");
    ok = FALSE;
  }
  return ok;
}

PrlImdn *
prl_imdn_parse (const char *data, gsize len, GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  g_autoptr (PrlImdn) imdn = g_new0 (PrlImdn, 1);
  Parse p = { .root = "imdn", .imdn = imdn };
  if (!run_parse (&p, data, len, error))
    return NULL;
  if (imdn->message_id == NULL || *imdn->message_id == '\0' || imdn->kind == 0
      || imdn->status == NULL) {
    g_set_error (error, PRL_IMDN_ERROR, PRL_IMDN_ERROR_MALFORMED,
                 "IMDN without message-id, notification or status");
    return NULL;
  }
  return g_steal_pointer (&imdn);
}


char *
prl_imdn_build (const char *message_id, const char *datetime, const char *recipient_uri,
                PrlImdnKind kind, const char *status)
{
  g_return_val_if_fail (message_id != NULL && status != NULL, NULL);
  const char *what = kind == PRL_IMDN_DISPLAY      ? "display-notification"
                     : kind == PRL_IMDN_PROCESSING ? "processing-notification"
                                                   : "delivery-notification";
  GString *s = g_string_new ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
                             "<imdn xmlns=\"urn:ietf:params:xml:ns:imdn\">\r\n");
  g_autofree char *id = g_markup_escape_text (message_id, -1);
  g_string_append_printf (s, "<message-id>%s</message-id>\r\n", id);
  if (datetime != NULL) {
    g_autofree char *dt = g_markup_escape_text (datetime, -1);
    g_string_append_printf (s, "<datetime>%s</datetime>\r\n", dt);
  }
  if (recipient_uri != NULL) {
    g_autofree char *r = g_markup_escape_text (recipient_uri, -1);
    g_string_append_printf (s, "<recipient-uri>%s</recipient-uri>\r\n", r);
  }
  g_autofree char *st = g_markup_escape_text (status, -1);
  g_string_append_printf (s, "<%s><status><%s/></status></%s>\r\n</imdn>\r\n", what, st, what);
  return g_string_free (s, FALSE);
}

guint
prl_imdn_parse_disposition (const char *value)
{
  guint flags = 0;
  if (value == NULL)
    return 0;
  g_auto (GStrv) tokens = g_strsplit (value, ",", 16);
  for (guint i = 0; tokens[i] != NULL; i++) {
    char *t = g_strstrip (tokens[i]);
    if (g_ascii_strcasecmp (t, "positive-delivery") == 0)
      flags |= PRL_IMDN_WANT_POSITIVE_DELIVERY;
    else if (g_ascii_strcasecmp (t, "negative-delivery") == 0)
      flags |= PRL_IMDN_WANT_NEGATIVE_DELIVERY;
    else if (g_ascii_strcasecmp (t, "display") == 0)
      flags |= PRL_IMDN_WANT_DISPLAY;
  }
  return flags;
}

char *
prl_imdn_format_datetime (gint64 us)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (us / G_USEC_PER_SEC);
  if (dt == NULL)
    return g_strdup ("1970-01-01T00:00:00Z");
  return g_date_time_format (dt, "%Y-%m-%dT%H:%M:%SZ");
}

gboolean
prl_imdn_token_is_safe (const char *s)
{
  if (s == NULL || *s == '\0' || strlen (s) > 256)
    return FALSE;
  for (const char *p = s; *p != '\0'; p++)
    if (*p <= 0x20 || *p >= 0x7f || *p == '<' || *p == '>')
      return FALSE;
  return TRUE;
}

char *
prl_imdn_wrap_cpim (const char *from_uri, const char *to_uri, const char *datetime,
                    const char *message_id, const char *disposition, const char *content_type,
                    const char *content_disposition, const char *body, gsize len, gsize *out_len)
{
  g_return_val_if_fail (from_uri != NULL && to_uri != NULL && message_id != NULL, NULL);
  g_return_val_if_fail (content_type != NULL && out_len != NULL, NULL);
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "From: <%s>\r\nTo: <%s>\r\n", from_uri, to_uri);
  if (datetime != NULL)
    g_string_append_printf (s, "DateTime: %s\r\n", datetime);
  g_string_append (s, "NS: imdn <urn:ietf:params:imdn>\r\n");
  g_string_append_printf (s, "imdn.Message-ID: %s\r\n", message_id);
  if (disposition != NULL)
    g_string_append_printf (s, "imdn.Disposition-Notification: %s\r\n", disposition);
  g_string_append_printf (s, "\r\nContent-Type: %s\r\n", content_type);
  if (content_disposition != NULL)
    g_string_append_printf (s, "Content-Disposition: %s\r\n", content_disposition);
  g_string_append (s, "\r\n");
  g_string_append_len (s, body != NULL ? body : "", (gssize)len);
  *out_len = s->len;
  return g_string_free (s, FALSE);
}

