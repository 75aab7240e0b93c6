// OpenFlow 1.4 in the codec: the version table, the layouts 1.4 changed
// (ofp_port, ofp_port_stats, bundles), Nicira's TLV table messages, GROUP_MOD
// and GROUP_DESC, and the errors of each.  Requests are bytes captured from
// Debian's ovs-ofctl 3.1 (-O OpenFlow14); the expected encodings of replies
// were checked with `ovs-ofctl ofp-print`, which decodes them as shown in
// the comments.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "openflow/ofp_codec.h"

namespace hsw::ofp {
namespace {

std::vector<uint8_t> Hex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

OfpMessage MustDecode(const std::vector<uint8_t>& bytes) {
  auto decoded = Decode(bytes);
  EXPECT_TRUE(decoded.has_value()) << (decoded ? "" : decoded.error().detail);
  if (!decoded) return {};
  // Whatever decodes re-encodes to the same bytes.
  EXPECT_EQ(Encode(*decoded), bytes);
  return *decoded;
}

void ExpectError(const std::vector<uint8_t>& bytes, uint16_t type, uint16_t code) {
  auto decoded = Decode(bytes);
  ASSERT_FALSE(decoded.has_value());
  EXPECT_EQ(decoded.error().type, type) << decoded.error().detail;
  EXPECT_EQ(decoded.error().code, code)
      << decoded.error().detail << " (" << ErrorName(decoded.error().type, decoded.error().code)
      << ")";
  EXPECT_FALSE(decoded.error().detail.empty());
}

// Every prefix of `bytes` (with the header length fixed up) is refused or
// decodes; none crashes or reads past its end (ASan would say).
void EveryPrefixIsHandled(const std::vector<uint8_t>& bytes) {
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(n));
    if (n >= 4) {
      cut[2] = static_cast<uint8_t>(n >> 8);
      cut[3] = static_cast<uint8_t>(n);
    }
    auto d = Decode(cut);
    if (d) EXPECT_EQ(Encode(*d), cut) << "prefix of " << n << " bytes";
  }
}

PortDesc Veth0() {
  PortDesc pd;
  pd.port_no = 1;
  pd.hw_addr[0] = 0x02;
  pd.hw_addr[5] = 0x01;
  pd.name = "veth0";
  pd.state = kPortStateLive;
  pd.curr = 0x820;  // 1GB-FD COPPER
  pd.curr_speed = 10000000;
  pd.max_speed = 10000000;
  return pd;
}

// OFPST_PORT_DESC reply (OF1.4) (xid=0x7):
//  1(veth0): addr:02:00:00:00:00:01 ... state: LIVE, current: 1GB-FD COPPER,
//  speed: 10000 Mbps now, 10000 Mbps max
const char kPortDescReply14[] =
    "0513005800000007000d000000000000000000010048000002000000000100007665746830000000000000000000"
    "000000000000000000040000002000000000000008200000000000000000000000000098968000989680";

