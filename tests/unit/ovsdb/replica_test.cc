// Replica: "update" and "update2" notifications, update2's modify semantics
// for sets and maps, defaults for columns left out, and malformed updates
// that must leave the replica as it was.
#include "ovsdb/replica.h"

#include <gtest/gtest.h>

#include "ovsdb/datum.h"
#include "test_schema.h"

namespace hsw::ovsdb {
namespace {

using nlohmann::json;

const char* const kBr0 = "11111111-1111-1111-1111-111111111111";
const char* const kBr1 = "22222222-2222-2222-2222-222222222222";
const char* const kRoot = "33333333-3333-3333-3333-333333333333";

class ReplicaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    schema_ = testing::TestSchema();
    ASSERT_TRUE(replica_.Configure(schema_,
                                   {{"Bridge", {"name", "ports", "tag", "enabled", "other_config"}},
                                    {"Root", {"bridges", "cur_cfg"}}}));
  }
  // Applies an update2 given as text; fails the test on error.
  bool Update2(const std::string& text) {
    auto result = replica_.ApplyUpdate2(json::parse(text));
    EXPECT_TRUE(result) << result.error().ToString();
    return result && *result;
  }
  json Col(const char* table, const char* uuid, const char* column) {
    const json* value = replica_.Get(table, uuid, column);
    return value ? *value : json("<missing>");
  }

  Schema schema_;
  Replica replica_;
};

TEST_F(ReplicaTest, Update2InitialFillsDefaults) {
  EXPECT_TRUE(Update2(R"({"Bridge":{"11111111-1111-1111-1111-111111111111":
      {"initial":{"name":"br0","ports":["set",["p2","p1"]]}}}})"));
  EXPECT_EQ(replica_.row_count(), 1u);
  EXPECT_EQ(Col("Bridge", kBr0, "name"), "br0");
  EXPECT_EQ(Col("Bridge", kBr0, "ports"), json::parse(R"(["set",["p1","p2"]])"));
  // Left out by the server: their defaults.
  EXPECT_EQ(Col("Bridge", kBr0, "tag"), json::parse(R"(["set",[]])"));
  EXPECT_EQ(Col("Bridge", kBr0, "enabled"), false);
  EXPECT_EQ(Col("Bridge", kBr0, "other_config"), json::parse(R"(["map",[]])"));
  EXPECT_EQ(replica_.Find("Bridge", kBr1), nullptr);
  EXPECT_EQ(replica_.rows("Bridge").size(), 1u);
  EXPECT_TRUE(replica_.rows("Nope").empty());
  EXPECT_TRUE(replica_.HasColumn("Root", "cur_cfg"));
  EXPECT_FALSE(replica_.HasColumn("Root", "next_cfg"));
}

TEST_F(ReplicaTest, Update2ModifySetIsSymmetricDifference) {
  Update2(R"({"Bridge":{"11111111-1111-1111-1111-111111111111":
      {"insert":{"name":"br0","ports":["set",["a","b","c"]]}}}})");
  // "b" is present: removed; "d" is not: added.  A bare atom is a set of one.
  EXPECT_TRUE(Update2(R"({"Bridge":{"11111111-1111-1111-1111-111111111111":
      {"modify":{"ports":["set",["b","d"]]}}}})"));
  EXPECT_EQ(Col("Bridge", kBr0, "ports"), json::parse(R"(["set",["a","c","d"]])"));
  EXPECT_TRUE(Update2(R"({"Bridge":{"11111111-1111-1111-1111-111111111111":
      {"modify":{"ports":"a"}}}})"));
  EXPECT_EQ(Col("Bridge", kBr0, "ports"), json::parse(R"(["set",["c","d"]])"));
  // An optional column changing value arrives as the old and new element.
  Update2(R"({"Bridge":{"11111111-1111-1111-1111-111111111111":{"modify":{"tag":5}}}})");
  EXPECT_EQ(Col("Bridge", kBr0, "tag"), json::parse(R"(["set",[5]])"));
  Update2(R"({"Bridge":{"11111111-1111-1111-1111-111111111111":
      {"modify":{"tag":["set",[5,7]]}}}})");
  EXPECT_EQ(Col("Bridge", kBr0, "tag"), json::parse(R"(["set",[7]])"));
  // Scalars are replaced.
  Update2(R"({"Bridge":{"11111111-1111-1111-1111-111111111111":{"modify":{"enabled":true}}}})");
  EXPECT_EQ(Col("Bridge", kBr0, "enabled"), true);
}

