// sidecar/metrics: the Prometheus text exposition format (version 0.0.4),
// as a pure formatter: metric families in, text out, nothing read or timed
// here (the sources read the daemons at scrape time, sources.h).  Names are
// checked, not sanitised: they are ours, and a bad one is a bug the golden
// test catches.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace hsw::sidecar {

using Labels = std::vector<std::pair<std::string, std::string>>;

struct Sample {
  Labels labels;
  double value = 0;
};

struct Family {
  std::string name;  // counters end in _total
  std::string type;  // "counter" or "gauge"
  std::string help;
  std::vector<Sample> samples;
};

// The text of `families`, in order; a family without samples is left out.
// Label values and help are escaped as the format says (\\, \", \n).
std::string FormatPrometheus(const std::vector<Family>& families);

// True when `name` is a valid metric or label name ([a-zA-Z_:][a-zA-Z0-9_:]*;
// labels without ':').
bool ValidMetricName(const std::string& name);
bool ValidLabelName(const std::string& name);

}  // namespace hsw::sidecar
