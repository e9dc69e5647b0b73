#!/usr/bin/python3
"""Offline store on real Redis (AOF): park, then flush, both directions, every stored field
checked (DESIGN.md §7, mapping-docs/offline.md §4a, §4c, §5, §6), and the admin view of it.

SIP->XMPP (§4a): the XMPP server is down, so parleyd's component link is down; alice's MESSAGEs
through Kamailio get 202 (parked in Redis). `parleyctl queue list/show` show them. The server
comes back: parleyd flushes juliet's queue; juliet gets each message, in order, with from
(/resource from ;gr=), body, subject, thread (= Call-ID), xml:lang intact and a XEP-0203
<delay/> from the component domain whose UTC stamp lies within the send time.
XMPP->SIP (§4c, §5): bob is not registered, so Kamailio answers 404 and parleyd parks juliet's
messages without an error stanza; bob's UAS REGISTERs (Kamailio replicates the REGISTER to
parleyd) and receives each MESSAGE, in order, with a Date: of first receipt (RFC 1123, within
the send time), the original From (;gr=resource), Subject, Call-ID = thread and body.
Afterwards nothing is left in the queue and the counters add up."""
import email.utils
import signal
import time

import harness as H

N = 3
JULIET = "juliet@" + H.XMPP_DOMAIN
BOB = "bob@" + H.SIP_DOMAIN




def queue_entry(st, owner):
    """(count, raw) of owner in `parleyctl --json queue list`: count None if absent, "error"
    if parleyctl failed."""
    rc, out, err = st.parleyctl("queue", "list", as_json=True)
    if rc != 0 or not isinstance(out, dict):
        return "error", (rc, out, err)
    users = out.get("queues") if isinstance(out, dict) else None
    for u in users if isinstance(users, list) else []:
        if isinstance(u, dict) and u.get("user") == owner:
            return u.get("count"), out
    return None, out


def sip_to_xmpp(st):
    c = st.checks
    H.log("stop the %s server: parleyd's component link goes down" % st.server)
    st.stop_xmpp(signal.SIGKILL)
    st.parley.wait_log("XMPP component offline", 10)
    sent = []
    t_first = time.time()
    for i in range(N):
        cid = "s2x-%d-%s@sipp" % (i, H.secrets.token_hex(3))
        body = "parked %d – Grüße ☃ <&>" % i
        final, _ = st.sipp_uac("alice", JULIET, body, subject="Subj %d – été" % i, lang="de",
                               fromparams=";gr=phone%d" % i, callid=cid, register=(i == 0))
        c.check(final is not None and final.status == 202,
                "link down: MESSAGE %d answered 202 (parked)" % i, final and final.start)
        sent.append((cid, body, i))
    t_last = time.time()

    count, raw = queue_entry(st, "xmpp:" + JULIET)
    c.check(count == N, "parleyctl queue list: xmpp:%s has the %d parked messages" % (JULIET, N), raw)
    rc, out, err = st.parleyctl("queue", "show", JULIET)
    c.check(rc == 0 and ("xmpp:" + JULIET) in out and str(N) in out,
            "parleyctl queue show %s: the user and its count" % JULIET, (rc, out, err))

    H.log("restart the %s server" % st.server)
    jul = st.restart_xmpp_client_first("juliet", "balcony")   # juliet online before the flush
    got = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(got) < N:
        got = [m for m in list(jul.messages) if m["body"] and m["body"].startswith("parked ")]
        time.sleep(0.1)
    if not c.eq(len(got), N, "juliet received every parked message"):
        H.log("parleyd:", st.parley.tail(30))
    time.sleep(1.0)  # anything twice would show up now
    got = [m for m in list(jul.messages) if m["body"] and m["body"].startswith("parked ")]
    c.eq([m["body"] for m in got], [b for _, b, _ in sent], "in order, each once, bodies intact")
    for m, (cid, body, i) in zip(got, sent):
        c.eq(m["from"], "alice@%s/phone%d" % (H.SIP_DOMAIN, i), "[%d] from (/resource from ;gr=)" % i)
        c.eq(m["to"], JULIET, "[%d] to" % i)
        c.eq(m["subject"], "Subj %d – été" % i, "[%d] subject" % i)
        c.eq(m["thread"], cid, "[%d] thread == Call-ID" % i)
        c.eq(m["lang"], "de", "[%d] xml:lang" % i)
        c.check(bool(m["id"]), "[%d] has an id" % i, m["id"])
        delays = H.xmpp_delays(m["xml"])
        ours = [d for d in delays if d[0] == H.SIP_DOMAIN]
        if c.check(len(ours) == 1, "[%d] one <delay xmlns='urn:xmpp:delay'> from %s"
                   % (i, H.SIP_DOMAIN), delays):
            t = H.parse_stamp(ours[0][1])
            c.check(t is not None and t_first - 1 <= t <= t_last + 1,
                    "[%d] delay stamp %s (UTC) within the send time" % (i, ours[0][1]),
                    (t, t_first, t_last))
    c.check(len(set(m["id"] for m in got)) == len(got), "distinct stanza ids")
    count, raw = queue_entry(st, "xmpp:" + JULIET)
    c.check(count is None, "parleyctl queue list: juliet's queue is gone after the flush", raw)
    return jul


