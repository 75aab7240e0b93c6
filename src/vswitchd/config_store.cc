#include "vswitchd/config_store.h"

#include <cerrno>
#include <nlohmann/json.hpp>

#include "common/fd.h"
#include "common/log.h"

namespace hsw::vswitchd {
namespace {

const log::Module vlog("config");

using json = nlohmann::json;

Result<uint64_t> ParseDatapathId(const std::string& text, const std::string& where) {
  if (text.empty() || text.size() > 16) {
    return Err("{}: datapath_id '{}' is not 1 to 16 hex digits", where, text);
  }
  uint64_t value = 0;
  for (char c : text) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return Err("{}: datapath_id '{}' is not 1 to 16 hex digits", where, text);
    }
    value = value << 4 | static_cast<uint64_t>(digit);
  }
  return value;
}

// The shape checks name the JSON path of what is wrong, so that an operator
// who edited the file by hand can find it.
Result<Config> FromJson(const json& doc, const std::string& origin) {
  if (!doc.is_object()) return Err("{}: top level is not a JSON object", origin);
  auto version = doc.find("schema_version");
  if (version == doc.end() || !version->is_number_integer()) {
    return Err("{}: missing integer 'schema_version'", origin);
  }
  if (version->get<int64_t>() != kConfigSchemaVersion) {
    return Err("{}: schema_version {} is not supported (this hsw-vswitchd reads version {})",
               origin, version->dump(), kConfigSchemaVersion);
  }
  Config config;
  if (auto bridges = doc.find("bridges"); bridges != doc.end()) {
    if (!bridges->is_array()) return Err("{}: 'bridges' is not an array", origin);
    for (size_t i = 0; i < bridges->size(); ++i) {
      const json& b = (*bridges)[i];
      std::string where = fmt::format("{}: bridges[{}]", origin, i);
      if (!b.is_object()) return Err("{} is not an object", where);
      auto name = b.find("name");
      if (name == b.end() || !name->is_string()) return Err("{}: missing string 'name'", where);
      BridgeConfig bridge;
      bridge.name = name->get<std::string>();
      where = fmt::format("{} ('{}')", where, bridge.name);
      if (auto valid = ValidateName("bridge name", bridge.name); !valid) {
        return Err("{}: {}", where, valid.error().message);
      }
      if (config.FindBridge(bridge.name)) return Err("{}: duplicate bridge", where);
      if (auto dpid = b.find("datapath_id"); dpid != b.end()) {
        if (!dpid->is_string()) return Err("{}: 'datapath_id' is not a string", where);
        HSW_ASSIGN_OR_RETURN(bridge.datapath_id, ParseDatapathId(dpid->get<std::string>(), where));
      }
      if (auto controllers = b.find("controllers"); controllers != b.end()) {
        if (!controllers->is_array()) return Err("{}: 'controllers' is not an array", where);
        for (const json& c : *controllers) {
          if (!c.is_string()) return Err("{}: a controller target is not a string", where);
          bridge.controllers.push_back(c.get<std::string>());
        }
      }
      if (auto ports = b.find("ports"); ports != b.end()) {
        if (!ports->is_array()) return Err("{}: 'ports' is not an array", where);
        for (size_t j = 0; j < ports->size(); ++j) {
          const json& p = (*ports)[j];
          std::string pwhere = fmt::format("{}: ports[{}]", where, j);
          if (!p.is_object()) return Err("{} is not an object", pwhere);
          auto pname = p.find("name");
          if (pname == p.end() || !pname->is_string()) {
            return Err("{}: missing string 'name'", pwhere);
          }
          PortConfig port;
          port.name = pname->get<std::string>();
          if (auto ofport = p.find("ofport"); ofport != p.end()) {
            if (!ofport->is_number_unsigned() || ofport->get<uint64_t>() > 0xffffff00) {
              return Err("{}: 'ofport' is not an OpenFlow port number (0..0xffffff00)", pwhere);
            }
            port.ofport = static_cast<uint32_t>(ofport->get<uint64_t>());
          }
          if (auto type = p.find("type"); type != p.end()) {
            if (!type->is_string()) return Err("{}: 'type' is not a string", pwhere);
            port.type = type->get<std::string>();
            if (port.type == "system") port.type.clear();
            if (!port.type.empty() && port.type != "internal" && port.type != "patch") {
              return Err("{}: unknown port type '{}' (system, internal, patch)", pwhere,
                         port.type);
            }
          }
          if (auto peer = p.find("peer"); peer != p.end()) {
            if (!peer->is_string()) return Err("{}: 'peer' is not a string", pwhere);
            port.peer = peer->get<std::string>();
          }
          if (port.type == "patch" && port.peer.empty()) {
            return Err("{}: patch port '{}' has no 'peer'", pwhere, port.name);
          }
          if (port.type != "patch" && !port.peer.empty()) {
            return Err("{}: 'peer' is for patch ports only ('{}' is not one)", pwhere, port.name);
          }
          if (config.BridgeOfPort(port.name) || bridge.FindPort(port.name)) {
            return Err("{}: interface '{}' appears twice", pwhere, port.name);
          }
          bridge.ports.push_back(port);
        }
      }
      config.bridges.push_back(std::move(bridge));
    }
  }
  if (auto settings = doc.find("settings"); settings != doc.end()) {
    if (!settings->is_object()) return Err("{}: 'settings' is not an object", origin);
    for (auto it = settings->begin(); it != settings->end(); ++it) {
      if (!it->is_string()) return Err("{}: settings['{}'] is not a string", origin, it.key());
      config.settings[it.key()] = it->get<std::string>();
    }
  }
  return config;
}

}  // namespace

