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
  {"op":"quit"}

Usage: msrp_driver.py PROXY_PORT SIP_DOMAIN XMPP_DOMAIN
"""
import json
import os
import resource
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import msrp_peer as P  # noqa: E402

OUT_LOCK = threading.Lock()


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


def main():
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
