#include "datapath/ports/af_packet_port.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/packet_diag.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "common/log.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

namespace hsw::dp {
namespace {

const log::Module vlog("af_packet");

// The receive ring the kernel really has on a packet socket.  It cannot be
// read back with getsockopt; sock_diag reports it (PACKET_SHOW_RING_CFG), for
// every packet socket of this network namespace, so ours is found by inode.
struct RxRing {
  uint32_t block_size = 0, block_nr = 0, frame_size = 0, frame_nr = 0;
};

Result<RxRing> ReadRxRing(int packet_fd) {
  struct stat st {};
  if (fstat(packet_fd, &st) < 0) return ErrnoErr("fstat of a packet socket");
  UniqueFd nl(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!nl) return ErrnoErr("NETLINK_SOCK_DIAG socket");
  struct {
    nlmsghdr header;
    packet_diag_req request;
  } ask{};
  ask.header.nlmsg_len = sizeof ask;
  ask.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  ask.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  ask.request.sdiag_family = AF_PACKET;
  ask.request.pdiag_show = PACKET_SHOW_RING_CFG;
  if (send(nl.get(), &ask, sizeof ask, 0) < 0) return ErrnoErr("sock_diag request");
  std::vector<uint8_t> buffer(64 * 1024);
  for (;;) {
    ssize_t n = recv(nl.get(), buffer.data(), buffer.size(), 0);
    if (n < 0) return ErrnoErr("sock_diag reply");
    int left = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer.data()); NLMSG_OK(h, left);
         h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE) return Err("the socket is not in sock_diag's list");
      if (h->nlmsg_type == NLMSG_ERROR) return Err("sock_diag refused the request");
      auto* msg = static_cast<packet_diag_msg*>(NLMSG_DATA(h));
      if (msg->pdiag_ino != st.st_ino) continue;
      int attr_len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof *msg));
      for (auto* a = reinterpret_cast<rtattr*>(msg + 1); RTA_OK(a, attr_len);
           a = RTA_NEXT(a, attr_len)) {
        if (a->rta_type != PACKET_DIAG_RX_RING || RTA_PAYLOAD(a) < sizeof(packet_diag_ring)) {
          continue;
        }
        auto* ring = static_cast<packet_diag_ring*>(RTA_DATA(a));
        return RxRing{ring->pdr_block_size, ring->pdr_block_nr, ring->pdr_frame_size,
                      ring->pdr_frame_nr};
      }
      return Err("the socket has no receive ring");
    }
  }
}

// struct virtio_net_hdr from <linux/virtio_net.h>, which does not compile as
// C++ (a member is named `class`).  Fields are in host byte order for
// AF_PACKET on little-endian hosts (the legacy virtio layout).
struct virtio_net_hdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
static_assert(sizeof(virtio_net_hdr) == 10);
constexpr uint8_t VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;

constexpr size_t kVnetHdrSize = sizeof(virtio_net_hdr);
// Room in front of each frame for VLAN pushes done in place.
constexpr int kReserve = 32;
constexpr size_t kMaxTxBatch = 64;
const int kOne = 1;
// Big-frame buffers: headroom for tags and the vnet header, then 64 KiB.
constexpr size_t kBigHeadroom = 64;
constexpr size_t kBigMax = 65536 + 64;
constexpr size_t kBigBuffers = 8;

// Accepts frames (length as the socket sees it, Ethernet header included)
// longer than `cap` if `big`, else those of at most `cap`.
Status AttachLengthFilter(int fd, uint32_t cap, bool big, const std::string& name) {
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
      BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, cap, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, big ? 0x40000u : 0u),
      BPF_STMT(BPF_RET | BPF_K, big ? 0u : 0x40000u),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof(code) / sizeof(code[0])), code};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0) {
    return ErrnoErr("attaching the length filter to {}", name);
  }
  return Ok();
}

Status SetOpt(int fd, int level, int name, int value, const char* what) {
  if (setsockopt(fd, level, name, &value, sizeof(value)) < 0) return ErrnoErr("setsockopt {}", what);
  return Ok();
}

Result<ifreq> IfReq(int fd, const std::string& name, unsigned long request, const char* what) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd, request, &ifr) < 0) return ErrnoErr("{} {}", what, name);
  return ifr;
}

}  // namespace

