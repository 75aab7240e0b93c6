// Translation ("xlate"): runs one packet's FlowKey through a bridge's OpenFlow
// pipeline and produces what the datapath should do with every packet like it.
//
// Output:
//  * datapath actions, in order (outputs on datapath port numbers, masked
//    header rewrites, VLAN push/pop, userspace for output:CONTROLLER);
//  * the megaflow mask: the bits of the packet that the pipeline's decisions
//    depended on.  It is the OR of what each table lookup consulted (see
//    Classifier::Lookup) and what actions read (dec_ttl reads the TTL,
//    push_vlan reads the tag), minus the bits that actions had already
//    overwritten with constants before a later table looked at them (they no
//    longer depend on the packet).  It always covers in_port and eth_type, and
//    nw_proto/nw_frag whenever L4 fields matter, so that one megaflow never
//    spans protocols; it never covers metadata, which the datapath does not
//    have (metadata only ever holds what the pipeline wrote into it, so it is
//    a function of the other consulted bits);
//  * the rules hit, so datapath statistics can be credited to them.
//
// Semantics are OpenFlow 1.3's: start at table 0; apply-actions run at once;
// clear/write-actions edit the action set, which runs at the end of the
// pipeline (pop, push, dec_ttl, set-fields, output); write-metadata; goto a
// later table.  A table miss drops the packet (and discards the action set).
// output:CONTROLLER becomes a datapath userspace action whose userdata
// identifies the bridge, table, cookie and max_len; when the datapath sends
// that packet up, the Switch turns it into a PacketIn.  output:NORMAL is a
// learning L2 switch (see mac_learning.h): it consults eth_src (so that new
// sources come up to be learned), eth_dst and the VLAN id.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dpif/dp_actions.h"
#include "ofproto/flow_table.h"
#include "ofproto/mac_learning.h"
#include "ofproto/rule.h"
#include "openflow/ofp_types.h"
#include "packet/flow_key.h"

namespace hsw::ofproto {

class PatchResolver;

// What translation needs from a bridge.
struct XlateBridge {
  uint32_t bridge_id = 0;                      // goes into controller userdata
  FlowTables* tables = nullptr;
  // OpenFlow port -> datapath port.  Datapath port 0 (which no datapath
  // port has) marks a patch port: output to it crosses into its peer's
  // bridge, which `patches` says.
  const std::map<uint32_t, uint32_t>* ports = nullptr;
  // For output:NORMAL; without one, NORMAL floods.
  MacTable* macs = nullptr;
  const PatchResolver* patches = nullptr;  // nullptr: patch ports lead nowhere
};

inline constexpr uint32_t kPatchDpPort = 0;
// Patch crossings (and, were there resubmits, those too) a translation may
// make, as Open vSwitch's limit on translation depth: beyond it the packet is
// dropped, so that a loop of patch ports cannot recurse forever.
inline constexpr int kMaxXlateDepth = 64;

// Where a patch port leads: the peer's bridge and its OpenFlow port there.
struct XlatePatchPeer {
  XlateBridge bridge;
  uint32_t ofport = 0;
};

// Resolves patch ports (ofproto's Switch, which knows every bridge).
class PatchResolver {
 public:
  virtual ~PatchResolver() = default;
  // The peer of patch port `ofport` of bridge `bridge_id`, if the link is up:
  // the peer exists, is a patch port, and names this one as its peer.
  virtual std::optional<XlatePatchPeer> PatchPeer(uint32_t bridge_id, uint32_t ofport) const = 0;
};

// One crossing of a patch pair: stats of the megaflow are credited to both
// ends, and the megaflow depends on the peer bridge's tables.
struct PatchCrossing {
  uint32_t from_bridge = 0, from_ofport = 0;
  uint32_t to_bridge = 0, to_ofport = 0;
  bool operator==(const PatchCrossing&) const = default;
};

struct XlateRequest {
  FlowKey key = FlowKey::Zero();  // in_port = OpenFlow port, metadata 0
  // Packet-out: run these actions instead of table 0 (output:TABLE then runs
  // the tables).
  const ofp::Actions* actions = nullptr;
  bool count_stats = true;   // count table lookups (false for trace)
  bool may_learn = false;    // NORMAL learns source addresses (upcalls only)
  SteadyTime now{};          // for learning
  bool trace = false;
};

struct XlateResult {
  DpActions actions;
  FlowKey mask = FlowKey::Zero();  // megaflow mask (in_port bits: the whole port)
  std::vector<RuleRef> rules;      // in the order they were hit
  std::string trace;               // if requested
  bool ttl_expired = false;
  std::vector<PatchCrossing> crossings;  // in order
  bool too_deep = false;           // kMaxXlateDepth exceeded: actions dropped
};

void Translate(const XlateBridge& bridge, const XlateRequest& request, XlateResult* result);

// The userdata of a controller output action.
struct ControllerUserdata {
  uint32_t bridge_id = 0;
  uint32_t in_port = 0;  // OpenFlow port
  uint8_t table_id = 0;
  uint8_t reason = ofp::kPacketInReasonAction;
  uint16_t max_len = 0xffff;
  uint64_t cookie = 0;
  uint64_t metadata = 0;
};
std::vector<uint8_t> EncodeControllerUserdata(const ControllerUserdata& userdata);
std::optional<ControllerUserdata> DecodeControllerUserdata(std::span<const uint8_t> bytes);


}  // namespace hsw::ofproto
