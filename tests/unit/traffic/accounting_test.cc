// hsw-traffic's receiver accounting: the figures that restart tests assert on
// (lost, duplicated, reordered, longest gap) must be exact.
#include "accounting.h"

#include <gtest/gtest.h>

#include <vector>

#include "wire.h"

namespace hsw::traffic {
namespace {

constexpr int64_t kMs = 1'000'000;

class AccountingTest : public ::testing::Test {
 protected:
  Accounting::Verdict Data(uint32_t flow, uint64_t seq, int64_t rx_ns, uint32_t n_flows = 1,
                           uint64_t run = 42) {
    Header h;
    h.run_id = run;
    h.flow = flow;
    h.n_flows = n_flows;
    h.seq = seq;
    h.send_ns = static_cast<uint64_t>(rx_ns - 10'000);  // 10 us one-way
    return Feed(h, rx_ns);
  }
  Accounting::Verdict End(uint32_t flow, uint64_t total, uint32_t n_flows = 1, uint64_t run = 42) {
    Header h;
    h.flags = kFlagEnd;
    h.run_id = run;
    h.flow = flow;
    h.n_flows = n_flows;
    h.seq = total;
    return Feed(h, 0);
  }
  Accounting::Verdict Feed(const Header& h, int64_t rx_ns) {
    std::vector<uint8_t> buf(64, 0);
    EncodeHeader(h, buf.data());
    return acc_.Observe(buf.data(), buf.size(), rx_ns);
  }

  Accounting acc_{10 * kMs};
};

TEST(WireTest, RoundTrip) {
  Header h;
  h.flags = kFlagEnd;
  h.run_id = 0x0102030405060708;
  h.flow = 3;
  h.n_flows = 4;
  h.seq = 1234567890123;
  h.send_ns = 99;
  h.total_sent = 77;
  uint8_t buf[kHeaderSize];
  EncodeHeader(h, buf);
  EXPECT_EQ(buf[0], 'H');  // network byte order: readable in a capture
  EXPECT_EQ(buf[3], 'T');
  std::optional<Header> d = DecodeHeader(buf, sizeof buf);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->is_end());
  EXPECT_EQ(d->run_id, h.run_id);
  EXPECT_EQ(d->flow, 3u);
  EXPECT_EQ(d->n_flows, 4u);
  EXPECT_EQ(d->seq, h.seq);
  EXPECT_EQ(d->send_ns, 99u);
  EXPECT_EQ(d->total_sent, 77u);
}

TEST(WireTest, RejectsShortForeignAndInconsistent) {
  Header h;
  uint8_t buf[kHeaderSize];
  EncodeHeader(h, buf);
  EXPECT_FALSE(DecodeHeader(buf, kHeaderSize - 1));
  uint8_t bad_magic[kHeaderSize];
  std::copy(buf, buf + kHeaderSize, bad_magic);
  bad_magic[0] ^= 0xff;
  EXPECT_FALSE(DecodeHeader(bad_magic, sizeof bad_magic));
  h.flow = 2;
  h.n_flows = 2;  // flow index must be below the flow count
  EncodeHeader(h, buf);
  EXPECT_FALSE(DecodeHeader(buf, sizeof buf));
}

TEST_F(AccountingTest, InOrderRunWithEndMarkerIsLossless) {
  for (uint64_t s = 0; s < 100; ++s) EXPECT_EQ(Data(0, s, s * kMs), Accounting::Verdict::kData);
  EXPECT_FALSE(acc_.AllEndsSeen());
  EXPECT_EQ(End(0, 100), Accounting::Verdict::kEnd);
  EXPECT_TRUE(acc_.AllEndsSeen());
  Report r = acc_.MakeReport();
  EXPECT_TRUE(r.end_seen);
  ASSERT_TRUE(r.sent);
  EXPECT_EQ(*r.sent, 100u);
  EXPECT_EQ(r.received, 100u);
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.duplicated, 0u);
  EXPECT_EQ(r.reordered, 0u);
  EXPECT_DOUBLE_EQ(r.max_gap_ms, 1.0);
  EXPECT_DOUBLE_EQ(r.duration_s, 0.099);
  EXPECT_DOUBLE_EQ(r.latency_p50_us, 10);
}

TEST_F(AccountingTest, ReportsWhenTheFirstDataArrived) {
  EXPECT_EQ(acc_.MakeReport().first_rx_unix_ns, 0);  // nothing yet
  Data(0, 0, 5 * kMs);
  Data(0, 1, 7 * kMs);
  EXPECT_EQ(acc_.MakeReport().first_rx_unix_ns, 5 * kMs);
}

TEST_F(AccountingTest, TailLossIsCountedOnlyThanksToTheEndMarker) {
  for (uint64_t s = 0; s < 90; ++s) Data(0, s, s * kMs);
  EXPECT_EQ(acc_.MakeReport().lost, 0u);  // without the marker the tail is invisible
  EXPECT_FALSE(acc_.MakeReport().end_seen);
  End(0, 100);
  EXPECT_EQ(acc_.MakeReport().lost, 10u);
}

TEST_F(AccountingTest, GapsDuplicatesAndReordering) {
  Data(0, 0, 0);
  Data(0, 1, 1 * kMs);
  Data(0, 4, 2 * kMs);   // 2 and 3 late
  Data(0, 2, 3 * kMs);   // reordered
  EXPECT_EQ(Data(0, 2, 4 * kMs), Accounting::Verdict::kDuplicate);
  Data(0, 5, 54 * kMs);  // 50 ms outage before this one
  End(0, 7);             // 3 and 6 never arrive
  Report r = acc_.MakeReport();
  EXPECT_EQ(r.received, 5u);
  EXPECT_EQ(r.duplicated, 1u);
  EXPECT_EQ(r.reordered, 1u);
  EXPECT_EQ(r.lost, 2u);
  EXPECT_DOUBLE_EQ(r.max_gap_ms, 50.0);
  EXPECT_DOUBLE_EQ(r.max_gap_at_ms, 4.0);
}

TEST_F(AccountingTest, EveryFlowIsAccountedEvenOneThatDeliveredNothing) {
  // Three flows; flow 2 loses everything, yet its end marker tells how much.
  for (uint64_t s = 0; s < 10; ++s) {
    Data(0, s, s * kMs, 3);
    Data(1, s, s * kMs, 3);
  }
  End(0, 10, 3);
  End(1, 10, 3);
  EXPECT_FALSE(acc_.AllEndsSeen());
  End(2, 10, 3);
  EXPECT_TRUE(acc_.AllEndsSeen());
  Report r = acc_.MakeReport();
  ASSERT_EQ(r.flows.size(), 3u);
  EXPECT_EQ(*r.sent, 30u);
  EXPECT_EQ(r.received, 20u);
  EXPECT_EQ(r.lost, 10u);
  EXPECT_EQ(r.flows[2].lost, 10u);
  EXPECT_EQ(r.flows[0].lost, 0u);
}

TEST_F(AccountingTest, SameSequenceOnDifferentFlowsIsNotADuplicate) {
  EXPECT_EQ(Data(0, 0, 0, 2), Accounting::Verdict::kData);
  EXPECT_EQ(Data(1, 0, 0, 2), Accounting::Verdict::kData);
  EXPECT_EQ(acc_.MakeReport().duplicated, 0u);
}

TEST_F(AccountingTest, OtherRunsAndGarbageAreForeign) {
  Data(0, 0, 0, 1, /*run=*/1);
  EXPECT_EQ(Data(0, 1, kMs, 1, /*run=*/2), Accounting::Verdict::kForeign);
  uint8_t junk[100] = {1, 2, 3};
  EXPECT_EQ(acc_.Observe(junk, sizeof junk, 0), Accounting::Verdict::kForeign);
  EXPECT_EQ(End(0, 1, 1, /*run=*/2), Accounting::Verdict::kForeign);
  EXPECT_FALSE(acc_.AllEndsSeen());
  Report r = acc_.MakeReport();
  EXPECT_EQ(r.foreign, 3u);
  EXPECT_EQ(r.received, 1u);
}

TEST_F(AccountingTest, HugeSequenceNumberDoesNotAllocateWithoutBound) {
  EXPECT_EQ(Data(0, Accounting::kMaxTrackedSeq, 0), Accounting::Verdict::kForeign);
  EXPECT_EQ(acc_.MakeReport().out_of_range, 1u);
}

TEST_F(AccountingTest, SeriesCountsArrivalsPerInterval) {
  Data(0, 0, 1000 * kMs);
  Data(0, 1, 1005 * kMs);
  Data(0, 2, 1025 * kMs);
  const std::vector<uint32_t>& s = acc_.series();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0], 2u);
  EXPECT_EQ(s[1], 0u);
  EXPECT_EQ(s[2], 1u);
  EXPECT_EQ(FormatSeriesCsv(acc_), "t_ms,packets\n0,2\n10,0\n20,1\n");
}

TEST_F(AccountingTest, LatencyPercentilesAboveTheLinearRange) {
  // 100 packets at 5 ms one-way: the log-linear bucket must be within 2%.
  for (uint64_t s = 0; s < 100; ++s) {
    Header h;
    h.run_id = 42;
    h.seq = s;
    h.send_ns = 0;
    Feed(h, 5 * kMs);
  }
  Report r = acc_.MakeReport();
  EXPECT_NEAR(r.latency_p50_us, 5000, 100);
  EXPECT_NEAR(r.latency_p99_us, 5000, 100);
  EXPECT_DOUBLE_EQ(r.latency_max_us, 5000);
}

TEST_F(AccountingTest, SummaryAndJsonCarryTheFigures) {
  Data(0, 0, 0);
  Data(0, 2, kMs);
  End(0, 3);
  Report r = acc_.MakeReport();
  std::string line = FormatSummary(r);
  EXPECT_NE(line.find("sent 3 received 2 lost 1"), std::string::npos) << line;
  std::string json = FormatJson(r);
  EXPECT_NE(json.find("\"lost\":1"), std::string::npos) << json;
  EXPECT_NE(json.find("\"end_seen\":true"), std::string::npos) << json;
}

}  // namespace
}  // namespace hsw::traffic
