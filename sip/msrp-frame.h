/* sip/msrp-frame.h - one MSRP frame (RFC 4975 §7.1): its data, its checks, its wire form.
 *
 * Pure code: GLib only, no sockets, no clock. A PrlMsrpFrame is plain data owned by whoever
 * holds it: the incremental parser (sip/msrp-parser.h) hands out complete frames (transfer
 * full), the stack builds outgoing ones and serialises them with prl_msrp_frame_write().
 * Header names are compared case-insensitively; values are kept as received (trimmed).
 * Internal to sip/: the front door is sip/msrp.h.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* RFC 4975 §7.1: ident = ALPHANUM 3*31(ALPHANUM / "." / "-" / "+" / "%" / "=") */
#define PRL_MSRP_IDENT_MIN 4
#define PRL_MSRP_IDENT_MAX 32

typedef struct {
  char *name;
  char *value;
} PrlMsrpHeader;

typedef struct {
  gboolean is_request;
  char *tid;
  char *method;   /* requests: "SEND", "REPORT", "AUTH", ... (case-sensitive) */
  guint status;   /* responses: 100..999 */
  char *comment;  /* responses: the text after the code, or NULL */
  char flag;      /* '$', '+' or '#' */
  GPtrArray *headers; /* PrlMsrpHeader*, in order received / to be sent; owned */
  GByteArray *body;   /* NULL = bodiless (no blank line); else the data, possibly empty */
  gsize body_dropped; /* parser: body bytes over its bound that were counted, not kept */
  const char *parse_error; /* parser: a fault found inside a well-framed frame (static text);
                              prl_msrp_frame_check() then answers 400 */
} PrlMsrpFrame;

PrlMsrpFrame *prl_msrp_frame_new_request (const char *tid, const char *method);
PrlMsrpFrame *prl_msrp_frame_new_response (const char *tid, guint status, const char *comment);
void prl_msrp_frame_free (PrlMsrpFrame *frame);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlMsrpFrame, prl_msrp_frame_free)

/* Appends a header (both copied). */
void prl_msrp_frame_add_header (PrlMsrpFrame *frame, const char *name, const char *value);
/* Value of the first header named @name (case-insensitive), or NULL. (transfer none) */
const char *prl_msrp_frame_get (const PrlMsrpFrame *frame, const char *name);
/* Sets the body (copied); @data NULL with @len 0 makes an empty, not a missing, body. */
void prl_msrp_frame_set_body (PrlMsrpFrame *frame, const void *data, gsize len);

/* Checks what RFC 4975 requires beyond framing: To-Path and From-Path present once each,
 * Message-ID an ident when present (and present in SEND and REPORT), Byte-Range and Status
 * well formed, a body only with Content-Type, and the body within Byte-Range. Returns 0 when
 * the frame is acceptable, else 400 with *@reason (static text) set. */
guint prl_msrp_frame_check (const PrlMsrpFrame *frame, const char **reason);

/* Serialises the frame (start line, headers in order, blank line and body when there is
 * one, end-line). Appends to @out. The caller makes sure the end-line does not occur in
 * the body (prl_msrp_body_has_end_line). */
void prl_msrp_frame_write (const PrlMsrpFrame *frame, GByteArray *out);
/* One chunk of an outgoing SEND, as prl_msrp_frame_write_send() writes it (all borrowed). */
typedef struct {
  const char *tid, *to_path, *from_path, *message_id, *content_type;
  gsize first, last, total; /* Byte-Range first-last/total */
  gboolean open_end;        /* "*" instead of last (an interruptible chunk) */
  gboolean success_report;  /* "Success-Report: yes" */
  const guint8 *body;
  gsize len;
  char flag;
} PrlMsrpSendChunk;

/* Appends the SEND chunk @c to @out: the same bytes as a PrlMsrpFrame with To-Path, From-Path,
 * Message-ID, Byte-Range, [Success-Report,] Content-Type and the body given to
 * prl_msrp_frame_write(), without building one (the stack's per-message path). */
void prl_msrp_frame_write_send (const PrlMsrpSendChunk *c, GByteArray *out);
/* TRUE when "-------<tid>" followed by a flag occurs in @data (the sender must then pick
 * another tid: RFC 4975 §7.1). */
gboolean prl_msrp_body_has_end_line (const guint8 *data, gsize len, const char *tid);

/* One canonical line for tests and debug logs (transfer full), without a trailing newline:
 * `SEND tid="t" flag=$ To-Path="..." ... body="..."` or `200 "OK" tid="t" flag=$ ...`.
 * Bytes outside printable ASCII are written \xhh, bodies over 64 bytes as len:N. */
char *prl_msrp_frame_to_text (const PrlMsrpFrame *frame);
/* Appends @len bytes to @out as a quoted string with the escapes of prl_msrp_frame_to_text. */
void prl_msrp_quote (GString *out, const void *data, gsize len);

/* RFC 4975 §7.1 ident (4..32 characters, first alphanumeric). */
gboolean prl_msrp_is_ident (const char *s, gsize len);
/* A new random ident of @len characters (alphanumeric, ~5.95 bits each). (transfer full) */
char *prl_msrp_random_ident (guint len);

/* Byte-Range "start-end/total": end and total may be "*", given back as -1. start >= 1, and
 * end >= start - 1 when both are numbers. FALSE when malformed. */
gboolean prl_msrp_byte_range_parse (const char *value, gint64 *start, gint64 *end,
                                    gint64 *total);
/* Status header "000 nnn [comment]": the code, or 0 when malformed. */
guint prl_msrp_status_parse (const char *value);
/* The reason phrase we send with @status ("OK", "Bad Request", ...). (transfer none) */
const char *prl_msrp_status_phrase (guint status);

G_END_DECLS
