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

Result<ControlRequest> ParseControlRequest(std::string_view line, json* id,
                                           std::optional<uint64_t>* payload_size) {
  if (payload_size) *payload_size = 0;
  json doc = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Err("request is not valid JSON");
  if (!doc.is_object()) return Err("request is not a JSON object");
  ControlRequest request;
  if (auto it = doc.find("id"); it != doc.end()) request.id = *it;
  if (id) *id = request.id;
  if (auto size = doc.find("payload_size"); size != doc.end()) {
    bool usable = size->is_number_unsigned() ||
                  (size->is_number_integer() && size->get<int64_t>() >= 0);
    if (!usable || size->get<uint64_t>() > kMaxPayloadSize) {
      if (payload_size) payload_size->reset();
      return Err("'payload_size' {} is not a size up to {} bytes", size->dump(), kMaxPayloadSize);
    }
    request.payload_size = size->get<uint64_t>();
    if (payload_size) *payload_size = request.payload_size;
  }
  auto method = doc.find("method");
  if (method == doc.end() || !method->is_string()) return Err("request has no string 'method'");
  request.method = method->get<std::string>();
  if (auto params = doc.find("params"); params != doc.end() && !params->is_null()) {
    if (!params->is_object()) return Err("'params' of '{}' is not an object", request.method);
    request.params = *params;
  }
  return request;
}

std::string FormatControlResult(const json& id, const json& result, uint64_t payload_size) {
  json reply = {{"id", id}, {"result", result}};
  if (payload_size) reply["payload_size"] = payload_size;
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
  handlers_[method] = [handler = std::move(handler)](const json& params,
                                                     std::string_view) -> Result<ControlReply> {
    HSW_ASSIGN_OR_RETURN(json result, handler(params));
    return ControlReply{std::move(result), {}};
  };
}

void ControlServer::RegisterWithPayload(const std::string& method, PayloadHandler handler) {
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

std::string ControlServer::HandleLine(std::string_view line, std::string_view payload) {
  json id;
  auto request = ParseControlRequest(line, &id);
  if (!request) return FormatControlError(id, request.error().message);
  std::string out;
  HandleRequest(*request, payload, out);
  // The line holds no raw '\n' (JSON escapes it): a payload follows the first.
  if (out.find('\n') == out.size() - 1) out.pop_back();
  return out;
}

void ControlServer::HandleRequest(const ControlRequest& request, std::string_view payload,
                                  std::string& out) {
  const json& id = request.id;
  auto handler = handlers_.find(request.method);
  if (handler == handlers_.end()) {
    out += FormatControlError(id, fmt::format("unknown method '{}'", request.method));
    out += '\n';
    return;
  }
  try {
    auto reply = handler->second(request.params, payload);
    if (!reply) {
      vlog.Dbg("{} failed: {}", request.method, reply.error().ToString());
      out += FormatControlError(id, reply.error().ToString());
    } else {
      out += FormatControlResult(id, reply->result, reply->payload.size());
      out += '\n';
      out += reply->payload;
      return;
    }
  } catch (const std::exception& e) {
    // A handler must not throw; if a library did, the daemon stays up.
    vlog.Err("{}: unexpected exception: {}", request.method, e.what());
    out += FormatControlError(id,
                              fmt::format("internal error in '{}': {}", request.method, e.what()));
  }
  out += '\n';
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
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !connection.closing &&
      !connection.framing_lost) {
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
  while (!connection.parked && !connection.framing_lost) {
    size_t newline = connection.in.find('\n', start);
    if (newline == std::string::npos) break;
    std::string_view line(connection.in.data() + start, newline - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t next = newline + 1;
    if (line.empty()) {
      start = next;
      continue;
    }
    // Parsed once per arrival of data: the line is short when a payload
    // follows, and a restore-flows line without one can be megabytes of JSON.
    json id;
    std::optional<uint64_t> payload_size;
    auto request = ParseControlRequest(line, &id, &payload_size);
    if (!payload_size) {
      connection.out += FormatControlError(id, request.error().message);
      connection.out += '\n';
      connection.framing_lost = true;  // the bytes that follow cannot be framed
      start = connection.in.size();
      break;
    }
    if (connection.in.size() - next < *payload_size) {
      // Wait for the whole payload (one allocation for all of it).
      connection.in.reserve(next + *payload_size);
      break;
    }
    std::string_view payload(connection.in.data() + next, *payload_size);
    start = next + *payload_size;
    if (!request) {
      connection.out += FormatControlError(id, request.error().message);
    } else if (auto wait = waits_.find(request->method); wait == waits_.end()) {
      HandleRequest(*request, payload, connection.out);
      continue;
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
  // Sent from an offset, not by erasing the front: a reply can be megabytes,
  // and the socket takes a few hundred kilobytes per send().
  while (connection.out_sent < connection.out.size()) {
    ssize_t n = send(fd, connection.out.data() + connection.out_sent,
                     connection.out.size() - connection.out_sent, MSG_NOSIGNAL);
    if (n > 0) {
      connection.out_sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // Once the peer has finished sending, EPOLLIN would fire forever on EOF.
      bool reading = !connection.closing && !connection.framing_lost;
      (void)loop_.Modify(fd, reading ? (EPOLLIN | EPOLLOUT) : uint32_t{EPOLLOUT});
      return;
    }
    Close(fd);  // peer went away
    return;
  }
  connection.out.clear();
  connection.out_sent = 0;
  if (connection.framing_lost || (connection.closing && !connection.parked)) {
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
