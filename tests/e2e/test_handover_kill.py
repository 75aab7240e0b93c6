#!/usr/bin/python3
"""kill -9 in the middle of a datapath handover, of either process.

The successor is told to stop itself (SIGSTOP, `--test-stop-at`) at a
chosen point of the handover, so that the kill lands exactly there: after
the snapshot (the old datapath still forwards) or at the switch-over (the
old one has stopped forwarding and sent where it stopped reading).  The
survivor must keep or take over forwarding, and what existed only in the
killed process must be reported lost in the log, never silently."""

import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hswtest  # noqa: E402

RATE = 10000
# A datapath killed while it forwards takes with it the frames it was
# handling: at most a receive batch per port (Datapath::kRxBatch, 32),
# lost or, when it had sent them but not released their ring frames, sent
# twice by the successor.
IN_FLIGHT_BOUND = 2 * 32


def state_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


class HandoverKillTest(hswtest.HswTestCase):

    def setUp(self):
        super().setUp()
        w = self.w
        w.static_arp()
        self.connect_pairs(("h1", "h2"))
        self.rx = w.recv("h2", 9300, announce=500)
        self.sender = w.start_send("h1", "h2", 9300, RATE, 600, "--src-port", "41000")
        self.rx.wait_received(500)

    def stopped_successor(self, stop_at):
        """Starts `hsw-datapath --takeover` in the foreground and returns it
        once it has stopped itself at `stop_at`."""
        w = self.w
        console = open(os.path.join(w.logdir, "successor.console"), "ab")
        self.addCleanup(console.close)
        cmd = w.ns_cmd("sw", [w.bin("hsw-datapath"), "--takeover", "--pidfile", "--log-file",
                              "--test-stop-at", stop_at])
        # `ip netns exec` execs the command: the pid is the datapath's.
        successor = w.track(subprocess.Popen(cmd, stdout=console, stderr=console, env=w.env))
        hswtest.wait_for(lambda: state_of(successor.pid) == "T" or successor.poll() is not None,
                         10, "the successor to stop at the %s" % stop_at)
        self.assertIsNone(successor.poll(), "the successor exited before the %s" % stop_at)
        return successor

    def stop_traffic(self):
        self.sender.send_signal(signal.SIGINT)
        sent = self.sender_report(self.sender)
        report = self.rx.result()
        hswtest.log("traffic: %s" % report)
        self.assertTrue(report["end_seen"], report)
        self.assertEqual(report["sent"], sent["sent"], report)
        return report

    def datapath_log(self):
        with open(os.path.join(self.w.logdir, "hsw-datapath.log")) as f:
            return f.read()

    def kill_old(self, stop_at):
        """kill -9 of the running datapath while its successor waits at
        `stop_at`; returns the successor, which has taken over."""
        w = self.w
        old = w.daemon_pid("hsw-datapath")
        successor = self.stopped_successor(stop_at)
        os.kill(old, signal.SIGKILL)
        hswtest.wait_for(lambda: not hswtest.process_alive(old), 10, "the old datapath to die")
        os.kill(successor.pid, signal.SIGCONT)
        hswtest.wait_for(lambda: w.daemon_pid("hsw-datapath") == successor.pid, 10,
                         "the successor to take the pidfile")
        self.assertIsNone(successor.poll(), "the successor exited:\n" + w.logs())
        log = self.datapath_log()
        self.assertIn("(pid %d) died during the handover" % old, log)
        self.assertIn("Lost with it:", log)
        return successor

    def kill_successor(self, stop_at):
        w = self.w
        old = w.daemon_pid("hsw-datapath")
        successor = self.stopped_successor(stop_at)
        successor.kill()
        successor.wait(10)
        hswtest.wait_for(lambda: "abandoned" in self.datapath_log(), 10,
                         "the running datapath to abandon the handover")
        self.assertTrue(hswtest.process_alive(old))
        self.assertEqual(w.daemon_pid("hsw-datapath"), old)
        return old

    def test_old_datapath_killed_at_the_switch_over(self):
        # It had stopped forwarding and sent all it had, the client
        # connections too, before it waited for the successor's last word:
        # the successor resumes exactly where it stopped, and hsw-vswitchd
        # keeps its connection.
        vswitchd = self.w.daemon_pid("hsw-vswitchd")
        self.kill_old("switchover")
        report = self.stop_traffic()
        self.assertEqual(report["lost"], 0, report)
        self.assertEqual(report["duplicated"], 0, report)
        self.assertIn("Lost with it: nothing (it had sent everything", self.datapath_log())
        self.assert_new_flows_work()
        self.assertEqual(self.w.daemon_pid("hsw-vswitchd"), vswitchd)

    def test_old_datapath_killed_while_it_forwards(self):
        # Killed mid-batch: the successor finds where reading resumes in the
        # rings; only what the dead process held can be lost or doubled.
        self.kill_old("snapshot")
        report = self.stop_traffic()
        self.assertLessEqual(report["lost"] + report["duplicated"], IN_FLIGHT_BOUND, report)
        log = self.datapath_log()
        self.assertIn("where it stopped reading each ring", log)
        self.assertIn("reading resumes at ring frame", log)
        self.assert_new_flows_work()

    def test_successor_killed_after_the_snapshot(self):
        self.kill_successor("snapshot")
        report = self.stop_traffic()
        self.assertEqual(report["lost"], 0, report)
        self.assertEqual(report["duplicated"], 0, report)
        self.assert_new_flows_work()

    def test_successor_killed_at_the_switch_over(self):
        # The old datapath had stopped forwarding, and resumes.
        self.kill_successor("switchover")
        report = self.stop_traffic()
        self.assertEqual(report["lost"], 0, report)
        self.assertEqual(report["duplicated"], 0, report)
        self.assert_new_flows_work()

    def vswitchd_log(self):
        with open(os.path.join(self.w.logdir, "hsw-vswitchd.log")) as f:
            return f.read()

    def test_old_datapath_killed_before_it_handed_anything_over(self):
        # The window between accepting a successor and sending it the ports
        # (microseconds) is hit with a datapath that kills itself there.  The
        # successor has nothing to take over and starts afresh: hsw-vswitchd
        # reconnects and adds the ports again, flows come back as they miss.
        w = self.w
        w.stop_daemon("hsw-datapath")
        w.start_daemon("hsw-datapath", ["--test-die-after-accepting"])
        doomed = w.daemon_pid("hsw-datapath")
        hswtest.wait_for(lambda: "reconnected to hsw-datapath pid %d " % doomed in
                         self.vswitchd_log(), 30, "hsw-vswitchd to reconnect to pid %d" % doomed)
        w.start_daemon("hsw-datapath", ["--takeover"])
        hswtest.wait_for(lambda: w.daemon_pid("hsw-datapath") not in (None, doomed), 10,
                         "the successor to take the pidfile")
        successor = w.daemon_pid("hsw-datapath")
        self.assertFalse(hswtest.process_alive(doomed))
        log = self.datapath_log()
        self.assertIn("died before it handed over its ports", log)
        self.assertIn("starting afresh instead", log)
        hswtest.wait_for(lambda: "reconnected to hsw-datapath pid %d " % successor in
                         self.vswitchd_log(), 30, "hsw-vswitchd to reconnect to the successor")
        self.assert_new_flows_work()
        # The established flow came back too (its packets in between are lost).
        report = self.stop_traffic()
        self.assertGreater(report["received"], 500, report)


if __name__ == "__main__":
    hswtest.main()
