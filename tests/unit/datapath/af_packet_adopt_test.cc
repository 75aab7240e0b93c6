// AfPacketPort::Adopt: a successor maps a ring it did not set up, on the
// word of its predecessor's handover message (datapath/handover.h).  Numbers
// that do not describe the socket's ring must be refused, naming what is
// wrong, rather than read past the ring or at the wrong offsets.
//
// The sockets are real: a port opened on the loopback interface of a private
// network namespace (needs root; skipped otherwise), its descriptors
// duplicated as a handover would pass them.
#include <arpa/inet.h>
#include <poll.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "datapath/actions.h"
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

// Numbers that agree with each other but not with the socket: Adopt()
// reads the ring's real geometry from sock_diag (PACKET_DIAG_RX_RING) and
// the bound interface from getsockname().

// 32 frames of 4096 bytes fill the same two 64 KiB blocks as the socket's
// 64 frames of 2048: mmap() succeeds and every frame header after the first
// would be read at the wrong offset.
TEST_F(AfPacketAdoptTest, RefusesFramesOfAnotherSizeInARingOfTheSameSize) {
  AfPacketHandover state = real_;
  state.frame_size = 4096;
  state.frame_nr = 32;
  state.ring_capacity = state.frame_size - 256;
  ExpectRefused(AdoptAs(state), {"lo", "4096", "2048"});
}

TEST_F(AfPacketAdoptTest, RefusesARingOfAnotherSizeNamingTheSizes) {
  AfPacketHandover state = real_;
  state.block_nr *= 2;
  state.frame_nr *= 2;
  ExpectRefused(AdoptAs(state), {"lo", "128", "64"});
}

TEST_F(AfPacketAdoptTest, RefusesASocketBoundToAnotherInterface) {
  AfPacketHandover state = real_;
  state.ifindex = real_.ifindex + 100;
  ExpectRefused(AdoptAs(state), {"lo", std::to_string(state.ifindex)});
}

// A successor whose predecessor died without saying where it stopped
// reading (ForgetHead) finds the place in the ring: the oldest frame the
// kernel filled and nobody handed back.
class AfPacketFindHeadTest : public AfPacketAdoptTest {
 protected:
  // Frames with a sequence number, sent on lo (which the ring sees as
  // received; the port ignores its own output only).
  void Send(uint32_t first, uint32_t n) {
    UniqueFd out(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(out.valid());
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = static_cast<int>(real_.ifindex);
    to.sll_halen = 6;
    for (uint32_t seq = first; seq < first + n; ++seq) {
      uint8_t frame[60] = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x88, 0xb5};
      std::memcpy(frame + 14, &seq, sizeof seq);
      ASSERT_EQ(sendto(out.get(), frame, sizeof frame, 0, reinterpret_cast<sockaddr*>(&to),
                       sizeof to),
                static_cast<ssize_t>(sizeof frame));
    }
  }

  // The sequence numbers of the next `n` frames `port` reads (each handed
  // back to the kernel), waiting up to a second for each.
  static std::vector<uint32_t> Read(AfPacketPort& port, size_t n) {
    std::vector<uint32_t> seqs;
    Packet packets[16];
    for (int idle = 0; seqs.size() < n && idle < 100;) {
      size_t got = port.Receive(packets, std::min<size_t>(16, n - seqs.size()));
      for (size_t i = 0; i < got; ++i) {
        uint32_t seq = 0;
        std::memcpy(&seq, packets[i].data + 14, sizeof seq);
        seqs.push_back(seq);
      }
      port.ReleaseRx();
      if (got == 0) {
        pollfd ready{port.fd(), POLLIN, 0};
        poll(&ready, 1, 10);
        ++idle;
      }
    }
    return seqs;
  }

  static std::vector<uint32_t> Range(uint32_t first, uint32_t n) {
    std::vector<uint32_t> out;
    for (uint32_t seq = first; seq < first + n; ++seq) out.push_back(seq);
    return out;
  }
};

TEST_F(AfPacketFindHeadTest, ResumesAtTheOldestFrameNobodyHandedBack) {
  // The predecessor read 10 frames; 5 more wait.
  Send(0, 10);
  ASSERT_EQ(Read(*port_, 10), Range(0, 10));
  Send(10, 5);
  auto adopted = AdoptAs(real_);  // real_.head is 0: stale, as a dead process leaves it
  ASSERT_TRUE(adopted) << adopted.error().ToString();
  (*adopted)->ForgetHead();
  EXPECT_EQ(Read(**adopted, 5), Range(10, 5));
  EXPECT_TRUE((*adopted)->head_known());
  EXPECT_EQ((*adopted)->ExportHandover().head, 15u);
}

TEST_F(AfPacketFindHeadTest, FindsTheRunThatWrapsAroundTheRing) {
  // 60 of 64 frames read: the 8 that follow wrap to the ring's start.
  Send(0, 60);
  ASSERT_EQ(Read(*port_, 60), Range(0, 60));
  Send(60, 8);
  auto adopted = AdoptAs(real_);
  ASSERT_TRUE(adopted) << adopted.error().ToString();
  (*adopted)->ForgetHead();
  EXPECT_EQ(Read(**adopted, 8), Range(60, 8));
}

TEST_F(AfPacketFindHeadTest, WaitsForAFrameWhenTheRingIsEmpty) {
  Send(0, 3);
  ASSERT_EQ(Read(*port_, 3), Range(0, 3));
  auto adopted = AdoptAs(real_);
  ASSERT_TRUE(adopted) << adopted.error().ToString();
  (*adopted)->ForgetHead();
  Packet packets[4];
  EXPECT_EQ((*adopted)->Receive(packets, 4), 0u);
  EXPECT_FALSE((*adopted)->head_known());  // nothing to find it by yet
  Send(3, 2);
  EXPECT_EQ(Read(**adopted, 2), Range(3, 2));
}

TEST_F(AfPacketFindHeadTest, AFullRingResumesAtItsOldestFrame) {
  Send(0, 20);
  ASSERT_EQ(Read(*port_, 20), Range(0, 20));
  Send(20, 64);  // every frame filled, none handed back
  auto adopted = AdoptAs(real_);
  ASSERT_TRUE(adopted) << adopted.error().ToString();
  (*adopted)->ForgetHead();
  EXPECT_EQ(Read(**adopted, 64), Range(20, 64));
}

}  // namespace
}  // namespace hsw::dp
