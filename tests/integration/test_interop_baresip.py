#!/usr/bin/python3
"""Interop with baresip 1.0 (Debian baresip-core), registered through Kamailio as frank@sip.test.

baresip takes text/plain only: it answers 415 to message/cpim and to isComposing (PEERS.md §1.3).
- XMPP -> SIP with an XEP-0184 receipt request: parleyd sends CPIM with an IMDN request, gets
  415, sends the same message again as plain text: baresip shows it exactly once; the second
  message goes as plain text at once (the capability cache remembered); no error stanza.
- XEP-0085 <composing/> -> isComposing -> 415: remembered, the next chat state is not sent.
- baresip -> XMPP: its MESSAGE reaches juliet with every character.
(mapping-docs/receipts.md §4, §6)"""
import time

import harness as H
import softphones as P


def body(st):
    c = st.checks
    st.start_xmpp()
    st.start_kamailio()
    st.start_parleyd("direct")
    jul = st.client("juliet", "desk")
    frank = P.Baresip(st, "frank", "sip:juliet@%s" % H.XMPP_DOMAIN)
    to = "frank@%s" % H.SIP_DOMAIN

    jul.send(to=to, id="bs-1", type="chat", body="first to baresip – äöü", receipt=True)
    got = P._wait(lambda: frank.received(), 10)
    c.eq(got, ["first to baresip – äöü"], "baresip shows the first message exactly once")
    n = st.parley_counters()
    c.eq(n.get("sip_peer_refused_cpim"), 1, "the 415 to CPIM was seen once")
    c.eq(n.get("xmpp_in_cpim_fallback"), 1, "the message was resent as plain text")

    jul.send(to=to, type="chat", chat_state="composing")
    time.sleep(1.0)
    jul.send(to=to, type="chat", chat_state="composing")
    jul.send(to=to, id="bs-2", type="chat", body="second to baresip", receipt=True)
    got = P._wait(lambda: len(frank.received()) >= 2 and frank.received(), 10)
    c.eq(got, ["first to baresip – äöü", "second to baresip"],
         "baresip shows the second message once, in order")
    time.sleep(0.5)
    n = st.parley_counters()
    c.eq(n.get("xmpp_in_cpim_fallback"), 1, "no second CPIM attempt: the cache remembered")
    c.eq(n.get("sip_peer_refused_iscomposing"), 1, "the 415 to isComposing was seen once")
    c.check(n.get("xmpp_in_iscomposing_suppressed", 0) >= 1,
            "no isComposing sent after the refusal", n)
    msgs = [r for r in st.kam_requests() if r["ruri"].startswith("sip:frank@")]
    c.eq(len(msgs), 4, "Kamailio relayed 4 MESSAGEs to frank (CPIM, plain, isComposing, plain)")

    frank.send("hello juliet from baresip ☃")
    m = jul.wait_message(lambda m: m["body"] == "hello juliet from baresip ☃", timeout=10)
    if c.check(m is not None, "juliet received baresip's message"):
        c.eq(m["from"].split("/")[0], "frank@%s" % H.SIP_DOMAIN, "from is frank")
    errs = [m for m in jul.messages if m["type"] == "error"]
    c.eq(errs, [], "no error stanza reached juliet")
    c.check(st.parley_alive(), "parleyd still running")


H.run_test("interop-baresip", body)
