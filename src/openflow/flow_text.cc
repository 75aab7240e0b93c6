// ovs-ofctl flow syntax.  The parser works in three layers: a lexer that
// splits "key=value", "key:value" and "key(value)" tokens the way ovs-ofctl's
// ofputil_parse_key_value does (commas and white space both separate, so
// dump-flows output with its " actions=" parses), a match builder that writes
// fields into a Match through the shared field table and checks prerequisites
// once the whole match is known, and an action parser that needs the match
// (mod_tp_src means tcp_src or udp_src depending on it).
//
// The formatter follows lib/match.c's match_format order and lib/ofp-print.c's
// flow-stats layout, so that diffs against real ovs-ofctl output stay empty.
#include "openflow/flow_text.h"
#include "packet/addr_format.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstring>

namespace hsw::ofp {

namespace {

constexpr uint16_t kEthTypeRarp = 0x8035;

// ---------------------------------------------------------------------------
// Lexing.

bool IsDelim(char c) { return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsDelim(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsDelim(s.back())) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

struct Token {
  std::string_view key;
  std::string_view value;
  bool has_value = false;
  bool parens = false;    // key(value) rather than key=value / key:value
  std::string_view text;  // the whole token, for error messages
};

// Splits tokens.  Quotes protect delimiters inside port names; parentheses
// nest (write_actions(output:1,output:2)).
class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  // nullopt at the end of input.
  Result<std::optional<Token>> Next() {
    while (pos_ < s_.size() && IsDelim(s_[pos_])) ++pos_;
    if (pos_ >= s_.size()) return std::optional<Token>();
    size_t start = pos_;
    Token t;
    while (pos_ < s_.size() && !IsDelim(s_[pos_]) && s_[pos_] != '=' && s_[pos_] != ':' &&
           s_[pos_] != '(' && s_[pos_] != ')') {
      ++pos_;
    }
    t.key = s_.substr(start, pos_ - start);
    if (pos_ < s_.size() && s_[pos_] == ')') {
      return Err("unbalanced ')' in '{}'", s_.substr(start));
    }
    if (t.key.empty()) return Err("missing keyword before '{}'", s_.substr(start));
    if (pos_ < s_.size() && (s_[pos_] == '=' || s_[pos_] == ':')) {
      ++pos_;
      size_t vstart = pos_;
      int depth = 0;
      while (pos_ < s_.size()) {
        char c = s_[pos_];
        if (c == '"') {
          HSW_TRY(SkipQuoted());
          continue;
        }
        if (c == '(') {
          ++depth;
        } else if (c == ')') {
          if (depth == 0) return Err("unbalanced ')' in '{}'", s_.substr(start));
          --depth;
        } else if (depth == 0 && IsDelim(c)) {
          break;
        }
        ++pos_;
      }
      if (depth != 0) return Err("unbalanced '(' in '{}'", s_.substr(start));
      t.value = s_.substr(vstart, pos_ - vstart);
      t.has_value = true;
    } else if (pos_ < s_.size() && s_[pos_] == '(') {
      ++pos_;
      size_t vstart = pos_;
      int depth = 1;
      while (pos_ < s_.size()) {
        char c = s_[pos_];
        if (c == '"') {
          HSW_TRY(SkipQuoted());
          continue;
        }
        if (c == '(') ++depth;
        if (c == ')' && --depth == 0) break;
        ++pos_;
      }
      if (depth != 0) return Err("unbalanced '(' in '{}'", s_.substr(start));
      t.value = s_.substr(vstart, pos_ - vstart);
      ++pos_;  // ')'
      t.has_value = true;
      t.parens = true;
      if (pos_ < s_.size() && !IsDelim(s_[pos_])) {
        return Err("unexpected '{}' after ')' in '{}'", s_[pos_],
                   s_.substr(start, pos_ - start + 1));
      }
    }
    t.text = s_.substr(start, pos_ - start);
    return std::optional<Token>(t);
  }

 private:
  Status SkipQuoted() {
    size_t start = pos_++;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) ++pos_;
      ++pos_;
    }
    if (pos_ >= s_.size()) return Err("unterminated quote in '{}'", s_.substr(start));
    ++pos_;
    return Ok();
  }

  std::string_view s_;
  size_t pos_ = 0;
};

// Finds "actions=" (or "action=") at a token boundary: everything before it
// is the match, everything after the action list.
bool SplitActions(std::string_view text, std::string_view* match, std::string_view* actions) {
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '"') quoted = !quoted;
    if (quoted || (i > 0 && !IsDelim(text[i - 1]))) continue;
    std::string_view rest = text.substr(i);
    size_t klen = 0;
    if (rest.substr(0, 8) == "actions=") {
      klen = 8;
    } else if (rest.substr(0, 7) == "action=") {
      klen = 7;
    } else {
      continue;
    }
    *match = text.substr(0, i);
    *actions = rest.substr(klen);
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Values.

Result<uint64_t> ParseUint(std::string_view s, uint64_t max, std::string_view what) {
  std::string_view digits = s;
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    digits.remove_prefix(2);
    base = 16;
  }
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v, base);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) {
    return Err("{}: invalid number '{}'", what, s);
  }
  if (v > max) return Err("{}: value {} out of range (maximum {})", what, s, max);
  return v;
}

bool ParseMac(std::string_view s, uint8_t out[6]) {
  size_t pos = 0;
  for (int i = 0; i < 6; ++i) {
    if (i > 0) {
      if (pos >= s.size() || s[pos] != ':') return false;
      ++pos;
    }
    size_t start = pos;
    unsigned v = 0;
    while (pos < s.size() && pos - start < 2 && std::isxdigit(static_cast<unsigned char>(s[pos]))) {
      v = v * 16 + (std::isdigit(static_cast<unsigned char>(s[pos]))
                        ? s[pos] - '0'
                        : std::tolower(static_cast<unsigned char>(s[pos])) - 'a' + 10);
      ++pos;
    }
    if (pos == start) return false;
    out[i] = static_cast<uint8_t>(v);
  }
  return pos == s.size();
}

bool ParseIpv4(std::string_view s, uint8_t out[4]) {
  // inet_pton stops at a NUL, which would let "1.2.3.4\0junk" through.
  if (s.size() > 15 || s.find('\0') != std::string_view::npos) return false;
  std::string str(s);
  return inet_pton(AF_INET, str.c_str(), out) == 1;
}

bool ParseIpv6(std::string_view s, uint8_t out[16]) {
  if (s.size() > 45 || s.find('\0') != std::string_view::npos) return false;
  std::string str(s);
  return inet_pton(AF_INET6, str.c_str(), out) == 1;
}

void PrefixMask(int bits, uint8_t* out, int size) {
  for (int i = 0; i < size; ++i) {
    int b = std::clamp(bits - i * 8, 0, 8);
    out[i] = static_cast<uint8_t>(b == 0 ? 0 : 0xff << (8 - b));
  }
}

// The prefix length if `mask` is a CIDR mask, else -1.
int PrefixLength(const uint8_t* mask, int size) {
  int bits = 0;
  int i = 0;
  for (; i < size && mask[i] == 0xff; ++i) bits += 8;
  if (i < size) {
    uint8_t m = mask[i];
    while (m & 0x80) {
      ++bits;
      m = static_cast<uint8_t>(m << 1);
    }
    if (m) return -1;
    for (++i; i < size; ++i) {
      if (mask[i]) return -1;
    }
  }
  return bits;
}

enum class Kind { kInt, kMac, kIpv4, kIpv6, kPort };

Kind KindOf(FieldId id) {
  switch (id) {
    case FieldId::kEthSrc:
    case FieldId::kEthDst:
    case FieldId::kArpSha:
    case FieldId::kArpTha:
      return Kind::kMac;
    case FieldId::kIpv4Src:
    case FieldId::kIpv4Dst:
    case FieldId::kArpSpa:
    case FieldId::kArpTpa:
      return Kind::kIpv4;
    case FieldId::kIpv6Src:
    case FieldId::kIpv6Dst:
      return Kind::kIpv6;
    case FieldId::kInPort:
      return Kind::kPort;
    default:
      return Kind::kInt;
  }
}

uint64_t MaxOf(const FieldInfo& f) { return f.n_bits >= 64 ? ~0ull : (1ull << f.n_bits) - 1; }

// One value (no mask) of a field.
Result<FieldValue> ParseFieldValue(const FieldInfo& f, std::string_view s,
                                   const PortByName& ports) {
  FieldValue v;
  v.size = f.size;
  switch (KindOf(f.id)) {
    case Kind::kMac:
      if (!ParseMac(s, v.bytes.data())) return Err("{}: invalid Ethernet address '{}'", f.name, s);
      return v;
    case Kind::kIpv4:
      if (!ParseIpv4(s, v.bytes.data())) return Err("{}: invalid IPv4 address '{}'", f.name, s);
      return v;
    case Kind::kIpv6:
      if (!ParseIpv6(s, v.bytes.data())) return Err("{}: invalid IPv6 address '{}'", f.name, s);
      return v;
    case Kind::kPort: {
      HSW_ASSIGN_OR_RETURN(uint32_t port, ParsePort(s, ports));
      return FieldValue::FromUint(port, f.size);
    }
    case Kind::kInt:
      break;
  }
  HSW_ASSIGN_OR_RETURN(uint64_t n, ParseUint(s, MaxOf(f), f.name));
  return FieldValue::FromUint(n, f.size);
}

