#include "ovsdb/vswitch_reconciler.h"

#include <algorithm>
#include <cstdlib>

#include "common/log.h"
#include "common/netdev.h"
#include "openflow/ofp_codec.h"
#include "ovsdb/datum.h"

namespace hsw::ovsdb {
namespace {

const log::Module vlog("bridge");
using json = nlohmann::json;

constexpr const char* kLockName = "ovs_vswitchd";
// OVS reports the LOCAL port as OpenFlow 1.0 numbers it: 65534.
constexpr int64_t kOvsdbLocalPort = 65534;
constexpr std::chrono::milliseconds kStatusInterval{1000};
constexpr int64_t kMinStatsIntervalMs = 5000;

const std::vector<std::string> kInterfaceTypes = {"internal", "patch", "system"};
const std::vector<std::string> kDatapathTypes = {"netdev", "system"};

// What hsw's datapath can do, in the keys ovs-vswitchd writes to
// Datapath:capabilities.  ovn-controller enables features by these, so a
// "false" here keeps it from emitting actions hsw would refuse.
const StringMap& DatapathCapabilities() {
  static const StringMap capabilities = {
      {"add_mpls", "false"},
      {"check_pkt_len", "false"},
      {"clone", "false"},
      {"ct_clear", "false"},
      {"ct_eventmask", "false"},
      {"ct_flush", "false"},
      {"ct_label", "false"},
      {"ct_mark", "false"},
      {"ct_orig_tuple", "false"},
      {"ct_orig_tuple6", "false"},
      {"ct_state", "false"},
      {"ct_state_nat", "false"},
      {"ct_timeout", "false"},
      {"ct_zero_snat", "false"},
      {"ct_zone", "false"},
      {"explicit_drop_action", "false"},
      {"lb_output_action", "false"},
      {"masked_set_action", "true"},
      {"max_hash_alg", "0"},
      {"max_mpls_depth", "0"},
      {"max_vlan_headers", "1"},
      {"psample", "false"},
      {"recirc", "false"},
      {"sample_nesting", "0"},
      {"tnl_push_pop", "false"},
      {"trunc", "false"},
      {"ufid", "false"},
  };
  return capabilities;
}

bool IsSystemType(const std::string& type) { return type.empty() || type == "system"; }

std::optional<uint8_t> OpenFlowVersion(const std::string& name) {
  static const std::map<std::string, uint8_t> versions = {
      {"OpenFlow10", 0x01}, {"OpenFlow11", 0x02}, {"OpenFlow12", 0x03},
      {"OpenFlow13", 0x04}, {"OpenFlow14", 0x05}, {"OpenFlow15", 0x06}};
  auto it = versions.find(name);
  if (it == versions.end()) return std::nullopt;
  return it->second;
}

std::optional<uint64_t> ParseHex64(const std::string& text) {
  if (text.empty() || text.size() > 16) return std::nullopt;
  char* end = nullptr;
  uint64_t value = std::strtoull(text.c_str(), &end, 16);
  if (*end) return std::nullopt;
  return value;
}

std::string FormatMac(const std::array<uint8_t, 6>& mac) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", mac[0], mac[1], mac[2], mac[3],
                     mac[4], mac[5]);
}

json UpdateRow(const std::string& table, const std::string& uuid, json row) {
  return UpdateOp(table, WhereUuid(uuid), std::move(row));
}

// Adds `column` := `value` to `row` unless the database already has it.
template <class T>
void SetIfChanged(json& row, const char* column, const std::optional<T>& have,
                  const std::optional<T>& want) {
  if (have == want) return;
  row[column] = want ? json(*want) : MakeSet({});
}

}  // namespace

