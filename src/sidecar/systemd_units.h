// sidecar/systemd_units: hsw-sidecar --systemd UNIT...: the daemons run as
// systemd services (deploy/systemd/), and the sidecar asks systemd about
// them instead of starting them itself -- over systemd's D-Bus API with
// sd-bus (libsystemd), on systemd's private socket (/run/systemd/private:
// no dbus-daemon needed; root) or, failing that, the system bus.
//
// It ensures each unit is enabled and started (EnableUnitFiles + Reload,
// StartUnit "replace"), and reads ActiveState, SubState, Result, MainPID
// and NRestarts for /status and /metrics; restarting a failed unit is
// systemd's job (Restart=on-failure).  Not thread-safe: the supervisor's
// thread alone uses it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"

struct sd_bus;

namespace hsw::sidecar {

struct UnitState {
  std::string unit;
  std::string active_state;     // "active", "activating", "failed", "inactive", ...
  std::string sub_state;        // "running", "auto-restart", "dead", ...
  std::string result;           // "success", "signal", "exit-code", ...
  std::string unit_file_state;  // "enabled", "disabled", "static", ...
  uint32_t main_pid = 0;
  uint32_t n_restarts = 0;      // restarts systemd made (Restart=)
};

class SystemdUnits {
 public:
  // `address`: a D-Bus address ("unix:path=/run/systemd/private"); "" =
  // the private socket, then the system bus.
  static Result<std::unique_ptr<SystemdUnits>> Connect(const std::string& address = "");
  ~SystemdUnits();
  SystemdUnits(const SystemdUnits&) = delete;
  SystemdUnits& operator=(const SystemdUnits&) = delete;

  Result<UnitState> Read(const std::string& unit);
  // Enables `unit` if it is not, and starts it if it is neither active nor
  // activating; returns what it did in words ("" = nothing to do).
  Result<std::string> EnsureEnabledAndStarted(const std::string& unit);

 private:
  explicit SystemdUnits(sd_bus* bus) : bus_(bus) {}
  Result<std::string> UnitPath(const std::string& unit);
  sd_bus* bus_;
};

}  // namespace hsw::sidecar
