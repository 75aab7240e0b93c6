// hsw-vswitchd's wiring, driven through its control methods as hsw-ctl would,
// over a real ofproto Switch on a FakeDpif: configuration persistence, flow
// commands and their errors, flow-restore-wait, restart from conf.json.
#include "vswitchd/vswitchd.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "common/fd.h"
#include "dpif/fake_dpif.h"
#include "testlib/temp_dir.h"

namespace hsw::vswitchd {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

class VswitchdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const std::string& dir : {dirs_.rundir, dirs_.statedir, dirs_.logdir}) {
      fs::create_directories(dir);
    }
  }
  // Starts a Vswitchd on a new FakeDpif (kept in fake_).
  Status Start(bool flow_restore_wait = false, double restore_wait_timeout_s = 60) {
    auto fake = std::make_unique<dpif::FakeDpif>();
    fake_ = fake.get();
    for (const auto& [name, no] : dp_ports_) fake->AddPortForTest(name, no);
    VswitchdOptions options;
    options.flow_restore_wait = flow_restore_wait;
    options.flow_restore_wait_timeout_s = restore_wait_timeout_s;
    auto created = Vswitchd::Create(loop_, dirs_, options, std::move(fake));
    if (!created) return tl::unexpected(created.error());
    vswitchd_ = std::move(*created);
    return hsw::Ok();
  }

  // Calls a method as hsw-ctl would; returns the reply object.
  json Call(const std::string& method, json params = json::object()) {
    json request = {{"id", 1}, {"method", method}, {"params", params}};
    return json::parse(vswitchd_->control().HandleLine(request.dump()));
  }
  json Succeed(const std::string& method, json params = json::object()) {
    json reply = Call(method, params);
    EXPECT_TRUE(reply.contains("result"))
        << method << " " << params.dump() << " -> " << reply.dump();
    return reply.value("result", json());
  }
  std::string Fail(const std::string& method, json params = json::object()) {
    json reply = Call(method, params);
    EXPECT_TRUE(reply.contains("error")) << method << " -> " << reply.dump();
    return reply.contains("error") ? reply["error"].value("message", "") : "";
  }

  void AddBridgeWithPorts() {
    Succeed("add-br", {{"bridge", "br0"}});
    EXPECT_EQ(Succeed("add-port", {{"bridge", "br0"}, {"iface", "veth1"}}), (json{{"ofport", 1}}));
    EXPECT_EQ(Succeed("add-port", {{"bridge", "br0"}, {"iface", "veth2"}, {"ofport", 5}}),
              (json{{"ofport", 5}}));
  }

  testing::TempDir tmp_{"hsw-vswitchd-test"};  // first: destroyed after vswitchd_
  const std::string root_ = tmp_.path();
  daemon::Dirs dirs_{root_ + "/run", root_ + "/state", root_ + "/log"};
  EventLoop loop_;
  dpif::FakeDpif* fake_ = nullptr;
  std::map<std::string, uint32_t> dp_ports_;
  std::unique_ptr<Vswitchd> vswitchd_;
};

TEST_F(VswitchdTest, BridgesAndPortsArePersisted) {
  ASSERT_TRUE(Start());
  AddBridgeWithPorts();
  EXPECT_EQ(Succeed("list-br"), json::array({"br0"}));
  json ports = Succeed("list-ports", {{"bridge", "br0"}});
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(ports[1], (json{{"name", "veth2"}, {"ofport", 5}}));
  EXPECT_TRUE(fs::exists(dirs_.rundir + "/vswitchd.ctl"));
  EXPECT_TRUE(fs::exists(dirs_.rundir + "/br0.mgmt"));
  EXPECT_EQ(fake_->ports().size(), 2u);

  auto saved = ReadFile(dirs_.statedir + "/conf.json");
  ASSERT_TRUE(saved);
  auto config = ParseConfig(*saved, "conf.json");
  ASSERT_TRUE(config);
  ASSERT_EQ(config->bridges.size(), 1u);
  EXPECT_EQ(config->bridges[0].ports[1], (PortConfig{"veth2", 5}));
}

TEST_F(VswitchdTest, ShutdownRemovesSockets) {
  ASSERT_TRUE(Start());
  AddBridgeWithPorts();
  Succeed("add-flow", {{"bridge", "br0"}, {"flow", "in_port=1,actions=output:5"}});
  vswitchd_.reset();
  EXPECT_FALSE(fs::exists(dirs_.rundir + "/vswitchd.ctl"));
  EXPECT_FALSE(fs::exists(dirs_.rundir + "/br0.mgmt"));
}

