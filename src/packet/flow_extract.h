// Flow extraction: from an Ethernet frame to the FlowKey that the megaflow
// cache looks up, plus where the headers start so that actions can rewrite
// them without parsing again.
//
// What is parsed: Ethernet II (and 802.3 LLC/SNAP with OUI 0), up to two VLAN
// tags (802.1Q 0x8100 / 802.1ad 0x88a8; the outer tag goes into vlan_tci, the
// ethertype after the tags into eth_type), ARP for Ethernet/IPv4, IPv4 with
// options and fragments, IPv6 with its extension headers (hop-by-hop,
// routing, destination options, fragment, AH) skipped, and TCP, UDP, SCTP,
// ICMP and ICMPv6 on first fragments.  A header that is truncated or
// inconsistent stops the parse: the fields it would have filled stay zero and
// its offset is absent, so actions never touch it.
//
// Never reads outside [frame, frame + size), whatever the bytes say (a fuzz
// target checks this).  Allocation-free; the per-packet path calls it for
// every received frame.
#pragma once

#include <cstddef>
#include <cstdint>

#include "packet/flow_key.h"

namespace hsw {

// Byte offsets into the frame; kNoOffset when the header is absent.
struct HeaderOffsets {
  static constexpr uint16_t kNoOffset = 0xffff;
  uint16_t l2_5 = kNoOffset;  // the first VLAN tag (its TPID), if any
  uint16_t l3 = kNoOffset;    // IPv4 / IPv6 / ARP header
  uint16_t l4 = kNoOffset;    // TCP / UDP / SCTP / ICMP / ICMPv6 header, complete
  uint16_t l3_end = 0;        // end of the IP packet (total/payload length), <= frame size
};

// Fills *key from the frame.  `key` is entirely overwritten (metadata = 0).
void ExtractFlow(const uint8_t* frame, size_t size, uint32_t in_port, FlowKey* key,
                 HeaderOffsets* offsets = nullptr);

}  // namespace hsw
