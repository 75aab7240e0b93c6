// ConnManager over socketpairs and unix sockets with a fake Bridge and
// Switch, and against Debian's real ovs-ofctl when it is installed.
#include "ofproto/connmgr.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "testlib/temp_dir.h"

namespace hsw::ofproto {
namespace {

using namespace hsw::ofp;

class FakeBridge : public Bridge {
 public:
  const std::string& name() const override { return name_; }
  uint64_t datapath_id() const override { return 0x0000feedbeef0001ull; }

  OfResult FlowMod(const ofp::FlowMod& fm) override {
    flow_mods.push_back(fm);
    if (fail_next) {
      fail_next = false;
      return tl::unexpected(OfpError{err::kFlowModFailed, err::kFlowModTableFull, "full"});
    }
    if (fm.command == FlowModCommand::kAdd) {
      FlowStats fs;
      fs.table_id = fm.table_id;
      fs.priority = fm.priority;
      fs.cookie = fm.cookie;
      fs.idle_timeout = fm.idle_timeout;
      fs.match = fm.match;
      fs.instructions = fm.instructions;
      fs.packet_count = 3;
      fs.byte_count = 180;
      flows.push_back(fs);
    } else if (fm.command == FlowModCommand::kDelete) {
      flows.clear();
    }
    return {};
  }
  OfResult FlowModBatch(const std::vector<ofp::FlowMod>& fms) override {
    for (const auto& fm : fms) {
      auto r = FlowMod(fm);
      if (!r) return r;
    }
    return {};
  }
  std::vector<FlowStats> DumpFlows(const FlowStatsRequest& req) const override {
    std::vector<FlowStats> out;
    for (const auto& f : flows) {
      if (req.table_id == kTableAll || req.table_id == f.table_id) out.push_back(f);
    }
    return out;
  }
  AggregateStats Aggregate(const FlowStatsRequest&) const override {
    return AggregateStats{3 * flows.size(), 180 * flows.size(),
                          static_cast<uint32_t>(flows.size())};
  }
  std::vector<TableStats> GetTableStats() const override {
    std::vector<TableStats> out(kNumTables);
    for (unsigned i = 0; i < kNumTables; ++i) out[i].table_id = static_cast<uint8_t>(i);
    out[0].active_count = static_cast<uint32_t>(flows.size());
    return out;
  }
  std::vector<PortDesc> GetPortDescs() const override {
    PortDesc a, b;
    a.port_no = 1;
    a.name = "veth-a";
    a.hw_addr[5] = 1;
    b.port_no = 2;
    b.name = "veth-b";
    b.hw_addr[5] = 2;
    return {a, b};
  }
  std::vector<PortStats> GetPortStats(uint32_t port_no) const override {
    PortStats s;
    s.port_no = 1;
    s.rx_packets = 11;
    return {s};
  }
  OfResult PacketOut(const ofp::PacketOut& po) override {
    packet_outs.push_back(po);
    return {};
  }
  std::vector<ofp::FlowMod> SnapshotFlowMods() const override { return flow_mods; }
  std::vector<PortView> ListPorts() const override { return {}; }
  std::optional<uint32_t> FindOfport(const std::string&) const override { return std::nullopt; }
  size_t n_rules() const override { return flows.size(); }
  void AddListener(BridgeListener* l) override { listener = l; }
  void RemoveListener(BridgeListener* l) override {
    if (listener == l) listener = nullptr;
  }
  std::string Trace(const FlowKey&) override { return ""; }

  std::string name_ = "br0";
  std::vector<ofp::FlowMod> flow_mods;
  std::vector<ofp::PacketOut> packet_outs;
  std::vector<FlowStats> flows;
  bool fail_next = false;
  BridgeListener* listener = nullptr;
};

class FakeSwitch : public Switch {
 public:
  Status AddBridge(const std::string&, uint64_t) override { return Ok(); }
  Status DeleteBridge(const std::string&) override { return Ok(); }
  Bridge* FindBridge(const std::string&) override { return nullptr; }
  std::vector<std::string> BridgeNames() const override { return {}; }
  Result<uint32_t> AddPort(const std::string&, const std::string&, uint32_t) override { return 1u; }
  Status DeletePort(const std::string&, const std::string&) override { return Ok(); }
  void Sync() override { ++syncs; }
  void SetTablesLoaded(bool loaded) override { tables_loaded_ = loaded; }
  bool tables_loaded() const override { return tables_loaded_; }
  void SetTableChangeObserver(TableChangeObserver) override {}
  void DrainUpcallsForExit() override {}
  bool datapath_connected() const override { return true; }
  const dpif::HelloReply& datapath_hello() const override { return hello_; }
  Result<DatapathReconciliation> Reconnect(std::unique_ptr<dpif::Dpif>) override {
    return Err("not a real switch");
  }
  dpif::HelloReply hello_;
  std::vector<std::pair<std::string, uint64_t>> Counters() const override { return {}; }
  int syncs = 0;
  bool tables_loaded_ = true;
};

// The controller side of a connection, pumping the switch's event loop
// while it waits.
class Client {
 public:
  Client(EventLoop& loop, UniqueFd fd) : loop_(loop), fd_(std::move(fd)) {
    (void)SetNonBlocking(fd_.get());
  }
  void SendRaw(const std::vector<uint8_t>& bytes) {
    ASSERT_TRUE(WriteAll(fd_.get(), bytes.data(), bytes.size()));
  }
  void Send(const OfpMessage& m) { SendRaw(Encode(m)); }
  // The next message from the switch, or nullopt after `timeout_ms`.
  std::optional<OfpMessage> Receive(int timeout_ms = 2000) {
    for (int waited = 0; waited <= timeout_ms; waited += 5) {
      auto next = in_.Next();
      if (!next) return std::nullopt;
      if (!next->empty()) {
        auto m = Decode(*next);
        EXPECT_TRUE(m.has_value()) << m.error().detail;
        if (!m) return std::nullopt;
        return *m;
      }
      loop_.RunOnce(5);
      uint8_t buf[65536];
      ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (n > 0) in_.Feed(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
      if (n == 0) eof_ = true;
    }
    return std::nullopt;
  }
  template <class T>
  T ReceiveAs(uint32_t xid) {
    auto m = Receive();
    EXPECT_TRUE(m.has_value());
    if (!m) return T{};
    EXPECT_EQ(m->xid, xid) << FormatMessage(*m);
    const T* body = std::get_if<T>(&m->body);
    EXPECT_NE(body, nullptr) << FormatMessage(*m);
    return body ? *body : T{};
  }
  // Completes the handshake as a peer that speaks `version` only (what
  // `ovs-ofctl -O OpenFlow13` does), checking the switch offered `offered`.
  void Handshake(uint8_t version = kVersion13, uint32_t offered = kSupportedVersions) {
    auto hello = Receive();
    ASSERT_TRUE(hello.has_value());
    ASSERT_TRUE(std::holds_alternative<Hello>(hello->body));
    EXPECT_EQ(std::get<Hello>(hello->body).version_bitmap, offered);
    EXPECT_EQ(hello->version, HelloVersion(offered));
    Send(OfpMessage{version, 1, Hello{1u << version}});
  }
  // True once the switch has closed its end.
  bool WaitClosed(int timeout_ms = 2000) {
    for (int waited = 0; waited <= timeout_ms && !eof_; waited += 5) {
      loop_.RunOnce(5);
      uint8_t buf[65536];
      ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (n > 0) in_.Feed(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
      if (n == 0) eof_ = true;
    }
    return eof_;
  }

 private:
  EventLoop& loop_;
  UniqueFd fd_;
  StreamSplitter in_;
  bool eof_ = false;
};

class ConnManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto mgr = ConnManager::Create(loop_, switch_, bridge_, "");
    ASSERT_TRUE(mgr) << mgr.error().ToString();
    mgr_ = std::move(*mgr);
  }
  Client Connect(ConnOrigin origin = ConnOrigin::kManagement) {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    mgr_->AdoptConnection(UniqueFd(sv[0]), "test", origin);
    return Client(loop_, UniqueFd(sv[1]));
  }

