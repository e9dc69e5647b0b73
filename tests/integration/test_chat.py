#!/usr/bin/python3
"""Chat sessions over MSRP end to end (DESIGN.md §6, mapping-docs/chat.md): slixmpp <-> the
XMPP server <-> parleyd <-> Kamailio <-> msrp_peer.py (our RFC 4975 peer, written apart from
parleyd's stack), directly and through Kamailio's msrp relay.

XMPP-originated (§3): juliet's first chat stanza to alice makes parleyd INVITE alice with an
MSRP offer; alice's peer answers, the stanzas held meanwhile arrive as SENDs in order, and
alice's SENDs come back as chat stanzas with the session's thread. SIP-originated: bob's peer
INVITEs juliet, parleyd answers 200 with its path at once; messages of 1 byte, 2 KiB, 100 KiB
(chunked) and non-ASCII, one frame delivered one byte per write, two frames in one write, all
arrive intact. Chat states both ways (§5), receipts both ways (§8), <gone/> <-> BYE (§6), the
idle timeout, and a peer that refuses MSRP (488) getting page mode instead (§7). Then the
same SIP-originated case with parleyd behind the relay (AUTH, Use-Path in a=path).
tshark decodes parleyd's MSRP frames and each field is checked (msrp_capture.py)."""
import secrets
import time

import harness as H
import msrp_capture as MC
import msrp_peer as P

JULIET = "juliet@" + H.XMPP_DOMAIN
ALICE = "alice@" + H.SIP_DOMAIN
CS = "http://jabber.org/protocol/chatstates"
RECEIPTS = "urn:xmpp:receipts"


def chat_extra(msrp_port, relay=None, idle=600):
    return ("[chat]\nenabled = true\nmsrp_bind = 127.0.0.1\nmsrp_port = %d\n"
            "idle_timeout_s = %d\ncomposing_refresh_s = 10\n%s"
            % (msrp_port, idle, "relay = msrp://127.0.0.1:%d;tcp\n" % relay if relay else ""))


def has_state(m, state):
    return m.get("xml") is not None and ("<%s xmlns=\"%s\"" % (state, CS) in m["xml"]
                                         or ":%s xmlns" % state in m["xml"]
                                         or ("}%s" % state) in m["xml"]
                                         or ("<%s " % state) in m["xml"] and CS in m["xml"])


def raw_message(frm, to, inner, mid=None, mtype="chat"):
    return "<message from='%s' to='%s' type='%s'%s>%s</message>" % (
        frm, to, mtype, " id='%s'" % mid if mid else "", inner)


