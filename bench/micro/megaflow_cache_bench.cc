// Megaflow cache lookup (datapath/megaflow_cache.h): the per-packet lookup of
// hsw-datapath, one per received frame, so its cost is a floor under the
// per-packet budget (at 1 Mpps a core has 1 us per packet for everything).
// Three paths, measured apart because traffic mixes them differently:
//  * EMC hit: the steady state of a few long-lived connections;
//  * tuple-space hit (EMC miss): many short flows, or more active keys than
//    EMC slots; one probe per subtable until the flow's own;
//  * full miss: every subtable is probed before the packet becomes an upcall
//    (the path a SYN flood or a scan takes).
// Flows are spread evenly over the masks, packets evenly over the flows.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "datapath/megaflow_cache.h"

namespace hsw::dp {
namespace {

// Megaflow masks as translation produces them: in_port and eth_type always
// (every flow is distinct per input port), plus what the OpenFlow lookup
// consulted: i's bits add eth_dst (MAC learning), ip_dst /24 vs /32,
// ip_proto + L4 dst port (an ACL), ip_src.  Each mask gets its own in_port so
// that flows of different masks never overlap (the client guarantees that).
FlowKey MaskNumber(unsigned i) {
  FlowKey m = FlowKey::Zero();
  m.in_port = 0xffffffff;
  m.eth_type = 0xffff;
  if (i & 1) std::memset(m.eth_dst, 0xff, 6);
  std::memset(m.ipv4_dst, 0xff, (i & 2) ? 3 : 4);
  if (i & 4) {
    m.nw_proto = 0xff;
    m.tp_dst = 0xffff;
  }
  if (i & 8) std::memset(m.ipv4_src, 0xff, 4);
  return m;
}

// The full key of a UDP/IPv4 packet as ExtractFlow fills it.
FlowKey RandomPacket(std::mt19937_64& rng, uint32_t in_port) {
  FlowKey k = FlowKey::Zero();
  k.in_port = in_port;
  k.eth_type = kEthTypeIpv4;
  const uint8_t src_mac[6] = {0x02, 0, 0, 0, 0, static_cast<uint8_t>(rng())};
  const uint8_t dst_mac[6] = {0x02, 0, 0, 0, 1, static_cast<uint8_t>(rng())};
  std::memcpy(k.eth_src, src_mac, 6);
  std::memcpy(k.eth_dst, dst_mac, 6);
  k.nw_proto = kIpProtoUdp;
  k.nw_ttl = 64;
  uint8_t src[4] = {192, 168, static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng())};
  uint8_t dst[4] = {10, static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng()),
                    static_cast<uint8_t>(rng())};
  std::memcpy(k.ipv4_src, src, 4);
  std::memcpy(k.ipv4_dst, dst, 4);
  k.tp_src = static_cast<uint16_t>(1024 + rng() % 60000);
  k.tp_dst = static_cast<uint16_t>(rng() % 1024);
  return k;
}

enum class Path { kEmcHit, kMegaflowHit, kMiss };

struct MegaflowSetup {
  std::unique_ptr<MegaflowCache> cache;
  std::vector<FlowKey> packets;  // a power of two of them
};

MegaflowSetup Build(Path path, int n_flows, int n_masks) {
  MegaflowSetup s;
  MegaflowCacheOptions options;
  // EMC-miss case: a one-entry EMC, and consecutive packets always differ,
  // so every lookup takes the tuple-space path (including the EMC probe and
  // the EMC refill that a real miss pays).
  if (path == Path::kMegaflowHit) options.emc_entries = 1;
  s.cache = std::make_unique<MegaflowCache>(options);
  std::mt19937_64 rng(7);
  std::vector<std::pair<FlowKey, FlowKey>> flows;  // (packet that made it, mask)
  const DpActions actions = {DpOutput{2}};
  while (static_cast<int>(flows.size()) < n_flows) {
    unsigned m = static_cast<unsigned>(flows.size()) % static_cast<unsigned>(n_masks);
    FlowKey mask = MaskNumber(m);
    FlowKey packet = RandomPacket(rng, 1 + m);
    if (s.cache->Put(packet, mask, actions, dpif::kPutCreate) == 0)
      flows.emplace_back(packet, mask);
  }
  // EMC hits: 1024 packets (active connections) whose EMC slots differ, so
  // that after one warm-up pass every lookup hits the EMC.  Otherwise 4096.
  size_t n_packets = path == Path::kEmcHit ? 1024 : 4096;
  const uint64_t emc_index_mask = MegaflowCacheOptions{}.emc_entries - 1;  // a power of two
  std::set<uint64_t> emc_slots;
  while (s.packets.size() < n_packets) {
    const auto& [origin, mask] = flows[s.packets.size() % flows.size()];
    FlowKey p = FlowKey::Zero();
    if (path == Path::kMiss) {
      p = RandomPacket(rng, 1000);  // no mask's in_port
    } else {
      // Same masked bits as the flow, the rest (ports, MACs...) new.
      FlowKey other = RandomPacket(rng, origin.in_port);
      for (size_t w = 0; w < FlowKey::kWords; ++w) {
        SetKeyWord(
            p, w,
            (KeyWord(origin, w) & KeyWord(mask, w)) | (KeyWord(other, w) & ~KeyWord(mask, w)));
      }
    }
    if (path == Path::kEmcHit && !emc_slots.insert(HashKey(p) & emc_index_mask).second) continue;
    s.packets.push_back(p);
  }
  for (const FlowKey& p : s.packets) s.cache->Lookup(p);  // warm the EMC
  return s;
}

void RunLookups(benchmark::State& state, Path path) {
  MegaflowSetup s = Build(path, static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  const size_t mask = s.packets.size() - 1;
  const MegaflowCache::Counters before = s.cache->counters();
  size_t i = 0;
  for (auto _ : state) {
    Megaflow* flow = s.cache->Lookup(s.packets[i++ & mask]);
    benchmark::DoNotOptimize(flow);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  // Which tier actually answered: a check that the case measures what it says.
  const MegaflowCache::Counters& after = s.cache->counters();
  double n = static_cast<double>(std::max<int64_t>(state.iterations(), 1));
  state.counters["emc%"] = 100.0 * static_cast<double>(after.emc_hits - before.emc_hits) / n;
  state.counters["mf%"] =
      100.0 * static_cast<double>(after.megaflow_hits - before.megaflow_hits) / n;
  state.counters["miss%"] = 100.0 * static_cast<double>(after.misses - before.misses) / n;
}

void BM_MegaflowEmcHit(benchmark::State& state) { RunLookups(state, Path::kEmcHit); }
void BM_MegaflowTupleHit(benchmark::State& state) { RunLookups(state, Path::kMegaflowHit); }
void BM_MegaflowMiss(benchmark::State& state) { RunLookups(state, Path::kMiss); }

void FlowArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"flows", "masks"});
  b->Args({1, 1});
  b->Args({1000, 1});
  b->Args({1000, 4});
  b->Args({1000, 16});
}
BENCHMARK(BM_MegaflowEmcHit)->Apply(FlowArgs);
BENCHMARK(BM_MegaflowTupleHit)->Apply(FlowArgs);
BENCHMARK(BM_MegaflowMiss)->Apply(FlowArgs);

}  // namespace
}  // namespace hsw::dp
