// hsw::dp::kHandoverVersion for every binary that does not define its own
// (handover.h).  Nothing else may live in this file, as in
// common/version_release.cc.
#include "datapath/handover.h"

namespace hsw::dp {

const uint32_t kHandoverVersion = 2;

}  // namespace hsw::dp
