#include "vswitchd/appctl_commands.h"

#include <time.h>

#include <algorithm>
#include <set>

#include "common/log.h"
#include "dpif/dp_actions.h"
#include "openflow/flow_text.h"
#include "packet/addr_format.h"
#include "packet/flow_key.h"
#include "vswitchd/ovs_identity.h"

namespace hsw::vswitchd {
namespace {

const log::Module vlog("appctl");

// hsw's one datapath, named as OVS names its datapaths (type@name).
constexpr const char* kDatapathName = "hsw@datapath";

// An hour of samples, as OVS's coverage keeps.
constexpr size_t kCoverageSamples = 3600 / AppctlCommands::kCoverageInterval.count() + 1;

uint64_t MonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

uint64_t CounterOr0(const dpif::StatsReply& stats, std::string_view name) {
  return stats.Counter(name).value_or(0);
}

}  // namespace

std::string FormatVlogList() {
  std::string text =
      "                 console    syslog    file\n"
      "                 -------    ------    ------\n";
  for (const log::ModuleLevels& m : log::ListModuleLevels()) {
    text += fmt::format("{:<16}  {:>4}       {:>4}       {:>4}\n", m.module, log::LevelName(m.console),
                        log::LevelName(m.syslog), log::LevelName(m.file));
  }
  return text;
}

AppctlCommands::AppctlCommands(UnixctlServer& server, AppctlContext context)
    : context_(std::move(context)) {
  using Args = std::vector<std::string>;
  constexpr int kMany = UnixctlServer::kUnlimited;
  server.Register("version", "", 0, 0, [this](const Args&) -> Result<std::string> {
    return ProgramVersionLine(context_.program);
  });
  server.Register("exit", "[--cleanup]", 0, 1,
                  [this](const Args& args) { return Exit(args); });
  server.Register("vlog/set", "{spec | PATTERN:destination:pattern}", 0, kMany,
                  [](const Args& args) -> Result<std::string> {
                    for (const std::string& spec : args) {
                      HSW_ASSIGN_OR_RETURN(std::string note, log::ApplyVlogSpec(spec));
                      if (!note.empty()) vlog.Info("{}", note);
                    }
                    return std::string();
                  });
  server.Register("vlog/list", "", 0, 0,
                  [](const Args&) -> Result<std::string> { return FormatVlogList(); });
  server.Register("vlog/reopen", "", 0, 0, [](const Args&) -> Result<std::string> {
    HSW_TRY(log::ReopenFile());
    vlog.Info("log file reopened (vlog/reopen)");
    return std::string();
  });
  server.Register("ofproto/list", "", 0, 0, [this](const Args&) -> Result<std::string> {
    std::string text;
    for (const std::string& name : context_.sw->BridgeNames()) text += name + "\n";
    return text;
  });
  server.Register("dpif/show", "", 0, 0, [this](const Args&) { return DpifShow(); });
  server.Register("dpctl/show", "[-s] [dp...]", 0, kMany,
                  [this](const Args&) { return DpctlShow(); });
  server.Register("fdb/show", "bridge", 1, 1, [this](const Args& args) { return FdbShow(args[0]); });
  server.Register("bridge/dump-flows", "[--offload-stats] bridge", 1, 2,
                  [this](const Args& args) { return BridgeDumpFlows(args.back()); });
  if (context_.datapath_flows) {
    server.Register("dpif/dump-flows", "[-m] [--names | --no-names] bridge", 1, kMany,
                    [this](const Args& args) { return DpifDumpFlows(args); });
  }
  server.Register("ofproto/trace", "bridge flow", 2, 2,
                  [this](const Args& args) { return Trace(args); });
  server.Register("coverage/show", "", 0, 0,
                  [this](const Args&) -> Result<std::string> { return CoverageShow(); });
  server.Register("memory/show", "", 0, 0,
                  [this](const Args&) -> Result<std::string> { return MemoryShow(); });
  // No bonds in hsw: OVS answers an empty text when it has none.
  server.Register("bond/show", "[port]", 0, 1, [](const Args& args) -> Result<std::string> {
    if (!args.empty()) return Err("no such bond");
    return std::string();
  });
  SampleCoverage();
  if (context_.loop) {
    coverage_timer_ = context_.loop->AddTimer(
        std::chrono::duration_cast<std::chrono::milliseconds>(kCoverageInterval),
        [this] { SampleCoverage(); }, /*repeat=*/true);
  }
}

AppctlCommands::~AppctlCommands() {
  if (context_.loop && coverage_timer_) context_.loop->CancelTimer(coverage_timer_);
}

Result<std::string> AppctlCommands::Exit(const std::vector<std::string>& args) {
  bool cleanup = false;
  for (const std::string& arg : args) {
    if (arg != "--cleanup") return Err("exit: unknown option \"{}\" (expected --cleanup)", arg);
    cleanup = true;
  }
  std::string reply;
  if (cleanup) {
    reply =
        "--cleanup: hsw-vswitchd exits as without it: the datapath keeps its ports and flows "
        "and goes on forwarding";
  }
  vlog.Info("exit requested over unixctl{}; hsw-datapath keeps forwarding",
            cleanup ? " (--cleanup: same as a plain exit in hsw)" : "");
  // After this reply is written: the handler's caller sends it first.
  if (context_.loop && context_.stop) {
    context_.loop->Post([stop = context_.stop] { stop(); });
  }
  return reply;
}

Result<ofproto::Bridge*> AppctlCommands::FindBridge(const std::string& name) {
  ofproto::Bridge* bridge = context_.sw->FindBridge(name);
  // OVS's words first (a script may match them), then which bridge.
  if (!bridge) return Err("no such bridge: {}", name);
  return bridge;
}

Result<std::string> AppctlCommands::DpifShow() {
  std::string text;
  auto stats = context_.datapath_stats ? context_.datapath_stats()
                                       : Result<dpif::StatsReply>(Err("no datapath connection"));
  if (stats) {
    text = fmt::format("{}: hit:{} missed:{}\n", kDatapathName,
                       CounterOr0(*stats, "lookups_emc_hit") +
                           CounterOr0(*stats, "lookups_megaflow_hit"),
                       CounterOr0(*stats, "lookups_miss"));
  } else {
    // The bridges are still worth showing while the datapath is away.
    text = fmt::format("{}: (statistics unavailable: {})\n", kDatapathName,
                       stats.error().ToString());
  }
  std::vector<std::string> names = context_.sw->BridgeNames();
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    ofproto::Bridge* bridge = context_.sw->FindBridge(name);
    if (!bridge) continue;
    text += fmt::format("  {}:\n", name);
    std::vector<ofproto::PortView> ports = bridge->ListPorts();
    std::sort(ports.begin(), ports.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    for (const ofproto::PortView& port : ports) {
      text += fmt::format("    {} {}/{}: (system)\n", port.name, port.ofport, port.dp_port);
    }
  }
  return text;
}

Result<std::string> AppctlCommands::DpctlShow() {
  if (!context_.datapath_stats) return Err("no datapath connection");
  HSW_ASSIGN_OR_RETURN(dpif::StatsReply stats, context_.datapath_stats());
  uint64_t hit = CounterOr0(stats, "lookups_emc_hit") + CounterOr0(stats, "lookups_megaflow_hit");
  uint64_t lost = CounterOr0(stats, "miss_queue_dropped_packets") +
                  CounterOr0(stats, "miss_queue_dropped_bytes") +
                  CounterOr0(stats, "miss_queue_dropped_age");
  std::string text = fmt::format("{}:\n", kDatapathName);
  text += fmt::format("  lookups: hit:{} missed:{} lost:{}\n", hit,
                      CounterOr0(stats, "lookups_miss"), lost);
  text += fmt::format("  flows: {}\n", CounterOr0(stats, "n_flows"));
  text += fmt::format("  masks: total:{}\n", CounterOr0(stats, "n_masks"));
  std::vector<dpif::PortInfo> ports = stats.ports;
  std::sort(ports.begin(), ports.end(),
            [](const auto& a, const auto& b) { return a.port_no < b.port_no; });
  for (const dpif::PortInfo& port : ports) {
    // OVS writes the type only when it is not "system"; hsw's ports are
    // ordinary Linux interfaces read with AF_PACKET.
    text += fmt::format("  port {}: {}\n", port.port_no, port.name);
  }
  return text;
}

Result<std::string> AppctlCommands::FdbShow(const std::string& name) {
  HSW_ASSIGN_OR_RETURN(ofproto::Bridge * bridge, FindBridge(name));
  std::string text = " port  VLAN  MAC                Age\n";
  for (const ofproto::MacEntryView& e : bridge->MacEntries()) {
    text += fmt::format("{:>5}  {:>4}  {}  {:>3}\n", e.ofport, e.vlan, FormatMac(e.mac.data()),
                        e.age_s);
  }
  return text;
}

Result<std::string> AppctlCommands::BridgeDumpFlows(const std::string& name) {
  HSW_ASSIGN_OR_RETURN(ofproto::Bridge * bridge, FindBridge(name));
  auto request = ofp::ParseFlowStatsRequest("");
  if (!request) return Err("{}", request.error().message);
  std::string text;
  for (const ofp::FlowStats& stats : bridge->DumpFlows(*request)) {
    std::string line = ofp::FormatFlowStats(stats);
    if (!line.empty() && line[0] == ' ') line.erase(0, 1);
    text += line + "\n";
  }
  return text;
}

Result<std::string> AppctlCommands::DpifDumpFlows(const std::vector<std::string>& args) {
  std::string name;
  for (const std::string& arg : args) {
    if (arg == "-m" || arg == "--names" || arg == "--no-names") continue;
    if (arg.rfind("-", 0) == 0) return Err("dpif/dump-flows: unknown option \"{}\"", arg);
    if (!name.empty()) return Err("dpif/dump-flows: more than one bridge given");
    name = arg;
  }
  if (name.empty()) return Err("dpif/dump-flows: no bridge given");
  HSW_ASSIGN_OR_RETURN(ofproto::Bridge * bridge, FindBridge(name));
  std::set<uint32_t> dp_ports;
  for (const ofproto::PortView& port : bridge->ListPorts()) dp_ports.insert(port.dp_port);
  HSW_ASSIGN_OR_RETURN(std::vector<dpif::DpFlow> flows, context_.datapath_flows());
  uint64_t now = MonotonicMs();
  std::string text;
  for (const dpif::DpFlow& flow : flows) {
    if (!dp_ports.count(flow.key.in_port)) continue;
    std::string used = "never";
    if (flow.stats.used_ms) {
      uint64_t ago = now > flow.stats.used_ms ? now - flow.stats.used_ms : 0;
      used = fmt::format("{}.{:03}s", ago / 1000, ago % 1000);
    }
    text += fmt::format("{}, packets:{}, bytes:{}, used:{}, actions:{}\n",
                        FormatDpKey(flow.key, &flow.mask), flow.stats.n_packets,
                        flow.stats.n_bytes, used, FormatDpActions(flow.actions));
  }
  return text;
}

Result<std::string> AppctlCommands::Trace(const std::vector<std::string>& args) {
  HSW_ASSIGN_OR_RETURN(ofproto::Bridge * bridge, FindBridge(args[0]));
  auto match = ofp::ParseMatch(args[1], [bridge](std::string_view iface) {
    return bridge->FindOfport(std::string(iface));
  });
  if (!match) return Err("ofproto/trace: {}", match.error().message);
  return bridge->Trace(match->key);
}

void AppctlCommands::SampleCoverage() {
  if (!context_.sw) return;
  std::map<std::string, uint64_t> totals;
  for (const auto& [name, value] : context_.sw->Counters()) totals[name] = value;
  coverage_samples_.push_back(std::move(totals));
  while (coverage_samples_.size() > kCoverageSamples) coverage_samples_.pop_front();
}

std::string AppctlCommands::CoverageShow() const {
  std::map<std::string, uint64_t> now;
  if (context_.sw) {
    for (const auto& [name, value] : context_.sw->Counters()) now[name] = value;
  }
  const double interval = static_cast<double>(kCoverageInterval.count());
  // The total `samples_back` samples ago (0 when history is shorter: OVS's
  // arrays start zeroed, so its early averages count from zero too).
  auto back = [this](const std::string& name, size_t samples_back) -> uint64_t {
    if (samples_back >= coverage_samples_.size()) return 0;
    const auto& sample = coverage_samples_[coverage_samples_.size() - 1 - samples_back];
    auto it = sample.find(name);
    return it == sample.end() ? 0 : it->second;
  };
  std::string text = fmt::format(
      "Event coverage, avg rate over last: {} seconds, last minute, last hour,  hash={:08x}:\n",
      kCoverageInterval.count(), 0);
  size_t never = 0;
  for (const auto& [name, total] : now) {
    if (total == 0) {
      ++never;
      continue;
    }
    size_t per_minute = static_cast<size_t>(60 / interval);
    size_t per_hour = static_cast<size_t>(3600 / interval);
    auto delta = [&](size_t samples_back) {
      uint64_t then = back(name, samples_back);
      return static_cast<double>(total >= then ? total - then : 0);
    };
    text += fmt::format("{:<24} {:5.1f}/sec {:9.3f}/sec {:13.4f}/sec   total: {}\n", name,
                        delta(0) / interval, delta(per_minute - 1) / 60.0,
                        delta(per_hour - 1) / 3600.0, total);
  }
  text += fmt::format("{} events never hit\n", never);
  return text;
}

std::string AppctlCommands::MemoryShow() const {
  size_t n_ports = 0, n_rules = 0;
  std::vector<std::string> names = context_.sw->BridgeNames();
  for (const std::string& name : names) {
    if (ofproto::Bridge* bridge = context_.sw->FindBridge(name)) {
      n_ports += bridge->ListPorts().size();
      n_rules += bridge->n_rules();
    }
  }
  uint64_t ukeys = 0;
  for (const auto& [name, value] : context_.sw->Counters()) {
    if (name == "ukeys") ukeys = value;
  }
  // OVS's keys, sorted, one line; hsw has one thread (no handlers or
  // revalidator threads to count).
  return fmt::format("bridges:{} ports:{} rules:{} udpif keys:{}\n", names.size(), n_ports,
                     n_rules, ukeys);
}

}  // namespace hsw::vswitchd
