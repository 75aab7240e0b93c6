// The sidecar's pure parts: health lists, the exposition format, the
// restart backoff, and the checks and metrics computed from daemon views.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/daemon.h"
#include "sidecar/health.h"
#include "sidecar/http_server.h"
#include "sidecar/log_follow.h"
#include "sidecar/metrics.h"
#include "sidecar/sources.h"
#include "sidecar/supervisor.h"
#include "testlib/temp_dir.h"

namespace hsw::sidecar {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

std::vector<Check> TwoChecks(bool second_ok) {
  return {{"alpha", [] { return Ok(); }},
          {"beta", [second_ok]() -> Status {
             if (second_ok) return Ok();
             return Err("beta is down");
           }}};
}

TEST(HealthTest, PassingListSaysOkAndVerboseListsEachCheck) {
  HealthReport plain = Evaluate("livez", TwoChecks(true), {});
  EXPECT_EQ(plain.http_status, 200);
  EXPECT_EQ(plain.body, "ok\n");
  HealthQuery verbose;
  verbose.verbose = true;
  HealthReport listed = Evaluate("livez", TwoChecks(true), verbose);
  EXPECT_EQ(listed.body, "[+]alpha ok\n[+]beta ok\nlivez check passed\n");
}

TEST(HealthTest, AFailureIs500AndNamesTheCheckAndWhy) {
  HealthReport report = Evaluate("readyz", TwoChecks(false), {});
  EXPECT_EQ(report.http_status, 500);
  EXPECT_EQ(report.body, "[-]beta failed: beta is down\nreadyz check failed\n");
}

TEST(HealthTest, ExcludeSkipsACheckAndOnlyRunsOne) {
  HealthQuery exclude;
  exclude.exclude = {"beta"};
  EXPECT_EQ(Evaluate("readyz", TwoChecks(false), exclude).http_status, 200);
  HealthQuery unknown;
  unknown.exclude = {"gamma"};
  HealthReport warned = Evaluate("readyz", TwoChecks(true), unknown);
  EXPECT_EQ(warned.http_status, 200);
  HealthQuery only;
  only.only = "beta";
  EXPECT_EQ(Evaluate("readyz", TwoChecks(false), only).http_status, 500);
  only.only = "alpha";
  EXPECT_EQ(Evaluate("readyz", TwoChecks(false), only).http_status, 200);
  only.only = "gamma";
  HealthReport missing = Evaluate("readyz", TwoChecks(true), only);
  EXPECT_EQ(missing.http_status, 404);
  EXPECT_NE(missing.body.find("gamma"), std::string::npos);
}

TEST(MetricsTest, FormatIsTheTextExpositionFormat) {
  std::vector<Family> families = {
      {"hsw_port_rx_packets_total", "counter", "Packets received.",
       {{{{"port", "p1"}}, 12}, {{{"port", "we\"ird\\\n"}}, 3}}},
      {"hsw_up", "gauge", "Help with a\nnewline.", {{{}, 1}}},
      {"hsw_ratio", "gauge", "A fraction.", {{{}, 0.25}}},
      {"hsw_empty", "gauge", "Left out.", {}},
  };
  EXPECT_EQ(FormatPrometheus(families),
            "# HELP hsw_port_rx_packets_total Packets received.\n"
            "# TYPE hsw_port_rx_packets_total counter\n"
            "hsw_port_rx_packets_total{port=\"p1\"} 12\n"
            "hsw_port_rx_packets_total{port=\"we\\\"ird\\\\\\n\"} 3\n"
            "# HELP hsw_up Help with a\\nnewline.\n"
            "# TYPE hsw_up gauge\n"
            "hsw_up 1\n"
            "# HELP hsw_ratio A fraction.\n"
            "# TYPE hsw_ratio gauge\n"
            "hsw_ratio 0.25\n");
  EXPECT_TRUE(ValidMetricName("hsw_a:b_1"));
  EXPECT_FALSE(ValidMetricName("1abc"));
  EXPECT_FALSE(ValidMetricName("a-b"));
  EXPECT_FALSE(ValidLabelName("a:b"));
}

TEST(SupervisorTest, RestartDelayDoublesFromTheSecondCrashAndIsCapped) {
  milliseconds min(1000), max(8000);
  EXPECT_EQ(RestartDelay(1, min, max), milliseconds(0));
  EXPECT_EQ(RestartDelay(2, min, max), milliseconds(1000));
  EXPECT_EQ(RestartDelay(3, min, max), milliseconds(2000));
  EXPECT_EQ(RestartDelay(4, min, max), milliseconds(4000));
  EXPECT_EQ(RestartDelay(5, min, max), milliseconds(8000));
  EXPECT_EQ(RestartDelay(50, min, max), milliseconds(8000));
}

TEST(SystemdUnitsTest, AUnitNamesTheDaemonItRuns) {
  EXPECT_EQ(DaemonOfUnit("hsw-datapath.service"), "hsw-datapath");
  EXPECT_EQ(DaemonOfUnit("hsw-vswitchd.service"), "hsw-vswitchd");
  EXPECT_EQ(DaemonOfUnit("hsw-vswitchd@br.service"), "hsw-vswitchd");
  EXPECT_EQ(DaemonOfUnit("hsw-vswitchd"), "");
  EXPECT_EQ(DaemonOfUnit("hsw-vswitchdx.service"), "");
  EXPECT_EQ(DaemonOfUnit("hsw-vswitchd@.service"), "");
  EXPECT_EQ(DaemonOfUnit("ovs-vswitchd.service"), "");
}

TEST(TakeOverMarkerTest, SaysWhyWhileHeldAndIsIgnoredOnceItsHolderIsGone) {
  hsw::testing::TempDir dir("hsw-sidecar-test");
  EXPECT_TRUE(ReadTakeOverMarker(dir.path())) << "no marker: nothing under way";
  UniqueFd held;
  ASSERT_TRUE(SetTakeOverMarker(dir.path(), "taking over", held));
  auto pending = ReadTakeOverMarker(dir.path());
  ASSERT_FALSE(pending);
  EXPECT_EQ(pending.error().message, "taking over");
  // Rewritten while held: a failure replaces the pending text.
  ASSERT_TRUE(SetTakeOverMarker(dir.path(), "the take-over failed", held));
  auto failed = ReadTakeOverMarker(dir.path());
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message, "the take-over failed");
  // The sidecar that held it is gone (its fd closed): stale, ignored.
  held.Reset();
  EXPECT_TRUE(ReadTakeOverMarker(dir.path()));
  // Done: removed.
  ASSERT_TRUE(SetTakeOverMarker(dir.path(), "taking over", held));
  ClearTakeOverMarker(dir.path(), held);
  EXPECT_FALSE(held);
  EXPECT_TRUE(ReadTakeOverMarker(dir.path()));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/hsw-sidecar.take-over"));
  EXPECT_FALSE(SetTakeOverMarker(dir.path() + "/missing", "x", held)) << "a clear error";
}

