#!/usr/bin/python3
"""hsw-datapath goes away and comes back; hsw-vswitchd stays.

kill -9 of hsw-datapath under traffic, then a new hsw-datapath: the same
hsw-vswitchd process reconnects, re-adds the ports the new datapath lacks,
and forwards established and new 5-tuples again, including through a rule
added with ovs-ofctl while the datapath was down.  Traffic is lost while no
datapath runs; only the recovery is asserted.  A hot handover keeps the
connection but changes the process behind it: hsw-vswitchd notices and
reconciles; an old datapath killed in the middle of a handover leaves the
successor, to which hsw-vswitchd reconnects.  And a datapath that does not come back within
--datapath-reconnect-timeout makes hsw-vswitchd exit with status 1."""

import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hswtest  # noqa: E402

RECONNECTED = re.compile(r"reconnected to hsw-datapath pid (\d+) \(version (\S+)\): "
                         r"(\d+) ports \((\d+) re-added\), (\d+) flows \((\d+) adopted, "
                         r"(\d+) forgotten\)")
CHANGED = re.compile(r"hsw-datapath changed: pid (\d+) \(version (\S+)\) → pid (\d+) "
                     r"\(version (\S+)\)")
RECONCILED = re.compile(r"reconciled with hsw-datapath pid (\d+): (\d+) ports \((\d+) "
                        r"re-added\), (\d+) flows \((\d+) adopted, (\d+) forgotten\)")


