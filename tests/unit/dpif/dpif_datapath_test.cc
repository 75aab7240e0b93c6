// DpifClient against the real datapath server (hsw::dp::DpServer over a
// Datapath with no ports), on a temporary unix socket: checks that the two
// halves of the protocol, written by different people, agree.  No root
// needed: nothing here opens a network interface.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <functional>
#include <mutex>
#include <thread>

using namespace std::chrono_literals;

#include "common/fd.h"
#include "datapath/datapath.h"
#include "datapath/dp_server.h"
#include "dpif/dpif_client.h"
#include "testlib/temp_dir.h"

namespace hsw::dpif {
namespace {

// Runs a Datapath and its DpServer on a thread, as hsw-datapath's loop does.
// Work on the Datapath from the test goes through Post(), so that only the
// loop thread touches it.
class DatapathThread {
 public:
  DatapathThread() {
    auto listener = ListenUnix(path_);
    EXPECT_TRUE(listener) << listener.error().ToString();
    dp::DpServerOptions options;
    options.dump_chunk = 100;  // several parts for a modest dump
    server_ = std::make_unique<dp::DpServer>(datapath_, std::move(*listener), options);
    thread_ = std::thread([this] { Loop(); });
  }
  ~DatapathThread() {
    stop_ = true;
    thread_.join();
    server_.reset();
  }
  const std::string& path() const { return path_; }
  void Post(std::function<void(dp::Datapath&)> fn) {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(std::move(fn));
  }

 private:
  void Loop() {
    std::vector<pollfd> fds;
    while (!stop_) {
      fds.clear();
      server_->AppendPollFds(fds);
      poll(fds.data(), fds.size(), server_->HasPendingWork() ? 0 : 10);
      std::vector<std::function<void(dp::Datapath&)>> tasks;
      {
        std::lock_guard<std::mutex> lock(mu_);
        tasks.swap(tasks_);
      }
      for (auto& t : tasks) t(datapath_);
      server_->Process(fds, dp::MonotonicUs());
    }
  }

  testing::TempDir dir_{"hsw-dpif-it"};  // first: outlives the socket and the server
  std::string path_ = dir_ / "datapath.sock";
  dp::Datapath datapath_;
  std::unique_ptr<dp::DpServer> server_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::function<void(dp::Datapath&)>> tasks_;
  std::thread thread_;
};

FlowKey Key(uint32_t i) {
  FlowKey k = FlowKey::Zero();
  k.in_port = 1;
  k.eth_type = kEthTypeIpv4;
  k.nw_proto = kIpProtoUdp;
  k.ipv4_dst[0] = 10;
  k.ipv4_dst[2] = static_cast<uint8_t>(i >> 8);
  k.ipv4_dst[3] = static_cast<uint8_t>(i);
  return k;
}

FlowKey Mask() {
  FlowKey m = FlowKey::Zero();
  m.in_port = 0xffffffff;
  m.eth_type = 0xffff;
  m.nw_proto = 0xff;
  std::memset(m.ipv4_dst, 0xff, 4);
  return m;
}

uint64_t Counter(const StatsReply& stats, const std::string& name) {
  for (const auto& [n, v] : stats.counters) {
    if (n == name) return v;
  }
  ADD_FAILURE() << "no counter " << name;
  return 0;
}

TEST(DpifWithDatapath, FlowLifecycle) {
  DatapathThread dp;
  auto client = DpifClient::Connect(dp.path(), Role::kOwner, "test-owner");
  ASSERT_TRUE(client) << client.error().ToString();
  DpifClient& c = **client;
  EXPECT_EQ(c.hello().version, kProtocolVersionMax);
  EXPECT_EQ(c.hello().flow_key_size, sizeof(FlowKey));
  EXPECT_EQ(c.hello().n_flows, 0u);

  std::vector<dpif::FlowPut> puts;
  for (uint32_t i = 0; i < 350; ++i) {
    puts.push_back({Key(i), Mask(), {DpOutput{2}}, kPutCreate});
  }
  puts.push_back({Key(999), Mask(), {DpPushVlan{0x1234, 5}}, kPutCreate});  // bad tpid
  puts.push_back({Key(0), Mask(), {DpOutput{3}}, kPutCreate});  // exists, no MODIFY
  auto errors = c.FlowPut(puts);
  ASSERT_TRUE(errors) << errors.error().ToString();
  ASSERT_EQ(errors->size(), puts.size());
  for (uint32_t i = 0; i < 350; ++i) ASSERT_EQ((*errors)[i], 0) << i;
  EXPECT_EQ((*errors)[350], EINVAL);
  EXPECT_EQ((*errors)[351], EEXIST);

  auto dump = c.FlowDump();  // 350 flows in parts of 100
  ASSERT_TRUE(dump) << dump.error().ToString();
  EXPECT_EQ(dump->size(), 350u);

  auto got = c.FlowGet({Key(7), Mask()});
  ASSERT_TRUE(got) << got.error().ToString();
  EXPECT_EQ(got->actions, (DpActions{DpOutput{2}}));
  auto absent = c.FlowGet({Key(7000), Mask()});
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().code, ENOENT);

