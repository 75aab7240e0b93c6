#include "dpif/dpif_client.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <thread>

#include "common/fd.h"
#include "testlib/temp_dir.h"

namespace hsw::dpif {
namespace {

using namespace std::chrono_literals;

// A scripted datapath on the other end of a socket: answers Hello like the
// real one (negotiating versions) and hands every other message to `handler`,
// which appends what to send back; returning false closes the connection.
class TinyServer {
 public:
  using Handler = std::function<bool(const Message&, std::vector<uint8_t>& out)>;

  explicit TinyServer(Handler handler, uint32_t version_min = 1, uint32_t version_max = 1)
      : handler_(std::move(handler)), version_min_(version_min), version_max_(version_max) {}
  ~TinyServer() {
    if (thread_.joinable()) {
      shutdown(fd_.get(), SHUT_RDWR);
      thread_.join();
    }
  }

  // Returns the client's end of a fresh socketpair; serves the other end.
  UniqueFd Start() {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fd_.Reset(sv[1]);
    thread_ = std::thread([this] { Serve(); });
    return UniqueFd(sv[0]);
  }
  // Serves an fd accepted from a listener.
  void StartOn(UniqueFd fd) {
    fd_ = std::move(fd);
    thread_ = std::thread([this] { Serve(); });
  }
  void Send(const std::vector<uint8_t>& bytes) { ASSERT_TRUE(WriteAll(fd_.get(), bytes.data(), bytes.size())); }

  std::atomic<int> n_requests{0};
  std::string client_name;
  Role role = Role::kMonitor;

 private:
  void Serve() {
    SetNonBlocking(fd_.get(), false);
    MessageReader reader;
    uint8_t buf[4096];
    while (true) {
      ssize_t n = read(fd_.get(), buf, sizeof(buf));
      if (n <= 0) return;
      reader.Append(buf, static_cast<size_t>(n));
      while (true) {
        auto next = reader.Next();
        if (!next || !*next) break;
        const Message& msg = **next;
        std::vector<uint8_t> out;
        bool keep = true;
        if (msg.header.type == static_cast<uint16_t>(MsgType::kHello)) {
          const auto& h = std::get<Hello>(msg.body);
          client_name = h.client_name;
          role = h.role;
          uint32_t lo = std::max(h.version_min, version_min_);
          uint32_t hi = std::min(h.version_max, version_max_);
          if (lo > hi) {
            out = EncodeErrorReply(MsgType::kHello, msg.header.xid, EPROTONOSUPPORT,
                                   fmt::format("no common protocol version: datapath speaks "
                                               "{}..{}, client {}..{}",
                                               version_min_, version_max_, h.version_min,
                                               h.version_max));
            keep = false;
          } else {
            HelloReply r;
            r.version = forced_version_ ? forced_version_ : hi;
            r.flow_key_size = sizeof(FlowKey);
            r.datapath_pid = 99;
            r.instance_id = 0x1234;
            r.datapath_version = "test";
            r.n_flows = 3;
            out = EncodeMessage(r, msg.header.xid, kFlagReply);
          }
        } else {
          ++n_requests;
          keep = handler_(msg, out);
        }
        if (!out.empty()) WriteAll(fd_.get(), out.data(), out.size());
        if (!keep) {
          fd_.Reset();
          return;
        }
      }
    }
  }

  Handler handler_;
  uint32_t version_min_, version_max_;

 public:
  uint32_t forced_version_ = 0;

 private:
  UniqueFd fd_;
  std::thread thread_;
};

void Append(std::vector<uint8_t>& out, const std::vector<uint8_t>& more) {
  out.insert(out.end(), more.begin(), more.end());
}

Upcall MakeUpcall(uint32_t in_port) {
  Upcall u;
  u.key = FlowKey::Zero();
  u.key.in_port = in_port;
  u.in_port = in_port;
  u.packet = {1, 2, 3, static_cast<uint8_t>(in_port)};
  return u;
}

DpFlow MakeFlow(uint32_t in_port) {
  DpFlow f;
  f.key = FlowKey::Zero();
  f.key.in_port = in_port;
  f.mask = FlowKey::Zero();
  f.mask.in_port = 0xffffffff;
  f.actions = {DpOutput{in_port + 1}};
  f.stats.n_packets = in_port * 10;
  return f;
}

bool Readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1;
}

TEST(DpifClient, HandshakeOk) {
  TinyServer server([](const Message&, std::vector<uint8_t>&) { return true; });
  auto client = DpifClient::Open(server.Start(), Role::kOwner, "hsw-vswitchd");
  ASSERT_TRUE(client) << client.error().ToString();
  EXPECT_EQ((*client)->hello().version, 1u);
  EXPECT_EQ((*client)->hello().datapath_pid, 99u);
  EXPECT_EQ((*client)->hello().instance_id, 0x1234u);
  EXPECT_EQ((*client)->hello().n_flows, 3u);
  EXPECT_EQ(server.client_name, "hsw-vswitchd");
  EXPECT_EQ(server.role, Role::kOwner);
}

TEST(DpifClient, VersionMismatchIsRefusedClearly) {
  TinyServer server([](const Message&, std::vector<uint8_t>&) { return true; }, 1, 1);
  Hello hello;
  hello.version_min = 5;
  hello.version_max = 7;
  auto client = DpifClient::Open(server.Start(), Role::kOwner, "x", 2s, &hello);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, EPROTONOSUPPORT);
  const std::string& m = client.error().message;
  EXPECT_NE(m.find("1..1"), std::string::npos) << m;
  EXPECT_NE(m.find("5..7"), std::string::npos) << m;
}

