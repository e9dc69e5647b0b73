#!/usr/bin/python3
"""The admin socket and parleyctl against a running parleyd (Prosody + Kamailio, so the link
states are real): every method through parleyctl (tables and --json, exit codes) and through
a raw socket; malformed JSON, unknown methods, wrong params and an oversize request (JSON-RPC
error codes; the connection survives, or closes cleanly after an oversize line); a client
that never reads while the gateway keeps relaying; many clients at once and max_clients;
config.reload (live keys applied, restart-only keys reported, a bad file refused); a client
from another uid refused (file mode and SO_PEERCRED), allowed with mode 0660 and its group;
a stale socket replaced after a crash; the metrics parsed by promtool."""
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import harness as H

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
NOBODY_IN_USERS = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--groups=users"]


def parleyctl_path(st):
    path = os.environ.get("PARLEYCTL") or os.path.join(os.path.dirname(st.parleyd_path()),
                                                       "parleyctl")
    if not os.path.exists(path):
        raise RuntimeError("parleyctl not found next to parleyd (%s)" % path)
    # a copy in the stack's directory, so that `nobody` can run it whatever the build path
    copy = os.path.join(st.dir, "parleyctl")
    if not os.path.exists(copy):
        shutil.copy(path, copy)
        os.chmod(copy, 0o755)
    return copy


def ctl(st, *args, sock=None, prefix=(), as_json=False):
    argv = list(prefix) + [parleyctl_path(st), "--socket", sock or st.admin_socket]
    if as_json:
        argv.append("--json")
    r = subprocess.run(argv + list(args), capture_output=True, timeout=30)
    out = r.stdout.decode()
    return r.returncode, (json.loads(out) if as_json and out.strip() else out), r.stderr.decode()