  EventLoop loop_;
  FakeSwitch switch_;
  FakeBridge bridge_;
  std::unique_ptr<ConnManager> mgr_;
};

TEST_F(ConnManagerTest, HandshakeAndBasicRequests) {
  EXPECT_EQ(bridge_.listener, mgr_.get());
  Client c = Connect();
  c.Handshake();
  c.Send(OfpMessage{kVersion13, 2, EchoRequest{{7, 7}}});
  EXPECT_EQ(c.ReceiveAs<EchoReply>(2).data, (std::vector<uint8_t>{7, 7}));
  c.Send(OfpMessage{kVersion13, 3, FeaturesRequest{}});
  auto f = c.ReceiveAs<FeaturesReply>(3);
  EXPECT_EQ(f.datapath_id, 0x0000feedbeef0001ull);
  EXPECT_EQ(f.n_tables, 254);
  c.Send(OfpMessage{kVersion13, 4, SetConfig{{0, 0xffff}}});
  c.Send(OfpMessage{kVersion13, 5, GetConfigRequest{}});
  EXPECT_EQ(c.ReceiveAs<GetConfigReply>(5).config.miss_send_len, 0xffff);
  c.Send(OfpMessage{kVersion13, 6, RoleRequest{kRoleMaster, 1}});
  EXPECT_EQ(c.ReceiveAs<RoleReply>(6).role, kRoleMaster);
  auto conns = mgr_->Connections();
  ASSERT_EQ(conns.size(), 1u);
  EXPECT_EQ(conns[0].name, "br0<->test");
  EXPECT_TRUE(conns[0].connected);
  EXPECT_EQ(conns[0].version, kVersion13);
}

TEST_F(ConnManagerTest, FlowModThenBarrierSyncsFirst) {
  Client c = Connect();
  c.Handshake();
  FlowMod fm;
  fm.priority = 7;
  fm.instructions.apply = {ActOutput{2, 0}};
  c.Send(OfpMessage{kVersion13, 10, fm});
  c.Send(OfpMessage{kVersion13, 11, BarrierRequest{}});
  c.ReceiveAs<BarrierReply>(11);
  ASSERT_EQ(bridge_.flow_mods.size(), 1u);
  EXPECT_EQ(bridge_.flow_mods[0].priority, 7);
  EXPECT_EQ(switch_.syncs, 1);

  // A failing flow mod gets the bridge's error, with the request's xid.
  bridge_.fail_next = true;
  c.Send(OfpMessage{kVersion13, 12, fm});
  auto e = c.ReceiveAs<ErrorMsg>(12);
  EXPECT_EQ(e.type, err::kFlowModFailed);
  EXPECT_EQ(e.code, err::kFlowModTableFull);
  EXPECT_EQ(e.data.size(), 64u);

  // A codec error (tcp_dst without ip_proto) never reaches the bridge.
  FlowMod bad;
  FieldValue port = FieldValue::FromUint(80, 2);
  WriteField(bad.match.key, FieldId::kTcpDst, port);
  SetFieldMask(bad.match.mask, FieldId::kTcpDst);
  auto bytes = Encode(OfpMessage{kVersion13, 13, bad});
  // EncodeMatch leaves out fields whose prerequisites are missing, so write
  // the OXM by hand: replace the empty match with one holding tcp_dst.
  FlowMod empty;
  auto raw = Encode(OfpMessage{kVersion13, 13, empty});
  std::vector<uint8_t> msg(raw.begin(), raw.begin() + 48);
  for (uint8_t b : {0, 1, 0, 10, 0x80, 0, 0x1c, 2, 0, 80, 0, 0, 0, 0, 0, 0}) msg.push_back(b);
  msg[3] = static_cast<uint8_t>(msg.size());
  c.SendRaw(msg);
  auto prereq = c.ReceiveAs<ErrorMsg>(13);
  EXPECT_EQ(prereq.type, err::kBadMatch);
  EXPECT_EQ(prereq.code, err::kBadMatchBadPrereq);
  EXPECT_EQ(bridge_.flow_mods.size(), 2u);
}

TEST_F(ConnManagerTest, MultipartReplies) {
  Client c = Connect();
  c.Handshake();
  for (int i = 0; i < 2000; ++i) {
    FlowStats fs;
    fs.priority = static_cast<uint16_t>(i);
    fs.instructions.apply = {ActOutput{1, 0}};
    bridge_.flows.push_back(fs);
  }
  c.Send(OfpMessage{kVersion13, 20, MultipartRequest{0, FlowStatsRequest{}}});
  size_t total = 0;
  int n_messages = 0;
  for (;;) {
    auto reply = c.ReceiveAs<MultipartReply>(20);
    ++n_messages;
    total += std::get<std::vector<FlowStats>>(reply.body).size();
    if (!(reply.flags & mp::kFlagMore)) break;
    ASSERT_LT(n_messages, 100);
  }
  EXPECT_EQ(total, 2000u);
  EXPECT_GT(n_messages, 1);

  c.Send(OfpMessage{kVersion13, 21, MultipartRequest{0, AggregateRequest{}}});
  auto agg = c.ReceiveAs<MultipartReply>(21);
  EXPECT_EQ(std::get<AggregateStats>(agg.body).flow_count, 2000u);
  c.Send(OfpMessage{kVersion13, 22, MultipartRequest{0, PortDescRequest{}}});
  auto pd = c.ReceiveAs<MultipartReply>(22);
  EXPECT_EQ(std::get<std::vector<PortDesc>>(pd.body).size(), 2u);
  c.Send(OfpMessage{kVersion13, 23, MultipartRequest{0, TableStatsRequest{}}});
  auto ts = c.ReceiveAs<MultipartReply>(23);
  EXPECT_EQ(std::get<std::vector<TableStats>>(ts.body).size(), 254u);
  c.Send(OfpMessage{kVersion13, 24, MultipartRequest{0, PortStatsRequest{}}});
  auto ps = c.ReceiveAs<MultipartReply>(24);
  EXPECT_EQ(std::get<std::vector<PortStats>>(ps.body)[0].rx_packets, 11u);
  c.Send(OfpMessage{kVersion13, 25, MultipartRequest{0, DescRequest{}}});
  auto desc = c.ReceiveAs<MultipartReply>(25);
  EXPECT_EQ(std::get<DescStats>(desc.body).dp_desc, "br0");
}

TEST_F(ConnManagerTest, AsyncMessagesGoToHandshakenConnections) {
  Client a = Connect();
  a.Handshake();
  Client b = Connect();                  // never completes the handshake
  ASSERT_TRUE(b.Receive().has_value());  // its HELLO
  // Let the switch see a's HELLO.
  a.Send(OfpMessage{kVersion13, 30, BarrierRequest{}});
  a.ReceiveAs<BarrierReply>(30);

  PacketIn pi;
  pi.reason = kPacketInReasonNoMatch;
  pi.match.key.in_port = 1;
  pi.match.mask.in_port = ~0u;
  pi.data.assign(500, 0xab);
  pi.total_len = 500;
  ASSERT_NE(bridge_.listener, nullptr);
  bridge_.listener->OnPacketIn(pi);
  auto got = a.ReceiveAs<PacketIn>(0);
  // Default miss_send_len is 128.
  EXPECT_EQ(got.data.size(), 128u);
  EXPECT_EQ(got.total_len, 500);
  EXPECT_EQ(got.match.key.in_port, 1u);

  PortStatus st;
  st.reason = kPortStatusAdd;
  st.desc.port_no = 9;
  bridge_.listener->OnPortStatus(st);
  EXPECT_EQ(a.ReceiveAs<PortStatus>(0).desc.port_no, 9u);
  FlowRemoved fr;
  fr.cookie = 5;
  bridge_.listener->OnFlowRemoved(fr);
  EXPECT_EQ(a.ReceiveAs<FlowRemoved>(0).cookie, 5u);
  EXPECT_FALSE(b.Receive(100).has_value());
  EXPECT_EQ(mgr_->counters().packet_ins_sent, 1u);
}

TEST_F(ConnManagerTest, PeerThatStopsReadingLosesPacketInsNotTheDaemon) {
  Client c = Connect();
  c.Handshake();
  c.Send(OfpMessage{kVersion13, 31, SetConfig{{0, 0xffff}}});
  c.Send(OfpMessage{kVersion13, 32, BarrierRequest{}});
  c.ReceiveAs<BarrierReply>(32);
  // The client reads nothing from now on.
  PacketIn pi;
  pi.reason = kPacketInReasonNoMatch;
  pi.data.assign(1400, 0x11);
  for (int i = 0; i < 5000; ++i) {
    bridge_.listener->OnPacketIn(pi);
    loop_.RunOnce(0);
  }
  EXPECT_GT(mgr_->counters().packet_ins_dropped, 0u);
  EXPECT_LT(mgr_->counters().packet_ins_sent, 5000u);
  // Still connected, and it catches up once the client reads again.
  EXPECT_EQ(mgr_->Connections().size(), 1u);
  size_t n = 0;
  while (auto m = c.Receive(200)) {
    if (std::holds_alternative<PacketIn>(m->body)) ++n;
  }
  EXPECT_EQ(n, mgr_->counters().packet_ins_sent);
}

TEST_F(ConnManagerTest, BundleCommitsAllOrNothing) {
  Client c = Connect();
  c.Handshake();
  c.Send(OfpMessage{kVersion13, 80, BundleControl{7, bundle::kOpenRequest, 3}});
  auto open = c.ReceiveAs<BundleControl>(80);
  EXPECT_EQ(open.type, bundle::kOpenReply);
  EXPECT_EQ(open.bundle_id, 7u);
  FlowMod fm;
  fm.priority = 1;
  c.Send(OfpMessage{kVersion13, 81, BundleAdd{7, 3, Encode(OfpMessage{kVersion13, 81, fm})}});
  fm.priority = 2;
  c.Send(OfpMessage{kVersion13, 82, BundleAdd{7, 3, Encode(OfpMessage{kVersion13, 82, fm})}});
  // A bad bundled message is refused at once, with its own error.
  auto bad = Encode(OfpMessage{kVersion13, 83, fm});
  bad[25] = 9;  // command
  c.Send(OfpMessage{kVersion13, 83, BundleAdd{7, 3, bad}});
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(83).code, err::kFlowModBadCommand);
  // Only flow-mods can be bundled; adding to another id fails.
  c.Send(OfpMessage{kVersion13, 84,
                    BundleAdd{7, 3, Encode(OfpMessage{kVersion13, 84, BarrierRequest{}})}});
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(84).code, bundle::kErrMsgUnsup);
  c.Send(OfpMessage{kVersion13, 85, BundleAdd{8, 3, Encode(OfpMessage{kVersion13, 85, fm})}});
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(85).code, bundle::kErrBadId);
  EXPECT_TRUE(bridge_.flow_mods.empty()) << "nothing applied before the commit";
  int syncs = switch_.syncs;
  c.Send(OfpMessage{kVersion13, 86, BundleControl{7, bundle::kCommitRequest, 3}});
  EXPECT_EQ(c.ReceiveAs<BundleControl>(86).type, bundle::kCommitReply);
  ASSERT_EQ(bridge_.flow_mods.size(), 2u);
  EXPECT_EQ(bridge_.flow_mods[1].priority, 2);
  EXPECT_EQ(switch_.syncs, syncs + 1);

  // A failing batch: the bridge's error, then OFPBFC_MSG_FAILED.
  c.Send(OfpMessage{kVersion13, 90, BundleControl{9, bundle::kOpenRequest, 1}});
  c.ReceiveAs<BundleControl>(90);
  c.Send(OfpMessage{kVersion13, 91, BundleAdd{9, 1, Encode(OfpMessage{kVersion13, 91, fm})}});
  bridge_.fail_next = true;
  c.Send(OfpMessage{kVersion13, 92, BundleControl{9, bundle::kCommitRequest, 1}});
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(92).code, err::kFlowModTableFull);
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(92).code, bundle::kErrMsgFailed);
  // Discard drops a bundle; committing it afterwards is a bad id.
  c.Send(OfpMessage{kVersion13, 93, BundleControl{10, bundle::kOpenRequest, 1}});
  c.ReceiveAs<BundleControl>(93);
  c.Send(OfpMessage{kVersion13, 94, BundleControl{10, bundle::kDiscardRequest, 1}});
  EXPECT_EQ(c.ReceiveAs<BundleControl>(94).type, bundle::kDiscardReply);
  c.Send(OfpMessage{kVersion13, 95, BundleControl{10, bundle::kCommitRequest, 1}});
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(95).code, bundle::kErrBadId);
}