TEST_F(VswitchdTest, RestartRecreatesBridgesAndPortsWithTheirOfports) {
  ASSERT_TRUE(Start());
  AddBridgeWithPorts();
  Succeed("set", {{"key", "color"}, {"value", "blue"}});
  dp_ports_ = {{"veth1", 1}, {"veth2", 2}};  // the datapath outlives us
  vswitchd_.reset();

  ASSERT_TRUE(Start());
  EXPECT_EQ(Succeed("list-br"), json::array({"br0"}));
  ofproto::Bridge* bridge = vswitchd_->sw().FindBridge("br0");
  ASSERT_NE(bridge, nullptr);
  EXPECT_EQ(bridge->FindOfport("veth1"), 1u);
  EXPECT_EQ(bridge->FindOfport("veth2"), 5u);
  EXPECT_EQ(Succeed("get", {{"key", "color"}}), "blue");
  // The ports were found in the datapath, not re-created.
  EXPECT_EQ(fake_->CountCalls(dpif::MsgType::kPortAdd), 0u);
}

TEST_F(VswitchdTest, TablesComeBackFromTheJournalAfterARestart) {
  ASSERT_TRUE(Start());
  AddBridgeWithPorts();
  Succeed("add-br", {{"bridge", "br1"}});
  Succeed("add-flows", {{"bridge", "br0"},
                        {"text", "in_port=1,actions=output:5\npriority=9,ip,actions=drop\n"}});
  Succeed("add-flow", {{"bridge", "br0"}, {"flow", "table=3,tcp,tp_dst=80,actions=output:1"}});
  Succeed("del-flows", {{"bridge", "br0"}, {"match", "priority=9,ip"}, {"strict", true}});
  Succeed("add-flow", {{"bridge", "br1"}, {"flow", "actions=drop"}});
  json before = Succeed("save-flows");
  json position = Succeed("show")["journal"];
  EXPECT_EQ(position["id"].get<std::string>().size(), 32u);
  EXPECT_GT(position["seq"].get<uint64_t>(), 3u);
  // Deleting a bridge clears its journal too: a new br1 starts empty.
  Succeed("del-br", {{"bridge", "br1"}});
  Succeed("add-br", {{"bridge", "br1"}});
  before = Succeed("save-flows");
  dp_ports_ = {{"veth1", 1}, {"veth2", 2}};
  vswitchd_.reset();  // as good as kill -9 for the journal: nothing is written at exit

  ASSERT_TRUE(Start());
  json after = Succeed("save-flows");
  EXPECT_EQ(after["bridges"], before["bridges"]);
  EXPECT_EQ(after["bridges"][0]["flows"].size(), 2u);
  EXPECT_EQ(after["bridges"][1]["flows"].size(), 0u);
  EXPECT_EQ(after["journal"]["id"], position["id"]);
}

TEST_F(VswitchdTest, DamagedJournalStopsStartAndIsKept) {
  ASSERT_TRUE(Start());
  AddBridgeWithPorts();
  Succeed("add-flow", {{"bridge", "br0"}, {"flow", "in_port=1,actions=output:5"}});
  Succeed("add-flow", {{"bridge", "br0"}, {"flow", "in_port=5,actions=output:1"}});
  vswitchd_.reset();
  std::string path = dirs_.statedir + "/flows.journal";
  std::string bytes = *ReadFile(path);
  bytes[50] ^= 0x55;  // inside the first record, with another one after it
  ASSERT_TRUE(WriteFileAtomic(path, bytes));
  auto started = Start();
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().ToString().find(path), std::string::npos) << started.error().ToString();
  EXPECT_NE(started.error().ToString().find("move it aside"), std::string::npos);
  EXPECT_EQ(*ReadFile(path), bytes) << "the only copy of the tables is left as it was";
}

TEST_F(VswitchdTest, FlowCommandsAndDumpFormat) {
  ASSERT_TRUE(Start());
  AddBridgeWithPorts();
  EXPECT_TRUE(Succeed("add-flow",
                      {{"bridge", "br0"}, {"flow", "priority=100,in_port=veth1,actions=output:5"}})
                  .is_null());
  json lines = Succeed("dump-flows", {{"bridge", "br0"}});
  ASSERT_EQ(lines.size(), 1u);
  std::string line = lines[0];
  EXPECT_NE(line.find("priority=100,in_port=1 actions=output:5"), std::string::npos) << line;
  EXPECT_EQ(line.rfind(" cookie=0x0, duration=", 0), 0u) << line;

  json named = Succeed("dump-flows", {{"bridge", "br0"}, {"names", true}});
  EXPECT_NE(named[0].get<std::string>().find("in_port=veth1"), std::string::npos) << named;

  // Filtered dump and delete.
  Succeed("add-flow", {{"bridge", "br0"}, {"flow", "in_port=5,actions=output:1"}});
  EXPECT_EQ(Succeed("dump-flows", {{"bridge", "br0"}, {"match", "in_port=5"}}).size(), 1u);
  Succeed("del-flows", {{"bridge", "br0"}, {"match", "in_port=5"}});
  EXPECT_EQ(Succeed("dump-flows", {{"bridge", "br0"}}).size(), 1u);
  Succeed("del-flows", {{"bridge", "br0"}});
  EXPECT_EQ(Succeed("dump-flows", {{"bridge", "br0"}}).size(), 0u);
}