TEST(DpifClient, VersionOutsideOurRangeIsRefused) {
  TinyServer server([](const Message&, std::vector<uint8_t>&) { return true; });
  server.forced_version_ = 9;
  auto client = DpifClient::Open(server.Start(), Role::kMonitor, "ctl");
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, EPROTONOSUPPORT);
  EXPECT_NE(client.error().message.find("version 9"), std::string::npos)
      << client.error().message;
}

TEST(DpifClient, UpcallsArrivingDuringACallAreBuffered) {
  TinyServer server([](const Message& msg, std::vector<uint8_t>& out) {
    EXPECT_EQ(msg.header.type, static_cast<uint16_t>(MsgType::kFlowDump));
    uint32_t xid = msg.header.xid;
    Append(out, EncodeMessage(MakeUpcall(1), 0));
    Append(out, EncodeMessage(MakeUpcall(2), 0));
    Append(out, EncodeMessage(FlowDumpReply{{MakeFlow(1), MakeFlow(2)}}, xid,
                              kFlagReply | kFlagMore));
    Append(out, EncodeMessage(MakeUpcall(3), 0));
    Append(out, EncodeMessage(FlowDumpReply{{MakeFlow(3)}}, xid, kFlagReply));
    Append(out, EncodeMessage(MakeUpcall(4), 0));
    return true;
  });
  auto client = DpifClient::Open(server.Start(), Role::kOwner, "v");
  ASSERT_TRUE(client) << client.error().ToString();
  DpifClient& c = **client;
  auto flows = c.FlowDump();
  ASSERT_TRUE(flows) << flows.error().ToString();
  ASSERT_EQ(flows->size(), 3u);
  EXPECT_EQ((*flows)[2].key.in_port, 3u);
  EXPECT_EQ((*flows)[1].actions, (DpActions{DpOutput{3}}));
  // Upcall 4 followed the last reply in the same write; it may or may not
  // have been read yet, so collect until all four are in.
  std::vector<Upcall> got;
  EXPECT_TRUE(c.HasBufferedUpcalls());
  for (int i = 0; i < 100 && got.size() < 4; ++i) {
    if (!c.HasBufferedUpcalls()) Readable(c.upcall_fd(), 100);
    auto batch = c.RecvUpcalls(2);
    ASSERT_TRUE(batch) << batch.error().ToString();
    EXPECT_LE(batch->size(), 2u);
    got.insert(got.end(), batch->begin(), batch->end());
  }
  ASSERT_EQ(got.size(), 4u);
  for (uint32_t i = 0; i < 4; ++i) EXPECT_EQ(got[i].in_port, i + 1);
  EXPECT_FALSE(c.HasBufferedUpcalls());
}

TEST(DpifClient, PauseUpcallsBuffersEverythingSentBeforeTheReply) {
  TinyServer server(
      [](const Message& msg, std::vector<uint8_t>& out) {
        EXPECT_EQ(msg.header.type, static_cast<uint16_t>(MsgType::kUpcallPause));
        Append(out, EncodeMessage(MakeUpcall(2), 0));
        Append(out, EncodeMessage(MakeUpcall(3), 0));
        Append(out, EncodeMessage(UpcallPauseReply{3}, msg.header.xid, kFlagReply));
        return true;
      },
      1, 2);
  auto client = DpifClient::Open(server.Start(), Role::kOwner, "v");
  ASSERT_TRUE(client) << client.error().ToString();
  DpifClient& c = **client;
  EXPECT_EQ(c.hello().version, 2u);
  // One upcall handed out before the pause, two in flight.
  server.Send(EncodeMessage(MakeUpcall(1), 0));
  ASSERT_TRUE(Readable(c.upcall_fd(), 2000));
  auto first = c.RecvUpcalls(10);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 1u);
  auto paused = c.PauseUpcalls();
  ASSERT_TRUE(paused) << paused.error().ToString();
  EXPECT_EQ(*paused, 3u);
  EXPECT_EQ(c.n_upcalls_received(), 3u);
  ASSERT_TRUE(c.HasBufferedUpcalls());
  auto rest = c.RecvUpcalls(10);
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ((*rest)[0].in_port, 2u);
  EXPECT_EQ((*rest)[1].in_port, 3u);
}