DesiredConfig ComputeDesiredConfig(const VswitchDb& db) {
  DesiredConfig desired;
  if (!db.root) return desired;
  const OpenVswitchRow& root = *db.root;
  auto restore = root.other_config.find("flow-restore-wait");
  desired.flow_restore_wait = restore != root.other_config.end() && restore->second == "true";

  auto fail_bridge = [&](const BridgeRow& bridge, const std::string& why) {
    desired.warnings.push_back(fmt::format("bridge {}: {}", bridge.name, why));
    for (const std::string& port_uuid : bridge.ports) {
      auto port = db.ports.find(port_uuid);
      if (port == db.ports.end()) continue;
      for (const std::string& iface_uuid : port->second.interfaces) {
        auto iface = db.interfaces.find(iface_uuid);
        if (iface != db.interfaces.end()) {
          desired.interface_errors[iface->second.name] =
              fmt::format("bridge {}: {}", bridge.name, why);
        }
      }
    }
  };

  for (const std::string& bridge_uuid : root.bridges) {
    auto found = db.bridges.find(bridge_uuid);
    if (found == db.bridges.end()) continue;
    const BridgeRow& row = found->second;
    if (auto valid = vswitchd::ValidateName("bridge name", row.name); !valid) {
      fail_bridge(row, valid.error().message);
      continue;
    }
    if (!row.datapath_type.empty() && row.datapath_type != "system" &&
        row.datapath_type != "netdev") {
      fail_bridge(row, fmt::format("datapath_type '{}' is not supported (hsw's datapath serves "
                                   "system and netdev bridges alike)",
                                   row.datapath_type));
      continue;
    }
    vswitchd::BridgeConfig bridge;
    bridge.name = row.name;
    bridge.fail_mode = row.fail_mode;
    if (auto dpid = row.other_config.find("datapath-id"); dpid != row.other_config.end()) {
      auto value = ParseHex64(dpid->second);
      if (value) {
        bridge.datapath_id = *value;
      } else {
        desired.warnings.push_back(
            fmt::format("bridge {}: other_config:datapath-id '{}' is not 16 hex digits; ignored",
                        row.name, dpid->second));
      }
    }
    for (const char* key :
         {"hwaddr", "mac-aging-time", "mac-table-size", "flow-eviction-threshold"}) {
      if (row.other_config.count(key)) {
        desired.warnings.push_back(fmt::format(
            "bridge {}: other_config:{} is not supported by hsw yet; ignored", row.name, key));
      }
    }
    for (const std::string& protocol : row.protocols) {
      if (auto version = OpenFlowVersion(protocol)) {
        bridge.allowed_versions |= 1u << *version;
      } else {
        desired.warnings.push_back(
            fmt::format("bridge {}: protocols: unknown '{}'", row.name, protocol));
      }
    }
    for (const std::string& controller_uuid : row.controllers) {
      auto controller = db.controllers.find(controller_uuid);
      if (controller == db.controllers.end()) continue;
      bridge.controllers.push_back(controller->second.target);
      if (controller->second.inactivity_probe || controller->second.max_backoff) {
        desired.warnings.push_back(fmt::format(
            "bridge {}: controller {}: inactivity_probe and max_backoff are not supported by hsw "
            "yet (it probes after 5 s and backs off up to 8 s)",
            row.name, controller->second.target));
      }
    }
    std::sort(bridge.controllers.begin(), bridge.controllers.end());
    for (const std::string& port_uuid : row.ports) {
      auto port = db.ports.find(port_uuid);
      if (port == db.ports.end()) continue;
      const PortRow& port_row = port->second;
      if (port_row.interfaces.size() != 1) {
        for (const std::string& iface_uuid : port_row.interfaces) {
          auto iface = db.interfaces.find(iface_uuid);
          if (iface != db.interfaces.end()) {
            desired.interface_errors[iface->second.name] =
                fmt::format("port {} has {} interfaces: bonds are not supported by hsw yet",
                            port_row.name, port_row.interfaces.size());
          }
        }
        continue;
      }
      if (port_row.tag) {
        desired.warnings.push_back(fmt::format(
            "bridge {}: port {}: tag {} is not supported by hsw yet (NORMAL does not separate "
            "VLANs); the port is added untagged",
            row.name, port_row.name, *port_row.tag));
      }
      auto iface = db.interfaces.find(port_row.interfaces.front());
      if (iface == db.interfaces.end()) continue;
      const InterfaceRow& iface_row = iface->second;
      auto reject = [&](const std::string& why) { desired.interface_errors[iface_row.name] = why; };
      if (auto valid = vswitchd::ValidateName("interface name", iface_row.name); !valid) {
        reject(valid.error().message);
        continue;
      }
      vswitchd::PortConfig port_config;
      port_config.name = iface_row.name;
      if (!IsSystemType(iface_row.type) && iface_row.type != "internal" &&
          iface_row.type != "patch") {
        reject(
            fmt::format("could not add network device {}: type '{}' is not supported by hsw "
                        "(it supports system, internal and patch)",
                        iface_row.name, iface_row.type));
        continue;
      }
      port_config.type = IsSystemType(iface_row.type) ? "" : iface_row.type;
      if (iface_row.type == "patch") {
        auto peer = iface_row.options.find("peer");
        if (peer == iface_row.options.end() || peer->second.empty()) {
          reject(fmt::format("patch port {} has no options:peer", iface_row.name));
          continue;
        }
        port_config.peer = peer->second;
      }
      if (iface_row.ofport_request) {
        int64_t request = *iface_row.ofport_request;
        if (request < 1 || request >= 0xff00) {
          desired.warnings.push_back(
              fmt::format("interface {}: ofport_request {} is out of range 1-65279; ignored",
                          iface_row.name, request));
        } else {
          port_config.ofport = static_cast<uint32_t>(request);
        }
      }
      if (iface_row.mtu_request) desired.mtu_requests[iface_row.name] = *iface_row.mtu_request;
      bridge.ports.push_back(std::move(port_config));
    }
    desired.config.bridges.push_back(std::move(bridge));
  }
  for (const auto& [key, value] : root.other_config) {
    if (key == "flow-restore-wait" || key == "stats-update-interval") continue;
    if (key == "max-idle" || key == "n-handler-threads" || key == "n-revalidator-threads" ||
        key == "flow-limit" || key == "hw-offload") {
      desired.warnings.push_back(fmt::format(
          "Open_vSwitch other_config:{}={} is not supported by hsw yet; ignored", key, value));
    }
  }
  return desired;
}

