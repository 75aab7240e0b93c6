// TapPort (internal ports): the datapath creates the tap, traffic goes the
// right way (what the host sends is received, what the port sends the host
// gets), the device is left down and reported truthfully, it disappears with
// the port, survives a handover of its descriptor, and a successor that
// cannot carry it is refused before anything is handed over.
//
// Real devices in a private network namespace (needs root; skipped otherwise).
#include "datapath/ports/tap_port.h"

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

#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "datapath/datapath.h"
#include "datapath/handover.h"
#include "datapath/handover_hello.h"
#include "datapath/takeover_stream.h"
#include "dpif/handover_wire.h"

namespace hsw::dp {
namespace {

class TapPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, tap devices)";
    if (unshare(CLONE_NEWNET) != 0) GTEST_SKIP() << "cannot create a network namespace";
    if (access("/dev/net/tun", R_OK | W_OK) != 0) GTEST_SKIP() << "no /dev/net/tun";
  }

  static short Flags(const std::string& name) {
    UniqueFd sock(socket(AF_INET, SOCK_DGRAM, 0));
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    if (ioctl(sock.get(), SIOCGIFFLAGS, &ifr) < 0) return -1;
    return ifr.ifr_flags;
  }
  static void SetAdmin(const std::string& name, bool up) {
    UniqueFd sock(socket(AF_INET, SOCK_DGRAM, 0));
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    ASSERT_EQ(ioctl(sock.get(), SIOCGIFFLAGS, &ifr), 0);
    if (up) {
      ifr.ifr_flags |= IFF_UP;
    } else {
      ifr.ifr_flags &= ~IFF_UP;
    }
    ASSERT_EQ(ioctl(sock.get(), SIOCSIFFLAGS, &ifr), 0) << std::strerror(errno);
  }
  // An AF_PACKET socket on the device: the host's side of it.
  static UniqueFd HostSocket(const std::string& name) {
    UniqueFd fd(socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL)));
    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = htons(ETH_P_ALL);
    addr.sll_ifindex = static_cast<int>(if_nametoindex(name.c_str()));
    EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    return fd;
  }
  static std::vector<uint8_t> Frame(uint8_t tag) {
    std::vector<uint8_t> f(60, 0);
    std::memset(f.data(), 0x02, 6);              // dst
    std::memset(f.data() + 6, 0x04, 6);          // src
    f[12] = 0x88;                                // an experimental ethertype
    f[13] = 0xb5;
    f[14] = tag;
    return f;
  }
  // Receives from `port` until a frame carrying `tag` arrives (or 2 s pass).
  static bool ReceiveTag(Port& port, uint8_t tag) {
    Packet packets[8];
    for (int i = 0; i < 200; ++i) {
      pollfd p{port.fd(), POLLIN, 0};
      poll(&p, 1, 10);
      size_t n = port.Receive(packets, 8);
      bool found = false;
      for (size_t k = 0; k < n; ++k) {
        if (packets[k].size >= 15 && packets[k].data[12] == 0x88 && packets[k].data[14] == tag) {
          found = true;
        }
      }
      port.ReleaseRx();
      if (found) return true;
    }
    return false;
  }
};

TEST_F(TapPortTest, CreatesADownDeviceAndReportsItsStateTruthfully) {
  auto port = TapPort::Create("hswtap0");
  ASSERT_TRUE(port) << port.error().ToString();
  EXPECT_NE(if_nametoindex("hswtap0"), 0u);
  EXPECT_TRUE(TapPort::IsTapDevice("hswtap0"));
  EXPECT_EQ(Flags("hswtap0") & IFF_UP, 0) << "internal devices are left down, as OVS does";
  dpif::PortInfo info = (*port)->Info();
  EXPECT_EQ(info.type, "internal");
  EXPECT_EQ(info.name, "hswtap0");
  EXPECT_EQ(info.ifindex, if_nametoindex("hswtap0"));
  EXPECT_EQ(info.mtu, 1500u);
  EXPECT_FALSE(info.link_up);
  uint8_t zero[6] = {};
  EXPECT_NE(std::memcmp(info.hw_addr, zero, 6), 0) << "a tap has a random MAC";
  SetAdmin("hswtap0", true);
  EXPECT_TRUE((*port)->Info().link_up) << "up, with its fd held: carrier";
  SetAdmin("hswtap0", false);
  EXPECT_FALSE((*port)->Info().link_up);
}

