/* sip/sdp.h - the SDP of an MSRP chat session (RFC 4975 §8, RFC 6135), built and read.
 *
 * Parley offers and answers exactly one "m=message <port> TCP/MSRP *" line. Reading uses
 * sofia's SDP parser (sdp_parse) and takes the first message/TCP-MSRP m-line; everything
 * else in the description is ignored. No sofia type appears here.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* What one side says about its MSRP endpoint. */
typedef struct {
  char *host;               /* c= address (informative: MSRP connects to a=path) */
  guint port;               /* m= port; 0 = the m-line is rejected */
  char *path;               /* a=path: space-separated MSRP URIs, first = next hop */
  char **accept_types;      /* a=accept-types, NULL-terminated (never NULL after a parse) */
  char **accept_wrapped_types; /* a=accept-wrapped-types, or NULL */
  char *setup;              /* a=setup value ("active", "passive", "actpass"), or NULL */
  guint64 max_size;         /* a=max-size, 0 when absent */
} PrlSdpMsrp;

void prl_sdp_msrp_clear (PrlSdpMsrp *s);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (PrlSdpMsrp, prl_sdp_msrp_clear)

/* Reads an offer or answer: FALSE with a message in @error when it does not parse, has no
 * message m-line over TCP/MSRP, or lacks a=path / a=accept-types on an accepted m-line. */
gboolean prl_sdp_msrp_parse (const char *sdp, gsize len, PrlSdpMsrp *out, char **error);

/* (transfer full) an SDP body with CRLF line ends for @s (host, port, path, accept types,
 * optional wrapped types, setup, max-size); @session_id is the o= id and version. */
char *prl_sdp_msrp_build (const PrlSdpMsrp *s, guint64 session_id);

/* RFC 6135 answer rule: the a=setup of our answer to an offer saying @offer_setup
 * (NULL = absent: RFC 4975 makes the offerer active, so we are passive). */
const char *prl_sdp_msrp_answer_setup (const char *offer_setup);
/* Given the offer's and the answer's setup, TRUE when the offerer opens the connection. */
gboolean prl_sdp_msrp_offerer_active (const char *offer_setup, const char *answer_setup);

/* TRUE when @type ("text/plain", parameters ignored) is in @accept (wildcards "*", "x/ *"). */
gboolean prl_sdp_msrp_accepts (char *const *accept, const char *type);

G_END_DECLS
