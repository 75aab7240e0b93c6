// Executing datapath actions (dpif/dp_actions.h) on one packet.
//
// The datapath runs a megaflow's actions on each packet that hits it, and a
// client's Execute requests the same way.  Packets are edited in place: the
// receive ring's frame is the buffer, with some headroom in front so that a
// VLAN push needs no copy.  Checksums are kept right incrementally (RFC 1624)
// for every field a DpSetMasked rewrites; SCTP's CRC32c is recomputed.
//
// Checksum offload: a frame received with VIRTIO_NET_HDR_F_NEEDS_CSUM
// (Packet::csum_partial) carries only the pseudo-header sum in its L4
// checksum field, and leaves with the same offload request (the port passes
// it on in its own virtio_net_hdr), so the checksum is computed once, by
// whoever finally needs it.  A rewrite keeps the partial sum right: a field
// in the pseudo header (an IP address) updates it incrementally in its
// uncomplemented form, a field inside the summed range (a port) needs nothing.
// Before an upcall the checksum is completed in software, so the owner sees
// what a receiver would.  GSO super-packets (Packet::gso_type) always come
// partial and are passed on whole; the kernel segments them on output.
//
// Outputs go to an OutputSink that the caller provides (the forwarding loop
// queues them for a batched send).  An Output that no later action modifies
// is marked `may_reference`: the sink may keep a pointer to the packet's bytes
// until its batch is sent instead of copying them.
//
// Per-packet code: no allocation, no exceptions, no locks.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "dpif/dp_actions.h"
#include "packet/flow_extract.h"
#include "packet/flow_key.h"

namespace hsw::dp {

struct Packet {
  uint8_t* data = nullptr;
  uint32_t size = 0;
  uint32_t headroom = 0;  // writable bytes before data
  // CHECKSUM_PARTIAL from the kernel: sum frame[csum_start, size) into the
  // 16-bit field at csum_start + csum_offset.
  bool csum_partial = false;
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;
  // A GSO super-packet (virtio_net_hdr gso_type/gso_size/hdr_len), 0 if not.
  uint8_t gso_type = 0;
  uint16_t gso_size = 0;
  uint16_t hdr_len = 0;
};

class OutputSink {
 public:
  virtual ~OutputSink() = default;
  // Sends the packet as it is now to datapath port `port`.  If may_reference
  // is false, the bytes change after this call returns: copy them.
  virtual void Output(uint32_t port, const Packet& packet, bool may_reference) = 0;
  // A DpUserspace action: hand the packet (checksums completed) to the owner.
  virtual void Userspace(const Packet& packet, std::span<const uint8_t> userdata) = 0;
};

struct ActionCounters {
  uint64_t csum_complete_failed = 0;  // NEEDS_CSUM offsets outside the frame
  uint64_t push_vlan_no_room = 0;     // no headroom left for another tag
  uint64_t set_field_skipped = 0;     // set of a header the packet lacks
};

// Runs `actions` on `packet`, whose key and offsets are `key` / `offsets`
// (from ExtractFlow on the same bytes).  The packet may be changed.
void ExecuteActions(const DpActions& actions, Packet& packet, const FlowKey& key,
                    HeaderOffsets offsets, OutputSink& sink, ActionCounters& counters);

// Completes a CHECKSUM_PARTIAL packet's L4 checksum; true if done or not needed.
bool CompleteChecksum(Packet& packet);

// Checks a megaflow's actions before installing them: set masks only on
// settable fields, userdata at most kDpUserdataMaxSize, VLAN TPIDs 0x8100 or
// 0x88a8.  Returns "" if valid, else what is wrong.
std::string ValidateActions(const DpActions& actions);

}  // namespace hsw::dp
