#include "ofproto/xlate.h"

#include <cstring>
#include <map>
#include <variant>

#include <fmt/format.h>

#include "openflow/flow_text.h"
#include "packet/flow_field.h"

namespace hsw::ofproto {
namespace {

constexpr uint8_t kUserdataMagic = 0x48;  // 'H'
constexpr uint8_t kUserdataVersion = 1;
constexpr size_t kUserdataSize = 32;

// dst |= src & ~except
void OrIntoExcept(FlowKey& dst, const FlowKey& src, const FlowKey& except) {
  for (size_t i = 0; i < FlowKey::kWords; ++i) {
    SetKeyWord(dst, i, KeyWord(dst, i) | (KeyWord(src, i) & ~KeyWord(except, i)));
  }
}

bool IsIp(const FlowKey& key) {
  return key.eth_type == kEthTypeIpv4 || key.eth_type == kEthTypeIpv6;
}

// The OpenFlow 1.3 action set: at most one action of each kind, run in the
// spec's order at the end of the pipeline.
struct ActionSet {
  bool pop_vlan = false;
  std::optional<ofp::ActPushVlan> push_vlan;
  bool dec_ttl = false;
  std::map<FieldId, ofp::ActSetField> set_fields;
  std::optional<ofp::ActOutput> output;

  void Clear() { *this = ActionSet(); }
  void Write(const ofp::Actions& actions) {
    for (const ofp::Action& a : actions) {
      if (auto* out = std::get_if<ofp::ActOutput>(&a)) {
        output = *out;
      } else if (auto* set = std::get_if<ofp::ActSetField>(&a)) {
        set_fields[set->field] = *set;
      } else if (auto* push = std::get_if<ofp::ActPushVlan>(&a)) {
        push_vlan = *push;
      } else if (std::holds_alternative<ofp::ActPopVlan>(a)) {
        pop_vlan = true;
      } else if (std::holds_alternative<ofp::ActDecNwTtl>(a)) {
        dec_ttl = true;
      }
    }
  }
  ofp::Actions ToActions() const {
    ofp::Actions out;
    if (pop_vlan) out.push_back(ofp::ActPopVlan{});
    if (push_vlan) out.push_back(*push_vlan);
    if (dec_ttl) out.push_back(ofp::ActDecNwTtl{});
    for (const auto& [id, set] : set_fields) out.push_back(set);
    if (output) out.push_back(*output);
    return out;
  }
};

class Xlator {
 public:
  Xlator(const XlateBridge& bridge, const XlateRequest& request, XlateResult* result)
      : bridge_(&bridge), request_(request), result_(*result), flow_(request.key) {
    flow_.metadata = 0;
    consulted_ = FlowKey::Zero();
    pending_ = FlowKey::Zero();
    overwritten_ = FlowKey::Zero();
  }

  void Run() {
    if (request_.actions) {
      if (tracing()) Trace("packet-out actions: {}", ofp::FormatActions(*request_.actions));
      DoActions(*request_.actions, /*table_id=*/0xff, /*cookie=*/~0ull);
    } else {
      RunPipeline(0);
    }
    Finish();
  }

 private:
  // Callers test tracing() first when the arguments cost anything to build:
  // translation runs once per upcall and must not format text for nobody.
  bool tracing() const { return request_.trace; }
  template <class... Args>
  void Trace(fmt::format_string<Args...> f, Args&&... args) {
    if (!request_.trace) return;
    result_.trace += fmt::format(f, std::forward<Args>(args)...);
    result_.trace += '\n';
  }

  // Bits of the packet consulted now, unless actions already replaced them.
  void Consult(const FlowKey& mask) { OrIntoExcept(consulted_, mask, overwritten_); }
  void ConsultField(FieldId id) {
    FlowKey m = FlowKey::Zero();
    SetFieldMask(m, id);
    Consult(m);
  }
  void Overwrite(FieldId id) {
    SetFieldMask(pending_, id);
    SetFieldMask(overwritten_, id);
  }

