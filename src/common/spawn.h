// Finding and running the other hsw programs: hsw-ctl starts the daemons,
// and hsw-vswitchd starts hsw-datapath when none runs (the database mode,
// where an OVS script starts "ovs-vswitchd" alone).
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace hsw {

// `name` in `bindir` if given, else in the calling program's own directory
// (/proc/self/exe), else in $HSW_BINDIR, else on $PATH.  The error names
// where it looked.
Result<std::string> FindDaemonBinary(const std::string& name, const std::string& bindir = "");

// Runs argv (argv[0] a path) with a clean signal state and the caller's
// stdout and stderr, and waits for it: its exit status.  With a daemon's
// --detach, that is the moment the daemon is ready (or has failed).
Result<int> RunAndWait(const std::vector<std::string>& argv);

}  // namespace hsw
