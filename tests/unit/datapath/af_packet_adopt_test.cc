// AfPacketPort::Adopt: a successor maps a ring it did not set up, on the
// word of its predecessor's handover message (datapath/handover.h).  Numbers
// that do not describe the socket's ring must be refused, naming what is
// wrong, rather than read past the ring or at the wrong offsets.
//
// The sockets are real: a port opened on the loopback interface of a private
// network namespace (needs root; skipped otherwise), its descriptors
// duplicated as a handover would pass them.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "datapath/ports/af_packet_port.h"

namespace hsw::dp {
namespace {

class AfPacketAdoptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, AF_PACKET)";
    if (unshare(CLONE_NEWNET) != 0) GTEST_SKIP() << "cannot create a network namespace";
    // A small ring: 64 frames of 2048 bytes in 2 blocks of 64 KiB.
    auto port = AfPacketPort::Open("lo", AfPacketOptions{.frame_size = 2048, .frames = 64});
    ASSERT_TRUE(port) << port.error().ToString();
    port_ = std::move(*port);
    real_ = port_->ExportHandover();
    ASSERT_EQ(real_.frame_size, 2048u);
    ASSERT_EQ(real_.frame_nr, 64u);
    ASSERT_EQ(real_.block_nr, 2u);
  }

  // Adopt() on duplicates of the open port's sockets, as the successor gets
  // them, told `state`.
  Result<std::unique_ptr<AfPacketPort>> AdoptAs(const AfPacketHandover& state) {
    return AfPacketPort::Adopt("lo", UniqueFd(dup(port_->fd())), UniqueFd(dup(port_->big_fd())),
                               state);
  }

  // Expects a refusal whose message holds each of `words`.
  static void ExpectRefused(const Result<std::unique_ptr<AfPacketPort>>& adopted,
                            std::initializer_list<std::string> words) {
    ASSERT_FALSE(adopted) << "adopted a ring the handover message does not describe";
    for (const std::string& word : words) {
      EXPECT_NE(adopted.error().message.find(word), std::string::npos)
          << "'" << word << "' not in: " << adopted.error().ToString();
    }
  }

  std::unique_ptr<AfPacketPort> port_;
  AfPacketHandover real_;
};

TEST_F(AfPacketAdoptTest, AdoptsTheRingTheMessageDescribes) {
  real_.head = 17;
  auto adopted = AdoptAs(real_);
  ASSERT_TRUE(adopted) << adopted.error().ToString();
  AfPacketHandover again = (*adopted)->ExportHandover();
  EXPECT_EQ(again.ifindex, real_.ifindex);
  EXPECT_EQ(again.frame_size, real_.frame_size);
  EXPECT_EQ(again.block_size, real_.block_size);
  EXPECT_EQ(again.block_nr, real_.block_nr);
  EXPECT_EQ(again.frame_nr, real_.frame_nr);
  EXPECT_EQ(again.ring_capacity, real_.ring_capacity);
  EXPECT_EQ(again.head, 17u);
}

TEST_F(AfPacketAdoptTest, RefusesNumbersThatDisagreeWithEachOther) {
  AfPacketHandover state = real_;
  state.frame_nr = 63;  // not block_nr * frames per block
  ExpectRefused(AdoptAs(state), {"lo", "inconsistent ring geometry", "63 frames"});
  state = real_;
  state.head = state.frame_nr;  // past the last frame
  ExpectRefused(AdoptAs(state), {"lo", "inconsistent ring geometry", "head 64"});
  state = real_;
  state.ring_capacity = state.frame_size;  // no room for the frame header
  ExpectRefused(AdoptAs(state), {"lo", "inconsistent ring geometry"});
}

TEST_F(AfPacketAdoptTest, RefusesARingOfAnotherSize) {
  // Twice the blocks the socket has: consistent numbers, a ring twice as big.
  AfPacketHandover state = real_;
  state.block_nr *= 2;
  state.frame_nr *= 2;
  ExpectRefused(AdoptAs(state), {"lo"});
}

TEST_F(AfPacketAdoptTest, RefusesASocketWithoutARing) {
  UniqueFd bare(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)));
  ASSERT_TRUE(bare.valid());
  int v2 = TPACKET_V2;
  ASSERT_EQ(0, setsockopt(bare.get(), SOL_PACKET, PACKET_VERSION, &v2, sizeof v2));
  auto adopted = AfPacketPort::Adopt("lo", std::move(bare), UniqueFd(dup(port_->big_fd())), real_);
  ExpectRefused(adopted, {"lo"});
}

TEST_F(AfPacketAdoptTest, RefusesASocketThatIsNotTpacketV2) {
  UniqueFd v1(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)));
  ASSERT_TRUE(v1.valid());
  auto adopted = AfPacketPort::Adopt("lo", std::move(v1), UniqueFd(dup(port_->big_fd())), real_);
  ExpectRefused(adopted, {"lo", "not a TPACKET_V2"});
}

TEST_F(AfPacketAdoptTest, RefusesAHandoverWithoutItsSockets) {
  auto adopted = AfPacketPort::Adopt("lo", UniqueFd(dup(port_->fd())), UniqueFd(), real_);
  ExpectRefused(adopted, {"lo", "without its sockets"});
}

// Disabled: Adopt() does not check these yet.  It checks the socket's
// TPACKET version and that the numbers agree with each other; a ring of
// another total size is refused only by mmap() (EINVAL, which does not say
// what differs).  The kernel reports a ring's real geometry through
// sock_diag (packet_diag with PACKET_SHOW_RING_CFG: PACKET_DIAG_RX_RING) and
// the bound interface through getsockname(); Adopt() should compare both.
// Run with --gtest_also_run_disabled_tests to see them fail.

// 32 frames of 4096 bytes fill the same two 64 KiB blocks as the socket's
// 64 frames of 2048: mmap() succeeds and every frame header after the first
// would be read at the wrong offset.
TEST_F(AfPacketAdoptTest, DISABLED_RefusesFramesOfAnotherSizeInARingOfTheSameSize) {
  AfPacketHandover state = real_;
  state.frame_size = 4096;
  state.frame_nr = 32;
  state.ring_capacity = state.frame_size - 256;
  ExpectRefused(AdoptAs(state), {"lo", "4096", "2048"});
}

TEST_F(AfPacketAdoptTest, DISABLED_RefusesARingOfAnotherSizeNamingTheSizes) {
  AfPacketHandover state = real_;
  state.block_nr *= 2;
  state.frame_nr *= 2;
  ExpectRefused(AdoptAs(state), {"lo", "128", "64"});
}

TEST_F(AfPacketAdoptTest, DISABLED_RefusesASocketBoundToAnotherInterface) {
  AfPacketHandover state = real_;
  state.ifindex = real_.ifindex + 100;
  ExpectRefused(AdoptAs(state), {"lo", std::to_string(state.ifindex)});
}

}  // namespace
}  // namespace hsw::dp
