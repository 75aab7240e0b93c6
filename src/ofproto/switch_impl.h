// The implementation of ofproto.h's Switch and Bridge (private to ofproto).
//
// SwitchImpl owns the datapath connection and, for every megaflow it knows
// to be in the datapath, a ukey: the flow's (key, mask), its actions, the
// rules its translation hit and the datapath stats last seen.  Ukeys are how
// the revalidator finds the flows a table change affects, how datapath
// statistics become rule counters, and how idle flows are found.
//
// Flows that were already in the datapath when the switch was created (left
// by a previous hsw-vswitchd) become "adopted" ukeys: nothing is known about
// the rules behind them, so they are neither revalidated nor evicted until
// SetTablesLoaded(true) says the tables are complete; then each is
// re-translated and kept, updated or deleted like any other.  A ukey whose
// actions differ from what a dump finds in the datapath takes the datapath's
// actions and is marked adopted again, so that revalidation puts it right.
//
// Datapath changes (ofproto.h, "Reconciliation"): Reconnect() and a new
// instance id in the datapath's stats both run Reconcile(): ports first (a
// flow's in_port is a datapath port number, so flows are matched to bridges
// only once the ports are), then the flow dump, then a full revalidation.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "dpif/dpif.h"
#include "ofproto/flow_table.h"
#include "ofproto/mac_learning.h"
#include "ofproto/ofproto.h"
#include "ofproto/rule.h"
#include "ofproto/xlate.h"

namespace hsw::ofproto {

class SwitchImpl;

class BridgeImpl : public Bridge {
 public:
  BridgeImpl(SwitchImpl* sw, std::string name, uint64_t datapath_id, uint32_t id);
  ~BridgeImpl() override;

  const std::string& name() const override { return name_; }
  uint64_t datapath_id() const override { return datapath_id_; }
  OfResult FlowMod(const ofp::FlowMod& flow_mod) override;
  OfResult FlowModBatch(const std::vector<ofp::FlowMod>& flow_mods) override;
  std::vector<ofp::FlowStats> DumpFlows(const ofp::FlowStatsRequest& request) const override;
  ofp::AggregateStats Aggregate(const ofp::FlowStatsRequest& request) const override;
  std::vector<ofp::TableStats> GetTableStats() const override;
  std::vector<ofp::PortDesc> GetPortDescs() const override;
  std::vector<ofp::PortStats> GetPortStats(uint32_t port_no) const override;
  OfResult PacketOut(const ofp::PacketOut& packet_out) override;
  std::vector<ofp::FlowMod> SnapshotFlowMods() const override;
  void ForEachFlowMod(const std::function<void(const ofp::FlowMod&)>& visit) const override;
  std::vector<PortView> ListPorts() const override;
  std::optional<uint32_t> FindOfport(const std::string& iface) const override;
  size_t n_rules() const override { return tables_.n_rules(); }
  void AddListener(BridgeListener* listener) override;
  void RemoveListener(BridgeListener* listener) override;
  std::string Trace(const FlowKey& key) override;
  std::vector<MacEntryView> MacEntries() const override {
    SteadyTime now = std::chrono::steady_clock::now();
    std::vector<MacEntryView> entries;
    macs_.ForEach([&](const uint8_t mac[6], uint16_t vlan, uint32_t ofport, SteadyTime seen) {
      MacEntryView& e = entries.emplace_back();
      std::copy(mac, mac + 6, e.mac.begin());
      e.vlan = vlan;
      e.ofport = ofport;
      e.age_s = static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(now - seen).count());
    });
    std::stable_sort(entries.begin(), entries.end(),
                     [](const MacEntryView& a, const MacEntryView& b) { return a.age_s > b.age_s; });
    return entries;
  }

  // --- for SwitchImpl ---
  struct Port {
    std::string name;
    uint32_t dp_port = 0;  // kPatchDpPort for a patch port
    SteadyTime added{};
    dpif::PortInfo info;  // as last listed by the datapath (or its stats)
    std::string type = "system";  // "system", "internal" or "patch"
    std::string peer;             // patch: the peer interface
    dpif::PortStats patch_stats;  // patch: what crossed (tx out of, rx into, this bridge)
    bool is_patch() const { return type == "patch"; }
  };

  uint32_t id() const { return id_; }
  FlowTables& tables() { return tables_; }
  MacTable& macs() { return macs_; }
  std::map<uint32_t, Port>& ports() { return ports_; }
  const std::map<uint32_t, uint32_t>& of_to_dp() const { return of_to_dp_; }
  void RebuildPortMap();
  // Changes whenever a translation through this bridge may have changed.
  uint64_t generation() const {
    return tables_.generation() + port_generation_ + macs_.generation();
  }
  void BumpPortGeneration() { ++port_generation_; }
  XlateBridge xlate_bridge();

