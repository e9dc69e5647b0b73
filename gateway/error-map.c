/* gateway/error-map.c - the RFC 7247 error tables, both directions, and SIP reason phrases.
 *
 * Design: three static tables searched linearly (they are short and the lookups are rare: one
 * per failed message). Table 3 (SIP -> XMPP) lists every status RFC 7247 names, with the class
 * defaults for the rest; Table 2 (XMPP -> SIP) carries a full-JID and a bare-JID status per
 * condition, so the 4xx/6xx choice is data, not code. The deviations the RFC allows and
 * Parley takes (service-unavailable never becomes 503) are in the data too.
 *
 * Ownership: every returned string is static. GLib only, no I/O.
 *
 * Rules implemented: mapping-docs/errors.md §1 (SIP -> XMPP), §2 (XMPP -> SIP), §3 (error
 * types), §4 (reason phrases).
 */
#include "gateway/error-map.h"

#include <string.h>

/* errors.md §1: RFC 7247 Table 3, in status order. */
static const struct {
  guint status;
  const char *condition;
} sip_to_xmpp[] = {
  { 300, "redirect" },
  { 301, "gone" },
  { 302, "redirect" },
  { 305, "redirect" },
  { 380, "not-acceptable" },
  { 400, "bad-request" },
  { 401, "not-authorized" },
  { 402, "bad-request" },
  { 403, "forbidden" },
  { 404, "item-not-found" },
  { 405, "feature-not-implemented" },
  { 406, "not-acceptable" },
  { 407, "registration-required" },
  { 408, "remote-server-timeout" },
  { 410, "gone" },
  { 413, "policy-violation" },
  { 414, "policy-violation" },
  { 415, "not-acceptable" },
  { 416, "not-acceptable" },
  { 420, "feature-not-implemented" },
  { 421, "not-acceptable" },
  { 423, "resource-constraint" },
  { 430, "recipient-unavailable" },
  { 439, "feature-not-implemented" },
  { 440, "policy-violation" },
  { 480, "recipient-unavailable" },
  { 481, "item-not-found" },
  { 482, "not-acceptable" },
  { 483, "not-acceptable" },
  { 484, "item-not-found" },
  { 485, "item-not-found" },
  { 486, "recipient-unavailable" },
  { 487, "recipient-unavailable" },
  { 488, "not-acceptable" },
  { 489, "policy-violation" },
  { 491, "unexpected-request" },
  { 493, "bad-request" },
  { 500, "internal-server-error" },
  { 501, "feature-not-implemented" },
  { 502, "remote-server-not-found" },
  { 503, "internal-server-error" },
  { 504, "remote-server-timeout" },
  { 505, "not-acceptable" },
  { 513, "policy-violation" },
  { 600, "recipient-unavailable" },
  { 603, "recipient-unavailable" },
  { 604, "item-not-found" },
  { 606, "not-acceptable" },
};

/* errors.md §2: RFC 7247 Table 2. A status of 0 in "bare" means "same as full". */
static const struct {
  const char *condition;
  guint full; /* the error concerns a full JID (one resource): 4xx */
  guint bare; /* ... a bare JID (every resource): 6xx where the table says so */
} xmpp_to_sip[] = {
  { "bad-request", 400, 0 },
  { "conflict", 400, 0 },
  { "feature-not-implemented", 405, 501 },
  { "forbidden", 403, 603 },
  { "gone", 410, 0 }, /* 301 when it carries a new address */
  { "internal-server-error", 500, 0 },
  { "item-not-found", 404, 604 },
  { "jid-malformed", 400, 0 },
  { "not-acceptable", 406, 606 },
  { "not-allowed", 403, 0 },
  { "not-authorized", 401, 0 },
  { "policy-violation", 403, 0 },
  { "recipient-unavailable", 480, 600 },
  { "redirect", 302, 0 },
  { "registration-required", 407, 0 },
  { "remote-server-not-found", 404, 0 },
  { "remote-server-timeout", 408, 0 },
  { "resource-constraint", 500, 0 },
  { "service-unavailable", 405, 403 }, /* never 503: it would condemn the whole server */
  { "subscription-required", 400, 0 },
  { "undefined-condition", 400, 0 },
  { "unexpected-request", 491, 0 },
};

/* errors.md §3: RFC 6120 §8.3.3, the type Parley puts on each condition it generates. */
static const struct {
  const char *condition;
  const char *type;
} types[] = {
  { "bad-request", "modify" },
  { "conflict", "cancel" },
  { "feature-not-implemented", "cancel" },
  { "forbidden", "auth" },
  { "gone", "cancel" },
  { "internal-server-error", "cancel" },
  { "item-not-found", "cancel" },
  { "jid-malformed", "modify" },
  { "not-acceptable", "modify" },
  { "not-allowed", "cancel" },
  { "not-authorized", "auth" },
  { "policy-violation", "modify" },
  { "recipient-unavailable", "wait" },
  { "redirect", "modify" },
  { "registration-required", "auth" },
  { "remote-server-not-found", "cancel" },
  { "remote-server-timeout", "wait" },
  { "resource-constraint", "wait" },
  { "service-unavailable", "cancel" },
  { "subscription-required", "auth" },
  { "undefined-condition", "cancel" },
  { "unexpected-request", "wait" },
};

