"""A SIP user agent + MSRP endpoint for Parley's integration tests; standard library only.

Written from RFC 3261 (SIP), RFC 4975/4976 (MSRP, relays) and RFC 6135 (a=setup), sharing no
code with parleyd: it is the independent peer the gateway's MSRP side is tested against.
Frames, SDP, CPIM and isComposing are in msrp_wire.py, the SIP user agent in sip_ua.py.

    peer = SipMsrpPeer("alice", domain="sip.test", proxy=("127.0.0.1", kam_port),
                       relay=None)          # or relay=("127.0.0.1", msrp_port): RFC 4976 AUTH
    peer.register()                        # -> final status (200)
    sess = peer.invite("sip:bob@sip.test") # INVITE with an MSRP offer; sess.established
    sess.send_text("hi")                   # SEND (chunk_size=, success_report=, delivery=...)
    other = peer_b.wait_session(5)         # an incoming INVITE, answered 200 with SDP
    m = other.wait_message(lambda m: m.text == "hi", 5)   # msrp_wire.Message
    sess.bye(); other.wait_closed(5); peer.close()

What it does
  SIP (sip_ua.SipUA): UDP or TCP via `proxy`, REGISTER, INVITE/ACK/BYE with Record-Route
  and Contact respected in the dialog, MESSAGE answered 200 and kept (peer.sip_messages),
  everything in peer.sip_log; peer.send_sip_message() for page mode.
  Incoming INVITEs are answered at once: peer.answer_code (200, or e.g. 488) and
  peer.answer_setup ('passive' listens, 'active' connects and sends a bodiless SEND).
  MSRP: one listening socket per peer (all its session URIs carry its port); the active side
  connects to the first URI of the peer's a=path (reusing a connection to the same address)
  and sends a bodiless SEND first (bind_send=False: the first message binds); incoming frames
  are dispatched by the session id of the To-Path URI, responses by transaction id.
  Received SENDs get `sess.respond_status` (200; none when Failure-Report is no/partial),
  are reassembled (sess.messages) and, with Success-Report: yes, acknowledged by a success
  REPORT (sess.auto_report). REPORTs go to sess.reports. Every frame is kept, raw and parsed
  (sess.frames_in / frames_out, peer.msrp_log).
  Adversarial delivery for any send: delivery="bytewise" (one byte per send(), byte_delay
  apart, TCP_NODELAY) or "together" (all frames of the call in one send()).
"""
import re
import socket
import threading
import time

import msrp_wire as W
from sip_ua import T1, Dialog, SipUA, _uri

DEFAULT_ACCEPT = ["message/cpim", "text/plain", "application/im-iscomposing+xml"]
DEFAULT_WRAPPED = ["text/plain", "application/im-iscomposing+xml"]


def start_kamailio_with_relay(stack, **kw):
    """Start Kamailio (harness.Stack) from examples/kamailio.cfg with its MSRP relay on a
    free port (stack.kam_msrp_port). kw: further start_kamailio() arguments."""
    import harness
    stack.kam_msrp_port = harness.free_port()
    env = dict(kw.pop("env_over", None) or {}, KAM_MSRP_PORT=str(stack.kam_msrp_port))
    stack.start_kamailio(env_over=env, **kw)
    harness.wait_port(stack.kam_msrp_port, 10, stack.kam)
    return stack.kam_msrp_port


class MsrpConnection:
    """One MSRP TCP connection with its own reader thread and incremental parser."""

    def __init__(self, peer, sock, outbound_to=None):
        self.peer, self.sock, self.outbound_to = peer, sock, outbound_to
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.local, self.remote = sock.getsockname(), sock.getpeername()
        self.parser, self.lock, self.closed, self.error = W.Parser(), threading.Lock(), False, None
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                for f in self.parser.feed(data):
                    self.peer._on_frame(self, f)
        except (OSError, W.MsrpParseError) as e:
            self.error = e
        self.closed = True
        with self.peer.cv:
            self.peer.cv.notify_all()

    def write(self, chunks, delivery="normal", byte_delay=0.001):
        """chunks: [bytes] (one per frame). normal: one sendall per frame; together: one
        sendall for all; bytewise: one byte per send()."""
        with self.lock:
            if delivery == "together":
                self.sock.sendall(b"".join(chunks))
            elif delivery == "bytewise":
                data = b"".join(chunks)
                for i in range(len(data)):
                    self.sock.sendall(data[i:i + 1])
                    time.sleep(byte_delay)
            else:
                for c in chunks:
                    self.sock.sendall(c)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class SendResult:
    def __init__(self, message_id, frames):
        self.message_id, self.frames, self.responses = message_id, frames, {}

    @property
    def statuses(self):
        """Response status per chunk, in order (None: no response)."""
        return [self.responses[f.tid].status if f.tid in self.responses else None
                for f in self.frames]


