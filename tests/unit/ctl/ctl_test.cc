// hsw-ctl's command line (argv -> control request, exit codes, --help) and its
// output formatting, without any daemon; and one run against a real control
// server to check the end-to-end path of a command.
#include "ctl/ctl.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sstream>
#include <thread>

#include "common/fd.h"
#include "ctl/dp_commands.h"
#include "dpif/fake_dpif.h"
#include "testlib/temp_dir.h"

namespace hsw::ctl {
namespace {

using json = nlohmann::json;

struct Parsed {
  std::variant<Command, int> result;
  std::string out, err;
};

Parsed Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "hsw-ctl");
  std::ostringstream out, err;
  Parsed parsed{ParseCommandLine(static_cast<int>(args.size()), args.data(), out, err), "", ""};
  parsed.out = out.str();
  parsed.err = err.str();
  return parsed;
}

Command Cmd(const Parsed& parsed) {
  Command none;
  if (!std::holds_alternative<Command>(parsed.result)) {
    ADD_FAILURE() << "expected a command, got exit " << std::get<int>(parsed.result) << ": "
                  << parsed.err;
    return none;
  }
  return std::get<Command>(parsed.result);
}

int ExitCode(const Parsed& parsed) {
  return std::holds_alternative<int>(parsed.result) ? std::get<int>(parsed.result) : -1;
}

TEST(CtlArgs, AddPortWithOfport) {
  auto parsed = Parse({"add-port", "br0", "veth1", "--ofport", "3"});
  Command c = Cmd(parsed);
  EXPECT_EQ(c.method, "add-port");
  EXPECT_EQ(c.params, (json{{"bridge", "br0"}, {"iface", "veth1"}, {"ofport", 3}}));
}

TEST(CtlArgs, AddPortWithoutOfport) {
  Command c = Cmd(Parse({"add-port", "br0", "veth1"}));
  EXPECT_FALSE(c.params.contains("ofport"));
}

TEST(CtlArgs, AddPortTypes) {
  Command internal = Cmd(Parse({"add-port", "br0", "br0", "--type", "internal"}));
  EXPECT_EQ(internal.params, (json{{"bridge", "br0"}, {"iface", "br0"}, {"type", "internal"}}));
  Command patch = Cmd(Parse({"add-port", "br0", "pa", "--type", "patch", "--peer", "pb"}));
  EXPECT_EQ(patch.params,
            (json{{"bridge", "br0"}, {"iface", "pa"}, {"type", "patch"}, {"peer", "pb"}}));
  Command system = Cmd(Parse({"add-port", "br0", "veth1", "--type", "system"}));
  EXPECT_FALSE(system.params.contains("type")) << "system is the default, sent as nothing";
  EXPECT_EQ(ExitCode(Parse({"add-port", "br0", "v", "--type", "vxlan"})), kExitUsage);
  EXPECT_EQ(ExitCode(Parse({"add-port", "br0", "v", "--type", "patch"})), kExitUsage);
  EXPECT_EQ(ExitCode(Parse({"add-port", "br0", "v", "--peer", "x"})), kExitUsage);
  EXPECT_EQ(ExitCode(Parse({"add-port", "br0", "v", "--type", "internal", "--peer", "x"})),
            kExitUsage);
}

TEST(CtlArgs, FlowCommands) {
  Command add = Cmd(Parse({"add-flow", "br0", "in_port=1,actions=output:2"}));
  EXPECT_EQ(add.method, "add-flow");
  EXPECT_EQ(add.params["flow"], "in_port=1,actions=output:2");

  Command del = Cmd(Parse({"del-flows", "br0", "in_port=1", "--strict"}));
  EXPECT_EQ(del.params, (json{{"bridge", "br0"}, {"match", "in_port=1"}, {"strict", true}}));
  Command del_all = Cmd(Parse({"del-flows", "br0"}));
  EXPECT_EQ(del_all.params, (json{{"bridge", "br0"}, {"strict", false}}));

  Command dump = Cmd(Parse({"dump-flows", "br0"}));
  EXPECT_EQ(dump.params, (json{{"bridge", "br0"}}));

  Command flows = Cmd(Parse({"add-flows", "br0", "-"}));
  EXPECT_EQ(flows.file, "-");
}