  void RunPipeline(uint8_t table_id) {
    ActionSet action_set;
    while (true) {
      FlowKey looked = FlowKey::Zero();
      Rule* rule = bridge_->tables->Lookup(table_id, flow_, &looked, request_.count_stats);
      Consult(looked);
      if (!rule) {
        Trace("table {}: no match -> drop", table_id);
        return;
      }
      result_.rules.emplace_back(rule);
      const ofp::Instructions& ins = rule->instructions;
      if (tracing()) {
        std::string match = ofp::FormatMatch(ofp::Match{rule->key, rule->mask});
        Trace("table {}: priority {} {} -> actions={}", table_id, rule->priority,
              match.empty() ? "(any)" : match, ofp::FormatInstructions(ins));
      }
      // OpenFlow 1.3: packets sent up by the table-miss entry (priority 0,
      // empty match) are reported as "no match"; controllers rely on it.
      table_miss_entry_ = rule->priority == 0 && IsZero(rule->mask);
      DoActions(ins.apply, table_id, rule->cookie);
      if (stopped_) return;
      if (ins.clear_actions) action_set.Clear();
      if (ins.write_actions) action_set.Write(*ins.write_actions);
      if (ins.write_metadata) {
        flow_.metadata = (flow_.metadata & ~ins.write_metadata->mask) |
                         (ins.write_metadata->value & ins.write_metadata->mask);
      }
      if (ins.goto_table && *ins.goto_table > table_id && *ins.goto_table < ofp::kNumTables) {
        table_id = *ins.goto_table;
        continue;
      }
      ofp::Actions set = action_set.ToActions();
      if (!set.empty()) {
        if (tracing()) Trace("action set: {}", ofp::FormatActions(set));
        DoActions(set, table_id, rule->cookie);
      }
      return;
    }
  }

  void DoActions(const ofp::Actions& actions, uint8_t table_id, uint64_t cookie) {
    for (const ofp::Action& a : actions) {
      if (stopped_) return;
      std::visit([&](const auto& act) { Do(act, table_id, cookie); }, a);
    }
  }

  void Do(const ofp::ActOutput& out, uint8_t table_id, uint64_t cookie) {
    uint32_t in = flow_.in_port;
    switch (out.port) {
      case ofp::kPortInPort:
        OutputOf(in);
        break;
      case ofp::kPortAll:
      case ofp::kPortFlood:
        Flood(in);
        break;
      case ofp::kPortNormal:
        Normal(in);
        break;
      case ofp::kPortController: {
        Commit();
        ControllerUserdata ud;
        ud.bridge_id = bridge_->bridge_id;
        ud.in_port = in;
        ud.table_id = table_id;
        ud.reason = table_miss_entry_ ? ofp::kPacketInReasonNoMatch : ofp::kPacketInReasonAction;
        ud.max_len = out.max_len;
        ud.cookie = cookie;
        ud.metadata = flow_.metadata;
        result_.actions.push_back(DpUserspace{EncodeControllerUserdata(ud)});
        break;
      }
      case ofp::kPortTable:
        if (request_.actions && !in_table_port_) {
          in_table_port_ = true;
          RunPipeline(0);
          in_table_port_ = false;
        }
        break;
      case ofp::kPortLocal:
        // The bridge's own port (an internal port named as the bridge) is
        // in the port map under this number, when the bridge has one.
        if (in == ofp::kPortLocal) {
          Trace("output:LOCAL skipped (the input port; use IN_PORT)");
        } else {
          OutputOf(ofp::kPortLocal);
        }
        break;
      case ofp::kPortAny:
        break;
      default:
        if (out.port == in) {
          Trace("output:{} skipped (the input port; use IN_PORT)", out.port);
        } else {
          OutputOf(out.port);
        }
        break;
    }
  }

