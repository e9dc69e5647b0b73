"""MSRP wire format for the integration tests' MSRP peer (msrp_peer.py); standard library only.

Written from RFC 4975 (MSRP), RFC 4976 (relays), RFC 6135 (a=setup), RFC 3862 (CPIM) and
RFC 3994 (isComposing). Deliberately independent of parleyd's own MSRP code: it is the second
implementation the gateway is tested against.

  Frame        one MSRP request or response: encode() to bytes, parsed fields, problems()
  Parser       incremental frame parser: feed(bytes) -> [Frame] (any split of the stream)
  Reassembler  SEND chunks -> complete Message (by Message-ID and Byte-Range)
  Message      a complete (or aborted) message: body, content type, cpim(), iscomposing_state()
  sdp_offer / sdp_parse, cpim_wrap / cpim_parse, iscomposing_xml / iscomposing_state
"""
import re
import secrets
import time
import xml.etree.ElementTree as ET

FLAGS = (b"+", b"$", b"#")
IDENT_RX = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-+%=]{3,31}\Z")
_START_RX = re.compile(rb"MSRP (\S+) (?:([A-Z]+)|(\d{3})(?: (.*))?)\Z")


def new_id(nbytes=8):
    """A fresh transaction id / Message-ID / session id: 64 random bits as 16 hex chars."""
    return secrets.token_hex(nbytes)


class MsrpParseError(Exception):
    pass


class Frame:
    """An MSRP request (method set) or response (status set).

    headers: [(name, value)] in wire order; body: bytes or None (bodiless); flag: '+', '$' or
    '#'; raw: the exact received bytes (empty for frames built locally until encode())."""

    def __init__(self, tid, method=None, status=None, comment=None, headers=(), body=None,
                 flag="$", raw=b""):
        self.tid, self.method, self.status, self.comment = tid, method, status, comment
        self.headers = list(headers)
        self.body, self.flag, self.raw = body, flag, raw
        self.time = time.monotonic()

    @property
    def is_request(self):
        return self.method is not None

    def h(self, name, default=None):
        """First header value by case-insensitive name."""
        name = name.lower()
        for n, v in self.headers:
            if n.lower() == name:
                return v
        return default

    @property
    def to_path(self):
        return (self.h("To-Path") or "").split()

    @property
    def from_path(self):
        return (self.h("From-Path") or "").split()

    @property
    def message_id(self):
        return self.h("Message-ID")

    @property
    def content_type(self):
        return self.h("Content-Type")

    @property
    def byte_range(self):
        """(start, end or None for '*', total or None for '*'), or None without the header."""
        v = self.h("Byte-Range")
        m = re.fullmatch(r"\s*(\d+)-(\d+|\*)/(\d+|\*)\s*", v or "")
        if not m:
            return None
        return (int(m.group(1)), None if m.group(2) == "*" else int(m.group(2)),
                None if m.group(3) == "*" else int(m.group(3)))

    def encode(self):
        """Wire bytes: Content-Type is moved last (RFC 4975 §7.1.1)."""
        first = self.method if self.is_request else \
            "%03d%s" % (self.status, " " + self.comment if self.comment else "")
        hdrs = [h for h in self.headers if h[0].lower() != "content-type"] + \
               [h for h in self.headers if h[0].lower() == "content-type"]
        out = ("MSRP %s %s\r\n" % (self.tid, first)).encode()
        out += "".join("%s: %s\r\n" % h for h in hdrs).encode("utf-8")
        if self.body is not None:
            out += b"\r\n" + self.body + b"\r\n"
        out += ("-------%s%s\r\n" % (self.tid, self.flag)).encode()
        self.raw = out
        return out

    def problems(self):
        """RFC 4975 rules this frame breaks (empty list if none); for assertions on frames
        the gateway sent."""
        p = []
        if not IDENT_RX.match(self.tid):
            p.append("transaction id %r is not a 4..32 char ident" % self.tid)
        names = [n.lower() for n, _ in self.headers]
        if names[:2] != ["to-path", "from-path"]:
            p.append("To-Path, From-Path are not the first two headers: %s" % names[:2])
        if self.body is not None:
            if not names or names[-1] != "content-type":
                p.append("frame with a body: Content-Type is not the last header")
        elif "content-type" in names:
            p.append("bodiless frame has a Content-Type")
        if not self.is_request and self.flag != "$":
            p.append("response ends with %r, not '$'" % self.flag)
        if self.method == "SEND":
            mid = self.message_id
            if mid is None or not IDENT_RX.match(mid):
                p.append("SEND Message-ID %r missing or not an ident" % mid)
            br = self.byte_range
            n = len(self.body or b"")
            if self.h("Byte-Range") is not None and br is None:
                p.append("bad Byte-Range %r" % self.h("Byte-Range"))
            if br and br[1] is not None and br[1] - br[0] + 1 != n:
                p.append("Byte-Range %s does not match the %d-octet body"
                         % (self.h("Byte-Range"), n))
            if self.body is not None and n > 2048 and br and br[1] is not None:
                p.append("chunk of %d octets (> 2048) is not interruptible (range end not '*')" % n)
        if self.method == "REPORT":
            if self.h("Status") is None:
                p.append("REPORT without Status")
            if self.h("Success-Report") or self.h("Failure-Report"):
                p.append("REPORT carries Success-/Failure-Report")
        return p

    def __repr__(self):
        what = self.method or "%s %s" % (self.status, self.comment or "")
        return "<MSRP %s %s %s body=%s>" % (self.tid, what, self.flag,
                                            None if self.body is None else len(self.body))