def xmpp_originated(st, jul, alice, tag="direct"):
    c = st.checks
    H.log("[%s] XMPP->SIP: juliet's chat opens a session to alice" % tag)
    jul.messages.clear()
    jul.send(to=ALICE, id="c1", type="chat", body="hello over MSRP")
    jul.send(to=ALICE, id="c2", type="chat", body="second – zweite ☕")
    sess = alice.wait_session(10)
    if not c.check(sess is not None, "[%s] " % tag + "alice got an INVITE from parleyd"):
        return None
    inv = sess.invite
    c.check("TCP/MSRP" in sess.remote_sdp.decode(), "[%s] " % tag + "the INVITE offers m=message TCP/MSRP",
            sess.remote_sdp)
    c.check("a=setup:actpass" in sess.remote_sdp.decode(), "[%s] " % tag + "the offer says a=setup:actpass (RFC 6135)")
    c.check(sess.remote.get("accept_types", [None])[0] == "message/cpim",
            "message/cpim first in accept-types (RFC 4975 §13)", sess.remote.get("accept_types"))
    c.check(inv is not None and "juliet" in (inv.h("from") or ""), "[%s] " % tag + "INVITE From is juliet",
            inv and inv.h("from"))
    m1 = sess.wait_message(lambda m: "hello over MSRP" in m.text, 10)
    m2 = sess.wait_message(lambda m: "zweite" in m.text, 10)
    c.check(m1 is not None and m2 is not None, "[%s] " % tag + "both held stanzas arrived as SENDs",
            [m.text for m in sess.messages])
    if m1 is not None and m2 is not None:
        c.check(m1.time <= m2.time, "[%s] " % tag + "in order")
        c.check(m1.ctype() in ("message/cpim", "[%s] " % tag + "text/plain"), "content type of the SEND", m1.ctype())
    # a long one: parleyd chunks it (2048-octet SENDs, Byte-Range, '+' then '$')
    long_text = "L" + "0123456789abcdef" * 640
    jul.send(to=ALICE, id="c3", type="chat", body=long_text)
    lm = sess.wait_message(lambda m: long_text in m.text, 10)
    c.check(lm is not None and len(lm.frames) >= 5, "[%s] " % tag + "a 10 KiB stanza arrives as chunked SENDs",
            lm and len(lm.frames))
    # alice answers in the session
    H.log("SIP->XMPP in the same session")
    sess.send_text("hi juliet – from MSRP")
    got = jul.wait_message(lambda m: m["body"] == "hi juliet – from MSRP", 10)
    if c.check(got is not None, "[%s] " % tag + "juliet got alice's SEND as a chat stanza"):
        c.eq(got["type"], "chat", "[%s] type chat" % tag)
        c.check(got["from"].startswith(ALICE), "[%s] " % tag + "from alice", got["from"])
        c.check(bool(got["thread"]), "[%s] " % tag + "with a thread (the INVITE Call-ID)", got["thread"])
    # chat states: alice composing -> juliet <composing/>
    sess.send_iscomposing("active", refresh=60)
    comp = jul.wait_message(lambda m: m["body"] is None and "composing" in (m["xml"] or ""), 10)
    c.check(comp is not None, "[%s] " % tag + "isComposing active -> <composing/> to juliet")
    # juliet composing -> isComposing active to alice
    jul.raw(raw_message(JULIET + "/it", ALICE, "<composing xmlns='%s'/>" % CS))
    ic = sess.wait_message(lambda m: "im-iscomposing" in m.ctype()
                           or b"isComposing" in m.body, 10)
    c.check(ic is not None, "[%s] " % tag + "<composing/> -> isComposing to alice",
            [m.ctype() for m in sess.messages])
    # receipts: juliet asks, alice's peer sends a success REPORT -> <received id='r1'/>
    jul.raw(raw_message(JULIET + "/it", ALICE,
                        "<body>receipt please</body><request xmlns='%s'/>" % RECEIPTS, mid="r1"))
    rm = sess.wait_message(lambda m: "receipt please" in m.text, 10)
    c.check(rm is not None and rm.success_report == "yes",
            "<request/> -> Success-Report: yes", rm and rm.success_report)
    rec = jul.wait_message(lambda m: "urn:xmpp:receipts" in (m["xml"] or "") and "r1" in m["xml"]
                           and "received" in m["xml"], 10)
    c.check(rec is not None, "[%s] " % tag + "success REPORT -> <received id='r1'/> to juliet")
    # <gone/> -> BYE
    jul.raw(raw_message(JULIET + "/it", ALICE, "<gone xmlns='%s'/>" % CS))
    c.check(sess.wait_closed(10), "[%s] " % tag + "<gone/> -> BYE to alice")
    return sess