TEST_F(ConnManagerTest, PacketOut) {
  Client c = Connect();
  c.Handshake();
  PacketOut po;
  po.actions = {ActOutput{kPortTable, 0}};
  po.data = {1, 2, 3};
  c.Send(OfpMessage{kVersion13, 40, po});
  c.Send(OfpMessage{kVersion13, 41, BarrierRequest{}});
  c.ReceiveAs<BarrierReply>(41);
  ASSERT_EQ(bridge_.packet_outs.size(), 1u);
  EXPECT_EQ(bridge_.packet_outs[0].data, po.data);
  po.buffer_id = 5;
  c.Send(OfpMessage{kVersion13, 42, po});
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(42).code, err::kBadRequestBufferUnknown);
}

TEST_F(ConnManagerTest, SlaveCannotModify) {
  Client c = Connect();
  c.Handshake();
  c.Send(OfpMessage{kVersion13, 50, RoleRequest{kRoleSlave, 0}});
  c.ReceiveAs<RoleReply>(50);
  c.Send(OfpMessage{kVersion13, 51, FlowMod{}});
  auto e = c.ReceiveAs<ErrorMsg>(51);
  EXPECT_EQ(e.type, err::kBadRequest);
  EXPECT_EQ(e.code, 10);  // OFPBRC_IS_SLAVE
  EXPECT_TRUE(bridge_.flow_mods.empty());
}

