// SwitchImpl: upcall handling, megaflow installation, revalidation, stats and
// timeouts.  See switch_impl.h for the ukey model.
#include <net/if.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <functional>

#include "common/fd.h"
#include "common/log.h"
#include "ofproto/switch_impl.h"

namespace hsw::ofproto {
namespace {

static log::Module vlog("ofproto");

// Flow dumps for stats requests are skipped if the last one is this recent.
constexpr auto kStatsFreshness = std::chrono::milliseconds(100);

// Shortest time between two revalidation passes triggered by table changes.
constexpr auto kMinRevalidationSpacing = std::chrono::milliseconds(10);

int64_t MonotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A Linux interface's flags (IFF_UP...), or nullopt if there is none here.
std::optional<short> InterfaceFlags(const std::string& name) {
  if (name.size() >= IFNAMSIZ) return std::nullopt;
  UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) return std::nullopt;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (ioctl(sock.get(), SIOCGIFFLAGS, &ifr) < 0) return std::nullopt;
  return ifr.ifr_flags;
}

uint64_t Mix(uint64_t h, uint64_t w) {
  h ^= w * 0x9e3779b97f4a7c15ull;
  h = (h << 31) | (h >> 33);
  return h * 0xff51afd7ed558ccdull;
}

}  // namespace

size_t SwitchImpl::UkeyIdHash::operator()(const UkeyId& id) const {
  uint64_t h = 0x1234567;
  for (size_t i = 0; i < FlowKey::kWords; ++i) {
    h = Mix(h, KeyWord(id.key, i));
    h = Mix(h, KeyWord(id.mask, i));
  }
  return static_cast<size_t>(h ^ (h >> 29));
}

Result<std::unique_ptr<Switch>> Switch::Create(EventLoop& loop, std::unique_ptr<dpif::Dpif> dpif,
                                               SwitchOptions options) {
  if (!dpif) return Err("ofproto: no datapath");
  auto sw = std::make_unique<SwitchImpl>(loop, std::move(dpif), options);
  HSW_TRY(sw->Init());
  return std::unique_ptr<Switch>(std::move(sw));
}

SwitchImpl::SwitchImpl(EventLoop& loop, std::unique_ptr<dpif::Dpif> dpif, SwitchOptions options)
    : loop_(loop), dpif_(std::move(dpif)), datapath_hello_(dpif_->hello()), options_(options) {
  if (options_.upcall_batch == 0) options_.upcall_batch = 64;
}

SwitchImpl::~SwitchImpl() {
  *alive_ = false;
  if (periodic_timer_) loop_.CancelTimer(periodic_timer_);
  if (watched_fd_ >= 0) loop_.Remove(watched_fd_);
  // Ukeys hold references to rules; the bridges' tables release theirs.
  ukeys_.clear();
  bridges_.clear();
}

Status SwitchImpl::Init() {
  auto flows = dpif_->FlowDump();
  if (!flows) {
    return Err("ofproto: cannot dump the datapath's flows: {}", flows.error().ToString());
  }
  for (const dpif::DpFlow& flow : *flows) AdoptFlow(flow);
  adoption_pending_ = !ukeys_.empty();
  if (adoption_pending_) {
    vlog.Info("adopted {} datapath flows; they stay untouched until the tables are loaded",
              ukeys_.size());
  }

  HSW_TRY(WatchUpcallFd());
  if (options_.stats_interval.count() > 0) {
    std::weak_ptr<bool> alive = alive_;
    periodic_timer_ = loop_.AddTimer(
        options_.stats_interval,
        [this, alive] {
          if (alive.lock() && *alive.lock()) Periodic();
        },
        /*repeat=*/true);
  }
  KickUpcalls();
  return Ok();
}

Status SwitchImpl::WatchUpcallFd() {
  int fd = dpif_->upcall_fd();
  if (fd < 0) return Ok();
  std::weak_ptr<bool> alive = alive_;
  // While the tables are not loaded the fd is registered but not watched
  // (SetTablesLoaded turns it on).
  HSW_TRY(loop_.Add(fd, tables_loaded_ ? uint32_t{EPOLLIN} : 0u, [this, alive](uint32_t) {
    if (alive.lock() && *alive.lock()) HandleUpcalls();
  }));
  watched_fd_ = fd;
  return Ok();
}

// --- bridges and ports ---

Status SwitchImpl::AddBridge(const std::string& name, uint64_t datapath_id) {
  if (name.empty()) return Err("bridge name is empty");
  if (bridges_.count(name)) return Err("bridge {} already exists", name);
  if (datapath_id == 0) {
    // A stable id per name (48 bits, as OVS derives it from a MAC address).
    datapath_id = std::hash<std::string>{}(name) & 0xffffffffffffull;
    if (datapath_id == 0) datapath_id = 1;
  }
  uint32_t id = next_bridge_id_++;
  auto bridge = std::make_unique<BridgeImpl>(this, name, datapath_id, id);
  bridges_by_id_[id] = bridge.get();
  bridges_[name] = std::move(bridge);
  vlog.Info("bridge {} added (datapath id {:016x})", name, datapath_id);
  return Ok();
}

Status SwitchImpl::DeleteBridge(const std::string& name) {
  auto it = bridges_.find(name);
  if (it == bridges_.end()) return Err("bridge {} does not exist", name);
  BridgeImpl* br = it->second.get();
  bool had_patch = false;
  for (const auto& [ofport, port] : br->ports()) {
    if (port.is_patch()) {
      had_patch = true;
      continue;
    }
    if (connected_) {
      if (auto r = dpif_->PortDel(port.dp_port); !r) {
        vlog.Warn("bridge {}: removing interface {} from the datapath: {}", name, port.name,
                  r.error().ToString());
      }
    } else {
      ports_deleted_while_lost_.push_back(port.name);
    }
    dp_ports_.erase(port.dp_port);
  }
  bridges_by_id_.erase(br->id());
  bridges_.erase(it);
  vlog.Info("bridge {} deleted", name);
  if (had_patch) PatchLinksChanged();
  Revalidate(false);
  KickUpcalls();
  return Ok();
}

