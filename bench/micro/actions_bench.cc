// Datapath action execution (datapath/actions.h), per packet, after the
// megaflow lookup: output only (plain switching), a set-field of the IPv4
// destination with its incremental IP and UDP checksum updates (NAT, load
// balancers), and a VLAN push (access port to trunk).  The output sink here
// only counts, so this is the actions' own cost, without the batched send.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "datapath/actions.h"
#include "packet/flow_extract.h"
#include "test_frames.h"

namespace hsw::dp {
namespace {

using namespace hsw::testing;

class CountingSink : public OutputSink {
 public:
  void Output(uint32_t port, const Packet& packet, bool may_reference) override {
    ++outputs;
    benchmark::DoNotOptimize(packet.data);
  }
  void Userspace(const Packet& packet, std::span<const uint8_t> userdata) override {}
  uint64_t outputs = 0;
};

// A 64-byte-on-the-wire UDP/IPv4 frame in a buffer with headroom, as the
// receive ring gives it, with its key and offsets extracted once.
struct Frame {
  static constexpr uint32_t kHeadroom = 64;
  Bytes original;
  Bytes buffer;
  Packet packet;
  FlowKey key;
  HeaderOffsets offsets;

  Frame() : original(Cat(Eth(kEthTypeIpv4), Ipv4(kIpProtoUdp, Udp(40000, 53, 18)))) {
    buffer.assign(kHeadroom, 0);
    buffer.insert(buffer.end(), original.begin(), original.end());
    Reset();
    ExtractFlow(packet.data, packet.size, 1, &key, &offsets);
  }
  void Reset() {
    packet.data = buffer.data() + kHeadroom;
    packet.size = static_cast<uint32_t>(original.size());
    packet.headroom = kHeadroom;
  }
};

DpSetMasked SetIpv4Dst(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  DpSetMasked s;
  const uint8_t ip[4] = {a, b, c, d};
  std::memcpy(s.value.ipv4_dst, ip, 4);
  std::memset(s.mask.ipv4_dst, 0xff, 4);
  return s;
}

void BM_ActionOutput(benchmark::State& state) {
  Frame f;
  CountingSink sink;
  ActionCounters counters;
  const DpActions actions = {DpOutput{2}};
  for (auto _ : state) {
    ExecuteActions(actions, f.packet, f.key, f.offsets, sink, counters);
  }
  benchmark::DoNotOptimize(sink.outputs);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ActionOutput);

void BM_ActionSetIpv4DstOutput(benchmark::State& state) {
  Frame f;
  CountingSink sink;
  ActionCounters counters;
  // A rewrite to the value already there is skipped, so alternate between
  // two addresses: every iteration really rewrites and updates checksums.
  // (The key passed stays the original; actions read old values from the
  // packet bytes, and only the key's eth_type/nw_proto, which do not change.)
  const DpActions to_a = {SetIpv4Dst(192, 168, 7, 1), DpOutput{2}};
  const DpActions to_b = {SetIpv4Dst(192, 168, 7, 2), DpOutput{2}};
  bool flip = false;
  for (auto _ : state) {
    ExecuteActions(flip ? to_b : to_a, f.packet, f.key, f.offsets, sink, counters);
    flip = !flip;
  }
  benchmark::DoNotOptimize(sink.outputs);
  benchmark::DoNotOptimize(f.buffer.data());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  if (VerifyChecksums(Bytes(f.packet.data, f.packet.data + f.packet.size)) != "") {
    state.SkipWithError("checksums wrong after the rewrites");
  }
}
BENCHMARK(BM_ActionSetIpv4DstOutput);

void BM_ActionPushVlanOutput(benchmark::State& state) {
  Frame f;
  CountingSink sink;
  ActionCounters counters;
  const DpActions actions = {DpPushVlan{kEthTypeVlan, 100}, DpOutput{2}};
  for (auto _ : state) {
    // Undo the push (it used headroom and moved the MACs): 12 bytes copied
    // back, a few ns included in the figure.
    f.Reset();
    std::memcpy(f.packet.data, f.original.data(), 12);
    ExecuteActions(actions, f.packet, f.key, f.offsets, sink, counters);
  }
  benchmark::DoNotOptimize(sink.outputs);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  if (counters.push_vlan_no_room) state.SkipWithError("push_vlan ran out of headroom");
}
BENCHMARK(BM_ActionPushVlanOutput);

}  // namespace
}  // namespace hsw::dp