VswitchReconciler::VswitchReconciler(EventLoop& loop, vswitchd::Vswitchd& vswitchd,
                                     std::string remote, VswitchReconcilerCallbacks callbacks)
    : loop_(loop),
      vswitchd_(vswitchd),
      remote_(std::move(remote)),
      callbacks_(std::move(callbacks)) {
  ClientOptions options;
  options.remote = remote_;
  options.database = "Open_vSwitch";
  options.lock_name = kLockName;
  options.monitored = MonitoredColumns();
  ClientCallbacks client_callbacks;
  client_callbacks.on_update = [this] { OnUpdate(); };
  client_callbacks.on_lock_change = [this](bool held) { OnLockChange(held); };
  client_callbacks.on_disconnect = [this](const std::string& reason) {
    vlog.Warn(
        "database {} connection lost ({}): the switch keeps its configuration and keeps "
        "forwarding; reconnecting",
        remote_, reason);
    // What was written is re-read from the new connection's snapshot, and
    // statistics are not monitored: write them all again.
    written_statistics_.clear();
  };
  client_ = std::make_unique<Client>(loop_, std::move(options), std::move(client_callbacks));
}

VswitchReconciler::~VswitchReconciler() {
  if (status_timer_) loop_.CancelTimer(status_timer_);
  if (stats_timer_) loop_.CancelTimer(stats_timer_);
}

void VswitchReconciler::Start() {
  vlog.Info("configuration from the database at {} (lock {})", remote_, kLockName);
  client_->Start();
  status_timer_ = loop_.AddTimer(
      kStatusInterval, [this] { SendStatus(); }, /*repeat=*/true);
  stats_timer_ = loop_.AddTimer(
      std::chrono::milliseconds(kMinStatsIntervalMs), [this] { SendStatistics(); },
      /*repeat=*/true);
}

void VswitchReconciler::LogOnce(const std::string& line) {
  if (logged_.insert(line).second) vlog.Warn("{}", line);
}

void VswitchReconciler::OnLockChange(bool held) {
  if (held) {
    vlog.Info("took the {} lock on {}", kLockName, remote_);
    OnUpdate();
    return;
  }
  // Dropped with the connection: taken again on the next one.
  if (!client_->lock_contended()) return;
  if (!ready_) {
    if (callbacks_.on_fatal) {
      callbacks_.on_fatal(fmt::format(
          "another ovs-vswitchd holds the {} lock on {}: this process will not configure the "
          "switch (one switch per database)",
          kLockName, remote_));
    }
    return;
  }
  vlog.Err(
      "lost the {} lock on {} to another process: configuration changes are no longer "
      "applied here (forwarding goes on as configured)",
      kLockName, remote_);
}

