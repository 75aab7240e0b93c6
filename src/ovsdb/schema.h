// ovsdb/schema: a database schema as ovsdb-server sends it in reply to
// "get_schema" (RFC 7047 §3.2): tables, their columns and the columns' types.
//
// The client reads it at every connect to learn which of the columns it wants
// the server really has (an older or newer vswitch.ovsschema may lack or add
// some), and the replica reads column types to apply update2 diffs and fill
// in the default values that update2 leaves out.  Constraints that only the
// server enforces (enum, minInteger, refType...) are kept only where the
// client needs them.
//
// Hand-written on nlohmann-json: Debian ships no C/C++ OVSDB library (OVS's C
// IDL is not packaged and its headers do not compile as C++).
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace hsw::ovsdb {

enum class AtomicType { kInteger, kReal, kBoolean, kString, kUuid };

std::string_view AtomicTypeName(AtomicType type);
std::optional<AtomicType> ParseAtomicType(std::string_view name);

struct BaseType {
  AtomicType type = AtomicType::kString;
  std::string ref_table;  // for uuids that reference a table; "" otherwise
};

// A column's type: a scalar (min = max = 1, no value), a set (anything else
// without a value, including "optional" 0..1), or a map (a value type).
struct ColumnType {
  static constexpr int64_t kUnlimited = std::numeric_limits<int64_t>::max();

  BaseType key;
  std::optional<BaseType> value;
  int64_t min = 1;
  int64_t max = 1;

  bool is_map() const { return value.has_value(); }
  bool is_scalar() const { return !value && min == 1 && max == 1; }
  bool is_set() const { return !value && !is_scalar(); }
};

struct ColumnSchema {
  std::string name;
  ColumnType type;
  bool ephemeral = false;
  bool is_mutable = true;
};

struct TableSchema {
  std::string name;
  std::map<std::string, ColumnSchema, std::less<>> columns;  // includes _uuid and _version
  bool is_root = false;
  std::optional<int64_t> max_rows;
};

class Schema {
 public:
  // Parses a <database-schema> object.  A malformed schema is an error naming
  // the table and column at fault ("table Bridge, column ports: ...").
  static Result<Schema> Parse(const nlohmann::json& json);

  const std::string& name() const { return name_; }
  const std::string& version() const { return version_; }
  const std::map<std::string, TableSchema, std::less<>>& tables() const { return tables_; }

  const TableSchema* FindTable(std::string_view table) const;
  const ColumnSchema* FindColumn(std::string_view table, std::string_view column) const;
  bool HasColumn(std::string_view table, std::string_view column) const {
    return FindColumn(table, column) != nullptr;
  }

 private:
  std::string name_;
  std::string version_;
  std::map<std::string, TableSchema, std::less<>> tables_;
};

// Parses a <type> (RFC 7047 §3.2): "integer" or {"key":..., "value":...,
// "min":..., "max":...}.  Exposed for tests and for the replica's fuzzer.
Result<ColumnType> ParseColumnType(const nlohmann::json& json);

}  // namespace hsw::ovsdb
