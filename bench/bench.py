#!/usr/bin/python3
"""Parley beside Kamailio's SIP<->XMPP gateway (xmpp module + msilo), in one run.

Started by bench/run (which installs, builds and then runs this). See bench/README.md.
Options: --quick (1 repetition, fewer steps, N=2000 offline), --reps N, --out FILE.json,
--parleyd PATH, --only SCENARIO[,SCENARIO] (ceil, s2x, x2s, offline, offline-msrp, ceiling, rss,
msrp), --rss-n N, --rss-rate R, --msrp-procs N, --msrp-send-n N, --push-window W[,W].
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402
from benchlib import log, SIP_DOMAIN, XMPP_DOMAIN, KX_COMPONENT  # noqa: E402

# XMPP -> SIP destinations (one sipp UAS): 500, so that at 28 000 msg/s each gets 56/s. RFC
# 3428 lets a gateway have one MESSAGE in flight per destination (Parley's sip_window = 1): with
# few destinations the figure measures that rule (destinations / round trip), not the gateway.
USERS = ["u%d" % i for i in range(500)]
LAT_USERS = ["v%d" % i for i in range(500)]  # the same, at the UAS that logs latency
CEIL_DESTS = 200                             # ceiling XMPP -> SIP: u0..u199 (no proxy, any name)
SCENARIOS = ("ceil", "s2x", "x2s", "offline", "offline-msrp", "ceiling", "rss", "msrp")
DRAIN_S = 2.0                                # a step passes if all arrived this soon after its end
SETTLE_MAX_S = 10.0                          # then wait at most this long for stragglers
FLUSH_STALL_S = 15.0                         # offline flush: give up after this long without progress
FLUSH_CAP_S = 60.0                           # ... or after this long in all
MSRP_PEERS = 100                             # msrp: SIP users (msrp_peer), over the driver processes
MSRP_SEND_THREADS = 4                        # msrp: SEND threads per driver process
MSRP_TARGET_KIB = 8.0                        # msrp: RSS per idle session beyond the baseline, target


class Bench:
    def __init__(self, args):
        self.a = args
        self.quick = args.quick
        self.reps = 1 if args.quick else args.reps
        self.step_s = 2.0 if args.quick else 3.0
        self.offline_n = 2000 if args.quick else 10000
        self.results = dict(meta={}, ceilings={}, runs=[])
        self.best = {}            # (scenario, system) -> highest passing rate so far

    def push_windows(self):
        return [int(w) for w in str(self.a.push_window).split(",") if w.strip()]

    # ------------------------------------------------------------------ setup
    def setup(self):
        st = self.st = B.BenchStack("bench")
        st.start_redis()
        st.start_xmpp(users=(B.RECEIVER, B.SENDER, "juliet2", "romeo2"))
        st.start_sip_domain()
        st.start_msilo()
        st.start_kx(st.msilo_port)
        st.start_parley(self.a.parleyd, sip_window=1, bounce_window_ms=200)
        self.rx = B.RawClient(st, B.RECEIVER)
        self.tx = B.RawClient(st, B.SENDER)
        self.uas = B.SippUas(st, "page")
        B.sipp_register(st, USERS, st.kam_port, self.uas.port)       # Parley's SIP domain
        B.sipp_register(st, USERS, st.msilo_port, self.uas.port)     # the reference's
        # XMPP -> SIP latency (the half-rate run): v0..v49 at a UAS that logs receive times
        self.uas_ts = B.SippUas(st, "page-ts", timestamps=True)
        B.sipp_register(st, LAT_USERS, st.kam_port, self.uas_ts.port)
        B.sipp_register(st, LAT_USERS, st.msilo_port, self.uas_ts.port)
        self.systems = {
            "parley": dict(sip_port=st.parley_port, sip_from="alice@%s" % SIP_DOMAIN,
                           xmpp_dom=SIP_DOMAIN, registrar=st.kam_port,
                           roots=lambda: [st.parley.pid]),
            "kamailio": dict(sip_port=st.kx_port, sip_from="alice@%s" % SIP_DOMAIN,
                             xmpp_dom=KX_COMPONENT, registrar=st.msilo_port,
                             roots=lambda: [st.kx.pid]),
        }
        self.verify()

    def verify(self):
        """Both gateways relay both ways (5 messages each), or the benchmark stops here."""
        for name, s in self.systems.items():
            self.rx.reset()
            r = B.sipp_uac(self.st, s["sip_port"], "%s@%s" % (B.RECEIVER, XMPP_DOMAIN),
                           s["sip_from"], 20, 5, timeout_s=10)
            got = self._wait_rx(5, 5.0)
            c0 = self.uas.calls()[0]
            self.tx.reset()
            self.tx.send(["%s@%s" % (u, s["xmpp_dom"]) for u in USERS[:5]], 20, 5)
            self.tx.wait_sent(10)
            got2 = self._wait_uas(c0 + 5, 6.0) - c0
            ok = r["ok"] == 5 and got == 5 and got2 == 5 and self.tx.stats()["errors"] == 0
            log("verify %s: SIP->XMPP %d/5 delivered (sipp %s), XMPP->SIP %d/5" % (name, got, r, got2))
            if not ok:
                raise RuntimeError("%s does not relay both ways (SIP->XMPP %d/5, XMPP->SIP %d/5): "
                                   "benchmark stopped, logs in %s" % (name, got, got2, self.st.dir))
        self.results["meta"]["verified_both_ways"] = True

    # ------------------------------------------------------------------ waits
    def _wait_rx(self, want, deadline_s, client=None):
        client = client or self.rx
        t_end = time.monotonic() + deadline_s
        n = 0
        while time.monotonic() < t_end:
            n = (client.count() if hasattr(client, "count") else client.stats())["unique"]
            if n >= want:
                break
            time.sleep(0.1)
        return n

    def _wait_uas(self, want, deadline_s, uas=None):
        uas = uas or self.uas
        t_end = time.monotonic() + deadline_s
        n = 0
        while time.monotonic() < t_end:
            n = uas.calls()[0]
            if n >= want:
                break
            time.sleep(0.25)
        return n

    def _settle(self, count_fn, want):
        """Wait until count_fn() >= want or it stops moving (SETTLE_MAX_S at most)."""
        t_end = time.monotonic() + SETTLE_MAX_S
        last, still = -1, time.monotonic()
        n = count_fn()
        while time.monotonic() < t_end and n < want:
            if n != last:
                last, still = n, time.monotonic()
            elif time.monotonic() - still > 2.5:
                break
            time.sleep(0.25)
            n = count_fn()
        return n

    # ------------------------------------------------------------------ ladders
    def ladder(self, key):
        full = [500, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 10000, 12000, 14000,
                16000, 18000, 20000, 24000, 28000]
        if key == "c2c":
            full = full + [32000, 36000]
        if key.startswith("ceiling"):
            full = full + [32000, 40000, 48000]
        if self.quick:
            full = full[::2]
        return full

    def climb(self, scenario, system, step_fn):
        """Step up the ladder until a step fails; returns (highest passing rate, [steps])."""
        ladder = self.ladder(scenario)
        start = 0
        prev = self.best.get((scenario, system))
        if prev is not None and prev in ladder:       # later repetitions: start 2 steps below
            start = max(0, ladder.index(prev) - 2)
        steps, best = [], (ladder[start - 1] if start > 0 else 0)
        for rate in ladder[start:]:
            res = step_fn(rate)
            steps.append(res)
            log("  %s %s %6d/s: %s" % (scenario, system, rate,
                                       "PASS" if res["pass"] else "FAIL " + res["why"]))
            if not res["pass"]:
                break
            best = rate
        self.best[(scenario, system)] = best
        return best, steps

    # ------------------------------------------------------------------ SIP -> XMPP
    def s2x_step(self, s, rate, duration=None, rx=None, cpu=None):
        rx = rx or self.rx
        n = int(rate * (duration or self.step_s))
        rx.reset()
        r = B.sipp_uac(self.st, s["sip_port"], "%s@%s" % (B.RECEIVER, XMPP_DOMAIN), s["sip_from"],
                       rate, n, timeout_s=20, cpu=cpu)
        on_time = self._wait_rx(n, DRAIN_S, client=rx)
        final = self._settle(lambda: rx.stats()["unique"], n) if on_time < n else on_time
        st = rx.stats()
        why = []
        if on_time < n:
            why.append("%d/%d delivered in time (%d in the end)" % (on_time, n, final))
        if r["retrans"]:
            why.append("%d SIP retransmissions" % r["retrans"])
        if r["failed"] or r["ok"] < n:
            why.append("%d failed calls, %d ok" % (r["failed"], r["ok"]))
        if st.get("errors"):
            why.append("%d XMPP errors %s" % (st["errors"], st.get("conditions")))
        achieved = n / r["elapsed"] if r["elapsed"] else None
        return dict(rate=rate, sent=n, delivered=on_time, delivered_final=final, sipp=r,
                    achieved=round(achieved or 0, 1), lat_ms=st["lat_ms"],
                    **{"pass": not why, "why": "; ".join(why)})

    def run_s2x(self, rep, system):
        s = self.systems[system]
        with B.Meter(s["roots"]()) as m_gw, B.Meter(s["roots"](), reset_hwm=False) as m_all:
            best, steps = self.climb("s2x", system, lambda rate: self.s2x_step(s, rate))
            half = max(250, best // 2)
            time.sleep(1.0)
            with B.Meter(s["roots"](), reset_hwm=False) as m:
                lat = self.s2x_step(s, half, duration=max(self.step_s, 3.0))
        res = dict(scenario="s2x", system=system, rep=rep, max_rate=best, steps=steps,
                   gateway=gw_figures(m_gw, system),
                   half_rate=half, latency=lat["lat_ms"], latency_run=lat,
                   cpu_us_per_msg=round(m.cpu / max(1, lat["delivered_final"]) * 1e6, 2),
                   meter_half=m.result(), meter_all=m_all.result())
        log("s2x %s rep %d: max %d/s, at %d/s p50 %s ms p99 %s ms, %.1f us CPU/msg, peak %s MB"
            % (system, rep, best, half, lat["lat_ms"]["p50"], lat["lat_ms"]["p99"],
               res["cpu_us_per_msg"], m_all.result()["peak_pss_mb"]))
        return res

    # ------------------------------------------------------------------ XMPP -> SIP
    def x2s_step(self, s, rate, duration=None, users=USERS, uas=None, sink=None):
        """sink: the benchmark's sink sends (ceiling) to u0..u<CEIL_DESTS-1>, else the raw
        client sends to `users`; `uas` counts (default: the page-mode UAS)."""
        uas = uas or self.uas
        n = int(rate * (duration or self.step_s))
        c0 = uas.calls()[0]
        tx = sink or self.tx
        tx.reset()
        if sink:
            sink.send(s["xmpp_dom"], CEIL_DESTS, rate, n)
        else:
            self.tx.send(["%s@%s" % (u, s["xmpp_dom"]) for u in users], rate, n)
        sent = tx.wait_sent((duration or self.step_s) + 30)
        # the UAS's counters are written once a second: allow for that on top of DRAIN_S
        on_time = self._wait_uas(c0 + n, DRAIN_S + 1.1, uas) - c0
        final = (self._settle(lambda: uas.calls()[0], c0 + n) - c0) if on_time < n else on_time
        tst = tx.stats()
        errors = tst["errors"]
        why = []
        if on_time < n:
            why.append("%d/%d delivered in time (%d in the end)" % (on_time, n, final))
        if errors:
            why.append("%d XMPP errors %s" % (errors, tst.get("conditions")))
        if not sent:
            why.append("sender did not finish")
        elif sent["elapsed"] > (duration or self.step_s) * 1.05 + 0.2:
            why.append("sender fell behind (%.2f s)" % sent["elapsed"])
        return dict(rate=rate, sent=n, delivered=on_time, delivered_final=final, errors=errors,
                    conditions=tst.get("conditions"), sender=sent, **{"pass": not why, "why": "; ".join(why)})

    def run_x2s(self, rep, system):
        s = self.systems[system]
        with B.Meter(s["roots"]()) as m_gw, B.Meter(s["roots"](), reset_hwm=False) as m_all:
            best, steps = self.climb("x2s", system, lambda rate: self.x2s_step(s, rate))
            half = max(250, best // 2)
            time.sleep(1.0)
            # the half-rate run goes to v0..v49, whose UAS logs each receive time
            self.uas_ts.lat_mark()
            with B.Meter(s["roots"](), reset_hwm=False) as m:
                run = self.x2s_step(s, half, duration=max(self.step_s, 3.0), users=LAT_USERS,
                                    uas=self.uas_ts)
            time.sleep(0.5)
            lat = self.uas_ts.latencies()
        res = dict(scenario="x2s", system=system, rep=rep, max_rate=best, steps=steps,
                   half_rate=half, half_run=run, latency=lat, gateway=gw_figures(m_gw, system),
                   cpu_us_per_msg=round(m.cpu / max(1, run["delivered_final"]) * 1e6, 2),
                   meter_half=m.result(), meter_all=m_all.result())
        log("x2s %s rep %d: max %d/s, %.1f us CPU/msg at %d/s, p50 %s ms p99 %s ms, peak %s MB"
            % (system, rep, best, res["cpu_us_per_msg"], half, lat["p50"], lat["p99"],
               m_all.result()["peak_pss_mb"]))
        return res

    # ------------------------------------------------------------------ offline
    def _stored(self, system):
        if system == "parley":
            return self.st.parley_counters().get("offline_parked_xmpp", 0)
        # only the bytes added since the last call (the log grows to hundreds of MB)
        pos, n, tail = getattr(self, "_msilo_scan", (0, 0, b""))
        with open(self.st.msilo.logfile, "rb") as f:
            f.seek(pos)
            data = tail + f.read()
            pos = f.tell()
        cut = data.rfind(b"\n") + 1
        n += data[:cut].count(b" STORED callid=")
        self._msilo_scan = (pos, n, data[cut:])
        return n

    def _park(self, system, ghost, n, rate, roots, mtype="chat"):
        """N messages from XMPP to a SIP user who never registered; returns (sender's figures,
        stored, seconds from the first send until the poll that saw the last store, meter)."""
        s = self.systems[system]
        base = self._stored(system)
        self.tx.reset()
        with B.Meter(roots, reset_hwm=False) as m_park:
            t0 = time.monotonic()
            self.tx.send(["%s@%s" % (ghost, s["xmpp_dom"])], rate, n, mtype=mtype)
            sent = self.tx.wait_sent(n / rate + 30)
            stored, t_last, last = base, time.monotonic(), -1
            deadline = time.monotonic() + max(120.0, 3 * n / rate)
            while time.monotonic() < deadline:
                t_ask = time.monotonic()   # the count read was reached by the time we asked
                stored = self._stored(system)
                if stored != last:
                    last, t_last = stored, t_ask
                if stored - base >= n or time.monotonic() - t_last > 10:
                    break
                time.sleep(0.02)
            t_park = t_last - t0
        return sent, stored - base, t_park, m_park

    def run_offline(self, rep, system):
        s = self.systems[system]
        n = self.offline_n
        ghost = "ghost%d" % rep
        rate = self.a.offline_rate
        if system == "parley":
            roots = [self.st.parley.pid, self.st.redis.pid]
        else:
            roots = [self.st.kx.pid, self.st.msilo.pid]
        m_gw = B.Meter(s["roots"]()).__enter__()
        sent, stored, t_park, m_park = self._park(system, ghost, n, rate, roots)
        tst = self.tx.stats()
        errors = tst["errors"]
        # flush: REGISTER, then time until a UAS (sipp -m N: exits at the Nth) has them all
        time.sleep(1.0)
        fl = B.SippUas(self.st, "flush-%s-%d" % (system, rep), count=stored or 1)
        with B.Meter(roots, reset_hwm=False) as m_flush:
            t1 = time.monotonic()
            B.sipp_register(self.st, [ghost], s["registrar"], fl.port)
            # until the UAS exits (all N), or no progress for FLUSH_STALL_S, or the cap
            deadline = time.monotonic() + max(FLUSH_CAP_S, n / 100.0)
            last, t_prog, t_poll = -1, time.monotonic(), 0.0
            while time.monotonic() < deadline and fl.proc.poll() is None:
                if time.monotonic() - t_poll > 0.5:
                    t_poll = time.monotonic()
                    got = fl.calls()[0]
                    if got != last:
                        last, t_prog = got, time.monotonic()
                    elif time.monotonic() - t_prog > FLUSH_STALL_S:
                        break
                time.sleep(0.02)
            done = fl.proc.poll() is not None
            t_flush = (time.monotonic() if done else t_prog) - t1
        time.sleep(1.1 if not done else 0)
        got = stored if done else fl.calls()[0]
        fl.stop()
        m_gw.__exit__(None, None, None)
        res = dict(scenario="offline", system=system, rep=rep, n=n, send_rate=rate, sender=sent,
                   gateway=gw_figures(m_gw, system),
                   stored=stored, xmpp_errors=errors, conditions=tst.get("conditions"), park_s=round(t_park, 3),
                   park_rate=round(stored / t_park, 1) if t_park > 0 else None,
                   flushed=got, flush_complete=done, flush_s=round(t_flush, 3),
                   flush_rate=round(got / t_flush, 1) if t_flush > 0 else None,
                   cpu_us_per_msg_park=round(m_park.cpu / max(1, stored) * 1e6, 2),
                   cpu_us_per_msg_flush=round(m_flush.cpu / max(1, got) * 1e6, 2),
                   meter_park=m_park.result(), meter_flush=m_flush.result())
        log("offline %s rep %d: parked %d/%d in %.2f s (%s/s), %d errors; flushed %d in %.2f s (%s/s)"
            % (system, rep, stored, n, t_park, res["park_rate"], errors, got, t_flush,
               res["flush_rate"]))
        time.sleep(1.0)
        return res

    # ------------------------------------------------------------------ offline, MSRP push
    def push_setup(self, window):
        """parleyd restarted (same SIP port and component) with [chat] enabled, [offline]
        push = msrp (mapping-docs/chat.md §12) and flush_window = window."""
        st, a = self.st, self.a
        if getattr(self, "_push_window", None) == window:
            return
        st.parley.stop()
        msrp_port = B.free_port()
        extra = ("\n[chat]\nenabled = true\nmsrp_port = %d\n\n[offline]\npush = msrp\n"
                 % msrp_port)
        # a fresh name (log) per start: a reused log's lines would satisfy the start-up waits
        self._push_starts = k = getattr(self, "_push_starts", 0) + 1
        st.parley, st.parley_conf = st._parleyd(
            a.parleyd, "parleyd-push-%d-w%d" % (k, window), "parley-push-%d-w%d.conf" % (k, window),
            st.component_port, st.parley_port, st.kam_port, st.admin_socket, extra=extra,
            flush_window=window)
        self._push_window = window
        if not hasattr(self, "push_drv"):
            self.push_drv = B.MsrpDriver(st, "push", st.kam_port)
        log("parleyd restarted with [chat] enabled, [offline] push = msrp, flush_window = %d "
            "(MSRP port %d), pid %d" % (window, msrp_port, st.parley.pid))

    def push_rx_ceiling(self, windows):
        """The lean receiver's own ceiling (msrp_driver.py rx_ceiling: a second Python process
        sends it N SENDs shaped like parleyd's, W unanswered at most)."""
        out = {}
        for w in windows:
            self.push_drv.cmd("rx_ceiling", count=self.offline_n, window=w)
            ev = self.push_drv.wait("rx_ceiling", 90)
            out[str(w)] = ev
            log("  ceiling MSRP push receiver, W=%d: %s" % (w, ev and "%s/s (%d/%d, %s us/msg)"
                % (_n(ev["rate"]), ev["received"], ev["count"], ev["rx_cpu_us_per_msg"])))
        self.results["ceilings"]["msrp_push_rx"] = out

    def run_offline_push(self, rep, window):
        """The offline scenario's job with Parley's MSRP push (OMA IM App. K): N messages parked
        for a SIP user who never registered (as `offline`, stanzas of type 'normal': with
        [chat] enabled a 'chat' stanza would open a chat session), then the user, an MSRP peer
        (msrp_driver.py PushPeer), REGISTERs at the SIP-domain Kamailio; Kamailio replicates
        the REGISTER to parleyd, which opens one MSRP session to the user and sends every
        parked message as a message/cpim SEND, `window` in flight."""
        self.push_setup(window)
        st, n, rate = self.st, self.offline_n, self.a.offline_rate
        ghost = "pghost%dw%d" % (rep, window)
        roots = [st.parley.pid, st.redis.pid]
        m_gw = B.Meter([st.parley.pid]).__enter__()
        sent, stored, t_park, m_park = self._park("parley", ghost, n, rate, roots, mtype="normal")
        tst = self.tx.stats()
        time.sleep(1.0)
        cap = max(FLUSH_CAP_S, n / 100.0)
        host0 = B.host_cpu()
        with B.Meter(roots, reset_hwm=False) as m_flush, \
                B.Meter([st.parley.pid], reset_hwm=False) as m_fp, \
                B.Meter([st.redis.pid], reset_hwm=False) as m_fr:
            self.push_drv.cmd("push", user=ghost, count=stored or 1,
                              frm="%s@%s" % (B.SENDER, XMPP_DOMAIN), stall=FLUSH_STALL_S, cap=cap)
            ev = self.push_drv.wait("pushed", cap + 60) or {}
        host = B.host_busy(host0)
        m_gw.__exit__(None, None, None)
        got, t_flush = ev.get("received", 0), ev.get("t_last") or 0
        cnt = st.parley_counters()
        res = dict(scenario="offline-msrp", system="parley", rep=rep, n=n, window=window,
                   send_rate=rate, sender=sent, gateway=gw_figures(m_gw, "parley"),
                   stored=stored, xmpp_errors=tst["errors"], conditions=tst.get("conditions"),
                   park_s=round(t_park, 3),
                   park_rate=round(stored / t_park, 1) if t_park > 0 else None,
                   flushed=got, flush_s=round(t_flush, 3),
                   flush_complete=got >= stored and stored > 0,
                   flush_rate=round(got / t_flush, 1) if t_flush > 0 else None,
                   in_order=bool(ev.get("in_order")), push=ev,
                   cpu_us_per_msg_park=round(m_park.cpu / max(1, stored) * 1e6, 2),
                   cpu_us_per_msg_flush=round(m_flush.cpu / max(1, got) * 1e6, 2),
                   cpu_us_per_msg_flush_parleyd=round(m_fp.cpu / max(1, got) * 1e6, 2),
                   cpu_us_per_msg_flush_redis=round(m_fr.cpu / max(1, got) * 1e6, 2),
                   # the driver's CPU from the REGISTER to the end of the wait (its checks
                   # after that are not counted): the receiver, its SIP UA and the wait loop
                   receiver_us_per_msg=round(ev.get("rx_cpu_s", 0) / max(1, got) * 1e6, 2),
                   receiver_busy=round(ev.get("rx_cpu_s", 0) / max(1e-9, t_flush), 3),
                   host_busy=host,
                   counters={k: cnt.get(k) for k in ("chat_push_sessions", "chat_push_opened",
                                                     "chat_push_messages", "chat_push_closed",
                                                     "offline_parked_xmpp")},
                   meter_park=m_park.result(), meter_flush=m_flush.result())
        log("offline-msrp W=%d rep %d: parked %d/%d in %.2f s (%s/s); pushed %d in %.3f s (%s/s) "
            "over %s session(s), in order %s, CPIM ok %s, parleyd+redis %.1f us/msg, receiver "
            "busy %.0f%%" % (window, rep, stored, n, t_park, res["park_rate"], got, t_flush,
                             res["flush_rate"], ev.get("sessions"), ev.get("in_order"),
                             ev.get("cpim_ok"), res["cpu_us_per_msg_flush"],
                             100 * res["receiver_busy"]))
        time.sleep(2.5)                # the push session ends 2 s after the last SEND
        return res

    def offline_push_reference(self, rep):
        """msilo's figures for the push rows' ratio, from the same run: the `offline`
        scenario's msilo run of this repetition if it ran, else msilo's part run now."""
        ran = [r for r in self.results["runs"] if r["scenario"] == "offline"
               and r["system"] == "kamailio" and r["rep"] == rep]
        if ran:
            r, source = ran[0], "offline scenario, same run"
        else:
            r, source = self.run_offline(rep, "kamailio"), "msilo's part of offline, run here"
        keep = ("n", "stored", "park_rate", "flushed", "flush_rate", "flush_complete", "flush_s",
                "cpu_us_per_msg_park", "cpu_us_per_msg_flush")
        return dict({k: r.get(k) for k in keep}, scenario="offline-msrp", system="kamailio",
                    rep=rep, source=source)

    # ------------------------------------------------------------------ gateway ceiling
    def ceiling_setup(self):
        """The sink (bench/xmpp-sink) as the XMPP server of a second parleyd and of a second
        reference gateway, a sipp UAS as their outbound proxy: nothing else in the path. The
        gateway runs on CPU 1, sipp and the sink on CPU 0 (2 CPUs or more; else unpinned)."""
        if hasattr(self, "ceil"):
            return self.ceil
        st = self.st
        gw_cpu, tool_cpu = (1, 0) if (os.cpu_count() or 1) >= 2 else (None, None)
        c = self.ceil = dict(gw_cpu=gw_cpu, tool_cpu=tool_cpu, systems={}, notes={})
        c["uas"] = B.SippUas(st, "ceiling", cpu=tool_cpu)
        sink = B.Sink(st, "parley", cpu=tool_cpu)
        pd = st.start_parley_extra(self.a.parleyd, "parleyd-ceiling", sink.port, c["uas"].port,
                                   cpu=gw_cpu)
        if sink.wait("online", 10) is None:
            raise RuntimeError("parleyd-ceiling did not log in to the sink")
        c["systems"]["parley"] = dict(sip_port=pd.sip_port, sip_from="alice@%s" % SIP_DOMAIN,
                                      xmpp_dom=SIP_DOMAIN, roots=lambda pd=pd: [pd.pid],
                                      sink=sink, proc=pd)
        ksink = B.Sink(st, "kx", cpu=tool_cpu)
        kx = st.start_kx(c["uas"].port, xmpp_port=ksink.port, name="kamailio-kx-ceiling",
                         cpu=gw_cpu)
        if ksink.wait("online", 10) is None:
            c["notes"]["kamailio"] = ("the xmpp module did not complete the handshake with the "
                                      "sink within 10 s (log: kamailio-kx-ceiling.log)")
            log("ceiling: reference not measured: " + c["notes"]["kamailio"])
        else:
            c["systems"]["kamailio"] = dict(sip_port=kx.sip_port, sip_from="alice@%s" % SIP_DOMAIN,
                                            xmpp_dom=KX_COMPONENT, roots=lambda kx=kx: [kx.pid],
                                            sink=ksink, proc=kx)
        # each gateway relays 5 messages both ways through the sink, or it is not measured
        for name, g in list(c["systems"].items()):
            a = self.s2x_step(g, 20, duration=0.25, rx=g["sink"], cpu=tool_cpu)
            b = self.x2s_step(g, 20, duration=0.25, uas=c["uas"], sink=g["sink"])
            log("ceiling verify %s: SIP->XMPP %d/5, XMPP->SIP %d/5" % (name, a["delivered_final"],
                                                                      b["delivered_final"]))
            if not (a["pass"] and b["pass"]):
                c["notes"][name] = "did not relay 5 messages both ways through the sink: %s / %s" % (
                    a["why"], b["why"])
                del c["systems"][name]
        self.results["ceilings"]["sink"] = self.sink_ceiling(tool_cpu)
        self.results["meta"]["ceiling"] = dict(gateway_cpu=gw_cpu, tool_cpu=tool_cpu,
                                               destinations=CEIL_DESTS, notes=c["notes"])
        return c

    def sink_ceiling(self, cpu):
        """The sink's own ceiling: one instance sends into another (the component side), both
        on the tools' CPU. Sending formats what the gateway reads, receiving parses what it
        writes: both code paths the scenario uses."""
        rx = B.Sink(self.st, "self-server", cpu=cpu)                    # listens and sends
        probe = B.Sink(self.st, "self-client", cpu=cpu, peer_port=rx.port)   # receives
        out, best = [], 0
        try:
            if rx.wait("online", 5) is None:
                return dict(error="self-test link did not come up")
            for rate in ([50000, 100000, 200000] if self.quick else
                         [50000, 100000, 200000, 400000]):
                n = int(rate * 1.0)
                probe.reset()
                rx.send(SIP_DOMAIN, 50, rate, n)
                sent = rx.wait_sent(30)
                got = self._wait_rx(n, DRAIN_S, client=probe)
                ok = bool(sent) and got == n and sent["elapsed"] < 1.05 + 0.2
                lat = probe.stats()["lat_ms"]
                out.append(dict(rate=rate, delivered=got, sender=sent, lat_ms=lat, **{"pass": ok}))
                log("  ceiling sink->sink %d/s: %s (%d/%d, p50 %s ms)"
                    % (rate, "PASS" if ok else "FAIL", got, n, lat["p50"]))
                if not ok:
                    break
                best = rate
        finally:
            for c in (probe, rx):
                c.stop()
        return dict(steps=out, max_rate=best)

    def run_ceiling(self, rep, system):
        c = self.ceiling_setup()
        g = c["systems"].get(system)
        if g is None:
            return dict(scenario="ceiling", system=system, rep=rep, skipped=c["notes"].get(system))
        cpu = c["tool_cpu"]
        with B.Meter(g["roots"]()) as m_gw:
            best_s, steps_s = self.climb("ceiling_s2x", system, lambda rate: self.s2x_step(
                g, rate, rx=g["sink"], cpu=cpu))
            half_s = max(250, best_s // 2)
            time.sleep(1.0)
            with B.Meter(g["roots"](), reset_hwm=False) as m_s:
                lat_s = self.s2x_step(g, half_s, duration=max(self.step_s, 3.0), rx=g["sink"],
                                      cpu=cpu)
            time.sleep(1.0)
            best_x, steps_x = self.climb("ceiling_x2s", system, lambda rate: self.x2s_step(
                g, rate, uas=c["uas"], sink=g["sink"]))
            half_x = max(250, best_x // 2)
            time.sleep(1.0)
            with B.Meter(g["roots"](), reset_hwm=False) as m_x:
                run_x = self.x2s_step(g, half_x, duration=max(self.step_s, 3.0), uas=c["uas"],
                                      sink=g["sink"])
        res = dict(scenario="ceiling", system=system, rep=rep, gateway=gw_figures(m_gw, system),
                   s2x_max_rate=best_s, s2x_steps=steps_s, s2x_half_rate=half_s,
                   s2x_latency=lat_s["lat_ms"], s2x_half_run=lat_s,
                   s2x_cpu_us_per_msg=round(m_s.cpu / max(1, lat_s["delivered_final"]) * 1e6, 2),
                   x2s_max_rate=best_x, x2s_steps=steps_x, x2s_half_rate=half_x,
                   x2s_half_run=run_x,
                   x2s_cpu_us_per_msg=round(m_x.cpu / max(1, run_x["delivered_final"]) * 1e6, 2),
                   meter_s2x_half=m_s.result(), meter_x2s_half=m_x.result(),
                   meter_all=m_gw.result(), pinned=dict(gateway=c["gw_cpu"], tools=cpu))
        log("ceiling %s rep %d: SIP->XMPP %d/s (%.1f us/msg at %d/s, p50 %s p99 %s ms), "
            "XMPP->SIP %d/s (%.1f us/msg at %d/s); %.2f CPU s, peak %s MB"
            % (system, rep, best_s, res["s2x_cpu_us_per_msg"], half_s, lat_s["lat_ms"]["p50"],
               lat_s["lat_ms"]["p99"], best_x, res["x2s_cpu_us_per_msg"], half_x,
               res["gateway"]["cpu_s"], res["gateway"]["peak_mb"]))
        return res

    # ------------------------------------------------------------------ RSS growth
    def run_rss(self):
        """N messages SIP -> XMPP through a fresh parleyd (pinned, into the sink, the fastest
        path): VmRSS after 100 000 and after N."""
        c = self.ceiling_setup()
        st, n = self.st, self.a.rss_n
        first = min(100000, n)
        rate = self.a.rss_rate
        if not rate:
            seen = [r["s2x_max_rate"] for r in self.results["runs"]
                    if r["scenario"] == "ceiling" and r["system"] == "parley" and "s2x_max_rate" in r]
            # bounded below too: on a loaded machine a low ceiling would make 10^6 take long
            rate = max(5000, min(20000, int(0.8 * max(seen)))) if seen and max(seen) else 10000
        sink = B.Sink(st, "rss", cpu=c["tool_cpu"])
        pd = st.start_parley_extra(self.a.parleyd, "parleyd-rss", sink.port, c["uas"].port,
                                   cpu=c["gw_cpu"])
        if sink.wait("online", 10) is None:
            raise RuntimeError("parleyd-rss did not log in to the sink")
        rss0 = B.rss_mb(pd.pid)
        series, at_first, at_n = [], None, None
        finish = None
        try:
            with B.Meter([pd.pid]) as m:
                t0 = time.monotonic()
                finish = B.sipp_uac(st, pd.sip_port, "%s@%s" % (B.RECEIVER, XMPP_DOMAIN),
                                    "alice@%s" % SIP_DOMAIN, rate, n,
                                    timeout_s=int(3 * n / rate) + 60, cpu=c["tool_cpu"],
                                    wait=False)
                next_mark, last, t_last = first, -1, time.monotonic()
                while True:
                    got = sink.count()["unique"]
                    now = time.monotonic()
                    if got >= next_mark or got >= n:
                        point = dict(delivered=got, rss_mb=B.rss_mb(pd.pid),
                                     t_s=round(now - t0, 2))
                        series.append(point)
                        if at_first is None:
                            at_first = point
                        next_mark = (got // first + 1) * first
                    if got >= n:
                        at_n = series[-1]
                        break
                    if got != last:
                        last, t_last = got, now
                    elif now - t_last > 10:
                        break
                    time.sleep(0.25)
                sipp = finish()
                finish = None
                t_run = time.monotonic() - t0
            time.sleep(5.0)            # past udp_retention_ms (4 s): retained transactions gone
            rss_idle = B.rss_mb(pd.pid)
            final = sink.count()
        finally:
            if finish is not None:
                try:
                    os.killpg(finish.pid, 9)
                except ProcessLookupError:
                    pass
                finish()
            st.stop_extra(pd)
            sink.stop()
        ratio = (round(at_n["rss_mb"] / at_first["rss_mb"], 3)
                 if at_first and at_n and at_first["rss_mb"] else None)
        res = dict(scenario="rss", system="parley", rep=1, n=n, rate=rate, sipp=sipp,
                   delivered=final["unique"], xmpp_errors=final["errors"],
                   achieved_rate=round(final["unique"] / t_run, 1) if t_run else None,
                   rss_start_mb=rss0, rss_at_first=at_first, rss_at_n=at_n,
                   rss_idle_after_mb=rss_idle, ratio=ratio, within_10pct=(
                       ratio is not None and ratio <= 1.10), series=series,
                   gateway=gw_figures(m, "parley"), meter=m.result())
        log("rss: %d/%d delivered at %d/s offered; VmRSS %s MB at %s, %s MB at %s (ratio %s), "
            "%s MB 5 s after" % (final["unique"], n, rate, at_first and at_first["rss_mb"],
                                 at_first and at_first["delivered"], at_n and at_n["rss_mb"],
                                 at_n and at_n["delivered"], ratio, rss_idle))
        return res

    # ------------------------------------------------------------------ MSRP chat sessions
    def run_msrp(self):
        """Parley only (the reference gateway has no MSRP). parleyd is restarted with [chat]
        enabled (same SIP port and component; idle_timeout_s = 86400 so nothing closes during
        the run; max_sessions twice the largest count). SIP users of bench/msrp_driver.py
        (several processes: one Python process is one core at most), registered at the
        SIP-domain Kamailio, INVITE XMPP users x<j>@xmpp.test through it (the users need not
        exist: accepting a session sends nothing to XMPP). 1) set-up rate: sessions bound per
        second; 2) RSS per idle session at each count; 3) SENDs over one session per SIP user
        to the raw receiver (juliet), as fast as the driver goes, zero loss required."""
        st, a = self.st, self.a
        counts = [1000] if self.quick else [1000, 10000]
        send_n = a.msrp_send_n or (5000 if self.quick else 20000)
        nproc = max(1, a.msrp_procs)
        res = dict(scenario="msrp", system="parley", rep=1, counts=counts, peers=MSRP_PEERS,
                   driver_procs=nproc, invite_threads=a.msrp_threads,
                   send_threads=MSRP_SEND_THREADS, target_kib=MSRP_TARGET_KIB, setup=[], rss=[])
        st.parley.stop()
        msrp_port = B.free_port()
        extra = ("\n[chat]\nenabled = true\nmsrp_port = %d\nidle_timeout_s = 86400\n"
                 "max_sessions = %d\n" % (msrp_port, 2 * counts[-1] + 2 * MSRP_PEERS))
        st.parley, st.parley_conf = st._parleyd(
            a.parleyd, "parleyd-msrp", "parley-msrp.conf", st.component_port, st.parley_port,
            st.kam_port, st.admin_socket, extra=extra)
        pid = st.parley.pid
        log("parleyd restarted with [chat] enabled (MSRP port %d), pid %d" % (msrp_port, pid))
        drivers = []
        m_gw = B.Meter([pid]).__enter__()
        try:
            drivers = [B.MsrpDriver(st, "d%d" % k, st.kam_port) for k in range(nproc)]
            # verify: one session to the receiver, one message, BYE
            self.rx.reset()
            drivers[0].cmd("verify", user="mverify", target=B.RECEIVER, first=0)
            v = drivers[0].wait("verified", 40)
            got = self._wait_rx(1, 5.0)
            res["verify"] = dict(v or {}, delivered=got)
            log("verify msrp: %s, delivered %d/1" % (v, got))
            if not (v and v.get("bound") and got == 1):
                res["error"] = "one MSRP session did not carry one message: %s" % v
                log("msrp: NOT measured: " + res["error"])
                return res
            users = ["m%d" % i for i in range(MSRP_PEERS)]
            for k, d in enumerate(drivers):
                d.cmd("peers", users=users[k::nproc])
            for d in drivers:
                ev = d.wait("peers", 120)
                if not ev or ev["failed"]:
                    raise RuntimeError("msrp driver %s: REGISTER failed: %s" % (d.name, ev))
            time.sleep(2.0)
            res["rss_0_kib"] = rss0 = B.rss_kib(pid)
            log("msrp: %d SIP users registered (%d driver processes); parleyd VmRSS %d KiB, "
                "no session" % (MSRP_PEERS, nproc, rss0))
            done = 0
            for n in counts:
                targets = ["x%d" % j for j in range(done // MSRP_PEERS, n // MSRP_PEERS)]
                stage = self._msrp_invite(drivers, targets)
                stage["total"] = n
                res["setup"].append(stage)
                time.sleep(16.0)     # past udp_retention_ms (sofia frees its retained transactions)
                #                      then a full [daemon] trim_interval_s (the heap gives them back)
                rss = B.rss_kib(pid)
                cnt = st.parley_counters()
                per = round((rss - rss0) / n, 2)
                prev = res["rss"][-1] if res["rss"] else None
                res["rss"].append(dict(n=n, rss_kib=rss, per_session_kib=per,
                                       marginal_kib=(round((rss - prev["rss_kib"])
                                                           / (n - prev["n"]), 2)
                                                     if prev else per),
                                       bound=sum(s["bound"] for s in res["setup"]),
                                       chat_in_sessions=cnt.get("chat_in_sessions"),
                                       chat_in_rejected=cnt.get("chat_in_rejected")))
                log("msrp: %d sessions: %s/s set up (%d bound of %d in %.2f s, failed %s); "
                    "VmRSS %d KiB, %.2f KiB per idle session beyond the baseline"
                    % (n, stage["rate"], stage["bound"], stage["tried"], stage["bound_s"],
                       stage["failed"] or "none", rss, per))
                done = n
            # SENDs: one more session per SIP user, to the receiver; then N messages
            send = self._msrp_invite(drivers, [B.RECEIVER])
            res["send_sessions"] = send
            self.rx.reset()
            base = 1
            host0 = B.host_cpu()
            with B.Meter([pid], reset_hwm=False) as m_p, \
                    B.Meter([d.pid for d in drivers], reset_hwm=False) as m_d, \
                    B.Meter([st.xmpp.pid, self.rx.pid], reset_hwm=False) as m_x:
                t0 = time.monotonic()
                for k, d in enumerate(drivers):
                    share = send_n // nproc + (1 if k < send_n % nproc else 0)
                    d.cmd("send", target=B.RECEIVER, count=share, first=base,
                          threads=MSRP_SEND_THREADS, prefix="M")
                    base += share
                got, t_got = 0, t0
                deadline = time.monotonic() + 120
                last_move = time.monotonic()
                while time.monotonic() < deadline:
                    n_now = self.rx.stats()["unique"]
                    now = time.monotonic()
                    if n_now != got:
                        got, t_got, last_move = n_now, now, now
                    if got >= send_n or now - last_move > 10:
                        break
                    time.sleep(0.02)
                sent = [d.wait("sent", 120) for d in drivers]
            rxs = self.rx.stats()
            t_all = t_got - t0
            sends = dict(n=send_n, delivered=got, lost=send_n - got, xmpp_errors=rxs["errors"],
                         wall_s=round(t_all, 3),
                         rate=round(got / t_all, 1) if t_all > 0 else None,
                         drivers=sent,
                         msrp_ok=sum(x["ok"] for x in sent if x),
                         msrp_other=sum(x["other"] for x in sent if x),
                         msrp_missing=sum(x["missing"] for x in sent if x),
                         driver_send_s=max((x["t_sent"] for x in sent if x), default=None),
                         latency_under_load_ms=rxs["lat_ms"],
                         parleyd_cpu_s=round(m_p.cpu, 3), driver_cpu_s=round(m_d.cpu, 3),
                         xmpp_side_cpu_s=round(m_x.cpu, 3),
                         xmpp_side_busy=round(m_x.cpu / max(1e-9, m_x.wall), 3),
                         host_busy=B.host_busy(host0),
                         cpu_us_per_msg=round(m_p.cpu / max(1, got) * 1e6, 2),
                         driver_us_per_msg=round(m_d.cpu / max(1, got) * 1e6, 2),
                         driver_busy=round(m_d.cpu / max(1e-9, m_d.wall * nproc), 3))
            sends["driver_max_rate"] = (round(nproc * 1e6 / sends["driver_us_per_msg"])
                                        if sends["driver_us_per_msg"] else None)
            sends["pass"] = (got == send_n and not rxs["errors"]
                             and sends["msrp_ok"] == send_n)
            res["send"] = sends
            log("msrp SEND: %d/%d delivered in %.2f s = %s msg/s, MSRP 200 %d, other %d, "
                "missing %d; parleyd %.1f us/msg, driver %.1f us/msg (busy %.0f%% of %d cores)"
                % (got, send_n, t_all, sends["rate"], sends["msrp_ok"], sends["msrp_other"],
                   sends["msrp_missing"], sends["cpu_us_per_msg"], sends["driver_us_per_msg"],
                   100 * sends["driver_busy"], nproc))
        finally:
            for d in drivers:
                try:
                    d.stop()
                except Exception as e:
                    log("msrp driver stop: %s" % e)
            m_gw.__exit__(None, None, None)
            res["gateway"] = gw_figures(m_gw, "parley")
        last = res["rss"][-1] if res["rss"] else None
        res["verdict"] = (None if not last else
                          ("met" if last["per_session_kib"] < MSRP_TARGET_KIB else "NOT met"))
        return res

    def _msrp_invite(self, drivers, targets):
        """Every driver's SIP users INVITE every target; returns the stage's figures."""
        st = self.st
        roots = dict(parleyd=[st.parley.pid], kamailio=[st.kam.pid],
                     driver=[d.pid for d in drivers])
        meters = {k: B.Meter(v, reset_hwm=False).__enter__() for k, v in roots.items()}
        host0 = B.host_cpu()
        t0 = time.monotonic()
        for d in drivers:
            d.cmd("invite", targets=targets, threads=self.a.msrp_threads, timeout=15.0)
        evs = [d.wait("invited", 900) for d in drivers]
        wall = time.monotonic() - t0
        for m in meters.values():
            m.__exit__(None, None, None)
        if any(e is None for e in evs):
            raise RuntimeError("msrp driver did not finish its INVITEs: %s" % evs)
        bound = sum(e["bound"] for e in evs)
        failed = {}
        for e in evs:
            for k, v in e["failed"].items():
                failed[k] = failed.get(k, 0) + v
        # the rate runs until the last successful session was bound: an INVITE that fails by
        # timing out (15 s) would otherwise make one thread's stall the figure; failures are
        # reported beside it (and fail nothing else)
        t_ok = max([e["t_bound"] for e in evs if e["t_bound"]] or [0])
        out = dict(targets=len(targets), tried=sum(e["tried"] for e in evs),
                   established=sum(e["established"] for e in evs), bound=bound, failed=failed,
                   failed_examples=sum((e.get("failed_examples", []) for e in evs), []),
                   wall_s=round(wall, 3), bound_s=round(t_ok, 3),
                   rate=round(bound / t_ok, 1) if t_ok > 0 else None, drivers=evs)
        for k, m in meters.items():
            out["%s_cpu_s" % k] = round(m.cpu, 3)
            out["%s_us_per_session" % k] = round(m.cpu / max(1, bound) * 1e6, 1)
        nproc = len(drivers)
        out["driver_busy"] = round(meters["driver"].cpu / max(1e-9, wall * nproc), 3)
        out["driver_max_rate"] = (round(nproc * 1e6 / out["driver_us_per_session"])
                                  if out["driver_us_per_session"] else None)
        out["machine_busy"] = round(sum(m.cpu for m in meters.values())
                                    / max(1e-9, wall * (os.cpu_count() or 1)), 3)
        out["host_busy"] = B.host_busy(host0)     # every process on the machine
        return out

    # ------------------------------------------------------------------ tool ceilings
    def ceilings(self):
        st = self.st
        # sipp UAC -> sipp UAS directly
        direct = B.SippUas(st, "ceiling")
        out = []
        for rate in ([20000, 40000] if self.quick else [20000, 30000, 40000, 50000]):
            n = int(rate * self.step_s)
            c0 = direct.calls()[0]
            r = B.sipp_uac(st, direct.port, "x@127.0.0.1", "alice@%s" % SIP_DOMAIN, rate, n,
                           timeout_s=20)
            ok = r["ok"] == n and not r["retrans"] and not r["failed"]
            out.append(dict(rate=rate, achieved=round(n / r["elapsed"], 1), sipp=r, **{"pass": ok}))
            log("  ceiling sipp->sipp %d/s: %s (achieved %.0f/s)" % (rate, "PASS" if ok else "FAIL",
                                                                    n / r["elapsed"]))
            if not ok:
                break
        direct.stop()
        passing = [s["achieved"] for s in out if s["pass"]]
        self.results["ceilings"]["sipp_to_sipp"] = dict(steps=out, max_rate=max(passing or [0]))
        # XMPP client -> client through Prosody: the raw clients' (and Prosody's) ceiling
        rx2 = B.RawClient(st, "juliet2")
        tx2 = B.RawClient(st, "romeo2")
        out = []
        with B.Meter([st.xmpp.pid]) as m:
            for rate in self.ladder("c2c"):
                n = int(rate * self.step_s)
                rx2.reset()
                tx2.send(["juliet2@%s" % XMPP_DOMAIN], rate, n, prefix="C")
                sent = tx2.wait_sent(self.step_s + 30)
                got = self._wait_rx(n, DRAIN_S, client=rx2)
                behind = sent["elapsed"] > self.step_s * 1.05 + 0.2
                ok = got == n and not behind
                lat = rx2.stats()["lat_ms"]
                out.append(dict(rate=rate, delivered=got, sender=sent, lat_ms=lat, **{"pass": ok}))
                log("  ceiling xmpp c2c %d/s: %s (%d/%d, sender %.2f s, p50 %s ms)"
                    % (rate, "PASS" if ok else "FAIL", got, n, sent["elapsed"], lat["p50"]))
                if not ok:
                    self._settle(lambda: rx2.stats()["unique"], n)
                    break
        passing = [s["rate"] for s in out if s["pass"]]
        self.results["ceilings"]["xmpp_c2c"] = dict(steps=out, max_rate=max(passing or [0]),
                                                    prosody=m.result())
        rx2.stop()
        tx2.stop()

    # ------------------------------------------------------------------ main
    def run(self):
        only = set(self.a.only.split(",")) if self.a.only else set(SCENARIOS)
        unknown = only - set(SCENARIOS)
        if unknown:
            raise SystemExit("--only: unknown scenario(s) %s (known: %s)"
                             % (",".join(sorted(unknown)), ",".join(SCENARIOS)))
        t0 = time.monotonic()
        self.results["meta"].update(
            date=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), quick=self.quick,
            reps=self.reps, step_s=self.step_s, drain_s=DRAIN_S, offline_n=self.offline_n,
            offline_send_rate=self.a.offline_rate, host=platform.node(),
            machine="%d vCPU, %s, %s" % (os.cpu_count(), _os_name(), platform.machine()),
            versions=_versions(self.a.parleyd))
        try:
            self.setup()
            if "ceil" in only:
                log("== tool ceilings")
                with B.Meter([self.st.parley.pid]) as m:
                    self.ceilings()
                self.results["ceilings"]["parleyd"] = gw_figures(m, "parley")
            for rep in range(1, self.reps + 1):
                for sc, fn in (("s2x", self.run_s2x), ("x2s", self.run_x2s),
                               ("offline", self.run_offline), ("ceiling", self.run_ceiling)):
                    if sc not in only:
                        continue
                    for system in ("parley", "kamailio"):
                        log("== rep %d/%d %s %s" % (rep, self.reps, sc, system))
                        self.results["runs"].append(fn(rep, system))
            if "offline-msrp" in only:   # replaces parleyd by one with [offline] push = msrp
                wins = self.push_windows()
                log("== offline, MSRP push (Parley) W=%s; msilo reference" % wins)
                for rep in range(1, self.reps + 1):
                    for w in wins:
                        log("== rep %d/%d offline-msrp parley W=%d" % (rep, self.reps, w))
                        self.results["runs"].append(self.run_offline_push(rep, w))
                    self.results["runs"].append(self.offline_push_reference(rep))
                log("== MSRP push receiver ceiling")
                self.push_rx_ceiling(wins)
            if "rss" in only:
                log("== RSS growth, %d messages" % self.a.rss_n)
                self.results["runs"].append(self.run_rss())
            if "msrp" in only:      # last: it replaces parleyd by one with [chat] enabled
                log("== MSRP chat sessions (Parley only)")
                self.results["runs"].append(self.run_msrp())
            self.results["meta"]["parleyd_alive_at_end"] = self.st.parley_alive()
            self.results["meta"]["kx_alive_at_end"] = self.st.kx.poll() is None
        finally:
            self.results["meta"]["wall_s"] = round(time.monotonic() - t0, 1)
            B.stop_raw_clients(self.st) if hasattr(self, "st") else None
            if hasattr(self, "st"):
                self.st.stop_all()
        return self.results


# ----------------------------------------------------------------------------- report

def gw_figures(m, system):
    """The gateway process over a whole scenario: CPU seconds and peak memory (parleyd:
    VmHWM, exact; the reference: peak PSS summed over its processes, sampled every 0.2 s)."""
    r = m.result()
    if system == "parley":
        return dict(cpu_s=r["cpu_s"], peak_mb=r["vmhwm_mb"], mem="VmHWM", wall_s=r["wall_s"])
    return dict(cpu_s=r["cpu_s"], peak_mb=r["peak_pss_mb"], mem="PSS", wall_s=r["wall_s"])


def _os_name():
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def _versions(parleyd):
    def first(argv):
        try:
            r = subprocess.run(argv, capture_output=True, timeout=10)
            return (r.stdout + r.stderr).decode().strip().splitlines()[0]
        except Exception:
            return None
    def deb(p):
        try:
            return subprocess.run(["dpkg-query", "-W", "-f=${Version}", p], capture_output=True,
                                  timeout=10).stdout.decode() or None
        except Exception:
            return None
    return dict(parleyd=first([parleyd, "--version"]), kamailio=deb("kamailio"),
                prosody=deb("prosody"), redis=deb("redis-server"), sipp=first(["sipp", "-v"]))


def summarise(results):
    """{row: {parley: [..], kamailio: [..]}} of the headline figures per repetition."""
    rows = {}

    def add(row, system, v):
        if v is not None:
            rows.setdefault(row, {}).setdefault(system, []).append(v)
    wins = sorted({r["window"] for r in results["runs"]
                   if r["scenario"] == "offline-msrp" and r["system"] == "parley"})
    for r in results["runs"]:
        sysn = r["system"]
        if r["scenario"] == "offline-msrp":
            if sysn == "parley":
                w = r["window"]
                add("offpush_flush_rate_%d" % w, sysn, r["flush_rate"])
                add("offpush_flush_cpu_us_%d" % w, sysn, r["cpu_us_per_msg_flush"])
                add("offpush_bad_%d" % w, sysn, (r["n"] - r["flushed"])
                    + (r["push"].get("out_of_order") or 0) + (r["push"].get("duplicates") or 0))
                add("offpush_rx_busy_%d" % w, sysn, r["receiver_busy"])
                add("offpush_park_rate", sysn, r["park_rate"])
            else:                 # msilo's dump in the same run: the ratio's denominator
                for w in wins:
                    add("offpush_flush_rate_%d" % w, sysn, r["flush_rate"])
                    add("offpush_flush_cpu_us_%d" % w, sysn, r["cpu_us_per_msg_flush"])
                add("offpush_park_rate", sysn, r["park_rate"])
        if r.get("gateway"):
            add("gw_%s_cpu_s" % r["scenario"], sysn, r["gateway"]["cpu_s"])
            add("gw_%s_peak_mb" % r["scenario"], sysn, r["gateway"]["peak_mb"])
        if r["scenario"] == "ceiling" and "s2x_max_rate" in r:
            add("ceil_s2x_max", sysn, r["s2x_max_rate"])
            add("ceil_s2x_p50", sysn, r["s2x_latency"]["p50"])
            add("ceil_s2x_p99", sysn, r["s2x_latency"]["p99"])
            add("ceil_s2x_cpu_us", sysn, r["s2x_cpu_us_per_msg"])
            add("ceil_x2s_max", sysn, r["x2s_max_rate"])
            add("ceil_x2s_cpu_us", sysn, r["x2s_cpu_us_per_msg"])
            add("ceil_peak_mb", sysn, r["gateway"]["peak_mb"])
        elif r["scenario"] == "rss":
            add("rss_first_mb", sysn, (r["rss_at_first"] or {}).get("rss_mb"))
            add("rss_n_mb", sysn, (r["rss_at_n"] or {}).get("rss_mb"))
            add("rss_ratio", sysn, r["ratio"])
        if r["scenario"] == "msrp" and not r.get("error"):
            if r.get("setup"):
                st = r["setup"][-1]
                add("msrp_setup_rate", sysn, st["rate"])
                add("msrp_setup_cpu_us", sysn, st["parleyd_us_per_session"])
                add("msrp_setup_drv_max", sysn, st["driver_max_rate"])
                add("msrp_setup_drv_busy", sysn, st["driver_busy"])
            for x in r.get("rss", []):
                add("msrp_rss_kib_%d" % x["n"], sysn, x["per_session_kib"])
            if r.get("send"):
                add("msrp_send_rate", sysn, r["send"]["rate"])
                add("msrp_send_lost", sysn, r["send"]["lost"])
                add("msrp_send_cpu_us", sysn, r["send"]["cpu_us_per_msg"])
                add("msrp_send_drv_max", sysn, r["send"]["driver_max_rate"])
                add("msrp_send_drv_busy", sysn, r["send"]["driver_busy"])
        if r["scenario"] == "s2x":
            add("s2x_max_rate", sysn, r["max_rate"])
            add("s2x_p50_ms", sysn, r["latency"]["p50"])
            add("s2x_p99_ms", sysn, r["latency"]["p99"])
            add("s2x_cpu_us", sysn, r["cpu_us_per_msg"])
            add("s2x_peak_mb", sysn, r["meter_all"]["peak_pss_mb"])
        elif r["scenario"] == "x2s":
            add("x2s_max_rate", sysn, r["max_rate"])
            add("x2s_p50_ms", sysn, (r.get("latency") or {}).get("p50"))
            add("x2s_p99_ms", sysn, (r.get("latency") or {}).get("p99"))
            add("x2s_cpu_us", sysn, r["cpu_us_per_msg"])
            add("x2s_peak_mb", sysn, r["meter_all"]["peak_pss_mb"])
        elif r["scenario"] == "offline":
            add("off_park_rate", sysn, r["park_rate"])
            add("off_flush_rate", sysn, r["flush_rate"])
            add("off_park_cpu_us", sysn, r["cpu_us_per_msg_park"])
            add("off_flush_cpu_us", sysn, r["cpu_us_per_msg_flush"])
            add("off_peak_mb", sysn, max(r["meter_park"]["peak_pss_mb"],
                                         r["meter_flush"]["peak_pss_mb"]))
            add("off_lost", sysn, r["n"] - r["flushed"])
    out = {}
    for row, d in rows.items():
        out[row] = {}
        for sysn, vals in d.items():
            out[row][sysn] = dict(median=statistics.median(vals), min=min(vals), max=max(vals),
                                  values=vals)
        p, k = out[row].get("parley"), out[row].get("kamailio")
        out[row]["ratio"] = (round(p["median"] / k["median"], 2)
                             if p and k and k["median"] else None)
    return out


def _fmt(d):
    if not d:
        return "-"
    def f(v):
        return ("%.0f" % v) if abs(v) >= 100 else ("%.2f" % v if abs(v) < 10 else "%.1f" % v)
    if d["min"] == d["max"]:
        return f(d["median"])
    return "%s [%s-%s]" % (f(d["median"]), f(d["min"]), f(d["max"]))


ROWS = [
    ("s2x_max_rate", "SIP->XMPP max rate, msg/s", "s2x_cpu_us", "s2x_peak_mb", "ceil_s2x"),
    ("s2x_p50_ms", "SIP->XMPP p50 at half max, ms", None, None, "ceil_lat"),
    ("s2x_p99_ms", "SIP->XMPP p99 at half max, ms", None, None, None),
    ("x2s_max_rate", "XMPP->SIP max rate, msg/s", "x2s_cpu_us", "x2s_peak_mb", "ceil_x2s"),
    ("x2s_p50_ms", "XMPP->SIP p50 at half max, ms", None, None, None),
    ("x2s_p99_ms", "XMPP->SIP p99 at half max, ms", None, None, None),
    ("off_park_rate", "offline park N, msg/s", "off_park_cpu_us", "off_peak_mb", None),
    ("off_flush_rate", "offline flush N on REGISTER, msg/s", "off_flush_cpu_us", None, None),
    ("off_lost", "offline: messages not delivered", None, None, None),
    ("ceil_s2x_max", "ceiling SIP->XMPP, gateway on 1 CPU, msg/s", "ceil_s2x_cpu_us",
     "ceil_peak_mb", "ceil_sink_s2x"),
    ("ceil_s2x_p50", "ceiling SIP->XMPP p50 at half, ms", None, None, None),
    ("ceil_s2x_p99", "ceiling SIP->XMPP p99 at half, ms", None, None, None),
    ("ceil_x2s_max", "ceiling XMPP->SIP, gateway on 1 CPU, msg/s", "ceil_x2s_cpu_us",
     "ceil_peak_mb", "ceil_sink_x2s"),
    # Parley only: the reference gateway has no MSRP (no Kamailio figure, no ratio)
    ("msrp_setup_rate", "MSRP sessions set up/s (INVITE..bound)", "msrp_setup_cpu_us", None,
     "msrp_setup"),
    ("msrp_rss_kib_1000", "RSS per idle MSRP session, KiB (1 000)", None, None, None),
    ("msrp_rss_kib_10000", "RSS per idle MSRP session, KiB (10 000)", None, None, None),
    ("msrp_send_rate", "MSRP SEND -> XMPP, msg/s (0 loss)", "msrp_send_cpu_us", None,
     "msrp_send"),
    ("msrp_send_lost", "MSRP SEND: messages lost", None, None, None),
]

GW_ROWS = [("ceil", "tool ceilings (parleyd idle)"), ("s2x", "SIP->XMPP page mode"),
           ("x2s", "XMPP->SIP page mode"), ("offline", "offline park + flush"),
           ("offline-msrp", "offline park + MSRP push"),
           ("ceiling", "ceiling (sink, 1 CPU)"), ("rss", "RSS growth run"),
           ("msrp", "MSRP chat sessions")]


def table(results, summary):
    c = results["ceilings"]
    sipp_c = c.get("sipp_to_sipp", {}).get("max_rate")
    xmpp_c = c.get("xmpp_c2c", {}).get("max_rate")
    # the highest c2c step whose p50 stayed under 10 ms: above it Prosody queues
    flat = [s["rate"] for s in c.get("xmpp_c2c", {}).get("steps", [])
            if s["pass"] and s["lat_ms"]["p50"] is not None and s["lat_ms"]["p50"] < 10]
    xmpp_c = "%s (%s unqueued)" % (_n(xmpp_c), _n(max(flat or [0]))) if xmpp_c else "-"
    sink_c = _n(c.get("sink", {}).get("max_rate"))
    ceil = {"ceil_s2x": "sipp %s; c2c %s" % (_n(sipp_c), xmpp_c),
            "ceil_sink_s2x": "sipp %s; sink %s" % (_n(sipp_c), sink_c),
            "ceil_sink_x2s": "sink %s; sipp %s" % (sink_c, _n(sipp_c)),
            "ceil_x2s": "c2c %s; sipp %s" % (xmpp_c, _n(sipp_c)),
            "ceil_lat": "c2c p50 %s" % _c2c_p50(c)}
    for k in ("setup", "send"):
        mx = summary.get("msrp_%s_drv_max" % k, {}).get("parley")
        busy = summary.get("msrp_%s_drv_busy" % k, {}).get("parley")
        if mx and busy:
            ceil["msrp_" + k] = "driver <= %s (busy %.0f%%)" % (_n(mx["median"]),
                                                              100 * busy["median"])
    # offline-msrp: one row per flush window, right below the MESSAGE flush row
    rows = []
    for rw in ROWS:
        rows.append(rw)
        if rw[0] == "off_flush_rate":
            rows += _push_rows(results, summary, ceil)
    head = ("scenario", "Parley", "Kamailio xmpp+msilo", "ratio P/K", "tool ceiling",
            "CPU us/msg P / K", "peak MB P / K")
    lines = []
    for key, label, cpu, mem, ce in rows:
        s = summary.get(key)
        if not s:
            continue
        cpu_s = summary.get(cpu) if cpu else None
        mem_s = summary.get(mem) if mem else None
        msrp = key.startswith("msrp_") or (key.startswith("offpush_bad") and
                                            not s.get("kamailio"))
        lines.append((label, _fmt(s.get("parley")),
                      ("n/a: no MSRP" if key.startswith("msrp_") else "-") if msrp
                      else _fmt(s.get("kamailio")),
                      "-" if s.get("ratio") is None or msrp else "%.2f" % s["ratio"],
                      ceil.get(ce, "") if ce else "",
                      ("%s / %s" % (_fmt(cpu_s.get("parley")), _fmt(cpu_s.get("kamailio"))))
                      if cpu_s else "",
                      ("%s / %s" % (_fmt(mem_s.get("parley")), _fmt(mem_s.get("kamailio"))))
                      if mem_s else ""))
    widths = [max(len(r[i]) for r in [head] + lines) for i in range(len(head))]
    def row(r):
        return "| " + " | ".join(x.ljust(w) for x, w in zip(r, widths)) + " |"
    out = [row(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [row(r) for r in lines]
    return ("\n".join(out) + gw_table(results, summary) + push_line(results, summary)
            + rss_line(summary) + msrp_line(results))


def _push_rows(results, summary, ceil):
    """The offline-msrp rows (one per flush window) with their tool-ceiling cells."""
    out = []
    rx = results["ceilings"].get("msrp_push_rx", {})
    for key in sorted((k for k in summary if k.startswith("offpush_flush_rate_")),
                      key=lambda k: int(k.rsplit("_", 1)[1])):
        w = int(key.rsplit("_", 1)[1])
        c = rx.get(str(w)) or {}
        busy = summary.get("offpush_rx_busy_%d" % w, {}).get("parley")
        ceil["offpush_rx_%d" % w] = ("receiver <= %s%s" % (
            _n(c.get("rate")), " (busy %.0f%%)" % (100 * busy["median"]) if busy else "")
            if c.get("rate") else "")
        out.append((key, "offline flush N, MSRP push (OMA App. K), W=%d, msg/s" % w,
                    "offpush_flush_cpu_us_%d" % w, None, "offpush_rx_%d" % w))
        out.append(("offpush_bad_%d" % w, "MSRP push W=%d: not delivered + out of order" % w,
                    None, None, None))
    return out


def push_line(results, summary):
    """What the offline-msrp runs saw beyond the table."""
    runs = [r for r in results["runs"] if r["scenario"] == "offline-msrp"]
    mine = [r for r in runs if r["system"] == "parley"]
    if not mine:
        return ""
    ref = [r for r in runs if r["system"] == "kamailio"]
    out = ["", "", "Offline, MSRP push (OMA IM App. K; Parley's [offline] push = msrp, [chat] enabled;"
           " ratio against msilo's dump in the same run%s):"
           % ("" if not ref else ", from: " + ref[0]["source"])]
    for r in mine:
        p = r["push"]
        out.append("- W=%d rep %d: parked %d/%d at %s/s; REGISTER -> last SEND %.3f s (first after "
                   "%s s): %d of %d = %s/s; %s session(s), %d SEND frames, %d CPIM checked, %s, "
                   "%d duplicates, %s; parleyd + redis %s us/msg; receiver %s us/msg (busy %.0f%%), "
                   "all processes %.0f%% of the machine%s"
                   % (r["window"], r["rep"], r["stored"], r["n"], _n(r["park_rate"]),
                      r["flush_s"], p.get("t_first"), r["flushed"], r["stored"],
                      _n(r["flush_rate"]), p.get("sessions"), p.get("frames", 0),
                      p.get("cpim_ok", 0), "in order" if r["in_order"] else
                      "%s out of order" % p.get("out_of_order"), p.get("duplicates") or 0,
                   ("%d XMPP errors %s" % (r["xmpp_errors"], r.get("conditions")))
                   if r["xmpp_errors"] else "no XMPP error",
                      "%s (%s + %s)" % (r["cpu_us_per_msg_flush"],
                                     r.get("cpu_us_per_msg_flush_parleyd"),
                                     r.get("cpu_us_per_msg_flush_redis")),
                   r["receiver_us_per_msg"],
                      100 * r["receiver_busy"], 100 * (r.get("host_busy") or 0),
                      "; problems: %s" % p["problems"] if p.get("problems") else ""))
    for r in ref:
        out.append("- msilo rep %d: parked %s at %s/s, dumped %s of %s at %s/s"
                   % (r["rep"], r["stored"], _n(r["park_rate"]), r["flushed"], r["stored"],
                      _n(r["flush_rate"])))
    rx = results["ceilings"].get("msrp_push_rx", {})
    if rx:
        out.append("- the receiver alone (msrp_driver.py LeanRx fed by a second Python process, "
                   "same SENDs): " + ", ".join("W=%s %s/s (%s us/msg)" % (
                       w, _n(c and c.get("rate")), c and c.get("rx_cpu_us_per_msg"))
                       for w, c in sorted(rx.items(), key=lambda x: int(x[0]))))
    return "\n".join(out)


def gw_table(results, summary):
    """The gateway process alone, per scenario: CPU seconds over the whole scenario and peak
    memory (parleyd VmHWM; the reference: PSS of its processes)."""
    pd = results["ceilings"].get("parleyd")
    if pd:
        summary = dict(summary, gw_ceil_cpu_s={"parley": _one(pd["cpu_s"])},
                       gw_ceil_peak_mb={"parley": _one(pd["peak_mb"])})
    head = ("scenario (whole)", "parleyd CPU s", "parleyd peak RSS MB (VmHWM)",
            "Kamailio kx CPU s", "Kamailio kx peak PSS MB")
    lines = []
    for key, label in GW_ROWS:
        cpu, mem = summary.get("gw_%s_cpu_s" % key), summary.get("gw_%s_peak_mb" % key)
        if not cpu:
            continue
        lines.append((label, _fmt(cpu.get("parley")), _fmt(mem.get("parley")),
                      _fmt(cpu.get("kamailio")), _fmt(mem.get("kamailio"))))
    if not lines:
        return ""
    widths = [max(len(r[i]) for r in [head] + lines) for i in range(len(head))]

    def row(r):
        return "| " + " | ".join(x.ljust(w) for x, w in zip(r, widths)) + " |"
    out = ["", "", row(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join(out + [row(r) for r in lines])


def _one(v):
    return dict(median=v, min=v, max=v, values=[v])


def rss_line(summary):
    a, b, r = (summary.get(k, {}).get("parley") for k in ("rss_first_mb", "rss_n_mb", "rss_ratio"))
    if not (a and b and r):
        return ""
    return ("\n\nparleyd RSS growth (SIP->XMPP into the sink): %s MB after 100 000 messages, "
            "%s MB after the last; ratio %.3f (target <= 1.10: %s)"
            % (_fmt(a), _fmt(b), r["median"], "met" if r["max"] <= 1.10 else "NOT met"))


def msrp_line(results):
    """The msrp scenario's RSS verdict and what bounded its rates."""
    r = next((x for x in results["runs"] if x["scenario"] == "msrp"), None)
    if r is None:
        return ""
    if r.get("error"):
        return "\n\nMSRP chat sessions: not measured: %s" % r["error"]
    out = ["", "", "MSRP chat sessions (Parley only: the reference gateway has no MSRP):"]
    if r.get("rss"):
        per = ", ".join("%.2f KiB at %s (VmRSS %.1f MB%s)"
                        % (x["per_session_kib"], "{:,}".format(x["n"]).replace(",", " "),
                           x["rss_kib"] / 1024.0, "" if i == 0 or x.get("marginal_kib") is None else
                           "; %.2f KiB each beyond the previous count" % x["marginal_kib"])
                        for i, x in enumerate(r["rss"]))
        out.append("- parleyd RSS per idle session beyond the baseline (%.1f MB, no session): %s;"
                   " target < %.0f KiB: %s" % (r["rss_0_kib"] / 1024.0, per, r["target_kib"],
                                               r["verdict"]))
    for st in r.get("setup", []):
        out.append("- set-up of %d sessions: %s/s (%d bound of %d%s); CPU us/session parleyd %s, "
                   "Kamailio %s, driver %s (%d processes, busy %.0f%%: alone at most ~%s/s); "
                   "these %.0f%% of the machine, all processes %.0f%%"
                   % (st["tried"], st["rate"], st["bound"], st["tried"],
                      ", failed %s" % st["failed"] if st["failed"] else "",
                      st["parleyd_us_per_session"], st["kamailio_us_per_session"],
                      st["driver_us_per_session"], r["driver_procs"], 100 * st["driver_busy"],
                      _n(st["driver_max_rate"]), 100 * st["machine_busy"],
                      100 * (st.get("host_busy") or 0)))
    s = r.get("send")
    if s:
        out.append("- SEND: %d/%d delivered in %.2f s (%s), MSRP 200 for %d; parleyd %s us/msg, "
                   "driver %s us/msg (busy %.0f%%: alone at most ~%s/s); Prosody + receiver "
                   "%.0f%% of a core; all processes %.0f%% of the machine"
                   % (s["delivered"], s["n"], s["wall_s"], "zero loss" if s["pass"] else
                      "NOT clean", s["msrp_ok"], s["cpu_us_per_msg"], s["driver_us_per_msg"],
                      100 * s["driver_busy"], _n(s["driver_max_rate"]),
                      100 * s.get("xmpp_side_busy", 0), 100 * (s.get("host_busy") or 0)))
    return "\n".join(out)


def _n(v):
    return "-" if not v else "%.0f" % v


def _c2c_p50(c):
    steps = c.get("xmpp_c2c", {}).get("steps", [])
    ok = [s for s in steps if s["pass"]]
    if not ok:
        return "-"
    mx = ok[-1]["rate"]
    near = min(ok, key=lambda s: abs(s["rate"] - mx / 2))
    return "%s ms @%d/s" % (near["lat_ms"]["p50"], near["rate"])


def merge_into(path, results, only):
    """The earlier file's runs of the scenarios not run now, then this run's; its meta stays
    (it describes those runs), this run's meta goes to meta.merged (one per merge)."""
    try:
        with open(path) as f:
            old = json.load(f)
    except (OSError, ValueError):
        return results
    ran = set(only.split(",")) if only else set(SCENARIOS)
    out = dict(old)
    out["runs"] = [r for r in old.get("runs", []) if r["scenario"] not in ran] + results["runs"]
    out["ceilings"] = dict(old.get("ceilings", {}), **results["ceilings"])
    meta = dict(old.get("meta", {}))
    meta["merged"] = [m for m in meta.get("merged", [])
                      if not set(m.get("scenarios", [])) <= ran]
    meta["merged"].append(dict(results["meta"], scenarios=sorted(ran)))
    out["meta"] = meta
    out.pop("summary", None)
    out.pop("table", None)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", default="")
    ap.add_argument("--offline-rate", type=int, default=40000)
    ap.add_argument("--rss-n", type=int, default=1000000,
                    help="messages in the RSS growth run (default 1 000 000)")
    ap.add_argument("--rss-rate", type=int, default=0,
                    help="its rate (default: 0.8 x the ceiling's SIP->XMPP figure within "
                         "5 000-20 000/s; 10 000/s without a ceiling run)")
    ap.add_argument("--msrp-procs", type=int, default=2,
                    help="msrp: driver processes (Python: one core each at most; default 2)")
    ap.add_argument("--msrp-threads", type=int, default=32,
                    help="msrp: INVITE threads per driver process (default 32)")
    ap.add_argument("--msrp-send-n", type=int, default=0,
                    help="msrp: SENDs in the SEND/s run (default 20 000; 5 000 with --quick)")
    ap.add_argument("--push-window", default="32,256",
                    help="offline-msrp: parleyd's [offline] flush_window, one run each "
                         "(comma-separated; default 32,256)")
    ap.add_argument("--parleyd", default=os.path.join(B.ROOT, "build-bench", "parleyd"))
    ap.add_argument("--out", default=os.path.join(B.BENCH, "RESULTS.json"))
    ap.add_argument("--merge", action="store_true",
                    help="keep the other scenarios' runs of the existing --out file (e.g. "
                         "--only msrp --merge adds this run's msrp figures to RESULTS.json)")
    ap.add_argument("--report", metavar="JSON", help="only print the table of an earlier run")
    args = ap.parse_args()
    if args.report:
        with open(args.report) as f:
            results = json.load(f)
        results["summary"] = summarise(results)
        print(table(results, results["summary"]))
        return 0
    bench = Bench(args)
    results = bench.run()
    if args.merge:
        results = merge_into(args.out, results, args.only)
    summary = results["summary"] = summarise(results)
    tab = results["table"] = table(results, summary)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    m = bench.results["meta"]         # this run's (a merged file keeps the earlier meta)
    print("\nParley vs Kamailio xmpp module + msilo, %s, %s, %d repetition(s), %.0f s"
          % (m["date"], m["machine"], m["reps"], m["wall_s"]))
    print(tab)
    print("ratio = Parley median / Kamailio median (rates: higher is better for Parley; "
          "latency, CPU: lower). Raw figures: %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
