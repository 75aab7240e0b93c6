#include "dpif/dpif_codec.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <random>
#include <string>
#include <vector>

#include "dpif/dp_actions.h"

namespace hsw::dpif {
namespace {

FlowKey SampleKey(uint8_t seed) {
  FlowKey k = FlowKey::Zero();
  k.in_port = 3u + seed;
  k.vlan_tci = kVlanCfi | 10;
  k.eth_type = kEthTypeIpv4;
  for (int i = 0; i < 6; ++i) {
    k.eth_src[i] = static_cast<uint8_t>(0x10 + i + seed);
    k.eth_dst[i] = static_cast<uint8_t>(0x20 + i);
  }
  k.nw_proto = kIpProtoUdp;
  k.nw_ttl = 64;
  k.tp_src = 1234;
  k.tp_dst = 53;
  k.ipv4_src[0] = 10;
  k.ipv4_src[3] = seed;
  k.ipv4_dst[0] = 10;
  k.ipv4_dst[3] = 2;
  k.ipv6_src[15] = 1;
  k.arp_tha[5] = 0xee;
  return k;
}

DpActions AllActions() {
  DpSetMasked set;
  set.value = SampleKey(7);
  set.mask = FlowKey::Zero();
  std::memset(set.mask.eth_dst, 0xff, 6);
  std::memset(set.mask.ipv4_src, 0xff, 4);
  return {DpOutput{2},
          set,
          DpPushVlan{0x8100, 10},
          DpPopVlan{},
          DpUserspace{{0x0a, 0x0b}},
          DpUserspace{},
          DpOutput{0xfffffff0}};
}

PortInfo SamplePort(uint32_t n) {
  PortInfo p;
  p.port_no = n;
  p.name = "veth" + std::to_string(n);
  p.type = "af_packet";
  p.ifindex = 100 + n;
  for (int i = 0; i < 6; ++i) p.hw_addr[i] = static_cast<uint8_t>(i * 17 + n);
  p.mtu = 1500;
  p.link_up = n % 2;
  p.stats.rx_packets = 1;
  p.stats.rx_bytes = 2;
  p.stats.rx_dropped = 3;
  p.stats.rx_errors = 4;
  p.stats.tx_packets = 5;
  p.stats.tx_bytes = 6;
  p.stats.tx_dropped = 7;
  p.stats.tx_errors = 0x1122334455667788ull;
  return p;
}

DpFlow SampleFlow(uint8_t n) {
  DpFlow f;
  f.key = SampleKey(n);
  f.mask = FlowKey::Ones();
  f.actions = n % 2 ? AllActions() : DpActions{};
  f.stats = {100u + n, 6400, 123456789, 0x12};
  return f;
}

// One sample of every message, as (body, flags, error).
struct Sample {
  const char* name;
  Body body;
  uint16_t flags;
};

std::vector<Sample> AllSamples() {
  std::vector<Sample> s;
  Hello hello;
  hello.role = Role::kOwner;
  hello.client_name = "hsw-vswitchd";
  s.push_back({"Hello", hello, 0});
  HelloReply hr;
  hr.version = 1;
  hr.flow_key_size = sizeof(FlowKey);
  hr.datapath_pid = 4242;
  hr.instance_id = 0xdeadbeefcafef00dull;
  hr.datapath_version = "0.1.0";
  hr.n_flows = 17;
  s.push_back({"HelloReply", hr, kFlagReply});
  s.push_back({"PortAdd", PortAdd{"veth0", "af_packet", 5}, 0});
  s.push_back({"PortAddReply", PortAddReply{5}, kFlagReply});
  s.push_back({"PortDel", PortDel{9}, 0});
  s.push_back({"PortDelReply", PortDel{}, kFlagReply});
  s.push_back({"PortList", PortList{}, 0});
  s.push_back({"PortListReply", PortListReply{{SamplePort(1), SamplePort(2)}}, kFlagReply});
  FlowPutBatch puts;
  puts.puts.push_back({SampleKey(1), FlowKey::Ones(), AllActions(), kPutCreate});
  puts.puts.push_back({SampleKey(2), FlowKey::Zero(), {}, kPutModify | kPutClearStats});
  s.push_back({"FlowPut", puts, 0});
  s.push_back({"FlowPutReply", FlowPutBatchReply{{0, EEXIST, ENOSPC}}, kFlagReply});
  s.push_back({"FlowDel", FlowDelBatch{{{SampleKey(1), FlowKey::Ones()}, {SampleKey(3), FlowKey::Zero()}}}, 0});
  s.push_back({"FlowDelReply",
               FlowDelBatchReply{{{0, {5, 500, 99, 2}}, {ENOENT, {}}}}, kFlagReply});
  s.push_back({"FlowGet", FlowGet{{SampleKey(4), FlowKey::Ones()}}, 0});
  s.push_back({"FlowGetReply", FlowGetReply{SampleFlow(1)}, kFlagReply});
  s.push_back({"FlowDump", FlowDump{}, 0});
  s.push_back({"FlowDumpReplyMore", FlowDumpReply{{SampleFlow(1), SampleFlow(2)}},
               kFlagReply | kFlagMore});
  s.push_back({"FlowDumpReplyLast", FlowDumpReply{}, kFlagReply});
  s.push_back({"FlowFlush", FlowFlush{}, 0});
  s.push_back({"FlowFlushReply", FlowFlush{}, kFlagReply});
  ExecuteBatch ex;
  ex.packets.push_back({1, std::vector<uint8_t>(60, 0xab), AllActions()});
  ex.packets.push_back({2, {}, {}});
  s.push_back({"Execute", ex, 0});
  s.push_back({"ExecuteReply", ExecuteBatch{}, kFlagReply});
  Upcall up;
  up.type = UpcallType::kAction;
  up.in_port = 7;
  up.key = SampleKey(9);
  up.userdata = {1, 2, 3};
  up.packet = std::vector<uint8_t>(98, 0x5a);
  up.queued_us = 1500;
  s.push_back({"Upcall", up, 0});
  s.push_back({"StatsGet", StatsGet{}, 0});
  StatsReply st;
  st.counters = {{"lookups_emc_hit", 10}, {"lookups_megaflow_hit", 20}, {"n_flows", 3}};
  st.ports = {SamplePort(4)};
  s.push_back({"StatsReply", st, kFlagReply});
  s.push_back({"UpcallPause", UpcallPause{}, 0});
  s.push_back({"UpcallPauseReply", UpcallPauseReply{0x0102030405060708ull}, kFlagReply});
  return s;
}

TEST(DpifCodec, RoundTripEveryMessage) {
  for (const auto& sample : AllSamples()) {
    SCOPED_TRACE(sample.name);
    auto bytes = EncodeMessage(sample.body, 77, sample.flags);
    auto msg = DecodeMessage(bytes);
    ASSERT_TRUE(msg) << msg.error().ToString();
    EXPECT_EQ(msg->header.length, bytes.size());
    EXPECT_EQ(msg->header.xid, 77u);
    EXPECT_EQ(msg->header.flags, sample.flags);
    EXPECT_EQ(msg->header.type, static_cast<uint16_t>(TypeOf(sample.body)));
    EXPECT_EQ(msg->body.index(), sample.body.index());
    // Re-encoding what was decoded must give the same bytes: every field survived.
    EXPECT_EQ(EncodeMessage(msg->body, 77, sample.flags), bytes);
  }
}

TEST(DpifCodec, FieldsSurvive) {
  FlowPutBatch puts;
  puts.puts.push_back({SampleKey(1), FlowKey::Ones(), AllActions(), kPutCreate});
  auto msg = DecodeMessage(EncodeMessage(puts, 1));
  ASSERT_TRUE(msg);
  const auto& got = std::get<FlowPutBatch>(msg->body);
  ASSERT_EQ(got.puts.size(), 1u);
  EXPECT_EQ(got.puts[0].key, SampleKey(1));
  EXPECT_EQ(got.puts[0].mask, FlowKey::Ones());
  EXPECT_EQ(got.puts[0].actions, AllActions());
  EXPECT_EQ(got.puts[0].flags, kPutCreate);

  Upcall up;
  up.type = UpcallType::kAction;
  up.in_port = 7;
  up.key = SampleKey(9);
  up.userdata = {1, 2, 3};
  up.packet = {9, 8, 7};
  up.queued_us = 1500;
  auto m2 = DecodeMessage(EncodeMessage(up, 0));
  ASSERT_TRUE(m2);
  const auto& u = std::get<Upcall>(m2->body);
  EXPECT_EQ(u.type, UpcallType::kAction);
  EXPECT_EQ(u.in_port, 7u);
  EXPECT_EQ(u.key, SampleKey(9));
  EXPECT_EQ(u.userdata, (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_EQ(u.packet, (std::vector<uint8_t>{9, 8, 7}));
  EXPECT_EQ(u.queued_us, 1500u);

  auto m3 = DecodeMessage(EncodeMessage(PortListReply{{SamplePort(3)}}, 5, kFlagReply));
  ASSERT_TRUE(m3);
  const auto& p = std::get<PortListReply>(m3->body).ports.at(0);
  EXPECT_EQ(p.name, "veth3");
  EXPECT_EQ(p.hw_addr[5], 5 * 17 + 3);
  EXPECT_TRUE(p.link_up);
  EXPECT_EQ(p.stats.tx_errors, 0x1122334455667788ull);
}

TEST(DpifCodec, UpcallPauseWireForm) {
  // Type 13, empty request; the reply carries the u64 upcall count.
  auto req = EncodeMessage(UpcallPause{}, 9);
  EXPECT_EQ(req, (std::vector<uint8_t>{16, 0, 0, 0, 13, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0}));
  auto reply = EncodeMessage(UpcallPauseReply{5}, 9, kFlagReply);
  ASSERT_EQ(reply.size(), 24u);
  auto msg = DecodeMessage(reply);
  ASSERT_TRUE(msg) << msg.error().ToString();
  EXPECT_EQ(std::get<UpcallPauseReply>(msg->body).n_upcalls, 5u);
  // A payload on the request is an error, like any trailing bytes.
  req.push_back(0);
  req[0] = 17;
  EXPECT_FALSE(DecodeMessage(req));
  EXPECT_STREQ(MsgTypeName(MsgType::kUpcallPause), "UpcallPause");
}

TEST(DpifCodec, IntegersAreLittleEndian) {
  auto bytes = EncodeMessage(PortDel{0x01020304}, 0xa0b0c0d0);
  ASSERT_EQ(bytes.size(), 20u);
  EXPECT_EQ(bytes[0], 20);  // length
  EXPECT_EQ(bytes[4], static_cast<uint8_t>(MsgType::kPortDel));
  EXPECT_EQ(bytes[8], 0xd0);  // xid low byte first
  EXPECT_EQ(bytes[16], 0x04);
  EXPECT_EQ(bytes[19], 0x01);
}

TEST(DpifCodec, ActionsRoundTrip) {
  std::vector<uint8_t> buf;
  EncodeActions(AllActions(), buf);
  auto back = DecodeActions(buf);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, AllActions());
  auto empty = DecodeActions({});
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST(DpifCodec, UnknownActionKindIsAnError) {
  std::vector<uint8_t> buf;
  EncodeActions({DpOutput{1}}, buf);
  buf.insert(buf.end(), {99, 0, 0, 0});
  auto r = DecodeActions(buf);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("unknown kind 99"), std::string::npos) << r.error().message;
}

TEST(DpifCodec, OversizedUserdataIsRefused) {
  std::vector<uint8_t> buf;
  EncodeActions({DpUserspace{std::vector<uint8_t>(kDpUserdataMaxSize + 1, 1)}}, buf);
  auto r = DecodeActions(buf);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("userdata"), std::string::npos) << r.error().message;
}

TEST(DpifCodec, WrongActionLengthIsRefused) {
  std::vector<uint8_t> buf = {1, 0, 3, 0, 1, 2, 3};  // output with a 3-byte value
  auto r = DecodeActions(buf);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("output"), std::string::npos) << r.error().message;
}

TEST(DpifCodec, ErrorReplyRoundTrip) {
  auto bytes = EncodeErrorReply(MsgType::kPortAdd, 9, ENODEV, "port 'nope': no such device");
  auto msg = DecodeMessage(bytes);
  ASSERT_TRUE(msg) << msg.error().message;
  EXPECT_EQ(msg->header.error, ENODEV);
  EXPECT_EQ(msg->header.type, static_cast<uint16_t>(MsgType::kPortAdd));
  EXPECT_EQ(msg->header.xid, 9u);
  EXPECT_EQ(std::get<ErrorReply>(msg->body).message, "port 'nope': no such device");
}

TEST(DpifCodec, TruncatedMessagesAreRejected) {
  for (const auto& sample : AllSamples()) {
    SCOPED_TRACE(sample.name);
    auto bytes = EncodeMessage(sample.body, 1, sample.flags);
    for (size_t n = 0; n < bytes.size(); ++n) {
      // As given (length field disagrees with the size)...
      std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + n);
      EXPECT_FALSE(DecodeMessage(cut)) << "prefix " << n;
      // ...and with a consistent length field, so the payload decoder is what must notice.
      if (n >= sizeof(MsgHeader)) {
        cut[0] = static_cast<uint8_t>(n);
        cut[1] = static_cast<uint8_t>(n >> 8);
        cut[2] = cut[3] = 0;
        bool empty_payload_ok = bytes.size() == sizeof(MsgHeader);
        auto r = DecodeMessage(cut);
        if (!empty_payload_ok) {
          ASSERT_FALSE(r) << "prefix " << n;
          EXPECT_NE(r.error().message.find(MsgTypeName(TypeOf(sample.body))), std::string::npos)
              << r.error().message;
        }
      }
    }
  }
}

