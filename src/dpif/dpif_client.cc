#include "dpif/dpif_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/log.h"

namespace hsw::dpif {
namespace {

static hsw::log::Module vlog("dpif_client");

using Clock = std::chrono::steady_clock;

// Large batches are split so that each request stays far below
// kMaxMessageSize and the datapath answers each one quickly.
constexpr size_t kChunkSize = 1 << 20;

size_t EstimateActionsSize(const DpActions& actions) {
  size_t size = 4;
  for (const auto& a : actions) {
    size += 4;
    if (std::holds_alternative<DpSetMasked>(a)) {
      size += 2 * sizeof(FlowKey);
    } else if (const auto* u = std::get_if<DpUserspace>(&a)) {
      size += u->userdata.size();
    } else {
      size += 4;
    }
  }
  return size;
}

// Splits `items` into runs whose estimated encoded size stays under kChunkSize
// (a single item larger than that is sent alone).
template <class T, class SizeFn>
std::vector<std::vector<T>> Chunk(const std::vector<T>& items, SizeFn size_of) {
  std::vector<std::vector<T>> chunks;
  size_t size = 0;
  for (const auto& item : items) {
    size_t s = size_of(item);
    if (chunks.empty() || (size + s > kChunkSize && !chunks.back().empty())) {
      chunks.emplace_back();
      size = 0;
    }
    chunks.back().push_back(item);
    size += s;
  }
  return chunks;
}

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1 << 30));
}

template <class T>
Result<T> Expect(std::vector<Body>&& bodies, MsgType type) {
  if (bodies.size() != 1 || !std::holds_alternative<T>(bodies[0])) {
    return MakeError(fmt::format("datapath sent an unexpected reply to {}", MsgTypeName(type)),
                     EPROTO);
  }
  return std::move(std::get<T>(bodies[0]));
}

}  // namespace

std::string DatapathSocketPath(const std::string& rundir) { return rundir + "/datapath.sock"; }

DpifClient::DpifClient(UniqueFd fd, std::string peer, std::chrono::milliseconds timeout)
    : fd_(std::move(fd)), peer_(std::move(peer)), timeout_(timeout) {}

DpifClient::~DpifClient() = default;

Result<std::unique_ptr<DpifClient>> DpifClient::Connect(const std::string& socket_path, Role role,
                                                        const std::string& client_name,
                                                        std::chrono::milliseconds timeout) {
  auto fd = ConnectUnix(socket_path);
  if (!fd) {
    return MakeError(fmt::format("cannot reach the datapath: {}", fd.error().message),
                     fd.error().code);
  }
  auto client = Open(std::move(*fd), role, client_name, timeout);
  if (!client) {
    return MakeError(fmt::format("datapath {}: {}", socket_path, client.error().message),
                     client.error().code);
  }
  (*client)->peer_ = socket_path;
  std::string line = fmt::format(
      "connected to datapath {} as {} (protocol {}, datapath {} pid {}, {} flows)", socket_path,
      role == Role::kOwner ? "owner" : "monitor", (*client)->hello_.version,
      (*client)->hello_.datapath_version, (*client)->hello_.datapath_pid,
      (*client)->hello_.n_flows);
  // A monitor (probes, scrapes, dp-show) connects often: its line is DBG.
  if (role == Role::kOwner) {
    vlog.Info("{}", line);
  } else {
    vlog.Dbg("{}", line);
  }
  return client;
}

Result<std::unique_ptr<DpifClient>> DpifClient::Open(UniqueFd fd, Role role,
                                                     const std::string& client_name,
                                                     std::chrono::milliseconds timeout,
                                                     const Hello* hello) {
  // Non-blocking so that RecvUpcalls never waits; the synchronous calls wait
  // in poll() with a deadline instead.
  HSW_TRY(SetNonBlocking(fd.get()));
  std::string peer = fmt::format("on fd {}", fd.get());
  std::unique_ptr<DpifClient> client(new DpifClient(std::move(fd), std::move(peer), timeout));
  Hello ours;
  ours.role = role;
  ours.client_name = client_name;
  HSW_TRY(client->Handshake(hello ? *hello : ours));
  return client;
}

