// hsw-ctl's lifecycle commands (ctl/lifecycle.h) without the real daemons:
// locks held by child processes, a fake control socket served by a thread,
// and, for start/restart, small Python stand-ins for hsw-datapath and
// hsw-vswitchd that keep the real ones' contract (lock file, --detach
// readiness, control socket renamed into place, JSON lines).
#include "ctl/lifecycle.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/daemon.h"
#include "common/fd.h"
#include "ctl/saved_flows.h"
#include "testlib/temp_dir.h"

namespace hsw::ctl {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A child process holding an flock (LOCK_EX) on `path`, with its pid in the
// file, as a daemon does.  It dies (and the kernel drops its lock) on
// Release(), on SIGTERM, or when this object goes away.  Killed rather than
// told through a pipe: later children would inherit the pipe's other end.
class LockHolderChild {
 public:
  explicit LockHolderChild(const std::string& path) {
    int ready[2];
    EXPECT_EQ(pipe(ready), 0);
    pid_ = fork();
    if (pid_ == 0) {
      close(ready[0]);
      int fd = open(path.c_str(), O_RDWR | O_CREAT, 0644);
      if (fd < 0 || flock(fd, LOCK_EX) < 0) _exit(2);
      char text[32];
      int n = snprintf(text, sizeof(text), "%d\n", static_cast<int>(getpid()));
      if (ftruncate(fd, 0) < 0 || pwrite(fd, text, static_cast<size_t>(n), 0) != n) _exit(2);
      if (write(ready[1], "R", 1) != 1) _exit(2);
      for (;;) pause();
    }
    close(ready[1]);
    char byte = 0;
    EXPECT_EQ(read(ready[0], &byte, 1), 1) << "the child did not take " << path;
    close(ready[0]);
  }
  ~LockHolderChild() {
    Release();
    Reap();
  }
  pid_t pid() const { return pid_; }
  void Release() {
    if (pid_ > 0 && !released_) kill(pid_, SIGKILL);
    released_ = true;
  }
  int Reap() {
    int status = 0;
    if (pid_ > 0) waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  bool released_ = false;
};

// A fake hsw-vswitchd control socket: a thread answers each request line
// with handler(method, params), a {"result"} or {"error"} object.  A
// request's payload is recorded as its "payload" member (a string); a reply's
// "payload" member is sent as the reply's payload.
class FakeControl {
 public:
  using Handler = std::function<json(const std::string& method, const json& params)>;

  FakeControl(std::string rundir, Handler handler, milliseconds delay = milliseconds(0))
      : path_(rundir + "/vswitchd.ctl"), handler_(std::move(handler)) {
    EXPECT_EQ(pipe(stop_), 0);
    if (delay.count() == 0) Listen();  // up before the constructor returns
    thread_ = std::thread([this, delay] { Serve(delay); });
  }
  ~FakeControl() {
    (void)!write(stop_[1], "x", 1);
    thread_.join();
    close(stop_[0]);
    close(stop_[1]);
  }
  std::vector<json> requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  std::vector<std::string> methods() {
    std::vector<std::string> names;
    for (const json& request : requests()) names.push_back(request["method"]);
    return names;
  }

 private:
  void Listen() {
    auto listener = ListenUnix(path_);
    ASSERT_TRUE(listener) << listener.error().ToString();
    listener_ = std::move(*listener);
  }
  void Serve(milliseconds delay) {
    if (delay.count() > 0) {
      pollfd wait_stop{stop_[0], POLLIN, 0};
      if (poll(&wait_stop, 1, static_cast<int>(delay.count())) != 0) return;
      Listen();
    }
    for (;;) {
      pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_[0], POLLIN, 0}};
      poll(fds, 2, -1);
      if (fds[1].revents) return;
      UniqueFd conn(accept(listener_.get(), nullptr, nullptr));
      if (conn) ServeConnection(conn.get());
    }
  }
  void ServeConnection(int fd) {
    std::string line;
    char c;
    while (read(fd, &c, 1) == 1) {
      if (c != '\n') {
        line += c;
        continue;
      }
      json request = json::parse(line);
      line.clear();
      if (request.contains("payload_size")) {
        std::string payload(request["payload_size"].get<size_t>(), '\0');
        size_t have = 0;
        while (have < payload.size()) {
          ssize_t n = read(fd, payload.data() + have, payload.size() - have);
          if (n <= 0) return;
          have += static_cast<size_t>(n);
        }
        request["payload"] = payload;
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        requests_.push_back(request);
      }
      json reply = handler_(request["method"], request["params"]);
      reply["id"] = request["id"];
      std::string payload;
      if (reply.contains("payload")) {
        payload = reply["payload"].get<std::string>();
        reply.erase("payload");
        reply["payload_size"] = payload.size();
      }
      std::string text = reply.dump() + "\n" + payload;
      // The client may be gone (timed out): no SIGPIPE for the test runner.
      (void)!send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    }
  }

  std::string path_;
  Handler handler_;
  UniqueFd listener_;
  int stop_[2] = {-1, -1};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<json> requests_;
};

json OkReply(const json& result = nullptr) { return {{"result", result}}; }
json ErrorReply(const std::string& message) { return {{"error", {{"message", message}}}}; }

// hsw-vswitchd's reply to save-flows {"payload": true}, the payload included.
json SaveReply(const std::string& journal_id = "j1", uint64_t seq = 5) {
  std::string text =
      "table=0,priority=100,in_port=1,actions=output:2\n"
      "table=0,priority=100,in_port=2,actions=output:1\n";
  return {{"result",
           {{"version", "0.1.0"},
            {"journal", {{"id", journal_id}, {"seq", seq}}},
            {"bridges", {{{"name", "br0"}, {"n_flows", 2}, {"size", text.size()}}}}}},
          {"payload", text}};
}

FlowsToSave SaveReplyFlows(const std::string& journal_id = "j1", uint64_t seq = 5) {
  json reply = SaveReply(journal_id, seq);
  return *FlowsFromSaveReply(reply["result"], reply["payload"].get<std::string>());
}

