// Fuzzes the successor's reading of the handover stream (TakeoverStream):
// the messages come from another hsw-datapath, possibly another release or
// a half-dead one, so any sequence of datagrams must be applied or refused
// with an error, never crash.
//
// The input is a sequence of datagrams, each a type byte, a 16-bit
// little-endian length and the body.  Sockets and Conn messages get a
// socket beside them (as from a real predecessor) so that the fuzzer can get
// past the snapshot into the switch-over; Port messages get none (their
// sockets would need real rings), so every Port must be refused.
#include <sys/socket.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "common/log.h"
#include "datapath/takeover_stream.h"

namespace {

using hsw::dpif::handover::MsgType;

hsw::UniqueFd AnySocket() {
  return hsw::UniqueFd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  hsw::log::SetLevel(hsw::log::Level::kErr);  // AdoptConnection logs each one at INFO
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hsw::dp::DatapathOptions options;
  options.cache.max_flows = 1024;  // a small table: one is made per input
  hsw::dp::TakeoverStream stream(options);
  size_t at = 0;
  bool refused = false;
  while (!refused && size - at >= 3) {
    hsw::dpif::handover::Datagram message;
    message.type = static_cast<MsgType>(data[at]);
    size_t length = data[at + 1] | size_t{data[at + 2]} << 8;
    at += 3;
    if (length > size - at) length = size - at;
    message.body.assign(data + at, data + at + length);
    at += length;
    if (message.type == MsgType::kSockets || message.type == MsgType::kConn) {
      message.fds.push_back(AnySocket());
    }
    refused = !stream.Apply(message);
  }
  if (stream.received().ports) {
    std::fprintf(stderr, "handover_stream_fuzz: took a port without its sockets\n");
    std::abort();
  }
  auto taken = stream.Finish();
  if (taken.has_value() != stream.received().sockets) {
    std::fprintf(stderr, "handover_stream_fuzz: Finish() %s with%s the datapath socket\n",
                 taken ? "succeeded" : "failed", stream.received().sockets ? "" : "out");
    std::abort();
  }
  return 0;
}
