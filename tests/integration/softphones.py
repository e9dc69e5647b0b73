"""Real SIP softphones for the interop tests: baresip, twinkle-console, linphone-daemon.

Each runs as a child process (harness.Proc: own process group, log file, SIGTERM then SIGKILL)
with its configuration written fresh into the test's directory, registered through the
harness's Kamailio as USER@sip.test on a free loopback port. Commands and configs follow
PEERS.md §1.3-§1.5 (what worked on this kind of machine). A missing binary is a failure:
scripts/test installs every peer.
"""
import json
import os
import re
import socket
import subprocess
import time

import harness as H


def _wait(pred, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def wait_registered(stack, user, timeout=15.0):
    """Kamailio logged a REGISTER for user@sip.test that it accepted (replicated to parleyd)."""
    rx = re.compile(r"REQ REGISTER ruri=\S* from=sip:%s@" % re.escape(user))
    if not _wait(lambda: rx.search(stack.kam.text()), timeout):
        raise RuntimeError("%s never REGISTERed:%s" % (user, stack.kam.tail()))
    time.sleep(0.5)   # the 200 and the usrloc entry



def free_port_pair():
    """A free TCP/UDP port P whose P + 1 is free too (baresip binds SIP/TLS on P + 1 whatever
    sip_transports says, and a test running beside it may hold that port)."""
    for _ in range(50):
        p = H.free_port()
        ok = True
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(socket.AF_INET, kind)
            try:
                s.bind(("127.0.0.1", p + 1))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return p
    raise RuntimeError("no free port pair")

class Baresip:
    """baresip 1.0 (baresip-core): text/plain MESSAGE only; 415 to message/cpim and isComposing.
    Sends to its *current contact* over ctrl_tcp; received MESSAGEs appear on stdout as
    `sip:FROM: "BODY"`."""

    def __init__(self, stack, user, contact_uri):
        H.need("baresip")
        self.user = user
        self.dir = os.path.join(stack.dir, "baresip-" + user)
        os.makedirs(self.dir, exist_ok=True)
        self.sip_port = free_port_pair()  # baresip 1.0 also listens for SIP/TLS on port + 1
        self.ctrl_port = H.free_port()
        with open(os.path.join(self.dir, "config"), "w") as f:
            f.write("poll_method\tepoll\n"
                    "sip_listen\t127.0.0.1:%d\n" % self.sip_port +
                    "sip_transports\tudp\n"
                    "audio_player\taufile,/dev/null\naudio_source\tausine,440\n"
                    "audio_alert\taufile,/dev/null\n"
                    "module_path\t/usr/lib/baresip/modules\n"
                    "module\tstdio.so\nmodule\tg711.so\nmodule\tausine.so\nmodule\taufile.so\n"
                    "module\tctrl_tcp.so\n"
                    "module_app\taccount.so\nmodule_app\tcontact.so\nmodule_app\tmenu.so\n"
                    "ctrl_tcp_listen\t127.0.0.1:%d\n" % self.ctrl_port +
                    "net_interface\t127.0.0.1\n")
        with open(os.path.join(self.dir, "accounts"), "w") as f:
            f.write('<sip:%s@%s>;outbound="sip:127.0.0.1:%d";regint=600\n'
                    % (user, H.SIP_DOMAIN, stack.kam_port))
        with open(os.path.join(self.dir, "contacts"), "w") as f:
            f.write('"Peer" <%s>\n' % contact_uri)
        # the stdio module needs an open stdin
        self.proc = H.Proc("baresip-" + user, ["sh", "-c", "tail -f /dev/null | exec baresip -f %s"
                                                % self.dir],
                           os.path.join(stack.dir, "baresip-%s.log" % user), cwd=self.dir)
        stack._extra.append(self.proc)
        H.wait_port(self.ctrl_port, 10, self.proc)
        wait_registered(stack, user)

    def version(self):
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "baresip-core"],
                           capture_output=True, text=True)
        return r.stdout.strip()

    def ctrl(self, command, params=""):
        s = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=3)
        d = json.dumps({"command": command, "params": params, "token": "t1"}).encode()
        s.sendall(str(len(d)).encode() + b":" + d + b",")
        time.sleep(0.5)
        s.close()

    def send(self, text):
        self.ctrl("message", text)

    def received(self):
        """Bodies of received MESSAGEs, in order."""
        return re.findall(r'sip:\S+?: "(.*)"', self.proc.text())


