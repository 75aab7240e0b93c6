// hsw-traffic's sender with --one-socket: thousands of 5-tuples from one raw
// socket.  The benchmarks' multi-flow figures rest on each packet carrying its
// flow's source port and each flow's sequence numbers staying exact.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>

#include "common/fd.h"
#include "traffic.h"
#include "wire.h"

namespace hsw::traffic {
namespace {

// A UDP socket on a free loopback port, to see what the sender put on the wire.
struct LoopbackSink {
  UniqueFd fd;
  uint16_t port = 0;
};

LoopbackSink OpenSink() {
  LoopbackSink sink;
  sink.fd = UniqueFd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(sink.fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  getsockname(sink.fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  sink.port = ntohs(addr.sin_port);
  int rcvbuf = 4 << 20;
  setsockopt(sink.fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
  return sink;
}

TEST(OneSocketSenderTest, EachFlowHasItsOwnSourcePortAndExactSequence) {
  LoopbackSink sink = OpenSink();
  SendOptions o;
  o.dst = "127.0.0.1:" + std::to_string(sink.port);
  o.rate_pps = 1000;
  o.duration_s = 0.1;  // 100 packets
  o.flows = 7;         // not a divisor: flows differ by one packet
  o.src_port = 30000;
  o.src_port_step = 2;  // the bench's flow-setup scenario: odd ports only
  o.one_socket = true;
  o.end_repeats = 1;
  o.end_interval_ms = 0;
  std::atomic<bool> stop{false};
  Result<SendReport> report = RunSender(o, stop);
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_EQ(report->sent, 100u);
  ASSERT_EQ(report->per_flow.size(), 7u);
  EXPECT_EQ(report->per_flow[0], 15u);  // 100 = 7 * 14 + 2: flows 0 and 1 get 15
  EXPECT_EQ(report->per_flow[1], 15u);
  EXPECT_EQ(report->per_flow[2], 14u);
  EXPECT_GT(report->start_unix_ns, 0);

  std::map<uint32_t, std::set<uint64_t>> seqs;
  std::map<uint32_t, uint64_t> end_counts;
  for (int got = 0; got < 107;) {  // 100 data packets and 7 end markers
    pollfd p{sink.fd.get(), POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 5000), 1) << "only " << got << " packets arrived";
    uint8_t buf[2048];
    sockaddr_in from{};
    socklen_t from_len = sizeof from;
    ssize_t n = recvfrom(sink.fd.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from),
                         &from_len);
    ASSERT_GT(n, 0);
    std::optional<Header> h = DecodeHeader(buf, static_cast<size_t>(n));
    ASSERT_TRUE(h) << "packet " << got << " is not hsw-traffic's";
    EXPECT_EQ(h->n_flows, 7u);
    EXPECT_EQ(ntohs(from.sin_port), 30000 + 2 * h->flow) << "flow " << h->flow;
    if (h->is_end()) {
      end_counts[h->flow] = h->seq;
    } else {
      EXPECT_TRUE(seqs[h->flow].insert(h->seq).second) << "duplicate seq " << h->seq;
    }
    ++got;
  }
  for (uint32_t f = 0; f < 7; ++f) {
    EXPECT_EQ(seqs[f].size(), report->per_flow[f]) << "flow " << f;
    EXPECT_EQ(*seqs[f].rbegin(), report->per_flow[f] - 1) << "flow " << f;
    EXPECT_EQ(end_counts[f], report->per_flow[f]) << "flow " << f;
  }
}

TEST(OneSocketSenderTest, RefusesWhatItCannotDo) {
  std::atomic<bool> stop{false};
  SendOptions o;
  o.dst = "127.0.0.1:9";
  o.one_socket = true;
  Result<SendReport> no_port = RunSender(o, stop);
  ASSERT_FALSE(no_port);
  EXPECT_NE(no_port.error().message.find("--src-port"), std::string::npos) << no_port.error().message;
  o.src_port = 65000;
  o.flows = 300;
  o.src_port_step = 2;
  Result<SendReport> too_far = RunSender(o, stop);
  ASSERT_FALSE(too_far);
  EXPECT_NE(too_far.error().message.find("runs past port 65535"), std::string::npos);
  o.flows = 1;
  o.dst = "[::1]:9";
  o.src_port = 3000;
  Result<SendReport> v6 = RunSender(o, stop);
  ASSERT_FALSE(v6);
  EXPECT_NE(v6.error().message.find("IPv4"), std::string::npos) << v6.error().message;
}

}  // namespace
}  // namespace hsw::traffic
