#include "vswitchd/config_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/fd.h"
#include "testlib/temp_dir.h"

namespace hsw::vswitchd {
namespace {

namespace fs = std::filesystem;

class ConfigStoreTest : public ::testing::Test {
 protected:
  testing::TempDir tmp_{"hsw-config-test"};
  const std::string dir_ = tmp_.path();
  std::string path_ = dir_ + "/conf.json";
};

TEST_F(ConfigStoreTest, MissingFileIsEmptyConfig) {
  auto store = ConfigStore::Open(path_);
  ASSERT_TRUE(store) << store.error().ToString();
  EXPECT_TRUE(store->config().bridges.empty());
  EXPECT_TRUE(store->config().settings.empty());
  EXPECT_FALSE(fs::exists(path_));  // nothing written until something changes
}

TEST_F(ConfigStoreTest, RoundTripThroughFile) {
  {
    auto store = ConfigStore::Open(path_);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->AddBridge("br0", 0x00000000deadbeefull));
    ASSERT_TRUE(store->AddBridge("br1"));
    ASSERT_TRUE(store->AddPort("br0", "veth1", 1));
    ASSERT_TRUE(store->AddPort("br0", "veth2", 7));
    ASSERT_TRUE(store->AddPort("br1", "tap0", 0));
    ASSERT_TRUE(store->SetControllers("br0", {"tcp:127.0.0.1:6653", "unix:/tmp/c.sock"}));
    ASSERT_TRUE(store->SetSetting("max-idle", "10000"));
  }
  auto reopened = ConfigStore::Open(path_);
  ASSERT_TRUE(reopened) << reopened.error().ToString();
  const Config& config = reopened->config();
  ASSERT_EQ(config.bridges.size(), 2u);
  EXPECT_EQ(config.bridges[0].name, "br0");
  EXPECT_EQ(config.bridges[0].datapath_id, 0xdeadbeefull);
  ASSERT_EQ(config.bridges[0].ports.size(), 2u);
  EXPECT_EQ(config.bridges[0].ports[1], (PortConfig{"veth2", 7}));
  EXPECT_EQ(config.bridges[0].controllers.size(), 2u);
  EXPECT_EQ(config.bridges[1].ports[0].name, "tap0");
  EXPECT_EQ(reopened->GetSetting("max-idle").value_or(""), "10000");
  EXPECT_FALSE(reopened->GetSetting("nope").has_value());
  // Serialize -> parse is the identity.
  auto parsed = ParseConfig(SerializeConfig(config), "test");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, config);
}

TEST_F(ConfigStoreTest, FileHasSchemaVersionAndHexDatapathId) {
  auto store = ConfigStore::Open(path_);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->AddBridge("br0", 0xabcdef));
  auto text = ReadFile(path_);
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("\"schema_version\": 1"), std::string::npos) << *text;
  EXPECT_NE(text->find("\"datapath_id\": \"0000000000abcdef\""), std::string::npos) << *text;
  EXPECT_FALSE(fs::exists(path_ + ".tmp"));  // the atomic write's temporary is gone
}

TEST_F(ConfigStoreTest, ValidationErrorsNameTheProblemAndChangeNothing) {
  auto store = ConfigStore::Open(path_);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->AddBridge("br0"));
  ASSERT_TRUE(store->AddPort("br0", "veth1", 1));
  Config before = store->config();
  auto before_text = ReadFile(path_);

  auto dup = store->AddBridge("br0");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().message, "bridge 'br0' already exists");
  auto unknown = store->AddPort("brX", "veth9", 0);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message, "unknown bridge 'brX'");
  ASSERT_TRUE(store->AddBridge("br1"));
  before = store->config();
  before_text = ReadFile(path_);
  auto taken = store->AddPort("br1", "veth1", 0);
  ASSERT_FALSE(taken);
  EXPECT_NE(taken.error().message.find("already a port of bridge 'br0'"), std::string::npos);
  auto ofport = store->AddPort("br0", "veth2", 1);
  ASSERT_FALSE(ofport);
  EXPECT_NE(ofport.error().message.find("ofport 1 is already used by 'veth1'"), std::string::npos);
  auto no_port = store->DeletePort("br0", "veth7");
  ASSERT_FALSE(no_port);
  EXPECT_EQ(no_port.error().message, "bridge 'br0' has no port 'veth7'");
  EXPECT_FALSE(store->DeleteBridge("nope"));
  EXPECT_FALSE(store->AddBridge("has/slash"));
  EXPECT_FALSE(store->AddBridge("waytoolongbridgename"));
  EXPECT_FALSE(store->AddBridge(""));
  EXPECT_EQ(store->config(), before);
  EXPECT_EQ(ReadFile(path_).value_or("x"), before_text.value_or("y"));
}