Result<std::unique_ptr<AfPacketPort>> AfPacketPort::Open(const std::string& name,
                                                         AfPacketOptions options) {
  if (name.empty() || name.size() >= IFNAMSIZ) return Err("'{}' is not an interface name", name);
  unsigned ifindex = if_nametoindex(name.c_str());
  if (ifindex == 0) return MakeError(fmt::format("no network interface named {}", name), ENODEV);
  if (options.frame_size < 2048 || (options.frame_size & (options.frame_size - 1))) {
    return Err("ring frame size {} must be a power of two of at least 2048", options.frame_size);
  }

  std::unique_ptr<AfPacketPort> port(new AfPacketPort());
  port->name_ = name;
  port->ifindex_ = ifindex;
  // Protocol 0: the socket receives nothing until bind(), so the ring is set
  // up before the first frame lands.
  port->fd_ = UniqueFd(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  int fd = port->fd_.get();
  if (fd < 0) return ErrnoErr("socket(AF_PACKET) for {}", name);
  HSW_TRY(SetOpt(fd, SOL_PACKET, PACKET_VERSION, TPACKET_V2, "PACKET_VERSION TPACKET_V2"));
  HSW_TRY(SetOpt(fd, SOL_PACKET, PACKET_VNET_HDR, 1, "PACKET_VNET_HDR"));
  HSW_TRY(SetOpt(fd, SOL_PACKET, PACKET_RESERVE, kReserve, "PACKET_RESERVE"));
  if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &kOne, sizeof(int)) < 0) {
    // Kernels before 4.20: our own transmissions come back; forwarding them
    // would loop, so refuse rather than misbehave.
    return ErrnoErr("setsockopt PACKET_IGNORE_OUTGOING on {} (needs Linux 4.20+)", name);
  }
  int sndbuf = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  }

  tpacket_req req{};
  req.tp_frame_size = options.frame_size;
  req.tp_block_size = std::max<uint32_t>(options.frame_size, 1u << 16);
  uint32_t per_block = req.tp_block_size / req.tp_frame_size;
  req.tp_block_nr = std::max<uint32_t>(1, (options.frames + per_block - 1) / per_block);
  req.tp_frame_nr = req.tp_block_nr * per_block;
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0) {
    return ErrnoErr("setsockopt PACKET_RX_RING ({} frames of {} bytes) on {}", req.tp_frame_nr,
                    req.tp_frame_size, name);
  }
  HSW_TRY(port->MapRing(req.tp_frame_size, req.tp_block_size, req.tp_block_nr, req.tp_frame_nr));

  // A switch port must see every frame, and must be up to pass any.
  HSW_ASSIGN_OR_RETURN(ifreq flags, IfReq(fd, name, SIOCGIFFLAGS, "SIOCGIFFLAGS"));
  if (!(flags.ifr_flags & IFF_UP)) {
    flags.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &flags) < 0) return ErrnoErr("bringing {} up", name);
  }
  packet_mreq mreq{};
  mreq.mr_ifindex = static_cast<int>(ifindex);
  mreq.mr_type = PACKET_MR_PROMISC;
  if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) < 0) {
    return ErrnoErr("promiscuous mode on {}", name);
  }
  // The ring frame's data starts after the tpacket header, sockaddr_ll,
  // PACKET_RESERVE and the vnet header (about 110 bytes); 256 bytes of slack
  // also leaves room to put an offloaded VLAN tag back.
  port->ring_capacity_ = port->frame_size_ - 256;
  HSW_TRY(AttachLengthFilter(fd, port->ring_capacity_, false, name));

  port->big_fd_ = UniqueFd(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  int big = port->big_fd_.get();
  if (big < 0) return ErrnoErr("socket(AF_PACKET) for big frames of {}", name);
  HSW_TRY(SetOpt(big, SOL_PACKET, PACKET_VNET_HDR, 1, "PACKET_VNET_HDR"));
  HSW_TRY(SetOpt(big, SOL_PACKET, PACKET_AUXDATA, 1, "PACKET_AUXDATA"));
  HSW_TRY(SetOpt(big, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING"));
  int rcvbuf = 8 << 20;
  if (setsockopt(big, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0) {
    setsockopt(big, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  }
  HSW_TRY(AttachLengthFilter(big, port->ring_capacity_, true, name));

  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = static_cast<int>(ifindex);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) < 0) {
    return ErrnoErr("bind AF_PACKET socket to {}", name);
  }
  if (bind(big, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) < 0) {
    return ErrnoErr("bind AF_PACKET socket for big frames to {}", name);
  }
  vlog.Dbg("{}: ring of {} frames x {} bytes", name, port->n_frames_, port->frame_size_);
  return port;
}

Result<std::unique_ptr<AfPacketPort>> AfPacketPort::Adopt(const std::string& name, UniqueFd fd,
                                                          UniqueFd big_fd,
                                                          const AfPacketHandover& state) {
  if (!fd || !big_fd) return Err("{}: handover without its sockets", name);
  // A successor that trusts wrong numbers would read past the ring: check
  // them against the socket itself where the kernel tells, and for sanity.
  int version = 0;
  socklen_t len = sizeof version;
  if (getsockopt(fd.get(), SOL_PACKET, PACKET_VERSION, &version, &len) < 0 ||
      version != TPACKET_V2) {
    return Err("{}: the handed-over socket is not a TPACKET_V2 AF_PACKET socket", name);
  }
  if (state.frame_size < 2048 || (state.frame_size & (state.frame_size - 1)) ||
      state.block_size < state.frame_size || state.block_size % state.frame_size ||
      state.frame_nr != state.block_nr * (state.block_size / state.frame_size) ||
      state.frame_nr == 0 || state.head >= state.frame_nr ||
      state.ring_capacity == 0 || state.ring_capacity >= state.frame_size) {
    return Err("{}: inconsistent ring geometry in the handover ({} frames of {} bytes in {} "
               "blocks of {}, head {})",
               name, state.frame_nr, state.frame_size, state.block_nr, state.block_size,
               state.head);
  }
  // The numbers were sane; now they must be this socket's: a ring read
  // with another frame size would put every header at the wrong place.
  auto real = ReadRxRing(fd.get());
  if (!real) {
    return Err("{}: cannot read the handed-over socket's ring: {}", name, real.error().message);
  }
  if (real->frame_size != state.frame_size || real->frame_nr != state.frame_nr ||
      real->block_size != state.block_size || real->block_nr != state.block_nr) {
    return Err("{}: the handover says {} frames of {} bytes in {} blocks of {}, but the socket's "
               "ring has {} frames of {} bytes in {} blocks of {}",
               name, state.frame_nr, state.frame_size, state.block_nr, state.block_size,
               real->frame_nr, real->frame_size, real->block_nr, real->block_size);
  }
  sockaddr_ll bound{};
  socklen_t bound_len = sizeof bound;
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &bound_len) < 0) {
    return ErrnoErr("{}: getsockname of the handed-over socket", name);
  }
  if (static_cast<uint32_t>(bound.sll_ifindex) != state.ifindex) {
    return Err("{}: the handover says interface index {}, but the socket is bound to {}", name,
               state.ifindex, bound.sll_ifindex);
  }
  std::unique_ptr<AfPacketPort> port(new AfPacketPort());
  port->name_ = name;
  port->ifindex_ = state.ifindex;
  port->fd_ = std::move(fd);
  port->big_fd_ = std::move(big_fd);
  port->ring_capacity_ = state.ring_capacity;
  port->head_ = state.head;
  HSW_TRY(port->MapRing(state.frame_size, state.block_size, state.block_nr, state.frame_nr));
  return port;
}

