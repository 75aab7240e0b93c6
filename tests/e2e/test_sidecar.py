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
        self.assertIsNone(sender.poll(), "the sender stopped")
        sender.send_signal(signal.SIGINT)
        sent = self.sender_report(sender)
        report = rx.result()
        hswtest.log("kill -9 of hsw-vswitchd under %d packets with the sidecar: %d lost" %
                    (sent["sent"], report["lost"]))
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
        wait_for(lambda: self.get("/status")[0] == 200, 20, "the sidecar to serve")
        code, body = self.get("/livez")
        self.assertEqual(code, 500)
        wait_for(lambda: self.daemon(self.status(), "hsw-vswitchd")["state"] == "crashed", 20,
                 "the failed start to show in /status")
        with open(self.sidecar_log) as f:
            self.assertIn("/nonexistent/hsw-datapath", f.read())


if __name__ == "__main__":
    hswtest.main()
