#!/usr/bin/python3
"""SIP over UDP under sustained load keeps parleyd's memory bounded (LIBRARIES.md trap 3).

sofia keeps every answered UDP transaction for Timer J (32 s, ~10 KB each); parleyd shortens
that to [sip] udp_retention_ms (2 s by default) and catches late retransmissions with its
dedupe cache. The test sends the same load twice -- once with the default retention, once
with sofia's own 32 s -- and compares parleyd's peak memory (VmHWM). With the XMPP link down
every MESSAGE is answered 503, which still creates one transaction each: the transaction
memory is what is measured. The comparison is relative, so it holds under ASan too.
"""
import os
import subprocess
import sys

import harness
from harness import Checks, Proc, free_port, log, need

COUNT = int(os.environ.get("PRL_LOAD_COUNT", "16000"))
RATE = int(os.environ.get("PRL_LOAD_RATE", "2000"))

CONF = """[xmpp]
host = 127.0.0.1
port = {xmpp_port}
component = sip.test
secret = unused
reconnect_min_ms = 5000
reconnect_max_ms = 5000
[sip]
port = {sip_port}
transports = udp
udp_retention_ms = {retention}
"""


def vm(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
    return 0


def run_load(workdir, retention):
    sip_port = free_port()
    cfg = os.path.join(workdir, "parley-%d.conf" % retention)
    with open(cfg, "w") as f:
        f.write(CONF.format(xmpp_port=free_port(), sip_port=sip_port, retention=retention))
    exe = harness.Stack.parleyd_path(None)
    # Under ASan freed memory sits in its quarantine and would hide what sofia frees.
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "quarantine_size_mb=1"]))
    p = Proc("parleyd", [exe, "--config", cfg],
             os.path.join(workdir, "parleyd-%d.log" % retention), env=env)
    try:
        p.wait_log("SIP listening on", 10)
        base = vm(p.pid, "VmRSS")
        r = subprocess.run([need("sipp"), "-sf", os.path.join(harness.SIPP_DIR, "uac_flood.xml"),
                            "-i", "127.0.0.1", "-p", str(free_port()), "-m", str(COUNT),
                            "-r", str(RATE), "-l", str(RATE * 4), "-nostdin", "-timeout", "120s",
                            "-buff_size", "4194304", "127.0.0.1:%d" % sip_port],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=150, cwd=workdir)
        peak = vm(p.pid, "VmHWM")
        alive = p.poll() is None
        log("retention %5d ms: sipp rc %d, RSS %d kB before, peak %d kB (+%d kB)"
            % (retention, r.returncode, base, peak, peak - base))
        return r.returncode, alive, peak - base
    finally:
        p.stop()


def main():
    import tempfile
    checks = Checks()
    workdir = tempfile.mkdtemp(prefix="parley-udp-memory-")
    rc_short, alive_short, grow_short = run_load(workdir, 2000)
    rc_long, alive_long, grow_long = run_load(workdir, 32000)
    checks.check(alive_short and alive_long, "parleyd survived both loads")
    checks.eq(rc_short, 0, "every MESSAGE answered with 2 s retention (sipp rc)")
    checks.eq(rc_long, 0, "every MESSAGE answered with 32 s retention (sipp rc)")
    # 16 000 transactions held for 32 s is ~150 MB; with 2 s only ~4 000 are alive at once.
    checks.check(grow_short * 2 < grow_long,
                 "2 s retention peaks at under half of sofia's 32 s (%d kB vs %d kB)"
                 % (grow_short, grow_long))
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