void VswitchReconciler::OnUpdate() {
  if (reconfigure_posted_) return;
  reconfigure_posted_ = true;
  // One reconfiguration for a burst of updates.
  loop_.Post([this] {
    reconfigure_posted_ = false;
    Reconfigure();
  });
}

void VswitchReconciler::Reconfigure() {
  if (!client_->monitoring() || !client_->has_lock()) return;
  if (txn_in_flight_) {
    again_after_txn_ = true;
    return;
  }
  VswitchDb db = ReadVswitchDb(client_->replica());
  for (const std::string& problem : db.problems) LogOnce(problem);
  if (!db.root) {
    LogOnce(
        fmt::format("database {} has no Open_vSwitch row yet (ovs-vsctl init creates it); "
                    "waiting",
                    remote_));
    return;
  }
  DesiredConfig desired = ComputeDesiredConfig(db);
  for (const std::string& warning : desired.warnings) LogOnce(warning);
  // A bridge's datapath id is fixed when it is created (its controllers and
  // the journal know it by that id); a new value waits for the next start.
  for (const vswitchd::BridgeConfig& bridge : desired.config.bridges) {
    const ofproto::Bridge* live = vswitchd_.sw().FindBridge(bridge.name);
    if (live && bridge.datapath_id && live->datapath_id() != bridge.datapath_id) {
      LogOnce(fmt::format("bridge {}: other_config:datapath-id {:016x} differs from the running "
                          "datapath id {:016x}: hsw changes it only when the bridge is created; "
                          "it applies at the next start of hsw-vswitchd",
                          bridge.name, bridge.datapath_id, live->datapath_id()));
    }
  }
  vswitchd::ApplyReport report = vswitchd_.ApplyConfig(desired.config);
  if (!report.fatal_error.empty()) {
    if (callbacks_.on_fatal) callbacks_.on_fatal(report.fatal_error);
    return;
  }
  ++n_reconfigurations_;
  interface_errors_ = desired.interface_errors;
  for (const auto& [name, outcome] : report.interfaces) {
    if (!outcome.error.empty()) interface_errors_[name] = outcome.error;
  }
  for (const auto& [name, mtu] : desired.mtu_requests) {
    if (interface_errors_.count(name) || !vswitchd_.config().config().BridgeOfPort(name)) continue;
    auto current = netdev::GetMtu(name);
    if (current && *current == static_cast<uint32_t>(mtu)) continue;
    if (auto set = netdev::SetMtu(name, static_cast<uint32_t>(mtu)); !set) {
      LogOnce(fmt::format("interface {}: mtu_request: {}", name, set.error().ToString()));
    } else {
      vlog.Info("interface {}: MTU set to {} (mtu_request)", name, mtu);
    }
  }
  if (desired.flow_restore_wait != applied_flow_restore_wait_) {
    applied_flow_restore_wait_ = desired.flow_restore_wait;
    vswitchd_.SetDatabaseFlowRestoreWait(*desired.flow_restore_wait,
                                 fmt::format("other_config:flow-restore-wait={} in the database",
                                             *desired.flow_restore_wait ? "true" : "false"));
  }
  if (report.n_changes) {
    vlog.Info("reconfigured from the database (cfg {}): {} changes", db.root->next_cfg,
              report.n_changes);
  }

  json ops = StatusOps(db);
  if (db.root->cur_cfg != db.root->next_cfg) {
    ops.push_back(UpdateRow("Open_vSwitch", db.root->uuid, {{"cur_cfg", db.root->next_cfg}}));
  }
  if (ops.empty()) {
    if (!ready_) {
      ready_ = true;
      if (callbacks_.on_ready) callbacks_.on_ready();
    }
    return;
  }
  txn_in_flight_ = true;
  uint64_t seqno = client_->connection_seqno();
  int64_t cfg = db.root->next_cfg;
  client_->Transact(std::move(ops), [this, seqno, cfg](Result<json> results) {
    txn_in_flight_ = false;
    bool ok = results.has_value();
    if (!ok) {
      vlog.Warn("configuration transaction (cfg {}) failed: {}", cfg, results.error().ToString());
    } else {
      for (const json& result : *results) {
        if (result.is_object() && result.contains("error")) {
          ok = false;
          vlog.Warn("configuration transaction (cfg {}): {}", cfg, result.dump());
        }
      }
    }
    if (ok && !ready_) {
      ready_ = true;
      if (callbacks_.on_ready) callbacks_.on_ready();
    }
    // A change that arrived meanwhile, or a failed write on a live
    // connection: once more (a reconnect brings its own update).
    if (again_after_txn_ || (!ok && seqno == client_->connection_seqno())) {
      again_after_txn_ = false;
      OnUpdate();
    }
  });
}

