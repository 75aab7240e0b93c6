#include "sidecar/http_server.h"

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "common/log.h"
#include "common/version.h"
#include "sidecar/health.h"
#include "sidecar/metrics.h"

namespace hsw::sidecar {
namespace {

const log::Module vlog("http");

using nlohmann::json;

HealthQuery QueryOf(const httplib::Request& request) {
  HealthQuery query;
  query.verbose = request.has_param("verbose");
  size_t n = request.get_param_value_count("exclude");
  for (size_t i = 0; i < n; ++i) query.exclude.insert(request.get_param_value("exclude", i));
  if (request.matches.size() > 1) query.only = request.matches[1].str();
  return query;
}

double Age(SteadyClock::time_point since) {
  return std::chrono::duration<double>(SteadyClock::now() - since).count();
}

}  // namespace

std::string MetricsText(const DatapathView& dp, const VswitchdView& vs,
                        const std::vector<DaemonState>& daemons,
                        const std::optional<ConfigStatus>& config) {
  std::vector<Family> families;
  families.push_back({"hsw_build_info", "gauge", "hsw-sidecar's version (always 1).",
                      {{{{"version", kVersion}}, 1}}});
  Family running{"hsw_daemon_running", "gauge",
                 "1 when the daemon holds its instance lock (it runs).", {}};
  Family restarts{"hsw_daemon_restarts_total", "counter",
                  "Times the sidecar started the daemon again after it crashed.", {}};
  for (const DaemonState& d : daemons) {
    running.samples.push_back({{{"daemon", d.name}}, d.state == "running" ? 1.0 : 0.0});
    restarts.samples.push_back({{{"daemon", d.name}}, static_cast<double>(d.restarts)});
  }
  families.push_back(std::move(running));
  families.push_back(std::move(restarts));
  if (config) {
    families.push_back({"hsw_config_applied_total", "counter",
                        "ConfigMap generations applied to hsw-vswitchd.",
                        {{{}, static_cast<double>(config->applied_total)}}});
    families.push_back({"hsw_config_refused_total", "counter",
                        "ConfigMap generations refused (a bad key or value; nothing applied).",
                        {{{}, static_cast<double>(config->refused_total)}}});
    families.push_back({"hsw_config_last_refused", "gauge",
                        "1 while the newest generation is refused and an older one is in force.",
                        {{{}, config->last_error.empty() ? 0.0 : 1.0}}});
  }
  for (Family& f : DatapathMetrics(dp)) families.push_back(std::move(f));
  for (Family& f : VswitchdMetrics(vs)) families.push_back(std::move(f));
  // Two sources may both add the scrape families: merge them by name.
  std::vector<Family> merged;
  for (Family& f : families) {
    auto it = std::find_if(merged.begin(), merged.end(),
                           [&](const Family& m) { return m.name == f.name; });
    if (it == merged.end()) {
      merged.push_back(std::move(f));
    } else {
      for (Sample& s : f.samples) it->samples.push_back(std::move(s));
    }
  }
  return FormatPrometheus(merged);
}

std::string StatusJson(const DatapathView& dp, const VswitchdView& vs,
                       const std::vector<DaemonState>& daemons,
                       const std::optional<ConfigStatus>& config,
                       const std::vector<Check>& more_ready) {
  json status;
  status["version"] = kVersion;
  json list = json::array();
  for (const DaemonState& d : daemons) {
    json entry = {{"name", d.name},       {"state", d.state},
                  {"pid", d.pid},         {"crashes", d.crashes},
                  {"restarts", d.restarts}, {"last", d.last},
                  {"state_seconds", Age(d.since)}};
    if (d.retry_at) {
      entry["retry_in_seconds"] =
          std::max(0.0, std::chrono::duration<double>(*d.retry_at - SteadyClock::now()).count());
    }
    list.push_back(std::move(entry));
  }
  status["daemons"] = std::move(list);
  status["datapath"] = {{"up", dp.up}};
  if (dp.up) {
    status["datapath"]["version"] = dp.version;
    status["datapath"]["pid"] = dp.pid;
    status["datapath"]["ports"] = dp.stats.ports.size();
  } else {
    status["datapath"]["error"] = dp.error;
  }
  status["vswitchd"] = {{"up", vs.up}};
  if (vs.up) {
    status["vswitchd"]["tables_loaded"] = vs.show.value("tables_loaded", false);
    status["vswitchd"]["database"] = vs.show.value("database", std::string());
    json bridges = json::array();
    for (const json& b : vs.show.value("bridges", json::array())) {
      bridges.push_back({{"name", b.value("name", std::string())},
                         {"rules", b.value("n_rules", int64_t{0})},
                         {"ports", b.value("ports", json::array()).size()}});
    }
    status["vswitchd"]["bridges"] = std::move(bridges);
  } else {
    status["vswitchd"]["error"] = vs.error;
  }
  if (config) {
    status["config"] = {{"dir", config->dir},
                        {"applied", config->applied},
                        {"newest", config->last_seen},
                        {"error", config->last_error},
                        {"applied_total", config->applied_total},
                        {"refused_total", config->refused_total}};
  }
  auto checks = ReadinessChecks(dp, vs);
  checks.insert(checks.end(), more_ready.begin(), more_ready.end());
  json failed = json::array();
  for (const Check& check : checks) {
    if (Status s = check.run(); !s) failed.push_back({{"check", check.name},
                                                      {"reason", s.error().message}});
  }
  status["ready"] = failed.empty();
  status["not_ready"] = std::move(failed);
  return status.dump(2) + "\n";
}

HttpServer::HttpServer(const HttpOptions& options, const Supervisor* supervisor,
                       const ConfigWatcher* config)
    : options_(options),
      supervisor_(supervisor),
      config_(config),
      server_(std::make_unique<httplib::Server>()) {}

std::optional<ConfigStatus> HttpServer::Config() const {
  if (!config_) return std::nullopt;
  return config_->Status();
}

HttpServer::~HttpServer() = default;

Result<std::unique_ptr<HttpServer>> HttpServer::Bind(const HttpOptions& options,
                                                     const Supervisor* supervisor,
                                                     const ConfigWatcher* config) {
  std::unique_ptr<HttpServer> server(new HttpServer(options, supervisor, config));
  server->Route();
  if (!server->server_->bind_to_port(options.host, options.port)) {
    return Err("cannot listen on {}:{}: {} (is another hsw-sidecar running, or the port in "
               "use?)",
               options.host, options.port, std::strerror(errno));
  }
  return server;
}

std::vector<Check> HttpServer::MoreReadinessChecks() const {
  std::vector<Check> checks;
  if (supervisor_) {
    checks.push_back({"take-over", [this] { return supervisor_->Readiness(); }});
  }
  if (config_) {
    checks.push_back({"config", [this]() -> Status {
                        ConfigStatus status = config_->Status();
                        if (!status.applied.empty()) return Ok();
                        if (!status.last_error.empty()) {
                          return Err("no generation of {} applied: {}", status.dir,
                                     status.last_error);
                        }
                        return Err("{} is not applied yet", status.dir);
                      }});
  }
  return checks;
}

void HttpServer::Serve() {
  vlog.Info("serving /livez /readyz /metrics /status on http://{}:{}", options_.host,
            options_.port);
  server_->listen_after_bind();
}

void HttpServer::Stop() { server_->stop(); }

void HttpServer::Route() {
  auto health = [this](bool ready) {
    return [this, ready](const httplib::Request& request, httplib::Response& response) {
      DatapathView dp = ReadDatapath(options_.paths, options_.deadline);
      VswitchdView vs = ReadVswitchd(options_.paths, options_.deadline);
      auto checks = ready ? ReadinessChecks(dp, vs) : LivenessChecks(dp, vs);
      if (ready) {
        auto more = MoreReadinessChecks();
        checks.insert(checks.end(), more.begin(), more.end());
      }
      HealthReport report = Evaluate(ready ? "readyz" : "livez", checks, QueryOf(request));
      response.status = report.http_status;
      response.set_content(report.body, "text/plain; charset=utf-8");
    };
  };
  server_->Get("/livez", health(false));
  server_->Get(R"(/livez/([A-Za-z0-9_-]+))", health(false));
  server_->Get("/readyz", health(true));
  server_->Get(R"(/readyz/([A-Za-z0-9_-]+))", health(true));
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    DatapathView dp = ReadDatapath(options_.paths, options_.deadline);
    VswitchdView vs = ReadVswitchd(options_.paths, options_.deadline);
    response.set_content(MetricsText(dp, vs,
                                     supervisor_ ? supervisor_->States()
                                                 : std::vector<DaemonState>{},
                                     Config()),
                         "text/plain; version=0.0.4; charset=utf-8");
  });
  server_->Get("/status", [this](const httplib::Request&, httplib::Response& response) {
    DatapathView dp = ReadDatapath(options_.paths, options_.deadline);
    VswitchdView vs = ReadVswitchd(options_.paths, options_.deadline);
    response.set_content(StatusJson(dp, vs,
                                    supervisor_ ? supervisor_->States()
                                                : std::vector<DaemonState>{},
                                    Config(), MoreReadinessChecks()),
                         "application/json");
  });
  auto refuse = [](const httplib::Request& request, httplib::Response& response) {
    response.status = 405;
    response.set_header("Allow", "GET");
    response.set_content(fmt::format("{} {}: hsw-sidecar's endpoints are read-only (GET)\n",
                                     request.method, request.path),
                         "text/plain");
  };
  for (const char* path : {"/livez", "/readyz", "/metrics", "/status"}) {
    server_->Post(path, refuse);
    server_->Put(path, refuse);
    server_->Delete(path, refuse);
  }
  server_->set_error_handler([](const httplib::Request& request, httplib::Response& response) {
    if (response.status == 404) {
      response.set_content(fmt::format("{}: not found (try /livez, /readyz, /metrics, /status)\n",
                                       request.path),
                           "text/plain");
    }
  });
  server_->set_logger([](const httplib::Request& request, const httplib::Response& response) {
    if (response.status >= 400 && request.path != "/livez" && request.path != "/readyz") {
      vlog.Dbg("{} {} -> {}", request.method, request.path, response.status);
    }
  });
}

}  // namespace hsw::sidecar
