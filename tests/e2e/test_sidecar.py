#!/usr/bin/python3
"""hsw-sidecar against the real daemons: it starts them, answers /livez,
/readyz, /metrics and /status (read with curl, /metrics parsed by Debian's
python3-prometheus-client), restarts a daemon killed with -9 while traffic
flows (0 lost, counted on the far side), leaves a daemon stopped on purpose
alone, and stops without stopping them.
"""

import json
import os
import re
import signal
import socket
import subprocess
import time

import hswtest
from hswtest import run, wait_for

from prometheus_client.parser import text_string_to_metric_families


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SidecarTestCase(hswtest.HswTestCase):
    START = False

    def setUp(self):
        super().setUp()
        if not os.access(self.w.bin("hsw-sidecar"), os.X_OK):
            self.fail("missing %s (build first)" % self.w.bin("hsw-sidecar"))
        self.w.create_topology()
        self.w.static_arp()
        self.port = free_port()

    def start_sidecar(self, *extra):
        """hsw-sidecar in the switch namespace, in the foreground as a
        container runs it; its stdout (its log and the daemons') to a file."""
        self.sidecar_log = os.path.join(self.w.logdir, "hsw-sidecar.console")
        out = open(self.sidecar_log, "ab")
        self.addCleanup(out.close)
        cmd = self.w.ns_cmd("sw", [self.w.bin("hsw-sidecar"), "--listen",
                                   "127.0.0.1:%d" % self.port] + list(extra))
        proc = self.w.track(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                             env=self.w.env))
        # It serves once it is bound: nothing below may race its start.
        wait_for(lambda: self.get("/status")[0] == 200 or proc.poll() is not None, 20,
                 "hsw-sidecar to serve", interval=0.05)
        self.assertIsNone(proc.poll(), "hsw-sidecar exited: see " + self.sidecar_log)
        return proc

    def get(self, path, method="GET"):
        """(HTTP status, body) from curl in the switch namespace."""
        data = ["-d", ""] if method != "GET" else []
        p = run(self.w.ns_cmd("sw", ["curl", "-s", "-X", method] + data + ["-o", "-", "-w",
                                     "\n%{http_code}", "--max-time", "10",
                                     "http://127.0.0.1:%d%s" % (self.port, path)]),
                check=False)
        body, _, code = p.stdout.rpartition("\n")
        return int(code or 0), body

    def wait_status(self, path, code, timeout=20):
        seen = {}

        def ok():
            seen["last"] = self.get(path)
            return seen["last"][0] == code
        try:
            wait_for(ok, timeout, "%s to answer %d" % (path, code), interval=0.05)
        except AssertionError:
            raise AssertionError("%s: last answer %s" % (path, seen.get("last")))

    def metrics(self):
        code, text = self.get("/metrics")
        self.assertEqual(code, 200, text)
        samples = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return samples

    def status(self):
        code, body = self.get("/status")
        self.assertEqual(code, 200, body)
        return json.loads(body)

    def daemon(self, status, name):
        return [d for d in status["daemons"] if d["name"] == name][0]