class MsrpSession:
    """One INVITE dialog with one MSRP media line. Created by SipMsrpPeer.invite() (uac) or
    for an incoming INVITE (uas, SipMsrpPeer.wait_session()). Attributes for assertions:
    established, state ('calling', 'established', 'failed', 'closed'), sip_final (UAC: final
    response), invite (UAS: the INVITE), local_sdp/remote_sdp (bytes), remote (sdp_parse
    dict), local_uri, local_path, setup (our role 'active'/'passive'), conn, messages,
    reports, responses ({tid: Frame}), frames_in, frames_out, bye_received."""

    def __init__(self, peer, role):
        self.peer, self.role = peer, role
        self.sid = W.new_id(10)
        self.local_uri = "msrp://%s:%d/%s;tcp" % (peer.host, peer.msrp_port, self.sid)
        self.local_path = list(peer.use_path) + [self.local_uri]
        self.state, self.established, self.bye_received = "calling", False, False
        self.dialog = self.sip_final = self.invite = self.conn = None
        self.local_sdp = self.remote_sdp = None
        self.remote, self.setup = {}, None
        self.messages, self.reports, self.responses = [], [], {}
        self.frames_in, self.frames_out = [], []
        self.respond_status, self.respond_comment, self.auto_report = 200, "OK", True
        self.bind_send = peer.bind_send
        self.reasm = W.Reassembler()

    # ---------------------------------------------------------------- media setup
    @property
    def to_path(self):
        """To-Path for our requests: our relays' Use-Path, then the peer's a=path."""
        return list(self.peer.use_path) + list(self.remote.get("path", []))

    def _start_media(self, remote_sdp, our_setup):
        self.remote_sdp, self.remote = remote_sdp, W.sdp_parse(remote_sdp)
        self.setup = our_setup
        if not self.remote["path"] or not self.remote["port"]:
            self.state = "failed"
            return
        self.state, self.established = "established", True
        if our_setup == "active" or self.peer.use_path:
            threading.Thread(target=self._connect_and_bind, daemon=True).start()

    def _connect_and_bind(self):
        try:
            conn = self.peer._connection_to(self.to_path[0])
        except OSError as e:
            self.peer._log("MSRP connect for %s failed: %s" % (self.sid, e))
            return
        with self.peer.cv:
            if self.conn is None:
                self.conn = conn
            self.peer.cv.notify_all()
        if self.bind_send and self.setup == "active":
            self.send_message(None, wait=False)

    def wait_connected(self, timeout=5.0):
        """The MSRP connection of this session (active: ours; passive: the one that sent the
        first request to our URI), or None."""
        return self.peer._wait(lambda: self.conn, timeout)

    # ---------------------------------------------------------------- sending
    def send_message(self, body, content_type="text/plain;charset=UTF-8", chunk_size=None,
                     success_report=None, failure_report=None, message_id=None,
                     delivery="normal", byte_delay=0.001, extra_headers=(), star_end="auto",
                     wait=True, timeout=10.0):
        """Send one message as SEND chunk(s). body: bytes/str, None = bodiless SEND.
        chunk_size: octets per chunk (None: one chunk). success_report/failure_report:
        'yes'/'no'/'partial' or None (header left out). star_end: 'auto' puts '*' as the
        range end of chunks over 2048 octets (RFC 4975 §7.1: interruptible), True always,
        False never. delivery: 'normal' | 'bytewise' | 'together' (see module doc). wait: wait
        up to timeout for the transaction responses (not when Failure-Report is no/partial).
        Returns a SendResult."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        mid = message_id or W.new_id()
        size = len(body or b"")
        frames = []
        for s, e in W.chunk_ranges(size, chunk_size):
            hdrs = [("Message-ID", mid)]
            star = star_end is True or (star_end == "auto" and e - s + 1 > 2048)
            hdrs.append(("Byte-Range", "%d-%s/%d" % (s, "*" if star else e, size)))
            if success_report:
                hdrs.append(("Success-Report", success_report))
            if failure_report:
                hdrs.append(("Failure-Report", failure_report))
            hdrs += list(extra_headers)
            frames.append(W.request("SEND", self.to_path, [self.local_uri], hdrs,
                                    None if body is None else body[s - 1:e], content_type,
                                    flag="$" if e >= size else "+"))
        res = SendResult(mid, frames)
        self.send_frames(frames, delivery, byte_delay, timeout)
        if wait and failure_report not in ("no", "partial"):
            for f in frames:
                r = self.wait_response(f.tid, timeout)
                if r is not None:
                    res.responses[f.tid] = r
        return res

    def send_text(self, text, **kw):
        """A text/plain;charset=UTF-8 message (send_message keywords apply)."""
        return self.send_message(text, "text/plain;charset=UTF-8", **kw)

    def send_cpim(self, text, inner_type="text/plain;charset=UTF-8", frm=None, to=None,
                  cpim_headers=(), **kw):
        """text (str/bytes) wrapped in message/cpim (From = our AoR, To = the remote URI
        unless given; cpim_headers: further [(name, value)], e.g. NS/imdn.*)."""
        if isinstance(text, str):
            text = text.encode("utf-8")
        body = W.cpim_wrap(text, inner_type, frm or self.peer.uri, to or self.remote_uri,
                           cpim_headers)
        return self.send_message(body, "message/cpim", **kw)

    def send_iscomposing(self, state="active", refresh=60, cpim=False, **kw):
        """An isComposing (RFC 3994) message, bare or inside message/cpim."""
        xml = W.iscomposing_xml(state, refresh)
        if cpim:
            return self.send_cpim(xml, "application/im-iscomposing+xml", **kw)
        return self.send_message(xml, "application/im-iscomposing+xml", **kw)

    def send_report(self, message_id, byte_range, status="000 200 OK", to_path=None, **kw):
        """A REPORT (no response is expected). to_path: default the original sender's
        From-Path as seen on the last received frame of that message, else our To-Path."""
        if to_path is None:
            prev = [f for f in self.frames_in if f.message_id == message_id and f.method == "SEND"]
            to_path = prev[-1].from_path if prev else self.to_path
        f = W.request("REPORT", to_path, [self.local_uri],
                      [("Message-ID", message_id), ("Byte-Range", byte_range), ("Status", status)])
        self.send_frames([f], **kw)
        return f

    def send_frames(self, frames, delivery="normal", byte_delay=0.001, timeout=10.0):
        """Write Frames (built with msrp_wire.request, or modified ones) on this session's
        connection; their tids are registered so responses reach this session."""
        conn = self.wait_connected(timeout)
        if conn is None:
            raise RuntimeError("MSRP session %s has no connection" % self.sid)
        with self.peer.cv:
            for f in frames:
                self.peer.tids[f.tid] = self
        data = [f.encode() for f in frames]
        conn.write(data, delivery, byte_delay)
        with self.peer.cv:
            self.frames_out += frames
            self.peer.msrp_log += [("out", conn, f) for f in frames]

    def send_raw(self, data, delivery="normal", byte_delay=0.001, timeout=10.0):
        """Arbitrary bytes on the session's connection (malformed-frame tests)."""
        self.wait_connected(timeout).write([data], delivery, byte_delay)

    # ---------------------------------------------------------------- waiting
    def wait_message(self, pred=lambda m: True, timeout=10.0):
        """First received complete Message satisfying pred (it stays in .messages), or None."""
        return self.peer._wait(lambda: next((m for m in self.messages if pred(m)), None), timeout)

    def wait_report(self, message_id=None, timeout=10.0):
        return self.peer._wait(lambda: next((r for r in self.reports if message_id in
                                             (None, r.message_id)), None), timeout)

    def wait_response(self, tid, timeout=10.0):
        return self.peer._wait(lambda: self.responses.get(tid), timeout)

    def wait_closed(self, timeout=10.0):
        """True once the dialog is over (BYE either way)."""
        return bool(self.peer._wait(lambda: self.state == "closed", timeout))

    # ---------------------------------------------------------------- SIP
    @property
    def remote_uri(self):
        return _uri(self.dialog.remote) if self.dialog else None

    def bye(self, timeout=5.0):
        """Send BYE in the dialog; returns the final status (None on timeout)."""
        tx = self.peer._send_in_dialog(self.dialog, "BYE")
        self.state = "closed"
        r = self.peer._wait(lambda: tx.final, timeout)
        return r.status if r else None


