// ovsdb/datum: OVSDB's JSON forms of values (RFC 7047 §5.1) and of
// transaction operations (§5.2), for the client and its callers.
//
//   atom      42, 1.5, true, "text", ["uuid", "550e8400-..."]
//   set       an atom (a set of one), or ["set", [atom, ...]]
//   map       ["map", [[key, value], ...]]
//   named     ["named-uuid", "name"] (a row inserted earlier in the same txn)
//
// Readers take whatever JSON came from the server and never throw: a value
// of the wrong shape gives nullopt (or an empty optional) and the caller
// logs what it expected, so one bad column cannot take the client down.
// Builders produce what ovsdb-server accepts in "transact".
//
// Hand-written on nlohmann-json: Debian ships no C/C++ OVSDB library (OVS's C
// IDL is not packaged and its headers do not compile as C++).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ovsdb/schema.h"

namespace hsw::ovsdb {

using Json = nlohmann::json;

// --- Atoms -----------------------------------------------------------------

// "8-4-4-4-12" hex digits, either case.
bool IsUuidString(std::string_view text);

std::optional<int64_t> ReadInteger(const Json& atom);
// An integer is a valid real too (JSON does not tell 1 from 1.0 reliably).
std::optional<double> ReadReal(const Json& atom);
std::optional<bool> ReadBoolean(const Json& atom);
std::optional<std::string> ReadString(const Json& atom);
// ["uuid", "..."] with a valid UUID -> the UUID string.
std::optional<std::string> ReadUuid(const Json& atom);
// ["named-uuid", "name"] -> "name".
std::optional<std::string> ReadNamedUuid(const Json& atom);

// Whether `atom` is a valid atom of `type`.
bool IsAtomOf(AtomicType type, const Json& atom);
// The value of a column nobody set (RFC 7047 §5.1): 0, 0.0, false, "",
// the all-zero UUID.
Json DefaultAtom(AtomicType type);

// --- Sets and maps ---------------------------------------------------------

// The elements of a set datum: a bare atom is a set of one.  nullopt when
// the value is neither (e.g. ["map", ...] or ["set", 5]).
std::optional<std::vector<Json>> ReadSet(const Json& datum);
// The pairs of a ["map", [[k, v], ...]] datum; nullopt for any other shape.
std::optional<std::vector<std::pair<Json, Json>>> ReadMap(const Json& datum);

// Typed conveniences; nullopt if any element has the wrong type.
std::optional<std::vector<std::string>> ReadStringSet(const Json& datum);
std::optional<std::vector<int64_t>> ReadIntegerSet(const Json& datum);
std::optional<std::vector<std::string>> ReadUuidSet(const Json& datum);
std::optional<std::map<std::string, std::string>> ReadStringMap(const Json& datum);
// An optional column (0 or 1 elements): outer nullopt = malformed, inner
// nullopt = empty.
std::optional<std::optional<int64_t>> ReadOptionalInteger(const Json& datum);
std::optional<std::optional<std::string>> ReadOptionalString(const Json& datum);

// --- Datums against a column type ------------------------------------------

// The canonical form of `datum` for a column of `type`, as the replica keeps
// it: a scalar as a bare atom, any set as ["set", [...]] and a map as
// ["map", [...]], elements sorted and duplicates refused, so that two equal
// values compare equal as JSON.  An error names what is wrong ("element 2 is
// not a string", "3 elements, at most 1 allowed").
Result<Json> Normalize(const ColumnType& type, const Json& datum);
// The column's value when the server sends none (update2 leaves defaults out).
Json DefaultDatum(const ColumnType& type);

// `value` serialized for an error message, cut to about `max` bytes (never
// throws, whatever the strings hold).
std::string BriefJson(const Json& value, size_t max = 80);

// --- Builders for transactions ---------------------------------------------

Json MakeUuid(std::string_view uuid);
Json MakeNamedUuid(std::string_view name);
Json MakeSet(std::vector<Json> atoms);
Json MakeStringSet(const std::vector<std::string>& strings);
Json MakeUuidSet(const std::vector<std::string>& uuids);
Json MakeMap(std::vector<std::pair<Json, Json>> pairs);
Json MakeStringMap(const std::map<std::string, std::string>& map);

// A <condition>: [column, function, value], e.g. Condition("name", "==", "br0").
Json Condition(std::string_view column, std::string_view function, Json value);
// [["_uuid", "==", ["uuid", uuid]]]
Json WhereUuid(std::string_view uuid);

// Operations (RFC 7047 §5.2), each one element of Transact's array.
Json InsertOp(std::string_view table, Json row, std::string_view uuid_name = "");
Json UpdateOp(std::string_view table, Json where, Json row);
// mutations: [[column, mutator, value], ...]
Json MutateOp(std::string_view table, Json where, Json mutations);
Json DeleteOp(std::string_view table, Json where);
Json SelectOp(std::string_view table, Json where, std::vector<std::string> columns = {});
// Fails the transaction unless the rows matching `where` have `rows` in
// `columns` (the "verify" of OVS's IDL, spelled as RFC 7047's wait).
Json WaitOp(std::string_view table, Json where, std::vector<std::string> columns, Json rows,
            std::string_view until = "==", int64_t timeout_ms = 0);
Json CommentOp(std::string_view comment);

}  // namespace hsw::ovsdb