def request(method, to_path, from_path, headers=(), body=None, content_type=None, tid=None,
            flag="$"):
    """Build a request Frame. to_path/from_path: lists of URIs. A Content-Type goes with a body
    (None = bodiless). A tid whose end-line would occur in the body is replaced."""
    tid = tid or new_id()
    while body is not None and ("-------" + tid).encode() in body:
        tid = new_id()
    hdrs = [("To-Path", " ".join(to_path)), ("From-Path", " ".join(from_path))] + list(headers)
    if body is not None:
        hdrs.append(("Content-Type", content_type or "text/plain"))
    return Frame(tid, method=method, headers=hdrs, body=body, flag=flag)


def response(req, status, comment, own_uri):
    """The response to a received request (RFC 4975 §7.2): To-Path is the previous hop (first
    From-Path URI), From-Path our URI, flag '$', no body."""
    prev = req.from_path[:1]
    return Frame(req.tid, status=status, comment=comment,
                 headers=[("To-Path", " ".join(prev)), ("From-Path", own_uri)])


class Parser:
    """Incremental parser: feed(data) returns the frames completed by data. The stream may
    be cut anywhere (one byte at a time) or hold several frames. Lenient on content (tid
    format, header order: see Frame.problems()); strict on framing."""

    def __init__(self, max_head=16384):
        self.buf = bytearray()
        self.max_head = max_head
        self._head = None      # (Frame without body, body offset) once the head is complete
        self._scan = 0

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            f = self._next()
            if f is None:
                return out
            out.append(f)

    def _next(self):
        if self._head is None:
            head = self._parse_head()
            if head is None:
                return None
            if isinstance(head, Frame):
                return head                           # bodiless, complete
            self._head = head
            self._scan = head[1]
        frame, start = self._head
        marker = b"\r\n-------" + frame.tid.encode()
        while True:
            k = self.buf.find(marker, self._scan)
            if k < 0:
                self._scan = max(start, len(self.buf) - len(marker) - 2)
                return None
            after = k + len(marker)
            if len(self.buf) < after + 3:
                self._scan = k
                return None
            if self.buf[after:after + 1] in FLAGS and self.buf[after + 1:after + 3] == b"\r\n":
                break
            self._scan = k + 1
        frame.body = bytes(self.buf[start:k])
        frame.flag = chr(self.buf[after])
        frame.raw = bytes(self.buf[:after + 3])
        del self.buf[:after + 3]
        self._head = None
        return frame

    def _parse_head(self):
        i = self.buf.find(b"\r\n")
        if i < 0:
            if len(self.buf) > self.max_head:
                raise MsrpParseError("no start line in %d octets" % len(self.buf))
            return None
        m = _START_RX.match(bytes(self.buf[:i]))
        if not m:
            raise MsrpParseError("bad start line %r" % bytes(self.buf[:i])[:80])
        tid = m.group(1).decode()
        frame = Frame(tid, method=m.group(2) and m.group(2).decode(),
                      status=m.group(3) and int(m.group(3)),
                      comment=m.group(4) and m.group(4).decode("utf-8", "replace"))
        end = ("-------" + tid).encode()
        pos = i + 2
        while True:
            j = self.buf.find(b"\r\n", pos)
            if j < 0:
                if len(self.buf) > self.max_head:
                    raise MsrpParseError("head longer than %d octets" % self.max_head)
                return None
            line = bytes(self.buf[pos:j])
            if line == b"":
                return frame, j + 2
            if line.startswith(end) and len(line) == len(end) + 1 and line[-1:] in FLAGS:
                frame.flag = line[-1:].decode()
                frame.raw = bytes(self.buf[:j + 2])
                del self.buf[:j + 2]
                return frame
            if line.startswith(b"-------"):
                raise MsrpParseError("end-line %r does not match tid %r" % (line, tid))
            name, sep, value = line.decode("utf-8", "replace").partition(":")
            if not sep or not name or name != name.strip():
                raise MsrpParseError("bad header line %r" % line[:80])
            frame.headers.append((name, value.strip()))
            pos = j + 2


