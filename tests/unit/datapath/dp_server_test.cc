// The datapath protocol server in process: a real unix socket, the real
// codec and DpifClient, the forwarding loop on its own thread, and in-memory
// ports into which the test injects frames.
#include "datapath/dp_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <thread>

#include "../packet/test_frames.h"
#include "datapath/datapath.h"
#include "dpif/dpif_client.h"
#include "packet/flow_extract.h"
#include "testlib/temp_dir.h"

namespace hsw::dp {
namespace {

using namespace hsw::testing;
using namespace std::chrono_literals;

// A port fed and drained by the test thread (hence the lock, which real
// ports do not need).
class MemPort : public Port {
 public:
  explicit MemPort(std::string name) : name_(std::move(name)) {}
  int fd() const override { return -1; }
  size_t Receive(Packet* packets, size_t max) override {
    std::lock_guard lock(mu_);
    size_t n = 0;
    while (n < max && !rx_.empty()) {
      held_.push_back(std::move(rx_.front()));
      rx_.pop_front();
      Bytes& b = held_.back();
      packets[n].data = b.data() + 64;
      packets[n].size = static_cast<uint32_t>(b.size() - 64);
      packets[n].headroom = 64;
      packets[n].csum_partial = false;
      ++stats_.rx_packets;
      ++n;
    }
    return n;
  }
  void ReleaseRx() override {
    std::lock_guard lock(mu_);
    held_.clear();
  }
  void Send(const TxFrame* frames, size_t n) override {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < n; ++i) {
      tx_.emplace_back(frames[i].data, frames[i].data + frames[i].size);
      ++stats_.tx_packets;
    }
  }
  dpif::PortInfo Info() const override {
    dpif::PortInfo info;
    info.name = name_;
    info.type = "memory";
    info.stats = stats_;
    return info;
  }
  const std::string& name() const override { return name_; }

  void Inject(const Bytes& frame) {
    std::lock_guard lock(mu_);
    Bytes b(64, 0);
    b.insert(b.end(), frame.begin(), frame.end());
    rx_.push_back(std::move(b));
  }
  std::vector<Bytes> TakeSent() {
    std::lock_guard lock(mu_);
    return std::exchange(tx_, {});
  }

 private:
  std::string name_;
  std::mutex mu_;
  std::deque<Bytes> rx_;
  std::deque<Bytes> held_;
  std::vector<Bytes> tx_;
};

class DpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto listener = ListenUnix(path_);
    ASSERT_TRUE(listener) << listener.error().ToString();
    DatapathOptions options;
    options.miss_queue.max_packets = 100;
    dp_ = std::make_unique<Datapath>(options);
    auto p1 = std::make_unique<MemPort>("mem1");
    auto p2 = std::make_unique<MemPort>("mem2");
    port1_ = p1.get();
    port2_ = p2.get();
    ASSERT_EQ(*dp_->AddPort(std::move(p1), 1), 1u);
    ASSERT_EQ(*dp_->AddPort(std::move(p2), 0), 2u);
    server_ = std::make_unique<DpServer>(*dp_, std::move(*listener));
    sigset_t mask;
    pthread_sigmask(SIG_SETMASK, nullptr, &mask);
    loop_ = std::thread([this, mask] { dp_->Run(server_.get(), nullptr, &mask, [this] { return stop_.load(); }); });
  }
  void TearDown() override {
    stop_ = true;
    if (loop_.joinable()) loop_.join();
    server_.reset();
    dp_.reset();
  }

  std::unique_ptr<dpif::DpifClient> Connect(dpif::Role role, const std::string& name) {
    auto client = dpif::DpifClient::Connect(path_, role, name);
    EXPECT_TRUE(client) << client.error().ToString();
    return client ? std::move(*client) : nullptr;
  }

  // Waits until `pred` holds (the loop runs on another thread).
  template <class Pred>
  bool WaitFor(Pred pred, std::chrono::milliseconds limit = 3000ms) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(2ms);
    }
    return pred();
  }

  std::vector<dpif::Upcall> WaitUpcalls(dpif::DpifClient& client, size_t n) {
    std::vector<dpif::Upcall> got;
    WaitFor([&] {
      auto more = client.RecvUpcalls(100);
      if (more) got.insert(got.end(), more->begin(), more->end());
      return got.size() >= n;
    });
    return got;
  }

  static uint64_t Counter(const dpif::StatsReply& stats, const std::string& name) {
    for (const auto& [n, v] : stats.counters) {
      if (n == name) return v;
    }
    ADD_FAILURE() << "no counter " << name;
    return 0;
  }

  TempDir dir_{"hsw-dp-test"};  // first: outlives the socket and the server
  std::string path_ = dir_ / "datapath.sock";
  std::unique_ptr<Datapath> dp_;
  std::unique_ptr<DpServer> server_;
  MemPort* port1_ = nullptr;
  MemPort* port2_ = nullptr;
  std::atomic<bool> stop_{false};
  std::thread loop_;
};

