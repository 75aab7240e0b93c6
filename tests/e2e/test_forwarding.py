#!/usr/bin/python3
"""Three hosts on one bridge: ping and UDP cross hsw under explicit in_port
rules, nothing crosses without a rule, and a rule change redirects traffic as
soon as the command that made it has returned.

No `ethtool -K ... tx off` anywhere: the veths keep checksum offload on, so
the switch sees partial checksums and must forward them correctly (a ping or
UDP packet with a bad checksum is dropped by the receiving host).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hswtest  # noqa: E402


class ForwardingTest(hswtest.HswTestCase):

    def test_ping_follows_in_port_rules(self):
        w = self.w
        # h1 reaches both others; h2 and h3 answer only to h1.
        self.add_flow("in_port=1,actions=output:2,output:3")
        self.add_flow("in_port=2,actions=output:1")
        self.add_flow("in_port=3,actions=output:1")
        ok, out = w.ping("h1", "h2")
        self.assertTrue(ok, "h1 -> h2 ping failed:\n" + out)
        ok, out = w.ping("h1", "h3")
        self.assertTrue(ok, "h1 -> h3 ping failed:\n" + out)
        ok, out = w.ping("h2", "h1")
        self.assertTrue(ok, "h2 -> h1 ping failed:\n" + out)
        # No rule takes port 2 to port 3: the switch must not flood or learn.
        ok, out = w.ping("h2", "h3", count=2, wait=1)
        self.assertFalse(ok, "h2 -> h3 crossed the switch without a rule:\n" + out)

    def test_nothing_crosses_without_rules(self):
        ok, out = self.w.ping("h1", "h2", count=2, wait=1)
        self.assertFalse(ok, "ping crossed an empty table:\n" + out)

    def test_udp_crosses_without_loss(self):
        w = self.w
        w.static_arp()
        self.connect_pairs(("h1", "h2"))
        rx = w.recv("h2", 9000)
        sent = w.send("h1", "h2", 9000, 2000, 2.0, "--flows", "4")
        report = rx.result()
        self.assertEqual(sent["sent"], 4000, sent)
        # Includes the first packet of each flow, which missed and went
        # through hsw-vswitchd: a miss is queued and executed, never dropped.
        self.assert_no_loss(report, sent=4000)

    def test_udp_with_large_payloads(self):
        # Near-MTU frames, so that a checksum or length error in the fast
        # path cannot hide in small packets.
        w = self.w
        w.static_arp()
        self.connect_pairs(("h1", "h3"))
        rx = w.recv("h3", 9001)
        w.send("h1", "h3", 9001, 1000, 1.0, "--size", "1400")
        self.assert_no_loss(rx.result(), sent=1000)

    def test_traffic_tool_sees_loss_when_rules_go_away(self):
        # The zero-loss assertions of every other test are only worth
        # something if hsw-traffic does see loss: take the rules away for a
        # while under traffic and check that the loss and the gap are exact.
        w = self.w
        w.static_arp()
        self.connect_pairs(("h1", "h2"))
        rx = w.recv("h2", 9300, announce=1000)
        sender = w.start_send("h1", "h2", 9300, 2000, 3.0)
        rx.wait_received(1000)
        w.ctl("del-flows", "br0")
        time.sleep(0.7)  # the outage whose loss the receiver must see
        self.connect_pairs(("h1", "h2"))
        out, err = sender.communicate(timeout=30)
        self.assertEqual(sender.returncode, 0, err)
        report = rx.result()
        msg = hswtest.json.dumps(report)
        self.assertTrue(report["end_seen"], msg)
        self.assertEqual(report["sent"], 6000, msg)
        self.assertEqual(report["received"] + report["lost"], 6000, msg)
        # At least 0.7 s without rules at 2000 pps: at least ~1400 packets.
        # No upper bound in time: how long the two hsw-ctl commands take on a
        # loaded machine is not this test's business; traffic must resume.
        self.assertGreater(report["lost"], 1000, msg)
        self.assertGreater(report["received"], 0, msg)
        self.assertLess(report["lost"], report["sent"], msg)
        self.assertGreater(report["max_gap_ms"], 500, msg)

    def _redirect_under_traffic(self, change):
        """h1 streams UDP towards h2's address; `change()` moves in_port=1 to
        port 3.  Every packet sent after change() returned must reach h3 and
        none of them h2; every packet reaches exactly one of the two."""
        w = self.w
        w.static_arp()
        self.add_flow("in_port=1,actions=output:2")
        cap2 = w.capture("h2", "udp port 9100")
        cap3 = w.capture("h3", "udp port 9100")
        sender = w.start_send("h1", "h2", 9100, 2000, 3.0, "--run-id", "7")
        time.sleep(1.0)  # let a second of traffic reach h2 before the change
        t_before = time.time_ns()
        change()
        t_after = time.time_ns()
        out, err = sender.communicate(timeout=30)
        self.assertEqual(sender.returncode, 0, err)
        total = int(hswtest.json.loads(out.strip().splitlines()[-1])["sent"])

        def h3_has_all():
            pkts = hswtest.traffic_packets(hswtest.read_pcap(cap3.path), 9100)
            return any(end for _, _, _, end in pkts)
        hswtest.wait_for(h3_has_all, 10, "the end marker at h3")
        at2 = cap2.stop()
        at3 = cap3.stop()
        self.assertEqual((cap2.kernel_drops, cap3.kernel_drops), (0, 0),
                         "tcpdump itself dropped packets; the loss check would be meaningless")
        pk2 = [p for p in self._packets(at2) if not p[3]]
        pk3 = [p for p in self._packets(at3) if not p[3]]
        seq2 = {p[2] for p in pk2}
        seq3 = {p[2] for p in pk3}
        self.assertTrue(seq2, "no packet reached h2 before the change")
        self.assertTrue(seq3, "no packet reached h3 after the change")
        self.assertFalse(seq2 & seq3, "packets delivered to both h2 and h3")
        self.assertEqual(seq2 | seq3, set(range(total)),
                         "lost packets: %s" % sorted(set(range(total)) - (seq2 | seq3))[:20])
        late_at_h2 = [p for p in pk2 if p[4] > t_after]
        self.assertEqual(late_at_h2, [],
                         "%d packets sent after the change returned still went to h2"
                         % len(late_at_h2))
        early_at_h3 = [p for p in pk3 if p[4] < t_before]
        self.assertEqual(early_at_h3, [], "packets sent before the change reached h3")

    @staticmethod
    def _packets(frames):
        """(run_id, flow, seq, is_end, send_ns) of the hsw-traffic frames."""
        out = []
        for fr in frames:
            if len(fr) < 14 + 20 + 8 + 48:
                continue
            payload = fr[14 + (fr[14] & 0x0F) * 4 + 8:]
            fields = hswtest.TRAFFIC_HEADER.unpack(payload[:48])
            if fields[0] != hswtest.TRAFFIC_MAGIC:
                continue
            out.append((fields[4], fields[5], fields[7], bool(fields[2] & 1), fields[8]))
        return out

    def test_rule_change_redirects_right_after_hsw_ctl_returns(self):
        self._redirect_under_traffic(
            lambda: self.add_flow("in_port=1,actions=output:3"))

    def test_rule_change_redirects_right_after_ofctl_barrier(self):
        # ovs-ofctl waits for the barrier reply before it exits.
        self._redirect_under_traffic(
            lambda: self.w.ofctl("mod-flows", "in_port=1,actions=output:3"))


if __name__ == "__main__":
    hswtest.main()