Bridge* SwitchImpl::FindBridge(const std::string& name) {
  auto it = bridges_.find(name);
  return it == bridges_.end() ? nullptr : it->second.get();
}

std::vector<std::string> SwitchImpl::BridgeNames() const {
  std::vector<std::string> out;
  for (const auto& [name, br] : bridges_) out.push_back(name);
  return out;
}

BridgeImpl* SwitchImpl::BridgeById(uint32_t id) {
  auto it = bridges_by_id_.find(id);
  return it == bridges_by_id_.end() ? nullptr : it->second;
}

Result<std::vector<dpif::PortInfo>> SwitchImpl::ListDpPorts() {
  if (!connected_) return Err("datapath connection lost");
  auto list = dpif_->PortList();
  KickUpcalls();
  return list;
}

Result<uint32_t> SwitchImpl::AddPort(const std::string& bridge, const std::string& iface,
                                     uint32_t ofport) {
  return AddPort(bridge, PortSpec{iface, "system", ofport, ""});
}

namespace {

// The datapath's type for a port type ("system" ports are AF_PACKET).
const char* DpType(const std::string& type) {
  return type == "internal" ? "internal" : "af_packet";
}

// OVSDB writes LOCAL as its OpenFlow 1.0 number.
constexpr uint32_t kOvsdbLocal = 65534;

}  // namespace

Result<uint32_t> SwitchImpl::AddPort(const std::string& bridge, const PortSpec& spec) {
  const std::string& iface = spec.name;
  auto it = bridges_.find(bridge);
  if (it == bridges_.end()) return Err("bridge {} does not exist (adding interface {})", bridge, iface);
  BridgeImpl* br = it->second.get();
  if (iface.empty()) return Err("bridge {}: empty interface name", bridge);
  const std::string type = spec.type.empty() ? "system" : spec.type;
  if (type != "system" && type != "internal" && type != "patch") {
    return Err("bridge {}: interface {}: unsupported type '{}' (supported: system, internal, patch)",
               bridge, iface, spec.type);
  }
  if (type == "patch") {
    if (spec.peer.empty()) return Err("bridge {}: patch port {} needs a peer", bridge, iface);
    if (spec.peer == iface) {
      return Err("bridge {}: patch port {} cannot be its own peer", bridge, iface);
    }
  } else if (!spec.peer.empty()) {
    return Err("bridge {}: interface {}: a peer is for patch ports only (type is {})", bridge,
               iface, type);
  }
  for (const auto& [name, other] : bridges_) {
    if (other->FindOfport(iface)) {
      return Err("bridge {}: interface {} is already a port of bridge {}", bridge, iface, name);
    }
  }
  auto& ports = br->ports();
  uint32_t ofport = spec.ofport;
  // An internal port named as its bridge is the bridge's own (LOCAL) port,
  // as `ovs-vsctl add-br` makes it.
  const bool local = type == "internal" && iface == bridge;
  if (local) {
    if (ofport != 0 && ofport != ofp::kPortLocal && ofport != kOvsdbLocal) {
      return Err("bridge {}: interface {} is the bridge's LOCAL port; it cannot be OpenFlow port {}",
                 bridge, iface, ofport);
    }
    ofport = ofp::kPortLocal;
    if (ports.count(ofport)) {
      return Err("bridge {}: the LOCAL port is already {} (adding {})", bridge,
                 ports[ofport].name, iface);
    }
  } else if (ofport == ofp::kPortLocal || ofport == kOvsdbLocal) {
    return Err("bridge {}: OpenFlow port {} (LOCAL) is for the bridge's own internal port {}, not "
               "{}",
               bridge, ofport, bridge, iface);
  } else if (ofport >= ofp::kPortMax) {
    return Err("bridge {}: OpenFlow port number {} for {} is out of range", bridge, ofport, iface);
  } else if (ofport == 0) {
    ofport = 1;
    while (ports.count(ofport)) ++ofport;
  } else if (ports.count(ofport)) {
    return Err("bridge {}: OpenFlow port {} is already used by {} (adding {})", bridge, ofport,
               ports[ofport].name, iface);
  }

  BridgeImpl::Port port;
  port.name = iface;
  port.added = Now();
  port.type = type;
  port.peer = spec.peer;
  bool found = false;
  if (type == "patch") {
    // No datapath port.  A stable, locally administered address for port
    // descriptions, as OVS gives patch ports one.
    uint64_t h = std::hash<std::string>{}(bridge + "/" + iface);
    port.dp_port = kPatchDpPort;
    port.info.name = iface;
    port.info.type = "patch";
    for (int i = 0; i < 6; ++i) port.info.hw_addr[i] = static_cast<uint8_t>(h >> (8 * i));
    port.info.hw_addr[0] = static_cast<uint8_t>((port.info.hw_addr[0] & 0xfe) | 0x02);
  } else {
    if (!connected_) return Err("bridge {}: cannot add {}: datapath connection lost", bridge, iface);
    // A datapath that outlived a previous hsw-vswitchd still has the port:
    // reuse it rather than re-create it (which would interrupt its traffic,
    // and for an internal port take the device down and away).
    if (auto list = dpif_->PortList()) {
      for (const dpif::PortInfo& info : *list) {
        if (info.name != iface) continue;
        if (info.type != DpType(type)) {
          return Err("bridge {}: interface {} is already in the datapath as a port of type {}, "
                     "not {} (delete it first)",
                     bridge, iface, info.type, DpType(type));
        }
        port.dp_port = info.port_no;
        port.info = info;
        found = true;
      }
    }
    if (found) {
      if (auto owner = dp_ports_.find(port.dp_port); owner != dp_ports_.end()) {
        return Err("bridge {}: datapath port {} ({}) already belongs to bridge {}", bridge,
                   port.dp_port, iface, owner->second.bridge->name());
      }
    } else {
      auto added = dpif_->PortAdd(iface, DpType(type), 0);
      if (!added) {
        return MakeError(fmt::format("bridge {}: cannot add interface {}: {}", bridge, iface,
                                     added.error().message),
                         added.error().code);
      }
      port.dp_port = *added;
      port.info.port_no = *added;
      port.info.name = iface;
      port.info.type = DpType(type);
      if (auto list = dpif_->PortList()) {
        for (const dpif::PortInfo& info : *list) {
          if (info.port_no == *added) port.info = info;
        }
      }
    }
  }
  ports[ofport] = port;
  br->RebuildPortMap();
  br->BumpPortGeneration();
  if (!port.is_patch()) dp_ports_[port.dp_port] = PortOwner{br, ofport};
  vlog.Info("bridge {}: added {} interface {} as OpenFlow port {}{}", bridge, type, iface,
            local ? std::string("LOCAL") : std::to_string(ofport),
            port.is_patch() ? fmt::format(" (patch to {})", port.peer)
                            : fmt::format(" (datapath port {}{})", port.dp_port,
                                          found ? ", already in the datapath" : ""));
  br->NotifyPortStatus(ofp::kPortStatusAdd, br->MakePortDesc(ofport, port));
  if (port.is_patch()) PatchLinksChanged();
  ScheduleRevalidation();
  KickUpcalls();
  return ofport;
}

