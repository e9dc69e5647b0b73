/* gateway/fuzz/standalone.c - replays files through a libFuzzer target without libFuzzer.
 *
 * Linked with one fuzz-*.c file, it gives every regular file named on the command line, or
 * found recursively under a directory named there, to LLVMFuzzerTestOneInput() once, in
 * sorted order. The `fuzz` suite runs it over each target's corpus and test-vectors/, so
 * the corpora (and every committed crash reproducer) replay under gcc in a normal
 * `meson test`, with ASan/valgrind when those setups are used (STYLE.md §3.9).
 */
#include <glib.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

static void
collect (const char *path, GPtrArray *files)
{
  if (!g_file_test (path, G_FILE_TEST_IS_DIR)) {
    g_ptr_array_add (files, g_strdup (path));
    return;
  }
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  if (dir == NULL)
    return;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++) {
    g_autofree char *child = g_build_filename (path, g_ptr_array_index (names, i), NULL);
    collect (child, files);
  }
}

int
main (int argc, char **argv)
{
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  for (int i = 1; i < argc; i++) {
    if (!g_file_test (argv[i], G_FILE_TEST_EXISTS)) {
      fprintf (stderr, "%s: no such file or directory\n", argv[i]);
      return 1;
    }
    collect (argv[i], files);
  }
  guint ran = 0;
  for (guint i = 0; i < files->len; i++) {
    const char *path = g_ptr_array_index (files, i);
    g_autofree char *data = NULL;
    gsize len = 0;
    g_autoptr (GError) error = NULL;
    if (!g_file_get_contents (path, &data, &len, &error)) {
      fprintf (stderr, "%s: %s\n", path, error->message);
      return 1;
    }
    /* an exact-size copy, so ASan sees reads past the end */
    g_autofree guint8 *copy = g_memdup2 (data, len);
    LLVMFuzzerTestOneInput (copy, len);
    ran++;
  }
  printf ("replayed %u inputs\n", ran);
  return 0;
}