// The ring set up on fd_, mapped, and the buffers for big frames: what a
// port needs whether it set the ring up itself or was handed it.
Status AfPacketPort::MapRing(uint32_t frame_size, uint32_t block_size, uint32_t block_nr,
                             uint32_t frame_nr) {
  frame_size_ = frame_size;
  block_size_ = block_size;
  n_blocks_ = block_nr;
  n_frames_ = frame_nr;
  ring_size_ = size_t{block_size} * block_nr;
  void* ring = mmap(nullptr, ring_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                    fd_.get(), 0);
  if (ring == MAP_FAILED) return ErrnoErr("mmap of the RX ring of {}", name_);
  ring_ = static_cast<uint8_t*>(ring);
  big_.resize(kBigBuffers);
  for (auto& buffer : big_) buffer.resize(kBigHeadroom + kBigMax);
  return Ok();
}

AfPacketHandover AfPacketPort::ExportHandover() const {
  AfPacketHandover state;
  state.ifindex = ifindex_;
  state.frame_size = frame_size_;
  state.block_size = block_size_;
  state.block_nr = n_blocks_;
  state.frame_nr = n_frames_;
  state.ring_capacity = ring_capacity_;
  state.head = head_;
  return state;
}

AfPacketPort::~AfPacketPort() {
  if (ring_) munmap(ring_, ring_size_);
}

