#!/usr/bin/python3
"""Interop with profanity 0.13 (Debian), a terminal XMPP client, driven in tmux as juliet.

profanity runs in a detached tmux session on a socket of its own in the test directory (keys
with `send-keys -l`, the screen with `capture-pane`), with a fresh HOME and `-l DEBUG`, so its
log holds every stanza it sends and receives. It logs in over STARTTLS (`tls trust`: the
server's certificate is the self-signed one made at test time). Receipts (XEP-0184) asked and
sent, chat states (XEP-0085) and typing notifications on (PEERS.md §3.4).
- profanity -> SIP (bob, a registered sipp UAS): two messages with non-ASCII text, typed with
  pauses so profanity sends <composing/>, and <paused/> after 10 s without typing. bob gets
  each body exactly once, CPIM-wrapped with a positive-delivery request (profanity asks for a
  receipt), imdn.Message-ID = the stanza id; every body-less state profanity sent becomes one
  isComposing (composing -> active, paused/inactive/gone -> idle), a bare <active/> nothing,
  in order (checked against profanity's own log once it has quit).
- SIP -> profanity: carol's CPIM asking for positive-delivery is shown, and profanity's
  <received/> comes back to carol as a delivered IMDN (carol's From has ;gr=, so she is a
  full JID: profanity addresses no receipt to a bare JID); alice's plain text (non-ASCII) is shown
  in alice's window.
(mapping-docs/receipts.md §1, §3, §6)"""
import os
import re
import secrets
import time
import xml.etree.ElementTree as ET

import harness as H
from console_peers import TmuxPeer, got_on_sip, register_instance

CHATSTATES = "http://jabber.org/protocol/chatstates"


