#include "vswitchd/vswitchd.h"

#include <CLI/CLI.hpp>

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <iostream>
#include <string_view>
#include <unordered_map>

#include "common/log.h"
#include "common/version.h"
#include "dpif/dpif_client.h"
#include "openflow/flow_text.h"
#include "vswitchd/datapath_launcher.h"
#include "vswitchd/appctl_commands.h"
#include "vswitchd/ovs_identity.h"

namespace hsw::vswitchd {
namespace {

const log::Module vlog("vswitchd");
using json = nlohmann::json;

constexpr const char* kFlowRestoreWait = "flow-restore-wait";

// How long a datapath may take to answer a Hello when we identify or
// reconnect to it.  Short: the event loop (OpenFlow, the control socket)
// waits meanwhile, and a datapath still in a handover is simply tried again.
constexpr std::chrono::milliseconds kDatapathHelloTimeout{1000};

// flow_text's errors read "flow '<text>': <problem>"; the control socket's
// say which command and bridge: "add-flow br0 '<text>': <problem>".
std::string FlowError(const std::string& command, const std::string& bridge,
                      const std::string& flow, const std::string& message) {
  constexpr std::string_view kPrefix = "flow '";
  if (message.rfind(kPrefix, 0) == 0) {
    return fmt::format("{} {} {}", command, bridge, message.substr(kPrefix.size() - 1));
  }
  return fmt::format("{} {} '{}': {}", command, bridge, flow, message);
}

std::string OfpErrorText(const ofp::OfpError& error) {
  if (!error.detail.empty()) return error.detail;
  return fmt::format("OpenFlow error type {} code {}", error.type, error.code);
}

// Error text without a repeated errno: many lower layers already put
// "(No such device)" in the message itself.
std::string Describe(const Error& error) {
  if (error.code && error.message.find(std::strerror(error.code)) != std::string::npos) {
    return error.message;
  }
  return error.ToString();
}

// Port names in flow text ("in_port=veth1") are the bridge's interfaces.
ofp::PortByName PortsOf(const ofproto::Bridge* bridge) {
  return [bridge](std::string_view name) { return bridge->FindOfport(std::string(name)); };
}

// A flow file's text (add-flows, restore-flows) as add flow-mods.  Users
// feed `ovs-ofctl dump-flows` output to add-flows; ParseFlowFile skips its
// reply header ("OFPST_FLOW reply (OF1.3) (xid=0x2):"), keeping line numbers.
Result<std::vector<ofp::FlowMod>> ParseFlowText(const ofproto::Bridge* bridge,
                                                std::string_view text) {
  return ofp::ParseFlowFile(text, ofp::FlowModCommand::kAdd, PortsOf(bridge));
}

// The bridge's rules as save-flows writes them: ovs-ofctl add-flow lines,
// each ending '\n', in dump order, appended to `text`.  Returns the count.
size_t AppendFlowLines(const ofproto::Bridge& bridge, std::string& text) {
  size_t n = 0;
  bridge.ForEachFlowMod([&](const ofp::FlowMod& flow_mod) {
    ofp::AppendFlowMod(text, flow_mod);
    text += '\n';
    ++n;
  });
  return n;
}

// The flow lines of a flow file, as ParseFlowFile would see them, for
// TablesAlreadyHold; nullopt when the text uses anything but one flow per
// line and whole-line comments (continuations, a '\r'), which only the
// parser itself can read.
std::optional<std::vector<std::string_view>> PlainFlowLines(std::string_view text) {
  std::vector<std::string_view> flows;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (!line.empty() && (line.back() == '\\' || line.back() == '\r')) return std::nullopt;
    size_t first = line.find_first_not_of(", \t");
    if (first == std::string_view::npos || line[first] == '#') continue;  // blank or comment
    flows.push_back(line);
  }
  return flows;
}

// Whether `text` holds exactly the bridge's rules, decided on text alone:
// every flow line is, character for character, the line save-flows writes
// for one of the rules, and every rule has its line.  FormatFlowMod's text
// parses back to an equal FlowMod, so then a restore would change nothing,
// and the parse (most of a restore's time) is not needed.  This is the
// restart case: the journal brought the tables back, then the save is
// restored onto them.  Any other text -- a line spelled differently, a
// port name, a comment after a flow -- answers false and takes the full way.
// `n_flows` gets the number of flow lines.
bool TablesAlreadyHold(const ofproto::Bridge& bridge, std::string_view text, size_t* n_flows) {
  auto wanted = PlainFlowLines(text);
  if (!wanted || wanted->size() < bridge.n_rules() || bridge.n_rules() == 0) return false;
  std::string current_text;
  AppendFlowLines(bridge, current_text);
  std::vector<std::string_view> current;
  current.reserve(bridge.n_rules());
  for (size_t start = 0; start < current_text.size();) {
    size_t end = current_text.find('\n', start);
    current.emplace_back(current_text.data() + start, end - start);
    start = end + 1;
  }
  *n_flows = wanted->size();
  if (*wanted == current) return true;  // a save of these tables: same lines, same order
  // Another order, or lines repeated: the same set of lines will do.
  std::unordered_map<std::string_view, bool> seen;
  seen.reserve(current.size());
  for (std::string_view line : current) seen.emplace(line, false);
  size_t n_seen = 0;
  for (std::string_view line : *wanted) {
    auto it = seen.find(line);
    if (it == seen.end()) return false;
    if (!it->second) {
      it->second = true;
      ++n_seen;
    }
  }
  return n_seen == current.size();
}

// "del-flows" with no match: every rule of every table.
ofp::FlowMod DeleteAllFlows() {
  ofp::FlowMod delete_all;
  delete_all.command = ofp::FlowModCommand::kDelete;
  delete_all.table_id = ofp::kTableAll;
  return delete_all;
}

// The batch that turns a bridge's `current` rules (as SnapshotFlowMods gives
// them) into `wanted` (add flow-mods): strict deletes of the rules not
// wanted, adds of the wanted rules that are new or differ.  Rules that are
// already exactly right are not touched, so their counters carry on and the
// datapath flows that use them need no change -- after a plain restart that
// is every rule, and the batch is empty.  (OVS's replace-flows diffs too.)
std::vector<ofp::FlowMod> ReplacementBatch(const std::vector<ofp::FlowMod>& current,
                                           const std::vector<ofp::FlowMod>& wanted) {
  auto identity = [](const ofp::FlowMod& fm) {
    std::string id(1 + sizeof(fm.priority) + 2 * sizeof(FlowKey), '\0');
    id[0] = static_cast<char>(fm.table_id);
    std::memcpy(id.data() + 1, &fm.priority, sizeof(fm.priority));
    std::memcpy(id.data() + 1 + sizeof(fm.priority), &fm.match.key, sizeof(FlowKey));
    std::memcpy(id.data() + 1 + sizeof(fm.priority) + sizeof(FlowKey), &fm.match.mask,
                sizeof(FlowKey));
    return id;
  };
  auto same_rule = [](const ofp::FlowMod& a, const ofp::FlowMod& b) {
    return a.cookie == b.cookie && a.idle_timeout == b.idle_timeout &&
           a.hard_timeout == b.hard_timeout && a.flags == b.flags &&
           a.instructions == b.instructions;
  };
  // A later add of the same rule replaces an earlier one: only the last counts.
  std::vector<std::string> wanted_ids;
  wanted_ids.reserve(wanted.size());
  std::unordered_map<std::string_view, size_t> last_wanted;
  last_wanted.reserve(wanted.size());
  for (const ofp::FlowMod& fm : wanted) wanted_ids.push_back(identity(fm));
  for (size_t i = 0; i < wanted.size(); ++i) last_wanted[wanted_ids[i]] = i;

  std::vector<ofp::FlowMod> batch;  // deletes first, then adds in file order
  std::vector<bool> already_right(wanted.size(), false);
  for (const ofp::FlowMod& rule : current) {
    auto it = last_wanted.find(identity(rule));
    if (it == last_wanted.end()) {
      ofp::FlowMod& del = batch.emplace_back();
      del.command = ofp::FlowModCommand::kDeleteStrict;
      del.table_id = rule.table_id;
      del.priority = rule.priority;
      del.match = rule.match;
    } else if (same_rule(rule, wanted[it->second])) {
      already_right[it->second] = true;
    }
  }
  for (size_t i = 0; i < wanted.size(); ++i) {
    if (last_wanted[wanted_ids[i]] == i && !already_right[i]) batch.push_back(wanted[i]);
  }
  return batch;
}

std::string DatapathSocketPath(const daemon::Dirs& dirs, const VswitchdOptions& options) {
  return options.datapath_socket.empty() ? dpif::DatapathSocketPath(dirs.rundir)
                                         : options.datapath_socket;
}

Result<bool> ParseBool(const std::string& key, const std::string& value) {
  if (value == "true" || value == "1" || value == "yes" || value == "on") return true;
  if (value == "false" || value == "0" || value == "no" || value == "off") return false;
  return Err("{}: '{}' is not true or false", key, value);
}

}  // namespace