class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(rundir_);
    fs::create_directories(statedir_);
  }
  void TearDown() override {
    // Whatever a failed test left running.
    for (const char* program : {"hsw-vswitchd", "hsw-datapath"}) {
      auto holder = LockHolder(daemon::LockPath(rundir_, program));
      if (holder && *holder && **holder > 0) kill(**holder, SIGKILL);
    }
  }

  Lifecycle Ctx(milliseconds timeout = milliseconds(5000)) {
    return Lifecycle{rundir_, statedir_, timeout, out_, err_};
  }
  std::string VswitchdLock() { return daemon::LockPath(rundir_, "hsw-vswitchd"); }
  std::string DatapathLock() { return daemon::LockPath(rundir_, "hsw-datapath"); }

  testing::TempDir tmp_{"hsw-lifecycle"};  // forked children _exit(): only we remove it
  const std::string root_ = tmp_.path();
  std::string rundir_ = root_ + "/run", statedir_ = root_ + "/state";
  std::ostringstream out_, err_;
};

// --- Pure helpers ---

TEST(Lifecycle, Plural) {
  EXPECT_EQ(Plural(0, "flow"), "0 flows");
  EXPECT_EQ(Plural(1, "bridge"), "1 bridge");
  EXPECT_EQ(Plural(10000, "flow"), "10000 flows");
}

TEST(Lifecycle, StaleSaves) {
  JournalPosition saved{"j1", 5};
  EXPECT_TRUE(SaveIsStale(saved, {"j1", 6})) << "the journal moved on after the save";
  EXPECT_FALSE(SaveIsStale(saved, {"j1", 5})) << "nothing happened since the save";
  EXPECT_FALSE(SaveIsStale(saved, {"j1", 4})) << "the journal lost its tail: the save is newer";
  EXPECT_FALSE(SaveIsStale(saved, {"j2", 9})) << "another journal: positions do not compare";
  EXPECT_FALSE(SaveIsStale({"", 0}, {"", 9}));
}

TEST_F(LifecycleTest, MoveAsideReplacesAnOlderRejection) {
  fs::create_directories(root_ + "/save.rejected/old");
  fs::create_directories(root_ + "/save/new");
  auto moved = MoveAside(root_ + "/save");
  ASSERT_TRUE(moved) << moved.error().ToString();
  EXPECT_EQ(*moved, root_ + "/save.rejected");
  EXPECT_TRUE(fs::exists(root_ + "/save.rejected/new"));
  EXPECT_FALSE(fs::exists(root_ + "/save.rejected/old"));
  EXPECT_FALSE(fs::exists(root_ + "/save"));
}

TEST_F(LifecycleTest, FindDaemonBinary) {
  std::string bin = root_ + "/bin";
  fs::create_directories(bin);
  std::ofstream(bin + "/hsw-nonesuch") << "#!/bin/sh\n";
  fs::permissions(bin + "/hsw-nonesuch", fs::perms::owner_all);
  std::ofstream(bin + "/hsw-noexec") << "";
  fs::permissions(bin + "/hsw-noexec", fs::perms::owner_read);

  EXPECT_EQ(FindDaemonBinary("hsw-nonesuch", bin).value_or(""), bin + "/hsw-nonesuch");
  auto noexec = FindDaemonBinary("hsw-noexec", bin);
  ASSERT_FALSE(noexec);
  EXPECT_EQ(noexec.error().message,
            "cannot find hsw-noexec: " + bin + "/hsw-noexec is missing or not executable");

  // Not beside the test binary, so $HSW_BINDIR decides.
  setenv("HSW_BINDIR", bin.c_str(), 1);
  EXPECT_EQ(FindDaemonBinary("hsw-nonesuch").value_or(""), bin + "/hsw-nonesuch");
  unsetenv("HSW_BINDIR");
  auto missing = FindDaemonBinary("hsw-nonesuch");
  ASSERT_FALSE(missing);
  EXPECT_TRUE(Contains(missing.error().message,
                       "(this program's directory), HSW_BINDIR is not set, nor on PATH"))
      << missing.error().message;
}

// --- Locks ---

TEST_F(LifecycleTest, LockHolder) {
  auto none = LockHolder(VswitchdLock());
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none) << "no lock file: not running";
  {
    LockHolderChild child(VswitchdLock());
    auto held = LockHolder(VswitchdLock());
    ASSERT_TRUE(held);
    ASSERT_TRUE(*held);
    EXPECT_EQ(**held, child.pid());
  }
  auto free = LockHolder(VswitchdLock());
  ASSERT_TRUE(free);
  EXPECT_FALSE(*free) << "a file nobody locks: not running";
}

