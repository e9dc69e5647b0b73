#!/usr/bin/python3
"""Bad input over the wire; parleyd must answer sensibly, stay up, and keep relaying.

SIP, raw UDP straight to parleyd: missing From (400), CR/LF smuggled into header values
(percent-encoded CR LF in the From user -> 400; a bare CR inside Subject must never reach XMPP
as a line break), unknown Content-Type (415 with Accept), body over max_message_bytes (413;
the limit is 4000 in this test so the body fits one datagram), invalid Request-URIs (400/416), replicated REGISTERs with a bad To, Contact or expires (400).
XMPP, through the server: a non-canonically escaped JID (jid-malformed), CR/LF in subject
(bad-request), type groupchat (feature-not-implemented). Then one message each way must go."""
import signal

import harness as H


def sip_bad(st):
    c = st.checks
    port = st.parley_port
    base = lambda callid: [("From", "<sip:alice@%s>;tag=bad1" % H.SIP_DOMAIN),
                           ("To", "<sip:juliet@%s>" % H.XMPP_DOMAIN),
                           ("Call-ID", callid), ("CSeq", "1 MESSAGE"), ("Max-Forwards", "70"),
                           ("Content-Type", "text/plain")]
    ruri = "sip:juliet@%s" % H.XMPP_DOMAIN

    def send(what, req, want):
        r = H.udp_exchange(port, req)
        got = r.status if r else None
        ok = got in want if isinstance(want, tuple) else got == want
        c.check(ok, "%s -> %s" % (what, want), r.start if r else "no response")
        return r

    hdrs = [h for h in base("bad-nofrom") if h[0] != "From"]
    send("MESSAGE without From", H.sip_request("MESSAGE", ruri, hdrs, b"hi"), 400)

    hdrs = base("bad-crlf-from")
    hdrs[0] = ("From", "<sip:ali%%0D%%0Ace@%s>;tag=x" % H.SIP_DOMAIN)
    send("From user with %0D%0A", H.sip_request("MESSAGE", ruri, hdrs, b"hi"), 400)

    hdrs = base("bad-cr-subject") + [("Subject", "hello\rInjected: yes")]
    r = H.udp_exchange(port, H.sip_request("MESSAGE", ruri, hdrs, b"cr in subject"))
    c.check(r is not None and r.status in (202, 400), "Subject with a bare CR -> 202 or 400",
            r and r.start)

    hdrs = [h for h in base("bad-ctype") if h[0] != "Content-Type"] + [("Content-Type", "application/x-nonsense")]
    r = send("unknown Content-Type", H.sip_request("MESSAGE", ruri, hdrs, b"hi"), 415)
    c.check(r is not None and r.h("accept") is not None, "415 carries Accept", r and r.h("accept"))

    send("body over max_message_bytes (4000)",
         H.sip_request("MESSAGE", ruri, base("bad-big"), b"x" * 4500), 413)

    # A request line whose URI does not parse is not SIP to the stack: there is no transaction
    # to answer (sofia drops it), so the check is that it is counted and harms nothing.
    r = H.udp_exchange(port, H.sip_request("MESSAGE", "sip:juliet@", base("bad-ruri1"), b"hi"),
                       timeout=1.0)
    c.check(r is None, "Request-URI sip:juliet@ (unparseable request line) -> dropped by the stack",
            r and r.start)
    send("Request-URI with a non-SIP scheme",
         H.sip_request("MESSAGE", "http://example.com/x", base("bad-ruri2"), b"hi"), (400, 416))
    send("Request-URI sip:xmpp.test (no user)",
         H.sip_request("MESSAGE", "sip:" + H.XMPP_DOMAIN, base("bad-ruri3"), b"hi"), (400, 404))
    # REGISTERs as the proxy replicates them (offline.md §5): a bad one is refused, counted and
    # never taken as a sign of the user (a garbled expires must not read as an unregistration)
    def reg(callid, to, contact=None, extra=()):
        h = [("From", "<%s>;tag=r1" % to), ("To", "<%s>" % to), ("Call-ID", callid),
             ("CSeq", "1 REGISTER"), ("Max-Forwards", "70")]
        if contact is not None:
            h.append(("Contact", contact))
        return H.sip_request("REGISTER", "sip:" + H.SIP_DOMAIN, h + list(extra))
    send("REGISTER, To user with %0D%0A",
         reg("bad-reg1", "sip:bo%%0D%%0Ab@%s" % H.SIP_DOMAIN, "<sip:bob@127.0.0.1:5099>"), 400)
    send("REGISTER, Contact with a non-SIP scheme",
         reg("bad-reg2", "sip:bob@%s" % H.SIP_DOMAIN, "<http://evil.example/x>"), 400)
    send("REGISTER, Contact expires=abc",
         reg("bad-reg3", "sip:bob@%s" % H.SIP_DOMAIN, "<sip:bob@127.0.0.1:5099>;expires=abc"), 400)
    send("REGISTER, Contact expires beyond 2^32",
         reg("bad-reg4", "sip:bob@%s" % H.SIP_DOMAIN,
             "<sip:bob@127.0.0.1:5099>;expires=99999999999999999999999"), 200)
    send("REGISTER, Contact: * with Expires: 0",
         reg("bad-reg5", "sip:bob@%s" % H.SIP_DOMAIN, "*", [("Expires", "0")]), 200)
    send("REGISTER without Contact (a query)", reg("bad-reg6", "sip:bob@%s" % H.SIP_DOMAIN), 200)
    c.check(st.parley_alive(), "parleyd alive after the bad SIP input")
    # every refusal was counted (SIGUSR1 logs the counters)
    st.parley.signal_group(signal.SIGUSR1)
    try:
        st.parley.wait_log(r"counters:.*unparseable=1", 5)
        line = [l for l in st.parley.text().splitlines() if "counters:" in l][-1]
    except RuntimeError as e:
        line = str(e)
    for name in ("sip_in_rejected_415", "sip_in_rejected_413", "unparseable=1",
                 "sip_in_rejected_address"):
        c.check(name in line, "counted: %s" % name, line)


