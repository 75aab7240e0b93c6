#include "vswitchd/flow_journal.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/random.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <utility>

#include "openflow/flow_text.h"
#include "openflow/ofp_codec.h"

namespace hsw::vswitchd {
namespace {

constexpr char kMagic[8] = {'H', 'S', 'W', 'J', 'R', 'N', 'L', '\n'};
constexpr size_t kIdSize = 16;
constexpr size_t kHeaderSize = 40;
constexpr size_t kHeaderChecksumOffset = 36;
constexpr size_t kFrameSize = 8;                  // u32 length + u32 checksum
constexpr uint32_t kMaxBody = uint32_t{1} << 30;  // 1 GiB
constexpr size_t kMaxBridgeName = 255;
// Fixed part of a body: kind, seq, name length, count.
constexpr size_t kBodyFixedSize = 1 + 8 + 2 + 4;

void Put8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
void Put16(std::string& out, uint16_t v) {
  for (int i = 0; i < 2; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void Put32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void Put64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void Set32(std::string& out, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[at + i] = static_cast<char>(v >> (8 * i));
}

uint64_t GetLe(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint32_t Checksum(const void* data, size_t size) { return XXH32(data, size, 0); }

std::string Hex(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) out += fmt::format("{:02x}", c);
  return out;
}

Result<std::string> RandomId() {
  std::string id(kIdSize, '\0');
  size_t got = 0;
  while (got < id.size()) {
    ssize_t n = getrandom(id.data() + got, id.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoErr("getrandom");
    }
    got += static_cast<size_t>(n);
  }
  return id;
}

std::string Header(const std::string& id, uint64_t base_seq) {
  std::string out(kMagic, sizeof(kMagic));
  Put32(out, kJournalFormatVersion);
  out += id;
  Put64(out, base_seq);
  Put32(out, Checksum(out.data(), out.size()));
  return out;
}

bool SameFlowMod(const ofp::FlowMod& a, const ofp::FlowMod& b) {
  return a.cookie == b.cookie && a.cookie_mask == b.cookie_mask && a.table_id == b.table_id &&
         a.command == b.command && a.idle_timeout == b.idle_timeout &&
         a.hard_timeout == b.hard_timeout && a.priority == b.priority &&
         a.buffer_id == b.buffer_id && a.out_port == b.out_port && a.out_group == b.out_group &&
         a.flags == b.flags && a.match == b.match && a.instructions == b.instructions;
}

// Appends one framed record to `out`.  Every flow-mod is decoded back and
// compared before anything is written: a record that Open would refuse must
// never reach the file, since it would stop hsw-vswitchd from starting.
Status EncodeRecord(JournalRecord::Kind kind, uint64_t seq, const std::string& bridge,
                    const std::vector<ofp::FlowMod>& flow_mods, std::string& out) {
  if (bridge.empty() || bridge.size() > kMaxBridgeName) {
    return Err("bridge name '{}' is not 1 to {} bytes long", bridge, kMaxBridgeName);
  }
  size_t start = out.size();
  Put32(out, 0);  // length and checksum, filled in below
  Put32(out, 0);
  Put8(out, static_cast<uint8_t>(kind));
  Put64(out, seq);
  Put16(out, static_cast<uint16_t>(bridge.size()));
  out += bridge;
  Put32(out, static_cast<uint32_t>(flow_mods.size()));
  for (size_t i = 0; i < flow_mods.size(); ++i) {
    ofp::FlowMod stored = flow_mods[i];
    stored.buffer_id = ofp::kNoBuffer;
    std::vector<uint8_t> wire = ofp::Encode(ofp::OfpMessage{ofp::kVersion13, 0, stored});
    auto decoded = ofp::Decode(wire);
    const ofp::FlowMod* back = decoded ? std::get_if<ofp::FlowMod>(&decoded->body) : nullptr;
    if (!back || !SameFlowMod(*back, stored)) {
      out.resize(start);
      std::string text = ofp::FormatFlowMod(flow_mods[i]);
      if (text.size() > 200) text = text.substr(0, 200) + "...";
      return Err(
          "bridge {}: flow-mod {} ('{}', {} bytes as OpenFlow) does not read back from "
          "OpenFlow 1.3 as itself{}",
          bridge, i, text, wire.size(), decoded ? "" : fmt::format(": {}", decoded.error().detail));
    }
    out.append(reinterpret_cast<const char*>(wire.data()), wire.size());
    if (out.size() - start - kFrameSize > kMaxBody) {
      out.resize(start);
      return Err("bridge {}: a record of {} flow-mods is over the 1 GiB record limit", bridge,
                 flow_mods.size());
    }
  }
  size_t body_size = out.size() - start - kFrameSize;
  Set32(out, start, static_cast<uint32_t>(body_size));
  Set32(out, start + 4, Checksum(out.data() + start + kFrameSize, body_size));
  return Ok();
}

// Reads a record body; `base` is the body's offset in the file (for errors).
class BodyReader {
 public:
  BodyReader(std::span<const uint8_t> body, uint64_t base) : body_(body), base_(base) {}
  size_t left() const { return body_.size() - pos_; }
  uint64_t offset() const { return base_ + pos_; }
  bool Has(size_t n) const { return left() >= n; }
  uint64_t Le(int n) {
    uint64_t v = GetLe(body_.data() + pos_, n);
    pos_ += static_cast<size_t>(n);
    return v;
  }
  std::span<const uint8_t> Rest() const { return body_.subspan(pos_); }
  std::span<const uint8_t> Take(size_t n) {
    auto s = body_.subspan(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  std::span<const uint8_t> body_;
  size_t pos_ = 0;
  uint64_t base_;
};

struct ParsedJournal {
  std::string id;
  uint64_t seq = 0;
  uint64_t good_size = 0;  // end of the last whole record
  size_t flow_mods = 0;
  std::vector<JournalRecord> records;
  std::string note;
};

// Parses the body of the record at `offset`.  `prev_seq` is the seq it must exceed.
Result<JournalRecord> ParseBody(const std::string& path, uint64_t offset,
                                std::span<const uint8_t> body, uint64_t prev_seq) {
  auto fail = [&](std::string what) {
    return MakeError(fmt::format("{}: record at offset {}: {}", path, offset, what));
  };
  BodyReader r(body, offset + kFrameSize);
  if (!r.Has(kBodyFixedSize)) {
    return fail(fmt::format("body of {} bytes is shorter than the {} of a record's fixed part",
                            body.size(), kBodyFixedSize));
  }
  JournalRecord record;
  uint8_t kind = static_cast<uint8_t>(r.Le(1));
  if (kind != static_cast<uint8_t>(JournalRecord::Kind::kFlowMods) &&
      kind != static_cast<uint8_t>(JournalRecord::Kind::kClearBridge)) {
    return fail(fmt::format("unknown record kind {}", kind));
  }
  record.kind = static_cast<JournalRecord::Kind>(kind);
  record.seq = r.Le(8);
  if (record.seq <= prev_seq) {
    return fail(fmt::format("seq {} does not follow seq {}", record.seq, prev_seq));
  }
  size_t name_size = r.Le(2);
  if (name_size == 0 || !r.Has(name_size + 4)) {
    return fail(fmt::format("bridge name length {} does not fit the body", name_size));
  }
  auto name = r.Take(name_size);
  record.bridge.assign(name.begin(), name.end());
  uint32_t count = static_cast<uint32_t>(r.Le(4));
  if (record.kind == JournalRecord::Kind::kClearBridge && count != 0) {
    return fail(fmt::format("clear-bridge record carries {} flow-mods", count));
  }
  // Each message is at least an 8-byte header, which bounds the reservation.
  record.flow_mods.reserve(std::min<size_t>(count, r.left() / ofp::kHeaderSize));
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t at = r.offset();
    if (!r.Has(ofp::kHeaderSize)) {
      return fail(fmt::format("flow-mod {} of {} (offset {}): body ends", i, count, at));
    }
    // Each message's own (big-endian) OpenFlow length delimits it.
    std::span<const uint8_t> rest = r.Rest();
    size_t length = (size_t{rest[2]} << 8) | rest[3];
    if (length < ofp::kHeaderSize || length > rest.size()) {
      return fail(
          fmt::format("flow-mod {} of {} (offset {}): OpenFlow length {} with {} bytes left", i,
                      count, at, length, rest.size()));
    }
    auto decoded = ofp::Decode(r.Take(length));
    if (!decoded) {
      return fail(
          fmt::format("flow-mod {} of {} (offset {}): {}", i, count, at, decoded.error().detail));
    }
    auto* flow_mod = std::get_if<ofp::FlowMod>(&decoded->body);
    if (!flow_mod) {
      return fail(fmt::format("flow-mod {} of {} (offset {}): message type {}, not FLOW_MOD", i,
                              count, at, ofp::MessageTypeName(decoded->type())));
    }
    record.flow_mods.push_back(std::move(*flow_mod));
  }
  if (r.left() != 0) {
    return fail(fmt::format("{} unexpected bytes after the last flow-mod (offset {})", r.left(),
                            r.offset()));
  }
  return record;
}

bool AllZero(std::span<const uint8_t> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}

// Parses a whole journal file.  Pure: deciding what to truncate is left to
// the caller, so that an error leaves the file as it was.
Result<ParsedJournal> ParseJournal(const std::string& path, std::span<const uint8_t> file) {
  if (file.size() < sizeof(kMagic) || std::memcmp(file.data(), kMagic, sizeof(kMagic)) != 0) {
    return Err("{}: not an hsw flow journal (no \"HSWJRNL\" magic at offset 0)", path);
  }
  if (file.size() < sizeof(kMagic) + 4) {
    return Err("{}: {} bytes, shorter than the {}-byte journal header", path, file.size(),
               kHeaderSize);
  }
  uint32_t version = static_cast<uint32_t>(GetLe(file.data() + 8, 4));
  if (version != kJournalFormatVersion) {
    return Err("{}: journal format version {}; this hsw-vswitchd reads version {}", path, version,
               kJournalFormatVersion);
  }
  if (file.size() < kHeaderSize) {
    return Err("{}: {} bytes, shorter than the {}-byte journal header", path, file.size(),
               kHeaderSize);
  }
  if (Checksum(file.data(), kHeaderChecksumOffset) !=
      GetLe(file.data() + kHeaderChecksumOffset, 4)) {
    return Err("{}: header checksum mismatch (offset {}): the file is damaged", path,
               kHeaderChecksumOffset);
  }
  ParsedJournal parsed;
  parsed.id.assign(reinterpret_cast<const char*>(file.data() + 12), kIdSize);
  parsed.seq = GetLe(file.data() + 28, 8);

  uint64_t offset = kHeaderSize;
  while (offset < file.size()) {
    uint64_t left = file.size() - offset;
    const uint8_t* frame = file.data() + offset;
    if (left < kFrameSize) {
      parsed.note = fmt::format(
          "dropped an incomplete last record ({} bytes at offset {}): written by a process "
          "that died mid-write",
          left, offset);
      break;
    }
    uint32_t length = static_cast<uint32_t>(GetLe(frame, 4));
    uint32_t checksum = static_cast<uint32_t>(GetLe(frame + 4, 4));
    if (length > kMaxBody) {
      return Err(
          "{}: record at offset {}: body length {} is over the 1 GiB limit (a corrupt "
          "length)",
          path, offset, length);
    }
    if (length > left - kFrameSize) {
      parsed.note = fmt::format(
          "dropped an incomplete last record ({} bytes at offset {}, {} announced): written by "
          "a process that died mid-write",
          left, offset, kFrameSize + length);
      break;
    }
    std::span<const uint8_t> body(frame + kFrameSize, length);
    if (Checksum(body.data(), body.size()) != checksum) {
      if (left == kFrameSize + length) {
        parsed.note = fmt::format(
            "dropped the last record ({} bytes at offset {}): its checksum does not match, an "
            "append cut short by a crash",
            left, offset);
        break;
      }
      // Zeros to the end are what some filesystems show after a power loss
      // for space allocated but not yet written: the same torn tail.
      if (AllZero(file.subspan(offset))) {
        parsed.note = fmt::format(
            "dropped {} zero bytes at the end (offset {}): an append lost to a power failure", left,
            offset);
        break;
      }
      return Err(
          "{}: record at offset {}: checksum mismatch with {} more bytes after it: the "
          "file is damaged",
          path, offset, left - kFrameSize - length);
    }
    HSW_ASSIGN_OR_RETURN(JournalRecord record, ParseBody(path, offset, body, parsed.seq));
    parsed.seq = record.seq;
    parsed.flow_mods += record.flow_mods.size();
    parsed.records.push_back(std::move(record));
    offset += kFrameSize + length;
  }
  parsed.good_size = offset;
  return parsed;
}

}  // namespace

FlowJournal::FlowJournal(std::string path, UniqueFd fd, std::string id, uint64_t seq, uint64_t size,
                         size_t flow_mods_in_file)
    : path_(std::move(path)),
      fd_(std::move(fd)),
      id_(std::move(id)),
      id_hex_(Hex(id_)),
      seq_(seq),
      size_(size),
      flow_mods_in_file_(flow_mods_in_file) {}

Result<JournalOpenResult> FlowJournal::Open(const std::string& path) {
  JournalOpenResult result;
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  if (!fd && errno == ENOENT) {
    // Created whole by rename, so no reader ever sees a file without a header.
    HSW_ASSIGN_OR_RETURN(std::string id, RandomId());
    HSW_TRY(WriteFileAtomic(path, Header(id, 0)));
    fd.Reset(open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    result.created = true;
  }
  if (!fd) return ErrnoErr("open {}", path);
  HSW_ASSIGN_OR_RETURN(std::string content, ReadFile(path));
  HSW_ASSIGN_OR_RETURN(
      ParsedJournal parsed,
      ParseJournal(path,
                   std::span(reinterpret_cast<const uint8_t*>(content.data()), content.size())));
  if (parsed.good_size < content.size()) {
    if (ftruncate(fd.get(), static_cast<off_t>(parsed.good_size)) < 0) {
      return ErrnoErr("{}: truncate to {} bytes to drop a torn last record", path,
                      parsed.good_size);
    }
  }
  // A snapshot left by a compaction that died before its rename.
  unlink((path + ".tmp").c_str());
  result.note = std::move(parsed.note);
  result.records = std::move(parsed.records);
  result.journal.reset(new FlowJournal(path, std::move(fd), std::move(parsed.id), parsed.seq,
                                       parsed.good_size, parsed.flow_mods));
  return result;
}

Status FlowJournal::AppendFlowMods(const std::string& bridge,
                                   const std::vector<ofp::FlowMod>& flow_mods) {
  return Append(JournalRecord::Kind::kFlowMods, bridge, flow_mods);
}

Status FlowJournal::AppendClearBridge(const std::string& bridge) {
  return Append(JournalRecord::Kind::kClearBridge, bridge, {});
}

Status FlowJournal::Append(JournalRecord::Kind kind, const std::string& bridge,
                           const std::vector<ofp::FlowMod>& flow_mods) {
  std::string record;
  HSW_TRY(EncodeRecord(kind, seq_ + 1, bridge, flow_mods, record));
  if (needs_repair_) HSW_TRY(Repair());
  // One write(): a process killed during it leaves at most one torn record at
  // the end, which Open recognises.
  ssize_t n;
  do {
    n = write(fd_.get(), record.data(), record.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0 || static_cast<size_t>(n) != record.size()) {
    // Part of the record may be in the file: cut it off before the next
    // append, or it would sit in the middle where Open calls it damage.
    needs_repair_ = true;
    if (n < 0) return ErrnoErr("append {} bytes to {}", record.size(), path_);
    return Err("append to {}: wrote only {} of {} bytes", path_, n, record.size());
  }
  ++seq_;
  size_ += record.size();
  flow_mods_in_file_ += flow_mods.size();
  return Ok();
}

Status FlowJournal::Repair() {
  if (!fd_) {
    fd_.Reset(open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    if (!fd_) return ErrnoErr("reopen {}", path_);
  }
  if (ftruncate(fd_.get(), static_cast<off_t>(size_)) < 0) {
    return ErrnoErr("truncate {} back to {} bytes after a failed append", path_, size_);
  }
  needs_repair_ = false;
  return Ok();
}

Status FlowJournal::Compact(const std::map<std::string, std::vector<ofp::FlowMod>>& bridges) {
  std::string content = Header(id_, seq_);
  uint64_t seq = seq_;
  size_t flow_mods = 0;
  for (const auto& [bridge, bridge_flow_mods] : bridges) {
    HSW_TRY(EncodeRecord(JournalRecord::Kind::kFlowMods, ++seq, bridge, bridge_flow_mods, content));
    flow_mods += bridge_flow_mods.size();
  }
  if (auto written = WriteFileAtomic(path_, content); !written) {
    unlink((path_ + ".tmp").c_str());
    return MakeError(fmt::format("compact {}: {}", path_, written.error().message),
                     written.error().code);
  }
  // From here the snapshot is the journal, whatever happens next; the
  // descriptor still points at the old, now unlinked file.
  fd_.Reset();
  seq_ = seq;
  size_ = content.size();
  flow_mods_in_file_ = flow_mods;
  needs_repair_ = true;
  return Repair();
}

bool FlowJournal::NeedsCompaction(size_t live_rules) const {
  return flow_mods_in_file_ > 2 * live_rules + 10000;
}

}  // namespace hsw::vswitchd
