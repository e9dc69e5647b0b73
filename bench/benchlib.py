"""Pieces of the Parley benchmark (bench/run): the stack on loopback, load tools, resource meters.

Reuses tests/integration/harness.py (imported, unchanged) for process handling, free ports,
Prosody and Redis; everything the benchmark needs beyond it lives here.
"""
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402
from harness import Proc, free_port, wait_port, log, XMPP_DOMAIN, SIP_DOMAIN, SECRET  # noqa: E402

PY = "/usr/bin/python3"
KX_COMPONENT = "kx.xmpp.test"            # the reference gateway's component domain
SHIM = os.path.join(BENCH, "shim", "expat-sentinel.so")
SIPP_DIR = os.path.join(BENCH, "sipp")
KAM_SHM_MB = 2048                        # PEERS.md §5: Kamailio under MESSAGE load

RECEIVER, SENDER = "juliet", "romeo"     # XMPP users of the benchmark
SIPP_COMMON = ["-nostdin", "-buff_size", "4194304"]


# ----------------------------------------------------------------------------- stack

class BenchStack(harness.Stack):
    """harness.Stack plus the reference gateway's component domain in Prosody."""

    def _prosody_env(self):
        env = super()._prosody_env()
        env["PARLEY_COMPONENTS"] = "%s;%s" % (SIP_DOMAIN, KX_COMPONENT)
        env["PROSODY_LOGLEVEL"] = os.environ.get("BENCH_PROSODY_LOGLEVEL", "warn")
        return env

    # ------------------------------------------------------------ Kamailio (SIP domain)
    def start_sip_domain(self):
        """examples/kamailio.cfg unchanged (Parley's SIP domain proxy), with -m KAM_SHM_MB."""
        self.kam_port = free_port()
        if self.parley_port is None:
            self.parley_port = free_port()
        run = os.path.join(self.dir, "kamailio")
        os.makedirs(run, exist_ok=True)
        env = dict(os.environ, KAM_LISTEN_IP="127.0.0.1", KAM_SIP_PORT=str(self.kam_port),
                   KAM_SIP_DOMAINS=SIP_DOMAIN, KAM_GW_DOMAINS=XMPP_DOMAIN,
                   KAM_PARLEY_URI="sip:127.0.0.1:%d" % self.parley_port, KAM_FR_TIMER="3000")
        self.kam = _kamailio("kamailio-sip", os.path.join(ROOT, "examples", "kamailio.cfg"), run,
                             env, os.path.join(self.dir, "kamailio.log"))
        wait_port(self.kam_port, 10, self.kam)
        log("SIP-domain kamailio (examples/kamailio.cfg) on %d" % self.kam_port)

    # ------------------------------------------------------------ msilo registrar (reference)
    def start_msilo(self):
        self.msilo_port = free_port()
        run = os.path.join(self.dir, "kamailio-msilo")
        os.makedirs(run, exist_ok=True)
        db = os.path.join(run, "msilo.db")
        sql = "".join(open("/usr/share/kamailio/db_sqlite/%s-create.sql" % t).read()
                      for t in ("standard", "msilo"))
        subprocess.run(["sqlite3", db], input=sql.encode(), check=True, timeout=30)
        self.msilo_db = db
        env = dict(os.environ, KM_LISTEN_IP="127.0.0.1", KM_SIP_PORT=str(self.msilo_port),
                   KM_SIP_DOMAINS=SIP_DOMAIN, KM_DB_URL="sqlite:///" + db,
                   KM_SELF="sip:127.0.0.1:%d" % self.msilo_port)
        self.msilo = _kamailio("kamailio-msilo", os.path.join(BENCH, "kamailio-msilo.cfg"), run,
                               env, os.path.join(self.dir, "kamailio-msilo.log"))
        self._extra.append(self.msilo)
        _wait_udp_log(self.msilo)
        log("msilo kamailio (db_sqlite %s) on %d" % (db, self.msilo_port))

    # ------------------------------------------------------------ reference gateway
    def start_kx(self, outbound_port, xmpp_port=None, name="kamailio-kx", cpu=None):
        """The reference gateway. Defaults: the component link to Prosody, stored as self.kx.
        With xmpp_port (the benchmark's sink) it is a further instance, returned (its SIP
        port in .sip_port), pinned to `cpu` if given."""
        sip_port = free_port()
        run = os.path.join(self.dir, name)
        os.makedirs(run, exist_ok=True)
        env = dict(os.environ, KX_LISTEN_IP="127.0.0.1", KX_SIP_PORT=str(sip_port),
                   KX_COMPONENT=KX_COMPONENT,
                   KX_XMPP_PORT=str(xmpp_port or self.component_port),
                   KX_SECRET=SECRET, KX_OUTBOUND="sip:127.0.0.1:%d" % outbound_port,
                   KX_GWMAP="%s=%s" % (SIP_DOMAIN, KX_COMPONENT), LD_PRELOAD=SHIM)
        kx = _kamailio(name, os.path.join(BENCH, "kamailio-xmpp.cfg"), run, env,
                       os.path.join(self.dir, name + ".log"), cpu=cpu)
        kx.sip_port = sip_port
        self._extra.append(kx)
        _wait_udp_log(kx)
        log("reference gateway %s (kamailio xmpp module + shim) on SIP %d, component %s -> %d%s"
            % (name, sip_port, KX_COMPONENT, xmpp_port or self.component_port,
               "" if cpu is None else ", CPU %d" % cpu))
        if xmpp_port is None:
            self.kx, self.kx_port = kx, sip_port
        return kx

    # ------------------------------------------------------------ parleyd
    def start_parley(self, parleyd, **over):
        if self.parley_port is None:
            self.parley_port = free_port()
        self.parley, self.parley_conf = self._parleyd(
            parleyd, "parleyd", "parley-bench.conf", self.component_port, self.parley_port,
            self.kam_port, self.admin_socket, **over)
        log("parleyd up on SIP %d (%s)" % (self.parley_port, parleyd))

    def start_parley_extra(self, parleyd, name, component_port, outbound_port, cpu=None, **over):
        """A further parleyd (the ceiling and RSS scenarios): its own SIP port and admin socket,
        the XMPP server at component_port (the benchmark's sink), outbound proxy outbound_port
        (a sipp UAS), pinned to `cpu` if given. Stopped by stop_all (or stop_extra)."""
        sip_port = free_port()
        proc, conf = self._parleyd(parleyd, name, name + ".conf", component_port, sip_port,
                                   outbound_port, os.path.join(self.dir, name + ".sock"),
                                   cpu=cpu, **over)
        self._extra.append(proc)
        proc.sip_port = sip_port
        proc.conf = conf
        log("%s up on SIP %d, component link to %d, outbound %d%s"
            % (name, sip_port, component_port, outbound_port,
               "" if cpu is None else ", CPU %d" % cpu))
        return proc

    def stop_extra(self, proc):
        proc.stop()
        if proc in self._extra:
            self._extra.remove(proc)

    def _parleyd(self, parleyd, name, conf_name, component_port, sip_port, outbound_port, admin,
                 cpu=None, extra="", **over):
        """extra: further config text appended (the msrp scenario's [chat] section)."""
        values = dict(component_port=component_port, secret=SECRET,
                      sip_port=sip_port, kam_port=outbound_port,
                      redis_port=self.redis_port, admin=admin,
                      quota_count=over.get("quota_count", 20000),
                      sip_window=over.get("sip_window", 1),
                      bounce_window_ms=over.get("bounce_window_ms", 200),
                      flush_window=over.get("flush_window", 32))
        cfg = os.path.join(self.dir, conf_name)
        with open(cfg, "w") as f:
            f.write(PARLEY_CONF.format(**values) + extra)
        r = subprocess.run([parleyd, "--check-config", "--config", cfg], capture_output=True,
                           timeout=20)
        if r.returncode:
            raise RuntimeError("parleyd --check-config: %s" % (r.stdout + r.stderr).decode())
        env = dict(os.environ)
        env.pop("G_MESSAGES_DEBUG", None)
        proc = Proc(name, pinned(cpu) + [parleyd, "--config", cfg],
                    os.path.join(self.dir, name + ".log"), env=env, cwd=self.dir)
        proc.wait_log("SIP listening on", 10)
        proc.wait_log("XMPP component online", 10)
        return proc, values


