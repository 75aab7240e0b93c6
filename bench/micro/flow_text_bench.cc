// ovs-ofctl flow text parsing (openflow/flow_text.h).  `hsw-ctl add-flows`
// and the restore after a restart read whole flow files through
// ParseFlowFile, so with 100k flows the parse rate is a visible share of how
// long a restore takes (bench/restore_flows.py measures the whole thing);
// ParseFlowMod is one add-flow command.
#include <benchmark/benchmark.h>

#include <string>

#include "openflow/flow_text.h"

namespace hsw::ofp {
namespace {

constexpr char kTypicalFlow[] =
    "table=0,priority=100,ip,nw_src=10.1.2.3,udp,tp_dst=53,"
    "actions=set_field:10.0.0.1->ip_src,output:2";

void BM_ParseFlowMod(benchmark::State& state) {
  if (!ParseFlowMod(kTypicalFlow)) {
    state.SkipWithError("the typical flow does not parse");
    return;
  }
  for (auto _ : state) {
    auto fm = ParseFlowMod(kTypicalFlow);
    benchmark::DoNotOptimize(fm);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * (sizeof(kTypicalFlow) - 1)));
}
BENCHMARK(BM_ParseFlowMod);

// A saved flow file: 10k lines in a few shapes a real one has (ACL-like UDP
// and TCP rules, MAC forwarding, ARP), with a comment now and then.
std::string FlowFile(int n) {
  std::string text = "# saved by hsw-ctl\n";
  for (int i = 0; i < n; ++i) {
    const int a = (i >> 8) & 0xff, b = i & 0xff;
    const std::string ip = "10." + std::to_string(a) + "." + std::to_string(b) + ".";
    switch (i % 4) {
      case 0:
        text += "table=0,priority=100,ip,nw_src=" + ip +
                "3,udp,tp_dst=" + std::to_string(1 + i % 1000) +
                ",actions=set_field:10.0.0.1->ip_src,output:2\n";
        break;
      case 1:
        text += "table=0,priority=200,tcp,in_port=" + std::to_string(1 + i % 48) + ",nw_dst=" + ip +
                "0/24,tp_dst=443,actions=goto_table:1\n";
        break;
      case 2:
        text += "table=1,priority=50,dl_dst=02:00:00:00:" + std::to_string(10 + a % 90) + ":" +
                std::to_string(10 + b % 90) + ",actions=output:" + std::to_string(1 + i % 48) +
                "\n";
        break;
      case 3:
        text += "table=1,priority=10,arp,arp_tpa=" + ip + "1,actions=NORMAL\n";
        break;
    }
    if (i % 1000 == 999) text += "\n# next block\n";
  }
  return text;
}

void BM_ParseFlowFile10k(benchmark::State& state) {
  const int n = 10000;
  const std::string text = FlowFile(n);
  auto check = ParseFlowFile(text);
  if (!check || check->size() != static_cast<size_t>(n)) {
    state.SkipWithError(check ? "wrong number of flows" : check.error().message.c_str());
    return;
  }
  for (auto _ : state) {
    auto flows = ParseFlowFile(text);
    benchmark::DoNotOptimize(flows);
  }
  // Items are flows, so items/s reads as flows/s.
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_ParseFlowFile10k)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace hsw::ofp
