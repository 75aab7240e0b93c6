// The OVSDB client session (see client.h).
#include "ovsdb/client.h"

#include <chrono>
#include <utility>

#include "common/log.h"
#include "ovsdb/datum.h"

namespace hsw::ovsdb {

using nlohmann::json;

namespace {

static const hsw::log::Module vlog("ovsdb_client");

// The id of our inactivity probes: a string, so that it never collides with
// the integer ids of real requests, and its reply is recognised and dropped.
const char* const kEchoId = "echo";
// Our monitor's id, echoed back in every update notification.
const char* const kMonitorId = "hsw";

std::string ErrorText(const json& error) {
  if (error.is_string()) return error.get<std::string>();
  if (error.is_object()) {
    std::string text;
    if (auto e = error.find("error"); e != error.end() && e->is_string())
      text = e->get<std::string>();
    if (auto d = error.find("details"); d != error.end() && d->is_string()) {
      text += (text.empty() ? "" : ": ") + d->get<std::string>();
    }
    if (!text.empty()) return text;
  }
  return BriefJson(error, 200);
}

}  // namespace

const char* Client::StateName(State state) {
  switch (state) {
    case State::kStopped:
      return "STOPPED";
    case State::kBackoff:
      return "BACKOFF";
    case State::kConnecting:
      return "CONNECTING";
    case State::kSchemaRequested:
      return "SCHEMA_REQUESTED";
    case State::kMonitorRequested:
      return "MONITOR_COND_REQUESTED";
    case State::kMonitorV1Requested:
      return "MONITOR_REQUESTED";
    case State::kMonitoring:
      return "MONITORING";
  }
  return "?";
}

Client::Client(EventLoop& loop, ClientOptions options, ClientCallbacks callbacks)
    : loop_(loop),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      fsm_(options_.reconnect) {}

Client::~Client() {
  *alive_ = false;
  if (timer_) loop_.CancelTimer(*timer_);
  connection_.reset();
}

int64_t Client::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             EventLoop::Clock::now().time_since_epoch())
      .count();
}

void Client::SetState(State state, const std::string& why) {
  if (state == state_) return;
  // Reaching or leaving MONITORING is what an operator cares about; the
  // handshake steps in between are for debugging.
  bool notable =
      state == State::kMonitoring || state_ == State::kMonitoring || state == State::kBackoff;
  vlog.Log(notable ? log::Level::kInfo : log::Level::kDbg, "{}: {} -> {}: {}", options_.remote,
           StateName(state_), StateName(state), why);
  state_ = state;
}

void Client::Start() {
  if (state_ != State::kStopped) return;
  fsm_.Enable(NowMs());
  SetState(State::kBackoff, "started");
  RunFsm();
}

void Client::RunFsm() {
  int64_t now = NowMs();
  NoteActivity();
  switch (fsm_.Run(now)) {
    case Reconnect::Action::kNone:
      break;
    case Reconnect::Action::kConnect:
      StartConnecting();
      break;
    case Reconnect::Action::kProbe:
      if (connection_) {
        vlog.Dbg("{}: idle, sending inactivity probe", options_.remote);
        (void)connection_->Send(jsonrpc::MakeRequest("echo", json::array(), kEchoId));
      }
      break;
    case Reconnect::Action::kDisconnect:
      Disconnect(fsm_.disconnect_reason(), true);
      break;
  }
  ScheduleFsm();
}

void Client::NoteActivity() {
  // The connection's own clock: any byte received counts, including parts
  // of a large update still being read.  Nothing received yet is no activity.
  if (!connection_ || connection_->n_bytes_received() == 0) return;
  fsm_.Activity(std::chrono::duration_cast<std::chrono::milliseconds>(
                    connection_->last_activity().time_since_epoch())
                    .count());
}