json VswitchReconciler::StatusOps(const VswitchDb& db) {
  json ops = json::array();
  const vswitchd::Config& applied = vswitchd_.config().config();
  ofproto::Switch& sw = vswitchd_.sw();
  for (const auto& [uuid, row] : db.interfaces) {
    const vswitchd::BridgeConfig* bridge = applied.BridgeOfPort(row.name);
    std::optional<ofproto::PortState> state;
    if (bridge) state = sw.GetPortState(bridge->name, row.name);
    json update = json::object();
    if (state) {
      int64_t ofport = state->ofport == ofp::kPortLocal ? kOvsdbLocalPort : state->ofport;
      SetIfChanged<int64_t>(update, "ofport", row.ofport, ofport);
      SetIfChanged<std::string>(update, "error", row.error, std::nullopt);
      SetIfChanged<int64_t>(update, "ifindex", row.ifindex,
                            state->ifindex ? std::optional<int64_t>(state->ifindex) : std::nullopt);
      SetIfChanged<int64_t>(update, "mtu", row.mtu,
                            state->mtu ? std::optional<int64_t>(state->mtu) : std::nullopt);
      SetIfChanged<std::string>(
          update, "mac_in_use", row.mac_in_use,
          state->type == "patch" ? std::nullopt : std::optional(FormatMac(state->mac)));
      SetIfChanged<std::string>(update, "admin_state", row.admin_state,
                                state->admin_up ? "up" : "down");
      SetIfChanged<std::string>(update, "link_state", row.link_state,
                                state->link_up ? "up" : "down");
    } else if (auto error = interface_errors_.find(row.name); error != interface_errors_.end()) {
      SetIfChanged<int64_t>(update, "ofport", row.ofport, -1);
      SetIfChanged<std::string>(update, "error", row.error, error->second);
      SetIfChanged<int64_t>(update, "ifindex", row.ifindex, std::nullopt);
      SetIfChanged<int64_t>(update, "mtu", row.mtu, std::nullopt);
      SetIfChanged<std::string>(update, "mac_in_use", row.mac_in_use, std::nullopt);
      SetIfChanged<std::string>(update, "admin_state", row.admin_state, std::nullopt);
      SetIfChanged<std::string>(update, "link_state", row.link_state, std::nullopt);
    }
    if (!update.empty()) ops.push_back(UpdateRow("Interface", uuid, std::move(update)));
  }
  for (const auto& [uuid, row] : db.bridges) {
    const ofproto::Bridge* bridge = sw.FindBridge(row.name);
    if (!bridge || !applied.FindBridge(row.name)) continue;
    std::string dpid = fmt::format("{:016x}", bridge->datapath_id());
    if (row.datapath_id != dpid) ops.push_back(UpdateRow("Bridge", uuid, {{"datapath_id", dpid}}));
    const ofproto::ConnManager* endpoint = vswitchd_.endpoint(row.name);
    if (!endpoint) continue;
    std::vector<ofproto::ConnInfo> connections = endpoint->Connections();
    for (const std::string& controller_uuid : row.controllers) {
      auto controller = db.controllers.find(controller_uuid);
      if (controller == db.controllers.end()) continue;
      const ControllerRow& c = controller->second;
      const ofproto::ConnInfo* conn = nullptr;
      for (const ofproto::ConnInfo& info : connections) {
        if (info.controller && info.connected && info.name.size() >= c.target.size() &&
            info.name.compare(info.name.size() - c.target.size(), c.target.size(), c.target) == 0) {
          conn = &info;
        }
      }
      bool listener = c.target.rfind("ptcp:", 0) == 0 || c.target.rfind("punix:", 0) == 0;
      json update = json::object();
      SetIfChanged<bool>(update, "is_connected", c.is_connected, conn != nullptr);
      std::optional<std::string> role;
      if (conn) {
        role = conn->role == ofp::kRoleMaster  ? "master"
               : conn->role == ofp::kRoleSlave ? "slave"
                                               : "other";
      }
      SetIfChanged<std::string>(update, "role", c.role, role);
      StringMap status = {{"state", conn                            ? "ACTIVE"
                                    : listener                      ? "LISTENING"
                                    : vswitchd_.flow_restore_wait() ? "VOID (flow-restore-wait)"
                                                                    : "BACKOFF"}};
      if (c.status != status) update["status"] = MakeStringMap(status);
      if (!update.empty())
        ops.push_back(UpdateRow("Controller", controller_uuid, std::move(update)));
    }
  }
  for (const auto& [uuid, row] : db.datapaths) {
    if (row.capabilities != DatapathCapabilities()) {
      ops.push_back(
          UpdateRow("Datapath", uuid, {{"capabilities", MakeStringMap(DatapathCapabilities())}}));
    }
  }
  if (db.root) {
    json update = json::object();
    if (db.root->iface_types != kInterfaceTypes)
      update["iface_types"] = MakeStringSet(kInterfaceTypes);
    if (db.root->datapath_types != kDatapathTypes) {
      update["datapath_types"] = MakeStringSet(kDatapathTypes);
    }
    if (!update.empty()) ops.push_back(UpdateRow("Open_vSwitch", db.root->uuid, std::move(update)));
  }
  return ops;
}

