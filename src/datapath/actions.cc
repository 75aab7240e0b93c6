#include "datapath/actions.h"

#include <cstring>
#include <type_traits>

#include "packet/checksum.h"

namespace hsw::dp {
namespace {

constexpr uint16_t kNone = HeaderOffsets::kNoOffset;

uint16_t Load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
void Store16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
void StoreBe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

bool AnySet(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i]) return true;
  }
  return false;
}

// new = (old & ~mask) | (value & mask), into `out`.
void MaskBytes(uint8_t* out, const uint8_t* old, const uint8_t* value, const uint8_t* mask,
               size_t n) {
  for (size_t i = 0; i < n; ++i) {
    out[i] = static_cast<uint8_t>((old[i] & ~mask[i]) | (value[i] & mask[i]));
  }
}

bool IsVlanTpid(uint16_t tpid) { return tpid == kEthTypeVlan || tpid == kEthTypeQinQ; }

bool Tagged(const Packet& p) { return p.size >= 18 && IsVlanTpid(Be16(p.data + 12)); }

void Shift(uint16_t& off, int delta) {
  if (off != kNone) off = static_cast<uint16_t>(off + delta);
}

// The packet's L4 checksum field that covers the IP pseudo header, or nullptr.
struct L4Csum {
  uint8_t* field = nullptr;
  bool udp = false;
  // The field holds the uncomplemented pseudo-header sum (CHECKSUM_PARTIAL):
  // only pseudo-header changes touch it, in uncomplemented form.
  bool partial = false;
  bool pseudo = true;  // the bytes being changed are part of the pseudo header
};
L4Csum PseudoCovered(Packet& p, const FlowKey& key, const HeaderOffsets& o) {
  if (o.l4 == kNone) return {};
  L4Csum c;
  c.partial = p.csum_partial;
  switch (key.nw_proto) {
    case kIpProtoTcp: c.field = p.data + o.l4 + 16; break;
    case kIpProtoUdp: c.field = p.data + o.l4 + 6; c.udp = true; break;
    case kIpProtoIcmpv6:
      if (key.eth_type == kEthTypeIpv6) c.field = p.data + o.l4 + 2;
      break;
    default: break;
  }
  return c;
}

void UpdateL4(L4Csum c, const uint8_t* old_bytes, const uint8_t* new_bytes, size_t n) {
  if (!c.field) return;
  if (c.partial) {
    // The final sum is computed later over the new bytes; only the pseudo
    // header, summed into the field already, needs the difference.
    if (!c.pseudo) return;
    uint16_t sum = Load16(c.field);
    Store16(c.field, static_cast<uint16_t>(
                         ~ChecksumUpdateBytes(static_cast<uint16_t>(~sum), old_bytes, new_bytes, n)));
    return;
  }
  uint16_t csum = Load16(c.field);
  if (c.udp && csum == 0) return;  // UDP over IPv4 without a checksum stays so
  csum = ChecksumUpdateBytes(csum, old_bytes, new_bytes, n);
  if (c.udp && csum == 0) csum = 0xffff;
  Store16(c.field, csum);
}

// Rewrites a field of `n` bytes at `at`; returns false if nothing changed.
// `ip_csum` / `l4` receive the incremental update when given.
bool RewriteField(uint8_t* at, const uint8_t* value, const uint8_t* mask, size_t n,
                  uint8_t* ip_csum, L4Csum l4) {
  if (!AnySet(mask, n)) return false;
  uint8_t old_bytes[16], new_bytes[16];
  std::memcpy(old_bytes, at, n);
  MaskBytes(new_bytes, old_bytes, value, mask, n);
  if (std::memcmp(old_bytes, new_bytes, n) == 0) return false;
  if (ip_csum) Store16(ip_csum, ChecksumUpdateBytes(Load16(ip_csum), old_bytes, new_bytes, n));
  UpdateL4(l4, old_bytes, new_bytes, n);
  std::memcpy(at, new_bytes, n);
  return true;
}

// A one-byte field inside an aligned 16-bit word that a checksum covers:
// update the checksum with the whole word.
void RewriteByteInWord(uint8_t* word, int index, uint8_t value, uint8_t mask, uint8_t* csum) {
  if (!mask) return;
  uint8_t old_word[2] = {word[0], word[1]};
  uint8_t new_word[2] = {word[0], word[1]};
  new_word[index] = static_cast<uint8_t>((word[index] & ~mask) | (value & mask));
  if (new_word[index] == old_word[index]) return;
  if (csum) Store16(csum, ChecksumUpdateBytes(Load16(csum), old_word, new_word, 2));
  word[index] = new_word[index];
}

