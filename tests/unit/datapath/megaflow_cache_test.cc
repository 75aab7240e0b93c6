#include "datapath/megaflow_cache.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <random>

namespace hsw::dp {
namespace {

// Keys drawn from small value sets so that random keys often hit flows.
FlowKey RandomKey(std::mt19937& rng) {
  FlowKey k = FlowKey::Zero();
  k.in_port = 1 + rng() % 4;
  k.eth_type = rng() % 2 ? kEthTypeIpv4 : kEthTypeIpv6;
  k.nw_proto = rng() % 2 ? kIpProtoTcp : kIpProtoUdp;
  k.eth_src[5] = static_cast<uint8_t>(rng() % 4);
  k.ipv4_dst[0] = 10;
  k.ipv4_dst[3] = static_cast<uint8_t>(rng() % 8);
  k.tp_dst = static_cast<uint16_t>(rng() % 4);
  k.tcp_flags = static_cast<uint16_t>(rng() % 3);
  return k;
}

FlowKey RandomMask(std::mt19937& rng) {
  FlowKey m = FlowKey::Zero();
  if (rng() % 2) m.in_port = 0xffffffff;
  if (rng() % 2) m.eth_type = 0xffff;
  if (rng() % 2) m.nw_proto = 0xff;
  if (rng() % 3 == 0) m.eth_src[5] = 0xff;
  switch (rng() % 3) {
    case 0: break;
    case 1: std::memset(m.ipv4_dst, 0xff, 4); break;
    case 2: m.ipv4_dst[0] = 0xff; m.ipv4_dst[3] = 0xfc; break;  // a prefix-like mask
  }
  if (rng() % 2) m.tp_dst = 0xffff;
  return m;
}

struct RefFlow {
  FlowKey key, mask;
  uint32_t id;
};

bool Overlaps(const RefFlow& a, const FlowKey& key, const FlowKey& mask) {
  for (size_t i = 0; i < FlowKey::kWords; ++i) {
    if ((KeyWord(a.key, i) ^ KeyWord(key, i)) & KeyWord(a.mask, i) & KeyWord(mask, i)) return false;
  }
  return true;
}

const RefFlow* RefLookup(const std::vector<RefFlow>& flows, const FlowKey& key) {
  for (const auto& f : flows) {
    if (MaskedEqual(key, f.key, f.mask)) return &f;
  }
  return nullptr;
}

uint32_t IdOf(const Megaflow* flow) {
  return std::get<DpOutput>(flow->actions.at(0)).port;
}

// The cache against a linear reference matcher on random non-overlapping
// flows, random keys, and random deletes and modifications in between.
TEST(MegaflowCache, MatchesReferenceMatcher) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    MegaflowCache cache({.max_flows = 100000, .emc_entries = 64});
    std::vector<RefFlow> ref;
    uint32_t next_id = 1;
    for (int round = 0; round < 10; ++round) {
      for (int i = 0; i < 30; ++i) {
        FlowKey mask = RandomMask(rng);
        FlowKey key = ApplyMask(RandomKey(rng), mask);
        bool overlap = false;
        for (const auto& f : ref) overlap |= Overlaps(f, key, mask);
        if (overlap) continue;
        uint32_t id = next_id++;
        ASSERT_EQ(cache.Put(key, mask, {DpOutput{id}}, dpif::kPutCreate), 0);
        ref.push_back({key, mask, id});
      }
      // Delete a few, modify a few.
      for (int i = 0; i < 5 && !ref.empty(); ++i) {
        size_t victim = rng() % ref.size();
        dpif::FlowStats stats;
        ASSERT_EQ(cache.Del(ref[victim].key, ref[victim].mask, &stats), 0);
        ref.erase(ref.begin() + static_cast<long>(victim));
      }
      for (int i = 0; i < 5 && !ref.empty(); ++i) {
        RefFlow& f = ref[rng() % ref.size()];
        f.id = next_id++;
        ASSERT_EQ(cache.Put(f.key, f.mask, {DpOutput{f.id}}, dpif::kPutModify), 0);
      }
      ASSERT_EQ(cache.n_flows(), ref.size());
      for (int i = 0; i < 500; ++i) {
        FlowKey key = RandomKey(rng);
        const RefFlow* want = RefLookup(ref, key);
        Megaflow* got = cache.Lookup(key);
        if (!want) {
          ASSERT_EQ(got, nullptr) << "seed " << seed << " key " << FormatDpKey(key);
        } else {
          ASSERT_NE(got, nullptr) << "seed " << seed << " key " << FormatDpKey(key);
          ASSERT_EQ(IdOf(got), want->id) << "seed " << seed;
        }
      }
    }
    // n_masks is the number of distinct masks among live flows.
    std::vector<FlowKey> masks;
    for (const auto& f : ref) {
      if (std::find(masks.begin(), masks.end(), f.mask) == masks.end()) masks.push_back(f.mask);
    }
    EXPECT_EQ(cache.n_masks(), masks.size());
    // The random keys must exercise both outcomes and both tiers.
    EXPECT_GT(cache.counters().megaflow_hits, 100u);
    EXPECT_GT(cache.counters().emc_hits, 10u);
    EXPECT_GT(cache.counters().misses, 100u);
  }
}

