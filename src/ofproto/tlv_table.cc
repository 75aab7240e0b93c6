// The TLV mapping table of a bridge (see tlv_table.h).
#include "ofproto/tlv_table.h"

#include <fmt/format.h>

namespace hsw::ofproto {

size_t TlvTable::used_space() const {
  size_t used = 0;
  for (const auto& entry : entries_) {
    if (entry) used += entry->option_len;
  }
  return used;
}

ofp::OfpResult<void> TlvTable::Apply(const ofp::TlvTableMod& mod) {
  using namespace ofp;
  // Work on a copy so that a failure half-way changes nothing.
  auto next = entries_;
  switch (mod.command) {
    case nx::kTlvAdd: {
      size_t used = used_space();
      for (const TlvMap& map : mod.maps) {
        if (map.index >= next.size()) {
          return tl::unexpected(NxError(nx::kErrBadFieldIdx,
                                        fmt::format("tun_metadata{} does not exist", map.index)));
        }
        if (next[map.index]) {
          return tl::unexpected(
              NxError(nx::kErrAlreadyMapped,
                      fmt::format("tun_metadata{} is already mapped (to class 0x{:x} type 0x{:x} "
                                  "len {})",
                                  map.index, next[map.index]->option_class,
                                  next[map.index]->option_type, next[map.index]->option_len)));
        }
        for (const auto& entry : next) {
          if (entry && entry->option_class == map.option_class &&
              entry->option_type == map.option_type) {
            return tl::unexpected(NxError(
                nx::kErrDupEntry,
                fmt::format("option class 0x{:x} type 0x{:x} is already mapped to tun_metadata{}",
                            map.option_class, map.option_type, entry->index)));
          }
        }
        if (used + map.option_len > nx::kTlvMaxOptionSpace) {
          return tl::unexpected(NxError(
              nx::kErrTableFull,
              fmt::format("tun_metadata{}: {} more option bytes do not fit ({} of {} in use)",
                          map.index, map.option_len, used, nx::kTlvMaxOptionSpace)));
        }
        used += map.option_len;
        next[map.index] = map;
      }
      break;
    }
    case nx::kTlvDelete:
      for (const TlvMap& map : mod.maps) {
        if (map.index < next.size()) next[map.index].reset();
      }
      break;
    case nx::kTlvClear:
      for (auto& entry : next) entry.reset();
      break;
    default:
      return tl::unexpected(
          NxError(nx::kErrBadCommand, fmt::format("TLV table command {} is unknown", mod.command)));
  }
  entries_ = next;
  return {};
}

ofp::TlvTableReply TlvTable::Reply() const {
  ofp::TlvTableReply reply;
  for (const auto& entry : entries_) {
    if (entry) reply.maps.push_back(*entry);
  }
  return reply;
}

}  // namespace hsw::ofproto