def sip_originated(st, jul, bob, tag, relay_port=None):
    c = st.checks
    H.log("[%s] SIP->XMPP: bob INVITEs juliet" % tag)
    jul.messages.clear()
    sess = bob.invite("sip:" + JULIET, timeout=10)
    if not c.check(sess is not None and sess.established,
                   "[%s] parleyd answered bob's INVITE 200 with SDP" % tag,
                   sess and sess.sip_final and sess.sip_final.start):
        return
    ans = sess.remote_sdp.decode()
    c.check("a=setup:passive" in ans or "a=setup:active" in ans,
            "[%s] the answer has a=setup" % tag, ans)
    path = sess.remote.get("path", [])
    if relay_port:
        c.check(len(path) == 2 and (":%d/" % relay_port) in path[0],
                "[%s] a=path is the relay's Use-Path, then parleyd's URI (RFC 4976)" % tag, path)
    else:
        c.check(len(path) == 1, "[%s] a=path is parleyd's own URI" % tag, path)
    cases = [("one byte", tag[0]), ("2 KiB", tag[0] * 2048),
             ("100 KiB", tag + ("0123456789abcdef" * 6400)[len(tag):]),
             ("non-ASCII", tag + " Grüße – 日本語 😀 <&>")]
    for name, text in cases:
        r = sess.send_text(text, chunk_size=2048 if len(text) > 2048 else None)
        c.check(all(s == 200 for s in r.statuses), "[%s] %s: every chunk answered 200" % (tag, name),
                r.statuses[:5])
        got = jul.wait_message(lambda m: m["body"] == text, 15)
        c.check(got is not None, "[%s] %s arrived intact at juliet" % (tag, name),
                len(text))
    text = tag + " delivered one byte per write"
    sess.send_text(text, delivery="bytewise", byte_delay=0.0005)
    c.check(jul.wait_message(lambda m: m["body"] == text, 15) is not None,
            "[%s] a frame written one byte at a time" % tag)
    a = P.W.request("SEND", sess.to_path, [sess.local_uri],
                    [("Message-ID", P.W.new_id()), ("Byte-Range", "1-5/5")], b"first", "text/plain")
    b = P.W.request("SEND", sess.to_path, [sess.local_uri],
                    [("Message-ID", P.W.new_id()), ("Byte-Range", "1-6/6")], b"second", "text/plain")
    sess.send_frames([a, b], delivery="together")
    c.check(jul.wait_message(lambda m: m["body"] == "first", 10) is not None
            and jul.wait_message(lambda m: m["body"] == "second", 10) is not None,
            "[%s] two frames in one write" % tag)
    # receipts SIP -> XMPP: Success-Report yes -> <request/>; juliet's <received/> -> REPORT
    r = sess.send_text(tag + " confirm this", success_report="yes")
    got = jul.wait_message(lambda m: m["body"] == tag + " confirm this", 10)
    if c.check(got is not None and "urn:xmpp:receipts" in got["xml"],
               "[%s] Success-Report -> <request/>" % tag, got and got["xml"]):
        jul.raw(raw_message(JULIET + "/it", got["from"],
                            "<received xmlns='%s' id='%s'/>" % (RECEIPTS, got["id"]),
                            mid="ack-" + secrets.token_hex(2)))
        rep = sess.wait_report(r.message_id, 10)
        c.check(rep is not None and "200" in (rep.h("Status") or ""),
                "[%s] <received/> -> REPORT 200" % tag, rep and rep.h("Status"))
    # the operator's view: parleyctl sessions list
    rc, out, err = st.parleyctl("sessions", "list", as_json=True)
    mine = [x for x in (out.get("sessions") or [])
            if "bob@" in (x.get("sip") or "")] if isinstance(out, dict) else []
    c.check(rc == 0 and len(mine) == 1 and mine[0].get("state") == "active"
            and mine[0].get("origin") == "sip" and JULIET in (mine[0].get("xmpp") or ""),
            "[%s] parleyctl sessions list shows bob's active session" % tag, out)
    if tag == "relay" and mine:
        # the operator ends it: BYE to bob, <gone/> to juliet
        rc, out, err = st.parleyctl("sessions", "close", str(mine[0]["id"]), as_json=True)
        c.check(rc == 0, "[%s] parleyctl sessions close %s" % (tag, mine[0]["id"]), (rc, out, err))
        c.check(sess.wait_closed(10), "[%s] ... bob got a BYE" % tag)
    else:
        bye = sess.bye()
        c.check(bye == 200, "[%s] BYE answered 200" % tag, bye)
    gone = jul.wait_message(lambda m: "gone" in (m["xml"] or "") and m["body"] is None, 10)
    c.check(gone is not None, "[%s] the end -> <gone/> to juliet" % tag)
    rc, out, err = st.parleyctl("sessions", "list", as_json=True)
    c.check(rc == 0 and not [x for x in out.get("sessions", []) if "bob@" in (x.get("sip") or "")],
            "[%s] the session is gone from sessions list" % tag, out)


