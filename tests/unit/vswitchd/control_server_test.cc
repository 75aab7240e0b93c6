// The control protocol, both halves: request parsing and reply formatting in
// vswitchd/control_server.h, and hsw-ctl's client (ctl/control_client.h)
// talking to a real ControlServer over a unix socket.
#include "vswitchd/control_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "ctl/control_client.h"
#include "testlib/temp_dir.h"

namespace hsw::vswitchd {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

TEST(ControlProtocol, ParsesRequest) {
  json id;
  auto request = ParseControlRequest(
      R"({"id": 4, "method": "add-flow", "params": {"bridge": "br0", "flow": "actions=drop"}})",
      &id);
  ASSERT_TRUE(request) << request.error().message;
  EXPECT_EQ(request->id, 4);
  EXPECT_EQ(id, 4);
  EXPECT_EQ(request->method, "add-flow");
  EXPECT_EQ(request->params["bridge"], "br0");
}

TEST(ControlProtocol, MissingParamsIsEmptyObject) {
  auto request = ParseControlRequest(R"({"id": "x", "method": "list-br"})");
  ASSERT_TRUE(request);
  EXPECT_TRUE(request->params.is_object());
  EXPECT_TRUE(request->params.empty());
  EXPECT_EQ(request->id, "x");
}

TEST(ControlProtocol, BadRequestsAreNamed) {
  json id;
  auto not_json = ParseControlRequest("{oops", &id);
  ASSERT_FALSE(not_json);
  EXPECT_EQ(not_json.error().message, "request is not valid JSON");
  EXPECT_TRUE(id.is_null());

  auto no_method = ParseControlRequest(R"({"id": 9})", &id);
  ASSERT_FALSE(no_method);
  EXPECT_EQ(no_method.error().message, "request has no string 'method'");
  EXPECT_EQ(id, 9);  // still known, so the error reply can carry it

  auto bad_params = ParseControlRequest(R"({"id": 1, "method": "set", "params": [1]})");
  ASSERT_FALSE(bad_params);
  EXPECT_EQ(bad_params.error().message, "'params' of 'set' is not an object");

  EXPECT_FALSE(ParseControlRequest("[1,2]"));
}

TEST(ControlProtocol, ReplyFormatsRoundTripThroughClientParser) {
  std::string ok = FormatControlResult(7, json::array({"br0", "br1"}));
  EXPECT_EQ(ok, R"({"id":7,"result":["br0","br1"]})");
  auto parsed = ctl::ParseControlReply(ok, 7);
  ASSERT_TRUE(parsed);
  EXPECT_EQ((*parsed)[1], "br1");

  std::string error = FormatControlError(8, "unknown bridge 'brX'");
  auto failed = ctl::ParseControlReply(error, 8);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message, "unknown bridge 'brX'");

  EXPECT_FALSE(ctl::ParseControlReply(ok, 8));  // wrong id
  EXPECT_FALSE(ctl::ParseControlReply("garbage", 7));
  EXPECT_FALSE(ctl::ParseControlReply(R"({"id":7})", 7));
}

TEST(ControlProtocol, RequestLineIsOneLine) {
  std::string line = ctl::FormatControlRequest(3, "add-flow", {{"flow", "a\nb"}});
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  auto request = ParseControlRequest(std::string_view(line).substr(0, line.size() - 1));
  ASSERT_TRUE(request);
  EXPECT_EQ(request->params["flow"], "a\nb");
}

TEST(ControlProtocol, StringParams) {
  json params = {{"bridge", "br0"}, {"n", 3}};
  EXPECT_EQ(StringParam(params, "bridge").value_or(""), "br0");
  auto missing = StringParam(params, "flow");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "missing string parameter 'flow'");
  EXPECT_FALSE(StringParam(params, "n"));
  EXPECT_FALSE(OptionalStringParam(params, "n").has_value());
}

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = ControlServer::Listen(loop_, path_);
    ASSERT_TRUE(server) << server.error().ToString();
    server_ = std::move(*server);
    server_->Register("echo", [](const json& params) -> Result<json> { return params; });
    server_->Register("fail", [](const json&) -> Result<json> {
      return Err("add-flow br0 'in_port=1,actions=oops': unknown action 'oops'");
    });
    server_->Register("throw",
                      [](const json&) -> Result<json> { throw std::runtime_error("boom"); });
    // Replies with the request's payload reversed, and its size as the result.
    server_->RegisterWithPayload(
        "reverse", [](const json&, std::string_view payload) -> Result<ControlReply> {
          return ControlReply{payload.size(), std::string(payload.rbegin(), payload.rend())};
        });
  }
  // Runs `client` on another thread while this thread turns the event loop.
  template <class F>
  void WithClient(F client) {
    std::atomic<bool> done{false};
    std::thread thread([&] {
      client();
      done = true;
    });
    while (!done) loop_.RunOnce(20);
    thread.join();
  }

  EventLoop loop_;
  testing::TempDir dir_{"hsw-ctl-test"};  // before server_: outlives its socket
  std::string path_ = dir_ / "vswitchd.ctl";
  std::unique_ptr<ControlServer> server_;
};

