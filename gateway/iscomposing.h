/* gateway/iscomposing.h - RFC 3994 isComposing documents (application/im-iscomposing+xml),
 * read and written. Pure: GLib's GMarkup only. Used by the chat core (gateway/chat.c) to map
 * XEP-0085 chat states (mapping-docs/chat.md §5). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define PRL_ISCOMPOSING_TYPE "application/im-iscomposing+xml"
#define PRL_ISCOMPOSING_MAX 4096 /* larger documents are refused unread */

/* Reads a document: TRUE with *@active (state "active"; anything else is idle) and *@refresh_s
 * (0 when absent), FALSE when it is not a well-formed isComposing document. */
gboolean prl_iscomposing_parse (const char *data, gsize len, gboolean *active, guint *refresh_s);

/* (transfer full) a document saying @active or idle, with <refresh> when @active and
 * @refresh_s > 0, and <contenttype>text/plain</contenttype>. */
char *prl_iscomposing_build (gboolean active, guint refresh_s);

G_END_DECLS