// value[/mask]; IPv4 and IPv6 masks may be prefix lengths.
Result<std::pair<FieldValue, std::optional<FieldValue>>> ParseValueMask(const FieldInfo& f,
                                                                        std::string_view s,
                                                                        const PortByName& ports) {
  size_t slash = s.find('/');
  std::string_view vs = s.substr(0, slash);
  HSW_ASSIGN_OR_RETURN(FieldValue value, ParseFieldValue(f, vs, ports));
  if (slash == std::string_view::npos) return std::make_pair(value, std::optional<FieldValue>());
  if (!f.maskable) return Err("{}: field does not support masks ('{}')", f.name, s);
  std::string_view ms = s.substr(slash + 1);
  Kind kind = KindOf(f.id);
  if ((kind == Kind::kIpv4 || kind == Kind::kIpv6) && !ms.empty() &&
      ms.find_first_not_of("0123456789") == std::string_view::npos) {
    int max_bits = f.size * 8;
    auto bits = ParseUint(ms, max_bits, f.name);
    if (!bits) {
      return Err("{}: prefix length '{}' not between 0 and {}", f.name, ms, max_bits);
    }
    FieldValue mask;
    mask.size = f.size;
    PrefixMask(static_cast<int>(*bits), mask.bytes.data(), f.size);
    return std::make_pair(value, std::optional<FieldValue>(mask));
  }
  auto mask = ParseFieldValue(f, ms, ports);
  if (!mask) return Err("{}: invalid mask '{}'", f.name, ms);
  return std::make_pair(value, std::optional<FieldValue>(*mask));
}

// TCP flag names in bit order, as ovs-ofctl prints them (the three reserved
// bits by value).
constexpr const char* kTcpFlagNames[] = {"fin", "syn", "rst", "psh",   "ack",   "urg",
                                         "ece", "cwr", "ns",  "[200]", "[400]", "[800]"};
constexpr uint16_t kTcpFlagsAll = 0x0fff;

int TcpFlagBit(std::string_view name) {
  for (int i = 0; i < 12; ++i) {
    if (name == kTcpFlagNames[i]) return 1 << i;
  }
  return 0;
}

// tcp_flags=0x12[/0xff], tcp_flags=+syn-ack (masked: only the named flags
// matter), tcp_flags=syn|ack (exact).
Result<std::pair<uint16_t, uint16_t>> ParseTcpFlags(std::string_view s) {
  if (s.empty()) return Err("tcp_flags: missing value");
  if (s[0] == '+' || s[0] == '-') {
    uint16_t value = 0, mask = 0;
    size_t pos = 0;
    while (pos < s.size()) {
      char sign = s[pos++];
      if (sign != '+' && sign != '-') return Err("tcp_flags: expected '+' or '-' in '{}'", s);
      size_t end = s.find_first_of("+-", pos);
      std::string_view name = s.substr(pos, end == std::string_view::npos ? end : end - pos);
      int bit = TcpFlagBit(name);
      if (!bit) return Err("tcp_flags: unknown flag '{}'", name);
      if (mask & bit) return Err("tcp_flags: flag '{}' given twice", name);
      mask |= bit;
      if (sign == '+') value |= bit;
      pos = end == std::string_view::npos ? s.size() : end;
    }
    return std::make_pair(value, mask);
  }
  if (std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '[' ||
      s.find('|') != std::string_view::npos) {
    uint16_t value = 0;
    size_t pos = 0;
    while (pos <= s.size()) {
      size_t end = s.find('|', pos);
      std::string_view name = s.substr(pos, end == std::string_view::npos ? end : end - pos);
      int bit = TcpFlagBit(name);
      if (!bit) {
        auto n = ParseUint(name, kTcpFlagsAll, "tcp_flags");
        if (!n || name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) {
          return Err("tcp_flags: unknown flag '{}'", name);
        }
        bit = static_cast<int>(*n);
      }
      value |= bit;
      if (end == std::string_view::npos) break;
      pos = end + 1;
    }
    return std::make_pair(value, kTcpFlagsAll);
  }
  size_t slash = s.find('/');
  HSW_ASSIGN_OR_RETURN(uint64_t value, ParseUint(s.substr(0, slash), kTcpFlagsAll, "tcp_flags"));
  uint64_t mask = kTcpFlagsAll;
  if (slash != std::string_view::npos) {
    HSW_ASSIGN_OR_RETURN(mask, ParseUint(s.substr(slash + 1), kTcpFlagsAll, "tcp_flags mask"));
  }
  return std::make_pair(static_cast<uint16_t>(value), static_cast<uint16_t>(mask));
}

// ---------------------------------------------------------------------------
// Prerequisites.

struct Requirement {
  std::array<uint16_t, 3> eth_types{};
  int n_eth = 0;
  std::array<uint8_t, 3> protos{};
  int n_proto = 0;
  const char* text = "";
};

Requirement Req(std::initializer_list<uint16_t> eth, std::initializer_list<uint8_t> protos,
                const char* text) {
  Requirement r;
  for (uint16_t e : eth) r.eth_types[r.n_eth++] = e;
  for (uint8_t p : protos) r.protos[r.n_proto++] = p;
  r.text = text;
  return r;
}

// What a match-field name needs.  Generic ovs-ofctl names accept every
// protocol whose field shares their storage.
Requirement RequirementOf(std::string_view name, const FieldInfo& f) {
  const uint16_t ip = kEthTypeIpv4, ip6 = kEthTypeIpv6, arp = kEthTypeArp;
  if (name == "nw_src" || name == "nw_dst" || name == "ip_src" || name == "ip_dst") {
    return Req({ip, arp, kEthTypeRarp}, {}, "ip or arp");
  }
  if (name == "nw_proto" || name == "ip_proto") return Req({ip, ip6, arp}, {}, "ip, ipv6 or arp");
  if (name == "tp_src" || name == "tp_dst") {
    return Req({ip, ip6}, {kIpProtoTcp, kIpProtoUdp, kIpProtoSctp}, "tcp, udp or sctp");
  }
  if (name == "icmp_type" || name == "icmp_code") {
    return Req({ip, ip6}, {kIpProtoIcmp, kIpProtoIcmpv6}, "icmp or icmp6");
  }
  switch (f.id) {
    case FieldId::kIpDscp:
    case FieldId::kIpEcn:
    case FieldId::kIpTtl:
      return Req({ip, ip6}, {}, "ip or ipv6");
    case FieldId::kIpv4Src:
    case FieldId::kIpv4Dst:
      return Req({ip}, {}, "ip");
    case FieldId::kIpv6Src:
    case FieldId::kIpv6Dst:
      return Req({ip6}, {}, "ipv6");
    case FieldId::kTcpSrc:
    case FieldId::kTcpDst:
    case FieldId::kTcpFlags:
      return Req({ip, ip6}, {kIpProtoTcp}, "tcp or tcp6");
    case FieldId::kUdpSrc:
    case FieldId::kUdpDst:
      return Req({ip, ip6}, {kIpProtoUdp}, "udp or udp6");
    case FieldId::kSctpSrc:
    case FieldId::kSctpDst:
      return Req({ip, ip6}, {kIpProtoSctp}, "sctp or sctp6");
    case FieldId::kIcmpv4Type:
    case FieldId::kIcmpv4Code:
      return Req({ip}, {kIpProtoIcmp}, "icmp");
    case FieldId::kIcmpv6Type:
    case FieldId::kIcmpv6Code:
      return Req({ip6}, {kIpProtoIcmpv6}, "icmp6");
    case FieldId::kArpOp:
    case FieldId::kArpSpa:
    case FieldId::kArpTpa:
    case FieldId::kArpSha:
    case FieldId::kArpTha:
      return Req({arp, kEthTypeRarp}, {}, "arp");
    default:
      return Requirement{};
  }
}

bool Satisfied(const Requirement& r, const Match& m) {
  if (r.n_eth) {
    if (m.mask.eth_type != 0xffff) return false;
    if (std::find(r.eth_types.begin(), r.eth_types.begin() + r.n_eth, m.key.eth_type) ==
        r.eth_types.begin() + r.n_eth) {
      return false;
    }
  }
  if (r.n_proto) {
    if (m.mask.nw_proto != 0xff) return false;
    if (std::find(r.protos.begin(), r.protos.begin() + r.n_proto, m.key.nw_proto) ==
        r.protos.begin() + r.n_proto) {
      return false;
    }
  }
  return true;
}

bool IsIcmpMatch(const Match& m) {
  if (m.mask.eth_type != 0xffff || m.mask.nw_proto != 0xff) return false;
  return (m.key.eth_type == kEthTypeIpv4 && m.key.nw_proto == kIpProtoIcmp) ||
         (m.key.eth_type == kEthTypeIpv6 && m.key.nw_proto == kIpProtoIcmpv6);
}

bool MatchHasVlan(const Match& m) {
  return (m.mask.vlan_tci & kVlanCfi) && (m.key.vlan_tci & kVlanCfi);
}

// ---------------------------------------------------------------------------
// Match building.

