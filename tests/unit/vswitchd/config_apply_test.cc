// Vswitchd::ApplyConfig, the database mode's reconfiguration, over a real
// ofproto Switch on a FakeDpif: deletions before additions, requested and
// conflicting OpenFlow port numbers, failures reported per interface and
// retried, a repeated configuration changing nothing, OVS's default NORMAL
// rule, the journal replayed on the first configuration, and the control
// socket's bridge commands refused.
#include <gtest/gtest.h>

#include <filesystem>

#include "dpif/fake_dpif.h"
#include "openflow/flow_text.h"
#include "testlib/temp_dir.h"
#include "vswitchd/vswitchd.h"

namespace hsw::vswitchd {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

PortConfig Port(const std::string& name, uint32_t ofport = 0, const std::string& type = "") {
  PortConfig port;
  port.name = name;
  port.ofport = ofport;
  port.type = type;
  return port;
}

BridgeConfig Bridge(const std::string& name, std::vector<PortConfig> ports,
                    const std::string& fail_mode = "") {
  BridgeConfig bridge;
  bridge.name = name;
  bridge.ports = std::move(ports);
  bridge.fail_mode = fail_mode;
  return bridge;
}

class ConfigApplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const std::string& dir : {dirs_.rundir, dirs_.statedir, dirs_.logdir}) {
      fs::create_directories(dir);
    }
  }

  void Start() {
    vswitchd_.reset();
    auto fake = std::make_unique<dpif::FakeDpif>();
    fake_ = fake.get();
    for (const std::string& name : {"veth1", "veth2", "veth3"}) fake->AddPortForTest(name, 0);
    fake->set_missing_interface("nosuch");
    VswitchdOptions options;
    options.database = "unix:" + root_ + "/db.sock";  // nobody reads it here
    auto created = Vswitchd::Create(loop_, dirs_, options, std::move(fake));
    ASSERT_TRUE(created) << created.error().ToString();
    vswitchd_ = std::move(*created);
  }

  std::vector<std::string> Rules(const std::string& bridge) {
    std::vector<std::string> lines;
    ofproto::Bridge* br = vswitchd_->sw().FindBridge(bridge);
    if (!br) return lines;
    for (const ofp::FlowMod& fm : br->SnapshotFlowMods()) lines.push_back(ofp::FormatFlowMod(fm));
    return lines;
  }

  testing::TempDir tmp_{"hsw-config-apply-test"};
  const std::string root_ = tmp_.path();
  daemon::Dirs dirs_{root_ + "/run", root_ + "/state", root_ + "/log"};
  EventLoop loop_;
  dpif::FakeDpif* fake_ = nullptr;
  std::unique_ptr<Vswitchd> vswitchd_;
};

TEST_F(ConfigApplyTest, CreatesBridgesAndPortsWithRequestedNumbers) {
  Start();
  EXPECT_FALSE(vswitchd_->sw().tables_loaded()) << "loaded before the first configuration";
  Config wanted;
  wanted.bridges = {Bridge("br0", {Port("veth1", 7), Port("veth2")})};
  ApplyReport report = vswitchd_->ApplyConfig(wanted);
  EXPECT_TRUE(report.fatal_error.empty()) << report.fatal_error;
  EXPECT_EQ(report.interfaces["veth1"].ofport, 7u);
  EXPECT_EQ(report.interfaces["veth2"].ofport, 1u);
  EXPECT_EQ(report.n_changes, 3u);
  EXPECT_TRUE(fs::exists(dirs_.rundir + "/br0.mgmt"));
  // Standalone without controllers: OVS's default rule.
  EXPECT_EQ(Rules("br0"), std::vector<std::string>{"table=0,priority=0,actions=NORMAL"});

  // The same configuration again changes nothing.
  size_t calls = fake_->calls().size();
  report = vswitchd_->ApplyConfig(wanted);
  EXPECT_EQ(report.n_changes, 0u);
  EXPECT_EQ(report.interfaces["veth1"].ofport, 7u);
  EXPECT_EQ(fake_->calls().size(), calls) << "a repeated configuration talked to the datapath";
}

TEST_F(ConfigApplyTest, SecureBridgeGetsNoDefaultRule) {
  Start();
  Config wanted;
  wanted.bridges = {Bridge("br0", {Port("veth1")}, "secure")};
  vswitchd_->ApplyConfig(wanted);
  EXPECT_TRUE(Rules("br0").empty());
}

