// Port types over the FakeDpif: the bridge's own internal port as OpenFlow
// LOCAL, patch ports (translation crosses into the peer's bridge; link state,
// stats, revalidation on either side, the depth limit), AddPort(PortSpec)'s
// errors, GetPortState, and re-adding ports of each type after a reconnect.
#include <gtest/gtest.h>

#include "dpif/fake_dpif.h"
#include "ofproto/ofproto.h"
#include "ofproto/switch_impl.h"
#include "ofproto/xlate.h"
#include "ofproto_test_util.h"

namespace hsw::ofproto {
namespace {

using namespace testing;  // NOLINT
using dpif::MsgType;

dpif::Upcall Miss(const FlowKey& key, size_t size = 60) {
  dpif::Upcall up;
  up.type = dpif::UpcallType::kMiss;
  up.in_port = key.in_port;
  up.key = key;
  up.packet.assign(size, 0xab);
  return up;
}

ofp::Instructions OutputInPort() { return Output(ofp::kPortInPort); }

class PortTypesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_holder_ = std::make_unique<dpif::FakeDpif>();
    fake_ = fake_holder_.get();
  }
  void Start() {
    SwitchOptions options;
    options.stats_interval = std::chrono::hours(1);  // periodic work by hand
    auto sw = Switch::Create(loop_, std::move(fake_holder_), options);
    ASSERT_TRUE(sw) << sw.error().ToString();
    sw_ = std::move(*sw);
  }
  SwitchImpl& impl() { return static_cast<SwitchImpl&>(*sw_); }
  void Spin() {
    for (int i = 0; i < 5; ++i) loop_.RunOnce(0);
  }
  uint32_t Add(const std::string& bridge, PortSpec spec) {
    auto added = sw_->AddPort(bridge, spec);
    EXPECT_TRUE(added) << added.error().ToString();
    return added ? *added : 0;
  }
  uint32_t DpPort(const std::string& bridge, const std::string& iface) {
    for (const PortView& v : sw_->FindBridge(bridge)->ListPorts()) {
      if (v.name == iface) return v.dp_port;
    }
    ADD_FAILURE() << "no port " << iface;
    return 0;
  }
  // br0: p1 (1), patch0 (2) -> patch1; br1: p2 (1), patch1 (2) -> patch0, p3 (3).
  void MakePatchedBridges() {
    ASSERT_TRUE(sw_->AddBridge("br0"));
    ASSERT_TRUE(sw_->AddBridge("br1"));
    EXPECT_EQ(Add("br0", {"p1", "system", 1, ""}), 1u);
    EXPECT_EQ(Add("br0", {"patch0", "patch", 2, "patch1"}), 2u);
    EXPECT_EQ(Add("br1", {"p2", "", 1, ""}), 1u);
    EXPECT_EQ(Add("br1", {"patch1", "patch", 2, "patch0"}), 2u);
    EXPECT_EQ(Add("br1", {"p3", "system", 3, ""}), 3u);
  }
  uint64_t Counter(const std::string& name) const {
    for (const auto& [counter, value] : sw_->Counters()) {
      if (counter == name) return value;
    }
    return ~0ull;
  }

  EventLoop loop_;
  std::unique_ptr<dpif::FakeDpif> fake_holder_;
  dpif::FakeDpif* fake_ = nullptr;
  std::unique_ptr<Switch> sw_;
};

