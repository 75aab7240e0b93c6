#include "datapath/datapath.h"

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "common/log.h"
#include "datapath/dp_server.h"
#include "datapath/ports/tap_port.h"
#include "packet/flow_extract.h"

namespace hsw::dp {
namespace {

const log::Module vlog("datapath");

constexpr size_t kTxSlotSize = 2048;
constexpr size_t kExecHeadroom = 64;
constexpr size_t kMaxExecuteSize = 65535;

}  // namespace

uint64_t MonotonicUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

Datapath::Datapath(DatapathOptions options)
    : options_(options), flows_(options.cache), miss_queue_(options.miss_queue) {
  exec_buffer_.resize(kExecHeadroom + kMaxExecuteSize);
}

Datapath::~Datapath() {
  // Closing an AF_PACKET socket waits for an RCU grace period or two in the
  // kernel (synchronize_net), hundreds of milliseconds on a busy machine.
  // Closing every socket on its own thread lets those waits overlap, so a
  // datapath with many ports still exits promptly.
  std::vector<std::thread> closers;
  for (auto& [no, entry] : ports_) {
    closers.emplace_back([port = std::move(entry->port)]() mutable { port.reset(); });
  }
  for (auto& t : closers) t.join();
}

Result<uint32_t> Datapath::AddPort(const std::string& name, const std::string& type,
                                   uint32_t port_no) {
  const bool internal = type == TapPort::kType;
  if (!type.empty() && type != "af_packet" && !internal) {
    return MakeError(fmt::format("port {}: unsupported port type '{}' (supported: af_packet, {})",
                                 name, type, TapPort::kType),
                     EINVAL);
  }
  for (const auto& [no, entry] : ports_) {
    if (entry->port->name() == name) {
      return MakeError(fmt::format("{} is already port {}", name, no), EEXIST);
    }
  }
  if (port_no != 0 && ports_.count(port_no)) {
    return MakeError(fmt::format("port number {} is in use by {}", port_no,
                                 ports_.at(port_no)->port->name()),
                     EEXIST);
  }
  if (internal) {
    // The datapath creates the device and holds it (tap_port.h).
    auto tap = TapPort::Create(name);
    if (!tap) return tl::unexpected(tap.error());
    return AddPort(std::move(*tap), port_no);
  }
  auto port = AfPacketPort::Open(name, options_.af_packet);
  if (!port) return tl::unexpected(port.error());
  return AddPort(std::move(*port), port_no);
}

Result<uint32_t> Datapath::AddPort(std::unique_ptr<Port> port, uint32_t port_no) {
  if (port_no == 0) {
    port_no = 1;
    while (ports_.count(port_no)) ++port_no;
  } else if (ports_.count(port_no)) {
    return MakeError(fmt::format("port number {} is in use", port_no), EEXIST);
  }
  auto entry = std::make_unique<PortEntry>();
  entry->port_no = port_no;
  entry->port = std::move(port);
  entry->tx.frames.reserve(kTxQueueSize);
  entry->tx.arena.resize(kTxQueueSize * kTxSlotSize);
  vlog.Info("port {} added as datapath port {}", entry->port->name(), port_no);
  ports_[port_no] = std::move(entry);
  return port_no;
}

Status Datapath::DelPort(uint32_t port_no) {
  auto it = ports_.find(port_no);
  if (it == ports_.end()) return MakeError(fmt::format("no datapath port {}", port_no), ENOENT);
  // Nothing can be queued here: queues are flushed at the end of every batch
  // and control requests run between batches.
  removed_rx_oversize_ += it->second->port->rx_counters().oversize;
  vlog.Info("port {} (datapath port {}) removed", it->second->port->name(), port_no);
  ports_.erase(it);
  return Ok();
}

std::vector<dpif::PortInfo> Datapath::ListPorts() const {
  std::vector<dpif::PortInfo> out;
  for (const auto& [no, entry] : ports_) {
    dpif::PortInfo info = entry->port->Info();
    info.port_no = no;
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.port_no < b.port_no; });
  return out;
}

