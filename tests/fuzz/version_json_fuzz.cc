// Fuzzes the reader of `--version --json`: hsw-ctl upgrade-check runs
// whatever binary the operator names and parses its output, so anything at
// all must give a BinaryVersion or an error, never a crash.  A version that
// parses must also survive a round trip unchanged, since upgrade-check's
// verdict rests on the ranges read.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "common/version.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = hsw::ParseVersionJson(text);
  if (!parsed) return 0;
  for (const auto& [name, range] : parsed->accepts) {
    if (range.min > range.max) {
      std::fprintf(stderr, "version_json_fuzz: accepted an empty range for %s\n", name.c_str());
      std::abort();
    }
  }
  auto again = hsw::ParseVersionJson(hsw::FormatVersionJson(*parsed));
  if (!again || again->program != parsed->program || again->version != parsed->version ||
      again->accepts != parsed->accepts || again->flow_key_size != parsed->flow_key_size) {
    std::fprintf(stderr, "version_json_fuzz: the round trip changed the version\n");
    std::abort();
  }
  return 0;
}