TEST(OfpCodec14, VersionTable) {
  EXPECT_STREQ(VersionName(kVersion13), "OpenFlow13");
  EXPECT_STREQ(VersionName(kVersion14), "OpenFlow14");
  EXPECT_EQ(VersionName(kVersion10), nullptr);
  EXPECT_EQ(VersionFromName("OpenFlow14"), kVersion14);
  EXPECT_EQ(VersionFromName("OpenFlow15"), std::nullopt);
  EXPECT_EQ(*VersionBitmapFromNames({}), kSupportedVersions);
  EXPECT_EQ(*VersionBitmapFromNames({"OpenFlow13"}), 1u << 4);
  EXPECT_EQ(*VersionBitmapFromNames({"OpenFlow13", "OpenFlow14"}), 0x30u);
  auto bad = VersionBitmapFromNames({"OpenFlow13", "OpenFlow10"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().detail.find("'OpenFlow10'"), std::string::npos) << bad.error().detail;
  // Anything outside the table is refused on the wire too.
  auto fm = MustDecode(Hex("05140008000000ff"));  // a 1.4 barrier
  EXPECT_EQ(fm.version, kVersion14);
  ExpectError(Hex("06140008000000ff"), err::kBadRequest, err::kBadRequestBadVersion);
  ExpectError(Hex("03140008000000ff"), err::kBadRequest, err::kBadRequestBadVersion);
}

TEST(OfpCodec14, PortDescriptionHasLengthAndEthernetProperty) {
  MultipartReply reply;
  reply.body = std::vector<PortDesc>{Veth0()};
  auto bytes = Encode(OfpMessage{kVersion14, 7, reply});
  EXPECT_EQ(bytes, Hex(kPortDescReply14));
  auto back = MustDecode(bytes);
  const auto& ports = std::get<std::vector<PortDesc>>(std::get<MultipartReply>(back.body).body);
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_EQ(ports[0].name, "veth0");
  EXPECT_EQ(ports[0].curr, 0x820u);
  EXPECT_EQ(ports[0].max_speed, 10000000u);
  EXPECT_EQ(ports[0].hw_addr[5], 0x01);
  // The same port in 1.3 is the fixed 64-byte ofp_port.
  EXPECT_EQ(Encode(OfpMessage{kVersion13, 7, reply}).size(), 16u + 64u);

  // OFPT_PORT_STATUS (OF1.4) (xid=0x9): MOD: 1(veth0) ...
  auto status = Encode(OfpMessage{kVersion14, 9, PortStatus{kPortStatusModify, Veth0()}});
  EXPECT_EQ(status,
            Hex("050c0058000000090200000000000000000000010048000002000000000100007665746830000000"
                "00000000000000000000000000000004000000200000000000000820000000000000000000000000"
                "0098968000989680"));
  auto ps = std::get<PortStatus>(MustDecode(status).body);
  EXPECT_EQ(ps.reason, kPortStatusModify);
  EXPECT_EQ(ps.desc.port_no, 1u);

  // A port whose length runs past the reply, or is below the fixed part.
  auto bad = Hex(kPortDescReply14);
  bad[16 + 5] = 0x50;
  ExpectError(bad, err::kBadRequest, err::kBadRequestBadLen);
  bad[16 + 5] = 0x20;
  ExpectError(bad, err::kBadRequest, err::kBadRequestBadLen);
  // A property with length below 4.
  bad = Hex(kPortDescReply14);
  bad[16 + 43] = 2;
  ExpectError(bad, err::kBadRequest, err::kBadRequestBadLen);
  EveryPrefixIsHandled(Hex(kPortDescReply14));
}

TEST(OfpCodec14, PortStatsMovedDurationsAndProperties) {
  PortStats ps;
  ps.port_no = 1;
  ps.rx_packets = 10;
  ps.tx_packets = 20;
  ps.rx_bytes = 1000;
  ps.tx_bytes = 2000;
  ps.rx_dropped = 1;
  ps.duration_sec = 5;
  ps.duration_nsec = 7;
  MultipartReply reply;
  reply.body = std::vector<PortStats>{ps, ps};
  std::get<std::vector<PortStats>>(reply.body)[1].port_no = 2;
  auto bytes = Encode(OfpMessage{kVersion14, 8, reply});
  // OFPST_PORT reply (OF1.4): port 1: rx pkts=10, bytes=1000, drop=1 ...
  // duration=5.000000007s; each entry 80 bytes + the 40-byte Ethernet property.
  ASSERT_EQ(bytes.size(), 16u + 2 * 120u);
  EXPECT_EQ(
      std::vector<uint8_t>(bytes.begin() + 16, bytes.begin() + 16 + 120),
      Hex("00780000000000010000000500000007000000000000000a000000000000001400000000000003e8"
          "00000000000007d00000000000000001000000000000000000000000000000000000000000000000"
          "00000028000000000000000000000000000000000000000000000000000000000000000000000000"));
  auto back = MustDecode(bytes);
  const auto& got = std::get<std::vector<PortStats>>(std::get<MultipartReply>(back.body).body);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].rx_bytes, 1000u);
  EXPECT_EQ(got[0].duration_sec, 5u);
  EXPECT_EQ(got[0].duration_nsec, 7u);
  EXPECT_EQ(got[1].port_no, 2u);
  // The request is the same as in 1.3.
  MultipartRequest req;
  req.body = PortStatsRequest{kPortAny};
  EXPECT_EQ(Encode(OfpMessage{kVersion14, 3, req}),
            Hex("05120018000000030004000000000000ffffffff00000000"));
  // An entry shorter than its fixed part.
  auto bad = bytes;
  bad[17] = 0x40;
  ExpectError(bad, err::kBadRequest, err::kBadRequestBadLen);
  EveryPrefixIsHandled(bytes);
}

