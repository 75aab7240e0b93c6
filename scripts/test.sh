#!/bin/bash
# The README's second command: install dependencies, build, run every test
# (unit tests, fuzz corpus replays, end-to-end tests in network namespaces).
#
#   scripts/test.sh           build/ and all its tests
#   scripts/test.sh --asan    build-asan/ (ASan + UBSan) and all its tests
#   scripts/test.sh --asan -L unit   extra arguments go to ctest
#
# End-to-end tests need root; without it ctest reports them as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=()
dir=build
if [ "${1:-}" = "--asan" ]; then
  mode=(--asan)
  dir=build-asan
  shift
  # Leaks are failures; a UBSan report stops the test that caused it.
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
fi

dir=${HSW_BUILD_DIR:-$dir}
scripts/install-deps.sh
scripts/build.sh "${mode[@]}"
ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" "$@"