TEST_F(VswitchdTest, DumpOutputFeedsBackIntoAddFlows) {
  ASSERT_TRUE(Start());
  AddBridgeWithPorts();
  Succeed("add-flow", {{"bridge", "br0"},
                       {"flow",
                        "table=0,priority=10,ip,nw_dst=10.0.0.0/24,"
                        "actions=output:5"}});
  Succeed("add-flow", {{"bridge", "br0"}, {"flow", "table=1,cookie=0x5,in_port=1,actions=drop"}});
  json dump = Succeed("dump-flows", {{"bridge", "br0"}});
  std::string text;
  for (const json& line : dump) text += line.get<std::string>() + "\n";
  Succeed("del-flows", {{"bridge", "br0"}});
  Succeed("add-flows", {{"bridge", "br0"}, {"text", text}});
  json again = Succeed("dump-flows", {{"bridge", "br0"}});
  ASSERT_EQ(again.size(), dump.size());
  auto strip = [](std::string s) {  // durations differ
    auto start = s.find("duration=");
    return s.erase(start, s.find(',', start) - start);
  };
  for (size_t i = 0; i < dump.size(); ++i) EXPECT_EQ(strip(again[i]), strip(dump[i]));
}

TEST_F(VswitchdTest, AddFlowsAcceptsOvsOfctlDumpOutput) {
  ASSERT_TRUE(Start());
  AddBridgeWithPorts();
  std::string text =
      "OFPST_FLOW reply (OF1.3) (xid=0x2):\n"
      " cookie=0x0, duration=0.029s, table=0, n_packets=0, n_bytes=0, in_port=5 "
      "actions=output:1\n"
      " cookie=0x0, duration=0.049s, table=0, n_packets=0, n_bytes=0, "
      "priority=200,ip,nw_dst=10.9.0.0/24 actions=output:5\n";
  Succeed("add-flows", {{"bridge", "br0"}, {"text", text}});
  EXPECT_EQ(Succeed("dump-flows", {{"bridge", "br0"}}).size(), 2u);
  // Line numbers in errors still count the header.
  std::string bad = "OFPST_FLOW reply (OF1.3) (xid=0x2):\n in_port=1 actions=frob\n";
  EXPECT_NE(Fail("add-flows", {{"bridge", "br0"}, {"text", bad}}).find("line 2"),
            std::string::npos);
}

TEST_F(VswitchdTest, FlowErrorsNameTheProblemAndChangeNothing) {
  ASSERT_TRUE(Start());
  AddBridgeWithPorts();
  Succeed("add-flow", {{"bridge", "br0"}, {"flow", "in_port=1,actions=output:5"}});
  EXPECT_EQ(Fail("add-flow", {{"bridge", "br0"}, {"flow", "in_port=1,actions=oops"}}),
            "add-flow br0 'in_port=1,actions=oops': unknown action 'oops'");
  EXPECT_EQ(Fail("add-flow", {{"bridge", "brX"}, {"flow", "actions=drop"}}),
            "unknown bridge 'brX'");
  std::string unknown_port =
      Fail("add-flow", {{"bridge", "br0"}, {"flow", "in_port=nosuch,actions=drop"}});
  EXPECT_NE(unknown_port.find("nosuch"), std::string::npos) << unknown_port;
  EXPECT_EQ(Fail("add-flow", {{"bridge", "br0"}}), "missing string parameter 'flow'");

  // add-flows is all or nothing: a bad line 3 leaves the tables unchanged.
  std::string batch = "in_port=5,actions=output:1\n# comment\nin_port=1,actions=frob\n";
  std::string message =
      Fail("add-flows", {{"bridge", "br0"}, {"text", batch}, {"file", "flows.txt"}});
  EXPECT_NE(message.find("add-flows br0 flows.txt: line 3"), std::string::npos) << message;
  EXPECT_EQ(Succeed("dump-flows", {{"bridge", "br0"}}).size(), 1u);

  EXPECT_NE(
      Fail("del-flows", {{"bridge", "br0"}, {"match", "nw_dst=1.2.3.4"}}).find("del-flows br0"),
      std::string::npos);
  EXPECT_EQ(Succeed("dump-flows", {{"bridge", "br0"}}).size(), 1u);
}

