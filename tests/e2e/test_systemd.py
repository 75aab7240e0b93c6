#!/usr/bin/python3
"""deploy/systemd's units run for real under systemd, as PID 1 of a podman
container (`--systemd=always`) that joins the test's switch namespace.

The container's root is this machine's own, behind an overlay (`--rootfs
/:O`: nothing it writes reaches the machine), so systemd 252 and the
libraries are Debian's, and it boots into a target of the test's that
starts nothing (none of the machine's services, Debian's Open vSwitch
among them).  The units and the built binaries are bind-mounted where an
install puts them; the run, state and log directories are the test's, so
hsw-ctl drives the daemons from outside.  Checked: `systemd-analyze verify`
prints nothing; `systemctl start` returns only once hsw-vswitchd is ready;
`systemctl restart hsw-vswitchd` under traffic loses 0 packets and leaves
the datapath alone; a daemon killed with -9 is restarted by systemd; and
hsw-sidecar --systemd enables and starts the units through D-Bus and
reports systemd's restarts.
"""

import json
import os
import re
import time

import hswtest
from hswtest import run, wait_for
from podmantest import Podman

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UNITS = os.path.join(REPO, "deploy", "systemd")
BINARIES = ("hsw-datapath", "hsw-vswitchd", "hsw-ctl", "hsw-sidecar")

# systemd.unit= boots into this: nothing but what the test starts.
TARGET = """\
[Unit]
Description=hsw's systemd test: start nothing by default
"""


