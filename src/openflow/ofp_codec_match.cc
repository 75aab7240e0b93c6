// OpenFlow codec, part 1 of 4: OXM matches, actions, instructions and the
// table features hsw advertises.  Layouts follow the OpenFlow 1.3.5
// specification, which OpenFlow 1.4 keeps for all of these.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "openflow/ofp_codec_internal.h"

namespace hsw::ofp {

using namespace detail;  // NOLINT(build/namespaces): the codec's own internals

namespace {

// ---------------------------------------------------------------------------
// OXM.

constexpr uint16_t kOxmClassNxm1 = 0x0001;
constexpr uint16_t kOxmClassBasic = 0x8000;
constexpr uint16_t kOxmClassExperimenter = 0xffff;
constexpr uint32_t kOnfExperimenter = 0x4f4e4600;
constexpr uint32_t kNiciraExperimenter = 0x00002320;
constexpr uint8_t kNxmIpTtl = 29;
constexpr uint8_t kNxmTcpFlags = 34;
constexpr uint8_t kOxmTcpFlags = 42;    // ONF experimenter in 1.3, basic in 1.5
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
        return Fail(
            err::kBadAction, err::kBadActionBadArgument,
            fmt::format("push_vlan ethertype 0x{:04x} is not 0x8100 or 0x88a8", push.ethertype));
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

// Property builders for HswTableFeatures.
void PutProperty(std::vector<uint8_t>& out, uint16_t type, const std::vector<uint8_t>& payload) {
  size_t start = out.size();
  Put16(out, type);
  Put16(out, static_cast<uint16_t>(4 + payload.size()));
  PutBytes(out, AsSpan(payload));
  PadTo8(out, start);
}

}  // namespace

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

}  // namespace hsw::ofp
