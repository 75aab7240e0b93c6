// Classifier lookup (ofproto/classifier.h): the OpenFlow table lookup that
// translation runs for every upcall (once per table visited), and again for
// every installed megaflow when the revalidator re-translates after a table
// change.  With 100k rules and a flow-mod storm, revalidation is exactly
// "lookups/s x megaflows", so this number bounds how fast a table change
// reaches traffic.
//
// Tuple-space search costs one hash probe per visited subtable, so the
// interesting axis is the number of distinct masks, not of rules; the rule
// count shows the cache-miss cost of large hash tables.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "ofproto/classifier.h"

namespace hsw::ofproto {
namespace {

void SetPrefix(uint8_t* m, int len) {
  for (int i = 0; i < 4; ++i) {
    int bits = len - 8 * i;
    m[i] = static_cast<uint8_t>(bits >= 8 ? 0xff : bits <= 0 ? 0 : 0xff << (8 - bits));
  }
}

// Mask number i (0..15): always eth_type, as every IP rule has; each bit of
// i adds a field that real pipelines match on, so the 16 masks are the 16
// combinations of {in_port, ip_dst /32 vs /24, ip_proto + L4 dst port,
// ip_src /16}.  Mask 0 alone is a host-route table.
FlowKey MaskNumber(unsigned i) {
  FlowKey m = FlowKey::Zero();
  m.eth_type = 0xffff;
  if (i & 1) m.in_port = 0xffffffff;
  SetPrefix(m.ipv4_dst, (i & 2) ? 24 : 32);
  if (i & 4) {
    m.nw_proto = 0xff;
    m.tp_dst = 0xffff;
  }
  if (i & 8) SetPrefix(m.ipv4_src, 16);
  return m;
}

// A UDP/IPv4 (some TCP) packet's key.  Destinations span 10.0.0.0/8 so that
// even the /24 masks give 100k rules distinct matches.
FlowKey RandomPacket(std::mt19937_64& rng) {
  FlowKey k = FlowKey::Zero();
  k.in_port = 1 + static_cast<uint32_t>(rng() % 48);
  k.eth_type = kEthTypeIpv4;
  k.eth_src[0] = 0x02;
  k.eth_src[5] = static_cast<uint8_t>(rng());
  k.eth_dst[0] = 0x02;
  k.eth_dst[5] = static_cast<uint8_t>(rng());
  k.nw_proto = rng() % 4 ? kIpProtoUdp : kIpProtoTcp;
  k.nw_ttl = 64;
  uint8_t src[4] = {192, static_cast<uint8_t>(168 + rng() % 4), static_cast<uint8_t>(rng()),
                    static_cast<uint8_t>(rng())};
  uint8_t dst[4] = {10, static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng()),
                    static_cast<uint8_t>(rng())};
  std::memcpy(k.ipv4_src, src, 4);
  std::memcpy(k.ipv4_dst, dst, 4);
  k.tp_src = static_cast<uint16_t>(1024 + rng() % 60000);
  k.tp_dst = static_cast<uint16_t>(rng() % 1024);
  return k;
}

struct ClassifierSetup {
  int n_rules = 0, n_masks = 0;
  std::vector<ClsRule> rules;
  Classifier cls;
  std::vector<FlowKey> packets;  // a power of two of them

  ClassifierSetup(int rules_wanted, int masks) : n_rules(rules_wanted), n_masks(masks) {
    std::mt19937_64 rng(42);
    rules.resize(static_cast<size_t>(rules_wanted));
    for (int i = 0; i < rules_wanted; ++i) {
      ClsRule& r = rules[static_cast<size_t>(i)];
      r.mask = MaskNumber(static_cast<unsigned>(i % masks));
      r.key = ApplyMask(RandomPacket(rng), r.mask);
      // Priorities overlap across masks (as in a real table with many
      // overlapping rules), so a lookup cannot stop after the first
      // subtable: the honest, common case.
      r.priority = 1 + static_cast<uint32_t>(rng() % 1000);
      r.seq = static_cast<uint64_t>(i);
      cls.Insert(&r);
    }
    // 3/4 of the packets hit a rule (a rule's key with the unmasked fields
    // random), 1/4 are random and usually miss: a table-miss path is as
    // common as a hit in upcall traffic.
    packets.resize(4096);
    for (size_t i = 0; i < packets.size(); ++i) {
      FlowKey p = RandomPacket(rng);
      if (i % 4 != 3) {
        const ClsRule& r = rules[rng() % rules.size()];
        for (size_t w = 0; w < FlowKey::kWords; ++w) {
          SetKeyWord(p, w, KeyWord(r.key, w) | (KeyWord(p, w) & ~KeyWord(r.mask, w)));
        }
      }
      packets[i] = p;
    }
  }
};

// Building 100k rules takes a while; google-benchmark calls the function
// several times per argument set, so keep the last setup.
ClassifierSetup& GetSetup(int rules, int masks) {
  static std::unique_ptr<ClassifierSetup> cached;
  if (!cached || cached->n_rules != rules || cached->n_masks != masks) {
    cached.reset();
    cached = std::make_unique<ClassifierSetup>(rules, masks);
  }
  return *cached;
}

void BM_ClassifierLookup(benchmark::State& state) {
  ClassifierSetup& s = GetSetup(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  const size_t mask = s.packets.size() - 1;
  size_t i = 0;
  uint64_t hits = 0;
  for (auto _ : state) {
    // Translation starts each lookup from an empty consulted mask.
    FlowKey consulted = FlowKey::Zero();
    const ClsRule* rule = s.cls.Lookup(s.packets[i++ & mask], &consulted);
    hits += rule != nullptr;
    benchmark::DoNotOptimize(rule);
    benchmark::DoNotOptimize(consulted);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["subtables"] = static_cast<double>(s.cls.n_subtables());
  state.counters["hit_ratio"] =
      static_cast<double>(hits) / static_cast<double>(std::max<int64_t>(state.iterations(), 1));
}
BENCHMARK(BM_ClassifierLookup)
    ->ArgNames({"rules", "masks"})
    ->Args({1, 1})
    ->Args({1000, 1})
    ->Args({1000, 4})
    ->Args({1000, 16})
    ->Args({100000, 1})
    ->Args({100000, 4})
    ->Args({100000, 16});

}  // namespace
}  // namespace hsw::ofproto
