#include "dpif/handover_wire.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace hsw::dpif::handover {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxFds = 4;
constexpr size_t kMaxDatagram = 1 << 20;
constexpr int kSocketBuffer = 8 << 20;

bool WaitFor(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    int r = poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}

}  // namespace

const char* MsgName(MsgType type) {
  switch (type) {
    case MsgType::kHello: return "Hello";
    case MsgType::kHelloReply: return "HelloReply";
    case MsgType::kPort: return "Port";
    case MsgType::kSockets: return "Sockets";
    case MsgType::kFlows: return "Flows";
    case MsgType::kSnapshotEnd: return "SnapshotEnd";
    case MsgType::kReady: return "Ready";
    case MsgType::kPortHeads: return "PortHeads";
    case MsgType::kStats: return "Stats";
    case MsgType::kUpcall: return "Upcall";
    case MsgType::kConn: return "Conn";
    case MsgType::kFinalEnd: return "FinalEnd";
    case MsgType::kTaken: return "Taken";
  }
  return "unknown";
}

Result<json> Datagram::Json() const {
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Err("{} is not a JSON object", MsgName(type));
  return j;
}

Status SendDatagram(int fd, MsgType type, std::span<const uint8_t> body,
                    std::span<const int> fds) {
  uint8_t type_byte = static_cast<uint8_t>(type);
  iovec iov[2] = {{&type_byte, 1}, {const_cast<uint8_t*>(body.data()), body.size()}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  }
  while (sendmsg(fd, &msg, MSG_NOSIGNAL) < 0) {
    if (errno == EINTR) continue;
    return ErrnoErr("sending {}", MsgName(type));
  }
  return Ok();
}

Status SendJson(int fd, MsgType type, const json& j, std::span<const int> fds) {
  std::string text = j.dump();
  return SendDatagram(fd, type,
                      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()),
                                               text.size()),
                      fds);
}


Result<Datagram> ReceiveDatagram(int fd, int timeout_ms) {
  if (timeout_ms >= 0 && !WaitFor(fd, POLLIN, timeout_ms)) {
    return MakeError(fmt::format("nothing received within {} ms", timeout_ms), ETIMEDOUT);
  }
  std::vector<uint8_t> buffer(kMaxDatagram);
  iovec iov{buffer.data(), buffer.size()};
  alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  while ((n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  if (n < 0) return ErrnoErr("receiving");
  Datagram d;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int received;
      std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      d.fds.emplace_back(received);
    }
  }
  if (n == 0) return MakeError("the other side closed the handover connection", EPIPE);
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return Err("a handover message was truncated");
  d.type = static_cast<MsgType>(buffer[0]);
  d.body.assign(buffer.begin() + 1, buffer.begin() + n);
  return d;
}

Result<Datagram> Expect(int fd, MsgType type, int timeout_ms) {
  HSW_ASSIGN_OR_RETURN(Datagram d, ReceiveDatagram(fd, timeout_ms));
  if (d.type != type) {
    return Err("expected {}, got {}", MsgName(type), MsgName(d.type));
  }
  return d;
}

void SetBuffers(int fd) {
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &kSocketBuffer, sizeof kSocketBuffer);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kSocketBuffer, sizeof kSocketBuffer);
}

std::string SocketPath(const std::string& rundir) { return rundir + "/datapath.handover"; }

Result<UniqueFd> Connect(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoErr("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return Err("{}: path too long", path);
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    return MakeError(fmt::format("no running hsw-datapath to hand over from at {}: {}", path,
                                 std::strerror(errno)),
                     errno);
  }
  SetBuffers(fd.get());
  return fd;
}

}  // namespace hsw::dpif::handover
