// Receiver-side accounting for hsw-traffic: what arrived, what was lost,
// duplicated or reordered, and how long traffic stopped.
//
// Kept free of sockets and clocks (times are passed in) so that every rule
// below is unit-tested (tests/unit/traffic/accounting_test.cc):
//
//  - The receiver locks onto the run id of the first valid packet; packets of
//    any other run, and payloads that are not hsw-traffic's, count as foreign.
//  - Per flow, a bitmap of seen sequence numbers makes duplicates exact.  A
//    packet whose sequence number is below the highest already seen (and not
//    a duplicate) is reordered; it still counts as received.
//  - lost = expected - received, where expected is the end marker's count when
//    the end marker arrived, else (highest sequence seen + 1): without an end
//    marker a lost tail cannot be seen, and the report says so (end_seen).
//  - A flow of which nothing arrived still counts: n_flows in every header and
//    the end marker's total over all flows tell the receiver it exists.
//  - The longest gap is between consecutive data arrivals of any flow (what a
//    user of the link would notice), with its position in the run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "wire.h"

namespace hsw::traffic {

struct FlowReport {
  uint32_t flow = 0;
  std::optional<uint64_t> sent;  // from the end marker
  uint64_t received = 0;         // distinct sequence numbers
  uint64_t lost = 0;
  uint64_t duplicated = 0;
  uint64_t reordered = 0;
  bool end_seen = false;
};

struct Report {
  uint64_t run_id = 0;
  uint32_t n_flows = 0;
  bool end_seen = false;          // every flow's end marker arrived
  std::optional<uint64_t> sent;   // total over flows, when every end marker arrived
  uint64_t received = 0;
  uint64_t lost = 0;
  uint64_t duplicated = 0;
  uint64_t reordered = 0;
  uint64_t foreign = 0;           // other runs, not hsw-traffic, too short
  uint64_t out_of_range = 0;      // sequence numbers too large to track
  double max_gap_ms = 0;          // longest time between consecutive data arrivals
  double max_gap_at_ms = 0;       // when that gap started, from the first arrival
  double duration_s = 0;          // first to last data arrival
  int64_t first_rx_unix_ns = 0;   // CLOCK_REALTIME of the first data arrival (0: none)
  double latency_p50_us = 0;      // one-way, sender's clock vs receiver's clock
  double latency_p99_us = 0;
  double latency_max_us = 0;
  std::vector<FlowReport> flows;
};

class Accounting {
 public:
  enum class Verdict { kData, kDuplicate, kEnd, kForeign };

  // `series_interval_ns` > 0 keeps a count of data arrivals per interval.
  explicit Accounting(int64_t series_interval_ns = 10'000'000);

  // Accounts one UDP payload received at `rx_ns` (CLOCK_REALTIME, ns).
  Verdict Observe(const uint8_t* data, size_t size, int64_t rx_ns);

  // True once the end marker of every flow of the run has arrived.
  bool AllEndsSeen() const;
  // Distinct data packets received so far.
  uint64_t received() const { return received_; }

  Report MakeReport() const;

  // Data arrivals per series interval, from the first data arrival.
  const std::vector<uint32_t>& series() const { return series_; }
  int64_t series_interval_ns() const { return series_interval_ns_; }

  // Bitmaps grow with the highest sequence number; beyond this the packet is
  // counted in out_of_range rather than allocating without bound (a bogus
  // header must not exhaust memory).
  static constexpr uint64_t kMaxTrackedSeq = uint64_t{1} << 32;

 private:
  struct Flow {
    std::vector<uint64_t> seen;  // bitmap of sequence numbers
    int64_t max_seq = -1;
    uint64_t received = 0;
    uint64_t duplicated = 0;
    uint64_t reordered = 0;
    std::optional<uint64_t> end_total;
  };

  Flow& FlowAt(uint32_t index);
  void RecordLatency(int64_t latency_ns);
  double LatencyPercentileUs(double fraction) const;

  bool locked_ = false;
  uint64_t run_id_ = 0;
  uint32_t n_flows_ = 0;
  std::vector<Flow> flows_;
  uint64_t received_ = 0;
  uint64_t foreign_ = 0;
  uint64_t out_of_range_ = 0;

  int64_t first_rx_ns_ = -1;
  int64_t last_rx_ns_ = -1;
  int64_t max_gap_ns_ = 0;
  int64_t max_gap_at_ns_ = 0;

  // Latency histogram in microseconds, log-linear: exact below 1024 us,
  // then 64 sub-buckets per power of two (under 2% error).
  std::vector<uint64_t> latency_buckets_;
  uint64_t latency_count_ = 0;
  int64_t latency_max_ns_ = 0;

  int64_t series_interval_ns_;
  std::vector<uint32_t> series_;
};

// "sent 1000 received 1000 lost 0 (0.000%) dup 0 reordered 0 max-gap 1.02 ms ..."
std::string FormatSummary(const Report& report);
// One JSON object, the same figures plus per-flow detail.
std::string FormatJson(const Report& report);
// "t_ms,packets" lines, one per series interval.
std::string FormatSeriesCsv(const Accounting& accounting);

}  // namespace hsw::traffic