def hostile(st, jul, bob):
    """Bad input on the SIP and MSRP legs: refused with the right answer, parleyd unharmed."""
    c = st.checks
    H.log("hostile: INVITEs parleyd cannot use, then bad MSRP on a live session")
    bad_sdps = [("no MSRP m-line", b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
                 b"c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"),
                ("garbage", b"\x00\xff not an SDP at all \r\n" * 40),
                ("no a=path", b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1"
                 b"\r\nt=0 0\r\nm=message 4000 TCP/MSRP *\r\na=accept-types:text/plain\r\n"),
                ("30 KB", b"v=0\r\n" + b"a=x:" + b"y" * 30000 + b"\r\n")]
    for what, sdp in bad_sdps:
        sess = bob.invite("sip:" + JULIET, timeout=10, sdp=sdp)
        status = sess.sip_final.status if sess.sip_final is not None else None
        c.check(status is not None and 400 <= status < 500 and status != 408,
                "INVITE with an unusable offer (%s) refused with a 4xx (%s)" % (what, status))
    sess = bob.invite("sip:" + JULIET, timeout=10)
    if not c.check(sess is not None and sess.established, "a good INVITE still works after them"):
        return
    # a SEND announcing more than max_message_bytes (131072): 413 on its first chunk
    big = P.W.request("SEND", sess.to_path, [sess.local_uri],
                      [("Message-ID", P.W.new_id()), ("Byte-Range", "1-10/99999999")],
                      b"0123456789", "text/plain")
    sess.send_frames([big])
    r = sess.wait_response(big.tid, 10)
    c.check(r is not None and r.status == 413, "a SEND whose total is over the limit -> 413",
            r and r.status)
    # a SEND for a content type outside accept-types: 415
    odd = P.W.request("SEND", sess.to_path, [sess.local_uri],
                      [("Message-ID", P.W.new_id()), ("Byte-Range", "1-3/3")], b"\x89PN",
                      "image/png")
    sess.send_frames([odd])
    r = sess.wait_response(odd.tid, 10)
    c.check(r is not None and r.status == 415, "a SEND of image/png -> 415", r and r.status)
    # the same inside message/cpim (an offered outer type): 415 too, judged on the first
    # chunk, so the sender learns it was not delivered (chat.md §4); juliet gets nothing
    jul.messages.clear()
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20
    r = sess.send_cpim(png, "image/png")
    c.check(r.statuses == [415], "a CPIM SEND wrapping image/png -> 415", r.statuses)
    r = sess.send_cpim(png, "image/png", chunk_size=2048)
    c.check(len(r.statuses) == 3 and r.statuses[0] == 415,
            "... chunked: its first chunk -> 415", r.statuses)
    r = sess.send_cpim(png, "image/png", failure_report="partial", wait=False)
    resp = sess.wait_response(r.frames[0].tid, 10)
    c.check(resp is not None and resp.status == 415,
            "... Failure-Report: partial still gets the 415", resp and resp.status)
    r = sess.send_cpim("after the png")
    c.check(r.statuses == [200] and jul.wait_message(lambda m: m["body"] == "after the png", 10)
            is not None, "CPIM text on the same session still delivered", r.statuses)
    c.check(not [m for m in jul.messages if m["body"] is not None and m["body"] != "after the png"],
            "nothing of the refused CPIM SENDs reached juliet",
            [m["body"] for m in jul.messages])
    # a frame with a broken end-line: the connection may go, parleyd must not
    sess.send_raw(b"MSRP abcd1234 SEND\r\nTo-Path: " + sess.to_path[-1].encode() +
                  b"\r\nFrom-Path: " + sess.local_uri.encode() +
                  b"\r\nMessage-ID: m1\r\nByte-Range: 1-2/2\r\nContent-Type: text/plain\r\n"
                  b"\r\nhi\r\n-------wrongtid$\r\n" + b"x" * 300000)
    time.sleep(1.0)
    c.check(st.parley_alive(), "parleyd alive after malformed MSRP input")
    after = bob.invite("sip:" + JULIET, timeout=10)
    c.check(after is not None and after.established, "and it still takes new sessions")
    if after is not None and after.established:
        after.bye()


def refused(st, jul):
    c = st.checks
    H.log("a SIP user whose phone refuses MSRP gets page mode")
    carol = P.SipMsrpPeer("carol", domain=H.SIP_DOMAIN, proxy=("127.0.0.1", st.kam_port))
    PEERS.append(carol)
    carol.answer_code = 488
    c.eq(carol.register(), 200, "carol registered")
    jul.send(to="carol@" + H.SIP_DOMAIN, id="f1", type="chat", body="fallback one")
    jul.send(to="carol@" + H.SIP_DOMAIN, id="f2", type="chat", body="fallback two")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(carol.sip_messages) < 2:
        time.sleep(0.1)
    bodies = [m.text() for m in carol.sip_messages]
    c.check(any("fallback one" in b for b in bodies) and any("fallback two" in b for b in bodies),
            "after 488 both stanzas arrived as MESSAGEs", bodies)


