// hsw-vswitchd: the control plane's process.  This module is the wiring --
// the switch logic is ofproto's, the OpenFlow wire connmgr's -- and owns what
// only the daemon has: the configuration (config_store.h), the control socket
// (control_server.h) and the start-up and shutdown order.
//
// Start-up, in order (each failure is an ERR log line naming the problem, a
// non-zero exit, and under --detach the reason printed by the waiting parent):
//   1. load <statedir>/conf.json (a corrupt file stops here; it is never
//      overwritten);
//   2. connect to hsw-datapath at --datapath-socket as its owner;
//   3. create the ofproto Switch over it (flows already in the datapath are
//      adopted and left alone until the tables are loaded);
//   4. re-create bridges and ports from the configuration, with the OpenFlow
//      port numbers they had, and an OpenFlow endpoint <rundir>/<bridge>.mgmt
//      per bridge;
//   5. replay <statedir>/flows.journal into the tables (a damaged journal
//      stops here, naming the file and offset; a torn last record, left by a
//      process killed mid-write, is dropped with a WARN), then journal every
//      committed table change;
//   6. listen on <rundir>/vswitchd.ctl;
//   7. unless --flow-restore-wait, mark the tables loaded; then tell the
//      parent/systemd we are ready and log "hsw-vswitchd ready".
//
// Control methods (params -> result; see control_server.h for the framing):
//   version {} -> "hsw-vswitchd 0.1.0"
//   add-br {bridge, datapath_id?: hex} / del-br {bridge} / list-br {} -> [names]
//   add-port {bridge, iface, ofport?} -> {ofport} / del-port {bridge, iface}
//   list-ports {bridge} -> [{name, ofport, dp_port}]
//   add-flow {bridge, flow} / add-flows {bridge, text, file?} (all or none)
//   del-flows {bridge, match?, strict?} / dump-flows {bridge, match?, names?} -> [lines]
//   set {key, value} / get {key} -> value
//   set-controller {bridge, targets: [..]}
//   show {} -> {version, pid, tables_loaded, datapath, bridges, settings, counters}
//   trace {bridge, flow} -> text
//   log-reopen {} / vlog/set {level}
//   save-flows {payload?: bool} -> {version, journal, bridges: [{name, flows: [ovs-ofctl lines]}]}
//       or, with payload=true, bridges: [{name, n_flows, size}] and the
//       bridges' flow text (one flow per '\n'-terminated line) as the reply's
//       payload, `size` bytes each, in order
//   restore-flows {bridges: [{name, text | size, file?}]} -> {bridges: [{name, n_flows}]}
//       with `size`, the bridge's text is the next `size` bytes of the
//       request's payload;
//       replaces the listed bridges' tables: all parsed first, all bridges
//       or none changed; allowed during flow-restore-wait (hsw-ctl is the
//       one doing the restore).
//   wait-ready {} -> null, sent once the tables are loaded
//   exit {} -> null, then a clean exit (the datapath keeps forwarding)
// Every flow change is followed by Switch::Sync() before the reply, so a
// reply means the change is visible to traffic.  Errors name what is wrong,
// and a failed request changes nothing.
//
// Settings: any KEY=VALUE is stored in the configuration, except
// flow-restore-wait, which is a property of this process's life (like OVS's,
// it is cleared by whoever restored the flows) and so is never persisted:
// `set flow-restore-wait=false` marks the tables loaded.  While it holds, no
// datapath flow is changed, misses wait in the datapath, controllers are not
// connected, and OpenFlow writes are refused (the restore comes through the
// control socket); after --flow-restore-wait-timeout it clears itself.
//
// Shutdown: SIGTERM/SIGINT (or `exit`) stop the event loop; then upcalls are
// paused in the datapath and every upcall it sent before the pause is handled
// (Switch::DrainUpcallsForExit), so a graceful stop loses no miss; then the
// control and OpenFlow sockets close and the process exits 0, leaving the
// datapath and its flows alone so that traffic keeps flowing.
// SIGHUP reopens the log file.
//
// Losing the datapath connection is an ERR, not an exit: OpenFlow and the
// control socket are still served (table changes wait for the datapath)
// while datapath.sock is tried again with a growing pause (50 ms to 1 s);
// the new connection is reconciled by Switch::Reconnect (ports re-added,
// flows adopted or forgotten, everything revalidated).  Only after
// --datapath-reconnect-timeout seconds (default 60) without a datapath does
// hsw-vswitchd exit with status 1.  A datapath replaced behind a kept
// connection (a hot handover) is noticed by the Switch from its stats.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/daemon.h"
#include "common/event_loop.h"
#include "common/result.h"
#include "dpif/dpif.h"
#include "ofproto/connmgr.h"
#include "ofproto/ofproto.h"
#include "vswitchd/config_store.h"
#include "vswitchd/control_server.h"
#include "vswitchd/unixctl_server.h"
#include "vswitchd/flow_journal.h"

