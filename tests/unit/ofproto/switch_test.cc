// Switch and Bridge over the in-memory FakeDpif: upcalls become megaflows,
// table changes revalidate exactly the affected flows, stats flow back, idle
// flows go, adopted flows wait for the tables.
#include <thread>

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

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Recorder : BridgeListener {
  std::vector<ofp::PacketIn> packet_ins;
  std::vector<ofp::FlowRemoved> removed;
  std::vector<ofp::PortStatus> port_status;
  void OnPacketIn(const ofp::PacketIn& p) override { packet_ins.push_back(p); }
  void OnFlowRemoved(const ofp::FlowRemoved& r) override { removed.push_back(r); }
  void OnPortStatus(const ofp::PortStatus& s) override { port_status.push_back(s); }
};

dpif::Upcall Miss(const FlowKey& key, size_t size = 60) {
  dpif::Upcall up;
  up.type = dpif::UpcallType::kMiss;
  up.in_port = key.in_port;
  up.key = key;
  up.packet.assign(size, 0xab);
  return up;
}

FlowKey InPortEthTypeMask() {
  FlowKey m = FlowKey::Zero();
  m.in_port = 0xffffffff;
  m.eth_type = 0xffff;
  return m;
}

class SwitchTest : public ::testing::Test {
 protected:
  void SetUp() override { fake_holder_ = std::make_unique<dpif::FakeDpif>(); }

  // Creates the switch; anything put into fake() before is "already in the datapath".
  void Start(SwitchOptions options = {}) {
    options.stats_interval = std::chrono::hours(1);  // tests run the periodic work by hand
    if (max_idle_) options.max_idle = *max_idle_;
    fake_ = fake_holder_.get();
    auto sw = Switch::Create(loop_, std::move(fake_holder_), options);
    ASSERT_TRUE(sw) << sw.error().ToString();
    sw_ = std::move(*sw);
  }
  dpif::FakeDpif& fake() { return fake_ ? *fake_ : *fake_holder_; }
  SwitchImpl& impl() { return static_cast<SwitchImpl&>(*sw_); }

  // br0 with p1, p2, p3 as OpenFlow ports 1, 2, 3 (datapath ports 1, 2, 3).
  Bridge* MakeBridge() {
    EXPECT_TRUE(sw_->AddBridge("br0"));
    Bridge* br = sw_->FindBridge("br0");
    br->AddListener(&rec_);
    for (int i = 1; i <= 3; ++i) {
      auto port = sw_->AddPort("br0", "p" + std::to_string(i));
      EXPECT_TRUE(port) << port.error().ToString();
      EXPECT_EQ(*port, static_cast<uint32_t>(i));
    }
    return br;
  }
  void Spin() {
    for (int i = 0; i < 5; ++i) loop_.RunOnce(0);
  }
  // MakeBridge, a rule p1 -> p2 and, through a miss, its datapath flow.
  Bridge* StartWithOneFlow() {
    Start();
    Bridge* br = MakeBridge();
    EXPECT_TRUE(br->FlowMod(AddFlow(0, 100, MatchInPort(1), Output(2))));
    fake().InjectUpcall(Miss(TcpKey(1, 80)));
    Spin();
    EXPECT_EQ(impl().n_ukeys(), 1u);
    return br;
  }
  const dpif::DpFlow* FlowFor(const FlowKey& key) { return fake().Lookup(key); }
  uint64_t Counter(const std::string& name) const {
    for (const auto& [counter, value] : sw_->Counters()) {
      if (counter == name) return value;
    }
    ADD_FAILURE() << "no counter " << name;
    return 0;
  }
  // The datapath goes away (the next call fails, as on a closed socket).
  void LoseDatapath() {
    fake().SetFailure(Error{ECONNRESET, "datapath gone"});
    impl().RunPeriodicForTest();
    ASSERT_FALSE(sw_->datapath_connected());
  }
  // Reconnects to `next`, which fake() is from now on.
  Result<DatapathReconciliation> ReconnectTo(std::unique_ptr<dpif::FakeDpif> next) {
    fake_ = next.get();
    return sw_->Reconnect(std::move(next));
  }
  // A datapath that took everything over: ports p1..p3 as 1..3 and a copy of
  // fake()'s flows.
  std::unique_ptr<dpif::FakeDpif> Successor() {
    auto successor = std::make_unique<dpif::FakeDpif>();
    for (uint32_t i = 1; i <= 3; ++i) successor->AddPortForTest("p" + std::to_string(i), i);
    for (const dpif::DpFlow& flow : fake().flows()) {
      successor->AddFlowForTest(flow.key, flow.mask, flow.actions, flow.stats);
    }
    return successor;
  }
  static const dpif::FlowPutBatch* LastPut(const dpif::FakeDpif& f) {
    for (auto it = f.calls().rbegin(); it != f.calls().rend(); ++it) {
      if (auto* p = std::get_if<dpif::FlowPutBatch>(&*it)) return p;
    }
    return nullptr;
  }