class SipMsrpPeer(SipUA):
    """A SIP user (sip:user@domain) with MSRP sessions. proxy: (host, port) of the SIP proxy
    (Kamailio). relay: (host, port) of an RFC 4976 MSRP relay to AUTH to at once (its
    Use-Path goes first in our a=path and To-Paths; all our frames use the AUTH connection).
    Settable: answer_code (200; >= 300 rejects INVITEs), answer_setup ('passive'/'active'),
    message_code (answer to MESSAGE), accept_types, wrapped_types, max_size, bind_send."""

    def __init__(self, user, domain="sip.test", proxy=("127.0.0.1", 5060), relay=None,
                 transport="udp", host="127.0.0.1", accept_types=None, wrapped_types=None,
                 max_size=None, bind_send=True, log=None):
        self.relay, self.host = relay, host
        self.accept_types = accept_types or list(DEFAULT_ACCEPT)
        self.wrapped_types = DEFAULT_WRAPPED if wrapped_types is None else wrapped_types
        self.max_size, self.bind_send = max_size, bind_send
        self.answer_code, self.answer_setup = 200, "passive"
        self.tids, self.sessions, self.incoming = {}, {}, []
        self.msrp_log, self.out_conns, self.conns, self.use_path = [], {}, [], []
        self.relay_conn = self.auth_response = None
        self.msrp_listener = socket.socket()
        self.msrp_listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.msrp_listener.bind((host, 0))
        self.msrp_listener.listen(16)
        self.msrp_port = self.msrp_listener.getsockname()[1]
        SipUA.__init__(self, user, domain, proxy, transport, host, log)
        threading.Thread(target=self._msrp_accept, daemon=True).start()
        if relay:
            self.msrp_auth()

    def invite(self, target, timeout=10.0, setup="actpass", extra_headers=(), sdp=None,
               accept_types=None, bind_send=None):
        """INVITE target (a SIP URI) through the proxy with an MSRP offer (a=setup `setup`;
        sdp: bytes to send instead). Waits for the final response: 2xx is ACKed and the
        media started (we are active unless the answer says a=setup:active), non-2xx ACKed
        by the transaction layer. Returns the MsrpSession (check .established/.sip_final)."""
        s = MsrpSession(self, "uac")
        if bind_send is not None:
            s.bind_send = bind_send
        s.local_sdp = sdp or W.sdp_offer(self.host, self.msrp_port, s.local_path,
                                         accept_types or self.accept_types, self.wrapped_types,
                                         setup, self.max_size)
        with self.cv:
            self.sessions[s.sid] = s
        r = self.send_invite(target, s, s.local_sdp, extra=extra_headers, timeout=timeout)
        s.sip_final = r
        if r is None or r.status >= 300:
            s.state = "failed"
            return s
        ans = W.sdp_parse(r.body)
        s._start_media(r.body, "passive" if ans["setup"] == "active" else "active")
        return s

    def wait_session(self, timeout=10.0):
        """The next incoming (answered) session, or None."""
        s = self._wait(lambda: self.incoming[0] if self.incoming else None, timeout)
        if s:
            with self.cv:
                self.incoming.remove(s)
        return s

    def _answer_invite(self, req):
        offer = W.sdp_parse(req.body)
        tag = W.new_id(4)
        if self.answer_code >= 300 or not offer["path"]:
            code = self.answer_code if self.answer_code >= 300 else 488
            reason = "Not Acceptable Here" if code == 488 else "Rejected"
            return self._respond(req, code, reason, tag)
        s = MsrpSession(self, "uas")
        s.invite = req
        our = "passive" if offer["setup"] == "active" else \
            "active" if offer["setup"] == "passive" else self.answer_setup
        s.local_sdp = W.sdp_offer(self.host, self.msrp_port, s.local_path, self.accept_types,
                                  self.wrapped_types, our, self.max_size)
        to = req.h("to") + ";tag=" + tag
        d = Dialog(req.h("call-id"), to, req.h("from"), _uri(req.h("contact") or ""),
                   [_uri(x) for x in req.all("record-route")], 0)
        s.dialog = d
        self.sessions[s.sid] = s
        self.dialogs[(d.call_id, tag)] = s
        resp = self._respond(req, 200, "OK", tag, s.local_sdp, "application/sdp")
        m = re.search(r"branch=([^;\s,]+)", req.h("via") or "")
        now = time.monotonic()
        self.server_txs[("", "2xx" + (m.group(1) if m else ""))] = {
            "resp": resp, "dest": req.source, "call_id": d.call_id, "rt2xx": True, "t0": now,
            "next": now + T1, "iv": T1}
        s._start_media(req.body, our)
        self.incoming.append(s)
        return resp

    # ---------------------------------------------------------------- MSRP
    def _msrp_accept(self):
        while self.running:
            try:
                sock, _ = self.msrp_listener.accept()
            except OSError:
                return
            with self.cv:
                self.conns.append(MsrpConnection(self, sock))

    def _connection_to(self, uri):
        """Our outbound connection for the first hop `uri` (the relay's AUTH connection when we
        use one; reused per host:port)."""
        if self.relay_conn is not None:
            return self.relay_conn
        u = W.parse_uri(uri)
        key = (u["host"], u["port"])
        with self.cv:
            c = self.out_conns.get(key)
            if c is not None and not c.closed:
                return c
        c = MsrpConnection(self, socket.create_connection(key, timeout=5), outbound_to=key)
        c.sock.settimeout(None)
        with self.cv:
            self.out_conns[key] = c
            self.conns.append(c)
        return c

    def msrp_auth(self, timeout=5.0):
        """RFC 4976 AUTH to self.relay; on 200 sets self.use_path (used in every later a=path
        and To-Path). Returns the response Frame (None on timeout)."""
        host, port = self.relay
        c = MsrpConnection(self, socket.create_connection((host, port), timeout=5))
        c.sock.settimeout(None)
        auth_uri = "msrp://%s:%d/%s;tcp" % (self.host, self.msrp_port, W.new_id())
        f = W.request("AUTH", ["msrp://%s:%d;tcp" % (host, port)], [auth_uri])
        with self.cv:
            self.tids[f.tid] = self
            self.conns.append(c)
        c.write([f.encode()])
        self.msrp_log.append(("out", c, f))
        r = self._wait(lambda: self.auth_response, timeout)
        if r is not None and r.status == 200:
            self.use_path = (r.h("Use-Path") or "").split()
            self.relay_conn = c
        return r

    def _on_frame(self, conn, f):
        with self.cv:
            self.msrp_log.append(("in", conn, f))
            if not f.is_request:
                owner = self.tids.get(f.tid)
                if owner is self:
                    self.auth_response = f
                elif owner is not None:
                    owner.frames_in.append(f)
                    owner.responses[f.tid] = f
                self.cv.notify_all()
                return
            to = f.to_path[-1] if f.to_path else ""
            u = W.parse_uri(to) or {}
            s = self.sessions.get(u.get("session"))
            if s is None:
                if f.method != "REPORT":
                    self._reply(conn, f, 481, "Session-does-not-exist", to)
                self.cv.notify_all()
                return
            if s.conn is None:
                s.conn = conn
            s.frames_in.append(f)
            if f.method == "SEND":
                fr = (f.h("Failure-Report") or "yes").lower()
                ok = s.respond_status == 200
                if fr == "yes" or (fr == "partial" and not ok):
                    self._reply(conn, f, s.respond_status, s.respond_comment, s.local_uri)
                if ok and not (f.body is None and (f.byte_range or (1, 0, 0))[2] in (0, None)):
                    msg = s.reasm.add(f)
                    if msg is not None:
                        s.messages.append(msg)
                        if s.auto_report and msg.success_report == "yes" and not msg.aborted:
                            n = len(msg.body)
                            rep = W.request("REPORT", f.from_path, [s.local_uri],
                                            [("Message-ID", msg.message_id),
                                             ("Byte-Range", "1-%d/%d" % (n, n)),
                                             ("Status", "000 200 OK")])
                            threading.Thread(target=s.send_frames, args=([rep],),
                                             daemon=True).start()
            elif f.method == "REPORT":
                s.reports.append(f)
            else:
                self._reply(conn, f, 501, "Unknown method", s.local_uri)
            self.cv.notify_all()

    def _reply(self, conn, req, status, comment, own_uri):
        r = W.response(req, status, comment, own_uri)
        try:
            conn.write([r.encode()])
        except OSError:
            return
        self.msrp_log.append(("out", conn, r))
        for sess in self.sessions.values():
            if own_uri == sess.local_uri:
                sess.frames_out.append(r)

    def close(self, unregister=False):
        """Stop threads and close every socket (unregister: REGISTER Expires 0 first)."""
        if unregister:
            self.register(expires=0, timeout=2)
        self.running = False
        for c in list(self.conns):
            c.close()
        self.msrp_listener.close()
        self.close_sip()
