#include "dpif/dp_actions.h"
#include "packet/addr_format.h"

#include <arpa/inet.h>

#include <cstring>
#include <string>

#include <fmt/format.h>

namespace hsw {
namespace {

// set() prints its fields itself rather than through FormatDpKey: the
// action's syntax is "field=value[/mask]" for the settable fields only, which
// reads better in an action list than a key dump.

class SetPrinter {
 public:
  SetPrinter(const FlowKey& value, const FlowKey& mask) : value_(value), mask_(mask) {}

  template <class T>
  void Int(const char* name, T FlowKey::*field, bool hex) {
    T m = mask_.*field;
    if (m == 0) return;
    T v = static_cast<T>(value_.*field & m);
    Sep();
    out_ += hex ? fmt::format("{}={:#x}", name, v) : fmt::format("{}={}", name, v);
    if (m != static_cast<T>(~T{0})) out_ += fmt::format("/{:#x}", m);
  }
  template <size_t N>
  void Addr(const char* name, uint8_t (FlowKey::*field)[N], std::string (*to_text)(const uint8_t*)) {
    const uint8_t* m = mask_.*field;
    if (BytesAllZero(m, N)) return;
    uint8_t v[N];
    for (size_t i = 0; i < N; ++i) v[i] = (value_.*field)[i] & m[i];
    Sep();
    out_ += fmt::format("{}={}", name, to_text(v));
    if (!BytesAllOnes(m, N)) out_ += fmt::format("/{}", to_text(m));
  }
  std::string Take() { return std::move(out_); }

 private:
  void Sep() {
    if (!out_.empty()) out_ += ',';
  }
  const FlowKey& value_;
  const FlowKey& mask_;
  std::string out_;
};

std::string FormatSet(const DpSetMasked& s) {
  SetPrinter p(s.value, s.mask);
  // Fields that cannot be set are printed too (if a buggy client masks them),
  // so that a log shows what was actually sent.
  p.Int("metadata", &FlowKey::metadata, true);
  p.Int("in_port", &FlowKey::in_port, false);
  p.Addr("eth_src", &FlowKey::eth_src, FormatMac);
  p.Addr("eth_dst", &FlowKey::eth_dst, FormatMac);
  p.Int("eth_type", &FlowKey::eth_type, true);
  p.Int("vlan_tci", &FlowKey::vlan_tci, true);
  p.Addr("ipv4_src", &FlowKey::ipv4_src, FormatIpv4);
  p.Addr("ipv4_dst", &FlowKey::ipv4_dst, FormatIpv4);
  p.Addr("ipv6_src", &FlowKey::ipv6_src, FormatIpv6);
  p.Addr("ipv6_dst", &FlowKey::ipv6_dst, FormatIpv6);
  p.Int("nw_proto", &FlowKey::nw_proto, false);
  p.Int("nw_tos", &FlowKey::nw_tos, false);
  p.Int("nw_ttl", &FlowKey::nw_ttl, false);
  p.Int("nw_frag", &FlowKey::nw_frag, true);
  p.Int("tp_src", &FlowKey::tp_src, false);
  p.Int("tp_dst", &FlowKey::tp_dst, false);
  p.Int("tcp_flags", &FlowKey::tcp_flags, true);
  p.Addr("arp_sha", &FlowKey::arp_sha, FormatMac);
  p.Addr("arp_tha", &FlowKey::arp_tha, FormatMac);
  return fmt::format("set({})", p.Take());
}

}  // namespace

std::string FormatDpActions(const DpActions& actions) {
  if (actions.empty()) return "drop";
  std::string out;
  struct Visitor {
    std::string& out;
    void operator()(const DpOutput& a) { out += fmt::format("output:{}", a.port); }
    void operator()(const DpSetMasked& a) { out += FormatSet(a); }
    void operator()(const DpPushVlan& a) {
      out += fmt::format("push_vlan(tpid={:#06x},vid={},pcp={})", a.tpid, a.tci & kVlanVidMask,
                         (a.tci & kVlanPcpMask) >> kVlanPcpShift);
    }
    void operator()(const DpPopVlan&) { out += "pop_vlan"; }
    void operator()(const DpUserspace& a) {
      out += "userspace(";
      for (uint8_t b : a.userdata) out += fmt::format("{:02x}", b);
      out += ')';
    }
  };
  for (size_t i = 0; i < actions.size(); ++i) {
    if (i) out += ',';
    std::visit(Visitor{out}, actions[i]);
  }
  return out;
}

}  // namespace hsw
