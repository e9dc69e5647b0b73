#!/usr/bin/python3
"""Error mapping both ways (mapping-docs/errors.md, RFC 7247).

XMPP->SIP: registered sipp UASes answer 404, 480, 486, 488, 503, and one never answers
(Kamailio's fr_timer, 3 s here, then answers 408). juliet's message to each must come back as
<message type='error'> with the condition/type of errors.md §1.1, id copied, from/to swapped.
Kamailio relays a 503 as 500 (RFC 3261 §16.7); both map to internal-server-error/cancel.
SIP->XMPP: a MESSAGE to an XMPP user that does not exist is bounced by the XMPP server
(service-unavailable, bare JID) and sipp must get 403 (errors.md 2.1.19) instead of 202."""
import time

import harness as H

CASES = [  # status, reason, condition, type
    (404, "Not Found", "item-not-found", "cancel"),
    (480, "Temporarily Unavailable", "recipient-unavailable", "wait"),
    (486, "Busy Here", "recipient-unavailable", "wait"),
    (488, "Not Acceptable Here", "not-acceptable", "modify"),
    (503, "Service Unavailable", "internal-server-error", "cancel"),
    (408, None, "remote-server-timeout", "wait"),     # silent UAS, proxy timer
]


def body(st):
    c = st.checks
    st.start_xmpp()
    st.start_kamailio(fr_timer_ms=3000)
    st.start_parleyd("direct")
    jul = st.client("juliet", "balcony")
    for status, reason, _, _ in CASES:
        if reason is None:
            st.sipp_uas("u%d" % status, scenario="uas_silent.xml")
        else:
            st.sipp_uas("u%d" % status, status, reason)
    # one at a time: the mapping itself (a burst is checked below)
    for status, _, cond, typ in CASES:
        jul.send(to="u%d@%s" % (status, H.SIP_DOMAIN), id="err-%d" % status, body="status %d?" % status)
        m = jul.wait_message(lambda m: m["id"] == "err-%d" % status, timeout=12)
        if not c.check(m is not None, "SIP %d came back as an XMPP error" % status):
            continue
        c.eq(m["type"], "error", "SIP %d: stanza type" % status)
        c.eq((m["error_condition"], m["error_type"]), (cond, typ), "SIP %d: condition, type" % status)
        c.eq(m["from"], "u%d@%s" % (status, H.SIP_DOMAIN), "SIP %d: from (the SIP user)" % status)
        c.eq(m["to"], "juliet@%s/balcony" % H.XMPP_DOMAIN, "SIP %d: to (the full sender JID)" % status)
        H.log("   text: %r" % m["error_text"])

    H.log("burst: 5 stanzas at once to 5 SIP users answering 200")
    uas = [st.sipp_uas("b%d" % i) for i in range(5)]
    for i in range(5):
        jul.send(to="b%d@%s" % (i, H.SIP_DOMAIN), id="burst-%d" % i, body="burst %d" % i)
    deadline = time.monotonic() + 5
    for i, u in enumerate(uas):
        got = u.wait(1, max(0.2, deadline - time.monotonic()))
        c.check(len(got) == 1, "burst: b%d's sipp received its MESSAGE" % i, len(got))

    H.log("SIP->XMPP to an XMPP user that does not exist")
    final, _ = st.sipp_uac("alice", "nobody@" + H.XMPP_DOMAIN, "hello nobody")
    c.check(final is not None and final.status == 403,
            "bounce service-unavailable (bare JID) -> SIP 403, not 202", final and final.start)
    c.check(st.parley_alive(), "parleyd still running")


H.run_test("errors", body)