  void Do(const ofp::ActSetField& set, uint8_t, uint64_t) {
    const FieldInfo& info = GetFieldInfo(set.field);
    if (set.field == FieldId::kVlanVid || set.field == FieldId::kVlanPcp) {
      // Only rewrites an existing tag (push_vlan adds one).
      FlowKey cfi = FlowKey::Zero();
      cfi.vlan_tci = kVlanCfi;
      Consult(cfi);
      if (!(flow_.vlan_tci & kVlanCfi)) return;
      if (set.field == FieldId::kVlanVid) {
        FieldValue v = FieldValue::FromUint(set.value.ToUint() | kVlanCfi, 2);
        WriteField(flow_, set.field, v);
      } else {
        WriteField(flow_, set.field, set.value);
      }
      Overwrite(set.field);
      return;
    }
    // Prerequisites: eth_type is always in the megaflow; nw_proto joins it.
    if (info.prereq_eth_type && flow_.eth_type != info.prereq_eth_type &&
        (!info.prereq_eth_type2 || flow_.eth_type != info.prereq_eth_type2)) {
      return;
    }
    if (info.prereq_nw_proto >= 0) {
      l4_ = true;
      if (flow_.nw_proto != info.prereq_nw_proto) return;
    }
    WriteField(flow_, set.field, set.value);
    Overwrite(set.field);
  }

  void Do(const ofp::ActPushVlan& push, uint8_t, uint64_t) {
    Commit();
    // OpenFlow 1.3: the new tag copies VID and PCP from an existing tag.
    FlowKey tci = FlowKey::Zero();
    tci.vlan_tci = kVlanCfi;
    Consult(tci);
    uint16_t new_tci = 0;
    if (flow_.vlan_tci & kVlanCfi) {
      tci.vlan_tci = 0xffff;
      Consult(tci);
      new_tci = flow_.vlan_tci & static_cast<uint16_t>(~kVlanCfi);
    }
    result_.actions.push_back(DpPushVlan{push.ethertype, new_tci});
    flow_.vlan_tci = new_tci | kVlanCfi;
    overwritten_.vlan_tci = 0xffff;
    pending_.vlan_tci = 0;
  }

  void Do(const ofp::ActPopVlan&, uint8_t, uint64_t) {
    FlowKey cfi = FlowKey::Zero();
    cfi.vlan_tci = kVlanCfi;
    Consult(cfi);
    if (!(flow_.vlan_tci & kVlanCfi)) return;
    Commit();
    result_.actions.push_back(DpPopVlan{});
    flow_.vlan_tci = 0;
    overwritten_.vlan_tci = 0xffff;
    pending_.vlan_tci = 0;
  }

  void Do(const ofp::ActDecNwTtl&, uint8_t, uint64_t) {
    if (!IsIp(flow_)) return;
    FlowKey ttl = FlowKey::Zero();
    ttl.nw_ttl = 0xff;
    Consult(ttl);
    if (flow_.nw_ttl <= 1) {
      Trace("dec_ttl: ttl {} expired -> drop", flow_.nw_ttl);
      result_.ttl_expired = true;
      stopped_ = true;
      return;
    }
    --flow_.nw_ttl;
    pending_.nw_ttl = 0xff;
    overwritten_.nw_ttl = 0xff;
  }

  void Flood(uint32_t in) {
    // A copy: crossing a patch port moves bridge_ for the time being.
    const std::map<uint32_t, uint32_t>* ports = bridge_->ports;
    for (const auto& [ofport, dp_port] : *ports) {
      if (ofport == in) continue;
      if (dp_port == kPatchDpPort) {
        Patch(ofport);
      } else {
        OutputDp(dp_port);
      }
      if (stopped_) return;
    }
  }

