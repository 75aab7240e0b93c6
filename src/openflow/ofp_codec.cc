// OpenFlow 1.3 wire codec.  Layouts follow the OpenFlow 1.3.5 specification;
// where Open vSwitch (what ovs-ofctl talks) differs or extends, the code says
// so.  Reads go through Reader, which never reads past its span: a short read
// yields zeros and marks the reader failed, and every decoder checks sizes up
// front so that the error it returns has the right (type, code).
#include "openflow/ofp_codec.h"

#include <algorithm>
#include <array>
#include <cstring>

#include <fmt/format.h>

namespace hsw::ofp {

namespace {

// ---------------------------------------------------------------------------
// Byte helpers.

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> data) : data_(data) {}

  size_t left() const { return data_.size() - pos_; }
  size_t pos() const { return pos_; }
  bool ok() const { return ok_; }

  uint8_t U8() { return static_cast<uint8_t>(Take(1)); }
  uint16_t U16() { return static_cast<uint16_t>(Take(2)); }
  uint32_t U32() { return static_cast<uint32_t>(Take(4)); }
  uint64_t U64() { return Take(8); }
  void Skip(size_t n) {
    if (n > left()) {
      ok_ = false;
      pos_ = data_.size();
    } else {
      pos_ += n;
    }
  }
  std::span<const uint8_t> Bytes(size_t n) {
    if (n > left()) {
      ok_ = false;
      pos_ = data_.size();
      return {};
    }
    auto out = data_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  std::span<const uint8_t> Rest() { return Bytes(left()); }
  // A fixed-size, NUL-padded string field.
  std::string String(size_t n) {
    auto bytes = Bytes(n);
    size_t len = 0;
    while (len < bytes.size() && bytes[len]) ++len;
    return std::string(bytes.begin(), bytes.begin() + len);
  }

 private:
  uint64_t Take(size_t n) {
    if (n > left()) {
      ok_ = false;
      pos_ = data_.size();
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | data_[pos_ + i];
    pos_ += n;
    return v;
  }

  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

void Put8(std::vector<uint8_t>& out, uint8_t v) { out.push_back(v); }
void Put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void Put32(std::vector<uint8_t>& out, uint32_t v) {
  Put16(out, static_cast<uint16_t>(v >> 16));
  Put16(out, static_cast<uint16_t>(v));
}
void Put64(std::vector<uint8_t>& out, uint64_t v) {
  Put32(out, static_cast<uint32_t>(v >> 32));
  Put32(out, static_cast<uint32_t>(v));
}
void PutZeros(std::vector<uint8_t>& out, size_t n) { out.insert(out.end(), n, 0); }
void PutBytes(std::vector<uint8_t>& out, std::span<const uint8_t> bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}
void PutString(std::vector<uint8_t>& out, const std::string& s, size_t n) {
  size_t len = std::min(s.size(), n - 1);  // always NUL-terminated
  out.insert(out.end(), s.begin(), s.begin() + len);
  PutZeros(out, n - len);
}
void Set16(std::vector<uint8_t>& out, size_t offset, uint16_t v) {
  out[offset] = static_cast<uint8_t>(v >> 8);
  out[offset + 1] = static_cast<uint8_t>(v);
}
void PadTo8(std::vector<uint8_t>& out, size_t start) {
  size_t len = out.size() - start;
  PutZeros(out, (8 - len % 8) % 8);
}
constexpr size_t RoundUp8(size_t n) { return (n + 7) / 8 * 8; }

std::span<const uint8_t> AsSpan(const std::vector<uint8_t>& v) { return {v.data(), v.size()}; }

tl::unexpected<OfpError> Fail(uint16_t type, uint16_t code, std::string detail) {
  return tl::unexpected(OfpError{type, code, std::move(detail)});
}

// ---------------------------------------------------------------------------
// OXM.

constexpr uint16_t kOxmClassNxm1 = 0x0001;
constexpr uint16_t kOxmClassBasic = 0x8000;
constexpr uint16_t kOxmClassExperimenter = 0xffff;
constexpr uint32_t kOnfExperimenter = 0x4f4e4600;
constexpr uint32_t kNiciraExperimenter = 0x00002320;
constexpr uint8_t kNxmIpTtl = 29;
constexpr uint8_t kNxmTcpFlags = 34;
constexpr uint8_t kOxmTcpFlags = 42;  // ONF experimenter in 1.3, basic in 1.5
constexpr uint8_t kOxmPacketType = 44;  // OXM_OF_PACKET_TYPE (OpenFlow 1.5)

struct OxmId {
  uint16_t oxm_class = kOxmClassBasic;
  uint8_t field = 0;
  uint32_t experimenter = 0;  // only for kOxmClassExperimenter
};

// How hsw writes a field's OXM header (see the header comment for the two
// non-basic ones).
OxmId OxmIdOf(FieldId id) {
  if (id == FieldId::kIpTtl) return {kOxmClassNxm1, kNxmIpTtl, 0};
  if (id == FieldId::kTcpFlags) return {kOxmClassExperimenter, kOxmTcpFlags, kOnfExperimenter};
  return {kOxmClassBasic, static_cast<uint8_t>(GetFieldInfo(id).oxm_field), 0};
}

const FieldInfo* FieldOfOxm(uint16_t oxm_class, uint8_t field, uint32_t experimenter) {
  switch (oxm_class) {
    case kOxmClassBasic:
      if (field == kOxmTcpFlags) return &GetFieldInfo(FieldId::kTcpFlags);
      return FindFieldByOxm(field);
    case kOxmClassNxm1:
      if (field == kNxmIpTtl) return &GetFieldInfo(FieldId::kIpTtl);
      if (field == kNxmTcpFlags) return &GetFieldInfo(FieldId::kTcpFlags);
      return nullptr;
    case kOxmClassExperimenter:
      if (experimenter == kOnfExperimenter && field == kOxmTcpFlags) {
        return &GetFieldInfo(FieldId::kTcpFlags);
      }
      return nullptr;
    default:
      return nullptr;
  }
}

// Writes an OXM header for `id` with a payload of `payload_size` bytes
// (value, or value and mask).
void PutOxmHeader(std::vector<uint8_t>& out, FieldId id, bool hasmask, size_t payload_size) {
  OxmId oxm = OxmIdOf(id);
  bool exp = oxm.oxm_class == kOxmClassExperimenter;
  Put16(out, oxm.oxm_class);
  Put8(out, static_cast<uint8_t>((oxm.field << 1) | (hasmask ? 1 : 0)));
  Put8(out, static_cast<uint8_t>(payload_size + (exp ? 4 : 0)));
  if (exp) Put32(out, oxm.experimenter);
}

void PutOxmField(std::vector<uint8_t>& out, FieldId id, const FieldValue& value,
                 const FieldValue* mask) {
  const FieldInfo& info = GetFieldInfo(id);
  PutOxmHeader(out, id, mask != nullptr, mask ? 2 * info.size : info.size);
  out.insert(out.end(), value.bytes.begin(), value.bytes.begin() + info.size);
  if (mask) out.insert(out.end(), mask->bytes.begin(), mask->bytes.begin() + info.size);
}

enum class OxmStatus { kOk, kTruncated, kBadLen, kUnknown };

struct ParsedOxm {
  const FieldInfo* info = nullptr;
  uint16_t oxm_class = 0;
  uint8_t field = 0;
  bool hasmask = false;
  FieldValue value;
  FieldValue mask;
};

std::string DescribeOxm(const ParsedOxm& oxm) {
  if (oxm.info) return oxm.info->oxm_name;
  return fmt::format("OXM class 0x{:04x} field {}", oxm.oxm_class, oxm.field);
}

// Parses one OXM TLV from `r`.  On kUnknown the TLV has been consumed.
OxmStatus ParseOxm(Reader& r, ParsedOxm* out) {
  if (r.left() < 4) return OxmStatus::kTruncated;
  uint32_t header = r.U32();
  out->oxm_class = static_cast<uint16_t>(header >> 16);
  out->field = static_cast<uint8_t>((header >> 9) & 0x7f);
  out->hasmask = (header >> 8) & 1;
  size_t length = header & 0xff;
  if (r.left() < length) return OxmStatus::kTruncated;
  Reader payload(r.Bytes(length));
  uint32_t experimenter = 0;
  if (out->oxm_class == kOxmClassExperimenter) {
    if (payload.left() < 4) return OxmStatus::kBadLen;
    experimenter = payload.U32();
  }
  out->info = FieldOfOxm(out->oxm_class, out->field, experimenter);
  if (!out->info) {
    // Keep a short payload so the caller can judge fields it handles itself.
    if (payload.left() <= out->value.bytes.size()) {
      auto raw = payload.Rest();
      std::copy(raw.begin(), raw.end(), out->value.bytes.begin());
      out->value.size = static_cast<uint8_t>(raw.size());
    }
    return OxmStatus::kUnknown;
  }
  size_t size = out->info->size;
  if (payload.left() != (out->hasmask ? 2 * size : size)) return OxmStatus::kBadLen;
  auto value = payload.Bytes(size);
  std::copy(value.begin(), value.end(), out->value.bytes.begin());
  out->value.size = static_cast<uint8_t>(size);
  if (out->hasmask) {
    auto mask = payload.Bytes(size);
    std::copy(mask.begin(), mask.end(), out->mask.bytes.begin());
    out->mask.size = static_cast<uint8_t>(size);
  }
  return OxmStatus::kOk;
}

// True if `v` has no bit set above the field's n_bits (e.g. VLAN PCP 8).
bool FitsBits(const FieldValue& v, const FieldInfo& info) {
  int spare = v.size * 8 - info.n_bits;
  for (int bit = 0; bit < spare; ++bit) {
    if (v.bytes[bit / 8] & (0x80 >> (bit % 8))) return false;
  }
  return true;
}

bool HasBitsOutside(const FieldValue& v, const FieldValue& mask) {
  for (size_t i = 0; i < v.size; ++i) {
    if (v.bytes[i] & ~mask.bytes[i]) return true;
  }
  return false;
}

bool ExactlyMatches(const Match& match, FieldId id, uint64_t want, uint64_t want2 = ~0ull) {
  if (!FieldMaskIsExact(match.mask, id)) return false;
  uint64_t v = ReadField(match.key, id).ToUint();
  return v == want || v == want2;
}

// Are the field's prerequisites (eth_type, ip_proto, VLAN present) part of the match?
bool PrereqsMet(const Match& match, const FieldInfo& info) {
  if (info.prereq_eth_type &&
      !ExactlyMatches(match, FieldId::kEthType, info.prereq_eth_type,
                      info.prereq_eth_type2 ? info.prereq_eth_type2 : ~0ull)) {
    return false;
  }
  if (info.prereq_nw_proto >= 0 &&
      !ExactlyMatches(match, FieldId::kIpProto, static_cast<uint64_t>(info.prereq_nw_proto))) {
    return false;
  }
  if (info.id == FieldId::kVlanPcp &&
      !((match.mask.vlan_tci & kVlanCfi) && (match.key.vlan_tci & kVlanCfi))) {
    return false;
  }
  return true;
}

OfpResult<Match> DecodeOxmList(std::span<const uint8_t> bytes) {
  Match match;
  std::array<bool, kNumFields> seen{};
  bool seen_packet_type = false;
  Reader r(bytes);
  while (r.left() > 0) {
    ParsedOxm oxm;
    switch (ParseOxm(r, &oxm)) {
      case OxmStatus::kOk:
        break;
      case OxmStatus::kTruncated:
        return Fail(err::kBadMatch, err::kBadMatchBadLen, "OXM field runs past the match");
      case OxmStatus::kBadLen:
        return Fail(err::kBadMatch, err::kBadMatchBadLen,
                    fmt::format("{} has a bad length", DescribeOxm(oxm)));
      case OxmStatus::kUnknown:
        if (oxm.oxm_class == kOxmClassBasic && oxm.field == kOxmPacketType) {
          // ovs-ofctl adds packet_type=(0,0) (Ethernet) to some matches.
          // Every packet hsw switches is Ethernet: that value matches all,
          // any other matches none, which hsw cannot express.
          if (seen_packet_type) {
            return Fail(err::kBadMatch, err::kBadMatchDupField, "packet_type appears twice");
          }
          seen_packet_type = true;
          if (oxm.hasmask) {
            return Fail(err::kBadMatch, err::kBadMatchBadMask, "packet_type cannot be masked");
          }
          if (oxm.value.size != 4) {
            return Fail(err::kBadMatch, err::kBadMatchBadLen, "packet_type has a bad length");
          }
          if (oxm.value.ToUint() != 0) {
            return Fail(err::kBadMatch, err::kBadMatchBadValue,
                        fmt::format("packet_type 0x{:08x} is not supported (only Ethernet)",
                                    oxm.value.ToUint()));
          }
          continue;
        }
        return Fail(err::kBadMatch, err::kBadMatchBadField,
                    fmt::format("{} is not supported", DescribeOxm(oxm)));
    }
    const FieldInfo& info = *oxm.info;
    size_t index = static_cast<size_t>(info.id);
    if (oxm.hasmask && !info.maskable) {
      return Fail(err::kBadMatch, err::kBadMatchBadMask,
                  fmt::format("{} cannot be masked", info.oxm_name));
    }
    if (seen[index]) {
      return Fail(err::kBadMatch, err::kBadMatchDupField,
                  fmt::format("{} appears twice", info.oxm_name));
    }
    seen[index] = true;
    if (!FitsBits(oxm.value, info)) {
      return Fail(err::kBadMatch, err::kBadMatchBadValue,
                  fmt::format("{} value is out of range", info.oxm_name));
    }
    if (oxm.hasmask) {
      if (!FitsBits(oxm.mask, info)) {
        return Fail(err::kBadMatch, err::kBadMatchBadMask,
                    fmt::format("{} mask has bits beyond the field", info.oxm_name));
      }
      if (HasBitsOutside(oxm.value, oxm.mask)) {
        return Fail(err::kBadMatch, err::kBadMatchBadWildcards,
                    fmt::format("{} value has bits outside its mask", info.oxm_name));
      }
    }
    const FieldValue* mask = oxm.hasmask ? &oxm.mask : nullptr;
    WriteField(match.key, info.id, oxm.value, mask);
    SetFieldMask(match.mask, info.id, mask);
    // A value the FlowKey cannot hold (an ARP opcode above 255) reads back
    // differently: refuse it rather than match on something else.
    FieldValue back = ReadField(match.key, info.id);
    if (!(back == oxm.value)) {
      return Fail(err::kBadMatch, err::kBadMatchBadValue,
                  fmt::format("{} value is not supported", info.oxm_name));
    }
  }
  // Prerequisites are checked on the whole match: the spec wants them earlier
  // in the list, but accepting any order costs nothing and helps hand-written
  // matches.
  for (size_t i = 0; i < kNumFields; ++i) {
    if (!seen[i]) continue;
    const FieldInfo& info = GetFieldInfo(static_cast<FieldId>(i));
    if (FieldMaskIsZero(match.mask, info.id)) continue;
    if (!PrereqsMet(match, info)) {
      return Fail(err::kBadMatch, err::kBadMatchBadPrereq,
                  fmt::format("{} needs its prerequisite (eth_type{}{}) in the match",
                              info.oxm_name, info.prereq_nw_proto >= 0 ? ", ip_proto" : "",
                              info.id == FieldId::kVlanPcp ? ", vlan_vid present" : ""));
    }
  }
  return match;
}

// ---------------------------------------------------------------------------
// Actions.

namespace act {
constexpr uint16_t kOutput = 0;
constexpr uint16_t kPushVlan = 17;
constexpr uint16_t kPopVlan = 18;
constexpr uint16_t kGroup = 22;
constexpr uint16_t kDecNwTtl = 24;
constexpr uint16_t kSetField = 25;
constexpr uint16_t kExperimenter = 0xffff;
}  // namespace act

namespace inst {
constexpr uint16_t kGotoTable = 1;
constexpr uint16_t kWriteMetadata = 2;
constexpr uint16_t kWriteActions = 3;
constexpr uint16_t kApplyActions = 4;
constexpr uint16_t kClearActions = 5;
constexpr uint16_t kMeter = 6;
constexpr uint16_t kExperimenter = 0xffff;
}  // namespace inst

bool ValidOutputPort(uint32_t port, bool packet_out) {
  if (port != 0 && port <= kPortMax) return true;
  switch (port) {
    case kPortInPort:
    case kPortNormal:
    case kPortFlood:
    case kPortAll:
    case kPortController:
    case kPortLocal:
      return true;
    case kPortTable:
      return packet_out;
    default:
      return false;
  }
}

void EncodeAction(const Action& action, std::vector<uint8_t>& out) {
  size_t start = out.size();
  std::visit(
      [&](const auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, ActOutput>) {
          Put16(out, act::kOutput);
          Put16(out, 16);
          Put32(out, a.port);
          Put16(out, a.max_len);
          PutZeros(out, 6);
        } else if constexpr (std::is_same_v<T, ActSetField>) {
          Put16(out, act::kSetField);
          Put16(out, 0);  // patched below
          FieldValue value = a.value;
          value.size = GetFieldInfo(a.field).size;
          PutOxmField(out, a.field, value, nullptr);
          PadTo8(out, start);
          Set16(out, start + 2, static_cast<uint16_t>(out.size() - start));
        } else if constexpr (std::is_same_v<T, ActPushVlan>) {
          Put16(out, act::kPushVlan);
          Put16(out, 8);
          Put16(out, a.ethertype);
          PutZeros(out, 2);
        } else if constexpr (std::is_same_v<T, ActPopVlan>) {
          Put16(out, act::kPopVlan);
          Put16(out, 8);
          PutZeros(out, 4);
        } else if constexpr (std::is_same_v<T, ActDecNwTtl>) {
          Put16(out, act::kDecNwTtl);
          Put16(out, 8);
          PutZeros(out, 4);
        }
      },
      action);
}

OfpResult<Action> DecodeSetField(std::span<const uint8_t> payload) {
  Reader r(payload);
  ParsedOxm oxm;
  switch (ParseOxm(r, &oxm)) {
    case OxmStatus::kOk:
      break;
    case OxmStatus::kTruncated:
    case OxmStatus::kBadLen:
      return Fail(err::kBadAction, err::kBadActionBadSetLen, "set_field with a bad OXM length");
    case OxmStatus::kUnknown:
      return Fail(err::kBadAction, err::kBadActionBadSetType,
                  fmt::format("set_field of {} is not supported", DescribeOxm(oxm)));
  }
  for (auto b : r.Rest()) {
    if (b != 0) {
      return Fail(err::kBadAction, err::kBadActionBadSetLen, "set_field with trailing bytes");
    }
  }
  if (oxm.hasmask) {
    // OpenFlow 1.3 has no masked set-field (1.5 does).
    return Fail(err::kBadAction, err::kBadActionBadSetArgument,
                fmt::format("masked set_field of {} is not supported", oxm.info->oxm_name));
  }
  if (!FitsBits(oxm.value, *oxm.info)) {
    return Fail(err::kBadAction, err::kBadActionBadSetArgument,
                fmt::format("set_field value out of range for {}", oxm.info->oxm_name));
  }
  return ActSetField{oxm.info->id, oxm.value};
}

OfpResult<Action> DecodeOneAction(uint16_t type, std::span<const uint8_t> body, bool packet_out) {
  // `body` is the action after its 4-byte type/length.
  Reader r(body);
  switch (type) {
    case act::kOutput: {
      if (body.size() != 12) return Fail(err::kBadAction, err::kBadActionBadLen, "output length");
      ActOutput out;
      out.port = r.U32();
      out.max_len = r.U16();
      if (!ValidOutputPort(out.port, packet_out)) {
        return Fail(err::kBadAction, err::kBadActionBadOutPort,
                    fmt::format("output to invalid port 0x{:x}", out.port));
      }
      return out;
    }
    case act::kSetField:
      return DecodeSetField(body);
    case act::kPushVlan: {
      if (body.size() != 4) return Fail(err::kBadAction, err::kBadActionBadLen, "push_vlan length");
      ActPushVlan push;
      push.ethertype = r.U16();
      if (push.ethertype != kEthTypeVlan && push.ethertype != kEthTypeQinQ) {
        return Fail(err::kBadAction, err::kBadActionBadArgument,
                    fmt::format("push_vlan ethertype 0x{:04x} is not 0x8100 or 0x88a8",
                                push.ethertype));
      }
      return push;
    }
    case act::kPopVlan:
      if (body.size() != 4) return Fail(err::kBadAction, err::kBadActionBadLen, "pop_vlan length");
      return ActPopVlan{};
    case act::kDecNwTtl:
      if (body.size() != 4) return Fail(err::kBadAction, err::kBadActionBadLen, "dec_ttl length");
      return ActDecNwTtl{};
    case act::kGroup:
      return Fail(err::kBadAction, err::kBadActionBadType, "group action is not supported");
    case act::kExperimenter: {
      uint32_t experimenter = r.U32();
      if (experimenter == kNiciraExperimenter) {
        return Fail(err::kBadAction, err::kBadActionBadExpType,
                    "Nicira extension actions are not supported");
      }
      return Fail(err::kBadAction, err::kBadActionBadExperimenter,
                  fmt::format("experimenter 0x{:08x} actions are not supported", experimenter));
    }
    default:
      return Fail(err::kBadAction, err::kBadActionBadType,
                  fmt::format("action type {} is not supported", type));
  }
}

// ---------------------------------------------------------------------------
// Structures shared by several messages.

void EncodeFlowStatsRequestBody(const FlowStatsRequest& req, std::vector<uint8_t>& out) {
  Put8(out, req.table_id);
  PutZeros(out, 3);
  Put32(out, req.out_port);
  Put32(out, req.out_group);
  PutZeros(out, 4);
  Put64(out, req.cookie);
  Put64(out, req.cookie_mask);
  EncodeMatch(req.match, out);
}

OfpResult<FlowStatsRequest> DecodeFlowStatsRequestBody(Reader& r) {
  if (r.left() < 32 + 4) {
    return Fail(err::kBadRequest, err::kBadRequestBadLen, "flow stats request too short");
  }
  FlowStatsRequest req;
  req.table_id = r.U8();
  r.Skip(3);
  req.out_port = r.U32();
  req.out_group = r.U32();
  r.Skip(4);
  req.cookie = r.U64();
  req.cookie_mask = r.U64();
  size_t consumed = 0;
  auto rest = r.Rest();
  auto match = DecodeMatch(rest, &consumed);
  if (!match) return tl::unexpected(match.error());
  if (consumed != rest.size()) {
    return Fail(err::kBadRequest, err::kBadRequestBadLen, "bytes after the flow stats match");
  }
  req.match = *match;
  return req;
}

void EncodePortDesc(const PortDesc& port, std::vector<uint8_t>& out) {
  Put32(out, port.port_no);
  PutZeros(out, 4);
  PutBytes(out, port.hw_addr);
  PutZeros(out, 2);
  PutString(out, port.name, 16);
  Put32(out, port.config);
  Put32(out, port.state);
  Put32(out, port.curr);
  Put32(out, port.advertised);
  Put32(out, port.supported);
  Put32(out, port.peer);
  Put32(out, port.curr_speed);
  Put32(out, port.max_speed);
}
constexpr size_t kPortDescSize = 64;

PortDesc DecodePortDesc(Reader& r) {
  PortDesc port;
  port.port_no = r.U32();
  r.Skip(4);
  auto mac = r.Bytes(6);
  std::copy(mac.begin(), mac.end(), port.hw_addr);
  r.Skip(2);
  port.name = r.String(16);
  port.config = r.U32();
  port.state = r.U32();
  port.curr = r.U32();
  port.advertised = r.U32();
  port.supported = r.U32();
  port.peer = r.U32();
  port.curr_speed = r.U32();
  port.max_speed = r.U32();
  return port;
}

// One flow stats entry (ofp_flow_stats).
void EncodeFlowStats(const FlowStats& fs, std::vector<uint8_t>& out) {
  size_t start = out.size();
  Put16(out, 0);  // length, patched below
  Put8(out, fs.table_id);
  PutZeros(out, 1);
  Put32(out, fs.duration_sec);
  Put32(out, fs.duration_nsec);
  Put16(out, fs.priority);
  Put16(out, fs.idle_timeout);
  Put16(out, fs.hard_timeout);
  Put16(out, fs.flags);
  PutZeros(out, 4);
  Put64(out, fs.cookie);
  Put64(out, fs.packet_count);
  Put64(out, fs.byte_count);
  EncodeMatch(fs.match, out);
  EncodeInstructions(fs.instructions, out);
  Set16(out, start, static_cast<uint16_t>(out.size() - start));
}

OfpResult<FlowStats> DecodeFlowStats(std::span<const uint8_t> entry) {
  Reader r(entry);
  FlowStats fs;
  r.Skip(2);
  fs.table_id = r.U8();
  r.Skip(1);
  fs.duration_sec = r.U32();
  fs.duration_nsec = r.U32();
  fs.priority = r.U16();
  fs.idle_timeout = r.U16();
  fs.hard_timeout = r.U16();
  fs.flags = r.U16();
  r.Skip(4);
  fs.cookie = r.U64();
  fs.packet_count = r.U64();
  fs.byte_count = r.U64();
  if (!r.ok()) return Fail(err::kBadRequest, err::kBadRequestBadLen, "flow stats entry too short");
  auto rest = r.Rest();
  size_t consumed = 0;
  auto match = DecodeMatch(rest, &consumed);
  if (!match) return tl::unexpected(match.error());
  fs.match = *match;
  auto instructions = DecodeInstructions(rest.subspan(consumed));
  if (!instructions) return tl::unexpected(instructions.error());
  fs.instructions = *instructions;
  return fs;
}

void EncodePortStats(const PortStats& ps, std::vector<uint8_t>& out) {
  Put32(out, ps.port_no);
  PutZeros(out, 4);
  Put64(out, ps.rx_packets);
  Put64(out, ps.tx_packets);
  Put64(out, ps.rx_bytes);
  Put64(out, ps.tx_bytes);
  Put64(out, ps.rx_dropped);
  Put64(out, ps.tx_dropped);
  Put64(out, ps.rx_errors);
  Put64(out, ps.tx_errors);
  PutZeros(out, 8 * 4);  // rx_frame_err, rx_over_err, rx_crc_err, collisions
  Put32(out, ps.duration_sec);
  Put32(out, ps.duration_nsec);
}
constexpr size_t kPortStatsSize = 112;

PortStats DecodePortStats(Reader& r) {
  PortStats ps;
  ps.port_no = r.U32();
  r.Skip(4);
  ps.rx_packets = r.U64();
  ps.tx_packets = r.U64();
  ps.rx_bytes = r.U64();
  ps.tx_bytes = r.U64();
  ps.rx_dropped = r.U64();
  ps.tx_dropped = r.U64();
  ps.rx_errors = r.U64();
  ps.tx_errors = r.U64();
  r.Skip(8 * 4);
  ps.duration_sec = r.U32();
  ps.duration_nsec = r.U32();
  return ps;
}

void EncodeTableStats(const TableStats& ts, std::vector<uint8_t>& out) {
  Put8(out, ts.table_id);
  PutZeros(out, 3);
  Put32(out, ts.active_count);
  Put64(out, ts.lookup_count);
  Put64(out, ts.matched_count);
}
constexpr size_t kTableStatsSize = 24;

void EncodeTableFeatures(const TableFeatures& tf, std::vector<uint8_t>& out) {
  size_t start = out.size();
  Put16(out, 0);  // patched
  Put8(out, tf.table_id);
  PutZeros(out, 5);
  PutString(out, tf.name, 32);
  Put64(out, tf.metadata_match);
  Put64(out, tf.metadata_write);
  Put32(out, tf.config);
  Put32(out, tf.max_entries);
  PutBytes(out, AsSpan(tf.properties));
  PadTo8(out, start);
  Set16(out, start, static_cast<uint16_t>(out.size() - start));
}
constexpr size_t kTableFeaturesFixedSize = 64;

void EncodeDesc(const DescStats& d, std::vector<uint8_t>& out) {
  PutString(out, d.mfr_desc, 256);
  PutString(out, d.hw_desc, 256);
  PutString(out, d.sw_desc, 256);
  PutString(out, d.serial_num, 32);
  PutString(out, d.dp_desc, 256);
}
constexpr size_t kDescSize = 1056;

// ---------------------------------------------------------------------------
// Whole messages.

void PutHeader(std::vector<uint8_t>& out, uint8_t version, uint8_t type, uint32_t xid) {
  Put8(out, version);
  Put8(out, type);
  Put16(out, 0);  // length, patched by FinishMessage
  Put32(out, xid);
}
void FinishMessage(std::vector<uint8_t>& out, size_t start) {
  Set16(out, start + 2, static_cast<uint16_t>(std::min(out.size() - start, kMaxMessageSize)));
}

// Encodes a multipart reply whose body is a list of entries, splitting
// between entries.
template <class T, class EncodeFn>
void EncodeSplitReply(const OfpMessage& m, const MultipartReply& reply, const std::vector<T>& items,
                      EncodeFn encode_one, size_t max_size, std::vector<uint8_t>& out) {
  constexpr size_t kOverhead = 16;
  max_size = std::clamp<size_t>(max_size, kOverhead + 8, kMaxMessageSize);
  std::vector<std::vector<uint8_t>> bodies(1);
  std::vector<uint8_t> entry;
  for (const T& item : items) {
    entry.clear();
    encode_one(item, entry);
    // An entry that cannot fit any message is left out rather than sent
    // with a length field that lies.
    if (entry.size() + kOverhead > kMaxMessageSize) continue;
    if (!bodies.back().empty() && bodies.back().size() + entry.size() + kOverhead > max_size) {
      bodies.emplace_back();
    }
    PutBytes(bodies.back(), AsSpan(entry));
  }
  for (size_t i = 0; i < bodies.size(); ++i) {
    size_t start = out.size();
    PutHeader(out, m.version, msg::kMultipartReply, m.xid);
    Put16(out, reply.mp_type());
    Put16(out, static_cast<uint16_t>((reply.flags & ~mp::kFlagMore) |
                                     (i + 1 < bodies.size() ? mp::kFlagMore : 0)));
    PutZeros(out, 4);
    PutBytes(out, AsSpan(bodies[i]));
    FinishMessage(out, start);
  }
}

void EncodeMultipartReply(const OfpMessage& m, const MultipartReply& reply, size_t max_size,
                          std::vector<uint8_t>& out) {
  std::visit(
      [&](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, std::vector<FlowStats>>) {
          EncodeSplitReply(m, reply, body, EncodeFlowStats, max_size, out);
        } else if constexpr (std::is_same_v<T, std::vector<TableStats>>) {
          EncodeSplitReply(m, reply, body, EncodeTableStats, max_size, out);
        } else if constexpr (std::is_same_v<T, std::vector<PortStats>>) {
          EncodeSplitReply(m, reply, body, EncodePortStats, max_size, out);
        } else if constexpr (std::is_same_v<T, std::vector<PortDesc>>) {
          EncodeSplitReply(m, reply, body, EncodePortDesc, max_size, out);
        } else if constexpr (std::is_same_v<T, std::vector<TableFeatures>>) {
          EncodeSplitReply(m, reply, body, EncodeTableFeatures, max_size, out);
        } else {
          size_t start = out.size();
          PutHeader(out, m.version, msg::kMultipartReply, m.xid);
          Put16(out, reply.mp_type());
          Put16(out, reply.flags);
          PutZeros(out, 4);
          if constexpr (std::is_same_v<T, DescStats>) {
            EncodeDesc(body, out);
          } else if constexpr (std::is_same_v<T, AggregateStats>) {
            Put64(out, body.packet_count);
            Put64(out, body.byte_count);
            Put32(out, body.flow_count);
            PutZeros(out, 4);
          }
          FinishMessage(out, start);
        }
      },
      reply.body);
}

void EncodeMultipartRequest(const MultipartRequest& req, std::vector<uint8_t>& out) {
  Put16(out, req.mp_type());
  Put16(out, req.flags);
  PutZeros(out, 4);
  std::visit(
      [&](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, FlowStatsRequest>) {
          EncodeFlowStatsRequestBody(body, out);
        } else if constexpr (std::is_same_v<T, AggregateRequest>) {
          EncodeFlowStatsRequestBody(body.request, out);
        } else if constexpr (std::is_same_v<T, PortStatsRequest>) {
          Put32(out, body.port_no);
          PutZeros(out, 4);
        }
      },
      req.body);
}