// During flow-restore-wait, a connection that is not the management socket
// (a remote listener's or an active controller's) may not write; reads work.
void ExpectWritesRefused(Client& c, FakeBridge& bridge) {
  FlowMod fm;
  fm.priority = 3;
  c.Send(OfpMessage{kVersion13, 60, fm});
  auto e = c.ReceiveAs<ErrorMsg>(60);
  EXPECT_EQ(e.type, err::kFlowModFailed);
  EXPECT_EQ(e.code, err::kFlowModEperm);
  PacketOut po;
  po.actions = {ActOutput{1, 0}};
  po.data = {1, 2, 3};
  c.Send(OfpMessage{kVersion13, 61, po});
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(61).code, err::kBadRequestEperm);
  c.Send(OfpMessage{kVersion13, 62, BundleControl{4, bundle::kOpenRequest, 1}});
  c.ReceiveAs<BundleControl>(62);
  c.Send(OfpMessage{kVersion13, 63, BundleAdd{4, 1, Encode(OfpMessage{kVersion13, 63, fm})}});
  c.Send(OfpMessage{kVersion13, 64, BundleControl{4, bundle::kCommitRequest, 1}});
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(64).code, bundle::kErrEperm);
  c.Send(OfpMessage{kVersion13, 65, TlvTableMod{nx::kTlvAdd, {TlvMap{0x102, 1, 4, 0}}}});
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(65).code, err::kBadRequestEperm);
  EXPECT_TRUE(bridge.flow_mods.empty());
  EXPECT_TRUE(bridge.packet_outs.empty());
  // Reads still work.
  c.Send(OfpMessage{kVersion13, 66, BarrierRequest{}});
  c.ReceiveAs<BarrierReply>(66);
}

TEST_F(ConnManagerTest, RemoteWritesAreRefusedDuringFlowRestoreWait) {
  Client listener = Connect(ConnOrigin::kListener);
  listener.Handshake();
  Client controller = Connect(ConnOrigin::kController);
  controller.Handshake();
  switch_.SetTablesLoaded(false);
  ExpectWritesRefused(listener, bridge_);
  ExpectWritesRefused(controller, bridge_);
  EXPECT_EQ(mgr_->counters().refused_while_restoring, 8u);
  EXPECT_TRUE(mgr_->tlv_table().Reply().maps.empty());
  // Once the flag clears, writes work again.
  switch_.SetTablesLoaded(true);
  FlowMod fm;
  fm.priority = 3;
  listener.Send(OfpMessage{kVersion13, 67, fm});
  listener.Send(OfpMessage{kVersion13, 68, BarrierRequest{}});
  listener.ReceiveAs<BarrierReply>(68);
  ASSERT_EQ(bridge_.flow_mods.size(), 1u);
  EXPECT_EQ(bridge_.flow_mods[0].priority, 3);
}

// What ovs-save's restore does, during flow-restore-wait, on <bridge>.mgmt:
// add-tlv-map, add-groups --bundle (empty), replace-flows --bundle.
TEST_F(ConnManagerTest, ManagementSocketRestoresDuringFlowRestoreWait) {
  Client c = Connect(ConnOrigin::kManagement);
  c.Handshake(kVersion14);
  switch_.SetTablesLoaded(false);
  c.Send(OfpMessage{kVersion14, 70, TlvTableMod{nx::kTlvAdd, {TlvMap{0x102, 1, 4, 0}}}});
  c.Send(OfpMessage{kVersion14, 71, BarrierRequest{}});
  c.ReceiveAs<BarrierReply>(71);
  EXPECT_EQ(mgr_->tlv_table().Reply().maps.size(), 1u);
  // An empty bundle (add-groups of an empty file).
  c.Send(OfpMessage{kVersion14, 72, BundleControl{0, bundle::kOpenRequest, 3}});
  EXPECT_EQ(c.ReceiveAs<BundleControl>(72).type, bundle::kOpenReply);
  c.Send(OfpMessage{kVersion14, 73, BundleControl{0, bundle::kCommitRequest, 3}});
  EXPECT_EQ(c.ReceiveAs<BundleControl>(73).type, bundle::kCommitReply);
  // The flows.
  c.Send(OfpMessage{kVersion14, 74, BundleControl{1, bundle::kOpenRequest, 3}});
  c.ReceiveAs<BundleControl>(74);
  for (uint16_t p = 1; p <= 3; ++p) {
    FlowMod fm;
    fm.priority = p;
    c.Send(OfpMessage{kVersion14, 75u + p,
                      BundleAdd{1, 3, Encode(OfpMessage{kVersion14, 75u + p, fm})}});
  }
  c.Send(OfpMessage{kVersion14, 79, BarrierRequest{}});
  c.ReceiveAs<BarrierReply>(79);
  c.Send(OfpMessage{kVersion14, 80, BundleControl{1, bundle::kCommitRequest, 3}});
  EXPECT_EQ(c.ReceiveAs<BundleControl>(80).type, bundle::kCommitReply);
  ASSERT_EQ(bridge_.flow_mods.size(), 3u);
  EXPECT_EQ(bridge_.flow_mods[2].priority, 3);
  EXPECT_EQ(mgr_->counters().refused_while_restoring, 0u);
  EXPECT_FALSE(switch_.tables_loaded()) << "the restore does not end flow-restore-wait";
}

