// ovs_identity: ovs-vswitchd's command line as ovs-ctl and the ovn-operator
// write it, OVS's default names, and OVS's -v log specs (log.h).
#include "vswitchd/ovs_identity.h"

#include <gtest/gtest.h>

#include "common/log.h"

namespace hsw::vswitchd {
namespace {

using Args = std::vector<std::string>;

OvsEnvironment TestEnv() {
  OvsEnvironment env;
  env.rundir = "/t/run";
  env.logdir = "/t/log";
  env.dbdir = "/t/db";
  return env;
}

Result<VswitchdOptions> Apply(const Args& args, std::vector<std::string>* notes = nullptr) {
  HSW_ASSIGN_OR_RETURN(OvsCommandLine cl, ParseOvsCommandLine(args));
  VswitchdOptions options;
  HSW_ASSIGN_OR_RETURN(auto applied, ApplyOvsCommandLine(cl, TestEnv(), "alice", "staff", options));
  if (notes) *notes = applied;
  return options;
}

TEST(OvsIdentity, RecognisedByTheBasenameOfArgv0) {
  EXPECT_TRUE(IsOvsIdentity("ovs-vswitchd"));
  EXPECT_TRUE(IsOvsIdentity("/usr/sbin/ovs-vswitchd"));
  EXPECT_FALSE(IsOvsIdentity("/usr/sbin/hsw-vswitchd"));
  EXPECT_FALSE(IsOvsIdentity("/opt/ovs-vswitchd/hsw-vswitchd"));
  EXPECT_FALSE(IsOvsIdentity("ovs-vswitchd2"));
}

// What ovs-ctl's start_forwarding runs.
TEST(OvsIdentity, OvsCtlsCommandLine) {
  Args args = {"/usr/sbin/ovs-vswitchd", "unix:/t/run/db.sock", "-vconsole:emer", "-vsyslog:err",
               "-vfile:info", "--mlockall", "--no-chdir", "--log-file=/t/log/ovs-vswitchd.log",
               "--pidfile=/t/run/ovs-vswitchd.pid", "--detach", "--monitor"};
  auto cl = ParseOvsCommandLine(args);
  ASSERT_TRUE(cl) << cl.error().ToString();
  EXPECT_EQ(cl->hsw_args, (Args{"/usr/sbin/ovs-vswitchd", "unix:/t/run/db.sock"}));
  EXPECT_EQ(cl->log_specs, (Args{"console:emer", "syslog:err", "file:info"}));
  EXPECT_TRUE(cl->mlockall);
  EXPECT_TRUE(cl->no_chdir);
  EXPECT_TRUE(cl->detach);
  EXPECT_TRUE(cl->monitor);
  EXPECT_EQ(cl->log_file, "/t/log/ovs-vswitchd.log");
  EXPECT_EQ(cl->pidfile, "/t/run/ovs-vswitchd.pid");

  VswitchdOptions options;
  options.database = "unix:/t/run/db.sock";  // what hsw's parser takes from hsw_args
  auto notes = ApplyOvsCommandLine(*cl, TestEnv(), "alice", "staff", options);
  ASSERT_TRUE(notes) << notes.error().ToString();
  EXPECT_EQ(options.program, "ovs-vswitchd");
  EXPECT_TRUE(options.daemon.detach);
  EXPECT_TRUE(options.daemon.no_console_log);  // detached: lets go of the caller's stdio
  EXPECT_EQ(options.daemon.pidfile, "/t/run/ovs-vswitchd.pid");
  EXPECT_EQ(options.daemon.log_file, "/t/log/ovs-vswitchd.log");
  EXPECT_EQ(options.daemon.log_specs, (Args{"console:emer", "syslog:err", "file:info"}));
  EXPECT_EQ(options.unixctl, "") << "ovs-vswitchd always serves unixctl, by default name";
  // Each ignored option is said so.
  std::string all;
  for (const std::string& note : *notes) all += note + "\n";
  EXPECT_NE(all.find("--monitor"), std::string::npos) << all;
  EXPECT_NE(all.find("--no-chdir"), std::string::npos) << all;
}

// The ovn-operator's start step: no DATABASE, bare --pidfile and --log-file.
TEST(OvsIdentity, OvnOperatorsStartStepUsesOvsDefaults) {
  auto options = Apply({"/usr/sbin/ovs-vswitchd", "--pidfile", "--mlockall", "--detach",
                        "--log-file"});
  ASSERT_TRUE(options) << options.error().ToString();
  EXPECT_EQ(options->daemon.rundir, "/t/run");
  EXPECT_EQ(options->daemon.logdir, "/t/log");
  EXPECT_EQ(options->daemon.statedir, "/t/db");
  EXPECT_EQ(options->daemon.pidfile, "") << "\"\" = <rundir>/<program>.pid";
  EXPECT_EQ(options->daemon.log_file, "");
  EXPECT_EQ(options->database, "unix:/t/run/db.sock");
  EXPECT_EQ(options->datapath_socket, "") << "<rundir>/datapath.sock";
}

TEST(OvsIdentity, HswFlagsPassThroughAndWin) {
  Args args = {"ovs-vswitchd", "--datapath-socket", "/x/dp.sock", "--rundir", "/mine",
               "--flow-restore-wait", "--pidfile"};
  auto cl = ParseOvsCommandLine(args);
  ASSERT_TRUE(cl);
  EXPECT_EQ(cl->hsw_args, (Args{"ovs-vswitchd", "--datapath-socket", "/x/dp.sock", "--rundir",
                                "/mine", "--flow-restore-wait"}));
  VswitchdOptions options;
  options.daemon.rundir = "/mine";  // as hsw's parser set it
  options.datapath_socket = "/x/dp.sock";
  OvsEnvironment env = TestEnv();
  env.datapath_socket = "/env/dp.sock";
  ASSERT_TRUE(ApplyOvsCommandLine(*cl, env, "alice", "staff", options));
  EXPECT_EQ(options.daemon.rundir, "/mine");
  EXPECT_EQ(options.datapath_socket, "/x/dp.sock") << "the flag wins over HSW_DATAPATH_SOCKET";
  EXPECT_EQ(options.database, "unix:/mine/db.sock");
}

TEST(OvsIdentity, HswDatapathSocketFromTheEnvironment) {
  auto cl = ParseOvsCommandLine({"ovs-vswitchd"});
  ASSERT_TRUE(cl);
  VswitchdOptions options;
  OvsEnvironment env = TestEnv();
  env.datapath_socket = "/env/dp.sock";
  ASSERT_TRUE(ApplyOvsCommandLine(*cl, env, "alice", "staff", options));
  EXPECT_EQ(options.datapath_socket, "/env/dp.sock");
}

TEST(OvsIdentity, VerboseForms) {
  auto cl = ParseOvsCommandLine({"ovs-vswitchd", "-v", "--verbose", "--verbose=vswitchd:file:warn",
                                 "-vANY:console:off"});
  ASSERT_TRUE(cl);
  EXPECT_EQ(cl->log_specs, (Args{"", "", "vswitchd:file:warn", "ANY:console:off"}));
}

TEST(OvsIdentity, BadOptionsAreErrorsNamingThem) {
  auto missing = ParseOvsCommandLine({"ovs-vswitchd", "--unixctl"});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("--unixctl"), std::string::npos);
  auto extra = ParseOvsCommandLine({"ovs-vswitchd", "--detach=yes"});
  ASSERT_FALSE(extra);
  EXPECT_NE(extra.error().message.find("--detach"), std::string::npos);
  // --unixctl takes the next word, as getopt does for a required argument.
  auto next = ParseOvsCommandLine({"ovs-vswitchd", "--unixctl", "my.ctl"});
  ASSERT_TRUE(next);
  EXPECT_EQ(next->unixctl, "my.ctl");
  EXPECT_EQ(next->hsw_args, (Args{"ovs-vswitchd"}));
}

TEST(OvsIdentity, UserMustBeTheCurrentOne) {
  EXPECT_TRUE(Apply({"ovs-vswitchd", "--user=alice"}));
  EXPECT_TRUE(Apply({"ovs-vswitchd", "--user=alice:staff"}));
  EXPECT_TRUE(Apply({"ovs-vswitchd", "--user", "alice"}));
  auto other = Apply({"ovs-vswitchd", "--user=openvswitch:hugetlbfs"});
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message.find("--user=openvswitch:hugetlbfs"), std::string::npos);
  EXPECT_NE(other.error().message.find("alice:staff"), std::string::npos);
  EXPECT_FALSE(Apply({"ovs-vswitchd", "--user=alice:wheel"}));
}