struct Shorthand {
  const char* name;
  uint16_t eth_type;
  uint8_t nw_proto;
};
constexpr Shorthand kShorthands[] = {
    {"ip", kEthTypeIpv4, 0},      {"ipv6", kEthTypeIpv6, 0},  {"icmp", kEthTypeIpv4, 1},
    {"icmp6", kEthTypeIpv6, 58},  {"tcp", kEthTypeIpv4, 6},   {"tcp6", kEthTypeIpv6, 6},
    {"udp", kEthTypeIpv4, 17},    {"udp6", kEthTypeIpv6, 17}, {"sctp", kEthTypeIpv4, 132},
    {"sctp6", kEthTypeIpv6, 132}, {"arp", kEthTypeArp, 0},    {"rarp", kEthTypeRarp, 0},
};

class MatchBuilder {
 public:
  explicit MatchBuilder(const PortByName& ports) : ports_(ports) {}

  // True if `key` was a protocol shorthand or a field; false if unknown.
  Result<bool> Apply(const Token& t) {
    for (const Shorthand& s : kShorthands) {
      if (t.key == s.name) {
        if (t.has_value) return Err("'{}' takes no value", t.text);
        m_.key.eth_type = s.eth_type;
        m_.mask.eth_type = 0xffff;
        if (s.nw_proto) {
          m_.key.nw_proto = s.nw_proto;
          m_.mask.nw_proto = 0xff;
        }
        return true;
      }
    }
    std::string_view name = t.key;
    bool special = name == "vlan_tci";
    const FieldInfo* f = FindField(name);
    if (!f && !special) return false;
    if (!t.has_value || t.value.empty()) return Err("field {} missing value", name);
    if (t.parens) return Err("field {}: unexpected '(' in '{}'", name, t.text);
    std::string_view v = t.value;

    if (name == "vlan_tci") {
      size_t slash = v.find('/');
      HSW_ASSIGN_OR_RETURN(uint64_t tci, ParseUint(v.substr(0, slash), 0xffff, "vlan_tci"));
      uint64_t mask = 0xffff;
      if (slash != std::string_view::npos) {
        HSW_ASSIGN_OR_RETURN(mask, ParseUint(v.substr(slash + 1), 0xffff, "vlan_tci mask"));
      }
      m_.key.vlan_tci = static_cast<uint16_t>(tci);
      m_.mask.vlan_tci = static_cast<uint16_t>(mask);
      return true;
    }
    if (name == "dl_vlan") {
      HSW_ASSIGN_OR_RETURN(uint64_t vid, ParseUint(v, 0xffff, "dl_vlan"));
      if (vid == 0xffff) {  // OpenFlow 1.0's OFP_VLAN_NONE: no tag
        m_.key.vlan_tci = 0;
        m_.mask.vlan_tci = 0x1fff;
      } else if (vid > kVlanVidMask) {
        return Err("dl_vlan: value {} out of range (maximum 4095)", v);
      } else {
        m_.key.vlan_tci = static_cast<uint16_t>((m_.key.vlan_tci & kVlanPcpMask) | kVlanCfi | vid);
        m_.mask.vlan_tci |= 0x1fff;
      }
      return true;
    }
    if (f->id == FieldId::kVlanPcp) {
      // Matching a priority implies a tag, as in ovs-ofctl.
      HSW_ASSIGN_OR_RETURN(uint64_t pcp, ParseUint(v, 7, name));
      m_.key.vlan_tci =
          static_cast<uint16_t>((m_.key.vlan_tci & 0x1fff) | kVlanCfi | (pcp << kVlanPcpShift));
      m_.mask.vlan_tci |= kVlanPcpMask | kVlanCfi;
      Use(name, *f);
      return true;
    }
    if (name == "nw_tos") {
      HSW_ASSIGN_OR_RETURN(uint64_t tos, ParseUint(v, 0xff, name));
      m_.key.nw_tos = static_cast<uint8_t>((m_.key.nw_tos & 0x03) | (tos & 0xfc));
      m_.mask.nw_tos |= 0xfc;
      Use(name, *f);
      return true;
    }
    if (f->id == FieldId::kTcpFlags) {
      HSW_ASSIGN_OR_RETURN(auto vm, ParseTcpFlags(v));
      m_.key.tcp_flags = vm.first;
      m_.mask.tcp_flags = vm.second;
      Use(name, *f);
      return true;
    }
    auto parsed = ParseValueMask(*f, v, ports_);
    if (!parsed) return tl::unexpected(parsed.error());
    if (KindOf(f->id) == Kind::kInt && (parsed->first.ToUint() & ~(f->key_bits >> f->key_shift))) {
      return Err("{}: value {} out of range (maximum {})", name, v, f->key_bits >> f->key_shift);
    }
    const FieldValue* mask = parsed->second ? &*parsed->second : nullptr;
    WriteField(m_.key, f->id, parsed->first, mask);
    SetFieldMask(m_.mask, f->id, mask);
    Use(name, *f);
    return true;
  }

  Result<Match> Finish() {
    for (const auto& [name, req] : uses_) {
      if (!Satisfied(req, m_)) return Err("{} requires {}", name, req.text);
    }
    // Keep to what OpenFlow 1.3 can carry, as ovs-ofctl does: VID and the
    // present bit take any mask (OXM vlan_vid), the priority exists only on
    // a tagged match and only exact (OXM vlan_pcp), and an untagged match
    // says nothing about the priority.
    if (m_.mask.vlan_tci & kVlanPcpMask) {
      bool tagged = (m_.mask.vlan_tci & kVlanCfi) && (m_.key.vlan_tci & kVlanCfi);
      m_.mask.vlan_tci = static_cast<uint16_t>(tagged ? m_.mask.vlan_tci | kVlanPcpMask
                                                      : m_.mask.vlan_tci & 0x1fff);
    }
    // ICMP type and code are 8 bits of tp_src/tp_dst.
    if (IsIcmpMatch(m_)) {
      for (uint16_t* k : {&m_.key.tp_src, &m_.key.tp_dst}) {
        uint16_t* mk = k == &m_.key.tp_src ? &m_.mask.tp_src : &m_.mask.tp_dst;
        if (*k & *mk & 0xff00) {
          return Err("{}: value {} out of range (maximum 255)",
                     k == &m_.key.tp_src ? "icmp_type" : "icmp_code", *k);
        }
        *mk &= 0x00ff;
      }
    }
    m_.key = ApplyMask(m_.key, m_.mask);
    return m_;
  }

  const Match& match() const { return m_; }

 private:
  void Use(std::string_view name, const FieldInfo& f) {
    Requirement r = RequirementOf(name, f);
    if (r.n_eth || r.n_proto) uses_.emplace_back(std::string(name), r);
  }

  const PortByName& ports_;
  Match m_;
  std::vector<std::pair<std::string, Requirement>> uses_;
};

// ---------------------------------------------------------------------------
// Actions.

// The field name for an NXM/OXM register name in load:V->NAME[]; other names
// pass through.
std::string NxmFieldName(std::string_view nxm) {
  static constexpr struct {
    const char* nxm;
    const char* name;
  } kNames[] = {
      {"NXM_OF_IN_PORT", "in_port"},         {"NXM_OF_ETH_DST", "eth_dst"},
      {"NXM_OF_ETH_SRC", "eth_src"},         {"NXM_OF_ETH_TYPE", "eth_type"},
      {"NXM_OF_IP_TOS", "nw_tos"},           {"NXM_OF_IP_PROTO", "nw_proto"},
      {"NXM_OF_IP_SRC", "ip_src"},           {"NXM_OF_IP_DST", "ip_dst"},
      {"NXM_OF_TCP_SRC", "tcp_src"},         {"NXM_OF_TCP_DST", "tcp_dst"},
      {"NXM_OF_UDP_SRC", "udp_src"},         {"NXM_OF_UDP_DST", "udp_dst"},
      {"NXM_OF_ICMP_TYPE", "icmp_type"},     {"NXM_OF_ICMP_CODE", "icmp_code"},
      {"NXM_OF_ARP_OP", "arp_op"},           {"NXM_OF_ARP_SPA", "arp_spa"},
      {"NXM_OF_ARP_TPA", "arp_tpa"},         {"NXM_NX_ARP_SHA", "arp_sha"},
      {"NXM_NX_ARP_THA", "arp_tha"},         {"NXM_NX_IP_TTL", "nw_ttl"},
      {"NXM_NX_IP_ECN", "nw_ecn"},           {"NXM_NX_IPV6_SRC", "ipv6_src"},
      {"NXM_NX_IPV6_DST", "ipv6_dst"},       {"NXM_NX_ICMPV6_TYPE", "icmpv6_type"},
      {"NXM_NX_ICMPV6_CODE", "icmpv6_code"}, {"NXM_NX_TCP_FLAGS", "tcp_flags"},
  };
  for (const auto& n : kNames) {
    if (nxm == n.nxm) return n.name;
  }
  if (nxm.substr(0, 7) == "OXM_OF_") return Lower(nxm.substr(7));
  return std::string(nxm);
}

bool IsValidOutputPort(uint32_t port) {
  return port < kPortMax || port == kPortInPort || port == kPortTable || port == kPortNormal ||
         port == kPortFlood || port == kPortAll || port == kPortController || port == kPortLocal;
}

class ActionParser {
 public:
  ActionParser(const Match& match, const PortByName& ports, int table_id)
      : match_(match), ports_(ports), table_id_(table_id) {}

