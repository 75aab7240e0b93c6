// Fuzzes the running datapath's judgement of a successor's Hello
// (JudgeHello): any local process may connect to datapath.handover and say
// anything, and the datapath that forwards must answer, never crash.  An
// accepted Hello must name a version inside this side's range.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "datapath/handover_hello.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto hello = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (hello.is_discarded()) return 0;
  const hsw::dp::HandoverVersions ours{1, 3};
  const std::vector<hsw::dp::HelloClient> clients = {{"hsw-vswitchd", 2}, {"hsw-ctl", 1}};
  auto judged = hsw::dp::JudgeHello(hello, ours, clients);
  if (!judged) return 0;
  if (judged->refusal.empty() && (judged->version < ours.min || judged->version > ours.max)) {
    std::fprintf(stderr, "handover_hello_fuzz: accepted at version %u, outside 1..3\n",
                 judged->version);
    std::abort();
  }
  return 0;
}
