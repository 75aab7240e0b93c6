#!/usr/bin/python3
"""Port types of the Open_vSwitch database's Interface.type, with the real
daemons: an internal port (a tap that hsw-datapath creates) named as its
bridge is the bridge's LOCAL port and carries the switch namespace's own
traffic; it lives through `hsw-ctl restart` and a datapath handover without
losing a packet; deleting it removes the device; two bridges joined by a
patch pair forward host to host."""

import signal
import subprocess

import hswtest
from hswtest import log

LOCAL_IP = "10.0.0.254"


class PortTypesTest(hswtest.HswTestCase):
    N_HOSTS = 2

    def sw_link(self, name):
        """`ip -o link show NAME` in the switch namespace, or None."""
        p = hswtest.run(["ip", "-n", self.w.sw, "-o", "link", "show", name], check=False)
        return p.stdout if p.returncode == 0 else None

    def add_local_port(self):
        """br0's own internal port with an address in the switch namespace."""
        w = self.w
        self.assertIsNone(self.sw_link("br0"))
        out = w.ctl("add-port", "br0", "br0", "--type", "internal").stdout
        self.assertEqual(out.strip(), str(0xfffffffe), "the bridge's own port is LOCAL")
        link = self.sw_link("br0")
        self.assertIsNotNone(link, "hsw-datapath created no device br0")
        self.assertNotIn(",UP", link.split(">")[0], "internal devices start down: " + link)
        # The datapath reports it down, as it is.
        self.assertRegex(w.ofctl("dump-ports-desc").stdout, r"LOCAL\(br0\)(.|\n)*LINK_DOWN")
        # No IPv6 chatter (router solicitations, MLD) from the switch's own port.
        hswtest.run(["ip", "netns", "exec", w.sw, "sysctl", "-q", "-w",
                     "net.ipv6.conf.br0.disable_ipv6=1"])
        hswtest.run(["ip", "-n", w.sw, "addr", "add", LOCAL_IP + "/24", "dev", "br0"])
        hswtest.run(["ip", "-n", w.sw, "link", "set", "br0", "up"])
        hswtest.wait_for(lambda: "LOWER_UP" in (self.sw_link("br0") or ""), 10,
                         "carrier on br0 (the datapath holds the tap)")
        for h in w.hosts:
            hswtest.run(["ip", "-n", w.sw, "neigh", "replace", w.ip(h), "lladdr", w.mac(h),
                         "dev", "br0", "nud", "permanent"])
            hswtest.run(["ip", "-n", w.ns(h), "neigh", "replace", LOCAL_IP, "lladdr",
                         self.local_mac(), "dev", "eth0", "nud", "permanent"])

    def local_mac(self):
        link = self.sw_link("br0")
        return link.split("link/ether ")[1].split()[0]

    def ping_from_switch(self, host, count=3):
        p = hswtest.run(["ip", "netns", "exec", self.w.sw, "ping", "-c", str(count), "-i", "0.2",
                         "-W", "2", self.w.ip(host)], check=False, timeout=30)
        return p.returncode == 0, p.stdout + p.stderr

    def local_traffic(self):
        """The switch namespace (through br0) -> h1, flowing once this returns."""
        w = self.w
        rx = w.recv("h1", 9600, announce=300)
        cmd = ["ip", "netns", "exec", w.sw, w.bin("hsw-traffic"), "send", "--dst",
               "%s:9600" % w.ip("h1"), "--rate", "2000", "--duration", "600", "--json"]
        sender = w.track(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True))
        rx.wait_received(300)
        return rx, sender

    def finish(self, rx, sender):
        sender.send_signal(signal.SIGINT)
        sent = self.sender_report(sender)
        report = rx.result()
        self.assert_no_loss(report, sent=sent["sent"])
        return report

    def test_local_port_carries_traffic_through_restart_and_handover(self):
        w = self.w
        w.static_arp()
        self.add_local_port()
        self.add_flow("in_port=LOCAL,actions=output:1")
        self.add_flow("in_port=1,actions=output:LOCAL")
        ok, out = self.ping_from_switch("h1")
        self.assertTrue(ok, out)
        # No rule to h2: the LOCAL rules are what carries the pings.
        ok, out = self.ping_from_switch("h2", count=1)
        self.assertFalse(ok, "reached h2 without a rule: " + out)
        ifindex = self.sw_link("br0").split(":")[0]

        rx, sender = self.local_traffic()
        w.ctl_console("restart")
        self.assertIsNone(sender.poll(), "the sender stopped during the restart")
        self.assertEqual(self.sw_link("br0").split(":")[0], ifindex,
                         "the tap was re-created by the restart")
        old = w.daemon_pid("hsw-datapath")
        w.start_daemon("hsw-datapath", ["--takeover"])
        hswtest.wait_for(lambda: not hswtest.process_alive(old), 10, "the old datapath to exit")
        hswtest.wait_for(lambda: w.daemon_pid("hsw-datapath") not in (None, old), 10,
                         "the successor's pidfile")
        report = self.finish(rx, sender)
        log("through a restart and a handover: %s" % report)
        self.assertEqual(self.sw_link("br0").split(":")[0], ifindex,
                         "the tap was re-created by the handover")
        self.assertIn("LOWER_UP", self.sw_link("br0"), "the tap lost carrier")
        ok, out = self.ping_from_switch("h1")
        self.assertTrue(ok, out)
        stats = w.ofctl("dump-ports", bridge="br0", check=True).stdout
        self.assertIn("LOCAL", stats)

        # Deleting the port removes the device.
        w.ctl("del-port", "br0", "br0")
        hswtest.wait_for(lambda: self.sw_link("br0") is None, 10, "br0 to disappear")

    def test_normal_and_an_existing_non_tap_name_is_refused(self):
        w = self.w
        self.add_local_port()
        self.add_flow("actions=NORMAL")
        ok, out = self.ping_from_switch("h2")
        self.assertTrue(ok, out)
        # A name taken by another interface (a veth: this machine has no dummy
        # module): refused, nothing changes.
        hswtest.run(["ip", "-n", w.sw, "link", "add", "odd0", "type", "veth", "peer", "name",
                     "odd1"])
        p = w.ctl("add-port", "br0", "odd0", "--type", "internal", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("odd0", p.stderr + p.stdout)
        self.assertIn("not a tap", p.stderr + p.stdout)
        self.assertNotIn("odd0", w.ctl("list-ports", "br0").stdout)
        p = w.ctl("add-port", "br0", "pp", "--type", "patch", check=False)
        self.assertNotEqual(p.returncode, 0, "a patch port without a peer")


class PatchPortsTest(hswtest.HswTestCase):
    """h1 on br0, h2 on br1, the bridges joined by patch0 <-> patch1."""
    N_HOSTS = 2
    START = False

    def test_two_bridges_joined_by_patch_ports_forward_host_to_host(self):
        w = self.w
        w.create_topology()
        for d in w.DAEMONS:
            w.start_daemon(d)
        w.ctl("add-br", "br0")
        w.ctl("add-br", "br1")
        w.ctl("add-port", "br0", "p1", "--ofport", "1")
        w.ctl("add-port", "br1", "p2", "--ofport", "1")
        w.ctl("add-port", "br0", "patch0", "--type", "patch", "--peer", "patch1", "--ofport", "2")
        # One end only: the link is down.
        self.assertIn("LINK_DOWN", w.ofctl("dump-ports-desc", bridge="br0").stdout)
        w.ctl("add-port", "br1", "patch1", "--type", "patch", "--peer", "patch0", "--ofport", "2")
        self.assertNotIn("LINK_DOWN", w.ofctl("dump-ports-desc", bridge="br0").stdout)
        for br in ("br0", "br1"):
            w.ctl("add-flow", br, "in_port=1,actions=output:2")
            w.ctl("add-flow", br, "in_port=2,actions=output:1")
        w.static_arp()
        rx = w.recv("h2", 9700)
        sent = w.send("h1", "h2", 9700, 1000, 0.5)
        self.assert_no_loss(rx.result(), sent=sent["sent"])
        ok, out = w.ping("h1", "h2")
        self.assertTrue(ok, out)
        # No datapath port for the patch ports; the megaflow goes p1 -> p2.
        dp = w.ctl("dp-show").stdout
        self.assertNotIn("patch0", dp)
        stats = w.ofctl("dump-ports", "2", bridge="br0").stdout
        self.assertRegex(stats, r"tx pkts=[1-9]", stats)
        # The other end goes: traffic stops at the patch port.
        w.ctl("del-port", "br1", "patch1")
        ok, out = w.ping("h1", "h2", count=1)
        self.assertFalse(ok, "crossed a patch port whose peer is gone: " + out)


if __name__ == "__main__":
    hswtest.main()