TEST(CtlArgs, SetAndGet) {
  Command set = Cmd(Parse({"set", "flow-restore-wait=false"}));
  EXPECT_EQ(set.params, (json{{"key", "flow-restore-wait"}, {"value", "false"}}));
  Command empty_value = Cmd(Parse({"set", "k="}));
  EXPECT_EQ(empty_value.params["value"], "");
  Command get = Cmd(Parse({"get", "flow-restore-wait"}));
  EXPECT_EQ(get.params, (json{{"key", "flow-restore-wait"}}));
  auto bad = Parse({"set", "novalue"});
  EXPECT_EQ(ExitCode(bad), kExitUsage);
  EXPECT_NE(bad.err.find("KEY=VALUE"), std::string::npos) << bad.err;
}

TEST(CtlArgs, SetControllerTakesSeveralTargets) {
  Command c = Cmd(Parse({"set-controller", "br0", "tcp:1.2.3.4:6653", "unix:/x"}));
  EXPECT_EQ(c.params["targets"], (json{"tcp:1.2.3.4:6653", "unix:/x"}));
  Command none = Cmd(Parse({"set-controller", "br0"}));
  EXPECT_EQ(none.params["targets"], json::array());
}

TEST(CtlArgs, GlobalOptionsAnywhere) {
  Command c = Cmd(Parse({"--rundir", "/tmp/r", "list-br", "--timeout", "2.5"}));
  EXPECT_EQ(c.rundir, "/tmp/r");
  EXPECT_EQ(c.timeout, std::chrono::milliseconds(2500));
}

TEST(CtlArgs, RundirFromEnvironment) {
  setenv("HSW_RUNDIR", "/tmp/from-env", 1);
  Command c = Cmd(Parse({"list-br"}));
  unsetenv("HSW_RUNDIR");
  EXPECT_EQ(c.rundir, "/tmp/from-env");
  Command d = Cmd(Parse({"list-br"}));
  EXPECT_EQ(d.rundir, "/run/hsw");
}

TEST(CtlArgs, VlogSetAndAlias) {
  EXPECT_EQ(Cmd(Parse({"vlog/set", "dbg"})).params["level"], "dbg");
  EXPECT_EQ(Cmd(Parse({"vlog-set", "info"})).method, "vlog/set");
}

TEST(CtlArgs, UsageErrorsExitTwo) {
  EXPECT_EQ(ExitCode(Parse({})), kExitUsage);                   // no command
  EXPECT_EQ(ExitCode(Parse({"frobnicate"})), kExitUsage);       // unknown command
  EXPECT_EQ(ExitCode(Parse({"add-flow", "br0"})), kExitUsage);  // missing FLOW
  EXPECT_EQ(ExitCode(Parse({"add-port", "br0", "v", "--ofport", "x"})), kExitUsage);
  EXPECT_EQ(ExitCode(Parse({"add-port", "br0", "v", "--ofport", "0"})), kExitUsage);
  EXPECT_EQ(ExitCode(Parse({"list-br", "extra"})), kExitUsage);
  auto missing = Parse({"add-br"});
  EXPECT_EQ(ExitCode(missing), kExitUsage);
  EXPECT_NE(missing.err.find("BR"), std::string::npos) << missing.err;
}

TEST(CtlArgs, UnknownCommandIsNamed) {
  Parsed parsed = Parse({"--rundir", "/tmp/r", "frobnicate"});
  EXPECT_EQ(ExitCode(parsed), kExitUsage);
  EXPECT_NE(parsed.err.find("unknown command 'frobnicate'"), std::string::npos) << parsed.err;
}

