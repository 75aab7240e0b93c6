#include "dpif/dpif_codec.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>

namespace hsw::dpif {
namespace {

// Action record kinds on the wire.  Never renumber: a peer of another build
// reads these numbers.
enum class ActionKind : uint16_t {
  kOutput = 1,
  kSetMasked = 2,
  kPushVlan = 3,
  kPopVlan = 4,
  kUserspace = 5,
};

// Limits that keep a hostile or buggy peer from making us allocate much more
// than the message it sent.  Every count is also checked against the bytes
// left (count * smallest element size), so a count cannot outrun its message.
constexpr uint32_t kMaxNameSize = 4096;          // port names, types, client names
constexpr uint32_t kMaxErrorMessageSize = 65536;  // ErrorReply::message
constexpr uint32_t kMaxPacketSize = 65536 + 256;  // a GSO frame plus headers
constexpr uint32_t kMaxActionsSize = 65536;       // encoded actions of one flow
constexpr uint32_t kMaxCount = 1u << 20;          // elements of any one list

constexpr size_t kKeySize = sizeof(FlowKey);
constexpr size_t kActionHeaderSize = 4;
constexpr size_t kPortStatsSize = 8 * 8;
constexpr size_t kFlowStatsSize = 8 * 3 + 2;
// Smallest encodings, for the count checks.
constexpr size_t kMinPortInfoSize = 4 + 4 + 4 + 4 + 6 + 4 + 1 + kPortStatsSize;
constexpr size_t kMinFlowPutSize = 2 * kKeySize + 4 + 4;
constexpr size_t kMinDpFlowSize = 2 * kKeySize + 4 + kFlowStatsSize;
constexpr size_t kMinExecuteSize = 4 + 4 + 4;
constexpr size_t kMinCounterSize = 4 + 8;

// ---------------------------------------------------------------------------
// Writer

class Writer {
 public:
  explicit Writer(std::vector<uint8_t>& out) : out_(out) {}

  void U8(uint8_t v) { out_.push_back(v); }
  void U16(uint16_t v) { Le(v); }
  void U32(uint32_t v) { Le(v); }
  void U64(uint64_t v) { Le(v); }
  void I32(int32_t v) { Le(static_cast<uint32_t>(v)); }
  void Raw(const void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    out_.insert(out_.end(), p, p + size);
  }
  void Str(const std::string& s) {
    U32(static_cast<uint32_t>(s.size()));
    Raw(s.data(), s.size());
  }
  void Bytes(const std::vector<uint8_t>& b) {
    U32(static_cast<uint32_t>(b.size()));
    Raw(b.data(), b.size());
  }
  void Key(const FlowKey& key) { Raw(&key, kKeySize); }
  size_t size() const { return out_.size(); }
  // Overwrites a u32 written earlier at `pos` (length fields known only later).
  void PatchU32(size_t pos, uint32_t v) {
    for (int i = 0; i < 4; ++i) out_[pos + i] = static_cast<uint8_t>(v >> (8 * i));
  }

