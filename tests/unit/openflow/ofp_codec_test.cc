// The OpenFlow 1.3 codec against bytes captured from Debian's ovs-ofctl 3.1,
// round trips of every message, and malformed input.
#include "openflow/ofp_codec.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace hsw::ofp {
namespace {

std::vector<uint8_t> Hex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// `ovs-ofctl -O OpenFlow13 add-flow unix:... 'table=1,priority=100,cookie=0x5,
//  tcp,in_port=1,nw_src=10.0.0.0/24,nw_ttl=5,tcp_flags=+syn,tp_dst=80,
//  actions=mod_dl_src:00:11:22:33:44:55,dec_ttl,push_vlan:0x8100,
//  mod_vlan_vid:5,output:2,controller:100,write_actions(pop_vlan),
//  write_metadata:0x5/0xff,goto_table:3'`, as captured on the socket.
const char kOvsFlowMod[] =
    "040e00f800000006000000000000000500000000000000000100000000000064ffffffffffffffffffffffff00"
    "0000000001003a800000040000000180000a020800800017080a000000ffffff0000013a010580001401068000"
    "1c020050ffff55084f4e460000020002000000000000000400580000000000190010800008060011223344550"
    "000001800080000000000110008810000000019001080000c0210050000000000000000001000000002000000"
    "000000000000000010fffffffd006400000000000000030010000000000012000800000000000200180000000"
    "0000000000000000500000000000000ff0001000803000000";

// `ovs-ofctl -O OpenFlow13 dump-flows` request.
const char kOvsDumpFlows[] =
    "04120038000000020001000000000000ff000000ffffffffffffffff0000000000000000000000000000000000"
    "0000000001000400000000";

FieldValue Mac(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e, uint8_t f) {
  FieldValue v;
  v.size = 6;
  v.bytes = {a, b, c, d, e, f};
  return v;
}

void SetExact(Match& m, FieldId id, uint64_t value) {
  FieldValue v = FieldValue::FromUint(value, GetFieldInfo(id).size);
  WriteField(m.key, id, v);
  SetFieldMask(m.mask, id);
}

OfpMessage RoundTrip(const OfpMessage& m) {
  auto bytes = Encode(m);
  auto length = FrameLength(bytes);
  EXPECT_TRUE(length.has_value());
  EXPECT_EQ(*length, bytes.size());
  auto decoded = Decode(bytes);
  EXPECT_TRUE(decoded.has_value()) << (decoded ? "" : decoded.error().detail);
  if (!decoded) return {};
  EXPECT_EQ(decoded->xid, m.xid);
  EXPECT_EQ(decoded->type(), m.type());
  // Re-encoding is byte-identical: nothing was lost on the way.
  EXPECT_EQ(Encode(*decoded), bytes);
  return *decoded;
}

OfpError DecodeError(const std::vector<uint8_t>& bytes) {
  auto decoded = Decode(bytes);
  EXPECT_FALSE(decoded.has_value());
  if (decoded) return {};
  return decoded.error();
}

// A flow mod with the given OXM TLVs (without the ofp_match header) and no
// instructions.
std::vector<uint8_t> FlowModWithOxms(const std::vector<uint8_t>& oxms) {
  FlowMod fm;
  OfpMessage m{kVersion13, 7, fm};
  auto bytes = Encode(m);
  // The empty match sits at offset 48: type, length=4, 4 bytes of padding.
  std::vector<uint8_t> out(bytes.begin(), bytes.begin() + 48);
  size_t match_len = 4 + oxms.size();
  out.push_back(0);
  out.push_back(1);
  out.push_back(static_cast<uint8_t>(match_len >> 8));
  out.push_back(static_cast<uint8_t>(match_len));
  out.insert(out.end(), oxms.begin(), oxms.end());
  while ((out.size() - 48) % 8) out.push_back(0);
  out[2] = static_cast<uint8_t>(out.size() >> 8);
  out[3] = static_cast<uint8_t>(out.size());
  return out;
}

// A flow mod whose instructions are `instructions` (raw bytes).
std::vector<uint8_t> FlowModWithInstructions(const std::vector<uint8_t>& instructions,
                                             uint8_t table_id = 0) {
  FlowMod fm;
  fm.table_id = table_id;
  auto out = Encode(OfpMessage{kVersion13, 7, fm});
  out.insert(out.end(), instructions.begin(), instructions.end());
  out[2] = static_cast<uint8_t>(out.size() >> 8);
  out[3] = static_cast<uint8_t>(out.size());
  return out;
}

std::vector<uint8_t> ApplyActionsInstruction(const std::vector<uint8_t>& actions) {
  std::vector<uint8_t> out = {0, 4, 0, static_cast<uint8_t>(8 + actions.size()), 0, 0, 0, 0};
  out.insert(out.end(), actions.begin(), actions.end());
  return out;
}

TEST(OfpCodec, DecodesOvsOfctlFlowMod) {
  auto decoded = Decode(Hex(kOvsFlowMod));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().detail;
  EXPECT_EQ(decoded->xid, 6u);
  const auto* fm = std::get_if<FlowMod>(&decoded->body);
  ASSERT_NE(fm, nullptr);
  EXPECT_EQ(fm->command, FlowModCommand::kAdd);
  EXPECT_EQ(fm->table_id, 1);
  EXPECT_EQ(fm->priority, 100);
  EXPECT_EQ(fm->cookie, 5u);
  EXPECT_EQ(fm->buffer_id, kNoBuffer);

  Match want;
  SetExact(want, FieldId::kInPort, 1);
  SetExact(want, FieldId::kEthType, 0x0800);
  FieldValue net = FieldValue::FromUint(0x0a000000, 4),
             mask24 = FieldValue::FromUint(0xffffff00, 4);
  WriteField(want.key, FieldId::kIpv4Src, net, &mask24);
  SetFieldMask(want.mask, FieldId::kIpv4Src, &mask24);
  SetExact(want, FieldId::kIpTtl, 5);
  SetExact(want, FieldId::kIpProto, 6);
  SetExact(want, FieldId::kTcpDst, 80);
  FieldValue syn = FieldValue::FromUint(2, 2);
  WriteField(want.key, FieldId::kTcpFlags, syn, &syn);
  SetFieldMask(want.mask, FieldId::kTcpFlags, &syn);
  EXPECT_EQ(fm->match, want) << FormatDpKey(fm->match.key, &fm->match.mask);

  Actions apply = {ActSetField{FieldId::kEthSrc, Mac(0, 0x11, 0x22, 0x33, 0x44, 0x55)},
                   ActDecNwTtl{},
                   ActPushVlan{0x8100},
                   ActSetField{FieldId::kVlanVid, FieldValue::FromUint(0x1005, 2)},
                   ActOutput{2, 0},
                   ActOutput{kPortController, 100}};
  EXPECT_EQ(fm->instructions.apply, apply);
  ASSERT_TRUE(fm->instructions.write_actions.has_value());
  EXPECT_EQ(*fm->instructions.write_actions, Actions{ActPopVlan{}});
  ASSERT_TRUE(fm->instructions.write_metadata.has_value());
  EXPECT_EQ(fm->instructions.write_metadata->value, 5u);
  EXPECT_EQ(fm->instructions.write_metadata->mask, 0xffu);
  EXPECT_EQ(fm->instructions.goto_table, std::optional<uint8_t>(3));
  EXPECT_FALSE(fm->instructions.clear_actions);

  // Encoding the decoded flow mod gives back what ovs-ofctl sent, except for
  // field order in the match (hsw writes prerequisites first).
  auto again = Decode(Encode(*decoded));
  ASSERT_TRUE(again.has_value());
  const auto& fm2 = std::get<FlowMod>(again->body);
  EXPECT_EQ(fm2.match, fm->match);
  EXPECT_EQ(fm2.instructions, fm->instructions);
  EXPECT_EQ(Encode(*again).size(), Hex(kOvsFlowMod).size());
}

TEST(OfpCodec, DecodesOvsOfctlDumpFlowsRequest) {
  auto decoded = Decode(Hex(kOvsDumpFlows));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().detail;
  const auto& req = std::get<MultipartRequest>(decoded->body);
  EXPECT_EQ(req.mp_type(), mp::kFlow);
  const auto& fsr = std::get<FlowStatsRequest>(req.body);
  EXPECT_EQ(fsr.table_id, kTableAll);
  EXPECT_EQ(fsr.out_port, kPortAny);
  EXPECT_EQ(fsr.out_group, kGroupAny);
  EXPECT_TRUE(IsZero(fsr.match.mask));
  EXPECT_EQ(Encode(*decoded), Hex(kOvsDumpFlows));
}

TEST(OfpCodec, HelloAndNegotiation) {
  auto hello = RoundTrip(OfpMessage{kVersion14, 1, Hello{}});
  EXPECT_EQ(std::get<Hello>(hello.body).version_bitmap, (1u << 4) | (1u << 5));
  EXPECT_EQ(kSupportedVersions, 0x30u);
  EXPECT_EQ(HelloVersion(), kVersion14);
  EXPECT_EQ(HelloVersion(1u << 4), kVersion13);
  EXPECT_EQ(Encode(OfpMessage{kVersion14, 1, Hello{}}), Hex("05000010000000010001000800000030"));

  // ovs-ofctl -O OpenFlow13 sends exactly this.
  auto ovs = Decode(Hex("04000010000000010001000800000010"));
  ASSERT_TRUE(ovs);
  EXPECT_EQ(*NegotiateVersion(4, std::get<Hello>(ovs->body)), kVersion13);
  // ovs-ofctl -O OpenFlow14: bitmap with bit 5 only.
  auto ovs14 = Decode(Hex("05000010000000010001000800000020"));
  ASSERT_TRUE(ovs14);
  EXPECT_EQ(*NegotiateVersion(5, std::get<Hello>(ovs14->body)), kVersion14);
  // ... but not with a bridge limited to 1.3.
  EXPECT_FALSE(NegotiateVersion(5, std::get<Hello>(ovs14->body), 1u << 4));
  // A 1.0-1.5 peer (bitmap 0x7e... bits 1..6) picks 1.4, the highest in common.
  EXPECT_EQ(*NegotiateVersion(6, Hello{0x7e}), kVersion14);
  EXPECT_EQ(*NegotiateVersion(6, Hello{0x7e}, 1u << 4), kVersion13);
  // No bitmap: the lower of the two highest versions.
  EXPECT_EQ(*NegotiateVersion(6, Hello{0}), kVersion14);
  EXPECT_EQ(*NegotiateVersion(5, Hello{0}), kVersion14);
  EXPECT_EQ(*NegotiateVersion(4, Hello{0}), kVersion13);
  EXPECT_FALSE(NegotiateVersion(3, Hello{0}));
  // A 1.0-only peer cannot talk to us.
  auto fail = NegotiateVersion(1, Hello{0});
  ASSERT_FALSE(fail);
  EXPECT_EQ(fail.error().type, err::kHelloFailed);
  EXPECT_EQ(fail.error().code, err::kHelloIncompatible);
  EXPECT_FALSE(NegotiateVersion(6, Hello{1u << 1 | 1u << 6}));
  // A HELLO of another version with an unknown element still decodes.
  auto odd = Decode(Hex("06000018000000090009000400000000000100080000004a"));
  ASSERT_TRUE(odd) << odd.error().detail;
  EXPECT_EQ(std::get<Hello>(odd->body).version_bitmap, 0x4au);
}

TEST(OfpCodec, SimpleMessagesRoundTrip) {
  RoundTrip(OfpMessage{kVersion13, 2, EchoRequest{{1, 2, 3}}});
  RoundTrip(OfpMessage{kVersion13, 3, EchoReply{{}}});
  RoundTrip(OfpMessage{kVersion13, 4, FeaturesRequest{}});
  auto f = RoundTrip(OfpMessage{kVersion13, 5, FeaturesReply{0x1234567890abcdefull}});
  EXPECT_EQ(std::get<FeaturesReply>(f.body).datapath_id, 0x1234567890abcdefull);
  EXPECT_EQ(std::get<FeaturesReply>(f.body).n_tables, 254);
  EXPECT_EQ(std::get<FeaturesReply>(f.body).capabilities, 7u);
  EXPECT_EQ(Encode(f).size(), 32u);
  RoundTrip(OfpMessage{kVersion13, 6, GetConfigRequest{}});
  auto gc = RoundTrip(OfpMessage{kVersion13, 7, GetConfigReply{{0, 0xffff}}});
  EXPECT_EQ(std::get<GetConfigReply>(gc.body).config.miss_send_len, 0xffff);
  RoundTrip(OfpMessage{kVersion13, 8, SetConfig{{0, 200}}});
  RoundTrip(OfpMessage{kVersion13, 9, BarrierRequest{}});
  RoundTrip(OfpMessage{kVersion13, 10, BarrierReply{}});
  auto role = RoundTrip(OfpMessage{kVersion13, 11, RoleRequest{kRoleMaster, 77}});
  EXPECT_EQ(std::get<RoleRequest>(role.body).generation_id, 77u);
  RoundTrip(OfpMessage{kVersion13, 12, RoleReply{kRoleSlave, 78}});
  auto e = RoundTrip(OfpMessage{kVersion13, 13, ErrorMsg{4, 9, {1, 2, 3, 4}}});
  EXPECT_EQ(std::get<ErrorMsg>(e.body).code, 9);
}

TEST(OfpCodec, FlowModRoundTripEveryField) {
  // One flow mod per field, each with its prerequisites, exact and (where
  // allowed) masked.
  for (size_t i = 0; i < kNumFields; ++i) {
    FieldId id = static_cast<FieldId>(i);
    const FieldInfo& info = GetFieldInfo(id);
    for (bool masked : {false, true}) {
      if (masked && !info.maskable) continue;
      Match m;
      if (info.prereq_eth_type) SetExact(m, FieldId::kEthType, info.prereq_eth_type);
      if (info.prereq_nw_proto >= 0) SetExact(m, FieldId::kIpProto, info.prereq_nw_proto);
      if (id == FieldId::kVlanPcp) SetExact(m, FieldId::kVlanVid, 0x1000 | 10);
      FieldValue value;
      value.size = info.size;
      for (size_t b = 0; b < info.size; ++b) value.bytes[b] = static_cast<uint8_t>(0x5a + b);
      // Keep the value within the field's bits.
      int spare = info.size * 8 - info.n_bits;
      for (int bit = 0; bit < spare; ++bit) value.bytes[bit / 8] &= ~(0x80 >> (bit % 8));
      if (id == FieldId::kArpOp) value = FieldValue::FromUint(2, 2);
      if (masked) {
        FieldValue mask = value;
        for (size_t b = 0; b < info.size; ++b) mask.bytes[b] = b % 2 ? 0xff : 0x0f;
        for (int bit = 0; bit < spare; ++bit) mask.bytes[bit / 8] &= ~(0x80 >> (bit % 8));
        for (size_t b = 0; b < info.size; ++b) value.bytes[b] &= mask.bytes[b];
        WriteField(m.key, id, value, &mask);
        SetFieldMask(m.mask, id, &mask);
      } else {
        WriteField(m.key, id, value);
        SetFieldMask(m.mask, id);
      }
      FlowMod fm;
      fm.match = m;
      fm.table_id = 3;
      fm.command = FlowModCommand::kModifyStrict;
      fm.flags = kFlowFlagSendFlowRem;
      fm.idle_timeout = 10;
      fm.hard_timeout = 20;
      fm.instructions.apply = {ActSetField{id, value}, ActOutput{kPortInPort, 0}};
      fm.instructions.clear_actions = true;
      fm.instructions.write_actions = Actions{ActOutput{5, 0}};
      auto decoded = RoundTrip(OfpMessage{kVersion13, 100, fm});
      const auto* got = std::get_if<FlowMod>(&decoded.body);
      ASSERT_NE(got, nullptr) << info.oxm_name;
      EXPECT_EQ(got->match, m) << info.oxm_name << (masked ? " masked" : "");
      EXPECT_EQ(got->instructions, fm.instructions) << info.oxm_name;
      EXPECT_EQ(got->flags, kFlowFlagSendFlowRem);
      EXPECT_EQ(got->command, FlowModCommand::kModifyStrict);
      EXPECT_EQ(got->idle_timeout, 10);
      EXPECT_EQ(got->hard_timeout, 20);
    }
  }
}

TEST(OfpCodec, AsyncMessagesRoundTrip) {
  PacketIn pi;
  pi.reason = kPacketInReasonNoMatch;
  pi.table_id = 4;
  pi.cookie = 0xabcdef;
  pi.total_len = 1500;
  SetExact(pi.match, FieldId::kInPort, 7);
  pi.data.assign(100, 0xee);
  auto got_pi = std::get<PacketIn>(RoundTrip(OfpMessage{kVersion13, 0, pi}).body);
  EXPECT_EQ(got_pi.match, pi.match);
  EXPECT_EQ(got_pi.data, pi.data);
  EXPECT_EQ(got_pi.total_len, 1500);
  EXPECT_EQ(got_pi.cookie, 0xabcdefu);

  PacketOut po;
  po.in_port = kPortController;
  po.actions = {ActOutput{kPortTable, 0}, ActOutput{3, 0}};
  po.data = {1, 2, 3, 4, 5};
  auto got_po = std::get<PacketOut>(RoundTrip(OfpMessage{kVersion13, 1, po}).body);
  EXPECT_EQ(got_po.actions, po.actions);
  EXPECT_EQ(got_po.data, po.data);

  FlowRemoved fr;
  fr.cookie = 9;
  fr.priority = 1000;
  fr.reason = kFlowRemovedIdleTimeout;
  fr.table_id = 2;
  fr.packet_count = 5;
  fr.byte_count = 500;
  SetExact(fr.match, FieldId::kEthType, 0x0806);
  SetExact(fr.match, FieldId::kArpOp, 1);
  auto got_fr = std::get<FlowRemoved>(RoundTrip(OfpMessage{kVersion13, 0, fr}).body);
  EXPECT_EQ(got_fr.match, fr.match);
  EXPECT_EQ(got_fr.byte_count, 500u);

  PortStatus ps;
  ps.reason = kPortStatusModify;
  ps.desc.port_no = 3;
  ps.desc.name = "veth-a-very-long-name";  // truncated to 15 characters
  ps.desc.state = kPortStateLive;
  auto got_ps = std::get<PortStatus>(RoundTrip(OfpMessage{kVersion13, 0, ps}).body);
  EXPECT_EQ(got_ps.desc.name, "veth-a-very-lon");
  EXPECT_EQ(got_ps.desc.state, kPortStateLive);
  EXPECT_EQ(got_ps.reason, kPortStatusModify);
}

TEST(OfpCodec, MultipartRequestsRoundTrip) {
  for (auto body :
       {MultipartRequest{0, DescRequest{}}, MultipartRequest{0, TableStatsRequest{}},
        MultipartRequest{0, PortStatsRequest{5}}, MultipartRequest{0, PortDescRequest{}},
        MultipartRequest{0, TableFeaturesRequest{}}}) {
    auto got = RoundTrip(OfpMessage{kVersion13, 3, body});
    EXPECT_EQ(std::get<MultipartRequest>(got.body).mp_type(), body.mp_type());
  }
  FlowStatsRequest fsr;
  fsr.table_id = 2;
  fsr.cookie = 1;
  fsr.cookie_mask = 0xff;
  SetExact(fsr.match, FieldId::kInPort, 4);
  auto got = RoundTrip(OfpMessage{kVersion13, 3, MultipartRequest{0, AggregateRequest{fsr}}});
  const auto& agg = std::get<AggregateRequest>(std::get<MultipartRequest>(got.body).body);
  EXPECT_EQ(agg.request.match, fsr.match);
  EXPECT_EQ(agg.request.cookie_mask, 0xffu);
}

TEST(OfpCodec, LongFlowStatsReplySplitsWithMoreFlag) {
  std::vector<FlowStats> flows;
  for (int i = 0; i < 3000; ++i) {
    FlowStats fs;
    fs.table_id = static_cast<uint8_t>(i % 5);
    fs.priority = static_cast<uint16_t>(i);
    fs.cookie = i;
    fs.packet_count = 1000 + i;
    SetExact(fs.match, FieldId::kInPort, i);
    SetExact(fs.match, FieldId::kEthType, 0x0800);
    fs.instructions.apply = {ActOutput{static_cast<uint32_t>(i % 7 + 1), 0}};
    flows.push_back(fs);
  }
  auto bytes = Encode(OfpMessage{kVersion13, 42, MultipartReply{0, flows}});
  StreamSplitter splitter;
  splitter.Feed(bytes);
  std::vector<FlowStats> got;
  int n_messages = 0;
  bool saw_last = false;
  for (;;) {
    auto next = splitter.Next();
    ASSERT_TRUE(next.has_value());
    if (next->empty()) break;
    ASSERT_FALSE(saw_last) << "a message after the one without MORE";
    ++n_messages;
    EXPECT_LE(next->size(), kMaxMessageSize);
    auto m = Decode(*next);
    ASSERT_TRUE(m.has_value()) << m.error().detail;
    EXPECT_EQ(m->xid, 42u);
    const auto& reply = std::get<MultipartReply>(m->body);
    saw_last = !(reply.flags & mp::kFlagMore);
    const auto& part = std::get<std::vector<FlowStats>>(reply.body);
    got.insert(got.end(), part.begin(), part.end());
  }
  EXPECT_TRUE(saw_last);
  EXPECT_GT(n_messages, 2);
  ASSERT_EQ(got.size(), flows.size());
  for (size_t i = 0; i < flows.size(); ++i) {
    EXPECT_EQ(got[i].match, flows[i].match);
    EXPECT_EQ(got[i].instructions, flows[i].instructions);
    EXPECT_EQ(got[i].cookie, flows[i].cookie);
    EXPECT_EQ(got[i].packet_count, flows[i].packet_count);
  }
  // A small max_size forces one entry per message.
  auto small = Encode(
      OfpMessage{kVersion13, 1,
                 MultipartReply{0, std::vector<FlowStats>(flows.begin(), flows.begin() + 3)}},
      64 + 16);
  StreamSplitter s2;
  s2.Feed(small);
  int n = 0;
  while (true) {
    auto next = s2.Next();
    ASSERT_TRUE(next);
    if (next->empty()) break;
    ++n;
  }
  EXPECT_EQ(n, 3);
  // An empty reply is one message without MORE.
  auto empty = Encode(OfpMessage{kVersion13, 1, MultipartReply{0, std::vector<FlowStats>{}}});
  EXPECT_EQ(empty.size(), 16u);
}

TEST(OfpCodec, OtherRepliesRoundTrip) {
  DescStats d;
  d.sw_desc = "0.1.0";
  d.dp_desc = "br0";
  auto got = RoundTrip(OfpMessage{kVersion13, 1, MultipartReply{0, d}});
  EXPECT_EQ(std::get<DescStats>(std::get<MultipartReply>(got.body).body), d);

  auto agg = RoundTrip(OfpMessage{kVersion13, 1, MultipartReply{0, AggregateStats{10, 2000, 3}}});
  EXPECT_EQ(std::get<AggregateStats>(std::get<MultipartReply>(agg.body).body).flow_count, 3u);

  std::vector<TableStats> tables(254);
  for (int i = 0; i < 254; ++i) tables[i] = {static_cast<uint8_t>(i), 1u * i, 2u * i, 1u * i};
  auto ts = RoundTrip(OfpMessage{kVersion13, 1, MultipartReply{0, tables}});
  EXPECT_EQ(std::get<std::vector<TableStats>>(std::get<MultipartReply>(ts.body).body).size(), 254u);

  std::vector<PortStats> ports(3);
  ports[1].port_no = 2;
  ports[1].rx_bytes = 1234;
  auto ps = RoundTrip(OfpMessage{kVersion13, 1, MultipartReply{0, ports}});
  EXPECT_EQ(std::get<std::vector<PortStats>>(std::get<MultipartReply>(ps.body).body)[1].rx_bytes,
            1234u);

  std::vector<PortDesc> descs(2);
  descs[0].name = "p0";
  descs[0].hw_addr[5] = 9;
  auto pd = RoundTrip(OfpMessage{kVersion13, 1, MultipartReply{0, descs}});
  auto got_descs = std::get<std::vector<PortDesc>>(std::get<MultipartReply>(pd.body).body);
  EXPECT_EQ(got_descs[0].name, "p0");
  EXPECT_EQ(got_descs[0].hw_addr[5], 9);
}

TEST(OfpCodec, TableFeaturesHaveOvsRequiredProperties) {
  auto tables = HswTableFeatures();
  ASSERT_EQ(tables.size(), 254u);
  auto bytes = Encode(OfpMessage{kVersion13, 5, MultipartReply{0, tables}});
  StreamSplitter splitter;
  splitter.Feed(bytes);
  std::vector<TableFeatures> got;
  for (;;) {
    auto next = splitter.Next();
    ASSERT_TRUE(next);
    if (next->empty()) break;
    auto m = Decode(*next);
    ASSERT_TRUE(m) << m.error().detail;
    auto part = std::get<std::vector<TableFeatures>>(std::get<MultipartReply>(m->body).body);
    got.insert(got.end(), part.begin(), part.end());
  }
  ASSERT_EQ(got.size(), 254u);
  EXPECT_EQ(got[253].table_id, 253);
  // ovs-ofctl rejects features without the 8 required properties (types 0, 2, ..., 14).
  for (const auto& tf : {got[0], got[253]}) {
    uint32_t seen = 0;
    size_t pos = 0;
    while (pos + 4 <= tf.properties.size()) {
      uint16_t type = static_cast<uint16_t>(tf.properties[pos] << 8 | tf.properties[pos + 1]);
      uint16_t len = static_cast<uint16_t>(tf.properties[pos + 2] << 8 | tf.properties[pos + 3]);
      ASSERT_GE(len, 4);
      seen |= 1u << type;
      pos += (len + 7) / 8 * 8;
    }
    EXPECT_EQ(pos, tf.properties.size());
    EXPECT_EQ(seen, 0x5555u);
  }
}

TEST(OfpCodec, FramingAndSplitter) {
  auto a = Encode(OfpMessage{kVersion13, 1, EchoRequest{{9, 9}}});
  auto b = Encode(OfpMessage{kVersion13, 2, BarrierRequest{}});
  std::vector<uint8_t> stream = a;
  stream.insert(stream.end(), b.begin(), b.end());
  StreamSplitter splitter;
  std::vector<std::vector<uint8_t>> got;
  for (uint8_t byte : stream) {
    splitter.Feed(std::span<const uint8_t>(&byte, 1));
    auto next = splitter.Next();
    ASSERT_TRUE(next);
    if (!next->empty()) got.emplace_back(next->begin(), next->end());
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], a);
  EXPECT_EQ(got[1], b);
  EXPECT_EQ(splitter.buffered(), 0u);