TEST_F(VswitchdTest, PortAndBridgeErrors) {
  ASSERT_TRUE(Start());
  AddBridgeWithPorts();
  EXPECT_EQ(Fail("add-br", {{"bridge", "br0"}}), "bridge 'br0' already exists");
  EXPECT_EQ(Fail("add-port", {{"bridge", "brX"}, {"iface", "veth3"}}), "unknown bridge 'brX'");
  Succeed("add-br", {{"bridge", "br1"}});
  EXPECT_EQ(Fail("add-port", {{"bridge", "br1"}, {"iface", "veth1"}}),
            "interface 'veth1' is already a port of bridge 'br0'");
  EXPECT_NE(Fail("add-port", {{"bridge", "br0"}, {"iface", "veth3"}, {"ofport", 5}}).find("5"),
            std::string::npos);
  EXPECT_EQ(Fail("del-port", {{"bridge", "br0"}, {"iface", "veth9"}}),
            "bridge 'br0' has no port 'veth9'");
  EXPECT_EQ(Fail("del-br", {{"bridge", "nope"}}), "unknown bridge 'nope'");
  EXPECT_EQ(Fail("frob"), "unknown method 'frob'");
  // Nothing of the above reached the config.
  auto config = ConfigStore::Open(dirs_.statedir + "/conf.json");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->config().bridges.size(), 2u);
  EXPECT_EQ(config->config().bridges[0].ports.size(), 2u);
  EXPECT_TRUE(config->config().bridges[1].ports.empty());
}

TEST_F(VswitchdTest, DeletePortAndBridge) {
  ASSERT_TRUE(Start());
  AddBridgeWithPorts();
  Succeed("del-port", {{"bridge", "br0"}, {"iface", "veth1"}});
  EXPECT_EQ(Succeed("list-ports", {{"bridge", "br0"}}).size(), 1u);
  EXPECT_FALSE(vswitchd_->sw().FindBridge("br0")->FindOfport("veth1").has_value());
  Succeed("del-br", {{"bridge", "br0"}});
  EXPECT_EQ(Succeed("list-br"), json::array());
  EXPECT_FALSE(fs::exists(dirs_.rundir + "/br0.mgmt"));
  EXPECT_EQ(vswitchd_->sw().FindBridge("br0"), nullptr);
}

TEST_F(VswitchdTest, FlowRestoreWait) {
  ASSERT_TRUE(Start(/*flow_restore_wait=*/true));
  EXPECT_FALSE(vswitchd_->sw().tables_loaded());
  EXPECT_EQ(Succeed("get", {{"key", "flow-restore-wait"}}), "true");
  AddBridgeWithPorts();
  Succeed("add-flow", {{"bridge", "br0"}, {"flow", "in_port=1,actions=output:5"}});  // restore
  EXPECT_NE(Fail("set", {{"key", "flow-restore-wait"}, {"value", "maybe"}}).find("maybe"),
            std::string::npos);
  Succeed("set", {{"key", "flow-restore-wait"}, {"value", "false"}});
  EXPECT_TRUE(vswitchd_->sw().tables_loaded());
  EXPECT_EQ(Succeed("get", {{"key", "flow-restore-wait"}}), "false");
  // Never persisted: a restart must not come back frozen.
  auto config = ConfigStore::Open(dirs_.statedir + "/conf.json");
  EXPECT_FALSE(config->GetSetting("flow-restore-wait").has_value());
}

TEST_F(VswitchdTest, ApplyConfigChangesOnlyWhatDiffersAndRefusesBadInputWhole) {
  ASSERT_TRUE(Start());
  json config = {{"schema_version", 1},
                 {"bridges", json::array({{{"name", "br0"},
                                           {"datapath_id", "0000000000000000"},
                                           {"controllers", json::array()},
                                           {"ports", json::array({{{"name", "veth1"},
                                                                   {"ofport", 3}}})}}})},
                 {"settings", json::object()}};
  json reply = Succeed("apply-config", {{"config", config}, {"generation", "g1"}});
  EXPECT_EQ(reply["interfaces"]["veth1"]["ofport"], 3);
  EXPECT_EQ(Succeed("list-ports", {{"bridge", "br0"}}),
            json::array({{{"name", "veth1"}, {"ofport", 3}}}));
  // The same again: nothing to do.
  EXPECT_EQ(Succeed("apply-config", {{"config", config}})["changes"], 0);

  // A bad name, a bad log spec: refused whole, nothing changed.
  json bad = config;
  bad["bridges"][0]["ports"].push_back({{"name", "bad/name"}, {"ofport", 4}});
  EXPECT_NE(Fail("apply-config", {{"config", bad}}).find("bad/name"), std::string::npos);
  json more = config;
  more["bridges"][0]["ports"].push_back({{"name", "veth2"}, {"ofport", 4}});
  EXPECT_NE(Fail("apply-config", {{"config", more}, {"vlog", json::array({"nosuchmodule:dbg"})}})
                .find("nosuchmodule"),
            std::string::npos);
  EXPECT_EQ(Succeed("list-ports", {{"bridge", "br0"}}),
            json::array({{{"name", "veth1"}, {"ofport", 3}}}));
  EXPECT_NE(Fail("apply-config", {{"config", "not an object"}}).find("params.config"),
            std::string::npos);

  // A bridge left out is deleted.
  config["bridges"] = json::array();
  Succeed("apply-config", {{"config", config}});
  EXPECT_EQ(Succeed("list-br"), json::array());
}