std::optional<PortState> SwitchImpl::GetPortState(const std::string& bridge,
                                                  const std::string& iface) {
  auto it = bridges_.find(bridge);
  if (it == bridges_.end()) return std::nullopt;
  BridgeImpl* br = it->second.get();
  auto ofport = br->FindOfport(iface);
  if (!ofport) return std::nullopt;
  const BridgeImpl::Port& port = br->ports()[*ofport];
  PortState state;
  state.type = port.type;
  state.ofport = *ofport;
  std::copy(std::begin(port.info.hw_addr), std::end(port.info.hw_addr), state.mac.begin());
  if (port.is_patch()) {
    state.admin_up = true;
    state.link_up = PatchLinkUp(*br, port);
    state.stats = port.patch_stats;
    return state;
  }
  state.ifindex = port.info.ifindex;
  state.mtu = port.info.mtu;
  state.link_up = port.info.link_up;
  state.stats = port.info.stats;
  // The datapath protocol reports only link_up (up and running); the
  // administrative flag is the interface's own, read here (one ioctl, no
  // datapath request; both daemons share the network namespace).
  state.admin_up = state.link_up;
  if (auto flags = InterfaceFlags(iface)) state.admin_up = (*flags & IFF_UP) != 0;
  return state;
}

bool SwitchImpl::PatchLinkUp(const BridgeImpl& bridge, const BridgeImpl::Port& port) const {
  if (!port.is_patch()) return false;
  for (const auto& [name, other] : bridges_) {
    auto peer_ofport = other->FindOfport(port.peer);
    if (!peer_ofport) continue;
    const BridgeImpl::Port& peer = other->ports().at(*peer_ofport);
    return peer.is_patch() && peer.peer == port.name;
  }
  return false;
}

std::optional<XlatePatchPeer> SwitchImpl::PatchPeer(uint32_t bridge_id, uint32_t ofport) const {
  auto b = bridges_by_id_.find(bridge_id);
  if (b == bridges_by_id_.end()) return std::nullopt;
  auto p = b->second->ports().find(ofport);
  if (p == b->second->ports().end() || !p->second.is_patch()) return std::nullopt;
  const BridgeImpl::Port& port = p->second;
  for (const auto& [name, other] : bridges_) {
    auto peer_ofport = other->FindOfport(port.peer);
    if (!peer_ofport) continue;
    const BridgeImpl::Port& peer = other->ports().at(*peer_ofport);
    if (!peer.is_patch() || peer.peer != port.name) return std::nullopt;
    return XlatePatchPeer{other->xlate_bridge(), *peer_ofport};
  }
  return std::nullopt;
}

void SwitchImpl::PatchLinksChanged() {
  // A link that comes up or goes down changes the translations of both
  // bridges, and the ukeys that crossed it; cheap enough to bump all.
  for (const auto& [name, br] : bridges_) br->BumpPortGeneration();
}

void SwitchImpl::CreditCrossings(const std::vector<PatchCrossing>& crossings, uint64_t packets,
                                 uint64_t bytes) {
  for (const PatchCrossing& c : crossings) {
    if (BridgeImpl* from = BridgeById(c.from_bridge)) {
      auto p = from->ports().find(c.from_ofport);
      if (p != from->ports().end() && p->second.is_patch()) {
        p->second.patch_stats.tx_packets += packets;
        p->second.patch_stats.tx_bytes += bytes;
      }
    }
    if (BridgeImpl* to = BridgeById(c.to_bridge)) {
      auto p = to->ports().find(c.to_ofport);
      if (p != to->ports().end() && p->second.is_patch()) {
        p->second.patch_stats.rx_packets += packets;
        p->second.patch_stats.rx_bytes += bytes;
      }
    }
  }
}

void SwitchImpl::UpdatePortInfos(const std::vector<dpif::PortInfo>& infos) {
  for (const dpif::PortInfo& info : infos) {
    auto owner = dp_ports_.find(info.port_no);
    if (owner == dp_ports_.end()) continue;
    auto& ports = owner->second.bridge->ports();
    auto p = ports.find(owner->second.ofport);
    if (p != ports.end() && p->second.name == info.name) p->second.info = info;
  }
}

Status SwitchImpl::DeletePort(const std::string& bridge, const std::string& iface) {
  auto it = bridges_.find(bridge);
  if (it == bridges_.end()) return Err("bridge {} does not exist (deleting interface {})", bridge, iface);
  BridgeImpl* br = it->second.get();
  auto ofport = br->FindOfport(iface);
  if (!ofport) return Err("bridge {}: no interface {}", bridge, iface);
  auto& ports = br->ports();
  BridgeImpl::Port port = ports[*ofport];
  if (port.is_patch()) {
    // Nothing in the datapath.
  } else if (connected_) {
    if (auto r = dpif_->PortDel(port.dp_port); !r) {
      vlog.Warn("bridge {}: removing interface {} from the datapath: {}", bridge, iface,
                r.error().ToString());
    }
  } else {
    ports_deleted_while_lost_.push_back(iface);
  }
  ports.erase(*ofport);
  br->macs().ForgetPort(*ofport);
  br->RebuildPortMap();
  br->BumpPortGeneration();
  if (!port.is_patch()) dp_ports_.erase(port.dp_port);
  if (port.is_patch()) PatchLinksChanged();
  vlog.Info("bridge {}: deleted interface {} (OpenFlow port {})", bridge, iface, *ofport);
  br->NotifyPortStatus(ofp::kPortStatusDelete, br->MakePortDesc(*ofport, port));
  ScheduleRevalidation();
  KickUpcalls();
  return Ok();
}

