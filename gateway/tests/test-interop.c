/* gateway/tests/test-interop.c - the pure helpers of interop: ttl-map.c, caps-cache.c,
 * inflate.c and imdn.c (their use by the core is covered by test-vectors/interop/). */
#include "gateway/caps-cache.h"
#include "gateway/imdn.h"
#include "gateway/inflate.h"
#include "gateway/ttl-map.h"

#include <string.h>
#include <zlib.h>

#define S (G_USEC_PER_SEC)

static void
test_ttl_map_expiry_and_bound (void)
{
  g_autoptr (PrlTtlMap) m = prl_ttl_map_new (2, 10 * S, g_free);
  prl_ttl_map_put (m, "a", g_strdup ("1"), 0);
  prl_ttl_map_put (m, "b", g_strdup ("2"), 5 * S);
  g_assert_cmpstr (prl_ttl_map_get (m, "a", 9 * S), ==, "1");
  g_assert_null (prl_ttl_map_get (m, "a", 10 * S)); /* expired */
  g_assert_cmpstr (prl_ttl_map_get (m, "b", 10 * S), ==, "2");
  prl_ttl_map_put (m, "c", g_strdup ("3"), 11 * S);
  prl_ttl_map_put (m, "d", g_strdup ("4"), 12 * S); /* evicts b, the oldest */
  g_assert_null (prl_ttl_map_get (m, "b", 12 * S));
  g_assert_cmpuint (prl_ttl_map_size (m, 12 * S), ==, 2);
  prl_ttl_map_put (m, "c", g_strdup ("5"), 13 * S); /* a put restarts the entry's life */
  g_assert_cmpstr (prl_ttl_map_get (m, "c", 22 * S), ==, "5");
  g_assert_null (prl_ttl_map_get (m, "d", 22 * S));
  g_assert_true (prl_ttl_map_remove (m, "c"));
  g_assert_cmpuint (prl_ttl_map_size (m, 22 * S), ==, 0);
}

static void
test_caps_cache (void)
{
  g_autoptr (PrlCapsCache) c = prl_caps_cache_new (2, 60);
  g_autofree char *key = prl_caps_cache_key ("sip:Frank@SIP.test;transport=udp");
  g_assert_cmpstr (key, ==, "frank@sip.test");
  g_assert_false (prl_caps_cache_refused (c, "sip:frank@sip.test", PRL_CAP_CPIM, 0));
  prl_caps_cache_refuse (c, "sip:frank@sip.test", PRL_CAP_CPIM, 0);
  g_assert_true (prl_caps_cache_refused (c, "sip:FRANK@sip.test;gr=x", PRL_CAP_CPIM, S));
  g_assert_false (prl_caps_cache_refused (c, "sip:frank@sip.test", PRL_CAP_ISCOMPOSING, S));
  prl_caps_cache_refuse (c, "sip:frank@sip.test", PRL_CAP_ISCOMPOSING, 2 * S);
  g_assert_true (prl_caps_cache_refused (c, "sip:frank@sip.test", PRL_CAP_CPIM, 61 * S));
  g_assert_false (prl_caps_cache_refused (c, "sip:frank@sip.test", PRL_CAP_CPIM, 62 * S));
  prl_caps_cache_refuse (c, "sip:a@x", PRL_CAP_CPIM, 0);
  prl_caps_cache_refuse (c, "sip:b@x", PRL_CAP_CPIM, 0);
  prl_caps_cache_refuse (c, "sip:c@x", PRL_CAP_CPIM, 0); /* bounded: a is evicted */
  g_assert_false (prl_caps_cache_refused (c, "sip:a@x", PRL_CAP_CPIM, 0));
  g_assert_cmpuint (prl_caps_cache_size (c, 0), ==, 2);
  g_assert_null (prl_caps_cache_key ("sip:host.only"));
}

static GBytes *
zip (const char *data, gsize len, int bits)
{
  z_stream zs;
  memset (&zs, 0, sizeof zs);
  g_assert_cmpint (deflateInit2 (&zs, 9, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY), ==, Z_OK);
  gsize cap = deflateBound (&zs, len);
  guchar *buf = g_malloc (cap);
  zs.next_in = (Bytef *)data;
  zs.avail_in = (uInt)len;
  zs.next_out = buf;
  zs.avail_out = (uInt)cap;
  g_assert_cmpint (deflate (&zs, Z_FINISH), ==, Z_STREAM_END);
  gsize n = cap - zs.avail_out;
  deflateEnd (&zs);
  return g_bytes_new_take (buf, n);
}