def stanzas(logfile, direction):
    """<message/> stanzas profanity logged as SENT or RECV, in order: [Element]."""
    out = []
    try:
        with open(logfile, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return out
    for m in re.finditer(r"%s: (<message\b.*?</message>|<message\b[^>]*/>)" % direction, text):
        try:
            out.append(ET.fromstring(m.group(1)))
        except ET.ParseError:
            out.append(ET.Element("unparsed", text=m.group(1)))
    return out


def expected_on_sip(sent, to):
    """What parleyd's rules (receipts.md §1, §6) make of profanity's stanzas to `to`:
    [(kind, value, stanza)] with kind "text" or "state"."""
    out = []
    for s in sent:
        if s.get("to") != to or s.get("type") != "chat":
            continue
        b = s.find("body")
        if b is not None:
            out.append(("text", b.text or "", s))
            continue
        states = [c.tag.split("}")[1] for c in s if c.tag.startswith("{%s}" % CHATSTATES)]
        for state in states:
            if state == "composing":
                out.append(("state", "active", s))
            elif state in ("paused", "inactive", "gone"):
                out.append(("state", "idle", s))
    return out


def body(st):
    c = st.checks
    H.need("profanity")
    st.start_xmpp(tls=True)
    st.start_kamailio()
    st.start_parleyd("direct")
    bob = st.sipp_uas("bob")
    carol = st.sipp_uas("carol", register=False)
    register_instance(st, "carol", carol.port, "phone")
    bob_jid, jid = "bob@%s" % H.SIP_DOMAIN, "juliet@%s" % H.XMPP_DOMAIN

    home = os.path.join(st.dir, "profanity-home")
    os.makedirs(home)
    plog = os.path.join(home, ".local", "share", "profanity", "logs", "profanity.log")
    prof = TmuxPeer(st, "profanity", ["profanity", "-l", "DEBUG"],
                    {"HOME": home, "TERM": "xterm-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"},
                    "/quit")
    prof.wait_screen(r"Type '/help'", 10)
    prof.keys("/connect %s server 127.0.0.1 port %d tls trust" % (jid, st.c2s_port))
    prof.wait_screen(r"Enter password:", 10)
    prof.keys(H.password_for("juliet"))
    prof.wait_screen(r"logged in successfully", 15)
    for cmd in ("/receipts request on", "/receipts send on", "/states on", "/outtype on"):
        prof.keys(cmd)
    prof.wait_screen(r"Sending typing notifications enabled", 5)

    # profanity -> bob: typed with pauses (composing), then a pause of 10 s (paused)
    texts = ["hello bob, grüße ☃ from profanity", "second: ünïcödé 日本 ✓ – done"]
    prof.keys("/msg %s" % bob_jid)
    prof.wait_screen(re.escape(bob_jid), 5)
    prof.keys(texts[0][:4], enter=False, pause=0.3)
    prof.keys(texts[0][4:])
    got = bob.wait(1, 10, pred=lambda m: texts[0] in m.text())
    c.eq(len(got), 1, "bob got profanity's first message")
    prof.keys(texts[1][:3], enter=False, pause=0.3)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not any(
            s.find("{%s}paused" % CHATSTATES) is not None for s in stanzas(plog, "SENT")):
        time.sleep(0.2)
    prof.keys(texts[1][3:])
    got = bob.wait(1, 10, pred=lambda m: texts[1] in m.text())
    c.eq(len(got), 1, "bob got profanity's second message")
    prof.wait_screen(re.escape("me: " + texts[1]), 5)

    # carol (SIP, From with ;gr=: a full JID) asks for a delivery notice: profanity's
    # <received/> comes back to her as an IMDN. (To a bare JID sender profanity 0.13 sends its
    # receipt with no 'to' at all, so it never leaves juliet's account.)
    mid = "prof-" + secrets.token_hex(6)
    ctext = "carol asks: did this arrive? ✉"
    cpim = ("From: <sip:carol@%s>\r\nTo: <sip:%s>\r\nDateTime: 2025-03-01T09:15:00Z\r\n"
            "NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: %s\r\n"
            "imdn.Disposition-Notification: positive-delivery\r\n\r\n"
            "Content-Type: text/plain;charset=UTF-8\r\n\r\n%s" % (H.SIP_DOMAIN, jid, mid, ctext))
    req = H.sip_request("MESSAGE", "sip:%s" % jid, [
        ("From", "<sip:carol@%s;gr=phone>;tag=%s" % (H.SIP_DOMAIN, secrets.token_hex(4))),
        ("To", "<sip:%s>" % jid), ("Call-ID", "pr-%s@it" % secrets.token_hex(4)),
        ("CSeq", "1 MESSAGE"), ("Max-Forwards", "70"), ("Content-Type", "message/cpim")],
        cpim.encode())
    resp = H.udp_exchange(st.parley_port, req)
    c.check(resp is not None and resp.status == 202, "carol's CPIM with an IMDN request: 202",
            resp and resp.start)
    imdns = carol.wait(1, 10, pred=lambda r: "imdn" in r.text())
    if c.eq(len(imdns), 1, "carol got one IMDN (profanity acked the receipt request)"):
        t = imdns[0].text()
        c.check("<delivered/>" in t and "<message-id>%s</message-id>" % mid in t,
                "a delivered IMDN quoting carol's Message-ID", t)

    # alice (SIP) -> profanity: plain text with non-ASCII, shown in alice's window
    atext = "hi juliet from SIP: ünïcödé ✓ 日本"
    final, _ = st.sipp_uac("alice", jid, atext)
    c.check(final is not None and final.status == 202, "alice's MESSAGE: 202", final and final.start)
    recv = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not recv:
        recv = [s for s in stanzas(plog, "RECV") if (s.findtext("body") or "") == atext]
        time.sleep(0.2)
    c.eq(len(recv), 1, "profanity received alice's text once, exactly")
    prof.keys("/win alice@%s" % H.SIP_DOMAIN)
    try:
        prof.wait_screen(re.escape("alice@%s: %s" % (H.SIP_DOMAIN, atext)), 5)
        c.check(True, "profanity's window for alice shows her text")
    except RuntimeError as e:
        c.check(False, "profanity's window for alice shows her text", e)
    prof.keys("/win carol@%s" % H.SIP_DOMAIN)
    try:
        prof.wait_screen(re.escape("carol@%s/phone: %s" % (H.SIP_DOMAIN, ctext)), 5)
        c.check(True, "profanity's window for carol shows the CPIM's text (from her full JID)")
    except RuntimeError as e:
        c.check(False, "profanity's window for carol shows the CPIM's text (from her full JID)", e)

    # profanity quits (it may send more states on the way out): then compare its log with bob
    prof.stop()
    c.check(not prof.alive(), "profanity quit")
    time.sleep(1.5)
    sent = stanzas(plog, "SENT")
    want = expected_on_sip(sent, bob_jid)
    have = got_on_sip(bob.messages())
    c.eq([w[:2] for w in want if w[0] == "text"], [("text", t) for t in texts],
         "profanity sent the two bodies, once each")
    c.check(("state", "active") in [w[:2] for w in want],
            "profanity sent <composing/> (typed with pauses)", [w[:2] for w in want])
    c.check(("state", "idle") in [w[:2] for w in want],
            "profanity sent <paused/> (10 s without typing)", [w[:2] for w in want])
    c.eq([h[:2] for h in have], [w[:2] for w in want],
         "bob got each body once and one isComposing per state, in profanity's order")
    for (kind, value, s), (_, _, hdrs) in zip(want, have):
        if kind != "text":
            continue
        asked = s.find("{urn:xmpp:receipts}request") is not None
        c.check(hdrs is not None if asked else True,
                "a receipt request makes CPIM (%r)" % value[:12], hdrs)
        if hdrs:
            oid = s.find("{urn:xmpp:sid:0}origin-id")
            c.eq(hdrs.get("imdn.Message-ID"), oid.get("id") if oid is not None else s.get("id"),
                 "imdn.Message-ID of %r" % value[:12])
            c.eq(hdrs.get("imdn.Disposition-Notification"), "positive-delivery",
                 "Disposition-Notification of %r" % value[:12])
    n = st.parley_counters()
    c.eq(n.get("xmpp_in_iscomposing", 0), len([w for w in want if w[0] == "state"]),
         "parleyd counted one isComposing per state")
    c.eq(n.get("xmpp_in_iscomposing_suppressed"), None, "no isComposing suppressed (bob took them)")
    c.eq([s.get("type") for s in stanzas(plog, "RECV") if s.get("type") == "error"], [],
         "no error stanza reached profanity")
    c.check(st.parley_alive(), "parleyd still running")


H.run_test("interop-profanity", body)
