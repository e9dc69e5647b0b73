/* gateway/tests/test-vectors.c - runs test-vectors/ files against the core.
 *
 * Two modes (test-vectors/README.md):
 * - no file arguments: one GTest case per .vec file found recursively under $PRL_VECTORS
 *   (the meson `unit` suite runs it with --tap);
 * - file arguments: runs just those files, prints "PASS file" or "FAIL file" and a diff for
 *   each, and exits 1 if any failed, so a new case can be tried without rebuilding.
 * Besides the expected text, every sip.send is checked against the chunking invariants of
 * mapping-docs/page-mode.md §10: the size estimate is the real estimate of the message and,
 * when chunking applies, within udp_request_limit; once all parts of a message are seen, their
 * bodies with the markers removed join into the body of an xmpp.message the vector sent, of a
 * parked message a store.result handed back (a flush), or the stored_notice
 * (mapping-docs/offline.md §4, §6); a message/cpim body is unwrapped first, IMDN and
 * isComposing bodies (made by the core, mapping-docs/receipts.md) are not joined.
 */
#include "gateway/vector.h"

#include "gateway/cpim.h"
#include "gateway/message-map.h"

#include <stdio.h>
#include <string.h>

typedef struct {
  const PrlCoreConfig *config;
  GPtrArray *bodies; /* char*: every xmpp.message / claimed body seen ("" for none), the notice */
  GHashTable *joins; /* char* call-id -> GString* of the parts so far */
  GString *problems;
} Checker;

static void
free_gstring (gpointer s)
{
  g_string_free (s, TRUE);
}

static void
check_send (Checker *c, const PrlSipMessage *m)
{
  const PrlCoreConfig *cfg = c->config;
  gsize estimate = prl_message_map_estimate (m, cfg->sip_header_reserve);
  if (m->size_estimate != estimate)
    g_string_append_printf (c->problems,
                            "request %" G_GUINT64_FORMAT ": size=%" G_GSIZE_FORMAT
                            " but the estimate is %" G_GSIZE_FORMAT "\n",
                            m->txn, m->size_estimate, estimate);
  if ((cfg->outbound_udp || cfg->chunk_over_tcp) && estimate > cfg->udp_request_limit)
    g_string_append_printf (c->problems,
                            "request %" G_GUINT64_FORMAT ": size %" G_GSIZE_FORMAT
                            " over udp_request_limit %" G_GSIZE_FORMAT "\n",
                            m->txn, estimate, cfg->udp_request_limit);
  if (m->call_id == NULL || m->parts == 0)
    return;

  GString *join = g_hash_table_lookup (c->joins, m->call_id);
  if (join == NULL) {
    join = g_string_new (NULL);
    g_hash_table_insert (c->joins, g_strdup (m->call_id), join);
  }
  const char *body = m->body != NULL ? m->body : "";
  gsize len = m->body_len;
  if (m->parts > 1) {
    g_autofree char *marker = prl_message_map_format_marker (cfg->part_marker, m->part, m->parts);
    gsize mlen = strlen (marker);
    if (len < mlen || memcmp (body, marker, mlen) != 0) {
      g_string_append_printf (
          c->problems, "request %" G_GUINT64_FORMAT ": part %u/%u does not start with its marker\n",
          m->txn, m->part, m->parts);
      return;
    }
    body += mlen;
    len -= mlen;
  }
  g_string_append_len (join, body, (gssize)len);
  if (m->part != m->parts)
    return;
  /* receipts.md: IMDN and isComposing bodies are made by the core, not relayed; a CPIM wrap
   * (one part) must wrap a body that was sent */
  const char *ct = m->content_type != NULL ? m->content_type : "text/plain";
  if (g_str_has_prefix (ct, "message/cpim")) {
    g_autoptr (PrlCpimMessage) cpim = prl_cpim_parse (join->str, join->len, NULL);
    g_string_truncate (join, 0);
    if (cpim != NULL && g_str_has_prefix (cpim->content_type, "message/imdn+xml")) {
      g_hash_table_remove (c->joins, m->call_id);
      return;
    }
    if (cpim != NULL)
      g_string_append_len (join, cpim->body, (gssize)cpim->body_len);
  } else if (!g_str_has_prefix (ct, "text/plain")) {
    g_hash_table_remove (c->joins, m->call_id);
    return;
  }
  gboolean found = FALSE;
  for (guint i = 0; i < c->bodies->len && !found; i++)
    found = strlen (g_ptr_array_index (c->bodies, i)) == join->len
            && memcmp (g_ptr_array_index (c->bodies, i), join->str, join->len) == 0;
  if (!found)
    g_string_append_printf (c->problems,
                            "call-id %s: the %u parts do not join into a body"
                            " that was sent\n",
                            m->call_id, m->parts);
  g_hash_table_remove (c->joins, m->call_id);
}

