#!/usr/bin/python3
"""Headless XMPP peer on slixmpp (Debian python3-slixmpp), driven over stdin/stdout in JSON lines.

A client (default) logs in with JID/password; with --component it is a XEP-0114 component
(used to check a server's component port before parleyd exists). Nothing is validated or
"fixed" here: the point is to see exactly what the server delivers.

stdout, one JSON object per line:
  {"event": "online", "jid": "juliet@xmpp.test/res"}
  {"event": "message", "from", "to", "id", "type", "lang", "subject", "thread", "body",
   "error_type", "error_condition", "error_text", "receipt_request", "receipt_id", "markable",
   "displayed_id", "chat_state", "origin_id", "delay", "xml"}   (absent fields are null/false)
  {"event": "iq", "id", "type", "from", "xml"}   an iq result or error (answers to "raw" iqs)
  {"event": "sent", "id": ...}       after each send command
  {"event": "disconnected"}          {"event": "failed", "reason": ...}
stdin, one JSON object per line:
  {"op": "send", "to", "body", "subject", "thread", "lang", "type", "id", "from", "chat_state",
   "receipt", "markable", "received", "displayed", "origin_id"}
        ("from" only for a component; absent keys are left out of the stanza; chat_state is an
        XEP-0085 element name, receipt/markable add <request/>/<markable/>, received/displayed
        the XEP-0184/XEP-0333 answer for that id, origin_id an XEP-0359 <origin-id/>)
  {"op": "raw", "xml": "<message .../>"}   sent as it is (invalid JIDs, odd types)
  {"op": "quit"}
usage: xmpp_client.py JID SECRET HOST PORT [--component]
"""
import asyncio
import json
import os
import sys
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

import slixmpp
from slixmpp.componentxmpp import ComponentXMPP
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def out(obj):
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def child_text(xml, name):
    # the stanza namespace is jabber:client or jabber:component:accept; match any
    for el in xml:
        if el.tag.rsplit("}", 1)[-1] == name and el.tag.startswith("{jabber:"):
            return el.text or ""
    return None


def describe(msg):
    xml = msg.xml
    rec = {"event": "message", "from": xml.get("from"), "to": xml.get("to"),
           "id": xml.get("id"), "type": xml.get("type"), "lang": xml.get(XML_LANG),
           "subject": child_text(xml, "subject"), "thread": child_text(xml, "thread"),
           "body": child_text(xml, "body"),
           "error_type": None, "error_condition": None, "error_text": None}
    for el in xml:
        if el.tag.rsplit("}", 1)[-1] == "error":
            rec["error_type"] = el.get("type")
            for c in el:
                ns, _, local = c.tag[1:].partition("}")
                if ns == STANZAS and local == "text":
                    rec["error_text"] = c.text or ""
                elif ns == STANZAS:
                    rec["error_condition"] = local
    # receipts, markers, chat states, stanza ids (mapping-docs/receipts.md)
    rec.update(receipt_request=False, receipt_id=None, markable=False, displayed_id=None,
               chat_state=None, origin_id=None, delay=None)
    for el in xml:
        ns, _, local = el.tag[1:].partition("}")
        if ns == "urn:xmpp:receipts" and local == "request":
            rec["receipt_request"] = True
        elif ns == "urn:xmpp:receipts" and local == "received":
            rec["receipt_id"] = el.get("id")
        elif ns == "urn:xmpp:chat-markers:0" and local == "markable":
            rec["markable"] = True
        elif ns == "urn:xmpp:chat-markers:0" and local == "displayed":
            rec["displayed_id"] = el.get("id")
        elif ns == "http://jabber.org/protocol/chatstates":
            rec["chat_state"] = local
        elif ns == "urn:xmpp:sid:0" and local == "origin-id":
            rec["origin_id"] = el.get("id")
        elif ns == "urn:xmpp:delay" and local == "delay":
            rec["delay"] = el.get("stamp")
    rec["xml"] = ET.tostring(xml, encoding="unicode")
    return rec


