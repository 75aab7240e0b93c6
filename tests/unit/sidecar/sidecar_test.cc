// The sidecar's pure parts: health lists, the exposition format, the
// restart backoff, and the checks and metrics computed from daemon views.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/daemon.h"
#include "sidecar/health.h"
#include "sidecar/http_server.h"
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