TEST(OfpCodec14, BundlesAreMessageTypes33And34) {
  // OFPT_BUNDLE_CONTROL (OF1.4): bundle_id=0x3 type=COMMIT_REPLY flags=atomic ordered
  auto commit = Encode(OfpMessage{kVersion14, 11, BundleControl{3, bundle::kCommitReply, 3}});
  EXPECT_EQ(commit, Hex("052100100000000b0000000300050003"));
  auto bc = MustDecode(commit);
  EXPECT_EQ(bc.type(), msg::kBundleControl);
  EXPECT_EQ(std::get<BundleControl>(bc.body), (BundleControl{3, bundle::kCommitReply, 3}));
  // The same body in 1.3 is the ONF experimenter message.
  OfpMessage onf{kVersion13, 11, BundleControl{3, bundle::kCommitReply, 3}};
  EXPECT_EQ(onf.type(), msg::kExperimenter);
  EXPECT_EQ(Encode(onf), Hex("040400180000000b4f4e4600000008fc0000000300050003"));

  // BUNDLE_ADD_MESSAGE with a barrier inside.
  auto inner = Hex("0514000800000021");
  OfpMessage add{kVersion14, 0x21, BundleAdd{3, 3, inner}};
  auto bytes = Encode(add);
  EXPECT_EQ(bytes, Hex("0522001800000021000000030000000305140008"
                       "00000021"));
  auto back = MustDecode(bytes);
  EXPECT_EQ(back.type(), msg::kBundleAddMessage);
  EXPECT_EQ(std::get<BundleAdd>(back.body).message, inner);
  // Properties after the message are ignored, not an error.
  auto with_prop = Hex("0522002000000021000000030000000305140008000000210000000400000000");
  auto decoded = Decode(with_prop);
  ASSERT_TRUE(decoded) << decoded.error().detail;
  EXPECT_EQ(std::get<BundleAdd>(decoded->body).message, inner);

  // Errors are OFPET_BUNDLE_FAILED in 1.4.
  ExpectError(Hex("05210010000000010000000300090000"), err::kBundleFailed, 6);  // BAD_TYPE
  ExpectError(Hex("0522001800000021000000030000000305140030"
                  "00000021"),
              err::kBundleFailed,
              8);  // MSG_BAD_LEN
  ExpectError(Hex("052100100000000b00000003"), err::kBadRequest, err::kBadRequestBadLen);
  // Types 33/34 do not exist in 1.3, nor the ONF bundle in 1.4.
  ExpectError(Hex("042100100000000b0000000300050003"), err::kBadRequest, err::kBadRequestBadType);
  ExpectError(Hex("050400180000000b4f4e4600000008fc0000000300050003"), err::kBadRequest,
              err::kBadRequestBadExpType);
  EveryPrefixIsHandled(bytes);
}

