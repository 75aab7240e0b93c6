#include "sidecar/config_dir.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "common/fd.h"

namespace hsw::sidecar {
namespace fs = std::filesystem;
namespace {

std::string Trim(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

// What Linux takes as an interface name; bridges' names are the same.
bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 15) return false;
  for (char c : name) {
    if (c == '/' || c == ':' || c == ',' || c <= ' ' || c == 0x7f) return false;
  }
  return true;
}

bool ValidPort(const std::string& text) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  int port = std::stoi(text);
  return port >= 1 && port <= 65535;
}

bool ValidIpv4(const std::string& text) {
  int parts = 0;
  std::istringstream in(text);
  for (std::string part; std::getline(in, part, '.');) {
    if (part.empty() || part.size() > 3 || part.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(part) > 255) {
      return false;
    }
    ++parts;
  }
  return parts == 4 && text.back() != '.';
}

// The controller targets hsw-vswitchd's connmgr accepts.
bool ValidTarget(const std::string& target) {
  auto rest = [&](const char* prefix) -> std::optional<std::string> {
    size_t n = std::char_traits<char>::length(prefix);
    if (target.compare(0, n, prefix) != 0) return std::nullopt;
    return target.substr(n);
  };
  if (auto path = rest("unix:")) return !path->empty();
  if (auto path = rest("punix:")) return !path->empty();
  if (auto hostport = rest("tcp:")) {
    size_t colon = hostport->rfind(':');
    return colon != std::string::npos && ValidIpv4(hostport->substr(0, colon)) &&
           ValidPort(hostport->substr(colon + 1));
  }
  if (auto portip = rest("ptcp:")) {
    size_t colon = portip->find(':');
    if (colon == std::string::npos) return ValidPort(*portip);
    return ValidPort(portip->substr(0, colon)) && ValidIpv4(portip->substr(colon + 1));
  }
  return false;
}

bool ValidVlogSpec(const std::string& spec) {
  static const std::set<std::string> levels = {"off", "emer", "err", "warn", "info", "dbg"};
  static const std::set<std::string> destinations = {"any", "console", "file", "syslog"};
  std::vector<std::string> parts;
  std::istringstream in(spec);
  for (std::string part; std::getline(in, part, ':');) parts.push_back(part);
  if (parts.empty() || parts.size() > 3 || spec.back() == ':') return false;
  // At most one of each: level, destination, module (any other word).
  int n_levels = 0, n_destinations = 0, n_modules = 0;
  for (const std::string& part : parts) {
    if (part.empty()) return false;
    if (levels.count(part)) {
      ++n_levels;
    } else if (destinations.count(part)) {
      ++n_destinations;
    } else if (ValidName(part) || part == "ANY") {
      ++n_modules;
    } else {
      return false;
    }
  }
  return n_levels <= 1 && n_destinations <= 1 && n_modules <= 1;
}

}  // namespace

Result<ConfigGeneration> ReadConfigDir(const std::string& dir) {
  std::error_code ec;
  fs::path base(dir);
  if (!fs::is_directory(base, ec)) return Err("config directory {}: not a directory", dir);
  ConfigGeneration generation;
  fs::path data = base / "..data";
  fs::path from = base;
  if (fs::is_symlink(data, ec)) {
    fs::path target = fs::read_symlink(data, ec);
    if (ec) return Err("config directory {}: cannot read ..data: {}", dir, ec.message());
    from = target.is_absolute() ? target : base / target;
    generation.id = target.filename().string();
  }
  for (const fs::directory_entry& entry : fs::directory_iterator(from, ec)) {
    std::string key = entry.path().filename().string();
    if (key.empty() || key[0] == '.') continue;  // ..data, ..2026_..., editors' files
    if (!entry.is_regular_file(ec)) continue;
    auto text = ReadFile(entry.path().string());
    if (!text) return Err("config directory {}: {}", dir, text.error().ToString());
    generation.values[key] = Trim(*text);
  }
  if (ec) return Err("config directory {}: {}", dir, ec.message());
  if (generation.id.empty()) {
    XXH64_state_t* state = XXH64_createState();
    XXH64_reset(state, 0);
    for (const auto& [key, value] : generation.values) {
      XXH64_update(state, key.data(), key.size() + 1);
      XXH64_update(state, value.data(), value.size() + 1);
    }
    generation.id = fmt::format("sha:{:016x}", XXH64_digest(state));
    XXH64_freeState(state);
  }
  return generation;
}

