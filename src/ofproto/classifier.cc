#include "ofproto/classifier.h"

#include <algorithm>
#include <cassert>

namespace hsw::ofproto {
namespace {

// A cheap, well-mixing hash over the words a subtable's mask covers.  The
// classifier hashes only those words, so a subtable that matches one field
// costs one multiply per probe.  (xxHash over the whole key would hash 96
// bytes per subtable visited.)
inline uint64_t Mix(uint64_t h, uint64_t w) {
  h ^= w * 0x9e3779b97f4a7c15ull;
  h = (h << 27) | (h >> 37);
  return h * 0xff51afd7ed558ccdull + 0xc4ceb9fe1a85ec53ull;
}
inline uint64_t Finish(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

// Staged lookup (as OVS does): a subtable's mask words are examined in
// stages, from the fields most pipelines split on first (metadata, in_port,
// VLAN, eth_type) to the ones that most multiply megaflows (L4 ports) last.
// Word layout of FlowKey: 0 metadata; 1 in_port, vlan_tci, eth_type; 2-3
// Ethernet addresses and nw_proto/tos/ttl/frag; 4 L4 ports and TCP flags;
// 5 IPv4 addresses; 6-9 IPv6 addresses; 10-11 ARP addresses.
struct Stage {
  uint8_t first, last;  // word range [first, last)
};
constexpr Stage kStages[] = {{0, 2}, {2, 4}, {5, 12}, {4, 5}};
constexpr size_t kNumStages = sizeof(kStages) / sizeof(kStages[0]);

// Rule a beats rule b.
inline bool Better(const ClsRule* a, const ClsRule* b) {
  return a->priority > b->priority || (a->priority == b->priority && a->seq < b->seq);
}

}  // namespace

// One mask's rules: an open-addressing (linear probing) hash table of bucket
// heads; each head starts a chain of rules with the same masked key, best first.
struct Classifier::Subtable {
  FlowKey mask;
  // The mask's nonzero words in stage order, and where each stage ends.
  uint8_t words[FlowKey::kWords];
  uint8_t n_words = 0;
  uint8_t stage_end[kNumStages];
  uint8_t n_stages = 0;
  // For every stage but the last: how many rules have each partial hash
  // (the hash of their key over the words of this and earlier stages).
  std::vector<std::unordered_map<uint64_t, uint32_t>> stage_index;
  uint32_t max_priority = 0;
  std::map<uint32_t, uint32_t> priorities;  // priority -> number of rules
  size_t n_rules = 0;

  struct Slot {
    uint64_t hash;
    ClsRule* head;  // nullptr: empty
  };
  std::vector<Slot> slots;  // size is a power of two (or 0)
  size_t n_buckets = 0;

  explicit Subtable(const FlowKey& m) : mask(m) {
    for (const auto& stage : kStages) {
      for (uint8_t i = stage.first; i < stage.last; ++i) {
        if (KeyWord(mask, i)) words[n_words++] = i;
      }
      if (n_stages == 0 || n_words > stage_end[n_stages - 1]) stage_end[n_stages++] = n_words;
    }
    if (n_stages > 0) stage_index.resize(n_stages - 1);
  }

  // Final hash of a key; also fills partial[] with the per-stage hashes if asked.
  uint64_t Hash(const FlowKey& key, uint64_t* partial = nullptr) const {
    uint64_t h = n_words;
    uint8_t k = 0;
    for (uint8_t s = 0; s < n_stages; ++s) {
      for (; k < stage_end[s]; ++k) h = Mix(h, KeyWord(key, words[k]) & KeyWord(mask, words[k]));
      if (partial) partial[s] = Finish(h);
    }
    return Finish(h);
  }

  // The rule chain matching `key` (nullptr if none), ORing into *consulted
  // the mask words this took.  A stage whose partial hash no rule has ends
  // the search early, so later stages' bits (L3 addresses, L4 ports) are not
  // consulted for packets that already differ in, say, in_port.
  const ClsRule* Find(const FlowKey& key, FlowKey* consulted) const {
    uint64_t h = n_words;
    uint8_t k = 0;
    for (uint8_t s = 0; s < n_stages; ++s) {
      for (; k < stage_end[s]; ++k) h = Mix(h, KeyWord(key, words[k]) & KeyWord(mask, words[k]));
      if (s + 1 < n_stages && !stage_index[s].count(Finish(h))) {
        Consult(consulted, k);
        return nullptr;
      }
    }
    Consult(consulted, n_words);
    if (slots.empty()) return nullptr;
    uint64_t hash = Finish(h);
    return slots[Probe(key, hash)].head;
  }

  void Consult(FlowKey* consulted, uint8_t n) const {
    if (!consulted) return;
    for (uint8_t k = 0; k < n; ++k) {
      uint8_t i = words[k];
      SetKeyWord(*consulted, i, KeyWord(*consulted, i) | KeyWord(mask, i));
    }
  }