TEST(CtlArgs, EveryCommandHasHelp) {
  for (const char* name :
       {"add-br",   "del-br",    "list-br",        "add-port",      "del-port",      "list-ports",
        "add-flow", "add-flows", "del-flows",      "dump-flows",    "set",           "get",
        "show",     "trace",     "set-controller", "dp-show",       "dp-dump-flows", "log-reopen",
        "vlog/set", "version",   "save-flows",     "restore-flows", "wait-ready",    "wait-stopped",
        "stop",     "start",     "restart"}) {
    auto parsed = Parse({name, "--help"});
    EXPECT_EQ(ExitCode(parsed), kExitOk) << name;
    EXPECT_NE(parsed.out.find(name), std::string::npos) << name << ": " << parsed.out;
  }
  auto top = Parse({"--help"});
  EXPECT_EQ(ExitCode(top), kExitOk);
  EXPECT_NE(top.out.find("dump-flows"), std::string::npos);
}

TEST(CtlArgs, SaveAndRestoreFlows) {
  Command save = Cmd(Parse({"save-flows", "/tmp/saved"}));
  EXPECT_EQ(save.name, "save-flows");
  EXPECT_EQ(save.method, "");
  EXPECT_EQ(save.dir, "/tmp/saved");
  EXPECT_EQ(save.timeout, std::chrono::seconds(60));
  EXPECT_EQ(Cmd(Parse({"restore-flows", "d"})).dir, "d");
  EXPECT_EQ(ExitCode(Parse({"save-flows"})), kExitUsage);
  EXPECT_EQ(ExitCode(Parse({"restore-flows", "a", "b"})), kExitUsage);
}

TEST(CtlArgs, WaitCommandsTimeouts) {
  EXPECT_EQ(Cmd(Parse({"wait-ready"})).timeout, std::chrono::seconds(60));
  EXPECT_EQ(Cmd(Parse({"wait-ready", "--timeout", "2"})).timeout, std::chrono::seconds(2));
  EXPECT_EQ(Cmd(Parse({"wait-stopped"})).timeout, std::chrono::seconds(30));
  EXPECT_EQ(Cmd(Parse({"--timeout", "0.5", "wait-stopped"})).timeout,
            std::chrono::milliseconds(500));
  EXPECT_EQ(ExitCode(Parse({"wait-stopped", "--timeout", "0"})), kExitUsage);
  EXPECT_EQ(ExitCode(Parse({"wait-ready", "extra"})), kExitUsage);
}

TEST(CtlArgs, Stop) {
  Command plain = Cmd(Parse({"stop"}));
  EXPECT_EQ(plain.name, "stop");
  EXPECT_EQ(plain.dir, "");
  EXPECT_FALSE(plain.all);
  EXPECT_EQ(plain.timeout, std::chrono::seconds(30));
  Command full = Cmd(Parse({"stop", "--save-flows", "/x/saved", "--all", "--timeout", "5"}));
  EXPECT_EQ(full.dir, "/x/saved");
  EXPECT_TRUE(full.all);
  EXPECT_EQ(full.timeout, std::chrono::seconds(5));
  EXPECT_EQ(ExitCode(Parse({"stop", "--save-flows"})), kExitUsage);
}

