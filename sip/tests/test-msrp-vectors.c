/* sip/tests/test-msrp-vectors.c - runs the test-vectors/msrp/ files through the MSRP parser.
 *
 * Format: test-vectors/msrp/README.md. Each file gives input bytes (`data:` lines, joined)
 * and the expected outcome lines (`<`). The bytes are fed three ways (whole, one byte per
 * feed, 7-byte slices) and each way must print exactly the expected lines. Without file
 * arguments: one GTest case per file under $PRL_MSRP_VECTORS; with file arguments: runs
 * those and prints a diff for each failure.
 */
#include <stdio.h>
#include <string.h>

#include "sip/msrp-parser.h"

typedef struct {
  GByteArray *data;
  GString *expected;
  gsize max_header, max_body;
} Vector;

static void
vector_clear (Vector *v)
{
  g_clear_pointer (&v->data, g_byte_array_unref);
  if (v->expected != NULL)
    g_string_free (v->expected, TRUE);
  v->expected = NULL;
}

/* One quoted string with \\ \" \r \n \t \0 \xHH; advances *p. */
static gboolean
parse_quoted (const char **p, GByteArray *out)
{
  const char *s = *p;
  if (*s++ != '"')
    return FALSE;
  while (*s != '"') {
    guint8 c = (guint8)*s;
    if (c == '\0')
      return FALSE;
    if (c == '\\') {
      s++;
      switch (*s) {
      case 'r': c = '\r'; break;
      case 'n': c = '\n'; break;
      case 't': c = '\t'; break;
      case '0': c = 0; break;
      case '\\': case '"': c = (guint8)*s; break;
      case 'x':
        if (!g_ascii_isxdigit (s[1]) || !g_ascii_isxdigit (s[2]))
          return FALSE;
        c = (guint8)(g_ascii_xdigit_value (s[1]) * 16 + g_ascii_xdigit_value (s[2]));
        s += 2;
        break;
      default: return FALSE;
      }
    }
    g_byte_array_append (out, &c, 1);
    s++;
  }
  *p = s + 1;
  return TRUE;
}

/* expression = term *(" + " term); term = quoted / "repeat(" N ", " quoted ")" */
static gboolean
parse_expr (const char *s, GByteArray *out)
{
  for (;;) {
    while (*s == ' ')
      s++;
    if (g_str_has_prefix (s, "repeat(")) {
      char *end;
      guint64 n = g_ascii_strtoull (s + 7, &end, 10);
      if (n > 1000000 || strncmp (end, ", ", 2) != 0)
        return FALSE;
      s = end + 2;
      g_autoptr (GByteArray) unit = g_byte_array_new ();
      if (!parse_quoted (&s, unit) || *s++ != ')')
        return FALSE;
      for (guint64 i = 0; i < n; i++)
        g_byte_array_append (out, unit->data, unit->len);
    } else if (!parse_quoted (&s, out)) {
      return FALSE;
    }
    while (*s == ' ')
      s++;
    if (*s == '\0')
      return TRUE;
    if (*s++ != '+')
      return FALSE;
  }
}

static gboolean
vector_load (const char *path, Vector *v, GError **error)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, error))
    return FALSE;
  v->data = g_byte_array_new ();
  v->expected = g_string_new (NULL);
  v->max_header = 16384;
  v->max_body = 131072;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    char *l = g_strstrip (lines[i]);
    gboolean ok = TRUE;
    if (*l == '\0' || *l == '#')
      continue;
    if (g_str_has_prefix (l, "data:"))
      ok = parse_expr (l + 5, v->data);
    else if (g_str_has_prefix (l, "< "))
      g_string_append_printf (v->expected, "%s\n", l + 2);
    else if (g_str_has_prefix (l, "config max_header = "))
      v->max_header = g_ascii_strtoull (l + 20, NULL, 10);
    else if (g_str_has_prefix (l, "config max_body = "))
      v->max_body = g_ascii_strtoull (l + 18, NULL, 10);
    else
      ok = FALSE;
    if (!ok) {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s:%u: cannot read this line",
                   path, i + 1);
      return FALSE;
    }
  }
  return TRUE;
}

