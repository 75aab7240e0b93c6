// OpenFlow 1.3 flow-mod semantics on FlowTables.
#include "ofproto/flow_table.h"

#include <gtest/gtest.h>

#include "ofproto_test_util.h"

namespace hsw::ofproto {
namespace {

using namespace testing;  // NOLINT
using ofp::FlowModCommand;

class FlowTableTest : public ::testing::Test {
 protected:
  OfResult Apply(const ofp::FlowMod& fm) { return tables_.Apply({fm}, now_, &removed_); }
  Rule* Find(uint8_t table, const FlowKey& key) { return tables_.Lookup(table, key, nullptr, false); }
  std::vector<ofp::FlowStats> DumpAll() { return tables_.Dump(ofp::FlowStatsRequest{}, now_); }

  FlowTables tables_;
  SteadyTime now_ = std::chrono::steady_clock::now();
  std::vector<RemovedRule> removed_;
};

TEST_F(FlowTableTest, AddReplacesIdenticalMatchAndPriorityKeepingCounters) {
  ASSERT_TRUE(Apply(AddFlow(0, 100, MatchInPort(1), Output(2), 0xa)));
  Rule* r = Find(0, TcpKey(1, 80));
  ASSERT_NE(r, nullptr);
  r->n_packets = 7;
  r->n_bytes = 700;
  uint64_t gen = tables_.generation();
  ASSERT_TRUE(Apply(AddFlow(0, 100, MatchInPort(1), Output(3), 0xb)));
  EXPECT_GT(tables_.generation(), gen);
  ASSERT_EQ(tables_.n_rules(), 1u);
  Rule* again = Find(0, TcpKey(1, 80));
  EXPECT_EQ(again->cookie, 0xbu);
  EXPECT_EQ(again->instructions, Output(3));
  EXPECT_EQ(again->n_packets, 7u) << "counters carry over without RESET_COUNTS";

  auto fm = AddFlow(0, 100, MatchInPort(1), Output(4));
  fm.flags = ofp::kFlowFlagResetCounts;
  ASSERT_TRUE(Apply(fm));
  EXPECT_EQ(Find(0, TcpKey(1, 80))->n_packets, 0u);

  // Different priority: a second rule.
  ASSERT_TRUE(Apply(AddFlow(0, 101, MatchInPort(1), Output(5))));
  EXPECT_EQ(tables_.n_rules(), 2u);
  EXPECT_EQ(Find(0, TcpKey(1, 80))->instructions, Output(5));
}

TEST_F(FlowTableTest, CheckOverlapFailsWithOverlapAndChangesNothing) {
  ASSERT_TRUE(Apply(AddFlow(0, 100, MatchInPort(1), Output(2))));
  ofp::Match tcp80;
  WithTcpDst(tcp80, 80);
  auto fm = AddFlow(0, 100, tcp80, Output(3));
  fm.flags = ofp::kFlowFlagCheckOverlap;
  uint64_t gen = tables_.generation();
  auto r = Apply(fm);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, ofp::err::kFlowModFailed);
  EXPECT_EQ(r.error().code, ofp::err::kFlowModOverlap);
  EXPECT_EQ(tables_.n_rules(), 1u);
  EXPECT_EQ(tables_.generation(), gen);
  // Without the flag it is accepted; at another priority there is no overlap.
  fm.priority = 99;
  EXPECT_TRUE(Apply(fm));
  EXPECT_EQ(tables_.n_rules(), 2u);
}

TEST_F(FlowTableTest, ModifyLooseAndStrictWithCookieFilter) {
  ofp::Match m1 = MatchInPort(1);
  ofp::Match m1tcp = MatchInPort(1);
  WithTcpDst(m1tcp, 80);
  ASSERT_TRUE(Apply(AddFlow(0, 100, m1, Output(2), 0x11)));
  ASSERT_TRUE(Apply(AddFlow(0, 200, m1tcp, Output(2), 0x22)));
  ASSERT_TRUE(Apply(AddFlow(0, 100, MatchInPort(2), Output(1), 0x11)));

  // Loose modify on in_port=1 hits both in_port=1 rules (the tcp one is more specific).
  auto mod = MakeFlowMod(FlowModCommand::kModify, 0, 0, MatchInPort(1), Output(9), 0x999);
  ASSERT_TRUE(Apply(mod));
  EXPECT_EQ(Find(0, TcpKey(1, 80))->instructions, Output(9));
  EXPECT_EQ(Find(0, TcpKey(1, 81))->instructions, Output(9));
  EXPECT_EQ(Find(0, TcpKey(2, 80))->instructions, Output(1));
  EXPECT_EQ(Find(0, TcpKey(1, 80))->cookie, 0x22u) << "OpenFlow 1.3 modify keeps the cookie";

  // Cookie filter: only cookie 0x11 rules.
  mod = MakeFlowMod(FlowModCommand::kModify, 0, 0, ofp::Match{}, Output(7), 0x11);
  mod.cookie_mask = ~0ull;
  ASSERT_TRUE(Apply(mod));
  EXPECT_EQ(Find(0, TcpKey(1, 80))->instructions, Output(9));
  EXPECT_EQ(Find(0, TcpKey(1, 81))->instructions, Output(7));
  EXPECT_EQ(Find(0, TcpKey(2, 80))->instructions, Output(7));

  // Strict: exact match and priority only.
  mod = MakeFlowMod(FlowModCommand::kModifyStrict, 0, 100, MatchInPort(1), Output(5));
  ASSERT_TRUE(Apply(mod));
  EXPECT_EQ(Find(0, TcpKey(1, 81))->instructions, Output(5));
  EXPECT_EQ(Find(0, TcpKey(1, 80))->instructions, Output(9));
  mod.priority = 101;  // no such rule: nothing happens, nothing is added
  uint64_t gen = tables_.generation();
  ASSERT_TRUE(Apply(mod));
  EXPECT_EQ(tables_.n_rules(), 3u);
  EXPECT_EQ(tables_.generation(), gen);
}

TEST_F(FlowTableTest, DeleteFiltersAndFlowRemoved) {
  ofp::Match m1tcp = MatchInPort(1);
  WithTcpDst(m1tcp, 80);
  auto a = AddFlow(0, 100, MatchInPort(1), Output(2), 0x1);
  a.flags = ofp::kFlowFlagSendFlowRem;
  ASSERT_TRUE(Apply(a));
  ASSERT_TRUE(Apply(AddFlow(0, 200, m1tcp, Output(3), 0x2)));
  ASSERT_TRUE(Apply(AddFlow(5, 100, MatchInPort(1), Output(2), 0x1)));
  ASSERT_EQ(tables_.n_rules(), 3u);

  // out_port filter: only rules that output to 3.
  auto del = MakeFlowMod(FlowModCommand::kDelete, 0, 0, ofp::Match{});
  del.out_port = 3;
  ASSERT_TRUE(Apply(del));
  EXPECT_EQ(tables_.n_rules(), 2u);
  EXPECT_TRUE(removed_.empty()) << "that rule did not ask for flow-removed";

  // Strict delete with the wrong priority does nothing.
  del = MakeFlowMod(FlowModCommand::kDeleteStrict, 0, 99, MatchInPort(1));
  ASSERT_TRUE(Apply(del));
  EXPECT_EQ(tables_.n_rules(), 2u);

  // Table 0xff, cookie 0x1: both remaining rules, one of which sends flow-removed.
  del = MakeFlowMod(FlowModCommand::kDelete, ofp::kTableAll, 0, ofp::Match{}, {}, 0x1);
  del.cookie_mask = 0xff;
  ASSERT_TRUE(Apply(del));
  EXPECT_EQ(tables_.n_rules(), 0u);
  ASSERT_EQ(removed_.size(), 1u);
  EXPECT_EQ(removed_[0].reason, ofp::kFlowRemovedDelete);
  EXPECT_EQ(removed_[0].rule->table_id, 0);
  EXPECT_FALSE(removed_[0].rule->installed);
}

TEST_F(FlowTableTest, ErrorsHaveTheRightTypeAndCode) {
  struct Case {
    ofp::FlowMod fm;
    uint16_t type, code;
  };
  std::vector<Case> cases;
  cases.push_back({AddFlow(254, 1, MatchInPort(1), Output(2)), ofp::err::kFlowModFailed,
                   ofp::err::kFlowModBadTableId});
  cases.push_back({AddFlow(ofp::kTableAll, 1, MatchInPort(1), Output(2)), ofp::err::kFlowModFailed,
                   ofp::err::kFlowModBadTableId});
  ofp::Instructions back;
  back.goto_table = 3;
  cases.push_back({AddFlow(3, 1, MatchInPort(1), back), ofp::err::kBadInstruction,
                   ofp::err::kBadInstructionBadTableId});
  cases.push_back({AddFlow(0, 1, MatchInPort(1), Output(0)), ofp::err::kBadAction,
                   ofp::err::kBadActionBadOutPort});
  cases.push_back({AddFlow(0, 1, MatchInPort(1), Output(ofp::kPortTable)), ofp::err::kBadAction,
                   ofp::err::kBadActionBadOutPort});
  ofp::Match no_prereq;
  no_prereq.key.tp_dst = 80;
  no_prereq.mask.tp_dst = 0xffff;
  cases.push_back({AddFlow(0, 1, no_prereq, Output(2)), ofp::err::kBadMatch,
                   ofp::err::kBadMatchBadPrereq});
  ofp::Instructions set_ip;
  set_ip.apply.push_back(ofp::ActSetField{FieldId::kIpv4Dst, FieldValue::FromUint(0x0a000001, 4)});
  cases.push_back({AddFlow(0, 1, MatchInPort(1), set_ip), ofp::err::kBadAction,
                   ofp::err::kBadActionMatchInconsistent});
  ofp::Instructions set_port;
  set_port.apply.push_back(ofp::ActSetField{FieldId::kInPort, FieldValue::FromUint(1, 4)});
  cases.push_back({AddFlow(0, 1, MatchInPort(1), set_port), ofp::err::kBadAction,
                   ofp::err::kBadActionBadSetType});

  ASSERT_TRUE(Apply(AddFlow(0, 5, MatchInPort(7), Output(8))));
  uint64_t gen = tables_.generation();
  for (const Case& c : cases) {
    auto r = Apply(c.fm);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().type, c.type) << r.error().detail;
    EXPECT_EQ(r.error().code, c.code) << r.error().detail;
    EXPECT_FALSE(r.error().detail.empty());
  }
  EXPECT_EQ(tables_.n_rules(), 1u);
  EXPECT_EQ(tables_.generation(), gen);

