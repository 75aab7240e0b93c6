// sidecar/config_watch: applies --config-dir's generations to hsw-vswitchd.
// Polls the directory; a generation it has not seen is translated
// (config_dir.h) and, if every key is good, sent to hsw-vswitchd in one
// `apply-config` call over the control socket.  A refused generation is
// logged at ERR with every problem, shown in /status and counted; the last
// good one stays in force.  A generation that could not be sent (hsw-vswitchd
// down) is tried again on the next poll.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "sidecar/periodic.h"

namespace hsw::sidecar {

struct ConfigStatus {
  std::string dir;
  std::string applied;      // the generation in force ("" = none yet)
  std::string last_seen;    // the newest generation read
  std::string last_error;   // why the newest was refused ("" = it was not)
  uint64_t applied_total = 0, refused_total = 0;
};

class ConfigWatcher {
 public:
  ConfigWatcher(std::string dir, std::string vswitchd_control,
                std::chrono::milliseconds poll = std::chrono::milliseconds(500));
  ~ConfigWatcher();
  void Start();
  void Stop();
  ConfigStatus Status() const;

 private:
  void Pass();

  std::string control_;
  std::chrono::milliseconds poll_;
  mutable std::mutex mutex_;  // guards status_, read by the HTTP threads
  ConfigStatus status_;
  PeriodicThread thread_;  // last: stopped before the rest goes
};

}  // namespace hsw::sidecar