const PortConfig* BridgeConfig::FindPort(const std::string& iface) const {
  for (const PortConfig& port : ports) {
    if (port.name == iface) return &port;
  }
  return nullptr;
}

BridgeConfig* Config::FindBridge(const std::string& name) {
  for (BridgeConfig& bridge : bridges) {
    if (bridge.name == name) return &bridge;
  }
  return nullptr;
}

const BridgeConfig* Config::FindBridge(const std::string& name) const {
  return const_cast<Config*>(this)->FindBridge(name);
}

const BridgeConfig* Config::BridgeOfPort(const std::string& iface) const {
  for (const BridgeConfig& bridge : bridges) {
    if (bridge.FindPort(iface)) return &bridge;
  }
  return nullptr;
}

Status ValidateName(const std::string& what, const std::string& name) {
  if (name.empty()) return Err("{} is empty", what);
  if (name.size() > 15) return Err("{} '{}' is longer than 15 characters", what, name);
  if (name == "." || name == "..") return Err("{} '{}' is not allowed", what, name);
  for (unsigned char c : name) {
    if (c <= ' ' || c >= 0x7f || c == '/' || c == ':' || c == ',' || c == '=' || c == '\'' ||
        c == '"') {
      return Err("{} '{}' contains a character that is not allowed", what, name);
    }
  }
  return Ok();
}

std::string SerializeConfig(const Config& config) {
  json doc;
  doc["schema_version"] = kConfigSchemaVersion;
  json bridges = json::array();
  for (const BridgeConfig& bridge : config.bridges) {
    json ports = json::array();
    for (const PortConfig& port : bridge.ports) {
      json p = {{"name", port.name}, {"ofport", port.ofport}};
      if (!port.type.empty()) p["type"] = port.type;
      if (!port.peer.empty()) p["peer"] = port.peer;
      ports.push_back(std::move(p));
    }
    bridges.push_back({{"name", bridge.name},
                       {"datapath_id", fmt::format("{:016x}", bridge.datapath_id)},
                       {"controllers", bridge.controllers},
                       {"ports", std::move(ports)}});
  }
  doc["bridges"] = std::move(bridges);
  doc["settings"] = config.settings;
  return doc.dump(2) + "\n";
}

Result<Config> ParseConfig(const std::string& text, const std::string& origin) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    // e.what() already says "parse error at line L, column C: ..."; keep the
    // byte offset too, for tools.
    std::string what = e.what();
    if (auto pos = what.find("parse error"); pos != std::string::npos) what = what.substr(pos);
    return Err("{}: {} (byte {})", origin, what, e.byte);
  } catch (const json::exception& e) {
    return Err("{}: {}", origin, e.what());
  }
  return FromJson(doc, origin);
}

Result<ConfigStore> ConfigStore::Open(const std::string& path) {
  auto text = ReadFile(path);
  if (!text) {
    if (text.error().code == ENOENT) {
      vlog.Info("{} does not exist: starting with an empty configuration", path);
      return ConfigStore(path, Config{});
    }
    return Err("cannot read config file {}: {}", path, text.error().ToString());
  }
  auto config = ParseConfig(*text, path);
  if (!config) {
    return Err("corrupt config file {}", config.error().message);
  }
  vlog.Info("loaded {}: {} bridge(s), {} setting(s)", path, config->bridges.size(),
            config->settings.size());
  return ConfigStore(path, std::move(*config));
}