  // Valid: tcp_dst with its prerequisites; set_field with ip in the match;
  // output to a port that does not exist (allowed, as in OVS); UDP ports in tp_dst.
  ofp::Match ok;
  WithTcpDst(ok, 80);
  EXPECT_TRUE(Apply(AddFlow(0, 1, ok, Output(4242))));
  ofp::Match ipm = MatchInPort(1);
  WithIp(ipm);
  EXPECT_TRUE(Apply(AddFlow(0, 1, ipm, set_ip)));
  ofp::Match udp;
  WithIp(udp);
  udp.key.nw_proto = kIpProtoUdp;
  udp.mask.nw_proto = 0xff;
  udp.key.tp_dst = 53;
  udp.mask.tp_dst = 0xffff;
  EXPECT_TRUE(Apply(AddFlow(0, 1, udp, Output(2))));
}

TEST_F(FlowTableTest, BatchIsAllOrNothing) {
  auto a = AddFlow(0, 100, MatchInPort(1), Output(2));
  a.flags = ofp::kFlowFlagSendFlowRem;
  ASSERT_TRUE(Apply(a));
  ASSERT_TRUE(Apply(AddFlow(0, 100, MatchInPort(2), Output(1))));
  Rule* r1 = Find(0, TcpKey(1, 80));
  r1->n_packets = 5;
  uint64_t gen = tables_.generation();

  auto overlap = AddFlow(0, 100, ofp::Match{}, Output(3));
  overlap.flags = ofp::kFlowFlagCheckOverlap;
  std::vector<ofp::FlowMod> batch = {
      AddFlow(0, 100, MatchInPort(3), Output(1)),                                   // new rule
      AddFlow(0, 100, MatchInPort(2), Output(9)),                                   // replace
      MakeFlowMod(FlowModCommand::kModify, 0, 0, MatchInPort(1), Output(8)),       // modify
      MakeFlowMod(FlowModCommand::kDeleteStrict, 0, 100, MatchInPort(1)),          // delete
      AddFlow(0, 100, MatchInPort(4), Output(1)),
      overlap,  // fails: overlaps in_port=2/3/4 at priority 100
  };
  removed_.clear();
  auto r = tables_.Apply(batch, now_, &removed_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ofp::err::kFlowModOverlap);
  EXPECT_TRUE(removed_.empty()) << "no flow-removed for a batch that did not commit";
  EXPECT_EQ(tables_.n_rules(), 2u);
  EXPECT_EQ(tables_.generation(), gen);
  EXPECT_EQ(Find(0, TcpKey(1, 80)), r1) << "the deleted rule is back, the same object";
  EXPECT_EQ(r1->instructions, Output(2));
  EXPECT_EQ(r1->n_packets, 5u);
  EXPECT_EQ(Find(0, TcpKey(2, 80))->instructions, Output(1));
  EXPECT_EQ(Find(0, TcpKey(3, 80)), nullptr);

  batch.pop_back();
  ASSERT_TRUE(tables_.Apply(batch, now_, &removed_));
  EXPECT_EQ(tables_.n_rules(), 3u);
  EXPECT_EQ(Find(0, TcpKey(1, 80)), nullptr);
  EXPECT_EQ(Find(0, TcpKey(2, 80))->instructions, Output(9));
  ASSERT_EQ(removed_.size(), 1u);
}

