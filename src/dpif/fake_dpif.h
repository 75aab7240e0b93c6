// FakeDpif: an in-memory datapath for unit tests of everything above the
// datapath protocol (ofproto's translation and revalidator, vswitchd wiring).
//
// It keeps what the real hsw-datapath keeps -- ports and megaflows keyed by
// (key & mask, mask) with stats -- and applies the same put/del rules (EEXIST
// without kPutModify, ENOENT without kPutCreate, EINVAL for masks or actions
// the datapath would refuse, ENOSPC beyond a flow limit), but forwards no
// packets.  Instead a test:
//   * reads every call made, as the protocol request it would have sent
//     (calls(), executed());
//   * injects upcalls (InjectUpcall), which make upcall_fd() readable, so
//     event-loop code is exercised as in production;
//   * looks at and edits the flow table and its stats (flows(), FindFlow(),
//     Lookup(), Hit(), SetFlowStats()), e.g. to age a flow or play traffic;
//   * makes the datapath fail (SetFailure) to test error paths.
// Single-threaded like every Dpif.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "dpif/dpif.h"

namespace hsw::dpif {

class FakeDpif : public Dpif {
 public:
  FakeDpif();
  ~FakeDpif() override;

  // Dpif.
  const HelloReply& hello() const override { return hello_; }
  using Dpif::PortAdd;
  Result<uint32_t> PortAdd(const std::string& name, const std::string& type,
                           uint32_t port_no) override;
  Status PortDel(uint32_t port_no) override;
  Result<std::vector<PortInfo>> PortList() override;
  Result<std::vector<int32_t>> FlowPut(const std::vector<dpif::FlowPut>& puts) override;
  Result<std::vector<FlowDelResult>> FlowDel(const std::vector<FlowId>& flows) override;
  Result<std::vector<DpFlow>> FlowDump() override;
  Status FlowFlush() override;
  Status Execute(const std::vector<dpif::Execute>& packets) override;
  Result<StatsReply> GetStats() override;
  int upcall_fd() const override { return event_fd_.get(); }
  bool HasBufferedUpcalls() const override { return !upcalls_.empty(); }
  Result<std::vector<Upcall>> RecvUpcalls(size_t max) override;
  // ENOTSUP when mutable_hello().version is below kProtocolVersionUpcallPause.
  Result<uint64_t> PauseUpcalls() override;

  // --- Test controls ---

  // Every call, in order, as the request body it would have sent (PortAdd,
  // PortDel, PortList, FlowPutBatch, FlowDelBatch, FlowDump, FlowFlush,
  // ExecuteBatch, StatsGet, UpcallPause).  RecvUpcalls is not recorded.
  const std::vector<Body>& calls() const { return calls_; }
  size_t CountCalls(MsgType type) const;
  void ClearCalls() { calls_.clear(); }
  // Every packet passed to Execute, in order.
  const std::vector<dpif::Execute>& executed() const { return executed_; }
  void ClearExecuted() { executed_.clear(); }

  // Queues an upcall as if the datapath had sent it; after PauseUpcalls, it
  // waits in the datapath's miss queue instead (held_upcalls()).
  void InjectUpcall(Upcall upcall);
  size_t pending_upcalls() const { return upcalls_.size(); }
  bool upcalls_paused() const { return upcalls_paused_; }
  size_t held_upcalls() const { return held_.size(); }

  // Flows, sorted by (mask, masked key).
  std::vector<DpFlow> flows() const;
  size_t n_flows() const { return flows_.size(); }
  // The flow installed with exactly this (key & mask, mask), or nullptr.
  DpFlow* FindFlow(const FlowKey& key, const FlowKey& mask);
  // The flow a packet with this key would hit (any match; the datapath never
  // holds overlapping flows that disagree), or nullptr.
  DpFlow* Lookup(const FlowKey& packet_key);
  // Counts traffic on the flow `packet_key` hits: false if it hits none.
  bool Hit(const FlowKey& packet_key, uint64_t n_packets, uint64_t n_bytes, uint64_t used_ms,
           uint16_t tcp_flags = 0);
  bool SetFlowStats(const FlowKey& key, const FlowKey& mask, const FlowStats& stats);
  // Installs a flow directly, bypassing calls() (e.g. flows left by a
  // previous hsw-vswitchd).
  void AddFlowForTest(const FlowKey& key, const FlowKey& mask, DpActions actions,
                      FlowStats stats = {});

  // Ports, as PortAdd would create them (link up, type af_packet; an
  // "internal" port is down, as a new tap is).
  void AddPortForTest(const std::string& name, uint32_t port_no,
                      const std::string& type = "af_packet");
  // Sets a port's stats and link state, as traffic and `ip link` would.
  void SetPortForTest(uint32_t port_no, const PortStats& stats, bool link_up);
  const std::map<uint32_t, PortInfo>& ports() const { return ports_; }

  // PortAdd of this interface fails with ENODEV, as the real datapath's does
  // for an interface that no longer exists ("" = none).
  void set_missing_interface(std::string name) { missing_interface_ = std::move(name); }

  // Puts fail with ENOSPC once this many flows exist.
  void set_flow_limit(size_t limit) { flow_limit_ = limit; }
  // Counters returned by GetStats in addition to n_flows and n_masks.
  void SetCounter(const std::string& name, uint64_t value);
  HelloReply& mutable_hello() { return hello_; }

  // While set, every call (including RecvUpcalls) fails with this error, as
  // when the datapath connection is lost.  Calls are still recorded.
  void SetFailure(std::optional<Error> error) { failure_ = std::move(error); }

  // Why the datapath would refuse this put (EINVAL), or 0.
  static int ValidatePut(const FlowKey& mask, const DpActions& actions);

 private:
  using FlowMapKey = std::pair<std::string, std::string>;  // (mask bytes, masked key bytes)
  static FlowMapKey MapKey(const FlowKey& key, const FlowKey& mask);
  Status CheckFailure(const char* call) const;
  void SyncEventFd();

  HelloReply hello_;
  std::map<uint32_t, PortInfo> ports_;
  std::map<FlowMapKey, DpFlow> flows_;
  std::deque<Upcall> upcalls_;
  std::deque<Upcall> held_;  // injected after PauseUpcalls
  bool upcalls_paused_ = false;
  uint64_t n_upcalls_sent_ = 0;
  std::vector<Body> calls_;
  std::vector<dpif::Execute> executed_;
  std::vector<std::pair<std::string, uint64_t>> counters_;
  size_t flow_limit_ = 1u << 20;
  std::string missing_interface_;
  std::optional<Error> failure_;
  UniqueFd event_fd_;
  bool event_fd_signalled_ = false;
};

}  // namespace hsw::dpif
