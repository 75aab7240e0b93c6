// Applying monitor updates to the replica (see replica.h).
#include "ovsdb/replica.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "ovsdb/datum.h"

namespace hsw::ovsdb {

using nlohmann::json;

namespace {

const Replica::Rows kNoRows;

using Columns = std::map<std::string, ColumnType, std::less<>>;

// A row with every monitored column at its default.
json DefaultRow(const Columns& columns) {
  json row = json::object();
  for (const auto& [name, type] : columns) row[name] = DefaultDatum(type);
  return row;
}

// The value of a set column after an update2 "modify": the elements in
// exactly one of `current` and `diff`.
Result<json> ApplySetDiff(const ColumnType& type, const json& current, const json& diff) {
  auto elements = ReadSet(diff);
  if (!elements) return Err("set diff {} is not a set", BriefJson(diff));
  auto have = ReadSet(current);
  std::vector<json> result = have ? *have : std::vector<json>{};
  for (const json& e : *elements) {
    if (!IsAtomOf(type.key.type, e)) {
      return Err("set diff element {} is not a {}", BriefJson(e), AtomicTypeName(type.key.type));
    }
    auto it = std::find(result.begin(), result.end(), e);
    if (it != result.end()) {
      result.erase(it);
    } else {
      result.push_back(e);
    }
  }
  return Normalize(type, json::array({"set", std::move(result)}));
}

// The value of a map column after an update2 "modify": a key not present is
// inserted, a key given with its current value deleted, a key given with
// another value replaced.
Result<json> ApplyMapDiff(const ColumnType& type, const json& current, const json& diff) {
  auto pairs = ReadMap(diff);
  if (!pairs) return Err("map diff {} is not a map", BriefJson(diff));
  auto have = ReadMap(current);
  std::vector<std::pair<json, json>> result = have ? *have : std::vector<std::pair<json, json>>{};
  for (auto& [key, value] : *pairs) {
    if (!IsAtomOf(type.key.type, key) || !IsAtomOf(type.value->type, value)) {
      return Err("map diff pair [{}, {}] is not of type {} -> {}", BriefJson(key), BriefJson(value),
                 AtomicTypeName(type.key.type), AtomicTypeName(type.value->type));
    }
    auto it = std::find_if(result.begin(), result.end(),
                           [&](const auto& pair) { return pair.first == key; });
    if (it == result.end()) {
      result.emplace_back(key, value);
    } else if (it->second == value) {
      result.erase(it);
    } else {
      it->second = value;
    }
  }
  return Normalize(type, MakeMap(std::move(result)));
}

// Sets `row`'s columns from `values` (full values, "new"/"initial"/"insert").
Status SetColumns(const Columns& columns, const json& values, json& row) {
  if (!values.is_object()) return Err("row is not an object: {}", BriefJson(values));
  for (const auto& [column, value] : values.items()) {
    auto type = columns.find(column);
    if (type == columns.end()) return Err("column {} is not monitored", column);
    auto normalized = Normalize(type->second, value);
    if (!normalized) return Err("column {}: {}", column, normalized.error().message);
    row[column] = std::move(*normalized);
  }
  return Ok();
}

// Applies an update2 "modify" to `row`.
Status ModifyColumns(const Columns& columns, const json& diffs, json& row) {
  if (!diffs.is_object()) return Err("modify is not an object: {}", BriefJson(diffs));
  for (const auto& [column, diff] : diffs.items()) {
    auto type = columns.find(column);
    if (type == columns.end()) return Err("column {} is not monitored", column);
    const ColumnType& t = type->second;
    Result<json> value = t.is_scalar() ? Normalize(t, diff)
                         : t.is_map()  ? ApplyMapDiff(t, row[column], diff)
                                       : ApplySetDiff(t, row[column], diff);
    if (!value) return Err("column {}: {}", column, value.error().message);
    row[column] = std::move(*value);
  }
  return Ok();
}

}  // namespace

Status Replica::Configure(const Schema& schema,
                          const std::map<std::string, std::vector<std::string>>& columns) {
  decltype(columns_) configured;
  for (const auto& [table, names] : columns) {
    const TableSchema* t = schema.FindTable(table);
    if (!t) return Err("replica: schema {} has no table {}", schema.name(), table);
    auto& out = configured[table];
    for (const auto& name : names) {
      const ColumnSchema* c = schema.FindColumn(table, name);
      if (!c) return Err("replica: table {} has no column {}", table, name);
      out.emplace(name, c->type);
    }
  }
  columns_ = std::move(configured);
  tables_.clear();
  for (const auto& [table, unused] : columns_) tables_[table];
  return Ok();
}

Result<bool> Replica::ApplyUpdate(const json& table_updates) {
  return Apply(table_updates, Format::kUpdate);
}

Result<bool> Replica::ApplyUpdate2(const json& table_updates2) {
  return Apply(table_updates2, Format::kUpdate2);
}

Result<bool> Replica::Apply(const json& updates, Format format) {
  const char* what = format == Format::kUpdate ? "update" : "update2";
  if (!updates.is_object()) return Err("{}: table updates are not an object", what);
  // Each row's new value is computed first and the whole message committed
  // at the end, so an error anywhere changes nothing.  A message names each
  // (table, row) at most once (JSON object keys), so no change depends on
  // another one of the same message.
  struct Change {
    Rows* rows;
    std::string uuid;
    std::optional<json> row;  // nullopt = delete
  };
  std::vector<Change> changes;
  try {
    for (const auto& [table, rows_json] : updates.items()) {
      auto columns_it = columns_.find(table);
      if (columns_it == columns_.end()) return Err("{}: table {} is not monitored", what, table);
      const Columns& columns = columns_it->second;
      Rows& rows = tables_[table];
      if (!rows_json.is_object()) return Err("{}: table {}: rows are not an object", what, table);
      for (const auto& [uuid, change] : rows_json.items()) {
        auto fail = [&](const std::string& why) {
          return Err("{}: table {}, row {}: {}", what, table, uuid, why);
        };
        if (!IsUuidString(uuid)) return fail("not a UUID");
        if (!change.is_object()) return fail("row update is not an object");
        auto current = rows.find(uuid);
        bool exists = current != rows.end();
        if (format == Format::kUpdate) {
          auto new_it = change.find("new");
          if (new_it == change.end() || new_it->is_null()) {
            if (!change.contains("old")) return fail("neither \"old\" nor \"new\"");
            if (!exists) return fail("deleted but not in the replica");
            changes.push_back({&rows, uuid, std::nullopt});
            continue;
          }
          json row = exists ? current->second : DefaultRow(columns);
          if (auto status = SetColumns(columns, *new_it, row); !status) {
            return fail(status.error().message);
          }
          changes.push_back({&rows, uuid, std::move(row)});
          continue;
        }
        if (change.size() != 1) return fail("expected one of initial, insert, delete, modify");
        const std::string& kind = change.begin().key();
        const json& body = change.begin().value();
        if (kind == "initial" || kind == "insert") {
          if (exists) return fail(kind + " of a row already in the replica");
          json row = DefaultRow(columns);
          if (auto status = SetColumns(columns, body, row); !status) {
            return fail(status.error().message);
          }
          changes.push_back({&rows, uuid, std::move(row)});
        } else if (kind == "delete") {
          if (!exists) return fail("deleted but not in the replica");
          changes.push_back({&rows, uuid, std::nullopt});
        } else if (kind == "modify") {
          if (!exists) return fail("modified but not in the replica");
          json row = current->second;
          if (auto status = ModifyColumns(columns, body, row); !status) {
            return fail(status.error().message);
          }
          changes.push_back({&rows, uuid, std::move(row)});
        } else {
          return fail("unknown row update '" + kind + "'");
        }
      }
    }
  } catch (const std::exception& e) {
    // Not expected (every access is checked first); kept as the module's
    // boundary so that nothing nlohmann throws escapes.
    return Err("{}: {}", what, e.what());
  }
  bool changed = false;
  for (auto& change : changes) {
    auto it = change.rows->find(change.uuid);
    if (!change.row) {
      change.rows->erase(it);
      changed = true;
    } else if (it == change.rows->end()) {
      change.rows->emplace(change.uuid, std::move(*change.row));
      changed = true;
    } else if (it->second != *change.row) {
      it->second = std::move(*change.row);
      changed = true;
    }
  }
  return changed;
}

void Replica::Clear() {
  for (auto& [table, rows] : tables_) rows.clear();
}

const Replica::Row* Replica::Find(std::string_view table, std::string_view uuid) const {
  auto t = tables_.find(table);
  if (t == tables_.end()) return nullptr;
  auto r = t->second.find(uuid);
  return r == t->second.end() ? nullptr : &r->second;
}

const json* Replica::Get(std::string_view table, std::string_view uuid,
                         std::string_view column) const {
  const Row* row = Find(table, uuid);
  if (!row) return nullptr;
  auto it = row->find(column);
  return it == row->end() ? nullptr : &*it;
}

const Replica::Rows& Replica::rows(std::string_view table) const {
  auto t = tables_.find(table);
  return t == tables_.end() ? kNoRows : t->second;
}

std::vector<std::string> Replica::tables() const {
  std::vector<std::string> out;
  for (const auto& [table, unused] : columns_) out.push_back(table);
  return out;
}

bool Replica::HasColumn(std::string_view table, std::string_view column) const {
  auto t = columns_.find(table);
  return t != columns_.end() && t->second.count(column) > 0;
}

size_t Replica::row_count() const {
  size_t n = 0;
  for (const auto& [table, rows] : tables_) n += rows.size();
  return n;
}

}  // namespace hsw::ovsdb
