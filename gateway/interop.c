/* gateway/interop.c - receipts, markers, isComposing, Content-Encoding and the capability
 * cache for page mode (see interop.h).
 *
 * DESIGN. One PrlTtlMap correlates both directions (bounded by max_pending entries, each kept
 * TRACK_TTL_S): "o\n<Message-ID>\n<peer>" for an XMPP message we sent as CPIM with an IMDN
 * request (peer = the SIP recipient's user@host, which must be the IMDN's sender), and
 * "i\n<xmpp id>" for a SIP message with an IMDN request that we relayed (the XMPP recipient's
 * receipt or marker quotes our stanza id). An entry answers each requested disposition once
 * (RFC 5438: at most one IMDN per disposition) and is dropped when nothing is left to answer.
 * IMDNs are sent to the SIP From of the IM, not the CPIM From (which the sender writes
 * itself, and would let anyone aim our IMDNs at a third party).
 * Ownership: the map owns its Track values; strings returned are (transfer full).
 * Rules: mapping-docs/receipts.md (§ numbers below).
 */
#include "gateway/interop.h"

#include "gateway/addr-map.h"
#include "gateway/cpim.h"
#include "gateway/imdn.h"
#include "gateway/inflate.h"
#include "gateway/message-map.h"
#include "gateway/ttl-map.h"

#include <string.h>

#define TRACK_TTL_S 86400
#define CPIM_TYPE "message/cpim"

typedef struct {
  /* "o": XMPP sender waiting for an IMDN */
  char *xmpp_from, *xmpp_to, *xmpp_id, *xmpp_type;
  /* "i": SIP sender waiting for an IMDN */
  char *sip_sender, *sip_recipient, *message_id, *datetime;
  guint wants; /* PRL_IMDN_WANT_* still to answer */
} Track;

struct _PrlInterop {
  PrlCapsCache *caps;
  PrlTtlMap *track;
  guint next; /* ids and Call-IDs of what we make here */
};

static void
track_free (Track *t)
{
  if (t == NULL)
    return;
  g_free (t->xmpp_from);
  g_free (t->xmpp_to);
  g_free (t->xmpp_id);
  g_free (t->xmpp_type);
  g_free (t->sip_sender);
  g_free (t->sip_recipient);
  g_free (t->message_id);
  g_free (t->datetime);
  g_free (t);
}

PrlInterop *
prl_interop_new (const PrlCoreConfig *config)
{
  PrlInterop *self = g_new0 (PrlInterop, 1);
  self->caps = prl_caps_cache_new (config->caps_cache_size, config->caps_cache_ttl_s);
  self->track = prl_ttl_map_new (MAX (config->max_pending, 1),
                                 (gint64)TRACK_TTL_S * G_USEC_PER_SEC, (GDestroyNotify)track_free);
  return self;
}

void
prl_interop_free (PrlInterop *self)
{
  if (self == NULL)
    return;
  prl_caps_cache_free (self->caps);
  prl_ttl_map_free (self->track);
  g_free (self);
}

void
prl_interop_set_config (PrlInterop *self, const PrlCoreConfig *config)
{
  prl_caps_cache_set_limits (self->caps, config->caps_cache_size, config->caps_cache_ttl_s);
  prl_ttl_map_set_limits (self->track, MAX (config->max_pending, 1),
                          (gint64)TRACK_TTL_S * G_USEC_PER_SEC);
}

static void
count (GPtrArray *out, const char *counter)
{
  PrlAction *a = prl_action_new (PRL_ACTION_COUNT);
  a->counter = counter;
  g_ptr_array_add (out, a);
}

static void
respond (GPtrArray *out, guint64 txn, guint status, const char *reason, guint retry_after_s,
         const char *counter)
{
  PrlAction *a = prl_action_new (PRL_ACTION_SIP_RESPOND);
  a->respond.txn = txn;
  a->respond.status = status;
  a->respond.reason = g_strdup (reason);
  a->respond.retry_after_s = retry_after_s;
  g_ptr_array_add (out, a);
  count (out, counter);
}

static char *
media_of (const char *content_type)
{
  char *media = NULL, *charset = NULL;
  if (!prl_message_map_parse_content_type (content_type != NULL ? content_type : "text/plain",
                                           &media, &charset))
    return NULL;
  g_free (charset);
  return media;
}

