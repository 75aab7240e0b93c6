// hsw-ctl's lifecycle commands: start, stop, restart, wait-ready,
// wait-stopped, and save-flows / restore-flows (the save directory's format
// is in ctl/saved_flows.h).
//
// No sleeps and no polling anywhere: a daemon's life is its flock on
// <rundir>/<program>.lock (see daemon::LockPath), so "wait until it stopped"
// is a blocking flock(LOCK_SH) on that file, cut short at a deadline by a
// SIGALRM aimed at the waiting thread; "wait until it is up" is inotify on
// the run directory plus the daemon's own `wait-ready` call.
//
// <rundir>/hsw-ctl.lock serialises start, stop and restart (LOCK_EX for the
// whole command), so that two of them never interleave, and so that
// `start --wait` -- a container's main process that lives as long as
// hsw-vswitchd -- can tell a restart (someone holds the lock; a new
// hsw-vswitchd will be there when it is released) from hsw-vswitchd's end.
//
// Every step prints one line to `out` (flushed: under --wait the output is a
// container's log); errors go to `err` as "hsw-ctl: ...".  The functions
// named *Command return hsw-ctl's exit code (0 ok, 1 failure).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "common/spawn.h"
#include "ctl/saved_flows.h"

namespace hsw::ctl {

// What every lifecycle command needs.
struct Lifecycle {
  std::string rundir;
  std::string statedir;
  std::chrono::milliseconds timeout;  // bounds each daemon call and each wait
  std::ostream& out;
  std::ostream& err;
};

int SaveFlowsCommand(const Lifecycle& ctx, const std::string& dir);
int RestoreFlowsCommand(const Lifecycle& ctx, const std::string& dir);
int WaitStoppedCommand(const Lifecycle& ctx);
int WaitReadyCommand(const Lifecycle& ctx);

struct StopOptions {
  std::string save_dir;  // --save-flows DIR ("" = do not save)
  bool all = false;      // also stop hsw-datapath
  // Only daemons of this pid namespace (RunsInThisPidNamespace): in a pod's
  // preStop hook, those the next pod took over are not this pod's to stop.
  bool local_only = false;
};
int StopCommand(const Lifecycle& ctx, const StopOptions& options);

struct StartOptions {
  std::string restore_dir;  // --restore-flows DIR ("" = none)
  // --db: the Open_vSwitch database hsw-vswitchd is configured from
  // (unix:PATH, tcp:IP:PORT); "" = its own <statedir>/conf.json.
  std::string database;
  bool wait = false;        // stay until hsw-vswitchd exits
  std::vector<std::string> vswitchd_args, datapath_args;
  std::string bindir;  // where the daemons are; "" = FindDaemonBinary's search
  // The hsw-vswitchd binary itself, overriding `bindir` for it ("" = none):
  // `hsw-ctl upgrade --vswitchd NEWBIN` and its rollback.
  std::string vswitchd_bin;
};
int StartCommand(const Lifecycle& ctx, const StartOptions& options);

struct RestartOptions {
  std::string save_dir;  // "" = <statedir>/restart-flows
  // --db; "" = the database the running hsw-vswitchd was started with, if any.
  std::string database;
  std::vector<std::string> vswitchd_args;
  std::string bindir;        // as in StartOptions
  std::string vswitchd_bin;  // as in StartOptions
};
int RestartCommand(const Lifecycle& ctx, const RestartOptions& options);

// start's and restart's work, for a caller that holds hsw-ctl.lock already
// (hsw-ctl upgrade).  StartLocked starts hsw-vswitchd only if it is not
// running; RestartLocked fails if it is not.  Both return an exit code and
// say every step, as the commands do.  A restart whose start fails leaves
// the flows saved in RestartFlowsDir(), for a StartLocked that restores them.
int StartLocked(const Lifecycle& ctx, const StartOptions& options);
int RestartLocked(const Lifecycle& ctx, const RestartOptions& options);
std::string RestartFlowsDir(const Lifecycle& ctx, const RestartOptions& options);

// --- Building blocks, exposed for tests. ---

// The pid of the process holding `lock_path` (0 if the file does not say),
// or nullopt when nobody holds it (or the file does not exist).
Result<std::optional<pid_t>> LockHolder(const std::string& lock_path);

// Whether `program` runs in the caller's pid namespace: the POSIX record
// lock on its pidfile (<rundir>/<program>.pid) names the holder's pid as the
// caller's namespace sees it -- 0 when the holder is not visible from it (a
// daemon of another pod), a number other than the one the daemon wrote in
// its lock file when it is in a namespace below (a pod, seen from the host).
// nullopt: not running; an error when it runs without a pidfile to tell by.
Result<std::optional<bool>> RunsInThisPidNamespace(const std::string& rundir,
                                                   const std::string& program);

enum class WaitEnd { kDone, kTimedOut, kSignalled };

// flock(fd, operation) (LOCK_SH or LOCK_EX), blocking, but ended early at
// `timeout` (nullopt = none) and, while a StopSignals is alive, by SIGTERM or
// SIGINT.  kDone: the lock is held on `fd`.  One wait at a time per process
// (the signal handler's state is global).
Result<WaitEnd> FlockUntil(int fd, int operation, std::optional<std::chrono::milliseconds> timeout);

// Waits until nobody holds `lock_path` (a missing file counts as free).
Result<WaitEnd> WaitForUnlock(const std::string& lock_path,
                              std::optional<std::chrono::milliseconds> timeout);

// While alive, SIGTERM and SIGINT do not kill the process: they end the
// current (or next) FlockUntil with kSignalled, and Received() tells which.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  static int Received();  // 0 or the signal number

 private:
  struct sigaction old_term_ {
  }, old_int_{};
};

// Takes <rundir>/hsw-ctl.lock (LOCK_EX), waiting at most `timeout` for
// another start/stop/restart to finish.
Result<UniqueFd> TakeCtlLock(const std::string& rundir, std::chrono::milliseconds timeout);

// True when a save taken at `saved` is older than the daemon's journal at
// `daemon`: same journal, and the journal has moved on since.
bool SaveIsStale(const JournalPosition& saved, const JournalPosition& daemon);


// Moves `dir` to `dir`.rejected, replacing an older one; returns that path.
Result<std::string> MoveAside(const std::string& dir);

// "1 bridge", "2 bridges".
std::string Plural(uint64_t n, std::string_view word);

}  // namespace hsw::ctl
