// The successor's side of the handover: TakeOver() drives the exchange over
// the socket, TakeoverStream applies what arrives.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/version.h"
#include "datapath/handover.h"
#include "datapath/ports/af_packet_port.h"
#include "datapath/ports/tap_port.h"
#include "datapath/takeover_stream.h"
#include "dpif/dpif_codec.h"

namespace hsw::dp {
namespace {

const log::Module vlog("handover");
using json = nlohmann::json;
using namespace dpif::handover;

// How long a predecessor that closed the handover socket gets to be seen
// dead before its silence counts as a refusal.
constexpr int kDeathWaitMs = 1000;

dpif::PortStats StatsFromJson(const json& j) {
  dpif::PortStats s;
  if (!j.is_array() || j.size() != 8) return s;
  uint64_t* fields[] = {&s.rx_packets, &s.rx_bytes, &s.rx_dropped, &s.rx_errors,
                        &s.tx_packets, &s.tx_bytes, &s.tx_dropped, &s.tx_errors};
  for (size_t i = 0; i < 8; ++i) {
    if (j[i].is_number_unsigned()) *fields[i] = j[i].get<uint64_t>();
  }
  return s;
}

std::vector<uint8_t> Bytes(const json& j, const char* key) {
  std::vector<uint8_t> out;
  if (!j.contains(key) || !j[key].is_array()) return out;
  for (const json& b : j[key]) out.push_back(b.is_number_unsigned() ? b.get<uint8_t>() : 0);
  return out;
}

// A field of a message that the sender must have set, of the right type.
template <typename T>
Result<T> Field(const json& j, const char* key, MsgType type) {
  if (!j.is_object() || !j.contains(key)) {
    return Err("{} message without '{}'", MsgName(type), key);
  }
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    return Err("{} message: '{}' has the wrong type", MsgName(type), key);
  }
}

Result<dpif::Message> DatapathMessage(const Datagram& d) {
  auto m = dpif::DecodeMessage(d.body);
  if (!m) return Err("{} message: {}", MsgName(d.type), m.error().ToString());
  return m;
}

// The flows a Flows or Stats message carries (a datapath-protocol
// FlowDumpReply).
Result<std::vector<dpif::DpFlow>> FlowsIn(const Datagram& d) {
  HSW_ASSIGN_OR_RETURN(dpif::Message m, DatapathMessage(d));
  auto* chunk = std::get_if<dpif::FlowDumpReply>(&m.body);
  if (!chunk) return Err("a {} message holds no flows", MsgName(d.type));
  return std::move(chunk->flows);
}

// Watches the predecessor's process, so that a handover socket that closed
// can be told apart: a predecessor that gave up the handover (it carries on)
// from one that died (its successor must carry on instead).
class PredecessorWatch {
 public:
  explicit PredecessorWatch(pid_t pid) : pid_(pid) {
    if (pid > 0) fd_ = UniqueFd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  }
  bool DiedWithin(int timeout_ms) const {
    if (fd_) {
      pollfd p{fd_.get(), POLLIN, 0};
      return poll(&p, 1, timeout_ms) > 0 && (p.revents & POLLIN);
    }
    // No pidfd (kernel < 5.3): the pid, racy against reuse but only by a
    // process started in the last second.
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
      if (pid_ <= 0 || (kill(pid_, 0) < 0 && errno == ESRCH)) return true;
      usleep(20000);
    }
    return false;
  }

 private:
  pid_t pid_;
  UniqueFd fd_;
};

// What existed only in a predecessor that died before the handover ended.
std::string DescribeLost(const TakeoverStream::Received& r) {
  std::vector<std::string> lost;
  if (!r.snapshot_end) {
    lost.push_back(
        "the rest of its flow table (the flows it did not send are set up again on their next "
        "packet)");
  }
  if (!r.port_heads) {
    lost.push_back(
        "where it stopped reading each ring (found again in the rings; packets it was forwarding "
        "as it died may be lost or sent twice)");
  }
  if (!r.final_end) {
    lost.push_back(
        "flow statistics since the snapshot began, the misses it had queued for hsw-vswitchd, and "
        "its client connections (clients reconnect)");
  }
  if (lost.empty()) return "nothing (it had sent everything, and died waiting for the last word)";
  std::string text;
  for (const std::string& item : lost) text += (text.empty() ? "" : "; ") + item;
  return text;
}

void StopForTest(const std::string& stop_at, const char* here) {
  if (stop_at != here) return;
  vlog.Warn("stopping (SIGSTOP) at the {} as --test-stop-at asks", here);
  raise(SIGSTOP);
}

}  // namespace

