#include "accounting.h"

#include <algorithm>
#include <bit>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace hsw::traffic {
namespace {

// A sender claims its flow count in every header; the receiver trusts it only
// this far, so that a corrupt header cannot make it allocate millions of flows.
constexpr uint32_t kMaxFlows = 65536;
// 10 ms buckets for a day; more would only be a corrupt clock.
constexpr size_t kMaxSeriesBuckets = 10'000'000;

constexpr int kLinearUs = 1024;
constexpr int kSubBuckets = 64;
constexpr int kMaxExponent = 40;

size_t LatencyBucket(int64_t us) {
  if (us < kLinearUs) return static_cast<size_t>(us);
  us = std::min<int64_t>(us, (int64_t{1} << (kMaxExponent + 1)) - 1);
  int exponent = static_cast<int>(std::bit_width(static_cast<uint64_t>(us))) - 1;
  uint64_t sub = (static_cast<uint64_t>(us) >> (exponent - 6)) & (kSubBuckets - 1);
  return kLinearUs + static_cast<size_t>(exponent - 10) * kSubBuckets + sub;
}

double LatencyBucketValueUs(size_t bucket) {
  if (bucket < static_cast<size_t>(kLinearUs)) return static_cast<double>(bucket);
  size_t rel = bucket - kLinearUs;
  int exponent = static_cast<int>(rel / kSubBuckets) + 10;
  uint64_t sub = rel % kSubBuckets;
  return static_cast<double>((uint64_t{1} << exponent) + (sub << (exponent - 6)));
}

}  // namespace

Accounting::Accounting(int64_t series_interval_ns) : series_interval_ns_(series_interval_ns) {}

Accounting::Flow& Accounting::FlowAt(uint32_t index) {
  if (index >= flows_.size()) flows_.resize(index + 1);
  return flows_[index];
}

Accounting::Verdict Accounting::Observe(const uint8_t* data, size_t size, int64_t rx_ns) {
  std::optional<Header> header = DecodeHeader(data, size);
  if (!header || header->n_flows > kMaxFlows) {
    ++foreign_;
    return Verdict::kForeign;
  }
  if (!locked_) {
    locked_ = true;
    run_id_ = header->run_id;
    n_flows_ = header->n_flows;
    flows_.resize(n_flows_);
  } else if (header->run_id != run_id_ || header->n_flows != n_flows_) {
    ++foreign_;
    return Verdict::kForeign;
  }
  Flow& flow = FlowAt(header->flow);

  if (header->is_end()) {
    flow.end_total = header->seq;
    return Verdict::kEnd;
  }

  // Gap and series count every data arrival, duplicates included: they are
  // what the link delivered at that moment.
  if (first_rx_ns_ < 0) first_rx_ns_ = rx_ns;
  if (last_rx_ns_ >= 0 && rx_ns - last_rx_ns_ > max_gap_ns_) {
    max_gap_ns_ = rx_ns - last_rx_ns_;
    max_gap_at_ns_ = last_rx_ns_ - first_rx_ns_;
  }
  last_rx_ns_ = std::max(last_rx_ns_, rx_ns);
  if (series_interval_ns_ > 0) {
    int64_t offset = std::max<int64_t>(0, rx_ns - first_rx_ns_);
    size_t bucket = static_cast<size_t>(offset / series_interval_ns_);
    if (bucket < kMaxSeriesBuckets) {
      if (bucket >= series_.size()) series_.resize(bucket + 1, 0);
      ++series_[bucket];
    }
  }

  uint64_t seq = header->seq;
  if (seq >= kMaxTrackedSeq) {
    ++out_of_range_;
    return Verdict::kForeign;
  }
  size_t word = seq / 64;
  uint64_t bit = uint64_t{1} << (seq % 64);
  if (word >= flow.seen.size()) {
    // Double so that a long run costs amortized O(1) per packet.
    flow.seen.resize(std::max(word + 1, flow.seen.size() * 2), 0);
  }
  if (flow.seen[word] & bit) {
    ++flow.duplicated;
    return Verdict::kDuplicate;
  }
  flow.seen[word] |= bit;
  ++flow.received;
  ++received_;
  if (static_cast<int64_t>(seq) < flow.max_seq) {
    ++flow.reordered;
  } else {
    flow.max_seq = static_cast<int64_t>(seq);
  }
  RecordLatency(rx_ns - static_cast<int64_t>(header->send_ns));
  return Verdict::kData;
}

void Accounting::RecordLatency(int64_t latency_ns) {
  // Clocks of two hosts may disagree; a negative latency says so, it is not data.
  int64_t us = std::max<int64_t>(0, latency_ns / 1000);
  size_t bucket = LatencyBucket(us);
  if (bucket >= latency_buckets_.size()) latency_buckets_.resize(bucket + 1, 0);
  ++latency_buckets_[bucket];
  ++latency_count_;
  latency_max_ns_ = std::max(latency_max_ns_, latency_ns);
}

