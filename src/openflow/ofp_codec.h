// OpenFlow 1.3 and 1.4 on the wire: a pure codec between bytes and the types
// of ofp_types.h.  No sockets, no clocks, no logging: the connection manager
// (ofproto/connmgr.h), hsw-ctl and the tests drive it.
//
// What it covers is what hsw speaks as a switch and what a controller or
// ovs-ofctl sends it: HELLO with version bitmaps, ERROR, ECHO, FEATURES,
// GET/SET_CONFIG, BARRIER, ROLE, FLOW_MOD with OXM matches and the
// apply/write/clear-actions, write-metadata and goto-table instructions,
// PACKET_IN/OUT, FLOW_REMOVED, PORT_STATUS, GROUP_MOD (decoded so that it can
// be refused properly: hsw has no groups yet), the DESC, FLOW, AGGREGATE,
// TABLE, PORT_STATS, GROUP_DESC, PORT_DESC and TABLE_FEATURES multiparts,
// bundles (OpenFlow 1.4's OFPT_BUNDLE_CONTROL/ADD_MESSAGE, and in 1.3 the ONF
// extension 230 carrying the same bodies) and Nicira's TLV table messages
// (what `ovs-ofctl add-tlv-map`/`dump-tlv-map` send).  Both directions of
// every message are implemented, so a test (or hsw-ctl) can play the
// controller against hsw with the same code.
//
// Versions: the table kVersions lists what hsw implements (1.3 and 1.4).
// Where 1.4 keeps 1.3's layout (flow-mod, flow/aggregate/table stats,
// features, config, role, packet-in/out...) one code path serves both; where
// it differs (ofp_port and ofp_port_stats with properties, bundles as their
// own message types, bundle errors as OFPET_BUNDLE_FAILED) the encoder and
// decoder follow OfpMessage::version.  Adding 1.0 or 1.5 means a row in
// kVersions and the layouts that differ, nothing else.
//
// Decoding is where untrusted bytes enter the daemon.  Every read is bounds
// checked; anything the codec does not understand or cannot represent becomes
// an OfpError carrying the OpenFlow (type, code) that the switch sends back
// (e.g. a GROUP action is BAD_ACTION/BAD_TYPE, a TCP port without ip_proto=6
// is BAD_MATCH/BAD_PREREQ), never a crash, an assert or a silent drop.
//
// OXM fields come from the field table (packet/flow_field.h).  Two fields
// that OpenFlow 1.3 has no basic OXM for are carried as Open vSwitch does, so
// that ovs-ofctl round-trips them: nw_ttl as NXM_NX_IP_TTL (class 0x0001,
// field 29) and tcp_flags as the ONF experimenter field 42 (which OpenFlow 1.5
// later made OXM_OF_TCP_FLAGS).
//
// The implementation is split by message family: ofp_codec.cc (framing,
// dispatch, the fixed-layout messages, negotiation), ofp_codec_match.cc (OXM,
// actions, instructions, table features), ofp_codec_multipart.cc,
// ofp_codec_experimenter.cc (bundles, TLV table) and ofp_codec_text.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <variant>
#include <vector>

#include "openflow/ofp_types.h"

