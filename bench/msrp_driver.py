#!/usr/bin/python3
"""The SIP side of the benchmark's `msrp` scenario: SIP users with MSRP sessions, in one process.

Uses tests/integration/msrp_peer.py (the integration tests' pure-Python SIP UA + MSRP endpoint,
imported unchanged). bench.py starts several of these processes (Python runs one thread at a
time: one process is one core at most) and drives them with JSON lines on stdin; answers are
JSON lines on stdout.

  {"op":"peers","users":["m0",...]}          one SipMsrpPeer per user, each REGISTERed at the
                                             proxy -> {"event":"peers","ok":N,"failed":[...]}
  {"op":"invite","targets":["x0",...],"threads":T,"timeout":S}
                                             every peer INVITEs every target@XMPP_DOMAIN
                                             (sessions established as fast as T threads go),
                                             then waits until each established session is
                                             bound (the response to its first, bodiless SEND)
      -> {"event":"invited","tried","established","bound","failed":{status:n},
          "t_established","t_bound","t_invites"}
                                             (seconds since the command arrived: the last
                                             successful session established, bound; every
                                             INVITE answered or timed out)
  {"op":"send","target":"juliet","count":N,"first":SEQ,"threads":T,"prefix":"M"}
                                             N text/plain SENDs round-robin over this
                                             process's sessions to target (bodies
                                             "<prefix><seq> <epoch>.<us>", seq from SEQ), as
                                             fast as the sockets take them, then waits for
                                             every transaction response
      -> {"event":"sent","sent","ok","other","missing","t_sent","t_answered"}
  {"op":"verify","user":"mv","target":"juliet","first":SEQ}
                                             one session, one message, BYE
      -> {"event":"verified","status","bound","send_status","bye"}
  {"op":"push","user":"pghost1","count":N,"stall":S,"cap":S}
                                             the offline MSRP-push variant: one SIP user
                                             (PushPeer: SipMsrpPeer whose MSRP connections are
                                             read by LeanRx) REGISTERs at the proxy and waits
                                             for parleyd's push session and N SENDs (or S s
                                             without one, or cap s in all); then checks them
                                             with msrp_wire's own parser: one message per SEND,
                                             message/cpim, sequence numbers 1..N in order
      -> {"event":"pushed","t0","register","received","t_first","t_last","in_order",
          "cpim_ok","problems",...}      (t0: CLOCK_MONOTONIC when the REGISTER started,
                                             t_first/t_last: seconds after it)
  {"op":"rx_ceiling","count":N,"window":W}   LeanRx's own ceiling: a second process
                                             (this file, --blast) sends it N SENDs like
                                             parleyd's, W unanswered at most
      -> {"event":"rx_ceiling","received","wall_s","rate","rx_cpu_us_per_msg"}
  {"op":"quit"}

Usage: msrp_driver.py PROXY_PORT SIP_DOMAIN XMPP_DOMAIN
       msrp_driver.py --blast PORT N W          (rx_ceiling's sender)
"""
import json
import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import msrp_peer as P  # noqa: E402

OUT_LOCK = threading.Lock()
W = P.W                                        # msrp_wire (frames, CPIM), the peer's own
SEQ_RX = re.compile(rb"[A-Z](\d+) \d+\.\d+\Z")      # xmppraw's body: <prefix><seq> <epoch>


def emit(**kw):
    with OUT_LOCK:
        sys.stdout.write(json.dumps(kw) + "\n")
        sys.stdout.flush()


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass


def bind_tid(s):
    """The transaction id of the session's first (bodiless) SEND, once it went out."""
    return s.frames_out[0].tid if s.frames_out else None


def is_bound(s):
    tid = bind_tid(s)
    r = s.responses.get(tid) if tid else None
    return r is not None and r.status == 200


# ----------------------------------------------------------------------------- offline push

class PushSink:
    """What the LeanRx connections of one PushPeer (or of rx_ceiling) received: every SEND
    frame raw, in arrival order, the number of complete messages and when they came."""

    def __init__(self):
        self.frames, self.n, self.t_first, self.t_last = [], 0, None, None
        self.other, self.no_reply, self.success_report = 0, 0, 0


