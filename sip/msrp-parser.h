/* sip/msrp-parser.h - incremental MSRP frame parser (RFC 4975 §7.1), bounded.
 *
 * Pure: GLib only. Bytes are fed in slices of any size, split anywhere; each complete frame
 * is handed out (transfer full). The start line and headers are collected line by line (at
 * most max_header bytes per frame); the body is found by scanning for "CRLF -------<tid>"
 * followed by a flag and CRLF, so only the end-line of this frame's transaction ends it.
 * Body bytes are copied once, from the slice into the frame. A body over max_body is not
 * kept: the parser keeps scanning for the end-line with a window of a few bytes, and the
 * frame comes out with body_dropped set (the stack answers 413).
 *
 * Faults that leave the frame boundaries unknown (a start line that is not "MSRP <tid> ...",
 * a header section over max_header, a control character in the start line) are fatal: feed
 * returns FALSE and the connection must be dropped. Faults inside a well-framed frame set
 * frame->parse_error and the frame is still handed out, so that it can be answered 400.
 */
#pragma once

#include "sip/msrp-frame.h"

G_BEGIN_DECLS

typedef struct _PrlMsrpParser PrlMsrpParser;

/* @max_header: bound on start line plus headers; @max_body: body bytes kept per frame. */
PrlMsrpParser *prl_msrp_parser_new (gsize max_header, gsize max_body);
void prl_msrp_parser_free (PrlMsrpParser *parser);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlMsrpParser, prl_msrp_parser_free)

/* Feeds @len bytes; appends each complete PrlMsrpFrame* to @frames (transfer full; the array
 * should free its elements with prl_msrp_frame_free). FALSE with PRL_MSRP_ERROR_INVALID on a
 * fatal fault; every later call then fails too. */
gboolean prl_msrp_parser_feed (PrlMsrpParser *parser, const void *data, gsize len,
                               GPtrArray *frames, GError **error);
/* Bytes held for a frame not complete yet (0 at a frame boundary). */
gsize prl_msrp_parser_pending (const PrlMsrpParser *parser);

G_END_DECLS
