// AfPacketPort: a Linux network interface (veth, tap, NIC) as a datapath port,
// through an AF_PACKET socket.
//
// Receive: a memory-mapped TPACKET_V2 ring.  Not V3: a V3 block is handed to
// user space only when it is full or its timeout expires, which cost about
// 600 us per packet at moderate rates on the reference machine; V2 hands over
// each frame as it arrives.  Frames are processed in place in the ring.
//
// Send: sendmmsg() batches, which beat the TPACKET TX ring here (the kernel
// copies ring frames into the peer anyway).
//
// PACKET_IGNORE_OUTGOING keeps the socket from seeing its own transmissions.
// PACKET_VNET_HDR puts a virtio_net_hdr in front of every frame in both
// directions: veths have TX checksum offload on, so frames from a local stack
// arrive CHECKSUM_PARTIAL (the L4 checksum field holds only the pseudo-header
// sum).  The header tells us so (NEEDS_CSUM, csum_start, csum_offset); we pass
// the request on when the frame leaves unchanged, or complete the checksum in
// software before rewriting it (actions.h).  Users never need
// `ethtool -K tx off`.
//
// Big frames: a ring frame holds at most frame_size minus a few hundred bytes
// of headers, but a local TCP stack behind a veth sends GSO super-packets of
// up to 64 KiB (and jumbo frames exist).  Rings of 64 KiB frames would cost
// megabytes per port for the rare big frame, so each port has a second,
// ring-less AF_PACKET socket: a classic BPF filter on each socket splits the
// traffic by length, small frames to the ring, big ones to the second socket,
// which is read with recvmmsg() into a few 64 KiB buffers.  GSO packets keep
// their virtio_net_hdr and leave whole; the kernel segments them on output.
// (Order between a big and a small frame of one flow that arrive within
// one poll may change; TCP copes.)  Frames larger than 64 KiB are dropped and
// counted in rx_dropped and the datapath's drops_rx_oversize.
//
// The interface is brought up and put in promiscuous mode (the membership
// ends with the socket).  VLAN tags that the kernel moved out of the frame
// (skb VLAN offload, reported in the ring header) are put back in place.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "datapath/ports/port.h"

struct mmsghdr;
struct iovec;

namespace hsw::dp {

struct AfPacketOptions {
  uint32_t frame_size = 2048;   // power of two
  uint32_t frames = 4096;       // ring depth: deeper rings lose less near saturation
};

// What a successor process needs to go on with a port where this one
// stopped (datapath/handover.h): the two sockets travel as file descriptors,
// the rest as these numbers.  The ring stays in the kernel, attached to the
// socket; the successor maps it again and reads from `head`.
struct AfPacketHandover {
  uint32_t ifindex = 0;
  uint32_t frame_size = 0;
  uint32_t block_size = 0;
  uint32_t block_nr = 0;
  uint32_t frame_nr = 0;
  uint32_t ring_capacity = 0;
  uint32_t head = 0;
};

class AfPacketPort : public Port {
 public:
  static Result<std::unique_ptr<AfPacketPort>> Open(const std::string& name,
                                                    AfPacketOptions options = {});
  // A port whose sockets another process opened and handed over.  Checks
  // that the ring is what `state` says before mapping it.
  static Result<std::unique_ptr<AfPacketPort>> Adopt(const std::string& name, UniqueFd fd,
                                                     UniqueFd big_fd,
                                                     const AfPacketHandover& state);
  // The numbers for Adopt(); valid between batches (no frame held).
  AfPacketHandover ExportHandover() const;
  // At the switch-over: where the predecessor stopped reading.
  void SetHead(uint32_t head) {
    head_ = head % n_frames_;
    head_known_ = true;
  }
  // The predecessor died without saying where it stopped reading: the port
  // finds the place itself from the ring (FindHead) before it reads again.
  void ForgetHead() { head_known_ = false; }
  bool head_known() const { return head_known_; }
  int big_fd() const { return big_fd_.get(); }
  ~AfPacketPort() override;

  int fd() const override { return fd_.get(); }
  int aux_fd() const override { return big_fd_.get(); }
  size_t Receive(Packet* packets, size_t max) override;
  void ReleaseRx() override;
  void HandlePollError() override;
  void Send(const TxFrame* frames, size_t n) override;
  dpif::PortInfo Info() const override;
  const std::string& name() const override { return name_; }
  uint32_t ifindex() const { return ifindex_; }

 private:
  AfPacketPort() = default;
  size_t ReceiveBig(Packet* packets, size_t max);
  Status MapRing(uint32_t frame_size, uint32_t block_size, uint32_t block_nr, uint32_t frame_nr);
  bool FindHead();
  uint8_t* Frame(uint32_t index) const { return ring_ + size_t{index} * frame_size_; }

  std::string name_;
  uint32_t ifindex_ = 0;
  UniqueFd fd_;
  UniqueFd big_fd_;                          // frames longer than ring_capacity_
  std::vector<std::vector<uint8_t>> big_;    // receive buffers for big_fd_
  uint32_t ring_capacity_ = 0;
  uint8_t* ring_ = nullptr;
  size_t ring_size_ = 0;
  uint32_t frame_size_ = 0;
  uint32_t block_size_ = 0;
  uint32_t n_blocks_ = 0;
  uint32_t n_frames_ = 0;
  uint32_t head_ = 0;         // next frame to look at
  uint32_t n_held_ = 0;       // frames received and not yet released, ending before head_
  bool head_known_ = true;    // false: FindHead() before the next read
};

}  // namespace hsw::dp