TEST(OfpCodec14, BundleAndNiciraErrorsOnTheWire) {
  EXPECT_EQ(BundleError(kVersion13, bundle::kErrMsgFailed, "x").type, 0xffff);
  EXPECT_EQ(BundleError(kVersion13, bundle::kErrMsgFailed, "x").code, 2313);
  EXPECT_EQ(BundleError(kVersion14, bundle::kErrMsgFailed, "x").type, err::kBundleFailed);
  EXPECT_EQ(BundleError(kVersion14, bundle::kErrMsgFailed, "x").code, 13);
  EXPECT_EQ(ErrorName(err::kBundleFailed, 13), "OFPBFC_MSG_FAILED");
  auto request = Hex("050400180000000d00002320000000180000000000000000");
  // OFPT_ERROR (OF1.4) (xid=0xd): NXTTMFC_ALREADY_MAPPED
  auto e = Encode(MakeErrorReply(NxError(nx::kErrAlreadyMapped, "x"), request));
  EXPECT_EQ(std::vector<uint8_t>(e.begin(), e.begin() + 16),
            Hex("050100280000000dffff001400002320"));
  EXPECT_EQ(ErrorName(0xffff, nx::kErrAlreadyMapped), "NXTTMFC_ALREADY_MAPPED");
  // OFPT_ERROR (OF1.4) (xid=0xe): OFPBFC_MSG_FAILED
  auto b = Encode(MakeErrorReply(BundleError(kVersion14, bundle::kErrMsgFailed, "x"),
                                 Hex("052100100000000e0000000300040003")));
  EXPECT_EQ(std::vector<uint8_t>(b.begin(), b.begin() + 12), Hex("0501001c0000000e0011000d"));
}

TEST(OfpCodec14, TlvTableMessagesAsOvsOfctlSendsThem) {
  // `ovs-ofctl -O OpenFlow14 add-tlv-map BR ''`: an ADD with no maps.
  auto empty_add = MustDecode(Hex("050400180000000200002320000000180000000000000000"));
  const auto& mod = std::get<TlvTableMod>(empty_add.body);
  EXPECT_EQ(mod.command, nx::kTlvAdd);
  EXPECT_TRUE(mod.maps.empty());
  // `dump-tlv-map BR`.
  auto request = MustDecode(Hex("05040010000000020000232000000019"));
  EXPECT_TRUE(std::holds_alternative<TlvTableRequest>(request.body));
  EXPECT_EQ(request.type(), msg::kExperimenter);

  // `add-tlv-map BR {class=0xffff,type=0x1,len=4}->tun_metadata0,
  //  {class=0x102,type=0x80,len=8}->tun_metadata5`.
  auto add =
      MustDecode(Hex("050400280000000200002320000000180000000000000000ffff01040000000001028008"
                     "00050000"));
  const auto& maps = std::get<TlvTableMod>(add.body).maps;
  ASSERT_EQ(maps.size(), 2u);
  EXPECT_EQ(maps[0], (TlvMap{0xffff, 1, 4, 0}));
  EXPECT_EQ(maps[1], (TlvMap{0x0102, 0x80, 8, 5}));

  // NXT_TLV_TABLE_REPLY (OF1.4): max option space=256 max fields=64,
  // allocated option space=12, the two maps.
  TlvTableReply reply;
  reply.maps = maps;
  auto bytes = Encode(OfpMessage{kVersion14, 10, reply});
  EXPECT_EQ(bytes, Hex("050400300000000a000023200000001a00000100004000000000000000000000ffff0104"
                       "000000000102800800050000"));
  EXPECT_EQ(std::get<TlvTableReply>(MustDecode(bytes).body), reply);

  // OVS's errors: length not a multiple of 4 or over 124, index >= 64,
  // unknown command; a map list that is not whole maps is BAD_LEN.
  ExpectError(Hex("050400200000000200002320000000180000000000000000ffff010500000000"), 0xffff,
              nx::kErrBadOptLen);
  ExpectError(Hex("050400200000000200002320000000180000000000000000ffff018000000000"), 0xffff,
              nx::kErrBadOptLen);
  ExpectError(Hex("050400200000000200002320000000180000000000000000ffff010400400000"), 0xffff,
              nx::kErrBadFieldIdx);
  ExpectError(Hex("050400180000000200002320000000180003000000000000"), 0xffff, nx::kErrBadCommand);
  ExpectError(Hex("05040020000000020000232000000018000000000000000000000000"), err::kBadRequest,
              err::kBadRequestBadLen);
  ExpectError(Hex("0504001000000002000023200000001800000000"), err::kBadRequest,
              err::kBadRequestBadLen);
  ExpectError(Hex("050400140000000200002320000000190000000000"), err::kBadRequest,
              err::kBadRequestBadLen);
  EveryPrefixIsHandled(
      Hex("050400280000000200002320000000180000000000000000ffff0104000000000102"
          "800800050000"));
  EveryPrefixIsHandled(bytes);
}