  Result<Instructions> ParseAll(std::string_view text) {
    Instructions ins;
    Lexer lex(text);
    int rank = 0;
    const char* last = "apply_actions";
    bool saw_drop = false;
    vlan_depth_ = MatchHasVlan(match_) ? 1 : 0;
    while (true) {
      HSW_ASSIGN_OR_RETURN(std::optional<Token> tok, lex.Next());
      if (!tok) break;
      std::string key = Lower(tok->key);
      int r = InstructionRank(key);
      if (r == 0) {
        if (rank > 0) {
          return Err("invalid instruction ordering: apply_actions ('{}') must appear before {}",
                     tok->text, last);
        }
        if (key == "drop") {
          if (tok->has_value) return Err("drop takes no argument ('{}')", tok->text);
          saw_drop = true;
          continue;
        }
        HSW_TRY(ParseAction(*tok, key, ins.apply));
        continue;
      }
      const char* name = InstructionName(r);
      if (r == rank) return Err("instruction {} may be specified only once", name);
      if (r < rank) {
        return Err("invalid instruction ordering: {} must appear before {}", name, last);
      }
      rank = r;
      last = name;
      switch (r) {
        case 1:
          if (tok->has_value) return Err("clear_actions takes no argument ('{}')", tok->text);
          ins.clear_actions = true;
          break;
        case 2: {
          if (!tok->parens)
            return Err("write_actions needs a list in parentheses ('{}')", tok->text);
          Actions acts;
          // Write-actions run on the packet as the apply-actions left it.
          int saved_depth = vlan_depth_;
          HSW_TRY(ParseList(tok->value, acts));
          vlan_depth_ = saved_depth;
          ins.write_actions = std::move(acts);
          break;
        }
        case 3: {
          if (!tok->has_value) return Err("write_metadata needs a value ('{}')", tok->text);
          size_t slash = tok->value.find('/');
          HSW_ASSIGN_OR_RETURN(uint64_t v,
                               ParseUint(tok->value.substr(0, slash), ~0ull, "write_metadata"));
          uint64_t mask = ~0ull;
          if (slash != std::string_view::npos) {
            HSW_ASSIGN_OR_RETURN(
                mask, ParseUint(tok->value.substr(slash + 1), ~0ull, "write_metadata mask"));
          }
          ins.write_metadata = WriteMetadata{v, mask};
          break;
        }
        case 4: {
          if (!tok->has_value) return Err("goto_table needs a table ('{}')", tok->text);
          HSW_ASSIGN_OR_RETURN(uint64_t t, ParseUint(tok->value, kNumTables - 1, "goto_table"));
          if (table_id_ >= 0 && static_cast<int>(t) <= table_id_) {
            return Err("goto_table:{} must name a later table than table {}", t, table_id_);
          }
          ins.goto_table = static_cast<uint8_t>(t);
          break;
        }
      }
    }
    if (saw_drop && !ins.apply.empty()) {
      return Err("drop must not be combined with other actions");
    }
    return ins;
  }

 private:
  static int InstructionRank(const std::string& key) {
    if (key == "clear_actions") return 1;
    if (key == "write_actions") return 2;
    if (key == "write_metadata") return 3;
    if (key == "goto_table") return 4;
    return 0;
  }
  static const char* InstructionName(int rank) {
    static const char* const kNames[] = {"apply_actions", "clear_actions", "write_actions",
                                         "write_metadata", "goto_table"};
    return kNames[rank];
  }

  Status ParseList(std::string_view text, Actions& out) {
    Lexer lex(text);
    bool saw_drop = false;
    while (true) {
      HSW_ASSIGN_OR_RETURN(std::optional<Token> tok, lex.Next());
      if (!tok) break;
      std::string key = Lower(tok->key);
      if (InstructionRank(key)) return Err("instruction '{}' inside write_actions", tok->text);
      if (key == "drop") {
        saw_drop = true;
        continue;
      }
      HSW_TRY(ParseAction(*tok, key, out));
    }
    if (saw_drop && !out.empty()) return Err("drop must not be combined with other actions");
    return Ok();
  }

  Status Output(std::vector<Action>& out, uint32_t port, uint16_t max_len = 0xffff) {
    if (!IsValidOutputPort(port)) return Err("invalid output port {}", FormatPort(port));
    out.push_back(ActOutput{port, port == kPortController ? max_len : uint16_t{0xffff}});
    return Ok();
  }

  Status SetField(Actions& out, FieldId id, const FieldValue& v) {
    out.push_back(ActSetField{id, v});
    return Ok();
  }

  // The set-field action for a possibly generic field name, checked against
  // the match's prerequisites.
  Result<FieldId> ResolveSetField(std::string_view name, std::string_view text) {
    const FieldInfo* f = FindField(name);
    if (!f) return Err("unknown field '{}' in '{}'", name, text);
    FieldId id = f->id;
    uint8_t proto = match_.mask.nw_proto == 0xff ? match_.key.nw_proto : 0;
    uint16_t eth = match_.mask.eth_type == 0xffff ? match_.key.eth_type : 0;
    if (name == "tp_src" || name == "tp_dst") {
      bool src = name == "tp_src";
      if (proto == kIpProtoTcp) {
        id = src ? FieldId::kTcpSrc : FieldId::kTcpDst;
      } else if (proto == kIpProtoUdp) {
        id = src ? FieldId::kUdpSrc : FieldId::kUdpDst;
      } else if (proto == kIpProtoSctp) {
        id = src ? FieldId::kSctpSrc : FieldId::kSctpDst;
      } else {
        return Err("'{}' requires tcp, udp or sctp in the match", text);
      }
    } else if ((name == "nw_src" || name == "nw_dst") &&
               (eth == kEthTypeArp || eth == kEthTypeRarp)) {
      id = name == "nw_src" ? FieldId::kArpSpa : FieldId::kArpTpa;
    } else if ((name == "icmp_type" || name == "icmp_code") && eth == kEthTypeIpv6) {
      id = name == "icmp_type" ? FieldId::kIcmpv6Type : FieldId::kIcmpv6Code;
    }
    if (id == FieldId::kEthType || id == FieldId::kIpProto || id == FieldId::kTcpFlags) {
      return Err("field {} is read-only ('{}')", name, text);
    }
    if ((id == FieldId::kVlanPcp || id == FieldId::kVlanVid) && vlan_depth_ == 0) {
      return Err("'{}' requires a VLAN tag (match dl_vlan or push_vlan first)", text);
    }
    const FieldInfo& fi = GetFieldInfo(id);
    // By the resolved field, not the generic name: set_field:..->ip_dst needs ip
    // even though a match on nw_dst may also mean arp_tpa.
    Requirement req = RequirementOf(fi.oxm_name, fi);
    if (id == FieldId::kIpDscp || id == FieldId::kIpEcn || id == FieldId::kIpTtl) {
      req = Req({kEthTypeIpv4, kEthTypeIpv6}, {}, "ip or ipv6");
    }
    if (!Satisfied(req, match_)) return Err("'{}' requires {} in the match", text, req.text);
    return id;
  }

