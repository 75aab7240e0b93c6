#include "dpif/fake_dpif.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "dpif/dpif_codec.h"

namespace hsw::dpif {

FakeDpif::FakeDpif() : event_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  hello_.version = kProtocolVersionMax;
  hello_.flow_key_size = sizeof(FlowKey);
  hello_.datapath_pid = static_cast<uint32_t>(getpid());
  hello_.instance_id = 1;
  hello_.datapath_version = "fake";
}

FakeDpif::~FakeDpif() = default;

FakeDpif::FlowMapKey FakeDpif::MapKey(const FlowKey& key, const FlowKey& mask) {
  FlowKey masked = ApplyMask(key, mask);
  return {std::string(reinterpret_cast<const char*>(&mask), sizeof(FlowKey)),
          std::string(reinterpret_cast<const char*>(&masked), sizeof(FlowKey))};
}

Status FakeDpif::CheckFailure(const char* call) const {
  if (failure_) return tl::unexpected(*failure_);
  return Ok();
}

// The eventfd mirrors "upcalls are queued" so that a poll on upcall_fd()
// behaves like a socket with data waiting.
void FakeDpif::SyncEventFd() {
  if (!event_fd_) return;
  if (!upcalls_.empty() && !event_fd_signalled_) {
    uint64_t one = 1;
    if (write(event_fd_.get(), &one, sizeof(one)) == sizeof(one)) event_fd_signalled_ = true;
  } else if (upcalls_.empty() && event_fd_signalled_) {
    uint64_t value;
    if (read(event_fd_.get(), &value, sizeof(value)) == sizeof(value)) event_fd_signalled_ = false;
  }
}

Result<uint32_t> FakeDpif::PortAdd(const std::string& name, const std::string& type,
                                   uint32_t port_no) {
  calls_.push_back(dpif::PortAdd{name, type, port_no});
  HSW_TRY(CheckFailure("PortAdd"));
  if (name.empty()) return MakeError("port add: empty interface name", EINVAL);
  if (type != "af_packet" && type != "internal") {
    return MakeError(fmt::format("port add {}: unsupported port type '{}'", name, type), EINVAL);
  }
  if (name == missing_interface_) {
    return MakeError(fmt::format("port add {}: no such interface", name), ENODEV);
  }
  for (const auto& [no, info] : ports_) {
    if (info.name == name) {
      return MakeError(fmt::format("port add {}: already datapath port {}", name, no), EEXIST);
    }
  }
  if (port_no == 0) {
    port_no = 1;
    while (ports_.count(port_no)) ++port_no;
  } else if (ports_.count(port_no)) {
    return MakeError(fmt::format("port add {}: port number {} is in use by {}", name, port_no,
                                 ports_[port_no].name),
                     EEXIST);
  }
  AddPortForTest(name, port_no, type);
  return port_no;
}

void FakeDpif::SetPortForTest(uint32_t port_no, const PortStats& stats, bool link_up) {
  auto it = ports_.find(port_no);
  if (it == ports_.end()) return;
  it->second.stats = stats;
  it->second.link_up = link_up;
}

void FakeDpif::AddPortForTest(const std::string& name, uint32_t port_no,
                              const std::string& type) {
  PortInfo info;
  info.port_no = port_no;
  info.name = name;
  info.type = type;
  info.ifindex = 1000 + port_no;
  info.hw_addr[0] = 0x02;
  info.hw_addr[5] = static_cast<uint8_t>(port_no);
  info.mtu = 1500;
  info.link_up = type != "internal";
  ports_[port_no] = info;
}

Status FakeDpif::PortDel(uint32_t port_no) {
  calls_.push_back(dpif::PortDel{port_no});
  HSW_TRY(CheckFailure("PortDel"));
  if (!ports_.erase(port_no)) {
    return MakeError(fmt::format("port del: no datapath port {}", port_no), ENOENT);
  }
  return Ok();
}

