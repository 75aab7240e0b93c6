// A small schema shared by the ovsdb unit tests: one scalar, optional, set
// and map column of each kind the replica treats differently.
#pragma once

#include <nlohmann/json.hpp>

#include "ovsdb/schema.h"

namespace hsw::ovsdb::testing {

inline nlohmann::json TestSchemaJson() {
  return nlohmann::json::parse(R"({
    "name": "Test", "version": "1.2.3",
    "tables": {
      "Root": {"isRoot": true, "maxRows": 1, "columns": {
        "bridges": {"type": {"key": {"type": "uuid", "refTable": "Bridge"},
                             "min": 0, "max": "unlimited"}},
        "next_cfg": {"type": "integer"},
        "cur_cfg": {"type": "integer"}}},
      "Bridge": {"isRoot": false, "columns": {
        "name": {"type": "string", "mutable": false},
        "ports": {"type": {"key": "string", "min": 0, "max": "unlimited"}},
        "tag": {"type": {"key": "integer", "min": 0, "max": 1}},
        "enabled": {"type": "boolean"},
        "ratio": {"type": "real"},
        "other_config": {"type": {"key": "string", "value": "string",
                                  "min": 0, "max": "unlimited"}}}}
    }})");
}

inline Schema TestSchema() { return *Schema::Parse(TestSchemaJson()); }

}  // namespace hsw::ovsdb::testing