TEST(DpifCodec, TrailingBytesAreRejected) {
  for (const auto& sample : AllSamples()) {
    SCOPED_TRACE(sample.name);
    auto bytes = EncodeMessage(sample.body, 1, sample.flags);
    bytes.push_back(0);
    bytes[0] = static_cast<uint8_t>(bytes.size());
    bytes[1] = static_cast<uint8_t>(bytes.size() >> 8);
    auto r = DecodeMessage(bytes);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("trailing"), std::string::npos) << r.error().message;
  }
}

TEST(DpifCodec, CorruptedMessagesNeverCrash) {
  // Every byte of every message set to a few hostile values, and random
  // multi-byte damage: decoding must return (either way) without UB; the
  // ASan/UBSan build makes over-reads fatal.
  std::mt19937 rng(12345);
  size_t rejected = 0;
  for (const auto& sample : AllSamples()) {
    auto bytes = EncodeMessage(sample.body, 1, sample.flags);
    for (size_t i = 0; i < bytes.size(); ++i) {
      for (uint8_t v : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
        auto bad = bytes;
        if (bad[i] == v) continue;
        bad[i] = v;
        if (!DecodeMessage(bad)) ++rejected;
      }
    }
    if (bytes.size() == sizeof(MsgHeader)) continue;
    for (int k = 0; k < 200; ++k) {
      auto bad = bytes;
      for (int j = 0; j < 4; ++j) {
        bad[sizeof(MsgHeader) + rng() % (bad.size() - sizeof(MsgHeader))] =
            static_cast<uint8_t>(rng());
      }
      (void)DecodeMessage(bad);
    }
  }
  EXPECT_GT(rejected, 100u);
}