class LeanRx:
    """One MSRP connection read the lean way (the bench's receiver; msrp_peer's
    MsrpConnection is built for assertions and costs far more per frame): one recv() takes
    whatever is there (often several SENDs), the frames are only cut at their end-lines and
    kept raw, and the 200s of all SENDs of one read go out in one sendall(). The frames are
    parsed properly afterwards (check_push). Responses and other requests are counted and
    dropped (none expected on a push session except the answer to an active bind)."""

    def __init__(self, sock, sink, outbound_to=None):
        self.sock, self.sink, self.outbound_to = sock, sink, outbound_to
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.lock, self.closed, self.error = threading.Lock(), False, None
        self.replies = {}          # (To-Path, From-Path) of a request -> the 200's middle part
        threading.Thread(target=self._reader, daemon=True).start()

    def write(self, chunks, delivery="normal", byte_delay=0.001):
        with self.lock:
            self.sock.sendall(b"".join(chunks))

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _reply_mid(self, buf, i, h):
        """The 200's bytes between the tid and the end-line's tid, for the request whose
        header block is buf[i:h] (cached per path pair: every SEND of a session has the same)."""
        a = buf.find(b"\r\nTo-Path: ", i, h)
        b = buf.find(b"\r\nFrom-Path: ", i, h)
        if a < 0 or b < 0:
            return None
        to = buf[a + 11:buf.find(b"\r\n", a + 11)]
        frm = buf[b + 13:buf.find(b"\r\n", b + 13)]
        key = (to, frm)
        mid = self.replies.get(key)
        if mid is None:
            # RFC 4975 7.2: To-Path = the previous hop (first From-Path URI), From-Path = us
            mid = self.replies[key] = (b" 200 OK\r\nTo-Path: " + frm.split()[0] + b"\r\nFrom-Path: "
                                       + to.split()[-1] + b"\r\n-------")
        return mid

    def _reader(self):
        sink, buf = self.sink, b""
        try:
            while True:
                data = self.sock.recv(262144)
                if not data:
                    break
                buf = buf + data if buf else data
                size, pos, out, got, frames = len(buf), 0, [], 0, []
                while True:
                    i = buf.find(b"\r\n", pos)                  # end of "MSRP tid METHOD"
                    if i < 0:
                        break
                    sp = buf.find(b" ", pos + 5, i)
                    tid = buf[pos + 5:sp]
                    end = b"\r\n-------" + tid
                    k = buf.find(end, i)
                    stop = k + len(end) + 3                     # flag + CRLF
                    if k < 0 or size < stop:
                        break
                    if buf[sp + 1:i] == b"SEND":
                        h = buf.find(b"\r\n\r\n", i, k)
                        h = k if h < 0 else h
                        frames.append(buf[pos:stop])
                        if h < k and buf[stop - 3:stop - 2] == b"$":
                            got += 1                    # a message ends (the bind SEND: none)
                        fr = buf.find(b"\r\nFailure-Report: ", i, h)
                        if buf.find(b"\r\nSuccess-Report: yes", i, h) >= 0:
                            sink.success_report += 1
                        if fr >= 0 and buf[fr + 18:fr + 20] in (b"no", b"pa"):
                            sink.no_reply += 1              # no/partial: a 200 is not sent
                        else:
                            mid = self._reply_mid(buf, i, h)
                            if mid is not None:
                                out.append(b"MSRP " + tid + mid + tid + b"$\r\n")
                    else:
                        sink.other += 1
                    pos = stop
                buf = buf[pos:]
                if out:
                    self.write(out)
                if frames:
                    now = time.monotonic()
                    sink.frames.extend(frames)
                    if sink.t_first is None:
                        sink.t_first = now
                    sink.t_last = now
                    sink.n += got
        except OSError as e:
            self.error = e
        self.closed = True


class PushPeer(P.SipMsrpPeer):
    """A SipMsrpPeer (SIP: REGISTER, INVITE answered at once, BYE) whose MSRP connections,
    accepted or (if parleyd's offer makes us active) opened, are LeanRx instead of
    msrp_peer.MsrpConnection. msrp_peer itself is unchanged."""

    def __init__(self, *a, **kw):
        self.push_rx = PushSink()
        P.SipMsrpPeer.__init__(self, *a, **kw)

    def _msrp_accept(self):
        while self.running:
            try:
                sock, _ = self.msrp_listener.accept()
            except OSError:
                return
            with self.cv:
                self.conns.append(LeanRx(sock, self.push_rx))

    def _connection_to(self, uri):
        u = W.parse_uri(uri)
        key = (u["host"], u["port"])
        with self.cv:
            c = self.out_conns.get(key)
            if c is not None and not c.closed:
                return c
        sock = socket.create_connection(key, timeout=5)
        sock.settimeout(None)
        c = LeanRx(sock, self.push_rx, outbound_to=key)
        with self.cv:
            self.out_conns[key] = c
            self.conns.append(c)
        return c


