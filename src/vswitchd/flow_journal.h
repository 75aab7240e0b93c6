// FlowJournal: an append-only log of every committed OpenFlow table change,
// kept in <statedir>/flows.journal, so that hsw-vswitchd gets its tables back
// by itself after `kill -9` -- no save-flows beforehand and no controller to
// replay them.  hsw-vswitchd appends one record per committed batch (a
// flow-mod, an add-flows file, a bundle commit) or per cleared bridge, and on
// start replays the records in order onto empty tables.
//
// This module is the file format and its I/O only: it knows nothing of
// ofproto.  The caller decides what a record means when replayed (a
// kFlowMods record is one all-or-nothing batch; kClearBridge empties a
// bridge's tables) and when the history is long enough to Compact.
//
// On-disk format, version 1.  Integers of the journal's own framing are
// little-endian; the flow-mods inside are OpenFlow messages, big-endian as on
// the wire.
//
//   File header, 40 bytes:
//     0   8  magic "HSWJRNL\n"
//     8   4  u32 format version (1)
//    12  16  id: random bytes chosen when the file is created and kept across
//            compactions (shown as 32 lowercase hex characters)
//    28   8  u64 base seq: the seq before the first record (0 in a new file;
//            after a compaction, the seq reached before it, so that seqs never
//            go backwards even when a snapshot has no records)
//    36   4  u32 XXH32 (seed 0) of bytes 0..35
//   Then records, back to back, each:
//     0   4  u32 body length L (at most 1 GiB)
//     4   4  u32 XXH32 (seed 0) of the body
//     8   L  body:
//              u8  kind (1 = kFlowMods, 2 = kClearBridge)
//              u64 seq (strictly increasing through the file, > base seq)
//              u16 bridge name length N (1..255), then N bytes of name
//              u32 count of flow-mods (0 for kClearBridge)
//              count OpenFlow 1.3 OFPT_FLOW_MOD messages, each whole (8-byte
//              header included, xid 0), as ofp::Encode writes them; each
//              message's own header length delimits it.
//
// Durability model: the threat is process death, not power loss.  Each
// append is one write() to an O_APPEND descriptor, done before Append*
// returns, without fsync: data in the page cache survives `kill -9`, so a
// change acknowledged to a controller is in the journal.  A power loss can
// lose the last seconds of appends (`hsw-ctl save-flows` fsyncs its file when
// that matters).  A process killed in the middle of a write() leaves a torn
// last record; Open drops it (it was never acknowledged), truncates the file
// back to the last whole record and says so in JournalOpenResult::note.
// Torn means: the file ends inside a record's frame or body, the very last
// record's checksum does not match, or the rest of the file is zero bytes
// (what some filesystems show after a power loss for space allocated but not
// yet written).  (A length damaged so that it reaches past the end of the
// file cannot be told from a torn append, and is dropped the same way.)
// Anything else that is wrong with the file (bad magic or version, a bad
// checksum with more data after it, a body that does not parse, seqs that do
// not increase) is an error naming the file and byte offset, and Open then
// changes nothing on disk: the file may be the only copy of the tables.
// Compact writes a snapshot with WriteFileAtomic (tmp file, fsync, rename,
// directory fsync), so a crash leaves the old journal or the new one; a
// successful Open removes a .tmp left by a compaction that died.
//
// Not thread-safe: used from hsw-vswitchd's event loop only.  One process
// per file (hsw-vswitchd's instance lock, daemon::LockPath, ensures it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "openflow/ofp_types.h"

namespace hsw::vswitchd {

inline constexpr uint32_t kJournalFormatVersion = 1;

struct JournalPosition {
  std::string id;    // 32 hex chars, random, chosen when the file is created (kept by Compact)
  uint64_t seq = 0;  // seq of the last record written or read (0 = nothing ever written)
  bool operator==(const JournalPosition&) const = default;
};

struct JournalRecord {
  enum class Kind : uint8_t { kFlowMods = 1, kClearBridge = 2 };
  Kind kind = Kind::kFlowMods;
  uint64_t seq = 0;
  std::string bridge;
  std::vector<ofp::FlowMod> flow_mods;  // kFlowMods only: one committed batch, apply all or none
};

class FlowJournal;

struct JournalOpenResult {
  std::unique_ptr<FlowJournal> journal;
  std::vector<JournalRecord> records;  // everything to replay, in order
  bool created = false;                // the file did not exist: a new, empty journal
  // What recovery did to the file, for the log (e.g. "dropped an incomplete
  // last record (37 bytes at offset 1234): ..."); empty if nothing.
  std::string note;
};

class FlowJournal {
 public:
  // Opens `path`, creating it (with a fresh id) if missing, and reads every
  // record.  A torn last record is dropped and truncated away (see `note`);
  // any other damage is an error and leaves the file untouched.
  static Result<JournalOpenResult> Open(const std::string& path);

  // Append one record (one write(), no fsync).  Refused, with nothing
  // written, if a flow-mod would not read back as itself (e.g. too big for
  // one OpenFlow message), so that the journal never holds what Open cannot
  // read.  flow-mods are stored with buffer_id = OFP_NO_BUFFER: a buffered
  // packet is not table state.  After an error the journal is still usable:
  // the next append first cuts off whatever the failed one left.
  Status AppendFlowMods(const std::string& bridge, const std::vector<ofp::FlowMod>& flow_mods);
  Status AppendClearBridge(const std::string& bridge);

  // Rewrites the whole file as a snapshot: for each bridge, one kFlowMods
  // record of its rules as OFPFC_ADD flow-mods (the caller provides them).
  // Written to path + ".tmp", fsynced, renamed over path, directory fsynced.
  // The id is kept; seq continues (the snapshot records get new seqs).  On
  // an error before the rename nothing changed; if only reopening the new
  // file failed, the snapshot is the journal and the next append retries.
  Status Compact(const std::map<std::string, std::vector<ofp::FlowMod>>& bridges);

  // True once the flow-mods in the file (read at Open, appended since, or
  // written by the last Compact) exceed 2 * live_rules + 10000, so the file
  // is mostly history: the caller then calls Compact.
  bool NeedsCompaction(size_t live_rules) const;

  JournalPosition position() const { return {id_hex_, seq_}; }
  const std::string& path() const { return path_; }
  uint64_t size_bytes() const { return size_; }

  FlowJournal(const FlowJournal&) = delete;
  FlowJournal& operator=(const FlowJournal&) = delete;

 private:
  FlowJournal(std::string path, UniqueFd fd, std::string id, uint64_t seq, uint64_t size,
              size_t flow_mods_in_file);
  Status Append(JournalRecord::Kind kind, const std::string& bridge,
                const std::vector<ofp::FlowMod>& flow_mods);
  // Makes the descriptor point at `path_` and the file end at size_, after a
  // failed append or a failed reopen in Compact.
  Status Repair();

  std::string path_;
  UniqueFd fd_;         // O_WRONLY | O_APPEND; invalid after a failed reopen
  std::string id_;      // 16 raw bytes
  std::string id_hex_;  // the same as 32 hex chars
  uint64_t seq_ = 0;
  uint64_t size_ = 0;  // end of the last good record
  size_t flow_mods_in_file_ = 0;
  bool needs_repair_ = false;
};

}  // namespace hsw::vswitchd