static void
test_inflate (void)
{
  const char *text = "<imdn>hello hello hello</imdn>";
  for (int bits = 0; bits < 3; bits++) {
    int wb = bits == 0 ? 15 : bits == 1 ? -15 : 31;
    g_autoptr (GBytes) z = zip (text, strlen (text), wb);
    gsize zlen = 0;
    const char *zd = g_bytes_get_data (z, &zlen);
    char *out = NULL;
    gsize len = 0;
    g_assert_cmpint (prl_inflate_body (bits == 2 ? "gzip" : "Deflate", zd, zlen, 1000, &out, &len),
                     ==, PRL_INFLATE_OK);
    g_assert_cmpstr (out, ==, text);
    g_free (out);
    /* truncated */
    g_assert_cmpint (prl_inflate_body ("deflate", zd, zlen - 3, 1000, &out, &len), ==,
                     PRL_INFLATE_CORRUPT);
    g_assert_null (out);
  }
  /* a bomb: 4 MiB of zeros in a few KiB is refused at the limit */
  gsize big = 4 << 20;
  g_autofree char *zeros = g_malloc0 (big);
  g_autoptr (GBytes) bomb = zip (zeros, big, 15);
  gsize blen = 0;
  const char *bd = g_bytes_get_data (bomb, &blen);
  g_assert_cmpuint (blen, <, 10000);
  char *out = NULL;
  gsize len = 0;
  g_assert_cmpint (prl_inflate_body ("deflate", bd, blen, 131072, &out, &len), ==,
                   PRL_INFLATE_TOO_BIG);
  g_assert_cmpint (prl_inflate_body ("br", "x", 1, 10, &out, &len), ==, PRL_INFLATE_UNSUPPORTED);
  g_assert_cmpint (prl_inflate_body ("identity", "abc", 3, 10, &out, &len), ==, PRL_INFLATE_OK);
  g_assert_cmpstr (out, ==, "abc");
  g_free (out);
  g_assert_cmpint (prl_inflate_body ("deflate", "garbage!", 8, 10, &out, &len), ==,
                   PRL_INFLATE_CORRUPT);
}

static void
test_imdn_round_trip (void)
{
  g_autofree char *doc = prl_imdn_build ("id<&>1", "2025-03-01T09:15:00Z", "sip:a@b",
                                         PRL_IMDN_DISPLAY, "displayed");
  g_autoptr (PrlImdn) i = prl_imdn_parse (doc, strlen (doc), NULL);
  g_assert_nonnull (i);
  g_assert_cmpstr (i->message_id, ==, "id<&>1");
  g_assert_cmpstr (i->datetime, ==, "2025-03-01T09:15:00Z");
  g_assert_cmpint (i->kind, ==, PRL_IMDN_DISPLAY);
  g_assert_cmpstr (i->status, ==, "displayed");

  /* linphone's form: default namespace, no XML declaration */
  const char *lin = "<imdn xmlns=\"urn:ietf:params:xml:ns:imdn\"><message-id>abc</message-id>"
                    "<datetime>2026-11-21T22:40:00Z</datetime><delivery-notification><status>"
                    "<delivered/></status></delivery-notification></imdn>";
  g_autoptr (PrlImdn) l = prl_imdn_parse (lin, strlen (lin), NULL);
  g_assert_nonnull (l);
  g_assert_cmpint (l->kind, ==, PRL_IMDN_DELIVERY);
  g_assert_cmpstr (l->status, ==, "delivered");

  g_autoptr (GError) error = NULL;
  g_assert_null (prl_imdn_parse ("<foo/>", 6, &error));
  g_assert_error (error, PRL_IMDN_ERROR, PRL_IMDN_ERROR_MALFORMED);
  g_assert_null (prl_imdn_parse ("<imdn><message-id>x</message-id></imdn>", 39, NULL));
  g_assert_null (prl_imdn_parse ("<imdn>", 6, NULL));

  gboolean active = FALSE;
  guint refresh = 0;
  g_autofree char *c = prl_iscomposing_build (TRUE, 60);
  g_assert_true (prl_iscomposing_parse (c, strlen (c), &active, &refresh));
  g_assert_true (active);
  g_autofree char *idle = prl_iscomposing_build (FALSE, 0);
  g_assert_true (prl_iscomposing_parse (idle, strlen (idle), &active, &refresh));
  g_assert_false (active);

  g_assert_cmpuint (prl_imdn_parse_disposition ("positive-delivery, Display,bogus"), ==,
                    PRL_IMDN_WANT_POSITIVE_DELIVERY | PRL_IMDN_WANT_DISPLAY);
  g_autofree char *dt = prl_imdn_format_datetime (1740820500000000);
  g_assert_cmpstr (dt, ==, "2025-03-01T09:15:00Z");
  g_assert_false (prl_imdn_token_is_safe ("a b"));
  g_assert_false (prl_imdn_token_is_safe ("a\r\nb"));
  g_assert_true (prl_imdn_token_is_safe ("sip:juliet@xmpp.test;gr=balcony"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/interop/ttl-map", test_ttl_map_expiry_and_bound);
  g_test_add_func ("/interop/caps-cache", test_caps_cache);
  g_test_add_func ("/interop/inflate", test_inflate);
  g_test_add_func ("/interop/imdn", test_imdn_round_trip);
  return g_test_run ();
}
