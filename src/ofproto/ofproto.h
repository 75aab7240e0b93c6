// ofproto: hsw-vswitchd's OpenFlow switch logic, above the datapath.
//
//   Switch      owns the Dpif (datapath connection), the bridges, the upcall
//               handler and the revalidator.  One per hsw-vswitchd.
//   Bridge      one OpenFlow switch: ports (OpenFlow port <-> datapath port),
//               254 flow tables, rule statistics and timeouts.
//
// Packet path: the datapath misses -> Upcall -> Switch finds the bridge by the
// datapath in_port -> translation runs the packet's FlowKey through the
// bridge's tables, producing datapath actions and a megaflow mask that holds
// exactly the bits the lookups consulted -> FlowPut + Execute.
//
// Revalidation: every table change bumps the bridge's generation.  Sync()
// (and a timer shortly after each change) re-translates every installed
// megaflow of a changed bridge and fixes, in the datapath, those whose actions
// changed or that no longer translate to one megaflow.  Datapath stats are
// pulled periodically into rule counters; megaflows idle for max_idle are
// removed; rules' idle and hard timeouts expire.
//
// Adoption: flows found in the datapath at connect time are kept untouched
// until SetTablesLoaded(true) -- the daemon's tables may still be empty while
// they are being restored -- and only then revalidated.
//
// Reconciliation: the datapath behind the switch can change under it.  Its
// connection may break (the datapath crashed, or was killed in the middle of
// a hot handover) and a new one be handed to Reconnect(); or the connection
// stays while the process behind it is a new one (a hot handover hands the
// connection itself to the successor), which the periodic stats pull notices
// from the datapath's `datapath_instance_id` counter.  Either way the switch
// makes its state match what the datapath now holds: configured ports it
// lacks are re-added, ukeys of flows it no longer has are forgotten, flows it
// has that the switch does not know are adopted, and every flow is then
// revalidated against the current tables (so flow-mods made while the
// datapath was unreachable take effect).  Between the loss and Reconnect the
// tables keep taking flow-mods; only the datapath-facing work waits.
//
// Threading: everything runs on the daemon's event loop thread.
#pragma once

#include <array>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/event_loop.h"
#include "common/result.h"
#include "dpif/dpif.h"
#include "openflow/ofp_types.h"

namespace hsw::ofproto {

using OfResult = tl::expected<void, ofp::OfpError>;

// Receives one bridge's asynchronous OpenFlow events.  connmgr implements it
// per controller connection.
class BridgeListener {
 public:
  virtual ~BridgeListener() = default;
  virtual void OnPacketIn(const ofp::PacketIn& packet_in) = 0;
  virtual void OnFlowRemoved(const ofp::FlowRemoved& removed) = 0;
  virtual void OnPortStatus(const ofp::PortStatus& status) = 0;
};

// One learned address of the NORMAL action's MAC table (fdb/show).
struct MacEntryView {
  std::array<uint8_t, 6> mac{};
  uint16_t vlan = 0;
  uint32_t ofport = 0;
  int age_s = 0;  // seconds since last seen
};

struct PortView {
  std::string name;
  uint32_t ofport = 0;
  uint32_t dp_port = 0;
};

// A port as the Open_vSwitch database's Interface describes it.
struct PortSpec {
  std::string name;
  // "" or "system": an existing Linux interface (AF_PACKET in the datapath);
  // "internal": a tap device that hsw-datapath creates and holds (an
  // internal port named as its bridge is the bridge's LOCAL port);
  // "patch": no datapath port; output to it continues in `peer`'s bridge.
  std::string type;
  uint32_t ofport = 0;  // requested; 0 = lowest free
  std::string peer;     // patch only: the peer interface
};

// What the reconciler writes back to the database for an interface.
struct PortState {
  std::string type;      // "system", "internal" or "patch"
  uint32_t ofport = 0;   // OpenFlow 1.3 number; LOCAL is ofp::kPortLocal (65534 in OVSDB)
  uint32_t ifindex = 0;  // 0 for patch ports
  std::array<uint8_t, 6> mac{};
  uint32_t mtu = 0;
  bool admin_up = false;
  bool link_up = false;  // patch: the peer exists and names this port back
  dpif::PortStats stats;  // patch ports: what crossed
};

class Bridge {
 public:
  virtual ~Bridge() = default;

