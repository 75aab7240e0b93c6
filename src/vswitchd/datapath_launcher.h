// Attaching hsw-vswitchd to its datapath, starting one when none runs.
//
// In hsw's own lifecycle hsw-ctl starts hsw-datapath first.  An OVS script
// (the ovn-operator's start-vswitchd.sh, ovs-ctl) starts only ovs-vswitchd,
// so in the database mode hsw-vswitchd attaches to the hsw-datapath that
// answers on its datapath socket -- usually one that outlived the last
// hsw-vswitchd, or one run by the host outside the container that restarts
// -- and starts one itself only when nothing answers there.  The datapath it
// starts is detached (its own session), so that it outlives this process,
// which is the point: the next hsw-vswitchd finds it forwarding.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "dpif/dpif_client.h"

namespace hsw::vswitchd {

struct DatapathLaunch {
  bool start_if_absent = false;
  // hsw-datapath's run directory must be the socket's directory; these are
  // passed on so that its log and state go where hsw-vswitchd's go.
  std::string statedir;
  std::string logdir;
  bool log_file = false;  // --log-file (<logdir>/hsw-datapath.log)
  std::string bindir;     // "" = FindDaemonBinary's search
};

// Connects to `socket` as the datapath's owner.  When nothing listens there
// and `launch.start_if_absent`, runs `hsw-datapath --detach` with its run
// directory the socket's directory, waits for it to be ready, and connects.
// Errors name the socket and, for a start that failed, the binary and why.
Result<std::unique_ptr<dpif::DpifClient>> ConnectOrStartDatapath(const std::string& socket,
                                                                 const DatapathLaunch& launch);

}  // namespace hsw::vswitchd
