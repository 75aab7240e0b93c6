#!/usr/bin/python3
"""Debian's real ovs-ofctl against hsw's management socket: it lists what
hsw-ctl added, its flow-mods change forwarding, and hsw-ctl's dump-flows
output loads back unchanged."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hswtest  # noqa: E402
from hswtest import normalize_flow_line  # noqa: E402

RULES = [
    "table=0,priority=100,in_port=1,actions=output:2",
    "table=0,priority=100,in_port=2,actions=output:1",
    "table=0,priority=200,ip,nw_dst=10.0.0.3,actions=output:3",
]


def ofctl_flows(world, *extra):
    out = world.ofctl("dump-flows", "--no-names", *extra).stdout
    return [l for l in out.splitlines() if "actions=" in l]


class OvsOfctlTest(hswtest.HswTestCase):

    def test_ofctl_lists_rules_added_by_hsw_ctl(self):
        for r in RULES:
            self.add_flow(r)
        lines = ofctl_flows(self.w)
        self.assertEqual(len(lines), len(RULES), "\n".join(lines))
        got = sorted(normalize_flow_line(l) for l in lines)
        want = sorted(normalize_flow_line(r.replace(",actions=", " actions=")) for r in RULES)
        self.assertEqual(got, want)

    def test_ofctl_add_flow_changes_forwarding(self):
        w = self.w
        self.connect_pairs(("h1", "h2"))
        ok, out = w.ping("h1", "h3", count=2, wait=1)
        self.assertFalse(ok, "h1 reached h3 with no rule for it:\n" + out)
        w.ofctl("add-flow", "priority=40000,in_port=1,actions=output:3")
        w.ofctl("add-flow", "priority=40000,in_port=3,actions=output:1")
        ok, out = w.ping("h1", "h3")
        self.assertTrue(ok, "ovs-ofctl's rules did not take effect:\n" + out)
        # hsw-ctl sees what ovs-ofctl added: one table, two clients.
        dumped = "\n".join(w.dump_flows())
        self.assertIn("in_port=3", dumped)
        # And ovs-ofctl's delete takes effect too.
        w.ofctl("del-flows", "in_port=3")
        ok, out = w.ping("h1", "h3", count=2, wait=1)
        self.assertFalse(ok, "ovs-ofctl del-flows did not take effect:\n" + out)

    def test_ofctl_counters_move_with_traffic(self):
        w = self.w
        self.connect_pairs(("h1", "h2"))
        ok, out = w.ping("h1", "h2", count=5)
        self.assertTrue(ok, out)
        # Datapath stats flow back into rule counters (at the latest when
        # asked for them).
        def counted():
            for l in ofctl_flows(w):
                if "in_port=1" in l:
                    n = int(l.split("n_packets=")[1].split(",")[0])
                    return n >= 5
            return False
        hswtest.wait_for(counted, 15, "n_packets >= 5 on in_port=1 in ovs-ofctl dump-flows")

    def test_dump_flows_output_loads_back_unchanged(self):
        w = self.w
        rules = RULES + [
            "cookie=0x1234,table=0,priority=300,udp,tp_dst=9000,actions=goto_table:1",
            "table=1,priority=10,udp,actions=output:3",
            "table=0,priority=50,arp,actions=output:1,output:2,output:3",
            "table=0,priority=60,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,actions=drop",
            "table=0,priority=70,ip,nw_src=10.0.0.0/24,nw_dst=10.0.0.2,actions=output:2",
        ]
        for r in rules:
            self.add_flow(r)
        before = w.dump_flows()
        self.assertEqual(len(before), len(rules), "\n".join(before))
        path = os.path.join(w.tmp, "flows.txt")
        with open(path, "w") as f:
            f.write(w.ctl("dump-flows", "br0").stdout)
        w.ctl("del-flows", "br0")
        self.assertEqual(w.dump_flows(), [])
        self.assertEqual(ofctl_flows(w), [])
        w.ctl("add-flows", "br0", path)
        after = w.dump_flows()
        self.assertEqual(sorted(map(normalize_flow_line, after)),
                         sorted(map(normalize_flow_line, before)))
        # ovs-ofctl agrees with hsw-ctl about the restored table.
        self.assertEqual(sorted(map(normalize_flow_line, ofctl_flows(w))),
                         sorted(map(normalize_flow_line, after)))


if __name__ == "__main__":
    hswtest.main()