Status DpifClient::Handshake(const Hello& hello) {
  auto bodies = Transact(hello);
  if (!bodies) {
    const Error& e = bodies.error();
    if (broken_) return MakeError(fmt::format("handshake failed: {}", e.message), e.code);
    // The datapath's refusal names its own range; add ours so that the
    // message is complete even if the datapath's is not.
    if (e.code == EPROTONOSUPPORT) {
      return MakeError(fmt::format("datapath refused the handshake: {} (this client speaks "
                                   "protocol versions {}..{})",
                                   e.message, hello.version_min, hello.version_max),
                       e.code);
    }
    return MakeError(fmt::format("datapath refused the handshake: {}", e.message), e.code);
  }
  HSW_ASSIGN_OR_RETURN(hello_, Expect<HelloReply>(std::move(*bodies), MsgType::kHello));
  if (hello_.version < hello.version_min || hello_.version > hello.version_max) {
    return Break(Error{EPROTONOSUPPORT,
                       fmt::format("datapath chose protocol version {}, outside this client's "
                                   "versions {}..{}",
                                   hello_.version, hello.version_min, hello.version_max)});
  }
  if (hello_.flow_key_size != hello.flow_key_size) {
    return Break(Error{EPROTONOSUPPORT,
                       fmt::format("datapath's flow key is {} bytes, this client's is {} (builds "
                                   "of different versions)",
                                   hello_.flow_key_size, hello.flow_key_size)});
  }
  return Ok();
}

tl::unexpected<Error> DpifClient::Break(Error error) {
  if (!broken_) {
    vlog.Err("datapath connection {} broken: {}", peer_, error.ToString());
    broken_ = error;
    // The datapath must see the end now, not when this object goes: a
    // datapath that merely stopped answering still counts this connection as
    // its owner, and would refuse our reconnection (EBUSY) until then.  The
    // fd itself stays open, so its number is not reused under the event loop.
    if (fd_.get() >= 0) shutdown(fd_.get(), SHUT_RDWR);
  }
  return tl::unexpected(std::move(error));
}

Result<bool> DpifClient::ReadAvailable() {
  uint8_t buf[65536];
  // Bounded so that a datapath flooding us with upcalls cannot keep us here.
  for (int i = 0; i < 64; ++i) {
    ssize_t n = recv(fd_.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      reader_.Append(buf, static_cast<size_t>(n));
      if (static_cast<size_t>(n) < sizeof(buf)) return true;
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    return Break(Error{errno, fmt::format("reading from datapath {}", peer_)});
  }
  return true;
}

Result<std::optional<Message>> DpifClient::Drain(uint32_t xid) {
  while (true) {
    auto next = reader_.Next();
    if (!next) {
      return Break(Error{EPROTO, fmt::format("datapath {} sent a bad message: {}", peer_,
                                             next.error().message)});
    }
    if (!*next) return std::optional<Message>();
    Message& msg = **next;
    if (msg.header.type == static_cast<uint16_t>(MsgType::kUpcall)) {
      upcalls_.push_back(std::move(std::get<Upcall>(msg.body)));
      ++n_upcalls_received_;
      continue;
    }
    if ((msg.header.flags & kFlagReply) && xid != 0 && msg.header.xid == xid) {
      return std::optional<Message>(std::move(msg));
    }
    // The datapath reports a connection-level failure (e.g. it could not
    // decode something we sent) as an error reply with xid 0, then closes:
    // keep its explanation rather than a bare "connection closed".
    if ((msg.header.flags & kFlagReply) && msg.header.xid == 0 && msg.header.error != 0) {
      return Break(Error{msg.header.error,
                         fmt::format("datapath {} closed the connection: {}", peer_,
                                     std::get<ErrorReply>(msg.body).message)});
    }
    static hsw::log::RateLimit rl(5);
    if (rl.Allow()) {
      vlog.Warn("dropping unexpected {} message (xid {}, flags {:#x}) from datapath",
                MsgTypeName(static_cast<MsgType>(msg.header.type)), msg.header.xid,
                msg.header.flags);
    }
  }
}

Status DpifClient::SendAll(const std::vector<uint8_t>& bytes, MsgType type,
                           Clock::time_point deadline) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = send(fd_.get(), bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      return Break(Error{errno, fmt::format("sending {} request to datapath {}",
                                            MsgTypeName(type), peer_)});
    }
    // The socket is full.  Keep reading while we wait: the datapath may be
    // blocked sending us upcalls, and would then never drain our request.
    pollfd p{fd_.get(), POLLOUT | POLLIN, 0};
    int r = poll(&p, 1, RemainingMs(deadline));
    if (r < 0 && errno != EINTR) return Break(Error{errno, "poll on the datapath socket"});
    if (r == 0) {
      return Break(Error{ETIMEDOUT, fmt::format("datapath {} did not accept the {} request "
                                                "within {} ms",
                                                peer_, MsgTypeName(type), timeout_.count())});
    }
    if (p.revents & POLLIN) {
      HSW_ASSIGN_OR_RETURN(bool open, ReadAvailable());
      if (!open) eof_ = true;
      // Upcalls only; a reply cannot precede its request.
      HSW_TRY(Drain(0));
    }
  }
  return Ok();
}

