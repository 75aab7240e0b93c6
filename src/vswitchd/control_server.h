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
// Payloads: a request or a reply may carry "payload_size": N (a top-level
// member, a non-negative integer); then exactly N raw bytes follow its '\n'
// and belong to it.  Bulk data -- a bridge's whole flow text, megabytes for
// 100k rules -- travels this way rather than as a JSON string, whose escaping
// and parsing cost more than the work done with the data.  A request with a
// payload_size that is not such an integer, or above kMaxPayloadSize, gets an
// error reply and its connection is closed (its payload cannot be skipped).
// Handlers registered with RegisterWithPayload see the request's payload and
// may return one; other handlers ignore a request's payload.  Error replies
// carry none.
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
inline constexpr uint64_t kMaxPayloadSize = uint64_t{1} << 30;

struct ControlRequest {
  nlohmann::json id;  // echoed back
  std::string method;
  nlohmann::json params = nlohmann::json::object();
  uint64_t payload_size = 0;  // raw bytes that follow the request's line
};

// A handler's answer: the result, and raw bytes to send after the reply line.
struct ControlReply {
  nlohmann::json result;
  std::string payload;
};

// Parses one request line.  On error, the Error's message says what is wrong
// and `id` (if it could be read) is still filled in for the error reply, as is
// `payload_size` (0 without one), so that the payload can be skipped; it is
// nullopt when the line's payload_size is unusable and the framing is lost.
Result<ControlRequest> ParseControlRequest(std::string_view line, nlohmann::json* id = nullptr,
                                           std::optional<uint64_t>* payload_size = nullptr);
// The reply line (no '\n'); a nonzero `payload_size` announces a payload.
std::string FormatControlResult(const nlohmann::json& id, const nlohmann::json& result,
                                uint64_t payload_size = 0);
std::string FormatControlError(const nlohmann::json& id, const std::string& message);

// Helpers for handlers: typed access to params with errors naming the param.
Result<std::string> StringParam(const nlohmann::json& params, const char* name);
std::optional<std::string> OptionalStringParam(const nlohmann::json& params, const char* name);

class ControlServer {
 public:
  using Handler = std::function<Result<nlohmann::json>(const nlohmann::json& params)>;
  using PayloadHandler =
      std::function<Result<ControlReply>(const nlohmann::json& params, std::string_view payload)>;

  // Listens on `path` (a stale socket file is replaced; a live one is an error).
  static Result<std::unique_ptr<ControlServer>> Listen(EventLoop& loop, const std::string& path);
  // Closes every connection and removes the socket file.
  ~ControlServer();

  void Register(const std::string& method, Handler handler);
  void RegisterWithPayload(const std::string& method, PayloadHandler handler);
  // `method` replies `null` once `ready()` is true (at once if it already is).
  void RegisterWait(const std::string& method, std::function<bool()> ready);
  // Re-checks the parked wait requests; call after a state change.
  void Wake();
  // Handles one request line (and its payload) and returns the reply line
  // (no '\n'), followed by '\n' and the reply's payload if it has one.
  // Never throws: a handler's exception becomes an error reply.
  std::string HandleLine(std::string_view line, std::string_view payload = {});

  const std::string& path() const { return path_; }
  size_t n_connections() const { return connections_.size(); }

 private:
  struct Connection {
    UniqueFd fd;
    std::string in;
    std::string out;
    size_t out_sent = 0;   // bytes of `out` already sent; `out` is cleared once all are
    bool closing = false;  // peer finished sending; close once `out` is flushed
    // A request's payload_size was unusable, so nothing after it can be
    // framed: read no more, close once `out` is flushed.
    bool framing_lost = false;
    // A wait request whose condition did not hold yet: its id and method.
    std::optional<std::pair<nlohmann::json, std::string>> parked;
  };

  ControlServer(EventLoop& loop, std::string path, UniqueFd listen_fd);
  // Appends the reply to `out`: its line and '\n', then its payload.
  void HandleRequest(const ControlRequest& request, std::string_view payload, std::string& out);
  void OnAccept();
  void OnConnection(int fd, uint32_t events);
  // Handles the complete lines in connection.in, stopping at a parked wait.
  void ProcessLines(Connection& connection);
  void Flush(Connection& connection);
  void Close(int fd);

  EventLoop& loop_;
  std::string path_;
  UniqueFd listen_fd_;
  std::map<std::string, PayloadHandler> handlers_;
  std::map<std::string, std::function<bool()>> waits_;
  std::map<int, std::unique_ptr<Connection>> connections_;
};

}  // namespace hsw::vswitchd