class Raw:
    """A raw admin client: one JSON object per line."""

    def __init__(self, path, timeout=5.0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def call(self, method, params=None, rid=1):
        req = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            req["params"] = params
        self.send(json.dumps(req) + "\n")
        return self.line()

    def eof(self):
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    return True
        except (socket.timeout, ConnectionResetError):
            return False

    def close(self):
        self.s.close()


def err_code(answer):
    return answer and answer.get("error", {}).get("code")


def relay_one(st, jul, alice, tag):
    """juliet -> alice through parleyd; True when alice's sipp got it."""
    before = len(alice.messages())
    jul.send(to="alice@" + H.SIP_DOMAIN, id=tag, body="admin test " + tag)
    got = alice.wait(before + 1, 10)
    return len(got) > before


def check_methods(st, jul, alice):
    c = st.checks
    rc, out, err = ctl(st, "status")
    c.check(rc == 0 and "LINK" in out and "xmpp" in out, "parleyctl status: table, exit 0", out + err)
    rc, s, _ = ctl(st, "status", as_json=True)
    c.eq(rc, 0, "status --json exit")
    c.eq(s["links"]["xmpp"]["state"], "up", "status: XMPP component link")
    c.eq(s["links"]["sip"]["state"], "up", "status: SIP transports")
    c.eq(s["links"]["sip"]["port"], st.parley_port, "status: SIP port")
    c.eq(s["links"]["redis"]["state"], "not configured", "status: Redis (no offline store yet)")
    c.check(s["version"] and s["uptime_s"] >= 0 and s["pid"] == st.parley.pid,
            "status: version, uptime, pid", s)

    c.check(relay_one(st, jul, alice, "a1"), "a message is relayed XMPP -> SIP")
    rc, s, _ = ctl(st, "stats", as_json=True)
    c.check(rc == 0 and s["xmpp_to_sip"]["relayed"] >= 1, "stats: xmpp_to_sip relayed counted", s)
    c.check(all(k in s["sip_to_xmpp"] for k in ("relayed", "chunked", "parked", "flushed",
                                                "expired", "errors")),
            "stats: every outcome per direction", s)
    c.check(s["xmpp"]["connects"] >= 1 and s["sip"]["tx_requests"] >= 1, "stats: adapter counters", s)
    rc, out, _ = ctl(st, "stats")
    c.check(rc == 0 and "DIRECTION" in out and "xmpp_to_sip" in out, "parleyctl stats: table", out)

    rc, s, _ = ctl(st, "sessions", "list", as_json=True)
    c.check(rc == 0 and s["sessions"] == [] and "note" in s, "sessions.list: empty, with a note", s)
    rc, e, _ = ctl(st, "sessions", "close", "x1", as_json=True)
    c.check(rc == 1 and e["code"] == -32001 and "no such session" in e["message"],
            "sessions.close: no such session, exit 1", e)
    for sub in (["queue", "list"], ["queue", "show", "alice@sip.test"],
                ["queue", "flush", "alice@sip.test"], ["queue", "purge", "alice@sip.test"]):
        rc, e, _ = ctl(st, *sub, as_json=True)
        c.check(rc == 1 and e["code"] == -32000 and e["message"] == "offline store not configured",
                "%s: -32000 offline store not configured" % " ".join(sub), e)
    rc, out, err = ctl(st, "queue", "list")
    c.check(rc == 1 and "offline store not configured" in err, "parleyctl queue list: message", err)
    rc, s, _ = ctl(st, "presence", "show", "juliet@xmpp.test", as_json=True)
    c.check(rc == 0 and s["tracked"] is False and s["user"] == "juliet@xmpp.test",
            "presence.show: not tracked, said clearly", s)
    rc, s, _ = ctl(st, "log", "level", "parley-sip", "debug", as_json=True)
    c.check(rc == 0 and "parley-sip=debug" in s["levels"], "log.level parley-sip debug", s)
    rc, s, _ = ctl(st, "log", "level", "parley-sip", "default", as_json=True)
    c.check(rc == 0 and s["levels"] == [], "log.level back to default", s)
    rc, e, _ = ctl(st, "log", "level", "parley-sip", "loud", as_json=True)
    c.check(rc == 1 and e["code"] == -32602, "log.level with a bad level: -32602", e)
    rc, s, _ = ctl(st, "help", as_json=True)
    c.check(rc == 0 and len(s["methods"]) >= 12, "help lists the methods", s)
    rc, e, _ = ctl(st, "no.such", as_json=True)
    c.check(rc == 1 and e["code"] == -32601, "unknown method: -32601, exit 1", e)
    rc, out, err = ctl(st, "queue", "show")
    c.check(rc == 1 and "needs param 'user'" in err, "queue show without USER: -32602", err)
    rc, out, err = ctl(st)
    c.eq(rc, 2, "parleyctl without a method: usage exit")
    rc, out, err = ctl(st, "status", sock=os.path.join(st.dir, "nope.sock"))
    c.check(rc == 3 and "parleyd not running?" in err, "no socket: exit 3, 'parleyd not running?'",
            err)

    # metrics: the text format, checked by promtool
    rc, text, _ = ctl(st, "metrics")
    c.check(rc == 0 and "# TYPE parley_xmpp_link_up gauge" in text
            and "\nparley_xmpp_link_up 1\n" in text, "metrics: parley_xmpp_link_up 1", text[:500])
    for name in ("parley_sip_pending", "parley_core_pending", "parley_core_queued",
                 "parley_uptime_seconds", "parley_store_up", "parley_xmpp_in_relayed_total"):
        c.check("# HELP %s " % name in text and "# TYPE %s " % name in text,
                "metrics: %s with HELP and TYPE" % name)
    promtool = H.need("promtool")
    r = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True,
                       timeout=30)
    c.check(r.returncode == 0, "promtool check metrics accepts the exposition",
            (r.stdout + r.stderr).decode())