Result<std::vector<Body>> DpifClient::Transact(const Body& request) {
  MsgType type = TypeOf(request);
  if (broken_) return tl::unexpected(*broken_);
  if (eof_) {
    return Break(Error{ECONNRESET, fmt::format("datapath {} closed the connection", peer_)});
  }
  uint32_t xid = next_xid_++;
  if (next_xid_ == 0) next_xid_ = 1;  // xid 0 is reserved for upcalls
  Clock::time_point deadline = Clock::now() + timeout_;
  HSW_TRY(SendAll(EncodeMessage(request, xid), type, deadline));

  std::vector<Body> bodies;
  while (true) {
    HSW_ASSIGN_OR_RETURN(std::optional<Message> reply, Drain(xid));
    if (reply) {
      if (reply->header.type != static_cast<uint16_t>(type)) {
        return Break(Error{EPROTO, fmt::format("datapath answered a {} request with a {} reply",
                                               MsgTypeName(type),
                                               MsgTypeName(static_cast<MsgType>(
                                                   reply->header.type)))});
      }
      if (reply->header.error != 0) {
        // Later chunks of a failed multi-part reply do not matter; the
        // datapath stops at the error.
        HSW_TRY(Drain(0));
        return MakeError(std::get<ErrorReply>(reply->body).message, reply->header.error);
      }
      bodies.push_back(std::move(reply->body));
      if (!(reply->header.flags & kFlagMore)) break;
      // Each chunk of a dump restarts the clock: a dump of many flows is slow
      // as a whole but every chunk arrives promptly.
      deadline = Clock::now() + timeout_;
      continue;
    }
    if (eof_) {
      return Break(Error{ECONNRESET, fmt::format("datapath {} closed the connection while a {} "
                                                 "request waited for its reply",
                                                 peer_, MsgTypeName(type))});
    }
    pollfd p{fd_.get(), POLLIN, 0};
    int r = poll(&p, 1, RemainingMs(deadline));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Break(Error{errno, "poll on the datapath socket"});
    }
    if (r == 0) {
      return Break(Error{ETIMEDOUT, fmt::format("datapath {} did not answer the {} request "
                                                "(xid {}) within {} ms",
                                                peer_, MsgTypeName(type), xid, timeout_.count())});
    }
    HSW_ASSIGN_OR_RETURN(bool open, ReadAvailable());
    if (!open) eof_ = true;
  }
  // Upcalls that came in the same read as the reply.
  HSW_TRY(Drain(0));
  return bodies;
}

Result<std::vector<Upcall>> DpifClient::RecvUpcalls(size_t max) {
  if (upcalls_.size() < max && !broken_ && !eof_) {
    HSW_ASSIGN_OR_RETURN(bool open, ReadAvailable());
    if (!open) eof_ = true;
    HSW_TRY(Drain(0));
  }
  std::vector<Upcall> out;
  while (!upcalls_.empty() && out.size() < max) {
    out.push_back(std::move(upcalls_.front()));
    upcalls_.pop_front();
  }
  // Hand out what arrived before the connection went away; report the loss
  // on the next call.
  if (out.empty()) {
    if (broken_) return tl::unexpected(*broken_);
    if (eof_) {
      return Break(Error{ECONNRESET, fmt::format("datapath {} closed the connection", peer_)});
    }
  }
  return out;
}

Result<uint32_t> DpifClient::PortAdd(const std::string& name, const std::string& type,
                                     uint32_t port_no) {
  dpif::PortAdd req;
  req.name = name;
  req.type = type;
  req.port_no = port_no;
  HSW_ASSIGN_OR_RETURN(auto bodies, Transact(req));
  HSW_ASSIGN_OR_RETURN(auto reply, Expect<PortAddReply>(std::move(bodies), MsgType::kPortAdd));
  return reply.port_no;
}

Status DpifClient::PortDel(uint32_t port_no) {
  HSW_ASSIGN_OR_RETURN(auto bodies, Transact(dpif::PortDel{port_no}));
  HSW_TRY(Expect<dpif::PortDel>(std::move(bodies), MsgType::kPortDel));
  return Ok();
}

Result<std::vector<PortInfo>> DpifClient::PortList() {
  HSW_ASSIGN_OR_RETURN(auto bodies, Transact(dpif::PortList{}));
  HSW_ASSIGN_OR_RETURN(auto reply, Expect<PortListReply>(std::move(bodies), MsgType::kPortList));
  return std::move(reply.ports);
}

