#include "packet/flow_key.h"
#include "packet/addr_format.h"

#include <arpa/inet.h>
#include <xxhash.h>

#include <fmt/format.h>

namespace hsw {

uint64_t HashMasked(const FlowKey& key, const FlowKey& mask, uint64_t seed) {
  uint64_t words[FlowKey::kWords];
  for (size_t i = 0; i < FlowKey::kWords; ++i) words[i] = KeyWord(key, i) & KeyWord(mask, i);
  return XXH3_64bits_withSeed(words, sizeof(words), seed);
}

uint64_t HashKey(const FlowKey& key, uint64_t seed) {
  return XXH3_64bits_withSeed(&key, sizeof(key), seed);
}

namespace {

// Collects "name=value[/mask]" items of one group, skipping fields whose mask
// is zero, and prints "group(items)" only if any item is left.
class Group {
 public:
  Group(std::string& out, const char* name) : out_(out), name_(name) {}
  ~Group() {
    if (items_.empty()) return;
    if (!out_.empty()) out_ += ',';
    out_ += fmt::format("{}({})", name_, items_);
  }
  void Add(const char* field, std::string value, std::string mask, bool masked) {
    if (!items_.empty()) items_ += ',';
    items_ += fmt::format("{}={}", field, value);
    if (masked) items_ += "/" + mask;
  }