 private:
  template <class T>
  void Le(T v) {
    for (size_t i = 0; i < sizeof(T); ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t>& out_;
};

void PutPortStats(Writer& w, const PortStats& s) {
  for (uint64_t v : {s.rx_packets, s.rx_bytes, s.rx_dropped, s.rx_errors, s.tx_packets, s.tx_bytes,
                     s.tx_dropped, s.tx_errors}) {
    w.U64(v);
  }
}

void PutPortInfo(Writer& w, const PortInfo& p) {
  w.U32(p.port_no);
  w.Str(p.name);
  w.Str(p.type);
  w.U32(p.ifindex);
  w.Raw(p.hw_addr, 6);
  w.U32(p.mtu);
  w.U8(p.link_up ? 1 : 0);
  PutPortStats(w, p.stats);
}

void PutFlowStats(Writer& w, const FlowStats& s) {
  w.U64(s.n_packets);
  w.U64(s.n_bytes);
  w.U64(s.used_ms);
  w.U16(s.tcp_flags);
}

// Actions inside a message: u32 size, then the records.
void PutActions(Writer& w, std::vector<uint8_t>& out, const DpActions& actions) {
  size_t pos = w.size();
  w.U32(0);
  size_t start = out.size();
  EncodeActions(actions, out);
  w.PatchU32(pos, static_cast<uint32_t>(out.size() - start));
}

void PutDpFlow(Writer& w, std::vector<uint8_t>& out, const DpFlow& f) {
  w.Key(f.key);
  w.Key(f.mask);
  PutActions(w, out, f.actions);
  PutFlowStats(w, f.stats);
}

// ---------------------------------------------------------------------------
// Reader: bounds-checked cursor with a sticky first error.  After an error
// every read returns zeros, so decoders read straight through and check once;
// loops stop early via ok().

class Reader {
 public:
  Reader(std::span<const uint8_t> bytes, std::string context)
      : data_(bytes.data()), size_(bytes.size()), context_(std::move(context)) {}

  bool ok() const { return !failed_; }
  size_t remaining() const { return size_ - pos_; }
  const std::string& error() const { return error_; }

  // Names the list element being decoded, for error messages ("puts[3].key").
  void Enter(const char* list, size_t index) {
    list_ = list;
    index_ = index;
  }
  void Leave() { list_ = nullptr; }

  uint8_t U8(const char* field) {
    uint8_t v = 0;
    Le(field, v);
    return v;
  }
  uint16_t U16(const char* field) {
    uint16_t v = 0;
    Le(field, v);
    return v;
  }
  uint32_t U32(const char* field) {
    uint32_t v = 0;
    Le(field, v);
    return v;
  }
  uint64_t U64(const char* field) {
    uint64_t v = 0;
    Le(field, v);
    return v;
  }
  int32_t I32(const char* field) { return static_cast<int32_t>(U32(field)); }
  bool Bool(const char* field) {
    uint8_t v = U8(field);
    if (v > 1) Fail(field, fmt::format("boolean is {}, expected 0 or 1", v));
    return v == 1;
  }

  // Returns a view of the next `size` bytes, or an empty span (and an error).
  std::span<const uint8_t> Take(const char* field, size_t size) {
    if (failed_) return {};
    if (size > remaining()) {
      Fail(field, fmt::format("truncated: needs {} bytes, {} left", size, remaining()));
      return {};
    }
    std::span<const uint8_t> s(data_ + pos_, size);
    pos_ += size;
    return s;
  }
  void Raw(const char* field, void* out, size_t size) {
    auto s = Take(field, size);
    if (!s.empty()) std::memcpy(out, s.data(), size);
  }
  FlowKey Key(const char* field) {
    FlowKey key = FlowKey::Zero();
    Raw(field, &key, kKeySize);
    return key;
  }
  // A u32 size prefix checked against `max` and against the bytes left.
  uint32_t Size(const char* field, uint32_t max) {
    uint32_t n = U32(field);
    if (failed_) return 0;
    if (n > max) {
      Fail(field, fmt::format("size {} exceeds the limit of {}", n, max));
      return 0;
    }
    if (n > remaining()) {
      Fail(field, fmt::format("truncated: size {} but {} bytes left", n, remaining()));
      return 0;
    }
    return n;
  }
  std::string Str(const char* field, uint32_t max = kMaxNameSize) {
    uint32_t n = Size(field, max);
    auto s = Take(field, n);
    return std::string(reinterpret_cast<const char*>(s.data()), s.size());
  }
  std::vector<uint8_t> Bytes(const char* field, uint32_t max) {
    uint32_t n = Size(field, max);
    auto s = Take(field, n);
    return std::vector<uint8_t>(s.begin(), s.end());
  }
  // An element count: bounded by kMaxCount and by what the remaining bytes
  // could hold, so reserve(count) is never larger than the input justifies.
  uint32_t Count(const char* field, size_t min_element_size) {
    uint32_t n = U32(field);
    if (failed_) return 0;
    if (n > kMaxCount) {
      Fail(field, fmt::format("count {} exceeds the limit of {}", n, kMaxCount));
      return 0;
    }
    if (min_element_size && n > remaining() / min_element_size) {
      Fail(field, fmt::format("count {} cannot fit in the {} bytes left", n, remaining()));
      return 0;
    }
    return n;
  }
  // Actions: u32 size then records, decoded by DecodeActions.
  DpActions Actions(const char* field) {
    uint32_t n = Size(field, kMaxActionsSize);
    auto s = Take(field, n);
    if (failed_) return {};
    auto actions = DecodeActions(s);
    if (!actions) {
      Fail(field, actions.error().message);
      return {};
    }
    return std::move(*actions);
  }

  void Fail(const char* field, std::string what) {
    if (failed_) return;
    failed_ = true;
    if (list_) {
      error_ = fmt::format("{}: {}[{}].{}: {}", context_, list_, index_, field, what);
    } else {
      error_ = fmt::format("{}: {}: {}", context_, field, what);
    }
  }
  // Everything must be consumed: trailing bytes mean the peer and we disagree
  // about the layout, which is safer to refuse than to ignore.
  void ExpectEnd() {
    if (!failed_ && remaining() != 0) {
      failed_ = true;
      error_ = fmt::format("{}: {} unexpected trailing bytes", context_, remaining());
    }
  }

 private:
  template <class T>
  void Le(const char* field, T& v) {
    auto s = Take(field, sizeof(T));
    if (s.empty()) return;
    std::make_unsigned_t<T> u = 0;
    for (size_t i = 0; i < sizeof(T); ++i) u |= static_cast<std::make_unsigned_t<T>>(s[i]) << (8 * i);
    v = static_cast<T>(u);
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string context_;
  bool failed_ = false;
  std::string error_;
  const char* list_ = nullptr;
  size_t index_ = 0;
};

PortStats GetPortStats(Reader& r) {
  PortStats s;
  s.rx_packets = r.U64("stats.rx_packets");
  s.rx_bytes = r.U64("stats.rx_bytes");
  s.rx_dropped = r.U64("stats.rx_dropped");
  s.rx_errors = r.U64("stats.rx_errors");
  s.tx_packets = r.U64("stats.tx_packets");
  s.tx_bytes = r.U64("stats.tx_bytes");
  s.tx_dropped = r.U64("stats.tx_dropped");
  s.tx_errors = r.U64("stats.tx_errors");
  return s;
}

std::vector<PortInfo> GetPortInfos(Reader& r) {
  uint32_t n = r.Count("n_ports", kMinPortInfoSize);
  std::vector<PortInfo> ports;
  ports.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    r.Enter("ports", i);
    PortInfo p;
    p.port_no = r.U32("port_no");
    p.name = r.Str("name");
    p.type = r.Str("type");
    p.ifindex = r.U32("ifindex");
    r.Raw("hw_addr", p.hw_addr, 6);
    p.mtu = r.U32("mtu");
    p.link_up = r.Bool("link_up");
    p.stats = GetPortStats(r);
    ports.push_back(std::move(p));
  }
  r.Leave();
  return ports;
}

FlowStats GetFlowStats(Reader& r) {
  FlowStats s;
  s.n_packets = r.U64("stats.n_packets");
  s.n_bytes = r.U64("stats.n_bytes");
  s.used_ms = r.U64("stats.used_ms");
  s.tcp_flags = r.U16("stats.tcp_flags");
  return s;
}

DpFlow GetDpFlow(Reader& r) {
  DpFlow f;
  f.key = r.Key("key");
  f.mask = r.Key("mask");
  f.actions = r.Actions("actions");
  f.stats = GetFlowStats(r);
  return f;
}

// ---------------------------------------------------------------------------
// Bodies

struct Encoder {
  Writer& w;
  std::vector<uint8_t>& out;
  bool reply;  // replies to PortDel and Execute carry no payload

  void operator()(const Hello& m) {
    w.U32(m.version_min);
    w.U32(m.version_max);
    w.U32(m.flow_key_size);
    w.U8(static_cast<uint8_t>(m.role));
    w.Str(m.client_name);
  }
  void operator()(const HelloReply& m) {
    w.U32(m.version);
    w.U32(m.flow_key_size);
    w.U32(m.datapath_pid);
    w.U64(m.instance_id);
    w.Str(m.datapath_version);
    w.U32(m.n_flows);
  }
  void operator()(const ErrorReply& m) { w.Str(m.message); }
  void operator()(const PortAdd& m) {
    w.Str(m.name);
    w.Str(m.type);
    w.U32(m.port_no);
  }
  void operator()(const PortAddReply& m) { w.U32(m.port_no); }
  void operator()(const PortDel& m) {
    if (!reply) w.U32(m.port_no);
  }
  void operator()(const PortList&) {}
  void operator()(const PortListReply& m) {
    w.U32(static_cast<uint32_t>(m.ports.size()));
    for (const auto& p : m.ports) PutPortInfo(w, p);
  }
  void operator()(const FlowPutBatch& m) {
    w.U32(static_cast<uint32_t>(m.puts.size()));
    for (const auto& p : m.puts) {
      w.Key(p.key);
      w.Key(p.mask);
      w.U32(p.flags);
      PutActions(w, out, p.actions);
    }
  }
  void operator()(const FlowPutBatchReply& m) {
    w.U32(static_cast<uint32_t>(m.errors.size()));
    for (int32_t e : m.errors) w.I32(e);
  }
  void operator()(const FlowDelBatch& m) {
    w.U32(static_cast<uint32_t>(m.flows.size()));
    for (const auto& f : m.flows) {
      w.Key(f.key);
      w.Key(f.mask);
    }
  }
  void operator()(const FlowDelBatchReply& m) {
    w.U32(static_cast<uint32_t>(m.results.size()));
    for (const auto& r : m.results) {
      w.I32(r.error);
      PutFlowStats(w, r.stats);
    }
  }
  void operator()(const FlowGet& m) {
    w.Key(m.flow.key);
    w.Key(m.flow.mask);
  }
  void operator()(const FlowGetReply& m) { PutDpFlow(w, out, m.flow); }
  void operator()(const FlowDump&) {}
  void operator()(const FlowDumpReply& m) {
    w.U32(static_cast<uint32_t>(m.flows.size()));
    for (const auto& f : m.flows) PutDpFlow(w, out, f);
  }
  void operator()(const FlowFlush&) {}
  void operator()(const UpcallPause&) {}
  void operator()(const UpcallPauseReply& m) { w.U64(m.n_upcalls); }
  void operator()(const ExecuteBatch& m) {
    if (reply) return;
    w.U32(static_cast<uint32_t>(m.packets.size()));
    for (const auto& e : m.packets) {
      w.U32(e.in_port);
      w.Bytes(e.packet);
      PutActions(w, out, e.actions);
    }
  }
  void operator()(const Upcall& m) {
    w.U8(static_cast<uint8_t>(m.type));
    w.U32(m.in_port);
    w.Key(m.key);
    w.Bytes(m.userdata);
    w.Bytes(m.packet);
    w.U64(m.queued_us);
  }
  void operator()(const StatsGet&) {}
  void operator()(const StatsReply& m) {
    w.U32(static_cast<uint32_t>(m.counters.size()));
    for (const auto& [name, value] : m.counters) {
      w.Str(name);
      w.U64(value);
    }
    w.U32(static_cast<uint32_t>(m.ports.size()));
    for (const auto& p : m.ports) PutPortInfo(w, p);
  }
};

Hello DecodeHello(Reader& r) {
  Hello m;
  m.version_min = r.U32("version_min");
  m.version_max = r.U32("version_max");
  m.flow_key_size = r.U32("flow_key_size");
  uint8_t role = r.U8("role");
  if (r.ok() && role > static_cast<uint8_t>(Role::kMonitor)) {
    r.Fail("role", fmt::format("unknown role {}", role));
  }
  m.role = static_cast<Role>(role);
  m.client_name = r.Str("client_name");
  return m;
}

HelloReply DecodeHelloReply(Reader& r) {
  HelloReply m;
  m.version = r.U32("version");
  m.flow_key_size = r.U32("flow_key_size");
  m.datapath_pid = r.U32("datapath_pid");
  m.instance_id = r.U64("instance_id");
  m.datapath_version = r.Str("datapath_version");
  m.n_flows = r.U32("n_flows");
  return m;
}

PortAdd DecodePortAdd(Reader& r) {
  PortAdd m;
  m.name = r.Str("name");
  m.type = r.Str("type");
  m.port_no = r.U32("port_no");
  return m;
}

FlowPutBatch DecodeFlowPutBatch(Reader& r) {
  FlowPutBatch m;
  uint32_t n = r.Count("n_puts", kMinFlowPutSize);
  m.puts.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    r.Enter("puts", i);
    dpif::FlowPut p;
    p.key = r.Key("key");
    p.mask = r.Key("mask");
    p.flags = r.U32("flags");
    p.actions = r.Actions("actions");
    m.puts.push_back(std::move(p));
  }
  r.Leave();
  return m;
}

FlowPutBatchReply DecodeFlowPutBatchReply(Reader& r) {
  FlowPutBatchReply m;
  uint32_t n = r.Count("n_errors", 4);
  m.errors.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    r.Enter("errors", i);
    int32_t e = r.I32("error");
    if (r.ok() && e < 0) r.Fail("error", fmt::format("negative errno {}", e));
    m.errors.push_back(e);
  }
  r.Leave();
  return m;
}

FlowDelBatch DecodeFlowDelBatch(Reader& r) {
  FlowDelBatch m;
  uint32_t n = r.Count("n_flows", 2 * kKeySize);
  m.flows.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    r.Enter("flows", i);
    FlowId f;
    f.key = r.Key("key");
    f.mask = r.Key("mask");
    m.flows.push_back(f);
  }
  r.Leave();
  return m;
}

FlowDelBatchReply DecodeFlowDelBatchReply(Reader& r) {
  FlowDelBatchReply m;
  uint32_t n = r.Count("n_results", 4 + kFlowStatsSize);
  m.results.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    r.Enter("results", i);
    FlowDelResult res;
    res.error = r.I32("error");
    if (r.ok() && res.error < 0) r.Fail("error", fmt::format("negative errno {}", res.error));
    res.stats = GetFlowStats(r);
    m.results.push_back(res);
  }
  r.Leave();
  return m;
}