// --- upcalls ---

void SwitchImpl::KickUpcalls() {
  if (!connected_ || !tables_loaded_ || upcalls_posted_ || !dpif_->HasBufferedUpcalls()) return;
  upcalls_posted_ = true;
  std::weak_ptr<bool> alive = alive_;
  loop_.Post([this, alive] {
    if (alive.lock() && *alive.lock()) HandleUpcalls();
  });
}

void SwitchImpl::HandleUpcalls() {
  upcalls_posted_ = false;
  // While the tables are being loaded, misses wait in the datapath's queue
  // (bounded, counted, in arrival order); the upcall fd is not even watched.
  if (!connected_ || !tables_loaded_) return;
  // A few batches per turn, so that a flood of misses does not starve the
  // OpenFlow connections; the fd stays readable for the rest.
  for (int round = 0; round < 4; ++round) {
    auto upcalls = dpif_->RecvUpcalls(options_.upcall_batch);
    if (!upcalls) {
      Lost(upcalls.error());
      return;
    }
    if (upcalls->empty()) break;
    ProcessUpcalls(std::move(*upcalls));
    if (!connected_) return;
  }
  KickUpcalls();
}

void SwitchImpl::DrainUpcallsForExit() {
  if (!connected_) return;
  auto paused = dpif_->PauseUpcalls();
  if (!paused) {
    if (paused.error().code != ENOTSUP) {
      Lost(paused.error());
      return;
    }
    vlog.Warn("exiting: {}; upcalls still on their way from the datapath may be lost",
              paused.error().message);
  }
  uint64_t handled = 0;
  if (tables_loaded_) {
    // Everything the datapath sent before the pause is in the client's
    // buffer now; nothing new arrives, so this ends.
    while (connected_) {
      auto upcalls = dpif_->RecvUpcalls(options_.upcall_batch);
      if (!upcalls) {
        Lost(upcalls.error());
        return;
      }
      if (upcalls->empty()) break;
      handled += upcalls->size();
      ProcessUpcalls(std::move(*upcalls));
    }
  }
  size_t dropped = 0;
  if (connected_ && !tables_loaded_) {
    // flow-restore-wait: the tables may be half restored, so these cannot be
    // translated; they are the only misses a graceful stop loses.
    while (dpif_->HasBufferedUpcalls()) {
      auto upcalls = dpif_->RecvUpcalls(options_.upcall_batch);
      if (!upcalls || upcalls->empty()) break;
      dropped += upcalls->size();
    }
  }
  if (paused) {
    vlog.Info("exiting: upcalls paused after {} from the datapath; handled the last {} of them{}",
              *paused, handled,
              dropped ? fmt::format(", dropped {} (tables not loaded)", dropped) : "");
  } else if (dropped) {
    vlog.Warn("exiting: dropped {} upcalls that arrived while the tables were not loaded",
              dropped);
  }
}

void SwitchImpl::TranslateDp(const FlowKey& dp_key, XlateResult* result, BridgeImpl** bridge,
                             bool count_stats) {
  auto owner = dp_ports_.find(dp_key.in_port);
  if (owner == dp_ports_.end()) {
    // Not a port of any bridge: drop everything from it, in one megaflow.
    *result = XlateResult();
    result->mask.in_port = 0xffffffff;
    *bridge = nullptr;
    return;
  }
  *bridge = owner->second.bridge;
  XlateRequest req;
  req.key = dp_key;
  req.key.in_port = owner->second.ofport;
  req.key.metadata = 0;
  req.count_stats = count_stats;
  // Upcalls (which count stats) are real packets: NORMAL may learn from them.
  req.may_learn = count_stats;
  req.now = Now();
  uint64_t before = (*bridge)->macs().generation();
  Translate((*bridge)->xlate_bridge(), req, result);
  bool learned = (*bridge)->macs().generation() != before;
  if (!result->crossings.empty() && count_stats) {
    // NORMAL may have learned in a peer bridge too; the cheap answer is to
    // check again soon.
    learned = true;
  }
  if (learned) ScheduleRevalidation();
}