TEST_F(ConfigStoreTest, DeleteBridgeAndPort) {
  auto store = ConfigStore::Open(path_);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->AddBridge("br0"));
  ASSERT_TRUE(store->AddPort("br0", "veth1", 0));
  ASSERT_TRUE(store->DeletePort("br0", "veth1"));
  EXPECT_TRUE(store->config().bridges[0].ports.empty());
  ASSERT_TRUE(store->DeleteBridge("br0"));
  auto reopened = ConfigStore::Open(path_);
  ASSERT_TRUE(reopened);
  EXPECT_TRUE(reopened->config().bridges.empty());
}

TEST_F(ConfigStoreTest, FailedWriteChangesNothing) {
  auto store = ConfigStore::Open(path_);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->AddBridge("br0"));
  auto before_text = ReadFile(path_);
  // The atomic write's temporary cannot be created (even by root) when a
  // directory sits at its path.
  fs::create_directory(path_ + ".tmp");
  auto added = store->AddBridge("br1");
  ASSERT_FALSE(added);
  EXPECT_NE(added.error().message.find("cannot save configuration to " + path_), std::string::npos)
      << added.error().message;
  EXPECT_EQ(store->config().bridges.size(), 1u);
  EXPECT_EQ(ReadFile(path_).value_or("x"), before_text.value_or("y"));
  fs::remove(path_ + ".tmp");
  EXPECT_TRUE(store->AddBridge("br1"));  // and it recovers
}

TEST_F(ConfigStoreTest, DirectoryAsConfigFileIsAnError) {
  std::string bad = dir_ + "/conf-dir.json";
  fs::create_directory(bad);
  auto store = ConfigStore::Open(bad);
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find(bad), std::string::npos);
}

TEST_F(ConfigStoreTest, CorruptFileNamesFileAndPositionAndIsKept) {
  std::string corrupt = "{\n  \"schema_version\": 1,\n  \"bridges\": [ oops ]\n}\n";
  ASSERT_TRUE(WriteFileAtomic(path_, corrupt));
  auto store = ConfigStore::Open(path_);
  ASSERT_FALSE(store);
  const std::string& message = store.error().message;
  EXPECT_NE(message.find("corrupt config file " + path_), std::string::npos) << message;
  EXPECT_NE(message.find("line 3"), std::string::npos) << message;
  EXPECT_NE(message.find("byte"), std::string::npos) << message;
  EXPECT_EQ(ReadFile(path_).value_or(""), corrupt);  // never overwritten
}

TEST_F(ConfigStoreTest, TruncatedFileIsAnError) {
  ASSERT_TRUE(WriteFileAtomic(path_, "{\"schema_version\": 1, \"bridges\": [{\"na"));
  auto store = ConfigStore::Open(path_);
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find(path_), std::string::npos);
}

TEST_F(ConfigStoreTest, WrongShapesAreNamed) {
  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {"[]", "top level is not a JSON object"},
      {"{}", "missing integer 'schema_version'"},
      {"{\"schema_version\": 99}", "schema_version 99 is not supported"},
      {"{\"schema_version\": 1, \"bridges\": {}}", "'bridges' is not an array"},
      {"{\"schema_version\": 1, \"bridges\": [{\"name\": 3}]}",
       "bridges[0]: missing string 'name'"},
      {"{\"schema_version\": 1, \"bridges\": [{\"name\": \"b\", \"datapath_id\": \"xyz\"}]}",
       "datapath_id 'xyz'"},
      {"{\"schema_version\": 1, \"bridges\": [{\"name\": \"b\", \"ports\": [{\"name\": \"p\", "
       "\"ofport\": -1}]}]}",
       "ports[0]: 'ofport'"},
      {"{\"schema_version\": 1, \"bridges\": [{\"name\": \"b\"}, {\"name\": \"b\"}]}",
       "duplicate bridge"},
      {"{\"schema_version\": 1, \"settings\": {\"k\": 1}}", "settings['k'] is not a string"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseConfig(c.text, "conf.json");
    ASSERT_FALSE(parsed) << c.text;
    EXPECT_NE(parsed.error().message.find(c.expect), std::string::npos)
        << c.text << " -> " << parsed.error().message;
    EXPECT_EQ(parsed.error().message.rfind("conf.json", 0), 0u) << parsed.error().message;
  }
}

