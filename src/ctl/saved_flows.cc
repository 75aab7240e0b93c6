#include "ctl/saved_flows.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <set>
#include <type_traits>

#include "common/fd.h"
#include "common/version.h"

namespace hsw::ctl {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kFormat = "hsw-saved-flows";
constexpr const char* kManifest = "manifest.json";

// "2025-04-04T10:27:24.123Z": the same layout as the daemons' log lines.
std::string UtcNow() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", text, static_cast<int>(ms % 1000));
}

// A bridge's name becomes a file name, so it must not reach outside DIR.
Status CheckBridgeName(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name.find('\0') != std::string::npos ||
      name == "." || name == "..") {
    return Err("bridge name '{}' cannot be used as a file name", name);
  }
  return Ok();
}

// Comment and blank lines are what ovs-ofctl skips; everything else is a flow.
uint64_t CountFlowLines(std::string_view text) {
  uint64_t n = 0;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    size_t first = line.find_first_not_of(" \t\r");
    if (first != std::string_view::npos && line[first] != '#') ++n;
  }
  return n;
}

// The comment line that opens a bridge's file.
std::string FlowFileHeader(const FlowsToSave::Bridge& bridge, const std::string& created) {
  return fmt::format("# hsw saved flows: bridge {}, {} flows, {}, hsw {}\n", bridge.name,
                     bridge.n_flows, created, kVersion);
}

// One rule per line is the whole file format: a line break inside a rule
// would split it in two, a trailing backslash would join it to the next
// (ovs-ofctl's continuation), a '\r' would be read as the end of the line.
Status CheckOneFlowPerLine(const FlowsToSave::Bridge& bridge) {
  std::string_view text = bridge.text;
  if (!text.empty() && text.back() != '\n') {
    return Err("bridge {}: the flow text does not end with a line break", bridge.name);
  }
  uint64_t n_lines = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    std::string_view flow = text.substr(start, end - start);
    if (flow.empty() || flow.back() == '\\' || flow.find('\r') != std::string_view::npos) {
      return Err("bridge {}: flow '{}' cannot be written as one line", bridge.name, flow);
    }
    ++n_lines;
    start = end + 1;
  }
  if (n_lines != bridge.n_flows) {
    return Err("bridge {}: {} lines of flow text for {} flows (a flow cannot be written as one "
               "line)",
               bridge.name, n_lines, bridge.n_flows);
  }
  return Ok();
}

// Creates `name` in the directory `dir_fd` with the `parts` one after the
// other, on disk when it returns.  O_EXCL: the temporary directory is ours
// alone.
Status WriteNewFile(int dir_fd, const std::string& dir, const std::string& name,
                    std::initializer_list<std::string_view> parts) {
  std::string path = dir + "/" + name;
  UniqueFd fd(openat(dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) return ErrnoErr("cannot create {}", path);
  for (std::string_view part : parts) {
    if (auto written = WriteAll(fd.get(), part.data(), part.size()); !written) {
      return MakeError(fmt::format("cannot write {}", path), written.error().code);
    }
  }
  if (fsync(fd.get()) < 0) return ErrnoErr("cannot fsync {}", path);
  if (close(fd.Release()) < 0) return ErrnoErr("cannot close {}", path);
  return Ok();
}

Status FsyncDirectory(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return ErrnoErr("cannot open directory {}", path);
  if (fsync(fd.get()) < 0) return ErrnoErr("cannot fsync directory {}", path);
  return Ok();
}

Status RemoveTree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return MakeError(fmt::format("cannot remove {}", path), ec.value());
  return Ok();
}

std::string ParentOf(const std::string& dir) {
  std::string parent = fs::path(dir).lexically_normal().parent_path().string();
  return parent.empty() ? "." : parent;
}

