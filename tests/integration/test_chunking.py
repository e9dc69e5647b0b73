#!/usr/bin/python3
"""Chunking XMPP->SIP over UDP: a 5 000-byte body with non-ASCII mixed in reaches the sipp UAS
as ordered parts "[n/N] ...", every request as parleyd sent it is <= 1300 bytes (Kamailio logs
$ml, the size of each request as it arrived from parleyd; sipp's view minus the Via line
Kamailio added is checked too), parts go strictly one after another (part n+1 only after the
UAS answered part n), and the texts with the markers stripped join back to the original."""
import re
import secrets

import harness as H


def make_body(n=5000):
    words = ["Straße", "naïve", "日本語", "😀", "ok", "Ωμέγα", "x" * 7, "tab\there", "line\nbreak", "ß"]
    out, i = "", 0
    while len(out.encode()) < n:
        out += words[i % len(words)] + " "
        i += 1
    b = out.encode()[:n]
    return b.decode("utf-8", "ignore")


def body(st):
    c = st.checks
    st.start_xmpp()
    st.start_kamailio()
    st.start_parleyd("direct")
    jul = st.client("juliet", "balcony")
    bob = st.sipp_uas("bob")
    text = make_body()
    thread = "chunk-" + secrets.token_hex(4)
    H.log("sending %d bytes (%d characters) to bob" % (len(text.encode()), len(text)))
    jul.send(to="bob@" + H.SIP_DOMAIN, id="big1", thread=thread, body=text)
    marker = re.compile(r"^\[(\d+)/(\d+)\] ", re.S)
    parts = []
    deadline = H.time.monotonic() + 20
    while H.time.monotonic() < deadline:
        parts = bob.wait(1, 1, pred=lambda r: r.h("call-id") == thread)
        if parts:
            m = marker.match(parts[0].text())
            if m and len(parts) >= int(m.group(2)):
                break
    c.check(len(parts) > 1, "the body arrived in several parts", len(parts))
    if not parts:
        H.log("parleyd log:", st.parley.tail(20))
        err = jul.wait_message(lambda m: m["id"] == "big1", timeout=0.5)
        H.log("error stanza:", err and err["xml"])
        return
    nums, joined, total = [], "", None
    for r in parts:
        m = marker.match(r.text())
        if not c.check(m is not None, "part starts with a [n/N] marker", r.text()[:20]):
            continue
        nums.append(int(m.group(1)))
        total = int(m.group(2)) if total is None else total
        c.check(int(m.group(2)) == total, "same N in every marker", m.group(0))
        joined += r.text()[m.end():]
    c.eq(nums, list(range(1, len(parts) + 1)), "part numbers in arrival order")
    c.eq(total, len(parts), "N == number of parts received")
    c.check(joined == text, "parts (markers stripped) join to the original, byte for byte",
            "len %d vs %d" % (len(joined), len(text)))
    cseqs = [r.h("cseq") for r in parts]
    H.log("CSeq of the parts:", cseqs)
    # sizes as parleyd sent them
    kam = st.kam_requests(callid=thread)
    sizes = [k["len"] for k in kam]
    H.log("sizes at Kamailio ($ml):", sizes)
    c.check(len(kam) >= len(parts), "Kamailio logged every part", len(kam))
    c.check(sizes and max(sizes) <= 1300, "every request parleyd sent is <= 1300 bytes", sizes)
    sipp_sizes = []
    for r in parts:
        via = r.all("via")
        # Kamailio's own Via line (first) and the rport/received it filled in
        added = len("Via: ") + len(via[0]) + 2 if via else 0
        extra = sum(len(x) for x in re.findall(r";received=[^;,]*|(?<=;rport)=\d+", via[1] if len(via) > 1 else ""))
        sipp_sizes.append(r.size - added - extra)
    H.log("sizes at sipp minus Kamailio's additions:", sipp_sizes)
    c.check(max(sipp_sizes) <= 1300, "sipp-side sizes minus proxy additions <= 1300", sipp_sizes)
    # strictly one after another: in sipp's trace every part is followed by our 200 before the next
    seq = [(m.direction, m.h("call-id")) for m in bob.all() if m.h("call-id") == thread]
    c.check(all(seq[i][0] != seq[i + 1][0] for i in range(len(seq) - 1)) and seq[0][0] == "received",
            "parts alternate with the UAS's 200s (no overlap)", [d for d, _ in seq])
    err = jul.wait_message(lambda m: m["id"] == "big1", timeout=0.5)
    c.check(err is None, "no error stanza for the chunked message", err and err["xml"])
    c.check(st.parley_alive(), "parleyd still running")


H.run_test("chunking", body)
