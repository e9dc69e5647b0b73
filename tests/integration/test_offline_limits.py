#!/usr/bin/python3
"""Offline store limits on real Redis (mapping-docs/offline.md §4, §7; DESIGN.md §7 Limits).

Expiry (§7): parleyd with expiry_s=2 and expire_interval_s=1 parks juliet's messages for bob
(not registered: Kamailio 404s); ~4 s later the sweep has removed them: SIGUSR1's counters
line shows offline_expired, `parleyctl queue list` shows no queue for bob, and when bob
REGISTERs nothing is delivered.
Quota (§4a, §4c, §4d): parleyd restarted with quota_count=3. XMPP->SIP: the 4th message to the
unregistered carol gets an error resource-constraint (type wait), the first 3 none.
SIP->XMPP with the XMPP server down: alice's first 3 MESSAGEs to juliet get 202, the 4th 486
(relayed unchanged by Kamailio). Run once (the XMPP server only matters for the link)."""
import signal
import time

import harness as H

JULIET = "juliet@" + H.XMPP_DOMAIN


def expiry(st, jul):
    c = st.checks
    sids = ["exp-%d" % i for i in range(3)]
    for i, sid in enumerate(sids):
        jul.send(to="bob@" + H.SIP_DOMAIN, id=sid, thread="exp-thr", body="expiring %d" % i)
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        if st.parley_counters().get("offline_parked_xmpp", 0) >= len(sids):
            break
        time.sleep(0.2)
    t_parked = time.monotonic()
    c.eq(st.parley_counters().get("offline_parked_xmpp"), len(sids), "3 messages parked for bob")
    rc, out, _ = st.parleyctl("queue", "list", as_json=True)
    c.check(rc == 0 and isinstance(out, dict) and out.get("total") == len(sids),
            "parleyctl queue list: 3 parked in total", out)
    # expiry_s=2 after first receipt, then a sweep within expire_interval_s=1 (ticks)
    expired = 0
    deadline = t_parked + 8
    while time.monotonic() < deadline:
        expired = st.parley_counters().get("offline_expired", 0)
        if expired >= len(sids):
            break
        time.sleep(0.5)
    H.log("expired after %.1f s" % (time.monotonic() - t_parked))
    c.eq(expired, len(sids), "SIGUSR1 counters: offline_expired")
    c.check(time.monotonic() - t_parked >= 1.0, "not expired before expiry_s")
    rc, out, err = st.parleyctl("queue", "list", as_json=True)
    c.check(rc == 0 and isinstance(out, dict) and out.get("total") == 0 and not out.get("queues"),
            "parleyctl queue list: no queue left for bob", (rc, out, err))
    bob = st.sipp_uas("bob", register=False)
    st.sipp_register("bob", H.free_port(), contact_port=bob.port)
    time.sleep(2.0)
    c.eq([r.text() for r in bob.messages()], [], "bob REGISTERed: nothing expired is delivered")
    errs = [m for m in list(jul.messages) if m["id"] in sids]
    c.check(not errs, "no error stanza for the expired messages", [m["xml"] for m in errs])
    bob.stop()


def quota(st, jul):
    c = st.checks
    H.log("quota: XMPP->SIP to the unregistered carol")
    sids = ["q-%d" % i for i in range(4)]
    for i, sid in enumerate(sids):
        jul.send(to="carol@" + H.SIP_DOMAIN, id=sid, type="chat", body="quota %d" % i)
        time.sleep(0.3)   # parked one after the other
    err = jul.wait_message(lambda m: m["id"] == sids[3] and m["type"] == "error", 8)
    if c.check(err is not None, "4th message to carol: an error stanza"):
        c.eq(err["error_condition"], "resource-constraint", "error condition")
        c.eq(err["error_type"], "wait", "error type")
        c.eq(err["from"], "carol@" + H.SIP_DOMAIN, "error from carol's JID")
    time.sleep(0.3)
    others = [m for m in list(jul.messages) if m["id"] in sids[:3]]
    c.check(not others, "first 3: no error (parked)", [m["xml"] for m in others])
    ctr = st.parley_counters()
    c.eq(ctr.get("offline_parked_xmpp"), 3, "counter offline_parked_xmpp")
    c.eq(ctr.get("offline_park_refused_quota"), 1, "counter offline_park_refused_quota")

    H.log("quota: SIP->XMPP with the XMPP server down")
    st.stop_xmpp(signal.SIGKILL)
    st.parley.wait_log("XMPP component offline", 10)
    codes = []
    for i in range(4):
        final, _ = st.sipp_uac("alice", JULIET, "to juliet %d" % i, register=(i == 0))
        codes.append(final.status if final is not None else None)
    c.eq(codes, [202, 202, 202, 486], "alice's 4 MESSAGEs: 202 x3, then 486 (mailbox full)")
    ctr = st.parley_counters()
    c.eq(ctr.get("offline_parked_sip"), 3, "counter offline_parked_sip")
    c.eq(ctr.get("offline_park_refused_quota"), 2, "counter offline_park_refused_quota")


def body(st):
    st.start_xmpp()
    st.start_redis()
    st.start_kamailio()
    st.start_parleyd("direct", offline_store="redis", redis_port=st.redis_port,
                     expiry_s=2, expire_interval_s=1)
    jul = st.client("juliet", "balcony")
    expiry(st, jul)
    st.checks.check(st.parley_alive(), "parleyd still running")
    st.checks.eq(st.stop_parleyd(), 0, "parleyd exit code on SIGTERM")
    st.start_parleyd("direct", tag="quota", offline_store="redis", redis_port=st.redis_port,
                     quota_count=3)
    quota(st, jul)
    st.checks.check(st.parley_alive(), "parleyd still running")
    st.checks.eq(st.stop_parleyd(), 0, "parleyd exit code on SIGTERM (0: no sanitizer report)")


H.run_test("offline-limits", body)
