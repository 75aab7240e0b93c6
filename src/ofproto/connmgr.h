// ConnManager: the OpenFlow connections of one bridge.
//
// Every bridge gets a unix socket at <rundir>/<bridge>.mgmt, the same
// endpoint Open vSwitch offers, so `ovs-ofctl -O OpenFlow13 dump-flows
// unix:/run/hsw/br0.mgmt` and friends work unchanged.  SetControllers() adds
// what OVS calls controllers and listeners:
//
//   tcp:IP[:PORT]    connect to a controller (port 6653 by default) and keep
//                    reconnecting with exponential backoff (1 s .. 8 s) and an
//                    inactivity probe (echo after 5 s of silence, drop after 10 s)
//   unix:PATH        the same over a unix socket
//   ptcp:PORT[:IP]   listen for controllers on TCP (IP defaults to 0.0.0.0)
//   punix:PATH       listen on another unix socket
//
// Each connection does the OpenFlow 1.3 handshake (HELLO with version bitmap;
// HELLO_FAILED and close when there is no common version), then serves
// requests in arrival order: echo, features, get/set-config, role (recorded;
// a slave may not modify the tables, and asynchronous messages skip it),
// flow-mod, multipart statistics, packet-out, barrier, and bundles of
// flow-mods (ONF extension 230, what `ovs-ofctl -O OpenFlow13 --bundle`
// sends) committed all-or-nothing through Bridge::FlowModBatch.  A barrier reply is
// sent only after Switch::Sync(), so a flow-mod's effect is visible to traffic
// as soon as the controller sees the barrier reply.
//
// Asynchronous messages (packet-in, flow-removed, port-status) arrive through
// BridgeListener and go to every connection that has finished the handshake,
// the management socket's included, as OVS does in OpenFlow 1.3.
//
// Robustness: sockets are non-blocking and output is buffered per connection.
// A malformed message gets an ERROR reply with the OpenFlow error the codec
// chose (BAD_REQUEST/BAD_LEN, BAD_MATCH/BAD_PREREQ...) and the connection
// keeps going; a stream whose framing is lost (garbage, a length below 8) gets
// one ERROR and is closed.  A peer that stops reading is disconnected once its
// backlog passes a limit (packet-ins are dropped, and counted, well before).
//
// Threading: everything runs on the event loop's thread.  The ConnManager
// must be destroyed before the Bridge and the EventLoop it was given.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/event_loop.h"
#include "common/fd.h"
#include "common/result.h"
#include "ofproto/ofproto.h"
#include "openflow/ofp_codec.h"

namespace hsw::ofproto {

struct ConnInfo {
  std::string name;       // "br0<->unix#3", "br0<->tcp:127.0.0.1:6653"
  bool controller;        // an active connection made for a tcp:/unix: target
  bool connected;         // handshake done
  uint8_t version;        // negotiated OpenFlow version (0 before the handshake)
  uint32_t role;          // ofp::kRoleEqual / kRoleMaster / kRoleSlave
};

struct ConnCounters {
  uint64_t accepted = 0;        // connections accepted on listeners
  uint64_t messages_in = 0;
  uint64_t errors_sent = 0;
  uint64_t refused_while_restoring = 0;  // writes refused during flow-restore-wait
  uint64_t packet_ins_sent = 0;
  uint64_t packet_ins_dropped = 0;  // peer's backlog too long
  uint64_t disconnects = 0;
};

class ConnManager : public BridgeListener {
 public:
  // Listens on <rundir>/<bridge.name()>.mgmt (an empty rundir means no
  // management socket, for tests) and registers with the bridge for
  // asynchronous messages.
  static Result<std::unique_ptr<ConnManager>> Create(EventLoop& loop, Switch& sw, Bridge& bridge,
                                                     const std::string& rundir);
  ~ConnManager() override;
  ConnManager(const ConnManager&) = delete;
  ConnManager& operator=(const ConnManager&) = delete;

  // Replaces the set of controller targets (see the syntax above): new ones
  // are started, missing ones stopped, unchanged ones left alone.  Nothing
  // changes if any target is invalid; the error names it.
  Status SetControllers(const std::vector<std::string>& targets);
  std::vector<std::string> controllers() const;

  // Serves an already connected stream socket (a socketpair in tests).
  void AdoptConnection(UniqueFd fd, const std::string& peer_name);

  std::vector<ConnInfo> Connections() const;
  const ConnCounters& counters() const { return counters_; }
  // The management socket's path ("" without one).
  const std::string& mgmt_path() const { return mgmt_path_; }

  // BridgeListener.
  void OnPacketIn(const ofp::PacketIn& packet_in) override;
  void OnFlowRemoved(const ofp::FlowRemoved& removed) override;
  void OnPortStatus(const ofp::PortStatus& status) override;

  // Backlog limits, in bytes of unsent output per connection.
  static constexpr size_t kPacketInBacklog = 1 << 20;
  static constexpr size_t kMaxBacklog = 64 << 20;

 private:
  class Connection;
  struct Listener;
  struct Controller;

  ConnManager(EventLoop& loop, Switch& sw, Bridge& bridge);

  Status AddListenerFd(UniqueFd fd, const std::string& target, const std::string& kind);
  void OnAccept(Listener* listener);
  uint64_t AddConnection(UniqueFd fd, const std::string& name, Controller* controller);
  void CloseConnection(uint64_t id, const std::string& reason);
  void SweepClosed();
  void StartConnect(Controller* controller);
  void OnConnectDone(Controller* controller);
  void ScheduleReconnect(Controller* controller);
  void CheckProbes();
  void HandleMessage(Connection& conn, std::span<const uint8_t> bytes);
  void HandleRequest(Connection& conn, const ofp::OfpMessage& m, std::span<const uint8_t> bytes);
  void HandleMultipart(Connection& conn, const ofp::OfpMessage& m,
                       const ofp::MultipartRequest& req);
  void HandleBundleControl(Connection& conn, const ofp::OfpMessage& m,
                           const ofp::BundleControl& bc, std::span<const uint8_t> bytes);
  void SendError(Connection& conn, const ofp::OfpError& error, std::span<const uint8_t> request);
  // During flow-restore-wait, answers a write with error (type, code) and
  // returns true.
  bool RefuseWhileRestoring(Connection& conn, uint16_t type, uint16_t code,
                            std::span<const uint8_t> request);
  template <class Fn>
  void ForEachReady(Fn fn);

  EventLoop& loop_;
  Switch& switch_;
  Bridge& bridge_;
  std::string mgmt_path_;
  std::map<std::string, std::unique_ptr<Listener>> listeners_;      // by target
  std::map<std::string, std::unique_ptr<Controller>> controllers_;  // by target
  std::map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::vector<std::unique_ptr<Connection>> closed_;  // freed on the next loop turn
  uint64_t next_id_ = 1;
  uint64_t unix_seq_ = 0;
  EventLoop::TimerId probe_timer_ = 0;
  ConnCounters counters_;
  // Callbacks posted to the loop hold a weak reference: they do nothing once
  // the manager is gone.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace hsw::ofproto