TEST_F(TapPortTest, TrafficGoesTheRightWayAndIsCounted) {
  auto port = TapPort::Create("hswtap0");
  ASSERT_TRUE(port) << port.error().ToString();
  SetAdmin("hswtap0", true);
  UniqueFd host = HostSocket("hswtap0");
  // The host sends: the port receives.
  std::vector<uint8_t> out = Frame(7);
  ASSERT_EQ(send(host.get(), out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
  EXPECT_TRUE(ReceiveTag(**port, 7));
  EXPECT_GE((*port)->stats().rx_packets, 1u);
  // The port sends: the host receives.
  std::vector<uint8_t> in = Frame(9);
  TxFrame tx{in.data(), static_cast<uint32_t>(in.size())};
  (*port)->Send(&tx, 1);
  EXPECT_EQ((*port)->stats().tx_packets, 1u);
  EXPECT_EQ((*port)->stats().tx_bytes, in.size());
  bool got = false;
  for (int i = 0; i < 200 && !got; ++i) {
    uint8_t buf[2048];
    pollfd p{host.get(), POLLIN, 0};
    poll(&p, 1, 10);
    ssize_t n = recv(host.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n >= 15 && buf[12] == 0x88 && buf[14] == 9) got = true;
  }
  EXPECT_TRUE(got) << "the frame the port sent did not reach the host";
}

TEST_F(TapPortTest, AnExistingInterfaceThatIsNoTapIsAnErrorNamingIt) {
  auto port = TapPort::Create("lo");
  ASSERT_FALSE(port);
  EXPECT_NE(port.error().message.find("lo"), std::string::npos) << port.error().message;
  EXPECT_NE(port.error().message.find("not a tap"), std::string::npos) << port.error().message;
  EXPECT_NE(Flags("lo"), -1) << "lo must be untouched";
  auto bad = TapPort::Create("");
  EXPECT_FALSE(bad);
  auto too_long = TapPort::Create("a-name-longer-than-ifnamsiz");
  EXPECT_FALSE(too_long);
}

TEST_F(TapPortTest, TheDeviceGoesWithThePortAndOutlivesAHandover) {
  auto port = TapPort::Create("hswtap0");
  ASSERT_TRUE(port) << port.error().ToString();
  UniqueFd copy(dup((*port)->fd()));
  port->reset();
  EXPECT_NE(if_nametoindex("hswtap0"), 0u) << "a handed-over descriptor keeps the device";
  auto adopted = TapPort::Adopt("hswtap0", std::move(copy));
  ASSERT_TRUE(adopted) << adopted.error().ToString();
  EXPECT_EQ((*adopted)->Info().type, "internal");
  auto wrong = TapPort::Adopt("other0", UniqueFd(dup((*adopted)->fd())));
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("hswtap0"), std::string::npos) << wrong.error().message;
  auto not_tap = TapPort::Adopt("hswtap0", UniqueFd(socket(AF_INET, SOCK_DGRAM, 0)));
  EXPECT_FALSE(not_tap);
  adopted->reset();
  EXPECT_EQ(if_nametoindex("hswtap0"), 0u) << "the last descriptor closed: the device is gone";
}

TEST_F(TapPortTest, DatapathAddsAndDeletesInternalPorts) {
  Datapath dp;
  auto bad = dp.AddPort("hswtap0", "vxlan", 0);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("vxlan"), std::string::npos);
  EXPECT_EQ(if_nametoindex("hswtap0"), 0u) << "a refused type creates nothing";
  auto no = dp.AddPort("hswtap0", "internal", 5);
  ASSERT_TRUE(no) << no.error().ToString();
  EXPECT_EQ(*no, 5u);
  auto ports = dp.ListPorts();
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_EQ(ports[0].type, "internal");
  EXPECT_EQ(ports[0].port_no, 5u);
  auto again = dp.AddPort("hswtap0", "internal", 0);
  EXPECT_FALSE(again) << "one port per name";
  auto lo = dp.AddPort("lo", "internal", 0);
  ASSERT_FALSE(lo);
  EXPECT_NE(lo.error().message.find("lo"), std::string::npos);
  ASSERT_TRUE(dp.DelPort(5));
  EXPECT_EQ(if_nametoindex("hswtap0"), 0u) << "PortDel removes the device";
}