// A daemon's two locks, as daemon::Start takes them: the flock on
// <rundir>/<program>.lock and the POSIX record lock on <program>.pid, held by
// a child -- in a pid namespace of its own when `own_pid_namespace` (the
// daemon of another pod).
class DaemonLocksChild {
 public:
  DaemonLocksChild(const std::string& rundir, const std::string& program, bool pidfile,
                   bool own_pid_namespace) {
    int ready[2];
    EXPECT_EQ(pipe(ready), 0);
    pid_ = fork();
    if (pid_ == 0) {
      close(ready[0]);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      // The pid a stop would signal.  Not the inner child's own (1, as its
      // namespace numbers it): a stop that wrongly signalled it here would
      // hit this machine's init; the outer child is harmless to hit.
      const pid_t pid_to_write = getpid();
      if (own_pid_namespace) {
        // The next child is pid 1 of a new namespace; this one waits for it.
        if (unshare(CLONE_NEWPID) < 0) _exit(3);
        pid_t inner = fork();
        if (inner < 0) _exit(3);
        if (inner > 0) {
          waitpid(inner, nullptr, 0);
          _exit(0);
        }
        prctl(PR_SET_PDEATHSIG, SIGKILL);  // not inherited across fork
      }
      int lock = open(daemon::LockPath(rundir, program).c_str(), O_RDWR | O_CREAT, 0644);
      if (lock < 0 || flock(lock, LOCK_EX) < 0) _exit(2);
      std::string text = std::to_string(pid_to_write) + "\n";
      if (pwrite(lock, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) _exit(2);
      if (pidfile) {
        int fd = open((rundir + "/" + program + ".pid").c_str(), O_RDWR | O_CREAT, 0644);
        struct flock record {};
        record.l_type = F_WRLCK;
        record.l_whence = SEEK_SET;
        if (fd < 0 || fcntl(fd, F_SETLK, &record) < 0) _exit(2);
      }
      if (write(ready[1], "R", 1) != 1) _exit(2);
      for (;;) pause();
    }
    close(ready[1]);
    char byte = 0;
    ok_ = read(ready[0], &byte, 1) == 1;
    close(ready[0]);
  }
  ~DaemonLocksChild() {
    kill(pid_, SIGKILL);  // the outer child; PDEATHSIG takes the inner one
    waitpid(pid_, nullptr, 0);
  }
  bool ok() const { return ok_; }

 private:
  pid_t pid_ = -1;
  bool ok_ = false;
};

TEST_F(LifecycleTest, RunsInThisPidNamespaceTellsThisPodsDaemonsFromAnothers) {
  auto none = RunsInThisPidNamespace(rundir_, "hsw-datapath");
  ASSERT_TRUE(none) << none.error().ToString();
  EXPECT_FALSE(*none) << "not running";
  {
    DaemonLocksChild here(rundir_, "hsw-datapath", true, false);
    ASSERT_TRUE(here.ok());
    auto answer = RunsInThisPidNamespace(rundir_, "hsw-datapath");
    ASSERT_TRUE(answer && *answer) << (answer ? "not running?" : answer.error().ToString());
    EXPECT_TRUE(**answer);
  }
  {
    DaemonLocksChild no_pidfile(rundir_, "hsw-vswitchd", false, false);
    ASSERT_TRUE(no_pidfile.ok());
    auto answer = RunsInThisPidNamespace(rundir_, "hsw-vswitchd");
    ASSERT_FALSE(answer) << "cannot be told without a pidfile";
    EXPECT_TRUE(Contains(answer.error().message, "without a pidfile")) << answer.error().message;
  }
  // The tests run as root (CI does); creating a pid namespace needs it.
  ASSERT_EQ(geteuid(), 0u) << "this test needs root (unshare CLONE_NEWPID)";
  DaemonLocksChild elsewhere(rundir_, "hsw-datapath", true, true);
  ASSERT_TRUE(elsewhere.ok()) << "the child could not make a pid namespace";
  auto answer = RunsInThisPidNamespace(rundir_, "hsw-datapath");
  ASSERT_TRUE(answer && *answer) << (answer ? "not running?" : answer.error().ToString());
  EXPECT_FALSE(**answer) << "a daemon of another pid namespace";
  // stop --local-only leaves it alone; plain stop --all refuses to signal it.
  StopOptions local;
  local.all = true;
  local.local_only = true;
  EXPECT_EQ(StopCommand(Ctx(), local), 0) << err_.str();
  EXPECT_TRUE(Contains(out_.str(), "another pid namespace")) << out_.str();
  StopOptions all;
  all.all = true;
  EXPECT_NE(StopCommand(Ctx(), all), 0);
  EXPECT_TRUE(Contains(err_.str(), "runs in another pid namespace")) << err_.str();
  auto still = LockHolder(DatapathLock());
  ASSERT_TRUE(still && *still) << "it was left running";
}

TEST_F(LifecycleTest, WaitForUnlockTimesOut) {
  LockHolderChild child(VswitchdLock());
  auto start = Clock::now();
  auto end = WaitForUnlock(VswitchdLock(), milliseconds(200));
  ASSERT_TRUE(end) << end.error().ToString();
  EXPECT_EQ(*end, WaitEnd::kTimedOut);
  EXPECT_GE(SecondsSince(start), 0.19);
  EXPECT_LT(SecondsSince(start), 2.0);
  // A deadline so short that it may pass before flock() is even called.
  for (int i = 0; i < 20; ++i) {
    auto quick = WaitForUnlock(VswitchdLock(), milliseconds(0));
    ASSERT_TRUE(quick);
    EXPECT_EQ(*quick, WaitEnd::kTimedOut);
  }
  EXPECT_LT(SecondsSince(start), 3.0);
}

TEST_F(LifecycleTest, WaitForUnlockReturnsWhenTheHolderExits) {
  EXPECT_EQ(WaitForUnlock(VswitchdLock(), milliseconds(10)).value_or(WaitEnd::kTimedOut),
            WaitEnd::kDone)
      << "no file: nothing to wait for";
  LockHolderChild child(VswitchdLock());
  std::thread releaser([&] {
    std::this_thread::sleep_for(milliseconds(300));
    child.Release();
  });
  auto start = Clock::now();
  auto end = WaitForUnlock(VswitchdLock(), milliseconds(10000));
  releaser.join();
  ASSERT_TRUE(end) << end.error().ToString();
  EXPECT_EQ(*end, WaitEnd::kDone);
  EXPECT_GE(SecondsSince(start), 0.25);
  EXPECT_LT(SecondsSince(start), 5.0);
}

TEST_F(LifecycleTest, WaitForUnlockInAnotherThreadTimesOutThere) {
  LockHolderChild child(VswitchdLock());
  Result<WaitEnd> end = MakeError("not run");
  std::thread waiter([&] { end = WaitForUnlock(VswitchdLock(), milliseconds(200)); });
  waiter.join();
  ASSERT_TRUE(end) << end.error().ToString();
  EXPECT_EQ(*end, WaitEnd::kTimedOut);
}

TEST_F(LifecycleTest, StopSignalsEndAWait) {
  LockHolderChild child(VswitchdLock());
  StopSignals signals;
  pthread_t self = pthread_self();
  std::thread sender([self] {
    std::this_thread::sleep_for(milliseconds(200));
    pthread_kill(self, SIGTERM);
  });
  auto end = WaitForUnlock(VswitchdLock(), std::nullopt);
  sender.join();
  ASSERT_TRUE(end) << end.error().ToString();
  EXPECT_EQ(*end, WaitEnd::kSignalled);
  EXPECT_EQ(StopSignals::Received(), SIGTERM);
}

TEST_F(LifecycleTest, AStopSignalBeforeTheWaitIsNotLost) {
  LockHolderChild child(VswitchdLock());
  StopSignals signals;
  raise(SIGINT);
  auto end = WaitForUnlock(VswitchdLock(), std::nullopt);  // would block forever otherwise
  ASSERT_TRUE(end) << end.error().ToString();
  EXPECT_EQ(*end, WaitEnd::kSignalled);
  EXPECT_EQ(StopSignals::Received(), SIGINT);
}

TEST_F(LifecycleTest, CtlLockSerialisesCommands) {
  {
    LockHolderChild other(rundir_ + "/hsw-ctl.lock");
    auto lock = TakeCtlLock(rundir_, milliseconds(200));
    ASSERT_FALSE(lock);
    EXPECT_TRUE(
        Contains(lock.error().message, "another hsw-ctl start, stop or restart still holds"))
        << lock.error().message;
  }
  auto lock = TakeCtlLock(rundir_, milliseconds(200));
  ASSERT_TRUE(lock) << lock.error().ToString();
  // Held by us now: a stop elsewhere has to wait.
  auto again = TakeCtlLock(rundir_, milliseconds(100));
  EXPECT_FALSE(again);
}

// --- wait-stopped ---

TEST_F(LifecycleTest, WaitStoppedWhenNotRunning) {
  EXPECT_EQ(WaitStoppedCommand(Ctx()), 0);
  EXPECT_EQ(out_.str(), "hsw-vswitchd is not running\n");
}

TEST_F(LifecycleTest, WaitStoppedWaitsForTheLock) {
  LockHolderChild child(VswitchdLock());
  std::thread releaser([&] {
    std::this_thread::sleep_for(milliseconds(300));
    child.Release();
  });
  int code = WaitStoppedCommand(Ctx());
  releaser.join();
  EXPECT_EQ(code, 0) << err_.str();
  std::string expected = fmt::format(
      "waiting for hsw-vswitchd (pid {0}) to stop (at most 5 s)\nhsw-vswitchd (pid {0}) stopped "
      "after 0.",
      child.pid());
  EXPECT_EQ(out_.str().rfind(expected, 0), 0u) << out_.str();
}

TEST_F(LifecycleTest, WaitStoppedTimesOut) {
  LockHolderChild child(VswitchdLock());
  EXPECT_EQ(WaitStoppedCommand(Ctx(milliseconds(300))), 1);
  EXPECT_EQ(err_.str(),
            fmt::format("hsw-ctl: hsw-vswitchd (pid {}) still running after 0.3 s\n", child.pid()));
}

// --- wait-ready ---

TEST_F(LifecycleTest, WaitReadyWaitsForTheSocket) {
  FakeControl daemon(
      rundir_, [](const std::string&, const json&) { return OkReply(); }, milliseconds(300));
  auto start = Clock::now();
  EXPECT_EQ(WaitReadyCommand(Ctx()), 0) << err_.str();
  EXPECT_GE(SecondsSince(start), 0.25);
  EXPECT_TRUE(Contains(out_.str(), "hsw-vswitchd is ready (waited 0.")) << out_.str();
  EXPECT_EQ(daemon.methods(), std::vector<std::string>{"wait-ready"});
}

TEST_F(LifecycleTest, WaitReadyIgnoresAStaleSocket) {
  // A socket file nobody listens on, as a killed hsw-vswitchd leaves it.
  {
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = rundir_ + "/vswitchd.ctl";
    std::strcpy(addr.sun_path, path.c_str());
    ASSERT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  }
  FakeControl daemon(
      rundir_, [](const std::string&, const json&) { return OkReply(); }, milliseconds(300));
  EXPECT_EQ(WaitReadyCommand(Ctx()), 0) << err_.str();
  EXPECT_EQ(daemon.methods(), std::vector<std::string>{"wait-ready"});
}

TEST_F(LifecycleTest, WaitReadyTimesOut) {
  auto start = Clock::now();
  EXPECT_EQ(WaitReadyCommand(Ctx(milliseconds(300))), 1);
  EXPECT_GE(SecondsSince(start), 0.29);
  EXPECT_EQ(err_.str(), "hsw-ctl: hsw-vswitchd is not up after 0.3 s (nothing listens on " +
                            rundir_ + "/vswitchd.ctl)\n");
}

TEST_F(LifecycleTest, WaitReadyWhileTheTablesAreNotLoaded) {
  FakeControl daemon(rundir_, [](const std::string&, const json&) {
    std::this_thread::sleep_for(milliseconds(600));  // the daemon holds the reply
    return OkReply();
  });
  EXPECT_EQ(WaitReadyCommand(Ctx(milliseconds(300))), 1);
  EXPECT_EQ(err_.str(),
            "hsw-ctl: hsw-vswitchd is up, but its tables are still not loaded after 0.3 s "
            "(flow-restore-wait is on)\n");
}

TEST_F(LifecycleTest, WaitReadyCreatesAMissingRundir) {
  rundir_ = root_ + "/not-yet";
  FakeControl* daemon = nullptr;
  std::thread starter([&] {
    // wait-ready creates the directory to watch it; the daemon comes later.
    std::this_thread::sleep_for(milliseconds(200));
    daemon = new FakeControl(rundir_, [](const std::string&, const json&) { return OkReply(); });
  });
  EXPECT_EQ(WaitReadyCommand(Ctx()), 0) << err_.str();
  starter.join();
  delete daemon;
}

// --- save-flows, restore-flows ---

TEST_F(LifecycleTest, SaveThenRestore) {
  std::string dir = root_ + "/saved";
  {
    FakeControl daemon(rundir_,
                       [](const std::string&, const json&) { return SaveReply(); });
    EXPECT_EQ(SaveFlowsCommand(Ctx(), dir), 0) << err_.str();
    EXPECT_EQ(out_.str(), "saved 2 flows of 1 bridge to " + dir + "\n");
  }
  auto saved = ReadSavedFlows(dir);
  ASSERT_TRUE(saved) << saved.error().ToString();
  EXPECT_EQ(saved->journal, (JournalPosition{"j1", 5}));

  out_.str("");
  FakeControl daemon(rundir_, [](const std::string&, const json& params) {
    return OkReply({{"bridges", {{{"name", params["bridges"][0]["name"]}, {"n_flows", 2}}}}});
  });
  EXPECT_EQ(RestoreFlowsCommand(Ctx(), dir), 0) << err_.str();
  EXPECT_EQ(out_.str(), "restored 2 flows to 1 bridge from " + dir + "\n");
  auto requests = daemon.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0]["method"], "restore-flows");
  const json& bridge = requests[0]["params"]["bridges"][0];
  EXPECT_EQ(bridge["name"], "br0");
  EXPECT_EQ(bridge["file"], dir + "/br0.flows");
  EXPECT_EQ(bridge["size"], saved->bridges[0].text.size());
  EXPECT_EQ(requests[0]["payload"], saved->bridges[0].text) << "the file's text, as it is";
  EXPECT_TRUE(fs::exists(dir)) << "restore-flows keeps the save";
}

