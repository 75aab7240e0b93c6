// Datum readers on good and wrong shapes, normalization, builders, and the
// schema parser on the test schema, Debian's vswitch.ovsschema and bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ovsdb/datum.h"
#include "ovsdb/schema.h"
#include "test_schema.h"

namespace hsw::ovsdb {
namespace {

using nlohmann::json;

const char* const kUuid = "550e8400-e29b-41d4-a716-446655440000";

TEST(Datum, AtomReaders) {
  EXPECT_EQ(ReadInteger(json(42)), 42);
  EXPECT_EQ(ReadInteger(json(-7)), -7);
  EXPECT_FALSE(ReadInteger(json(1.5)));
  EXPECT_FALSE(ReadInteger(json("42")));
  EXPECT_FALSE(ReadInteger(json(18446744073709551615ull)));
  EXPECT_EQ(ReadReal(json(2)), 2.0);
  EXPECT_EQ(ReadReal(json(2.5)), 2.5);
  EXPECT_FALSE(ReadReal(json(true)));
  EXPECT_EQ(ReadBoolean(json(false)), false);
  EXPECT_FALSE(ReadBoolean(json(0)));
  EXPECT_EQ(ReadString(json("x")), "x");
  EXPECT_FALSE(ReadString(json::array({"x"})));
  EXPECT_EQ(ReadUuid(json::array({"uuid", kUuid})), kUuid);
  EXPECT_FALSE(ReadUuid(json::array({"uuid", "not-a-uuid"})));
  EXPECT_FALSE(ReadUuid(json::array({"named-uuid", kUuid})));
  EXPECT_FALSE(ReadUuid(json::array({"uuid"})));
  EXPECT_FALSE(ReadUuid(json(kUuid)));
  EXPECT_EQ(ReadNamedUuid(json::array({"named-uuid", "row1"})), "row1");
  EXPECT_FALSE(ReadNamedUuid(json::array({"named-uuid", 5})));
  EXPECT_TRUE(IsUuidString("550E8400-E29B-41D4-A716-446655440000"));
  EXPECT_FALSE(IsUuidString("550e8400-e29b-41d4-a716-44665544000g"));
  EXPECT_FALSE(IsUuidString("550e8400e29b-41d4-a716-4466554400000"));
}

TEST(Datum, SetReaders) {
  EXPECT_EQ(*ReadStringSet(json::parse(R"(["set",["a","b"]])")),
            (std::vector<std::string>{"a", "b"}));
  // A bare atom is a set of one, an empty set is empty.
  EXPECT_EQ(*ReadStringSet(json("a")), std::vector<std::string>{"a"});
  EXPECT_TRUE(ReadStringSet(json::parse(R"(["set",[]])"))->empty());
  EXPECT_EQ(*ReadUuidSet(json::array({"uuid", kUuid})), std::vector<std::string>{kUuid});
  EXPECT_EQ(*ReadIntegerSet(json::parse(R"(["set",[1,2,3]])")), (std::vector<int64_t>{1, 2, 3}));
  // Wrong shapes: nullopt, never a throw.
  EXPECT_FALSE(ReadStringSet(json::parse(R"(["set",["a",1]])")));
  EXPECT_FALSE(ReadStringSet(json::parse(R"(["set","a"])")));
  EXPECT_FALSE(ReadStringSet(json::parse(R"(["map",[["a","b"]]])")));
  EXPECT_FALSE(ReadSet(json::parse(R"([1,2])")));
  EXPECT_FALSE(ReadSet(json::object()));
  EXPECT_FALSE(ReadSet(json(nullptr)));
  EXPECT_FALSE(ReadUuidSet(json::parse(R"(["set",[["uuid","zz"]]])")));
  EXPECT_EQ(*ReadOptionalInteger(json::parse(R"(["set",[]])")), std::nullopt);
  EXPECT_EQ(*ReadOptionalInteger(json(5)), std::optional<int64_t>(5));
  EXPECT_FALSE(ReadOptionalInteger(json::parse(R"(["set",[1,2]])")));
  EXPECT_EQ(*ReadOptionalString(json("up")), std::optional<std::string>("up"));
}

TEST(Datum, MapReaders) {
  auto map = ReadStringMap(json::parse(R"(["map",[["a","1"],["b","2"]]])"));
  ASSERT_TRUE(map);
  EXPECT_EQ(map->at("a"), "1");
  EXPECT_EQ(map->at("b"), "2");
  EXPECT_TRUE(ReadStringMap(json::parse(R"(["map",[]])"))->empty());
  EXPECT_FALSE(ReadStringMap(json::parse(R"(["map",[["a",1]]])")));
  EXPECT_FALSE(ReadStringMap(json::parse(R"(["map",[["a"]]])")));
  EXPECT_FALSE(ReadStringMap(json::parse(R"(["map",{"a":"b"}])")));
  EXPECT_FALSE(ReadStringMap(json::parse(R"(["set",[]])")));
  EXPECT_FALSE(ReadStringMap(json("a")));
  auto pairs =
      ReadMap(json::parse(R"(["map",[[1,["uuid","550e8400-e29b-41d4-a716-446655440000"]]]])"));
  ASSERT_TRUE(pairs);
  EXPECT_EQ(ReadUuid((*pairs)[0].second), kUuid);
}

TEST(Datum, NormalizeSortsAndChecks) {
  Schema schema = testing::TestSchema();
  const auto& ports = schema.FindColumn("Bridge", "ports")->type;
  EXPECT_EQ(*Normalize(ports, json("b")), json::parse(R"(["set",["b"]])"));
  EXPECT_EQ(*Normalize(ports, json::parse(R"(["set",["c","a"]])")),
            json::parse(R"(["set",["a","c"]])"));
  auto dup = Normalize(ports, json::parse(R"(["set",["a","a"]])"));
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message.find("twice"), std::string::npos);
  auto wrong = Normalize(ports, json::parse(R"(["set",["a",3]])"));
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("element 1 is not a string"), std::string::npos);

