#!/usr/bin/python3
"""Two parleyd instances on one Redis race to flush one user (DESIGN.md §7; mapping-docs/
offline.md §5 leases, §6): every message is delivered exactly once.

parleyd A (direct mode, instance it-A, Kamailio's KAM_PARLEY_URI) and parleyd B (escaped mode,
its own component domain, SIP port and admin socket, instance it-B) share one Redis. juliet's
300 messages for bob are parked by A (bob unREGISTERed: §4d). bob's UAS REGISTERs (Kamailio
replicates the REGISTER to A only) while `parleyctl queue flush sip:bob@sip.test` is fired at
B's admin socket at the same moment and again every 50 ms during the flush: the UAS receives
each message exactly once, in order; the loser's claims are counted as offline_claim_leased.
Run once (the flush is SIP-side; the XMPP server only carries juliet's messages)."""
import os
import subprocess
import threading
import time

import harness as H

N = 300


def body(st):
    c = st.checks
    st.start_xmpp()
    st.start_redis()
    st.start_kamailio()
    common = dict(offline_store="redis", redis_port=st.redis_port)
    st.start_parleyd("direct", instance="it-A", **common)
    sock_b = os.path.join(st.dir, "admin-b.sock")
    pb = st.start_parleyd("escaped", tag="B", primary=False, sip_port=H.free_port(),
                          admin_socket=sock_b, instance="it-B", **common)
    jul = st.client("juliet", "balcony")

    port = H.free_port()
    st.sipp_register("bob", port)
    st.sipp_register("bob", port, expires=0)
    for i in range(N):
        jul.send(to="bob@" + H.SIP_DOMAIN, id="race-%d" % i, type="chat", body="race %d" % i)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if st.parley_counters().get("offline_parked_xmpp", 0) >= N:
            break
        time.sleep(0.3)
    c.eq(st.parley_counters().get("offline_parked_xmpp"), N, "A parked all %d" % N)
    rc, out, err = st.parleyctl("queue", "list", sock=sock_b, as_json=True)
    c.check(rc == 0 and isinstance(out, dict) and out.get("total") == N,
            "B's parleyctl queue list sees them (shared Redis)", (rc, out, err))

    bob = st.sipp_uas("bob", register=False)
    stop = threading.Event()
    answers = []

    def hammer():
        argv = [st.parleyctl_path(), "--socket", sock_b, "queue", "flush", "sip:bob@" + H.SIP_DOMAIN]
        while not stop.is_set():
            r = subprocess.run(argv, capture_output=True, timeout=20)
            answers.append(r.returncode)
            time.sleep(0.05)
    t = threading.Thread(target=hammer, daemon=True)
    t.start()
    st.sipp_register("bob", H.free_port(), contact_port=bob.port)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and len(bob.messages()) < N:
        time.sleep(0.3)
    time.sleep(1.0)   # a duplicate would come now
    stop.set()
    t.join(25)
    got = [r.text() for r in bob.messages()]
    H.log("bob received %d; B's queue.flush answered %s" % (len(got), sorted(set(answers))))
    want = ["race %d" % i for i in range(N)]
    c.eq(len(got), N, "bob received %d MESSAGEs" % N)
    c.eq(len(set(got)), len(got), "none twice")
    c.check(set(got) == set(want), "every message", sorted(set(want) - set(got))[:5])
    c.check(got == want, "in order", [(i, g) for i, (g, w) in enumerate(zip(got, want)) if g != w][:5])
    c.check(len(answers) >= 2 and set(answers) == {0}, "B's queue.flush accepted (exit 0) each time",
            answers)
    ca, cb = st.parley_counters(), st.parley_counters(pb)
    H.log("A:", ca)
    H.log("B:", cb)
    flushed = ca.get("offline_flushed_sip", 0) + cb.get("offline_flushed_sip", 0)
    c.eq(flushed, N, "offline_flushed_sip of A + B")
    c.check(ca.get("offline_claim_leased", 0) + cb.get("offline_claim_leased", 0) >= 1,
            "the loser's claims found the winner's lease (offline_claim_leased)")
    rc, out, _ = st.parleyctl("queue", "list", as_json=True)
    c.check(rc == 0 and isinstance(out, dict) and out.get("total") == 0, "queue empty after", out)
    c.check(st.parley_alive() and pb.poll() is None, "both parleyd still running")
    c.eq(st.stop_parleyd(), 0, "A's exit code on SIGTERM (0: no sanitizer report)")
    c.eq(pb.stop(), 0, "B's exit code on SIGTERM")


H.run_test("offline-race", body)