void AddVswitchdOptions(CLI::App& app, VswitchdOptions& options) {
  daemon::AddOptions(app, options.daemon);
  app.add_option("--datapath-socket", options.datapath_socket,
                 "hsw-datapath's socket (default <rundir>/datapath.sock)");
  app.add_flag("--flow-restore-wait", options.flow_restore_wait,
               "do not touch datapath flows until `hsw-ctl set flow-restore-wait=false` "
               "(restore the tables first)");
  app.add_option("--flow-restore-wait-timeout", options.flow_restore_wait_timeout_s,
                 "seconds after which an uncleared flow-restore-wait clears itself, with an "
                 "error logged (default 60; 0 = never)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--datapath-reconnect-timeout", options.datapath_reconnect_timeout_s,
                 "when the connection to hsw-datapath is lost, keep serving OpenFlow and retry "
                 "the datapath socket for this many seconds before exiting with status 1 "
                 "(default 60; 0 = exit at once)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--test-refuse-flow-mods", options.refuse_flow_mods_for_testing,
               "(testing) refuse every add-flow request on the control socket")
      ->group("");
}

Vswitchd::Vswitchd(EventLoop& loop, daemon::Dirs dirs, VswitchdOptions options, ConfigStore config)
    : loop_(loop),
      dirs_(std::move(dirs)),
      options_(std::move(options)),
      config_(std::move(config)) {
  datapath_socket_ = DatapathSocketPath(dirs_, options_);
}

Vswitchd::~Vswitchd() {
  // Sockets first, so that nobody talks to a half-destroyed switch.  The
  // Switch's destructor leaves the datapath's ports and flows in place.
  control_.reset();
  endpoints_.clear();
  switch_.reset();
}

Result<std::unique_ptr<Vswitchd>> Vswitchd::Create(EventLoop& loop, const daemon::Dirs& dirs,
                                                   const VswitchdOptions& options,
                                                   std::unique_ptr<dpif::Dpif> dpif) {
  // In the database mode conf.json is not read: ovsdb-server's database is
  // the configuration, and ApplyConfig() brings the bridges.
  ConfigStore config = ConfigStore::InMemory();
  if (options.database.empty()) {
    HSW_ASSIGN_OR_RETURN(config, ConfigStore::Open(dirs.statedir + "/conf.json"));
  }
  std::unique_ptr<Vswitchd> vswitchd(new Vswitchd(loop, dirs, options, std::move(config)));
  HSW_TRY(vswitchd->Start(std::move(dpif)));
  return vswitchd;
}

Status Vswitchd::Start(std::unique_ptr<dpif::Dpif> dpif) {
  if (!dpif) {
    // Scripts written for OVS start ovs-vswitchd alone: in the database
    // mode, a missing datapath is started rather than an error.
    DatapathLaunch launch;
    launch.start_if_absent = database_mode();
    launch.statedir = dirs_.statedir;
    launch.logdir = dirs_.logdir;
    launch.log_file = options_.daemon.log_file.has_value();
    HSW_ASSIGN_OR_RETURN(dpif, ConnectOrStartDatapath(datapath_socket_, launch));
  }
  const dpif::HelloReply& hello = dpif->hello();
  vlog.Info("connected to hsw-datapath {} at {} (pid {}, protocol {}, {} flows installed)",
            hello.datapath_version, datapath_socket_, hello.datapath_pid, hello.version,
            hello.n_flows);

  ofproto::SwitchOptions switch_options;
  switch_options.identify_datapath = [socket = datapath_socket_]() -> Result<dpif::HelloReply> {
    // A monitor's Hello: the new datapath's version, which its stats lack.
    HSW_ASSIGN_OR_RETURN(auto monitor,
                         dpif::DpifClient::Connect(socket, dpif::Role::kMonitor, "hsw-vswitchd",
                                                   kDatapathHelloTimeout));
    return monitor->hello();
  };
  auto sw = ofproto::Switch::Create(loop_, std::move(dpif), switch_options);
  if (!sw) return Err("cannot start the switch: {}", sw.error().ToString());
  switch_ = std::move(*sw);
  // Until the configuration is back, no table is complete.
  switch_->SetTablesLoaded(false);

  for (const BridgeConfig& bridge : config_.config().bridges) {
    if (auto added = switch_->AddBridge(bridge.name, bridge.datapath_id); !added) {
      return Err("cannot re-create bridge '{}' from {}: {}", bridge.name, config_.path(),
                 added.error().ToString());
    }
    for (const PortConfig& port : bridge.ports) {
      auto added = switch_->AddPort(
          bridge.name, ofproto::PortSpec{port.name, port.type, port.ofport, port.peer});
      if (!added) {
        // An interface that is gone (a deleted veth) must not keep the whole
        // switch down; the port stays configured and `show` reports it.
        vlog.Err("bridge {}: cannot re-add port {} (ofport {}): {}", bridge.name, port.name,
                 port.ofport, added.error().ToString());
      }
    }
    HSW_TRY(OpenEndpoint(bridge.name));
  }

  // The database mode replays the journal once the first ApplyConfig has
  // created the bridges it holds records of.
  if (!database_mode()) HSW_TRY(OpenJournal());

  auto control = ControlServer::Listen(loop_, dirs_.rundir + "/vswitchd.ctl");
  if (!control) return tl::unexpected(control.error());
  control_ = std::move(*control);
  RegisterMethods();

  // ovs-appctl's socket (OVS identity, or --unixctl): OVS's commands over
  // this switch; `exit` stops the loop as SIGTERM does.
  if (!options_.unixctl_path.empty()) {
    HSW_ASSIGN_OR_RETURN(unixctl_, UnixctlServer::Listen(loop_, options_.unixctl_path));
    AppctlContext appctl;
    appctl.loop = &loop_;
    appctl.sw = switch_.get();
    appctl.program = options_.program;
    appctl.datapath_stats = [socket = datapath_socket_]() -> Result<dpif::StatsReply> {
      HSW_ASSIGN_OR_RETURN(auto monitor,
                           dpif::DpifClient::Connect(socket, dpif::Role::kMonitor, "hsw-vswitchd",
                                                     kDatapathHelloTimeout));
      return monitor->GetStats();
    };
    appctl.datapath_flows = [socket = datapath_socket_]() -> Result<std::vector<dpif::DpFlow>> {
      HSW_ASSIGN_OR_RETURN(auto monitor,
                           dpif::DpifClient::Connect(socket, dpif::Role::kMonitor, "hsw-vswitchd",
                                                     kDatapathHelloTimeout));
      return monitor->FlowDump();
    };
    appctl.stop = [this] { loop_.Stop(); };
    appctl_ = std::make_unique<AppctlCommands>(*unixctl_, std::move(appctl));
  }

  if (options_.flow_restore_wait) {
    SetFlowRestoreWait(true, "--flow-restore-wait");
  } else if (!database_mode()) {
    switch_->SetTablesLoaded(true);
  }
  // The database mode's tables stay unloaded until the first configuration
  // from the database says whether flow-restore-wait is set.
  return Ok();
}