FlowDumpReply DecodeFlowDumpReply(Reader& r) {
  FlowDumpReply m;
  uint32_t n = r.Count("n_flows", kMinDpFlowSize);
  m.flows.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    r.Enter("flows", i);
    m.flows.push_back(GetDpFlow(r));
  }
  r.Leave();
  return m;
}

ExecuteBatch DecodeExecuteBatch(Reader& r) {
  ExecuteBatch m;
  uint32_t n = r.Count("n_packets", kMinExecuteSize);
  m.packets.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    r.Enter("packets", i);
    dpif::Execute e;
    e.in_port = r.U32("in_port");
    e.packet = r.Bytes("packet", kMaxPacketSize);
    e.actions = r.Actions("actions");
    m.packets.push_back(std::move(e));
  }
  r.Leave();
  return m;
}

Upcall DecodeUpcall(Reader& r) {
  Upcall m;
  uint8_t type = r.U8("type");
  if (r.ok() && type > static_cast<uint8_t>(UpcallType::kAction)) {
    r.Fail("type", fmt::format("unknown upcall type {}", type));
  }
  m.type = static_cast<UpcallType>(type);
  m.in_port = r.U32("in_port");
  m.key = r.Key("key");
  m.userdata = r.Bytes("userdata", kDpUserdataMaxSize);
  m.packet = r.Bytes("packet", kMaxPacketSize);
  m.queued_us = r.U64("queued_us");
  return m;
}

