#include "packet/flow_extract.h"

#include <cstring>

namespace hsw {
namespace {

// A bounds-checked reader: every read first asks whether the bytes exist.
struct Cursor {
  const uint8_t* base;
  size_t size;

  bool Has(size_t offset, size_t n) const { return offset <= size && n <= size - offset; }
  uint8_t U8(size_t offset) const { return base[offset]; }
  uint16_t Be16(size_t offset) const {
    return static_cast<uint16_t>(base[offset] << 8 | base[offset + 1]);
  }
  void Copy(void* to, size_t offset, size_t n) const { std::memcpy(to, base + offset, n); }
};

constexpr uint8_t kIpv6HopByHop = 0;
constexpr uint8_t kIpv6Routing = 43;
constexpr uint8_t kIpv6Fragment = 44;
constexpr uint8_t kIpv6Ah = 51;
constexpr uint8_t kIpv6DestOpts = 60;

// L4 on a first fragment (or unfragmented packet), bounded by `end`.
void ExtractL4(const Cursor& c, size_t off, size_t end, FlowKey* key, HeaderOffsets* offs) {
  Cursor l4{c.base, end};
  switch (key->nw_proto) {
    case kIpProtoTcp:
      if (l4.Has(off, 20)) {
        size_t hdr = (l4.U8(off + 12) >> 4) * 4u;
        if (hdr < 20 || !l4.Has(off, hdr)) return;
        key->tp_src = l4.Be16(off);
        key->tp_dst = l4.Be16(off + 2);
        key->tcp_flags = l4.Be16(off + 12) & 0x0fff;
        offs->l4 = static_cast<uint16_t>(off);
      }
      return;
    case kIpProtoUdp:
      if (l4.Has(off, 8)) {
        key->tp_src = l4.Be16(off);
        key->tp_dst = l4.Be16(off + 2);
        offs->l4 = static_cast<uint16_t>(off);
      }
      return;
    case kIpProtoSctp:
      if (l4.Has(off, 12)) {
        key->tp_src = l4.Be16(off);
        key->tp_dst = l4.Be16(off + 2);
        offs->l4 = static_cast<uint16_t>(off);
      }
      return;
    case kIpProtoIcmp:
    case kIpProtoIcmpv6:
      if (l4.Has(off, 4)) {
        key->tp_src = l4.U8(off);
        key->tp_dst = l4.U8(off + 1);
        offs->l4 = static_cast<uint16_t>(off);
      }
      return;
    default:
      return;
  }
}

void ExtractIpv4(const Cursor& c, size_t off, FlowKey* key, HeaderOffsets* offs) {
  if (!c.Has(off, 20)) return;
  uint8_t vihl = c.U8(off);
  size_t ihl = (vihl & 0x0f) * 4u;
  if ((vihl >> 4) != 4 || ihl < 20 || !c.Has(off, ihl)) return;
  size_t total = c.Be16(off + 2);
  if (total < ihl || !c.Has(off, total)) return;
  size_t end = off + total;  // Ethernet padding after the IP packet is not L4 data
  key->nw_tos = c.U8(off + 1);
  key->nw_ttl = c.U8(off + 8);
  key->nw_proto = c.U8(off + 9);
  c.Copy(key->ipv4_src, off + 12, 4);
  c.Copy(key->ipv4_dst, off + 16, 4);
  offs->l3 = static_cast<uint16_t>(off);
  offs->l3_end = static_cast<uint16_t>(end);
  uint16_t frag = c.Be16(off + 6);
  if (frag & 0x3fff) {  // MF set or a nonzero offset
    key->nw_frag = kFragAny;
    if (frag & 0x1fff) {
      key->nw_frag |= kFragLater;
      return;
    }
  }
  ExtractL4(c, off + ihl, end, key, offs);
}

void ExtractIpv6(const Cursor& c, size_t off, FlowKey* key, HeaderOffsets* offs) {
  if (!c.Has(off, 40)) return;
  if ((c.U8(off) >> 4) != 6) return;
  size_t payload = c.Be16(off + 4);
  if (!c.Has(off + 40, payload)) return;
  size_t end = off + 40 + payload;
  key->nw_tos = static_cast<uint8_t>((c.Be16(off) >> 4) & 0xff);
  key->nw_ttl = c.U8(off + 7);
  c.Copy(key->ipv6_src, off + 8, 16);
  c.Copy(key->ipv6_dst, off + 24, 16);
  offs->l3 = static_cast<uint16_t>(off);
  offs->l3_end = static_cast<uint16_t>(end);

  Cursor ip{c.base, end};
  uint8_t next = c.U8(off + 6);
  size_t p = off + 40;
  // Each extension header is at least 8 bytes, so this loop ends within the packet.
  for (;;) {
    if (next == kIpv6HopByHop || next == kIpv6Routing || next == kIpv6DestOpts) {
      if (!ip.Has(p, 8)) return;
      size_t len = (ip.U8(p + 1) + 1u) * 8u;
      if (!ip.Has(p, len)) return;
      next = ip.U8(p);
      p += len;
    } else if (next == kIpv6Ah) {
      if (!ip.Has(p, 8)) return;
      size_t len = (ip.U8(p + 1) + 2u) * 4u;
      if (!ip.Has(p, len)) return;
      next = ip.U8(p);
      p += len;
    } else if (next == kIpv6Fragment) {
      if (!ip.Has(p, 8)) return;
      uint16_t frag = ip.Be16(p + 2);
      next = ip.U8(p);
      p += 8;
      key->nw_frag = kFragAny;
      if (frag & 0xfff8) {
        key->nw_frag |= kFragLater;
        key->nw_proto = next;
        return;
      }
    } else {
      break;
    }
  }
  key->nw_proto = next;
  ExtractL4(c, p, end, key, offs);
}

void ExtractArp(const Cursor& c, size_t off, FlowKey* key, HeaderOffsets* offs) {
  if (!c.Has(off, 28)) return;
  // Only Ethernet/IPv4 ARP has the layout the key describes.
  if (c.Be16(off) != 1 || c.Be16(off + 2) != kEthTypeIpv4 || c.U8(off + 4) != 6 ||
      c.U8(off + 5) != 4) {
    return;
  }
  uint16_t op = c.Be16(off + 6);
  if (op <= 0xff) key->nw_proto = static_cast<uint8_t>(op);
  c.Copy(key->arp_sha, off + 8, 6);
  c.Copy(key->ipv4_src, off + 14, 4);
  c.Copy(key->arp_tha, off + 18, 6);
  c.Copy(key->ipv4_dst, off + 24, 4);
  offs->l3 = static_cast<uint16_t>(off);
  offs->l3_end = static_cast<uint16_t>(off + 28);
}

}  // namespace

void ExtractFlow(const uint8_t* frame, size_t size, uint32_t in_port, FlowKey* key,
                 HeaderOffsets* offsets) {
  HeaderOffsets local;
  HeaderOffsets* offs = offsets ? offsets : &local;
  *offs = HeaderOffsets{};
  std::memset(key, 0, sizeof(*key));
  key->in_port = in_port;
  // Offsets are 16 bits; no frame we handle is larger, and a larger one is
  // parsed only as far as 64 KiB.
  Cursor c{frame, size > 0xfffe ? 0xfffe : size};
  if (!c.Has(0, 14)) return;
  c.Copy(key->eth_dst, 0, 6);
  c.Copy(key->eth_src, 6, 6);
  size_t off = 12;
  uint16_t type = c.Be16(off);
  for (int tags = 0; (type == kEthTypeVlan || type == kEthTypeQinQ) && tags < 2; ++tags) {
    if (!c.Has(off, 8)) break;  // a tag, then at least the next ethertype
    if (tags == 0) {
      key->vlan_tci = c.Be16(off + 2) | kVlanCfi;
      offs->l2_5 = static_cast<uint16_t>(off);
    }
    off += 4;
    type = c.Be16(off);
  }
  off += 2;
  if (type < 0x600) {
    // 802.3 length field: LLC/SNAP with a zero OUI carries an ethertype.
    if (c.Has(off, 8) && c.U8(off) == 0xaa && c.U8(off + 1) == 0xaa && c.U8(off + 2) == 0x03 &&
        c.U8(off + 3) == 0 && c.U8(off + 4) == 0 && c.U8(off + 5) == 0) {
      type = c.Be16(off + 6);
      off += 8;
    } else {
      key->eth_type = 0x05ff;
      return;
    }
  }
  key->eth_type = type;
  switch (type) {
    case kEthTypeIpv4: ExtractIpv4(c, off, key, offs); break;
    case kEthTypeIpv6: ExtractIpv6(c, off, key, offs); break;
    case kEthTypeArp: ExtractArp(c, off, key, offs); break;
    default: break;
  }
}

}  // namespace hsw