TEST_F(ConnManagerTest, TruncatedMessageGetsBadLenAndConnectionSurvives) {
  Client c = Connect();
  c.Handshake();
  // A FLOW_MOD whose header says 16 bytes: well framed, far too short.
  c.SendRaw({4, 14, 0, 16, 0, 0, 0, 60, 0, 0, 0, 0, 0, 0, 0, 0});
  auto e = c.ReceiveAs<ErrorMsg>(60);
  EXPECT_EQ(e.type, err::kBadRequest);
  EXPECT_EQ(e.code, err::kBadRequestBadLen);
  // An OpenFlow 1.0 message after negotiating 1.3.
  c.SendRaw({1, 5, 0, 8, 0, 0, 0, 61});
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(61).code, err::kBadRequestBadVersion);
  // A GROUP_MOD without its body.
  c.SendRaw({4, 15, 0, 8, 0, 0, 0, 62});
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(62).code, err::kBadRequestBadLen);
  // A well-formed 1.4 message on this 1.3 connection.
  c.Send(OfpMessage{kVersion14, 64, FeaturesRequest{}});
  auto wrong = c.ReceiveAs<ErrorMsg>(64);
  EXPECT_EQ(wrong.type, err::kBadRequest);
  EXPECT_EQ(wrong.code, err::kBadRequestBadVersion);
  // A message type that does not exist in 1.3 (OFPT_BUNDLE_CONTROL is 1.4's).
  c.SendRaw({4, 33, 0, 16, 0, 0, 0, 65, 0, 0, 0, 1, 0, 0, 0, 0});
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(65).code, err::kBadRequestBadType);
  c.Send(OfpMessage{kVersion13, 63, EchoRequest{}});
  c.ReceiveAs<EchoReply>(63);
  EXPECT_TRUE(bridge_.flow_mods.empty());
}

TEST_F(ConnManagerTest, GarbageClosesTheConnection) {
  Client c = Connect();
  c.Handshake();
  std::string garbage = "GET / HTTP/1.1\r\n\r\n";
  c.SendRaw(std::vector<uint8_t>(garbage.begin(), garbage.end()));
  // The xid is whatever bytes 4..7 of the garbage were (" / H").
  auto m = c.Receive();
  ASSERT_TRUE(m.has_value());
  const auto& e = std::get<ErrorMsg>(m->body);
  EXPECT_EQ(e.type, err::kBadRequest);
  EXPECT_EQ(e.code, err::kBadRequestBadVersion);
  EXPECT_EQ(std::string(e.data.begin(), e.data.end()), garbage);
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_TRUE(mgr_->Connections().empty());
  // The manager keeps serving others.
  Client d = Connect();
  d.Handshake();
  d.Send(OfpMessage{kVersion13, 70, EchoRequest{}});
  d.ReceiveAs<EchoReply>(70);
}

TEST_F(ConnManagerTest, LengthBelowHeaderClosesTheConnection) {
  Client c = Connect();
  c.Handshake();
  c.SendRaw({4, 2, 0, 4, 0, 0, 0, 1});
  // The reply echoes the bad header's xid and bytes.
  auto e = c.ReceiveAs<ErrorMsg>(1);
  EXPECT_EQ(e.data, (std::vector<uint8_t>{4, 2, 0, 4, 0, 0, 0, 1}));
  EXPECT_EQ(e.code, err::kBadRequestBadLen);
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(ConnManagerTest, VersionMismatchFailsHello) {
  Client c = Connect();
  ASSERT_TRUE(c.Receive().has_value());
  c.SendRaw({1, 0, 0, 8, 0, 0, 0, 9});  // OpenFlow 1.0 HELLO, no bitmap
  auto e = c.ReceiveAs<ErrorMsg>(9);
  EXPECT_EQ(e.type, err::kHelloFailed);
  EXPECT_EQ(e.code, err::kHelloIncompatible);
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(ConnManagerTest, RequestBeforeHelloFails) {
  Client c = Connect();
  ASSERT_TRUE(c.Receive().has_value());
  c.Send(OfpMessage{kVersion13, 8, FeaturesRequest{}});
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(8).type, err::kHelloFailed);
  EXPECT_TRUE(c.WaitClosed());
}

TEST(ConnManagerSockets, MgmtSocketAndActiveController) {
  EventLoop loop;
  FakeSwitch sw;
  FakeBridge bridge;
  testing::TempDir tmp("hsw-connmgr");
  const std::string& dir = tmp.path();
  {
    auto mgr = ConnManager::Create(loop, sw, bridge, dir);
    ASSERT_TRUE(mgr) << mgr.error().ToString();
    EXPECT_EQ((*mgr)->mgmt_path(), dir + "/br0.mgmt");
    auto fd = ConnectUnix(dir + "/br0.mgmt");
    ASSERT_TRUE(fd) << fd.error().ToString();
    Client c(loop, std::move(*fd));
    c.Handshake();
    c.Send(OfpMessage{kVersion13, 2, FeaturesRequest{}});
    c.ReceiveAs<FeaturesReply>(2);
    ASSERT_EQ((*mgr)->Connections().size(), 1u);
    EXPECT_EQ((*mgr)->Connections()[0].name, "br0<->unix#1");

    // Invalid targets change nothing.
    EXPECT_FALSE((*mgr)->SetControllers({"tcp:not-an-ip:6653"}));
    EXPECT_FALSE((*mgr)->SetControllers({"udp:1.2.3.4"}));
    EXPECT_FALSE((*mgr)->SetControllers({"ptcp:99999"}));
    EXPECT_TRUE((*mgr)->controllers().empty());

    // An active controller on a unix socket: the switch connects to us.
    std::string ctl_path = dir + "/ctl.sock";
    auto listener = ListenUnix(ctl_path);
    ASSERT_TRUE(listener);
    ASSERT_TRUE((*mgr)->SetControllers({"unix:" + ctl_path, "punix:" + dir + "/extra.sock"}));
    EXPECT_EQ((*mgr)->controllers().size(), 2u);
    int accepted = -1;
    for (int i = 0; i < 400 && accepted < 0; ++i) {
      loop.RunOnce(5);
      accepted = ::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC);
    }
    ASSERT_GE(accepted, 0);
    {
      Client ctl(loop, UniqueFd(accepted));
      ctl.Handshake();
      ctl.Send(OfpMessage{kVersion13, 5, EchoRequest{}});
      ctl.ReceiveAs<EchoReply>(5);
      bool has_controller = false;
      for (const auto& info : (*mgr)->Connections()) has_controller |= info.controller;
      EXPECT_TRUE(has_controller);
    }  // the controller hangs up: the switch reconnects after its backoff
    accepted = -1;
    for (int i = 0; i < 800 && accepted < 0; ++i) {
      loop.RunOnce(5);
      accepted = ::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC);
    }
    EXPECT_GE(accepted, 0) << "no reconnect";
    if (accepted >= 0) ::close(accepted);

    // The extra punix listener works too.
    auto extra = ConnectUnix(dir + "/extra.sock");
    ASSERT_TRUE(extra);
    Client e(loop, std::move(*extra));
    e.Handshake();

    // Removing the targets stops them.
    ASSERT_TRUE((*mgr)->SetControllers({}));
    EXPECT_TRUE((*mgr)->controllers().empty());
    EXPECT_FALSE(std::filesystem::exists(dir + "/extra.sock"));
  }
  // The management socket is removed with the manager.
  EXPECT_FALSE(std::filesystem::exists(dir + "/br0.mgmt"));
}