class SystemdTestCase(hswtest.HswTestCase):
    START = False
    N_HOSTS = 3

    def setUp(self):
        super().setUp()
        self.w.create_topology()
        self.w.static_arp()
        self.podman = Podman(os.path.join(self.w.tmp, "podman"))
        self.addCleanup(self.podman.cleanup)
        self.addCleanup(self.dump_journal)
        target = os.path.join(self.w.tmp, "hsw-test.target")
        with open(target, "w") as f:
            f.write(TARGET)
        mounts = ["-v", target + ":/etc/systemd/system/hsw-test.target:ro"]
        for unit in sorted(os.listdir(UNITS)):
            mounts += ["-v", "%s:/etc/systemd/system/%s:ro" % (os.path.join(UNITS, unit), unit)]
        for b in BINARIES:
            mounts += ["-v", "%s:/usr/bin/%s:ro" % (self.w.bin(b), b)]
        for host_dir, unit_dir in ((self.w.rundir, "/run/hsw"), (self.w.statedir, "/var/lib/hsw"),
                                   (self.w.logdir, "/var/log/hsw")):
            mounts += ["-v", "%s:%s" % (host_dir, unit_dir)]
        # /tmp and /run without copy-up: the machine's own would be copied in.
        tmpfs = []
        for path in ("/tmp", "/run", "/run/lock"):
            tmpfs += ["--tmpfs", path + ":rw,notmpcopyup"]
        self.podman("run", "--detach", "--name", "hsw-systemd", "--privileged",
                    "--network", "ns:/run/netns/" + self.w.sw, "--systemd=always",
                    *tmpfs, *mounts, "--rootfs", "/:O",
                    "/lib/systemd/systemd", "systemd.unit=hsw-test.target", timeout=120)
        wait_for(lambda: self.systemctl("is-system-running", check=False).stdout.strip()
                 in ("running", "degraded"), 60, "systemd in the container to boot")

    def sh(self, *cmd, check=True, timeout=120):
        return self.podman("exec", "hsw-systemd", *cmd, check=check, timeout=timeout)

    def systemctl(self, *args, check=True, timeout=120):
        return self.sh("systemctl", "--no-pager", *args, check=check, timeout=timeout)

    def main_pid(self, unit):
        out = self.systemctl("show", "--property", "MainPID,ActiveState", unit).stdout
        props = dict(line.split("=", 1) for line in out.split())
        return int(props["MainPID"]), props["ActiveState"]

    def dump_journal(self):
        if self._failed():
            status = self.systemctl("status", "hsw-datapath", "hsw-vswitchd", check=False)
            hswtest.log("---- systemctl status\n%s%s" % (status.stdout, status.stderr))

    def test_units_verify_and_score(self):
        units = ["/etc/systemd/system/hsw-datapath.service",
                 "/etc/systemd/system/hsw-vswitchd.service"]
        verify = self.sh("systemd-analyze", "verify", *units, check=False)
        self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)
        self.assertEqual(verify.stderr, "", "systemd-analyze verify must print nothing")
        for unit in units:
            score = self.sh("systemd-analyze", "security", "--offline=true", unit).stdout
            level = re.search(r"Overall exposure level for \S+: ([0-9.]+)", score)
            self.assertIsNotNone(level, score[-500:])
            hswtest.log("systemd-analyze security %s: %s" % (os.path.basename(unit),
                                                               level.group(1)))

    def test_start_restart_and_kill_under_traffic(self):
        w = self.w
        # Wants= pulls the datapath in; start returns once READY=1.
        self.systemctl("start", "hsw-vswitchd")
        show = w.ctl("show").stdout
        self.assertIn("tables loaded", show, "systemctl start returned before it was ready")
        dp_pid, state = self.main_pid("hsw-datapath")
        self.assertEqual(state, "active")
        w.ctl("add-br", "br0")
        for h in w.hosts:
            w.ctl("add-port", "br0", "p%d" % w.index(h), "--ofport", str(w.ofport(h)))
        self.connect_pairs(("h1", "h2"))

        rx = w.recv("h2", 9000, announce=500)
        sender = w.start_send("h1", "h2", 9000, 5000, 600, "--src-port", "41000")
        rx.wait_received(500)
        for _ in range(3):
            before, _ = self.main_pid("hsw-vswitchd")
            self.systemctl("restart", "hsw-vswitchd")
            after, state = self.main_pid("hsw-vswitchd")
            self.assertEqual(state, "active")
            self.assertNotEqual(after, before)
            self.assertIn("tables loaded", w.ctl("show").stdout)
        self.assertEqual(self.main_pid("hsw-datapath"), (dp_pid, "active"),
                         "restarting hsw-vswitchd must leave the datapath alone")
        time.sleep(0.5)
        sent, report = self.end_traffic(sender, rx, "3 x systemctl restart hsw-vswitchd")
        self.assert_no_loss(report, sent=sent["sent"])

        # kill -9: systemd restarts it (Restart=on-failure), with its journal.
        rx = w.recv("h2", 9001, announce=500)
        sender = w.start_send("h1", "h2", 9001, 5000, 600, "--src-port", "41001")
        rx.wait_received(500)
        killed, _ = self.main_pid("hsw-vswitchd")
        self.sh("kill", "-9", str(killed))
        wait_for(lambda: self.main_pid("hsw-vswitchd")[0] not in (0, killed) and
                 self.main_pid("hsw-vswitchd")[1] == "active", 30,
                 "systemd to restart hsw-vswitchd")
        wait_for(lambda: "tables loaded" in w.ctl("show", check=False).stdout, 30,
                 "the restarted hsw-vswitchd to load its tables")
        time.sleep(0.5)
        sent, report = self.end_traffic(sender, rx, "kill -9 of hsw-vswitchd under systemd")
        self.assert_no_loss(report, sent=sent["sent"])
        self.assert_new_flows_work()

        # The datapath too; hsw-vswitchd reconnects and re-adds ports and flows.
        self.sh("kill", "-9", str(dp_pid))
        wait_for(lambda: self.main_pid("hsw-datapath")[0] not in (0, dp_pid) and
                 self.main_pid("hsw-datapath")[1] == "active", 30,
                 "systemd to restart hsw-datapath")
        wait_for(lambda: re.search(r"pid \d+, connected\)", w.ctl("show", check=False).stdout),
                 60,
                 "hsw-vswitchd to reconnect to the new datapath")
        self.assert_new_flows_work()

    def test_sidecar_in_systemd_mode(self):
        """hsw-sidecar --systemd: enables and starts the units through
        systemd's D-Bus API, reports what systemd says of them, and a
        daemon killed with -9 shows up restarted by systemd."""
        w = self.w
        port = 9476
        self.sh("sh", "-c", "/usr/bin/hsw-sidecar --systemd hsw-datapath.service "
                "--systemd hsw-vswitchd.service --listen 127.0.0.1:%d "
                ">/var/log/hsw/hsw-sidecar.console 2>&1 &" % port)

        def status():
            p = run(w.ns_cmd("sw", ["curl", "-s", "--max-time", "5",
                                    "http://127.0.0.1:%d/status" % port]), check=False)
            try:
                return {d["name"]: d for d in json.loads(p.stdout)["daemons"]}
            except (ValueError, KeyError):
                return {}

        def running(name, restarts):
            d = status().get(name, {})
            return d.get("state") == "running" and d.get("restarts") == restarts

        wait_for(lambda: running("hsw-datapath", 0) and running("hsw-vswitchd", 0), 60,
                 "the sidecar to start both units through systemd")
        for unit in ("hsw-datapath.service", "hsw-vswitchd.service"):
            self.assertEqual(self.systemctl("is-enabled", unit).stdout.strip(), "enabled")
            self.assertEqual(self.systemctl("is-active", unit).stdout.strip(), "active")
        vswitchd = status()["hsw-vswitchd"]
        self.assertIn("systemd: hsw-vswitchd.service active/running", vswitchd["last"])
        self.assertEqual(vswitchd["pid"], self.main_pid("hsw-vswitchd")[0])

        killed, _ = self.main_pid("hsw-vswitchd")
        self.sh("kill", "-9", str(killed))
        wait_for(lambda: running("hsw-vswitchd", 1), 30,
                 "the sidecar to report hsw-vswitchd restarted by systemd")
        self.assertNotEqual(status()["hsw-vswitchd"]["pid"], killed)
        metrics = run(w.ns_cmd("sw", ["curl", "-s", "http://127.0.0.1:%d/metrics" % port])).stdout
        self.assertIn('hsw_daemon_restarts_total{daemon="hsw-vswitchd"} 1', metrics)
        # Stopping the sidecar stops nothing.
        self.sh("pkill", "-TERM", "-x", "hsw-sidecar")
        time.sleep(0.5)
        self.assertEqual(self.systemctl("is-active", "hsw-vswitchd").stdout.strip(), "active")


if __name__ == "__main__":
    hswtest.main()