/* The CPIM prefix declared for urn:ietf:params:imdn ("imdn" by default). */
static char *
imdn_header (const PrlCpimMessage *cpim, const char *name)
{
  const char *prefix = "imdn";
  g_autofree char *found = NULL;
  for (guint i = 0; i < cpim->headers->len; i++) {
    const PrlCpimHeader *h = g_ptr_array_index (cpim->headers, i);
    if (strcmp (h->name, "NS") != 0 || strstr (h->value, "<urn:ietf:params:imdn>") == NULL)
      continue;
    const char *v = h->value;
    gsize n = strcspn (v, " \t<");
    if (n > 0) {
      found = g_strndup (v, n);
      prefix = found;
    }
    break;
  }
  g_autofree char *full = g_strconcat (prefix, ".", name, NULL);
  const char *value = prl_cpim_message_get_header (cpim, full);
  return g_strdup (value);
}

static char *
new_id (PrlInterop *self, const PrlCoreConfig *config, const char *kind)
{
  return g_strdup_printf ("%s-%s%u", config->id_prefix, kind, ++self->next);
}

/* ---------------------------------------------------------------- SIP -> XMPP */

/* §3: an IMDN for a message we sent as CPIM: a receipt or a displayed marker to its sender. */
static void
on_imdn (PrlInterop *self, const PrlCoreConfig *config, const PrlSipMessage *m,
         const PrlImdn *imdn, gboolean link_up, gint64 now_us, GPtrArray *out)
{
  g_autofree char *peer = prl_caps_cache_key (m->from);
  g_autofree char *key = g_strdup_printf ("o\n%s\n%s", imdn->message_id, peer ? peer : "");
  Track *t = prl_ttl_map_get (self->track, key, now_us);
  guint flag = imdn->kind == PRL_IMDN_DELIVERY ? PRL_IMDN_WANT_POSITIVE_DELIVERY
               : imdn->kind == PRL_IMDN_DISPLAY ? PRL_IMDN_WANT_DISPLAY
                                                : 0;
  gboolean ok = (flag == PRL_IMDN_WANT_POSITIVE_DELIVERY && strcmp (imdn->status, "delivered") == 0)
                || (flag == PRL_IMDN_WANT_DISPLAY && strcmp (imdn->status, "displayed") == 0);
  if (t == NULL || !ok || (t->wants & flag) == 0) {
    /* unknown, answered already, a failure, or processing: nothing to tell XMPP (§3) */
    respond (out, m->txn, 200, "OK", 0, t == NULL ? "sip_in_imdn_unmatched" : "sip_in_imdn_ignored");
    return;
  }
  if (!link_up) {
    respond (out, m->txn, 503, "XMPP link down", config->retry_after_s, "sip_in_rejected_link_down");
    return;
  }
  PrlAction *a = prl_action_new (PRL_ACTION_XMPP_SEND);
  PrlXmppMessage *x = a->xmpp = prl_xmpp_message_new ();
  x->from = g_strdup (t->xmpp_to);
  x->to = g_strdup (t->xmpp_from);
  x->id = new_id (self, config, "r");
  x->type = g_strdup (t->xmpp_type);
  if (flag == PRL_IMDN_WANT_POSITIVE_DELIVERY)
    x->receipt_id = g_strdup (t->xmpp_id);
  else
    x->displayed_id = g_strdup (t->xmpp_id);
  g_ptr_array_add (out, a);
  respond (out, m->txn, 200, "OK",
           0, flag == PRL_IMDN_WANT_DISPLAY ? "sip_in_imdn_displayed" : "sip_in_imdn_delivered");
  t->wants &= ~flag;
  if ((t->wants & (PRL_IMDN_WANT_POSITIVE_DELIVERY | PRL_IMDN_WANT_DISPLAY)) == 0)
    prl_ttl_map_remove (self->track, key);
}

/* §6: isComposing -> XEP-0085 <composing/> (active) or <paused/> (idle), type chat. */
static void
on_iscomposing (PrlInterop *self, const PrlCoreConfig *config, const PrlSipMessage *m,
                gboolean active, const char *from_jid, const char *to_jid, gboolean link_up,
                GPtrArray *out)
{
  if (!config->iscomposing) {
    respond (out, m->txn, 200, "OK", 0, "sip_in_iscomposing_ignored");
    return;
  }
  if (!link_up) { /* a state is worthless later: say OK, drop it (never parked, XEP-0160) */
    respond (out, m->txn, 200, "OK", 0, "sip_in_iscomposing_dropped");
    return;
  }
  PrlAction *a = prl_action_new (PRL_ACTION_XMPP_SEND);
  PrlXmppMessage *x = a->xmpp = prl_xmpp_message_new ();
  x->from = g_strdup (from_jid);
  x->to = g_strdup (to_jid);
  x->id = new_id (self, config, "c");
  x->type = g_strdup ("chat");
  x->chat_state = g_strdup (active ? "composing" : "paused");
  g_ptr_array_add (out, a);
  respond (out, m->txn, 200, "OK", 0, "sip_in_iscomposing");
}

