#include "ctl/upgrade.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "common/daemon.h"
#include "common/fd.h"
#include "common/version.h"
#include "ctl/control_client.h"
#include "ctl/ctl.h"
#include "dpif/dp_actions.h"
#include "dpif/dpif_client.h"
#include "dpif/handover_wire.h"
#include "packet/flow_key.h"

extern char** environ;

namespace hsw::ctl {
namespace {

using json = nlohmann::json;
namespace handover = dpif::handover;

constexpr int kVersionTimeoutMs = 5000;

// `bin --version --json`, its stdout parsed.  The binary may be anything the
// operator typed, so every way it can fail is named.
Result<BinaryVersion> AskVersion(const std::string& bin) {
  if (access(bin.c_str(), X_OK) != 0) return ErrnoErr("{} is not an executable file", bin);
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) < 0) return ErrnoErr("pipe");
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
  std::vector<std::string> argv = {bin, "--version", "--json"};
  std::vector<char*> c_argv;
  for (auto& a : argv) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, bin.c_str(), &actions, nullptr, c_argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return MakeError(fmt::format("cannot run {}: {}", bin, std::strerror(rc)), rc);
  write_end.Reset();
  std::string out;
  bool timed_out = false;
  for (;;) {
    pollfd p{read_end.get(), POLLIN, 0};
    int ready = poll(&p, 1, kVersionTimeoutMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      timed_out = true;
      break;
    }
    char buffer[4096];
    ssize_t n = read(read_end.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out)
    return Err("{} --version --json did not answer within {} ms", bin, kVersionTimeoutMs);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Err(
        "{} --version --json failed (exit status {}): is it an hsw binary of this "
        "generation?",
        bin, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
  auto info = ParseVersionJson(out);
  if (!info) return Err("{} --version --json: {}", bin, info.error().message);
  return info;
}

// What the running datapath says to a takeover Hello marked as a probe.
Result<json> ProbeDatapath(const std::string& rundir, const BinaryVersion& successor,
                           int timeout_ms) {
  HSW_ASSIGN_OR_RETURN(UniqueFd fd, handover::Connect(handover::SocketPath(rundir)));
  auto range = [&](const char* name) {
    auto it = successor.accepts.find(name);
    return it == successor.accepts.end() ? VersionRange{} : it->second;
  };
  HSW_TRY(handover::SendJson(fd.get(), handover::MsgType::kHello,
                             json{{"probe", true},
                                  {"pid", getpid()},
                                  {"version", successor.version},
                                  {"handover_min", range("handover").min},
                                  {"handover_max", range("handover").max},
                                  {"dpif_min", range("dpif").min},
                                  {"dpif_max", range("dpif").max},
                                  {"flow_key_size", successor.flow_key_size}}));
  HSW_ASSIGN_OR_RETURN(auto reply,
                       handover::Expect(fd.get(), handover::MsgType::kHelloReply, timeout_ms));
  return reply.Json();
}

// The format version in <statedir>/flows.journal's header (after its 8-byte
// magic, little-endian), or 0 when there is no journal.
Result<uint32_t> JournalVersion(const std::string& statedir) {
  std::string path = statedir + "/flows.journal";
  std::ifstream in(path, std::ios::binary);
  if (!in) return 0u;
  unsigned char header[12];
  if (!in.read(reinterpret_cast<char*>(header), sizeof header)) {
    return Err("{} is too short to hold a journal header", path);
  }
  return static_cast<uint32_t>(header[8] | header[9] << 8 | header[10] << 16 | header[11] << 24);
}

// conf.json's schema_version, or 0 when there is no configuration yet.
Result<uint32_t> ConfigVersion(const std::string& statedir) {
  std::string path = statedir + "/conf.json";
  std::ifstream in(path);
  if (!in) return 0u;
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("schema_version") ||
      !j["schema_version"].is_number_unsigned()) {
    return Err("{} has no schema_version", path);
  }
  return j["schema_version"].get<uint32_t>();
}

std::string Range(const json& j, const char* prefix) {
  return fmt::format("{}..{}", j.value(std::string(prefix) + "_min", 0u),
                     j.value(std::string(prefix) + "_max", 0u));
}

class Report {
 public:
  explicit Report(std::ostream& out) : out_(out) {}
  void Ok(const std::string& what) { out_ << "  ok: " << what << "\n"; }
  void Bad(const std::string& what) {
    out_ << "  INCOMPATIBLE: " << what << "\n";
    ++problems_;
  }
  int problems() const { return problems_; }

