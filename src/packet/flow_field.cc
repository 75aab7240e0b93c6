// The field table and the generic accessors that move a field between a
// FlowKey (host-order integers, network-order byte arrays) and a FieldValue
// (big-endian bytes as in an OXM TLV).
//
// Several fields share storage in a FlowKey, as in Open vSwitch: TCP, UDP and
// SCTP ports all live in tp_src/tp_dst, ICMP type/code too, and ARP reuses
// nw_proto (opcode) and ipv4_src/ipv4_dst (SPA/TPA).  Sub-fields (VLAN VID and
// PCP, DSCP and ECN) are described by a bit mask and shift within the integer,
// so every accessor below is one of two shapes: integer or byte array.
#include "packet/flow_field.h"

#include <cstddef>
#include <cstring>
#include <iterator>
#include <string_view>
#include <unordered_map>

namespace hsw {

namespace {

constexpr uint16_t kIp = kEthTypeIpv4;
constexpr uint16_t kIp6 = kEthTypeIpv6;
constexpr uint16_t kArp = kEthTypeArp;

#define HSW_KEY_LOC(member) \
  static_cast<uint16_t>(offsetof(FlowKey, member)), static_cast<uint8_t>(sizeof(FlowKey::member))

// Indexed by FieldId; the static_asserts below keep the order honest.
// TCP_FLAGS has no OXM number in class 0x8000: OpenFlow 1.3 carries it only as
// the ONF experimenter field (ONFOXM_ET_TCP_FLAGS, experimenter 0x4f4e4600,
// field 42), which the wire codec handles itself.  nw_ttl has no OpenFlow 1.3
// OXM at all (it is NXM_NX_IP_TTL in OVS).
constexpr FieldInfo kFields[] = {
    {FieldId::kInPort, "in_port", "in_port", 4, 32, false, 0, 0, 0, -1, HSW_KEY_LOC(in_port),
     0xffffffffu, 0},
    {FieldId::kMetadata, "metadata", "metadata", 8, 64, true, 2, 0, 0, -1, HSW_KEY_LOC(metadata),
     ~0ull, 0},
    {FieldId::kEthSrc, "dl_src", "eth_src", 6, 48, true, 4, 0, 0, -1, HSW_KEY_LOC(eth_src), 0, 0},
    {FieldId::kEthDst, "dl_dst", "eth_dst", 6, 48, true, 3, 0, 0, -1, HSW_KEY_LOC(eth_dst), 0, 0},
    {FieldId::kEthType, "dl_type", "eth_type", 2, 16, false, 5, 0, 0, -1, HSW_KEY_LOC(eth_type),
     0xffff, 0},
    {FieldId::kVlanVid, "vlan_vid", "vlan_vid", 2, 13, true, 6, 0, 0, -1, HSW_KEY_LOC(vlan_tci),
     0x1fff, 0},
    {FieldId::kVlanPcp, "dl_vlan_pcp", "vlan_pcp", 1, 3, false, 7, 0, 0, -1, HSW_KEY_LOC(vlan_tci),
     0xe000, 13},
    {FieldId::kIpDscp, "ip_dscp", "ip_dscp", 1, 6, false, 8, kIp, kIp6, -1, HSW_KEY_LOC(nw_tos),
     0xfc, 2},
    {FieldId::kIpEcn, "nw_ecn", "ip_ecn", 1, 2, false, 9, kIp, kIp6, -1, HSW_KEY_LOC(nw_tos), 0x03,
     0},
    {FieldId::kIpProto, "nw_proto", "ip_proto", 1, 8, false, 10, kIp, kIp6, -1,
     HSW_KEY_LOC(nw_proto), 0xff, 0},
    {FieldId::kIpTtl, "nw_ttl", "nw_ttl", 1, 8, false, -1, kIp, kIp6, -1, HSW_KEY_LOC(nw_ttl), 0xff,
     0},
    {FieldId::kIpv4Src, "nw_src", "ipv4_src", 4, 32, true, 11, kIp, 0, -1, HSW_KEY_LOC(ipv4_src), 0,
     0},
    {FieldId::kIpv4Dst, "nw_dst", "ipv4_dst", 4, 32, true, 12, kIp, 0, -1, HSW_KEY_LOC(ipv4_dst), 0,
     0},
    {FieldId::kIpv6Src, "ipv6_src", "ipv6_src", 16, 128, true, 26, kIp6, 0, -1,
     HSW_KEY_LOC(ipv6_src), 0, 0},
    {FieldId::kIpv6Dst, "ipv6_dst", "ipv6_dst", 16, 128, true, 27, kIp6, 0, -1,
     HSW_KEY_LOC(ipv6_dst), 0, 0},
    {FieldId::kTcpSrc, "tcp_src", "tcp_src", 2, 16, true, 13, kIp, kIp6, kIpProtoTcp,
     HSW_KEY_LOC(tp_src), 0xffff, 0},
    {FieldId::kTcpDst, "tcp_dst", "tcp_dst", 2, 16, true, 14, kIp, kIp6, kIpProtoTcp,
     HSW_KEY_LOC(tp_dst), 0xffff, 0},
    {FieldId::kUdpSrc, "udp_src", "udp_src", 2, 16, true, 15, kIp, kIp6, kIpProtoUdp,
     HSW_KEY_LOC(tp_src), 0xffff, 0},
    {FieldId::kUdpDst, "udp_dst", "udp_dst", 2, 16, true, 16, kIp, kIp6, kIpProtoUdp,
     HSW_KEY_LOC(tp_dst), 0xffff, 0},
    {FieldId::kSctpSrc, "sctp_src", "sctp_src", 2, 16, true, 17, kIp, kIp6, kIpProtoSctp,
     HSW_KEY_LOC(tp_src), 0xffff, 0},
    {FieldId::kSctpDst, "sctp_dst", "sctp_dst", 2, 16, true, 18, kIp, kIp6, kIpProtoSctp,
     HSW_KEY_LOC(tp_dst), 0xffff, 0},
    {FieldId::kTcpFlags, "tcp_flags", "tcp_flags", 2, 12, true, -1, kIp, kIp6, kIpProtoTcp,
     HSW_KEY_LOC(tcp_flags), 0x0fff, 0},
    {FieldId::kIcmpv4Type, "icmp_type", "icmpv4_type", 1, 8, false, 19, kIp, 0, kIpProtoIcmp,
     HSW_KEY_LOC(tp_src), 0xff, 0},
    {FieldId::kIcmpv4Code, "icmp_code", "icmpv4_code", 1, 8, false, 20, kIp, 0, kIpProtoIcmp,
     HSW_KEY_LOC(tp_dst), 0xff, 0},
    {FieldId::kIcmpv6Type, "icmpv6_type", "icmpv6_type", 1, 8, false, 29, kIp6, 0, kIpProtoIcmpv6,
     HSW_KEY_LOC(tp_src), 0xff, 0},
    {FieldId::kIcmpv6Code, "icmpv6_code", "icmpv6_code", 1, 8, false, 30, kIp6, 0, kIpProtoIcmpv6,
     HSW_KEY_LOC(tp_dst), 0xff, 0},
    // The opcode is 16 bits in OXM but only its low 8 bits fit nw_proto (as in OVS).
    {FieldId::kArpOp, "arp_op", "arp_op", 2, 16, false, 21, kArp, 0, -1, HSW_KEY_LOC(nw_proto),
     0xff, 0},
    {FieldId::kArpSpa, "arp_spa", "arp_spa", 4, 32, true, 22, kArp, 0, -1, HSW_KEY_LOC(ipv4_src), 0,
     0},
    {FieldId::kArpTpa, "arp_tpa", "arp_tpa", 4, 32, true, 23, kArp, 0, -1, HSW_KEY_LOC(ipv4_dst), 0,
     0},
    {FieldId::kArpSha, "arp_sha", "arp_sha", 6, 48, true, 24, kArp, 0, -1, HSW_KEY_LOC(arp_sha), 0,
     0},
    {FieldId::kArpTha, "arp_tha", "arp_tha", 6, 48, true, 25, kArp, 0, -1, HSW_KEY_LOC(arp_tha), 0,
     0},
};
#undef HSW_KEY_LOC

static_assert(sizeof(kFields) / sizeof(kFields[0]) == kNumFields, "one entry per FieldId");

constexpr bool TableIsInOrder() {
  for (size_t i = 0; i < kNumFields; ++i) {
    if (static_cast<size_t>(kFields[i].id) != i) return false;
  }
  return true;
}
static_assert(TableIsInOrder(), "kFields must be indexed by FieldId");

// Names accepted besides each entry's name and oxm_name.  Several ovs-ofctl
// names are generic (tp_src covers TCP, UDP and SCTP; nw_src covers IPv4 and
// ARP); FindField returns one representative and the flow-text parser, which
// knows the match's protocol, picks the right one.  dl_vlan and nw_tos differ
// in encoding from the field they map to (12-bit VID without the present bit;
// DSCP in the high 6 bits of a byte): callers that accept them convert.
struct Alias {
  const char* name;
  FieldId id;
};
constexpr Alias kAliases[] = {
    {"dl_vlan", FieldId::kVlanVid}, {"nw_tos", FieldId::kIpDscp},  {"tp_src", FieldId::kTcpSrc},
    {"tp_dst", FieldId::kTcpDst},   {"ip_src", FieldId::kIpv4Src}, {"ip_dst", FieldId::kIpv4Dst},
};

uint64_t LoadUint(const FlowKey& key, const FieldInfo& f) {
  const char* p = reinterpret_cast<const char*>(&key) + f.key_offset;
  switch (f.key_size) {
    case 1: {
      uint8_t v;
      std::memcpy(&v, p, 1);
      return v;
    }
    case 2: {
      uint16_t v;
      std::memcpy(&v, p, 2);
      return v;
    }
    case 4: {
      uint32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    default: {
      uint64_t v;
      std::memcpy(&v, p, 8);
      return v;
    }
  }
}

void StoreUint(FlowKey& key, const FieldInfo& f, uint64_t v) {
  char* p = reinterpret_cast<char*>(&key) + f.key_offset;
  switch (f.key_size) {
    case 1: {
      uint8_t x = static_cast<uint8_t>(v);
      std::memcpy(p, &x, 1);
      break;
    }
    case 2: {
      uint16_t x = static_cast<uint16_t>(v);
      std::memcpy(p, &x, 2);
      break;
    }
    case 4: {
      uint32_t x = static_cast<uint32_t>(v);
      std::memcpy(p, &x, 4);
      break;
    }
    default:
      std::memcpy(p, &v, 8);
      break;
  }
}

bool IsArray(const FieldInfo& f) { return f.key_bits == 0; }

uint8_t* ArrayPtr(FlowKey& key, const FieldInfo& f) {
  return reinterpret_cast<uint8_t*>(&key) + f.key_offset;
}
const uint8_t* ArrayPtr(const FlowKey& key, const FieldInfo& f) {
  return reinterpret_cast<const uint8_t*>(&key) + f.key_offset;
}

// The field's mask as the integer bits of its FlowKey storage.  A mask of
// size 0 means "every bit of the field".
uint64_t KeyBitsOfMask(const FieldInfo& f, const FieldValue* mask) {
  if (!mask || mask->size == 0) return f.key_bits;
  return (mask->ToUint() << f.key_shift) & f.key_bits;
}

// Byte i of a FieldValue mask, all-ones when the mask is absent or empty.
uint8_t MaskByte(const FieldValue* mask, size_t i) {
  if (!mask || mask->size == 0) return 0xff;
  return i < mask->size ? mask->bytes[i] : 0;
}

}  // namespace

FieldValue FieldValue::FromUint(uint64_t v, uint8_t size) {
  FieldValue out;
  out.size = size > 8 ? 8 : size;
  for (int i = out.size - 1; i >= 0; --i) {
    out.bytes[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
  return out;
}

uint64_t FieldValue::ToUint() const {
  uint64_t v = 0;
  // Only the last 8 bytes can matter for a uint64; oversize values keep their low part.
  size_t start = size > 8 ? size - 8 : 0;
  for (size_t i = start; i < size && i < bytes.size(); ++i) v = (v << 8) | bytes[i];
  return v;
}

const FieldInfo& GetFieldInfo(FieldId id) {
  size_t i = static_cast<size_t>(id);
  return kFields[i < kNumFields ? i : 0];
}

const FieldInfo* FindField(std::string_view name) {
  // Every flow a parser reads looks up a few names, so a restore of 100k
  // rules does this ~500k times: an index, built once, instead of a scan.
  static const auto* const index = [] {
    auto* map = new std::unordered_map<std::string_view, const FieldInfo*>();
    // Aliases first, so that a field's own names win over an alias.
    for (const Alias& a : kAliases) (*map)[a.name] = &kFields[static_cast<size_t>(a.id)];
    for (auto it = std::rbegin(kFields); it != std::rend(kFields); ++it) {
      // In reverse, so that the first field of a shared name wins, as in
      // the scan this replaces.
      if (it->oxm_name) (*map)[it->oxm_name] = &*it;
      if (it->name) (*map)[it->name] = &*it;
    }
    return map;
  }();
  auto found = index->find(name);
  return found == index->end() ? nullptr : found->second;
}

const FieldInfo* FindFieldByOxm(int oxm_field) {
  if (oxm_field < 0) return nullptr;
  for (const FieldInfo& f : kFields) {
    if (f.oxm_field == oxm_field) return &f;
  }
  return nullptr;
}

FieldValue ReadField(const FlowKey& key, FieldId id) {
  const FieldInfo& f = GetFieldInfo(id);
  if (IsArray(f)) {
    FieldValue out;
    out.size = f.size;
    std::memcpy(out.bytes.data(), ArrayPtr(key, f), f.key_size);
    return out;
  }
  return FieldValue::FromUint((LoadUint(key, f) & f.key_bits) >> f.key_shift, f.size);
}

void WriteField(FlowKey& key, FieldId id, const FieldValue& value, const FieldValue* mask) {
  const FieldInfo& f = GetFieldInfo(id);
  if (IsArray(f)) {
    uint8_t* p = ArrayPtr(key, f);
    for (size_t i = 0; i < f.key_size; ++i) {
      uint8_t m = MaskByte(mask, i);
      uint8_t v = i < value.size ? value.bytes[i] : 0;
      p[i] = static_cast<uint8_t>((p[i] & ~m) | (v & m));
    }
    return;
  }
  uint64_t bits = KeyBitsOfMask(f, mask);
  uint64_t v = (value.ToUint() << f.key_shift) & bits;
  StoreUint(key, f, (LoadUint(key, f) & ~bits) | v);
}

void SetFieldMask(FlowKey& mask, FieldId id, const FieldValue* field_mask) {
  const FieldInfo& f = GetFieldInfo(id);
  if (IsArray(f)) {
    uint8_t* p = ArrayPtr(mask, f);
    for (size_t i = 0; i < f.key_size; ++i) p[i] = MaskByte(field_mask, i);
    return;
  }
  // Replace only this field's bits: neighbours sharing the integer (VID and
  // PCP in vlan_tci, DSCP and ECN in nw_tos) keep theirs.
  uint64_t bits = KeyBitsOfMask(f, field_mask);
  StoreUint(mask, f, (LoadUint(mask, f) & ~f.key_bits) | bits);
}

bool FieldMaskIsZero(const FlowKey& mask, FieldId id) {
  const FieldInfo& f = GetFieldInfo(id);
  if (IsArray(f)) {
    const uint8_t* p = ArrayPtr(mask, f);
    for (size_t i = 0; i < f.key_size; ++i) {
      if (p[i]) return false;
    }
    return true;
  }
  return (LoadUint(mask, f) & f.key_bits) == 0;
}

bool FieldMaskIsExact(const FlowKey& mask, FieldId id) {
  const FieldInfo& f = GetFieldInfo(id);
  if (IsArray(f)) {
    const uint8_t* p = ArrayPtr(mask, f);
    for (size_t i = 0; i < f.key_size; ++i) {
      if (p[i] != 0xff) return false;
    }
    return true;
  }
  return (LoadUint(mask, f) & f.key_bits) == f.key_bits;
}

}  // namespace hsw