class DatapathReconnectTest(hswtest.HswTestCase):

    def vswitchd_log(self):
        with open(os.path.join(self.w.logdir, "hsw-vswitchd.log"), errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, timeout, what):
        """Waits for a line matching `pattern` (a compiled regex or a plain
        string) in hsw-vswitchd's log; returns the match."""
        found = []

        def seen():
            text = self.vswitchd_log()
            m = pattern.search(text) if hasattr(pattern, "search") else (
                pattern if pattern in text else None)
            if m:
                found.append(m)
            return bool(m)
        hswtest.wait_for(seen, timeout, "hsw-vswitchd to log " + what, interval=0.05)
        return found[0]

    def assert_forwards(self, src, dst, port, src_port):
        """One 5-tuple from `src` to `dst` gets through, every packet."""
        rx = self.w.recv(dst, port)
        sent = self.w.send(src, dst, port, 1000, 0.3, "--src-port", str(src_port))
        self.assert_no_loss(rx.result(), sent=sent["sent"])

    def forwarding_h1_h2(self):
        """h1 <-> h2 connected and a datapath flow for one 5-tuple; returns
        the pids of hsw-vswitchd and hsw-datapath."""
        w = self.w
        w.static_arp()
        self.connect_pairs(("h1", "h2"))
        self.assert_forwards("h1", "h2", 9200, 40000)
        return w.daemon_pid("hsw-vswitchd"), w.daemon_pid("hsw-datapath")

    def assert_same_vswitchd(self, pid):
        self.assertEqual(self.w.daemon_pid("hsw-vswitchd"), pid)
        self.assertTrue(hswtest.process_alive(pid), "hsw-vswitchd exited:\n" + self.w.logs())

    def test_datapath_killed_and_restarted_under_traffic(self):
        w = self.w
        w.static_arp()
        self.connect_pairs(("h1", "h2"))
        vswitchd = w.daemon_pid("hsw-vswitchd")
        old_datapath = w.daemon_pid("hsw-datapath")

        # Traffic on one 5-tuple across the datapath's death and rebirth.
        rx = w.recv("h2", 9200, announce=500)
        sender = w.start_send("h1", "h2", 9200, 1000, 6.0, "--src-port", "40000")
        rx.wait_received(500)
        w.stop_daemon("hsw-datapath", signal.SIGKILL)
        self.wait_log("lost the connection to hsw-datapath", 10, "the loss")
        self.assert_same_vswitchd(vswitchd)

        # OpenFlow is still served: a rule (h1 -> h3, UDP 9400) goes into the
        # tables now and reaches the datapath once there is one.
        w.ofctl("add-flow", "priority=40000,in_port=1,udp,tp_dst=9400,actions=output:3")
        self.assertIn("tp_dst=9400", w.ofctl("dump-flows").stdout)

        w.start_daemon("hsw-datapath")
        new_datapath = w.daemon_pid("hsw-datapath")
        self.assertNotEqual(new_datapath, old_datapath)
        m = self.wait_log(RECONNECTED, 10, "the reconnection")
        hswtest.log("hsw-vswitchd: %s" % m.group(0))
        self.assertEqual(int(m.group(1)), new_datapath)
        # A datapath started from scratch: every port re-added, no flow to adopt.
        self.assertEqual((int(m.group(3)), int(m.group(4))), (3, 3), m.group(0))
        self.assertEqual(int(m.group(6)), 0, m.group(0))
        self.assert_same_vswitchd(vswitchd)
        dp = w.ctl("dp-show").stdout
        for port in ("p1", "p2", "p3"):
            self.assertIn(port, dp)

        # The 5-tuple that was established before the kill forwards again:
        # the sender's end markers, sent after the restart, arrive.
        report = rx.result()
        sent = self.sender_report(sender)
        hswtest.log("across the datapath's restart: %s" % report)
        self.assertTrue(report["end_seen"], report)
        self.assertGreater(report["received"], 500, report)
        self.assertEqual(report["sent"], sent["sent"], report)
        # And again with nothing lost, now that the datapath is back.
        self.assert_forwards("h1", "h2", 9200, 40000)
        # A new 5-tuple (a miss, a new datapath flow).
        self.assert_forwards("h1", "h2", 9201, 41000)
        # The rule added while the datapath was down.
        self.assert_forwards("h1", "h3", 9400, 42000)

        show = w.ctl("show").stdout
        self.assertIn("datapath_reconnects", show)
        self.assert_same_vswitchd(vswitchd)

    def test_old_datapath_killed_mid_handover(self):
        """The successor has the ports and the flows of the snapshot, but
        the client connections were still the old process's: hsw-vswitchd
        loses its connection and reconnects to the successor, which holds
        datapath.sock by then."""
        w = self.w
        vswitchd, old = self.forwarding_h1_h2()

        # The successor stops itself (SIGSTOP) once the snapshot is in, so
        # that the kill lands there; it says so in the log just before.
        console = open(os.path.join(w.logdir, "successor.console"), "ab")
        self.addCleanup(console.close)
        cmd = w.ns_cmd("sw", [w.bin("hsw-datapath"), "--takeover", "--pidfile", "--log-file",
                              "--test-stop-at", "snapshot"])
        successor = w.track(subprocess.Popen(cmd, stdout=console, stderr=console, env=w.env))
        datapath_log = os.path.join(w.logdir, "hsw-datapath.log")

        def stopped():
            with open(datapath_log, errors="replace") as f:
                return "stopping (SIGSTOP) at the snapshot" in f.read()
        hswtest.wait_for(lambda: stopped() or successor.poll() is not None, 10,
                         "the successor to stop")
        self.assertIsNone(successor.poll(), "the successor exited:\n" + w.logs())
        os.kill(old, signal.SIGKILL)
        hswtest.wait_for(lambda: not hswtest.process_alive(old), 10, "the old datapath to die")
        os.kill(successor.pid, signal.SIGCONT)

        m = self.wait_log(RECONNECTED, 15, "the reconnection to the successor")
        hswtest.log("hsw-vswitchd: %s" % m.group(0))
        self.assertEqual(int(m.group(1)), successor.pid)
        # Ports came with the handover; flows with the snapshot.
        self.assertEqual((int(m.group(3)), int(m.group(4))), (3, 0), m.group(0))
        self.assertGreater(int(m.group(5)), 0, m.group(0))
        self.assert_same_vswitchd(vswitchd)
        self.assert_forwards("h1", "h2", 9200, 40000)
        self.assert_new_flows_work()

    def test_hot_handover_is_noticed_and_reconciled(self):
        """The successor gets hsw-vswitchd's connection itself; the stats
        pull finds a new instance behind it."""
        w = self.w
        vswitchd, old = self.forwarding_h1_h2()

        w.start_daemon("hsw-datapath", ["--takeover"], binary="hsw-datapath-next")
        hswtest.wait_for(lambda: not hswtest.process_alive(old), 10, "the old datapath to exit")
        new = w.daemon_pid("hsw-datapath")
        m = self.wait_log(CHANGED, 10, "the new datapath")
        hswtest.log("hsw-vswitchd: %s" % m.group(0))
        self.assertEqual((int(m.group(1)), int(m.group(3))), (old, new), m.group(0))
        self.assertNotEqual(m.group(2), m.group(4), "the versions of the two binaries")
        self.assertTrue(m.group(4).endswith("+next"), m.group(0))
        r = self.wait_log(RECONCILED, 10, "the reconciliation")
        hswtest.log("hsw-vswitchd: %s" % r.group(0))
        # The successor holds what its predecessor held: nothing to re-add,
        # adopt or forget.
        self.assertEqual(int(r.group(1)), new)
        self.assertEqual([int(g) for g in r.group(2, 3, 5, 6)], [3, 0, 0, 0], r.group(0))
        self.assertNotIn("lost the connection", self.vswitchd_log())
        self.assert_same_vswitchd(vswitchd)
        self.assert_new_flows_work()

    def test_no_datapath_within_the_timeout_is_an_exit(self):
        w = self.w
        w.stop_daemon("hsw-vswitchd")
        w.start_daemon("hsw-vswitchd", ["--datapath-reconnect-timeout", "1"])
        w.stop_daemon("hsw-datapath", signal.SIGKILL)
        lock = os.path.join(w.rundir, "hsw-vswitchd.lock")
        # Free once hsw-vswitchd has exited: about a second after the loss.
        p = subprocess.run(["flock", "--shared", "--wait", "10", lock, "true"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, "hsw-vswitchd still runs:\n" + w.logs())
        log = self.vswitchd_log()
        self.assertIn("lost the connection to hsw-datapath", log)
        self.assertIn("exiting with status 1", log)
        self.assertIn("hsw-vswitchd exiting (status 1)", log)


if __name__ == "__main__":
    hswtest.main()
