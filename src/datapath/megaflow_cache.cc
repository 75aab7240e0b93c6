#include "datapath/megaflow_cache.h"

#include <algorithm>
#include <cerrno>

#include "datapath/actions.h"

namespace hsw::dp {
namespace {

constexpr uint64_t kReorderInterval = 4096;

size_t RoundUpPow2(size_t n) {
  size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

}  // namespace

MegaflowCache::MegaflowCache(MegaflowCacheOptions options) : options_(options) {
  size_t n = RoundUpPow2(std::max<size_t>(options_.emc_entries, 1));
  emc_.resize(n);
  emc_mask_ = n - 1;
}

MegaflowCache::~MegaflowCache() = default;

Megaflow* MegaflowCache::Lookup(const FlowKey& key) {
  uint64_t hash = HashKey(key);
  EmcEntry& e = emc_[hash & emc_mask_];
  if (e.generation && slots_[e.slot].generation == e.generation && e.key == key) {
    ++counters_.emc_hits;
    return slots_[e.slot].flow.get();
  }
  if (++lookups_since_reorder_ >= kReorderInterval) MaybeReorder();
  for (auto& subtable : subtables_) {
    auto it = subtable->flows.find(ApplyMask(key, subtable->mask));
    if (it == subtable->flows.end()) continue;
    ++subtable->hits;
    ++counters_.megaflow_hits;
    e.key = key;
    e.slot = it->second;
    e.generation = slots_[it->second].generation;
    return slots_[it->second].flow.get();
  }
  ++counters_.misses;
  return nullptr;
}

void MegaflowCache::MaybeReorder() {
  lookups_since_reorder_ = 0;
  // A stable sort keeps equal-hit subtables in insertion order; halving the
  // counts makes the order follow recent traffic, not all-time totals.
  std::stable_sort(subtables_.begin(), subtables_.end(),
                   [](const auto& a, const auto& b) { return a->hits > b->hits; });
  for (auto& subtable : subtables_) subtable->hits /= 2;
}

MegaflowCache::Subtable* MegaflowCache::FindSubtable(const FlowKey& mask) const {
  auto it = masks_.find(mask);
  return it == masks_.end() ? nullptr : it->second;
}

void MegaflowCache::RemoveSubtable(Subtable* subtable) {
  masks_.erase(subtable->mask);
  auto it = std::find_if(subtables_.begin(), subtables_.end(),
                         [&](const auto& s) { return s.get() == subtable; });
  if (it != subtables_.end()) subtables_.erase(it);
}

int MegaflowCache::Put(const FlowKey& key, const FlowKey& mask, const DpActions& actions,
                       uint32_t flags, std::string* why) {
  std::string invalid = ValidateActions(actions);
  if (!invalid.empty()) {
    if (why) *why = invalid;
    return EINVAL;
  }
  FlowKey masked = ApplyMask(key, mask);
  Subtable* subtable = FindSubtable(mask);
  if (subtable) {
    auto it = subtable->flows.find(masked);
    if (it != subtable->flows.end()) {
      if (!(flags & dpif::kPutModify)) {
        if (why) *why = "flow exists";
        return EEXIST;
      }
      Megaflow& flow = *slots_[it->second].flow;
      flow.actions = actions;
      if (flags & dpif::kPutClearStats) flow.stats = {};
      return 0;
    }
  }
  if (!(flags & dpif::kPutCreate)) {
    if (why) *why = "no such flow";
    return ENOENT;
  }
  if (n_flows_ >= options_.max_flows) {
    if (why) *why = "flow table full (" + std::to_string(options_.max_flows) + " flows)";
    return ENOSPC;
  }
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  auto flow = std::make_unique<Megaflow>();
  flow->key = masked;
  flow->mask = mask;
  flow->actions = actions;
  slots_[slot].flow = std::move(flow);
  slots_[slot].generation |= 1;  // odd: live
  if (!subtable) {
    auto owned = std::make_unique<Subtable>();
    owned->mask = mask;
    subtable = owned.get();
    subtables_.push_back(std::move(owned));
    masks_[mask] = subtable;
  }
  subtable->flows.emplace(masked, slot);
  ++n_flows_;
  return 0;
}

int MegaflowCache::Del(const FlowKey& key, const FlowKey& mask, dpif::FlowStats* stats) {
  Subtable* subtable = FindSubtable(mask);
  if (!subtable) return ENOENT;
  auto it = subtable->flows.find(ApplyMask(key, mask));
  if (it == subtable->flows.end()) return ENOENT;
  uint32_t slot = it->second;
  if (stats) *stats = slots_[slot].flow->stats;
  slots_[slot].flow.reset();
  slots_[slot].generation += 1;  // even: dead; EMC entries naming it stop matching
  free_slots_.push_back(slot);
  subtable->flows.erase(it);
  if (subtable->flows.empty()) RemoveSubtable(subtable);
  --n_flows_;
  return 0;
}

const Megaflow* MegaflowCache::Get(const FlowKey& key, const FlowKey& mask) const {
  Subtable* subtable = FindSubtable(mask);
  if (!subtable) return nullptr;
  auto it = subtable->flows.find(ApplyMask(key, mask));
  return it == subtable->flows.end() ? nullptr : slots_[it->second].flow.get();
}

int MegaflowCache::Restore(const dpif::DpFlow& flow, std::string* why) {
  int error = Put(flow.key, flow.mask, flow.actions, dpif::kPutCreate, why);
  if (error == 0) SetStats(flow.key, flow.mask, flow.stats);
  return error;
}

bool MegaflowCache::SetStats(const FlowKey& key, const FlowKey& mask,
                             const dpif::FlowStats& stats) {
  Subtable* subtable = FindSubtable(mask);
  if (!subtable) return false;
  auto it = subtable->flows.find(ApplyMask(key, mask));
  if (it == subtable->flows.end()) return false;
  slots_[it->second].flow->stats = stats;
  return true;
}

void MegaflowCache::Flush() {
  for (uint32_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].flow) {
      slots_[i].flow.reset();
      slots_[i].generation += 1;
      free_slots_.push_back(i);
    }
  }
  subtables_.clear();
  masks_.clear();
  n_flows_ = 0;
}

size_t MegaflowCache::Dump(size_t cursor, size_t max, std::vector<dpif::DpFlow>& out) const {
  // The slot array is the dump order: slots only move on free/reuse, so a
  // flow that lives through the whole dump is met exactly once.
  size_t i = cursor;
  size_t added = 0;
  for (; i < slots_.size() && added < max; ++i) {
    const Megaflow* flow = slots_[i].flow.get();
    if (!flow) continue;
    out.push_back(dpif::DpFlow{flow->key, flow->mask, flow->actions, flow->stats});
    ++added;
  }
  return i >= slots_.size() ? 0 : i;
}

}  // namespace hsw::dp