class Message:
    """A complete SEND message (all chunks) or an aborted one (aborted=True, partial body)."""

    def __init__(self, message_id, content_type, body, frames, aborted=False):
        self.message_id, self.content_type, self.body = message_id, content_type, body
        self.frames, self.aborted = frames, aborted
        self.time = time.monotonic()

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    @property
    def success_report(self):
        return (self.frames[0].h("Success-Report") or "no").lower()

    @property
    def failure_report(self):
        return (self.frames[0].h("Failure-Report") or "yes").lower()

    def ctype(self):
        """The bare media type, lower case (no parameters)."""
        return (self.content_type or "").split(";")[0].strip().lower()

    def cpim(self):
        """(cpim headers [(name, value)], inner MIME headers, inner body) or None."""
        return cpim_parse(self.body) if self.ctype() == "message/cpim" else None

    def inner(self):
        """(media type, body bytes) after unwrapping message/cpim if present."""
        c = self.cpim()
        if c is None:
            return self.ctype(), self.body
        ct = dict((n.lower(), v) for n, v in c[1]).get("content-type", "")
        return ct.split(";")[0].strip().lower(), c[2]

    def iscomposing_state(self):
        """'active'/'idle' (any other token: 'idle') for an isComposing body, else None."""
        ct, body = self.inner()
        return iscomposing_state(body) if ct == "application/im-iscomposing+xml" else None

    def __repr__(self):
        return "<Message %s %s %d octets%s>" % (self.message_id, self.content_type,
                                                len(self.body), " ABORTED" if self.aborted else "")


class Reassembler:
    """Collects SEND chunks per Message-ID (RFC 4975 §7.3.1): any order, overlaps (last
    received wins), the '$' chunk fixes the total, '#' aborts. add() returns the Message
    when a frame completes (or aborts) one, else None."""

    def __init__(self):
        self.partial = {}

    def add(self, frame):
        mid = frame.message_id or ""
        body = frame.body or b""
        br = frame.byte_range or (1, None, None)
        st = self.partial.setdefault(mid, {"chunks": [], "frames": [], "total": None,
                                           "ctype": None})
        st["frames"].append(frame)
        st["chunks"].append((br[0], body))
        if br[0] == 1 or st["ctype"] is None:
            st["ctype"] = frame.content_type or st["ctype"]
        if br[2] is not None:
            st["total"] = br[2]
        if frame.flag == "$":
            st["total"] = br[0] - 1 + len(body)
        if frame.flag == "#":
            del self.partial[mid]
            return Message(mid, st["ctype"], self._assemble(st, covered_only=True),
                           st["frames"], aborted=True)
        if frame.flag != "$" and not any(f.flag == "$" for f in st["frames"]):
            return None
        total = st["total"]
        have = sorted((s, s + len(b) - 1) for s, b in st["chunks"] if b)
        nxt = 1
        for s, e in have:
            if s > nxt:
                return None
            nxt = max(nxt, e + 1)
        if nxt <= total:
            return None
        del self.partial[mid]
        return Message(mid, st["ctype"], self._assemble(st), st["frames"])

    @staticmethod
    def _assemble(st, covered_only=False):
        size = st["total"] if st["total"] is not None else \
            max([s - 1 + len(b) for s, b in st["chunks"]] + [0])
        buf = bytearray(size)
        for s, b in st["chunks"]:
            buf[s - 1:s - 1 + len(b)] = b
        return bytes(buf[:size])


def chunk_ranges(size, chunk_size):
    """[(start, end)] 1-based ranges splitting `size` octets in chunks of chunk_size (one
    empty range (1, 0) for an empty body)."""
    if size == 0:
        return [(1, 0)]
    step = chunk_size or size
    return [(s, min(s + step - 1, size)) for s in range(1, size + 1, step)]


