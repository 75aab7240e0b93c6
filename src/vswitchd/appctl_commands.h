// appctl_commands: ovs-vswitchd's `ovs-appctl` commands, answered from
// hsw's Switch and daemon, with Open vSwitch 3.1's output layouts where hsw
// has the information (scripts parse `dpif/show` and `fdb/show`):
//
//   version                    "ovs-vswitchd (Open vSwitch) 3.1.0" in OVS identity
//   exit [--cleanup]           graceful, hitless stop: the same path as SIGTERM
//                              (upcalls drained, the datapath keeps forwarding);
//                              --cleanup does the same (hsw never deletes the
//                              datapath's ports or flows on exit) and says so
//   vlog/set [SPEC...]         OVS's module:destination:level specs (log.h)
//   vlog/list, vlog/reopen
//   ofproto/list               bridge names
//   dpif/show, dpctl/show [DP] the datapath and the bridges' ports
//   bridge/dump-flows BR       every rule, with duration and counters
//   dpif/dump-flows BR         the datapath's megaflows of BR's ports
//   fdb/show BR                the NORMAL action's MAC learning table
//   ofproto/trace BR FLOW      Bridge::Trace of an ovs-ofctl match
//   coverage/show              hsw-vswitchd's counters, with OVS's rates
//   memory/show                bridges, ports, rules, ukeys
//   bond/show [PORT]           hsw has no bonds: an empty answer, as OVS
//                              gives with none
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/event_loop.h"
#include "common/result.h"
#include "dpif/dpif.h"
#include "ofproto/ofproto.h"
#include "vswitchd/unixctl_server.h"

namespace hsw::vswitchd {

struct AppctlContext {
  EventLoop* loop = nullptr;
  ofproto::Switch* sw = nullptr;
  // "ovs-vswitchd" or "hsw-vswitchd": what `version` says.
  std::string program = "hsw-vswitchd";
  // The datapath's statistics (a monitor connection in the daemon, so that
  // the owner connection's upcall stream is left alone).
  std::function<Result<dpif::StatsReply>()> datapath_stats;
  // The datapath's megaflows (dpif/dump-flows); unset: the command is absent.
  std::function<Result<std::vector<dpif::DpFlow>>()> datapath_flows;
  // Stops the daemon the way SIGTERM does; called after the reply is sent.
  std::function<void()> stop;
};

// Registers the commands on `server`; the returned object keeps the
// coverage rates' history (sampled every 5 s) and must outlive the server's
// use of them.
class AppctlCommands {
 public:
  static constexpr std::chrono::seconds kCoverageInterval{5};

  AppctlCommands(UnixctlServer& server, AppctlContext context);
  ~AppctlCommands();
  AppctlCommands(const AppctlCommands&) = delete;
  AppctlCommands& operator=(const AppctlCommands&) = delete;

  // Takes one coverage sample now (the timer's work; tests call it).
  void SampleCoverage();

 private:
  Result<std::string> Exit(const std::vector<std::string>& args);
  Result<std::string> DpifShow();
  Result<std::string> DpctlShow();
  Result<std::string> FdbShow(const std::string& bridge);
  Result<std::string> BridgeDumpFlows(const std::string& bridge);
  Result<std::string> DpifDumpFlows(const std::vector<std::string>& args);
  Result<std::string> Trace(const std::vector<std::string>& args);
  std::string CoverageShow() const;
  std::string MemoryShow() const;
  Result<ofproto::Bridge*> FindBridge(const std::string& name);

  AppctlContext context_;
  EventLoop::TimerId coverage_timer_ = 0;
  // Totals at each sample, newest last, at most an hour's worth.
  std::deque<std::map<std::string, uint64_t>> coverage_samples_;
};

// OVS's vlog/list table.
std::string FormatVlogList();

}  // namespace hsw::vswitchd
