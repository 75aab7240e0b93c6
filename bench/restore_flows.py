#!/usr/bin/python3
"""How long save-flows and restore-flows take, by rule count.

    bench/restore_flows.py [--rules 10000,100000] [--runs 5] [--build-dir build]

Starts its own hsw-datapath and hsw-vswitchd (temp run/state/log dirs, no
ports: no namespace or traffic is needed to time the tables), loads N rules
with `hsw-ctl add-flows`, then times, over --runs runs each:

  save            hsw-ctl save-flows DIR (dump, write, fsync, rename)
  restore-same    hsw-ctl restore-flows DIR onto the same tables (the case of
                  a restart: hsw-vswitchd already has them from its journal)
  restore-empty   hsw-ctl restore-flows DIR onto empty tables (a new state dir)
  start           hsw-vswitchd --detach with N rules in its journal, until ready

and prints min/median/max per rule count, plus a JSON line for scripts.
Times are wall clock of the whole command, as an operator sees them.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def rules(n):
    """n distinct rules of a few shapes, like a controller's tables."""
    out = []
    for i in range(n):
        a, b, c = (i >> 16) & 255, (i >> 8) & 255, i & 255
        if i % 3 == 0:
            out.append("table=0,priority=%d,ip,nw_src=10.%d.%d.%d,actions=output:2" %
                       (100 + i % 1000, a, b, c))
        elif i % 3 == 1:
            out.append("table=1,priority=%d,tcp,nw_dst=172.%d.%d.%d,tp_dst=%d,"
                       "actions=set_field:10.0.0.1->ip_src,output:3" %
                       (200 + i % 100, a, b, c, 1 + i % 60000))
        else:
            out.append("table=2,priority=%d,dl_src=02:00:%02x:%02x:%02x:01,actions=drop" %
                       (300 + i % 10, a, b, c))
    return out


class Switch:
    def __init__(self, build_dir):
        self.bin = os.path.join(build_dir, "bin")
        self.tmp = tempfile.mkdtemp(prefix="hsw-bench-restore-")
        self.env = dict(os.environ)
        for name in ("run", "state", "log"):
            os.makedirs(os.path.join(self.tmp, name))
            self.env["HSW_%sDIR" % name.upper()] = os.path.join(self.tmp, name)

    def run(self, *cmd):
        p = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise SystemExit("%s failed: %s%s" % (" ".join(cmd), p.stdout, p.stderr))
        return p

    def daemon(self, name):
        # --no-console-log: the daemon would otherwise keep our pipes open.
        self.run(os.path.join(self.bin, name), "--detach", "--pidfile", "--no-console-log")

    def ctl(self, *args):
        return self.run(os.path.join(self.bin, "hsw-ctl"), "--timeout", "600", *args)

    def timed(self, fn):
        start = time.monotonic()
        fn()
        return time.monotonic() - start

    def close(self):
        subprocess.run([os.path.join(self.bin, "hsw-ctl"), "stop", "--all"], env=self.env,
                       capture_output=True, timeout=60)
        shutil.rmtree(self.tmp, ignore_errors=True)


def summary(values):
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def bench(build_dir, n, runs):
    sw = Switch(build_dir)
    try:
        sw.daemon("hsw-datapath")
        sw.daemon("hsw-vswitchd")
        sw.ctl("add-br", "br0")
        flows = os.path.join(sw.tmp, "rules.flows")
        with open(flows, "w") as f:
            f.write("\n".join(rules(n)) + "\n")
        sw.ctl("add-flows", "br0", flows)
        save = os.path.join(sw.tmp, "saved")
        times = {"save": [], "restore-same": [], "restore-empty": [], "start": []}
        for _ in range(runs):
            times["save"].append(sw.timed(lambda: sw.ctl("save-flows", save)))
            times["restore-same"].append(sw.timed(lambda: sw.ctl("restore-flows", save)))
            sw.ctl("del-flows", "br0")
            times["restore-empty"].append(sw.timed(lambda: sw.ctl("restore-flows", save)))
            sw.ctl("stop")
            times["start"].append(sw.timed(lambda: sw.daemon("hsw-vswitchd")))
        count = len(sw.ctl("dump-flows", "br0").stdout.strip().splitlines())
        if count != n:
            raise SystemExit("expected %d rules after the runs, found %d" % (n, count))
        return {k: summary(v) for k, v in times.items()}
    finally:
        sw.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", default="10000,100000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--build-dir", default=os.path.join(os.path.dirname(HERE), "build"))
    args = parser.parse_args()
    results = {}
    print("%-8s %-14s %8s %8s %8s  (seconds, %d runs)" % ("rules", "operation", "min", "median",
                                                        "max", args.runs))
    for n in [int(x) for x in args.rules.split(",")]:
        results[n] = bench(args.build_dir, n, args.runs)
        for op, s in results[n].items():
            print("%-8d %-14s %8.3f %8.3f %8.3f" % (n, op, s["min"], s["median"], s["max"]))
        sys.stdout.flush()
    print(json.dumps({"restore_flows": results}))


if __name__ == "__main__":
    main()
