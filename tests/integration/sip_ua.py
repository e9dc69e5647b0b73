"""A small SIP user agent (RFC 3261) for the integration tests' MSRP peer (msrp_peer.py);
standard library only, written independently of parleyd's SIP code.

SIP over UDP (or TCP: transport="tcp"). Everything out of dialog goes to `proxy`; in-dialog
requests follow the route set (Record-Route) and the remote target (Contact) as RFC 3261 §12
says. REGISTER, page-mode MESSAGE out; INVITE client transactions (ACK for 2xx in the dialog,
ACK for non-2xx hop by hop, 2xx retransmissions re-ACKed); BYE both ways; MESSAGE and OPTIONS
(also NOTIFY/INFO/UPDATE, re-INVITE) answered 200 and MESSAGEs recorded (sip_messages); every
message in and out in sip_log. UDP retransmits requests (T1 doubling, 4 s cap) and a UAS
2xx until the ACK. An incoming INVITE goes to the subclass hook _answer_invite(req).
"""
import re
import socket
import threading
import time

import msrp_wire as W

COMPACT = {"f": "from", "t": "to", "i": "call-id", "c": "content-type", "l": "content-length",
           "v": "via", "m": "contact", "s": "subject", "k": "supported"}
T1 = 0.5


class SipMessage:
    """A parsed SIP request/response; headers keep wire order, names compared lowercase with
    compact forms expanded."""

    def __init__(self, raw, source=None):
        self.raw, self.source = raw, source
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("utf-8", "replace").split("\r\n")
        self.start = lines[0]
        self.headers = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.headers:
                self.headers[-1] = (self.headers[-1][0], self.headers[-1][1] + " " + line.strip())
                continue
            n, _, v = line.partition(":")
            self.headers.append((n.strip(), v.strip()))
        self.time = time.monotonic()

    @property
    def is_request(self):
        return not self.start.startswith("SIP/2.0")

    @property
    def method(self):
        return self.start.split()[0] if self.is_request else None

    @property
    def status(self):
        return None if self.is_request else int(self.start.split()[1])

    @property
    def ruri(self):
        return self.start.split()[1] if self.is_request else None

    def all(self, name):
        """Every value of a header; comma-joined lists split (outside <> and quotes)."""
        name = name.lower()
        out = []
        for n, v in self.headers:
            if COMPACT.get(n.lower(), n.lower()) == name:
                lists = ("via", "route", "record-route", "contact")
                out += _split_list(v) if name in lists else [v]
        return out

    def h(self, name):
        v = self.all(name)
        return v[0] if v else None

    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<SIP %s>" % self.start


def _split_list(v):
    out, cur, depth, quote = [], "", 0, False
    for ch in v:
        if ch == '"':
            quote = not quote
        elif not quote and ch == "<":
            depth += 1
        elif not quote and ch == ">":
            depth -= 1
        if ch == "," and depth == 0 and not quote:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return out + [cur.strip()] if cur.strip() else out


def _uri(nameaddr):
    """The URI of a name-addr (<...>) or addr-spec (params after ';' dropped)."""
    m = re.search(r"<([^>]*)>", nameaddr)
    return m.group(1) if m else nameaddr.split(";")[0].strip()


def _tag(hdr):
    m = re.search(r";\s*tag=([^;>\s]+)", hdr.split(">")[-1] if ">" in hdr else hdr)
    return m.group(1) if m else None


def _hostport(uri):
    m = re.match(r"sips?:(?:[^@]*@)?(\[[^\]]+\]|[^:;>?]+)(?::(\d+))?", uri)
    return m.group(1).strip("[]"), int(m.group(2) or 5060)