TEST_F(VswitchdTest, FlowRestoreWaitHoldsWhileHswCtlOrTheDatabaseHoldsIt) {
  // hsw-ctl start --db --restore-flows: a database that says false must not
  // release the command line's wait before hsw-ctl restored the flows.
  ASSERT_TRUE(Start(/*flow_restore_wait=*/true));
  vswitchd_->SetDatabaseFlowRestoreWait(false, "database says false");
  EXPECT_FALSE(vswitchd_->sw().tables_loaded());
  Succeed("set", {{"key", "flow-restore-wait"}, {"value", "false"}});
  EXPECT_TRUE(vswitchd_->sw().tables_loaded());
  // An OVS script's restore: the database holds, hsw-ctl cannot release it.
  vswitchd_->SetDatabaseFlowRestoreWait(true, "database says true");
  EXPECT_FALSE(vswitchd_->sw().tables_loaded());
  Succeed("set", {{"key", "flow-restore-wait"}, {"value", "false"}});
  EXPECT_FALSE(vswitchd_->sw().tables_loaded());
  Succeed("set", {{"key", "flow-restore-wait"}, {"value", "true"}});
  vswitchd_->SetDatabaseFlowRestoreWait(false, "removed from the database");
  EXPECT_FALSE(vswitchd_->sw().tables_loaded());  // hsw-ctl still holds it
  Succeed("set", {{"key", "flow-restore-wait"}, {"value", "false"}});
  EXPECT_TRUE(vswitchd_->sw().tables_loaded());
}

TEST_F(VswitchdTest, FlowRestoreWaitClearsItselfAtItsDeadline) {
  ASSERT_TRUE(Start(/*flow_restore_wait=*/true, /*restore_wait_timeout_s=*/0.05));
  EXPECT_FALSE(vswitchd_->sw().tables_loaded());
  // Nobody clears it (the restore "crashed"): the deadline does.  (The 50 ms
  // timer fires within the 100 turns; a turn returns as soon as it does.)
  for (int i = 0; i < 100 && !vswitchd_->sw().tables_loaded(); ++i) loop_.RunOnce(100);
  EXPECT_TRUE(vswitchd_->sw().tables_loaded());
}

TEST_F(VswitchdTest, SaveAndRestoreFlows) {
  ASSERT_TRUE(Start());
  AddBridgeWithPorts();
  Succeed("add-br", {{"bridge", "br1"}});
  Succeed("add-flow", {{"bridge", "br0"},
                       {"flow", "table=1,priority=7,cookie=0x5,idle_timeout=30,ip,nw_dst=10.0.0.0/8,"
                                "actions=set_field:10.0.0.1->ip_src,output:5"}});
  Succeed("add-flow", {{"bridge", "br0"}, {"flow", "in_port=1,actions=output:5"}});
  Succeed("add-flow", {{"bridge", "br1"}, {"flow", "priority=1,actions=drop"}});
  json saved = Succeed("save-flows");
  ASSERT_EQ(saved["bridges"].size(), 2u);
  EXPECT_EQ(saved["bridges"][0]["name"], "br0");
  ASSERT_EQ(saved["bridges"][0]["flows"].size(), 2u);
  EXPECT_EQ(saved["bridges"][0]["flows"][1],
            "table=1,cookie=0x5,idle_timeout=30,priority=7,ip,nw_dst=10.0.0.0/8,"
            "actions=set_field:10.0.0.1->ip_src,output:5");
  auto dump = [&](const char* bridge) {
    return Succeed("dump-flows", {{"bridge", bridge}}).size();
  };

  // Restore replaces: rules added since the save go, saved ones come back.
  Succeed("add-flow", {{"bridge", "br0"}, {"flow", "priority=9,actions=drop"}});
  Succeed("del-flows", {{"bridge", "br1"}});
  auto text = [&](size_t i) {
    std::string t;
    for (const json& line : saved["bridges"][i]["flows"]) t += line.get<std::string>() + "\n";
    return t;
  };
  json restored = Succeed(
      "restore-flows",
      {{"bridges", {{{"name", "br0"}, {"text", text(0)}}, {{"name", "br1"}, {"text", text(1)}}}}});
  EXPECT_EQ(restored["bridges"][0]["n_flows"], 2);
  EXPECT_EQ(dump("br0"), 2u);
  EXPECT_EQ(dump("br1"), 1u);
  EXPECT_EQ(Succeed("save-flows")["bridges"], saved["bridges"]);
  // Restoring what is already there changes nothing (and journals nothing):
  // unchanged rules keep their counters and datapath flows.
  json position = Succeed("show")["journal"];
  Succeed("restore-flows", {{"bridges", {{{"name", "br0"}, {"text", text(0)}}}}});
  EXPECT_EQ(Succeed("show")["journal"], position);

  // A bad line in the second bridge's file: nothing changes anywhere.
  Succeed("add-flow", {{"bridge", "br0"}, {"flow", "priority=9,actions=drop"}});
  std::string error = Fail(
      "restore-flows",
      {{"bridges",
        {{{"name", "br0"}, {"text", text(0)}, {"file", "save/br0.flows"}},
         {{"name", "br1"}, {"text", "priority=1,actions=drop\nactions=bogus\n"},
          {"file", "save/br1.flows"}}}}});
  EXPECT_NE(error.find("save/br1.flows"), std::string::npos) << error;
  EXPECT_NE(error.find("line 2"), std::string::npos) << error;
  EXPECT_EQ(dump("br0"), 3u);
  // An unknown bridge, too.
  json unknown = {{"bridges", json::array({json{{"name", "br0"}, {"text", text(0)}},
                                           json{{"name", "brX"}, {"text", ""}}})}};
  error = Fail("restore-flows", unknown);
  EXPECT_NE(error.find("bridge 'brX' does not exist"), std::string::npos) << error;
  EXPECT_EQ(dump("br0"), 3u);
}

