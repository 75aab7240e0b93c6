#!/usr/bin/python3
"""kill -9 of hsw-vswitchd under traffic: hsw-datapath keeps forwarding the
established flow with zero loss, and can still be inspected."""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hswtest  # noqa: E402


class KillVswitchdTest(hswtest.HswTestCase):

    def test_established_flow_survives_sigkill(self):
        w = self.w
        w.static_arp()
        self.connect_pairs(("h1", "h2"))
        # Establish the flow (same 5-tuple as below) so that its megaflow is
        # in the datapath before the control plane goes away.
        rx = w.recv("h2", 9200)
        w.send("h1", "h2", 9200, 1000, 0.5, "--src-port", "40000")
        self.assert_no_loss(rx.result())

        rx = w.recv("h2", 9200, announce=2000)
        sender = w.start_send("h1", "h2", 9200, 5000, 4.0, "--src-port", "40000")
        rx.wait_received(2000)
        w.stop_daemon("hsw-vswitchd", signal.SIGKILL)
        self.assertIsNone(sender.poll(), "the sender finished before the kill")

        # The fast path answers without its control plane.
        dp = w.ctl("dp-show")
        self.assertIn("p1", dp.stdout + dp.stderr)

        out, err = sender.communicate(timeout=30)
        self.assertEqual(sender.returncode, 0, err)
        sent = hswtest.json.loads(out.strip().splitlines()[-1])
        report = rx.result()
        hswtest.log("after SIGKILL of hsw-vswitchd: %s" % report)
        self.assert_no_loss(report, sent=sent["sent"])
        self.assertEqual(report["sent"], 20000)

        datapath = w.daemon_pid("hsw-datapath")
        self.assertTrue(datapath and hswtest.process_alive(datapath), "hsw-datapath died")

    def test_vswitchd_restarts_after_sigkill_with_its_config(self):
        w = self.w
        w.stop_daemon("hsw-vswitchd", signal.SIGKILL)
        # --detach returns only once the new daemon is ready.
        w.start_daemon("hsw-vswitchd")
        self.assertIn("br0", w.ctl("list-br").stdout)
        ports = w.ctl("list-ports", "br0").stdout
        for p in ("p1", "p2", "p3"):
            self.assertIn(p, ports)
        # And it controls the datapath again: a new rule forwards.
        self.connect_pairs(("h1", "h2"))
        ok, out = w.ping("h1", "h2")
        self.assertTrue(ok, out)


if __name__ == "__main__":
    hswtest.main()
