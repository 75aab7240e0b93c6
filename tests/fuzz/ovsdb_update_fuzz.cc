// Fuzzes what hsw-vswitchd reads from ovsdb-server: the byte stream is split
// into JSON-RPC messages (JsonStreamSplitter), each message classified, and
// the table updates of "update"/"update2"/"update3" notifications and of
// replies applied to a Replica seeded with a small schema and a few rows.
// The server may be any version, or not ovsdb-server at all, so anything
// must be applied or refused with an error, never crash.  Checked too:
//   * the splitter gives the same messages and verdict whether the bytes
//     come at once or three at a time;
//   * a refused update leaves the replica exactly as it was;
//   * an applied one leaves every row with every column, each value in its
//     normalized form.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "jsonrpc/jsonrpc.h"
#include "ovsdb/datum.h"
#include "ovsdb/replica.h"
#include "ovsdb/schema.h"

namespace {

using nlohmann::json;

const char* const kSchema = R"({"name": "Fuzz", "tables": {
  "Root": {"columns": {
    "bridges": {"type": {"key": {"type": "uuid", "refTable": "Bridge"}, "min": 0, "max": "unlimited"}},
    "cur_cfg": {"type": "integer"}}},
  "Bridge": {"columns": {
    "name": {"type": "string"},
    "ports": {"type": {"key": "string", "min": 0, "max": "unlimited"}},
    "tag": {"type": {"key": {"type": "integer", "minInteger": 0, "maxInteger": 4095}, "min": 0, "max": 1}},
    "enabled": {"type": "boolean"},
    "ratio": {"type": "real"},
    "pair": {"type": {"key": "string", "min": 1, "max": 2}},
    "other_config": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
    "ofports": {"type": {"key": "integer", "value": "uuid", "min": 0, "max": "unlimited"}}}}}})";

const char* const kSeedRows = R"({
  "Root": {"33333333-3333-3333-3333-333333333333": {"initial": {"cur_cfg": 1,
      "bridges": ["uuid", "11111111-1111-1111-1111-111111111111"]}}},
  "Bridge": {"11111111-1111-1111-1111-111111111111": {"initial": {"name": "br0",
      "ports": ["set", ["a", "b"]], "tag": 5, "pair": "x",
      "other_config": ["map", [["k", "v"]]]}}}})";

const hsw::ovsdb::Schema& TheSchema() {
  static const hsw::ovsdb::Schema schema = *hsw::ovsdb::Schema::Parse(json::parse(kSchema));
  return schema;
}

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "ovsdb_update_fuzz: %s\n", what);
  std::abort();
}

void CheckRows(const hsw::ovsdb::Replica& replica) {
  const auto& schema = TheSchema();
  for (const auto& table : replica.tables()) {
    for (const auto& [uuid, row] : replica.rows(table)) {
      if (!hsw::ovsdb::IsUuidString(uuid)) Fail("a row's key is not a UUID");
      for (const auto& [name, column] : schema.FindTable(table)->columns) {
        if (!replica.HasColumn(table, name)) continue;
        auto it = row.find(name);
        if (it == row.end()) Fail("a monitored column is missing from a row");
        auto normalized = hsw::ovsdb::Normalize(column.type, *it);
        if (!normalized || *normalized != *it) Fail("a stored value is not normalized");
      }
    }
  }
}

void ApplyTo(hsw::ovsdb::Replica& replica, const json& updates, bool v2) {
  hsw::ovsdb::Replica before = replica;
  auto result = v2 ? replica.ApplyUpdate2(updates) : replica.ApplyUpdate(updates);
  if (!result) {
    if (result.error().message.empty()) Fail("an error without a message");
    if (!replica.SameContents(before)) Fail("a refused update changed the replica");
    return;
  }
  if (!*result && !replica.SameContents(before)) Fail("an update said unchanged but changed");
  CheckRows(replica);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);

  hsw::jsonrpc::JsonStreamSplitter whole(1 << 20);
  std::vector<json> messages;
  bool whole_ok = static_cast<bool>(whole.Feed(bytes, messages));

  hsw::jsonrpc::JsonStreamSplitter pieces(1 << 20);
  std::vector<json> piece_messages;
  bool pieces_ok = true;
  for (size_t at = 0; at < bytes.size() && pieces_ok; at += 3) {
    pieces_ok = static_cast<bool>(pieces.Feed(bytes.substr(at, 3), piece_messages));
  }
  if (whole_ok != pieces_ok) Fail("the splitter's verdict depends on how the bytes arrive");
  if (messages != piece_messages) Fail("the splitter's messages depend on how the bytes arrive");

  hsw::ovsdb::Replica replica;
  if (!replica.Configure(TheSchema(), {{"Root", {"bridges", "cur_cfg"}},
                                       {"Bridge",
                                        {"name", "ports", "tag", "enabled", "ratio", "pair",
                                         "other_config", "ofports"}}})) {
    Fail("the seed schema does not configure");
  }
  if (!replica.ApplyUpdate2(json::parse(kSeedRows))) Fail("the seed rows do not apply");

  for (const json& message : messages) {
    auto kind = hsw::jsonrpc::Classify(message);
    if (!kind) continue;
    if (*kind == hsw::jsonrpc::MessageKind::kReply) {
      // A monitor reply: initial contents, either format.
      ApplyTo(replica, message["result"], true);
      ApplyTo(replica, message["result"], false);
      continue;
    }
    if (*kind != hsw::jsonrpc::MessageKind::kNotification) continue;
    const std::string& method = message["method"].get_ref<const std::string&>();
    const json& params = message["params"];
    if (method == "update" && params.size() >= 2) ApplyTo(replica, params[1], false);
    if (method == "update2" && params.size() >= 2) ApplyTo(replica, params[1], true);
    if (method == "update3" && params.size() >= 3) ApplyTo(replica, params[2], true);
  }
  return 0;
}
