#include "common/daemon.h"

#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <climits>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace hsw::daemon {
namespace {

const log::Module vlog("daemon");

// Process-wide daemon state.  Start() runs once per process (tests may call
// it again after Cleanup()), so plain globals are enough.
struct State {
  int ready_fd = -1;    // write end of the readiness pipe, -1 once used or without --detach
  int pidfile_fd = -1;  // held open (and flocked) for the life of the process
  int lock_fd = -1;     // <rundir>/<program>.lock, flocked until the process dies
  std::string pidfile;  // path to unlink at Cleanup()
  std::string exit_record;  // <rundir>/<program>.exited, set by Start()
};

State& GetState() {
  static State state;
  return state;
}

// The readiness pipe carries one byte: 'R' (ready) or 'F' followed by the
// reason.  EOF with nothing read means the child died first.
constexpr char kReadyByte = 'R';
constexpr char kFailedByte = 'F';

std::string FromEnv(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

std::string Absolute(const std::string& path) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

// OVS's rule: a relative --pidfile / --log-file name is taken relative to the
// run / log directory, so `--pidfile=x.pid` lands beside the sockets.
std::string ResolveIn(const std::string& dir, const std::optional<std::string>& flag,
                      const std::string& default_name) {
  if (flag->empty()) return dir + "/" + default_name;
  if ((*flag)[0] == '/') return *flag;
  return dir + "/" + *flag;
}

// Sends `message` to systemd's NOTIFY_SOCKET, if there is one.  Written by
// hand rather than with libsystemd: it is one datagram, and hsw_common would
// otherwise need libsystemd for every binary that links it.
void SdNotify(const std::string& message) {
  std::string path = FromEnv("NOTIFY_SOCKET");
  if (path.empty()) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path) || (path[0] != '/' && path[0] != '@')) {
    vlog.Warn("ignoring unusable NOTIFY_SOCKET '{}'", path);
    return;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  if (path[0] == '@') {
    addr.sun_path[0] = '\0';  // abstract namespace
  } else {
    len += 1;  // include the terminating NUL
  }
  UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    vlog.Warn("sd_notify: socket: {}", std::strerror(errno));
    return;
  }
  if (sendto(fd.get(), message.data(), message.size(), MSG_NOSIGNAL,
             reinterpret_cast<sockaddr*>(&addr), len) < 0) {
    vlog.Warn("sd_notify to {}: {}", path, std::strerror(errno));
  }
}

void IgnoreAlarm(int) {}

// flock(LOCK_EX) for at most `seconds`.  A running daemon holds its lock for
// good, but hsw-ctl takes it shared for an instant to look (wait-stopped,
// start): a daemon starting in that instant must wait, not fail.
bool LockWithin(int fd, int seconds) {
  struct sigaction alarm_action {}, previous {};
  alarm_action.sa_handler = IgnoreAlarm;  // no SA_RESTART: flock returns EINTR
  sigaction(SIGALRM, &alarm_action, &previous);
  itimerval timer{};
  timer.it_value.tv_sec = seconds;
  setitimer(ITIMER_REAL, &timer, nullptr);
  int locked = flock(fd, LOCK_EX);
  int saved = errno;
  timer = {};
  setitimer(ITIMER_REAL, &timer, nullptr);
  sigaction(SIGALRM, &previous, nullptr);
  errno = saved;
  return locked == 0;
}

// Opens `path`, takes an exclusive flock on it (waiting up to `wait_s`
// seconds, 0 = not at all) and writes our pid into it.  The lock is what
// says "running": a file left by a dead process has no holder and is simply
// taken over, so no stale file can block a restart.  When another process
// holds it, *holder gets the pid that process wrote ("" if none) and the
// error's code is EWOULDBLOCK.
Result<UniqueFd> LockAndWritePid(const std::string& path, int wait_s, std::string* holder) {
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) return ErrnoErr("cannot open {}", path);
  if (flock(fd.get(), LOCK_EX | LOCK_NB) < 0 && !(wait_s > 0 && LockWithin(fd.get(), wait_s))) {
    if (errno != EWOULDBLOCK && errno != EINTR) return ErrnoErr("cannot lock {}", path);
    auto content = ReadFile(path);
    *holder = content ? *content : "";
    while (!holder->empty() && (holder->back() == '\n' || holder->back() == ' ')) {
      holder->pop_back();
    }
    return MakeError(fmt::format("{} is locked", path), EWOULDBLOCK);
  }
  std::string text = fmt::format("{}\n", getpid());
  if (ftruncate(fd.get(), 0) < 0 ||
      pwrite(fd.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    return ErrnoErr("cannot write {}", path);
  }
  return fd;
}

