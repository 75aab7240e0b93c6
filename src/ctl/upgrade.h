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
#include <string_view>
#include <vector>

#include "ctl/lifecycle.h"

namespace hsw::ctl {

struct UpgradeCheckOptions {
  std::string datapath_bin;  // "" = not upgraded
  std::string vswitchd_bin;
};

// 0: the upgrade is possible; 1: it is not (every reason printed), or a
// check could not be made.
int UpgradeCheckCommand(const Lifecycle& ctx, const UpgradeCheckOptions& options);

// hsw-ctl upgrade [--datapath NEWBIN] [--vswitchd NEWBIN]: upgrade-check of
// what is given, then each part in turn, the datapath first (the new
// hsw-vswitchd then starts against a datapath that speaks its protocol):
//
//   1. the running binary (/proc/PID/exe, readable even when the file was
//      replaced on disk) is copied beside <statedir>/upgrade/previous/<program>;
//   2. the hitless switch onto NEWBIN, with the running process's own
//      arguments: for hsw-datapath NEWBIN --takeover (a takeover that fails
//      changes nothing: the running datapath carries on); for hsw-vswitchd the
//      restart of `hsw-ctl restart` (save-flows, stop, start NEWBIN
//      --flow-restore-wait, restore, clear) -- a start that fails leaves the
//      save for step 4;
//   3. a health check of the new process, within --timeout: the datapath
//      (it is the process started, of the version NEWBIN reported, answers,
//      still has its owner, executes a probe packet, takes and removes a
//      probe flow); hsw-vswitchd (it is a new process, answers on
//      vswitchd.ctl with its tables loaded, is connected to the datapath,
//      which sees it as its owner, takes a probe rule and deletes it again,
//      handles a probe upcall);
//   4. passed: the copy of step 1 becomes the kept previous binary (replacing
//      the older one only now).  Failed: the same hitless switch back onto
//      the copy, its health checked, and exit status 1.
//
// When both are given and hsw-vswitchd fails, only hsw-vswitchd is rolled
// back: the new datapath passed its own health check and the previous
// hsw-vswitchd speaks its protocol (upgrade-check checked both pairings'
// datapath protocol before anything was touched); `hsw-ctl rollback
// --datapath` takes it back too.
struct UpgradeOptions {
  std::string datapath_bin;  // "" = not upgraded
  std::string vswitchd_bin;  // "" = not upgraded
};
int UpgradeCommand(const Lifecycle& ctx, const UpgradeOptions& options);

// hsw-ctl rollback [--datapath] [--vswitchd]: each part named (neither =
// every part that has a kept previous binary) goes back to its kept binary
// the way upgrade switches (takeover, hitless restart), health check
// included; the binary it replaces becomes the kept one, so a second
// rollback undoes the first.  hsw-vswitchd before the datapath: the reverse
// of the upgrade's order; a part that fails (and is rolled forward again)
// stops the command there.
struct RollbackOptions {
  bool datapath = false;
  bool vswitchd = false;
};
int RollbackCommand(const Lifecycle& ctx, const RollbackOptions& options);

// hsw-ctl take-over: the daemons running on this run directory are replaced
// by this machine's (or this container image's) binaries without losing a
// packet -- what the new pod of a DaemonSet rolling update does to the old
// pod's daemons (maxSurge 1: both pods share the host's run directory, each
// has its own pid namespace).  Unlike `upgrade`, nothing is read from /proc
// (the running daemons may be another pid namespace's) and nothing is kept
// for a rollback (the rollback is the DaemonSet's own: the old image's pod
// takes over again):
//
//   1. upgrade-check of both binaries against what runs; refused = nothing
//      changed;
//   2. hsw-datapath, if it runs: `<bindir>/hsw-datapath --takeover` with
//      --rundir and `datapath_args` (the new pod's own, not the old
//      process's), then the upgrade's datapath health check; if it does not
//      run it is started as `hsw-ctl start` does;
//   3. hsw-vswitchd: the hitless restart of `hsw-ctl restart` onto
//      <bindir>/hsw-vswitchd with `vswitchd_args` and `database` (a start
//      if none runs), then the upgrade's health check.
struct TakeOverOptions {
  std::string bindir;    // "" = FindDaemonBinary's search
  std::string database;  // hsw-vswitchd's --db ("" = the running one's)
  std::vector<std::string> datapath_args, vswitchd_args;
};
int TakeOverCommand(const Lifecycle& ctx, const TakeOverOptions& options);

// --- Building blocks, exposed for tests. ---

// The arguments a replacement does not get again from its running
// predecessor: those its starter passes itself and those of one start only.
struct ArgumentsNotRepeated {
  std::vector<std::string> flags;       // "--detach"
  std::vector<std::string> with_value;  // "--rundir DIR" or "--rundir=DIR"
  // "--pidfile", "--pidfile=FILE" or "--pidfile FILE" (a next word that does
  // not start with '-' is the value: the daemons take no positional argument).
  std::vector<std::string> with_optional_value;
  std::string flag_prefix;  // e.g. "--test-": the hidden test flags (all flags)
};

// `args` (argv without argv[0]) minus what `dropped` names, in order.
std::vector<std::string> ArgumentsToRepeat(const std::vector<std::string>& args,
                                           const ArgumentsNotRepeated& dropped);

// /proc/PID/cmdline's NUL-separated words.
std::vector<std::string> SplitCmdline(std::string_view cmdline);

}  // namespace hsw::ctl
