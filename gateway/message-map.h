/* gateway/message-map.h - the field-level rules of page mode (mapping-docs/page-mode.md).
 *
 * Pure helpers used by gateway/core.c: decoding a SIP MESSAGE body into XMPP text
 * (content type, charset, CPIM unwrap, XML 1.0 character rules), header-safety and syntax
 * checks (Call-ID, language tags), the SIP request size estimate and the chunk planner.
 * Nothing here keeps state; every returned string is (transfer full) unless said otherwise.
 */
#pragma once

#include "gateway/message.h"

G_BEGIN_DECLS

/* Content-Type of every MESSAGE the core sends, and the Accept header of a 415. */
#define PRL_MESSAGE_MAP_CONTENT_TYPE "text/plain;charset=UTF-8"
#define PRL_MESSAGE_MAP_ACCEPT "text/plain, message/cpim"
/* Longest Call-ID the core sends (longer thread ids are hashed). */
#define PRL_MESSAGE_MAP_CALL_ID_MAX 128

/* Outcome of decoding a SIP body (mapping-docs/page-mode.md §3, §4). */
typedef enum {
  PRL_BODY_OK,
  PRL_BODY_EMPTY,           /* 400: nothing to deliver */
  PRL_BODY_UNSUPPORTED,     /* 415 + Accept: a type other than text/plain or message/cpim */
  PRL_BODY_UNKNOWN_CHARSET, /* 415: charset we cannot convert */
  PRL_BODY_BAD_CPIM,        /* 400: message/cpim that does not parse */
  PRL_BODY_BAD_ENCODING,    /* 400: bytes invalid in the declared charset / UTF-8 */
  PRL_BODY_ILLEGAL_CHAR,    /* 400: NUL or another character XML 1.0 forbids */
  PRL_BODY_TOO_BIG,         /* 413: over max_message_bytes (before or after conversion) */
} PrlBodyStatus;

/* Splits a Content-Type value into its lower-cased media type ("text/plain") and its charset
 * parameter (as written, unquoted; NULL if absent). FALSE if it is not type "/" subtype. */
gboolean prl_message_map_parse_content_type (const char *value, char **media_type, char **charset);

/* Decodes the body of a received MESSAGE into UTF-8 text fit for an XMPP <body/>.
 * @content_type NULL is read as text/plain. On PRL_BODY_OK sets *text (transfer full, NUL
 * terminated, no NUL inside) and *cpim_subject (a CPIM Subject: header if the body was CPIM and
 * it carried a usable one, else NULL). */
PrlBodyStatus prl_message_map_sip_body (const char *content_type, const char *body, gsize len,
                                        gsize max_bytes, char **text, char **cpim_subject);

/* PRL_BODY_OK if the @len bytes at @s are UTF-8 made only of XML 1.0 characters;
 * PRL_BODY_BAD_ENCODING or PRL_BODY_ILLEGAL_CHAR otherwise. */
PrlBodyStatus prl_message_map_check_xml_text (const char *s, gsize len);

/* TRUE if @s can go into a SIP header value: valid UTF-8, no CR, LF or other control
 * character except HT. */
gboolean prl_message_map_header_is_safe (const char *s);

/* TRUE for a plausible BCP 47 tag: ALPHA{1,8} *("-" ALNUM{1,8}), at most 64 bytes. */
gboolean prl_message_map_lang_is_valid (const char *tag);

/* TRUE if @s is a SIP Call-ID: word ["@" word] (RFC 3261 §25.1), 1..128 bytes. */
gboolean prl_message_map_call_id_is_valid (const char *s);

/* Call-ID for an XMPP <thread/>: the thread itself if it is a valid Call-ID; else bytes outside
 * the word set percent-encoded; if that is longer than 128 bytes, the SHA-256 hex of the
 * thread. NULL for an empty thread. */
char *prl_message_map_call_id_from_thread (const char *thread);

/* Formats a part marker: the first "%u" is @part, the second @parts, "%%" is "%", anything
 * else is copied literally (no printf: the format comes from the configuration). */
char *prl_message_map_format_marker (const char *format, guint part, guint parts);

/* Estimated size in bytes of the whole request @m would be on the wire: request line, From,
 * To, Call-ID, CSeq, Subject, Content-Type, Content-Language, Date and Content-Length lines,
 * the blank line, @header_reserve (Via, Max-Forwards, tags: what the SIP stack adds) and the
 * body. Uses m->cseq and m->body_len. */
gsize prl_message_map_estimate (const PrlSipMessage *m, gsize header_reserve);

/* Plans how to send @body (@len bytes of valid UTF-8) with the headers of @tmpl so that every
 * request's estimate is <= @limit. Returns the cut offsets (transfer full, a GArray of gsize:
 * part k is [cuts[k-1], cuts[k]), cuts[0] = 0, cuts->len - 1 parts); one part means "send as
 * is, no marker". With several parts, each starts with @marker_format formatted (part, parts).
 * Cuts fall on character boundaries, after the last whitespace in the second half of a part's
 * budget when there is one. NULL if even one character per part does not fit. */
GArray *prl_message_map_plan_chunks (const PrlSipMessage *tmpl, gsize header_reserve, gsize limit,
                                     const char *marker_format, const char *body, gsize len);

/* Builds part @k (1-based) of a plan: a copy of @tmpl with cseq = part = k, parts, the body
 * (marker + slice when there are several parts) and size_estimate set. (transfer full) */
PrlSipMessage *prl_message_map_make_part (const PrlSipMessage *tmpl, gsize header_reserve,
                                          const char *marker_format, const char *body,
                                          const GArray *cuts, guint k);

G_END_DECLS
