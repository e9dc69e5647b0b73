#!/usr/bin/python3
"""Known-offline parking and the flush window on real Redis (AOF), Kamailio and sipp
(mapping-docs/offline.md §4e, §6a).

Known offline: carol has never registered. juliet sends her 1000 messages back to back:
Kamailio answers the first MESSAGE 404, parleyd parks it, takes carol for offline and parks
the rest without sending them (the ones queued behind the first at once, the later ones as
they come): Kamailio sees a handful of MESSAGEs for carol, not 1000, and juliet gets no
error. carol's UAS REGISTERs: it receives all 1000, each once, in receive order (flush
window 1, the default).
Flush window: parleyd again with flush_window = 8; dave gets 1000 messages the same way,
REGISTERs and receives every one exactly once (8 MESSAGEs in flight at once: the order is
logged, not asserted: UDP and Kamailio's workers may swap two). Run once."""
import time

import harness as H

N = 1000


def bodies(uas):
    return [r.text() for r in uas.messages()]


def park(st, jul, user, prefix):
    c = st.checks
    before = st.parley_counters().get("offline_parked_xmpp", 0)
    t0 = time.monotonic()
    for i in range(N):
        jul.send(to="%s@%s" % (user, H.SIP_DOMAIN), id="%s-%d" % (prefix, i), type="chat",
                 body="%s %d" % (prefix, i))
    deadline = time.monotonic() + 60
    parked = 0
    while time.monotonic() < deadline:
        parked = st.parley_counters().get("offline_parked_xmpp", 0) - before
        if parked >= N:
            break
        time.sleep(0.2)
    H.log("%d messages for %s parked in %.1f s" % (parked, user, time.monotonic() - t0))
    c.eq(parked, N, "all %d messages for %s parked" % (N, user))
    tried = [r for r in st.kam_requests() if r["ruri"].startswith("sip:%s@" % user)]
    H.log("Kamailio saw %d MESSAGEs for %s" % (len(tried), user))
    c.check(0 < len(tried) <= 20, "known offline after the first 404: a few MESSAGEs, not %d" % N,
            len(tried))
    errs = [m for m in list(jul.messages) if (m["id"] or "").startswith(prefix + "-")]
    c.check(not errs, "no error stanza for the parked messages", [m["xml"] for m in errs[:3]])


def flush(st, user, prefix, ordered):
    c = st.checks
    uas = st.sipp_uas(user, register=False)
    t0 = time.monotonic()
    st.sipp_register(user, H.free_port(), contact_port=uas.port)
    deadline = time.monotonic() + 90
    got = bodies(uas)
    while time.monotonic() < deadline and len(got) < N:
        time.sleep(0.5)
        got = bodies(uas)
    H.log("%s received %d in %.1f s" % (user, len(got), time.monotonic() - t0))
    time.sleep(0.5)
    got = bodies(uas)
    want = ["%s %d" % (prefix, i) for i in range(N)]
    c.eq(len(got), N, "%s received %d MESSAGEs" % (user, N))
    c.check(sorted(got) == sorted(want), "each exactly once")
    swapped = sum(1 for i in range(1, len(got)) if want.index(got[i]) < want.index(got[i - 1])
                  ) if sorted(got) == sorted(want) else -1
    H.log("%s: %d message(s) arrived before an older one" % (user, swapped))
    if ordered:
        c.check(got == want, "in receive order",
                [(i, g) for i, (g, w) in enumerate(zip(got, want)) if g != w][:5])
    rc, out, _ = st.parleyctl("queue", "list", as_json=True)
    c.check(rc == 0 and isinstance(out, dict) and out.get("total") == 0, "queue empty after", out)
    uas.stop()


def body(st):
    st.start_xmpp()
    st.start_redis()
    st.start_kamailio()
    st.start_parleyd("direct", offline_store="redis", redis_port=st.redis_port,
                     quota_count=2 * N)
    jul = st.client("juliet", "balcony")
    park(st, jul, "carol", "ko")
    flush(st, "carol", "ko", ordered=True)
    st.checks.eq(st.stop_parleyd(), 0, "parleyd exit code on SIGTERM (0: no sanitizer report)")

    st.start_parleyd("direct", tag="window", offline_store="redis", redis_port=st.redis_port,
                     quota_count=2 * N, offline_extra="flush_window = 8")
    park(st, jul, "dave", "fw")
    flush(st, "dave", "fw", ordered=False)
    st.checks.check(st.parley_alive(), "parleyd still running")
    st.checks.eq(st.stop_parleyd(), 0, "parleyd exit code on SIGTERM (0: no sanitizer report)")


H.run_test("offline-known-offline", body)
