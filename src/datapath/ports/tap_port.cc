#include "datapath/ports/tap_port.h"

#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"

namespace hsw::dp {
namespace {

const log::Module vlog("tap");

// The legacy virtio_net_hdr (see af_packet_port.cc for why it is spelled out).
struct VnetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
static_assert(sizeof(VnetHdr) == 10);
constexpr uint8_t kVnetNeedsCsum = 1;
constexpr size_t kVnetHdrSize = sizeof(VnetHdr);

// Room before each received frame for VLAN pushes done in place; the vnet
// header is read into its last bytes.
constexpr size_t kHeadroom = 64;
// A TSO super-packet is at most 64 KiB of IP plus the Ethernet header.
constexpr size_t kMaxFrame = 65536 + 64;
constexpr size_t kBufferSize = kHeadroom + kMaxFrame;

Result<ifreq> IfReq(int fd, const std::string& name, unsigned long request, const char* what) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd, request, &ifr) < 0) return ErrnoErr("{} {}", what, name);
  return ifr;
}

}  // namespace

bool TapPort::IsTapDevice(const std::string& name) {
  // The driver's name, from ethtool: sysfs would show the network namespace
  // it was mounted in, which need not be ours.
  UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) return false;
  ethtool_drvinfo drvinfo{};
  drvinfo.cmd = ETHTOOL_GDRVINFO;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_data = reinterpret_cast<char*>(&drvinfo);
  if (ioctl(sock.get(), SIOCETHTOOL, &ifr) < 0) return false;
  return std::strcmp(drvinfo.driver, "tun") == 0;
}

Result<std::unique_ptr<TapPort>> TapPort::Create(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name.find('/') != std::string::npos) {
    return MakeError(fmt::format("'{}' is not an interface name", name), EINVAL);
  }
  if (if_nametoindex(name.c_str()) != 0 && !IsTapDevice(name)) {
    return MakeError(fmt::format("cannot create internal port {}: a network interface named {} "
                                 "already exists and is not a tap device",
                                 name, name),
                     EEXIST);
  }
  UniqueFd fd(open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return ErrnoErr("internal port {}: opening /dev/net/tun", name);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (ioctl(fd.get(), TUNSETIFF, &ifr) < 0) {
    int err = errno;
    return MakeError(fmt::format("internal port {}: creating the tap device: {}{}", name,
                                 std::strerror(err),
                                 err == EBUSY ? " (another process holds it)" : ""),
                     err);
  }
  // Checksum and TCP segmentation offload towards us: the datapath handles
  // partial checksums and GSO frames (see the header).
  unsigned offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
  if (ioctl(fd.get(), TUNSETOFFLOAD, offloads) < 0) {
    vlog.Warn("internal port {}: TUNSETOFFLOAD: {} (the host completes checksums itself)", name,
              std::strerror(errno));
  }
  std::unique_ptr<TapPort> port(new TapPort());
  port->name_ = name;
  port->fd_ = std::move(fd);
  HSW_TRY(port->Init());
  vlog.Info("internal port {}: tap device ready (ifindex {})", name, port->ifindex_);
  return port;
}

Result<std::unique_ptr<TapPort>> TapPort::Adopt(const std::string& name, UniqueFd fd) {
  if (!fd) return Err("internal port {}: no file descriptor", name);
  ifreq ifr{};
  if (ioctl(fd.get(), TUNGETIFF, &ifr) < 0) {
    return ErrnoErr("internal port {}: the handed-over descriptor is not a tap", name);
  }
  ifr.ifr_name[IFNAMSIZ - 1] = '\0';
  if (name != ifr.ifr_name) {
    return Err("internal port {}: the handed-over descriptor is attached to {}", name,
               ifr.ifr_name);
  }
  if (!(ifr.ifr_flags & IFF_TAP) || !(ifr.ifr_flags & IFF_VNET_HDR)) {
    return Err("internal port {}: the handed-over descriptor is not a tap with vnet headers",
               name);
  }
  if (int fl = fcntl(fd.get(), F_GETFL); fl >= 0) fcntl(fd.get(), F_SETFL, fl | O_NONBLOCK);
  std::unique_ptr<TapPort> port(new TapPort());
  port->name_ = name;
  port->fd_ = std::move(fd);
  HSW_TRY(port->Init());
  return port;
}

