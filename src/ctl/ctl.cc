#include "ctl/ctl.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "common/fd.h"
#include "common/log.h"
#include "common/version.h"
#include "ctl/control_client.h"
#include "ctl/dp_commands.h"
#include "ctl/lifecycle.h"
#include "ctl/upgrade.h"
#include "dpif/dpif_client.h"

namespace hsw::ctl {
namespace {

using json = nlohmann::json;

// What each subcommand's parse fills in; the callbacks copy it into Command.
struct Args {
  std::string bridge, iface, flow, match, key_value, key, level, file, dir;
  std::vector<std::string> targets, vswitchd_args, datapath_args;
  std::string datapath_bin, vswitchd_bin;
  std::string database;  // start/restart --db
  std::string port_type, peer;  // add-port --type, --peer
  uint32_t ofport = 0;
  bool strict = false;
  bool names = false;
  bool all = false;
  bool local_only = false;
  bool wait = false;
  bool rollback_datapath = false, rollback_vswitchd = false;
};

std::string FromEnv(const char* name, const char* fallback) {
  const char* env = std::getenv(name);
  return env && *env ? env : fallback;
}

std::string DefaultRundir() { return FromEnv("HSW_RUNDIR", "/run/hsw"); }
std::string DefaultStatedir() { return FromEnv("HSW_STATEDIR", "/var/lib/hsw"); }

// Adds start, stop, restart, wait-ready, wait-stopped, save-flows and
// restore-flows: the commands hsw-ctl carries out itself (ctl/lifecycle.h).
void AddLifecycleCommands(CLI::App& app, Args& a, Command& command) {
  auto sub = [&](const std::string& name, const std::string& help) {
    CLI::App* s = app.add_subcommand(name, help);
    s->callback([&command, name] { command.name = name; });
    return s;
  };
  auto* save = sub("save-flows",
                   "save every bridge's flows to DIR (one ovs-ofctl flow file per bridge and a "
                   "manifest with checksums), replacing DIR atomically");
  save->add_option("DIR", a.dir, "directory to write")->required();
  auto* restore = sub("restore-flows",
                      "replace the tables of the bridges saved in DIR, all or none; DIR is "
                      "verified completely first");
  restore->add_option("DIR", a.dir, "directory written by save-flows")->required();

  sub("wait-ready",
      "wait until hsw-vswitchd is up and its tables are loaded (at most --timeout S, default 60)");
  sub("wait-stopped", "wait until hsw-vswitchd is not running (at most --timeout S, default 30)");

  auto* stop = sub("stop",
                   "stop hsw-vswitchd gracefully (hsw-datapath keeps forwarding) and wait for its "
                   "end (at most --timeout S, default 30)");
  stop->add_option("--save-flows", a.dir, "first save the flows to DIR (if that fails, no stop)")
      ->type_name("DIR");
  stop->add_flag("--all", a.all, "then stop hsw-datapath too (SIGTERM)");
  stop->add_flag("--local-only", a.local_only,
                 "stop only daemons of this pid namespace (a pod's preStop hook: daemons another "
                 "pod took over are left alone)");

  auto* start =
      sub("start", "start hsw-datapath (unless running) and hsw-vswitchd; return once ready");
  start
      ->add_option("--restore-flows", a.dir,
                   "start with flow-restore-wait, restore the flows saved in DIR (unless invalid "
                   "or older than hsw-vswitchd's journal), clear the flag, remove DIR")
      ->type_name("DIR");
  start->add_flag("--wait", a.wait,
                  "then stay until hsw-vswitchd exits (a container's main process); SIGTERM or "
                  "SIGINT stops it");
  auto add_args = [](CLI::App* s, const char* name, std::vector<std::string>& into,
                     const char* daemon) {
    s->add_option(name, into,
                  fmt::format("extra argument for {} (repeatable; write {}=--opt for an option)",
                              daemon, name))
        ->type_name("ARG")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  };
  add_args(start, "--vswitchd-arg", a.vswitchd_args, "hsw-vswitchd");
  add_args(start, "--datapath-arg", a.datapath_args, "hsw-datapath");
  auto add_db = [&a](CLI::App* command, const char* help) {
    command->add_option("--db", a.database, help)
        ->type_name("unix:PATH|tcp:IP:PORT")
        ->check([](const std::string& target) {
          bool ok = (target.rfind("unix:", 0) == 0 && target.size() > 5) ||
                    (target.rfind("tcp:", 0) == 0 && target.find(':', 4) != std::string::npos);
          return ok ? std::string()
                    : "'" + target + "' is not an OVSDB target (unix:PATH or tcp:IP:PORT)";
        });
  };
  add_db(start,
         "configure hsw-vswitchd from this Open_vSwitch database (ovsdb-server) instead of "
         "<statedir>/conf.json");

  auto* restart =
      sub("restart", "hitless restart of hsw-vswitchd: save-flows, stop, start --restore-flows");
  restart
      ->add_option("--save-flows", a.dir,
                   "where the flows are kept meanwhile (default <statedir>/restart-flows)")
      ->type_name("DIR");
  add_args(restart, "--vswitchd-arg", a.vswitchd_args, "the new hsw-vswitchd");
  add_db(restart, "the new hsw-vswitchd's database (default: the running one's)");

  auto* take_over =
      sub("take-over",
          "replace the daemons running on the run directory (those of another pod or container "
          "too) by the binaries beside hsw-ctl without losing a packet: upgrade-check, hot "
          "handover of hsw-datapath, hitless restart of hsw-vswitchd, health checks; starts "
          "them if nothing runs");
  add_args(take_over, "--vswitchd-arg", a.vswitchd_args, "the new hsw-vswitchd");
  add_args(take_over, "--datapath-arg", a.datapath_args, "the new hsw-datapath");
  add_db(take_over, "the new hsw-vswitchd's database (default: the running one's)");

  auto add_new_binaries = [&a](CLI::App* command) {
    command->add_option("--datapath", a.datapath_bin, "the new hsw-datapath binary")
        ->type_name("NEWBIN");
    command->add_option("--vswitchd", a.vswitchd_bin, "the new hsw-vswitchd binary")
        ->type_name("NEWBIN");
  };
  add_new_binaries(sub("upgrade-check",
                       "say whether new binaries can replace the running hsw-datapath (hot "
                       "handover) and hsw-vswitchd (hitless restart), and if not why; changes "
                       "nothing"));

  add_new_binaries(sub("upgrade",
                       "replace the running hsw-datapath and/or hsw-vswitchd by NEWBIN without "
                       "losing a packet: upgrade-check, hot handover (datapath, first) or "
                       "hitless restart (hsw-vswitchd), health check within --timeout, automatic "
                       "rollback if it fails; the running binary is kept for hsw-ctl rollback"));
  auto* rollback = sub("rollback",
                       "go back to the binaries the last upgrades replaced (hot handover or "
                       "hitless restart, and health check, as upgrade); with neither flag, "
                       "every part that has a kept binary");
  rollback->add_flag("--datapath", a.rollback_datapath, "roll back hsw-datapath");
  rollback->add_flag("--vswitchd", a.rollback_vswitchd, "roll back hsw-vswitchd");
}

// The commands of AddLifecycleCommands; nullopt for any other.
std::optional<int> RunLifecycle(const Command& command, std::ostream& out, std::ostream& err) {
  Lifecycle ctx{command.rundir, command.statedir, command.timeout, out, err};
  const std::string& name = command.name;
  if (name == "save-flows") return SaveFlowsCommand(ctx, command.dir);
  if (name == "restore-flows") return RestoreFlowsCommand(ctx, command.dir);
  if (name == "wait-ready") return WaitReadyCommand(ctx);
  if (name == "wait-stopped") return WaitStoppedCommand(ctx);
  if (name == "stop") return StopCommand(ctx, StopOptions{command.dir, command.all, command.local_only});
  if (name == "start") {
    StartOptions options;
    options.restore_dir = command.dir;
    options.wait = command.wait;
    options.vswitchd_args = command.vswitchd_args;
    options.datapath_args = command.datapath_args;
    options.database = command.database;
    return StartCommand(ctx, options);
  }
  if (name == "take-over") {
    TakeOverOptions options;
    options.database = command.database;
    options.datapath_args = command.datapath_args;
    options.vswitchd_args = command.vswitchd_args;
    return TakeOverCommand(ctx, options);
  }
  if (name == "upgrade") {
    return UpgradeCommand(ctx, UpgradeOptions{command.datapath_bin, command.vswitchd_bin});
  }
  if (name == "rollback") {
    return RollbackCommand(ctx, RollbackOptions{command.rollback_datapath,
                                                command.rollback_vswitchd});
  }
  if (name == "upgrade-check") {
    return UpgradeCheckCommand(ctx, UpgradeCheckOptions{command.datapath_bin,
                                                        command.vswitchd_bin});
  }
  if (name == "restart") {
    RestartOptions options;
    options.save_dir = command.dir;
    options.vswitchd_args = command.vswitchd_args;
    options.database = command.database;
    return RestartCommand(ctx, options);
  }
  return std::nullopt;
}

void PrintLines(const json& result, std::ostream& out) {
  if (result.is_array()) {
    for (const json& line : result) {
      out << (line.is_string() ? line.get<std::string>() : line.dump()) << "\n";
    }
  } else if (result.is_string()) {
    std::string text = result.get<std::string>();
    out << text;
    if (!text.empty() && text.back() != '\n') out << "\n";
  } else if (!result.is_null()) {
    out << result.dump(2) << "\n";
  }
}

std::string JsonText(const json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

Result<std::string> ReadFlowFile(const std::string& file, std::istream& in) {
  if (file == "-") {
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
  }
  auto text = ReadFile(file);
  if (!text) return Err("cannot read flow file {}: {}", file, std::strerror(text.error().code));
  return *text;
}

}  // namespace

std::string FormatShow(const json& show) {
  std::string text;
  auto get = [](const json& j, const char* key) -> json {
    auto it = j.find(key);
    return it == j.end() ? json() : *it;
  };
  text += fmt::format("hsw-vswitchd {} (pid {})", JsonText(get(show, "version")),
                      JsonText(get(show, "pid")));
  json loaded = get(show, "tables_loaded");
  if (loaded.is_boolean()) {
    text += loaded.get<bool>() ? ", tables loaded" : ", flow-restore-wait (tables not loaded)";
  }
  text += "\n";
  if (json journal = get(show, "journal"); journal.is_object()) {
    text += fmt::format("journal: seq {} (id {})\n", JsonText(get(journal, "seq")),
                        JsonText(get(journal, "id")));
  }
  if (json db = get(show, "database"); db.is_string()) {
    text += db.get<std::string>().empty()
                ? "configuration: conf.json (hsw-ctl)\n"
                : fmt::format("configuration: database {} (ovs-vsctl)\n", db.get<std::string>());
  }
  if (json dp = get(show, "datapath"); dp.is_object()) {
    text += fmt::format("datapath: {} ({} {}, pid {}, {})\n", JsonText(get(dp, "socket")),
                        "hsw-datapath", JsonText(get(dp, "version")), JsonText(get(dp, "pid")),
                        get(dp, "connected").is_boolean() && get(dp, "connected").get<bool>()
                            ? "connected"
                            : "DISCONNECTED");
  }
  if (json bridges = get(show, "bridges"); bridges.is_array()) {
    for (const json& bridge : bridges) {
      text += fmt::format("Bridge {}\n", JsonText(get(bridge, "name")));
      text += fmt::format("    datapath_id: {}\n", JsonText(get(bridge, "datapath_id")));
      if (json n = get(bridge, "n_rules"); !n.is_null()) {
        text += fmt::format("    rules: {}\n", JsonText(n));
      }
      if (json controllers = get(bridge, "controllers"); controllers.is_array()) {
        for (const json& c : controllers)
          text += fmt::format("    Controller \"{}\"\n", JsonText(c));
      }
      if (json ports = get(bridge, "ports"); ports.is_array()) {
        for (const json& port : ports) {
          text += fmt::format("    Port {}: ofport {}", JsonText(get(port, "name")),
                              JsonText(get(port, "ofport")));
          if (json dp_port = get(port, "dp_port"); !dp_port.is_null()) {
            text += fmt::format(", datapath port {}", JsonText(dp_port));
          }
          if (json error = get(port, "error"); !error.is_null()) {
            text += fmt::format(" (ERROR: {})", JsonText(error));
          }
          text += "\n";
        }
      }
    }
  }
  if (json settings = get(show, "settings"); settings.is_object() && !settings.empty()) {
    text += "Settings:\n";
    for (auto it = settings.begin(); it != settings.end(); ++it) {
      text += fmt::format("    {}={}\n", it.key(), JsonText(it.value()));
    }
  }
  // Counters come as [name, value] pairs to keep the daemon's order.
  if (json counters = get(show, "counters"); !counters.empty()) {
    text += "Counters:\n";
    if (counters.is_array()) {
      for (const json& pair : counters) {
        if (pair.is_array() && pair.size() == 2) {
          text += fmt::format("    {}: {}\n", JsonText(pair[0]), JsonText(pair[1]));
        }
      }
    } else if (counters.is_object()) {
      for (auto it = counters.begin(); it != counters.end(); ++it) {
        text += fmt::format("    {}: {}\n", it.key(), JsonText(it.value()));
      }
    }
  }
  return text;
}

std::variant<Command, int> ParseCommandLine(int argc, const char* const* argv, std::ostream& out,
                                            std::ostream& err) {
  CLI::App app{"hsw-ctl: configure and inspect the hsw switch (hsw-vswitchd and hsw-datapath)",
               "hsw-ctl"};
  app.set_help_all_flag("--help-all", "print help for every command");
  app.require_subcommand(1);
  app.fallthrough();  // global options may come after the command too

  Command command;
  command.rundir = DefaultRundir();
  command.statedir = DefaultStatedir();
  double timeout_s = 60;
  app.add_option("--rundir", command.rundir,
                 "directory of the daemons' sockets (env HSW_RUNDIR, default /run/hsw)");
  app.add_option("--statedir", command.statedir,
                 "hsw-vswitchd's state directory, passed on by start and restart (env "
                 "HSW_STATEDIR, default /var/lib/hsw)");
  CLI::Option* timeout_option =
      app.add_option("--timeout", timeout_s,
                     "seconds to wait for a reply or, for the wait-* commands and stop, for the "
                     "daemon (default 60; stop and wait-stopped 30)")
          ->check(CLI::PositiveNumber);
  bool version_flag = false;
  app.add_flag("-V,--version", version_flag, "print the version and exit");

  Args a;
  // Each subcommand sets the method and params from `a` once parsed.
  auto sub = [&](const std::string& name, const std::string& help, const std::string& method,
                 std::function<json()> params) {
    CLI::App* s = app.add_subcommand(name, help);
    s->callback([&command, name, method, params] {
      command.name = name;
      command.method = method;
      command.params = params ? params() : json::object();
    });
    return s;
  };
  auto bridge_param = [&] { return json{{"bridge", a.bridge}}; };

  auto* add_br = sub("add-br", "create bridge BR", "add-br", bridge_param);
  add_br->add_option("BR", a.bridge, "bridge name")->required();
  auto* del_br = sub("del-br", "delete bridge BR and its ports", "del-br", bridge_param);
  del_br->add_option("BR", a.bridge, "bridge name")->required();
  sub("list-br", "print the bridges' names", "list-br", nullptr);

  auto* add_port = sub("add-port", "add interface IFACE to bridge BR", "add-port", [&] {
    json p = {{"bridge", a.bridge}, {"iface", a.iface}};
    if (a.ofport) p["ofport"] = a.ofport;
    if ((a.port_type == "patch") != !a.peer.empty()) {
      throw CLI::ValidationError("--peer", "a patch port needs --peer, and only a patch port has one");
    }
    if (!a.port_type.empty() && a.port_type != "system") p["type"] = a.port_type;
    if (!a.peer.empty()) p["peer"] = a.peer;
    return p;
  });
  add_port->add_option("BR", a.bridge, "bridge name")->required();
  add_port->add_option("IFACE", a.iface, "interface name")->required();
  add_port
      ->add_option("--ofport", a.ofport,
                   "OpenFlow port number (default: the lowest free one, printed)")
      ->check(CLI::Range(1u, 0xfeffu));
  add_port
      ->add_option("--type", a.port_type,
                   "system (an existing Linux interface, the default), internal (a tap device "
                   "the switch creates; named as BR it is the bridge's LOCAL port) or patch")
      ->check(CLI::IsMember({"system", "internal", "patch"}));
  add_port->add_option("--peer", a.peer, "the other end of a patch port (--type patch)");
  auto* del_port = sub("del-port", "remove IFACE from bridge BR", "del-port", [&] {
    return json{{"bridge", a.bridge}, {"iface", a.iface}};
  });
  del_port->add_option("BR", a.bridge, "bridge name")->required();
  del_port->add_option("IFACE", a.iface, "interface name")->required();
  auto* list_ports = sub("list-ports", "print the ports of bridge BR", "list-ports", bridge_param);
  list_ports->add_option("BR", a.bridge, "bridge name")->required();

  auto* add_flow = sub("add-flow", "add one OpenFlow rule, in ovs-ofctl syntax", "add-flow", [&] {
    return json{{"bridge", a.bridge}, {"flow", a.flow}};
  });
  add_flow->add_option("BR", a.bridge, "bridge name")->required();
  add_flow->add_option("FLOW", a.flow, "e.g. 'priority=100,in_port=1,actions=output:2'")
      ->required();
  auto* add_flows = sub("add-flows",
                        "add the rules of FILE ('-' = stdin), all or none; the output of "
                        "dump-flows is accepted",
                        "add-flows", [&] {
                          return json{{"bridge", a.bridge}};
                        });
  add_flows->add_option("BR", a.bridge, "bridge name")->required();
  add_flows->add_option("FILE", a.file, "flow file, one flow per line; '-' reads stdin")
      ->required();
  auto* del_flows =
      sub("del-flows", "delete the rules matching MATCH (all rules if none)", "del-flows", [&] {
        json p = {{"bridge", a.bridge}, {"strict", a.strict}};
        if (!a.match.empty()) p["match"] = a.match;
        return p;
      });
  del_flows->add_option("BR", a.bridge, "bridge name")->required();
  del_flows->add_option("MATCH", a.match, "e.g. 'table=0,in_port=1'");
  del_flows->add_flag("--strict", a.strict, "match priority and fields exactly");
  auto* dump_flows = sub("dump-flows", "print the rules (ovs-ofctl's layout)", "dump-flows", [&] {
    json p = {{"bridge", a.bridge}};
    if (!a.match.empty()) p["match"] = a.match;
    if (a.names) p["names"] = true;
    return p;
  });
  dump_flows->add_option("BR", a.bridge, "bridge name")->required();
  dump_flows->add_option("MATCH", a.match, "only rules matching this");
  dump_flows->add_flag("--names", a.names, "print port names instead of numbers");

  auto* set = sub("set", "set a switch-wide setting, e.g. flow-restore-wait=false", "set", [&] {
    auto eq = a.key_value.find('=');
    return json{{"key", a.key_value.substr(0, eq)}, {"value", a.key_value.substr(eq + 1)}};
  });
  set->add_option("KEY=VALUE", a.key_value, "setting and its value")
      ->required()
      ->check(
          [](const std::string& s) {
            return s.find('=') == std::string::npos || s.front() == '='
                       ? std::string("expected KEY=VALUE")
                       : std::string();
          },
          "KEY=VALUE");
  auto* get = sub("get", "print a switch-wide setting", "get", [&] {
    return json{{"key", a.key}};
  });
  get->add_option("KEY", a.key, "setting name")->required();
  auto* set_controller = sub("set-controller", "set bridge BR's controllers (none: remove them)",
                             "set-controller", [&] {
                               return json{{"bridge", a.bridge}, {"targets", a.targets}};
                             });
  set_controller->add_option("BR", a.bridge, "bridge name")->required();
  set_controller->add_option("TARGET", a.targets, "tcp:IP:PORT or unix:PATH");

  sub("show", "print bridges, ports, settings and counters", "show", nullptr);
  auto* trace = sub("trace", "run a packet described by FLOW through BR's tables", "trace", [&] {
    return json{{"bridge", a.bridge}, {"flow", a.flow}};
  });
  trace->add_option("BR", a.bridge, "bridge name")->required();
  trace->add_option("FLOW", a.flow, "the packet's fields, e.g. 'in_port=1,udp,nw_dst=10.0.0.2'")
      ->required();

  sub("dp-show",
      "print the datapath's ports, flow count, lookups, upcalls and miss queue (works without "
      "hsw-vswitchd)",
      "", nullptr);
  sub("dp-dump-flows", "print the datapath's megaflows with their statistics", "", nullptr);
  sub("log-reopen", "make hsw-vswitchd reopen its log file (after rotation)", "log-reopen",
      nullptr);
  auto* vlog_set = sub("vlog/set", "set hsw-vswitchd's log level", "vlog/set", [&] {
    return json{{"level", a.level}};
  });
  vlog_set->alias("vlog-set");
  vlog_set->add_option("LEVEL", a.level, "dbg, info, warn, err, emer or off")->required();
  sub("version", "print the versions of hsw-ctl and the running daemons", "", nullptr);
  AddLifecycleCommands(app, a, command);

  try {
    // CLI11 wants argv in reverse order for vector parsing; use its argc/argv form.
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, out, err);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, out, err);
  } catch (const CLI::ParseError& e) {
    if (version_flag && e.get_name() == "RequiredError") {
      out << "hsw-ctl " << kVersion << "\n";
      return kExitOk;
    }
    // CLI11 reports an unknown command as "a subcommand is required"; name it instead.
    for (int i = 1; i < argc; ++i) {
      std::string word = argv[i];
      if (word == "--rundir" || word == "--timeout" || word == "--statedir") {
        ++i;
        continue;
      }
      if (word.empty() || word[0] == '-') continue;
      bool known = true;
      try {
        app.get_subcommand(word);
      } catch (const CLI::Error&) {
        known = false;
      }
      if (!known) {
        err << "hsw-ctl: unknown command '" << word << "' (run 'hsw-ctl --help' for the list)\n";
        return kExitUsage;
      }
      break;
    }
    app.exit(e, out, err);
    return kExitUsage;
  }
  if (command.name == "add-flows") command.file = a.file;
  command.dir = a.dir;
  command.all = a.all;
  command.local_only = a.local_only;
  command.wait = a.wait;
  command.vswitchd_args = a.vswitchd_args;
  command.datapath_args = a.datapath_args;
  command.database = a.database;
  command.datapath_bin = a.datapath_bin;
  command.vswitchd_bin = a.vswitchd_bin;
  command.rollback_datapath = a.rollback_datapath;
  command.rollback_vswitchd = a.rollback_vswitchd;
  // Waiting for a daemon to stop has its own default: a stop that takes
  // longer than 30 s is stuck, while a big restore may well take a minute.
  bool stop_wait = command.name == "stop" || command.name == "wait-stopped";
  if (timeout_option->count() == 0 && stop_wait) timeout_s = 30;
  command.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  return command;
}

