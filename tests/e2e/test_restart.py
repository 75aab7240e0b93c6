#!/usr/bin/python3
"""Hitless restart of hsw-vswitchd, as an operator runs it: `hsw-ctl restart`,
and the same steps split over a pod's two containers (stop hook with
--save-flows, start with --restore-flows, the other container's
wait-stopped).  Packets are counted by sequence number with hsw-traffic."""

import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hswtest  # noqa: E402

N_RULES = 10000
RESTARTS = 20


def filler_rules(n):
    """n rules that never match the test traffic (it goes to UDP port 9300)."""
    return ["table=0,priority=5,udp,tp_dst=%d,actions=drop" % (20000 + i) for i in range(n)]


class RestartTest(hswtest.HswTestCase):

    def install_rules(self, extra=()):
        """h1 <-> h2 forwarding, `extra`, and filler up to N_RULES rules;
        returns the table as dump-flows --no-stats would print it."""
        w = self.w
        path = os.path.join(w.tmp, "rules.flows")
        rules = ["in_port=1,actions=output:2", "in_port=2,actions=output:1"] + list(extra)
        rules += filler_rules(N_RULES - len(rules))
        with open(path, "w") as f:
            f.write("\n".join(rules) + "\n")
        w.ctl("add-flows", "br0", path)
        return self.tables()

    def tables(self):
        """The rules without their counters, to compare before and after."""
        lines = []
        for line in self.w.dump_flows():
            fields = [f for f in line.replace(", ", ",").split(",")
                      if not f.split("=")[0].strip() in ("duration", "n_packets", "n_bytes")]
            lines.append(",".join(fields))
        return sorted(lines)

    def test_twenty_restarts_under_traffic_lose_nothing(self):
        w = self.w
        w.static_arp()
        before = self.install_rules()
        self.assertEqual(len(before), N_RULES)

        rx = w.recv("h2", 9300, announce=1000)
        # Long enough for every restart; stopped with SIGINT once they are
        # done (hsw-traffic then sends its end markers).
        sender = w.start_send("h1", "h2", 9300, 10000, 600, "--src-port", "41000")
        rx.wait_received(1000)
        dp_before = w.ctl("dp-dump-flows").stdout

        times = []
        for i in range(RESTARTS):
            start = time.monotonic()
            out = w.ctl_console("restart")
            times.append(time.monotonic() - start)
            self.assertIn("flow-restore-wait cleared", out)
            self.assertIsNone(sender.poll(), "the sender stopped during restart %d" % i)
        sender.send_signal(signal.SIGINT)
        sent = self.sender_report(sender)
        report = rx.result()
        hswtest.log("%d restarts with %d rules at 10k pps: sent %d, received %d, lost %d, "
                    "duplicated %d, longest gap %s ms; restart took %.2f-%.2f s (median %.2f)" %
                    (RESTARTS, N_RULES, sent["sent"], report["received"], report["lost"],
                     report["duplicated"], report.get("max_gap_ms"), min(times), max(times),
                     sorted(times)[len(times) // 2]))
        self.assert_no_loss(report, sent=sent["sent"])
        self.assertEqual(self.tables(), before)
        # The established flow's megaflow was never flushed: the same key is
        # still there, its counter carried on from before the restarts.
        before_flows = hswtest.packets_by_flow(dp_before)
        self.assertTrue(before_flows, dp_before)
        after_flows = hswtest.packets_by_flow(w.ctl("dp-dump-flows").stdout)
        for flow, packets in before_flows.items():
            self.assertIn(flow, after_flows)
            # A flow deleted and re-installed would have started again from 0.
            self.assertGreaterEqual(after_flows[flow], packets, flow)
        self.assertFalse(os.path.exists(os.path.join(w.statedir, "restart-flows")),
                         "restart left its save behind")

    def test_restarts_lose_no_upcall_with_a_new_5_tuple_per_packet(self):
        """Every packet is a miss (a new source port each, and a rule that
        makes megaflows exact on it), so at every restart some upcalls are on
        their way to hsw-vswitchd when it is told to stop: delivered by the
        datapath, not yet handled.  A graceful stop must handle them all."""
        w = self.w
        w.static_arp()
        # Consulting tp_src makes every megaflow exact on the source port; the
        # rule itself never matches.  The filler rules make hsw-vswitchd's
        # exit take a while, as a real table does: an owner that is still
        # connected while it tears down keeps being sent upcalls.
        self.install_rules(["priority=40000,udp,tp_src=1,actions=drop"])
        # Enough 5-tuples that the sender never wraps round, even when 20
        # restarts take long (an ASan build on a loaded machine: 17 s).
        n_flows = 12000
        rate = 300
        rx = w.recv("h2", 9350, announce=50)
        sender = w.start_send("h1", "h2", 9350, rate, 600, "--one-socket", "--flows",
                              str(n_flows), "--src-port", "20000")
        rx.wait_received(50)
        for i in range(RESTARTS):
            out = w.ctl_console("restart")
            self.assertIn("flow-restore-wait cleared", out)
            self.assertIsNone(sender.poll(), "the sender stopped during restart %d" % i)
        # Before the end markers, a burst of one per flow.
        dp = w.ctl("dp-show").stdout
        sender.send_signal(signal.SIGINT)
        sent = self.sender_report(sender)
        # Each source port once: the run must not wrap around to 5-tuples
        # that already have a megaflow.
        self.assertLess(sent["sent"], n_flows, sent)
        report = rx.result()
        hswtest.log("%d restarts, a new 5-tuple per packet at %d pps: sent %d, received %d, "
                    "lost %d, duplicated %d; datapath: %s" %
                    (RESTARTS, rate, sent["sent"], report["received"], report["lost"],
                     report["duplicated"],
                     " ".join(l.strip() for l in dp.splitlines() if "miss_queue" in l
                              or "upcalls_sent" in l)))
        self.assertRegex(dp, r"miss_queue_dropped_packets:\s+0\b")
        report.pop("per_flow", None)  # one entry per source port: too long for a message
        self.assert_no_loss(report, sent=sent["sent"])
        self.assertIn("upcalls paused after", w.logs(tail=10000))

    def test_new_flow_during_restart_is_delivered_after_it(self):
        w = self.w
        w.static_arp()
        self.connect_pairs(("h1", "h3"))
        save = os.path.join(w.tmp, "saved")
        out = w.ctl("stop", "--save-flows", save).stdout
        self.assertIn("saved", out)
        # A 5-tuple the datapath has never seen, while hsw-vswitchd is down:
        # every packet misses and waits in the datapath's queue.
        rx = w.recv("h3", 9400)
        sent = w.send("h1", "h3", 9400, 1000, 0.5, "--src-port", "42000")
        out = w.ctl_console("start", "--restore-flows", save)
        self.assertIn("flow-restore-wait cleared", out)
        report = rx.result()
        hswtest.log("new flow during the restart: %s" % report)
        self.assert_no_loss(report, sent=sent["sent"])
        dp = w.ctl("dp-show").stdout
        self.assertRegex(dp, r"miss_queue_dropped_packets:\s+0\b")
        self.assertFalse(os.path.exists(save))

    def test_misses_beyond_the_queue_limit_are_counted(self):
        w = self.w
        # A datapath whose queue holds only 100 misses.
        w.stop_daemon("hsw-vswitchd")
        w.stop_daemon("hsw-datapath")
        w.start_daemon("hsw-datapath", ["--miss-queue-packets", "100"])
        w.start_daemon("hsw-vswitchd")
        w.static_arp()
        self.connect_pairs(("h1", "h3"))
        w.ctl("stop")
        rx = w.recv("h3", 9500, announce=100)
        sent = w.send("h1", "h3", 9500, 1000, 0.5, "--src-port", "43000", "--end-repeats", "3")
        on_the_wire = sent["sent"] + 3
        w.ctl_console("start")
        dp = w.ctl("dp-show").stdout
        dropped = int(hswtest.re.search(r"miss_queue_dropped_packets:\s+(\d+)", dp).group(1))
        # Tail drop: the first 100 waited and were delivered, the rest
        # (including the end markers) were dropped and counted.
        self.assertEqual(dropped, on_the_wire - 100, dp)
        rx.wait_received(100)
        report = rx.stop()
        self.assertEqual(report["received"], 100, report)
        self.assertIn("dropped by the limits", w.logs())

    def test_kill_9_then_start_brings_the_tables_back_from_the_journal(self):
        w = self.w
        w.static_arp()
        before = self.install_rules()
        rx = w.recv("h2", 9600, announce=1000)
        sender = w.start_send("h1", "h2", 9600, 5000, 600, "--src-port", "44000")
        rx.wait_received(1000)
        w.stop_daemon("hsw-vswitchd", signal.SIGKILL)
        out = w.ctl_console("start")
        self.assertIn("started hsw-vswitchd", out)
        self.assertEqual(self.tables(), before)
        sender.send_signal(signal.SIGINT)
        sent = self.sender_report(sender)
        self.assert_no_loss(rx.result(), sent=sent["sent"])

    def test_controller_writes_are_refused_during_flow_restore_wait(self):
        w = self.w
        # A remote listener (what a controller connects to) and the
        # management socket (where ovs-save's restore script connects).
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        w.ctl("set-controller", "br0", "ptcp:%d:127.0.0.1" % port)
        remote = ["-O", "OpenFlow13", "add-flow", "tcp:127.0.0.1:%d" % port]

        def remote_add(flow):
            return hswtest.run(w.ns_cmd("sw", [hswtest.OVS_OFCTL] + remote + [flow]),
                               check=False)

        hswtest.wait_for(lambda: remote_add("priority=1,actions=drop").returncode == 0, 10,
                         "the ptcp: listener")
        w.ctl("set", "flow-restore-wait=true")
        p = remote_add("priority=7,actions=drop")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("OFPFMFC_EPERM", p.stderr)
        self.assertIn("flow-restore-wait", w.logs())
        self.assertEqual(len(w.dump_flows()), 1)
        # The restore's writes go through: hsw-ctl's and the management socket's.
        w.ctl("add-flow", "br0", "priority=8,actions=drop")
        w.ofctl("add-flow", "priority=9,actions=drop")
        w.ctl("set", "flow-restore-wait=false")
        self.assertEqual(remote_add("priority=7,actions=drop").returncode, 0)
        self.assertEqual(len(w.dump_flows()), 4)

    def test_corrupt_save_is_refused_and_changes_nothing(self):
        w = self.w
        self.connect_pairs(("h1", "h2"))
        save = os.path.join(w.tmp, "saved")
        w.ctl("save-flows", save)
        self.add_flow("priority=9,actions=drop")
        before = self.tables()
        flows = os.path.join(save, "br0.flows")
        with open(flows, "r+") as f:
            f.truncate(os.path.getsize(flows) - 5)
        p = w.ctl("restore-flows", save, check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("br0.flows", p.stderr)
        self.assertEqual(self.tables(), before)
        with open(os.path.join(save, "manifest.json"), "w") as f:
            f.write("{not json")
        p = w.ctl("restore-flows", save, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("manifest.json", p.stderr)
        self.assertEqual(self.tables(), before)

    # -- the pod split ------------------------------------------------------
    def test_pod_hooks_in_order(self):
        """vswitchd container's stop hook, then the datapath container's."""
        w = self.w
        self.connect_pairs(("h1", "h2"))
        save = os.path.join(w.tmp, "volume", "saved-flows")
        os.makedirs(os.path.dirname(save))
        w.ctl("stop", "--save-flows", save)
        p = w.ctl("wait-stopped", "--timeout", "10")
        self.assertIn("not running", p.stdout)
        out = w.ctl_console("start", "--restore-flows", save)
        self.assertIn("restored 2 flows", out)
        self.assertEqual(len(w.dump_flows()), 2)
        self.assertEqual(os.listdir(os.path.dirname(save)), [], "no save or marker left behind")

    def test_pod_hooks_out_of_order(self):
        """The datapath container's stop hook starts first and waits for
        hsw-vswitchd to be gone; it returns as soon as the stop hook is done."""
        w = self.w
        waiter = w.track(subprocess.Popen(
            w.ns_cmd("sw", [w.bin("hsw-ctl"), "wait-stopped", "--timeout", "60"]),
            env=w.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        # It says so before it blocks on hsw-vswitchd's lock.
        self.assertTrue(hswtest.read_line_matching(waiter.stdout, "waiting", 10))
        self.assertIsNone(waiter.poll(), "wait-stopped returned while hsw-vswitchd runs")
        w.ctl("stop", "--save-flows", os.path.join(w.tmp, "saved"))
        out, err = waiter.communicate(timeout=30)
        self.assertEqual(waiter.returncode, 0, err)
        self.assertIn("stopped", out)

    def test_pod_first_container_killed(self):
        """kill -9 instead of a stop hook: the waiter returns at once (the
        lock dies with the process; no zombie or stale file matters), and a
        start with no save uses the journal and says so."""
        w = self.w
        self.connect_pairs(("h1", "h2"))
        before = self.tables()
        waiter = w.track(subprocess.Popen(
            w.ns_cmd("sw", [w.bin("hsw-ctl"), "wait-stopped", "--timeout", "60"]),
            env=w.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        # It says so before it blocks on hsw-vswitchd's lock.
        self.assertTrue(hswtest.read_line_matching(waiter.stdout, "waiting", 10))
        w.kill_daemon("hsw-vswitchd", signal.SIGKILL)
        out, err = waiter.communicate(timeout=30)
        self.assertEqual(waiter.returncode, 0, err)
        out = w.ctl_console("start", "--restore-flows", os.path.join(w.tmp, "never-saved"))
        self.assertIn("no saved flows", out)
        self.assertEqual(self.tables(), before)

    def test_wait_stopped_times_out_without_hanging(self):
        w = self.w
        # A hang guard, not a speed check: a wait-stopped that ignored its
        # timeout would run into run()'s and fail the test.
        p = w.ctl("wait-stopped", "--timeout", "1", check=False, timeout=20)
        self.assertEqual(p.returncode, 1)
        self.assertIn("still running", p.stderr)

    def test_stale_save_is_not_restored_over_a_newer_journal(self):
        w = self.w
        self.connect_pairs(("h1", "h2"))
        save = os.path.join(w.tmp, "saved")
        w.ctl("save-flows", save)
        self.add_flow("priority=9,actions=drop")  # after the save: only in the journal
        before = self.tables()
        w.stop_daemon("hsw-vswitchd", signal.SIGKILL)
        out = w.ctl_console("start", "--restore-flows", save)
        self.assertIn("stale", out)
        self.assertEqual(self.tables(), before)
        self.assertFalse(os.path.exists(save))

    def test_detached_daemon_keeps_logging_to_the_parents_stdout(self):
        w = self.w
        w.stop_daemon("hsw-vswitchd")
        p = w.track(subprocess.Popen(
            w.ns_cmd("sw", [w.bin("hsw-vswitchd"), "--detach", "--pidfile"]),
            env=w.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        # The parent exits once the daemon is ready...
        self.assertEqual(p.wait(timeout=30), 0)
        self.assertTrue(hswtest.read_line_matching(p.stdout, b"hsw-vswitchd ready", 10))
        # ...and the daemon's later lines still come down the same pipe.
        w.ctl("add-br", "br9")
        self.assertTrue(hswtest.read_line_matching(p.stdout, b"added bridge br9", 10))


if __name__ == "__main__":
    hswtest.main()