TEST_F(PortTypesTest, TheBridgesInternalPortIsLocal) {
  Start();
  ASSERT_TRUE(sw_->AddBridge("br0"));
  EXPECT_EQ(Add("br0", {"br0", "internal", 0, ""}), ofp::kPortLocal);
  EXPECT_EQ(Add("br0", {"p1", "", 0, ""}), 1u) << "LOCAL does not take a low number";
  // The datapath was asked for an internal port (a tap), the other as af_packet.
  std::vector<std::string> types;
  for (const auto& call : fake_->calls()) {
    if (auto* add = std::get_if<dpif::PortAdd>(&call)) types.push_back(add->type);
  }
  EXPECT_EQ(types, (std::vector<std::string>{"internal", "af_packet"}));
  uint32_t dp_local = DpPort("br0", "br0"), dp_p1 = DpPort("br0", "p1");
  Bridge* br = sw_->FindBridge("br0");
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 10, MatchInPort(ofp::kPortLocal), Output(1))));
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 10, MatchInPort(1), Output(ofp::kPortLocal))));
  FlowKey from_host = TcpKey(dp_local, 80);
  FlowKey to_host = TcpKey(dp_p1, 80);
  fake_->InjectUpcall(Miss(from_host));
  fake_->InjectUpcall(Miss(to_host));
  Spin();
  ASSERT_NE(fake_->Lookup(from_host), nullptr);
  EXPECT_EQ(fake_->Lookup(from_host)->actions, (DpActions{DpOutput{dp_p1}}));
  ASSERT_NE(fake_->Lookup(to_host), nullptr);
  EXPECT_EQ(fake_->Lookup(to_host)->actions, (DpActions{DpOutput{dp_local}}));
  // Port descriptions list it as LOCAL.
  bool listed = false;
  for (const ofp::PortDesc& d : br->GetPortDescs()) {
    if (d.port_no == ofp::kPortLocal) {
      listed = true;
      EXPECT_EQ(d.name, "br0");
      EXPECT_EQ(d.state, ofp::kPortStateLinkDown) << "a new internal port is down";
    }
  }
  EXPECT_TRUE(listed);
  // Packet-out from LOCAL enters the datapath on the tap's port.
  ofp::PacketOut po;
  po.in_port = ofp::kPortLocal;
  po.data.assign(60, 0);
  po.actions.push_back(ofp::ActOutput{1});
  fake_->ClearExecuted();
  ASSERT_TRUE(br->PacketOut(po));
  ASSERT_EQ(fake_->executed().size(), 1u);
  EXPECT_EQ(fake_->executed()[0].in_port, dp_local);
  EXPECT_EQ(fake_->executed()[0].actions, (DpActions{DpOutput{dp_p1}}));
  // Its state, for the database.
  auto state = sw_->GetPortState("br0", "br0");
  ASSERT_TRUE(state);
  EXPECT_EQ(state->type, "internal");
  EXPECT_EQ(state->ofport, ofp::kPortLocal);
  EXPECT_EQ(state->mtu, 1500u);
  EXPECT_EQ(state->ifindex, 1000 + dp_local);
  EXPECT_FALSE(state->link_up);
  EXPECT_EQ(state->mac[0], 0x02);
  EXPECT_FALSE(sw_->GetPortState("br0", "nope"));
  EXPECT_FALSE(sw_->GetPortState("nobr", "br0"));
}

TEST_F(PortTypesTest, PortStateFollowsTheDatapathsStats) {
  Start();
  ASSERT_TRUE(sw_->AddBridge("br0"));
  Add("br0", {"p1", "system", 0, ""});
  uint32_t dp = DpPort("br0", "p1");
  dpif::PortStats stats;
  stats.rx_packets = 42;
  stats.tx_bytes = 4200;
  fake_->SetPortForTest(dp, stats, /*link_up=*/false);
  EXPECT_TRUE(sw_->GetPortState("br0", "p1")->link_up) << "as of the last pull";
  impl().RunPeriodicForTest();
  auto state = sw_->GetPortState("br0", "p1");
  ASSERT_TRUE(state);
  EXPECT_EQ(state->type, "system");
  EXPECT_EQ(state->ofport, 1u);
  EXPECT_FALSE(state->link_up);
  EXPECT_EQ(state->stats.rx_packets, 42u);
  EXPECT_EQ(state->stats.tx_bytes, 4200u);
}

TEST_F(PortTypesTest, AddPortErrorsNameTheBridgeTheInterfaceAndTheReasonAndAddNothing) {
  Start();
  ASSERT_TRUE(sw_->AddBridge("br0"));
  fake_->AddPortForTest("veth9", 9);  // af_packet, left by an earlier hsw-vswitchd
  fake_->ClearCalls();
  struct Case {
    PortSpec spec;
    std::vector<std::string> words;
  } cases[] = {
      {{"x", "vxlan", 0, ""}, {"br0", "x", "vxlan"}},
      {{"pa", "patch", 0, ""}, {"br0", "pa", "peer"}},
      {{"pa", "patch", 0, "pa"}, {"br0", "pa", "own peer"}},
      {{"p1", "system", 0, "q"}, {"br0", "p1", "patch ports only"}},
      {{"br0", "internal", 5, ""}, {"br0", "LOCAL", "5"}},
      {{"p1", "system", 65534, ""}, {"br0", "p1", "LOCAL"}},
      {{"p1", "internal", ofp::kPortLocal, ""}, {"br0", "p1", "LOCAL"}},
      {{"veth9", "internal", 0, ""}, {"br0", "veth9", "af_packet"}},
  };
  for (const Case& c : cases) {
    auto added = sw_->AddPort("br0", c.spec);
    ASSERT_FALSE(added) << c.spec.name << " " << c.spec.type;
    for (const std::string& word : c.words) {
      EXPECT_NE(added.error().message.find(word), std::string::npos)
          << "'" << word << "' not in: " << added.error().message;
    }
  }
  auto no_bridge = sw_->AddPort("nobr", PortSpec{"p1", "internal", 0, ""});
  ASSERT_FALSE(no_bridge);
  EXPECT_NE(no_bridge.error().message.find("nobr"), std::string::npos);
  EXPECT_TRUE(sw_->FindBridge("br0")->ListPorts().empty());
  EXPECT_EQ(fake_->CountCalls(MsgType::kPortAdd), 0u);
  EXPECT_EQ(fake_->ports().size(), 1u);
}

