// Translation: pipeline semantics and megaflow masks.
#include "ofproto/xlate.h"

#include <random>

#include <gtest/gtest.h>

#include "ofproto_test_util.h"
#include "packet/flow_field.h"

namespace hsw::ofproto {
namespace {

using namespace testing;  // NOLINT

class XlateTest : public ::testing::Test {
 protected:
  XlateTest() {
    // OpenFlow ports 1..4 are datapath ports 11..14.
    for (uint32_t p = 1; p <= 4; ++p) ports_[p] = 10 + p;
  }
  void Add(const ofp::FlowMod& fm) { ASSERT_TRUE(tables_.Apply({fm}, now_, nullptr)); }
  XlateResult Run(const FlowKey& key) {
    XlateRequest req;
    req.key = key;
    req.trace = true;
    XlateResult r;
    Translate(XlateBridge{7, &tables_, &ports_}, req, &r);
    return r;
  }

  FlowTables tables_;
  std::map<uint32_t, uint32_t> ports_;
  SteadyTime now_ = std::chrono::steady_clock::now();
};

TEST_F(XlateTest, MissDropsAndMaskHoldsInPortAndEthType) {
  XlateResult r = Run(TcpKey(1, 80));
  EXPECT_TRUE(r.actions.empty());
  EXPECT_EQ(r.mask.in_port, 0xffffffffu);
  EXPECT_EQ(r.mask.eth_type, 0xffff);
  FlowKey expected = FlowKey::Zero();
  expected.in_port = 0xffffffff;
  expected.eth_type = 0xffff;
  EXPECT_EQ(r.mask, expected) << "an empty pipeline consults nothing else";
  EXPECT_TRUE(r.rules.empty());
}

TEST_F(XlateTest, MultiTableGotoOutputsOnDatapathPorts) {
  ofp::Instructions to1;
  to1.goto_table = 1;
  Add(AddFlow(0, 100, MatchInPort(1), to1));
  ofp::Match tcp80;
  WithTcpDst(tcp80, 80);
  Add(AddFlow(1, 100, tcp80, Output(2)));
  XlateResult r = Run(TcpKey(1, 80));
  ASSERT_EQ(r.actions.size(), 1u) << r.trace;
  EXPECT_EQ(std::get<DpOutput>(r.actions[0]).port, 12u);
  ASSERT_EQ(r.rules.size(), 2u);
  EXPECT_EQ(r.rules[0]->table_id, 0);
  EXPECT_EQ(r.rules[1]->table_id, 1);
  EXPECT_EQ(r.mask.tp_dst, 0xffff);
  EXPECT_EQ(r.mask.nw_proto, 0xff) << "L4 consulted: nw_proto joins the mask";
  EXPECT_EQ(r.mask.tp_src, 0);
  EXPECT_EQ(KeyWord(r.mask, 0), 0u) << "metadata never in the mask";
  EXPECT_NE(r.trace.find("table 1"), std::string::npos);
  EXPECT_NE(r.trace.find("Datapath actions"), std::string::npos);

  // Another port: table 1 is never reached, so L4 is not consulted.
  r = Run(TcpKey(3, 80));
  EXPECT_TRUE(r.actions.empty());
  EXPECT_EQ(r.mask.tp_dst, 0);
}

TEST_F(XlateTest, WriteMetadataIsMatchedButNeverInTheMask) {
  ofp::Instructions ins;
  ins.write_metadata = ofp::WriteMetadata{0x42, 0xff};
  ins.goto_table = 2;
  Add(AddFlow(0, 100, MatchInPort(1), ins));
  ofp::Match meta;
  meta.key.metadata = 0x42;
  meta.mask.metadata = 0xff;
  Add(AddFlow(2, 100, meta, Output(3)));
  ofp::Match other;
  other.key.metadata = 0x43;
  other.mask.metadata = 0xff;
  Add(AddFlow(2, 200, other, Output(4)));
  XlateResult r = Run(TcpKey(1, 80));
  ASSERT_EQ(r.actions.size(), 1u) << r.trace;
  EXPECT_EQ(std::get<DpOutput>(r.actions[0]).port, 13u);
  EXPECT_EQ(r.mask.metadata, 0u);
  EXPECT_EQ(r.mask.in_port, 0xffffffffu);
}

TEST_F(XlateTest, SetFieldIsSeenByLaterTablesAndCommittedBeforeOutput) {
  ofp::Instructions ins;
  FieldValue mac = FieldValue::FromUint(0x0000000000aa, 6);
  ins.apply.push_back(ofp::ActSetField{FieldId::kEthDst, mac});
  ins.goto_table = 1;
  Add(AddFlow(0, 100, MatchInPort(1), ins));
  ofp::Match m;
  WriteField(m.key, FieldId::kEthDst, mac);
  SetFieldMask(m.mask, FieldId::kEthDst);
  Add(AddFlow(1, 100, m, Output(2)));
  XlateResult r = Run(TcpKey(1, 80));
  ASSERT_EQ(r.actions.size(), 2u) << r.trace;
  const auto& set = std::get<DpSetMasked>(r.actions[0]);
  EXPECT_EQ(set.value.eth_dst[5], 0xaa);
  EXPECT_EQ(set.mask.eth_dst[5], 0xff);
  EXPECT_EQ(set.mask.eth_src[5], 0);
  EXPECT_EQ(std::get<DpOutput>(r.actions[1]).port, 12u);
  // The packet's own eth_dst was overwritten before table 1 looked at it.
  EXPECT_TRUE(FieldMaskIsZero(r.mask, FieldId::kEthDst));
}

TEST_F(XlateTest, ActionSetWriteAndClear) {
  ofp::Instructions t0;
  t0.write_actions = ofp::Actions{ofp::ActOutput{2}};
  t0.goto_table = 1;
  Add(AddFlow(0, 100, MatchInPort(1), t0));
  ofp::Instructions t1;
  t1.write_actions =
      ofp::Actions{ofp::ActOutput{3}, ofp::ActSetField{FieldId::kVlanPcp, FieldValue::FromUint(5, 1)},
                   ofp::ActPushVlan{0x8100}};
  t1.goto_table = 2;
  Add(AddFlow(1, 100, ofp::Match{}, t1));
  Add(AddFlow(2, 100, ofp::Match{}, ofp::Instructions{}));
  XlateResult r = Run(TcpKey(1, 80));
  // Action set order: push_vlan, set_field, output (only the last output written).
  ASSERT_EQ(r.actions.size(), 3u) << r.trace;
  EXPECT_EQ(std::get<DpPushVlan>(r.actions[0]).tpid, 0x8100);
  EXPECT_EQ(std::get<DpSetMasked>(r.actions[1]).value.vlan_tci >> kVlanPcpShift, 5);
  EXPECT_EQ(std::get<DpOutput>(r.actions[2]).port, 13u);

  // clear_actions in table 2 empties the set.
  ofp::Instructions clear;
  clear.clear_actions = true;
  Add(AddFlow(2, 100, ofp::Match{}, clear));
  r = Run(TcpKey(1, 80));
  EXPECT_TRUE(r.actions.empty()) << r.trace;

  // A table miss discards the action set.
  Add(MakeFlowMod(ofp::FlowModCommand::kDelete, 2, 0, ofp::Match{}));
  r = Run(TcpKey(1, 80));
  EXPECT_TRUE(r.actions.empty()) << r.trace;
}

TEST_F(XlateTest, ControllerOutputIsUserspaceWithDecodableUserdata) {
  ofp::Instructions ins;
  ins.apply.push_back(ofp::ActOutput{ofp::kPortController, 128});
  Add(AddFlow(0, 100, MatchInPort(2), ins, 0xc00c1e));
  XlateResult r = Run(TcpKey(2, 80));
  ASSERT_EQ(r.actions.size(), 1u);
  const auto& us = std::get<DpUserspace>(r.actions[0]);
  EXPECT_LE(us.userdata.size(), kDpUserdataMaxSize);
  auto ud = DecodeControllerUserdata(us.userdata);
  ASSERT_TRUE(ud);
  EXPECT_EQ(ud->bridge_id, 7u);
  EXPECT_EQ(ud->in_port, 2u);
  EXPECT_EQ(ud->table_id, 0);
  EXPECT_EQ(ud->cookie, 0xc00c1eu);
  EXPECT_EQ(ud->max_len, 128);
  EXPECT_EQ(ud->reason, ofp::kPacketInReasonAction);
  EXPECT_FALSE(DecodeControllerUserdata(std::vector<uint8_t>{1, 2, 3}));

  // The table-miss entry's packet-ins say "no match".
  Add(AddFlow(0, 0, ofp::Match{}, ins));
  r = Run(TcpKey(3, 80));
  ASSERT_EQ(r.actions.size(), 1u);
  ud = DecodeControllerUserdata(std::get<DpUserspace>(r.actions[0]).userdata);
  ASSERT_TRUE(ud);
  EXPECT_EQ(ud->reason, ofp::kPacketInReasonNoMatch);
}

TEST_F(XlateTest, InPortFloodAndInPortSkip) {
  ofp::Instructions ins;
  ins.apply = {ofp::ActOutput{1}, ofp::ActOutput{ofp::kPortFlood}};
  Add(AddFlow(0, 100, MatchInPort(1), ins));
  XlateResult r = Run(TcpKey(1, 80));
  // output:1 is the input port (skipped); FLOOD: 2, 3, 4.
  ASSERT_EQ(r.actions.size(), 3u) << r.trace;
  EXPECT_EQ(std::get<DpOutput>(r.actions[0]).port, 12u);
  EXPECT_EQ(std::get<DpOutput>(r.actions[2]).port, 14u);
  ins.apply = {ofp::ActOutput{ofp::kPortInPort}, ofp::ActOutput{99}};
  Add(AddFlow(0, 100, MatchInPort(1), ins));
  r = Run(TcpKey(1, 80));
  ASSERT_EQ(r.actions.size(), 1u) << "output to a port that does not exist is skipped";
  EXPECT_EQ(std::get<DpOutput>(r.actions[0]).port, 11u);
}

TEST_F(XlateTest, DecTtlConsultsTtlAndDropsExpired) {
  ofp::Match ip = MatchInPort(1);
  WithIp(ip);
  ofp::Instructions ins;
  ins.apply = {ofp::ActDecNwTtl{}, ofp::ActOutput{2}};
  Add(AddFlow(0, 100, ip, ins));
  XlateResult r = Run(TcpKey(1, 80, 64));
  ASSERT_EQ(r.actions.size(), 2u);
  EXPECT_EQ(std::get<DpSetMasked>(r.actions[0]).value.nw_ttl, 63);
  EXPECT_EQ(r.mask.nw_ttl, 0xff);
  r = Run(TcpKey(1, 80, 1));
  EXPECT_TRUE(r.actions.empty());
  EXPECT_TRUE(r.ttl_expired);
}

TEST_F(XlateTest, PacketOutActionsAndTablePort) {
  Add(AddFlow(0, 100, MatchInPort(ofp::kPortController), Output(4)));
  ofp::Actions acts = {ofp::ActOutput{2}, ofp::ActOutput{ofp::kPortTable}};
  XlateRequest req;
  req.key = TcpKey(ofp::kPortController, 80);
  req.actions = &acts;
  XlateResult r;
  Translate(XlateBridge{7, &tables_, &ports_}, req, &r);
  ASSERT_EQ(r.actions.size(), 2u);
  EXPECT_EQ(std::get<DpOutput>(r.actions[0]).port, 12u);
  EXPECT_EQ(std::get<DpOutput>(r.actions[1]).port, 14u);
}

// Random two-table pipelines: any packet that agrees with another on the
// megaflow mask must get the same datapath actions.
TEST_F(XlateTest, MegaflowMaskIsSoundOnRandomPipelines) {
  std::mt19937_64 rng(99);
  auto u = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
  auto random_key = [&] {
    FlowKey k = TcpKey(1 + u(4), static_cast<uint16_t>(u(3) * 100), static_cast<uint8_t>(1 + u(3)));
    k.nw_proto = u(2) ? kIpProtoTcp : kIpProtoUdp;
    k.ipv4_dst[3] = static_cast<uint8_t>(u(4));
    k.eth_dst[5] = static_cast<uint8_t>(u(3));
    return k;
  };
  for (int round = 0; round < 20; ++round) {
    FlowTables tables;
    for (int i = 0; i < 40; ++i) {
      uint8_t table = static_cast<uint8_t>(u(2));
      ofp::Match m;
      if (u(2)) m = MatchInPort(1 + u(4));
      if (u(2)) {
        WithIp(m);
        m.key.ipv4_dst[3] = static_cast<uint8_t>(u(4));
        m.mask.ipv4_dst[3] = 0xff;
      }
      if (u(3) == 0) WithTcpDst(m, static_cast<uint16_t>(u(3) * 100));
      if (table == 1 && u(2)) {
        m.key.metadata = u(2);
        m.mask.metadata = 1;
      }
      if (u(4) == 0) {
        m.key.eth_dst[5] = 0x77;
        m.mask.eth_dst[5] = 0xff;
      }
      ofp::Instructions ins;
      if (u(2)) ins.apply.push_back(ofp::ActOutput{1 + u(4)});
      if (table == 0 && u(3) == 0) {
        ins.apply.push_back(ofp::ActSetField{FieldId::kEthDst, FieldValue::FromUint(0x77, 6)});
      }
      if (u(3) == 0 && (m.mask.eth_type == 0xffff)) ins.apply.push_back(ofp::ActDecNwTtl{});
      if (table == 0 && u(2)) {
        ins.write_metadata = ofp::WriteMetadata{u(2), 1};
        ins.goto_table = 1;
      }
      if (u(4) == 0) ins.write_actions = ofp::Actions{ofp::ActOutput{1 + u(4)}};
      auto fm = AddFlow(table, static_cast<uint16_t>(u(50)), m, ins);
      ASSERT_TRUE(tables.Apply({fm}, now_, nullptr));
    }
    XlateBridge br{1, &tables, &ports_};
    for (int p = 0; p < 200; ++p) {
      XlateRequest req;
      req.key = random_key();
      XlateResult r;
      Translate(br, req, &r);
      EXPECT_EQ(r.mask.metadata, 0u);
      EXPECT_EQ(r.mask.in_port, 0xffffffffu);
      for (int k = 0; k < 10; ++k) {
        FlowKey other = random_key();
        FlowKey mixed;
        for (size_t w = 0; w < FlowKey::kWords; ++w) {
          SetKeyWord(mixed, w,
                     (KeyWord(req.key, w) & KeyWord(r.mask, w)) |
                         (KeyWord(other, w) & ~KeyWord(r.mask, w)));
        }
        XlateRequest req2;
        req2.key = mixed;
        XlateResult r2;
        Translate(br, req2, &r2);
        ASSERT_EQ(FormatDpActions(r2.actions), FormatDpActions(r.actions))
            << "key " << FormatDpKey(req.key) << "\nmask " << FormatDpKey(r.mask, &r.mask);
        ASSERT_TRUE(MaskIsSubset(r2.mask, r.mask) || r2.mask == r.mask);
      }
    }
  }
}

}  // namespace
}  // namespace hsw::ofproto
