// FlowTables: a bridge's 254 OpenFlow tables and the flow-mod semantics of
// OpenFlow 1.3 on them.
//
//  * add: replaces a rule with identical match and priority in place (its
//    counters kept unless OFPFF_RESET_COUNTS, its age reset); with
//    OFPFF_CHECK_OVERLAP, fails with FLOW_MOD_FAILED/OVERLAP if a rule of the
//    same priority could match the same packet.
//  * modify / modify-strict: replace the instructions of the matching rules
//    (loose: every rule at least as specific as the match; strict: identical
//    match and priority), filtered by cookie/cookie_mask.  As in OpenFlow 1.1+
//    (and OVS), the cookie is not changed and nothing is added when no rule
//    matches.
//  * delete / delete-strict: remove the matching rules, filtered by
//    cookie/cookie_mask and out_port; table 0xff means every table.
//
// A batch (FlowModBatch, bundles) is applied all or nothing: each change is
// logged and undone in reverse if a later flow-mod fails.  Flow-removed
// notifications are only reported once the batch has committed.
//
// Every committed change that can alter a translation bumps generation(), so
// the revalidator knows which bridges to look at.
//
// Cost: add, strict modify and strict delete are a hash probe; loose
// modify/delete visit the subtables whose mask covers the flow-mod's mask
// (rules of other masks cannot match loosely).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <unordered_set>
#include <vector>

#include "ofproto/classifier.h"
#include "ofproto/ofproto.h"
#include "ofproto/rule.h"
#include "openflow/ofp_types.h"

namespace hsw::ofproto {

// Checks a flow-mod on its own (table ids, instructions, actions, match
// prerequisites), before any table is touched.
OfResult ValidateFlowMod(const ofp::FlowMod& flow_mod);
// Checks an action list (also packet-out's: `packet_out` allows output:TABLE).
OfResult ValidateActions(const ofp::Actions& actions, const ofp::Match* match, bool packet_out);

struct RemovedRule {
  RuleRef rule;
  uint8_t reason = ofp::kFlowRemovedDelete;
};

class FlowTables {
 public:
  FlowTables();
  ~FlowTables();
  FlowTables(const FlowTables&) = delete;
  FlowTables& operator=(const FlowTables&) = delete;

  // Applies `flow_mods` in order, all or nothing.  Rules removed by deletes
  // that asked for OFPFF_SEND_FLOW_REM are appended to *notify on success.
  OfResult Apply(const std::vector<ofp::FlowMod>& flow_mods, SteadyTime now,
                 std::vector<RemovedRule>* notify);

  // The rule of table `table_id` that matches `key` (see Classifier::Lookup).
  // Counts the lookup in the table's statistics if `count`.
  Rule* Lookup(uint8_t table_id, const FlowKey& key, FlowKey* consulted, bool count);

  // Dump order: by table, then priority (highest first), then age -- stable
  // and readable.
  std::vector<ofp::FlowStats> Dump(const ofp::FlowStatsRequest& request, SteadyTime now) const;
  // Every rule, in dump order, without copying any.
  std::vector<const Rule*> RulesInDumpOrder() const;
  ofp::AggregateStats Aggregate(const ofp::FlowStatsRequest& request) const;
  std::vector<ofp::TableStats> TableStats() const;

  // Removes rules whose idle or hard timeout has passed at `now` (a rule's
  // last_used is kept current by the revalidator's stats pulls).  Returns all
  // of them; the caller sends FlowRemoved for those with SEND_FLOW_REM.
  std::vector<RemovedRule> Expire(SteadyTime now);

  const Classifier& table(uint8_t table_id) const { return tables_[table_id]->cls; }
  uint64_t generation() const { return generation_; }
  size_t n_rules() const { return n_rules_; }

  // Removes every rule (bridge deletion).
  void Clear();

 private:
  struct Table {
    Classifier cls;
    uint64_t lookup_count = 0;
    uint64_t matched_count = 0;
  };
  struct Undo;
  class Txn;

  OfResult ApplyOne(const ofp::FlowMod& fm, SteadyTime now, Txn& txn);
  OfResult Add(const ofp::FlowMod& fm, SteadyTime now, Txn& txn);
  void Modify(const ofp::FlowMod& fm, SteadyTime now, Txn& txn);
  void Delete(const ofp::FlowMod& fm, Txn& txn);
  // Rules selected by a modify/delete/stats request.
  std::vector<Rule*> Select(uint8_t table_id, const ofp::Match& match, bool strict,
                            uint16_t priority, uint64_t cookie, uint64_t cookie_mask,
                            uint32_t out_port) const;

  static void SortForDump(std::vector<Rule*>& rules);
  void InsertRule(Rule* rule);   // takes the table's reference
  RuleRef RemoveRule(Rule* rule);  // returns the table's reference
  void TrackTimeouts(Rule* rule);

  std::array<std::unique_ptr<Table>, ofp::kNumTables> tables_;
  std::unordered_set<Rule*> timed_rules_;  // rules with an idle or hard timeout
  uint64_t generation_ = 0;
  uint64_t next_seq_ = 1;
  size_t n_rules_ = 0;
};

}  // namespace hsw::ofproto
