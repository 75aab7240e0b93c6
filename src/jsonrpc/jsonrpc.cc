// JSON-RPC 1.0 framing, connections and listeners (see jsonrpc.h).
#include "jsonrpc/jsonrpc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "common/log.h"

namespace hsw::jsonrpc {

namespace {

static const hsw::log::Module vlog("jsonrpc");

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Serializes without throwing: nlohmann's dump() throws on invalid UTF-8 in a
// string, which a caller relaying bytes from elsewhere could produce.
std::string Serialize(const nlohmann::json& message) {
  return message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<uint16_t> ParsePort(std::string_view text, std::string_view target) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > 65535) {
    return Err("'{}': '{}' is not a port number", target, text);
  }
  return static_cast<uint16_t>(value);
}

}  // namespace

// ---------------------------------------------------------------------------
// JsonStreamSplitter

Status JsonStreamSplitter::Feed(std::string_view bytes, std::vector<nlohmann::json>& out) {
  if (failed_) return Err("JSON stream already failed");
  size_t begin = 0;  // start of the part of `bytes` that belongs to pending_
  for (size_t i = 0; i < bytes.size(); ++i) {
    char c = bytes[i];
    if (depth_ == 0) {
      // Between messages: only whitespace, then the '{' of the next one.
      if (IsJsonSpace(c)) {
        begin = i + 1;
        continue;
      }
      if (c != '{') {
        failed_ = true;
        return Err(
            "JSON stream: expected '{{' to begin a message, got '{}'",
            (c >= 0x20 && c < 0x7f) ? std::string(1, c) : fmt::format("\\x{:02x}", c & 0xff));
      }
      begin = i;
      depth_ = 1;
      continue;
    }
    if (in_string_) {
      if (escaped_) {
        escaped_ = false;
      } else if (c == '\\') {
        escaped_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      // nlohmann parses without recursion, but callers walk values
      // recursively; OVS refuses deeper nesting too.
      if (++depth_ > kMaxDepth) {
        failed_ = true;
        return Err("JSON stream: message nested deeper than {} levels", kMaxDepth);
      }
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) {
        size_t size = pending_.size() + (i + 1 - begin);
        if (size > max_message_size_) {
          failed_ = true;
          return Err("JSON stream: message of {} bytes is over the limit of {}", size,
                     max_message_size_);
        }
        pending_.append(bytes.data() + begin, i + 1 - begin);
        begin = i + 1;
        nlohmann::json value = nlohmann::json::parse(pending_, nullptr, /*allow_exceptions=*/false);
        if (value.is_discarded()) {
          failed_ = true;
          std::string head = pending_.substr(0, 80);
          pending_.clear();
          return Err("JSON stream: message is not valid JSON: '{}{}'", head,
                     size > head.size() ? "..." : "");
        }
        pending_.clear();
        out.push_back(std::move(value));
      }
    }
  }
  if (depth_ > 0 && begin < bytes.size()) {
    // An unfinished message is held to the limit too, or a peer could make
    // us buffer without bound by never closing its first '{'.
    if (pending_.size() + (bytes.size() - begin) > max_message_size_) {
      failed_ = true;
      return Err("JSON stream: unfinished message over the limit of {} bytes", max_message_size_);
    }
    pending_.append(bytes.data() + begin, bytes.size() - begin);
  }
  return Ok();
}

// ---------------------------------------------------------------------------
// Messages

nlohmann::json MakeRequest(const std::string& method, nlohmann::json params, nlohmann::json id) {
  return {{"method", method}, {"params", std::move(params)}, {"id", std::move(id)}};
}

nlohmann::json MakeNotification(const std::string& method, nlohmann::json params) {
  return {{"method", method}, {"params", std::move(params)}, {"id", nullptr}};
}

nlohmann::json MakeReply(nlohmann::json result, nlohmann::json id) {
  return {{"result", std::move(result)}, {"error", nullptr}, {"id", std::move(id)}};
}

nlohmann::json MakeErrorReply(nlohmann::json error, nlohmann::json id) {
  return {{"result", nullptr}, {"error", std::move(error)}, {"id", std::move(id)}};
}