TEST(OvsIdentity, DatabaseTargets) {
  EXPECT_TRUE(CheckDatabaseTarget("unix:/var/run/openvswitch/db.sock"));
  EXPECT_TRUE(CheckDatabaseTarget("tcp:127.0.0.1:6640"));
  EXPECT_FALSE(CheckDatabaseTarget("unix:"));
  EXPECT_FALSE(CheckDatabaseTarget("tcp:6640"));
  EXPECT_FALSE(CheckDatabaseTarget("/var/run/openvswitch/db.sock"));
  auto ssl = CheckDatabaseTarget("ssl:10.0.0.1:6640");
  ASSERT_FALSE(ssl);
  EXPECT_NE(ssl.error().message.find("ssl:"), std::string::npos);
  EXPECT_FALSE(Apply({"ovs-vswitchd", "--pidfile"}) && false);
  VswitchdOptions options;
  options.database = "punix:/x";
  auto cl = ParseOvsCommandLine({"ovs-vswitchd"});
  ASSERT_TRUE(cl);
  EXPECT_FALSE(ApplyOvsCommandLine(*cl, TestEnv(), "alice", "staff", options));
}

TEST(OvsIdentity, UnixctlPaths) {
  EXPECT_EQ(ResolveUnixctlPath(std::nullopt, "/r", "ovs-vswitchd", 42), "");
  EXPECT_EQ(ResolveUnixctlPath("none", "/r", "ovs-vswitchd", 42), "");
  EXPECT_EQ(ResolveUnixctlPath("", "/r", "ovs-vswitchd", 42), "/r/ovs-vswitchd.42.ctl");
  EXPECT_EQ(ResolveUnixctlPath("x.ctl", "/r", "ovs-vswitchd", 42), "/r/x.ctl");
  EXPECT_EQ(ResolveUnixctlPath("/a/b.ctl", "/r", "ovs-vswitchd", 42), "/a/b.ctl");
}