  void NotifyFlowRemoved(const std::vector<RemovedRule>& removed, SteadyTime now);
  void NotifyPacketIn(const ofp::PacketIn& packet_in);
  void NotifyPortStatus(uint8_t reason, const ofp::PortDesc& desc);
  ofp::PortDesc MakePortDesc(uint32_t ofport, const Port& port) const;

  uint64_t revalidated_generation = ~0ull;

 private:
  SwitchImpl* sw_;
  std::string name_;
  uint64_t datapath_id_;
  uint32_t id_;
  FlowTables tables_;
  std::map<uint32_t, Port> ports_;           // by OpenFlow port
  std::map<uint32_t, uint32_t> of_to_dp_;    // OpenFlow port -> datapath port
  uint64_t port_generation_ = 0;
  MacTable macs_;
  std::vector<BridgeListener*> listeners_;
};

class SwitchImpl : public Switch, public PatchResolver {
 public:
  SwitchImpl(EventLoop& loop, std::unique_ptr<dpif::Dpif> dpif, SwitchOptions options);
  ~SwitchImpl() override;

  Status Init();

  Status AddBridge(const std::string& name, uint64_t datapath_id) override;
  Status DeleteBridge(const std::string& name) override;
  Bridge* FindBridge(const std::string& name) override;
  std::vector<std::string> BridgeNames() const override;
  Result<uint32_t> AddPort(const std::string& bridge, const std::string& iface,
                           uint32_t ofport) override;
  Result<uint32_t> AddPort(const std::string& bridge, const PortSpec& spec) override;
  std::optional<PortState> GetPortState(const std::string& bridge,
                                        const std::string& iface) override;
  Status DeletePort(const std::string& bridge, const std::string& iface) override;
  // PatchResolver.
  std::optional<XlatePatchPeer> PatchPeer(uint32_t bridge_id, uint32_t ofport) const override;
  // Whether a patch port's link is up (its peer is a patch port naming it).
  bool PatchLinkUp(const BridgeImpl& bridge, const BridgeImpl::Port& port) const;
  void Sync() override;
  void SetTablesLoaded(bool loaded) override;
  void SetTableChangeObserver(TableChangeObserver observer) override {
    table_observer_ = std::move(observer);
  }
  void TablesCommitted(const BridgeImpl& bridge, const std::vector<ofp::FlowMod>& flow_mods) {
    if (table_observer_) table_observer_(bridge, flow_mods);
  }
  bool tables_loaded() const override { return tables_loaded_; }
  void DrainUpcallsForExit() override;
  bool datapath_connected() const override { return connected_; }
  const dpif::HelloReply& datapath_hello() const override { return datapath_hello_; }
  Result<DatapathReconciliation> Reconnect(std::unique_ptr<dpif::Dpif> dpif) override;
  std::vector<std::pair<std::string, uint64_t>> Counters() const override;

  // --- for BridgeImpl ---
  void TablesChanged();
  // Pulls datapath stats unless that was done very recently (flow dumps).
  void RefreshStats();
  Status ExecutePacket(dpif::Execute execute);
  Result<std::vector<dpif::PortInfo>> ListDpPorts();
  SteadyTime Now() const { return std::chrono::steady_clock::now(); }

  // Test hooks: run one periodic pass now (stats, idle eviction, timeouts).
  void RunPeriodicForTest() { Periodic(); }
  size_t n_ukeys() const { return ukeys_.size(); }

 private:
  struct UkeyId {
    FlowKey key;   // masked
    FlowKey mask;
    bool operator==(const UkeyId& o) const { return key == o.key && mask == o.mask; }
  };
  struct UkeyIdHash {
    size_t operator()(const UkeyId& id) const;
  };
  struct Ukey {
    DpActions actions;
    uint32_t bridge_id = 0;      // 0: no bridge (drop flow) or not known yet
    uint64_t generation = 0;     // the bridge's generation when translated
    std::vector<RuleRef> rules;
    dpif::FlowStats stats;       // as last seen
    int64_t created_ms = 0;      // monotonic ms
    bool adopted = false;        // found in the datapath, not yet revalidated
    uint64_t dump_seq = 0;       // the last stats pull that saw the flow
    std::vector<PatchCrossing> crossings;  // patch ports its translation crossed
  };
  struct PortOwner {
    BridgeImpl* bridge;
    uint32_t ofport;
  };

