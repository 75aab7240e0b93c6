// OpenFlow 1.3 codec (openflow/ofp_codec.h).  Decoding FLOW_MODs is the
// switch's side of a controller's or ovs-ofctl's bulk install (100k flows
// restored after a restart go through it once each); PACKET_IN is the
// controller-facing message of every table miss sent up, and the switch
// encodes it once per such packet, so both directions are measured.
#include <benchmark/benchmark.h>

#include <vector>

#include "openflow/flow_text.h"
#include "openflow/ofp_codec.h"
#include "test_frames.h"

namespace hsw::ofp {
namespace {

using namespace hsw::testing;

// A FLOW_MOD with a 5-field match (in_port, eth_type, ipv4_src /24, ip_proto,
// udp_dst) and two apply-actions, as ovs-ofctl sends it.
std::vector<uint8_t> FlowModBytes() {
  auto fm = ParseFlowMod(
      "table=0,priority=100,in_port=1,udp,nw_src=10.1.2.0/24,tp_dst=53,"
      "actions=set_field:10.0.0.1->ip_dst,output:2");
  if (!fm) return {};
  return Encode(OfpMessage{kVersion13, 0x1234, *fm});
}

// A table-miss PACKET_IN: in_port match, the first 128 bytes (the default
// miss_send_len) of a 200-byte UDP/IPv4 frame.
PacketIn MakePacketIn() {
  PacketIn pi;
  pi.reason = kPacketInReasonNoMatch;
  pi.table_id = 0;
  pi.cookie = 0;
  pi.match.key.in_port = 3;
  pi.match.mask.in_port = 0xffffffff;
  Bytes frame = Cat(Eth(0x0800), Ipv4(17, Udp(40000, 53, 200 - 42)));
  pi.total_len = static_cast<uint16_t>(frame.size());
  pi.data.assign(frame.begin(), frame.begin() + 128);
  return pi;
}

void RunDecode(benchmark::State& state, const std::vector<uint8_t>& bytes) {
  if (bytes.empty() || !Decode(bytes)) {
    state.SkipWithError("the test message does not decode");
    return;
  }
  for (auto _ : state) {
    auto message = Decode(bytes);
    benchmark::DoNotOptimize(message);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes.size()));
  state.counters["msg_bytes"] = static_cast<double>(bytes.size());
}

void BM_OfpDecodeFlowMod(benchmark::State& state) { RunDecode(state, FlowModBytes()); }
BENCHMARK(BM_OfpDecodeFlowMod);

void BM_OfpDecodePacketIn(benchmark::State& state) {
  RunDecode(state, Encode(OfpMessage{kVersion13, 0, MakePacketIn()}));
}
BENCHMARK(BM_OfpDecodePacketIn);

void BM_OfpEncodePacketIn(benchmark::State& state) {
  const OfpMessage message{kVersion13, 0, MakePacketIn()};
  size_t size = 0;
  for (auto _ : state) {
    std::vector<uint8_t> bytes = Encode(message);
    size = bytes.size();
    benchmark::DoNotOptimize(bytes.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}
BENCHMARK(BM_OfpEncodePacketIn);

}  // namespace
}  // namespace hsw::ofp