  auto del = c.FlowDel({{Key(1), Mask()}, {Key(5000), Mask()}});
  ASSERT_TRUE(del) << del.error().ToString();
  EXPECT_EQ((*del)[0].error, 0);
  EXPECT_EQ((*del)[1].error, ENOENT);

  auto stats = c.GetStats();
  ASSERT_TRUE(stats) << stats.error().ToString();
  EXPECT_EQ(Counter(*stats, "n_flows"), 349u);
  EXPECT_EQ(Counter(*stats, "n_masks"), 1u);
  EXPECT_EQ(Counter(*stats, "protocol_errors"), 0u);
  EXPECT_EQ(Counter(*stats, "owner_connected"), 1u);

  ASSERT_TRUE(c.FlowFlush());
  dump = c.FlowDump();
  ASSERT_TRUE(dump);
  EXPECT_TRUE(dump->empty());
}

TEST(DpifWithDatapath, SecondOwnerIsRefusedMonitorsAreNot) {
  DatapathThread dp;
  auto owner = DpifClient::Connect(dp.path(), Role::kOwner, "first");
  ASSERT_TRUE(owner) << owner.error().ToString();
  auto second = DpifClient::Connect(dp.path(), Role::kOwner, "second");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, EBUSY);
  EXPECT_NE(second.error().message.find("first"), std::string::npos) << second.error().message;
  auto monitor = DpifClient::Connect(dp.path(), Role::kMonitor, "ctl");
  ASSERT_TRUE(monitor) << monitor.error().ToString();
  EXPECT_TRUE((*monitor)->PortList());
}

TEST(DpifWithDatapath, VersionMismatchNamesBothRanges) {
  DatapathThread dp;
  auto fd = ConnectUnix(dp.path());
  ASSERT_TRUE(fd);
  Hello hello;
  hello.version_min = kProtocolVersionMax + 1;
  hello.version_max = kProtocolVersionMax + 3;
  hello.client_name = "future";
  auto client = DpifClient::Open(std::move(*fd), Role::kOwner, "future", 5s, &hello);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, EPROTONOSUPPORT);
  const std::string& m = client.error().message;
  EXPECT_NE(m.find(fmt::format("{}..{}", kProtocolVersionMin, kProtocolVersionMax)),
            std::string::npos)
      << m;
  EXPECT_NE(m.find(fmt::format("{}..{}", hello.version_min, hello.version_max)),
            std::string::npos)
      << m;
}

TEST(DpifWithDatapath, QueuedMissesReachTheOwner) {
  DatapathThread dp;
  // Misses that arrive with no owner wait in the queue...
  dp.Post([](dp::Datapath& d) {
    for (uint32_t i = 1; i <= 3; ++i) {
      Upcall u;
      u.key = Key(i);
      u.in_port = i;
      u.packet = std::vector<uint8_t>(60, static_cast<uint8_t>(i));
      d.miss_queue().Push(std::move(u), dp::MonotonicUs());
    }
  });
  auto monitor = DpifClient::Connect(dp.path(), Role::kMonitor, "ctl");
  ASSERT_TRUE(monitor);
  // ...are not given to a monitor...
  auto stats = (*monitor)->GetStats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(Counter(*stats, "miss_queue_packets"), 3u);
  // ...and are delivered when an owner connects.
  auto owner = DpifClient::Connect(dp.path(), Role::kOwner, "owner");
  ASSERT_TRUE(owner);
  std::vector<Upcall> got;
  for (int i = 0; i < 200 && got.size() < 3; ++i) {
    if (!(*owner)->HasBufferedUpcalls()) {
      pollfd p{(*owner)->upcall_fd(), POLLIN, 0};
      poll(&p, 1, 20);
    }
    auto batch = (*owner)->RecvUpcalls(16);
    ASSERT_TRUE(batch) << batch.error().ToString();
    got.insert(got.end(), batch->begin(), batch->end());
  }
  ASSERT_EQ(got.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(got[i].in_port, i + 1);
    EXPECT_EQ(got[i].key, Key(i + 1));
    EXPECT_EQ(got[i].packet.size(), 60u);
  }
  auto none = (*monitor)->RecvUpcalls(16);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace hsw::dpif