  EventLoop loop_;
  std::unique_ptr<dpif::FakeDpif> fake_holder_;
  dpif::FakeDpif* fake_ = nullptr;
  std::unique_ptr<Switch> sw_;
  Recorder rec_;
  std::optional<std::chrono::milliseconds> max_idle_;
};

TEST_F(SwitchTest, MissInstallsOneMegaflowAndExecutesThePacket) {
  Start();
  Bridge* br = MakeBridge();
  ASSERT_EQ(rec_.port_status.size(), 3u);
  EXPECT_EQ(rec_.port_status[0].reason, ofp::kPortStatusAdd);
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 100, MatchInPort(1), Output(2))));
  sw_->Sync();
  fake().ClearCalls();

  fake().InjectUpcall(Miss(TcpKey(1, 80)));
  Spin();
  EXPECT_EQ(fake().pending_upcalls(), 0u);
  ASSERT_EQ(fake().CountCalls(MsgType::kFlowPut), 1u);
  ASSERT_EQ(fake().n_flows(), 1u);
  dpif::DpFlow flow = fake().flows()[0];
  EXPECT_EQ(flow.mask, InPortEthTypeMask());
  EXPECT_EQ(flow.actions, (DpActions{DpOutput{2}}));
  ASSERT_EQ(fake().executed().size(), 1u);
  EXPECT_EQ(fake().executed()[0].actions, (DpActions{DpOutput{2}}));
  EXPECT_EQ(fake().executed()[0].in_port, 1u);

  // A second packet of another TCP port from p1 would hit the same megaflow;
  // a miss for it anyway (a race) must not install a duplicate.
  fake().InjectUpcall(Miss(TcpKey(1, 443)));
  Spin();
  EXPECT_EQ(fake().CountCalls(MsgType::kFlowPut), 1u);
  EXPECT_EQ(fake().executed().size(), 2u);

  // A port in no bridge: one drop megaflow on in_port.
  fake().AddPortForTest("stray", 9);
  fake().InjectUpcall(Miss(TcpKey(9, 80)));
  Spin();
  const dpif::DpFlow* drop = FlowFor(TcpKey(9, 1));
  ASSERT_NE(drop, nullptr);
  EXPECT_TRUE(drop->actions.empty());
}

TEST_F(SwitchTest, RuleChangesRevalidateExactlyTheAffectedMegaflows) {
  Start();
  Bridge* br = MakeBridge();
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 100, MatchInPort(1), Output(2))));
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 100, MatchInPort(2), Output(1))));
  fake().InjectUpcall(Miss(TcpKey(1, 80)));
  fake().InjectUpcall(Miss(TcpKey(2, 80)));
  Spin();
  ASSERT_EQ(fake().n_flows(), 2u);

  // Modify the p1 rule: only p1's megaflow changes, in place.
  fake().ClearCalls();
  ASSERT_TRUE(br->FlowMod(MakeFlowMod(ofp::FlowModCommand::kModifyStrict, 0, 100, MatchInPort(1),
                                      Output(3))));
  sw_->Sync();
  ASSERT_EQ(fake().CountCalls(MsgType::kFlowPut), 1u);
  const dpif::FlowPutBatch* put = LastPut(fake());
  ASSERT_EQ(put->puts.size(), 1u);
  EXPECT_EQ(put->puts[0].flags, dpif::kPutModify);
  EXPECT_EQ(put->puts[0].key.in_port, 1u);
  EXPECT_EQ(FlowFor(TcpKey(1, 80))->actions, (DpActions{DpOutput{3}}));
  EXPECT_EQ(FlowFor(TcpKey(2, 80))->actions, (DpActions{DpOutput{1}}));
  EXPECT_EQ(fake().CountCalls(MsgType::kFlowDel), 0u);

  // A higher-priority rule on tcp_dst=80 from p1: p1's megaflow (which does
  // not match on tp_dst) can no longer stand for every packet: deleted.
  fake().ClearCalls();
  ofp::Match m = MatchInPort(1);
  WithTcpDst(m, 80);
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 200, m, Output(2))));
  sw_->Sync();
  EXPECT_EQ(fake().CountCalls(MsgType::kFlowDel), 1u);
  EXPECT_EQ(fake().CountCalls(MsgType::kFlowPut), 0u);
  EXPECT_EQ(fake().n_flows(), 1u);
  EXPECT_EQ(FlowFor(TcpKey(1, 80)), nullptr);
  EXPECT_NE(FlowFor(TcpKey(2, 80)), nullptr);

  // The next packet builds the new, narrower megaflow.
  fake().InjectUpcall(Miss(TcpKey(1, 80)));
  Spin();
  const dpif::DpFlow* f = FlowFor(TcpKey(1, 80));
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->mask.tp_dst, 0xffff);
  EXPECT_EQ(f->actions, (DpActions{DpOutput{2}}));

  // Nothing changed: Sync touches nothing.
  fake().ClearCalls();
  sw_->Sync();
  EXPECT_EQ(fake().calls().size(), 0u);

  // Without Sync, the event loop revalidates on its own, soon (passes are
  // spaced a few milliseconds apart so that flow-mod streams coalesce).
  ASSERT_TRUE(br->FlowMod(MakeFlowMod(ofp::FlowModCommand::kDelete, 0, 0, MatchInPort(2))));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!FlowFor(TcpKey(2, 80))->actions.empty() && std::chrono::steady_clock::now() < deadline) {
    loop_.RunOnce(5);
  }
  EXPECT_TRUE(FlowFor(TcpKey(2, 80))->actions.empty());
}