TEST(OfpCodec14, GroupModAndGroupDesc) {
  // `ovs-ofctl -O OpenFlow14 dump-groups BR`.
  auto req = MustDecode(Hex("05120010000000020007000000000000"));
  EXPECT_TRUE(std::holds_alternative<GroupDescRequest>(std::get<MultipartRequest>(req.body).body));
  // OFPST_GROUP_DESC reply (OF1.4) (xid=0xc): no groups.
  MultipartReply reply;
  reply.body = GroupDescReply{};
  EXPECT_EQ(Encode(OfpMessage{kVersion14, 12, reply}), Hex("051300100000000c0007000000000000"));

  // group_id=1,type=all,bucket=output:1 (one 32-byte bucket).
  auto gm_bytes =
      Hex("050f003000000002000000000000000100200000ffffffffffffffff00000000"
          "0000001000000001ffff000000000000");
  auto gm = MustDecode(gm_bytes);
  const auto& g = std::get<GroupMod>(gm.body);
  EXPECT_EQ(g.command, kGroupAdd);
  EXPECT_EQ(g.group_id, 1u);
  EXPECT_EQ(g.buckets.size(), 32u);
  // A bucket whose length overruns, or is not a multiple of 8.
  auto bad = gm_bytes;
  bad[17] = 0x40;
  ExpectError(bad, err::kBadRequest, err::kBadRequestBadLen);
  bad[17] = 0x12;
  ExpectError(bad, err::kBadRequest, err::kBadRequestBadLen);
  EveryPrefixIsHandled(gm_bytes);
}

TEST(OfpCodec14, FixedLayoutMessagesAreThe13Ones) {
  // A 1.4 flow mod is the 1.3 one with the version byte changed (the 1.3
  // pad after flags became `importance`, which hsw does not use).
  FlowMod fm;
  fm.table_id = 2;
  fm.priority = 7;
  fm.cookie = 0x55;
  fm.instructions.apply = {ActOutput{3, 0}};
  auto v13 = Encode(OfpMessage{kVersion13, 4, fm});
  auto v14 = Encode(OfpMessage{kVersion14, 4, fm});
  ASSERT_EQ(v13.size(), v14.size());
  EXPECT_EQ(v14[0], kVersion14);
  EXPECT_TRUE(std::equal(v13.begin() + 1, v13.end(), v14.begin() + 1));
  auto back = MustDecode(v14);
  EXPECT_EQ(std::get<FlowMod>(back.body).priority, 7);
  // OFPT_FEATURES_REPLY (OF1.4): dpid:0000000000001234 n_tables:254
  FeaturesReply f;
  f.datapath_id = 0x1234;
  EXPECT_EQ(Encode(OfpMessage{kVersion14, 15, f}),
            Hex("050600200000000f000000000000123400000000fe0000000000000700000000"));
}

}  // namespace
}  // namespace hsw::ofp