void SwitchImpl::ProcessUpcalls(std::vector<dpif::Upcall> upcalls) {
  std::vector<dpif::FlowPut> puts;
  std::vector<UkeyId> put_ids;
  std::vector<dpif::Execute> executes;
  int64_t now_ms = MonotonicMs();
  SteadyTime now = Now();

  for (dpif::Upcall& up : upcalls) {
    if (up.type == dpif::UpcallType::kAction) {
      ++n_upcalls_action_;
      HandleActionUpcall(up);
      continue;
    }
    ++n_upcalls_miss_;
    XlateResult xr;
    BridgeImpl* br = nullptr;
    TranslateDp(up.key, &xr, &br, true);
    if (!br) ++n_upcalls_no_bridge_;
    // The packet that missed is forwarded by Execute, not by the flow: count it here.
    for (RuleRef& r : xr.rules) {
      ++r->n_packets;
      r->n_bytes += up.packet.size();
      r->last_used = now;
    }
    CreditCrossings(xr.crossings, 1, up.packet.size());
    UkeyId id{ApplyMask(up.key, xr.mask), xr.mask};
    if (!ukeys_.count(id)) {
      Ukey u;
      u.actions = xr.actions;
      u.crossings = xr.crossings;
      u.bridge_id = br ? br->id() : 0;
      u.generation = br ? br->generation() : 0;
      u.rules = std::move(xr.rules);
      u.created_ms = now_ms;
      ukeys_.emplace(id, std::move(u));
      dpif::FlowPut put;
      put.key = id.key;
      put.mask = id.mask;
      put.actions = xr.actions;
      put.flags = dpif::kPutCreate | dpif::kPutModify;
      puts.push_back(std::move(put));
      put_ids.push_back(id);
    }
    if (!up.packet.empty() && !xr.actions.empty()) {
      dpif::Execute exec;
      exec.in_port = up.in_port;
      exec.packet = std::move(up.packet);
      exec.actions = std::move(xr.actions);
      executes.push_back(std::move(exec));
    }
  }

  if (!puts.empty()) {
    auto errors = dpif_->FlowPut(puts);
    if (!errors) {
      Lost(errors.error());
      return;
    }
    for (size_t i = 0; i < put_ids.size(); ++i) {
      int32_t e = i < errors->size() ? (*errors)[i] : EIO;
      if (e == 0) {
        ++n_flows_installed_;
      } else {
        ++n_flow_put_errors_;
        static log::RateLimit rl(5);
        if (rl.Allow()) {
          vlog.Warn("datapath refused flow {}: {}", FormatDpKey(put_ids[i].key, &put_ids[i].mask),
                    std::strerror(e));
        }
        ukeys_.erase(put_ids[i]);
      }
    }
  }
  if (!executes.empty()) {
    n_executes_ += executes.size();
    if (auto r = dpif_->Execute(executes); !r) {
      static log::RateLimit rl(5);
      if (rl.Allow()) vlog.Warn("datapath execute failed: {}", r.error().ToString());
    }
  }
}

void SwitchImpl::HandleActionUpcall(const dpif::Upcall& up) {
  auto ud = DecodeControllerUserdata(up.userdata);
  if (!ud) return;
  BridgeImpl* br = BridgeById(ud->bridge_id);
  if (!br) return;
  ofp::PacketIn pi;
  pi.buffer_id = ofp::kNoBuffer;
  pi.total_len = static_cast<uint16_t>(std::min<size_t>(up.packet.size(), 0xffff));
  pi.reason = ud->reason;
  pi.table_id = ud->table_id;
  pi.cookie = ud->cookie;
  pi.match.key.in_port = ud->in_port;
  pi.match.mask.in_port = 0xffffffff;
  if (ud->metadata) {
    pi.match.key.metadata = ud->metadata;
    pi.match.mask.metadata = ~0ull;
  }
  size_t n = up.packet.size();
  if (ud->max_len != 0xffff) n = std::min<size_t>(n, ud->max_len);
  pi.data.assign(up.packet.begin(), up.packet.begin() + static_cast<ptrdiff_t>(n));
  ++n_packet_ins_;
  br->NotifyPacketIn(pi);
}

Status SwitchImpl::ExecutePacket(dpif::Execute execute) {
  if (!connected_) return Err("datapath connection lost");
  ++n_packet_outs_;
  auto r = dpif_->Execute({std::move(execute)});
  KickUpcalls();
  return r;
}

// --- revalidation ---

void SwitchImpl::TablesChanged() { ScheduleRevalidation(); }

void SwitchImpl::ScheduleRevalidation() {
  if (revalidation_scheduled_) return;
  revalidation_scheduled_ = true;
  std::weak_ptr<bool> alive = alive_;
  auto run = [this, alive] {
    if (!(alive.lock() && *alive.lock())) return;
    if (!revalidation_scheduled_) return;  // Sync() got there first
    revalidation_scheduled_ = false;
    Revalidate(false);
    KickUpcalls();
  };
  // A stream of flow-mods without barriers must not re-translate every
  // megaflow once per flow-mod: after a pass, the next waits a little and
  // covers every change made meanwhile.  (Sync(), on barriers, never waits.)
  auto delay = options_.revalidate_delay;
  auto since = Now() - last_revalidation_;
  if (delay.count() == 0 && since < kMinRevalidationSpacing) {
    delay = std::chrono::duration_cast<std::chrono::milliseconds>(kMinRevalidationSpacing - since) +
            std::chrono::milliseconds(1);
  }
  if (delay.count() > 0) {
    loop_.AddTimer(delay, run);
  } else {
    loop_.Post(run);
  }
}

void SwitchImpl::Sync() {
  revalidation_scheduled_ = false;
  Revalidate(false);
  KickUpcalls();
}

void SwitchImpl::Revalidate(bool all) {
  // flow-restore-wait: the tables may be half restored; datapath flows stay
  // exactly as they are until SetTablesLoaded(true) checks them all.
  if (!connected_ || !tables_loaded_) return;
  std::unordered_map<uint32_t, bool> changed;  // bridge id -> needs revalidation
  for (const auto& [name, br] : bridges_) {
    changed[br->id()] = all || br->generation() != br->revalidated_generation;
  }
  // (The tables are loaded here; adopted flows still wait for an explicit
  // SetTablesLoaded(true) after adoption.)
  bool adopted_ok = !adoption_pending_;

  std::vector<UkeyId> deletes;
  std::vector<dpif::FlowPut> modifies;
  std::vector<UkeyId> modify_ids;
  for (auto& [id, u] : ukeys_) {
    if (u.adopted && !adopted_ok) continue;
    auto owner = dp_ports_.find(id.key.in_port);
    uint32_t owner_id = owner == dp_ports_.end() ? 0 : owner->second.bridge->id();
    bool need = all || u.adopted || owner_id != u.bridge_id || (owner_id && changed[owner_id]);
    // A flow through patch ports depends on every bridge it crossed.
    for (const PatchCrossing& c : u.crossings) {
      if (need) break;
      auto peer = changed.find(c.to_bridge);
      need = peer == changed.end() || peer->second;
    }
    if (!need) continue;
    ++n_ukeys_revalidated_;
    XlateResult xr;
    BridgeImpl* br = nullptr;
    TranslateDp(id.key, &xr, &br, false);
    if ((!br && u.bridge_id && !u.adopted) || !MaskIsSubset(xr.mask, id.mask)) {
      // The flow now needs bits it does not match on: remove it, and the
      // next packet builds the right megaflow.
      deletes.push_back(id);
      continue;
    }
    if (xr.actions != u.actions) {
      dpif::FlowPut put;
      put.key = id.key;
      put.mask = id.mask;
      put.actions = xr.actions;
      put.flags = dpif::kPutModify;
      modifies.push_back(std::move(put));
      modify_ids.push_back(id);
      u.actions = std::move(xr.actions);
    }
    u.rules = std::move(xr.rules);
    u.crossings = std::move(xr.crossings);
    u.bridge_id = br ? br->id() : 0;
    u.generation = br ? br->generation() : 0;
    u.adopted = false;
  }
  for (const auto& [name, br] : bridges_) br->revalidated_generation = br->generation();
  ++n_revalidations_;
  last_revalidation_ = Now();

  if (!modifies.empty()) {
    auto errors = dpif_->FlowPut(modifies);
    if (!errors) {
      Lost(errors.error());
      return;
    }
    for (size_t i = 0; i < modify_ids.size(); ++i) {
      int32_t e = i < errors->size() ? (*errors)[i] : EIO;
      if (e == 0) {
        ++n_flows_modified_;
      } else {
        // Gone from the datapath (ENOENT) or refused: forget it; a packet
        // that needs it will miss and be handled afresh.
        ukeys_.erase(modify_ids[i]);
      }
    }
  }
  DeleteUkeys(deletes);
}

