// sidecar/http_server: hsw-sidecar's endpoints on cpp-httplib (Debian's
// libcpp-httplib): GET /livez[/NAME], /readyz[/NAME] (200 or 500, reasons
// in the body; ?verbose, ?exclude=NAME), /metrics (Prometheus text 0.0.4),
// /status (JSON).  Every request reads the daemons afresh (sources.h); a GET
// changes nothing, and other methods get 405.  Bound to 127.0.0.1 by default.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/result.h"
#include "sidecar/config_watch.h"
#include "sidecar/sources.h"
#include "sidecar/supervisor.h"

namespace httplib {
class Server;
}

namespace hsw::sidecar {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 9476;
  Paths paths;
  std::chrono::milliseconds deadline{2000};  // per daemon, per request
};

class HttpServer {
 public:
  // Binds; the error names the address (e.g. already in use).
  static Result<std::unique_ptr<HttpServer>> Bind(const HttpOptions& options,
                                                  const Supervisor* supervisor,
                                                  const ConfigWatcher* config = nullptr);
  ~HttpServer();
  // Serves until Stop() (from another thread).
  void Serve();
  void Stop();

 private:
  HttpServer(const HttpOptions& options, const Supervisor* supervisor,
             const ConfigWatcher* config);
  std::optional<ConfigStatus> Config() const;
  // Readiness beyond the daemons' own state: no take-over under way or
  // failed (Supervisor::Readiness), the ConfigMap applied (--config-dir: a
  // generation in force; a refused newer one keeps the last good in force
  // and is reported in /status and /metrics, not here).
  std::vector<Check> MoreReadinessChecks() const;
  void Route();

  HttpOptions options_;
  const Supervisor* supervisor_;
  const ConfigWatcher* config_;
  std::unique_ptr<httplib::Server> server_;
};

// The /metrics text and the /status JSON for these views, without HTTP
// (tests call them directly).
std::string MetricsText(const DatapathView& dp, const VswitchdView& vs,
                        const std::vector<DaemonState>& daemons,
                        const std::optional<ConfigStatus>& config = std::nullopt);
// `more_ready`: the readiness checks beyond ReadinessChecks(dp, vs) (the
// server's own: "take-over", "config").
std::string StatusJson(const DatapathView& dp, const VswitchdView& vs,
                       const std::vector<DaemonState>& daemons,
                       const std::optional<ConfigStatus>& config = std::nullopt,
                       const std::vector<Check>& more_ready = {});

}  // namespace hsw::sidecar