TEST_F(FlowTableTest, TimeoutsExpire) {
  auto hard = AddFlow(0, 100, MatchInPort(1), Output(2));
  hard.hard_timeout = 10;
  hard.flags = ofp::kFlowFlagSendFlowRem;
  auto idle = AddFlow(0, 100, MatchInPort(2), Output(1));
  idle.idle_timeout = 5;
  ASSERT_TRUE(Apply(hard));
  ASSERT_TRUE(Apply(idle));
  ASSERT_TRUE(Apply(AddFlow(0, 100, MatchInPort(3), Output(1))));
  using std::chrono::seconds;
  EXPECT_TRUE(tables_.Expire(now_ + seconds(4)).empty());
  // Traffic on the idle rule at +4s keeps it alive past +5s.
  Find(0, TcpKey(2, 80))->last_used = now_ + seconds(4);
  EXPECT_TRUE(tables_.Expire(now_ + seconds(8)).empty());
  auto gone = tables_.Expire(now_ + seconds(10));
  ASSERT_EQ(gone.size(), 2u);
  for (const auto& g : gone) {
    if (g.rule->hard_timeout) {
      EXPECT_EQ(g.reason, ofp::kFlowRemovedHardTimeout);
    } else {
      EXPECT_EQ(g.reason, ofp::kFlowRemovedIdleTimeout);
    }
  }
  EXPECT_EQ(tables_.n_rules(), 1u);
}