  Status ParseAction(const Token& tok, const std::string& key, Actions& out) {
    std::string_view v = tok.value;
    auto need_value = [&]() -> Status {
      if (!tok.has_value || v.empty()) return Err("{} needs an argument ('{}')", key, tok.text);
      return Ok();
    };
    auto no_value = [&]() -> Status {
      if (tok.has_value) return Err("{} takes no argument ('{}')", key, tok.text);
      return Ok();
    };
    if (key == "output") {
      HSW_TRY(need_value());
      HSW_ASSIGN_OR_RETURN(uint32_t port, ParsePort(v, ports_));
      return Output(out, port);
    }
    if (key == "controller") {
      uint16_t max_len = 0xffff;
      if (tok.has_value && tok.parens) {
        Lexer lex(v);
        while (true) {
          HSW_ASSIGN_OR_RETURN(std::optional<Token> opt, lex.Next());
          if (!opt) break;
          if (opt->key != "max_len" || !opt->has_value) {
            return Err("unsupported controller option '{}'", opt->text);
          }
          HSW_ASSIGN_OR_RETURN(uint64_t n, ParseUint(opt->value, 0xffff, "controller max_len"));
          max_len = static_cast<uint16_t>(n);
        }
      } else if (tok.has_value) {
        HSW_ASSIGN_OR_RETURN(uint64_t n, ParseUint(v, 0xffff, "controller max_len"));
        max_len = static_cast<uint16_t>(n);
      }
      return Output(out, kPortController, max_len);
    }
    if (key == "normal" || key == "flood" || key == "all" || key == "local" || key == "in_port" ||
        key == "table") {
      HSW_TRY(no_value());
      HSW_ASSIGN_OR_RETURN(uint32_t port, ParsePort(key, {}));
      return Output(out, port);
    }
    if (key == "mod_dl_src" || key == "mod_dl_dst") {
      HSW_TRY(need_value());
      FieldValue mac;
      mac.size = 6;
      if (!ParseMac(v, mac.bytes.data())) return Err("{}: invalid Ethernet address '{}'", key, v);
      return SetField(out, key == "mod_dl_src" ? FieldId::kEthSrc : FieldId::kEthDst, mac);
    }
    if (key == "mod_nw_src" || key == "mod_nw_dst") {
      HSW_TRY(need_value());
      FieldValue ip;
      ip.size = 4;
      if (!ParseIpv4(v, ip.bytes.data())) return Err("{}: invalid IPv4 address '{}'", key, v);
      if (!Satisfied(Req({kEthTypeIpv4}, {}, "ip"), match_)) {
        return Err("'{}' requires ip in the match", tok.text);
      }
      return SetField(out, key == "mod_nw_src" ? FieldId::kIpv4Src : FieldId::kIpv4Dst, ip);
    }
    if (key == "mod_nw_tos" || key == "mod_nw_ecn" || key == "mod_nw_ttl") {
      HSW_TRY(need_value());
      uint64_t max = key == "mod_nw_ecn" ? 3 : 255;
      HSW_ASSIGN_OR_RETURN(uint64_t n, ParseUint(v, max, key));
      if (key == "mod_nw_tos" && (n & 3)) {
        return Err("mod_nw_tos: invalid TOS {} (the low 2 bits are ECN; use mod_nw_ecn)", v);
      }
      if (!Satisfied(Req({kEthTypeIpv4, kEthTypeIpv6}, {}, ""), match_)) {
        return Err("'{}' requires ip or ipv6 in the match", tok.text);
      }
      if (key == "mod_nw_tos")
        return SetField(out, FieldId::kIpDscp, FieldValue::FromUint(n >> 2, 1));
      if (key == "mod_nw_ecn") return SetField(out, FieldId::kIpEcn, FieldValue::FromUint(n, 1));
      return SetField(out, FieldId::kIpTtl, FieldValue::FromUint(n, 1));
    }
    if (key == "mod_tp_src" || key == "mod_tp_dst") {
      HSW_TRY(need_value());
      HSW_ASSIGN_OR_RETURN(uint64_t n, ParseUint(v, 0xffff, key));
      HSW_ASSIGN_OR_RETURN(FieldId id,
                           ResolveSetField(key == "mod_tp_src" ? "tp_src" : "tp_dst", tok.text));
      return SetField(out, id, FieldValue::FromUint(n, 2));
    }
    if (key == "mod_vlan_vid" || key == "mod_vlan_pcp") {
      HSW_TRY(need_value());
      bool vid = key == "mod_vlan_vid";
      HSW_ASSIGN_OR_RETURN(uint64_t n, ParseUint(v, vid ? kVlanVidMask : 7, key));
      if (vlan_depth_ == 0) {
        // As ovs-ofctl: a frame that may be untagged gets a tag first.
        out.push_back(ActPushVlan{kEthTypeVlan});
        vlan_depth_ = 1;
      }
      if (vid) return SetField(out, FieldId::kVlanVid, FieldValue::FromUint(kVlanCfi | n, 2));
      return SetField(out, FieldId::kVlanPcp, FieldValue::FromUint(n, 1));
    }
    if (key == "strip_vlan" || key == "pop_vlan") {
      HSW_TRY(no_value());
      // ovs-ofctl's consistency rule: only pop a tag the match guarantees.
      if (vlan_depth_ == 0) {
        return Err("'{}' requires a VLAN tag (match dl_vlan or push_vlan first)", tok.text);
      }
      out.push_back(ActPopVlan{});
      --vlan_depth_;
      return Ok();
    }
    if (key == "push_vlan") {
      HSW_TRY(need_value());
      HSW_ASSIGN_OR_RETURN(uint64_t n, ParseUint(v, 0xffff, key));
      if (n != kEthTypeVlan && n != kEthTypeQinQ) {
        return Err("push_vlan: ethertype {} is not 0x8100 or 0x88a8", v);
      }
      if (vlan_depth_ >= 2) return Err("'{}': at most two VLAN tags are supported", tok.text);
      out.push_back(ActPushVlan{static_cast<uint16_t>(n)});
      ++vlan_depth_;
      return Ok();
    }
    if (key == "dec_ttl") {
      if (tok.has_value && !v.empty()) {
        return Err("dec_ttl: controller ids are not supported ('{}')", tok.text);
      }
      if (!Satisfied(Req({kEthTypeIpv4, kEthTypeIpv6}, {}, ""), match_)) {
        return Err("'{}' requires ip or ipv6 in the match", tok.text);
      }
      out.push_back(ActDecNwTtl{});
      return Ok();
    }
    if (key == "load") {
      // Only whole-field loads exist in hsw's action set (as set_field).
      HSW_TRY(need_value());
      size_t arrow = v.find("->");
      if (arrow == std::string_view::npos) return Err("load: missing '->' in '{}'", tok.text);
      std::string_view vs = v.substr(0, arrow), dst = v.substr(arrow + 2);
      if (dst.size() < 3 || dst.substr(dst.size() - 2) != "[]") {
        return Err("load: only whole fields ('FIELD[]') are supported ('{}')", tok.text);
      }
      std::string name = NxmFieldName(dst.substr(0, dst.size() - 2));
      HSW_ASSIGN_OR_RETURN(FieldId id, ResolveSetField(name, tok.text));
      const FieldInfo& f = GetFieldInfo(id);
      if (f.size > 8) return Err("load: value too wide for {} ('{}')", name, tok.text);
      if (name == "nw_tos") {
        HSW_ASSIGN_OR_RETURN(uint64_t n, ParseUint(vs, 0xff, "nw_tos"));
        if (n & 3) return Err("load: invalid TOS {} for nw_tos", vs);
        return SetField(out, id, FieldValue::FromUint(n >> 2, 1));
      }
      HSW_ASSIGN_OR_RETURN(uint64_t n, ParseUint(vs, MaxOf(f), name));
      return SetField(out, id, FieldValue::FromUint(n, f.size));
    }
    if (key == "set_field") {
      HSW_TRY(need_value());
      size_t arrow = v.rfind("->");
      if (arrow == std::string_view::npos) return Err("set_field: missing '->' in '{}'", tok.text);
      std::string_view vs = v.substr(0, arrow), name = v.substr(arrow + 2);
      if (vs.find('/') != std::string_view::npos) {
        return Err("set_field: masked values are not supported ('{}')", tok.text);
      }
      HSW_ASSIGN_OR_RETURN(FieldId id, ResolveSetField(name, tok.text));
      const FieldInfo& f = GetFieldInfo(id);
      if (name == "nw_tos") {
        HSW_ASSIGN_OR_RETURN(uint64_t n, ParseUint(vs, 0xff, "nw_tos"));
        if (n & 3) return Err("set_field: invalid TOS {} for nw_tos", vs);
        return SetField(out, id, FieldValue::FromUint(n >> 2, 1));
      }
      if (name == "dl_vlan") {
        HSW_ASSIGN_OR_RETURN(uint64_t n, ParseUint(vs, kVlanVidMask, "dl_vlan"));
        return SetField(out, id, FieldValue::FromUint(kVlanCfi | n, 2));
      }
      HSW_ASSIGN_OR_RETURN(FieldValue fv, ParseFieldValue(f, vs, ports_));
      return SetField(out, id, fv);
    }
    if (!tok.has_value) {
      // A bare port number or name means output to it.
      if (!key.empty() && std::isdigit(static_cast<unsigned char>(key[0]))) {
        HSW_ASSIGN_OR_RETURN(uint32_t port, ParsePort(tok.key, {}));
        return Output(out, port);
      }
      if (ports_) {
        if (auto port = ports_(tok.key)) return Output(out, *port);
      }
    }
    return Err("unknown action '{}'", tok.text);
  }

  const Match& match_;
  const PortByName& ports_;
  int table_id_;  // -1 when the flow may be in any table
  // VLAN tags the packet is known to carry at this point of the action list:
  // set_field on VLAN fields and pop_vlan need one, as ovs-ofctl checks.
  int vlan_depth_ = 0;
};

// ---------------------------------------------------------------------------
// Whole flows.

enum class Mode { kAdd, kModify, kDelete, kStats };

constexpr struct {
  const char* name;
  uint16_t flag;
} kFlagNames[] = {
    {"send_flow_rem", kFlowFlagSendFlowRem},  {"check_overlap", kFlowFlagCheckOverlap},
    {"reset_counts", kFlowFlagResetCounts},   {"no_packet_counts", kFlowFlagNoPktCounts},
    {"no_byte_counts", kFlowFlagNoBytCounts},
};