  const auto& tag = schema.FindColumn("Bridge", "tag")->type;
  EXPECT_TRUE(tag.is_set());
  auto too_many = Normalize(tag, json::parse(R"(["set",[1,2]])"));
  ASSERT_FALSE(too_many);
  EXPECT_NE(too_many.error().message.find("2 elements"), std::string::npos);

  const auto& name = schema.FindColumn("Bridge", "name")->type;
  EXPECT_EQ(*Normalize(name, json("br0")), json("br0"));
  EXPECT_EQ(*Normalize(name, json::parse(R"(["set",["br0"]])")), json("br0"));
  EXPECT_FALSE(Normalize(name, json(1)));

  const auto& oc = schema.FindColumn("Bridge", "other_config")->type;
  EXPECT_EQ(*Normalize(oc, json::parse(R"(["map",[["z","1"],["a","2"]]])")),
            json::parse(R"(["map",[["a","2"],["z","1"]]])"));
  EXPECT_FALSE(Normalize(oc, json::parse(R"(["map",[["a","1"],["a","2"]]])")));
  EXPECT_FALSE(Normalize(oc, json::parse(R"(["set",[]])")));

  EXPECT_EQ(DefaultDatum(name), json(""));
  EXPECT_EQ(DefaultDatum(tag), json::parse(R"(["set",[]])"));
  EXPECT_EQ(DefaultDatum(oc), json::parse(R"(["map",[]])"));
  EXPECT_EQ(DefaultDatum(schema.FindColumn("Bridge", "enabled")->type), json(false));
}

TEST(Datum, Builders) {
  EXPECT_EQ(MakeUuid(kUuid), json::array({"uuid", kUuid}));
  EXPECT_EQ(MakeNamedUuid("new_br"), json::array({"named-uuid", "new_br"}));
  EXPECT_EQ(MakeStringSet({"a", "b"}), json::parse(R"(["set",["a","b"]])"));
  EXPECT_EQ(MakeStringMap({{"k", "v"}}), json::parse(R"(["map",[["k","v"]]])"));
  EXPECT_EQ(MakeUuidSet({kUuid}), json::array({"set", json::array({MakeUuid(kUuid)})}));
  json op = UpdateOp("Interface", WhereUuid(kUuid), {{"ofport", 3}});
  EXPECT_EQ(op["op"], "update");
  EXPECT_EQ(op["where"][0], json::array({"_uuid", "==", MakeUuid(kUuid)}));
  EXPECT_EQ(op["row"]["ofport"], 3);
  json insert = InsertOp("Bridge", {{"name", "br0"}}, "br");
  EXPECT_EQ(insert["uuid-name"], "br");
  EXPECT_FALSE(InsertOp("Bridge", json::object()).contains("uuid-name"));
  json mutate = MutateOp("Root", json::array(), json::array({json::array({"next_cfg", "+=", 1})}));
  EXPECT_EQ(mutate["mutations"][0][1], "+=");
  json wait = WaitOp("Root", json::array(), {"cur_cfg"}, json::array({{{"cur_cfg", 1}}}));
  EXPECT_EQ(wait["until"], "==");
  EXPECT_EQ(wait["timeout"], 0);
  EXPECT_EQ(DeleteOp("Bridge", json::array())["op"], "delete");
  EXPECT_EQ(SelectOp("Bridge", json::array(), {"name"})["columns"], json::array({"name"}));
  EXPECT_EQ(CommentOp("hi")["comment"], "hi");
  std::string brief = BriefJson(json(std::string(500, 'x')), 20);
  EXPECT_EQ(brief.size(), 23u);
}