TEST_F(SwitchTest, DatapathStatsReachRuleCounters) {
  Start();
  Bridge* br = MakeBridge();
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 100, MatchInPort(1), Output(2))));
  fake().InjectUpcall(Miss(TcpKey(1, 80), 100));
  Spin();
  ASSERT_TRUE(fake().Hit(TcpKey(1, 80), 10, 1000, static_cast<uint64_t>(NowMs())));
  impl().RunPeriodicForTest();
  auto flows = br->DumpFlows(ofp::FlowStatsRequest{});
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].packet_count, 11u) << "the upcalled packet plus 10 datapath hits";
  EXPECT_EQ(flows[0].byte_count, 1100u);
  // Only the delta counts on the next pull.
  ASSERT_TRUE(fake().Hit(TcpKey(1, 80), 5, 500, static_cast<uint64_t>(NowMs())));
  impl().RunPeriodicForTest();
  EXPECT_EQ(br->Aggregate(ofp::FlowStatsRequest{}).packet_count, 16u);
  // Final stats of a deleted megaflow are credited too.
  ASSERT_TRUE(fake().Hit(TcpKey(1, 80), 4, 400, static_cast<uint64_t>(NowMs())));
  ofp::Match m = MatchInPort(1);
  WithTcpDst(m, 80);
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 200, m, Output(3))));  // the megaflow must now see tp_dst
  sw_->Sync();
  EXPECT_EQ(fake().n_flows(), 0u);
  auto rules = br->DumpFlows(ofp::FlowStatsRequest{});
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].priority, 200);
  EXPECT_EQ(rules[0].packet_count, 0u);
  EXPECT_EQ(rules[1].packet_count, 20u);
}

TEST_F(SwitchTest, IdleMegaflowsAreEvicted) {
  max_idle_ = std::chrono::milliseconds(30);
  Start();
  Bridge* br = MakeBridge();
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 100, MatchInPort(1), Output(2))));
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 100, MatchInPort(2), Output(1))));
  fake().InjectUpcall(Miss(TcpKey(1, 80)));
  fake().InjectUpcall(Miss(TcpKey(2, 80)));
  Spin();
  ASSERT_EQ(fake().n_flows(), 2u);
  impl().RunPeriodicForTest();
  EXPECT_EQ(fake().n_flows(), 2u) << "fresh flows stay";
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  ASSERT_TRUE(fake().Hit(TcpKey(2, 80), 1, 60, static_cast<uint64_t>(NowMs())));
  impl().RunPeriodicForTest();
  EXPECT_EQ(fake().n_flows(), 1u);
  EXPECT_EQ(FlowFor(TcpKey(1, 80)), nullptr);
  EXPECT_NE(FlowFor(TcpKey(2, 80)), nullptr);
  bool counted = false;
  for (auto& [name, value] : sw_->Counters()) {
    if (name == "flows_evicted_idle") counted = value == 1;
  }
  EXPECT_TRUE(counted);
}

