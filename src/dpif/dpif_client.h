// DpifClient: the Dpif that talks to a running hsw-datapath over its unix
// socket (docs/dpif-protocol.md).  hsw-vswitchd connects as the owner and
// receives upcalls; hsw-ctl connects as a monitor.
//
// Calls are synchronous: each sends one request (or, for large batches,
// several, each kept well under kMaxMessageSize) and waits for the reply with
// the same xid, at most `timeout` per reply.  The datapath is a separate
// process that outlives us, so the wait is bounded: a datapath that does not
// answer gives an error naming the request, not a hung daemon.  Upcalls that
// arrive while a call waits are kept in a buffer and handed out by
// RecvUpcalls(); a caller that polls upcall_fd() must also check
// HasBufferedUpcalls() after every call, since buffered upcalls do not make
// the socket readable.
//
// Failure model: an error reply from the datapath (header.error != 0) fails
// only that call, with the datapath's errno and message.  A timeout, a closed
// connection or a message that does not decode breaks the connection: every
// later call fails with the same error, and the owner reconnects (a fresh
// DpifClient); the socket is shut down at once, so that the datapath frees
// the owner's place for that reconnection.  Not thread-safe; one thread uses a client.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/fd.h"
#include "dpif/dpif.h"
#include "dpif/dpif_codec.h"

namespace hsw::dpif {

// <rundir>/datapath.sock, where hsw-datapath serves this protocol.
std::string DatapathSocketPath(const std::string& rundir);

class DpifClient : public Dpif {
 public:
  static constexpr std::chrono::milliseconds kDefaultTimeout{10000};

  // Connects to the datapath socket and performs the Hello handshake.
  // Fails (with the datapath's explanation) if the datapath refuses: no
  // common protocol version (EPROTONOSUPPORT), a FlowKey size mismatch, or a
  // second owner (EBUSY).  `timeout` bounds each reply, the Hello's too.
  static Result<std::unique_ptr<DpifClient>> Connect(
      const std::string& socket_path, Role role, const std::string& client_name,
      std::chrono::milliseconds timeout = kDefaultTimeout);
  // The same over an already-connected stream socket (tests use a
  // socketpair).  `hello` lets a test offer other versions than ours.
  static Result<std::unique_ptr<DpifClient>> Open(
      UniqueFd fd, Role role, const std::string& client_name,
      std::chrono::milliseconds timeout = kDefaultTimeout, const Hello* hello = nullptr);

  ~DpifClient() override;

  // Dpif.
  const HelloReply& hello() const override { return hello_; }
  using Dpif::PortAdd;
  Result<uint32_t> PortAdd(const std::string& name, const std::string& type,
                           uint32_t port_no) override;
  Status PortDel(uint32_t port_no) override;
  Result<std::vector<PortInfo>> PortList() override;
  Result<std::vector<int32_t>> FlowPut(const std::vector<dpif::FlowPut>& puts) override;
  Result<std::vector<FlowDelResult>> FlowDel(const std::vector<FlowId>& flows) override;
  Result<std::vector<DpFlow>> FlowDump() override;
  Status FlowFlush() override;
  Status Execute(const std::vector<dpif::Execute>& packets) override;
  Result<StatsReply> GetStats() override;
  int upcall_fd() const override { return fd_.get(); }
  bool HasBufferedUpcalls() const override { return !upcalls_.empty(); }
  Result<std::vector<Upcall>> RecvUpcalls(size_t max) override;
  Result<uint64_t> PauseUpcalls() override;

  // Upcalls received on this connection so far (handed out or buffered); a
  // PauseUpcalls reply with another count is logged as a warning.
  uint64_t n_upcalls_received() const { return n_upcalls_received_; }

  // Not part of Dpif: one flow with its stats (ENOENT if absent).
  Result<DpFlow> FlowGet(const FlowId& flow);

  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  // The connection is unusable (see the failure model above).
  bool broken() const { return broken_.has_value(); }
  const std::string& peer() const { return peer_; }

 private:
  DpifClient(UniqueFd fd, std::string peer, std::chrono::milliseconds timeout);

  Status Handshake(const Hello& hello);
  // Sends `request` and returns the bodies of its reply messages (several
  // only for kFlagMore chunks).  An error reply becomes the Error.
  Result<std::vector<Body>> Transact(const Body& request);
  Status SendAll(const std::vector<uint8_t>& bytes, MsgType type,
                 std::chrono::steady_clock::time_point deadline);
  // Reads what the socket has into reader_ without waiting.  false on EOF.
  Result<bool> ReadAvailable();
  // Moves every complete upcall in reader_ to upcalls_.  A reply to `xid` is
  // returned instead; other replies (stale xids) are dropped.
  Result<std::optional<Message>> Drain(uint32_t xid);
  tl::unexpected<Error> Break(Error error);

  UniqueFd fd_;
  std::string peer_;  // for messages: the socket path
  std::chrono::milliseconds timeout_;
  HelloReply hello_;
  MessageReader reader_;
  std::deque<Upcall> upcalls_;
  uint64_t n_upcalls_received_ = 0;
  uint32_t next_xid_ = 1;
  std::optional<Error> broken_;
  bool eof_ = false;
};

}  // namespace hsw::dpif