# Product defaults except: addresses, offline quota_count (a 10 000-message offline scenario
# needs more than the default 1 000 per recipient), the keys the benchmark reports, and
# flush_window = 32 (the default 1 keeps RFC 3428's one MESSAGE at a time; it only affects
# the offline scenario's flush: mapping-docs/offline.md §6a).
PARLEY_CONF = """\
# written by bench/benchlib.py
[xmpp]
host = 127.0.0.1
port = {component_port}
component = sip.test
secret = {secret}

[sip]
bind = 127.0.0.1
port = {sip_port}
transports = udp;tcp
outbound_proxy = sip:127.0.0.1:{kam_port}

[mapping]
mode = direct

[core]
bounce_window_ms = {bounce_window_ms}
sip_window = {sip_window}

[offline]
store = redis
redis_host = 127.0.0.1
redis_port = {redis_port}
quota_count = {quota_count}
quota_bytes = 0
flush_window = {flush_window}

[admin]
socket = {admin}
"""


def pinned(cpu):
    """argv prefix that runs a command on one CPU (nothing if cpu is None)."""
    return [] if cpu is None else ["taskset", "-c", str(cpu)]


def _kamailio(name, cfg, run, env, logfile, cpu=None):
    r = subprocess.run(["kamailio", "-c", "-f", cfg], env={k: v for k, v in env.items()
                                                            if k != "LD_PRELOAD"},
                       capture_output=True, timeout=30)
    if r.returncode:
        raise RuntimeError("kamailio -c %s: %s" % (cfg, r.stderr.decode()[-2000:]))
    return Proc(name, pinned(cpu) + ["kamailio", "-f", cfg, "-m", str(KAM_SHM_MB), "-M", "16", "-DD", "-E",
                       "-Y", run, "-P", os.path.join(run, "kamailio.pid"), "-w", run],
                logfile, env=env, cwd=run)