// ---------------------------------------------------------------------------
// TakeoverStream

TakeoverStream::TakeoverStream(const DatapathOptions& options) {
  taken_.datapath = std::make_unique<Datapath>(options);
}

Status TakeoverStream::Apply(Datagram& message) {
  // json::value() throws on a field of the wrong type: a refusal too.
  try {
    switch (stage_) {
      case Stage::kSnapshot:
        return ApplySnapshot(message);
      case Stage::kSwitchOver:
        return ApplySwitchOver(message);
      case Stage::kDone:
        break;
    }
  } catch (const json::exception& e) {
    return Err("{} message: {}", MsgName(message.type), e.what());
  }
  return Err("{} message after the handover ended", MsgName(message.type));
}

Status TakeoverStream::ApplySnapshot(Datagram& d) {
  switch (d.type) {
    case MsgType::kPort: {
      HSW_ASSIGN_OR_RETURN(json j, d.Json());
      // Version 1 predecessors send no type: every port was AF_PACKET.
      std::string type = "af_packet";
      if (j.is_object() && j.contains("type")) {
        HSW_ASSIGN_OR_RETURN(type, Field<std::string>(j, "type", d.type));
      }
      if (type == TapPort::kType) {
        if (d.fds.size() != 1) return Err("Port message for an internal port without its tap");
        HSW_ASSIGN_OR_RETURN(std::string name, Field<std::string>(j, "name", d.type));
        HSW_ASSIGN_OR_RETURN(uint32_t port_no, Field<uint32_t>(j, "port_no", d.type));
        HSW_ASSIGN_OR_RETURN(auto tap, TapPort::Adopt(name, std::move(d.fds[0])));
        Port* raw = tap.get();
        HSW_ASSIGN_OR_RETURN(uint32_t added, taken_.datapath->AddPort(std::move(tap), port_no));
        other_ports_.emplace_back(added, raw);
        ++received_.ports;
        return Ok();
      }
      if (type != "af_packet") {
        return Err("Port message: port type '{}' is unknown to this datapath", type);
      }
      if (d.fds.size() != 2) return Err("Port message without its two sockets");
      AfPacketHandover h;
      HSW_ASSIGN_OR_RETURN(h.ifindex, Field<uint32_t>(j, "ifindex", d.type));
      HSW_ASSIGN_OR_RETURN(h.frame_size, Field<uint32_t>(j, "frame_size", d.type));
      HSW_ASSIGN_OR_RETURN(h.block_size, Field<uint32_t>(j, "block_size", d.type));
      HSW_ASSIGN_OR_RETURN(h.block_nr, Field<uint32_t>(j, "block_nr", d.type));
      HSW_ASSIGN_OR_RETURN(h.frame_nr, Field<uint32_t>(j, "frame_nr", d.type));
      HSW_ASSIGN_OR_RETURN(h.ring_capacity, Field<uint32_t>(j, "ring_capacity", d.type));
      HSW_ASSIGN_OR_RETURN(std::string name, Field<std::string>(j, "name", d.type));
      HSW_ASSIGN_OR_RETURN(uint32_t port_no, Field<uint32_t>(j, "port_no", d.type));
      HSW_ASSIGN_OR_RETURN(auto port, AfPacketPort::Adopt(name, std::move(d.fds[0]),
                                                          std::move(d.fds[1]), h));
      AfPacketPort* raw = port.get();
      HSW_ASSIGN_OR_RETURN(uint32_t added, taken_.datapath->AddPort(std::move(port), port_no));
      // Until the switch-over says where the predecessor stopped, it is not
      // known: should it die first, the port finds out from its ring.
      raw->ForgetHead();
      ports_.emplace_back(added, raw);
      ++received_.ports;
      return Ok();
    }
    case MsgType::kSockets: {
      HSW_ASSIGN_OR_RETURN(json j, d.Json());
      if (d.fds.empty()) return Err("Sockets message without the datapath socket");
      listener_ = std::move(d.fds[0]);
      if (j.value("lock", false) && d.fds.size() > 1) taken_.instance_lock = std::move(d.fds[1]);
      received_.sockets = true;
      return Ok();
    }
    case MsgType::kFlows: {
      HSW_ASSIGN_OR_RETURN(std::vector<dpif::DpFlow> flows, FlowsIn(d));
      for (const dpif::DpFlow& flow : flows) {
        std::string why;
        if (int error = taken_.datapath->flows().Restore(flow, &why)) {
          return Err("cannot install a handed-over flow: {} ({})", why, std::strerror(error));
        }
        ++received_.flows;
      }
      return Ok();
    }
    case MsgType::kSnapshotEnd:
      if (!listener_) return Err("the running datapath sent no datapath socket");
      taken_.server = std::make_unique<DpServer>(*taken_.datapath, std::move(listener_));
      received_.snapshot_end = true;
      stage_ = Stage::kSwitchOver;
      return Ok();
    default:
      return Err("unexpected {} during the snapshot", MsgName(d.type));
  }
}