TEST_F(TapPortTest, ASuccessorThatSpeaksOnlyVersion1IsRefusedWithInternalPorts) {
  nlohmann::json hello = {{"pid", 42},         {"version", "0.0.9"}, {"handover_min", 1},
                          {"handover_max", 1}, {"dpif_min", 1},      {"dpif_max", 2},
                          {"flow_key_size", sizeof(FlowKey)}};
  HandoverVersions ours{1, 2};
  auto judged = JudgeHello(hello, ours, {}, {"br0"});
  ASSERT_TRUE(judged);
  EXPECT_NE(judged->refusal.find("br0"), std::string::npos) << judged->refusal;
  EXPECT_NE(judged->refusal.find("internal"), std::string::npos) << judged->refusal;
  // Without internal ports the same successor is welcome (version 1).
  auto plain = JudgeHello(hello, ours, {}, {});
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->refusal, "");
  EXPECT_EQ(plain->version, 1u);
  // A successor that speaks 2 takes them.
  hello["handover_max"] = 2;
  auto v2 = JudgeHello(hello, ours, {}, {"br0"});
  ASSERT_TRUE(v2);
  EXPECT_EQ(v2->refusal, "");
  EXPECT_EQ(v2->version, 2u);
}

// The successor's side: a Port message of type internal with the tap's fd
// becomes an internal port of the new datapath; stats follow at the switch-over.
TEST_F(TapPortTest, TakeoverStreamAdoptsAHandedOverTap) {
  auto port = TapPort::Create("hswtap0");
  ASSERT_TRUE(port) << port.error().ToString();
  TakeoverStream stream{DatapathOptions{}};
  auto message = [](dpif::handover::MsgType type, const nlohmann::json& j) {
    dpif::handover::Datagram d;
    d.type = type;
    std::string text = j.dump();
    d.body.assign(text.begin(), text.end());
    return d;
  };
  using dpif::handover::MsgType;
  // Without its descriptor: refused, naming what is missing.
  auto bare = message(MsgType::kPort, {{"port_no", 3}, {"name", "hswtap0"}, {"type", "internal"}});
  auto refused = stream.Apply(bare);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("tap"), std::string::npos) << refused.error().message;
  // An unknown type: refused.
  auto odd = message(MsgType::kPort, {{"port_no", 3}, {"name", "hswtap0"}, {"type", "vxlan"}});
  odd.fds.emplace_back(dup((*port)->fd()));
  EXPECT_FALSE(stream.Apply(odd));

  auto good = message(MsgType::kPort, {{"port_no", 3}, {"name", "hswtap0"}, {"type", "internal"}});
  good.fds.emplace_back(dup((*port)->fd()));
  auto applied = stream.Apply(good);
  ASSERT_TRUE(applied) << applied.error().ToString();
  port->reset();  // the predecessor exits
  UniqueFd listener(socket(AF_UNIX, SOCK_SEQPACKET, 0));
  auto sockets = message(MsgType::kSockets, {{"lock", false}});
  sockets.fds.push_back(std::move(listener));
  ASSERT_TRUE(stream.Apply(sockets));
  auto end = message(MsgType::kSnapshotEnd, {{"flows", 0}});
  ASSERT_TRUE(stream.Apply(end));
  auto heads = message(
      MsgType::kPortHeads,
      {{"ports", {{{"port_no", 3}, {"head", 0}, {"stats", {5, 500, 0, 0, 6, 600, 1, 0}}}}}});
  ASSERT_TRUE(stream.Apply(heads));
  auto final_end = message(MsgType::kFinalEnd, nlohmann::json::object());
  ASSERT_TRUE(stream.Apply(final_end));
  auto taken = stream.Finish();
  ASSERT_TRUE(taken) << taken.error().ToString();
  auto ports = taken->datapath->ListPorts();
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_EQ(ports[0].port_no, 3u);
  EXPECT_EQ(ports[0].type, "internal");
  EXPECT_EQ(ports[0].stats.rx_packets, 5u);
  EXPECT_EQ(ports[0].stats.tx_bytes, 600u);
  EXPECT_NE(if_nametoindex("hswtap0"), 0u) << "the successor holds the device";
}

}  // namespace
}  // namespace hsw::dp