void SetL4Ports(Packet& p, const FlowKey& key, const HeaderOffsets& o, const DpSetMasked& s) {
  if (o.l4 == kNone || (!s.mask.tp_src && !s.mask.tp_dst)) return;
  uint8_t* l4 = p.data + o.l4;
  switch (key.nw_proto) {
    case kIpProtoTcp:
    case kIpProtoUdp: {
      L4Csum c = key.nw_proto == kIpProtoTcp ? L4Csum{l4 + 16, false} : L4Csum{l4 + 6, true};
      c.partial = p.csum_partial;
      c.pseudo = false;
      uint8_t v[2], m[2];
      StoreBe16(v, s.value.tp_src);
      StoreBe16(m, s.mask.tp_src);
      RewriteField(l4, v, m, 2, nullptr, c);
      StoreBe16(v, s.value.tp_dst);
      StoreBe16(m, s.mask.tp_dst);
      RewriteField(l4 + 2, v, m, 2, nullptr, c);
      return;
    }
    case kIpProtoSctp: {
      uint8_t v[2], m[2];
      StoreBe16(v, s.value.tp_src);
      StoreBe16(m, s.mask.tp_src);
      bool changed = RewriteField(l4, v, m, 2, nullptr, {});
      StoreBe16(v, s.value.tp_dst);
      StoreBe16(m, s.mask.tp_dst);
      changed |= RewriteField(l4 + 2, v, m, 2, nullptr, {});
      // CRC32c has no incremental form worth having here: recompute over the
      // whole SCTP packet (only possible when it is not fragmented).
      if (changed && !p.csum_partial && !(key.nw_frag & kFragAny) && o.l3_end > o.l4 + 12) {
        std::memset(l4 + 8, 0, 4);
        uint32_t crc = SctpCrc32c(l4, o.l3_end - o.l4);
        std::memcpy(l4 + 8, &crc, 4);
      }
      return;
    }
    case kIpProtoIcmp:
    case kIpProtoIcmpv6: {
      // type and code share one checksummed word (summed later if partial).
      uint8_t* csum = p.csum_partial ? nullptr : l4 + 2;
      RewriteByteInWord(l4, 0, static_cast<uint8_t>(s.value.tp_src),
                        static_cast<uint8_t>(s.mask.tp_src), csum);
      RewriteByteInWord(l4, 1, static_cast<uint8_t>(s.value.tp_dst),
                        static_cast<uint8_t>(s.mask.tp_dst), csum);
      return;
    }
    default:
      return;
  }
}

void SetMasked(Packet& p, const FlowKey& key, const HeaderOffsets& o, const DpSetMasked& s,
               ActionCounters& counters) {
  const FlowKey& v = s.value;
  const FlowKey& m = s.mask;
  if (p.size >= 14) {
    RewriteField(p.data, v.eth_dst, m.eth_dst, 6, nullptr, {});
    RewriteField(p.data + 6, v.eth_src, m.eth_src, 6, nullptr, {});
  }
  uint16_t tci_mask = m.vlan_tci & ~kVlanCfi;
  if (tci_mask) {
    if (Tagged(p)) {
      uint16_t tci = Be16(p.data + 14);
      StoreBe16(p.data + 14, static_cast<uint16_t>((tci & ~tci_mask) | (v.vlan_tci & tci_mask)));
    } else {
      ++counters.set_field_skipped;
    }
  }
  if (o.l3 == kNone) return;
  uint8_t* l3 = p.data + o.l3;
  if (key.eth_type == kEthTypeIpv4) {
    uint8_t* ip_csum = l3 + 10;
    L4Csum l4 = PseudoCovered(p, key, o);
    RewriteField(l3 + 12, v.ipv4_src, m.ipv4_src, 4, ip_csum, l4);
    RewriteField(l3 + 16, v.ipv4_dst, m.ipv4_dst, 4, ip_csum, l4);
    RewriteByteInWord(l3, 1, v.nw_tos, m.nw_tos, ip_csum);
    RewriteByteInWord(l3 + 8, 0, v.nw_ttl, m.nw_ttl, ip_csum);
    SetL4Ports(p, key, o, s);
  } else if (key.eth_type == kEthTypeIpv6) {
    L4Csum l4 = PseudoCovered(p, key, o);
    RewriteField(l3 + 8, v.ipv6_src, m.ipv6_src, 16, nullptr, l4);
    RewriteField(l3 + 24, v.ipv6_dst, m.ipv6_dst, 16, nullptr, l4);
    if (m.nw_tos) {
      // Traffic class straddles the first two bytes: version(4) tc(8) label(20).
      uint16_t w = Be16(l3);
      uint16_t tc = (w >> 4) & 0xff;
      tc = static_cast<uint16_t>((tc & ~m.nw_tos) | (v.nw_tos & m.nw_tos));
      StoreBe16(l3, static_cast<uint16_t>((w & 0xf00f) | (tc << 4)));
    }
    if (m.nw_ttl) l3[7] = static_cast<uint8_t>((l3[7] & ~m.nw_ttl) | (v.nw_ttl & m.nw_ttl));
    SetL4Ports(p, key, o, s);
  } else if (key.eth_type == kEthTypeArp) {
    RewriteField(l3 + 8, v.arp_sha, m.arp_sha, 6, nullptr, {});
    RewriteField(l3 + 14, v.ipv4_src, m.ipv4_src, 4, nullptr, {});
    RewriteField(l3 + 18, v.arp_tha, m.arp_tha, 6, nullptr, {});
    RewriteField(l3 + 24, v.ipv4_dst, m.ipv4_dst, 4, nullptr, {});
  }
}

