#include "ctl/control_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hsw::ctl {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

}  // namespace

std::string FormatControlRequest(int64_t id, const std::string& method, const json& params) {
  json request = {{"id", id}, {"method", method}, {"params", params}};
  return request.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<json> ParseControlReply(const std::string& line, int64_t id) {
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
  int64_t id = next_id_++;
  std::string request = FormatControlRequest(id, method, params);
  const char* p = request.data();
  size_t left = request.size();
  while (left > 0) {
    ssize_t n = send(fd_.get(), p, left, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Err("cannot send to hsw-vswitchd at {}: {}", path_, std::strerror(errno));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  HSW_ASSIGN_OR_RETURN(std::string line, ReadLine());
  return ParseControlReply(line, id);
}

Result<std::string> ControlClient::ReadLine() {
  auto deadline = Clock::now() + timeout_;
  for (;;) {
    size_t newline = buffer_.find('\n');
    if (newline != std::string::npos) {
      std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
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
    char chunk[65536];
    ssize_t n = read(fd_.get(), chunk, sizeof(chunk));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Err("cannot read from hsw-vswitchd at {}: {}", path_, std::strerror(errno));
    }
    if (n == 0) return Err("hsw-vswitchd at {} closed the connection before replying", path_);
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace hsw::ctl