Result<std::vector<PortInfo>> FakeDpif::PortList() {
  calls_.push_back(dpif::PortList{});
  HSW_TRY(CheckFailure("PortList"));
  std::vector<PortInfo> out;
  for (const auto& [no, info] : ports_) out.push_back(info);
  return out;
}

int FakeDpif::ValidatePut(const FlowKey& mask, const DpActions& actions) {
  // Megaflow masks never cover the OpenFlow metadata register.
  if (mask.metadata != 0) return EINVAL;
  for (const auto& action : actions) {
    if (const auto* set = std::get_if<DpSetMasked>(&action)) {
      const FlowKey& m = set->mask;
      if (m.metadata || m.in_port || m.eth_type || m.nw_proto || m.nw_frag) return EINVAL;
    } else if (const auto* push = std::get_if<DpPushVlan>(&action)) {
      if (push->tpid != kEthTypeVlan && push->tpid != kEthTypeQinQ) return EINVAL;
    } else if (const auto* user = std::get_if<DpUserspace>(&action)) {
      if (user->userdata.size() > kDpUserdataMaxSize) return EINVAL;
    }
  }
  return 0;
}

Result<std::vector<int32_t>> FakeDpif::FlowPut(const std::vector<dpif::FlowPut>& puts) {
  calls_.push_back(FlowPutBatch{puts});
  HSW_TRY(CheckFailure("FlowPut"));
  std::vector<int32_t> errors;
  errors.reserve(puts.size());
  for (const auto& put : puts) {
    if (int err = ValidatePut(put.mask, put.actions)) {
      errors.push_back(err);
      continue;
    }
    auto key = MapKey(put.key, put.mask);
    auto it = flows_.find(key);
    if (it == flows_.end()) {
      if (!(put.flags & kPutCreate)) {
        errors.push_back(ENOENT);
      } else if (flows_.size() >= flow_limit_) {
        errors.push_back(ENOSPC);
      } else {
        DpFlow flow;
        flow.key = ApplyMask(put.key, put.mask);
        flow.mask = put.mask;
        flow.actions = put.actions;
        flows_.emplace(std::move(key), std::move(flow));
        errors.push_back(0);
      }
    } else if (!(put.flags & kPutModify)) {
      errors.push_back(EEXIST);
    } else {
      it->second.actions = put.actions;
      if (put.flags & kPutClearStats) it->second.stats = {};
      errors.push_back(0);
    }
  }
  return errors;
}

Result<std::vector<FlowDelResult>> FakeDpif::FlowDel(const std::vector<FlowId>& ids) {
  calls_.push_back(FlowDelBatch{ids});
  HSW_TRY(CheckFailure("FlowDel"));
  std::vector<FlowDelResult> results;
  results.reserve(ids.size());
  for (const auto& id : ids) {
    FlowDelResult result;
    auto it = flows_.find(MapKey(id.key, id.mask));
    if (it == flows_.end()) {
      result.error = ENOENT;
    } else {
      result.stats = it->second.stats;
      flows_.erase(it);
    }
    results.push_back(result);
  }
  return results;
}

Result<std::vector<DpFlow>> FakeDpif::FlowDump() {
  calls_.push_back(dpif::FlowDump{});
  HSW_TRY(CheckFailure("FlowDump"));
  return flows();
}

Status FakeDpif::FlowFlush() {
  calls_.push_back(dpif::FlowFlush{});
  HSW_TRY(CheckFailure("FlowFlush"));
  flows_.clear();
  return Ok();
}

Status FakeDpif::Execute(const std::vector<dpif::Execute>& packets) {
  calls_.push_back(ExecuteBatch{packets});
  HSW_TRY(CheckFailure("Execute"));
  executed_.insert(executed_.end(), packets.begin(), packets.end());
  return Ok();
}

