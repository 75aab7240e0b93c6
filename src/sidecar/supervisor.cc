#include "sidecar/supervisor.h"

#include <fmt/format.h>

#include <sstream>

#include "common/daemon.h"
#include "common/log.h"
#include "ctl/lifecycle.h"

namespace hsw::sidecar {
namespace {

const log::Module vlog("supervisor");

std::string Seconds(std::chrono::milliseconds ms) {
  return fmt::format("{:.1f} s", static_cast<double>(ms.count()) / 1000);
}

// hsw-ctl's output, one log line each: its steps at INFO, its errors at ERR.
void LogLines(const std::string& text, bool error) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    if (error) {
      vlog.Err("{}", line);
    } else {
      vlog.Info("{}", line);
    }
  }
}

}  // namespace

std::chrono::milliseconds RestartDelay(int crashes, std::chrono::milliseconds min,
                                       std::chrono::milliseconds max) {
  if (crashes <= 1) return std::chrono::milliseconds(0);
  auto delay = min;
  for (int i = 2; i < crashes && delay < max; ++i) delay *= 2;
  return std::min(delay, max);
}

Supervisor::Supervisor(SupervisorOptions options) : options_(std::move(options)) {
  for (const char* name : {"hsw-datapath", "hsw-vswitchd"}) {
    DaemonState d;
    d.name = name;
    d.state = "unknown";
    d.since = SteadyClock::now();
    daemons_.push_back(d);
  }
}

Supervisor::~Supervisor() { Stop(); }

void Supervisor::Start() { thread_.Start(options_.poll, [this] { Pass(); }); }

void Supervisor::Stop() { thread_.Stop(); }

std::vector<DaemonState> Supervisor::States() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return daemons_;
}

// Updates `d` from its lock and exit record.  Called with mutex_ held.
void Supervisor::Observe(DaemonState& d) {
  auto now = SteadyClock::now();
  auto holder = ctl::LockHolder(daemon::LockPath(options_.rundir, d.name));
  if (!holder) {
    d.last = holder.error().ToString();
    return;
  }
  if (*holder) {
    pid_t pid = **holder;
    if (d.state != "running" || (pid && pid != d.pid)) {
      if (d.state == "running" && pid != d.pid) {
        vlog.Info("{}: now pid {} (was {}: a handover or a restart)", d.name, pid, d.pid);
      } else {
        vlog.Info("{} is running (pid {})", d.name, pid);
      }
      d.state = "running";
      d.pid = pid;
      d.since = now;
      d.retry_at.reset();
      d.last = fmt::format("running since the sidecar saw pid {} start", pid);
    }
    if (d.crashes && now - d.since >= options_.stable) {
      vlog.Info("{}: stable for {}; crash count reset", d.name, Seconds(options_.stable));
      d.crashes = 0;
    }
    return;
  }
  if (d.state != "running") return;  // already judged
  auto record = daemon::ReadExitRecord(options_.rundir, d.name);
  d.since = now;
  if (record && record->pid == d.pid && record->status == 0) {
    d.state = "stopped";
    d.last = fmt::format("pid {} stopped: {}", d.pid, record->reason);
    vlog.Info("{} (pid {}) stopped on purpose ({}); not restarting it", d.name, d.pid,
              record->reason);
    return;
  }
  d.state = "crashed";
  ++d.crashes;
  d.last = record && record->pid == d.pid
               ? fmt::format("pid {} failed (status {}: {})", d.pid, record->status,
                             record->reason)
               : fmt::format("pid {} died without saying why (killed or crashed)", d.pid);
  auto delay = RestartDelay(d.crashes, options_.min_backoff, options_.max_backoff);
  d.retry_at = now + delay;
  vlog.Err("{}: {}; {} crash{} in a row; {}", d.name, d.last, d.crashes,
           d.crashes == 1 ? "" : "es",
           options_.supervise ? fmt::format("restarting in {}", Seconds(delay))
                              : std::string("not supervising (--no-supervise)"));
}

void Supervisor::Pass() {
  // Someone runs hsw-ctl start/stop/restart: a daemon missing now is theirs.
  auto ctl_holder = ctl::LockHolder(options_.rundir + "/hsw-ctl.lock");
  if (ctl_holder && *ctl_holder) return;
  std::string why;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto now = SteadyClock::now();
    for (DaemonState& d : daemons_) {
      Observe(d);
      if (!options_.supervise) continue;
      if (first_pass_ && d.state != "running") {
        why = fmt::format("{} is not running", d.name);
      } else if (d.state == "crashed" && d.retry_at && now >= *d.retry_at) {
        why = fmt::format("{} crashed ({})", d.name, d.last);
      }
    }
    first_pass_ = false;
    if (why.empty()) return;
    for (DaemonState& d : daemons_) {
      if (d.state != "running") {
        restarting_[d.name] = d.state == "crashed";
        d.state = "starting";
        d.retry_at.reset();
      }
    }
  }
  bool started = StartDaemons(why);
  std::lock_guard<std::mutex> lock(mutex_);
  auto now = SteadyClock::now();
  for (DaemonState& d : daemons_) {
    if (d.state != "starting") continue;
    if (started && restarting_[d.name]) ++d.restarts;  // the first start is not a restart
    // Observe() sees it running on the next pass; a failed start is a crash
    // of its own, with the next backoff step.
    d.state = "running";
    if (!started) {
      d.state = "crashed";
      ++d.crashes;
      d.last = "the start failed (see the log)";
      d.retry_at = now + std::max(options_.min_backoff,
                                  RestartDelay(d.crashes, options_.min_backoff,
                                               options_.max_backoff));
    }
  }
}

bool Supervisor::StartDaemons(const std::string& why) {
  vlog.Info("{}: starting the daemons as `hsw-ctl start` does", why);
  std::ostringstream out, err;
  ctl::Lifecycle ctx{options_.rundir, options_.statedir, options_.start_timeout, out, err};
  ctl::StartOptions start;
  start.database = options_.database;
  start.bindir = options_.bindir;
  start.datapath_args = options_.datapath_args;
  start.vswitchd_args = options_.vswitchd_args;
  int code = ctl::StartCommand(ctx, start);
  LogLines(out.str(), false);
  LogLines(err.str(), true);
  if (code != 0) vlog.Err("starting the daemons failed (exit {})", code);
  return code == 0;
}

}  // namespace hsw::sidecar
