#!/usr/bin/python3
"""SIP over TCP, both directions: parleyd listens on TCP as well as UDP, and sends over TCP
when its outbound proxy says transport=tcp (no chunking then: RFC 3261 §18.1.1 only limits
congestion-unsafe transports).

SIP->XMPP: sipp over TCP straight to parleyd's TCP port -> 202, juliet gets the body.
XMPP->SIP: parleyd restarted with outbound_proxy ...;transport=tcp -> Kamailio -> sipp UAS;
a 3 000-byte body arrives as one MESSAGE (not split) over TCP."""
import harness as H


def body(st):
    c = st.checks
    st.start_xmpp()
    st.start_kamailio()
    st.start_parleyd("direct")
    jul = st.client("juliet", "tcp")

    text = "über TCP ✓"
    final, msgs = st.sipp_uac("alice", "juliet@" + H.XMPP_DOMAIN, text, register=False,
                              target_port=st.parley_port, transport="t1")
    c.check(final is not None and final.status == 202, "MESSAGE over TCP to parleyd -> 202",
            final and final.start)
    m = jul.wait_message(lambda m: m["body"] == text, 5)
    c.check(m is not None, "juliet received the TCP MESSAGE's body", jul.messages)

    st.stop_parleyd()
    st.start_parleyd("direct", proxy_params=";transport=tcp")
    bob = st.sipp_uas("bob")
    long_text = ("TCP carries this whole: " + "ö" * 1500)[:3000]
    jul.send(to="bob@" + H.SIP_DOMAIN, id="tcp-long", thread="tcp-long-thread", body=long_text)
    got = bob.wait(1, 8, pred=lambda r: r.h("call-id") == "tcp-long-thread")
    c.check(len(got) == 1, "one MESSAGE (not split) reached bob", [r.start for r in bob.messages()])
    if got:
        c.eq(got[0].text(), long_text, "body intact")
        lines = [l for l in st.kam.text().splitlines()
                 if "REQ MESSAGE" in l and "callid=tcp-long-thread" in l]
        c.check(len(lines) == 1 and "/tcp" in lines[0],
                "Kamailio received it from parleyd over TCP", lines)
    c.check(st.parley_alive(), "parleyd still running")


H.run_test("sip-tcp", body)
