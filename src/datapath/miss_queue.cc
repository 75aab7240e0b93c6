#include "datapath/miss_queue.h"

namespace hsw::dp {
namespace {

// Callers read the clock at different moments (the forwarding loop reads it
// once per pass, Execute's userspace action reads it again later), so an
// entry can be stamped after the `now` it is later compared with.  Unsigned
// subtraction would then wrap and expire a brand-new upcall.
uint64_t AgeUs(uint64_t now_us, uint64_t enqueued_us) {
  return now_us > enqueued_us ? now_us - enqueued_us : 0;
}

}  // namespace

bool MissQueue::Push(dpif::Upcall&& upcall, uint64_t now_us) {
  Expire(now_us);
  size_t size = SizeOf(upcall);
  if (entries_.size() >= limits_.max_packets) {
    ++counters_.dropped_packets;
    return false;
  }
  if (bytes_ + size > limits_.max_bytes) {
    ++counters_.dropped_bytes;
    return false;
  }
  bytes_ += size;
  entries_.push_back(Entry{std::move(upcall), now_us});
  ++counters_.queued;
  return true;
}

void MissQueue::Expire(uint64_t now_us) {
  uint64_t max_age_us = limits_.max_age_ms * 1000;
  while (!entries_.empty() && AgeUs(now_us, entries_.front().enqueued_us) > max_age_us) {
    bytes_ -= SizeOf(entries_.front().upcall);
    entries_.pop_front();
    ++counters_.dropped_age;
  }
}

std::optional<dpif::Upcall> MissQueue::Pop(uint64_t now_us) {
  Expire(now_us);
  if (entries_.empty()) return std::nullopt;
  Entry& e = entries_.front();
  dpif::Upcall upcall = std::move(e.upcall);
  upcall.queued_us = AgeUs(now_us, e.enqueued_us);
  bytes_ -= SizeOf(upcall);
  entries_.pop_front();
  ++counters_.delivered;
  return upcall;
}

std::vector<dpif::Upcall> MissQueue::Copy(uint64_t now_us) const {
  std::vector<dpif::Upcall> out;
  out.reserve(entries_.size());
  for (const Entry& e : entries_) {
    out.push_back(e.upcall);
    out.back().queued_us = AgeUs(now_us, e.enqueued_us);
  }
  return out;
}

}  // namespace hsw::dp
