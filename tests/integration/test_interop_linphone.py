#!/usr/bin/python3
"""Interop with linphone-daemon 5.1 (Debian linphone-cli), registered through Kamailio as
dave@sip.test.

linphone accepts message/cpim with an IMDN request and answers with a bare message/imdn+xml
delivery notice, Content-Encoding: deflate (PEERS.md §1.4).
- XMPP -> SIP with an XEP-0184 receipt request: parleyd sends CPIM with imdn.Message-ID = the
  XEP-0359 origin-id; linphone shows the text (its message id is ours), sends the deflated
  IMDN; parleyd inflates it and juliet gets <received id=her stanza id/> from dave.
- a message without a receipt request goes as plain text; no receipt comes back.
- linphone -> XMPP: its text/plain MESSAGE reaches juliet.
(mapping-docs/receipts.md §1-§3, §5)"""
import time

import harness as H
import softphones as P


def body(st):
    c = st.checks
    st.start_xmpp()
    st.start_kamailio()
    st.start_parleyd("direct")
    jul = st.client("juliet", "desk")
    dave = P.Linphone(st, "dave")
    to = "dave@%s" % H.SIP_DOMAIN

    jul.send(to=to, id="lin-1", type="chat", body="hello linphone – äöü ☃", receipt=True,
             origin_id="org-7f3c2a91")
    got = P._wait(lambda: dave.received(), 10)
    c.eq(got, [("org-7f3c2a91", "hello linphone – äöü ☃")],
         "linphone got the text once, with the origin-id as its IMDN Message-ID")
    r = jul.wait_message(lambda m: m["receipt_id"] is not None, timeout=10)
    if c.check(r is not None, "juliet got an XEP-0184 receipt",
               [m["xml"] for m in jul.messages]):
        c.eq(r["receipt_id"], "lin-1", "the receipt quotes juliet's stanza id")
        c.eq(r["from"].split("/")[0], to, "the receipt comes from dave")
        c.eq(r["to"], "juliet@%s/desk" % H.XMPP_DOMAIN, "to juliet's full JID")
        c.eq(r["body"], None, "the receipt has no body")
    n = st.parley_counters()
    c.eq(n.get("sip_in_imdn_delivered"), 1, "one IMDN mapped (deflated, inflated by parleyd)")
    c.eq(n.get("sip_in_body_inflated"), 1, "its body came with Content-Encoding: deflate")
    c.eq(n.get("sip_peer_refused_cpim"), None, "linphone accepted CPIM")

    jul.send(to=to, id="lin-2", type="chat", body="no receipt asked")
    got = P._wait(lambda: len(dave.received()) >= 2 and dave.received(), 10)
    c.check(got and got[-1][1] == "no receipt asked", "linphone got the plain message", got)
    time.sleep(1.0)
    c.eq(len([m for m in jul.messages if m["receipt_id"]]), 1, "no receipt for it")

    dave.send("sip:juliet@%s" % H.XMPP_DOMAIN, "hello juliet from linphone")
    m = jul.wait_message(lambda m: m["body"] == "hello juliet from linphone", timeout=10)
    if c.check(m is not None, "juliet received linphone's message", [x["xml"] for x in jul.messages]):
        c.eq(m["from"].split("/")[0], to, "from is dave")
    c.eq([m for m in jul.messages if m["type"] == "error"], [], "no error stanza reached juliet")
    c.check(st.parley_alive(), "parleyd still running")


H.run_test("interop-linphone", body)
