// ovsdb/replica: the client's copy of the monitored part of a database:
// tables -> rows by UUID, each row a JSON object column -> datum holding the
// row's current full value for every monitored column.
//
// It applies the monitor's notifications, RFC 7047 "update" (table-updates:
// "old"/"new") and ovsdb-server(7)'s "update2" (table-updates2: "initial",
// "insert", "delete", "modify"; a modify's set is the symmetric difference
// with the current value, a modify's map pairs insert a missing key, delete
// a key given with its current value and replace a key given with another).
// Values are kept normalized (see Normalize in datum.h: scalars bare, sets
// and maps tagged and sorted), and columns the server left out (update2 omits
// defaults) hold their default, so a reader never finds a column missing.
//
// A message is applied whole or not at all: a malformed update is an error
// naming the table, row and column, and leaves the replica exactly as it was
// before that message.
//
// Hand-written on nlohmann-json: Debian ships no C/C++ OVSDB library (OVS's C
// IDL is not packaged and its headers do not compile as C++).
#pragma once

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "ovsdb/schema.h"

namespace hsw::ovsdb {

class Replica {
 public:
  using Row = nlohmann::json;                            // column -> datum
  using Rows = std::map<std::string, Row, std::less<>>;  // UUID -> row

  Replica() = default;

  // Sets which tables and columns the replica holds, with their types from
  // `schema`, and empties it.  A table or column the schema lacks is an error
  // naming it (the client passes only columns it found in the schema).
  Status Configure(const Schema& schema,
                   const std::map<std::string, std::vector<std::string>>& columns);

  // Apply one notification's (or monitor reply's) table-updates /
  // table-updates2 object.  The value is whether any row changed.
  Result<bool> ApplyUpdate(const nlohmann::json& table_updates);
  Result<bool> ApplyUpdate2(const nlohmann::json& table_updates2);

  // Drops every row (keeps the configuration).
  void Clear();

  // nullptr when there is no such row.
  const Row* Find(std::string_view table, std::string_view uuid) const;
  // A column of a row, nullptr if the row or column does not exist.
  const nlohmann::json* Get(std::string_view table, std::string_view uuid,
                            std::string_view column) const;
  // Rows of `table` by UUID (empty for a table not held).
  const Rows& rows(std::string_view table) const;
  // The configured tables and their columns.
  std::vector<std::string> tables() const;
  bool HasColumn(std::string_view table, std::string_view column) const;
  size_t row_count() const;

  // Same rows with the same values (configuration not compared).
  bool SameContents(const Replica& other) const { return tables_ == other.tables_; }

 private:
  enum class Format { kUpdate, kUpdate2 };
  Result<bool> Apply(const nlohmann::json& updates, Format format);

  std::map<std::string, std::map<std::string, ColumnType, std::less<>>, std::less<>> columns_;
  std::map<std::string, Rows, std::less<>> tables_;
};

}  // namespace hsw::ovsdb
