/* gateway/quote.h - the quoted-string form shared by action text and test vectors.
 *
 * One definition of the escapes of test-vectors/README.md ("Values", "Action lines"), so the
 * text the core prints (gateway/action.c) and the probe results of the vector runner
 * (gateway/vector.c) quote strings identically: \\ \" \n \r \t \0, \xhh for other bytes outside
 * printable ASCII, valid UTF-8 sequences as they are.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Appends @len bytes at @s to @out, between double quotes, escaped. */
void prl_quote_append (GString *out, const char *s, gsize len);

/* (transfer full) the quoted form of the NUL-terminated @s ("(null)" for NULL). */
char *prl_quote (const char *s);

G_END_DECLS