void SwitchImpl::CreditStats(Ukey& u, const dpif::FlowStats& s) {
  uint64_t dp = s.n_packets, db = s.n_bytes;
  if (s.n_packets >= u.stats.n_packets && s.n_bytes >= u.stats.n_bytes) {
    dp -= u.stats.n_packets;
    db -= u.stats.n_bytes;
  }
  if (dp || db) {
    SteadyTime now = Now();
    for (RuleRef& r : u.rules) {
      r->n_packets += dp;
      r->n_bytes += db;
      r->last_used = now;
    }
    CreditCrossings(u.crossings, dp, db);
  }
  u.stats = s;
}

void SwitchImpl::DeleteUkeys(const std::vector<UkeyId>& ids) {
  if (ids.empty() || !connected_) return;
  std::vector<dpif::FlowId> flows;
  flows.reserve(ids.size());
  for (const UkeyId& id : ids) flows.push_back(dpif::FlowId{id.key, id.mask});
  auto results = dpif_->FlowDel(flows);
  if (!results) {
    Lost(results.error());
    return;
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = ukeys_.find(ids[i]);
    if (it == ukeys_.end()) continue;
    if (i < results->size() && (*results)[i].error == 0) {
      CreditStats(it->second, (*results)[i].stats);
      ++n_flows_deleted_;
    }
    ukeys_.erase(it);
  }
}

void SwitchImpl::AdoptFlow(const dpif::DpFlow& flow) {
  UkeyId id{ApplyMask(flow.key, flow.mask), flow.mask};
  Ukey u;
  u.actions = flow.actions;
  u.stats = flow.stats;
  u.created_ms = MonotonicMs();
  u.adopted = true;
  if (ukeys_.emplace(id, std::move(u)).second) ++n_flows_adopted_;
}

void SwitchImpl::SetTablesLoaded(bool loaded) {
  if (loaded == tables_loaded_ && !(loaded && adoption_pending_)) return;
  tables_loaded_ = loaded;
  WatchUpcalls(loaded);
  if (!loaded) {
    vlog.Info("tables not loaded: datapath flows frozen, misses wait in the datapath's queue");
    return;
  }
  adoption_pending_ = false;
  vlog.Info("tables loaded: revalidating {} datapath flows", ukeys_.size());
  Revalidate(true);
  // Then the misses that waited, oldest first, against the complete tables.
  HandleUpcalls();
}

void SwitchImpl::WatchUpcalls(bool watch) {
  if (watched_fd_ < 0) return;
  if (auto modified = loop_.Modify(watched_fd_, watch ? uint32_t{EPOLLIN} : 0u); !modified) {
    vlog.Err("cannot {} the upcall socket: {}", watch ? "watch" : "unwatch",
             modified.error().ToString());
  }
}

// --- periodic work ---

void SwitchImpl::RefreshStats() {
  if (Now() - last_stats_pull_ < kStatsFreshness) return;
  PullStats();
}

void SwitchImpl::PullStats() {
  if (!connected_) return;
  auto flows = dpif_->FlowDump();
  if (!flows) {
    Lost(flows.error());
    return;
  }
  ++n_stats_pulls_;
  last_stats_pull_ = Now();
  std::vector<UkeyId> idle;
  DumpMatch match = MatchDump(*flows, tables_loaded_ ? &idle : nullptr);
  if (!idle.empty()) {
    n_flows_evicted_ += idle.size();
    DeleteUkeys(idle);
  }
  if (match.n_adopted && tables_loaded_ && !adoption_pending_) ScheduleRevalidation();
  // Upcalls that arrived during the dump wait in the client's buffer, where
  // the upcall fd does not announce them.
  KickUpcalls();
}

