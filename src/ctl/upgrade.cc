#include "ctl/upgrade.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "common/fd.h"
#include "common/version.h"
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
  if (timed_out) return Err("{} --version --json did not answer within {} ms", bin,
                            kVersionTimeoutMs);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Err("{} --version --json failed (exit status {}): is it an hsw binary of this "
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
  HSW_ASSIGN_OR_RETURN(auto reply, handover::Expect(fd.get(), handover::MsgType::kHelloReply,
                                                    timeout_ms));
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

// A datapath counter by name (0 when the datapath has no such counter).
uint64_t CounterOf(const dpif::StatsReply& stats, std::string_view name) {
  for (const auto& [key, value] : stats.counters) {
    if (key == name) return value;
  }
  return 0;
}

// The running datapath as a takeover must repeat it: its pid (from its
// instance lock), its binary (/proc/PID/exe, readable even when the file was
// replaced on disk) and its arguments minus those of a one-off start.
struct RunningDatapath {
  pid_t pid = 0;
  std::string exe;
  std::vector<std::string> args;
};

Result<RunningDatapath> FindRunningDatapath(const Lifecycle& ctx) {
  HSW_ASSIGN_OR_RETURN(auto holder, LockHolder(ctx.rundir + "/hsw-datapath.lock"));
  if (!holder || *holder <= 0) return Err("hsw-datapath is not running under {}", ctx.rundir);
  RunningDatapath running;
  running.pid = *holder;
  running.exe = fmt::format("/proc/{}/exe", running.pid);
  std::ifstream in(fmt::format("/proc/{}/cmdline", running.pid), std::ios::binary);
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (cmdline.empty()) {
    return Err("cannot read the arguments of hsw-datapath (pid {}): is it in another pid "
               "namespace?",
               running.pid);
  }
  std::vector<std::string> argv;
  for (size_t start = 0; start < cmdline.size();) {
    size_t end = cmdline.find('\0', start);
    if (end == std::string::npos) end = cmdline.size();
    argv.push_back(cmdline.substr(start, end - start));
    start = end + 1;
  }
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg == "--takeover" || arg == "--detach" || arg.rfind("--test-", 0) == 0) continue;
    if (arg == "--claim-handover-version") {
      ++i;  // and its value
      continue;
    }
    if (arg.rfind("--claim-handover-version=", 0) == 0) continue;
    running.args.push_back(arg);
  }
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
  fs::permissions(tmp, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                           fs::perms::others_read | fs::perms::others_exec,
                  ec);
  if (rename(tmp.c_str(), to.c_str()) < 0) return ErrnoErr("rename {} to {}", tmp, to);
  return Ok();
}

