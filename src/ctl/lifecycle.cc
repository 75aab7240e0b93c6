#include "ctl/lifecycle.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/daemon.h"
#include "ctl/control_client.h"
#include "ctl/ctl.h"

extern char** environ;

namespace hsw::ctl {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
namespace fs = std::filesystem;

constexpr const char* kVswitchd = "hsw-vswitchd";
constexpr const char* kDatapath = "hsw-datapath";

// ---------------------------------------------------------------------------
// Output

void Say(const Lifecycle& ctx, const std::string& line) {
  // Flushed at once: the daemons we start write to the same stdout, and under
  // --wait this is a container's log, which must not sit in a buffer.
  ctx.out << line << "\n" << std::flush;
}

int Fail(const Lifecycle& ctx, const std::string& message) {
  ctx.err << "hsw-ctl: " << message << "\n" << std::flush;
  return kExitFailure;
}

std::string Seconds(Clock::duration elapsed) {
  double seconds = std::chrono::duration<double>(elapsed).count();
  return seconds < 1 ? fmt::format("{:.3f} s", seconds) : fmt::format("{:.1f} s", seconds);
}

std::string Seconds(milliseconds timeout) { return fmt::format("{:g} s", timeout.count() / 1e3); }

std::string PidText(pid_t pid) { return pid > 0 ? fmt::format("pid {}", pid) : "pid unknown"; }

std::string LockOf(const Lifecycle& ctx, const char* program) {
  return daemon::LockPath(ctx.rundir, program);
}

// ---------------------------------------------------------------------------
// Interruptible flock()
//
// flock() has no timeout and cannot be poll()ed, so a deadline is a signal:
// SIGALRM from a timer aimed at the waiting thread, with a handler installed
// without SA_RESTART so that the blocked flock() returns EINTR.  The state
// below is what the handler sees; one wait runs at a time.

volatile sig_atomic_t g_lock_fd = -1;  // the fd being flock()ed, -1 when none
volatile sig_atomic_t g_null_fd = -1;  // /dev/null, to put in its place
volatile sig_atomic_t g_alarm = 0;     // the deadline passed
volatile sig_atomic_t g_stop_signal = 0;

extern "C" void OnWaitSignal(int signal) {
  int saved_errno = errno;
  if (signal == SIGALRM) {
    g_alarm = 1;
  } else {
    g_stop_signal = signal;
  }
  // A flock() that is already blocked returns EINTR.  One that is about to
  // start would block with the signal already spent; with its fd replaced by
  // /dev/null (which anyone may lock) it returns at once instead.  So no
  // signal is ever lost between checking the flags and calling flock().
  if (g_lock_fd >= 0) dup2(g_null_fd, g_lock_fd);
  errno = saved_errno;
}

struct sigaction InstallWaitHandler(int signal) {
  struct sigaction action {};
  struct sigaction old {};
  action.sa_handler = OnWaitSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: the signal must end the flock()
  sigaction(signal, &action, &old);
  return old;
}

// SIGALRM to the calling thread after `delay`.  Aimed at the thread, not the
// process: in a process with other threads (the unit tests) a process-wide
// SIGALRM could land elsewhere and leave flock() blocked.
class ThreadAlarm {
 public:
  Status Arm(milliseconds delay) {
    sigevent event{};
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = SIGALRM;
    event._sigev_un._tid = gettid();  // glibc has no name for this member
    if (timer_create(CLOCK_MONOTONIC, &event, &timer_) < 0) return ErrnoErr("timer_create");
    armed_ = true;
    // A zero it_value would disarm the timer instead of firing it at once.
    int64_t ns = std::max<int64_t>(1, std::chrono::nanoseconds(delay).count());
    itimerspec spec{};
    spec.it_value.tv_sec = static_cast<time_t>(ns / 1000000000);
    spec.it_value.tv_nsec = static_cast<long>(ns % 1000000000);
    if (timer_settime(timer_, 0, &spec, nullptr) < 0) return ErrnoErr("timer_settime");
    return Ok();
  }
  // A signal the timer already sent was delivered to this thread on the way
  // back from the kernel, before this runs: none can arrive afterwards.
  ~ThreadAlarm() {
    if (armed_) timer_delete(timer_);
  }

