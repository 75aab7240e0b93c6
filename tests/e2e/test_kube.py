#!/usr/bin/python3
"""deploy/kubernetes/hsw-node.yaml run for real: its pod template under
Debian's podman (`podman kube play`), in a private podman store, podman itself run in the
test's own network namespace, which the pod's hostNetwork then is.

podman 4.3 plays Pods, not DaemonSets, and runs neither readiness probes nor
preStop hooks, so the test does what the kubelet and the DaemonSet
controller would: it derives the Pod from the DaemonSet's template (the
hostPath volumes pointed at the test's directories, the ConfigMap's ports
at the test's veths), runs the probes and the preStop hook exactly as the
manifest writes them, and replaces the pod the way `maxSurge: 1,
maxUnavailable: 0` does -- the new pod (a new image: hsw-datapath-next)
first, the old one deleted once the new one is Ready -- while traffic
crosses the switch: 0 packets lost.
"""

import copy
import os
import shutil
import time

import yaml

import hswtest
from hswtest import run, wait_for
from podmantest import Podman

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MANIFEST = os.path.join(REPO, "deploy", "kubernetes", "hsw-node.yaml")
BUILD_IMAGE = os.path.join(REPO, "deploy", "image", "build-image.sh")

def load_manifest():
    with open(MANIFEST) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    kinds = {d["kind"]: d for d in docs}
    return kinds["DaemonSet"], kinds["ConfigMap"]