def _wait_udp_log(proc, timeout=15):
    """UDP-only Kamailio: ready once its children are forked (pid tree has >2 processes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited: %s" % (proc.name, proc.tail()))
        if len(harness._pids_in_tree(proc.pid)) >= 3:
            time.sleep(0.5)
            return
        time.sleep(0.1)
    raise RuntimeError("%s not ready: %s" % (proc.name, proc.tail()))


# ----------------------------------------------------------------------------- XMPP client

class RawClient:
    """bench/xmppraw.py in a subprocess (JSON lines in and out)."""

    def __init__(self, stack, user, resource="bench"):
        self.jid = "%s@%s/%s" % (user, XMPP_DOMAIN, resource)
        errlog = open(os.path.join(stack.dir, "xmppraw-%s-%s.log" % (user, resource)), "ab")
        self.p = subprocess.Popen([PY, os.path.join(BENCH, "xmppraw.py"), self.jid,
                                   harness.password_for(user), "127.0.0.1", str(stack.c2s_port)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog,
                                  start_new_session=True)
        self.pid = self.p.pid
        self.events = queue.Queue()
        threading.Thread(target=self._reader, daemon=True).start()
        stack._raw = getattr(stack, "_raw", []) + [self]
        ev = self.wait("online", 10)
        if ev is None:
            raise RuntimeError("raw XMPP client %s did not come online" % self.jid)
        time.sleep(0.3)

    def _reader(self):
        for line in self.p.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                pass
        self.events.put({"event": "closed"})

    FAIL_EVENTS = ("failed", "closed")   # events that end the client: wait() raises

    def label(self):
        return "raw XMPP client %s" % self.jid

    def wait(self, event, timeout):
        """The next event named @event (others are skipped), or None after @timeout s."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                return None
            if ev.get("event") == event:
                return ev
            self.other_event(ev, event)

    def other_event(self, ev, waiting_for):
        """An event wait() skips; one of FAIL_EVENTS ends the client."""
        if ev.get("event") in self.FAIL_EVENTS:
            raise RuntimeError("%s: %s" % (self.label(), ev))

    def cmd(self, op, **kw):
        """Send a command; returns at once (wait() for its answer)."""
        self.p.stdin.write((json.dumps(dict(op=op, **kw)) + "\n").encode())
        self.p.stdin.flush()

    def reset(self):
        self.cmd("reset")
        self.wait("reset", 5)

    def stats(self):
        self.cmd("stats")
        return self.wait("stats", 5)

    def send(self, to, rate, count, prefix="X", mtype="chat"):
        """Start sending; returns at once (wait_sent() for the end). mtype: the stanzas' type
        (the offline MSRP-push variant sends 'normal': with [chat] enabled a 'chat' stanza
        would open a chat session instead of a page-mode MESSAGE)."""
        self.cmd("send", to=list(to), rate=rate, count=count, prefix=prefix, type=mtype)

    def wait_sent(self, timeout):
        return self.wait("sent", timeout)

    def stop(self):
        if self.p.poll() is None:
            try:
                self.cmd("quit")
                self.p.wait(3)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.pid, signal.SIGKILL)
                self.p.wait(5)


