// Datapath: the forwarding engine of hsw-datapath.  It owns the ports, the
// megaflow cache and the miss queue, and runs the forwarding loop:
//
//   poll(ports, control connections)
//   for each port: receive a batch (<= 32 frames) from its ring
//                  extract keys, look up the megaflow cache
//                  hits: update flow stats, run actions (outputs are queued)
//                  misses: complete checksums, queue an upcall
//                  send every queued output with one sendmmsg per port
//                  release the ring frames (outputs may point into them)
//   serve the control socket for a bounded amount of work (DpServer)
//
// One thread does all of this.  That is a deliberate choice: lookups take no
// lock at all, flow updates happen between packet batches, and the control
// work per iteration is bounded (the server splits large batches), so a big
// FlowPut never stops forwarding for long.  poll() rather than busy polling:
// on the reference machine it matched busy polling at every rate.
//
// Ports and flows know only datapath port numbers: there is no OpenFlow here.
#pragma once

#include <poll.h>
#include <signal.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/result.h"
#include "datapath/actions.h"
#include "datapath/megaflow_cache.h"
#include "datapath/miss_queue.h"
#include "datapath/ports/af_packet_port.h"
#include "datapath/ports/port.h"
#include "dpif/dpif_protocol.h"

namespace hsw::dp {

class DpServer;

// Something else the forwarding loop serves between batches (the handover
// server): its descriptors join the ports' and the DpServer's in ppoll().
class LoopTask {
 public:
  virtual ~LoopTask() = default;
  virtual void AppendPollFds(std::vector<pollfd>& fds) = 0;
  virtual bool HasPendingWork() const = 0;
  virtual void Process(std::span<pollfd> fds) = 0;
};

struct DatapathOptions {
  MissQueueLimits miss_queue;
  MegaflowCacheOptions cache;
  AfPacketOptions af_packet;
  // Tests: a datapath that starts and takes over fine but fails every
  // Execute, i.e. an upgrade that must fail its health check.
  bool fail_execute_for_testing = false;
};

// CLOCK_MONOTONIC in microseconds / milliseconds.
uint64_t MonotonicUs();
inline uint64_t MonotonicMs() { return MonotonicUs() / 1000; }

class Datapath : private OutputSink {
 public:
  static constexpr size_t kRxBatch = 32;
  static constexpr size_t kTxQueueSize = 64;

  explicit Datapath(DatapathOptions options = {});
  ~Datapath() override;
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;

  // Opens `name` as a port of `type` with number `port_no` (0 = the lowest
  // free number from 1): "af_packet" or "" opens an existing interface,
  // "internal" creates a tap device of that name (TapPort), which DelPort
  // removes again.
  Result<uint32_t> AddPort(const std::string& name, const std::string& type, uint32_t port_no);
  // Adds an already-open port (tests use in-memory ports).
  Result<uint32_t> AddPort(std::unique_ptr<Port> port, uint32_t port_no);
  Status DelPort(uint32_t port_no);
  std::vector<dpif::PortInfo> ListPorts() const;
  // Every port with its number, in no particular order (the handover).
  void ForEachPort(const std::function<void(uint32_t, Port&)>& fn);
  size_t n_ports() const { return ports_.size(); }

  MegaflowCache& flows() { return flows_; }
  MissQueue& miss_queue() { return miss_queue_; }

  // Runs `actions` on a copy of the frame as if received on in_port; outputs
  // are sent before this returns.
  Status Execute(const dpif::Execute& execute);

  // Processes received packets (the loop calls this for every port batch;
  // tests call it directly).  Outputs are queued: call FlushTx() after.
  void ProcessPackets(uint32_t in_port, Packet* packets, size_t n);
  void FlushTx();

  // Named counters for StatsGet, in a stable order (docs/dpif-protocol.md).
  std::vector<std::pair<std::string, uint64_t>> Counters() const;

  // The forwarding loop; returns when stop() is true.  Signals in
  // `poll_sigmask`'s complement are delivered only while waiting in ppoll(),
  // so a handler that makes stop() true is never missed.
  void Run(DpServer* server, LoopTask* task, const sigset_t* poll_sigmask,
           const std::function<bool()>& stop);

 private:
  struct TxQueue {
    std::vector<TxFrame> frames;
    std::vector<uint8_t> arena;  // copies of outputs whose packet changes afterwards
    size_t arena_used = 0;
  };
  struct PortEntry {
    uint32_t port_no;
    std::unique_ptr<Port> port;
    TxQueue tx;
  };

  // OutputSink
  void Output(uint32_t port, const Packet& packet, bool may_reference) override;
  void Userspace(const Packet& packet, std::span<const uint8_t> userdata) override;

  size_t PollPort(PortEntry& entry);
  void Flush(PortEntry& entry);

  DatapathOptions options_;
  MegaflowCache flows_;
  MissQueue miss_queue_;
  std::unordered_map<uint32_t, std::unique_ptr<PortEntry>> ports_;
  ActionCounters action_counters_;
  uint32_t current_in_port_ = 0;
  uint64_t batch_now_us_ = 0;
  std::vector<uint8_t> exec_buffer_;
  Packet rx_packets_[kRxBatch];

  struct Drops {
    uint64_t flow_drop = 0;            // a flow's actions were empty
    uint64_t output_invalid_port = 0;  // output to a port that does not exist
  } drops_;
  uint64_t n_executed_ = 0;
  uint64_t n_loops_ = 0;
  uint64_t removed_rx_oversize_ = 0;  // from ports that are gone
};

}  // namespace hsw::dp
