// The table of match/set fields: one place that says where each OpenFlow /
// ovs-ofctl field lives in a FlowKey, its prerequisites and its OXM number.
// The flow-text parser, the OpenFlow codec, the classifier's printing and
// translation's set-field all read this table, so a field is added once.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "packet/flow_key.h"

namespace hsw {

enum class FieldId : uint8_t {
  kInPort,
  kMetadata,
  kEthSrc,
  kEthDst,
  kEthType,
  kVlanVid,    // 13 bits: VID | present bit (0x1000), as OpenFlow 1.3's OXM_OF_VLAN_VID
  kVlanPcp,    // 3 bits
  kIpDscp,     // 6 bits (value 0..63)
  kIpEcn,      // 2 bits
  kIpProto,
  kIpTtl,      // nw_ttl (OVS extension field)
  kIpv4Src,
  kIpv4Dst,
  kIpv6Src,
  kIpv6Dst,
  kTcpSrc,
  kTcpDst,
  kUdpSrc,
  kUdpDst,
  kSctpSrc,
  kSctpDst,
  kTcpFlags,
  kIcmpv4Type,
  kIcmpv4Code,
  kIcmpv6Type,
  kIcmpv6Code,
  kArpOp,
  kArpSpa,
  kArpTpa,
  kArpSha,
  kArpTha,
  kCount
};
inline constexpr size_t kNumFields = static_cast<size_t>(FieldId::kCount);

// A field value or mask, big-endian (network order), `size` bytes used, as it
// appears in an OXM TLV.  Sub-byte fields are right-aligned (VLAN PCP 5 is 0x05).
struct FieldValue {
  std::array<uint8_t, 16> bytes{};
  uint8_t size = 0;

  static FieldValue FromUint(uint64_t v, uint8_t size);
  uint64_t ToUint() const;  // for fields of at most 8 bytes
  bool operator==(const FieldValue& o) const { return size == o.size && bytes == o.bytes; }
};

struct FieldInfo {
  FieldId id;
  const char* name;           // ovs-ofctl name: "nw_src", "dl_dst", "tp_src"...
  const char* oxm_name;       // OpenFlow 1.3 name: "ipv4_src", "eth_dst", "tcp_src"...
  uint8_t size;               // bytes in OXM (and in FieldValue)
  uint8_t n_bits;             // significant bits
  bool maskable;              // OXM HASMASK allowed
  int oxm_field;              // OXM_OF_* field number in class 0x8000, -1 if none
  // Prerequisites (0 / -1 = none): required eth_type (one of two for IP-version
  // independent fields), required nw_proto.
  uint16_t prereq_eth_type;
  uint16_t prereq_eth_type2;
  int prereq_nw_proto;
  // Where the field lives in a FlowKey: byte offset and size there, and which
  // bits of that (host-order) integer.  For byte-array fields shift=0 and
  // key_bits=0 meaning "whole array".
  uint16_t key_offset;
  uint8_t key_size;
  uint64_t key_bits;
  uint8_t key_shift;
};

const FieldInfo& GetFieldInfo(FieldId id);
// By ovs-ofctl or OXM name ("nw_src", "ipv4_src", "dl_vlan"?); nullptr if unknown.
// Generic ovs-ofctl names return one representative of the fields sharing
// their storage: tp_src/tp_dst -> kTcpSrc/kTcpDst, nw_src/nw_dst -> kIpv4*,
// icmp_type/icmp_code -> kIcmpv4*.  dl_vlan -> kVlanVid and nw_tos -> kIpDscp
// differ in encoding (VID without the present bit; DSCP in a byte's high 6
// bits): callers that accept those names convert (flow_text.cc does).
const FieldInfo* FindField(std::string_view name);
// By OXM field number in class OFPXMC_OPENFLOW_BASIC; nullptr if unknown.
const FieldInfo* FindFieldByOxm(int oxm_field);

// Reads the field from a key (value) and from a mask (which bits are matched).
FieldValue ReadField(const FlowKey& key, FieldId id);
// key.field = (key.field & ~mask) | (value & mask).  A FieldValue of size 0 as
// mask means all ones.
void WriteField(FlowKey& key, FieldId id, const FieldValue& value,
                const FieldValue* mask = nullptr);
// Sets the field's bits in a mask (all of them, or those of `mask`).
void SetFieldMask(FlowKey& mask, FieldId id, const FieldValue* field_mask = nullptr);
// True if the mask covers any bit of the field / all its bits.
bool FieldMaskIsZero(const FlowKey& mask, FieldId id);
bool FieldMaskIsExact(const FlowKey& mask, FieldId id);

}  // namespace hsw