void EncodeBody(const OfpMessage& m, size_t max_size, std::vector<uint8_t>& out) {
  std::visit(
      [&](const auto& b) {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, Hello>) {
          if (b.version_bitmap) {
            Put16(out, 1);  // OFPHET_VERSIONBITMAP
            Put16(out, 8);
            Put32(out, b.version_bitmap);
          }
        } else if constexpr (std::is_same_v<T, ErrorMsg>) {
          Put16(out, b.type);
          Put16(out, b.code);
          PutBytes(out, AsSpan(b.data).first(std::min(b.data.size(), max_size - 12)));
        } else if constexpr (std::is_same_v<T, EchoRequest> || std::is_same_v<T, EchoReply>) {
          PutBytes(out, AsSpan(b.data).first(std::min(b.data.size(), max_size - 8)));
        } else if constexpr (std::is_same_v<T, FeaturesReply>) {
          Put64(out, b.datapath_id);
          Put32(out, b.n_buffers);
          Put8(out, b.n_tables);
          Put8(out, b.auxiliary_id);
          PutZeros(out, 2);
          Put32(out, b.capabilities);
          Put32(out, 0);  // reserved
        } else if constexpr (std::is_same_v<T, GetConfigReply> || std::is_same_v<T, SetConfig>) {
          Put16(out, b.config.flags);
          Put16(out, b.config.miss_send_len);
        } else if constexpr (std::is_same_v<T, RoleRequest> || std::is_same_v<T, RoleReply>) {
          Put32(out, b.role);
          PutZeros(out, 4);
          Put64(out, b.generation_id);
        } else if constexpr (std::is_same_v<T, FlowMod>) {
          Put64(out, b.cookie);
          Put64(out, b.cookie_mask);
          Put8(out, b.table_id);
          Put8(out, static_cast<uint8_t>(b.command));
          Put16(out, b.idle_timeout);
          Put16(out, b.hard_timeout);
          Put16(out, b.priority);
          Put32(out, b.buffer_id);
          Put32(out, b.out_port);
          Put32(out, b.out_group);
          Put16(out, b.flags);
          PutZeros(out, 2);
          EncodeMatch(b.match, out);
          EncodeInstructions(b.instructions, out);
        } else if constexpr (std::is_same_v<T, PacketIn>) {
          Put32(out, b.buffer_id);
          Put16(out, b.total_len);
          Put8(out, b.reason);
          Put8(out, b.table_id);
          Put64(out, b.cookie);
          EncodeMatch(b.match, out);
          PutZeros(out, 2);
          size_t room = max_size > out.size() ? max_size - out.size() : 0;
          PutBytes(out, AsSpan(b.data).first(std::min(b.data.size(), room)));
        } else if constexpr (std::is_same_v<T, PacketOut>) {
          Put32(out, b.buffer_id);
          Put32(out, b.in_port);
          size_t len_at = out.size();
          Put16(out, 0);
          PutZeros(out, 6);
          size_t actions_start = out.size();
          EncodeActions(b.actions, out);
          Set16(out, len_at, static_cast<uint16_t>(out.size() - actions_start));
          size_t room = max_size > out.size() ? max_size - out.size() : 0;
          PutBytes(out, AsSpan(b.data).first(std::min(b.data.size(), room)));
        } else if constexpr (std::is_same_v<T, FlowRemoved>) {
          Put64(out, b.cookie);
          Put16(out, b.priority);
          Put8(out, b.reason);
          Put8(out, b.table_id);
          Put32(out, b.duration_sec);
          Put32(out, b.duration_nsec);
          Put16(out, b.idle_timeout);
          Put16(out, b.hard_timeout);
          Put64(out, b.packet_count);
          Put64(out, b.byte_count);
          EncodeMatch(b.match, out);
        } else if constexpr (std::is_same_v<T, PortStatus>) {
          Put8(out, b.reason);
          PutZeros(out, 7);
          EncodePortDesc(b.desc, out);
        } else if constexpr (std::is_same_v<T, MultipartRequest>) {
          EncodeMultipartRequest(b, out);
        } else if constexpr (std::is_same_v<T, BundleControl>) {
          Put32(out, bundle::kOnfExperimenter);
          Put32(out, bundle::kOnfBundleControl);
          Put32(out, b.bundle_id);
          Put16(out, b.type);
          Put16(out, b.flags);
        } else if constexpr (std::is_same_v<T, BundleAdd>) {
          Put32(out, bundle::kOnfExperimenter);
          Put32(out, bundle::kOnfBundleAdd);
          Put32(out, b.bundle_id);
          PutZeros(out, 2);
          Put16(out, b.flags);
          size_t room = max_size > out.size() ? max_size - out.size() : 0;
          PutBytes(out, AsSpan(b.message).first(std::min(b.message.size(), room)));
        }
        // FeaturesRequest, GetConfigRequest, BarrierRequest/Reply: header only.
        // MultipartReply is handled by the caller (it may split).
      },
      m.body);
}