TEST(Schema, ParsesTheTestSchema) {
  auto schema = Schema::Parse(testing::TestSchemaJson());
  ASSERT_TRUE(schema) << schema.error().ToString();
  EXPECT_EQ(schema->name(), "Test");
  EXPECT_EQ(schema->version(), "1.2.3");
  EXPECT_TRUE(schema->HasColumn("Bridge", "ports"));
  EXPECT_TRUE(schema->HasColumn("Bridge", "_uuid"));
  EXPECT_FALSE(schema->HasColumn("Bridge", "nope"));
  EXPECT_FALSE(schema->HasColumn("Nope", "name"));
  const TableSchema* root = schema->FindTable("Root");
  ASSERT_NE(root, nullptr);
  EXPECT_TRUE(root->is_root);
  EXPECT_EQ(root->max_rows, 1);
  const auto& bridges = schema->FindColumn("Root", "bridges")->type;
  EXPECT_EQ(bridges.key.type, AtomicType::kUuid);
  EXPECT_EQ(bridges.key.ref_table, "Bridge");
  EXPECT_EQ(bridges.max, ColumnType::kUnlimited);
  EXPECT_TRUE(schema->FindColumn("Bridge", "other_config")->type.is_map());
  EXPECT_FALSE(schema->FindColumn("Bridge", "name")->is_mutable);
}

TEST(Schema, ParsesDebiansVswitchSchema) {
  const char* path = "/usr/share/openvswitch/vswitch.ovsschema";
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " missing: run scripts/install-deps.sh";
  std::ifstream in(path);
  auto schema = Schema::Parse(json::parse(in));
  ASSERT_TRUE(schema) << schema.error().ToString();
  EXPECT_EQ(schema->name(), "Open_vSwitch");
  for (auto [table, column] :
       std::vector<std::pair<const char*, const char*>>{{"Open_vSwitch", "cur_cfg"},
                                                        {"Bridge", "ports"},
                                                        {"Interface", "ofport"},
                                                        {"Interface", "options"},
                                                        {"Port", "interfaces"}}) {
    EXPECT_TRUE(schema->HasColumn(table, column)) << table << ":" << column;
  }
  EXPECT_TRUE(schema->FindColumn("Interface", "ofport")->type.is_set());  // optional
  EXPECT_TRUE(schema->FindColumn("Interface", "options")->type.is_map());
}

TEST(Schema, BadSchemasNameWhatIsWrong) {
  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {R"([])", "not a JSON object"},
      {R"({"tables":{}})", "\"name\""},
      {R"({"name":"D"})", "no \"tables\""},
      {R"({"name":"D","tables":{"T":{}}})", "table T: no \"columns\""},
      {R"({"name":"D","tables":{"T":{"columns":{"c":{}}}}})", "table T, column c: no \"type\""},
      {R"({"name":"D","tables":{"T":{"columns":{"c":{"type":"float"}}}}})",
       "unknown atomic type 'float'"},
      {R"({"name":"D","tables":{"T":{"columns":{"c":{"type":{"key":"string","max":0}}}}}})",
       "\"max\""},
      {R"({"name":"D","tables":{"T":{"columns":{"c":{"type":{"key":"string","min":2}}}}}})",
       "\"min\""},
      {R"({"name":"D","tables":{"T":{"columns":{"c":{"type":{"value":"string"}}}}}})",
       "no \"key\""},
      {R"({"name":"D","tables":{"T":{"columns":{"c":{"type":{"key":{"type":7}}}}}}})",
       "key: atomic type is not a string"},
  };
  for (const auto& c : cases) {
    auto schema = Schema::Parse(json::parse(c.text));
    ASSERT_FALSE(schema) << c.text;
    EXPECT_NE(schema.error().message.find(c.expect), std::string::npos)
        << c.text << " -> " << schema.error().message;
  }
}

}  // namespace
}  // namespace hsw::ovsdb