void VswitchReconciler::SendStatus() {
  if (!ready_ || txn_in_flight_ || status_in_flight_ || !client_->monitoring() ||
      !client_->has_lock()) {
    return;
  }
  VswitchDb db = ReadVswitchDb(client_->replica());
  json ops = StatusOps(db);
  if (ops.empty()) return;
  status_in_flight_ = true;
  client_->Transact(std::move(ops), [this](Result<json> results) {
    status_in_flight_ = false;
    if (!results) vlog.Dbg("status transaction failed: {}", results.error().ToString());
  });
}

json VswitchReconciler::StatisticsOps(const VswitchDb& db) {
  json ops = json::array();
  const vswitchd::Config& applied = vswitchd_.config().config();
  for (const auto& [uuid, row] : db.interfaces) {
    const vswitchd::BridgeConfig* bridge = applied.BridgeOfPort(row.name);
    if (!bridge) continue;
    auto state = vswitchd_.sw().GetPortState(bridge->name, row.name);
    if (!state) continue;
    const dpif::PortStats& s = state->stats;
    std::map<std::string, int64_t> stats = {{"rx_packets", static_cast<int64_t>(s.rx_packets)},
                                            {"rx_bytes", static_cast<int64_t>(s.rx_bytes)},
                                            {"rx_dropped", static_cast<int64_t>(s.rx_dropped)},
                                            {"rx_errors", static_cast<int64_t>(s.rx_errors)},
                                            {"tx_packets", static_cast<int64_t>(s.tx_packets)},
                                            {"tx_bytes", static_cast<int64_t>(s.tx_bytes)},
                                            {"tx_dropped", static_cast<int64_t>(s.tx_dropped)},
                                            {"tx_errors", static_cast<int64_t>(s.tx_errors)}};
    auto& written = written_statistics_[uuid];
    if (written == stats) continue;
    written = stats;
    std::vector<std::pair<json, json>> pairs(stats.begin(), stats.end());
    ops.push_back(UpdateRow("Interface", uuid, {{"statistics", MakeMap(std::move(pairs))}}));
  }
  return ops;
}

void VswitchReconciler::SendStatistics() {
  if (!ready_ || stats_in_flight_ || !client_->monitoring() || !client_->has_lock()) return;
  VswitchDb db = ReadVswitchDb(client_->replica());
  if (db.root) {
    // other_config:stats-update-interval, in ms, never below 5 s (OVS's rule).
    auto interval = db.root->other_config.find("stats-update-interval");
    if (interval != db.root->other_config.end()) {
      int64_t ms = std::max<int64_t>(kMinStatsIntervalMs, std::atoll(interval->second.c_str()));
      auto now = EventLoop::Clock::now();
      if (now - last_stats_ < std::chrono::milliseconds(ms)) return;
      last_stats_ = now;
    }
  }
  json ops = StatisticsOps(db);
  if (ops.empty()) return;
  stats_in_flight_ = true;
  client_->Transact(std::move(ops), [this](Result<json> results) {
    stats_in_flight_ = false;
    if (!results) {
      written_statistics_.clear();
      vlog.Dbg("statistics transaction failed: {}", results.error().ToString());
    }
  });
}

}  // namespace hsw::ovsdb
