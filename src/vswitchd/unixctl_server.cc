#include "vswitchd/unixctl_server.h"

#include <fmt/format.h>

#include "common/log.h"

namespace hsw::vswitchd {
namespace {

const log::Module vlog("unixctl");
using json = nlohmann::json;

}  // namespace

std::string WithFinalNewline(std::string text) {
  if (!text.empty() && text.back() != '\n') text += '\n';
  return text;
}

Result<std::unique_ptr<UnixctlServer>> UnixctlServer::Listen(EventLoop& loop,
                                                             const std::string& path) {
  std::unique_ptr<UnixctlServer> server(new UnixctlServer());
  UnixctlServer* self = server.get();
  auto listener = jsonrpc::Listener::Listen(
      loop, "punix:" + path,
      [self](std::unique_ptr<jsonrpc::Connection> connection) { self->OnAccept(std::move(connection)); });
  if (!listener) {
    return Err("{}: could not initialize control socket: {}", path, listener.error().ToString());
  }
  server->listener_ = std::move(*listener);
  server->path_ = path;
  vlog.Info("unixctl: listening on {}", path);
  return server;
}

UnixctlServer::~UnixctlServer() {
  // Connections before the listener: none of them may call back into a
  // half-destroyed server.
  connections_.clear();
  listener_.reset();
}

void UnixctlServer::Register(const std::string& name, std::optional<std::string> usage,
                             int min_args, int max_args, Handler handler) {
  commands_[name] = Command{std::move(usage), min_args, max_args, std::move(handler)};
}

void UnixctlServer::RegisterBuiltins() {
  if (commands_.count("list-commands")) return;
  commands_["list-commands"] =
      Command{"", 0, 0, [this](const std::vector<std::string>&) -> Result<std::string> {
                return ListCommands();
              }};
  commands_["help"] = commands_["list-commands"];
}

std::string UnixctlServer::ListCommands() const {
  std::string text = "The available commands are:\n";
  for (const auto& [name, command] : commands_) {
    if (!command.usage) continue;
    text += fmt::format("  {:<23} {}\n", name, *command.usage);
  }
  return text;
}

Result<std::string> UnixctlServer::Run(const std::string& name,
                                       const std::vector<std::string>& args) {
  auto it = commands_.find(name);
  if (it == commands_.end()) {
    return Err("\"{}\" is not a valid command (use \"list-commands\" to see a list of valid "
               "commands)",
               name);
  }
  const Command& command = it->second;
  int n = static_cast<int>(args.size());
  if (n < command.min_args) {
    return Err("\"{}\" command requires at least {} arguments", name, command.min_args);
  }
  if (n > command.max_args) {
    return Err("\"{}\" command takes at most {} arguments", name, command.max_args);
  }
  // A copy: the handler may register or replace commands.
  Handler handler = command.handler;
  return handler(args);
}

std::optional<json> UnixctlServer::Handle(const json& request) {
  auto kind = jsonrpc::Classify(request);
  json id = request.is_object() && request.contains("id") ? request["id"] : json();
  if (!kind) return jsonrpc::MakeErrorReply(WithFinalNewline(kind.error().message), id);
  if (*kind == jsonrpc::MessageKind::kNotification) return std::nullopt;
  if (*kind != jsonrpc::MessageKind::kRequest) {
    return jsonrpc::MakeErrorReply("unixctl takes requests only\n", id);
  }
  const std::string name = request["method"].get<std::string>();
  std::vector<std::string> args;
  for (const json& param : request["params"]) {
    if (!param.is_string()) {
      return jsonrpc::MakeErrorReply(
          WithFinalNewline(fmt::format("\"{}\" command has non-string argument", name)), id);
    }
    args.push_back(param.get<std::string>());
  }
  vlog.Dbg("request {} {}", name, json(args).dump());
  auto result = Run(name, args);
  if (!result) return jsonrpc::MakeErrorReply(WithFinalNewline(result.error().message), id);
  return jsonrpc::MakeReply(WithFinalNewline(std::move(*result)), id);
}

void UnixctlServer::OnAccept(std::unique_ptr<jsonrpc::Connection> connection) {
  jsonrpc::Connection* raw = connection.get();
  raw->set_on_message([this, raw](json message) { OnMessage(raw, message); });
  raw->set_on_close([this, raw](const std::string& reason) {
    vlog.Dbg("{}: closed: {}", raw->name(), reason);
    connections_.erase(raw);  // destroys it: allowed from its close handler
  });
  connections_.emplace(raw, std::move(connection));
}

void UnixctlServer::OnMessage(jsonrpc::Connection* connection, const json& message) {
  std::optional<json> reply = Handle(message);
  if (!reply) return;
  if (auto sent = connection->Send(*reply); !sent) {
    vlog.Warn("{}: cannot send the reply: {}", connection->name(), sent.error().ToString());
  }
}

}  // namespace hsw::vswitchd
