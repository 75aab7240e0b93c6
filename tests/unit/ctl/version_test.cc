// `--version --json`: what hsw-ctl upgrade-check reads from a new binary.  A
// binary of another generation, or something else entirely, must give an
// error that says what is wrong, never a wrong verdict.
#include "common/version.h"

#include <gtest/gtest.h>

namespace hsw {
namespace {

TEST(VersionJson, RoundTrips) {
  BinaryVersion info;
  info.program = "hsw-datapath";
  info.accepts["dpif"] = {1, 2};
  info.accepts["handover"] = {1, 2};
  info.flow_key_size = 96;
  auto parsed = ParseVersionJson(FormatVersionJson(info));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->program, "hsw-datapath");
  EXPECT_EQ(parsed->version, kVersion);
  EXPECT_EQ(parsed->accepts, info.accepts);
  EXPECT_EQ(parsed->flow_key_size, 96u);
  EXPECT_EQ(DescribeVersion(*parsed), std::string(kVersion) + " (dpif 1..2, handover 1..2)");
}

TEST(VersionJson, NamesWhatIsWrong) {
  auto error = [](const char* text) {
    auto parsed = ParseVersionJson(text);
    return parsed ? std::string("(parsed)") : parsed.error().message;
  };
  EXPECT_EQ(error("hsw-datapath 0.1.0"), "not a JSON object");
  EXPECT_EQ(error(R"({"version": "1"})"), "no \"program\" string");
  EXPECT_EQ(error(R"({"program": "x", "version": "1", "accepts": {"dpif": 1}})"),
            "\"accepts\".\"dpif\" is not {\"min\": N, \"max\": N}");
  EXPECT_EQ(error(R"({"program": "x", "version": "1", "accepts": {"dpif": {"min": 3, "max": 2}}})"),
            "\"accepts\".\"dpif\": min 3 above max 2");
  EXPECT_TRUE(VersionRange({1, 3}).Contains(2));
  EXPECT_FALSE(VersionRange({1, 3}).Contains(4));
}

}  // namespace
}  // namespace hsw
