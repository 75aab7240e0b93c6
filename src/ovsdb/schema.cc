// Parsing of OVSDB schemas (see schema.h).
#include "ovsdb/schema.h"

#include <fmt/format.h>

#include "ovsdb/datum.h"

namespace hsw::ovsdb {

using nlohmann::json;

std::string_view AtomicTypeName(AtomicType type) {
  switch (type) {
    case AtomicType::kInteger:
      return "integer";
    case AtomicType::kReal:
      return "real";
    case AtomicType::kBoolean:
      return "boolean";
    case AtomicType::kString:
      return "string";
    case AtomicType::kUuid:
      return "uuid";
  }
  return "?";
}

std::optional<AtomicType> ParseAtomicType(std::string_view name) {
  if (name == "integer") return AtomicType::kInteger;
  if (name == "real") return AtomicType::kReal;
  if (name == "boolean") return AtomicType::kBoolean;
  if (name == "string") return AtomicType::kString;
  if (name == "uuid") return AtomicType::kUuid;
  return std::nullopt;
}

namespace {

Result<BaseType> ParseBaseType(const json& j) {
  BaseType base;
  const json* type = &j;
  if (j.is_object()) {
    auto it = j.find("type");
    if (it == j.end()) return Err("base type has no \"type\"");
    type = &*it;
    auto ref = j.find("refTable");
    if (ref != j.end()) {
      if (!ref->is_string()) return Err("\"refTable\" is not a string");
      base.ref_table = ref->get<std::string>();
    }
  }
  if (!type->is_string()) return Err("atomic type is not a string: {}", BriefJson(*type));
  auto atomic = ParseAtomicType(type->get_ref<const std::string&>());
  if (!atomic) return Err("unknown atomic type '{}'", type->get_ref<const std::string&>());
  base.type = *atomic;
  return base;
}

}  // namespace

Result<ColumnType> ParseColumnType(const json& j) {
  ColumnType type;
  if (j.is_string()) {
    HSW_ASSIGN_OR_RETURN(type.key, ParseBaseType(j));
    return type;
  }
  if (!j.is_object()) return Err("type is neither a string nor an object");
  auto key = j.find("key");
  if (key == j.end()) return Err("type has no \"key\"");
  auto parsed_key = ParseBaseType(*key);
  if (!parsed_key) return Err("key: {}", parsed_key.error().message);
  type.key = *parsed_key;
  if (auto value = j.find("value"); value != j.end()) {
    auto parsed = ParseBaseType(*value);
    if (!parsed) return Err("value: {}", parsed.error().message);
    type.value = *parsed;
  }
  if (auto min = j.find("min"); min != j.end()) {
    if (!min->is_number_integer() || (min->get<int64_t>() != 0 && min->get<int64_t>() != 1)) {
      return Err("\"min\" is not 0 or 1: {}", BriefJson(*min));
    }
    type.min = min->get<int64_t>();
  }
  if (auto max = j.find("max"); max != j.end()) {
    if (max->is_string() && max->get_ref<const std::string&>() == "unlimited") {
      type.max = ColumnType::kUnlimited;
    } else if (max->is_number_integer() && max->get<int64_t>() >= 1) {
      type.max = max->get<int64_t>();
    } else {
      return Err("\"max\" is not a positive integer or \"unlimited\": {}", BriefJson(*max));
    }
  }
  if (type.min > type.max) return Err("\"min\" {} is over \"max\" {}", type.min, type.max);
  return type;
}

Result<Schema> Schema::Parse(const json& j) {
  if (!j.is_object()) return Err("schema is not a JSON object");
  Schema schema;
  auto name = j.find("name");
  if (name == j.end() || !name->is_string()) return Err("schema has no string \"name\"");
  schema.name_ = name->get<std::string>();
  if (auto version = j.find("version"); version != j.end() && version->is_string()) {
    schema.version_ = version->get<std::string>();
  }
  auto tables = j.find("tables");
  if (tables == j.end() || !tables->is_object()) {
    return Err("schema {}: no \"tables\" object", schema.name_);
  }
  for (const auto& [table_name, table_json] : tables->items()) {
    if (!table_json.is_object()) return Err("table {}: not an object", table_name);
    TableSchema table;
    table.name = table_name;
    if (auto root = table_json.find("isRoot"); root != table_json.end() && root->is_boolean()) {
      table.is_root = root->get<bool>();
    }
    if (auto max_rows = table_json.find("maxRows");
        max_rows != table_json.end() && max_rows->is_number_integer()) {
      table.max_rows = max_rows->get<int64_t>();
    }
    auto columns = table_json.find("columns");
    if (columns == table_json.end() || !columns->is_object()) {
      return Err("table {}: no \"columns\" object", table_name);
    }
    for (const auto& [column_name, column_json] : columns->items()) {
      if (!column_json.is_object()) {
        return Err("table {}, column {}: not an object", table_name, column_name);
      }
      auto type_json = column_json.find("type");
      if (type_json == column_json.end()) {
        return Err("table {}, column {}: no \"type\"", table_name, column_name);
      }
      auto type = ParseColumnType(*type_json);
      if (!type) {
        return Err("table {}, column {}: {}", table_name, column_name, type.error().message);
      }
      ColumnSchema column{column_name, *type};
      if (auto e = column_json.find("ephemeral"); e != column_json.end() && e->is_boolean()) {
        column.ephemeral = e->get<bool>();
      }
      if (auto m = column_json.find("mutable"); m != column_json.end() && m->is_boolean()) {
        column.is_mutable = m->get<bool>();
      }
      table.columns.emplace(column_name, std::move(column));
    }
    // Every table has these two, though schemas do not list them.
    ColumnSchema uuid;
    uuid.name = "_uuid";
    uuid.type.key.type = AtomicType::kUuid;
    uuid.is_mutable = false;
    table.columns.emplace("_uuid", uuid);
    uuid.name = "_version";
    table.columns.emplace("_version", uuid);
    schema.tables_.emplace(table_name, std::move(table));
  }
  return schema;
}

const TableSchema* Schema::FindTable(std::string_view table) const {
  auto it = tables_.find(table);
  return it == tables_.end() ? nullptr : &it->second;
}

const ColumnSchema* Schema::FindColumn(std::string_view table, std::string_view column) const {
  const TableSchema* t = FindTable(table);
  if (!t) return nullptr;
  auto it = t->columns.find(column);
  return it == t->columns.end() ? nullptr : &it->second;
}

}  // namespace hsw::ovsdb
