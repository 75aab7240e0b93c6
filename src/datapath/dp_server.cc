#include "datapath/dp_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "common/log.h"
#include "common/version.h"
#include "datapath/datapath.h"

namespace hsw::dp {
namespace {

const log::Module vlog("dp_server");

constexpr size_t kMaxAcceptsPerIteration = 16;
// A client that stops reading may not make the datapath hold unbounded
// replies; past this, it is disconnected.
constexpr size_t kMaxOutputBuffer = 64u << 20;

const char* RoleName(dpif::Role role) { return role == dpif::Role::kOwner ? "owner" : "monitor"; }

}  // namespace

struct DpServer::Conn {
  UniqueFd fd;
  uint64_t id = 0;
  dpif::MessageReader reader;
  std::vector<uint8_t> out;
  size_t out_offset = 0;
  bool hello_done = false;
  dpif::Role role = dpif::Role::kMonitor;
  uint32_t version = 0;  // negotiated in Hello
  std::string name;
  bool closing = false;  // write what is queued, then close
  bool dead = false;
  bool more_input = false;  // stopped on a budget with messages possibly buffered
  bool upcalls_paused = false;  // the owner sent UpcallPause: it is about to exit
  uint64_t n_upcalls = 0;       // upcalls sent on this connection

  struct PutJob {
    uint32_t xid;
    std::vector<dpif::FlowPut> puts;
    size_t next = 0;
    std::vector<int32_t> errors;
  };
  struct DelJob {
    uint32_t xid;
    std::vector<dpif::FlowId> flows;
    size_t next = 0;
    std::vector<dpif::FlowDelResult> results;
  };
  struct DumpJob {
    uint32_t xid;
    size_t cursor = 0;
  };
  std::optional<PutJob> put;
  std::optional<DelJob> del;
  std::optional<DumpJob> dump;

  bool busy() const { return put || del || dump; }
  size_t pending_output() const { return out.size() - out_offset; }
  std::string Describe() const {
    return hello_done ? fmt::format("{} '{}' (#{})", RoleName(role), name, id)
                      : fmt::format("client #{}", id);
  }
};

DpServer::DpServer(Datapath& datapath, UniqueFd listener, DpServerOptions options)
    : dp_(datapath), listener_(std::move(listener)), options_(options) {
  std::random_device rd;
  instance_id_ = (uint64_t{rd()} << 32) | rd();
}

DpServer::~DpServer() = default;

void DpServer::AppendPollFds(std::vector<pollfd>& fds) {
  fds.push_back(pollfd{listener_.get(), static_cast<short>(frozen_ ? 0 : POLLIN), 0});
  polled_.clear();
  for (auto& conn : conns_) {
    short events = 0;
    if (!frozen_ && !conn->closing && !conn->busy()) events |= POLLIN;
    if (conn->pending_output()) events |= POLLOUT;
    fds.push_back(pollfd{conn->fd.get(), events, 0});
    polled_.push_back(conn.get());
  }
}

bool DpServer::HasPendingWork() const {
  for (const auto& conn : conns_) {
    if (conn->dead || (conn->more_input && !frozen_)) return true;
    if (conn->put || conn->del) return true;
    if (conn->dump && conn->pending_output() < options_.output_high_water) return true;
  }
  return !frozen_ && owner_ && !owner_->upcalls_paused && !dp_.miss_queue().empty() &&
         owner_->pending_output() < options_.output_high_water;
}

void DpServer::Process(std::span<pollfd> fds, uint64_t now_us) {
  if (!frozen_ && !fds.empty() && (fds[0].revents & POLLIN)) Accept();
  for (size_t i = 0; !frozen_ && i < polled_.size() && i + 1 < fds.size(); ++i) {
    Conn& conn = *polled_[i];
    short revents = fds[i + 1].revents;
    if (revents & (POLLIN | POLLHUP | POLLERR)) Read(conn);
  }
  polled_.clear();
  size_t flow_budget = options_.flow_ops_per_iteration;
  for (auto& conn : conns_) {
    if (conn->dead) continue;
    RunJobs(*conn, flow_budget);
    if (!frozen_) HandleMessages(*conn, flow_budget);
  }
  dp_.miss_queue().Expire(now_us);
  if (!frozen_) DeliverUpcalls(now_us);
  for (auto& conn : conns_) {
    if (!conn->dead && conn->pending_output()) Write(*conn);
    if (!conn->dead && conn->closing && !conn->pending_output()) Close(*conn, "closed");
  }
  std::erase_if(conns_, [](const auto& conn) { return conn->dead; });
}

void DpServer::Accept() {
  for (size_t i = 0; i < kMaxAcceptsPerIteration; ++i) {
    int fd = accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EINTR) {
        static log::RateLimit rl(1);
        if (rl.Allow()) vlog.Err("accept on datapath socket: {}", std::strerror(errno));
      }
      return;
    }
    auto conn = std::make_unique<Conn>();
    conn->fd = UniqueFd(fd);
    conn->id = next_conn_id_++;
    vlog.Dbg("client #{} connected", conn->id);
    conns_.push_back(std::move(conn));
  }
}