Status Vswitchd::OpenJournal() {
  std::string path = dirs_.statedir + "/flows.journal";
  auto opened = FlowJournal::Open(path);
  if (!opened) {
    return Err(
        "{} (the tables cannot be replayed from it; move it aside to start with empty tables, "
        "then restore them: hsw-ctl restore-flows DIR)",
        opened.error().ToString());
  }
  if (!opened->note.empty()) vlog.Warn("{}", opened->note);
  size_t n_flow_mods = 0, n_skipped = 0, n_failed = 0;
  for (const JournalRecord& record : opened->records) {
    // A bridge whose last record is a clear was deleted: created again, it
    // starts as a new bridge does.
    if (record.kind == JournalRecord::Kind::kClearBridge) {
      journaled_bridges_.erase(record.bridge);
    } else {
      journaled_bridges_.insert(record.bridge);
    }
    ofproto::Bridge* bridge = switch_->FindBridge(record.bridge);
    if (!bridge) {
      // Its bridge was deleted from the configuration but the clear record
      // did not make it (or the configuration was edited by hand).
      ++n_skipped;
      continue;
    }
    std::vector<ofp::FlowMod> clear;
    const std::vector<ofp::FlowMod>* batch = &record.flow_mods;
    if (record.kind == JournalRecord::Kind::kClearBridge) {
      clear.push_back(DeleteAllFlows());
      batch = &clear;
    }
    n_flow_mods += batch->size();
    if (auto applied = bridge->FlowModBatch(*batch); !applied) {
      // It applied when it was journaled; the only way it does not now is a
      // change in hsw's own rules between versions.  Keep going: the rest
      // of the tables is better than none, and the operator is told.
      ++n_failed;
      vlog.Err("{}: record {} for bridge {} no longer applies: {}", path, record.seq,
               record.bridge, OfpErrorText(applied.error()));
    }
  }
  journal_ = std::move(opened->journal);
  JournalPosition position = journal_->position();
  if (opened->created) {
    vlog.Info("journal {} created (id {})", path, position.id);
  } else {
    vlog.Info(
        "journal {}: replayed {} records ({} flow-mods) into the tables: {} rules now (id {}, seq "
        "{}){}{}",
        path, opened->records.size(), n_flow_mods, CountRules(), position.id, position.seq,
        n_skipped ? fmt::format("; {} records of bridges that no longer exist skipped", n_skipped)
                  : "",
        n_failed ? fmt::format("; {} records FAILED to apply", n_failed) : "");
  }
  switch_->SetTableChangeObserver(
      [this](const ofproto::Bridge& bridge, const std::vector<ofp::FlowMod>& flow_mods) {
        Journal(bridge, flow_mods);
      });
  if (n_failed || journal_->NeedsCompaction(CountRules())) CompactJournal();
  return Ok();
}

void Vswitchd::Journal(const ofproto::Bridge& bridge, const std::vector<ofp::FlowMod>& flow_mods) {
  if (auto appended = journal_->AppendFlowMods(bridge.name(), flow_mods); !appended) {
    static log::RateLimit rate_limit(5);
    if (rate_limit.Allow()) {
      vlog.Err("journal {}: cannot record a change to bridge {}: {} (a crash now would lose it)",
               journal_->path(), bridge.name(), appended.error().ToString());
    }
  }
  if (!compaction_posted_ && journal_->NeedsCompaction(CountRules())) {
    // Once the current request is done: a batch of flow-mods should not pay
    // for a snapshot per flow-mod.
    compaction_posted_ = true;
    loop_.Post([this] {
      compaction_posted_ = false;
      if (journal_ && journal_->NeedsCompaction(CountRules())) CompactJournal();
    });
  }
}

void Vswitchd::CompactJournal() {
  std::map<std::string, std::vector<ofp::FlowMod>> snapshot;
  for (const std::string& name : switch_->BridgeNames()) {
    if (const ofproto::Bridge* bridge = switch_->FindBridge(name)) {
      snapshot[name] = bridge->SnapshotFlowMods();
    }
  }
  uint64_t before = journal_->size_bytes();
  if (auto compacted = journal_->Compact(snapshot); !compacted) {
    vlog.Err("journal {}: compaction failed: {}", journal_->path(), compacted.error().ToString());
    return;
  }
  vlog.Info("journal {} compacted: {} -> {} bytes ({} rules)", journal_->path(), before,
            journal_->size_bytes(), CountRules());
}

json Vswitchd::JournalPositionJson() const {
  if (!journal_) return nullptr;
  JournalPosition position = journal_->position();
  return {{"id", position.id}, {"seq", position.seq}};
}

void Vswitchd::SetFlowRestoreWait(bool wait, const std::string& why) {
  own_restore_wait_ = wait;
  UpdateFlowRestoreWait(why);
}

void Vswitchd::SetDatabaseFlowRestoreWait(bool wait, const std::string& why) {
  database_restore_wait_ = wait;
  UpdateFlowRestoreWait(why);
}

void Vswitchd::UpdateFlowRestoreWait(const std::string& why) {
  bool wait = own_restore_wait_ || database_restore_wait_;
  if (!wait && !flow_restore_wait()) return;
  if (wait && flow_restore_wait() &&
      (restore_wait_deadline_ || options_.flow_restore_wait_timeout_s <= 0)) {
    vlog.Info("flow-restore-wait stays true ({}): still held by {}", why,
              own_restore_wait_ ? "--flow-restore-wait / hsw-ctl" : "the database");
    return;
  }
  if (restore_wait_deadline_) {
    loop_.CancelTimer(restore_wait_deadline_);
    restore_wait_deadline_ = 0;
  }
  if (wait) {
    switch_->SetTablesLoaded(false);
    double timeout = options_.flow_restore_wait_timeout_s;
    if (timeout > 0) {
      restore_wait_deadline_ = loop_.AddTimer(
          std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000)), [this, timeout] {
            restore_wait_deadline_ = 0;
            vlog.Err(
                "flow-restore-wait was not cleared within {} s (did the restore crash?): "
                "clearing it now with the tables as they are ({} rules){}",
                timeout, CountRules(),
                database_restore_wait_ ? "; the database still says true" : "");
            own_restore_wait_ = database_restore_wait_ = false;
            UpdateFlowRestoreWait("deadline passed");
          });
    }
    vlog.Info(
        "flow-restore-wait=true ({}): datapath flows frozen, misses wait in the datapath, "
        "controllers held back, OpenFlow writes refused until {}{}",
        why,
        database_mode() ? "other_config:flow-restore-wait is removed from the database"
                        : "`hsw-ctl set flow-restore-wait=false`",
        timeout > 0 ? fmt::format(" or {} s pass", timeout) : std::string());
    return;
  }
  switch_->SetTablesLoaded(true);
  switch_->Sync();
  // Controllers were held back while the tables were being restored.
  for (auto& [name, endpoint] : endpoints_) {
    const BridgeConfig* config = config_.config().FindBridge(name);
    if (config && !config->controllers.empty()) {
      if (auto set = endpoint->SetControllers(config->controllers); !set) {
        vlog.Err("bridge {}: controllers: {}", name, set.error().ToString());
      }
    }
  }
  vlog.Info("flow-restore-wait=false ({}): tables loaded ({} rules), datapath flows revalidated",
            why, CountRules());
  if (control_) control_->Wake();
}