TEST_F(ControlServerTest, HandleLineDispatches) {
  EXPECT_EQ(server_->HandleLine(R"({"id":1,"method":"echo","params":{"a":1}})"),
            R"({"id":1,"result":{"a":1}})");
  EXPECT_EQ(server_->HandleLine(R"({"id":2,"method":"nope"})"),
            R"({"error":{"message":"unknown method 'nope'"},"id":2})");
  EXPECT_EQ(server_->HandleLine(R"({"id":3,"method":"throw"})"),
            R"({"error":{"message":"internal error in 'throw': boom"},"id":3})");
  EXPECT_EQ(server_->HandleLine("not json"),
            R"({"error":{"message":"request is not valid JSON"},"id":null})");
}

TEST_F(ControlServerTest, ClientCallsOverSocket) {
  WithClient([&] {
    auto client = ctl::ControlClient::Connect(path_, std::chrono::milliseconds(2000));
    ASSERT_TRUE(client) << client.error().message;
    auto echoed = client->Call("echo", {{"bridge", "br0"}});
    ASSERT_TRUE(echoed) << echoed.error().message;
    EXPECT_EQ((*echoed)["bridge"], "br0");
    auto failed = client->Call("fail");
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().message,
              "add-flow br0 'in_port=1,actions=oops': unknown action 'oops'");
    // The connection survives errors.
    auto again = client->Call("echo", {{"n", 2}});
    ASSERT_TRUE(again);
    EXPECT_EQ((*again)["n"], 2);
  });
}

TEST_F(ControlServerTest, PipelinedAndSplitRequests) {
  WithClient([&] {
    auto fd = ConnectUnix(path_);
    ASSERT_TRUE(fd);
    std::string requests =
        "{\"id\":1,\"method\":\"echo\",\"params\":{\"x\":1}}\n"
        "garbage\n"
        "{\"id\":3,\"method\":\"echo\",";
    ASSERT_TRUE(WriteAll(fd->get(), requests.data(), requests.size()));
    usleep(50 * 1000);
    std::string rest = "\"params\":{\"x\":3}}\n";
    ASSERT_TRUE(WriteAll(fd->get(), rest.data(), rest.size()));
    shutdown(fd->get(), SHUT_WR);
    std::string replies;
    char buffer[4096];
    ssize_t n;
    while ((n = read(fd->get(), buffer, sizeof(buffer))) > 0) replies.append(buffer, n);
    EXPECT_EQ(replies,
              "{\"id\":1,\"result\":{\"x\":1}}\n"
              "{\"error\":{\"message\":\"request is not valid JSON\"},\"id\":null}\n"
              "{\"id\":3,\"result\":{\"x\":3}}\n");
  });
  EXPECT_EQ(server_->n_connections(), 0u);  // closed after the peer's EOF
}

