// hsw-ctl's datapath commands, dp-show and dp-dump-flows.  They speak the
// datapath protocol to <rundir>/datapath.sock as a monitor (no upcalls, any
// number at once), so that the fast path can be inspected even while
// hsw-vswitchd is down or restarting -- which is when operators need it.
//
// The formatting works on any dpif::Dpif, so tests run it on FakeDpif.
#pragma once

#include <chrono>
#include <string>

#include "common/result.h"
#include "dpif/dpif.h"

namespace hsw::ctl {

// "hsw-datapath 0.1.0 (pid 12, protocol 1)", then the ports with rx/tx/drop
// counters, then every named counter (flows, lookups per tier, upcalls,
// miss-queue accounting).
Result<std::string> FormatDpShow(dpif::Dpif& dpif);
// One line per megaflow, in Open vSwitch's dpctl/dump-flows layout:
// "in_port(1),eth_type(0x0800),... packets:3, bytes:294, used:0.512s, actions:output:2".
// `now_ms` is CLOCK_MONOTONIC in ms, to print how long ago each flow was used.
Result<std::string> FormatDpFlows(dpif::Dpif& dpif, uint64_t now_ms);

// Connect to `socket` as a monitor and run the above.
Result<std::string> DpShow(const std::string& socket, std::chrono::milliseconds timeout);
Result<std::string> DpDumpFlows(const std::string& socket, std::chrono::milliseconds timeout);
// "hsw-datapath 0.1.0 (protocol 1, pid 12)", from the handshake alone.
Result<std::string> DpVersion(const std::string& socket, std::chrono::milliseconds timeout);

}  // namespace hsw::ctl
