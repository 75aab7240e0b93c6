// ConnManager: the OpenFlow connections of one bridge.
//
// Every bridge gets a unix socket at <rundir>/<bridge>.mgmt, the same
// endpoint Open vSwitch offers, so `ovs-ofctl -O OpenFlow14 dump-flows
// unix:/run/hsw/br0.mgmt` (or with OVS_RUNDIR=/run/hsw, `... dump-flows br0`)
// and friends work unchanged.  SetControllers() adds
// what OVS calls controllers and listeners:
//
//   tcp:IP[:PORT]    connect to a controller (port 6653 by default) and keep
//                    reconnecting with exponential backoff (1 s .. 8 s) and an
//                    inactivity probe (echo after 5 s of silence, drop after 10 s)
//   unix:PATH        the same over a unix socket
//   ptcp:PORT[:IP]   listen for controllers on TCP (IP defaults to 0.0.0.0)
//   punix:PATH       listen on another unix socket
//
// Versions: OpenFlow 1.3 and 1.4 (ofp::kVersions), or the subset that
// SetAllowedVersions() leaves, which is what the OVSDB Bridge `protocols`
// column sets.  Open vSwitch allows 1.0 to 1.5 by default; hsw allows what it
// implements.  Each connection sends HELLO with the allowed versions as a
// bitmap (in the header, the highest) and speaks the highest version both
// sides have (a peer HELLO without a bitmap: the lower of the two highest);
// with none in common it gets HELLO_FAILED/INCOMPATIBLE and is closed.  A
// message in another version than the negotiated one gets BAD_VERSION.
//
// Requests are served in arrival order: echo, features, get/set-config, role
// (recorded; a slave may not modify the tables, and asynchronous messages
// skip it), flow-mod, multipart statistics, packet-out, barrier, bundles of
// flow-mods (OpenFlow 1.4's BUNDLE_CONTROL/ADD_MESSAGE, or in 1.3 the ONF
// extension 230; what `ovs-ofctl --bundle` sends) committed all-or-nothing
// through Bridge::FlowModBatch, Nicira's TLV table mod/request (TlvTable, one
// per bridge, kept here), and group-mods, which are refused with an OpenFlow
// error because hsw has no groups yet (the GROUP_DESC multipart answers with
// no groups, so `ovs-ofctl dump-groups` and ovs-save work).  A barrier reply
// is sent only after Switch::Sync(), so a flow-mod's effect is visible to
// traffic as soon as the controller sees the barrier reply.
//
// flow-restore-wait (Switch::tables_loaded() false): the tables are being
// restored, by hsw-ctl over the control socket or by Open vSwitch's restore
// script (ovs-save) over <bridge>.mgmt.  Writes on the management socket are
// served (they are the restore; the Switch keeps the datapath flows as they
// are until the tables are marked loaded).  Writes from everyone else, i.e.
// connections accepted on ptcp:/punix: listeners and active tcp:/unix:
// controllers still connected from before, are refused with an EPERM error:
// a controller's write now would race the restore and be overwritten by it.
// (hsw-vswitchd does not even start controllers and listeners before the
// tables are loaded.)
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
#include "ofproto/tlv_table.h"
#include "openflow/ofp_codec.h"

namespace hsw::ofproto {

// Where a connection came from, which decides whether it may write during
// flow-restore-wait.
enum class ConnOrigin {
  kManagement,  // accepted on <bridge>.mgmt (or adopted as such)
  kListener,    // accepted on a ptcp:/punix: listener set by SetControllers
  kController,  // made for a tcp:/unix: controller target
};

struct ConnInfo {
  std::string name;  // "br0<->unix#3", "br0<->tcp:127.0.0.1:6653"
  bool controller;   // an active connection made for a tcp:/unix: target
  bool connected;    // handshake done
  uint8_t version;   // negotiated OpenFlow version (0 before the handshake)
  uint32_t role;     // ofp::kRoleEqual / kRoleMaster / kRoleSlave
};

struct ConnCounters {
  uint64_t accepted = 0;  // connections accepted on listeners
  uint64_t messages_in = 0;
  uint64_t errors_sent = 0;
  // Writes refused during flow-restore-wait (listener and controller
  // connections only; the management socket's are served).
  uint64_t refused_while_restoring = 0;
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

  // Limits the OpenFlow versions this bridge speaks (a HELLO bitmap, bit n =
  // wire version n; the OVSDB Bridge protocols column).  An error, changing
  // nothing, names a version hsw does not implement or an empty set.
  // Connections already speaking a version no longer allowed are closed;
  // the others keep going.
  Status SetAllowedVersions(uint32_t bitmap);
  // The same from names, ["OpenFlow13","OpenFlow14"]; [] = every version hsw
  // implements (the column's default).
  Status SetProtocols(const std::vector<std::string>& protocols);
  uint32_t allowed_versions() const { return allowed_versions_; }

  // Serves an already connected stream socket (a socketpair in tests).
  void AdoptConnection(UniqueFd fd, const std::string& peer_name,
                       ConnOrigin origin = ConnOrigin::kManagement);

  // The bridge's TLV mapping table (add-tlv-map/dump-tlv-map).
  const TlvTable& tlv_table() const { return tlv_table_; }

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
  uint64_t AddConnection(UniqueFd fd, const std::string& name, Controller* controller,
                         ConnOrigin origin);
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
  void HandleBundleControl(Connection& conn, const ofp::OfpMessage& m, const ofp::BundleControl& bc,
                           std::span<const uint8_t> bytes);
  void HandleBundleAdd(Connection& conn, const ofp::BundleAdd& add, std::span<const uint8_t> bytes);
  void SendError(Connection& conn, const ofp::OfpError& error, std::span<const uint8_t> request);
  // During flow-restore-wait, on a connection that may not write then,
  // answers a write with `error` and returns true.
  bool RefuseWhileRestoring(Connection& conn, ofp::OfpError error,
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
  uint32_t allowed_versions_ = ofp::kSupportedVersions;
  TlvTable tlv_table_;
  ConnCounters counters_;
  // Callbacks posted to the loop hold a weak reference: they do nothing once
  // the manager is gone.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace hsw::ofproto