void Datapath::Output(uint32_t port_no, const Packet& packet, bool may_reference) {
  auto it = ports_.find(port_no);
  if (it == ports_.end()) {
    ++drops_.output_invalid_port;
    return;
  }
  PortEntry& entry = *it->second;
  TxQueue& tx = entry.tx;
  if (tx.frames.size() >= kTxQueueSize) Flush(entry);
  TxFrame frame{packet.data,        packet.size,       packet.csum_partial, packet.csum_start,
                packet.csum_offset, packet.gso_type,   packet.gso_size,     packet.hdr_len};
  if (!may_reference) {
    if (packet.size > kTxSlotSize) {
      // Too big for a copy slot: send it now, while the bytes are as wanted.
      Flush(entry);
      entry.port->Send(&frame, 1);
      return;
    }
    if (tx.arena_used + kTxSlotSize > tx.arena.size()) Flush(entry);
    uint8_t* copy = tx.arena.data() + tx.arena_used;
    std::memcpy(copy, packet.data, packet.size);
    tx.arena_used += kTxSlotSize;
    frame.data = copy;
  }
  tx.frames.push_back(frame);
}

void Datapath::Userspace(const Packet& packet, std::span<const uint8_t> userdata) {
  dpif::Upcall upcall;
  upcall.type = dpif::UpcallType::kAction;
  upcall.in_port = current_in_port_;
  ExtractFlow(packet.data, packet.size, current_in_port_, &upcall.key);
  upcall.userdata.assign(userdata.begin(), userdata.end());
  upcall.packet.assign(packet.data, packet.data + packet.size);
  miss_queue_.Push(std::move(upcall), batch_now_us_ ? batch_now_us_ : MonotonicUs());
}

void Datapath::Flush(PortEntry& entry) {
  TxQueue& tx = entry.tx;
  if (!tx.frames.empty()) entry.port->Send(tx.frames.data(), tx.frames.size());
  tx.frames.clear();
  tx.arena_used = 0;
}

void Datapath::FlushTx() {
  for (auto& [no, entry] : ports_) Flush(*entry);
}

void Datapath::ProcessPackets(uint32_t in_port, Packet* packets, size_t n) {
  batch_now_us_ = MonotonicUs();
  uint64_t now_ms = batch_now_us_ / 1000;
  current_in_port_ = in_port;
  for (size_t i = 0; i < n; ++i) {
    Packet& packet = packets[i];
    FlowKey key;
    HeaderOffsets offsets;
    ExtractFlow(packet.data, packet.size, in_port, &key, &offsets);
    Megaflow* flow = flows_.Lookup(key);
    if (!flow) {
      // The owner sees what a receiver would see: a complete checksum.
      if (!CompleteChecksum(packet)) {
        ++action_counters_.csum_complete_failed;
        continue;
      }
      dpif::Upcall upcall;
      upcall.type = dpif::UpcallType::kMiss;
      upcall.in_port = in_port;
      upcall.key = key;
      upcall.packet.assign(packet.data, packet.data + packet.size);
      miss_queue_.Push(std::move(upcall), batch_now_us_);
      continue;
    }
    flow->Hit(packet.size, now_ms, key.tcp_flags);
    if (flow->actions.empty()) {
      ++drops_.flow_drop;
      continue;
    }
    ExecuteActions(flow->actions, packet, key, offsets, *this, action_counters_);
  }
  batch_now_us_ = 0;
}

Status Datapath::Execute(const dpif::Execute& execute) {
  if (options_.fail_execute_for_testing) {
    return MakeError("execute: refused (--test-fail-execute)", EIO);
  }
  if (execute.packet.empty() || execute.packet.size() > kMaxExecuteSize) {
    return MakeError(fmt::format("execute: packet of {} bytes (must be 1..{})",
                                 execute.packet.size(), kMaxExecuteSize),
                     EINVAL);
  }
  std::string invalid = ValidateActions(execute.actions);
  if (!invalid.empty()) return MakeError("execute: " + invalid, EINVAL);
  std::memcpy(exec_buffer_.data() + kExecHeadroom, execute.packet.data(), execute.packet.size());
  Packet packet;
  packet.data = exec_buffer_.data() + kExecHeadroom;
  packet.size = static_cast<uint32_t>(execute.packet.size());
  packet.headroom = kExecHeadroom;
  FlowKey key;
  HeaderOffsets offsets;
  ExtractFlow(packet.data, packet.size, execute.in_port, &key, &offsets);
  current_in_port_ = execute.in_port;
  ExecuteActions(execute.actions, packet, key, offsets, *this, action_counters_);
  FlushTx();
  ++n_executed_;
  return Ok();
}

size_t Datapath::PollPort(PortEntry& entry) {
  size_t n = entry.port->Receive(rx_packets_, kRxBatch);
  if (n > 0) ProcessPackets(entry.port_no, rx_packets_, n);
  // Outputs may point into this port's ring frames: send before releasing.
  FlushTx();
  entry.port->ReleaseRx();
  return n;
}