def build_xml(cmd, default_from=None):
    attrs = []
    frm = cmd.get("from", default_from)
    if frm is not None:
        attrs.append("from=" + quoteattr(frm))
    for key in ("to", "id", "type"):
        if cmd.get(key) is not None:
            attrs.append("%s=%s" % (key, quoteattr(cmd[key])))
    if cmd.get("lang") is not None:
        attrs.append("xml:lang=" + quoteattr(cmd["lang"]))
    inner = ""
    for key in ("subject", "thread", "body"):
        if cmd.get(key) is not None:
            # CR must survive the XML parser as a character reference
            inner += "<%s>%s</%s>" % (key, escape(cmd[key]).replace("\r", "&#13;"), key)
    if cmd.get("chat_state"):
        inner += "<%s xmlns='http://jabber.org/protocol/chatstates'/>" % cmd["chat_state"]
    if cmd.get("receipt"):
        inner += "<request xmlns='urn:xmpp:receipts'/>"
    if cmd.get("markable"):
        inner += "<markable xmlns='urn:xmpp:chat-markers:0'/>"
    if cmd.get("received"):
        inner += "<received xmlns='urn:xmpp:receipts' id=%s/>" % quoteattr(cmd["received"])
    if cmd.get("displayed"):
        inner += "<displayed xmlns='urn:xmpp:chat-markers:0' id=%s/>" % quoteattr(cmd["displayed"])
    if cmd.get("origin_id"):
        inner += "<origin-id xmlns='urn:xmpp:sid:0' id=%s/>" % quoteattr(cmd["origin_id"])
    return "<message %s>%s</message>" % (" ".join(attrs), inner)


class Peer:
    def __init__(self, xmpp, component):
        self.xmpp = xmpp
        self.component = component
        xmpp.add_event_handler("session_start", self.start)
        self._stdin_buf = b""
        # every <message/> of any type (slixmpp's "message" event skips errors)
        xmpp.register_handler(Callback("parley-all-messages",
                                       MatchXPath("{%s}message" % xmpp.default_ns),
                                       self.on_message))
        # answers to iqs sent with "raw" (disco): results and errors, printed whole
        xmpp.register_handler(Callback("parley-iq-answers",
                                       MatchXPath("{%s}iq" % xmpp.default_ns),
                                       self.on_iq))
        xmpp.add_event_handler("disconnected", lambda e: out({"event": "disconnected"}))
        xmpp.add_event_handler("failed_auth", lambda e: out({"event": "failed", "reason": "auth"}))

    async def start(self, _event):
        if not self.component:
            self.xmpp.send_presence()
        out({"event": "online", "jid": str(self.xmpp.boundjid)})
        loop = asyncio.get_event_loop()
        loop.add_reader(sys.stdin.fileno(), self.on_stdin)

    def on_iq(self, iq):
        xml = iq.xml
        if xml.get("type") in ("result", "error"):
            out({"event": "iq", "id": xml.get("id"), "type": xml.get("type"),
                 "from": xml.get("from"), "xml": ET.tostring(xml, encoding="unicode")})

    def on_message(self, msg):
        out(describe(msg))

    def on_stdin(self):
        # Read the raw fd: a buffered readline() would keep further lines of the same read in
        # Python's buffer while the fd no longer polls readable, so they would wait for the
        # next write (a burst of sends would go out one per later command).
        data = os.read(sys.stdin.fileno(), 65536)
        if not data:
            self.quit()
            return
        self._stdin_buf += data
        *lines, self._stdin_buf = self._stdin_buf.split(b"\n")
        for line in lines:
            line = line.strip()
            if line:
                self.command(json.loads(line))

    def command(self, cmd):
        op = cmd.get("op")
        if op == "send":
            frm = None if not self.component else str(self.xmpp.boundjid)
            self.xmpp.send_raw(build_xml(cmd, frm))
            out({"event": "sent", "id": cmd.get("id")})
        elif op == "raw":
            self.xmpp.send_raw(cmd["xml"])
            out({"event": "sent", "id": None})
        elif op == "quit":
            self.quit()

    def quit(self):
        try:
            asyncio.get_event_loop().remove_reader(sys.stdin.fileno())
        except Exception:
            pass
        self.xmpp.disconnect(wait=1)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    component = "--component" in sys.argv
    jid, secret, host, port = args[0], args[1], args[2], int(args[3])
    if component:
        xmpp = ComponentXMPP(jid, secret, host, port)
    else:
        xmpp = slixmpp.ClientXMPP(jid, secret)
    Peer(xmpp, component)
    if component:
        xmpp.connect()
    else:
        xmpp.connect((host, port), disable_starttls=True, force_starttls=False)
    xmpp.loop.run_until_complete(xmpp.disconnected)


if __name__ == "__main__":
    main()