 private:
  timer_t timer_{};
  bool armed_ = false;
};

Result<int> FlockWithAlarm(int fd, int operation, std::optional<milliseconds> timeout) {
  ThreadAlarm alarm;
  if (timeout) HSW_TRY(alarm.Arm(*timeout));
  if (g_stop_signal != 0) return 0;             // flags set before this line are seen here...
  return flock(fd, operation) < 0 ? errno : 0;  // ...and later ones end flock()
}

// Reads the pid a daemon wrote into its lock file (0 if not there yet).
pid_t ReadPid(int fd) {
  char text[32] = {};
  ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
  if (n <= 0) return 0;
  long pid = std::strtol(text, nullptr, 10);
  return pid > 0 ? static_cast<pid_t>(pid) : 0;
}

// ---------------------------------------------------------------------------
// Talking to hsw-vswitchd

std::string ControlPath(const Lifecycle& ctx) { return ctx.rundir + "/vswitchd.ctl"; }

Result<json> CallVswitchd(const Lifecycle& ctx, const std::string& method,
                          const json& params = json::object()) {
  HSW_ASSIGN_OR_RETURN(ControlClient client, ControlClient::Connect(ControlPath(ctx), ctx.timeout));
  return client.Call(method, params);
}

// For the flow text: megabytes, sent as raw payload, not as JSON strings.
Result<ControlReply> CallVswitchdWithPayload(const Lifecycle& ctx, const std::string& method,
                                             const json& params, std::string_view payload) {
  HSW_ASSIGN_OR_RETURN(ControlClient client, ControlClient::Connect(ControlPath(ctx), ctx.timeout));
  return client.CallWithPayload(method, params, payload);
}

milliseconds Remaining(Clock::time_point deadline) {
  return std::max(milliseconds(0),
                  std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
}

// Blocks until something is created or renamed in the watched directory, or
// `left` has passed; the events themselves do not matter, only that it is
// worth trying to connect again.
Status WaitForDirectoryChange(int inotify_fd, milliseconds left) {
  pollfd pfd{inotify_fd, POLLIN, 0};
  int ready = poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left.count(), INT32_MAX)));
  if (ready < 0 && errno != EINTR) return ErrnoErr("poll on inotify");
  alignas(inotify_event) char events[4096];
  while (read(inotify_fd, events, sizeof(events)) > 0) {
  }
  return Ok();
}

// Connects to vswitchd.ctl, waiting (at most until `deadline`) for it to
// appear.  The watch is set up before the first connect(), so a socket that
// appears in between still produces an event.  hsw-vswitchd renames its
// socket into place already listening (IN_MOVED_TO); a stale file left by a
// dead process refuses connections until then.
Result<ControlClient> ConnectWhenUp(const Lifecycle& ctx, Clock::time_point deadline) {
  if (auto made = MakeDirs(ctx.rundir); !made) {
    return MakeError(fmt::format("cannot create directory {}", ctx.rundir), made.error().code);
  }
  UniqueFd inotify(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!inotify) return ErrnoErr("inotify_init1");
  if (inotify_add_watch(inotify.get(), ctx.rundir.c_str(), IN_CREATE | IN_MOVED_TO) < 0) {
    return ErrnoErr("cannot watch {}", ctx.rundir);
  }
  const std::string path = ControlPath(ctx);
  for (;;) {
    milliseconds left = Remaining(deadline);
    auto client = ControlClient::Connect(path, std::max(left, milliseconds(1)));
    if (client) return client;
    // Anything but "not there (yet)" is a real failure.
    if (client.error().code != ENOENT && client.error().code != ECONNREFUSED) return client;
    if (left.count() == 0) {
      return Err("hsw-vswitchd is not up after {} (nothing listens on {})", Seconds(ctx.timeout),
                 path);
    }
    HSW_TRY(WaitForDirectoryChange(inotify.get(), left));
  }
}

bool IsCount(const json& value) {
  return value.is_number_unsigned() || (value.is_number_integer() && value.get<int64_t>() >= 0);
}

std::optional<JournalPosition> JournalFromShow(const json& show) {
  if (!show.is_object() || !show.contains("journal")) return std::nullopt;
  const json& journal = show["journal"];
  if (!journal.is_object() || !journal.contains("id") || !journal["id"].is_string() ||
      !journal.contains("seq") || !IsCount(journal["seq"])) {
    return std::nullopt;
  }
  return JournalPosition{journal["id"].get<std::string>(), journal["seq"].get<uint64_t>()};
}

// ---------------------------------------------------------------------------
// Saving and restoring

struct SaveSummary {
  uint64_t flows = 0;
  size_t bridges = 0;
};

