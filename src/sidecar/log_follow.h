// sidecar/log_follow: prints the daemons' log files on the sidecar's stdout,
// so that `kubectl logs` (or journald) shows them, across log rotation,
// without losing or repeating a line -- after fluent-bit's in_tail.
//
// A file is followed by (st_dev, st_ino) and an offset at a line boundary:
//   - renamed away (logrotate's default; the daemon reopens on SIGHUP or
//     `vlog/reopen`): the old file is drained to its end through the open
//     descriptor, then the new file under the name is read from 0;
//   - truncated in place (copytruncate): a size below the offset means the
//     file started again, read from 0;
//   - not there yet: waited for.
// Offsets are kept in a state file, so a sidecar that restarts goes on
// where it stopped; if the file was rotated meanwhile, the rotated copy
// (NAME.1) is drained first when it is the inode that was being read.
// Polled (the caller's period); one poll reads at most a bounded amount so
// that a flood in one file does not starve the others.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.h"

namespace hsw::sidecar {

struct FollowPosition {
  uint64_t dev = 0, ino = 0, offset = 0;
};

// The position file's text: {"PATH": {"dev": N, "ino": N, "offset": N}, ...}.
// Entries of another shape are left out; `valid` says whether the text was
// such an object at all.
std::map<std::string, FollowPosition> ParseFollowPositions(std::string_view text, bool* valid);

class LogFollower {
 public:
  using Sink = std::function<void(const std::string& line)>;  // without '\n'

  // `state_file` keeps every follower's position ("" = none).
  LogFollower(std::vector<std::string> paths, std::string state_file, Sink sink);

  // Reads what is new in every file; returns the number of lines emitted.
  size_t Poll();

 private:
  struct File {
    std::string path;
    UniqueFd fd;
    FollowPosition pos;
    std::string partial;  // bytes after the last '\n'
  };
  size_t Drain(File& file);
  bool Open(File& file, const std::string& path, uint64_t offset);
  void Resume(File& file, const FollowPosition& saved);
  void Save();

  std::vector<File> files_;
  std::string state_file_;
  Sink sink_;
  std::string saved_text_;
};

}  // namespace hsw::sidecar
