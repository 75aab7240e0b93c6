// VswitchReconciler: hsw-vswitchd's database mode.  It turns the rows of a
// real ovsdb-server's Open_vSwitch database into the switch's configuration
// and writes the switch's status back, the way ovs-vswitchd's bridge.c does
// (bridge_run / bridge_reconfigure), so that ovs-vsctl, ovn-controller and
// the scripts written for OVS configure hsw unchanged.
//
// Reading: the client (ovsdb/client.h) takes the `ovs_vswitchd` lock and
// monitors MonitoredColumns().  After every change set, with the lock held,
// the whole desired configuration is recomputed from the replica (a node's
// database is small; bridge.c does the same) and handed to
// Vswitchd::ApplyConfig, which changes only what differs.  A resync after
// ovsdb-server restarted gives the same configuration, so it changes
// nothing: no datapath flow is touched while the database is away or comes
// back.  Open_vSwitch other_config:flow-restore-wait is followed on its
// changes (and at the first configuration), so a deadline that cleared it in
// hsw-vswitchd is not undone by a value nobody changed.
//
// Writing, one transaction in flight at a time:
//   * the configuration transaction, after each reconfiguration: every
//     status column whose value changed (Interface ofport/error/ifindex/
//     mac_in_use/mtu/admin_state/link_state, Bridge datapath_id, Controller
//     is_connected/role/status, Datapath capabilities, Open_vSwitch
//     iface_types/datapath_types) and cur_cfg := the next_cfg it applied.
//     It is sent once the change is in force in the datapath (ApplyConfig
//     syncs), so `ovs-vsctl` without --no-wait returns exactly then;
//   * a status transaction every second with what changed meanwhile (links,
//     controllers), and Interface statistics every stats-update-interval
//     (other_config, at least 5 s, default 5 s).
// A failed interface gets ofport -1 and the reason in `error`, its other
// status columns cleared (iface_clear_db_record in OVS); the rest of the
// configuration still applies.  Unsupported settings are logged once each
// (and, for an interface, put in its `error`), never silently ignored.
//
// The first configuration: once it is applied and its transaction
// committed, `on_ready` runs (hsw-vswitchd's --detach returns then).  If the
// lock is held by another ovs-vswitchd at that point, `on_fatal` runs: a
// second switch on one database is refused rather than left waiting.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "common/event_loop.h"
#include "ovsdb/client.h"
#include "ovsdb/vswitch_model.h"
#include "vswitchd/vswitchd.h"

namespace hsw::ovsdb {

struct VswitchReconcilerCallbacks {
  std::function<void()> on_ready;
  std::function<void(const std::string& reason)> on_fatal;
};

// The desired configuration a database snapshot describes, and what was
// wrong with it: interface name -> the error its row gets.  Pure, for tests.
struct DesiredConfig {
  vswitchd::Config config;
  std::map<std::string, std::string> interface_errors;
  std::map<std::string, int64_t> mtu_requests;  // interface -> MTU
  std::optional<bool> flow_restore_wait;        // nullopt: no Open_vSwitch row
  // One line per unsupported or invalid setting, for the log.
  std::vector<std::string> warnings;
};
DesiredConfig ComputeDesiredConfig(const VswitchDb& db);

class VswitchReconciler : public vswitchd::DatabaseConfigSource {
 public:
  VswitchReconciler(EventLoop& loop, vswitchd::Vswitchd& vswitchd, std::string remote,
                    VswitchReconcilerCallbacks callbacks);
  ~VswitchReconciler() override;

  void Start() override;
  const Client& client() const { return *client_; }
  uint64_t n_reconfigurations() const { return n_reconfigurations_; }

 private:
  void OnUpdate();
  void OnLockChange(bool held);
  void Reconfigure();
  // Ops updating every status column whose value differs from `db`'s.
  nlohmann::json StatusOps(const VswitchDb& db);
  nlohmann::json StatisticsOps(const VswitchDb& db);
  void SendStatus();
  void SendStatistics();
  void LogOnce(const std::string& line);

  EventLoop& loop_;
  vswitchd::Vswitchd& vswitchd_;
  std::string remote_;
  VswitchReconcilerCallbacks callbacks_;
  std::unique_ptr<Client> client_;
  bool reconfigure_posted_ = false;
  bool txn_in_flight_ = false;
  bool again_after_txn_ = false;  // a change arrived while a txn was in flight
  bool ready_ = false;
  std::optional<bool> applied_flow_restore_wait_;
  // Errors of interfaces that failed, kept until they are added, so that
  // the status written is the same on every pass.
  std::map<std::string, std::string> interface_errors_;
  std::set<std::string> logged_;
  std::map<std::string, std::map<std::string, int64_t>> written_statistics_;
  EventLoop::TimerId status_timer_ = 0;
  EventLoop::TimerId stats_timer_ = 0;
  bool status_in_flight_ = false;
  bool stats_in_flight_ = false;
  EventLoop::Clock::time_point last_stats_{};
  uint64_t n_reconfigurations_ = 0;
};

}  // namespace hsw::ovsdb
