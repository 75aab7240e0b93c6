#include "datapath/handover_hello.h"

#include <fmt/format.h>

#include "common/version.h"
#include "packet/flow_key.h"

namespace hsw::dp {

Result<HelloJudgement> JudgeHello(const nlohmann::json& hello, HandoverVersions ours,
                                  const std::vector<HelloClient>& clients,
                                  const std::vector<std::string>& internal_ports) {
  if (!hello.is_object()) return Err("the successor's Hello is not a JSON object");
  HelloJudgement judged;
  uint32_t theirs_min = 0, theirs_max = 0, key_size = 0, dpif_min = 0, dpif_max = 0;
  try {
    judged.peer_pid = hello.value("pid", 0u);
    judged.peer_version = hello.value("version", std::string("?"));
    judged.probe = hello.value("probe", false);
    theirs_min = hello.value("handover_min", 0u);
    theirs_max = hello.value("handover_max", 0u);
    key_size = hello.value("flow_key_size", 0u);
    dpif_min = hello.value("dpif_min", 0u);
    dpif_max = hello.value("dpif_max", 0u);
  } catch (const nlohmann::json::exception& e) {
    return Err("the successor's Hello: {}", e.what());
  }
  judged.version = VersionRange{ours.min, ours.max}.HighestCommon({theirs_min, theirs_max});
  if (!judged.version) {
    judged.refusal = fmt::format(
        "no common handover version: this datapath ({}) speaks {}..{}, the successor ({}) {}..{}",
        kVersion, ours.min, ours.max, judged.peer_version, theirs_min, theirs_max);
  } else if (key_size != sizeof(FlowKey)) {
    judged.refusal = fmt::format(
        "flow key layout differs: this datapath has {} bytes, the successor {} (flows cannot be "
        "handed over; restart instead)",
        sizeof(FlowKey), key_size);
  } else if (judged.version < kHandoverVersionInternalPorts && !internal_ports.empty()) {
    std::string names;
    for (const std::string& name : internal_ports) names += (names.empty() ? "" : ", ") + name;
    judged.refusal = fmt::format(
        "this datapath holds internal ports ({}), which handover version {} cannot carry: the "
        "successor ({}) speaks {}..{}, internal ports need {}",
        names, judged.version, judged.peer_version, theirs_min, theirs_max,
        kHandoverVersionInternalPorts);
  } else {
    for (const HelloClient& client : clients) {
      if (client.dpif_version < dpif_min || client.dpif_version > dpif_max) {
        judged.refusal = fmt::format(
            "client '{}' speaks datapath protocol {}, which the successor ({}..{}) does not",
            client.name, client.dpif_version, dpif_min, dpif_max);
        break;
      }
    }
  }
  return judged;
}

}  // namespace hsw::dp
