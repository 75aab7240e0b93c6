#include "traffic.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/filter.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/fd.h"

namespace hsw::traffic {
namespace {

int64_t NowNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

timespec ToTimespec(int64_t ns) {
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

void SleepUntil(int64_t monotonic_ns) {
  timespec ts = ToTimespec(monotonic_ns);
  // EINTR comes from a signal the caller handles through its stop flag.
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
}

uint64_t RandomRunId() {
  std::random_device rd;
  uint64_t id = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  return id ? id : 1;
}

Result<UniqueFd> OpenSendSocket(int family, const Endpoint* bind_to) {
  UniqueFd fd(socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoErr("socket");
  // A deep send buffer absorbs scheduling hiccups of the sender itself, so
  // that what the receiver measures is the switch, not the tool.
  int sndbuf = 4 << 20;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0) {
    setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  }
  if (bind_to) {
    int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&bind_to->addr), bind_to->len) < 0) {
      return ErrnoErr("bind {}", bind_to->ToString());
    }
  }
  return fd;
}

// A raw IPPROTO_UDP socket: the kernel writes the IPv4 header, the sender the
// UDP header.  Raw sockets also get a copy of every UDP packet the host
// receives; a filter that accepts nothing keeps those from piling up.
Result<UniqueFd> OpenRawUdpSocket(const Endpoint* bind_to) {
  UniqueFd fd(socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_UDP));
  if (!fd) return ErrnoErr("raw UDP socket (--one-socket needs CAP_NET_RAW)");
  sock_filter drop_all{BPF_RET | BPF_K, 0, 0, 0};
  sock_fprog program{1, &drop_all};
  if (setsockopt(fd.get(), SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) < 0) {
    return ErrnoErr("SO_ATTACH_FILTER on the raw socket");
  }
  int sndbuf = 4 << 20;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0) {
    setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  }
  if (bind_to) {
    sockaddr_in addr = *reinterpret_cast<const sockaddr_in*>(&bind_to->addr);
    addr.sin_port = 0;  // a raw socket binds an address only
    if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) {
      return ErrnoErr("bind {}", bind_to->ToString());
    }
  }
  return fd;
}

constexpr size_t kUdpHeaderSize = 8;

// The UDP header of a packet sent on the raw socket.  Checksum zero: "none",
// which IPv4 allows.
void WriteUdpHeader(uint8_t* buf, uint16_t src_port, uint16_t dst_port, size_t payload) {
  uint16_t words[4] = {htons(src_port), htons(dst_port),
                       htons(static_cast<uint16_t>(kUdpHeaderSize + payload)), 0};
  std::memcpy(buf, words, sizeof words);
}

uint16_t PortOf(const Endpoint& ep) {
  return ep.addr.ss_family == AF_INET
             ? ntohs(reinterpret_cast<const sockaddr_in*>(&ep.addr)->sin_port)
             : ntohs(reinterpret_cast<const sockaddr_in6*>(&ep.addr)->sin6_port);
}

void SetPort(Endpoint& ep, uint16_t port) {
  if (ep.addr.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&ep.addr)->sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6*>(&ep.addr)->sin6_port = htons(port);
  }
}

// One flow: its socket, its sequence counter and reusable message buffers.
struct SendFlow {
  UniqueFd fd;
  uint64_t sent = 0;
};

}  // namespace

std::string Endpoint::ToString() const {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (addr.ss_family == AF_INET) {
    auto* sin = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
    port = ntohs(sin->sin_port);
    return fmt::format("{}:{}", host, port);
  }
  auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&addr);
  inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
  port = ntohs(sin6->sin6_port);
  return fmt::format("[{}]:{}", host, port);
}

Result<Endpoint> ParseEndpoint(const std::string& text) {
  std::string host, port_text;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Err("'{}': expected [IPV6]:PORT", text);
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) return Err("'{}': expected IP:PORT", text);
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  char* end = nullptr;
  errno = 0;
  unsigned long port = std::strtoul(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end || errno || port > 65535) {
    return Err("'{}': bad port '{}'", text, port_text);
  }
  Endpoint ep;
  auto* sin = reinterpret_cast<sockaddr_in*>(&ep.addr);
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ep.addr);
  if (inet_pton(AF_INET, host.c_str(), &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    ep.len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    ep.len = sizeof(sockaddr_in6);
  } else {
    return Err("'{}': '{}' is not an IPv4 or IPv6 address", text, host);
  }
  return ep;
}