SwitchImpl::DumpMatch SwitchImpl::MatchDump(const std::vector<dpif::DpFlow>& flows,
                                            std::vector<UkeyId>* idle) {
  DumpMatch match;
  int64_t now_ms = MonotonicMs();
  int64_t max_idle = options_.max_idle.count();
  uint64_t seq = ++dump_seq_;
  for (const dpif::DpFlow& flow : flows) {
    UkeyId id{ApplyMask(flow.key, flow.mask), flow.mask};
    auto it = ukeys_.find(id);
    if (it == ukeys_.end()) {
      // Installed by someone else (hsw-ctl, a previous daemon, a datapath
      // we lost track of): take it in and let revalidation decide.
      AdoptFlow(flow);
      ukeys_.find(id)->second.dump_seq = seq;
      ++match.n_adopted;
      continue;
    }
    Ukey& u = it->second;
    u.dump_seq = seq;
    CreditStats(u, flow.stats);
    if (u.actions != flow.actions) {
      // Revalidation compares translations with u.actions, so u.actions
      // must be what the datapath really does.
      u.actions = flow.actions;
      u.adopted = true;
      ++match.n_adopted;
      continue;
    }
    if (idle && !u.adopted) {
      int64_t last = std::max<int64_t>(u.created_ms, static_cast<int64_t>(flow.stats.used_ms));
      if (now_ms - last > max_idle) idle->push_back(id);
    }
  }
  // Flows the datapath no longer has (deleted by an operator, or the
  // datapath restarted): forget them.
  for (auto it = ukeys_.begin(); it != ukeys_.end();) {
    if (it->second.dump_seq != seq) {
      it = ukeys_.erase(it);
      ++match.n_forgotten;
    } else {
      ++it;
    }
  }
  n_flows_forgotten_ += match.n_forgotten;
  return match;
}

void SwitchImpl::ExpireRules() {
  if (!tables_loaded_) return;
  SteadyTime now = Now();
  bool any = false;
  for (const auto& [name, br] : bridges_) {
    if (br->macs().Expire(now)) any = true;
    std::vector<RemovedRule> removed = br->tables().Expire(now);
    if (removed.empty()) continue;
    any = true;
    n_rules_expired_ += removed.size();
    if (table_observer_) {
      std::vector<ofp::FlowMod> deletes;
      for (const RemovedRule& r : removed) {
        ofp::FlowMod& fm = deletes.emplace_back();
        fm.command = ofp::FlowModCommand::kDeleteStrict;
        fm.table_id = r.rule->table_id;
        fm.priority = static_cast<uint16_t>(r.rule->priority);
        fm.match = ofp::Match{r.rule->key, r.rule->mask};
      }
      table_observer_(*br, deletes);
    }
    br->NotifyFlowRemoved(removed, now);
  }
  if (any) ScheduleRevalidation();
}

void SwitchImpl::Periodic() {
  if (!connected_) return;
  if (!CheckDatapathInstance()) return;
  PullStats();
  ExpireRules();
  KickUpcalls();
}

void SwitchImpl::Lost(const Error& error) {
  if (!connected_) return;
  connected_ = false;
  ++n_datapath_losses_;
  vlog.Err("datapath connection lost: {}", error.ToString());
  if (watched_fd_ >= 0) {
    loop_.Remove(watched_fd_);
    watched_fd_ = -1;
  }
}

// --- a new datapath: reconnection, or a successor behind the connection ---

namespace {

// "P ports (K re-added), F flows (A adopted, D forgotten)", the part of the
// log line that says what a reconciliation did.
std::string DescribeReconciliation(const DatapathReconciliation& r) {
  return fmt::format("{} ports ({} re-added{}), {} flows ({} adopted, {} forgotten)", r.n_ports,
                     r.n_ports_readded,
                     r.n_ports_failed ? fmt::format(", {} could not be", r.n_ports_failed) : "",
                     r.n_flows, r.n_flows_adopted, r.n_flows_forgotten);
}

}  // namespace

Result<DatapathReconciliation> SwitchImpl::Reconnect(std::unique_ptr<dpif::Dpif> dpif) {
  if (!dpif) return Err("ofproto: no datapath");
  if (connected_) return Err("ofproto: reconnect while the datapath connection is up");
  // The broken connection goes here; its fd left the event loop in Lost().
  dpif_ = std::move(dpif);
  datapath_hello_ = dpif_->hello();
  connected_ = true;
  auto report = Reconcile();
  if (!report) return report;
  if (auto watched = WatchUpcallFd(); !watched) {
    Lost(watched.error());
    return tl::unexpected(watched.error());
  }
  ++n_datapath_reconnects_;
  vlog.Info("reconnected to hsw-datapath pid {} (version {}): {}", report->datapath_pid,
            report->datapath_version, DescribeReconciliation(*report));
  // The misses that waited in the datapath, against the current tables.
  if (tables_loaded_) HandleUpcalls();
  return report;
}

bool SwitchImpl::CheckDatapathInstance() {
  auto stats = dpif_->GetStats();
  if (!stats) {
    Lost(stats.error());
    return false;
  }
  // A datapath older than the counter cannot be told apart; it is not
  // replaced behind a connection either (handover came with the counter).
  UpdatePortInfos(stats->ports);
  std::optional<uint64_t> instance = stats->Counter("datapath_instance_id");
  if (!instance || *instance == datapath_hello_.instance_id) return true;

  dpif::HelloReply successor = datapath_hello_;  // same connection: same protocol version
  successor.instance_id = *instance;
  successor.datapath_pid = static_cast<uint32_t>(stats->Counter("datapath_pid").value_or(0));
  successor.datapath_version = "unknown";
  if (options_.identify_datapath) {
    // Another handover may have happened since the stats: believe the
    // answer only if it is about the same instance.
    auto probed = options_.identify_datapath();
    if (probed && probed->instance_id == *instance) {
      successor.datapath_version = probed->datapath_version;
    } else if (!probed) {
      vlog.Warn("cannot ask the new hsw-datapath for its version: {}",
                probed.error().ToString());
    }
  }
  vlog.Info("hsw-datapath changed: pid {} (version {}) → pid {} (version {})",
            datapath_hello_.datapath_pid, datapath_hello_.datapath_version,
            successor.datapath_pid, successor.datapath_version);
  datapath_hello_ = successor;
  ++n_datapath_changes_;
  auto report = Reconcile();
  if (!report) return false;
  vlog.Info("reconciled with hsw-datapath pid {}: {}", report->datapath_pid,
            DescribeReconciliation(*report));
  return true;
}

