#!/usr/bin/python3
"""The MSRP test peer (msrp_peer.py) against real parts, without parleyd: Kamailio from
examples/kamailio.cfg as registrar/proxy and, with KAM_MSRP_PORT, as RFC 4976 MSRP relay;
tshark on lo as an independent decoder of everything on the MSRP ports.

alice and bob register; alice INVITEs bob through Kamailio (Record-Route followed by ACK and
BYE); MSRP goes direct: 1 octet, 2 KiB, 100 KiB in 2048-octet chunks, non-ASCII, CPIM,
isComposing (bare and in CPIM), a success REPORT, Failure-Report: no, one-byte-per-send()
delivery, a 3-chunk message in one send(), two messages in one send(), bob's answers; BYE.
Then a 488 (ACK in the INVITE transaction) and an answer with a=setup:active (bob, on SIP/TCP,
connects; his BYE).
carol AUTHs at the relay (Use-Path first in her a=path); alice INVITEs carol and carol
INVITEs bob, so the relay carries traffic with the relay on the answerer's and on the
offerer's side. Finally the capture: per-frame rules and per-message chunk consistency on the
raw streams, and agreement with Wireshark's MSRP dissector."""
import re

import harness as H
import msrp_capture as MC
import msrp_peer as P
import msrp_wire as W

