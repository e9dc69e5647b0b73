#!/usr/bin/python3
"""XMPP server down for ~10 s under SIP traffic (DESIGN.md §7 Guarantees; mapping-docs/offline.md
§4a, §6; real Redis with AOF).

The XMPP server is SIGKILLed; alice and carol each send 100 MESSAGEs through Kamailio to juliet
(20/s each, 200 in all) while it is down: every one is answered 202 (parked). ~10 s after the
crash the server is started again; parleyd reconnects by itself and flushes: juliet receives
all 200, none twice (stanza ids and bodies), in order per sender, each with a XEP-0203 delay.
bounce_window_ms is 20 here (each flushed stanza waits that long for a bounce before it is
acked) to keep the flush of 200 short. Run on each XMPP server."""
import signal
import time

import harness as H

PER_SENDER = 100
SENDERS = ("alice", "carol")
JULIET = "juliet@" + H.XMPP_DOMAIN


def body(st):
    c = st.checks
    st.start_xmpp()
    st.start_redis()
    st.start_kamailio()
    st.start_parleyd("direct", offline_store="redis", redis_port=st.redis_port,
                     bounce_window_ms=20)
    H.log("SIGKILL the %s server" % st.server)
    t_down = time.monotonic()
    st.stop_xmpp(signal.SIGKILL)
    st.parley.wait_log("XMPP component offline", 10)
    seqs = {u: st.sipp_uac_seq(u, JULIET, PER_SENDER, rate=20, prefix=u) for u in SENDERS}
    for u, seq in seqs.items():
        rc = seq.wait(30)
        c.check(rc == 0, "sipp %s: every call ended (exit 0)" % u, (rc, seq.proc.tail(8)))
    for u, seq in seqs.items():
        finals = seq.finals()
        codes = sorted(set(finals.values()))
        c.check(len(finals) == PER_SENDER and codes == [202],
                "%s: all %d MESSAGEs answered 202 (parked)" % (u, PER_SENDER),
                (len(finals), codes))
    ctr = st.parley_counters()
    c.eq(ctr.get("offline_parked_sip"), PER_SENDER * len(SENDERS), "counter offline_parked_sip")
    rc, out, _ = st.parleyctl("queue", "list", as_json=True)
    c.check(rc == 0 and isinstance(out, dict) and out.get("total") == PER_SENDER * len(SENDERS),
            "parleyctl queue list: all parked", out)
    time.sleep(max(0.0, t_down + 10 - time.monotonic()))
    H.log("restart the %s server after %.1f s" % (st.server, time.monotonic() - t_down))
    jul = st.restart_xmpp_client_first("juliet", "balcony")   # juliet online before the flush
    total = PER_SENDER * len(SENDERS)

    def ours():
        return [m for m in list(jul.messages) if m["type"] != "error" and m["body"]
                and m["body"].split(" ")[0] in SENDERS]
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and len(ours()) < total:
        time.sleep(0.2)
    time.sleep(1.0)   # a late duplicate would show up now
    got = ours()
    H.log("juliet received %d (%.1f s after the restart began)" % (len(got),
                                                                   time.monotonic() - t_down - 10))
    c.eq(len(got), total, "juliet received every message")
    ids = [m["id"] for m in got]
    c.eq(len(set(ids)), len(ids), "no stanza id twice")
    bodies = [m["body"] for m in got]
    c.eq(len(set(bodies)), len(bodies), "no message twice")
    for u in SENDERS:
        seq_nums = [int(m["body"].split(" ")[1]) for m in got if m["body"].startswith(u + " ")]
        c.check(seq_nums == list(range(1, PER_SENDER + 1)),
                "%s's %d messages all there, in order" % (u, PER_SENDER), seq_nums)
        frm = set(m["from"] for m in got if m["body"].startswith(u + " "))
        c.eq(frm, {"%s@%s" % (u, H.SIP_DOMAIN)}, "%s: from" % u)
    nodelay = [m["body"] for m in got
               if not [d for d in H.xmpp_delays(m["xml"]) if d[0] == H.SIP_DOMAIN]]
    c.check(not nodelay, "each with a delay from %s" % H.SIP_DOMAIN, nodelay[:5])
    ctr = st.parley_counters()
    c.eq(ctr.get("offline_flushed_xmpp"), total, "counter offline_flushed_xmpp")
    rc, out, _ = st.parleyctl("queue", "list", as_json=True)
    c.check(rc == 0 and isinstance(out, dict) and out.get("total") == 0, "queue empty after", out)
    c.check(st.parley_alive(), "parleyd still running")
    c.eq(st.stop_parleyd(), 0, "parleyd exit code on SIGTERM (0: no sanitizer report)")


H.run_test("offline-xmpp-down", body)
