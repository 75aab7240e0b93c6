#!/usr/bin/python3
"""`hsw-ctl upgrade --vswitchd NEWBIN` (and with --datapath too) and `hsw-ctl
rollback`, under traffic: the control plane is restarted hitlessly onto
NEWBIN, health-checked, rolled back automatically when it fails; no packet of
an established flow is lost at any point.

"NEWBIN" is a copy of the build's binary in a directory of the test, so that
/proc/PID/exe tells which binary a daemon runs; failing binaries are shell
scripts around that copy."""

import os
import shutil
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hswtest  # noqa: E402


def exe(pid):
    """The binary `pid` runs (" (deleted)" when the file was replaced)."""
    return os.readlink("/proc/%d/exe" % pid)


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().decode().split("\0")[:-1]


class UpgradeVswitchdTest(hswtest.HswTestCase):

    # -- helpers -------------------------------------------------------------
    def new_copy(self, name):
        """A copy of the build's `name` in <tmp>/new: the "new release"."""
        directory = os.path.join(self.w.tmp, "new")
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, name)
        shutil.copy2(self.w.bin(name), path)
        return path

    def script(self, name, body):
        path = os.path.join(self.w.tmp, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body + "\n")
        os.chmod(path, 0o755)
        return path

    def ctl_spawning(self, *args):
        """hsw-ctl for a command that starts daemons: they keep hsw-ctl's
        stdout and stderr, so both go to a file, not a pipe that would never
        reach EOF.  Returns (exit status, what it printed)."""
        w = self.w
        path = os.path.join(w.logdir, "hsw-ctl-upgrade.console")
        with open(path, "ab") as console:
            offset = console.tell()
            p = hswtest.subprocess.run(w.ns_cmd("sw", [w.bin("hsw-ctl")] + list(args)),
                                       stdout=console, stderr=console, env=w.env, timeout=180)
        with open(path, "rb") as f:
            f.seek(offset)
            out = f.read().decode(errors="replace")
        hswtest.log("hsw-ctl %s (exit %d):\n%s" % (" ".join(args), p.returncode, out))
        return p.returncode, out

    def traffic(self):
        """h1 -> h2 at 5k packets/s over an in_port rule, flowing once this
        returns; stop it with finish()."""
        w = self.w
        w.static_arp()
        self.connect_pairs(("h1", "h2"))
        rx = w.recv("h2", 9300, announce=500)
        sender = w.start_send("h1", "h2", 9300, 5000, 600, "--src-port", "41000")
        rx.wait_received(500)
        return rx, sender

    def finish(self, rx, sender):
        """Stops the sender; every packet sent must have arrived, once."""
        sender.send_signal(signal.SIGINT)
        sent = self.sender_report(sender)
        report = rx.result()
        self.assert_no_loss(report, sent=sent["sent"])
        return report

    def pid(self, daemon):
        return self.w.daemon_pid(daemon)

    def previous(self, daemon):
        return os.path.join(self.w.statedir, "upgrade", "previous", daemon)

    def assert_switch_works(self):
        """The hsw-vswitchd running now programs the datapath: its rules are
        all there (the probe rule is not), and a new rule and a new 5-tuple
        that needs a new datapath flow get through."""
        w = self.w
        flows = w.ctl("dump-flows", "br0").stdout
        self.assertIn("in_port=1", flows)
        self.assertIn("in_port=2", flows)
        self.assertNotIn("table=253", flows)
        self.add_flow("priority=40000,in_port=1,udp,tp_dst=9400,actions=output:3")
        rx = w.recv("h3", 9400)
        sent = w.send("h1", "h3", 9400, 1000, 0.3, "--src-port", "42000")
        self.assert_no_loss(rx.result(), sent=sent["sent"])

    # -- tests ---------------------------------------------------------------
    def test_upgrade_under_traffic_then_rollback(self):
        w = self.w
        rx, sender = self.traffic()
        first = self.pid("hsw-vswitchd")
        datapath = self.pid("hsw-datapath")
        new_bin = self.new_copy("hsw-vswitchd")
        code, out = self.ctl_spawning("upgrade", "--vswitchd", new_bin)
        self.assertEqual(code, 0, out)
        self.assertIn("upgrade possible", out)
        self.assertIn("replaces hsw-vswitchd pid %d (restart)" % first, out)
        self.assertIn("passed the health check", out)
        second = self.pid("hsw-vswitchd")
        self.assertNotEqual(second, first)
        self.assertEqual(exe(second), new_bin)
        # The running one's own arguments came along (the world starts it
        # with --log-file); those the restart's start gives are there once.
        args = cmdline(second)
        self.assertIn("--log-file", args)
        for arg in ("--detach", "--pidfile", "--rundir", "--flow-restore-wait"):
            self.assertEqual(args.count(arg), 1, args)
        self.assertEqual(self.pid("hsw-datapath"), datapath)  # the datapath was not touched
        self.assertTrue(os.access(self.previous("hsw-vswitchd"), os.X_OK))
        self.assertFalse(os.path.exists(self.previous("hsw-datapath")))

        code, back = self.ctl_spawning("rollback")
        self.assertEqual(code, 0, back)
        self.assertIn("rollback done", back)
        third = self.pid("hsw-vswitchd")
        self.assertNotIn(third, (first, second))
        # It runs the kept binary, which the one it replaced has replaced in
        # turn (a second rollback would undo the first).
        self.assertTrue(exe(third).startswith(self.previous("hsw-vswitchd")), exe(third))
        self.assertEqual(self.pid("hsw-datapath"), datapath)
        self.finish(rx, sender)
        self.assert_switch_works()

    def test_binary_that_crashes_at_startup_is_rolled_back(self):
        w = self.w
        rx, sender = self.traffic()
        running = self.pid("hsw-vswitchd")
        # It answers --version (so upgrade-check passes), then fails to start.
        crashing = self.script("hsw-vswitchd-crashing", '''case "$1" in
  --version) exec %s "$@";;
esac
echo "hsw-vswitchd-crashing: exiting at startup (test)" >&2
exit 1''' % w.bin("hsw-vswitchd"))
        code, out = self.ctl_spawning("upgrade", "--vswitchd", crashing)
        self.assertEqual(code, 1, out)
        self.assertIn("exiting at startup (test)", out)
        self.assertIn("the new hsw-vswitchd failed during the restart", out)
        self.assertIn("rolled back: hsw-vswitchd runs the binary it ran before and passed the "
                      "health check", out)
        now = self.pid("hsw-vswitchd")
        self.assertNotEqual(now, running)
        self.assertIn(os.path.join(w.statedir, "upgrade", "previous"), exe(now))
        # No upgrade succeeded: nothing is kept for a rollback.
        self.assertFalse(os.path.exists(self.previous("hsw-vswitchd")))
        self.finish(rx, sender)
        self.assert_switch_works()

    def test_binary_that_fails_its_health_check_is_rolled_back(self):
        w = self.w
        rx, sender = self.traffic()
        running = self.pid("hsw-vswitchd")
        refusing = self.script("hsw-vswitchd-refusing", 'exec %s --test-refuse-flow-mods "$@"'
                               % self.new_copy("hsw-vswitchd"))
        code, out = self.ctl_spawning("upgrade", "--vswitchd", refusing)
        self.assertEqual(code, 1, out)
        self.assertIn("the new hsw-vswitchd failed its health check: it does not accept a "
                      "flow-mod", out)
        self.assertIn("refused (--test-refuse-flow-mods)", out)
        self.assertIn("rolled back", out)
        now = self.pid("hsw-vswitchd")
        self.assertNotEqual(now, running)
        self.assertNotIn("--test-refuse-flow-mods", cmdline(now))
        self.finish(rx, sender)
        self.assert_switch_works()

    def test_both_together_then_rollback_each(self):
        w = self.w
        rx, sender = self.traffic()
        datapath, vswitchd = self.pid("hsw-datapath"), self.pid("hsw-vswitchd")
        new_datapath, new_vswitchd = self.new_copy("hsw-datapath"), self.new_copy("hsw-vswitchd")
        code, out = self.ctl_spawning("upgrade", "--datapath", new_datapath,
                                      "--vswitchd", new_vswitchd)
        self.assertEqual(code, 0, out)
        # The datapath first.
        self.assertLess(out.index("replaces hsw-datapath pid"),
                        out.index("replaces hsw-vswitchd pid"), out)
        self.assertEqual(out.count("passed the health check"), 2, out)
        hswtest.wait_for(lambda: not hswtest.process_alive(datapath), 10,
                         "the old datapath to exit")
        hswtest.wait_for(lambda: self.pid("hsw-datapath") not in (None, datapath), 10,
                         "the new datapath's pidfile")
        self.assertEqual(exe(self.pid("hsw-datapath")), new_datapath)
        self.assertEqual(exe(self.pid("hsw-vswitchd")), new_vswitchd)
        self.assertNotEqual(self.pid("hsw-vswitchd"), vswitchd)

        # --vswitchd: that part only.
        upgraded_datapath = self.pid("hsw-datapath")
        code, back = self.ctl_spawning("rollback", "--vswitchd")
        self.assertEqual(code, 0, back)
        self.assertEqual(self.pid("hsw-datapath"), upgraded_datapath)
        self.assertNotEqual(exe(self.pid("hsw-vswitchd")), new_vswitchd)
        # No part named: every part kept, hsw-vswitchd first (it goes back to
        # the new copy: a rollback undoes a rollback) and the datapath.
        code, back = self.ctl_spawning("rollback")
        self.assertEqual(code, 0, back)
        self.assertLess(back.index("replaces hsw-vswitchd pid"),
                        back.index("replaces hsw-datapath pid"), back)
        self.assertEqual(back.count("rollback done"), 2, back)
        hswtest.wait_for(lambda: not hswtest.process_alive(upgraded_datapath), 10,
                         "the upgraded datapath to exit")
        self.finish(rx, sender)
        self.assert_switch_works()

    def test_both_with_a_failing_vswitchd_keeps_the_new_datapath(self):
        w = self.w
        rx, sender = self.traffic()
        datapath = self.pid("hsw-datapath")
        new_datapath = self.new_copy("hsw-datapath")
        refusing = self.script("hsw-vswitchd-refusing", 'exec %s --test-refuse-flow-mods "$@"'
                               % w.bin("hsw-vswitchd"))
        code, out = self.ctl_spawning("upgrade", "--datapath", new_datapath, "--vswitchd",
                                      refusing)
        self.assertEqual(code, 1, out)
        self.assertIn("failed its health check: it does not accept a flow-mod", out)
        self.assertIn("rolled back", out)
        self.assertIn("the new hsw-datapath stays", out)
        hswtest.wait_for(lambda: not hswtest.process_alive(datapath), 10,
                         "the old datapath to exit")
        hswtest.wait_for(lambda: self.pid("hsw-datapath") not in (None, datapath), 10,
                         "the new datapath's pidfile")
        self.assertEqual(exe(self.pid("hsw-datapath")), new_datapath)
        self.assertTrue(os.access(self.previous("hsw-datapath"), os.X_OK))
        self.assertFalse(os.path.exists(self.previous("hsw-vswitchd")))
        self.finish(rx, sender)
        self.assert_switch_works()

    def test_bad_input_changes_nothing(self):
        w = self.w
        vswitchd = self.pid("hsw-vswitchd")
        # Not an hsw-vswitchd: the check refuses it before anything is touched.
        code, out = self.ctl_spawning("upgrade", "--vswitchd", w.bin("hsw-datapath"))
        self.assertEqual(code, 1, out)
        self.assertIn("says it is hsw-datapath, not hsw-vswitchd", out)
        code, out = self.ctl_spawning("upgrade", "--vswitchd", "/nonexistent/hsw-vswitchd")
        self.assertEqual(code, 1, out)
        self.assertIn("/nonexistent/hsw-vswitchd is not an executable file", out)
        code, out = self.ctl_spawning("rollback", "--vswitchd")
        self.assertEqual(code, 1, out)
        self.assertIn("no previous hsw-vswitchd kept", out)
        self.assertEqual(self.pid("hsw-vswitchd"), vswitchd)
        self.assertFalse(os.path.exists(os.path.join(w.statedir, "upgrade")))


if __name__ == "__main__":
    hswtest.main()