def check_raw(st):
    c = st.checks
    r = Raw(st.admin_socket)
    a = r.call("status", rid="s1")
    c.check(a and a["id"] == "s1" and a["result"]["links"]["xmpp"]["state"] == "up",
            "raw: status answered with the same id", a)
    r.send("{not json\n")
    c.eq(err_code(r.line()), -32700, "raw: malformed JSON")
    r.send('{"jsonrpc":"2.0","id":5,"method":"nope"}\n')
    a = r.line()
    c.check(err_code(a) == -32601 and a["id"] == 5, "raw: unknown method, id echoed", a)
    r.send('{"jsonrpc":"2.0","id":6,"method":"queue.show","params":[1]}\n')
    c.eq(err_code(r.line()), -32602, "raw: wrong param type")
    r.send('{"jsonrpc":"2.0","id":7,"method":"status","params":["extra"]}\n')
    c.eq(err_code(r.line()), -32602, "raw: extra param")
    r.send('{"jsonrpc":"2.0","id":8,"method":"presence.show","params":{"who":"x"}}\n')
    c.eq(err_code(r.line()), -32602, "raw: unknown named param")
    r.send('{"id":9,"method":"status"}\n')
    c.eq(err_code(r.line()), -32600, "raw: no jsonrpc member")
    r.send('[{"jsonrpc":"2.0","id":1,"method":"status"}]\n')
    c.eq(err_code(r.line()), -32600, "raw: batch refused")
    r.send('{"jsonrpc":"2.0","method":"status"}\n')   # a notification: no answer
    a = r.call("presence.show", {"user": "romeo@xmpp.test"}, rid=10)
    c.check(a and a["id"] == 10 and a["result"]["tracked"] is False,
            "raw: named params; the connection survived every error (and the notification)", a)
    # pipelined requests in one write
    r.send("".join(json.dumps({"jsonrpc": "2.0", "id": i, "method": "stats"}) + "\n"
                   for i in range(20, 30)))
    ids = [r.line()["id"] for _ in range(10)]
    c.eq(ids, list(range(20, 30)), "raw: ten pipelined requests, ten answers in order")
    # oversize: answered -32600, then the connection closes cleanly
    r.send('{"jsonrpc":"2.0","id":11,"method":"status","x":"' + "a" * 70000 + '"}\n')
    a = r.line()
    c.check(err_code(a) == -32600 and "longer than 65536" in a["error"]["message"],
            "raw: oversize request -32600", a)
    c.check(r.eof(), "raw: connection closed after the oversize answer")
    r.close()
    # an oversize line without newline is caught too (bounded buffer)
    r = Raw(st.admin_socket)
    try:
        r.send("x" * 70000)
        a = r.line()
        c.eq(err_code(a), -32600, "raw: unterminated oversize input -32600")
    except (BrokenPipeError, ConnectionResetError) as e:
        c.check(False, "raw: unterminated oversize input answered", e)
    r.close()


