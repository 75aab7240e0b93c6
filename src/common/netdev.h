// Settings of a Linux network interface that the control plane changes
// itself (the database's Interface mtu_request), through ioctl on a
// throw-away socket in the caller's network namespace.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace hsw::netdev {

Result<uint32_t> GetMtu(const std::string& name);
// Errors name the interface and the kernel's reason (an MTU out of the
// device's range is EINVAL).
Status SetMtu(const std::string& name, uint32_t mtu);

}  // namespace hsw::netdev