TEST(ConnManagerSockets, PassiveTcp) {
  EventLoop loop;
  FakeSwitch sw;
  FakeBridge bridge;
  auto mgr = ConnManager::Create(loop, sw, bridge, "");
  ASSERT_TRUE(mgr);
  uint16_t port = static_cast<uint16_t>(20000 + getpid() % 20000);
  auto set = (*mgr)->SetControllers({fmt::format("ptcp:{}:127.0.0.1", port)});
  if (!set) GTEST_SKIP() << set.error().ToString();
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  Client c(loop, std::move(fd));
  c.Handshake();
  c.Send(OfpMessage{kVersion13, 3, FeaturesRequest{}});
  c.ReceiveAs<FeaturesReply>(3);
  ASSERT_EQ((*mgr)->Connections().size(), 1u);
  EXPECT_EQ((*mgr)->Connections()[0].name.rfind("br0<->tcp:127.0.0.1:", 0), 0u);
  EXPECT_FALSE((*mgr)->Connections()[0].controller);
  EXPECT_EQ((*mgr)->counters().accepted, 1u);
}

// --- Against the real ovs-ofctl. ---

struct RunResult {
  int status = -1;
  std::string output;
};

// Runs a command while pumping `loop`, so the switch answers it.
RunResult RunPumping(EventLoop& loop, const std::vector<std::string>& argv) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    ::dup2(pipefd[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    _exit(127);
  }
  ::close(pipefd[1]);
  (void)SetNonBlocking(pipefd[0]);
  RunResult r;
  for (int i = 0; i < 2000; ++i) {
    loop.RunOnce(5);
    char buf[4096];
    ssize_t n;
    while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) r.output.append(buf, n);
    int status;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) r.output.append(buf, n);
      r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      ::close(pipefd[0]);
      return r;
    }
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  ::close(pipefd[0]);
  r.output += "\n(timed out)";
  return r;
}

TEST(ConnManagerOvsOfctl, AddDumpAndErrors) {
  const std::string ofctl = "/usr/bin/ovs-ofctl";
  if (::access(ofctl.c_str(), X_OK) != 0) GTEST_SKIP() << "ovs-ofctl is not installed";
  EventLoop loop;
  FakeSwitch sw;
  FakeBridge bridge;
  testing::TempDir tmp("hsw-connmgr");  // before mgr: outlives its socket
  const std::string& dir = tmp.path();
  auto mgr = ConnManager::Create(loop, sw, bridge, dir);
  ASSERT_TRUE(mgr) << mgr.error().ToString();
  std::string target = "unix:" + (*mgr)->mgmt_path();

  auto r = RunPumping(loop, {ofctl, "-O", "OpenFlow13", "add-flow", target,
                             "table=0,priority=100,cookie=0x7,ip,in_port=1,nw_dst=10.0.0.0/24,"
                             "actions=mod_dl_dst:00:00:00:00:00:02,output:2"});
  ASSERT_EQ(r.status, 0) << r.output;
  ASSERT_EQ(bridge.flow_mods.size(), 1u);
  const auto& fm = bridge.flow_mods[0];
  EXPECT_EQ(fm.priority, 100);
  EXPECT_EQ(fm.cookie, 7u);
  EXPECT_EQ(fm.match.key.in_port, 1u);
  EXPECT_EQ(fm.match.key.eth_type, 0x0800);
  EXPECT_EQ(fm.match.key.ipv4_dst[0], 10);
  EXPECT_EQ(fm.match.mask.ipv4_dst[3], 0);
  ASSERT_EQ(fm.instructions.apply.size(), 2u);
  EXPECT_EQ(std::get<ActOutput>(fm.instructions.apply[1]).port, 2u);
  EXPECT_GE(sw.syncs, 1);  // ovs-ofctl ends with a barrier

  r = RunPumping(loop, {ofctl, "-O", "OpenFlow13", "dump-flows", target});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("cookie=0x7"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("n_packets=3, n_bytes=180"), std::string::npos) << r.output;
  // OVS prints OpenFlow 1.3 set-field actions as set_field, as it does for its own switch.
  EXPECT_NE(r.output.find("priority=100,ip,in_port=1,nw_dst=10.0.0.0/24 "
                          "actions=set_field:00:00:00:00:00:02->eth_dst,output:2"),
            std::string::npos)
      << r.output;

  r = RunPumping(loop, {ofctl, "-O", "OpenFlow13", "dump-aggregate", target});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("flow_count=1"), std::string::npos) << r.output;
  r = RunPumping(loop, {ofctl, "-O", "OpenFlow13", "show", target});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("dpid:0000feedbeef0001"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("veth-b"), std::string::npos) << r.output;
  r = RunPumping(loop, {ofctl, "-O", "OpenFlow13", "dump-ports", target});
  EXPECT_EQ(r.status, 0) << r.output;
  r = RunPumping(loop, {ofctl, "-O", "OpenFlow13", "dump-tables", target});
  EXPECT_EQ(r.status, 0) << r.output;
  r = RunPumping(loop, {ofctl, "-O", "OpenFlow13", "dump-desc", target});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("br0"), std::string::npos) << r.output;

  // A group action is refused with the OpenFlow error ovs-ofctl prints.
  r = RunPumping(loop, {ofctl, "-O", "OpenFlow13", "add-flow", target, "actions=group:1"});
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("OFPBAC_BAD_TYPE"), std::string::npos) << r.output;
  EXPECT_EQ(bridge.flow_mods.size(), 1u);

  // Without -O OpenFlow13 the versions do not meet.
  r = RunPumping(loop, {ofctl, "dump-flows", target});
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("version negotiation failed"), std::string::npos) << r.output;

  // An atomic bundle, as hsw-ctl restore (and users) will send it.
  std::string flows_file = dir + "/flows.txt";
  {
    FILE* f = fopen(flows_file.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs("priority=1,in_port=1,actions=output:2\npriority=2,in_port=2,actions=output:1\n", f);
    fclose(f);
  }
  size_t before = bridge.flow_mods.size();
  r = RunPumping(loop, {ofctl, "-O", "OpenFlow13", "--bundle", "add-flows", target, flows_file});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(bridge.flow_mods.size(), before + 2);

  r = RunPumping(loop, {ofctl, "-O", "OpenFlow13", "del-flows", target});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(bridge.flows.empty());
  mgr->reset();
}

