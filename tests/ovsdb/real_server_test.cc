// ovsdb::Client against Debian's real ovsdb-server, each test with its own
// database, socket and server process in a temporary directory, driven by
// the real ovs-vsctl.  No root needed; ctest label "ovsdb".
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ovsdb/client.h"
#include "ovsdb/datum.h"
#include "testlib/temp_dir.h"

namespace hsw::ovsdb {
namespace {

using nlohmann::json;

const char* const kSchemaPath = "/usr/share/openvswitch/vswitch.ovsschema";

// Runs argv to completion; its stdout (stderr too) or an error with both.
Result<std::string> RunCommand(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) < 0) return ErrnoErr("pipe");
  pid_t pid = fork();
  if (pid < 0) return ErrnoErr("fork");
  if (pid == 0) {
    dup2(pipe_fds[1], 1);
    dup2(pipe_fds[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  std::string output;
  char buffer[4096];
  ssize_t n;
  while ((n = read(pipe_fds[0], buffer, sizeof(buffer))) > 0) output.append(buffer, n);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  std::string command;
  for (const auto& a : argv) command += (command.empty() ? "" : " ") + a;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Err("'{}' failed (status {}): {}", command, status, output);
  }
  while (!output.empty() && output.back() == '\n') output.pop_back();
  return output;
}

bool RunUntil(EventLoop& loop, const std::function<bool()>& done,
              std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto deadline = EventLoop::Clock::now() + limit;
  while (!done()) {
    if (EventLoop::Clock::now() > deadline) return false;
    loop.RunOnce(10);
  }
  return true;
}

// Names in `table`'s "name" column.
std::set<std::string> Names(const Replica& replica, const std::string& table) {
  std::set<std::string> names;
  for (const auto& [uuid, row] : replica.rows(table)) {
    if (auto name = ReadString(row["name"])) names.insert(*name);
  }
  return names;
}

std::string UuidOf(const Replica& replica, const std::string& table, const std::string& name) {
  for (const auto& [uuid, row] : replica.rows(table)) {
    if (ReadString(row["name"]) == name) return uuid;
  }
  return "";
}

class RealServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(access(kSchemaPath, R_OK), 0)
        << kSchemaPath << " missing: run scripts/install-deps.sh (openvswitch-switch)";
    auto created = RunCommand({"ovsdb-tool", "create", db_, kSchemaPath});
    ASSERT_TRUE(created) << created.error().ToString();
    StartServer();
    Vsctl({"init"});
  }

  void TearDown() override { StopServer(SIGTERM); }

