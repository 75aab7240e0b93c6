// ControlServer: hsw-vswitchd's control socket, <rundir>/vswitchd.ctl, the
// endpoint that hsw-ctl (and the sidecar, and tests) use to configure and
// inspect the switch.
//
// Protocol (one JSON object per line, UTF-8, '\n'-terminated, both ways):
//
//   request:   {"id": 7, "method": "add-flow", "params": {"bridge": "br0", "flow": "..."}}
//   success:   {"id": 7, "result": <any JSON value>}
//   failure:   {"id": 7, "error": {"message": "unknown bridge 'brX'"}}
//
// "id" is echoed back as given (any JSON value; null if missing) so that a
// client may pipeline requests; replies come in request order.  "params" is
// an object (missing = {}).  A line that is not JSON, or has no string
// "method", gets an error reply with id null; the connection stays open.
// Lines longer than kMaxLineSize close the connection.
//
// Methods (params -> result) are registered by hsw-vswitchd; see
// vswitchd/vswitchd.h for the list.  A handler runs to completion on the
// event loop before the next request is read, so a reply means the change is
// done (and, for flow changes, visible to traffic).
//
// A "wait" method (RegisterWait) replies only once a condition holds
// ("wait-ready": the tables are loaded).  Until then its connection is
// parked -- later requests on it wait their turn, other connections go on --
// and the daemon calls Wake() whenever the condition may have changed.  So a
// client blocks on a read instead of polling.
//
// Threading: the event loop's thread only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/event_loop.h"
#include "common/fd.h"
#include "common/result.h"

namespace hsw::vswitchd {

inline constexpr size_t kMaxLineSize = 64 * 1024 * 1024;

struct ControlRequest {
  nlohmann::json id;  // echoed back
  std::string method;
  nlohmann::json params = nlohmann::json::object();
};

// Parses one request line.  On error, the Error's message says what is wrong
// and `id` (if it could be read) is still filled in for the error reply.
Result<ControlRequest> ParseControlRequest(std::string_view line, nlohmann::json* id = nullptr);
std::string FormatControlResult(const nlohmann::json& id, const nlohmann::json& result);
std::string FormatControlError(const nlohmann::json& id, const std::string& message);

// Helpers for handlers: typed access to params with errors naming the param.
Result<std::string> StringParam(const nlohmann::json& params, const char* name);
std::optional<std::string> OptionalStringParam(const nlohmann::json& params, const char* name);

class ControlServer {
 public:
  using Handler = std::function<Result<nlohmann::json>(const nlohmann::json& params)>;

  // Listens on `path` (a stale socket file is replaced; a live one is an error).
  static Result<std::unique_ptr<ControlServer>> Listen(EventLoop& loop, const std::string& path);
  // Closes every connection and removes the socket file.
  ~ControlServer();

  void Register(const std::string& method, Handler handler);
  // `method` replies `null` once `ready()` is true (at once if it already is).
  void RegisterWait(const std::string& method, std::function<bool()> ready);
  // Re-checks the parked wait requests; call after a state change.
  void Wake();
  // Handles one request line and returns the reply line (no '\n').  Never
  // throws: a handler's exception becomes an error reply.
  std::string HandleLine(std::string_view line);

  const std::string& path() const { return path_; }
  size_t n_connections() const { return connections_.size(); }

 private:
  struct Connection {
    UniqueFd fd;
    std::string in;
    std::string out;
    bool closing = false;  // peer finished sending; close once `out` is flushed
    // A wait request whose condition did not hold yet: its id and method.
    std::optional<std::pair<nlohmann::json, std::string>> parked;
  };

  ControlServer(EventLoop& loop, std::string path, UniqueFd listen_fd);
  std::string HandleRequest(const ControlRequest& request);
  void OnAccept();
  void OnConnection(int fd, uint32_t events);
  // Handles the complete lines in connection.in, stopping at a parked wait.
  void ProcessLines(Connection& connection);
  void Flush(Connection& connection);
  void Close(int fd);

  EventLoop& loop_;
  std::string path_;
  UniqueFd listen_fd_;
  std::map<std::string, Handler> handlers_;
  std::map<std::string, std::function<bool()>> waits_;
  std::map<int, std::unique_ptr<Connection>> connections_;
};

}  // namespace hsw::vswitchd
