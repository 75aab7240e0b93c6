#!/bin/bash
# Installs every Debian 12 package that building and testing hsw needs.
# Fast on a prepared machine: apt is not touched when dpkg already has them all.
set -euo pipefail

PACKAGES=(
  # toolchain (clang: sanitizer and libFuzzer builds)
  g++ clang cmake ninja-build pkg-config
  # libraries
  libexpected-dev libfmt-dev libspdlog-dev libcli11-dev nlohmann-json3-dev libxxhash-dev
  libcpp-httplib-dev libsystemd-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # end-to-end tests and the demo: namespaces, veths, real OVS and os-ken clients
  python3 iproute2 iputils-ping openvswitch-common python3-os-ken python3-scapy tcpdump ethtool
  # ovs-vsctl and vswitch.ovsschema (the OVSDB client's tests); installed
  # without starting Debian's services, see below
  openvswitch-switch
  # hsw-sidecar's tests: an HTTP client and a real Prometheus text parser
  curl python3-prometheus-client
  # the DaemonSet's pod under podman kube play (test_kube): podman with runc
  # (not crun) and catatonit for its pause container (both only recommended
  # otherwise); the manifest read by python3-yaml
  podman runc catatonit python3-yaml
  # deploy/kubernetes validated against the API types of the official client
  python3-kubernetes
)
# Packages whose maintainer scripts would start a system service: installed
# with a policy-rc.d that forbids it, so a machine that builds hsw gets no
# ovsdb-server/ovs-vswitchd of Debian's running (tests start their own).
SERVICE_PACKAGES=" openvswitch-switch "

missing=()
for p in "${PACKAGES[@]}"; do
  # dpkg -s succeeds for removed-but-configured packages too; check the state.
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root to install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
plain=()
services=()
for p in "${missing[@]}"; do
  if [[ "$SERVICE_PACKAGES" == *" $p "* ]]; then services+=("$p"); else plain+=("$p"); fi
done
if [ ${#plain[@]} -gt 0 ]; then
  apt-get install -y --no-install-recommends "${plain[@]}"
fi
if [ ${#services[@]} -gt 0 ]; then
  # invoke-rc.d asks /usr/sbin/policy-rc.d; exit 101 = "action forbidden".
  # Ours only if none was there, and removed even when apt-get fails.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get install -y --no-install-recommends "${services[@]}"
fi