// Fills the (new, empty) directory `tmp`: the bridges' files, then the
// manifest that vouches for them, then the directory entries themselves.
Status FillDirectory(const std::string& tmp, const FlowsToSave& flows) {
  UniqueFd dir_fd(open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) return ErrnoErr("cannot open directory {}", tmp);
  std::string created = UtcNow();
  json bridges = json::array();
  for (const FlowsToSave::Bridge& bridge : flows.bridges) {
    // The header and the daemon's text go to the file as they are, not
    // copied into one string: the text is megabytes.
    std::string header = FlowFileHeader(bridge, created);
    std::string file = bridge.name + ".flows";
    HSW_TRY(WriteNewFile(dir_fd.get(), tmp, file, {header, bridge.text}));
    bridges.push_back({{"name", bridge.name},
                       {"file", file},
                       {"n_flows", bridge.n_flows},
                       {"bytes", header.size() + bridge.text.size()},
                       {"xxh3_128", Xxh3Hex({header, bridge.text})}});
  }
  json manifest = {{"format", kFormat},
                   {"format_version", kSavedFlowsFormatVersion},
                   {"hsw_version", kVersion},
                   {"created", created},
                   {"journal", {{"id", flows.journal.id}, {"seq", flows.journal.seq}}},
                   {"bridges", bridges}};
  HSW_TRY(WriteNewFile(dir_fd.get(), tmp, kManifest, {manifest.dump(2) + "\n"}));
  if (fsync(dir_fd.get()) < 0) return ErrnoErr("cannot fsync directory {}", tmp);
  return Ok();
}

// Puts the complete `tmp` where `dir` is.  With an existing `dir`,
// RENAME_EXCHANGE swaps the two in one step, so `dir` is never missing; the
// old save, now at `tmp`, is removed afterwards.
Status SwapIntoPlace(const std::string& tmp, const std::string& dir) {
  struct stat st {};
  if (lstat(dir.c_str(), &st) < 0) {
    if (errno != ENOENT) return ErrnoErr("cannot stat {}", dir);
    if (rename(tmp.c_str(), dir.c_str()) < 0) return ErrnoErr("cannot rename {} to {}", tmp, dir);
    return Ok();
  }
  if (!S_ISDIR(st.st_mode)) return Err("{} exists and is not a directory", dir);
  if (renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) < 0) {
    return ErrnoErr("cannot exchange {} and {}", tmp, dir);
  }
  return RemoveTree(tmp);
}

// Helpers for reading: each error names the file.
// nlohmann converts between number kinds silently (-1 -> 2^64-1), so
// integers are checked by kind first; other types throw on a mismatch.
template <class T>
Result<T> Member(const json& object, const std::string& where, const char* key) {
  auto it = object.find(key);
  if (it == object.end()) return Err("{}: '{}' is missing", where, key);
  bool kind_ok = true;
  if constexpr (std::is_same_v<T, uint64_t>) {
    kind_ok = it->is_number_unsigned() || (it->is_number_integer() && it->get<int64_t>() >= 0);
  }
  if constexpr (std::is_same_v<T, int64_t>) kind_ok = it->is_number_integer();
  try {
    if (kind_ok) return it->get<T>();
  } catch (const json::exception&) {
  }
  return Err("{}: '{}' has the wrong type ({})", where, key, it->dump().substr(0, 80));
}

Result<json> ReadManifest(const std::string& dir) {
  std::string path = dir + "/" + kManifest;
  struct stat st {};
  if (stat(dir.c_str(), &st) < 0) return ErrnoErr("{}: cannot read the saved flows", dir);
  if (!S_ISDIR(st.st_mode)) return Err("{}: not a directory", dir);
  auto text = ReadFile(path);
  if (!text) {
    if (text.error().code == ENOENT) return Err("{}: missing (not a saved-flows directory?)", path);
    return MakeError(fmt::format("{}: cannot read", path), text.error().code);
  }
  json manifest;
  try {
    manifest = json::parse(*text);
  } catch (const json::parse_error& e) {
    return Err("{}: not valid JSON: {}", path, e.what());
  }
  if (!manifest.is_object()) return Err("{}: not a JSON object", path);
  HSW_ASSIGN_OR_RETURN(std::string format, Member<std::string>(manifest, path, "format"));
  if (format != kFormat) return Err("{}: format '{}' is not '{}'", path, format, kFormat);
  HSW_ASSIGN_OR_RETURN(int64_t version, Member<int64_t>(manifest, path, "format_version"));
  if (version != kSavedFlowsFormatVersion) {
    return Err("{}: format version {} is not supported (this hsw-ctl reads {})", path, version,
               kSavedFlowsFormatVersion);
  }
  return manifest;
}