Result<SendReport> RunSender(const SendOptions& o, const std::atomic<bool>& stop) {
  if (!(o.rate_pps > 0)) return Err("--rate must be positive");
  if (!(o.duration_s >= 0)) return Err("--duration must not be negative");
  if (o.flows == 0) return Err("--flows must be at least 1");
  if (o.src_port_step == 0) return Err("--src-port-step must be at least 1");
  if (o.src_port &&
      uint64_t{o.src_port} + uint64_t{o.flows - 1} * o.src_port_step > 65535) {
    return Err("--src-port {} + {} flows (step {}) runs past port 65535", o.src_port, o.flows,
               o.src_port_step);
  }
  HSW_ASSIGN_OR_RETURN(Endpoint dst, ParseEndpoint(o.dst));
  std::optional<Endpoint> src;
  if (!o.src.empty() || o.src_port) {
    if (!o.src.empty()) {
      HSW_ASSIGN_OR_RETURN(src, ParseEndpoint(o.src.find(':') == std::string::npos ||
                                                      o.src[0] == '['
                                                  ? o.src + ":0"
                                                  : o.src));
    } else {
      src = Endpoint{};
      src->addr.ss_family = dst.addr.ss_family;
      src->len = dst.len;  // the any-address of dst's family
    }
    if (src->addr.ss_family != dst.addr.ss_family) return Err("--src and --dst differ in family");
  }

  if (o.one_socket) {
    if (dst.addr.ss_family != AF_INET) return Err("--one-socket is IPv4 only");
    if (!o.src_port) return Err("--one-socket needs --src-port");
  }
  // One socket per flow, or a single raw socket whose packets carry each
  // flow's source port in the UDP header written here.
  std::vector<SendFlow> flows(o.flows);
  UniqueFd raw_fd;
  if (o.one_socket) {
    HSW_ASSIGN_OR_RETURN(raw_fd, OpenRawUdpSocket(src && !o.src.empty() ? &*src : nullptr));
  } else {
    for (uint32_t i = 0; i < o.flows; ++i) {
      std::optional<Endpoint> bind_to = src;
      if (bind_to && o.src_port) {
      SetPort(*bind_to, static_cast<uint16_t>(o.src_port + i * o.src_port_step));
    }
      HSW_ASSIGN_OR_RETURN(flows[i].fd,
                           OpenSendSocket(dst.addr.ss_family, bind_to ? &*bind_to : nullptr));
    }
  }
  const uint16_t dst_port = PortOf(dst);
  Endpoint raw_dst = dst;
  SetPort(raw_dst, 0);
  const size_t udp_header = o.one_socket ? kUdpHeaderSize : 0;

  SendReport report;
  report.run_id = o.run_id ? o.run_id : RandomRunId();
  const size_t size = std::max(o.size, kHeaderSize);
  const size_t frame = udp_header + size;
  const unsigned batch = std::max(1u, o.batch);
  std::vector<uint8_t> buffers(static_cast<size_t>(batch) * frame, 0);
  std::vector<iovec> iovs(batch);
  std::vector<mmsghdr> msgs(batch);
  for (unsigned i = 0; i < batch; ++i) {
    iovs[i] = {buffers.data() + static_cast<size_t>(i) * frame, frame};
    msgs[i].msg_hdr = {};
    msgs[i].msg_hdr.msg_name = o.one_socket ? &raw_dst.addr : &dst.addr;
    msgs[i].msg_hdr.msg_namelen = dst.len;
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  // Writes packet `i` of the batch: its UDP header on the raw socket, then
  // hsw-traffic's own header.
  auto encode = [&](unsigned i, const Header& h) {
    auto* buf = static_cast<uint8_t*>(iovs[i].iov_base);
    if (o.one_socket) {
      WriteUdpHeader(buf, static_cast<uint16_t>(o.src_port + h.flow * o.src_port_step), dst_port,
                     size);
    }
    EncodeHeader(h, buf + udp_header);
  };

  const uint64_t total = static_cast<uint64_t>(std::llround(o.rate_pps * o.duration_s));
  // One tick per millisecond at rates of 1000 pps and up (10 packets a tick at
  // 10k pps: steady enough that a 1 ms gap at the receiver means something),
  // one packet per tick below.
  const int64_t tick_ns =
      o.rate_pps >= 1000 ? 1'000'000 : static_cast<int64_t>(1e9 / o.rate_pps);
  const int64_t start = NowNs(CLOCK_MONOTONIC);
  report.start_unix_ns = NowNs(CLOCK_REALTIME);
  // A sender that cannot get its packets out (a full send buffer, a route that
  // is gone) gives up one second after the planned end instead of hanging.
  const int64_t give_up = start + static_cast<int64_t>(o.duration_s * 1e9) + 1'000'000'000;
  int64_t next_tick = start;

  // Packets go to the flows in turn, so after `owed` packets flow f has had
  // this many.
  auto flow_target = [&](uint64_t owed, uint32_t f) {
    return owed / o.flows + (f < owed % o.flows ? 1 : 0);
  };
  uint64_t sent_total = 0;

  // Sends packets [sent_total, owed) one per flow in turn, on the one raw
  // socket.  Returns false when the socket is full (try again next tick).
  auto send_interleaved = [&](uint64_t owed) {
    while (sent_total < owed) {
      unsigned n = static_cast<unsigned>(std::min<uint64_t>(batch, owed - sent_total));
      int64_t send_ns = NowNs(CLOCK_REALTIME);
      for (unsigned i = 0; i < n; ++i) {
        Header h;
        h.run_id = report.run_id;
        h.flow = static_cast<uint32_t>((sent_total + i) % o.flows);
        h.n_flows = o.flows;
        h.seq = (sent_total + i) / o.flows;
        h.send_ns = static_cast<uint64_t>(send_ns);
        encode(i, h);
      }
      int r = sendmmsg(raw_fd.get(), msgs.data(), n, 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        ++report.send_errors;
        report.last_error = std::strerror(errno);
        return;
      }
      sent_total += static_cast<uint64_t>(r);
      if (static_cast<unsigned>(r) < n) return;
    }
  };
  // Sends each flow's share of `owed` on its own socket.
  auto send_per_flow = [&](uint64_t owed) {
    for (uint32_t f = 0; f < o.flows; ++f) {
      SendFlow& flow = flows[f];
      uint64_t target = flow_target(owed, f);
      while (flow.sent < target) {
        unsigned n = static_cast<unsigned>(std::min<uint64_t>(batch, target - flow.sent));
        int64_t send_ns = NowNs(CLOCK_REALTIME);
        for (unsigned i = 0; i < n; ++i) {
          Header h;
          h.run_id = report.run_id;
          h.flow = f;
          h.n_flows = o.flows;
          h.seq = flow.sent + i;
          h.send_ns = static_cast<uint64_t>(send_ns);
          encode(i, h);
        }
        int r = sendmmsg(flow.fd.get(), msgs.data(), n, 0);
        if (r < 0) {
          if (errno == EINTR) continue;
          // Not sent means not numbered: the same sequence numbers go out on
          // the next tick, so the end marker's count stays exact.
          ++report.send_errors;
          report.last_error = std::strerror(errno);
          break;
        }
        flow.sent += static_cast<uint64_t>(r);
        sent_total += static_cast<uint64_t>(r);
        if (static_cast<unsigned>(r) < n) break;  // the socket is full: next tick
      }
    }
  };

  while (!stop.load(std::memory_order_relaxed)) {
    int64_t now = NowNs(CLOCK_MONOTONIC);
    // The first packet leaves at t=0, so packet k is due at k/rate.
    uint64_t owed = std::min<uint64_t>(
        total, static_cast<uint64_t>(static_cast<double>(now - start) * 1e-9 * o.rate_pps) + 1);
    if (o.one_socket) {
      send_interleaved(owed);
    } else {
      send_per_flow(owed);
    }
    if (sent_total >= total || now >= give_up) break;
    next_tick += tick_ns;
    // After a stall (the sender was descheduled) catch up from now instead of
    // replaying every missed tick back to back.
    if (next_tick < now - 100 * tick_ns) next_tick = now;
    SleepUntil(next_tick);
  }
  report.elapsed_s = static_cast<double>(NowNs(CLOCK_MONOTONIC) - start) / 1e9;
  if (o.one_socket) {
    for (uint32_t f = 0; f < o.flows; ++f) flows[f].sent = flow_target(sent_total, f);
  }

  for (const SendFlow& flow : flows) {
    report.per_flow.push_back(flow.sent);
  }
  report.sent = sent_total;
  report.rate_pps = report.elapsed_s > 0 ? static_cast<double>(report.sent) / report.elapsed_s : 0;

  // End markers, repeated and spaced out: any single copy may be lost, and
  // the last data packets may still be in flight behind a slow path.
  int64_t marker_time = NowNs(CLOCK_MONOTONIC);
  for (unsigned rep = 0; rep < std::max(1u, o.end_repeats); ++rep) {
    if (rep) {
      marker_time += static_cast<int64_t>(o.end_interval_ms * 1e6);
      SleepUntil(marker_time);
    }
    for (uint32_t f = 0; f < o.flows; ++f) {
      Header h;
      h.flags = kFlagEnd;
      h.run_id = report.run_id;
      h.flow = f;
      h.n_flows = o.flows;
      h.seq = flows[f].sent;
      h.send_ns = static_cast<uint64_t>(NowNs(CLOCK_REALTIME));
      h.total_sent = report.sent;
      encode(0, h);
      int fd = o.one_socket ? raw_fd.get() : flows[f].fd.get();
      if (sendmsg(fd, &msgs[0].msg_hdr, 0) < 0) {
        ++report.send_errors;
        report.last_error = std::strerror(errno);
      }
    }
  }
  return report;
}

std::string FormatSendSummary(const SendReport& r) {
  return fmt::format(
      "hsw-traffic send: sent {} packets in {} flow(s) over {:.2f} s ({:.0f} pps), run {:016x}, "
      "send errors {}{}",
      r.sent, r.per_flow.size(), r.elapsed_s, r.rate_pps, r.run_id, r.send_errors,
      r.last_error.empty() ? "" : fmt::format(" (last: {})", r.last_error));
}

std::string FormatSendJson(const SendReport& r) {
  nlohmann::json j;
  j["run_id"] = fmt::format("{:016x}", r.run_id);
  j["sent"] = r.sent;
  j["per_flow"] = r.per_flow;
  j["send_errors"] = r.send_errors;
  j["last_error"] = r.last_error;
  j["elapsed_s"] = r.elapsed_s;
  j["start_unix_ns"] = r.start_unix_ns;
  j["rate_pps"] = r.rate_pps;
  return j.dump();
}

Status RunReceiver(const RecvOptions& o, Accounting& accounting, const std::atomic<bool>& stop,
                   const std::function<void(const Endpoint&)>& on_listening) {
  HSW_ASSIGN_OR_RETURN(Endpoint listen, ParseEndpoint(o.listen));
  UniqueFd fd(socket(listen.addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return ErrnoErr("socket");
  // A deep receive buffer: losses must be the switch's, not ours.
  int rcvbuf = o.rcvbuf_bytes;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0) {
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }
  // Kernel receive timestamps: gaps and latency are measured when the packet
  // arrived, not when this loop got around to it.
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&listen.addr), listen.len) < 0) {
    return ErrnoErr("bind {}", listen.ToString());
  }
  Endpoint bound;
  bound.len = sizeof bound.addr;
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound.addr), &bound.len);
  if (on_listening) on_listening(bound);

  constexpr unsigned kBatch = 64;
  constexpr size_t kBufSize = 2048;  // hsw-traffic reads only the header
  std::vector<uint8_t> buffers(kBatch * kBufSize);
  std::vector<iovec> iovs(kBatch);
  std::vector<mmsghdr> msgs(kBatch);
  std::vector<std::array<char, CMSG_SPACE(sizeof(timespec)) + 64>> controls(kBatch);

  const int64_t start = NowNs(CLOCK_MONOTONIC);
  const int64_t deadline =
      o.duration_s > 0 ? start + static_cast<int64_t>(o.duration_s * 1e9) : INT64_MAX;
  int64_t drain_until = INT64_MAX;

  bool announced = false;
  while (!stop.load(std::memory_order_relaxed)) {
    int64_t now = NowNs(CLOCK_MONOTONIC);
    int64_t until = std::min(deadline, drain_until);
    if (now >= until) break;
    if (o.count && accounting.received() >= o.count) break;

    pollfd pfd{fd.get(), POLLIN, 0};
    int timeout_ms = static_cast<int>(std::min<int64_t>(50, (until - now) / 1'000'000 + 1));
    int pr = poll(&pfd, 1, timeout_ms);
    if (pr < 0) {
      if (errno == EINTR) continue;
      return ErrnoErr("poll");
    }
    if (pr == 0) continue;

    for (;;) {
      for (unsigned i = 0; i < kBatch; ++i) {
        iovs[i] = {buffers.data() + i * kBufSize, kBufSize};
        msgs[i].msg_hdr = {};
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_control = controls[i].data();
        msgs[i].msg_hdr.msg_controllen = controls[i].size();
      }
      int n = recvmmsg(fd.get(), msgs.data(), kBatch, 0, nullptr);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return ErrnoErr("recvmmsg");
      }
      int64_t fallback_ns = NowNs(CLOCK_REALTIME);
      for (int i = 0; i < n; ++i) {
        int64_t rx_ns = fallback_ns;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c;
             c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
          if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
            timespec ts;
            std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
            rx_ns = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
          }
        }
        Accounting::Verdict v =
            accounting.Observe(buffers.data() + i * kBufSize, msgs[i].msg_len, rx_ns);
        if (v == Accounting::Verdict::kEnd && accounting.AllEndsSeen()) {
          // Each further copy of an end marker restarts the drain, so the
          // drain is measured from the sender's very last packet.
          drain_until = NowNs(CLOCK_MONOTONIC) + static_cast<int64_t>(o.drain_ms * 1e6);
        }
      }
      if (o.announce && !announced && accounting.received() >= o.announce) {
        std::fprintf(stderr, "hsw-traffic recv: received %llu packets\n",
                     static_cast<unsigned long long>(accounting.received()));
        std::fflush(stderr);
        announced = true;
      }
      if (static_cast<unsigned>(n) < kBatch) break;
    }
  }
  return Ok();
}

}  // namespace hsw::traffic
