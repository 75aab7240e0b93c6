// OpenFlow connections of a bridge: listeners, controller connections with
// reconnect, and the per-connection protocol state machine.
#include "ofproto/connmgr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <set>

#include "common/log.h"
#include "ofproto/flow_table.h"

namespace hsw::ofproto {

namespace {

hsw::log::Module vlog("connmgr");

constexpr std::chrono::milliseconds kProbeInterval{5000};
constexpr int kMinBackoffMs = 1000;
constexpr int kMaxBackoffMs = 8000;
constexpr uint16_t kDefaultOfPort = 6653;
constexpr uint16_t kBadRequestIsSlave = 10;  // OFPBRC_IS_SLAVE
constexpr uint16_t kGroupModEperm = 14;      // OFPGMFC_EPERM

// hsw has no groups yet (issue 14): a group-mod that would create or change
// one is refused, the way a switch with a group table of size 0 would; a
// delete finds nothing to delete, which OpenFlow does not call an error.
ofp::OfpResult<void> CheckGroupMod(const ofp::GroupMod& gm) {
  using namespace ofp;
  switch (gm.command) {
    case kGroupAdd:
      return tl::unexpected(
          OfpError{err::kGroupModFailed, err::kGroupModOutOfGroups,
                   fmt::format("group {}: hsw has no group table yet", gm.group_id)});
    case kGroupModify:
      return tl::unexpected(OfpError{err::kGroupModFailed, err::kGroupModUnknownGroup,
                                     fmt::format("group {} does not exist", gm.group_id)});
    case kGroupDelete:
      return {};
    default:
      return tl::unexpected(OfpError{err::kGroupModFailed, err::kGroupModBadCommand,
                                     fmt::format("group_mod command {} is unknown", gm.command)});
  }
}

// A parsed controller target.
struct Target {
  enum Kind { kTcp, kUnix, kPtcp, kPunix } kind;
  std::string host;  // IP for tcp/ptcp
  uint16_t port = 0;
  std::string path;  // for unix/punix
  bool passive() const { return kind == kPtcp || kind == kPunix; }
};

Result<uint16_t> ParsePort(std::string_view s, const std::string& target) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > 65535) {
    return Err("invalid controller target '{}': bad port '{}'", target, s);
  }
  return static_cast<uint16_t>(v);
}

