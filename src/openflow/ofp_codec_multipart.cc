// OpenFlow codec, part 2 of 5: multipart requests and replies, and the
// port structures that OpenFlow 1.4 changed (ofp_port and ofp_port_stats
// gained a length and properties).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "openflow/ofp_codec_internal.h"

namespace hsw::ofp {

using namespace detail;  // NOLINT(build/namespaces): the codec's own internals

namespace {

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

// ofp_port.  1.3: 64 fixed bytes.  1.4: port_no, length, hw_addr, name,
// config, state (40 bytes), then properties, of which hsw sends the one
// that carries what 1.3 had inline: OFPPDPT_ETHERNET (32 bytes).
constexpr size_t kPortDescSize = 64;
constexpr size_t kPort14FixedSize = 40;
constexpr size_t kPort14Size = kPort14FixedSize + 32;
constexpr uint16_t kPortDescPropEthernet = 0;
constexpr size_t kPortStatsSize = 112;
constexpr size_t kPortStats14FixedSize = 80;
constexpr size_t kPortStats14Size = kPortStats14FixedSize + 40;
constexpr uint16_t kPortStatsPropEthernet = 0;

void EncodePortDesc(uint8_t version, const PortDesc& port, std::vector<uint8_t>& out) {
  Put32(out, port.port_no);
  if (version >= kVersion14) {
    Put16(out, kPort14Size);
    PutZeros(out, 2);
  } else {
    PutZeros(out, 4);
  }
  PutBytes(out, port.hw_addr);
  PutZeros(out, 2);
  PutString(out, port.name, 16);
  Put32(out, port.config);
  Put32(out, port.state);
  if (version >= kVersion14) {
    Put16(out, kPortDescPropEthernet);
    Put16(out, 32);
    PutZeros(out, 4);
  }
  Put32(out, port.curr);
  Put32(out, port.advertised);
  Put32(out, port.supported);
  Put32(out, port.peer);
  Put32(out, port.curr_speed);
  Put32(out, port.max_speed);
}
void ReadPortEthernet(Reader& r, PortDesc& port) {
  port.curr = r.U32();
  port.advertised = r.U32();
  port.supported = r.U32();
  port.peer = r.U32();
  port.curr_speed = r.U32();
  port.max_speed = r.U32();
}

// The 1.3 ofp_port at r (the caller checked that 64 bytes are there).
PortDesc DecodePortDesc13(Reader& r) {
  PortDesc port;
  port.port_no = r.U32();
  r.Skip(4);
  auto mac = r.Bytes(6);
  std::copy(mac.begin(), mac.end(), port.hw_addr);
  r.Skip(2);
  port.name = r.String(16);
  port.config = r.U32();
  port.state = r.U32();
  ReadPortEthernet(r, port);
  return port;
}

// Walks the properties of a 1.4 structure: each is type, length (at least
// 4, padded to 8 on the wire); `fn(type, body)` sees the ones that fit.
template <class Fn>
OfpResult<void> ForEachProperty(std::span<const uint8_t> props, const char* what, Fn fn) {
  Reader r(props);
  while (r.left() > 0) {
    if (r.left() < 4) return BadLen(what);
    uint16_t type = r.U16();
    uint16_t len = r.U16();
    if (len < 4 || RoundUp8(len) - 4 > r.left()) return BadLen(what);
    Reader body(r.Bytes(len - 4u));
    r.Skip(RoundUp8(len) - len);
    fn(type, body);
  }
  return {};
}

// One 1.4 ofp_port at the start of `r`: its own length says where it ends.
// Properties other than ETHERNET (OPTICAL, experimenter) are skipped.
OfpResult<PortDesc> DecodePortDesc14(Reader& r) {
  if (r.left() < kPort14FixedSize) return BadLen("port description");
  auto head = r.Bytes(6);
  size_t len = (size_t{head[4]} << 8) | head[5];
  if (len < kPort14FixedSize || len % 8 || len - 6 > r.left()) {
    return BadLen("port description");
  }
  Reader p(r.Bytes(len - 6));
  PortDesc port;
  port.port_no =
      (uint32_t{head[0]} << 24) | (uint32_t{head[1]} << 16) | (uint32_t{head[2]} << 8) | head[3];
  p.Skip(2);
  auto mac = p.Bytes(6);
  std::copy(mac.begin(), mac.end(), port.hw_addr);
  p.Skip(2);
  port.name = p.String(16);
  port.config = p.U32();
  port.state = p.U32();
  auto ok = ForEachProperty(p.Rest(), "port description property", [&](uint16_t type, Reader& b) {
    if (type == kPortDescPropEthernet && b.left() >= 28) {
      b.Skip(4);
      ReadPortEthernet(b, port);
    }
  });
  if (!ok) return tl::unexpected(ok.error());
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

// ofp_port_stats.  1.4 moved the durations up front, gave the entry a
// length, and put the Ethernet error counters into a property.
void EncodePortStats(uint8_t version, const PortStats& ps, std::vector<uint8_t>& out) {
  if (version >= kVersion14) {
    Put16(out, kPortStats14Size);
    PutZeros(out, 2);
    Put32(out, ps.port_no);
    Put32(out, ps.duration_sec);
    Put32(out, ps.duration_nsec);
  } else {
    Put32(out, ps.port_no);
    PutZeros(out, 4);
  }
  Put64(out, ps.rx_packets);
  Put64(out, ps.tx_packets);
  Put64(out, ps.rx_bytes);
  Put64(out, ps.tx_bytes);
  Put64(out, ps.rx_dropped);
  Put64(out, ps.tx_dropped);
  Put64(out, ps.rx_errors);
  Put64(out, ps.tx_errors);
  if (version >= kVersion14) {
    Put16(out, kPortStatsPropEthernet);
    Put16(out, 40);
    PutZeros(out, 4);
  }
  PutZeros(out, 8 * 4);  // rx_frame_err, rx_over_err, rx_crc_err, collisions
  if (version < kVersion14) {
    Put32(out, ps.duration_sec);
    Put32(out, ps.duration_nsec);
  }
}

void ReadPortCounters(Reader& r, PortStats& ps) {
  ps.rx_packets = r.U64();
  ps.tx_packets = r.U64();
  ps.rx_bytes = r.U64();
  ps.tx_bytes = r.U64();
  ps.rx_dropped = r.U64();
  ps.tx_dropped = r.U64();
  ps.rx_errors = r.U64();
  ps.tx_errors = r.U64();
}

PortStats DecodePortStats13(Reader& r) {
  PortStats ps;
  ps.port_no = r.U32();
  r.Skip(4);
  ReadPortCounters(r, ps);
  r.Skip(8 * 4);
  ps.duration_sec = r.U32();
  ps.duration_nsec = r.U32();
  return ps;
}

// One 1.4 entry; `entry` is exactly its length.  hsw keeps no Ethernet
// error counters, so the property's values are not kept either.
OfpResult<PortStats> DecodePortStats14(std::span<const uint8_t> entry) {
  if (entry.size() < kPortStats14FixedSize) return BadLen("port stats entry");
  Reader r(entry);
  PortStats ps;
  r.Skip(4);
  ps.port_no = r.U32();
  ps.duration_sec = r.U32();
  ps.duration_nsec = r.U32();
  ReadPortCounters(r, ps);
  auto ok = ForEachProperty(r.Rest(), "port stats property", [](uint16_t, Reader&) {});
  if (!ok) return tl::unexpected(ok.error());
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

}  // namespace

namespace detail {

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
          auto one = [&](const PortStats& ps, std::vector<uint8_t>& o) {
            EncodePortStats(m.version, ps, o);
          };
          EncodeSplitReply(m, reply, body, one, max_size, out);
        } else if constexpr (std::is_same_v<T, std::vector<PortDesc>>) {
          auto one = [&](const PortDesc& pd, std::vector<uint8_t>& o) {
            EncodePortDesc(m.version, pd, o);
          };
          EncodeSplitReply(m, reply, body, one, max_size, out);
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
          } else if constexpr (std::is_same_v<T, GroupDescReply>) {
            PutBytes(out, AsSpan(body.entries));
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

OfpResult<MessageBody> DecodeMultipartRequest(Reader& r, uint8_t /*version*/) {
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
    case mp::kGroupDesc: {
      // 1.3 and 1.4 take no body (1.5 added a group_id).
      auto ok = expect_empty("GROUP_DESC request");
      if (!ok) return tl::unexpected(ok.error());
      req.body = GroupDescRequest{};
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

OfpResult<MessageBody> DecodeMultipartReply(Reader& r, uint8_t version) {
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
      auto ok =
          ForEachLengthPrefixed(r, 48 + 8, [&](std::span<const uint8_t> e) -> OfpResult<void> {
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
      std::vector<PortStats> ports;
      if (version >= kVersion14) {
        auto ok = ForEachLengthPrefixed(r, kPortStats14FixedSize,
                                        [&](std::span<const uint8_t> e) -> OfpResult<void> {
                                          auto ps = DecodePortStats14(e);
                                          if (!ps) return tl::unexpected(ps.error());
                                          ports.push_back(*ps);
                                          return {};
                                        });
        if (!ok) return tl::unexpected(ok.error());
      } else {
        if (r.left() % kPortStatsSize) return BadLen("PORT_STATS reply");
        while (r.left() > 0) ports.push_back(DecodePortStats13(r));
      }
      reply.body = std::move(ports);
      break;
    }
    case mp::kPortDesc: {
      std::vector<PortDesc> ports;
      if (version >= kVersion14) {
        while (r.left() > 0) {
          auto port = DecodePortDesc14(r);
          if (!port) return tl::unexpected(port.error());
          ports.push_back(*port);
        }
      } else {
        if (r.left() % kPortDescSize) return BadLen("PORT_DESC reply");
        while (r.left() > 0) ports.push_back(DecodePortDesc13(r));
      }
      reply.body = std::move(ports);
      break;
    }
    case mp::kGroupDesc: {
      auto entries = r.Rest();
      reply.body = GroupDescReply{std::vector<uint8_t>(entries.begin(), entries.end())};
      break;
    }
    case mp::kTableFeatures: {
      std::vector<TableFeatures> tables;
      auto ok = ForEachLengthPrefixed(r, kTableFeaturesFixedSize,
                                      [&](std::span<const uint8_t> e) -> OfpResult<void> {
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

void EncodePortStatus(uint8_t version, const PortStatus& status, std::vector<uint8_t>& out) {
  Put8(out, status.reason);
  PutZeros(out, 7);
  EncodePortDesc(version, status.desc, out);
}

OfpResult<MessageBody> DecodePortStatus(Reader& r, uint8_t version) {
  if (r.left() < 8) return BadLen("PORT_STATUS");
  PortStatus ps;
  ps.reason = r.U8();
  r.Skip(7);
  if (version >= kVersion14) {
    auto port = DecodePortDesc14(r);
    if (!port) return tl::unexpected(port.error());
    if (r.left() != 0) return BadLen("PORT_STATUS");
    ps.desc = *port;
  } else {
    if (r.left() != kPortDescSize) return BadLen("PORT_STATUS");
    ps.desc = DecodePortDesc13(r);
  }
  return ps;
}

}  // namespace detail

namespace {
// In the order of the variants' alternatives.
constexpr uint16_t kMultipartTypes[] = {mp::kDesc,          mp::kFlow,      mp::kAggregate,
                                        mp::kTable,         mp::kPortStats, mp::kPortDesc,
                                        mp::kTableFeatures, mp::kGroupDesc};
static_assert(std::size(kMultipartTypes) == std::variant_size_v<decltype(MultipartRequest::body)>);
static_assert(std::size(kMultipartTypes) == std::variant_size_v<decltype(MultipartReply::body)>);
}  // namespace

uint16_t MultipartRequest::mp_type() const { return kMultipartTypes[body.index()]; }

uint16_t MultipartReply::mp_type() const { return kMultipartTypes[body.index()]; }

}  // namespace hsw::ofp
