#!/usr/bin/python3
"""hsw-vswitchd configured through Debian's real ovsdb-server and ovs-vsctl.

Each test runs a private ovsdb-server (ovsdbtest.OvsdbServer), starts
hsw-vswitchd in the database mode (it starts hsw-datapath itself, as it does
when an OVS script starts "ovs-vswitchd" alone), and drives it with the real
ovs-vsctl, never with --no-wait unless the test says why: ovs-vsctl then
returns only once hsw-vswitchd has written cur_cfg back, so a command that
returns means its change is in force, and packets crossing the switch prove
it.
"""

import json
import os
import re
import signal
import subprocess
import time

import hswtest
import ovsdbtest
from hswtest import run, wait_for


class OvsdbTestCase(hswtest.HswTestCase):
    START = False
    N_HOSTS = 3

    def setUp(self):
        super().setUp()
        ovsdbtest.prepare(self)
        self.db = ovsdbtest.OvsdbServer(self.w)
        ovsdbtest.start_vswitchd_db(self.w, self.db)

    def vsctl(self, *args, **kw):
        return self.db.vsctl(*args, **kw)

    def add_host_ports(self, bridge="br0", hosts=None):
        for h in hosts or self.w.hosts:
            i = self.w.index(h)
            self.vsctl("add-port", bridge, "p%d" % i, "--", "set", "interface", "p%d" % i,
                       "ofport_request=%d" % i)

    def ofctl(self, *args, check=True, version="OpenFlow13", bridge="br0"):
        return run([hswtest.OVS_OFCTL, "-O", version, args[0], "unix:" + self.w.mgmt(bridge)] +
                   list(args[1:]), check=check)

    def dp_port_names(self):
        out = self.w.ctl("dp-show").stdout
        return set(re.findall(r"^\s*port \d+: (\S+)", out, re.M))