void DpServer::Read(Conn& conn) {
  if (conn.dead || conn.closing) return;
  uint8_t buffer[65536];
  size_t total = 0;
  while (total < options_.read_per_iteration) {
    ssize_t n = read(conn.fd.get(), buffer, sizeof(buffer));
    if (n > 0) {
      conn.reader.Append(buffer, static_cast<size_t>(n));
      total += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) {
      Close(conn, "disconnected");
      return;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) Close(conn, "disconnected (read error)");
    return;
  }
  conn.more_input = true;  // there may be more in the socket, and it is level-triggered anyway
}

void DpServer::HandleMessages(Conn& conn, size_t& flow_budget) {
  conn.more_input = false;
  for (size_t handled = 0; !conn.dead && !conn.closing && !conn.busy(); ++handled) {
    if (handled == options_.messages_per_iteration || flow_budget == 0) {
      conn.more_input = conn.reader.buffered() > 0;
      return;
    }
    auto next = conn.reader.Next();
    if (!next) {
      ++protocol_errors_;
      std::string why = next.error().message;
      vlog.Err("{}: malformed message: {}; closing the connection", conn.Describe(), why);
      Fail(conn, dpif::MsgType::kHello, 0, next.error().code ? next.error().code : EPROTO,
           "malformed message: " + why);
      return;
    }
    if (!*next) return;
    Handle(conn, **next);
    if (conn.busy()) RunJobs(conn, flow_budget);
  }
}

void DpServer::Reply(Conn& conn, const dpif::Body& body, uint32_t xid, uint16_t flags) {
  std::vector<uint8_t> bytes = dpif::EncodeMessage(body, xid, flags);
  conn.out.insert(conn.out.end(), bytes.begin(), bytes.end());
}

void DpServer::ReplyError(Conn& conn, dpif::MsgType type, uint32_t xid, int error,
                          const std::string& message) {
  std::vector<uint8_t> bytes = dpif::EncodeErrorReply(type, xid, error, message);
  conn.out.insert(conn.out.end(), bytes.begin(), bytes.end());
}

void DpServer::Fail(Conn& conn, dpif::MsgType type, uint32_t xid, int error,
                    const std::string& message) {
  ReplyError(conn, type, xid, error, message);
  conn.closing = true;
  conn.put.reset();
  conn.del.reset();
  conn.dump.reset();
  if (&conn == owner_) owner_ = nullptr;
}

void DpServer::Freeze() { frozen_ = true; }

void DpServer::Thaw() { frozen_ = false; }

bool DpServer::quiescent() const {
  if (!frozen_) return false;
  for (const auto& conn : conns_) {
    if (!conn->dead && conn->busy()) return false;
  }
  return true;
}

std::vector<DpServer::ConnHandover> DpServer::ExportConnections() const {
  std::vector<ConnHandover> out;
  for (const auto& conn : conns_) {
    if (conn->dead || conn->closing) continue;  // about to go anyway
    ConnHandover c;
    c.fd = conn->fd.get();
    c.id = conn->id;
    c.hello_done = conn->hello_done;
    c.role = conn->role;
    c.version = conn->version;
    c.name = conn->name;
    std::span<const uint8_t> unread = conn->reader.unread();
    c.unread.assign(unread.begin(), unread.end());
    c.unsent.assign(conn->out.begin() + static_cast<std::ptrdiff_t>(conn->out_offset),
                    conn->out.end());
    c.upcalls_paused = conn->upcalls_paused;
    c.n_upcalls = conn->n_upcalls;
    out.push_back(std::move(c));
  }
  return out;
}

