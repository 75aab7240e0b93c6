// sidecar/supervisor: keeps hsw-datapath and hsw-vswitchd running.
//
// The daemons detach into their own sessions, so the sidecar is not their
// parent (deleting the sidecar's container stops nothing) and learns of a
// death from the daemon's instance lock, free the moment it dies.  A daemon
// that exits on purpose writes <rundir>/<program>.exited with its pid
// (daemon::RecordExit): exit status 0 there is a stop (`hsw-ctl stop`, a
// preStop hook, SIGTERM) and is left alone; a death without a record
// (kill -9, SIGSEGV) or with a non-zero status is a crash, and the daemons
// are started again the way `hsw-ctl start` does it (the datapath if it is
// gone, hsw-vswitchd with its journal), after an exponential backoff reset
// once a daemon has run for the stable period.  While someone runs an
// hsw-ctl lifecycle command (<rundir>/hsw-ctl.lock held) nothing is judged.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "sidecar/periodic.h"

namespace hsw::sidecar {

using SteadyClock = std::chrono::steady_clock;

// The daemon a --systemd unit runs ("hsw-datapath" for
// hsw-datapath.service or hsw-datapath@x.service), or "" if neither.
std::string DaemonOfUnit(const std::string& unit);

// The delay before restart number `crashes` (1 = the first): 0 for the
// first, then `min` doubling up to `max`.
std::chrono::milliseconds RestartDelay(int crashes, std::chrono::milliseconds min,
                                       std::chrono::milliseconds max);

struct DaemonState {
  std::string name;      // "hsw-datapath", "hsw-vswitchd"
  std::string state;     // "running", "stopped", "crashed", "starting", "unknown"
  pid_t pid = 0;         // running: its pid; else the last one seen
  int crashes = 0;       // since the last stable period
  int restarts = 0;      // over the sidecar's life
  std::string last;      // the last event, in words
  // Runs (or ran, when last seen) in another pid namespace: another pod's
  // daemon since a take-over, whose own sidecar restarts it.
  bool elsewhere = false;
  std::optional<SteadyClock::time_point> retry_at;
  SteadyClock::time_point since{};  // when `state` began
};

struct SupervisorOptions {
  std::string rundir, statedir, logdir;
  std::string database;  // hsw-vswitchd's --db ("" = conf.json)
  std::string bindir;    // "" = FindDaemonBinary's search
  // Extra arguments for the daemons it starts (--log-file when the sidecar
  // follows their log files).
  std::vector<std::string> datapath_args, vswitchd_args;
  bool supervise = true; // false: observe and report only
  // --take-over: daemons found running in another pid namespace (the pod
  // this one replaces) are taken over first (ctl::TakeOverCommand), and
  // the node is not ready until that is done (TakeOverMarker).
  bool take_over = false;
  // --systemd UNIT...: the daemons are these systemd services (a unit per
  // daemon, named hsw-datapath*.service / hsw-vswitchd*.service); they are
  // enabled and started through systemd and observed there, never started
  // or restarted by the sidecar itself (systemd_units.h).
  std::vector<std::string> systemd_units;
  std::chrono::milliseconds poll{200};
  std::chrono::milliseconds min_backoff{1000}, max_backoff{30000};
  std::chrono::milliseconds stable{10000};
  std::chrono::milliseconds start_timeout{60000};
};

// <rundir>/hsw-sidecar.take-over: a sidecar with --take-over creates it
// (under a temporary name, flocked, then renamed: no reader sees it
// unlocked) before it serves, holds the flock while its take-over is under
// way or failed, and removes it once the take-over is done.  Its text says
// why the node is not ready.  Every sidecar's /readyz reads it, because in
// a rolling update the old and the new pod's sidecars share the node's
// probe port (SO_REUSEPORT) and a probe must get the same answer from
// either.  A file nobody holds is stale (its sidecar is gone) and ignored.
Status SetTakeOverMarker(const std::string& rundir, const std::string& why, UniqueFd& held);
void ClearTakeOverMarker(const std::string& rundir, UniqueFd& held);
Status ReadTakeOverMarker(const std::string& rundir);  // Ok or Err(its text)

class Supervisor {
 public:
  explicit Supervisor(SupervisorOptions options);
  ~Supervisor();

  // Runs the loop on a thread of its own until Stop().  The first pass
  // starts whatever is not running.
  void Start();
  void Stop();
  std::vector<DaemonState> States() const;
  // Ok, or why a take-over keeps the node from being ready: one under way,
  // or one that failed (the old daemons run on) while its sidecar lives.
  Status Readiness() const;

 private:
  void Pass();
  void Observe(DaemonState& d);
  bool StartDaemons(const std::string& why);
  // The first pass's take-over, if there is one to do; false when it failed.
  void TakeOverIfElsewhere();
  // Pass() in systemd mode.
  void PassSystemd();

  SupervisorOptions options_;
  mutable std::mutex mutex_;  // guards the state below, read by the HTTP threads
  bool first_pass_ = true;
  std::vector<DaemonState> daemons_;
  UniqueFd take_over_marker_;  // held while a take-over is pending or failed
  std::unique_ptr<class SystemdUnits> systemd_;  // --systemd: connected lazily
  std::map<std::string, bool> restarting_;  // starting after a crash (not the first start)
  PeriodicThread thread_;  // last: stopped before the state goes
};

}  // namespace hsw::sidecar
