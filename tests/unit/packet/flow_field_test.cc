#include "packet/flow_field.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <set>
#include <string>

namespace hsw {
namespace {

FieldValue Bytes(std::initializer_list<uint8_t> b) {
  FieldValue v;
  v.size = static_cast<uint8_t>(b.size());
  size_t i = 0;
  for (uint8_t x : b) v.bytes[i++] = x;
  return v;
}

TEST(FieldValue, UintRoundTripIsBigEndian) {
  FieldValue v = FieldValue::FromUint(0x0800, 2);
  EXPECT_EQ(v.size, 2);
  EXPECT_EQ(v.bytes[0], 0x08);
  EXPECT_EQ(v.bytes[1], 0x00);
  EXPECT_EQ(v.ToUint(), 0x0800u);
  FieldValue w = FieldValue::FromUint(0x0102030405060708ull, 8);
  EXPECT_EQ(w.bytes[0], 0x01);
  EXPECT_EQ(w.bytes[7], 0x08);
  EXPECT_EQ(w.ToUint(), 0x0102030405060708ull);
  EXPECT_EQ(FieldValue::FromUint(5, 1).bytes[0], 5);
}

TEST(FieldTable, IndexedByIdWithUniqueNamesAndOxm) {
  std::set<std::string> names;
  std::set<int> oxms;
  for (size_t i = 0; i < kNumFields; ++i) {
    const FieldInfo& f = GetFieldInfo(static_cast<FieldId>(i));
    EXPECT_EQ(static_cast<size_t>(f.id), i);
    EXPECT_TRUE(names.insert(f.name).second) << f.name;
    if (f.oxm_field >= 0) {
      EXPECT_TRUE(oxms.insert(f.oxm_field).second) << f.name;
    }
    EXPECT_LE(f.n_bits, f.size * 8) << f.name;
    EXPECT_LE(f.key_offset + f.key_size, sizeof(FlowKey)) << f.name;
    // Every field's lookups by both names land on itself.
    EXPECT_EQ(FindField(f.name), &f) << f.name;
    EXPECT_EQ(FindField(f.oxm_name), &f) << f.oxm_name;
    if (f.oxm_field >= 0) {
      EXPECT_EQ(FindFieldByOxm(f.oxm_field), &f);
    }
  }
}

TEST(FieldTable, OxmNumbersFollowOpenFlow13) {
  struct {
    FieldId id;
    int oxm;
  } expected[] = {
      {FieldId::kInPort, 0},      {FieldId::kMetadata, 2},    {FieldId::kEthDst, 3},
      {FieldId::kEthSrc, 4},      {FieldId::kEthType, 5},     {FieldId::kVlanVid, 6},
      {FieldId::kVlanPcp, 7},     {FieldId::kIpDscp, 8},      {FieldId::kIpEcn, 9},
      {FieldId::kIpProto, 10},    {FieldId::kIpv4Src, 11},    {FieldId::kIpv4Dst, 12},
      {FieldId::kTcpSrc, 13},     {FieldId::kTcpDst, 14},     {FieldId::kUdpSrc, 15},
      {FieldId::kUdpDst, 16},     {FieldId::kSctpSrc, 17},    {FieldId::kSctpDst, 18},
      {FieldId::kIcmpv4Type, 19}, {FieldId::kIcmpv4Code, 20}, {FieldId::kArpOp, 21},
      {FieldId::kArpSpa, 22},     {FieldId::kArpTpa, 23},     {FieldId::kArpSha, 24},
      {FieldId::kArpTha, 25},     {FieldId::kIpv6Src, 26},    {FieldId::kIpv6Dst, 27},
      {FieldId::kIcmpv6Type, 29}, {FieldId::kIcmpv6Code, 30}, {FieldId::kIpTtl, -1},
      {FieldId::kTcpFlags, -1},
  };
  for (auto& e : expected)
    EXPECT_EQ(GetFieldInfo(e.id).oxm_field, e.oxm) << GetFieldInfo(e.id).name;
  EXPECT_EQ(FindFieldByOxm(28), nullptr);  // IPV6_FLABEL: not supported
  EXPECT_EQ(FindFieldByOxm(-1), nullptr);
  EXPECT_EQ(FindFieldByOxm(1), nullptr);  // IN_PHY_PORT
}

TEST(FieldTable, FindsOvsOfctlAndOxmNames) {
  struct {
    const char* name;
    FieldId id;
  } cases[] = {
      {"dl_src", FieldId::kEthSrc},          {"eth_src", FieldId::kEthSrc},
      {"dl_dst", FieldId::kEthDst},          {"eth_dst", FieldId::kEthDst},
      {"dl_type", FieldId::kEthType},        {"eth_type", FieldId::kEthType},
      {"dl_vlan", FieldId::kVlanVid},        {"vlan_vid", FieldId::kVlanVid},
      {"dl_vlan_pcp", FieldId::kVlanPcp},    {"vlan_pcp", FieldId::kVlanPcp},
      {"nw_src", FieldId::kIpv4Src},         {"ipv4_src", FieldId::kIpv4Src},
      {"nw_dst", FieldId::kIpv4Dst},         {"ipv4_dst", FieldId::kIpv4Dst},
      {"nw_proto", FieldId::kIpProto},       {"ip_proto", FieldId::kIpProto},
      {"nw_tos", FieldId::kIpDscp},          {"ip_dscp", FieldId::kIpDscp},
      {"nw_ecn", FieldId::kIpEcn},           {"ip_ecn", FieldId::kIpEcn},
      {"nw_ttl", FieldId::kIpTtl},           {"tp_src", FieldId::kTcpSrc},
      {"tp_dst", FieldId::kTcpDst},          {"tcp_src", FieldId::kTcpSrc},
      {"udp_dst", FieldId::kUdpDst},         {"sctp_src", FieldId::kSctpSrc},
      {"icmp_type", FieldId::kIcmpv4Type},   {"icmpv4_code", FieldId::kIcmpv4Code},
      {"icmpv6_type", FieldId::kIcmpv6Type}, {"icmpv6_code", FieldId::kIcmpv6Code},
      {"arp_op", FieldId::kArpOp},           {"arp_spa", FieldId::kArpSpa},
      {"arp_tpa", FieldId::kArpTpa},         {"arp_sha", FieldId::kArpSha},
      {"arp_tha", FieldId::kArpTha},         {"ipv6_src", FieldId::kIpv6Src},
      {"ipv6_dst", FieldId::kIpv6Dst},       {"metadata", FieldId::kMetadata},
      {"in_port", FieldId::kInPort},         {"tcp_flags", FieldId::kTcpFlags},
  };
  for (auto& c : cases) {
    const FieldInfo* f = FindField(c.name);
    ASSERT_NE(f, nullptr) << c.name;
    EXPECT_EQ(f->id, c.id) << c.name;
  }
  EXPECT_EQ(FindField(""), nullptr);
  EXPECT_EQ(FindField("nw_srcx"), nullptr);
  EXPECT_EQ(FindField("nw_sr"), nullptr);
  EXPECT_EQ(FindField("NW_SRC"), nullptr);
}

TEST(FieldTable, Prerequisites) {
  const FieldInfo& tcp = GetFieldInfo(FieldId::kTcpSrc);
  EXPECT_EQ(tcp.prereq_eth_type, 0x0800);
  EXPECT_EQ(tcp.prereq_eth_type2, 0x86dd);
  EXPECT_EQ(tcp.prereq_nw_proto, 6);
  EXPECT_EQ(GetFieldInfo(FieldId::kUdpDst).prereq_nw_proto, 17);
  EXPECT_EQ(GetFieldInfo(FieldId::kSctpDst).prereq_nw_proto, 132);
  EXPECT_EQ(GetFieldInfo(FieldId::kIcmpv4Type).prereq_nw_proto, 1);
  EXPECT_EQ(GetFieldInfo(FieldId::kIcmpv4Type).prereq_eth_type2, 0);
  EXPECT_EQ(GetFieldInfo(FieldId::kIcmpv6Code).prereq_eth_type, 0x86dd);
  EXPECT_EQ(GetFieldInfo(FieldId::kIcmpv6Code).prereq_nw_proto, 58);
  EXPECT_EQ(GetFieldInfo(FieldId::kArpTpa).prereq_eth_type, 0x0806);
  EXPECT_EQ(GetFieldInfo(FieldId::kIpv4Dst).prereq_eth_type, 0x0800);
  EXPECT_EQ(GetFieldInfo(FieldId::kIpv4Dst).prereq_eth_type2, 0);
  EXPECT_EQ(GetFieldInfo(FieldId::kIpv6Src).prereq_eth_type, 0x86dd);
  EXPECT_EQ(GetFieldInfo(FieldId::kIpProto).prereq_nw_proto, -1);
  EXPECT_EQ(GetFieldInfo(FieldId::kEthDst).prereq_eth_type, 0);
  EXPECT_EQ(GetFieldInfo(FieldId::kInPort).prereq_nw_proto, -1);
}

TEST(FieldAccess, IntegerFieldsConvertByteOrder) {
  FlowKey key = FlowKey::Zero();
  key.eth_type = 0x86dd;
  key.in_port = 0x01020304;
  key.metadata = 0x1122334455667788ull;
  key.tp_src = 443;
  EXPECT_EQ(ReadField(key, FieldId::kEthType), Bytes({0x86, 0xdd}));
  EXPECT_EQ(ReadField(key, FieldId::kInPort), Bytes({1, 2, 3, 4}));
  EXPECT_EQ(ReadField(key, FieldId::kMetadata),
            Bytes({0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}));
  EXPECT_EQ(ReadField(key, FieldId::kTcpSrc).ToUint(), 443u);
  EXPECT_EQ(ReadField(key, FieldId::kUdpSrc).ToUint(), 443u);  // shared storage

  FlowKey k2 = FlowKey::Zero();
  WriteField(k2, FieldId::kEthType, Bytes({0x08, 0x06}));
  EXPECT_EQ(k2.eth_type, 0x0806);
  WriteField(k2, FieldId::kUdpDst, FieldValue::FromUint(53, 2));
  EXPECT_EQ(k2.tp_dst, 53);
}

TEST(FieldAccess, SubFieldsOfVlanTciAndTos) {
  FlowKey key = FlowKey::Zero();
  key.vlan_tci = static_cast<uint16_t>((5 << 13) | kVlanCfi | 100);
  EXPECT_EQ(ReadField(key, FieldId::kVlanVid).ToUint(), 0x1000u | 100);
  EXPECT_EQ(ReadField(key, FieldId::kVlanPcp), Bytes({5}));

  WriteField(key, FieldId::kVlanPcp, FieldValue::FromUint(2, 1));
  EXPECT_EQ(key.vlan_tci, (2 << 13) | kVlanCfi | 100);
  WriteField(key, FieldId::kVlanVid, FieldValue::FromUint(0x1000 | 7, 2));
  EXPECT_EQ(key.vlan_tci, (2 << 13) | kVlanCfi | 7);

  key.nw_tos = 0xb9;  // DSCP 46, ECN 1
  EXPECT_EQ(ReadField(key, FieldId::kIpDscp).ToUint(), 46u);
  EXPECT_EQ(ReadField(key, FieldId::kIpEcn).ToUint(), 1u);
  WriteField(key, FieldId::kIpEcn, FieldValue::FromUint(3, 1));
  EXPECT_EQ(key.nw_tos, 0xbb);
  WriteField(key, FieldId::kIpDscp, FieldValue::FromUint(10, 1));
  EXPECT_EQ(key.nw_tos, (10 << 2) | 3);
  // Out-of-range values are cut to the field's bits, never spill into neighbours.
  WriteField(key, FieldId::kIpEcn, FieldValue::FromUint(0xff, 1));
  EXPECT_EQ(key.nw_tos, (10 << 2) | 3);
}

TEST(FieldAccess, ArpSharesIpv4AndNwProto) {
  FlowKey key = FlowKey::Zero();
  WriteField(key, FieldId::kArpOp, FieldValue::FromUint(2, 2));
  EXPECT_EQ(key.nw_proto, 2);
  WriteField(key, FieldId::kArpSpa, Bytes({10, 0, 0, 1}));
  EXPECT_EQ(key.ipv4_src[0], 10);
  EXPECT_EQ(key.ipv4_src[3], 1);
  EXPECT_EQ(ReadField(key, FieldId::kIpv4Src), Bytes({10, 0, 0, 1}));
  WriteField(key, FieldId::kArpTha, Bytes({1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(key.arp_tha[5], 6);
  EXPECT_EQ(ReadField(key, FieldId::kArpOp), Bytes({0, 2}));
}

TEST(FieldAccess, MaskedWriteKeepsUnmaskedBits) {
  FlowKey key = FlowKey::Zero();
  std::memset(key.ipv4_dst, 0xff, 4);
  FieldValue mask = Bytes({0xff, 0xff, 0xff, 0});
  WriteField(key, FieldId::kIpv4Dst, Bytes({10, 1, 2, 3}), &mask);
  EXPECT_EQ(ReadField(key, FieldId::kIpv4Dst), Bytes({10, 1, 2, 0xff}));

  key.tp_src = 0xffff;
  FieldValue pmask = FieldValue::FromUint(0xff00, 2);
  WriteField(key, FieldId::kTcpSrc, FieldValue::FromUint(0x1234, 2), &pmask);
  EXPECT_EQ(key.tp_src, 0x12ff);

  FieldValue empty;  // size 0 = all ones
  WriteField(key, FieldId::kTcpSrc, FieldValue::FromUint(7, 2), &empty);
  EXPECT_EQ(key.tp_src, 7);
}

TEST(FieldMask, SetZeroExact) {
  FlowKey mask = FlowKey::Zero();
  for (size_t i = 0; i < kNumFields; ++i) {
    EXPECT_TRUE(FieldMaskIsZero(mask, static_cast<FieldId>(i)));
    EXPECT_FALSE(FieldMaskIsExact(mask, static_cast<FieldId>(i)));
  }
  SetFieldMask(mask, FieldId::kVlanPcp);
  EXPECT_EQ(mask.vlan_tci, 0xe000);
  EXPECT_TRUE(FieldMaskIsExact(mask, FieldId::kVlanPcp));
  EXPECT_TRUE(FieldMaskIsZero(mask, FieldId::kVlanVid));
  FieldValue vid_mask = FieldValue::FromUint(0x1000, 2);
  SetFieldMask(mask, FieldId::kVlanVid, &vid_mask);
  EXPECT_EQ(mask.vlan_tci, 0xf000);
  EXPECT_FALSE(FieldMaskIsZero(mask, FieldId::kVlanVid));
  EXPECT_FALSE(FieldMaskIsExact(mask, FieldId::kVlanVid));
  // Replacing a field's mask leaves the neighbour's bits.
  SetFieldMask(mask, FieldId::kVlanVid);
  EXPECT_EQ(mask.vlan_tci, 0xffff);
  FieldValue none = FieldValue::FromUint(0, 2);
  SetFieldMask(mask, FieldId::kVlanVid, &none);
  EXPECT_EQ(mask.vlan_tci, 0xe000);

  FieldValue prefix = Bytes({0xff, 0xff, 0xff, 0x00});
  SetFieldMask(mask, FieldId::kIpv4Src, &prefix);
  EXPECT_FALSE(FieldMaskIsZero(mask, FieldId::kIpv4Src));
  EXPECT_FALSE(FieldMaskIsExact(mask, FieldId::kIpv4Src));
  EXPECT_EQ(ReadField(mask, FieldId::kIpv4Src), prefix);
  SetFieldMask(mask, FieldId::kIpv6Dst);
  EXPECT_TRUE(FieldMaskIsExact(mask, FieldId::kIpv6Dst));
  EXPECT_TRUE(FieldMaskIsZero(mask, FieldId::kIpv6Src));
  // ARP opcode: only nw_proto's 8 bits exist, and covering them is exact.
  SetFieldMask(mask, FieldId::kArpOp);
  EXPECT_EQ(mask.nw_proto, 0xff);
  EXPECT_TRUE(FieldMaskIsExact(mask, FieldId::kArpOp));
  EXPECT_TRUE(FieldMaskIsExact(mask, FieldId::kIpProto));  // same storage
}

// Random writes through the accessors match a direct model on the FlowKey,
// and touch no byte outside the field's storage.
TEST(FieldAccess, RandomWritesTouchOnlyTheField) {
  std::mt19937_64 rng(42);
  for (int iter = 0; iter < 2000; ++iter) {
    FieldId id = static_cast<FieldId>(rng() % kNumFields);
    const FieldInfo& f = GetFieldInfo(id);
    FlowKey key;
    for (size_t w = 0; w < FlowKey::kWords; ++w) SetKeyWord(key, w, rng());
    FlowKey before = key;
    FieldValue v, m;
    v.size = m.size = f.size;
    for (size_t i = 0; i < f.size; ++i) {
      v.bytes[i] = static_cast<uint8_t>(rng());
      m.bytes[i] = static_cast<uint8_t>(rng());
    }
    WriteField(key, id, v, &m);
    const auto* a = reinterpret_cast<const uint8_t*>(&before);
    const auto* b = reinterpret_cast<const uint8_t*>(&key);
    for (size_t i = 0; i < sizeof(FlowKey); ++i) {
      if (i < f.key_offset || i >= size_t(f.key_offset) + f.key_size) {
        ASSERT_EQ(a[i], b[i]) << f.name << " wrote byte " << i;
      }
    }
    // Reading back gives (old & ~mask) | (value & mask), in the field's bits.
    FieldValue old = ReadField(before, id);
    FieldValue now = ReadField(key, id);
    FieldValue bitsmask;
    FlowKey ones = FlowKey::Ones();
    bitsmask = ReadField(ones, id);
    for (size_t i = 0; i < f.size; ++i) {
      uint8_t expect = static_cast<uint8_t>(
          ((old.bytes[i] & ~m.bytes[i]) | (v.bytes[i] & m.bytes[i])) & bitsmask.bytes[i]);
      ASSERT_EQ(now.bytes[i], expect) << f.name << " byte " << i;
    }
  }
}

}  // namespace
}  // namespace hsw
