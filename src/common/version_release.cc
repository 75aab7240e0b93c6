// hsw::kVersion for every binary that does not define its own (version.h).
// Nothing else may live in this file: an executable that defines kVersion
// would otherwise get this object too, and two definitions.
#include "common/version.h"

namespace hsw {

const char* const kVersion = "0.1.0";

}  // namespace hsw
