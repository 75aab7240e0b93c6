// The datapath protocol: messages between hsw-datapath and its clients
// (hsw-vswitchd, hsw-ctl) over the unix socket <rundir>/datapath.sock.
// docs/dpif-protocol.md is the specification; this header is its C++ form.
//
// Framing: every message starts with a 16-byte MsgHeader in host byte order
// (both ends run on one machine), followed by (length - 16) payload bytes
// encoded by dpif_codec.h.  A request has flags 0; its reply has kFlagReply,
// the same xid, and `error` = 0 or a positive errno, in which case the payload
// is an ErrorReply.  A reply may be split over several messages with
// kFlagMore on all but the last (FlowDump).  Upcalls are unsolicited messages
// from the datapath with xid 0.
//
// Versioning: the first message on a connection is Hello in both directions.
// The client sends the range of versions it speaks and sizeof(FlowKey); the
// datapath answers with the version chosen, or refuses with EPROTONOSUPPORT
// and a message naming both ranges, then closes.
//
// Roles: one client at a time is the owner (hsw-vswitchd); it receives
// upcalls.  Any number of monitors (hsw-ctl) may query and change state but
// receive no upcalls.  A second owner is refused with EBUSY.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "dpif/dp_actions.h"
#include "packet/flow_key.h"

namespace hsw::dpif {

inline constexpr uint32_t kProtocolVersionMin = 1;
inline constexpr uint32_t kProtocolVersionMax = 2;
// The first version with UpcallPause.  A connection that negotiated less
// never carries it: a version-1 datapath does not know the message type and
// would close the connection as corrupt.
inline constexpr uint32_t kProtocolVersionUpcallPause = 2;
inline constexpr uint32_t kMaxMessageSize = 16 * 1024 * 1024;

enum class MsgType : uint16_t {
  kHello = 1,
  kPortAdd = 2,
  kPortDel = 3,
  kPortList = 4,
  kFlowPut = 5,
  kFlowDel = 6,
  kFlowGet = 7,
  kFlowDump = 8,
  kExecute = 9,
  kUpcall = 10,
  kStatsGet = 11,
  kFlowFlush = 12,
  kUpcallPause = 13,  // version 2 and up
};

inline constexpr uint16_t kFlagReply = 0x1;
inline constexpr uint16_t kFlagMore = 0x2;

struct MsgHeader {
  uint32_t length;  // whole message, header included
  uint16_t type;    // MsgType
  uint16_t flags;
  uint32_t xid;
  int32_t error;    // replies: 0 or a positive errno
};
static_assert(sizeof(MsgHeader) == 16);

enum class Role : uint8_t { kOwner = 0, kMonitor = 1 };

struct Hello {
  uint32_t version_min = kProtocolVersionMin;
  uint32_t version_max = kProtocolVersionMax;
  uint32_t flow_key_size = sizeof(FlowKey);
  Role role = Role::kMonitor;
  std::string client_name;
};

struct HelloReply {
  uint32_t version = 0;
  uint32_t flow_key_size = 0;
  uint32_t datapath_pid = 0;
  uint64_t instance_id = 0;  // random per datapath process start
  std::string datapath_version;
  uint32_t n_flows = 0;      // flows installed at connect time
};

struct ErrorReply {
  std::string message;  // names what is wrong
};

struct PortStats {
  uint64_t rx_packets = 0, rx_bytes = 0, rx_dropped = 0, rx_errors = 0;
  uint64_t tx_packets = 0, tx_bytes = 0, tx_dropped = 0, tx_errors = 0;
};

struct PortInfo {
  uint32_t port_no = 0;
  std::string name;    // Linux interface name
  std::string type;    // "af_packet"
  uint32_t ifindex = 0;
  uint8_t hw_addr[6] = {};
  uint32_t mtu = 0;
  bool link_up = false;
  PortStats stats;
};

struct PortAdd {
  std::string name;
  std::string type = "af_packet";
  uint32_t port_no = 0;  // 0: the datapath picks the lowest free number
};
struct PortAddReply {
  uint32_t port_no = 0;
};
struct PortDel {
  uint32_t port_no = 0;
};
struct PortList {};
struct PortListReply {
  std::vector<PortInfo> ports;
};

struct FlowStats {
  uint64_t n_packets = 0;
  uint64_t n_bytes = 0;
  uint64_t used_ms = 0;   // CLOCK_MONOTONIC milliseconds of the last hit; 0 = never
  uint16_t tcp_flags = 0; // OR of TCP flags seen
};

inline constexpr uint32_t kPutCreate = 0x1;      // may create a new flow
inline constexpr uint32_t kPutModify = 0x2;      // may replace an existing flow's actions
inline constexpr uint32_t kPutClearStats = 0x4;  // zero the stats when modifying

struct FlowPut {
  FlowKey key = FlowKey::Zero();   // masked by `mask` on arrival
  FlowKey mask = FlowKey::Zero();
  DpActions actions;
  uint32_t flags = kPutCreate | kPutModify;
};
// One reply for a batch of puts: errno per put (0, EEXIST without kPutModify,
// ENOENT without kPutCreate, EINVAL for a bad mask or action, ENOSPC when full).
struct FlowPutBatch {
  std::vector<FlowPut> puts;
};
struct FlowPutBatchReply {
  std::vector<int32_t> errors;
};

struct FlowId {
  FlowKey key = FlowKey::Zero();
  FlowKey mask = FlowKey::Zero();
};
struct FlowDelBatch {
  std::vector<FlowId> flows;
};
struct FlowDelResult {
  int32_t error = 0;  // ENOENT if no such flow
  FlowStats stats;    // final stats of the deleted flow
};
struct FlowDelBatchReply {
  std::vector<FlowDelResult> results;
};

struct DpFlow {
  FlowKey key = FlowKey::Zero();
  FlowKey mask = FlowKey::Zero();
  DpActions actions;
  FlowStats stats;
};
struct FlowGet {
  FlowId flow;
};
struct FlowGetReply {
  DpFlow flow;
};
struct FlowDump {};
// A dump arrives as one or more FlowDumpReply messages (kFlagMore on all but the last).
struct FlowDumpReply {
  std::vector<DpFlow> flows;
};
struct FlowFlush {};  // deletes every flow (used by tests and `hsw-ctl dp-flush`)

struct Execute {
  uint32_t in_port = 0;
  std::vector<uint8_t> packet;  // Ethernet frame
  DpActions actions;
};
struct ExecuteBatch {
  std::vector<Execute> packets;
};

enum class UpcallType : uint8_t { kMiss = 0, kAction = 1 };

struct Upcall {
  UpcallType type = UpcallType::kMiss;
  uint32_t in_port = 0;
  FlowKey key = FlowKey::Zero();                   // as extracted by the datapath
  std::vector<uint8_t> userdata; // from DpUserspace, for kAction
  std::vector<uint8_t> packet;   // the frame (checksums completed)
  uint64_t queued_us = 0;        // how long it waited in the miss queue
};

// The owner's last request before a graceful exit (version 2 and up): the
// datapath stops sending upcalls on this connection -- misses wait in its
// miss queue for the next owner, as when none is connected -- and answers.
// Replies and upcalls share one ordered stream, so every upcall sent before
// the reply has reached the owner's socket by the time the reply does: the
// owner handles them all, then exits, and no miss is lost or delivered twice.
// There is no resume; the pause ends with the connection.
struct UpcallPause {};
struct UpcallPauseReply {
  uint64_t n_upcalls = 0;  // upcalls sent on this connection, all before this reply
};

struct StatsGet {};
struct StatsReply {
  // Named counters, in a stable order: per-tier lookups, upcalls, miss-queue
  // accounting, flow and mask counts.  Names are documented in docs/dpif-protocol.md.
  std::vector<std::pair<std::string, uint64_t>> counters;
  std::vector<PortInfo> ports;

  // A counter by name; nullopt from a datapath that has no such counter.
  std::optional<uint64_t> Counter(std::string_view name) const {
    for (const auto& [counter, value] : counters) {
      if (counter == name) return value;
    }
    return std::nullopt;
  }
};

using Body = std::variant<Hello, HelloReply, ErrorReply, PortAdd, PortAddReply, PortDel, PortList,
                          PortListReply, FlowPutBatch, FlowPutBatchReply, FlowDelBatch,
                          FlowDelBatchReply, FlowGet, FlowGetReply, FlowDump, FlowDumpReply,
                          FlowFlush, ExecuteBatch, Upcall, StatsGet, StatsReply, UpcallPause,
                          UpcallPauseReply>;

struct Message {
  MsgHeader header{};
  Body body;
};

}  // namespace hsw::dpif