// --- Decoders per message type.  `r` is positioned after the header. ---

tl::unexpected<OfpError> BadLen(const char* what) {
  return Fail(err::kBadRequest, err::kBadRequestBadLen, fmt::format("{} has a bad length", what));
}

OfpResult<MessageBody> DecodeHello(Reader& r) {
  Hello hello;
  hello.version_bitmap = 0;
  // Elements we cannot parse are ignored, as the spec asks (a newer peer may
  // send element types we do not know).
  while (r.left() >= 4) {
    uint16_t type = r.U16();
    uint16_t length = r.U16();
    if (length < 4 || length - 4u > r.left()) break;
    Reader elem(r.Bytes(length - 4));
    r.Skip(std::min(r.left(), RoundUp8(length) - length));
    if (type == 1 && elem.left() >= 4) hello.version_bitmap = elem.U32();
  }
  return hello;
}

OfpResult<MessageBody> DecodeFlowMod(Reader& r) {
  if (r.left() < 40 + 4) return BadLen("FLOW_MOD");
  FlowMod fm;
  fm.cookie = r.U64();
  fm.cookie_mask = r.U64();
  fm.table_id = r.U8();
  uint8_t command = r.U8();
  fm.idle_timeout = r.U16();
  fm.hard_timeout = r.U16();
  fm.priority = r.U16();
  fm.buffer_id = r.U32();
  fm.out_port = r.U32();
  fm.out_group = r.U32();
  fm.flags = r.U16();
  r.Skip(2);
  if (command > static_cast<uint8_t>(FlowModCommand::kDeleteStrict)) {
    return Fail(err::kFlowModFailed, err::kFlowModBadCommand,
                fmt::format("flow_mod command {} is unknown", command));
  }
  fm.command = static_cast<FlowModCommand>(command);
  bool deleting =
      fm.command == FlowModCommand::kDelete || fm.command == FlowModCommand::kDeleteStrict;
  if (fm.table_id >= kNumTables && !(deleting && fm.table_id == kTableAll)) {
    return Fail(err::kFlowModFailed, err::kFlowModBadTableId,
                fmt::format("table {} does not exist", fm.table_id));
  }
  if (fm.flags & ~uint16_t{0x1f}) {
    return Fail(err::kFlowModFailed, err::kFlowModBadFlags,
                fmt::format("flow_mod flags 0x{:x} are unknown", fm.flags));
  }
  auto rest = r.Rest();
  size_t consumed = 0;
  auto match = DecodeMatch(rest, &consumed);
  if (!match) return tl::unexpected(match.error());
  fm.match = *match;
  auto instructions = DecodeInstructions(rest.subspan(consumed));
  if (!instructions) return tl::unexpected(instructions.error());
  fm.instructions = std::move(*instructions);
  if (!deleting && fm.instructions.goto_table &&
      (*fm.instructions.goto_table <= fm.table_id || *fm.instructions.goto_table >= kNumTables)) {
    return Fail(err::kBadInstruction, err::kBadInstructionBadTableId,
                fmt::format("goto_table:{} from table {} does not go forward to a table",
                            *fm.instructions.goto_table, fm.table_id));
  }
  return fm;
}