void Client::ScheduleFsm() {
  if (timer_) loop_.CancelTimer(*timer_);
  timer_.reset();
  int64_t timeout = fsm_.Timeout(NowMs());
  if (timeout < 0) return;
  std::weak_ptr<bool> alive = alive_;
  timer_ = loop_.AddTimer(std::chrono::milliseconds(timeout), [this, alive] {
    auto flag = alive.lock();
    if (!flag || !*flag) return;
    timer_.reset();
    RunFsm();
  });
}

void Client::StartConnecting() {
  int64_t now = NowMs();
  fsm_.Connecting(now);
  SetState(State::kConnecting, "connecting");
  auto connection = jsonrpc::Connect(loop_, options_.remote);
  if (!connection) {
    last_error_ = connection.error().ToString();
    fsm_.ConnectFailed(now, last_error_);
    vlog.Warn("{}: connection attempt failed: {}; retrying in {} ms", options_.remote, last_error_,
              fsm_.backoff_ms());
    SetState(State::kBackoff, last_error_);
    return;
  }
  connection_ = std::move(*connection);
  connection_->set_on_message([this](json message) { OnMessage(std::move(message)); });
  connection_->set_on_close([this](const std::string& reason) { OnClose(reason); });
  // A stream socket is usable at once (a TCP connect still in progress
  // queues our request; a refused one comes back through OnClose).
  fsm_.Connected(now);
  ++connection_seqno_;
  SetState(State::kSchemaRequested, "connected, requesting the schema");
  (void)SendRequest("get_schema", json::array({options_.database}),
                    [this](Result<json> reply) { OnSchema(std::move(reply)); });
}

Status Client::SendRequest(const std::string& method, json params, ReplyHandler on_reply) {
  if (!connection_) return Err("not connected to {}", options_.remote);
  uint64_t id = next_id_++;
  HSW_TRY(connection_->Send(jsonrpc::MakeRequest(method, std::move(params), id)));
  pending_[id] = Pending{method, std::move(on_reply)};
  return Ok();
}

void Client::OnMessage(json message) {
  auto kind = jsonrpc::Classify(message);
  if (!kind) {
    ProtocolError(kind.error().message);
    return;
  }
  switch (*kind) {
    case jsonrpc::MessageKind::kRequest: {
      const std::string& method = message["method"].get_ref<const std::string&>();
      if (method == "echo") {
        (void)connection_->Send(jsonrpc::MakeReply(message["params"], message["id"]));
      } else {
        vlog.Dbg("{}: unexpected request '{}'", options_.remote, method);
        (void)connection_->Send(jsonrpc::MakeErrorReply("unknown method", message["id"]));
      }
      return;
    }
    case jsonrpc::MessageKind::kNotification:
      OnNotification(message["method"].get<std::string>(), message["params"]);
      return;
    case jsonrpc::MessageKind::kReply:
    case jsonrpc::MessageKind::kErrorReply: {
      const json& id = message["id"];
      if (id.is_string() && id.get_ref<const std::string&>() == kEchoId) return;  // our probe
      if (!id.is_number_unsigned()) {
        vlog.Dbg("{}: reply with unknown id {}", options_.remote, BriefJson(id));
        return;
      }
      auto it = pending_.find(id.get<uint64_t>());
      if (it == pending_.end()) {
        vlog.Dbg("{}: reply with unknown id {}", options_.remote, BriefJson(id));
        return;
      }
      Pending pending = std::move(it->second);
      pending_.erase(it);
      if (*kind == jsonrpc::MessageKind::kErrorReply) {
        pending.on_reply(Err("{}: server replied with an error: {}", pending.method,
                             ErrorText(message["error"])));
      } else {
        pending.on_reply(std::move(message["result"]));
      }
      return;
    }
  }
}

