"""Integration harness for Parley: real Prosody/ejabberd, Kamailio, sipp, slixmpp and parleyd.

Every peer runs as a child process in its own process group, on free loopback ports, with its
files under one temporary directory; readiness is a connect() poll or a log line (bounded
waits); teardown (SIGTERM, SIGKILL after 2 s) always runs: try/finally in Stack, atexit, and
SIGTERM/SIGINT handlers. Configs come from examples/ unchanged (ejabberd's placeholders are
filled in, as its header documents).

Run with /usr/bin/python3 (Debian's, which has slixmpp). A missing peer binary is a failure,
not a skip: scripts/test installs every peer.
"""
import atexit
import calendar
import json
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLES = os.path.join(ROOT, "examples")
SIPP_DIR = os.path.join(HERE, "sipp")
PY = "/usr/bin/python3"

XMPP_DOMAIN = "xmpp.test"          # XMPP users (juliet, romeo)
SIP_DOMAIN = "sip.test"            # SIP users (alice, bob); direct mode's component domain
ESC_COMPONENT = "gw.xmpp.test"     # escaped mode: component domain G
ESC_SIP_DOMAIN = "gw.sip.test"     # escaped mode: sip_domain S (Kamailio routes it to parleyd)
SECRET = "parley-secret"


def password_for(user):
    """The password the harness registers XMPP users with."""
    return "pw-" + user

_LIVE = []                         # every Proc not yet stopped
_T0 = time.monotonic()


def log(*args):
    print("[%6.2f]" % (time.monotonic() - _T0), *args, flush=True)


# ----------------------------------------------------------------------------- processes

def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 (bind port 0, then check the other)."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            u.close()
            t.close()
        return port
    raise RuntimeError("no free port")


def wait_port(port, timeout=10.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited (rc %s) before port %d opened; log: %s"
                               % (proc.name, proc.poll(), port, proc.tail()))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("port %d not open after %.0f s%s" % (
        port, timeout, "; log: " + proc.tail() if proc else ""))


def need(binary):
    path = shutil.which(binary) or (binary if os.path.exists(binary) else None)
    if not path:
        raise RuntimeError("%s not installed (scripts/test installs every peer)" % binary)
    return path


