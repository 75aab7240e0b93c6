// Connection and Listener on a real EventLoop: socketpairs, punix and ptcp.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "jsonrpc/jsonrpc.h"
#include "testlib/temp_dir.h"

namespace hsw::jsonrpc {
namespace {

using nlohmann::json;

// Runs the loop until `done` or the deadline; false on timeout.
bool RunUntil(EventLoop& loop, const std::function<bool()>& done,
              std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  auto deadline = EventLoop::Clock::now() + limit;
  while (!done()) {
    if (EventLoop::Clock::now() > deadline) return false;
    loop.RunOnce(20);
  }
  return true;
}

struct Pair {
  std::unique_ptr<Connection> a, b;
};

Pair MakePair(EventLoop& loop, size_t max_backlog = Connection::kDefaultMaxBacklog) {
  int sv[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  return {Connection::Adopt(loop, UniqueFd(sv[0]), "a", max_backlog),
          Connection::Adopt(loop, UniqueFd(sv[1]), "b", max_backlog)};
}

TEST(Connection, MessagesBothWays) {
  EventLoop loop;
  auto pair = MakePair(loop);
  std::vector<json> at_a, at_b;
  pair.a->set_on_message([&](json m) { at_a.push_back(std::move(m)); });
  pair.b->set_on_message([&](json m) { at_b.push_back(std::move(m)); });
  int closes = 0;
  pair.a->set_on_close([&](const std::string&) { ++closes; });
  pair.b->set_on_close([&](const std::string&) { ++closes; });

  ASSERT_TRUE(pair.a->Send(MakeRequest("echo", json::array({"hi"}), 1)));
  ASSERT_TRUE(pair.a->Send(MakeNotification("note", json::array())));
  ASSERT_TRUE(RunUntil(loop, [&] { return at_b.size() == 2; }));
  EXPECT_EQ(at_b[0]["method"], "echo");
  EXPECT_EQ(at_b[0]["params"][0], "hi");
  EXPECT_EQ(at_b[1]["method"], "note");
  ASSERT_TRUE(pair.b->Send(MakeReply(at_b[0]["params"], at_b[0]["id"])));
  ASSERT_TRUE(RunUntil(loop, [&] { return at_a.size() == 1; }));
  EXPECT_EQ(at_a[0]["result"][0], "hi");
  EXPECT_EQ(at_a[0]["id"], 1);
  EXPECT_EQ(pair.b->n_messages_received(), 2u);
  EXPECT_GT(pair.b->n_bytes_received(), 20u);
  EXPECT_EQ(closes, 0);
}

TEST(Connection, LargeMessageCrossesManyWrites) {
  EventLoop loop;
  auto pair = MakePair(loop);
  std::vector<json> got;
  pair.b->set_on_message([&](json m) { got.push_back(std::move(m)); });
  std::string big(3 << 20, 'z');
  ASSERT_TRUE(pair.a->Send(MakeNotification("big", json::array({big}))));
  EXPECT_GT(pair.a->backlog(), 0u);  // more than a socket buffer
  ASSERT_TRUE(RunUntil(loop, [&] { return got.size() == 1; }));
  EXPECT_EQ(got[0]["params"][0].get<std::string>().size(), big.size());
  EXPECT_EQ(pair.a->backlog(), 0u);
}

TEST(Connection, PeerCloseReportedOnceAndSendFailsAfter) {
  EventLoop loop;
  auto pair = MakePair(loop);
  std::vector<std::string> reasons;
  pair.a->set_on_close([&](const std::string& reason) { reasons.push_back(reason); });
  pair.b.reset();  // the destructor closes without reporting to b
  ASSERT_TRUE(RunUntil(loop, [&] { return !reasons.empty(); }));
  for (int i = 0; i < 5; ++i) loop.RunOnce(10);
  ASSERT_EQ(reasons.size(), 1u);
  EXPECT_NE(reasons[0].find("closed by peer"), std::string::npos) << reasons[0];
  EXPECT_FALSE(pair.a->open());
  auto sent = pair.a->Send(MakeNotification("late", json::array()));
  ASSERT_FALSE(sent);
  EXPECT_NE(sent.error().message.find("closed"), std::string::npos);
}

TEST(Connection, CloseDoesNotRunTheHandler) {
  EventLoop loop;
  auto pair = MakePair(loop);
  int a_closes = 0, b_closes = 0;
  pair.a->set_on_close([&](const std::string&) { ++a_closes; });
  pair.b->set_on_close([&](const std::string&) { ++b_closes; });
  pair.a->Close();
  ASSERT_TRUE(RunUntil(loop, [&] { return b_closes == 1; }));
  EXPECT_EQ(a_closes, 0);
}

TEST(Connection, FramingErrorClosesWithReason) {
  EventLoop loop;
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd raw(sv[1]);
  auto connection = Connection::Adopt(loop, UniqueFd(sv[0]), "peer");
  std::vector<json> got;
  std::vector<std::string> reasons;
  connection->set_on_message([&](json m) { got.push_back(std::move(m)); });
  connection->set_on_close([&](const std::string& reason) { reasons.push_back(reason); });
  std::string bytes = R"({"method":"x","params":[],"id":null} [garbage])";
  ASSERT_EQ(write(raw.get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ASSERT_TRUE(RunUntil(loop, [&] { return !reasons.empty(); }));
  EXPECT_EQ(got.size(), 1u);
  EXPECT_NE(reasons[0].find("peer:"), std::string::npos);
  EXPECT_NE(reasons[0].find("expected '{'"), std::string::npos) << reasons[0];
}

TEST(Connection, BacklogOverTheCapClosesOnceFromTheLoop) {
  EventLoop loop;
  auto pair = MakePair(loop, /*max_backlog=*/256 << 10);
  std::vector<std::string> reasons;
  pair.a->set_on_close([&](const std::string& reason) { reasons.push_back(reason); });
  // b never reads: nothing runs b's events until the loop runs, and the
  // socket buffer fills long before 64 sends of 64 KiB.
  std::string chunk(64 << 10, 'q');
  bool refused = false;
  for (int i = 0; i < 64 && !refused; ++i) {
    auto status = pair.a->Send(MakeNotification("fill", json::array({chunk})));
    if (!status) {
      refused = true;
      EXPECT_NE(status.error().message.find("backlog"), std::string::npos);
    }
  }
  ASSERT_TRUE(refused);
  EXPECT_TRUE(reasons.empty());  // not from inside Send
  EXPECT_FALSE(pair.a->open());
  ASSERT_TRUE(RunUntil(loop, [&] { return !reasons.empty(); }));
  for (int i = 0; i < 5; ++i) loop.RunOnce(5);
  ASSERT_EQ(reasons.size(), 1u);
  EXPECT_NE(reasons[0].find("over the limit"), std::string::npos) << reasons[0];
}

TEST(Connection, HandlerMayDestroyTheConnection) {
  EventLoop loop;
  auto pair = MakePair(loop);
  int seen = 0;
  pair.b->set_on_message([&](json) {
    ++seen;
    pair.b.reset();
  });
  ASSERT_TRUE(pair.a->Send(MakeNotification("one", json::array())));
  ASSERT_TRUE(pair.a->Send(MakeNotification("two", json::array())));
  ASSERT_TRUE(RunUntil(loop, [&] { return pair.b == nullptr; }));
  for (int i = 0; i < 5; ++i) loop.RunOnce(5);
  EXPECT_EQ(seen, 1);
}

TEST(Listener, PunixAcceptsAndUnlinksOnDestruction) {
  EventLoop loop;
  testing::TempDir dir("hsw-jsonrpc-test");
  std::string path = dir / "s.sock";
  std::vector<std::unique_ptr<Connection>> accepted;
  std::vector<json> at_server;
  auto listener = Listener::Listen(loop, "punix:" + path, [&](std::unique_ptr<Connection> c) {
    c->set_on_message([&, raw = c.get()](json m) {
      at_server.push_back(m);
      raw->Send(MakeReply("pong", m["id"]));
    });
    accepted.push_back(std::move(c));
  });
  ASSERT_TRUE(listener) << listener.error().ToString();
  EXPECT_EQ((*listener)->target(), "punix:" + path);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);

  std::vector<json> at_client;
  auto client = Connect(loop, "unix:" + path);
  ASSERT_TRUE(client) << client.error().ToString();
  (*client)->set_on_message([&](json m) { at_client.push_back(std::move(m)); });
  ASSERT_TRUE((*client)->Send(MakeRequest("ping", json::array(), 9)));
  ASSERT_TRUE(RunUntil(loop, [&] { return at_client.size() == 1; }));
  EXPECT_EQ(accepted.size(), 1u);
  EXPECT_EQ(at_client[0]["result"], "pong");
  EXPECT_EQ(at_client[0]["id"], 9);

  // A second listener on a live path is refused.
  auto second = Listener::Listen(loop, "punix:" + path, [](std::unique_ptr<Connection>) {});
  EXPECT_FALSE(second);

  listener->reset();
  EXPECT_NE(stat(path.c_str(), &st), 0);
}

TEST(Listener, PtcpAcceptsOnAnEphemeralPort) {
  EventLoop loop;
  std::vector<std::unique_ptr<Connection>> accepted;
  std::vector<json> at_server;
  auto listener = Listener::Listen(loop, "ptcp:0:127.0.0.1", [&](std::unique_ptr<Connection> c) {
    c->set_on_message([&](json m) { at_server.push_back(std::move(m)); });
    accepted.push_back(std::move(c));
  });
  ASSERT_TRUE(listener) << listener.error().ToString();
  uint16_t port = (*listener)->port();
  ASSERT_NE(port, 0);
  auto client = Connect(loop, "tcp:127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(client) << client.error().ToString();
  ASSERT_TRUE((*client)->Send(MakeNotification("hello", json::array({1, 2}))));
  ASSERT_TRUE(RunUntil(loop, [&] { return at_server.size() == 1; }));
  EXPECT_EQ(at_server[0]["params"], json::array({1, 2}));
}

TEST(Connect, RefusedTcpIsReportedByTheCloseHandler) {
  EventLoop loop;
  // Find a port nobody listens on: bind one, then close it.
  uint16_t port;
  {
    auto listener = Listener::Listen(loop, "ptcp:0:127.0.0.1", [](std::unique_ptr<Connection>) {});
    ASSERT_TRUE(listener);
    port = (*listener)->port();
  }
  auto client = Connect(loop, "tcp:127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(client) << client.error().ToString();
  std::vector<std::string> reasons;
  (*client)->set_on_close([&](const std::string& r) { reasons.push_back(r); });
  ASSERT_TRUE(RunUntil(loop, [&] { return !reasons.empty(); }));
  EXPECT_NE(reasons[0].find("refused"), std::string::npos) << reasons[0];
}

TEST(Connect, BadTargetsNameTheTarget) {
  EventLoop loop;
  for (std::string target : {"ssl:1.2.3.4:5", "tcp:1.2.3.4", "tcp:nohost:80", "tcp:1.2.3.4:99999",
                             "unix:/nonexistent/hsw/x.sock"}) {
    auto c = Connect(loop, target);
    ASSERT_FALSE(c) << target;
    EXPECT_NE(c.error().message.find(target), std::string::npos) << c.error().message;
  }
  EXPECT_FALSE(Listener::Listen(loop, "pssl:1", [](std::unique_ptr<Connection>) {}));
  EXPECT_FALSE(Listener::Listen(loop, "ptcp:x", [](std::unique_ptr<Connection>) {}));
}

}  // namespace
}  // namespace hsw::jsonrpc