Bytes UdpFrame(uint16_t dport) { return Cat(Eth(0x0800), Ipv4(17, Udp(1000, dport))); }

TEST_F(DpServerTest, HandshakeRolesAndVersions) {
  auto owner = Connect(dpif::Role::kOwner, "vswitchd-1");
  ASSERT_TRUE(owner);
  EXPECT_EQ(owner->hello().version, dpif::kProtocolVersionMax);
  EXPECT_EQ(owner->hello().flow_key_size, sizeof(FlowKey));
  EXPECT_EQ(owner->hello().instance_id, server_->instance_id());

  auto second = dpif::DpifClient::Connect(path_, dpif::Role::kOwner, "vswitchd-2");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, EBUSY);
  EXPECT_NE(second.error().message.find("vswitchd-1"), std::string::npos)
      << second.error().message;

  auto m1 = Connect(dpif::Role::kMonitor, "ctl-1");
  auto m2 = Connect(dpif::Role::kMonitor, "ctl-2");
  ASSERT_TRUE(m1 && m2);

  dpif::Hello future;
  future.version_min = 7;
  future.version_max = 9;
  future.role = dpif::Role::kMonitor;
  future.client_name = "from-the-future";
  auto fd = ConnectUnix(path_);
  ASSERT_TRUE(fd);
  auto old = dpif::DpifClient::Open(std::move(*fd), dpif::Role::kMonitor, "x", 3000ms, &future);
  ASSERT_FALSE(old);
  EXPECT_EQ(old.error().code, EPROTONOSUPPORT);

  // Once the owner leaves, another may take its place.
  owner.reset();
  ASSERT_TRUE(WaitFor([&] { return !server_->has_owner(); }));
  EXPECT_TRUE(Connect(dpif::Role::kOwner, "vswitchd-3"));
}

TEST_F(DpServerTest, FlowsForwardAndCountStats) {
  auto client = Connect(dpif::Role::kOwner, "vswitchd");
  ASSERT_TRUE(client);
  FlowKey mask = FlowKey::Zero();
  mask.in_port = 0xffffffff;
  mask.eth_type = 0xffff;
  FlowKey key = FlowKey::Zero();
  key.in_port = 1;
  key.eth_type = kEthTypeIpv4;
  auto errors = client->FlowPut({{key, mask, {DpOutput{2}}, dpif::kPutCreate}});
  ASSERT_TRUE(errors);
  ASSERT_EQ(*errors, std::vector<int32_t>{0});
  for (int i = 0; i < 3; ++i) port1_->Inject(UdpFrame(53));
  std::vector<Bytes> sent;
  ASSERT_TRUE(WaitFor([&] {
    auto more = port2_->TakeSent();
    sent.insert(sent.end(), more.begin(), more.end());
    return sent.size() == 3;
  }));
  EXPECT_EQ(sent[0], UdpFrame(53));
  auto flow = client->FlowGet({key, mask});
  ASSERT_TRUE(flow) << flow.error().ToString();
  EXPECT_EQ(flow->stats.n_packets, 3u);
  EXPECT_EQ(flow->stats.n_bytes, 3 * UdpFrame(53).size());
  EXPECT_GT(flow->stats.used_ms, 0u);
  auto stats = client->GetStats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(Counter(*stats, "lookups_megaflow_hit"), 1u);
  EXPECT_EQ(Counter(*stats, "lookups_emc_hit"), 2u);
  EXPECT_EQ(Counter(*stats, "n_flows"), 1u);
  EXPECT_EQ(Counter(*stats, "n_masks"), 1u);
  ASSERT_EQ(stats->ports.size(), 2u);
  EXPECT_EQ(stats->ports[1].stats.tx_packets, 3u);

  // Execute sends a packet with the given actions.
  ASSERT_TRUE(client->Execute({{1, UdpFrame(99), {DpOutput{1}, DpOutput{2}}}}));
  EXPECT_EQ(port1_->TakeSent().size(), 1u);
  EXPECT_EQ(port2_->TakeSent().size(), 1u);

  auto del = client->FlowDel({{key, mask}, {key, FlowKey::Ones()}});
  ASSERT_TRUE(del);
  ASSERT_EQ(del->size(), 2u);
  EXPECT_EQ((*del)[0].error, 0);
  EXPECT_EQ((*del)[0].stats.n_packets, 3u);
  EXPECT_EQ((*del)[1].error, ENOENT);
  EXPECT_FALSE(client->FlowGet({key, mask}));
}

