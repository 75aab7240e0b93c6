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

#include "common/fd.h"
#include "common/version.h"
#include "dpif/handover_wire.h"

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
  std::string path = rundir + "/datapath.handover";
  HSW_ASSIGN_OR_RETURN(UniqueFd fd, handover::Connect(path));
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

}  // namespace

int UpgradeCheckCommand(const Lifecycle& ctx, const UpgradeCheckOptions& options) {
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
  return 0;
}

}  // namespace hsw::ctl
