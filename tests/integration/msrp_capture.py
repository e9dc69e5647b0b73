"""tshark on lo as an independent MSRP decoder for the integration tests.

    cap = MsrpCapture(stack.dir, [port_a, port_b, relay_port]).start()
    ... traffic ...
    cap.stop()
    frames = cap.frames()          # every MSRP frame of the raw TCP streams (own splitter)
    ts = cap.tshark_frames()       # what Wireshark's MSRP dissector extracted
    problems = check_frames(frames) + check_messages(frames)

Wireshark's dissector decodes but does not validate, drops the second of two frames that share
a TCP segment and does not decode a frame sent one byte per segment, so frames() takes the
TCP payload of every stream (`-z follow,tcp,raw`) and splits it with a splitter of its own
(no code shared with msrp_wire.py or parleyd). tshark_frames() gives the dissector's fields
(start-line and end-line transaction ids, flag, Message-ID, Byte-Range, Content-Type,
method/status) for cross-checks: tshark_vs_raw() says which raw frames it decoded alike.

Frame dicts: stream, src (port), dst (port), tid, end_tid, flag, method, status, message_id,
byte_range, content_type, to_path, from_path, body_len (None: bodiless), raw (bytes; raw
frames only), frame (frame number; tshark frames only).
"""
import atexit
import os
import re
import signal
import socket
import subprocess
import time

_HDR = {"message-id": "message_id", "byte-range": "byte_range", "content-type": "content_type",
        "to-path": "to_path", "from-path": "from_path"}


class MsrpCapture:
    """tshark capturing TCP traffic to/from `ports` on lo into DIR/msrp-N.pcapng."""

    def __init__(self, directory, ports, name=None):
        self.ports = sorted(set(int(p) for p in ports))
        self.pcap = os.path.join(directory, name or "msrp-%d.pcapng" % self.ports[0])
        self.log = self.pcap + ".log"
        self.proc = None
        self._streams = None

    def start(self, timeout=15.0):
        """Start tshark and return once it provably captures (a UDP probe to a port in the
        filter shows up in the file)."""
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        pport = probe.getsockname()[1]
        flt = " or ".join(["tcp port %d" % p for p in self.ports] + ["udp port %d" % pport])
        for f in (self.pcap, self.log):
            if os.path.exists(f):
                os.unlink(f)
        self.proc = subprocess.Popen(["tshark", "-i", "lo", "-f", flt, "-w", self.pcap,
                                      "-a", "duration:300"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "wb"), start_new_session=True)
        atexit.register(self.stop, 0)          # also on the harness's SIGTERM/SIGINT exit
        deadline = time.monotonic() + timeout
        try:
            while not os.path.exists(self.pcap) or os.path.getsize(self.pcap) == 0:
                self._alive(deadline)
                time.sleep(0.05)
            size = os.path.getsize(self.pcap)
            while os.path.getsize(self.pcap) == size:
                self._alive(deadline)
                probe.sendto(b"probe", ("127.0.0.1", pport))
                time.sleep(0.05)
        except Exception:
            self.stop()
            raise
        finally:
            probe.close()
        return self

    def _alive(self, deadline):
        if self.proc.poll() is not None or time.monotonic() > deadline:
            with open(self.log, "rb") as f:
                err = f.read().decode("utf-8", "replace")[-800:]
            raise RuntimeError("tshark is not capturing (rc %s): %s" % (self.proc.poll(), err))

    def stop(self, settle=0.3):
        """Let the last packets land, then SIGINT tshark (SIGKILL after 5 s)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        time.sleep(settle)
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        except ProcessLookupError:
            pass

    def _tshark(self, args):
        r = subprocess.run(["tshark", "-r", self.pcap] + args, capture_output=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("tshark %s: %s" % (args[:2], r.stderr.decode()[-500:]))
        return r.stdout.decode("utf-8", "replace")

    def streams(self):
        """{stream number: [(src port, dst port, payload bytes)]}, one entry per direction."""
        if self._streams is not None:
            return self._streams
        ids = sorted(set(int(x) for x in self._tshark(["-Y", "tcp", "-T", "fields",
                                                       "-e", "tcp.stream"]).split()))
        out = {}
        if ids:
            args = ["-q"]
            for i in ids:
                args += ["-z", "follow,tcp,raw,%d" % i]
            text = self._tshark(args)
            for block in text.split("Follow: tcp,raw")[1:]:
                m = re.search(r"Filter: tcp.stream eq (\d+)\s+Node 0: \S+:(\d+)"
                              r"\s+Node 1: \S+:(\d+)", block)
                if not m:
                    continue
                sid, n0, n1 = int(m.group(1)), int(m.group(2)), int(m.group(3))
                data = {0: [], 1: []}
                for line in block[m.end():].splitlines():
                    if re.fullmatch(r"\t?[0-9a-f]+", line):
                        data[1 if line.startswith("\t") else 0].append(line.strip())
                out[sid] = [(n0, n1, bytes.fromhex("".join(data[0]))),
                            (n1, n0, bytes.fromhex("".join(data[1])))]
        self._streams = out
        return out

    def frames(self):
        """Every MSRP frame of every captured TCP stream, in stream order (see module doc)."""
        out = []
        for sid, dirs in sorted(self.streams().items()):
            for src, dst, payload in dirs:
                for f in split_frames(payload):
                    f.update(stream=sid, src=src, dst=dst)
                    out.append(f)
        return out

    def tshark_frames(self):
        """The MSRP dissector's view: one dict per decoded frame."""
        fields = ["frame.number", "tcp.stream", "tcp.srcport", "tcp.dstport",
                  "msrp.transaction.id", "msrp.cnt.flg", "msrp.method", "msrp.status.code",
                  "msrp.messageid", "msrp.byte.range", "msrp.content.type", "msrp.to.path",
                  "msrp.from.path"]
        args = []
        for p in self.ports:
            args += ["-d", "tcp.port==%d,msrp" % p]
        args += ["-Y", "msrp", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
                 "-E", "aggregator=|"]
        for f in fields:
            args += ["-e", f]
        out = []
        for line in self._tshark(args).splitlines():
            v = line.split("\t")
            if len(v) != len(fields):
                continue
            tids = v[4].split("|")
            out.append({"frame": int(v[0]), "stream": int(v[1]), "src": int(v[2]),
                        "dst": int(v[3]), "tid": tids[0], "end_tid": tids[-1] if len(tids) > 1
                        else None, "flag": v[5] or None, "method": v[6] or None,
                        "status": int(v[7]) if v[7] else None, "message_id": v[8] or None,
                        "byte_range": v[9] or None, "content_type": v[10] or None,
                        "to_path": v[11] or None, "from_path": v[12] or None})
        return out