 private:
  std::ostream& out_;
  int problems_ = 0;
};

// A running daemon as its replacement must repeat it: its pid (from its
// instance lock), its binary (/proc/PID/exe, readable even when the file was
// replaced on disk) and the arguments it is to get again.
struct RunningDaemon {
  pid_t pid = 0;
  std::string exe;
  std::vector<std::string> args;
};

Result<RunningDaemon> FindRunning(const Lifecycle& ctx, const std::string& program,
                                  const ArgumentsNotRepeated& dropped) {
  HSW_ASSIGN_OR_RETURN(auto holder, LockHolder(daemon::LockPath(ctx.rundir, program)));
  if (!holder || *holder <= 0) return Err("{} is not running under {}", program, ctx.rundir);
  RunningDaemon running;
  running.pid = *holder;
  running.exe = fmt::format("/proc/{}/exe", running.pid);
  std::ifstream in(fmt::format("/proc/{}/cmdline", running.pid), std::ios::binary);
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (cmdline.empty()) {
    return Err("cannot read the arguments of {} (pid {}): is it in another pid namespace?", program,
               running.pid);
  }
  std::vector<std::string> argv = SplitCmdline(cmdline);
  argv.erase(argv.begin());
  running.args = ArgumentsToRepeat(argv, dropped);
  return running;
}

// Copies `from` (a binary) to `to` atomically, executable.
Status KeepBinary(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(fs::path(to).parent_path(), ec);
  if (ec) return Err("cannot create {}: {}", fs::path(to).parent_path().string(), ec.message());
  std::string tmp = to + ".tmp";
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing, ec);
  if (ec) return Err("cannot keep {} as {}: {}", from, to, ec.message());
  fs::permissions(tmp,
                  fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                      fs::perms::others_read | fs::perms::others_exec,
                  ec);
  if (rename(tmp.c_str(), to.c_str()) < 0) return ErrnoErr("rename {} to {}", tmp, to);
  return Ok();
}

std::string PreviousBinary(const Lifecycle& ctx, const std::string& program) {
  return ctx.statedir + "/upgrade/previous/" + program;
}

// How a switch onto another binary ended.
enum class Switched {
  kDone,       // the new process runs; its health is checked next
  kUnchanged,  // it failed, and the running process carries on as it was
  kFailed,     // it failed after the running process was stopped
};

// One daemon, as `hsw-ctl upgrade` and `rollback` replace it: how, and how
// the result is checked.
struct Part {
  std::string program;  // "hsw-datapath"
  std::string how;      // "takeover", "restart": what failed, in messages
  ArgumentsNotRepeated dropped;
  // The hitless switch from `running` onto `bin`, with `running`'s
  // arguments; `why` is set when it did not end kDone.
  std::function<Switched(const std::string& bin, const RunningDaemon& running, std::string& why)>
      switch_to;
  // Whether what runs now is a healthy successor of `replaced_pid` (0: any
  // process) of `version` ("": any).
  std::function<Status(pid_t replaced_pid, const std::string& version)> check_health;
  std::string if_rollback_fails;  // what the operator is told then
};

// ---------------------------------------------------------------------------
// hsw-datapath: hot handover

// A minimal Ethernet frame of an EtherType nobody forwards (0x88b5, local
// experimental), as if it came in on the datapath's first port.
dpif::Execute ProbeFrame(const dpif::StatsReply& stats) {
  dpif::Execute probe;
  probe.in_port = stats.ports.empty() ? 0 : stats.ports.front().port_no;
  probe.packet.assign(60, 0);
  probe.packet[12] = 0x88;
  probe.packet[13] = 0xb5;
  return probe;
}

// Whether the datapath now answering is a healthy successor of `old_pid`:
// another process, of `version`, that kept its owner (hsw-vswitchd), runs a
// probe packet through its actions and takes and removes a probe flow.
Status CheckDatapathHealth(const Lifecycle& ctx, pid_t old_pid, const std::string& version,
                           bool had_owner) {
  auto client = dpif::DpifClient::Connect(dpif::DatapathSocketPath(ctx.rundir), dpif::Role::kMonitor,
                                          "hsw-ctl upgrade");
  if (!client) return Err("it does not answer: {}", client.error().ToString());
  (*client)->set_timeout(ctx.timeout);
  const dpif::HelloReply& hello = (*client)->hello();
  if (static_cast<pid_t>(hello.datapath_pid) == old_pid) {
    return Err("the old process (pid {}) still answers", old_pid);
  }
  if (!version.empty() && hello.datapath_version != version) {
    return Err("the datapath answering is version {}, not {}", hello.datapath_version, version);
  }
  HSW_ASSIGN_OR_RETURN(dpif::StatsReply stats, (*client)->GetStats());
  if (had_owner && stats.Counter("owner_connected").value_or(0) == 0) {
    return Err("hsw-vswitchd is no longer connected to it");
  }
  // Executed with no actions: through extraction and the action engine, out
  // of no port.
  dpif::Execute probe = ProbeFrame(stats);
  if (auto executed = (*client)->Execute({probe}); !executed) {
    return Err("it does not execute a probe packet: {}", executed.error().ToString());
  }
  // The reply says the batch was valid; the counter says the packet ran.
  HSW_ASSIGN_OR_RETURN(dpif::StatsReply after, (*client)->GetStats());
  if (after.Counter("executed").value_or(0) <= stats.Counter("executed").value_or(0)) {
    return Err("it does not execute a probe packet (its 'executed' counter did not move)");
  }
  // A flow on a port number no port has, put and deleted.
  dpif::FlowPut put;
  put.key.in_port = 0xfffffff0;
  put.mask = FlowKey::Zero();
  put.mask.in_port = 0xffffffff;
  put.flags = dpif::kPutCreate;
  auto errors = (*client)->FlowPut({put});
  if (!errors || errors->size() != 1 || (*errors)[0] != 0) {
    return Err("it does not take a probe flow: {}",
               errors ? fmt::format("error {}", errors->empty() ? -1 : (*errors)[0])
                      : errors.error().ToString());
  }
  auto deleted = (*client)->FlowDel({dpif::FlowId{put.key, put.mask}});
  if (!deleted) return Err("it does not delete the probe flow: {}", deleted.error().ToString());
  return Ok();
}

