#!/usr/bin/python3
"""Page mode end to end, both directions, both address modes (RFC 7572 field mapping).

SIP->XMPP: a registered sipp UAC (alice@sip.test, From ;gr=phone1) sends a MESSAGE through
Kamailio to parleyd; the XMPP client juliet must receive every mapped field (from incl.
/resource from ;gr=, to, non-ASCII body, subject, thread == Call-ID, xml:lang from
Content-Language, type normal) and sipp must get 202.
XMPP->SIP: juliet/balcony sends to bob; parleyd -> Kamailio -> registered sipp UAS: From URI
with ;gr=balcony, Subject, Call-ID == thread, Content-Language, body, Content-Type.
Run once in direct mode, then parleyd is restarted in escaped mode (same Kamailio and server)."""
import secrets

import harness as H

BODY = "Grüße aus Köln – ☃ 日本語 😀 <&> \"quoted\""


def sip_to_xmpp(st, jul, mode):
    c = st.checks
    cid = "s2x-%s-%s@sipp" % (mode, secrets.token_hex(4))
    to = "juliet@%s" % H.XMPP_DOMAIN if mode == "direct" else \
        "juliet%%40%s@%s" % (H.XMPP_DOMAIN, H.ESC_SIP_DOMAIN)
    log_from = "alice@%s/phone1" % H.SIP_DOMAIN if mode == "direct" else \
        "alice\\40%s@%s/phone1" % (H.SIP_DOMAIN, H.ESC_COMPONENT)
    H.log("[%s] SIP->XMPP: sipp alice -> sip:%s" % (mode, to))
    final, _ = st.sipp_uac("alice", to, BODY, subject="Lunch? – Mittag", lang="de",
                           fromparams=";gr=phone1", callid=cid)
    c.check(final is not None and final.status == 202, "[%s] sipp got 202 Accepted" % mode,
            final and final.start)
    m = jul.wait_message(lambda m: m["thread"] == cid or m["body"] == BODY and m["thread"] is None,
                         timeout=5)
    if not c.check(m is not None, "[%s] juliet received the message" % mode):
        return
    c.eq(m["from"], log_from, "[%s] from (with /resource from ;gr=)" % mode)
    c.eq(m["to"], "juliet@%s" % H.XMPP_DOMAIN, "[%s] to" % mode)
    c.eq(m["body"], BODY, "[%s] body" % mode)
    c.eq(m["subject"], "Lunch? – Mittag", "[%s] subject" % mode)
    c.eq(m["thread"], cid, "[%s] thread == Call-ID" % mode)
    c.eq(m["lang"], "de", "[%s] xml:lang from Content-Language" % mode)
    c.check(m["type"] in ("normal", None), "[%s] type normal (or absent)" % mode, m["type"])
    c.check(bool(m["id"]), "[%s] stanza has an id" % mode, m["id"])
    jul.messages.remove(m)


def xmpp_to_sip(st, jul, bob, mode):
    c = st.checks
    thread = "x2s-%s-%s" % (mode, secrets.token_hex(4))
    to = "bob@%s" % H.SIP_DOMAIN if mode == "direct" else \
        "bob\\40%s@%s" % (H.SIP_DOMAIN, H.ESC_COMPONENT)
    want_from = "sip:juliet@%s;gr=balcony" % H.XMPP_DOMAIN if mode == "direct" else \
        "sip:juliet%%40%s@%s;gr=balcony" % (H.XMPP_DOMAIN, H.ESC_SIP_DOMAIN)
    H.log("[%s] XMPP->SIP: juliet/balcony -> %s" % (mode, to))
    sid = "x2s-id-" + mode
    jul.send(to=to, id=sid, type="chat" if mode == "escaped" else "normal", lang="fr",
             subject="Objet – été", thread=thread, body=BODY)
    got = bob.wait(1, 8, pred=lambda r: r.h("call-id") == thread)
    if not c.check(len(got) == 1, "[%s] bob's sipp received exactly one MESSAGE" % mode,
                   [r.start for r in bob.messages()]):
        err = jul.wait_message(lambda m: m["id"] == sid, timeout=0.5)
        if err:
            H.log("  error stanza instead:", err["xml"])
        H.log("  parleyd log:", st.parley.tail(15))
        return
    r = got[0]
    frm = r.h("from") or ""
    uri = frm[frm.find("<") + 1:frm.find(">")] if "<" in frm else frm.split(";tag=")[0]
    c.eq(uri, want_from, "[%s] From URI" % mode)
    c.check(";tag=" in frm, "[%s] From has a tag" % mode, frm)
    to_h = r.h("to") or ""
    c.check("sip:bob@%s" % H.SIP_DOMAIN in to_h, "[%s] To is sip:bob@%s" % (mode, H.SIP_DOMAIN), to_h)
    c.eq(r.h("subject"), "Objet – été", "[%s] Subject" % mode)
    c.eq(r.h("call-id"), thread, "[%s] Call-ID == thread" % mode)
    c.eq(r.h("content-language"), "fr", "[%s] Content-Language" % mode)
    ct = (r.h("content-type") or "").replace(" ", "").lower()
    c.check(ct.startswith("text/plain") and "charset=utf-8" in ct,
            "[%s] Content-Type text/plain;charset=UTF-8" % mode, r.h("content-type"))
    c.eq(r.text(), BODY, "[%s] body" % mode)
    c.check(r.h("contact") is None, "[%s] no Contact in MESSAGE (RFC 3428)" % mode, r.h("contact"))
    err = jul.wait_message(lambda m: m["id"] == sid, timeout=0.5)
    c.check(err is None, "[%s] no error stanza came back for the delivered message" % mode,
            err and err["xml"])


def check_log(st):
    """Structured logging, one domain per folder, and never a message body (DESIGN.md §10),
    even with every debug domain on (the harness runs parleyd with G_MESSAGES_DEBUG=all)."""
    c = st.checks
    text = st.parley.text()
    for domain in ("parley-daemon", "parley-xmpp", "parley-sip", "parley-strophe", "parley-sofia"):
        c.check(domain in text, "log domain %s in parleyd's log" % domain)
    for needle in ("Grüße aus Köln", "Lunch? – Mittag", "Objet – été", H.SECRET):
        c.check(needle not in text, "parleyd's log does not contain %r" % needle)


def body(st):
    st.start_xmpp()
    st.start_kamailio()
    st.start_parleyd("direct")
    jul = st.client("juliet", "balcony")
    bob = st.sipp_uas("bob")
    for mode in ("direct", "escaped"):
        if mode == "escaped":
            check_log(st)
            rc = st.stop_parleyd()
            st.checks.eq(rc, 0, "parleyd exit code on SIGTERM")
            st.start_parleyd("escaped")
        sip_to_xmpp(st, jul, mode)
        xmpp_to_sip(st, jul, bob, mode)
    st.checks.check(st.parley_alive(), "parleyd still running")


H.run_test("page-mode", body)
