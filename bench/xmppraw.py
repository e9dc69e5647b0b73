#!/usr/bin/python3
"""A minimal, fast XMPP client for the benchmark (not a general client).

Plain TCP, SASL PLAIN, resource binding, initial presence; then it only counts. Incoming data
is not parsed as XML: stanzas are found by their closing tag, and benchmark bodies by a
pattern ("<letter><seq> ... <epoch seconds>.<micro>" as sipp's [timestamp] writes it, or as
this client writes it when sending). That keeps it far faster than the XMPP server and the
gateways it measures (its own ceiling is measured in every run, client -> client).

Driven by JSON lines on stdin, answers JSON lines on stdout:
  {"op":"reset"}                                  clear the receive counters
  {"op":"stats"}                                  -> {"unique","total","errors","lat_ms":{...}}
  {"op":"send","to":[jid,...],"rate":R,"count":N,"prefix":"X","type":"chat"}
                                                  send N messages round-robin at R/s
                                                  (type: the stanzas' type, default chat)
                                                  -> {"event":"sent","sent","elapsed"}
  {"op":"quit"}
Usage: xmppraw.py JID PASSWORD HOST PORT
"""
import asyncio
import base64
import json
import socket
import re
import sys
import threading
import time

COND = re.compile(rb"<([a-z-]+) xmlns=['\"]urn:ietf:params:xml:ns:xmpp-stanzas['\"]")
BODY = re.compile(rb"<body>[A-Z](\d+)\s[^<]*?(\d{10}\.\d{6})")
END = b"</message>"


class Client:
    def __init__(self, jid, password, host, port):
        self.user, _, rest = jid.partition("@")
        self.domain, _, self.resource = rest.partition("/")
        self.password = password
        self.host, self.port = host, int(port)
        self.reset()
        self.buf = b""

    def reset(self):
        self.seen = set()
        self.total = 0
        self.errors = 0
        self.conditions = {}      # error condition -> count
        self.lat = []             # seconds, one per message with a timestamp
        self.first = self.last = None

    # ------------------------------------------------------------------ login
    async def _until(self, token):
        while token not in self.buf:
            data = await self.r.read(65536)
            if not data:
                raise ConnectionError("closed while waiting for %r: %r" % (token, self.buf[-300:]))
            self.buf += data
        head, _, self.buf = self.buf.partition(token)
        return head

    def _open(self):
        self.w.write(("<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
                      "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
                      % self.domain).encode())

    async def login(self):
        self.r, self.w = await asyncio.open_connection(self.host, self.port, limit=1 << 22)
        self.sock = self.w.get_extra_info("socket")
        # no Nagle on our writes, and ACK at once what we read (Prosody's own writes are
        # Nagled; a delayed ACK here would add up to 40 ms to every figure, tool-made)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._quickack()
        self._open()
        await self._until(b"</stream:features>")
        cred = base64.b64encode(("\0%s\0%s" % (self.user, self.password)).encode()).decode()
        self.w.write(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>"
                      % cred).encode())
        head = await self._until(b">")
        if b"<success" not in head:
            rest = await self._until(b"</failure>") if b"<failure" in head else b""
            raise ConnectionError("SASL failed: %r" % (head + rest))
        self.buf = b""
        self._open()
        await self._until(b"</stream:features>")
        self.w.write(("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                      "<resource>%s</resource></bind></iq>" % self.resource).encode())
        await self._until(b"</iq>")
        self.w.write(b"<iq type='set' id='sess1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>"
                     b"<presence/>")
        await self.w.drain()

    def _quickack(self):
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except (OSError, AttributeError):
            pass

    # ------------------------------------------------------------------ receive
    def _consume(self, data, now):
        buf = self.buf + data
        cut = buf.rfind(END)
        if cut < 0:
            self.buf = buf
            return
        cut += len(END)
        chunk, self.buf = buf[:cut], buf[cut:]
        n = chunk.count(END)
        self.total += n
        if b"type='error'" in chunk or b'type="error"' in chunk:
            self.errors += chunk.count(b"type='error'") + chunk.count(b'type="error"')
            for m in COND.finditer(chunk):
                k = m.group(1).decode()
                if k != "text":
                    self.conditions[k] = self.conditions.get(k, 0) + 1
        for m in BODY.finditer(chunk):
            seq = int(m.group(1))
            if seq not in self.seen:
                self.seen.add(seq)
                self.lat.append(now - float(m.group(2)))
        if self.first is None:
            self.first = now
        self.last = now

    async def reader(self):
        while True:
            data = await self.r.read(1 << 20)
            if not data:
                emit(event="closed")
                return
            self._consume(data, time.time())
            self._quickack()

    def stats(self):
        lat = sorted(self.lat)

        def pct(p):
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 3) if lat else None
        return dict(event="stats", unique=len(self.seen), total=self.total, errors=self.errors,
                    conditions=self.conditions,
                    lat_ms=dict(p50=pct(0.50), p99=pct(0.99), max=pct(1.0), n=len(lat)),
                    first=self.first, last=self.last)

    # ------------------------------------------------------------------ send
    async def send(self, to, rate, count, prefix="X", mtype="chat"):
        t0 = time.monotonic()
        sent = 0
        esc_to = [t.replace("&", "&amp;").replace("'", "&apos;") for t in to]
        nto = len(esc_to)
        while sent < count:
            due = min(count, int((time.monotonic() - t0) * rate) + 1)
            if due > sent:
                wall = time.time()
                parts = []
                for i in range(sent, due):
                    parts.append("<message type='%s' to='%s' id='b%d'><body>%s%d %.6f</body></message>"
                                 % (mtype, esc_to[i % nto], i, prefix, i + 1, wall))
                self.w.write("".join(parts).encode())
                sent = due
                await self.w.drain()
            await asyncio.sleep(0.002)
        return dict(event="sent", sent=sent, elapsed=round(time.monotonic() - t0, 4))


def emit(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


async def main():
    jid, pw, host, port = sys.argv[1:5]
    c = Client(jid, pw, host, port)
    await c.login()
    loop = asyncio.get_running_loop()
    cmds = asyncio.Queue()

    def stdin_thread():
        for line in sys.stdin:
            loop.call_soon_threadsafe(cmds.put_nowait, line)
        loop.call_soon_threadsafe(cmds.put_nowait, '{"op":"quit"}')
    threading.Thread(target=stdin_thread, daemon=True).start()
    reader = asyncio.ensure_future(c.reader())
    emit(event="online")
    sending = None
    while True:
        line = await cmds.get()
        try:
            cmd = json.loads(line)
        except ValueError:
            continue
        op = cmd.get("op")
        if op == "reset":
            c.reset()
            emit(event="reset")
        elif op == "stats":
            emit(**c.stats())
        elif op == "send":
            async def run(cmd=cmd):
                emit(**(await c.send(cmd["to"], cmd["rate"], cmd["count"], cmd.get("prefix", "X"),
                                      cmd.get("type", "chat"))))
            sending = asyncio.ensure_future(run())
        elif op == "quit":
            break
    if sending:
        sending.cancel()
    reader.cancel()
    try:
        c.w.write(b"</stream:stream>")
        await c.w.drain()
        c.w.close()
    except Exception:
        pass


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except ConnectionError as e:
        emit(event="failed", error=str(e))
        sys.exit(1)
