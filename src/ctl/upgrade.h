// hsw-ctl upgrade-check: before anything is touched, whether new binaries of
// hsw-datapath and/or hsw-vswitchd can replace the running ones, and if not,
// which component is incompatible with which, and why.
//
//   hsw-ctl upgrade-check --datapath NEWBIN [--vswitchd NEWBIN]
//
// Each new binary is asked `NEWBIN --version --json` (common/version.h).
// The running datapath is asked over its handover socket, with the very
// Hello a takeover would send but marked as a probe: its answer is the one a
// real `hsw-datapath --takeover` would get (handover stream version, flow key
// layout, the datapath-protocol versions of its connected clients).  For a
// new hsw-vswitchd, the checks are the datapath protocol against the running
// datapath (or the new one, when both are upgraded), and the formats of the
// files it must read: <statedir>/flows.journal and <statedir>/conf.json.
#pragma once

#include <string>

#include "ctl/lifecycle.h"

namespace hsw::ctl {

struct UpgradeCheckOptions {
  std::string datapath_bin;  // "" = not upgraded
  std::string vswitchd_bin;
};

// 0: the upgrade is possible; 1: it is not (every reason printed), or a
// check could not be made.
int UpgradeCheckCommand(const Lifecycle& ctx, const UpgradeCheckOptions& options);

}  // namespace hsw::ctl