Result<FlowMod> ParseFlowInner(std::string_view text, Mode mode, FlowModCommand command,
                               const PortByName& ports) {
  FlowMod fm;
  fm.command = command;
  bool edit = mode == Mode::kAdd || mode == Mode::kModify;
  fm.table_id = edit ? 0 : kTableAll;
  std::string_view match_text = text, actions_text;
  bool has_actions = SplitActions(text, &match_text, &actions_text);
  if (edit && !has_actions) return Err("missing actions= (e.g. actions=drop)");
  if (!edit && has_actions) return Err("a match for deleting or dumping flows takes no actions");

  MatchBuilder mb(ports);
  Lexer lex(match_text);
  while (true) {
    HSW_ASSIGN_OR_RETURN(std::optional<Token> tok, lex.Next());
    if (!tok) break;
    HSW_ASSIGN_OR_RETURN(bool is_field, mb.Apply(*tok));
    if (is_field) continue;
    std::string_view key = tok->key;
    bool flag_done = false;
    for (const auto& f : kFlagNames) {
      if (key == f.name) {
        if (!edit) return Err("'{}' is only valid when adding or modifying flows", key);
        if (tok->has_value) return Err("'{}' takes no value", tok->text);
        fm.flags |= f.flag;
        flag_done = true;
      }
    }
    if (flag_done) continue;
    if (key == "duration" || key == "n_packets" || key == "n_bytes" || key == "idle_age" ||
        key == "hard_age") {
      continue;  // dump-flows statistics, so its output loads back
    }
    if (!tok->has_value || tok->value.empty()) {
      if (key == "importance" || key == "table" || key == "priority" || key == "cookie" ||
          key == "idle_timeout" || key == "hard_timeout" || key == "out_port" ||
          key == "out_group") {
        return Err("field {} missing value", key);
      }
      return Err("unknown keyword '{}'", tok->text);
    }
    std::string_view v = tok->value;
    if (key == "table") {
      HSW_ASSIGN_OR_RETURN(uint64_t t, ParseUint(v, 255, "table"));
      if (t >= kNumTables && (edit || t != kTableAll)) {
        return Err("table: {} is not a valid table (0 to {})", v, kNumTables - 1);
      }
      fm.table_id = static_cast<uint8_t>(t);
    } else if (key == "priority") {
      HSW_ASSIGN_OR_RETURN(uint64_t p, ParseUint(v, 0xffff, "priority"));
      fm.priority = static_cast<uint16_t>(p);
    } else if (key == "idle_timeout" || key == "hard_timeout") {
      if (!edit) return Err("'{}' is only valid when adding or modifying flows", key);
      HSW_ASSIGN_OR_RETURN(uint64_t t, ParseUint(v, 0xffff, key));
      (key == "idle_timeout" ? fm.idle_timeout : fm.hard_timeout) = static_cast<uint16_t>(t);
    } else if (key == "importance") {
      HSW_TRY(ParseUint(v, 0xffff, key));  // OpenFlow 1.4; nothing to do in 1.3
    } else if (key == "cookie") {
      size_t slash = v.find('/');
      HSW_ASSIGN_OR_RETURN(uint64_t c, ParseUint(v.substr(0, slash), ~0ull, "cookie"));
      fm.cookie = c;
      if (slash != std::string_view::npos) {
        if (mode == Mode::kAdd)
          return Err("flow additions cannot use a cookie mask ('{}')", tok->text);
        HSW_ASSIGN_OR_RETURN(fm.cookie_mask, ParseUint(v.substr(slash + 1), ~0ull, "cookie mask"));
        fm.cookie &= fm.cookie_mask;  // bits outside the mask mean nothing
      } else if (!edit) {
        fm.cookie_mask = ~0ull;  // selecting by cookie: an exact one
      }
    } else if (key == "out_port" && !edit) {
      HSW_ASSIGN_OR_RETURN(fm.out_port, ParsePort(v, ports));
    } else if (key == "out_group" && !edit) {
      HSW_ASSIGN_OR_RETURN(uint64_t g, ParseUint(v, 0xffffffff, "out_group"));
      fm.out_group = static_cast<uint32_t>(g);
    } else {
      return Err("unknown keyword '{}'", tok->text);
    }
  }
  HSW_ASSIGN_OR_RETURN(fm.match, mb.Finish());
  if (edit) {
    ActionParser ap(fm.match, ports, fm.table_id);
    HSW_ASSIGN_OR_RETURN(fm.instructions, ap.ParseAll(actions_text));
  }
  return fm;
}

tl::unexpected<Error> WrapError(std::string_view what, std::string_view text, const Error& e) {
  return MakeError(fmt::format("{} '{}': {}", what, Trim(text), e.message), e.code);
}

// ---------------------------------------------------------------------------
// Formatting helpers.

const char* ReservedPortName(uint32_t port) {
  switch (port) {
    case kPortInPort:
      return "IN_PORT";
    case kPortTable:
      return "TABLE";
    case kPortNormal:
      return "NORMAL";
    case kPortFlood:
      return "FLOOD";
    case kPortAll:
      return "ALL";
    case kPortController:
      return "CONTROLLER";
    case kPortLocal:
      return "LOCAL";
    case kPortAny:
      return "ANY";
    default:
      return nullptr;
  }
}

std::optional<uint32_t> ReservedPortByName(std::string_view name) {
  std::string up(name);
  for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (uint32_t p : {kPortInPort, kPortTable, kPortNormal, kPortFlood, kPortAll, kPortController,
                     kPortLocal, kPortAny}) {
    if (up == ReservedPortName(p)) return p;
  }
  if (up == "NONE") return kPortAny;
  return std::nullopt;
}

bool NeedsQuotes(std::string_view name) {
  if (name.empty() || ReservedPortByName(name)) return true;
  if (name.find_first_not_of("0123456789") == std::string_view::npos) return true;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return true;
    }
  }
  // A name that would be read as an action keyword must be quoted too.
  return name == "drop" || name == "output";
}

// Appends comma-separated parts to a string, as ovs-ofctl joins a flow's
// fields: formatting 100k rules for save-flows writes straight into one
// buffer instead of building and joining a string per field.
class Parts {
 public:
  explicit Parts(std::string& out) : out_(out), start_(out.size()) {}
  // The string to append the next part to, after a ',' unless it is the first.
  std::string& Next() {
    if (out_.size() > start_) out_ += ',';
    return out_;
  }

 private:
  std::string& out_;
  size_t start_;
};

void AppendDecimal(std::string& out, uint64_t v) {
  char digits[20];
  auto end = std::to_chars(digits, digits + sizeof(digits), v).ptr;
  out.append(digits, end);
}

// fmt's {:#x}: "0x" and the digits without leading zeros ("0x0" for 0);
// `width` pads the digits with zeros ({:#06x} is width 4).
void AppendHex(std::string& out, uint64_t v, int width = 0) {
  char digits[16];
  auto end = std::to_chars(digits, digits + sizeof(digits), v, 16).ptr;
  out += "0x";
  for (int pad = width - static_cast<int>(end - digits); pad > 0; --pad) out += '0';
  out.append(digits, end);
}

void AppendMac(std::string& out, const uint8_t* mac) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int i = 0; i < 6; ++i) {
    if (i) out += ':';
    out += kDigits[mac[i] >> 4];
    out += kDigits[mac[i] & 15];
  }
}

void AppendIpv4(std::string& out, const uint8_t* addr) {
  for (int i = 0; i < 4; ++i) {
    if (i) out += '.';
    AppendDecimal(out, addr[i]);
  }
}

// "name=" on a new part.
std::string& Field(Parts& parts, const char* name) {
  std::string& out = parts.Next();
  out += name;
  out += '=';
  return out;
}

void PutMac(Parts& parts, const char* name, const uint8_t* v, const uint8_t* m) {
  if (BytesAllZero(m, 6)) return;
  std::string& out = Field(parts, name);
  AppendMac(out, v);
  if (!BytesAllOnes(m, 6)) {
    out += '/';
    AppendMac(out, m);
  }
}

void PutIpv4(Parts& parts, const char* name, const uint8_t* v, const uint8_t* m) {
  if (BytesAllZero(m, 4)) return;
  std::string& out = Field(parts, name);
  AppendIpv4(out, v);
  if (BytesAllOnes(m, 4)) return;
  out += '/';
  int prefix = PrefixLength(m, 4);
  if (prefix >= 0) {
    AppendDecimal(out, static_cast<uint64_t>(prefix));
  } else {
    AppendIpv4(out, m);
  }
}

void PutIpv6(Parts& parts, const char* name, const uint8_t* v, const uint8_t* m) {
  if (BytesAllZero(m, 16)) return;
  std::string& out = Field(parts, name);
  out += FormatIpv6(v);
  if (BytesAllOnes(m, 16)) return;
  out += '/';
  int prefix = PrefixLength(m, 16);
  if (prefix >= 0) {
    AppendDecimal(out, static_cast<uint64_t>(prefix));
  } else {
    out += FormatIpv6(m);
  }
}

// ovs-ofctl's format_be16_masked: decimal when exact, hex value/mask otherwise.
void PutMasked16(Parts& parts, const char* name, uint16_t v, uint16_t m, uint16_t full = 0xffff) {
  if (!m) return;
  std::string& out = Field(parts, name);
  if (m == full) {
    AppendDecimal(out, v);
  } else {
    AppendHex(out, v);
    out += '/';
    AppendHex(out, m);
  }
}

// Exact: "syn|ack" ("0" for none); masked: "+syn-ack" over the masked bits.
std::string TcpFlags(uint16_t v, uint16_t m) {
  std::string s;
  if ((m & kTcpFlagsAll) == kTcpFlagsAll) {
    for (int i = 0; i < 12; ++i) {
      if (v & (1 << i)) {
        if (!s.empty()) s += '|';
        s += kTcpFlagNames[i];
      }
    }
    return s.empty() ? "0" : s;
  }
  for (int i = 0; i < 12; ++i) {
    if (m & (1 << i)) {
      s += (v & (1 << i)) ? '+' : '-';
      s += kTcpFlagNames[i];
    }
  }
  return s;
}

// ovs-ofctl's name for a field in set_field (OVS's meta-flow names).
const char* SetFieldName(FieldId id) {
  switch (id) {
    case FieldId::kEthSrc:
      return "eth_src";
    case FieldId::kEthDst:
      return "eth_dst";
    case FieldId::kEthType:
      return "eth_type";
    case FieldId::kVlanPcp:
      return "vlan_pcp";
    case FieldId::kIpv4Src:
      return "ip_src";
    case FieldId::kIpv4Dst:
      return "ip_dst";
    default:
      return GetFieldInfo(id).name;
  }
}

