// unixctl_server and appctl_commands: OVS's unixctl protocol (exact error
// texts, argument checks, list-commands), over a real socket with a JSON-RPC
// client as ovs-appctl sends it, and ovs-vswitchd's commands over a Switch
// on a FakeDpif.
#include "vswitchd/unixctl_server.h"

#include <gtest/gtest.h>

#include "common/log.h"
#include "dpif/fake_dpif.h"
#include "jsonrpc/jsonrpc.h"
#include "openflow/flow_text.h"
#include "testlib/temp_dir.h"
#include "vswitchd/appctl_commands.h"

namespace hsw::vswitchd {
namespace {

using json = nlohmann::json;
using Args = std::vector<std::string>;

bool RunUntil(EventLoop& loop, const std::function<bool()>& done) {
  for (int i = 0; i < 2000 && !done(); ++i) loop.RunOnce(5);
  return done();
}

TEST(UnixctlServer, UnknownCommandGetsOvsText) {
  UnixctlServer server;
  auto r = server.Run("bogus", {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "\"bogus\" is not a valid command (use \"list-commands\" to see a list of valid "
            "commands)");
}

TEST(UnixctlServer, ArgumentCountsAreCheckedBeforeTheHandler) {
  UnixctlServer server;
  int calls = 0;
  server.Register("fdb/show", "bridge", 1, 1, [&](const Args& args) -> Result<std::string> {
    ++calls;
    return "bridge " + args[0];
  });
  auto few = server.Run("fdb/show", {});
  ASSERT_FALSE(few);
  EXPECT_EQ(few.error().message, "\"fdb/show\" command requires at least 1 arguments");
  auto many = server.Run("fdb/show", {"a", "b"});
  ASSERT_FALSE(many);
  EXPECT_EQ(many.error().message, "\"fdb/show\" command takes at most 1 arguments");
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(server.Run("fdb/show", {"br0"}).value(), "bridge br0");
  EXPECT_EQ(calls, 1);
}

TEST(UnixctlServer, RepliesAsJsonRpcWithAFinalNewline) {
  UnixctlServer server;
  server.Register("echo", "[text]", 0, 1, [](const Args& args) -> Result<std::string> {
    return args.empty() ? "" : args[0];
  });
  server.Register("fail", "", 0, 0,
                  [](const Args&) -> Result<std::string> { return Err("it failed"); });
  auto ok = server.Handle({{"method", "echo"}, {"params", {"hi"}}, {"id", 7}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, (json{{"result", "hi\n"}, {"error", nullptr}, {"id", 7}}));
  auto empty = server.Handle({{"method", "echo"}, {"params", json::array()}, {"id", 8}});
  EXPECT_EQ((*empty)["result"], "") << "an empty body gets no newline";
  auto failed = server.Handle({{"method", "fail"}, {"params", json::array()}, {"id", 9}});
  EXPECT_EQ(*failed, (json{{"result", nullptr}, {"error", "it failed\n"}, {"id", 9}}));
  auto not_string = server.Handle({{"method", "echo"}, {"params", {1}}, {"id", 10}});
  EXPECT_EQ((*not_string)["error"], "\"echo\" command has non-string argument\n");
  auto bad = server.Handle({{"method", "echo"}, {"params", "x"}, {"id", 11}});
  ASSERT_TRUE(bad);
  EXPECT_TRUE((*bad)["error"].is_string()) << bad->dump();
  EXPECT_FALSE(server.Handle({{"method", "echo"}, {"params", json::array()}, {"id", nullptr}}))
      << "a notification gets no reply";
}

TEST(UnixctlServer, ListCommandsInOvsLayoutWithoutHiddenOnes) {
  UnixctlServer server;
  server.Register("vlog/list", "", 0, 0, [](const Args&) -> Result<std::string> { return ""; });
  server.Register("fdb/show", "bridge", 1, 1,
                  [](const Args&) -> Result<std::string> { return ""; });
  server.Register("secret", std::nullopt, 0, 0,
                  [](const Args&) -> Result<std::string> { return ""; });
  std::string text = server.Run("list-commands", {}).value();
  EXPECT_EQ(text.rfind("The available commands are:\n", 0), 0u) << text;
  EXPECT_NE(text.find("\n  fdb/show                bridge\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n  vlog/list               \n"), std::string::npos) << text;
  EXPECT_EQ(text.find("secret"), std::string::npos);
  EXPECT_EQ(server.Run("help", {}).value(), text);
}

TEST(UnixctlServer, OverASocketAsOvsAppctlTalks) {
  testing::TempDir dir("hsw-unixctl-test");
  EventLoop loop;
  std::string path = dir.path() + "/ovs-vswitchd.123.ctl";
  auto server = UnixctlServer::Listen(loop, path);
  ASSERT_TRUE(server) << server.error().ToString();
  (*server)->Register("echo", "text", 1, 1,
                      [](const Args& args) -> Result<std::string> { return args[0]; });
  auto client = jsonrpc::Connect(loop, "unix:" + path);
  ASSERT_TRUE(client) << client.error().ToString();
  std::vector<json> replies;
  (*client)->set_on_message([&](json m) { replies.push_back(std::move(m)); });
  (*client)->set_on_close([](const std::string&) {});
  ASSERT_TRUE((*client)->Send({{"method", "echo"}, {"params", {"a b"}}, {"id", 0}}));
  ASSERT_TRUE((*client)->Send({{"method", "nope"}, {"params", json::array()}, {"id", 1}}));
  ASSERT_TRUE(RunUntil(loop, [&] { return replies.size() == 2; }));
  EXPECT_EQ(replies[0], (json{{"result", "a b\n"}, {"error", nullptr}, {"id", 0}}));
  EXPECT_TRUE(replies[1]["result"].is_null());
  EXPECT_NE(replies[1]["error"].get<std::string>().find("\"nope\" is not a valid command"),
            std::string::npos);
  // A client that goes away is forgotten.
  EXPECT_EQ((*server)->n_connections(), 1u);
  client->reset();
  ASSERT_TRUE(RunUntil(loop, [&] { return (*server)->n_connections() == 0; }));
  server->reset();
  EXPECT_FALSE(std::filesystem::exists(path)) << "the socket goes with the server";
}

TEST(UnixctlServer, ListenFailureNamesThePath) {
  EventLoop loop;
  auto server = UnixctlServer::Listen(loop, "/nonexistent-dir/x.ctl");
  ASSERT_FALSE(server);
  EXPECT_NE(server.error().message.find("/nonexistent-dir/x.ctl"), std::string::npos);
}

// ovs-vswitchd's commands over a Switch on a FakeDpif.
class AppctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fake = std::make_unique<dpif::FakeDpif>();
    fake_ = fake.get();
    ofproto::SwitchOptions options;
    options.stats_interval = std::chrono::hours(1);
    auto sw = ofproto::Switch::Create(loop_, std::move(fake), options);
    ASSERT_TRUE(sw) << sw.error().ToString();
    sw_ = std::move(*sw);
    ASSERT_TRUE(sw_->AddBridge("br0"));
    ASSERT_TRUE(sw_->AddPort("br0", "veth1", 1));
    ASSERT_TRUE(sw_->AddPort("br0", "veth2", 2));
    AppctlContext context;
    context.loop = &loop_;
    context.sw = sw_.get();
    context.program = "ovs-vswitchd";
    context.datapath_stats = [this] { return fake_->GetStats(); };
    context.datapath_flows = [this] { return fake_->FlowDump(); };
    context.stop = [this] { ++stops_; };
    commands_ = std::make_unique<AppctlCommands>(server_, std::move(context));
  }
  std::string Ok(const std::string& name, const Args& args = {}) {
    auto r = server_.Run(name, args);
    EXPECT_TRUE(r) << name << ": " << r.error().message;
    return r ? *r : "";
  }
  uint32_t DpPort(const std::string& iface) {
    for (const auto& p : sw_->FindBridge("br0")->ListPorts()) {
      if (p.name == iface) return p.dp_port;
    }
    return 0;
  }
  void Spin() {
    for (int i = 0; i < 5; ++i) loop_.RunOnce(0);
  }

  EventLoop loop_;
  dpif::FakeDpif* fake_ = nullptr;
  std::unique_ptr<ofproto::Switch> sw_;
  UnixctlServer server_;
  std::unique_ptr<AppctlCommands> commands_;
  int stops_ = 0;
};

TEST_F(AppctlTest, VersionIsOvsFirstLine) {
  EXPECT_EQ(Ok("version"), "ovs-vswitchd (Open vSwitch) 3.1.0");
}

TEST_F(AppctlTest, ExitStopsAfterTheReplyAndCleanupSaysItIsTheSame) {
  EXPECT_EQ(Ok("exit"), "");
  EXPECT_EQ(stops_, 0) << "the stop is posted, so that the reply goes out first";
  Spin();
  EXPECT_EQ(stops_, 1);
  EXPECT_NE(Ok("exit", {"--cleanup"}).find("--cleanup"), std::string::npos);
  Spin();
  EXPECT_EQ(stops_, 2);
  auto bad = server_.Run("exit", {"--now"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("--now"), std::string::npos);
  Spin();
  EXPECT_EQ(stops_, 2) << "a refused exit does not stop";
}

TEST_F(AppctlTest, OfprotoListAndDpifShow) {
  ASSERT_TRUE(sw_->AddBridge("br1"));
  std::string list = Ok("ofproto/list");
  EXPECT_NE(list.find("br0\n"), std::string::npos);
  EXPECT_NE(list.find("br1\n"), std::string::npos);
  fake_->SetCounter("lookups_emc_hit", 5);
  fake_->SetCounter("lookups_megaflow_hit", 2);
  fake_->SetCounter("lookups_miss", 3);
  std::string show = Ok("dpif/show");
  EXPECT_EQ(show.rfind("hsw@datapath: hit:7 missed:3\n", 0), 0u) << show;
  EXPECT_NE(show.find("  br0:\n    veth1 1/" + std::to_string(DpPort("veth1")) + ": (system)\n"),
            std::string::npos)
      << show;
  EXPECT_NE(show.find("  br1:\n"), std::string::npos) << show;
  std::string dpctl = Ok("dpctl/show");
  EXPECT_NE(dpctl.find("  lookups: hit:7 missed:3 lost:0\n"), std::string::npos) << dpctl;
  EXPECT_NE(dpctl.find("port " + std::to_string(DpPort("veth2")) + ": veth2\n"),
            std::string::npos)
      << dpctl;
}

TEST_F(AppctlTest, DpifShowSaysWhenTheDatapathIsAway) {
  fake_->SetFailure(Error{ECONNRESET, "datapath gone"});
  std::string show = Ok("dpif/show");
  EXPECT_NE(show.find("statistics unavailable"), std::string::npos) << show;
  EXPECT_NE(show.find("veth1"), std::string::npos) << show;
  fake_->SetFailure(std::nullopt);
}

TEST_F(AppctlTest, FdbShowListsLearnedAddresses) {
  auto flow = ofp::ParseFlowMod("priority=0,actions=NORMAL");
  ASSERT_TRUE(flow);
  ASSERT_TRUE(sw_->FindBridge("br0")->FlowMod(*flow));
  sw_->Sync();
  EXPECT_EQ(Ok("fdb/show", {"br0"}), " port  VLAN  MAC                Age\n");
  dpif::Upcall up;
  up.type = dpif::UpcallType::kMiss;
  up.key = FlowKey::Zero();
  up.key.in_port = DpPort("veth2");
  up.in_port = up.key.in_port;
  const uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x0b};
  const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0x0a};
  std::memcpy(up.key.eth_src, src, 6);
  std::memcpy(up.key.eth_dst, dst, 6);
  up.key.eth_type = 0x0800;
  up.packet.assign(60, 0);
  fake_->InjectUpcall(up);
  Spin();
  std::string fdb = Ok("fdb/show", {"br0"});
  EXPECT_NE(fdb.find("    2     0  02:00:00:00:00:0b    0\n"), std::string::npos) << fdb;
  auto none = server_.Run("fdb/show", {"nobr"});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message, "no such bridge: nobr");
}

