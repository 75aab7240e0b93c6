#!/bin/bash
# Configures and builds hsw with CMake + Ninja.
#   scripts/build.sh            -> build/       (RelWithDebInfo)
#   scripts/build.sh --asan     -> build-asan/  (AddressSanitizer + UBSan)
# HSW_BUILD_DIR overrides the directory (e.g. to keep several builds side by side).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build
flags=()
if [ "${1:-}" = "--asan" ]; then
  dir=build-asan
  flags+=(-DHSW_SANITIZE=ON)
fi
dir=${HSW_BUILD_DIR:-$dir}
cmake -S . -B "$dir" -G Ninja "${flags[@]}" >/dev/null
ninja -C "$dir"
echo "build: binaries in $dir/bin"
