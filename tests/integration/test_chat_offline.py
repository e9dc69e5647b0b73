#!/usr/bin/python3
"""Chat sessions with offline storage on real Redis (mapping-docs/chat.md §11, §12).

§11 (SylkServer's approach 1): the XMPP server is down, so no XMPP user can be reached; a SIP
user (alice, msrp_peer.py) still opens a chat to juliet: parleyd accepts, answers once on
juliet's behalf with the configured "is offline, type your message" text, and parks what
alice types (kind chat). When the server is back and juliet online, she gets every message,
in order, as type='chat' with alice's address, the session's thread and a XEP-0203 delay.
§12 (OMA IM Appendix K): [offline] push = msrp. bob (msrp_peer.py) is not registered, so
juliet's messages to him are parked after Kamailio's 404. bob REGISTERs: parleyd opens one
MSRP session to him from sip:offline@<its domain>, sends every parked message as a
message/cpim SEND with the original From (juliet), To, DateTime of first receipt, Subject and
imdn.Message-ID (the stanza id), in order, and ends the session with a BYE; the store is empty
afterwards."""
import time

import harness as H
import msrp_peer as P

JULIET = "juliet@" + H.XMPP_DOMAIN
BOB = "bob@" + H.SIP_DOMAIN
NOTICE = "juliet is offline: type your message, it will be delivered"
PEERS = []


def chat_extra(msrp_port):
    # a second [offline] group adds to the template's (GKeyFile merges groups)
    return ("[chat]\nenabled = true\nmsrp_port = %d\noffline_notice = %s\n\n[offline]\npush = msrp\n"
            % (msrp_port, NOTICE))


def offline_chat(st):
    c = st.checks
    H.log("§11: the XMPP server is down; alice opens a chat to juliet")
    st.stop_xmpp()
    st.parley.wait_log("XMPP component offline", 10)
    alice = P.SipMsrpPeer("alice", domain=H.SIP_DOMAIN, proxy=("127.0.0.1", st.kam_port))
    PEERS.append(alice)
    c.eq(alice.register(), 200, "alice registered")
    sess = alice.invite("sip:" + JULIET, timeout=10)
    if not c.check(sess is not None and sess.established,
                   "the INVITE is accepted although juliet cannot be reached",
                   sess and sess.sip_final and sess.sip_final.start):
        return
    texts = ["are you there? – %d ☕" % i for i in range(3)]
    for t in texts:
        r = sess.send_text(t)
        c.check(all(s == 200 for s in r.statuses), "SEND %r answered 200" % t, r.statuses)
    note = sess.wait_message(lambda m: NOTICE in m.text, 10)
    c.check(note is not None, "alice got the offline notice in the session",
            [m.text for m in sess.messages])
    time.sleep(0.5)
    c.eq(len([m for m in sess.messages if NOTICE in m.text]), 1, "the notice came once")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and st.parley_counters().get("offline_parked_chat", 0) < 3:
        time.sleep(0.2)
    c.eq(st.parley_counters().get("offline_parked_chat", 0), 3, "three chat messages parked")
    sess.bye()
    H.log("the server comes back; juliet logs in")
    jul = st.restart_xmpp_client_first("juliet", "balcony")
    deadline = time.monotonic() + 15
    got = []
    while time.monotonic() < deadline and len(got) < 3:
        got = [m for m in list(jul.messages) if (m["body"] or "").startswith("are you there?")]
        time.sleep(0.1)
    c.eq([m["body"] for m in got], texts, "juliet got them, in order, each once")
    for m in got:
        c.eq(m["type"], "chat", "type chat")
        c.check((m["from"] or "").startswith("alice@" + H.SIP_DOMAIN), "from alice", m["from"])
        c.check(bool(m["thread"]), "with the session's thread", m["thread"])
        c.check(len(H.xmpp_delays(m["xml"])) >= 1, "with a XEP-0203 delay", m["xml"])
    return jul


def push(st, jul):
    c = st.checks
    H.log("§12: juliet writes to bob, who is not registered: parked after Kamailio's 404")
    sent = []
    for i in range(3):
        sid = "push-%d-%s" % (i, H.secrets.token_hex(2))
        body = "for bob %d – ça va? ☃" % i
        jul.send(to=BOB, id=sid, type="normal", subject="Objet %d" % i, body=body)
        sent.append((sid, body))
        time.sleep(0.05)
    t_last = time.time()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and st.parley_counters().get("offline_parked_xmpp", 0) < 3:
        time.sleep(0.2)
    c.eq(st.parley_counters().get("offline_parked_xmpp", 0), 3, "three messages parked for bob")
    H.log("bob REGISTERs: parleyd pushes over one MSRP session")
    bob = P.SipMsrpPeer("bob", domain=H.SIP_DOMAIN, proxy=("127.0.0.1", st.kam_port))
    PEERS.append(bob)
    c.eq(bob.register(), 200, "bob registered")
    sess = bob.wait_session(10)
    if not c.check(sess is not None, "parleyd opened a session to bob"):
        return
    c.check("offline@" in (sess.invite.h("from") or ""), "from sip:offline@...",
            sess.invite.h("from"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(sess.messages) < 3:
        time.sleep(0.1)
    msgs = list(sess.messages)
    c.eq(len(msgs), 3, "three SENDs")
    for m, (sid, body) in zip(msgs, sent):
        c.eq(m.ctype(), "message/cpim", "message/cpim")
        cp = m.cpim()
        if not c.check(cp is not None, "a CPIM body", m.body[:200]):
            continue
        hdrs, inner_hdrs, inner = cp
        h = dict(hdrs)
        c.eq(inner.decode(), body, "original body, in order")
        c.check(JULIET in h.get("From", ""), "CPIM From is juliet", h.get("From"))
        c.check(BOB in h.get("To", ""), "CPIM To is bob", h.get("To"))
        c.eq(h.get("imdn.Message-ID"), sid, "imdn.Message-ID is the stanza id")
        c.check(h.get("DateTime", "") < time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t_last + 1)),
                "DateTime of first receipt", h.get("DateTime"))
        c.check(h.get("Subject", "").startswith("Objet"), "Subject kept", h.get("Subject"))
    c.check(sess.wait_closed(10), "parleyd ended the push session with a BYE")
    time.sleep(0.5)
    rc, out, err = st.parleyctl("queue", "list", as_json=True)
    users = [u.get("user") for u in (out.get("queues") or [])] if isinstance(out, dict) else None
    c.check(users is not None and ("sip:" + BOB) not in users, "bob's queue is empty", out)
    c.check(st.parley_counters().get("chat_push_messages", 0) == 3, "chat_push_messages = 3",
            st.parley_counters().get("chat_push_messages"))


def run(st):
    st.start_redis()
    st.start_xmpp()
    st.start_kamailio()
    msrp_port = H.free_port()
    st.start_parleyd("direct", offline_store="redis", redis_port=st.redis_port,
                     chat_extra=chat_extra(msrp_port))
    jul = offline_chat(st)
    if jul is not None:
        push(st, jul)
    st.checks.check(st.parley_alive(), "parleyd still running")


def body(st):
    try:
        run(st)
    finally:
        for p in PEERS:
            p.close()


H.run_test("chat-offline", body)