double Accounting::LatencyPercentileUs(double fraction) const {
  if (latency_count_ == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(fraction * static_cast<double>(latency_count_ - 1));
  uint64_t seen = 0;
  for (size_t i = 0; i < latency_buckets_.size(); ++i) {
    seen += latency_buckets_[i];
    if (seen > rank) return LatencyBucketValueUs(i);
  }
  return LatencyBucketValueUs(latency_buckets_.size() - 1);
}

bool Accounting::AllEndsSeen() const {
  if (!locked_) return false;
  return std::all_of(flows_.begin(), flows_.end(),
                     [](const Flow& f) { return f.end_total.has_value(); });
}

Report Accounting::MakeReport() const {
  Report r;
  r.run_id = run_id_;
  r.n_flows = n_flows_;
  r.end_seen = AllEndsSeen();
  r.foreign = foreign_;
  r.out_of_range = out_of_range_;
  uint64_t sent_total = 0;
  for (uint32_t i = 0; i < flows_.size(); ++i) {
    const Flow& f = flows_[i];
    FlowReport fr;
    fr.flow = i;
    fr.sent = f.end_total;
    fr.end_seen = f.end_total.has_value();
    fr.received = f.received;
    fr.duplicated = f.duplicated;
    fr.reordered = f.reordered;
    uint64_t expected = f.end_total ? *f.end_total : static_cast<uint64_t>(f.max_seq + 1);
    // Packets beyond the announced total would be a sender bug; they do not
    // cancel out real losses below it.
    uint64_t in_range = f.received;
    if (f.end_total && f.max_seq >= 0 && static_cast<uint64_t>(f.max_seq) >= *f.end_total) {
      in_range = 0;
      for (uint64_t s = 0; s < *f.end_total && s / 64 < f.seen.size(); ++s) {
        if (f.seen[s / 64] & (uint64_t{1} << (s % 64))) ++in_range;
      }
    }
    fr.lost = expected > in_range ? expected - in_range : 0;
    if (f.end_total) sent_total += *f.end_total;
    r.received += fr.received;
    r.lost += fr.lost;
    r.duplicated += fr.duplicated;
    r.reordered += fr.reordered;
    r.flows.push_back(fr);
  }
  if (r.end_seen) r.sent = sent_total;
  r.max_gap_ms = static_cast<double>(max_gap_ns_) / 1e6;
  r.max_gap_at_ms = static_cast<double>(max_gap_at_ns_) / 1e6;
  if (first_rx_ns_ >= 0) {
    r.duration_s = static_cast<double>(last_rx_ns_ - first_rx_ns_) / 1e9;
    r.first_rx_unix_ns = first_rx_ns_;
  }
  r.latency_p50_us = LatencyPercentileUs(0.50);
  r.latency_p99_us = LatencyPercentileUs(0.99);
  r.latency_max_us = static_cast<double>(latency_max_ns_) / 1e3;
  return r;
}

std::string FormatSummary(const Report& r) {
  uint64_t expected = r.received + r.lost;
  double loss_pct = expected ? 100.0 * static_cast<double>(r.lost) / static_cast<double>(expected) : 0;
  std::string sent = r.sent ? fmt::format("{}", *r.sent) : std::string("?");
  return fmt::format(
      "hsw-traffic recv: sent {} received {} lost {} ({:.3f}%) duplicated {} reordered {} "
      "max-gap {:.2f} ms (at {:.0f} ms) over {:.2f} s, {} flow(s), {}",
      sent, r.received, r.lost, loss_pct, r.duplicated, r.reordered, r.max_gap_ms,
      r.max_gap_at_ms, r.duration_s, r.n_flows,
      r.end_seen ? "end marker seen"
                 : "NO end marker (tail loss cannot be counted)");
}

std::string FormatJson(const Report& r) {
  nlohmann::json j;
  j["run_id"] = fmt::format("{:016x}", r.run_id);
  j["flows"] = r.n_flows;
  j["end_seen"] = r.end_seen;
  j["sent"] = r.sent ? nlohmann::json(*r.sent) : nlohmann::json(nullptr);
  j["received"] = r.received;
  j["lost"] = r.lost;
  j["duplicated"] = r.duplicated;
  j["reordered"] = r.reordered;
  j["foreign"] = r.foreign;
  j["out_of_range"] = r.out_of_range;
  j["max_gap_ms"] = r.max_gap_ms;
  j["max_gap_at_ms"] = r.max_gap_at_ms;
  j["duration_s"] = r.duration_s;
  j["first_rx_unix_ns"] = r.first_rx_unix_ns;
  j["latency_us"] = {{"p50", r.latency_p50_us}, {"p99", r.latency_p99_us},
                     {"max", r.latency_max_us}};
  nlohmann::json flows = nlohmann::json::array();
  for (const FlowReport& f : r.flows) {
    flows.push_back({{"flow", f.flow},
                     {"sent", f.sent ? nlohmann::json(*f.sent) : nlohmann::json(nullptr)},
                     {"received", f.received},
                     {"lost", f.lost},
                     {"duplicated", f.duplicated},
                     {"reordered", f.reordered},
                     {"end_seen", f.end_seen}});
  }
  j["per_flow"] = std::move(flows);
  return j.dump();
}

std::string FormatSeriesCsv(const Accounting& accounting) {
  std::string out = "t_ms,packets\n";
  double step_ms = static_cast<double>(accounting.series_interval_ns()) / 1e6;
  const std::vector<uint32_t>& series = accounting.series();
  for (size_t i = 0; i < series.size(); ++i) {
    out += fmt::format("{:g},{}\n", static_cast<double>(i) * step_ms, series[i]);
  }
  return out;
}

}  // namespace hsw::traffic
