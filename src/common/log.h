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
//
// Levels, as in OVS's vlog, are per module and per destination (console,
// syslog, file), set with OVS's spec syntax (ApplyVlogSpec: "-vconsole:emer",
// `ovs-appctl vlog/set vswitchd:file:dbg`).  hsw writes no syslog: the syslog
// column is accepted and reported but never written.
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
// Sets every module's level on the console and in the file (--log-level).
void SetLevel(Level level);
Result<Level> ParseLevel(std::string_view name);
// "DBG", "INFO", ... (OVS's vlog/list spelling).
const char* LevelName(Level level);

// OVS's vlog destinations.
enum class Destination { kConsole = 0, kSyslog = 1, kFile = 2 };
inline constexpr int kNumDestinations = 3;

// Sets the level of `module` (nullopt: every module, and the default of
// modules to come) at `destination` (nullopt: all of them).
void SetLevels(std::optional<std::string_view> module, std::optional<Destination> destination,
               Level level);

// Applies one OVS vlog spec: words separated by ':' ',' or blanks naming at
// most one module (or ANY), one destination (console, syslog, file or ANY)
// and one level (default dbg), e.g. "console:emer", "vswitchd:file:dbg",
// "" (everything at dbg).  "PATTERN:..." and "FACILITY:..." are accepted and
// not acted on.  Returns a note about what was accepted but ignored ("" if
// nothing was); an error (in OVS's words: `no destination, level, or module
// "x"`) changes nothing.
Result<std::string> ApplyVlogSpec(std::string_view spec);

struct ModuleLevels {
  std::string module;
  Level console, syslog, file;
};
// Every module of this binary (each Module registers itself), by name.  The
// syslog level is what was set; nothing is written there.
std::vector<ModuleLevels> ListModuleLevels();
// Writes one line.  Prefer Module's methods.
void Write(std::string_view module, Level level, std::string_view text);
bool Enabled(Level level);

class Module {
 public:
  // Registers the module so that ListModuleLevels() and ApplyVlogSpec() know
  // it before it has logged anything.
  explicit Module(const char* name);

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
    if (!Enabled(level)) return;  // the lowest level of any module: a cheap first test
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