Result<MessageKind> Classify(const nlohmann::json& message) {
  if (!message.is_object()) return Err("JSON-RPC message is not an object");
  auto method = message.find("method");
  auto id = message.find("id");
  bool has_id = id != message.end() && !id->is_null();
  if (method != message.end()) {
    if (!method->is_string()) return Err("JSON-RPC message: \"method\" is not a string");
    auto params = message.find("params");
    if (params == message.end())
      return Err("JSON-RPC request '{}' has no \"params\"", method->get_ref<const std::string&>());
    if (!params->is_array()) {
      return Err("JSON-RPC request '{}': \"params\" is not an array",
                 method->get_ref<const std::string&>());
    }
    if (message.contains("result") || message.contains("error")) {
      return Err("JSON-RPC request '{}' also has \"result\" or \"error\"",
                 method->get_ref<const std::string&>());
    }
    return has_id ? MessageKind::kRequest : MessageKind::kNotification;
  }
  auto result = message.find("result");
  auto error = message.find("error");
  if (result == message.end() && error == message.end()) {
    return Err("JSON-RPC message has neither \"method\" nor \"result\" nor \"error\"");
  }
  if (!has_id) return Err("JSON-RPC reply has no \"id\"");
  if (error != message.end() && !error->is_null()) {
    if (result != message.end() && !result->is_null()) {
      return Err("JSON-RPC reply has both a \"result\" and an \"error\"");
    }
    return MessageKind::kErrorReply;
  }
  if (result == message.end()) return Err("JSON-RPC reply has a null \"error\" and no \"result\"");
  return MessageKind::kReply;
}

// ---------------------------------------------------------------------------
// Connection

Connection::Connection(EventLoop& loop, UniqueFd fd, std::string name, size_t max_backlog)
    : loop_(loop),
      fd_(std::move(fd)),
      name_(std::move(name)),
      max_backlog_(max_backlog),
      last_activity_(EventLoop::Clock::now()) {}

std::unique_ptr<Connection> Connection::Adopt(EventLoop& loop, UniqueFd fd, std::string name,
                                              size_t max_backlog) {
  std::unique_ptr<Connection> connection(
      new Connection(loop, std::move(fd), std::move(name), max_backlog));
  Connection* self = connection.get();
  auto status = SetNonBlocking(self->fd_.get());
  if (status) {
    // EPOLLOUT at first: a connect in progress completes (or fails) with
    // writability; with nothing queued, UpdateInterest drops it again.
    self->want_write_ = true;
    status = loop.Add(self->fd_.get(), EPOLLIN | EPOLLOUT,
                      [self](uint32_t events) { self->OnEvents(events); });
  }
  if (!status) {
    // Report it like any other failure, but later: the caller has not set
    // its handlers yet.
    std::string reason = status.error().ToString();
    self->fd_.Reset();
    std::weak_ptr<bool> alive = self->alive_;
    loop.Post([self, alive, reason] {
      if (alive.expired() || !*alive.lock()) return;
      if (auto handler = std::move(self->on_close_)) handler(reason);
    });
  }
  return connection;
}

Connection::~Connection() {
  *alive_ = false;
  if (fd_.valid()) loop_.Remove(fd_.get());
}

Status Connection::Send(const nlohmann::json& message) {
  if (!fd_.valid()) return Err("{}: connection is closed", name_);
  out_ += Serialize(message);
  if (backlog() > max_backlog_) {
    // Reported from the loop, not from inside Send: the caller of Send must
    // not find itself destroyed by its own close handler.
    std::string reason =
        fmt::format("{}: send backlog of {} bytes is over the limit of {}; peer not reading", name_,
                    backlog(), max_backlog_);
    loop_.Remove(fd_.get());
    fd_.Reset();
    out_.clear();
    out_offset_ = 0;
    std::weak_ptr<bool> alive = alive_;
    loop_.Post([this, alive, reason] {
      auto flag = alive.lock();
      if (!flag || !*flag) return;
      if (auto handler = std::move(on_close_)) handler(reason);
    });
    return Err("{}", reason);
  }
  WriteSome();
  return Ok();
}

void Connection::Close() {
  if (fd_.valid()) loop_.Remove(fd_.get());
  fd_.Reset();
  out_.clear();
  out_offset_ = 0;
}