TEST(DpifCodec, HeaderChecks) {
  auto base = EncodeMessage(PortDel{1}, 1);
  auto with = [&](size_t off, uint8_t v) {
    auto b = base;
    b[off] = v;
    return DecodeMessage(b);
  };
  EXPECT_FALSE(with(4, 0));     // type 0
  EXPECT_FALSE(with(4, 14));    // unknown type
  EXPECT_FALSE(with(6, 0x4));   // unknown flag
  EXPECT_FALSE(with(6, kFlagMore));  // more on a request
  EXPECT_FALSE(with(12, 5));    // error on a request
  EXPECT_FALSE(with(6, kFlagReply | kFlagMore));  // only FlowDump replies come in parts
  auto err = EncodeErrorReply(MsgType::kFlowDump, 1, EIO, "x");
  EXPECT_TRUE(DecodeMessage(err));
  err[6] |= kFlagMore;
  EXPECT_FALSE(DecodeMessage(err));
  auto up = EncodeMessage(Upcall{}, 0, kFlagReply);
  EXPECT_FALSE(DecodeMessage(up));
  Hello h;
  auto hb = EncodeMessage(h, 1);
  hb[16 + 12] = 7;  // role
  auto r = DecodeMessage(hb);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("role"), std::string::npos);
  EXPECT_EQ(r.error().code, EPROTO);
}