class Proc:
    """A child process in its own process group, output to a log file."""

    def __init__(self, name, argv, logfile, env=None, cwd=None, stdin=subprocess.DEVNULL):
        self.name = name
        self.logfile = logfile
        self.argv = argv
        self._log = open(logfile, "ab")
        self.p = subprocess.Popen(argv, stdin=stdin, stdout=self._log, stderr=subprocess.STDOUT,
                                  env=env, cwd=cwd, start_new_session=True)
        self.pid = self.p.pid
        _LIVE.append(self)

    def poll(self):
        return self.p.poll()

    def text(self):
        with open(self.logfile, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def tail(self, n=25):
        return "\n    " + "\n    ".join(self.text().splitlines()[-n:])

    def wait_log(self, pattern, timeout=10.0, count=1):
        """Wait until `pattern` (regex) occurs `count` times in the log."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            if len(rx.findall(self.text())) >= count:
                return True
            if self.poll() is not None:
                raise RuntimeError("%s exited (rc %s) waiting for %r:%s"
                                   % (self.name, self.poll(), pattern, self.tail()))
            time.sleep(0.05)
        raise RuntimeError("%s: no %r within %.0f s:%s" % (self.name, pattern, timeout, self.tail()))

    def signal_group(self, sig):
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, sig=signal.SIGTERM, grace=2.0):
        """SIGTERM the group, SIGKILL after `grace` s. Returns the exit code."""
        if self in _LIVE:
            _LIVE.remove(self)
        if self.p.poll() is None:
            self.signal_group(sig)
            try:
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.p.wait(5)
        # anything left in the group (daemons' children) goes too
        self.signal_group(signal.SIGKILL)
        self._log.close()
        return self.p.returncode


def _stop_everything():
    for proc in list(reversed(_LIVE)):
        try:
            proc.stop()
        except Exception as e:  # teardown must go on
            print("teardown of %s: %s" % (proc.name, e), file=sys.stderr)


atexit.register(_stop_everything)


def _on_signal(signum, _frame):
    _stop_everything()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def _pids_in_tree(root):
    """root and all its descendants (via /proc)."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


# ----------------------------------------------------------------------------- checks

class Checks:
    def __init__(self):
        self.failed = []
        self.passed = 0

    def check(self, cond, what, detail=None):
        if cond:
            self.passed += 1
            log("ok   -", what)
        else:
            self.failed.append(what)
            log("FAIL -", what, "" if detail is None else "\n       got: %s" % (detail,))
        return cond

    def eq(self, got, want, what):
        return self.check(got == want, "%s == %r" % (what, want), repr(got))

    def summary(self):
        log("%d checks passed, %d failed" % (self.passed, len(self.failed)))
        for f in self.failed:
            log("  failed:", f)
        return 1 if self.failed else 0


# ----------------------------------------------------------------------------- SIP messages

COMPACT = {"f": "from", "t": "to", "i": "call-id", "c": "content-type", "l": "content-length",
           "v": "via", "s": "subject", "m": "contact", "e": "content-encoding", "k": "supported"}


class SipMsg:
    def __init__(self, raw, direction="", size=None):
        self.raw = raw                      # bytes
        self.direction = direction          # "received" / "sent" (sipp's view)
        head, _, body = raw.partition(b"\r\n\r\n")
        self.body = body
        lines = head.decode("utf-8", "replace").split("\r\n")
        self.start = lines[0]
        self.headers = []                   # [(lowercase name, value)] in order
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.headers:
                n, v = self.headers[-1]
                self.headers[-1] = (n, v + " " + line.strip())
                continue
            name, _, value = line.partition(":")
            name = name.strip().lower()
            self.headers.append((COMPACT.get(name, name), value.strip()))
        self.size = size if size is not None else len(raw)

    @property
    def is_request(self):
        return not self.start.startswith("SIP/2.0")

    @property
    def status(self):
        return None if self.is_request else int(self.start.split()[1])

    @property
    def method(self):
        return self.start.split()[0] if self.is_request else None

    def h(self, name):
        name = name.lower()
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def all(self, name):
        return [v for n, v in self.headers if n == name.lower()]

    def text(self):
        return self.body.decode("utf-8", "replace")


def parse_sipp_trace(path):
    """sipp -trace_msg file -> [SipMsg] in file order."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    msgs = []
    for block in re.split(rb"\n-{20,} [^\n]*\n", b"\n" + data):
        m = re.match(rb"(UDP|TCP) message (received|sent) (?:\[(\d+)\] bytes :|\((\d+) bytes\):)\s*\n\n",
                     block)
        if not m:
            continue
        raw = block[m.end():]
        size = int(m.group(3) or m.group(4))
        raw = raw[:size] if len(raw) >= size else raw
        msgs.append(SipMsg(raw, m.group(2).decode(), size))
    return msgs


def sip_request(method, ruri, headers, body=b"", via_port=5099, transport="UDP"):
    """Hand-made request bytes (bad-input tests). headers: [(name, value)] in order;
    Content-Length is appended unless present."""
    lines = ["%s %s SIP/2.0" % (method, ruri),
             "Via: SIP/2.0/%s 127.0.0.1:%d;branch=z9hG4bK%s;rport"
             % (transport, via_port, secrets.token_hex(6))]
    names = [n.lower() for n, _ in headers]
    for n, v in headers:
        lines.append("%s: %s" % (n, v))
    if "content-length" not in names:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def udp_exchange(port, data, timeout=5.0):
    """Send one datagram to 127.0.0.1:port, return the final response (SipMsg) or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    data = data.replace(b"127.0.0.1:5099", b"127.0.0.1:%d" % s.getsockname()[1])
    s.settimeout(0.5)
    deadline = time.monotonic() + timeout
    s.sendto(data, ("127.0.0.1", port))
    try:
        while time.monotonic() < deadline:
            try:
                raw, _ = s.recvfrom(65535)
            except socket.timeout:
                continue
            m = SipMsg(raw)
            if m.status and m.status >= 200:
                return m
        return None
    finally:
        s.close()


# ----------------------------------------------------------------------------- XMPP client

class XmppClient:
    """xmpp_client.py in a subprocess: JSON commands in, JSON events out (collected)."""

    def __init__(self, stack, jid, password, port, component=False, name=None):
        self.jid = jid
        self.name = name or jid.replace("/", "_").replace("\\", "_")
        logfile = os.path.join(stack.dir, "xmpp-%s.log" % self.name)
        argv = [PY, os.path.join(HERE, "xmpp_client.py"), jid, password, "127.0.0.1", str(port)]
        if component:
            argv.append("--component")
        self._errlog = open(logfile, "ab")
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self._errlog, start_new_session=True)
        self.pid = self.p.pid
        self.events = queue.Queue()
        self.messages = []
        self.iqs = []
        self.online = threading.Event()
        self.gone = threading.Event()
        self._lock = threading.Lock()
        threading.Thread(target=self._reader, daemon=True).start()
        stack._clients.append(self)

    def _reader(self):
        for line in self.p.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "online":
                self.online.set()
            elif ev.get("event") in ("disconnected", "failed"):
                self.gone.set()
            elif ev.get("event") == "message":
                with self._lock:
                    self.messages.append(ev)
            elif ev.get("event") == "iq":
                with self._lock:
                    self.iqs.append(ev)
        self.gone.set()

    def wait_online(self, timeout=10.0):
        if not self.online.wait(timeout):
            raise RuntimeError("XMPP %s not online within %.0f s" % (self.jid, timeout))
        time.sleep(0.2)   # initial presence reaches the server's session table

    def send(self, **fields):
        cmd = dict(op="send", **fields)
        self.p.stdin.write((json.dumps(cmd) + "\n").encode())
        self.p.stdin.flush()

    def raw(self, xml):
        self.p.stdin.write((json.dumps({"op": "raw", "xml": xml}) + "\n").encode())
        self.p.stdin.flush()

    def wait_message(self, pred=lambda m: True, timeout=10.0):
        """First collected message satisfying pred (it stays in self.messages), or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for m in self.messages:
                    if pred(m):
                        return m
            time.sleep(0.05)
        return None

    def iq(self, xml, iq_id, timeout=5.0):
        """Sends a raw <iq/> (its id must be @iq_id) and returns the answer event, or None."""
        self.raw(xml)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for ev in self.iqs:
                    if ev["id"] == iq_id:
                        return ev
            time.sleep(0.05)
        return None

    def stop(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write(b'{"op": "quit"}\n')
                self.p.stdin.flush()
                self.p.wait(2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.p.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.p.wait(2)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self.pid, signal.SIGKILL)
                self.p.wait(5)
        self._errlog.close()


# ----------------------------------------------------------------------------- the stack

PARLEY_TEMPLATE = """\
# written by tests/integration/harness.py
[xmpp]
host = 127.0.0.1
port = {component_port}
component = {component}
secret = {secret}
reconnect_min_ms = {reconnect_min_ms}
reconnect_max_ms = {reconnect_max_ms}
domains =

