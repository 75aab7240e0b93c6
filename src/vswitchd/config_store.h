// ConfigStore: hsw-vswitchd's persistent configuration -- bridges (name,
// datapath id, controller targets), their ports (interface name, OpenFlow port
// number) and switch-wide key-value settings -- kept as JSON in
// <statedir>/conf.json.
//
// Why a file of our own and not OpenFlow state: the OpenFlow tables belong to
// controllers and to save/restore; what is here is what an operator typed with
// hsw-ctl and expects to survive a restart of hsw-vswitchd.
//
// Durability: every change is applied to a copy, the copy is written with
// WriteFileAtomic (write, fsync, rename), and only then does the copy become
// the current configuration.  A failed write changes nothing, in memory or on
// disk, and a crash at any moment leaves the old file or the new one.
//
// A corrupt file at start is an error that names the file and where parsing
// failed (line/column/byte); it is never overwritten, because it may be the
// only copy of the operator's configuration.
//
// File format (schema_version 1):
//   {"schema_version": 1,
//    "bridges": [{"name": "br0", "datapath_id": "0000000000000001",
//                 "controllers": ["tcp:127.0.0.1:6653"],
//                 "ports": [{"name": "veth1", "ofport": 1}]}],
//    "settings": {"key": "value"}}
// datapath_id is 16 hex digits (a string: JSON numbers lose 64-bit precision
// in many readers); "0000000000000000" lets the switch choose.
//
// Not thread-safe: used from hsw-vswitchd's event loop only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace hsw::vswitchd {

inline constexpr int kConfigSchemaVersion = 1;

struct PortConfig {
  std::string name;     // Linux interface name
  uint32_t ofport = 0;  // OpenFlow port number (0 = not yet assigned)
  // "" (a system interface), "internal" (a tap the datapath creates) or
  // "patch" (with `peer`).  Written to conf.json only when not "", so files
  // of hsw-vswitchd versions without port types load unchanged.
  std::string type;
  std::string peer;  // patch only: the peer interface
  bool operator==(const PortConfig&) const = default;
};

struct BridgeConfig {
  std::string name;
  uint64_t datapath_id = 0;  // 0 = chosen by the switch
  std::vector<std::string> controllers;
  std::vector<PortConfig> ports;
  // Set only in the database mode (from the Bridge row), never written to
  // conf.json: "" or "standalone" (a bridge without controllers gets OVS's
  // default NORMAL rule when created), or "secure".
  std::string fail_mode;
  // OpenFlow versions the bridge's endpoints speak, as a bitmap of wire
  // versions (1 << 0x04 = OpenFlow 1.3); 0 = the switch's default set.
  uint32_t allowed_versions = 0;
  bool operator==(const BridgeConfig&) const = default;

  const PortConfig* FindPort(const std::string& iface) const;
};

struct Config {
  std::vector<BridgeConfig> bridges;
  std::map<std::string, std::string> settings;
  bool operator==(const Config&) const = default;

  BridgeConfig* FindBridge(const std::string& name);
  const BridgeConfig* FindBridge(const std::string& name) const;
  // The bridge that holds interface `iface`, if any.
  const BridgeConfig* BridgeOfPort(const std::string& iface) const;
};

// Text <-> Config.  `origin` names the source in error messages (a path).
std::string SerializeConfig(const Config& config);
Result<Config> ParseConfig(const std::string& text, const std::string& origin);

class ConfigStore {
 public:
  // Loads `path`.  A missing file is an empty configuration (first start); a
  // file that does not parse or has the wrong shape is an error naming it.
  static Result<ConfigStore> Open(const std::string& path);
  // A store that is never written anywhere: the database mode's mirror of
  // what hsw-vswitchd applied from ovsdb-server, whose own files are the
  // durable copy.
  static ConfigStore InMemory() { return ConfigStore("", Config{}); }

  const Config& config() const { return config_; }
  // "" for an in-memory store.
  const std::string& path() const { return path_; }

  // Applies `change` to a copy of the configuration and persists it.  If
  // `change` fails or the write fails, nothing changes and the error is
  // returned.
  Status Update(const std::function<Status(Config&)>& change);

  // Validated changes; errors name what is wrong ("bridge 'br0' already exists").
  Status AddBridge(const std::string& name, uint64_t datapath_id = 0);
  Status DeleteBridge(const std::string& name);
  Status AddPort(const std::string& bridge, const std::string& iface, uint32_t ofport);
  // A port of any type (PortConfig::type).
  Status AddPort(const std::string& bridge, const PortConfig& port);
  Status DeletePort(const std::string& bridge, const std::string& iface);
  Status SetControllers(const std::string& bridge, const std::vector<std::string>& targets);
  Status SetSetting(const std::string& key, const std::string& value);
  Status RemoveSetting(const std::string& key);
  std::optional<std::string> GetSetting(const std::string& key) const;

 private:
  ConfigStore(std::string path, Config config)
      : path_(std::move(path)), config_(std::move(config)) {}

  std::string path_;
  Config config_;
};

// Names for bridges and interfaces: what Linux accepts as an interface name
// (1..15 bytes, no '/', whitespace, ':' or ','), since both end up in socket
// paths and in flow text.
Status ValidateName(const std::string& what, const std::string& name);

}  // namespace hsw::vswitchd
