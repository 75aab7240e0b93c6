#!/usr/bin/python3
"""hsw-vswitchd installed in place of ovs-vswitchd, driven by Open vSwitch's
own tools on the paths they hard-code.

Each test gives the node a private copy of the system paths
(ovsdbtest.SystemRoot: /run, /var/lib/openvswitch, /var/log/openvswitch and
/etc/openvswitch bound to temp dirs in a mount namespace) and binds
hsw-vswitchd over /usr/sbin/ovs-vswitchd, as a user who installs hsw instead
of Open vSwitch does.  Nothing is told where hsw is: Debian's ovs-ctl,
ovs-appctl, ovs-vsctl and ovs-save find it where they find ovs-vswitchd.
"""

import os
import signal
import time

import hswtest
import ovsdbtest
from ovsdbtest import OVS_APPCTL, OVS_CTL, OVS_VSCTL, OVS_VSWITCHD
from hswtest import wait_for

POD_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pod", "ovs-node.sh")
N_RULES = 10000
RATE = 10000


class DropInTestCase(hswtest.HswTestCase):
    START = False
    N_HOSTS = 3

    def setUp(self):
        super().setUp()
        ovsdbtest.prepare(self)
        self.node = ovsdbtest.SystemRoot(self.w, vswitchd=self.w.bin("hsw-vswitchd"),
                                         fake_kmod=True)

    def sh(self, *argv, check=True, timeout=60):
        return self.node.run(*argv, check=check, timeout=timeout)

    def appctl(self, *args, check=True):
        return self.sh(OVS_APPCTL, *args, check=check)

    def add_bridge_with_hosts(self, bridge="br0"):
        self.sh(OVS_VSCTL, "add-br", bridge)
        for h in self.w.hosts:
            i = self.w.index(h)
            self.sh(OVS_VSCTL, "add-port", bridge, "p%d" % i, "--", "set", "interface",
                    "p%d" % i, "ofport_request=%d" % i)