// CLI11 costs ~12 s of compile time per translation unit under ASan;
// only the .cc files that define options include it.
namespace CLI {
class App;
}  // namespace CLI

namespace hsw::vswitchd {

class AppctlCommands;  // appctl_commands.h

struct VswitchdOptions {
  daemon::Options daemon;
  // The database mode: "unix:PATH" or "tcp:IP:PORT" of an ovsdb-server with
  // the Open_vSwitch schema, which is then the configuration (read and
  // written back by ovsdb/vswitch_reconciler.h); "" = <statedir>/conf.json.
  std::string database;
  std::string datapath_socket;  // "" = <rundir>/datapath.sock
  // "hsw-vswitchd", or "ovs-vswitchd" in OVS identity (ovs_identity.h): the
  // name of the pidfile, lock, log file and unixctl socket.
  std::string program = "hsw-vswitchd";
  // --unixctl[=SOCKET] as given: nullopt = not given, "" = the default name.
  std::optional<std::string> unixctl;
  // The unixctl socket that ovs-appctl talks to (unixctl_server.h), resolved
  // by VswitchdMain after --detach (OVS's default name holds the daemon's
  // pid); "" = none (hsw identity without --unixctl).
  std::string unixctl_path;
  bool flow_restore_wait = false;
  // A flow-restore-wait that nobody clears within this long is cleared by
  // hsw-vswitchd itself (with an ERR): a crashed restore must not leave the
  // switch frozen.  0 = never.
  double flow_restore_wait_timeout_s = 60;
  // After the datapath connection is lost, how long to keep trying to
  // reconnect (serving OpenFlow meanwhile) before exiting with status 1.
  // 0 = exit at once.
  double datapath_reconnect_timeout_s = 60;
  // --test-refuse-flow-mods (hidden; tests only): the control socket's
  // add-flow fails, so that `hsw-ctl upgrade --vswitchd`'s health check has
  // a binary that starts fine and is still unhealthy.
  bool refuse_flow_mods_for_testing = false;
};

void AddVswitchdOptions(CLI::App& app, VswitchdOptions& options);

// What one ApplyConfig() did to each interface it was asked for: the
// OpenFlow port it has, or why it has none (the database's Interface.error).
struct InterfaceOutcome {
  std::string bridge;
  uint32_t ofport = 0;  // 0 when `error` is set
  std::string error;
};

struct ApplyReport {
  std::map<std::string, InterfaceOutcome> interfaces;  // by interface name
  size_t n_changes = 0;  // bridges and ports added or removed, controllers changed
  // Set when hsw-vswitchd cannot go on, as at start-up in the conf.json mode
  // (a damaged flow journal): the caller exits with it.
  std::string fatal_error;
};

class Vswitchd {
 public:
  // Runs start-up steps 1-6 above, except the readiness notification (the
  // caller's).  `dpif` replaces the connection to --datapath-socket (tests
  // pass a FakeDpif).
  static Result<std::unique_ptr<Vswitchd>> Create(EventLoop& loop, const daemon::Dirs& dirs,
                                                  const VswitchdOptions& options,
                                                  std::unique_ptr<dpif::Dpif> dpif = nullptr);
  // Closes the control socket and the bridges' OpenFlow sockets; leaves the
  // datapath's ports and flows alone.
  ~Vswitchd();