def split_frames(data):
    """Split one direction's TCP payload into MSRP frame dicts (trailing garbage or an
    unfinished frame gives a dict with 'error')."""
    out, pos = [], 0
    start_rx = re.compile(rb"MSRP ([^ \r\n]+) ([^\r\n]*)\r\n")
    while pos < len(data):
        m = start_rx.match(data, pos)
        if not m:
            out.append({"error": "no MSRP start line at offset %d" % pos,
                        "raw": data[pos:pos + 80]})
            break
        tid = m.group(1)
        end_rx = re.compile(rb"\r\n-------" + re.escape(tid) + rb"([^\r\n]?)\r\n")
        e = end_rx.search(data, m.end() - 2)
        if not e:
            out.append({"error": "frame %r has no end-line" % tid.decode(), "raw": data[pos:]})
            break
        raw = data[pos:e.end()]
        inner = data[m.end():e.start()]              # headers [CRLF CRLF body]
        if inner.startswith(b"\r\n"):
            head, body = b"", inner[2:]               # no headers at all, then a body
        elif b"\r\n\r\n" in inner:
            head, body = inner.split(b"\r\n\r\n", 1)
        else:
            head, body = inner, None
        first = m.group(2).decode("utf-8", "replace")
        f = {"tid": tid.decode(), "end_tid": tid.decode(), "flag": e.group(1).decode() or None,
             "method": None, "status": None, "body_len": None if body is None else len(body),
             "raw": raw, "message_id": None, "byte_range": None, "content_type": None,
             "to_path": None, "from_path": None}
        if re.fullmatch(r"\d{3}( .*)?", first):
            f["status"] = int(first[:3])
        else:
            f["method"] = first
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            key = _HDR.get(name.strip().lower())
            if key and f[key] is None:
                f[key] = value.strip()
        out.append(f)
        pos = e.end()
    return out


