// hsw-datapath: the fast path.  Forwards packets between Linux interfaces by
// the megaflows its owner (hsw-vswitchd) installs, queues the misses as
// upcalls, and serves the datapath protocol on <rundir>/datapath.sock.  It
// outlives hsw-vswitchd: with no owner connected it keeps forwarding.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>

#include "common/daemon.h"
#include "common/fd.h"
#include "common/log.h"
#include "common/version.h"
#include "datapath/datapath.h"
#include "datapath/dp_server.h"
#include "datapath/handover.h"
#include "dpif/dpif_client.h"
#include "dpif/handover_wire.h"

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
  bool takeover = false;
  app.add_flag("--takeover", takeover,
               "take over from the hsw-datapath running under --rundir: its ports, flows with "
               "their statistics, queued upcalls and client connections, without losing a "
               "packet; it exits once this one forwards");
  hsw::dp::HandoverVersions handover_versions;
  uint32_t claimed_handover_version = 0;
  // Tests build an "incompatible" datapath with this rather than a second binary.
  app.add_option("--claim-handover-version", claimed_handover_version,
                 "(testing) speak only this handover stream version")
      ->group("");
  app.add_flag("--test-fail-execute", options.fail_execute_for_testing,
               "(testing) fail every Execute request")
      ->group("");
  bool exit_after_snapshot = false;
  app.add_flag("--test-exit-after-snapshot", exit_after_snapshot,
               "(testing) with --takeover, die once the snapshot has arrived")
      ->group("");
  bool die_after_accepting = false;
  app.add_flag("--test-die-after-accepting", die_after_accepting,
               "(testing) kill this datapath (SIGKILL) the moment it accepts a successor, before "
               "it hands anything over")
      ->group("");
  std::string stop_at;
  app.add_option("--test-stop-at", stop_at,
                 "(testing) with --takeover, stop (SIGSTOP) after the snapshot or after the ring "
                 "heads arrived, for a test to kill a process there")
      ->check(CLI::IsMember({"snapshot", "switchover"}))
      ->group("");
  bool version = false, version_json = false;
  app.add_flag("-V,--version", version, "print the version and exit");
  app.add_flag("--json", version_json,
               "with --version: also the protocol versions accepted, as JSON (for hsw-ctl "
               "upgrade-check)");
  CLI11_PARSE(app, argc, argv);
  if (claimed_handover_version) {
    handover_versions = {claimed_handover_version, claimed_handover_version};
  }
  if (version) {
    hsw::BinaryVersion info;
    info.program = "hsw-datapath";
    info.accepts["dpif"] = {hsw::dpif::kProtocolVersionMin, hsw::dpif::kProtocolVersionMax};
    info.accepts["handover"] = {handover_versions.min, handover_versions.max};
    info.flow_key_size = sizeof(hsw::FlowKey);
    std::printf("%s\n", version_json ? hsw::FormatVersionJson(info).c_str()
                                     : (std::string("hsw-datapath ") + hsw::kVersion).c_str());
    return 0;
  }

  daemon_options.successor = takeover;
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

  std::string socket_path = hsw::dpif::DatapathSocketPath(dirs->rundir);
  auto fail = [&](const std::string& why) {
    vlog.Err("{}", why);
    hsw::daemon::NotifyFailed(why);
    if (!takeover) hsw::daemon::Cleanup();
    return 1;
  };
  std::unique_ptr<hsw::dp::Datapath> datapath;
  std::unique_ptr<hsw::dp::DpServer> server;
  std::optional<hsw::dp::Takeover> taken;
  if (takeover) {
    hsw::dp::TakeoverOptions takeover_options;
    takeover_options.rundir = dirs->rundir;
    takeover_options.datapath = options;
    takeover_options.versions = handover_versions;
    takeover_options.exit_after_snapshot_for_testing = exit_after_snapshot;
    takeover_options.stop_at_for_testing = stop_at;
    auto took = hsw::dp::TakeOver(takeover_options);
    if (!took && took.error().code == ESRCH) {
      // Its ports, flows, misses and connections died with it.  Forwarding
      // comes back as from a crash: hsw-vswitchd reconnects, adds the ports
      // again, and each flow is set up again by its next packet.
      vlog.Err("takeover failed: {}; starting afresh instead, as after a crash: ports come back "
               "when hsw-vswitchd reconnects, flows with their next packets",
               took.error().ToString());
      if (auto locked = hsw::daemon::TakeInstanceLockAsOrphan(*dirs, "hsw-datapath"); !locked) {
        return fail("cannot start afresh: " + locked.error().ToString());
      }
    } else if (!took) {
      return fail("takeover failed: " + took.error().ToString());
    } else {
      taken = std::move(*took);
    }
  }
  if (taken) {
    datapath = std::move(taken->datapath);
    server = std::move(taken->server);
    if (taken->predecessor_died) {
      vlog.Err("hsw-datapath {} (pid {}) died during the handover: this datapath goes on with "
               "what it had received: {} ports, {} flows, {} queued upcalls, {} connections. "
               "Lost with it: {}",
               taken->predecessor_version, taken->predecessor_pid, datapath->n_ports(),
               taken->n_flows, taken->n_upcalls, taken->n_connections, taken->lost);
    } else {
      vlog.Info("took over from hsw-datapath {} (pid {}): {} ports, {} flows, {} queued upcalls, "
                "{} connections",
                taken->predecessor_version, taken->predecessor_pid, datapath->n_ports(),
                taken->n_flows, taken->n_upcalls, taken->n_connections);
    }
    if (taken->instance_lock) {
      std::string lock = hsw::daemon::LockPath(dirs->rundir, "hsw-datapath");
      if (auto adopted = hsw::daemon::AdoptInstanceLock(std::move(taken->instance_lock), lock);
          !adopted) {
        vlog.Err("{}", adopted.error().ToString());
      }
    }
  } else {
    auto listener = hsw::ListenUnix(socket_path);
    if (!listener) {
      return fail("cannot listen on " + socket_path + ": " + listener.error().ToString());
    }
    datapath = std::make_unique<hsw::dp::Datapath>(options);
    server = std::make_unique<hsw::dp::DpServer>(*datapath, std::move(*listener));
  }
  // Where the next successor will come for all this.
  std::string handover_path = hsw::dpif::handover::SocketPath(dirs->rundir);
  auto handover_listener = hsw::ListenUnixOfType(handover_path, SOCK_SEQPACKET, takeover);
  if (!handover_listener) {
    return fail("cannot listen on " + handover_path + ": " +
                handover_listener.error().ToString());
  }
  hsw::dp::HandoverServer handover(*datapath, *server, std::move(*handover_listener),
                                   handover_versions);
  handover.set_die_after_accepting_for_testing(die_after_accepting);
  vlog.Info("hsw-datapath {} listening on {} (instance {:016x}; miss queue: {} packets, {} bytes, "
            "{} ms; handover version {}..{})",
            hsw::kVersion, socket_path, server->instance_id(), options.miss_queue.max_packets,
            options.miss_queue.max_bytes, options.miss_queue.max_age_ms, handover_versions.min,
            handover_versions.max);
  hsw::daemon::NotifyReady();
  // The predecessor lets go of the pidfile as it exits, while this process
  // must already forward: wait for it on the side.
  std::thread pidfile_taker;
  if (takeover) {
    pidfile_taker = std::thread([&daemon_options, &dirs] {
      if (auto taken = hsw::daemon::TakePidfileAfterPredecessor(daemon_options, *dirs,
                                                                "hsw-datapath");
          !taken) {
        vlog.Warn("{}", taken.error().ToString());
      }
    });
  }

  datapath->Run(server.get(), &handover, &poll_mask, [&stop_signals, &handover] {
    if (handover.handed_over()) return true;
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

  if (pidfile_taker.joinable()) pidfile_taker.join();
  if (handover.handed_over()) {
    // The sockets, the lock and the pidfile are the successor's now.
    hsw::daemon::LeavePidfileToSuccessor();
    hsw::daemon::RecordExit(0, "handed over to its successor");
    hsw::daemon::Cleanup();
    return 0;
  }
  vlog.Info("signal {} received: exiting ({} flows and {} queued upcalls discarded)",
            static_cast<int>(g_stop_signal), datapath->flows().n_flows(),
            datapath->miss_queue().n_packets());
  unlink(socket_path.c_str());
  unlink(handover_path.c_str());
  hsw::daemon::RecordExit(0, fmt::format("signal {}", static_cast<int>(g_stop_signal)));
  hsw::daemon::Cleanup();
  return 0;
}
