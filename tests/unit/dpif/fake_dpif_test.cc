#include "dpif/fake_dpif.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <cerrno>

#include "dpif/dpif_codec.h"

namespace hsw::dpif {
namespace {

FlowKey Key(uint32_t in_port, uint8_t last_ip) {
  FlowKey k = FlowKey::Zero();
  k.in_port = in_port;
  k.eth_type = kEthTypeIpv4;
  k.ipv4_dst[0] = 10;
  k.ipv4_dst[3] = last_ip;
  k.tp_dst = 80;
  return k;
}

FlowKey InPortMask() {
  FlowKey m = FlowKey::Zero();
  m.in_port = 0xffffffff;
  return m;
}

bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

TEST(FakeDpif, Ports) {
  FakeDpif dp;
  EXPECT_EQ(*dp.PortAdd("veth0", 0), 1u);
  EXPECT_EQ(*dp.PortAdd("veth1", 5), 5u);
  EXPECT_EQ(*dp.PortAdd("veth2", 0), 2u);
  auto dup = dp.PortAdd("veth0", 0);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, EEXIST);
  EXPECT_EQ(dp.PortAdd("veth9", 5).error().code, EEXIST);
  auto list = dp.PortList();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[2].name, "veth1");
  EXPECT_TRUE(dp.PortDel(5));
  EXPECT_EQ(dp.PortDel(5).error().code, ENOENT);
  EXPECT_EQ(dp.CountCalls(MsgType::kPortAdd), 5u);
  EXPECT_EQ(dp.CountCalls(MsgType::kPortDel), 2u);
  EXPECT_EQ(std::get<PortAdd>(dp.calls()[1]).port_no, 5u);
}

TEST(FakeDpif, PutRulesMatchTheDatapath) {
  FakeDpif dp;
  std::vector<dpif::FlowPut> puts = {
      {Key(1, 1), InPortMask(), {DpOutput{2}}, kPutCreate},
      {Key(1, 2), InPortMask(), {DpOutput{3}}, kPutCreate},  // same flow after masking
      {Key(2, 1), InPortMask(), {DpOutput{1}}, kPutModify},  // no such flow
  };
  auto errs = dp.FlowPut(puts);
  ASSERT_TRUE(errs);
  EXPECT_EQ(*errs, (std::vector<int32_t>{0, EEXIST, ENOENT}));
  EXPECT_EQ(dp.n_flows(), 1u);

  // Modify replaces actions and optionally clears stats.
  ASSERT_TRUE(dp.Hit(Key(1, 77), 3, 300, 1000));
  auto r = dp.FlowPut({{Key(1, 9), InPortMask(), {DpOutput{4}}, kPutModify}});
  EXPECT_EQ(*r, std::vector<int32_t>{0});
  DpFlow* f = dp.FindFlow(Key(1, 0), InPortMask());
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->actions, (DpActions{DpOutput{4}}));
  EXPECT_EQ(f->stats.n_packets, 3u);
  dp.FlowPut({{Key(1, 9), InPortMask(), {DpOutput{4}}, kPutModify | kPutClearStats}});
  EXPECT_EQ(dp.FindFlow(Key(1, 0), InPortMask())->stats.n_packets, 0u);

  // Bad masks and actions are EINVAL per put, not a failed batch.
  FlowKey meta = InPortMask();
  meta.metadata = 1;
  DpSetMasked set_in_port{Key(1, 1), InPortMask()};
  auto bad = dp.FlowPut({{Key(3, 1), meta, {}, kPutCreate},
                         {Key(3, 1), InPortMask(), {set_in_port}, kPutCreate},
                         {Key(3, 1), InPortMask(), {DpPushVlan{0x1234, 1}}, kPutCreate}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(*bad, (std::vector<int32_t>{EINVAL, EINVAL, EINVAL}));

  dp.set_flow_limit(1);
  EXPECT_EQ(*dp.FlowPut({{Key(4, 1), InPortMask(), {}, kPutCreate}}), std::vector<int32_t>{ENOSPC});
}

TEST(FakeDpif, DelReturnsFinalStats) {
  FakeDpif dp;
  dp.AddFlowForTest(Key(1, 1), FlowKey::Ones(), {DpOutput{2}}, {7, 700, 55, 0x10});
  EXPECT_EQ(dp.CountCalls(MsgType::kFlowPut), 0u);
  auto res = dp.FlowDel({{Key(1, 1), FlowKey::Ones()}, {Key(1, 2), FlowKey::Ones()}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->size(), 2u);
  EXPECT_EQ((*res)[0].error, 0);
  EXPECT_EQ((*res)[0].stats.n_bytes, 700u);
  EXPECT_EQ((*res)[1].error, ENOENT);
  EXPECT_EQ(dp.n_flows(), 0u);
}

TEST(FakeDpif, LookupAndDump) {
  FakeDpif dp;
  dp.AddFlowForTest(Key(1, 1), InPortMask(), {DpOutput{2}});
  dp.AddFlowForTest(Key(2, 1), FlowKey::Ones(), {});
  EXPECT_EQ(dp.Lookup(Key(1, 200))->actions, (DpActions{DpOutput{2}}));
  EXPECT_EQ(dp.Lookup(Key(2, 2)), nullptr);
  EXPECT_NE(dp.Lookup(Key(2, 1)), nullptr);
  EXPECT_FALSE(dp.Hit(Key(3, 1), 1, 1, 1));
  auto dump = dp.FlowDump();
  ASSERT_TRUE(dump);
  EXPECT_EQ(dump->size(), 2u);
  auto stats = dp.GetStats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->counters.back(), (std::pair<std::string, uint64_t>{"n_masks", 2}));
  EXPECT_TRUE(dp.FlowFlush());
  EXPECT_EQ(dp.n_flows(), 0u);
}

TEST(FakeDpif, UpcallsMakeTheFdReadable) {
  FakeDpif dp;
  EXPECT_FALSE(Readable(dp.upcall_fd()));
  Upcall up;
  up.key = FlowKey::Zero();
  up.in_port = 4;
  dp.InjectUpcall(up);
  up.in_port = 5;
  dp.InjectUpcall(up);
  EXPECT_TRUE(Readable(dp.upcall_fd()));
  EXPECT_TRUE(dp.HasBufferedUpcalls());
  auto got = dp.RecvUpcalls(1);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].in_port, 4u);
  EXPECT_TRUE(Readable(dp.upcall_fd()));
  got = dp.RecvUpcalls(10);
  ASSERT_EQ(got->size(), 1u);
  EXPECT_FALSE(Readable(dp.upcall_fd()));
  EXPECT_FALSE(dp.HasBufferedUpcalls());
}

TEST(FakeDpif, FailureMode) {
  FakeDpif dp;
  dp.SetFailure(Error{ECONNRESET, "datapath connection lost"});
  auto r = dp.FlowDump();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ECONNRESET);
  EXPECT_FALSE(dp.RecvUpcalls(1));
  EXPECT_EQ(dp.CountCalls(MsgType::kFlowDump), 1u);
  dp.SetFailure(std::nullopt);
  EXPECT_TRUE(dp.FlowDump());
}

TEST(FakeDpif, ExecuteIsRecorded) {
  FakeDpif dp;
  ASSERT_TRUE(dp.Execute({{1, {1, 2, 3}, {DpOutput{2}}}}));
  ASSERT_EQ(dp.executed().size(), 1u);
  EXPECT_EQ(dp.executed()[0].packet, (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_EQ(std::get<ExecuteBatch>(dp.calls().back()).packets.size(), 1u);
}

}  // namespace
}  // namespace hsw::dpif