Result<SaveSummary> SaveFlowsTo(const Lifecycle& ctx, const std::string& dir) {
  HSW_ASSIGN_OR_RETURN(ControlReply reply,
                       CallVswitchdWithPayload(ctx, "save-flows", {{"payload", true}}, {}));
  HSW_ASSIGN_OR_RETURN(FlowsToSave flows, FlowsFromSaveReply(reply.result, reply.payload));
  HSW_TRY(WriteSavedFlows(dir, flows));
  return SaveSummary{flows.TotalFlows(), flows.bridges.size()};
}

void SaySaved(const Lifecycle& ctx, const SaveSummary& summary, const std::string& dir) {
  Say(ctx, fmt::format("saved {} of {} to {}", Plural(summary.flows, "flow"),
                       Plural(summary.bridges, "bridge"), dir));
}

// One restore-flows call with every bridge: the daemon changes all or none.
// Returns the number of flows the daemon reports loaded.
Result<uint64_t> RestoreFrom(const Lifecycle& ctx, const SavedFlows& saved) {
  json bridges = json::array();
  std::string payload;
  for (const SavedFlows::Bridge& bridge : saved.bridges) {
    bridges.push_back({{"name", bridge.name}, {"size", bridge.text.size()}, {"file", bridge.path}});
  }
  // One bridge, the usual case, needs no copy of its text.
  std::string_view texts = saved.bridges.size() == 1 ? std::string_view(saved.bridges[0].text)
                                                      : std::string_view();
  if (saved.bridges.size() > 1) {
    for (const SavedFlows::Bridge& bridge : saved.bridges) payload += bridge.text;
    texts = payload;
  }
  HSW_ASSIGN_OR_RETURN(ControlReply call, CallVswitchdWithPayload(ctx, "restore-flows",
                                                                  {{"bridges", bridges}}, texts));
  const json& reply = call.result;
  if (!reply.is_object() || !reply.contains("bridges") || !reply["bridges"].is_array()) {
    return saved.TotalFlows();
  }
  uint64_t n = 0;
  for (const json& bridge : reply["bridges"]) {
    if (bridge.is_object() && bridge.contains("n_flows") && IsCount(bridge["n_flows"])) {
      n += bridge["n_flows"].get<uint64_t>();
    }
  }
  return n;
}

void SayRestored(const Lifecycle& ctx, uint64_t flows, size_t bridges, const std::string& dir) {
  Say(ctx, fmt::format("restored {} to {} from {}", Plural(flows, "flow"),
                       Plural(bridges, "bridge"), dir));
}

// ---------------------------------------------------------------------------
// Stopping

// Waits for `program`'s lock (at most ctx.timeout) and says how long the
// stop took since `since`.
int WaitStopped(const Lifecycle& ctx, const char* program, pid_t pid, Clock::time_point since) {
  auto end = WaitForUnlock(LockOf(ctx, program), ctx.timeout);
  if (!end) return Fail(ctx, end.error().ToString());
  if (*end == WaitEnd::kTimedOut) {
    return Fail(ctx, fmt::format("{} ({}) still running after {}", program, PidText(pid),
                                 Seconds(ctx.timeout)));
  }
  if (*end == WaitEnd::kSignalled) {
    return Fail(ctx, fmt::format("interrupted while waiting for {} to stop", program));
  }
  Say(ctx, fmt::format("{} ({}) stopped after {}", program, PidText(pid),
                       Seconds(Clock::now() - since)));
  return kExitOk;
}

int StopVswitchd(const Lifecycle& ctx, pid_t pid) {
  auto since = Clock::now();
  if (auto reply = CallVswitchd(ctx, "exit"); !reply) {
    return Fail(ctx, "cannot stop hsw-vswitchd: " + reply.error().ToString());
  }
  return WaitStopped(ctx, kVswitchd, pid, since);
}

// hsw-datapath has no control socket of its own for this: SIGTERM is its
// orderly stop.  The pid comes from its lock file, so this works in the
// daemon's pid namespace only.
int StopDatapath(const Lifecycle& ctx) {
  auto holder = LockHolder(LockOf(ctx, kDatapath));
  if (!holder) return Fail(ctx, holder.error().ToString());
  if (!*holder) {
    Say(ctx, "hsw-datapath is not running");
    return kExitOk;
  }
  pid_t pid = **holder;
  if (pid <= 0) {
    return Fail(ctx, fmt::format("cannot stop hsw-datapath: {} does not name its pid",
                                 LockOf(ctx, kDatapath)));
  }
  // The pid in the pidfile is the one hsw-datapath's own pid namespace gave
  // it; from another namespace (another pod) it names some other process.
  if (auto here = RunsInThisPidNamespace(ctx.rundir, kDatapath); here && *here && !**here) {
    return Fail(ctx, "cannot stop hsw-datapath: it runs in another pid namespace (another pod "
                     "or container); stop it from there");
  }
  auto since = Clock::now();
  if (kill(pid, SIGTERM) < 0) {
    return Fail(ctx, fmt::format("cannot send SIGTERM to hsw-datapath (pid {}): {}", pid,
                                 std::strerror(errno)));
  }
  return WaitStopped(ctx, kDatapath, pid, since);
}

