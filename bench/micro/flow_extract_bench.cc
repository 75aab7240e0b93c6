// Flow key extraction (packet/flow_extract.h): hsw-datapath parses every
// received frame into a FlowKey before the megaflow lookup, so together with
// that lookup it is the fixed per-packet cost.  Frames are the common shapes:
// minimum-size UDP/IPv4 (the packet-rate worst case), TCP/IPv6 (longer
// addresses, more key to fill) and an 802.1Q-tagged UDP/IPv4 frame (the
// extra tag loop of trunk ports).
#include <benchmark/benchmark.h>

#include "packet/flow_extract.h"
#include "test_frames.h"

namespace hsw {
namespace {

using namespace hsw::testing;

// 64 bytes as on the wire including the 4-byte FCS, which the kernel strips:
// 14 + 20 + 8 + 18 = 60 bytes here.
Bytes Udp4Frame() { return Cat(Eth(kEthTypeIpv4), Ipv4(kIpProtoUdp, Udp(40000, 53, 18))); }
Bytes Tcp6Frame() {
  return Cat(Eth(kEthTypeIpv6), Ipv6(kIpProtoTcp, Tcp(40000, 443, 0x018 /* PSH|ACK */, 64)));
}
Bytes VlanUdp4Frame() {
  EthOpts tagged;
  tagged.tags = {{kEthTypeVlan, 100}};
  return Cat(Eth(kEthTypeIpv4, tagged), Ipv4(kIpProtoUdp, Udp(40000, 53, 18)));
}

void RunExtract(benchmark::State& state, const Bytes& frame) {
  FlowKey key;
  HeaderOffsets offsets;
  for (auto _ : state) {
    // The datapath asks for offsets too (actions reuse them).
    ExtractFlow(frame.data(), frame.size(), 1, &key, &offsets);
    benchmark::DoNotOptimize(key);
    benchmark::DoNotOptimize(offsets);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * frame.size()));
}

void BM_ExtractUdp4(benchmark::State& state) { RunExtract(state, Udp4Frame()); }
void BM_ExtractTcp6(benchmark::State& state) { RunExtract(state, Tcp6Frame()); }
void BM_ExtractVlanUdp4(benchmark::State& state) { RunExtract(state, VlanUdp4Frame()); }
BENCHMARK(BM_ExtractUdp4);
BENCHMARK(BM_ExtractTcp6);
BENCHMARK(BM_ExtractVlanUdp4);

}  // namespace
}  // namespace hsw