  EXPECT_EQ(*FrameLength(Hex("0400")), 0u);
  auto short_len = FrameLength(Hex("0400000400000000"));
  ASSERT_FALSE(short_len);
  EXPECT_EQ(short_len.error().type, err::kBadRequest);
  EXPECT_EQ(short_len.error().code, err::kBadRequestBadLen);
  // ASCII garbage: "GET / HTTP/1.1" is no OpenFlow version.
  auto http = FrameLength(Hex("474554202f20485454502f312e31"));
  ASSERT_FALSE(http);
  EXPECT_EQ(http.error().code, err::kBadRequestBadVersion);
}

TEST(OfpCodec, MakeErrorReplyCopies64Bytes) {
  auto request = Hex(kOvsFlowMod);
  auto reply = MakeErrorReply(OfpError{err::kBadMatch, err::kBadMatchBadPrereq, "x"}, request);
  EXPECT_EQ(reply.xid, 6u);
  const auto& e = std::get<ErrorMsg>(reply.body);
  EXPECT_EQ(e.type, err::kBadMatch);
  EXPECT_EQ(e.code, err::kBadMatchBadPrereq);
  ASSERT_EQ(e.data.size(), 64u);
  EXPECT_TRUE(std::equal(e.data.begin(), e.data.end(), request.begin()));
  auto bytes = Encode(reply);
  EXPECT_EQ(bytes.size(), 12u + 64u);
  EXPECT_EQ(bytes[1], msg::kError);

  auto hello_failed =
      MakeErrorReply(OfpError{err::kHelloFailed, err::kHelloIncompatible, "no common version"},
                     Hex("0100000800000003"));
  const auto& he = std::get<ErrorMsg>(hello_failed.body);
  EXPECT_EQ(std::string(he.data.begin(), he.data.end()), "no common version");
  EXPECT_EQ(hello_failed.xid, 3u);
}

