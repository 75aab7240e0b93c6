"""End-to-end harness for hsw: network namespaces, veths, the real daemons.

Every test gets a fresh world:

  * a switch namespace (<prefix>-sw) that holds the switch side of every veth
    (p1, p2, p3) and in which hsw-datapath, hsw-vswitchd and hsw-ctl run, so
    nothing of a test touches the root namespace's interfaces;
  * host namespaces (<prefix>-h1 ...), each with one veth end "eth0" at
    10.0.0.N/24 and MAC 02:00:00:00:00:0N;
  * a temp dir for HSW_RUNDIR / HSW_STATEDIR / HSW_LOGDIR.

Cleanup (daemons, processes left in our namespaces, namespaces, temp dir)
runs from the test's cleanups, from atexit, and on SIGTERM/SIGINT, so a
failing or interrupted test leaves nothing behind.  Stale worlds of dead test
processes (same prefix scheme, pid no longer alive) are removed at start.

Run with Debian's /usr/bin/python3; exit 77 (ctest: skipped) without root or
without working `ip netns`.  HSW_BUILD_DIR locates build/bin (ctest sets it).
Stdlib only.
"""

import atexit
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("HSW_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))
BUILD_DIR = os.environ.get("HSW_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
BIN = os.path.join(BUILD_DIR, "bin")
OVS_OFCTL = shutil.which("ovs-ofctl") or "/usr/bin/ovs-ofctl"
NS_PREFIX = "hswt"
CMD_TIMEOUT = 30


def log(msg):
    sys.stderr.write("[hswtest] %s\n" % msg)
    sys.stderr.flush()


def run(cmd, check=True, timeout=CMD_TIMEOUT, **kw):
    """Runs a command, captures its output as text; raises with both on failure."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError("command failed (exit %d): %s\nstdout: %s\nstderr: %s" %
                             (p.returncode, " ".join(cmd), p.stdout, p.stderr))
    return p


# ---------------------------------------------------------------------------
# Skip conditions and stale cleanup

def environment_problem():
    """None when e2e tests can run here, else why not."""
    if os.geteuid() != 0:
        return "not root"
    if not shutil.which("ip"):
        return "no iproute2"
    probe = "%s-probe-%d" % (NS_PREFIX, os.getpid())
    try:
        r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, timeout=10)
        if r.returncode != 0:
            return "ip netns unusable: %s" % r.stderr.decode(errors="replace").strip()
        subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        return "ip netns unusable: %s" % e
    return None


def remove_stale_worlds():
    """Deletes namespaces left by test processes that died without cleanup.

    Only names of our own scheme (hswt<pid>-...) whose pid is gone: tests of
    other engineers running at the same time keep theirs.
    """
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(r"^%s(\d+)-" % NS_PREFIX, name)
        if not m:
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or os.path.exists("/proc/%d" % pid):
            continue
        kill_namespace_processes(name)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    tmp = tempfile.gettempdir()
    for entry in os.listdir(tmp):
        m = re.match(r"^hsw-e2e-(\d+)-", entry)
        if m and not os.path.exists("/proc/%s" % m.group(1)):
            shutil.rmtree(os.path.join(tmp, entry), ignore_errors=True)


def kill_namespace_processes(ns):
    r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
    for pid in r.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


# ---------------------------------------------------------------------------
# pcap and hsw-traffic header parsing (for captures on hosts whose kernel
# would not deliver a packet to a socket, e.g. after a redirect)

TRAFFIC_MAGIC = 0x48535754
TRAFFIC_HEADER = struct.Struct("!IBBHQIIQQQ")  # 48 bytes, see tools/traffic/wire.h


def read_pcap(path):
    """Returns the frames of a classic pcap file (tcpdump -w), as bytes."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        endian = ">"
    else:
        raise ValueError("%s: not a pcap file" % path)
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        raise ValueError("%s: link type %d, expected Ethernet" % (path, linktype))
    frames, off = [], 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        frames.append(data[off:off + incl])
        off += incl
    return frames


def traffic_packets(frames, udp_port=None):
    """(run_id, flow, seq, is_end) of each hsw-traffic IPv4/UDP frame."""
    out = []
    for fr in frames:
        if len(fr) < 14 + 20 + 8 + TRAFFIC_HEADER.size:
            continue
        eth_type = struct.unpack("!H", fr[12:14])[0]
        off = 14
        if eth_type == 0x8100:
            eth_type = struct.unpack("!H", fr[16:18])[0]
            off = 18
        if eth_type != 0x0800 or fr[off + 9] != 17:
            continue
        ihl = (fr[off] & 0x0F) * 4
        udp = off + ihl
        dport = struct.unpack("!H", fr[udp + 2:udp + 4])[0]
        if udp_port is not None and dport != udp_port:
            continue
        payload = fr[udp + 8:]
        if len(payload) < TRAFFIC_HEADER.size:
            continue
        magic, ver, flags, _, run_id, flow, _, seq, _, _ = TRAFFIC_HEADER.unpack(
            payload[:TRAFFIC_HEADER.size])
        if magic != TRAFFIC_MAGIC or ver != 1:
            continue
        out.append((run_id, flow, seq, bool(flags & 1)))
    return out


# ---------------------------------------------------------------------------
# Processes in namespaces

class Receiver:
    """A running `hsw-traffic recv`; result() waits for it and parses its JSON."""

    def __init__(self, world, host, port, args, announce=None):
        self.announce = announce
        if announce:
            args = args + ["--announce", str(announce)]
        self.cmd = world.ns_cmd(host, [world.bin("hsw-traffic"), "recv", "--listen",
                                       "%s:%d" % (world.ip(host), port), "--json"] + args)
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        world.track(self.proc)
        # Wait for the "listening" line instead of sleeping: a sender started
        # after this returns cannot race the bind.
        line = read_line(self.proc.stderr, 10)
        if "listening on" not in line:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError("hsw-traffic recv did not start: %s%s%s" % (line, out, err))

    def wait_received(self, n, timeout=30):
        """Returns once `n` packets have arrived (the receiver was started
        with --announce n and says so on stderr)."""
        if n != self.announce:
            raise AssertionError("receiver announces at %s packets, not %s" % (self.announce, n))
        if not read_line_matching(self.proc.stderr, "received", timeout):
            raise AssertionError("fewer than %d packets arrived in %ss" % (n, timeout))

    def stop(self, timeout=30):
        """Stops a receiver that will see no end marker; its report."""
        self.proc.send_signal(signal.SIGINT)
        return self.result(timeout)

    def result(self, timeout=60):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError("hsw-traffic recv did not finish in %ss: %s %s" %
                                 (timeout, out, err))
        if self.proc.returncode != 0:
            raise AssertionError("hsw-traffic recv exited %d: %s %s" %
                                 (self.proc.returncode, out, err))
        return json.loads(out.strip().splitlines()[-1])


class Capture:
    """tcpdump on a host's eth0, written to a pcap file; stop() ends it and
    returns the frames.  kernel_drops tells whether the capture itself missed
    packets, so that a test can tell the switch's loss from tcpdump's."""

    def __init__(self, world, host, bpf="udp"):
        self.path = os.path.join(world.tmp, "cap-%s-%d.pcap" % (host, len(world.procs)))
        self.proc = subprocess.Popen(
            world.ns_cmd(host, ["tcpdump", "-i", "eth0", "-n", "-U", "-s", "256", "-B", "16384",
                                "--immediate-mode", "-w", self.path, bpf]),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        world.track(self.proc)
        line = read_line(self.proc.stderr, 10)
        if "listening on" not in line:
            self.proc.kill()
            raise AssertionError("tcpdump did not start: %s %s" %
                                 (line, self.proc.stderr.read()))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rest = self.proc.stderr.read()
        self.proc.stderr.close()
        m = re.search(r"(\d+) packets? dropped by kernel", rest)
        self.kernel_drops = int(m.group(1)) if m else 0
        return read_pcap(self.path)


def read_line(stream, timeout):
    """One line from a pipe, or what there is after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    buf = ""
    fd = stream.fileno()
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        ch = os.read(fd, 1).decode(errors="replace")
        if not ch:
            break
        buf += ch
        if ch == "\n":
            break
    return buf


def read_line_matching(stream, pattern, timeout):
    """Reads lines from a pipe until one contains `pattern` (bytes or str,
    as the stream is); the line, or None after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    text = isinstance(pattern, str)
    while time.monotonic() < deadline:
        line = read_line(stream, max(0.0, deadline - time.monotonic()))
        if not line:
            return None
        if (pattern if text else pattern.decode()) in line:
            return line
    return None


# ---------------------------------------------------------------------------
# The world: namespaces, veths, daemons

_live_worlds = []


def _cleanup_all():
    for w in list(_live_worlds):
        w.cleanup()


def _on_signal(signum, frame):
    # Not sys.exit: unittest would record SystemExit as one test's error and
    # carry on with the next test.
    _cleanup_all()
    log("interrupted by signal %d; cleaned up" % signum)
    os._exit(128 + signum)


class World:
    DAEMONS = ("hsw-datapath", "hsw-vswitchd")

    def __init__(self, n_hosts=3, name="t"):
        self.prefix = "%s%d-%s" % (NS_PREFIX, os.getpid(), name)
        self.sw = self.prefix + "-sw"
        self.hosts = ["h%d" % (i + 1) for i in range(n_hosts)]
        self.tmp = tempfile.mkdtemp(prefix="hsw-e2e-%d-" % os.getpid())
        self.rundir = os.path.join(self.tmp, "run")
        self.statedir = os.path.join(self.tmp, "state")
        self.logdir = os.path.join(self.tmp, "log")
        for d in (self.rundir, self.statedir, self.logdir):
            os.makedirs(d)
        self.env = dict(os.environ, HSW_RUNDIR=self.rundir, HSW_STATEDIR=self.statedir,
                        HSW_LOGDIR=self.logdir)
        self.procs = []
        # Daemons a test started outside the namespaces (ovsdb-server on its
        # own unix socket): killed by cleanup like the rest.
        self.extra_pids = []
        self.namespaces = []
        self.cleaned = False
        _live_worlds.append(self)

    # -- names -------------------------------------------------------------
    def ns(self, host):
        return self.sw if host == "sw" else "%s-%s" % (self.prefix, host)

    @staticmethod
    def index(host):
        return int(host[1:])

    def ip(self, host):
        return "10.0.0.%d" % self.index(host)

    def mac(self, host):
        return "02:00:00:00:00:%02x" % self.index(host)

    def ofport(self, host):
        return self.index(host)

    def bin(self, name):
        return os.path.join(BIN, name)

    def mgmt(self, bridge="br0"):
        return os.path.join(self.rundir, bridge + ".mgmt")

    def pidfile(self, daemon):
        return os.path.join(self.rundir, daemon + ".pid")

    def ns_cmd(self, host, cmd):
        return ["ip", "netns", "exec", self.ns(host)] + list(cmd)

    def track(self, proc):
        self.procs.append(proc)
        return proc

    # -- topology ----------------------------------------------------------
    def create_topology(self):
        run(["ip", "netns", "add", self.sw])
        self.namespaces.append(self.sw)
        run(["ip", "-n", self.sw, "link", "set", "lo", "up"])
        for h in self.hosts:
            ns = self.ns(h)
            run(["ip", "netns", "add", ns])
            self.namespaces.append(ns)
            port = "p%d" % self.index(h)
            run(["ip", "-n", self.sw, "link", "add", port, "type", "veth",
                 "peer", "name", "eth0", "netns", ns])
            # No IPv6 on the hosts: router solicitations and MLD reports would
            # be extra packets crossing the switch that no test asked for.
            run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                 "net.ipv6.conf.all.disable_ipv6=1"])
            run(["ip", "-n", ns, "link", "set", "eth0", "address", self.mac(h)])
            run(["ip", "-n", ns, "addr", "add", self.ip(h) + "/24", "dev", "eth0"])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
            run(["ip", "-n", ns, "link", "set", "eth0", "up"])
            run(["ip", "-n", self.sw, "link", "set", port, "up"])
        # Deliberately no `ethtool -K ... tx off`: veths hand the switch frames
        # with partial checksums, and hsw must cope with that by itself.
        self.wait_carrier()

    def wait_carrier(self, timeout=10):
        """Waits until every veth end has carrier.  The kernel raises carrier
        on a veth up to a second after both ends are up (linkwatch); a test
        that starts sending before then loses packets that no switch saw."""
        def link_states(ns):
            out = run(["ip", "-n", ns, "-o", "link", "show"]).stdout
            return [l for l in out.splitlines() if " lo:" not in l]

        def all_up():
            for ns in [self.sw] + [self.ns(h) for h in self.hosts]:
                for line in link_states(ns):
                    if "NO-CARRIER" in line or "LOWER_UP" not in line:
                        return False
            return True
        wait_for(all_up, timeout, "carrier on every veth", interval=0.05)

    def static_arp(self):
        """Permanent neighbour entries on every host, so that UDP tests do not
        depend on ARP timing (ARP crossing the switch is tested by ping)."""
        for h in self.hosts:
            for other in self.hosts:
                if other != h:
                    run(["ip", "-n", self.ns(h), "neigh", "replace", self.ip(other),
                         "lladdr", self.mac(other), "dev", "eth0", "nud", "permanent"])

    # -- daemons -----------------------------------------------------------
    def start_daemon(self, name, extra=(), check=True, binary=None):
        """Starts a daemon with --detach in the switch namespace.

        --detach returns once the daemon is ready, so no wait follows.  The
        daemon keeps our stdout/stderr after detaching, so both go to a file
        (a pipe would never reach EOF while the daemon lives).  Returns a
        CompletedProcess whose stderr is what this start wrote to the file.
        `binary` runs another build of the daemon `name` (hsw-datapath-next)."""
        path = os.path.join(self.logdir, name + ".console")
        with open(path, "ab") as console:
            offset = console.tell()
            # `extra` first: a positional argument (hsw-vswitchd's DATABASE)
            # after --log-file would be taken as the log file's name.
            cmd = self.ns_cmd("sw", [self.bin(binary or name)] + list(extra) +
                              ["--detach", "--pidfile", "--log-file"])
            p = subprocess.run(cmd, stdout=console, stderr=console, env=self.env,
                               timeout=CMD_TIMEOUT)
        with open(path, "rb") as f:
            f.seek(offset)
            p.stderr = f.read().decode(errors="replace")
        if check and p.returncode != 0:
            raise AssertionError("%s --detach failed (exit %d): %s\n%s" %
                                 (name, p.returncode, p.stderr, self.logs()))
        return p

    def daemon_pid(self, name):
        try:
            with open(self.pidfile(name)) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def kill_daemon(self, name, sig=signal.SIGKILL):
        pid = self.daemon_pid(name)
        if pid is None:
            raise AssertionError("no pidfile for %s" % name)
        os.kill(pid, sig)
        return pid

    def stop_daemon(self, name, sig=signal.SIGTERM, timeout=10):
        """Signals a daemon and returns once it is gone: once its instance
        lock (<rundir>/<name>.lock) is free, taken here with flock(1), which
        blocks without polling.  A killed daemon reparented to init may stay a
        zombie for seconds, but its lock is released the moment it dies."""
        pid = self.kill_daemon(name, sig)
        lock = os.path.join(self.rundir, name + ".lock")
        p = subprocess.run(["flock", "--shared", "--wait", str(timeout), lock, "true"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise AssertionError("%s (pid %d) still running %ss after signal %d: %s" %
                                 (name, pid, timeout, sig, p.stderr))
        return pid

    def start(self, bridge="br0"):
        self.create_topology()
        for d in self.DAEMONS:
            self.start_daemon(d)
        if bridge:
            self.ctl("add-br", bridge)
            for h in self.hosts:
                self.ctl("add-port", bridge, "p%d" % self.index(h), "--ofport",
                         str(self.ofport(h)))

    # -- commands ----------------------------------------------------------
    def ctl(self, *args, check=True, timeout=CMD_TIMEOUT):
        return run(self.ns_cmd("sw", [self.bin("hsw-ctl")] + list(args)), check=check,
                   timeout=timeout, env=self.env)

    def ctl_console(self, *args, check=True, timeout=CMD_TIMEOUT * 4):
        """hsw-ctl for commands that start daemons (start, restart): the
        daemons inherit its stdout/stderr and keep them, so these go to the
        console file rather than a pipe that would never reach EOF.  Returns
        what this command (and the daemons meanwhile) wrote there."""
        path = os.path.join(self.logdir, "hsw-ctl.console")
        with open(path, "ab") as console:
            offset = console.tell()
            p = subprocess.run(self.ns_cmd("sw", [self.bin("hsw-ctl")] + list(args)),
                               stdout=console, stderr=console, env=self.env, timeout=timeout)
        with open(path, "rb") as f:
            f.seek(offset)
            out = f.read().decode(errors="replace")
        if check and p.returncode != 0:
            raise AssertionError("hsw-ctl %s failed (exit %d): %s\n%s" %
                                 (" ".join(args), p.returncode, out, self.logs()))
        log("hsw-ctl %s:\n%s" % (" ".join(args), out.rstrip()))
        return out

    def ofctl(self, command, *args, check=True, bridge="br0", timeout=CMD_TIMEOUT):
        """Debian's real ovs-ofctl on the bridge's management socket."""
        return run([OVS_OFCTL, "-O", "OpenFlow13", command, "unix:" + self.mgmt(bridge)] +
                   list(args), check=check, timeout=timeout)

    def ns_exec(self, host, *cmd, check=True, timeout=CMD_TIMEOUT):
        return run(self.ns_cmd(host, cmd), check=check, timeout=timeout, env=self.env)

    def ping(self, src, dst, count=3, interval=0.2, wait=2):
        p = self.ns_exec(src, "ping", "-c", str(count), "-i", str(interval), "-W", str(wait),
                         self.ip(dst), check=False, timeout=count * (interval + wait) + 10)
        return p.returncode == 0, p.stdout + p.stderr

    def recv(self, host, port=9000, *args, announce=None):
        """Starts hsw-traffic recv in `host`; returns once it is listening."""
        return Receiver(self, host, port, list(args), announce)

    def send_cmd(self, src, dst, port=9000, rate=1000, duration=1.0, *args):
        return self.ns_cmd(src, [self.bin("hsw-traffic"), "send", "--dst",
                                 "%s:%d" % (self.ip(dst), port), "--rate", str(rate),
                                 "--duration", str(duration), "--json"] + list(args))

    def send(self, src, dst, port=9000, rate=1000, duration=1.0, *args):
        p = run(self.send_cmd(src, dst, port, rate, duration, *args),
                timeout=duration + 30)
        return json.loads(p.stdout.strip().splitlines()[-1])

    def start_send(self, src, dst, port=9000, rate=1000, duration=1.0, *args):
        return self.track(subprocess.Popen(self.send_cmd(src, dst, port, rate, duration, *args),
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           text=True))

    def capture(self, host, bpf="udp"):
        return Capture(self, host, bpf)

    def dump_flows(self, bridge="br0"):
        """hsw-ctl dump-flows, minus its header line, as a list of lines."""
        out = self.ctl("dump-flows", bridge).stdout
        return [l.strip() for l in out.splitlines() if l.strip() and "reply" not in l]

    # -- diagnostics and cleanup ------------------------------------------
    def logs(self, tail=80):
        parts = []
        for f in sorted(os.listdir(self.logdir)) if os.path.isdir(self.logdir) else []:
            path = os.path.join(self.logdir, f)
            try:
                with open(path, errors="replace") as fh:
                    lines = fh.readlines()
            except OSError:
                continue
            parts.append("---- %s (last %d of %d lines)\n%s" %
                         (path, min(tail, len(lines)), len(lines), "".join(lines[-tail:])))
        return "\n".join(parts)

    def cleanup(self):
        if self.cleaned:
            return
        self.cleaned = True
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            for stream in (p.stdout, p.stderr):
                if stream:
                    stream.close()
        for pid in self.extra_pids:
            if process_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for d in self.DAEMONS:
            pid = self.daemon_pid(d)
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        # Whatever still runs in our namespaces was started by this test
        # (daemons restarted by a test, helpers); nothing else can be there.
        for ns in self.namespaces:
            kill_namespace_processes(ns)
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        if not os.environ.get("HSW_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)
        if self in _live_worlds:
            _live_worlds.remove(self)


class HswTestCase(unittest.TestCase):
    """A test with a running switch: self.w is the World, br0 has one port
    per host (p1..pN, OpenFlow port N) and no rules."""

    N_HOSTS = 3
    START = True

    def setUp(self):
        missing = [b for b in ("hsw-datapath", "hsw-vswitchd", "hsw-ctl", "hsw-traffic")
                   if not os.access(os.path.join(BIN, b), os.X_OK)]
        if missing:
            # Not a skip: a build that lacks a binary is a failure.
            self.fail("missing binaries in %s: %s (build first)" % (BIN, ", ".join(missing)))
        self.w = World(self.N_HOSTS, name=self._testMethodName[5:13].replace("_", ""))
        self.addCleanup(self._finish)
        if self.START:
            self.w.start()

    def _finish(self):
        if self._failed():
            log("test %s failed; world in %s; daemon logs:\n%s" %
                (self.id(), self.w.tmp, self.w.logs()))
        self.w.cleanup()

    def _failed(self):
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is None:
            return True
        return any(t is self for t, _ in list(result.errors) + list(result.failures))

    # Flow helpers -----------------------------------------------------------
    def add_flow(self, flow, bridge="br0"):
        self.w.ctl("add-flow", bridge, flow)

    def connect_pairs(self, *pairs):
        """in_port rules both ways for each (a, b) host pair."""
        for a, b in pairs:
            self.add_flow("in_port=%d,actions=output:%d" % (self.w.ofport(a), self.w.ofport(b)))
            self.add_flow("in_port=%d,actions=output:%d" % (self.w.ofport(b), self.w.ofport(a)))

    def sender_report(self, sender):
        """The JSON summary of a `start_send` sender that has been told to stop."""
        out, err = sender.communicate(timeout=60)
        self.assertEqual(sender.returncode, 0, err)
        return json.loads(out.strip().splitlines()[-1])

    def end_traffic(self, sender, rx, what):
        """Stops a `start_send` sender that must have run all along (SIGINT:
        it sends its end markers), logs the loss under `what`, and returns
        (sender report, receiver report)."""
        self.assertIsNone(sender.poll(), "the sender stopped during " + what)
        sender.send_signal(signal.SIGINT)
        sent = self.sender_report(sender)
        report = rx.result()
        log("%s under %d packets: %d lost, longest gap %s ms" %
            (what, sent["sent"], report["lost"], report.get("max_gap_ms")))
        return sent, report

    def assert_new_flows_work(self):
        """hsw-vswitchd programs the datapath: a new rule (h1 -> h3, UDP port
        9400), and a 5-tuple that needs a new datapath flow, get through."""
        w = self.w
        self.add_flow("priority=40000,in_port=1,udp,tp_dst=9400,actions=output:3")
        rx = w.recv("h3", 9400)
        sent = w.send("h1", "h3", 9400, 1000, 0.3, "--src-port", "42000")
        self.assert_no_loss(rx.result(), sent=sent["sent"])

    def assert_no_loss(self, report, sent=None):
        msg = json.dumps(report)
        self.assertTrue(report["end_seen"], "end marker not received: " + msg)
        if sent is not None:
            self.assertEqual(report["sent"], sent, msg)
        self.assertGreater(report["received"], 0, msg)
        self.assertEqual(report["lost"], 0, msg)
        self.assertEqual(report["duplicated"], 0, msg)
        self.assertEqual(report["received"], report["sent"], msg)


def main():
    problem = environment_problem()
    if problem:
        log("skipped: %s" % problem)
        sys.exit(SKIP)
    atexit.register(_cleanup_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    remove_stale_worlds()
    unittest.main(verbosity=2)


# ---------------------------------------------------------------------------
# Small helpers shared by tests

def process_alive(pid):
    """True when pid runs and is not a zombie (a killed daemon reparented to
    init can stay a zombie for seconds)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def wait_for(predicate, timeout, what, interval=0.02):
    """Polls a condition that has no event to wait on; fails naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


STAT_FIELDS = ("duration", "n_packets", "n_bytes", "idle_age", "hard_age")
# ovs-ofctl leaves these out when they hold the default; so may hsw-ctl.
DEFAULT_FIELDS = ("cookie=0x0", "table=0", "priority=32768")


def packets_by_flow(dp_dump):
    """{datapath flow: packet count} from `hsw-ctl dp-dump-flows` output."""
    out = {}
    for line in dp_dump.splitlines():
        m = re.match(r"(.*), packets:(\d+),", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def normalize_flow_line(line):
    """A dump-flows line without its counters, as a canonical string: the
    parts of a rule that must survive a dump/restore or appear in both tools."""
    line = line.strip()
    if " actions=" in line:
        head, actions = line.split(" actions=", 1)
    elif "actions=" in line:
        head, actions = line.split("actions=", 1)
    else:
        head, actions = line, ""
    parts = []
    for tok in re.split(r"[,\s]+", head):
        if not tok:
            continue
        key = tok.split("=", 1)[0]
        if key in STAT_FIELDS or tok in DEFAULT_FIELDS:
            continue
        parts.append(tok)
    return ",".join(sorted(parts)) + " actions=" + actions.strip()