  // rule_key is masked; key is not.
  bool Equal(const FlowKey& rule_key, const FlowKey& key) const {
    uint64_t diff = 0;
    for (uint8_t k = 0; k < n_words; ++k) {
      uint8_t i = words[k];
      diff |= KeyWord(rule_key, i) ^ (KeyWord(key, i) & KeyWord(mask, i));
    }
    return diff == 0;
  }

  // Slot index holding the bucket for `key`, or the empty slot where it would go.
  size_t Probe(const FlowKey& key, uint64_t hash) const {
    size_t cap_mask = slots.size() - 1;
    size_t i = hash & cap_mask;
    while (true) {
      const Slot& s = slots[i];
      if (!s.head || (s.hash == hash && Equal(s.head->key, key))) return i;
      i = (i + 1) & cap_mask;
    }
  }

  ClsRule* FindBucket(const FlowKey& key) const {
    if (slots.empty()) return nullptr;
    uint64_t h = Hash(key);
    return slots[Probe(key, h)].head;
  }

  void Grow() {
    std::vector<Slot> old = std::move(slots);
    slots.assign(old.empty() ? 8 : old.size() * 2, Slot{0, nullptr});
    size_t cap_mask = slots.size() - 1;
    for (const Slot& s : old) {
      if (!s.head) continue;
      size_t i = s.hash & cap_mask;
      while (slots[i].head) i = (i + 1) & cap_mask;
      slots[i] = s;
    }
  }

  void Insert(ClsRule* rule) {
    if ((n_buckets + 1) * 4 > slots.size() * 3) Grow();
    uint64_t partial[kNumStages];
    uint64_t h = Hash(rule->key, partial);
    for (size_t s = 0; s + 1 < n_stages; ++s) ++stage_index[s][partial[s]];
    size_t i = Probe(rule->key, h);
    Slot& s = slots[i];
    if (!s.head) {
      s.hash = h;
      s.head = rule;
      rule->cls_next = nullptr;
      ++n_buckets;
    } else if (Better(rule, s.head)) {
      rule->cls_next = s.head;
      s.head = rule;
    } else {
      ClsRule* prev = s.head;
      while (prev->cls_next && !Better(rule, prev->cls_next)) prev = prev->cls_next;
      rule->cls_next = prev->cls_next;
      prev->cls_next = rule;
    }
    ++n_rules;
    ++priorities[rule->priority];
    max_priority = priorities.rbegin()->first;
  }

  void Remove(ClsRule* rule) {
    uint64_t partial[kNumStages];
    uint64_t h = Hash(rule->key, partial);
    for (size_t s = 0; s + 1 < n_stages; ++s) {
      auto it = stage_index[s].find(partial[s]);
      if (--it->second == 0) stage_index[s].erase(it);
    }
    size_t i = Probe(rule->key, h);
    Slot& s = slots[i];
    assert(s.head);
    if (s.head == rule) {
      s.head = rule->cls_next;
      if (!s.head) EraseSlot(i);
    } else {
      ClsRule* prev = s.head;
      while (prev->cls_next != rule) prev = prev->cls_next;
      prev->cls_next = rule->cls_next;
    }
    rule->cls_next = nullptr;
    --n_rules;
    auto it = priorities.find(rule->priority);
    if (--it->second == 0) priorities.erase(it);
    max_priority = priorities.empty() ? 0 : priorities.rbegin()->first;
  }

  // Backward-shift deletion keeps probe sequences intact without tombstones.
  void EraseSlot(size_t i) {
    size_t cap_mask = slots.size() - 1;
    --n_buckets;
    size_t j = i;
    while (true) {
      slots[i].head = nullptr;
      while (true) {
        j = (j + 1) & cap_mask;
        if (!slots[j].head) return;
        size_t home = slots[j].hash & cap_mask;
        // Move slot j into the hole at i unless its home lies cyclically in (i, j].
        bool home_in_range = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!home_in_range) break;
      }
      slots[i] = slots[j];
      i = j;
    }
  }

