#include "common/log.h"

#include <sys/time.h>

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace hsw::log {
namespace {

// spdlog provides thread-safe sinks and files; the line itself is formatted
// here because the vlog layout carries a process-wide sequence number that
// must be the same in every sink.
using Levels = std::array<Level, kNumDestinations>;

struct State {
  std::mutex mutex;
  Options options;
  spdlog::sink_ptr console_sink;
  spdlog::sink_ptr file_sink;
  uint64_t sequence = 0;
  bool initialised = false;
  // The levels of names that are no registered Module (Write() takes any)
  // and the starting levels of modules registered later.  Syslog starts OFF:
  // nothing is written there.
  Levels defaults{Level::kInfo, Level::kOff, Level::kInfo};
  std::map<std::string, Levels, std::less<>> modules;
};

State& GetState() {
  static State* state = new State();  // never destroyed: logging works during exit
  return *state;
}

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

int Index(Destination destination) { return static_cast<int>(destination); }

// Enabled()'s threshold: the lowest level any module writes anywhere
// (syslog is never written, so it does not count).  Called with the mutex held.
void UpdateThreshold(const State& state) {
  Level lowest = Level::kOff;
  auto consider = [&lowest](const Levels& levels) {
    lowest = std::min({lowest, levels[Index(Destination::kConsole)],
                       levels[Index(Destination::kFile)]});
  };
  consider(state.defaults);
  for (const auto& [name, levels] : state.modules) consider(levels);
  g_level = static_cast<int>(lowest);
}

const Levels& LevelsOf(const State& state, std::string_view module) {
  auto it = state.modules.find(module);
  return it == state.modules.end() ? state.defaults : it->second;
}

std::string Lower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return lower;
}

std::optional<Destination> ParseDestination(std::string_view word) {
  std::string lower = Lower(word);
  if (lower == "console") return Destination::kConsole;
  if (lower == "syslog") return Destination::kSyslog;
  if (lower == "file") return Destination::kFile;
  return std::nullopt;
}

spdlog::sink_ptr MakeConsoleSink() {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  sink->set_pattern("%v");
  return sink;
}

Result<spdlog::sink_ptr> MakeFileSink(const std::string& path) {
  try {
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/false);
    sink->set_pattern("%v");
    return sink;
  } catch (const spdlog::spdlog_ex& e) {
    return Err("cannot open log file {}: {}", path, e.what());
  }
}

void RebuildSinks(State& state) {
  state.console_sink = state.options.console ? MakeConsoleSink() : nullptr;
}

std::string Timestamp() {
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tv.tv_usec / 1000);
}

}  // namespace

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDbg: return "DBG";
    case Level::kInfo: return "INFO";
    case Level::kWarn: return "WARN";
    case Level::kErr: return "ERR";
    case Level::kEmer: return "EMER";
    case Level::kOff: return "OFF";
  }
  return "?";
}

Module::Module(const char* name) : name_(name) {
  State& state = GetState();
  std::lock_guard lock(state.mutex);
  state.modules.emplace(name, state.defaults);
}

Status Init(const Options& options) {
  State& state = GetState();
  std::lock_guard lock(state.mutex);
  spdlog::sink_ptr file_sink;
  if (!options.file.empty()) {
    HSW_ASSIGN_OR_RETURN(file_sink, MakeFileSink(options.file));
  }
  state.options = options;
  state.file_sink = file_sink;
  RebuildSinks(state);
  state.initialised = true;
  // --log-level is the level of every module on the console and in the file.
  auto set = [&options](Levels& levels) {
    levels[Index(Destination::kConsole)] = options.level;
    levels[Index(Destination::kFile)] = options.level;
  };
  set(state.defaults);
  for (auto& [name, levels] : state.modules) set(levels);
  UpdateThreshold(state);
  return Ok();
}

Status ReopenFile() {
  State& state = GetState();
  std::lock_guard lock(state.mutex);
  if (state.options.file.empty()) return Ok();
  HSW_ASSIGN_OR_RETURN(auto sink, MakeFileSink(state.options.file));
  state.file_sink = sink;
  return Ok();
}

void SetLevel(Level level) {
  // The destinations hsw writes; syslog keeps whatever a spec set.
  SetLevels(std::nullopt, Destination::kConsole, level);
  SetLevels(std::nullopt, Destination::kFile, level);
}

void SetLevels(std::optional<std::string_view> module, std::optional<Destination> destination,
               Level level) {
  State& state = GetState();
  std::lock_guard lock(state.mutex);
  auto set = [&](Levels& levels) {
    for (int d = 0; d < kNumDestinations; ++d) {
      if (!destination || Index(*destination) == d) levels[d] = level;
    }
  };
  if (module) {
    auto it = state.modules.find(*module);
    if (it == state.modules.end()) it = state.modules.emplace(*module, state.defaults).first;
    set(it->second);
  } else {
    set(state.defaults);
    for (auto& [name, levels] : state.modules) set(levels);
  }
  UpdateThreshold(state);
}

