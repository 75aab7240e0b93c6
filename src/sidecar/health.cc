#include "sidecar/health.h"

#include <fmt/format.h>

namespace hsw::sidecar {

HealthReport Evaluate(const std::string& list, const std::vector<Check>& checks,
                      const HealthQuery& query) {
  HealthReport report;
  if (query.only) {
    for (const Check& check : checks) {
      if (check.name != *query.only) continue;
      Status status = check.run();
      report.http_status = status ? 200 : 500;
      report.body = status ? "ok\n"
                           : fmt::format("[-]{} failed: {}\n", check.name, status.error().message);
      return report;
    }
    report.http_status = 404;
    report.body = fmt::format("{}: no check named '{}'\n", list, *query.only);
    return report;
  }
  std::string lines;
  int failed = 0;
  for (const Check& check : checks) {
    if (query.exclude.count(check.name)) {
      if (query.verbose) lines += fmt::format("[+]{} excluded: ok\n", check.name);
      continue;
    }
    Status status = check.run();
    if (status) {
      if (query.verbose) lines += fmt::format("[+]{} ok\n", check.name);
    } else {
      ++failed;
      lines += fmt::format("[-]{} failed: {}\n", check.name, status.error().message);
    }
  }
  for (const std::string& name : query.exclude) {
    bool known = false;
    for (const Check& check : checks) known = known || check.name == name;
    if (!known) lines += fmt::format("warn: some health checks cannot be excluded: no matches for \"{}\"\n", name);
  }
  if (failed) {
    report.http_status = 500;
    report.body = lines + fmt::format("{} check failed\n", list);
  } else {
    report.body = query.verbose ? lines + fmt::format("{} check passed\n", list) : "ok\n";
  }
  return report;
}

}  // namespace hsw::sidecar
