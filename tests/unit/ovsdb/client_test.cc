// ovsdb::Client against an in-process fake ovsdb-server: a jsonrpc::Listener
// on a temporary punix socket in the same EventLoop that answers get_schema,
// lock, monitor_cond (or refuses it, as ovsdb-server 2.x does), monitor,
// transact and echo, and can push notifications or drop connections.
#include "ovsdb/client.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "jsonrpc/jsonrpc.h"
#include "ovsdb/datum.h"
#include "test_schema.h"
#include "testlib/temp_dir.h"

namespace hsw::ovsdb {
namespace {

using nlohmann::json;

const char* const kBr0 = "11111111-1111-1111-1111-111111111111";
const char* const kBr1 = "22222222-2222-2222-2222-222222222222";
const char* const kRoot = "33333333-3333-3333-3333-333333333333";

bool RunUntil(EventLoop& loop, const std::function<bool()>& done,
              std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  auto deadline = EventLoop::Clock::now() + limit;
  while (!done()) {
    if (EventLoop::Clock::now() > deadline) return false;
    loop.RunOnce(10);
  }
  return true;
}

class FakeServer {
 public:
  FakeServer(EventLoop& loop, std::string path) : loop_(loop), path_(std::move(path)) {
    rows_["Bridge"][kBr0] = {{"name", "br0"}, {"ports", json::parse(R"(["set",["p1"]])")}};
    rows_["Root"][kRoot] = {{"cur_cfg", 0}, {"bridges", MakeUuidSet({kBr0})}};
  }

  void Start() {
    auto listener = jsonrpc::Listener::Listen(
        loop_, "punix:" + path_,
        [this](std::unique_ptr<jsonrpc::Connection> c) { Accept(std::move(c)); });
    ASSERT_TRUE(listener) << listener.error().ToString();
    listener_ = std::move(*listener);
  }
  void Stop() {
    listener_.reset();
    connections_.clear();
  }
  void DropConnections() { connections_.clear(); }
  void Notify(const std::string& method, json params) {
    for (auto& c : connections_) (void)c->Send(jsonrpc::MakeNotification(method, params));
  }

  bool refuse_monitor_cond = false;
  bool answer_echo = true;
  bool answer_transact = true;
  std::string lock_owner;  // lock name -> held by an earlier connection
  std::map<std::string, std::map<std::string, json>> rows_;
  std::vector<std::string> methods;  // every request received, in order
  std::vector<json> transactions;
  size_t accepted = 0;

 private:
  void Accept(std::unique_ptr<jsonrpc::Connection> c) {
    ++accepted;
    jsonrpc::Connection* raw = c.get();
    raw->set_on_message([this, raw](json m) { OnRequest(raw, std::move(m)); });
    raw->set_on_close([this, raw](const std::string&) {
      std::erase_if(connections_, [raw](const auto& p) { return p.get() == raw; });
    });
    connections_.push_back(std::move(c));
  }

  json Initial(const json& requests, bool v2) {
    json out = json::object();
    for (const auto& [table, request] : requests.items()) {
      const json& columns = request.is_array() ? request[0]["columns"] : request["columns"];
      for (const auto& [uuid, row] : rows_[table]) {
        json filtered = json::object();
        for (const auto& column : columns) {
          if (row.contains(column.get<std::string>())) filtered[column] = row[column];
        }
        out[table][uuid] = v2 ? json{{"initial", filtered}} : json{{"new", filtered}};
      }
    }
    return out;
  }

  void OnRequest(jsonrpc::Connection* c, json m) {
    if (!m.contains("method")) return;  // a reply (to our echo)
    std::string method = m["method"];
    methods.push_back(method);
    const json& id = m["id"];
    const json& params = m["params"];
    if (method == "get_schema") {
      (void)c->Send(jsonrpc::MakeReply(testing::TestSchemaJson(), id));
    } else if (method == "lock") {
      bool free = lock_owner.empty();
      if (free) lock_owner = params[0];
      (void)c->Send(jsonrpc::MakeReply({{"locked", free}}, id));
    } else if (method == "monitor_cond" && refuse_monitor_cond) {
      (void)c->Send(jsonrpc::MakeErrorReply("unknown method", id));
    } else if (method == "monitor_cond" || method == "monitor") {
      (void)c->Send(jsonrpc::MakeReply(Initial(params[2], method == "monitor_cond"), id));
    } else if (method == "transact") {
      transactions.push_back(params);
      if (!answer_transact) return;
      json results = json::array();
      for (size_t i = 1; i < params.size(); ++i) results.push_back({{"count", 1}});
      (void)c->Send(jsonrpc::MakeReply(results, id));
    } else if (method == "echo") {
      if (answer_echo) (void)c->Send(jsonrpc::MakeReply(params, id));
    } else {
      (void)c->Send(jsonrpc::MakeErrorReply("unknown method", id));
    }
  }