TEST_F(ConfigApplyTest, DeletionsComeBeforeAdditions) {
  Start();
  Config wanted;
  wanted.bridges = {Bridge("br0", {Port("veth1", 1), Port("veth2", 2)}),
                    Bridge("br1", {Port("veth3")})};
  vswitchd_->ApplyConfig(wanted);
  // veth2 moves to br1 and veth3 gives its number... to veth1's old one:
  // each addition finds what the deletions freed.
  wanted.bridges = {Bridge("br0", {Port("veth1", 2)}), Bridge("br1", {Port("veth2", 1)})};
  ApplyReport report = vswitchd_->ApplyConfig(wanted);
  EXPECT_EQ(report.interfaces["veth1"].ofport, 2u) << report.interfaces["veth1"].error;
  EXPECT_EQ(report.interfaces["veth2"].ofport, 1u) << report.interfaces["veth2"].error;
  EXPECT_EQ(report.interfaces["veth2"].bridge, "br1");
  EXPECT_FALSE(vswitchd_->config().config().BridgeOfPort("veth3"));
  // Deleting a bridge closes its endpoint.
  wanted.bridges = {Bridge("br1", {Port("veth2", 1)})};
  vswitchd_->ApplyConfig(wanted);
  EXPECT_FALSE(vswitchd_->sw().FindBridge("br0"));
  EXPECT_FALSE(fs::exists(dirs_.rundir + "/br0.mgmt"));
}

TEST_F(ConfigApplyTest, FailedInterfaceIsReportedRetriedAndDoesNotStopTheRest) {
  Start();
  Config wanted;
  wanted.bridges = {Bridge("br0", {Port("nosuch"), Port("veth1")})};
  ApplyReport report = vswitchd_->ApplyConfig(wanted);
  EXPECT_EQ(report.interfaces["nosuch"].ofport, 0u);
  EXPECT_EQ(report.interfaces["nosuch"].error,
            "could not open network device nosuch (No such device)");
  EXPECT_GT(report.interfaces["veth1"].ofport, 0u);
  EXPECT_FALSE(vswitchd_->config().config().BridgeOfPort("nosuch"));
  // The interface appears: the next configuration pass adds it.
  fake_->set_missing_interface("");
  report = vswitchd_->ApplyConfig(wanted);
  EXPECT_GT(report.interfaces["nosuch"].ofport, 0u) << report.interfaces["nosuch"].error;
}

TEST_F(ConfigApplyTest, ConflictingRequestGetsAnotherNumber) {
  Start();
  Config wanted;
  wanted.bridges = {Bridge("br0", {Port("veth1", 5)})};
  vswitchd_->ApplyConfig(wanted);
  wanted.bridges = {Bridge("br0", {Port("veth1", 5), Port("veth2", 5)})};
  ApplyReport report = vswitchd_->ApplyConfig(wanted);
  EXPECT_EQ(report.interfaces["veth1"].ofport, 5u);
  EXPECT_NE(report.interfaces["veth2"].ofport, 5u);
  EXPECT_NE(report.interfaces["veth2"].ofport, 0u) << report.interfaces["veth2"].error;
}

TEST_F(ConfigApplyTest, JournalBringsRulesBackOnTheFirstConfiguration) {
  Start();
  Config wanted;
  wanted.bridges = {Bridge("br0", {Port("veth1", 1), Port("veth2", 2)})};
  vswitchd_->ApplyConfig(wanted);
  vswitchd_->SetFlowRestoreWait(false, "test");
  ofproto::Bridge* br = vswitchd_->sw().FindBridge("br0");
  auto fm = ofp::ParseFlowMod("in_port=1,actions=output:2", ofp::FlowModCommand::kAdd,
                              [](std::string_view) { return std::nullopt; });
  ASSERT_TRUE(fm);
  ASSERT_TRUE(br->FlowMod(*fm));
  // The user deletes the default rule; the restart must not bring it back.
  auto del = ofp::ParseFlowDelete("priority=0", /*strict=*/true,
                                  [](std::string_view) { return std::nullopt; });
  ASSERT_TRUE(del);
  ASSERT_TRUE(br->FlowMod(*del));
  std::vector<std::string> before = Rules("br0");
  ASSERT_EQ(before.size(), 1u);

  Start();  // a new hsw-vswitchd on the same state directory
  EXPECT_TRUE(Rules("br0").empty());
  vswitchd_->ApplyConfig(wanted);
  EXPECT_EQ(Rules("br0"), before);
}

TEST_F(ConfigApplyTest, ControlSocketBridgeCommandsAreRefused) {
  Start();
  for (const char* method : {"add-br", "del-br", "add-port", "del-port", "set-controller"}) {
    json request = {{"id", 1},
                    {"method", method},
                    {"params", {{"bridge", "br0"}, {"iface", "veth1"}}}};
    json reply = json::parse(vswitchd_->control().HandleLine(request.dump()));
    ASSERT_TRUE(reply.contains("error")) << method << " " << reply.dump();
    EXPECT_NE(reply["error"].value("message", "").find("configured from the database"),
              std::string::npos)
        << reply.dump();
  }
}

}  // namespace
}  // namespace hsw::vswitchd