/* The outcome lines for the data fed in slices of @step bytes. */
static char *
outcome (const Vector *v, gsize step)
{
  g_autoptr (PrlMsrpParser) p = prl_msrp_parser_new (v->max_header, v->max_body);
  g_autoptr (GPtrArray) frames = g_ptr_array_new_with_free_func ((GDestroyNotify)prl_msrp_frame_free);
  g_autoptr (GError) error = NULL;
  GString *s = g_string_new (NULL);
  gboolean ok = TRUE;
  for (gsize off = 0; ok && off < v->data->len; off += step)
    ok = prl_msrp_parser_feed (p, v->data->data + off, MIN (step, v->data->len - off), frames,
                               &error);
  for (guint i = 0; i < frames->len; i++) {
    const PrlMsrpFrame *f = g_ptr_array_index (frames, i);
    g_autofree char *t = prl_msrp_frame_to_text (f);
    const char *reason = NULL;
    guint status = prl_msrp_frame_check (f, &reason);
    if (f->body_dropped > 0)
      g_string_append_printf (s, "%s -> 413\n", t);
    else if (status != 0)
      g_string_append_printf (s, "%s -> %u \"%s\"\n", t, status, reason);
    else
      g_string_append_printf (s, "%s -> ok\n", t);
  }
  if (!ok)
    g_string_append_printf (s, "fatal \"%s\"\n", error->message);
  else if (prl_msrp_parser_pending (p) > 0)
    g_string_append_printf (s, "pending %" G_GSIZE_FORMAT "\n", prl_msrp_parser_pending (p));
  return g_string_free (s, FALSE);
}

static gboolean
run_file (const char *path, char **report)
{
  Vector v = { 0 };
  g_autoptr (GError) error = NULL;
  if (!vector_load (path, &v, &error)) {
    *report = g_strdup (error->message);
    vector_clear (&v);
    return FALSE;
  }
  static const gsize steps[] = { 0, 1, 7 };
  GString *r = g_string_new (NULL);
  for (guint i = 0; i < G_N_ELEMENTS (steps); i++) {
    gsize step = steps[i] == 0 ? MAX (v.data->len, 1) : steps[i];
    g_autofree char *got = outcome (&v, step);
    if (strcmp (got, v.expected->str) != 0)
      g_string_append_printf (r, "--- expected\n%s+++ got (%s)\n%s", v.expected->str,
                              steps[i] == 0 ? "whole" : steps[i] == 1 ? "byte by byte" : "7-byte slices",
                              got);
  }
  vector_clear (&v);
  gboolean ok = r->len == 0;
  *report = g_string_free (r, FALSE);
  return ok;
}

static void
test_vector (gconstpointer path)
{
  g_autofree char *report = NULL;
  if (!run_file (path, &report)) {
    g_test_message ("%s", report);
    g_test_fail ();
  }
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

/* --print FILE: the outcome lines for the whole input, to write a new vector's "<" lines */
static int
print_file (const char *path)
{
  Vector v = { 0 };
  g_autoptr (GError) error = NULL;
  if (!vector_load (path, &v, &error)) {
    printf ("%s\n", error->message);
    return 1;
  }
  g_autofree char *got = outcome (&v, MAX (v.data->len, 1));
  printf ("%s", got);
  vector_clear (&v);
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc == 3 && strcmp (argv[1], "--print") == 0)
    return print_file (argv[2]);
  if (argc > 1 && argv[1][0] != '-') {
    int failed = 0;
    for (int i = 1; i < argc; i++) {
      g_autofree char *report = NULL;
      gboolean ok = run_file (argv[i], &report);
      printf ("%s %s\n%s", ok ? "PASS" : "FAIL", argv[i], ok ? "" : report);
      failed += !ok;
    }
    return failed > 0;
  }
  g_test_init (&argc, &argv, NULL);
  const char *root = g_getenv ("PRL_MSRP_VECTORS");
  g_assert_nonnull (root);
  g_autoptr (GDir) dir = g_dir_open (root, 0, NULL);
  g_assert_nonnull (dir);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, ".vec"))
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++) {
    const char *n = g_ptr_array_index (names, i);
    g_autofree char *test = g_strdup_printf ("/msrp/vectors/%s", n);
    g_test_add_data_func_full (test, g_build_filename (root, n, NULL), test_vector, g_free);
  }
  return g_test_run ();
}
