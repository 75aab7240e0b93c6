"""Debian's real Open vSwitch database tools beside an hsw World.

OvsdbServer runs Debian's ovsdb-server on a private database (created from
Debian's vswitch.ovsschema with ovsdb-tool) and a private unix socket under
the World's temp dir: never the system's /var/run/openvswitch, never the
Debian service.  vsctl() runs Debian's real ovs-vsctl against it.

start_vswitchd_db() starts hsw-vswitchd in the database mode (its DATABASE
argument), so that what ovs-vsctl writes is what configures the switch.

Stdlib only; imported by the e2e tests that need a database.
"""

import os
import signal
import subprocess
import time

import hswtest
from hswtest import run, wait_for

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
OVSDB_SERVER = "/usr/sbin/ovsdb-server"
OVSDB_TOOL = "/usr/bin/ovsdb-tool"
OVS_VSCTL = "/usr/bin/ovs-vsctl"
OVS_APPCTL = "/usr/bin/ovs-appctl"


def ovs_tools_problem():
    """None when Debian's OVS database tools are installed, else what is missing."""
    missing = [p for p in (SCHEMA, OVSDB_SERVER, OVSDB_TOOL, OVS_VSCTL) if not os.path.exists(p)]
    return ("missing %s (scripts/install-deps.sh installs openvswitch-switch)" %
            ", ".join(missing)) if missing else None


class OvsdbServer:
    """ovsdb-server on <world.tmp>/ovsdb/{conf.db,db.sock}."""

    def __init__(self, world, schema=SCHEMA, name="ovsdb"):
        self.w = world
        self.dir = os.path.join(world.tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.db = os.path.join(self.dir, "conf.db")
        self.sock = os.path.join(self.dir, "db.sock")
        self.remote = "unix:" + self.sock
        self.pidfile = os.path.join(self.dir, "ovsdb-server.pid")
        self.ctl = os.path.join(self.dir, "ovsdb-server.ctl")
        self.log = os.path.join(world.logdir, name + "-server.log")
        run([OVSDB_TOOL, "create", self.db, schema])
        self.start()
        self.vsctl("--no-wait", "init")

    def start(self):
        # --detach returns once the socket listens.
        run([OVSDB_SERVER, self.db, "--remote=punix:" + self.sock, "--pidfile=" + self.pidfile,
             "--unixctl=" + self.ctl, "--log-file=" + self.log, "--detach", "--no-chdir"])
        self.w.extra_pids.append(self.pid())

    def pid(self):
        with open(self.pidfile) as f:
            return int(f.read().strip())

    def kill(self, sig=signal.SIGKILL):
        """Kills ovsdb-server and waits until it is gone."""
        pid = self.pid()
        os.kill(pid, sig)
        wait_for(lambda: not hswtest.process_alive(pid), 10, "ovsdb-server %d to exit" % pid)
        return pid

    def vsctl(self, *args, check=True, timeout=20, wait=True):
        """Debian's ovs-vsctl on this database.  Without --no-wait (the
        default here, wait=True) it returns once hsw-vswitchd has applied the
        change (cur_cfg caught up with next_cfg), or fails after --timeout."""
        cmd = [OVS_VSCTL, "--db=" + self.remote, "--timeout=%d" % max(1, timeout - 5)]
        if not wait:
            cmd.append("--no-wait")
        return run(cmd + list(args), check=check, timeout=timeout)

    def get(self, table, record, column):
        """One column's value as ovs-vsctl prints it, stripped of quotes."""
        out = self.vsctl("--no-wait", "get", table, record, column).stdout.strip()
        return out[1:-1] if len(out) >= 2 and out[0] == out[-1] == '"' else out

    def stop(self):
        try:
            os.kill(self.pid(), signal.SIGTERM)
        except (OSError, ValueError):
            pass


def start_vswitchd_db(world, server, extra=(), check=True):
    """hsw-vswitchd --detach in the database mode; returns once it applied
    the database's first configuration (its --detach readiness)."""
    return world.start_daemon("hsw-vswitchd", [server.remote] + list(extra), check=check)


def wait_ofport(server, iface, timeout=10):
    """The OpenFlow port hsw-vswitchd wrote for `iface` (waits for a value)."""
    result = {}

    def have():
        value = server.get("Interface", iface, "ofport")
        if value not in ("[]", ""):
            result["ofport"] = int(value)
            return True
        return False
    wait_for(have, timeout, "Interface %s ofport" % iface, interval=0.05)
    return result["ofport"]
