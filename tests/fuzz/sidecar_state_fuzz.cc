// Fuzzes the two files the sidecar reads back from disk: a daemon's exit
// record (<rundir>/<daemon>.exited, which decides "stopped" vs "crashed")
// and the log follower's position file.  Both may be truncated by a crash or
// edited by hand: anything at all must give a value or "none", never a
// crash, and a record that parses names a real pid.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "common/daemon.h"
#include "sidecar/log_follow.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto record = hsw::daemon::ParseExitRecord(text); record && record->pid <= 0) {
    std::fprintf(stderr, "sidecar_state_fuzz: accepted pid %d\n", static_cast<int>(record->pid));
    std::abort();
  }
  bool valid = false;
  auto positions = hsw::sidecar::ParseFollowPositions(text, &valid);
  if (!valid && !positions.empty()) {
    std::fprintf(stderr, "sidecar_state_fuzz: positions from an invalid file\n");
    std::abort();
  }
  return 0;
}