def parse_uri(uri):
    """msrp[s]://[user@]host:port[/session-id];transport -> dict (None if not an MSRP URI)."""
    m = re.fullmatch(r"(msrps?)://(?:[^@/]*@)?(\[[^\]]+\]|[^:/;]+)(?::(\d+))?"
                     r"(?:/([^;]*))?;(\w+)(.*)", uri.strip(), re.I)
    if not m:
        return None
    return {"scheme": m.group(1).lower(), "host": m.group(2).strip("[]"),
            "port": int(m.group(3)) if m.group(3) else None, "session": m.group(4),
            "transport": m.group(5).lower()}


# --------------------------------------------------------------------------------- SDP

def sdp_offer(host, port, path, accept_types, wrapped_types=None, setup="actpass",
              max_size=None, sess_version=None):
    """An SDP body (bytes) with one MSRP m-line (RFC 4975 §8, RFC 6135)."""
    v = sess_version or int(time.time())
    lines = ["v=0", "o=- %d %d IN IP4 %s" % (v, v, host), "s=-", "c=IN IP4 %s" % host, "t=0 0",
             "m=message %d TCP/MSRP *" % port, "a=accept-types:" + " ".join(accept_types)]
    if wrapped_types:
        lines.append("a=accept-wrapped-types:" + " ".join(wrapped_types))
    lines.append("a=path:" + " ".join(path))
    if setup:
        lines.append("a=setup:" + setup)
    if max_size:
        lines.append("a=max-size:%d" % max_size)
    return ("\r\n".join(lines) + "\r\n").encode()


def sdp_parse(body):
    """The first message m-line's facts: {c, port, proto, path, accept_types, wrapped_types,
    setup, max_size, attrs}; missing items are None/[]."""
    out = {"c": None, "port": None, "proto": None, "path": [], "accept_types": [],
           "wrapped_types": [], "setup": None, "max_size": None, "attrs": []}
    in_msg = False
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("m="):
            if in_msg:
                break
            parts = line[2:].split()
            in_msg = parts[0] == "message"
            if in_msg:
                out["port"], out["proto"] = int(parts[1]), parts[2]
        elif line.startswith("c=") and (in_msg or out["c"] is None):
            out["c"] = line.split()[-1]
        elif line.startswith("a=") and in_msg:
            name, _, val = line[2:].partition(":")
            out["attrs"].append((name, val))
            if name == "path":
                out["path"] = val.split()
            elif name == "accept-types":
                out["accept_types"] = val.split()
            elif name == "accept-wrapped-types":
                out["wrapped_types"] = val.split()
            elif name == "setup":
                out["setup"] = val.strip()
            elif name == "max-size":
                out["max_size"] = int(val)
    return out


# --------------------------------------------------------------------------------- CPIM

def cpim_wrap(body, content_type, frm, to, extra=(), datetime=True):
    """message/cpim object (RFC 3862) around body (bytes). frm/to: SIP URIs. extra:
    [(name, value)] further CPIM headers (e.g. NS and imdn.* headers)."""
    hdrs = [("From", "<%s>" % frm), ("To", "<%s>" % to)]
    if datetime:
        hdrs.append(("DateTime", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
    hdrs += list(extra)
    head = "".join("%s: %s\r\n" % h for h in hdrs)
    return (head + "\r\nContent-Type: %s\r\n\r\n" % content_type).encode("utf-8") + body


def cpim_parse(data):
    """(cpim headers, inner MIME headers, inner body): header lists are [(name, value)],
    names kept as written (CPIM names are case-sensitive)."""
    def block(buf):
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if not sep:
            head, sep, rest = buf.partition(b"\n\n")
        hs = []
        for line in head.decode("utf-8", "replace").splitlines():
            n, _, v = line.partition(":")
            hs.append((n, v[1:] if v.startswith(" ") else v))
        return hs, rest
    cpim_h, rest = block(data)
    mime_h, body = block(rest)
    return cpim_h, mime_h, body


# --------------------------------------------------------------------------------- isComposing

def iscomposing_xml(state="active", refresh=60, contenttype="text/plain"):
    """An application/im-iscomposing+xml body (RFC 3994)."""
    parts = ["<?xml version='1.0' encoding='UTF-8'?>",
             "<isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing'>",
             " <state>%s</state>" % state]
    if contenttype:
        parts.append(" <contenttype>%s</contenttype>" % contenttype)
    if refresh and state == "active":
        parts.append(" <refresh>%d</refresh>" % refresh)
    parts.append("</isComposing>")
    return "\n".join(parts).encode()


def iscomposing_state(body):
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    el = root.find("{urn:ietf:params:xml:ns:im-iscomposing}state")
    if el is None:
        return None
    return "active" if (el.text or "").strip() == "active" else "idle"
