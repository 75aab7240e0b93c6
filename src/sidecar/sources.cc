#include "sidecar/sources.h"

#include <fmt/format.h>

#include <map>
#include <optional>

#include "ctl/control_client.h"
#include "dpif/dpif_client.h"

namespace hsw::sidecar {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

Status Up(bool up, const std::string& what, const std::string& error) {
  if (up) return Ok();
  return Err("{} does not answer: {}", what, error);
}

// The datapath's named counters (docs/dpif-protocol.md) as metrics: each
// name maps to a family and, for families that split one quantity by a
// small fixed set, a label.
struct CounterMetric {
  const char* counter;
  const char* family;
  const char* type;
  const char* help;
  const char* label = nullptr;  // "reason=rx_oversize"
};

constexpr CounterMetric kDatapathCounters[] = {
    {"lookups_emc_hit", "hsw_datapath_lookups_total", "counter",
     "Packets looked up in the datapath, by result.", "result=emc_hit"},
    {"lookups_megaflow_hit", "hsw_datapath_lookups_total", "counter", "", "result=megaflow_hit"},
    {"lookups_miss", "hsw_datapath_lookups_total", "counter", "", "result=miss"},
    {"upcalls_sent", "hsw_datapath_upcalls_total", "counter",
     "Misses delivered to hsw-vswitchd as upcalls."},
    {"miss_queue_queued", "hsw_datapath_miss_queue_queued_total", "counter",
     "Misses that entered the miss queue."},
    {"miss_queue_delivered", "hsw_datapath_miss_queue_delivered_total", "counter",
     "Queued misses delivered as upcalls."},
    {"miss_queue_dropped_packets", "hsw_datapath_miss_queue_dropped_total", "counter",
     "Misses dropped by the miss queue, by the limit that dropped them.", "reason=packets"},
    {"miss_queue_dropped_bytes", "hsw_datapath_miss_queue_dropped_total", "counter", "",
     "reason=bytes"},
    {"miss_queue_dropped_age", "hsw_datapath_miss_queue_dropped_total", "counter", "",
     "reason=age"},
    {"miss_queue_packets", "hsw_datapath_miss_queue_packets", "gauge",
     "Misses waiting in the miss queue now."},
    {"miss_queue_bytes", "hsw_datapath_miss_queue_bytes", "gauge",
     "Bytes of misses waiting in the miss queue now."},
    {"n_flows", "hsw_datapath_megaflows", "gauge", "Megaflows installed in the datapath."},
    {"n_masks", "hsw_datapath_masks", "gauge", "Distinct megaflow masks (classifier subtables)."},
    {"executed", "hsw_datapath_executed_packets_total", "counter",
     "Packets run through Execute (packet-outs, upcall replies)."},
    {"drops_flow_action_drop", "hsw_datapath_drops_total", "counter",
     "Packets the datapath dropped, by reason.", "reason=action_drop"},
    {"drops_output_invalid_port", "hsw_datapath_drops_total", "counter", "",
     "reason=invalid_port"},
    {"drops_rx_oversize", "hsw_datapath_drops_total", "counter", "", "reason=rx_oversize"},
    {"drops_rx_ring_full", "hsw_datapath_drops_total", "counter", "", "reason=rx_ring_full"},
    {"drops_tx", "hsw_datapath_drops_total", "counter", "", "reason=tx"},
    {"drops_csum_incomplete", "hsw_datapath_drops_total", "counter", "",
     "reason=csum_incomplete"},
    {"drops_push_vlan_no_room", "hsw_datapath_drops_total", "counter", "",
     "reason=push_vlan_no_room"},
    {"clients", "hsw_datapath_clients", "gauge", "Connections to the datapath's socket."},
    {"owner_connected", "hsw_datapath_owner_connected", "gauge",
     "1 when hsw-vswitchd is connected as the datapath's owner."},
    {"protocol_errors", "hsw_datapath_protocol_errors_total", "counter",
     "Malformed or refused datapath-protocol messages."},
};

// Adds `value` to the family `name`, creating it (in first-seen order).
class Families {
 public:
  void Add(const std::string& name, const std::string& type, const std::string& help,
           Labels labels, double value) {
    auto it = index_.find(name);
    if (it == index_.end()) {
      it = index_.emplace(name, families_.size()).first;
      families_.push_back({name, type, help, {}});
    }
    Family& family = families_[it->second];
    if (family.help.empty()) family.help = help;
    family.samples.push_back({std::move(labels), value});
  }
  std::vector<Family> Take() { return std::move(families_); }

