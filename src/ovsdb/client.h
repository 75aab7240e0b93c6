// ovsdb/client: a reconnecting OVSDB session (RFC 7047 and ovsdb-server(7)'s
// extensions) that keeps a Replica of the monitored columns, holds an
// optional lock and sends transactions.  The protocol layer that OVS splits
// into ovsdb-cs.c and ovsdb-idl.c, much smaller: no typed rows (callers read
// the Replica's JSON with datum.h), no change tracking (callers diff).
//
// Per connection: connect (unix:PATH or tcp:IP:PORT), "get_schema" for the
// database, "lock" if a lock name is set, then "monitor_cond" (or "monitor"
// when the server answers monitor_cond with an unknown-method error:
// ovsdb-server 2.x) for the requested columns the schema has.  The monitor's
// reply is the initial contents; "update"/"update2" notifications follow.
// Echo requests from the server are answered; an echo of ours is the
// inactivity probe (reconnect.h decides when), and any byte received counts
// as activity.  On a lost connection the state is cleared, the replica keeps
// its last contents (readable, but monitoring() is false), and the client
// backs off, reconnects, re-locks and re-monitors; the new initial contents
// replace the replica in one step, so a reader never sees half-old rows.
//
// Everything runs on the EventLoop's thread; no threads of its own.
// Callbacks must not destroy the Client; destroying it drops the callbacks
// of transactions still waiting for a reply (not called).
//
// Hand-written on nlohmann-json: Debian ships no C/C++ OVSDB library (OVS's C
// IDL is not packaged and its headers do not compile as C++).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/event_loop.h"
#include "common/result.h"
#include "jsonrpc/jsonrpc.h"
#include "ovsdb/reconnect.h"
#include "ovsdb/replica.h"
#include "ovsdb/schema.h"

namespace hsw::ovsdb {

struct ClientOptions {
  std::string remote;  // unix:PATH or tcp:IP:PORT
  std::string database = "Open_vSwitch";
  std::string lock_name;                                      // "" = take no lock
  std::map<std::string, std::vector<std::string>> monitored;  // table -> columns
  // Backoff and probe timing (OVS's defaults; tests shorten them).
  ReconnectOptions reconnect;
};

struct ClientCallbacks {
  // After each message that changed the replica, including the initial
  // contents after every (re)connect: the replica is then a consistent
  // snapshot.
  std::function<void()> on_update;
  // The lock was granted (true) or lost/stolen/dropped with the connection.
  std::function<void(bool held)> on_lock_change;
  // A connection that had been established was lost (monitoring() is false
  // from now until the next initial contents).
  std::function<void(const std::string& reason)> on_disconnect;
};

class Client {
 public:
  enum class State {
    kStopped,             // Start() not called yet
    kBackoff,             // not connected; waiting before the next attempt
    kConnecting,          // socket connecting
    kSchemaRequested,     // connected; get_schema sent, waiting for the schema
    kMonitorRequested,    // monitor_cond sent, waiting for the initial contents
    kMonitorV1Requested,  // server lacks monitor_cond; monitor sent instead
    kMonitoring,          // replica is a consistent snapshot, updates flowing
  };
  static const char* StateName(State state);

  Client(EventLoop& loop, ClientOptions options, ClientCallbacks callbacks);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Starts connecting (the first attempt at once).
  void Start();

  State state() const { return state_; }
  // The replica is a consistent snapshot of the server's current contents.
  bool monitoring() const { return state_ == State::kMonitoring; }
  bool has_lock() const { return has_lock_; }
  // The server said another client holds our lock (until "locked" arrives).
  bool lock_contended() const { return lock_contended_; }
  const Replica& replica() const { return replica_; }
  // The server's schema for the database, nullptr before the first one.
  const Schema* schema() const { return schema_ ? &*schema_ : nullptr; }
  // "Table:column" requested but absent from the server's schema (left out of
  // the monitor; logged once at WARN).
  const std::vector<std::string>& missing_columns() const { return missing_columns_; }
  // Moves on every (re)connect, so that a caller can tell whether a reply or
  // a snapshot belongs to the current connection.
  uint64_t connection_seqno() const { return connection_seqno_; }
  const std::string& last_error() const { return last_error_; }

  // Sends ["transact", database, ops...].  `done` gets the reply's result
  // array (one result per op; the caller inspects per-op "error"s), or an
  // error: the server's error reply, no connection (at once: done runs from
  // the loop, never inside Transact), or the connection lost before the
  // reply, in which case the outcome is unknown and the error says so.
  void Transact(nlohmann::json operations, std::function<void(Result<nlohmann::json>)> done);

 private:
  using ReplyHandler = std::function<void(Result<nlohmann::json>)>;

  int64_t NowMs() const;
  void SetState(State state, const std::string& why);
  void RunFsm();
  void NoteActivity();
  void ScheduleFsm();
  void StartConnecting();
  void OnMessage(nlohmann::json message);
  void OnClose(const std::string& reason);
  void Disconnect(const std::string& reason, bool report);
  Status SendRequest(const std::string& method, nlohmann::json params, ReplyHandler on_reply);
  void OnSchema(Result<nlohmann::json> reply);
  void OnLockReply(Result<nlohmann::json> reply);
  void SendMonitor(bool conditional);
  void OnMonitorReply(bool conditional, Result<nlohmann::json> reply);
  void OnNotification(const std::string& method, const nlohmann::json& params);
  void SetLock(bool held, bool contended);
  // A protocol error from the server: drop this connection and retry.
  void ProtocolError(const std::string& what);

  EventLoop& loop_;
  ClientOptions options_;
  ClientCallbacks callbacks_;
  Reconnect fsm_;
  State state_ = State::kStopped;
  std::unique_ptr<jsonrpc::Connection> connection_;
  std::optional<Schema> schema_;
  Replica replica_;
  std::map<std::string, std::vector<std::string>> monitor_columns_;  // present in the schema
  std::vector<std::string> missing_columns_;
  std::set<std::string> warned_missing_;
  bool has_lock_ = false;
  bool lock_contended_ = false;
  uint64_t connection_seqno_ = 0;
  uint64_t next_id_ = 1;
  struct Pending {
    std::string method;
    ReplyHandler on_reply;
  };
  std::map<uint64_t, Pending> pending_;  // by request id
  std::optional<EventLoop::TimerId> timer_;
  std::string last_error_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace hsw::ovsdb