TEST_F(ConnManagerTest, NegotiatesOpenFlow14AndAnswersInIt) {
  Client c = Connect();
  c.Handshake(kVersion14);
  c.Send(OfpMessage{kVersion14, 2, FeaturesRequest{}});
  auto m = c.Receive();
  ASSERT_TRUE(m);
  ASSERT_EQ(mgr_->Connections().size(), 1u);
  EXPECT_EQ(mgr_->Connections()[0].version, kVersion14);
  EXPECT_EQ(m->version, kVersion14);
  EXPECT_EQ(std::get<FeaturesReply>(m->body).datapath_id, 0x0000feedbeef0001ull);
  // Port descriptions in the 1.4 layout (the client's Decode reads 1.4's).
  MultipartRequest req;
  req.body = PortDescRequest{};
  c.Send(OfpMessage{kVersion14, 3, req});
  auto reply = c.ReceiveAs<MultipartReply>(3);
  const auto& ports = std::get<std::vector<PortDesc>>(reply.body);
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(ports[1].name, "veth-b");
  req.body = PortStatsRequest{kPortAny};
  c.Send(OfpMessage{kVersion14, 4, req});
  auto stats = c.ReceiveAs<MultipartReply>(4);
  EXPECT_EQ(std::get<std::vector<PortStats>>(stats.body).at(0).rx_packets, 11u);
  // A 1.3 message on the 1.4 connection is refused.
  c.Send(OfpMessage{kVersion13, 5, FeaturesRequest{}});
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(5).code, err::kBadRequestBadVersion);
  // A peer HELLO without a bitmap: the lower of the two versions.
  Client old = Connect();
  old.Receive();
  old.Send(OfpMessage{kVersion13, 1, Hello{0}});
  old.Send(OfpMessage{kVersion13, 6, BarrierRequest{}});
  old.ReceiveAs<BarrierReply>(6);
  ASSERT_EQ(mgr_->Connections().size(), 2u);
  EXPECT_EQ(mgr_->Connections()[1].version, kVersion13);
}

TEST_F(ConnManagerTest, AllowedVersionsLimitNegotiation) {
  Client v14 = Connect();
  v14.Handshake(kVersion14);
  // Bad sets change nothing.
  EXPECT_FALSE(mgr_->SetAllowedVersions(0));
  EXPECT_FALSE(mgr_->SetAllowedVersions(1u << kVersion10 | 1u << kVersion13));
  auto bad = mgr_->SetProtocols({"OpenFlow13", "OpenFlow15"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().ToString().find("OpenFlow15"), std::string::npos);
  EXPECT_EQ(mgr_->allowed_versions(), kSupportedVersions);
  // The Bridge protocols column of the OVSDB: ["OpenFlow13"].  The 1.4
  // connection no longer fits and is closed; new ones are offered 1.3.
  ASSERT_TRUE(mgr_->SetProtocols({"OpenFlow13"}));
  EXPECT_EQ(mgr_->allowed_versions(), 1u << kVersion13);
  EXPECT_TRUE(v14.WaitClosed());
  Client v13 = Connect();
  v13.Handshake(kVersion13, 1u << kVersion13);
  v13.Send(OfpMessage{kVersion13, 7, BarrierRequest{}});
  v13.ReceiveAs<BarrierReply>(7);
  // A 1.4-only peer (ovs-ofctl -O OpenFlow14) gets HELLO_FAILED and is closed.
  Client only14 = Connect();
  only14.Receive();
  only14.Send(OfpMessage{kVersion14, 1, Hello{1u << kVersion14}});
  auto e = only14.ReceiveAs<ErrorMsg>(1);
  EXPECT_EQ(e.type, err::kHelloFailed);
  EXPECT_EQ(e.code, err::kHelloIncompatible);
  EXPECT_TRUE(only14.WaitClosed());
  // Back to the default: [] means every version hsw implements.
  ASSERT_TRUE(mgr_->SetProtocols({}));
  Client again = Connect();
  again.Handshake(kVersion14);
  again.Send(OfpMessage{kVersion14, 8, BarrierRequest{}});
  again.ReceiveAs<BarrierReply>(8);
}

TEST_F(ConnManagerTest, OpenFlow14Bundles) {
  Client c = Connect();
  c.Handshake(kVersion14);
  c.Send(OfpMessage{kVersion14, 10, BundleControl{5, bundle::kOpenRequest, 3}});
  auto open = c.Receive();
  ASSERT_TRUE(open);
  EXPECT_EQ(open->type(), msg::kBundleControl);
  EXPECT_EQ(std::get<BundleControl>(open->body).type, bundle::kOpenReply);
  FlowMod fm;
  fm.priority = 9;
  c.Send(OfpMessage{kVersion14, 11, BundleAdd{5, 3, Encode(OfpMessage{kVersion14, 11, fm})}});
  // Flags differing from the open's, a 1.3 message inside, a non-flow-mod:
  // each refused with its own error, in 1.4's numbering.
  c.Send(OfpMessage{kVersion14, 12, BundleAdd{5, 1, Encode(OfpMessage{kVersion14, 12, fm})}});
  auto flags = c.ReceiveAs<ErrorMsg>(12);
  EXPECT_EQ(flags.type, err::kBundleFailed);
  EXPECT_EQ(flags.code, bundle::kErrBadFlags - bundle::kErrOnfBase);
  c.Send(OfpMessage{kVersion14, 13, BundleAdd{5, 3, Encode(OfpMessage{kVersion13, 13, fm})}});
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(13).code, err::kBadRequestBadVersion);
  c.Send(OfpMessage{kVersion14, 14,
                    BundleAdd{5, 3, Encode(OfpMessage{kVersion14, 14, BarrierRequest{}})}});
  auto unsup = c.ReceiveAs<ErrorMsg>(14);
  EXPECT_EQ(unsup.type, err::kBundleFailed);
  EXPECT_EQ(unsup.code, 10);  // OFPBFC_MSG_UNSUP
  // A flow-mod that cannot be valid (goto_table backwards) is refused at add.
  FlowMod back = fm;
  back.table_id = 3;
  back.instructions.goto_table = 1;
  auto back_bytes = Encode(OfpMessage{kVersion14, 15, back});
  c.Send(OfpMessage{kVersion14, 15, BundleAdd{5, 3, back_bytes}});
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(15).type, err::kBadInstruction);
  // Unknown open flags.
  c.Send(OfpMessage{kVersion14, 16, BundleControl{6, bundle::kOpenRequest, 4}});
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(16).type, err::kBundleFailed);
  EXPECT_TRUE(bridge_.flow_mods.empty());
  c.Send(OfpMessage{kVersion14, 17, BundleControl{5, bundle::kCommitRequest, 3}});
  EXPECT_EQ(c.ReceiveAs<BundleControl>(17).type, bundle::kCommitReply);
  ASSERT_EQ(bridge_.flow_mods.size(), 1u);
  EXPECT_EQ(bridge_.flow_mods[0].priority, 9);
  // A failing commit: the bridge's error, then OFPBFC_MSG_FAILED (17, 13).
  c.Send(OfpMessage{kVersion14, 20, BundleControl{6, bundle::kOpenRequest, 3}});
  c.ReceiveAs<BundleControl>(20);
  c.Send(OfpMessage{kVersion14, 21, BundleAdd{6, 3, Encode(OfpMessage{kVersion14, 21, fm})}});
  bridge_.fail_next = true;
  c.Send(OfpMessage{kVersion14, 22, BundleControl{6, bundle::kCommitRequest, 3}});
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(22).code, err::kFlowModTableFull);
  auto failed = c.ReceiveAs<ErrorMsg>(22);
  EXPECT_EQ(failed.type, err::kBundleFailed);
  EXPECT_EQ(failed.code, 13);
}