TEST_F(ReplicaTest, Update2ModifyMapInsertsDeletesReplaces) {
  Update2(R"({"Bridge":{"11111111-1111-1111-1111-111111111111":
      {"insert":{"name":"br0","other_config":["map",[["keep","1"],["drop","2"],["swap","3"]]]}}}})");
  EXPECT_TRUE(Update2(R"({"Bridge":{"11111111-1111-1111-1111-111111111111":
      {"modify":{"other_config":["map",[["new","4"],["drop","2"],["swap","9"]]]}}}})"));
  auto map = ReadStringMap(Col("Bridge", kBr0, "other_config"));
  ASSERT_TRUE(map);
  EXPECT_EQ(*map, (std::map<std::string, std::string>{{"keep", "1"}, {"new", "4"}, {"swap", "9"}}));
}

TEST_F(ReplicaTest, Update2DeleteAndUnchangedModify) {
  Update2(R"({"Bridge":{"11111111-1111-1111-1111-111111111111":{"insert":{"name":"br0"}},
                         "22222222-2222-2222-2222-222222222222":{"insert":{"name":"br1"}}}})");
  EXPECT_EQ(replica_.row_count(), 2u);
  EXPECT_TRUE(Update2(R"({"Bridge":{"11111111-1111-1111-1111-111111111111":{"delete":null}}})"));
  EXPECT_EQ(replica_.Find("Bridge", kBr0), nullptr);
  EXPECT_NE(replica_.Find("Bridge", kBr1), nullptr);
  // A modify that sets a scalar to its current value changes nothing.
  EXPECT_FALSE(Update2(R"({"Bridge":{"22222222-2222-2222-2222-222222222222":
      {"modify":{"name":"br1"}}}})"));
}

TEST_F(ReplicaTest, UpdateV1OldAndNew) {
  auto r = replica_.ApplyUpdate(json::parse(R"({
      "Bridge":{"11111111-1111-1111-1111-111111111111":{"new":{"name":"br0","ports":"p1",
                 "tag":["set",[]],"enabled":true,"other_config":["map",[]]}}},
      "Root":{"33333333-3333-3333-3333-333333333333":{"new":{"cur_cfg":4,
                 "bridges":["uuid","11111111-1111-1111-1111-111111111111"]}}}})"));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(*r);
  EXPECT_EQ(Col("Bridge", kBr0, "ports"), json::parse(R"(["set",["p1"]])"));
  EXPECT_EQ(ReadUuidSet(Col("Root", kRoot, "bridges")), std::vector<std::string>{kBr0});
  // A modify carries "old" (changed columns) and "new" (full values).
  r = replica_.ApplyUpdate(json::parse(R"({"Bridge":{"11111111-1111-1111-1111-111111111111":
      {"old":{"ports":"p1"},"new":{"name":"br0","ports":["set",["p1","p2"]],"tag":3,
       "enabled":true,"other_config":["map",[]]}}}})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(Col("Bridge", kBr0, "ports"), json::parse(R"(["set",["p1","p2"]])"));
  EXPECT_EQ(Col("Bridge", kBr0, "tag"), json::parse(R"(["set",[3]])"));
  r = replica_.ApplyUpdate(json::parse(R"({"Bridge":{"11111111-1111-1111-1111-111111111111":
      {"old":{"name":"br0"}}}})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(replica_.Find("Bridge", kBr0), nullptr);
}

