#include "datapath/miss_queue.h"

#include <gtest/gtest.h>

namespace hsw::dp {
namespace {

dpif::Upcall MakeUpcall(uint32_t port, size_t size) {
  dpif::Upcall u;
  u.in_port = port;
  u.key = FlowKey::Zero();
  u.key.in_port = port;
  u.packet.assign(size, static_cast<uint8_t>(port));
  return u;
}

TEST(MissQueue, FifoOrderAndQueuedTime) {
  MissQueue q;
  for (uint32_t i = 1; i <= 5; ++i) ASSERT_TRUE(q.Push(MakeUpcall(i, 60), i * 1000));
  EXPECT_EQ(q.n_packets(), 5u);
  EXPECT_EQ(q.n_bytes(), 300u);
  for (uint32_t i = 1; i <= 5; ++i) {
    auto u = q.Pop(10000);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->in_port, i);
    EXPECT_EQ(u->queued_us, 10000 - i * 1000);
  }
  EXPECT_FALSE(q.Pop(10000));
  EXPECT_EQ(q.counters().queued, 5u);
  EXPECT_EQ(q.counters().delivered, 5u);
  EXPECT_EQ(q.n_bytes(), 0u);
}

// An upcall stamped after the caller's `now` (the loop reads the clock once,
// Execute's userspace action reads it later) is young, not 2^64 us old.
TEST(MissQueue, EntryNewerThanNowIsNotExpired) {
  MissQueue q;
  ASSERT_TRUE(q.Push(MakeUpcall(1, 60), 5000));
  auto u = q.Pop(4000);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->queued_us, 0u);
  EXPECT_EQ(q.counters().dropped_age, 0u);
  EXPECT_EQ(q.counters().delivered, 1u);
}

TEST(MissQueue, PacketLimitDropsNewest) {
  MissQueue q({.max_packets = 3, .max_bytes = 1 << 20, .max_age_ms = 1000});
  for (uint32_t i = 1; i <= 5; ++i) q.Push(MakeUpcall(i, 10), 0);
  EXPECT_EQ(q.n_packets(), 3u);
  EXPECT_EQ(q.counters().dropped_packets, 2u);
  EXPECT_EQ(q.counters().queued, 3u);
  EXPECT_EQ(q.Pop(0)->in_port, 1u);
  EXPECT_TRUE(q.Push(MakeUpcall(6, 10), 0));  // room again
  EXPECT_EQ(q.Pop(0)->in_port, 2u);
  EXPECT_EQ(q.Pop(0)->in_port, 3u);
  EXPECT_EQ(q.Pop(0)->in_port, 6u);
}

TEST(MissQueue, ByteLimit) {
  MissQueue q({.max_packets = 100, .max_bytes = 250, .max_age_ms = 1000});
  EXPECT_TRUE(q.Push(MakeUpcall(1, 100), 0));
  EXPECT_TRUE(q.Push(MakeUpcall(2, 100), 0));
  EXPECT_FALSE(q.Push(MakeUpcall(3, 100), 0));
  EXPECT_TRUE(q.Push(MakeUpcall(4, 50), 0));  // still fits exactly
  EXPECT_FALSE(q.Push(MakeUpcall(5, 1), 0));
  EXPECT_EQ(q.counters().dropped_bytes, 2u);
  EXPECT_EQ(q.counters().dropped_packets, 0u);
  EXPECT_EQ(q.n_bytes(), 250u);
}

TEST(MissQueue, AgeLimitDropsFromHead) {
  MissQueue q({.max_packets = 100, .max_bytes = 1 << 20, .max_age_ms = 10});
  q.Push(MakeUpcall(1, 10), 0);
  q.Push(MakeUpcall(2, 10), 5000);
  q.Push(MakeUpcall(3, 10), 9000);
  auto u = q.Pop(12000);  // upcall 1 is 12 ms old: expired
  ASSERT_TRUE(u);
  EXPECT_EQ(u->in_port, 2u);
  EXPECT_EQ(q.counters().dropped_age, 1u);
  q.Expire(30000);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.counters().dropped_age, 2u);
  EXPECT_EQ(q.n_bytes(), 0u);
}

}  // namespace
}  // namespace hsw::dp
