#!/usr/bin/python3
"""XMPP server crash and restart under a running parleyd. The server is SIGKILLed mid-test and
started again on the same ports (parleyd is not restarted). While it is down, SIP MESSAGEs must
get 503 with Retry-After from parleyd (Kamailio relays that as 500, RFC 3261 §16.7) (never a 202 for a message that cannot be delivered); once parleyd has
reconnected by itself (backoff, reconnect_max_ms 2000 here) messages flow both ways again."""
import signal
import time

import harness as H


def body(st):
    c = st.checks
    st.start_xmpp()
    st.start_kamailio()
    st.start_parleyd("direct")
    jul = st.client("juliet", "balcony", name="juliet-1")
    bob = st.sipp_uas("bob")
    final, _ = st.sipp_uac("alice", "juliet@" + H.XMPP_DOMAIN, "before the crash")
    c.check(final is not None and final.status == 202, "before: 202", final and final.start)
    c.check(jul.wait_message(lambda m: m["body"] == "before the crash", 5) is not None,
            "before: juliet received it")

    H.log("SIGKILL the %s server" % st.server)
    st.stop_xmpp(signal.SIGKILL)
    st.parley.wait_log("XMPP component offline|component .* offline", 10)
    c.check(True, "parleyd noticed the link loss")
    # straight to parleyd: its own answer
    for i in range(2):
        final, _ = st.sipp_uac("alice", "juliet@" + H.XMPP_DOMAIN, "while down %d" % i,
                               register=False, target_port=st.parley_port)
        c.check(final is not None and final.status == 503, "while down, sent to parleyd: 503 (%d)" % i,
                final and final.start)
        if final is not None:
            ra = final.h("retry-after")
            c.check(ra is not None and ra.split(";")[0].strip().isdigit(),
                    "while down: Retry-After present", ra)
    # through Kamailio: a proxy must turn a 503 into 500 (RFC 3261 §16.7 step 6); what matters
    # is that the sender is told, not a 202
    final, _ = st.sipp_uac("alice", "juliet@" + H.XMPP_DOMAIN, "while down via proxy")
    c.check(final is not None and final.status in (500, 503),
            "while down, through Kamailio: 500 (proxy's rendering of 503), not 202",
            final and final.start)
    c.check(st.parley_alive(), "parleyd alive while the server is down")
    time.sleep(1.5)   # let a couple of reconnect attempts fail

    H.log("restart the %s server" % st.server)
    t0 = time.monotonic()
    if st.server == "prosody":
        st._run_prosody()
    else:
        st._run_ejabberd()
    st.parley.wait_log("XMPP component online", 15, count=2)
    H.log("parleyd back online %.1f s after the server restart" % (time.monotonic() - t0))
    c.check(True, "parleyd reconnected without a restart")
    jul2 = st.client("juliet", "balcony2", name="juliet-2")
    final, _ = st.sipp_uac("alice", "juliet@" + H.XMPP_DOMAIN, "after the restart", register=False)
    c.check(final is not None and final.status == 202, "after: 202", final and final.start)
    c.check(jul2.wait_message(lambda m: m["body"] == "after the restart", 5) is not None,
            "after: juliet received it")
    jul2.send(to="bob@" + H.SIP_DOMAIN, id="after-x2s", thread="after-restart", body="back again")
    got = bob.wait(1, 5, pred=lambda r: r.h("call-id") == "after-restart")
    c.check(len(got) == 1 and got[0].text() == "back again", "after: XMPP->SIP delivered")
    c.check(st.parley_alive(), "parleyd still running")


H.run_test("xmpp-restart", body)