// Reads one bridge's file and checks it against its manifest entry.
Result<SavedFlows::Bridge> ReadBridge(const std::string& dir, const json& entry,
                                      const std::string& where) {
  if (!entry.is_object()) return Err("{}: not an object", where);
  SavedFlows::Bridge bridge;
  HSW_ASSIGN_OR_RETURN(bridge.name, Member<std::string>(entry, where, "name"));
  HSW_ASSIGN_OR_RETURN(std::string file, Member<std::string>(entry, where, "file"));
  HSW_ASSIGN_OR_RETURN(bridge.n_flows, Member<uint64_t>(entry, where, "n_flows"));
  HSW_ASSIGN_OR_RETURN(uint64_t bytes, Member<uint64_t>(entry, where, "bytes"));
  HSW_ASSIGN_OR_RETURN(std::string checksum, Member<std::string>(entry, where, "xxh3_128"));
  if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..") {
    return Err("{}: file '{}' is not a file name inside the directory", where, file);
  }
  bridge.path = dir + "/" + file;
  auto text = ReadFile(bridge.path);
  if (!text) {
    if (text.error().code == ENOENT)
      return Err("{}: missing (listed in the manifest)", bridge.path);
    return MakeError(fmt::format("{}: cannot read", bridge.path), text.error().code);
  }
  bridge.text = std::move(*text);
  if (bridge.text.size() != bytes) {
    return Err(
        "{}: {} bytes, the manifest says {} (the file was changed or truncated after the "
        "save)",
        bridge.path, bridge.text.size(), bytes);
  }
  if (Xxh3Hex(bridge.text) != checksum) {
    return Err("{}: checksum mismatch (the file was changed or truncated after the save)",
               bridge.path);
  }
  if (uint64_t n = CountFlowLines(bridge.text); n != bridge.n_flows) {
    return Err("{}: {} flows, the manifest says {}", bridge.path, n, bridge.n_flows);
  }
  return bridge;
}

}  // namespace

uint64_t SavedFlows::TotalFlows() const {
  uint64_t n = 0;
  for (const Bridge& bridge : bridges) n += bridge.n_flows;
  return n;
}

uint64_t FlowsToSave::TotalFlows() const {
  uint64_t n = 0;
  for (const Bridge& bridge : bridges) n += bridge.n_flows;
  return n;
}

std::string Xxh3Hex(std::string_view data) { return Xxh3Hex({data}); }

std::string Xxh3Hex(std::initializer_list<std::string_view> parts) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_128bits_reset(state);
  for (std::string_view part : parts) XXH3_128bits_update(state, part.data(), part.size());
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(state));
  XXH3_freeState(state);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char byte : canonical.digest) {
    hex += kDigits[byte >> 4];
    hex += kDigits[byte & 15];
  }
  return hex;
}