void Client::OnSchema(Result<json> reply) {
  if (!reply) {
    ProtocolError(reply.error().message);
    return;
  }
  auto schema = Schema::Parse(*reply);
  if (!schema) {
    ProtocolError("schema of " + options_.database + ": " + schema.error().message);
    return;
  }
  // Columns the server lacks are left out of the monitor: the feature that
  // reads them degrades, the client keeps working.
  monitor_columns_.clear();
  missing_columns_.clear();
  for (const auto& [table, columns] : options_.monitored) {
    std::vector<std::string> present;
    for (const auto& column : columns) {
      if (schema->HasColumn(table, column)) {
        present.push_back(column);
        continue;
      }
      std::string name = table + ":" + column;
      missing_columns_.push_back(name);
      if (warned_missing_.insert(name).second) {
        vlog.Warn("{}: database {} has no column {}; not monitoring it", options_.remote,
                  options_.database, name);
      }
    }
    if (!present.empty()) monitor_columns_[table] = std::move(present);
  }
  schema_ = std::move(*schema);
  if (!options_.lock_name.empty()) {
    (void)SendRequest("lock", json::array({options_.lock_name}),
                      [this](Result<json> reply) { OnLockReply(std::move(reply)); });
  }
  SendMonitor(/*conditional=*/true);
}

void Client::OnLockReply(Result<json> reply) {
  if (!reply) {
    last_error_ = reply.error().message;
    vlog.Warn("{}: lock '{}': {}", options_.remote, options_.lock_name, last_error_);
    return;
  }
  auto locked = reply->is_object() ? reply->find("locked") : reply->end();
  if (!reply->is_object() || locked == reply->end() || !locked->is_boolean()) {
    ProtocolError("lock reply is not {\"locked\": boolean}: " + BriefJson(*reply));
    return;
  }
  if (locked->get<bool>()) {
    SetLock(true, false);
  } else {
    vlog.Info("{}: lock '{}' is held by another client; waiting for it", options_.remote,
              options_.lock_name);
    SetLock(false, true);
  }
}

void Client::SetLock(bool held, bool contended) {
  // A refusal while not holding the lock is news too: the owner decides
  // whether to wait for it or give up.
  const bool newly_contended = contended && !lock_contended_;
  lock_contended_ = contended;
  if (held == has_lock_) {
    if (newly_contended && callbacks_.on_lock_change) callbacks_.on_lock_change(false);
    return;
  }
  has_lock_ = held;
  vlog.Info("{}: lock '{}' {}", options_.remote, options_.lock_name, held ? "acquired" : "lost");
  if (callbacks_.on_lock_change) callbacks_.on_lock_change(held);
}

void Client::SendMonitor(bool conditional) {
  json requests = json::object();
  for (const auto& [table, columns] : monitor_columns_) {
    json request = {{"columns", columns}};
    // monitor_cond takes an array of requests per table; RFC 7047's monitor
    // takes one object (every ovsdb-server accepts that form).
    requests[table] = conditional ? json::array({request}) : request;
  }
  SetState(conditional ? State::kMonitorRequested : State::kMonitorV1Requested,
           conditional ? "requesting monitor_cond" : "requesting monitor");
  (void)SendRequest(
      conditional ? "monitor_cond" : "monitor",
      json::array({options_.database, kMonitorId, std::move(requests)}),
      [this, conditional](Result<json> reply) { OnMonitorReply(conditional, std::move(reply)); });
}

void Client::OnMonitorReply(bool conditional, Result<json> reply) {
  if (!reply) {
    if (conditional && reply.error().message.find("unknown method") != std::string::npos) {
      vlog.Info("{}: server does not know monitor_cond; using monitor", options_.remote);
      SendMonitor(/*conditional=*/false);
      return;
    }
    ProtocolError(reply.error().message);
    return;
  }
  // The initial contents go into a fresh replica that replaces the old one
  // only once complete, so no reader sees rows from two connections mixed.
  Replica fresh;
  auto configured = fresh.Configure(*schema_, monitor_columns_);
  if (!configured) {
    ProtocolError(configured.error().message);
    return;
  }
  auto applied = conditional ? fresh.ApplyUpdate2(*reply) : fresh.ApplyUpdate(*reply);
  if (!applied) {
    ProtocolError("initial contents: " + applied.error().message);
    return;
  }
  replica_ = std::move(fresh);
  SetState(State::kMonitoring, fmt::format("initial contents, {} rows", replica_.row_count()));
  if (callbacks_.on_update) callbacks_.on_update();
}

