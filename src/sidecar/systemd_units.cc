#include "sidecar/systemd_units.h"

#include <systemd/sd-bus.h>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace hsw::sidecar {
namespace {

constexpr const char* kDestination = "org.freedesktop.systemd1";
constexpr const char* kManagerPath = "/org/freedesktop/systemd1";
constexpr const char* kManager = "org.freedesktop.systemd1.Manager";
constexpr const char* kUnit = "org.freedesktop.systemd1.Unit";
constexpr const char* kService = "org.freedesktop.systemd1.Service";

// sd-bus's error, or the errno it returned, in words.
std::string Why(const sd_bus_error& error, int r) {
  if (sd_bus_error_is_set(&error)) {
    return std::string(error.name) + ": " + (error.message ? error.message : "");
  }
  return std::strerror(-r);
}

struct BusError {
  sd_bus_error error = SD_BUS_ERROR_NULL;
  ~BusError() { sd_bus_error_free(&error); }
};

struct Message {
  sd_bus_message* m = nullptr;
  ~Message() { sd_bus_message_unref(m); }
};

}  // namespace

Result<std::unique_ptr<SystemdUnits>> SystemdUnits::Connect(const std::string& address) {
  std::string tried;
  for (const std::string& target :
       address.empty() ? std::vector<std::string>{"unix:path=/run/systemd/private", ""}
                       : std::vector<std::string>{address}) {
    sd_bus* bus = nullptr;
    int r;
    if (target.empty()) {
      r = sd_bus_open_system(&bus);
    } else {
      r = sd_bus_new(&bus);
      if (r >= 0) r = sd_bus_set_address(bus, target.c_str());
      if (r >= 0) r = sd_bus_start(bus);
    }
    if (r >= 0) return std::unique_ptr<SystemdUnits>(new SystemdUnits(bus));
    sd_bus_unref(bus);
    tried += (tried.empty() ? "" : "; ") + (target.empty() ? "the system bus" : target) + ": " +
             std::strerror(-r);
  }
  return Err("cannot reach systemd over D-Bus ({})", tried);
}

SystemdUnits::~SystemdUnits() { sd_bus_flush_close_unref(bus_); }

Result<std::string> SystemdUnits::UnitPath(const std::string& unit) {
  BusError error;
  Message reply;
  int r = sd_bus_call_method(bus_, kDestination, kManagerPath, kManager, "LoadUnit",
                             &error.error, &reply.m, "s", unit.c_str());
  if (r < 0) return Err("systemd: LoadUnit {}: {}", unit, Why(error.error, r));
  const char* path = nullptr;
  r = sd_bus_message_read(reply.m, "o", &path);
  if (r < 0) return Err("systemd: LoadUnit {}: bad reply: {}", unit, std::strerror(-r));
  return std::string(path);
}

Result<UnitState> SystemdUnits::Read(const std::string& unit) {
  HSW_ASSIGN_OR_RETURN(std::string path, UnitPath(unit));
  UnitState state;
  state.unit = unit;
  auto text = [&](const char* interface, const char* property, std::string& into) -> Status {
    BusError error;
    char* value = nullptr;
    int r = sd_bus_get_property_string(bus_, kDestination, path.c_str(), interface, property,
                                       &error.error, &value);
    if (r < 0) return Err("systemd: {} {}: {}", unit, property, Why(error.error, r));
    into = value ? value : "";
    free(value);
    return Ok();
  };
  auto number = [&](const char* property, uint32_t& into) -> Status {
    BusError error;
    int r = sd_bus_get_property_trivial(bus_, kDestination, path.c_str(), kService, property,
                                        &error.error, 'u', &into);
    if (r < 0) return Err("systemd: {} {}: {}", unit, property, Why(error.error, r));
    return Ok();
  };
  HSW_TRY(text(kUnit, "ActiveState", state.active_state));
  HSW_TRY(text(kUnit, "SubState", state.sub_state));
  HSW_TRY(text(kUnit, "UnitFileState", state.unit_file_state));
  HSW_TRY(text(kService, "Result", state.result));
  HSW_TRY(number("MainPID", state.main_pid));
  HSW_TRY(number("NRestarts", state.n_restarts));
  return state;
}

Result<std::string> SystemdUnits::EnsureEnabledAndStarted(const std::string& unit) {
  HSW_ASSIGN_OR_RETURN(UnitState state, Read(unit));
  std::string done;
  if (state.unit_file_state != "enabled" && state.unit_file_state != "static" &&
      state.unit_file_state != "enabled-runtime") {
    BusError error;
    Message reply;
    const char* units[] = {unit.c_str(), nullptr};
    Message call;
    int r = sd_bus_message_new_method_call(bus_, &call.m, kDestination, kManagerPath, kManager,
                                           "EnableUnitFiles");
    if (r >= 0) r = sd_bus_message_append_strv(call.m, const_cast<char**>(units));
    if (r >= 0) r = sd_bus_message_append(call.m, "bb", 0, 0);  // not runtime, no force
    if (r >= 0) r = sd_bus_call(bus_, call.m, 0, &error.error, &reply.m);
    if (r < 0) return Err("systemd: cannot enable {}: {}", unit, Why(error.error, r));
    BusError reload_error;
    r = sd_bus_call_method(bus_, kDestination, kManagerPath, kManager, "Reload",
                           &reload_error.error, nullptr, "");
    if (r < 0) return Err("systemd: Reload after enabling {}: {}", unit, Why(reload_error.error, r));
    done = "enabled (was " + state.unit_file_state + ")";
  }
  if (state.active_state != "active" && state.active_state != "activating" &&
      state.active_state != "reloading") {
    BusError error;
    int r = sd_bus_call_method(bus_, kDestination, kManagerPath, kManager, "StartUnit",
                               &error.error, nullptr, "ss", unit.c_str(), "replace");
    if (r < 0) return Err("systemd: cannot start {}: {}", unit, Why(error.error, r));
    done += (done.empty() ? "" : ", ") + std::string("started (was ") + state.active_state + ")";
  }
  return done;
}

}  // namespace hsw::sidecar