Status DpServer::AdoptConnection(UniqueFd fd, const ConnHandover& state) {
  if (state.hello_done && (state.version < dpif::kProtocolVersionMin ||
                           state.version > dpif::kProtocolVersionMax)) {
    return Err("connection of '{}' speaks datapath protocol {}, this datapath {}..{}", state.name,
               state.version, dpif::kProtocolVersionMin, dpif::kProtocolVersionMax);
  }
  if (state.hello_done && state.role == dpif::Role::kOwner && owner_) {
    return Err("two owner connections handed over ('{}' and '{}')", owner_->name, state.name);
  }
  auto conn = std::make_unique<Conn>();
  conn->fd = std::move(fd);
  conn->id = next_conn_id_++;
  conn->hello_done = state.hello_done;
  conn->role = state.role;
  conn->version = state.version;
  conn->name = state.name;
  conn->reader.Append(state.unread.data(), state.unread.size());
  conn->more_input = !state.unread.empty();
  conn->out = state.unsent;
  conn->upcalls_paused = state.upcalls_paused;
  conn->n_upcalls = state.n_upcalls;
  if (state.hello_done && state.role == dpif::Role::kOwner) owner_ = conn.get();
  vlog.Info("took over {} from the previous datapath ({} bytes unread, {} unsent)",
            conn->Describe(), state.unread.size(), state.unsent.size());
  conns_.push_back(std::move(conn));
  return Ok();
}

void DpServer::Close(Conn& conn, const char* why) {
  if (conn.dead) return;
  conn.dead = true;
  if (&conn == owner_) {
    owner_ = nullptr;
    counters_at_owner_loss_ = dp_.miss_queue().counters();
    const MissQueueLimits& limits = dp_.miss_queue().limits();
    vlog.Info(
        "{} {}; misses wait in the miss queue until an owner connects (limits: {} packets, {} "
        "bytes, {} ms)",
        conn.Describe(), why, limits.max_packets, limits.max_bytes, limits.max_age_ms);
  } else if (conn.hello_done && conn.role == dpif::Role::kOwner) {
    vlog.Info("{} {}", conn.Describe(), why);
  } else {
    vlog.Dbg("{} {}", conn.Describe(), why);
  }
  conn.fd.Reset();
}

void DpServer::HandleHello(Conn& conn, const dpif::MsgHeader& header, const dpif::Hello& hello) {
  using dpif::kProtocolVersionMax;
  using dpif::kProtocolVersionMin;
  uint32_t version = VersionRange{kProtocolVersionMin, kProtocolVersionMax}.HighestCommon(
      {hello.version_min, hello.version_max});
  if (version == 0) {
    std::string why = fmt::format(
        "no common protocol version: client '{}' speaks {}..{}, this datapath speaks {}..{}",
        hello.client_name, hello.version_min, hello.version_max, kProtocolVersionMin,
        kProtocolVersionMax);
    vlog.Err("{}: {}", conn.Describe(), why);
    Fail(conn, dpif::MsgType::kHello, header.xid, EPROTONOSUPPORT, why);
    return;
  }
  if (hello.flow_key_size != sizeof(FlowKey)) {
    std::string why = fmt::format(
        "flow key size mismatch: client '{}' has {} bytes, this datapath {} (different builds "
        "of hsw)",
        hello.client_name, hello.flow_key_size, sizeof(FlowKey));
    vlog.Err("{}: {}", conn.Describe(), why);
    Fail(conn, dpif::MsgType::kHello, header.xid, EPROTONOSUPPORT, why);
    return;
  }
  if (hello.role == dpif::Role::kOwner && owner_) {
    std::string why = fmt::format("datapath already has an owner: '{}' (#{})", owner_->name,
                                  owner_->id);
    vlog.Err("client '{}' refused as owner: {}", hello.client_name, why);
    Fail(conn, dpif::MsgType::kHello, header.xid, EBUSY, why);
    return;
  }
  conn.hello_done = true;
  conn.role = hello.role;
  conn.version = version;
  conn.name = hello.client_name;
  dpif::HelloReply reply;
  reply.version = version;
  reply.flow_key_size = sizeof(FlowKey);
  reply.datapath_pid = static_cast<uint32_t>(getpid());
  reply.instance_id = instance_id_;
  reply.datapath_version = kVersion;
  reply.n_flows = static_cast<uint32_t>(dp_.flows().n_flows());
  Reply(conn, reply, header.xid);
  if (conn.role == dpif::Role::kOwner) {
    owner_ = &conn;
    backlog_at_connect_ = dp_.miss_queue().n_packets();
    const MissQueue::Counters& now = dp_.miss_queue().counters();
    const MissQueue::Counters& then = counters_at_owner_loss_;
    vlog.Info(
        "{} connected (protocol version {}); {} flows installed, {} upcalls waiting; while no "
        "owner was connected {} misses were queued, {} dropped by the packet limit, {} by the byte "
        "limit, {} by age",
        conn.Describe(), version, reply.n_flows, backlog_at_connect_, now.queued - then.queued,
        now.dropped_packets - then.dropped_packets, now.dropped_bytes - then.dropped_bytes,
        now.dropped_age - then.dropped_age);
  } else {
    // Monitors come and go with every probe and scrape (hsw-sidecar,
    // hsw-ctl dp-show): at INFO they would drown the log.
    vlog.Dbg("{} connected (protocol version {})", conn.Describe(), version);
  }
}

