// What the hsw daemons (hsw-datapath, hsw-vswitchd) share about being a
// daemon: directories, --detach with readiness, pidfiles, log options.
//
// --detach forks; the parent waits on a pipe until the child calls
// NotifyReady() (then exits 0) or NotifyFailed()/dies (then prints the reason
// on stderr and exits 1).  So `hsw-vswitchd --detach && next-step` needs no
// sleep.  Unlike OVS, the child keeps the stdout/stderr it inherited, so log
// lines keep reaching a container's log after --detach (unless
// --no-console-log).  When NOTIFY_SOCKET is set, NotifyReady() also sends
// systemd's READY=1.
#pragma once

#include <optional>
#include <string_view>
#include <string>
#include <vector>


#include "common/fd.h"
#include "common/log.h"
#include "common/result.h"

// CLI11 costs ~12 s of compile time per translation unit under ASan;
// only the .cc files that define options include it.
namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace hsw::daemon {

// Run, state and log directories.  Each comes from its flag if given, else
// from HSW_RUNDIR / HSW_STATEDIR / HSW_LOGDIR, else /run/hsw, /var/lib/hsw,
// /var/log/hsw.
struct Dirs {
  std::string rundir;
  std::string statedir;
  std::string logdir;
};

struct Options {
  std::string rundir, statedir, logdir;  // flags ("" = not given)
  bool detach = false;
  std::optional<std::string> pidfile;    // --pidfile[=FILE]; "" = default <rundir>/<program>.pid
  std::optional<std::string> log_file;   // --log-file[=FILE]; "" = default <logdir>/<program>.log
  bool no_console_log = false;
  std::string log_format = "text";       // text | json
  std::string log_level = "info";
  // OVS vlog specs (-vconsole:emer, -vfile:info: log::ApplyVlogSpec), applied
  // in order after log_level.
  std::vector<std::string> log_specs;
  // Set by a daemon that takes over from a running instance of itself
  // (hsw-datapath --takeover): Start() then takes neither the instance lock
  // nor the pidfile; the lock comes from the predecessor (AdoptInstanceLock)
  // and the pidfile after it (TakePidfileAfterPredecessor).
  bool successor = false;
};

// Adds --rundir --statedir --logdir --detach --pidfile --log-file
// --no-console-log --log-format --log-level to `app`.
void AddOptions(CLI::App& app, Options& options);

// An option whose value is optional, as OVS's are: `--name` alone sets
// `into` to "" (the caller's default), `--name=VALUE` to VALUE.  A bare
// `--name` followed by a positional argument takes that argument, as
// getopt does not; callers put positionals first or after "--".
CLI::Option* AddOptionalValueOption(CLI::App& app, const std::string& name,
                                    std::optional<std::string>& into, const std::string& help,
                                    const std::string& type_name);

// Resolves and creates the directories.
Result<Dirs> ResolveDirs(const Options& options);

// Applies the log options (after ResolveDirs), forks when --detach (only the
// child returns), writes the pidfile.  `program` names defaults:
// <rundir>/<program>.pid, <logdir>/<program>.log.
Status Start(const Options& options, const Dirs& dirs, const std::string& program);

// Tells the waiting parent (and systemd) that the daemon is ready.
void NotifyReady();
// Tells the waiting parent that start-up failed; it prints `reason` and exits 1.
void NotifyFailed(const std::string& reason);

// <rundir>/<program>.lock: Start() flocks it (LOCK_EX) for the whole life of
// the process, so a second instance refuses to start, and anyone can wait for
// the daemon's end by asking for the same lock (`hsw-ctl wait-stopped`): the
// kernel releases it the moment the process dies, even by kill -9, and a
// zombie holds no lock.  The file stays; an unlocked file means "not running".
std::string LockPath(const std::string& rundir, const std::string& program);

// Removes the pidfile (at clean exit).
void Cleanup();

// <rundir>/<program>.exited: written by a daemon that exits on purpose (a
// signal, `exit`, a failure it reports), naming its pid and exit status, so
// that a supervisor which is not its parent (hsw-sidecar; the daemons detach)
// can tell a stop from a crash: a process that died without writing one
// (kill -9, SIGSEGV, abort) crashed.  The pid in it means a record left by
// an earlier process can never be mistaken for the current one's.
struct ExitRecord {
  pid_t pid = 0;
  int status = 0;
  std::string reason;
};
std::string ExitRecordPath(const std::string& rundir, const std::string& program);
// Writes this process's record (after Start(); atomically, by rename).
void RecordExit(int status, const std::string& reason);
// The record in `rundir` for `program`, if any (an unreadable one: none).
std::optional<ExitRecord> ReadExitRecord(const std::string& rundir, const std::string& program);
// A record's text: {"pid": N, "status": N, "reason": "..."}; anything else
// (truncated, another type, a pid that is no pid) is none.
std::optional<ExitRecord> ParseExitRecord(std::string_view text);

// Handing a daemon over to a successor process.  The instance lock travels
// as a file descriptor (SCM_RIGHTS): flock belongs to the open file, so the
// lock stays held without a gap while both processes run and after the
// predecessor exits, and `hsw-ctl wait-stopped` never sees "not running".
int InstanceLockFd();
// The successor's side: keeps `fd` for life and writes its pid into the file.
Status AdoptInstanceLock(UniqueFd fd, const std::string& path);
// The predecessor's side, before exiting: its pidfile now names nobody, and
// is left for the successor to take rather than unlinked under it.
void LeavePidfileToSuccessor();
// A successor whose predecessor died before it handed anything over: takes
// the instance lock the way a fresh start does (the dead process let go).
Status TakeInstanceLockAsOrphan(const Dirs& dirs, const std::string& program);
// The successor's side, once the predecessor has gone: takes --pidfile,
// waiting a few seconds for the predecessor to let go of it.
Status TakePidfileAfterPredecessor(const Options& options, const Dirs& dirs,
                                   const std::string& program);

}  // namespace hsw::daemon
