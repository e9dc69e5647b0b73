/* bench/xmpp-sink.c - the benchmark's XEP-0114 sink and source (not a general XMPP server).
 *
 * It plays the XMPP server's side of a component connection (jabber:component:accept,
 * STANDARDS.md §6.1): it answers the component's stream header with its own and a fresh
 * stream id, checks <handshake/> = lowercase hex SHA-1(stream id + secret) and answers an
 * empty <handshake/>. Then, with nothing between the gateway and the benchmark:
 *  - sink: it counts the <message/> stanzas the component sends (distinct ones by the sequence
 *    number at the start of the body, "<letter><seq> ... <epoch s>.<micro s>", which is how
 *    sipp's uac_rate.xml and this program write bodies), takes the latency from the body's
 *    timestamp, and counts type='error' messages by condition;
 *  - source: it writes <message/> stanzas to the component at a given rate, round-robin over
 *    N destinations u0..uN-1@DOMAIN, bodies "<prefix><seq> <epoch>.<micro>".
 * Input is not parsed as XML: stanzas are cut at "<message" ... "</message>" (or "/>").
 *
 * --connect makes it the component side instead (stream header, handshake), so that two
 * instances measure the tool's own ceiling, one sending into the other.
 *
 * Usage: xmpp-sink --listen PORT --secret S            (the server side; the gateway connects)
 *        xmpp-sink --connect PORT --secret S --domain D (the component side; self-test)
 * Commands, one per line on stdin:     answers, JSON lines on stdout:
 *   reset                               {"event":"reset"}
 *   stats                               {"event":"stats","unique":..,"total":..,"errors":..,
 *                                         "conditions":{..},"lat_ms":{p50,p99,max,n},..}
 *   count                               {"event":"count","unique":..,"total":..,"errors":..}
 *   send RATE COUNT NDEST DOMAIN FROM PREFIX   later {"event":"sent","sent":N,"elapsed":s}
 *   quit
 * Unsolicited: {"event":"listening"}, {"event":"online","to":..}, {"event":"closed"},
 * {"event":"refused",..} (bad handshake).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONN 8
#define OUT_CAP (8u << 20) /* stop generating while this much is unwritten */
#define MAX_COND 16

/* ------------------------------------------------------------------ SHA-1 (FIPS 180-4) */

typedef struct {
  uint32_t h[5];
  uint64_t bytes;
  unsigned char blk[64];
  size_t used;
} Sha1;

static uint32_t rol (uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block (Sha1 *s, const unsigned char *p)
{
  uint32_t w[80];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16 |
           (uint32_t) p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 80; i++)
    w[i] = rol (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];
  for (int i = 0; i < 80; i++) {
    uint32_t f, k;
    if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999; }
    else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1; }
    else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC; }
    else { f = b ^ c ^ d; k = 0xCA62C1D6; }
    uint32_t t = rol (a, 5) + f + e + k + w[i];
    e = d; d = c; c = rol (b, 30); b = a; a = t;
  }
  s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d; s->h[4] += e;
}

