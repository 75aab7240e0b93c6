#include "ctl/control_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace hsw::ctl {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

}  // namespace

std::string FormatControlRequest(int64_t id, const std::string& method, const json& params,
                                 uint64_t payload_size) {
  json request = {{"id", id}, {"method", method}, {"params", params}};
  if (payload_size) request["payload_size"] = payload_size;
  return request.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<json> ParseControlReply(const std::string& line, int64_t id, uint64_t* payload_size) {
  if (payload_size) *payload_size = 0;
  json reply = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (reply.is_discarded() || !reply.is_object()) {
    return Err("hsw-vswitchd sent a reply that is not a JSON object: {}", line.substr(0, 200));
  }
  auto reply_id = reply.find("id");
  if (reply_id == reply.end() || !reply_id->is_number_integer() || reply_id->get<int64_t>() != id) {
    return Err("hsw-vswitchd answered request {} with a reply for another request", id);
  }
  if (auto error = reply.find("error"); error != reply.end()) {
    if (error->is_object() && error->contains("message") && (*error)["message"].is_string()) {
      return MakeError((*error)["message"].get<std::string>());
    }
    return MakeError(error->dump());
  }
  if (auto size = reply.find("payload_size"); size != reply.end()) {
    if (!size->is_number_unsigned()) {
      return Err("hsw-vswitchd's reply has a bad payload_size: {}", size->dump());
    }
    if (payload_size) *payload_size = size->get<uint64_t>();
  }
  auto result = reply.find("result");
  if (result == reply.end()) return Err("hsw-vswitchd's reply has neither result nor error");
  return *result;
}

Result<ControlClient> ControlClient::Connect(const std::string& path,
                                             std::chrono::milliseconds timeout) {
  auto fd = ConnectUnix(path);
  if (!fd) {
    int code = fd.error().code;
    std::string hint =
        (code == ENOENT || code == ECONNREFUSED) ? " (is hsw-vswitchd running?)" : "";
    return MakeError(fmt::format("cannot connect to hsw-vswitchd at {}: {}{}", path,
                                 code ? std::strerror(code) : fd.error().message, hint),
                     code);
  }
  return ControlClient(std::move(*fd), path, timeout);
}

Result<json> ControlClient::Call(const std::string& method, const json& params) {
  HSW_ASSIGN_OR_RETURN(ControlReply reply, CallWithPayload(method, params, {}));
  return std::move(reply.result);
}

Result<ControlReply> ControlClient::CallWithPayload(const std::string& method, const json& params,
                                                    std::string_view payload) {
  deadline_ = Clock::now() + timeout_;
  int64_t id = next_id_++;
  HSW_TRY(Send(FormatControlRequest(id, method, params, payload.size())));
  HSW_TRY(Send(payload));
  HSW_ASSIGN_OR_RETURN(std::string line, ReadLine());
  uint64_t payload_size = 0;
  HSW_ASSIGN_OR_RETURN(json result, ParseControlReply(line, id, &payload_size));
  HSW_ASSIGN_OR_RETURN(std::string reply_payload, ReadBytes(payload_size));
  return ControlReply{std::move(result), std::move(reply_payload)};
}

// A payload is megabytes, more than the socket holds: a daemon that stops
// reading must not hang us past the deadline, so the wait is a poll().
Status ControlClient::Send(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return Err("cannot send to hsw-vswitchd at {}: {}", path_, std::strerror(errno));
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
    if (left.count() <= 0) {
      return MakeError(fmt::format("hsw-vswitchd at {} took no request within {} ms", path_,
                                   timeout_.count()),
                       ETIMEDOUT);
    }
    pollfd pfd{fd_.get(), POLLOUT, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) {
      return Err("poll: {}", std::strerror(errno));
    }
  }
  return Ok();
}

Result<std::string> ControlClient::ReadLine() {
  for (;;) {
    // Only the bytes not searched yet: a reply line can be megabytes.
    size_t newline = buffer_.find('\n', scanned_);
    if (newline != std::string::npos) {
      std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      scanned_ = 0;
      return line;
    }
    scanned_ = buffer_.size();
    char chunk[65536];
    HSW_ASSIGN_OR_RETURN(size_t n, Receive(chunk, sizeof(chunk)));
    buffer_.append(chunk, n);
  }
}

Result<std::string> ControlClient::ReadBytes(uint64_t size) {
  std::string bytes;
  size_t buffered = std::min<size_t>(size, buffer_.size());
  bytes.reserve(size);
  bytes.append(buffer_, 0, buffered);
  buffer_.erase(0, buffered);
  size_t have = bytes.size();
  // Straight into place: no copy through a chunk buffer.
  bytes.resize(size);
  while (have < size) {
    HSW_ASSIGN_OR_RETURN(size_t n, Receive(bytes.data() + have, size - have));
    have += n;
  }
  return bytes;
}

Result<size_t> ControlClient::Receive(char* into, size_t size) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
    if (left.count() <= 0) {
      return MakeError(
          fmt::format("no reply from hsw-vswitchd at {} within {} ms", path_, timeout_.count()),
          ETIMEDOUT);
    }
    pollfd pfd{fd_.get(), POLLIN, 0};
    int ready = poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return Err("poll: {}", std::strerror(errno));
    }
    if (ready == 0) continue;
    ssize_t n = read(fd_.get(), into, size);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Err("cannot read from hsw-vswitchd at {}: {}", path_, std::strerror(errno));
    }
    if (n == 0) return Err("hsw-vswitchd at {} closed the connection before replying", path_);
    return static_cast<size_t>(n);
  }
}

}  // namespace hsw::ctl
