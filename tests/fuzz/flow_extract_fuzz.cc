// Fuzz target: flow extraction and the actions that edit packets in place.
// Neither may read or write outside the frame (ASan checks), and the header
// offsets ExtractFlow reports must lie inside it, whatever the bytes say.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "datapath/actions.h"
#include "packet/flow_extract.h"

namespace {

class NullSink : public hsw::dp::OutputSink {
 public:
  void Output(uint32_t, const hsw::dp::Packet& p, bool) override {
    // Touch every byte so ASan sees any overrun of the reported size.
    volatile uint8_t sum = 0;
    for (uint32_t i = 0; i < p.size; ++i) sum = static_cast<uint8_t>(sum + p.data[i]);
  }
  void Userspace(const hsw::dp::Packet& p, std::span<const uint8_t>) override { Output(0, p, true); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The frame in a buffer of exactly its size, so any over-read is caught.
  std::vector<uint8_t> frame(data, data + size);
  hsw::FlowKey key;
  hsw::HeaderOffsets offsets;
  hsw::ExtractFlow(frame.data(), frame.size(), 1, &key, &offsets);
  if (offsets.l3 != hsw::HeaderOffsets::kNoOffset && offsets.l3 >= size) abort();
  if (offsets.l4 != hsw::HeaderOffsets::kNoOffset && offsets.l4 >= size) abort();
  if (offsets.l3_end > size) abort();

  // Rewrite every settable field, push and pop tags, with a partial checksum
  // whose offsets come from the input.
  constexpr size_t kHeadroom = 8;
  std::vector<uint8_t> buffer(kHeadroom + size);
  if (size > 0) std::memcpy(buffer.data() + kHeadroom, data, size);  // data may be null when size is 0
  hsw::dp::Packet packet;
  packet.data = buffer.data() + kHeadroom;
  packet.size = static_cast<uint32_t>(size);
  packet.headroom = kHeadroom;
  if (size >= 2) {
    packet.csum_partial = data[0] & 1;
    packet.csum_start = data[size - 1];
    packet.csum_offset = data[size - 2] & 0x1e;
  }
  hsw::DpSetMasked set{hsw::FlowKey::Ones(), hsw::FlowKey::Ones()};
  set.mask.in_port = 0;
  set.mask.eth_type = 0;
  set.mask.nw_proto = 0;
  set.mask.metadata = 0;
  set.mask.nw_frag = 0;
  set.mask.tcp_flags = 0;
  std::memset(set.mask.pad0, 0, sizeof(set.mask.pad0));
  std::memset(set.mask.pad1, 0, sizeof(set.mask.pad1));
  hsw::DpActions actions = {hsw::DpOutput{1}, hsw::DpPushVlan{0x8100, 5}, set,
                            hsw::DpOutput{2}, hsw::DpPopVlan{},         hsw::DpPopVlan{},
                            set,              hsw::DpUserspace{{1}},    hsw::DpOutput{3}};
  NullSink sink;
  hsw::dp::ActionCounters counters;
  hsw::dp::ExecuteActions(actions, packet, key, offsets, sink, counters);
  return 0;
}
