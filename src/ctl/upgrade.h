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

// hsw-ctl upgrade --datapath NEWBIN: upgrade-check; the running binary kept
// as <statedir>/upgrade/previous/hsw-datapath; NEWBIN --takeover with the
// running datapath's own arguments; then a health check of the new process
// (it is the process started, answers, still has its
// owner, executes a probe packet, takes and removes a probe flow; each step
// bounded by --timeout).  If the health check fails, the previous binary takes over again (hitless too).
// A new binary that fails during the takeover changes nothing: the running
// datapath carries on.  (--vswitchd is not built yet.)
struct UpgradeOptions {
  std::string datapath_bin;
};
int UpgradeCommand(const Lifecycle& ctx, const UpgradeOptions& options);

// hsw-ctl rollback --datapath: the kept previous binary takes over from the
// running one, which is kept in its turn (a second rollback undoes the first).
int RollbackCommand(const Lifecycle& ctx);

}  // namespace hsw::ctl
