// Tests for common/daemon.h: directory resolution, the pidfile lock, the
// optional-value flags and --detach's readiness handshake (in forked children,
// so the test process itself never detaches).
#include <CLI/CLI.hpp>

#include "common/daemon.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "testlib/temp_dir.h"

namespace hsw::daemon {
namespace {

namespace fs = std::filesystem;

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("HSW_RUNDIR");
    unsetenv("HSW_STATEDIR");
    unsetenv("HSW_LOGDIR");
  }
  void TearDown() override {
    Cleanup();
    unsetenv("HSW_RUNDIR");
    unsetenv("HSW_STATEDIR");
    unsetenv("HSW_LOGDIR");
  }
  Options TempOptions() {
    Options options;
    options.rundir = root_ + "/run";
    options.statedir = root_ + "/state";
    options.logdir = root_ + "/log";
    return options;
  }
  // Forked children below leave with _exit(), so only this process removes it.
  testing::TempDir tmp_{"hsw-daemon-test"};
  const std::string root_ = tmp_.path();
};

TEST_F(DaemonTest, FlagBeatsEnvironmentBeatsDefault) {
  setenv("HSW_RUNDIR", (root_ + "/env-run").c_str(), 1);
  setenv("HSW_STATEDIR", (root_ + "/env-state").c_str(), 1);
  setenv("HSW_LOGDIR", (root_ + "/env-log").c_str(), 1);
  Options options;
  options.rundir = root_ + "/flag-run";
  auto dirs = ResolveDirs(options);
  ASSERT_TRUE(dirs) << dirs.error().ToString();
  EXPECT_EQ(dirs->rundir, root_ + "/flag-run");
  EXPECT_EQ(dirs->statedir, root_ + "/env-state");
  EXPECT_EQ(dirs->logdir, root_ + "/env-log");
  // Created if missing.
  EXPECT_TRUE(fs::is_directory(root_ + "/flag-run"));
  EXPECT_TRUE(fs::is_directory(root_ + "/env-state"));
  EXPECT_TRUE(fs::is_directory(root_ + "/env-log"));
  EXPECT_FALSE(fs::exists(root_ + "/env-run"));
}

TEST_F(DaemonTest, RelativeDirsBecomeAbsolute) {
  std::string cwd = fs::current_path();
  fs::current_path(root_);
  Options options;
  options.rundir = "rel/run";
  options.statedir = "rel/state";
  options.logdir = "rel/log";
  auto dirs = ResolveDirs(options);
  fs::current_path(cwd);
  ASSERT_TRUE(dirs);
  EXPECT_EQ(dirs->rundir, root_ + "/rel/run");
}

TEST_F(DaemonTest, UncreatableDirIsAnErrorNamingIt) {
  Options options = TempOptions();
  std::string file = root_ + "/plainfile";
  ASSERT_TRUE(WriteFileAtomic(file, "x"));
  options.rundir = file + "/sub";
  auto dirs = ResolveDirs(options);
  ASSERT_FALSE(dirs);
  EXPECT_NE(dirs.error().message.find(file + "/sub"), std::string::npos) << dirs.error().message;
}

TEST_F(DaemonTest, OptionalValueFlags) {
  {
    CLI::App app;
    Options options;
    AddOptions(app, options);
    const char* argv[] = {"prog", "--pidfile", "--log-file=/tmp/x.log", "--log-level", "dbg"};
    app.parse(5, const_cast<char**>(argv));
    ASSERT_TRUE(options.pidfile.has_value());
    EXPECT_EQ(*options.pidfile, "");
    ASSERT_TRUE(options.log_file.has_value());
    EXPECT_EQ(*options.log_file, "/tmp/x.log");
    EXPECT_EQ(options.log_level, "dbg");
  }
  {
    CLI::App app;
    Options options;
    AddOptions(app, options);
    const char* argv[] = {"prog", "--pidfile=/tmp/p.pid", "--detach", "--no-console-log"};
    app.parse(4, const_cast<char**>(argv));
    EXPECT_EQ(options.pidfile.value_or("unset"), "/tmp/p.pid");
    EXPECT_FALSE(options.log_file.has_value());
    EXPECT_TRUE(options.detach);
    EXPECT_TRUE(options.no_console_log);
  }
  {
    CLI::App app;
    Options options;
    AddOptions(app, options);
    const char* argv[] = {"prog", "--log-format", "xml"};
    EXPECT_THROW(app.parse(3, const_cast<char**>(argv)), CLI::ValidationError);
  }
}

