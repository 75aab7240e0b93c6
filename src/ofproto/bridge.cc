// Bridge: one OpenFlow switch's view (tables, ports, listeners).  The
// datapath side of everything (revalidation, stats, upcalls) is SwitchImpl's.
#include <algorithm>

#include "common/log.h"
#include "ofproto/switch_impl.h"
#include "packet/flow_extract.h"

namespace hsw::ofproto {
namespace {

static log::Module vlog("bridge");

tl::unexpected<ofp::OfpError> OfErr(uint16_t type, uint16_t code, std::string detail) {
  return tl::unexpected(ofp::MakeOfpError(type, code, std::move(detail)));
}

void ToDuration(SteadyTime since, SteadyTime now, uint32_t* sec, uint32_t* nsec) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - since).count();
  if (ns < 0) ns = 0;
  *sec = static_cast<uint32_t>(ns / 1000000000);
  *nsec = static_cast<uint32_t>(ns % 1000000000);
}

// Linux veths and most NICs we run on do not report a speed through
// AF_PACKET; OpenFlow wants one, so ports claim 10 Gb/s as OVS does for
// devices of unknown speed.
constexpr uint32_t kDefaultSpeedKbps = 10000000;

}  // namespace

BridgeImpl::BridgeImpl(SwitchImpl* sw, std::string name, uint64_t datapath_id, uint32_t id)
    : sw_(sw), name_(std::move(name)), datapath_id_(datapath_id), id_(id) {}

BridgeImpl::~BridgeImpl() = default;

OfResult BridgeImpl::FlowMod(const ofp::FlowMod& flow_mod) {
  return FlowModBatch(std::vector<ofp::FlowMod>{flow_mod});
}

OfResult BridgeImpl::FlowModBatch(const std::vector<ofp::FlowMod>& flow_mods) {
  std::vector<RemovedRule> removed;
  SteadyTime now = sw_->Now();
  uint64_t before = tables_.generation();
  if (auto r = tables_.Apply(flow_mods, now, &removed); !r) {
    vlog.Dbg("{}: flow-mod refused: {}", name_, r.error().detail);
    return r;
  }
  NotifyFlowRemoved(removed, now);
  if (tables_.generation() != before) {
    sw_->TablesCommitted(*this, flow_mods);
    sw_->TablesChanged();
  }
  return {};
}

std::vector<ofp::FlowMod> BridgeImpl::SnapshotFlowMods() const {
  std::vector<ofp::FlowMod> flow_mods;
  flow_mods.reserve(tables_.n_rules());
  ForEachFlowMod([&](const ofp::FlowMod& flow_mod) { flow_mods.push_back(flow_mod); });
  return flow_mods;
}

void BridgeImpl::ForEachFlowMod(const std::function<void(const ofp::FlowMod&)>& visit) const {
  // One FlowMod, refilled per rule: its instructions' vectors keep their
  // capacity, so no rule costs an allocation.
  ofp::FlowMod fm;
  fm.command = ofp::FlowModCommand::kAdd;
  for (const Rule* rule : tables_.RulesInDumpOrder()) {
    fm.table_id = rule->table_id;
    fm.priority = static_cast<uint16_t>(rule->priority);
    fm.cookie = rule->cookie;
    fm.idle_timeout = rule->idle_timeout;
    fm.hard_timeout = rule->hard_timeout;
    fm.flags = rule->flags;
    fm.match.key = rule->key;
    fm.match.mask = rule->mask;
    fm.instructions = rule->instructions;
    visit(fm);
  }
}

std::vector<ofp::FlowStats> BridgeImpl::DumpFlows(const ofp::FlowStatsRequest& request) const {
  sw_->RefreshStats();
  return tables_.Dump(request, sw_->Now());
}

ofp::AggregateStats BridgeImpl::Aggregate(const ofp::FlowStatsRequest& request) const {
  sw_->RefreshStats();
  return tables_.Aggregate(request);
}