  // The database mode (options.database set): makes the running switch
  // match `wanted`, as ovs-vswitchd's bridge_reconfigure does: deletions
  // first (bridges, then ports no longer wanted or whose type, peer or
  // requested OpenFlow port changed), then additions.  A port that fails is
  // reported in the result and left out, so that the next call tries it
  // again; it never stops the rest.  The first call also replays the flow
  // journal into the bridges it created.  Every change is in force in the
  // datapath (Switch::Sync) when it returns.
  ApplyReport ApplyConfig(const Config& wanted);
  bool database_mode() const { return !options_.database.empty(); }
  // flow-restore-wait has two holders: hsw's own (--flow-restore-wait,
  // `hsw-ctl set`, the deadline) and, in the database mode, the database's
  // other_config:flow-restore-wait.  The switch waits (tables not loaded:
  // datapath flows frozen, controllers held back, wait-ready parked) while
  // either holds, so that `hsw-ctl start --db --restore-flows` is not
  // released by a database that says false, nor an OVS script's restore by
  // hsw-ctl.  `why` goes into the log line.
  void SetFlowRestoreWait(bool wait, const std::string& why);
  void SetDatabaseFlowRestoreWait(bool wait, const std::string& why);
  bool flow_restore_wait() const { return !switch_->tables_loaded(); }
  // ConnManager of a bridge, for the controllers' status (nullptr: none).
  const ofproto::ConnManager* endpoint(const std::string& bridge) const;
  const VswitchdOptions& options() const { return options_; }

  ControlServer& control() { return *control_; }
  ofproto::Switch& sw() { return *switch_; }
  const ConfigStore& config() const { return config_; }

 private:
  Vswitchd(EventLoop& loop, daemon::Dirs dirs, VswitchdOptions options, ConfigStore config);

  Status Start(std::unique_ptr<dpif::Dpif> dpif);
  // ApplyConfig's steps (config_apply.cc).
  void DeleteBridgeNow(const std::string& name);
  Status AddBridgeNow(const BridgeConfig& wanted);
  // Adds the OpenFlow rule a new bridge of fail_mode standalone without
  // controllers gets in OVS: table 0, priority 0, actions=NORMAL.
  void AddDefaultNormalRule(const std::string& bridge);
  Result<nlohmann::json> RestoreFlows(const nlohmann::json& params, std::string_view payload);
  // Opens <statedir>/flows.journal, replays it into the bridges' tables and
  // from then on appends every committed table change to it.
  Status OpenJournal();
  void Journal(const ofproto::Bridge& bridge, const std::vector<ofp::FlowMod>& flow_mods);
  void CompactJournal();
  nlohmann::json JournalPositionJson() const;
  size_t CountRules() const;
  void RegisterMethods();
  Status OpenEndpoint(const std::string& bridge);
  Result<ofproto::Bridge*> GetBridge(const nlohmann::json& params);
  // The bridge and port commands of the control socket in the database mode.
  Status RefuseInDatabaseMode(const std::string& command) const;
  nlohmann::json Show();

  EventLoop& loop_;
  daemon::Dirs dirs_;
  VswitchdOptions options_;
  std::string datapath_socket_;
  ConfigStore config_;
  std::unique_ptr<ofproto::Switch> switch_;
  std::map<std::string, std::unique_ptr<ofproto::ConnManager>> endpoints_;  // by bridge
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<FlowJournal> journal_;
  bool compaction_posted_ = false;
  // Bridges the journal held records of when it was replayed: they get their
  // rules from it, not OVS's default rule.
  std::set<std::string> journaled_bridges_;
  EventLoop::TimerId restore_wait_deadline_ = 0;
  bool own_restore_wait_ = false;       // --flow-restore-wait, hsw-ctl set
  bool database_restore_wait_ = false;  // other_config:flow-restore-wait
  void UpdateFlowRestoreWait(const std::string& why);
  // Last members: destroyed first, before anything they point into.
  std::unique_ptr<UnixctlServer> unixctl_;
  std::unique_ptr<AppctlCommands> appctl_;
};

// The database mode's source of configuration (ovsdb/vswitch_reconciler.h),
// made by the caller of VswitchdMain so that vswitchd/ does not depend on
// ovsdb/: apps/vswitchd_main.cc passes the factory.
class DatabaseConfigSource {
 public:
  virtual ~DatabaseConfigSource() = default;
  virtual void Start() = 0;
};
struct DatabaseConfigHooks {
  std::function<void()> on_ready;  // the first configuration is applied
  std::function<void(const std::string& reason)> on_fatal;
};
using DatabaseConfigFactory = std::function<std::unique_ptr<DatabaseConfigSource>(
    EventLoop& loop, Vswitchd& vswitchd, const std::string& database, DatabaseConfigHooks hooks)>;

// The whole of hsw-vswitchd's main(): options, daemon start, Vswitchd,
// signals, event loop.  Returns the exit code.  `database` makes the
// database mode's configuration source; without it a DATABASE argument is
// refused.
int VswitchdMain(int argc, char** argv, DatabaseConfigFactory database = nullptr);

}  // namespace hsw::vswitchd
