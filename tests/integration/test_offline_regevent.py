#!/usr/bin/python3
"""Offline flush on a reg-event NOTIFY (RFC 3680; DESIGN.md §7, mapping-docs/offline.md §5).

Kamailio offers the reg event (examples/kamailio.cfg, KAM_REGINFO=1: presence +
presence_reginfo + pua_reginfo) and does NOT replicate REGISTERs to parleyd
(KAM_REPLICATE_REGISTER=0), so only the reg event can tell parleyd that bob came online.
1. reg_event = true: bob is not registered; juliet sends 3 messages to bob: Kamailio answers
   404 and parleyd parks them (Redis), then SUBSCRIBEs "Event: reg" for sip:bob@sip.test
   (seen in Kamailio's log). bob's sipp UAS REGISTERs; Kamailio NOTIFYs parleyd, which
   delivers the 3 messages to bob, in order; then it unSUBSCRIBEs (nothing left to deliver).
2. reg_event = false (parleyd restarted): the same for dave: the REGISTER alone delivers
   nothing (within a few seconds), and parleyd never SUBSCRIBEs."""
import re
import time

import harness as H

N = 3
DOMAIN = H.SIP_DOMAIN


def reginfo_requests(st, method, user):
    """Kamailio's REGINFO log lines for METHOD about user@sip.test: [(ruri, expires)]."""
    pat = r"REGINFO %s ruri=(\S*) from=\S* to=sip:%s@%s expires=(\S*)" % (method, user,
                                                                          re.escape(DOMAIN))
    return re.findall(pat, st.kam.text())


def park(st, jul, user, tag):
    c = st.checks
    sent = []
    for i in range(N):
        body = "%s for %s %d" % (tag, user, i)
        jul.send(to="%s@%s" % (user, DOMAIN), id="%s-%d" % (tag, i), type="chat",
                 thread="th-%s-%d" % (tag, i), body=body)
        sent.append(body)
        time.sleep(0.05)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if st.parley_counters().get("offline_parked_xmpp", 0) >= N:
            break
        time.sleep(0.3)
    c.eq(st.parley_counters().get("offline_parked_xmpp"), N,
         "%s: the %d messages for %s were parked (Kamailio 404)" % (tag, N, user))
    return sent


def with_reg_event(st, jul):
    c = st.checks
    H.log("reg_event = true: park for bob, parleyd subscribes to bob's reg event")
    sent = park(st, jul, "bob", "re")
    deadline = time.monotonic() + 10
    subs = []
    while time.monotonic() < deadline and not subs:
        subs = reginfo_requests(st, "SUBSCRIBE", "bob")
        time.sleep(0.2)
    c.check(len(subs) >= 1, "Kamailio got a SUBSCRIBE Event: reg for sip:bob@%s" % DOMAIN,
            st.kam.tail(30))
    c.check(all(e == "3600" for _, e in subs[:1]), "SUBSCRIBE Expires: 3600", subs)
    c.check(len(subs) == 1, "one SUBSCRIBE for bob (watched once)", subs)

    H.log("bob's UAS REGISTERs (no replication): only the reg-event NOTIFY can tell parleyd")
    bob = st.sipp_uas("bob", register=False)
    st.sipp_register("bob", H.free_port(), contact_port=bob.port)
    bob.wait(N, 15)
    time.sleep(0.5)
    got = bob.messages()
    if not c.eq(len(got), N, "bob received each parked message once"):
        H.log("parleyd:", st.parley.tail(40))
        H.log("kamailio:", st.kam.tail(40))
    c.eq([r.text() for r in got], sent, "in order, bodies intact")
    c.check(st.parley.wait_log("reg event: sip:bob@%s is active" % DOMAIN, 5) is not False,
            "parleyd logged the NOTIFY saying bob is active")
    deadline = time.monotonic() + 10
    unsubs = []
    while time.monotonic() < deadline and not unsubs:
        unsubs = [e for _, e in reginfo_requests(st, "SUBSCRIBE", "bob") if e == "0"]
        time.sleep(0.2)
    c.check(unsubs, "parleyd unSUBSCRIBEd (Expires: 0) once bob's queue was empty",
            reginfo_requests(st, "SUBSCRIBE", "bob"))
    ctr = st.parley_counters()
    c.eq(ctr.get("offline_flushed_sip"), N, "counter offline_flushed_sip")


def without_reg_event(st, jul):
    c = st.checks
    H.log("reg_event = false: park for dave; a REGISTER alone delivers nothing")
    st.stop_parleyd()
    st.start_parleyd("direct", tag="noreg", offline_store="redis", redis_port=st.redis_port,
                     reg_event="false")
    time.sleep(0.5)
    park(st, jul, "dave", "nr")
    dave = st.sipp_uas("dave", register=False)
    st.sipp_register("dave", H.free_port(), contact_port=dave.port)
    time.sleep(4)
    c.eq(len(dave.messages()), 0, "dave received nothing from the REGISTER alone")
    c.eq(reginfo_requests(st, "SUBSCRIBE", "dave"), [], "no SUBSCRIBE for dave")
    c.check(st.parley_alive(), "parleyd still running")
    c.eq(st.stop_parleyd(), 0, "parleyd exit code on SIGTERM (0: no sanitizer report)")


def body(st):
    st.start_xmpp()
    st.start_redis()
    st.start_kamailio(env_over={"KAM_REPLICATE_REGISTER": "0", "KAM_REGINFO": "1"})
    st.start_parleyd("direct", offline_store="redis", redis_port=st.redis_port)
    jul = st.client("juliet", "balcony")
    with_reg_event(st, jul)
    without_reg_event(st, jul)


H.run_test("offline-regevent", body)
