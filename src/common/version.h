// The hsw release every binary reports (--version, hsw-ctl version, the
// datapath handshake), so that version skew between the daemons and the CLI
// is visible in one place.
#pragma once

namespace hsw {

inline constexpr const char* kVersion = "0.1.0";

}  // namespace hsw
