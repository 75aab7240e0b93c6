#include "vswitchd/ovs_identity.h"

#include <CLI/CLI.hpp>

#include <grp.h>
#include <pwd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/log.h"
#include "common/version.h"

namespace hsw::vswitchd {
namespace {

const log::Module vlog("ovs_identity");

std::string EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

// One long option of OVS's: `--name`, `--name=VALUE`.
enum class Arg { kNone, kOptional, kRequired };
struct LongOption {
  const char* name;
  Arg arg;
};

constexpr LongOption kLongOptions[] = {
    {"help", Arg::kNone},
    {"version", Arg::kNone},
    {"detach", Arg::kNone},
    {"no-chdir", Arg::kNone},
    {"monitor", Arg::kNone},
    {"mlockall", Arg::kNone},
    {"disable-system", Arg::kNone},
    {"disable-system-route", Arg::kNone},
    {"no-self-confinement", Arg::kNone},
    {"overwrite-pidfile", Arg::kNone},
    {"pidfile", Arg::kOptional},
    {"log-file", Arg::kOptional},
    {"verbose", Arg::kOptional},
    {"unixctl", Arg::kRequired},
    {"user", Arg::kRequired},
    {"syslog-method", Arg::kRequired},
    {"syslog-target", Arg::kRequired},
};

const LongOption* FindLongOption(std::string_view name) {
  for (const LongOption& option : kLongOptions) {
    if (name == option.name) return &option;
  }
  return nullptr;
}

// Applies one recognised option.  `value` is what followed '=' (nullopt:
// nothing did).
void Apply(OvsCommandLine& cl, std::string_view name, const std::optional<std::string>& value) {
  if (name == "help") cl.help = true;
  if (name == "version") cl.version = true;
  if (name == "detach") cl.detach = true;
  if (name == "no-chdir") cl.no_chdir = true;
  if (name == "monitor") cl.monitor = true;
  if (name == "mlockall") cl.mlockall = true;
  if (name == "disable-system") cl.disable_system = true;
  if (name == "disable-system-route") cl.disable_system_route = true;
  if (name == "pidfile") cl.pidfile = value.value_or("");
  if (name == "log-file") cl.log_file = value.value_or("");
  if (name == "verbose") cl.log_specs.push_back(value.value_or(""));
  if (name == "unixctl") cl.unixctl = *value;
  if (name == "user") cl.user = *value;
  if (name == "no-self-confinement") {
    cl.ignored.push_back("--no-self-confinement: hsw does not confine itself; nothing to do");
  }
  if (name == "overwrite-pidfile") {
    cl.ignored.push_back(
        "--overwrite-pidfile: hsw's pidfile is locked while running and a stale one is always "
        "taken over");
  }
  if (name == "syslog-method" || name == "syslog-target") {
    cl.ignored.push_back(fmt::format("--{}={}: hsw writes no syslog; ignored", name, *value));
  }
}

}  // namespace

bool IsOvsIdentity(std::string_view argv0) {
  size_t slash = argv0.rfind('/');
  std::string_view base = slash == std::string_view::npos ? argv0 : argv0.substr(slash + 1);
  return base == kOvsProgram;
}

OvsEnvironment OvsEnvironmentFromEnv() {
  OvsEnvironment env;
  env.rundir = EnvOr("OVS_RUNDIR", env.rundir.c_str());
  env.logdir = EnvOr("OVS_LOGDIR", env.logdir.c_str());
  env.dbdir = EnvOr("OVS_DBDIR", env.dbdir.c_str());
  env.datapath_socket = EnvOr("HSW_DATAPATH_SOCKET", "");
  return env;
}

Result<OvsCommandLine> ParseOvsCommandLine(const std::vector<std::string>& args) {
  OvsCommandLine cl;
  if (args.empty()) return Err("empty command line");
  cl.hsw_args.push_back(args[0]);
  bool options_done = false;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      cl.hsw_args.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      cl.hsw_args.push_back(arg);
      continue;
    }
    if (arg[1] == '-') {
      size_t eq = arg.find('=');
      std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      std::optional<std::string> value;
      if (eq != std::string::npos) value = arg.substr(eq + 1);
      const LongOption* option = FindLongOption(name);
      if (!option) {
        cl.hsw_args.push_back(arg);  // one of hsw's own, or unknown: hsw's parser says
        continue;
      }
      if (option->arg == Arg::kNone && value) {
        return Err("option '--{}' doesn't allow an argument", name);
      }
      if (option->arg == Arg::kRequired && !value) {
        // getopt also takes the next word for a required argument.
        if (i + 1 >= args.size()) return Err("option '--{}' requires an argument", name);
        value = args[++i];
      }
      Apply(cl, name, value);
      continue;
    }
    // Short options: -h, -V, -v[SPEC] (an optional value is attached).
    char letter = arg[1];
    if (letter == 'v') {
      cl.log_specs.push_back(arg.substr(2));
    } else if (letter == 'h' && arg.size() == 2) {
      cl.help = true;
    } else if (letter == 'V' && arg.size() == 2) {
      cl.version = true;
    } else {
      cl.hsw_args.push_back(arg);
    }
  }
  return cl;
}