bool PushVlan(Packet& p, HeaderOffsets& o, const DpPushVlan& a, ActionCounters& counters) {
  if (p.headroom < 4 || p.size < 14) {
    ++counters.push_vlan_no_room;
    return false;
  }
  std::memmove(p.data - 4, p.data, 12);
  p.data -= 4;
  p.size += 4;
  p.headroom -= 4;
  StoreBe16(p.data + 12, a.tpid);
  StoreBe16(p.data + 14, a.tci & ~kVlanCfi);
  Shift(o.l3, 4);
  Shift(o.l4, 4);
  if (o.l3_end) o.l3_end = static_cast<uint16_t>(o.l3_end + 4);
  o.l2_5 = 12;
  if (p.csum_partial) p.csum_start = static_cast<uint16_t>(p.csum_start + 4);
  if (p.gso_type) p.hdr_len = static_cast<uint16_t>(p.hdr_len + 4);
  return true;
}

void PopVlan(Packet& p, HeaderOffsets& o) {
  if (!Tagged(p)) return;
  std::memmove(p.data + 4, p.data, 12);
  p.data += 4;
  p.size -= 4;
  p.headroom += 4;
  Shift(o.l3, -4);
  Shift(o.l4, -4);
  if (o.l3_end >= 4) o.l3_end = static_cast<uint16_t>(o.l3_end - 4);
  o.l2_5 = Tagged(p) ? 12 : kNone;
  if (p.csum_partial && p.csum_start >= 4) p.csum_start = static_cast<uint16_t>(p.csum_start - 4);
  if (p.gso_type && p.hdr_len >= 4) p.hdr_len = static_cast<uint16_t>(p.hdr_len - 4);
}

}  // namespace

bool CompleteChecksum(Packet& p) {
  if (!p.csum_partial) return true;
  if (!CompletePartialChecksum(p.data, p.size, p.csum_start, p.csum_offset)) return false;
  p.csum_partial = false;
  return true;
}

void ExecuteActions(const DpActions& actions, Packet& packet, const FlowKey& key,
                    HeaderOffsets offsets, OutputSink& sink, ActionCounters& counters) {
  // An output may share the packet's bytes only if nothing after it changes them.
  size_t last_modify = 0;
  bool any_modify = false;
  for (size_t i = 0; i < actions.size(); ++i) {
    const DpAction& a = actions[i];
    bool modifies = !std::holds_alternative<DpOutput>(a) &&
                    (!std::holds_alternative<DpUserspace>(a) || packet.csum_partial);
    if (modifies) {
      last_modify = i;
      any_modify = true;
    }
  }
  // The key describes the headers as received; after a VLAN push/pop only
  // the offsets move, the L3/L4 layout the key names stays valid.
  for (size_t i = 0; i < actions.size(); ++i) {
    const DpAction& action = actions[i];
    if (const auto* out = std::get_if<DpOutput>(&action)) {
      sink.Output(out->port, packet, !any_modify || i > last_modify);
    } else if (const auto* set = std::get_if<DpSetMasked>(&action)) {
      SetMasked(packet, key, offsets, *set, counters);
    } else if (const auto* push = std::get_if<DpPushVlan>(&action)) {
      if (!PushVlan(packet, offsets, *push, counters)) return;
    } else if (std::holds_alternative<DpPopVlan>(action)) {
      PopVlan(packet, offsets);
    } else if (const auto* user = std::get_if<DpUserspace>(&action)) {
      if (!CompleteChecksum(packet)) {
        ++counters.csum_complete_failed;
        return;
      }
      sink.Userspace(packet, user->userdata);
    }
  }
}

std::string ValidateActions(const DpActions& actions) {
  for (size_t i = 0; i < actions.size(); ++i) {
    const DpAction& action = actions[i];
    if (const auto* set = std::get_if<DpSetMasked>(&action)) {
      const FlowKey& m = set->mask;
      if (m.in_port || m.eth_type || m.nw_proto || m.metadata || m.nw_frag || m.tcp_flags ||
          AnySet(m.pad0, sizeof(m.pad0)) || AnySet(m.pad1, sizeof(m.pad1))) {
        return "action " + std::to_string(i) +
               ": set cannot change in_port, eth_type, nw_proto, metadata, frag or tcp_flags";
      }
      if (IsZero(m)) return "action " + std::to_string(i) + ": set with an empty mask";
    } else if (const auto* push = std::get_if<DpPushVlan>(&action)) {
      if (!IsVlanTpid(push->tpid)) {
        return "action " + std::to_string(i) + ": push_vlan tpid must be 0x8100 or 0x88a8";
      }
    } else if (const auto* user = std::get_if<DpUserspace>(&action)) {
      if (user->userdata.size() > kDpUserdataMaxSize) {
        return "action " + std::to_string(i) + ": userspace userdata longer than 64 bytes";
      }
    }
  }
  return "";
}

}  // namespace hsw::dp