StatsReply DecodeStatsReply(Reader& r) {
  StatsReply m;
  uint32_t n = r.Count("n_counters", kMinCounterSize);
  m.counters.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    r.Enter("counters", i);
    std::string name = r.Str("name");
    uint64_t value = r.U64("value");
    m.counters.emplace_back(std::move(name), value);
  }
  r.Leave();
  m.ports = GetPortInfos(r);
  return m;
}

Body DecodeBody(MsgType type, bool reply, Reader& r) {
  switch (type) {
    case MsgType::kHello:
      if (reply) return DecodeHelloReply(r);
      return DecodeHello(r);
    case MsgType::kPortAdd:
      if (reply) return PortAddReply{r.U32("port_no")};
      return DecodePortAdd(r);
    case MsgType::kPortDel:
      if (reply) return PortDel{};
      return PortDel{r.U32("port_no")};
    case MsgType::kPortList:
      if (reply) return PortListReply{GetPortInfos(r)};
      return PortList{};
    case MsgType::kFlowPut:
      if (reply) return DecodeFlowPutBatchReply(r);
      return DecodeFlowPutBatch(r);
    case MsgType::kFlowDel:
      if (reply) return DecodeFlowDelBatchReply(r);
      return DecodeFlowDelBatch(r);
    case MsgType::kFlowGet:
      if (reply) return FlowGetReply{GetDpFlow(r)};
      {
        FlowGet m;
        m.flow.key = r.Key("key");
        m.flow.mask = r.Key("mask");
        return m;
      }
    case MsgType::kFlowDump:
      if (reply) return DecodeFlowDumpReply(r);
      return FlowDump{};
    case MsgType::kExecute:
      if (reply) return ExecuteBatch{};
      return DecodeExecuteBatch(r);
    case MsgType::kUpcall:
      return DecodeUpcall(r);
    case MsgType::kStatsGet:
      if (reply) return DecodeStatsReply(r);
      return StatsGet{};
    case MsgType::kFlowFlush:
      return FlowFlush{};
    case MsgType::kUpcallPause:
      if (reply) return UpcallPauseReply{r.U64("n_upcalls")};
      return UpcallPause{};
  }
  return FlowFlush{};  // unreachable: the type was checked by the caller
}