Status CheckDatabaseTarget(const std::string& target) {
  if (target.rfind("unix:", 0) == 0 && target.size() > 5) return Ok();
  if (target.rfind("tcp:", 0) == 0 && target.find(':', 4) != std::string::npos) return Ok();
  if (target.rfind("ssl:", 0) == 0) {
    return Err("database '{}': ssl: connections are not supported (use unix: or tcp:)", target);
  }
  return Err("database '{}': expected unix:PATH or tcp:IP:PORT", target);
}

Result<std::vector<std::string>> ApplyOvsCommandLine(const OvsCommandLine& cl,
                                                     const OvsEnvironment& env,
                                                     const std::string& current_user,
                                                     const std::string& current_group,
                                                     VswitchdOptions& options) {
  std::vector<std::string> notes = cl.ignored;
  if (cl.user) {
    std::string user = *cl.user, group;
    if (size_t colon = user.find(':'); colon != std::string::npos) {
      group = user.substr(colon + 1);
      user.resize(colon);
    }
    if ((!user.empty() && user != current_user) || (!group.empty() && group != current_group)) {
      return Err("--user={}: hsw-vswitchd does not change user; start it as {}:{} or drop "
                 "--user",
                 *cl.user, current_user, current_group);
    }
  }
  for (const std::string& spec : cl.log_specs) options.daemon.log_specs.push_back(spec);

  options.program = kOvsProgram;
  daemon::Options& d = options.daemon;
  if (d.rundir.empty()) d.rundir = env.rundir;
  if (d.logdir.empty()) d.logdir = env.logdir;
  if (d.statedir.empty()) d.statedir = env.dbdir;
  if (cl.detach) {
    d.detach = true;
    // As ovs-vswitchd does: a detached daemon lets go of the caller's
    // stdout and stderr, so that `$(ovs-vswitchd --detach)` or a pipe from
    // ovs-ctl returns; --log-file is where its log goes (the ovn-operator's
    // start-vswitchd.sh tails it for exactly that reason).
    d.no_console_log = true;
  }
  if (cl.pidfile) d.pidfile = cl.pidfile;
  if (cl.log_file) d.log_file = cl.log_file;
  // ovs-vswitchd always has its unixctl socket: it is how it is stopped.
  options.unixctl = cl.unixctl ? cl.unixctl : std::optional<std::string>("");
  if (options.datapath_socket.empty()) options.datapath_socket = env.datapath_socket;
  if (options.database.empty()) options.database = "unix:" + d.rundir + "/db.sock";
  HSW_TRY(CheckDatabaseTarget(options.database));

  if (cl.monitor) {
    notes.push_back(
        "--monitor: hsw needs no monitor process (hsw-datapath keeps forwarding while "
        "hsw-vswitchd is down); ignored");
  }
  if (cl.no_chdir) notes.push_back("--no-chdir: hsw never changes directory; nothing to do");
  if (cl.disable_system) {
    notes.push_back("--disable-system: hsw has no kernel datapath to disable; nothing to do");
  }
  if (cl.disable_system_route) {
    notes.push_back("--disable-system-route: hsw reads no system routing table; nothing to do");
  }
  return notes;
}

