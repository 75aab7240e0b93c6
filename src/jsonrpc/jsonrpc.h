// jsonrpc: JSON-RPC 1.0 over a stream socket, as Open vSwitch speaks it to
// ovsdb-server (RFC 7047 §4) and to ovs-appctl (the unixctl protocol).
//
// Framing: JSON values sent back to back with no delimiter (ovsdb-server and
// ovs-appctl add none), so the reader splits the byte stream itself
// (JsonStreamSplitter) instead of reading lines.  Messages are JSON objects:
//   request       {"method": M, "params": [...], "id": ID}
//   notification  {"method": M, "params": [...], "id": null}
//   reply         {"result": R, "error": null, "id": ID}
//   error reply   {"result": null, "error": E, "id": ID}
//
// Layers, lowest first (OVS's lib/jsonrpc.h has the same split):
//   JsonStreamSplitter  bytes -> complete JSON texts; no I/O (fuzzed)
//   Connection          one non-blocking stream socket on an EventLoop: reads
//                       and splits, buffers output, caps the backlog (a peer
//                       that stops reading is disconnected, not allowed to
//                       grow our memory), reports its closing once
//   Listener            a listening socket ("punix:PATH", "ptcp:PORT[:IP]")
//                       handing each accepted socket over as a Connection
//   Connect...          starting a connection to "unix:PATH" / "tcp:IP:PORT"
//
// Reconnection, backoff and inactivity probes are the caller's (the OVSDB
// client has its own FSM in ovsdb/reconnect.h); echo requests are not
// answered here either, because a server and a client treat them alike but
// a caller may want to count them.
//
// Threading: everything runs on the EventLoop's thread.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/event_loop.h"
#include "common/fd.h"
#include "common/result.h"

namespace hsw::jsonrpc {

// Splits a byte stream into top-level JSON texts.  Feed() takes any number
// of bytes (a message may arrive one byte at a time) and appends every
// message completed by them to `out`, parsed.  A stream that cannot be JSON
// (a top-level value that is not an object, a text nlohmann cannot parse, a
// message over max_message_size) is an error naming what is wrong; the
// splitter is unusable afterwards (the caller closes the connection).
class JsonStreamSplitter {
 public:
  static constexpr size_t kDefaultMaxMessageSize = 64 << 20;  // 64 MiB
  // Arrays and objects nested deeper than this are an error: callers walk
  // values recursively, and no OVSDB or unixctl message nests more than ~10.
  static constexpr int kMaxDepth = 1000;

  explicit JsonStreamSplitter(size_t max_message_size = kDefaultMaxMessageSize)
      : max_message_size_(max_message_size) {}

  Status Feed(std::string_view bytes, std::vector<nlohmann::json>& out);
  // Bytes of a message begun but not completed.
  size_t pending_size() const { return pending_.size(); }

 private:
  size_t max_message_size_;
  std::string pending_;
  int depth_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;
  bool failed_ = false;
};

// Message builders and checks.
nlohmann::json MakeRequest(const std::string& method, nlohmann::json params, nlohmann::json id);
nlohmann::json MakeNotification(const std::string& method, nlohmann::json params);
nlohmann::json MakeReply(nlohmann::json result, nlohmann::json id);
nlohmann::json MakeErrorReply(nlohmann::json error, nlohmann::json id);

enum class MessageKind { kRequest, kNotification, kReply, kErrorReply };
// The kind of a message received, or an error naming what makes it no valid
// JSON-RPC 1.0 message ("params" not an array, neither method nor result...).
Result<MessageKind> Classify(const nlohmann::json& message);

class Connection {
 public:
  static constexpr size_t kDefaultMaxBacklog = 64 << 20;  // bytes queued to send

  using MessageHandler = std::function<void(nlohmann::json message)>;
  using CloseHandler = std::function<void(const std::string& reason)>;

  // Takes a connected (or connecting: non-blocking connect in progress)
  // stream socket.  `name` appears in log lines and errors ("unix:/x/db.sock").
  static std::unique_ptr<Connection> Adopt(EventLoop& loop, UniqueFd fd, std::string name,
                                           size_t max_backlog = kDefaultMaxBacklog);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Set both before the loop next runs.  The close handler runs once, for
  // EOF, a socket error, a framing error or a backlog overflow, never for
  // Close() or the destructor.  Both may destroy the Connection.
  void set_on_message(MessageHandler handler) { on_message_ = std::move(handler); }
  void set_on_close(CloseHandler handler) { on_close_ = std::move(handler); }

  // Queues `message` (serialized compactly); writes as much as the socket
  // takes now.  After the connection has closed: an error, nothing queued.
  Status Send(const nlohmann::json& message);
  // Closes the socket now; queued output is dropped.
  void Close();

  bool open() const { return fd_.valid(); }
  const std::string& name() const { return name_; }
  size_t backlog() const { return out_.size() - out_offset_; }
  // Counts for operators and probes: any byte received is activity.
  uint64_t n_messages_received() const { return n_received_; }
  uint64_t n_bytes_received() const { return n_bytes_received_; }
  EventLoop::Clock::time_point last_activity() const { return last_activity_; }

 private:
  Connection(EventLoop& loop, UniqueFd fd, std::string name, size_t max_backlog);
  void OnEvents(uint32_t events);
  void ReadSome();
  void WriteSome();
  void UpdateInterest();
  void Fail(const std::string& reason);

  EventLoop& loop_;
  UniqueFd fd_;
  std::string name_;
  size_t max_backlog_;
  JsonStreamSplitter splitter_;
  std::string out_;
  size_t out_offset_ = 0;
  bool want_write_ = false;
  MessageHandler on_message_;
  CloseHandler on_close_;
  uint64_t n_received_ = 0;
  uint64_t n_bytes_received_ = 0;
  EventLoop::Clock::time_point last_activity_{};
  // Set while a callback runs, so that a handler destroying us is safe.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Starts connecting to `target` ("unix:PATH", "tcp:IP:PORT", "tcp:[IPv6]:PORT"),
// non-blocking: the socket may still be connecting when returned; the
// Connection reports a connect that fails later (TCP refused) through its
// close handler.  An unparsable target, or a connect that fails at once (a
// unix socket path with nothing listening), is an error naming the target.
Result<std::unique_ptr<Connection>> Connect(EventLoop& loop, const std::string& target);

// A listening socket for "punix:PATH" or "ptcp:PORT[:IP]".  A punix path is
// bound under a temporary name and renamed into place once listening (as
// hsw's other sockets), so a socket file that exists accepts connections;
// it is unlinked by the destructor.
class Listener {
 public:
  using AcceptHandler = std::function<void(std::unique_ptr<Connection> connection)>;

  static Result<std::unique_ptr<Listener>> Listen(EventLoop& loop, const std::string& target,
                                                  AcceptHandler on_accept);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  const std::string& target() const { return target_; }
  // The bound TCP port (for ptcp:0) or 0.
  uint16_t port() const { return port_; }

 private:
  Listener(EventLoop& loop, UniqueFd fd, std::string target, std::string path,
           AcceptHandler on_accept);
  void Accept();

  EventLoop& loop_;
  UniqueFd fd_;
  std::string target_;
  std::string path_;  // punix only
  uint16_t port_ = 0;
  ino_t inode_ = 0;  // of our socket file, so that we never unlink a successor's
  AcceptHandler on_accept_;
  uint64_t n_accepted_ = 0;
  // Lets Accept() notice that the accept handler destroyed the Listener.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace hsw::jsonrpc