def xmpp_bad(st, jul, bob):
    c = st.checks
    cases = [
        ("non-canonical escaping a\\5cb", dict(to="a\\5cb@" + H.SIP_DOMAIN, body="x"),
         ("jid-malformed", "modify")),
        ("LF in subject", dict(to="bob@" + H.SIP_DOMAIN, subject="hi\nInjected: yes", body="x"),
         ("bad-request", "modify")),
        ("LF in thread", dict(to="bob@" + H.SIP_DOMAIN, thread="t\nX: y", body="x"),
         ("bad-request", "modify")),
        ("groupchat", dict(to="bob@" + H.SIP_DOMAIN, type="groupchat", body="x"),
         ("feature-not-implemented", "cancel")),
    ]
    for i, (what, fields, want) in enumerate(cases):
        sid = "bad-x-%d" % i
        jul.send(id=sid, **fields)
        m = jul.wait_message(lambda m: m["id"] == sid, timeout=5)
        if c.check(m is not None and m["type"] == "error", "%s -> error stanza" % what, m and m["xml"]):
            c.eq((m["error_condition"], m["error_type"]), want, "%s: condition, type" % what)
    c.check(not any("Injected" in (r.h("subject") or "") or r.h("x") for r in bob.messages()),
            "nothing injected reached the SIP side", [r.h("subject") for r in bob.messages()])
    c.check(st.parley_alive(), "parleyd alive after the bad XMPP input")


def body(st):
    c = st.checks
    st.start_xmpp()
    st.start_kamailio()
    st.start_parleyd("direct", max_message_bytes=4000)
    jul = st.client("juliet", "balcony")
    bob = st.sipp_uas("bob")
    sip_bad(st)
    xmpp_bad(st, jul, bob)
    for m in jul.messages:
        if m["body"] and "\r" in (m["subject"] or ""):
            c.check(False, "a CR reached an XMPP subject", m["xml"])
    H.log("still relaying?")
    final, _ = st.sipp_uac("alice", "juliet@" + H.XMPP_DOMAIN, "still there ✓")
    c.check(final is not None and final.status == 202, "SIP->XMPP still relays (202)", final and final.start)
    c.check(jul.wait_message(lambda m: m["body"] == "still there ✓", 5) is not None,
            "juliet received it")
    jul.send(to="bob@" + H.SIP_DOMAIN, id="ok-after", thread="ok-after", body="fine ✓")
    got = bob.wait(1, 5, pred=lambda r: r.h("call-id") == "ok-after")
    c.check(len(got) == 1 and got[0].text() == "fine ✓", "XMPP->SIP still relays")
    c.check(st.parley_alive(), "parleyd still running")


H.run_test("bad-input", body)
