#!/usr/bin/python3
"""Datapath handover: `hsw-datapath --takeover` takes the ports, flows,
queued upcalls and connections of the running hsw-datapath while traffic
flows, and the old process exits.  Packets are counted by sequence number
with hsw-traffic; flow statistics must carry on, hsw-vswitchd must go on
installing flows through the connection it had."""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hswtest  # noqa: E402

N_RULES = 10000
HANDOVERS = 20


def gone(pid):
    """True once `pid` has exited (a zombie counts: it forwards nothing)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


class HandoverTest(hswtest.HswTestCase):

    def install_rules(self):
        w = self.w
        path = os.path.join(w.tmp, "rules.flows")
        rules = ["in_port=1,actions=output:2", "in_port=2,actions=output:1"]
        rules += ["table=0,priority=5,udp,tp_dst=%d,actions=drop" % (20000 + i)
                  for i in range(N_RULES - len(rules))]
        with open(path, "w") as f:
            f.write("\n".join(rules) + "\n")
        w.ctl("add-flows", "br0", path)

    def takeover(self, *extra, check=True):
        """Runs a successor; returns (its CompletedProcess, the predecessor's
        pid).  When it succeeded, the predecessor has exited and the pidfile
        names the successor."""
        w = self.w
        old = w.daemon_pid("hsw-datapath")
        p = w.start_daemon("hsw-datapath", ["--takeover"] + list(extra), check=check)
        if p.returncode == 0:
            hswtest.wait_for(lambda: gone(old), 10, "the old datapath (pid %d) to exit" % old)
            hswtest.wait_for(lambda: w.daemon_pid("hsw-datapath") not in (None, old), 10,
                             "the successor to take the pidfile")
        return p, old

    def assert_new_flows_work(self):
        """hsw-vswitchd still programs the datapath: a new rule, and a 5-tuple
        that needs a new datapath flow, get through."""
        w = self.w
        self.add_flow("priority=40000,in_port=1,udp,tp_dst=9400,actions=output:3")
        rx = w.recv("h3", 9400)
        sent = w.send("h1", "h3", 9400, 1000, 0.3, "--src-port", "42000")
        self.assert_no_loss(rx.result(), sent=sent["sent"])

    def test_twenty_handovers_under_traffic_lose_nothing(self):
        w = self.w
        w.static_arp()
        self.install_rules()
        rx, sender = self.traffic(announce=1000, rate=10000)
        before = hswtest.packets_by_flow(w.ctl("dp-dump-flows").stdout)
        self.assertTrue(before)

        pids = []
        for i in range(HANDOVERS):
            p, old = self.takeover()
            new = w.daemon_pid("hsw-datapath")
            self.assertNotEqual(new, old, p.stderr)
            pids.append(new)
            self.assertIsNone(sender.poll(), "the sender stopped during handover %d" % i)
        report = self.finish(rx, sender)
        hswtest.log("%d handovers with %d rules at 10k pps: sent %d, received %d, lost %d, "
                    "duplicated %d, longest gap %s ms" %
                    (HANDOVERS, N_RULES, report["sent"], report["received"], report["lost"],
                     report["duplicated"], report.get("max_gap_ms")))
        self.assertEqual(len(set(pids)), HANDOVERS)

        # The megaflows came across with their counters: none restarted from 0.
        after = hswtest.packets_by_flow(w.ctl("dp-dump-flows").stdout)
        for flow, packets in before.items():
            self.assertIn(flow, after)
            self.assertGreater(after[flow], packets, flow)
        # hsw-vswitchd kept its connection (it was handed over too): a new
        # rule still reaches the datapath and new 5-tuples are set up.
        dp_show = w.ctl("dp-show").stdout
        self.assertRegex(dp_show, r"owner_connected:\s+1\b")
        self.assertIn("(pid %d," % pids[-1], dp_show)
        self.assert_new_flows_work()

    def test_incompatible_successor_is_refused_and_traffic_goes_on(self):
        w = self.w
        w.static_arp()
        self.connect_pairs(("h1", "h2"))
        rx, sender = self.traffic()
        running = w.daemon_pid("hsw-datapath")
        p, _ = self.takeover("--claim-handover-version", "99", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("no common handover version", p.stderr)
        self.assertIn("speaks 1..1", p.stderr)
        self.assertFalse(gone(running))
        self.assertEqual(w.daemon_pid("hsw-datapath"), running)
        self.finish(rx, sender)
        with open(os.path.join(w.logdir, "hsw-datapath.log")) as f:
            self.assertIn("refused: no common handover version", f.read())

    def test_successor_that_dies_midway_leaves_the_datapath_running(self):
        w = self.w
        w.static_arp()
        self.install_rules()
        rx, sender = self.traffic()
        running = w.daemon_pid("hsw-datapath")
        p, _ = self.takeover("--test-exit-after-snapshot", check=False)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        self.assertFalse(gone(running))
        # The running datapath noticed, thawed, and serves its clients again.
        self.assert_new_flows_work()
        self.finish(rx, sender)
        with open(os.path.join(w.logdir, "hsw-datapath.log")) as f:
            self.assertIn("abandoned", f.read())
        # And a later handover still works.
        p, _ = self.takeover()
        self.assertEqual(p.returncode, 0)
        self.assertTrue(gone(running))

    def script(self, name, body):
        path = os.path.join(self.w.tmp, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body + "\n")
        os.chmod(path, 0o755)
        return path

    def test_upgrade_check_says_what_is_incompatible_and_changes_nothing(self):
        w = self.w
        self.connect_pairs(("h1", "h2"))
        running = w.daemon_pid("hsw-datapath")
        ok = w.ctl("upgrade-check", "--datapath", w.bin("hsw-datapath"), "--vswitchd",
                   w.bin("hsw-vswitchd"))
        self.assertIn("upgrade possible", ok.stdout)
        self.assertIn("ok: the running datapath would hand over", ok.stdout)
        self.assertIn("hsw-vswitchd (datapath protocol", ok.stdout)

        # A new datapath built to claim another handover stream version.
        claims_99 = self.script("hsw-datapath-99", 'exec %s --claim-handover-version 99 "$@"'
                                % w.bin("hsw-datapath"))
        bad = w.ctl("upgrade-check", "--datapath", claims_99, check=False)
        self.assertEqual(bad.returncode, 1, bad.stdout + bad.stderr)
        self.assertIn("INCOMPATIBLE: the running datapath would refuse the handover: no common "
                      "handover version", bad.stdout)
        self.assertIn("upgrade NOT possible", bad.stdout)

        # A new hsw-vswitchd that reads only a journal format from the future.
        future = self.script("hsw-vswitchd-future", "echo '%s'" % hswtest.json.dumps(
            {"program": "hsw-vswitchd", "version": "9.0.0", "flow_key_size": 96,
             "accepts": {"dpif": {"min": 1, "max": 9}, "journal": {"min": 2, "max": 2},
                         "config": {"min": 1, "max": 1}}}))
        bad = w.ctl("upgrade-check", "--vswitchd", future, check=False)
        self.assertEqual(bad.returncode, 1, bad.stdout + bad.stderr)
        self.assertRegex(bad.stdout, r"INCOMPATIBLE: .*flows.journal is format 1; the new "
                                     r"hsw-vswitchd reads 2..2")

        # Not an hsw binary at all.
        bad = w.ctl("upgrade-check", "--datapath", "/bin/true", check=False)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("/bin/true --version --json", bad.stderr)

        # Nothing was touched.
        self.assertEqual(w.daemon_pid("hsw-datapath"), running)
        self.assertFalse(gone(running))

    def ctl_spawning(self, *args):
        """hsw-ctl for a command that starts a daemon (upgrade, rollback): the
        daemon keeps hsw-ctl's stdout and stderr, so they go to a file rather
        than a pipe.  Returns (exit status, what it printed)."""
        w = self.w
        path = os.path.join(w.logdir, "hsw-ctl-upgrade.console")
        with open(path, "ab") as console:
            offset = console.tell()
            p = hswtest.subprocess.run(w.ns_cmd("sw", [w.bin("hsw-ctl")] + list(args)),
                                       stdout=console, stderr=console, env=w.env, timeout=120)
        with open(path, "rb") as f:
            f.seek(offset)
            out = f.read().decode(errors="replace")
        hswtest.log("hsw-ctl %s (exit %d):\n%s" % (" ".join(args), p.returncode, out))
        return p.returncode, out

    def traffic(self, announce=500, rate=5000):
        """h1 -> h2 at `rate`, flowing once this returns; stop with finish()."""
        w = self.w
        rx = w.recv("h2", 9300, announce=announce)
        sender = w.start_send("h1", "h2", 9300, rate, 600, "--src-port", "41000")
        rx.wait_received(announce)
        return rx, sender

    def finish(self, rx, sender):
        sender.send_signal(signal.SIGINT)
        sent = self.sender_report(sender)
        report = rx.result()
        self.assert_no_loss(report, sent=sent["sent"])
        return report

    def test_upgrade_and_rollback_under_traffic(self):
        w = self.w
        w.static_arp()
        self.install_rules()
        rx, sender = self.traffic()
        first = w.daemon_pid("hsw-datapath")
        code, up = self.ctl_spawning("upgrade", "--datapath", w.bin("hsw-datapath"))
        self.assertEqual(code, 0, up)
        self.assertIn("upgrade possible", up)
        self.assertIn("passed the health check", up)
        hswtest.wait_for(lambda: gone(first), 10, "the old datapath to exit")
        hswtest.wait_for(lambda: w.daemon_pid("hsw-datapath") not in (None, first), 10,
                         "the new datapath's pidfile")
        second = w.daemon_pid("hsw-datapath")
        previous = os.path.join(w.statedir, "upgrade", "previous", "hsw-datapath")
        self.assertTrue(os.access(previous, os.X_OK))
        code, back = self.ctl_spawning("rollback")
        self.assertEqual(code, 0, back)
        self.assertIn("rollback done", back)
        hswtest.wait_for(lambda: gone(second), 10, "the upgraded datapath to exit")
        self.finish(rx, sender)
        # The datapath forwards new flows set up by hsw-vswitchd afterwards.
        self.assert_new_flows_work()

    def upgrade_under_traffic_to(self, test_flag):
        """`hsw-ctl upgrade` to the datapath binary run with `test_flag`, under
        traffic; returns (the old pid, the traffic, hsw-ctl's output)."""
        w = self.w
        w.static_arp()
        self.install_rules()
        traffic = self.traffic()
        running = w.daemon_pid("hsw-datapath")
        new_bin = self.script("hsw-datapath" + test_flag, 'exec %s %s "$@"' %
                              (w.bin("hsw-datapath"), test_flag))
        code, out = self.ctl_spawning("upgrade", "--datapath", new_bin)
        self.assertEqual(code, 1, out)
        return running, traffic, out

    def test_upgrade_to_a_binary_that_crashes_changes_nothing(self):
        running, (rx, sender), out = self.upgrade_under_traffic_to("--test-exit-after-snapshot")
        self.assertIn("failed during the takeover", out)
        self.assertIn("(pid %d) carries on" % running, out)
        self.assertFalse(gone(running))
        self.finish(rx, sender)

    def test_upgrade_that_fails_its_health_check_is_rolled_back(self):
        running, (rx, sender), out = self.upgrade_under_traffic_to("--test-fail-execute")
        self.assertIn("failed its health check: it does not execute a probe packet", out)
        self.assertIn("rolled back", out)
        self.assertTrue(gone(running))  # replaced twice: by the sick one, then the previous
        self.finish(rx, sender)
        # The datapath running now is healthy: it executes packets again.
        self.assert_new_flows_work()


if __name__ == "__main__":
    hswtest.main()
