// Handover: a running hsw-datapath gives everything it holds to a successor
// process (`hsw-datapath --takeover`, typically a new binary), the way Envoy's
// hot restart and HAProxy's seamless reload hand over their sockets: nothing
// is closed, so packets that arrive meanwhile wait in the kernel and are
// forwarded by the successor.
//
// The running datapath listens on <rundir>/datapath.handover (SOCK_SEQPACKET:
// one message per datagram, file descriptors beside them).  The successor:
//
//   successor                                   running datapath
//   Hello {handover versions, dpif versions,  →
//          flow key size, binary version}
//                                             ← HelloReply {accepted, or why not}
//                                               (freezes its control socket:
//                                               the flow table holds still;
//                                               forwarding goes on)
//                                             ← Port {name, number, ring} + 2 fds, per port
//                                             ← Sockets + fds: datapath.sock listener,
//                                               instance lock
//                                             ← Flows (dpif FlowDumpReply chunks),
//                                               a few per loop iteration
//                                             ← SnapshotEnd {ports, flows}
//   (builds its ports and flow table)
//   Ready                                     →
//                                               stops forwarding, between batches
//                                             ← PortHeads {per port: ring head, stats}
//                                             ← Stats (flow stats, FlowDumpReply chunks)
//                                             ← Upcall (each waiting miss)
//                                             ← Conn + fd, per client connection
//                                             ← FinalEnd
//   (applies; the connections' unread bytes)
//   Taken                                     →
//   forwards, serves                            exits
//
// If the successor fails or goes away at any point before Taken, the running
// datapath thaws and carries on as if nothing happened, and logs why.  It
// never sends a thing it would need back: everything handed over is a copy or
// a duplicated descriptor until Taken.  An incompatible successor (no common
// handover version, another flow key layout, a client connection's protocol
// version it does not speak) is refused in the HelloReply, before anything is
// handed over.
#pragma once

#include <poll.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "datapath/datapath.h"
#include "datapath/dp_server.h"

namespace hsw::dp {

// The handover stream's version, and the oldest one this build still takes
// over from or hands over to.  kHandoverVersion is defined in its own object
// file, datapath/handover_version.cc (2), so that an executable may define it
// itself, as kVersion (common/version.h): the tests' hsw-datapath-next speaks
// 1..3 (3 is 2 on the wire), so that negotiation picks between real ranges.
//
// Version 2 adds internal ports: a Port message may say "type": "internal"
// and carry one descriptor, a tap's (datapath/ports/tap_port.h).  Version 1
// has only AF_PACKET ports (no "type", two sockets); a running datapath that
// holds an internal port refuses a successor that speaks only version 1, in
// its HelloReply, before anything is frozen or handed over.
extern const uint32_t kHandoverVersion;
inline constexpr uint32_t kHandoverVersionMin = 1;
inline constexpr uint32_t kHandoverVersionInternalPorts = 2;

struct HandoverVersions {
  uint32_t min = kHandoverVersionMin;
  uint32_t max = kHandoverVersion;
};

// The running side.  The forwarding loop polls it with the ports and the
// DpServer; when handed_over() it stops, and main exits without removing the
// sockets (they are the successor's now).
class HandoverServer : public LoopTask {
 public:
  HandoverServer(Datapath& datapath, DpServer& server, UniqueFd listener,
                 HandoverVersions versions = {});
  ~HandoverServer();
  HandoverServer(const HandoverServer&) = delete;
  HandoverServer& operator=(const HandoverServer&) = delete;

  void AppendPollFds(std::vector<pollfd>& fds) override;
  bool HasPendingWork() const override;
  void Process(std::span<pollfd> fds) override;
  bool handed_over() const;
  // Tests: die (SIGKILL) right after accepting a successor, before anything
  // is handed over: the successor must start afresh.
  void set_die_after_accepting_for_testing(bool die) { die_after_accepting_ = die; }

 private:
  struct Session;
  void Accept();
  void Step();
  void Abandon(const std::string& why);
  void SwitchOver();

  Datapath& dp_;
  DpServer& server_;
  UniqueFd listener_;
  HandoverVersions versions_;
  std::unique_ptr<Session> session_;
  bool handed_over_ = false;
  bool die_after_accepting_ = false;
};

// The successor's side.
struct TakeoverOptions {
  std::string rundir;
  DatapathOptions datapath;
  HandoverVersions versions;
  int timeout_ms = 10000;  // for each step
  // Tests: die (exit 3) right after the snapshot, as a crashing binary would.
  bool exit_after_snapshot_for_testing = false;
  // Tests: stop (SIGSTOP) after the snapshot ("snapshot") or after the ring
  // heads arrived ("switchover"), so that a test can kill either process
  // exactly there.
  std::string stop_at_for_testing;
};

struct Takeover {
  std::unique_ptr<Datapath> datapath;
  std::unique_ptr<DpServer> server;
  UniqueFd instance_lock;  // the predecessor's, still locked
  uint32_t predecessor_pid = 0;
  std::string predecessor_version;
  size_t n_flows = 0;
  size_t n_upcalls = 0;
  size_t n_connections = 0;
  // The predecessor died before the handover ended: this datapath goes on
  // with what arrived, and `lost` says what existed only in the dead process.
  bool predecessor_died = false;
  std::string lost;
};

// Connects to the running datapath under options.rundir and takes over
// everything.  When this returns a Takeover, the predecessor has stopped
// forwarding and is exiting, or has died midway (predecessor_died): run the
// datapath at once.  On error nothing was taken: the predecessor goes on, or
// it died before it handed over its ports (the error's code is ESRCH): then
// there is nothing to take over, and the caller may start afresh.
Result<Takeover> TakeOver(const TakeoverOptions& options);

}  // namespace hsw::dp