TEST_F(ConnManagerTest, TlvTableAsOvsDoesIt) {
  Client c = Connect();
  c.Handshake(kVersion14);
  auto mod = [&](uint32_t xid, uint16_t command, std::vector<TlvMap> maps) {
    c.Send(OfpMessage{kVersion14, xid, TlvTableMod{command, std::move(maps)}});
    c.Send(OfpMessage{kVersion14, xid + 1000, BarrierRequest{}});
    auto m = c.Receive();
    if (m && std::holds_alternative<ErrorMsg>(m->body)) {
      EXPECT_EQ(m->xid, xid);
      c.ReceiveAs<BarrierReply>(xid + 1000);
      return std::optional<ErrorMsg>(std::get<ErrorMsg>(m->body));
    }
    EXPECT_TRUE(m && std::holds_alternative<BarrierReply>(m->body));
    return std::optional<ErrorMsg>();
  };
  auto dump = [&](uint32_t xid) {
    c.Send(OfpMessage{kVersion14, xid, TlvTableRequest{}});
    return c.ReceiveAs<TlvTableReply>(xid);
  };
  // add-tlv-map BR '' succeeds and maps nothing.
  EXPECT_FALSE(mod(1, nx::kTlvAdd, {}));
  EXPECT_TRUE(dump(2).maps.empty());
  EXPECT_EQ(dump(3).max_option_space, 256u);
  EXPECT_EQ(dump(4).max_fields, 64);
  EXPECT_FALSE(mod(5, nx::kTlvAdd, {TlvMap{0xffff, 1, 4, 0}, TlvMap{0x102, 0x80, 8, 5}}));
  auto table = dump(6);
  ASSERT_EQ(table.maps.size(), 2u);
  EXPECT_EQ(table.maps[1], (TlvMap{0x102, 0x80, 8, 5}));
  // Re-adding the identical mapping: OVS says ALREADY_MAPPED, so does hsw.
  auto again = mod(7, nx::kTlvAdd, {TlvMap{0xffff, 1, 4, 0}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->type, 0xffff);
  EXPECT_EQ(again->code, nx::kErrAlreadyMapped);
  ASSERT_GE(again->data.size(), 4u);
  EXPECT_EQ(std::vector<uint8_t>(again->data.begin(), again->data.begin() + 4),
            (std::vector<uint8_t>{0x00, 0x00, 0x23, 0x20}))
      << "the Nicira experimenter id";
  // The same option at another index; all-or-nothing (the first map of the
  // mod would have fit, but nothing is added).
  auto dup = mod(8, nx::kTlvAdd, {TlvMap{0x103, 1, 4, 1}, TlvMap{0x102, 0x80, 4, 2}});
  ASSERT_TRUE(dup);
  EXPECT_EQ(dup->code, nx::kErrDupEntry);
  EXPECT_EQ(dump(9).maps.size(), 2u);
  // 256 bytes of options at most (12 used, 2 x 124 more do not fit).
  auto full = mod(10, nx::kTlvAdd, {TlvMap{0x200, 1, 124, 10}, TlvMap{0x200, 2, 124, 11}});
  ASSERT_TRUE(full);
  EXPECT_EQ(full->code, nx::kErrTableFull);
  EXPECT_EQ(dump(11).maps.size(), 2u);
  // Delete (an unmapped index is no error), then clear.
  EXPECT_FALSE(mod(12, nx::kTlvDelete, {TlvMap{0, 0, 0, 5}, TlvMap{0, 0, 0, 9}}));
  EXPECT_EQ(dump(13).maps.size(), 1u);
  EXPECT_FALSE(mod(14, nx::kTlvClear, {}));
  EXPECT_TRUE(dump(15).maps.empty());
  // Decoder errors come back too, and a slave may not change the table.
  c.SendRaw({5, 4, 0, 24, 0, 0, 0, 16, 0, 0, 0x23, 0x20, 0, 0, 0, 24, 0, 7, 0, 0, 0, 0, 0, 0});
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(16).code, nx::kErrBadCommand);
  c.Send(OfpMessage{kVersion14, 17, RoleRequest{kRoleSlave, 0}});
  c.ReceiveAs<RoleReply>(17);
  auto slave = mod(18, nx::kTlvAdd, {TlvMap{0xffff, 1, 4, 0}});
  ASSERT_TRUE(slave);
  EXPECT_EQ(slave->code, 10);  // OFPBRC_IS_SLAVE
  EXPECT_TRUE(mgr_->tlv_table().Reply().maps.empty());
}

TEST_F(ConnManagerTest, NoGroupsYet) {
  Client c = Connect();
  c.Handshake(kVersion14);
  // dump-groups: an empty GROUP_DESC reply.
  MultipartRequest req;
  req.body = GroupDescRequest{};
  c.Send(OfpMessage{kVersion14, 30, req});
  auto reply = c.ReceiveAs<MultipartReply>(30);
  EXPECT_TRUE(std::get<GroupDescReply>(reply.body).entries.empty());
  // add-group: a proper error, not a silent accept.
  GroupMod add{kGroupAdd, 0, 1, {}};
  c.Send(OfpMessage{kVersion14, 31, add});
  auto e = c.ReceiveAs<ErrorMsg>(31);
  EXPECT_EQ(e.type, err::kGroupModFailed);
  EXPECT_EQ(e.code, err::kGroupModOutOfGroups);
  GroupMod modify{kGroupModify, 0, 1, {}};
  c.Send(OfpMessage{kVersion14, 32, modify});
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(32).code, err::kGroupModUnknownGroup);
  // del-groups: nothing to delete is no error.
  GroupMod del{kGroupDelete, 0, 0xfffffffc, {}};
  c.Send(OfpMessage{kVersion14, 33, del});
  c.Send(OfpMessage{kVersion14, 34, BarrierRequest{}});
  c.ReceiveAs<BarrierReply>(34);
  // add-groups --bundle with a group: refused at add, with the group-mod's xid.
  c.Send(OfpMessage{kVersion14, 35, BundleControl{1, bundle::kOpenRequest, 3}});
  c.ReceiveAs<BundleControl>(35);
  c.Send(OfpMessage{kVersion14, 36, BundleAdd{1, 3, Encode(OfpMessage{kVersion14, 36, add})}});
  EXPECT_EQ(c.ReceiveAs<ErrorMsg>(36).code, err::kGroupModOutOfGroups);
  c.Send(OfpMessage{kVersion14, 37, BundleControl{1, bundle::kDiscardRequest, 3}});
  EXPECT_EQ(c.ReceiveAs<BundleControl>(37).type, bundle::kDiscardReply);
}

}  // namespace
}  // namespace hsw::ofproto
