#!/usr/bin/python3
"""parleyd's command line, as an operator uses it: --version, --check-config on the shipped
example (OK) and on a broken file (every problem with FILE:LINE, exit 1), a missing file, and
SIGINT as a clean stop (exit 0) while the XMPP server is unreachable."""
import os
import signal
import subprocess
import sys
import tempfile

import harness as H


def run(*args):
    r = subprocess.run([H.Stack.parleyd_path(None), *args], capture_output=True, timeout=20)
    return r.returncode, (r.stdout + r.stderr).decode()


def main():
    c = H.Checks()
    rc, text = run("--version")
    c.check(rc == 0 and text.startswith("parleyd "), "--version prints the version", text)

    example = os.path.join(H.EXAMPLES, "parley.conf")
    rc, text = run("--check-config", "--config", example)
    c.check(rc == 0 and "OK" in text, "--check-config accepts examples/parley.conf", text)

    d = tempfile.mkdtemp(prefix="parley-cli-")
    bad = os.path.join(d, "bad.conf")
    with open(bad, "w") as f:
        f.write("[xmpp]\ncomponent = sip.test\nsecret = s\nport = 70000\nhost = xmpp.test\n"
                "[sip]\ntransports = udp;carrier-pigeon\n[core]\nsip_window = 0\n")
    rc, text = run("--check-config", "--config", bad)
    c.eq(rc, 1, "--check-config on a bad file: exit status")
    for where in ("bad.conf:4: [xmpp] port", "bad.conf:5: [xmpp] host", "bad.conf:7: [sip] transports",
                  "bad.conf:9: [core] sip_window"):
        c.check(where in text, "reports %s" % where, text)
    rc, text = run("--check-config", "--config", os.path.join(d, "missing.conf"))
    c.check(rc == 1 and "missing.conf" in text, "a missing file is reported, exit 1", text)

    good = os.path.join(d, "good.conf")
    with open(good, "w") as f:
        f.write("[xmpp]\ncomponent = sip.test\nsecret = s\nport = %d\n[sip]\nport = %d\n"
                % (H.free_port(), H.free_port()))
    p = H.Proc("parleyd", [H.Stack.parleyd_path(None), "--config", good], os.path.join(d, "p.log"))
    try:
        p.wait_log("SIP listening on", 10)
        p.signal_group(signal.SIGINT)
        p.p.wait(10)
        c.eq(p.poll(), 0, "SIGINT: clean exit status")
        c.check("stopped" in p.text(), "SIGINT: shutdown logged", p.tail())
    finally:
        p.stop()
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
