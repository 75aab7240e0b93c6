// DpServer: the datapath protocol server on <rundir>/datapath.sock
// (dpif/dpif_protocol.h is the message set, docs/dpif-protocol.md the spec).
//
// It runs inside the forwarding loop (datapath.h): the loop polls the server's
// descriptors together with the ports and calls Process() once per iteration.
// Everything is non-blocking; each connection has an input MessageReader and
// an output buffer.  Work per Process() call is bounded so that forwarding
// never waits long behind the control plane:
//   * FlowPut and FlowDel batches are applied a slice at a time (a few
//     thousand flows per iteration) and answered when complete; a connection
//     reads no further requests meanwhile, so replies keep their order;
//   * FlowDump replies are produced a chunk at a time (kFlagMore on all but
//     the last), and only while the client keeps reading;
//   * upcalls move from the miss queue to the owner only while the owner's
//     output buffer is below a high-water mark, a bounded number per call,
//     and never after the owner has sent UpcallPause (it is exiting; misses
//     then wait in the queue as if no owner were connected).
//
// Roles: one owner (gets upcalls; a second is refused with EBUSY), any number
// of monitors.  A message that does not decode, or breaks the protocol (no
// Hello first, a reply sent as a request), gets an error reply naming the
// problem and the connection is closed; the datapath itself carries on.
#pragma once

#include <poll.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "datapath/miss_queue.h"
#include "dpif/dpif_codec.h"
#include "dpif/dpif_protocol.h"

namespace hsw::dp {

class Datapath;

struct DpServerOptions {
  size_t flow_ops_per_iteration = 2000;   // puts/deletes applied per Process()
  size_t dump_chunk = 256;                // flows per FlowDumpReply message
  size_t upcalls_per_iteration = 256;
  size_t messages_per_iteration = 64;     // requests handled per connection per Process()
  size_t output_high_water = 1 << 20;     // bytes: stop producing dumps/upcalls above this
  size_t read_per_iteration = 256 << 10;  // bytes read per connection per Process()
};

class DpServer {
 public:
  DpServer(Datapath& datapath, UniqueFd listener, DpServerOptions options = {});
  ~DpServer();
  DpServer(const DpServer&) = delete;
  DpServer& operator=(const DpServer&) = delete;

  // Appends the descriptors to poll; Process() receives them back in order.
  void AppendPollFds(std::vector<pollfd>& fds);
  // True if Process() has work left even without new events.
  bool HasPendingWork() const;
  void Process(std::span<pollfd> fds, uint64_t now_us);

  // Handover (datapath/handover.h).  A frozen server accepts nothing, reads
  // no requests and delivers no upcalls, so the flow table holds still while
  // a successor copies it; it still finishes the jobs in progress and writes
  // out queued replies.  quiescent(): frozen and no job left.
  void Freeze();
  void Thaw();
  bool frozen() const { return frozen_; }
  bool quiescent() const;
  // A client connection as the successor takes it over, at a message
  // boundary: what was read but not handled goes with it, and what was
  // queued but not yet written.
  struct ConnHandover {
    int fd = -1;  // borrowed from this server
    uint64_t id = 0;
    bool hello_done = false;
    dpif::Role role = dpif::Role::kMonitor;
    uint32_t version = 0;
    std::string name;
    std::vector<uint8_t> unread;
    std::vector<uint8_t> unsent;
    bool upcalls_paused = false;  // the owner is stopping: send it no more upcalls
    uint64_t n_upcalls = 0;       // sent on this connection so far
  };
  // Only when quiescent().
  std::vector<ConnHandover> ExportConnections() const;
  // The successor's side.  Fails if the connection speaks a protocol version
  // this build does not, or would be a second owner.
  Status AdoptConnection(UniqueFd fd, const ConnHandover& state);
  int listener_fd() const { return listener_.get(); }

  uint64_t instance_id() const { return instance_id_; }
  size_t n_connections() const { return conns_.size(); }
  bool has_owner() const { return owner_ != nullptr; }
  uint64_t upcalls_sent() const { return upcalls_sent_; }

 private:
  struct Conn;

  void Accept();
  void Read(Conn& conn);
  void HandleMessages(Conn& conn, size_t& flow_budget);
  void Handle(Conn& conn, dpif::Message& msg);
  void HandleHello(Conn& conn, const dpif::MsgHeader& header, const dpif::Hello& hello);
  // UpcallPause: no more upcalls to this (owner) connection.
  void HandleUpcallPause(Conn& conn, const dpif::MsgHeader& header);
  void RunJobs(Conn& conn, size_t& flow_budget);
  void DeliverUpcalls(uint64_t now_us);
  void Write(Conn& conn);
  void Reply(Conn& conn, const dpif::Body& body, uint32_t xid, uint16_t flags = dpif::kFlagReply);
  void ReplyError(Conn& conn, dpif::MsgType type, uint32_t xid, int error,
                  const std::string& message);
  // Sends an error reply, then closes once it is written.
  void Fail(Conn& conn, dpif::MsgType type, uint32_t xid, int error, const std::string& message);
  void Close(Conn& conn, const char* why);
  std::vector<std::pair<std::string, uint64_t>> Counters() const;

  Datapath& dp_;
  UniqueFd listener_;
  DpServerOptions options_;
  uint64_t instance_id_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<Conn*> polled_;  // connections in AppendPollFds order
  Conn* owner_ = nullptr;
  uint64_t next_conn_id_ = 1;
  uint64_t upcalls_sent_ = 0;
  uint64_t backlog_at_connect_ = 0;  // upcalls waiting when the owner connected
  MissQueue::Counters counters_at_owner_loss_;  // for the drain's log line
  uint64_t protocol_errors_ = 0;
  bool frozen_ = false;
};

}  // namespace hsw::dp