int Run(const Command& command, std::istream& in, std::ostream& out, std::ostream& err) {
  auto fail = [&](const std::string& message) {
    err << "hsw-ctl: " << message << "\n";
    return kExitFailure;
  };
  if (auto code = RunLifecycle(command, out, err)) return *code;
  if (command.name == "dp-show" || command.name == "dp-dump-flows") {
    std::string socket = dpif::DatapathSocketPath(command.rundir);
    auto text = command.name == "dp-show" ? DpShow(socket, command.timeout)
                                          : DpDumpFlows(socket, command.timeout);
    if (!text) return fail(text.error().message);
    out << *text;
    return kExitOk;
  }

  std::string path = command.rundir + "/vswitchd.ctl";
  if (command.name == "version") {
    // All three, so that version skew between the CLI, the control plane and
    // the fast path is visible at a glance; a daemon that is down is a failure.
    out << "hsw-ctl " << kVersion << "\n";
    int code = kExitOk;
    auto client = ControlClient::Connect(path, command.timeout);
    auto reply = client ? client->Call("version") : Result<json>(tl::unexpected(client.error()));
    if (reply) {
      out << JsonText(*reply) << "\n";
    } else {
      code = fail(reply.error().message);
    }
    auto datapath = DpVersion(dpif::DatapathSocketPath(command.rundir), command.timeout);
    if (datapath) {
      out << *datapath << "\n";
    } else {
      code = fail(datapath.error().message);
    }
    return code;
  }

  json params = command.params;
  std::string payload;
  if (command.name == "add-flows") {
    auto text = ReadFlowFile(command.file, in);
    if (!text) return fail(text.error().message);
    payload = std::move(*text);  // raw after the request line: no escaping, no size limit
    params["file"] = command.file == "-" ? "(stdin)" : command.file;
  }
  auto client = ControlClient::Connect(path, command.timeout);
  if (!client) return fail(client.error().message);
  auto full_reply = client->CallWithPayload(command.method, params, payload);
  if (!full_reply) return fail(full_reply.error().message);
  json* reply = &full_reply->result;

  if (command.name == "show") {
    out << FormatShow(*reply);
  } else if (command.name == "list-ports") {
    // ovs-vsctl prints names only; the ofports are in `show`.
    for (const json& port : *reply) {
      out << (port.is_object() ? JsonText(port.value("name", json())) : JsonText(port)) << "\n";
    }
  } else if (command.name == "add-port" && reply->is_object() && reply->contains("ofport")) {
    // Quiet on success like ovs-vsctl, but scripts want the number chosen.
    if (!command.params.contains("ofport")) out << JsonText((*reply)["ofport"]) << "\n";
  } else {
    PrintLines(*reply, out);
  }
  return kExitOk;
}

int Main(int argc, const char* const* argv, std::istream& in, std::ostream& out,
         std::ostream& err) {
  // The libraries' INFO lines ("connected to datapath ...") are for daemon
  // logs, not for a command's output.
  log::SetLevel(log::Level::kWarn);
  auto parsed = ParseCommandLine(argc, argv, out, err);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  return Run(std::get<Command>(parsed), in, out, err);
}

}  // namespace hsw::ctl