// --- Malformed input: each gets the (type, code) a switch should answer. ---

std::vector<uint8_t> Oxm(uint8_t field, bool hasmask, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> out = {0x80, 0x00, static_cast<uint8_t>(field << 1 | (hasmask ? 1 : 0)),
                              static_cast<uint8_t>(payload.size())};
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}
std::vector<uint8_t> Cat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
const std::vector<uint8_t> kEthIp = Oxm(5, false, {0x08, 0x00});
const std::vector<uint8_t> kIpTcp = Oxm(10, false, {6});

void ExpectError(const std::vector<uint8_t>& bytes, uint16_t type, uint16_t code) {
  OfpError e = DecodeError(bytes);
  EXPECT_EQ(e.type, type) << e.detail;
  EXPECT_EQ(e.code, code) << e.detail << " (" << ErrorName(e.type, e.code) << ")";
  EXPECT_FALSE(e.detail.empty());
}

TEST(OfpCodecErrors, MatchProblems) {
  // Sanity: the builder makes a valid flow mod.
  ASSERT_TRUE(Decode(FlowModWithOxms(Cat({kEthIp, kIpTcp, Oxm(14, false, {0, 80})}))));
  // tcp_dst without ip_proto=6.
  ExpectError(FlowModWithOxms(Cat({kEthIp, Oxm(14, false, {0, 80})})), err::kBadMatch,
              err::kBadMatchBadPrereq);
  // ipv4_src with eth_type IPv6.
  ExpectError(FlowModWithOxms(Cat({Oxm(5, false, {0x86, 0xdd}), Oxm(11, false, {10, 0, 0, 1})})),
              err::kBadMatch, err::kBadMatchBadPrereq);
  // vlan_pcp without vlan_vid present.
  ExpectError(FlowModWithOxms(Oxm(7, false, {3})), err::kBadMatch, err::kBadMatchBadPrereq);
  ASSERT_TRUE(Decode(FlowModWithOxms(Cat({Oxm(6, false, {0x10, 0x05}), Oxm(7, false, {3})}))));
  // packet_type=(0,0), which ovs-ofctl adds to 'tcp_dst=80,actions=drop'
  // after dropping the field, means "Ethernet": accepted as match-all.
  auto ethernet = Decode(FlowModWithOxms({0x80, 0x00, 0x58, 0x04, 0, 0, 0, 0}));
  ASSERT_TRUE(ethernet) << ethernet.error().detail;
  EXPECT_TRUE(IsZero(std::get<FlowMod>(ethernet->body).match.mask));
  ExpectError(FlowModWithOxms({0x80, 0x00, 0x58, 0x04, 0, 1, 0x88, 0x47}), err::kBadMatch,
              err::kBadMatchBadValue);
  // Same field twice.
  ExpectError(FlowModWithOxms(Cat({kEthIp, kEthIp})), err::kBadMatch, err::kBadMatchDupField);
  // Unknown basic field (OXM_OF_MPLS_LABEL = 34) and unknown class.
  ExpectError(FlowModWithOxms(Oxm(34, false, {0, 0, 0, 1})), err::kBadMatch,
              err::kBadMatchBadField);
  ExpectError(FlowModWithOxms({0x00, 0x05, 0x02, 0x02, 0, 0}), err::kBadMatch,
              err::kBadMatchBadField);
  // eth_type cannot be masked.
  ExpectError(FlowModWithOxms(Oxm(5, true, {0x08, 0x00, 0xff, 0xff})), err::kBadMatch,
              err::kBadMatchBadMask);
  // Value bits outside the mask.
  ExpectError(FlowModWithOxms(Cat({kEthIp, Oxm(11, true, {10, 0, 0, 1, 255, 255, 255, 0})})),
              err::kBadMatch, err::kBadMatchBadWildcards);
  // VLAN PCP 8 does not fit 3 bits.
  ExpectError(FlowModWithOxms(Cat({Oxm(6, false, {0x10, 0x05}), Oxm(7, false, {8})})),
              err::kBadMatch, err::kBadMatchBadValue);
  // ARP opcode 256 does not fit the key.
  ExpectError(FlowModWithOxms(Cat({Oxm(5, false, {0x08, 0x06}), Oxm(21, false, {1, 0})})),
              err::kBadMatch, err::kBadMatchBadValue);
  // Wrong payload length for in_port.
  ExpectError(FlowModWithOxms(Oxm(0, false, {0, 1})), err::kBadMatch, err::kBadMatchBadLen);
  // OXM header claims more than the match holds.
  ExpectError(FlowModWithOxms({0x80, 0x00, 0x00, 0x20, 0, 0, 0, 1}), err::kBadMatch,
              err::kBadMatchBadLen);
  // Match type 0 (OpenFlow 1.1 standard match).
  auto std_match = FlowModWithOxms({});
  std_match[49] = 0;
  ExpectError(std_match, err::kBadMatch, err::kBadMatchBadType);
  // Match length beyond the message.
  auto long_match = FlowModWithOxms({});
  long_match[50] = 0x10;
  ExpectError(long_match, err::kBadMatch, err::kBadMatchBadLen);
}

