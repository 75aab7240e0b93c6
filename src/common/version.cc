#include "common/version.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace hsw {

using json = nlohmann::json;

std::string FormatVersionJson(const BinaryVersion& info) {
  json accepts = json::object();
  for (const auto& [name, range] : info.accepts) {
    accepts[name] = {{"min", range.min}, {"max", range.max}};
  }
  json j = {{"program", info.program}, {"version", info.version}, {"accepts", accepts}};
  if (info.flow_key_size) j["flow_key_size"] = info.flow_key_size;
  return j.dump();
}

Result<BinaryVersion> ParseVersionJson(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Err("not a JSON object");
  BinaryVersion info;
  auto string_field = [&](const char* key) -> Result<std::string> {
    if (!j.contains(key) || !j[key].is_string()) return Err("no \"{}\" string", key);
    return j[key].get<std::string>();
  };
  HSW_ASSIGN_OR_RETURN(info.program, string_field("program"));
  HSW_ASSIGN_OR_RETURN(info.version, string_field("version"));
  if (j.contains("accepts")) {
    if (!j["accepts"].is_object()) return Err("\"accepts\" is not an object");
    for (const auto& [name, range] : j["accepts"].items()) {
      if (!range.is_object() || !range.contains("min") || !range.contains("max") ||
          !range["min"].is_number_unsigned() || !range["max"].is_number_unsigned()) {
        return Err("\"accepts\".\"{}\" is not {{\"min\": N, \"max\": N}}", name);
      }
      VersionRange r{range["min"].get<uint32_t>(), range["max"].get<uint32_t>()};
      if (r.min > r.max) return Err("\"accepts\".\"{}\": min {} above max {}", name, r.min, r.max);
      info.accepts[name] = r;
    }
  }
  if (j.contains("flow_key_size")) {
    if (!j["flow_key_size"].is_number_unsigned()) return Err("\"flow_key_size\" is not a number");
    info.flow_key_size = j["flow_key_size"].get<uint32_t>();
  }
  return info;
}

std::string DescribeVersion(const BinaryVersion& info) {
  std::string ranges;
  for (const auto& [name, range] : info.accepts) {
    if (!ranges.empty()) ranges += ", ";
    ranges += fmt::format("{} {}..{}", name, range.min, range.max);
  }
  return ranges.empty() ? info.version : fmt::format("{} ({})", info.version, ranges);
}

}  // namespace hsw