std::string FormatFieldValue(FieldId id, const FieldValue& v, const PortName& names) {
  switch (KindOf(id)) {
    case Kind::kMac:
      return FormatMac(v.bytes.data());
    case Kind::kIpv4:
      return FormatIpv4(v.bytes.data());
    case Kind::kIpv6:
      return FormatIpv6(v.bytes.data());
    case Kind::kPort:
      return FormatPort(static_cast<uint32_t>(v.ToUint()), names);
    case Kind::kInt:
      break;
  }
  if (id == FieldId::kMetadata || id == FieldId::kEthType || id == FieldId::kTcpFlags) {
    return fmt::format("{:#x}", v.ToUint());
  }
  return fmt::format("{}", v.ToUint());
}

}  // namespace

// ---------------------------------------------------------------------------
// Public parsing.

Result<uint32_t> ParsePort(std::string_view text, const PortByName& ports) {
  std::string_view s = text;
  std::string unquoted;
  bool quoted = false;
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') {
    for (size_t i = 1; i + 1 < s.size(); ++i) {
      if (s[i] == '\\' && i + 2 < s.size()) ++i;
      unquoted += s[i];
    }
    s = unquoted;
    quoted = true;
  }
  if (s.empty()) return Err("missing port");
  if (!quoted && s.find_first_not_of("0123456789") == std::string_view::npos) {
    auto n = ParseUint(s, 0xffffffff, "port");
    if (!n) return Err("port number '{}' out of range", s);
    return static_cast<uint32_t>(*n);
  }
  if (!quoted) {
    if (auto p = ReservedPortByName(s)) return *p;
  }
  if (ports) {
    if (auto p = ports(s)) return *p;
  }
  return Err("unknown port '{}'", s);
}

Result<Match> ParseMatch(std::string_view text, const PortByName& ports) {
  auto inner = [&]() -> Result<Match> {
    MatchBuilder mb(ports);
    Lexer lex(text);
    while (true) {
      HSW_ASSIGN_OR_RETURN(std::optional<Token> tok, lex.Next());
      if (!tok) break;
      HSW_ASSIGN_OR_RETURN(bool is_field, mb.Apply(*tok));
      if (!is_field) return Err("unknown field '{}'", tok->text);
    }
    return mb.Finish();
  };
  auto r = inner();
  if (!r) return WrapError("match", text, r.error());
  return r;
}

Result<Instructions> ParseInstructions(std::string_view text, const Match& match,
                                       const PortByName& ports) {
  ActionParser ap(match, ports, -1);
  auto r = ap.ParseAll(text);
  if (!r) return WrapError("actions", text, r.error());
  return r;
}

Result<FlowMod> ParseFlowMod(std::string_view text, FlowModCommand command,
                             const PortByName& ports) {
  Mode mode;
  switch (command) {
    case FlowModCommand::kAdd:
      mode = Mode::kAdd;
      break;
    case FlowModCommand::kModify:
    case FlowModCommand::kModifyStrict:
      mode = Mode::kModify;
      break;
    default:
      mode = Mode::kDelete;
      break;
  }
  auto r = ParseFlowInner(text, mode, command, ports);
  if (!r) return WrapError("flow", text, r.error());
  return r;
}

Result<FlowMod> ParseFlowDelete(std::string_view text, bool strict, const PortByName& ports) {
  return ParseFlowMod(text, strict ? FlowModCommand::kDeleteStrict : FlowModCommand::kDelete,
                      ports);
}

Result<FlowStatsRequest> ParseFlowStatsRequest(std::string_view text, const PortByName& ports) {
  auto r = ParseFlowInner(text, Mode::kStats, FlowModCommand::kDelete, ports);
  if (!r) return WrapError("flow", text, r.error());
  FlowStatsRequest req;
  req.table_id = r->table_id;
  req.out_port = r->out_port;
  req.out_group = r->out_group;
  req.cookie = r->cookie;
  req.cookie_mask = r->cookie_mask;
  req.match = r->match;
  return req;
}

