#include "sidecar/supervisor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <sstream>

#include "common/daemon.h"
#include "common/log.h"
#include "ctl/lifecycle.h"
#include "ctl/upgrade.h"
#include "sidecar/systemd_units.h"

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

// Runs an hsw-ctl lifecycle command in-process, as the sidecar's own, with
// its output logged line by line.
int RunCtl(const SupervisorOptions& o, const std::function<int(const ctl::Lifecycle&)>& command) {
  std::ostringstream out, err;
  ctl::Lifecycle ctx{o.rundir, o.statedir, o.start_timeout, out, err};
  int code = command(ctx);
  LogLines(out.str(), false);
  LogLines(err.str(), true);
  return code;
}

// StartOptions or TakeOverOptions with the daemons' binaries, database and
// arguments from the sidecar's options.
template <class Options>
Options ForDaemons(const SupervisorOptions& o) {
  Options options;
  options.bindir = o.bindir;
  options.database = o.database;
  options.datapath_args = o.datapath_args;
  options.vswitchd_args = o.vswitchd_args;
  return options;
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
  if (options_.take_over && options_.supervise) {
    if (auto set = SetTakeOverMarker(options_.rundir,
                                     "hsw-sidecar --take-over: the take-over of the running "
                                     "daemons is not done yet",
                                     take_over_marker_);
        !set) {
      vlog.Err("{}", set.error().ToString());
    }
  }
}

Supervisor::~Supervisor() { Stop(); }

std::string DaemonOfUnit(const std::string& unit) {
  for (const char* daemon : {"hsw-datapath", "hsw-vswitchd"}) {
    std::string name = daemon;
    if (unit.rfind(name, 0) != 0) continue;
    std::string rest = unit.substr(name.size());
    if (rest == ".service" || (rest.size() > 9 && rest[0] == '@' &&
                               rest.compare(rest.size() - 8, 8, ".service") == 0)) {
      return name;
    }
  }
  return "";
}

void Supervisor::Start() { thread_.Start(options_.poll, [this] { Pass(); }); }

void Supervisor::Stop() { thread_.Stop(); }

std::vector<DaemonState> Supervisor::States() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return daemons_;
}

namespace {
std::string MarkerPath(const std::string& rundir) { return rundir + "/hsw-sidecar.take-over"; }
}  // namespace

