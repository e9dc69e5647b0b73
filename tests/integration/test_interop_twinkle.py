#!/usr/bin/python3
"""Interop with twinkle-console 1.10 (Debian), registered through Kamailio as tom@sip.test.

twinkle sends text/plain;charset=utf-8, answers 415 to message/cpim and 200 to isComposing
(PEERS.md §1.5).
- XMPP -> SIP with an XEP-0184 receipt request: CPIM, 415, resent as plain: shown once; the
  next message goes plain at once; isComposing is accepted, so it is not suppressed.
- twinkle -> XMPP: its message reaches juliet (charset=utf-8 taken as it is).
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
    tom = P.Twinkle(st, "tom")
    to = "tom@%s" % H.SIP_DOMAIN

    jul.send(to=to, id="tw-1", type="chat", body="first to twinkle – äöü", receipt=True)
    got = P._wait(lambda: tom.received(), 10)
    c.eq(got, ["first to twinkle – äöü"], "twinkle shows the first message exactly once")
    jul.send(to=to, type="chat", chat_state="composing")
    time.sleep(0.5)
    jul.send(to=to, id="tw-2", type="chat", body="second to twinkle", receipt=True)
    got = P._wait(lambda: len(tom.received()) >= 2 and tom.received(), 10)
    c.eq(got, ["first to twinkle – äöü", "second to twinkle"], "twinkle shows both, once, in order")
    time.sleep(0.5)
    n = st.parley_counters()
    c.eq(n.get("sip_peer_refused_cpim"), 1, "one 415 to CPIM")
    c.eq(n.get("xmpp_in_cpim_fallback"), 1, "one resend as plain text; the second went plain")
    c.eq(n.get("sip_peer_refused_iscomposing"), None, "twinkle accepted isComposing (200)")
    c.eq(n.get("xmpp_in_iscomposing"), 1, "the composing state was sent as isComposing")

    tom.send("sip:juliet@%s" % H.XMPP_DOMAIN, "hello juliet from twinkle")
    m = jul.wait_message(lambda m: m["body"] == "hello juliet from twinkle", timeout=10)
    if c.check(m is not None, "juliet received twinkle's message", [x["xml"] for x in jul.messages]):
        c.eq(m["from"].split("/")[0], "tom@%s" % H.SIP_DOMAIN, "from is tom")
    c.eq([m for m in jul.messages if m["type"] == "error"], [], "no error stanza reached juliet")
    tom.quit()
    c.check(st.parley_alive(), "parleyd still running")


H.run_test("interop-twinkle", body)
