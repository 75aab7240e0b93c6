#include "common/log.h"

#include <sys/time.h>

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
struct State {
  std::mutex mutex;
  Options options;
  std::vector<spdlog::sink_ptr> sinks;
  spdlog::sink_ptr file_sink;
  uint64_t sequence = 0;
  bool initialised = false;
};

State& GetState() {
  static State* state = new State();  // never destroyed: logging works during exit
  return *state;
}

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

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
  state.sinks.clear();
  if (state.options.console) state.sinks.push_back(MakeConsoleSink());
  if (state.file_sink) state.sinks.push_back(state.file_sink);
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
  g_level = static_cast<int>(options.level);
  return Ok();
}

Status ReopenFile() {
  State& state = GetState();
  std::lock_guard lock(state.mutex);
  if (state.options.file.empty()) return Ok();
  HSW_ASSIGN_OR_RETURN(auto sink, MakeFileSink(state.options.file));
  state.file_sink = sink;
  RebuildSinks(state);
  return Ok();
}

void SetLevel(Level level) { g_level = static_cast<int>(level); }

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
  for (auto& sink : state.sinks) {
    sink->log(msg);
    sink->flush();  // a daemon's last words before a crash must reach the file
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
