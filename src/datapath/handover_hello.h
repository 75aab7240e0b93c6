// The running datapath's judgement of a successor's Hello (handover.h):
// whether it would hand over, and if not, why, in words that go into both
// processes' logs and into `hsw-ctl upgrade-check`.  Apart from the socket
// so that it can be fuzzed: any local process can say Hello.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "datapath/handover.h"

namespace hsw::dp {

struct HelloJudgement {
  uint32_t peer_pid = 0;
  std::string peer_version = "?";
  bool probe = false;         // upgrade-check's question: judge, hand nothing over
  uint32_t version = 0;       // the handover version both speak
  std::string refusal;        // empty: accepted
};

// A client connection that said Hello: who, and its datapath protocol version.
struct HelloClient {
  std::string name;
  uint32_t dpif_version = 0;
};

// An error only for a Hello that is not one (a field of the wrong type).
// `internal_ports`: the names of the internal (tap) ports this datapath
// holds, which a successor that settles on a version below
// kHandoverVersionInternalPorts could not take over.
Result<HelloJudgement> JudgeHello(const nlohmann::json& hello, HandoverVersions ours,
                                  const std::vector<HelloClient>& clients,
                                  const std::vector<std::string>& internal_ports = {});

}  // namespace hsw::dp
