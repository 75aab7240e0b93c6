// Text forms of the addresses and byte runs in a FlowKey, shared by every
// printer (datapath keys and actions, ovs-ofctl flow text, hsw-ctl) so that
// one address always prints the same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace hsw {

std::string FormatMac(const uint8_t* mac);    // "02:00:00:00:00:01"
std::string FormatIpv4(const uint8_t* addr);  // "10.0.0.1" (network order bytes)
std::string FormatIpv6(const uint8_t* addr);  // "fe80::1"
bool BytesAllZero(const uint8_t* bytes, size_t n);
bool BytesAllOnes(const uint8_t* bytes, size_t n);

}  // namespace hsw
