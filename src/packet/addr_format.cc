#include "packet/addr_format.h"

#include <arpa/inet.h>

#include <fmt/format.h>

namespace hsw {

std::string FormatMac(const uint8_t* m) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4],
                     m[5]);
}

std::string FormatIpv4(const uint8_t* a) {
  return fmt::format("{}.{}.{}.{}", a[0], a[1], a[2], a[3]);
}

std::string FormatIpv6(const uint8_t* a) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, a, buf, sizeof(buf));
  return buf;
}

bool BytesAllZero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

bool BytesAllOnes(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0xff) return false;
  }
  return true;
}

}  // namespace hsw