Result<DatapathReconciliation> SwitchImpl::Reconcile() {
  DatapathReconciliation report;
  report.datapath_pid = datapath_hello_.datapath_pid;
  report.datapath_version = datapath_hello_.datapath_version;
  HSW_TRY(ReconcilePorts(report));

  auto flows = dpif_->FlowDump();
  if (!flows) {
    Lost(flows.error());
    return tl::unexpected(flows.error());
  }
  report.n_flows = flows->size();
  DumpMatch match = MatchDump(*flows, nullptr);
  report.n_flows_adopted = match.n_adopted;
  report.n_flows_forgotten = match.n_forgotten;
  last_stats_pull_ = Now();

  // Every flow against the current tables: they may have changed while the
  // datapath was unreachable, adopted flows have never been checked, and
  // port numbers may have moved.  (During flow-restore-wait this waits for
  // SetTablesLoaded(true), which does the same.)
  Revalidate(true);
  if (!connected_) return Err("datapath connection lost while revalidating");
  return report;
}

Status SwitchImpl::ReconcilePorts(DatapathReconciliation& report) {
  auto listed = dpif_->PortList();
  if (!listed) {
    Lost(listed.error());
    return tl::unexpected(listed.error());
  }
  std::unordered_map<std::string, dpif::PortInfo> dp_by_name;
  for (dpif::PortInfo& info : *listed) dp_by_name[info.name] = std::move(info);

  for (const std::string& name : ports_deleted_while_lost_) {
    auto it = dp_by_name.find(name);
    if (it == dp_by_name.end()) continue;
    if (auto deleted = dpif_->PortDel(it->second.port_no); !deleted) {
      vlog.Warn("removing interface {}, deleted while the datapath was unreachable: {}", name,
                deleted.error().ToString());
    } else {
      vlog.Info("removed interface {} from the datapath (deleted while it was unreachable)",
                name);
    }
    dp_by_name.erase(it);
  }
  ports_deleted_while_lost_.clear();

  // Datapath port numbers are the datapath's: a restarted one may number
  // the ports it is given differently, so the map is rebuilt.
  dp_ports_.clear();
  for (const auto& [bridge_name, br] : bridges_) {
    bool changed = false;
    std::vector<std::pair<uint32_t, std::string>> failed;  // ofport, why
    for (auto& [ofport, port] : br->ports()) {
      if (port.is_patch()) continue;  // nothing in the datapath
      auto found = dp_by_name.find(port.name);
      if (found != dp_by_name.end()) {
        changed |= found->second.port_no != port.dp_port;
        port.dp_port = found->second.port_no;
        port.info = found->second;
      } else {
        // Ask for the number it had, so that the datapath's numbering (in
        // dp-dump-flows, for an operator) stays the same; any will do.
        auto added = dpif_->PortAdd(port.name, DpType(port.type), port.dp_port);
        if (!added && added.error().code == EEXIST) {
          added = dpif_->PortAdd(port.name, DpType(port.type), 0);
        }
        if (!added) {
          failed.emplace_back(ofport, added.error().message);
          continue;
        }
        changed = true;
        ++report.n_ports_readded;
        ++n_ports_readded_;
        vlog.Info("bridge {}: re-added interface {} to the datapath as datapath port {} "
                  "(OpenFlow port {})",
                  bridge_name, port.name, *added, ofport);
        port.dp_port = *added;
        port.info = dpif::PortInfo{};
        port.info.port_no = *added;
        port.info.name = port.name;
        port.info.type = DpType(port.type);
      }
      dp_ports_[port.dp_port] = PortOwner{br.get(), ofport};
    }
    for (const auto& [ofport, why] : failed) DropPort(*br, ofport, why);
    report.n_ports_failed += failed.size();
    report.n_ports += br->ports().size();
    if (changed || !failed.empty()) {
      br->RebuildPortMap();
      br->BumpPortGeneration();
    }
  }
  if (report.n_ports_readded > 0) {
    // The addresses and MTUs of the re-added ports, for port descriptions.
    auto relisted = dpif_->PortList();
    if (!relisted) {
      Lost(relisted.error());
      return tl::unexpected(relisted.error());
    }
    for (const dpif::PortInfo& info : *relisted) {
      auto owner = dp_ports_.find(info.port_no);
      if (owner == dp_ports_.end()) continue;
      owner->second.bridge->ports()[owner->second.ofport].info = info;
    }
  }
  return Ok();
}

void SwitchImpl::DropPort(BridgeImpl& bridge, uint32_t ofport, const std::string& why) {
  BridgeImpl::Port port = bridge.ports()[ofport];
  bridge.ports().erase(ofport);
  bridge.macs().ForgetPort(ofport);
  vlog.Err("bridge {}: interface {} (OpenFlow port {}) could not be added to the new datapath, "
           "so it is no longer a port of the bridge (it stays configured): {}",
           bridge.name(), port.name, ofport, why);
  bridge.NotifyPortStatus(ofp::kPortStatusDelete, bridge.MakePortDesc(ofport, port));
}

std::vector<std::pair<std::string, uint64_t>> SwitchImpl::Counters() const {
  size_t n_rules = 0;
  for (const auto& [name, br] : bridges_) n_rules += br->n_rules();
  return {
      {"upcalls_miss", n_upcalls_miss_},
      {"upcalls_action", n_upcalls_action_},
      {"upcalls_no_bridge", n_upcalls_no_bridge_},
      {"flows_installed", n_flows_installed_},
      {"flow_put_errors", n_flow_put_errors_},
      {"flows_modified", n_flows_modified_},
      {"flows_deleted", n_flows_deleted_},
      {"flows_evicted_idle", n_flows_evicted_},
      {"flows_adopted", n_flows_adopted_},
      {"flows_forgotten", n_flows_forgotten_},
      {"ukeys", ukeys_.size()},
      {"revalidations", n_revalidations_},
      {"ukeys_revalidated", n_ukeys_revalidated_},
      {"stats_pulls", n_stats_pulls_},
      {"packet_ins", n_packet_ins_},
      {"packet_outs", n_packet_outs_},
      {"executes", n_executes_},
      {"rules", n_rules},
      {"rules_expired", n_rules_expired_},
      {"datapath_losses", n_datapath_losses_},
      {"datapath_reconnects", n_datapath_reconnects_},
      {"datapath_changes", n_datapath_changes_},
      {"ports_readded", n_ports_readded_},
  };
}

}  // namespace hsw::ofproto
