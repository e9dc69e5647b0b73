#!/usr/bin/python3
"""Service discovery of the component (XEP-0030), asked by a real client through the server.

disco#info to the component domain: identity category='gateway' type='simple' (there is no
'gateway/sip'), the disco#info, disco#items and 'jid\\20escaping' features; disco#items: an
empty result, never an error; an iq in an unknown namespace: service-unavailable."""
import xml.etree.ElementTree as ET

import harness as H

INFO = "http://jabber.org/protocol/disco#info"
ITEMS = "http://jabber.org/protocol/disco#items"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def body(st):
    c = st.checks
    st.start_xmpp()
    st.start_kamailio()
    st.start_parleyd("direct")
    jul = st.client("juliet", "disco")

    for target in (H.SIP_DOMAIN, "alice@" + H.SIP_DOMAIN):
        ev = jul.iq("<iq type='get' id='di-%s' to='%s'><query xmlns='%s'/></iq>"
                    % (target.replace("@", "-"), target, INFO), "di-" + target.replace("@", "-"))
        if not c.check(ev is not None and ev["type"] == "result",
                       "disco#info to %s answered with a result" % target, ev):
            continue
        q = ET.fromstring(ev["xml"]).find("{%s}query" % INFO)
        ids = [(i.get("category"), i.get("type")) for i in q.findall("{%s}identity" % INFO)]
        feats = {f.get("var") for f in q.findall("{%s}feature" % INFO)}
        c.eq(ids, [("gateway", "simple")], "identity of %s" % target)
        for f in (INFO, ITEMS, "jid\\20escaping"):
            c.check(f in feats, "feature %s advertised by %s" % (f, target), sorted(feats))

    ev = jul.iq("<iq type='get' id='dit' to='%s'><query xmlns='%s'/></iq>" % (H.SIP_DOMAIN, ITEMS),
                "dit")
    c.check(ev is not None and ev["type"] == "result", "disco#items answered with a result", ev)
    if ev:
        q = ET.fromstring(ev["xml"]).find("{%s}query" % ITEMS)
        c.check(q is not None and len(q) == 0, "disco#items is empty", ev["xml"])

    ev = jul.iq("<iq type='get' id='unk' to='%s'><query xmlns='urn:example:nothing'/></iq>"
                % H.SIP_DOMAIN, "unk")
    c.check(ev is not None and ev["type"] == "error"
            and ET.fromstring(ev["xml"]).find(".//{%s}service-unavailable" % STANZAS) is not None,
            "unknown iq namespace -> service-unavailable", ev and ev["xml"])
    c.check(st.parley_alive(), "parleyd still running")


H.run_test("disco", body)