// For stop --local-only: true when `program` runs and is not this pid
// namespace's (said, so that a preStop hook's log shows why nothing stopped).
bool RunsElsewhere(const Lifecycle& ctx, const char* program) {
  auto here = RunsInThisPidNamespace(ctx.rundir, program);
  if (!here) {
    Say(ctx, fmt::format("cannot tell where {} runs ({}); leaving it alone", program,
                         here.error().ToString()));
    return true;
  }
  if (!*here || **here) return false;
  Say(ctx, fmt::format("{} runs in another pid namespace (another pod took it over); leaving it "
                       "alone",
                       program));
  return true;
}

int StopLocked(const Lifecycle& ctx, const StopOptions& options) {
  auto holder = LockHolder(LockOf(ctx, kVswitchd));
  if (!holder) return Fail(ctx, holder.error().ToString());
  int code = kExitOk;
  if (*holder && options.local_only && RunsElsewhere(ctx, kVswitchd)) {
    if (options.all && !RunsElsewhere(ctx, kDatapath)) code = StopDatapath(ctx);
    return code;
  }
  if (!*holder) {
    if (!options.save_dir.empty()) {
      return Fail(ctx, "cannot save flows: hsw-vswitchd is not running");
    }
    Say(ctx, "hsw-vswitchd is not running");
  } else {
    if (!options.save_dir.empty()) {
      auto saved = SaveFlowsTo(ctx, options.save_dir);
      if (!saved) {
        return Fail(ctx, saved.error().ToString() + "; hsw-vswitchd was not stopped");
      }
      SaySaved(ctx, *saved, options.save_dir);
    }
    code = StopVswitchd(ctx, **holder);
  }
  if (code == kExitOk && options.all && !(options.local_only && RunsElsewhere(ctx, kDatapath))) {
    code = StopDatapath(ctx);
  }
  return code;
}

// ---------------------------------------------------------------------------
// Starting

// Starts `program` (binary at `binary`) with --detach --pidfile and `args`;
// returns once it is ready, and says so with its pid.
int SpawnDaemon(const Lifecycle& ctx, const char* program, const std::string& binary,
                const std::vector<std::string>& args, const std::string& note = "") {
  std::vector<std::string> argv = {binary, "--detach", "--pidfile"};
  argv.insert(argv.end(), args.begin(), args.end());
  ctx.out.flush();
  ctx.err.flush();
  auto status = RunAndWait(argv);
  if (!status) return Fail(ctx, status.error().ToString());
  if (*status != 0) {
    return Fail(ctx, fmt::format("{} did not start (exit status {}; its reason is above)", program,
                                 *status));
  }
  auto holder = LockHolder(LockOf(ctx, program));
  pid_t pid = holder && *holder ? **holder : 0;
  Say(ctx, fmt::format("started {} ({}){}", program, PidText(pid), note));
  return kExitOk;
}

int EnsureDatapath(const Lifecycle& ctx, const std::string& binary,
                   const std::vector<std::string>& extra) {
  auto holder = LockHolder(LockOf(ctx, kDatapath));
  if (!holder) return Fail(ctx, holder.error().ToString());
  if (*holder) {
    Say(ctx, fmt::format("hsw-datapath is running ({})", PidText(**holder)));
    return kExitOk;
  }
  std::vector<std::string> args = {"--rundir", ctx.rundir};
  args.insert(args.end(), extra.begin(), extra.end());
  return SpawnDaemon(ctx, kDatapath, binary, args);
}