std::vector<ofp::TableStats> BridgeImpl::GetTableStats() const { return tables_.TableStats(); }

XlateBridge BridgeImpl::xlate_bridge() {
  return XlateBridge{id_, &tables_, &of_to_dp_, &macs_, sw_};
}

ofp::PortDesc BridgeImpl::MakePortDesc(uint32_t ofport, const Port& port) const {
  ofp::PortDesc d;
  d.port_no = ofport;
  std::copy(std::begin(port.info.hw_addr), std::end(port.info.hw_addr), d.hw_addr);
  d.name = port.name;
  bool live = port.is_patch() ? sw_->PatchLinkUp(*this, port) : port.info.link_up;
  d.state = live ? ofp::kPortStateLive : ofp::kPortStateLinkDown;
  d.curr_speed = d.max_speed = kDefaultSpeedKbps;
  return d;
}

std::vector<ofp::PortDesc> BridgeImpl::GetPortDescs() const {
  std::map<uint32_t, dpif::PortInfo> fresh;
  if (auto list = sw_->ListDpPorts()) {
    for (auto& info : *list) fresh[info.port_no] = info;
  }
  std::vector<ofp::PortDesc> out;
  for (const auto& [ofport, port] : ports_) {
    Port p = port;
    auto it = port.is_patch() ? fresh.end() : fresh.find(port.dp_port);
    if (it != fresh.end()) p.info = it->second;
    out.push_back(MakePortDesc(ofport, p));
  }
  return out;
}

std::vector<ofp::PortStats> BridgeImpl::GetPortStats(uint32_t port_no) const {
  std::map<uint32_t, dpif::PortInfo> fresh;
  if (auto list = sw_->ListDpPorts()) {
    for (auto& info : *list) fresh[info.port_no] = info;
  }
  // Patch ports count what crossed them, which the flows' stats say.
  for (const auto& [ofport, port] : ports_) {
    if (port.is_patch()) {
      sw_->RefreshStats();
      break;
    }
  }
  SteadyTime now = sw_->Now();
  std::vector<ofp::PortStats> out;
  for (const auto& [ofport, port] : ports_) {
    if (port_no != ofp::kPortAny && port_no != ofport) continue;
    ofp::PortStats s;
    s.port_no = ofport;
    auto it = port.is_patch() ? fresh.end() : fresh.find(port.dp_port);
    const dpif::PortStats& d = port.is_patch()       ? port.patch_stats
                               : it != fresh.end() ? it->second.stats
                                                   : port.info.stats;
    s.rx_packets = d.rx_packets;
    s.tx_packets = d.tx_packets;
    s.rx_bytes = d.rx_bytes;
    s.tx_bytes = d.tx_bytes;
    s.rx_dropped = d.rx_dropped;
    s.tx_dropped = d.tx_dropped;
    s.rx_errors = d.rx_errors;
    s.tx_errors = d.tx_errors;
    ToDuration(port.added, now, &s.duration_sec, &s.duration_nsec);
    out.push_back(s);
  }
  return out;
}