[sip]
bind = 127.0.0.1
port = {sip_port}
transports = udp;tcp
outbound_proxy = sip:127.0.0.1:{kam_port}{proxy_params}
udp_retention_ms = 2000
domains =
reg_event = {reg_event}

[mapping]
mode = {mode}
sip_domain = {sip_domain}

[core]
max_message_bytes = {max_message_bytes}
udp_request_limit = 1300
part_marker = [%u/%u]\\s
bounce_window_ms = {bounce_window_ms}
retry_after_s = {retry_after_s}

[offline]
store = {offline_store}
redis_host = 127.0.0.1
redis_port = {redis_port}
instance = {instance}
expiry_s = {expiry_s}
quota_count = {quota_count}
quota_bytes = 1048576
expire_interval_s = {expire_interval_s}
lease_ms = {lease_ms}
stored_notice = {stored_notice}
{offline_extra}

[admin]
socket = {admin_socket}
{admin_extra}
{chat_extra}
"""


class Stack:
    """One test's world. Use as a context manager: everything started is stopped on exit."""

    def __init__(self, name, server="prosody", keep=False, c2s_port=None, component_port=None):
        if server not in ("prosody", "ejabberd"):
            raise ValueError("server must be prosody or ejabberd")
        self.server = server
        self.dir = tempfile.mkdtemp(prefix="parley-%s-%s-" % (name, server))
        os.chmod(self.dir, 0o755)
        self.keep = keep or bool(os.environ.get("PARLEY_KEEP_TMP"))
        self.c2s_port = c2s_port or free_port()
        self.component_port = component_port or free_port()
        self.kam_port = None
        self.parley_port = None
        self.xmpp = None
        self.kam = None
        self.parley = None
        self.admin_socket = os.path.join(self.dir, "admin.sock")   # parleyctl --socket
        self._clients = []
        self._sipps = []
        self._extra = []                # further parleyd processes (start_parleyd primary=False)
        self.checks = Checks()
        self.tls = False
        log("stack %s on %s in %s" % (name, server, self.dir))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.checks.failed.append("exception: %s" % exc)
        self.stop_all()
        return False

    def stop_all(self):
        for c in self._clients:
            try:
                c.stop()
            except Exception as e:
                log("teardown client %s: %s" % (c.jid, e))
        for s in self._sipps:
            s.stop()
        if self.parley:
            rc = self.parley.stop()
            log("parleyd stopped, exit code %s" % rc)
        for p in self._extra:
            p.stop()
        if self.kam:
            self.kam.stop()
        if getattr(self, "redis", None):
            self.redis.stop()
        self.stop_xmpp()
        if not self.keep and not self.checks.failed:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            log("logs kept in", self.dir)

    # ---------------------------------------------------------------- XMPP servers
    def make_tls_cert(self):
        """A self-signed certificate for the XMPP domain (openssl, made at test time):
        (key path, certificate path)."""
        d = os.path.join(self.dir, "tls")
        os.makedirs(d, exist_ok=True)
        key, crt = os.path.join(d, "xmpp.key"), os.path.join(d, "xmpp.crt")
        if not os.path.exists(crt):
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                            "-subj", "/CN=%s" % XMPP_DOMAIN, "-addext",
                            "subjectAltName=DNS:%s" % XMPP_DOMAIN, "-keyout", key, "-out", crt],
                           check=True, capture_output=True, timeout=60)
            os.chmod(key, 0o644)
        return key, crt

    def _tls_pem(self, conf_dir):
        key, crt = self.make_tls_cert()
        pem = os.path.join(conf_dir, "conf", "c2s.pem")
        with open(pem, "w") as f:
            f.write(open(key).read() + open(crt).read())
        return pem

    def start_xmpp(self, users=("juliet", "romeo"), tls=False):
        """tls: the client port offers STARTTLS with a self-signed certificate made now
        (go-sendxmpp refuses to log in without it); plain logins still work."""
        self.tls = tls
        if self.server == "prosody":
            self._start_prosody(users)
        else:
            self._start_ejabberd(users)
        self._users = users

    def stop_xmpp(self, sig=signal.SIGTERM):
        if self.xmpp is None:
            return
        if self.server == "ejabberd":
            # beam.smp runs under su (its own session): signal the whole tree, leaves first
            pids = _pids_in_tree(self.xmpp.pid)
            for p in reversed(pids):
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline and any(os.path.exists("/proc/%d" % p) for p in pids[1:]):
                time.sleep(0.1)
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.xmpp.stop(sig)
        self.xmpp = None

    def restart_xmpp(self, sig=signal.SIGKILL):
        """Kill the XMPP server (default SIGKILL: an abrupt crash) and start it again."""
        self.stop_xmpp(sig)
        if self.server == "prosody":
            self._run_prosody()
        else:
            self._run_ejabberd()

    def _prosody_env(self):
        env = dict(os.environ)
        env.update(PROSODY_BASE=os.path.join(self.dir, "prosody"), PROSODY_LISTEN_IP="127.0.0.1",
                   PROSODY_C2S_PORT=str(self.c2s_port),
                   PROSODY_COMPONENT_PORT=str(self.component_port),
                   PROSODY_DOMAIN=XMPP_DOMAIN,
                   PARLEY_COMPONENTS="%s;%s" % (SIP_DOMAIN, ESC_COMPONENT),
                   PARLEY_SECRET=SECRET, PROSODY_LOGLEVEL=os.environ.get("PROSODY_LOGLEVEL", "info"))
        if self.tls:
            env["PROSODY_TLS_KEY"], env["PROSODY_TLS_CERT"] = self.make_tls_cert()
        return env

    def _start_prosody(self, users):
        need("prosody")
        base = os.path.join(self.dir, "prosody")
        for d in ("data", "certs"):
            os.makedirs(os.path.join(base, d), exist_ok=True)
        subprocess.run(["chown", "-R", "prosody:prosody", base], check=True)
        cfg = os.path.join(EXAMPLES, "prosody.cfg.lua")
        for u in users:
            r = subprocess.run(["prosodyctl", "--config", cfg, "register", u, XMPP_DOMAIN,
                                password_for(u)],
                               env=self._prosody_env(), stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=30)
            if r.returncode != 0:
                raise RuntimeError("prosodyctl register %s: %s" % (u, r.stdout + r.stderr))
        self._run_prosody()

    def _run_prosody(self):
        cfg = os.path.join(EXAMPLES, "prosody.cfg.lua")
        self.xmpp = Proc("prosody", ["prosody", "--config", cfg, "-F"],
                         os.path.join(self.dir, "prosody.log"), env=self._prosody_env(), cwd=self.dir)
        wait_port(self.c2s_port, 10, self.xmpp)
        wait_port(self.component_port, 10, self.xmpp)
        log("prosody up: c2s %d, component %d" % (self.c2s_port, self.component_port))

    def _ejabberd_ctl(self):
        d = os.path.join(self.dir, "ejabberd")
        return ["ejabberdctl", "--config-dir", d + "/conf", "--config", d + "/conf/ejabberd.yml",
                "--ctl-config", d + "/conf/ejabberdctl.cfg", "--logs", d + "/logs",
                "--spool", d + "/spool"]

    def _start_ejabberd(self, users):
        need("ejabberdctl")
        d = os.path.join(self.dir, "ejabberd")
        for sub in ("conf", "logs", "spool"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        shutil.copy("/etc/ejabberd/inetrc", os.path.join(d, "conf", "inetrc"))
        self.dist_port = free_port()
        values = {"LISTEN_IP": "127.0.0.1", "XMPP_DOMAIN": XMPP_DOMAIN,
                  "C2S_PORT": str(self.c2s_port), "COMPONENT_PORT": str(self.component_port),
                  "COMPONENT_DIRECT": SIP_DOMAIN, "COMPONENT_ESCAPED": ESC_COMPONENT,
                  "SECRET": SECRET, "LOGLEVEL": os.environ.get("EJABBERD_LOGLEVEL", "info"),
                  "NODE": "parley%d@localhost" % self.dist_port, "DIST_PORT": str(self.dist_port),
                  "COOKIE": secrets.token_hex(12),
                  "CERTFILES": '["%s"]' % self._tls_pem(d) if self.tls else "[]",
                  "STARTTLS": "true" if self.tls else "false"}
        for name in ("ejabberd.yml", "ejabberdctl.cfg"):
            with open(os.path.join(EXAMPLES, name)) as f:
                text = f.read()
            for k, v in values.items():
                text = text.replace("@@%s@@" % k, v)
            left = re.findall(r"@@[A-Z_]+@@", re.sub(r"(?m)^#.*$", "", text))
            if left:
                raise RuntimeError("unfilled placeholders in %s: %s" % (name, left))
            with open(os.path.join(d, "conf", name), "w") as f:
                f.write(text)
        subprocess.run(["chown", "-R", "ejabberd:ejabberd", d], check=True)
        self._run_ejabberd()
        for u in users:
            r = subprocess.run(self._ejabberd_ctl() + ["register", u, XMPP_DOMAIN, password_for(u)],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=60, cwd=d)
            if r.returncode != 0:
                raise RuntimeError("ejabberdctl register %s: %s" % (u, r.stdout + r.stderr))

    def _run_ejabberd(self):
        d = os.path.join(self.dir, "ejabberd")
        self.xmpp = Proc("ejabberd", self._ejabberd_ctl() + ["foreground"],
                         os.path.join(self.dir, "ejabberd.log"), cwd=d)
        wait_port(self.c2s_port, 30, self.xmpp)
        wait_port(self.component_port, 30, self.xmpp)
        log("ejabberd up: c2s %d, component %d" % (self.c2s_port, self.component_port))

    def client(self, user, resource="it", name=None):
        c = XmppClient(self, "%s@%s/%s" % (user, XMPP_DOMAIN, resource), password_for(user),
                       self.c2s_port,
                       name=name)
        c.wait_online()
        return c

    # ---------------------------------------------------------------- Redis
    def start_redis(self, port=None):
        """redis-server with AOF in the temp dir (for the offline store)."""
        need("redis-server")
        self.redis_port = port or free_port()
        d = os.path.join(self.dir, "redis")
        os.makedirs(d, exist_ok=True)
        self.redis = Proc("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port),
                                    "--dir", d, "--appendonly", "yes", "--appendfsync", "always", "--save", "",
                                    "--daemonize", "no"],
                          os.path.join(self.dir, "redis.log"), cwd=d)
        wait_port(self.redis_port, 10, self.redis)
        log("redis up on %d (AOF in %s)" % (self.redis_port, d))

    # ---------------------------------------------------------------- Kamailio
    def start_kamailio(self, fr_timer_ms=3000, port=None, env_over=None):
        """env_over: extra KAM_* parameters of examples/kamailio.cfg, e.g.
        {"KAM_REPLICATE_REGISTER": "0"}."""
        need("kamailio")
        self.kam_port = port or free_port()
        if self.parley_port is None:
            self.parley_port = free_port()
        run = os.path.join(self.dir, "kamailio")
        os.makedirs(run, exist_ok=True)
        env = dict(os.environ)
        env.update(KAM_LISTEN_IP="127.0.0.1", KAM_SIP_PORT=str(self.kam_port),
                   KAM_SIP_DOMAINS=SIP_DOMAIN, KAM_GW_DOMAINS="%s;%s" % (XMPP_DOMAIN, ESC_SIP_DOMAIN),
                   KAM_PARLEY_URI="sip:127.0.0.1:%d" % self.parley_port,
                   KAM_FR_TIMER=str(fr_timer_ms),
                   KAM_SELF_URI="sip:127.0.0.1:%d" % self.kam_port, KAM_REGINFO_DOMAIN=SIP_DOMAIN)
        env.update(env_over or {})
        cfg = os.path.join(EXAMPLES, "kamailio.cfg")
        r = subprocess.run(["kamailio", "-c", "-f", cfg], env=env, capture_output=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("kamailio -c failed: %s" % r.stderr.decode()[-2000:])
        self.kam = Proc("kamailio", ["kamailio", "-f", cfg, "-m", "256", "-M", "16", "-DD", "-E",
                                     "-Y", run, "-P", os.path.join(run, "kamailio.pid"), "-w", run],
                        os.path.join(self.dir, "kamailio.log"), env=env, cwd=run)
        wait_port(self.kam_port, 10, self.kam)
        log("kamailio up on %d (parleyd expected on %d)" % (self.kam_port, self.parley_port))

    def kam_requests(self, callid=None, method="MESSAGE"):
        """Requests Kamailio logged: [{'ruri','from','to','callid','cseq','src','len'}]."""
        out = []
        for m in re.finditer(r"REQ (\S+) ruri=(\S*) from=(\S*) to=(\S*) callid=(\S*) cseq=(\S*) "
                             r"src=(\S*) len=(\d+)", self.kam.text()):
            rec = dict(zip(("method", "ruri", "from", "to", "callid", "cseq", "src", "len"),
                           m.groups()))
            rec["len"] = int(rec["len"])
            if method and rec["method"] != method:
                continue
            if callid is not None and rec["callid"] != callid:
                continue
            out.append(rec)
        return out

    # ---------------------------------------------------------------- parleyd
    def parleyd_path(self):
        path = os.environ.get("PARLEYD")
        if not path:
            for cand in ("build/parleyd", "build-lead/parleyd"):
                if os.path.exists(os.path.join(ROOT, cand)):
                    path = os.path.join(ROOT, cand)
                    break
        if not path or not os.path.exists(path):
            raise RuntimeError("parleyd not found (set PARLEYD; got %r)" % path)
        return path

    def write_parley_config(self, mode="direct", _name=None, **over):
        if self.parley_port is None:
            self.parley_port = free_port()
        values = dict(component_port=self.component_port,
                      component=SIP_DOMAIN if mode == "direct" else ESC_COMPONENT,
                      secret=SECRET, sip_port=self.parley_port, kam_port=self.kam_port,
                      mode=mode, sip_domain="" if mode == "direct" else ESC_SIP_DOMAIN,
                      max_message_bytes=131072, retry_after_s=5,
                      reconnect_min_ms=200, reconnect_max_ms=2000, proxy_params="",
                      admin_socket=self.admin_socket, admin_extra="",
                      offline_store="none", redis_port=getattr(self, "redis_port", None) or 6379,
                      instance="it-%d" % os.getpid(), expiry_s=604800, quota_count=1000,
                      expire_interval_s=60, lease_ms=30000, stored_notice="", bounce_window_ms=200,
                      reg_event="true", chat_extra="", offline_extra="")
        values.update(over)
        path = os.path.join(self.dir, "parley-%s.conf" % (_name or mode))
        with open(path, "w") as f:
            f.write(PARLEY_TEMPLATE.format(**values))
        return path

    def start_parleyd(self, mode="direct", tag=None, primary=True, wait_xmpp=True, **over):
        """Start parleyd. tag: its own config and log file (parley-MODE-TAG.conf,
        parleyd-MODE-TAG.log), e.g. for a restart or a second instance. primary=False: not
        stack.parley (pass sip_port/admin_socket/instance of its own); stopped by stop_all.
        wait_xmpp=False: do not wait for the component link (XMPP server down)."""
        name = mode if tag is None else "%s-%s" % (mode, tag)
        cfg = self.write_parley_config(mode, _name=name, **over)
        exe = self.parleyd_path()
        r = subprocess.run([exe, "--check-config", "--config", cfg], capture_output=True, timeout=20)
        if r.returncode != 0:
            raise RuntimeError("parleyd --check-config failed (rc %d): %s"
                               % (r.returncode, (r.stdout + r.stderr).decode()[-2000:]))
        env = dict(os.environ)
        env.setdefault("G_MESSAGES_DEBUG", "all")
        proc = Proc("parleyd" if tag is None else "parleyd-" + tag, [exe, "--config", cfg],
                    os.path.join(self.dir, "parleyd-%s.log" % name), env=env, cwd=self.dir)
        if primary:
            self.parley = proc
        else:
            self._extra.append(proc)
        proc.wait_log("SIP listening on", 10)
        if wait_xmpp:
            proc.wait_log("XMPP component online", 10)
        log("%s up (%s mode) on SIP %s" % (proc.name, mode,
                                            over.get("sip_port", self.parley_port)))
        return proc

    def stop_parleyd(self):
        rc = self.parley.stop()
        self.parley = None
        return rc

    def parley_alive(self):
        return self.parley is not None and self.parley.poll() is None

    # ---------------------------------------------------------------- sipp
    def sipp_register(self, user, port, transport="u1", expires=600, contact_port=None):
        """REGISTER user@sip.test from port (Contact: that port, or contact_port: e.g. a sipp
        UAS already listening there, so nothing sent on the REGISTER's replication is lost)."""
        need("sipp")
        trace = os.path.join(self.dir, "sipp-reg-%s-%d.msg" % (user, port))
        scen = "register.xml" if contact_port is None else "register_contact.xml"
        r = subprocess.run(["sipp", "-sf", os.path.join(SIPP_DIR, scen), "-s", user,
                            "-key", "domain", SIP_DOMAIN, "-key", "expires", str(expires),
                            "-key", "cport", str(contact_port or port),
                            "-i", "127.0.0.1", "-p", str(port), "-t", transport, "-m", "1",
                            "-nostdin", "-timeout", "10s", "-trace_msg", "-message_file", trace,
                            "127.0.0.1:%d" % self.kam_port],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=30, cwd=self.dir)
        if r.returncode != 0:
            raise RuntimeError("sipp REGISTER %s failed (rc %d): %s" % (
                user, r.returncode, r.stdout.decode()[-1500:]))

    def sipp_uas(self, user, status=200, reason="OK", scenario="uas_reply.xml", register=True):
        """A registered sipp UAS for user@sip.test; returns a SippUas."""
        port = free_port()
        if register:
            self.sipp_register(user, port)
        u = SippUas(self, user, port, status, reason, scenario)
        self._sipps.append(u)
        return u

    def sipp_uac(self, user, to, body, subject="-", lang="en", ctype="text/plain;charset=UTF-8",
                 callid=None, fromparams="", from_domain=SIP_DOMAIN, register=True, timeout=15,
                 target_port=None, transport="u1"):
        """Send one MESSAGE from user@from_domain through Kamailio. Returns (final SipMsg or
        None, [all SipMsg of the trace]). target_port: send there instead of Kamailio."""
        port = free_port()
        if register:
            self.sipp_register(user, port)
        callid = callid or "it-%s@sipp" % secrets.token_hex(6)
        trace = os.path.join(self.dir, "sipp-uac-%s-%s.msg" % (user, callid.split("@")[0]))
        argv = ["sipp", "-sf", os.path.join(SIPP_DIR, "uac_message.xml"), "-s", user,
                "-key", "to", to, "-key", "domain", from_domain, "-key", "fromparams", fromparams,
                "-key", "subject", subject, "-key", "lang", lang, "-key", "ctype", ctype,
                "-cid_str", callid.replace("%", "%%"), "-key", "body", body,
                "-key", "blen", str(len(body.encode("utf-8"))),
                "-i", "127.0.0.1", "-p", str(port), "-t", transport, "-m", "1", "-nostdin",
                "-timeout", "%ds" % timeout, "-timeout_error", "-trace_msg", "-message_file", trace,
                "127.0.0.1:%d" % (target_port or self.kam_port)]
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout + 15, cwd=self.dir)
        msgs = parse_sipp_trace(trace)
        finals = [m for m in msgs if m.direction == "received" and m.status and m.status >= 200]
        if not finals:
            log("sipp UAC got no final response (rc %d): %s" % (r.returncode, r.stdout.decode()[-800:]))
        return (finals[-1] if finals else None), msgs


    # ---------------------------------------------------------------- offline-store helpers
    def sipp_uac_seq(self, user, to, count, rate=40, prefix="m", subject="-", from_domain=SIP_DOMAIN,
                     target_port=None, timeout=60):
        """Background sipp sending `count` MESSAGEs ("PREFIX N", N = 1..count, in order) from
        user@from_domain at `rate`/s through Kamailio. Returns a SippSeq (wait(), finals())."""
        need("sipp")
        seq = SippSeq(self, user, to, count, rate, prefix, subject, from_domain,
                      target_port or self.kam_port, timeout)
        self._sipps.append(seq)
        return seq

    def restart_xmpp_client_first(self, user="juliet", resource="it", name=None):
        """Start the (stopped) XMPP server again with parleyd paused (SIGSTOP) until `user` is
        online, then let parleyd go on: what it flushes when its link comes back reaches a live
        session instead of racing the login (ejabberd was seen to lose a message that arrived
        for a user whose session was starting). Returns the client."""
        os.kill(self.parley.pid, signal.SIGSTOP)
        try:
            self.restart_xmpp()
            c = self.client(user, resource, name)
        finally:
            os.kill(self.parley.pid, signal.SIGCONT)
        return c

    def parleyctl_path(self):
        path = os.environ.get("PARLEYCTL") or os.path.join(os.path.dirname(self.parleyd_path()),
                                                           "parleyctl")
        if not os.path.exists(path):
            raise RuntimeError("parleyctl not found next to parleyd (%s)" % path)
        return path

    def parleyctl(self, *args, sock=None, as_json=False, timeout=20):
        """Run parleyctl against the admin socket: (exit code, stdout or parsed JSON, stderr)."""
        argv = [self.parleyctl_path(), "--socket", sock or self.admin_socket]
        if as_json:
            argv.append("--json")
        r = subprocess.run(argv + list(args), capture_output=True, timeout=timeout)
        out = r.stdout.decode()
        if as_json and out.strip():
            try:
                out = json.loads(out)
            except ValueError:
                pass
        return r.returncode, out, r.stderr.decode()

    def parley_counters(self, proc=None, timeout=5.0):
        """SIGUSR1 parleyd (proc or stack.parley) and parse the 'counters:' line it logs:
        {name: int} (only counters that were ever bumped appear)."""
        proc = proc or self.parley
        n = len(re.findall(r"counters:", proc.text()))
        os.kill(proc.pid, signal.SIGUSR1)
        proc.wait_log(r"counters:", timeout, count=n + 1)
        line = [l for l in proc.text().splitlines() if "counters:" in l][-1]
        first = line.split("counters:", 1)[1].split(";", 1)[0]
        out = {}
        for kv in first.split():
            k, _, v = kv.partition("=")
            if v.isdigit():
                out[k] = int(v)
        return out