// What `start --restore-flows DIR` has to restore: the verified save, or
// nothing (and says why).  A damaged save must not keep the switch from
// starting -- hsw-vswitchd's journal has the tables -- so it is moved aside
// for inspection, with a warning.
std::optional<SavedFlows> LoadSave(const Lifecycle& ctx, const std::string& dir) {
  if (dir.empty()) return std::nullopt;
  struct stat st {};
  if (lstat(dir.c_str(), &st) < 0 && errno == ENOENT) {
    Say(ctx, fmt::format("no saved flows at {}; tables come from the journal", dir));
    return std::nullopt;
  }
  auto saved = ReadSavedFlows(dir);
  if (saved) return std::move(*saved);
  auto moved = MoveAside(dir);
  ctx.err << "hsw-ctl: warning: " << saved.error().ToString() << "; "
          << (moved ? "moved it aside to " + *moved
                    : "cannot move it aside: " + moved.error().ToString())
          << "; tables come from the journal\n"
          << std::flush;
  return std::nullopt;
}

// Restores `saved` into a hsw-vswitchd that waits with flow-restore-wait,
// unless the save is older than the daemon's journal.  `reject` is set when
// the daemon refused the save itself.
Status RestoreUnlessStale(const Lifecycle& ctx, const std::string& dir, const SavedFlows& saved,
                          bool& reject) {
  HSW_ASSIGN_OR_RETURN(json show, CallVswitchd(ctx, "show"));
  std::optional<JournalPosition> journal = JournalFromShow(show);
  if (journal && SaveIsStale(saved.journal, *journal)) {
    Say(ctx, fmt::format("the saved flows in {} are stale: older than hsw-vswitchd's journal "
                         "(saved at seq {}, journal at seq {}); not restoring them",
                         dir, saved.journal.seq, journal->seq));
    return Ok();
  }
  auto restored = RestoreFrom(ctx, saved);
  if (!restored) {
    reject = true;
    return MakeError(fmt::format("restoring {} failed: {}", dir, restored.error().message),
                     restored.error().code);
  }
  SayRestored(ctx, *restored, saved.bridges.size(), dir);
  return Ok();
}

// After the restore (or its failure), hsw-vswitchd must leave
// flow-restore-wait in any case: the journal's tables are loaded already, and
// a switch left waiting would never update its datapath flows.
int RestoreAndClear(const Lifecycle& ctx, const std::string& dir, const SavedFlows& saved) {
  bool reject = false;
  Status restored = RestoreUnlessStale(ctx, dir, saved, reject);
  auto cleared = CallVswitchd(ctx, "set", {{"key", "flow-restore-wait"}, {"value", "false"}});
  if (cleared) Say(ctx, "flow-restore-wait cleared");
  if (!restored) {
    std::string kept;
    if (reject) {
      auto moved = MoveAside(dir);
      kept = moved ? "; the save was moved to " + *moved : "; " + moved.error().ToString();
    }
    Fail(ctx, restored.error().ToString() + kept);
  }
  if (!cleared) return Fail(ctx, "cannot clear flow-restore-wait: " + cleared.error().ToString());
  if (!restored) return kExitFailure;
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return Fail(ctx, fmt::format("cannot remove {}: {}", dir, ec.message()));
  Say(ctx, fmt::format("removed {}", dir));
  return kExitOk;
}

}  // namespace

// (lifecycle.h)
int StartLocked(const Lifecycle& ctx, const StartOptions& options) {
  auto datapath = FindDaemonBinary(kDatapath, options.bindir);
  if (!datapath) return Fail(ctx, datapath.error().ToString());
  auto vswitchd = options.vswitchd_bin.empty() ? FindDaemonBinary(kVswitchd, options.bindir)
                                               : Result<std::string>(options.vswitchd_bin);
  if (!vswitchd) return Fail(ctx, vswitchd.error().ToString());
  if (int code = EnsureDatapath(ctx, *datapath, options.datapath_args)) return code;

  auto holder = LockHolder(LockOf(ctx, kVswitchd));
  if (!holder) return Fail(ctx, holder.error().ToString());
  if (*holder) {
    Say(ctx, fmt::format("hsw-vswitchd is already running ({})", PidText(**holder)));
    return kExitOk;
  }
  std::optional<SavedFlows> saved = LoadSave(ctx, options.restore_dir);
  std::vector<std::string> args = {"--rundir", ctx.rundir, "--statedir", ctx.statedir};
  if (saved) args.push_back("--flow-restore-wait");
  args.insert(args.end(), options.vswitchd_args.begin(), options.vswitchd_args.end());
  // After "--": an option with an optional value before it (--pidfile,
  // --log-file) would take the database for its own.
  if (!options.database.empty()) args.insert(args.end(), {"--", options.database});
  if (int code =
          SpawnDaemon(ctx, kVswitchd, *vswitchd, args, saved ? " with flow-restore-wait" : "")) {
    return code;
  }
  return saved ? RestoreAndClear(ctx, options.restore_dir, *saved) : kExitOk;
}

