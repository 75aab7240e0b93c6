// The saved-flows directory (ctl/saved_flows.h): round trip, every kind of
// damage the reader must catch, and the writer's atomicity (a failed save
// leaves the previous one exactly as it was).
#include "ctl/saved_flows.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>

#include "common/fd.h"
#include "common/version.h"
#include "openflow/flow_text.h"
#include "testlib/temp_dir.h"

namespace hsw::ctl {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

class SavedFlowsTest : public ::testing::Test {
 protected:
  // A bridge as the daemon's save-flows reply gives it: one flow per line.
  static FlowsToSave::Bridge Bridge(std::string name, const std::vector<std::string>& flows) {
    FlowsToSave::Bridge bridge{std::move(name), "", flows.size()};
    for (const std::string& flow : flows) bridge.text += flow + "\n";
    return bridge;
  }
  static FlowsToSave Sample() {
    FlowsToSave flows;
    flows.journal = {"0123456789abcdef0123456789abcdef", 42};
    flows.bridges.push_back(Bridge(
        "br0", {"table=0,priority=100,in_port=1,actions=output:2",
                "table=0,priority=100,in_port=2,actions=output:1", "table=1,priority=0,actions=drop"}));
    flows.bridges.push_back(Bridge("br-int", {"table=0,priority=0,actions=NORMAL"}));
    return flows;
  }

  void Write(const FlowsToSave& flows) {
    auto written = WriteSavedFlows(dir_, flows);
    ASSERT_TRUE(written) << written.error().ToString();
  }

  static std::string Slurp(const std::string& path) {
    auto text = ReadFile(path);
    return text ? *text : "<unreadable>";
  }
  static void Spit(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  }

  json Manifest() { return json::parse(Slurp(dir_ + "/manifest.json")); }
  void SetManifest(const json& manifest) { Spit(dir_ + "/manifest.json", manifest.dump(2)); }

  // The reader's error for the current dir_ ("" if it accepts it).
  std::string ReadError() {
    auto saved = ReadSavedFlows(dir_);
    return saved ? "" : saved.error().ToString();
  }

  // Every file of `dir` and its content: to prove a directory unchanged.
  static std::map<std::string, std::string> Snapshot(const std::string& dir) {
    std::map<std::string, std::string> files;
    for (const auto& entry : fs::directory_iterator(dir)) {
      files[entry.path().filename()] = Slurp(entry.path());
    }
    return files;
  }