size_t Vswitchd::CountRules() const {
  size_t n = 0;
  for (const std::string& name : switch_->BridgeNames()) {
    if (const ofproto::Bridge* bridge = switch_->FindBridge(name)) n += bridge->n_rules();
  }
  return n;
}

Result<json> Vswitchd::RestoreFlows(const json& params, std::string_view payload) {
  auto list = params.find("bridges");
  if (list == params.end() || !list->is_array()) return Err("missing array parameter 'bridges'");
  size_t payload_used = 0;
  struct Parsed {
    ofproto::Bridge* bridge;
    std::string file;
    std::vector<ofp::FlowMod> flow_mods;  // empty when `unchanged`
    size_t n_flows = 0;
    bool unchanged = false;  // the text holds exactly the bridge's rules
    size_t n_changes = 0;
  };
  // Everything is parsed before any table is touched.
  std::vector<Parsed> parsed;
  for (const json& entry : *list) {
    if (!entry.is_object()) return Err("restore-flows: a 'bridges' entry is not an object");
    HSW_ASSIGN_OR_RETURN(std::string name, StringParam(entry, "name"));
    // The text is either in the entry or, "size" bytes of it, the next part
    // of the request's payload.
    std::string_view text;
    if (auto size = entry.find("size"); size != entry.end()) {
      if (!size->is_number_unsigned() || size->get<uint64_t>() > payload.size() - payload_used) {
        return Err("restore-flows: bridge {}'s 'size' is not a size within the payload", name);
      }
      text = payload.substr(payload_used, size->get<uint64_t>());
      payload_used += text.size();
    } else {
      auto it = entry.find("text");
      if (it == entry.end() || !it->is_string()) return Err("missing string parameter 'text'");
      text = it->get_ref<const std::string&>();
    }
    std::string file = OptionalStringParam(entry, "file").value_or(name);
    ofproto::Bridge* bridge = switch_->FindBridge(name);
    if (!bridge) {
      return Err("restore-flows {}: bridge '{}' does not exist (add it first: hsw-ctl add-br {})",
                 file, name, name);
    }
    for (const Parsed& p : parsed) {
      if (p.bridge == bridge) return Err("restore-flows: bridge '{}' is listed twice", name);
    }
    size_t n_flows = 0;
    if (TablesAlreadyHold(*bridge, text, &n_flows)) {
      parsed.push_back({bridge, std::move(file), {}, n_flows, /*unchanged=*/true});
      continue;
    }
    auto flow_mods = ParseFlowText(bridge, text);
    if (!flow_mods) return Err("restore-flows {}: {}", file, flow_mods.error().message);
    n_flows = flow_mods->size();
    parsed.push_back({bridge, std::move(file), std::move(*flow_mods), n_flows});
  }
  if (payload_used != payload.size()) {
    return Err("restore-flows: the payload holds {} bytes, the bridges' sizes add up to {}",
               payload.size(), payload_used);
  }

  // Each bridge is replaced in one batch (see ReplacementBatch); if a later
  // bridge refuses its batch, the earlier ones get their previous rules
  // back, so all bridges or none change.
  std::vector<std::pair<ofproto::Bridge*, std::vector<ofp::FlowMod>>> replaced;
  for (Parsed& p : parsed) {
    if (p.unchanged) continue;
    std::vector<ofp::FlowMod> previous = p.bridge->SnapshotFlowMods();
    std::vector<ofp::FlowMod> batch = ReplacementBatch(previous, p.flow_mods);
    p.n_changes = batch.size();
    auto applied = p.bridge->FlowModBatch(batch);
    if (!applied) {
      for (auto it = replaced.rbegin(); it != replaced.rend(); ++it) {
        auto undo = ReplacementBatch(it->first->SnapshotFlowMods(), it->second);
        if (auto undone = it->first->FlowModBatch(undo); !undone) {
          vlog.Err("restore-flows: cannot put bridge {}'s previous rules back: {}",
                   it->first->name(), OfpErrorText(undone.error()));
        }
      }
      return Err("restore-flows {}: {} (no bridge was changed)", p.file,
                 OfpErrorText(applied.error()));
    }
    replaced.emplace_back(p.bridge, std::move(previous));
  }
  switch_->Sync();
  json result = json::array();
  for (const Parsed& p : parsed) {
    vlog.Info("bridge {}: restored {} flows from {} ({} flow-mods changed the tables)",
              p.bridge->name(), p.n_flows, p.file, p.n_changes);
    result.push_back({{"name", p.bridge->name()}, {"n_flows", p.n_flows}});
  }
  return json{{"bridges", std::move(result)}};
}

Status Vswitchd::OpenEndpoint(const std::string& name) {
  ofproto::Bridge* bridge = switch_->FindBridge(name);
  if (!bridge) return Err("unknown bridge '{}'", name);
  auto endpoint = ofproto::ConnManager::Create(loop_, *switch_, *bridge, dirs_.rundir);
  if (!endpoint) return Err("bridge {}: {}", name, endpoint.error().ToString());
  const BridgeConfig* config = config_.config().FindBridge(name);
  if (config && !config->controllers.empty() && switch_->tables_loaded()) {
    if (auto set = (*endpoint)->SetControllers(config->controllers); !set) {
      vlog.Err("bridge {}: controllers: {}", name, set.error().ToString());
    }
  }
  endpoints_[name] = std::move(*endpoint);
  return Ok();
}

Status Vswitchd::RefuseInDatabaseMode(const std::string& command) const {
  if (!database_mode()) return Ok();
  return Err("{}: hsw-vswitchd is configured from the database {}; change it there (ovs-vsctl)",
             command, options_.database);
}

Result<ofproto::Bridge*> Vswitchd::GetBridge(const json& params) {
  HSW_ASSIGN_OR_RETURN(std::string name, StringParam(params, "bridge"));
  ofproto::Bridge* bridge = switch_->FindBridge(name);
  if (!bridge) return Err("unknown bridge '{}'", name);
  return bridge;
}

json Vswitchd::Show() {
  json bridges = json::array();
  for (const BridgeConfig& config : config_.config().bridges) {
    ofproto::Bridge* bridge = switch_->FindBridge(config.name);
    json ports = json::array();
    std::vector<ofproto::PortView> live;
    if (bridge) live = bridge->ListPorts();
    for (const PortConfig& port : config.ports) {
      json p = {{"name", port.name}, {"ofport", port.ofport}};
      auto it = std::find_if(live.begin(), live.end(),
                             [&](const ofproto::PortView& v) { return v.name == port.name; });
      if (it != live.end()) {
        p["ofport"] = it->ofport;
        p["dp_port"] = it->dp_port;
      } else {
        p["error"] = "not in the datapath";
      }
      ports.push_back(std::move(p));
    }
    bridges.push_back({{"name", config.name},
                       {"datapath_id", fmt::format("{:016x}", bridge ? bridge->datapath_id()
                                                                     : config.datapath_id)},
                       {"n_rules", bridge ? bridge->n_rules() : 0},
                       {"controllers", config.controllers},
                       {"ports", std::move(ports)}});
  }
  json counters = json::array();
  for (const auto& [name, value] : switch_->Counters()) counters.push_back({name, value});
  const dpif::HelloReply& hello = switch_->datapath_hello();
  return {{"version", kVersion},
          {"pid", getpid()},
          {"tables_loaded", switch_->tables_loaded()},
          {"database", options_.database},  // "" = configured from conf.json
          {"journal", JournalPositionJson()},
          {"datapath",
           {{"socket", datapath_socket_},
            {"version", hello.datapath_version},
            {"pid", hello.datapath_pid},
            {"connected", switch_->datapath_connected()}}},
          {"bridges", std::move(bridges)},
          {"settings", config_.config().settings},
          {"counters", std::move(counters)}};
}