TEST_F(FlowTableTest, DumpAndAggregate) {
  ASSERT_TRUE(Apply(AddFlow(0, 100, MatchInPort(1), Output(2), 0x5)));
  ASSERT_TRUE(Apply(AddFlow(0, 300, MatchInPort(2), Output(1), 0x6)));
  ASSERT_TRUE(Apply(AddFlow(3, 100, MatchInPort(1), Output(2), 0x5)));
  Find(0, TcpKey(1, 80))->n_packets = 3;
  Find(3, TcpKey(1, 80))->n_packets = 4;
  auto all = DumpAll();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].priority, 300);  // table 0 first, highest priority first
  EXPECT_EQ(all[2].table_id, 3);
  ofp::FlowStatsRequest req;
  req.cookie = 0x5;
  req.cookie_mask = ~0ull;
  auto agg = tables_.Aggregate(req);
  EXPECT_EQ(agg.flow_count, 2u);
  EXPECT_EQ(agg.packet_count, 7u);
  req.table_id = 3;
  EXPECT_EQ(tables_.Dump(req, now_).size(), 1u);
  auto ts = tables_.TableStats();
  ASSERT_EQ(ts.size(), ofp::kNumTables);
  EXPECT_EQ(ts[0].active_count, 2u);
}

}  // namespace
}  // namespace hsw::ofproto
