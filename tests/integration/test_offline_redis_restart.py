#!/usr/bin/python3
"""Redis killed and restarted under traffic (DESIGN.md §7 Guarantees: nothing acknowledged is
lost; mapping-docs/offline.md §3, §4a; Redis with AOF).

The XMPP server is down, so alice's MESSAGEs to juliet (240 at 40/s through Kamailio) are parked.
Mid-stream Redis is SIGKILLed and ~1.5 s later started again on the same port and AOF
directory. Every MESSAGE must get a final answer: 202 (parked) or, while the store is
unreachable, parleyd's 503 (Kamailio relays it as 500): refused and retryable, never a 202.
parleyd reconnects to Redis by itself, so 202s come back before the traffic ends. The XMPP
server is then started: juliet receives every message that got a 202 (from before the kill
too: the AOF), none twice. Run once."""
import signal
import time

import harness as H

COUNT = 240
RATE = 40
JULIET = "juliet@" + H.XMPP_DOMAIN


def body(st):
    c = st.checks
    st.start_xmpp()
    st.start_redis()
    st.start_kamailio()
    st.start_parleyd("direct", offline_store="redis", redis_port=st.redis_port,
                     bounce_window_ms=20)
    st.stop_xmpp(signal.SIGKILL)
    st.parley.wait_log("XMPP component offline", 10)
    seq = st.sipp_uac_seq("alice", JULIET, COUNT, rate=RATE, prefix="alice")
    time.sleep(1.5)
    H.log("SIGKILL redis")
    st.redis.stop(signal.SIGKILL)
    time.sleep(1.5)
    H.log("start redis again on %d, same AOF directory" % st.redis_port)
    st.start_redis(port=st.redis_port)
    rc = seq.wait(40)
    c.check(rc is not None, "sipp ended", seq.proc.tail(8))
    finals = seq.finals()
    c.eq(len(finals), COUNT, "every MESSAGE got a final answer")
    ok = sorted(n for n, s in finals.items() if s == 202)
    refused = sorted(n for n, s in finals.items() if s != 202)
    other = sorted(set(s for s in finals.values() if s not in (202, 500, 503)))
    H.log("%d answered 202, %d refused (%s..%s)" % (len(ok), len(refused),
                                                   refused[:1], refused[-1:]))
    c.check(not other, "only 202 or 500/503 (refused while Redis was down)", other)
    c.check(len(refused) > 0, "some MESSAGEs were refused while Redis was down")
    c.check(ok and refused and ok[0] < refused[0], "202s before the kill")
    c.check(ok and refused and ok[-1] > refused[-1], "202s again after Redis came back")
    ctr = st.parley_counters()
    H.log("counters:", ctr)
    c.eq(ctr.get("offline_parked_sip"), len(ok), "counter offline_parked_sip == the 202s")

    H.log("start the %s server: parleyd flushes" % st.server)
    jul = st.restart_xmpp_client_first("juliet", "balcony")   # juliet online before the flush

    def nums():
        return [int(m["body"].split(" ")[1]) for m in list(jul.messages)
                if m["type"] != "error" and (m["body"] or "").startswith("alice ")]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not set(ok) <= set(nums()):
        time.sleep(0.2)
    time.sleep(1.0)
    got = nums()
    missing = sorted(set(ok) - set(got))
    c.check(not missing, "every MESSAGE that got a 202 was delivered (%d)" % len(ok), missing)
    c.eq(len(got), len(set(got)), "none twice")
    c.check(got == sorted(got), "in order", got)
    extra = sorted(set(got) - set(ok))
    if extra:
        H.log("delivered although refused (stored, the answer lost with Redis):", extra)
    c.check(len(extra) <= 2, "at most the ones in flight at the kill delivered without a 202",
            extra)
    rc, out, _ = st.parleyctl("queue", "list", as_json=True)
    c.check(rc == 0 and isinstance(out, dict) and out.get("total") == 0, "queue empty after", out)
    c.check(st.parley_alive(), "parleyd still running")
    c.eq(st.stop_parleyd(), 0, "parleyd exit code on SIGTERM (0: no sanitizer report)")


H.run_test("offline-redis-restart", body)