// `bin --takeover --detach ARGS`: 0 once the new datapath forwards.
Result<int> TakeOverWith(const std::string& bin, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {bin, "--takeover", "--detach"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunAndWait(argv);
}

// Whether the datapath now answering is a healthy successor of `old_pid`:
// another process, of `version`, that kept its owner (hsw-vswitchd), runs a
// probe packet through its actions and takes and removes a probe flow.
Status CheckDatapathHealth(const Lifecycle& ctx, pid_t old_pid, const std::string& version,
                           bool had_owner) {
  auto client = dpif::DpifClient::Connect(ctx.rundir + "/datapath.sock", dpif::Role::kMonitor,
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
  if (had_owner && CounterOf(stats, "owner_connected") == 0) {
    return Err("hsw-vswitchd is no longer connected to it");
  }
  // A minimal Ethernet frame, executed with no actions: through extraction
  // and the action engine, out of no port.
  dpif::Execute probe;
  probe.in_port = stats.ports.empty() ? 0 : stats.ports.front().port_no;
  probe.packet.assign(60, 0);
  probe.packet[12] = 0x88;  // an EtherType nobody forwards (local experimental)
  probe.packet[13] = 0xb5;
  if (auto executed = (*client)->Execute({probe}); !executed) {
    return Err("it does not execute a probe packet: {}", executed.error().ToString());
  }
  // The reply says the batch was valid; the counter says the packet ran.
  HSW_ASSIGN_OR_RETURN(dpif::StatsReply after, (*client)->GetStats());
  if (CounterOf(after, "executed") <= CounterOf(stats, "executed")) {
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

std::string PreviousDatapath(const Lifecycle& ctx) {
  return ctx.statedir + "/upgrade/previous/hsw-datapath";
}

// Replaces the running datapath by `bin` (hitless), keeping the running
// binary as the previous one; rolls back if the result is unhealthy.
int ReplaceDatapath(const Lifecycle& ctx, const std::string& bin, const std::string& version,
                    const char* verb) {
  auto running = FindRunningDatapath(ctx);
  if (!running) {
    ctx.err << "hsw-ctl: " << running.error().ToString() << "\n";
    return 1;
  }
  bool had_owner = false;
  if (auto client = dpif::DpifClient::Connect(ctx.rundir + "/datapath.sock",
                                              dpif::Role::kMonitor, "hsw-ctl upgrade")) {
    if (auto stats = (*client)->GetStats()) had_owner = CounterOf(*stats, "owner_connected") != 0;
  }
  // Kept beside the final name first: the previous binary is replaced only
  // once the new one has proved itself.
  std::string previous = PreviousDatapath(ctx);
  std::string keeping = previous + ".new";
  if (auto kept = KeepBinary(running->exe, keeping); !kept) {
    ctx.err << "hsw-ctl: " << kept.error().ToString() << "; nothing was changed\n";
    return 1;
  }
  ctx.out << fmt::format("{}: {} takes over from hsw-datapath pid {}\n", verb, bin, running->pid)
          << std::flush;
  auto started = std::chrono::steady_clock::now();
  auto taken = TakeOverWith(bin, running->args);
  if (!taken || *taken != 0) {
    unlink(keeping.c_str());
    ctx.err << fmt::format("hsw-ctl: {} failed during the takeover ({}); the running "
                           "hsw-datapath (pid {}) carries on, nothing was changed\n",
                           verb,
                           taken ? fmt::format("exit status {}, its reason is above", *taken)
                                 : taken.error().ToString(),
                           running->pid);
    return 1;
  }
  auto healthy = CheckDatapathHealth(ctx, running->pid, version, had_owner);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                  .count();
  if (healthy) {
    if (rename(keeping.c_str(), previous.c_str()) < 0) {
      ctx.err << fmt::format("hsw-ctl: warning: cannot keep the previous binary as {}: {}\n",
                             previous, std::strerror(errno));
    }
    ctx.out << fmt::format("{} done in {:.0f} ms: the new hsw-datapath forwards and passed the "
                           "health check; the previous binary is kept as {} (hsw-ctl rollback)\n",
                           verb, ms, previous);
    return 0;
  }
  ctx.err << fmt::format("hsw-ctl: the new hsw-datapath failed its health check: {}; rolling "
                         "back to the previous binary\n",
                         healthy.error().message);
  auto back = TakeOverWith(keeping, running->args);
  if (back && *back == 0 && CheckDatapathHealth(ctx, 0, "", had_owner)) {
    ctx.err << "hsw-ctl: rolled back: the previous hsw-datapath forwards again\n";
  } else {
    ctx.err << "hsw-ctl: the rollback failed too; the new hsw-datapath still forwards. Check "
               "its log\n";
  }
  return 1;
}

int CheckUpgrade(const Lifecycle& ctx, const UpgradeCheckOptions& options,
                 std::optional<BinaryVersion>* new_datapath_out);

}  // namespace

int UpgradeCommand(const Lifecycle& ctx, const UpgradeOptions& options) {
  if (options.datapath_bin.empty()) {
    ctx.err << "hsw-ctl: upgrade needs --datapath NEWBIN (for hsw-vswitchd, run the new "
               "release's hsw-ctl restart: it starts the hsw-vswitchd beside it)\n";
    return 2;
  }
  auto lock = TakeCtlLock(ctx.rundir, ctx.timeout);  // no start/stop/restart meanwhile
  if (!lock) {
    ctx.err << "hsw-ctl: " << lock.error().ToString() << "\n";
    return 1;
  }
  ctx.out << "checking:\n";
  std::optional<BinaryVersion> info;
  if (int check = CheckUpgrade(ctx, UpgradeCheckOptions{options.datapath_bin, ""}, &info);
      check != 0) {
    return check;
  }
  return ReplaceDatapath(ctx, options.datapath_bin, info ? info->version : "", "upgrade");
}

int RollbackCommand(const Lifecycle& ctx) {
  std::string previous = PreviousDatapath(ctx);
  if (access(previous.c_str(), X_OK) != 0) {
    ctx.err << fmt::format("hsw-ctl: no previous hsw-datapath kept at {} (none was upgraded)\n",
                           previous);
    return 1;
  }
  auto lock = TakeCtlLock(ctx.rundir, ctx.timeout);
  if (!lock) {
    ctx.err << "hsw-ctl: " << lock.error().ToString() << "\n";
    return 1;
  }
  auto info = AskVersion(previous);
  return ReplaceDatapath(ctx, previous, info ? info->version : "", "rollback");
}

namespace {

// upgrade-check; when it passes, *new_datapath_out (if given) is what the new
// datapath binary said of itself.
int CheckUpgrade(const Lifecycle& ctx, const UpgradeCheckOptions& options,
                 std::optional<BinaryVersion>* new_datapath_out) {
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
    const VersionRange dpif = new_vswitchd->accepts.count("dpif")
                                  ? new_vswitchd->accepts.at("dpif")
                                  : VersionRange{};
    // The datapath it will talk to: the new one when both are upgraded.
    VersionRange datapath_dpif{running->value("dpif_min", 0u), running->value("dpif_max", 0u)};
    std::string which = "the running hsw-datapath";
    uint32_t key_size = running->value("flow_key_size", 0u);
    if (new_datapath && new_datapath->accepts.count("dpif")) {
      datapath_dpif = new_datapath->accepts.at("dpif");
      which = "the new hsw-datapath";
      key_size = new_datapath->flow_key_size;
    }
    uint32_t common = std::min(dpif.max, datapath_dpif.max);
    if (common >= std::max(dpif.min, datapath_dpif.min) && common > 0) {
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
    for (auto [name, file, read] :
         {std::tuple{"journal", "flows.journal", &JournalVersion},
          std::tuple{"config", "conf.json", &ConfigVersion}}) {
      auto on_disk = read(ctx.statedir);
      if (!on_disk) {
        report.Bad(on_disk.error().message);
        continue;
      }
      VersionRange accepted = new_vswitchd->accepts.count(name) ? new_vswitchd->accepts.at(name)
                                                                 : VersionRange{};
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
  if (new_datapath_out) *new_datapath_out = std::move(new_datapath);
  return 0;
}

}  // namespace

int UpgradeCheckCommand(const Lifecycle& ctx, const UpgradeCheckOptions& options) {
  return CheckUpgrade(ctx, options, nullptr);
}

}  // namespace hsw::ctl
