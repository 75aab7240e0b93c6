#include "sidecar/metrics.h"

#include <fmt/format.h>

#include <cmath>

namespace hsw::sidecar {
namespace {

bool NameChars(const std::string& name, bool colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string Escape(const std::string& text, bool quotes) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quotes && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Counters and most gauges are integers: print them exactly.
  if (value == std::floor(value) && std::fabs(value) < 9.007199254740992e15) {
    return fmt::format("{}", static_cast<int64_t>(value));
  }
  return fmt::format("{}", value);
}

}  // namespace

bool ValidMetricName(const std::string& name) { return NameChars(name, true); }
bool ValidLabelName(const std::string& name) { return NameChars(name, false); }

std::string FormatPrometheus(const std::vector<Family>& families) {
  std::string text;
  for (const Family& family : families) {
    if (family.samples.empty()) continue;
    text += fmt::format("# HELP {} {}\n# TYPE {} {}\n", family.name, Escape(family.help, false),
                        family.name, family.type);
    for (const Sample& sample : family.samples) {
      text += family.name;
      if (!sample.labels.empty()) {
        text += '{';
        for (size_t i = 0; i < sample.labels.size(); ++i) {
          if (i) text += ',';
          text += fmt::format("{}=\"{}\"", sample.labels[i].first,
                              Escape(sample.labels[i].second, true));
        }
        text += '}';
      }
      text += ' ';
      text += Value(sample.value);
      text += '\n';
    }
  }
  return text;
}

}  // namespace hsw::sidecar
