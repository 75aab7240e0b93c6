#include "vswitchd/control_server.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"

namespace hsw::vswitchd {
namespace {

const log::Module vlog("control");
using json = nlohmann::json;

}  // namespace

Result<ControlRequest> ParseControlRequest(std::string_view line, json* id) {
  json doc = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Err("request is not valid JSON");
  if (!doc.is_object()) return Err("request is not a JSON object");
  ControlRequest request;
  if (auto it = doc.find("id"); it != doc.end()) request.id = *it;
  if (id) *id = request.id;
  auto method = doc.find("method");
  if (method == doc.end() || !method->is_string()) return Err("request has no string 'method'");
  request.method = method->get<std::string>();
  if (auto params = doc.find("params"); params != doc.end() && !params->is_null()) {
    if (!params->is_object()) return Err("'params' of '{}' is not an object", request.method);
    request.params = *params;
  }
  return request;
}

std::string FormatControlResult(const json& id, const json& result) {
  json reply = {{"id", id}, {"result", result}};
  return reply.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string FormatControlError(const json& id, const std::string& message) {
  json reply = {{"id", id}, {"error", {{"message", message}}}};
  return reply.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<std::string> StringParam(const json& params, const char* name) {
  auto it = params.find(name);
  if (it == params.end() || !it->is_string()) return Err("missing string parameter '{}'", name);
  return it->get<std::string>();
}

std::optional<std::string> OptionalStringParam(const json& params, const char* name) {
  auto it = params.find(name);
  if (it == params.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

Result<std::unique_ptr<ControlServer>> ControlServer::Listen(EventLoop& loop,
                                                             const std::string& path) {
  auto fd = ListenUnix(path);
  if (!fd) return Err("cannot listen on control socket {}: {}", path, fd.error().ToString());
  std::unique_ptr<ControlServer> server(new ControlServer(loop, path, std::move(*fd)));
  HSW_TRY(
      loop.Add(server->listen_fd_.get(), EPOLLIN, [s = server.get()](uint32_t) { s->OnAccept(); }));
  vlog.Info("listening on {}", path);
  return server;
}

ControlServer::ControlServer(EventLoop& loop, std::string path, UniqueFd listen_fd)
    : loop_(loop), path_(std::move(path)), listen_fd_(std::move(listen_fd)) {}

ControlServer::~ControlServer() {
  for (auto& [fd, connection] : connections_) loop_.Remove(fd);
  connections_.clear();
  if (listen_fd_) {
    loop_.Remove(listen_fd_.get());
    listen_fd_.Reset();
    unlink(path_.c_str());
  }
}

void ControlServer::Register(const std::string& method, Handler handler) {
  handlers_[method] = std::move(handler);
}

void ControlServer::RegisterWait(const std::string& method, std::function<bool()> ready) {
  waits_[method] = std::move(ready);
}

void ControlServer::Wake() {
  std::vector<int> fds;
  for (auto& [fd, connection] : connections_) {
    if (connection->parked) fds.push_back(fd);
  }
  for (int fd : fds) {
    auto it = connections_.find(fd);
    if (it == connections_.end()) continue;
    Connection& connection = *it->second;
    auto& [id, method] = *connection.parked;
    auto wait = waits_.find(method);
    if (wait != waits_.end() && !wait->second()) continue;
    connection.out += FormatControlResult(id, nullptr);
    connection.out += '\n';
    connection.parked.reset();
    ProcessLines(connection);
    Flush(connection);
  }
}

std::string ControlServer::HandleLine(std::string_view line) {
  json id;
  auto request = ParseControlRequest(line, &id);
  if (!request) return FormatControlError(id, request.error().message);
  return HandleRequest(*request);
}

std::string ControlServer::HandleRequest(const ControlRequest& request) {
  const json& id = request.id;
  auto handler = handlers_.find(request.method);
  if (handler == handlers_.end()) {
    return FormatControlError(id, fmt::format("unknown method '{}'", request.method));
  }
  try {
    auto result = handler->second(request.params);
    if (!result) {
      vlog.Dbg("{} failed: {}", request.method, result.error().ToString());
      return FormatControlError(id, result.error().ToString());
    }
    return FormatControlResult(id, *result);
  } catch (const std::exception& e) {
    // A handler must not throw; if a library did, the daemon stays up.
    vlog.Err("{}: unexpected exception: {}", request.method, e.what());
    return FormatControlError(id,
                              fmt::format("internal error in '{}': {}", request.method, e.what()));
  }
}

void ControlServer::OnAccept() {
  for (;;) {
    int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        vlog.Warn("accept on {}: {}", path_, std::strerror(errno));
      }
      return;
    }
    auto connection = std::make_unique<Connection>();
    connection->fd.Reset(fd);
    auto added = loop_.Add(fd, EPOLLIN, [this, fd](uint32_t events) { OnConnection(fd, events); });
    if (!added) {
      vlog.Warn("cannot watch control connection: {}", added.error().ToString());
      continue;  // connection's UniqueFd closes it
    }
    connections_[fd] = std::move(connection);
  }
}

void ControlServer::OnConnection(int fd, uint32_t events) {
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  Connection& connection = *it->second;
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !connection.closing) {
    char buffer[65536];
    for (;;) {
      ssize_t n = read(fd, buffer, sizeof(buffer));
      if (n > 0) {
        connection.in.append(buffer, static_cast<size_t>(n));
        if (connection.in.size() > kMaxLineSize && connection.in.find('\n') == std::string::npos) {
          vlog.Warn("control request longer than {} bytes: closing the connection", kMaxLineSize);
          Close(fd);
          return;
        }
        continue;
      }
      if (n == 0) {
        connection.closing = true;
        break;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      Close(fd);
      return;
    }
    ProcessLines(connection);
  }
  if (connection.parked && connection.closing) {
    // The peer sent its last request and waits for the reply: stop watching
    // for input (EOF would make EPOLLIN fire forever) but keep the
    // connection; EPOLLHUP still reports a peer that goes away entirely.
    if (events & (EPOLLHUP | EPOLLERR)) {
      Close(fd);
      return;
    }
    (void)loop_.Modify(fd, 0);
    return;
  }
  Flush(connection);
}

void ControlServer::ProcessLines(Connection& connection) {
  size_t start = 0;
  while (!connection.parked) {
    size_t newline = connection.in.find('\n', start);
    if (newline == std::string::npos) break;
    std::string_view line(connection.in.data() + start, newline - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    start = newline + 1;
    if (line.empty()) continue;
    // Parsed once: a restore-flows line can be megabytes of JSON.
    json id;
    auto request = ParseControlRequest(line, &id);
    if (!request) {
      connection.out += FormatControlError(id, request.error().message);
    } else if (auto wait = waits_.find(request->method); wait == waits_.end()) {
      connection.out += HandleRequest(*request);
    } else if (wait->second()) {
      connection.out += FormatControlResult(id, nullptr);
    } else {
      connection.parked.emplace(id, request->method);
      continue;
    }
    connection.out += '\n';
  }
  connection.in.erase(0, start);
}

void ControlServer::Flush(Connection& connection) {
  int fd = connection.fd.get();
  while (!connection.out.empty()) {
    ssize_t n = send(fd, connection.out.data(), connection.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      connection.out.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // Once the peer has finished sending, EPOLLIN would fire forever on EOF.
      (void)loop_.Modify(fd, connection.closing ? EPOLLOUT : (EPOLLIN | EPOLLOUT));
      return;
    }
    Close(fd);  // peer went away
    return;
  }
  if (connection.closing && !connection.parked) {
    Close(fd);
    return;
  }
  (void)loop_.Modify(fd, connection.closing ? 0u : uint32_t{EPOLLIN});
}

void ControlServer::Close(int fd) {
  loop_.Remove(fd);
  connections_.erase(fd);
}

}  // namespace hsw::vswitchd