  EventLoop& loop_;
  std::string path_;
  std::unique_ptr<jsonrpc::Listener> listener_;
  std::vector<std::unique_ptr<jsonrpc::Connection>> connections_;
};

class ClientTest : public ::testing::Test {
 protected:
  ClientTest() : server_(loop_, dir_ / "db.sock") {}

  void SetUp() override { server_.Start(); }

  ClientOptions Options() {
    ClientOptions options;
    options.remote = "unix:" + (dir_ / "db.sock");
    options.database = "Test";
    options.monitored = {{"Bridge", {"name", "ports", "nope"}},
                         {"Root", {"cur_cfg", "bridges"}},
                         {"Missing", {"x"}}};
    options.reconnect = {.min_backoff_ms = 20, .max_backoff_ms = 80, .probe_interval_ms = 0};
    return options;
  }

  std::unique_ptr<Client> MakeClient(ClientOptions options) {
    ClientCallbacks callbacks;
    callbacks.on_update = [this] { ++updates_; };
    callbacks.on_lock_change = [this](bool held) { lock_changes_.push_back(held); };
    callbacks.on_disconnect = [this](const std::string& r) { disconnects_.push_back(r); };
    return std::make_unique<Client>(loop_, std::move(options), std::move(callbacks));
  }

  EventLoop loop_;
  hsw::testing::TempDir dir_{"hsw-ovsdb-client-test"};
  FakeServer server_;
  int updates_ = 0;
  std::vector<bool> lock_changes_;
  std::vector<std::string> disconnects_;
};

TEST_F(ClientTest, MonitorsAndReportsMissingColumns) {
  auto client = MakeClient(Options());
  EXPECT_EQ(client->state(), Client::State::kStopped);
  client->Start();
  ASSERT_TRUE(RunUntil(loop_, [&] { return client->monitoring(); }));
  EXPECT_EQ(updates_, 1);
  EXPECT_EQ(server_.methods, (std::vector<std::string>{"get_schema", "monitor_cond"}));
  ASSERT_NE(client->schema(), nullptr);
  EXPECT_EQ(client->schema()->name(), "Test");
  EXPECT_EQ(client->missing_columns(), (std::vector<std::string>{"Bridge:nope", "Missing:x"}));
  EXPECT_EQ(*client->replica().Get("Bridge", kBr0, "name"), "br0");
  EXPECT_EQ(*client->replica().Get("Root", kRoot, "cur_cfg"), 0);
  EXPECT_FALSE(client->replica().HasColumn("Bridge", "nope"));
  EXPECT_EQ(client->connection_seqno(), 1u);

  // An update2 notification changes the replica and wakes the caller.
  server_.Notify("update2", json::array({"hsw", json::parse(R"({"Bridge":{
      "22222222-2222-2222-2222-222222222222":{"insert":{"name":"br1"}},
      "11111111-1111-1111-1111-111111111111":{"modify":{"ports":["set",["p1","p2"]]}}}})")}));
  ASSERT_TRUE(RunUntil(loop_, [&] { return updates_ == 2; }));
  EXPECT_EQ(*client->replica().Get("Bridge", kBr1, "name"), "br1");
  EXPECT_EQ(*client->replica().Get("Bridge", kBr0, "ports"), json::parse(R"(["set",["p2"]])"));
  EXPECT_TRUE(client->monitoring());
}

TEST_F(ClientTest, FallsBackToMonitorWhenMonitorCondIsUnknown) {
  server_.refuse_monitor_cond = true;
  auto client = MakeClient(Options());
  client->Start();
  ASSERT_TRUE(RunUntil(loop_, [&] { return client->monitoring(); }));
  EXPECT_EQ(server_.methods, (std::vector<std::string>{"get_schema", "monitor_cond", "monitor"}));
  EXPECT_EQ(*client->replica().Get("Bridge", kBr0, "ports"), json::parse(R"(["set",["p1"]])"));
  // v1 updates follow.
  server_.Notify("update", json::array({"hsw", json::parse(R"({"Root":{
      "33333333-3333-3333-3333-333333333333":{"old":{"cur_cfg":0},
      "new":{"cur_cfg":7,"bridges":["set",[]]}}}})")}));
  ASSERT_TRUE(RunUntil(loop_, [&] { return updates_ == 2; }));
  EXPECT_EQ(*client->replica().Get("Root", kRoot, "cur_cfg"), 7);
}

TEST_F(ClientTest, LockContendedUntilLockedThenStolen) {
  server_.lock_owner = "someone-else";
  ClientOptions options = Options();
  options.lock_name = "ovs_vswitchd";
  auto client = MakeClient(options);
  client->Start();
  ASSERT_TRUE(RunUntil(loop_, [&] { return client->monitoring() && client->lock_contended(); }));
  EXPECT_FALSE(client->has_lock());
  EXPECT_EQ(server_.methods[1], "lock");
  server_.Notify("locked", json::array({"other_lock"}));  // not ours
  server_.Notify("locked", json::array({"ovs_vswitchd"}));
  ASSERT_TRUE(RunUntil(loop_, [&] { return client->has_lock(); }));
  EXPECT_FALSE(client->lock_contended());
  // The refusal is reported (false, while contended), then the grant.
  EXPECT_EQ(lock_changes_, (std::vector<bool>{false, true}));
  server_.Notify("stolen", json::array({"ovs_vswitchd"}));
  ASSERT_TRUE(RunUntil(loop_, [&] { return !client->has_lock(); }));
  EXPECT_TRUE(client->lock_contended());
  EXPECT_EQ(lock_changes_, (std::vector<bool>{false, true, false}));
}

TEST_F(ClientTest, LockGrantedAtOnceAndLostWithTheConnection) {
  ClientOptions options = Options();
  options.lock_name = "ovs_vswitchd";
  auto client = MakeClient(options);
  client->Start();
  ASSERT_TRUE(RunUntil(loop_, [&] { return client->monitoring() && client->has_lock(); }));
  server_.lock_owner.clear();  // the fake forgets the owner as a real server would
  server_.DropConnections();
  ASSERT_TRUE(RunUntil(loop_, [&] { return !lock_changes_.empty() && !lock_changes_.back(); }));
  ASSERT_TRUE(RunUntil(loop_, [&] { return client->has_lock(); }));
  EXPECT_EQ(lock_changes_, (std::vector<bool>{true, false, true}));
}

TEST_F(ClientTest, TransactSendsOpsAndDeliversResults) {
  auto client = MakeClient(Options());
  // Not connected yet: fails, from the loop rather than inside Transact.
  std::optional<Result<json>> early;
  client->Transact(json::array(), [&](Result<json> r) { early = std::move(r); });
  EXPECT_FALSE(early);
  ASSERT_TRUE(RunUntil(loop_, [&] { return early.has_value(); }));
  ASSERT_FALSE(*early);
  EXPECT_NE(early->error().message.find("not connected"), std::string::npos);

  client->Start();
  ASSERT_TRUE(RunUntil(loop_, [&] { return client->monitoring(); }));
  std::optional<Result<json>> result;
  client->Transact(
      json::array({UpdateOp("Root", WhereUuid(kRoot), {{"cur_cfg", 3}}), CommentOp("test")}),
      [&](Result<json> r) { result = std::move(r); });
  ASSERT_TRUE(RunUntil(loop_, [&] { return result.has_value(); }));
  ASSERT_TRUE(*result) << result->error().ToString();
  EXPECT_EQ(**result, json::parse(R"([{"count":1},{"count":1}])"));
  ASSERT_EQ(server_.transactions.size(), 1u);
  EXPECT_EQ(server_.transactions[0][0], "Test");
  EXPECT_EQ(server_.transactions[0][1]["op"], "update");
  EXPECT_EQ(server_.transactions[0][2]["op"], "comment");

  std::optional<Result<json>> bad;
  client->Transact(json::object(), [&](Result<json> r) { bad = std::move(r); });
  ASSERT_TRUE(RunUntil(loop_, [&] { return bad.has_value(); }));
  EXPECT_FALSE(*bad);
}

TEST_F(ClientTest, TransactionPendingWhenTheConnectionDropsFailsAsUnknown) {
  server_.answer_transact = false;
  auto client = MakeClient(Options());
  client->Start();
  ASSERT_TRUE(RunUntil(loop_, [&] { return client->monitoring(); }));
  std::optional<Result<json>> result;
  client->Transact(json::array({CommentOp("x")}), [&](Result<json> r) { result = std::move(r); });
  ASSERT_TRUE(RunUntil(loop_, [&] { return server_.transactions.size() == 1; }));
  server_.DropConnections();
  ASSERT_TRUE(RunUntil(loop_, [&] { return result.has_value(); }));
  ASSERT_FALSE(*result);
  EXPECT_NE(result->error().message.find("may or may not have been committed"), std::string::npos)
      << result->error().message;
}

TEST_F(ClientTest, ReconnectsAndReplacesTheReplicaWholesale) {
  auto client = MakeClient(Options());
  client->Start();
  ASSERT_TRUE(RunUntil(loop_, [&] { return client->monitoring(); }));
  uint64_t seqno = client->connection_seqno();

  // The server goes away; the replica stays readable, monitoring() false.
  server_.Stop();
  ASSERT_TRUE(RunUntil(loop_, [&] { return !client->monitoring(); }));
  ASSERT_EQ(disconnects_.size(), 1u);
  EXPECT_NE(client->replica().Find("Bridge", kBr0), nullptr);
  int updates_before = updates_;

  // It comes back with other contents: br0 gone, br1 there.
  server_.rows_["Bridge"].clear();
  server_.rows_["Bridge"][kBr1] = {{"name", "br1"}};
  server_.Start();
  ASSERT_TRUE(RunUntil(loop_, [&] { return client->monitoring(); }));
  EXPECT_GT(client->connection_seqno(), seqno);
  EXPECT_EQ(updates_, updates_before + 1);
  EXPECT_EQ(client->replica().Find("Bridge", kBr0), nullptr);
  EXPECT_EQ(*client->replica().Get("Bridge", kBr1, "name"), "br1");
  EXPECT_EQ(*client->replica().Get("Bridge", kBr1, "ports"), json::parse(R"(["set",[]])"));
  EXPECT_EQ(disconnects_.size(), 1u);
}

TEST_F(ClientTest, MalformedUpdateResynchronises) {
  auto client = MakeClient(Options());
  client->Start();
  ASSERT_TRUE(RunUntil(loop_, [&] { return client->monitoring(); }));
  size_t accepted = server_.accepted;
  server_.Notify("update2", json::array({"hsw", json::parse(R"({"Bridge":{
      "11111111-1111-1111-1111-111111111111":{"modify":{"name":42}}}})")}));
  ASSERT_TRUE(RunUntil(loop_, [&] { return !disconnects_.empty(); }));
  EXPECT_NE(disconnects_[0].find("column name"), std::string::npos) << disconnects_[0];
  EXPECT_NE(client->last_error().find("column name"), std::string::npos);
  EXPECT_EQ(*client->replica().Get("Bridge", kBr0, "name"), "br0");  // untouched
  ASSERT_TRUE(RunUntil(loop_, [&] { return client->monitoring(); }));
  EXPECT_EQ(server_.accepted, accepted + 1);
}

TEST_F(ClientTest, AnswersEchoAndProbesASilentServer) {
  ClientOptions options = Options();
  options.reconnect.probe_interval_ms = 60;
  auto client = MakeClient(options);
  client->Start();
  ASSERT_TRUE(RunUntil(loop_, [&] { return client->monitoring(); }));
  // Idle: the client probes with echo, the fake answers, the client stays up.
  ASSERT_TRUE(RunUntil(loop_, [&] {
    return std::count(server_.methods.begin(), server_.methods.end(), "echo") >= 2;
  }));
  EXPECT_TRUE(client->monitoring());
  EXPECT_TRUE(disconnects_.empty());
  server_.answer_echo = false;
  ASSERT_TRUE(RunUntil(loop_, [&] { return !disconnects_.empty(); }));
  EXPECT_NE(disconnects_[0].find("inactivity probe"), std::string::npos) << disconnects_[0];
}

TEST_F(ClientTest, ServerEchoRequestIsAnswered) {
  auto client = MakeClient(Options());
  client->Start();
  ASSERT_TRUE(RunUntil(loop_, [&] { return client->monitoring(); }));
  // A raw peer: connect our own listener-side client to check the reply.
  hsw::testing::TempDir dir("hsw-ovsdb-echo");
  std::vector<json> replies;
  std::unique_ptr<jsonrpc::Connection> server_side;
  auto listener = jsonrpc::Listener::Listen(
      loop_, "punix:" + (dir / "s"), [&](std::unique_ptr<jsonrpc::Connection> c) {
        server_side = std::move(c);
        server_side->set_on_message([&](json m) {
          if (m.contains("method") && m["method"] == "get_schema") {
            (void)server_side->Send(jsonrpc::MakeRequest("echo", json::array({"x"}), "srv-1"));
          } else if (m.contains("result")) {
            replies.push_back(m);
          }
        });
      });
  ASSERT_TRUE(listener);
  ClientOptions options = Options();
  options.remote = "unix:" + (dir / "s");
  auto second = MakeClient(options);
  second->Start();
  ASSERT_TRUE(RunUntil(loop_, [&] { return !replies.empty(); }));
  EXPECT_EQ(replies[0]["id"], "srv-1");
  EXPECT_EQ(replies[0]["result"], json::array({"x"}));
}

TEST_F(ClientTest, UnreachableServerBacksOffAndConnectsLater) {
  server_.Stop();
  auto client = MakeClient(Options());
  client->Start();
  loop_.RunOnce(0);
  EXPECT_EQ(client->state(), Client::State::kBackoff);
  EXPECT_FALSE(client->last_error().empty());
  server_.Start();
  ASSERT_TRUE(RunUntil(loop_, [&] { return client->monitoring(); }));
  EXPECT_TRUE(disconnects_.empty());  // never established before: nothing lost
}

}  // namespace
}  // namespace hsw::ovsdb
