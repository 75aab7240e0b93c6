// The hsw release every binary reports (--version, hsw-ctl version, the
// datapath handshake), so that version skew between the daemons and the CLI
// is visible in one place; and what a binary tells an upgrade check about
// itself (`--version --json`, read by `hsw-ctl upgrade-check`).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/result.h"

namespace hsw {

// The release this binary reports.  Defined in its own object file,
// common/version_release.cc ("0.1.0"), so that an executable may define it
// itself and report another version from the same libraries: the linker takes
// an object out of a static library only for a symbol still undefined.  The
// tests' hsw-datapath-next does (src/apps/datapath_next_version.cc).
extern const char* const kVersion;

// The versions of one protocol or persistent format that a binary accepts:
// it writes or offers `max`, and reads or takes anything from `min`.
struct VersionRange {
  uint32_t min = 0;
  uint32_t max = 0;
  bool Contains(uint32_t v) const { return v >= min && v <= max; }
  // The highest version both ranges hold, or 0 when they do not meet (no
  // protocol or format has a version 0).
  uint32_t HighestCommon(const VersionRange& other) const {
    uint32_t top = std::min(max, other.max);
    return top >= std::max(min, other.min) ? top : 0;
  }
  bool operator==(const VersionRange&) const = default;
};

// Names used in `accepts`: "dpif" (datapath protocol), "handover" (datapath
// handover stream), "journal" (flows.journal), "config" (conf.json),
// "saved_flows" (save-flows directories).
struct BinaryVersion {
  std::string program;
  std::string version = kVersion;
  std::map<std::string, VersionRange> accepts;
  uint32_t flow_key_size = 0;  // 0: the binary handles no flow keys
};

std::string FormatVersionJson(const BinaryVersion& info);
// Parses another binary's `--version --json`; the error names what is wrong.
Result<BinaryVersion> ParseVersionJson(std::string_view text);
// "0.1.0" or "0.1.0 (dpif 1..1, handover 1..1)".
std::string DescribeVersion(const BinaryVersion& info);

}  // namespace hsw