TEST(OfpCodecErrors, ActionAndInstructionProblems) {
  std::vector<uint8_t> output2 = {0, 0, 0, 16, 0, 0, 0, 2, 0xff, 0xff, 0, 0, 0, 0, 0, 0};
  ASSERT_TRUE(Decode(FlowModWithInstructions(ApplyActionsInstruction(output2))));
  // GROUP action.
  ExpectError(FlowModWithInstructions(ApplyActionsInstruction({0, 22, 0, 8, 0, 0, 0, 1})),
              err::kBadAction, err::kBadActionBadType);
  // SET_QUEUE (21) and an unknown type.
  ExpectError(FlowModWithInstructions(ApplyActionsInstruction({0, 21, 0, 8, 0, 0, 0, 1})),
              err::kBadAction, err::kBadActionBadType);
  ExpectError(FlowModWithInstructions(ApplyActionsInstruction({0, 99, 0, 8, 0, 0, 0, 0})),
              err::kBadAction, err::kBadActionBadType);
  // A Nicira extension action (resubmit).
  ExpectError(FlowModWithInstructions(ApplyActionsInstruction(
                  {0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 0, 1, 0, 0, 0, 0, 0, 0})),
              err::kBadAction, err::kBadActionBadExpType);
  // Output to port 0 and to ANY.
  auto bad_port = output2;
  bad_port[7] = 0;
  ExpectError(FlowModWithInstructions(ApplyActionsInstruction(bad_port)), err::kBadAction,
              err::kBadActionBadOutPort);
  // Output to TABLE is for packet-out only.
  auto table = output2;
  table[4] = table[5] = table[6] = 0xff;
  table[7] = 0xf9;
  ExpectError(FlowModWithInstructions(ApplyActionsInstruction(table)), err::kBadAction,
              err::kBadActionBadOutPort);
  // Action length not a multiple of 8 / beyond the instruction.
  ExpectError(FlowModWithInstructions(ApplyActionsInstruction({0, 18, 0, 12, 0, 0, 0, 0})),
              err::kBadAction, err::kBadActionBadLen);
  // Masked set-field, unknown set-field, bad push_vlan ethertype.
  ExpectError(FlowModWithInstructions(
                  ApplyActionsInstruction({0, 25, 0, 16, 0x80, 0, 0, 2, 0, 1, 0, 0, 0, 0, 0, 0})),
              err::kBadAction, err::kBadActionBadSetLen);
  ExpectError(FlowModWithInstructions(ApplyActionsInstruction(
                  Cat({{0, 25, 0, 16}, Oxm(2, true, {0, 0, 0, 1}), {0, 0, 0, 0}}))),
              err::kBadAction, err::kBadActionBadSetLen);
  ExpectError(FlowModWithInstructions(ApplyActionsInstruction(
                  Cat({{0, 25, 0, 16}, Oxm(12, true, {10, 0, 0, 1, 255, 0, 0, 0})}))),
              err::kBadAction, err::kBadActionBadSetArgument);
  ExpectError(FlowModWithInstructions(ApplyActionsInstruction(
                  Cat({{0, 25, 0, 16}, Oxm(34, false, {0, 0, 0, 1}), {0, 0, 0, 0}}))),
              err::kBadAction, err::kBadActionBadSetType);
  ExpectError(FlowModWithInstructions(ApplyActionsInstruction({0, 17, 0, 8, 0x08, 0x00, 0, 0})),
              err::kBadAction, err::kBadActionBadArgument);
  // goto_table backwards, and to a table that does not exist.
  ExpectError(FlowModWithInstructions({0, 1, 0, 8, 2, 0, 0, 0}, 5), err::kBadInstruction,
              err::kBadInstructionBadTableId);
  ExpectError(FlowModWithInstructions({0, 1, 0, 8, 254, 0, 0, 0}, 5), err::kBadInstruction,
              err::kBadInstructionBadTableId);
  // Meter, unknown instruction, bad instruction length, duplicate instruction.
  ExpectError(FlowModWithInstructions({0, 6, 0, 8, 0, 0, 0, 1}), err::kBadInstruction,
              err::kBadInstructionUnsupInst);
  ExpectError(FlowModWithInstructions({0, 9, 0, 8, 0, 0, 0, 1}), err::kBadInstruction,
              err::kBadInstructionUnknownInst);
  ExpectError(FlowModWithInstructions({0, 2, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
              err::kBadInstruction, err::kBadInstructionBadLen);
  ExpectError(FlowModWithInstructions({0, 5, 0, 8, 0, 0, 0, 0, 0, 5, 0, 8, 0, 0, 0, 0}),
              err::kBadInstruction, err::kBadInstructionUnsupInst);
  ExpectError(FlowModWithInstructions({0, 5, 0, 8, 0, 0, 0}), err::kBadInstruction,
              err::kBadInstructionBadLen);
}

TEST(OfpCodecErrors, MessageProblems) {
  auto fm = Hex(kOvsFlowMod);
  // Truncated everywhere: never accepted, never a crash.
  for (size_t n = 0; n < fm.size(); ++n) {
    std::vector<uint8_t> cut(fm.begin(), fm.begin() + n);
    if (n >= 4) {
      cut[2] = static_cast<uint8_t>(n >> 8);
      cut[3] = static_cast<uint8_t>(n);
    }
    auto d = Decode(cut);
    // Cutting between whole instructions leaves a valid, shorter flow mod
    // (the match ends at 112; apply, write, metadata end at 200, 216, 240).
    bool boundary = n == 112 || n == 200 || n == 216 || n == 240;
    EXPECT_EQ(d.has_value(), boundary) << "flow mod cut to " << n << " bytes";
  }
  // Header length disagreeing with the buffer.
  auto lying = fm;
  lying[3] ^= 8;
  ExpectError(lying, err::kBadRequest, err::kBadRequestBadLen);
  // A short FLOW_MOD body.
  ExpectError(Hex("040e0010000000010000000000000000"), err::kBadRequest, err::kBadRequestBadLen);
  // A barrier with a body.
  ExpectError(Hex("0414000c0000000100000000"), err::kBadRequest, err::kBadRequestBadLen);
  // OpenFlow 1.0 flow mod.
  auto v10 = fm;
  v10[0] = 1;
  ExpectError(v10, err::kBadRequest, err::kBadRequestBadVersion);
  // Unsupported and unknown types.
  ExpectError(Hex("0410000800000001"), err::kBadRequest, err::kBadRequestBadType);  // PORT_MOD
  ExpectError(Hex("040f000800000001"), err::kBadRequest, err::kBadRequestBadLen);   // GROUP_MOD
  ExpectError(Hex("0463000800000001"), err::kBadRequest, err::kBadRequestBadType);
  // A Nicira message hsw does not serve (subtype 10), and an unknown experimenter.
  ExpectError(Hex("0404001000000001000023200000000a"), err::kBadRequest,
              err::kBadRequestBadExpType);
  ExpectError(Hex("0404001000000001000023210000000a"), err::kBadRequest,
              err::kBadRequestBadExperimenter);
  // Unsupported flow mod command / flags / table.
  auto cmd = fm;
  cmd[25] = 7;
  ExpectError(cmd, err::kFlowModFailed, err::kFlowModBadCommand);
  auto flags = fm;
  flags[44] = 0x80;
  ExpectError(flags, err::kFlowModFailed, err::kFlowModBadFlags);
  auto table = fm;
  table[24] = 0xff;
  ExpectError(table, err::kFlowModFailed, err::kFlowModBadTableId);
  // Multipart: a GROUP_DESC request has no body; GROUP (6) is not supported.
  ExpectError(Hex("0412001100000001000700000000000000"), err::kBadRequest, err::kBadRequestBadLen);
  ExpectError(Hex("04120010000000010006000000000000"), err::kBadRequest,
              err::kBadRequestBadMultipart);
  ExpectError(Hex("0412001800000001000c0000000000000000000000000000"), err::kTableFeaturesFailed,
              err::kTableFeaturesEperm);
  // Bad role.
  ExpectError(Hex("04180018000000010000000900000000000000000000000000"), err::kBadRequest,
              err::kBadRequestBadLen);
  ExpectError(Hex("041800180000000100000009000000000000000000000000"), err::kRoleRequestFailed,
              err::kRoleRequestBadRole);
  // PACKET_OUT whose actions_len overruns.
  ExpectError(Hex("040d001800000001fffffffffffffffd0020000000000000"), err::kBadRequest,
              err::kBadRequestBadLen);
}

TEST(OfpCodecErrors, RandomMutationsNeverCrash) {
  // Valid messages of every kind, then byte flips, truncations and
  // extensions; Decode must return (success or error) every time, and a
  // successful decode must re-encode.
  std::vector<std::vector<uint8_t>> seeds = {Hex(kOvsFlowMod), Hex(kOvsDumpFlows)};
  PacketIn pi;
  SetExact(pi.match, FieldId::kInPort, 1);
  pi.data = {1, 2, 3};
  seeds.push_back(Encode(OfpMessage{kVersion13, 1, pi}));
  seeds.push_back(Encode(OfpMessage{kVersion13, 1, MultipartReply{0, HswTableFeatures()}}, 4000));
  seeds.back().resize(4000);
  seeds.back()[2] = 4000 >> 8;
  seeds.back()[3] = 4000 & 0xff;
  std::mt19937 rng(12345);
  int accepted = 0;
  for (int iter = 0; iter < 200000; ++iter) {
    auto bytes = seeds[iter % seeds.size()];
    int n_flips = 1 + rng() % 4;
    for (int i = 0; i < n_flips; ++i) bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0) bytes.resize(rng() % (bytes.size() + 16));
    if (bytes.size() >= 4) {
      bytes[2] = static_cast<uint8_t>(bytes.size() >> 8);
      bytes[3] = static_cast<uint8_t>(bytes.size());
    }
    auto d = Decode(bytes);
    if (d) {
      ++accepted;
      auto again = Decode(Encode(*d));
      EXPECT_TRUE(again.has_value()) << FormatMessage(*d);
    }
  }
  EXPECT_GT(accepted, 0);
}

TEST(OfpCodec, OnfBundlesAsOvsOfctlSendsThem) {
  // `ovs-ofctl -O OpenFlow13 --bundle add-flows`: OPEN_REQUEST, atomic|ordered.
  auto open = Decode(Hex("04040018000000084f4e4600000008fc0000000000000003"));
  ASSERT_TRUE(open) << open.error().detail;
  const auto& bc = std::get<BundleControl>(open->body);
  EXPECT_EQ(bc.type, bundle::kOpenRequest);
  EXPECT_EQ(bc.flags, bundle::kFlagAtomic | bundle::kFlagOrdered);
  EXPECT_EQ(Encode(*open), Hex("04040018000000084f4e4600000008fc0000000000000003"));
  auto reply = RoundTrip(OfpMessage{kVersion13, 8, BundleControl{0, bundle::kOpenReply, 3}});
  EXPECT_EQ(std::get<BundleControl>(reply.body).type, bundle::kOpenReply);

  auto inner = Hex(kOvsFlowMod);
  auto add = RoundTrip(OfpMessage{kVersion13, 6, BundleAdd{0, 3, inner}});
  EXPECT_EQ(std::get<BundleAdd>(add.body).message, inner);
  // A bundled message whose length overruns the add message.
  auto bad = Encode(OfpMessage{kVersion13, 6, BundleAdd{0, 3, Hex("0414000800000001")}});
  bad[bad.size() - 5] = 0x40;
  ExpectError(bad, bundle::kErrorTypeExperimenter, bundle::kErrMsgBadLen);
  // Unknown control type, unknown ONF message.
  ExpectError(Hex("04040018000000084f4e4600000008fc0000000000090003"),
              bundle::kErrorTypeExperimenter, bundle::kErrBadType);
  ExpectError(Hex("04040010000000084f4e4600000008ff"), err::kBadRequest,
              err::kBadRequestBadExpType);
  // Bundle errors are experimenter errors carrying the ONF id.
  auto e = MakeErrorReply(OfpError{bundle::kErrorTypeExperimenter, bundle::kErrBadId, "x"},
                          Hex("0414000800000005"));
  auto bytes = Encode(e);
  EXPECT_EQ(bytes, Hex("0401001800000005ffff08fe4f4e46000414000800000005"));
  EXPECT_EQ(ErrorName(0xffff, 2302), "OFPBFC_BAD_ID");
}

TEST(OfpCodec, FormatAndNames) {
  auto d = Decode(Hex(kOvsFlowMod));
  ASSERT_TRUE(d);
  std::string line = FormatMessage(*d);
  EXPECT_NE(line.find("FLOW_MOD"), std::string::npos) << line;
  EXPECT_NE(line.find("add"), std::string::npos) << line;
  EXPECT_NE(line.find("priority=100"), std::string::npos) << line;
  EXPECT_EQ(ErrorName(4, 9), "OFPBMC_BAD_PREREQ");
  EXPECT_EQ(ErrorName(3, 7), "OFPBIC_BAD_LEN");
  EXPECT_EQ(ErrorName(77, 1), "type 77 code 1");
  EXPECT_STREQ(MessageTypeName(msg::kBarrierReply), "BARRIER_REPLY");
}

}  // namespace
}  // namespace hsw::ofp