void Vswitchd::RegisterMethods() {
  ControlServer& c = *control_;

  c.Register("version",
             [](const json&) -> Result<json> { return fmt::format("hsw-vswitchd {}", kVersion); });

  c.Register("add-br", [this](const json& params) -> Result<json> {
    HSW_TRY(RefuseInDatabaseMode("add-br"));
    HSW_ASSIGN_OR_RETURN(std::string name, StringParam(params, "bridge"));
    HSW_TRY(ValidateName("bridge name", name));
    if (config_.config().FindBridge(name)) return Err("bridge '{}' already exists", name);
    uint64_t dpid = 0;
    if (auto text = OptionalStringParam(params, "datapath_id")) {
      char* end = nullptr;
      dpid = std::strtoull(text->c_str(), &end, 16);
      if (text->empty() || *end) return Err("datapath_id '{}' is not hexadecimal", *text);
    }
    if (auto added = switch_->AddBridge(name, dpid); !added) {
      return Err("add-br {}: {}", name, Describe(added.error()));
    }
    if (auto opened = OpenEndpoint(name); !opened) {
      (void)switch_->DeleteBridge(name);
      return tl::unexpected(opened.error());
    }
    if (auto saved = config_.AddBridge(name, dpid); !saved) {
      endpoints_.erase(name);
      (void)switch_->DeleteBridge(name);
      return tl::unexpected(saved.error());
    }
    vlog.Info("added bridge {}", name);
    return nullptr;
  });

  c.Register("del-br", [this](const json& params) -> Result<json> {
    HSW_TRY(RefuseInDatabaseMode("del-br"));
    HSW_ASSIGN_OR_RETURN(std::string name, StringParam(params, "bridge"));
    if (!config_.config().FindBridge(name)) return Err("unknown bridge '{}'", name);
    // Config first: if it cannot be saved, the bridge stays whole.
    HSW_TRY(config_.DeleteBridge(name));
    endpoints_.erase(name);
    if (auto deleted = switch_->DeleteBridge(name); !deleted) {
      vlog.Warn("del-br {}: {}", name, deleted.error().ToString());
    }
    // A bridge created later under the same name starts empty.
    if (auto cleared = journal_->AppendClearBridge(name); !cleared) {
      vlog.Err("journal {}: {}", journal_->path(), cleared.error().ToString());
    }
    switch_->Sync();
    vlog.Info("deleted bridge {}", name);
    return nullptr;
  });

  c.Register("list-br", [this](const json&) -> Result<json> {
    json names = json::array();
    for (const BridgeConfig& bridge : config_.config().bridges) names.push_back(bridge.name);
    return names;
  });

  c.Register("add-port", [this](const json& params) -> Result<json> {
    HSW_TRY(RefuseInDatabaseMode("add-port"));
    HSW_ASSIGN_OR_RETURN(std::string bridge, StringParam(params, "bridge"));
    HSW_ASSIGN_OR_RETURN(std::string iface, StringParam(params, "iface"));
    HSW_TRY(ValidateName("interface name", iface));
    if (!config_.config().FindBridge(bridge)) return Err("unknown bridge '{}'", bridge);
    if (const BridgeConfig* owner = config_.config().BridgeOfPort(iface)) {
      return Err("interface '{}' is already a port of bridge '{}'", iface, owner->name);
    }
    uint32_t ofport = 0;
    if (auto it = params.find("ofport"); it != params.end()) {
      if (!it->is_number_unsigned() || *it == 0 || it->get<uint64_t>() >= ofp::kPortMax) {
        return Err("ofport {} is not a valid OpenFlow port number", it->dump());
      }
      ofport = it->get<uint32_t>();
    }
    // Port types ("system", "internal", "patch" with a peer): optional.
    std::string type, peer;
    for (auto [key, value] : {std::pair{"type", &type}, std::pair{"peer", &peer}}) {
      if (auto it = params.find(key); it != params.end()) {
        if (!it->is_string()) return Err("'{}' must be a string", key);
        *value = it->get<std::string>();
      }
    }
    if (type == "system") type.clear();
    auto added = switch_->AddPort(bridge, ofproto::PortSpec{iface, type, ofport, peer});
    if (!added) return Err("add-port {} {}: {}", bridge, iface, Describe(added.error()));
    // LOCAL is saved as "any number": the bridge's internal port gets it again.
    PortConfig saved_port{iface, *added == ofp::kPortLocal ? 0 : *added, type, peer};
    if (auto saved = config_.AddPort(bridge, saved_port); !saved) {
      (void)switch_->DeletePort(bridge, iface);
      return tl::unexpected(saved.error());
    }
    switch_->Sync();
    vlog.Info("bridge {}: added port {} as ofport {}", bridge, iface, *added);
    return json{{"ofport", *added}};
  });

  c.Register("del-port", [this](const json& params) -> Result<json> {
    HSW_TRY(RefuseInDatabaseMode("del-port"));
    HSW_ASSIGN_OR_RETURN(std::string bridge, StringParam(params, "bridge"));
    HSW_ASSIGN_OR_RETURN(std::string iface, StringParam(params, "iface"));
    const BridgeConfig* config = config_.config().FindBridge(bridge);
    if (!config) return Err("unknown bridge '{}'", bridge);
    if (!config->FindPort(iface)) return Err("bridge '{}' has no port '{}'", bridge, iface);
    HSW_TRY(config_.DeletePort(bridge, iface));
    if (auto deleted = switch_->DeletePort(bridge, iface); !deleted) {
      // Already absent from the switch (it failed to come back at start-up).
      vlog.Warn("del-port {} {}: {}", bridge, iface, deleted.error().ToString());
    }
    switch_->Sync();
    vlog.Info("bridge {}: deleted port {}", bridge, iface);
    return nullptr;
  });

  c.Register("list-ports", [this](const json& params) -> Result<json> {
    HSW_ASSIGN_OR_RETURN(std::string bridge, StringParam(params, "bridge"));
    const BridgeConfig* config = config_.config().FindBridge(bridge);
    if (!config) return Err("unknown bridge '{}'", bridge);
    std::vector<PortConfig> ports = config->ports;
    std::sort(ports.begin(), ports.end(),
              [](const PortConfig& a, const PortConfig& b) { return a.name < b.name; });
    json out = json::array();
    for (const PortConfig& port : ports) {
      out.push_back({{"name", port.name}, {"ofport", port.ofport}});
    }
    return out;
  });

  c.Register("add-flow", [this](const json& params) -> Result<json> {
    HSW_ASSIGN_OR_RETURN(ofproto::Bridge * bridge, GetBridge(params));
    HSW_ASSIGN_OR_RETURN(std::string flow, StringParam(params, "flow"));
    if (options_.refuse_flow_mods_for_testing) {
      return Err("add-flow {}: refused (--test-refuse-flow-mods)", bridge->name());
    }
    auto flow_mod = ofp::ParseFlowMod(flow, ofp::FlowModCommand::kAdd, PortsOf(bridge));
    if (!flow_mod) {
      return MakeError(FlowError("add-flow", bridge->name(), flow, flow_mod.error().message));
    }
    auto done = bridge->FlowMod(*flow_mod);
    if (!done) {
      return MakeError(FlowError("add-flow", bridge->name(), flow, OfpErrorText(done.error())));
    }
    switch_->Sync();
    return nullptr;
  });

  // The flow text is the request's payload (hsw-ctl), or a "text" string
  // (scripts): a million rules are more than a request line may hold.
  c.RegisterWithPayload("add-flows", [this](const json& params,
                                            std::string_view payload) -> Result<ControlReply> {
    HSW_ASSIGN_OR_RETURN(ofproto::Bridge * bridge, GetBridge(params));
    std::string text_param;
    if (params.contains("text")) {
      HSW_ASSIGN_OR_RETURN(text_param, StringParam(params, "text"));
    }
    std::string_view text = params.contains("text") ? std::string_view(text_param) : payload;
    std::string file = OptionalStringParam(params, "file").value_or("(flows)");
    // All lines are parsed before anything is applied, and the batch is
    // applied all or none, so a typo on line 900 leaves the tables as they were.
    auto flow_mods = ParseFlowText(bridge, text);
    if (!flow_mods) {
      return Err("add-flows {} {}: {}", bridge->name(), file, flow_mods.error().message);
    }
    if (flow_mods->empty()) return ControlReply{json{{"n_flows", 0}}, {}};
    auto done = bridge->FlowModBatch(*flow_mods);
    if (!done) {
      return Err("add-flows {} {}: {} (no flow was changed)", bridge->name(), file,
                 OfpErrorText(done.error()));
    }
    switch_->Sync();
    vlog.Info("bridge {}: applied {} flow-mods from {}", bridge->name(), flow_mods->size(), file);
    return ControlReply{nullptr, {}};
  });

  c.Register("del-flows", [this](const json& params) -> Result<json> {
    HSW_ASSIGN_OR_RETURN(ofproto::Bridge * bridge, GetBridge(params));
    std::string match = OptionalStringParam(params, "match").value_or("");
    bool strict = params.value("strict", false);
    auto flow_mod = ofp::ParseFlowDelete(match, strict, PortsOf(bridge));
    if (!flow_mod) {
      return MakeError(FlowError("del-flows", bridge->name(), match, flow_mod.error().message));
    }
    auto done = bridge->FlowMod(*flow_mod);
    if (!done) {
      return MakeError(FlowError("del-flows", bridge->name(), match, OfpErrorText(done.error())));
    }
    switch_->Sync();
    return nullptr;
  });

  c.Register("dump-flows", [this](const json& params) -> Result<json> {
    HSW_ASSIGN_OR_RETURN(ofproto::Bridge * bridge, GetBridge(params));
    std::string match = OptionalStringParam(params, "match").value_or("");
    auto request = ofp::ParseFlowStatsRequest(match, PortsOf(bridge));
    if (!request) {
      return MakeError(FlowError("dump-flows", bridge->name(), match, request.error().message));
    }
    ofp::PortName names;
    if (params.value("names", false)) {
      std::map<uint32_t, std::string> by_number;
      for (const ofproto::PortView& port : bridge->ListPorts()) by_number[port.ofport] = port.name;
      names = [by_number](uint32_t port) -> std::optional<std::string> {
        auto it = by_number.find(port);
        if (it == by_number.end()) return std::nullopt;
        return it->second;
      };
    }
    json lines = json::array();
    for (const ofp::FlowStats& stats : bridge->DumpFlows(*request)) {
      lines.push_back(ofp::FormatFlowStats(stats, names));
    }
    return lines;
  });

  c.Register("trace", [this](const json& params) -> Result<json> {
    HSW_ASSIGN_OR_RETURN(ofproto::Bridge * bridge, GetBridge(params));
    HSW_ASSIGN_OR_RETURN(std::string flow, StringParam(params, "flow"));
    auto match = ofp::ParseMatch(flow, PortsOf(bridge));
    if (!match) return MakeError(FlowError("trace", bridge->name(), flow, match.error().message));
    return bridge->Trace(match->key);
  });

  c.Register("set", [this](const json& params) -> Result<json> {
    HSW_ASSIGN_OR_RETURN(std::string key, StringParam(params, "key"));
    HSW_ASSIGN_OR_RETURN(std::string value, StringParam(params, "value"));
    if (key.empty()) return Err("setting name is empty");
    if (key == kFlowRestoreWait) {
      HSW_ASSIGN_OR_RETURN(bool wait, ParseBool(key, value));
      if (wait == own_restore_wait_) return nullptr;
      SetFlowRestoreWait(wait, "hsw-ctl set");
      return nullptr;
    }
    HSW_TRY(config_.SetSetting(key, value));
    vlog.Info("set {}={}", key, value);
    return nullptr;
  });

  c.Register("get", [this](const json& params) -> Result<json> {
    HSW_ASSIGN_OR_RETURN(std::string key, StringParam(params, "key"));
    if (key == kFlowRestoreWait) return switch_->tables_loaded() ? "false" : "true";
    auto value = config_.GetSetting(key);
    if (!value) return Err("no setting '{}'", key);
    return *value;
  });

  c.Register("set-controller", [this](const json& params) -> Result<json> {
    HSW_TRY(RefuseInDatabaseMode("set-controller"));
    HSW_ASSIGN_OR_RETURN(std::string bridge, StringParam(params, "bridge"));
    if (!config_.config().FindBridge(bridge)) return Err("unknown bridge '{}'", bridge);
    std::vector<std::string> targets;
    if (auto it = params.find("targets"); it != params.end()) {
      if (!it->is_array()) return Err("'targets' is not an array");
      for (const json& t : *it) {
        if (!t.is_string()) return Err("a controller target is not a string");
        targets.push_back(t.get<std::string>());
      }
    }
    auto endpoint = endpoints_.find(bridge);
    if (endpoint != endpoints_.end() && switch_->tables_loaded()) {
      if (auto set = endpoint->second->SetControllers(targets); !set) {
        return Err("set-controller {}: {}", bridge, set.error().ToString());
      }
    }
    HSW_TRY(config_.SetControllers(bridge, targets));
    return nullptr;
  });

  c.Register("show", [this](const json&) -> Result<json> { return Show(); });

  // With {"payload": true} the flow text comes as the reply's payload, each
  // bridge's "size" bytes of it in turn, rather than as JSON strings.
  c.RegisterWithPayload("save-flows", [this](const json& params,
                                             std::string_view) -> Result<ControlReply> {
    bool in_payload = params.value("payload", false);
    ControlReply reply;
    json bridges = json::array();
    size_t total = 0;
    for (const BridgeConfig& config : config_.config().bridges) {
      ofproto::Bridge* bridge = switch_->FindBridge(config.name);
      if (!bridge) continue;
      if (in_payload) {
        size_t start = reply.payload.size();
        size_t n_flows = AppendFlowLines(*bridge, reply.payload);
        total += n_flows;
        bridges.push_back({{"name", config.name},
                           {"n_flows", n_flows},
                           {"size", reply.payload.size() - start}});
        continue;
      }
      json lines = json::array();
      bridge->ForEachFlowMod(
          [&](const ofp::FlowMod& flow_mod) { lines.push_back(ofp::FormatFlowMod(flow_mod)); });
      total += lines.size();
      bridges.push_back({{"name", config.name}, {"flows", std::move(lines)}});
    }
    vlog.Info("save-flows: {} flows of {} bridges", total, bridges.size());
    reply.result = json{
        {"version", kVersion}, {"journal", JournalPositionJson()}, {"bridges", std::move(bridges)}};
    return reply;
  });

  c.RegisterWithPayload("restore-flows",
                        [this](const json& params, std::string_view payload) -> Result<ControlReply> {
                          HSW_ASSIGN_OR_RETURN(json result, RestoreFlows(params, payload));
                          return ControlReply{std::move(result), {}};
                        });

  c.RegisterWait("wait-ready", [this] { return switch_->tables_loaded(); });

  c.Register("exit", [this](const json&) -> Result<json> {
    vlog.Info("exit requested over the control socket; hsw-datapath keeps forwarding");
    // After this turn of the loop, so that the reply is sent first.
    loop_.Post([this] { loop_.Stop(); });
    return nullptr;
  });

  c.Register("log-reopen", [](const json&) -> Result<json> {
    HSW_TRY(log::ReopenFile());
    vlog.Info("log file reopened");
    return nullptr;
  });

  // A whole configuration at once (hsw-sidecar's ConfigMap generation):
  // bridges, ports and controllers as conf.json holds them, plus vlog specs.
  // Checked whole before anything changes; then applied as the database
  // mode applies a change set (ApplyConfig: only what differs), so a bridge
  // not in it is deleted.  Per-interface failures (a device that does not
  // exist) are reported, not fatal, as in OVS.
  c.Register("apply-config", [this](const json& params) -> Result<json> {
    HSW_TRY(RefuseInDatabaseMode("apply-config"));
    if (!params.is_object() || !params.contains("config") || !params["config"].is_object()) {
      return Err("apply-config: params.config must be an object in conf.json's format");
    }
    HSW_ASSIGN_OR_RETURN(Config wanted, ParseConfig(params["config"].dump(), "apply-config"));
    wanted.settings = config_.config().settings;  // not part of a generation
    // conf.json's parser takes names as they are written; a request is
    // checked like hsw-ctl's commands before anything changes.
    std::set<std::string> names;
    for (const BridgeConfig& bridge : wanted.bridges) {
      HSW_TRY(ValidateName("bridge name", bridge.name));
      if (!names.insert(bridge.name).second) {
        return Err("apply-config: '{}' is named twice", bridge.name);
      }
    }
    for (const BridgeConfig& bridge : wanted.bridges) {
      std::set<uint32_t> ofports;
      for (const PortConfig& port : bridge.ports) {
        HSW_TRY(ValidateName("interface name", port.name));
        if (!names.insert(port.name).second) {
          return Err("apply-config: bridge {}: '{}' is named twice", bridge.name, port.name);
        }
        if (port.ofport >= 0xff00) {
          return Err("apply-config: bridge {}: port {}: OpenFlow port {} is out of range 1-65279",
                     bridge.name, port.name, port.ofport);
        }
        if (port.ofport && !ofports.insert(port.ofport).second) {
          return Err("apply-config: bridge {}: OpenFlow port {} is asked for twice", bridge.name,
                     port.ofport);
        }
      }
    }
    std::vector<std::string> specs;
    if (params.contains("vlog")) {
      if (!params["vlog"].is_array()) return Err("apply-config: params.vlog must be an array");
      for (const json& spec : params["vlog"]) {
        if (!spec.is_string()) return Err("apply-config: params.vlog holds a non-string");
        specs.push_back(spec.get<std::string>());
      }
    }
    // Log levels: all or none (restored if one spec is refused).
    std::vector<log::ModuleLevels> before = log::ListModuleLevels();
    for (const std::string& spec : specs) {
      if (auto applied = log::ApplyVlogSpec(spec); !applied) {
        for (const log::ModuleLevels& m : before) {
          log::SetLevels(m.module, log::Destination::kConsole, m.console);
          log::SetLevels(m.module, log::Destination::kSyslog, m.syslog);
          log::SetLevels(m.module, log::Destination::kFile, m.file);
        }
        return Err("apply-config: log level '{}': {}", spec, applied.error().message);
      }
    }
    ApplyReport report = ApplyConfig(wanted);
    if (!report.fatal_error.empty()) return Err("apply-config: {}", report.fatal_error);
    json interfaces = json::object();
    for (const auto& [name, outcome] : report.interfaces) {
      interfaces[name] = {{"bridge", outcome.bridge}, {"ofport", outcome.ofport}};
      if (!outcome.error.empty()) interfaces[name]["error"] = outcome.error;
    }
    vlog.Info("applied configuration{}: {} changes",
              params.contains("generation") && params["generation"].is_string()
                  ? " generation " + params["generation"].get<std::string>()
                  : std::string(),
              report.n_changes);
    return json{{"changes", report.n_changes}, {"interfaces", std::move(interfaces)}};
  });

  c.Register("vlog/set", [](const json& params) -> Result<json> {
    HSW_ASSIGN_OR_RETURN(std::string name, StringParam(params, "level"));
    HSW_ASSIGN_OR_RETURN(log::Level level, log::ParseLevel(name));
    log::SetLevel(level);
    vlog.Info("log level set to {}", name);
    return nullptr;
  });
}