TEST(DpifCodec, HugeCountsAreRefusedWithoutAllocating) {
  auto bytes = EncodeMessage(FlowDumpReply{}, 1, kFlagReply);
  bytes[16] = bytes[17] = bytes[18] = 0xff;
  bytes[19] = 0x0f;
  auto r = DecodeMessage(bytes);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("n_flows"), std::string::npos) << r.error().message;
}

TEST(DpifCodec, ErrorNamesMessageAndField) {
  FlowPutBatch puts;
  puts.puts.push_back({SampleKey(1), FlowKey::Ones(), {}, kPutCreate});
  puts.puts.push_back({SampleKey(2), FlowKey::Ones(), {DpOutput{1}}, kPutCreate});
  auto bytes = EncodeMessage(puts, 1);
  // Corrupt the second put's action kind (last 8 bytes are its output action).
  bytes[bytes.size() - 8] = 42;
  auto r = DecodeMessage(bytes);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("FlowPut request"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("puts[1].actions"), std::string::npos) << r.error().message;
}

TEST(MessageReader, SplitsAtArbitraryBoundaries) {
  std::vector<uint8_t> stream;
  auto samples = AllSamples();
  for (size_t i = 0; i < samples.size(); ++i) {
    auto b = EncodeMessage(samples[i].body, static_cast<uint32_t>(i), samples[i].flags);
    stream.insert(stream.end(), b.begin(), b.end());
  }
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    MessageReader reader;
    size_t pos = 0, got = 0;
    while (pos < stream.size()) {
      size_t chunk = round == 0 ? 1 : 1 + rng() % 300;
      chunk = std::min(chunk, stream.size() - pos);
      reader.Append(stream.data() + pos, chunk);
      pos += chunk;
      while (true) {
        auto next = reader.Next();
        ASSERT_TRUE(next) << next.error().message;
        if (!*next) break;
        EXPECT_EQ((*next)->header.xid, got);
        EXPECT_EQ((*next)->body.index(), samples[got].body.index());
        ++got;
      }
    }
    EXPECT_EQ(got, samples.size());
    EXPECT_EQ(reader.buffered(), 0u);
  }
}