// Open vSwitch's tools (ovs-appctl -t NAME, ovs-ctl status/stop) believe a
// pidfile only while a POSIX record lock is held on it (they ask F_GETLK),
// so the pidfile holder takes one beside the flock.  Linux keeps the two
// apart; the record lock lasts while this process keeps every descriptor of
// the file open, which it does: nothing here reopens its own pidfile.  (Not
// on the instance lock: that travels to a successor by SCM_RIGHTS, and a
// record lock belongs to a process, not to the open file.)
Status HoldRecordLock(int fd, const std::string& path) {
  struct flock record {};
  record.l_type = F_WRLCK;
  record.l_whence = SEEK_SET;
  if (fcntl(fd, F_SETLK, &record) < 0) return ErrnoErr("cannot lock {} (fcntl)", path);
  return Ok();
}

// Takes the pidfile (--pidfile) for the life of the process; Cleanup()
// removes it.
Status TakePidfile(const std::string& path) {
  std::string holder;
  auto fd = LockAndWritePid(path, 0, &holder);
  if (!fd && fd.error().code == EWOULDBLOCK) {
    return Err("pidfile {} is locked by running process {} (is another instance running?)", path,
               holder.empty() ? "(unknown pid)" : holder);
  }
  if (!fd) return Err("pidfile: {}", fd.error().ToString());
  HSW_TRY(HoldRecordLock(fd->get(), path));
  fsync(fd->get());
  State& state = GetState();
  if (state.pidfile_fd >= 0) close(state.pidfile_fd);
  state.pidfile_fd = fd->Release();
  state.pidfile = path;
  return Ok();
}

// Takes <rundir>/<program>.lock for the life of the process.  The file is
// never removed (removing it would let a waiter hold a lock on an inode that
// a successor no longer uses); its content is only informative.
Status TakeInstanceLock(const std::string& path) {
  std::string holder;
  auto fd = LockAndWritePid(path, 1, &holder);
  if (!fd && fd.error().code == EWOULDBLOCK) {
    return Err("already running (pid {}, holding {})", holder.empty() ? "unknown" : holder, path);
  }
  if (!fd) return tl::unexpected(fd.error());
  GetState().lock_fd = fd->Release();
  return Ok();
}

// In the parent of --detach: waits for the child's word, never returns.
[[noreturn]] void WaitForChild(int read_fd, pid_t child, const std::string& program) {
  std::string message;
  char buffer[512];
  for (;;) {
    ssize_t n = read(read_fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    message.append(buffer, static_cast<size_t>(n));
    if (message[0] == kReadyByte) break;
  }
  if (!message.empty() && message[0] == kReadyByte) _exit(0);
  if (!message.empty() && message[0] == kFailedByte) {
    std::fprintf(stderr, "%s: %s\n", program.c_str(), message.c_str() + 1);
    std::fflush(stderr);
    _exit(1);
  }
  int status = 0;
  pid_t r;
  do {
    r = waitpid(child, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    std::fprintf(stderr, "%s: child %d exited before becoming ready\n", program.c_str(),
                 static_cast<int>(child));
  } else if (WIFSIGNALED(status)) {
    std::fprintf(stderr, "%s: child %d exited before becoming ready (killed by signal %d)\n",
                 program.c_str(), static_cast<int>(child), WTERMSIG(status));
  } else {
    std::fprintf(stderr, "%s: child %d exited before becoming ready (status %d)\n", program.c_str(),
                 static_cast<int>(child), WEXITSTATUS(status));
  }
  std::fflush(stderr);
  _exit(1);
}

Status Detach(const std::string& program, bool keep_console) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return ErrnoErr("pipe");
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    int saved = errno;
    close(fds[0]);
    close(fds[1]);
    return MakeError("fork", saved);
  }
  if (pid > 0) {
    close(fds[1]);
    WaitForChild(fds[0], pid, program);
  }
  close(fds[0]);
  GetState().ready_fd = fds[1];
  // A new session: the daemon no longer gets the terminal's SIGINT/SIGHUP,
  // and the shell that started it can exit without taking it along.
  if (setsid() < 0) vlog.Warn("setsid: {}", std::strerror(errno));
  // stdin is never read; stdout/stderr stay what the caller gave us (the
  // container's log) unless the user asked for no console output.
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    dup2(null_fd, STDIN_FILENO);
    if (!keep_console) {
      dup2(null_fd, STDOUT_FILENO);
      dup2(null_fd, STDERR_FILENO);
    }
    if (null_fd > STDERR_FILENO) close(null_fd);
  }
  return Ok();
}

}  // namespace