namespace {

// Keeps hsw-vswitchd alive when its datapath connection is lost: OpenFlow and
// the control socket go on being served (flow-mods change the tables; the
// Switch holds back what needs the datapath) while datapath.sock is tried
// again with a growing pause, until the deadline.  A new connection goes to
// Switch::Reconnect, which reconciles ports and flows with whatever datapath
// answered.  There is no supervisor to restart us, and the datapath that
// answers is usually a restarted or successor process holding the same socket.
class DatapathReconnector {
 public:
  static constexpr std::chrono::milliseconds kFirstPause{50};
  static constexpr std::chrono::milliseconds kLongestPause{1000};
  static constexpr std::chrono::milliseconds kLossCheckInterval{200};

  // `give_up` runs once the deadline has passed without a datapath.
  DatapathReconnector(EventLoop& loop, ofproto::Switch& sw, std::string socket,
                      std::chrono::milliseconds deadline, std::function<void()> give_up)
      : loop_(loop),
        sw_(sw),
        socket_(std::move(socket)),
        deadline_(deadline),
        give_up_(std::move(give_up)) {
    // The Switch notices the loss (upcall socket EOF, a failed call); this
    // notices the Switch.
    loop_.AddTimer(kLossCheckInterval, [this] { CheckConnection(); }, /*repeat=*/true);
  }

