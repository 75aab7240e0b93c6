// The miss queue: upcalls waiting for the owner (hsw-vswitchd).
//
// A packet that matches no megaflow (and a packet sent to a DpUserspace
// action) becomes an upcall.  Upcalls wait here, oldest first, until the
// server hands them to the owning client, so that misses during a restart of
// hsw-vswitchd are not lost but delivered when the new one connects.  The
// queue is bounded three ways, each with its own drop counter: packets,
// bytes (of packet data) and age.  When a limit is reached the arriving
// upcall is dropped (tail drop): the ones already waiting are older and
// closer to being served.  Expired upcalls are dropped from the head.
//
// Single-threaded (the forwarding loop).  Enqueueing allocates (the upcall
// owns a copy of the packet), which is acceptable on the miss path: the
// forwarding fast path (megaflow hits) never gets here.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>
#include <optional>

#include "dpif/dpif_protocol.h"

namespace hsw::dp {

struct MissQueueLimits {
  size_t max_packets = 8192;
  size_t max_bytes = 64u << 20;
  uint64_t max_age_ms = 30000;
};

class MissQueue {
 public:
  explicit MissQueue(MissQueueLimits limits = {}) : limits_(limits) {}

  // Queues `upcall` received at `now_us` (CLOCK_MONOTONIC); false if dropped.
  bool Push(dpif::Upcall&& upcall, uint64_t now_us);
  // Drops upcalls older than max_age at `now_us`.
  void Expire(uint64_t now_us);
  // The oldest upcall that is not expired, with queued_us filled in.
  std::optional<dpif::Upcall> Pop(uint64_t now_us);

  // Handover (datapath/handover.h): copies of the waiting upcalls, oldest
  // first, queued_us filled in.  The queue keeps them: should the successor
  // fail, they are still here to deliver.
  std::vector<dpif::Upcall> Copy(uint64_t now_us) const;

  bool empty() const { return entries_.empty(); }
  size_t n_packets() const { return entries_.size(); }
  size_t n_bytes() const { return bytes_; }
  const MissQueueLimits& limits() const { return limits_; }

  struct Counters {
    uint64_t queued = 0;
    uint64_t delivered = 0;
    uint64_t dropped_packets = 0;  // the packet limit was reached
    uint64_t dropped_bytes = 0;    // the byte limit was reached
    uint64_t dropped_age = 0;      // waited longer than max_age
  };
  const Counters& counters() const { return counters_; }

 private:
  struct Entry {
    dpif::Upcall upcall;
    uint64_t enqueued_us;
  };
  static size_t SizeOf(const dpif::Upcall& u) { return u.packet.size() + u.userdata.size(); }

  MissQueueLimits limits_;
  std::deque<Entry> entries_;
  size_t bytes_ = 0;
  Counters counters_;
};

}  // namespace hsw::dp
