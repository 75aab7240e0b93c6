#include "ofproto/flow_table.h"

#include <algorithm>
#include <variant>

#include "packet/flow_field.h"

namespace hsw::ofproto {
namespace {

using ofp::err::kBadAction;
using ofp::err::kBadInstruction;
using ofp::err::kBadMatch;
using ofp::err::kFlowModFailed;

tl::unexpected<ofp::OfpError> OfErr(uint16_t type, uint16_t code, std::string detail) {
  return tl::unexpected(ofp::MakeOfpError(type, code, std::move(detail)));
}

bool ActionsOutputTo(const ofp::Actions& actions, uint32_t port) {
  for (const ofp::Action& a : actions) {
    if (auto* out = std::get_if<ofp::ActOutput>(&a); out && out->port == port) return true;
  }
  return false;
}

// True if the match's eth_type / nw_proto satisfy the field's prerequisites.
bool PrereqsMet(const FieldInfo& info, const ofp::Match& match) {
  if (info.prereq_eth_type) {
    if (match.mask.eth_type != 0xffff) return false;
    if (match.key.eth_type != info.prereq_eth_type &&
        (!info.prereq_eth_type2 || match.key.eth_type != info.prereq_eth_type2)) {
      return false;
    }
  }
  if (info.prereq_nw_proto >= 0) {
    if (match.mask.nw_proto != 0xff || match.key.nw_proto != info.prereq_nw_proto) return false;
  }
  return true;
}

bool Settable(FieldId id) {
  switch (id) {
    case FieldId::kInPort:
    case FieldId::kMetadata:
    case FieldId::kEthType:
    case FieldId::kIpProto:
    case FieldId::kTcpFlags:
      return false;
    default:
      return true;
  }
}

bool IsVlanField(FieldId id) { return id == FieldId::kVlanVid || id == FieldId::kVlanPcp; }

bool CookieMatches(uint64_t rule_cookie, uint64_t cookie, uint64_t cookie_mask) {
  return ((rule_cookie ^ cookie) & cookie_mask) == 0;
}

void ToDuration(SteadyTime created, SteadyTime now, uint32_t* sec, uint32_t* nsec) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - created).count();
  if (ns < 0) ns = 0;
  *sec = static_cast<uint32_t>(ns / 1000000000);
  *nsec = static_cast<uint32_t>(ns % 1000000000);
}

}  // namespace

bool Rule::OutputsTo(uint32_t port) const {
  if (port == ofp::kPortAny) return true;
  if (ActionsOutputTo(instructions.apply, port)) return true;
  return instructions.write_actions && ActionsOutputTo(*instructions.write_actions, port);
}

OfResult ValidateActions(const ofp::Actions& actions, const ofp::Match* match, bool packet_out) {
  for (const ofp::Action& a : actions) {
    if (auto* out = std::get_if<ofp::ActOutput>(&a)) {
      uint32_t p = out->port;
      bool reserved_ok = p == ofp::kPortInPort || p == ofp::kPortNormal || p == ofp::kPortFlood ||
                         p == ofp::kPortAll || p == ofp::kPortController || p == ofp::kPortLocal ||
                         (packet_out && p == ofp::kPortTable);
      if (p == 0 || (p > ofp::kPortMax && !reserved_ok)) {
        return OfErr(kBadAction, ofp::err::kBadActionBadOutPort,
                     fmt::format("output to invalid port {:#x}", p));
      }
    } else if (auto* set = std::get_if<ofp::ActSetField>(&a)) {
      if (set->field >= FieldId::kCount || !Settable(set->field)) {
        return OfErr(kBadAction, ofp::err::kBadActionBadSetType,
                     fmt::format("field {} cannot be set",
                                 set->field < FieldId::kCount ? GetFieldInfo(set->field).name
                                                              : "unknown"));
      }
      const FieldInfo& info = GetFieldInfo(set->field);
      if (match && !IsVlanField(set->field) && !PrereqsMet(info, *match)) {
        return OfErr(kBadAction, ofp::err::kBadActionMatchInconsistent,
                     fmt::format("set_field {} needs its prerequisites in the match", info.name));
      }
    } else if (auto* push = std::get_if<ofp::ActPushVlan>(&a)) {
      if (push->ethertype != kEthTypeVlan && push->ethertype != kEthTypeQinQ) {
        return OfErr(kBadAction, ofp::err::kBadActionBadArgument,
                     fmt::format("push_vlan ethertype {:#06x} is not 0x8100 or 0x88a8",
                                 push->ethertype));
      }
    }
  }
  return {};
}

