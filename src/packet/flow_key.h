// FlowKey: the parsed headers of one packet, and (as a mask) which of its bits
// matter.  One type serves three roles:
//
//  * the datapath extracts a FlowKey from each received frame and looks it up
//    in the megaflow cache, where every flow is (key, mask) -> actions;
//  * hsw-vswitchd's OpenFlow classifier matches rules against a FlowKey whose
//    in_port has been mapped to the OpenFlow port number and whose metadata is
//    the pipeline's write-metadata register;
//  * a mask is a FlowKey whose 1-bits say "this bit was consulted".
//
// Layout rules (why it looks like this):
//  * Plain data, a multiple of 8 bytes with no implicit padding, so that masked
//    compare and hash run over uint64 words, and so that the datapath protocol
//    can carry it as bytes.  Its size is part of the protocol handshake: a
//    change here is a protocol version change.
//  * Integers are in host byte order; addresses are byte arrays in network
//    order as on the wire.  Host order keeps masks and printing simple.
//  * Fields that do not apply to a packet are zero (an ARP packet has zero
//    tp_src), so a mask may safely cover them.
//  * Like Open vSwitch, ARP reuses fields: nw_proto holds the ARP opcode
//    (low 8 bits), ipv4_src/ipv4_dst hold the sender/target protocol address.
//    ICMP and ICMPv6 put type/code in tp_src/tp_dst.
//  * metadata is OpenFlow's pipeline register.  The datapath always extracts 0
//    there and megaflow masks never cover it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

namespace hsw {

// vlan_tci layout: PCP(3) | CFI/present(1) | VID(12).  The CFI bit is set
// whenever the frame carried an 802.1Q tag, so "no tag" is vlan_tci == 0
// (OpenFlow's OFPVID_PRESENT maps onto this bit).
inline constexpr uint16_t kVlanCfi = 0x1000;
inline constexpr uint16_t kVlanVidMask = 0x0fff;
inline constexpr uint16_t kVlanPcpMask = 0xe000;
inline constexpr int kVlanPcpShift = 13;

// nw_frag bits.
inline constexpr uint8_t kFragAny = 0x01;    // this is a fragment
inline constexpr uint8_t kFragLater = 0x02;  // ... and not the first one

// Ethernet types used by the parser.
inline constexpr uint16_t kEthTypeIpv4 = 0x0800;
inline constexpr uint16_t kEthTypeArp = 0x0806;
inline constexpr uint16_t kEthTypeVlan = 0x8100;
inline constexpr uint16_t kEthTypeQinQ = 0x88a8;
inline constexpr uint16_t kEthTypeIpv6 = 0x86dd;

inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;
inline constexpr uint8_t kIpProtoIcmpv6 = 58;
inline constexpr uint8_t kIpProtoSctp = 132;

struct alignas(8) FlowKey {
  uint64_t metadata;    // OpenFlow metadata register; always 0 in the datapath
  uint32_t in_port;     // datapath port number (OpenFlow port in the classifier)
  uint16_t vlan_tci;    // see kVlanCfi; 0 = untagged
  uint16_t eth_type;    // inner ethertype for tagged frames; 0x05ff for 802.3 frames
  uint8_t eth_src[6];
  uint8_t eth_dst[6];
  uint8_t nw_proto;     // IP protocol, or ARP opcode
  uint8_t nw_tos;       // DSCP (high 6 bits) | ECN (low 2 bits)
  uint8_t nw_ttl;       // IPv4 TTL or IPv6 hop limit
  uint8_t nw_frag;      // kFragAny | kFragLater
  uint16_t tp_src;      // L4 source port; ICMP/ICMPv6 type
  uint16_t tp_dst;      // L4 destination port; ICMP/ICMPv6 code
  uint16_t tcp_flags;   // low 12 bits of the TCP flags
  uint8_t pad0[2];
  uint8_t ipv4_src[4];  // also ARP sender protocol address
  uint8_t ipv4_dst[4];  // also ARP target protocol address
  uint8_t ipv6_src[16];
  uint8_t ipv6_dst[16];
  uint8_t arp_sha[6];
  uint8_t arp_tha[6];
  uint8_t pad1[4];