def stop_raw_clients(stack):
    for c in getattr(stack, "_raw", []):
        try:
            c.stop()
        except Exception as e:
            log("teardown raw client: %s" % e)


class Sink:
    """bench/xmpp-sink (built by bench/run) in a subprocess: the XMPP server's side of one
    component link (a gateway connects to .port), counting what the gateway sends and writing
    messages to it at a rate. peer_port: the component side instead (the tool's self-test)."""

    BIN = os.path.join(BENCH, "xmpp-sink")

    def __init__(self, stack, name, cpu=None, peer_port=None):
        self.name = name
        self.port = peer_port or free_port()
        mode = (["--connect", str(peer_port), "--domain", SIP_DOMAIN] if peer_port
                else ["--listen", str(self.port)])
        errlog = open(os.path.join(stack.dir, "sink-%s.log" % name), "ab")
        self.p = subprocess.Popen(pinned(cpu) + [self.BIN] + mode + ["--secret", SECRET],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog,
                                  start_new_session=True)
        self.pid = self.p.pid
        self.events = queue.Queue()
        threading.Thread(target=self._reader, daemon=True).start()
        stack._raw = getattr(stack, "_raw", []) + [self]
        if not peer_port and self.wait("listening", 5) is None:
            raise RuntimeError("xmpp-sink %s did not start" % name)

    _reader = RawClient._reader

    wait = RawClient.wait

    def other_event(self, ev, waiting_for):
        """A component link closing is logged, not fatal: the gateway reconnects."""
        if ev.get("event") == "closed" and waiting_for != "closed":
            log("xmpp-sink %s: a component link closed" % self.name)

    def _cmd(self, line):
        self.p.stdin.write((line + "\n").encode())
        self.p.stdin.flush()

    def reset(self):
        self._cmd("reset")
        self.wait("reset", 5)

    def stats(self):
        self._cmd("stats")
        return self.wait("stats", 10)

    def count(self):
        """stats() without latencies (cheap while 10^6 are stored)."""
        self._cmd("count")
        return self.wait("count", 5)

    def send(self, domain, ndest, rate, count, sender="romeo@%s/bench" % XMPP_DOMAIN, prefix="X"):
        """Start sending to u0..u<ndest-1>@domain; returns at once (wait_sent() for the end)."""
        self._cmd("send %s %d %d %s %s %s" % (rate, count, ndest, domain, sender, prefix))

    def wait_sent(self, timeout):
        return self.wait("sent", timeout)

    def stop(self):
        if self.p.poll() is None:
            try:
                self._cmd("quit")
                self.p.wait(3)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.pid, signal.SIGKILL)
                self.p.wait(5)


class MsrpDriver:
    """bench/msrp_driver.py in a subprocess: SIP users (tests/integration/msrp_peer.py) with
    MSRP sessions through the proxy at proxy_port. JSON lines in and out (see its header)."""

    def __init__(self, stack, name, proxy_port):
        self.name = name
        errlog = open(os.path.join(stack.dir, "msrp-driver-%s.log" % name), "ab")
        self.p = subprocess.Popen([PY, os.path.join(BENCH, "msrp_driver.py"), str(proxy_port),
                                   SIP_DOMAIN, XMPP_DOMAIN],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog,
                                  start_new_session=True)
        self.pid = self.p.pid
        self.events = queue.Queue()
        threading.Thread(target=self._reader, daemon=True).start()
        stack._raw = getattr(stack, "_raw", []) + [self]
        if self.wait("ready", 10) is None:
            raise RuntimeError("msrp driver %s did not start" % name)

    _reader = RawClient._reader

    FAIL_EVENTS = ("error", "closed")

    def label(self):
        return "msrp driver %s" % self.name

    wait = RawClient.wait
    cmd = RawClient.cmd

    def stop(self):
        if self.p.poll() is None:
            try:
                self.cmd("quit")
                self.p.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.pid, signal.SIGKILL)
                self.p.wait(5)


