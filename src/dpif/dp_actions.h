// Datapath actions: what a megaflow does to a packet.  The datapath knows no
// OpenFlow; hsw-vswitchd's translation compiles OpenFlow rules into these.
//
// An empty list drops the packet.  Actions run in order on one packet; an
// Output sends a copy of the packet as it is at that point.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "packet/flow_key.h"

namespace hsw {

struct DpOutput {
  uint32_t port;  // datapath port number
  bool operator==(const DpOutput&) const = default;
};

// Rewrites the packet's header fields that `mask` covers to `value`'s bits
// (eth src/dst, VLAN tci, IPv4/IPv6 src/dst/tos/ttl, L4 ports, ARP fields),
// and updates IPv4/TCP/UDP/ICMPv6 checksums to match.  Fields the packet does
// not have are left alone.  in_port, eth_type, nw_proto, metadata and frag
// cannot be set and must be 0 in mask.
struct DpSetMasked {
  FlowKey value = FlowKey::Zero();
  FlowKey mask = FlowKey::Zero();
  bool operator==(const DpSetMasked& o) const { return value == o.value && mask == o.mask; }
};

// Pushes an 802.1Q tag (tpid 0x8100 or 0x88a8) with `tci` (CFI bit ignored).
struct DpPushVlan {
  uint16_t tpid;
  uint16_t tci;
  bool operator==(const DpPushVlan&) const = default;
};

// Removes the outermost VLAN tag, if any.
struct DpPopVlan {
  bool operator==(const DpPopVlan&) const = default;
};

// Sends the packet (as it is at that point) to the owning client as an
// ACTION upcall carrying `userdata` (opaque to the datapath, at most 64 bytes).
struct DpUserspace {
  std::vector<uint8_t> userdata;
  bool operator==(const DpUserspace&) const = default;
};

using DpAction = std::variant<DpOutput, DpSetMasked, DpPushVlan, DpPopVlan, DpUserspace>;
using DpActions = std::vector<DpAction>;

inline constexpr size_t kDpUserdataMaxSize = 64;

// "output:2,set(eth(dst=..)),push_vlan(vid=10,pcp=0),pop_vlan,userspace(0a0b..)"; "drop" if empty.
std::string FormatDpActions(const DpActions& actions);

}  // namespace hsw
