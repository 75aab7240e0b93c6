// The megaflow cache: the datapath's flow table.
//
// A megaflow is (key, mask) -> actions, installed by the client (hsw-vswitchd)
// after it translated a missed packet: the mask holds exactly the bits its
// OpenFlow lookup consulted, so one megaflow covers every packet that agrees on
// those bits.  Lookup has two tiers, as in Open vSwitch's user-space datapath:
//
//  1. EMC, an exact-match cache: a direct-mapped array indexed by a hash of
//     the whole key, holding (full key -> flow).  A hit costs one hash and one
//     key compare.  Entries are filled on megaflow hits and point at a flow by
//     (slot, generation), so a deleted flow's entries die without a sweep.
//  2. Tuple space: one hash table per distinct mask ("subtable"), probed with
//     the key masked by that subtable's mask.  Subtables are kept ordered by
//     recent hits so that the busy masks are probed first.
//
// Megaflows are assumed not to overlap (the client never installs two flows
// that match one packet, as in OVS); if they do, which one wins is unspecified.
//
// Threading: the datapath has a single forwarding thread that also serves the
// control socket between packet batches, so lookups and updates never run at
// the same time and nothing here takes a lock.  Updates are small steps
// (one flow each), so a long FlowPut batch is spread over loop iterations by
// the server and never stalls forwarding for long.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "dpif/dp_actions.h"
#include "dpif/dpif_protocol.h"
#include "packet/flow_key.h"

namespace hsw::dp {

struct Megaflow {
  FlowKey key;   // already masked
  FlowKey mask;
  DpActions actions;
  dpif::FlowStats stats;

  void Hit(uint32_t bytes, uint64_t now_ms, uint16_t tcp_flags) {
    ++stats.n_packets;
    stats.n_bytes += bytes;
    stats.used_ms = now_ms;
    stats.tcp_flags |= tcp_flags;
  }
};

struct MegaflowCacheOptions {
  size_t max_flows = 200000;
  size_t emc_entries = 8192;  // rounded up to a power of two
};

class MegaflowCache {
 public:
  explicit MegaflowCache(MegaflowCacheOptions options = {});
  ~MegaflowCache();
  MegaflowCache(const MegaflowCache&) = delete;
  MegaflowCache& operator=(const MegaflowCache&) = delete;

  // Per packet: the flow matching `key`, or nullptr; counts the tier.
  Megaflow* Lookup(const FlowKey& key);

  // Installs or changes a flow (dpif::kPut* flags).  Returns 0 or an errno:
  // EEXIST (exists, no kPutModify), ENOENT (absent, no kPutCreate), EINVAL
  // (bad actions; *why says what), ENOSPC (max_flows reached).
  int Put(const FlowKey& key, const FlowKey& mask, const DpActions& actions, uint32_t flags,
          std::string* why = nullptr);
  // Removes a flow; 0 and its final stats, or ENOENT.
  int Del(const FlowKey& key, const FlowKey& mask, dpif::FlowStats* stats = nullptr);
  const Megaflow* Get(const FlowKey& key, const FlowKey& mask) const;
  void Flush();

  // Handover (datapath/handover.h): installs a flow with the statistics it
  // had in the previous process (0 or Put()'s errno), and brings them up to
  // date at the switch-over (false if there is no such flow).
  int Restore(const dpif::DpFlow& flow, std::string* why = nullptr);
  bool SetStats(const FlowKey& key, const FlowKey& mask, const dpif::FlowStats& stats);

  // Incremental dump: appends up to `max` flows starting at `cursor` (start
  // with 0) and returns the next cursor, or 0 when the dump is complete.
  // Flows added or removed during a dump may or may not appear; the others
  // appear exactly once.
  size_t Dump(size_t cursor, size_t max, std::vector<dpif::DpFlow>& out) const;

  size_t n_flows() const { return n_flows_; }
  size_t n_masks() const { return subtables_.size(); }

  struct Counters {
    uint64_t emc_hits = 0;
    uint64_t megaflow_hits = 0;
    uint64_t misses = 0;
  };
  const Counters& counters() const { return counters_; }

 private:
  struct KeyHash {
    size_t operator()(const FlowKey& key) const { return HashKey(key); }
  };
  struct Subtable {
    FlowKey mask;
    std::unordered_map<FlowKey, uint32_t, KeyHash> flows;  // masked key -> slot
    uint64_t hits = 0;
  };
  struct Slot {
    std::unique_ptr<Megaflow> flow;
    uint32_t generation = 0;
  };
  struct EmcEntry {
    FlowKey key;
    uint32_t slot = 0;
    uint32_t generation = 0;  // 0 = empty (live slots have odd generations)
  };

  Subtable* FindSubtable(const FlowKey& mask) const;
  void RemoveSubtable(Subtable* subtable);
  void MaybeReorder();

  MegaflowCacheOptions options_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  // Probe order; owned here, indexed by mask in masks_.
  std::vector<std::unique_ptr<Subtable>> subtables_;
  std::unordered_map<FlowKey, Subtable*, KeyHash> masks_;
  std::vector<EmcEntry> emc_;
  size_t emc_mask_ = 0;
  size_t n_flows_ = 0;
  uint64_t lookups_since_reorder_ = 0;
  Counters counters_;
};

}  // namespace hsw::dp