class TestVsctl(OvsdbTestCase):

    def test_add_br_add_port_show_and_forwarding(self):
        w = self.w
        start = time.monotonic()
        self.vsctl("add-br", "br0")
        self.add_host_ports()
        elapsed = time.monotonic() - start
        hswtest.log("add-br and 3 add-ports with waiting took %.2f s" % elapsed)
        # The ofports hsw wrote back are the requested ones; the bridge's own
        # internal interface is OpenFlow's LOCAL port, 65534 as OVS shows it.
        for h in w.hosts:
            self.assertEqual(self.db.get("Interface", "p%d" % w.index(h), "ofport"),
                             str(w.index(h)))
            self.assertEqual(self.db.get("Interface", "p%d" % w.index(h), "error"), "[]")
        self.assertEqual(self.db.get("Interface", "br0", "ofport"), "65534")
        self.assertEqual(self.db.get("Interface", "br0", "type"), "internal")
        # A datapath id is written, as 16 hex digits.
        self.assertRegex(self.db.get("Bridge", "br0", "datapath_id"), r"^[0-9a-f]{16}$")
        # Standalone without controllers: OVS's default NORMAL rule forwards.
        flows = self.ofctl("dump-flows").stdout
        self.assertIn("actions=NORMAL", flows)
        ok, out = w.ping("h1", "h2")
        self.assertTrue(ok, out)
        ok, out = w.ping("h3", "h1")
        self.assertTrue(ok, out)
        show = self.vsctl("show").stdout
        for name in ("Bridge br0", 'Port p1', 'Interface p2', "type: internal"):
            self.assertIn(name, show)
        # Status columns reflect the interfaces.
        self.assertEqual(self.db.get("Interface", "p1", "link_state"), "up")
        mac = self.db.get("Interface", "p1", "mac_in_use")
        self.assertRegex(mac, r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
        ifindex = int(self.db.get("Interface", "p1", "ifindex"))
        self.assertGreater(ifindex, 0)
        # cur_cfg caught up with next_cfg: that is what ovs-vsctl waited on.
        self.assertEqual(self.db.get("Open_vSwitch", ".", "cur_cfg"),
                         self.db.get("Open_vSwitch", ".", "next_cfg"))

    def test_del_port_and_del_br(self):
        w = self.w
        self.vsctl("add-br", "br0")
        self.add_host_ports()
        ok, out = w.ping("h1", "h2")
        self.assertTrue(ok, out)
        self.vsctl("del-port", "br0", "p2")
        self.assertNotIn("p2", self.vsctl("list-ports", "br0").stdout.split())
        self.assertNotIn("p2", self.dp_port_names())
        ok, _ = w.ping("h1", "h2", count=2, wait=1)
        self.assertFalse(ok, "h2 still reachable after del-port")
        ok, out = w.ping("h1", "h3")
        self.assertTrue(ok, out)
        self.vsctl("del-br", "br0")
        self.assertFalse(os.path.exists(w.mgmt("br0")), "br0.mgmt outlived del-br")
        self.assertFalse(self.dp_port_names() & {"p1", "p3"}, self.dp_port_names())
        ok, _ = w.ping("h1", "h3", count=2, wait=1)
        self.assertFalse(ok, "h3 still reachable after del-br")

    def test_openflow_rules_fail_mode_protocols_controller(self):
        w = self.w
        self.vsctl("add-br", "br0", "--", "set-fail-mode", "br0", "secure")
        self.add_host_ports()
        # secure: no default rule, nothing forwards until rules are added.
        self.assertNotIn("actions=NORMAL", self.ofctl("dump-flows").stdout)
        ok, _ = w.ping("h1", "h2", count=1, wait=1)
        self.assertFalse(ok, "a secure bridge without rules forwarded")
        self.ofctl("add-flow", "in_port=1,actions=output:2")
        self.ofctl("add-flow", "in_port=2,actions=output:1")
        ok, out = w.ping("h1", "h2")
        self.assertTrue(ok, out)
        # protocols limits what the bridge's endpoints speak.
        self.vsctl("set", "bridge", "br0", "protocols=OpenFlow14")
        self.ofctl("dump-flows", version="OpenFlow14")
        refused = self.ofctl("dump-flows", version="OpenFlow13", check=False)
        self.assertNotEqual(refused.returncode, 0, "OpenFlow 1.3 still accepted")
        self.vsctl("clear", "bridge", "br0", "protocols")
        self.ofctl("dump-flows", version="OpenFlow13")
        # set-controller with a listener: ovs-ofctl reaches the tables over TCP.
        self.vsctl("set-controller", "br0", "ptcp:16653:127.0.0.1")
        out = run(w.ns_cmd("sw", [hswtest.OVS_OFCTL, "-O", "OpenFlow13", "dump-flows",
                                  "tcp:127.0.0.1:16653"])).stdout
        self.assertIn("in_port=1", out.replace('"p1"', "1"))
        self.vsctl("del-controller", "br0")
        gone = run(w.ns_cmd("sw", [hswtest.OVS_OFCTL, "-O", "OpenFlow13", "dump-flows",
                                   "tcp:127.0.0.1:16653"]), check=False)
        self.assertNotEqual(gone.returncode, 0, "the listener outlived del-controller")

    def test_internal_and_patch_ports(self):
        w = self.w
        self.vsctl("add-br", "br0")
        self.vsctl("add-br", "br1")
        self.add_host_ports("br0", ["h1"])
        self.add_host_ports("br1", ["h2"])
        # Patch ports join the two bridges; NORMAL on both forwards across.
        self.vsctl("add-port", "br0", "patch-a", "--", "set", "interface", "patch-a",
                   "type=patch", "options:peer=patch-b")
        self.vsctl("add-port", "br1", "patch-b", "--", "set", "interface", "patch-b",
                   "type=patch", "options:peer=patch-a")
        self.assertGreater(int(self.db.get("Interface", "patch-a", "ofport")), 0)
        ok, out = w.ping("h1", "h2")
        self.assertTrue(ok, out)
        # An internal port is a device the switch creates.
        self.vsctl("add-port", "br0", "int0", "--", "set", "interface", "int0", "type=internal")
        self.assertGreater(int(self.db.get("Interface", "int0", "ofport")), 0)
        run(w.ns_cmd("sw", ["ip", "link", "show", "int0"]))
        self.vsctl("del-port", "br0", "int0")
        gone = run(w.ns_cmd("sw", ["ip", "link", "show", "int0"]), check=False)
        self.assertNotEqual(gone.returncode, 0, "int0 outlived del-port")


class TestDatabaseRestart(OvsdbTestCase):

    def test_ovsdb_server_restart_under_traffic_loses_nothing(self):
        w = self.w
        self.vsctl("add-br", "br0", "--", "set-fail-mode", "br0", "secure")
        self.add_host_ports()
        self.ofctl("add-flow", "in_port=1,actions=output:2")
        self.ofctl("add-flow", "in_port=2,actions=output:1")
        before = hswtest.packets_by_flow(w.ctl("dp-dump-flows").stdout)
        rx = w.recv("h2", 9000)
        sender = w.start_send("h1", "h2", 9000, 10000, 5.0)
        time.sleep(1.0)
        self.db.kill()
        time.sleep(1.0)
        self.db.start()
        # ovs-vsctl waits for hsw-vswitchd, so this returns only after it
        # reconnected, re-monitored and applied the change.
        self.vsctl("set", "interface", "p3", "mtu_request=1400")
        report = rx.result()
        sent = self.sender_report(sender)
        self.assert_no_loss(report, sent=sent["sent"])
        hswtest.log("ovsdb-server restart under %d packets: %d lost" %
                    (sent["sent"], report["lost"]))
        # The datapath's flows were not replaced: each one from before is
        # still there, with its counters grown.
        after = hswtest.packets_by_flow(w.ctl("dp-dump-flows").stdout)
        for flow, n in before.items():
            self.assertIn(flow, after)
            self.assertGreaterEqual(after[flow], n)
        self.assertIn("1400", run(w.ns_cmd("sw", ["ip", "link", "show", "p3"])).stdout)

    def test_second_vswitchd_is_refused_by_the_lock(self):
        w = self.w
        self.vsctl("add-br", "br0")
        other = os.path.join(w.tmp, "second")
        env = dict(w.env, HSW_RUNDIR=os.path.join(other, "run"),
                   HSW_STATEDIR=os.path.join(other, "state"), HSW_LOGDIR=os.path.join(other, "log"))
        # Its own directories, so it starts its own hsw-datapath there: the
        # lock is what stops it, not the datapath's single owner.
        # Output to a file: the hsw-datapath it starts keeps its stdout.
        console = os.path.join(w.logdir, "second-vswitchd.console")
        with open(console, "w") as out:
            p = subprocess.run(w.ns_cmd("sw", [w.bin("hsw-vswitchd"), self.db.remote,
                                               "--detach"]),
                               env=env, stdout=out, stderr=out, timeout=30)
        with open(console) as f:
            said = f.read()
        self.assertNotEqual(p.returncode, 0, said)
        self.assertIn("ovs_vswitchd lock", said)
        # The first one still owns the switch.
        self.add_host_ports(hosts=["h1", "h2"])
        ok, out = w.ping("h1", "h2")
        self.assertTrue(ok, out)


class TestHswCtlWithDatabase(hswtest.HswTestCase):
    """hsw's own lifecycle on a database: `hsw-ctl start --db` and a hitless
    `hsw-ctl restart` that keeps the new hsw-vswitchd on the same database."""
    START = False

    def test_start_db_and_restart_under_traffic(self):
        w = self.w
        ovsdbtest.prepare(self)
        db = ovsdbtest.OvsdbServer(w)
        bad = w.ctl("start", "--db", "ssl-less:nowhere", check=False)
        self.assertEqual(bad.returncode, 2, bad.stdout + bad.stderr)
        self.assertIn("not an OVSDB target", bad.stderr)
        self.assertIsNone(w.daemon_pid("hsw-vswitchd"))
        out = w.ctl_console("start", "--db", db.remote)
        self.assertIn("started hsw-vswitchd", out)
        db.vsctl("add-br", "br0", "--", "set-fail-mode", "br0", "secure")
        for h in w.hosts:
            i = w.index(h)
            db.vsctl("add-port", "br0", "p%d" % i, "--", "set", "interface", "p%d" % i,
                     "ofport_request=%d" % i)
        rules = os.path.join(w.tmp, "rules.txt")
        with open(rules, "w") as f:
            f.write("priority=200,udp,in_port=1,tp_dst=9300,actions=output:2\n")
            for port in range(10000, 10500):
                f.write("priority=100,udp,in_port=1,tp_dst=%d,actions=output:3\n" % port)
        run([hswtest.OVS_OFCTL, "-O", "OpenFlow14", "add-flows", "unix:" + w.mgmt(), rules])
        def tables():
            out = run([hswtest.OVS_OFCTL, "-O", "OpenFlow14", "dump-flows", "--no-stats",
                       "unix:" + w.mgmt()]).stdout
            return sorted(l.strip() for l in out.splitlines() if "actions=" in l)
        before = tables()
        self.assertEqual(len(before), 501)

        rx = w.recv("h2", 9300, announce=500)
        sender = w.start_send("h1", "h2", 9300, 10000, 600, "--src-port", "41000")
        rx.wait_received(500)
        out = w.ctl_console("restart")
        self.assertIn("flow-restore-wait cleared", out)
        sent, report = self.end_traffic(sender, rx, "hsw-ctl restart on a database")
        self.assert_no_loss(report, sent=sent["sent"])
        self.assertEqual(tables(), before)
        # Still configured from the database: hsw-ctl's bridge writes are
        # refused, ovs-vsctl's applied (it waits for cur_cfg).
        self.assertIn(db.remote, w.ctl("show").stdout)
        refused = w.ctl("add-br", "br9", check=False)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("database", refused.stderr)
        db.vsctl("del-port", "br0", "p3")
        self.assertNotIn("p3", set(re.findall(r"^\s*port \d+: (\S+)", w.ctl("dp-show").stdout,
                                               re.M)))


class TestBadConfiguration(OvsdbTestCase):

    def test_errors_are_reported_in_the_database_and_the_rest_applies(self):
        w = self.w
        self.vsctl("add-br", "br0")
        self.add_host_ports(hosts=["h1", "h2"])
        # An interface that does not exist: ofport -1 and OVS's error text.
        self.vsctl("add-port", "br0", "nosuch", check=False)
        self.assertEqual(self.db.get("Interface", "nosuch", "ofport"), "-1")
        self.assertIn("could not open network device nosuch", self.db.get("Interface", "nosuch",
                                                                          "error"))
        # A bridge of an unknown datapath type: not created, its interfaces
        # say why; br0 is unaffected.
        self.vsctl("add-br", "brx", "--", "set", "bridge", "brx", "datapath_type=bogus",
                   check=False)
        self.assertIn("datapath_type", self.db.get("Interface", "brx", "error"))
        self.assertFalse(os.path.exists(w.mgmt("brx")))
        # Two interfaces asking for one OpenFlow port number: the first keeps
        # it, the other gets another number, as in OVS.
        self.vsctl("add-port", "br0", "p3", "--", "set", "interface", "p3", "ofport_request=1")
        self.assertEqual(self.db.get("Interface", "p1", "ofport"), "1")
        p3 = int(self.db.get("Interface", "p3", "ofport"))
        self.assertNotIn(p3, (-1, 1, 2))
        ok, out = w.ping("h1", "h2")
        self.assertTrue(ok, out)
        with open(os.path.join(w.logdir, "hsw-vswitchd.log")) as f:
            log = f.read()
        self.assertIn("nosuch", log)
        self.assertIn("bogus", log)


class TestSchemaWithoutAColumn(hswtest.HswTestCase):
    START = False

    def test_missing_column_disables_only_its_feature(self):
        problem = ovsdbtest.ovs_tools_problem()
        if problem:
            self.fail(problem)
        w = self.w
        w.create_topology()
        with open(ovsdbtest.SCHEMA) as f:
            schema = json.load(f)
        del schema["tables"]["Interface"]["columns"]["mtu_request"]
        path = os.path.join(w.tmp, "vswitch-without-mtu_request.ovsschema")
        with open(path, "w") as f:
            json.dump(schema, f)
        db = ovsdbtest.OvsdbServer(w, schema=path)
        ovsdbtest.start_vswitchd_db(w, db)
        db.vsctl("add-br", "br0")
        for h in ("h1", "h2"):
            db.vsctl("add-port", "br0", "p%d" % w.index(h))
        ok, out = w.ping("h1", "h2")
        self.assertTrue(ok, out)
        with open(os.path.join(w.logdir, "hsw-vswitchd.log")) as f:
            log = f.read()
        self.assertRegex(log, r"Interface.mtu_request")


if __name__ == "__main__":
    hswtest.main()
