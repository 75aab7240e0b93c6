#include "vswitchd/datapath_launcher.h"

#include <cstring>
#include <filesystem>

#include "common/log.h"
#include "common/spawn.h"
#include "dpif/dpif_protocol.h"

namespace hsw::vswitchd {
namespace {

const log::Module vlog("datapath");

std::string ConnectError(const std::string& socket, const Error& error) {
  std::string hint = (error.code == ENOENT || error.code == ECONNREFUSED)
                         ? " (is hsw-datapath running?)"
                         : "";
  return fmt::format("cannot connect to hsw-datapath at {}: {}{}", socket,
                     error.code ? std::strerror(error.code) : error.message, hint);
}

}  // namespace

Result<std::unique_ptr<dpif::DpifClient>> ConnectOrStartDatapath(const std::string& socket,
                                                                 const DatapathLaunch& launch) {
  auto client = dpif::DpifClient::Connect(socket, dpif::Role::kOwner, "hsw-vswitchd");
  if (client) return client;
  bool nobody_there = client.error().code == ENOENT || client.error().code == ECONNREFUSED;
  if (!launch.start_if_absent || !nobody_there) {
    return Err("{}", ConnectError(socket, client.error()));
  }
  std::filesystem::path path(socket);
  if (path.filename() != "datapath.sock") {
    return Err("{}; cannot start one there: hsw-datapath listens on <rundir>/datapath.sock, "
               "and {} is not named so",
               ConnectError(socket, client.error()), socket);
  }
  HSW_ASSIGN_OR_RETURN(std::string binary, FindDaemonBinary("hsw-datapath", launch.bindir));
  std::vector<std::string> argv = {binary, "--detach", "--pidfile", "--rundir",
                                   path.parent_path().string()};
  if (!launch.statedir.empty()) argv.insert(argv.end(), {"--statedir", launch.statedir});
  if (!launch.logdir.empty()) argv.insert(argv.end(), {"--logdir", launch.logdir});
  if (launch.log_file) argv.push_back("--log-file");
  vlog.Info("no hsw-datapath answers at {}: starting {}", socket, binary);
  auto status = RunAndWait(argv);
  if (!status) return Err("cannot start {}: {}", binary, status.error().ToString());
  if (*status != 0) {
    return Err("{} --detach exited with status {} (its reason is on stderr above)", binary,
               *status);
  }
  client = dpif::DpifClient::Connect(socket, dpif::Role::kOwner, "hsw-vswitchd");
  if (!client) return Err("started hsw-datapath, but: {}", ConnectError(socket, client.error()));
  vlog.Info("started hsw-datapath (pid {}) at {}", (*client)->hello().datapath_pid, socket);
  return client;
}

}  // namespace hsw::vswitchd
