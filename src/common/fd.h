// UniqueFd owns a file descriptor; unix-socket and file helpers that every
// process uses.
#pragma once

#include <unistd.h>

#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"

namespace hsw {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// A SOCK_STREAM unix socket listening on `path` (non-blocking, close-on-exec).
// A stale socket file left by a dead process is replaced; a live one (something
// accepts connections on it) is an error, so two daemons never share a path.
Result<UniqueFd> ListenUnix(const std::string& path, int backlog = 64);
// The same for another socket type (SOCK_SEQPACKET).  With `replace_live`, a
// socket file that a running process still listens on is replaced too: a
// successor taking over from that process does so on purpose.
Result<UniqueFd> ListenUnixOfType(const std::string& path, int type, bool replace_live,
                                  int backlog = 64);
// A blocking connected unix stream socket.
Result<UniqueFd> ConnectUnix(const std::string& path);
// A non-blocking TCP listener on addr:port ("127.0.0.1", 6653); port 0 picks one.
Result<UniqueFd> ListenTcp(const std::string& address, uint16_t port);

Status SetNonBlocking(int fd, bool on = true);

// Writes `content` to `path` so that a crash at any moment leaves either the
// old file or the new one: write to path.tmp, fsync, rename, fsync the directory.
Status WriteFileAtomic(const std::string& path, std::string_view content);
Result<std::string> ReadFile(const std::string& path);
// mkdir -p
Status MakeDirs(const std::string& path);

// Writes all of `data` to a blocking fd (retries on EINTR and short writes).
Status WriteAll(int fd, const void* data, size_t size);

}  // namespace hsw