Status ConfigStore::Update(const std::function<Status(Config&)>& change) {
  Config copy = config_;
  HSW_TRY(change(copy));
  if (copy == config_) return Ok();
  if (path_.empty()) {
    config_ = std::move(copy);
    return Ok();
  }
  auto written = WriteFileAtomic(path_, SerializeConfig(copy));
  if (!written) {
    return Err("cannot save configuration to {}: {}", path_, written.error().ToString());
  }
  config_ = std::move(copy);
  return Ok();
}

Status ConfigStore::AddBridge(const std::string& name, uint64_t datapath_id) {
  HSW_TRY(ValidateName("bridge name", name));
  return Update([&](Config& config) -> Status {
    if (config.FindBridge(name)) return Err("bridge '{}' already exists", name);
    BridgeConfig bridge;
    bridge.name = name;
    bridge.datapath_id = datapath_id;
    config.bridges.push_back(std::move(bridge));
    return Ok();
  });
}

Status ConfigStore::DeleteBridge(const std::string& name) {
  return Update([&](Config& config) -> Status {
    for (auto it = config.bridges.begin(); it != config.bridges.end(); ++it) {
      if (it->name == name) {
        config.bridges.erase(it);
        return Ok();
      }
    }
    return Err("unknown bridge '{}'", name);
  });
}

Status ConfigStore::AddPort(const std::string& bridge, const std::string& iface, uint32_t ofport) {
  return AddPort(bridge, PortConfig{iface, ofport});
}

Status ConfigStore::AddPort(const std::string& bridge, const PortConfig& spec) {
  const std::string& iface = spec.name;
  const uint32_t ofport = spec.ofport;
  HSW_TRY(ValidateName("interface name", iface));
  PortConfig port = spec;
  if (port.type == "system") port.type.clear();
  if (!port.type.empty() && port.type != "internal" && port.type != "patch") {
    return Err("interface '{}': unknown port type '{}' (system, internal, patch)", iface,
               port.type);
  }
  if (port.type == "patch" && port.peer.empty()) {
    return Err("patch port '{}' needs a peer", iface);
  }
  if (port.type != "patch" && !port.peer.empty()) {
    return Err("interface '{}': a peer is for patch ports only", iface);
  }
  return Update([&](Config& config) -> Status {
    BridgeConfig* b = config.FindBridge(bridge);
    if (!b) return Err("unknown bridge '{}'", bridge);
    if (const BridgeConfig* owner = config.BridgeOfPort(iface)) {
      return Err("interface '{}' is already a port of bridge '{}'", iface, owner->name);
    }
    if (ofport != 0) {
      for (const PortConfig& port : b->ports) {
        if (port.ofport == ofport) {
          return Err("ofport {} is already used by '{}' on bridge '{}'", ofport, port.name, bridge);
        }
      }
    }
    b->ports.push_back(port);
    return Ok();
  });
}

Status ConfigStore::DeletePort(const std::string& bridge, const std::string& iface) {
  return Update([&](Config& config) -> Status {
    BridgeConfig* b = config.FindBridge(bridge);
    if (!b) return Err("unknown bridge '{}'", bridge);
    for (auto it = b->ports.begin(); it != b->ports.end(); ++it) {
      if (it->name == iface) {
        b->ports.erase(it);
        return Ok();
      }
    }
    return Err("bridge '{}' has no port '{}'", bridge, iface);
  });
}

Status ConfigStore::SetControllers(const std::string& bridge,
                                   const std::vector<std::string>& targets) {
  return Update([&](Config& config) -> Status {
    BridgeConfig* b = config.FindBridge(bridge);
    if (!b) return Err("unknown bridge '{}'", bridge);
    b->controllers = targets;
    return Ok();
  });
}

Status ConfigStore::SetSetting(const std::string& key, const std::string& value) {
  if (key.empty()) return Err("setting name is empty");
  return Update([&](Config& config) -> Status {
    config.settings[key] = value;
    return Ok();
  });
}

Status ConfigStore::RemoveSetting(const std::string& key) {
  return Update([&](Config& config) -> Status {
    config.settings.erase(key);
    return Ok();
  });
}

std::optional<std::string> ConfigStore::GetSetting(const std::string& key) const {
  auto it = config_.settings.find(key);
  if (it == config_.settings.end()) return std::nullopt;
  return it->second;
}

}  // namespace hsw::vswitchd