Result<std::vector<FlowMod>> ParseFlowFile(std::string_view contents, FlowModCommand command,
                                           const PortByName& ports) {
  std::vector<FlowMod> out;
  size_t pos = 0;
  int line_no = 0;
  while (pos < contents.size()) {
    // One logical line: physical lines joined by a trailing backslash.
    std::string line;
    int first_line = line_no + 1;
    while (pos < contents.size()) {
      size_t nl = contents.find('\n', pos);
      std::string_view phys =
          contents.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      pos = nl == std::string_view::npos ? contents.size() : nl + 1;
      ++line_no;
      if (!phys.empty() && phys.back() == '\r') phys.remove_suffix(1);
      if (!phys.empty() && phys.back() == '\\') {
        line.append(phys.substr(0, phys.size() - 1));
        line += ' ';
        continue;
      }
      line.append(phys);
      break;
    }
    size_t hash = line.find('#');
    if (hash != std::string::npos) line.erase(hash);
    std::string_view flow = Trim(line);
    if (flow.empty()) continue;
    // Older ovs-ofctl dump-flows output starts with a reply header; skip it
    // so that such a dump still loads.
    if (flow.rfind("OFPST_FLOW reply", 0) == 0 || flow.rfind("NXST_FLOW reply", 0) == 0) continue;
    FlowModCommand cmd = command;
    size_t word_end = flow.find_first_of(", \t");
    std::string_view word = flow.substr(0, word_end);
    static constexpr struct {
      const char* name;
      FlowModCommand command;
    } kCommands[] = {{"add", FlowModCommand::kAdd},
                     {"modify", FlowModCommand::kModify},
                     {"modify_strict", FlowModCommand::kModifyStrict},
                     {"delete", FlowModCommand::kDelete},
                     {"delete_strict", FlowModCommand::kDeleteStrict}};
    for (const auto& c : kCommands) {
      if (word == c.name) {
        cmd = c.command;
        flow = Trim(flow.substr(word.size()));
        break;
      }
    }
    auto fm = ParseFlowMod(flow, cmd, ports);
    if (!fm) return MakeError(fmt::format("line {}: {}", first_line, fm.error().message));
    out.push_back(std::move(*fm));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Public formatting.

std::string FormatPort(uint32_t port, const PortName& names) {
  if (const char* r = ReservedPortName(port)) return r;
  if (names) {
    if (auto name = names(port)) {
      if (!NeedsQuotes(*name)) return *name;
      std::string q = "\"";
      for (char c : *name) {
        if (c == '"' || c == '\\') q += '\\';
        q += c;
      }
      return q + "\"";
    }
  }
  return std::to_string(port);
}

namespace {

void AppendPort(std::string& out, uint32_t port, const PortName& names) {
  if (const char* reserved = ReservedPortName(port)) {
    out += reserved;
  } else if (names) {
    out += FormatPort(port, names);
  } else {
    AppendDecimal(out, port);
  }
}

void PutMatch(Parts& out, const Match& match, uint16_t priority, const PortName& names) {
  const FlowKey& k = match.key;
  const FlowKey& m = match.mask;
  if (priority != kDefaultPriority) AppendDecimal(Field(out, "priority"), priority);

  bool skip_type = false, skip_proto = false;
  bool eth_exact = m.eth_type == 0xffff;
  bool proto_exact = m.nw_proto == 0xff;
  if (eth_exact) {
    skip_type = true;
    const char* shorthand = nullptr;
    if (k.eth_type == kEthTypeIpv4 || k.eth_type == kEthTypeIpv6) {
      bool v6 = k.eth_type == kEthTypeIpv6;
      shorthand = v6 ? "ipv6" : "ip";
      if (proto_exact) {
        skip_proto = true;
        switch (k.nw_proto) {
          case kIpProtoIcmp:
            shorthand = v6 ? nullptr : "icmp";
            break;
          case kIpProtoIcmpv6:
            shorthand = v6 ? "icmp6" : nullptr;
            break;
          case kIpProtoTcp:
            shorthand = v6 ? "tcp6" : "tcp";
            break;
          case kIpProtoUdp:
            shorthand = v6 ? "udp6" : "udp";
            break;
          case kIpProtoSctp:
            shorthand = v6 ? "sctp6" : "sctp";
            break;
          default:
            shorthand = nullptr;
            break;
        }
        if (!shorthand) {
          shorthand = v6 ? "ipv6" : "ip";
          skip_proto = false;
        }
      }
    } else if (k.eth_type == kEthTypeArp) {
      shorthand = "arp";
    } else if (k.eth_type == kEthTypeRarp) {
      shorthand = "rarp";
    } else {
      skip_type = false;
    }
    if (shorthand) out.Next() += shorthand;
  }
  if (m.metadata) {
    std::string& s = Field(out, "metadata");
    AppendHex(s, k.metadata);
    if (m.metadata != ~0ull) {
      s += '/';
      AppendHex(s, m.metadata);
    }
  }
  if (m.in_port) AppendPort(Field(out, "in_port"), k.in_port, names);

  if (m.vlan_tci) {
    uint16_t vid_mask = m.vlan_tci & kVlanVidMask;
    uint16_t pcp_mask = m.vlan_tci & kVlanPcpMask;
    bool cfi = (m.vlan_tci & kVlanCfi) && (k.vlan_tci & kVlanCfi);
    if (cfi && (!vid_mask || vid_mask == kVlanVidMask) && (!pcp_mask || pcp_mask == kVlanPcpMask) &&
        (vid_mask || pcp_mask)) {
      if (vid_mask) AppendDecimal(Field(out, "dl_vlan"), k.vlan_tci & kVlanVidMask);
      if (pcp_mask) AppendDecimal(Field(out, "dl_vlan_pcp"), k.vlan_tci >> kVlanPcpShift);
    } else {
      std::string& s = Field(out, "vlan_tci");
      AppendHex(s, k.vlan_tci, 4);
      if (m.vlan_tci != 0xffff) {
        s += '/';
        AppendHex(s, m.vlan_tci, 4);
      }
    }
  }
  PutMac(out, "dl_src", k.eth_src, m.eth_src);
  PutMac(out, "dl_dst", k.eth_dst, m.eth_dst);
  if (!skip_type && m.eth_type) AppendHex(Field(out, "dl_type"), k.eth_type, 4);

  bool arp = eth_exact && (k.eth_type == kEthTypeArp || k.eth_type == kEthTypeRarp);
  bool v6 = eth_exact && k.eth_type == kEthTypeIpv6;
  PutIpv6(out, "ipv6_src", k.ipv6_src, m.ipv6_src);
  PutIpv6(out, "ipv6_dst", k.ipv6_dst, m.ipv6_dst);
  PutIpv4(out, arp ? "arp_spa" : "nw_src", k.ipv4_src, m.ipv4_src);
  PutIpv4(out, arp ? "arp_tpa" : "nw_dst", k.ipv4_dst, m.ipv4_dst);
  if (!skip_proto && m.nw_proto) AppendDecimal(Field(out, arp ? "arp_op" : "nw_proto"), k.nw_proto);
  PutMac(out, "arp_sha", k.arp_sha, m.arp_sha);
  PutMac(out, "arp_tha", k.arp_tha, m.arp_tha);
  if (m.nw_tos & 0xfc) AppendDecimal(Field(out, "nw_tos"), k.nw_tos & 0xfc);
  if (m.nw_tos & 0x03) AppendDecimal(Field(out, "nw_ecn"), k.nw_tos & 0x03);
  if (m.nw_ttl) AppendDecimal(Field(out, "nw_ttl"), k.nw_ttl);
  bool icmp = proto_exact && eth_exact &&
              ((k.eth_type == kEthTypeIpv4 && k.nw_proto == kIpProtoIcmp) ||
               (v6 && k.nw_proto == kIpProtoIcmpv6));
  if (icmp) {
    PutMasked16(out, "icmp_type", k.tp_src, m.tp_src, 0xff);
    PutMasked16(out, "icmp_code", k.tp_dst, m.tp_dst, 0xff);
  } else {
    PutMasked16(out, "tp_src", k.tp_src, m.tp_src);
    PutMasked16(out, "tp_dst", k.tp_dst, m.tp_dst);
  }
  if (m.tcp_flags) Field(out, "tcp_flags") += TcpFlags(k.tcp_flags, m.tcp_flags);
}

// The actions, "drop" for none.
void PutActions(Parts& out, const Actions& actions, const PortName& names) {
  if (actions.empty()) out.Next() += "drop";
  for (const Action& a : actions) {
    std::string& s = out.Next();
    if (const auto* o = std::get_if<ActOutput>(&a)) {
      if (o->port == kPortController) {
        s += "CONTROLLER:";
        AppendDecimal(s, o->max_len);
      } else {
        if (o->port < kPortMax) s += "output:";
        AppendPort(s, o->port, names);
      }
    } else if (const auto* f = std::get_if<ActSetField>(&a)) {
      s += "set_field:";
      if (KindOf(f->field) == Kind::kIpv4) {
        AppendIpv4(s, f->value.bytes.data());
      } else if (KindOf(f->field) == Kind::kMac) {
        AppendMac(s, f->value.bytes.data());
      } else {
        s += FormatFieldValue(f->field, f->value, names);
      }
      s += "->";
      s += SetFieldName(f->field);
    } else if (const auto* p = std::get_if<ActPushVlan>(&a)) {
      s += "push_vlan:";
      AppendHex(s, p->ethertype);
    } else if (std::holds_alternative<ActPopVlan>(a)) {
      s += "pop_vlan";
    } else if (std::holds_alternative<ActDecNwTtl>(a)) {
      s += "dec_ttl";
    }
  }
}

void PutInstructions(Parts& out, const Instructions& ins, const PortName& names) {
  bool any = false;
  if (!ins.apply.empty()) {
    PutActions(out, ins.apply, names);
    any = true;
  }
  if (ins.clear_actions) {
    out.Next() += "clear_actions";
    any = true;
  }
  if (ins.write_actions) {
    std::string& s = out.Next();
    s += "write_actions(";
    if (!ins.write_actions->empty()) {
      Parts inner(s);
      PutActions(inner, *ins.write_actions, names);
    }
    s += ')';
    any = true;
  }
  if (ins.write_metadata) {
    std::string& s = out.Next();
    s += "write_metadata:";
    AppendHex(s, ins.write_metadata->value);
    if (ins.write_metadata->mask != ~0ull) {
      s += '/';
      AppendHex(s, ins.write_metadata->mask);
    }
    any = true;
  }
  if (ins.goto_table) {
    std::string& s = out.Next();
    s += "goto_table:";
    AppendDecimal(s, *ins.goto_table);
    any = true;
  }
  if (!any) out.Next() += "drop";
}

}  // namespace

std::string FormatMatch(const Match& match, uint16_t priority, const PortName& names) {
  std::string text;
  Parts parts(text);
  PutMatch(parts, match, priority, names);
  return text;
}

std::string FormatActions(const Actions& actions, const PortName& names) {
  std::string text;
  Parts parts(text);
  PutActions(parts, actions, names);
  return text;
}

std::string FormatInstructions(const Instructions& instructions, const PortName& names) {
  std::string text;
  Parts parts(text);
  PutInstructions(parts, instructions, names);
  return text;
}

std::string FormatDuration(uint32_t sec, uint32_t nsec) {
  std::string s = std::to_string(sec);
  if (nsec > 0) {
    if (nsec % 1000000 == 0) {
      s += fmt::format(".{:03}", nsec / 1000000);
    } else {
      std::string frac = fmt::format("{:09}", nsec);
      while (!frac.empty() && frac.back() == '0') frac.pop_back();
      s += "." + frac;
    }
  }
  return s + "s";
}

namespace {
void PutFlags(std::string& s, uint16_t flags, const char* sep) {
  for (const auto& f : kFlagNames) {
    if (flags & f.flag) {
      s += f.name;
      s += sep;
    }
  }
}
}  // namespace

std::string FormatFlowStats(const FlowStats& fs, const PortName& names, bool show_stats) {
  std::string s = " ";
  if (show_stats || fs.cookie) s += fmt::format("cookie={:#x}, ", fs.cookie);
  if (show_stats) {
    s += fmt::format("duration={}, ", FormatDuration(fs.duration_sec, fs.duration_nsec));
  }
  if (show_stats || fs.table_id) s += fmt::format("table={}, ", fs.table_id);
  if (show_stats) s += fmt::format("n_packets={}, n_bytes={}, ", fs.packet_count, fs.byte_count);
  if (fs.idle_timeout) s += fmt::format("idle_timeout={}, ", fs.idle_timeout);
  if (fs.hard_timeout) s += fmt::format("hard_timeout={}, ", fs.hard_timeout);
  PutFlags(s, fs.flags, " ");
  std::string match = FormatMatch(fs.match, fs.priority, names);
  if (!match.empty()) s += match + " ";
  s += "actions=" + FormatInstructions(fs.instructions, names);
  return s;
}

std::string FormatFlowMod(const FlowMod& flow_mod, const PortName& names) {
  std::string text;
  AppendFlowMod(text, flow_mod, names);
  return text;
}

void AppendFlowMod(std::string& text, const FlowMod& fm, const PortName& names) {
  bool edit = fm.command == FlowModCommand::kAdd || fm.command == FlowModCommand::kModify ||
              fm.command == FlowModCommand::kModifyStrict;
  Parts out(text);
  if (edit || fm.table_id != kTableAll) AppendDecimal(Field(out, "table"), fm.table_id);
  if (fm.cookie_mask) {
    std::string& s = Field(out, "cookie");
    AppendHex(s, fm.cookie);
    s += '/';
    AppendHex(s, fm.cookie_mask);
  } else if (edit && fm.cookie) {
    AppendHex(Field(out, "cookie"), fm.cookie);
  }
  if (edit) {
    if (fm.idle_timeout) AppendDecimal(Field(out, "idle_timeout"), fm.idle_timeout);
    if (fm.hard_timeout) AppendDecimal(Field(out, "hard_timeout"), fm.hard_timeout);
    for (const auto& f : kFlagNames) {
      if (fm.flags & f.flag) out.Next() += f.name;
    }
  } else {
    if (fm.out_port != kPortAny) AppendPort(Field(out, "out_port"), fm.out_port, names);
    if (fm.out_group != kGroupAny) AppendDecimal(Field(out, "out_group"), fm.out_group);
  }
  PutMatch(out, fm.match, fm.priority, names);
  if (edit) {
    std::string& s = out.Next();
    s += "actions=";
    Parts actions(s);
    PutInstructions(actions, fm.instructions, names);
  }
}

}  // namespace hsw::ofp