namespace {

// Waits, with SIGTERM/SIGINT able to end the wait, until nobody runs a
// start, stop or restart.
Result<WaitEnd> WaitForCtlCommands(const Lifecycle& ctx) {
  return WaitForUnlock(ctx.rundir + "/hsw-ctl.lock", std::nullopt);
}

int StopOnSignal(const Lifecycle& ctx) {
  const char* name = sigabbrev_np(StopSignals::Received());
  Say(ctx, fmt::format("received SIG{}: stopping hsw-vswitchd", name ? name : "?"));
  g_stop_signal = 0;  // a second signal interrupts the stop itself
  auto lock = TakeCtlLock(ctx.rundir, ctx.timeout);
  if (!lock) return Fail(ctx, lock.error().ToString());
  return StopLocked(ctx, StopOptions{});
}

// As a container's PID 1, hsw-ctl inherits the daemons (their --detach
// parents exit), and would keep each ended hsw-vswitchd as a zombie.  With
// SIGCHLD ignored the kernel reaps them; nothing is spawned meanwhile.
class ReapOrphans {
 public:
  ReapOrphans() {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGCHLD, &ignore, &old_);
  }
  ~ReapOrphans() { sigaction(SIGCHLD, &old_, nullptr); }

 private:
  struct sigaction old_ {};
};