 private:
  std::vector<Family> families_;
  std::map<std::string, size_t> index_;
};

void AddScrape(Families& f, const std::string& source, bool up, double seconds) {
  f.Add("hsw_scrape_success", "gauge",
        "1 when the source answered this scrape, 0 when it did not (its metrics are then absent).",
        {{"source", source}}, up ? 1 : 0);
  f.Add("hsw_scrape_duration_seconds", "gauge", "How long reading the source took.",
        {{"source", source}}, seconds);
}

std::optional<int64_t> Int(const json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || !object[key].is_number_integer()) {
    return std::nullopt;
  }
  return object[key].get<int64_t>();
}

}  // namespace

DatapathView ReadDatapath(const Paths& paths, std::chrono::milliseconds deadline) {
  DatapathView view;
  auto start = Clock::now();
  auto client = dpif::DpifClient::Connect(paths.datapath_socket(), dpif::Role::kMonitor,
                                          "hsw-sidecar", deadline);
  if (!client) {
    view.error = client.error().ToString();
  } else {
    (*client)->set_timeout(deadline);
    auto stats = (*client)->GetStats();
    if (!stats) {
      view.error = stats.error().ToString();
    } else {
      view.up = true;
      view.stats = std::move(*stats);
      view.version = (*client)->hello().datapath_version;
      view.pid = (*client)->hello().datapath_pid;
    }
  }
  view.seconds = SecondsSince(start);
  return view;
}

VswitchdView ReadVswitchd(const Paths& paths, std::chrono::milliseconds deadline) {
  VswitchdView view;
  auto start = Clock::now();
  auto client = ctl::ControlClient::Connect(paths.vswitchd_control(), deadline);
  if (!client) {
    view.error = client.error().ToString();
  } else {
    auto show = client->Call("show");
    if (!show) {
      view.error = show.error().ToString();
    } else {
      view.up = true;
      view.show = std::move(*show);
    }
  }
  view.seconds = SecondsSince(start);
  return view;
}

std::vector<Check> LivenessChecks(const DatapathView& dp, const VswitchdView& vs) {
  return {
      {"datapath", [&dp] { return Up(dp.up, "hsw-datapath", dp.error); }},
      {"vswitchd", [&vs] { return Up(vs.up, "hsw-vswitchd", vs.error); }},
  };
}

std::vector<Check> ReadinessChecks(const DatapathView& dp, const VswitchdView& vs) {
  std::vector<Check> checks = LivenessChecks(dp, vs);
  checks.push_back({"datapath-connected", [&vs]() -> Status {
                      if (!vs.up) return Err("hsw-vswitchd does not answer");
                      const json& d = vs.show.value("datapath", json::object());
                      if (!d.value("connected", false)) {
                        return Err("hsw-vswitchd is not connected to hsw-datapath at {}",
                                   d.value("socket", std::string("?")));
                      }
                      return Ok();
                    }});
  checks.push_back({"flow-restore-wait", [&vs]() -> Status {
                      if (!vs.up) return Err("hsw-vswitchd does not answer");
                      if (!vs.show.value("tables_loaded", false)) {
                        return Err(
                            "flow-restore-wait is true: the tables are being restored, datapath "
                            "flows are frozen");
                      }
                      return Ok();
                    }});
  checks.push_back({"ports", [&dp, &vs]() -> Status {
                      if (!vs.up || !dp.up) return Err("a daemon does not answer");
                      std::map<std::string, bool> link;
                      for (const dpif::PortInfo& port : dp.stats.ports) {
                        link[port.name] = port.link_up;
                      }
                      std::vector<std::string> down;
                      for (const json& bridge : vs.show.value("bridges", json::array())) {
                        for (const json& port : bridge.value("ports", json::array())) {
                          std::string name = port.value("name", std::string());
                          if (port.contains("error")) {
                            down.push_back(fmt::format("{} ({})", name,
                                                       port["error"].get<std::string>()));
                          } else if (auto it = link.find(name); it == link.end()) {
                            down.push_back(name + " (not in the datapath)");
                          } else if (!it->second && name != bridge.value("name", "")) {
                            down.push_back(name + " (link down)");
                          }
                        }
                      }
                      if (down.empty()) return Ok();
                      std::string list;
                      for (const std::string& d : down) list += (list.empty() ? "" : ", ") + d;
                      return Err("ports not up: {}", list);
                    }});
  return checks;
}