TEST_F(SwitchTest, AdoptedFlowsAreUntouchedUntilTablesAreLoaded) {
  // A previous hsw-vswitchd left ports and flows in the datapath.
  max_idle_ = std::chrono::milliseconds(1);
  fake().AddPortForTest("p1", 1);
  fake().AddPortForTest("p2", 2);
  fake().AddPortForTest("p3", 3);
  FlowKey mask = InPortEthTypeMask();
  fake().AddFlowForTest(ApplyMask(TcpKey(1, 80), mask), mask, DpActions{DpOutput{2}});
  fake().AddFlowForTest(ApplyMask(TcpKey(2, 80), mask), mask, DpActions{DpOutput{1}});
  FlowKey mask3 = mask;
  mask3.tp_dst = 0xffff;
  mask3.nw_proto = 0xff;
  fake().AddFlowForTest(ApplyMask(TcpKey(3, 80), mask3), mask3, DpActions{DpOutput{1}});
  Start();
  sw_->SetTablesLoaded(false);
  Bridge* br = MakeBridge();
  EXPECT_EQ(fake().CountCalls(MsgType::kPortAdd), 0u) << "existing datapath ports are reused";

  // Restore the tables (only the p1 rule is still wanted, p3's is now wider).
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 100, MatchInPort(1), Output(2))));
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 100, MatchInPort(3), Output(2))));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  sw_->Sync();
  impl().RunPeriodicForTest();
  Spin();
  EXPECT_EQ(fake().CountCalls(MsgType::kFlowPut), 0u);
  EXPECT_EQ(fake().CountCalls(MsgType::kFlowDel), 0u);
  EXPECT_EQ(fake().n_flows(), 3u);

  // A miss while loading is held, not translated against half-loaded tables.
  fake().InjectUpcall(Miss(TcpKey(1, 9999)));
  Spin();
  EXPECT_EQ(fake().executed().size(), 0u);

  sw_->SetTablesLoaded(true);
  // p1's flow agrees with the tables: kept as is.  p2's now drops (no rule):
  // modified.  p3's is narrower than needed but still right: actions fixed.
  EXPECT_EQ(FlowFor(TcpKey(1, 80))->actions, (DpActions{DpOutput{2}}));
  EXPECT_TRUE(FlowFor(TcpKey(2, 80))->actions.empty());
  EXPECT_EQ(FlowFor(TcpKey(3, 80))->actions, (DpActions{DpOutput{2}}));
  EXPECT_EQ(fake().executed().size(), 1u) << "the held miss is handled once the tables are in";
}

TEST_F(SwitchTest, AdoptedFlowsWaitForAnExplicitTablesLoaded) {
  max_idle_ = std::chrono::milliseconds(1);
  fake().AddPortForTest("p1", 1);
  FlowKey mask = InPortEthTypeMask();
  fake().AddFlowForTest(ApplyMask(TcpKey(1, 80), mask), mask, DpActions{DpOutput{2}});
  Start();  // the daemon has not said anything about its tables yet
  ASSERT_TRUE(sw_->AddBridge("br0"));
  ASSERT_TRUE(sw_->AddPort("br0", "p1"));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  sw_->Sync();
  impl().RunPeriodicForTest();
  EXPECT_EQ(fake().n_flows(), 1u);
  EXPECT_EQ(fake().CountCalls(MsgType::kFlowDel), 0u);
  sw_->SetTablesLoaded(true);
  EXPECT_TRUE(FlowFor(TcpKey(1, 80))->actions.empty()) << "no rule: the flow now drops";
}

TEST_F(SwitchTest, ControllerOutputBecomesPacketIn) {
  Start();
  Bridge* br = MakeBridge();
  ofp::Instructions ins;
  ins.apply.push_back(ofp::ActOutput{ofp::kPortController, 32});
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 100, MatchInPort(1), ins, 0xfeed)));
  fake().InjectUpcall(Miss(TcpKey(1, 80), 100));
  Spin();
  ASSERT_EQ(fake().executed().size(), 1u);
  const auto& acts = fake().executed()[0].actions;
  ASSERT_EQ(acts.size(), 1u);
  // The datapath sends the executed packet back up as an action upcall.
  dpif::Upcall up = Miss(TcpKey(1, 80), 100);
  up.type = dpif::UpcallType::kAction;
  up.userdata = std::get<DpUserspace>(acts[0]).userdata;
  fake().InjectUpcall(up);
  Spin();
  ASSERT_EQ(rec_.packet_ins.size(), 1u);
  const ofp::PacketIn& pi = rec_.packet_ins[0];
  EXPECT_EQ(pi.cookie, 0xfeedu);
  EXPECT_EQ(pi.reason, ofp::kPacketInReasonAction);
  EXPECT_EQ(pi.match.key.in_port, 1u);
  EXPECT_EQ(pi.total_len, 100);
  EXPECT_EQ(pi.data.size(), 32u) << "truncated to max_len";
}

TEST_F(SwitchTest, PacketOutExecutes) {
  Start();
  Bridge* br = MakeBridge();
  ofp::PacketOut po;
  po.in_port = ofp::kPortController;
  po.actions = {ofp::ActOutput{3}};
  po.data.assign(60, 0);
  po.data[12] = 0x08;  // IPv4 ethertype, garbage after: extraction must cope
  ASSERT_TRUE(br->PacketOut(po));
  ASSERT_EQ(fake().executed().size(), 1u);
  EXPECT_EQ(fake().executed()[0].actions, (DpActions{DpOutput{3}}));
  po.in_port = 77;
  auto r = br->PacketOut(po);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, ofp::err::kBadRequest);
  EXPECT_EQ(r.error().code, ofp::err::kBadRequestBadPort);
  po.in_port = 1;
  po.buffer_id = 5;
  r = br->PacketOut(po);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ofp::err::kBadRequestBufferUnknown);
}