# ----------------------------------------------------------------------------- sipp

def read_stat(path):
    """Last line of a sipp -trace_stat CSV as {column: value} (numbers where possible)."""
    try:
        with open(path) as f:
            lines = [l for l in f.read().splitlines() if l.strip()]
    except FileNotFoundError:
        return {}
    if len(lines) < 2:
        return {}
    head = lines[0].split(";")
    out = {}
    for k, v in zip(head, lines[-1].split(";")):
        try:
            out[k] = float(v) if "." in v else int(v)
        except ValueError:
            out[k] = v
    return out


def sipp_register(stack, users, registrar_port, contact_port, expires=3600):
    """REGISTER users@sip.test at registrar_port, Contact on contact_port (one sipp run)."""
    inf = os.path.join(stack.dir, "users-%d.csv" % contact_port)
    with open(inf, "w") as f:
        f.write("SEQUENTIAL\n" + "".join("%s;\n" % u for u in users))
    r = subprocess.run(["sipp", "-sf", os.path.join(SIPP_DIR, "register_inf.xml"), "-inf", inf,
                        "-key", "domain", SIP_DOMAIN, "-key", "cport", str(contact_port),
                        "-key", "expires", str(expires), "-i", "127.0.0.1", "-p",
                        str(free_port()), "-m", str(len(users)), "-r", "200", "-timeout", "20s",
                        "-timeout_error"] + SIPP_COMMON + ["127.0.0.1:%d" % registrar_port],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60, cwd=stack.dir)
    if r.returncode != 0:
        raise RuntimeError("sipp REGISTER %d users at %d failed (rc %d): %s"
                           % (len(users), registrar_port, r.returncode, r.stdout.decode()[-800:]))


class SippUas:
    """sipp answering 200 to every MESSAGE on a port; counts from its -trace_stat CSV.
    count: stop after that many calls (its exit marks the end)."""

    def __init__(self, stack, name, count=None, port=None, timestamps=False, cpu=None):
        self.port = port or free_port()
        self.stat = os.path.join(stack.dir, "uas-%s-%d.csv" % (name, self.port))
        scen = "uas_200_ts.xml" if timestamps else "uas_200.xml"
        argv = pinned(cpu) + ["sipp", "-sf", os.path.join(SIPP_DIR, scen), "-i", "127.0.0.1",
                              "-p", str(self.port), "-bind_local", "-trace_stat", "-stf",
                              self.stat, "-fd", "1"]
        self.lat_log = None
        if timestamps:
            self.lat_log = os.path.join(stack.dir, "uas-%s-%d-lat.log" % (name, self.port))
            argv += ["-trace_logs", "-log_file", self.lat_log]
            self._lat_pos = 0
        if count:
            argv += ["-m", str(count)]
        self.proc = Proc("sipp-uas-" + name, argv + SIPP_COMMON,
                         os.path.join(stack.dir, "uas-%s-%d.log" % (name, self.port)),
                         cwd=stack.dir)
        stack._sipps.append(self)
        time.sleep(0.3)
        if self.proc.poll() is not None:
            raise RuntimeError("sipp UAS exited: %s" % self.proc.tail())

    def calls(self):
        s = read_stat(self.stat)
        return s.get("SuccessfulCall(C)", 0), s

    def lat_mark(self):
        """Latencies from now on only (timestamps=True)."""
        try:
            self._lat_pos = os.path.getsize(self.lat_log)
        except OSError:
            self._lat_pos = 0

    def latencies(self):
        """{p50, p99, max, n} in ms, one per distinct sequence number logged since lat_mark():
        the UAS's receive time minus the send time the XMPP sender wrote into the body."""
        seen, lat = set(), []
        try:
            with open(self.lat_log, "rb") as f:
                f.seek(self._lat_pos)
                data = f.read()
        except OSError:
            data = b""
        for line in data.split(b"\n"):
            parts = line.split()
            if len(parts) < 5 or parts[0] != b"L":
                continue
            try:
                seq, ts = int(parts[1]), float(parts[2])
                now = float(parts[3]) + float(parts[4]) / 1e6
            except ValueError:
                continue
            if seq not in seen:
                seen.add(seq)
                lat.append(now - ts)
        return lat_summary(lat)

    def stop(self):
        self.proc.stop()