def xmpp_to_sip(st, jul):
    c = st.checks
    H.log("XMPP->SIP: bob is not registered: Kamailio answers 404, parleyd parks")
    sent = []
    t_first = time.time()
    for i in range(N):
        sid = "x2s-park-%d" % i
        thread = "thr-%d-%s" % (i, H.secrets.token_hex(3))
        body = "for bob %d – ça va? ☃" % i
        jul.send(to=BOB, id=sid, type="chat" if i % 2 else "normal", lang="fr",
                 subject="Objet %d" % i, thread=thread, body=body)
        sent.append((sid, thread, body))
        time.sleep(0.05)
    t_last = time.time()
    # each goes to Kamailio, which has no binding: 404 -> parked. Wait until all are parked.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if st.parley_counters().get("offline_parked_xmpp", 0) >= N:
            break
        time.sleep(0.3)
    count, raw = queue_entry(st, "sip:" + BOB)
    c.check(count == N, "parleyctl queue list: sip:%s holds the %d parked messages" % (BOB, N), raw)
    c.check(len(st.kam_requests(method="MESSAGE")) >= N, "Kamailio saw the MESSAGEs (and 404ed)")
    time.sleep(0.5)
    errs = [m for m in list(jul.messages) if m["id"] in [s for s, _, _ in sent]]
    c.check(not errs, "no error stanza came back to juliet for a parked message",
            [m["xml"] for m in errs])

    H.log("bob's UAS starts, then REGISTERs (Kamailio replicates the REGISTER to parleyd)")
    bob = st.sipp_uas("bob", register=False)
    st.sipp_register("bob", H.free_port(), contact_port=bob.port)
    got = bob.wait(N, 10)
    time.sleep(0.5)
    got = bob.messages()
    if not c.eq(len(got), N, "bob received each parked message once"):
        H.log("parleyd:", st.parley.tail(30))
    c.eq([r.text() for r in got], [b for _, _, b in sent], "in order, bodies intact")
    for i, (r, (sid, thread, body)) in enumerate(zip(got, sent)):
        frm = r.h("from") or ""
        uri = frm[frm.find("<") + 1:frm.find(">")] if "<" in frm else frm.split(";tag=")[0]
        c.eq(uri, "sip:juliet@%s;gr=balcony" % H.XMPP_DOMAIN, "[%d] From (with ;gr=)" % i)
        c.check("sip:bob@%s" % H.SIP_DOMAIN in (r.h("to") or ""), "[%d] To bob" % i, r.h("to"))
        c.eq(r.h("subject"), "Objet %d" % i, "[%d] Subject" % i)
        c.eq(r.h("call-id"), thread, "[%d] Call-ID == thread" % i)
        c.eq(r.h("content-language"), "fr", "[%d] Content-Language" % i)
        date = r.h("date")
        try:
            t = email.utils.parsedate_to_datetime(date).timestamp() if date else None
        except (TypeError, ValueError):
            t = None
        c.check(date is not None and date.endswith(" GMT") and t is not None
                and int(t_first) - 1 <= t <= t_last + 1,
                "[%d] Date: of first receipt, RFC 1123, within the send time" % i,
                (date, t, t_first, t_last))
    count, raw = queue_entry(st, "sip:" + BOB)
    c.check(count is None, "parleyctl queue list: bob's queue is gone after the flush", raw)
    time.sleep(0.3)
    errs = [m for m in list(jul.messages) if m["id"] in [s for s, _, _ in sent]]
    c.check(not errs, "still no error stanza to juliet", [m["xml"] for m in errs])


def body(st):
    c = st.checks
    st.start_xmpp()
    st.start_redis()
    st.start_kamailio()
    st.start_parleyd("direct", offline_store="redis", redis_port=st.redis_port)
    jul = sip_to_xmpp(st)
    xmpp_to_sip(st, jul)
    ctr = st.parley_counters()
    H.log("counters:", ctr)
    c.eq(ctr.get("offline_parked_sip"), N, "counter offline_parked_sip")
    c.eq(ctr.get("offline_flushed_xmpp"), N, "counter offline_flushed_xmpp")
    c.eq(ctr.get("offline_parked_xmpp"), N, "counter offline_parked_xmpp")
    c.eq(ctr.get("offline_flushed_sip"), N, "counter offline_flushed_sip")
    c.check(st.parley_alive(), "parleyd still running")
    c.eq(st.stop_parleyd(), 0, "parleyd exit code on SIGTERM (0: no sanitizer report)")


H.run_test("offline-flush", body)