Status SetTakeOverMarker(const std::string& rundir, const std::string& why, UniqueFd& held) {
  std::string path = MarkerPath(rundir);
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  UniqueFd fd(open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return ErrnoErr("cannot create {}", tmp);
  if (flock(fd.get(), LOCK_EX) < 0) return ErrnoErr("flock {}", tmp);
  std::string text = why + "\n";
  if (write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    unlink(tmp.c_str());
    return ErrnoErr("cannot write {}", tmp);
  }
  if (held) {
    // Rewritten in place: the file stays locked throughout.
    if (ftruncate(held.get(), 0) < 0 || pwrite(held.get(), text.data(), text.size(), 0) < 0) {
      unlink(tmp.c_str());
      return ErrnoErr("cannot write {}", path);
    }
    unlink(tmp.c_str());
    return Ok();
  }
  if (rename(tmp.c_str(), path.c_str()) < 0) {
    unlink(tmp.c_str());
    return ErrnoErr("cannot rename {} to {}", tmp, path);
  }
  held = std::move(fd);
  return Ok();
}

void ClearTakeOverMarker(const std::string& rundir, UniqueFd& held) {
  if (!held) return;
  unlink(MarkerPath(rundir).c_str());
  held.Reset();
}

Status ReadTakeOverMarker(const std::string& rundir) {
  std::string path = MarkerPath(rundir);
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Ok();
  if (flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return Ok();  // its sidecar is gone
  char buffer[512];
  ssize_t n = pread(fd.get(), buffer, sizeof buffer, 0);
  std::string text(buffer, n > 0 ? static_cast<size_t>(n) : 0);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return Err("{}", text.empty() ? "a take-over is under way" : text);
}

Status Supervisor::Readiness() const { return ReadTakeOverMarker(options_.rundir); }

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
      if (d.state == "running" && pid != d.pid && d.pid != 0) {
        vlog.Info("{}: now pid {} (was {}: a handover or a restart)", d.name, pid, d.pid);
      } else {
        vlog.Info("{} is running (pid {})", d.name, pid);
      }
      d.state = "running";
      d.pid = pid;
      d.since = now;
      d.retry_at.reset();
      auto here = ctl::RunsInThisPidNamespace(options_.rundir, d.name);
      d.elsewhere = here && *here && !**here;
      d.last = fmt::format("running since the sidecar saw pid {} start{}", pid,
                           d.elsewhere ? " (in another pid namespace)" : "");
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
  if (d.elsewhere) {
    // Not this pod's to restart: two sidecars would race, and a daemon
    // started here would die with this (old) pod.
    d.state = "stopped";
    d.last = fmt::format("pid {} of another pid namespace is gone; its own sidecar restarts it",
                         d.pid);
    vlog.Info("{}: {}", d.name, d.last);
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

void Supervisor::PassSystemd() {
  if (!systemd_) {
    auto connected = SystemdUnits::Connect();
    if (!connected) {
      std::lock_guard<std::mutex> lock(mutex_);
      for (DaemonState& d : daemons_) {
        if (d.last != connected.error().message) vlog.Err("{}", connected.error().message);
        d.state = "unknown";
        d.last = connected.error().message;
      }
      return;
    }
    systemd_ = std::move(*connected);
  }
  for (const std::string& unit : options_.systemd_units) {
    const std::string daemon = DaemonOfUnit(unit);
    if (first_pass_ && options_.supervise) {
      auto done = systemd_->EnsureEnabledAndStarted(unit);
      if (!done) {
        vlog.Err("{}", done.error().message);
      } else if (!done->empty()) {
        vlog.Info("{}: {}", unit, *done);
      }
    }
    auto unit_state = systemd_->Read(unit);
    std::lock_guard<std::mutex> lock(mutex_);
    for (DaemonState& d : daemons_) {
      if (d.name != daemon) continue;
      if (!unit_state) {
        if (d.last != unit_state.error().message) vlog.Err("{}", unit_state.error().message);
        d.state = "unknown";
        d.last = unit_state.error().message;
        systemd_.reset();  // connected again on the next pass
        continue;
      }
      const UnitState& u = *unit_state;
      std::string state = u.active_state == "active"       ? "running"
                          : u.active_state == "activating" ? "starting"
                          : u.active_state == "reloading"  ? "running"
                          : u.active_state == "failed"     ? "crashed"
                                                           : "stopped";
      if (state != "running" && d.state == "running" && u.result != "success") ++d.crashes;
      std::string last = fmt::format("systemd: {} {}/{}, result {}, {} restart{} by systemd",
                                     unit, u.active_state, u.sub_state, u.result, u.n_restarts,
                                     u.n_restarts == 1 ? "" : "s");
      if (state != d.state || static_cast<pid_t>(u.main_pid) != d.pid) {
        vlog.Info("{}: {} (pid {})", d.name, last, u.main_pid);
        d.since = SteadyClock::now();
      }
      d.state = state;
      if (u.main_pid) d.pid = static_cast<pid_t>(u.main_pid);
      d.restarts = static_cast<int>(u.n_restarts);
      d.last = last;
    }
  }
  first_pass_ = false;
}

void Supervisor::Pass() {
  if (!options_.systemd_units.empty()) {
    PassSystemd();
    return;
  }
  // As a container's main process the sidecar inherits the daemons it
  // started (they detach from hsw-ctl, not from the pid namespace's init):
  // reap the ones that exited.  Only this thread starts processes, and it
  // waits for each of those by pid before it gets here again.
  if (getpid() == 1) {
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  }
  // Someone runs hsw-ctl start/stop/restart: a daemon missing now is theirs.
  auto ctl_holder = ctl::LockHolder(options_.rundir + "/hsw-ctl.lock");
  if (ctl_holder && *ctl_holder) return;
  if (first_pass_ && options_.take_over && options_.supervise) TakeOverIfElsewhere();
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

void Supervisor::TakeOverIfElsewhere() {
  std::vector<std::string> elsewhere;
  for (const char* name : {"hsw-datapath", "hsw-vswitchd"}) {
    auto here = ctl::RunsInThisPidNamespace(options_.rundir, name);
    if (!here) {
      vlog.Err("cannot tell where {} runs: {}", name, here.error().ToString());
    } else if (*here && !**here) {
      elsewhere.push_back(name);
    }
  }
  if (elsewhere.empty()) {
    vlog.Info("--take-over: no daemon of another pid namespace runs; nothing to take over");
    ClearTakeOverMarker(options_.rundir, take_over_marker_);
    return;
  }
  vlog.Info("--take-over: {} run{} in another pid namespace (the pod this one replaces); "
            "taking over",
            fmt::join(elsewhere, " and "), elsewhere.size() == 1 ? "s" : "");
  int code = RunCtl(options_, [this](const ctl::Lifecycle& ctx) {
    return ctl::TakeOverCommand(ctx, ForDaemons<ctl::TakeOverOptions>(options_));
  });
  if (code == 0) {
    ClearTakeOverMarker(options_.rundir, take_over_marker_);
    return;
  }
  std::string why = fmt::format(
      "hsw-sidecar --take-over: the take-over failed (exit {}, see this sidecar's log); the "
      "daemons it was to replace run on",
      code);
  vlog.Err("{}", why);
  if (auto set = SetTakeOverMarker(options_.rundir, why, take_over_marker_); !set) {
    vlog.Err("{}", set.error().ToString());
  }
}

bool Supervisor::StartDaemons(const std::string& why) {
  vlog.Info("{}: starting the daemons as `hsw-ctl start` does", why);
  int code = RunCtl(options_, [this](const ctl::Lifecycle& ctx) {
    return ctl::StartCommand(ctx, ForDaemons<ctl::StartOptions>(options_));
  });
  if (code != 0) vlog.Err("starting the daemons failed (exit {})", code);
  return code == 0;
}

}  // namespace hsw::sidecar
