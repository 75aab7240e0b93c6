#!/usr/bin/python3
"""A real controller app on Debian's os-ken drives hsw unchanged.

tests/e2e/apps/l2_learning.py (an OpenFlow 1.3 L2-learning switch) runs in
osken-manager inside the switch namespace, listening on 127.0.0.1; hsw's
br0 starts with no rules and is pointed at it with `hsw-ctl set-controller`.
The test checks that

  * nothing crosses br0 before the controller is set (so the test can fail);
  * the controller connects and installs its table-miss rule
    (priority=0 -> CONTROLLER);
  * h1 -> h2 and h2 -> h3 pings succeed, their first packets going through
    packet-in / packet-out, and every packet counted by the table-miss rule
    reached the app as a packet-in (the datapath dropped no upcall);
  * the app installed the learned `in_port,dl_dst -> output` rules it should
    have, and later pings are forwarded by them (their n_packets grow) rather
    than by the controller.
"""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hswtest  # noqa: E402

OSKEN_MANAGER = "/usr/bin/osken-manager"
APP = os.path.join(hswtest.HERE, "apps", "l2_learning.py")

# A CI build may be using every CPU at the same time: be generous.
CONNECT_TIMEOUT = 90
PING_TIMEOUT = 90
STATS_TIMEOUT = 30


def parse_flow(line):
    """(match fields dict, actions string, n_packets) of a dump-flows line."""
    head, _, actions = line.partition("actions=")
    fields = {}
    for tok in re.split(r"[,\s]+", head.strip()):
        if tok:
            key, _, value = tok.partition("=")
            fields[key] = value
    return fields, actions.strip(), int(fields.get("n_packets", "0"))