/* errors.md §4: RFC 3261 §21 and the extensions registered since (IANA "SIP Response
 * Codes"). */
static const struct {
  guint status;
  const char *reason;
} reasons[] = {
  { 100, "Trying" },
  { 180, "Ringing" },
  { 181, "Call Is Being Forwarded" },
  { 182, "Queued" },
  { 183, "Session Progress" },
  { 199, "Early Dialog Terminated" },
  { 200, "OK" },
  { 202, "Accepted" },
  { 204, "No Notification" },
  { 300, "Multiple Choices" },
  { 301, "Moved Permanently" },
  { 302, "Moved Temporarily" },
  { 305, "Use Proxy" },
  { 380, "Alternative Service" },
  { 400, "Bad Request" },
  { 401, "Unauthorized" },
  { 402, "Payment Required" },
  { 403, "Forbidden" },
  { 404, "Not Found" },
  { 405, "Method Not Allowed" },
  { 406, "Not Acceptable" },
  { 407, "Proxy Authentication Required" },
  { 408, "Request Timeout" },
  { 410, "Gone" },
  { 412, "Conditional Request Failed" },
  { 413, "Request Entity Too Large" },
  { 414, "Request-URI Too Long" },
  { 415, "Unsupported Media Type" },
  { 416, "Unsupported URI Scheme" },
  { 417, "Unknown Resource-Priority" },
  { 420, "Bad Extension" },
  { 421, "Extension Required" },
  { 422, "Session Interval Too Small" },
  { 423, "Interval Too Brief" },
  { 424, "Bad Location Information" },
  { 428, "Use Identity Header" },
  { 429, "Provide Referrer Identity" },
  { 430, "Flow Failed" },
  { 433, "Anonymity Disallowed" },
  { 436, "Bad Identity-Info" },
  { 437, "Unsupported Certificate" },
  { 438, "Invalid Identity Header" },
  { 439, "First Hop Lacks Outbound Support" },
  { 440, "Max-Breadth Exceeded" },
  { 469, "Bad Info Package" },
  { 470, "Consent Needed" },
  { 480, "Temporarily Unavailable" },
  { 481, "Call/Transaction Does Not Exist" },
  { 482, "Loop Detected" },
  { 483, "Too Many Hops" },
  { 484, "Address Incomplete" },
  { 485, "Ambiguous" },
  { 486, "Busy Here" },
  { 487, "Request Terminated" },
  { 488, "Not Acceptable Here" },
  { 489, "Bad Event" },
  { 491, "Request Pending" },
  { 493, "Undecipherable" },
  { 494, "Security Agreement Required" },
  { 500, "Server Internal Error" },
  { 501, "Not Implemented" },
  { 502, "Bad Gateway" },
  { 503, "Service Unavailable" },
  { 504, "Server Time-out" },
  { 505, "Version Not Supported" },
  { 513, "Message Too Large" },
  { 555, "Push Notification Service Not Supported" },
  { 580, "Precondition Failure" },
  { 600, "Busy Everywhere" },
  { 603, "Decline" },
  { 604, "Does Not Exist Anywhere" },
  { 606, "Not Acceptable" },
  { 607, "Unwanted" },
  { 608, "Rejected" },
};

const char *
prl_error_type_for (const char *condition)
{
  g_return_val_if_fail (condition != NULL, "cancel");
  for (gsize i = 0; i < G_N_ELEMENTS (types); i++)
    if (strcmp (types[i].condition, condition) == 0)
      return types[i].type;
  return "cancel"; /* errors.md §3.2: anything else is a final failure */
}

PrlXmppError
prl_error_sip_to_xmpp (guint status)
{
  const char *condition = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS (sip_to_xmpp) && condition == NULL; i++)
    if (sip_to_xmpp[i].status == status)
      condition = sip_to_xmpp[i].condition;

  if (condition == NULL) {
    /* errors.md §1.2: class defaults; §1.3: nothing else is a final failure we can name */
    switch (status / 100) {
    case 3:
      condition = "redirect";
      break;
    case 4:
      condition = "bad-request";
      break;
    case 5:
      condition = "internal-server-error";
      break;
    case 6:
      condition = "recipient-unavailable";
      break;
    default:
      condition = "internal-server-error";
      break;
    }
  }
  return (PrlXmppError){ condition, prl_error_type_for (condition) };
}

guint
prl_error_xmpp_to_sip (const char *condition, gboolean to_full_jid, gboolean has_address)
{
  if (condition == NULL)
    condition = "undefined-condition";
  if (strcmp (condition, "gone") == 0 && has_address)
    return 301; /* errors.md §2.2: RFC 7247 MUST */

  for (gsize i = 0; i < G_N_ELEMENTS (xmpp_to_sip); i++)
    if (strcmp (xmpp_to_sip[i].condition, condition) == 0) {
      if (!to_full_jid && xmpp_to_sip[i].bare != 0)
        return xmpp_to_sip[i].bare;
      return xmpp_to_sip[i].full;
    }
  return 400; /* errors.md §2.3: unknown conditions as undefined-condition */
}

const char *
prl_sip_reason_phrase (guint status)
{
  for (gsize i = 0; i < G_N_ELEMENTS (reasons); i++)
    if (reasons[i].status == status)
      return reasons[i].reason;
  return "Unknown";
}