// ovs-ctl: `ovs-vswitchd --version | awk '/Open vSwitch/{print $NF}'`;
// ovs-lib's stop_daemon: `ovs-appctl version | awk 'NR==1{print $NF}'`.
TEST(OvsIdentity, VersionTextAsOvsScriptsParseIt) {
  std::string text = OvsVersionText();
  std::string first = text.substr(0, text.find('\n'));
  EXPECT_EQ(first, "ovs-vswitchd (Open vSwitch) 3.1.0");
  std::string rest = text.substr(text.find('\n') + 1);
  EXPECT_EQ(rest.find("Open vSwitch"), std::string::npos) << "awk would print two versions";
  EXPECT_NE(rest.find("hsw-vswitchd"), std::string::npos);
  EXPECT_EQ(ProgramVersionLine("ovs-vswitchd"), first);
  EXPECT_EQ(ProgramVersionLine("hsw-vswitchd").rfind("hsw-vswitchd ", 0), 0u);
}

// -v specs: the levels they set, and errors that change nothing.
class VlogSpecTest : public ::testing::Test {
 protected:
  void TearDown() override { log::SetLevel(log::Level::kInfo); }
  static log::ModuleLevels Of(const std::string& name) {
    for (const log::ModuleLevels& m : log::ListModuleLevels()) {
      if (m.module == name) return m;
    }
    ADD_FAILURE() << "no module " << name;
    return {};
  }
};

TEST_F(VlogSpecTest, DestinationAndLevelForEveryModule) {
  log::SetLevel(log::Level::kInfo);
  ASSERT_TRUE(log::ApplyVlogSpec("console:emer"));
  ASSERT_TRUE(log::ApplyVlogSpec("file:dbg"));
  for (const std::string& name : {"ovs_identity", "daemon"}) {
    EXPECT_EQ(Of(name).console, log::Level::kEmer) << name;
    EXPECT_EQ(Of(name).file, log::Level::kDbg) << name;
  }
  EXPECT_TRUE(log::Enabled(log::Level::kDbg)) << "the file writes dbg";
}

TEST_F(VlogSpecTest, OneModuleOnly) {
  log::SetLevel(log::Level::kInfo);
  ASSERT_TRUE(log::ApplyVlogSpec("ovs_identity:console:warn"));
  EXPECT_EQ(Of("ovs_identity").console, log::Level::kWarn);
  EXPECT_EQ(Of("ovs_identity").file, log::Level::kInfo);
  EXPECT_EQ(Of("daemon").console, log::Level::kInfo);
  // No level means dbg; ANY is no restriction; case does not matter.
  ASSERT_TRUE(log::ApplyVlogSpec("ANY:FILE"));
  EXPECT_EQ(Of("daemon").file, log::Level::kDbg);
}

TEST_F(VlogSpecTest, SyslogIsRecordedAndSaidToBeIgnored) {
  auto note = log::ApplyVlogSpec("syslog:err");
  ASSERT_TRUE(note);
  EXPECT_NE(note->find("syslog"), std::string::npos);
  EXPECT_EQ(Of("daemon").syslog, log::Level::kErr);
  auto pattern = log::ApplyVlogSpec("PATTERN:console:%d %m");
  ASSERT_TRUE(pattern);
  EXPECT_NE(pattern->find("ignored"), std::string::npos);
}

TEST_F(VlogSpecTest, ErrorsInOvsWordsChangeNothing) {
  log::SetLevel(log::Level::kInfo);
  auto unknown = log::ApplyVlogSpec("console:loud");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message, "no destination, level, or module \"loud\"");
  EXPECT_FALSE(log::ApplyVlogSpec("console:file:dbg"));
  EXPECT_FALSE(log::ApplyVlogSpec("dbg:info"));
  EXPECT_FALSE(log::ApplyVlogSpec("daemon:ovs_identity"));
  EXPECT_EQ(Of("daemon").console, log::Level::kInfo);
  EXPECT_EQ(Of("daemon").file, log::Level::kInfo);
}

}  // namespace
}  // namespace hsw::vswitchd