class OsKenTest(hswtest.HswTestCase):

    def setUp(self):
        if not os.access(OSKEN_MANAGER, os.X_OK):
            # The test is about os-ken: without it there is nothing to prove.
            self.fail("%s missing (Debian package python3-os-ken)" % OSKEN_MANAGER)
        super().setUp()
        self.osken = None
        self.osken_log = os.path.join(self.w.tmp, "osken-manager.log")
        # Runs before the world's cleanup (cleanups are LIFO): print the
        # controller's output while it still exists, and stop it.
        self.addCleanup(self._stop_osken)

    # -- controller ----------------------------------------------------------
    def _free_port(self):
        """A TCP port free on the switch namespace's loopback."""
        probe = ("import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); "
                 "print(s.getsockname()[1])")
        out = hswtest.run(self.w.ns_cmd("sw", ["/usr/bin/python3", "-c", probe])).stdout
        return int(out.strip())

    def _start_osken(self):
        port = self._free_port()
        cmd = self.w.ns_cmd("sw", [OSKEN_MANAGER, "--ofp-listen-host", "127.0.0.1",
                                   "--ofp-tcp-listen-port", str(port),
                                   "--default-log-level", "20", "--use-stderr", APP])
        hswtest.log("starting: %s" % " ".join(cmd))
        with open(self.osken_log, "wb") as out:
            self.osken = self.w.track(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                                       stdin=subprocess.DEVNULL))

        def listening():
            self._check_osken_alive()
            r = hswtest.run(self.w.ns_cmd("sw", ["ss", "-Hltn", "sport = :%d" % port]),
                            check=False)
            return "127.0.0.1:%d" % port in r.stdout
        hswtest.wait_for(listening, CONNECT_TIMEOUT, "osken-manager to listen on port %d" % port,
                         interval=0.1)
        return port

    def _check_osken_alive(self):
        if self.osken.poll() is not None:
            self.fail("osken-manager exited with %s:\n%s" %
                      (self.osken.returncode, self._osken_output()))

    def _osken_output(self):
        try:
            with open(self.osken_log, errors="replace") as f:
                return f.read()
        except OSError as e:
            return "(no output: %s)" % e

    def _stop_osken(self):
        if self.osken is not None and self.osken.poll() is None:
            self.osken.kill()
            try:
                self.osken.wait(10)
            except subprocess.TimeoutExpired:
                pass
        if self._failed():
            out = self._osken_output().splitlines()
            hswtest.log("osken-manager output (%s, last %d of %d lines):\n%s" %
                        (self.osken_log, min(200, len(out)), len(out), "\n".join(out[-200:])))

    def _packet_ins(self):
        """The app's log lines, one per packet-in it received."""
        return [l for l in self._osken_output().splitlines() if "l2_learning: packet-in" in l]

    def _dp_counters(self):
        """hsw-ctl dp-show's counters, as {name: int}."""
        out = {}
        for line in self.w.ctl("dp-show").stdout.splitlines():
            m = re.fullmatch(r"\s*([a-z_]+):\s+(\d+)", line)
            if m:
                out[m.group(1)] = int(m.group(2))
        return out

    def _miss_rule_packets(self):
        for fields, actions, n in self._flows():
            if fields.get("priority") == "0" and actions.startswith("CONTROLLER"):
                return n
        self.fail("the table-miss rule is gone:\n" + "\n".join(self.w.dump_flows()))

    # -- flows ---------------------------------------------------------------
    def _flows(self):
        return [parse_flow(l) for l in self.w.dump_flows() if "actions=" in l]

    def _miss_rule_present(self):
        self._check_osken_alive()
        for fields, actions, _ in self._flows():
            if fields.get("priority") == "0" and actions.startswith("CONTROLLER"):
                return True
        return False

    def _learned(self):
        """{(in_port, dl_dst): (output port, n_packets)} of the app's rules."""
        out = {}
        for fields, actions, n in self._flows():
            dst = fields.get("dl_dst") or fields.get("eth_dst")
            if not dst:
                continue
            m = re.fullmatch(r"output:(\d+)", actions)
            self.assertTrue(m, "learned rule with unexpected actions: %s %s" % (fields, actions))
            self.assertEqual(fields.get("priority"), "1", "learned rule: %s" % fields)
            out[(int(fields["in_port"]), dst.lower())] = (int(m.group(1)), n)
        return out

    def _ping_until_ok(self, src, dst):
        deadline = time.monotonic() + PING_TIMEOUT
        out = ""
        while time.monotonic() < deadline:
            self._check_osken_alive()
            ok, out = self.w.ping(src, dst, count=1, wait=2)
            if ok:
                return
        self.fail("%s -> %s ping did not succeed within %ss through the controller:\n%s\n"
                  "rules:\n%s" % (src, dst, PING_TIMEOUT, out, "\n".join(self.w.dump_flows())))

    # -- the test ------------------------------------------------------------
    def test_l2_learning_app_drives_hsw(self):
        w = self.w
        self.assertEqual(self._flows(), [], "br0 should start with no rules")

        # Negative: with no rules and no controller, nothing crosses.
        ok, out = w.ping("h1", "h2", count=2, wait=1)
        self.assertFalse(ok, "h1 -> h2 crossed br0 before any controller was set:\n" + out)

        # h1 would go on probing for h2's address for a few seconds; a probe
        # arriving while os-ken is still in its handshake is dropped by
        # os-ken (not by hsw) and would spoil the packet-in count below.
        for h in w.hosts:
            w.ns_exec(h, "ip", "neigh", "flush", "dev", "eth0")

        port = self._start_osken()
        w.ctl("set-controller", "br0", "tcp:127.0.0.1:%d" % port)
        hswtest.wait_for(self._miss_rule_present, CONNECT_TIMEOUT,
                         "the controller's table-miss rule (priority=0,actions=CONTROLLER) "
                         "in dump-flows", interval=0.1)
        hswtest.wait_for(lambda: re.search(r"l2_learning: switch \w+ ready", self._osken_output()),
                         CONNECT_TIMEOUT,
                         "os-ken to finish the handshake (switch ready)", interval=0.1)

        self._ping_until_ok("h1", "h2")
        self._ping_until_ok("h2", "h3")

        # Every packet the table-miss rule sent to the controller reached the
        # app as a packet-in: no packet of a new flow is lost on its way up
        # (the first one of each flow goes up from the upcall's execute, the
        # later ones from the datapath's userspace action).
        def all_packet_ins_arrived():
            return len(self._packet_ins()) == self._miss_rule_packets()
        try:
            hswtest.wait_for(all_packet_ins_arrived, STATS_TIMEOUT,
                             "the app's packet-ins to match the table-miss rule's n_packets",
                             interval=0.1)
        except AssertionError as e:
            dp = self._dp_counters()
            sent = re.search(r"packet_ins:\s*(\d+)", w.ctl("show").stdout)
            self.fail("%s: table-miss rule n_packets=%d, packet-ins sent by hsw-vswitchd=%s, "
                      "received by the app=%d; datapath miss queue: %s\nrules:\n%s\n"
                      "packet-ins:\n%s" % (
                          e, self._miss_rule_packets(), sent.group(1) if sent else "?",
                          len(self._packet_ins()),
                          {k: v for k, v in dp.items() if k.startswith("miss_queue")},
                          "\n".join(w.dump_flows()), "\n".join(self._packet_ins())))
        dropped = {k: v for k, v in self._dp_counters().items()
                   if k.startswith("miss_queue_dropped") and v}
        self.assertEqual(dropped, {}, "the datapath dropped upcalls")

        h1, h2, h3 = (w.mac(h) for h in ("h1", "h2", "h3"))
        p1, p2, p3 = (w.ofport(h) for h in ("h1", "h2", "h3"))
        expected = {
            (p1, h2): p2,  # echo request h1 -> h2
            (p2, h1): p1,  # ARP reply / echo reply h2 -> h1
            (p2, h3): p3,  # echo request h2 -> h3
            (p3, h2): p2,  # ARP reply / echo reply h3 -> h2
        }

        def all_learned():
            learned = self._learned()
            return all(k in learned for k in expected)
        hswtest.wait_for(all_learned, STATS_TIMEOUT, "the learned rules %s" % sorted(expected),
                         interval=0.1)
        learned = self._learned()
        for key, out_port in expected.items():
            self.assertEqual(learned[key][0], out_port,
                             "rule in_port=%d,dl_dst=%s: %s" % (key[0], key[1], learned[key]))

        # Later pings are forwarded by those rules, not by the controller.
        before = {k: learned[k][1] for k in expected}
        packet_ins_before = len(self._packet_ins())
        count = 5
        for src, dst in (("h1", "h2"), ("h2", "h3")):
            ok, out = w.ping(src, dst, count=count, interval=0.05)
            self.assertTrue(ok, "%s -> %s ping over learned rules failed:\n%s" % (src, dst, out))

        def counted():
            now = self._learned()
            return all(now[k][1] >= before[k] + count for k in expected)
        try:
            hswtest.wait_for(counted, STATS_TIMEOUT, "n_packets of the learned rules to grow "
                             "by %d" % count, interval=0.1)
        except AssertionError as e:
            self.fail("%s\nbefore: %s\nnow: %s\n%s" % (e, before, self._learned(),
                                                       "\n".join(w.dump_flows())))
        new_packet_ins = self._packet_ins()[packet_ins_before:]
        self.assertEqual(new_packet_ins, [],
                         "pings over learned rules still went to the controller")


if __name__ == "__main__":
    hswtest.main()