class Twinkle:
    """twinkle-console 1.10: MESSAGE text/plain;charset=utf-8; 415 to message/cpim, 200 to
    isComposing. Commands on stdin (`message URI TEXT`); received messages printed as
    `Received message` / From / To / text."""

    def __init__(self, stack, user):
        H.need("twinkle-console")
        self.user = user
        home = os.path.join(stack.dir, "twinkle-" + user)
        cfgdir = os.path.join(home, ".twinkle")
        os.makedirs(cfgdir, exist_ok=True)
        self.sip_port = H.free_port()
        with open(os.path.join(cfgdir, user + ".cfg"), "w") as f:
            f.write("user_name=%s\nuser_domain=%s\nuser_display=%s\nauth_name=%s\nauth_pass=\n"
                    "outbound_proxy=127.0.0.1:%d\nall_requests_to_proxy=yes\n"
                    "registrar=127.0.0.1:%d\nregister_at_startup=yes\nregistration_time=600\n"
                    % (user, H.SIP_DOMAIN, user, user, stack.kam_port, stack.kam_port))
        with open(os.path.join(cfgdir, "twinkle.sys"), "w") as f:
            f.write("sip_port=%d\nrtp_port=%d\ndev_ringtone=alsa:null\ndev_speaker=alsa:null\n"
                    "dev_mic=alsa:null\nvalidate_audio_dev=no\nstart_user_profile=%s\n"
                    % (self.sip_port, H.free_port(), user))
        self.cmd = os.path.join(home, "cmd.txt")
        open(self.cmd, "w").close()
        env = dict(os.environ, HOME=home)
        self.proc = H.Proc("twinkle-" + user,
                           ["sh", "-c", "tail -f %s | exec twinkle-console %s.cfg" % (self.cmd, user)],
                           os.path.join(stack.dir, "twinkle-%s.log" % user), env=env, cwd=home)
        stack._extra.append(self.proc)
        wait_registered(stack, user, 20)

    def send(self, uri, text):
        with open(self.cmd, "a") as f:
            f.write("message %s \"%s\"\n" % (uri, text.replace("\"", "\\\"")))

    def received(self):
        """Texts of received messages (the line after `To:` in each `Received message` block)."""
        out = []
        lines = self.proc.text().splitlines()
        for i, line in enumerate(lines):
            if "Received message" in line:
                for j in range(i + 1, min(i + 8, len(lines))):
                    if lines[j].strip().startswith("To:"):
                        rest = [x.strip() for x in lines[j + 1:j + 4] if x.strip()]
                        if rest:
                            out.append(rest[0])
                        break
        return out

    def quit(self):
        with open(self.cmd, "a") as f:
            f.write("quit\n")


class Linphone:
    """linphone-daemon 5.1 (linphone-cli): text/plain out; accepts message/cpim in and answers
    an IMDN request with a deflated message/imdn+xml. Driven over its --pipe unix socket;
    events (message-received, message-state-changed) on stdout."""

    def __init__(self, stack, user):
        H.need("linphone-daemon")
        self.user = user
        self.dir = os.path.join(stack.dir, "linphone-" + user)
        os.makedirs(self.dir, exist_ok=True)
        self.sip_port = H.free_port()
        rtp = H.free_port()
        self.pipe = "parley-lin-%d-%s" % (os.getpid(), user)
        cfg = os.path.join(self.dir, "linphonerc")
        ident = '"%s" <sip:%s@%s>' % (user, user, H.SIP_DOMAIN)
        with open(cfg, "w") as f:
            f.write("[sip]\ncontact=%s\ndefault_proxy=0\nsip_port=%d\nsip_tcp_port=0\n"
                    "sip_tls_port=0\nguess_hostname=0\nbind_address=127.0.0.1\n\n" % (ident, self.sip_port) +
                    "[rtp]\naudio_rtp_port=%d\nvideo_rtp_port=%d\n\n" % (rtp, rtp + 2) +
                    "[storage]\nuri=%s\n\n" % os.path.join(self.dir, "linphone.db") +
                    "[misc]\nenable_basic_to_client_group_chat_room_migration=0\n"
                    "prefer_basic_chat_room=1\n\n"
                    "[proxy_0]\nreg_proxy=<sip:127.0.0.1:%d;transport=udp>\n" % stack.kam_port +
                    "reg_route=<sip:127.0.0.1:%d;transport=udp;lr>\n" % stack.kam_port +
                    "reg_identity=%s\nreg_expires=600\nreg_sendregister=1\npublish=0\n" % ident +
                    "cpim_in_basic_chat_rooms_enabled=1\n\n"
                    "[im_notif_policy]\nsend_is_composing=1\nrecv_is_composing=1\n"
                    "send_imdn_delivered=1\nrecv_imdn_delivered=1\nsend_imdn_displayed=1\n"
                    "recv_imdn_displayed=1\n")
        self.proc = H.Proc("linphone-" + user,
                           ["linphone-daemon", "--config", cfg, "--log",
                            os.path.join(self.dir, "daemon.log"), "--pipe", self.pipe],
                           os.path.join(stack.dir, "linphone-%s.out" % user), cwd=self.dir)
        stack._extra.append(self.proc)
        if not _wait(lambda: os.path.exists("/tmp/" + self.pipe), 15):
            raise RuntimeError("linphone-daemon pipe never appeared:%s" % self.proc.tail())
        wait_registered(stack, user, 20)

    def command(self, line, timeout=3.0):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect("/tmp/" + self.pipe)
        s.sendall(line.encode() + b"\n")
        s.settimeout(timeout)
        out = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
                if b"\n\n" in out or out.endswith(b"\x00"):
                    break
        except socket.timeout:
            pass
        s.close()
        return out.decode("utf-8", "replace").replace("\x00", "")

    def send(self, uri, text):
        return self.command("message %s %s" % (uri, text))

    def received(self):
        """[(id, content)] of message-received events on stdout."""
        out = []
        for block in self.proc.text().split("Event-type: message-received")[1:]:
            mid = re.search(r"^Id: (.*)$", block, re.M)
            content = re.search(r'^Content: "?(.*?)"?$', block, re.M)
            out.append((mid.group(1).strip() if mid else None,
                        content.group(1) if content else None))
        return out