OfResult ValidateFlowMod(const ofp::FlowMod& fm) {
  using ofp::FlowModCommand;
  bool is_delete = fm.command == FlowModCommand::kDelete ||
                   fm.command == FlowModCommand::kDeleteStrict;
  if (fm.command > FlowModCommand::kDeleteStrict) {
    return OfErr(kFlowModFailed, ofp::err::kFlowModBadCommand,
                 fmt::format("unknown flow-mod command {}", static_cast<int>(fm.command)));
  }
  if (fm.table_id >= ofp::kNumTables && !(is_delete && fm.table_id == ofp::kTableAll)) {
    return OfErr(kFlowModFailed, ofp::err::kFlowModBadTableId,
                 fmt::format("table {} does not exist", fm.table_id));
  }
  // Match prerequisites: a field may only be matched when the protocol that
  // carries it is pinned down, or packets of other protocols (whose field is
  // zero) would match it.
  // Fields that share storage (tp_src is TCP, UDP, SCTP and ICMP; nw_src is
  // IPv4 and ARP) are fine if any of them has its prerequisites met.
  for (size_t i = 0; i < kNumFields; ++i) {
    auto id = static_cast<FieldId>(i);
    if (FieldMaskIsZero(fm.match.mask, id)) continue;
    const FieldInfo& info = GetFieldInfo(id);
    bool ok = false;
    for (size_t j = 0; j < kNumFields && !ok; ++j) {
      const FieldInfo& other = GetFieldInfo(static_cast<FieldId>(j));
      bool shares = other.key_offset == info.key_offset &&
                    (!info.key_bits || !other.key_bits || (info.key_bits & other.key_bits));
      ok = shares && PrereqsMet(other, fm.match);
    }
    if (!ok) {
      return OfErr(kBadMatch, ofp::err::kBadMatchBadPrereq,
                   fmt::format("match on {} without its prerequisites", info.name));
    }
  }
  if (is_delete) return {};

  const ofp::Instructions& ins = fm.instructions;
  if (ins.goto_table) {
    if (*ins.goto_table <= fm.table_id || *ins.goto_table >= ofp::kNumTables) {
      return OfErr(kBadInstruction, ofp::err::kBadInstructionBadTableId,
                   fmt::format("goto_table:{} from table {} (must go to a later table)",
                               *ins.goto_table, fm.table_id));
    }
  }
  if (auto r = ValidateActions(ins.apply, &fm.match, false); !r) return r;
  if (ins.write_actions) {
    if (auto r = ValidateActions(*ins.write_actions, &fm.match, false); !r) return r;
  }
  return {};
}

// --- transactions ---

struct FlowTables::Undo {
  enum Kind { kInserted, kRemoved, kModified } kind = kInserted;
  RuleRef rule;
  // kModified: the fields as they were.
  uint64_t cookie = 0;
  uint16_t idle_timeout = 0, hard_timeout = 0, flags = 0;
  ofp::Instructions instructions;
  uint64_t n_packets = 0, n_bytes = 0;
  SteadyTime created{}, last_used{}, modified{};
};

class FlowTables::Txn {
 public:
  explicit Txn(FlowTables& tables) : tables_(tables) {}

  void Inserted(Rule* rule) { log_.push_back(Make(Undo::kInserted, RuleRef(rule))); }
  void Removed(RuleRef rule) { log_.push_back(Make(Undo::kRemoved, std::move(rule))); }
  void Modifying(Rule* rule) {
    Undo u = Make(Undo::kModified, RuleRef(rule));
    u.cookie = rule->cookie;
    u.idle_timeout = rule->idle_timeout;
    u.hard_timeout = rule->hard_timeout;
    u.flags = rule->flags;
    u.instructions = rule->instructions;
    u.n_packets = rule->n_packets;
    u.n_bytes = rule->n_bytes;
    u.created = rule->created;
    u.last_used = rule->last_used;
    u.modified = rule->modified;
    log_.push_back(std::move(u));
  }
  static Undo Make(Undo::Kind kind, RuleRef rule) {
    Undo u;
    u.kind = kind;
    u.rule = std::move(rule);
    return u;
  }
  bool empty() const { return log_.empty(); }
  const std::vector<Undo>& log() const { return log_; }