TEST_F(DpServerTest, BigPutBatchAndChunkedDump) {
  auto client = Connect(dpif::Role::kOwner, "vswitchd");
  ASSERT_TRUE(client);
  std::vector<dpif::FlowPut> puts;
  FlowKey mask = FlowKey::Zero();
  mask.in_port = 0xffffffff;
  mask.tp_dst = 0xffff;
  for (uint32_t i = 0; i < 10000; ++i) {
    FlowKey key = FlowKey::Zero();
    key.in_port = 1 + i / 65536;
    key.tp_dst = static_cast<uint16_t>(i);
    puts.push_back({key, mask, {DpOutput{2}}, dpif::kPutCreate});
  }
  puts.push_back(puts[0]);  // a duplicate without kPutModify
  auto errors = client->FlowPut(puts);
  ASSERT_TRUE(errors);
  ASSERT_EQ(errors->size(), puts.size());
  EXPECT_EQ((*errors)[0], 0);
  EXPECT_EQ((*errors)[9999], 0);
  EXPECT_EQ(errors->back(), EEXIST);
  auto dump = client->FlowDump();
  ASSERT_TRUE(dump) << dump.error().ToString();
  EXPECT_EQ(dump->size(), 10000u);
  ASSERT_TRUE(client->FlowFlush());
  dump = client->FlowDump();
  ASSERT_TRUE(dump);
  EXPECT_TRUE(dump->empty());
}

TEST_F(DpServerTest, MissesWaitForTheOwnerInOrder) {
  for (uint16_t i = 1; i <= 5; ++i) port1_->Inject(UdpFrame(i));
  ASSERT_TRUE(WaitFor([&] { return dp_->Counters()[2].second == 5; }));  // lookups_miss
  auto client = Connect(dpif::Role::kOwner, "vswitchd");
  ASSERT_TRUE(client);
  auto upcalls = WaitUpcalls(*client, 5);
  ASSERT_EQ(upcalls.size(), 5u);
  for (uint16_t i = 0; i < 5; ++i) {
    EXPECT_EQ(upcalls[i].type, dpif::UpcallType::kMiss);
    EXPECT_EQ(upcalls[i].in_port, 1u);
    EXPECT_EQ(upcalls[i].key.tp_dst, i + 1);
    EXPECT_EQ(upcalls[i].packet, UdpFrame(i + 1));
  }
  // A userspace action becomes an ACTION upcall carrying its userdata.
  FlowKey mask = FlowKey::Zero();
  mask.in_port = 0xffffffff;
  FlowKey key = FlowKey::Zero();
  key.in_port = 1;
  ASSERT_TRUE(client->FlowPut({{key, mask, {DpUserspace{{1, 2, 3}}}, dpif::kPutCreate}}));
  port1_->Inject(UdpFrame(7));
  upcalls = WaitUpcalls(*client, 1);
  ASSERT_EQ(upcalls.size(), 1u);
  EXPECT_EQ(upcalls[0].type, dpif::UpcallType::kAction);
  EXPECT_EQ(upcalls[0].userdata, (std::vector<uint8_t>{1, 2, 3}));
  auto stats = client->GetStats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(Counter(*stats, "upcalls_sent"), 6u);
  EXPECT_EQ(Counter(*stats, "miss_queue_delivered"), 6u);
}

TEST_F(DpServerTest, MissQueueLimitIsCounted) {
  for (uint16_t i = 0; i < 130; ++i) port1_->Inject(UdpFrame(i));
  auto monitor = Connect(dpif::Role::kMonitor, "ctl");
  ASSERT_TRUE(monitor);
  ASSERT_TRUE(WaitFor([&] {
    auto stats = monitor->GetStats();
    return stats && Counter(*stats, "lookups_miss") == 130;
  }));
  auto stats = monitor->GetStats();
  EXPECT_EQ(Counter(*stats, "miss_queue_queued"), 100u);
  EXPECT_EQ(Counter(*stats, "miss_queue_dropped_packets"), 30u);
  EXPECT_EQ(Counter(*stats, "upcalls_sent"), 0u);  // monitors get no upcalls
}