TEST_F(SwitchTest, PortErrorsNameBridgeAndInterface) {
  Start();
  MakeBridge();
  ASSERT_TRUE(sw_->AddBridge("br1"));
  auto r = sw_->AddPort("nope", "p9");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("nope"), std::string::npos);
  r = sw_->AddPort("br1", "p1");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("br0"), std::string::npos) << r.error().message;
  r = sw_->AddPort("br0", "p4", 2);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("p2"), std::string::npos) << r.error().message;
  fake().SetFailure(Error{ENODEV, "no such device"});
  r = sw_->AddPort("br1", "eth7");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("eth7"), std::string::npos);
  EXPECT_NE(r.error().message.find("br1"), std::string::npos);
  fake().SetFailure(std::nullopt);
  auto ok = sw_->AddPort("br1", "eth7", 40);
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(*ok, 40u);
  EXPECT_EQ(sw_->FindBridge("br1")->FindOfport("eth7"), 40u);
  EXPECT_FALSE(sw_->DeletePort("br1", "p1"));
}

TEST_F(SwitchTest, DeletePortRemovesItsFlowsAndReports) {
  Start();
  Bridge* br = MakeBridge();
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 100, ofp::Match{}, Output(ofp::kPortFlood))));
  fake().InjectUpcall(Miss(TcpKey(1, 80)));
  fake().InjectUpcall(Miss(TcpKey(2, 80)));
  Spin();
  EXPECT_EQ(FlowFor(TcpKey(1, 80))->actions, (DpActions{DpOutput{2}, DpOutput{3}}));
  ASSERT_TRUE(sw_->DeletePort("br0", "p3"));
  sw_->Sync();
  EXPECT_EQ(rec_.port_status.back().reason, ofp::kPortStatusDelete);
  EXPECT_EQ(rec_.port_status.back().desc.name, "p3");
  EXPECT_EQ(FlowFor(TcpKey(1, 80))->actions, (DpActions{DpOutput{2}}));
  EXPECT_EQ(FlowFor(TcpKey(2, 80))->actions, (DpActions{DpOutput{1}}));
  EXPECT_EQ(br->ListPorts().size(), 2u);
}

TEST_F(SwitchTest, RuleTimeoutsSendFlowRemoved) {
  Start();
  Bridge* br = MakeBridge();
  auto fm = AddFlow(0, 100, MatchInPort(1), Output(2), 0x77);
  fm.hard_timeout = 1;
  fm.flags = ofp::kFlowFlagSendFlowRem;
  ASSERT_TRUE(br->FlowMod(fm));
  fake().InjectUpcall(Miss(TcpKey(1, 80)));
  Spin();
  std::this_thread::sleep_for(std::chrono::milliseconds(1050));
  impl().RunPeriodicForTest();
  Spin();
  EXPECT_EQ(br->n_rules(), 0u);
  ASSERT_EQ(rec_.removed.size(), 1u);
  EXPECT_EQ(rec_.removed[0].reason, ofp::kFlowRemovedHardTimeout);
  EXPECT_EQ(rec_.removed[0].cookie, 0x77u);
  EXPECT_EQ(rec_.removed[0].packet_count, 1u);
  EXPECT_TRUE(FlowFor(TcpKey(1, 80))->actions.empty()) << "revalidated after the expiry";
}

TEST_F(SwitchTest, TraceShowsRulesActionsAndMegaflow) {
  Start();
  Bridge* br = MakeBridge();
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 100, MatchInPort(1), Output(2))));
  std::string t = br->Trace(TcpKey(1, 80));
  EXPECT_NE(t.find("table 0: priority 100"), std::string::npos) << t;
  EXPECT_NE(t.find("Datapath actions: "), std::string::npos) << t;
  EXPECT_NE(t.find("Megaflow: "), std::string::npos) << t;
  EXPECT_EQ(fake().n_flows(), 0u);
  EXPECT_EQ(br->GetTableStats()[0].lookup_count, 0u) << "trace does not count";
}

