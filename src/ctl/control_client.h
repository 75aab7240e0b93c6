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
#include <string_view>

#include "common/fd.h"
#include "common/result.h"

namespace hsw::ctl {

// Builds the request line (with '\n') for `method`; a nonzero `payload_size`
// announces that many raw bytes after the line.
std::string FormatControlRequest(int64_t id, const std::string& method,
                                 const nlohmann::json& params, uint64_t payload_size = 0);
// Parses a reply line for request `id`: the result, or an Error carrying the
// daemon's message.  `payload_size`, if given, gets the size of the payload
// that follows the line (0 without one).
Result<nlohmann::json> ParseControlReply(const std::string& line, int64_t id,
                                         uint64_t* payload_size = nullptr);

// A reply with its payload: bulk data sent as raw bytes after the reply line
// rather than inside the JSON (see src/vswitchd/control_server.h).
struct ControlReply {
  nlohmann::json result;
  std::string payload;
};

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
  // The same, sending `payload` after the request line and returning the
  // reply's payload with its result.
  Result<ControlReply> CallWithPayload(const std::string& method, const nlohmann::json& params,
                                       std::string_view payload);

 private:
  ControlClient(UniqueFd fd, std::string path, std::chrono::milliseconds timeout)
      : fd_(std::move(fd)), path_(std::move(path)), timeout_(timeout) {}
  Status Send(std::string_view data);
  Result<std::string> ReadLine();
  // Reads exactly `size` bytes (what ReadLine buffered first).
  Result<std::string> ReadBytes(uint64_t size);
  // Waits (until the call's deadline) for the socket to be readable, then
  // reads at most `size` bytes into `into`; EOF is an error.
  Result<size_t> Receive(char* into, size_t size);

  UniqueFd fd_;
  std::string path_;
  std::chrono::milliseconds timeout_;
  std::string buffer_;
  size_t scanned_ = 0;  // bytes of buffer_ known to hold no '\n'
  std::chrono::steady_clock::time_point deadline_;  // of the call under way
  int64_t next_id_ = 1;
};

}  // namespace hsw::ctl
