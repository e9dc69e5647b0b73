#!/usr/bin/python3
"""Interop with mcabber 1.1 (Debian), a terminal XMPP client, as juliet, run in tmux.

mcabber's config file is written here (mode 600, as mcabber demands) with a fresh HOME: it logs
in over STARTTLS (`ssl_ignore_checks`: the certificate is the self-signed one made at test
time), takes commands from its FIFO (`module load fifo`: in 1.x `set fifo_name` alone makes
nothing), keeps a history file per contact, and with `tracelog_level = 3` logs every stanza it
sends (PEERS.md §3.5). It runs in a detached tmux session on a socket of its own in the test
directory; the screen is read with `capture-pane`.
- mcabber -> SIP (bob, a registered sipp UAS): `/say_to` through the FIFO, two messages with
  non-ASCII text; bob gets each body exactly once. mcabber adds chat states (XEP-0085) and
  receipt requests (XEP-0184) only for contacts whose entity caps advertise them, and parleyd
  sends no presence, so it sends neither here: every stanza it sent to bob is checked against
  what reached bob by the rules of receipts.md (§1: CPIM only with a request; §6: one
  isComposing per body-less state), so bob must get exactly the two plain texts.
- SIP -> mcabber: alice's plain text (non-ASCII) is in mcabber's history and on its screen
  (`/roster unread_first` through the FIFO, Enter in tmux opens the chat buffer); carol's CPIM
  with a positive-delivery request shows its text unwrapped, and carol gets one delivered IMDN
  per <received/> mcabber sent her (her Contact has +sip.instance, so the ;gr= Request-URI
  parleyd makes for her full JID reaches her through Kamailio).
(mapping-docs/receipts.md §1, §3, §6)"""
import os
import re
import secrets
import time
import xml.etree.ElementTree as ET

import harness as H
from console_peers import TmuxPeer, got_on_sip, register_instance

CHATSTATES = "http://jabber.org/protocol/chatstates"