TEST(MessageReader, BadLengthIsAnError) {
  MessageReader reader;
  std::vector<uint8_t> bad(16, 0);
  bad[0] = 3;  // shorter than a header
  reader.Append(bad.data(), bad.size());
  EXPECT_FALSE(reader.Next());

  MessageReader big;
  std::vector<uint8_t> huge(16, 0);
  huge[3] = 0x7f;  // ~2 GB
  big.Append(huge.data(), huge.size());
  auto r = big.Next();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("length"), std::string::npos);
}

TEST(MessageReader, BadPayloadIsSkippedAfterTheError) {
  auto good = EncodeMessage(PortDel{3}, 2);
  auto bad = EncodeMessage(PortDel{1}, 1);
  bad[4] = 99;
  MessageReader reader;
  reader.Append(bad.data(), bad.size());
  reader.Append(good.data(), good.size());
  EXPECT_FALSE(reader.Next());
  auto next = reader.Next();
  ASSERT_TRUE(next && *next);
  EXPECT_EQ(std::get<PortDel>((*next)->body).port_no, 3u);
}

TEST(DpActions, Format) {
  EXPECT_EQ(FormatDpActions({}), "drop");
  EXPECT_EQ(FormatDpActions({DpOutput{2}, DpPopVlan{}}), "output:2,pop_vlan");
  EXPECT_EQ(FormatDpActions({DpPushVlan{0x8100, static_cast<uint16_t>((3 << 13) | 10)}}),
            "push_vlan(tpid=0x8100,vid=10,pcp=3)");
  EXPECT_EQ(FormatDpActions({DpUserspace{{0x0a, 0x0b}}}), "userspace(0a0b)");
  DpSetMasked set;
  set.value = SampleKey(0);
  set.mask = FlowKey::Zero();
  std::memset(set.mask.eth_dst, 0xff, 6);
  std::memset(set.mask.ipv4_src, 0xff, 3);
  set.mask.tp_dst = 0xffff;
  set.mask.nw_tos = 0xfc;
  set.value.nw_tos = 0xb9;
  EXPECT_EQ(FormatDpActions({set}),
            "set(eth_dst=20:21:22:23:24:25,ipv4_src=10.0.0.0/255.255.255.0,nw_tos=184/0xfc,"
            "tp_dst=53)");
  DpSetMasked v6;
  v6.value = FlowKey::Zero();
  v6.mask = FlowKey::Zero();
  v6.value.ipv6_dst[0] = 0xfe;
  v6.value.ipv6_dst[1] = 0x80;
  v6.value.ipv6_dst[15] = 1;
  std::memset(v6.mask.ipv6_dst, 0xff, 16);
  EXPECT_EQ(FormatDpActions({v6, DpOutput{1}}), "set(ipv6_dst=fe80::1),output:1");
}

}  // namespace
}  // namespace hsw::dpif