TEST_F(LifecycleTest, SaveFailureKeepsTheOldSave) {
  std::string dir = root_ + "/saved";
  FakeControl daemon(rundir_, [](const std::string&, const json&) {
    return ErrorReply("bridge br0: something broke");
  });
  ASSERT_TRUE(WriteSavedFlows(dir, FlowsToSave{}));
  EXPECT_EQ(SaveFlowsCommand(Ctx(), dir), 1);
  EXPECT_EQ(err_.str(), "hsw-ctl: bridge br0: something broke\n");
  EXPECT_TRUE(ReadSavedFlows(dir));
}

TEST_F(LifecycleTest, RestoreOfADamagedSaveNeverReachesTheDaemon) {
  std::string dir = root_ + "/saved";
  ASSERT_TRUE(WriteSavedFlows(dir, SaveReplyFlows()));
  std::string text = *ReadFile(dir + "/br0.flows");
  text[text.size() - 2] = 'X';
  std::ofstream(dir + "/br0.flows", std::ios::trunc) << text;
  FakeControl daemon(rundir_, [](const std::string&, const json&) { return OkReply(); });
  EXPECT_EQ(RestoreFlowsCommand(Ctx(), dir), 1);
  EXPECT_EQ(err_.str(), "hsw-ctl: " + dir +
                            "/br0.flows: checksum mismatch (the file was changed or truncated "
                            "after the save)\n");
  EXPECT_TRUE(daemon.requests().empty());
}

