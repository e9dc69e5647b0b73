#!/usr/bin/python3
"""The peers and example configs on their own (no parleyd): the XMPP server starts from
examples/, users log in, a XEP-0114 component (slixmpp, standing in for parleyd) connects and
exchanges messages both ways, the XMPP server bounces a message to an unknown user with
service-unavailable, Kamailio starts from examples/kamailio.cfg, sipp registers through it, a
MESSAGE between two registered sipp users is routed by the location table, and a MESSAGE to
the gateway domains is relayed to the parleyd address."""
import socket
import time

import harness as H


def body(st):
    c = st.checks
    st.start_xmpp()
    comp = H.XmppClient(st, H.SIP_DOMAIN, H.SECRET, st.component_port, component=True)
    comp.wait_online()
    c.check(True, "component %s authenticated on the %s component port" % (H.SIP_DOMAIN, st.server))
    jul = st.client("juliet", "balcony")
    c.check(True, "juliet logged in")
    jul.send(to="alice@" + H.SIP_DOMAIN, id="p1", body="hé ☃", subject="s", thread="t1",
             lang="fr", type="normal")
    m = comp.wait_message(lambda m: m["id"] == "p1")
    c.check(m is not None, "component received juliet's message")
    if m:
        c.eq(m["from"], "juliet@%s/balcony" % H.XMPP_DOMAIN, "from")
        c.eq((m["body"], m["subject"], m["thread"], m["lang"]), ("hé ☃", "s", "t1", "fr"),
             "body, subject, thread, lang")
    comp.send(**{"from": "alice@" + H.SIP_DOMAIN, "to": "juliet@%s" % H.XMPP_DOMAIN,
                 "id": "p2", "body": "back"})
    m = jul.wait_message(lambda m: m["id"] == "p2")
    c.check(m is not None and m["body"] == "back", "juliet received the component's message")
    comp.send(**{"from": "alice@" + H.SIP_DOMAIN, "to": "nobody@%s" % H.XMPP_DOMAIN,
                 "id": "p3", "body": "x"})
    m = comp.wait_message(lambda m: m["id"] == "p3")
    c.check(m is not None and m["type"] == "error", "unknown user bounced",
            m and m["xml"])
    if m:
        c.eq((m["error_condition"], m["error_type"]), ("service-unavailable", "cancel"),
             "%s's bounce for an unknown user" % st.server)

    st.start_kamailio()
    bob = st.sipp_uas("bob")
    c.check(True, "sipp bob registered through kamailio")
    final, _ = st.sipp_uac("alice", "bob@" + H.SIP_DOMAIN, "hi bob ü")
    c.check(final is not None and final.status == 200, "alice -> bob via location lookup: 200",
            final and final.start)
    got = bob.wait(1, 5)
    c.check(len(got) == 1 and got[0].text() == "hi bob ü", "bob's sipp received the body")

    # a gateway domain goes to the parleyd address: listen there with a plain socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", st.parley_port))
    s.settimeout(5)
    try:
        for dom in (H.XMPP_DOMAIN, H.ESC_SIP_DOMAIN):
            import threading
            t = threading.Thread(target=st.sipp_uac, args=("alice", "juliet@" + dom, "x"),
                                 kwargs=dict(timeout=3, register=False))
            t.start()
            seen = False
            deadline = time.monotonic() + 5
            while not seen and time.monotonic() < deadline:
                try:
                    data, _ = s.recvfrom(65535)
                except socket.timeout:
                    break
                seen = H.SipMsg(data).start.split()[1] == "sip:juliet@" + dom
            c.check(seen, "kamailio relayed sip:juliet@%s to parleyd's port" % dom)
            t.join()
    finally:
        s.close()


H.run_test("peers", body)
