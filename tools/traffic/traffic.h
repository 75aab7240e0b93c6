// hsw-traffic: a UDP sender and receiver that count every packet, for checking
// that a switch restart or upgrade loses nothing.
//
//   hsw-traffic recv --listen 10.0.0.2:9000 --json
//   hsw-traffic send --dst 10.0.0.2:9000 --rate 10000 --duration 8 --flows 4
//
// The sender paces packets at a steady rate (absolute clock_nanosleep ticks,
// sendmmsg per tick), numbers them per flow (one UDP source port per flow),
// and ends with end markers that carry how many packets each flow got, so the
// receiver's loss figure is exact.  The receiver is accounting.h plus a
// recvmmsg loop using kernel receive timestamps.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "accounting.h"
#include "common/result.h"

namespace hsw::traffic {

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string ToString() const;
};

// "10.0.0.2:9000", "[fd00::2]:9000"; the port may be 0 where binding.
Result<Endpoint> ParseEndpoint(const std::string& text);

struct SendOptions {
  std::string dst;
  std::string src;            // bind address, "" = any
  double rate_pps = 1000;
  double duration_s = 1;
  size_t size = 64;           // UDP payload bytes, at least kHeaderSize
  uint32_t flows = 1;
  uint16_t src_port = 0;      // first source port (flow i uses src_port + i * step); 0 = ephemeral
  uint16_t src_port_step = 1;
  uint64_t run_id = 0;        // 0 = random
  unsigned batch = 64;        // packets per sendmmsg
  // Every flow from one raw socket, the UDP header written by the sender with
  // the flow's source port, packets of all flows interleaved in each batch.
  // A socket per flow sends one packet per system call once there are more
  // flows than packets per tick, which made thousands of 5-tuples a test of
  // the sender.  IPv4 only (its UDP checksum may be left zero); needs
  // CAP_NET_RAW and --src-port.
  bool one_socket = false;
  unsigned end_repeats = 5;   // end markers per flow (UDP: any copy may be lost)
  double end_interval_ms = 20;
};

struct SendReport {
  uint64_t run_id = 0;
  uint64_t sent = 0;
  std::vector<uint64_t> per_flow;
  uint64_t send_errors = 0;   // sendmmsg calls that failed (the packets were retried)
  std::string last_error;
  double elapsed_s = 0;
  int64_t start_unix_ns = 0;  // CLOCK_REALTIME when the first packet was due
  double rate_pps = 0;        // achieved
};

// Runs until the duration has passed (or `stop` becomes true), then sends the
// end markers.  Fails only when a socket cannot be set up.
Result<SendReport> RunSender(const SendOptions& options, const std::atomic<bool>& stop);
std::string FormatSendSummary(const SendReport& report);
std::string FormatSendJson(const SendReport& report);

struct RecvOptions {
  std::string listen;
  double duration_s = 0;      // 0 = until the end markers (or a signal)
  uint64_t count = 0;         // 0 = no limit; else stop after this many distinct packets
  double drain_ms = 200;      // keep listening this long after the last end marker
  // When this many distinct packets have arrived, print "received N packets"
  // on stderr (once), so that a script can wait for traffic to be flowing
  // without sleeping.  0 = never.
  uint64_t announce = 0;
  int rcvbuf_bytes = 32 << 20;
};

// Binds, calls on_listening(bound endpoint), receives into `accounting` until
// an exit condition holds.
Status RunReceiver(const RecvOptions& options, Accounting& accounting,
                   const std::atomic<bool>& stop,
                   const std::function<void(const Endpoint&)>& on_listening);

}  // namespace hsw::traffic