TEST_F(DaemonTest, PidfileWrittenAndRemoved) {
  Options options = TempOptions();
  options.pidfile = "";  // default name
  auto dirs = ResolveDirs(options);
  ASSERT_TRUE(dirs);
  ASSERT_TRUE(Start(options, *dirs, "hsw-test"));
  std::string path = dirs->rundir + "/hsw-test.pid";
  auto content = ReadFile(path);
  ASSERT_TRUE(content);
  EXPECT_EQ(*content, std::to_string(getpid()) + "\n");
  // While we run, the file is locked.
  int fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_NE(flock(fd, LOCK_EX | LOCK_NB), 0);
  close(fd);
  Cleanup();
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(DaemonTest, StalePidfileIsReplaced) {
  Options options = TempOptions();
  auto dirs = ResolveDirs(options);
  ASSERT_TRUE(dirs);
  std::string path = dirs->rundir + "/stale.pid";
  ASSERT_TRUE(WriteFileAtomic(path, "999999\n"));  // nobody holds a lock on it
  options.pidfile = "stale.pid";                   // relative: inside rundir
  ASSERT_TRUE(Start(options, *dirs, "hsw-test"));
  EXPECT_EQ(ReadFile(path).value_or(""), std::to_string(getpid()) + "\n");
}

TEST_F(DaemonTest, LivePidfileIsAnErrorNamingThePid) {
  Options options = TempOptions();
  auto dirs = ResolveDirs(options);
  ASSERT_TRUE(dirs);
  std::string path = dirs->rundir + "/live.pid";
  ASSERT_TRUE(WriteFileAtomic(path, "4242\n"));
  // flock conflicts between open file descriptions, even in one process.
  int holder = open(path.c_str(), O_RDWR);
  ASSERT_GE(holder, 0);
  ASSERT_EQ(flock(holder, LOCK_EX | LOCK_NB), 0);
  options.pidfile = path;
  auto started = Start(options, *dirs, "hsw-test");
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find("4242"), std::string::npos) << started.error().message;
  EXPECT_NE(started.error().message.find(path), std::string::npos);
  EXPECT_EQ(ReadFile(path).value_or(""), "4242\n");  // untouched
  close(holder);
}

TEST_F(DaemonTest, BadLogLevelIsRejected) {
  Options options = TempOptions();
  options.log_level = "loud";
  auto dirs = ResolveDirs(options);
  ASSERT_TRUE(dirs);
  auto started = Start(options, *dirs, "hsw-test");
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find("loud"), std::string::npos);
}

// Runs `child_body` in a forked process that calls Start() with --detach; the
// forked process plays "the user's shell command" and its exit status and
// stderr are what the user would see.
struct DetachOutcome {
  int exit_status = -1;
  std::string stderr_text;
};

template <class Body>
DetachOutcome RunDetached(const Options& options, const Dirs& dirs, Body body) {
  int err_pipe[2];
  EXPECT_EQ(pipe(err_pipe), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(err_pipe[1], STDERR_FILENO);
    close(err_pipe[0]);
    close(err_pipe[1]);
    auto started = Start(options, dirs, "hsw-test");
    // Only the detached daemon returns from Start.
    if (!started) _exit(3);
    body();
    _exit(0);
  }
  close(err_pipe[1]);
  DetachOutcome outcome;
  int status = 0;
  waitpid(pid, &status, 0);
  outcome.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  // The daemon keeps stderr, so read only what is there now (non-blocking).
  fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
  char buffer[4096];
  ssize_t n;
  while ((n = read(err_pipe[0], buffer, sizeof(buffer))) > 0) {
    outcome.stderr_text.append(buffer, static_cast<size_t>(n));
  }
  close(err_pipe[0]);
  return outcome;
}

TEST_F(DaemonTest, DetachReturnsZeroOnlyWhenReady) {
  Options options = TempOptions();
  options.detach = true;
  options.no_console_log = true;
  auto dirs = ResolveDirs(options);
  ASSERT_TRUE(dirs);
  std::string marker = root_ + "/ready-marker";
  auto outcome = RunDetached(options, *dirs, [&] {
    // Work done before NotifyReady must be visible once the parent returns.
    usleep(200 * 1000);
    (void)WriteFileAtomic(marker, "done");
    NotifyReady();
  });
  EXPECT_EQ(outcome.exit_status, 0) << outcome.stderr_text;
  EXPECT_TRUE(fs::exists(marker));
}