// The kernel fills frames in ring order and a reader hands them back in ring
// order, so the frames user space owns form one run (two, briefly, in a
// ring that wrapped while its reader died mid-release): reading resumes at
// the start of the oldest run.  Timestamps only break ties: they follow the
// wall clock, which can step.  With no frame owned by user space the kernel's
// position is unknown until it fills one; poll() says when (it looks at the
// frame the kernel filled last, not at ours).
bool AfPacketPort::FindHead() {
  auto owned = [this](uint32_t i) {
    auto* hdr = reinterpret_cast<tpacket2_hdr*>(Frame(i));
    return (__atomic_load_n(&hdr->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0;
  };
  auto stamp = [this](uint32_t i) {
    auto* hdr = reinterpret_cast<tpacket2_hdr*>(Frame(i));
    return uint64_t{hdr->tp_sec} * 1000000000u + hdr->tp_nsec;
  };
  bool found = false, all_owned = true;
  uint32_t best = 0;
  for (uint32_t i = 0; i < n_frames_; ++i) {
    if (!owned(i)) {
      all_owned = false;
      continue;
    }
    bool run_start = !owned(i == 0 ? n_frames_ - 1 : i - 1);
    if (run_start && (!found || stamp(i) < stamp(best))) {
      best = i;
      found = true;
    }
  }
  if (all_owned) {  // a full ring: no run starts; the oldest frame is next
    for (uint32_t i = 0; i < n_frames_; ++i) {
      if (!found || stamp(i) < stamp(best)) best = i;
      found = true;
    }
  }
  if (!found) return false;
  head_ = best;
  head_known_ = true;
  vlog.Info("{}: reading resumes at ring frame {} (found in the ring)", name_, best);
  return true;
}

size_t AfPacketPort::Receive(Packet* packets, size_t max) {
  size_t n = 0;
  if (!head_known_) {
    // The forwarding loop tries every port each time round; the ring is
    // scanned only once poll() says the kernel has filled a frame.
    pollfd ready{fd_.get(), POLLIN, 0};
    if (poll(&ready, 1, 0) <= 0 || !(ready.revents & POLLIN) || !FindHead()) return 0;
  }
  while (n < max && n_held_ < n_frames_) {
    uint8_t* frame = Frame(head_);
    auto* hdr = reinterpret_cast<tpacket2_hdr*>(frame);
    uint32_t status = __atomic_load_n(&hdr->tp_status, __ATOMIC_ACQUIRE);
    if (!(status & TP_STATUS_USER)) break;
    head_ = head_ + 1 == n_frames_ ? 0 : head_ + 1;
    ++n_held_;
    if (status & TP_STATUS_LOSING) {
      tpacket_stats st{};
      socklen_t len = sizeof(st);
      if (getsockopt(fd_.get(), SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
        stats_.rx_dropped += st.tp_drops;
      }
    }
    uint8_t* data = frame + hdr->tp_mac;
    virtio_net_hdr vnet;
    std::memcpy(&vnet, data - kVnetHdrSize, kVnetHdrSize);
    if (hdr->tp_snaplen < hdr->tp_len) {
      ++rx_counters_.oversize;
      ++stats_.rx_dropped;
      continue;
    }
    Packet& p = packets[n];
    p.data = data;
    p.size = hdr->tp_snaplen;
    p.headroom = static_cast<uint32_t>(hdr->tp_mac - kVnetHdrSize - TPACKET2_HDRLEN);
    p.csum_partial = vnet.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;
    p.csum_start = vnet.csum_start;
    p.csum_offset = vnet.csum_offset;
    p.gso_type = vnet.gso_type;
    p.gso_size = vnet.gso_size;
    p.hdr_len = vnet.hdr_len;
    if ((status & TP_STATUS_VLAN_VALID) && p.headroom >= 4 && p.size >= 12) {
      // The kernel took the tag out of the frame (VLAN offload); the flow key
      // and the actions expect it in place.
      uint16_t tpid = (status & TP_STATUS_VLAN_TPID_VALID) ? hdr->tp_vlan_tpid : ETH_P_8021Q;
      std::memmove(p.data - 4, p.data, 12);
      p.data -= 4;
      p.size += 4;
      p.headroom -= 4;
      uint16_t be_tpid = htons(tpid), be_tci = htons(hdr->tp_vlan_tci);
      std::memcpy(p.data + 12, &be_tpid, 2);
      std::memcpy(p.data + 14, &be_tci, 2);
      if (p.csum_partial) p.csum_start = static_cast<uint16_t>(p.csum_start + 4);
      if (p.gso_type) p.hdr_len = static_cast<uint16_t>(p.hdr_len + 4);
    }
    ++stats_.rx_packets;
    stats_.rx_bytes += p.size;
    ++n;
  }
  if (n < max) n += ReceiveBig(packets + n, std::min(max - n, kBigBuffers));
  return n;
}

size_t AfPacketPort::ReceiveBig(Packet* packets, size_t max) {
  mmsghdr msgs[kBigBuffers];
  iovec iov[kBigBuffers];
  alignas(cmsghdr) uint8_t control[kBigBuffers][CMSG_SPACE(sizeof(tpacket_auxdata))];
  for (size_t i = 0; i < max; ++i) {
    // The vnet header lands just before the frame, the frame at kBigHeadroom.
    iov[i] = {big_[i].data() + kBigHeadroom - kVnetHdrSize, kVnetHdrSize + kBigMax};
    msgs[i] = mmsghdr{};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_control = control[i];
    msgs[i].msg_hdr.msg_controllen = sizeof(control[i]);
  }
  int got = recvmmsg(big_fd_.get(), msgs, static_cast<unsigned>(max), MSG_DONTWAIT, nullptr);
  if (got <= 0) return 0;
  size_t n = 0;
  for (int i = 0; i < got; ++i) {
    const msghdr& mh = msgs[i].msg_hdr;
    size_t len = msgs[i].msg_len;
    if ((mh.msg_flags & MSG_TRUNC) || len < kVnetHdrSize + 14) {
      ++rx_counters_.oversize;
      ++stats_.rx_dropped;
      continue;
    }
    uint8_t* buffer = big_[static_cast<size_t>(i)].data();
    virtio_net_hdr vnet;
    std::memcpy(&vnet, buffer + kBigHeadroom - kVnetHdrSize, kVnetHdrSize);
    Packet& p = packets[n];
    p.data = buffer + kBigHeadroom;
    p.size = static_cast<uint32_t>(len - kVnetHdrSize);
    p.headroom = kBigHeadroom - kVnetHdrSize;
    p.csum_partial = vnet.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;
    p.csum_start = vnet.csum_start;
    p.csum_offset = vnet.csum_offset;
    p.gso_type = vnet.gso_type;
    p.gso_size = vnet.gso_size;
    p.hdr_len = vnet.hdr_len;
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&mh), c)) {
      if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) continue;
      tpacket_auxdata aux;
      std::memcpy(&aux, CMSG_DATA(c), sizeof(aux));
      if (aux.tp_status & TP_STATUS_VLAN_VALID) {
        uint16_t tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux.tp_vlan_tpid
                                                                     : ETH_P_8021Q;
        std::memmove(p.data - 4, p.data, 12);
        p.data -= 4;
        p.size += 4;
        p.headroom -= 4;
        uint16_t be_tpid = htons(tpid), be_tci = htons(aux.tp_vlan_tci);
        std::memcpy(p.data + 12, &be_tpid, 2);
        std::memcpy(p.data + 14, &be_tci, 2);
        if (p.csum_partial) p.csum_start = static_cast<uint16_t>(p.csum_start + 4);
        if (p.gso_type) p.hdr_len = static_cast<uint16_t>(p.hdr_len + 4);
      }
    }
    ++stats_.rx_packets;
    stats_.rx_bytes += p.size;
    ++n;
  }
  return n;
}