// Whether the running datapath has an owner (hsw-vswitchd) connected: its
// successor's health check then requires one too.
bool DatapathHasOwner(const Lifecycle& ctx, const char* client_name) {
  auto client = dpif::DpifClient::Connect(dpif::DatapathSocketPath(ctx.rundir),
                                          dpif::Role::kMonitor, client_name);
  if (!client) return false;
  auto stats = (*client)->GetStats();
  return stats && stats->Counter("owner_connected").value_or(0) != 0;
}

Part DatapathPart(const Lifecycle& ctx) {
  Part part;
  part.program = "hsw-datapath";
  part.how = "takeover";
  part.dropped.flags = {"--takeover", "--detach"};
  part.dropped.with_value = {"--claim-handover-version"};
  part.dropped.flag_prefix = "--test-";
  part.switch_to = [](const std::string& bin, const RunningDaemon& running, std::string& why) {
    std::vector<std::string> argv = {bin, "--takeover", "--detach"};
    argv.insert(argv.end(), running.args.begin(), running.args.end());
    // --detach: returns 0 once the new datapath forwards.
    auto taken = RunAndWait(argv);
    if (taken && *taken == 0) return Switched::kDone;
    why = taken ? fmt::format("exit status {}, its reason is above", *taken)
                : taken.error().ToString();
    return Switched::kUnchanged;  // until it confirmed, the running one lost nothing
  };
  bool had_owner = DatapathHasOwner(ctx, "hsw-ctl upgrade");
  part.check_health = [&ctx, had_owner](pid_t replaced_pid, const std::string& version) {
    return CheckDatapathHealth(ctx, replaced_pid, version, had_owner);
  };
  part.if_rollback_fails = "the new hsw-datapath still forwards. Check its log";
  return part;
}

// ---------------------------------------------------------------------------
// hsw-vswitchd: hitless restart

// The probe rule: in the last table, which a packet reaches only through an
// explicit goto_table:253, matching a metadata value only a write_metadata of
// exactly that value could give a packet; the cookie ("hsw-upgr") finds it.
constexpr const char* kProbeRule =
    "table=253,priority=1,cookie=0x6873772d75706772,metadata=0x6873772d75706772,actions=drop";
constexpr const char* kProbeRuleMatch = "table=253,cookie=0x6873772d75706772";

// Action upcalls hsw-vswitchd received, from its `show` counters.
uint64_t ActionUpcalls(const nlohmann::json& show) {
  for (const auto& counter : show.value("counters", json::array())) {
    if (counter.is_array() && counter.size() == 2 && counter[0] == "upcalls_action" &&
        counter[1].is_number_unsigned()) {
      return counter[1].get<uint64_t>();
    }
  }
  return 0;
}

// Adds the probe rule to `bridge`, checks it is there, deletes it and checks
// it is gone.
Status ProbeFlowMod(ControlClient& client, const std::string& bridge) {
  auto dumped = [&]() -> Result<size_t> {
    HSW_ASSIGN_OR_RETURN(
        json lines, client.Call("dump-flows", {{"bridge", bridge}, {"match", kProbeRuleMatch}}));
    return lines.is_array() ? lines.size() : 0;
  };
  if (auto added = client.Call("add-flow", {{"bridge", bridge}, {"flow", kProbeRule}}); !added) {
    return Err("it does not accept a flow-mod (a probe rule in table 253 of {}): {}", bridge,
               added.error().message);
  }
  HSW_ASSIGN_OR_RETURN(size_t after_add, dumped());
  if (after_add != 1) {
    return Err("the probe rule it accepted is not in table 253 of {} ({} found)", bridge,
               after_add);
  }
  if (auto deleted = client.Call("del-flows", {{"bridge", bridge}, {"match", kProbeRuleMatch}});
      !deleted) {
    return Err("it does not delete the probe rule from {}: {}", bridge, deleted.error().message);
  }
  HSW_ASSIGN_OR_RETURN(size_t after_delete, dumped());
  if (after_delete != 0) return Err("the probe rule is still in table 253 of {}", bridge);
  return Ok();
}

