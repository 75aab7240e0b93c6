// OpenFlow wire codec, the core: framing, the dispatch of Decode/Encode by
// message type and version, the messages whose layout is fixed (HELLO,
// ERROR, ECHO, FEATURES, CONFIG, ROLE, FLOW_MOD, PACKET_IN/OUT, FLOW_REMOVED,
// GROUP_MOD), errors and version negotiation.  Layouts follow the OpenFlow
// 1.3.5 and 1.4.1 specifications; where Open vSwitch (what ovs-ofctl talks)
// differs or extends, the code says so.  Reads go through Reader, which never
// reads past its span: a short read yields zeros and marks the reader
// failed, and every decoder checks sizes up front so that the error it
// returns has the right (type, code).
#include "openflow/ofp_codec.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "openflow/ofp_codec_internal.h"

namespace hsw::ofp {

using namespace detail;  // NOLINT(build/namespaces): the codec's own internals

namespace {

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
          EncodePortStatus(m.version, b, out);
        } else if constexpr (std::is_same_v<T, MultipartRequest>) {
          EncodeMultipartRequest(b, out);
        } else if constexpr (std::is_same_v<T, BundleControl>) {
          EncodeBundleControl(m.version, b, out);
        } else if constexpr (std::is_same_v<T, BundleAdd>) {
          EncodeBundleAdd(m.version, b, max_size, out);
        } else if constexpr (std::is_same_v<T, GroupMod>) {
          Put16(out, b.command);
          Put8(out, b.type);
          PutZeros(out, 1);
          Put32(out, b.group_id);
          PutBytes(out, AsSpan(b.buckets));
        } else if constexpr (std::is_same_v<T, TlvTableMod>) {
          EncodeTlvTableMod(b, out);
        } else if constexpr (std::is_same_v<T, TlvTableRequest>) {
          EncodeTlvTableRequest(out);
        } else if constexpr (std::is_same_v<T, TlvTableReply>) {
          EncodeTlvTableReply(b, out);
        }
        // FeaturesRequest, GetConfigRequest, BarrierRequest/Reply: header only.
        // MultipartReply is handled by the caller (it may split).
      },
      m.body);
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

OfpResult<MessageBody> DecodeGroupMod(Reader& r) {
  if (r.left() < 8) return BadLen("GROUP_MOD");
  GroupMod gm;
  gm.command = r.U16();
  gm.type = r.U8();
  r.Skip(1);
  gm.group_id = r.U32();
  // Buckets are length-prefixed (ofp_bucket: len, weight, watch_port,
  // watch_group, pad, actions); check the framing so that the bytes kept
  // re-encode to the same message.
  auto buckets = r.Rest();
  for (size_t at = 0; at < buckets.size();) {
    if (buckets.size() - at < 16) return BadLen("GROUP_MOD bucket");
    size_t len = (size_t{buckets[at]} << 8) | buckets[at + 1];
    if (len < 16 || len % 8 || len > buckets.size() - at) return BadLen("GROUP_MOD bucket");
    at += len;
  }
  gm.buckets.assign(buckets.begin(), buckets.end());
  return gm;
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

}  // namespace

// ---------------------------------------------------------------------------
// Public functions.

const char* VersionName(uint8_t wire) {
  for (const VersionInfo& v : kVersions) {
    if (v.wire == wire) return v.name;
  }
  return nullptr;
}

std::optional<uint8_t> VersionFromName(std::string_view name) {
  for (const VersionInfo& v : kVersions) {
    if (name == v.name) return v.wire;
  }
  return std::nullopt;
}

OfpResult<uint32_t> VersionBitmapFromNames(const std::vector<std::string>& names) {
  if (names.empty()) return kSupportedVersions;
  uint32_t bitmap = 0;
  for (const std::string& name : names) {
    auto wire = VersionFromName(name);
    if (!wire) {
      std::string known;
      for (const VersionInfo& v : kVersions) known += fmt::format(" {}", v.name);
      return Fail(
          0, 0, fmt::format("OpenFlow protocol '{}' is not supported (hsw speaks{})", name, known));
    }
    bitmap |= 1u << *wire;
  }
  return bitmap;
}

uint8_t OfpMessage::type() const {
  if (version >= kVersion14) {
    if (std::holds_alternative<BundleControl>(body)) return msg::kBundleControl;
    if (std::holds_alternative<BundleAdd>(body)) return msg::kBundleAddMessage;
  }
  static constexpr uint8_t kTypes[] = {
      msg::kHello,           msg::kError,         msg::kEchoRequest,      msg::kEchoReply,
      msg::kFeaturesRequest, msg::kFeaturesReply, msg::kGetConfigRequest, msg::kGetConfigReply,
      msg::kSetConfig,       msg::kPacketIn,      msg::kFlowRemoved,      msg::kPortStatus,
      msg::kPacketOut,       msg::kFlowMod,       msg::kMultipartRequest, msg::kMultipartReply,
      msg::kBarrierRequest,  msg::kBarrierReply,  msg::kRoleRequest,      msg::kRoleReply,
      msg::kExperimenter,    msg::kExperimenter,  msg::kGroupMod,         msg::kExperimenter,
      msg::kExperimenter,    msg::kExperimenter};
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
  if (!VersionName(m.version)) {
    return Fail(err::kBadRequest, err::kBadRequestBadVersion,
                fmt::format("OpenFlow version 0x{:02x} is not supported (hsw speaks bitmap 0x{:x})",
                            m.version, kSupportedVersions));
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
    case msg::kPortStatus:
      body = DecodePortStatus(r, m.version);
      break;
    case msg::kGroupMod:
      body = DecodeGroupMod(r);
      break;
    case msg::kMultipartRequest:
      body = DecodeMultipartRequest(r, m.version);
      break;
    case msg::kMultipartReply:
      body = DecodeMultipartReply(r, m.version);
      break;
    case msg::kExperimenter:
      body = DecodeExperimenter(r, m.version);
      break;
    case msg::kBundleControl:
    case msg::kBundleAddMessage:
      // 1.3 has these numbers unassigned.
      if (m.version < kVersion14) {
        return Fail(err::kBadRequest, err::kBadRequestBadType,
                    fmt::format("message type {} does not exist in OpenFlow 1.3", type));
      }
      body = type == msg::kBundleControl ? DecodeBundleControl14(r) : DecodeBundleAdd14(r);
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
    if (VersionName(request[0])) m.version = request[0];
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
    Put32(id, error.experimenter ? error.experimenter : bundle::kOnfExperimenter);
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
  return HelloVersion(common);
}

uint8_t HelloVersion(uint32_t versions) {
  uint8_t version = 31;
  while (version > 0 && !(versions & (1u << version))) --version;
  return version;
}

}  // namespace hsw::ofp
