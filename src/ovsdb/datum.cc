// OVSDB datum readers, normalization and transaction builders (see datum.h).
#include "ovsdb/datum.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace hsw::ovsdb {

namespace {

bool IsTaggedPair(const Json& j, std::string_view tag) {
  return j.is_array() && j.size() == 2 && j[0].is_string() &&
         j[0].get_ref<const std::string&>() == tag;
}

}  // namespace

bool IsUuidString(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(text[i]))) {
      return false;
    }
  }
  return true;
}

std::optional<int64_t> ReadInteger(const Json& atom) {
  if (atom.is_number_integer() && !atom.is_number_unsigned()) return atom.get<int64_t>();
  if (atom.is_number_unsigned()) {
    uint64_t u = atom.get<uint64_t>();
    if (u <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(u);
  }
  return std::nullopt;
}

std::optional<double> ReadReal(const Json& atom) {
  if (atom.is_number()) return atom.get<double>();
  return std::nullopt;
}

std::optional<bool> ReadBoolean(const Json& atom) {
  if (atom.is_boolean()) return atom.get<bool>();
  return std::nullopt;
}

std::optional<std::string> ReadString(const Json& atom) {
  if (atom.is_string()) return atom.get<std::string>();
  return std::nullopt;
}

std::optional<std::string> ReadUuid(const Json& atom) {
  if (!IsTaggedPair(atom, "uuid") || !atom[1].is_string()) return std::nullopt;
  const std::string& uuid = atom[1].get_ref<const std::string&>();
  if (!IsUuidString(uuid)) return std::nullopt;
  return uuid;
}

std::optional<std::string> ReadNamedUuid(const Json& atom) {
  if (!IsTaggedPair(atom, "named-uuid") || !atom[1].is_string()) return std::nullopt;
  return atom[1].get<std::string>();
}

bool IsAtomOf(AtomicType type, const Json& atom) {
  switch (type) {
    case AtomicType::kInteger:
      return ReadInteger(atom).has_value();
    case AtomicType::kReal:
      return atom.is_number();
    case AtomicType::kBoolean:
      return atom.is_boolean();
    case AtomicType::kString:
      return atom.is_string();
    case AtomicType::kUuid:
      return ReadUuid(atom).has_value();
  }
  return false;
}

Json DefaultAtom(AtomicType type) {
  switch (type) {
    case AtomicType::kInteger:
      return 0;
    case AtomicType::kReal:
      return 0.0;
    case AtomicType::kBoolean:
      return false;
    case AtomicType::kString:
      return "";
    case AtomicType::kUuid:
      return MakeUuid("00000000-0000-0000-0000-000000000000");
  }
  return nullptr;
}

std::optional<std::vector<Json>> ReadSet(const Json& datum) {
  if (IsTaggedPair(datum, "set")) {
    if (!datum[1].is_array()) return std::nullopt;
    return datum[1].get<std::vector<Json>>();
  }
  if (IsTaggedPair(datum, "map") || IsTaggedPair(datum, "named-uuid")) return std::nullopt;
  if (datum.is_array() && !IsTaggedPair(datum, "uuid")) return std::nullopt;
  if (datum.is_object() || datum.is_null()) return std::nullopt;
  return std::vector<Json>{datum};
}

std::optional<std::vector<std::pair<Json, Json>>> ReadMap(const Json& datum) {
  if (!IsTaggedPair(datum, "map") || !datum[1].is_array()) return std::nullopt;
  std::vector<std::pair<Json, Json>> pairs;
  pairs.reserve(datum[1].size());
  for (const Json& pair : datum[1]) {
    if (!pair.is_array() || pair.size() != 2) return std::nullopt;
    pairs.emplace_back(pair[0], pair[1]);
  }
  return pairs;
}

std::optional<std::vector<std::string>> ReadStringSet(const Json& datum) {
  auto elements = ReadSet(datum);
  if (!elements) return std::nullopt;
  std::vector<std::string> out;
  for (const Json& e : *elements) {
    if (!e.is_string()) return std::nullopt;
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::optional<std::vector<int64_t>> ReadIntegerSet(const Json& datum) {
  auto elements = ReadSet(datum);
  if (!elements) return std::nullopt;
  std::vector<int64_t> out;
  for (const Json& e : *elements) {
    auto v = ReadInteger(e);
    if (!v) return std::nullopt;
    out.push_back(*v);
  }
  return out;
}

std::optional<std::vector<std::string>> ReadUuidSet(const Json& datum) {
  auto elements = ReadSet(datum);
  if (!elements) return std::nullopt;
  std::vector<std::string> out;
  for (const Json& e : *elements) {
    auto v = ReadUuid(e);
    if (!v) return std::nullopt;
    out.push_back(*v);
  }
  return out;
}

std::optional<std::map<std::string, std::string>> ReadStringMap(const Json& datum) {
  auto pairs = ReadMap(datum);
  if (!pairs) return std::nullopt;
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : *pairs) {
    if (!k.is_string() || !v.is_string()) return std::nullopt;
    out[k.get<std::string>()] = v.get<std::string>();
  }
  return out;
}

std::optional<std::optional<int64_t>> ReadOptionalInteger(const Json& datum) {
  auto elements = ReadIntegerSet(datum);
  if (!elements || elements->size() > 1) return std::nullopt;
  if (elements->empty()) return std::optional<int64_t>();
  return std::optional<int64_t>((*elements)[0]);
}

std::optional<std::optional<std::string>> ReadOptionalString(const Json& datum) {
  auto elements = ReadStringSet(datum);
  if (!elements || elements->size() > 1) return std::nullopt;
  if (elements->empty()) return std::optional<std::string>();
  return std::optional<std::string>((*elements)[0]);
}

Result<Json> Normalize(const ColumnType& type, const Json& datum) {
  if (type.is_scalar()) {
    // A scalar may arrive as a set of one too.
    const Json* atom = &datum;
    if (IsTaggedPair(datum, "set") && datum[1].is_array() && datum[1].size() == 1) {
      atom = &datum[1][0];
    }
    if (!IsAtomOf(type.key.type, *atom)) {
      return Err("{} is not a {}", BriefJson(datum), AtomicTypeName(type.key.type));
    }
    return *atom;
  }
  size_t n = 0;
  Json out;
  if (type.is_map()) {
    auto pairs = ReadMap(datum);
    if (!pairs) return Err("{} is not a map", BriefJson(datum));
    for (size_t i = 0; i < pairs->size(); ++i) {
      if (!IsAtomOf(type.key.type, (*pairs)[i].first)) {
        return Err("key of pair {} is not a {}", i, AtomicTypeName(type.key.type));
      }
      if (!IsAtomOf(type.value->type, (*pairs)[i].second)) {
        return Err("value of pair {} is not a {}", i, AtomicTypeName(type.value->type));
      }
    }
    std::sort(pairs->begin(), pairs->end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    Json list = Json::array();
    for (size_t i = 0; i < pairs->size(); ++i) {
      if (i > 0 && (*pairs)[i].first == list.back()[0]) {
        return Err("map has key {} twice", BriefJson((*pairs)[i].first));
      }
      list.push_back(Json::array({std::move((*pairs)[i].first), std::move((*pairs)[i].second)}));
    }
    n = list.size();
    out = Json::array({"map", std::move(list)});
  } else {
    auto elements = ReadSet(datum);
    if (!elements) return Err("{} is not a set", BriefJson(datum));
    for (size_t i = 0; i < elements->size(); ++i) {
      if (!IsAtomOf(type.key.type, (*elements)[i])) {
        return Err("element {} is not a {}", i, AtomicTypeName(type.key.type));
      }
    }
    std::sort(elements->begin(), elements->end());
    for (size_t i = 1; i < elements->size(); ++i) {
      if ((*elements)[i] == (*elements)[i - 1]) {
        return Err("set has {} twice", BriefJson((*elements)[i]));
      }
    }
    n = elements->size();
    out = Json::array({"set", std::move(*elements)});
  }
  if (static_cast<int64_t>(n) < type.min || static_cast<int64_t>(n) > type.max) {
    return Err(
        "{} elements, {} to {} allowed", n, type.min,
        type.max == ColumnType::kUnlimited ? std::string("unlimited") : std::to_string(type.max));
  }
  return out;
}

Json DefaultDatum(const ColumnType& type) {
  if (type.is_scalar()) return DefaultAtom(type.key.type);
  if (type.min == 1) {
    // min 1 without max 1 (a set of 1..N): the default is one default atom.
    if (type.is_map()) {
      return Json::array({"map", Json::array({Json::array({DefaultAtom(type.key.type),
                                                           DefaultAtom(type.value->type)})})});
    }
    return Json::array({"set", Json::array({DefaultAtom(type.key.type)})});
  }
  return Json::array({type.is_map() ? "map" : "set", Json::array()});
}

std::string BriefJson(const Json& value, size_t max) {
  std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > max) {
    text.resize(max);
    text += "...";
  }
  return text;
}

Json MakeUuid(std::string_view uuid) { return Json::array({"uuid", std::string(uuid)}); }
Json MakeNamedUuid(std::string_view name) { return Json::array({"named-uuid", std::string(name)}); }
Json MakeSet(std::vector<Json> atoms) { return Json::array({"set", Json(std::move(atoms))}); }

Json MakeStringSet(const std::vector<std::string>& strings) {
  Json list = Json::array();
  for (const auto& s : strings) list.push_back(s);
  return Json::array({"set", std::move(list)});
}

Json MakeUuidSet(const std::vector<std::string>& uuids) {
  Json list = Json::array();
  for (const auto& u : uuids) list.push_back(MakeUuid(u));
  return Json::array({"set", std::move(list)});
}

Json MakeMap(std::vector<std::pair<Json, Json>> pairs) {
  Json list = Json::array();
  for (auto& [k, v] : pairs) list.push_back(Json::array({std::move(k), std::move(v)}));
  return Json::array({"map", std::move(list)});
}

Json MakeStringMap(const std::map<std::string, std::string>& map) {
  Json list = Json::array();
  for (const auto& [k, v] : map) list.push_back(Json::array({k, v}));
  return Json::array({"map", std::move(list)});
}

Json Condition(std::string_view column, std::string_view function, Json value) {
  return Json::array({std::string(column), std::string(function), std::move(value)});
}

Json WhereUuid(std::string_view uuid) {
  return Json::array({Condition("_uuid", "==", MakeUuid(uuid))});
}

Json InsertOp(std::string_view table, Json row, std::string_view uuid_name) {
  Json op = {{"op", "insert"}, {"table", std::string(table)}, {"row", std::move(row)}};
  if (!uuid_name.empty()) op["uuid-name"] = std::string(uuid_name);
  return op;
}

Json UpdateOp(std::string_view table, Json where, Json row) {
  return {{"op", "update"},
          {"table", std::string(table)},
          {"where", std::move(where)},
          {"row", std::move(row)}};
}

Json MutateOp(std::string_view table, Json where, Json mutations) {
  return {{"op", "mutate"},
          {"table", std::string(table)},
          {"where", std::move(where)},
          {"mutations", std::move(mutations)}};
}

Json DeleteOp(std::string_view table, Json where) {
  return {{"op", "delete"}, {"table", std::string(table)}, {"where", std::move(where)}};
}

Json SelectOp(std::string_view table, Json where, std::vector<std::string> columns) {
  Json op = {{"op", "select"}, {"table", std::string(table)}, {"where", std::move(where)}};
  if (!columns.empty()) op["columns"] = columns;
  return op;
}

Json WaitOp(std::string_view table, Json where, std::vector<std::string> columns, Json rows,
            std::string_view until, int64_t timeout_ms) {
  return {{"op", "wait"},         {"table", std::string(table)}, {"where", std::move(where)},
          {"columns", columns},   {"rows", std::move(rows)},     {"until", std::string(until)},
          {"timeout", timeout_ms}};
}

Json CommentOp(std::string_view comment) {
  return {{"op", "comment"}, {"comment", std::string(comment)}};
}

}  // namespace hsw::ovsdb
