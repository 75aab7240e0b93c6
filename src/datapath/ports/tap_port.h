// TapPort: an "internal" port (the Open_vSwitch database's Interface type
// "internal"), a tap device that hsw-datapath itself creates, as Open
// vSwitch's userspace datapath does for a bridge's own interface.
//
// Why a tap read through its file descriptor and not AF_PACKET: what the host
// sends on the device is what the tap's fd reads, and what is written to the
// fd is what the host receives.  An AF_PACKET socket on the device would see
// the opposite directions.  And a tap has carrier only while some process
// holds its fd: the datapath, which outlives hsw-vswitchd, holds it, and a
// hot handover passes the fd on (datapath/handover.h), so the device never
// flaps.  The device is not persistent: closing the last fd (PortDel, or the
// datapath exiting for good) removes it.
//
// IFF_VNET_HDR with TUN_F_CSUM/TSO: the host stack hands over frames with a
// partial checksum and TCP super-packets, described by a virtio_net_hdr
// exactly like AF_PACKET's PACKET_VNET_HDR, so the rest of the datapath
// treats them alike (completed in software when rewritten, passed on to
// AF_PACKET ports for the kernel to finish).  Receive buffers are 64 KiB for
// that reason.
//
// The device is left administratively down when created, as Open vSwitch
// leaves internal devices; the user brings it up.  Info() reports the real
// flags.  Single-threaded like every Port.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "datapath/ports/port.h"

namespace hsw::dp {

class TapPort : public Port {
 public:
  static constexpr const char* kType = "internal";

  // Creates the tap `name` (or attaches to an existing tap device of that
  // name that nobody holds).  An existing interface of that name that is not
  // a tap is an error naming it.
  static Result<std::unique_ptr<TapPort>> Create(const std::string& name);
  // A tap whose fd another process opened and handed over.  Checks that the
  // fd is a tap attached to `name`.
  static Result<std::unique_ptr<TapPort>> Adopt(const std::string& name, UniqueFd fd);
  ~TapPort() override;

  int fd() const override { return fd_.get(); }
  size_t Receive(Packet* packets, size_t max) override;
  void ReleaseRx() override {}
  void Send(const TxFrame* frames, size_t n) override;
  dpif::PortInfo Info() const override;
  const std::string& name() const override { return name_; }
  uint32_t ifindex() const { return ifindex_; }

  // Whether a Linux interface `name` exists and is a tun/tap device.
  static bool IsTapDevice(const std::string& name);

 private:
  TapPort() = default;
  Status Init();

  std::string name_;
  uint32_t ifindex_ = 0;
  UniqueFd fd_;
  UniqueFd ioctl_fd_;                      // a datagram socket for SIOCGIF* queries
  std::vector<std::vector<uint8_t>> rx_;   // one 64 KiB buffer per batch slot
};

}  // namespace hsw::dp