def _build(start, headers, body=b"", ctype=None):
    if body and ctype:
        headers = list(headers) + [("Content-Type", ctype)]
    lines = [start] + ["%s: %s" % h for h in headers] + ["Content-Length: %d" % len(body)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Dialog:
    def __init__(self, call_id, local_from, remote_to, remote_target, route_set, cseq):
        self.call_id, self.local, self.remote = call_id, local_from, remote_to
        self.remote_target, self.route_set, self.cseq = remote_target, route_set, cseq


class ClientTx:
    def __init__(self, method, data, dest, branch):
        self.method, self.data, self.dest, self.branch = method, data, dest, branch
        self.responses, self.final, self.ack = [], None, None
        self.interval, self.next_rt, self.started = T1, time.monotonic() + T1, time.monotonic()
        self.owner = None           # INVITE: the object whose .dialog the 2xx creates


class SipUA:
    """A SIP user sip:user@domain on host (a free port), talking to proxy (host, port)."""

    def __init__(self, user, domain="sip.test", proxy=("127.0.0.1", 5060), transport="udp",
                 host="127.0.0.1", log=None):
        self.user, self.domain, self.proxy = user, domain, tuple(proxy)
        self.transport, self.host, self._logf = transport.lower(), host, log
        self.uri = "sip:%s@%s" % (user, domain)
        self.message_code = 200
        self.cv = threading.Condition()
        self.txs, self.server_txs, self.dialogs = {}, {}, {}
        self.sip_log, self.sip_messages = [], []
        self.running = True
        # UDP always (its port is also the TCP port), a TCP listener for transport tcp
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((host, 0))
        self.sip_port = self.udp.getsockname()[1]
        self.tcp_listener, self.tcp_conns = None, {}
        if self.transport == "tcp":
            self.tcp_listener = socket.socket()
            self.tcp_listener.bind((host, self.sip_port))
            self.tcp_listener.listen(16)
            threading.Thread(target=self._tcp_accept, daemon=True).start()
        threading.Thread(target=self._udp_loop, daemon=True).start()

    def _log(self, *a):
        if self._logf:
            self._logf("[%s] " % self.user + " ".join(str(x) for x in a))

    def _wait(self, pred, timeout):
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                r = pred()
                if r or time.monotonic() >= deadline:
                    return r
                self.cv.wait(min(0.1, max(0.0, deadline - time.monotonic())))

    # ---------------------------------------------------------------- SIP transport
    def _contact(self):
        t = ";transport=tcp" if self.transport == "tcp" else ""
        return "<sip:%s@%s:%d%s>" % (self.user, self.host, self.sip_port, t)

    def _via(self, branch):
        return "SIP/2.0/%s %s:%d;branch=%s;rport" % (self.transport.upper(), self.host,
                                                      self.sip_port, branch)

    def _send_raw(self, data, dest):
        if self.transport == "udp":
            self.udp.sendto(data, dest)
            return
        sock = self.tcp_conns.get(dest)
        if sock is None:
            sock = socket.create_connection(dest, timeout=5)
            sock.settimeout(None)
            self.tcp_conns[dest] = sock
            threading.Thread(target=self._tcp_reader, args=(sock, dest), daemon=True).start()
        sock.sendall(data)

    def _tcp_accept(self):
        while self.running:
            try:
                sock, addr = self.tcp_listener.accept()
            except OSError:
                return
            self.tcp_conns[addr] = sock
            threading.Thread(target=self._tcp_reader, args=(sock, addr), daemon=True).start()

    def _tcp_reader(self, sock, addr):
        buf = b""
        while self.running:
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            buf += data
            while b"\r\n\r\n" in buf:
                head = buf.split(b"\r\n\r\n", 1)[0]
                m = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
                n = len(head) + 4 + (int(m.group(1)) if m else 0)
                if len(buf) < n:
                    break
                msg, buf = buf[:n], buf[n:]
                self._on_sip(msg, addr)
        self.tcp_conns.pop(addr, None)

    def _udp_loop(self):
        self.udp.settimeout(0.05)
        while self.running:
            try:
                data, addr = self.udp.recvfrom(65535)
                self._on_sip(data, addr)
            except socket.timeout:
                pass
            except OSError:
                return
            self._timers()

    def _timers(self):
        if self.transport != "udp":
            return
        now = time.monotonic()
        with self.cv:
            for tx in list(self.txs.values()):
                done = tx.final is not None or (tx.method == "INVITE" and tx.responses)
                if done or now - tx.started > 32:
                    continue
                if now >= tx.next_rt:
                    self.udp.sendto(tx.data, tx.dest)
                    tx.interval = min(tx.interval * 2, 4.0)
                    tx.next_rt = now + tx.interval
            for key, st in list(self.server_txs.items()):
                if st.get("rt2xx") and now >= st["next"] and now - st["t0"] < 32:
                    self.udp.sendto(st["resp"], st["dest"])
                    st["iv"] = min(st["iv"] * 2, 4.0)
                    st["next"] = now + st["iv"]

    # ---------------------------------------------------------------- SIP requests out
    def _request(self, method, ruri, frm, to, call_id, cseq, routes=(), body=b"", ctype=None,
                 extra=(), dest=None, branch=None, owner=None):
        branch = branch or "z9hG4bK" + W.new_id()
        hdrs = [("Via", self._via(branch)), ("Max-Forwards", "70")]
        hdrs += [("Route", r) for r in routes]
        hdrs += [("From", frm), ("To", to), ("Call-ID", call_id),
                 ("CSeq", "%d %s" % (cseq, method))]
        if method not in ("BYE", "MESSAGE", "ACK", "CANCEL"):
            hdrs.append(("Contact", self._contact()))
        hdrs += list(extra)
        data = _build("%s %s SIP/2.0" % (method, ruri), hdrs, body, ctype)
        if dest is None:
            dest = _hostport(_uri(routes[0])) if routes else self.proxy
        tx = ClientTx(method, data, dest, branch)
        tx.owner = owner     # before the send: the answer may come back at once
        if method != "ACK":
            with self.cv:
                self.txs[branch] = tx
        self.sip_log.append(("out", SipMessage(data)))
        self._send_raw(data, dest)
        return tx

    def _send_in_dialog(self, d, method, body=b"", ctype=None, extra=(), cseq=None):
        if cseq is None:
            d.cseq += 1
        routes = ["<%s>" % r for r in d.route_set]
        dest = _hostport(d.route_set[0]) if d.route_set else _hostport(d.remote_target)
        return self._request(method, d.remote_target, d.local, d.remote, d.call_id,
                             cseq or d.cseq, routes, body, ctype, extra, dest=dest)

    def register(self, expires=600, timeout=5.0):
        """REGISTER our Contact for sip:user@domain at the proxy; returns the final status."""
        tx = self._request("REGISTER", "sip:" + self.domain,
                           "<%s>;tag=%s" % (self.uri, W.new_id(4)), "<%s>" % self.uri,
                           W.new_id() + "@" + self.host, 1, extra=[("Expires", str(expires))])
        r = self._wait(lambda: tx.final, timeout)
        return r.status if r else None

    def send_sip_message(self, to, text, ctype="text/plain;charset=UTF-8", timeout=5.0):
        """A page-mode MESSAGE via the proxy; returns the final status."""
        body = text.encode("utf-8") if isinstance(text, str) else text
        tx = self._request("MESSAGE", to, "<%s>;tag=%s" % (self.uri, W.new_id(4)), "<%s>" % to,
                           W.new_id() + "@" + self.host, 1, body=body, ctype=ctype)
        r = self._wait(lambda: tx.final, timeout)
        return r.status if r else None

    def wait_sip_message(self, pred=lambda m: True, timeout=10.0):
        """First received SIP MESSAGE (SipMessage) satisfying pred, or None."""
        return self._wait(lambda: next((m for m in self.sip_messages if pred(m)), None), timeout)

    # ---------------------------------------------------------------- SIP in
    def _respond(self, req, code, reason, to_tag=None, body=b"", ctype=None, extra=()):
        hdrs = [("Via", v) for v in req.all("via")]
        to = req.h("to")
        if to_tag and _tag(to) is None:
            to += ";tag=" + to_tag
        hdrs += [("From", req.h("from")), ("To", to), ("Call-ID", req.h("call-id")),
                 ("CSeq", req.h("cseq"))]
        if req.method == "INVITE" and 100 < code < 300:
            hdrs += [("Record-Route", r) for r in req.all("record-route")]
            hdrs.append(("Contact", self._contact()))
        data = _build("SIP/2.0 %d %s" % (code, reason), hdrs + list(extra), body, ctype)
        self.sip_log.append(("out", SipMessage(data)))
        self._send_raw(data, req.source)
        return data

    def _on_sip(self, data, addr):
        if not data.strip():
            return
        msg = SipMessage(data, addr)
        with self.cv:
            self.sip_log.append(("in", msg))
            if msg.is_request:
                self._on_request(msg)
            else:
                self._on_response(msg)
            self.cv.notify_all()

    def _on_response(self, r):
        via = r.h("via") or ""
        m = re.search(r"branch=([^;\s,]+)", via)
        tx = self.txs.get(m.group(1)) if m else None
        if tx is None:
            return
        tx.responses.append(r)
        if r.status < 200:
            return
        if tx.method == "INVITE":
            if r.status >= 300:      # ACK for non-2xx: same branch, hop by hop
                req = SipMessage(tx.data)
                ack = _build("ACK %s SIP/2.0" % req.ruri,
                             [("Via", req.h("via")), ("Max-Forwards", "70"),
                              ("From", req.h("from")), ("To", r.h("to")),
                              ("Call-ID", req.h("call-id")),
                              ("CSeq", "%s ACK" % req.h("cseq").split()[0])])
                self.sip_log.append(("out", SipMessage(ack)))
                self._send_raw(ack, tx.dest)
            elif tx.ack is None:
                rr = [_uri(x) for x in reversed(r.all("record-route"))]
                d = Dialog(r.h("call-id"), r.h("from"), r.h("to"), _uri(r.h("contact") or ""),
                           rr, 1)
                tx.owner.dialog = d
                self.dialogs[(d.call_id, _tag(d.local))] = tx.owner
                tx.ack = self._send_in_dialog(d, "ACK", cseq=1).data
            else:
                self._send_raw(tx.ack, _hostport(tx.owner.dialog.route_set[0]) if
                               tx.owner.dialog.route_set else
                               _hostport(tx.owner.dialog.remote_target))
        if tx.final is None:
            tx.final = r

    def _on_request(self, req):
        m = re.search(r"branch=([^;\s,]+)", req.h("via") or "")
        key = (m.group(1) if m else "", req.method)
        old = self.server_txs.get(key)
        if old and req.method != "ACK":
            self._send_raw(old["resp"], req.source)        # retransmission
            return
        to_tag = _tag(req.h("to") or "")
        sess = self.dialogs.get((req.h("call-id"), to_tag)) if to_tag else None
        meth = req.method
        if meth == "ACK":
            for st in self.server_txs.values():
                if st.get("call_id") == req.h("call-id"):
                    st["rt2xx"] = False
            return
        if meth == "INVITE" and not to_tag:
            resp = self._answer_invite(req)
        elif meth == "BYE":
            if sess is None:
                resp = self._respond(req, 481, "Call/Transaction Does Not Exist")
            else:
                sess.state, sess.bye_received = "closed", True
                resp = self._respond(req, 200, "OK")
        elif meth == "MESSAGE":
            self.sip_messages.append(req)
            resp = self._respond(req, self.message_code, "OK" if self.message_code < 300
                                 else "Rejected", W.new_id(4))
        elif meth in ("OPTIONS", "NOTIFY", "INFO", "UPDATE") or \
                (meth == "INVITE" and sess is not None):
            resp = self._respond(req, 200, "OK", W.new_id(4))
        elif meth == "CANCEL":
            resp = self._respond(req, 200, "OK")
        else:
            resp = self._respond(req, 405, "Method Not Allowed", W.new_id(4))
        self.server_txs[key] = {"resp": resp, "dest": req.source, "call_id": req.h("call-id")}


    def send_invite(self, target, owner, body, ctype="application/sdp", extra=(), timeout=10.0):
        """INVITE target via the proxy; owner gets .dialog on a 2xx (ACKed at once). Returns
        the final response (None on timeout)."""
        frm = "<%s>;tag=%s" % (self.uri, W.new_id(4))
        tx = self._request("INVITE", target, frm, "<%s>" % target, W.new_id() + "@" + self.host,
                           1, body=body, ctype=ctype, extra=list(extra), owner=owner)
        return self._wait(lambda: tx.final, timeout)

    def _answer_invite(self, req):
        """Hook for a dialog-creating INVITE: returns the response bytes sent."""
        return self._respond(req, 488, "Not Acceptable Here", W.new_id(4))

    def close_sip(self):
        self.running = False
        for sock in [self.udp, self.tcp_listener] + list(self.tcp_conns.values()):
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
