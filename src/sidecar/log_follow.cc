#include "sidecar/log_follow.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/log.h"

namespace hsw::sidecar {
namespace {

const log::Module vlog("log_follow");

constexpr size_t kMaxBytesPerPoll = 4 << 20;

bool StatPath(const std::string& path, struct stat& st) { return stat(path.c_str(), &st) == 0; }

}  // namespace

std::map<std::string, FollowPosition> ParseFollowPositions(std::string_view text, bool* valid) {
  std::map<std::string, FollowPosition> positions;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  *valid = j.is_object();
  if (!*valid) return positions;
  auto number = [](const nlohmann::json& p, const char* key) -> std::optional<uint64_t> {
    if (!p.contains(key) || !p[key].is_number_unsigned()) return std::nullopt;
    return p[key].get<uint64_t>();
  };
  for (auto& [path, p] : j.items()) {
    if (!p.is_object()) continue;
    auto dev = number(p, "dev"), ino = number(p, "ino"), offset = number(p, "offset");
    if (!dev || !ino || !offset) continue;
    positions[path] = {*dev, *ino, *offset};
  }
  return positions;
}

LogFollower::LogFollower(std::vector<std::string> paths, std::string state_file, Sink sink)
    : state_file_(std::move(state_file)), sink_(std::move(sink)) {
  std::map<std::string, FollowPosition> saved;
  if (!state_file_.empty()) {
    if (auto text = ReadFile(state_file_)) {
      bool valid = false;
      saved = ParseFollowPositions(*text, &valid);
      if (!valid) {
        vlog.Warn("{}: not a position file; following the logs from their start", state_file_);
      }
    }
  }
  for (std::string& path : paths) {
    File file;
    file.path = std::move(path);
    files_.push_back(std::move(file));
  }
  for (File& file : files_) {
    auto it = saved.find(file.path);
    if (it != saved.end()) {
      Resume(file, it->second);
    } else {
      Open(file, file.path, 0);
    }
  }
}

bool LogFollower::Open(File& file, const std::string& path, uint64_t offset) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  struct stat st {};
  if (fstat(fd.get(), &st) < 0) return false;
  if (offset > static_cast<uint64_t>(st.st_size)) offset = 0;  // truncated meanwhile
  file.fd = std::move(fd);
  file.pos = {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), offset};
  file.partial.clear();
  return true;
}

// Picks up where a previous sidecar stopped: the same inode under the name,
// or the rotated copy NAME.1 still holding the unread end.
void LogFollower::Resume(File& file, const FollowPosition& saved) {
  struct stat st {};
  if (StatPath(file.path, st) && static_cast<uint64_t>(st.st_ino) == saved.ino &&
      static_cast<uint64_t>(st.st_dev) == saved.dev) {
    Open(file, file.path, saved.offset);
    return;
  }
  std::string rotated = file.path + ".1";
  if (StatPath(rotated, st) && static_cast<uint64_t>(st.st_ino) == saved.ino &&
      static_cast<uint64_t>(st.st_dev) == saved.dev && Open(file, rotated, saved.offset)) {
    vlog.Info("{} was rotated while no sidecar followed it: reading the rest of {} first",
              file.path, rotated);
    return;
  }
  Open(file, file.path, 0);
}

size_t LogFollower::Drain(File& file) {
  size_t lines = 0, read_bytes = 0;
  char buffer[65536];
  while (read_bytes < kMaxBytesPerPoll) {
    ssize_t n = pread(file.fd.get(), buffer, sizeof(buffer), static_cast<off_t>(file.pos.offset +
                                                                              file.partial.size()));
    if (n <= 0) break;
    read_bytes += static_cast<size_t>(n);
    file.partial.append(buffer, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = file.partial.find('\n', start)) != std::string::npos; start = nl + 1) {
      sink_(file.partial.substr(start, nl - start));
      ++lines;
    }
    file.pos.offset += start;
    file.partial.erase(0, start);
  }
  return lines;
}

size_t LogFollower::Poll() {
  size_t lines = 0;
  for (File& file : files_) {
    if (!file.fd) {
      if (!Open(file, file.path, 0)) continue;
    }
    // What is there now, through the descriptor: also the end of a file
    // that was just renamed away.
    lines += Drain(file);
    struct stat named {}, open_st {};
    if (fstat(file.fd.get(), &open_st) < 0) continue;
    bool renamed = !StatPath(file.path, named) || named.st_ino != open_st.st_ino ||
                   named.st_dev != open_st.st_dev;
    if (renamed) {
      if (!StatPath(file.path, named)) continue;  // the new one is not there yet
      if (!file.partial.empty()) {
        // A last line without '\n' in the rotated file: it is complete now.
        sink_(file.partial);
        ++lines;
      }
      if (Open(file, file.path, 0)) lines += Drain(file);
      continue;
    }
    if (static_cast<uint64_t>(open_st.st_size) < file.pos.offset + file.partial.size()) {
      vlog.Info("{} was truncated (copytruncate): following it from its start", file.path);
      file.pos.offset = 0;
      file.partial.clear();
      lines += Drain(file);
    }
  }
  if (lines) Save();
  return lines;
}

void LogFollower::Save() {
  if (state_file_.empty()) return;
  nlohmann::json j = nlohmann::json::object();
  for (const File& file : files_) {
    if (!file.fd) continue;
    j[file.path] = {{"dev", file.pos.dev}, {"ino", file.pos.ino}, {"offset", file.pos.offset}};
  }
  std::string text = j.dump() + "\n";
  if (text == saved_text_) return;
  std::string tmp = state_file_ + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return;
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = std::fclose(f) == 0 && ok;
  if (ok && std::rename(tmp.c_str(), state_file_.c_str()) == 0) saved_text_ = text;
}

}  // namespace hsw::sidecar