// Whether the hsw-vswitchd running now is a healthy successor of
// `replaced_pid`: a new process, of `version`, answering on its control
// socket with its tables loaded, the owner of the datapath that answers on
// datapath.sock, taking and deleting a probe rule, and handling an upcall.
// All within ctx.timeout.
Status CheckVswitchdHealth(const Lifecycle& ctx, pid_t replaced_pid, const std::string& version) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + ctx.timeout;
  auto left = [&] {
    return std::max(std::chrono::milliseconds(1),
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
  };
  HSW_ASSIGN_OR_RETURN(auto holder, LockHolder(daemon::LockPath(ctx.rundir, "hsw-vswitchd")));
  if (!holder || *holder <= 0) return Err("it is not running");
  const pid_t pid = *holder;
  if (pid == replaced_pid) return Err("the old process (pid {}) still runs", replaced_pid);

  auto client = ControlClient::Connect(ctx.rundir + "/vswitchd.ctl", left());
  if (!client) return Err("it does not answer on its control socket: {}", client.error().message);
  auto show = client->Call("show");
  if (!show) return Err("it does not answer on its control socket: {}", show.error().message);
  if (show->value("pid", 0) != pid) {
    return Err("pid {} answers on {}/vswitchd.ctl, not pid {}", show->value("pid", 0), ctx.rundir,
               pid);
  }
  if (!version.empty() && show->value("version", std::string()) != version) {
    return Err("it is version {}, not {}", show->value("version", std::string("?")), version);
  }
  if (!show->value("tables_loaded", false)) return Err("its tables are not loaded");

  // Connected, in its own eyes and in the datapath's: the datapath has one
  // owner at most, and the old hsw-vswitchd is gone, so an owner is this one.
  const json datapath = show->value("datapath", json::object());
  if (!datapath.value("connected", false)) return Err("it is not connected to hsw-datapath");
  auto dp = dpif::DpifClient::Connect(dpif::DatapathSocketPath(ctx.rundir), dpif::Role::kMonitor,
                                      "hsw-ctl upgrade");
  if (!dp) return Err("hsw-datapath does not answer: {}", dp.error().ToString());
  (*dp)->set_timeout(left());
  HSW_ASSIGN_OR_RETURN(dpif::StatsReply stats, (*dp)->GetStats());
  if (stats.Counter("owner_connected").value_or(0) == 0) {
    return Err("hsw-datapath has no owner: it does not see hsw-vswitchd connected");
  }
  if (datapath.value("pid", 0u) != (*dp)->hello().datapath_pid) {
    return Err("it is connected to hsw-datapath pid {}, but pid {} answers on datapath.sock",
               datapath.value("pid", 0u), (*dp)->hello().datapath_pid);
  }

  const json bridges = show->value("bridges", json::array());
  if (!bridges.empty()) HSW_TRY(ProbeFlowMod(*client, bridges[0].value("name", std::string())));

  // An upcall: a probe frame executed by the datapath with a userspace
  // action whose userdata is no controller's, so that hsw-vswitchd counts
  // it and drops it (no packet-in, no flow).  It travels the misses' way:
  // through the datapath's queue to the owner.
  dpif::Execute probe = ProbeFrame(stats);
  const std::string userdata = "hsw-ctl upgrade probe";
  probe.actions.push_back(DpUserspace{std::vector<uint8_t>(userdata.begin(), userdata.end())});
  const uint64_t before = ActionUpcalls(*show);
  if (auto executed = (*dp)->Execute({probe}); !executed) {
    return Err("hsw-datapath does not execute the probe upcall: {}", executed.error().ToString());
  }
  // The upcall is read on hsw-vswitchd's event loop, not before the reply
  // to a request: ask again until it shows (no event to wait on instead).
  for (;;) {
    auto now = client->Call("show");
    if (!now) return Err("it stopped answering: {}", now.error().message);
    if (ActionUpcalls(*now) > before) return Ok();
    if (Clock::now() >= deadline) {
      return Err("it did not handle a probe upcall within {} ms", ctx.timeout.count());
    }
    usleep(10 * 1000);
  }
}

// hsw-vswitchd's switch onto `bin`: the restart of `hsw-ctl restart` when it
// runs; when it does not (a start failed), the start that `restart` would
// have done, restoring what its stop saved.
Switched RestartVswitchdOnto(const Lifecycle& ctx, const std::string& bin,
                             const RunningDaemon& running, std::string& why) {
  RestartOptions restart;
  restart.vswitchd_args = running.args;
  restart.vswitchd_bin = bin;
  auto holder = LockHolder(daemon::LockPath(ctx.rundir, "hsw-vswitchd"));
  int code;
  if (holder && *holder) {
    code = RestartLocked(ctx, restart);
  } else {
    StartOptions start;
    start.restore_dir = RestartFlowsDir(ctx, restart);
    start.vswitchd_args = running.args;
    start.vswitchd_bin = bin;
    code = StartLocked(ctx, start);
  }
  if (code == kExitOk) return Switched::kDone;
  why = "its reason is above";
  // A restart that failed before its stop changed nothing.
  auto now = LockHolder(daemon::LockPath(ctx.rundir, "hsw-vswitchd"));
  return now && *now && **now == running.pid ? Switched::kUnchanged : Switched::kFailed;
}