void Client::OnNotification(const std::string& method, const json& params) {
  if (method == "update" || method == "update2" || method == "update3") {
    if (state_ != State::kMonitoring) {
      vlog.Dbg("{}: {} before the monitor's reply, ignored", options_.remote, method);
      return;
    }
    size_t index = method == "update3" ? 2 : 1;
    if (params.size() <= index) {
      ProtocolError(method + " notification with too few params");
      return;
    }
    auto applied = method == "update" ? replica_.ApplyUpdate(params[index])
                                      : replica_.ApplyUpdate2(params[index]);
    if (!applied) {
      // The replica is unchanged, but it no longer follows the server: a
      // fresh connection's initial contents resynchronise it.
      ProtocolError(applied.error().message);
      return;
    }
    if (*applied && callbacks_.on_update) callbacks_.on_update();
    return;
  }
  if (method == "locked" || method == "stolen") {
    if (params.empty() || !params[0].is_string() ||
        params[0].get_ref<const std::string&>() != options_.lock_name) {
      vlog.Dbg("{}: '{}' for another lock, ignored", options_.remote, method);
      return;
    }
    if (method == "locked") {
      SetLock(true, false);
    } else {
      vlog.Warn("{}: lock '{}' was stolen by another client", options_.remote, options_.lock_name);
      SetLock(false, true);
    }
    return;
  }
  vlog.Dbg("{}: notification '{}' ignored", options_.remote, method);
}

void Client::ProtocolError(const std::string& what) {
  last_error_ = what;
  vlog.Err("{}: {}; reconnecting", options_.remote, what);
  Disconnect(what, true);
  ScheduleFsm();
}

void Client::OnClose(const std::string& reason) {
  Disconnect(reason, true);
  ScheduleFsm();
}

void Client::Disconnect(const std::string& reason, bool report) {
  if (!connection_) return;
  bool was_established = state_ == State::kMonitoring || state_ == State::kMonitorRequested ||
                         state_ == State::kMonitorV1Requested;
  NoteActivity();
  // Closing from inside the connection's own handler is allowed (jsonrpc.h).
  connection_.reset();
  last_error_ = reason;
  fsm_.Disconnected(NowMs(), reason);
  auto pending = std::move(pending_);
  pending_.clear();
  SetState(State::kBackoff, fmt::format("{}; reconnecting in {} ms", reason, fsm_.backoff_ms()));
  SetLock(false, false);
  if (report && was_established && callbacks_.on_disconnect) callbacks_.on_disconnect(reason);
  for (auto& [id, request] : pending) {
    if (request.method != "transact") continue;
    request.on_reply(
        Err("connection to {} lost before the reply to the transaction ({}): it may or may not "
            "have been committed",
            options_.remote, reason));
  }
}

void Client::Transact(json operations, std::function<void(Result<json>)> done) {
  auto fail_later = [this, &done](std::string why) {
    loop_.Post([done = std::move(done), why = std::move(why)] { done(Err("{}", why)); });
  };
  if (!operations.is_array()) {
    fail_later("transaction: operations are not a JSON array");
    return;
  }
  if (!connection_ || state_ == State::kConnecting) {
    fail_later(fmt::format("transaction not sent: not connected to {} ({})", options_.remote,
                           last_error_.empty() ? StateName(state_) : last_error_));
    return;
  }
  json params = json::array({options_.database});
  for (auto& op : operations) params.push_back(std::move(op));
  auto sent = SendRequest("transact", std::move(params), done);
  if (!sent) fail_later("transaction not sent: " + sent.error().message);
}

}  // namespace hsw::ovsdb
