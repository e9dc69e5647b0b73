/* sip/msrp-uri.h - MSRP URIs and paths (RFC 4975 §6): parsing and comparison.
 *
 * Pure: GLib only. A path is the SP-separated list of a To-Path / From-Path header or an SDP
 * a=path; its last URI names the endpoint session. Comparison follows §6.1: scheme and
 * transport case-insensitive, host case-insensitive, ports equal (explicit never equals
 * implicit), session-id case-sensitive, userinfo ignored.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  char *scheme;     /* "msrp" or "msrps", lower case */
  char *host;       /* without brackets for IPv6 */
  guint port;       /* 0 when not given */
  char *session_id; /* NULL when absent */
  char *transport;  /* lower case, e.g. "tcp" */
} PrlMsrpUri;

/* NULL with PRL_MSRP_ERROR_INVALID when @text is not an MSRP URI. (transfer full) */
PrlMsrpUri *prl_msrp_uri_parse (const char *text, GError **error);
void prl_msrp_uri_free (PrlMsrpUri *uri);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlMsrpUri, prl_msrp_uri_free)
gboolean prl_msrp_uri_equal (const PrlMsrpUri *a, const PrlMsrpUri *b);
/* Parses both and compares; FALSE when either does not parse. */
gboolean prl_msrp_uri_text_equal (const char *a, const char *b);

/* Splits a path into its URIs (transfer full, NULL-terminated), checking each; NULL with
 * PRL_MSRP_ERROR_INVALID when empty or when one does not parse. */
char **prl_msrp_path_split (const char *path, GError **error);
/* The last URI of @path (transfer full), or NULL when the path is empty. No check. */
char *prl_msrp_path_last (const char *path);
/* The first URI of @path (transfer full), or NULL when the path is empty. No check. */
char *prl_msrp_path_first (const char *path);

G_END_DECLS