TEST_F(PortTypesTest, AnInternalPortTheDatapathStillHasIsReused) {
  fake_->AddPortForTest("br0", 7, "internal");  // the datapath outlived hsw-vswitchd
  Start();
  ASSERT_TRUE(sw_->AddBridge("br0"));
  EXPECT_EQ(Add("br0", {"br0", "internal", 65534, ""}), ofp::kPortLocal);
  EXPECT_EQ(fake_->CountCalls(MsgType::kPortAdd), 0u) << "re-creating it would flap the tap";
  EXPECT_EQ(DpPort("br0", "br0"), 7u);
}

TEST_F(PortTypesTest, OutputToAPatchPortContinuesInThePeersBridge) {
  Start();
  MakePatchedBridges();
  EXPECT_EQ(fake_->ports().size(), 3u) << "patch ports have no datapath port";
  Bridge* br0 = sw_->FindBridge("br0");
  Bridge* br1 = sw_->FindBridge("br1");
  ASSERT_TRUE(br0->FlowMod(AddFlow(0, 10, MatchInPort(1), Output(2))));
  ASSERT_TRUE(br1->FlowMod(AddFlow(0, 10, MatchInPort(2), Output(1))));
  uint32_t dp_p1 = DpPort("br0", "p1"), dp_p2 = DpPort("br1", "p2"), dp_p3 = DpPort("br1", "p3");
  FlowKey key = TcpKey(dp_p1, 80);
  fake_->InjectUpcall(Miss(key, 100));
  Spin();
  ASSERT_NE(fake_->Lookup(key), nullptr);
  EXPECT_EQ(fake_->Lookup(key)->actions, (DpActions{DpOutput{dp_p2}}));

  // Both ends count what crossed: the upcall's packet, then the flow's.
  ASSERT_TRUE(fake_->Hit(key, 10, 1000, 1));
  impl().RunPeriodicForTest();
  auto p0 = sw_->GetPortState("br0", "patch0");
  auto p1 = sw_->GetPortState("br1", "patch1");
  ASSERT_TRUE(p0 && p1);
  EXPECT_EQ(p0->type, "patch");
  EXPECT_TRUE(p0->link_up);
  EXPECT_TRUE(p0->admin_up);
  EXPECT_EQ(p0->stats.tx_packets, 11u);
  EXPECT_EQ(p0->stats.tx_bytes, 1100u);
  EXPECT_EQ(p1->stats.rx_packets, 11u);
  auto of_stats = br0->GetPortStats(2);
  ASSERT_EQ(of_stats.size(), 1u);
  EXPECT_EQ(of_stats[0].tx_packets, 11u);

  // The megaflow depends on the peer's tables: a change there revalidates it.
  ASSERT_TRUE(br1->FlowMod(AddFlow(0, 20, MatchInPort(2), Output(3))));
  sw_->Sync();
  EXPECT_EQ(fake_->Lookup(key)->actions, (DpActions{DpOutput{dp_p3}}));

  // The peer goes: the link is down, and output to the patch port drops.
  ASSERT_TRUE(sw_->DeletePort("br1", "patch1"));
  sw_->Sync();
  EXPECT_FALSE(sw_->GetPortState("br0", "patch0")->link_up);
  const dpif::DpFlow* flow = fake_->Lookup(key);
  EXPECT_TRUE(flow == nullptr || flow->actions.empty());
  for (const ofp::PortDesc& d : br0->GetPortDescs()) {
    if (d.port_no == 2) EXPECT_EQ(d.state, ofp::kPortStateLinkDown);
  }
  // It comes back: up again, and traffic crosses again.
  Add("br1", {"patch1", "patch", 2, "patch0"});
  sw_->Sync();
  EXPECT_TRUE(sw_->GetPortState("br0", "patch0")->link_up);
  fake_->InjectUpcall(Miss(TcpKey(dp_p1, 81)));
  Spin();
  ASSERT_NE(fake_->Lookup(TcpKey(dp_p1, 81)), nullptr);
  EXPECT_EQ(fake_->Lookup(TcpKey(dp_p1, 81))->actions, (DpActions{DpOutput{dp_p3}}));
}

