#include "sidecar/config_watch.h"

#include <sstream>

#include "common/log.h"
#include "ctl/control_client.h"
#include "sidecar/config_dir.h"

namespace hsw::sidecar {
namespace {

const log::Module vlog("config_watch");

}  // namespace

ConfigWatcher::ConfigWatcher(std::string dir, std::string vswitchd_control,
                             std::chrono::milliseconds poll)
    : control_(std::move(vswitchd_control)), poll_(poll) {
  status_.dir = std::move(dir);
}

ConfigWatcher::~ConfigWatcher() { Stop(); }

void ConfigWatcher::Start() { thread_.Start(poll_, [this] { Pass(); }); }

void ConfigWatcher::Stop() { thread_.Stop(); }

ConfigStatus ConfigWatcher::Status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return status_;
}

void ConfigWatcher::Pass() {
  std::string dir, seen;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    dir = status_.dir;
    seen = status_.last_seen;
  }
  auto generation = ReadConfigDir(dir);
  if (!generation) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (status_.last_error != generation.error().message) {
      vlog.Err("{}", generation.error().message);
      status_.last_error = generation.error().message;
    }
    return;
  }
  if (generation->id == seen) return;
  auto request = TranslateConfig(*generation);
  if (!request) {
    std::lock_guard<std::mutex> lock(mutex_);
    status_.last_seen = generation->id;
    status_.last_error = request.error().message;
    ++status_.refused_total;
    std::istringstream lines(request.error().message);
    for (std::string line; std::getline(lines, line);) vlog.Err("{}: {}", dir, line);
    vlog.Err("{}: keeping generation {}", dir,
             status_.applied.empty() ? std::string("(none applied yet)") : status_.applied);
    return;
  }
  auto client = ctl::ControlClient::Connect(control_, std::chrono::seconds(30));
  if (!client) {
    vlog.Dbg("{}: generation {} waits for hsw-vswitchd: {}", dir, generation->id,
             client.error().ToString());
    return;  // not seen: tried again on the next pass
  }
  auto reply = client->Call("apply-config", *request);
  std::lock_guard<std::mutex> lock(mutex_);
  status_.last_seen = generation->id;
  if (!reply) {
    status_.last_error = reply.error().message;
    ++status_.refused_total;
    vlog.Err("{}: hsw-vswitchd refused generation {}: {}; keeping generation {}", dir,
             generation->id, reply.error().message,
             status_.applied.empty() ? std::string("(none applied yet)") : status_.applied);
    return;
  }
  status_.applied = generation->id;
  status_.last_error.clear();
  ++status_.applied_total;
  std::string failed;
  if (reply->contains("interfaces")) {
    for (auto& [name, outcome] : (*reply)["interfaces"].items()) {
      if (outcome.contains("error")) {
        failed += fmt::format("; interface {}: {}", name, outcome["error"].get<std::string>());
      }
    }
  }
  vlog.Info("{}: applied generation {} ({} changes){}", dir, generation->id,
            reply->value("changes", 0), failed);
}

}  // namespace hsw::sidecar
