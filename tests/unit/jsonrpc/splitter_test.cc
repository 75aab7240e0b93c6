// JsonStreamSplitter and the message helpers: framing without delimiters,
// byte-by-byte delivery, strings that contain braces, and bad streams.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "jsonrpc/jsonrpc.h"

namespace hsw::jsonrpc {
namespace {

using nlohmann::json;

std::vector<json> FeedAll(JsonStreamSplitter& splitter, std::string_view bytes) {
  std::vector<json> out;
  auto status = splitter.Feed(bytes, out);
  EXPECT_TRUE(status) << status.error().ToString();
  return out;
}

TEST(JsonStreamSplitter, SplitsBackToBackMessages) {
  JsonStreamSplitter splitter;
  auto out = FeedAll(splitter, R"({"a":1}{"b":[1,{"c":2}]}  {"d":"x"})");
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], json({{"a", 1}}));
  EXPECT_EQ(out[1]["b"][1]["c"], 2);
  EXPECT_EQ(out[2]["d"], "x");
  EXPECT_EQ(splitter.pending_size(), 0u);
}

TEST(JsonStreamSplitter, ByteByByteGivesTheSameMessages) {
  std::string stream =
      R"({"method":"echo","params":["}{\"",["[","]"]],"id":"x\\"}
{"result":{"k":"\u007b"},"error":null,"id":7})";
  JsonStreamSplitter whole;
  auto expected = FeedAll(whole, stream);
  ASSERT_EQ(expected.size(), 2u);
  JsonStreamSplitter splitter;
  std::vector<json> got;
  for (size_t i = 0; i < stream.size(); ++i) {
    auto status = splitter.Feed(std::string_view(&stream[i], 1), got);
    ASSERT_TRUE(status) << "at byte " << i << ": " << status.error().ToString();
    if (i + 1 < stream.size() && got.empty()) {
      EXPECT_GT(splitter.pending_size(), 0u);
    }
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(got[0]["params"][0], "}{\"");
  EXPECT_EQ(got[0]["id"], "x\\");
  EXPECT_EQ(got[1]["result"]["k"], "{");
}

TEST(JsonStreamSplitter, DeeplyNestedValueWithinTheLimit) {
  std::string text = "{\"a\":";
  for (int i = 0; i < 100; ++i) text += "[";
  for (int i = 0; i < 100; ++i) text += "]";
  text += "}";
  JsonStreamSplitter splitter;
  auto out = FeedAll(splitter, text);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0]["a"].is_array());
}

TEST(JsonStreamSplitter, TooDeepIsAnError) {
  std::string text = "{\"a\":";
  for (int i = 0; i < JsonStreamSplitter::kMaxDepth + 5; ++i) text += "[";
  JsonStreamSplitter splitter;
  std::vector<json> out;
  auto status = splitter.Feed(text, out);
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message.find("nested deeper"), std::string::npos);
}

TEST(JsonStreamSplitter, NonObjectAtTopLevelIsAnError) {
  for (std::string text : {"[1,2]", "42", "\"s\"", "x{}"}) {
    JsonStreamSplitter splitter;
    std::vector<json> out;
    auto status = splitter.Feed(text, out);
    ASSERT_FALSE(status) << text;
    EXPECT_NE(status.error().message.find("expected '{'"), std::string::npos)
        << status.error().message;
    EXPECT_TRUE(out.empty());
    // Unusable afterwards, even for a good message.
    EXPECT_FALSE(splitter.Feed("{}", out));
    EXPECT_TRUE(out.empty());
  }
}

TEST(JsonStreamSplitter, GarbageInsideAnObjectIsAnErrorAfterEarlierMessages) {
  JsonStreamSplitter splitter;
  std::vector<json> out;
  auto status = splitter.Feed(R"({"ok":true}{"a":tru})", out);
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message.find("not valid JSON"), std::string::npos);
  ASSERT_EQ(out.size(), 1u);  // the good message before it was delivered
  EXPECT_EQ(out[0]["ok"], true);
}

TEST(JsonStreamSplitter, MismatchedBracketIsAnError) {
  JsonStreamSplitter splitter;
  std::vector<json> out;
  EXPECT_FALSE(splitter.Feed(R"({"a":1])", out));
  EXPECT_TRUE(out.empty());
}

TEST(JsonStreamSplitter, OversizeMessageIsAnErrorEvenUnfinished) {
  JsonStreamSplitter splitter(64);
  std::vector<json> out;
  EXPECT_TRUE(splitter.Feed(R"({"a":")", out));
  std::string filler(100, 'x');
  auto status = splitter.Feed(filler, out);
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message.find("limit of 64"), std::string::npos);
  EXPECT_TRUE(out.empty());
}

TEST(JsonStreamSplitter, MessageAtTheLimitPasses) {
  std::string text = R"({"a":")" + std::string(20, 'y') + R"("})";
  JsonStreamSplitter splitter(text.size());
  auto out = FeedAll(splitter, text + text);
  EXPECT_EQ(out.size(), 2u);
}

TEST(Classify, KindsOfMessages) {
  EXPECT_EQ(*Classify(MakeRequest("echo", json::array(), 1)), MessageKind::kRequest);
  EXPECT_EQ(*Classify(MakeNotification("update", json::array({1}))), MessageKind::kNotification);
  EXPECT_EQ(*Classify(MakeReply(json::object(), "a")), MessageKind::kReply);
  EXPECT_EQ(*Classify(MakeReply(nullptr, 3)), MessageKind::kReply);
  EXPECT_EQ(*Classify(MakeErrorReply("unknown method", 3)), MessageKind::kErrorReply);
  // A notification may also leave "id" out.
  EXPECT_EQ(*Classify(json::parse(R"({"method":"locked","params":["x"]})")),
            MessageKind::kNotification);
}

TEST(Classify, InvalidMessagesNameTheProblem) {
  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {R"({"method":"echo","params":{},"id":1})", "not an array"},
      {R"({"method":"echo","id":1})", "no \"params\""},
      {R"({"method":5,"params":[],"id":1})", "not a string"},
      {R"({"id":1})", "neither"},
      {R"({"result":1,"error":null})", "no \"id\""},
      {R"({"result":1,"error":"e","id":1})", "both"},
      {R"({"error":null,"id":1})", "no \"result\""},
  };
  for (const auto& c : cases) {
    auto kind = Classify(json::parse(c.text));
    ASSERT_FALSE(kind) << c.text;
    EXPECT_NE(kind.error().message.find(c.expect), std::string::npos)
        << c.text << " -> " << kind.error().message;
  }
  EXPECT_FALSE(Classify(json::array()));
}

}  // namespace
}  // namespace hsw::jsonrpc