TEST_F(DpServerTest, GarbageGetsAnErrorAndTheDatapathLivesOn) {
  auto fd = ConnectUnix(path_);
  ASSERT_TRUE(fd);
  // A header claiming 1 GiB: the framing is lost.
  uint8_t garbage[16] = {0, 0, 0, 0x40, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
  ASSERT_EQ(write(fd->get(), garbage, sizeof(garbage)), 16);
  std::vector<uint8_t> reply;
  uint8_t buffer[4096];
  for (;;) {
    ssize_t n = read(fd->get(), buffer, sizeof(buffer));
    if (n <= 0) break;  // the server closes after its error reply
    reply.insert(reply.end(), buffer, buffer + n);
  }
  auto msg = dpif::DecodeMessage(reply);
  ASSERT_TRUE(msg) << msg.error().ToString();
  EXPECT_NE(msg->header.error, 0);
  auto* err = std::get_if<dpif::ErrorReply>(&msg->body);
  ASSERT_TRUE(err);
  EXPECT_NE(err->message.find("length"), std::string::npos) << err->message;

  // A well-formed request before Hello.
  auto fd2 = ConnectUnix(path_);
  ASSERT_TRUE(fd2);
  auto bytes = dpif::EncodeMessage(dpif::PortList{}, 5);
  ASSERT_EQ(write(fd2->get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  reply.clear();
  for (;;) {
    ssize_t n = read(fd2->get(), buffer, sizeof(buffer));
    if (n <= 0) break;
    reply.insert(reply.end(), buffer, buffer + n);
  }
  msg = dpif::DecodeMessage(reply);
  ASSERT_TRUE(msg);
  EXPECT_EQ(msg->header.xid, 5u);
  EXPECT_NE(std::get<dpif::ErrorReply>(msg->body).message.find("Hello"), std::string::npos);

  auto client = Connect(dpif::Role::kMonitor, "after");
  ASSERT_TRUE(client);
  auto ports = client->PortList();
  ASSERT_TRUE(ports);
  EXPECT_EQ(ports->size(), 2u);
  auto bad = client->PortAdd("nosuchif0", 0);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ENODEV);
  EXPECT_NE(bad.error().message.find("nosuchif0"), std::string::npos);
}

// hsw-vswitchd's graceful stop: after UpcallPause the datapath sends the
// owner nothing more, everything sent before is in the owner's hands with the
// reply, and the next owner gets exactly the misses that came after.
TEST_F(DpServerTest, UpcallPauseLeavesLaterMissesForTheNextOwner) {
  auto owner = Connect(dpif::Role::kOwner, "vswitchd");
  auto monitor = Connect(dpif::Role::kMonitor, "ctl");
  ASSERT_TRUE(owner && monitor);
  ASSERT_EQ(owner->hello().version, dpif::kProtocolVersionMax);
  for (uint16_t i = 1; i <= 5; ++i) port1_->Inject(UdpFrame(i));
  // Sent, and not read by the owner yet: in its socket buffer.
  ASSERT_TRUE(WaitFor([&] {
    auto stats = monitor->GetStats();
    return stats && Counter(*stats, "upcalls_sent") == 5;
  }));

  auto paused = owner->PauseUpcalls();
  ASSERT_TRUE(paused) << paused.error().ToString();
  EXPECT_EQ(*paused, 5u);
  ASSERT_TRUE(owner->HasBufferedUpcalls());
  auto before = owner->RecvUpcalls(100);
  ASSERT_TRUE(before);
  ASSERT_EQ(before->size(), 5u);
  for (uint16_t i = 0; i < 5; ++i) EXPECT_EQ((*before)[i].key.tp_dst, i + 1);

  // Misses after the pause wait in the queue, although the owner is still
  // connected and reading.
  for (uint16_t i = 6; i <= 8; ++i) port1_->Inject(UdpFrame(i));
  ASSERT_TRUE(WaitFor([&] {
    auto stats = monitor->GetStats();
    return stats && Counter(*stats, "miss_queue_packets") == 3;
  }));
  std::this_thread::sleep_for(20ms);
  auto after = owner->RecvUpcalls(100);
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->empty());
  auto stats = monitor->GetStats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(Counter(*stats, "upcalls_sent"), 5u);
  // Pausing again changes nothing and says the same.
  paused = owner->PauseUpcalls();
  ASSERT_TRUE(paused);
  EXPECT_EQ(*paused, 5u);

  // Monitors receive no upcalls to pause.
  auto refused = monitor->PauseUpcalls();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, EPERM);
  EXPECT_FALSE(monitor->broken());

  // The owner exits; its successor gets the waiting misses, each once.
  owner.reset();
  ASSERT_TRUE(WaitFor([&] {
    auto s = monitor->GetStats();
    return s && Counter(*s, "owner_connected") == 0;
  }));
  auto next = Connect(dpif::Role::kOwner, "vswitchd-2");
  ASSERT_TRUE(next);
  auto upcalls = WaitUpcalls(*next, 3);
  ASSERT_EQ(upcalls.size(), 3u);
  for (uint16_t i = 0; i < 3; ++i) EXPECT_EQ(upcalls[i].key.tp_dst, i + 6);
  std::this_thread::sleep_for(20ms);
  auto extra = next->RecvUpcalls(100);
  ASSERT_TRUE(extra);
  EXPECT_TRUE(extra->empty());
  stats = monitor->GetStats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(Counter(*stats, "upcalls_sent"), 8u);
  EXPECT_EQ(Counter(*stats, "miss_queue_delivered"), 8u);
  // The new owner is not paused: misses flow to it at once.
  port1_->Inject(UdpFrame(9));
  upcalls = WaitUpcalls(*next, 1);
  ASSERT_EQ(upcalls.size(), 1u);
  EXPECT_EQ(upcalls[0].key.tp_dst, 9);
}

