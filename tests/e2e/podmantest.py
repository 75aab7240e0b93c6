"""Debian's podman for the e2e tests, with a store, run root and
configuration of the test's own (never the machine's containers or
images), under the limits of the CI machine."""

import os
import shutil

from hswtest import run

# podman 4.3 in a VM with hybrid cgroups and no CAP_SYS_RESOURCE: runc,
# cgroupfs, no ulimits raised, events in a file (no journald here).
CONTAINERS_CONF = """\
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{dir}/events.log"
"""


class Podman:
    """podman with its own store, run root and configuration under `dir`."""

    def __init__(self, dir):
        self.dir = dir
        os.makedirs(dir)
        self.conf = os.path.join(dir, "containers.conf")
        with open(self.conf, "w") as f:
            f.write(CONTAINERS_CONF.format(dir=dir))
        self.argv = ["podman", "--root", os.path.join(dir, "root"),
                     "--runroot", os.path.join(dir, "runroot"),
                     "--tmpdir", os.path.join(dir, "tmp")]
        self.env = dict(os.environ, CONTAINERS_CONF=self.conf,
                        PODMAN=" ".join(self.argv))

    def __call__(self, *args, check=True, timeout=120, netns=None):
        """`podman ARGS`; in network namespace `netns` if given."""
        cmd = self.argv + list(args)
        if netns:
            # nsenter, not `ip netns exec`: that remounts /sys, hiding the
            # cgroup hierarchy podman needs.
            cmd = ["nsenter", "--net=/run/netns/" + netns] + cmd
        return run(cmd, check=check, timeout=timeout, env=self.env)

    def cleanup(self):
        self("pod", "rm", "--force", "--all", "--time", "0", check=False)
        self("rm", "--force", "--all", "--time", "0", check=False)
        self("system", "reset", "--force", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