TEST(CtlArgs, StartAndRestart) {
  Command plain = Cmd(Parse({"start"}));
  EXPECT_EQ(plain.dir, "");
  EXPECT_FALSE(plain.wait);
  EXPECT_TRUE(plain.vswitchd_args.empty());
  Command full =
      Cmd(Parse({"start", "--restore-flows", "/x/saved", "--wait", "--vswitchd-arg=--log-file",
                 "--vswitchd-arg", "-v", "--datapath-arg=--log-level=dbg"}));
  EXPECT_EQ(full.dir, "/x/saved");
  EXPECT_TRUE(full.wait);
  EXPECT_EQ(full.vswitchd_args, (std::vector<std::string>{"--log-file", "-v"}));
  EXPECT_EQ(full.datapath_args, (std::vector<std::string>{"--log-level=dbg"}));
  EXPECT_EQ(ExitCode(Parse({"start", "extra"})), kExitUsage);

  Command restart = Cmd(Parse({"restart"}));
  EXPECT_EQ(restart.name, "restart");
  EXPECT_EQ(restart.dir, "");
  Command restart_full =
      Cmd(Parse({"restart", "--save-flows", "/x/keep", "--vswitchd-arg=--log-file"}));
  EXPECT_EQ(restart_full.dir, "/x/keep");
  EXPECT_EQ(restart_full.vswitchd_args, std::vector<std::string>{"--log-file"});
  EXPECT_EQ(ExitCode(Parse({"restart", "--datapath-arg=x"})), kExitUsage);
}

TEST(CtlArgs, Statedir) {
  EXPECT_EQ(Cmd(Parse({"--statedir", "/tmp/s", "restart"})).statedir, "/tmp/s");
  setenv("HSW_STATEDIR", "/tmp/from-env", 1);
  Command c = Cmd(Parse({"restart"}));
  unsetenv("HSW_STATEDIR");
  EXPECT_EQ(c.statedir, "/tmp/from-env");
  EXPECT_EQ(Cmd(Parse({"restart"})).statedir, "/var/lib/hsw");
  Parsed unknown = Parse({"--statedir", "/tmp/s", "frobnicate"});
  EXPECT_NE(unknown.err.find("unknown command 'frobnicate'"), std::string::npos) << unknown.err;
}

TEST(CtlArgs, VersionFlag) {
  auto parsed = Parse({"--version"});
  EXPECT_EQ(ExitCode(parsed), kExitOk);
  EXPECT_NE(parsed.out.find("hsw-ctl "), std::string::npos);
}

TEST(CtlRun, DaemonNotRunningIsExitOneWithClearMessage) {
  std::istringstream in;
  std::ostringstream out, err;
  const char* argv[] = {"hsw-ctl", "--rundir", "/nonexistent-hsw", "list-br"};
  EXPECT_EQ(Main(4, argv, in, out, err), kExitFailure);
  EXPECT_EQ(err.str(),
            "hsw-ctl: cannot connect to hsw-vswitchd at /nonexistent-hsw/vswitchd.ctl: No such "
            "file or directory (is hsw-vswitchd running?)\n");
}

TEST(CtlRun, VersionNamesWhatIsNotRunning) {
  std::istringstream in;
  std::ostringstream out, err;
  const char* argv[] = {"hsw-ctl", "--rundir", "/nonexistent-hsw", "version"};
  EXPECT_EQ(Main(4, argv, in, out, err), kExitFailure);
  EXPECT_EQ(out.str().rfind("hsw-ctl 0.", 0), 0u) << out.str();
  EXPECT_NE(err.str().find("(is hsw-vswitchd running?)"), std::string::npos) << err.str();
  EXPECT_NE(err.str().find("(is hsw-datapath running?)"), std::string::npos) << err.str();
}

TEST(CtlRun, MissingFlowFileIsExitOne) {
  std::istringstream in;
  std::ostringstream out, err;
  const char* argv[] = {"hsw-ctl",   "--rundir", "/nonexistent-hsw",
                        "add-flows", "br0",      "/nonexistent-hsw/flows.txt"};
  EXPECT_EQ(Main(6, argv, in, out, err), kExitFailure);
  EXPECT_NE(err.str().find("cannot read flow file /nonexistent-hsw/flows.txt"), std::string::npos)
      << err.str();
}