TEST_F(PortTypesTest, APatchPortWhosePeerDoesNotPointBackIsDown) {
  Start();
  ASSERT_TRUE(sw_->AddBridge("br0"));
  ASSERT_TRUE(sw_->AddBridge("br1"));
  Add("br0", {"p1", "system", 1, ""});
  Add("br0", {"patch0", "patch", 2, "patch1"});
  EXPECT_FALSE(sw_->GetPortState("br0", "patch0")->link_up) << "no peer at all";
  Add("br1", {"patch1", "patch", 1, "elsewhere"});
  EXPECT_FALSE(sw_->GetPortState("br0", "patch0")->link_up) << "a peer that names another";
  Add("br1", {"p2", "system", 2, ""});
  EXPECT_FALSE(sw_->GetPortState("br0", "p2"));
  ASSERT_TRUE(sw_->FindBridge("br0")->FlowMod(AddFlow(0, 10, MatchInPort(1), Output(2))));
  ASSERT_TRUE(sw_->FindBridge("br1")->FlowMod(AddFlow(0, 10, MatchInPort(1), Output(2))));
  FlowKey key = TcpKey(DpPort("br0", "p1"), 80);
  fake_->InjectUpcall(Miss(key));
  Spin();
  ASSERT_NE(fake_->Lookup(key), nullptr);
  EXPECT_TRUE(fake_->Lookup(key)->actions.empty()) << "output to a down patch port drops";
}

TEST_F(PortTypesTest, APatchLoopIsCutAtTheDepthLimit) {
  Start();
  MakePatchedBridges();
  // br0 p1 -> patch0; both bridges send whatever comes from the patch back.
  ASSERT_TRUE(sw_->FindBridge("br0")->FlowMod(AddFlow(0, 10, MatchInPort(1), Output(2))));
  ASSERT_TRUE(sw_->FindBridge("br0")->FlowMod(AddFlow(0, 10, MatchInPort(2), OutputInPort())));
  ASSERT_TRUE(sw_->FindBridge("br1")->FlowMod(AddFlow(0, 10, MatchInPort(2), OutputInPort())));
  FlowKey key = TcpKey(DpPort("br0", "p1"), 80);
  std::string trace = sw_->FindBridge("br0")->Trace(TcpKey(1, 80));
  EXPECT_NE(trace.find("patch crossings"), std::string::npos) << trace;
  fake_->InjectUpcall(Miss(key));
  Spin();
  ASSERT_NE(fake_->Lookup(key), nullptr);
  EXPECT_TRUE(fake_->Lookup(key)->actions.empty()) << "the loop's packet is dropped";
  EXPECT_TRUE(fake_->executed().empty());
}

TEST_F(PortTypesTest, FloodAndNormalCrossPatchPorts) {
  Start();
  MakePatchedBridges();
  ofp::Match any;
  ASSERT_TRUE(sw_->FindBridge("br0")->FlowMod(AddFlow(0, 0, any, Output(ofp::kPortNormal))));
  ASSERT_TRUE(sw_->FindBridge("br1")->FlowMod(AddFlow(0, 0, any, Output(ofp::kPortFlood))));
  FlowKey key = TcpKey(DpPort("br0", "p1"), 80);
  fake_->InjectUpcall(Miss(key));
  Spin();
  ASSERT_NE(fake_->Lookup(key), nullptr);
  DpActions want{DpOutput{DpPort("br1", "p2")}, DpOutput{DpPort("br1", "p3")}};
  EXPECT_EQ(fake_->Lookup(key)->actions, want);
}

TEST_F(PortTypesTest, ReconnectReaddsInternalPortsAsInternalAndKeepsPatchPorts) {
  Start();
  MakePatchedBridges();
  Add("br0", {"br0", "internal", 0, ""});
  fake_->SetFailure(Error{ECONNRESET, "gone"});
  impl().RunPeriodicForTest();
  ASSERT_FALSE(sw_->datapath_connected());
  auto next = std::make_unique<dpif::FakeDpif>();
  dpif::FakeDpif* fresh = next.get();
  auto report = sw_->Reconnect(std::move(next));
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_EQ(report->n_ports_readded, 4u) << "p1, p2, p3 and br0; not the patch ports";
  std::map<std::string, std::string> types;
  for (const auto& call : fresh->calls()) {
    if (auto* add = std::get_if<dpif::PortAdd>(&call)) types[add->name] = add->type;
  }
  EXPECT_EQ(types["br0"], "internal");
  EXPECT_EQ(types["p1"], "af_packet");
  EXPECT_EQ(types.count("patch0"), 0u);
  EXPECT_TRUE(sw_->GetPortState("br0", "patch0")->link_up);
  EXPECT_EQ(sw_->FindBridge("br0")->FindOfport("br0"), ofp::kPortLocal);
  EXPECT_EQ(Counter("ports_readded"), 4u);
}

}  // namespace
}  // namespace hsw::ofproto