TEST_F(LifecycleTest, RestoreErrorFromTheDaemon) {
  std::string dir = root_ + "/saved";
  ASSERT_TRUE(WriteSavedFlows(dir, SaveReplyFlows()));
  FakeControl daemon(rundir_, [](const std::string&, const json&) {
    return ErrorReply("bridge br0 (file saved/br0.flows) line 2: unknown action");
  });
  EXPECT_EQ(RestoreFlowsCommand(Ctx(), dir), 1);
  EXPECT_EQ(err_.str(), "hsw-ctl: bridge br0 (file saved/br0.flows) line 2: unknown action\n");
}

// --- stop ---

TEST_F(LifecycleTest, StopWhenNotRunning) {
  EXPECT_EQ(StopCommand(Ctx(), {}), 0);
  EXPECT_EQ(out_.str(), "hsw-vswitchd is not running\n");
  EXPECT_EQ(StopCommand(Ctx(), {root_ + "/saved", false}), 1);
  EXPECT_EQ(err_.str(), "hsw-ctl: cannot save flows: hsw-vswitchd is not running\n");
  EXPECT_FALSE(fs::exists(root_ + "/saved"));
}

TEST_F(LifecycleTest, StopWithoutARundir) {
  rundir_ = root_ + "/nonexistent";
  EXPECT_EQ(StopCommand(Ctx(), {"", true}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "hsw-vswitchd is not running\nhsw-datapath is not running\n");
  EXPECT_FALSE(fs::exists(rundir_));
}

TEST_F(LifecycleTest, StopSavesAsksToExitAndWaits) {
  LockHolderChild vswitchd(VswitchdLock());
  FakeControl daemon(rundir_, [&](const std::string& method, const json&) {
    if (method == "save-flows") return SaveReply();
    if (method == "exit") vswitchd.Release();
    return OkReply();
  });
  std::string dir = root_ + "/saved";
  EXPECT_EQ(StopCommand(Ctx(), {dir, false}), 0) << err_.str();
  EXPECT_EQ(daemon.methods(), (std::vector<std::string>{"save-flows", "exit"}));
  EXPECT_TRUE(Contains(out_.str(), "saved 2 flows of 1 bridge to " + dir + "\n")) << out_.str();
  EXPECT_TRUE(
      Contains(out_.str(), fmt::format("hsw-vswitchd (pid {}) stopped after 0.", vswitchd.pid())))
      << out_.str();
  EXPECT_TRUE(ReadSavedFlows(dir));
}

TEST_F(LifecycleTest, StopDoesNotStopWhenTheSaveFails) {
  LockHolderChild vswitchd(VswitchdLock());
  FakeControl daemon(rundir_, [](const std::string& method, const json&) {
    return method == "save-flows" ? ErrorReply("save failed") : OkReply();
  });
  EXPECT_EQ(StopCommand(Ctx(), {root_ + "/saved", false}), 1);
  EXPECT_EQ(err_.str(), "hsw-ctl: save failed; hsw-vswitchd was not stopped\n");
  EXPECT_EQ(daemon.methods(), std::vector<std::string>{"save-flows"});
  auto holder = LockHolder(VswitchdLock());
  EXPECT_TRUE(holder && *holder) << "still running";
}

TEST_F(LifecycleTest, StopTimesOut) {
  LockHolderChild vswitchd(VswitchdLock());
  FakeControl daemon(rundir_, [](const std::string&, const json&) { return OkReply(); });
  EXPECT_EQ(StopCommand(Ctx(milliseconds(300)), {}), 1);
  EXPECT_EQ(err_.str(), fmt::format("hsw-ctl: hsw-vswitchd (pid {}) still running after 0.3 s\n",
                                    vswitchd.pid()));
}

TEST_F(LifecycleTest, StopAllStopsTheDatapathWithSigterm) {
  LockHolderChild vswitchd(VswitchdLock());
  LockHolderChild datapath(DatapathLock());
  FakeControl daemon(rundir_, [&](const std::string& method, const json&) {
    if (method == "exit") vswitchd.Release();
    return OkReply();
  });
  EXPECT_EQ(StopCommand(Ctx(), {"", true}), 0) << err_.str();
  EXPECT_TRUE(
      Contains(out_.str(), fmt::format("hsw-datapath (pid {}) stopped after", datapath.pid())))
      << out_.str();
  int status = datapath.Reap();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
}

// --- start, restart: with stand-in daemons ---

// Behaves like hsw-datapath or hsw-vswitchd (by its name) as far as hsw-ctl
// can tell, and logs every argv and request to <rundir>/fake.log.
constexpr const char* kFakeDaemon = R"PY(#!/usr/bin/python3
import fcntl, json, os, signal, socket, sys

prog = os.path.basename(sys.argv[0])
args = sys.argv[1:]
rundir = args[args.index('--rundir') + 1]

def log(entry):
    with open(os.path.join(rundir, 'fake.log'), 'a') as f:
        f.write(json.dumps(entry) + '\n')

log({'prog': prog, 'argv': args})
if os.environ.get('FAKE_FAIL_START') == prog:
    print(prog + ': cannot start (test)', file=sys.stderr)
    sys.exit(1)
r, w = os.pipe()
if '--detach' in args:
    if os.fork():
        os.close(w)
        sys.exit(0 if os.read(r, 1) == b'R' else 1)
    os.close(r)
    os.setsid()
lock = os.open(os.path.join(rundir, prog + '.lock'), os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.ftruncate(lock, 0)
os.pwrite(lock, b'%d\n' % os.getpid(), 0)

def ready():
    os.write(w, b'R')
    os.close(w)

if prog == 'hsw-datapath':
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    ready()
    while True:
        signal.pause()

statedir = args[args.index('--statedir') + 1]
try:
    journal = json.load(open(os.path.join(statedir, 'fake-journal.json')))
except FileNotFoundError:
    journal = {'id': 'j1', 'seq': 5}
restore_wait = '--flow-restore-wait' in args
path = os.path.join(rundir, 'vswitchd.ctl')
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(path + '.tmp')
listener.listen()
os.rename(path + '.tmp', path)
ready()

def handle(method, params, payload):
    global restore_wait
    if method == 'show':
        return {'result': {'pid': os.getpid(), 'tables_loaded': not restore_wait,
                           'journal': journal}}
    if method == 'save-flows':
        text = (b'table=0,priority=100,in_port=1,actions=output:2\n'
                b'table=0,priority=100,in_port=2,actions=output:1\n')
        return {'result': {'version': '0.1.0', 'journal': journal, 'bridges': [
            {'name': 'br0', 'n_flows': 2, 'size': len(text)}]}}, text
    if method == 'restore-flows':
        if any(b['name'] == 'bad' for b in params['bridges']):
            return {'error': {'message': 'bridge bad: no such bridge'}}
        texts, at = [], 0
        for b in params['bridges']:
            texts.append(payload[at:at + b['size']].decode())
            at += b['size']
        return {'result': {'bridges': [
            {'name': b['name'], 'n_flows': sum(1 for line in text.splitlines()
                                               if line and not line.startswith('#'))}
            for b, text in zip(params['bridges'], texts)]}}
    if method == 'set' and params['key'] == 'flow-restore-wait':
        restore_wait = params['value'] == 'true'
    return {'result': None}

while True:
    conn, _ = listener.accept()
    stream = conn.makefile('rb')
    for line in stream:
        request = json.loads(line)
        payload = stream.read(request.get('payload_size', 0))
        log({'prog': prog, 'method': request['method'], 'params': request['params']})
        reply = handle(request['method'], request['params'], payload)
        reply, reply_payload = reply if isinstance(reply, tuple) else (reply, b'')
        reply['id'] = request['id']
        if reply_payload:
            reply['payload_size'] = len(reply_payload)
        conn.sendall((json.dumps(reply) + '\n').encode() + reply_payload)
        if request['method'] == 'exit':
            os._exit(0)
    conn.close()
)PY";

class StartTest : public LifecycleTest {
 protected:
  void SetUp() override {
    LifecycleTest::SetUp();
    if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
    bindir_ = root_ + "/bin";
    fs::create_directories(bindir_);
    std::ofstream(bindir_ + "/fake-daemon.py") << kFakeDaemon;
    fs::permissions(bindir_ + "/fake-daemon.py", fs::perms::owner_all);
    fs::create_symlink("fake-daemon.py", bindir_ + "/hsw-datapath");
    fs::create_symlink("fake-daemon.py", bindir_ + "/hsw-vswitchd");
    dir_ = statedir_ + "/restart-flows";
  }
  void TearDown() override {
    unsetenv("FAKE_FAIL_START");
    LifecycleTest::TearDown();
  }

  int Start(const std::string& restore_dir = "", std::vector<std::string> vswitchd_args = {}) {
    StartOptions options;
    options.restore_dir = restore_dir;
    options.vswitchd_args = std::move(vswitchd_args);
    options.bindir = bindir_;
    return StartCommand(Ctx(), options);
  }
  int StopAll() {
    std::ostringstream out, err;
    int code = StopCommand(Lifecycle{rundir_, statedir_, milliseconds(5000), out, err}, {"", true});
    EXPECT_EQ(code, 0) << err.str();
    return code;
  }
  // The fake daemons' log: argv lines and requests.
  std::vector<json> Log() {
    std::vector<json> entries;
    std::ifstream in(rundir_ + "/fake.log");
    for (std::string line; std::getline(in, line);) entries.push_back(json::parse(line));
    return entries;
  }
  std::vector<std::string> VswitchdMethods() {
    std::vector<std::string> methods;
    for (const json& entry : Log()) {
      if (entry["prog"] == "hsw-vswitchd" && entry.contains("method"))
        methods.push_back(entry["method"]);
    }
    return methods;
  }
  json LastVswitchdArgv() {
    json argv;
    for (const json& entry : Log()) {
      if (entry["prog"] == "hsw-vswitchd" && entry.contains("argv")) argv = entry["argv"];
    }
    return argv;
  }
  bool HasArg(const json& argv, const std::string& arg) {
    return std::find(argv.begin(), argv.end(), arg) != argv.end();
  }
  void WriteSave(const std::string& journal_id, uint64_t seq) {
    ASSERT_TRUE(WriteSavedFlows(dir_, SaveReplyFlows(journal_id, seq)));
  }
  void SetDaemonJournal(const std::string& id, uint64_t seq) {
    std::ofstream(statedir_ + "/fake-journal.json") << json{{"id", id}, {"seq", seq}}.dump();
  }

  std::string bindir_, dir_;
};

TEST_F(StartTest, StartsBothDaemonsThenSaysTheyRun) {
  ASSERT_EQ(Start("", {"--log-level=dbg"}), 0) << err_.str();
  auto vswitchd = LockHolder(VswitchdLock());
  auto datapath = LockHolder(DatapathLock());
  ASSERT_TRUE(vswitchd && *vswitchd && datapath && *datapath);
  EXPECT_EQ(out_.str(),
            fmt::format("started hsw-datapath (pid {})\nstarted hsw-vswitchd (pid {})\n",
                        **datapath, **vswitchd));
  json argv = LastVswitchdArgv();
  EXPECT_EQ(argv, (json{"--detach", "--pidfile", "--rundir", rundir_, "--statedir", statedir_,
                        "--log-level=dbg"}));

  out_.str("");
  ASSERT_EQ(Start(dir_), 0) << err_.str();
  EXPECT_EQ(out_.str(), fmt::format("hsw-datapath is running (pid {})\nhsw-vswitchd is already "
                                    "running (pid {})\n",
                                    **datapath, **vswitchd));
  StopAll();
}

TEST_F(StartTest, NoSavedFlows) {
  ASSERT_EQ(Start(dir_), 0) << err_.str();
  EXPECT_TRUE(
      Contains(out_.str(), "no saved flows at " + dir_ + "; tables come from the journal\n"))
      << out_.str();
  EXPECT_FALSE(HasArg(LastVswitchdArgv(), "--flow-restore-wait"));
  EXPECT_TRUE(VswitchdMethods().empty());
  StopAll();
}

TEST_F(StartTest, RestoresClearsAndRemoves) {
  WriteSave("j1", 5);
  SetDaemonJournal("j1", 5);
  ASSERT_EQ(Start(dir_), 0) << err_.str();
  EXPECT_TRUE(HasArg(LastVswitchdArgv(), "--flow-restore-wait"));
  EXPECT_EQ(VswitchdMethods(), (std::vector<std::string>{"show", "restore-flows", "set"}));
  std::string out = out_.str();
  EXPECT_TRUE(Contains(out, ") with flow-restore-wait\n")) << out;
  EXPECT_TRUE(Contains(out, "restored 2 flows to 1 bridge from " + dir_ +
                                "\n"
                                "flow-restore-wait cleared\n"
                                "removed " +
                                dir_ + "\n"))
      << out;
  EXPECT_FALSE(fs::exists(dir_));
  StopAll();
}

TEST_F(StartTest, AStaleSaveIsNotRestored) {
  WriteSave("j1", 5);
  SetDaemonJournal("j1", 9);
  ASSERT_EQ(Start(dir_), 0) << err_.str();
  EXPECT_EQ(VswitchdMethods(), (std::vector<std::string>{"show", "set"}));
  EXPECT_TRUE(Contains(out_.str(),
                       "are stale: older than hsw-vswitchd's journal (saved at seq 5, journal "
                       "at seq 9); not restoring them\nflow-restore-wait cleared\n"))
      << out_.str();
  EXPECT_FALSE(fs::exists(dir_));
  StopAll();
}

TEST_F(StartTest, ADamagedSaveIsMovedAsideAndTheStartGoesOn) {
  WriteSave("j1", 5);
  fs::remove(dir_ + "/br0.flows");
  ASSERT_EQ(Start(dir_), 0) << err_.str();
  EXPECT_EQ(err_.str(), "hsw-ctl: warning: " + dir_ +
                            "/br0.flows: missing (listed in the manifest); moved it aside to " +
                            dir_ + ".rejected; tables come from the journal\n");
  EXPECT_FALSE(HasArg(LastVswitchdArgv(), "--flow-restore-wait"));
  EXPECT_TRUE(fs::exists(dir_ + ".rejected/manifest.json"));
  EXPECT_FALSE(fs::exists(dir_));
  StopAll();
}

TEST_F(StartTest, ARefusedRestoreStillClearsTheFlag) {
  FlowsToSave flows = SaveReplyFlows();
  flows.bridges[0].name = "bad";
  ASSERT_TRUE(WriteSavedFlows(dir_, flows));
  EXPECT_EQ(Start(dir_), 1);
  EXPECT_EQ(VswitchdMethods(), (std::vector<std::string>{"show", "restore-flows", "set"}));
  EXPECT_TRUE(Contains(out_.str(), "flow-restore-wait cleared\n")) << out_.str();
  EXPECT_EQ(err_.str(), "hsw-ctl: restoring " + dir_ +
                            " failed: bridge bad: no such bridge; the "
                            "save was moved to " +
                            dir_ + ".rejected\n");
  EXPECT_TRUE(fs::exists(dir_ + ".rejected"));
  auto vswitchd = LockHolder(VswitchdLock());
  EXPECT_TRUE(vswitchd && *vswitchd) << "hsw-vswitchd keeps running on its journal's tables";
  StopAll();
}

TEST_F(StartTest, ADaemonThatFailsToStart) {
  setenv("FAKE_FAIL_START", "hsw-vswitchd", 1);
  EXPECT_EQ(Start(), 1);
  EXPECT_EQ(err_.str(),
            "hsw-ctl: hsw-vswitchd did not start (exit status 1; its reason is above)\n");
  StopAll();
}

TEST_F(StartTest, Restart) {
  ASSERT_EQ(Start(), 0) << err_.str();
  pid_t old_pid = **LockHolder(VswitchdLock());
  out_.str("");
  RestartOptions options;
  options.bindir = bindir_;
  options.vswitchd_args = {"--log-level=dbg"};
  ASSERT_EQ(RestartCommand(Ctx(), options), 0) << err_.str();
  pid_t new_pid = **LockHolder(VswitchdLock());
  EXPECT_NE(new_pid, old_pid);
  std::string out = out_.str();
  EXPECT_TRUE(Contains(out, "saved 2 flows of 1 bridge to " + dir_ + "\n")) << out;
  EXPECT_TRUE(Contains(out, fmt::format("hsw-vswitchd (pid {}) stopped after", old_pid))) << out;
  EXPECT_TRUE(Contains(out, "restored 2 flows to 1 bridge from " + dir_)) << out;
  EXPECT_TRUE(Contains(out, "removed " + dir_ + "\nrestarted hsw-vswitchd in ")) << out;
  EXPECT_TRUE(HasArg(LastVswitchdArgv(), "--log-level=dbg"));
  EXPECT_FALSE(fs::exists(dir_));
  StopAll();
}

TEST_F(StartTest, RestartNeedsARunningDaemon) {
  RestartOptions options;
  options.bindir = bindir_;
  EXPECT_EQ(RestartCommand(Ctx(), options), 1);
  EXPECT_EQ(err_.str(), "hsw-ctl: hsw-vswitchd is not running (hsw-ctl start starts it)\n");
}

// `start --wait` in a child process (it blocks, and it handles SIGTERM),
// its output read through a pipe.
class WaitingStart {
 public:
  WaitingStart(const std::string& rundir, const std::string& statedir, const std::string& bindir) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    pid_ = fork();
    if (pid_ == 0) {
      close(fds[0]);
      dup2(fds[1], STDOUT_FILENO);
      dup2(fds[1], STDERR_FILENO);
      // Like a container's PID 1: the daemons become our children once
      // their --detach parents exit.
      prctl(PR_SET_CHILD_SUBREAPER, 1);
      StartOptions options;
      options.wait = true;
      options.bindir = bindir;
      Lifecycle ctx{rundir, statedir, milliseconds(5000), std::cout, std::cerr};
      int code = StartCommand(ctx, options);
      std::cout.flush();
      _exit(code);
    }
    close(fds[1]);
    fd_ = fds[0];
  }
  ~WaitingStart() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(fd_);
  }
  // Reads the child's output until it contains `text` (at most 10 s).
  bool ReadUntil(const std::string& text) {
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!Contains(output_, text)) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      pollfd pfd{fd_, POLLIN, 0};
      if (left <= 0 || poll(&pfd, 1, static_cast<int>(left)) <= 0) return false;
      char buffer[4096];
      ssize_t n = read(fd_, buffer, sizeof(buffer));
      if (n <= 0) return false;
      output_.append(buffer, static_cast<size_t>(n));
    }
    return true;
  }
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    // What it wrote is in the pipe now.  No EOF to wait for: the daemons it
    // started hold the pipe too (their log goes where hsw-ctl's output goes).
    for (pollfd pfd{fd_, POLLIN, 0}; poll(&pfd, 1, 0) > 0;) {
      char buffer[4096];
      ssize_t n = read(fd_, buffer, sizeof(buffer));
      if (n <= 0) break;
      output_.append(buffer, static_cast<size_t>(n));
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  pid_t pid() const { return pid_; }
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string output_;
};