// A version-1 client knows no UpcallPause: DpifClient does not send it (an
// old datapath would close the connection), and the datapath refuses it on a
// version-1 connection without closing.
TEST_F(DpServerTest, UpcallPauseNeedsProtocolVersion2) {
  dpif::Hello v1;
  v1.version_min = v1.version_max = 1;
  v1.role = dpif::Role::kOwner;
  v1.client_name = "old-vswitchd";
  auto fd = ConnectUnix(path_);
  ASSERT_TRUE(fd);
  auto client = dpif::DpifClient::Open(std::move(*fd), dpif::Role::kOwner, "old-vswitchd",
                                       dpif::DpifClient::kDefaultTimeout, &v1);
  ASSERT_TRUE(client) << client.error().ToString();
  EXPECT_EQ((*client)->hello().version, 1u);
  auto paused = (*client)->PauseUpcalls();
  ASSERT_FALSE(paused);
  EXPECT_EQ(paused.error().code, ENOTSUP);
  EXPECT_FALSE((*client)->broken());
  (*client).reset();

  // The same request sent by hand on a version-1 connection.
  auto raw = ConnectUnix(path_);
  ASSERT_TRUE(raw);
  v1.role = dpif::Role::kMonitor;
  std::vector<uint8_t> bytes = dpif::EncodeMessage(v1, 1);
  std::vector<uint8_t> pause = dpif::EncodeMessage(dpif::UpcallPause{}, 2);
  bytes.insert(bytes.end(), pause.begin(), pause.end());
  std::vector<uint8_t> list = dpif::EncodeMessage(dpif::PortList{}, 3);
  bytes.insert(bytes.end(), list.begin(), list.end());
  ASSERT_EQ(write(raw->get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  dpif::MessageReader reader;
  std::vector<dpif::Message> replies;
  ASSERT_TRUE(WaitFor([&] {
    uint8_t buffer[65536];
    ssize_t n = recv(raw->get(), buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n > 0) reader.Append(buffer, static_cast<size_t>(n));
    for (;;) {
      auto next = reader.Next();
      if (!next || !*next) break;
      replies.push_back(std::move(**next));
    }
    return replies.size() >= 3;
  }));
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[1].header.xid, 2u);
  EXPECT_EQ(replies[1].header.error, EOPNOTSUPP);
  EXPECT_NE(std::get<dpif::ErrorReply>(replies[1].body).message.find("version 2"),
            std::string::npos);
  // The connection lives on.
  EXPECT_EQ(replies[2].header.xid, 3u);
  EXPECT_EQ(replies[2].header.error, 0);
}

}  // namespace
}  // namespace hsw::dp