bool KnownType(uint16_t type) {
  return type >= static_cast<uint16_t>(MsgType::kHello) &&
         type <= static_cast<uint16_t>(MsgType::kUpcallPause);
}

void PutHeader(std::vector<uint8_t>& out, MsgType type, uint32_t xid, uint16_t flags,
               int32_t error) {
  Writer w(out);
  w.U32(0);  // length, patched when the payload is known
  w.U16(static_cast<uint16_t>(type));
  w.U16(flags);
  w.U32(xid);
  w.I32(error);
}

void FinishLength(std::vector<uint8_t>& out) {
  Writer w(out);
  w.PatchU32(0, static_cast<uint32_t>(out.size()));
}

MsgHeader ParseHeader(const uint8_t* p) {
  auto u16 = [&](size_t o) { return static_cast<uint16_t>(p[o] | (p[o + 1] << 8)); };
  auto u32 = [&](size_t o) {
    return static_cast<uint32_t>(p[o]) | (static_cast<uint32_t>(p[o + 1]) << 8) |
           (static_cast<uint32_t>(p[o + 2]) << 16) | (static_cast<uint32_t>(p[o + 3]) << 24);
  };
  MsgHeader h;
  h.length = u32(0);
  h.type = u16(4);
  h.flags = u16(6);
  h.xid = u32(8);
  h.error = static_cast<int32_t>(u32(12));
  return h;
}

