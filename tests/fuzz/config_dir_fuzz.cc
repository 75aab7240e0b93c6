// Fuzzes the ConfigMap translation: keys and values come from whoever edits
// the ConfigMap.  The input is split into key/value pairs at NUL bytes
// (key\0value\0key\0value...).  Anything must give a request or an error
// naming the problems, never a crash; a request that comes out must parse
// back as hsw-vswitchd's configuration (conf.json's format), since that is
// what hsw-vswitchd does with it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sidecar/config_dir.h"
#include "vswitchd/config_store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  hsw::sidecar::ConfigGeneration generation;
  generation.id = "fuzz";
  size_t pos = 0;
  while (pos < text.size()) {
    size_t key_end = text.find('\0', pos);
    if (key_end == std::string::npos) break;
    size_t value_end = text.find('\0', key_end + 1);
    if (value_end == std::string::npos) value_end = text.size();
    generation.values[text.substr(pos, key_end - pos)] =
        text.substr(key_end + 1, value_end - key_end - 1);
    pos = value_end + 1;
  }
  auto request = hsw::sidecar::TranslateConfig(generation);
  if (!request) {
    if (request.error().message.empty()) std::abort();
    return 0;
  }
  auto config = hsw::vswitchd::ParseConfig((*request)["config"].dump(), "fuzz");
  if (!config) {
    std::fprintf(stderr, "config_dir_fuzz: a translated generation does not parse: %s\n",
                 config.error().ToString().c_str());
    std::abort();
  }
  return 0;
}