TEST_F(ControlServerTest, PayloadsBothWays) {
  // Megabytes, with line breaks and bytes JSON would have to escape: the
  // payload is raw, and more than a socket buffer holds.
  std::string big;
  for (int i = 0; big.size() < 3 * 1024 * 1024; ++i) big += fmt::format("flow {}\n\"\\\0", i);
  WithClient([&] {
    auto client = ctl::ControlClient::Connect(path_, std::chrono::milliseconds(5000));
    ASSERT_TRUE(client) << client.error().message;
    auto reply = client->CallWithPayload("reverse", json::object(), big);
    ASSERT_TRUE(reply) << reply.error().message;
    EXPECT_EQ(reply->result, big.size());
    EXPECT_EQ(reply->payload, std::string(big.rbegin(), big.rend()));
    // A handler without payload support ignores the payload; the framing holds.
    auto echoed = client->CallWithPayload("echo", {{"x", 1}}, "ignored\n{\"id\":9}\n");
    ASSERT_TRUE(echoed) << echoed.error().message;
    EXPECT_EQ(echoed->result, (json{{"x", 1}}));
    EXPECT_EQ(echoed->payload, "");
    auto empty = client->CallWithPayload("reverse", json::object(), "");
    ASSERT_TRUE(empty);
    EXPECT_EQ(empty->result, 0);
  });
  EXPECT_EQ(server_->HandleLine(R"({"id":1,"method":"reverse"})", "abc"),
            "{\"id\":1,\"payload_size\":3,\"result\":3}\ncba");
}

TEST_F(ControlServerTest, PayloadArrivingInPiecesAndPipelined) {
  WithClient([&] {
    auto fd = ConnectUnix(path_);
    ASSERT_TRUE(fd);
    std::string first = "{\"id\":1,\"method\":\"reverse\",\"payload_size\":6}\nab";
    ASSERT_TRUE(WriteAll(fd->get(), first.data(), first.size()));
    usleep(50 * 1000);
    std::string rest = "c\nde{\"id\":2,\"method\":\"echo\",\"params\":{\"y\":2}}\n";
    ASSERT_TRUE(WriteAll(fd->get(), rest.data(), rest.size()));
    shutdown(fd->get(), SHUT_WR);
    std::string replies;
    char buffer[4096];
    ssize_t n;
    while ((n = read(fd->get(), buffer, sizeof(buffer))) > 0) replies.append(buffer, n);
    EXPECT_EQ(replies,
              "{\"id\":1,\"payload_size\":6,\"result\":6}\ned\ncba"
              "{\"id\":2,\"result\":{\"y\":2}}\n");
  });
}

TEST_F(ControlServerTest, UnusablePayloadSizeClosesTheConnection) {
  for (std::string size : {"-1", "\"12\"", "1.5", "1099511627776"}) {
    WithClient([&] {
      auto fd = ConnectUnix(path_);
      ASSERT_TRUE(fd);
      std::string request = "{\"id\":1,\"method\":\"echo\",\"payload_size\":" + size +
                            "}\n{\"id\":2,\"method\":\"echo\"}\n";
      ASSERT_TRUE(WriteAll(fd->get(), request.data(), request.size()));
      std::string replies;
      char buffer[4096];
      ssize_t n;
      while ((n = read(fd->get(), buffer, sizeof(buffer))) > 0) replies.append(buffer, n);
      EXPECT_NE(replies.find(" is not a size up to 1073741824 bytes"), std::string::npos) << replies;
      EXPECT_EQ(replies.find("\"id\":2"), std::string::npos) << "nothing after it is read";
    });
  }
  EXPECT_EQ(server_->n_connections(), 0u);
}

TEST_F(ControlServerTest, SecondServerOnLiveSocketIsRefused) {
  auto second = ControlServer::Listen(loop_, path_);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find(path_), std::string::npos);
}

TEST_F(ControlServerTest, SocketRemovedOnDestruction) {
  EXPECT_TRUE(fs::exists(path_));
  server_.reset();
  EXPECT_FALSE(fs::exists(path_));
}

TEST(ControlClient, NotRunningMessage) {
  auto client =
      ctl::ControlClient::Connect("/nonexistent-hsw/vswitchd.ctl", std::chrono::milliseconds(100));
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().message,
            "cannot connect to hsw-vswitchd at /nonexistent-hsw/vswitchd.ctl: No such file or "
            "directory (is hsw-vswitchd running?)");
}

TEST(ControlClient, TimesOutOnSilentServer) {
  testing::TempDir dir("hsw-ctl-test");
  std::string path = dir / "silent.ctl";
  auto listener = ListenUnix(path);
  ASSERT_TRUE(listener);
  auto client = ctl::ControlClient::Connect(path, std::chrono::milliseconds(100));
  ASSERT_TRUE(client);
  auto reply = client->Call("version");
  ASSERT_FALSE(reply);
  EXPECT_NE(reply.error().message.find("no reply from hsw-vswitchd"), std::string::npos);
}

}  // namespace
}  // namespace hsw::vswitchd
