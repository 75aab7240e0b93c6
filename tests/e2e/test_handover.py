#!/usr/bin/python3
"""Datapath handover: `hsw-datapath --takeover` takes the ports, flows,
queued upcalls and connections of the running hsw-datapath while traffic
flows, and the old process exits.  Packets are counted by sequence number
with hsw-traffic; flow statistics must carry on, hsw-vswitchd must go on
installing flows through the connection it had.

Handovers go between two different binaries: hsw-datapath and
hsw-datapath-next, the same sources reporting another release and speaking
handover versions 1..3 where hsw-datapath speaks 1..2
(src/apps/datapath_next_version.cc)."""

import os
import re
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hswtest  # noqa: E402

N_RULES = 10000
HANDOVERS = 20
# The two builds handovers alternate between, and the handover stream
# version each speaks up to.
OLD, NEXT = "hsw-datapath", "hsw-datapath-next"
HANDOVER_MAX = {OLD: 2, NEXT: 3}
# test_handovers_while_flows_are_installed_and_misses_arrive
BUSY_HANDOVERS = 6
# Both streams go on until the last handover is done, however slow the build
# (under ASan a handover takes 1-2 s): rules are added until then
# (RULES_PER_HANDOVER more before each handover, at most MAX_NEW_RULES), and
# misses arrive in chunks of MISS_CHUNK new 5-tuples, one packet each, at
# MISS_RATE, each chunk its own sender and receiver (so that its end markers
# travel on 5-tuples just set up, not evicted ones), until then too
# (MISS_CHUNKS_PER_HANDOVER more before each handover).
RULES_PER_HANDOVER = 20
MAX_NEW_RULES = 3000
MISS_CHUNK = 500
MISS_RATE = 1000
MISS_CHUNKS_PER_HANDOVER = 1
MAX_MISS_CHUNKS = 80   # source ports 20000 .. 60000

# A UDP receiver for `hswtest.World.ns_cmd`: binds every port in
# [argv[2], argv[3]) on argv[1], says "listening", then prints the sorted
# list of ports that got a datagram, once all did or argv[4] seconds passed.
PORTS_RECEIVER = r"""
import json, select, socket, sys, time
socks = {}
for port in range(int(sys.argv[2]), int(sys.argv[3])):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[1], port))
    socks[s.fileno()] = (s, port)
print("listening", flush=True)
got = {}
deadline = time.monotonic() + float(sys.argv[4])
while len(got) < len(socks) and time.monotonic() < deadline:
    ready, _, _ = select.select(list(socks), [], [], max(0, deadline - time.monotonic()))
    for fd in ready:
        s, port = socks[fd]
        s.recv(2048)
        got[port] = got.get(port, 0) + 1
print(json.dumps(sorted(got)), flush=True)
"""
# Sends one datagram to each port in [argv[2], argv[3]) of argv[1].
PORTS_SENDER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for port in range(int(sys.argv[2]), int(sys.argv[3])):
    s.sendto(b"probe %d" % port, (sys.argv[1], port))
