// Classifier: the rules of one OpenFlow table, and the lookup that finds the
// highest-priority rule matching a packet's FlowKey.
//
// Tuple-space search, as in Open vSwitch: rules are grouped into subtables,
// one per distinct mask; a subtable is a hash table from masked key to the
// rules with that (key, mask), chained in priority order.  A lookup visits the
// subtables in decreasing order of the highest priority they hold and stops as
// soon as no remaining subtable can beat the best match so far, so its cost is
// one hash probe per visited subtable, independent of the number of rules.
//
// Megaflows depend on one more output: every visited subtable's mask is ORed
// into `consulted`.  Those are exactly the bits the decision depended on, so
// any packet that agrees with this one on them gets the same rule from this
// classifier -- which is what lets the datapath cache the decision for all of
// them.  Subtables that were skipped because they could not win contribute
// nothing.  Within a subtable the mask is examined in stages (metadata and
// in_port first, L4 ports last, as in OVS): if no rule of the subtable agrees
// with the packet on the first stages, the later stages' bits are not
// consulted.  So a rule on "in_port=1,tcp,tp_dst=80" does not make the
// megaflows of packets from port 2 match on TCP ports.
//
// Ties: among rules of equal priority with identical match, the earlier one
// (lower seq) wins.  Equal-priority rules with different masks that both match
// a packet are, as OpenFlow says, undefined: the one in the subtable visited
// first wins, and the lookup does not look further (as OVS does), which keeps
// megaflows small.
//
// The classifier does not own rules; the caller keeps them alive while they
// are inserted.  Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "ofproto/rule.h"
#include "packet/flow_key.h"

namespace hsw::ofproto {

class Classifier {
 public:
  Classifier();
  ~Classifier();
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  // rule->key must already be masked by rule->mask.  The rule must not be in
  // any classifier.  Several rules may share (key, mask, priority); they are
  // ordered by seq.
  void Insert(ClsRule* rule);
  // The rule must be in this classifier.
  void Remove(ClsRule* rule);

  // The highest-priority rule matching `key`, or nullptr.  ORs the mask of
  // every subtable examined into *consulted (if not null).
  const ClsRule* Lookup(const FlowKey& key, FlowKey* consulted) const;

  // Strict find: the first rule with exactly this match and priority.
  ClsRule* FindStrict(const FlowKey& key, const FlowKey& mask, uint32_t priority) const;

  // Loose find: every rule whose match is at least as specific as (key, mask)
  // and agrees with it (OpenFlow's non-strict modify/delete).  `key` must be
  // masked by `mask`.  The callback must not change the classifier.
  void ForEachLoose(const FlowKey& key, const FlowKey& mask,
                    const std::function<void(ClsRule*)>& callback) const;
  void ForEach(const std::function<void(ClsRule*)>& callback) const;

  // True if some rule other than `rule` itself has the same priority and
  // could match a packet that `rule` matches (OFPFF_CHECK_OVERLAP).
  bool HasOverlap(const ClsRule& rule) const;

  size_t size() const { return n_rules_; }
  size_t n_subtables() const { return by_priority_.size(); }
  // Masks of the subtables in visiting order, for tests and debugging.
  std::vector<FlowKey> SubtableMasks() const;

 private:
  struct Subtable;
  struct MaskHash {
    size_t operator()(const FlowKey& mask) const;
  };
  struct Entry {
    uint32_t max_priority;
    Subtable* subtable;
  };

  Subtable* FindSubtable(const FlowKey& mask) const;
  Subtable* CreateSubtable(const FlowKey& mask);
  void DestroySubtable(Subtable* subtable);
  // Moves a subtable's entry in by_priority_ after its max_priority changed.
  void Reposition(Subtable* subtable);

  std::unordered_map<FlowKey, std::unique_ptr<Subtable>, MaskHash> subtables_;
  std::vector<Entry> by_priority_;  // decreasing max_priority
  size_t n_rules_ = 0;
};

}  // namespace hsw::ofproto
