#include "ovsdb/vswitch_model.h"

#include "ovsdb/datum.h"

namespace hsw::ovsdb {
namespace {

// Reads the columns of one row, noting each value of the wrong shape in
// `problems` (the column is then left unset).  An absent column (the
// server's schema lacks it) is simply unset: the client reported it.
class RowReader {
 public:
  RowReader(const char* table, const std::string& uuid, const Replica::Row& row,
            std::vector<std::string>& problems)
      : table_(table), uuid_(uuid), row_(row), problems_(problems) {}

  template <class T, class Read>
  void Column(const char* column, T& out, Read read) {
    auto it = row_.find(column);
    if (it == row_.end()) return;
    auto value = read(*it);
    if (!value) {
      problems_.push_back(fmt::format("{}:{} of row {}: unexpected value {}", table_, column, uuid_,
                                      BriefJson(*it)));
      return;
    }
    out = std::move(*value);
  }

  void String(const char* column, std::string& out) { Column(column, out, ReadString); }
  void OptionalString(const char* column, std::optional<std::string>& out) {
    Column(column, out, ReadOptionalString);
  }
  void OptionalInteger(const char* column, std::optional<int64_t>& out) {
    Column(column, out, ReadOptionalInteger);
  }
  void Integer(const char* column, int64_t& out) { Column(column, out, ReadInteger); }
  void StringSet(const char* column, std::vector<std::string>& out) {
    Column(column, out, ReadStringSet);
  }
  void UuidSet(const char* column, std::vector<std::string>& out) {
    Column(column, out, ReadUuidSet);
  }
  void Map(const char* column, StringMap& out) { Column(column, out, ReadStringMap); }
  void OptionalBoolean(const char* column, std::optional<bool>& out) {
    Column(column, out, [](const Json& datum) -> std::optional<std::optional<bool>> {
      auto elements = ReadSet(datum);
      if (!elements || elements->size() > 1) return std::nullopt;
      if (elements->empty()) return std::optional<bool>();
      auto value = ReadBoolean(elements->front());
      if (!value) return std::nullopt;
      return std::optional<bool>(*value);
    });
  }
  // A map of string -> UUID (Open_vSwitch:datapaths).
  void UuidMap(const char* column, std::map<std::string, std::string>& out) {
    Column(column, out, [](const Json& datum) -> std::optional<std::map<std::string, std::string>> {
      auto pairs = ReadMap(datum);
      if (!pairs) return std::nullopt;
      std::map<std::string, std::string> map;
      for (const auto& [key, value] : *pairs) {
        auto k = ReadString(key);
        auto v = ReadUuid(value);
        if (!k || !v) return std::nullopt;
        map[*k] = *v;
      }
      return map;
    });
  }

