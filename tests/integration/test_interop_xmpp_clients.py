#!/usr/bin/python3
"""Interop with the XMPP clients people run, against the XMPP server under test (offering
STARTTLS with a self-signed certificate made at test time).

- sendxmpp 1.24 (perl): id="" and a body ending in a newline; the SIP side (a registered sipp
  UAS, bob) gets the text byte for byte and nobody gets an error.
- go-sendxmpp 0.5.6: refuses to log in without TLS; sends over STARTTLS to bob, and as a
  listener (-l) prints what a SIP user sends to it.
- slixmpp 1.8 (the harness client): a SIP CPIM message asking for positive-delivery and display
  arrives with <request/>, <markable/> and its Message-ID as XEP-0359 origin-id; juliet's
  <received/> and <displayed/> go back to the SIP sender (carol, a sipp UAS) as IMDNs.
(mapping-docs/receipts.md §1-§3)"""
import secrets
import subprocess
import time

import harness as H


def sendxmpp(st, bob):
    c = st.checks
    H.need("sendxmpp")
    r = subprocess.run(["sendxmpp", "-f", "/dev/null", "-u", "juliet", "-p", H.password_for("juliet"),
                        "-j", "127.0.0.1:%d" % st.c2s_port, "-o", H.XMPP_DOMAIN,
                        "bob@%s" % H.SIP_DOMAIN], input=b"hello bob from sendxmpp\n",
                       capture_output=True, timeout=30)
    c.eq(r.returncode, 0, "sendxmpp exit code")
    got = bob.wait(1, 10, pred=lambda m: "sendxmpp" in m.text())
    if c.check(len(got) == 1, "bob got sendxmpp's message once", r.stderr[-500:]):
        c.eq(got[0].text(), "hello bob from sendxmpp\n", "body with its trailing newline")
        c.check(got[0].h("call-id"), "a Call-ID was made (the stanza's id was empty)")


def go_sendxmpp(st, bob):
    c = st.checks
    H.need("go-sendxmpp")
    r = subprocess.run(["go-sendxmpp", "-n", "-f", "/dev/null", "-u", "juliet@%s" % H.XMPP_DOMAIN,
                        "-p", H.password_for("juliet"), "-j", "127.0.0.1:%d" % st.c2s_port,
                        "bob@%s" % H.SIP_DOMAIN], input="hello bob from go-sendxmpp ☃".encode(),
                       capture_output=True, timeout=30)
    c.eq(r.returncode, 0, "go-sendxmpp exit code (it logs in only over TLS)")
    got = bob.wait(1, 10, pred=lambda m: "go-sendxmpp" in m.text())
    if c.check(len(got) == 1, "bob got go-sendxmpp's message once", r.stderr[-500:]):
        c.eq(got[0].text().rstrip("\n"), "hello bob from go-sendxmpp ☃", "body")

    listener = H.Proc("go-sendxmpp-l", ["go-sendxmpp", "-n", "-l", "-f", "/dev/null",
                                        "-u", "romeo@%s" % H.XMPP_DOMAIN,
                                        "-p", H.password_for("romeo"),
                                        "-j", "127.0.0.1:%d" % st.c2s_port],
                      st.dir + "/go-sendxmpp-listen.log")
    st._extra.append(listener)
    time.sleep(2.0)  # logged in, presence sent
    final, _ = st.sipp_uac("alice", "romeo@%s" % H.XMPP_DOMAIN, "to go-sendxmpp from SIP")
    c.check(final is not None and final.status == 202, "sipp got 202", final and final.start)
    seen = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not seen:
        seen = "alice@%s" % H.SIP_DOMAIN in listener.text() and "to go-sendxmpp from SIP" in listener.text()
        time.sleep(0.2)
    c.check(seen, "go-sendxmpp -l printed the SIP user's message", listener.tail(5))
    listener.stop()


def slixmpp_receipts(st, jul):
    c = st.checks
    carol = st.sipp_uas("carol")
    mid = "imdn-" + secrets.token_hex(6)
    cpim = ("From: <sip:carol@%s>\r\nTo: <sip:juliet@%s>\r\nDateTime: 2025-03-01T09:15:00Z\r\n"
            "NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: %s\r\n"
            "imdn.Disposition-Notification: positive-delivery, display\r\n\r\n"
            "Content-Type: text/plain;charset=UTF-8\r\n\r\nplease confirm" % (H.SIP_DOMAIN, H.XMPP_DOMAIN, mid))
    req = H.sip_request("MESSAGE", "sip:juliet@%s" % H.XMPP_DOMAIN, [
        ("From", "<sip:carol@%s>;tag=%s" % (H.SIP_DOMAIN, secrets.token_hex(4))),
        ("To", "<sip:juliet@%s>" % H.XMPP_DOMAIN), ("Call-ID", "rc-%s@it" % secrets.token_hex(4)),
        ("CSeq", "1 MESSAGE"), ("Max-Forwards", "70"), ("Content-Type", "message/cpim")],
        cpim.encode())
    resp = H.udp_exchange(st.parley_port, req)
    c.check(resp is not None and resp.status == 202, "CPIM with an IMDN request: 202", resp and resp.start)
    m = jul.wait_message(lambda m: m["body"] == "please confirm", timeout=10)
    if not c.check(m is not None, "juliet got the CPIM text"):
        return
    c.check(m["receipt_request"], "with an XEP-0184 <request/>", m["xml"])
    c.check(m["markable"], "with an XEP-0333 <markable/>", m["xml"])
    c.eq(m["origin_id"], mid, "XEP-0359 origin-id = imdn.Message-ID")
    jul.send(to=m["from"], id="rcpt-1", received=m["id"])
    jul.send(to=m["from"], id="mark-1", type="chat", displayed=m["id"])
    got = carol.wait(2, 10, pred=lambda r: "imdn" in r.text())
    c.eq(len(got), 2, "carol got two IMDNs")
    texts = [r.text() for r in got]
    c.check(any("<delivered/>" in t and "<message-id>%s</message-id>" % mid in t for t in texts),
            "a delivered IMDN quoting the Message-ID", texts)
    c.check(any("<displayed/>" in t and "<message-id>%s</message-id>" % mid in t for t in texts),
            "a displayed IMDN quoting the Message-ID", texts)
    c.check(all((r.h("content-type") or "").startswith("message/cpim") for r in got),
            "IMDNs are CPIM-wrapped (RFC 5438)", [r.h("content-type") for r in got])


def body(st):
    st.start_xmpp(tls=True)
    st.start_kamailio()
    st.start_parleyd("direct")
    jul = st.client("juliet", "desk")
    st.client("romeo", "x").stop()   # romeo exists; his session ends
    bob = st.sipp_uas("bob")
    sendxmpp(st, bob)
    go_sendxmpp(st, bob)
    slixmpp_receipts(st, jul)
    st.checks.eq([m for m in jul.messages if m["type"] == "error"], [], "no error stanza reached juliet")
    st.checks.check(st.parley_alive(), "parleyd still running")


H.run_test("interop-xmpp-clients", body)