Status TapPort::Init() {
  ioctl_fd_ = UniqueFd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!ioctl_fd_) return ErrnoErr("internal port {}: socket for interface queries", name_);
  ifindex_ = if_nametoindex(name_.c_str());
  if (ifindex_ == 0) return ErrnoErr("internal port {}: the tap device has no ifindex", name_);
  return Ok();
}

TapPort::~TapPort() = default;

size_t TapPort::Receive(Packet* packets, size_t max) {
  if (rx_.size() < max) {
    // Allocated on first use (and once): a port that never receives costs nothing.
    rx_.resize(max);
    for (auto& buffer : rx_) buffer.resize(kBufferSize);
  }
  size_t n = 0;
  while (n < max) {
    uint8_t* buffer = rx_[n].data();
    ssize_t got = read(fd_.get(), buffer + kHeadroom - kVnetHdrSize, kVnetHdrSize + kMaxFrame);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) {
        ++stats_.rx_errors;
        static log::RateLimit rl(5);
        if (rl.Allow()) vlog.Warn("{}: read: {}", name_, std::strerror(errno));
      }
      break;
    }
    if (static_cast<size_t>(got) < kVnetHdrSize + 14) {
      ++stats_.rx_errors;  // a runt: nothing the host stack sends
      continue;
    }
    VnetHdr vnet;
    std::memcpy(&vnet, buffer + kHeadroom - kVnetHdrSize, kVnetHdrSize);
    Packet& p = packets[n];
    p = Packet{};
    p.data = buffer + kHeadroom;
    p.size = static_cast<uint32_t>(static_cast<size_t>(got) - kVnetHdrSize);
    p.headroom = kHeadroom - kVnetHdrSize;
    p.csum_partial = vnet.flags & kVnetNeedsCsum;
    p.csum_start = vnet.csum_start;
    p.csum_offset = vnet.csum_offset;
    p.gso_type = vnet.gso_type;
    p.gso_size = vnet.gso_size;
    p.hdr_len = vnet.hdr_len;
    ++stats_.rx_packets;
    stats_.rx_bytes += p.size;
    ++n;
  }
  return n;
}

void TapPort::Send(const TxFrame* frames, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const TxFrame& f = frames[i];
    VnetHdr vnet{};
    if (f.csum_partial) {
      vnet.flags = kVnetNeedsCsum;
      vnet.csum_start = f.csum_start;
      vnet.csum_offset = f.csum_offset;
    }
    vnet.gso_type = f.gso_type;
    vnet.gso_size = f.gso_size;
    vnet.hdr_len = f.hdr_len;
    iovec iov[2] = {{&vnet, kVnetHdrSize}, {const_cast<uint8_t*>(f.data), f.size}};
    ssize_t sent;
    do {
      sent = writev(fd_.get(), iov, 2);
    } while (sent < 0 && errno == EINTR);
    if (sent >= 0) {
      ++stats_.tx_packets;
      stats_.tx_bytes += f.size;
      continue;
    }
    // EIO: the device is administratively down; EAGAIN: its queue is full.
    if (errno == EAGAIN || errno == EIO || errno == ENOBUFS) {
      ++stats_.tx_dropped;
    } else {
      ++stats_.tx_errors;
      static log::RateLimit rl(5);
      if (rl.Allow()) vlog.Warn("{}: write: {}", name_, std::strerror(errno));
    }
  }
}

dpif::PortInfo TapPort::Info() const {
  dpif::PortInfo info;
  info.name = name_;
  info.type = kType;
  info.ifindex = ifindex_;
  info.stats = stats_;
  int fd = ioctl_fd_.get();
  if (auto mtu = IfReq(fd, name_, SIOCGIFMTU, "SIOCGIFMTU")) {
    info.mtu = static_cast<uint32_t>(mtu->ifr_mtu);
  }
  if (auto hw = IfReq(fd, name_, SIOCGIFHWADDR, "SIOCGIFHWADDR")) {
    std::memcpy(info.hw_addr, hw->ifr_hwaddr.sa_data, 6);
  }
  if (auto flags = IfReq(fd, name_, SIOCGIFFLAGS, "SIOCGIFFLAGS")) {
    // A tap is RUNNING only while up with its fd held (carrier).
    info.link_up = (flags->ifr_flags & IFF_UP) && (flags->ifr_flags & IFF_RUNNING);
  }
  return info;
}

}  // namespace hsw::dp