// hsw-ctl sends add-flows' text as the payload: no request-line limit.
TEST_F(VswitchdTest, AddFlowsTakesItsTextAsPayload) {
  ASSERT_TRUE(Start());
  AddBridgeWithPorts();
  auto add = [&](const std::string& payload) {
    json request = {{"id", 1}, {"method", "add-flows"}, {"params", {{"bridge", "br0"}}}};
    return json::parse(vswitchd_->control().HandleLine(request.dump(), payload));
  };
  json ok = add("priority=7,ip,actions=output:5\nin_port=1,actions=output:5\n");
  EXPECT_FALSE(ok.contains("error")) << ok.dump();
  EXPECT_EQ(Succeed("save-flows")["bridges"][0]["flows"].size(), 2u);
  json bad = add("priority=8,ip,actions=output:5\nin_port=1,actions=bogus\n");
  ASSERT_TRUE(bad.contains("error")) << bad.dump();
  EXPECT_NE(bad["error"]["message"].get<std::string>().find("line 2"), std::string::npos)
      << bad.dump();
  EXPECT_EQ(Succeed("save-flows")["bridges"][0]["flows"].size(), 2u);  // all or none
}

// hsw-ctl's form: the flow text as raw payload, each bridge's `size` bytes.
TEST_F(VswitchdTest, SaveAndRestoreFlowsWithPayloads) {
  ASSERT_TRUE(Start());
  AddBridgeWithPorts();
  Succeed("add-br", {{"bridge", "br1"}});
  Succeed("add-flow", {{"bridge", "br0"}, {"flow", "priority=7,ip,actions=output:5"}});
  Succeed("add-flow", {{"bridge", "br0"}, {"flow", "in_port=1,actions=output:5"}});
  Succeed("add-flow", {{"bridge", "br1"}, {"flow", "priority=1,actions=drop"}});
  json request = {{"id", 1}, {"method", "save-flows"}, {"params", {{"payload", true}}}};
  std::string reply_text = vswitchd_->control().HandleLine(request.dump());
  size_t newline = reply_text.find('\n');
  ASSERT_NE(newline, std::string::npos) << reply_text;
  json reply = json::parse(reply_text.substr(0, newline));
  std::string payload = reply_text.substr(newline + 1);
  EXPECT_EQ(reply["payload_size"], payload.size());
  const json& bridges = reply["result"]["bridges"];
  ASSERT_EQ(bridges.size(), 2u);
  const size_t br0_size = 39 + 35;
  EXPECT_EQ(bridges[0], (json{{"name", "br0"}, {"n_flows", 2}, {"size", br0_size}}));
  EXPECT_EQ(payload,  // by table, then priority, highest first
            "table=0,in_port=1,actions=output:5\n"
            "table=0,priority=7,ip,actions=output:5\n"
            "table=0,priority=1,actions=drop\n");
  // The JSON form says the same.
  json lines = Succeed("save-flows")["bridges"][0]["flows"];
  EXPECT_EQ(lines,
            json({"table=0,in_port=1,actions=output:5", "table=0,priority=7,ip,actions=output:5"}));

  auto restore = [&](const json& params, const std::string& payload) {
    json request = {{"id", 2}, {"method", "restore-flows"}, {"params", params}};
    return json::parse(vswitchd_->control().HandleLine(request.dump(), payload));
  };
  Succeed("del-flows", {{"bridge", "br0"}});
  json restored = restore(
      {{"bridges",
        {{{"name", "br0"}, {"size", br0_size}},
         {{"name", "br1"}, {"size", payload.size() - br0_size}}}}},
      payload);
  EXPECT_EQ(restored["result"]["bridges"][0]["n_flows"], 2) << restored.dump();
  EXPECT_EQ(Succeed("save-flows")["bridges"][0]["flows"], lines);
  // Sizes that do not cover the payload exactly change nothing.
  Succeed("del-flows", {{"bridge", "br0"}});
  json short_sizes = restore({{"bridges", {{{"name", "br0"}, {"size", br0_size}}}}}, payload);
  EXPECT_NE(short_sizes["error"]["message"].get<std::string>().find("add up to 74"),
            std::string::npos)
      << short_sizes.dump();
  json past_end = restore({{"bridges", {{{"name", "br0"}, {"size", payload.size() + 1}}}}}, payload);
  EXPECT_TRUE(past_end.contains("error")) << past_end.dump();
  EXPECT_EQ(Succeed("dump-flows", {{"bridge", "br0"}}).size(), 0u);
}

