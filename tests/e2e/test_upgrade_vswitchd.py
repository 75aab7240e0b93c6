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
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hswtest  # noqa: E402
# Its ways of running hsw-ctl upgrade and of watching traffic, borrowed as
# they are.  Only the module is bound here, never its TestCase class, so
# that unittest runs this file's tests alone.
import test_handover  # noqa: E402


def exe(pid):
    """The binary `pid` runs (" (deleted)" when the file was replaced)."""
    return os.readlink("/proc/%d/exe" % pid)


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().decode().split("\0")[:-1]


class UpgradeVswitchdTest(hswtest.HswTestCase):

    # -- helpers -------------------------------------------------------------
    script = test_handover.HandoverTest.script  # (name, body): an executable sh script
    ctl_spawning = test_handover.HandoverTest.ctl_spawning  # (*args): (exit status, output)
    finish = test_handover.HandoverTest.finish  # (rx, sender): stops it; none lost

    def new_copy(self, name):
        """A copy of the build's `name` in <tmp>/new: the "new release"."""
        directory = os.path.join(self.w.tmp, "new")
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, name)
        shutil.copy2(self.w.bin(name), path)
        return path

    def traffic(self):
        """h1 -> h2 at 5k packets/s over in_port rules, flowing once this
        returns; stop it with finish()."""
        self.w.static_arp()
        self.connect_pairs(("h1", "h2"))
        return test_handover.HandoverTest.traffic(self)

    def pid(self, daemon):
        return self.w.daemon_pid(daemon)

    def previous(self, daemon):
        return os.path.join(self.w.statedir, "upgrade", "previous", daemon)

    def refusing_vswitchd(self, binary):
        """`binary` run with the hidden --test-refuse-flow-mods."""
        return self.script("hsw-vswitchd-refusing",
                           'exec %s --test-refuse-flow-mods "$@"' % binary)

    def failed_upgrade_under_traffic(self, *args):
        """`hsw-ctl upgrade ARGS` under traffic, which must fail (exit 1)
        with hsw-vswitchd rolled back; returns (the pid of the hsw-vswitchd
        that ran before, hsw-ctl's output, the traffic)."""
        traffic = self.traffic()
        running = self.pid("hsw-vswitchd")
        code, out = self.ctl_spawning("upgrade", *args)
        self.assertEqual(code, 1, out)
        self.assertIn("rolled back: hsw-vswitchd runs the binary it ran before and passed the "
                      "health check", out)
        self.assertNotEqual(self.pid("hsw-vswitchd"), running)
        return running, out, traffic

    def wait_datapath_replaced(self, old):
        hswtest.wait_for(lambda: not hswtest.process_alive(old), 10,
                         "the datapath pid %d to exit" % old)
        hswtest.wait_for(lambda: self.pid("hsw-datapath") not in (None, old), 10,
                         "the new datapath's pidfile")

    def assert_switch_works(self):
        """The hsw-vswitchd running now programs the datapath: its rules are
        all there (the probe rule is not), and a new rule and a new 5-tuple
        get through."""
        flows = self.w.ctl("dump-flows", "br0").stdout
        self.assertIn("in_port=1", flows)
        self.assertIn("in_port=2", flows)
        self.assertNotIn("table=253", flows)
        self.assert_new_flows_work()

    # -- tests ---------------------------------------------------------------
    def test_upgrade_under_traffic_then_rollback(self):
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
        # It answers --version (so upgrade-check passes), then fails to start.
        crashing = self.script("hsw-vswitchd-crashing", '''case "$1" in
  --version) exec %s "$@";;
esac
echo "hsw-vswitchd-crashing: exiting at startup (test)" >&2
exit 1''' % w.bin("hsw-vswitchd"))
        _, out, traffic = self.failed_upgrade_under_traffic("--vswitchd", crashing)
        self.assertIn("exiting at startup (test)", out)
        self.assertIn("the new hsw-vswitchd failed during the restart", out)
        self.assertIn(os.path.join(w.statedir, "upgrade", "previous"),
                      exe(self.pid("hsw-vswitchd")))
        # No upgrade succeeded: nothing is kept for a rollback.
        self.assertFalse(os.path.exists(self.previous("hsw-vswitchd")))
        self.finish(*traffic)
        self.assert_switch_works()

    def test_binary_that_fails_its_health_check_is_rolled_back(self):
        refusing = self.refusing_vswitchd(self.new_copy("hsw-vswitchd"))
        _, out, traffic = self.failed_upgrade_under_traffic("--vswitchd", refusing)
        self.assertIn("the new hsw-vswitchd failed its health check: it does not accept a "
                      "flow-mod", out)
        self.assertIn("refused (--test-refuse-flow-mods)", out)
        self.assertNotIn("--test-refuse-flow-mods", cmdline(self.pid("hsw-vswitchd")))
        self.finish(*traffic)
        self.assert_switch_works()

    def test_both_together_then_rollback_each(self):
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
        self.wait_datapath_replaced(datapath)
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
        self.wait_datapath_replaced(upgraded_datapath)
        self.finish(rx, sender)
        self.assert_switch_works()

    def test_both_with_a_failing_vswitchd_keeps_the_new_datapath(self):
        datapath = self.pid("hsw-datapath")
        new_datapath = self.new_copy("hsw-datapath")
        refusing = self.refusing_vswitchd(self.w.bin("hsw-vswitchd"))
        _, out, traffic = self.failed_upgrade_under_traffic("--datapath", new_datapath,
                                                            "--vswitchd", refusing)
        self.assertIn("failed its health check: it does not accept a flow-mod", out)
        self.assertIn("the new hsw-datapath stays", out)
        self.wait_datapath_replaced(datapath)
        self.assertEqual(exe(self.pid("hsw-datapath")), new_datapath)
        self.assertTrue(os.access(self.previous("hsw-datapath"), os.X_OK))
        self.assertFalse(os.path.exists(self.previous("hsw-vswitchd")))
        self.finish(*traffic)
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
