// sidecar/health: the named checks behind /livez and /readyz, shaped after
// kube-apiserver's healthz.  A check is a name and a function returning Ok
// or why not; a list passes when every check it runs passes.  `?exclude=NAME`
// skips one, `?verbose` lists each as "[+]name ok" / "[-]name failed: why",
// and /livez/NAME runs only that one.  The reasons are in the body (the port
// is local); machines read the status code (200 or 500).
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"

namespace hsw::sidecar {

struct Check {
  std::string name;
  std::function<Status()> run;
};

struct HealthQuery {
  std::set<std::string> exclude;    // ?exclude=NAME (repeatable)
  bool verbose = false;             // ?verbose
  std::optional<std::string> only;  // /livez/NAME
};

struct HealthReport {
  int http_status = 200;  // 200, 500, or 404 for an unknown `only`
  std::string body;
};

// Runs the checks `query` selects, in order.  `list` names the endpoint
// ("livez") in the last line of the body.
HealthReport Evaluate(const std::string& list, const std::vector<Check>& checks,
                      const HealthQuery& query);

}  // namespace hsw::sidecar