void Connection::OnEvents(uint32_t events) {
  if (!fd_.valid()) return;
  if (events & EPOLLERR) {
    int error = 0;
    socklen_t len = sizeof(error);
    getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0) {
      Fail(fmt::format("{}: {}", name_, std::strerror(error)));
      return;
    }
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) {
    auto alive = alive_;
    ReadSome();
    if (!*alive || !fd_.valid()) return;
  }
  if (events & EPOLLOUT) WriteSome();
}

void Connection::ReadSome() {
  char buffer[65536];
  // Bounded, so one busy peer cannot starve the rest of the loop.
  for (int round = 0; round < 16; ++round) {
    ssize_t n = recv(fd_.get(), buffer, sizeof(buffer), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      Fail(fmt::format("{}: receive failed: {}", name_, std::strerror(errno)));
      return;
    }
    if (n == 0) {
      Fail(splitter_.pending_size() > 0
               ? fmt::format("{}: connection closed by peer in the middle of a message", name_)
               : fmt::format("{}: connection closed by peer", name_));
      return;
    }
    n_bytes_received_ += static_cast<uint64_t>(n);
    last_activity_ = EventLoop::Clock::now();
    std::vector<nlohmann::json> messages;
    auto status = splitter_.Feed(std::string_view(buffer, static_cast<size_t>(n)), messages);
    // Deliver what came before a framing error: the peer did send it.
    auto alive = alive_;
    for (auto& message : messages) {
      ++n_received_;
      if (on_message_) on_message_(std::move(message));
      if (!*alive || !fd_.valid()) return;
    }
    if (!status) {
      Fail(fmt::format("{}: {}", name_, status.error().ToString()));
      return;
    }
  }
}

void Connection::WriteSome() {
  while (fd_.valid() && out_offset_ < out_.size()) {
    ssize_t n = send(fd_.get(), out_.data() + out_offset_, out_.size() - out_offset_,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN) break;
      // Reported by the read side (EPOLLERR/EPOLLHUP) from the loop, so that
      // a Send() never runs the close handler; stop writing meanwhile.
      vlog.Dbg("{}: send failed: {}", name_, std::strerror(errno));
      out_.clear();
      out_offset_ = 0;
      break;
    }
    out_offset_ += static_cast<size_t>(n);
  }
  if (out_offset_ == out_.size()) {
    out_.clear();
    out_offset_ = 0;
  } else if (out_offset_ > (1 << 20) && out_offset_ > out_.size() / 2) {
    out_.erase(0, out_offset_);
    out_offset_ = 0;
  }
  UpdateInterest();
}

void Connection::UpdateInterest() {
  if (!fd_.valid()) return;
  bool want = out_offset_ < out_.size();
  if (want == want_write_) return;
  want_write_ = want;
  loop_.Modify(fd_.get(), want ? (EPOLLIN | EPOLLOUT) : EPOLLIN);
}

void Connection::Fail(const std::string& reason) {
  if (!fd_.valid()) return;
  vlog.Dbg("{}", reason);
  loop_.Remove(fd_.get());
  fd_.Reset();
  out_.clear();
  out_offset_ = 0;
  if (auto handler = std::move(on_close_)) handler(reason);
}

// ---------------------------------------------------------------------------
// Connect