  template <class F>
  void ForEachRule(F&& f) const {
    for (const Slot& s : slots) {
      for (ClsRule* r = s.head; r;) {
        ClsRule* next = r->cls_next;
        f(r);
        r = next;
      }
    }
  }
};

size_t Classifier::MaskHash::operator()(const FlowKey& mask) const {
  uint64_t h = 0;
  for (size_t i = 0; i < FlowKey::kWords; ++i) h = Mix(h, KeyWord(mask, i));
  return Finish(h);
}

Classifier::Classifier() = default;
Classifier::~Classifier() = default;

Classifier::Subtable* Classifier::FindSubtable(const FlowKey& mask) const {
  auto it = subtables_.find(mask);
  return it == subtables_.end() ? nullptr : it->second.get();
}

Classifier::Subtable* Classifier::CreateSubtable(const FlowKey& mask) {
  auto owned = std::make_unique<Subtable>(mask);
  Subtable* st = owned.get();
  subtables_.emplace(mask, std::move(owned));
  by_priority_.push_back(Entry{0, st});
  return st;
}

void Classifier::DestroySubtable(Subtable* subtable) {
  auto it = std::find_if(by_priority_.begin(), by_priority_.end(),
                         [&](const Entry& e) { return e.subtable == subtable; });
  by_priority_.erase(it);
  subtables_.erase(subtable->mask);
}

void Classifier::Reposition(Subtable* subtable) {
  size_t i = 0;
  while (by_priority_[i].subtable != subtable) ++i;
  by_priority_[i].max_priority = subtable->max_priority;
  // Bubble towards the front while larger, then towards the back while smaller:
  // one element moved, the rest stays sorted.  Equal priorities keep their
  // relative order, so lookups stay deterministic.
  while (i > 0 && by_priority_[i - 1].max_priority < by_priority_[i].max_priority) {
    std::swap(by_priority_[i - 1], by_priority_[i]);
    --i;
  }
  while (i + 1 < by_priority_.size() &&
         by_priority_[i + 1].max_priority > by_priority_[i].max_priority) {
    std::swap(by_priority_[i + 1], by_priority_[i]);
    ++i;
  }
}

void Classifier::Insert(ClsRule* rule) {
  Subtable* st = FindSubtable(rule->mask);
  if (!st) st = CreateSubtable(rule->mask);
  uint32_t old_max = st->max_priority;
  bool was_empty = st->n_rules == 0;
  st->Insert(rule);
  ++n_rules_;
  if (was_empty || st->max_priority != old_max) Reposition(st);
}

void Classifier::Remove(ClsRule* rule) {
  Subtable* st = FindSubtable(rule->mask);
  assert(st);
  uint32_t old_max = st->max_priority;
  st->Remove(rule);
  --n_rules_;
  if (st->n_rules == 0) {
    DestroySubtable(st);
  } else if (st->max_priority != old_max) {
    Reposition(st);
  }
}

const ClsRule* Classifier::Lookup(const FlowKey& key, FlowKey* consulted) const {
  const ClsRule* best = nullptr;
  for (const Entry& e : by_priority_) {
    if (best && e.max_priority <= best->priority) break;
    const ClsRule* head = e.subtable->Find(key, consulted);
    if (head && (!best || Better(head, best))) best = head;
  }
  return best;
}

ClsRule* Classifier::FindStrict(const FlowKey& key, const FlowKey& mask, uint32_t priority) const {
  Subtable* st = FindSubtable(mask);
  if (!st) return nullptr;
  for (ClsRule* r = st->FindBucket(key); r; r = r->cls_next) {
    if (r->priority == priority) return r;
    if (r->priority < priority) break;
  }
  return nullptr;
}

void Classifier::ForEachLoose(const FlowKey& key, const FlowKey& mask,
                              const std::function<void(ClsRule*)>& callback) const {
  for (const Entry& e : by_priority_) {
    const Subtable* st = e.subtable;
    if (!MaskIsSubset(mask, st->mask)) continue;
    if (st->mask == mask) {
      for (ClsRule* r = st->FindBucket(key); r;) {
        ClsRule* next = r->cls_next;
        callback(r);
        r = next;
      }
    } else {
      st->ForEachRule([&](ClsRule* r) {
        if (MaskedEqual(r->key, key, mask)) callback(r);
      });
    }
  }
}

void Classifier::ForEach(const std::function<void(ClsRule*)>& callback) const {
  for (const Entry& e : by_priority_) e.subtable->ForEachRule(callback);
}

bool Classifier::HasOverlap(const ClsRule& rule) const {
  bool found = false;
  for (const Entry& e : by_priority_) {
    const Subtable* st = e.subtable;
    if (st->max_priority < rule.priority || !st->priorities.count(rule.priority)) continue;
    FlowKey both = FlowKey::Zero();
    for (size_t i = 0; i < FlowKey::kWords; ++i) {
      SetKeyWord(both, i, KeyWord(st->mask, i) & KeyWord(rule.mask, i));
    }
    st->ForEachRule([&](ClsRule* r) {
      if (!found && r != &rule && r->priority == rule.priority && MaskedEqual(r->key, rule.key, both)) {
        found = true;
      }
    });
    if (found) return true;
  }
  return false;
}

std::vector<FlowKey> Classifier::SubtableMasks() const {
  std::vector<FlowKey> out;
  for (const Entry& e : by_priority_) out.push_back(e.subtable->mask);
  return out;
}

}  // namespace hsw::ofproto
