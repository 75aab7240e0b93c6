// The reconnect/probe state machine (see reconnect.h).
#include "ovsdb/reconnect.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace hsw::ovsdb {

namespace {
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
}

Reconnect::Reconnect(ReconnectOptions options) : options_(options) {
  options_.min_backoff_ms = std::max<int64_t>(options_.min_backoff_ms, 1);
  options_.max_backoff_ms = std::max(options_.max_backoff_ms, options_.min_backoff_ms);
  options_.probe_interval_ms = std::max<int64_t>(options_.probe_interval_ms, 0);
}

std::string_view Reconnect::StateName(State state) {
  switch (state) {
    case State::kVoid:
      return "VOID";
    case State::kBackoff:
      return "BACKOFF";
    case State::kConnecting:
      return "CONNECTING";
    case State::kActive:
      return "ACTIVE";
    case State::kIdle:
      return "IDLE";
  }
  return "?";
}

std::string_view Reconnect::ActionName(Action action) {
  switch (action) {
    case Action::kNone:
      return "none";
    case Action::kConnect:
      return "connect";
    case Action::kDisconnect:
      return "disconnect";
    case Action::kProbe:
      return "probe";
  }
  return "?";
}

void Reconnect::EnterState(State state, int64_t now) {
  state_ = state;
  state_entered_ = now;
}

void Reconnect::IncreaseBackoff() {
  backoff_ =
      backoff_ == 0 ? options_.min_backoff_ms : std::min(backoff_ * 2, options_.max_backoff_ms);
}

void Reconnect::Enable(int64_t now) {
  if (state_ != State::kVoid) return;
  // The first attempt is immediate: backoff 0 from "now".
  backoff_ = 0;
  EnterState(State::kBackoff, now);
}

void Reconnect::Disable(int64_t now) { EnterState(State::kVoid, now); }

void Reconnect::Connecting(int64_t now) {
  if (state_ == State::kVoid) return;
  ++n_attempts_;
  EnterState(State::kConnecting, now);
}

void Reconnect::Connected(int64_t now) {
  if (state_ == State::kVoid) return;
  ++n_connections_;
  last_connected_ = now;
  last_activity_ = now;
  heard_since_connected_ = false;
  EnterState(State::kActive, now);
}

void Reconnect::ConnectFailed(int64_t now, std::string_view error) {
  last_error_ = std::string(error);
  if (state_ == State::kVoid) return;
  IncreaseBackoff();
  EnterState(State::kBackoff, now);
}

void Reconnect::Disconnected(int64_t now, std::string_view error) {
  last_error_ = std::string(error);
  if (state_ == State::kVoid) return;
  if (state_ == State::kActive || state_ == State::kIdle) {
    // A connection that stayed up for at least the current backoff, with the
    // peer heard on it, was a good one: try again at once.  One that died
    // sooner, or on which the peer never spoke, may be a server that accepts
    // and then drops us: back off further, or we would spin.  (OVS measures
    // up to the last activity instead, which backs off after an ovsdb-server
    // restart that follows a quiet spell: the case hsw must recover fast.)
    int64_t threshold = std::max(backoff_, options_.min_backoff_ms);
    if (heard_since_connected_ && now - last_connected_ >= threshold) {
      backoff_ = 0;
    } else {
      IncreaseBackoff();
    }
  } else {
    IncreaseBackoff();
  }
  EnterState(State::kBackoff, now);
}

void Reconnect::Activity(int64_t now) {
  if (now > last_activity_) last_activity_ = now;
  if (is_connected()) heard_since_connected_ = true;
  if (state_ == State::kIdle && last_activity_ >= state_entered_) {
    EnterState(State::kActive, now);
  }
}

int64_t Reconnect::Deadline() const {
  switch (state_) {
    case State::kVoid:
      return kNever;
    case State::kBackoff:
      return state_entered_ + backoff_;
    case State::kConnecting:
      // A connect that hangs (a TCP SYN unanswered) is given up after the
      // longer of the backoff and the minimum backoff.
      return state_entered_ + std::max(backoff_, options_.min_backoff_ms);
    case State::kActive:
      if (options_.probe_interval_ms == 0) return kNever;
      return std::max(last_activity_, state_entered_) + options_.probe_interval_ms;
    case State::kIdle:
      if (options_.probe_interval_ms == 0) return kNever;
      return state_entered_ + options_.probe_interval_ms;
  }
  return kNever;
}

Reconnect::Action Reconnect::Run(int64_t now) {
  if (now < Deadline()) return Action::kNone;
  switch (state_) {
    case State::kVoid:
      return Action::kNone;
    case State::kBackoff:
      return Action::kConnect;
    case State::kConnecting:
      disconnect_reason_ =
          fmt::format("connection attempt timed out after {} ms", now - state_entered_);
      return Action::kDisconnect;
    case State::kActive:
      EnterState(State::kIdle, now);
      return Action::kProbe;
    case State::kIdle:
      disconnect_reason_ =
          fmt::format("no response to inactivity probe after {} ms", now - state_entered_);
      return Action::kDisconnect;
  }
  return Action::kNone;
}

int64_t Reconnect::Timeout(int64_t now) const {
  int64_t deadline = Deadline();
  if (deadline == kNever) return -1;
  return std::max<int64_t>(0, deadline - now);
}

}  // namespace hsw::ovsdb
