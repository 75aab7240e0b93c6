#include "ofproto/mac_learning.h"

#include <gtest/gtest.h>

namespace hsw::ofproto {
namespace {

TEST(MacTableTest, LearnsMovesAgesAndForgets) {
  MacTable macs(std::chrono::seconds(10), 2);
  SteadyTime t0 = std::chrono::steady_clock::now();
  const uint8_t a[6] = {0, 0, 0, 0, 0, 0xa}, b[6] = {0, 0, 0, 0, 0, 0xb},
                c[6] = {0, 0, 0, 0, 0, 0xc}, mcast[6] = {1, 0, 0x5e, 0, 0, 1};
  EXPECT_TRUE(macs.Learn(a, 0, 1, t0));
  EXPECT_FALSE(macs.Learn(a, 0, 1, t0)) << "nothing new";
  EXPECT_EQ(macs.Lookup(a, 0), 1u);
  EXPECT_FALSE(macs.Lookup(a, 5)) << "VLANs are separate";
  uint64_t gen = macs.generation();
  EXPECT_TRUE(macs.Learn(a, 0, 2, t0)) << "moved";
  EXPECT_GT(macs.generation(), gen);
  EXPECT_EQ(macs.Lookup(a, 0), 2u);
  EXPECT_FALSE(macs.Learn(mcast, 0, 1, t0));
  EXPECT_TRUE(macs.Learn(b, 0, 3, t0));
  EXPECT_FALSE(macs.Learn(c, 0, 3, t0)) << "full";
  EXPECT_FALSE(macs.Lookup(c, 0));
  // a refreshed at +8s survives the +12s expiry; b does not.
  macs.Learn(a, 0, 2, t0 + std::chrono::seconds(8));
  EXPECT_EQ(macs.Expire(t0 + std::chrono::seconds(12)), 1u);
  EXPECT_TRUE(macs.Lookup(a, 0));
  EXPECT_FALSE(macs.Lookup(b, 0));
  macs.ForgetPort(2);
  EXPECT_EQ(macs.size(), 0u);
}

}  // namespace
}  // namespace hsw::ofproto