Result<std::string> ApplyVlogSpec(std::string_view spec) {
  std::vector<std::string> words;
  for (size_t start = 0; start <= spec.size();) {
    size_t end = spec.find_first_of(" ,:\t", start);
    if (end == std::string_view::npos) end = spec.size();
    if (end > start) words.emplace_back(spec.substr(start, end - start));
    start = end + 1;
  }
  std::string first = words.empty() ? "" : Lower(words[0]);
  if (first == "pattern" || first == "facility") {
    if (words.size() < 2) return Err("missing {}", first == "pattern" ? "destination" : "facility");
    return fmt::format("log spec '{}' accepted and ignored: hsw's line layout is fixed and it "
                       "writes no syslog",
                       spec);
  }
  std::optional<std::string> module;
  std::optional<Destination> destination;
  std::optional<Level> level;
  {
    State& state = GetState();
    std::lock_guard lock(state.mutex);
    for (const std::string& word : words) {
      std::string lower = Lower(word);
      if (lower == "any") continue;
      if (auto d = ParseDestination(lower)) {
        if (destination) return Err("cannot specify multiple destinations");
        destination = d;
      } else if (auto l = ParseLevel(lower)) {
        if (level) return Err("cannot specify multiple levels");
        level = *l;
      } else {
        std::optional<std::string> found;
        for (const auto& [name, levels] : state.modules) {
          if (Lower(name) == lower) found = name;
        }
        if (!found) return Err("no destination, level, or module \"{}\"", word);
        if (module) return Err("cannot specify multiple modules");
        module = found;
      }
    }
  }
  SetLevels(module ? std::optional<std::string_view>(*module) : std::nullopt, destination,
            level.value_or(Level::kDbg));
  if (destination == Destination::kSyslog) {
    return fmt::format("log spec '{}': syslog level recorded, but hsw writes no syslog", spec);
  }
  return std::string();
}

std::vector<ModuleLevels> ListModuleLevels() {
  State& state = GetState();
  std::lock_guard lock(state.mutex);
  std::vector<ModuleLevels> list;
  for (const auto& [name, levels] : state.modules) {
    list.push_back({name, levels[Index(Destination::kConsole)],
                    levels[Index(Destination::kSyslog)], levels[Index(Destination::kFile)]});
  }
  return list;
}

Result<Level> ParseLevel(std::string_view name) {
  for (Level level : {Level::kDbg, Level::kInfo, Level::kWarn, Level::kErr, Level::kEmer,
                      Level::kOff}) {
    std::string lower = LevelName(level);
    for (char& c : lower) c = static_cast<char>(tolower(c));
    if (name == lower || name == LevelName(level)) return level;
  }
  if (name == "debug") return Level::kDbg;
  if (name == "warning") return Level::kWarn;
  if (name == "error") return Level::kErr;
  return Err("unknown log level '{}' (expected dbg, info, warn, err, emer or off)", name);
}

bool Enabled(Level level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

void Write(std::string_view module, Level level, std::string_view text) {
  State& state = GetState();
  std::lock_guard lock(state.mutex);
  if (!state.initialised) {
    state.options = Options{};
    RebuildSinks(state);
    state.initialised = true;
  }
  uint64_t sequence = ++state.sequence;
  std::string line;
  if (state.options.json) {
    nlohmann::json j = {{"time", Timestamp()},    {"seq", sequence},
                        {"module", module},       {"level", LevelName(level)},
                        {"msg", std::string(text)}};
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = fmt::format("{}|{:05}|{}|{}|{}", Timestamp(), sequence, module, LevelName(level), text);
  }
  spdlog::details::log_msg msg(spdlog::string_view_t(module.data(), module.size()),
                               spdlog::level::info,
                               spdlog::string_view_t(line.data(), line.size()));
  const Levels& levels = LevelsOf(state, module);
  for (auto [sink, destination] : {std::pair{&state.console_sink, Destination::kConsole},
                                   std::pair{&state.file_sink, Destination::kFile}}) {
    if (!*sink || level < levels[Index(destination)]) continue;
    (*sink)->log(msg);
    (*sink)->flush();  // a daemon's last words before a crash must reach the file
  }
}

bool RateLimit::Allow() {
  int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count();
  int64_t start = window_start_ms_.load(std::memory_order_relaxed);
  if (now_ms - start >= 1000) {
    if (window_start_ms_.compare_exchange_strong(start, now_ms)) used_ = 0;
  }
  if (used_.fetch_add(1) < per_second_) return true;
  suppressed_.fetch_add(1);
  return false;
}

}  // namespace hsw::log
