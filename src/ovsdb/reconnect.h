// ovsdb/reconnect: when to connect, probe and give up on a connection, as a
// pure state machine: no I/O, no clock of its own.  Every call takes `now`
// (milliseconds on any monotonic scale), so tests drive it with a script of
// events and compare the transcript of actions (as OVS's lib/reconnect.c is
// tested by tests/reconnect.at).
//
// Defaults are OVS's: back off 1 s after a failed attempt, doubling to 8 s;
// with a connection idle for 5 s, send a probe, and disconnect when another
// 5 s pass with nothing received.  One difference on purpose: after losing a
// connection that had been up for a while (at least the current backoff, the
// peer heard on it) the next attempt is immediate, and only failures after
// it back off, so that hsw resynchronises at once after an ovsdb-server
// restart.
//
// Use: Enable(now); then loop { action = Run(now); act; report what happened
// with Connecting/Connected/ConnectFailed/Disconnected/Activity; sleep at
// most Timeout(now) }.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hsw::ovsdb {

struct ReconnectOptions {
  int64_t min_backoff_ms = 1000;
  int64_t max_backoff_ms = 8000;
  // 0 disables probes (and the disconnect that follows an unanswered one).
  int64_t probe_interval_ms = 5000;
};

class Reconnect {
 public:
  enum class State {
    kVoid,        // not enabled: never connects
    kBackoff,     // waiting until backoff_ms after the last attempt/loss
    kConnecting,  // an attempt is in progress
    kActive,      // connected, heard from the peer recently
    kIdle,        // connected, probe sent, waiting for any byte
  };
  enum class Action {
    kNone,
    kConnect,     // start a connection attempt, then call Connecting()
    kDisconnect,  // close the connection (see disconnect_reason()), then call Disconnected()
    kProbe,       // send an inactivity probe (an echo request)
  };

  explicit Reconnect(ReconnectOptions options = {});

  void Enable(int64_t now);
  void Disable(int64_t now);

  void Connecting(int64_t now);
  void Connected(int64_t now);
  void ConnectFailed(int64_t now, std::string_view error);
  // A connection that was up closed (or the caller closed it on kDisconnect).
  void Disconnected(int64_t now, std::string_view error);
  // Something was received (any byte counts).  Call it only for real
  // input: it also marks the connection as one the peer spoke on.
  void Activity(int64_t now);

  // What to do now.
  Action Run(int64_t now);
  // Milliseconds until Run has something to do (0 = now), -1 = nothing due.
  int64_t Timeout(int64_t now) const;

  State state() const { return state_; }
  bool is_connected() const { return state_ == State::kActive || state_ == State::kIdle; }
  int64_t backoff_ms() const { return backoff_; }
  const std::string& disconnect_reason() const { return disconnect_reason_; }
  const std::string& last_error() const { return last_error_; }
  uint64_t n_attempts() const { return n_attempts_; }
  uint64_t n_connections() const { return n_connections_; }

  static std::string_view StateName(State state);
  static std::string_view ActionName(Action action);

 private:
  void EnterState(State state, int64_t now);
  // The backoff after an attempt failed or a connection dropped early.
  void IncreaseBackoff();
  int64_t Deadline() const;  // when Run next acts, or INT64_MAX

  ReconnectOptions options_;
  State state_ = State::kVoid;
  int64_t state_entered_ = 0;
  int64_t backoff_ = 0;
  int64_t last_connected_ = 0;
  int64_t last_activity_ = 0;
  bool heard_since_connected_ = false;
  std::string disconnect_reason_;
  std::string last_error_;
  uint64_t n_attempts_ = 0;
  uint64_t n_connections_ = 0;
};

}  // namespace hsw::ovsdb