CLI::Option* AddOptionalValueOption(CLI::App& app, const std::string& name,
                                    std::optional<std::string>& into, const std::string& help,
                                    const std::string& type_name) {
  return app
      .add_option(
          name,
          [&into](const CLI::results_t& results) {
            into = results.empty() ? std::string() : results.front();
            return true;
          },
          help)
      ->expected(0, 1)
      ->type_name(type_name);
}

void AddOptions(CLI::App& app, Options& options) {
  app.add_option("--rundir", options.rundir,
                 "directory for sockets and pidfiles (env HSW_RUNDIR, default /run/hsw)");
  app.add_option("--statedir", options.statedir,
                 "directory for configuration and saved state (env HSW_STATEDIR, default "
                 "/var/lib/hsw)");
  app.add_option("--logdir", options.logdir,
                 "directory for log files (env HSW_LOGDIR, default /var/log/hsw)");
  app.add_flag("--detach", options.detach,
               "run in the background; return once the daemon is ready (0) or has failed (1)");
  AddOptionalValueOption(
      app, "--pidfile", options.pidfile,
      "write the pid to FILE (default <rundir>/<program>.pid), locked while running", "[=FILE]");
  AddOptionalValueOption(app, "--log-file", options.log_file,
                         "also log to FILE (default <logdir>/<program>.log), reopened on SIGHUP",
                         "[=FILE]");
  app.add_flag("--no-console-log", options.no_console_log,
               "do not log to stderr (by default logs keep going there, even with --detach)");
  app.add_option("--log-format", options.log_format, "log line format")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", options.log_level, "dbg, info, warn, err, emer or off");
}

Result<Dirs> ResolveDirs(const Options& options) {
  auto pick = [](const std::string& flag, const char* env, const char* fallback) {
    if (!flag.empty()) return Absolute(flag);
    std::string from_env = FromEnv(env);
    if (!from_env.empty()) return Absolute(from_env);
    return std::string(fallback);
  };
  Dirs dirs{pick(options.rundir, "HSW_RUNDIR", "/run/hsw"),
            pick(options.statedir, "HSW_STATEDIR", "/var/lib/hsw"),
            pick(options.logdir, "HSW_LOGDIR", "/var/log/hsw")};
  for (const std::string* dir : {&dirs.rundir, &dirs.statedir, &dirs.logdir}) {
    auto made = MakeDirs(*dir);
    if (!made) return Err("cannot create directory {}: {}", *dir, made.error().ToString());
  }
  return dirs;
}

Status Start(const Options& options, const Dirs& dirs, const std::string& program) {
  log::Options log_options;
  log_options.console = !options.no_console_log;
  if (options.log_format == "json") {
    log_options.json = true;
  } else if (options.log_format != "text") {
    return Err("unknown log format '{}' (expected text or json)", options.log_format);
  }
  HSW_ASSIGN_OR_RETURN(log_options.level, log::ParseLevel(options.log_level));
  if (options.log_file) {
    log_options.file = ResolveIn(dirs.logdir, options.log_file, program + ".log");
  }
  // The log file is opened before the fork so that a bad path fails in the
  // foreground, where the user sees it.
  HSW_TRY(log::Init(log_options));
  for (const std::string& spec : options.log_specs) {
    auto applied = log::ApplyVlogSpec(spec);
    if (!applied) return Err("-v{}: {}", spec, applied.error().message);
    if (!applied->empty()) vlog.Info("{}", *applied);
  }

  if (options.detach) HSW_TRY(Detach(program, !options.no_console_log));
  GetState().exit_record = ExitRecordPath(dirs.rundir, program);

  // After the fork: the pid written must be the daemon's, and flock belongs
  // to the process that keeps the file open.
  if (options.successor) {
    vlog.Info("{} starting as successor (pid {}, rundir {}, statedir {}, logdir {})", program,
              getpid(), dirs.rundir, dirs.statedir, dirs.logdir);
    return Ok();
  }
  if (auto locked = TakeInstanceLock(LockPath(dirs.rundir, program)); !locked) {
    NotifyFailed(locked.error().ToString());
    return locked;
  }
  if (options.pidfile) {
    std::string path = ResolveIn(dirs.rundir, options.pidfile, program + ".pid");
    auto taken = TakePidfile(path);
    if (!taken) {
      NotifyFailed(taken.error().ToString());
      return taken;
    }
  }
  vlog.Info("{} starting (pid {}, rundir {}, statedir {}, logdir {})", program, getpid(),
            dirs.rundir, dirs.statedir, dirs.logdir);
  return Ok();
}

void NotifyReady() {
  State& state = GetState();
  if (state.ready_fd >= 0) {
    char byte = kReadyByte;
    if (write(state.ready_fd, &byte, 1) < 0) {
      vlog.Warn("cannot tell the parent process we are ready: {}", std::strerror(errno));
    }
    close(state.ready_fd);
    state.ready_fd = -1;
  }
  SdNotify(fmt::format("READY=1\nMAINPID={}\n", getpid()));
}