class KubeTestCase(hswtest.HswTestCase):
    START = False
    N_HOSTS = 3

    def setUp(self):
        super().setUp()
        if shutil.which("podman") is None or shutil.which("runc") is None:
            self.fail("podman and runc are needed (scripts/install-deps.sh installs them)")
        self.daemonset, self.configmap = load_manifest()
        self.w.create_topology()
        self.w.static_arp()
        self.podman = Podman(os.path.join(self.w.tmp, "podman"))
        self.addCleanup(self.podman.cleanup)
        self.addCleanup(self.dump_pods)  # runs first: before the pods go
        self.pods = os.path.join(self.w.tmp, "pods")
        os.makedirs(self.pods)
        self.container = self.daemonset["spec"]["template"]["spec"]["containers"][0]

    # -- images and pods -----------------------------------------------------
    def build_image(self, tag, datapath=None):
        cmd = [BUILD_IMAGE, "--build", os.path.dirname(hswtest.BIN), "--tag", tag]
        if datapath:
            cmd += ["--datapath", datapath]
        p = run(cmd, env=self.podman.env, timeout=300)
        hswtest.log(p.stdout.strip())

    def pod_yaml(self, name, image):
        """The DaemonSet's pod template as a Pod, and its ConfigMap, as the
        kubelet would get them on this node."""
        template = copy.deepcopy(self.daemonset["spec"]["template"])
        spec = template["spec"]
        # hostNetwork stays: podman is run in the test's switch namespace,
        # which the pod then shares as it would the host's (podman 4.3 has
        # no `--network ns:PATH` for pods).
        self.assertTrue(spec["hostNetwork"])
        dirs = {"/run/hsw": self.w.rundir, "/var/lib/hsw": self.w.statedir,
                "/var/log/hsw": self.w.logdir}
        for volume in spec["volumes"]:
            if "hostPath" in volume:
                volume["hostPath"]["path"] = dirs[volume["hostPath"]["path"]]
        spec["containers"][0]["image"] = image
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "labels": template["metadata"]["labels"]},
               "spec": spec}
        configmap = copy.deepcopy(self.configmap)
        configmap["data"]["bridge.br0.ports"] = " ".join(
            "p%d:%d" % (self.w.index(h), self.w.ofport(h)) for h in self.w.hosts)
        path = os.path.join(self.pods, name + ".yaml")
        with open(path, "w") as f:
            yaml.safe_dump_all([configmap, pod], f)
        return path

    def play(self, name, image):
        path = self.pod_yaml(name, image)
        self.podman("kube", "play", path, timeout=180, netns=self.w.sw)
        return name + "-" + self.container["name"]  # podman's container name

    def probe(self, kind):
        """The manifest's `kind` probe (an httpGet), once, as the kubelet
        sends it: from the pod's network namespace.  True when it passed."""
        get = self.container[kind]["httpGet"]
        url = "http://%s:%d%s" % (get["host"], get["port"], get["path"])
        p = run(self.w.ns_cmd("sw", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                     "--max-time", str(self.container[kind]["timeoutSeconds"]),
                                     url]), check=False)
        return 200 <= int(p.stdout or 0) < 400

    def wait_probe(self, kind, container):
        """Probes every periodSeconds until it passes, at most
        failureThreshold times, as the kubelet does."""
        probe = self.container[kind]
        for _ in range(probe["failureThreshold"]):
            if self.probe(kind):
                return
            time.sleep(probe["periodSeconds"])
        self.fail("%s of %s failed %d times; its log:\n%s" %
                  (kind, container, probe["failureThreshold"], self.pod_log(container)))

    def dump_pods(self):
        if not self._failed():
            return
        names = self.podman("ps", "--all", "--format", "{{.Names}}", check=False).stdout.split()
        for name in names:
            # The sidecar's own lines; the daemons' are in the log files.
            lines = [l for l in self.pod_log(name, tail=None).splitlines()
                     if any("|%s|" % m in l for m in ("sidecar", "supervisor", "http",
                                                        "config_watch"))
                     or not l.startswith("20")]
            hswtest.log("---- podman logs %s (the sidecar's lines)\n%s" %
                        (name, "\n".join(lines[-80:])))

    def pod_log(self, container, tail=6000):
        # podman logs gives the container's stderr (the sidecar's own log)
        # on its stderr, the daemons' lines (printed on stdout) on stdout.
        p = self.podman("logs", container, check=False)
        out = p.stderr + p.stdout
        return out[-tail:] if tail else out

    def pre_stop(self, container):
        """The manifest's preStop hook, run in `container` as the kubelet
        runs it."""
        command = self.container["lifecycle"]["preStop"]["exec"]["command"]
        return self.podman("exec", container, *command, check=False, timeout=60)

    def delete_pod(self, name):
        """The pod deleted: its preStop is run first by the caller; then
        SIGTERM and at most the grace period before SIGKILL."""
        grace = self.daemonset["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        self.podman("pod", "rm", "--force", "--time", str(grace), name, timeout=grace + 60)

    def dp_version(self):
        """The running datapath's version: dp-show's first line,
        "hsw-datapath VERSION (pid ...)"."""
        return self.w.ctl("dp-show").stdout.split()[1]

    # -- tests -----------------------------------------------------------------
    def test_manifest_asks_for_a_surge_update(self):
        """What the rolling update below relies on is what the manifest says."""
        update = self.daemonset["spec"]["updateStrategy"]
        self.assertEqual(update["type"], "RollingUpdate")
        self.assertEqual(update["rollingUpdate"], {"maxSurge": 1, "maxUnavailable": 0})
        spec = self.daemonset["spec"]["template"]["spec"]
        self.assertGreater(spec["terminationGracePeriodSeconds"], 0)
        self.assertIn("--take-over", self.container["command"])
        self.assertIn("--local-only", self.container["lifecycle"]["preStop"]["exec"]["command"])
        paths = {v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
        self.assertEqual(paths, {"/run/hsw", "/var/lib/hsw", "/var/log/hsw"})
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            self.assertEqual(self.container[kind]["httpGet"]["port"], 9476, kind)

    def test_rolling_update_to_a_new_image_loses_nothing(self):
        w = self.w
        version = run([w.bin("hsw-ctl"), "--version"]).stdout.split()[-1]
        self.build_image("localhost/hsw:test")
        self.build_image("localhost/hsw:next", datapath=w.bin("hsw-datapath-next"))

        old = self.play("hsw-node-a", "localhost/hsw:test")
        self.wait_probe("startupProbe", old)
        self.wait_probe("readinessProbe", old)
        # The ConfigMap made br0 with the test's ports; traffic needs rules.
        wait_for(lambda: w.ctl("show", check=False).returncode == 0, 30, "hsw-vswitchd")
        self.connect_pairs(("h1", "h2"))
        self.assertEqual(self.dp_version(), version)

        rx = w.recv("h2", 9000, announce=500)
        sender = w.start_send("h1", "h2", 9000, 5000, 600, "--src-port", "41000")
        rx.wait_received(500)

        # maxSurge: the new pod first; Ready only once it took over.
        new = self.play("hsw-node-b", "localhost/hsw:next")
        self.wait_probe("startupProbe", new)
        self.wait_probe("readinessProbe", new)
        # Ready means taken over: the datapath answering is the new image's.
        self.assertEqual(self.dp_version(), version + "+next", self.pod_log(new))
        wait_for(lambda: "take-over done" in self.pod_log(new, tail=None), 10,
                 "the new pod's sidecar to log its take-over")

        # The old pod goes: its preStop stops nothing of the new pod's.
        stop = self.pre_stop(old)
        self.assertEqual(stop.returncode, 0, stop.stdout + stop.stderr)
        self.assertIn("another pid namespace", stop.stdout + stop.stderr)
        self.delete_pod("hsw-node-a")
        time.sleep(1)  # traffic after the old pod is gone
        self.assertTrue(self.probe("livenessProbe"), self.pod_log(new))
        self.assertTrue(self.probe("readinessProbe"), self.pod_log(new))

        sent, report = self.end_traffic(sender, rx, "DaemonSet rolling update")
        self.assert_no_loss(report, sent=sent["sent"])
        self.assertEqual(self.dp_version(), version + "+next")
        self.assert_new_flows_work()

        # Deleted for good (no successor): the preStop stops the daemons.
        stop = self.pre_stop(new)
        self.assertEqual(stop.returncode, 0, stop.stdout + stop.stderr)
        for daemon in w.DAEMONS:
            free = run(["flock", "--nonblock", os.path.join(w.rundir, daemon + ".lock"), "true"],
                       check=False)
            self.assertEqual(free.returncode, 0, "%s still runs after the preStop" % daemon)
        self.delete_pod("hsw-node-b")

    def test_a_refused_take_over_changes_nothing_and_the_pod_is_not_ready(self):
        """A new image whose hsw-datapath is not one (coreutils' true): the
        take-over is refused before anything is touched, the node reports
        not ready (so a rolling update stops there), the old pod's daemons
        forward on, and once the bad pod is deleted the node is ready again."""
        w = self.w
        self.build_image("localhost/hsw:test")
        self.build_image("localhost/hsw:bad", datapath="/usr/bin/true")
        old = self.play("hsw-node-a", "localhost/hsw:test")
        self.wait_probe("startupProbe", old)
        self.wait_probe("readinessProbe", old)
        wait_for(lambda: w.ctl("show", check=False).returncode == 0, 30, "hsw-vswitchd")
        self.connect_pairs(("h1", "h2"))
        before = w.ctl("dp-show").stdout.splitlines()[0]
        vswitchd = w.daemon_pid("hsw-vswitchd")

        rx = w.recv("h2", 9000, announce=500)
        sender = w.start_send("h1", "h2", 9000, 5000, 600, "--src-port", "41000")
        rx.wait_received(500)
        bad = self.play("hsw-node-b", "localhost/hsw:bad")
        wait_for(lambda: "take-over failed" in self.pod_log(bad, tail=None), 30,
                 "the bad pod's sidecar to refuse the take-over")
        self.assertIn("/usr/bin/hsw-datapath --version --json", self.pod_log(bad, tail=None))
        # Not ready, whichever sidecar answers the probe.
        for _ in range(5):
            self.assertFalse(self.probe("readinessProbe"))
        self.assertTrue(self.probe("livenessProbe"))
        self.assertEqual(w.ctl("dp-show").stdout.splitlines()[0], before)
        self.assertEqual(w.daemon_pid("hsw-vswitchd"), vswitchd)

        stop = self.pre_stop(bad)
        self.assertEqual(stop.returncode, 0, stop.stdout + stop.stderr)
        self.delete_pod("hsw-node-b")
        self.wait_probe("readinessProbe", old)
        sent, report = self.end_traffic(sender, rx, "a refused take-over")
        self.assert_no_loss(report, sent=sent["sent"])
        self.assertEqual(w.daemon_pid("hsw-vswitchd"), vswitchd)


if __name__ == "__main__":
    hswtest.main()
