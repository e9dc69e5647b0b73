"""Terminal XMPP clients (profanity, mcabber) for the interop tests: a program in a detached
tmux session, and the REGISTER with +sip.instance the SIP side of those tests needs."""
import os
import shlex
import signal
import subprocess
import time
import re

import harness as H

TMUX_ENV = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8")


class TmuxPeer:
    """One terminal program in a detached tmux session (socket in the test directory).
    stop(): the program's quit command, then kill-server, then SIGKILL to what is left of the
    server's and the pane's process trees."""

    def __init__(self, st, name, argv, env, quit_keys):
        H.need("tmux")
        self.name = name
        self.sock = os.path.join(st.dir, name + ".tmux")
        self.quit_keys = quit_keys
        self.stopped = False
        cmd = "exec env %s %s" % (" ".join(shlex.quote("%s=%s" % kv) for kv in env.items()),
                                   " ".join(shlex.quote(a) for a in argv))
        self._tmux("new-session", "-d", "-s", name, "-x", "160", "-y", "50", cmd)
        st._extra.append(self)
        self.pids = [int(p) for p in
                     self._tmux("display-message", "-p", "-t", name, "#{pid} #{pane_pid}").split()]

    def _tmux(self, *args):
        r = subprocess.run(["tmux", "-S", self.sock, "-f", "/dev/null"] + list(args),
                           capture_output=True, timeout=10, env=TMUX_ENV)
        if r.returncode != 0:
            raise RuntimeError("tmux %s: %s" % (args[0], r.stderr.decode()))
        return r.stdout.decode("utf-8", "replace")

    def keys(self, text, enter=True, pause=0.0):
        """Type text (literally; with `pause` s between characters), then Enter."""
        if pause:
            for ch in text:
                self._tmux("send-keys", "-t", self.name, "-l", ch)
                time.sleep(pause)
        elif text:
            self._tmux("send-keys", "-t", self.name, "-l", text)
        if enter:
            self._tmux("send-keys", "-t", self.name, "Enter")

    def screen(self):
        return self._tmux("capture-pane", "-p", "-J", "-t", self.name)

    def wait_screen(self, pattern, timeout=10.0):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.screen()
            if rx.search(s):
                return s
            time.sleep(0.2)
        raise RuntimeError("%s: no %r on screen within %.0f s:\n%s"
                           % (self.name, pattern, timeout, self.screen()))

    def alive(self):
        return os.path.exists("/proc/%d" % self.pids[1]) and not _zombie(self.pids[1])

    def stop(self):
        if self.stopped:
            return
        self.stopped = True
        try:
            if self.alive():
                self.keys(self.quit_keys)
                deadline = time.monotonic() + 3
                while time.monotonic() < deadline and self.alive():
                    time.sleep(0.1)
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        try:
            self._tmux("kill-server")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        for root in self.pids:
            for pid in reversed(H._pids_in_tree(root)):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def _zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def register_instance(st, user, contact_port, instance):
    """REGISTER user@sip.test with Contact 127.0.0.1:contact_port (a sipp UAS already listening
    there) and +sip.instance="<instance>", so that Kamailio's lookup finds the contact for a
    Request-URI with ;gr=instance (which is where parleyd sends what goes to a full JID)."""
    with open(os.path.join(H.SIPP_DIR, "register_contact.xml")) as f:
        scen = f.read()
    line = "Contact: <sip:[service]@[local_ip]:[cport];transport=[transport]>"
    if line not in scen:
        raise RuntimeError("register_contact.xml has no %r" % line)
    sf = os.path.join(st.dir, "register-instance-%s.xml" % user)
    with open(sf, "w") as f:
        f.write(scen.replace(line, line + ';+sip.instance="<%s>"' % instance))
    r = subprocess.run(["sipp", "-sf", sf, "-s", user, "-key", "domain", H.SIP_DOMAIN,
                        "-key", "expires", "600", "-key", "cport", str(contact_port),
                        "-i", "127.0.0.1", "-p", str(H.free_port()), "-t", "u1", "-m", "1",
                        "-nostdin", "-timeout", "10s", "127.0.0.1:%d" % st.kam_port],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30, cwd=st.dir)
    if r.returncode != 0:
        raise RuntimeError("REGISTER %s with an instance failed: %s" % (user, r.stdout[-1500:]))


def got_on_sip(msgs):
    """MESSAGEs a sipp UAS got as [(kind, value, CPIM headers (dict) or None)]: kind "text"
    (the body, unwrapped from CPIM), "state" (an isComposing state) or "other"."""
    out = []
    for m in msgs:
        ct = (m.h("content-type") or "").lower()
        text = m.text()
        if ct.startswith("message/cpim"):
            head, _, rest = text.partition("\r\n\r\n")
            _, _, inner = rest.partition("\r\n\r\n")
            hdrs = dict(l.split(": ", 1) for l in head.split("\r\n") if ": " in l)
            out.append(("text", inner, hdrs))
        elif ct.startswith("text/plain"):
            out.append(("text", text, None))
        elif ct.startswith("application/im-iscomposing+xml"):
            st = re.search(r"<state>\s*(\w+)\s*</state>", text)
            out.append(("state", st.group(1) if st else "?", None))
        else:
            out.append(("other", ct, None))
    return out