OfpResult<MessageBody> DecodePacketOut(Reader& r) {
  if (r.left() < 16) return BadLen("PACKET_OUT");
  PacketOut po;
  po.buffer_id = r.U32();
  po.in_port = r.U32();
  uint16_t actions_len = r.U16();
  r.Skip(6);
  if (actions_len > r.left() || actions_len % 8) return BadLen("PACKET_OUT actions");
  if (po.in_port == 0 || (po.in_port > kPortMax && po.in_port != kPortController &&
                          po.in_port != kPortLocal && po.in_port != kPortAny)) {
    return Fail(err::kBadRequest, err::kBadRequestBadPort,
                fmt::format("packet_out in_port 0x{:x} is invalid", po.in_port));
  }
  auto actions = DecodeActions(r.Bytes(actions_len), true);
  if (!actions) return tl::unexpected(actions.error());
  po.actions = std::move(*actions);
  auto data = r.Rest();
  po.data.assign(data.begin(), data.end());
  return po;
}

OfpResult<MessageBody> DecodePacketIn(Reader& r) {
  if (r.left() < 16 + 8 + 2) return BadLen("PACKET_IN");
  PacketIn pi;
  pi.buffer_id = r.U32();
  pi.total_len = r.U16();
  pi.reason = r.U8();
  pi.table_id = r.U8();
  pi.cookie = r.U64();
  auto rest = r.Rest();
  size_t consumed = 0;
  auto match = DecodeMatch(rest, &consumed);
  if (!match) return tl::unexpected(match.error());
  pi.match = *match;
  if (rest.size() < consumed + 2) return BadLen("PACKET_IN");
  auto data = rest.subspan(consumed + 2);
  pi.data.assign(data.begin(), data.end());
  return pi;
}