  void StartServer() {
    unlink(sock_.c_str());
    server_pid_ = fork();
    ASSERT_GE(server_pid_, 0);
    if (server_pid_ == 0) {
      std::string remote = "--remote=punix:" + sock_;
      std::string unixctl = "--unixctl=" + (dir_ / "ovsdb-server.ctl");
      std::string pidfile = "--pidfile=" + (dir_ / "ovsdb-server.pid");
      std::string log = "--log-file=" + (dir_ / "ovsdb-server.log");
      int null = open("/dev/null", O_RDWR);
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
      execlp("ovsdb-server", "ovsdb-server", db_.c_str(), remote.c_str(), unixctl.c_str(),
             pidfile.c_str(), log.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    // Ready once the socket accepts connections (ovs-vsctl would wait too,
    // but the client under test must not race the server's start).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      struct stat st{};
      if (stat(sock_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return;
      int status;
      ASSERT_EQ(waitpid(server_pid_, &status, WNOHANG), 0) << "ovsdb-server exited";
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "ovsdb-server did not create " << sock_;
  }

  void StopServer(int signal) {
    if (server_pid_ <= 0) return;
    kill(server_pid_, signal);
    int status;
    waitpid(server_pid_, &status, 0);
    server_pid_ = -1;
  }

  std::string Vsctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {"ovs-vsctl", "--db=unix:" + sock_, "--no-wait",
                                     "--timeout=10"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto out = RunCommand(argv);
    EXPECT_TRUE(out) << out.error().ToString();
    return out ? *out : "";
  }

  ClientOptions Options() {
    ClientOptions options;
    options.remote = "unix:" + sock_;
    options.monitored = {{"Open_vSwitch", {"bridges", "cur_cfg", "next_cfg"}},
                         {"Bridge", {"name", "ports"}},
                         {"Port", {"name", "interfaces"}},
                         {"Interface", {"name", "type", "ofport", "hsw_no_such_column"}}};
    return options;
  }

  std::unique_ptr<Client> MakeClient(ClientOptions options, ClientCallbacks callbacks = {}) {
    return std::make_unique<Client>(loop_, std::move(options), std::move(callbacks));
  }

  EventLoop loop_;
  hsw::testing::TempDir dir_{"hsw-ovsdb-real"};
  std::string db_ = dir_ / "conf.db";
  std::string sock_ = dir_ / "db.sock";
  pid_t server_pid_ = -1;
};

TEST_F(RealServerTest, SeesBridgesPortsAndInterfacesComeAndGo) {
  int updates = 0;
  ClientCallbacks callbacks;
  callbacks.on_update = [&] { ++updates; };
  auto client = MakeClient(Options(), callbacks);
  client->Start();
  ASSERT_TRUE(RunUntil(loop_, [&] { return client->monitoring(); }));
  EXPECT_EQ(updates, 1);
  EXPECT_EQ(client->missing_columns(),
            std::vector<std::string>{"Interface:hsw_no_such_column"});
  EXPECT_EQ(client->replica().rows("Open_vSwitch").size(), 1u);
  EXPECT_TRUE(client->replica().rows("Bridge").empty());

  Vsctl({"add-br", "br0"});
  Vsctl({"add-port", "br0", "p1"});
  ASSERT_TRUE(RunUntil(loop_, [&] {
    return Names(client->replica(), "Port") == std::set<std::string>{"br0", "p1"};
  }));
  const Replica& replica = client->replica();
  EXPECT_EQ(Names(replica, "Bridge"), std::set<std::string>{"br0"});
  EXPECT_EQ(Names(replica, "Interface"), (std::set<std::string>{"br0", "p1"}));
  std::string br0 = UuidOf(replica, "Bridge", "br0");
  auto ports = ReadUuidSet(*replica.Get("Bridge", br0, "ports"));
  ASSERT_TRUE(ports);
  EXPECT_EQ(ports->size(), 2u);
  std::string root = replica.rows("Open_vSwitch").begin()->first;
  EXPECT_EQ(ReadUuidSet(*replica.Get("Open_vSwitch", root, "bridges")),
            std::vector<std::string>{br0});
  EXPECT_EQ(*replica.Get("Interface", UuidOf(replica, "Interface", "br0"), "type"), "internal");
  // ofport is optional and unset: the empty set, not a missing column.
  EXPECT_EQ(*replica.Get("Interface", UuidOf(replica, "Interface", "p1"), "ofport"),
            json::parse(R"(["set",[]])"));

  Vsctl({"del-br", "br0"});
  ASSERT_TRUE(RunUntil(loop_, [&] { return client->replica().rows("Bridge").empty(); }));
  // ovsdb-server garbage-collects the unreferenced Port and Interface rows.
  ASSERT_TRUE(RunUntil(loop_, [&] {
    return client->replica().rows("Port").empty() && client->replica().rows("Interface").empty();
  }));
  EXPECT_TRUE(client->monitoring());
}

TEST_F(RealServerTest, TransactionIsVisibleToOvsVsctl) {
  auto client = MakeClient(Options());
  client->Start();
  Vsctl({"add-br", "br0", "--", "add-port", "br0", "p1"});
  ASSERT_TRUE(RunUntil(loop_, [&] {
    return client->monitoring() && !UuidOf(client->replica(), "Interface", "p1").empty();
  }));
  std::string p1 = UuidOf(client->replica(), "Interface", "p1");
  std::string root = client->replica().rows("Open_vSwitch").begin()->first;
  std::optional<Result<json>> result;
  client->Transact(json::array({UpdateOp("Interface", WhereUuid(p1), {{"ofport", 5}}),
                                UpdateOp("Open_vSwitch", WhereUuid(root), {{"cur_cfg", 7}})}),
                   [&](Result<json> r) { result = std::move(r); });
  ASSERT_TRUE(RunUntil(loop_, [&] { return result.has_value(); }));
  ASSERT_TRUE(*result) << result->error().ToString();
  ASSERT_EQ((*result)->size(), 2u);
  EXPECT_EQ((**result)[0]["count"], 1);
  EXPECT_EQ((**result)[1]["count"], 1);
  EXPECT_EQ(Vsctl({"get", "Interface", "p1", "ofport"}), "5");
  EXPECT_EQ(Vsctl({"get", "Open_vSwitch", ".", "cur_cfg"}), "7");
  // The server's update brings our own write into the replica.
  ASSERT_TRUE(RunUntil(loop_, [&] {
    return *client->replica().Get("Interface", p1, "ofport") == json::parse(R"(["set",[5]])");
  }));

  // A per-op error comes back in the result array, not as a failure.
  result.reset();
  client->Transact(json::array({UpdateOp("Interface", WhereUuid(p1), {{"ofport", "x"}})}),
                   [&](Result<json> r) { result = std::move(r); });
  ASSERT_TRUE(RunUntil(loop_, [&] { return result.has_value(); }));
  ASSERT_TRUE(*result) << result->error().ToString();
  EXPECT_TRUE((**result)[0].contains("error")) << (*result)->dump();
  EXPECT_EQ(Vsctl({"get", "Interface", "p1", "ofport"}), "5");
}

TEST_F(RealServerTest, ReconnectsAfterAServerRestartAndMatchesTheDatabase) {
  int disconnects = 0;
  ClientCallbacks callbacks;
  callbacks.on_disconnect = [&](const std::string&) { ++disconnects; };
  auto client = MakeClient(Options(), callbacks);
  client->Start();
  Vsctl({"add-br", "br0"});
  ASSERT_TRUE(RunUntil(loop_, [&] {
    return client->monitoring() && Names(client->replica(), "Bridge").count("br0");
  }));
  uint64_t seqno = client->connection_seqno();
  // Up long enough to count as a stable connection (retried at once).
  RunUntil(loop_, [] { return false; }, std::chrono::milliseconds(1100));

  StopServer(SIGKILL);
  ASSERT_TRUE(RunUntil(loop_, [&] { return !client->monitoring(); }));
  EXPECT_EQ(disconnects, 1);
  EXPECT_EQ(Names(client->replica(), "Bridge"), std::set<std::string>{"br0"});  // kept

  StartServer();
  auto restarted = std::chrono::steady_clock::now();
  Vsctl({"add-br", "br1"});
  ASSERT_TRUE(RunUntil(loop_, [&] {
    return client->monitoring() && Names(client->replica(), "Bridge").count("br1");
  }));
  // Within the first backoff steps, not the 8 s maximum.
  EXPECT_LT(std::chrono::steady_clock::now() - restarted, std::chrono::seconds(4));
  EXPECT_GT(client->connection_seqno(), seqno);
  std::string listed = Vsctl({"list-br"});
  EXPECT_EQ(listed, "br0\nbr1");
  EXPECT_EQ(Names(client->replica(), "Bridge"), (std::set<std::string>{"br0", "br1"}));
  EXPECT_EQ(Names(client->replica(), "Port"), (std::set<std::string>{"br0", "br1"}));
}

TEST_F(RealServerTest, SecondClientWaitsForTheLock) {
  ClientOptions options = Options();
  options.lock_name = "ovs_vswitchd";
  std::vector<bool> second_changes;
  auto first = MakeClient(options);
  first->Start();
  ASSERT_TRUE(RunUntil(loop_, [&] { return first->has_lock(); }));
  ClientCallbacks callbacks;
  callbacks.on_lock_change = [&](bool held) { second_changes.push_back(held); };
  auto second = MakeClient(options, callbacks);
  second->Start();
  ASSERT_TRUE(RunUntil(loop_, [&] { return second->monitoring() && second->lock_contended(); }));
  EXPECT_FALSE(second->has_lock());
  EXPECT_TRUE(first->has_lock());
  // The first client goes away: the server hands the lock over.
  first.reset();
  ASSERT_TRUE(RunUntil(loop_, [&] { return second->has_lock(); }));
  EXPECT_FALSE(second->lock_contended());
  // Refused first (reported so a second ovs-vswitchd can exit naming the lock), then granted.
  EXPECT_EQ(second_changes, (std::vector<bool>{false, true}));
}

}  // namespace
}  // namespace hsw::ovsdb
