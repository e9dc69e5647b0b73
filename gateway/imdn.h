/* gateway/imdn.h - IMDN (RFC 5438) and isComposing (RFC 3994) bodies, and the CPIM wrapper
 * Parley puts around what it sends (pure: bytes in, structs or bytes out).
 *
 * Used by gateway/interop.c. Parsing uses GMarkup (no DTD, no external entities, no
 * namespace processing: element names are matched on their local part, so a prefixed
 * <ns:imdn> reads like <imdn>). Inputs are bounded by the caller (max_message_bytes).
 * Rules: mapping-docs/receipts.md.
 */
#pragma once

#include <glib.h>

#include "gateway/iscomposing.h"

G_BEGIN_DECLS

#define PRL_IMDN_CONTENT_TYPE "message/imdn+xml"

#define PRL_IMDN_ERROR (prl_imdn_error_quark ())
GQuark prl_imdn_error_quark (void);
typedef enum {
  PRL_IMDN_ERROR_MALFORMED, /* not well-formed, wrong root, missing message-id or status */
} PrlImdnError;

typedef enum {
  PRL_IMDN_DELIVERY = 1,   /* <delivery-notification> */
  PRL_IMDN_DISPLAY = 2,    /* <display-notification> */
  PRL_IMDN_PROCESSING = 3, /* <processing-notification> */
} PrlImdnKind;

/* imdn.Disposition-Notification flags */
#define PRL_IMDN_WANT_POSITIVE_DELIVERY 1u
#define PRL_IMDN_WANT_NEGATIVE_DELIVERY 2u
#define PRL_IMDN_WANT_DISPLAY 4u

typedef struct {
  char *message_id; /* <message-id>, never NULL after a parse */
  char *datetime;   /* <datetime>, or NULL */
  PrlImdnKind kind;
  char *status;     /* the element inside <status>: "delivered", "failed", "displayed"... */
} PrlImdn;

/* Parses a message/imdn+xml document. (transfer full) or NULL with @error set. */
PrlImdn *prl_imdn_parse (const char *data, gsize len, GError **error);
void prl_imdn_free (PrlImdn *imdn);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlImdn, prl_imdn_free)

/* A message/imdn+xml document for @message_id (the IM's imdn.Message-ID), @datetime (the
 * IM's DateTime, may be NULL), @kind and @status ("delivered", "displayed"...). Text is
 * escaped. (transfer full) */
char *prl_imdn_build (const char *message_id, const char *datetime, const char *recipient_uri,
                      PrlImdnKind kind, const char *status);

/* Flags of an imdn.Disposition-Notification value ("positive-delivery, display"); unknown
 * tokens are ignored. */
guint prl_imdn_parse_disposition (const char *value);

/* RFC 3339 UTC time of @us microseconds since the epoch: "2025-03-01T09:15:00Z". */
char *prl_imdn_format_datetime (gint64 us);

/* TRUE if @s can be a CPIM header value we write: 1..256 bytes, printable ASCII except
 * '<' and '>' (Message-IDs and URIs). */
gboolean prl_imdn_token_is_safe (const char *s);

/* A message/cpim body (RFC 3862, STANDARDS.md §5.9), CRLF line ends: From/To (URIs in <>),
 * DateTime, the imdn namespace, imdn.Message-ID, imdn.Disposition-Notification when
 * @disposition is not NULL, then the entity: Content-Type @content_type, Content-Disposition
 * when not NULL, blank line, @len bytes of @body. Values must pass prl_imdn_token_is_safe()
 * (the caller checks). (transfer full), length in *out_len. */
char *prl_imdn_wrap_cpim (const char *from_uri, const char *to_uri, const char *datetime,
                          const char *message_id, const char *disposition,
                          const char *content_type, const char *content_disposition,
                          const char *body, gsize len, gsize *out_len);

/* isComposing documents: gateway/iscomposing.h */

G_END_DECLS