def _range(br):
    m = re.fullmatch(r"(\d+)-(\d+|\*)/(\d+|\*)", (br or "").strip())
    if not m:
        return None
    return (int(m.group(1)), None if m.group(2) == "*" else int(m.group(2)),
            None if m.group(3) == "*" else int(m.group(3)))


def check_frames(frames):
    """Per-frame rules; returns [problem strings] (empty = all good): start and end tid equal,
    flag in {+,$,#}, responses end with '$', a numeric Byte-Range end - start + 1 equals the
    body length."""
    p = []
    for f in frames:
        where = "frame %s (stream %s %s->%s)" % (f.get("tid"), f.get("stream"), f.get("src"),
                                                 f.get("dst"))
        if "error" in f:
            p.append("%s: %s" % (where, f["error"]))
            continue
        if f["end_tid"] is not None and f["tid"] != f["end_tid"]:
            p.append("%s: end-line tid %r" % (where, f["end_tid"]))
        if f["flag"] not in ("+", "$", "#"):
            p.append("%s: continuation flag %r" % (where, f["flag"]))
        if f["status"] is not None and f["flag"] != "$":
            p.append("%s: response flag %r" % (where, f["flag"]))
        br = _range(f["byte_range"])
        if f["byte_range"] is not None and br is None:
            p.append("%s: bad Byte-Range %r" % (where, f["byte_range"]))
        if f["method"] == "SEND" and br and br[1] is not None and f.get("body_len") is not None \
                and br[1] - br[0] + 1 != f["body_len"]:
            p.append("%s: Byte-Range %s but %d body octets" % (where, f["byte_range"],
                                                               f["body_len"]))
    return p


def check_messages(frames):
    """Per message (SENDs with one Message-ID in one direction of one stream): the same
    total on every chunk, chunks contiguous from 1, '+' on all but the last, '$' on the last,
    and the octets add up to the total. Returns [problem strings]."""
    p = []
    msgs = {}
    for f in frames:
        if f.get("method") == "SEND" and f.get("body_len") is not None:
            msgs.setdefault((f.get("stream"), f.get("src"), f["message_id"]), []).append(f)
    for (sid, src, mid), chunks in msgs.items():
        ranges = [_range(c["byte_range"]) or (1, None, None) for c in chunks]
        totals = set(r[2] for r in ranges if r[2] is not None)
        if len(totals) > 1:
            p.append("message %s: totals differ %s" % (mid, sorted(totals)))
        nxt = 1
        for c, r in zip(chunks, ranges):
            if r[0] != nxt:
                p.append("message %s: chunk starts at %d, expected %d" % (mid, r[0], nxt))
            nxt = r[0] + c["body_len"]
        flags = "".join(c["flag"] or "?" for c in chunks)
        if flags != "+" * (len(chunks) - 1) + "$" and not flags.endswith("#"):
            p.append("message %s: flags %s" % (mid, flags))
        if totals and nxt - 1 != totals.pop():
            p.append("message %s: %d octets sent, total says otherwise" % (mid, nxt - 1))
    return p


def tshark_vs_raw(tshark_frames, raw_frames):
    """(matched, missed, differing): raw frames tshark decoded with equal fields, raw frames it
    did not decode (e.g. 2nd frame in a segment, byte-per-segment frames), and
    [(field, raw value, tshark value)] disagreements."""
    by_tid = {}
    for t in tshark_frames:
        by_tid.setdefault((t["tid"], t["status"] is None), t)
    matched, missed, diff = 0, [], []
    for f in raw_frames:
        if "error" in f:
            continue
        t = by_tid.get((f["tid"], f["status"] is None))
        if t is None:
            missed.append(f)
            continue
        matched += 1
        for k in ("end_tid", "flag", "method", "status", "message_id", "byte_range",
                  "content_type"):
            if t[k] is not None and f[k] is not None and str(t[k]) != str(f[k]):
                diff.append((k, f[k], t[k]))
    return matched, missed, diff