OfpResult<MessageBody> DecodeFlowRemoved(Reader& r) {
  if (r.left() < 40 + 8) return BadLen("FLOW_REMOVED");
  FlowRemoved fr;
  fr.cookie = r.U64();
  fr.priority = r.U16();
  fr.reason = r.U8();
  fr.table_id = r.U8();
  fr.duration_sec = r.U32();
  fr.duration_nsec = r.U32();
  fr.idle_timeout = r.U16();
  fr.hard_timeout = r.U16();
  fr.packet_count = r.U64();
  fr.byte_count = r.U64();
  auto rest = r.Rest();
  size_t consumed = 0;
  auto match = DecodeMatch(rest, &consumed);
  if (!match) return tl::unexpected(match.error());
  if (consumed != rest.size()) return BadLen("FLOW_REMOVED");
  fr.match = *match;
  return fr;
}

OfpResult<MessageBody> DecodeMultipartRequest(Reader& r) {
  if (r.left() < 8) return BadLen("MULTIPART_REQUEST");
  MultipartRequest req;
  uint16_t type = r.U16();
  req.flags = r.U16();
  r.Skip(4);
  auto expect_empty = [&](const char* what) -> OfpResult<void> {
    if (r.left() != 0) return BadLen(what);
    return {};
  };
  switch (type) {
    case mp::kDesc: {
      auto ok = expect_empty("DESC request");
      if (!ok) return tl::unexpected(ok.error());
      req.body = DescRequest{};
      break;
    }
    case mp::kFlow:
    case mp::kAggregate: {
      auto fsr = DecodeFlowStatsRequestBody(r);
      if (!fsr) return tl::unexpected(fsr.error());
      if (type == mp::kFlow) {
        req.body = *fsr;
      } else {
        req.body = AggregateRequest{*fsr};
      }
      break;
    }
    case mp::kTable: {
      auto ok = expect_empty("TABLE request");
      if (!ok) return tl::unexpected(ok.error());
      req.body = TableStatsRequest{};
      break;
    }
    case mp::kPortStats: {
      if (r.left() != 8) return BadLen("PORT_STATS request");
      req.body = PortStatsRequest{r.U32()};
      break;
    }
    case mp::kPortDesc: {
      auto ok = expect_empty("PORT_DESC request");
      if (!ok) return tl::unexpected(ok.error());
      req.body = PortDescRequest{};
      break;
    }
    case mp::kTableFeatures:
      if (r.left() != 0) {
        return Fail(err::kTableFeaturesFailed, err::kTableFeaturesEperm,
                    "changing table features is not supported");
      }
      req.body = TableFeaturesRequest{};
      break;
    default:
      return Fail(err::kBadRequest, err::kBadRequestBadMultipart,
                  fmt::format("multipart type {} is not supported", type));
  }
  return req;
}

// Splits a reply body into entries whose first 2 bytes are their length.
template <class Fn>
OfpResult<void> ForEachLengthPrefixed(Reader& r, size_t min_size, Fn fn) {
  while (r.left() > 0) {
    if (r.left() < min_size) return BadLen("multipart entry");
    auto peek = r.Bytes(2);
    size_t len = (size_t{peek[0]} << 8) | peek[1];
    if (len < min_size || len - 2 > r.left()) return BadLen("multipart entry");
    auto rest = r.Bytes(len - 2);
    std::vector<uint8_t> entry(peek.begin(), peek.end());
    entry.insert(entry.end(), rest.begin(), rest.end());
    auto ok = fn(std::span<const uint8_t>(entry));
    if (!ok) return ok;
  }
  return {};
}

OfpResult<MessageBody> DecodeMultipartReply(Reader& r) {
  if (r.left() < 8) return BadLen("MULTIPART_REPLY");
  MultipartReply reply;
  uint16_t type = r.U16();
  reply.flags = r.U16();
  r.Skip(4);
  switch (type) {
    case mp::kDesc: {
      if (r.left() != kDescSize) return BadLen("DESC reply");
      DescStats d;
      d.mfr_desc = r.String(256);
      d.hw_desc = r.String(256);
      d.sw_desc = r.String(256);
      d.serial_num = r.String(32);
      d.dp_desc = r.String(256);
      reply.body = d;
      break;
    }
    case mp::kFlow: {
      std::vector<FlowStats> flows;
      auto ok = ForEachLengthPrefixed(r, 48 + 8, [&](std::span<const uint8_t> e) -> OfpResult<void> {
        auto fs = DecodeFlowStats(e);
        if (!fs) return tl::unexpected(fs.error());
        flows.push_back(std::move(*fs));
        return {};
      });
      if (!ok) return tl::unexpected(ok.error());
      reply.body = std::move(flows);
      break;
    }
    case mp::kAggregate: {
      if (r.left() != 24) return BadLen("AGGREGATE reply");
      AggregateStats a;
      a.packet_count = r.U64();
      a.byte_count = r.U64();
      a.flow_count = r.U32();
      reply.body = a;
      break;
    }
    case mp::kTable: {
      if (r.left() % kTableStatsSize) return BadLen("TABLE reply");
      std::vector<TableStats> tables;
      while (r.left() > 0) {
        TableStats ts;
        ts.table_id = r.U8();
        r.Skip(3);
        ts.active_count = r.U32();
        ts.lookup_count = r.U64();
        ts.matched_count = r.U64();
        tables.push_back(ts);
      }
      reply.body = std::move(tables);
      break;
    }
    case mp::kPortStats: {
      if (r.left() % kPortStatsSize) return BadLen("PORT_STATS reply");
      std::vector<PortStats> ports;
      while (r.left() > 0) ports.push_back(DecodePortStats(r));
      reply.body = std::move(ports);
      break;
    }
    case mp::kPortDesc: {
      if (r.left() % kPortDescSize) return BadLen("PORT_DESC reply");
      std::vector<PortDesc> ports;
      while (r.left() > 0) ports.push_back(DecodePortDesc(r));
      reply.body = std::move(ports);
      break;
    }
    case mp::kTableFeatures: {
      std::vector<TableFeatures> tables;
      auto ok = ForEachLengthPrefixed(
          r, kTableFeaturesFixedSize, [&](std::span<const uint8_t> e) -> OfpResult<void> {
            Reader er(e);
            TableFeatures tf;
            er.Skip(2);
            tf.table_id = er.U8();
            er.Skip(5);
            tf.name = er.String(32);
            tf.metadata_match = er.U64();
            tf.metadata_write = er.U64();
            tf.config = er.U32();
            tf.max_entries = er.U32();
            auto props = er.Rest();
            tf.properties.assign(props.begin(), props.end());
            tables.push_back(std::move(tf));
            return {};
          });
      if (!ok) return tl::unexpected(ok.error());
      reply.body = std::move(tables);
      break;
    }
    default:
      return Fail(err::kBadRequest, err::kBadRequestBadMultipart,
                  fmt::format("multipart type {} is not supported", type));
  }
  return reply;
}