static void sha1_init (Sha1 *s)
{
  static const uint32_t iv[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  memcpy (s->h, iv, sizeof iv);
  s->bytes = 0;
  s->used = 0;
}

static void sha1_update (Sha1 *s, const void *data, size_t n)
{
  const unsigned char *p = data;
  s->bytes += n;
  while (n--) {
    s->blk[s->used++] = *p++;
    if (s->used == 64) {
      sha1_block (s, s->blk);
      s->used = 0;
    }
  }
}

static void sha1_hex (Sha1 *s, char out[41])
{
  uint64_t bits = s->bytes * 8;
  unsigned char pad = 0x80;
  sha1_update (s, &pad, 1);
  pad = 0;
  while (s->used != 56)
    sha1_update (s, &pad, 1);
  for (int i = 7; i >= 0; i--) {
    unsigned char c = (unsigned char) (bits >> (8 * i));
    sha1_update (s, &c, 1);
  }
  for (int i = 0; i < 5; i++)
    sprintf (out + 8 * i, "%08x", s->h[i]);
}

/* ------------------------------------------------------------------ buffers, clock */

typedef struct {
  char *p;
  size_t len, cap;
} Buf;

static void buf_add (Buf *b, const void *data, size_t n)
{
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->p = realloc (b->p, b->cap);
    if (!b->p) { perror ("realloc"); exit (2); }
  }
  memcpy (b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void buf_drop (Buf *b, size_t n)
{
  memmove (b->p, b->p + n, b->len - n);
  b->len -= n;
  if (b->p) b->p[b->len] = 0;
}

static double now_real (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_mono (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void emit (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
static void emit (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  putchar ('\n');
  fflush (stdout);
}

/* ------------------------------------------------------------------ state */

enum { ST_HEADER, ST_HANDSHAKE, ST_ONLINE };

typedef struct {
  int fd;
  int state;
  char id[24];
  Buf in, out;
} Conn;

static Conn conns[MAX_CONN];
static int server_side = 1;
static const char *secret = "";
static const char *my_domain = "";

/* receive counters */
static uint64_t total, errors, unique;
static unsigned char *seen; /* bitmap of sequence numbers */
static size_t seen_bits;
static double *lat;
static size_t nlat, caplat;
static double t_first, t_last;
static struct { char name[40]; uint64_t n; } cond[MAX_COND];
static int ncond;

/* sender */
static struct {
  int on;
  double rate, t0;
  uint64_t count, sent;
  int ndest;
  char domain[256], from[512], prefix[16];
} tx;

static void reset_counters (void)
{
  total = errors = unique = 0;
  if (seen) memset (seen, 0, seen_bits / 8);
  nlat = 0;
  t_first = t_last = 0;
  ncond = 0;
}

static int seen_test_set (uint64_t seq)
{
  if (seq >= seen_bits) {
    size_t nb = seen_bits ? seen_bits : (1u << 20);
    while (nb <= seq) nb *= 2;
    seen = realloc (seen, nb / 8);
    if (!seen) { perror ("realloc"); exit (2); }
    memset (seen + seen_bits / 8, 0, (nb - seen_bits) / 8);
    seen_bits = nb;
  }
  unsigned char m = 1u << (seq & 7);
  if (seen[seq >> 3] & m) return 1;
  seen[seq >> 3] |= m;
  return 0;
}

static void add_lat (double v)
{
  if (nlat == caplat) {
    caplat = caplat ? caplat * 2 : 65536;
    lat = realloc (lat, caplat * sizeof *lat);
    if (!lat) { perror ("realloc"); exit (2); }
  }
  lat[nlat++] = v;
}

static void add_cond (const char *name, size_t n)
{
  if (n == 4 && memcmp (name, "text", 4) == 0) return;
  if (n >= sizeof cond[0].name) n = sizeof cond[0].name - 1;
  for (int i = 0; i < ncond; i++)
    if (strlen (cond[i].name) == n && memcmp (cond[i].name, name, n) == 0) {
      cond[i].n++;
      return;
    }
  if (ncond == MAX_COND) return;
  memcpy (cond[ncond].name, name, n);
  cond[ncond].name[n] = 0;
  cond[ncond++].n = 1;
}

/* ------------------------------------------------------------------ stanzas */

static const char STANZA_NS[] = "urn:ietf:params:xml:ns:xmpp-stanzas";

/* one <message/> stanza, s..e (e exclusive); gt = the '>' of its start tag */
static void on_message (const char *s, const char *gt, const char *e, double now)
{
  size_t hl = gt - s;
  if (memmem (s, hl, "type='error'", 12) || memmem (s, hl, "type=\"error\"", 12)) {
    errors++;
    const char *p = s;
    while ((p = memmem (p, e - p, STANZA_NS, sizeof STANZA_NS - 1)) != NULL) {
      const char *lt = p;
      while (lt > s && *lt != '<') lt--;
      const char *q = lt + 1;
      while (q < p && ((*q >= 'a' && *q <= 'z') || *q == '-')) q++;
      if (q > lt + 1) add_cond (lt + 1, q - lt - 1);
      p += sizeof STANZA_NS - 1;
    }
    return;
  }
  total++;
  if (!t_first) t_first = now;
  t_last = now;
  const char *b = memmem (gt, e - gt, "<body>", 6);
  if (!b) return;
  b += 6;
  if (b >= e || !(*b >= 'A' && *b <= 'Z')) return;
  b++;
  uint64_t seq = 0;
  const char *d = b;
  while (d < e && *d >= '0' && *d <= '9') seq = seq * 10 + (*d++ - '0');
  if (d == b || d >= e || (*d != ' ' && *d != '\t' && *d != '\n')) return;
  if (seen_test_set (seq)) return;
  unique++;
  /* the first "<10 digits>.<6 digits>" before the end of the body */
  const char *end = memchr (d, '<', e - d);
  if (!end) return;
  for (const char *p = d; p + 17 <= end; p++) {
    int ok = 1;
    for (int i = 0; i < 17 && ok; i++)
      ok = (i == 10) ? p[i] == '.' : (p[i] >= '0' && p[i] <= '9');
    if (ok && (p == d || p[-1] < '0' || p[-1] > '9')) {
      add_lat (now - strtod (p, NULL));
      return;
    }
  }
}

/* cut complete <message/> stanzas out of c->in; keeps an incomplete tail */
static void scan_stanzas (Conn *c, double now)
{
  char *p = c->in.p, *end = c->in.p + c->in.len;
  char *keep = p;
  for (;;) {
    char *s = memmem (p, end - p, "<message", 8);
    if (!s) {
      keep = end - 8 > p ? end - 8 : p; /* a split "<message" */
      break;
    }
    char *gt = memchr (s, '>', end - s);
    if (!gt) { keep = s; break; }
    char *e;
    if (gt[-1] == '/') {
      e = gt + 1;
    } else {
      e = memmem (gt, end - gt, "</message>", 10);
      if (!e) { keep = s; break; }
      e += 10;
    }
    on_message (s, gt, e, now);
    p = keep = e;
  }
  buf_drop (&c->in, keep - c->in.p);
}

/* the value of attribute name='..' or name=".." within s..e, into out */
static int attr (const char *s, const char *e, const char *name, char *out, size_t outsz)
{
  size_t nl = strlen (name);
  for (const char *p = s; p + nl + 2 < e; p++) {
    if ((p == s || p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\n' || p[-1] == '\r') &&
        memcmp (p, name, nl) == 0 && p[nl] == '=' && (p[nl + 1] == '\'' || p[nl + 1] == '"')) {
      char q = p[nl + 1];
      const char *v = p + nl + 2, *ve = memchr (v, q, e - v);
      if (!ve) return 0;
      size_t n = ve - v < (long) outsz - 1 ? (size_t) (ve - v) : outsz - 1;
      memcpy (out, v, n);
      out[n] = 0;
      return 1;
    }
  }
  return 0;
}

static void conn_close (Conn *c)
{
  if (c->fd < 0) return;
  close (c->fd);
  c->fd = -1;
  c->in.len = c->out.len = 0;
  emit ("{\"event\":\"closed\"}");
}

static void conn_send (Conn *c, const char *s) { buf_add (&c->out, s, strlen (s)); }

static void handshake_digest (const char *id, char hex[41])
{
  Sha1 s;
  sha1_init (&s);
  sha1_update (&s, id, strlen (id));
  sha1_update (&s, secret, strlen (secret));
  sha1_hex (&s, hex);
}

/* returns 0 when the connection must close */
static int on_input (Conn *c, double now)
{
  static unsigned counter;
  for (;;) {
    if (c->state == ST_ONLINE) {
      scan_stanzas (c, now);
      return 1;
    }
    if (c->state == ST_HEADER) {
      char *s = strstr (c->in.p, "<stream:stream");
      if (!s) return 1;
      char *gt = strchr (s, '>');
      if (!gt) return 1;
      char buf[600], to[256] = "";
      if (server_side) {
        attr (s, gt, "to", to, sizeof to);
        snprintf (c->id, sizeof c->id, "%08x%04x", (unsigned) (now * 1e6), ++counter & 0xffff);
        snprintf (buf, sizeof buf,
                  "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/"
                  "streams' xmlns='jabber:component:accept' from='%s' id='%s'>", to, c->id);
        conn_send (c, buf);
      } else {
        char hex[41];
        if (!attr (s, gt, "id", c->id, sizeof c->id)) return 0;
        handshake_digest (c->id, hex);
        snprintf (buf, sizeof buf, "<handshake>%s</handshake>", hex);
        conn_send (c, buf);
      }
      buf_drop (&c->in, gt + 1 - c->in.p);
      c->state = ST_HANDSHAKE;
      if (server_side) emit ("{\"event\":\"header\",\"to\":\"%s\"}", to);
      continue;
    }
    /* ST_HANDSHAKE */
    if (server_side) {
      /* <handshake> or <handshake xmlns='jabber:component:accept'> (libstrophe) */
      char *s = strstr (c->in.p, "<handshake");
      char *gt = s ? strchr (s, '>') : NULL;
      char *e = gt ? strstr (gt, "</handshake>") : NULL;
      if (!e) return 1;
      char want[41];
      handshake_digest (c->id, want);
      s = gt + 1;
      while (s < e && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')) s++;
      if (e - s < 40 || strncasecmp (s, want, 40) != 0) {
        conn_send (c, "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                      "</stream:error></stream:stream>");
        emit ("{\"event\":\"refused\",\"why\":\"bad handshake\"}");
        return 0;
      }
      conn_send (c, "<handshake/>");
      buf_drop (&c->in, e + 12 - c->in.p);
    } else {
      char *s = strstr (c->in.p, "<handshake");
      if (!s) {
        if (strstr (c->in.p, "<stream:error")) return 0;
        return 1;
      }
      char *gt = strchr (s, '>');
      if (!gt) return 1;
      buf_drop (&c->in, gt + 1 - c->in.p);
    }
    c->state = ST_ONLINE;
    emit ("{\"event\":\"online\"}");
  }
}

static Conn *conn_new (int fd)
{
  for (int i = 0; i < MAX_CONN; i++)
    if (conns[i].fd < 0) {
      Conn *c = &conns[i];
      int one = 1;
      fcntl (fd, F_SETFL, O_NONBLOCK);
      setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      c->fd = fd;
      c->state = ST_HEADER;
      c->in.len = c->out.len = 0;
      return c;
    }
  close (fd);
  return NULL;
}

/* the connection the source writes to: the last one that came online */
static Conn *tx_conn (void)
{
  for (int i = MAX_CONN - 1; i >= 0; i--)
    if (conns[i].fd >= 0 && conns[i].state == ST_ONLINE) return &conns[i];
  return NULL;
}

static void tx_generate (Conn *c, double mono)
{
  uint64_t due = (uint64_t) ((mono - tx.t0) * tx.rate) + 1;
  if (due > tx.count) due = tx.count;
  if (due <= tx.sent || c->out.len > OUT_CAP) return;
  double wall = now_real ();
  char buf[1024];
  for (; tx.sent < due; tx.sent++) {
    int n = snprintf (buf, sizeof buf,
                      "<message type='chat' from='%s' to='u%d@%s' id='s%llu'>"
                      "<body>%s%llu %.6f</body></message>",
                      tx.from, (int) (tx.sent % tx.ndest), tx.domain,
                      (unsigned long long) tx.sent, tx.prefix,
                      (unsigned long long) tx.sent + 1, wall);
    buf_add (&c->out, buf, n);
  }
}

static int cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static void stats (void)
{
  double p50 = -1, p99 = -1, mx = -1;
  if (nlat) {
    double *v = malloc (nlat * sizeof *v);
    memcpy (v, lat, nlat * sizeof *v);
    qsort (v, nlat, sizeof *v, cmp_double);
    size_t i50 = (size_t) (0.50 * nlat), i99 = (size_t) (0.99 * nlat);
    p50 = v[i50 < nlat ? i50 : nlat - 1] * 1000;
    p99 = v[i99 < nlat ? i99 : nlat - 1] * 1000;
    mx = v[nlat - 1] * 1000;
    free (v);
  }
  char conds[MAX_COND * 64] = "";
  size_t off = 0;
  for (int i = 0; i < ncond; i++)
    off += snprintf (conds + off, sizeof conds - off, "%s\"%s\":%llu", i ? "," : "",
                     cond[i].name, (unsigned long long) cond[i].n);
  int online = 0;
  for (int i = 0; i < MAX_CONN; i++) online += conns[i].fd >= 0 && conns[i].state == ST_ONLINE;
  char l50[32] = "null", l99[32] = "null", lmx[32] = "null";
  if (nlat) {
    snprintf (l50, sizeof l50, "%.3f", p50);
    snprintf (l99, sizeof l99, "%.3f", p99);
    snprintf (lmx, sizeof lmx, "%.3f", mx);
  }
  emit ("{\"event\":\"stats\",\"unique\":%llu,\"total\":%llu,\"errors\":%llu,"
        "\"conditions\":{%s},\"lat_ms\":{\"p50\":%s,\"p99\":%s,\"max\":%s,\"n\":%zu},"
        "\"first\":%.6f,\"last\":%.6f,\"online\":%d,\"sending\":%d,\"queued_out\":%zu}",
        (unsigned long long) unique, (unsigned long long) total, (unsigned long long) errors,
        conds, l50, l99, lmx, nlat, t_first, t_last, online, tx.on,
        tx_conn () ? tx_conn ()->out.len : 0);
}

/* returns 0 on quit */
static int command (char *line)
{
  char op[16] = "";
  sscanf (line, "%15s", op);
  if (!strcmp (op, "reset")) {
    reset_counters ();
    emit ("{\"event\":\"reset\"}");
  } else if (!strcmp (op, "stats")) {
    stats ();
  } else if (!strcmp (op, "count")) { /* stats without the latency sort */
    emit ("{\"event\":\"count\",\"unique\":%llu,\"total\":%llu,\"errors\":%llu}",
          (unsigned long long) unique, (unsigned long long) total, (unsigned long long) errors);
  } else if (!strcmp (op, "send")) {
    double rate;
    unsigned long long count;
    int ndest;
    if (sscanf (line, "%*s %lf %llu %d %255s %511s %15s", &rate, &count, &ndest, tx.domain,
                tx.from, tx.prefix) != 6 || rate <= 0 || ndest <= 0) {
      emit ("{\"event\":\"error\",\"why\":\"send RATE COUNT NDEST DOMAIN FROM PREFIX\"}");
      return 1;
    }
    tx.rate = rate;
    tx.count = count;
    tx.ndest = ndest;
    tx.sent = 0;
    tx.t0 = now_mono ();
    tx.on = 1;
  } else if (!strcmp (op, "quit")) {
    return 0;
  }
  return 1;
}

static int usage (void)
{
  fprintf (stderr, "usage: xmpp-sink --listen PORT --secret S\n"
                   "       xmpp-sink --connect PORT --secret S --domain D\n");
  return 2;
}

int main (int argc, char **argv)
{
  int port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp (argv[i], "--listen")) { port = atoi (argv[i + 1]); server_side = 1; }
    else if (!strcmp (argv[i], "--connect")) { port = atoi (argv[i + 1]); server_side = 0; }
    else if (!strcmp (argv[i], "--secret")) secret = argv[i + 1];
    else if (!strcmp (argv[i], "--domain")) my_domain = argv[i + 1];
    else return usage ();
  }
  if (!port || (!server_side && !*my_domain)) return usage ();
  signal (SIGPIPE, SIG_IGN);
  for (int i = 0; i < MAX_CONN; i++) conns[i].fd = -1;

  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons (port)};
  inet_pton (AF_INET, "127.0.0.1", &sa.sin_addr);
  int lfd = -1;
  if (server_side) {
    int one = 1;
    lfd = socket (AF_INET, SOCK_STREAM, 0);
    setsockopt (lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind (lfd, (struct sockaddr *) &sa, sizeof sa) || listen (lfd, 16)) {
      perror ("bind/listen");
      return 1;
    }
    fcntl (lfd, F_SETFL, O_NONBLOCK);
    emit ("{\"event\":\"listening\",\"port\":%d}", port);
  } else {
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (connect (fd, (struct sockaddr *) &sa, sizeof sa)) {
      perror ("connect");
      return 1;
    }
    Conn *c = conn_new (fd);
    char buf[512];
    snprintf (buf, sizeof buf,
              "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
              "xmlns:stream='http://etherx.jabber.org/streams' to='%s'>", my_domain);
    conn_send (c, buf);
  }
  fcntl (0, F_SETFL, O_NONBLOCK);

  Buf cmd = {0};
  char rbuf[1 << 16];
  for (;;) {
    struct pollfd pf[MAX_CONN + 2];
    Conn *pc[MAX_CONN + 2];
    int n = 0;
    pf[n] = (struct pollfd){.fd = 0, .events = POLLIN};
    pc[n++] = NULL;
    if (lfd >= 0) {
      pf[n] = (struct pollfd){.fd = lfd, .events = POLLIN};
      pc[n++] = NULL;
    }
    Conn *txc = tx.on ? tx_conn () : NULL;
    if (txc) tx_generate (txc, now_mono ());
    for (int i = 0; i < MAX_CONN; i++)
      if (conns[i].fd >= 0) {
        pf[n] = (struct pollfd){.fd = conns[i].fd,
                                .events = POLLIN | (conns[i].out.len ? POLLOUT : 0)};
        pc[n++] = &conns[i];
      }
    int busy = tx.on && txc && (tx.sent < tx.count || txc->out.len);
    if (poll (pf, n, busy ? 1 : 100) < 0 && errno != EINTR) {
      perror ("poll");
      return 1;
    }
    double now = now_real ();
    for (int i = 0; i < n; i++) {
      if (!pf[i].revents) continue;
      if (pf[i].fd == 0) {
        ssize_t r = read (0, rbuf, sizeof rbuf);
        if (r == 0) goto out;
        if (r < 0) continue;
        buf_add (&cmd, rbuf, r);
        char *nl;
        while ((nl = memchr (cmd.p, '\n', cmd.len)) != NULL) {
          *nl = 0;
          int go = command (cmd.p);
          buf_drop (&cmd, nl + 1 - cmd.p);
          if (!go) goto out;
        }
      } else if (pf[i].fd == lfd) {
        int fd;
        while ((fd = accept (lfd, NULL, NULL)) >= 0) conn_new (fd);
      } else {
        Conn *c = pc[i];
        if (c->fd < 0) continue;
        if (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) {
          int closed = 0;
          for (;;) {
            ssize_t r = read (c->fd, rbuf, sizeof rbuf);
            if (r > 0) {
              buf_add (&c->in, rbuf, r);
              if (r < (ssize_t) sizeof rbuf) break;
            } else {
              if (r == 0 || (errno != EAGAIN && errno != EINTR)) closed = 1;
              break;
            }
          }
          int one = 1;
          setsockopt (c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
          if (c->in.len && !on_input (c, now)) {
            (void) !write (c->fd, c->out.p, c->out.len);
            conn_close (c);
            continue;
          }
          if (closed) {
            conn_close (c);
            continue;
          }
        }
      }
    }
    for (int i = 0; i < MAX_CONN; i++) {
      Conn *c = &conns[i];
      if (c->fd < 0 || !c->out.len) continue;
      ssize_t w = write (c->fd, c->out.p, c->out.len);
      if (w > 0) buf_drop (&c->out, w);
      else if (w < 0 && errno != EAGAIN && errno != EINTR) conn_close (c);
    }
    txc = tx.on ? tx_conn () : NULL;
    if (tx.on && txc && tx.sent >= tx.count && !txc->out.len) {
      tx.on = 0;
      emit ("{\"event\":\"sent\",\"sent\":%llu,\"elapsed\":%.4f}",
            (unsigned long long) tx.sent, now_mono () - tx.t0);
    }
  }
out:
  for (int i = 0; i < MAX_CONN; i++) conn_close (&conns[i]);
  return 0;
}