Result<StatsReply> FakeDpif::GetStats() {
  calls_.push_back(StatsGet{});
  HSW_TRY(CheckFailure("StatsGet"));
  StatsReply reply;
  reply.counters = counters_;
  std::set<std::string> masks;
  for (const auto& [key, flow] : flows_) masks.insert(key.first);
  reply.counters.emplace_back("n_flows", flows_.size());
  reply.counters.emplace_back("n_masks", masks.size());
  for (const auto& [no, info] : ports_) reply.ports.push_back(info);
  return reply;
}

Result<std::vector<Upcall>> FakeDpif::RecvUpcalls(size_t max) {
  HSW_TRY(CheckFailure("RecvUpcalls"));
  std::vector<Upcall> out;
  while (!upcalls_.empty() && out.size() < max) {
    out.push_back(std::move(upcalls_.front()));
    upcalls_.pop_front();
  }
  SyncEventFd();
  return out;
}

size_t FakeDpif::CountCalls(MsgType type) const {
  return static_cast<size_t>(std::count_if(calls_.begin(), calls_.end(),
                                           [&](const Body& b) { return TypeOf(b) == type; }));
}

void FakeDpif::InjectUpcall(Upcall upcall) {
  if (upcalls_paused_) {
    held_.push_back(std::move(upcall));
    return;
  }
  upcalls_.push_back(std::move(upcall));
  ++n_upcalls_sent_;
  SyncEventFd();
}

Result<uint64_t> FakeDpif::PauseUpcalls() {
  if (hello_.version < kProtocolVersionUpcallPause) {
    return MakeError("fake datapath: protocol version without UpcallPause", ENOTSUP);
  }
  calls_.push_back(UpcallPause{});
  HSW_TRY(CheckFailure("UpcallPause"));
  upcalls_paused_ = true;
  return n_upcalls_sent_;
}

std::vector<DpFlow> FakeDpif::flows() const {
  std::vector<DpFlow> out;
  out.reserve(flows_.size());
  for (const auto& [key, flow] : flows_) out.push_back(flow);
  return out;
}

DpFlow* FakeDpif::FindFlow(const FlowKey& key, const FlowKey& mask) {
  auto it = flows_.find(MapKey(key, mask));
  return it == flows_.end() ? nullptr : &it->second;
}

DpFlow* FakeDpif::Lookup(const FlowKey& packet_key) {
  for (auto& [key, flow] : flows_) {
    if (MaskedEqual(packet_key, flow.key, flow.mask)) return &flow;
  }
  return nullptr;
}

bool FakeDpif::Hit(const FlowKey& packet_key, uint64_t n_packets, uint64_t n_bytes,
                   uint64_t used_ms, uint16_t tcp_flags) {
  DpFlow* flow = Lookup(packet_key);
  if (!flow) return false;
  flow->stats.n_packets += n_packets;
  flow->stats.n_bytes += n_bytes;
  flow->stats.used_ms = std::max(flow->stats.used_ms, used_ms);
  flow->stats.tcp_flags |= tcp_flags;
  return true;
}

bool FakeDpif::SetFlowStats(const FlowKey& key, const FlowKey& mask, const FlowStats& stats) {
  DpFlow* flow = FindFlow(key, mask);
  if (!flow) return false;
  flow->stats = stats;
  return true;
}

void FakeDpif::AddFlowForTest(const FlowKey& key, const FlowKey& mask, DpActions actions,
                              FlowStats stats) {
  DpFlow flow;
  flow.key = ApplyMask(key, mask);
  flow.mask = mask;
  flow.actions = std::move(actions);
  flow.stats = stats;
  flows_[MapKey(key, mask)] = std::move(flow);
}

void FakeDpif::SetCounter(const std::string& name, uint64_t value) {
  for (auto& [n, v] : counters_) {
    if (n == name) {
      v = value;
      return;
    }
  }
  counters_.emplace_back(name, value);
}

}  // namespace hsw::dpif