  virtual const std::string& name() const = 0;
  virtual uint64_t datapath_id() const = 0;

  // Applies one flow-mod.  On error nothing changed.
  virtual OfResult FlowMod(const ofp::FlowMod& flow_mod) = 0;
  // Applies all or none (the first error is returned and nothing changed).
  virtual OfResult FlowModBatch(const std::vector<ofp::FlowMod>& flow_mods) = 0;

  virtual std::vector<ofp::FlowStats> DumpFlows(const ofp::FlowStatsRequest& request) const = 0;
  virtual ofp::AggregateStats Aggregate(const ofp::FlowStatsRequest& request) const = 0;
  virtual std::vector<ofp::TableStats> GetTableStats() const = 0;
  virtual std::vector<ofp::PortDesc> GetPortDescs() const = 0;
  // port_no = ofp::kPortAny for all ports.
  virtual std::vector<ofp::PortStats> GetPortStats(uint32_t port_no) const = 0;
  virtual OfResult PacketOut(const ofp::PacketOut& packet_out) = 0;

  // Every rule as an OFPFC_ADD flow-mod that re-creates it (counters and
  // ages are not carried): what save-flows writes and a journal snapshot holds.
  virtual std::vector<ofp::FlowMod> SnapshotFlowMods() const = 0;
  // The same flow-mods one at a time, without building the vector (100k
  // rules are tens of megabytes of FlowMods).  `visit` must not keep the
  // reference or change the tables.
  virtual void ForEachFlowMod(const std::function<void(const ofp::FlowMod&)>& visit) const {
    for (const ofp::FlowMod& flow_mod : SnapshotFlowMods()) visit(flow_mod);
  }

  virtual std::vector<PortView> ListPorts() const = 0;
  // OpenFlow port number of a port by interface name (for "in_port=veth1").
  virtual std::optional<uint32_t> FindOfport(const std::string& iface) const = 0;
  virtual size_t n_rules() const = 0;

  virtual void AddListener(BridgeListener* listener) = 0;
  virtual void RemoveListener(BridgeListener* listener) = 0;

  // ofproto/trace: runs `key` (in_port = OpenFlow port) through the tables
  // without touching the datapath.  Returns the rules hit, the datapath
  // actions and the megaflow, as text for tests and operators.
  virtual std::string Trace(const FlowKey& key) = 0;

  // The MAC learning table (NORMAL), oldest entry first.
  virtual std::vector<MacEntryView> MacEntries() const { return {}; }
};

// Told of every committed change to a bridge's tables, in order, as the
// flow-mods that reproduce it from the previous state: a batch that was
// applied, or the strict deletes of rules whose timeout expired.  Replaying
// them in order on the same starting tables gives the same tables (the
// journal relies on this).
using TableChangeObserver =
    std::function<void(const Bridge& bridge, const std::vector<ofp::FlowMod>& flow_mods)>;

struct SwitchOptions {
  std::chrono::milliseconds max_idle{10000};          // evict megaflows unused this long
  std::chrono::milliseconds stats_interval{1000};     // pull datapath stats this often
  std::chrono::milliseconds revalidate_delay{0};      // after a table change (0 = next loop turn)
  size_t upcall_batch = 64;
  // Asks whoever serves the datapath socket now who it is (a monitor's
  // Hello).  Used only when the datapath behind a kept connection changed,
  // because the stats that reveal the change carry numbers, not the new
  // binary's version string.  Unset or failing: the version is "unknown".
  std::function<Result<dpif::HelloReply>()> identify_datapath;
};

// What a reconciliation with the datapath found and did (Reconnect(), or a
// new datapath noticed behind a kept connection).
struct DatapathReconciliation {
  uint32_t datapath_pid = 0;
  std::string datapath_version;
  size_t n_ports = 0;            // ports of the bridges, in the datapath afterwards
  size_t n_ports_readded = 0;    // configured here, missing there, added again
  size_t n_ports_failed = 0;     // could not be added again: taken out of their bridge
  size_t n_flows = 0;            // flows the datapath held
  size_t n_flows_adopted = 0;    // held there, unknown here: adopted
  size_t n_flows_forgotten = 0;  // known here, gone there: ukeys dropped
};

class Switch {
 public:
  virtual ~Switch() = default;