 private:
  using Clock = std::chrono::steady_clock;

  void CheckConnection() {
    if (retrying_ || sw_.datapath_connected()) return;
    if (deadline_.count() == 0) {
      vlog.Err("lost the connection to hsw-datapath; exiting (--datapath-reconnect-timeout 0)");
      give_up_();
      return;
    }
    retrying_ = true;
    lost_at_ = Clock::now();
    pause_ = kFirstPause;
    last_failure_.clear();
    vlog.Err("lost the connection to hsw-datapath; trying {} again for up to {} s (OpenFlow "
             "is still served; table changes reach the datapath once it is back)",
             socket_, std::chrono::duration<double>(deadline_).count());
    Attempt();
  }

  void Attempt() {
    auto client = dpif::DpifClient::Connect(socket_, dpif::Role::kOwner, "hsw-vswitchd",
                                            kDatapathHelloTimeout);
    std::string failure;
    if (client) {
      (*client)->set_timeout(dpif::DpifClient::kDefaultTimeout);
      auto reconnected = sw_.Reconnect(std::move(*client));
      if (reconnected) {
        retrying_ = false;
        vlog.Info("datapath connection restored {:.3f} s after its loss was noticed",
                  std::chrono::duration<double>(Clock::now() - lost_at_).count());
        return;
      }
      failure = "reconciliation failed: " + reconnected.error().ToString();
    } else {
      failure = client.error().ToString();
    }
    auto waited = Clock::now() - lost_at_;
    if (waited >= deadline_) {
      vlog.Err("no hsw-datapath at {} for {:.1f} s (last: {}); exiting with status 1", socket_,
               std::chrono::duration<double>(waited).count(), failure);
      give_up_();
      return;
    }
    // Once per kind of failure, not once per try: "no such file" while the
    // datapath is down, then perhaps "refused" while it starts.
    if (failure != last_failure_) {
      vlog.Info("hsw-datapath not reachable yet: {}; trying again", failure);
      last_failure_ = failure;
    }
    loop_.AddTimer(pause_, [this] { Attempt(); });
    pause_ = std::min(pause_ * 2, kLongestPause);
  }