TEST(CtlRun, RestoreFlowsOfAMissingDirectory) {
  std::istringstream in;
  std::ostringstream out, err;
  const char* argv[] = {"hsw-ctl", "--rundir", "/nonexistent-hsw", "restore-flows",
                        "/nonexistent-hsw/saved"};
  EXPECT_EQ(Main(5, argv, in, out, err), kExitFailure);
  EXPECT_EQ(err.str(),
            "hsw-ctl: /nonexistent-hsw/saved: cannot read the saved flows (No such file or "
            "directory)\n");
}

TEST(CtlRun, WaitStoppedWithNothingRunning) {
  std::istringstream in;
  std::ostringstream out, err;
  const char* argv[] = {"hsw-ctl", "--rundir", "/nonexistent-hsw", "wait-stopped"};
  EXPECT_EQ(Main(4, argv, in, out, err), kExitOk) << err.str();
  EXPECT_EQ(out.str(), "hsw-vswitchd is not running\n");
}

// A one-shot fake hsw-vswitchd: answers one request line with `reply` and
// records the request.
class FakeDaemon {
 public:
  explicit FakeDaemon(std::string reply) : reply_(std::move(reply)) {
    listener_ = std::move(*ListenUnix(dir_ / "vswitchd.ctl"));
    (void)SetNonBlocking(listener_.get(), false);
    thread_ = std::thread([this] {
      UniqueFd conn(accept(listener_.get(), nullptr, nullptr));
      std::string line;
      char c;
      while (read(conn.get(), &c, 1) == 1 && c != '\n') line += c;
      request_ = json::parse(line, nullptr, false);
      // A request may carry raw bytes after its line (control_server.h).
      uint64_t size = request_.is_object() ? request_.value("payload_size", uint64_t{0}) : 0;
      payload_.resize(size);
      for (size_t got = 0; got < size;) {
        ssize_t n = read(conn.get(), payload_.data() + got, size - got);
        if (n <= 0) break;
        got += static_cast<size_t>(n);
      }
      std::string out = FormatReply(request_.value("id", 0));
      (void)WriteAll(conn.get(), out.data(), out.size());
    });
  }
  ~FakeDaemon() {
    if (thread_.joinable()) thread_.join();
  }
  std::string FormatReply(int64_t id) {
    json reply = json::parse(reply_);
    reply["id"] = id;
    return reply.dump() + "\n";
  }
  const std::string& dir() const { return dir_.path(); }
  json request() {
    thread_.join();
    return request_;
  }
  // The request's payload; after request().
  const std::string& payload() const { return payload_; }

 private:
  std::string reply_;
  testing::TempDir dir_{"hsw-ctl-run"};  // before listener_: outlives the socket
  UniqueFd listener_;
  std::thread thread_;
  json request_;
  std::string payload_;
};

TEST(CtlRun, AddFlowsSendsFileText) {
  FakeDaemon daemon(R"({"result": null})");
  std::istringstream in("in_port=1,actions=output:2\n# comment\nin_port=2,actions=output:1\n");
  std::ostringstream out, err;
  std::string rundir = daemon.dir();
  const char* argv[] = {"hsw-ctl", "--rundir", rundir.c_str(), "add-flows", "br0", "-"};
  EXPECT_EQ(Main(6, argv, in, out, err), kExitOk) << err.str();
  json request = daemon.request();
  EXPECT_EQ(request["method"], "add-flows");
  EXPECT_EQ(request["params"]["bridge"], "br0");
  // The text travels raw after the request line, not as a JSON string.
  EXPECT_FALSE(request["params"].contains("text"));
  EXPECT_EQ(daemon.payload(),
            "in_port=1,actions=output:2\n# comment\nin_port=2,actions=output:1\n");
}

TEST(CtlRun, DaemonErrorIsExitOneWithItsMessage) {
  FakeDaemon daemon(
      R"({"error": {"message": "add-flow br0 'in_port=1,actions=oops': unknown action 'oops'"}})");
  std::istringstream in;
  std::ostringstream out, err;
  std::string rundir = daemon.dir();
  const char* argv[] = {"hsw-ctl",  "--rundir", rundir.c_str(),
                        "add-flow", "br0",      "in_port=1,actions=oops"};
  EXPECT_EQ(Main(6, argv, in, out, err), kExitFailure);
  EXPECT_EQ(err.str(), "hsw-ctl: add-flow br0 'in_port=1,actions=oops': unknown action 'oops'\n");
  EXPECT_EQ(daemon.request()["params"]["flow"], "in_port=1,actions=oops");
}

