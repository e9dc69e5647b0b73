/* sip/msrp-types.c - media type matching for the MSRP stack (sip/msrp-types.h).
 *
 * prl_msrp_cpim_inner_type walks lines only: a malformed header line is skipped, not judged
 * (gateway/cpim.c refuses it later, and the core counts what it cannot deliver). It never
 * reads past @len, so a first chunk that ends mid-header simply says PARTIAL.
 */
#include "sip/msrp-types.h"

#include <string.h>

gboolean
prl_msrp_type_accepted (char *const *accept, const char *content_type)
{
  if (accept == NULL)
    return TRUE;
  if (content_type == NULL)
    return FALSE;
  g_autofree char *t = g_strndup (content_type, strcspn (content_type, ";"));
  g_strstrip (t);
  const char *slash = strchr (t, '/');
  for (guint i = 0; accept[i] != NULL; i++) {
    const char *a = accept[i];
    if (strcmp (a, "*") == 0 || g_ascii_strcasecmp (a, t) == 0)
      return TRUE;
    gsize al = strlen (a);
    if (slash != NULL && al >= 2 && strcmp (a + al - 2, "/*") == 0 && (gsize)(slash - t) == al - 2
        && g_ascii_strncasecmp (a, t, al - 2) == 0)
      return TRUE;
  }
  return FALSE;
}

gboolean
prl_msrp_type_is_cpim (const char *content_type)
{
  static char *const cpim[] = { "message/cpim", NULL };
  return content_type != NULL && prl_msrp_type_accepted (cpim, content_type);
}

PrlMsrpCpimType
prl_msrp_cpim_inner_type (const guint8 *data, gsize len, char **type)
{
  static const char name[] = "Content-Type";
  const gsize nlen = sizeof name - 1;
  const char *p = (const char *)data;
  gsize pos = 0;
  guint block = 0; /* 0: the CPIM headers, 1: the entity's */
  *type = NULL;
  while (pos < len) {
    const char *lf = memchr (p + pos, '\n', len - pos);
    if (lf == NULL)
      break;
    gsize next = (gsize)(lf - p) + 1;
    gsize end = (gsize)(lf - p);
    if (end > pos && p[end - 1] == '\r')
      end--;
    if (end == pos) { /* blank line: a block ends */
      if (++block == 2)
        return PRL_MSRP_CPIM_NONE;
    } else if (block == 1 && end - pos > nlen && g_ascii_strncasecmp (p + pos, name, nlen) == 0
               && p[pos + nlen] == ':') {
      g_autofree char *v = g_strndup (p + pos + nlen + 1, end - pos - nlen - 1);
      g_strstrip (v);
      if (v[0] == '\0')
        return PRL_MSRP_CPIM_NONE;
      *type = g_steal_pointer (&v);
      return PRL_MSRP_CPIM_FOUND;
    }
    pos = next;
  }
  return PRL_MSRP_CPIM_PARTIAL;
}
