/* sip/codec.h - sofia sip_t <-> PrlSipMessage, and the checks on values we put on the wire.
 *
 * Internal to sip/ (it speaks sofia types). Pure functions: no nua, no sockets, no clock.
 * Everything returned is GLib memory owned by the caller; sofia memory is never handed out.
 */
#pragma once

#include <glib.h>
#include <sofia-sip/sip.h>

#include "gateway/message.h"
#include "sip/sip.h"

G_BEGIN_DECLS

/* Converts a received MESSAGE (or INVITE: sip/invite.c) request into (transfer full) a PrlSipMessage (txn 0, part 0).
 * Fails with PRL_SIP_ERROR_MALFORMED, and a message fit for a 400 reason phrase, when the
 * request is not a MESSAGE or lacks a valid From, To, Call-ID or CSeq. is_udp comes from the
 * transport in the top Via. */
PrlSipMessage *prl_sip_codec_read (const sip_t *sip, GError **error);

/* (transfer full) the dedupe key of a request: Call-ID, CSeq number and From tag; NULL when
 * the request lacks Call-ID or CSeq. */
char *prl_sip_codec_dedupe_key (const sip_t *sip);

/* TRUE when @value may go into a header: valid UTF-8 with no CR, LF or other control
 * character (HTAB allowed). Else PRL_SIP_ERROR_INVALID naming @what. */
gboolean prl_sip_codec_check_text (const char *what, const char *value, GError **error);

/* TRUE when @uri is a bare sip:/sips:/tel: URI that sofia parses (no display name, no <>). */
gboolean prl_sip_codec_check_uri (const char *what, const char *uri, GError **error);

/* Checks every value of a MESSAGE to send (request_uri or to, from, call_id, subject,
 * content_type, content_language, date). FALSE with PRL_SIP_ERROR_INVALID on the first bad one. */
gboolean prl_sip_codec_check_outgoing (const PrlSipMessage *msg, GError **error);

/* Checks a Contact value for a response: a sip:, sips:, tel: or xmpp: URI, or a name-addr
 * "<uri>" with optional params. */
gboolean prl_sip_codec_check_contact (const char *contact, GError **error);

/* (transfer full) a reason phrase safe for the status line: control characters become
 * spaces, invalid UTF-8 is repaired, at most 128 bytes; empty -> the standard phrase. */
char *prl_sip_codec_reason (guint status, const char *reason);

G_END_DECLS