OfpResult<MessageBody> DecodeExperimenter(Reader& r) {
  if (r.left() < 8) return BadLen("EXPERIMENTER");
  uint32_t experimenter = r.U32();
  uint32_t exp_type = r.U32();
  if (experimenter != bundle::kOnfExperimenter) {
    return Fail(err::kBadRequest, err::kBadRequestBadExperimenter,
                fmt::format("experimenter 0x{:08x} messages are not supported", experimenter));
  }
  if (exp_type == bundle::kOnfBundleControl) {
    if (r.left() < 8) return BadLen("bundle control");
    BundleControl bc;
    bc.bundle_id = r.U32();
    bc.type = r.U16();
    bc.flags = r.U16();
    // Properties (none defined that hsw uses) are ignored.
    if (bc.type > bundle::kDiscardReply) {
      return Fail(bundle::kErrorTypeExperimenter, bundle::kErrBadType,
                  fmt::format("bundle control type {} is unknown", bc.type));
    }
    return bc;
  }
  if (exp_type == bundle::kOnfBundleAdd) {
    if (r.left() < 8 + kHeaderSize) return BadLen("bundle add");
    BundleAdd add;
    add.bundle_id = r.U32();
    r.Skip(2);
    add.flags = r.U16();
    auto rest = r.Rest();
    size_t inner = (size_t{rest[2]} << 8) | rest[3];
    if (inner < kHeaderSize || inner > rest.size()) {
      return Fail(bundle::kErrorTypeExperimenter, bundle::kErrMsgBadLen,
                  "bundled message length does not fit");
    }
    add.message.assign(rest.begin(), rest.begin() + static_cast<ptrdiff_t>(inner));
    return add;
  }
  return Fail(err::kBadRequest, err::kBadRequestBadExpType,
              fmt::format("ONF experimenter message {} is not supported", exp_type));
}

const char* CommandName(FlowModCommand c) {
  switch (c) {
    case FlowModCommand::kAdd:
      return "add";
    case FlowModCommand::kModify:
      return "modify";
    case FlowModCommand::kModifyStrict:
      return "modify_strict";
    case FlowModCommand::kDelete:
      return "delete";
    case FlowModCommand::kDeleteStrict:
      return "delete_strict";
  }
  return "?";
}

// Property builders for HswTableFeatures.
void PutProperty(std::vector<uint8_t>& out, uint16_t type, const std::vector<uint8_t>& payload) {
  size_t start = out.size();
  Put16(out, type);
  Put16(out, static_cast<uint16_t>(4 + payload.size()));
  PutBytes(out, AsSpan(payload));
  PadTo8(out, start);
}

}  // namespace

// ---------------------------------------------------------------------------
// Public functions.

uint16_t MultipartRequest::mp_type() const {
  static constexpr uint16_t kTypes[] = {mp::kDesc,      mp::kFlow,     mp::kAggregate,
                                        mp::kTable,     mp::kPortStats, mp::kPortDesc,
                                        mp::kTableFeatures};
  return kTypes[body.index()];
}

uint16_t MultipartReply::mp_type() const {
  static constexpr uint16_t kTypes[] = {mp::kDesc,      mp::kFlow,     mp::kAggregate,
                                        mp::kTable,     mp::kPortStats, mp::kPortDesc,
                                        mp::kTableFeatures};
  return kTypes[body.index()];
}

uint8_t OfpMessage::type() const {
  static constexpr uint8_t kTypes[] = {
      msg::kHello,          msg::kError,           msg::kEchoRequest,
      msg::kEchoReply,      msg::kFeaturesRequest, msg::kFeaturesReply,
      msg::kGetConfigRequest, msg::kGetConfigReply, msg::kSetConfig,
      msg::kPacketIn,       msg::kFlowRemoved,     msg::kPortStatus,
      msg::kPacketOut,      msg::kFlowMod,         msg::kMultipartRequest,
      msg::kMultipartReply, msg::kBarrierRequest,  msg::kBarrierReply,
      msg::kRoleRequest,    msg::kRoleReply,          msg::kExperimenter,
      msg::kExperimenter};
  static_assert(sizeof(kTypes) == std::variant_size_v<MessageBody>);
  return kTypes[body.index()];
}

OfpResult<size_t> FrameLength(std::span<const uint8_t> buffer) {
  if (buffer.size() < kHeaderSize) return size_t{0};
  uint8_t version = buffer[0];
  if (version == 0 || version > 0x06) {
    return Fail(err::kBadRequest, err::kBadRequestBadVersion,
                fmt::format("not an OpenFlow message (version byte 0x{:02x})", version));
  }
  size_t length = (size_t{buffer[2]} << 8) | buffer[3];
  if (length < kHeaderSize) {
    return Fail(err::kBadRequest, err::kBadRequestBadLen,
                fmt::format("message length {} is shorter than its header", length));
  }
  return length;
}

void StreamSplitter::Feed(std::span<const uint8_t> data) {
  // Compact before growing so a long-lived connection's buffer stays small.
  if (start_ > 0) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<ptrdiff_t>(start_));
    start_ = 0;
  }
  buffer_.insert(buffer_.end(), data.begin(), data.end());
}

OfpResult<std::span<const uint8_t>> StreamSplitter::Next() {
  std::span<const uint8_t> pending(buffer_.data() + start_, buffer_.size() - start_);
  auto length = FrameLength(pending);
  if (!length) return tl::unexpected(length.error());
  if (*length == 0 || *length > pending.size()) return std::span<const uint8_t>();
  start_ += *length;
  return pending.first(*length);
}

OfpResult<OfpMessage> Decode(std::span<const uint8_t> bytes) {
  if (bytes.size() < kHeaderSize) {
    return Fail(err::kBadRequest, err::kBadRequestBadLen, "message shorter than its header");
  }
  Reader r(bytes);
  OfpMessage m;
  m.version = r.U8();
  uint8_t type = r.U8();
  uint16_t length = r.U16();
  m.xid = r.U32();
  if (length != bytes.size()) {
    return Fail(err::kBadRequest, err::kBadRequestBadLen,
                fmt::format("header length {} but {} bytes", length, bytes.size()));
  }
  // Version-independent messages first.
  switch (type) {
    case msg::kHello: {
      auto body = DecodeHello(r);
      if (!body) return tl::unexpected(body.error());
      m.body = std::move(*body);
      return m;
    }
    case msg::kError: {
      if (r.left() < 4) return BadLen("ERROR");
      ErrorMsg e;
      e.type = r.U16();
      e.code = r.U16();
      auto data = r.Rest();
      e.data.assign(data.begin(), data.end());
      m.body = std::move(e);
      return m;
    }
    case msg::kEchoRequest:
    case msg::kEchoReply: {
      auto data = r.Rest();
      std::vector<uint8_t> v(data.begin(), data.end());
      if (type == msg::kEchoRequest) {
        m.body = EchoRequest{std::move(v)};
      } else {
        m.body = EchoReply{std::move(v)};
      }
      return m;
    }
    default:
      break;
  }
  if (m.version != kVersion13) {
    return Fail(err::kBadRequest, err::kBadRequestBadVersion,
                fmt::format("OpenFlow version 0x{:02x} is not supported (hsw speaks 1.3)",
                            m.version));
  }
  auto exact = [&](size_t body_size, const char* what) -> OfpResult<void> {
    if (r.left() != body_size) return BadLen(what);
    return {};
  };
  OfpResult<MessageBody> body = Fail(err::kBadRequest, err::kBadRequestBadType, "");
  switch (type) {
    case msg::kFeaturesRequest:
    case msg::kGetConfigRequest:
    case msg::kBarrierRequest:
    case msg::kBarrierReply: {
      auto ok = exact(0, MessageTypeName(type));
      if (!ok) return tl::unexpected(ok.error());
      if (type == msg::kFeaturesRequest) body = FeaturesRequest{};
      if (type == msg::kGetConfigRequest) body = GetConfigRequest{};
      if (type == msg::kBarrierRequest) body = BarrierRequest{};
      if (type == msg::kBarrierReply) body = BarrierReply{};
      break;
    }
    case msg::kFeaturesReply: {
      auto ok = exact(24, "FEATURES_REPLY");
      if (!ok) return tl::unexpected(ok.error());
      FeaturesReply f;
      f.datapath_id = r.U64();
      f.n_buffers = r.U32();
      f.n_tables = r.U8();
      f.auxiliary_id = r.U8();
      r.Skip(2);
      f.capabilities = r.U32();
      body = f;
      break;
    }
    case msg::kGetConfigReply:
    case msg::kSetConfig: {
      auto ok = exact(4, MessageTypeName(type));
      if (!ok) return tl::unexpected(ok.error());
      SwitchConfig c;
      c.flags = r.U16();
      c.miss_send_len = r.U16();
      if (type == msg::kSetConfig) {
        body = SetConfig{c};
      } else {
        body = GetConfigReply{c};
      }
      break;
    }
    case msg::kRoleRequest:
    case msg::kRoleReply: {
      auto ok = exact(16, MessageTypeName(type));
      if (!ok) return tl::unexpected(ok.error());
      uint32_t role = r.U32();
      r.Skip(4);
      uint64_t generation = r.U64();
      if (role > kRoleSlave) {
        return Fail(err::kRoleRequestFailed, err::kRoleRequestBadRole,
                    fmt::format("role {} is unknown", role));
      }
      if (type == msg::kRoleRequest) {
        body = RoleRequest{role, generation};
      } else {
        body = RoleReply{role, generation};
      }
      break;
    }
    case msg::kFlowMod:
      body = DecodeFlowMod(r);
      break;
    case msg::kPacketOut:
      body = DecodePacketOut(r);
      break;
    case msg::kPacketIn:
      body = DecodePacketIn(r);
      break;
    case msg::kFlowRemoved:
      body = DecodeFlowRemoved(r);
      break;
    case msg::kPortStatus: {
      auto ok = exact(8 + kPortDescSize, "PORT_STATUS");
      if (!ok) return tl::unexpected(ok.error());
      PortStatus ps;
      ps.reason = r.U8();
      r.Skip(7);
      ps.desc = DecodePortDesc(r);
      body = ps;
      break;
    }
    case msg::kMultipartRequest:
      body = DecodeMultipartRequest(r);
      break;
    case msg::kMultipartReply:
      body = DecodeMultipartReply(r);
      break;
    case msg::kExperimenter:
      body = DecodeExperimenter(r);
      break;
    default:
      return Fail(err::kBadRequest, err::kBadRequestBadType,
                  fmt::format("{} is not supported", MessageTypeName(type)));
  }
  if (!body) return tl::unexpected(body.error());
  m.body = std::move(*body);
  return m;
}