  // Creates the switch over a connected datapath.  Registers the upcall fd
  // and timers with `loop`.  Dumps the datapath's flows for adoption.
  static Result<std::unique_ptr<Switch>> Create(EventLoop& loop, std::unique_ptr<dpif::Dpif> dpif,
                                                SwitchOptions options);

  virtual Status AddBridge(const std::string& name, uint64_t datapath_id = 0) = 0;
  virtual Status DeleteBridge(const std::string& name) = 0;
  virtual Bridge* FindBridge(const std::string& name) = 0;
  virtual std::vector<std::string> BridgeNames() const = 0;

  // Adds interface `iface` to a bridge as OpenFlow port `ofport` (0 = lowest
  // free).  Errors name the bridge/interface (unknown bridge, interface
  // already in a bridge, ofport in use, no such Linux interface).
  virtual Result<uint32_t> AddPort(const std::string& bridge, const std::string& iface,
                                   uint32_t ofport = 0) = 0;
  // Adds a port of any type (PortSpec).  Errors name the bridge, the
  // interface and the reason, and leave nothing half-added.  A port of that
  // name that the datapath already has (it outlived hsw-vswitchd) is reused,
  // not re-created.  Returns the OpenFlow port number (ofp::kPortLocal for
  // the bridge's own internal port).
  // (Not pure, so that test doubles of Switch that predate port types keep
  // compiling: they take system ports only.)
  virtual Result<uint32_t> AddPort(const std::string& bridge, const PortSpec& spec) {
    if (!spec.type.empty() && spec.type != "system") {
      return Err("bridge {}: interface {}: type {} is not supported here", bridge, spec.name,
                 spec.type);
    }
    return AddPort(bridge, spec.name, spec.ofport);
  }
  // The interface's state as of the datapath's last port list or stats pull
  // (no datapath request); nullopt if it is not a port of the bridge.
  virtual std::optional<PortState> GetPortState(const std::string& bridge,
                                                const std::string& iface) {
    return std::nullopt;
  }
  virtual Status DeletePort(const std::string& bridge, const std::string& iface) = 0;

  // Makes every table change so far visible to traffic before returning.
  virtual void Sync() = 0;

  // One observer for the whole switch (nullptr: none).  Not told of changes
  // made while it is unset, e.g. a journal's own replay.
  virtual void SetTableChangeObserver(TableChangeObserver observer) = 0;

  // While false ("flow-restore-wait"), no datapath flow is changed or
  // deleted, misses are left waiting in the datapath's queue, and rules do
  // not expire.  Setting it true revalidates every datapath flow against the
  // tables (fixing only those that differ) and then handles the waiting misses.
  virtual void SetTablesLoaded(bool loaded) = 0;
  virtual bool tables_loaded() const = 0;

  // The last call before a graceful exit, from outside the event loop: asks
  // the datapath to send no more upcalls (UpcallPause; later misses wait in
  // its queue for the next hsw-vswitchd), then handles every upcall it sent
  // before -- flows installed, packets executed, each call answered -- so
  // that none is lost.  Upcalls that arrived while the tables are not loaded
  // cannot be handled; they are counted and logged.  With a datapath that
  // has no UpcallPause (protocol 1) it handles what has arrived, which
  // narrows the loss but cannot close it.  A kill -9 skips all of this; the
  // upcalls then in flight are lost, as they always were.
  virtual void DrainUpcallsForExit() = 0;

  // False once the datapath connection is lost, until Reconnect().
  virtual bool datapath_connected() const = 0;
  // The datapath as last identified: its Hello at connect time, with the pid,
  // instance id and version of a successor noticed behind the connection.
  virtual const dpif::HelloReply& datapath_hello() const = 0;

  // After the connection was lost: takes a new connection (Hello done) to
  // whatever datapath now serves the socket -- the same process, a restarted
  // one with no ports and no flows, or a successor that took everything
  // over -- reconciles with it (see "Reconciliation" above) and resumes
  // upcall handling.  Logs what it found.  If the new connection fails
  // meanwhile, the switch is disconnected again with nothing half-applied
  // that the next Reconnect does not redo, and the error says why.  An error
  // too when the connection is not lost.
  virtual Result<DatapathReconciliation> Reconnect(std::unique_ptr<dpif::Dpif> dpif) = 0;

  // Counters for operators: upcalls handled, flows installed, revalidations...
  virtual std::vector<std::pair<std::string, uint64_t>> Counters() const = 0;
};

}  // namespace hsw::ofproto