Part VswitchdPart(const Lifecycle& ctx) {
  Part part;
  part.program = "hsw-vswitchd";
  part.how = "restart";
  // start adds --detach, --pidfile, --rundir, --statedir and, with a save to
  // restore, --flow-restore-wait itself.
  part.dropped.flags = {"--detach", "--flow-restore-wait"};
  part.dropped.with_value = {"--rundir", "--statedir"};
  part.dropped.with_optional_value = {"--pidfile"};
  part.dropped.flag_prefix = "--test-";
  part.switch_to = [&ctx](const std::string& bin, const RunningDaemon& running, std::string& why) {
    return RestartVswitchdOnto(ctx, bin, running, why);
  };
  part.check_health = [&ctx](pid_t replaced_pid, const std::string& version) {
    return CheckVswitchdHealth(ctx, replaced_pid, version);
  };
  part.if_rollback_fails =
      "check hsw-vswitchd's log; `hsw-ctl start` starts the kept binary's directory's "
      "hsw-vswitchd, the datapath forwards meanwhile";
  return part;
}

// ---------------------------------------------------------------------------
// The replacement, for either part

int Fail(const Lifecycle& ctx, const std::string& message) {
  ctx.err << "hsw-ctl: " << message << "\n" << std::flush;
  return 1;
}

// Replaces the running `part` by `bin` (hitless), keeping the running binary
// as the previous one once `bin` proved itself; rolls back if it did not.
// `verb` is "upgrade" or "rollback".
int Replace(const Lifecycle& ctx, const Part& part, const std::string& bin,
            const std::string& version, const char* verb) {
  auto running = FindRunning(ctx, part.program, part.dropped);
  if (!running) return Fail(ctx, running.error().ToString());
  // Kept beside the final name first: the previous binary is replaced only
  // once the new one has proved itself.
  std::string previous = PreviousBinary(ctx, part.program);
  std::string keeping = previous + ".new";
  if (auto kept = KeepBinary(running->exe, keeping); !kept) {
    return Fail(ctx, kept.error().ToString() + "; nothing was changed");
  }
  ctx.out << fmt::format("{}: {} replaces {} pid {} ({})\n", verb, bin, part.program, running->pid,
                         part.how)
          << std::flush;
  auto started = std::chrono::steady_clock::now();
  std::string why;
  Switched switched = part.switch_to(bin, *running, why);
  if (switched == Switched::kUnchanged) {
    unlink(keeping.c_str());
    return Fail(ctx, fmt::format("{} failed during the {} ({}); the running {} (pid {}) carries "
                                 "on, nothing was changed",
                                 verb, part.how, why, part.program, running->pid));
  }
  Status healthy = switched == Switched::kDone ? part.check_health(running->pid, version) : Ok();
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  if (switched == Switched::kDone && healthy) {
    if (rename(keeping.c_str(), previous.c_str()) < 0) {
      ctx.err << fmt::format("hsw-ctl: warning: cannot keep the previous binary as {}: {}\n",
                             previous, std::strerror(errno));
    }
    ctx.out << fmt::format(
        "{} done in {:.0f} ms: {} runs {} and passed the health check; the "
        "binary it replaced is kept as {} (hsw-ctl rollback)\n",
        verb, ms, part.program, bin, previous);
    return 0;
  }
  const char* which = std::string_view(verb) == "upgrade" ? "new" : "kept";
  Fail(ctx, fmt::format("the {} {} {}; rolling back to the binary it replaced", which, part.program,
                        healthy ? fmt::format("failed during the {} ({})", part.how, why)
                                : "failed its health check: " + healthy.error().message));
  std::string back_why;
  Status back = part.switch_to(keeping, *running, back_why) == Switched::kDone
                    ? part.check_health(0, "")
                    : Status(Err("the {} failed ({})", part.how, back_why));
  if (back) {
    Fail(ctx, fmt::format("rolled back: {} runs the binary it ran before and passed the health "
                          "check",
                          part.program));
  } else {
    Fail(ctx, fmt::format("the rollback failed too: {}; {}", back.error().message,
                          part.if_rollback_fails));
  }
  unlink(keeping.c_str());
  return 1;
}

struct NewVersions {
  std::optional<BinaryVersion> datapath, vswitchd;
};