std::vector<uint8_t> Encode(const OfpMessage& message, size_t max_size) {
  std::vector<uint8_t> out;
  max_size = std::clamp<size_t>(max_size, 64, kMaxMessageSize);
  if (const auto* reply = std::get_if<MultipartReply>(&message.body)) {
    EncodeMultipartReply(message, *reply, max_size, out);
    return out;
  }
  PutHeader(out, message.version, message.type(), message.xid);
  EncodeBody(message, max_size, out);
  if (out.size() > kMaxMessageSize) out.resize(kMaxMessageSize);
  FinishMessage(out, 0);
  return out;
}

OfpMessage MakeErrorReply(const OfpError& error, std::span<const uint8_t> request) {
  OfpMessage m;
  if (request.size() >= kHeaderSize) {
    m.xid = (uint32_t{request[4]} << 24) | (uint32_t{request[5]} << 16) |
            (uint32_t{request[6]} << 8) | request[7];
  }
  ErrorMsg e;
  e.type = error.type;
  e.code = error.code;
  if (error.type == err::kHelloFailed) {
    e.data.assign(error.detail.begin(), error.detail.end());
  } else if (error.type == bundle::kErrorTypeExperimenter) {
    // ofp_error_experimenter_msg: exp_code sits where code does, then the
    // experimenter id, then the data.
    std::vector<uint8_t> id;
    Put32(id, bundle::kOnfExperimenter);
    auto data = request.first(std::min<size_t>(request.size(), 64));
    e.data = id;
    e.data.insert(e.data.end(), data.begin(), data.end());
  } else {
    auto data = request.first(std::min<size_t>(request.size(), 64));
    e.data.assign(data.begin(), data.end());
  }
  m.body = std::move(e);
  return m;
}

OfpResult<uint8_t> NegotiateVersion(uint8_t peer_header_version, const Hello& peer_hello,
                                    uint32_t our_versions) {
  uint32_t common;
  if (peer_hello.version_bitmap) {
    common = our_versions & peer_hello.version_bitmap;
  } else {
    // No bitmap: the peer supports every version up to its header's.
    uint32_t upto = peer_header_version >= 31 ? ~0u : (2u << peer_header_version) - 1;
    common = our_versions & upto;
  }
  if (common == 0) {
    return Fail(err::kHelloFailed, err::kHelloIncompatible,
                fmt::format("no common OpenFlow version (peer 0x{:02x}, bitmap 0x{:x}; hsw "
                            "supports bitmap 0x{:x})",
                            peer_header_version, peer_hello.version_bitmap, our_versions));
  }
  uint8_t version = 31;
  while (!(common & (1u << version))) --version;
  return version;
}

void EncodeMatch(const Match& match, std::vector<uint8_t>& out) {
  size_t start = out.size();
  Put16(out, 1);  // OFPMT_OXM
  Put16(out, 0);  // length, patched
  // Field order follows FieldId, which puts every prerequisite before the
  // fields that need it (OVS's decoder insists on that order).
  for (size_t i = 0; i < kNumFields; ++i) {
    FieldId id = static_cast<FieldId>(i);
    const FieldInfo& info = GetFieldInfo(id);
    if (FieldMaskIsZero(match.mask, id)) continue;
    // Fields share storage (tcp_src/udp_src, ip_proto/arp_op): the
    // prerequisites say which one the bits are.
    if (!PrereqsMet(match, info) && info.id != FieldId::kVlanPcp) continue;
    FieldValue value = ReadField(match.key, id);
    if (FieldMaskIsExact(match.mask, id) || !info.maskable) {
      PutOxmField(out, id, value, nullptr);
    } else {
      FieldValue mask = ReadField(match.mask, id);
      PutOxmField(out, id, value, &mask);
    }
  }
  Set16(out, start + 2, static_cast<uint16_t>(out.size() - start));
  PadTo8(out, start);
}

OfpResult<Match> DecodeMatch(std::span<const uint8_t> bytes, size_t* consumed) {
  if (bytes.size() < 4) return Fail(err::kBadMatch, err::kBadMatchBadLen, "match truncated");
  uint16_t type = static_cast<uint16_t>((bytes[0] << 8) | bytes[1]);
  size_t length = (size_t{bytes[2]} << 8) | bytes[3];
  if (type != 1) {
    return Fail(err::kBadMatch, err::kBadMatchBadType,
                fmt::format("match type {} is not OXM", type));
  }
  if (length < 4 || RoundUp8(length) > bytes.size()) {
    return Fail(err::kBadMatch, err::kBadMatchBadLen,
                fmt::format("match length {} does not fit in {} bytes", length, bytes.size()));
  }
  *consumed = RoundUp8(length);
  return DecodeOxmList(bytes.subspan(4, length - 4));
}

OfpResult<Match> DecodeOxmFields(std::span<const uint8_t> oxms) { return DecodeOxmList(oxms); }

void EncodeActions(const Actions& actions, std::vector<uint8_t>& out) {
  for (const Action& a : actions) EncodeAction(a, out);
}

OfpResult<Actions> DecodeActions(std::span<const uint8_t> bytes, bool packet_out) {
  Actions actions;
  Reader r(bytes);
  while (r.left() > 0) {
    if (r.left() < 8) return Fail(err::kBadAction, err::kBadActionBadLen, "action truncated");
    uint16_t type = r.U16();
    uint16_t len = r.U16();
    if (len < 8 || len % 8 || len - 4u > r.left()) {
      return Fail(err::kBadAction, err::kBadActionBadLen,
                  fmt::format("action type {} has bad length {}", type, len));
    }
    auto action = DecodeOneAction(type, r.Bytes(len - 4u), packet_out);
    if (!action) return tl::unexpected(action.error());
    actions.push_back(std::move(*action));
  }
  return actions;
}

void EncodeInstructions(const Instructions& ins, std::vector<uint8_t>& out) {
  auto put_actions = [&](uint16_t type, const Actions& actions) {
    size_t start = out.size();
    Put16(out, type);
    Put16(out, 0);
    PutZeros(out, 4);
    EncodeActions(actions, out);
    Set16(out, start + 2, static_cast<uint16_t>(out.size() - start));
  };
  if (!ins.apply.empty()) put_actions(inst::kApplyActions, ins.apply);
  if (ins.clear_actions) {
    Put16(out, inst::kClearActions);
    Put16(out, 8);
    PutZeros(out, 4);
  }
  if (ins.write_actions) put_actions(inst::kWriteActions, *ins.write_actions);
  if (ins.write_metadata) {
    Put16(out, inst::kWriteMetadata);
    Put16(out, 24);
    PutZeros(out, 4);
    Put64(out, ins.write_metadata->value);
    Put64(out, ins.write_metadata->mask);
  }
  if (ins.goto_table) {
    Put16(out, inst::kGotoTable);
    Put16(out, 8);
    Put8(out, *ins.goto_table);
    PutZeros(out, 3);
  }
}

OfpResult<Instructions> DecodeInstructions(std::span<const uint8_t> bytes) {
  Instructions ins;
  uint32_t seen = 0;
  Reader r(bytes);
  auto bad_len = [](const char* what) {
    return Fail(err::kBadInstruction, err::kBadInstructionBadLen,
                fmt::format("{} instruction has a bad length", what));
  };
  while (r.left() > 0) {
    if (r.left() < 8) return bad_len("an");
    uint16_t type = r.U16();
    uint16_t len = r.U16();
    if (len < 8 || len % 8 || len - 4u > r.left()) return bad_len("an");
    Reader body(r.Bytes(len - 4u));
    if (type >= 1 && type <= 6) {
      if (seen & (1u << type)) {
        return Fail(err::kBadInstruction, err::kBadInstructionUnsupInst,
                    fmt::format("instruction type {} appears twice", type));
      }
      seen |= 1u << type;
    }
    switch (type) {
      case inst::kGotoTable:
        if (len != 8) return bad_len("goto_table");
        ins.goto_table = body.U8();
        break;
      case inst::kWriteMetadata: {
        if (len != 24) return bad_len("write_metadata");
        body.Skip(4);
        WriteMetadata wm;
        wm.value = body.U64();
        wm.mask = body.U64();
        ins.write_metadata = wm;
        break;
      }
      case inst::kWriteActions:
      case inst::kApplyActions: {
        body.Skip(4);
        auto actions = DecodeActions(body.Rest());
        if (!actions) return tl::unexpected(actions.error());
        if (type == inst::kApplyActions) {
          ins.apply = std::move(*actions);
        } else {
          ins.write_actions = std::move(*actions);
        }
        break;
      }
      case inst::kClearActions:
        ins.clear_actions = true;
        break;
      case inst::kMeter:
        return Fail(err::kBadInstruction, err::kBadInstructionUnsupInst,
                    "meter instruction is not supported");
      case inst::kExperimenter:
        return Fail(err::kBadInstruction, err::kBadInstructionBadExperimenter,
                    "experimenter instructions are not supported");
      default:
        return Fail(err::kBadInstruction, err::kBadInstructionUnknownInst,
                    fmt::format("instruction type {} is unknown", type));
    }
  }
  return ins;
}

