// Small builders for flow-mods and keys shared by the ofproto unit tests.
#pragma once

#include <cstring>

#include "openflow/ofp_types.h"
#include "packet/flow_key.h"

namespace hsw::ofproto::testing {

inline ofp::Match MatchInPort(uint32_t port) {
  ofp::Match m;
  m.key.in_port = port;
  m.mask.in_port = 0xffffffff;
  return m;
}

inline ofp::Match& WithIp(ofp::Match& m) {
  m.key.eth_type = kEthTypeIpv4;
  m.mask.eth_type = 0xffff;
  return m;
}

inline ofp::Match& WithTcpDst(ofp::Match& m, uint16_t port) {
  WithIp(m);
  m.key.nw_proto = kIpProtoTcp;
  m.mask.nw_proto = 0xff;
  m.key.tp_dst = port;
  m.mask.tp_dst = 0xffff;
  return m;
}

inline ofp::Instructions Output(uint32_t port) {
  ofp::Instructions ins;
  ins.apply.push_back(ofp::ActOutput{port});
  return ins;
}

inline ofp::FlowMod MakeFlowMod(ofp::FlowModCommand command, uint8_t table, uint16_t priority,
                                const ofp::Match& match, ofp::Instructions ins = {},
                                uint64_t cookie = 0) {
  ofp::FlowMod fm;
  fm.command = command;
  fm.table_id = table;
  fm.priority = priority;
  fm.match = match;
  fm.instructions = std::move(ins);
  fm.cookie = cookie;
  return fm;
}

inline ofp::FlowMod AddFlow(uint8_t table, uint16_t priority, const ofp::Match& match,
                            ofp::Instructions ins, uint64_t cookie = 0) {
  return MakeFlowMod(ofp::FlowModCommand::kAdd, table, priority, match, std::move(ins), cookie);
}

// An IPv4/TCP packet key.
inline FlowKey TcpKey(uint32_t in_port, uint16_t tp_dst, uint8_t ttl = 64) {
  FlowKey k = FlowKey::Zero();
  k.in_port = in_port;
  k.eth_type = kEthTypeIpv4;
  k.nw_proto = kIpProtoTcp;
  k.nw_ttl = ttl;
  k.tp_src = 12345;
  k.tp_dst = tp_dst;
  const uint8_t src[4] = {10, 0, 0, 1}, dst[4] = {10, 0, 0, 2};
  std::memcpy(k.ipv4_src, src, 4);
  std::memcpy(k.ipv4_dst, dst, 4);
  const uint8_t mac_s[6] = {0, 0, 0, 0, 0, 1}, mac_d[6] = {0, 0, 0, 0, 0, 2};
  std::memcpy(k.eth_src, mac_s, 6);
  std::memcpy(k.eth_dst, mac_d, 6);
  return k;
}

}  // namespace hsw::ofproto::testing
