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


def prepare(testcase):
    """The common start of a test that uses OVS's tools: fails (never skips)
    when they are missing, then the World's namespaces and static ARP."""
    problem = ovs_tools_problem()
    if problem:
        testcase.fail(problem)
    testcase.w.create_topology()
    testcase.w.static_arp()


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


# The system paths Open vSwitch's scripts hard-code, and what each is bound
# to under a SystemRoot.  /run as a whole because /run/openvswitch does not
# exist until Debian's service first starts, and a test creates nothing on
# the system: the private /run has an openvswitch/ directory of its own.
SYSTEM_DIRS = (("/run", "run"), ("/var/lib/openvswitch", "lib"),
               ("/var/log/openvswitch", "log"), ("/etc/openvswitch", "etc"))
OVS_VSWITCHD = "/usr/sbin/ovs-vswitchd"
OVS_CTL = "/usr/share/openvswitch/scripts/ovs-ctl"
OVS_SAVE = "/usr/share/openvswitch/scripts/ovs-save"

# Run by `sh -c` in a fresh mount namespace: binds SRC DST pairs up to "--",
# optionally pretends the openvswitch kernel module is loaded, then execs the
# command.  A bind that fails stops everything (exit 125): a command must
# never run against the real system path by accident.
_MOUNT_AND_EXEC = r'''
while [ "$1" != "--" ]; do
  if [ "$1" = "fake-kmod" ]; then
    mount -t tmpfs hsw-test-sysmodule /sys/module && mkdir /sys/module/openvswitch || exit 125
    shift; continue
  fi
  mount --bind "$1" "$2" || { echo "bind $1 over $2 failed" >&2; exit 125; }
  shift 2
done
shift
exec "$@"
'''


class SystemRoot:
    """A private copy of the system paths OVS's scripts use, seen through a
    mount namespace, so that a script written for a real node (pidfile in
    /var/run/openvswitch, /usr/sbin/ovs-vswitchd, saved flows in
    /var/lib/openvswitch) runs unchanged without touching the system.

    `vswitchd`: a binary bound over /usr/sbin/ovs-vswitchd (hsw-vswitchd, as
    a user installs hsw in place of Open vSwitch), or None for Debian's own.
    Every command runs in the World's switch namespace with a clean,
    container-like environment; the log directory is the World's, so that a
    failing test prints ovs-vswitchd.log with the rest.  `fake_kmod` makes
    /sys/module/openvswitch exist for `ovs-ctl start`, which insists on
    loading the kernel module that neither hsw nor OVS's userspace datapath
    uses (this machine has none)."""

    def __init__(self, world, name="root", vswitchd=None, fake_kmod=False):
        self.w = world
        self.root = os.path.join(world.tmp, name)
        self.vswitchd = vswitchd
        self.fake_kmod = fake_kmod
        self.dirs = {}
        for system, sub in SYSTEM_DIRS:
            host = world.logdir if sub == "log" else os.path.join(self.root, sub)
            os.makedirs(host, exist_ok=True)
            self.dirs[system] = host
        os.makedirs(self.path("/run/openvswitch"), exist_ok=True)
        self.env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "HOME": self.root, "LANG": "C.UTF-8",
                    # hsw-vswitchd finds hsw-datapath here, as it would in
                    # /usr/sbin beside itself on an installed node.
                    "HSW_BINDIR": hswtest.BIN}

    def path(self, system_path):
        """Where a system path of this root really is."""
        for system, host in self.dirs.items():
            if system_path == system or system_path.startswith(system + "/"):
                return host + system_path[len(system):]
        raise ValueError("%s is not under a private system directory" % system_path)

    def cmd(self, argv):
        binds = []
        for system, host in self.dirs.items():
            binds += [host, system]
        if self.vswitchd:
            binds += [self.vswitchd, OVS_VSWITCHD]
        if self.fake_kmod:
            binds.append("fake-kmod")
        return self.w.ns_cmd("sw", ["unshare", "--mount", "--propagation", "private",
                                    "sh", "-c", _MOUNT_AND_EXEC, "sh"] + binds + ["--"] +
                             list(argv))

    def run(self, *argv, check=True, timeout=60, env=None):
        return run(self.cmd(argv), check=check, timeout=timeout,
                   env=dict(self.env, **(env or {})))

    def popen(self, *argv, env=None, **kw):
        return self.w.track(subprocess.Popen(self.cmd(argv), env=dict(self.env, **(env or {})),
                                             **kw))

    def pid(self, daemon):
        try:
            with open(self.path("/run/openvswitch/%s.pid" % daemon)) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def start_ovsdb_server(self):
        """The database as a node's ovsdb-server container starts it: a
        fresh /etc/openvswitch/conf.db, served on /var/run/openvswitch/db.sock."""
        if not os.path.exists(self.path("/etc/openvswitch/conf.db")):
            self.run(OVSDB_TOOL, "create", "/etc/openvswitch/conf.db", SCHEMA)
        self.run(OVSDB_SERVER, "/etc/openvswitch/conf.db", "--pidfile", "--overwrite-pidfile",
                 "--remote=punix:/var/run/openvswitch/db.sock", "--detach", "--log-file")
        self.w.extra_pids.append(self.pid("ovsdb-server"))
        self.run(OVS_VSCTL, "--no-wait", "init")

    def track_daemons(self):
        """Adds the pids in the private pidfiles to what cleanup kills."""
        for daemon in ("ovsdb-server", "ovs-vswitchd"):
            pid = self.pid(daemon)
            if pid and pid not in self.w.extra_pids:
                self.w.extra_pids.append(pid)
