/* sip/msrp-types.h - which media types a SEND may carry: RFC 4975 a=accept-types matching,
 * and the type wrapped inside a message/cpim body (RFC 3862, a=accept-wrapped-types).
 *
 * Pure: GLib only. The stack answers 415 with these (sip/msrp-session.c); what the wrapped
 * entity means is the core's business (gateway/cpim.c), so this reads only as far as the
 * entity's Content-Type and judges nothing else. Internal to sip/: the front door is
 * sip/msrp.h.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* TRUE when @content_type (parameters ignored) matches an entry of @accept: "*", "type/ *"
 * or type/subtype, case-insensitively. @accept NULL accepts anything. */
gboolean prl_msrp_type_accepted (char *const *accept, const char *content_type);

/* TRUE when @content_type is message/cpim (parameters ignored). */
gboolean prl_msrp_type_is_cpim (const char *content_type);

typedef enum {
  PRL_MSRP_CPIM_FOUND,   /* the entity's Content-Type is in *type */
  PRL_MSRP_CPIM_NONE,    /* both header blocks are there, without a Content-Type */
  PRL_MSRP_CPIM_PARTIAL, /* @data ends before the entity's headers do */
} PrlMsrpCpimType;

/* The Content-Type of the entity a CPIM body wraps: the CPIM headers, a blank line, the
 * entity's headers (searched, case-insensitively), a blank line. Lines end in LF or CRLF.
 * @data may be the first chunk only. On FOUND, *@type (transfer full) is the trimmed value. */
PrlMsrpCpimType prl_msrp_cpim_inner_type (const guint8 *data, gsize len, char **type);

G_END_DECLS