TEST_F(AppctlTest, BridgeDumpFlowsAndTrace) {
  auto flow = ofp::ParseFlowMod("priority=100,in_port=1,actions=output:2");
  ASSERT_TRUE(flow);
  ASSERT_TRUE(sw_->FindBridge("br0")->FlowMod(*flow));
  std::string flows = Ok("bridge/dump-flows", {"br0"});
  EXPECT_NE(flows.find("priority=100,in_port=1 actions=output:2"), std::string::npos) << flows;
  EXPECT_NE(flows.find("n_packets=0"), std::string::npos) << flows;
  std::string trace = Ok("ofproto/trace", {"br0", "in_port=veth1"});
  EXPECT_FALSE(trace.empty());
  auto bad = server_.Run("ofproto/trace", {"br0", "in_port=nosuch"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("nosuch"), std::string::npos);
}

TEST_F(AppctlTest, DpifDumpFlowsShowsTheBridgesMegaflows) {
  auto flow = ofp::ParseFlowMod("priority=100,in_port=1,actions=output:2");
  ASSERT_TRUE(flow);
  ASSERT_TRUE(sw_->FindBridge("br0")->FlowMod(*flow));
  sw_->Sync();
  dpif::Upcall up;
  up.type = dpif::UpcallType::kMiss;
  up.key = FlowKey::Zero();
  up.key.in_port = DpPort("veth1");
  up.in_port = up.key.in_port;
  up.packet.assign(60, 0);
  fake_->InjectUpcall(up);
  Spin();
  std::string dump = Ok("dpif/dump-flows", {"br0"});
  // hsw's datapath flow syntax (FormatDpKey, FormatDpActions), OVS's line layout.
  EXPECT_NE(dump.find("in_port(port=" + std::to_string(DpPort("veth1")) + ")"), std::string::npos)
      << dump;
  EXPECT_NE(dump.find(", packets:0, bytes:0, used:never, actions:output:" +
                      std::to_string(DpPort("veth2"))),
            std::string::npos)
      << dump;
  EXPECT_FALSE(server_.Run("dpif/dump-flows", {"br0", "--bogus"}));
}

TEST_F(AppctlTest, CoverageMemoryAndBond) {
  std::string coverage = Ok("coverage/show");
  EXPECT_EQ(coverage.rfind("Event coverage, avg rate over last: 5 seconds, last minute, last hour,",
                           0),
            0u)
      << coverage;
  EXPECT_NE(coverage.find("events never hit\n"), std::string::npos) << coverage;
  EXPECT_NE(Ok("memory/show").find("ports:2 rules:0"), std::string::npos) << Ok("memory/show");
  EXPECT_EQ(Ok("bond/show"), "");
}

TEST_F(AppctlTest, VlogSetAndList) {
  EXPECT_EQ(Ok("vlog/set", {"appctl:file:warn"}), "");
  std::string list = Ok("vlog/list");
  EXPECT_EQ(list.rfind("                 console    syslog    file\n", 0), 0u) << list;
  EXPECT_NE(list.find("\nappctl            INFO        OFF       WARN\n"), std::string::npos)
      << list;
  auto bad = server_.Run("vlog/set", {"appctl:loud"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "no destination, level, or module \"loud\"");
  log::SetLevel(log::Level::kInfo);
}

TEST_F(AppctlTest, EveryCommandIsListed) {
  std::string list = Ok("list-commands");
  for (const char* name : {"version", "exit", "vlog/set", "vlog/list", "vlog/reopen",
                           "ofproto/list", "dpif/show", "dpctl/show", "bridge/dump-flows",
                           "fdb/show", "coverage/show", "memory/show", "bond/show",
                           "ofproto/trace", "dpif/dump-flows"}) {
    EXPECT_NE(list.find(std::string("  ") + name + " "), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace hsw::vswitchd