namespace hsw::ofp {

template <class T>
using OfpResult = tl::expected<T, OfpError>;

// Message types (ofp_type; the same numbers in 1.3 and 1.4 up to 29).
namespace msg {
inline constexpr uint8_t kHello = 0;
inline constexpr uint8_t kError = 1;
inline constexpr uint8_t kEchoRequest = 2;
inline constexpr uint8_t kEchoReply = 3;
inline constexpr uint8_t kExperimenter = 4;
inline constexpr uint8_t kFeaturesRequest = 5;
inline constexpr uint8_t kFeaturesReply = 6;
inline constexpr uint8_t kGetConfigRequest = 7;
inline constexpr uint8_t kGetConfigReply = 8;
inline constexpr uint8_t kSetConfig = 9;
inline constexpr uint8_t kPacketIn = 10;
inline constexpr uint8_t kFlowRemoved = 11;
inline constexpr uint8_t kPortStatus = 12;
inline constexpr uint8_t kPacketOut = 13;
inline constexpr uint8_t kFlowMod = 14;
inline constexpr uint8_t kGroupMod = 15;
inline constexpr uint8_t kPortMod = 16;
inline constexpr uint8_t kTableMod = 17;
inline constexpr uint8_t kMultipartRequest = 18;
inline constexpr uint8_t kMultipartReply = 19;
inline constexpr uint8_t kBarrierRequest = 20;
inline constexpr uint8_t kBarrierReply = 21;
inline constexpr uint8_t kQueueGetConfigRequest = 22;
inline constexpr uint8_t kQueueGetConfigReply = 23;
inline constexpr uint8_t kRoleRequest = 24;
inline constexpr uint8_t kRoleReply = 25;
inline constexpr uint8_t kGetAsyncRequest = 26;
inline constexpr uint8_t kGetAsyncReply = 27;
inline constexpr uint8_t kSetAsync = 28;
inline constexpr uint8_t kMeterMod = 29;
// OpenFlow 1.4 only.
inline constexpr uint8_t kRoleStatus = 30;
inline constexpr uint8_t kTableStatus = 31;
inline constexpr uint8_t kRequestForward = 32;
inline constexpr uint8_t kBundleControl = 33;
inline constexpr uint8_t kBundleAddMessage = 34;
}  // namespace msg

// Multipart types (ofp_multipart_type).
namespace mp {
inline constexpr uint16_t kDesc = 0;
inline constexpr uint16_t kFlow = 1;
inline constexpr uint16_t kAggregate = 2;
inline constexpr uint16_t kTable = 3;
inline constexpr uint16_t kPortStats = 4;
inline constexpr uint16_t kGroupDesc = 7;
inline constexpr uint16_t kTableFeatures = 12;
inline constexpr uint16_t kPortDesc = 13;
inline constexpr uint16_t kFlagMore = 1;  // OFPMPF_REQ_MORE / OFPMPF_REPLY_MORE
}  // namespace mp

inline constexpr size_t kHeaderSize = 8;
inline constexpr size_t kMaxMessageSize = 65535;
// Capabilities in FEATURES_REPLY: FLOW_STATS | TABLE_STATS | PORT_STATS.
inline constexpr uint32_t kDefaultCapabilities = 0x1 | 0x2 | 0x4;
// The OpenFlow versions hsw implements, lowest first: the one table that
// negotiation, HELLO bitmaps and the Bridge `protocols` names come from.
// Open vSwitch enables 1.0 to 1.5 by default; hsw offers what it implements.
struct VersionInfo {
  uint8_t wire;      // ofp_header.version
  const char* name;  // as in OVSDB's Bridge protocols column and ovs-ofctl -O
};
inline constexpr VersionInfo kVersions[] = {
    {kVersion13, "OpenFlow13"},
    {kVersion14, "OpenFlow14"},
};
// The versions of kVersions as a HELLO version bitmap (bit n = wire version n).
inline constexpr uint32_t kSupportedVersions = [] {
  uint32_t bitmap = 0;
  for (const VersionInfo& v : kVersions) bitmap |= 1u << v.wire;
  return bitmap;
}();
// "OpenFlow14" for 0x05; nullptr for a version hsw does not implement.
const char* VersionName(uint8_t wire);
// 0x05 for "OpenFlow14"; nullopt for a name hsw does not implement.
std::optional<uint8_t> VersionFromName(std::string_view name);
// The bitmap for a Bridge's protocols column (["OpenFlow13","OpenFlow14"]);
// an empty list means every version hsw implements.  An unknown or
// unimplemented name is an error naming it (detail), with code 0.
OfpResult<uint32_t> VersionBitmapFromNames(const std::vector<std::string>& names);

// Roles (ofp_controller_role).
inline constexpr uint32_t kRoleNoChange = 0;
inline constexpr uint32_t kRoleEqual = 1;
inline constexpr uint32_t kRoleMaster = 2;
inline constexpr uint32_t kRoleSlave = 3;

// Error codes that ofp_types.h does not name (OpenFlow 1.3 numbering, which
// 1.4 keeps; 1.4 only adds codes and types).
namespace err {
inline constexpr uint16_t kBadRequestBadXid = 13;  // unused by 1.3 peers
inline constexpr uint16_t kGroupModOutOfGroups = 3;
inline constexpr uint16_t kGroupModUnknownGroup = 8;
inline constexpr uint16_t kGroupModBadCommand = 11;
inline constexpr uint16_t kBundleFailed = 17;  // OFPET_BUNDLE_FAILED (1.4)
inline constexpr uint16_t kHelloEperm = 1;
inline constexpr uint16_t kBadRequestBadExperimenter = 3;
inline constexpr uint16_t kBadRequestBadExpType = 4;
inline constexpr uint16_t kBadActionBadExperimenter = 2;
inline constexpr uint16_t kBadActionBadExpType = 3;
inline constexpr uint16_t kBadInstructionBadExperimenter = 5;
inline constexpr uint16_t kBadMatchBadWildcards = 5;
inline constexpr uint16_t kRoleRequestBadRole = 2;
inline constexpr uint16_t kTableFeaturesEperm = 5;
}  // namespace err

// Bundles (OpenFlow 1.4's OFPT_BUNDLE_CONTROL/ADD_MESSAGE, carried in 1.3 as
// ONF extension 230 the way ovs-ofctl --bundle sends them): a connection
// opens a bundle, adds flow-mods to it, and commits them all or none.
// The kErr* codes below are the 1.3 (ONF) numbers; 1.4 numbers the same
// errors 0.. under OFPET_BUNDLE_FAILED.  BundleError() picks by version.
namespace bundle {
inline constexpr uint16_t kOpenRequest = 0;
inline constexpr uint16_t kOpenReply = 1;
inline constexpr uint16_t kCloseRequest = 2;
inline constexpr uint16_t kCloseReply = 3;
inline constexpr uint16_t kCommitRequest = 4;
inline constexpr uint16_t kCommitReply = 5;
inline constexpr uint16_t kDiscardRequest = 6;
inline constexpr uint16_t kDiscardReply = 7;
inline constexpr uint16_t kFlagAtomic = 1;
inline constexpr uint16_t kFlagOrdered = 2;
inline constexpr uint32_t kOnfExperimenter = 0x4f4e4600;
inline constexpr uint32_t kOnfBundleControl = 2300;
inline constexpr uint32_t kOnfBundleAdd = 2301;
// In 1.3, bundle errors are experimenter errors (OfpError type
// kErrorTypeExperimenter, code = ONF code; MakeErrorReply adds the ONF id).
inline constexpr uint16_t kErrorTypeExperimenter = 0xffff;
inline constexpr uint16_t kErrUnknown = 2300;
inline constexpr uint16_t kErrEperm = 2301;
inline constexpr uint16_t kErrBadId = 2302;
inline constexpr uint16_t kErrBundleExist = 2303;
inline constexpr uint16_t kErrBundleClosed = 2304;
inline constexpr uint16_t kErrOutOfBundles = 2305;
inline constexpr uint16_t kErrBadType = 2306;
inline constexpr uint16_t kErrBadFlags = 2307;
inline constexpr uint16_t kErrMsgBadLen = 2308;
inline constexpr uint16_t kErrMsgUnsup = 2310;
inline constexpr uint16_t kErrMsgFailed = 2313;
inline constexpr uint16_t kErrOnfBase = 2300;
}  // namespace bundle

// The bundle error `onf_code` (bundle::kErr*) as `version` spells it: an
// ONF experimenter error in 1.3, OFPET_BUNDLE_FAILED in 1.4.
OfpError BundleError(uint8_t version, uint16_t onf_code, std::string detail);

// Nicira extensions (experimenter 0x00002320) that hsw serves: the TLV
// table, which maps Geneve option (class, type, length) to tun_metadataN.
namespace nx {
inline constexpr uint32_t kExperimenter = 0x00002320;
inline constexpr uint32_t kTlvTableMod = 24;
inline constexpr uint32_t kTlvTableRequest = 25;
inline constexpr uint32_t kTlvTableReply = 26;
inline constexpr uint16_t kTlvAdd = 0;
inline constexpr uint16_t kTlvDelete = 1;
inline constexpr uint16_t kTlvClear = 2;
// What Open vSwitch reports and enforces: 64 fields, 256 bytes of options,
// one option at most 124 bytes, lengths in 4-byte units.
inline constexpr uint16_t kTlvMaxFields = 64;
inline constexpr uint32_t kTlvMaxOptionSpace = 256;
inline constexpr uint8_t kTlvMaxOptionLen = 124;
// NXTTMFC_* errors: experimenter errors (type 0xffff) with this code and
// the Nicira experimenter id, as OVS sends them in OpenFlow 1.2 and later.
inline constexpr uint16_t kErrBadCommand = 16;
inline constexpr uint16_t kErrBadOptLen = 17;
inline constexpr uint16_t kErrBadFieldIdx = 18;
inline constexpr uint16_t kErrTableFull = 19;
inline constexpr uint16_t kErrAlreadyMapped = 20;
inline constexpr uint16_t kErrDupEntry = 21;
inline constexpr uint16_t kErrInvalidTlvDel = 38;
}  // namespace nx

OfpError NxError(uint16_t code, std::string detail);

// --- Message bodies.  Each is one alternative of MessageBody. ---

struct Hello {
  uint32_t version_bitmap = kSupportedVersions;  // 0 = the peer sent no bitmap
  bool operator==(const Hello&) const = default;
};
struct ErrorMsg {
  uint16_t type = 0;
  uint16_t code = 0;
  std::vector<uint8_t> data;  // the offending request's first 64 bytes, or text for HELLO_FAILED
  bool operator==(const ErrorMsg&) const = default;
};
struct EchoRequest {
  std::vector<uint8_t> data;
  bool operator==(const EchoRequest&) const = default;
};
struct EchoReply {
  std::vector<uint8_t> data;
  bool operator==(const EchoReply&) const = default;
};
struct FeaturesRequest {
  bool operator==(const FeaturesRequest&) const = default;
};
struct FeaturesReply {
  uint64_t datapath_id = 0;
  uint32_t n_buffers = 0;
  uint8_t n_tables = kNumTables;
  uint8_t auxiliary_id = 0;
  uint32_t capabilities = kDefaultCapabilities;
  bool operator==(const FeaturesReply&) const = default;
};
struct GetConfigRequest {
  bool operator==(const GetConfigRequest&) const = default;
};
struct SwitchConfig {
  uint16_t flags = 0;            // OFPC_FRAG_*; hsw only supports FRAG_NORMAL (0)
  uint16_t miss_send_len = 128;  // bytes of a table-miss packet sent to the controller
  bool operator==(const SwitchConfig&) const = default;
};
struct GetConfigReply {
  SwitchConfig config;
  bool operator==(const GetConfigReply&) const = default;
};
struct SetConfig {
  SwitchConfig config;
  bool operator==(const SetConfig&) const = default;
};
struct BarrierRequest {
  bool operator==(const BarrierRequest&) const = default;
};
struct BarrierReply {
  bool operator==(const BarrierReply&) const = default;
};
struct RoleRequest {
  uint32_t role = kRoleNoChange;
  uint64_t generation_id = 0;
  bool operator==(const RoleRequest&) const = default;
};
struct RoleReply {
  uint32_t role = kRoleEqual;
  uint64_t generation_id = 0;
  bool operator==(const RoleReply&) const = default;
};

struct BundleControl {
  uint32_t bundle_id = 0;
  uint16_t type = bundle::kOpenRequest;
  uint16_t flags = 0;
  bool operator==(const BundleControl&) const = default;
};
struct BundleAdd {
  uint32_t bundle_id = 0;
  uint16_t flags = 0;
  std::vector<uint8_t> message;  // one whole OpenFlow message (header included)
  bool operator==(const BundleAdd&) const = default;
};

// GROUP_MOD (the same layout in 1.3 and 1.4).  Buckets are kept as bytes:
// hsw has no groups (issue 14), it only needs to answer properly.
struct GroupMod {
  uint16_t command = 0;  // OFPGC_ADD / MODIFY / DELETE
  uint8_t type = 0;      // OFPGT_*
  uint32_t group_id = 0;
  std::vector<uint8_t> buckets;
  bool operator==(const GroupMod&) const = default;
};
inline constexpr uint16_t kGroupAdd = 0;
inline constexpr uint16_t kGroupModify = 1;
inline constexpr uint16_t kGroupDelete = 2;

// Nicira TLV table messages.
struct TlvMap {
  uint16_t option_class = 0;
  uint8_t option_type = 0;
  uint8_t option_len = 0;  // bytes, a multiple of 4
  uint16_t index = 0;      // N of tun_metadataN
  bool operator==(const TlvMap&) const = default;
};
struct TlvTableMod {
  uint16_t command = nx::kTlvAdd;
  std::vector<TlvMap> maps;
  bool operator==(const TlvTableMod&) const = default;
};
struct TlvTableRequest {
  bool operator==(const TlvTableRequest&) const = default;
};
struct TlvTableReply {
  uint32_t max_option_space = nx::kTlvMaxOptionSpace;
  uint16_t max_fields = nx::kTlvMaxFields;
  std::vector<TlvMap> maps;
  bool operator==(const TlvTableReply&) const = default;
};

// Multipart requests.
struct DescRequest {
  bool operator==(const DescRequest&) const = default;
};
struct AggregateRequest {
  FlowStatsRequest request;
};
struct TableStatsRequest {
  bool operator==(const TableStatsRequest&) const = default;
};
struct PortStatsRequest {
  uint32_t port_no = kPortAny;
  bool operator==(const PortStatsRequest&) const = default;
};
struct PortDescRequest {
  bool operator==(const PortDescRequest&) const = default;
};
struct TableFeaturesRequest {
  bool operator==(const TableFeaturesRequest&) const = default;
};
struct GroupDescRequest {
  bool operator==(const GroupDescRequest&) const = default;
};
struct MultipartRequest {
  uint16_t flags = 0;
  std::variant<DescRequest, FlowStatsRequest, AggregateRequest, TableStatsRequest, PortStatsRequest,
               PortDescRequest, TableFeaturesRequest, GroupDescRequest>
      body;
  uint16_t mp_type() const;
};

// Multipart replies.
struct DescStats {
  std::string mfr_desc = "hsw project";
  std::string hw_desc = "hsw";
  std::string sw_desc;
  std::string serial_num = "None";
  std::string dp_desc;
  bool operator==(const DescStats&) const = default;
};
// One table's features.  `properties` is the raw OpenFlow 1.3 property list
// (ofp_table_feature_prop_*), padded as on the wire; HswTableFeatures() builds
// hsw's, decoding keeps a peer's as bytes.
struct TableFeatures {
  uint8_t table_id = 0;
  std::string name;
  uint64_t metadata_match = ~0ull;
  uint64_t metadata_write = ~0ull;
  uint32_t config = 0;
  uint32_t max_entries = 1000000;
  std::vector<uint8_t> properties;
  bool operator==(const TableFeatures&) const = default;
};
// A GROUP_DESC reply: hsw's is always empty (no groups yet); a peer's
// entries are kept as bytes.
struct GroupDescReply {
  std::vector<uint8_t> entries;
  bool operator==(const GroupDescReply&) const = default;
};
struct MultipartReply {
  uint16_t flags = 0;  // mp::kFlagMore on all but the last message of a split reply
  std::variant<DescStats, std::vector<FlowStats>, AggregateStats, std::vector<TableStats>,
               std::vector<PortStats>, std::vector<PortDesc>, std::vector<TableFeatures>,
               GroupDescReply>
      body;
  uint16_t mp_type() const;
};

using MessageBody =
    std::variant<Hello, ErrorMsg, EchoRequest, EchoReply, FeaturesRequest, FeaturesReply,
                 GetConfigRequest, GetConfigReply, SetConfig, PacketIn, FlowRemoved, PortStatus,
                 PacketOut, FlowMod, MultipartRequest, MultipartReply, BarrierRequest, BarrierReply,
                 RoleRequest, RoleReply, BundleControl, BundleAdd, GroupMod, TlvTableMod,
                 TlvTableRequest, TlvTableReply>;

struct OfpMessage {
  uint8_t version = kVersion13;
  uint32_t xid = 0;
  MessageBody body;