// Checks what can be checked from the header alone.
Status CheckHeader(const MsgHeader& h) {
  if (h.length < sizeof(MsgHeader)) {
    return Err("datapath message: length {} is shorter than the {}-byte header", h.length,
               sizeof(MsgHeader));
  }
  if (h.length > kMaxMessageSize) {
    return Err("datapath message (type {}): length {} exceeds the maximum of {}", h.type,
               h.length, kMaxMessageSize);
  }
  if (!KnownType(h.type)) return Err("datapath message: unknown type {}", h.type);
  const char* name = MsgTypeName(static_cast<MsgType>(h.type));
  if (h.flags & ~(kFlagReply | kFlagMore)) {
    return Err("{} message: unknown flags {:#x}", name, h.flags);
  }
  bool reply = h.flags & kFlagReply;
  if ((h.flags & kFlagMore) && !reply) return Err("{} request: 'more' flag set on a request", name);
  // Only a dump is answered in chunks; an error ends any reply at once.
  if ((h.flags & kFlagMore) && static_cast<MsgType>(h.type) != MsgType::kFlowDump) {
    return Err("{} reply: 'more' flag set, but only FlowDump replies come in parts", name);
  }
  if ((h.flags & kFlagMore) && h.error != 0) {
    return Err("{} error reply: 'more' flag set on an error reply", name);
  }
  if (h.error < 0) return Err("{} message: negative error {}", name, h.error);
  if (h.error != 0 && !reply) return Err("{} request: error {} set on a request", name, h.error);
  if (static_cast<MsgType>(h.type) == MsgType::kUpcall && reply) {
    return Err("Upcall message: upcalls have no reply");
  }
  return Ok();
}

}  // namespace

MsgType TypeOf(const Body& body) {
  struct Visitor {
    MsgType operator()(const Hello&) { return MsgType::kHello; }
    MsgType operator()(const HelloReply&) { return MsgType::kHello; }
    // An error reply takes the type of the request it answers, which only
    // the caller knows: use EncodeErrorReply.
    MsgType operator()(const ErrorReply&) { return static_cast<MsgType>(0); }
    MsgType operator()(const PortAdd&) { return MsgType::kPortAdd; }
    MsgType operator()(const PortAddReply&) { return MsgType::kPortAdd; }
    MsgType operator()(const PortDel&) { return MsgType::kPortDel; }
    MsgType operator()(const PortList&) { return MsgType::kPortList; }
    MsgType operator()(const PortListReply&) { return MsgType::kPortList; }
    MsgType operator()(const FlowPutBatch&) { return MsgType::kFlowPut; }
    MsgType operator()(const FlowPutBatchReply&) { return MsgType::kFlowPut; }
    MsgType operator()(const FlowDelBatch&) { return MsgType::kFlowDel; }
    MsgType operator()(const FlowDelBatchReply&) { return MsgType::kFlowDel; }
    MsgType operator()(const FlowGet&) { return MsgType::kFlowGet; }
    MsgType operator()(const FlowGetReply&) { return MsgType::kFlowGet; }
    MsgType operator()(const FlowDump&) { return MsgType::kFlowDump; }
    MsgType operator()(const FlowDumpReply&) { return MsgType::kFlowDump; }
    MsgType operator()(const FlowFlush&) { return MsgType::kFlowFlush; }
    MsgType operator()(const ExecuteBatch&) { return MsgType::kExecute; }
    MsgType operator()(const Upcall&) { return MsgType::kUpcall; }
    MsgType operator()(const StatsGet&) { return MsgType::kStatsGet; }
    MsgType operator()(const StatsReply&) { return MsgType::kStatsGet; }
    MsgType operator()(const UpcallPause&) { return MsgType::kUpcallPause; }
    MsgType operator()(const UpcallPauseReply&) { return MsgType::kUpcallPause; }
  };
  return std::visit(Visitor{}, body);
}

