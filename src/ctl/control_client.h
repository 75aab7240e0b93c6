// ControlClient: hsw-ctl's end of hsw-vswitchd's control socket
// (<rundir>/vswitchd.ctl).  The protocol -- one JSON object per line,
// {"id","method","params"} -> {"id","result"} | {"id","error":{"message"}} --
// is specified in src/vswitchd/control_server.h; hsw-ctl may not include
// vswitchd/, so this file holds the client half.
//
// Blocking, one request at a time, with a timeout on every call so that a
// wedged daemon never hangs a script.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "common/fd.h"
#include "common/result.h"

namespace hsw::ctl {

// Builds the request line (with '\n') for `method`.
std::string FormatControlRequest(int64_t id, const std::string& method,
                                 const nlohmann::json& params);
// Parses a reply line for request `id`: the result, or an Error carrying the
// daemon's message.
Result<nlohmann::json> ParseControlReply(const std::string& line, int64_t id);

class ControlClient {
 public:
  // Connects to `path`.  The error says whether hsw-vswitchd seems not to be
  // running: "cannot connect to hsw-vswitchd at PATH: No such file or
  // directory (is hsw-vswitchd running?)"; Error::code keeps the errno.
  static Result<ControlClient> Connect(const std::string& path, std::chrono::milliseconds timeout);

  // Sends one request and waits for its reply (at most `timeout`; then an
  // Error with code ETIMEDOUT).
  Result<nlohmann::json> Call(const std::string& method,
                              const nlohmann::json& params = nlohmann::json::object());

 private:
  ControlClient(UniqueFd fd, std::string path, std::chrono::milliseconds timeout)
      : fd_(std::move(fd)), path_(std::move(path)), timeout_(timeout) {}
  Result<std::string> ReadLine();

  UniqueFd fd_;
  std::string path_;
  std::chrono::milliseconds timeout_;
  std::string buffer_;
  int64_t next_id_ = 1;
};

}  // namespace hsw::ctl
