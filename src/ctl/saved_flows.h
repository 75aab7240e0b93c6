// The saved-flows directory: every bridge's OpenFlow tables on disk, written
// by `hsw-ctl save-flows DIR` (and `stop --save-flows`, `restart`) and read
// back by `restore-flows DIR` (and `start --restore-flows`).
//
// Layout of DIR:
//
//   DIR/manifest.json   what the save holds, and how to check it:
//     {"format": "hsw-saved-flows", "format_version": 1,
//      "hsw_version": "0.1.0", "created": "2025-04-04T10:27:24.123Z",
//      "journal": {"id": "<32 hex>", "seq": N},
//      "bridges": [{"name": "br0", "file": "br0.flows", "n_flows": 2,
//                   "bytes": 123, "xxh3_128": "<32 hex>"}]}
//   DIR/<bridge>.flows  one per bridge: a '#' comment line (bridge, time, hsw
//                       version), then one flow per line in ovs-ofctl syntax,
//                       so `ovs-ofctl add-flows br0 DIR/br0.flows` loads it too.
//
// "journal" is where hsw-vswitchd's own journal of table changes stood when
// the tables were taken; `start` compares it with the daemon's to recognise a
// save older than the journal.  "xxh3_128" is XXH3_128bits of the whole
// file, printed as its canonical (big-endian) bytes in hex, the same digits as
// `xxh128sum`.  A reader accepts format_version 1 only and ignores members it
// does not know, so later writers can add some without a version bump.
//
// Atomicity: the writer builds DIR.tmp (fsyncing every file and the
// directory), then swaps it into place with renameat2(RENAME_EXCHANGE) (or a
// plain rename when DIR does not exist) and fsyncs the parent.  A crash or a
// failure at any point leaves either the old DIR or the new one, never a mix;
// a DIR.tmp left by a crash is removed by the next save.  The reader checks
// everything (manifest, sizes, checksums) before anyone acts on the content.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace hsw::ctl {

// The manifest's format_version: written by this build, the only one it reads.
inline constexpr int kSavedFlowsFormatVersion = 1;

// A position in hsw-vswitchd's journal of table changes.
struct JournalPosition {
  std::string id;  // the journal's identity; a new journal gets a new id
  uint64_t seq = 0;
  bool operator==(const JournalPosition&) const = default;
};

// What save-flows writes: the daemon's reply, in C++.
struct FlowsToSave {
  JournalPosition journal;
  struct Bridge {
    std::string name;
    // The rules in ovs-ofctl flow text, one per '\n'-terminated line.
    std::string text;
    uint64_t n_flows = 0;
  };
  std::vector<Bridge> bridges;
  uint64_t TotalFlows() const;
};

// What ReadSavedFlows returns: the manifest, and each bridge's file text
// ready for the daemon's restore-flows.
struct SavedFlows {
  std::string hsw_version;
  std::string created;
  JournalPosition journal;
  struct Bridge {
    std::string name;
    std::string path;  // DIR/<file>, for the daemon's error messages
    std::string text;  // the whole file, checked against the manifest
    uint64_t n_flows = 0;
  };
  std::vector<Bridge> bridges;
  uint64_t TotalFlows() const;
};

// Parses hsw-vswitchd's reply to `save-flows` with {"payload": true}:
// {"journal": {...}, "bridges": [{"name", "n_flows", "size"}]}, and the
// bridges' flow text, `size` bytes each in turn, in `payload`.
Result<FlowsToSave> FlowsFromSaveReply(const nlohmann::json& reply, std::string_view payload);

// Writes `flows` to `dir` as described above, replacing any previous save
// atomically.  Missing parent directories are created.
Status WriteSavedFlows(const std::string& dir, const FlowsToSave& flows);

// Reads and verifies `dir`.  Errors name the file and the problem, e.g.
// "DIR/br0.flows: checksum mismatch (the file was changed or truncated after
// the save)".
Result<SavedFlows> ReadSavedFlows(const std::string& dir);

// XXH3_128bits of `data` in hex (32 digits), as written in the manifest.
std::string Xxh3Hex(std::string_view data);
// The same of the `parts` one after the other, as if they were one string.
std::string Xxh3Hex(std::initializer_list<std::string_view> parts);

}  // namespace hsw::ctl