// The datapath's count restarts at a datapath handover: a difference is
// logged, and the pause still holds (the stream's order is what matters).
TEST(DpifClient, PauseUpcallsCountMismatchIsOnlyReported) {
  TinyServer server(
      [](const Message& msg, std::vector<uint8_t>& out) {
        Append(out, EncodeMessage(UpcallPauseReply{4}, msg.header.xid, kFlagReply));
        return true;
      },
      1, 2);
  auto client = DpifClient::Open(server.Start(), Role::kOwner, "v");
  ASSERT_TRUE(client);
  auto paused = (*client)->PauseUpcalls();
  ASSERT_TRUE(paused) << paused.error().ToString();
  EXPECT_EQ(*paused, 4u);
  EXPECT_EQ((*client)->n_upcalls_received(), 0u);
  EXPECT_FALSE((*client)->broken());
}

TEST(DpifClient, PauseUpcallsIsNotSentToAVersion1Datapath) {
  // A version-1 datapath would take type 13 for a corrupt stream.
  TinyServer server([](const Message&, std::vector<uint8_t>&) { return false; });
  auto client = DpifClient::Open(server.Start(), Role::kOwner, "v");
  ASSERT_TRUE(client);
  ASSERT_EQ((*client)->hello().version, 1u);
  auto paused = (*client)->PauseUpcalls();
  ASSERT_FALSE(paused);
  EXPECT_EQ(paused.error().code, ENOTSUP);
  EXPECT_NE(paused.error().message.find("version 1"), std::string::npos)
      << paused.error().message;
  EXPECT_FALSE((*client)->broken());
  EXPECT_EQ(server.n_requests, 0);
}

TEST(DpifClient, RecvUpcallsDoesNotBlock) {
  TinyServer server([](const Message&, std::vector<uint8_t>&) { return true; });
  auto client = DpifClient::Open(server.Start(), Role::kOwner, "v");
  ASSERT_TRUE(client);
  auto start = std::chrono::steady_clock::now();
  auto none = (*client)->RecvUpcalls(10);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  server.Send(EncodeMessage(MakeUpcall(7), 0));
  ASSERT_TRUE(Readable((*client)->upcall_fd(), 2000));
  auto one = (*client)->RecvUpcalls(10);
  ASSERT_TRUE(one);
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].packet, (std::vector<uint8_t>{1, 2, 3, 7}));
}

TEST(DpifClient, ErrorReplyFailsOnlyThatCall) {
  TinyServer server([](const Message& msg, std::vector<uint8_t>& out) {
    if (msg.header.type == static_cast<uint16_t>(MsgType::kPortAdd)) {
      const auto& add = std::get<PortAdd>(msg.body);
      out = EncodeErrorReply(MsgType::kPortAdd, msg.header.xid, ENODEV,
                             fmt::format("port add {}: no such network interface", add.name));
    } else {
      out = EncodeMessage(PortListReply{}, msg.header.xid, kFlagReply);
    }
    return true;
  });
  auto client = DpifClient::Open(server.Start(), Role::kMonitor, "ctl");
  ASSERT_TRUE(client);
  auto r = (*client)->PortAdd("nope0", 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENODEV);
  EXPECT_EQ(r.error().message, "port add nope0: no such network interface");
  EXPECT_FALSE((*client)->broken());
  auto list = (*client)->PortList();
  ASSERT_TRUE(list) << list.error().ToString();
  EXPECT_TRUE(list->empty());
}

TEST(DpifClient, TimeoutNamesTheRequestAndBreaksTheConnection) {
  TinyServer server([](const Message&, std::vector<uint8_t>&) { return true; });  // never answers
  auto client = DpifClient::Open(server.Start(), Role::kMonitor, "ctl", 200ms);
  ASSERT_TRUE(client);
  auto start = std::chrono::steady_clock::now();
  auto r = (*client)->GetStats();
  ASSERT_FALSE(r);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 190ms);
  EXPECT_EQ(r.error().code, ETIMEDOUT);
  EXPECT_NE(r.error().message.find("StatsGet"), std::string::npos) << r.error().message;
  EXPECT_TRUE((*client)->broken());
  EXPECT_FALSE((*client)->PortList());
}

