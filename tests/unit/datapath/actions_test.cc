#include "datapath/actions.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "../packet/test_frames.h"
#include "packet/checksum.h"
#include "packet/flow_extract.h"

namespace hsw::dp {
namespace {

using namespace hsw::testing;

struct Sent {
  uint32_t port;
  Bytes bytes;
  bool referenced;
  bool csum_partial;
};

class RecordingSink : public OutputSink {
 public:
  void Output(uint32_t port, const Packet& p, bool may_reference) override {
    sent.push_back({port, Bytes(p.data, p.data + p.size), may_reference, p.csum_partial});
  }
  void Userspace(const Packet& p, std::span<const uint8_t> userdata) override {
    upcalls.push_back({Bytes(p.data, p.data + p.size), Bytes(userdata.begin(), userdata.end())});
  }
  std::vector<Sent> sent;
  std::vector<std::pair<Bytes, Bytes>> upcalls;
};

// Runs actions on a copy of `frame` with 64 bytes of headroom.
struct Runner {
  Bytes buffer;
  Packet packet;
  FlowKey key;
  HeaderOffsets offsets;
  RecordingSink sink;
  ActionCounters counters;

  explicit Runner(const Bytes& frame, size_t headroom = 64) {
    buffer.assign(headroom, 0);
    buffer.insert(buffer.end(), frame.begin(), frame.end());
    packet.data = buffer.data() + headroom;
    packet.size = static_cast<uint32_t>(frame.size());
    packet.headroom = static_cast<uint32_t>(headroom);
    ExtractFlow(packet.data, packet.size, 1, &key, &offsets);
  }
  void Run(const DpActions& actions) {
    ExecuteActions(actions, packet, key, offsets, sink, counters);
  }
  Bytes Now() const { return Bytes(packet.data, packet.data + packet.size); }
};

DpSetMasked SetIpv4Dst(const uint8_t ip[4]) {
  DpSetMasked s{FlowKey::Zero(), FlowKey::Zero()};
  std::memcpy(s.value.ipv4_dst, ip, 4);
  std::memset(s.mask.ipv4_dst, 0xff, 4);
  return s;
}

TEST(Actions, OutputAndReferenceRule) {
  Bytes f = Cat(Eth(0x0800), Ipv4(17, Udp(1, 2)));
  Runner r(f);
  const uint8_t ip[4] = {192, 168, 1, 1};
  r.Run({DpOutput{2}, SetIpv4Dst(ip), DpOutput{3}, DpOutput{4}});
  ASSERT_EQ(r.sink.sent.size(), 3u);
  EXPECT_EQ(r.sink.sent[0].bytes, f);          // before the rewrite
  EXPECT_FALSE(r.sink.sent[0].referenced);     // its bytes change afterwards
  EXPECT_TRUE(r.sink.sent[1].referenced);
  EXPECT_TRUE(r.sink.sent[2].referenced);
  EXPECT_EQ(r.sink.sent[1].bytes[14 + 16], 192);
}

// Every settable field, on TCP, UDP and ICMP over IPv4 and IPv6: after the
// rewrite the fields read back as set and every checksum verifies when
// recomputed from scratch.
TEST(Actions, SetFieldsKeepChecksumsRight) {
  std::mt19937 rng(3);
  std::vector<Bytes> frames = {
      Cat(Eth(0x0800), Ipv4(6, Tcp(1000, 80, 0x18, 33))),
      Cat(Eth(0x0800), Ipv4(17, Udp(5000, 53, 21))),
      Cat(Eth(0x0800), Ipv4(1, Icmp(8, 0))),
      Cat(Eth(0x86dd), Ipv6(6, Tcp(1000, 80, 0x18, 10))),
      Cat(Eth(0x86dd), Ipv6(17, Udp(5000, 53, 7))),
      Cat(Eth(0x86dd), Ipv6(58, Icmp(128, 0))),
      Cat(Eth(0x0800, EthOpts{kMacA, kMacB, {{0x8100, 10}}}), Ipv4(17, Udp(1, 2, 3))),
  };
  for (int iter = 0; iter < 300; ++iter) {
    const Bytes& f = frames[iter % frames.size()];
    Runner r(f);
    DpSetMasked s{FlowKey::Zero(), FlowKey::Zero()};
    auto rnd = [&](uint8_t* p, size_t n) {
      for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(rng());
    };
    rnd(s.value.eth_src, 6);
    std::memset(s.mask.eth_src, 0xff, 6);
    if (rng() % 2) {
      rnd(s.value.ipv4_src, 4);
      rnd(s.mask.ipv4_src, 4);  // random partial masks too
      rnd(s.value.ipv4_dst, 4);
      std::memset(s.mask.ipv4_dst, 0xff, 4);
      rnd(s.value.ipv6_src, 16);
      std::memset(s.mask.ipv6_src, 0xff, 16);
      rnd(s.value.ipv6_dst, 16);
      rnd(s.mask.ipv6_dst, 16);
    }
    s.value.nw_tos = static_cast<uint8_t>(rng());
    s.mask.nw_tos = 0xfc;
    s.value.nw_ttl = static_cast<uint8_t>(rng());
    s.mask.nw_ttl = 0xff;
    s.value.tp_src = static_cast<uint16_t>(rng());
    s.mask.tp_src = 0xffff;
    s.value.tp_dst = static_cast<uint16_t>(rng());
    s.mask.tp_dst = static_cast<uint16_t>(rng());
    if (r.key.nw_proto == 1 || r.key.nw_proto == 58) {
      s.mask.tp_src = 0xff;
      s.mask.tp_dst = 0xff;
    }
    s.value.vlan_tci = static_cast<uint16_t>(rng());
    s.mask.vlan_tci = 0x0fff;
    ASSERT_EQ(ValidateActions({s}), "");
    r.Run({s, DpOutput{2}});
    ASSERT_EQ(r.sink.sent.size(), 1u);
    const Bytes& out = r.sink.sent[0].bytes;
    ASSERT_EQ(VerifyChecksums(out), "") << "iteration " << iter;
    FlowKey after;
    ExtractFlow(out.data(), out.size(), 1, &after);
    FlowKey want = r.key;
    // want = (key & ~mask) | (value & mask), field by field, via words.
    for (size_t w = 0; w < FlowKey::kWords; ++w) {
      uint64_t m = KeyWord(s.mask, w);
      SetKeyWord(want, w, (KeyWord(r.key, w) & ~m) | (KeyWord(s.value, w) & m));
    }
    // Fields the packet lacks stay as they were (zero).
    if (r.key.eth_type == kEthTypeIpv4) {
      std::memset(want.ipv6_src, 0, 16);
      std::memset(want.ipv6_dst, 0, 16);
    } else {
      std::memset(want.ipv4_src, 0, 4);
      std::memset(want.ipv4_dst, 0, 4);
    }
    if (!r.key.vlan_tci) {
      want.vlan_tci = 0;
    } else {
      want.vlan_tci |= kVlanCfi;
    }
    if (r.key.nw_proto == 1 || r.key.nw_proto == 58) {
      want.tp_src &= 0xff;
      want.tp_dst &= 0xff;
    }
    ASSERT_EQ(FormatDpKey(after), FormatDpKey(want)) << "iteration " << iter;
  }
}

TEST(Actions, UdpZeroChecksumStaysZero) {
  Bytes f = Cat(Eth(0x0800), Ipv4(17, Udp(1, 2)));
  f[14 + 20 + 6] = f[14 + 20 + 7] = 0;  // "no checksum" is legal for UDP over IPv4
  Runner r(f);
  const uint8_t ip[4] = {1, 2, 3, 4};
  r.Run({SetIpv4Dst(ip), DpOutput{1}});
  EXPECT_EQ(Get16(r.sink.sent[0].bytes, 14 + 20 + 6), 0);
  EXPECT_EQ(VerifyChecksums(r.sink.sent[0].bytes), "");
}

TEST(Actions, SctpCrcIsRecomputed) {
  Bytes sctp = {0x13, 0x88, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0};
  sctp.insert(sctp.end(), {0, 0, 0, 8, 1, 2, 3, 4});
  uint32_t crc = SctpCrc32c(sctp.data(), sctp.size());
  std::memcpy(sctp.data() + 8, &crc, 4);
  Runner r(Cat(Eth(0x0800), Ipv4(132, sctp)));
  EXPECT_EQ(r.key.tp_src, 5000);
  DpSetMasked s{FlowKey::Zero(), FlowKey::Zero()};
  s.value.tp_dst = 8080;
  s.mask.tp_dst = 0xffff;
  r.Run({s, DpOutput{1}});
  Bytes out = r.sink.sent[0].bytes;
  Bytes l4(out.begin() + 34, out.end());
  uint32_t stored;
  std::memcpy(&stored, l4.data() + 8, 4);
  std::memset(l4.data() + 8, 0, 4);
  EXPECT_EQ(stored, SctpCrc32c(l4.data(), l4.size()));
  EXPECT_EQ(Get16(out, 36), 8080);
}

TEST(Actions, Crc32cKnownValue) {
  const char* check = "123456789";
  uint32_t v = SctpCrc32c(reinterpret_cast<const uint8_t*>(check), 9);
  uint8_t bytes[4];
  std::memcpy(bytes, &v, 4);
  // CRC32c("123456789") = 0xe3069283, stored least significant byte first.
  EXPECT_EQ(bytes[0], 0x83);
  EXPECT_EQ(bytes[3], 0xe3);
}

TEST(Actions, PushAndPopVlan) {
  Bytes f = Cat(Eth(0x0800), Ipv4(6, Tcp(1, 2, 0x10)));
  Runner r(f, 8);
  r.Run({DpPushVlan{0x8100, static_cast<uint16_t>((3 << 13) | kVlanCfi | 42)}, DpOutput{1},
         DpPushVlan{0x88a8, 7}, DpOutput{2}, DpPopVlan{}, DpPopVlan{}, DpOutput{3}});
  ASSERT_EQ(r.sink.sent.size(), 3u);
  FlowKey k;
  const Bytes& one = r.sink.sent[0].bytes;
  ExtractFlow(one.data(), one.size(), 1, &k);
  EXPECT_EQ(one.size(), f.size() + 4);
  EXPECT_EQ(k.vlan_tci, (3 << 13) | kVlanCfi | 42);
  EXPECT_EQ(Get16(one, 14) & kVlanCfi, 0);  // CFI is not put on the wire
  EXPECT_EQ(k.tp_dst, 2);
  const Bytes& two = r.sink.sent[1].bytes;
  ExtractFlow(two.data(), two.size(), 1, &k);
  EXPECT_EQ(Get16(two, 12), 0x88a8);
  EXPECT_EQ(k.vlan_tci, kVlanCfi | 7);
  EXPECT_EQ(r.sink.sent[2].bytes, f);
  // Headroom of 8 allowed two pushes; a third has no room.
  Runner small(f, 4);
  small.Run({DpPushVlan{0x8100, 1}, DpPushVlan{0x8100, 2}, DpOutput{1}});
  EXPECT_EQ(small.counters.push_vlan_no_room, 1u);
  EXPECT_TRUE(small.sink.sent.empty());
}

// A CHECKSUM_PARTIAL packet is passed on as such when untouched, and
// completed before a rewrite or an upcall.
TEST(Actions, PartialChecksumHandling) {
  Bytes f = Cat(Eth(0x0800), Ipv4(6, Tcp(1, 2, 0x18, 100)));
  // Make the TCP checksum partial: the pseudo-header sum, uncomplemented.
  uint32_t pseudo = PseudoHeaderSumIpv4(kIpA, kIpB, 6, static_cast<uint32_t>(f.size() - 34));
  uint16_t partial = static_cast<uint16_t>(~ChecksumFinish(pseudo));
  std::memcpy(f.data() + 34 + 16, &partial, 2);
  ASSERT_NE(VerifyChecksums(f), "");

  Runner pass(f);
  pass.packet.csum_partial = true;
  pass.packet.csum_start = 34;
  pass.packet.csum_offset = 16;
  pass.Run({DpOutput{1}});
  EXPECT_TRUE(pass.sink.sent[0].csum_partial);
  EXPECT_EQ(pass.sink.sent[0].bytes, f);

  Runner rewrite(f);
  rewrite.packet.csum_partial = true;
  rewrite.packet.csum_start = 34;
  rewrite.packet.csum_offset = 16;
  const uint8_t ip[4] = {10, 9, 9, 9};
  rewrite.Run({DpOutput{1}, SetIpv4Dst(ip), DpOutput{2}, DpUserspace{{9}}});
  ASSERT_EQ(rewrite.sink.sent.size(), 2u);
  EXPECT_TRUE(rewrite.sink.sent[0].csum_partial);  // went out before the rewrite
  // Still partial after the rewrite, and the partial sum follows the new
  // address: completing it gives a checksum that verifies.
  EXPECT_TRUE(rewrite.sink.sent[1].csum_partial);
  Bytes rewritten = rewrite.sink.sent[1].bytes;
  EXPECT_EQ(rewritten[14 + 19], 9);
  ASSERT_TRUE(CompletePartialChecksum(rewritten.data(), rewritten.size(), 34, 16));
  EXPECT_EQ(VerifyChecksums(rewritten), "");
  ASSERT_EQ(rewrite.sink.upcalls.size(), 1u);
  EXPECT_EQ(VerifyChecksums(rewrite.sink.upcalls[0].first), "");

  // Ports are inside the summed range: a rewrite needs no update at all.
  Runner ports(f);
  ports.packet.csum_partial = true;
  ports.packet.csum_start = 34;
  ports.packet.csum_offset = 16;
  DpSetMasked set_ports{FlowKey::Zero(), FlowKey::Zero()};
  set_ports.value.tp_src = 4444;
  set_ports.mask.tp_src = 0xffff;
  const uint8_t ip6[4] = {172, 16, 0, 9};
  ports.Run({set_ports, SetIpv4Dst(ip6), DpOutput{1}});
  Bytes p_out = ports.sink.sent[0].bytes;
  EXPECT_EQ(Get16(p_out, 34), 4444);
  ASSERT_TRUE(CompletePartialChecksum(p_out.data(), p_out.size(), 34, 16));
  EXPECT_EQ(VerifyChecksums(p_out), "");

  Runner vlan(f);
  vlan.packet.csum_partial = true;
  vlan.packet.csum_start = 34;
  vlan.packet.csum_offset = 16;
  vlan.Run({DpPushVlan{0x8100, 5}, DpOutput{1}});
  EXPECT_EQ(vlan.sink.sent[0].csum_partial, true);
  Bytes out = vlan.sink.sent[0].bytes;
  ASSERT_TRUE(CompletePartialChecksum(out.data(), out.size(), vlan.packet.csum_start, 16));
  EXPECT_EQ(VerifyChecksums(out), "");
}

// Random rewrites of CHECKSUM_PARTIAL TCP/UDP packets over IPv4 and IPv6
// (VLAN pushes too): the packet stays partial, and completing it where the
// offload metadata says gives checksums that verify from scratch.
TEST(Actions, PartialChecksumSurvivesRandomRewrites) {
  std::mt19937 rng(11);
  struct Case {
    Bytes frame;
    uint16_t l4;
    uint16_t csum_offset;
    bool v6;
    uint8_t proto;
  };
  std::vector<Case> cases = {
      {Cat(Eth(0x0800), Ipv4(6, Tcp(1000, 80, 0x18, 40))), 34, 16, false, 6},
      {Cat(Eth(0x0800), Ipv4(17, Udp(5000, 53, 13))), 34, 6, false, 17},
      {Cat(Eth(0x86dd), Ipv6(6, Tcp(1000, 80, 0x18, 9))), 54, 16, true, 6},
      {Cat(Eth(0x86dd), Ipv6(17, Udp(5000, 53, 30))), 54, 6, true, 17},
  };
  for (int iter = 0; iter < 400; ++iter) {
    Case c = cases[iter % cases.size()];
    Bytes& f = c.frame;
    uint32_t l4size = static_cast<uint32_t>(f.size() - c.l4);
    uint32_t pseudo = c.v6 ? PseudoHeaderSumIpv6(f.data() + 22, f.data() + 38, c.proto, l4size)
                           : PseudoHeaderSumIpv4(f.data() + 26, f.data() + 30, c.proto, l4size);
    uint16_t partial = static_cast<uint16_t>(~ChecksumFinish(pseudo));
    std::memcpy(f.data() + c.l4 + c.csum_offset, &partial, 2);
    Runner r(f);
    r.packet.csum_partial = true;
    r.packet.csum_start = c.l4;
    r.packet.csum_offset = c.csum_offset;
    DpSetMasked s{FlowKey::Zero(), FlowKey::Zero()};
    auto rnd = [&](uint8_t* p, size_t n) {
      for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(rng());
    };
    rnd(s.value.ipv4_src, 4);
    rnd(s.mask.ipv4_src, 4);
    rnd(s.value.ipv4_dst, 4);
    rnd(s.mask.ipv4_dst, 4);
    rnd(s.value.ipv6_src, 16);
    rnd(s.mask.ipv6_src, 16);
    rnd(s.value.ipv6_dst, 16);
    rnd(s.mask.ipv6_dst, 16);
    s.value.tp_src = static_cast<uint16_t>(rng());
    s.mask.tp_src = static_cast<uint16_t>(rng());
    s.value.tp_dst = static_cast<uint16_t>(rng());
    s.mask.tp_dst = 0xffff;
    s.value.nw_ttl = static_cast<uint8_t>(rng());
    s.mask.nw_ttl = 0xff;
    DpActions actions = {s};
    if (rng() % 2) actions.push_back(DpPushVlan{0x8100, 7});
    actions.push_back(DpOutput{1});
    r.Run(actions);
    ASSERT_EQ(r.sink.sent.size(), 1u);
    ASSERT_TRUE(r.sink.sent[0].csum_partial);
    Bytes out = r.sink.sent[0].bytes;
    ASSERT_TRUE(CompletePartialChecksum(out.data(), out.size(), r.packet.csum_start,
                                        r.packet.csum_offset));
    ASSERT_EQ(VerifyChecksums(out), "") << "iteration " << iter;
  }
}

TEST(Actions, ArpFieldsAndValidation) {
  Runner r(Cat(Eth(0x0806), Arp(1)));
  DpSetMasked s{FlowKey::Zero(), FlowKey::Zero()};
  const uint8_t sha[6] = {2, 2, 2, 2, 2, 2};
  std::memcpy(s.value.arp_sha, sha, 6);
  std::memset(s.mask.arp_sha, 0xff, 6);
  s.value.ipv4_dst[3] = 77;
  s.mask.ipv4_dst[3] = 0xff;
  r.Run({s, DpOutput{1}});
  FlowKey k;
  ExtractFlow(r.sink.sent[0].bytes.data(), r.sink.sent[0].bytes.size(), 1, &k);
  EXPECT_EQ(0, std::memcmp(k.arp_sha, sha, 6));
  EXPECT_EQ(k.ipv4_dst[3], 77);
  EXPECT_EQ(k.ipv4_dst[0], 10);

  DpSetMasked bad{FlowKey::Zero(), FlowKey::Zero()};
  bad.mask.nw_proto = 0xff;
  EXPECT_NE(ValidateActions({bad}), "");
  EXPECT_NE(ValidateActions({DpSetMasked{FlowKey::Zero(), FlowKey::Zero()}}), "");
  EXPECT_NE(ValidateActions({DpPushVlan{0x0800, 1}}), "");
  EXPECT_EQ(ValidateActions({DpPushVlan{0x88a8, 1}, DpPopVlan{}, DpOutput{3}}), "");
}

}  // namespace
}  // namespace hsw::dp
