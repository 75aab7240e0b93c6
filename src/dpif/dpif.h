// Dpif: hsw-vswitchd's view of a datapath.  Like Open vSwitch's dpif, the
// datapath has no intelligence of its own: it forwards packets that match its
// megaflows and reports the rest as upcalls; the client decides everything.
//
// Implementations: DpifClient (dpif_client.h) speaks the datapath protocol
// over datapath.sock; tests use an in-memory fake.  All methods are called
// from one thread (the daemon's event loop) and block until the datapath
// answers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "dpif/dpif_protocol.h"

namespace hsw::dpif {

class Dpif {
 public:
  virtual ~Dpif() = default;

  virtual const HelloReply& hello() const = 0;

  // `type`: "af_packet" (an existing interface) or "internal" (a tap the
  // datapath creates; see datapath/ports/tap_port.h).
  virtual Result<uint32_t> PortAdd(const std::string& name, const std::string& type,
                                   uint32_t port_no) = 0;
  Result<uint32_t> PortAdd(const std::string& name, uint32_t port_no) {
    return PortAdd(name, "af_packet", port_no);
  }
  virtual Status PortDel(uint32_t port_no) = 0;
  virtual Result<std::vector<PortInfo>> PortList() = 0;

  // errno per put, in order.  The Result fails only if the datapath is unreachable.
  virtual Result<std::vector<int32_t>> FlowPut(const std::vector<dpif::FlowPut>& puts) = 0;
  virtual Result<std::vector<FlowDelResult>> FlowDel(const std::vector<FlowId>& flows) = 0;
  virtual Result<std::vector<DpFlow>> FlowDump() = 0;
  virtual Status FlowFlush() = 0;
  virtual Status Execute(const std::vector<dpif::Execute>& packets) = 0;
  virtual Result<StatsReply> GetStats() = 0;

  // Upcalls.  Poll upcall_fd() for readability; then RecvUpcalls() returns
  // what has arrived (possibly nothing).  Upcalls that arrived while another
  // call waited for its reply are buffered: check HasBufferedUpcalls() after
  // any call.  An error means the datapath connection is gone.
  virtual int upcall_fd() const = 0;
  virtual bool HasBufferedUpcalls() const = 0;
  virtual Result<std::vector<Upcall>> RecvUpcalls(size_t max) = 0;

  // Before a graceful exit: the datapath stops sending upcalls to this
  // connection (later misses wait in its miss queue for the next owner) and,
  // once this returns, every upcall it sent before is buffered here
  // (HasBufferedUpcalls(), RecvUpcalls()).  Returns how many upcalls the
  // datapath sent on this connection in all.  ENOTSUP if the datapath speaks
  // a protocol version without UpcallPause (1): nothing changed, upcalls keep
  // coming.
  virtual Result<uint64_t> PauseUpcalls() = 0;
};

}  // namespace hsw::dpif
