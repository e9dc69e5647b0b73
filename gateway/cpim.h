/* gateway/cpim.h - parser for message/cpim bodies (RFC 3862; STANDARDS.md §5.9).
 *
 * Pure: bytes in, a PrlCpimMessage out. Used by gateway/message-map.c to unwrap CPIM bodies
 * of SIP MESSAGE requests (mapping-docs/page-mode.md §4). The parser is strict where the
 * structure matters (a blank line after the CPIM headers, an encapsulated MIME entity with a
 * Content-Type) and tolerant of bare LF line ends, which real clients send.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define PRL_CPIM_ERROR (prl_cpim_error_quark ())
GQuark prl_cpim_error_quark (void);

typedef enum {
  PRL_CPIM_ERROR_MALFORMED,        /* no header/entity structure, bad header line */
  PRL_CPIM_ERROR_NO_CONTENT_TYPE,  /* the encapsulated entity lacks Content-Type */
  PRL_CPIM_ERROR_TOO_MANY_HEADERS, /* over PRL_CPIM_MAX_HEADERS in one block */
} PrlCpimError;

#define PRL_CPIM_MAX_HEADERS 64

typedef struct {
  char *name;  /* as on the wire (CPIM names are case-sensitive) */
  char *value; /* raw value, escapes not decoded */
} PrlCpimHeader;

typedef struct {
  GPtrArray *headers;      /* PrlCpimHeader*, CPIM message headers, in order, owned */
  GPtrArray *mime_headers; /* PrlCpimHeader*, headers of the encapsulated entity, owned */
  char *content_type;      /* the entity's Content-Type value (never NULL on success) */
  char *body;              /* entity body bytes, NUL appended; may hold NULs */
  gsize body_len;
} PrlCpimMessage;

/* Parses @len bytes at @data. Returns (transfer full) a message, or NULL with @error set
 * (PRL_CPIM_ERROR). Never reads past @len; @data need not be NUL-terminated. */
PrlCpimMessage *prl_cpim_parse (const char *data, gsize len, GError **error);
void prl_cpim_message_free (PrlCpimMessage *msg);

/* First CPIM header named exactly @name (case-sensitive), or NULL. (transfer none) */
const char *prl_cpim_message_get_header (const PrlCpimMessage *msg, const char *name);
/* First entity header named @name (case-insensitive, MIME rules), or NULL. (transfer none) */
const char *prl_cpim_message_get_mime_header (const PrlCpimMessage *msg, const char *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlCpimMessage, prl_cpim_message_free)

/* (transfer full) a message/cpim body wrapping @len bytes of @content_type: CPIM headers
 * From: <@from>, To: <@to>, DateTime: @datetime (RFC 3339, or NULL to leave it out), then the
 * entity. @from/@to must be header-safe URIs (the caller checked them); *@out_len is set. */
char *prl_cpim_build (const char *from, const char *to, const char *datetime,
                      const char *content_type, const char *body, gsize len, gsize *out_len);
/* The same with a Subject header and, when @message_id is set, "NS: imdn
 * <urn:ietf:params:imdn>" and "imdn.Message-ID: @message_id" (RFC 5438) - a pushed offline
 * message keeps its original id. NULL leaves either out; values must be header-safe. */
char *prl_cpim_build_full (const char *from, const char *to, const char *datetime,
                           const char *subject, const char *message_id, const char *content_type,
                           const char *body, gsize len, gsize *out_len);

G_END_DECLS
