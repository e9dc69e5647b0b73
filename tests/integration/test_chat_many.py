#!/usr/bin/python3
"""100 concurrent chat sessions, then the idle timeout (mapping-docs/chat.md §3, §6).

Ten SIP users (msrp_peer.py, registered on Kamailio) each open a session to each of ten XMPP
users (slixmpp): 100 MSRP sessions at once through parleyd. Every session carries one message
each way; every XMPP user must get one message from each SIP user, every SIP user one reply
per session, and parleyctl must list 100 active sessions. Then nobody speaks: with
idle_timeout_s = 4 every session ends by itself - each SIP user gets a BYE per session and
each XMPP user a <gone/> per SIP user - and the list is empty. parleyd's RSS is reported."""
import time

import harness as H
import msrp_peer as P

N = 10
IDLE_S = 4
PEERS = []


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def run(st):
    c = st.checks
    xusers = ["x%d" % i for i in range(N)]
    st.start_xmpp(users=tuple(xusers))
    st.start_kamailio()
    msrp_port = H.free_port()
    st.start_parleyd("direct", chat_extra="[chat]\nenabled = true\nmsrp_port = %d\n"
                     "idle_timeout_s = %d\n" % (msrp_port, IDLE_S))
    clients = {u: st.client(u, "it") for u in xusers}
    sips = []
    for i in range(N):
        p = P.SipMsrpPeer("s%d" % i, domain=H.SIP_DOMAIN, proxy=("127.0.0.1", st.kam_port))
        PEERS.append(p)
        sips.append(p)
    c.eq([p.register() for p in sips], [200] * N, "the SIP users registered")
    rss0 = rss_kib(st.parley.p.pid)

    H.log("%d x %d INVITEs" % (N, N))
    sessions = {}
    for p in sips:
        for u in xusers:
            if not st.parley_alive():  # fail fast, not 100 INVITE timeouts
                break
            sessions[(p.user, u)] = p.invite("sip:%s@%s" % (u, H.XMPP_DOMAIN), timeout=10)
    if not c.check(st.parley_alive(), "parleyd alive after the INVITEs", st.parley.tail(20)):
        return
    up = [k for k, s in sessions.items() if s is not None and s.established]
    bad = [(k, s and s.sip_final and s.sip_final.start, s and s.state) for k, s in sessions.items() if k not in up]
    c.check(len(up) == N * N, "100 sessions established (%d)" % len(up), bad[:6])
    deadline = time.monotonic() + 5
    while True:  # the last ACKs may still be on their way
        rc, out, err = st.parleyctl("sessions", "list", as_json=True)
        active = [x for x in out.get("sessions", []) if x.get("state") == "active"] \
            if isinstance(out, dict) else []
        if len(active) >= N * N or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    c.eq(len(active), N * N, "parleyctl lists 100 active sessions")
    rss1 = rss_kib(st.parley.p.pid)
    H.log("parleyd RSS: %s KiB before, %s KiB with 100 sessions" % (rss0, rss1))

    for (su, xu), s in sessions.items():
        if s is not None and s.established:
            s.send_text("from %s to %s" % (su, xu), wait=False)
    deadline = time.monotonic() + 20
    missing = None
    while time.monotonic() < deadline:
        missing = [(su, xu) for (su, xu) in sessions
                   if not any(m["body"] == "from %s to %s" % (su, xu)
                              for m in list(clients[xu].messages))]
        if not missing:
            break
        time.sleep(0.2)
    c.check(not missing, "every XMPP user got one message from each SIP user", missing[:5])

    H.log("each XMPP user answers every SIP user")
    for xu, cl in clients.items():
        for su in (p.user for p in sips):
            cl.send(to="%s@%s" % (su, H.SIP_DOMAIN), type="chat", body="reply %s to %s" % (xu, su))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        missing = [(su, xu) for (su, xu), s in sessions.items()
                   if s is None or not any("reply %s to %s" % (xu, su) in m.text
                                           for m in list(s.messages))]
        if not missing:
            break
        time.sleep(0.2)
    c.check(not missing, "every reply came back over its own session (no new INVITE)",
            missing[:5])

    H.log("silence: the idle timeout (%d s) ends all of them" % IDLE_S)
    deadline = time.monotonic() + IDLE_S + 10
    while time.monotonic() < deadline:
        open_ = [k for k, s in sessions.items() if s is not None and s.state != "closed"]
        if not open_:
            break
        time.sleep(0.3)
    c.check(not open_, "every SIP user got a BYE for each session", open_[:5])
    gone = {xu: len([m for m in list(cl.messages) if m["body"] is None and "gone" in (m["xml"] or "")])
            for xu, cl in clients.items()}
    c.check(all(v >= N for v in gone.values()), "every XMPP user got a <gone/> per SIP user", gone)
    deadline = time.monotonic() + 5
    while True:
        rc, out, err = st.parleyctl("sessions", "list", as_json=True)
        counters = st.parley_counters()
        done = rc == 0 and out.get("sessions") == [] and counters.get("chat_closed_idle") == N * N
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    c.check(rc == 0 and out.get("sessions") == [], "parleyctl lists no session", out)
    c.check(counters.get("chat_closed_idle", 0) == N * N, "chat_closed_idle = 100",
            counters.get("chat_closed_idle"))
    c.check(st.parley_alive(), "parleyd still running")


def body(st):
    try:
        run(st)
    finally:
        for p in PEERS:
            p.close()


H.run_test("chat-many", body)