const char* MsgTypeName(MsgType type) {
  switch (type) {
    case MsgType::kHello: return "Hello";
    case MsgType::kPortAdd: return "PortAdd";
    case MsgType::kPortDel: return "PortDel";
    case MsgType::kPortList: return "PortList";
    case MsgType::kFlowPut: return "FlowPut";
    case MsgType::kFlowDel: return "FlowDel";
    case MsgType::kFlowGet: return "FlowGet";
    case MsgType::kFlowDump: return "FlowDump";
    case MsgType::kExecute: return "Execute";
    case MsgType::kUpcall: return "Upcall";
    case MsgType::kStatsGet: return "StatsGet";
    case MsgType::kFlowFlush: return "FlowFlush";
    case MsgType::kUpcallPause: return "UpcallPause";
  }
  return "Unknown";
}

std::vector<uint8_t> EncodeMessage(const Body& body, uint32_t xid, uint16_t flags,
                                   int32_t error) {
  std::vector<uint8_t> out;
  out.reserve(64);
  PutHeader(out, TypeOf(body), xid, flags, error);
  Writer w(out);
  std::visit(Encoder{w, out, (flags & kFlagReply) != 0}, body);
  FinishLength(out);
  return out;
}

std::vector<uint8_t> EncodeErrorReply(MsgType type, uint32_t xid, int32_t error,
                                      const std::string& message) {
  std::vector<uint8_t> out;
  PutHeader(out, type, xid, kFlagReply, error);
  Writer w(out);
  // A message longer than the decoder accepts would turn a useful error into
  // a protocol failure; cut it instead.
  w.Str(message.size() > kMaxErrorMessageSize ? message.substr(0, kMaxErrorMessageSize) : message);
  FinishLength(out);
  return out;
}

Result<Message> DecodeMessage(std::span<const uint8_t> bytes) {
  if (bytes.size() < sizeof(MsgHeader)) {
    return Err("datapath message: {} bytes is shorter than the {}-byte header", bytes.size(),
               sizeof(MsgHeader));
  }
  Message msg;
  msg.header = ParseHeader(bytes.data());
  const MsgHeader& h = msg.header;
  HSW_TRY(CheckHeader(h));
  auto type = static_cast<MsgType>(h.type);
  bool reply = h.flags & kFlagReply;
  if (h.length != bytes.size()) {
    return Err("{} {}: header length {} but the message has {} bytes", MsgTypeName(type),
               reply ? "reply" : "request", h.length, bytes.size());
  }
  std::string context = fmt::format("{} {}", MsgTypeName(type),
                                    h.error ? "error reply" : (reply ? "reply" : "request"));
  Reader r(bytes.subspan(sizeof(MsgHeader)), std::move(context));
  if (h.error != 0) {
    msg.body = ErrorReply{r.Str("message", kMaxErrorMessageSize)};
  } else {
    msg.body = DecodeBody(type, reply, r);
  }
  r.ExpectEnd();
  if (!r.ok()) return MakeError(r.error(), EPROTO);
  return msg;
}

void MessageReader::Append(const uint8_t* data, size_t size) {
  // Drop consumed bytes before growing, so the buffer holds at most one
  // partial message plus what has just arrived.
  if (offset_ > 0 && (offset_ == buffer_.size() || offset_ >= 65536)) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<ptrdiff_t>(offset_));
    offset_ = 0;
  }
  buffer_.insert(buffer_.end(), data, data + size);
}

Result<std::optional<Message>> MessageReader::Next() {
  if (buffered() < sizeof(MsgHeader)) return std::optional<Message>();
  MsgHeader h = ParseHeader(buffer_.data() + offset_);
  // A bad length means the framing is lost; nothing after it can be trusted.
  if (h.length < sizeof(MsgHeader) || h.length > kMaxMessageSize) {
    return MakeError(
        fmt::format("datapath stream: message length {} is outside [{}, {}] (type {})", h.length,
                    sizeof(MsgHeader), kMaxMessageSize, h.type),
        EPROTO);
  }
  if (buffered() < h.length) return std::optional<Message>();
  std::span<const uint8_t> bytes(buffer_.data() + offset_, h.length);
  // Step past the message even if it does not decode: the framing is intact,
  // so a caller that wants to answer with an error and go on may do so.
  offset_ += h.length;
  auto msg = DecodeMessage(bytes);
  if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  }
  if (!msg) return tl::unexpected(msg.error());
  return std::optional<Message>(std::move(*msg));
}