std::vector<TableFeatures> HswTableFeatures() {
  std::vector<uint8_t> instructions;
  for (uint16_t t : {inst::kGotoTable, inst::kWriteMetadata, inst::kWriteActions,
                     inst::kApplyActions, inst::kClearActions}) {
    Put16(instructions, t);
    Put16(instructions, 4);
  }
  std::vector<uint8_t> actions;
  for (uint16_t t : {act::kOutput, act::kPushVlan, act::kPopVlan, act::kDecNwTtl, act::kSetField}) {
    Put16(actions, t);
    Put16(actions, 4);
  }
  std::vector<uint8_t> match_ids, field_ids;
  for (size_t i = 0; i < kNumFields; ++i) {
    FieldId id = static_cast<FieldId>(i);
    const FieldInfo& info = GetFieldInfo(id);
    PutOxmHeader(match_ids, id, info.maskable, info.maskable ? 2 * info.size : info.size);
    PutOxmHeader(field_ids, id, false, info.size);
  }
  std::vector<TableFeatures> tables;
  tables.reserve(kNumTables);
  for (unsigned t = 0; t < kNumTables; ++t) {
    TableFeatures tf;
    tf.table_id = static_cast<uint8_t>(t);
    std::vector<uint8_t> next;
    for (unsigned n = t + 1; n < kNumTables; ++n) next.push_back(static_cast<uint8_t>(n));
    std::vector<uint8_t>& p = tf.properties;
    PutProperty(p, 0, instructions);  // OFPTFPT_INSTRUCTIONS
    PutProperty(p, 2, next);          // OFPTFPT_NEXT_TABLES
    PutProperty(p, 4, actions);       // OFPTFPT_WRITE_ACTIONS
    PutProperty(p, 6, actions);       // OFPTFPT_APPLY_ACTIONS
    PutProperty(p, 8, match_ids);     // OFPTFPT_MATCH
    PutProperty(p, 10, field_ids);    // OFPTFPT_WILDCARDS
    PutProperty(p, 12, field_ids);    // OFPTFPT_WRITE_SETFIELD
    PutProperty(p, 14, field_ids);    // OFPTFPT_APPLY_SETFIELD
    tables.push_back(std::move(tf));
  }
  return tables;
}

const char* MessageTypeName(uint8_t type) {
  static constexpr const char* kNames[] = {
      "HELLO",           "ERROR",          "ECHO_REQUEST",   "ECHO_REPLY",
      "EXPERIMENTER",    "FEATURES_REQUEST", "FEATURES_REPLY", "GET_CONFIG_REQUEST",
      "GET_CONFIG_REPLY", "SET_CONFIG",    "PACKET_IN",      "FLOW_REMOVED",
      "PORT_STATUS",     "PACKET_OUT",     "FLOW_MOD",       "GROUP_MOD",
      "PORT_MOD",        "TABLE_MOD",      "MULTIPART_REQUEST", "MULTIPART_REPLY",
      "BARRIER_REQUEST", "BARRIER_REPLY",  "QUEUE_GET_CONFIG_REQUEST",
      "QUEUE_GET_CONFIG_REPLY", "ROLE_REQUEST", "ROLE_REPLY", "GET_ASYNC_REQUEST",
      "GET_ASYNC_REPLY", "SET_ASYNC",      "METER_MOD"};
  if (type < sizeof(kNames) / sizeof(kNames[0])) return kNames[type];
  return "UNKNOWN";
}

std::string ErrorName(uint16_t type, uint16_t code) {
  struct Name {
    uint16_t type, code;
    const char* name;
  };
  static constexpr Name kNames[] = {
      {0, 0, "OFPHFC_INCOMPATIBLE"},      {0, 1, "OFPHFC_EPERM"},
      {1, 0, "OFPBRC_BAD_VERSION"},       {1, 1, "OFPBRC_BAD_TYPE"},
      {1, 2, "OFPBRC_BAD_MULTIPART"},     {1, 3, "OFPBRC_BAD_EXPERIMENTER"},
      {1, 4, "OFPBRC_BAD_EXP_TYPE"},      {1, 5, "OFPBRC_EPERM"},
      {1, 6, "OFPBRC_BAD_LEN"},           {1, 7, "OFPBRC_BUFFER_EMPTY"},
      {1, 8, "OFPBRC_BUFFER_UNKNOWN"},    {1, 9, "OFPBRC_BAD_TABLE_ID"},
      {1, 10, "OFPBRC_IS_SLAVE"},         {1, 11, "OFPBRC_BAD_PORT"},
      {1, 12, "OFPBRC_BAD_PACKET"},       {2, 0, "OFPBAC_BAD_TYPE"},
      {2, 1, "OFPBAC_BAD_LEN"},           {2, 2, "OFPBAC_BAD_EXPERIMENTER"},
      {2, 3, "OFPBAC_BAD_EXP_TYPE"},      {2, 4, "OFPBAC_BAD_OUT_PORT"},
      {2, 5, "OFPBAC_BAD_ARGUMENT"},      {2, 6, "OFPBAC_EPERM"},
      {2, 7, "OFPBAC_TOO_MANY"},          {2, 9, "OFPBAC_BAD_OUT_GROUP"},
      {2, 10, "OFPBAC_MATCH_INCONSISTENT"}, {2, 13, "OFPBAC_BAD_SET_TYPE"},
      {2, 14, "OFPBAC_BAD_SET_LEN"},      {2, 15, "OFPBAC_BAD_SET_ARGUMENT"},
      {3, 0, "OFPBIC_UNKNOWN_INST"},      {3, 1, "OFPBIC_UNSUP_INST"},
      {3, 2, "OFPBIC_BAD_TABLE_ID"},      {3, 5, "OFPBIC_BAD_EXPERIMENTER"},
      {3, 7, "OFPBIC_BAD_LEN"},           {4, 0, "OFPBMC_BAD_TYPE"},
      {4, 1, "OFPBMC_BAD_LEN"},           {4, 5, "OFPBMC_BAD_WILDCARDS"},
      {4, 6, "OFPBMC_BAD_FIELD"},         {4, 7, "OFPBMC_BAD_VALUE"},
      {4, 8, "OFPBMC_BAD_MASK"},          {4, 9, "OFPBMC_BAD_PREREQ"},
      {4, 10, "OFPBMC_DUP_FIELD"},        {5, 0, "OFPFMFC_UNKNOWN"},
      {5, 1, "OFPFMFC_TABLE_FULL"},       {5, 2, "OFPFMFC_BAD_TABLE_ID"},
      {5, 3, "OFPFMFC_OVERLAP"},          {5, 4, "OFPFMFC_EPERM"},
      {5, 5, "OFPFMFC_BAD_TIMEOUT"},      {5, 6, "OFPFMFC_BAD_COMMAND"},
      {5, 7, "OFPFMFC_BAD_FLAGS"},        {11, 2, "OFPRRFC_BAD_ROLE"},
      {0xffff, 2300, "OFPBFC_UNKNOWN"},   {0xffff, 2301, "OFPBFC_EPERM"},
      {0xffff, 2302, "OFPBFC_BAD_ID"},
      {0xffff, 2303, "OFPBFC_BUNDLE_EXIST"}, {0xffff, 2304, "OFPBFC_BUNDLE_CLOSED"},
      {0xffff, 2305, "OFPBFC_OUT_OF_BUNDLES"}, {0xffff, 2306, "OFPBFC_BAD_TYPE"},
      {0xffff, 2308, "OFPBFC_MSG_BAD_LEN"}, {0xffff, 2310, "OFPBFC_MSG_UNSUP"},
      {0xffff, 2313, "OFPBFC_MSG_FAILED"},
      {13, 5, "OFPTFFC_EPERM"},
  };
  for (const Name& n : kNames) {
    if (n.type == type && n.code == code) return n.name;
  }
  return fmt::format("type {} code {}", type, code);
}

std::string FormatMessage(const OfpMessage& m) {
  std::string out =
      fmt::format("{} v0x{:02x} xid=0x{:x}", MessageTypeName(m.type()), m.version, m.xid);
  std::visit(
      [&](const auto& b) {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, Hello>) {
          out += fmt::format(" bitmap=0x{:x}", b.version_bitmap);
        } else if constexpr (std::is_same_v<T, ErrorMsg>) {
          out += fmt::format(" {} ({} data bytes)", ErrorName(b.type, b.code), b.data.size());
        } else if constexpr (std::is_same_v<T, FlowMod>) {
          out += fmt::format(" {} table={} priority={} cookie=0x{:x}", CommandName(b.command),
                             b.table_id, b.priority, b.cookie);
          if (!IsZero(b.match.mask)) out += " " + FormatDpKey(b.match.key, &b.match.mask);
          out += fmt::format(" apply={} actions", b.instructions.apply.size());
        } else if constexpr (std::is_same_v<T, MultipartRequest> ||
                             std::is_same_v<T, MultipartReply>) {
          out += fmt::format(" type={} flags=0x{:x}", b.mp_type(), b.flags);
        } else if constexpr (std::is_same_v<T, PacketIn>) {
          out += fmt::format(" reason={} table={} cookie=0x{:x} total_len={} data={}", b.reason,
                             b.table_id, b.cookie, b.total_len, b.data.size());
        } else if constexpr (std::is_same_v<T, PacketOut>) {
          out += fmt::format(" in_port=0x{:x} actions={} data={}", b.in_port, b.actions.size(),
                             b.data.size());
        } else if constexpr (std::is_same_v<T, PortStatus>) {
          out += fmt::format(" reason={} port={} ({})", b.reason, b.desc.port_no, b.desc.name);
        } else if constexpr (std::is_same_v<T, RoleRequest> || std::is_same_v<T, RoleReply>) {
          out += fmt::format(" role={} generation={}", b.role, b.generation_id);
        } else if constexpr (std::is_same_v<T, BundleControl>) {
          out += fmt::format(" bundle_control id={} type={} flags=0x{:x}", b.bundle_id, b.type,
                             b.flags);
        } else if constexpr (std::is_same_v<T, BundleAdd>) {
          out += fmt::format(" bundle_add id={} {} bytes", b.bundle_id, b.message.size());
        }
      },
      m.body);
  return out;
}

}  // namespace hsw::ofp