int CheckUpgrade(const Lifecycle& ctx, const UpgradeCheckOptions& options,
                 NewVersions* new_versions_out);

}  // namespace

int UpgradeCommand(const Lifecycle& ctx, const UpgradeOptions& options) {
  if (options.datapath_bin.empty() && options.vswitchd_bin.empty()) {
    ctx.err << "hsw-ctl: upgrade needs --datapath NEWBIN and/or --vswitchd NEWBIN\n";
    return 2;
  }
  auto lock = TakeCtlLock(ctx.rundir, ctx.timeout);  // no start/stop/restart meanwhile
  if (!lock) return Fail(ctx, lock.error().ToString());
  ctx.out << "checking:\n";
  NewVersions versions;
  if (int check = CheckUpgrade(ctx, UpgradeCheckOptions{options.datapath_bin, options.vswitchd_bin},
                               &versions);
      check != 0) {
    return check;
  }
  if (!options.datapath_bin.empty()) {
    int code = Replace(ctx, DatapathPart(ctx), options.datapath_bin,
                       versions.datapath ? versions.datapath->version : "", "upgrade");
    if (code != 0) {
      if (!options.vswitchd_bin.empty()) {
        Fail(ctx, "hsw-vswitchd was not upgraded: the datapath went first and failed");
      }
      return code;
    }
  }
  if (!options.vswitchd_bin.empty()) {
    int code = Replace(ctx, VswitchdPart(ctx), options.vswitchd_bin,
                       versions.vswitchd ? versions.vswitchd->version : "", "upgrade");
    if (code != 0 && !options.datapath_bin.empty()) {
      Fail(ctx, fmt::format("the new hsw-datapath stays: it passed its own health check and the "
                            "previous hsw-vswitchd works with it; `hsw-ctl rollback --datapath` "
                            "takes it back to {}",
                            PreviousBinary(ctx, "hsw-datapath")));
    }
    return code;
  }
  return 0;
}

int RollbackCommand(const Lifecycle& ctx, const RollbackOptions& options) {
  // Either part named, or every part with a kept binary; hsw-vswitchd first,
  // the reverse of the upgrade's order.
  bool any_named = options.datapath || options.vswitchd;
  std::vector<std::string> programs;
  for (auto [program, named] :
       {std::pair{"hsw-vswitchd", options.vswitchd}, std::pair{"hsw-datapath", options.datapath}}) {
    bool kept = access(PreviousBinary(ctx, program).c_str(), X_OK) == 0;
    if (named && !kept) {
      return Fail(ctx, fmt::format("no previous {} kept at {} (none was upgraded); nothing was "
                                   "changed",
                                   program, PreviousBinary(ctx, program)));
    }
    if (kept && (named || !any_named)) programs.push_back(program);
  }
  if (programs.empty()) {
    return Fail(ctx, fmt::format("no previous binary kept in {}/upgrade/previous (none was "
                                 "upgraded); nothing was changed",
                                 ctx.statedir));
  }
  auto lock = TakeCtlLock(ctx.rundir, ctx.timeout);
  if (!lock) return Fail(ctx, lock.error().ToString());
  for (const std::string& program : programs) {
    std::string previous = PreviousBinary(ctx, program);
    auto info = AskVersion(previous);
    Part part = program == "hsw-datapath" ? DatapathPart(ctx) : VswitchdPart(ctx);
    if (int code = Replace(ctx, part, previous, info ? info->version : "", "rollback")) {
      return code;
    }
  }
  return 0;
}