gboolean
prl_interop_sip_in (PrlInterop *self, const PrlCoreConfig *config, const PrlSipMessage *m,
                    const char *from_jid, const char *to_jid, gboolean link_up, gint64 now_us,
                    PrlSipMessage **decoded, GPtrArray *out)
{
  g_return_val_if_fail (self != NULL && m != NULL && decoded != NULL, FALSE);
  *decoded = NULL;
  const char *body = m->body;
  gsize len = m->body_len;

  /* §5: Content-Encoding first, bounded by max_message_bytes */
  g_autoptr (PrlSipMessage) plain = NULL;
  if (m->content_encoding != NULL && *m->content_encoding != '\0') {
    char *data = NULL;
    gsize n = 0;
    switch (prl_inflate_body (m->content_encoding, body, len, config->max_message_bytes, &data,
                              &n)) {
    case PRL_INFLATE_OK:
      break;
    case PRL_INFLATE_UNSUPPORTED:
      respond (out, m->txn, 415, "Unsupported Content-Encoding", 0, "sip_in_rejected_encoding");
      return TRUE;
    case PRL_INFLATE_TOO_BIG:
      respond (out, m->txn, 413, "Message too large", 0, "sip_in_rejected_413");
      return TRUE;
    case PRL_INFLATE_CORRUPT:
      respond (out, m->txn, 400, "Body does not decode", 0, "sip_in_rejected_encoding");
      return TRUE;
    }
    count (out, "sip_in_body_inflated");
    plain = prl_sip_message_dup (m);
    g_free (plain->body);
    plain->body = data;
    plain->body_len = n;
    g_clear_pointer (&plain->content_encoding, g_free);
    body = plain->body;
    len = n;
  }

  g_autofree char *media = media_of (m->content_type);
  g_autoptr (PrlCpimMessage) cpim = NULL;
  if (media != NULL && strcmp (media, CPIM_TYPE) == 0) {
    cpim = prl_cpim_parse (body, len, NULL);
    if (cpim != NULL) { /* malformed CPIM: message-map.c answers it */
      g_free (media);
      media = media_of (cpim->content_type);
      body = cpim->body;
      len = cpim->body_len;
    }
  }
  if (media != NULL && strcmp (media, PRL_IMDN_CONTENT_TYPE) == 0) {
    g_autoptr (PrlImdn) imdn = prl_imdn_parse (body, len, NULL);
    if (imdn == NULL)
      respond (out, m->txn, 400, "Malformed IMDN", 0, "sip_in_rejected_imdn");
    else
      on_imdn (self, config, m, imdn, link_up, now_us, out);
    return TRUE;
  }
  if (media != NULL && strcmp (media, PRL_ISCOMPOSING_TYPE) == 0) {
    gboolean active = FALSE;
    guint refresh = 0;
    if (!prl_iscomposing_parse (body, len, &active, &refresh))
      respond (out, m->txn, 400, "Malformed isComposing", 0, "sip_in_rejected_iscomposing");
    else
      on_iscomposing (self, config, m, active, from_jid, to_jid, link_up, out);
    return TRUE;
  }
  *decoded = g_steal_pointer (&plain);
  return FALSE;
}