void DpServer::Handle(Conn& conn, dpif::Message& msg) {
  const dpif::MsgHeader& h = msg.header;
  auto type = static_cast<dpif::MsgType>(h.type);
  if (h.flags & dpif::kFlagReply || h.error != 0) {
    ++protocol_errors_;
    Fail(conn, type, h.xid, EPROTO,
         fmt::format("unexpected {} reply from a client", dpif::MsgTypeName(type)));
    return;
  }
  if (!conn.hello_done) {
    if (auto* hello = std::get_if<dpif::Hello>(&msg.body)) {
      HandleHello(conn, h, *hello);
    } else {
      ++protocol_errors_;
      Fail(conn, type, h.xid, EPROTO,
           fmt::format("expected Hello as the first message, got {}", dpif::MsgTypeName(type)));
    }
    return;
  }
  auto& body = msg.body;
  if (std::holds_alternative<dpif::Hello>(body)) {
    Fail(conn, type, h.xid, EPROTO, "Hello sent twice");
  } else if (auto* add = std::get_if<dpif::PortAdd>(&body)) {
    auto port_no = dp_.AddPort(add->name, add->type, add->port_no);
    if (port_no) {
      Reply(conn, dpif::PortAddReply{*port_no}, h.xid);
    } else {
      vlog.Err("{}: adding port {}: {}", conn.Describe(), add->name, port_no.error().ToString());
      ReplyError(conn, type, h.xid, port_no.error().code ? port_no.error().code : EINVAL,
                 port_no.error().ToString());
    }
  } else if (auto* del = std::get_if<dpif::PortDel>(&body)) {
    auto status = dp_.DelPort(del->port_no);
    if (status) {
      Reply(conn, dpif::PortDel{}, h.xid);
    } else {
      ReplyError(conn, type, h.xid, status.error().code ? status.error().code : EINVAL,
                 status.error().ToString());
    }
  } else if (std::holds_alternative<dpif::PortList>(body)) {
    Reply(conn, dpif::PortListReply{dp_.ListPorts()}, h.xid);
  } else if (auto* puts = std::get_if<dpif::FlowPutBatch>(&body)) {
    conn.put = Conn::PutJob{h.xid, std::move(puts->puts), 0, {}};
    conn.put->errors.reserve(conn.put->puts.size());
  } else if (auto* dels = std::get_if<dpif::FlowDelBatch>(&body)) {
    conn.del = Conn::DelJob{h.xid, std::move(dels->flows), 0, {}};
    conn.del->results.reserve(conn.del->flows.size());
  } else if (auto* get = std::get_if<dpif::FlowGet>(&body)) {
    const Megaflow* flow = dp_.flows().Get(get->flow.key, get->flow.mask);
    if (flow) {
      Reply(conn, dpif::FlowGetReply{dpif::DpFlow{flow->key, flow->mask, flow->actions,
                                                  flow->stats}},
            h.xid);
    } else {
      ReplyError(conn, type, h.xid, ENOENT,
                 "no flow " + FormatDpKey(ApplyMask(get->flow.key, get->flow.mask),
                                          &get->flow.mask));
    }
  } else if (std::holds_alternative<dpif::FlowDump>(body)) {
    conn.dump = Conn::DumpJob{h.xid, 0};
  } else if (std::holds_alternative<dpif::FlowFlush>(body)) {
    size_t n = dp_.flows().n_flows();
    dp_.flows().Flush();
    vlog.Info("{} flushed all {} flows", conn.Describe(), n);
    Reply(conn, dpif::FlowFlush{}, h.xid);
  } else if (auto* exec = std::get_if<dpif::ExecuteBatch>(&body)) {
    // All or nothing: check every packet before running any.
    for (size_t i = 0; i < exec->packets.size(); ++i) {
      const auto& e = exec->packets[i];
      std::string why = ValidateActions(e.actions);
      if (e.packet.empty() || e.packet.size() > 65535) why = "packet size out of range";
      if (!why.empty()) {
        ReplyError(conn, type, h.xid, EINVAL, fmt::format("execute #{}: {}", i, why));
        return;
      }
    }
    for (const auto& e : exec->packets) (void)dp_.Execute(e);
    Reply(conn, dpif::ExecuteBatch{}, h.xid);
  } else if (std::holds_alternative<dpif::UpcallPause>(body)) {
    HandleUpcallPause(conn, h);
  } else if (std::holds_alternative<dpif::StatsGet>(body)) {
    dpif::StatsReply reply;
    reply.counters = Counters();
    reply.ports = dp_.ListPorts();
    Reply(conn, reply, h.xid);
  } else {
    ++protocol_errors_;
    Fail(conn, type, h.xid, EPROTO,
         fmt::format("{} is not a request a client may send", dpif::MsgTypeName(type)));
  }
}

