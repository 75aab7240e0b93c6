// ovs_identity: hsw-vswitchd run under the name `ovs-vswitchd` (a symlink,
// or a bind mount onto /usr/sbin/ovs-vswitchd), for scripts that know only
// Open vSwitch: ovs-ctl, ovs-save, the ovn-operator's start and stop steps.
//
// In this identity hsw-vswitchd takes ovs-vswitchd's command line
//   ovs-vswitchd [DATABASE] [--pidfile[=FILE]] [--detach] [--log-file[=FILE]]
//                [-v|--verbose[=SPEC]]... [--unixctl=SOCKET] [--mlockall]
//                [--no-chdir] [--monitor] [--user=USER[:GROUP]]
//                [--disable-system] [--disable-system-route] [-h] [-V]
// (optional values only after '=', as with OVS's getopt) and uses OVS's
// names, from OVS's environment variables:
//   run directory  $OVS_RUNDIR, default /var/run/openvswitch: <bridge>.mgmt,
//                  ovs-vswitchd.pid, ovs-vswitchd.<pid>.ctl (unixctl),
//                  datapath.sock (unless --datapath-socket or
//                  $HSW_DATAPATH_SOCKET)
//   log directory  $OVS_LOGDIR, default /var/log/openvswitch: ovs-vswitchd.log
//   state          $OVS_DBDIR, default /var/lib/openvswitch: hsw's statedir
//                  (flows.journal); the DATABASE is the configuration
//   DATABASE       default unix:<rundir>/db.sock
// hsw's own flags (--datapath-socket, --flow-restore-wait, --rundir, ...)
// keep working and win over the defaults above.  What OVS has and hsw does
// not need (--monitor, --no-chdir, --disable-system, syslog levels) is
// accepted with an INFO line saying what is ignored.  docs/ovs-identity.md
// is the user's view.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "vswitchd/vswitchd.h"

namespace hsw::vswitchd {

inline constexpr const char* kOvsProgram = "ovs-vswitchd";
// The Open vSwitch release whose interfaces hsw implements: what `--version`
// and `ovs-appctl version` claim, as ovs-ctl and ovs-save parse it.
inline constexpr const char* kOvsVersion = "3.1.0";

// True when argv[0]'s basename is "ovs-vswitchd".
bool IsOvsIdentity(std::string_view argv0);

// OVS's directories, from OVS_RUNDIR, OVS_LOGDIR and OVS_DBDIR (or their
// defaults).
struct OvsEnvironment {
  std::string rundir = "/var/run/openvswitch";
  std::string logdir = "/var/log/openvswitch";
  std::string dbdir = "/var/lib/openvswitch";
  std::string datapath_socket;  // $HSW_DATAPATH_SOCKET, "" = unset
};
OvsEnvironment OvsEnvironmentFromEnv();

// ovs-vswitchd's command line, split into what OVS's own options said and
// the rest, which goes to hsw's parser (its flags and the DATABASE).
struct OvsCommandLine {
  std::vector<std::string> hsw_args;  // argv[0] first
  bool help = false;
  bool version = false;
  bool detach = false;
  bool monitor = false;
  bool no_chdir = false;
  bool mlockall = false;
  bool disable_system = false;
  bool disable_system_route = false;
  std::optional<std::string> pidfile;   // "" = default name
  std::optional<std::string> log_file;  // "" = default name
  std::optional<std::string> unixctl;   // "" = default name
  std::optional<std::string> user;
  std::vector<std::string> log_specs;   // -v/--verbose, in order ("" = everything at dbg)
  std::vector<std::string> ignored;     // options accepted and ignored, for INFO lines
};

// An option that needs a value and has none ("--unixctl") is an error
// naming it; anything it does not know is left for hsw's parser.
Result<OvsCommandLine> ParseOvsCommandLine(const std::vector<std::string>& args);

// Sets `options` from the command line and OVS's defaults, after hsw's
// parser has filled in hsw's own flags (which win).  `current_user` /
// `current_group` are whom --user must name (hsw never changes user).
// Returns the INFO lines to log once logging is set up (what was ignored).
Result<std::vector<std::string>> ApplyOvsCommandLine(const OvsCommandLine& command_line,
                                                     const OvsEnvironment& env,
                                                     const std::string& current_user,
                                                     const std::string& current_group,
                                                     VswitchdOptions& options);

// The effective user's and group's names (numbers if they have none).
std::string CurrentUserName();
std::string CurrentGroupName();

// "unix:PATH" or "tcp:IP:PORT"; anything else is an error naming it.
Status CheckDatabaseTarget(const std::string& target);

// --version in OVS identity: the first line is OVS's, as ovs-ctl's awk and
// ovs-save read it; the second names hsw.
std::string OvsVersionText();
// `version` over unixctl: OVS's first line only ("ovs-vswitchd (Open vSwitch)
// 3.1.0"), or hsw's own in hsw identity.
std::string ProgramVersionLine(const std::string& program);
// -h/--help in OVS identity (hsw's own flags follow, from CLI11).
std::string OvsUsage();

// The unixctl socket's path: nullopt or "none" -> "" (no socket); "" ->
// <rundir>/<program>.<pid>.ctl (OVS's name, which ovs-appctl derives from
// the pidfile); relative -> in rundir; absolute as is.
std::string ResolveUnixctlPath(const std::optional<std::string>& flag, const std::string& rundir,
                               const std::string& program, pid_t pid);

// --mlockall: locks current and future memory.  A failure is a WARN (the
// switch works unlocked), as in OVS.
void LockMemory();

// Adds what hsw identity accepts of the OVSDB mode's command line to hsw's
// parser: the positional DATABASE and --unixctl[=SOCKET].
void AddOvsdbModeOptions(CLI::App& app, VswitchdOptions& options);

}  // namespace hsw::vswitchd
