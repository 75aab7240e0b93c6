#include "ofproto/mac_learning.h"

namespace hsw::ofproto {

uint64_t MacTable::Key(const uint8_t mac[6], uint16_t vlan) {
  uint64_t k = 0;
  for (int i = 0; i < 6; ++i) k = (k << 8) | mac[i];
  return (k << 12) | (vlan & 0x0fff);
}

void MacTable::ForEach(const std::function<void(const uint8_t mac[6], uint16_t vlan,
                                               uint32_t ofport, SteadyTime last_seen)>& visit) const {
  for (const auto& [key, entry] : entries_) {
    uint8_t mac[6];
    for (int i = 0; i < 6; ++i) mac[i] = static_cast<uint8_t>(key >> (12 + 8 * (5 - i)));
    visit(mac, static_cast<uint16_t>(key & 0x0fff), entry.ofport, entry.last_seen);
  }
}

bool MacTable::Learn(const uint8_t mac[6], uint16_t vlan, uint32_t ofport, SteadyTime now) {
  if (IsMulticastMac(mac)) return false;
  uint64_t key = Key(mac, vlan);
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    it->second.last_seen = now;
    if (it->second.ofport == ofport) return false;
    it->second.ofport = ofport;
    ++generation_;
    return true;
  }
  if (entries_.size() >= max_entries_) return false;
  entries_.emplace(key, Entry{ofport, now});
  ++generation_;
  return true;
}

std::optional<uint32_t> MacTable::Lookup(const uint8_t mac[6], uint16_t vlan) const {
  auto it = entries_.find(Key(mac, vlan));
  if (it == entries_.end()) return std::nullopt;
  return it->second.ofport;
}

size_t MacTable::Expire(SteadyTime now) {
  size_t n = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (now - it->second.last_seen > max_age_) {
      it = entries_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  if (n) ++generation_;
  return n;
}

void MacTable::ForgetPort(uint32_t ofport) {
  size_t n = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.ofport == ofport) {
      it = entries_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  if (n) ++generation_;
}

}  // namespace hsw::ofproto