static void
observe (const PrlVector *v, const PrlVectorStep *step, GPtrArray *actions, gpointer data)
{
  Checker *c = data;
  if (step->event.kind == PRL_EVENT_XMPP_MESSAGE)
    g_ptr_array_add (c->bodies,
                     g_strdup (step->event.xmpp->body != NULL ? step->event.xmpp->body : ""));
  if (step->event.kind == PRL_EVENT_STORE_RESULT && step->event.store.messages != NULL)
    for (guint i = 0; i < step->event.store.messages->len; i++) {
      const PrlStoredMessage *m = g_ptr_array_index (step->event.store.messages, i);
      g_ptr_array_add (c->bodies, g_strdup (m->body != NULL ? m->body : ""));
    }
  for (guint i = 0; i < actions->len; i++) {
    const PrlAction *a = g_ptr_array_index (actions, i);
    if (a->kind == PRL_ACTION_SIP_SEND)
      check_send (c, a->sip);
  }
}

/* Runs one file; returns TRUE if it passed, else FALSE and a report (transfer full). */
static gboolean
run_file (const char *path, char **report)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PrlVector) v = prl_vector_load (path, &error);
  if (v == NULL) {
    *report = g_strdup_printf ("cannot load: %s\n", error->message);
    return FALSE;
  }
  Checker c = { .config = &v->config };
  c.bodies = g_ptr_array_new_with_free_func (g_free);
  if (v->config.stored_notice != NULL)
    g_ptr_array_add (c.bodies, g_strdup (v->config.stored_notice));
  c.joins = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, free_gstring);
  c.problems = g_string_new (NULL);
  g_autofree char *diff = NULL;
  gboolean ok = prl_vector_run (v, observe, &c, &diff);
  if (c.problems->len > 0)
    ok = FALSE;
  *report = ok ? NULL
               : g_strdup_printf ("%s%s%s", diff != NULL ? diff : "",
                                  c.problems->len > 0 ? "invariants:\n" : "", c.problems->str);
  g_ptr_array_unref (c.bodies);
  g_hash_table_unref (c.joins);
  g_string_free (c.problems, TRUE);
  return ok;
}

static void
test_vector (gconstpointer data)
{
  g_autofree char *report = NULL;
  if (!run_file (data, &report)) {
    g_test_message ("%s", report);
    g_test_fail ();
  }
}

static void
collect (const char *dir, GPtrArray *files)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  if (d == NULL)
    return;
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL) {
    g_autofree char *path = g_build_filename (dir, name, NULL);
    if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
      if (strcmp (name, "msrp") != 0) /* msrp/ has its own runner: sip/tests */
        collect (path, files);
    } else if (g_str_has_suffix (name, ".vec"))
      g_ptr_array_add (files, g_steal_pointer (&path));
  }
}

static gint
compare_paths (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

static int
run_cli (int argc, char **argv)
{
  int failed = 0;
  for (int i = 1; i < argc; i++) {
    g_autofree char *report = NULL;
    if (run_file (argv[i], &report)) {
      printf ("PASS %s\n", argv[i]);
    } else {
      printf ("FAIL %s\n%s", argv[i], report);
      failed++;
    }
  }
  return failed > 0 ? 1 : 0;
}

int
main (int argc, char **argv)
{
  gboolean files = FALSE;
  for (int i = 1; i < argc; i++)
    files = files || argv[i][0] != '-';
  if (files)
    return run_cli (argc, argv);

  g_test_init (&argc, &argv, NULL);
  const char *root = g_getenv ("PRL_VECTORS");
  if (root == NULL) {
    g_printerr ("PRL_VECTORS is not set (the test-vectors/ folder)\n");
    return 1;
  }
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  collect (root, paths);
  g_ptr_array_sort (paths, compare_paths);
  gsize prefix = strlen (root);
  for (guint i = 0; i < paths->len; i++) {
    const char *path = g_ptr_array_index (paths, i);
    const char *rel = path + prefix;
    while (*rel == G_DIR_SEPARATOR)
      rel++;
    g_autofree char *test = g_strdup_printf ("/vectors/%s", rel);
    g_test_add_data_func_full (test, g_strdup (path), test_vector, g_free);
  }
  return g_test_run ();
}
