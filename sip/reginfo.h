/* sip/reginfo.h - a pure parser of RFC 3680 reg-event bodies (application/reginfo+xml).
 *
 * The body of a NOTIFY for "Event: reg" is untrusted input: it is parsed with GMarkup (no
 * DTDs, no entities beyond the XML five, no network), bounded in size, and reduced to what
 * the offline store needs: for each <registration aor=".." state="..">, whether the AoR has
 * at least one active contact, and the first such contact's URI. No sofia type here: the
 * agent (sip/agent.c) hands the payload bytes over, so the parser can be fuzzed alone
 * (sip/fuzz/fuzz-reginfo.c).
 * Ownership: every string in the result is owned by it (prl_reginfo_free).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define PRL_REGINFO_MAX_BYTES 65536      /* larger bodies are refused unread */
#define PRL_REGINFO_MAX_REGISTRATIONS 64 /* further <registration> elements are ignored */

typedef struct {
  char *aor;       /* the aor attribute, as written (never NULL) */
  char *state;     /* the registration's state attribute ("init", "active", "terminated") */
  gboolean active; /* state="active" and at least one <contact state="active"> */
  char *contact;   /* the <uri> of the first active contact, or NULL */
} PrlReginfoRegistration;

typedef struct {
  char *state;              /* the reginfo element's state attribute: "full" or "partial" */
  guint64 version;          /* its version attribute (0 when absent or invalid) */
  GPtrArray *registrations; /* PrlReginfoRegistration*, document order, owned */
} PrlReginfo;

void prl_reginfo_free (PrlReginfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlReginfo, prl_reginfo_free)

/* Parses @len bytes of @data (not necessarily NUL-terminated). Returns (transfer full) the
 * result, or NULL with @error set (G_MARKUP_ERROR; G_MARKUP_ERROR_INVALID_CONTENT above
 * PRL_REGINFO_MAX_BYTES or when the root is not <reginfo>).
 * Elements are matched by local name, whatever their namespace prefix. */
PrlReginfo *prl_reginfo_parse (const char *data, gsize len, GError **error);

G_END_DECLS