std::vector<std::pair<std::string, uint64_t>> Datapath::Counters() const {
  const auto& c = flows_.counters();
  const auto& q = miss_queue_.counters();
  uint64_t rx = 0, tx = 0, rx_dropped = 0, tx_dropped = 0, oversize = removed_rx_oversize_;
  for (const auto& [no, entry] : ports_) {
    const auto& s = entry->port->stats();
    rx += s.rx_packets;
    tx += s.tx_packets;
    rx_dropped += s.rx_dropped;
    tx_dropped += s.tx_dropped + s.tx_errors;
    oversize += entry->port->rx_counters().oversize;
  }
  return {
      {"lookups_emc_hit", c.emc_hits},
      {"lookups_megaflow_hit", c.megaflow_hits},
      {"lookups_miss", c.misses},
      {"miss_queue_queued", q.queued},
      {"miss_queue_delivered", q.delivered},
      {"miss_queue_dropped_packets", q.dropped_packets},
      {"miss_queue_dropped_bytes", q.dropped_bytes},
      {"miss_queue_dropped_age", q.dropped_age},
      {"miss_queue_packets", miss_queue_.n_packets()},
      {"miss_queue_bytes", miss_queue_.n_bytes()},
      {"n_flows", flows_.n_flows()},
      {"n_masks", flows_.n_masks()},
      {"n_ports", ports_.size()},
      {"rx_packets", rx},
      {"tx_packets", tx},
      {"executed", n_executed_},
      {"drops_flow_action_drop", drops_.flow_drop},
      {"drops_output_invalid_port", drops_.output_invalid_port},
      {"drops_rx_oversize", oversize},
      {"drops_rx_ring_full", rx_dropped - std::min(rx_dropped, oversize)},
      {"drops_tx", tx_dropped},
      {"drops_csum_incomplete", action_counters_.csum_complete_failed},
      {"drops_push_vlan_no_room", action_counters_.push_vlan_no_room},
      {"set_field_skipped", action_counters_.set_field_skipped},
      {"loop_iterations", n_loops_},
  };
}

void Datapath::ForEachPort(const std::function<void(uint32_t, Port&)>& fn) {
  for (auto& [no, entry] : ports_) fn(no, *entry->port);
}

void Datapath::Run(DpServer* server, LoopTask* task, const sigset_t* poll_sigmask,
                   const std::function<bool()>& stop) {
  std::vector<pollfd> fds;
  std::vector<PortEntry*> polled;
  std::vector<std::pair<size_t, PortEntry*>> port_fds;  // index in fds -> its port
  bool busy = false;
  while (!stop()) {
    ++n_loops_;
    fds.clear();
    polled.clear();
    port_fds.clear();
    for (auto& [no, entry] : ports_) {
      for (int fd : {entry->port->fd(), entry->port->aux_fd()}) {
        if (fd < 0) continue;
        port_fds.emplace_back(fds.size(), entry.get());
        fds.push_back(pollfd{fd, POLLIN, 0});
      }
      polled.push_back(entry.get());
    }
    size_t server_base = fds.size();
    if (server) server->AppendPollFds(fds);
    size_t task_base = fds.size();
    if (task) task->AppendPollFds(fds);
    // Sleep only when nothing is left to do; the 100 ms cap lets the miss
    // queue's age limit and the server's housekeeping run on idle ports.
    bool more = busy || (server && server->HasPendingWork()) || (task && task->HasPendingWork());
    timespec timeout{0, more ? 0 : 100 * 1000 * 1000};
    int ready = ppoll(fds.data(), fds.size(), &timeout, poll_sigmask);
    if (ready < 0 && errno != EINTR) {
      static log::RateLimit rl(1);
      if (rl.Allow()) vlog.Err("ppoll: {}", std::strerror(errno));
    }
    if (ready < 0) continue;  // a signal: check stop() first
    busy = false;
    for (auto [index, entry] : port_fds) {
      if (fds[index].revents & (POLLERR | POLLNVAL)) entry->port->HandlePollError();
    }
    // Every port is tried, readable or not: a ring check is one load, and a
    // ring that was left with frames after a full batch has no new event.
    for (PortEntry* entry : polled) {
      if (PollPort(*entry) == kRxBatch) busy = true;
    }
    if (server) {
      server->Process(std::span<pollfd>(fds).subspan(server_base, task_base - server_base),
                      MonotonicUs());
    }
    if (task) task->Process(std::span<pollfd>(fds).subspan(task_base));
  }
}

}  // namespace hsw::dp
