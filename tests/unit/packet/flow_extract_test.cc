#include "packet/flow_extract.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "test_frames.h"

namespace hsw {
namespace {

using namespace hsw::testing;

FlowKey Extract(const Bytes& f, uint32_t in_port = 7, HeaderOffsets* offs = nullptr) {
  FlowKey key;
  ExtractFlow(f.data(), f.size(), in_port, &key, offs);
  return key;
}

TEST(FlowExtract, Ipv4Udp) {
  Ip4Opts ip;
  ip.tos = 0xb8;
  ip.ttl = 33;
  Bytes f = Cat(Eth(0x0800), Ipv4(17, Udp(1234, 53), ip));
  HeaderOffsets offs;
  FlowKey k = Extract(f, 7, &offs);
  EXPECT_EQ(k.in_port, 7u);
  EXPECT_EQ(0, std::memcmp(k.eth_src, kMacA, 6));
  EXPECT_EQ(0, std::memcmp(k.eth_dst, kMacB, 6));
  EXPECT_EQ(k.eth_type, 0x0800);
  EXPECT_EQ(k.vlan_tci, 0);
  EXPECT_EQ(k.nw_proto, 17);
  EXPECT_EQ(k.nw_tos, 0xb8);
  EXPECT_EQ(k.nw_ttl, 33);
  EXPECT_EQ(k.nw_frag, 0);
  EXPECT_EQ(0, std::memcmp(k.ipv4_src, kIpA, 4));
  EXPECT_EQ(0, std::memcmp(k.ipv4_dst, kIpB, 4));
  EXPECT_EQ(k.tp_src, 1234);
  EXPECT_EQ(k.tp_dst, 53);
  EXPECT_EQ(k.metadata, 0u);
  EXPECT_EQ(offs.l3, 14);
  EXPECT_EQ(offs.l4, 34);
  EXPECT_EQ(offs.l2_5, HeaderOffsets::kNoOffset);
}

TEST(FlowExtract, Ipv4TcpWithOptionsAndFlags) {
  Ip4Opts ip;
  ip.options = 8;
  Bytes f = Cat(Eth(0x0800), Ipv4(6, Tcp(80, 40000, 0x012 /* SYN|ACK */, 4, 12), ip));
  HeaderOffsets offs;
  FlowKey k = Extract(f, 1, &offs);
  EXPECT_EQ(k.nw_proto, 6);
  EXPECT_EQ(k.tp_src, 80);
  EXPECT_EQ(k.tp_dst, 40000);
  EXPECT_EQ(k.tcp_flags, 0x012);
  EXPECT_EQ(offs.l4, 14 + 28);
}

TEST(FlowExtract, Icmp) {
  Bytes f = Cat(Eth(0x0800), Ipv4(1, Icmp(8, 0)));
  FlowKey k = Extract(f);
  EXPECT_EQ(k.nw_proto, 1);
  EXPECT_EQ(k.tp_src, 8);
  EXPECT_EQ(k.tp_dst, 0);
  Bytes g = Cat(Eth(0x0800), Ipv4(1, Icmp(3, 4)));
  k = Extract(g);
  EXPECT_EQ(k.tp_src, 3);
  EXPECT_EQ(k.tp_dst, 4);
}

TEST(FlowExtract, Ipv4Fragments) {
  Ip4Opts first;
  first.frag = 0x2000;  // MF, offset 0
  FlowKey k = Extract(Cat(Eth(0x0800), Ipv4(17, Udp(1, 2), first)));
  EXPECT_EQ(k.nw_frag, kFragAny);
  EXPECT_EQ(k.tp_src, 1);  // first fragment carries the ports

  Ip4Opts later;
  later.frag = 0x0010;  // offset 16*8, last fragment
  HeaderOffsets offs;
  k = Extract(Cat(Eth(0x0800), Ipv4(17, Udp(1, 2), later)), 7, &offs);
  EXPECT_EQ(k.nw_frag, kFragAny | kFragLater);
  EXPECT_EQ(k.nw_proto, 17);
  EXPECT_EQ(k.tp_src, 0);
  EXPECT_EQ(k.tp_dst, 0);
  EXPECT_EQ(offs.l4, HeaderOffsets::kNoOffset);
}

TEST(FlowExtract, Arp) {
  Bytes f = Cat(Eth(0x0806), Arp(2));
  FlowKey k = Extract(f);
  EXPECT_EQ(k.eth_type, 0x0806);
  EXPECT_EQ(k.nw_proto, 2);
  EXPECT_EQ(0, std::memcmp(k.arp_sha, kMacA, 6));
  EXPECT_EQ(0, std::memcmp(k.arp_tha, kMacB, 6));
  EXPECT_EQ(0, std::memcmp(k.ipv4_src, kIpA, 4));
  EXPECT_EQ(0, std::memcmp(k.ipv4_dst, kIpB, 4));
  EXPECT_EQ(k.tp_src, 0);
}

TEST(FlowExtract, SingleAndDoubleVlan) {
  EthOpts one;
  one.tags = {{0x8100, (5 << 13) | 100}};
  HeaderOffsets offs;
  FlowKey k = Extract(Cat(Eth(0x0800, one), Ipv4(17, Udp(9, 10))), 7, &offs);
  EXPECT_EQ(k.vlan_tci, (5 << 13) | kVlanCfi | 100);
  EXPECT_EQ(k.eth_type, 0x0800);
  EXPECT_EQ(k.tp_dst, 10);
  EXPECT_EQ(offs.l2_5, 12);
  EXPECT_EQ(offs.l3, 18);

  EthOpts two;
  two.tags = {{0x88a8, 300}, {0x8100, 200}};
  k = Extract(Cat(Eth(0x86dd, two), Ipv6(17, Udp(9, 10))), 7, &offs);
  EXPECT_EQ(k.vlan_tci, kVlanCfi | 300);  // the outer tag
  EXPECT_EQ(k.eth_type, 0x86dd);
  EXPECT_EQ(offs.l3, 22);
  EXPECT_EQ(k.tp_src, 9);
}

TEST(FlowExtract, Ipv6Udp) {
  HeaderOffsets offs;
  FlowKey k = Extract(Cat(Eth(0x86dd), Ipv6(17, Udp(500, 4500), 0x2e, 17)), 7, &offs);
  EXPECT_EQ(k.eth_type, 0x86dd);
  EXPECT_EQ(k.nw_proto, 17);
  EXPECT_EQ(k.nw_tos, 0x2e);
  EXPECT_EQ(k.nw_ttl, 17);
  EXPECT_EQ(0, std::memcmp(k.ipv6_src, kIp6A, 16));
  EXPECT_EQ(0, std::memcmp(k.ipv6_dst, kIp6B, 16));
  EXPECT_EQ(k.tp_src, 500);
  EXPECT_EQ(k.tp_dst, 4500);
  EXPECT_EQ(offs.l4, 54);
  for (uint8_t b : k.ipv4_src) EXPECT_EQ(b, 0);
}

TEST(FlowExtract, Ipv6ExtensionHeadersAreSkipped) {
  Bytes hbh(6, 0);        // hop-by-hop, 8 bytes total (PadN)
  Bytes dst(14, 0);       // destination options, 16 bytes
  HeaderOffsets offs;
  FlowKey k = Extract(Cat(Eth(0x86dd), Ipv6(6, Tcp(22, 2222, 0x10), 0, 64, {{0, hbh}, {60, dst}})),
                      7, &offs);
  EXPECT_EQ(k.nw_proto, 6);
  EXPECT_EQ(k.tp_src, 22);
  EXPECT_EQ(k.tp_dst, 2222);
  EXPECT_EQ(k.tcp_flags, 0x10);
  EXPECT_EQ(offs.l4, 14 + 40 + 8 + 16);
}

TEST(FlowExtract, Ipv6Fragments) {
  Bytes first = {0x00, 0x01, 0, 0, 0, 1};  // offset 0, M=1
  FlowKey k = Extract(Cat(Eth(0x86dd), Ipv6(17, Udp(1, 2), 0, 64, {{44, first}})));
  EXPECT_EQ(k.nw_frag, kFragAny);
  EXPECT_EQ(k.nw_proto, 17);
  EXPECT_EQ(k.tp_dst, 2);
  Bytes later = {0x00, 0x08, 0, 0, 0, 1};  // offset 1 (8 bytes), M=0
  k = Extract(Cat(Eth(0x86dd), Ipv6(17, Udp(1, 2), 0, 64, {{44, later}})));
  EXPECT_EQ(k.nw_frag, kFragAny | kFragLater);
  EXPECT_EQ(k.nw_proto, 17);
  EXPECT_EQ(k.tp_src, 0);
}

TEST(FlowExtract, Icmpv6) {
  FlowKey k = Extract(Cat(Eth(0x86dd), Ipv6(58, Icmp(135, 0))));
  EXPECT_EQ(k.nw_proto, 58);
  EXPECT_EQ(k.tp_src, 135);
  EXPECT_EQ(k.tp_dst, 0);
}

TEST(FlowExtract, Llc8023AndSnap) {
  Bytes llc = Eth(0x0026);
  llc.insert(llc.end(), {0x42, 0x42, 0x03, 0, 0, 0, 0, 0});
  EXPECT_EQ(Extract(llc).eth_type, 0x05ff);
  Bytes snap = Eth(0x0030);
  snap.insert(snap.end(), {0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x06});
  snap = Cat(snap, Arp(1));
  FlowKey k = Extract(snap);
  EXPECT_EQ(k.eth_type, 0x0806);
  EXPECT_EQ(k.nw_proto, 1);
}

TEST(FlowExtract, EthernetPaddingIsNotL4) {
  // A 60-byte minimum frame: the UDP header is complete, the rest is padding.
  Bytes f = Cat(Eth(0x0800), Ipv4(17, Udp(7, 8, 0)));
  f.resize(60, 0xee);
  HeaderOffsets offs;
  FlowKey k = Extract(f, 1, &offs);
  EXPECT_EQ(k.tp_dst, 8);
  EXPECT_EQ(offs.l3_end, 14 + 28);
}

// Every prefix of a valid frame parses without reading past its end (ASan
// would catch an over-read since each prefix is its own allocation), and the
// fields of headers that are cut off stay zero.
TEST(FlowExtract, TruncatedFramesNeverOverread) {
  std::vector<Bytes> frames = {
      Cat(Eth(0x0800), Ipv4(6, Tcp(1, 2, 0x02))),
      Cat(Eth(0x0806), Arp(1)),
      Cat(Eth(0x86dd), Ipv6(17, Udp(1, 2), 0, 64, {{0, Bytes(6, 0)}, {44, Bytes(6, 0)}})),
      Cat(Eth(0x0800, EthOpts{kMacA, kMacB, {{0x88a8, 1}, {0x8100, 2}}}), Ipv4(1, Icmp(0, 0))),
  };
  for (const Bytes& full : frames) {
    FlowKey whole = Extract(full);
    for (size_t n = 0; n < full.size(); ++n) {
      std::vector<uint8_t> prefix(full.begin(), full.begin() + n);
      FlowKey k;
      HeaderOffsets offs;
      ExtractFlow(prefix.data(), prefix.size(), 3, &k, &offs);
      EXPECT_EQ(k.in_port, 3u);
      if (n < 14) {
        EXPECT_EQ(k.eth_type, 0);
      }
      if (offs.l4 != HeaderOffsets::kNoOffset) {
        EXPECT_LT(offs.l4, n);
      }
      // A truncated IP packet (total length beyond the frame) has no L4 fields.
      if (n < full.size()) {
        EXPECT_EQ(k.tp_src, 0) << "prefix " << n;
      }
    }
    EXPECT_NE(whole.eth_type, 0);
  }
}

TEST(FlowExtract, RandomBytesDoNotCrash) {
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> f(rng() % 200);
    for (auto& b : f) b = static_cast<uint8_t>(rng());
    if (f.size() > 13 && rng() % 2) {
      static const uint16_t types[] = {0x0800, 0x86dd, 0x0806, 0x8100, 0x88a8};
      uint16_t t = types[rng() % 5];
      f[12] = static_cast<uint8_t>(t >> 8);
      f[13] = static_cast<uint8_t>(t);
      if (f.size() > 14 && t == 0x0800) f[14] = 0x45;
      if (f.size() > 14 && t == 0x86dd) f[14] = 0x60;
    }
    FlowKey k;
    HeaderOffsets offs;
    ExtractFlow(f.data(), f.size(), 1, &k, &offs);
    if (offs.l3 != HeaderOffsets::kNoOffset) {
      ASSERT_LT(offs.l3, f.size());
    }
    if (offs.l4 != HeaderOffsets::kNoOffset) {
      ASSERT_LT(offs.l4, f.size());
    }
    ASSERT_LE(offs.l3_end, f.size());
  }
}

TEST(FlowKeyTest, HashMaskedIgnoresUnmaskedBits) {
  FlowKey a = Extract(Cat(Eth(0x0800), Ipv4(17, Udp(1, 2))));
  FlowKey b = a;
  b.tp_src = 99;
  FlowKey mask = FlowKey::Zero();
  mask.in_port = 0xffffffff;
  mask.eth_type = 0xffff;
  EXPECT_EQ(HashMasked(a, mask), HashMasked(b, mask));
  EXPECT_EQ(HashMasked(a, mask), HashKey(ApplyMask(a, mask)));
  mask.tp_src = 0xffff;
  EXPECT_NE(HashMasked(a, mask), HashMasked(b, mask));
  EXPECT_NE(HashKey(a, 1), HashKey(a, 2));
}

TEST(FlowKeyTest, FormatDpKey) {
  FlowKey k = Extract(Cat(Eth(0x0800), Ipv4(17, Udp(1234, 53))), 3);
  std::string s = FormatDpKey(k);
  EXPECT_NE(s.find("in_port(port=3)"), std::string::npos) << s;
  EXPECT_NE(s.find("eth_type(0x0800)"), std::string::npos) << s;
  EXPECT_NE(s.find("src=10.0.0.1"), std::string::npos) << s;
  EXPECT_NE(s.find("udp(src=1234,dst=53)"), std::string::npos) << s;
  FlowKey mask = FlowKey::Zero();
  mask.in_port = 0xffffffff;
  mask.ipv4_dst[0] = 0xff;
  std::string m = FormatDpKey(ApplyMask(k, mask), &mask);
  EXPECT_EQ(m.find("udp"), std::string::npos) << m;
  EXPECT_NE(m.find("dst=10.0.0.0/255.0.0.0"), std::string::npos) << m;
}

}  // namespace
}  // namespace hsw