void NotifyFailed(const std::string& reason) {
  State& state = GetState();
  if (state.ready_fd >= 0) {
    std::string message = std::string(1, kFailedByte) + reason;
    (void)WriteAll(state.ready_fd, message.data(), message.size());
    close(state.ready_fd);
    state.ready_fd = -1;
  }
  SdNotify(fmt::format("STATUS=start-up failed: {}\n", reason));
}

int InstanceLockFd() { return GetState().lock_fd; }

Status AdoptInstanceLock(UniqueFd fd, const std::string& path) {
  std::string text = fmt::format("{}\n", getpid());
  if (ftruncate(fd.get(), 0) < 0 ||
      pwrite(fd.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    return ErrnoErr("cannot write {}", path);
  }
  State& state = GetState();
  if (state.lock_fd >= 0) close(state.lock_fd);
  state.lock_fd = fd.Release();
  return Ok();
}

Status TakeInstanceLockAsOrphan(const Dirs& dirs, const std::string& program) {
  return TakeInstanceLock(LockPath(dirs.rundir, program));
}

void LeavePidfileToSuccessor() { GetState().pidfile.clear(); }

Status TakePidfileAfterPredecessor(const Options& options, const Dirs& dirs,
                                   const std::string& program) {
  if (!options.pidfile) return Ok();
  std::string path = ResolveIn(dirs.rundir, options.pidfile, program + ".pid");
  std::string holder;
  auto fd = LockAndWritePid(path, 5, &holder);
  if (!fd) {
    return Err("pidfile {} is still held by pid {} after the handover", path,
               holder.empty() ? "(unknown)" : holder);
  }
  HSW_TRY(HoldRecordLock(fd->get(), path));
  State& state = GetState();
  if (state.pidfile_fd >= 0) close(state.pidfile_fd);
  state.pidfile_fd = fd->Release();
  state.pidfile = path;
  return Ok();
}

std::string ExitRecordPath(const std::string& rundir, const std::string& program) {
  return rundir + "/" + program + ".exited";
}

void RecordExit(int status, const std::string& reason) {
  const std::string& path = GetState().exit_record;
  if (path.empty()) return;
  nlohmann::json record = {{"pid", getpid()}, {"status", status}, {"reason", reason}};
  std::string tmp = fmt::format("{}.{}.tmp", path, getpid());
  std::string text = record.dump() + "\n";
  UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd || write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
      rename(tmp.c_str(), path.c_str()) < 0) {
    vlog.Warn("cannot write {}: {}", path, std::strerror(errno));
    unlink(tmp.c_str());
  }
}

std::optional<ExitRecord> ReadExitRecord(const std::string& rundir, const std::string& program) {
  auto text = ReadFile(ExitRecordPath(rundir, program));
  if (!text) return std::nullopt;
  return ParseExitRecord(*text);
}

std::optional<ExitRecord> ParseExitRecord(std::string_view text) {
  nlohmann::json record = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto in_range = [&](const char* key, int64_t min, int64_t max) {
    if (!record.contains(key) || !record[key].is_number_integer()) return false;
    // is_number_integer() holds for unsigned too: compare as what it is.
    if (record[key].is_number_unsigned()) {
      uint64_t u = record[key].get<uint64_t>();
      return (min <= 0 || u >= static_cast<uint64_t>(min)) && u <= static_cast<uint64_t>(max);
    }
    int64_t v = record[key].get<int64_t>();
    return v >= min && v <= max;
  };
  if (!record.is_object() || !in_range("pid", 1, INT32_MAX) ||
      !in_range("status", INT32_MIN, INT32_MAX)) {
    return std::nullopt;
  }
  ExitRecord exit;
  exit.pid = static_cast<pid_t>(record["pid"].get<int64_t>());
  exit.status = static_cast<int>(record["status"].get<int64_t>());
  if (record.contains("reason") && record["reason"].is_string()) {
    exit.reason = record["reason"].get<std::string>();
  }
  return exit;
}

std::string LockPath(const std::string& rundir, const std::string& program) {
  return rundir + "/" + program + ".lock";
}

void Cleanup() {
  State& state = GetState();
  if (state.pidfile_fd >= 0) {
    // Unlink before unlocking so that a successor never sees our pid in a
    // file it could lock.
    if (!state.pidfile.empty()) unlink(state.pidfile.c_str());
    close(state.pidfile_fd);
    state.pidfile_fd = -1;
    state.pidfile.clear();
  }
}

}  // namespace hsw::daemon
