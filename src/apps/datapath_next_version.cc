// hsw-datapath-next: hsw-datapath built from the same sources but reporting
// another release (HSW_NEXT_VERSION, set by CMake: "<release>+next") and
// speaking handover versions 1..3, so that tests hand over between two
// genuinely different binaries (tests/e2e/test_handover.py).  These two
// definitions replace common/version_release.cc's and
// datapath/handover_version.cc's: the linker takes those objects out of the
// static libraries only while the symbols are still undefined.
#include "common/version.h"
#include "datapath/handover.h"

namespace hsw {
const char* const kVersion = HSW_NEXT_VERSION;
}  // namespace hsw

namespace hsw::dp {
// Version 3 is version 2 on the wire: the difference is only what the
// binaries negotiate (the highest version both speak).
const uint32_t kHandoverVersion = 3;
}  // namespace hsw::dp