TEST(ExitRecordTest, ReadsWhatADaemonWroteAndIgnoresGarbage) {
  hsw::testing::TempDir dir("hsw-sidecar-test");
  EXPECT_FALSE(daemon::ReadExitRecord(dir.path(), "hsw-x"));
  {
    FILE* f = std::fopen(daemon::ExitRecordPath(dir.path(), "hsw-x").c_str(), "w");
    std::fputs("{\"pid\": 42, \"status\": 0, \"reason\": \"SIGTERM\"}\n", f);
    std::fclose(f);
  }
  auto record = daemon::ReadExitRecord(dir.path(), "hsw-x");
  ASSERT_TRUE(record);
  EXPECT_EQ(record->pid, 42);
  EXPECT_EQ(record->status, 0);
  EXPECT_EQ(record->reason, "SIGTERM");
  {
    FILE* f = std::fopen(daemon::ExitRecordPath(dir.path(), "hsw-x").c_str(), "w");
    std::fputs("{\"pid\": \"42\"", f);
    std::fclose(f);
  }
  EXPECT_FALSE(daemon::ReadExitRecord(dir.path(), "hsw-x"));
}

// Views as the sources would read them from running daemons.
DatapathView Datapath(bool p1_up) {
  DatapathView dp;
  dp.up = true;
  dp.version = "0.1.0";
  dp.pid = 7;
  dp.stats.counters = {{"lookups_emc_hit", 5}, {"lookups_miss", 2}, {"n_flows", 3},
                       {"miss_queue_dropped_age", 1}, {"some_future_counter", 9}};
  dpif::PortInfo p1;
  p1.name = "p1";
  p1.link_up = p1_up;
  p1.stats.rx_packets = 100;
  p1.stats.tx_bytes = 6400;
  dp.stats.ports = {p1};
  return dp;
}