std::string CurrentUserName() {
  uid_t uid = geteuid();
  if (passwd* pw = getpwuid(uid)) return pw->pw_name;
  return std::to_string(uid);
}

std::string CurrentGroupName() {
  gid_t gid = getegid();
  if (group* gr = getgrgid(gid)) return gr->gr_name;
  return std::to_string(gid);
}

std::string OvsVersionText() {
  // The second line must not say "Open vSwitch": ovs-ctl prints the last
  // word of every line that does.
  return fmt::format("{} (Open vSwitch) {}\nhsw-vswitchd {} (hsw, the hitless switch)\n",
                     kOvsProgram, kOvsVersion, kVersion);
}

std::string ProgramVersionLine(const std::string& program) {
  if (program == kOvsProgram) return fmt::format("{} (Open vSwitch) {}", kOvsProgram, kOvsVersion);
  return fmt::format("{} {}", program, kVersion);
}

std::string OvsUsage() {
  return fmt::format(
      "ovs-vswitchd: hsw-vswitchd in Open vSwitch's identity (hsw {})\n"
      "usage: ovs-vswitchd [OPTIONS] [DATABASE]\n"
      "where DATABASE is unix:PATH or tcp:IP:PORT (default unix:$OVS_RUNDIR/db.sock)\n"
      "\n"
      "Open vSwitch options:\n"
      "  --pidfile[=FILE]        write the pid to FILE (default $OVS_RUNDIR/ovs-vswitchd.pid)\n"
      "  --detach                run in the background, returning once configured\n"
      "  --log-file[=FILE]       log to FILE (default $OVS_LOGDIR/ovs-vswitchd.log)\n"
      "  -v, --verbose[=SPEC]    set log levels: [module][:destination][:level]\n"
      "  --unixctl=SOCKET        unixctl socket (default $OVS_RUNDIR/ovs-vswitchd.<pid>.ctl)\n"
      "  --mlockall              lock all memory\n"
      "  --user=USER[:GROUP]     accepted only for the current user\n"
      "  --monitor, --no-chdir, --disable-system, --disable-system-route: accepted, not needed\n"
      "  -h, --help              this help\n"
      "  -V, --version           print the version\n"
      "\n",
      kVersion);
}

std::string ResolveUnixctlPath(const std::optional<std::string>& flag, const std::string& rundir,
                               const std::string& program, pid_t pid) {
  if (!flag || *flag == "none") return "";
  if (flag->empty()) return fmt::format("{}/{}.{}.ctl", rundir, program, pid);
  if ((*flag)[0] == '/') return *flag;
  return rundir + "/" + *flag;
}

void LockMemory() {
  if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0) {
    vlog.Warn("mlockall failed: {}", std::strerror(errno));
  } else {
    vlog.Info("--mlockall: all memory locked");
  }
}

void AddOvsdbModeOptions(CLI::App& app, VswitchdOptions& options) {
  app.add_option("database", options.database,
                 "OVSDB mode: the Open_vSwitch database, unix:PATH or tcp:IP:PORT (default: "
                 "<statedir>/conf.json is the configuration)");
  daemon::AddOptionalValueOption(app, "--unixctl", options.unixctl,
                                 "serve ovs-appctl on SOCKET (default <rundir>/<program>.<pid>.ctl)",
                                 "[=SOCKET]");
}

}  // namespace hsw::vswitchd
