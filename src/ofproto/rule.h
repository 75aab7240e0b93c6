// Rules: the OpenFlow flow entries of a bridge's tables.
//
// A rule is shared between the table that holds it and the megaflow records
// (ukeys) of the datapath flows whose translation hit it: datapath statistics
// reach a rule through those records, possibly after the rule left its table
// (a deleted rule keeps counting into nothing rather than dangling).  So rules
// are reference-counted (RuleRef); the table holds one reference while the
// rule is installed.
//
// ClsRule is the part the classifier sees: a masked match, a priority and an
// insertion sequence number that makes equal-priority ties deterministic.
#pragma once

#include <chrono>
#include <cstdint>
#include <utility>

#include "openflow/ofp_types.h"
#include "packet/flow_key.h"

namespace hsw::ofproto {

struct ClsRule {
  FlowKey key = FlowKey::Zero();   // already masked
  FlowKey mask = FlowKey::Zero();
  uint32_t priority = 0;
  uint64_t seq = 0;                // lower wins among equal priorities in one bucket
  // Classifier-private: the next rule with the same (key, mask) and a lower
  // (or equal, later) priority.
  ClsRule* cls_next = nullptr;
};

using SteadyTime = std::chrono::steady_clock::time_point;

struct Rule : ClsRule {
  uint8_t table_id = 0;
  uint64_t cookie = 0;
  uint16_t idle_timeout = 0;
  uint16_t hard_timeout = 0;
  uint16_t flags = 0;
  ofp::Instructions instructions;

  uint64_t n_packets = 0;
  uint64_t n_bytes = 0;
  SteadyTime created{};
  SteadyTime last_used{};   // last time datapath stats showed traffic (or creation)
  SteadyTime modified{};    // last flow-mod that changed the instructions

  bool installed = false;   // in its table's classifier
  uint32_t ref_count = 0;

  // True if any output action (apply or write) sends to `port` (out_port filter).
  bool OutputsTo(uint32_t port) const;
};

// Intrusive reference to a Rule.  Single-threaded, like everything in ofproto.
class RuleRef {
 public:
  RuleRef() = default;
  explicit RuleRef(Rule* rule) : rule_(rule) {
    if (rule_) ++rule_->ref_count;
  }
  RuleRef(const RuleRef& o) : RuleRef(o.rule_) {}
  RuleRef(RuleRef&& o) noexcept : rule_(std::exchange(o.rule_, nullptr)) {}
  RuleRef& operator=(RuleRef o) noexcept {
    std::swap(rule_, o.rule_);
    return *this;
  }
  ~RuleRef() {
    if (rule_ && --rule_->ref_count == 0) delete rule_;
  }

  Rule* get() const { return rule_; }
  Rule* operator->() const { return rule_; }
  Rule& operator*() const { return *rule_; }
  explicit operator bool() const { return rule_ != nullptr; }
  bool operator==(const RuleRef& o) const { return rule_ == o.rule_; }

 private:
  Rule* rule_ = nullptr;
};

}  // namespace hsw::ofproto
