#include "common/fd.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstring>

namespace hsw {
namespace {

Result<sockaddr_un> UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return Err("socket path {} is longer than {} bytes", path, sizeof(addr.sun_path) - 1);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

}  // namespace

Status SetNonBlocking(int fd, bool on) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return ErrnoErr("fcntl(F_GETFL)");
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (fcntl(fd, F_SETFL, flags) < 0) return ErrnoErr("fcntl(F_SETFL)");
  return Ok();
}

Result<UniqueFd> ListenUnix(const std::string& path, int backlog) {
  return ListenUnixOfType(path, SOCK_STREAM, false, backlog);
}

Result<UniqueFd> ListenUnixOfType(const std::string& path, int type, bool replace_live,
                                  int backlog) {
  HSW_ASSIGN_OR_RETURN(sockaddr_un addr, UnixAddress(path));
  // Is someone alive behind an existing socket file?
  if (!replace_live) {
    UniqueFd probe(socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
    if (probe && connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      return MakeError(fmt::format("{} is in use by a running process", path), EADDRINUSE);
    }
  }
  // Bound and listening under a temporary name, then renamed into place: a
  // client that sees the file can connect at once (no window between bind
  // and listen), and a waiter watching the directory with inotify sees one
  // event when the socket is really there.
  std::string temporary = fmt::format("{}.{}.tmp", path, getpid());
  HSW_ASSIGN_OR_RETURN(sockaddr_un temporary_addr, UnixAddress(temporary));
  unlink(temporary.c_str());
  UniqueFd fd(socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return ErrnoErr("socket(AF_UNIX)");
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&temporary_addr), sizeof(temporary_addr)) < 0) {
    return ErrnoErr("bind {}", temporary);
  }
  if (listen(fd.get(), backlog) < 0 || rename(temporary.c_str(), path.c_str()) < 0) {
    int saved = errno;
    unlink(temporary.c_str());
    errno = saved;
    return ErrnoErr("listen on {}", path);
  }
  return fd;
}

Result<UniqueFd> ConnectUnix(const std::string& path) {
  HSW_ASSIGN_OR_RETURN(sockaddr_un addr, UnixAddress(path));
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoErr("socket(AF_UNIX)");
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    return ErrnoErr("connect {}", path);
  }
  return fd;
}

Result<UniqueFd> ListenTcp(const std::string& address, uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) {
    return Err("'{}' is not an IPv4 address", address);
  }
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return ErrnoErr("socket(AF_INET)");
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    return ErrnoErr("bind {}:{}", address, port);
  }
  if (listen(fd.get(), 64) < 0) return ErrnoErr("listen {}:{}", address, port);
  return fd;
}

Status WriteAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoErr("write");
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return Ok();
}

Status WriteFileAtomic(const std::string& path, std::string_view content) {
  std::string tmp = path + ".tmp";
  {
    UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) return ErrnoErr("open {}", tmp);
    HSW_TRY(WriteAll(fd.get(), content.data(), content.size()));
    if (fsync(fd.get()) < 0) return ErrnoErr("fsync {}", tmp);
  }
  if (rename(tmp.c_str(), path.c_str()) < 0) return ErrnoErr("rename {} to {}", tmp, path);
  std::string dir_copy = path;
  UniqueFd dir(open(dirname(dir_copy.data()), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir) fsync(dir.get());
  return Ok();
}

Result<std::string> ReadFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoErr("open {}", path);
  std::string content;
  char buffer[65536];
  for (;;) {
    ssize_t n = read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoErr("read {}", path);
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
  }
  return content;
}

Status MakeDirs(const std::string& path) {
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty()) continue;
    if (mkdir(partial.c_str(), 0755) < 0 && errno != EEXIST) return ErrnoErr("mkdir {}", partial);
  }
  return Ok();
}

}  // namespace hsw
