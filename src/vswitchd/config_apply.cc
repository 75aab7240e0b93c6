// Vswitchd::ApplyConfig: the database mode's reconfiguration, a desired
// Config in, the running bridges, ports and controllers changed to match it.
// The order is ovs-vswitchd's bridge_reconfigure: every deletion before any
// addition, so that an interface moved from one bridge to another, or an
// OpenFlow port number handed from one interface to another, is free when
// it is wanted again.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "openflow/flow_text.h"
#include "openflow/ofp_codec.h"
#include "vswitchd/vswitchd.h"

namespace hsw::vswitchd {
namespace {

const log::Module vlog("bridge");

bool IsSystemType(const std::string& type) { return type.empty() || type == "system"; }

// Whether a running port must be removed and added again to become `wanted`.
// A requested OpenFlow port number that differs moves the port, as in OVS;
// no request keeps whatever number the port has.
bool PortNeedsReadd(const PortConfig& running, const PortConfig& wanted) {
  if (IsSystemType(running.type) != IsSystemType(wanted.type)) return true;
  if (!IsSystemType(wanted.type) && running.type != wanted.type) return true;
  if (running.peer != wanted.peer) return true;
  return wanted.ofport != 0 && wanted.ofport != running.ofport;
}

}  // namespace

const ofproto::ConnManager* Vswitchd::endpoint(const std::string& bridge) const {
  auto it = endpoints_.find(bridge);
  return it == endpoints_.end() ? nullptr : it->second.get();
}

void Vswitchd::DeleteBridgeNow(const std::string& name) {
  endpoints_.erase(name);
  if (auto deleted = switch_->DeleteBridge(name); !deleted) {
    vlog.Warn("deleting bridge {}: {}", name, deleted.error().ToString());
  }
  // A bridge created later under the same name starts empty.
  if (journal_) {
    if (auto cleared = journal_->AppendClearBridge(name); !cleared) {
      vlog.Err("journal {}: {}", journal_->path(), cleared.error().ToString());
    }
  }
  (void)config_.DeleteBridge(name);
  vlog.Info("deleted bridge {}", name);
}

Status Vswitchd::AddBridgeNow(const BridgeConfig& wanted) {
  if (auto added = switch_->AddBridge(wanted.name, wanted.datapath_id); !added) {
    return Err("cannot create bridge {}: {}", wanted.name, added.error().ToString());
  }
  if (auto opened = OpenEndpoint(wanted.name); !opened) {
    (void)switch_->DeleteBridge(wanted.name);
    return opened;
  }
  (void)config_.Update([&](Config& config) -> Status {
    BridgeConfig bridge = wanted;
    bridge.ports.clear();
    bridge.controllers.clear();  // set below, once the tables may be served
    config.bridges.push_back(std::move(bridge));
    return Ok();
  });
  vlog.Info("created bridge {}", wanted.name);
  return Ok();
}

void Vswitchd::AddDefaultNormalRule(const std::string& name) {
  ofproto::Bridge* bridge = switch_->FindBridge(name);
  if (!bridge) return;
  auto flow_mod = ofp::ParseFlowMod("priority=0,actions=NORMAL", ofp::FlowModCommand::kAdd,
                                    [](std::string_view) { return std::nullopt; });
  if (!flow_mod) return;
  if (auto done = bridge->FlowMod(*flow_mod); !done) {
    vlog.Err("bridge {}: cannot add the default NORMAL rule: {}", name, done.error().detail);
    return;
  }
  vlog.Info("bridge {}: fail_mode standalone without controllers: added priority=0,actions=NORMAL",
            name);
}

ApplyReport Vswitchd::ApplyConfig(const Config& wanted) {
  ApplyReport report;
  const bool first = !journal_;
  std::vector<std::string> created;

  // 1. Deletions: bridges no longer wanted, then ports.
  std::vector<std::string> doomed;
  for (const BridgeConfig& running : config_.config().bridges) {
    if (!wanted.FindBridge(running.name)) doomed.push_back(running.name);
  }
  for (const std::string& name : doomed) {
    DeleteBridgeNow(name);
    ++report.n_changes;
  }
  for (const BridgeConfig& running : std::vector<BridgeConfig>(config_.config().bridges)) {
    const BridgeConfig* want = wanted.FindBridge(running.name);
    for (const PortConfig& port : running.ports) {
      const PortConfig* want_port = want->FindPort(port.name);
      if (want_port && !PortNeedsReadd(port, *want_port)) continue;
      if (auto deleted = switch_->DeletePort(running.name, port.name); !deleted) {
        vlog.Warn("bridge {}: removing port {}: {}", running.name, port.name,
                  deleted.error().ToString());
      }
      (void)config_.DeletePort(running.name, port.name);
      vlog.Info("bridge {}: removed port {}{}", running.name, port.name,
                want_port ? " (to add it again as configured now)" : "");
      ++report.n_changes;
    }
  }

  // 2. Additions: bridges, then each bridge's missing ports.
  for (const BridgeConfig& want : wanted.bridges) {
    if (config_.config().FindBridge(want.name)) continue;
    if (auto added = AddBridgeNow(want); !added) {
      vlog.Err("{}", added.error().ToString());
      for (const PortConfig& port : want.ports) {
        report.interfaces[port.name] = {want.name, 0, added.error().ToString()};
      }
      continue;
    }
    created.push_back(want.name);
    ++report.n_changes;
  }
  for (const BridgeConfig& want : wanted.bridges) {
    if (!config_.config().FindBridge(want.name)) continue;  // could not be created
    // Ports whose requested number is free go first, so that a port asking
    // for no number is not given one that another port of this change set
    // asks for.
    std::vector<const PortConfig*> order;
    for (const PortConfig& port : want.ports) order.push_back(&port);
    std::stable_partition(order.begin(), order.end(),
                          [](const PortConfig* p) { return p->ofport != 0; });
    for (const PortConfig* port : order) {
      const BridgeConfig* running = config_.config().FindBridge(want.name);
      if (const PortConfig* have = running->FindPort(port->name)) {
        report.interfaces[port->name] = {want.name, have->ofport, ""};
        continue;
      }
      if (const BridgeConfig* owner = config_.config().BridgeOfPort(port->name)) {
        std::string error =
            fmt::format("interface {} is already a port of bridge {}", port->name, owner->name);
        vlog.Err("bridge {}: {}", want.name, error);
        report.interfaces[port->name] = {want.name, 0, error};
        continue;
      }
      ofproto::PortSpec spec;
      spec.name = port->name;
      spec.type = port->type;
      spec.peer = port->peer;
      spec.ofport = port->ofport;
      // OVS: "if ofport_request is ... already in use, Open vSwitch assigns
      // a different number".
      if (spec.ofport != 0 && std::any_of(running->ports.begin(), running->ports.end(),
                                          [&](const PortConfig& p) { return p.ofport == spec.ofport; })) {
        vlog.Warn("bridge {}: interface {} requests OpenFlow port {}, which is in use: assigning "
                  "another",
                  want.name, port->name, spec.ofport);
        spec.ofport = 0;
      }
      auto added = switch_->AddPort(want.name, spec);
      if (!added) {
        // OVS's words for a device that is not there, which ovs-vsctl
        // prints and scripts look for.  The datapath protocol carries the
        // errno as text only.
        const Error& e = added.error();
        bool no_device =
            e.code == ENODEV || e.message.find(std::strerror(ENODEV)) != std::string::npos;
        std::string error = no_device ? fmt::format("could not open network device {} ({})",
                                                    port->name, std::strerror(ENODEV))
                                      : e.ToString();
        vlog.Err("bridge {}: cannot add interface {}: {}", want.name, port->name, error);
        report.interfaces[port->name] = {want.name, 0, error};
        continue;
      }
      (void)config_.Update([&](Config& config) -> Status {
        PortConfig applied = *port;
        applied.ofport = *added;
        config.FindBridge(want.name)->ports.push_back(std::move(applied));
        return Ok();
      });
      report.interfaces[port->name] = {want.name, *added, ""};
      ++report.n_changes;
    }
  }

  // 3. Settings of bridges: controllers and OpenFlow versions.
  for (const BridgeConfig& want : wanted.bridges) {
    const BridgeConfig* running = config_.config().FindBridge(want.name);
    if (!running) continue;
    auto endpoint = endpoints_.find(want.name);
    if (endpoint == endpoints_.end()) continue;
    if (running->allowed_versions != want.allowed_versions) {
      uint32_t versions = want.allowed_versions ? want.allowed_versions : ofp::kSupportedVersions;
      if (auto set = endpoint->second->SetAllowedVersions(versions); !set) {
        vlog.Err("bridge {}: protocols: {}", want.name, set.error().ToString());
      }
    }
    if (running->controllers != want.controllers) {
      // Held back during flow-restore-wait; SetFlowRestoreWait(false)
      // connects what the configuration then holds.
      if (switch_->tables_loaded()) {
        if (auto set = endpoint->second->SetControllers(want.controllers); !set) {
          vlog.Err("bridge {}: controllers: {}", want.name, set.error().ToString());
        }
      }
      ++report.n_changes;
    }
    (void)config_.Update([&](Config& config) -> Status {
      BridgeConfig* b = config.FindBridge(want.name);
      b->controllers = want.controllers;
      b->allowed_versions = want.allowed_versions;
      b->fail_mode = want.fail_mode;
      return Ok();
    });
  }

  // 4. The first configuration brings the rules back from the journal; a
  // bridge it had no rules for, or one created since, gets OVS's default.
  if (first) {
    if (auto opened = OpenJournal(); !opened) {
      report.fatal_error = opened.error().ToString();
      return report;
    }
  }
  for (const std::string& name : created) {
    const BridgeConfig* bridge = config_.config().FindBridge(name);
    bool standalone = bridge->fail_mode.empty() || bridge->fail_mode == "standalone";
    if (standalone && bridge->controllers.empty() && !(first && journaled_bridges_.count(name))) {
      AddDefaultNormalRule(name);
    }
  }
  if (report.n_changes) switch_->Sync();
  return report;
}

}  // namespace hsw::vswitchd
