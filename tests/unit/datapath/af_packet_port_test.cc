// AfPacketPort on a real veth pair, in a private network namespace (needs
// root; skipped otherwise).
#include "datapath/ports/af_packet_port.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "../packet/test_frames.h"

namespace hsw::dp {
namespace {

using namespace hsw::testing;

// "up" once the link watcher has declared the device operational (the
// same moment it activates the qdisc).  /sys shows the test's original
// namespace, so ask the kernel with an ioctl in ours.
std::string OperState(const std::string& dev) {
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, dev.c_str(), IFNAMSIZ - 1);
  if (!fd || ioctl(fd.get(), SIOCGIFFLAGS, &ifr) < 0) return "";
  return (ifr.ifr_flags & IFF_RUNNING) ? "up" : "down";
}

class AfPacketPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, AF_PACKET)";
    if (unshare(CLONE_NEWNET) != 0) GTEST_SKIP() << "cannot create a network namespace";
    ASSERT_EQ(0, std::system("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 && "
                             "sysctl -qw net.ipv6.conf.default.disable_ipv6=1 && "
                             "ip link add hswa type veth peer name hswb && "
                             "ip link set hswa mtu 9000 && ip link set hswb mtu 9000 && "
                             "ip link set hswb up && ip link set hswa up"));
    // Frames sent before the link watcher has activated the qdisc are
    // dropped: wait until both ends report "up".
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline &&
           (OperState("hswa") != "up" || OperState("hswb") != "up")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_EQ(OperState("hswb"), "up");
    peer_ = UniqueFd(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)));
    ASSERT_TRUE(peer_.valid());
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = static_cast<int>(if_nametoindex("hswb"));
    ASSERT_EQ(0, bind(peer_.get(), reinterpret_cast<sockaddr*>(&sll), sizeof(sll)));
  }

  // Receives from the port until `n` packets arrived or a second passed.
  std::vector<Bytes> ReceiveN(Port& port, size_t n) {
    std::vector<Bytes> got;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
      pollfd fds[2] = {{port.fd(), POLLIN, 0}, {port.aux_fd(), POLLIN, 0}};
      poll(fds, 2, 50);
      Packet packets[8];
      size_t k = port.Receive(packets, 8);
      for (size_t i = 0; i < k; ++i) got.emplace_back(packets[i].data, packets[i].data + packets[i].size);
      port.ReleaseRx();
    }
    return got;
  }

  UniqueFd peer_;
};

Bytes Frame(size_t payload) {
  // The peer sends with no offload, so checksums are complete.
  return Cat(Eth(0x0800), Ipv4(17, Udp(1, 2, payload)));
}

TEST_F(AfPacketPortTest, ReceivesSmallAndBigFramesAndSends) {
  auto port = AfPacketPort::Open("hswa");
  ASSERT_TRUE(port) << port.error().ToString();
  Port& p = **port;
  dpif::PortInfo info = p.Info();
  EXPECT_EQ(info.mtu, 9000u);
  EXPECT_EQ(info.name, "hswa");

  Bytes small = Frame(50);
  Bytes big = Frame(5000);  // longer than a ring frame: takes the second socket
  ASSERT_EQ(send(peer_.get(), small.data(), small.size(), 0), static_cast<ssize_t>(small.size()));
  ASSERT_EQ(send(peer_.get(), big.data(), big.size(), 0), static_cast<ssize_t>(big.size()));
  auto got = ReceiveN(p, 2);
  ASSERT_EQ(got.size(), 2u);
  // Order between the two sockets is not promised; content is.
  EXPECT_TRUE((got[0] == small && got[1] == big) || (got[0] == big && got[1] == small));
  EXPECT_EQ(p.stats().rx_packets, 2u);
  EXPECT_EQ(p.stats().rx_bytes, small.size() + big.size());

  // Send both sizes; the peer sees them, the port does not see its own.
  TxFrame tx[2] = {{small.data(), static_cast<uint32_t>(small.size())},
                   {big.data(), static_cast<uint32_t>(big.size())}};
  p.Send(tx, 2);
  EXPECT_EQ(p.stats().tx_packets, 2u);
  std::vector<Bytes> at_peer;
  uint8_t buffer[10000];
  for (int i = 0; i < 2; ++i) {
    pollfd pfd{peer_.get(), POLLIN, 0};
    if (poll(&pfd, 1, 1000) <= 0) break;
    ssize_t n = recv(peer_.get(), buffer, sizeof(buffer), 0);
    ASSERT_GT(n, 0);
    at_peer.emplace_back(buffer, buffer + n);
  }
  ASSERT_EQ(at_peer.size(), 2u);
  EXPECT_EQ(at_peer[0], small);
  EXPECT_EQ(at_peer[1], big);
  EXPECT_TRUE(ReceiveN(p, 1).empty());  // PACKET_IGNORE_OUTGOING
}

TEST_F(AfPacketPortTest, VlanTagsComeBackIntoTheFrame) {
  auto port = AfPacketPort::Open("hswa");
  ASSERT_TRUE(port) << port.error().ToString();
  EthOpts tagged;
  tagged.tags = {{0x8100, (2 << 13) | 77}};
  Bytes f = Cat(Eth(0x0800, tagged), Ipv4(17, Udp(1, 2, 20)));
  ASSERT_EQ(send(peer_.get(), f.data(), f.size(), 0), static_cast<ssize_t>(f.size()));
  auto got = ReceiveN(**port, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], f);
}

TEST_F(AfPacketPortTest, MissingInterfaceIsAClearError) {
  auto port = AfPacketPort::Open("hswnone");
  ASSERT_FALSE(port);
  EXPECT_EQ(port.error().code, ENODEV);
  EXPECT_NE(port.error().message.find("hswnone"), std::string::npos);
}

}  // namespace
}  // namespace hsw::dp