TEST_F(StartTest, WaitStopsTheDaemonOnSigterm) {
  WaitingStart start(rundir_, statedir_, bindir_);
  ASSERT_TRUE(start.ReadUntil("SIGTERM or SIGINT stops it\n")) << start.output();
  pid_t vswitchd = **LockHolder(VswitchdLock());
  kill(start.pid(), SIGTERM);
  EXPECT_EQ(start.Wait(), 0) << start.output();
  EXPECT_TRUE(Contains(start.output(), "received SIGTERM: stopping hsw-vswitchd\n"))
      << start.output();
  EXPECT_TRUE(Contains(start.output(), fmt::format("hsw-vswitchd (pid {}) stopped", vswitchd)))
      << start.output();
  auto holder = LockHolder(VswitchdLock());
  EXPECT_TRUE(holder && !*holder);
  StopAll();
}

TEST_F(StartTest, WaitOutlivesARestartAndEndsWithTheDaemon) {
  WaitingStart start(rundir_, statedir_, bindir_);
  ASSERT_TRUE(start.ReadUntil("SIGTERM or SIGINT stops it\n")) << start.output();
  pid_t old_pid = **LockHolder(VswitchdLock());
  RestartOptions options;
  options.bindir = bindir_;
  ASSERT_EQ(RestartCommand(Ctx(), options), 0) << err_.str();
  pid_t new_pid = **LockHolder(VswitchdLock());
  ASSERT_TRUE(start.ReadUntil(fmt::format("restarted: hsw-vswitchd (pid {})", new_pid)))
      << start.output();
  // The old hsw-vswitchd was start's child (a subreaper's orphan): reaped,
  // not left a zombie.
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (kill(old_pid, 0) == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(kill(old_pid, 0), -1) << "pid " << old_pid << " is still there (a zombie?)";

  // Stopped by someone else: --wait ends with it.
  std::ostringstream out, err;
  ASSERT_EQ(StopCommand(Lifecycle{rundir_, statedir_, milliseconds(5000), out, err}, {}), 0);
  EXPECT_EQ(start.Wait(), 0) << start.output();
  EXPECT_TRUE(Contains(start.output(), "hsw-vswitchd exited\n")) << start.output();
  StopAll();
}

}  // namespace
}  // namespace hsw::ctl