TEST(CtlRun, DumpFlowsPrintsLines) {
  FakeDaemon daemon(
      R"({"result": [" cookie=0x0, duration=1s, table=0, n_packets=0, n_bytes=0, priority=100,in_port=1 actions=output:2"]})");
  std::istringstream in;
  std::ostringstream out, err;
  std::string rundir = daemon.dir();
  const char* argv[] = {"hsw-ctl", "--rundir", rundir.c_str(), "dump-flows", "br0"};
  EXPECT_EQ(Main(5, argv, in, out, err), kExitOk) << err.str();
  EXPECT_EQ(out.str(),
            " cookie=0x0, duration=1s, table=0, n_packets=0, n_bytes=0, "
            "priority=100,in_port=1 actions=output:2\n");
}

TEST(CtlFormat, Show) {
  json show = {{"version", "0.1.0"},
               {"pid", 42},
               {"tables_loaded", false},
               {"bridges",
                {{{"name", "br0"},
                  {"datapath_id", "0000000000000001"},
                  {"n_rules", 2},
                  {"controllers", {"tcp:127.0.0.1:6653"}},
                  {"ports",
                   {{{"name", "veth1"}, {"ofport", 1}, {"dp_port", 3}},
                    {{"name", "gone0"}, {"ofport", 2}, {"error", "not in the datapath"}}}}}}},
               {"settings", {{"a", "b"}}},
               {"counters", json::array({json::array({"upcalls", 5})})}};
  std::string text = FormatShow(show);
  EXPECT_NE(text.find("hsw-vswitchd 0.1.0 (pid 42), flow-restore-wait"), std::string::npos) << text;
  EXPECT_NE(text.find("Bridge br0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("    Port veth1: ofport 1, datapath port 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("    Port gone0: ofport 2 (ERROR: not in the datapath)\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("    Controller \"tcp:127.0.0.1:6653\"\n"), std::string::npos) << text;
  EXPECT_NE(text.find("    a=b\n"), std::string::npos) << text;
  EXPECT_NE(text.find("    upcalls: 5\n"), std::string::npos) << text;
}

TEST(CtlFormat, DpShowAndFlowsFromFakeDatapath) {
  dpif::FakeDpif fake;
  auto port = fake.PortAdd("veth1", 0);
  ASSERT_TRUE(port) << port.error().message;
  dpif::FlowPut put;
  put.key = FlowKey::Zero();
  put.key.in_port = *port;
  put.mask = FlowKey::Zero();
  put.mask.in_port = 0xffffffff;
  put.actions = {DpOutput{*port}};
  auto errors = fake.FlowPut({put});
  ASSERT_TRUE(errors);
  ASSERT_EQ((*errors)[0], 0);
  fake.Hit(put.key, 3, 294, 1000);

  auto show = FormatDpShow(fake);
  ASSERT_TRUE(show) << show.error().message;
  EXPECT_NE(show->find("hsw-datapath"), std::string::npos) << *show;
  EXPECT_NE(show->find("veth1"), std::string::npos) << *show;
  EXPECT_NE(show->find("rx packets:"), std::string::npos) << *show;

  auto flows = FormatDpFlows(fake, 1500);
  ASSERT_TRUE(flows) << flows.error().message;
  EXPECT_EQ(flows->rfind("in_port(", 0), 0u) << *flows;
  EXPECT_NE(flows->find("packets:3, bytes:294, used:0.500s, actions:"), std::string::npos)
      << *flows;
}

}  // namespace
}  // namespace hsw::ctl