"""


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

    def takeover(self, *extra, check=True, binary=OLD):
        """Runs a successor (the build `binary`); returns (its
        CompletedProcess, the predecessor's pid).  When it succeeded, the
        predecessor has exited and the pidfile names the successor."""
        w = self.w
        old = w.daemon_pid("hsw-datapath")
        p = w.start_daemon("hsw-datapath", ["--takeover"] + list(extra), check=check,
                           binary=binary)
        if p.returncode == 0:
            hswtest.wait_for(lambda: gone(old), 10, "the old datapath (pid %d) to exit" % old)
            hswtest.wait_for(lambda: w.daemon_pid("hsw-datapath") not in (None, old), 10,
                             "the successor to take the pidfile")
        return p, old

    def version_of(self, binary):
        """What `binary --version` reports: "0.1.0" or "0.1.0+next"."""
        out = hswtest.run([self.w.bin(binary), "--version"]).stdout.split()
        self.assertEqual(out[0], "hsw-datapath", out)
        return out[1]

    def datapath_log(self):
        with open(os.path.join(self.w.logdir, "hsw-datapath.log")) as f:
            return f.read()

    def running_datapath(self):
        """(pid, version) of the datapath that answers on datapath.sock, as
        its handshake says (hsw-ctl dp-show)."""
        m = re.match(r"hsw-datapath (\S+) \(pid (\d+),", self.w.ctl("dp-show").stdout)
        self.assertTrue(m, "dp-show's first line")
        return int(m.group(2)), m.group(1)

    def takeover_to(self, binary):
        """Hands the running datapath over to `binary` and checks who runs
        now: that binary's process, reporting its version, and that both
        sides logged the handover version they settled on (the highest both
        speak).  Returns the new pid."""
        w = self.w
        _, old_version = self.running_datapath()
        old_binary = NEXT if old_version == self.version_of(NEXT) else OLD
        p, old = self.takeover(binary=binary)
        new, new_version = self.running_datapath()
        self.assertNotEqual(new, old, p.stderr)
        self.assertEqual(new, w.daemon_pid("hsw-datapath"))
        self.assertEqual(os.readlink("/proc/%d/exe" % new), os.path.realpath(w.bin(binary)))
        self.assertEqual(new_version, self.version_of(binary))
        version = min(HANDOVER_MAX[old_binary], HANDOVER_MAX[binary])
        log = self.datapath_log()
        self.assertIn("handing over to pid %d (hsw-datapath %s, handover version %d)" %
                      (new, new_version, version), log)
        self.assertIn("taking over from hsw-datapath %s (pid %d), handover version %d" %
                      (old_version, old, version), log)
        return new

    def test_twenty_handovers_under_traffic_lose_nothing(self):
        w = self.w
        w.static_arp()
        self.install_rules()
        rx, sender = self.traffic(announce=1000, rate=10000)
        before = hswtest.packets_by_flow(w.ctl("dp-dump-flows").stdout)
        self.assertTrue(before)

        # old -> next -> old -> ...: each handover between two different
        # binaries, negotiating handover version 1.
        pids = []
        for i in range(HANDOVERS):
            pids.append(self.takeover_to((NEXT, OLD)[i % 2]))
            self.assertIsNone(sender.poll(), "the sender stopped during handover %d" % i)
        report = self.finish(rx, sender)
        hswtest.log("%d handovers %s <-> %s with %d rules at 10k pps: sent %d, received %d, "
                    "lost %d, duplicated %d, longest gap %s ms" %
                    (HANDOVERS, OLD, NEXT, N_RULES, report["sent"], report["received"],
                     report["lost"], report["duplicated"], report["max_gap_ms"]))
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

    def test_the_highest_common_handover_version_is_negotiated(self):
        """hsw-datapath speaks handover 1..2, hsw-datapath-next 1..3: between
        the two they settle on 2, between two hsw-datapath-next on 3."""
        w = self.w
        w.static_arp()
        self.assertEqual(self.version_of(NEXT), self.version_of(OLD) + "+next")
        for binary in (OLD, NEXT):
            info = hswtest.json.loads(hswtest.run([w.bin(binary), "--version", "--json"]).stdout)
            self.assertEqual(info["version"], self.version_of(binary))
            self.assertEqual(info["accepts"]["handover"], {"min": 1, "max": HANDOVER_MAX[binary]})
        check = w.ctl("upgrade-check", "--datapath", w.bin(NEXT))
        self.assertIn("new hsw-datapath: %s %s (dpif 1..2, handover 1..3)" %
                      (w.bin(NEXT), self.version_of(NEXT)), check.stdout)
        self.assertIn("upgrade possible", check.stdout)
        for binary in (NEXT, NEXT, OLD):  # versions 2, 3, 2 (checked by takeover_to)
            pid = self.takeover_to(binary)
            self.assertIn("hsw-datapath %s (protocol 2, pid %d)" % (self.version_of(binary), pid),
                          w.ctl("version").stdout)
        self.assert_new_flows_work()

    def test_handovers_while_flows_are_installed_and_misses_arrive(self):
        """Handovers while hsw-vswitchd adds rules and new 5-tuples keep
        missing: nothing lost on the established flow, every miss forwarded
        once, every rule in the table and in force, and the datapath's flows
        exactly those hsw-vswitchd knows (its ukeys)."""
        w = self.w
        w.static_arp()
        self.connect_pairs(("h1", "h2"))
        self.add_flow("in_port=3,actions=output:1")
        # A rule on the UDP source port makes every h3 -> h1 megaflow match
        # it exactly, so each packet of the miss sender is a miss of its own.
        self.add_flow("priority=50000,in_port=3,udp,tp_src=1,actions=drop")
        rx, sender = self.traffic()  # established: h1 -> h2
        upcalls_before = self.counter(w.ctl("show").stdout, "upcalls_miss")
        chunks, errors, stop = [], [], threading.Event()

        def send_misses():
            try:
                for k in range(MAX_MISS_CHUNKS):
                    if stop.is_set():
                        return
                    chunk_rx = w.recv("h1", 9500 + k)
                    sent = w.send("h3", "h1", 9500 + k, MISS_RATE, MISS_CHUNK / MISS_RATE,
                                  "--flows", str(MISS_CHUNK), "--src-port",
                                  str(20000 + k * MISS_CHUNK), "--src-port-step", "1",
                                  "--one-socket")
                    chunks.append((sent["sent"], chunk_rx.result()))
            except Exception as e:  # noqa: BLE001 (reported by the test thread)
                errors.append(e)
        added = []

        def add_rules():
            try:
                for port in range(30000, 30000 + MAX_NEW_RULES):
                    if stop.is_set():
                        return
                    self.add_flow("priority=40000,in_port=1,udp,tp_dst=%d,actions=output:3" % port)
                    added.append(port)
            except Exception as e:  # noqa: BLE001 (reported by the test thread)
                errors.append(e)
        workers = [threading.Thread(target=add_rules), threading.Thread(target=send_misses)]
        for worker in workers:
            worker.start()
            self.addCleanup(worker.join)
        self.addCleanup(stop.set)
        adder, misser = workers
        for i in range(BUSY_HANDOVERS):
            # Each one after some more rules and misses, while both go on.
            rules_due = (i + 1) * RULES_PER_HANDOVER
            chunks_due = (i + 1) * MISS_CHUNKS_PER_HANDOVER
            hswtest.wait_for(lambda: (len(added) >= rules_due and len(chunks) >= chunks_due) or
                             errors, 120, "%d rules added and %d chunks of misses forwarded "
                             "before handover %d" % (rules_due, chunks_due, i))
            self.assertFalse(errors)
            self.assertTrue(adder.is_alive(), "all rules were added before handover %d" % i)
            self.assertTrue(misser.is_alive(), "the misses ended before handover %d" % i)
            self.takeover_to((NEXT, OLD)[i % 2])
        stop.set()
        for worker in workers:
            worker.join(120)
            self.assertFalse(worker.is_alive())
        self.assertFalse(errors)
        ports = list(added)
        self.assertEqual(ports, list(range(30000, 30000 + len(ports))))

        report = self.finish(rx, sender)
        miss_sent = sum(sent for sent, _ in chunks)
        miss_lost = sum(r["lost"] for _, r in chunks)
        miss_duplicated = sum(r["duplicated"] for _, r in chunks)
        # How many misses waited in a queue at a switch-over (for the
        # record: it depends on timing).
        handed_over = sum(int(n) for n in re.findall(r"handed over to pid \d+ .*?(\d+) queued "
                                                     r"upcalls", self.datapath_log()))
        hswtest.log("%d handovers while adding %d rules: established flow sent %d, lost %d, "
                    "duplicated %d, longest gap %s ms; new 5-tuples sent %d in %d chunks, lost "
                    "%d, duplicated %d; %d queued misses handed over" %
                    (BUSY_HANDOVERS, len(ports), report["sent"], report["lost"],
                     report["duplicated"], report["max_gap_ms"], miss_sent, len(chunks),
                     miss_lost, miss_duplicated, handed_over))
        for sent, chunk_report in chunks:
            self.assert_no_loss(chunk_report, sent=sent)
            self.assertEqual(sent, MISS_CHUNK)
        show = w.ctl("show").stdout
        # Each new 5-tuple was a miss (the test tests what it says).
        self.assertGreaterEqual(self.counter(show, "upcalls_miss") - upcalls_before, miss_sent)
        self.assertEqual(self.counter(show, "flow_put_errors"), 0, show)

        # Every rule is in the table ...
        in_table = set()
        for line in map(hswtest.normalize_flow_line, w.dump_flows()):
            m = re.fullmatch(r"in_port=1,priority=40000,tp_dst=(\d+),udp actions=output:3", line)
            if m:
                in_table.add(int(m.group(1)))
        self.assertEqual(in_table, set(ports))
        # ... the datapath holds exactly the flows hsw-vswitchd has ukeys for
        # (none left behind in a predecessor, none it does not know) ...
        def flows_agree():
            ukeys = self.counter(w.ctl("show").stdout, "ukeys")
            dp = w.ctl("dp-show").stdout
            dp_flows = self.counter(dp, "n_flows")
            return ukeys == dp_flows == len(hswtest.packets_by_flow(w.ctl("dp-dump-flows").stdout))
        hswtest.wait_for(flows_agree, 10, "hsw-vswitchd's ukeys to equal the datapath's flows")
        self.assertEqual(self.counter(w.ctl("dp-show").stdout, "miss_queue_dropped_packets"), 0)
        # ... and every rule forwards: one datagram to each new port gets to h3.
        probe = hswtest.subprocess.Popen(
            w.ns_cmd("h3", ["/usr/bin/python3", "-c", PORTS_RECEIVER, w.ip("h3"),
                            str(ports[0]), str(ports[-1] + 1), "10"]),
            stdout=hswtest.subprocess.PIPE, text=True)
        w.track(probe)
        self.assertEqual(hswtest.read_line(probe.stdout, 10).strip(), "listening")
        w.ns_exec("h1", "/usr/bin/python3", "-c", PORTS_SENDER, w.ip("h3"), str(ports[0]),
                  str(ports[-1] + 1))
        out, _ = probe.communicate(timeout=30)
        self.assertEqual(hswtest.json.loads(out), ports)

    @staticmethod
    def counter(text, name):
        """A "name: N" counter of hsw-ctl show or dp-show output."""
        m = re.search(r"^\s*%s:\s+(\d+)$" % re.escape(name), text, re.M)
        if not m:
            raise AssertionError("no counter %s in:\n%s" % (name, text))
        return int(m.group(1))

    def test_incompatible_successor_is_refused_and_traffic_goes_on(self):
        w = self.w
        w.static_arp()
        self.connect_pairs(("h1", "h2"))
        rx, sender = self.traffic()
        running = w.daemon_pid("hsw-datapath")
        p, _ = self.takeover("--claim-handover-version", "99", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("no common handover version", p.stderr)
        self.assertIn("speaks 1..2", p.stderr)
        self.assertFalse(gone(running))
        self.assertEqual(w.daemon_pid("hsw-datapath"), running)
        self.finish(rx, sender)
        self.assertIn("refused: no common handover version", self.datapath_log())

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
        self.assertIn("abandoned", self.datapath_log())
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
        # To another release (it must report the version its binary does).
        code, up = self.ctl_spawning("upgrade", "--datapath", w.bin(NEXT))
        self.assertEqual(code, 0, up)
        self.assertIn("upgrade possible", up)
        self.assertIn("passed the health check", up)
        hswtest.wait_for(lambda: gone(first), 10, "the old datapath to exit")
        hswtest.wait_for(lambda: w.daemon_pid("hsw-datapath") not in (None, first), 10,
                         "the new datapath's pidfile")
        second = w.daemon_pid("hsw-datapath")
        self.assertEqual(self.running_datapath(), (second, self.version_of(NEXT)))
        previous = os.path.join(w.statedir, "upgrade", "previous", "hsw-datapath")
        self.assertTrue(os.access(previous, os.X_OK))
        code, back = self.ctl_spawning("rollback")
        self.assertEqual(code, 0, back)
        self.assertIn("rollback done", back)
        hswtest.wait_for(lambda: gone(second), 10, "the upgraded datapath to exit")
        self.assertEqual(self.running_datapath()[1], self.version_of(OLD))
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
