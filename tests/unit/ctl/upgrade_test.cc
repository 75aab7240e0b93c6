// hsw-ctl upgrade and rollback without daemons: which of a running daemon's
// arguments its replacement gets again, the command line, and bad input
// (refused with a message naming it, nothing changed).  The upgrades
// themselves run against the real daemons in tests/e2e/test_handover.py and
// tests/e2e/test_upgrade_vswitchd.py.
#include "ctl/upgrade.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "ctl/ctl.h"
#include "testlib/temp_dir.h"

namespace hsw::ctl {
namespace {

using Args = std::vector<std::string>;

// What `hsw-ctl upgrade --vswitchd` leaves out: start adds these itself.
ArgumentsNotRepeated VswitchdDropped() {
  ArgumentsNotRepeated dropped;
  dropped.flags = {"--detach", "--flow-restore-wait"};
  dropped.with_value = {"--rundir", "--statedir"};
  dropped.with_optional_value = {"--pidfile"};
  dropped.flag_prefix = "--test-";
  return dropped;
}

TEST(ArgumentsToRepeat, KeepsWhatMattersDropsWhatStartAddsAgain) {
  Args running = {"--detach",
                  "--pidfile",
                  "--log-file",
                  "--rundir",
                  "/run/x",
                  "--statedir=/var/s",
                  "--flow-restore-wait",
                  "--log-level",
                  "dbg",
                  "--datapath-socket=/run/x/dp.sock"};
  EXPECT_EQ(ArgumentsToRepeat(running, VswitchdDropped()),
            (Args{"--log-file", "--log-level", "dbg", "--datapath-socket=/run/x/dp.sock"}));
}

TEST(ArgumentsToRepeat, OptionalValueIsTheNextWordUnlessItIsAnOption) {
  ArgumentsNotRepeated dropped = VswitchdDropped();
  EXPECT_EQ(ArgumentsToRepeat({"--pidfile", "/run/x/v.pid", "--log-file"}, dropped),
            (Args{"--log-file"}));
  EXPECT_EQ(ArgumentsToRepeat({"--pidfile", "--log-file", "/var/log/v.log"}, dropped),
            (Args{"--log-file", "/var/log/v.log"}));
  EXPECT_EQ(ArgumentsToRepeat({"--pidfile=/run/x/v.pid", "--no-console-log"}, dropped),
            (Args{"--no-console-log"}));
  // Last word: nothing after it to take.
  EXPECT_EQ(ArgumentsToRepeat({"--log-file", "--pidfile"}, dropped), (Args{"--log-file"}));
}

TEST(ArgumentsToRepeat, HiddenTestFlagsAndOneStartOnlyOptionsAreDropped) {
  ArgumentsNotRepeated dropped;
  dropped.flags = {"--takeover", "--detach"};
  dropped.with_value = {"--claim-handover-version"};
  dropped.flag_prefix = "--test-";
  EXPECT_EQ(ArgumentsToRepeat({"--takeover", "--detach", "--pidfile", "--test-fail-execute",
                               "--claim-handover-version", "99", "--max-flows", "10",
                               "--claim-handover-version=3"},
                              dropped),
            (Args{"--pidfile", "--max-flows", "10"}));
  EXPECT_EQ(ArgumentsToRepeat({"--test-refuse-flow-mods", "--log-file"}, VswitchdDropped()),
            (Args{"--log-file"}));
}

TEST(ArgumentsToRepeat, ANameIsMatchedWholeNotAsAPrefix) {
  // --rundir-like names that are other options stay.
  ArgumentsNotRepeated dropped = VswitchdDropped();
  EXPECT_EQ(ArgumentsToRepeat({"--detached-thing", "--rundirs", "x"}, dropped),
            (Args{"--detached-thing", "--rundirs", "x"}));
}

TEST(SplitCmdline, NulSeparatedWords) {
  using namespace std::string_view_literals;
  EXPECT_EQ(SplitCmdline("hsw-vswitchd\0--detach\0--log-file\0"sv),
            (Args{"hsw-vswitchd", "--detach", "--log-file"}));
  EXPECT_EQ(SplitCmdline("a\0\0b\0"sv), (Args{"a", "", "b"}));  // an empty argument stays
  EXPECT_EQ(SplitCmdline(""sv), Args{});
}

struct Ran {
  int code;
  std::string out, err;
};

Ran RunCtl(std::vector<const char*> args) {
  args.insert(args.begin(), "hsw-ctl");
  std::istringstream in;
  std::ostringstream out, err;
  int code = Main(static_cast<int>(args.size()), args.data(), in, out, err);
  return {code, out.str(), err.str()};
}

Command Parsed(std::vector<const char*> args) {
  args.insert(args.begin(), "hsw-ctl");
  std::ostringstream out, err;
  auto parsed = ParseCommandLine(static_cast<int>(args.size()), args.data(), out, err);
  EXPECT_TRUE(std::holds_alternative<Command>(parsed)) << err.str();
  return std::holds_alternative<Command>(parsed) ? std::get<Command>(parsed) : Command{};
}

TEST(UpgradeArgs, EitherPartOrBoth) {
  Command c = Parsed({"upgrade", "--vswitchd", "/opt/new/hsw-vswitchd"});
  EXPECT_EQ(c.name, "upgrade");
  EXPECT_EQ(c.vswitchd_bin, "/opt/new/hsw-vswitchd");
  EXPECT_EQ(c.datapath_bin, "");
  c = Parsed({"upgrade", "--datapath", "/opt/new/hsw-datapath", "--vswitchd", "/opt/v"});
  EXPECT_EQ(c.datapath_bin, "/opt/new/hsw-datapath");
  EXPECT_EQ(c.vswitchd_bin, "/opt/v");
}

TEST(UpgradeArgs, RollbackPicksParts) {
  Command c = Parsed({"rollback"});
  EXPECT_FALSE(c.rollback_datapath);
  EXPECT_FALSE(c.rollback_vswitchd);
  c = Parsed({"rollback", "--vswitchd"});
  EXPECT_TRUE(c.rollback_vswitchd);
  EXPECT_FALSE(c.rollback_datapath);
  c = Parsed({"rollback", "--datapath", "--vswitchd"});
  EXPECT_TRUE(c.rollback_datapath && c.rollback_vswitchd);
}

TEST(UpgradeRun, UpgradeOfNothingIsAUsageError) {
  testing::TempDir dir("hsw-upgrade-test");
  std::string rundir = dir / "run";
  Ran r = RunCtl({"--rundir", rundir.c_str(), "upgrade"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "hsw-ctl: upgrade needs --datapath NEWBIN and/or --vswitchd NEWBIN\n");
  EXPECT_FALSE(std::filesystem::exists(rundir));  // nothing touched, not even the lock
}

TEST(UpgradeRun, ANewBinaryThatIsNotThereIsNamedAndNothingChanges) {
  testing::TempDir dir("hsw-upgrade-test");
  std::string rundir = dir / "run", statedir = dir / "state";
  Ran r = RunCtl({"--rundir", rundir.c_str(), "--statedir", statedir.c_str(), "upgrade",
                  "--vswitchd", "/nonexistent/hsw-vswitchd"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.err,
            "hsw-ctl: /nonexistent/hsw-vswitchd is not an executable file (No such file "
            "or directory)\n");
  EXPECT_FALSE(std::filesystem::exists(statedir + "/upgrade"));
}

TEST(UpgradeRun, RollbackWithNothingKeptSaysSo) {
  testing::TempDir dir("hsw-upgrade-test");
  std::string rundir = dir / "run", statedir = dir / "state";
  Ran r = RunCtl({"--rundir", rundir.c_str(), "--statedir", statedir.c_str(), "rollback"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.err, "hsw-ctl: no previous binary kept in " + statedir +
                       "/upgrade/previous (none was upgraded); nothing was changed\n");
  r = RunCtl(
      {"--rundir", rundir.c_str(), "--statedir", statedir.c_str(), "rollback", "--vswitchd"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.err, "hsw-ctl: no previous hsw-vswitchd kept at " + statedir +
                       "/upgrade/previous/hsw-vswitchd (none was upgraded); nothing was changed\n");
}

TEST(UpgradeRun, RollbackOfAPartNotKeptChangesNothingEvenIfTheOtherIsKept) {
  testing::TempDir dir("hsw-upgrade-test");
  std::string rundir = dir / "run", statedir = dir / "state";
  std::filesystem::create_directories(statedir + "/upgrade/previous");
  std::filesystem::copy_file("/bin/true", statedir + "/upgrade/previous/hsw-datapath");
  Ran r = RunCtl({"--rundir", rundir.c_str(), "--statedir", statedir.c_str(), "rollback",
                  "--datapath", "--vswitchd"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(r.err, "hsw-ctl: no previous hsw-vswitchd kept at " + statedir +
                       "/upgrade/previous/hsw-vswitchd (none was upgraded); nothing was changed\n");
  EXPECT_FALSE(std::filesystem::exists(rundir));  // not even the lock was taken
}

}  // namespace
}  // namespace hsw::ctl
