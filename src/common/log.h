// Logging in Open vSwitch's vlog layout, so that operators' tools keep working:
//
//   2025-04-04T10:27:24.123Z|00045|module|INFO|message
//
// or one JSON object per line (--log-format=json) for log collectors.
//
// Unlike OVS, console output is not switched off by --detach: the daemon keeps
// writing to the stdout/stderr it inherited unless --no-console-log is given,
// so `kubectl logs` and `oc logs` see the daemon.  --log-file adds a file that
// is reopened on SIGHUP (log rotation).
//
// Use: one module object per .cc file,
//   static hsw::log::Module vlog("datapath");
//   vlog.Info("port {} added as {}", name, port_no);
// and a RateLimit on any per-packet path:
//   static hsw::log::RateLimit rl(5);  // at most 5 lines per second
//   if (rl.Allow()) vlog.Warn("...");
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "common/result.h"

namespace hsw::log {

enum class Level { kDbg = 0, kInfo = 1, kWarn = 2, kErr = 3, kEmer = 4, kOff = 5 };

struct Options {
  bool console = true;       // write to stderr
  std::string file;          // "" = no log file
  bool json = false;         // JSON lines instead of the vlog layout
  Level level = Level::kInfo;
};

// Sets the sinks.  Before Init, lines go to stderr at INFO.
Status Init(const Options& options);
// Reopens the log file (after rotation).  No-op without a file.
Status ReopenFile();
void SetLevel(Level level);
Result<Level> ParseLevel(std::string_view name);
// Writes one line.  Prefer Module's methods.
void Write(std::string_view module, Level level, std::string_view text);
bool Enabled(Level level);

class Module {
 public:
  explicit constexpr Module(const char* name) : name_(name) {}

  template <class... Args>
  void Dbg(fmt::format_string<Args...> f, Args&&... args) const {
    Log(Level::kDbg, f, std::forward<Args>(args)...);
  }
  template <class... Args>
  void Info(fmt::format_string<Args...> f, Args&&... args) const {
    Log(Level::kInfo, f, std::forward<Args>(args)...);
  }
  template <class... Args>
  void Warn(fmt::format_string<Args...> f, Args&&... args) const {
    Log(Level::kWarn, f, std::forward<Args>(args)...);
  }
  template <class... Args>
  void Err(fmt::format_string<Args...> f, Args&&... args) const {
    Log(Level::kErr, f, std::forward<Args>(args)...);
  }
  template <class... Args>
  void Log(Level level, fmt::format_string<Args...> f, Args&&... args) const {
    if (!Enabled(level)) return;
    Write(name_, level, fmt::format(f, std::forward<Args>(args)...));
  }
  const char* name() const { return name_; }

 private:
  const char* name_;
};

// Token bucket: Allow() is true at most `per_second` times a second (burst of
// the same size).  Lines that were suppressed are counted and reported by
// TakeSuppressed() so a caller can say "N similar lines suppressed".
class RateLimit {
 public:
  explicit RateLimit(int per_second) : per_second_(per_second) {}
  bool Allow();
  uint64_t TakeSuppressed() { return suppressed_.exchange(0); }

 private:
  int per_second_;
  std::atomic<int64_t> window_start_ms_{0};
  std::atomic<int> used_{0};
  std::atomic<uint64_t> suppressed_{0};
};

}  // namespace hsw::log