  // Output to a patch port: the packet goes nowhere; translation goes on in
  // the peer's bridge, from its table 0, with in_port the peer port, as if
  // the packet had arrived there (Open vSwitch's patch ports do the same).
  // Header changes made so far go along; metadata does not, and the action
  // set of this bridge stays here.  Afterwards this bridge's view of the
  // packet is put back (changes made over there are undone with set actions
  // before the next output, except VLAN pushes and pops).
  void Patch(uint32_t ofport) {
    std::optional<XlatePatchPeer> peer;
    if (bridge_->patches) peer = bridge_->patches->PatchPeer(bridge_->bridge_id, ofport);
    if (!peer) {
      Trace("output:{} dropped (a patch port whose peer is missing or not its peer)", ofport);
      return;
    }
    if (depth_ >= kMaxXlateDepth) {
      Trace("output:{}: over {} patch crossings -> the packet is dropped", ofport,
            kMaxXlateDepth);
      result_.too_deep = true;
      stopped_ = true;
      return;
    }
    result_.crossings.push_back(
        PatchCrossing{bridge_->bridge_id, ofport, peer->bridge.bridge_id, peer->ofport});
    if (tracing()) {
      Trace("output:{} is a patch port: continuing in bridge {} at port {}", ofport,
            peer->bridge.bridge_id, peer->ofport);
    }
    const XlateBridge* saved_bridge = bridge_;
    const FlowKey saved_flow = flow_;
    const FlowKey saved_overwritten = overwritten_;
    const bool saved_miss = table_miss_entry_;
    const bool saved_in_table = in_table_port_;
    ++depth_;
    bridge_ = &peer->bridge;
    flow_.in_port = peer->ofport;
    flow_.metadata = 0;
    in_table_port_ = true;  // output:TABLE belongs to the packet-out's own bridge
    RunPipeline(0);
    --depth_;
    bridge_ = saved_bridge;
    table_miss_entry_ = saved_miss;
    in_table_port_ = saved_in_table;
    if (result_.too_deep) return;  // stopped_ stays: everything is dropped
    stopped_ = false;  // a ttl that expired over there ends that branch only
    // Put back what the peer changed.  A restoring write of a bit that still
    // held the packet's own value depends on that bit: consult it.
    FlowKey restore = FlowKey::Zero();
    for (size_t i = 0; i < FlowKey::kWords; ++i) {
      SetKeyWord(restore, i, KeyWord(flow_, i) ^ KeyWord(saved_flow, i));
    }
    restore.in_port = 0;
    restore.metadata = 0;
    restore.vlan_tci = 0;
    uint16_t vlan_tci = flow_.vlan_tci;
    uint16_t vlan_overwritten = overwritten_.vlan_tci;
    flow_ = saved_flow;
    flow_.vlan_tci = vlan_tci;
    overwritten_ = saved_overwritten;
    overwritten_.vlan_tci = vlan_overwritten;
    Consult(restore);
    for (size_t i = 0; i < FlowKey::kWords; ++i) {
      SetKeyWord(pending_, i, KeyWord(pending_, i) | KeyWord(restore, i));
    }
  }

  void Normal(uint32_t in) {
    if (!bridge_->macs) {
      Flood(in);
      return;
    }
    FlowKey l2 = FlowKey::Zero();
    SetFieldMask(l2, FieldId::kEthSrc);
    SetFieldMask(l2, FieldId::kEthDst);
    l2.vlan_tci = kVlanCfi | kVlanVidMask;
    Consult(l2);
    uint16_t vlan = flow_.vlan_tci & kVlanVidMask;
    if (request_.may_learn) bridge_->macs->Learn(flow_.eth_src, vlan, in, request_.now);
    if (IsMulticastMac(flow_.eth_dst)) {
      Flood(in);
      return;
    }
    auto port = bridge_->macs->Lookup(flow_.eth_dst, vlan);
    if (!port) {
      if (tracing()) Trace("NORMAL: destination unknown -> flood");
      Flood(in);
    } else if (*port != in) {
      if (tracing()) Trace("NORMAL: destination learned on port {}", *port);
      OutputOf(*port);
    }
  }