  void Rollback() {
    for (auto it = log_.rbegin(); it != log_.rend(); ++it) {
      Undo& u = *it;
      Rule* r = u.rule.get();
      switch (u.kind) {
        case Undo::kInserted:
          tables_.RemoveRule(r);
          break;
        case Undo::kRemoved:
          tables_.InsertRule(r);  // same seq: ties resolve as before
          break;
        case Undo::kModified:
          r->cookie = u.cookie;
          r->idle_timeout = u.idle_timeout;
          r->hard_timeout = u.hard_timeout;
          r->flags = u.flags;
          r->instructions = std::move(u.instructions);
          r->n_packets = u.n_packets;
          r->n_bytes = u.n_bytes;
          r->created = u.created;
          r->last_used = u.last_used;
          r->modified = u.modified;
          tables_.TrackTimeouts(r);
          break;
      }
    }
    log_.clear();
  }

 private:
  FlowTables& tables_;
  std::vector<Undo> log_;
};

FlowTables::FlowTables() {
  for (auto& t : tables_) t = std::make_unique<Table>();
}

FlowTables::~FlowTables() { Clear(); }

void FlowTables::Clear() {
  for (auto& t : tables_) {
    std::vector<Rule*> rules;
    t->cls.ForEach([&](ClsRule* r) { rules.push_back(static_cast<Rule*>(r)); });
    for (Rule* r : rules) RemoveRule(r);
  }
  ++generation_;
}

void FlowTables::InsertRule(Rule* rule) {
  ++rule->ref_count;  // the table's reference
  rule->installed = true;
  tables_[rule->table_id]->cls.Insert(rule);
  ++n_rules_;
  TrackTimeouts(rule);
}

RuleRef FlowTables::RemoveRule(Rule* rule) {
  tables_[rule->table_id]->cls.Remove(rule);
  rule->installed = false;
  --n_rules_;
  timed_rules_.erase(rule);
  RuleRef ref(rule);
  --rule->ref_count;  // hand the table's reference over to `ref`
  return ref;
}

void FlowTables::TrackTimeouts(Rule* rule) {
  if (rule->installed && (rule->idle_timeout || rule->hard_timeout)) {
    timed_rules_.insert(rule);
  } else {
    timed_rules_.erase(rule);
  }
}

OfResult FlowTables::Apply(const std::vector<ofp::FlowMod>& flow_mods, SteadyTime now,
                           std::vector<RemovedRule>* notify) {
  for (const ofp::FlowMod& fm : flow_mods) {
    if (auto r = ValidateFlowMod(fm); !r) return r;
  }
  Txn txn(*this);
  for (const ofp::FlowMod& fm : flow_mods) {
    if (auto r = ApplyOne(fm, now, txn); !r) {
      txn.Rollback();
      return r;
    }
  }
  if (txn.empty()) return {};
  ++generation_;
  if (notify) {
    for (const Undo& u : txn.log()) {
      if (u.kind == Undo::kRemoved && (u.rule->flags & ofp::kFlowFlagSendFlowRem)) {
        notify->push_back(RemovedRule{u.rule, ofp::kFlowRemovedDelete});
      }
    }
  }
  return {};
}

OfResult FlowTables::ApplyOne(const ofp::FlowMod& fm, SteadyTime now, Txn& txn) {
  switch (fm.command) {
    case ofp::FlowModCommand::kAdd:
      return Add(fm, now, txn);
    case ofp::FlowModCommand::kModify:
    case ofp::FlowModCommand::kModifyStrict:
      Modify(fm, now, txn);
      return {};
    case ofp::FlowModCommand::kDelete:
    case ofp::FlowModCommand::kDeleteStrict:
      Delete(fm, txn);
      return {};
  }
  return OfErr(kFlowModFailed, ofp::err::kFlowModBadCommand, "unknown flow-mod command");
}

