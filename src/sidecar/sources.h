// sidecar/sources: what the sidecar knows about the daemons, read from them
// at request time (never cached, no timers of its own): hsw-datapath over
// its socket as a monitor (the StatsGet that `hsw-ctl dp-show` prints), and
// hsw-vswitchd over its control socket (`show`).  A daemon that does not
// answer within the deadline is a view with up = false and the reason; it
// never fails the whole scrape.
//
// From views, the health checks (/livez: each daemon answers; /readyz: the
// switch forwards as configured) and the metric families.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dpif/dpif_protocol.h"
#include "sidecar/health.h"
#include "sidecar/metrics.h"

namespace hsw::sidecar {

struct DatapathView {
  bool up = false;
  std::string error;      // why not up
  double seconds = 0;     // how long the read took
  dpif::StatsReply stats;
  std::string version;
  int64_t pid = 0;
};

struct VswitchdView {
  bool up = false;
  std::string error;
  double seconds = 0;
  nlohmann::json show;  // hsw-vswitchd's `show` result
};

struct Paths {
  std::string rundir;
  std::string datapath_socket() const { return rundir + "/datapath.sock"; }
  std::string vswitchd_control() const { return rundir + "/vswitchd.ctl"; }
};

DatapathView ReadDatapath(const Paths& paths, std::chrono::milliseconds deadline);
VswitchdView ReadVswitchd(const Paths& paths, std::chrono::milliseconds deadline);

// /livez: "datapath", "vswitchd" -- each answers within its deadline.
std::vector<Check> LivenessChecks(const DatapathView& dp, const VswitchdView& vs);
// /readyz: the liveness checks, then "datapath-connected" (hsw-vswitchd
// owns the datapath), "flow-restore-wait" (false: the tables are loaded, the
// restore is done), "ports" (every configured port is in the datapath with
// its link up).
std::vector<Check> ReadinessChecks(const DatapathView& dp, const VswitchdView& vs);

// hsw_datapath_*, hsw_port_* and hsw_scrape_* for the datapath's source.
std::vector<Family> DatapathMetrics(const DatapathView& dp);
// hsw_vswitchd_*, hsw_bridge_* and hsw_scrape_* for hsw-vswitchd's.
std::vector<Family> VswitchdMetrics(const VswitchdView& vs);

}  // namespace hsw::sidecar