NONASCII = "Grüße aus Köln – ☃ 日本語 😀 <&>"
KIB2 = ("0123456789abcdef" * 128).encode()                       # 2048 octets
KIB100 = bytes((i * 7 + i // 2048) % 94 + 33 for i in range(100 * 1024))


def exchange(c, tag, tx, rx, chunk=2048):
    """tx sends the standard set to rx; every body must arrive intact."""
    want = {}
    for name, body, kw in [("1 octet", b"x", {}), ("2 KiB", KIB2, {}),
                           ("100 KiB chunked", KIB100, {"chunk_size": chunk}),
                           ("non-ASCII", NONASCII.encode(), {})]:
        r = tx.send_message(body, "text/plain;charset=UTF-8", **kw)
        want[r.message_id] = (name, body, len(r.frames))
        c.check(r.statuses and all(s == 200 for s in r.statuses),
                "[%s] %s: every chunk answered 200 (%d chunks)" % (tag, name, len(r.frames)),
                r.statuses)
    for mid, (name, body, nframes) in want.items():
        m = rx.wait_message(lambda m: m.message_id == mid, 10)
        c.check(m is not None and m.body == body and not m.aborted,
                "[%s] %s received intact" % (tag, name), m and (len(m.body), m.body[:40]))
        if m is not None:
            c.eq(len(m.frames), nframes, "[%s] %s: chunks received" % (tag, name))
    if 100 * 1024 // chunk > 1:
        m = rx.wait_message(lambda m: m.body == KIB100, 0.1)
        ranges = [f.h("Byte-Range") for f in m.frames] if m else []
        c.check(ranges[:2] == ["1-%d/102400" % chunk, "%d-%d/102400" % (chunk + 1, 2 * chunk)]
                and ranges[-1].endswith("-102400/102400"),
                "[%s] 100 KiB Byte-Ranges as sent" % tag, ranges[:2] + ranges[-1:])


def check_report(c, tag, tx, text):
    r = tx.send_text(text, success_report="yes")
    rep = tx.wait_report(r.message_id, 5)
    n = len(text.encode())
    c.check(rep is not None and rep.h("Status") == "000 200 OK"
            and rep.h("Byte-Range") == "1-%d/%d" % (n, n) and not rep.problems(),
            "[%s] success REPORT (000 200 OK, 1-%d/%d)" % (tag, n, n), rep and rep.raw)


def direct(st, c, alice, bob):
    sa = alice.invite("sip:bob@%s" % H.SIP_DOMAIN, timeout=8)
    c.check(sa.established and sa.sip_final.status == 200, "[direct] INVITE -> 200 with SDP",
            sa.sip_final)
    sb = bob.wait_session(5)
    if not c.check(sb is not None, "[direct] bob got the INVITE") or not sa.established:
        return None
    offer, answer = W.sdp_parse(sa.local_sdp), sa.remote
    c.eq((offer["setup"], answer["setup"]), ("actpass", "passive"), "[direct] a=setup offer/answer")
    c.eq(answer["path"], [sb.local_uri], "[direct] bob's a=path")
    c.eq(answer["port"], bob.msrp_port, "[direct] bob's m= port is his path port")
    c.check("message/cpim" in answer["accept_types"], "[direct] accept-types", answer)
    # alice on UDP, bob on TCP: Kamailio record-routes twice (r2=on), one per transport
    rr = sa.sip_final.all("record-route")
    c.check(len(rr) == 2 and all(":%d;" % st.kam_port in r and "r2=on" in r for r in rr)
            and "transport=tcp" in rr[0], "[direct] Kamailio record-routes twice (UDP/TCP)", rr)
    c.check(sb.dialog.route_set == [r.strip("<>").split(">")[0] for r in rr],
            "[direct] bob's route set = Record-Route in order", sb.dialog.route_set)
    ack = [m for d, m in alice.sip_log if d == "out" and m.method == "ACK"]
    c.check(ack and ack[-1].ruri == sa.dialog.remote_target and ack[-1].all("route") == rr[::-1],
            "[direct] ACK to bob's Contact with Route = reversed Record-Route",
            ack and ack[-1].raw)
    c.check(sb.wait_connected(5) is not None and sa.conn is not None,
            "[direct] MSRP connection bound (alice active, bodiless SEND first)")
    first = sb.frames_in[0] if sb.frames_in else None
    c.check(first is not None and first.method == "SEND" and first.body is None,
            "[direct] first frame is a bodiless SEND", first)
    exchange(c, "direct", sa, sb)
    check_report(c, "direct", sa, "report me ✓")
    # Failure-Report: no -> no transaction response at all
    r = sa.send_text("no answer please", failure_report="no")
    c.check(sb.wait_message(lambda m: m.message_id == r.message_id, 5) is not None,
            "[direct] Failure-Report: no message delivered")
    c.check(sa.wait_response(r.frames[0].tid, 0.5) is None, "[direct] ... and not answered")
    # CPIM and isComposing
    sa.send_cpim(NONASCII)
    m = sb.wait_message(lambda m: m.ctype() == "message/cpim" and m.inner()[0] == "text/plain", 5)
    cp = m.cpim() if m else None
    c.check(cp is not None and ("From", "<%s>" % alice.uri) in cp[0]
            and ("To", "<sip:bob@%s>" % H.SIP_DOMAIN) in cp[0]
            and cp[2].decode() == NONASCII, "[direct] CPIM From/To/body", cp)
    sa.send_iscomposing("active")
    m = sb.wait_message(lambda m: m.iscomposing_state() == "active", 5)
    c.check(m is not None and m.ctype() == "application/im-iscomposing+xml",
            "[direct] isComposing active (bare)")
    sa.send_iscomposing("idle", cpim=True)
    m = sb.wait_message(lambda m: m.iscomposing_state() == "idle", 5)
    c.check(m is not None and m.ctype() == "message/cpim", "[direct] isComposing idle in CPIM")
    # adversarial delivery
    r = sa.send_text("one byte per send() – ü", delivery="bytewise")
    m = sb.wait_message(lambda m: m.message_id == r.message_id, 10)
    c.check(m is not None and m.text == "one byte per send() – ü" and r.statuses == [200],
            "[direct] one-byte-per-send() frame parsed and answered", (m, r.statuses))
    r = sa.send_message(b"T" * 5000, chunk_size=2048, delivery="together")
    m = sb.wait_message(lambda m: m.message_id == r.message_id, 5)
    c.check(m is not None and m.body == b"T" * 5000 and r.statuses == [200] * 3,
            "[direct] 3 chunks in one send()", (m, r.statuses))
    f1, f2 = [W.request("SEND", sa.to_path, [sa.local_uri],
                        [("Message-ID", W.new_id()), ("Byte-Range", "1-3/3")], b, "text/plain")
              for b in (b"one", b"two")]
    sa.send_frames([f1, f2], delivery="together")
    got = [sb.wait_message(lambda m, f=f: m.message_id == f.message_id, 5) for f in (f1, f2)]
    c.check([g and g.text for g in got] == ["one", "two"], "[direct] two messages in one send()")
    c.check(all(sa.wait_response(f.tid, 5) for f in (f1, f2)), "[direct] ... both answered")
    # bob answers
    r = sb.send_text("pong ☃", success_report="yes")
    m = sa.wait_message(lambda m: m.message_id == r.message_id, 5)
    c.check(m is not None and m.text == "pong ☃" and r.statuses == [200], "[direct] bob -> alice")
    c.check(sb.wait_report(r.message_id, 5) is not None, "[direct] alice's REPORT reached bob")
    probs = [(f.tid, p) for f in sb.frames_in + sa.frames_in for p in f.problems()]
    c.check(not probs, "[direct] every received frame follows RFC 4975 (Frame.problems)", probs)
    c.eq(sa.bye(), 200, "[direct] alice's BYE -> 200")
    c.check(sb.wait_closed(5) and sb.bye_received, "[direct] bob saw the BYE")
    bye = [m for d, m in alice.sip_log if d == "out" and m.method == "BYE"]
    c.check(bye and bye[-1].all("route") == rr[::-1], "[direct] BYE routed by the route set",
            bye and bye[-1].raw)
    return sa, sb


def variants(st, c, alice, bob):
    """Page mode, a rejected INVITE (non-2xx ACK), an answer with a=setup:active."""
    c.eq(alice.send_sip_message("sip:bob@%s" % H.SIP_DOMAIN, "page ü"), 200, "[sip] MESSAGE -> 200")
    m = bob.wait_sip_message(lambda m: m.text() == "page ü", 5)
    c.check(m is not None and m.h("content-type") == "text/plain;charset=UTF-8",
            "[sip] bob recorded the MESSAGE", m)
    bob.answer_code = 488
    s = alice.invite("sip:bob@%s" % H.SIP_DOMAIN, timeout=8)
    bob.answer_code = 200
    c.check(not s.established and s.sip_final is not None and s.sip_final.status == 488,
            "[setup] rejected INVITE -> 488", s.sip_final)
    inv = [m for d, m in alice.sip_log if d == "out" and m.method == "INVITE"][-1]
    ack = [m for d, m in alice.sip_log if d == "out" and m.method == "ACK"]
    c.check(ack and ack[-1].h("via") == inv.h("via") and ack[-1].h("cseq") == "1 ACK"
            and ack[-1].h("call-id") == inv.h("call-id"),
            "[setup] non-2xx ACKed in the INVITE transaction (same Via branch)",
            ack and ack[-1].raw)
    bob.answer_setup = "active"
    sa = alice.invite("sip:bob@%s" % H.SIP_DOMAIN, timeout=8)
    sb = bob.wait_session(5)
    bob.answer_setup = "passive"
    if not c.check(sa.established and sb is not None, "[setup] session with bob active"):
        return
    c.eq((sa.remote["setup"], sa.setup, sb.setup), ("active", "passive", "active"),
         "[setup] answer a=setup:active, roles")
    conn = sa.wait_connected(5)
    c.check(conn is not None and conn.outbound_to is None and sa.frames_in
            and sa.frames_in[0].body is None, "[setup] bob connected and sent a bodiless SEND",
            sa.frames_in[:1])
    r = sa.send_text("to the active side")
    m = sb.wait_message(lambda m: m.message_id == r.message_id, 5)
    c.check(m is not None and r.statuses == [200], "[setup] alice -> bob over bob's connection")
    c.eq(sb.bye(), 200, "[setup] bob's BYE (SIP/TCP, UAS side, route set) -> 200")
    c.check(sa.wait_closed(5) and sa.bye_received, "[setup] alice saw bob's BYE")


def relayed(st, c, alice, bob, carol):
    up = carol.use_path
    c.check(len(up) == 1 and up[0].startswith("msrp://127.0.0.1:%d/" % st.kam_msrp_port),
            "[relay] carol AUTHed: Use-Path of the relay", up)
    c.eq(carol.auth_response and carol.auth_response.h("Expires"), "3600", "[relay] AUTH Expires")
    sa = alice.invite("sip:carol@%s" % H.SIP_DOMAIN, timeout=8)
    sc = carol.wait_session(5)
    if not c.check(sa.established and sc is not None, "[relay] alice -> carol session"):
        return
    c.eq(sa.remote["path"], up + [sc.local_uri], "[relay] carol's a=path = Use-Path + her URI")
    c.eq(sa.wait_connected(5) and sa.conn.remote[1], st.kam_msrp_port,
         "[relay] alice connected to the relay")
    exchange(c, "relay a->c", sa, sc)
    check_report(c, "relay a->c", sa, "via relay ✓")
    r = sa.send_text("no answer via relay", failure_report="no")
    c.check(sc.wait_message(lambda m: m.message_id == r.message_id, 5) is not None
            and sa.wait_response(r.frames[0].tid, 0.5) is None,
            "[relay] Failure-Report: no delivered, not answered by relay nor carol")
    first = [f for f in sc.frames_in if f.method == "SEND" and f.h("Success-Report")][-1]
    c.check(first.to_path == [sc.local_uri] and first.from_path[0] == up[0]
            and first.from_path[-1] == sa.local_uri,
            "[relay] relay popped To-Path and pushed itself on From-Path", first.raw[:300])
    r = sc.send_text("pong via relay ☃", delivery="bytewise")
    m = sa.wait_message(lambda m: m.message_id == r.message_id, 10)
    c.check(m is not None and m.text == "pong via relay ☃" and r.statuses == [200],
            "[relay] carol -> alice, one byte per send()", (m, r.statuses))
    c.eq(sc.bye(), 200, "[relay] carol's BYE (UAS side, via the route set) -> 200")
    c.check(sa.wait_closed(5), "[relay] alice saw carol's BYE")
    # the relay on the offerer's side: carol INVITEs bob
    s1 = carol.invite("sip:bob@%s" % H.SIP_DOMAIN, timeout=8)
    s2 = bob.wait_session(5)
    if not c.check(s1.established and s2 is not None, "[relay] carol -> bob session"):
        return
    c.eq(W.sdp_parse(s1.local_sdp)["path"], up + [s1.local_uri], "[relay] carol's offer a=path")
    r = s1.send_message(KIB100, chunk_size=4096, star_end=False)
    m = s2.wait_message(lambda m: m.message_id == r.message_id, 10)
    c.check(m is not None and m.body == KIB100, "[relay] carol -> bob 100 KiB in 4 KiB chunks",
            m and len(m.body))
    r = s2.send_text("hi carol", success_report="yes")
    m = s1.wait_message(lambda m: m.message_id == r.message_id, 5)
    c.check(m is not None and m.text == "hi carol", "[relay] bob -> carol")
    c.check(s2.wait_report(r.message_id, 5) is not None, "[relay] carol's REPORT reached bob")
    c.eq(s1.bye(), 200, "[relay] carol's BYE -> 200")


def capture_checks(c, cap, alice, bob, carol):
    frames = cap.frames()
    sends = [f for f in frames if f.get("method") == "SEND"]
    c.check(len(sends) > 150, "[capture] raw streams hold the SENDs", len(sends))
    probs = MC.check_frames(frames)
    c.check(not probs, "[capture] start/end tid, flags, Byte-Range vs body length", probs[:5])
    probs = MC.check_messages(frames)
    c.check(not probs, "[capture] chunked messages consistent (ranges, flags, totals)", probs[:5])
    big = {}
    for f in sends:
        if f["byte_range"] and f["byte_range"].endswith("/102400"):
            big.setdefault((f["stream"], f["message_id"]), []).append(f["body_len"])
    c.check(sorted(len(v) for v in big.values()) == [25, 25, 50, 50, 50]
            and all(sum(v) == 102400 for v in big.values()),
            "[capture] 100 KiB: 50 chunks direct, 50 in and out of the relay, 25+25 in 4 KiB",
            sorted((len(v), sum(v)) for v in big.values()))
    ts = cap.tshark_frames()
    bad = [t for t in ts if t["tid"] != t["end_tid"] or t["flag"] not in ("+", "$", "#")]
    c.check(ts and not bad, "[capture] tshark: %d frames, start tid == end tid, flag ok" % len(ts),
            bad[:3])
    matched, missed, diff = MC.tshark_vs_raw(ts, frames)
    c.check(matched > 100 and not diff, "[capture] tshark agrees with the raw splitter "
            "(%d matched, %d not decoded by tshark)" % (matched, len(missed)), diff[:5])
    bytewise = [f for f in frames if f.get("body_len") and b"one byte per send()" in f["raw"]]
    c.check(len(bytewise) == 1, "[capture] the one-byte-per-send() frame is in the raw stream")
    two = [f for f in frames if f.get("body_len") == 3 and f["raw"].endswith(b"$\r\n")
           and re.search(rb"\r\n\r\n(one|two)\r\n", f["raw"])]
    c.eq(len(two), 2, "[capture] both frames of the shared send() split from the raw stream")


def body(st):
    c = st.checks
    P.start_kamailio_with_relay(st, env_over={"KAM_REPLICATE_REGISTER": "0", "KAM_REGINFO": "0"})
    peers, cap = [], None
    try:
        proxy = ("127.0.0.1", st.kam_port)
        alice = P.SipMsrpPeer("alice", H.SIP_DOMAIN, proxy, log=H.log)
        bob = P.SipMsrpPeer("bob", H.SIP_DOMAIN, proxy, transport="tcp", log=H.log)   # SIP/TCP
        peers += [alice, bob]
        carol = P.SipMsrpPeer("carol", H.SIP_DOMAIN, proxy, log=H.log)
        peers.append(carol)
        cap = MC.MsrpCapture(st.dir, [alice.msrp_port, bob.msrp_port, carol.msrp_port,
                                      st.kam_msrp_port]).start()
        H.log("tshark capturing")
        carol.relay = ("127.0.0.1", st.kam_msrp_port)      # AUTH once the capture runs
        r = carol.msrp_auth()
        c.check(r is not None and r.status == 200, "carol's AUTH at the relay -> 200", r)
        c.eq([p.register() for p in peers], [200, 200, 200], "REGISTER alice, bob, carol")
        direct(st, c, alice, bob)
        variants(st, c, alice, bob)
        relayed(st, c, alice, bob, carol)
        cap.stop()
        capture_checks(c, cap, alice, bob, carol)
        m = re.findall(r"MSRP (\w+) src=", st.kam.text())
        c.check("AUTH" in m and "SEND" in m and "REPORT" in m, "Kamailio logged AUTH/SEND/REPORT",
                sorted(set(m)))
    finally:
        if cap is not None:
            cap.stop()
        for p in peers:
            p.close()


if __name__ == "__main__":
    H.run_test("msrp_peer_selftest", body)
