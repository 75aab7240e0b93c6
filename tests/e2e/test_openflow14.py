#!/usr/bin/python3
"""Debian's real ovs-ofctl -O OpenFlow14 against hsw, as far as Open
vSwitch's ovs-save and the restore script it writes need it: show,
dump-ports(-desc), dump-flows, add-flow, replace-flows --bundle of several
hundred rules (rules really replaced, traffic follows them), add-groups
--bundle of an empty file, dump-groups, add/dump-tlv-map, and the whole
save-and-restore round trip with ovs-save's own command lines (its save
needs ovs-vsctl/ovs-appctl, which hsw does not serve yet, so the test runs
the ovs-ofctl commands it would run) across a restart of hsw-vswitchd with
flow-restore-wait.  Also: a 1.3-only client still works, and during
flow-restore-wait a remote listener's writes are refused while the
management socket's (the restore's) are served."""

import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hswtest  # noqa: E402
from hswtest import OVS_OFCTL, normalize_flow_line, run  # noqa: E402


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OpenFlow14Test(hswtest.HswTestCase):

    def ofctl14(self, command, *args, check=True, version="OpenFlow14"):
        """ovs-ofctl as ovs-save runs it: `-O OpenFlow14 CMD BRIDGE ...`, the
        bridge found as $OVS_RUNDIR/br0.mgmt."""
        env = dict(os.environ, OVS_RUNDIR=self.w.rundir)
        return run([OVS_OFCTL, "-O", version, command, "br0"] + list(args), check=check,
                   env=env)

    def flows(self, *extra, version="OpenFlow14"):
        out = self.ofctl14("dump-flows", "--no-names", "--no-stats", *extra,
                           version=version).stdout
        return sorted(l.strip() for l in out.splitlines() if "actions=" in l)

    def write(self, name, lines):
        path = os.path.join(self.w.tmp, name)
        with open(path, "w") as f:
            f.write("".join(l + "\n" for l in lines))
        return path

    def assert_reaches(self, src, dst, port, yes=True):
        rx = self.w.recv(dst, port)
        sent = self.w.send(src, dst, port, 500, 0.2)
        if yes:
            self.assert_no_loss(rx.result(), sent=sent["sent"])
        else:
            # No end marker will come either: stop the receiver.
            report = rx.stop()
            self.assertEqual(report["received"], 0,
                             "%s reached %s on port %d: %s" % (src, dst, port, report))

    # -----------------------------------------------------------------------

    def test_show_ports_and_flows_in_openflow14(self):
        show = self.ofctl14("show").stdout
        self.assertIn("OFPT_FEATURES_REPLY (OF1.4)", show)
        for h in self.w.hosts:
            self.assertRegex(show, r" %d\(p%d\): addr:" % (self.w.ofport(h), self.w.ofport(h)))
        desc = self.ofctl14("dump-ports-desc").stdout
        self.assertIn("OFPST_PORT_DESC reply (OF1.4)", desc)
        self.assertIn("1(p1): addr:", desc)
        self.assertNotIn("decode error", desc)
        self.ofctl14("add-flow", "priority=100,in_port=1,actions=output:2")
        self.ofctl14("add-flow", "priority=100,in_port=2,actions=output:1")
        self.assertEqual(self.flows(), ["priority=100,in_port=1 actions=output:2",
                                        "priority=100,in_port=2 actions=output:1"])
        self.w.static_arp()
        self.assert_reaches("h1", "h2", 9100)
        ports = self.ofctl14("dump-ports").stdout
        self.assertIn("OFPST_PORT reply (OF1.4)", ports)
        m = re.search(r"port  1: rx pkts=(\d+)", ports)
        self.assertTrue(m, ports)
        self.assertGreater(int(m.group(1)), 0, ports)
        self.assertNotIn("decode error", ports)

    def test_replace_flows_bundle_replaces_hundreds_of_rules(self):
        w = self.w
        w.static_arp()
        self.connect_pairs(("h1", "h2"))
        self.add_flow("priority=1,udp,tp_dst=7,actions=drop")
        self.assert_reaches("h1", "h2", 9200)
        # The new table: h1 <-> h3 instead of h1 <-> h2, plus 600 rules that
        # the test traffic never hits, in two tables.
        rules = ["priority=100,in_port=1 actions=output:3",
                 "priority=100,in_port=3 actions=output:1"]
        rules += ["priority=10,udp,tp_dst=%d actions=drop" % (20000 + i) for i in range(400)]
        rules += ["table=1, priority=%d,ip,nw_dst=192.168.%d.%d actions=output:2" %
                  (i % 7, i // 200, i % 200) for i in range(200)]
        path = self.write("br0.flows.dump", rules)
        p = self.ofctl14("replace-flows", path, "--bundle")
        self.assertEqual(p.stderr, "")
        got = self.flows()
        self.assertEqual(len(got), len(rules))
        self.assertEqual(sorted(normalize_flow_line(l) for l in got),
                         sorted(normalize_flow_line(r) for r in rules))
        self.assertIn("committed bundle", w.logs(tail=400))
        self.assert_reaches("h1", "h3", 9201)
        self.assert_reaches("h1", "h2", 9202, yes=False)
        # A file with one rule hsw refuses (a group action; hsw has no
        # groups): ovs-ofctl gets the error for that rule, does not commit,
        # and nothing changes.
        bad = self.write("bad.flows", rules[:10] + ["priority=5,in_port=2 actions=group:1"])
        p = self.ofctl14("replace-flows", bad, "--bundle", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("OFPBAC_BAD_TYPE", p.stderr)
        self.assertEqual(self.flows(), got)
        self.assert_reaches("h1", "h3", 9203)

    def test_groups_and_tlv_map(self):
        out = self.ofctl14("dump-groups").stdout
        self.assertEqual([l for l in out.splitlines() if not l.startswith("OFPST_GROUP_DESC")],
                         [])
        empty = self.write("br0.groups.dump", [])
        self.ofctl14("add-groups", empty, "--bundle")
        p = self.ofctl14("add-group", "group_id=1,type=all,bucket=output:1", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("OFPGMFC_OUT_OF_GROUPS", p.stderr)
        self.ofctl14("add-tlv-map", "")
        self.assertIn("allocated option space=0", self.ofctl14("dump-tlv-map").stdout)
        self.ofctl14("add-tlv-map", "{class=0xffff,type=0x3,len=4}->tun_metadata0,"
                     "{class=0x102,type=0x80,len=8}->tun_metadata7")
        out = self.ofctl14("dump-tlv-map").stdout
        self.assertIn("max option space=256 max fields=64", out)
        self.assertIn("allocated option space=12", out)
        self.assertRegex(out, r"0xffff\s+0x3\s+4\s+tun_metadata0")
        self.assertRegex(out, r"0x102\s+0x80\s+8\s+tun_metadata7")
        p = self.ofctl14("add-tlv-map", "{class=0xffff,type=0x3,len=4}->tun_metadata0",
                         check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("NXTTMFC_ALREADY_MAPPED", p.stderr)
        self.ofctl14("del-tlv-map", "{class=0xffff,type=0x3,len=4}->tun_metadata0")
        self.assertNotIn("tun_metadata0", self.ofctl14("dump-tlv-map").stdout)

    def ovs_save(self):
        """What `ovs-save save-flows br0` writes for an OpenFlow14 bridge: the
        restore commands, with the groups and flows files beside them (the
        same ovs-ofctl commands and the same filtering as its save_flows)."""
        w = self.w
        out = self.ofctl14("dump-tlv-map").stdout
        maps = []
        for line in out.splitlines():
            if re.match(r"^ +0x", line):
                f = line.split()
                maps.append("{class=%s,type=%s,len=%s}->%s" % (f[0], f[1], f[2], f[3]))
        groups = [l for l in self.ofctl14("dump-groups").stdout.splitlines()
                  if not re.match(r"^(OFPST|NXST)_GROUP_DESC", l)]
        flows = []
        for l in self.ofctl14("dump-flows", "--no-names", "--no-stats").stdout.splitlines():
            if "NXST_FLOW" in l or "OFPST_FLOW" in l:
                continue
            l = re.sub(r"(idle|hard)_age=[^,]*,", "", l)
            l = l.replace("igmp_type", "tp_src").replace("igmp_code", "tp_dst")
            flows.append(l.replace("igmp", "ip,nw_proto=2"))
        groups_file = self.write("br0.groups.dump", groups)
        flows_file = self.write("br0.flows.dump", flows)
        return [["add-tlv-map", ",".join(maps)],
                ["add-groups", groups_file, "--bundle"],
                ["replace-flows", flows_file, "--bundle"]]

    def test_ovs_save_round_trip_across_a_restart(self):
        w = self.w
        w.static_arp()
        rules = [
            "priority=100,in_port=1,actions=output:2",
            "priority=100,in_port=2,actions=output:1",
            "cookie=0x1234,priority=300,udp,tp_dst=9000,actions=goto_table:1",
            "table=1,priority=10,udp,actions=output:3",
            "priority=50,arp,actions=output:1,output:2,output:3",
            "priority=60,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,actions=drop",
            "priority=70,ip,nw_src=10.0.0.0/24,nw_dst=10.0.0.2,actions=output:2",
            "table=2,priority=5,tcp,tp_dst=80,actions=mod_dl_dst:02:00:00:00:00:03,output:3",
            "idle_timeout=300,priority=20,in_port=3,actions=output:1",
        ] + ["table=3,priority=1,udp,tp_src=%d,actions=drop" % (30000 + i) for i in range(300)]
        for r in rules:
            self.ofctl14("add-flow", r)
        self.ofctl14("add-tlv-map", "{class=0xffff,type=0x1,len=4}->tun_metadata0")
        before = self.flows()
        self.assertEqual(len(before), len(rules))
        tlv_before = [l for l in self.ofctl14("dump-tlv-map").stdout.splitlines() if "0x" in l]
        restore = self.ovs_save()
        self.assertEqual(restore[0][1], "{class=0xffff,type=0x1,len=4}->tun_metadata0")

        # hsw-vswitchd starts again with nothing (the journal removed, as if
        # it were Open vSwitch, which keeps no flows), in flow-restore-wait.
        w.stop_daemon("hsw-vswitchd")
        for f in os.listdir(w.statedir):
            if f.startswith("flows.journal"):
                os.unlink(os.path.join(w.statedir, f))
        w.start_daemon("hsw-vswitchd", ["--flow-restore-wait"])
        self.assertEqual(self.flows(), [])
        # The restore script's commands, on br0.mgmt, during flow-restore-wait.
        for cmd in restore:
            p = self.ofctl14(*cmd)
            self.assertEqual(p.stderr, "", cmd)
        w.ctl("set", "flow-restore-wait=false")
        self.assertEqual(self.flows(), before)
        self.assertEqual([l for l in self.ofctl14("dump-tlv-map").stdout.splitlines()
                          if "0x" in l], tlv_before)
        # The restored rules forward: UDP to port 9000 goes to h3 via table 1.
        self.assert_reaches("h1", "h3", 9000)
        self.assert_reaches("h1", "h2", 9301)
        # Restoring again changes nothing (replace-flows finds no difference;
        # the TLV map line is then ALREADY_MAPPED, as in Open vSwitch).
        self.ofctl14(*restore[2])
        self.assertEqual(self.flows(), before)

    def test_openflow13_client_and_remote_fencing(self):
        w = self.w
        # A 1.3-only client is served in 1.3.
        w.ofctl("add-flow", "priority=9,in_port=1,actions=output:2")
        out = w.ofctl("dump-flows", "--no-names").stdout
        self.assertIn("OFPST_FLOW reply (OF1.3)", out)
        self.assertEqual(self.flows(version="OpenFlow13"), self.flows())
        # A client that speaks only 1.0 gets no common version.
        p = run([OVS_OFCTL, "-O", "OpenFlow10", "dump-flows", "unix:" + w.mgmt()], check=False)
        self.assertNotEqual(p.returncode, 0)
        # A remote listener (ptcp:), reached from the switch's namespace.
        port = free_tcp_port()
        w.ctl("set-controller", "br0", "ptcp:%d:127.0.0.1" % port)
        remote = "tcp:127.0.0.1:%d" % port

        def remote_ofctl(*args, check=True):
            return run(w.ns_cmd("sw", [OVS_OFCTL, "-O", "OpenFlow13"] + list(args)),
                       check=check)

        hswtest.wait_for(lambda: remote_ofctl("dump-flows", remote, check=False).returncode == 0,
                         10, "the ptcp: listener")
        remote_ofctl("add-flow", remote, "priority=10,in_port=2,actions=output:1")
        # During flow-restore-wait the remote listener may not write; the
        # management socket (where ovs-save's restore comes) may.
        w.ctl("set", "flow-restore-wait=true")
        p = remote_ofctl("add-flow", remote, "priority=11,actions=drop", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("OFPFMFC_EPERM", p.stderr)
        self.ofctl14("add-flow", "priority=12,in_port=3,actions=output:1")
        self.assertIn("priority=12,in_port=3 actions=output:1", self.flows())
        self.assertNotIn("priority=11 actions=drop", self.flows())
        w.ctl("set", "flow-restore-wait=false")
        remote_ofctl("add-flow", remote, "priority=11,actions=drop")
        self.assertIn("priority=11 actions=drop", self.flows())


if __name__ == "__main__":
    hswtest.main()
