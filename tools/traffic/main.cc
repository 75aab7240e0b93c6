// hsw-traffic: counts every UDP packet across a switch, for checking that
// restarts and upgrades lose nothing.  See traffic.h.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <fstream>

#include <CLI/CLI.hpp>

#include "common/fd.h"
#include "traffic.h"

namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

void InstallSignals() {
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  // No SA_RESTART: poll and clock_nanosleep return at once and see the flag.
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace hsw::traffic;
  CLI::App app{"hsw-traffic: send and receive numbered UDP packets; reports loss, duplicates, "
               "reordering and the longest gap.\n"
               "  hsw-traffic recv --listen 10.0.0.2:9000 --json\n"
               "  hsw-traffic send --dst 10.0.0.2:9000 --rate 10000 --duration 8"};
  app.require_subcommand(1);

  SendOptions send;
  bool send_json = false;
  CLI::App* send_cmd = app.add_subcommand("send", "send numbered UDP packets at a steady rate");
  send_cmd->add_option("--dst", send.dst, "destination IP:PORT")->required();
  send_cmd->add_option("--rate", send.rate_pps, "packets per second, over all flows")->required();
  send_cmd->add_option("--duration", send.duration_s, "seconds")->required();
  send_cmd->add_option("--size", send.size, "UDP payload bytes (at least 48)")
      ->capture_default_str();
  send_cmd->add_option("--flows", send.flows, "flows, one UDP source port each")
      ->capture_default_str();
  send_cmd->add_option("--src-port", send.src_port,
                       "first source port (flow i uses PORT+i); default: ephemeral");
  send_cmd->add_option("--src-port-step", send.src_port_step,
                       "distance between the flows' source ports")
      ->capture_default_str();
  send_cmd->add_option("--src", send.src, "source IP to bind");
  send_cmd->add_flag("--one-socket", send.one_socket,
                     "send every flow from one raw socket (IPv4, needs --src-port and "
                     "CAP_NET_RAW): full batches with thousands of flows");
  send_cmd->add_option("--run-id", send.run_id, "run id (default: random)");
  send_cmd->add_option("--batch", send.batch, "packets per sendmmsg")->capture_default_str();
  send_cmd->add_option("--end-repeats", send.end_repeats, "end markers sent per flow")
      ->capture_default_str();
  send_cmd->add_flag("--json", send_json, "print the summary as JSON");

  RecvOptions recv;
  bool recv_json = false;
  bool fail_on_loss = false;
  std::string series_file;
  double series_ms = 10;
  CLI::App* recv_cmd = app.add_subcommand("recv", "receive and account numbered UDP packets");
  recv_cmd->add_option("--listen", recv.listen, "IP:PORT to listen on (port 0: any)")->required();
  recv_cmd->add_option("--duration", recv.duration_s,
                       "give up after this many seconds (default: wait for the end marker)");
  recv_cmd->add_option("--count", recv.count, "stop after this many distinct packets");
  recv_cmd->add_option("--announce", recv.announce,
                       "print 'received N packets' on stderr once N have arrived");
  recv_cmd->add_option("--drain", recv.drain_ms, "ms to keep listening after the end marker")
      ->capture_default_str();
  recv_cmd->add_option("--series", series_file, "write packets per interval as CSV to FILE");
  recv_cmd->add_option("--series-interval", series_ms, "series interval in ms")
      ->capture_default_str();
  recv_cmd->add_flag("--json", recv_json, "print the summary as JSON");
  recv_cmd->add_flag("--fail-on-loss", fail_on_loss,
                     "exit 3 on any loss or duplicate, or when no end marker arrived");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;  // usage errors exit 2, as every hsw command does
  }
  InstallSignals();

  if (*send_cmd) {
    hsw::Result<SendReport> report = RunSender(send, g_stop);
    if (!report) {
      std::fprintf(stderr, "hsw-traffic send: %s\n", report.error().ToString().c_str());
      return 1;
    }
    std::printf("%s\n", (send_json ? FormatSendJson(*report) : FormatSendSummary(*report)).c_str());
    return 0;
  }

  if (!(series_ms > 0)) {
    std::fprintf(stderr, "hsw-traffic recv: --series-interval must be positive\n");
    return 2;
  }
  Accounting accounting(static_cast<int64_t>(series_ms * 1e6));
  hsw::Status status = RunReceiver(recv, accounting, g_stop, [](const Endpoint& bound) {
    // Scripts wait for this line instead of sleeping before they start a sender.
    std::fprintf(stderr, "hsw-traffic recv: listening on %s\n", bound.ToString().c_str());
    std::fflush(stderr);
  });
  if (!status) {
    std::fprintf(stderr, "hsw-traffic recv: %s\n", status.error().ToString().c_str());
    return 1;
  }
  Report report = accounting.MakeReport();
  std::printf("%s\n", (recv_json ? FormatJson(report) : FormatSummary(report)).c_str());
  std::fflush(stdout);
  if (!series_file.empty()) {
    if (auto written = hsw::WriteFileAtomic(series_file, FormatSeriesCsv(accounting)); !written) {
      std::fprintf(stderr, "hsw-traffic recv: %s\n", written.error().ToString().c_str());
      return 1;
    }
  }
  if (fail_on_loss && (report.lost || report.duplicated || !report.end_seen)) return 3;
  return 0;
}
