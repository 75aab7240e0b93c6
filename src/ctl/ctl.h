// hsw-ctl: the operator's command line for hsw.
//
// Most commands are one request on hsw-vswitchd's control socket
// (<rundir>/vswitchd.ctl, see ctl/control_client.h): the command line is
// turned into a method and params, and the reply is printed.  dp-show and
// dp-dump-flows instead speak the datapath protocol to <rundir>/datapath.sock
// as a monitor, so the fast path can be inspected while hsw-vswitchd is down.
// start, stop, restart, wait-ready, wait-stopped, save-flows and
// restore-flows are carried out by hsw-ctl itself (ctl/lifecycle.h).
//
// Exit codes: 0 success, 1 failure (the reason on stderr, naming what is
// wrong), 2 usage error (bad or missing arguments; CLI11's message on stderr).
// Every command has --help.
//
// The work is split into ParseCommandLine (pure: argv -> Command, testable
// without a daemon) and Run (talks to the daemons and prints).
#pragma once

#include <chrono>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

namespace hsw::ctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct Command {
  std::string name;    // the subcommand as typed ("add-flow")
  std::string method;  // control method; "" for commands hsw-ctl runs itself
  nlohmann::json params = nlohmann::json::object();
  std::string rundir;    // --rundir, else HSW_RUNDIR, else /run/hsw
  std::string statedir;  // --statedir, else HSW_STATEDIR, else /var/lib/hsw
  // --timeout, else the command's default: 30 s for stop and wait-stopped
  // (how long to wait for the daemon's end), 60 s for the rest.
  std::chrono::milliseconds timeout{0};
  std::string file;  // add-flows: the flow file ("-" = stdin)
  // save-flows/restore-flows DIR, stop/restart --save-flows DIR,
  // start --restore-flows DIR ("" = not given).
  std::string dir;
  bool all = false;                                       // stop --all
  bool local_only = false;                                // stop --local-only
  bool wait = false;                                      // start --wait
  std::vector<std::string> vswitchd_args, datapath_args;  // start, restart
  std::string database;  // start/restart --db: hsw-vswitchd's DATABASE ("" = conf.json)
  std::string datapath_bin, vswitchd_bin;                 // upgrade(-check) NEWBINs
  bool rollback_datapath = false, rollback_vswitchd = false;  // rollback's parts
};

// Parses argv.  Returns the Command, or an exit code when parsing alone
// decided the outcome (--help printed: 0; usage error printed: 2).
std::variant<Command, int> ParseCommandLine(int argc, const char* const* argv, std::ostream& out,
                                            std::ostream& err);

// Carries out `command`; returns the exit code.  `in` is read by
// `add-flows BR -`.
int Run(const Command& command, std::istream& in, std::ostream& out, std::ostream& err);

// ParseCommandLine + Run: what main() does.
int Main(int argc, const char* const* argv, std::istream& in, std::ostream& out, std::ostream& err);

// Text for a `show` reply (exposed for tests).
std::string FormatShow(const nlohmann::json& show);

}  // namespace hsw::ctl