def parse_stamp(stamp):
    """XEP-0082 UTC stamp 2025-01-01T09:58:12.345Z -> seconds since the epoch (float)."""
    if not stamp or not stamp.endswith("Z"):
        return None
    base, _, frac = stamp[:-1].partition(".")
    try:
        t = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    return t + (float("0." + frac) if frac.isdigit() else 0.0)


def xmpp_delays(xml):
    """The XEP-0203 <delay/> children of a stanza (its serialised XML): [(from, stamp)]."""
    import xml.etree.ElementTree as ET
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return []
    return [(el.get("from"), el.get("stamp")) for el in root
            if el.tag == "{urn:xmpp:delay}delay"]


class SippSeq:
    """sipp -sf uac_seq.xml in the background (Stack.sipp_uac_seq)."""

    def __init__(self, stack, user, to, count, rate, prefix, subject, from_domain, port, timeout):
        self.count = count
        self.prefix = prefix
        lport = free_port()
        self.trace = os.path.join(stack.dir, "sipp-seq-%s-%s-%d.msg" % (user, prefix, lport))
        self.proc = Proc("sipp-seq-%s" % prefix,
                         ["sipp", "-sf", os.path.join(SIPP_DIR, "uac_seq.xml"), "-s", user,
                          "-key", "to", to, "-key", "domain", from_domain, "-key", "prefix", prefix,
                          "-key", "subject", subject, "-i", "127.0.0.1", "-p", str(lport),
                          "-t", "u1", "-m", str(count), "-r", str(rate), "-l", str(count),
                          "-nostdin", "-timeout", "%ds" % timeout, "-trace_msg",
                          "-message_file", self.trace, "127.0.0.1:%d" % port],
                         os.path.join(stack.dir, "sipp-seq-%s-%d.log" % (prefix, lport)),
                         cwd=stack.dir)

    def wait(self, timeout=60.0):
        """Wait for sipp to end (every call answered or failed); returns its exit code."""
        try:
            return self.proc.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def finals(self):
        """{N: final status} for every message N that got a final response (last one wins;
        calls with none are absent). N comes from the Call-ID ("N-pid@ip")."""
        out = {}
        for m in parse_sipp_trace(self.trace):
            if m.direction == "received" and m.status and m.status >= 200:
                cid = m.h("call-id") or ""
                num = cid.split("-", 1)[0]
                if num.isdigit():
                    out[int(num)] = m.status
        return out

    def stop(self):
        self.proc.stop()