class TestOvsCtlAndAppctl(DropInTestCase):

    def test_ovs_ctl_starts_and_stops_hsw_and_ovs_appctl_drives_it(self):
        w, node = self.w, self.node
        # What ovs-ctl parses to learn the version it records in the database.
        version = self.sh(OVS_VSWITCHD, "--version").stdout.splitlines()
        self.assertRegex(version[0], r"^ovs-vswitchd \(Open vSwitch\) \d+\.\d+\.\d+$")

        # The babysat systemd units' commands (ovsdb-server.service and
        # ovs-vswitchd.service run exactly these).
        self.sh(OVS_CTL, "--no-ovs-vswitchd", "--no-monitor", "--system-id=random", "start")
        node.track_daemons()
        out = self.sh(OVS_CTL, "--no-ovsdb-server", "--no-monitor", "--system-id=random",
                      "start").stdout
        node.track_daemons()
        hswtest.log("ovs-ctl start: " + out.strip().replace("\n", " | "))
        pid = node.pid("ovs-vswitchd")
        self.assertIsNotNone(pid, "no /var/run/openvswitch/ovs-vswitchd.pid")
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            self.assertIn(b"ovs-vswitchd", f.read())
        # What `pidof ovs-vswitchd` and `pgrep ovs-vswitchd` look at.
        with open("/proc/%d/comm" % pid) as f:
            self.assertEqual(f.read().strip(), "ovs-vswitchd")
        self.assertTrue(os.path.exists(node.path("/run/openvswitch/ovs-vswitchd.%d.ctl" % pid)))
        self.assertIn("ovs-vswitchd is running with pid %d" % pid,
                      self.sh(OVS_CTL, "status").stdout)

        # ovs-vsctl on its default database, waiting for hsw to apply.
        self.add_bridge_with_hosts()
        ok, out = w.ping("h1", "h2")
        self.assertTrue(ok, out)

        # By name (-t ovs-vswitchd reads the pidfile) and by socket path
        # (the ovn-operator's readiness probe).
        self.assertIn("ovs-vswitchd (Open vSwitch)", self.appctl("version").stdout)
        probe = self.appctl("-t", "/var/run/openvswitch/ovs-vswitchd.%d.ctl" % pid,
                            "ofproto/list").stdout
        self.assertEqual(probe.split(), ["br0"])
        dpif = self.appctl("dpif/show").stdout
        self.assertIn("br0:", dpif)
        for h in w.hosts:
            self.assertRegex(dpif, r"p%d %d/" % (w.index(h), w.index(h)))
        self.assertIn("port", self.appctl("dpctl/show").stdout)
        fdb = self.appctl("fdb/show", "br0").stdout
        self.assertIn(w.mac("h1"), fdb)
        self.assertIn(w.mac("h2"), fdb)
        self.assertIn("actions=NORMAL", self.appctl("bridge/dump-flows", "br0").stdout)
        self.appctl("coverage/show")
        self.assertTrue(self.appctl("memory/show").stdout.strip())

        # Bad input: an error naming it, a non-zero exit, nothing changed.
        bad = self.appctl("no-such/command", check=False)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("no-such/command", bad.stderr)
        bad = self.appctl("fdb/show", "no-such-bridge", check=False)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("no-such-bridge", bad.stderr)
        self.assertEqual(self.appctl("ofproto/list").stdout.split(), ["br0"])

        # Log levels and the log file, as logrotate's postrotate uses them.
        self.appctl("vlog/set", "ovsdb_client:file:dbg")
        self.assertRegex(self.appctl("vlog/list").stdout, r"ovsdb_client\s+\S+\s+\S+\s+DBG")
        bad = self.appctl("vlog/set", "ovsdb_client:file:loud", check=False)
        self.assertNotEqual(bad.returncode, 0)
        log = os.path.join(w.logdir, "ovs-vswitchd.log")
        os.rename(log, log + ".1")
        self.appctl("vlog/reopen")
        self.sh(OVS_VSCTL, "add-br", "br1")
        wait_for(lambda: os.path.exists(log) and os.path.getsize(log) > 0, 10,
                 "a new ovs-vswitchd.log after vlog/reopen")
        self.sh(OVS_VSCTL, "del-br", "br1")

        # ovs-ctl stop: ovs-appctl exit, then the pidfile and socket go.
        # hsw-datapath keeps forwarding what hsw-vswitchd set up.
        self.sh(OVS_CTL, "--no-ovsdb-server", "stop")
        wait_for(lambda: not hswtest.process_alive(pid), 10, "ovs-vswitchd to exit")
        self.assertIsNone(node.pid("ovs-vswitchd"))
        self.assertFalse(os.path.exists(node.path("/run/openvswitch/ovs-vswitchd.%d.ctl" % pid)))
        self.assertNotIn("ovs-vswitchd is running", self.sh(OVS_CTL, "status", check=False).stdout)
        ok, out = w.ping("h1", "h2")
        self.assertTrue(ok, "forwarding stopped with ovs-vswitchd: " + out)

        # And starts again on the same database and datapath.
        self.sh(OVS_CTL, "--no-ovsdb-server", "--no-monitor", "--system-id=random", "start")
        node.track_daemons()
        self.assertEqual(self.appctl("ofproto/list").stdout.split(), ["br0"])
        ok, out = w.ping("h3", "h1")
        self.assertTrue(ok, out)

    def test_a_second_ovs_vswitchd_on_the_node_is_refused_and_changes_nothing(self):
        node = self.node
        node.start_ovsdb_server()
        self.sh(OVS_VSWITCHD, "--pidfile", "--detach", "--log-file")
        node.track_daemons()
        first = node.pid("ovs-vswitchd")
        self.add_bridge_with_hosts()
        second = self.sh(OVS_VSWITCHD, "--pidfile=/var/run/openvswitch/second.pid",
                         "--unixctl=second.ctl", "--log-file=/var/log/openvswitch/second.log",
                         "--detach", check=False, timeout=30)
        self.assertNotEqual(second.returncode, 0)
        self.assertIn("already running (pid %d" % first, second.stderr)
        self.assertEqual(node.pid("ovs-vswitchd"), first)
        self.assertEqual(self.appctl("ofproto/list").stdout.split(), ["br0"])
        ok, out = self.w.ping("h1", "h3")
        self.assertTrue(ok, out)