  void OutputOf(uint32_t ofport) {
    auto it = bridge_->ports->find(ofport);
    if (it == bridge_->ports->end()) {
      Trace("output:{} skipped (no such port)", ofport);
      return;
    }
    if (it->second == kPatchDpPort) {
      Patch(ofport);
      return;
    }
    OutputDp(it->second);
  }

  void OutputDp(uint32_t dp_port) {
    Commit();
    result_.actions.push_back(DpOutput{dp_port});
  }

  // Emits the header rewrites made since the last output, so that the next
  // output sees them.  Every written field is set whatever the packet's
  // original value: skipping "no-op" writes would make the actions depend on
  // bits the megaflow does not cover.
  void Commit() {
    if (IsZero(pending_)) return;
    if (pending_.tp_src || pending_.tp_dst) l4_ = true;
    result_.actions.push_back(DpSetMasked{ApplyMask(flow_, pending_), pending_});
    pending_ = FlowKey::Zero();
  }

  void Finish() {
    if (result_.too_deep) result_.actions.clear();
    FlowKey& m = result_.mask;
    m = consulted_;
    m.in_port = 0xffffffff;
    m.eth_type = 0xffff;
    m.metadata = 0;
    if (m.tp_src || m.tp_dst || m.tcp_flags) l4_ = true;
    if (l4_ && IsIp(request_.key)) {
      m.nw_proto = 0xff;
      m.nw_frag = 0xff;
    }
    if (tracing()) {
      Trace("Datapath actions: {}", FormatDpActions(result_.actions));
      Trace("Megaflow: {}", FormatDpKey(ApplyMask(request_.key, m), &m));
    }
  }

  const XlateBridge* bridge_;  // the bridge whose tables run now (patch ports move it)
  const XlateRequest& request_;
  XlateResult& result_;
  FlowKey flow_;         // the packet as the pipeline sees it now
  FlowKey consulted_;    // bits of the original packet that decisions read
  FlowKey pending_;      // bits written since the last Commit()
  FlowKey overwritten_;  // bits actions replaced with constants
  bool l4_ = false;
  bool stopped_ = false;
  bool table_miss_entry_ = false;  // the rule being executed is a table-miss entry
  bool in_table_port_ = false;
  int depth_ = 0;
};

void PutU16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
void PutU32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
void PutU64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
template <class T>
T Get(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

void Translate(const XlateBridge& bridge, const XlateRequest& request, XlateResult* result) {
  *result = XlateResult();
  Xlator(bridge, request, result).Run();
}

// Host byte order: the userdata only travels to the datapath on this machine
// and back to this process (or its successor on the same machine).
std::vector<uint8_t> EncodeControllerUserdata(const ControllerUserdata& ud) {
  std::vector<uint8_t> out(kUserdataSize, 0);
  uint8_t* p = out.data();
  p[0] = kUserdataMagic;
  p[1] = kUserdataVersion;
  p[2] = ud.table_id;
  p[3] = ud.reason;
  PutU16(p + 4, ud.max_len);
  PutU32(p + 8, ud.bridge_id);
  PutU32(p + 12, ud.in_port);
  PutU64(p + 16, ud.cookie);
  PutU64(p + 24, ud.metadata);
  return out;
}

std::optional<ControllerUserdata> DecodeControllerUserdata(std::span<const uint8_t> bytes) {
  if (bytes.size() != kUserdataSize || bytes[0] != kUserdataMagic ||
      bytes[1] != kUserdataVersion) {
    return std::nullopt;
  }
  const uint8_t* p = bytes.data();
  ControllerUserdata ud;
  ud.table_id = p[2];
  ud.reason = p[3];
  ud.max_len = Get<uint16_t>(p + 4);
  ud.bridge_id = Get<uint32_t>(p + 8);
  ud.in_port = Get<uint32_t>(p + 12);
  ud.cookie = Get<uint64_t>(p + 16);
  ud.metadata = Get<uint64_t>(p + 24);
  return ud;
}

}  // namespace hsw::ofproto