VswitchdView Vswitchd(bool tables_loaded) {
  VswitchdView vs;
  vs.up = true;
  vs.show = {{"tables_loaded", tables_loaded},
             {"database", ""},
             {"datapath", {{"socket", "/run/hsw/datapath.sock"}, {"connected", true}}},
             {"bridges",
              json::array({{{"name", "br0"},
                            {"n_rules", 4},
                            {"ports", json::array({{{"name", "p1"}, {"ofport", 1}},
                                                   {{"name", "p9"}, {"ofport", 9},
                                                    {"error", "not in the datapath"}}})}}})},
             {"counters", json::array({json::array({"upcalls_miss", 11}),
                                       json::array({"ukeys", 3}),
                                       json::array({"rules", 4})})}};
  return vs;
}

Status RunCheck(const std::vector<Check>& checks, const std::string& name) {
  for (const Check& c : checks) {
    if (c.name == name) return c.run();
  }
  return Err("no check {}", name);
}

TEST(SourcesTest, ReadinessNamesWhatIsNotReady) {
  DatapathView dp = Datapath(false);
  VswitchdView vs = Vswitchd(false);
  auto checks = ReadinessChecks(dp, vs);
  EXPECT_TRUE(RunCheck(checks, "datapath"));
  EXPECT_TRUE(RunCheck(checks, "datapath-connected"));
  Status restore = RunCheck(checks, "flow-restore-wait");
  ASSERT_FALSE(restore);
  EXPECT_NE(restore.error().message.find("flow-restore-wait is true"), std::string::npos);
  Status ports = RunCheck(checks, "ports");
  ASSERT_FALSE(ports);
  EXPECT_NE(ports.error().message.find("p1 (link down)"), std::string::npos);
  EXPECT_NE(ports.error().message.find("p9 (not in the datapath)"), std::string::npos);

  DatapathView down;
  down.error = "connection refused";
  auto live = LivenessChecks(down, vs);
  Status dead = RunCheck(live, "datapath");
  ASSERT_FALSE(dead);
  EXPECT_NE(dead.error().message.find("connection refused"), std::string::npos);
  EXPECT_TRUE(RunCheck(live, "vswitchd"));
}

TEST(SourcesTest, MetricsCarryTheDaemonsCountersAndParseBack) {
  DaemonState vs_state;
  vs_state.name = "hsw-vswitchd";
  vs_state.state = "running";
  vs_state.restarts = 2;
  std::string text = MetricsText(Datapath(true), Vswitchd(true), {vs_state});
  for (const char* line : {
           "hsw_daemon_restarts_total{daemon=\"hsw-vswitchd\"} 2\n",
           "hsw_daemon_running{daemon=\"hsw-vswitchd\"} 1\n",
           "hsw_datapath_lookups_total{result=\"emc_hit\"} 5\n",
           "hsw_datapath_lookups_total{result=\"miss\"} 2\n",
           "hsw_datapath_megaflows 3\n",
           "hsw_datapath_miss_queue_dropped_total{reason=\"age\"} 1\n",
           "hsw_port_rx_packets_total{port=\"p1\"} 100\n",
           "hsw_port_tx_bytes_total{port=\"p1\"} 6400\n",
           "hsw_port_link_up{port=\"p1\"} 1\n",
           "hsw_bridge_rules{bridge=\"br0\"} 4\n",
           "hsw_vswitchd_upcalls_miss_total 11\n",
           "hsw_vswitchd_ukeys 3\n",
           "hsw_vswitchd_tables_loaded 1\n",
           "hsw_scrape_success{source=\"datapath\"} 1\n",
           "hsw_scrape_success{source=\"vswitchd\"} 1\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
  // Unknown counters are not guessed at; each family is declared once.
  EXPECT_EQ(text.find("some_future_counter"), std::string::npos);
  EXPECT_EQ(text.find("# TYPE hsw_scrape_success gauge"),
            text.rfind("# TYPE hsw_scrape_success gauge"));

  // A daemon that does not answer: its metrics are absent, scrape_success 0.
  VswitchdView down;
  down.error = "refused";
  std::string partial = MetricsText(Datapath(true), down, {});
  EXPECT_NE(partial.find("hsw_scrape_success{source=\"vswitchd\"} 0\n"), std::string::npos);
  EXPECT_EQ(partial.find("hsw_bridge_rules"), std::string::npos);
}

TEST(SourcesTest, StatusJsonSaysWhatIsNotReady) {
  json status = json::parse(StatusJson(Datapath(true), Vswitchd(false), {}));
  EXPECT_FALSE(status["ready"].get<bool>());
  std::set<std::string> failed;
  for (const json& f : status["not_ready"]) failed.insert(f["check"].get<std::string>());
  EXPECT_EQ(failed, (std::set<std::string>{"flow-restore-wait", "ports"}));
  EXPECT_EQ(status["vswitchd"]["bridges"][0]["rules"], 4);
}

}  // namespace
}  // namespace hsw::sidecar