class TestSidecar(SidecarTestCase):

    def test_probes_metrics_supervision_and_a_kill_under_traffic(self):
        w = self.w
        sidecar = self.start_sidecar()
        self.wait_status("/livez", 200)
        # It started both daemons; no restart counted for that.
        w.ctl("add-br", "br0")
        for h in w.hosts:
            w.ctl("add-port", "br0", "p%d" % w.index(h), "--ofport", str(w.index(h)))
        self.connect_pairs(("h1", "h2"))
        self.wait_status("/readyz", 200)
        code, body = self.get("/readyz?verbose")
        for check in ("datapath", "vswitchd", "datapath-connected", "flow-restore-wait", "ports"):
            self.assertIn("[+]%s ok" % check, body)

        # A restore in progress: not ready, still alive; the body says why.
        w.ctl("set", "flow-restore-wait=true")
        code, body = self.get("/readyz")
        self.assertEqual(code, 500, body)
        self.assertIn("flow-restore-wait", body)
        self.assertEqual(self.get("/readyz?exclude=flow-restore-wait")[0], 200)
        self.assertEqual(self.get("/livez")[0], 200)
        self.assertEqual(self.get("/readyz/flow-restore-wait")[0], 500)
        self.assertEqual(self.get("/readyz/no-such-check")[0], 404)
        w.ctl("set", "flow-restore-wait=false")
        self.wait_status("/readyz", 200)

        # kill -9 under traffic: /livez fails, the sidecar starts hsw-vswitchd
        # again (its journal has the rules), /livez recovers, nothing lost.
        rx = w.recv("h2", 9300, announce=500)
        sender = w.start_send("h1", "h2", 9300, 5000, 600, "--src-port", "41000")
        rx.wait_received(500)
        killed = w.kill_daemon("hsw-vswitchd", signal.SIGKILL)
        wait_for(lambda: w.daemon_pid("hsw-vswitchd") not in (None, killed), 20,
                 "the sidecar to start hsw-vswitchd again", interval=0.05)
        self.wait_status("/livez", 200)
        self.wait_status("/readyz", 200)
        sent, report = self.end_traffic(sender, rx, "kill -9 of hsw-vswitchd with the sidecar")
        self.assert_no_loss(report, sent=sent["sent"])
        st = self.status()
        vs = self.daemon(st, "hsw-vswitchd")
        self.assertEqual(vs["restarts"], 1, st)
        self.assertEqual(vs["state"], "running", st)
        self.assertTrue(st["ready"], st)
        with open(self.sidecar_log) as f:
            self.assertIn("pid %d died without saying why" % killed, f.read())

        # /metrics parses with Prometheus's parser and agrees with dp-show
        # (read after the traffic stopped, so the counters stand still).
        m = self.metrics()
        self.assertEqual(m[("hsw_daemon_restarts_total", (("daemon", "hsw-vswitchd"),))], 1)
        self.assertEqual(m[("hsw_daemon_restarts_total", (("daemon", "hsw-datapath"),))], 0)
        self.assertEqual(m[("hsw_scrape_success", (("source", "datapath"),))], 1)
        self.assertEqual(m[("hsw_vswitchd_tables_loaded", ())], 1)
        self.assertEqual(m[("hsw_bridge_rules", (("bridge", "br0"),))], 2)
        dp = w.ctl("dp-show").stdout
        for port in ("p1", "p2"):
            block = re.search(r"port \d+: %s .*\n\s+rx packets:(\d+) bytes:(\d+).*\n"
                              r"\s+tx packets:(\d+)" % port, dp)
            self.assertIsNotNone(block, dp)
            labels = (("port", port),)
            self.assertEqual(m[("hsw_port_rx_packets_total", labels)], int(block.group(1)))
            self.assertEqual(m[("hsw_port_rx_bytes_total", labels)], int(block.group(2)))
            self.assertEqual(m[("hsw_port_tx_packets_total", labels)], int(block.group(3)))
        self.assertGreaterEqual(m[("hsw_port_rx_packets_total", (("port", "p1"),))],
                                sent["sent"])
        flows = int(re.search(r"n_flows:\s+(\d+)", dp).group(1))
        self.assertEqual(m[("hsw_datapath_megaflows", ())], flows)

        # Read-only: a POST changes nothing and is refused.
        self.assertEqual(self.get("/livez", method="POST")[0], 405)

        # A stop on purpose (a preStop hook) is left alone.
        w.ctl("stop")
        time.sleep(1.0)  # several supervisor passes: none may start it
        self.assertIsNone(w.daemon_pid("hsw-vswitchd"))
        code, body = self.get("/livez")
        self.assertEqual(code, 500)
        self.assertIn("vswitchd", body)
        self.assertEqual(self.daemon(self.status(), "hsw-vswitchd")["state"], "stopped")
        w.ctl_console("start")
        self.wait_status("/livez", 200)

        # The sidecar's own end stops nothing.
        sidecar.send_signal(signal.SIGTERM)
        self.assertEqual(sidecar.wait(10), 0)
        self.assertIsNotNone(w.daemon_pid("hsw-vswitchd"))
        ok, out = w.ping("h1", "h2")
        self.assertTrue(ok, out)

    def test_daemon_logs_on_stdout_across_rotation_and_a_sidecar_restart(self):
        w = self.w
        sidecar = self.start_sidecar("--follow-daemon-logs")
        self.wait_status("/livez", 200)
        log = os.path.join(w.logdir, "hsw-vswitchd.log")
        self.assertTrue(os.path.exists(log), "the daemons were not started with --log-file")

        def printed(text):
            with open(self.sidecar_log) as f:
                return f.read().count(text)

        def bridge(name):
            w.ctl("add-br", name)
            wait_for(lambda: printed("bridge %s added (" % name) >= 1, 10,
                     "the sidecar to print bridge %s's log line" % name, interval=0.05)

        bridge("brA")
        # logrotate's default: rename, then the daemon reopens (SIGHUP).
        os.rename(log, log + ".1")
        os.kill(w.daemon_pid("hsw-vswitchd"), signal.SIGHUP)
        wait_for(lambda: os.path.exists(log), 10, "hsw-vswitchd to reopen its log")
        bridge("brB")
        # copytruncate: copy, then truncate in place.
        with open(log, "rb") as f, open(log + ".2", "wb") as copy:
            copy.write(f.read())
        os.truncate(log, 0)
        bridge("brC")
        # The sidecar restarts; meanwhile a line is written.
        sidecar.send_signal(signal.SIGTERM)
        self.assertEqual(sidecar.wait(10), 0)
        w.ctl("add-br", "brD")
        self.start_sidecar("--follow-daemon-logs")
        bridge("brE")
        for name in ("brA", "brB", "brC", "brD", "brE"):
            self.assertEqual(printed("bridge %s added (" % name), 1, name)
        # Every line is whole and in the daemons' format.
        with open(self.sidecar_log) as f:
            for line in f:
                if "|vswitchd|" in line or "|ofproto|" in line:
                    self.assertRegex(line, r"^\d{4}-\d\d-\d\dT[\d:.]+Z\|\d+\|\w+\|[A-Z]+\|")

    def write_generation(self, keys):
        """A ConfigMap update as the kubelet makes it: a new timestamped
        directory, ..data swapped to it by rename, a symlink per key."""
        self.generation = getattr(self, "generation", 0) + 1
        stamp = "..2026_12_07_%02d" % self.generation
        os.makedirs(os.path.join(self.config_dir, stamp))
        for key, value in keys.items():
            with open(os.path.join(self.config_dir, stamp, key), "w") as f:
                f.write(value + "\n")
        tmp = os.path.join(self.config_dir, "..data_tmp")
        os.symlink(stamp, tmp)
        os.rename(tmp, os.path.join(self.config_dir, "..data"))
        for name in os.listdir(self.config_dir):
            path = os.path.join(self.config_dir, name)
            if not name.startswith("..") and os.path.islink(path) and name not in keys:
                os.unlink(path)
        for key in keys:
            path = os.path.join(self.config_dir, key)
            if not os.path.islink(path):
                os.symlink(os.path.join("..data", key), path)
        return stamp

    def test_configmap_generations_applied_and_a_bad_one_refused(self):
        w = self.w
        self.config_dir = os.path.join(w.tmp, "configmap")
        os.makedirs(self.config_dir)
        first = self.write_generation({"bridges": "br0",
                                       "bridge.br0.ports": "p1:1 p2:2"})
        self.start_sidecar("--config-dir", self.config_dir)
        wait_for(lambda: self.status().get("config", {}).get("applied") == first, 20,
                 "the first generation to be applied")
        self.assertEqual(w.ctl("list-ports", "br0").stdout.split(), ["p1", "p2"])
        self.connect_pairs(("h1", "h2"))
        ok, out = w.ping("h1", "h2")
        self.assertTrue(ok, out)
        # Like a bridge made by ovs-vsctl: standalone, so OVS's default NORMAL
        # rule, and the two added.
        rules = sorted(w.dump_flows())
        self.assertEqual(len(rules), 3, rules)

        # An update by symlink swap: a port more, a log level; only that changes.
        second = self.write_generation({"bridges": "br0 br1",
                                        "bridge.br0.ports": "p1:1 p2:2 p3:3",
                                        "log-levels": "ofproto:dbg"})
        wait_for(lambda: self.status()["config"]["applied"] == second, 20,
                 "the second generation to be applied")
        self.assertEqual(sorted(w.ctl("list-ports", "br0").stdout.split()), ["p1", "p2", "p3"])
        self.assertEqual(sorted(w.ctl("list-br").stdout.split()), ["br0", "br1"])
        self.assertEqual(len(w.dump_flows()), 3, "the rules were touched")

        # A bad generation: every problem named, nothing of it applied, the
        # last good one stays, and it is counted.
        before = w.ctl("show").stdout
        bad = self.write_generation({"bridges": "br0",
                                     "bridge.br0.ports": "p1:1 p2:99999",
                                     "bridge.brX.ports": "p3",
                                     "bridge.br0.colour": "blue"})
        wait_for(lambda: self.status()["config"]["newest"] == bad, 20,
                 "the bad generation to be read")
        st = self.status()["config"]
        self.assertEqual(st["applied"], second)
        for problem in ("p2:99999", "bridge 'brX' is not in `bridges`", "bridge.br0.colour"):
            self.assertIn(problem, st["error"])
        self.assertEqual(w.ctl("show").stdout.split("Counters:")[0],
                         before.split("Counters:")[0])
        m = self.metrics()
        self.assertEqual(m[("hsw_config_refused_total", ())], 1)
        self.assertEqual(m[("hsw_config_last_refused", ())], 1)
        with open(self.sidecar_log) as f:
            self.assertIn("bridge 'brX' is not in `bridges`", f.read())

        # Fixed: applied; a bridge no longer listed is deleted.
        fixed = self.write_generation({"bridges": "br0",
                                       "bridge.br0.ports": "p1:1 p2:2"})
        wait_for(lambda: self.status()["config"]["applied"] == fixed, 20,
                 "the fixed generation to be applied")
        self.assertEqual(self.status()["config"]["error"], "")
        self.assertEqual(w.ctl("list-br").stdout.split(), ["br0"])
        self.assertEqual(sorted(w.ctl("list-ports", "br0").stdout.split()), ["p1", "p2"])
        ok, out = w.ping("h2", "h1")
        self.assertTrue(ok, out)

    def test_bad_input_is_refused_clearly(self):
        w = self.w
        # A bad --listen: usage error, nothing started.
        p = run(w.ns_cmd("sw", [w.bin("hsw-sidecar"), "--listen", "127.0.0.1:99999"]),
                check=False, env=w.env)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("1-65535", p.stderr)
        self.assertIsNone(w.daemon_pid("hsw-datapath"))
        # The port in use: exit 1, the address named, nothing started.
        holder = self.w.track(subprocess.Popen(
            w.ns_cmd("sw", ["/usr/bin/python3", "-c",
                            "import socket,time\n"
                            "s=socket.socket();s.bind(('127.0.0.1',%d));s.listen();"
                            "print('bound',flush=True);time.sleep(60)" % self.port]),
            stdout=subprocess.PIPE, text=True))
        self.assertIn("bound", holder.stdout.readline())
        p = run(w.ns_cmd("sw", [w.bin("hsw-sidecar"), "--listen", "127.0.0.1:%d" % self.port]),
                check=False, env=w.env, timeout=30)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("127.0.0.1:%d" % self.port, p.stdout + p.stderr)
        self.assertIsNone(w.daemon_pid("hsw-datapath"))
        holder.kill()
        holder.wait()
        # Daemon binaries that are not there: the sidecar runs, says so in its
        # log and /status, and /livez fails.
        self.start_sidecar("--bindir", "/nonexistent")
        code, body = self.get("/livez")
        self.assertEqual(code, 500)
        wait_for(lambda: self.daemon(self.status(), "hsw-vswitchd")["state"] == "crashed", 20,
                 "the failed start to show in /status")
        with open(self.sidecar_log) as f:
            self.assertIn("/nonexistent/hsw-datapath", f.read())


if __name__ == "__main__":
    hswtest.main()