Result<nlohmann::json> TranslateConfig(const ConfigGeneration& generation) {
  std::vector<std::string> problems;
  const auto& values = generation.values;
  std::vector<std::string> bridge_names;
  std::set<std::string> bridges;
  if (auto it = values.find("bridges"); it != values.end()) {
    for (const std::string& name : Words(it->second)) {
      if (!ValidName(name)) {
        problems.push_back(fmt::format("bridges: '{}' is not a bridge name (1-15 characters, "
                                       "no '/', ':', ',' or spaces)", name));
      } else if (!bridges.insert(name).second) {
        problems.push_back(fmt::format("bridges: '{}' is listed twice", name));
      } else {
        bridge_names.push_back(name);
      }
    }
  }
  std::map<std::string, nlohmann::json> by_name;
  for (const std::string& name : bridge_names) {
    by_name[name] = {{"name", name}, {"datapath_id", "0000000000000000"},
                     {"controllers", nlohmann::json::array()}, {"ports", nlohmann::json::array()}};
  }
  std::set<std::string> ifaces;
  nlohmann::json vlog = nlohmann::json::array();
  for (const auto& [key, value] : values) {
    if (key == "bridges") continue;
    if (key == "log-levels") {
      for (const std::string& spec : Words(value)) {
        if (ValidVlogSpec(spec)) {
          vlog.push_back(spec);
        } else {
          problems.push_back(fmt::format("log-levels: '{}' is not a log spec "
                                         "([module][:destination][:level])", spec));
        }
      }
      continue;
    }
    size_t dot = key.rfind('.');
    if (key.rfind("bridge.", 0) != 0 || dot <= 7) {
      problems.push_back(fmt::format("unknown key '{}' (known: bridges, bridge.NAME.ports, "
                                     "bridge.NAME.controllers, bridge.NAME.datapath-id, "
                                     "log-levels)", key));
      continue;
    }
    std::string bridge = key.substr(7, dot - 7), field = key.substr(dot + 1);
    if (!bridges.count(bridge)) {
      problems.push_back(fmt::format("{}: bridge '{}' is not in `bridges`", key, bridge));
      continue;
    }
    nlohmann::json& row = by_name[bridge];
    if (field == "ports") {
      for (const std::string& word : Words(value)) {
        size_t colon = word.find(':');
        std::string iface = word.substr(0, colon);
        uint32_t ofport = 0;
        if (colon != std::string::npos) {
          std::string number = word.substr(colon + 1);
          if (number.empty() || number.size() > 5 ||
              number.find_first_not_of("0123456789") != std::string::npos ||
              std::stoul(number) < 1 || std::stoul(number) > 65279) {
            problems.push_back(fmt::format("{}: '{}': the OpenFlow port must be 1-65279", key,
                                           word));
            continue;
          }
          ofport = static_cast<uint32_t>(std::stoul(number));
        }
        if (!ValidName(iface)) {
          problems.push_back(fmt::format("{}: '{}' is not an interface name", key, iface));
        } else if (bridges.count(iface)) {
          problems.push_back(fmt::format("{}: '{}' is a bridge's own port", key, iface));
        } else if (!ifaces.insert(iface).second) {
          problems.push_back(fmt::format("{}: interface '{}' is listed twice", key, iface));
        } else {
          row["ports"].push_back({{"name", iface}, {"ofport", ofport}});
        }
      }
    } else if (field == "controllers") {
      for (const std::string& target : Words(value)) {
        if (ValidTarget(target)) {
          row["controllers"].push_back(target);
        } else {
          problems.push_back(fmt::format("{}: '{}' is not a controller target (tcp:IP:PORT, "
                                         "unix:PATH, ptcp:PORT[:IP], punix:PATH)", key, target));
        }
      }
    } else if (field == "datapath-id") {
      if (value.size() == 16 && value.find_first_not_of("0123456789abcdefABCDEF") ==
                                    std::string::npos) {
        row["datapath_id"] = value;
      } else {
        problems.push_back(fmt::format("{}: '{}' is not 16 hex digits", key, value));
      }
    } else {
      problems.push_back(fmt::format("unknown key '{}' (a bridge has ports, controllers and "
                                     "datapath-id)", key));
    }
  }
  // OpenFlow port numbers must be unique within a bridge.
  for (auto& [name, row] : by_name) {
    std::set<uint32_t> numbers;
    for (const nlohmann::json& port : row["ports"]) {
      uint32_t n = port["ofport"].get<uint32_t>();
      if (n && !numbers.insert(n).second) {
        problems.push_back(fmt::format("bridge.{}.ports: OpenFlow port {} is asked for twice", name, n));
      }
    }
  }
  if (!problems.empty()) {
    std::string text;
    for (const std::string& p : problems) text += (text.empty() ? "" : "\n") + p;
    return Err("generation {} refused: {}", generation.id, text);
  }
  nlohmann::json config = {{"schema_version", 1}, {"bridges", nlohmann::json::array()},
                           {"settings", nlohmann::json::object()}};
  for (const std::string& name : bridge_names) config["bridges"].push_back(by_name[name]);
  return nlohmann::json{{"config", config}, {"vlog", vlog}, {"generation", generation.id}};
}

}  // namespace hsw::sidecar
