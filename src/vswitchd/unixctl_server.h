// unixctl_server: Open vSwitch's "unixctl" control protocol, which Debian's
// real ovs-appctl speaks, so that scripts written for ovs-vswitchd
// (ovs-ctl's stop, ovs-save, operators' `ovs-appctl dpif/show`) work with
// hsw-vswitchd unchanged.
//
// Wire: JSON-RPC 1.0 over a unix stream socket (jsonrpc/jsonrpc.h), one
// request at a time per connection:
//   request  {"method": COMMAND, "params": [ARG, ...strings], "id": ID}
//   reply    {"result": TEXT, "error": null, "id": ID}
//   failure  {"result": null, "error": TEXT, "id": ID}
// ovs-appctl prints a result on stdout and exits 0, an error on stderr and
// exits 2.  A non-empty TEXT always ends in '\n', as OVS's does.
//
// Commands are registered with their argument counts; the server checks
// them, so handlers see only valid counts.  An unknown command or a wrong
// count gets OVS's exact error text (from lib/unixctl.c), which scripts grep:
//   "NAME" is not a valid command (use "list-commands" to see a list of valid commands)
//   "NAME" command requires at least N arguments
//   "NAME" command takes at most N arguments
//   "NAME" command has non-string argument
// Built in: list-commands (OVS's layout) and help (the same list).
//
// Threading: the EventLoop's thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/event_loop.h"
#include "common/result.h"
#include "jsonrpc/jsonrpc.h"

namespace hsw::vswitchd {

class UnixctlServer {
 public:
  // args are the command's arguments (not its name).  A value is the reply
  // text; an error's message is the error text.
  using Handler = std::function<Result<std::string>(const std::vector<std::string>& args)>;
  static constexpr int kUnlimited = 1 << 30;

  // Listens on the unix socket `path` (bound under a temporary name and
  // renamed into place, so an existing socket file accepts connections;
  // unlinked by the destructor).
  static Result<std::unique_ptr<UnixctlServer>> Listen(EventLoop& loop, const std::string& path);
  // A server with no socket: Handle() and Run() only (tests).
  UnixctlServer() { RegisterBuiltins(); }
  ~UnixctlServer();
  UnixctlServer(const UnixctlServer&) = delete;
  UnixctlServer& operator=(const UnixctlServer&) = delete;

  // `usage` is shown by list-commands ("" for none; nullopt hides the
  // command).  Registering a name again replaces it.
  void Register(const std::string& name, std::optional<std::string> usage, int min_args,
                int max_args, Handler handler);

  // Runs one JSON-RPC request and returns its reply (nullopt for a
  // notification, which gets none).
  std::optional<nlohmann::json> Handle(const nlohmann::json& request);
  // Runs one command by name, with the argument checks and OVS's texts: the
  // reply body, or an error whose message is the error body.
  Result<std::string> Run(const std::string& name, const std::vector<std::string>& args);

  // list-commands' text.
  std::string ListCommands() const;
  const std::string& path() const { return path_; }
  size_t n_connections() const { return connections_.size(); }

 private:
  struct Command {
    std::optional<std::string> usage;
    int min_args = 0;
    int max_args = 0;
    Handler handler;
  };
  void RegisterBuiltins();
  void OnAccept(std::unique_ptr<jsonrpc::Connection> connection);
  void OnMessage(jsonrpc::Connection* connection, const nlohmann::json& message);

  std::string path_;
  std::unique_ptr<jsonrpc::Listener> listener_;
  std::map<std::string, Command> commands_;
  std::map<jsonrpc::Connection*, std::unique_ptr<jsonrpc::Connection>> connections_;
};

// OVS's rule for reply bodies: a non-empty text ends in a newline.
std::string WithFinalNewline(std::string text);

}  // namespace hsw::vswitchd