Result<FlowsToSave> FlowsFromSaveReply(const json& reply, std::string_view payload) {
  const std::string where = "hsw-vswitchd's save-flows reply";
  if (!reply.is_object()) return Err("{} is not an object", where);
  FlowsToSave flows;
  auto journal = reply.find("journal");
  if (journal == reply.end() || !journal->is_object()) {
    return Err("{}: 'journal' is missing", where);
  }
  HSW_ASSIGN_OR_RETURN(flows.journal.id, Member<std::string>(*journal, where, "id"));
  HSW_ASSIGN_OR_RETURN(flows.journal.seq, Member<uint64_t>(*journal, where, "seq"));
  HSW_ASSIGN_OR_RETURN(json bridges, Member<json>(reply, where, "bridges"));
  if (!bridges.is_array()) return Err("{}: 'bridges' is not an array", where);
  std::set<std::string> seen;
  size_t payload_used = 0;
  for (const json& entry : bridges) {
    if (!entry.is_object()) return Err("{}: a bridge is not an object", where);
    FlowsToSave::Bridge bridge;
    HSW_ASSIGN_OR_RETURN(bridge.name, Member<std::string>(entry, where, "name"));
    HSW_ASSIGN_OR_RETURN(bridge.n_flows, Member<uint64_t>(entry, where, "n_flows"));
    HSW_ASSIGN_OR_RETURN(uint64_t size, Member<uint64_t>(entry, where, "size"));
    HSW_TRY(CheckBridgeName(bridge.name));
    if (!seen.insert(bridge.name).second) return Err("{}: bridge {} twice", where, bridge.name);
    if (size > payload.size() - payload_used) {
      return Err("{}: bridge {}'s {} bytes of flows are not all in the payload", where,
                 bridge.name, size);
    }
    bridge.text = payload.substr(payload_used, size);
    payload_used += size;
    flows.bridges.push_back(std::move(bridge));
  }
  if (payload_used != payload.size()) {
    return Err("{}: {} bytes of payload, the bridges' sizes add up to {}", where, payload.size(),
               payload_used);
  }
  return flows;
}

Status WriteSavedFlows(const std::string& dir, const FlowsToSave& flows) {
  for (const FlowsToSave::Bridge& bridge : flows.bridges) {
    HSW_TRY(CheckBridgeName(bridge.name));
    HSW_TRY(CheckOneFlowPerLine(bridge));
  }
  std::string tmp = dir + ".tmp";
  std::string parent = ParentOf(dir);
  // A DIR.tmp can only be the remains of a save that did not finish.
  HSW_TRY(RemoveTree(tmp));
  if (auto made = MakeDirs(parent); !made) {
    return MakeError(fmt::format("cannot create directory {}", parent), made.error().code);
  }
  if (mkdir(tmp.c_str(), 0755) < 0) return ErrnoErr("cannot create directory {}", tmp);
  Status written = FillDirectory(tmp, flows);
  if (written) written = SwapIntoPlace(tmp, dir);
  if (!written) {
    (void)RemoveTree(tmp);  // DIR is untouched; do not leave a half-written DIR.tmp either
    return written;
  }
  // The rename is only durable once the parent directory is on disk.
  return FsyncDirectory(parent);
}

Result<SavedFlows> ReadSavedFlows(const std::string& dir) {
  HSW_ASSIGN_OR_RETURN(json manifest, ReadManifest(dir));
  const std::string where = dir + "/" + kManifest;
  SavedFlows saved;
  HSW_ASSIGN_OR_RETURN(saved.hsw_version, Member<std::string>(manifest, where, "hsw_version"));
  HSW_ASSIGN_OR_RETURN(saved.created, Member<std::string>(manifest, where, "created"));
  HSW_ASSIGN_OR_RETURN(json journal, Member<json>(manifest, where, "journal"));
  if (!journal.is_object()) return Err("{}: 'journal' is not an object", where);
  HSW_ASSIGN_OR_RETURN(saved.journal.id, Member<std::string>(journal, where + " journal", "id"));
  HSW_ASSIGN_OR_RETURN(saved.journal.seq, Member<uint64_t>(journal, where + " journal", "seq"));
  HSW_ASSIGN_OR_RETURN(json bridges, Member<json>(manifest, where, "bridges"));
  if (!bridges.is_array()) return Err("{}: 'bridges' is not an array", where);
  std::set<std::string> seen;
  for (size_t i = 0; i < bridges.size(); ++i) {
    HSW_ASSIGN_OR_RETURN(SavedFlows::Bridge bridge,
                         ReadBridge(dir, bridges[i], fmt::format("{} bridges[{}]", where, i)));
    if (!seen.insert(bridge.name).second) {
      return Err("{}: bridge {} is listed twice", where, bridge.name);
    }
    saved.bridges.push_back(std::move(bridge));
  }
  return saved;
}

}  // namespace hsw::ctl