// A restore onto tables that already hold the text's rules is recognised on
// the text alone (no parse); it must answer exactly as the full restore
// would: nothing changes, nothing is journaled, counters carry on.  Text
// that only nearly matches must still change what differs.
TEST_F(VswitchdTest, RestoreOfWhatTheTablesHoldChangesNothing) {
  ASSERT_TRUE(Start());
  AddBridgeWithPorts();
  const std::vector<std::string> lines = {
      "table=0,in_port=1,actions=output:5", "table=0,priority=7,ip,actions=output:5",
      "table=3,cookie=0x5,idle_timeout=30,priority=9,tcp,tp_dst=80,actions=drop"};
  for (const std::string& line : lines) Succeed("add-flow", {{"bridge", "br0"}, {"flow", line}});
  ASSERT_EQ(Succeed("save-flows")["bridges"][0]["flows"], json(lines));
  auto restore = [&](const std::string& text) {
    return Succeed("restore-flows", {{"bridges", {{{"name", "br0"}, {"text", text}}}}});
  };
  auto journal = [&] { return Succeed("show")["journal"]; };
  json position = journal();
  // In save order, in another order, with comments, blank lines and a repeat.
  const std::pair<std::string, int> texts[] = {
      {lines[0] + "\n" + lines[1] + "\n" + lines[2] + "\n", 3},
      {"# saved\n" + lines[2] + "\n\n" + lines[0] + "\n  # x\n" + lines[1] + "\n" + lines[0], 4}};
  for (const auto& [text, n_flows] : texts) {
    EXPECT_EQ(restore(text)["bridges"][0]["n_flows"], n_flows) << text;
    EXPECT_EQ(journal(), position) << "nothing changed, nothing journaled:\n" << text;
  }
  // Near misses take the full way and change what differs (and only that).
  restore(lines[0] + "\n" + lines[1] + "\n");  // a rule fewer
  EXPECT_EQ(Succeed("dump-flows", {{"bridge", "br0"}}).size(), 2u);
  EXPECT_NE(journal(), position);
  restore(lines[0] + "\n" + lines[1] + "\n" + lines[2] + "\n");
  position = journal();
  // The same rule spelled another way: parsed, found equal, nothing changes.
  restore("in_port=1 actions=output:5\n" + lines[1] + "\n" + lines[2] + "\n");
  EXPECT_EQ(journal(), position);
  // Different actions on one rule: that rule is replaced.
  restore(lines[0] + "\n" + "table=0,priority=7,ip,actions=output:1\n" + lines[2] + "\n");
  EXPECT_NE(journal(), position);
  EXPECT_EQ(Succeed("save-flows")["bridges"][0]["flows"][1],
            "table=0,priority=7,ip,actions=output:1");
  // A continuation joins a comment and the next line, swallowing the flow:
  // the parser decides, and the text holds no flow at all.
  restore(lines[0] + "\n" + lines[1] + "\n" + lines[2] + "\n");
  json restored = restore("# a comment \\\n" + lines[0] + "\n" + lines[1] + "\n" + lines[2] + "\n");
  EXPECT_EQ(restored["bridges"][0]["n_flows"], 2);
  EXPECT_EQ(Succeed("dump-flows", {{"bridge", "br0"}}).size(), 2u);
}