Status TakeoverStream::ApplySwitchOver(Datagram& d) {
  switch (d.type) {
    case MsgType::kPortHeads: {
      HSW_ASSIGN_OR_RETURN(json j, d.Json());
      HSW_ASSIGN_OR_RETURN(json heads, Field<json>(j, "ports", d.type));
      if (!heads.is_array()) return Err("PortHeads message: 'ports' is not a list");
      for (const json& p : heads) {
        HSW_ASSIGN_OR_RETURN(uint32_t port_no, Field<uint32_t>(p, "port_no", d.type));
        HSW_ASSIGN_OR_RETURN(uint32_t head, Field<uint32_t>(p, "head", d.type));
        for (auto& [no, port] : other_ports_) {
          if (no != port_no) continue;
          port->stats() = StatsFromJson(p.value("stats", json::array()));
        }
        for (auto& [no, port] : ports_) {
          if (no != port_no) continue;
          if (head >= port->ExportHandover().frame_nr) {
            return Err("port {}: ring head {} out of range", port_no, head);
          }
          port->SetHead(head);
          port->stats() = StatsFromJson(p.value("stats", json::array()));
          port->rx_counters().oversize = p.value("oversize", uint64_t{0});
        }
      }
      received_.port_heads = true;
      return Ok();
    }
    case MsgType::kStats: {
      HSW_ASSIGN_OR_RETURN(std::vector<dpif::DpFlow> flows, FlowsIn(d));
      for (const dpif::DpFlow& flow : flows) {
        taken_.datapath->flows().SetStats(flow.key, flow.mask, flow.stats);
      }
      ++received_.stats;
      return Ok();
    }
    case MsgType::kUpcall: {
      HSW_ASSIGN_OR_RETURN(dpif::Message m, DatapathMessage(d));
      auto* upcall = std::get_if<dpif::Upcall>(&m.body);
      if (!upcall) return Err("an Upcall message holds no upcall");
      uint64_t now = MonotonicUs();
      uint64_t waited = upcall->queued_us;
      taken_.datapath->miss_queue().Push(std::move(*upcall), now > waited ? now - waited : 0);
      ++received_.upcalls;
      return Ok();
    }
    case MsgType::kConn: {
      HSW_ASSIGN_OR_RETURN(json j, d.Json());
      if (d.fds.size() != 1) return Err("Conn message without its socket");
      if (!taken_.server) return Err("Conn message before the snapshot ended");
      DpServer::ConnHandover c;
      c.hello_done = j.value("hello_done", false);
      c.role = j.value("owner", false) ? dpif::Role::kOwner : dpif::Role::kMonitor;
      c.version = j.value("version", 0u);
      c.name = j.value("name", std::string());
      c.unread = Bytes(j, "unread");
      c.unsent = Bytes(j, "unsent");
      c.upcalls_paused = j.value("upcalls_paused", false);
      c.n_upcalls = j.value("n_upcalls", uint64_t{0});
      if (auto fl = fcntl(d.fds[0].get(), F_GETFL); fl >= 0) {
        fcntl(d.fds[0].get(), F_SETFL, fl | O_NONBLOCK);
      }
      HSW_TRY(taken_.server->AdoptConnection(std::move(d.fds[0]), c));
      ++received_.connections;
      return Ok();
    }
    case MsgType::kFinalEnd:
      received_.final_end = true;
      stage_ = Stage::kDone;
      return Ok();
    default:
      return Err("unexpected {} at the switch-over", MsgName(d.type));
  }
}

Result<Takeover> TakeoverStream::Finish() {
  if (!taken_.server) {
    if (!listener_) return Err("no datapath socket was handed over");
    taken_.server = std::make_unique<DpServer>(*taken_.datapath, std::move(listener_));
  }
  taken_.n_flows = taken_.datapath->flows().n_flows();
  taken_.n_upcalls = received_.upcalls;
  taken_.n_connections = received_.connections;
  return std::move(taken_);
}