Result<std::vector<int32_t>> DpifClient::FlowPut(const std::vector<dpif::FlowPut>& puts) {
  std::vector<int32_t> errors;
  errors.reserve(puts.size());
  auto chunks = Chunk(puts, [](const dpif::FlowPut& p) {
    return 2 * sizeof(FlowKey) + 4 + EstimateActionsSize(p.actions);
  });
  for (auto& chunk : chunks) {
    size_t n = chunk.size();
    HSW_ASSIGN_OR_RETURN(auto bodies, Transact(FlowPutBatch{std::move(chunk)}));
    HSW_ASSIGN_OR_RETURN(auto reply,
                         Expect<FlowPutBatchReply>(std::move(bodies), MsgType::kFlowPut));
    if (reply.errors.size() != n) {
      return Break(Error{EPROTO, fmt::format("datapath answered {} flow puts with {} results", n,
                                             reply.errors.size())});
    }
    errors.insert(errors.end(), reply.errors.begin(), reply.errors.end());
  }
  return errors;
}

Result<std::vector<FlowDelResult>> DpifClient::FlowDel(const std::vector<FlowId>& flows) {
  std::vector<FlowDelResult> results;
  results.reserve(flows.size());
  for (auto& chunk : Chunk(flows, [](const FlowId&) { return 2 * sizeof(FlowKey); })) {
    size_t n = chunk.size();
    HSW_ASSIGN_OR_RETURN(auto bodies, Transact(FlowDelBatch{std::move(chunk)}));
    HSW_ASSIGN_OR_RETURN(auto reply,
                         Expect<FlowDelBatchReply>(std::move(bodies), MsgType::kFlowDel));
    if (reply.results.size() != n) {
      return Break(Error{EPROTO, fmt::format("datapath answered {} flow deletes with {} results",
                                             n, reply.results.size())});
    }
    results.insert(results.end(), reply.results.begin(), reply.results.end());
  }
  return results;
}

Result<std::vector<DpFlow>> DpifClient::FlowDump() {
  HSW_ASSIGN_OR_RETURN(auto bodies, Transact(dpif::FlowDump{}));
  std::vector<DpFlow> flows;
  for (auto& body : bodies) {
    auto* part = std::get_if<FlowDumpReply>(&body);
    if (!part) {
      return Break(Error{EPROTO, "datapath sent an unexpected reply to FlowDump"});
    }
    std::move(part->flows.begin(), part->flows.end(), std::back_inserter(flows));
  }
  return flows;
}

Result<DpFlow> DpifClient::FlowGet(const FlowId& flow) {
  HSW_ASSIGN_OR_RETURN(auto bodies, Transact(dpif::FlowGet{flow}));
  HSW_ASSIGN_OR_RETURN(auto reply, Expect<FlowGetReply>(std::move(bodies), MsgType::kFlowGet));
  return std::move(reply.flow);
}

Status DpifClient::FlowFlush() {
  HSW_ASSIGN_OR_RETURN(auto bodies, Transact(dpif::FlowFlush{}));
  HSW_TRY(Expect<dpif::FlowFlush>(std::move(bodies), MsgType::kFlowFlush));
  return Ok();
}

Status DpifClient::Execute(const std::vector<dpif::Execute>& packets) {
  auto chunks = Chunk(packets, [](const dpif::Execute& e) {
    return 12 + e.packet.size() + EstimateActionsSize(e.actions);
  });
  for (auto& chunk : chunks) {
    HSW_ASSIGN_OR_RETURN(auto bodies, Transact(ExecuteBatch{std::move(chunk)}));
    HSW_TRY(Expect<ExecuteBatch>(std::move(bodies), MsgType::kExecute));
  }
  return Ok();
}

Result<uint64_t> DpifClient::PauseUpcalls() {
  // A version-1 datapath does not know the message and would close the
  // connection as corrupt: ask only one that negotiated a version with it.
  if (hello_.version < kProtocolVersionUpcallPause) {
    return MakeError(fmt::format("datapath {} speaks protocol version {}, which has no "
                                 "UpcallPause (version {} and up)",
                                 peer_, hello_.version, kProtocolVersionUpcallPause),
                     ENOTSUP);
  }
  HSW_ASSIGN_OR_RETURN(auto bodies, Transact(UpcallPause{}));
  HSW_ASSIGN_OR_RETURN(auto reply,
                       Expect<UpcallPauseReply>(std::move(bodies), MsgType::kUpcallPause));
  // Transact read up to and including the reply, and the datapath sent no
  // upcall after it: all of them are in upcalls_ (or were handed out).  The
  // counts differ legitimately after a datapath handover (the successor
  // counts from the takeover), so a difference is reported, not fatal.
  if (reply.n_upcalls != n_upcalls_received_) {
    vlog.Warn("datapath {} says it sent {} upcalls on this connection before pausing; {} "
              "arrived (a datapath handover restarts its count)",
              peer_, reply.n_upcalls, n_upcalls_received_);
  }
  return reply.n_upcalls;
}

Result<StatsReply> DpifClient::GetStats() {
  HSW_ASSIGN_OR_RETURN(auto bodies, Transact(StatsGet{}));
  return Expect<StatsReply>(std::move(bodies), MsgType::kStatsGet);
}

}  // namespace hsw::dpif
