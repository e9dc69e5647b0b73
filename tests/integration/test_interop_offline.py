#!/usr/bin/python3
"""Offline delivery with real SIP phones (linphone-daemon 5.1, baresip 1.0) on the Redis store
(mapping-docs/offline.md §4a, §4c, §5, §6; mapping-docs/receipts.md §8; docs/interop.md).

SIP phone offline (§4c, §4e, §5, §6): juliet (slixmpp) sends two non-ASCII messages to
dave@sip.test (linphone), each with an XEP-0184 <request/> and an XEP-0359 origin-id, and two
to frank@sip.test (baresip); neither phone is registered, so Kamailio answers 404 and parleyd
parks all four (counter offline_parked_xmpp, `parleyctl queue list`), with no error stanza.
Each phone then starts and REGISTERs through Kamailio (which replicates the REGISTER to
parleyd): what the phone itself reports (linphone's message-received events, baresip's
console) is both messages, in order, once each; the queues are empty afterwards.
Receipts for flushed messages are not mapped (receipts.md §8): a flushed message goes as plain
text with no IMDN request and Call-ID ID@parley; linphone answers each with a deflated
delivered IMDN quoting that Call-ID, which parleyd answers 200 and counts as unmatched: no
<received/> and no error reach juliet.

XMPP client offline (§4a, §6): the XMPP server is stopped (parleyd's component link goes
down; a live server would store the messages itself for an existing user), then linphone and
baresip each send juliet a non-ASCII message: parleyd parks both (202). The server comes back
and juliet logs in: she gets each message once, from the phone's address, with a XEP-0203
<delay/> from the gateway domain whose UTC stamp lies within the send time.
Run on each XMPP server."""
import signal
import time

import harness as H
import softphones as P

JULIET = "juliet@" + H.XMPP_DOMAIN
DAVE = "dave@" + H.SIP_DOMAIN       # linphone
FRANK = "frank@" + H.SIP_DOMAIN     # baresip

TO_DAVE = [("off-lin-1", "org-off-1", "erste Nachricht – Grüße ☃"),
           ("off-lin-2", "org-off-2", "deuxième message – ça va ✓")]
TO_FRANK = [("off-bs-1", "première – été ☃"),
            ("off-bs-2", "zweite – Straße ✓")]
FROM_DAVE = "linphone offline – Grüße ☃"
FROM_FRANK = "baresip offline – ça va ✓"




def queues(st):
    """{owner: count} from `parleyctl --json queue list`, or None if parleyctl failed."""
    rc, out, err = st.parleyctl("queue", "list", as_json=True)
    if rc != 0 or not isinstance(out, dict) or not isinstance(out.get("queues"), list):
        H.log("parleyctl queue list failed:", rc, out, err)
        return None
    return {q.get("user"): q.get("count") for q in out["queues"] if isinstance(q, dict)}


def wait_counter(st, name, n, timeout):
    deadline = time.monotonic() + timeout
    while True:
        ctr = st.parley_counters()
        if ctr.get(name, 0) >= n or time.monotonic() > deadline:
            return ctr
        time.sleep(0.3)


def sip_phone_offline(st, jul):
    c = st.checks
    H.log("SIP phones offline: juliet writes to dave (linphone) and frank (baresip)")
    for sid, oid, text in TO_DAVE:
        jul.send(to=DAVE, id=sid, type="chat", body=text, receipt=True, origin_id=oid)
        time.sleep(0.1)
    for sid, text in TO_FRANK:
        jul.send(to=FRANK, id=sid, type="chat", body=text, receipt=True)
        time.sleep(0.1)
    ctr = wait_counter(st, "offline_parked_xmpp", 4, 10)
    c.eq(ctr.get("offline_parked_xmpp"), 4, "all 4 messages parked (counter offline_parked_xmpp)")
    q = queues(st)
    c.check(q is not None and q.get("sip:" + DAVE) == 2 and q.get("sip:" + FRANK) == 2,
            "parleyctl queue list: 2 parked for sip:%s, 2 for sip:%s" % (DAVE, FRANK), q)
    time.sleep(0.5)
    errs = [m for m in list(jul.messages) if m["type"] == "error"]
    c.eq([m["xml"] for m in errs], [], "no error stanza for the parked messages")

    H.log("linphone starts and REGISTERs through Kamailio")
    dave = P.Linphone(st, "dave")
    got = P._wait(lambda: len(dave.received()) >= 2, 15)
    time.sleep(1.5)                 # a duplicate (a re-flush) would show up now
    got = dave.received()
    if not c.eq([t for _, t in got], [t for _, _, t in TO_DAVE],
                "linphone shows both parked messages, in order, once each"):
        H.log("parleyd:", st.parley.tail(30))
    # receipts.md §8: a flushed message goes as plain text (no CPIM, no IMDN request) with
    # Call-ID ID@parley; linphone still sends a deflated delivered IMDN for each, quoting that
    # Call-ID as <message-id>. parleyd does not correlate it: 200, counted unmatched; no receipt
    # (nor error) reaches juliet.
    P._wait(lambda: len([r for r in st.kam_requests() if r["from"].startswith("sip:dave@")]) >= 2,
            5)
    time.sleep(1.0)
    from_dave = [r for r in st.kam_requests() if r["from"].startswith("sip:dave@")]
    c.eq(len(from_dave), 2, "linphone sent one MESSAGE (its delivered IMDN) per flushed message")
    ctr = st.parley_counters()
    c.eq(ctr.get("offline_flushed_sip"), 2, "counter offline_flushed_sip after linphone")
    c.eq(ctr.get("sip_in_body_inflated"), 2, "both IMDNs came deflated and were inflated")
    c.eq(ctr.get("sip_in_imdn_unmatched"), 2, "both IMDNs counted unmatched (receipts.md §8)")
    c.eq(ctr.get("sip_in_imdn_delivered"), None, "no IMDN mapped to a receipt")
    rcpt = [m for m in list(jul.messages) if m["receipt_id"]]
    c.eq([m["xml"] for m in rcpt], [], "no <received/> to juliet for a flushed message")
    c.eq([m["xml"] for m in list(jul.messages) if m["type"] == "error"], [],
         "no error stanza after the flush to linphone")

    H.log("baresip starts and REGISTERs through Kamailio")
    frank = P.Baresip(st, "frank", "sip:%s" % JULIET)
    P._wait(lambda: len(frank.received()) >= 2, 15)
    time.sleep(1.5)
    got = frank.received()
    if not c.eq(got, [t for _, t in TO_FRANK],
                "baresip shows both parked messages, in order, once each"):
        H.log("baresip:", frank.proc.tail(20))
        H.log("parleyd:", st.parley.tail(30))
    ctr = st.parley_counters()
    c.eq(ctr.get("offline_flushed_sip"), 4, "counter offline_flushed_sip after baresip")
    c.eq(ctr.get("sip_peer_refused_cpim"), None, "flushed as plain text: no 415 from baresip")
    q = queues(st)
    c.check(q is not None and "sip:" + DAVE not in q and "sip:" + FRANK not in q,
            "parleyctl queue list: both SIP queues empty after the flush", q)
    c.eq([m["xml"] for m in list(jul.messages) if m["type"] == "error"], [],
         "no error stanza reached juliet")
    return dave, frank