TEST(MegaflowCache, TierAccounting) {
  MegaflowCache cache;
  FlowKey mask = FlowKey::Zero();
  mask.in_port = 0xffffffff;
  FlowKey key = FlowKey::Zero();
  key.in_port = 1;
  ASSERT_EQ(cache.Put(key, mask, {DpOutput{2}}, dpif::kPutCreate), 0);
  FlowKey pkt = key;
  pkt.tp_src = 1234;
  ASSERT_NE(cache.Lookup(pkt), nullptr);
  EXPECT_EQ(cache.counters().megaflow_hits, 1u);
  EXPECT_EQ(cache.counters().emc_hits, 0u);
  ASSERT_NE(cache.Lookup(pkt), nullptr);  // the second identical packet hits the EMC
  EXPECT_EQ(cache.counters().emc_hits, 1u);
  EXPECT_EQ(cache.counters().megaflow_hits, 1u);
  pkt.in_port = 9;
  EXPECT_EQ(cache.Lookup(pkt), nullptr);
  EXPECT_EQ(cache.counters().misses, 1u);
}

// A deleted flow must not be served from the EMC, even if its slot is reused.
TEST(MegaflowCache, DeleteInvalidatesEmc) {
  MegaflowCache cache;
  FlowKey mask = FlowKey::Zero();
  mask.in_port = 0xffffffff;
  FlowKey key = FlowKey::Zero();
  key.in_port = 1;
  ASSERT_EQ(cache.Put(key, mask, {DpOutput{2}}, dpif::kPutCreate), 0);
  ASSERT_NE(cache.Lookup(key), nullptr);
  ASSERT_NE(cache.Lookup(key), nullptr);
  ASSERT_EQ(cache.counters().emc_hits, 1u);
  ASSERT_EQ(cache.Del(key, mask), 0);
  EXPECT_EQ(cache.Lookup(key), nullptr);
  // Reuse the slot for a flow that does not match key.
  FlowKey other = key;
  other.in_port = 5;
  ASSERT_EQ(cache.Put(other, mask, {DpOutput{3}}, dpif::kPutCreate), 0);
  EXPECT_EQ(cache.Lookup(key), nullptr);
  EXPECT_EQ(cache.n_masks(), 1u);
}

TEST(MegaflowCache, PutFlagsAndErrors) {
  MegaflowCache cache({.max_flows = 2, .emc_entries = 16});
  FlowKey mask = FlowKey::Zero();
  mask.in_port = 0xffffffff;
  FlowKey key = FlowKey::Zero();
  key.in_port = 1;
  key.tp_src = 77;  // not in the mask: dropped on arrival
  EXPECT_EQ(cache.Put(key, mask, {DpOutput{2}}, dpif::kPutModify), ENOENT);
  EXPECT_EQ(cache.Put(key, mask, {DpOutput{2}}, dpif::kPutCreate), 0);
  EXPECT_EQ(cache.Put(key, mask, {DpOutput{3}}, dpif::kPutCreate), EEXIST);
  const Megaflow* flow = cache.Get(key, mask);
  ASSERT_NE(flow, nullptr);
  EXPECT_EQ(flow->key.tp_src, 0);
  cache.Lookup(key)->Hit(100, 5, 0x2);
  EXPECT_EQ(cache.Put(key, mask, {DpOutput{3}}, dpif::kPutModify), 0);
  EXPECT_EQ(cache.Get(key, mask)->stats.n_packets, 1u);  // modify keeps stats
  EXPECT_EQ(cache.Put(key, mask, {DpOutput{4}}, dpif::kPutModify | dpif::kPutClearStats), 0);
  EXPECT_EQ(cache.Get(key, mask)->stats.n_packets, 0u);
  EXPECT_EQ(IdOf(cache.Get(key, mask)), 4u);

  DpSetMasked bad{FlowKey::Zero(), FlowKey::Zero()};
  bad.mask.in_port = 1;
  std::string why;
  FlowKey k2 = key;
  k2.in_port = 2;
  EXPECT_EQ(cache.Put(k2, mask, {bad}, dpif::kPutCreate, &why), EINVAL);
  EXPECT_NE(why.find("in_port"), std::string::npos);
  EXPECT_EQ(cache.Put(k2, mask, {DpUserspace{std::vector<uint8_t>(65)}}, dpif::kPutCreate), EINVAL);
  EXPECT_EQ(cache.Put(k2, mask, {}, dpif::kPutCreate), 0);
  FlowKey k3 = key;
  k3.in_port = 3;
  EXPECT_EQ(cache.Put(k3, mask, {}, dpif::kPutCreate, &why), ENOSPC);
  EXPECT_EQ(cache.Del(k3, mask), ENOENT);
}

TEST(MegaflowCache, DumpInChunksSeesEveryFlowOnce) {
  MegaflowCache cache;
  FlowKey mask = FlowKey::Zero();
  mask.in_port = 0xffffffff;
  for (uint32_t i = 1; i <= 1000; ++i) {
    FlowKey key = FlowKey::Zero();
    key.in_port = i;
    ASSERT_EQ(cache.Put(key, mask, {DpOutput{i}}, dpif::kPutCreate), 0);
  }
  std::vector<dpif::DpFlow> all;
  size_t cursor = 0;
  int chunks = 0;
  do {
    size_t before = all.size();
    cursor = cache.Dump(cursor, 64, all);
    EXPECT_LE(all.size() - before, 64u);
    ++chunks;
  } while (cursor != 0);
  EXPECT_EQ(all.size(), 1000u);
  EXPECT_GE(chunks, 16);
  std::vector<bool> seen(1001);
  for (const auto& f : all) {
    ASSERT_FALSE(seen[f.key.in_port]);
    seen[f.key.in_port] = true;
  }
  cache.Flush();
  EXPECT_EQ(cache.n_flows(), 0u);
  EXPECT_EQ(cache.n_masks(), 0u);
  FlowKey key = FlowKey::Zero();
  key.in_port = 1;
  EXPECT_EQ(cache.Lookup(key), nullptr);
}

}  // namespace
}  // namespace hsw::dp