OfResult FlowTables::Add(const ofp::FlowMod& fm, SteadyTime now, Txn& txn) {
  FlowKey key = ApplyMask(fm.match.key, fm.match.mask);
  Classifier& cls = tables_[fm.table_id]->cls;
  if (fm.flags & ofp::kFlowFlagCheckOverlap) {
    ClsRule probe;
    probe.key = key;
    probe.mask = fm.match.mask;
    probe.priority = fm.priority;
    if (cls.HasOverlap(probe)) {
      return OfErr(kFlowModFailed, ofp::err::kFlowModOverlap,
                   fmt::format("table {}: a rule of priority {} overlaps", fm.table_id,
                               fm.priority));
    }
  }
  if (auto* old = static_cast<Rule*>(cls.FindStrict(key, fm.match.mask, fm.priority))) {
    // Replace in place: the megaflows that hit the old rule keep feeding the
    // new one's counters, which OpenFlow wants carried over by default.
    txn.Modifying(old);
    old->cookie = fm.cookie;
    old->idle_timeout = fm.idle_timeout;
    old->hard_timeout = fm.hard_timeout;
    old->flags = fm.flags;
    old->instructions = fm.instructions;
    old->created = old->last_used = old->modified = now;
    if (fm.flags & ofp::kFlowFlagResetCounts) old->n_packets = old->n_bytes = 0;
    TrackTimeouts(old);
    return {};
  }
  auto* rule = new Rule;
  rule->key = key;
  rule->mask = fm.match.mask;
  rule->priority = fm.priority;
  rule->seq = next_seq_++;
  rule->table_id = fm.table_id;
  rule->cookie = fm.cookie;
  rule->idle_timeout = fm.idle_timeout;
  rule->hard_timeout = fm.hard_timeout;
  rule->flags = fm.flags;
  rule->instructions = fm.instructions;
  rule->created = rule->last_used = rule->modified = now;
  InsertRule(rule);
  txn.Inserted(rule);
  return {};
}

std::vector<Rule*> FlowTables::Select(uint8_t table_id, const ofp::Match& match, bool strict,
                                      uint16_t priority, uint64_t cookie, uint64_t cookie_mask,
                                      uint32_t out_port) const {
  std::vector<Rule*> out;
  FlowKey key = ApplyMask(match.key, match.mask);
  auto consider = [&](ClsRule* c) {
    auto* r = static_cast<Rule*>(c);
    if (CookieMatches(r->cookie, cookie, cookie_mask) && r->OutputsTo(out_port)) out.push_back(r);
  };
  uint8_t first = table_id == ofp::kTableAll ? 0 : table_id;
  uint8_t last = table_id == ofp::kTableAll ? ofp::kNumTables - 1 : table_id;
  for (int t = first; t <= last; ++t) {
    const Classifier& cls = tables_[t]->cls;
    if (cls.size() == 0) continue;
    if (strict) {
      // Every rule with this exact match and priority (normally one).
      for (ClsRule* c = cls.FindStrict(key, match.mask, priority); c; c = c->cls_next) {
        if (c->priority != priority) break;
        consider(c);
      }
    } else {
      cls.ForEachLoose(key, match.mask, consider);
    }
  }
  return out;
}

void FlowTables::Modify(const ofp::FlowMod& fm, SteadyTime now, Txn& txn) {
  bool strict = fm.command == ofp::FlowModCommand::kModifyStrict;
  for (Rule* r : Select(fm.table_id, fm.match, strict, fm.priority, fm.cookie, fm.cookie_mask,
                        ofp::kPortAny)) {
    txn.Modifying(r);
    r->instructions = fm.instructions;
    r->modified = now;
    if (fm.flags & ofp::kFlowFlagResetCounts) r->n_packets = r->n_bytes = 0;
  }
}

void FlowTables::Delete(const ofp::FlowMod& fm, Txn& txn) {
  bool strict = fm.command == ofp::FlowModCommand::kDeleteStrict;
  // out_group: hsw has no group actions, so a group filter matches no rule.
  if (fm.out_group != ofp::kGroupAny) return;
  for (Rule* r :
       Select(fm.table_id, fm.match, strict, fm.priority, fm.cookie, fm.cookie_mask, fm.out_port)) {
    txn.Removed(RemoveRule(r));
  }
}

Rule* FlowTables::Lookup(uint8_t table_id, const FlowKey& key, FlowKey* consulted, bool count) {
  Table& t = *tables_[table_id];
  auto* rule = static_cast<Rule*>(const_cast<ClsRule*>(t.cls.Lookup(key, consulted)));
  if (count) {
    ++t.lookup_count;
    if (rule) ++t.matched_count;
  }
  return rule;
}

