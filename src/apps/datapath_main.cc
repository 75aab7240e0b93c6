// hsw-datapath: the fast path.  Forwards packets between Linux interfaces by
// the megaflows its owner (hsw-vswitchd) installs, queues the misses as
// upcalls, and serves the datapath protocol on <rundir>/datapath.sock.  It
// outlives hsw-vswitchd: with no owner connected it keeps forwarding.
#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

#include <CLI/CLI.hpp>

#include "common/daemon.h"
#include "common/fd.h"
#include "common/log.h"
#include "common/version.h"
#include "datapath/datapath.h"
#include "datapath/dp_server.h"

namespace {

const hsw::log::Module vlog("datapath_main");

volatile sig_atomic_t g_stop_signal = 0;
volatile sig_atomic_t g_reopen_log = 0;

void OnSignal(int sig) {
  if (sig == SIGHUP) {
    g_reopen_log = 1;
  } else {
    g_stop_signal = sig;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hsw-datapath: the hsw fast path (AF_PACKET ports, megaflow cache, miss queue)"};
  hsw::daemon::Options daemon_options;
  hsw::daemon::AddOptions(app, daemon_options);
  hsw::dp::DatapathOptions options;
  app.add_option("--miss-queue-packets", options.miss_queue.max_packets,
                 "upcalls held at most while they wait for the owner")
      ->default_val(8192);
  app.add_option("--miss-queue-bytes", options.miss_queue.max_bytes,
                 "packet bytes held at most in the miss queue")
      ->default_val(64u << 20);
  app.add_option("--miss-queue-max-age-ms", options.miss_queue.max_age_ms,
                 "an upcall older than this is dropped")
      ->default_val(30000);
  app.add_option("--max-flows", options.cache.max_flows, "megaflows held at most")
      ->default_val(200000);
  app.add_option("--rx-ring-frames", options.af_packet.frames,
                 "frames in each port's receive ring")
      ->default_val(4096);
  app.set_version_flag("--version", std::string("hsw-datapath ") + hsw::kVersion);
  CLI11_PARSE(app, argc, argv);

  auto dirs = hsw::daemon::ResolveDirs(daemon_options);
  if (!dirs) {
    std::fprintf(stderr, "hsw-datapath: %s\n", dirs.error().ToString().c_str());
    return 1;
  }
  if (auto started = hsw::daemon::Start(daemon_options, *dirs, "hsw-datapath"); !started) {
    std::fprintf(stderr, "hsw-datapath: %s\n", started.error().ToString().c_str());
    return 1;
  }

  // Signals are blocked except while the loop waits in ppoll(), so a stop
  // request is seen at once and never lost between a check and the wait.
  sigset_t stop_signals, poll_mask;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  sigprocmask(SIG_BLOCK, &stop_signals, &poll_mask);
  sigdelset(&poll_mask, SIGTERM);
  sigdelset(&poll_mask, SIGINT);
  sigdelset(&poll_mask, SIGHUP);
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::string socket_path = dirs->rundir + "/datapath.sock";
  auto listener = hsw::ListenUnix(socket_path);
  if (!listener) {
    std::string why = "cannot listen on " + socket_path + ": " + listener.error().ToString();
    vlog.Err("{}", why);
    hsw::daemon::NotifyFailed(why);
    hsw::daemon::Cleanup();
    return 1;
  }
  hsw::dp::Datapath datapath(options);
  hsw::dp::DpServer server(datapath, std::move(*listener));
  vlog.Info("hsw-datapath {} listening on {} (instance {:016x}; miss queue: {} packets, {} bytes, "
            "{} ms)",
            hsw::kVersion, socket_path, server.instance_id(), options.miss_queue.max_packets,
            options.miss_queue.max_bytes, options.miss_queue.max_age_ms);
  hsw::daemon::NotifyReady();

  datapath.Run(&server, &poll_mask, [&stop_signals] {
    // ppoll() returns without delivering a pending signal when descriptors
    // are ready, which under steady traffic is always: collect such signals
    // here.  (Unblocking them in ppoll() still wakes an idle loop at once.)
    timespec zero{0, 0};
    int sig = sigtimedwait(&stop_signals, nullptr, &zero);
    if (sig > 0) OnSignal(sig);
    if (g_reopen_log) {
      g_reopen_log = 0;
      if (auto reopened = hsw::log::ReopenFile(); !reopened) {
        vlog.Err("reopening the log file: {}", reopened.error().ToString());
      }
    }
    return g_stop_signal != 0;
  });

  vlog.Info("signal {} received: exiting ({} flows and {} queued upcalls discarded)",
            static_cast<int>(g_stop_signal), datapath.flows().n_flows(),
            datapath.miss_queue().n_packets());
  unlink(socket_path.c_str());
  hsw::daemon::Cleanup();
  return 0;
}
