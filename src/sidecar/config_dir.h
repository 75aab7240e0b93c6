// sidecar/config_dir: the switch's configuration from a directory of
// key-value files -- a mounted ConfigMap -- read one generation at a time.
//
// Kubernetes writes a ConfigMap volume as a timestamped directory, a
// `..data` symlink to it, and one symlink per key into `..data/`; an update
// writes a new directory and renames a new `..data` over the old one
// (atomic_writer.go).  So a generation is read through `..data` resolved
// once: every key comes from the same directory, and generations never mix.
// A plain directory of files (no `..data`) works too; its generation id is
// then a hash of the contents.
//
// Keys (each a file; values trimmed of surrounding whitespace):
//   bridges                  names, separated by spaces: the bridges there are
//   bridge.NAME.ports        IFACE[:OFPORT] ... (a system interface each)
//   bridge.NAME.controllers  tcp:IP:PORT unix:PATH ptcp:PORT[:IP] punix:PATH ...
//   bridge.NAME.datapath-id  16 hex digits
//   log-levels               vlog specs, e.g. "ofproto:dbg vswitchd:info"
// Anything else -- an unknown key, a bridge.NAME.* of a bridge not in
// `bridges`, a bad name, number or target -- refuses the whole generation
// with every problem named; nothing of it is applied.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"

namespace hsw::sidecar {

struct ConfigGeneration {
  std::string id;                             // ..data's target, or "sha:<hash>"
  std::map<std::string, std::string> values;  // key -> value
};

// Reads the generation `dir` holds now.  Fails only when the directory
// cannot be read (a missing one included).
Result<ConfigGeneration> ReadConfigDir(const std::string& dir);

// What a generation asks hsw-vswitchd for: the `apply-config` request's
// params ({"config": <conf.json's shape>, "vlog": [specs]}).  Every problem
// in the generation is in the error, one per line.
Result<nlohmann::json> TranslateConfig(const ConfigGeneration& generation);

}  // namespace hsw::sidecar