  testing::TempDir tmp_{"hsw-saved-flows"};
  const std::string root_ = tmp_.path();
  std::string dir_ = root_ + "/save";
};

TEST_F(SavedFlowsTest, RoundTrip) {
  Write(Sample());
  auto saved = ReadSavedFlows(dir_);
  ASSERT_TRUE(saved) << saved.error().ToString();
  EXPECT_EQ(saved->journal, (JournalPosition{"0123456789abcdef0123456789abcdef", 42}));
  EXPECT_EQ(saved->hsw_version, kVersion);
  EXPECT_TRUE(
      std::regex_match(saved->created, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << saved->created;
  ASSERT_EQ(saved->bridges.size(), 2u);
  EXPECT_EQ(saved->bridges[0].name, "br0");
  EXPECT_EQ(saved->bridges[0].path, dir_ + "/br0.flows");
  EXPECT_EQ(saved->bridges[0].n_flows, 3u);
  EXPECT_EQ(saved->bridges[1].name, "br-int");
  EXPECT_EQ(saved->TotalFlows(), 4u);

  // A comment line, then exactly the daemon's flows, one per line.
  const std::string& text = saved->bridges[0].text;
  ASSERT_EQ(text.rfind("# hsw saved flows: bridge br0, 3 flows, ", 0), 0u) << text;
  EXPECT_NE(text.find(", hsw " + std::string(kVersion) + "\n"), std::string::npos) << text;
  EXPECT_EQ(text.substr(text.find('\n') + 1),
            "table=0,priority=100,in_port=1,actions=output:2\n"
            "table=0,priority=100,in_port=2,actions=output:1\n"
            "table=1,priority=0,actions=drop\n");

  json manifest = Manifest();
  EXPECT_EQ(manifest["format"], "hsw-saved-flows");
  EXPECT_EQ(manifest["format_version"], 1);
  EXPECT_EQ(manifest["bridges"][0]["file"], "br0.flows");
  EXPECT_EQ(manifest["bridges"][0]["bytes"], text.size());
  EXPECT_EQ(manifest["bridges"][0]["xxh3_128"], Xxh3Hex(text));
  EXPECT_FALSE(fs::exists(dir_ + ".tmp"));
}

TEST_F(SavedFlowsTest, FlowFilesLoadWithTheFlowParserAndOvsOfctl) {
  Write(Sample());
  std::string text = Slurp(dir_ + "/br0.flows");
  auto parsed = ofp::ParseFlowFile(text);
  ASSERT_TRUE(parsed) << parsed.error().ToString();
  EXPECT_EQ(parsed->size(), 3u);
  if (access("/usr/bin/ovs-ofctl", X_OK) != 0) GTEST_SKIP() << "no ovs-ofctl";
  std::string command =
      "/usr/bin/ovs-ofctl -O OpenFlow13 parse-flows " + dir_ + "/br0.flows >/dev/null 2>&1";
  EXPECT_EQ(system(command.c_str()), 0) << command;
}

TEST_F(SavedFlowsTest, EmptyTablesAndNoBridges) {
  FlowsToSave flows;
  flows.journal = {"aa", 0};
  flows.bridges.push_back(Bridge("br0", {}));
  Write(flows);
  auto saved = ReadSavedFlows(dir_);
  ASSERT_TRUE(saved) << saved.error().ToString();
  EXPECT_EQ(saved->bridges.at(0).n_flows, 0u);

  Write(FlowsToSave{});
  saved = ReadSavedFlows(dir_);
  ASSERT_TRUE(saved) << saved.error().ToString();
  EXPECT_TRUE(saved->bridges.empty());
  EXPECT_FALSE(fs::exists(dir_ + "/br0.flows")) << "the old save's files went with it";
}

TEST_F(SavedFlowsTest, ReplacesAnEarlierSaveAndALeftoverTmp) {
  Write(Sample());
  fs::create_directories(dir_ + ".tmp/junk");  // what a crash mid-save leaves
  FlowsToSave second = Sample();
  second.bridges.pop_back();
  second.journal.seq = 43;
  Write(second);
  auto saved = ReadSavedFlows(dir_);
  ASSERT_TRUE(saved) << saved.error().ToString();
  EXPECT_EQ(saved->journal.seq, 43u);
  EXPECT_EQ(saved->bridges.size(), 1u);
  EXPECT_FALSE(fs::exists(dir_ + "/br-int.flows"));
  EXPECT_FALSE(fs::exists(dir_ + ".tmp"));
}

TEST_F(SavedFlowsTest, CreatesMissingParents) {
  dir_ = root_ + "/a/b/save";
  Write(Sample());
  EXPECT_TRUE(ReadSavedFlows(dir_));
}

TEST_F(SavedFlowsTest, RefusesToReplaceAFile) {
  Spit(dir_, "not a directory");
  auto written = WriteSavedFlows(dir_, Sample());
  ASSERT_FALSE(written);
  EXPECT_NE(written.error().message.find("is not a directory"), std::string::npos);
  EXPECT_EQ(Slurp(dir_), "not a directory");
  EXPECT_FALSE(fs::exists(dir_ + ".tmp"));
}

TEST_F(SavedFlowsTest, UnwritableFlowsChangeNothing) {
  Write(Sample());
  auto before = Snapshot(dir_);
  FlowsToSave bad = Sample();
  bad.bridges[1] = Bridge("br-int", {"table=0,priority=0,actions=NORMAL", "in_port=1,\nactions=drop"});
  auto written = WriteSavedFlows(dir_, bad);
  ASSERT_FALSE(written);
  EXPECT_NE(written.error().message.find("cannot be written as one line"), std::string::npos);
  for (std::string flow : {"in_port=1,actions=drop\\", "in_port=1,\ractions=drop", ""}) {
    bad = Sample();
    bad.bridges[0] = Bridge("br0", {"table=1,priority=0,actions=drop", flow});
    written = WriteSavedFlows(dir_, bad);
    ASSERT_FALSE(written) << flow;
    EXPECT_NE(written.error().message.find("cannot be written as one line"), std::string::npos)
        << written.error().message;
  }
  bad = Sample();
  bad.bridges[0].text.pop_back();  // no line break after the last flow
  EXPECT_FALSE(WriteSavedFlows(dir_, bad));
  bad = Sample();
  bad.bridges[0].name = "../escape";
  EXPECT_FALSE(WriteSavedFlows(dir_, bad));
  EXPECT_EQ(Snapshot(dir_), before);
  EXPECT_FALSE(fs::exists(dir_ + ".tmp"));
  EXPECT_FALSE(fs::exists(root_ + "/escape.flows"));
}

// A real I/O failure half-way through (the file size limit, EFBIG) must
// leave the previous save exactly as it was.  In a child process, so that
// the limit does not reach the test runner.
TEST_F(SavedFlowsTest, FailedWriteLeavesTheOldSaveUntouched) {
  Write(Sample());
  auto before = Snapshot(dir_);
  FlowsToSave big = Sample();
  big.bridges[1] = Bridge(
      "br-int", std::vector<std::string>(10000, "table=0,priority=1,in_port=3,actions=output:4"));
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    signal(SIGXFSZ, SIG_IGN);
    rlimit limit{64 * 1024, 64 * 1024};
    setrlimit(RLIMIT_FSIZE, &limit);
    auto written = WriteSavedFlows(dir_, big);
    bool as_expected = !written && written.error().code == EFBIG &&
                       written.error().message.find("br-int.flows") != std::string::npos;
    _exit(as_expected ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the write should fail with EFBIG naming br-int.flows";
  EXPECT_EQ(Snapshot(dir_), before);
  EXPECT_FALSE(fs::exists(dir_ + ".tmp"));
  EXPECT_EQ(ReadError(), "");
}

TEST_F(SavedFlowsTest, TruncatedFlowFile) {
  Write(Sample());
  for (const char* file : {"br0.flows", "br-int.flows"}) {
    SCOPED_TRACE(file);
    std::string path = dir_ + "/" + file;
    std::string good = Slurp(path);
    for (size_t keep : {size_t{0}, good.size() / 2, good.size() - 1}) {
      Spit(path, good.substr(0, keep));
      EXPECT_EQ(ReadError(), fmt::format("{}: {} bytes, the manifest says {} (the file was changed "
                                         "or truncated after the save)",
                                         path, keep, good.size()));
    }
    Spit(path, good);
    EXPECT_EQ(ReadError(), "");
  }
}

TEST_F(SavedFlowsTest, FlippedByte) {
  Write(Sample());
  for (const char* file : {"br0.flows", "br-int.flows"}) {
    std::string path = dir_ + "/" + file;
    std::string good = Slurp(path);
    for (size_t at : {size_t{0}, good.size() / 2, good.size() - 1}) {
      std::string bad = good;
      bad[at] ^= 0x01;
      Spit(path, bad);
      EXPECT_EQ(ReadError(), path +
                                 ": checksum mismatch (the file was changed or truncated after "
                                 "the save)")
          << file << " byte " << at;
    }
    Spit(path, good);
  }
  EXPECT_EQ(ReadError(), "");
}

TEST_F(SavedFlowsTest, MissingFlowFile) {
  Write(Sample());
  fs::remove(dir_ + "/br-int.flows");
  EXPECT_EQ(ReadError(), dir_ + "/br-int.flows: missing (listed in the manifest)");
}

TEST_F(SavedFlowsTest, ExtraFilesAreIgnored) {
  Write(Sample());
  Spit(dir_ + "/br9.flows", "in_port=9,actions=drop\n");
  Spit(dir_ + "/README", "hello");
  auto saved = ReadSavedFlows(dir_);
  ASSERT_TRUE(saved) << saved.error().ToString();
  EXPECT_EQ(saved->bridges.size(), 2u);
}

TEST_F(SavedFlowsTest, MissingDirectoryOrManifest) {
  EXPECT_EQ(ReadError(), dir_ + ": cannot read the saved flows (No such file or directory)");
  Write(Sample());
  fs::remove(dir_ + "/manifest.json");
  EXPECT_EQ(ReadError(), dir_ + "/manifest.json: missing (not a saved-flows directory?)");
}

TEST_F(SavedFlowsTest, ManifestNotJson) {
  Write(Sample());
  std::string good = Slurp(dir_ + "/manifest.json");
  Spit(dir_ + "/manifest.json", good.substr(0, good.size() / 2));
  std::string error = ReadError();
  EXPECT_EQ(error.rfind(dir_ + "/manifest.json: not valid JSON: ", 0), 0u) << error;
  Spit(dir_ + "/manifest.json", "");
  EXPECT_NE(ReadError().find("not valid JSON"), std::string::npos);
  Spit(dir_ + "/manifest.json", "[1, 2]");
  EXPECT_EQ(ReadError(), dir_ + "/manifest.json: not a JSON object");
}

TEST_F(SavedFlowsTest, FormatAndVersion) {
  Write(Sample());
  json manifest = Manifest();
  manifest["format_version"] = 2;
  SetManifest(manifest);
  EXPECT_EQ(ReadError(), dir_ +
                             "/manifest.json: format version 2 is not supported (this hsw-ctl "
                             "reads 1)");
  manifest["format_version"] = "1";
  SetManifest(manifest);
  EXPECT_NE(ReadError().find("'format_version' has the wrong type"), std::string::npos);
  manifest["format_version"] = 1;
  manifest["format"] = "ovs-save";
  SetManifest(manifest);
  EXPECT_EQ(ReadError(), dir_ + "/manifest.json: format 'ovs-save' is not 'hsw-saved-flows'");
  manifest.erase("format");
  SetManifest(manifest);
  EXPECT_EQ(ReadError(), dir_ + "/manifest.json: 'format' is missing");
}

TEST_F(SavedFlowsTest, ManifestEntries) {
  Write(Sample());
  const json good = Manifest();
  auto expect = [&](auto change, const std::string& message) {
    json manifest = good;
    change(manifest);
    SetManifest(manifest);
    std::string error = ReadError();
    if (message.empty()) {
      EXPECT_EQ(error, "");
    } else {
      EXPECT_NE(error.find(message), std::string::npos) << error;
    }
  };
  expect([](json& m) { m["bridges"][1].erase("bytes"); }, "bridges[1]: 'bytes' is missing");
  expect([](json& m) { m["bridges"][0]["n_flows"] = -1; }, "'n_flows' has the wrong type");
  expect([](json& m) { m["bridges"][0]["n_flows"] = 2; },
         "br0.flows: 3 flows, the manifest says 2");
  expect([](json& m) { m["bridges"][0]["file"] = "../save/br0.flows"; },
         "is not a file name inside the directory");
  expect([](json& m) { m["bridges"][1] = m["bridges"][0]; }, "bridge br0 is listed twice");
  expect([](json& m) { m["bridges"] = "br0"; }, "'bridges' is not an array");
  expect([](json& m) { m["journal"]["seq"] = -3; }, "'seq' has the wrong type");
  expect([](json& m) { m.erase("journal"); }, "'journal' is missing");
  expect([](json& m) { m["bridges"][0]["xxh3_128"] = std::string(32, '0'); },
         "br0.flows: checksum mismatch");
  expect([](json& m) { m["future_member"] = {1, 2}; }, "");  // ignored
}

TEST(Xxh3Hex, MatchesXxh128sum) {
  // `xxh128sum /dev/null` (XXH3_128bits of nothing, canonical form).
  EXPECT_EQ(Xxh3Hex(""), "99aa06d3014798d86001c324468d497f");
  EXPECT_EQ(Xxh3Hex("a").size(), 32u);
  EXPECT_NE(Xxh3Hex("a"), Xxh3Hex("b"));
}

TEST(Xxh3Hex, PartsHashAsOneString) {
  EXPECT_EQ(Xxh3Hex({"# header\n", "in_port=1,actions=drop\n"}),
            Xxh3Hex("# header\nin_port=1,actions=drop\n"));
  EXPECT_EQ(Xxh3Hex(std::initializer_list<std::string_view>{}), Xxh3Hex(""));
}

TEST(FlowsFromSaveReply, Parses) {
  std::string payload = "in_port=1,actions=drop\nin_port=2,actions=drop\npriority=0,actions=drop\n";
  json reply = {{"version", "0.1.0"},
                {"journal", {{"id", "ab"}, {"seq", 7}}},
                {"bridges",
                 {{{"name", "br0"}, {"n_flows", 2}, {"size", 46}},
                  {{"name", "br1"}, {"n_flows", 1}, {"size", payload.size() - 46}}}}};
  auto flows = FlowsFromSaveReply(reply, payload);
  ASSERT_TRUE(flows) << flows.error().ToString();
  EXPECT_EQ(flows->journal, (JournalPosition{"ab", 7}));
  ASSERT_EQ(flows->bridges.size(), 2u);
  EXPECT_EQ(flows->bridges[0].text, "in_port=1,actions=drop\nin_port=2,actions=drop\n");
  EXPECT_EQ(flows->bridges[0].n_flows, 2u);
  EXPECT_EQ(flows->bridges[1].text, "priority=0,actions=drop\n");
  EXPECT_EQ(flows->TotalFlows(), 3u);
}

TEST(FlowsFromSaveReply, RejectsMalformedReplies) {
  const std::string payload = "in_port=1,actions=drop\n";
  const json good = {{"journal", {{"id", "ab"}, {"seq", 7}}},
                     {"bridges", {{{"name", "br0"}, {"n_flows", 1}, {"size", payload.size()}}}}};
  auto rejects = [&](auto change, std::string_view with_payload) {
    json reply = good;
    change(reply);
    return !FlowsFromSaveReply(reply, with_payload);
  };
  auto rejects_reply = [&](auto change) { return rejects(change, payload); };
  EXPECT_TRUE(rejects_reply([](json& r) { r = nullptr; }));
  EXPECT_TRUE(rejects_reply([](json& r) { r.erase("journal"); }));
  EXPECT_TRUE(rejects_reply([](json& r) { r["journal"]["seq"] = "7"; }));
  EXPECT_TRUE(rejects_reply([](json& r) { r["bridges"][0]["size"] = -1; }));
  EXPECT_TRUE(rejects_reply([](json& r) { r["bridges"][0]["n_flows"] = "1"; }));
  EXPECT_TRUE(rejects_reply([](json& r) { r["bridges"][0].erase("size"); }));
  EXPECT_TRUE(rejects_reply([](json& r) { r["bridges"][0]["name"] = "a/b"; }));
  EXPECT_TRUE(rejects_reply([](json& r) { r["bridges"].push_back(r["bridges"][0]); }));
  // The sizes must cover the payload exactly.
  EXPECT_TRUE(rejects([](json&) {}, payload + "x"));
  EXPECT_TRUE(rejects([](json&) {}, payload.substr(1)));
  EXPECT_FALSE(rejects_reply([](json&) {}));
}

}  // namespace
}  // namespace hsw::ctl