// start --wait: hsw-ctl stays for as long as hsw-vswitchd runs, as the main
// process of a container must.  A restart by another hsw-ctl ends one
// hsw-vswitchd and starts the next while holding hsw-ctl.lock, so each time
// hsw-vswitchd ends, wait for that lock before deciding whether it is gone.
int StayWhileRunning(const Lifecycle& ctx) {
  StopSignals signals;
  ReapOrphans reaper;
  bool first = true;
  for (;;) {
    auto holder = LockHolder(LockOf(ctx, kVswitchd));
    if (!holder) return Fail(ctx, holder.error().ToString());
    if (!*holder) {
      Say(ctx, first ? "hsw-vswitchd is not running" : "hsw-vswitchd exited");
      return kExitOk;
    }
    Say(ctx, fmt::format("{} hsw-vswitchd ({}); SIGTERM or SIGINT stops it",
                         first ? "staying with" : "restarted:", PidText(**holder)));
    first = false;
    auto end = WaitForUnlock(LockOf(ctx, kVswitchd), std::nullopt);
    if (end && *end == WaitEnd::kDone) end = WaitForCtlCommands(ctx);
    if (!end) return Fail(ctx, end.error().ToString());
    if (*end == WaitEnd::kSignalled) return StopOnSignal(ctx);
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Building blocks

std::string Plural(uint64_t n, std::string_view word) {
  return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
}

Result<std::optional<pid_t>> LockHolder(const std::string& lock_path) {
  UniqueFd fd(open(lock_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::optional<pid_t>();
    return ErrnoErr("cannot open {}", lock_path);
  }
  // Free means nobody runs; the shared lock taken to find out is dropped
  // when `fd` closes, a moment later.
  if (flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return std::optional<pid_t>();
  if (errno != EWOULDBLOCK) return ErrnoErr("cannot lock {}", lock_path);
  return std::optional<pid_t>(ReadPid(fd.get()));
}

Result<std::optional<bool>> RunsInThisPidNamespace(const std::string& rundir,
                                                   const std::string& program) {
  auto holder = LockHolder(daemon::LockPath(rundir, program));
  if (!holder) return tl::unexpected(holder.error());
  if (!*holder) return std::optional<bool>();
  std::string pidfile = rundir + "/" + program + ".pid";
  UniqueFd fd(open(pidfile.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return Err("{} runs without a pidfile at {}", program, pidfile);
    return ErrnoErr("cannot open {}", pidfile);
  }
  struct flock query {};
  query.l_type = F_WRLCK;
  query.l_whence = SEEK_SET;
  if (fcntl(fd.get(), F_GETLK, &query) < 0) return ErrnoErr("F_GETLK on {}", pidfile);
  if (query.l_type == F_UNLCK) {
    return Err("{} runs but nobody holds {}'s record lock", program, pidfile);
  }
  // l_pid is the holder as this namespace numbers it: 0 when it cannot see
  // the holder (a sibling namespace: another pod), another number than the
  // one the daemon wrote when the holder is in a namespace below this one.
  const pid_t written = **holder;
  return std::optional<bool>(query.l_pid > 0 && query.l_pid == written);
}

Result<WaitEnd> FlockUntil(int fd, int operation, std::optional<milliseconds> timeout) {
  UniqueFd null_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null_fd) return ErrnoErr("cannot open /dev/null");
  struct sigaction old_action = InstallWaitHandler(SIGALRM);
  sigset_t alarm_only, old_mask;
  sigemptyset(&alarm_only);
  sigaddset(&alarm_only, SIGALRM);
  pthread_sigmask(SIG_UNBLOCK, &alarm_only, &old_mask);
  g_alarm = 0;
  g_null_fd = null_fd.get();
  g_lock_fd = fd;  // from here on a signal swaps `fd` for /dev/null
  Result<int> error = FlockWithAlarm(fd, operation, timeout);
  g_lock_fd = -1;
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  sigaction(SIGALRM, &old_action, nullptr);
  if (g_stop_signal != 0) return WaitEnd::kSignalled;
  if (g_alarm != 0) return WaitEnd::kTimedOut;
  if (!error) return tl::unexpected(error.error());
  if (*error != 0) return MakeError("flock", *error);
  return WaitEnd::kDone;
}

Result<WaitEnd> WaitForUnlock(const std::string& lock_path, std::optional<milliseconds> timeout) {
  UniqueFd fd(open(lock_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return WaitEnd::kDone;
    return ErrnoErr("cannot open {}", lock_path);
  }
  // Released again when `fd` closes: holding it is not the point, getting it is.
  return FlockUntil(fd.get(), LOCK_SH, timeout);
}

StopSignals::StopSignals() {
  g_stop_signal = 0;
  old_term_ = InstallWaitHandler(SIGTERM);
  old_int_ = InstallWaitHandler(SIGINT);
}

StopSignals::~StopSignals() {
  sigaction(SIGTERM, &old_term_, nullptr);
  sigaction(SIGINT, &old_int_, nullptr);
  g_stop_signal = 0;
}

int StopSignals::Received() { return g_stop_signal; }

Result<UniqueFd> TakeCtlLock(const std::string& rundir, milliseconds timeout) {
  if (auto made = MakeDirs(rundir); !made) {
    return MakeError(fmt::format("cannot create directory {}", rundir), made.error().code);
  }
  std::string path = rundir + "/hsw-ctl.lock";
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) return ErrnoErr("cannot open {}", path);
  HSW_ASSIGN_OR_RETURN(WaitEnd end, FlockUntil(fd.get(), LOCK_EX, timeout));
  if (end == WaitEnd::kTimedOut) {
    return Err("another hsw-ctl start, stop or restart still holds {} after {}", path,
               Seconds(timeout));
  }
  if (end == WaitEnd::kSignalled) return Err("interrupted while waiting for {}", path);
  return fd;
}

bool SaveIsStale(const JournalPosition& saved, const JournalPosition& daemon) {
  return !saved.id.empty() && saved.id == daemon.id && daemon.seq > saved.seq;
}

Result<std::string> MoveAside(const std::string& dir) {
  std::string rejected = dir + ".rejected";
  std::error_code ec;
  fs::remove_all(rejected, ec);
  if (ec) return MakeError(fmt::format("cannot remove {}", rejected), ec.value());
  if (rename(dir.c_str(), rejected.c_str()) < 0) {
    return ErrnoErr("cannot rename {} to {}", dir, rejected);
  }
  return rejected;
}

// ---------------------------------------------------------------------------
// Commands

int SaveFlowsCommand(const Lifecycle& ctx, const std::string& dir) {
  auto saved = SaveFlowsTo(ctx, dir);
  if (!saved) return Fail(ctx, saved.error().ToString());
  SaySaved(ctx, *saved, dir);
  return kExitOk;
}

int RestoreFlowsCommand(const Lifecycle& ctx, const std::string& dir) {
  // Everything is read and checked before the daemon hears of it.
  auto saved = ReadSavedFlows(dir);
  if (!saved) return Fail(ctx, saved.error().ToString());
  auto restored = RestoreFrom(ctx, *saved);
  if (!restored) return Fail(ctx, restored.error().ToString());
  SayRestored(ctx, *restored, saved->bridges.size(), dir);
  return kExitOk;
}

int WaitStoppedCommand(const Lifecycle& ctx) {
  auto holder = LockHolder(LockOf(ctx, kVswitchd));
  if (!holder) return Fail(ctx, holder.error().ToString());
  if (!*holder) {
    Say(ctx, "hsw-vswitchd is not running");
    return kExitOk;
  }
  // Said before blocking, so that a log (or a test) shows what it waits for.
  Say(ctx, fmt::format("waiting for hsw-vswitchd ({}) to stop (at most {})", PidText(**holder),
                       Seconds(ctx.timeout)));
  return WaitStopped(ctx, kVswitchd, **holder, Clock::now());
}

int WaitReadyCommand(const Lifecycle& ctx) {
  auto since = Clock::now();
  auto client = ConnectWhenUp(ctx, since + ctx.timeout);
  if (!client) return Fail(ctx, client.error().ToString());
  // The daemon answers once its tables are loaded (at once if they are).
  auto reply = client->Call("wait-ready");
  // (The client's own timeout is the remaining time, truncated to whole
  // milliseconds: ask it whether it timed out rather than the clock.)
  if (!reply && reply.error().code == ETIMEDOUT) {
    return Fail(ctx, fmt::format("hsw-vswitchd is up, but its tables are still not loaded after "
                                 "{} (flow-restore-wait is on)",
                                 Seconds(ctx.timeout)));
  }
  if (!reply) return Fail(ctx, reply.error().ToString());
  Say(ctx, fmt::format("hsw-vswitchd is ready (waited {})", Seconds(Clock::now() - since)));
  return kExitOk;
}

int StopCommand(const Lifecycle& ctx, const StopOptions& options) {
  // No run directory, nothing running; creating one (as the lock would)
  // just to find that out could fail for want of permission.
  std::optional<UniqueFd> lock;
  std::error_code ec;
  if (fs::exists(ctx.rundir, ec)) {
    auto taken = TakeCtlLock(ctx.rundir, ctx.timeout);
    if (!taken) return Fail(ctx, taken.error().ToString());
    lock = std::move(*taken);
  }
  return StopLocked(ctx, options);
}

int StartCommand(const Lifecycle& ctx, const StartOptions& options) {
  int code;
  {
    auto lock = TakeCtlLock(ctx.rundir, ctx.timeout);
    if (!lock) return Fail(ctx, lock.error().ToString());
    code = StartLocked(ctx, options);
  }  // released before --wait, so that a restart can take it
  if (code == kExitOk && options.wait) code = StayWhileRunning(ctx);
  return code;
}

int RestartCommand(const Lifecycle& ctx, const RestartOptions& options) {
  // Whatever can fail before the stop fails here, while the old one runs.
  if (auto found = FindDaemonBinary(kDatapath, options.bindir); !found) {
    return Fail(ctx, found.error().ToString());
  }
  if (options.vswitchd_bin.empty()) {
    if (auto found = FindDaemonBinary(kVswitchd, options.bindir); !found) {
      return Fail(ctx, found.error().ToString());
    }
  }
  auto lock = TakeCtlLock(ctx.rundir, ctx.timeout);
  if (!lock) return Fail(ctx, lock.error().ToString());
  return RestartLocked(ctx, options);
}

int RestartLocked(const Lifecycle& ctx, const RestartOptions& options) {
  auto since = Clock::now();
  std::string dir = RestartFlowsDir(ctx, options);
  auto holder = LockHolder(LockOf(ctx, kVswitchd));
  if (!holder) return Fail(ctx, holder.error().ToString());
  if (!*holder) return Fail(ctx, "hsw-vswitchd is not running (hsw-ctl start starts it)");
  // The new hsw-vswitchd is configured from where the old one was.
  std::string database = options.database;
  if (database.empty()) {
    auto show = CallVswitchd(ctx, "show");
    if (!show) return Fail(ctx, show.error().ToString() + "; hsw-vswitchd was not restarted");
    database = show->value("database", "");
  }
  auto saved = SaveFlowsTo(ctx, dir);
  if (!saved) return Fail(ctx, saved.error().ToString() + "; hsw-vswitchd was not restarted");
  SaySaved(ctx, *saved, dir);
  if (int code = StopVswitchd(ctx, **holder)) return code;
  StartOptions start;
  start.restore_dir = dir;
  start.vswitchd_args = options.vswitchd_args;
  start.database = database;
  start.bindir = options.bindir;
  start.vswitchd_bin = options.vswitchd_bin;
  if (int code = StartLocked(ctx, start)) return code;
  Say(ctx, fmt::format("restarted hsw-vswitchd in {}", Seconds(Clock::now() - since)));
  return kExitOk;
}

std::string RestartFlowsDir(const Lifecycle& ctx, const RestartOptions& options) {
  return options.save_dir.empty() ? ctx.statedir + "/restart-flows" : options.save_dir;
}

}  // namespace hsw::ctl