void DpServer::HandleUpcallPause(Conn& conn, const dpif::MsgHeader& header) {
  // A version-1 peer cannot know the message; one that sends it anyway is
  // told so and keeps its connection, like any failed request.
  if (conn.version < dpif::kProtocolVersionUpcallPause) {
    ReplyError(conn, dpif::MsgType::kUpcallPause, header.xid, EOPNOTSUPP,
               fmt::format("UpcallPause needs protocol version {}; this connection speaks {}",
                           dpif::kProtocolVersionUpcallPause, conn.version));
    return;
  }
  if (&conn != owner_) {
    ReplyError(conn, dpif::MsgType::kUpcallPause, header.xid, EPERM,
               "UpcallPause: only the owner receives upcalls");
    return;
  }
  // From here on DeliverUpcalls skips this connection, so the reply is the
  // last thing after the upcalls already queued in conn.out: the owner has
  // them all once it reads the reply.
  if (!conn.upcalls_paused) {
    conn.upcalls_paused = true;
    vlog.Info("{} paused upcalls after {} (it is stopping); misses wait in the miss queue ({} "
              "waiting now)",
              conn.Describe(), conn.n_upcalls, dp_.miss_queue().n_packets());
  }
  Reply(conn, dpif::UpcallPauseReply{conn.n_upcalls}, header.xid);
}

void DpServer::RunJobs(Conn& conn, size_t& flow_budget) {
  if (conn.put) {
    auto& job = *conn.put;
    std::string why;
    for (; job.next < job.puts.size() && flow_budget > 0; ++job.next, --flow_budget) {
      const auto& p = job.puts[job.next];
      int err = dp_.flows().Put(p.key, p.mask, p.actions, p.flags, &why);
      if (err == EINVAL || err == ENOSPC) {
        static log::RateLimit rl(5);
        if (rl.Allow()) vlog.Warn("{}: flow put refused: {}", conn.Describe(), why);
      }
      job.errors.push_back(err);
    }
    if (job.next == job.puts.size()) {
      Reply(conn, dpif::FlowPutBatchReply{std::move(job.errors)}, job.xid);
      conn.put.reset();
    }
  }
  if (conn.del) {
    auto& job = *conn.del;
    for (; job.next < job.flows.size() && flow_budget > 0; ++job.next, --flow_budget) {
      dpif::FlowDelResult result;
      result.error = dp_.flows().Del(job.flows[job.next].key, job.flows[job.next].mask,
                                     &result.stats);
      job.results.push_back(result);
    }
    if (job.next == job.flows.size()) {
      Reply(conn, dpif::FlowDelBatchReply{std::move(job.results)}, job.xid);
      conn.del.reset();
    }
  }
  if (conn.dump) {
    auto& job = *conn.dump;
    while (conn.dump && conn.pending_output() < options_.output_high_water && flow_budget > 0) {
      dpif::FlowDumpReply reply;
      size_t chunk = std::min(options_.dump_chunk, flow_budget);
      job.cursor = dp_.flows().Dump(job.cursor, chunk, reply.flows);
      flow_budget -= std::min(flow_budget, std::max<size_t>(reply.flows.size(), 1));
      bool last = job.cursor == 0;
      Reply(conn, reply, job.xid, dpif::kFlagReply | (last ? 0 : dpif::kFlagMore));
      if (last) conn.dump.reset();
    }
  }
}