PEERS = []


def capture_checks(st, cap, msrp_port):
    """What tshark (and our own splitter of the raw TCP streams) saw parleyd send: every field
    of every frame as meant (issue: the dissector passes malformed frames, so the assertions
    are ours)."""
    c = st.checks
    mine = ":%d/" % msrp_port
    frames = [f for f in cap.frames() if "error" not in f]
    ours = [f for f in frames if mine in (f.get("from_path") or "")]
    sends = [f for f in ours if f.get("method") == "SEND"]
    c.check(len(sends) >= 10, "[tshark] parleyd's SENDs are in the capture", len(sends))
    c.check(not MC.check_frames(ours), "[tshark] parleyd: start tid == end tid, flag, Byte-Range "
            "vs body length", MC.check_frames(ours)[:5])
    c.check(not MC.check_messages(ours), "[tshark] parleyd's chunked messages are consistent",
            MC.check_messages(ours)[:5])
    bad_tid = [f["tid"] for f in ours if not (8 <= len(f["tid"]) <= 32)]
    c.check(not bad_tid, "[tshark] transaction ids of 8-32 characters (64 random bits)", bad_tid[:5])
    c.eq(len(set(f["tid"] for f in sends)), len(sends), "[tshark] no transaction id reused")
    no_mid = [f["tid"] for f in sends if not f.get("message_id")]
    c.check(not no_mid, "[tshark] every SEND has a Message-ID", no_mid[:5])
    no_ct = [f["tid"] for f in sends if f.get("body_len") and not f.get("content_type")]
    c.check(not no_ct, "[tshark] every SEND with a body has a Content-Type", no_ct[:5])
    big = [f for f in sends if (f.get("byte_range") or "").endswith("/%d" % (1 + 16 * 640))
           or (f.get("body_len") or 0) == 2048]
    c.check(len(big) >= 5 and all((f.get("body_len") or 0) <= 2048 for f in sends),
            "[tshark] no SEND body over 2048 octets; the long message in >= 5 chunks",
            [(f.get("byte_range"), f.get("body_len")) for f in big][:8])
    ts = cap.tshark_frames()
    bad = [t for t in ts if t["tid"] != t["end_tid"] or t["flag"] not in ("+", "$", "#")]
    c.check(ts and not bad, "[tshark] dissector: %d frames, start tid == end tid, flag in +$#"
            % len(ts), bad[:3])
    matched, missed, diff = MC.tshark_vs_raw(ts, ours)
    c.check(matched > 0 and not diff, "[tshark] dissector fields equal our splitter's for "
            "parleyd's frames (%d matched, %d not decoded)" % (matched, len(missed)), diff[:5])


def body(st):
    try:
        run(st)
    finally:
        for p in PEERS:
            p.close()


def run(st):
    st.start_xmpp()
    relay_port = P.start_kamailio_with_relay(st)
    msrp_port = H.free_port()
    st.start_parleyd("direct", chat_extra=chat_extra(msrp_port))
    jul = st.client("juliet", "it")
    alice = P.SipMsrpPeer("alice", domain=H.SIP_DOMAIN, proxy=("127.0.0.1", st.kam_port))
    bob = P.SipMsrpPeer("bob", domain=H.SIP_DOMAIN, proxy=("127.0.0.1", st.kam_port))
    PEERS.extend([alice, bob])
    st.checks.eq(alice.register(), 200, "alice registered")
    st.checks.eq(bob.register(), 200, "bob registered")
    cap = MC.MsrpCapture(st.dir, [msrp_port, alice.msrp_port, bob.msrp_port]).start()
    try:
        xmpp_originated(st, jul, alice)
        sip_originated(st, jul, bob, "direct")
    finally:
        cap.stop()
    hostile(st, jul, bob)
    capture_checks(st, cap, msrp_port)
    refused(st, jul)
    H.log("parleyd behind the Kamailio MSRP relay")
    st.stop_parleyd()
    st.start_parleyd("direct", tag="relay", chat_extra=chat_extra(msrp_port, relay=relay_port))
    st.parley.wait_log("MSRP relay: authorised", 10)
    sip_originated(st, jul, bob, "relay", relay_port)
    xmpp_originated(st, jul, alice, "relay")
    st.checks.check(st.parley_alive(), "parleyd still running")


H.run_test("chat", body)