namespace hsw::sidecar {
namespace {

void Append(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "a");
  ASSERT_NE(f, nullptr);
  std::fputs(text.c_str(), f);
  std::fclose(f);
}

class LogFollowTest : public ::testing::Test {
 protected:
  hsw::testing::TempDir dir_{"hsw-logfollow-test"};
  std::string log_ = dir_.path() + "/d.log";
  std::string state_ = dir_.path() + "/pos.json";
  std::vector<std::string> lines_;
  LogFollower::Sink sink_ = [this](const std::string& line) { lines_.push_back(line); };
};

TEST_F(LogFollowTest, WaitsForTheFileAndEmitsWholeLinesOnly) {
  LogFollower follower({log_}, state_, sink_);
  EXPECT_EQ(follower.Poll(), 0u);
  Append(log_, "one\ntw");
  EXPECT_EQ(follower.Poll(), 1u);
  Append(log_, "o\nthree\n");
  EXPECT_EQ(follower.Poll(), 2u);
  EXPECT_EQ(lines_, (std::vector<std::string>{"one", "two", "three"}));
}

TEST_F(LogFollowTest, RenameRotationDrainsTheOldFileThenReadsTheNew) {
  LogFollower follower({log_}, state_, sink_);
  Append(log_, "a\n");
  follower.Poll();
  Append(log_, "b\n");  // written before the rename, not yet read
  ASSERT_EQ(std::rename(log_.c_str(), (log_ + ".1").c_str()), 0);
  Append(log_ + ".1", "c\n");  // the daemon writes on until it reopens
  Append(log_, "d\n");         // then into the new file
  follower.Poll();
  follower.Poll();
  EXPECT_EQ(lines_, (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST_F(LogFollowTest, CopytruncateStartsAgainFromZero) {
  LogFollower follower({log_}, state_, sink_);
  Append(log_, "first line\nsecond line\n");
  follower.Poll();
  ASSERT_EQ(truncate(log_.c_str(), 0), 0);
  Append(log_, "x\n");
  follower.Poll();
  EXPECT_EQ(lines_, (std::vector<std::string>{"first line", "second line", "x"}));
}

TEST_F(LogFollowTest, ARestartedFollowerNeitherRepeatsNorDrops) {
  {
    LogFollower follower({log_}, state_, sink_);
    Append(log_, "1\n2\n");
    follower.Poll();
  }
  Append(log_, "3\n");
  {
    LogFollower follower({log_}, state_, sink_);
    follower.Poll();
  }
  // Rotated while no follower ran: the rest of NAME.1 first, then NAME.
  Append(log_, "4\n");
  ASSERT_EQ(std::rename(log_.c_str(), (log_ + ".1").c_str()), 0);
  Append(log_, "5\n");
  {
    LogFollower follower({log_}, state_, sink_);
    follower.Poll();
    follower.Poll();
  }
  EXPECT_EQ(lines_, (std::vector<std::string>{"1", "2", "3", "4", "5"}));
}

TEST_F(LogFollowTest, ACorruptPositionFileMeansFromTheStart) {
  Append(state_, "{not json");
  Append(log_, "only\n");
  LogFollower follower({log_}, state_, sink_);
  follower.Poll();
  EXPECT_EQ(lines_, (std::vector<std::string>{"only"}));
}

}  // namespace
}  // namespace hsw::sidecar

#include "sidecar/config_dir.h"

namespace hsw::sidecar {
namespace {

namespace fs = std::filesystem;

void Write(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs(text.c_str(), f);
  std::fclose(f);
}

// A ConfigMap volume as Kubernetes writes it: a timestamped directory,
// ..data pointing at it, and a symlink per key.
void WriteGeneration(const std::string& dir, const std::string& stamp,
                     const std::map<std::string, std::string>& keys) {
  fs::create_directories(dir + "/" + stamp);
  for (const auto& [key, value] : keys) Write(dir + "/" + stamp + "/" + key, value);
  fs::remove(dir + "/..data_tmp");
  fs::create_symlink(stamp, dir + "/..data_tmp");
  fs::rename(dir + "/..data_tmp", dir + "/..data");
  for (const auto& [key, value] : keys) {
    if (!fs::is_symlink(dir + "/" + key)) fs::create_symlink("..data/" + key, dir + "/" + key);
  }
}

TEST(ConfigDirTest, ReadsOneGenerationThroughData) {
  hsw::testing::TempDir dir("hsw-configmap-test");
  WriteGeneration(dir.path(), "..2026_12_07_01", {{"bridges", "br0\n"},
                                                  {"bridge.br0.ports", "p1:1 p2"}});
  auto g = ReadConfigDir(dir.path());
  ASSERT_TRUE(g) << g.error().ToString();
  EXPECT_EQ(g->id, "..2026_12_07_01");
  EXPECT_EQ(g->values, (std::map<std::string, std::string>{{"bridges", "br0"},
                                                           {"bridge.br0.ports", "p1:1 p2"}}));
  WriteGeneration(dir.path(), "..2026_12_07_02", {{"bridges", "br1"},
                                                  {"bridge.br0.ports", "p1:1 p2"}});
  auto next = ReadConfigDir(dir.path());
  ASSERT_TRUE(next);
  EXPECT_EQ(next->id, "..2026_12_07_02");
  EXPECT_EQ(next->values.at("bridges"), "br1");
  EXPECT_FALSE(ReadConfigDir(dir.path() + "/nope"));
}

TEST(ConfigDirTest, APlainDirectoryIsIdentifiedByItsContents) {
  hsw::testing::TempDir dir("hsw-configmap-test");
  Write(dir.path() + "/bridges", "br0");
  auto a = ReadConfigDir(dir.path());
  Write(dir.path() + "/bridges", "br1");
  auto b = ReadConfigDir(dir.path());
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->id, b->id);
  EXPECT_EQ(a->id.rfind("sha:", 0), 0u);
}

TEST(ConfigDirTest, TranslatesAGoodGeneration) {
  ConfigGeneration g{"gen1",
                     {{"bridges", "br0 br1"},
                      {"bridge.br0.ports", "p1:1 p2:2 p3"},
                      {"bridge.br0.controllers", "tcp:127.0.0.1:6653 ptcp:6634:127.0.0.1"},
                      {"bridge.br1.datapath-id", "00000000000000a1"},
                      {"log-levels", "ofproto:dbg file:info"}}};
  auto request = TranslateConfig(g);
  ASSERT_TRUE(request) << request.error().ToString();
  const nlohmann::json& bridges = (*request)["config"]["bridges"];
  ASSERT_EQ(bridges.size(), 2u);
  EXPECT_EQ(bridges[0]["name"], "br0");
  EXPECT_EQ(bridges[0]["ports"][0], (nlohmann::json{{"name", "p1"}, {"ofport", 1}}));
  EXPECT_EQ(bridges[0]["ports"][2], (nlohmann::json{{"name", "p3"}, {"ofport", 0}}));
  EXPECT_EQ(bridges[0]["controllers"].size(), 2u);
  EXPECT_EQ(bridges[1]["datapath_id"], "00000000000000a1");
  EXPECT_EQ((*request)["vlog"], (nlohmann::json{"ofproto:dbg", "file:info"}));
  EXPECT_EQ((*request)["generation"], "gen1");
}

TEST(ConfigDirTest, ABadGenerationIsRefusedWithEveryProblemNamed) {
  ConfigGeneration g{"gen2",
                     {{"bridges", "br0 br0 bad/name"},
                      {"bridge.br0.ports", "p1:1 p2:1 p3:99999 p1"},
                      {"bridge.br0.controllers", "tcp:nowhere"},
                      {"bridge.brX.ports", "p9"},
                      {"bridge.br0.colour", "blue"},
                      {"flow-limit", "10"},
                      {"log-levels", "ofproto:loud"}}};
  auto request = TranslateConfig(g);
  ASSERT_FALSE(request);
  const std::string& why = request.error().message;
  for (const char* problem : {"generation gen2 refused", "'br0' is listed twice",
                              "'bad/name' is not a bridge name", "OpenFlow port 1 is asked for twice",
                              "'p3:99999': the OpenFlow port must be 1-65279",
                              "interface 'p1' is listed twice", "'tcp:nowhere' is not a controller",
                              "bridge 'brX' is not in `bridges`", "unknown key 'bridge.br0.colour'",
                              "unknown key 'flow-limit'", "'ofproto:loud' is not a log spec"}) {
    EXPECT_NE(why.find(problem), std::string::npos) << problem << "\n" << why;
  }
}

}  // namespace
}  // namespace hsw::sidecar
