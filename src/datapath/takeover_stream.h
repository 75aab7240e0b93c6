// The successor's half of a handover (handover.h): the running datapath's
// messages, applied one datagram at a time to what is being taken over.
// Kept apart from the socket so that TakeOver() can stop after any message
// (its predecessor may die at any point) and a fuzzer can feed it anything.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "datapath/handover.h"
#include "dpif/handover_wire.h"

namespace hsw::dp {

class AfPacketPort;
class Port;

class TakeoverStream {
 public:
  // kSnapshot: Port, Sockets, Flows until SnapshotEnd; then the successor
  // sends Ready.  kSwitchOver: PortHeads, Stats, Upcall, Conn until FinalEnd.
  enum class Stage { kSnapshot, kSwitchOver, kDone };

  explicit TakeoverStream(const DatapathOptions& options);

  // Applies one message of the current stage.  An error names what is wrong
  // with it; the takeover is then given up (the predecessor carries on).
  Status Apply(dpif::handover::Datagram& message);
  Stage stage() const { return stage_; }

  // What arrived, for the log, and for what is lost when the predecessor
  // died before sending the rest.
  struct Received {
    size_t ports = 0;
    bool sockets = false;
    size_t flows = 0;
    bool snapshot_end = false;
    bool port_heads = false;
    size_t stats = 0;
    size_t upcalls = 0;
    size_t connections = 0;
    bool final_end = false;
  };
  const Received& received() const { return received_; }

  // The datapath made of what arrived.  Ports whose ring head did not arrive
  // find it in their rings (AfPacketPort::ForgetHead).  Fails without the
  // datapath socket: a datapath nobody can reach is no takeover.
  Result<Takeover> Finish();

 private:
  Status ApplySnapshot(dpif::handover::Datagram& message);
  Status ApplySwitchOver(dpif::handover::Datagram& message);

  Takeover taken_;
  std::vector<std::pair<uint32_t, AfPacketPort*>> ports_;
  std::vector<std::pair<uint32_t, Port*>> other_ports_;  // internal (tap) ports
  UniqueFd listener_;
  Stage stage_ = Stage::kSnapshot;
  Received received_;
};

}  // namespace hsw::dp