 private:
  std::string& out_;
  const char* name_;
  std::string items_;
};

}  // namespace

std::string FormatDpKey(const FlowKey& key, const FlowKey* mask_ptr) {
  const FlowKey ones = FlowKey::Ones();
  const FlowKey& m = mask_ptr ? *mask_ptr : ones;
  // Without a mask, zero-valued fields are noise (they do not apply to the packet).
  auto show = [&](const void* kp, const void* mp, size_t n) {
    if (BytesAllZero(static_cast<const uint8_t*>(mp), n)) return false;
    if (!mask_ptr) return !BytesAllZero(static_cast<const uint8_t*>(kp), n);
    return true;
  };
  auto partial = [&](const void* mp, size_t n) {
    return mask_ptr && !BytesAllOnes(static_cast<const uint8_t*>(mp), n);
  };
  auto hex = [](uint64_t v) { return fmt::format("{:#x}", v); };

  std::string out;
  if (mask_ptr ? m.in_port != 0 : true) {
    Group g(out, "in_port");
    g.Add("port", std::to_string(key.in_port), hex(m.in_port), partial(&m.in_port, 4));
  }
  if (m.metadata && (mask_ptr || key.metadata)) {
    Group g(out, "metadata");
    g.Add("value", hex(key.metadata), hex(m.metadata), partial(&m.metadata, 8));
  }
  {
    Group g(out, "eth");
    if (show(key.eth_src, m.eth_src, 6)) {
      g.Add("src", FormatMac(key.eth_src), FormatMac(m.eth_src), partial(m.eth_src, 6));
    }
    if (show(key.eth_dst, m.eth_dst, 6)) {
      g.Add("dst", FormatMac(key.eth_dst), FormatMac(m.eth_dst), partial(m.eth_dst, 6));
    }
  }
  if (show(&key.vlan_tci, &m.vlan_tci, 2)) {
    Group g(out, "vlan");
    if (partial(&m.vlan_tci, 2)) {
      g.Add("tci", hex(key.vlan_tci), hex(m.vlan_tci), true);
    } else {
      g.Add("vid", std::to_string(key.vlan_tci & kVlanVidMask), "", false);
      g.Add("pcp", std::to_string(key.vlan_tci >> kVlanPcpShift), "", false);
    }
  }
  if (show(&key.eth_type, &m.eth_type, 2)) {
    if (!out.empty()) out += ',';
    out += fmt::format("eth_type({:#06x}", key.eth_type);
    if (partial(&m.eth_type, 2)) out += fmt::format("/{:#06x}", m.eth_type);
    out += ')';
  }
  const bool arp = key.eth_type == kEthTypeArp;
  {
    Group g(out, arp ? "arp" : key.eth_type == kEthTypeIpv6 ? "ipv6" : "ipv4");
    if (show(key.ipv4_src, m.ipv4_src, 4)) {
      g.Add(arp ? "sip" : "src", FormatIpv4(key.ipv4_src), FormatIpv4(m.ipv4_src), partial(m.ipv4_src, 4));
    }
    if (show(key.ipv4_dst, m.ipv4_dst, 4)) {
      g.Add(arp ? "tip" : "dst", FormatIpv4(key.ipv4_dst), FormatIpv4(m.ipv4_dst), partial(m.ipv4_dst, 4));
    }
    if (show(key.ipv6_src, m.ipv6_src, 16)) {
      g.Add("src", FormatIpv6(key.ipv6_src), FormatIpv6(m.ipv6_src), partial(m.ipv6_src, 16));
    }
    if (show(key.ipv6_dst, m.ipv6_dst, 16)) {
      g.Add("dst", FormatIpv6(key.ipv6_dst), FormatIpv6(m.ipv6_dst), partial(m.ipv6_dst, 16));
    }
    if (show(&key.nw_proto, &m.nw_proto, 1)) {
      g.Add(arp ? "op" : "proto", std::to_string(key.nw_proto), hex(m.nw_proto),
            partial(&m.nw_proto, 1));
    }
    if (show(&key.nw_tos, &m.nw_tos, 1)) {
      g.Add("tos", hex(key.nw_tos), hex(m.nw_tos), partial(&m.nw_tos, 1));
    }
    if (show(&key.nw_ttl, &m.nw_ttl, 1)) {
      g.Add("ttl", std::to_string(key.nw_ttl), hex(m.nw_ttl), partial(&m.nw_ttl, 1));
    }
    if (show(&key.nw_frag, &m.nw_frag, 1)) {
      const char* frag = !(key.nw_frag & kFragAny)    ? "no"
                         : (key.nw_frag & kFragLater) ? "later"
                                                      : "first";
      g.Add("frag", frag, hex(m.nw_frag), partial(&m.nw_frag, 1));
    }
    if (show(key.arp_sha, m.arp_sha, 6)) {
      g.Add("sha", FormatMac(key.arp_sha), FormatMac(m.arp_sha), partial(m.arp_sha, 6));
    }
    if (show(key.arp_tha, m.arp_tha, 6)) {
      g.Add("tha", FormatMac(key.arp_tha), FormatMac(m.arp_tha), partial(m.arp_tha, 6));
    }
  }
  {
    const char* l4 = "l4";
    switch (key.nw_proto) {
      case kIpProtoTcp: l4 = "tcp"; break;
      case kIpProtoUdp: l4 = "udp"; break;
      case kIpProtoSctp: l4 = "sctp"; break;
      case kIpProtoIcmp: l4 = "icmp"; break;
      case kIpProtoIcmpv6: l4 = "icmpv6"; break;
    }
    const bool icmp = key.nw_proto == kIpProtoIcmp || key.nw_proto == kIpProtoIcmpv6;
    Group g(out, l4);
    if (show(&key.tp_src, &m.tp_src, 2)) {
      g.Add(icmp ? "type" : "src", std::to_string(key.tp_src), hex(m.tp_src),
            partial(&m.tp_src, 2));
    }
    if (show(&key.tp_dst, &m.tp_dst, 2)) {
      g.Add(icmp ? "code" : "dst", std::to_string(key.tp_dst), hex(m.tp_dst),
            partial(&m.tp_dst, 2));
    }
  }
  if (show(&key.tcp_flags, &m.tcp_flags, 2)) {
    Group g(out, "tcp_flags");
    g.Add("flags", hex(key.tcp_flags), hex(m.tcp_flags), partial(&m.tcp_flags, 2));
  }
  return out;
}

}  // namespace hsw
