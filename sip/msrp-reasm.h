/* sip/msrp-reasm.h - reassembly of chunked MSRP messages by Message-ID (RFC 4975 §7.3.1).
 *
 * Pure: GLib only. One PrlMsrpReasm per session holds the messages still incomplete. Chunks
 * may come in any order (the '$' chunk first too); each chunk's length is its payload, not
 * its range-end; on overlap the last chunk received wins. Totals are checked against
 * max_message BEFORE any buffer is allocated (RFC 4975 §14.5), so a Byte-Range claiming a
 * huge total costs nothing. At most max_pending messages are kept; beyond, the oldest
 * incomplete one is dropped.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _PrlMsrpReasm PrlMsrpReasm;

typedef enum {
  PRL_MSRP_REASM_PENDING,   /* kept; more chunks needed */
  PRL_MSRP_REASM_COMPLETE,  /* the whole message is in *out */
  PRL_MSRP_REASM_TOO_LARGE, /* total or range over max_message: 413, message dropped */
  PRL_MSRP_REASM_ABORTED,   /* '#' chunk: the sender gave the message up; dropped */
  PRL_MSRP_REASM_INVALID,   /* range inconsistent with earlier chunks: 400, dropped */
} PrlMsrpReasmResult;

PrlMsrpReasm *prl_msrp_reasm_new (gsize max_message, guint max_pending);
void prl_msrp_reasm_free (PrlMsrpReasm *reasm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlMsrpReasm, prl_msrp_reasm_free)

/* Adds one chunk. @byte_range is the header value (NULL: the chunk is the whole message when
 * @flag is '$'). @data is taken over when it can become the message as it is (a complete
 * single chunk); otherwise it is copied and left to the caller. @content_type (may be NULL)
 * is kept from the first chunk. On COMPLETE, *@out (transfer full) holds the body and
 * *@out_type (transfer full) the Content-Type of the first chunk (NULL if none).
 * An unparsable @byte_range gives INVALID. */
PrlMsrpReasmResult prl_msrp_reasm_add (PrlMsrpReasm *reasm, const char *message_id,
                                       const char *byte_range, char flag,
                                       const char *content_type, GByteArray **data,
                                       GByteArray **out, char **out_type);
/* Messages held incomplete. */
guint prl_msrp_reasm_pending (const PrlMsrpReasm *reasm);
/* Bytes allocated for them. */
gsize prl_msrp_reasm_bytes (const PrlMsrpReasm *reasm);

G_END_DECLS