class SippUas:
    def __init__(self, stack, user, port, status, reason, scenario):
        self.user = user
        self.port = port
        self.trace = os.path.join(stack.dir, "sipp-uas-%s-%d.msg" % (user, port))
        # sipp checks the status line when it loads the scenario, so [status] and [reason]
        # are filled in here rather than with -key
        with open(os.path.join(SIPP_DIR, scenario)) as f:
            text = f.read().replace("[status]", str(status)).replace("[reason]", reason)
        sf = os.path.join(stack.dir, "uas-%s-%d.xml" % (user, port))
        with open(sf, "w") as f:
            f.write(text)
        self.proc = Proc("sipp-uas-%s" % user,
                         ["sipp", "-sf", sf,
                          "-i", "127.0.0.1", "-p", str(port), "-nostdin", "-bind_local",
                          "-trace_msg", "-message_file", self.trace, "-max_recv_loops", "100"],
                         os.path.join(stack.dir, "sipp-uas-%s-%d.log" % (user, port)), cwd=stack.dir)
        time.sleep(0.3)
        if self.proc.poll() is not None:
            raise RuntimeError("sipp UAS %s exited: %s" % (user, self.proc.tail()))

    def messages(self, method="MESSAGE"):
        return [m for m in parse_sipp_trace(self.trace)
                if m.direction == "received" and m.method == method]

    def all(self):
        return parse_sipp_trace(self.trace)

    def wait(self, n=1, timeout=10.0, pred=lambda m: True):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = [m for m in self.messages() if pred(m)]
            if len(got) >= n:
                return got
            time.sleep(0.1)
        return [m for m in self.messages() if pred(m)]

    def stop(self):
        self.proc.stop()


# ----------------------------------------------------------------------------- helpers

def server_from_argv(default="prosody"):
    for i, a in enumerate(sys.argv):
        if a == "--server" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if a.startswith("--server="):
            return a.split("=", 1)[1]
    return os.environ.get("PARLEY_XMPP_SERVER", default)


def run_test(name, body):
    """Entry point of every test file: builds a Stack, runs body(stack), exits 0/1."""
    server = server_from_argv()
    t0 = time.monotonic()
    rc = 1
    stack = None
    try:
        stack = Stack(name, server)
        with stack:
            body(stack)
        rc = stack.checks.summary()
    except Exception as e:
        import traceback
        traceback.print_exc()
        log("ERROR:", e)
        if stack is not None:
            stack.checks.summary()
        rc = 1
    log("%s on %s: %s in %.1f s" % (name, server, "PASS" if rc == 0 else "FAIL",
                                    time.monotonic() - t0))
    sys.exit(rc)