  EventLoop& loop_;
  ofproto::Switch& sw_;
  std::string socket_;
  std::chrono::milliseconds deadline_;
  std::function<void()> give_up_;
  bool retrying_ = false;
  Clock::time_point lost_at_{};
  std::chrono::milliseconds pause_ = kFirstPause;
  std::string last_failure_;
};

}  // namespace

int VswitchdMain(int argc, char** argv, DatabaseConfigFactory database_factory) {
  // Run as ovs-vswitchd, OVS's command line comes first (ovs_identity.h);
  // what it leaves (hsw's own flags, the DATABASE) goes to hsw's parser.
  std::vector<std::string> args(argv, argv + argc);
  const bool ovs_identity = !args.empty() && IsOvsIdentity(args[0]);
  OvsCommandLine ovs;
  if (ovs_identity) {
    auto parsed = ParseOvsCommandLine(args);
    if (!parsed) {
      std::cerr << kOvsProgram << ": " << parsed.error().message << " (use --help for help)\n";
      return 1;
    }
    ovs = std::move(*parsed);
    args = ovs.hsw_args;
  }
  CLI::App app{"hsw-vswitchd: the hsw switch's control plane (OpenFlow, configuration)",
               ovs_identity ? kOvsProgram : "hsw-vswitchd"};
  VswitchdOptions options;
  AddVswitchdOptions(app, options);
  AddOvsdbModeOptions(app, options);
  bool version = false, version_json = false;
  app.add_flag("-V,--version", version, "print the version and exit");
  app.add_flag("--json", version_json,
               "with --version: also the protocol and file format versions accepted, as JSON "
               "(for hsw-ctl upgrade-check)");
  try {
    std::vector<char*> hsw_argv;
    for (std::string& arg : args) hsw_argv.push_back(arg.data());
    app.parse(static_cast<int>(hsw_argv.size()), hsw_argv.data());
  } catch (const CLI::ParseError& e) {
    if (ovs_identity && e.get_exit_code() == 0) std::cout << OvsUsage();
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (ovs.help) {
    std::cout << OvsUsage() << app.help();
    return 0;
  }
  if (version || ovs.version) {
    BinaryVersion info;
    info.program = "hsw-vswitchd";
    info.accepts["dpif"] = {dpif::kProtocolVersionMin, dpif::kProtocolVersionMax};
    info.accepts["journal"] = {kJournalFormatVersion, kJournalFormatVersion};
    info.accepts["config"] = {static_cast<uint32_t>(kConfigSchemaVersion), static_cast<uint32_t>(kConfigSchemaVersion)};
    info.flow_key_size = sizeof(FlowKey);
    if (version_json) {
      std::cout << FormatVersionJson(info) << "\n";
    } else if (ovs_identity) {
      std::cout << OvsVersionText();
    } else {
      std::cout << "hsw-vswitchd " << kVersion << "\n";
    }
    return 0;
  }

  std::vector<std::string> identity_notes;
  if (ovs_identity) {
    auto applied = ApplyOvsCommandLine(ovs, OvsEnvironmentFromEnv(), CurrentUserName(),
                                       CurrentGroupName(), options);
    if (!applied) {
      std::cerr << kOvsProgram << ": " << applied.error().message << "\n";
      return 1;
    }
    identity_notes = std::move(*applied);
  } else if (!options.database.empty()) {
    if (auto checked = CheckDatabaseTarget(options.database); !checked) {
      std::cerr << "hsw-vswitchd: " << checked.error().message << "\n";
      return 2;
    }
  }

  auto dirs = daemon::ResolveDirs(options.daemon);
  if (!dirs) {
    std::cerr << options.program << ": " << dirs.error().ToString() << "\n";
    return 1;
  }
  if (auto started = daemon::Start(options.daemon, *dirs, options.program); !started) {
    vlog.Err("{}", started.error().ToString());
    daemon::NotifyFailed(started.error().ToString());
    return 1;
  }
  for (const std::string& note : identity_notes) vlog.Info("{}", note);
  // After --detach's fork: memory locks are not inherited, and OVS's default
  // unixctl name holds the daemon's pid.
  if (ovs.mlockall) LockMemory();
  options.unixctl_path =
      ResolveUnixctlPath(options.unixctl, dirs->rundir, options.program, getpid());

  // Signals arrive through the event loop, so handlers run between requests
  // and never in the middle of a table change.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  UniqueFd signal_fd(signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC));

  EventLoop loop;
  auto vswitchd = Vswitchd::Create(loop, *dirs, options);
  if (!vswitchd) {
    std::string reason = vswitchd.error().ToString();
    vlog.Err("{}", reason);
    daemon::NotifyFailed(reason);
    daemon::RecordExit(1, reason);
    daemon::Cleanup();
    return 1;
  }

  int exit_code = 0;
  std::string exit_reason = "stopped (exit requested)";
  (void)loop.Add(signal_fd.get(), EPOLLIN, [&](uint32_t) {
    signalfd_siginfo info;
    while (read(signal_fd.get(), &info, sizeof(info)) == sizeof(info)) {
      if (info.ssi_signo == SIGHUP) {
        if (auto reopened = log::ReopenFile(); !reopened) {
          vlog.Err("cannot reopen the log file: {}", reopened.error().ToString());
        } else {
          vlog.Info("SIGHUP: log file reopened");
        }
      } else {
        exit_reason = info.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT";
        vlog.Info("{}: exiting; hsw-datapath keeps forwarding", exit_reason);
        loop.Stop();
      }
    }
  });
  DatapathReconnector reconnector(
      loop, (*vswitchd)->sw(), DatapathSocketPath(*dirs, options),
      std::chrono::milliseconds(static_cast<int64_t>(options.datapath_reconnect_timeout_s * 1000)),
      [&] {
        exit_code = 1;
        exit_reason = "hsw-datapath did not come back";
        loop.Stop();
      });

  // The database mode is ready once the database's first configuration is
  // applied and written back (ovs-vswitchd's --detach returns then too).
  std::unique_ptr<DatabaseConfigSource> database;
  if (!options.database.empty()) {
    if (!database_factory) {
      vlog.Err("this hsw-vswitchd was built without the database mode ({})", options.database);
      daemon::NotifyFailed("no database mode in this build");
      return 1;
    }
    DatabaseConfigHooks hooks;
    hooks.on_ready = [&options] {
      daemon::NotifyReady();
      vlog.Info("hsw-vswitchd ready (configured from {})", options.database);
    };
    hooks.on_fatal = [&](const std::string& reason) {
      vlog.Err("{}", reason);
      daemon::NotifyFailed(reason);
      exit_code = 1;
      exit_reason = reason;
      loop.Stop();
    };
    database = database_factory(loop, **vswitchd, options.database, std::move(hooks));
    database->Start();
  } else {
    daemon::NotifyReady();
    vlog.Info("hsw-vswitchd ready");
  }
  loop.Run();
  database.reset();

  // A graceful stop (signal or `exit`): the upcalls the datapath has already
  // sent us are handled before we go, and the rest wait in its miss queue
  // for our successor.  A datapath that never came back leaves nothing to drain.
  if (exit_code == 0) (*vswitchd)->sw().DrainUpcallsForExit();
  vswitchd->reset();
  daemon::RecordExit(exit_code, exit_reason);
  daemon::Cleanup();
  vlog.Info("hsw-vswitchd exiting (status {})", exit_code);
  return exit_code;
}

}  // namespace hsw::vswitchd
