// MacTable: the MAC learning table behind the OpenFlow NORMAL action, which
// makes a bridge behave as an ordinary learning L2 switch (OVS's default
// "priority=0,actions=NORMAL" setups rely on it).
//
// Entries map (MAC, VLAN id) to the OpenFlow port the address was last seen
// on, and age out after `max_age` without traffic.  Learning happens only
// while translating an upcall (a packet the datapath sent up), never while
// revalidating; every change bumps generation() so that the megaflows that
// flooded towards a now-known address (or forwarded to its old port) are
// revalidated.  Bounded: beyond `max_entries`, new addresses are not learned
// (their traffic keeps flooding) until old ones age out.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>

#include "ofproto/rule.h"

namespace hsw::ofproto {

class MacTable {
 public:
  explicit MacTable(std::chrono::seconds max_age = std::chrono::seconds(300),
                    size_t max_entries = 8192)
      : max_age_(max_age), max_entries_(max_entries) {}

  // Records that `mac` on `vlan` is behind `ofport`.  True if the table changed
  // (a new address, or one that moved).  Multicast sources are ignored.
  bool Learn(const uint8_t mac[6], uint16_t vlan, uint32_t ofport, SteadyTime now);
  std::optional<uint32_t> Lookup(const uint8_t mac[6], uint16_t vlan) const;
  // Removes entries idle for max_age; returns how many.
  size_t Expire(SteadyTime now);
  // Forgets every address learned on a port (the port went away).
  void ForgetPort(uint32_t ofport);

  size_t size() const { return entries_.size(); }
  // Every entry, in no particular order (fdb/show).
  void ForEach(const std::function<void(const uint8_t mac[6], uint16_t vlan, uint32_t ofport,
                                        SteadyTime last_seen)>& visit) const;
  uint64_t generation() const { return generation_; }

 private:
  struct Entry {
    uint32_t ofport;
    SteadyTime last_seen;
  };
  static uint64_t Key(const uint8_t mac[6], uint16_t vlan);

  std::chrono::seconds max_age_;
  size_t max_entries_;
  std::unordered_map<uint64_t, Entry> entries_;
  uint64_t generation_ = 0;
};

inline bool IsMulticastMac(const uint8_t mac[6]) { return mac[0] & 1; }

}  // namespace hsw::ofproto
