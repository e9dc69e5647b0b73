#!/usr/bin/python3
"""scripts/sandbox's body: a private Redis, Prosody, Kamailio and parleyd on loopback, from the
examples/ configs, driven by tests/integration/harness.py. See scripts/sandbox for usage."""
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness as H  # noqa: E402


def port_or_free(preferred):
    import socket
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        # servers bind with SO_REUSEADDR: a port in TIME_WAIT after a previous run is free
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            return H.free_port()
        finally:
            s.close()
    return preferred


def start(st):
    st.start_redis(port_or_free(6379))
    st.start_xmpp(users=("juliet", "romeo"))
    st.parley_port = port_or_free(5070)
    st.start_kamailio(fr_timer_ms=30000, port=port_or_free(5060))
    st.msrp_port = port_or_free(2855)
    st.start_parleyd("direct", offline_store="redis", redis_port=st.redis_port,
                     stored_notice="Stored for later delivery: the recipient is offline.",
                     chat_extra="[chat]\nenabled = true\nmsrp_port = %d\n" % st.msrp_port)


def parleyctl(st):
    """parleyctl next to the parleyd the sandbox runs (both at the top of the build dir)."""
    return os.path.join(os.path.dirname(os.path.abspath(st.parleyd_path())), "parleyctl")


def banner(st):
    pw = H.password_for
    print("""
==============================================================================
 Parley sandbox is up (all on 127.0.0.1; logs in {dir})

 XMPP (Prosody)   server 127.0.0.1, port {c2s}, domain {xd}, no TLS (allow plain auth)
   juliet@{xd}   password {pj}
   romeo@{xd}    password {pr}
   SIP users are reached as  alice@{sd}  and  bob@{sd}

 SIP (Kamailio)   registrar/proxy 127.0.0.1:{kam} (UDP or TCP), domain {sd}
   users alice and bob (any password: no authentication, loopback only)
   e.g. register sip:alice@{sd} with outbound proxy sip:127.0.0.1:{kam}
   XMPP users are reached as  sip:juliet@{xd}  and  sip:romeo@{xd}

 parleyd          SIP 127.0.0.1:{pp}, XMPP component {sd} on port {cp}
                  MSRP 127.0.0.1:{mp}: a type='chat' stanza opens a chat session (INVITE with
                  an MSRP offer); a phone without MSRP answers 415/488 and gets MESSAGEs
 Redis            127.0.0.1:{rp} (AOF on): messages for offline users are parked there and
                  delivered when they come back (a REGISTER, or the XMPP user's next message)

 Admin socket     {adm}  (docs/admin.md); try:
   {ctl} --socket {adm} status
   {ctl} --socket {adm} stats
   {ctl} --socket {adm} queue list
   {ctl} --socket {adm} sessions list
   {ctl} --socket {adm} log level parley-sip debug
   {ctl} --socket {adm} config reload
   {ctl} --socket {adm} metrics
   {ctl} --socket {adm} --json status

 Ctrl-C stops everything.
==============================================================================
""".format(dir=st.dir, c2s=st.c2s_port, xd=H.XMPP_DOMAIN, sd=H.SIP_DOMAIN, pj=pw("juliet"),
           pr=pw("romeo"), kam=st.kam_port, pp=st.parley_port, cp=st.component_port, mp=st.msrp_port,
           rp=st.redis_port, adm=st.admin_socket, ctl=parleyctl(st)), flush=True)