def check_push(sink, frm, to, count):
    """Parse what a PushSink kept with msrp_wire's parser and reassembler (the tests' own):
    each message must be message/cpim with From frm and To to, its inner body xmppraw's
    '<prefix><seq> <epoch>'. Returns the figures (in order = sequence numbers 1..count, each
    once, in arrival order)."""
    parser, reasm, msgs, problems = W.Parser(), W.Reassembler(), [], []
    for raw in sink.frames:
        for f in parser.feed(raw):
            if f.body is None:
                continue                  # the bodiless SEND that binds the session (active side)
            m = reasm.add(f)
            if m is not None:
                msgs.append(m)
    seqs, cpim_ok = [], 0
    for m in msgs:
        why = None
        if m.aborted:
            why = "aborted"
        elif (m.ctype() or "").split(";")[0].strip().lower() != "message/cpim":
            why = "content type %r" % m.ctype()
        else:
            hdrs, _, inner = W.cpim_parse(m.body)
            h = dict(hdrs)
            mm = SEQ_RX.search(inner.strip())
            if frm not in h.get("From", "") or to not in h.get("To", ""):
                why = "CPIM From/To %r / %r" % (h.get("From"), h.get("To"))
            elif not mm:
                why = "inner body %r" % inner[:60]
            else:
                seqs.append(int(mm.group(1)))
                cpim_ok += 1
        if why and len(problems) < 5:
            problems.append(why)
    swapped = sum(1 for a, b in zip(seqs, seqs[1:]) if b < a)
    return dict(messages=len(msgs), cpim_ok=cpim_ok, distinct=len(set(seqs)),
                duplicates=len(seqs) - len(set(seqs)), out_of_order=swapped,
                in_order=seqs == list(range(1, count + 1)), problems=problems,
                example=(msgs[0].body[:400].decode("utf-8", "replace") if msgs else None))


def blast(port, count, window):
    """rx_ceiling's sender: N SENDs shaped like parleyd's push (CPIM, imdn headers), W
    unanswered at most; answers are counted by their status text, not parsed."""
    sid = W.new_id(10)
    to_path = "msrp://127.0.0.1:%d/%s;tcp" % (port, sid)
    from_path = "msrp://127.0.0.1:1/%s;tcp" % W.new_id(10)
    frames = []
    for i in range(1, count + 1):
        body = W.cpim_wrap(b"X%d %.6f" % (i, time.time()), "text/plain;charset=UTF-8",
                           "romeo@xmpp.test", "ghost@sip.test",
                           extra=[("Subject", "x"), ("NS", "imdn <urn:ietf:params:imdn>"),
                                  ("imdn.Message-ID", "b%d" % i)])
        f = W.request("SEND", [to_path], [from_path],
                      [("Message-ID", W.new_id()), ("Byte-Range", "1-%d/%d" % (len(body), len(body)))],
                      body=body, content_type="message/cpim")
        frames.append(f.encode())
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sent, answered, tail = min(window, count), 0, b""
    s.sendall(b"".join(frames[:sent]))
    while answered < count:
        data = s.recv(262144)
        if not data:
            break
        data = tail + data
        answered += data.count(b" 200 OK\r\n")
        cut = data.rfind(b"\r\n")             # an answer cut by the read: counted next time
        tail = data[cut:] if cut >= 0 else data
        more = min(count, answered + window)
        if more > sent:
            s.sendall(b"".join(frames[sent:more]))
            sent = more
    s.close()