TEST_F(ReplicaTest, MalformedUpdateLeavesTheReplicaIntactAndNamesTheFault) {
  Update2(R"({"Bridge":{"11111111-1111-1111-1111-111111111111":
      {"insert":{"name":"br0","ports":["set",["a"]]}}}})");
  Replica before = replica_;
  struct Case {
    const char* text;
    bool v2;
    const char* expect;
  } cases[] = {
      // The good Root row first: it must not be applied either.
      {R"({"Root":{"33333333-3333-3333-3333-333333333333":{"insert":{"cur_cfg":1}}},
          "Bridge":{"11111111-1111-1111-1111-111111111111":{"modify":{"ports":["set",[1]]}}}})",
       true, "table Bridge, row 11111111-1111-1111-1111-111111111111: column ports"},
      {R"({"Bridge":{"11111111-1111-1111-1111-111111111111":{"modify":{"name":7}}}})", true,
       "column name"},
      {R"({"Bridge":{"11111111-1111-1111-1111-111111111111":{"modify":{"nope":7}}}})", true,
       "column nope is not monitored"},
      {R"({"Bridge":{"11111111-1111-1111-1111-111111111111":{"insert":{"name":"x"}}}})", true,
       "already in the replica"},
      {R"({"Bridge":{"22222222-2222-2222-2222-222222222222":{"modify":{"name":"x"}}}})", true,
       "not in the replica"},
      {R"({"Bridge":{"22222222-2222-2222-2222-222222222222":{"delete":null}}})", true,
       "not in the replica"},
      {R"({"Bridge":{"not-a-uuid":{"insert":{}}}})", true, "row not-a-uuid: not a UUID"},
      {R"({"Bridge":{"22222222-2222-2222-2222-222222222222":{"frob":{}}}})", true,
       "unknown row update 'frob'"},
      {R"({"Bridge":{"22222222-2222-2222-2222-222222222222":{"insert":{},"delete":null}}})", true,
       "expected one of"},
      {R"({"Interface":{}})", true, "table Interface is not monitored"},
      {R"({"Bridge":[]})", true, "table Bridge: rows are not an object"},
      {R"([])", true, "not an object"},
      {R"({"Bridge":{"11111111-1111-1111-1111-111111111111":
          {"modify":{"other_config":["set",[]]}}}})",
       true, "not a map"},
      {R"({"Bridge":{"11111111-1111-1111-1111-111111111111":
          {"modify":{"tag":["set",[1,2]]}}}})",
       true, "2 elements"},
      {R"({"Bridge":{"11111111-1111-1111-1111-111111111111":{}}})", false,
       "neither \"old\" nor \"new\""},
      {R"({"Bridge":{"11111111-1111-1111-1111-111111111111":{"new":{"ports":{"a":1}}}}})", false,
       "column ports"},
      {R"({"Bridge":{"11111111-1111-1111-1111-111111111111":{"new":5}}})", false,
       "row is not an object"},
  };
  for (const auto& c : cases) {
    json update = json::parse(c.text);
    auto result = c.v2 ? replica_.ApplyUpdate2(update) : replica_.ApplyUpdate(update);
    ASSERT_FALSE(result) << c.text;
    EXPECT_NE(result.error().message.find(c.expect), std::string::npos)
        << c.text << " -> " << result.error().message;
    EXPECT_TRUE(replica_.SameContents(before)) << c.text;
  }
  EXPECT_EQ(replica_.Find("Root", kRoot), nullptr);
}

TEST(Replica, ConfigureRefusesWhatTheSchemaLacks) {
  Schema schema = testing::TestSchema();
  Replica replica;
  auto bad_table = replica.Configure(schema, {{"Nope", {"x"}}});
  ASSERT_FALSE(bad_table);
  EXPECT_NE(bad_table.error().message.find("no table Nope"), std::string::npos);
  auto bad_column = replica.Configure(schema, {{"Bridge", {"name", "nope"}}});
  ASSERT_FALSE(bad_column);
  EXPECT_NE(bad_column.error().message.find("table Bridge has no column nope"), std::string::npos);
}

}  // namespace
}  // namespace hsw::ovsdb
