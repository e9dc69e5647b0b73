#!/usr/bin/python3
"""The admin socket's queue methods on a real offline store (Redis, AOF): parleyctl queue
list / show / flush / purge against messages parked for a SIP user who answered 480.

juliet sends 3 messages to bob, whose phone answers 480 -> parked (no error back to juliet);
`queue list` and `queue show` count them; purge removes them; 2 more get parked (without a
MESSAGE: bob is known offline after the first 480, offline.md §4e); bob's phone
comes back on the same contact (no REGISTER, so nothing flushes by itself) and
`queue flush bob@sip.test` delivers both, in order, after which the queue is empty."""
import json
import os
import subprocess
import time

import harness as H


def ctl(st, *args):
    exe = os.path.join(os.path.dirname(st.parleyd_path()), "parleyctl")
    r = subprocess.run([exe, "--socket", st.admin_socket, "--json"] + list(args),
                       capture_output=True, timeout=30)
    out = r.stdout.decode()
    return r.returncode, (json.loads(out) if out.strip() else None), r.stderr.decode()


def queue_count(st, owner):
    """Parked messages for @owner per `parleyctl queue list --json` (0 when not listed)."""
    rc, res, err = ctl(st, "queue", "list")
    if rc != 0 or res is None:
        return None
    return sum(q["count"] for q in res["queues"] if q["user"] == owner)


def park(st, jul, bob, n, tag, want):
    """n messages to bob; returns those his phone saw (@want: how many should reach it - after
    a 480 bob is known offline and the rest are parked without a MESSAGE, offline.md §4e)."""
    for i in range(n):
        jul.send(to="bob@" + H.SIP_DOMAIN, id="%s-%d" % (tag, i), thread="%s-%d" % (tag, i),
                 body="%s %d" % (tag, i))
    got = bob.wait(want, 10, pred=lambda m: (m.h("call-id") or "").startswith(tag)) if want else []
    time.sleep(0.5)  # anything more would show up now
    return [m for m in bob.messages() if (m.h("call-id") or "").startswith(tag)] or got


def body(st):
    c = st.checks
    st.start_redis()
    st.start_xmpp()
    st.start_kamailio()
    # reg_event off: bob's phone stays registered while it answers 480, so a reg-event NOTIFY
    # would start a flush by itself; here only the operator's queue.flush may deliver
    st.start_parleyd("direct", offline_store="redis", redis_port=st.redis_port, reg_event="false")
    st.parley.wait_log("offline store", 10)
    jul = st.client("juliet", "queue")
    port = H.free_port()
    st.sipp_register("bob", port)
    busy = H.SippUas(st, "bob", port, 480, "Temporarily Unavailable", "uas_reply.xml")
    st._sipps.append(busy)

    got = park(st, jul, busy, 3, "first", 1)
    c.eq(len(got), 1, "bob's phone saw the first MESSAGE and answered 480; the others were "
         "parked at once (bob known offline)")
    time.sleep(0.5)
    c.check(jul.wait_message(lambda m: m["type"] == "error", 0.5) is None,
            "no error stanza came back: the messages were parked")
    c.eq(queue_count(st, "sip:bob@" + H.SIP_DOMAIN), 3, "queue list: 3 parked for sip:bob")
    rc, res, err = ctl(st, "queue", "show", "bob@" + H.SIP_DOMAIN)
    c.check(rc == 0 and res is not None and res["total"] == 3
            and [q["user"] for q in res["queues"]] == ["sip:bob@" + H.SIP_DOMAIN],
            "queue show bob@sip.test: 3, under sip:bob", (rc, res, err))
    rc, res, err = ctl(st, "queue", "purge", "sip:bob@" + H.SIP_DOMAIN)
    c.check(rc == 0, "queue purge answered", (rc, res, err))
    c.eq(queue_count(st, "sip:bob@" + H.SIP_DOMAIN), 0, "queue list after purge: nothing for bob")

    got = park(st, jul, busy, 2, "second", 0)
    c.eq(len(got), 0, "2 more parked without a MESSAGE (bob still known offline)")
    time.sleep(0.5)
    c.eq(queue_count(st, "sip:bob@" + H.SIP_DOMAIN), 2, "queue list: 2 parked again")
    busy.stop()
    time.sleep(0.3)
    ok = H.SippUas(st, "bob", port, 200, "OK", "uas_reply.xml")   # same contact, no REGISTER
    st._sipps.append(ok)
    time.sleep(1.0)
    c.eq(len(ok.messages()), 0, "nothing is delivered before the operator asks")
    rc, res, err = ctl(st, "queue", "flush", "bob@" + H.SIP_DOMAIN)
    c.check(rc == 0, "queue flush answered", (rc, res, err))
    got = ok.wait(2, 10)
    c.eq([m.text() for m in got], ["second 0", "second 1"], "flushed in order, bodies intact")
    c.check(all(m.h("date") for m in got), "each carries the Date of first receipt",
            [m.h("date") for m in got])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and queue_count(st, "sip:bob@" + H.SIP_DOMAIN) != 0:
        time.sleep(0.2)
    c.eq(queue_count(st, "sip:bob@" + H.SIP_DOMAIN), 0, "queue empty after the flush")
    c.check(st.parley_alive(), "parleyd still running")


H.run_test("admin-queue", body)