TEST(DpifClient, ClosedConnectionIsReported) {
  TinyServer server([](const Message&, std::vector<uint8_t>&) { return false; });
  auto client = DpifClient::Open(server.Start(), Role::kOwner, "v");
  ASSERT_TRUE(client);
  auto r = (*client)->FlowFlush();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ECONNRESET);
  EXPECT_NE(r.error().message.find("FlowFlush"), std::string::npos) << r.error().message;
  EXPECT_FALSE((*client)->RecvUpcalls(1));
}

TEST(DpifClient, ConnectionLevelErrorKeepsTheDatapathsExplanation) {
  TinyServer server([](const Message&, std::vector<uint8_t>& out) {
    out = EncodeErrorReply(MsgType::kHello, 0, EPROTO, "malformed message: FlowPut request: x");
    return false;
  });
  auto client = DpifClient::Open(server.Start(), Role::kOwner, "v");
  ASSERT_TRUE(client);
  dpif::FlowPut put;
  put.key = put.mask = FlowKey::Zero();
  auto r = (*client)->FlowPut({put});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EPROTO);
  EXPECT_NE(r.error().message.find("malformed message: FlowPut request"), std::string::npos)
      << r.error().message;
}

TEST(DpifClient, GarbageFromTheDatapathBreaksTheConnection) {
  TinyServer server([](const Message& msg, std::vector<uint8_t>& out) {
    out = EncodeMessage(PortDel{}, msg.header.xid, kFlagReply);
    out[4] = 77;  // unknown type
    return true;
  });
  auto client = DpifClient::Open(server.Start(), Role::kOwner, "v");
  ASSERT_TRUE(client);
  auto r = (*client)->PortDel(3);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EPROTO);
  EXPECT_TRUE((*client)->broken());
}

TEST(DpifClient, LargeBatchesAreSplitAndKeepOrder) {
  std::atomic<int> n_batches{0};
  TinyServer server([&](const Message& msg, std::vector<uint8_t>& out) {
    const auto& batch = std::get<FlowPutBatch>(msg.body);
    ++n_batches;
    FlowPutBatchReply reply;
    for (const auto& put : batch.puts) reply.errors.push_back(static_cast<int32_t>(put.key.in_port % 7));
    out = EncodeMessage(reply, msg.header.xid, kFlagReply);
    return true;
  });
  auto client = DpifClient::Open(server.Start(), Role::kOwner, "v");
  ASSERT_TRUE(client);
  std::vector<dpif::FlowPut> puts;
  for (uint32_t i = 0; i < 20000; ++i) {
    dpif::FlowPut p;
    p.key = FlowKey::Zero();
    p.key.in_port = i;
    p.mask = FlowKey::Ones();
    p.actions = {DpSetMasked{FlowKey::Zero(), FlowKey::Zero()}, DpOutput{1}};
    puts.push_back(p);
  }
  auto errors = (*client)->FlowPut(puts);
  ASSERT_TRUE(errors) << errors.error().ToString();
  ASSERT_EQ(errors->size(), puts.size());
  for (uint32_t i = 0; i < 20000; ++i) ASSERT_EQ((*errors)[i], static_cast<int32_t>(i % 7));
  EXPECT_GT(n_batches.load(), 4);  // ~8 MB of puts in ~1 MB requests
}

TEST(DpifClient, ConnectOverAUnixSocket) {
  testing::TempDir dir("hsw-dpif-test");
  std::string path = dir / "datapath.sock";
  auto listener = ListenUnix(path);
  ASSERT_TRUE(listener) << listener.error().ToString();
  TinyServer server([](const Message& msg, std::vector<uint8_t>& out) {
    StatsReply s;
    s.counters = {{"lookups_emc_hit", 5}, {"n_flows", 1}};
    out = EncodeMessage(s, msg.header.xid, kFlagReply);
    return true;
  });
  std::thread acceptor([&] {
    SetNonBlocking(listener->get(), false);
    int fd = accept(listener->get(), nullptr, nullptr);
    server.StartOn(UniqueFd(fd));
  });
  auto client = DpifClient::Connect(path, Role::kMonitor, "hsw-ctl");
  acceptor.join();
  ASSERT_TRUE(client) << client.error().ToString();
  auto stats = (*client)->GetStats();
  ASSERT_TRUE(stats) << stats.error().ToString();
  EXPECT_EQ(stats->counters.at(0).first, "lookups_emc_hit");
  EXPECT_EQ(stats->counters.at(0).second, 5u);
  client->reset();
  unlink(path.c_str());
  rmdir(dir.path().c_str());  // gone with its directory (TempDir ignores that)

  auto missing = DpifClient::Connect(path, Role::kMonitor, "hsw-ctl");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find(path), std::string::npos) << missing.error().message;
}

}  // namespace
}  // namespace hsw::dpif