  static constexpr size_t kWords = 12;

  // All-zero key (and the empty mask: matches everything).
  static FlowKey Zero() {
    FlowKey key;
    std::memset(&key, 0, sizeof(key));
    return key;
  }
  // All-one mask (exact match on every field).
  static FlowKey Ones() {
    FlowKey key;
    std::memset(&key, 0xff, sizeof(key));
    return key;
  }
};

static_assert(sizeof(FlowKey) == FlowKey::kWords * 8, "FlowKey must be a whole number of words");
static_assert(std::is_trivially_copyable_v<FlowKey>);
static_assert(std::has_unique_object_representations_v<FlowKey>,
              "FlowKey must have no implicit padding (it is hashed and compared as bytes)");

// Word access.  memcpy keeps this free of aliasing problems; compilers turn it
// into plain loads.
inline uint64_t KeyWord(const FlowKey& key, size_t i) {
  uint64_t w;
  std::memcpy(&w, reinterpret_cast<const char*>(&key) + i * 8, 8);
  return w;
}
inline void SetKeyWord(FlowKey& key, size_t i, uint64_t w) {
  std::memcpy(reinterpret_cast<char*>(&key) + i * 8, &w, 8);
}

inline bool operator==(const FlowKey& a, const FlowKey& b) {
  return std::memcmp(&a, &b, sizeof(FlowKey)) == 0;
}
inline bool operator!=(const FlowKey& a, const FlowKey& b) { return !(a == b); }

// key & mask
inline FlowKey ApplyMask(const FlowKey& key, const FlowKey& mask) {
  FlowKey out;
  for (size_t i = 0; i < FlowKey::kWords; ++i) SetKeyWord(out, i, KeyWord(key, i) & KeyWord(mask, i));
  return out;
}
// (a & mask) == (b & mask)
inline bool MaskedEqual(const FlowKey& a, const FlowKey& b, const FlowKey& mask) {
  uint64_t diff = 0;
  for (size_t i = 0; i < FlowKey::kWords; ++i) diff |= (KeyWord(a, i) ^ KeyWord(b, i)) & KeyWord(mask, i);
  return diff == 0;
}
// a | b (union of masks)
inline FlowKey MaskUnion(const FlowKey& a, const FlowKey& b) {
  FlowKey out;
  for (size_t i = 0; i < FlowKey::kWords; ++i) SetKeyWord(out, i, KeyWord(a, i) | KeyWord(b, i));
  return out;
}
// Every 1-bit of `inner` is also set in `outer`.
inline bool MaskIsSubset(const FlowKey& inner, const FlowKey& outer) {
  for (size_t i = 0; i < FlowKey::kWords; ++i) {
    if (KeyWord(inner, i) & ~KeyWord(outer, i)) return false;
  }
  return true;
}
inline bool IsZero(const FlowKey& key) {
  uint64_t any = 0;
  for (size_t i = 0; i < FlowKey::kWords; ++i) any |= KeyWord(key, i);
  return any == 0;
}

// Hash of (key & mask), with a seed.  xxHash3 over the masked words.
uint64_t HashMasked(const FlowKey& key, const FlowKey& mask, uint64_t seed = 0);
uint64_t HashKey(const FlowKey& key, uint64_t seed = 0);

// A human-readable dump of the nonzero fields (datapath syntax, for logs and
// dp-dump-flows), e.g. "in_port(1),eth(src=..,dst=..),eth_type(0x0800),ipv4(src=10.0.0.1,...)".
// With a mask, prints key/mask and omits fields whose mask is zero.
std::string FormatDpKey(const FlowKey& key, const FlowKey* mask = nullptr);

}  // namespace hsw