def demo(st):
    """A scripted two-way conversation; True if every message arrived intact."""
    c = st.checks
    juliet = st.client("juliet", "sandbox")
    romeo = st.client("romeo", "sandbox")
    alice = st.sipp_uas("alice")
    bob = st.sipp_uas("bob")
    long_text = " ".join("Parley carries long messages in ordered parts — Teil %d, ☃ 日本." % i
                         for i in range(60))
    script = [
        ("juliet", "alice", "Hello Alice, it's Juliet 🌹"),
        ("alice", "juliet", "Hi Juliet! Grüße aus Köln"),
        ("romeo", "bob", "Bob, wherefore art thou? ☃"),
        ("bob", "romeo", "Here, Romeo — 日本語 works too"),
        ("juliet", "alice", long_text),
        ("alice", "juliet", "Got it all: %d characters." % len(long_text)),
    ]
    xmpp = {"juliet": juliet, "romeo": romeo}
    sip = {"alice": alice, "bob": bob}
    print("\n--- transcript ---", flush=True)
    for n, (frm, to, text) in enumerate(script):
        shown = text if len(text) < 80 else text[:60] + "... (%d bytes)" % len(text.encode())
        if frm in xmpp:
            thread = "demo-%d" % n
            xmpp[frm].send(to="%s@%s" % (to, H.SIP_DOMAIN), id=thread, thread=thread, body=text)
            parts = []
            deadline = time.monotonic() + 15
            got = ""
            while time.monotonic() < deadline:
                parts = sip[to].messages()
                parts = [p for p in parts if p.h("call-id") == thread]
                got = "".join(H.re.sub(r"^\[\d+/\d+\] ", "", p.text()) if len(parts) > 1 else p.text()
                              for p in parts)
                if got == text:
                    break
                time.sleep(0.1)
            ok = got == text
            note = " (%d SIP parts)" % len(parts) if len(parts) > 1 else ""
            print("%-7s -> %-7s %s %s%s" % (frm, to, "ok  " if ok else "LOST", shown, note), flush=True)
            c.check(ok, "%s -> %s arrived intact" % (frm, to))
        else:
            final, _ = st.sipp_uac(frm, "%s@%s" % (to, H.XMPP_DOMAIN), text, register=False)
            m = xmpp[to].wait_message(lambda m: m["body"] == text, 10)
            ok = m is not None and final is not None and final.status == 202
            print("%-7s -> %-7s %s %s (SIP %s)" % (frm, to, "ok  " if ok else "LOST", shown,
                                                  final.status if final else "none"), flush=True)
            c.check(ok, "%s -> %s arrived intact" % (frm, to))
    chat_demo(st, juliet)
    print("--- end ---\n", flush=True)
    return not c.failed


def chat_demo(st, juliet):
    """A chat session: juliet's type='chat' stanza makes parleyd INVITE carol, whose phone
    (the test suite's own SIP+MSRP peer) speaks MSRP; carol answers in the session."""
    c = st.checks
    import msrp_peer  # noqa: E402 (tests/integration is on sys.path)
    carol = msrp_peer.SipMsrpPeer("carol", domain=H.SIP_DOMAIN, proxy=("127.0.0.1", st.kam_port))
    try:
        c.check(carol.register() == 200, "carol registered")
        text = "Carol, a chat over MSRP ☕"
        juliet.send(to="carol@%s" % H.SIP_DOMAIN, type="chat", body=text)
        sess = carol.wait_session(10)
        m = sess.wait_message(lambda m: text in m.text, 10) if sess else None
        print("%-7s -> %-7s %s %s (MSRP session)" % ("juliet", "carol", "ok  " if m else "LOST",
                                                     text), flush=True)
        c.check(m is not None, "juliet -> carol over MSRP")
        reply = "Juliet, here is carol's MSRP reply ✔"
        if sess is not None:
            sess.send_text(reply)
        got = juliet.wait_message(lambda m: m["body"] == reply, 10)
        print("%-7s -> %-7s %s %s (MSRP session)" % ("carol", "juliet", "ok  " if got else "LOST",
                                                     reply), flush=True)
        c.check(got is not None, "carol -> juliet over MSRP")
        if sess is not None:
            sess.bye()
    finally:
        carol.close()


def main():
    demo_mode = "--demo" in sys.argv
    st = H.Stack("sandbox", "prosody", keep=not demo_mode,
                 c2s_port=port_or_free(5222), component_port=port_or_free(5347))
    rc = 1
    with st:
        start(st)
        if demo_mode:
            rc = 0 if demo(st) else 1
            print("demo: %s" % ("every message arrived intact" if rc == 0 else "FAILED"), flush=True)
        else:
            banner(st)
            stop = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            while not stop.is_set():
                if not st.parley_alive():
                    print("parleyd exited:", st.parley.tail(), flush=True)
                    break
                stop.wait(1)
            print("\nstopping...", flush=True)
            rc = 0
    sys.exit(rc)


if __name__ == "__main__":
    main()