TEST_F(VswitchdTest, RestoreIsAllowedDuringFlowRestoreWaitAndWaitReadyAnswersWhenCleared) {
  ASSERT_TRUE(Start(/*flow_restore_wait=*/true));
  AddBridgeWithPorts();
  Succeed("restore-flows",
          {{"bridges", {{{"name", "br0"}, {"text", "in_port=1,actions=output:5\n"}}}}});
  EXPECT_FALSE(vswitchd_->sw().tables_loaded());
  // wait-ready is parked until the flag clears; other requests still answer.
  auto client = ConnectUnix(dirs_.rundir + "/vswitchd.ctl");
  ASSERT_TRUE(client);
  std::string request = R"({"id":1,"method":"wait-ready"})" "\n" R"({"id":2,"method":"version"})" "\n";
  ASSERT_TRUE(WriteAll(client->get(), request.data(), request.size()));
  auto read_available = [&] {
    std::string got;
    for (int i = 0; i < 20; ++i) loop_.RunOnce(10);
    char buffer[4096];
    ssize_t n;
    while ((n = recv(client->get(), buffer, sizeof(buffer), MSG_DONTWAIT)) > 0) {
      got.append(buffer, static_cast<size_t>(n));
    }
    return got;
  };
  EXPECT_EQ(read_available(), "") << "no reply while the tables are not loaded";
  Succeed("set", {{"key", "flow-restore-wait"}, {"value", "false"}});
  std::string replies = read_available();
  EXPECT_NE(replies.find(R"("id":1,"result":null)"), std::string::npos) << replies;
  EXPECT_NE(replies.find(R"("id":2)"), std::string::npos) << "the next request follows";
}

TEST_F(VswitchdTest, WithoutFlowRestoreWaitTablesAreLoadedAtOnce) {
  ASSERT_TRUE(Start());
  EXPECT_TRUE(vswitchd_->sw().tables_loaded());
}

TEST_F(VswitchdTest, SettingsAndMisc) {
  ASSERT_TRUE(Start());
  EXPECT_EQ(Fail("get", {{"key", "nope"}}), "no setting 'nope'");
  Succeed("set", {{"key", "k"}, {"value", "v=w"}});
  EXPECT_EQ(Succeed("get", {{"key", "k"}}), "v=w");
  EXPECT_EQ(Succeed("version"), "hsw-vswitchd 0.1.0");
  EXPECT_NE(Fail("vlog/set", {{"level", "loud"}}).find("loud"), std::string::npos);
  Succeed("vlog/set", {{"level", "info"}});
  Succeed("log-reopen");
  AddBridgeWithPorts();
  Succeed("set-controller", {{"bridge", "br0"}, {"targets", {"ptcp:0:127.0.0.1"}}});
  EXPECT_NE(Fail("set-controller", {{"bridge", "br0"}, {"targets", {"bogus:1"}}}), "");
  auto config = ConfigStore::Open(dirs_.statedir + "/conf.json");
  EXPECT_EQ(config->config().bridges[0].controllers, std::vector<std::string>{"ptcp:0:127.0.0.1"});
  json show = Succeed("show");
  EXPECT_EQ(show["bridges"][0]["name"], "br0");
  EXPECT_EQ(show["bridges"][0]["ports"].size(), 2u);
  EXPECT_EQ(show["settings"]["k"], "v=w");
  EXPECT_TRUE(show["tables_loaded"].get<bool>());
  EXPECT_TRUE(show["counters"].is_array());
}

TEST_F(VswitchdTest, Trace) {
  ASSERT_TRUE(Start());
  AddBridgeWithPorts();
  Succeed("add-flow", {{"bridge", "br0"}, {"flow", "in_port=1,actions=output:5"}});
  json trace = Succeed("trace", {{"bridge", "br0"}, {"flow", "in_port=1,udp,nw_dst=10.0.0.2"}});
  ASSERT_TRUE(trace.is_string());
  EXPECT_FALSE(trace.get<std::string>().empty());
  EXPECT_NE(Fail("trace", {{"bridge", "br0"}, {"flow", "in_port=1,bogus=1"}}).find("trace br0"),
            std::string::npos);
}

TEST_F(VswitchdTest, CorruptConfigStopsStartAndIsKept) {
  std::string path = dirs_.statedir + "/conf.json";
  ASSERT_TRUE(WriteFileAtomic(path, "{\"schema_version\": 1, \"bridges\": [}"));
  auto started = Start();
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find("corrupt config file " + path), std::string::npos)
      << started.error().message;
  EXPECT_NE(started.error().message.find("line 1"), std::string::npos);
  EXPECT_EQ(ReadFile(path).value_or(""), "{\"schema_version\": 1, \"bridges\": [}");
  EXPECT_FALSE(fs::exists(dirs_.rundir + "/vswitchd.ctl"));
}

TEST_F(VswitchdTest, MissingDatapathIsAClearError) {
  VswitchdOptions options;
  options.datapath_socket = root_ + "/run/nothing-here.sock";
  auto created = Vswitchd::Create(loop_, dirs_, options);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().message,
            "cannot connect to hsw-datapath at " + root_ +
                "/run/nothing-here.sock: No such file or directory (is hsw-datapath running?)");
}

}  // namespace
}  // namespace hsw::vswitchd