Result<std::unique_ptr<Connection>> Connect(EventLoop& loop, const std::string& target) {
  std::string_view t = target;
  if (t.starts_with("unix:")) {
    std::string path(t.substr(5));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
      return Err("'{}': unix socket path is empty or too long", target);
    }
    std::memcpy(addr.sun_path, path.data(), path.size());
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return ErrnoErr("socket(AF_UNIX)");
    if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 &&
        errno != EINPROGRESS && errno != EAGAIN) {
      return ErrnoErr("connect {}", target);
    }
    return Connection::Adopt(loop, std::move(fd), target);
  }
  if (t.starts_with("tcp:")) {
    std::string_view rest = t.substr(4);
    std::string host;
    std::string_view port_text;
    if (rest.starts_with("[")) {
      size_t close = rest.find("]:");
      if (close == std::string_view::npos) return Err("'{}': expected tcp:[IPv6]:PORT", target);
      host = std::string(rest.substr(1, close - 1));
      port_text = rest.substr(close + 2);
    } else {
      size_t colon = rest.rfind(':');
      if (colon == std::string_view::npos) return Err("'{}': expected tcp:IP:PORT", target);
      host = std::string(rest.substr(0, colon));
      port_text = rest.substr(colon + 1);
    }
    HSW_ASSIGN_OR_RETURN(uint16_t port, ParsePort(port_text, target));
    sockaddr_storage storage{};
    socklen_t len = 0;
    int family = AF_INET;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(port);
      len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
      family = AF_INET6;
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(port);
      len = sizeof(*v6);
    } else {
      return Err("'{}': '{}' is not an IP address", target, host);
    }
    UniqueFd fd(socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return ErrnoErr("socket for {}", target);
    if (connect(fd.get(), reinterpret_cast<sockaddr*>(&storage), len) < 0 && errno != EINPROGRESS) {
      return ErrnoErr("connect {}", target);
    }
    return Connection::Adopt(loop, std::move(fd), target);
  }
  return Err("'{}': expected unix:PATH or tcp:IP:PORT", target);
}

// ---------------------------------------------------------------------------
// Listener

Listener::Listener(EventLoop& loop, UniqueFd fd, std::string target, std::string path,
                   AcceptHandler on_accept)
    : loop_(loop),
      fd_(std::move(fd)),
      target_(std::move(target)),
      path_(std::move(path)),
      on_accept_(std::move(on_accept)) {}

Result<std::unique_ptr<Listener>> Listener::Listen(EventLoop& loop, const std::string& target,
                                                   AcceptHandler on_accept) {
  std::string_view t = target;
  UniqueFd fd;
  std::string path;
  uint16_t bound_port = 0;
  if (t.starts_with("punix:")) {
    path = std::string(t.substr(6));
    if (path.empty()) return Err("'{}': empty socket path", target);
    HSW_ASSIGN_OR_RETURN(fd, ListenUnix(path));
  } else if (t.starts_with("ptcp:")) {
    std::string_view rest = t.substr(5);
    size_t colon = rest.find(':');
    std::string address = "0.0.0.0";
    std::string_view port_text = rest;
    if (colon != std::string_view::npos) {
      port_text = rest.substr(0, colon);
      address = std::string(rest.substr(colon + 1));
    }
    HSW_ASSIGN_OR_RETURN(uint16_t port, ParsePort(port_text, target));
    HSW_ASSIGN_OR_RETURN(fd, ListenTcp(address, port));
    sockaddr_in addr{};
    socklen_t len = sizeof(addr);
    if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      bound_port = ntohs(addr.sin_port);
    }
  } else {
    return Err("'{}': expected punix:PATH or ptcp:PORT[:IP]", target);
  }
  std::unique_ptr<Listener> listener(
      new Listener(loop, std::move(fd), target, path, std::move(on_accept)));
  listener->port_ = bound_port;
  if (!path.empty()) {
    struct stat st {};
    if (stat(path.c_str(), &st) == 0) listener->inode_ = st.st_ino;
  }
  Listener* self = listener.get();
  HSW_TRY(loop.Add(self->fd_.get(), EPOLLIN, [self](uint32_t) { self->Accept(); }));
  vlog.Dbg("listening on {}", target);
  return listener;
}

Listener::~Listener() {
  *alive_ = false;
  if (fd_.valid()) loop_.Remove(fd_.get());
  if (!path_.empty()) {
    // Unlink only our own socket file: a successor may have replaced it.
    struct stat st {};
    if (stat(path_.c_str(), &st) == 0 && st.st_ino == inode_) unlink(path_.c_str());
  }
}

void Listener::Accept() {
  auto alive = alive_;
  for (int round = 0; round < 64; ++round) {
    int fd = accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        vlog.Warn("{}: accept failed: {}", target_, std::strerror(errno));
      }
      return;
    }
    ++n_accepted_;
    auto connection =
        Connection::Adopt(loop_, UniqueFd(fd), fmt::format("{}#{}", target_, n_accepted_));
    if (on_accept_) on_accept_(std::move(connection));
    if (!*alive) return;
  }
}

}  // namespace hsw::jsonrpc