TEST_F(SwitchTest, NormalLearnsAddressesAndRevalidatesFloodedFlows) {
  Start();
  Bridge* br = MakeBridge();
  ofp::Instructions normal;
  normal.apply.push_back(ofp::ActOutput{ofp::kPortNormal});
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 0, ofp::Match{}, normal)));
  FlowKey a_to_b = TcpKey(1, 80);  // eth_src ..:01, eth_dst ..:02
  FlowKey b_to_a = TcpKey(2, 80);
  std::swap(b_to_a.eth_src, b_to_a.eth_dst);
  fake().InjectUpcall(Miss(a_to_b));
  Spin();
  EXPECT_EQ(FlowFor(a_to_b)->actions, (DpActions{DpOutput{2}, DpOutput{3}})) << "B unknown: flood";
  EXPECT_EQ(FlowFor(a_to_b)->mask.eth_src[5], 0xff) << "new sources must come up to be learned";
  fake().InjectUpcall(Miss(b_to_a));
  Spin();
  EXPECT_EQ(FlowFor(b_to_a)->actions, (DpActions{DpOutput{1}})) << "A was learned on port 1";
  sw_->Sync();
  EXPECT_EQ(FlowFor(a_to_b)->actions, (DpActions{DpOutput{2}})) << "B learned: no more flooding";
  // Broadcast floods.
  FlowKey bcast = TcpKey(3, 80);
  std::memset(bcast.eth_dst, 0xff, 6);
  bcast.eth_src[5] = 3;
  fake().InjectUpcall(Miss(bcast));
  Spin();
  EXPECT_EQ(FlowFor(bcast)->actions, (DpActions{DpOutput{1}, DpOutput{2}}));
}

TEST_F(SwitchTest, FlowsGoneFromTheDatapathAreReinstalledOnTheNextMiss) {
  StartWithOneFlow();
  ASSERT_TRUE(fake().FlowFlush());  // an operator's dp flush
  impl().RunPeriodicForTest();
  EXPECT_EQ(impl().n_ukeys(), 0u);
  fake().InjectUpcall(Miss(TcpKey(1, 80)));
  Spin();
  EXPECT_EQ(fake().n_flows(), 1u);
  EXPECT_EQ(impl().n_ukeys(), 1u);
}

TEST_F(SwitchTest, LostDatapathIsReported) {
  Start();
  MakeBridge();
  fake().SetFailure(Error{ECONNRESET, "gone"});
  fake().InjectUpcall(Miss(TcpKey(1, 80)));
  Spin();
  EXPECT_FALSE(sw_->datapath_connected());
}

// A graceful exit: the upcalls already sent to us are handled without the
// event loop turning, and the datapath keeps the later ones for our successor.
TEST_F(SwitchTest, DrainUpcallsForExitHandlesWhatArrivedAndPausesTheRest) {
  Start();
  Bridge* br = MakeBridge();
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 100, MatchInPort(1), Output(2))));
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 100, MatchInPort(2), Output(1))));
  sw_->Sync();
  fake().InjectUpcall(Miss(TcpKey(1, 80)));
  fake().InjectUpcall(Miss(TcpKey(2, 80)));
  // No Spin(): the loop has stopped, as in VswitchdMain after a SIGTERM.
  sw_->DrainUpcallsForExit();
  EXPECT_EQ(fake().CountCalls(MsgType::kUpcallPause), 1u);
  EXPECT_TRUE(fake().upcalls_paused());
  EXPECT_EQ(fake().pending_upcalls(), 0u);
  ASSERT_EQ(fake().executed().size(), 2u);
  EXPECT_EQ(fake().executed()[0].actions, (DpActions{DpOutput{2}}));
  EXPECT_EQ(fake().executed()[1].actions, (DpActions{DpOutput{1}}));
  EXPECT_NE(FlowFor(TcpKey(1, 80)), nullptr);
  EXPECT_NE(FlowFor(TcpKey(2, 80)), nullptr);
  // After the pause the datapath keeps misses for the next owner.
  fake().InjectUpcall(Miss(TcpKey(3, 80)));
  EXPECT_EQ(fake().held_upcalls(), 1u);
  EXPECT_EQ(fake().pending_upcalls(), 0u);
  EXPECT_TRUE(sw_->datapath_connected());
}

TEST_F(SwitchTest, DrainUpcallsForExitWithAVersion1DatapathHandlesWhatArrived) {
  fake().mutable_hello().version = 1;
  Start();
  Bridge* br = MakeBridge();
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 100, MatchInPort(1), Output(2))));
  sw_->Sync();
  fake().InjectUpcall(Miss(TcpKey(1, 80)));
  sw_->DrainUpcallsForExit();
  EXPECT_EQ(fake().CountCalls(MsgType::kUpcallPause), 0u);
  EXPECT_EQ(fake().executed().size(), 1u);
  EXPECT_TRUE(sw_->datapath_connected());
}