bool ValidIpv4(const std::string& s) {
  in_addr a;
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

Result<Target> ParseTarget(const std::string& target) {
  auto colon = target.find(':');
  if (colon == std::string::npos) {
    return Err("invalid controller target '{}': expected tcp:, unix:, ptcp: or punix:", target);
  }
  std::string kind = target.substr(0, colon);
  std::string rest = target.substr(colon + 1);
  Target t{};
  if (kind == "unix" || kind == "punix") {
    if (rest.empty()) return Err("invalid controller target '{}': no path", target);
    if (rest.size() >= sizeof(sockaddr_un{}.sun_path)) {
      return Err("invalid controller target '{}': path too long", target);
    }
    t.kind = kind == "unix" ? Target::kUnix : Target::kPunix;
    t.path = rest;
    return t;
  }
  if (kind == "tcp") {
    t.kind = Target::kTcp;
    auto c = rest.find(':');
    t.host = rest.substr(0, c);
    t.port = kDefaultOfPort;
    if (c != std::string::npos) {
      HSW_ASSIGN_OR_RETURN(t.port, ParsePort(rest.substr(c + 1), target));
    }
    if (!ValidIpv4(t.host)) {
      return Err("invalid controller target '{}': '{}' is not an IPv4 address", target, t.host);
    }
    return t;
  }
  if (kind == "ptcp") {
    t.kind = Target::kPtcp;
    auto c = rest.find(':');
    std::string port = rest.substr(0, c);
    t.port = kDefaultOfPort;
    if (!port.empty()) {
      HSW_ASSIGN_OR_RETURN(t.port, ParsePort(port, target));
    }
    t.host = c == std::string::npos ? "0.0.0.0" : rest.substr(c + 1);
    if (!ValidIpv4(t.host)) {
      return Err("invalid controller target '{}': '{}' is not an IPv4 address", target, t.host);
    }
    return t;
  }
  return Err("invalid controller target '{}': unknown type '{}'", target, kind);
}

std::string PeerName(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    char ip[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
    return fmt::format("tcp:{}:{}", ip, ntohs(in->sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    char ip[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
    return fmt::format("tcp:[{}]:{}", ip, ntohs(in6->sin6_port));
  }
  return "unix";
}

// Queues `bytes` and writes what the socket takes now.  Returns false if the
// connection must be closed (a write error or a peer that stopped reading).
bool QueueAndFlush(int fd, std::vector<uint8_t>& out, size_t& out_pos, bool& want_write,
                   EventLoop& loop, const std::vector<uint8_t>& bytes, std::string* why) {
  out.insert(out.end(), bytes.begin(), bytes.end());
  while (out_pos < out.size()) {
    ssize_t n = ::send(fd, out.data() + out_pos, out.size() - out_pos, MSG_NOSIGNAL);
    if (n > 0) {
      out_pos += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      *why = fmt::format("send: {}", std::strerror(errno));
      return false;
    }
  }
  if (out_pos == out.size()) {
    out.clear();
    out_pos = 0;
    if (want_write) {
      want_write = false;
      (void)loop.Modify(fd, EPOLLIN);
    }
    return true;
  }
  if (out.size() - out_pos > ConnManager::kMaxBacklog) {
    *why = "peer is not reading (output backlog over limit)";
    return false;
  }
  // Keep the buffer from growing forever when the peer reads slowly.
  if (out_pos > (1 << 20)) {
    out.erase(out.begin(), out.begin() + static_cast<ptrdiff_t>(out_pos));
    out_pos = 0;
  }
  if (!want_write) {
    want_write = true;
    (void)loop.Modify(fd, EPOLLIN | EPOLLOUT);
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------

namespace {

// Defined outside Connection: clang 14 cannot default-construct a nested
// class with member initializers inside std::optional of the enclosing one.
struct OpenBundle {
  uint32_t id = 0;
  uint16_t flags = 0;
  bool closed = false;
  std::vector<ofp::FlowMod> flow_mods;
};

}  // namespace

class ConnManager::Connection {
 public:
  uint64_t id = 0;
  std::string name;
  UniqueFd fd;
  std::string controller_target;  // "" unless made for a tcp:/unix: target
  ConnOrigin origin = ConnOrigin::kManagement;
  ofp::StreamSplitter in;
  std::vector<uint8_t> out;
  size_t out_pos = 0;
  bool hello_done = false;
  uint8_t version = 0;
  uint32_t role = ofp::kRoleEqual;
  ofp::SwitchConfig config;
  bool closing = false;  // flush what is queued, then close
  bool closing_grace_used = false;
  bool closed = false;
  bool want_write = false;
  EventLoop::Clock::time_point last_rx = EventLoop::Clock::now();
  bool probe_sent = false;
  // The one open bundle (hsw allows one per connection, which is what
  // ovs-ofctl --bundle uses); discarded if the connection goes away.
  std::optional<OpenBundle> bundle;

  size_t backlog() const { return out.size() - out_pos; }
  bool ready() const { return hello_done && !closed && !closing; }
};

struct ConnManager::Listener {
  std::string target;
  std::string kind;         // "unix" or "tcp", for connection names
  std::string unlink_path;  // removed when the listener goes away
  bool management = false;  // <bridge>.mgmt
  UniqueFd fd;
};

struct ConnManager::Controller {
  std::string target;
  Target spec;
  UniqueFd connecting;   // non-blocking connect in progress
  uint64_t conn_id = 0;  // live connection, 0 if none
  EventLoop::TimerId retry_timer = 0;
  int backoff_ms = kMinBackoffMs;
  int failures = 0;
};

// ---------------------------------------------------------------------------

ConnManager::ConnManager(EventLoop& loop, Switch& sw, Bridge& bridge)
    : loop_(loop), switch_(sw), bridge_(bridge) {}

Result<std::unique_ptr<ConnManager>> ConnManager::Create(EventLoop& loop, Switch& sw,
                                                         Bridge& bridge,
                                                         const std::string& rundir) {
  std::unique_ptr<ConnManager> mgr(new ConnManager(loop, sw, bridge));
  if (!rundir.empty()) {
    std::string path = fmt::format("{}/{}.mgmt", rundir, bridge.name());
    auto fd = ListenUnix(path);
    if (!fd) return Err("bridge {}: OpenFlow socket: {}", bridge.name(), fd.error().ToString());
    HSW_TRY(mgr->AddListenerFd(std::move(*fd), "punix:" + path, "unix"));
    mgr->listeners_["punix:" + path]->unlink_path = path;
    mgr->listeners_["punix:" + path]->management = true;
    mgr->mgmt_path_ = path;
    vlog.Info("{}: listening for OpenFlow on {}", bridge.name(), path);
  }
  std::weak_ptr<bool> alive = mgr->alive_;
  ConnManager* self = mgr.get();
  mgr->probe_timer_ = loop.AddTimer(
      std::chrono::milliseconds(1000),
      [self, alive] {
        if (!alive.expired()) self->CheckProbes();
      },
      true);
  bridge.AddListener(mgr.get());
  return mgr;
}

ConnManager::~ConnManager() {
  bridge_.RemoveListener(this);
  *alive_ = false;
  loop_.CancelTimer(probe_timer_);
  for (auto& [id, conn] : connections_) loop_.Remove(conn->fd.get());
  for (auto& [target, listener] : listeners_) {
    loop_.Remove(listener->fd.get());
    if (!listener->unlink_path.empty()) ::unlink(listener->unlink_path.c_str());
  }
  for (auto& [target, c] : controllers_) {
    if (c->retry_timer) loop_.CancelTimer(c->retry_timer);
    if (c->connecting) loop_.Remove(c->connecting.get());
  }
}

Status ConnManager::AddListenerFd(UniqueFd fd, const std::string& target, const std::string& kind) {
  auto listener = std::make_unique<Listener>();
  listener->target = target;
  listener->kind = kind;
  listener->fd = std::move(fd);
  Listener* raw = listener.get();
  HSW_TRY(loop_.Add(raw->fd.get(), EPOLLIN, [this, raw](uint32_t) { OnAccept(raw); }));
  listeners_[target] = std::move(listener);
  return Ok();
}

void ConnManager::OnAccept(Listener* listener) {
  for (int i = 0; i < 64; ++i) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    int fd = ::accept4(listener->fd.get(), reinterpret_cast<sockaddr*>(&addr), &len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        static log::RateLimit rl(5);
        if (rl.Allow())
          vlog.Warn("{}: accept on {}: {}", bridge_.name(), listener->target, std::strerror(errno));
      }
      return;
    }
    ++counters_.accepted;
    std::string peer =
        listener->kind == "unix" ? fmt::format("unix#{}", ++unix_seq_) : PeerName(addr);
    AddConnection(UniqueFd(fd), fmt::format("{}<->{}", bridge_.name(), peer), nullptr,
                  listener->management ? ConnOrigin::kManagement : ConnOrigin::kListener);
  }
}

void ConnManager::AdoptConnection(UniqueFd fd, const std::string& peer_name, ConnOrigin origin) {
  (void)SetNonBlocking(fd.get());
  AddConnection(std::move(fd), fmt::format("{}<->{}", bridge_.name(), peer_name), nullptr, origin);
}

uint64_t ConnManager::AddConnection(UniqueFd fd, const std::string& name, Controller* controller,
                                    ConnOrigin origin) {
  auto conn = std::make_unique<Connection>();
  conn->id = next_id_++;
  conn->name = name;
  conn->fd = std::move(fd);
  conn->origin = origin;
  if (controller) conn->controller_target = controller->target;
  uint64_t id = conn->id;
  Connection& c = *conn;
  auto added = loop_.Add(c.fd.get(), EPOLLIN, [this, id](uint32_t events) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;
    Connection& conn = *it->second;
    if (events & EPOLLOUT) {
      std::string why;
      if (!QueueAndFlush(conn.fd.get(), conn.out, conn.out_pos, conn.want_write, loop_, {}, &why)) {
        CloseConnection(id, why);
        return;
      }
      if (conn.closing && conn.backlog() == 0) {
        CloseConnection(id, "closed after error");
        return;
      }
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
    uint8_t buf[65536];
    if (conn.closing) {
      // Waiting for our ERROR to drain: discard input (level-triggered epoll
      // would otherwise spin on it) and notice a peer that went away.
      ssize_t n = ::recv(conn.fd.get(), buf, sizeof buf, 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        CloseConnection(id, "closed after error");
      }
      return;
    }
    // Bounded per turn so that one busy peer cannot starve the others; the
    // level-triggered epoll brings us back for the rest.
    for (int i = 0; i < 16 && !conn.closed && !conn.closing; ++i) {
      ssize_t n = ::recv(conn.fd.get(), buf, sizeof buf, 0);
      if (n == 0) {
        CloseConnection(id, "connection closed by peer");
        return;
      }
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        CloseConnection(id, fmt::format("recv: {}", std::strerror(errno)));
        return;
      }
      conn.last_rx = EventLoop::Clock::now();
      conn.probe_sent = false;
      conn.in.Feed(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
      while (!conn.closed && !conn.closing) {
        auto next = conn.in.Next();
        if (!next) {
          static log::RateLimit rl(5);
          if (rl.Allow()) {
            vlog.Warn("{}: {}; closing the connection", conn.name, next.error().detail);
          }
          // The ERROR carries the garbage itself, as it would a bad request.
          SendError(conn, next.error(), conn.in.pending());
          conn.closing = true;
          break;
        }
        if (next->empty()) break;
        HandleMessage(conn, *next);
      }
    }
    if (conn.closing && !conn.closed && conn.backlog() == 0) {
      CloseConnection(id, "closed after error");
    }
  });
  if (!added) {
    vlog.Err("{}: {}", name, added.error().ToString());
    return 0;
  }
  connections_[id] = std::move(conn);
  vlog.Info("{}: connected", name);
  // Both sides send HELLO at once (the spec's symmetric handshake), ours
  // with every version allowed and the highest in the header.
  ofp::OfpMessage hello{ofp::HelloVersion(allowed_versions_), 0, ofp::Hello{allowed_versions_}};
  auto bytes = ofp::Encode(hello);
  c.out.insert(c.out.end(), bytes.begin(), bytes.end());
  ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
  if (n > 0) c.out_pos = static_cast<size_t>(n);
  if (c.backlog() > 0) {
    c.want_write = true;
    (void)loop_.Modify(c.fd.get(), EPOLLIN | EPOLLOUT);
  } else {
    c.out.clear();
    c.out_pos = 0;
  }
  return id;
}

void ConnManager::CloseConnection(uint64_t id, const std::string& reason) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  std::unique_ptr<Connection> conn = std::move(it->second);
  connections_.erase(it);
  conn->closed = true;
  loop_.Remove(conn->fd.get());
  ++counters_.disconnects;
  vlog.Info("{}: disconnected ({})", conn->name, reason);
  if (!conn->controller_target.empty()) {
    auto c = controllers_.find(conn->controller_target);
    if (c != controllers_.end() && c->second->conn_id == id) {
      c->second->conn_id = 0;
      ScheduleReconnect(c->second.get());
    }
  }
  // The caller may still hold a reference: free it on the next loop turn.
  closed_.push_back(std::move(conn));
  std::weak_ptr<bool> alive = alive_;
  loop_.Post([this, alive] {
    if (!alive.expired()) SweepClosed();
  });
}

void ConnManager::SweepClosed() { closed_.clear(); }

// Sends one message on `conn`; closes it on a write error.
#define HSW_CONN_SEND(conn, message)                                                            \
  do {                                                                                          \
    if (!(conn).closed) {                                                                       \
      std::string why_;                                                                         \
      if (!QueueAndFlush((conn).fd.get(), (conn).out, (conn).out_pos, (conn).want_write, loop_, \
                         ofp::Encode(message), &why_)) {                                        \
        CloseConnection((conn).id, why_);                                                       \
      }                                                                                         \
    }                                                                                           \
  } while (0)

bool ConnManager::RefuseWhileRestoring(Connection& conn, ofp::OfpError error,
                                       std::span<const uint8_t> request) {
  if (switch_.tables_loaded()) return false;
  // The tables are being restored, by hsw-ctl over the control socket or by
  // a restore script over <bridge>.mgmt, whose writes are the restore.  A
  // controller's or remote listener's write now would race the restore and
  // be overwritten by it.
  if (conn.origin == ConnOrigin::kManagement) return false;
  ++counters_.refused_while_restoring;
  error.detail =
      "flow-restore-wait: the tables are being restored; OpenFlow writes from controllers "
      "and remote listeners are refused until flow-restore-wait is cleared (the management "
      "socket's are served)";
  SendError(conn, error, request);
  return true;
}

Status ConnManager::SetAllowedVersions(uint32_t bitmap) {
  if (bitmap & ~ofp::kSupportedVersions) {
    return Err(
        "bridge {}: OpenFlow versions (bitmap 0x{:x}) include some hsw does not "
        "implement (it implements bitmap 0x{:x})",
        bridge_.name(), bitmap, ofp::kSupportedVersions);
  }
  if (bitmap == 0) return Err("bridge {}: no OpenFlow version allowed", bridge_.name());
  if (bitmap != allowed_versions_) {
    vlog.Info("{}: OpenFlow versions bitmap 0x{:x} (was 0x{:x})", bridge_.name(), bitmap,
              allowed_versions_);
  }
  allowed_versions_ = bitmap;
  std::vector<uint64_t> stale;
  for (const auto& [id, conn] : connections_) {
    if (conn->hello_done && !(bitmap & (1u << conn->version))) stale.push_back(id);
  }
  for (uint64_t id : stale) CloseConnection(id, "its OpenFlow version is no longer allowed");
  return Ok();
}

Status ConnManager::SetProtocols(const std::vector<std::string>& protocols) {
  auto bitmap = ofp::VersionBitmapFromNames(protocols);
  if (!bitmap) return Err("bridge {}: {}", bridge_.name(), bitmap.error().detail);
  return SetAllowedVersions(*bitmap);
}

void ConnManager::SendError(Connection& conn, const ofp::OfpError& error,
                            std::span<const uint8_t> request) {
  ++counters_.errors_sent;
  static log::RateLimit rl(10);
  if (rl.Allow()) {
    const char* what = request.size() >= 2 ? ofp::MessageTypeName(request[1]) : "the stream";
    vlog.Info("{}: sending {} in reply to {}: {}", conn.name,
              ofp::ErrorName(error.type, error.code), what, error.detail);
  }
  ofp::OfpMessage reply = ofp::MakeErrorReply(error, request);
  reply.version = conn.version ? conn.version : ofp::HelloVersion(allowed_versions_);
  HSW_CONN_SEND(conn, reply);
}

void ConnManager::HandleMessage(Connection& conn, std::span<const uint8_t> bytes) {
  ++counters_.messages_in;
  auto m = ofp::Decode(bytes);
  if (!conn.hello_done) {
    const ofp::Hello* hello = m ? std::get_if<ofp::Hello>(&m->body) : nullptr;
    if (!hello) {
      SendError(conn,
                ofp::OfpError{ofp::err::kHelloFailed, ofp::err::kHelloIncompatible,
                              "expected HELLO to start the connection"},
                bytes);
      conn.closing = true;
      return;
    }
    auto version = ofp::NegotiateVersion(m->version, *hello, allowed_versions_);
    if (!version) {
      vlog.Info("{}: version negotiation failed: {}", conn.name, version.error().detail);
      SendError(conn, version.error(), bytes);
      conn.closing = true;
      return;
    }
    conn.hello_done = true;
    conn.version = *version;
    vlog.Dbg("{}: negotiated OpenFlow version 0x{:02x}", conn.name, conn.version);
    return;
  }
  if (!m) {
    SendError(conn, m.error(), bytes);
    return;
  }
  // One version per connection (HELLO, ERROR and ECHO are version-neutral).
  if (m->version != conn.version && !std::holds_alternative<ofp::Hello>(m->body) &&
      !std::holds_alternative<ofp::ErrorMsg>(m->body) &&
      !std::holds_alternative<ofp::EchoRequest>(m->body) &&
      !std::holds_alternative<ofp::EchoReply>(m->body)) {
    SendError(conn,
              ofp::OfpError{ofp::err::kBadRequest, ofp::err::kBadRequestBadVersion,
                            fmt::format("message in OpenFlow 0x{:02x} on a connection that "
                                        "negotiated 0x{:02x}",
                                        m->version, conn.version)},
              bytes);
    return;
  }
  if (log::Enabled(log::Level::kDbg)) vlog.Dbg("{}: received {}", conn.name, FormatMessage(*m));
  HandleRequest(conn, *m, bytes);
}

void ConnManager::HandleRequest(Connection& conn, const ofp::OfpMessage& m,
                                std::span<const uint8_t> bytes) {
  using namespace ofp;
  auto reply = [&](MessageBody body) {
    OfpMessage r{conn.version, m.xid, std::move(body)};
    HSW_CONN_SEND(conn, r);
  };
  auto is_slave = [&] {
    if (conn.role != kRoleSlave) return false;
    SendError(conn, OfpError{err::kBadRequest, kBadRequestIsSlave, "connection is a slave"}, bytes);
    return true;
  };
  const MessageBody& body = m.body;
  if (const auto* echo = std::get_if<EchoRequest>(&body)) {
    reply(EchoReply{echo->data});
  } else if (std::holds_alternative<EchoReply>(body) || std::holds_alternative<Hello>(body)) {
    // Liveness only (last_rx was updated on receipt).
  } else if (const auto* e = std::get_if<ErrorMsg>(&body)) {
    static log::RateLimit rl(5);
    if (rl.Allow()) {
      vlog.Info("{}: peer sent error {}", conn.name, ErrorName(e->type, e->code));
    }
  } else if (std::holds_alternative<FeaturesRequest>(body)) {
    FeaturesReply f;
    f.datapath_id = bridge_.datapath_id();
    reply(f);
  } else if (std::holds_alternative<GetConfigRequest>(body)) {
    reply(GetConfigReply{conn.config});
  } else if (const auto* set = std::get_if<SetConfig>(&body)) {
    conn.config = set->config;
  } else if (std::holds_alternative<BarrierRequest>(body)) {
    // Everything before the barrier has been applied to the tables; make it
    // reach the datapath before saying so.
    switch_.Sync();
    reply(BarrierReply{});
  } else if (const auto* role = std::get_if<RoleRequest>(&body)) {
    if (role->role != kRoleNoChange) {
      if (role->role == kRoleMaster) {
        // At most one master: the previous one becomes a slave.
        for (auto& [id, other] : connections_) {
          if (other.get() != &conn && other->role == kRoleMaster) other->role = kRoleSlave;
        }
      }
      conn.role = role->role;
    }
    reply(RoleReply{conn.role, role->generation_id});
  } else if (const auto* fm = std::get_if<FlowMod>(&body)) {
    if (is_slave()) return;
    if (RefuseWhileRestoring(conn, OfpError{err::kFlowModFailed, err::kFlowModEperm, ""}, bytes)) {
      return;
    }
    auto result = bridge_.FlowMod(*fm);
    if (!result) {
      SendError(conn, result.error(), bytes);
    } else if (fm->buffer_id != kNoBuffer) {
      // hsw never buffers packets, so no buffer id is valid; the flow itself
      // was added, as OpenFlow wants.
      SendError(conn,
                OfpError{err::kBadRequest, err::kBadRequestBufferUnknown,
                         fmt::format("buffer {} does not exist", fm->buffer_id)},
                bytes);
    }
  } else if (const auto* po = std::get_if<PacketOut>(&body)) {
    if (is_slave()) return;
    if (RefuseWhileRestoring(conn, OfpError{err::kBadRequest, err::kBadRequestEperm, ""}, bytes)) {
      return;
    }
    if (po->buffer_id != kNoBuffer) {
      SendError(conn,
                OfpError{err::kBadRequest, err::kBadRequestBufferUnknown,
                         fmt::format("buffer {} does not exist", po->buffer_id)},
                bytes);
      return;
    }
    auto result = bridge_.PacketOut(*po);
    if (!result) SendError(conn, result.error(), bytes);
  } else if (const auto* req = std::get_if<MultipartRequest>(&body)) {
    HandleMultipart(conn, m, *req);
  } else if (const auto* bc = std::get_if<BundleControl>(&body)) {
    HandleBundleControl(conn, m, *bc, bytes);
  } else if (const auto* add = std::get_if<BundleAdd>(&body)) {
    if (is_slave()) return;
    HandleBundleAdd(conn, *add, bytes);
  } else if (const auto* gm = std::get_if<GroupMod>(&body)) {
    if (is_slave()) return;
    if (RefuseWhileRestoring(conn, OfpError{err::kGroupModFailed, kGroupModEperm, ""}, bytes)) {
      return;
    }
    if (auto ok = CheckGroupMod(*gm); !ok) SendError(conn, ok.error(), bytes);
  } else if (const auto* ttm = std::get_if<TlvTableMod>(&body)) {
    if (is_slave()) return;
    if (RefuseWhileRestoring(conn, OfpError{err::kBadRequest, err::kBadRequestEperm, ""}, bytes)) {
      return;
    }
    if (auto ok = tlv_table_.Apply(*ttm); !ok) {
      SendError(conn, ok.error(), bytes);
    } else {
      vlog.Info("{}: TLV table {} ({} maps): {} bytes of options mapped", conn.name,
                ttm->command == nx::kTlvAdd      ? "add"
                : ttm->command == nx::kTlvDelete ? "delete"
                                                 : "clear",
                ttm->maps.size(), tlv_table_.used_space());
    }
  } else if (std::holds_alternative<TlvTableRequest>(body)) {
    reply(tlv_table_.Reply());
  } else {
    SendError(
        conn,
        OfpError{err::kBadRequest, err::kBadRequestBadType,
                 fmt::format("{} is not a request a switch serves", MessageTypeName(m.type()))},
        bytes);
  }
}

void ConnManager::HandleBundleControl(Connection& conn, const ofp::OfpMessage& m,
                                      const ofp::BundleControl& bc,
                                      std::span<const uint8_t> bytes) {
  using namespace ofp;
  auto fail = [&](uint16_t code, std::string detail) {
    SendError(conn, BundleError(conn.version, code, std::move(detail)), bytes);
  };
  auto reply = [&](uint16_t type) {
    OfpMessage r{conn.version, m.xid, BundleControl{bc.bundle_id, type, bc.flags}};
    HSW_CONN_SEND(conn, r);
  };
  if (bc.type == bundle::kOpenRequest) {
    if (conn.bundle) {
      if (conn.bundle->id == bc.bundle_id) {
        fail(bundle::kErrBundleExist, fmt::format("bundle {} is already open", bc.bundle_id));
      } else {
        fail(bundle::kErrOutOfBundles, "one bundle per connection at a time");
      }
      return;
    }
    // hsw applies every bundle atomically and in order, so both flags are
    // honoured whether asked for or not; others are unknown.
    if (bc.flags & ~(bundle::kFlagAtomic | bundle::kFlagOrdered)) {
      fail(bundle::kErrBadFlags, fmt::format("bundle flags 0x{:x} are unknown", bc.flags));
      return;
    }
    conn.bundle.emplace();
    conn.bundle->id = bc.bundle_id;
    conn.bundle->flags = bc.flags;
    reply(bundle::kOpenReply);
    return;
  }
  if (bc.type != bundle::kCloseRequest && bc.type != bundle::kCommitRequest &&
      bc.type != bundle::kDiscardRequest) {
    fail(bundle::kErrBadType, fmt::format("bundle control type {} is not a request", bc.type));
    return;
  }
  if (!conn.bundle || conn.bundle->id != bc.bundle_id) {
    fail(bundle::kErrBadId, fmt::format("bundle {} is not open", bc.bundle_id));
    return;
  }
  if (bc.type == bundle::kCloseRequest) {
    conn.bundle->closed = true;
    reply(bundle::kCloseReply);
  } else if (bc.type == bundle::kDiscardRequest) {
    conn.bundle.reset();
    reply(bundle::kDiscardReply);
  } else {
    std::vector<ofp::FlowMod> flow_mods = std::move(conn.bundle->flow_mods);
    conn.bundle.reset();
    if (conn.role == kRoleSlave) {
      SendError(conn, OfpError{err::kBadRequest, kBadRequestIsSlave, "connection is a slave"},
                bytes);
      return;
    }
    if (RefuseWhileRestoring(conn, BundleError(conn.version, bundle::kErrEperm, ""), bytes)) {
      return;
    }
    // All or nothing: the bridge applies every flow-mod or none of them.
    auto result = bridge_.FlowModBatch(flow_mods);
    if (!result) {
      SendError(conn, result.error(), bytes);
      fail(bundle::kErrMsgFailed, "a bundled flow-mod failed; nothing was changed");
      return;
    }
    vlog.Info("{}: committed bundle {} ({} flow-mods)", conn.name, bc.bundle_id, flow_mods.size());
    // Like a barrier: the commit reply means traffic sees the new tables.
    switch_.Sync();
    reply(bundle::kCommitReply);
  }
}

void ConnManager::HandleBundleAdd(Connection& conn, const ofp::BundleAdd& add,
                                  std::span<const uint8_t> bytes) {
  using namespace ofp;
  auto bundle_error = [&](uint16_t code, std::string detail) {
    SendError(conn, BundleError(conn.version, code, std::move(detail)), bytes);
  };
  if (!conn.bundle || conn.bundle->id != add.bundle_id) {
    bundle_error(bundle::kErrBadId, fmt::format("bundle {} is not open", add.bundle_id));
    return;
  }
  if (conn.bundle->closed) {
    bundle_error(bundle::kErrBundleClosed, fmt::format("bundle {} is closed", add.bundle_id));
    return;
  }
  if (add.flags != conn.bundle->flags) {
    bundle_error(bundle::kErrBadFlags,
                 fmt::format("bundle {} was opened with flags 0x{:x}, not 0x{:x}", add.bundle_id,
                             conn.bundle->flags, add.flags));
    return;
  }
  // The bundled message is checked now, so its errors come back with its
  // own xid and bytes before the commit (ovs-ofctl relies on that: it
  // matches errors to its messages by xid, and does not commit after one).
  auto inner = Decode(add.message);
  if (!inner) {
    SendError(conn, inner.error(), add.message);
    return;
  }
  if (inner->version != conn.version) {
    SendError(conn,
              OfpError{err::kBadRequest, err::kBadRequestBadVersion,
                       fmt::format("bundled message in OpenFlow 0x{:02x} on a 0x{:02x} connection",
                                   inner->version, conn.version)},
              add.message);
    return;
  }
  if (const auto* gm = std::get_if<GroupMod>(&inner->body)) {
    // Nothing to stage: a delete has no group to remove, anything else fails.
    if (auto ok = CheckGroupMod(*gm); !ok) SendError(conn, ok.error(), add.message);
    return;
  }
  const auto* fm = std::get_if<ofp::FlowMod>(&inner->body);
  if (!fm) {
    bundle_error(bundle::kErrMsgUnsup,
                 fmt::format("{} cannot be bundled (only FLOW_MOD and GROUP_MOD)",
                             MessageTypeName(inner->type())));
    return;
  }
  if (auto valid = ValidateFlowMod(*fm); !valid) {
    SendError(conn, valid.error(), add.message);
    return;
  }
  conn.bundle->flow_mods.push_back(*fm);
}

void ConnManager::HandleMultipart(Connection& conn, const ofp::OfpMessage& m,
                                  const ofp::MultipartRequest& req) {
  using namespace ofp;
  MultipartReply out;
  if (std::holds_alternative<DescRequest>(req.body)) {
    DescStats d;
    d.sw_desc = "hsw";
    d.dp_desc = bridge_.name();
    out.body = d;
  } else if (const auto* flow = std::get_if<FlowStatsRequest>(&req.body)) {
    out.body = bridge_.DumpFlows(*flow);
  } else if (const auto* agg = std::get_if<AggregateRequest>(&req.body)) {
    out.body = bridge_.Aggregate(agg->request);
  } else if (std::holds_alternative<TableStatsRequest>(req.body)) {
    out.body = bridge_.GetTableStats();
  } else if (const auto* ps = std::get_if<PortStatsRequest>(&req.body)) {
    out.body = bridge_.GetPortStats(ps->port_no);
  } else if (std::holds_alternative<PortDescRequest>(req.body)) {
    out.body = bridge_.GetPortDescs();
  } else if (std::holds_alternative<GroupDescRequest>(req.body)) {
    out.body = GroupDescReply{};  // no groups (issue 14)
  } else if (std::holds_alternative<TableFeaturesRequest>(req.body)) {
    static const std::vector<TableFeatures> kFeatures = HswTableFeatures();
    out.body = kFeatures;
  }
  OfpMessage r{conn.version, m.xid, std::move(out)};
  HSW_CONN_SEND(conn, r);
}

template <class Fn>
void ConnManager::ForEachReady(Fn fn) {
  // Collect first: a send may close (and unlink) a connection.
  std::vector<uint64_t> ids;
  for (auto& [id, conn] : connections_) {
    if (conn->ready()) ids.push_back(id);
  }
  for (uint64_t id : ids) {
    auto it = connections_.find(id);
    if (it != connections_.end()) fn(*it->second);
  }
}

void ConnManager::OnPacketIn(const ofp::PacketIn& packet_in) {
  ForEachReady([&](Connection& conn) {
    if (conn.role == ofp::kRoleSlave) return;
    if (conn.backlog() > kPacketInBacklog) {
      ++counters_.packet_ins_dropped;
      static log::RateLimit rl(1);
      if (rl.Allow()) vlog.Warn("{}: dropping packet-ins, peer is not reading", conn.name);
      return;
    }
    ++counters_.packet_ins_sent;
    ofp::OfpMessage m{conn.version, 0, packet_in};
    // A table-miss packet goes out cut to the connection's miss_send_len
    // (0xffff = whole packet), as set by SET_CONFIG.
    auto& pi = std::get<ofp::PacketIn>(m.body);
    if (pi.reason == ofp::kPacketInReasonNoMatch && conn.config.miss_send_len != 0xffff &&
        pi.data.size() > conn.config.miss_send_len) {
      pi.data.resize(conn.config.miss_send_len);
    }
    HSW_CONN_SEND(conn, m);
  });
}

void ConnManager::OnFlowRemoved(const ofp::FlowRemoved& removed) {
  ForEachReady([&](Connection& conn) {
    if (conn.role == ofp::kRoleSlave) return;
    ofp::OfpMessage m{conn.version, 0, removed};
    HSW_CONN_SEND(conn, m);
  });
}

void ConnManager::OnPortStatus(const ofp::PortStatus& status) {
  ForEachReady([&](Connection& conn) {
    ofp::OfpMessage m{conn.version, 0, status};
    HSW_CONN_SEND(conn, m);
  });
}

// ---------------------------------------------------------------------------
// Controllers and extra listeners.

Status ConnManager::SetControllers(const std::vector<std::string>& targets) {
  std::map<std::string, Target> wanted;
  for (const auto& t : targets) {
    HSW_ASSIGN_OR_RETURN(Target spec, ParseTarget(t));
    wanted[t] = spec;
  }
  // Open new listeners first, so a failure leaves everything as it was.
  std::vector<std::pair<std::string, UniqueFd>> new_listeners;
  for (const auto& [target, spec] : wanted) {
    if (!spec.passive() || listeners_.count(target)) continue;
    Result<UniqueFd> fd =
        spec.kind == Target::kPtcp ? ListenTcp(spec.host, spec.port) : ListenUnix(spec.path);
    if (!fd) return Err("bridge {}: {}: {}", bridge_.name(), target, fd.error().ToString());
    new_listeners.emplace_back(target, std::move(*fd));
  }
  // Stop what is no longer wanted (the management socket always stays).
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    if (wanted.count(it->first) || it->first == "punix:" + mgmt_path_) {
      ++it;
      continue;
    }
    vlog.Info("{}: stopped listening on {}", bridge_.name(), it->first);
    loop_.Remove(it->second->fd.get());
    if (!it->second->unlink_path.empty()) ::unlink(it->second->unlink_path.c_str());
    it = listeners_.erase(it);
  }
  for (auto it = controllers_.begin(); it != controllers_.end();) {
    if (wanted.count(it->first)) {
      ++it;
      continue;
    }
    Controller& c = *it->second;
    vlog.Info("{}: removing controller {}", bridge_.name(), c.target);
    if (c.retry_timer) loop_.CancelTimer(c.retry_timer);
    if (c.connecting) loop_.Remove(c.connecting.get());
    uint64_t conn_id = c.conn_id;
    it = controllers_.erase(it);
    if (conn_id) CloseConnection(conn_id, "controller removed");
  }
  for (auto& [target, fd] : new_listeners) {
    const Target& spec = wanted[target];
    HSW_TRY(AddListenerFd(std::move(fd), target, spec.kind == Target::kPtcp ? "tcp" : "unix"));
    if (spec.kind == Target::kPunix) listeners_[target]->unlink_path = spec.path;
    vlog.Info("{}: listening for OpenFlow on {}", bridge_.name(), target);
  }
  for (const auto& [target, spec] : wanted) {
    if (spec.passive() || controllers_.count(target)) continue;
    auto c = std::make_unique<Controller>();
    c->target = target;
    c->spec = spec;
    Controller* raw = c.get();
    controllers_[target] = std::move(c);
    vlog.Info("{}: adding controller {}", bridge_.name(), target);
    StartConnect(raw);
  }
  return Ok();
}

std::vector<std::string> ConnManager::controllers() const {
  std::vector<std::string> out;
  for (const auto& [target, c] : controllers_) out.push_back(target);
  for (const auto& [target, l] : listeners_) {
    if (target != "punix:" + mgmt_path_) out.push_back(target);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void ConnManager::StartConnect(Controller* c) {
  c->retry_timer = 0;
  int family = c->spec.kind == Target::kUnix ? AF_UNIX : AF_INET;
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int rc = -1;
  if (fd) {
    if (family == AF_UNIX) {
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::memcpy(addr.sun_path, c->spec.path.c_str(), c->spec.path.size());
      rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    } else {
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(c->spec.port);
      inet_pton(AF_INET, c->spec.host.c_str(), &addr.sin_addr);
      rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    }
  }
  if (rc == 0) {
    c->connecting = std::move(fd);
    OnConnectDone(c);
    return;
  }
  if (fd && errno == EINPROGRESS) {
    c->connecting = std::move(fd);
    std::string target = c->target;
    auto added = loop_.Add(c->connecting.get(), EPOLLOUT, [this, target](uint32_t) {
      auto it = controllers_.find(target);
      if (it != controllers_.end()) OnConnectDone(it->second.get());
    });
    if (added) return;
    c->connecting.Reset();
  }
  if (c->failures++ == 0) {
    vlog.Info("{}: connecting to {}: {}", bridge_.name(), c->target, std::strerror(errno));
  }
  ScheduleReconnect(c);
}

void ConnManager::OnConnectDone(Controller* c) {
  UniqueFd fd = std::move(c->connecting);
  loop_.Remove(fd.get());
  int error = 0;
  socklen_t len = sizeof error;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &len) < 0) error = errno;
  if (error) {
    if (c->failures++ == 0) {
      vlog.Info("{}: connecting to {}: {}", bridge_.name(), c->target, std::strerror(error));
    }
    ScheduleReconnect(c);
    return;
  }
  c->failures = 0;
  c->backoff_ms = kMinBackoffMs;
  c->conn_id = AddConnection(std::move(fd), fmt::format("{}<->{}", bridge_.name(), c->target), c,
                             ConnOrigin::kController);
  if (!c->conn_id) ScheduleReconnect(c);
}

void ConnManager::ScheduleReconnect(Controller* c) {
  if (c->retry_timer) return;
  int delay = c->backoff_ms;
  c->backoff_ms = std::min(c->backoff_ms * 2, kMaxBackoffMs);
  std::string target = c->target;
  std::weak_ptr<bool> alive = alive_;
  c->retry_timer = loop_.AddTimer(std::chrono::milliseconds(delay), [this, alive, target] {
    if (alive.expired()) return;
    auto it = controllers_.find(target);
    if (it != controllers_.end()) StartConnect(it->second.get());
  });
}

void ConnManager::CheckProbes() {
  auto now = EventLoop::Clock::now();
  std::vector<uint64_t> dead, probe;
  for (auto& [id, conn] : connections_) {
    // A connection that is closing after an error but whose peer does not
    // read our ERROR goes now rather than never.
    // (One tick of grace, so a slow reader still gets the ERROR.)
    if (conn->closing) {
      if (conn->closing_grace_used) dead.push_back(id);
      conn->closing_grace_used = true;
      continue;
    }
    if (conn->controller_target.empty() || conn->closed) continue;
    auto idle = now - conn->last_rx;
    if (idle > 2 * kProbeInterval) {
      dead.push_back(id);
    } else if (idle > kProbeInterval && !conn->probe_sent && conn->hello_done) {
      probe.push_back(id);
    }
  }
  // Sent after the scan: a failed send closes (and unlinks) the connection.
  for (uint64_t id : probe) {
    auto it = connections_.find(id);
    if (it == connections_.end()) continue;
    Connection& conn = *it->second;
    conn.probe_sent = true;
    ofp::OfpMessage echo{conn.version, 0, ofp::EchoRequest{}};
    HSW_CONN_SEND(conn, echo);
  }
  for (uint64_t id : dead) {
    auto it = connections_.find(id);
    if (it == connections_.end()) continue;
    CloseConnection(id, it->second->closing
                            ? std::string("closed after error")
                            : fmt::format("no response to inactivity probe after {} s",
                                          2 * kProbeInterval.count() / 1000));
  }
}

std::vector<ConnInfo> ConnManager::Connections() const {
  std::vector<ConnInfo> out;
  for (const auto& [id, conn] : connections_) {
    out.push_back(ConnInfo{conn->name, !conn->controller_target.empty(), conn->hello_done,
                           conn->version, conn->role});
  }
  return out;
}

}  // namespace hsw::ofproto
