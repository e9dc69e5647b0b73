#!/usr/bin/python3
"""Offline store under volume and a crash mid-flush (real Redis with AOF; DESIGN.md §7
Guarantees; mapping-docs/offline.md §4d, §5, §6).

Bulk: bob REGISTERs then unREGISTERs (Expires: 0, replicated by Kamailio), so parleyd parks
juliet's 1000 messages for him at once (§4d); his UAS REGISTERs again and receives all 1000,
each exactly once, in order.
Crash: 500 messages parked for dave; he REGISTERs and, while the flush runs, parleyd is
SIGKILLed. A new parleyd (another instance name, same Redis) takes over once the dead one's
lease (lease_ms=3000) has run out and dave REGISTERs again: every message is delivered, in
order, and at most the one in flight at the kill comes twice. Run once."""
import signal
import time

import harness as H

BULK = 1000
CRASH = 500
LEASE_MS = 3000


def bodies(uas):
    return [r.text() for r in uas.messages()]


def wait_bodies(uas, n, timeout):
    deadline = time.monotonic() + timeout
    got = bodies(uas)
    while time.monotonic() < deadline and len(got) < n:
        time.sleep(0.5)
        got = bodies(uas)
    return got


def park(st, jul, user, prefix, n):
    """Register user, unregister (Expires: 0), then juliet sends n messages: parked at once."""
    c = st.checks
    before = st.parley_counters().get("offline_parked_xmpp", 0)
    port = H.free_port()
    st.sipp_register(user, port)
    st.sipp_register(user, port, expires=0)
    t0 = time.monotonic()
    for i in range(n):
        jul.send(to="%s@%s" % (user, H.SIP_DOMAIN), id="%s-%d" % (prefix, i), type="chat",
                 body="%s %d" % (prefix, i))
    deadline = time.monotonic() + 60
    parked = 0
    while time.monotonic() < deadline:
        parked = st.parley_counters().get("offline_parked_xmpp", 0) - before
        if parked >= n:
            break
        time.sleep(0.5)
    H.log("%d messages for %s parked in %.1f s" % (parked, user, time.monotonic() - t0))
    c.eq(parked, n, "all %d messages for %s parked" % (n, user))
    errs = [m for m in list(jul.messages) if (m["id"] or "").startswith(prefix + "-")]
    c.check(not errs, "no error stanza for the parked messages", [m["xml"] for m in errs[:3]])
    rc, out, _ = st.parleyctl("queue", "list", as_json=True)
    c.check(rc == 0 and isinstance(out, dict) and out.get("total") == n,
            "parleyctl queue list: %d parked in total" % n, out)


def bulk(st, jul):
    c = st.checks
    park(st, jul, "bob", "bulk", BULK)
    bob = st.sipp_uas("bob", register=False)
    t0 = time.monotonic()
    st.sipp_register("bob", H.free_port(), contact_port=bob.port)
    got = wait_bodies(bob, BULK, 90)
    H.log("bob received %d in %.1f s" % (len(got), time.monotonic() - t0))
    time.sleep(0.5)
    got = bodies(bob)
    want = ["bulk %d" % i for i in range(BULK)]
    c.eq(len(got), BULK, "bob received %d MESSAGEs" % BULK)
    c.check(got == want, "each exactly once and in order",
            [(i, g) for i, (g, w) in enumerate(zip(got, want)) if g != w][:5])
    rc, out, _ = st.parleyctl("queue", "list", as_json=True)
    c.check(rc == 0 and isinstance(out, dict) and out.get("total") == 0, "queue empty after", out)
    bob.stop()


def crash(st, jul):
    c = st.checks
    park(st, jul, "dave", "crash", CRASH)
    dave = st.sipp_uas("dave", register=False)
    st.sipp_register("dave", H.free_port(), contact_port=dave.port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(dave.messages()) < 100:
        time.sleep(0.05)
    H.log("SIGKILL parleyd after %d delivered" % len(dave.messages()))
    st.parley.signal_group(signal.SIGKILL)
    st.parley.p.wait(5)
    n_at_kill = len(dave.messages())
    c.check(0 < n_at_kill < CRASH, "killed mid-flush (%d of %d delivered)" % (n_at_kill, CRASH))
    t_kill = time.monotonic()
    st.stop_parleyd()
    st.start_parleyd("direct", tag="after-kill", offline_store="redis", redis_port=st.redis_port,
                     instance="it-second-%d" % H.os.getpid(), lease_ms=LEASE_MS)
    # while the dead instance's lease holds, the new one must not take dave's messages
    st.sipp_register("dave", H.free_port(), contact_port=dave.port)
    early = time.monotonic() - t_kill
    time.sleep(0.5)
    if early < LEASE_MS / 1000.0 - 0.5:
        c.check(st.parley_counters().get("offline_claim_leased", 0) >= 1,
                "REGISTER %.1f s after the kill: the claim finds the dead instance's lease" % early)
        c.eq(len(dave.messages()), n_at_kill, "nothing delivered while the lease holds")
    else:
        H.log("restart took %.1f s: lease check skipped" % early)
    time.sleep(max(0.0, t_kill + LEASE_MS / 1000.0 + 0.5 - time.monotonic()))  # lease runs out
    st.sipp_register("dave", H.free_port(), contact_port=dave.port)
    got = wait_bodies(dave, CRASH, 60)
    time.sleep(0.5)
    got = bodies(dave)
    want = ["crash %d" % i for i in range(CRASH)]
    # at most one duplicate: the message in flight at the kill, delivered again right after
    dups = [i for i in range(1, len(got)) if got[i] == got[i - 1]]
    dedup = [g for i, g in enumerate(got) if i not in dups]
    H.log("dave got %d MESSAGEs, duplicates at %s" % (len(got), dups))
    c.check(dedup == want, "every message delivered, in order",
            (len(dedup), [(i, g) for i, (g, w) in enumerate(zip(dedup, want)) if g != w][:5]))
    c.check(len(dups) <= 1 and len(got) - CRASH <= 1, "at most the one in flight twice",
            (len(got), dups))
    rc, out, _ = st.parleyctl("queue", "list", as_json=True)
    c.check(rc == 0 and isinstance(out, dict) and out.get("total") == 0, "queue empty after", out)


def body(st):
    st.start_xmpp()
    st.start_redis()
    st.start_kamailio()
    st.start_parleyd("direct", offline_store="redis", redis_port=st.redis_port, lease_ms=LEASE_MS)
    jul = st.client("juliet", "balcony")
    bulk(st, jul)
    crash(st, jul)
    st.checks.check(st.parley_alive(), "parleyd still running")
    st.checks.eq(st.stop_parleyd(), 0, "parleyd exit code on SIGTERM (0: no sanitizer report)")


H.run_test("offline-bulk", body)
