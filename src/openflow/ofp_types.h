// OpenFlow as hsw understands it, independent of wire version and of text
// syntax.  The wire codec (ofp_codec.h) and the ovs-ofctl text syntax
// (flow_text.h) both convert to and from these types; ofproto works on them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "packet/flow_field.h"
#include "packet/flow_key.h"

namespace hsw::ofp {

inline constexpr uint8_t kVersion10 = 0x01;
inline constexpr uint8_t kVersion13 = 0x04;
inline constexpr uint8_t kVersion14 = 0x05;

// Reserved port numbers (OpenFlow 1.3, 32 bits).
inline constexpr uint32_t kPortMax = 0xffffff00;
inline constexpr uint32_t kPortInPort = 0xfffffff8;
inline constexpr uint32_t kPortTable = 0xfffffff9;
inline constexpr uint32_t kPortNormal = 0xfffffffa;
inline constexpr uint32_t kPortFlood = 0xfffffffb;
inline constexpr uint32_t kPortAll = 0xfffffffc;
inline constexpr uint32_t kPortController = 0xfffffffd;
inline constexpr uint32_t kPortLocal = 0xfffffffe;
inline constexpr uint32_t kPortAny = 0xffffffff;
inline constexpr uint32_t kGroupAny = 0xffffffff;
inline constexpr uint32_t kNoBuffer = 0xffffffff;
inline constexpr uint8_t kTableAll = 0xff;
inline constexpr uint8_t kNumTables = 254;  // tables 0..253
inline constexpr uint16_t kDefaultPriority = 0x8000;

// A match: key holds the values (already masked), mask which bits matter.
// key.in_port / mask.in_port are OpenFlow port numbers.
struct Match {
  FlowKey key = FlowKey::Zero();
  FlowKey mask = FlowKey::Zero();
  bool operator==(const Match& o) const { return key == o.key && mask == o.mask; }
};

// Actions.  ovs-ofctl's mod_dl_src, mod_nw_dst, mod_vlan_vid, set_field... all
// become ActSetField.
struct ActOutput {
  uint32_t port = 0;
  uint16_t max_len = 0xffff;  // bytes sent to the controller for kPortController
  bool operator==(const ActOutput&) const = default;
};
struct ActSetField {
  FieldId field{};
  FieldValue value;
  bool operator==(const ActSetField&) const = default;
};
struct ActPushVlan {
  uint16_t ethertype = 0x8100;
  bool operator==(const ActPushVlan&) const = default;
};
struct ActPopVlan {
  bool operator==(const ActPopVlan&) const = default;
};
struct ActDecNwTtl {
  bool operator==(const ActDecNwTtl&) const = default;
};
using Action = std::variant<ActOutput, ActSetField, ActPushVlan, ActPopVlan, ActDecNwTtl>;
using Actions = std::vector<Action>;

struct WriteMetadata {
  uint64_t value = 0;
  uint64_t mask = ~0ull;
  bool operator==(const WriteMetadata&) const = default;
};

// OpenFlow 1.3 instructions.  In ovs-ofctl text: apply-actions is the plain
// action list, then clear_actions, write_actions(...), write_metadata:V/M,
// goto_table:N.  Execution order is the spec's: apply, clear, write, metadata, goto.
struct Instructions {
  Actions apply;
  bool clear_actions = false;
  std::optional<Actions> write_actions;
  std::optional<WriteMetadata> write_metadata;
  std::optional<uint8_t> goto_table;
  bool operator==(const Instructions&) const = default;
};

enum class FlowModCommand : uint8_t {
  kAdd = 0,
  kModify = 1,
  kModifyStrict = 2,
  kDelete = 3,
  kDeleteStrict = 4,
};

inline constexpr uint16_t kFlowFlagSendFlowRem = 1 << 0;
inline constexpr uint16_t kFlowFlagCheckOverlap = 1 << 1;
inline constexpr uint16_t kFlowFlagResetCounts = 1 << 2;
inline constexpr uint16_t kFlowFlagNoPktCounts = 1 << 3;
inline constexpr uint16_t kFlowFlagNoBytCounts = 1 << 4;

struct FlowMod {
  uint64_t cookie = 0;
  uint64_t cookie_mask = 0;  // for modify/delete: which cookie bits must match
  uint8_t table_id = 0;      // kTableAll allowed for delete
  FlowModCommand command = FlowModCommand::kAdd;
  uint16_t idle_timeout = 0;
  uint16_t hard_timeout = 0;
  uint16_t priority = kDefaultPriority;
  uint32_t buffer_id = kNoBuffer;
  uint32_t out_port = kPortAny;  // delete filter
  uint32_t out_group = kGroupAny;
  uint16_t flags = 0;
  Match match;
  Instructions instructions;
};

// Errors sent back to controllers: OpenFlow (type, code) plus a detail
// string that hsw-ctl and the log show.  For an experimenter error (type
// 0xffff) `code` is the experimenter's code and `experimenter` its id (0
// means ONF, the one 1.3 bundles use).
struct OfpError {
  uint16_t type = 0;
  uint16_t code = 0;
  std::string detail;
  uint32_t experimenter = 0;
};
namespace err {
inline constexpr uint16_t kHelloFailed = 0;
inline constexpr uint16_t kBadRequest = 1;
inline constexpr uint16_t kBadAction = 2;
inline constexpr uint16_t kBadInstruction = 3;
inline constexpr uint16_t kBadMatch = 4;
inline constexpr uint16_t kFlowModFailed = 5;
inline constexpr uint16_t kGroupModFailed = 6;
inline constexpr uint16_t kPortModFailed = 7;
inline constexpr uint16_t kTableModFailed = 8;
inline constexpr uint16_t kQueueOpFailed = 9;
inline constexpr uint16_t kSwitchConfigFailed = 10;
inline constexpr uint16_t kRoleRequestFailed = 11;
inline constexpr uint16_t kMeterModFailed = 12;
inline constexpr uint16_t kTableFeaturesFailed = 13;
// Codes used by hsw (OpenFlow 1.3 numbering).
inline constexpr uint16_t kHelloIncompatible = 0;
inline constexpr uint16_t kBadRequestBadVersion = 0;
inline constexpr uint16_t kBadRequestBadType = 1;
inline constexpr uint16_t kBadRequestBadMultipart = 2;
inline constexpr uint16_t kBadRequestBadLen = 6;
inline constexpr uint16_t kBadRequestBufferUnknown = 8;
inline constexpr uint16_t kBadRequestBadTableId = 9;
inline constexpr uint16_t kBadRequestEperm = 5;
inline constexpr uint16_t kBadRequestBadPort = 11;
inline constexpr uint16_t kBadRequestBadPacket = 12;
inline constexpr uint16_t kBadActionBadType = 0;
inline constexpr uint16_t kBadActionBadLen = 1;
inline constexpr uint16_t kBadActionBadOutPort = 4;
inline constexpr uint16_t kBadActionBadArgument = 5;
inline constexpr uint16_t kBadActionBadOutGroup = 9;
inline constexpr uint16_t kBadActionMatchInconsistent = 10;
inline constexpr uint16_t kBadActionBadSetType = 13;
inline constexpr uint16_t kBadActionBadSetLen = 14;
inline constexpr uint16_t kBadActionBadSetArgument = 15;
inline constexpr uint16_t kBadInstructionUnknownInst = 0;
inline constexpr uint16_t kBadInstructionUnsupInst = 1;
inline constexpr uint16_t kBadInstructionBadTableId = 2;
inline constexpr uint16_t kBadInstructionBadLen = 7;  // OFPBIC_BAD_LEN (1.3 numbering)
inline constexpr uint16_t kBadMatchBadType = 0;
inline constexpr uint16_t kBadMatchBadLen = 1;
inline constexpr uint16_t kBadMatchBadField = 6;
inline constexpr uint16_t kBadMatchBadValue = 7;
inline constexpr uint16_t kBadMatchBadMask = 8;
inline constexpr uint16_t kBadMatchBadPrereq = 9;
inline constexpr uint16_t kBadMatchDupField = 10;
inline constexpr uint16_t kFlowModUnknown = 0;
inline constexpr uint16_t kFlowModTableFull = 1;
inline constexpr uint16_t kFlowModBadTableId = 2;
inline constexpr uint16_t kFlowModOverlap = 3;
inline constexpr uint16_t kFlowModEperm = 4;
inline constexpr uint16_t kFlowModBadTimeout = 5;
inline constexpr uint16_t kFlowModBadCommand = 6;
inline constexpr uint16_t kFlowModBadFlags = 7;
}  // namespace err

inline OfpError MakeOfpError(uint16_t type, uint16_t code, std::string detail) {
  return OfpError{type, code, std::move(detail)};
}

// --- Statistics and asynchronous messages ---

struct FlowStatsRequest {
  uint8_t table_id = kTableAll;
  uint32_t out_port = kPortAny;
  uint32_t out_group = kGroupAny;
  uint64_t cookie = 0;
  uint64_t cookie_mask = 0;
  Match match;
};

struct FlowStats {
  uint8_t table_id = 0;
  uint32_t duration_sec = 0;
  uint32_t duration_nsec = 0;
  uint16_t priority = 0;
  uint16_t idle_timeout = 0;
  uint16_t hard_timeout = 0;
  uint16_t flags = 0;
  uint64_t cookie = 0;
  uint64_t packet_count = 0;
  uint64_t byte_count = 0;
  Match match;
  Instructions instructions;
};

struct AggregateStats {
  uint64_t packet_count = 0;
  uint64_t byte_count = 0;
  uint32_t flow_count = 0;
};

struct TableStats {
  uint8_t table_id = 0;
  uint32_t active_count = 0;
  uint64_t lookup_count = 0;
  uint64_t matched_count = 0;
};

inline constexpr uint32_t kPortConfigDown = 1 << 0;
inline constexpr uint32_t kPortStateLinkDown = 1 << 0;
inline constexpr uint32_t kPortStateLive = 1 << 2;

struct PortDesc {
  uint32_t port_no = 0;
  uint8_t hw_addr[6] = {};
  std::string name;
  uint32_t config = 0;
  uint32_t state = 0;
  uint32_t curr = 0, advertised = 0, supported = 0, peer = 0;
  uint32_t curr_speed = 0, max_speed = 0;  // kbps
};

struct PortStats {
  uint32_t port_no = 0;
  uint64_t rx_packets = 0, tx_packets = 0, rx_bytes = 0, tx_bytes = 0;
  uint64_t rx_dropped = 0, tx_dropped = 0, rx_errors = 0, tx_errors = 0;
  uint32_t duration_sec = 0, duration_nsec = 0;
};

inline constexpr uint8_t kPacketInReasonNoMatch = 0;
inline constexpr uint8_t kPacketInReasonAction = 1;

struct PacketIn {
  uint32_t buffer_id = kNoBuffer;
  uint16_t total_len = 0;
  uint8_t reason = kPacketInReasonAction;
  uint8_t table_id = 0;
  uint64_t cookie = 0;
  Match match;                // at least in_port (and metadata if nonzero)
  std::vector<uint8_t> data;  // possibly truncated to max_len
};

struct PacketOut {
  uint32_t buffer_id = kNoBuffer;
  uint32_t in_port = kPortController;
  Actions actions;
  std::vector<uint8_t> data;
};

inline constexpr uint8_t kFlowRemovedIdleTimeout = 0;
inline constexpr uint8_t kFlowRemovedHardTimeout = 1;
inline constexpr uint8_t kFlowRemovedDelete = 2;

struct FlowRemoved {
  uint64_t cookie = 0;
  uint16_t priority = 0;
  uint8_t reason = 0;
  uint8_t table_id = 0;
  uint32_t duration_sec = 0, duration_nsec = 0;
  uint16_t idle_timeout = 0, hard_timeout = 0;
  uint64_t packet_count = 0, byte_count = 0;
  Match match;
};

inline constexpr uint8_t kPortStatusAdd = 0;
inline constexpr uint8_t kPortStatusDelete = 1;
inline constexpr uint8_t kPortStatusModify = 2;

struct PortStatus {
  uint8_t reason = kPortStatusAdd;
  PortDesc desc;
};

}  // namespace hsw::ofp