void DpServer::DeliverUpcalls(uint64_t now_us) {
  if (!owner_ || owner_->dead || owner_->closing || owner_->upcalls_paused) return;
  MissQueue& queue = dp_.miss_queue();
  size_t n = 0;
  while (n < options_.upcalls_per_iteration && !queue.empty() &&
         owner_->pending_output() < options_.output_high_water) {
    auto upcall = queue.Pop(now_us);
    if (!upcall) break;
    Reply(*owner_, *upcall, 0, 0);
    ++owner_->n_upcalls;
    ++upcalls_sent_;
    ++n;
  }
  if (backlog_at_connect_ && queue.empty()) {
    // What happened to the misses of the owner's absence, for the operator
    // who restarted it: how many were held and delivered, how many the
    // limits cost (the same counters are in dp-show).
    const MissQueue::Counters& now = queue.counters();
    const MissQueue::Counters& then = counters_at_owner_loss_;
    uint64_t dropped_packets = now.dropped_packets - then.dropped_packets;
    uint64_t dropped_bytes = now.dropped_bytes - then.dropped_bytes;
    uint64_t dropped_age = now.dropped_age - then.dropped_age;
    uint64_t dropped = dropped_packets + dropped_bytes + dropped_age;
    std::string text = fmt::format(
        "miss queue drained: {} upcalls held while no owner was connected were delivered to {}; "
        "{} dropped by the limits (packets {}, bytes {}, age {})",
        backlog_at_connect_, owner_->Describe(), dropped, dropped_packets, dropped_bytes,
        dropped_age);
    if (dropped) {
      vlog.Warn("{}", text);
    } else {
      vlog.Info("{}", text);
    }
    backlog_at_connect_ = 0;
  }
}

void DpServer::Write(Conn& conn) {
  while (conn.pending_output()) {
    ssize_t n = send(conn.fd.get(), conn.out.data() + conn.out_offset, conn.pending_output(),
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      conn.out_offset += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    Close(conn, "disconnected (write error)");
    return;
  }
  if (conn.out_offset == conn.out.size()) {
    conn.out.clear();
    conn.out_offset = 0;
  } else if (conn.out_offset > (1u << 20)) {
    conn.out.erase(conn.out.begin(), conn.out.begin() + static_cast<ptrdiff_t>(conn.out_offset));
    conn.out_offset = 0;
  }
  if (conn.pending_output() > kMaxOutputBuffer) {
    vlog.Err("{} does not read its replies ({} bytes waiting); disconnecting", conn.Describe(),
             conn.pending_output());
    Close(conn, "disconnected (not reading)");
  }
}

std::vector<std::pair<std::string, uint64_t>> DpServer::Counters() const {
  auto counters = dp_.Counters();
  // Keep the documented order: the upcall count follows the lookup tiers.
  counters.insert(counters.begin() + 3, {"upcalls_sent", upcalls_sent_});
  counters.push_back({"clients", conns_.size()});
  counters.push_back({"owner_connected", owner_ ? 1u : 0u});
  counters.push_back({"protocol_errors", protocol_errors_});
  // Who serves: a client whose connection was handed to a successor
  // (handover) tells the new process from the old one by these.
  counters.push_back({"datapath_pid", static_cast<uint64_t>(getpid())});
  counters.push_back({"datapath_instance_id", instance_id_});
  return counters;
}

}  // namespace hsw::dp