namespace {

// upgrade-check; when it passes, *new_versions_out (if given) is what the new
// binaries said of themselves.
int CheckUpgrade(const Lifecycle& ctx, const UpgradeCheckOptions& options,
                 NewVersions* new_versions_out) {
  if (options.datapath_bin.empty() && options.vswitchd_bin.empty()) {
    ctx.err << "hsw-ctl: upgrade-check needs --datapath NEWBIN and/or --vswitchd NEWBIN\n";
    return 2;
  }
  const int timeout_ms = static_cast<int>(ctx.timeout.count());
  Report report(ctx.out);
  std::optional<BinaryVersion> new_datapath, new_vswitchd;
  for (auto [bin, program, slot] :
       {std::tuple{options.datapath_bin, "hsw-datapath", &new_datapath},
        std::tuple{options.vswitchd_bin, "hsw-vswitchd", &new_vswitchd}}) {
    if (bin.empty()) continue;
    auto info = AskVersion(bin);
    if (!info) {
      ctx.err << "hsw-ctl: " << info.error().ToString() << "\n";
      return 1;
    }
    if (info->program != program) {
      ctx.err << fmt::format("hsw-ctl: {} says it is {}, not {}\n", bin, info->program, program);
      return 1;
    }
    ctx.out << fmt::format("new {}: {} {}\n", program, bin, DescribeVersion(*info));
    *slot = std::move(*info);
  }

  // The running datapath answers for itself, as it would to a takeover.
  BinaryVersion asked;
  if (new_datapath) {
    asked = *new_datapath;
  } else {
    asked.program = "hsw-ctl";  // only its ranges are wanted back
  }
  auto running = ProbeDatapath(ctx.rundir, asked, timeout_ms);
  if (!running) {
    ctx.err << "hsw-ctl: cannot ask the running hsw-datapath: " << running.error().ToString()
            << "\n";
    return 1;
  }
  std::string clients;
  for (const json& c : running->value("clients", json::array())) {
    clients += fmt::format("{}{} (datapath protocol {})", clients.empty() ? "" : ", ",
                           c.value("name", std::string("?")), c.value("dpif", 0u));
  }
  ctx.out << fmt::format(
      "running hsw-datapath: {} (pid {}; handover {}, datapath protocol {}); {} ports, {} "
      "flows; clients: {}\n",
      running->value("version", std::string("?")), running->value("pid", 0),
      Range(*running, "handover"), Range(*running, "dpif"), running->value("ports", 0),
      running->value("flows", 0), clients.empty() ? "none" : clients);

  if (new_datapath) {
    ctx.out << "hsw-datapath (hot handover):\n";
    if (running->value("accepted", false)) {
      report.Ok("the running datapath would hand over its ports, flows and connections");
    } else {
      report.Bad("the running datapath would refuse the handover: " +
                 running->value("error", std::string("(no reason given)")));
    }
  }

  if (new_vswitchd) {
    ctx.out << "hsw-vswitchd (hitless restart):\n";
    const VersionRange dpif =
        new_vswitchd->accepts.count("dpif") ? new_vswitchd->accepts.at("dpif") : VersionRange{};
    // The datapath it will talk to: the new one when both are upgraded.
    VersionRange datapath_dpif{running->value("dpif_min", 0u), running->value("dpif_max", 0u)};
    std::string which = "the running hsw-datapath";
    uint32_t key_size = running->value("flow_key_size", 0u);
    if (new_datapath && new_datapath->accepts.count("dpif")) {
      datapath_dpif = new_datapath->accepts.at("dpif");
      which = "the new hsw-datapath";
      key_size = new_datapath->flow_key_size;
    }
    if (uint32_t common = dpif.HighestCommon(datapath_dpif)) {
      report.Ok(fmt::format("datapath protocol {} with {} ({}..{})", common, which,
                            datapath_dpif.min, datapath_dpif.max));
    } else {
      report.Bad(fmt::format("datapath protocol: the new hsw-vswitchd speaks {}..{}, {} {}..{}",
                             dpif.min, dpif.max, which, datapath_dpif.min, datapath_dpif.max));
    }
    if (key_size && new_vswitchd->flow_key_size != key_size) {
      report.Bad(fmt::format("flow key layout: the new hsw-vswitchd has {} bytes, {} {}",
                             new_vswitchd->flow_key_size, which, key_size));
    }
    for (auto [name, file, read] : {std::tuple{"journal", "flows.journal", &JournalVersion},
                                    std::tuple{"config", "conf.json", &ConfigVersion}}) {
      auto on_disk = read(ctx.statedir);
      if (!on_disk) {
        report.Bad(on_disk.error().message);
        continue;
      }
      VersionRange accepted =
          new_vswitchd->accepts.count(name) ? new_vswitchd->accepts.at(name) : VersionRange{};
      if (*on_disk == 0) {
        report.Ok(fmt::format("no {} yet in {}", file, ctx.statedir));
      } else if (accepted.Contains(*on_disk)) {
        report.Ok(fmt::format("{} format {} (the new hsw-vswitchd reads {}..{})", file, *on_disk,
                              accepted.min, accepted.max));
      } else {
        report.Bad(fmt::format("{}/{} is format {}; the new hsw-vswitchd reads {}..{}",
                               ctx.statedir, file, *on_disk, accepted.min, accepted.max));
      }
    }
  }

  if (report.problems()) {
    ctx.out << fmt::format("upgrade NOT possible: {} incompatibilit{}; nothing was changed\n",
                           report.problems(), report.problems() == 1 ? "y" : "ies");
    return 1;
  }
  ctx.out << "upgrade possible\n";
  if (new_versions_out)
    *new_versions_out = NewVersions{std::move(new_datapath), std::move(new_vswitchd)};
  return 0;
}

}  // namespace

int UpgradeCheckCommand(const Lifecycle& ctx, const UpgradeCheckOptions& options) {
  return CheckUpgrade(ctx, options, nullptr);
}

