// hsw-sidecar: probes, metrics and supervision for one node's hsw
// (src/sidecar/).  Runs in the foreground (a container's main process, or a
// systemd service); stopping it never stops the daemons.
#include <signal.h>

#include <atomic>
#include <memory>
#include <cstdio>
#include <thread>

#include <CLI/CLI.hpp>

#include "common/daemon.h"
#include "common/log.h"
#include "common/version.h"
#include "sidecar/config_watch.h"
#include "sidecar/http_server.h"
#include "sidecar/log_follow.h"
#include "sidecar/supervisor.h"

namespace {

const hsw::log::Module vlog("sidecar");

// "ADDR:PORT" with a numeric port; ADDR may be empty (all addresses).
bool ParseListen(const std::string& text, std::string& host, int& port, std::string& why) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    why = "expected ADDR:PORT";
    return false;
  }
  host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::string digits = text.substr(colon + 1);
  if (digits.empty() || digits.size() > 5 ||
      digits.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(digits) < 1 || std::stoi(digits) > 65535) {
    why = "the port must be 1-65535";
    return false;
  }
  port = std::stoi(digits);
  if (host.empty()) host = "0.0.0.0";
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hsw-sidecar: /livez /readyz /metrics /status for hsw, and its supervisor"};
  hsw::daemon::Options daemon_options;
  hsw::daemon::AddOptions(app, daemon_options);
  std::string listen = "127.0.0.1:9476";
  app.add_option("--listen", listen, "serve HTTP on ADDR:PORT (default 127.0.0.1:9476)")
      ->type_name("ADDR:PORT");
  hsw::sidecar::SupervisorOptions supervision;
  bool no_supervise = false;
  app.add_flag("--no-supervise", no_supervise,
               "observe and report only: start nothing, restart nothing");
  app.add_flag("--take-over", supervision.take_over,
               "daemons of another pid namespace running on the run directory (the pod this "
               "one replaces) are taken over without loss, as hsw-ctl take-over does; not "
               "ready until that is done");
  app.add_option("--systemd", supervision.systemd_units,
                 "the daemons are these systemd services (repeatable: hsw-datapath.service, "
                 "hsw-vswitchd.service): enable and start them through systemd's D-Bus API and "
                 "report their state; systemd restarts them")
      ->type_name("UNIT")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--db", supervision.database,
                 "start hsw-vswitchd on this Open_vSwitch database (as hsw-ctl start --db)")
      ->type_name("unix:PATH|tcp:IP:PORT");
  app.add_option("--bindir", supervision.bindir,
                 "where hsw-datapath and hsw-vswitchd are (default: beside hsw-sidecar, "
                 "HSW_BINDIR, PATH)");
  double deadline_s = 2;
  app.add_option("--probe-deadline", deadline_s,
                 "seconds each daemon has to answer a probe or scrape (default 2)")
      ->check(CLI::Range(0.05, 60.0));
  std::vector<std::string> follow;
  app.add_option("--follow-log", follow,
                 "print this log file's lines on stdout, across rotation (repeatable)")
      ->type_name("FILE");
  bool follow_daemons = false;
  app.add_flag("--follow-daemon-logs", follow_daemons,
               "the daemons log to <logdir>/hsw-datapath.log and hsw-vswitchd.log (those the "
               "sidecar starts get --log-file) and the sidecar prints their lines on stdout");
  std::string config_dir;
  app.add_option("--config-dir", config_dir,
                 "apply this directory of key-value files (a mounted ConfigMap) to hsw-vswitchd "
                 "whenever it changes (docs/sidecar.md lists the keys)")
      ->type_name("DIR");
  bool version = false;
  app.add_flag("-V,--version", version, "print the version and exit");
  CLI11_PARSE(app, argc, argv);
  if (version) {
    std::printf("hsw-sidecar %s\n", hsw::kVersion);
    return 0;
  }
  if (!config_dir.empty() && !supervision.database.empty()) {
    std::fprintf(stderr,
                 "hsw-sidecar: --config-dir with --db is not supported yet: configure the "
                 "database with ovs-vsctl\n");
    return 2;
  }
  // In a rolling update the old and the new pod's sidecars (both
  // --take-over) share the node's run directory: no instance lock between
  // them; their probe port is shared too (SO_REUSEPORT) and both answer
  // alike (supervisor.h, TakeOverMarker).
  if (supervision.take_over) daemon_options.successor = true;
  for (const std::string& unit : supervision.systemd_units) {
    if (hsw::sidecar::DaemonOfUnit(unit).empty()) {
      std::fprintf(stderr,
                   "hsw-sidecar: --systemd %s: which daemon does it run? Name the units "
                   "hsw-datapath.service and hsw-vswitchd.service (or hsw-datapath@NAME.service)\n",
                   unit.c_str());
      return 2;
    }
  }
  if (!supervision.systemd_units.empty() && supervision.take_over) {
    std::fprintf(stderr, "hsw-sidecar: --systemd and --take-over exclude each other: systemd "
                         "services are not a pod's to take over\n");
    return 2;
  }
  hsw::sidecar::HttpOptions http;
  if (std::string why; !ParseListen(listen, http.host, http.port, why)) {
    std::fprintf(stderr, "hsw-sidecar: --listen %s: %s\n", listen.c_str(), why.c_str());
    return 2;
  }
  auto dirs = hsw::daemon::ResolveDirs(daemon_options);
  if (!dirs) {
    std::fprintf(stderr, "hsw-sidecar: %s\n", dirs.error().ToString().c_str());
    return 1;
  }
  // Signals go to sigwait() below, never to a handler on another thread.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (auto started = hsw::daemon::Start(daemon_options, *dirs, "hsw-sidecar"); !started) {
    std::fprintf(stderr, "hsw-sidecar: %s\n", started.error().ToString().c_str());
    return 1;
  }
  http.paths.rundir = dirs->rundir;
  http.deadline = std::chrono::milliseconds(static_cast<int64_t>(deadline_s * 1000));
  supervision.rundir = dirs->rundir;
  supervision.statedir = dirs->statedir;
  supervision.logdir = dirs->logdir;
  supervision.supervise = !no_supervise;
  if (follow_daemons) {
    for (const char* daemon : {"hsw-datapath", "hsw-vswitchd"}) {
      follow.push_back(dirs->logdir + "/" + daemon + ".log");
    }
    // Their lines then come from the files only, not also from the
    // stdout they would inherit from the sidecar.
    for (auto* args : {&supervision.datapath_args, &supervision.vswitchd_args}) {
      *args = {"--logdir", dirs->logdir, "--log-file", "--no-console-log"};
    }
  }
  hsw::sidecar::Supervisor supervisor(supervision);
  std::unique_ptr<hsw::sidecar::ConfigWatcher> config;
  if (!config_dir.empty()) {
    config = std::make_unique<hsw::sidecar::ConfigWatcher>(config_dir,
                                                           http.paths.vswitchd_control());
  }
  auto server = hsw::sidecar::HttpServer::Bind(http, &supervisor, config.get());
  if (!server) {
    vlog.Err("{}", server.error().ToString());
    hsw::daemon::NotifyFailed(server.error().ToString());
    hsw::daemon::Cleanup();
    return 1;
  }
  supervisor.Start();
  if (config) config->Start();
  std::thread serving([&] { (*server)->Serve(); });
  std::atomic<bool> stopping{false};
  std::thread following;
  if (!follow.empty()) {
    following = std::thread([&] {
      hsw::sidecar::LogFollower follower(follow, dirs->statedir + "/hsw-sidecar.logpos.json",
                                         [](const std::string& line) {
                                           std::fwrite(line.data(), 1, line.size(), stdout);
                                           std::fputc('\n', stdout);
                                         });
      while (!stopping) {
        if (follower.Poll()) std::fflush(stdout);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (follower.Poll()) std::fflush(stdout);
    });
  }
  hsw::daemon::NotifyReady();
  vlog.Info("hsw-sidecar {} ready (rundir {}, {})", hsw::kVersion, dirs->rundir,
            no_supervise                        ? "observing only"
            : !supervision.systemd_units.empty() ? "the daemons are systemd services"
                                                 : "supervising hsw-datapath and hsw-vswitchd");
  int signo = 0;
  sigwait(&stop, &signo);
  vlog.Info("{}: exiting; the daemons keep running", signo == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Stop();
  serving.join();
  stopping = true;
  if (following.joinable()) following.join();
  supervisor.Stop();
  if (config) config->Stop();
  hsw::daemon::RecordExit(0, signo == SIGTERM ? "SIGTERM" : "SIGINT");
  hsw::daemon::Cleanup();
  return 0;
}