def lat_summary(lat):
    lat = sorted(lat)

    def pct(p):
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 3) if lat else None
    return dict(p50=pct(0.50), p99=pct(0.99), max=pct(1.0), n=len(lat))


def sipp_uac(stack, target_port, to, frm, rate, count, timeout_s=30, cpu=None, wait=True):
    """sipp sends `count` MESSAGEs at `rate`/s to target_port. Returns its counters (wait=False:
    returns at once a function that waits and then returns them)."""
    stat = os.path.join(stack.dir, "uac-%d.csv" % free_port())
    port = free_port()
    t0 = time.monotonic()
    p = subprocess.Popen(pinned(cpu) + ["sipp", "-sf", os.path.join(SIPP_DIR, "uac_rate.xml"),
                                        "-key", "to", to, "-key", "from", frm,
                                        "-i", "127.0.0.1", "-p", str(port), "-r", str(rate),
                                        "-rp", "1000", "-m", str(count), "-l", "200000",
                                        "-timeout", "%ds" % timeout_s, "-trace_stat",
                                        "-stf", stat, "-fd", "1"]
                         + SIPP_COMMON + ["127.0.0.1:%d" % target_port],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, cwd=stack.dir, start_new_session=True)

    def finish():
        try:
            p.wait(timeout_s + 30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)
        elapsed = time.monotonic() - t0
        s = read_stat(stat)
        return dict(rc=p.returncode, elapsed=round(elapsed, 3),
                    sent=s.get("OutgoingCall(C)", 0), ok=s.get("SuccessfulCall(C)", 0),
                    failed=s.get("FailedCall(C)", 0), retrans=s.get("Retransmissions(C)", 0),
                    rate_achieved=s.get("CallRate(C)"))
    if not wait:
        finish.pid = p.pid
        return finish
    try:
        return finish()
    except BaseException:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        raise


# ----------------------------------------------------------------------------- meters

def _stat_cpu(pid):
    """utime+stime of pid in seconds (0 if gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _status_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Meter:
    """CPU seconds and peak memory of a group of processes (each a root pid: the whole tree
    counts) over one measurement. Memory: sum of PSS sampled every 0.2 s (shared memory is
    counted once across Kamailio's processes), and VmHWM of each root pid (reset at start)."""

    def __init__(self, roots, reset_hwm=True):
        self.roots = [r for r in roots if r]
        self.reset_hwm = reset_hwm     # False for a meter inside another on the same pids

    def _pids(self):
        out = []
        for r in self.roots:
            out.extend(harness._pids_in_tree(r))
        return out

    def __enter__(self):
        for r in (self.roots if self.reset_hwm else []):
            try:
                with open("/proc/%d/clear_refs" % r, "w") as f:
                    f.write("5")
            except OSError:
                pass
        self.pids = self._pids()
        self.cpu0 = sum(_stat_cpu(p) for p in self.pids)
        self.peak_pss = 0
        self.peak_rss = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._sample, daemon=True)
        self._t.start()
        self.t0 = time.monotonic()
        return self

    def _sample(self):
        while not self._stop.is_set():
            pids = self._pids()
            self.peak_pss = max(self.peak_pss, sum(_pss_kb(p) for p in pids))
            self.peak_rss = max(self.peak_rss, sum(_status_kb(p, "VmRSS") for p in pids))
            self._stop.wait(0.2)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.wall = time.monotonic() - self.t0
        self.cpu = sum(_stat_cpu(p) for p in self.pids) - self.cpu0
        self.hwm_kb = sum(_status_kb(r, "VmHWM") for r in self.roots)
        return False

    def result(self):
        return dict(cpu_s=round(self.cpu, 4), wall_s=round(self.wall, 3),
                    peak_pss_mb=round(self.peak_pss / 1024, 1),
                    peak_rss_mb=round(self.peak_rss / 1024, 1),
                    vmhwm_mb=round(self.hwm_kb / 1024, 1))


def rss_mb(pid):
    return round(_status_kb(pid, "VmRSS") / 1024, 1)


def rss_kib(pid):
    return _status_kb(pid, "VmRSS")


def host_cpu():
    """(busy, total) jiffies of the whole machine (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


def host_busy(since):
    """Fraction of the machine's CPU time busy since host_cpu() returned `since`."""
    b, t = host_cpu()
    return round((b - since[0]) / max(1, t - since[1]), 3)