void
prl_interop_sip_decorate (PrlInterop *self, const PrlCoreConfig *config, const PrlSipMessage *m,
                          const char *target, PrlXmppMessage *x, gint64 now_us)
{
  g_autofree char *media = media_of (m->content_type);
  if (media == NULL || strcmp (media, CPIM_TYPE) != 0)
    return;
  g_autoptr (PrlCpimMessage) cpim = prl_cpim_parse (m->body, m->body_len, NULL);
  if (cpim == NULL)
    return;
  g_autofree char *message_id = imdn_header (cpim, "Message-ID");
  if (message_id == NULL || !prl_imdn_token_is_safe (message_id))
    return;
  x->origin_id = g_strdup (message_id); /* §2: XEP-0359 <-> imdn.Message-ID */
  g_autofree char *disposition = imdn_header (cpim, "Disposition-Notification");
  guint wants = prl_imdn_parse_disposition (disposition)
                & (PRL_IMDN_WANT_POSITIVE_DELIVERY | PRL_IMDN_WANT_DISPLAY);
  if (!config->imdn || wants == 0 || !prl_imdn_token_is_safe (m->from)
      || !prl_imdn_token_is_safe (target))
    return;
  x->receipt_request = (wants & PRL_IMDN_WANT_POSITIVE_DELIVERY) != 0; /* §1 */
  x->markable = (wants & PRL_IMDN_WANT_DISPLAY) != 0;
  Track *t = g_new0 (Track, 1);
  t->sip_sender = g_strdup (m->from);
  t->sip_recipient = g_strdup (target);
  t->message_id = g_steal_pointer (&message_id);
  const char *dt = prl_cpim_message_get_header (cpim, "DateTime");
  t->datetime = dt != NULL && prl_imdn_token_is_safe (dt) ? g_strdup (dt) : NULL;
  t->xmpp_to = g_strdup (x->to);
  t->wants = wants;
  g_autofree char *key = g_strdup_printf ("i\n%s", x->id);
  prl_ttl_map_put (self->track, key, t, now_us);
}

/* ---------------------------------------------------------------- XMPP -> SIP */

static gboolean
same_bare (const char *a, const char *b)
{
  if (a == NULL || b == NULL)
    return FALSE;
  gsize la = strcspn (a, "/"), lb = strcspn (b, "/");
  return la == lb && g_ascii_strncasecmp (a, b, la) == 0;
}

/* §3: the XMPP recipient's receipt or marker -> a CPIM-wrapped IMDN to the SIP sender. */
static PrlSipMessage *
imdn_for (PrlInterop *self, const PrlCoreConfig *config, const PrlXmppMessage *m, const char *id,
          guint flag, gint64 now_us, GPtrArray *out)
{
  g_autofree char *key = g_strdup_printf ("i\n%s", id);
  Track *t = prl_ttl_map_get (self->track, key, now_us);
  if (t == NULL || !same_bare (m->from, t->xmpp_to) || (t->wants & flag) == 0) {
    count (out, "xmpp_in_receipt_unmatched");
    return NULL;
  }
  g_autofree char *now = prl_imdn_format_datetime (now_us);
  gboolean display = flag == PRL_IMDN_WANT_DISPLAY;
  g_autofree char *doc = prl_imdn_build (t->message_id, t->datetime, t->sip_recipient,
                                         display ? PRL_IMDN_DISPLAY : PRL_IMDN_DELIVERY,
                                         display ? "displayed" : "delivered");
  g_autofree char *mid = new_id (self, config, "i");
  gsize len = 0;
  g_autofree char *body
      = prl_imdn_wrap_cpim (t->sip_recipient, t->sip_sender, now, mid, NULL, PRL_IMDN_CONTENT_TYPE,
                            "notification", doc, strlen (doc), &len);
  PrlSipMessage *s = prl_sip_message_new ();
  s->request_uri = g_strdup (t->sip_sender);
  s->from = g_strdup (t->sip_recipient);
  s->to = g_strdup (t->sip_sender);
  s->call_id = g_strdup_printf ("%s-n%u@parley", config->id_prefix, ++self->next);
  s->cseq = 1;
  s->content_type = g_strdup (CPIM_TYPE);
  prl_sip_message_set_body (s, body, len);
  count (out, display ? "xmpp_in_displayed" : "xmpp_in_receipt");
  t->wants &= ~flag;
  if ((t->wants & (PRL_IMDN_WANT_POSITIVE_DELIVERY | PRL_IMDN_WANT_DISPLAY)) == 0)
    prl_ttl_map_remove (self->track, key);
  return s;
}

/* §6: composing -> isComposing active, paused/inactive/gone -> idle. */
static PrlSipMessage *
iscomposing_for (PrlInterop *self, const PrlCoreConfig *config, const PrlXmppMessage *m,
                 gint64 now_us, GPtrArray *out)
{
  const char *st = m->chat_state;
  if (!config->iscomposing || st == NULL || strcmp (st, "active") == 0
      || g_strcmp0 (m->type, "chat") != 0) {
    count (out, "xmpp_in_ignored");
    return NULL;
  }
  g_autofree char *from_uri = NULL, *to_uri = NULL;
  PrlAddrError aerr = { 0 };
  if (!prl_addr_xmpp_to_sip (config, m->from, m->to, &from_uri, &to_uri, &aerr)) {
    count (out, "xmpp_in_ignored");
    return NULL;
  }
  if (prl_caps_cache_refused (self->caps, to_uri, PRL_CAP_ISCOMPOSING, now_us)) { /* §4 */
    count (out, "xmpp_in_iscomposing_suppressed");
    return NULL;
  }
  g_autofree char *doc = prl_iscomposing_build (strcmp (st, "composing") == 0, 60);
  PrlSipMessage *s = prl_sip_message_new ();
  s->request_uri = g_strdup (to_uri);
  s->from = g_steal_pointer (&from_uri);
  s->to = g_steal_pointer (&to_uri);
  s->call_id = g_strdup_printf ("%s-n%u@parley", config->id_prefix, ++self->next);
  s->cseq = 1;
  s->content_type = g_strdup (PRL_ISCOMPOSING_TYPE);
  prl_sip_message_set_body (s, doc, strlen (doc));
  count (out, "xmpp_in_iscomposing");
  return s;
}