  void OnUpcallFd();
  void HandleUpcalls();
  void WatchUpcalls(bool watch);
  void ProcessUpcalls(std::vector<dpif::Upcall> upcalls);
  void HandleActionUpcall(const dpif::Upcall& upcall);
  // Translates a datapath key: finds the bridge by in_port.
  void TranslateDp(const FlowKey& dp_key, XlateResult* result, BridgeImpl** bridge,
                   bool count_stats);
  void Revalidate(bool all);
  void PullStats();
  void ExpireRules();
  void Periodic();
  void ScheduleRevalidation();
  void CreditStats(Ukey& ukey, const dpif::FlowStats& now_stats);
  void AdoptFlow(const dpif::DpFlow& flow);
  // Matches the ukeys to a flow dump: stats credited, unknown flows adopted,
  // ukeys of flows not in the dump forgotten.  With `idle`, collects the
  // flows unused for max_idle.
  struct DumpMatch {
    size_t n_adopted = 0;    // flows new to the ukeys, or with other actions
    size_t n_forgotten = 0;
  };
  DumpMatch MatchDump(const std::vector<dpif::DpFlow>& flows, std::vector<UkeyId>* idle);
  // Watches the current connection's upcall fd (readable only while the
  // tables are loaded).
  Status WatchUpcallFd();
  // Compares the datapath's instance id (stats) with the one known; on a
  // change, logs it and reconciles.  false if the connection was lost.
  bool CheckDatapathInstance();
  // Ports, flows, full revalidation (see the file comment).  An error means
  // the connection was lost meanwhile (Lost() has run).
  Result<DatapathReconciliation> Reconcile();
  Status ReconcilePorts(DatapathReconciliation& report);
  // Takes a port the datapath would not add again out of its bridge, as
  // DeletePort does, minus the datapath call.
  void DropPort(BridgeImpl& bridge, uint32_t ofport, const std::string& why);
  void DeleteUkeys(const std::vector<UkeyId>& ids);
  // Counts traffic that crossed patch ports on both ends' patch_stats.
  void CreditCrossings(const std::vector<PatchCrossing>& crossings, uint64_t packets,
                       uint64_t bytes);
  // A patch port came or went: every bridge's translations may change.
  void PatchLinksChanged();
  // Port facts from a stats reply (GetPortState reads them).
  void UpdatePortInfos(const std::vector<dpif::PortInfo>& ports);
  BridgeImpl* BridgeById(uint32_t id);
  void Lost(const Error& error);
  void KickUpcalls();

  EventLoop& loop_;
  // After a loss, the broken connection stays here (closed for writing by
  // DpifClient) until Reconnect replaces it: every use is behind connected_.
  std::unique_ptr<dpif::Dpif> dpif_;
  dpif::HelloReply datapath_hello_;
  // Interfaces deleted from bridges while the datapath was unreachable: a
  // datapath that took over still has them and is told on reconciliation.
  std::vector<std::string> ports_deleted_while_lost_;
  SwitchOptions options_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::map<std::string, std::unique_ptr<BridgeImpl>> bridges_;
  std::unordered_map<uint32_t, BridgeImpl*> bridges_by_id_;
  std::unordered_map<uint32_t, PortOwner> dp_ports_;
  std::unordered_map<UkeyId, Ukey, UkeyIdHash> ukeys_;
  uint32_t next_bridge_id_ = 1;
  bool tables_loaded_ = true;
  TableChangeObserver table_observer_;
  bool connected_ = true;
  bool adoption_pending_ = false;  // adopted at Create, waiting for SetTablesLoaded(true)
  bool revalidation_scheduled_ = false;
  bool upcalls_posted_ = false;
  int watched_fd_ = -1;
  EventLoop::TimerId periodic_timer_ = 0;
  SteadyTime last_stats_pull_{};
  SteadyTime last_revalidation_{};
  uint64_t dump_seq_ = 0;

  // Counters (names in Counters()).
  uint64_t n_upcalls_miss_ = 0, n_upcalls_action_ = 0, n_upcalls_no_bridge_ = 0;
  uint64_t n_flows_installed_ = 0, n_flow_put_errors_ = 0, n_flows_modified_ = 0,
           n_flows_deleted_ = 0, n_flows_evicted_ = 0, n_flows_adopted_ = 0;
  uint64_t n_revalidations_ = 0, n_ukeys_revalidated_ = 0, n_stats_pulls_ = 0;
  uint64_t n_packet_ins_ = 0, n_packet_outs_ = 0, n_rules_expired_ = 0, n_executes_ = 0;
  uint64_t n_flows_forgotten_ = 0, n_datapath_losses_ = 0, n_datapath_reconnects_ = 0,
           n_datapath_changes_ = 0, n_ports_readded_ = 0;
};

}  // namespace hsw::ofproto