def check_slow_clients(st, jul, alice):
    c = st.checks
    # a client that sends many requests and never reads: closed at max_output_bytes, while
    # the gateway goes on relaying
    hog = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    hog.connect(st.admin_socket)
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.settimeout(10)
    req = (json.dumps({"jsonrpc": "2.0", "id": 1, "method": "metrics"}) + "\n").encode()
    closed = False
    try:
        for _ in range(2000):
            hog.sendall(req * 10)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        closed = True
    c.check(relay_one(st, jul, alice, "a2"), "relaying goes on while a client does not read")
    st.parley.wait_log("does not read its answers", 10)
    c.check(True, "the non-reading client was closed (max_output_bytes)")
    hog.close()
    rc, _, _ = ctl(st, "status")
    c.eq(rc, 0, "status still answered after the non-reading client")

    # many clients at once
    results = []

    def one():
        try:
            r = Raw(st.admin_socket)
            a = r.call("status")
            results.append(bool(a and "result" in a))
            r.close()
        except OSError as e:
            results.append(e)
    threads = [threading.Thread(target=one) for _ in range(25)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    c.check(results.count(True) == 25, "25 clients at once all answered", results)

    # max_clients (32): the 33rd connection gets one error line and is closed
    idle = [Raw(st.admin_socket) for _ in range(32)]
    for r in idle:
        r.call("help")
    extra = Raw(st.admin_socket)
    a = extra.line()
    c.check(err_code(a) == -32003 and "too many clients" in a["error"]["message"],
            "client 33 refused: too many clients", a)
    c.check(extra.eof(), "client 33 closed")
    extra.close()
    for r in idle:
        r.close()
    time.sleep(0.3)
    rc, _, _ = ctl(st, "status")
    c.eq(rc, 0, "a new client is served once the others left")


def check_reload(st):
    c = st.checks
    cfg = st.write_parley_config("direct", retry_after_s=7, reconnect_max_ms=3000)
    rc, s, _ = ctl(st, "config", "reload", as_json=True)
    c.check(rc == 0 and s["applied"] == ["core.retry_after_s"]
            and s["restart_required"] == ["xmpp.reconnect_max_ms"],
            "config.reload: [core] applied, [xmpp] reconnect_max_ms needs a restart", s)
    rc, out, _ = ctl(st, "config", "reload")
    c.check(rc == 0 and "xmpp.reconnect_max_ms" in out and "restart" in out,
            "config.reload again: the restart-only key is still reported", out)
    with open(cfg, "a") as f:
        f.write("\n[core]\nsip_window = 0\n")
    rc, e, _ = ctl(st, "config", "reload", as_json=True)
    c.check(rc == 1 and e["code"] == -32002 and any("sip_window" in p for p in e["data"]["problems"]),
            "config.reload with a bad file: -32002 with the problem list", e)
    rc, out, err = ctl(st, "config", "reload")
    c.check(rc == 1 and "old one kept" in err and "sip_window" in err,
            "parleyctl config reload: the problems are printed", err)
    st.write_parley_config("direct", retry_after_s=7, reconnect_max_ms=3000)
    rc, s, _ = ctl(st, "status", as_json=True)
    c.check(rc == 0 and s["links"]["xmpp"]["state"] == "up", "the gateway runs on after a bad reload")


def check_uids(st):
    c = st.checks
    r = subprocess.run(["getent", "group", "users"], capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("group 'users' missing")
    mode = os.stat(st.admin_socket).st_mode & 0o777
    c.eq(oct(mode), oct(0o600), "the socket's mode is 0600 by default")
    rc, out, err = ctl(st, "status", prefix=NOBODY)
    c.check(rc == 3 and "access denied" in err, "nobody with mode 0600: exit 3, access denied", err)
    # past the file mode, SO_PEERCRED still refuses another uid
    os.chmod(st.admin_socket, 0o666)
    try:
        rc, out, err = ctl(st, "status", prefix=NOBODY)
    finally:
        os.chmod(st.admin_socket, 0o600)
    c.check(rc == 3 and "permission denied: uid 65534" in err,
            "nobody past the file mode: refused by SO_PEERCRED, exit 3", err)
    st.parley.wait_log("refused a client with uid 65534", 5)
    c.check(True, "the refusal is logged with the uid")

    # crash, then restart with mode 0660 and group users: the stale socket is replaced
    st.parley.stop(signal.SIGKILL)
    st.parley = None
    c.check(os.path.exists(st.admin_socket), "a crashed parleyd leaves its socket behind")
    st.start_parleyd("direct", admin_extra="mode = 0660\ngroup = users")
    st.parley.wait_log("removed stale admin socket", 5)
    c.check(True, "the stale socket was replaced at start")
    stt = os.stat(st.admin_socket)
    c.check(stt.st_mode & 0o777 == 0o660 and stt.st_gid == 100, "mode 0660, group users",
            (oct(stt.st_mode), stt.st_gid))
    rc, s, err = ctl(st, "status", prefix=NOBODY_IN_USERS, as_json=True)
    c.check(rc == 0 and s["links"]["sip"]["state"] == "up",
            "nobody in group users: allowed with mode 0660", err)
    rc, out, err = ctl(st, "status", prefix=NOBODY)
    c.check(rc == 3 and "access denied" in err, "nobody outside the group: access denied", err)
    os.chmod(st.admin_socket, 0o666)
    try:
        rc, out, err = ctl(st, "status", prefix=NOBODY)
    finally:
        os.chmod(st.admin_socket, 0o660)
    c.check(rc == 3 and "permission denied" in err,
            "nobody outside the group past the file mode: refused by credentials", err)


def body(st):
    st.start_xmpp()
    st.start_kamailio()
    st.start_parleyd("direct")
    jul = st.client("juliet", "admin")
    alice = st.sipp_uas("alice")
    check_methods(st, jul, alice)
    check_raw(st)
    check_slow_clients(st, jul, alice)
    check_reload(st)
    check_uids(st)
    rc = st.stop_parleyd()
    st.checks.eq(rc, 0, "parleyd exit status")
    st.checks.check(not os.path.exists(st.admin_socket), "the socket is removed at stop")


H.run_test("admin", body)