class Driver:
    def __init__(self, proxy_port, sip_domain, xmpp_domain):
        self.proxy = ("127.0.0.1", proxy_port)
        self.sip_domain, self.xmpp_domain = sip_domain, xmpp_domain
        self.peers = []             # the SIP users of "invite" (op_peers)
        self.others = []            # op_verify's
        self.sessions = {}          # target -> [MsrpSession] (established)

    def op_peers(self, users):
        failed = []
        for u in users:
            p = P.SipMsrpPeer(u, domain=self.sip_domain, proxy=self.proxy)
            self.peers.append(p)
            if p.register(expires=3600, timeout=10) != 200:
                failed.append(u)
        emit(event="peers", ok=len(users) - len(failed), failed=failed)

    def _wait_all(self, sessions, pred, deadline):
        for s in sessions:
            while not pred(s) and time.monotonic() < deadline:
                s.peer._wait(lambda s=s: pred(s), min(0.5, max(0.0, deadline - time.monotonic())))

    def op_invite(self, targets, threads=8, timeout=15.0):
        t0 = time.monotonic()
        # one peer per thread: work = every (peer, target), the peers spread over the threads,
        # each thread going round its peers target by target
        work = [[] for _ in range(max(1, min(threads, len(self.peers))))]
        for i, p in enumerate(self.peers):
            work[i % len(work)].append(p)
        work = [[(p, t) for t in targets for p in w] for w in work]
        results, lock = [], threading.Lock()
        marks = dict(last_est=None, last_bound=None)
        stop = threading.Event()

        def worker(items):
            for p, t in items:
                s = p.invite("sip:%s@%s" % (t, self.xmpp_domain), timeout=timeout)
                with lock:
                    results.append((t, s))
                    if s.established:
                        marks["last_est"] = time.monotonic() - t0

        def watcher():
            # when the last successful session was bound (a failed INVITE's timeout does not
            # count in the rate: failures are reported beside it)
            seen, pending = 0, []
            while True:
                with lock:
                    new = results[seen:]
                    seen += len(new)
                pending += [s for _, s in new if s.established]
                left = [s for s in pending if not is_bound(s)]
                if len(left) < len(pending):
                    marks["last_bound"] = time.monotonic() - t0
                pending = left
                if stop.is_set() and (not pending or time.monotonic() - t0 > stop.deadline):
                    return
                time.sleep(0.01)
        ths = [threading.Thread(target=worker, args=(w,), daemon=True) for w in work if w]
        wt = threading.Thread(target=watcher, daemon=True)
        wt.start()
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        t_all = time.monotonic() - t0
        stop.deadline = t_all + timeout
        stop.set()
        wt.join()
        up = [s for _, s in results if s.established]
        failed, examples = {}, []
        for t, s in results:
            if not s.established:
                k = str(s.sip_final.status if s.sip_final is not None else "timeout")
                failed[k] = failed.get(k, 0) + 1
                if len(examples) < 5:
                    examples.append("%s->%s: %s" % (s.peer.user, t, k))
        bound = [s for s in up if is_bound(s)]
        for t, s in results:
            if s.established:
                self.sessions.setdefault(t, []).append(s)
        emit(event="invited", tried=len(results), established=len(up), bound=len(bound),
             failed=failed, failed_examples=examples, t_invites=round(t_all, 4),
             t_established=marks["last_est"], t_bound=marks["last_bound"])

    def op_send(self, target, count, first=0, threads=4, prefix="M", timeout=60.0):
        sess = [s for s in self.sessions.get(target, []) if is_bound(s)]
        if not sess:
            emit(event="sent", sent=0, ok=0, other=0, missing=count, t_sent=0, t_answered=0,
                 error="no bound session to %s" % target)
            return
        threads = max(1, min(threads, len(sess)))
        t0 = time.monotonic()
        sent_tids, lock = [], threading.Lock()

        def worker(k):
            mine = sess[k::threads]
            tids = []
            for i in range(k, count, threads):
                s = mine[(i // threads) % len(mine)]
                r = s.send_text("%s%d %.6f" % (prefix, first + i, time.time()), wait=False)
                tids.append((s, r.frames[0].tid))
            with lock:
                sent_tids.extend(tids)
        ths = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(threads)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        t_sent = time.monotonic() - t0
        deadline = time.monotonic() + timeout
        for s, tid in sent_tids:
            if tid not in s.responses and time.monotonic() < deadline:
                s.peer._wait(lambda s=s, tid=tid: tid in s.responses,
                             max(0.0, deadline - time.monotonic()))
        t_ans = time.monotonic() - t0
        ok = sum(1 for s, tid in sent_tids if tid in s.responses and s.responses[tid].status == 200)
        answered = sum(1 for s, tid in sent_tids if tid in s.responses)
        emit(event="sent", sent=len(sent_tids), ok=ok, other=answered - ok,
             missing=len(sent_tids) - answered, t_sent=round(t_sent, 4), t_answered=round(t_ans, 4))

    def op_verify(self, user, target, first=0):
        p = P.SipMsrpPeer(user, domain=self.sip_domain, proxy=self.proxy)
        self.others.append(p)
        reg = p.register(timeout=10)
        s = p.invite("sip:%s@%s" % (target, self.xmpp_domain), timeout=10)
        out = dict(register=reg, status=s.sip_final.status if s.sip_final is not None else None,
                   bound=False, send_status=None, bye=None)
        if s.established:
            self._wait_all([s], is_bound, time.monotonic() + 10)
            out["bound"] = is_bound(s)
            r = s.send_text("V%d %.6f" % (first, time.time()), timeout=10)
            out["send_status"] = r.statuses
            out["bye"] = s.bye()
        emit(event="verified", **out)

    def op_push(self, user, count, frm, stall=15.0, cap=60.0):
        p = PushPeer(user, domain=self.sip_domain, proxy=self.proxy)
        self.others.append(p)
        sink = p.push_rx
        cpu0 = time.process_time()
        t0 = time.monotonic()
        reg = p.register(expires=3600, timeout=10)
        t_reg = time.monotonic() - t0
        deadline, last, t_prog = t0 + cap, -1, time.monotonic()
        while time.monotonic() < deadline:
            n = sink.n
            if n >= count:
                break
            now = time.monotonic()
            if n != last:
                last, t_prog = n, now
            elif now - t_prog > stall:
                break
            time.sleep(0.005)
        cpu = time.process_time() - cpu0
        out = dict(t0=t0, register=reg, t_register=round(t_reg, 4), received=sink.n,
                   frames=len(sink.frames), other_frames=sink.other, no_reply=sink.no_reply,
                   success_report=sink.success_report,
                   t_first=round(sink.t_first - t0, 4) if sink.t_first else None,
                   t_last=round(sink.t_last - t0, 4) if sink.t_last else None,
                   sessions=len(p.incoming), connections=len(p.conns), rx_cpu_s=round(cpu, 4),
                   invite_from=(p.incoming[0].invite.h("from") if p.incoming else None))
        out.update(check_push(sink, frm, "%s@%s" % (user, self.sip_domain), count))
        emit(event="pushed", **out)

    def op_rx_ceiling(self, count, window=32):
        sink = PushSink()
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        port = lst.getsockname()[1]
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--blast", str(port),
                                 str(count), str(window)])
        lst.settimeout(20)
        try:
            sock, _ = lst.accept()
        finally:
            lst.close()
        cpu0 = time.process_time()
        t0 = time.monotonic()
        rx = LeanRx(sock, sink)
        deadline = t0 + 60
        while sink.n < count and time.monotonic() < deadline and not rx.closed:
            time.sleep(0.005)
        cpu = time.process_time() - cpu0
        wall = (sink.t_last or time.monotonic()) - t0
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        rx.close()
        emit(event="rx_ceiling", received=sink.n, count=count, window=window,
             wall_s=round(wall, 4), rate=round(sink.n / wall, 1) if wall > 0 else None,
             rx_cpu_s=round(cpu, 4), rx_cpu_us_per_msg=round(cpu / max(1, sink.n) * 1e6, 2))


def main():
    if sys.argv[1:2] == ["--blast"]:
        blast(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        return
    raise_nofile()
    d = Driver(int(sys.argv[1]), sys.argv[2], sys.argv[3])
    emit(event="ready", pid=os.getpid(), nofile=resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    for line in sys.stdin:
        try:
            cmd = json.loads(line)
        except ValueError:
            continue
        op = cmd.pop("op", None)
        if op == "quit":
            break
        try:
            getattr(d, "op_" + op)(**cmd)
        except Exception as e:           # reported, the process stays up
            emit(event="error", op=op, error="%s: %s" % (type(e).__name__, e))
    for p in d.peers + d.others:
        try:
            p.close()
        except Exception:
            pass


if __name__ == "__main__":
    main()