void EncodeActions(const DpActions& actions, std::vector<uint8_t>& out) {
  Writer w(out);
  struct Visitor {
    Writer& w;
    void operator()(const DpOutput& a) {
      w.U16(static_cast<uint16_t>(ActionKind::kOutput));
      w.U16(4);
      w.U32(a.port);
    }
    void operator()(const DpSetMasked& a) {
      w.U16(static_cast<uint16_t>(ActionKind::kSetMasked));
      w.U16(static_cast<uint16_t>(2 * kKeySize));
      w.Key(a.value);
      w.Key(a.mask);
    }
    void operator()(const DpPushVlan& a) {
      w.U16(static_cast<uint16_t>(ActionKind::kPushVlan));
      w.U16(4);
      w.U16(a.tpid);
      w.U16(a.tci);
    }
    void operator()(const DpPopVlan&) {
      w.U16(static_cast<uint16_t>(ActionKind::kPopVlan));
      w.U16(0);
    }
    void operator()(const DpUserspace& a) {
      w.U16(static_cast<uint16_t>(ActionKind::kUserspace));
      // Longer userdata is invalid; writing its true length lets the peer
      // reject it rather than silently truncating it here.
      w.U16(static_cast<uint16_t>(std::min<size_t>(a.userdata.size(), 0xffff)));
      w.Raw(a.userdata.data(), std::min<size_t>(a.userdata.size(), 0xffff));
    }
  };
  for (const auto& a : actions) std::visit(Visitor{w}, a);
}

Result<DpActions> DecodeActions(std::span<const uint8_t> bytes) {
  if (bytes.size() > kMaxActionsSize) {
    return MakeError(fmt::format("actions: {} bytes exceeds the limit of {}", bytes.size(),
                                 kMaxActionsSize),
                     EPROTO);
  }
  DpActions actions;
  size_t i = 0;
  for (size_t n = 0; i < bytes.size(); ++n) {
    if (bytes.size() - i < kActionHeaderSize) {
      return MakeError(fmt::format("action {}: truncated header ({} bytes left)", n,
                                   bytes.size() - i),
                       EPROTO);
    }
    uint16_t kind = static_cast<uint16_t>(bytes[i] | (bytes[i + 1] << 8));
    uint16_t len = static_cast<uint16_t>(bytes[i + 2] | (bytes[i + 3] << 8));
    i += kActionHeaderSize;
    if (len > bytes.size() - i) {
      return MakeError(fmt::format("action {} (kind {}): length {} but {} bytes left", n, kind,
                                   len, bytes.size() - i),
                       EPROTO);
    }
    Reader r(bytes.subspan(i, len), fmt::format("action {}", n));
    auto want = [&](const char* name, size_t size) {
      if (len != size) {
        r.Fail(name, fmt::format("length {}, expected {}", len, size));
        return false;
      }
      return true;
    };
    switch (static_cast<ActionKind>(kind)) {
      case ActionKind::kOutput:
        if (want("output", 4)) actions.push_back(DpOutput{r.U32("output.port")});
        break;
      case ActionKind::kSetMasked:
        if (want("set", 2 * kKeySize)) {
          DpSetMasked s;
          s.value = r.Key("set.value");
          s.mask = r.Key("set.mask");
          actions.push_back(s);
        }
        break;
      case ActionKind::kPushVlan:
        if (want("push_vlan", 4)) {
          DpPushVlan p;
          p.tpid = r.U16("push_vlan.tpid");
          p.tci = r.U16("push_vlan.tci");
          actions.push_back(p);
        }
        break;
      case ActionKind::kPopVlan:
        if (want("pop_vlan", 0)) actions.push_back(DpPopVlan{});
        break;
      case ActionKind::kUserspace:
        if (len > kDpUserdataMaxSize) {
          r.Fail("userspace", fmt::format("userdata of {} bytes exceeds the limit of {}", len,
                                          kDpUserdataMaxSize));
        } else {
          auto s = r.Take("userspace.userdata", len);
          actions.push_back(DpUserspace{std::vector<uint8_t>(s.begin(), s.end())});
        }
        break;
      default:
        return MakeError(fmt::format("action {}: unknown kind {}", n, kind), EPROTO);
    }
    if (!r.ok()) return MakeError(r.error(), EPROTO);
    i += len;
  }
  return actions;
}

}  // namespace hsw::dpif