  // The wire type (msg::k*) of `body` in `version` (a bundle message is
  // EXPERIMENTER in 1.3, BUNDLE_CONTROL/ADD_MESSAGE in 1.4).
  uint8_t type() const;
};

// --- Framing ---

// The length of the first message in `buffer`: 0 when more bytes are needed
// to know, otherwise the header's length (which may exceed buffer.size(): wait
// for the rest).  An error means framing is lost (length below 8, or a
// version byte that is no OpenFlow version at all, i.e. not a message); the
// caller should send the error and close.
OfpResult<size_t> FrameLength(std::span<const uint8_t> buffer);

// Splits a byte stream into messages.  Feed() what the socket gave, then call
// Next() until it returns an empty span.  A returned span stays valid until
// the next Feed().
class StreamSplitter {
 public:
  void Feed(std::span<const uint8_t> data);
  // The next complete message, an empty span if none is complete yet, or the
  // framing error (after which the stream is useless).
  OfpResult<std::span<const uint8_t>> Next();
  size_t buffered() const { return buffer_.size() - start_; }
  // The bytes not yet returned by Next() (what a framing error was about).
  std::span<const uint8_t> pending() const {
    return std::span<const uint8_t>(buffer_.data() + start_, buffer_.size() - start_);
  }

 private:
  std::vector<uint8_t> buffer_;
  size_t start_ = 0;
};

// --- Messages ---

// Decodes one complete message (`bytes` is exactly one header's length).
// HELLO, ERROR and ECHO decode in any version (they are what version
// negotiation itself uses); everything else must be a version of kVersions,
// else BAD_REQUEST/BAD_VERSION.  (Whether it is the version negotiated on a
// connection is the connection's business.)
OfpResult<OfpMessage> Decode(std::span<const uint8_t> bytes);

// Encodes `message` in message.version (one of kVersions).  A multipart reply that does not fit in
// `max_size` bytes is split between entries into several messages, all but
// the last flagged MORE; they come back concatenated (one write to a socket).
// Every other body fits one message for any input that Decode accepts; a body
// that cannot fit (a PACKET_IN of 70000 bytes) is truncated to its data's
// room, never emitted with a wrong length.
std::vector<uint8_t> Encode(const OfpMessage& message, size_t max_size = kMaxMessageSize);

// The ERROR message answering `request` (xid and version copied, data = its
// first 64 bytes; for HELLO_FAILED the data is error.detail as text, as the
// spec says; an experimenter error (type 0xffff) gets error.experimenter, or
// the ONF id when that is 0, first).
OfpMessage MakeErrorReply(const OfpError& error, std::span<const uint8_t> request);

// The version to speak with a peer whose HELLO had `peer_header_version` in
// its header and `peer_hello`'s bitmap (0 = none), or HELLO_FAILED/INCOMPATIBLE:
// the highest version in both bitmaps; a peer without a bitmap is taken to
// support every version up to its header's, so the result is the lower of
// the two highest versions (when we implement it).  Also the version to put
// in our own HELLO's header: HelloVersion(our_versions).
OfpResult<uint8_t> NegotiateVersion(uint8_t peer_header_version, const Hello& peer_hello,
                                    uint32_t our_versions = kSupportedVersions);
// The highest version in `versions` (the header version of our HELLO).
uint8_t HelloVersion(uint32_t versions = kSupportedVersions);

// --- Pieces, for tests and for hsw-ctl ---

// An ofp_match of type OXM, padded to 8 bytes.
void EncodeMatch(const Match& match, std::vector<uint8_t>& out);
// Decodes an ofp_match at the start of `bytes`; *consumed = its padded size.
OfpResult<Match> DecodeMatch(std::span<const uint8_t> bytes, size_t* consumed);
// OXM TLVs only (no ofp_match header), as in SET_FIELD or NXM.
OfpResult<Match> DecodeOxmFields(std::span<const uint8_t> oxms);

void EncodeActions(const Actions& actions, std::vector<uint8_t>& out);
// `packet_out` allows output to TABLE, which a flow's actions may not use.
OfpResult<Actions> DecodeActions(std::span<const uint8_t> bytes, bool packet_out = false);
void EncodeInstructions(const Instructions& instructions, std::vector<uint8_t>& out);
OfpResult<Instructions> DecodeInstructions(std::span<const uint8_t> bytes);

// hsw's tables as TABLE_FEATURES describes them: kNumTables tables, every
// field of the field table matchable (masks where the field allows) and
// settable, the five instructions, the five actions.  ovs-ofctl asks for this
// before every flow command (for table names) and rejects an empty answer.
std::vector<TableFeatures> HswTableFeatures();

// --- Text, for logs ---

const char* MessageTypeName(uint8_t type);
// "OFPBMC_BAD_PREREQ"; "type 4 code 99" for codes it does not know.
std::string ErrorName(uint16_t type, uint16_t code);
// One line: "FLOW_MOD xid=0x6 add table=1 priority=100 cookie=0x5 ..."
std::string FormatMessage(const OfpMessage& message);

}  // namespace hsw::ofp