TEST_F(SwitchTest, DrainUpcallsForExitDuringFlowRestoreWaitTranslatesNothing) {
  Start();
  sw_->SetTablesLoaded(false);
  MakeBridge();
  fake().InjectUpcall(Miss(TcpKey(1, 80)));
  sw_->DrainUpcallsForExit();
  EXPECT_EQ(fake().CountCalls(MsgType::kUpcallPause), 1u);
  EXPECT_EQ(fake().CountCalls(MsgType::kFlowPut), 0u);
  EXPECT_EQ(fake().executed().size(), 0u);
}

// --- a new datapath: reconnection, or a successor behind the connection ---

// The datapath crashed and was started again: no ports, no flows.  The
// switch re-adds its ports with the numbers they had, forgets its ukeys, and
// a flow-mod made while the datapath was gone decides the next miss.
TEST_F(SwitchTest, ReconnectToARestartedDatapathReaddsPortsAndForgetsFlows) {
  Bridge* br = StartWithOneFlow();
  LoseDatapath();
  // OpenFlow goes on while the datapath is away: the tables change.
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 100, MatchInPort(1), Output(3))));
  sw_->Sync();
  rec_.port_status.clear();

  auto report = ReconnectTo(std::make_unique<dpif::FakeDpif>());
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_TRUE(sw_->datapath_connected());
  EXPECT_EQ(report->n_ports, 3u);
  EXPECT_EQ(report->n_ports_readded, 3u);
  EXPECT_EQ(report->n_ports_failed, 0u);
  EXPECT_EQ(report->n_flows, 0u);
  EXPECT_EQ(report->n_flows_adopted, 0u);
  EXPECT_EQ(report->n_flows_forgotten, 1u);
  EXPECT_EQ(impl().n_ukeys(), 0u);
  ASSERT_EQ(fake().ports().size(), 3u);
  for (uint32_t i = 1; i <= 3; ++i) EXPECT_EQ(fake().ports().at(i).name, "p" + std::to_string(i));
  // The OpenFlow ports did not change: controllers hear nothing.
  EXPECT_TRUE(rec_.port_status.empty());

  // Upcalls are handled again, with the table as it is now.
  fake().InjectUpcall(Miss(TcpKey(1, 80)));
  Spin();
  const dpif::DpFlow* flow = FlowFor(TcpKey(1, 80));
  ASSERT_NE(flow, nullptr);
  EXPECT_EQ(flow->actions, (DpActions{DpOutput{3}}));
  EXPECT_EQ(Counter("datapath_losses"), 1u);
  EXPECT_EQ(Counter("datapath_reconnects"), 1u);
  EXPECT_EQ(Counter("ports_readded"), 3u);
  EXPECT_EQ(Counter("flows_forgotten"), 1u);
}

// The old datapath was killed in the middle of a hot handover: the successor
// has the ports and the flows it was given, on a new connection.
TEST_F(SwitchTest, ReconnectToASuccessorAdoptsItsFlowsAndRevalidatesEverything) {
  Bridge* br = StartWithOneFlow();
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 100, MatchInPort(2), Output(1))));
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 100, MatchInPort(3), Output(2))));
  fake().InjectUpcall(Miss(TcpKey(2, 80)));
  Spin();
  ASSERT_EQ(impl().n_ukeys(), 2u);
  LoseDatapath();
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 100, MatchInPort(1), Output(3))));
  sw_->Sync();

  auto successor = Successor();
  // It lacks p2's flow (never copied, or evicted) and has one for p3 that
  // this switch never installed, with actions the tables do not give.
  const dpif::DpFlow* p2_flow = successor->Lookup(TcpKey(2, 80));
  ASSERT_NE(p2_flow, nullptr);
  ASSERT_TRUE(successor->FlowDel({dpif::FlowId{p2_flow->key, p2_flow->mask}}));
  successor->AddFlowForTest(TcpKey(3, 80), InPortEthTypeMask(), DpActions{DpOutput{1}});
  successor->ClearCalls();

  auto report = ReconnectTo(std::move(successor));
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_EQ(report->n_ports, 3u);
  EXPECT_EQ(report->n_ports_readded, 0u);
  EXPECT_EQ(fake().CountCalls(MsgType::kPortAdd), 0u);
  EXPECT_EQ(report->n_flows, 2u);
  EXPECT_EQ(report->n_flows_adopted, 1u);
  EXPECT_EQ(report->n_flows_forgotten, 1u);
  EXPECT_EQ(impl().n_ukeys(), 2u);
  // The flow-mod made while disconnected reached the flow it affects, and
  // the adopted flow was put right.
  ASSERT_NE(FlowFor(TcpKey(1, 80)), nullptr);
  EXPECT_EQ(FlowFor(TcpKey(1, 80))->actions, (DpActions{DpOutput{3}}));
  ASSERT_NE(FlowFor(TcpKey(3, 80)), nullptr);
  EXPECT_EQ(FlowFor(TcpKey(3, 80))->actions, (DpActions{DpOutput{2}}));
  EXPECT_EQ(FlowFor(TcpKey(2, 80)), nullptr);
}