OfResult BridgeImpl::PacketOut(const ofp::PacketOut& po) {
  if (po.buffer_id != ofp::kNoBuffer) {
    return OfErr(ofp::err::kBadRequest, ofp::err::kBadRequestBufferUnknown,
                 fmt::format("buffer {} unknown (hsw does not buffer packets)", po.buffer_id));
  }
  if (po.data.empty()) {
    return OfErr(ofp::err::kBadRequest, ofp::err::kBadRequestBadPacket,
                 "packet-out carries no packet");
  }
  if (auto r = ValidateActions(po.actions, nullptr, true); !r) return r;
  uint32_t dp_in = 0;
  if (auto it = of_to_dp_.find(po.in_port); it != of_to_dp_.end()) {
    dp_in = it->second;
  } else if (po.in_port != ofp::kPortController && po.in_port != ofp::kPortLocal &&
             po.in_port != ofp::kPortAny) {
    return OfErr(ofp::err::kBadRequest, ofp::err::kBadRequestBadPort,
                 fmt::format("packet-out in_port {} is not a port of bridge {}", po.in_port,
                             name_));
  }
  XlateRequest req;
  ExtractFlow(po.data.data(), po.data.size(), dp_in, &req.key);
  req.key.in_port = po.in_port;
  req.actions = &po.actions;
  XlateResult xr;
  Translate(xlate_bridge(), req, &xr);
  if (xr.actions.empty()) return {};
  dpif::Execute exec;
  exec.in_port = dp_in;
  exec.packet = po.data;
  exec.actions = std::move(xr.actions);
  if (auto r = sw_->ExecutePacket(std::move(exec)); !r) {
    return OfErr(ofp::err::kBadRequest, ofp::err::kBadRequestEperm,
                 fmt::format("packet-out on bridge {}: {}", name_, r.error().ToString()));
  }
  return {};
}

std::vector<PortView> BridgeImpl::ListPorts() const {
  std::vector<PortView> out;
  for (const auto& [ofport, port] : ports_) out.push_back(PortView{port.name, ofport, port.dp_port});
  return out;
}

std::optional<uint32_t> BridgeImpl::FindOfport(const std::string& iface) const {
  for (const auto& [ofport, port] : ports_) {
    if (port.name == iface) return ofport;
  }
  return std::nullopt;
}

void BridgeImpl::AddListener(BridgeListener* listener) {
  if (std::find(listeners_.begin(), listeners_.end(), listener) == listeners_.end()) {
    listeners_.push_back(listener);
  }
}

void BridgeImpl::RemoveListener(BridgeListener* listener) {
  listeners_.erase(std::remove(listeners_.begin(), listeners_.end(), listener), listeners_.end());
}

std::string BridgeImpl::Trace(const FlowKey& key) {
  XlateRequest req;
  req.key = key;
  req.count_stats = false;
  req.trace = true;
  XlateResult xr;
  Translate(xlate_bridge(), req, &xr);
  return fmt::format("bridge {}: {}\n{}", name_, FormatDpKey(key), xr.trace);
}

void BridgeImpl::RebuildPortMap() {
  of_to_dp_.clear();
  for (const auto& [ofport, port] : ports_) of_to_dp_[ofport] = port.dp_port;
}

void BridgeImpl::NotifyFlowRemoved(const std::vector<RemovedRule>& removed, SteadyTime now) {
  for (const RemovedRule& rr : removed) {
    const Rule& r = *rr.rule;
    if (!(r.flags & ofp::kFlowFlagSendFlowRem)) continue;
    ofp::FlowRemoved fr;
    fr.cookie = r.cookie;
    fr.priority = static_cast<uint16_t>(r.priority);
    fr.reason = rr.reason;
    fr.table_id = r.table_id;
    ToDuration(r.created, now, &fr.duration_sec, &fr.duration_nsec);
    fr.idle_timeout = r.idle_timeout;
    fr.hard_timeout = r.hard_timeout;
    fr.packet_count = r.n_packets;
    fr.byte_count = r.n_bytes;
    fr.match.key = r.key;
    fr.match.mask = r.mask;
    // A copy: a listener may remove itself from inside the callback.
    for (BridgeListener* l : std::vector<BridgeListener*>(listeners_)) l->OnFlowRemoved(fr);
  }
}

void BridgeImpl::NotifyPacketIn(const ofp::PacketIn& packet_in) {
  for (BridgeListener* l : std::vector<BridgeListener*>(listeners_)) l->OnPacketIn(packet_in);
}

void BridgeImpl::NotifyPortStatus(uint8_t reason, const ofp::PortDesc& desc) {
  ofp::PortStatus status;
  status.reason = reason;
  status.desc = desc;
  for (BridgeListener* l : std::vector<BridgeListener*>(listeners_)) l->OnPortStatus(status);
}

}  // namespace hsw::ofproto
