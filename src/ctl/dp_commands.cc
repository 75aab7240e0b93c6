#include "ctl/dp_commands.h"

#include <fmt/format.h>
#include <time.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "dpif/dp_actions.h"
#include "dpif/dpif_client.h"
#include "packet/addr_format.h"

namespace hsw::ctl {
namespace {

std::string FormatUsed(uint64_t used_ms, uint64_t now_ms) {
  if (used_ms == 0) return "never";
  uint64_t ago = now_ms > used_ms ? now_ms - used_ms : 0;
  return fmt::format("{}.{:03}s", ago / 1000, ago % 1000);
}

Result<std::unique_ptr<dpif::DpifClient>> ConnectMonitor(const std::string& socket,
                                                         std::chrono::milliseconds timeout) {
  auto client = dpif::DpifClient::Connect(socket, dpif::Role::kMonitor, "hsw-ctl");
  if (!client) {
    int code = client.error().code;
    std::string hint =
        (code == ENOENT || code == ECONNREFUSED) ? " (is hsw-datapath running?)" : "";
    std::string why = code ? std::strerror(code) : client.error().message;
    return Err("cannot connect to hsw-datapath at {}: {}{}", socket, why, hint);
  }
  (*client)->set_timeout(timeout);
  return std::move(*client);
}

uint64_t MonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

}  // namespace

Result<std::string> DpShow(const std::string& socket, std::chrono::milliseconds timeout) {
  HSW_ASSIGN_OR_RETURN(auto client, ConnectMonitor(socket, timeout));
  return FormatDpShow(*client);
}

Result<std::string> DpDumpFlows(const std::string& socket, std::chrono::milliseconds timeout) {
  HSW_ASSIGN_OR_RETURN(auto client, ConnectMonitor(socket, timeout));
  return FormatDpFlows(*client, MonotonicMs());
}

Result<std::string> DpVersion(const std::string& socket, std::chrono::milliseconds timeout) {
  HSW_ASSIGN_OR_RETURN(auto client, ConnectMonitor(socket, timeout));
  const dpif::HelloReply& hello = client->hello();
  return fmt::format("hsw-datapath {} (protocol {}, pid {})", hello.datapath_version, hello.version,
                     hello.datapath_pid);
}

Result<std::string> FormatDpShow(dpif::Dpif& dpif) {
  HSW_ASSIGN_OR_RETURN(dpif::StatsReply stats, dpif.GetStats());
  const dpif::HelloReply& hello = dpif.hello();
  std::string text = fmt::format("hsw-datapath {} (pid {}, protocol {}, instance {:016x})\n",
                                 hello.datapath_version.empty() ? "?" : hello.datapath_version,
                                 hello.datapath_pid, hello.version, hello.instance_id);
  text += fmt::format("  ports: {}\n", stats.ports.size());
  for (const dpif::PortInfo& port : stats.ports) {
    text += fmt::format("  port {}: {} ({}, ifindex {}, mac {}, mtu {}, link {})\n", port.port_no,
                        port.name, port.type, port.ifindex, FormatMac(port.hw_addr), port.mtu,
                        port.link_up ? "up" : "down");
    const dpif::PortStats& s = port.stats;
    text += fmt::format("      rx packets:{} bytes:{} dropped:{} errors:{}\n", s.rx_packets,
                        s.rx_bytes, s.rx_dropped, s.rx_errors);
    text += fmt::format("      tx packets:{} bytes:{} dropped:{} errors:{}\n", s.tx_packets,
                        s.tx_bytes, s.tx_dropped, s.tx_errors);
  }
  if (!stats.counters.empty()) {
    size_t width = 0;
    for (const auto& [name, value] : stats.counters) width = std::max(width, name.size());
    text += "  counters:\n";
    for (const auto& [name, value] : stats.counters) {
      text += fmt::format("    {:<{}} {}\n", name + ":", width + 1, value);
    }
  }
  return text;
}

Result<std::string> FormatDpFlows(dpif::Dpif& dpif, uint64_t now_ms) {
  HSW_ASSIGN_OR_RETURN(std::vector<dpif::DpFlow> flows, dpif.FlowDump());
  std::string text;
  for (const dpif::DpFlow& flow : flows) {
    text += fmt::format("{}, packets:{}, bytes:{}, used:{}, actions:{}\n",
                        FormatDpKey(flow.key, &flow.mask), flow.stats.n_packets, flow.stats.n_bytes,
                        FormatUsed(flow.stats.used_ms, now_ms), FormatDpActions(flow.actions));
  }
  return text;
}

}  // namespace hsw::ctl