TEST_F(DaemonTest, DetachReportsFailureReason) {
  Options options = TempOptions();
  options.detach = true;
  auto dirs = ResolveDirs(options);
  ASSERT_TRUE(dirs);
  auto outcome = RunDetached(options, *dirs, [] { NotifyFailed("config file is corrupt"); });
  EXPECT_EQ(outcome.exit_status, 1);
  EXPECT_NE(outcome.stderr_text.find("hsw-test: config file is corrupt"), std::string::npos)
      << outcome.stderr_text;
}

TEST_F(DaemonTest, DetachReportsEarlyExit) {
  Options options = TempOptions();
  options.detach = true;
  auto dirs = ResolveDirs(options);
  ASSERT_TRUE(dirs);
  auto outcome = RunDetached(options, *dirs, [] { _exit(7); });
  EXPECT_EQ(outcome.exit_status, 1);
  EXPECT_NE(outcome.stderr_text.find("exited before becoming ready (status 7)"), std::string::npos)
      << outcome.stderr_text;
}

TEST_F(DaemonTest, DetachedDaemonKeepsLoggingToInheritedStderr) {
  Options options = TempOptions();
  options.detach = true;
  auto dirs = ResolveDirs(options);
  ASSERT_TRUE(dirs);
  auto outcome = RunDetached(options, *dirs, [] {
    static const log::Module test_log("detach-test");
    test_log.Info("still talking after detach");
    NotifyReady();
  });
  EXPECT_EQ(outcome.exit_status, 0);
  EXPECT_NE(outcome.stderr_text.find("|detach-test|INFO|still talking after detach"),
            std::string::npos)
      << outcome.stderr_text;
}

TEST_F(DaemonTest, DetachedPidfileHoldsTheDaemonsPid) {
  Options options = TempOptions();
  options.detach = true;
  options.pidfile = "";
  auto dirs = ResolveDirs(options);
  ASSERT_TRUE(dirs);
  std::string pidfile = dirs->rundir + "/hsw-test.pid";
  std::string seen = root_ + "/seen-pid";
  // The first daemon lives until the test closes `hold`.
  int hold[2];
  ASSERT_EQ(pipe(hold), 0);
  auto outcome = RunDetached(options, *dirs, [&] {
    close(hold[1]);
    (void)WriteFileAtomic(seen, std::to_string(getpid()) + "\n");
    NotifyReady();
    char byte;
    (void)read(hold[0], &byte, 1);
    Cleanup();
  });
  close(hold[0]);
  ASSERT_EQ(outcome.exit_status, 0) << outcome.stderr_text;
  EXPECT_EQ(ReadFile(pidfile).value_or("none"), ReadFile(seen).value_or("other"));
  // A second instance is refused while the first one lives.
  auto second = RunDetached(options, *dirs, [] { NotifyReady(); });
  EXPECT_EQ(second.exit_status, 1);
  std::string pid = ReadFile(seen).value_or("?");
  pid.pop_back();
  EXPECT_NE(second.stderr_text.find("already running (pid " + pid), std::string::npos)
      << second.stderr_text;
  // The instance lock names the same pid, and is free once the daemon is gone
  // (flock needs no cleanup: the kernel dropped it with the process).
  std::string lock_path = LockPath(dirs->rundir, "hsw-test");
  EXPECT_EQ(ReadFile(lock_path).value_or("none"), pid + "\n");
  close(hold[1]);
  UniqueFd lock(open(lock_path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(lock);
  EXPECT_EQ(flock(lock.get(), LOCK_SH), 0) << "blocks until the first instance has exited";
}

TEST_F(DaemonTest, NotifyReadySendsSystemdReady) {
  std::string path = root_ + "/notify.sock";
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  setenv("NOTIFY_SOCKET", path.c_str(), 1);
  NotifyReady();
  unsetenv("NOTIFY_SOCKET");
  char buffer[256] = {};
  ssize_t n = recv(fd, buffer, sizeof(buffer) - 1, MSG_DONTWAIT);
  close(fd);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buffer, 8), "READY=1\n");
}

}  // namespace
}  // namespace hsw::daemon
