// The handover stream's framing (src/datapath/handover.h describes the
// exchange): one message per SOCK_SEQPACKET datagram, a type byte, then JSON
// or one datapath-protocol message, file descriptors beside it (SCM_RIGHTS).
// Here rather than in src/datapath because hsw-ctl speaks it too, to ask a
// running datapath whether it would accept a successor (upgrade-check).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/fd.h"
#include "common/result.h"

namespace hsw::dpif::handover {

enum class MsgType : uint8_t {
  kHello = 1,
  kHelloReply = 2,
  kPort = 3,
  kSockets = 4,
  kFlows = 5,
  kSnapshotEnd = 6,
  kReady = 7,
  kPortHeads = 8,
  kStats = 9,
  kUpcall = 10,
  kConn = 11,
  kFinalEnd = 12,
  kTaken = 13,
};

const char* MsgName(MsgType type);

struct Datagram {
  MsgType type{};
  std::vector<uint8_t> body;
  std::vector<UniqueFd> fds;

  Result<nlohmann::json> Json() const;
};

// Sends one datagram.  On a non-blocking socket that is full the error's
// code is EAGAIN: wait for POLLOUT and send it again.
Status SendDatagram(int fd, MsgType type, std::span<const uint8_t> body,
                    std::span<const int> fds = {});
Status SendJson(int fd, MsgType type, const nlohmann::json& j, std::span<const int> fds = {});
// Receives one datagram, waiting up to timeout_ms (ETIMEDOUT if none came).
Result<Datagram> ReceiveDatagram(int fd, int timeout_ms);
Result<Datagram> Expect(int fd, MsgType type, int timeout_ms);
// Deep socket buffers: a Flows message is tens of kilobytes.
void SetBuffers(int fd);
// <rundir>/datapath.handover, where a running datapath waits for a successor.
std::string SocketPath(const std::string& rundir);
// A connected handover socket at `path`.
Result<UniqueFd> Connect(const std::string& path);

}  // namespace hsw::dpif::handover