TEST_F(SwitchTest, ReconnectRemovesPortsDeletedMeanwhileAndDropsPortsThatCannotBeAdded) {
  Start();
  Bridge* br = MakeBridge();
  LoseDatapath();
  ASSERT_TRUE(sw_->DeletePort("br0", "p3"));
  rec_.port_status.clear();
  // The successor still has p3; p2's interface is gone from the system.
  auto successor = std::make_unique<dpif::FakeDpif>();
  successor->AddPortForTest("p1", 1);
  successor->AddPortForTest("p3", 3);
  successor->set_missing_interface("p2");

  auto report = ReconnectTo(std::move(successor));
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_EQ(report->n_ports, 1u);
  EXPECT_EQ(report->n_ports_readded, 0u);
  EXPECT_EQ(report->n_ports_failed, 1u);
  ASSERT_EQ(fake().ports().size(), 1u);
  EXPECT_EQ(fake().ports().begin()->second.name, "p1");
  ASSERT_EQ(br->ListPorts().size(), 1u);
  EXPECT_EQ(br->ListPorts()[0].name, "p1");
  ASSERT_EQ(rec_.port_status.size(), 1u);
  EXPECT_EQ(rec_.port_status[0].reason, ofp::kPortStatusDelete);
  EXPECT_EQ(rec_.port_status[0].desc.port_no, 2u);
}

TEST_F(SwitchTest, AFailedReconnectLeavesTheSwitchDisconnectedForTheNextTry) {
  Start();
  MakeBridge();
  LoseDatapath();
  auto failing = std::make_unique<dpif::FakeDpif>();
  failing->SetFailure(Error{ECONNRESET, "gone again"});
  EXPECT_FALSE(ReconnectTo(std::move(failing)));
  EXPECT_FALSE(sw_->datapath_connected());

  auto report = ReconnectTo(std::make_unique<dpif::FakeDpif>());
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_EQ(report->n_ports_readded, 3u);
  EXPECT_TRUE(sw_->datapath_connected());
  EXPECT_EQ(Counter("datapath_losses"), 2u);
  EXPECT_EQ(Counter("datapath_reconnects"), 1u);
  // Only a lost connection is replaced.
  EXPECT_FALSE(sw_->Reconnect(std::make_unique<dpif::FakeDpif>()));
  EXPECT_TRUE(sw_->datapath_connected());
}

// A hot handover gives the successor our connection itself: the stats pull
// notices the new instance and reconciles with what the successor holds.
TEST_F(SwitchTest, ANewDatapathBehindTheConnectionIsNoticedAndReconciled) {
  SwitchOptions options;
  int n_identified = 0;
  options.identify_datapath = [&n_identified]() -> Result<dpif::HelloReply> {
    ++n_identified;
    dpif::HelloReply hello;
    hello.datapath_pid = 4242;
    hello.instance_id = 99;
    hello.datapath_version = "0.2.0";
    return hello;
  };
  Start(options);
  Bridge* br = MakeBridge();
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 100, MatchInPort(1), Output(2))));
  ASSERT_TRUE(br->FlowMod(AddFlow(0, 100, MatchInPort(2), Output(1))));
  fake().InjectUpcall(Miss(TcpKey(1, 80)));
  Spin();
  impl().RunPeriodicForTest();
  EXPECT_EQ(Counter("datapath_changes"), 0u);
  EXPECT_EQ(n_identified, 0);
  uint32_t old_pid = sw_->datapath_hello().datapath_pid;

  fake().SetCounter("datapath_pid", 4242);
  fake().SetCounter("datapath_instance_id", 99);
  fake().AddFlowForTest(TcpKey(2, 80), InPortEthTypeMask(), DpActions{DpOutput{3}});
  impl().RunPeriodicForTest();
  EXPECT_EQ(Counter("datapath_changes"), 1u);
  EXPECT_EQ(n_identified, 1);
  EXPECT_NE(old_pid, 4242u);
  EXPECT_EQ(sw_->datapath_hello().datapath_pid, 4242u);
  EXPECT_EQ(sw_->datapath_hello().instance_id, 99u);
  EXPECT_EQ(sw_->datapath_hello().datapath_version, "0.2.0");
  EXPECT_TRUE(sw_->datapath_connected());
  EXPECT_EQ(impl().n_ukeys(), 2u);
  ASSERT_NE(FlowFor(TcpKey(2, 80)), nullptr);
  EXPECT_EQ(FlowFor(TcpKey(2, 80))->actions, (DpActions{DpOutput{1}}));

  impl().RunPeriodicForTest();
  EXPECT_EQ(Counter("datapath_changes"), 1u);
}

}  // namespace
}  // namespace hsw::ofproto