void FlowTables::SortForDump(std::vector<Rule*>& rules) {
  // The sort compares keys copied next to the pointers: with 100k rules,
  // following each pointer into its rule on every comparison costs most of
  // the sort in cache misses.
  struct Keyed {
    uint64_t table_and_priority;  // table, then priority highest first
    uint64_t seq;
    Rule* rule;
  };
  std::vector<Keyed> keyed;
  keyed.reserve(rules.size());
  for (Rule* r : rules) {
    keyed.push_back({(uint64_t{r->table_id} << 32) | (0xffffffffu - r->priority), r->seq, r});
  }
  std::sort(keyed.begin(), keyed.end(), [](const Keyed& a, const Keyed& b) {
    if (a.table_and_priority != b.table_and_priority) {
      return a.table_and_priority < b.table_and_priority;
    }
    return a.seq < b.seq;
  });
  for (size_t i = 0; i < keyed.size(); ++i) rules[i] = keyed[i].rule;
}

std::vector<const Rule*> FlowTables::RulesInDumpOrder() const {
  std::vector<Rule*> rules =
      Select(ofp::kTableAll, ofp::Match{}, false, 0, 0, 0, ofp::kPortAny);
  SortForDump(rules);
  return {rules.begin(), rules.end()};
}

std::vector<ofp::FlowStats> FlowTables::Dump(const ofp::FlowStatsRequest& request,
                                             SteadyTime now) const {
  std::vector<ofp::FlowStats> out;
  if (request.out_group != ofp::kGroupAny) return out;
  std::vector<Rule*> rules = Select(request.table_id, request.match, false, 0, request.cookie,
                                    request.cookie_mask, request.out_port);
  SortForDump(rules);
  out.reserve(rules.size());
  for (const Rule* r : rules) {
    ofp::FlowStats s;
    s.table_id = r->table_id;
    ToDuration(r->created, now, &s.duration_sec, &s.duration_nsec);
    s.priority = static_cast<uint16_t>(r->priority);
    s.idle_timeout = r->idle_timeout;
    s.hard_timeout = r->hard_timeout;
    s.flags = r->flags;
    s.cookie = r->cookie;
    s.packet_count = r->n_packets;
    s.byte_count = r->n_bytes;
    s.match.key = r->key;
    s.match.mask = r->mask;
    s.instructions = r->instructions;
    out.push_back(std::move(s));
  }
  return out;
}

ofp::AggregateStats FlowTables::Aggregate(const ofp::FlowStatsRequest& request) const {
  ofp::AggregateStats agg;
  if (request.out_group != ofp::kGroupAny) return agg;
  for (const Rule* r : Select(request.table_id, request.match, false, 0, request.cookie,
                              request.cookie_mask, request.out_port)) {
    agg.packet_count += r->n_packets;
    agg.byte_count += r->n_bytes;
    ++agg.flow_count;
  }
  return agg;
}

std::vector<ofp::TableStats> FlowTables::TableStats() const {
  std::vector<ofp::TableStats> out;
  out.reserve(ofp::kNumTables);
  for (int t = 0; t < ofp::kNumTables; ++t) {
    ofp::TableStats s;
    s.table_id = static_cast<uint8_t>(t);
    s.active_count = static_cast<uint32_t>(tables_[t]->cls.size());
    s.lookup_count = tables_[t]->lookup_count;
    s.matched_count = tables_[t]->matched_count;
    out.push_back(s);
  }
  return out;
}

std::vector<RemovedRule> FlowTables::Expire(SteadyTime now) {
  std::vector<RemovedRule> out;
  std::vector<std::pair<Rule*, uint8_t>> due;
  for (Rule* r : timed_rules_) {
    if (r->hard_timeout && now >= r->created + std::chrono::seconds(r->hard_timeout)) {
      due.emplace_back(r, ofp::kFlowRemovedHardTimeout);
    } else if (r->idle_timeout && now >= r->last_used + std::chrono::seconds(r->idle_timeout)) {
      due.emplace_back(r, ofp::kFlowRemovedIdleTimeout);
    }
  }
  for (auto& [r, reason] : due) out.push_back(RemovedRule{RemoveRule(r), reason});
  if (!out.empty()) ++generation_;
  return out;
}

}  // namespace hsw::ofproto