PrlSipMessage *
prl_interop_xmpp_notification (PrlInterop *self, const PrlCoreConfig *config,
                               const PrlXmppMessage *m, gint64 now_us, GPtrArray *out)
{
  g_return_val_if_fail (self != NULL && m != NULL, NULL);
  if (config->imdn && m->receipt_id != NULL)
    return imdn_for (self, config, m, m->receipt_id, PRL_IMDN_WANT_POSITIVE_DELIVERY, now_us, out);
  if (config->imdn && m->displayed_id != NULL)
    return imdn_for (self, config, m, m->displayed_id, PRL_IMDN_WANT_DISPLAY, now_us, out);
  return iscomposing_for (self, config, m, now_us, out);
}

char *
prl_interop_wrap (PrlInterop *self, const PrlCoreConfig *config, const PrlXmppMessage *m,
                  PrlSipMessage *tmpl, const char *body, gsize len, gsize *out_len, gint64 now_us)
{
  g_return_val_if_fail (self != NULL && m != NULL && tmpl != NULL && out_len != NULL, NULL);
  if (!config->imdn || (!m->receipt_request && !m->markable))
    return NULL;
  /* §2: the Message-ID is the XEP-0359 origin-id when there is one, else the stanza id
   * (XEP-0184 receipts need one) */
  const char *mid = prl_imdn_token_is_safe (m->origin_id) ? m->origin_id : m->id;
  if (!prl_imdn_token_is_safe (mid) || m->id == NULL || *m->id == '\0'
      || !prl_imdn_token_is_safe (tmpl->from) || !prl_imdn_token_is_safe (tmpl->to)
      || prl_caps_cache_refused (self->caps, tmpl->request_uri, PRL_CAP_CPIM, now_us))
    return NULL;
  guint wants = (m->receipt_request ? PRL_IMDN_WANT_POSITIVE_DELIVERY : 0)
                | (m->markable ? PRL_IMDN_WANT_DISPLAY : 0);
  const char *disposition = wants == PRL_IMDN_WANT_POSITIVE_DELIVERY ? "positive-delivery"
                            : wants == PRL_IMDN_WANT_DISPLAY        ? "display"
                                                                    : "positive-delivery, display";
  g_autofree char *now = prl_imdn_format_datetime (now_us);
  char *wrapped = prl_imdn_wrap_cpim (tmpl->from, tmpl->to, now, mid, disposition,
                                      PRL_MESSAGE_MAP_CONTENT_TYPE, NULL, body, len, out_len);
  g_free (tmpl->content_type);
  tmpl->content_type = g_strdup (CPIM_TYPE);

  Track *t = g_new0 (Track, 1);
  t->xmpp_from = g_strdup (m->from);
  t->xmpp_to = g_strdup (m->to);
  t->xmpp_id = g_strdup (m->id);
  t->xmpp_type = g_strdup (m->type);
  t->wants = wants;
  g_autofree char *peer = prl_caps_cache_key (tmpl->request_uri);
  g_autofree char *key = g_strdup_printf ("o\n%s\n%s", mid, peer ? peer : "");
  prl_ttl_map_put (self->track, key, t, now_us);
  return wrapped;
}

void
prl_interop_refused (PrlInterop *self, const char *contact, PrlCap cap, gint64 now_us,
                     GPtrArray *out)
{
  prl_caps_cache_refuse (self->caps, contact, cap, now_us);
  count (out, cap == PRL_CAP_CPIM ? "sip_peer_refused_cpim" : "sip_peer_refused_iscomposing");
}

gboolean
prl_interop_is_refused (PrlInterop *self, const char *contact, PrlCap cap, gint64 now_us)
{
  return prl_caps_cache_refused (self->caps, contact, cap, now_us);
}