int TakeOverCommand(const Lifecycle& ctx, const TakeOverOptions& options) {
  auto datapath_bin = FindDaemonBinary("hsw-datapath", options.bindir);
  if (!datapath_bin) return Fail(ctx, datapath_bin.error().ToString());
  auto vswitchd_bin = FindDaemonBinary("hsw-vswitchd", options.bindir);
  if (!vswitchd_bin) return Fail(ctx, vswitchd_bin.error().ToString());
  auto lock = TakeCtlLock(ctx.rundir, ctx.timeout);
  if (!lock) return Fail(ctx, lock.error().ToString());
  auto since = std::chrono::steady_clock::now();

  auto datapath = LockHolder(daemon::LockPath(ctx.rundir, "hsw-datapath"));
  if (!datapath) return Fail(ctx, datapath.error().ToString());
  auto vswitchd = LockHolder(daemon::LockPath(ctx.rundir, "hsw-vswitchd"));
  if (!vswitchd) return Fail(ctx, vswitchd.error().ToString());
  // What a start does when nothing (or only the datapath) runs.
  StartOptions start;
  start.bindir = options.bindir;
  start.database = options.database;
  start.datapath_args = options.datapath_args;
  start.vswitchd_args = options.vswitchd_args;
  start.vswitchd_bin = *vswitchd_bin;
  if (!*datapath && !*vswitchd) {
    ctx.out << "take-over: nothing runs on " << ctx.rundir << "; starting\n" << std::flush;
    return StartLocked(ctx, start);
  }

  ctx.out << "checking:\n";
  NewVersions versions;
  UpgradeCheckOptions check{*datapath ? *datapath_bin : "", *vswitchd ? *vswitchd_bin : ""};
  if (int code = CheckUpgrade(ctx, check, &versions); code != 0) return code;

  if (*datapath) {
    bool had_owner = DatapathHasOwner(ctx, "hsw-ctl take-over");
    std::vector<std::string> argv = {*datapath_bin, "--takeover", "--detach", "--pidfile",
                                     "--rundir", ctx.rundir};
    argv.insert(argv.end(), options.datapath_args.begin(), options.datapath_args.end());
    ctx.out << fmt::format("take-over: {} takes over the running hsw-datapath\n", *datapath_bin)
            << std::flush;
    auto taken = RunAndWait(argv);
    if (!taken || *taken != 0) {
      return Fail(ctx, fmt::format("the takeover of hsw-datapath failed ({}); the running one "
                                   "carries on, nothing was changed",
                                   taken ? fmt::format("exit status {}, its reason is above", *taken)
                                         : taken.error().ToString()));
    }
    // Pids say nothing here: the old and the new process may have the same
    // pid, each in its own namespace.
    Status healthy = CheckDatapathHealth(
        ctx, 0, versions.datapath ? versions.datapath->version : "", had_owner);
    if (!healthy) {
      return Fail(ctx, "the new hsw-datapath failed its health check: " + healthy.error().message);
    }
    ctx.out << "take-over: hsw-datapath passed the health check\n" << std::flush;
  }

  int code;
  if (*vswitchd) {
    RestartOptions restart;
    restart.database = options.database;
    restart.vswitchd_args = options.vswitchd_args;
    restart.vswitchd_bin = *vswitchd_bin;
    code = RestartLocked(ctx, restart);
  } else {
    code = StartLocked(ctx, start);
  }
  if (code != 0) return code;
  Status healthy =
      CheckVswitchdHealth(ctx, 0, versions.vswitchd ? versions.vswitchd->version : "");
  if (!healthy) {
    return Fail(ctx, "the new hsw-vswitchd failed its health check: " + healthy.error().message);
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since)
                  .count();
  ctx.out << fmt::format("take-over done in {:.0f} ms: both daemons run {} and passed the "
                         "health check\n",
                         ms, options.bindir.empty() ? "this installation's binaries"
                                                    : "the binaries of " + options.bindir);
  return 0;
}

std::vector<std::string> ArgumentsToRepeat(const std::vector<std::string>& args,
                                           const ArgumentsNotRepeated& dropped) {
  auto named = [](const std::vector<std::string>& names, const std::string& arg) {
    for (const std::string& name : names) {
      if (arg == name || arg.rfind(name + "=", 0) == 0) return true;
    }
    return false;
  };
  std::vector<std::string> kept;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    bool separate_value = arg.find('=') == std::string::npos && i + 1 < args.size();
    if (named(dropped.with_value, arg)) {
      if (separate_value) ++i;
    } else if (named(dropped.with_optional_value, arg)) {
      if (separate_value && args[i + 1].rfind('-', 0) != 0) ++i;
    } else if (!named(dropped.flags, arg) &&
               (dropped.flag_prefix.empty() || arg.rfind(dropped.flag_prefix, 0) != 0)) {
      kept.push_back(arg);
    }
  }
  return kept;
}

std::vector<std::string> SplitCmdline(std::string_view cmdline) {
  std::vector<std::string> words;
  for (size_t start = 0; start < cmdline.size();) {
    size_t end = cmdline.find('\0', start);
    if (end == std::string_view::npos) end = cmdline.size();
    words.emplace_back(cmdline.substr(start, end - start));
    start = end + 1;
  }
  return words;
}

}  // namespace hsw::ctl
