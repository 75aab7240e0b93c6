#include "packet/checksum.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

namespace hsw {
namespace {

// The textbook example from RFC 1071 section 3: bytes 00 01 f2 03 f4 f5 f6 f7
// sum to 0xddf2 (in network order), so the checksum is ~0xddf2.
TEST(Checksum, Rfc1071Example) {
  const uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  uint16_t csum = InternetChecksum(data, sizeof(data));
  EXPECT_EQ(ntohs(csum), static_cast<uint16_t>(~0xddf2));
}

// A real IPv4 header whose checksum is known (from a capture).
TEST(Checksum, KnownIpv4Header) {
  uint8_t hdr[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                   0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  uint16_t csum = InternetChecksum(hdr, sizeof(hdr));
  EXPECT_EQ(ntohs(csum), 0xb861);
  std::memcpy(hdr + 10, &csum, 2);
  EXPECT_EQ(InternetChecksum(hdr, sizeof(hdr)), 0);  // verifies to zero
}

TEST(Checksum, OddLengthPadsWithZero) {
  const uint8_t odd[] = {0x12, 0x34, 0x56};
  const uint8_t even[] = {0x12, 0x34, 0x56, 0x00};
  EXPECT_EQ(InternetChecksum(odd, 3), InternetChecksum(even, 4));
}

// Incremental updates must equal a full recomputation, for random data and
// random changes at random even offsets.
TEST(Checksum, IncrementalMatchesRecompute) {
  std::mt19937 rng(42);
  for (int iter = 0; iter < 2000; ++iter) {
    std::vector<uint8_t> data(2 + 2 * (rng() % 40));
    for (auto& b : data) b = static_cast<uint8_t>(rng());
    uint16_t csum = InternetChecksum(data.data(), data.size());
    size_t width = (rng() % 3 == 0) ? 16 : (rng() % 2 ? 4 : 2);
    if (width > data.size()) width = 2;
    size_t off = 2 * (rng() % ((data.size() - width) / 2 + 1));
    std::vector<uint8_t> old(data.begin() + off, data.begin() + off + width);
    for (size_t i = 0; i < width; ++i) data[off + i] = static_cast<uint8_t>(rng());
    uint16_t updated;
    if (width == 2) {
      uint16_t o, n;
      std::memcpy(&o, old.data(), 2);
      std::memcpy(&n, data.data() + off, 2);
      updated = ChecksumUpdate16(csum, o, n);
    } else if (width == 4) {
      updated = ChecksumUpdate32(csum, old.data(), data.data() + off);
    } else {
      updated = ChecksumUpdateBytes(csum, old.data(), data.data() + off, width);
    }
    uint16_t full = InternetChecksum(data.data(), data.size());
    // 0x0000 and 0xffff are the same number in ones' complement; RFC 1624's
    // form never yields -0 unless the data sums to zero, so compare the value.
    if (full == 0xffff) full = 0;
    if (updated == 0xffff) updated = 0;
    ASSERT_EQ(updated, full) << "iteration " << iter;
  }
}

// A UDP/IPv4 segment with the pseudo-header sum in its checksum field (as the
// kernel leaves CHECKSUM_PARTIAL packets) completes to the full checksum.
TEST(Checksum, CompletePartialUdp) {
  const uint8_t src[4] = {10, 0, 0, 1}, dst[4] = {10, 0, 0, 2};
  std::vector<uint8_t> udp = {0x30, 0x39, 0x00, 0x35, 0x00, 0x0d, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o'};
  uint32_t pseudo = PseudoHeaderSumIpv4(src, dst, 17, static_cast<uint32_t>(udp.size()));
  // Full checksum the slow way.
  uint16_t expected = ChecksumFinish(ChecksumAdd(pseudo, udp.data(), udp.size()));
  // Partial: the field holds the folded, uncomplemented pseudo-header sum.
  uint16_t partial = static_cast<uint16_t>(~ChecksumFinish(pseudo));
  std::vector<uint8_t> frame(20, 0);  // stands in for the headers before L4
  frame.insert(frame.end(), udp.begin(), udp.end());
  std::memcpy(frame.data() + 20 + 6, &partial, 2);
  ASSERT_TRUE(CompletePartialChecksum(frame.data(), frame.size(), 20, 6));
  uint16_t got;
  std::memcpy(&got, frame.data() + 26, 2);
  EXPECT_EQ(got, expected);
  // Verifying the completed segment with its pseudo header gives zero.
  EXPECT_EQ(ChecksumFinish(ChecksumAdd(pseudo, frame.data() + 20, udp.size())), 0);
}

TEST(Checksum, CompletePartialRejectsBadOffsets) {
  uint8_t frame[30] = {};
  EXPECT_FALSE(CompletePartialChecksum(frame, sizeof(frame), 31, 0));
  EXPECT_FALSE(CompletePartialChecksum(frame, sizeof(frame), 20, 9));
  EXPECT_FALSE(CompletePartialChecksum(frame, sizeof(frame), 28, 1));
  EXPECT_TRUE(CompletePartialChecksum(frame, sizeof(frame), 20, 8));
}

TEST(Checksum, PseudoHeaderIpv6MatchesManualLayout) {
  uint8_t src[16], dst[16];
  for (int i = 0; i < 16; ++i) {
    src[i] = static_cast<uint8_t>(i);
    dst[i] = static_cast<uint8_t>(0xf0 + i);
  }
  std::vector<uint8_t> ph(src, src + 16);
  ph.insert(ph.end(), dst, dst + 16);
  ph.insert(ph.end(), {0, 0, 0x01, 0x02, 0, 0, 0, 58});
  EXPECT_EQ(ChecksumFinish(PseudoHeaderSumIpv6(src, dst, 58, 0x102)),
            InternetChecksum(ph.data(), ph.size()));
}

}  // namespace
}  // namespace hsw