def fifo_command(path, line, timeout=5.0):
    """Write one command line into mcabber's FIFO (it holds the FIFO open for reading)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("mcabber's FIFO %s has no reader" % path)
            time.sleep(0.1)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
    finally:
        os.close(fd)


def sent_stanzas(trace):
    """<message/> stanzas in mcabber's trace log (tracelog_level 3: loudmouth logs each one it
    sends between `LM-NET: SEND:` and a dashed line), in order: [Element]."""
    out = []
    try:
        with open(trace, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return out
    i = 0
    while i < len(lines):
        if lines[i].endswith("LM-NET: SEND:"):
            chunk, i = [], i + 2            # skip the dashed line
            while i < len(lines) and not re.search(r"LM-NET: -{10,}$", lines[i]):
                chunk.append(re.sub(r"^\[[^]]*\] LM-NET: ", "", lines[i]))
                i += 1
            text = "\n".join(chunk).strip()
            if text.startswith("<message"):
                try:
                    out.append(ET.fromstring(text))
                except ET.ParseError:
                    out.append(ET.Element("unparsed", text=text))
        i += 1
    return out


def history(path):
    """mcabber's history file of one contact: [(kind, text)] with kind MR (received) / MS
    (sent); a header line `KIND TIMESTAMP NNN first line` is followed by NNN more lines."""
    out = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        return out
    i = 0
    while i < len(lines):
        m = re.match(r"^(\w\w) \S+ (\d{3}) ?(.*)$", lines[i])
        if m:
            n = int(m.group(2))
            out.append((m.group(1), "\n".join([m.group(3)] + lines[i + 1:i + 1 + n])))
            i += n
        i += 1
    return out


def expected_on_sip(sent, to):
    """What parleyd's rules (receipts.md §1, §6) make of the stanzas sent to `to`:
    [(kind, value, requested a receipt)]."""
    out = []
    for s in sent:
        if s.get("to", "").split("/")[0] != to:
            continue
        b = s.find("body")
        if b is not None:
            out.append(("text", b.text or "", s.find("{urn:xmpp:receipts}request") is not None))
            continue
        if s.get("type") != "chat":
            continue
        for c in s:
            state = c.tag.split("}")[1] if c.tag.startswith("{%s}" % CHATSTATES) else None
            if state == "composing":
                out.append(("state", "active", False))
            elif state in ("paused", "inactive", "gone"):
                out.append(("state", "idle", False))
    return out


def body(st):
    c = st.checks
    H.need("mcabber")
    st.start_xmpp(tls=True)
    st.start_kamailio()
    st.start_parleyd("direct")
    bob = st.sipp_uas("bob")
    carol = st.sipp_uas("carol", register=False)
    register_instance(st, "carol", carol.port, "phone")
    bob_jid, jid = "bob@%s" % H.SIP_DOMAIN, "juliet@%s" % H.XMPP_DOMAIN

    d = os.path.join(st.dir, "mcabber")
    hist = os.path.join(d, "hist")
    os.makedirs(hist)
    fifo, trace, rc = (os.path.join(d, n) for n in ("fifo", "trace.log", "mcabberrc"))
    with open(rc, "w") as f:
        f.write("set jid = %s\nset password = %s\nset server = 127.0.0.1\nset port = %d\n"
                "set resource = mcabber\nset tls = 1\nset ssl_ignore_checks = 1\n"
                "set logging = 1\nset load_logs = 0\nset logging_dir = %s\n"
                "set fifo_name = %s\nset fifo_hide_commands = 0\nset disable_chatstates = 0\n"
                "set tracelog_level = 3\nset tracelog_file = %s\nmodule load fifo\n"
                % (jid, H.password_for("juliet"), st.c2s_port, hist, fifo, trace))
    os.chmod(rc, 0o600)
    mc = TmuxPeer(st, "mcabber", ["mcabber", "-f", rc],
                  {"HOME": d, "TERM": "xterm", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}, "/quit")
    mc.wait_screen(r"Your status has been set", 15)
    c.check(os.path.exists(fifo), "mcabber made its FIFO")

    # mcabber -> bob through the FIFO
    texts = ["hello bob, grüße ☃ from mcabber", "zweite: ünïcödé 日本 ✓ – done"]
    for t in texts:
        fifo_command(fifo, "/say_to %s %s" % (bob_jid, t))
        got = bob.wait(1, 10, pred=lambda m, t=t: t in m.text())
        c.eq(len(got), 1, "bob got %r" % t[:12])
    sent_hist = [t for k, t in history(os.path.join(hist, bob_jid)) if k == "MS"]
    c.eq(sent_hist, texts, "mcabber's history for bob: both texts, sent")

    # carol (SIP, full JID) asks for a delivery notice; alice sends plain text
    mid = "mc-" + secrets.token_hex(6)
    ctext = "carol asks: did this arrive? ✉"
    cpim = ("From: <sip:carol@%s>\r\nTo: <sip:%s>\r\nDateTime: 2025-03-01T09:15:00Z\r\n"
            "NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: %s\r\n"
            "imdn.Disposition-Notification: positive-delivery\r\n\r\n"
            "Content-Type: text/plain;charset=UTF-8\r\n\r\n%s" % (H.SIP_DOMAIN, jid, mid, ctext))
    req = H.sip_request("MESSAGE", "sip:%s" % jid, [
        ("From", "<sip:carol@%s;gr=phone>;tag=%s" % (H.SIP_DOMAIN, secrets.token_hex(4))),
        ("To", "<sip:%s>" % jid), ("Call-ID", "mc-%s@it" % secrets.token_hex(4)),
        ("CSeq", "1 MESSAGE"), ("Max-Forwards", "70"), ("Content-Type", "message/cpim")],
        cpim.encode())
    resp = H.udp_exchange(st.parley_port, req)
    c.check(resp is not None and resp.status == 202, "carol's CPIM with an IMDN request: 202",
            resp and resp.start)
    atext = "hi juliet from SIP: ünïcödé ✓ 日本"
    final, _ = st.sipp_uac("alice", jid, atext)
    c.check(final is not None and final.status == 202, "alice's MESSAGE: 202", final and final.start)

    def received(who):
        return [t for k, t in history(os.path.join(hist, "%s@%s" % (who, H.SIP_DOMAIN)))
                if k == "MR"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (received("alice") and received("carol")):
        time.sleep(0.2)
    # a SIP Subject (sipp sends "-") is shown by mcabber as "[-]" on a line before the body
    c.eq([t.split("\n")[-1] for t in received("alice")], [atext],
         "mcabber's history: alice's text once, exactly")
    c.eq(received("carol"), [ctext], "mcabber's history: carol's CPIM text, unwrapped, once")
    fifo_command(fifo, "/roster unread_first")
    time.sleep(0.5)
    mc.keys("", enter=True)          # Enter on an empty line: the chat buffer of that contact
    try:
        s = mc.wait_screen(re.escape(atext) + "|" + re.escape(ctext), 5)
        c.check(True, "mcabber's chat buffer shows a SIP user's text")
        if atext not in s:
            fifo_command(fifo, "/roster unread_first")
            time.sleep(0.5)
            mc.keys("", enter=True)
        mc.wait_screen(re.escape(atext), 5)
        c.check(True, "mcabber's chat buffer for alice shows her text")
    except RuntimeError as e:
        c.check(False, "mcabber's chat buffer for alice shows her text", e)
    time.sleep(1.0)                  # a receipt mcabber might send reaches carol

    # mcabber quits: then what it sent is compared with what reached bob and carol
    mc.stop()
    c.check(not mc.alive(), "mcabber quit")
    time.sleep(1.0)
    sent = sent_stanzas(trace)
    want = expected_on_sip(sent, bob_jid)
    c.eq([w[:2] for w in want if w[0] == "text"], [("text", t) for t in texts],
         "mcabber's trace: the two bodies to bob, once each")
    c.eq([(k, v, cpim is not None) for k, v, cpim in got_on_sip(bob.messages())], want,
         "bob got each body once (CPIM only with a receipt request) and one isComposing per "
         "state, in mcabber's order")
    acks = [s for s in sent if s.get("to", "").startswith("carol@")
            and s.find("{urn:xmpp:receipts}received") is not None]
    imdns = [m for m in carol.messages() if "imdn" in m.text()]
    c.eq(len(imdns), len(acks), "carol got one IMDN per <received/> mcabber sent her")
    for m in imdns:
        c.check("<delivered/>" in m.text() and "<message-id>%s</message-id>" % mid in m.text(),
                "a delivered IMDN quoting carol's Message-ID", m.text())
    log_acks = "mcabber acked carol's receipt request" if acks else \
        "mcabber sent no receipt (carol's caps unknown to it)"
    H.log("note:", log_acks)
    n = st.parley_counters()
    c.eq(n.get("xmpp_in_iscomposing", 0), len([w for w in want if w[0] == "state"]),
         "parleyd counted one isComposing per state mcabber sent")
    c.check(st.parley_alive(), "parleyd still running")


H.run_test("interop-mcabber", body)
