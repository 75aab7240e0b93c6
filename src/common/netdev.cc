#include "common/netdev.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>

#include "common/fd.h"

namespace hsw::netdev {
namespace {

Result<ifreq> Request(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) return Err("'{}' is not an interface name", name);
  ifreq request{};
  std::memcpy(request.ifr_name, name.data(), name.size());
  return request;
}

}  // namespace

Result<uint32_t> GetMtu(const std::string& name) {
  HSW_ASSIGN_OR_RETURN(ifreq request, Request(name));
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoErr("socket");
  if (ioctl(fd.get(), SIOCGIFMTU, &request) < 0) return ErrnoErr("cannot read the MTU of {}", name);
  return static_cast<uint32_t>(request.ifr_mtu);
}

Status SetMtu(const std::string& name, uint32_t mtu) {
  HSW_ASSIGN_OR_RETURN(ifreq request, Request(name));
  request.ifr_mtu = static_cast<int>(mtu);
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoErr("socket");
  if (ioctl(fd.get(), SIOCSIFMTU, &request) < 0) {
    return ErrnoErr("cannot set the MTU of {} to {}", name, mtu);
  }
  return Ok();
}

}  // namespace hsw::netdev