TEST_F(ConfigStoreTest, PortTypesRoundTripAndAreWrittenOnlyWhenNotSystem) {
  {
    auto store = ConfigStore::Open(path_);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->AddBridge("br0"));
    ASSERT_TRUE(store->AddPort("br0", PortConfig{"br0", 0, "internal", ""}));
    ASSERT_TRUE(store->AddPort("br0", PortConfig{"pa", 3, "patch", "pb"}));
    ASSERT_TRUE(store->AddPort("br0", PortConfig{"veth1", 4, "system", ""}));
    // Bad ones change nothing and say why.
    auto no_peer = store->AddPort("br0", PortConfig{"pc", 0, "patch", ""});
    ASSERT_FALSE(no_peer);
    EXPECT_NE(no_peer.error().message.find("pc"), std::string::npos);
    auto odd = store->AddPort("br0", PortConfig{"vx", 0, "vxlan", ""});
    ASSERT_FALSE(odd);
    EXPECT_NE(odd.error().message.find("vxlan"), std::string::npos);
    EXPECT_FALSE(store->AddPort("br0", PortConfig{"v2", 0, "", "pb"}));
    EXPECT_EQ(store->config().bridges[0].ports.size(), 3u);
  }
  auto text = ReadFile(path_);
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("\"type\": \"internal\""), std::string::npos) << *text;
  EXPECT_NE(text->find("\"peer\": \"pb\""), std::string::npos) << *text;
  EXPECT_EQ(text->find("\"system\""), std::string::npos) << "system is written as nothing";
  auto reopened = ConfigStore::Open(path_);
  ASSERT_TRUE(reopened) << reopened.error().ToString();
  const auto& ports = reopened->config().bridges[0].ports;
  ASSERT_EQ(ports.size(), 3u);
  EXPECT_EQ(ports[0], (PortConfig{"br0", 0, "internal", ""}));
  EXPECT_EQ(ports[1], (PortConfig{"pa", 3, "patch", "pb"}));
  EXPECT_EQ(ports[2], (PortConfig{"veth1", 4, "", ""}));
  // A file from before port types loads as system ports.
  auto old = ParseConfig(
      "{\"schema_version\": 1, \"bridges\": [{\"name\": \"b\", \"ports\": "
      "[{\"name\": \"p\", \"ofport\": 2}]}]}",
      "old.json");
  ASSERT_TRUE(old) << old.error().ToString();
  EXPECT_EQ(old->bridges[0].ports[0], (PortConfig{"p", 2}));
  auto bad = ParseConfig(
      "{\"schema_version\": 1, \"bridges\": [{\"name\": \"b\", \"ports\": "
      "[{\"name\": \"p\", \"type\": \"patch\"}]}]}",
      "conf.json");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("no 'peer'"), std::string::npos) << bad.error().message;
}

TEST_F(ConfigStoreTest, UpdateIsAllOrNothing) {
  auto store = ConfigStore::Open(path_);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->SetSetting("a", "1"));
  auto failed = store->Update([](Config& config) -> Status {
    config.settings["a"] = "2";
    return Err("changed my mind");
  });
  ASSERT_FALSE(failed);
  EXPECT_EQ(store->GetSetting("a").value_or(""), "1");
  auto reopened = ConfigStore::Open(path_);
  EXPECT_EQ(reopened->GetSetting("a").value_or(""), "1");
}

}  // namespace
}  // namespace hsw::vswitchd