void AfPacketPort::ReleaseRx() {
  uint32_t index = (head_ + n_frames_ - n_held_) % n_frames_;
  for (uint32_t i = 0; i < n_held_; ++i) {
    auto* hdr = reinterpret_cast<tpacket2_hdr*>(Frame(index));
    __atomic_store_n(&hdr->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    index = index + 1 == n_frames_ ? 0 : index + 1;
  }
  n_held_ = 0;
}

void AfPacketPort::Send(const TxFrame* frames, size_t n) {
  static log::RateLimit rl(5);
  virtio_net_hdr vnet[kMaxTxBatch];
  iovec iov[kMaxTxBatch][2];
  mmsghdr msgs[kMaxTxBatch];
  while (n > 0) {
    size_t batch = std::min(n, kMaxTxBatch);
    for (size_t i = 0; i < batch; ++i) {
      const TxFrame& f = frames[i];
      vnet[i] = virtio_net_hdr{};
      if (f.csum_partial) {
        vnet[i].flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        vnet[i].csum_start = f.csum_start;
        vnet[i].csum_offset = f.csum_offset;
      }
      vnet[i].gso_type = f.gso_type;
      vnet[i].gso_size = f.gso_size;
      vnet[i].hdr_len = f.hdr_len;
      iov[i][0] = {&vnet[i], kVnetHdrSize};
      iov[i][1] = {const_cast<uint8_t*>(f.data), f.size};
      msgs[i] = mmsghdr{};
      msgs[i].msg_hdr.msg_iov = iov[i];
      msgs[i].msg_hdr.msg_iovlen = 2;
    }
    size_t done = 0;
    while (done < batch) {
      int sent = sendmmsg(fd_.get(), msgs + done, static_cast<unsigned>(batch - done), MSG_DONTWAIT);
      if (sent <= 0) {
        if (sent < 0 && errno == EINTR) continue;
        int err = sent < 0 ? errno : EAGAIN;
        size_t lost = batch - done;
        if (err == EAGAIN || err == ENOBUFS) {
          stats_.tx_dropped += lost;  // the interface's queue is full
        } else {
          stats_.tx_errors += lost;
          if (rl.Allow()) vlog.Warn("{}: sendmmsg: {}", name_, std::strerror(err));
        }
        break;
      }
      for (int i = 0; i < sent; ++i) {
        ++stats_.tx_packets;
        stats_.tx_bytes += frames[done + static_cast<size_t>(i)].size;
      }
      done += static_cast<size_t>(sent);
    }
    frames += batch;
    n -= batch;
  }
}

void AfPacketPort::HandlePollError() {
  // The kernel flags ENETDOWN when the interface goes down or away; reading
  // SO_ERROR clears it.  The port stays until the owner deletes it.
  for (int fd : {fd_.get(), big_fd_.get()}) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
      ++stats_.rx_errors;
      static log::RateLimit rl(5);
      if (rl.Allow()) {
        vlog.Warn("{}: {}{}", name_, std::strerror(err),
                  if_nametoindex(name_.c_str()) == 0 ? " (the interface is gone)" : "");
      }
    }
  }
}

dpif::PortInfo AfPacketPort::Info() const {
  dpif::PortInfo info;
  info.name = name_;
  info.type = "af_packet";
  info.ifindex = ifindex_;
  info.stats = stats_;
  int fd = fd_.get();
  if (auto mtu = IfReq(fd, name_, SIOCGIFMTU, "SIOCGIFMTU")) info.mtu = static_cast<uint32_t>(mtu->ifr_mtu);
  if (auto hw = IfReq(fd, name_, SIOCGIFHWADDR, "SIOCGIFHWADDR")) {
    std::memcpy(info.hw_addr, hw->ifr_hwaddr.sa_data, 6);
  }
  if (auto flags = IfReq(fd, name_, SIOCGIFFLAGS, "SIOCGIFFLAGS")) {
    info.link_up = (flags->ifr_flags & IFF_UP) && (flags->ifr_flags & IFF_RUNNING);
  }
  return info;
}

}  // namespace hsw::dp