// ---------------------------------------------------------------------------
// TakeOver

Result<Takeover> TakeOver(const TakeoverOptions& options) {
  HSW_ASSIGN_OR_RETURN(UniqueFd fd, Connect(SocketPath(options.rundir)));
  const int timeout = options.timeout_ms;

  HSW_TRY(SendJson(fd.get(), MsgType::kHello,
                   json{{"pid", getpid()},
                        {"version", kVersion},
                        {"handover_min", options.versions.min},
                        {"handover_max", options.versions.max},
                        {"dpif_min", dpif::kProtocolVersionMin},
                        {"dpif_max", dpif::kProtocolVersionMax},
                        {"flow_key_size", sizeof(FlowKey)}}));
  HSW_ASSIGN_OR_RETURN(Datagram reply_msg, Expect(fd.get(), MsgType::kHelloReply, timeout));
  HSW_ASSIGN_OR_RETURN(json reply, reply_msg.Json());
  bool accepted = reply.is_object() && reply.contains("accepted") &&
                  reply["accepted"].is_boolean() && reply["accepted"].get<bool>();
  if (!accepted) {
    std::string why = "(no reason given)";
    if (reply.is_object() && reply.contains("error") && reply["error"].is_string()) {
      why = reply["error"].get<std::string>();
    }
    return Err("the running datapath refused the handover: {}", why);
  }
  uint32_t predecessor_pid = 0, version = 0;
  std::string predecessor_version;
  try {
    predecessor_pid = reply.value("pid", 0u);
    predecessor_version = reply.value("version", std::string("?"));
    version = reply.value("handover_version", 0u);
  } catch (const json::exception& e) {
    return Err("the running datapath's HelloReply: {}", e.what());
  }
  // The stream that follows is read as this version: one this build speaks.
  if (version < options.versions.min || version > options.versions.max) {
    return Err("the running datapath chose handover version {}, which this datapath ({}..{}) "
               "does not speak",
               version, options.versions.min, options.versions.max);
  }
  PredecessorWatch predecessor(static_cast<pid_t>(predecessor_pid));
  vlog.Info("taking over from hsw-datapath {} (pid {}), handover version {}",
            predecessor_version, predecessor_pid, version);

  TakeoverStream stream(options.datapath);
  // A failure on the socket is the predecessor giving up (it carries on, so
  // must we not) unless it died: then this process is all there is.
  bool died = false;
  auto socket_failed = [&](const Error& error) -> Status {
    if (!predecessor.DiedWithin(kDeathWaitMs)) return tl::unexpected(error);
    died = true;
    return Ok();
  };
  bool ready_sent = false;
  while (!died && stream.stage() != TakeoverStream::Stage::kDone) {
    if (stream.stage() == TakeoverStream::Stage::kSwitchOver && !ready_sent) {
      if (options.exit_after_snapshot_for_testing) {
        vlog.Err("exiting after the snapshot, as --test-exit-after-snapshot asks");
        _exit(3);
      }
      vlog.Info("snapshot taken: {} ports, {} flows; ready to switch over",
                stream.received().ports, stream.received().flows);
      StopForTest(options.stop_at_for_testing, "snapshot");
      // From Ready until Taken the predecessor does not forward: be quick.
      ready_sent = true;
      if (auto sent = SendJson(fd.get(), MsgType::kReady, json::object()); !sent) {
        HSW_TRY(socket_failed(sent.error()));
        continue;
      }
    }
    auto message = ReceiveDatagram(fd.get(), timeout);
    if (!message) {
      HSW_TRY(socket_failed(message.error()));
      continue;
    }
    HSW_TRY(stream.Apply(*message));
    if (message->type == MsgType::kPortHeads) StopForTest(options.stop_at_for_testing, "switchover");
  }
  if (!died) {
    if (auto sent = SendJson(fd.get(), MsgType::kTaken, json::object()); !sent) {
      HSW_TRY(socket_failed(sent.error()));
    }
  }
  if (died && !stream.received().sockets) {
    return MakeError(fmt::format("the running datapath (pid {}) died before it handed over its "
                                 "ports: nothing was taken over",
                                 predecessor_pid),
                     ESRCH);
  }
  HSW_ASSIGN_OR_RETURN(Takeover t, stream.Finish());
  t.predecessor_pid = predecessor_pid;
  t.predecessor_version = predecessor_version;
  if (died) {
    t.predecessor_died = true;
    t.lost = DescribeLost(stream.received());
  }
  return t;
}

}  // namespace hsw::dp