class TestPodSplitRestart(DropInTestCase):
    """The ovn-operator's split restart (tests/e2e/pod/ovs-node.sh: the
    vswitchd container's preStop hook saves the flows with ovs-save and
    stops it with ovs-ctl, the ovsdb-server container stops, the new pod's
    ovsdb-server and start-vswitchd.sh come up and restore) under traffic
    at 10k pps over 10k rules: hsw in place of ovs-vswitchd loses nothing,
    and every rule is back.  Debian's Open vSwitch runs the same script in
    the same run, on the same veths, as the reference whose loss is printed."""
    N_HOSTS = 2

    def pod(self, node, step, timeout=120):
        return node.run("sh", POD_SCRIPT, step, timeout=timeout)

    def ofctl(self, node, *args, timeout=120):
        return node.run("ovs-ofctl", "-O", "OpenFlow14", *args, timeout=timeout)

    def tables(self, node):
        out = self.ofctl(node, "dump-flows", "--no-stats", "--no-names", "br-int").stdout
        return sorted(l.strip() for l in out.splitlines() if "actions=" in l)

    def bring_up(self, node):
        """A node as OVN finds it: br-int in secure mode on the user-space
        datapath, a port per host, and a table of N_RULES rules."""
        self.pod(node, "init-ovsdb")
        self.pod(node, "start-ovsdb")
        node.track_daemons()
        node.run(OVS_VSCTL, "--no-wait", "init")
        self.pod(node, "start-vswitchd")
        node.track_daemons()
        node.run(OVS_VSCTL, "add-br", "br-int", "--", "set", "bridge", "br-int",
                 "datapath_type=netdev", "fail_mode=secure")
        for h in self.w.hosts:
            i = self.w.index(h)
            node.run(OVS_VSCTL, "add-port", "br-int", "p%d" % i, "--", "set", "interface",
                     "p%d" % i, "ofport_request=%d" % i)
        rules = os.path.join(node.root, "rules.txt")
        with open(rules, "w") as f:
            for port in range(9000, 9000 + N_RULES):
                f.write("priority=100,udp,in_port=1,tp_dst=%d,actions=output:2\n" % port)
        self.ofctl(node, "add-flows", "--bundle", "br-int", rules)
        before = self.tables(node)
        self.assertEqual(len(before), N_RULES)
        return before

    def split_restart_under_traffic(self, node):
        """Returns (receiver report, sender report, seconds the restart took)."""
        rx = self.w.recv("h2", 9000, announce=1000)
        sender = self.w.start_send("h1", "h2", 9000, RATE, 600, "--src-port", "42000")
        rx.wait_received(1000)
        start = time.monotonic()
        steps = []
        for step in ("stop-vswitchd", "stop-ovsdb", "start-ovsdb", "start-vswitchd"):
            t = time.monotonic()
            self.pod(node, step)
            node.track_daemons()
            steps.append("%s %.2f s" % (step, time.monotonic() - t))
        took = time.monotonic() - start
        hswtest.log("split restart steps: " + ", ".join(steps))
        # A second of traffic after the restart: what was lost is lost for
        # good by then, and what was queued has arrived.
        time.sleep(1)
        sent, report = self.end_traffic(sender, rx, "the split restart")
        return report, sent, took

    def test_operator_split_restart_loses_nothing_and_ovs_is_the_reference(self):
        w = self.w
        # hsw in place of ovs-vswitchd.
        before = self.bring_up(self.node)
        report, sent, took = self.split_restart_under_traffic(self.node)
        hsw_line = ("hsw as ovs-vswitchd: split restart took %.2f s; sent %d, received %d, "
                    "lost %d, longest gap %s ms" % (took, sent["sent"], report["received"],
                                                     report["lost"], report.get("max_gap_ms")))
        hswtest.log(hsw_line)
        self.assert_no_loss(report, sent=sent["sent"])
        self.assertEqual(self.tables(self.node), before)
        self.assertEqual(self.node.run(OVS_VSCTL, "get", "open_vswitch", ".",
                                       "other_config").stdout.strip(), "{}")
        self.assertEqual(os.listdir(self.node.path("/var/lib/openvswitch")).count("flows-script"),
                         0, "the saved flows were left behind")

        # Everything of hsw's goes; Debian's Open vSwitch takes the same veths.
        hswtest.kill_namespace_processes(w.sw)
        wait_for(lambda: not hswtest.run(["ip", "netns", "pids", w.sw]).stdout.split(), 10,
                 "hsw's daemons to be gone from the switch namespace")
        # OVS's user-space datapath forwards the partial checksums veths
        # hand it, so the hosts compute theirs (bench/run does the same).
        for h in w.hosts:
            w.ns_exec(h, "ethtool", "-K", "eth0", "tx", "off")
        ovs = ovsdbtest.SystemRoot(w, name="ovs-root")
        before = self.bring_up(ovs)
        report, sent, took = self.split_restart_under_traffic(ovs)
        hswtest.log("Debian's ovs-vswitchd (reference): split restart took %.2f s; sent %d, "
                    "received %d, lost %d, longest gap %s ms" %
                    (took, sent["sent"], report["received"], report["lost"],
                     report.get("max_gap_ms")))
        hswtest.log(hsw_line)
        # The reference is only a reference if it ran: its rules are back
        # and traffic crossed it.
        self.assertEqual(self.tables(ovs), before)
        self.assertGreater(report["received"], 0)


if __name__ == "__main__":
    hswtest.main()
