// Port: one network interface as the forwarding loop sees it.
//
// The loop polls fd() for input, takes frames with Receive() (they stay valid,
// and writable in place, until ReleaseRx()), and sends with Send() in batches.
// Implementations: AfPacketPort (Linux interfaces through AF_PACKET);
// tests use their own in-memory ports.  Single-threaded: only the forwarding
// thread calls a port.
#pragma once

#include <cstdint>
#include <string>

#include "datapath/actions.h"
#include "dpif/dpif_protocol.h"

namespace hsw::dp {

// A frame to send.  `data` is borrowed for the duration of Send().
struct TxFrame {
  const uint8_t* data = nullptr;
  uint32_t size = 0;
  // Offload request carried with the frame: the receiver (or the kernel)
  // completes the L4 checksum (see Packet::csum_partial).
  bool csum_partial = false;
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;
  // GSO: the kernel segments the frame on output (see Packet).
  uint8_t gso_type = 0;
  uint16_t gso_size = 0;
  uint16_t hdr_len = 0;
};

struct RxCounters {
  uint64_t oversize = 0;  // frames larger than the port can take (over 64 KiB)
};

class Port {
 public:
  virtual ~Port() = default;

  // Descriptor to poll for POLLIN; -1 if the port has none.
  virtual int fd() const = 0;
  // A second descriptor to poll for POLLIN (-1 if none).
  virtual int aux_fd() const { return -1; }
  // Fills up to `max` packets; returns how many.  Frames the port had to drop
  // are counted in stats() and rx_counters(), never returned.
  virtual size_t Receive(Packet* packets, size_t max) = 0;
  // Gives back every frame returned by Receive() since the last release.
  virtual void ReleaseRx() = 0;
  // Called when poll() reports an error on fd() or aux_fd(): consumes the
  // pending socket error (or the loop would spin) and says what it was.
  virtual void HandlePollError() {}
  // Sends `n` frames; counts what was sent and dropped in stats().
  virtual void Send(const TxFrame* frames, size_t n) = 0;

  // Current facts about the interface (MTU, link state, address) and stats.
  virtual dpif::PortInfo Info() const = 0;
  virtual const std::string& name() const = 0;

  dpif::PortStats& stats() { return stats_; }
  const dpif::PortStats& stats() const { return stats_; }
  RxCounters& rx_counters() { return rx_counters_; }
  const RxCounters& rx_counters() const { return rx_counters_; }

 protected:
  dpif::PortStats stats_;
  RxCounters rx_counters_;
};

}  // namespace hsw::dp