def xmpp_client_offline(st, dave, frank):
    c = st.checks
    H.log("XMPP client offline: stop the %s server, parleyd's component link goes down" % st.server)
    st.stop_xmpp(signal.SIGKILL)
    st.parley.wait_log("XMPP component offline", 10)
    before = st.parley_counters().get("offline_parked_sip", 0)
    t_first = time.time()
    dave.send("sip:" + JULIET, FROM_DAVE)
    ctr = wait_counter(st, "offline_parked_sip", before + 1, 10)
    c.eq(ctr.get("offline_parked_sip", 0) - before, 1, "linphone's message parked")
    frank.send(FROM_FRANK)
    ctr = wait_counter(st, "offline_parked_sip", before + 2, 10)
    t_last = time.time()
    c.eq(ctr.get("offline_parked_sip", 0) - before, 2, "baresip's message parked")
    q = queues(st)
    c.check(q is not None and q.get("xmpp:" + JULIET) == 2,
            "parleyctl queue list: 2 parked for xmpp:%s" % JULIET, q)

    H.log("restart the %s server; juliet logs in" % st.server)
    jul = st.restart_xmpp_client_first("juliet", "balcony")
    want = {FROM_DAVE: DAVE, FROM_FRANK: FRANK}

    def ours():
        return [m for m in list(jul.messages) if m["body"] in want]
    P._wait(lambda: len(ours()) >= 2, 15)
    time.sleep(1.0)                 # a duplicate would show up now
    got = ours()
    c.eq(sorted(m["body"] for m in got), sorted(want), "juliet got each phone's message once")
    c.eq([m["body"] for m in got], [FROM_DAVE, FROM_FRANK], "in the order they were sent")
    for m in got:
        who = want[m["body"]].split("@")[0]
        c.eq((m["from"] or "").split("/")[0], want[m["body"]], "%s: from the phone's address" % who)
        delays = [d for d in H.xmpp_delays(m["xml"]) if d[0] == H.SIP_DOMAIN]
        if c.check(len(delays) == 1, "%s: one XEP-0203 <delay/> from %s" % (who, H.SIP_DOMAIN),
                   H.xmpp_delays(m["xml"])):
            t = H.parse_stamp(delays[0][1])
            c.check(t is not None and t_first - 1 <= t <= t_last + 1,
                    "%s: delay stamp %s (UTC) within the send time" % (who, delays[0][1]),
                    (t, t_first, t_last))
    c.eq([m["xml"] for m in list(jul.messages) if m["type"] == "error"], [],
         "no error stanza reached juliet")
    ctr = st.parley_counters()
    c.eq(ctr.get("offline_flushed_xmpp"), 2, "counter offline_flushed_xmpp")
    q = queues(st)
    c.check(q is not None and "xmpp:" + JULIET not in q,
            "parleyctl queue list: juliet's queue empty after the flush", q)


def body(st):
    c = st.checks
    st.start_xmpp()
    st.start_redis()
    st.start_kamailio()
    st.start_parleyd("direct", offline_store="redis", redis_port=st.redis_port)
    jul = st.client("juliet", "desk")
    dave, frank = sip_phone_offline(st, jul)
    xmpp_client_offline(st, dave, frank)
    c.check(st.parley_alive(), "parleyd still running")
    c.eq(st.stop_parleyd(), 0, "parleyd exit code on SIGTERM (0: no sanitizer report)")


H.run_test("interop-offline", body)