std::vector<Family> DatapathMetrics(const DatapathView& dp) {
  Families f;
  AddScrape(f, "datapath", dp.up, dp.seconds);
  if (!dp.up) return f.Take();
  f.Add("hsw_datapath_info", "gauge", "The running hsw-datapath: its version and pid.",
        {{"version", dp.version}, {"pid", std::to_string(dp.pid)}}, 1);
  for (const CounterMetric& m : kDatapathCounters) {
    auto value = dp.stats.Counter(m.counter);
    if (!value) continue;
    Labels labels;
    if (m.label) {
      std::string label = m.label;
      size_t eq = label.find('=');
      labels.push_back({label.substr(0, eq), label.substr(eq + 1)});
    }
    f.Add(m.family, m.type, m.help, std::move(labels), static_cast<double>(*value));
  }
  for (const dpif::PortInfo& port : dp.stats.ports) {
    const dpif::PortStats& s = port.stats;
    Labels l = {{"port", port.name}};
    f.Add("hsw_port_rx_packets_total", "counter", "Packets received on the port.", l,
          static_cast<double>(s.rx_packets));
    f.Add("hsw_port_tx_packets_total", "counter", "Packets sent on the port.", l,
          static_cast<double>(s.tx_packets));
    f.Add("hsw_port_rx_bytes_total", "counter", "Bytes received on the port.", l,
          static_cast<double>(s.rx_bytes));
    f.Add("hsw_port_tx_bytes_total", "counter", "Bytes sent on the port.", l,
          static_cast<double>(s.tx_bytes));
    f.Add("hsw_port_dropped_packets_total", "counter", "Packets the port dropped, by direction.",
          {{"port", port.name}, {"direction", "rx"}}, static_cast<double>(s.rx_dropped));
    f.Add("hsw_port_dropped_packets_total", "counter", "",
          {{"port", port.name}, {"direction", "tx"}}, static_cast<double>(s.tx_dropped));
    f.Add("hsw_port_errors_total", "counter", "Port errors, by direction.",
          {{"port", port.name}, {"direction", "rx"}}, static_cast<double>(s.rx_errors));
    f.Add("hsw_port_errors_total", "counter", "", {{"port", port.name}, {"direction", "tx"}},
          static_cast<double>(s.tx_errors));
    f.Add("hsw_port_link_up", "gauge", "1 when the port's link is up.", l, port.link_up ? 1 : 0);
  }
  return f.Take();
}

std::vector<Family> VswitchdMetrics(const VswitchdView& vs) {
  Families f;
  AddScrape(f, "vswitchd", vs.up, vs.seconds);
  if (!vs.up) return f.Take();
  f.Add("hsw_vswitchd_tables_loaded", "gauge",
        "0 while flow-restore-wait holds the tables (a restore is in progress), else 1.", {},
        vs.show.value("tables_loaded", false) ? 1 : 0);
  f.Add("hsw_vswitchd_datapath_connected", "gauge",
        "1 when hsw-vswitchd is connected to hsw-datapath.", {},
        vs.show.value("datapath", json::object()).value("connected", false) ? 1 : 0);
  if (auto seq = Int(vs.show.value("journal", json::object()), "seq")) {
    f.Add("hsw_vswitchd_journal_seq", "gauge", "The flow journal's last sequence number.", {},
          static_cast<double>(*seq));
  }
  for (const json& bridge : vs.show.value("bridges", json::array())) {
    std::string name = bridge.value("name", std::string());
    f.Add("hsw_bridge_rules", "gauge", "OpenFlow rules in the bridge's tables.",
          {{"bridge", name}}, static_cast<double>(bridge.value("n_rules", int64_t{0})));
    f.Add("hsw_bridge_ports", "gauge", "Ports configured on the bridge.", {{"bridge", name}},
          static_cast<double>(bridge.value("ports", json::array()).size()));
  }
  // hsw-vswitchd's counters ([name, value] pairs): monotonic except the
  // two that count what exists now.
  for (const json& pair : vs.show.value("counters", json::array())) {
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() ||
        !pair[1].is_number()) {
      continue;
    }
    std::string name = pair[0].get<std::string>();
    double value = pair[1].get<double>();
    if (name == "rules") continue;  // hsw_bridge_rules, per bridge
    if (!ValidMetricName(name)) continue;
    if (name == "ukeys") {
      f.Add("hsw_vswitchd_ukeys", "gauge", "Datapath flows hsw-vswitchd tracks (ukeys).", {},
            value);
    } else {
      f.Add("hsw_vswitchd_" + name + "_total", "counter",
            fmt::format("hsw-vswitchd's {} counter.", name), {}, value);
    }
  }
  return f.Take();
}

}  // namespace hsw::sidecar