 private:
  const char* table_;
  const std::string& uuid_;
  const Replica::Row& row_;
  std::vector<std::string>& problems_;
};

}  // namespace

const std::map<std::string, std::vector<std::string>>& MonitoredColumns() {
  static const std::map<std::string, std::vector<std::string>> columns = {
      {"Open_vSwitch",
       {"bridges", "next_cfg", "cur_cfg", "other_config", "datapaths", "iface_types",
        "datapath_types"}},
      {"Bridge",
       {"name", "ports", "datapath_type", "fail_mode", "protocols", "controller", "other_config",
        "datapath_id"}},
      {"Port", {"name", "interfaces", "tag"}},
      {"Interface",
       {"name", "type", "options", "ofport_request", "mtu_request", "ofport", "ifindex", "mtu",
        "mac_in_use", "admin_state", "link_state", "error"}},
      {"Controller",
       {"target", "inactivity_probe", "max_backoff", "is_connected", "role", "status"}},
      {"Datapath", {"capabilities"}},
  };
  return columns;
}

const InterfaceRow* VswitchDb::FindInterface(const std::string& name) const {
  for (const auto& [uuid, row] : interfaces) {
    if (row.name == name) return &row;
  }
  return nullptr;
}

VswitchDb ReadVswitchDb(const Replica& replica) {
  VswitchDb db;
  for (const auto& [uuid, row] : replica.rows("Open_vSwitch")) {
    if (db.root) {
      db.problems.push_back(fmt::format(
          "Open_vSwitch has more than one row ({} and {}); using the first", db.root->uuid, uuid));
      continue;
    }
    OpenVswitchRow root;
    root.uuid = uuid;
    RowReader r("Open_vSwitch", uuid, row, db.problems);
    r.UuidSet("bridges", root.bridges);
    r.Integer("next_cfg", root.next_cfg);
    r.Integer("cur_cfg", root.cur_cfg);
    r.Map("other_config", root.other_config);
    r.UuidMap("datapaths", root.datapaths);
    r.StringSet("iface_types", root.iface_types);
    r.StringSet("datapath_types", root.datapath_types);
    db.root = std::move(root);
  }
  for (const auto& [uuid, row] : replica.rows("Bridge")) {
    BridgeRow bridge;
    bridge.uuid = uuid;
    RowReader r("Bridge", uuid, row, db.problems);
    r.String("name", bridge.name);
    r.UuidSet("ports", bridge.ports);
    r.String("datapath_type", bridge.datapath_type);
    std::optional<std::string> fail_mode;
    r.OptionalString("fail_mode", fail_mode);
    bridge.fail_mode = fail_mode.value_or("");
    r.StringSet("protocols", bridge.protocols);
    r.UuidSet("controller", bridge.controllers);
    r.Map("other_config", bridge.other_config);
    r.OptionalString("datapath_id", bridge.datapath_id);
    db.bridges[uuid] = std::move(bridge);
  }
  for (const auto& [uuid, row] : replica.rows("Port")) {
    PortRow port;
    port.uuid = uuid;
    RowReader r("Port", uuid, row, db.problems);
    r.String("name", port.name);
    r.UuidSet("interfaces", port.interfaces);
    r.OptionalInteger("tag", port.tag);
    db.ports[uuid] = std::move(port);
  }
  for (const auto& [uuid, row] : replica.rows("Interface")) {
    InterfaceRow iface;
    iface.uuid = uuid;
    RowReader r("Interface", uuid, row, db.problems);
    r.String("name", iface.name);
    r.String("type", iface.type);
    r.Map("options", iface.options);
    r.OptionalInteger("ofport_request", iface.ofport_request);
    r.OptionalInteger("mtu_request", iface.mtu_request);
    r.OptionalInteger("ofport", iface.ofport);
    r.OptionalInteger("ifindex", iface.ifindex);
    r.OptionalInteger("mtu", iface.mtu);
    r.OptionalString("mac_in_use", iface.mac_in_use);
    r.OptionalString("admin_state", iface.admin_state);
    r.OptionalString("link_state", iface.link_state);
    r.OptionalString("error", iface.error);
    db.interfaces[uuid] = std::move(iface);
  }
  for (const auto& [uuid, row] : replica.rows("Controller")) {
    ControllerRow controller;
    controller.uuid = uuid;
    RowReader r("Controller", uuid, row, db.problems);
    r.String("target", controller.target);
    r.OptionalInteger("inactivity_probe", controller.inactivity_probe);
    r.OptionalInteger("max_backoff", controller.max_backoff);
    r.OptionalBoolean("is_connected", controller.is_connected);
    r.OptionalString("role", controller.role);
    r.Map("status", controller.status);
    db.controllers[uuid] = std::move(controller);
  }
  for (const auto& [uuid, row] : replica.rows("Datapath")) {
    DatapathRow datapath;
    datapath.uuid = uuid;
    RowReader r("Datapath", uuid, row, db.problems);
    r.Map("capabilities", datapath.capabilities);
    db.datapaths[uuid] = std::move(datapath);
  }
  return db;
}

}  // namespace hsw::ovsdb
