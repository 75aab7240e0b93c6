#!/usr/bin/python3
"""The README's demo (demo/run) works and cleans up after itself: check that
it reports zero loss across the restarts and the kill -9 of hsw-vswitchd, and
leaves no namespace, process or temp dir behind."""

import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hswtest  # noqa: E402


class DemoTest(unittest.TestCase):

    def test_demo_runs_loses_nothing_and_cleans_up(self):
        demo = os.path.join(hswtest.SOURCE_DIR, "demo", "run")
        env = dict(os.environ, HSW_BIN=hswtest.BIN, DEMO_RATE="5000", DEMO_RESTARTS="3")
        for k in ("HSW_RUNDIR", "HSW_STATEDIR", "HSW_LOGDIR"):
            env.pop(k, None)
        p = subprocess.run([demo], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=env, timeout=120)
        out = p.stdout
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("NOTHING LOST", out)
        sent = int(re.search(r"sent\s+(\d+) packets", out).group(1))
        received = int(re.search(r"^\s+received\s+(\d+)$", out, re.M).group(1))
        # Traffic flowed before the first restart (the receiver announced
        # DEMO_RATE packets), and every packet sent arrived.
        self.assertGreater(sent, 5000, out)
        self.assertEqual(received, sent, out)
        self.assertRegex(out, r"lost\s+0\b")
        self.assertEqual(len(re.findall(r"hsw-ctl restart #\d: restarted hsw-vswitchd in", out)), 3,
                         out)
        self.assertIn("kill -9 hsw-vswitchd", out)
        self.assertIn("replayed from its journal", out)
        # Cleanup: the demo's namespaces and temp dir are gone.
        tmp = re.search(r"state in (\S+)\)", out)
        self.assertTrue(tmp, out)
        self.assertFalse(os.path.exists(tmp.group(1)), "demo left %s behind" % tmp.group(1))
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        pid_prefix = re.findall(r"hswdemo\d+", names)
        self.assertEqual(pid_prefix, [], "demo left namespaces behind: " + names)


if __name__ == "__main__":
    hswtest.main()
