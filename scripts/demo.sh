#!/bin/bash
# The README's first command: install dependencies, build, run the demo
# (UDP across hsw between two namespace hosts, through a kill -9 of
# hsw-vswitchd).  Needs root, for the namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
HSW_BIN=$(realpath "${HSW_BUILD_DIR:-build}")/bin exec demo/run
