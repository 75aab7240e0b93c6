// Hand-built frames for the packet and datapath unit tests.  Checksums are
// computed the slow way (whole header / pseudo header) so that tests can
// compare the datapath's incremental updates against them.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "packet/checksum.h"

namespace hsw::testing {

using Bytes = std::vector<uint8_t>;

inline void Put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
inline void Put32(Bytes& b, uint32_t v) {
  Put16(b, static_cast<uint16_t>(v >> 16));
  Put16(b, static_cast<uint16_t>(v));
}
inline void PutBytes(Bytes& b, const uint8_t* p, size_t n) { b.insert(b.end(), p, p + n); }
inline uint16_t Get16(const Bytes& b, size_t off) {
  return static_cast<uint16_t>(b[off] << 8 | b[off + 1]);
}

inline const uint8_t kMacA[6] = {0x02, 0, 0, 0, 0, 0x0a};
inline const uint8_t kMacB[6] = {0x02, 0, 0, 0, 0, 0x0b};
inline const uint8_t kIpA[4] = {10, 0, 0, 1};
inline const uint8_t kIpB[4] = {10, 0, 0, 2};
inline const uint8_t kIp6A[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
inline const uint8_t kIp6B[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

struct EthOpts {
  const uint8_t* src = kMacA;
  const uint8_t* dst = kMacB;
  std::vector<std::pair<uint16_t, uint16_t>> tags;  // (tpid, tci), outer first
};

inline Bytes Eth(uint16_t type, const EthOpts& o = {}) {
  Bytes b;
  PutBytes(b, o.dst, 6);
  PutBytes(b, o.src, 6);
  for (auto [tpid, tci] : o.tags) {
    Put16(b, tpid);
    Put16(b, tci);
  }
  Put16(b, type);
  return b;
}

// L4 header + payload with its checksum (TCP/UDP/ICMPv6 use the pseudo header).
inline Bytes Udp(uint16_t sport, uint16_t dport, size_t payload = 8) {
  Bytes b;
  Put16(b, sport);
  Put16(b, dport);
  Put16(b, static_cast<uint16_t>(8 + payload));
  Put16(b, 0);
  for (size_t i = 0; i < payload; ++i) b.push_back(static_cast<uint8_t>(i));
  return b;
}
inline Bytes Tcp(uint16_t sport, uint16_t dport, uint16_t flags, size_t payload = 8,
                 size_t options = 0) {
  Bytes b;
  Put16(b, sport);
  Put16(b, dport);
  Put32(b, 1000);
  Put32(b, 2000);
  Put16(b, static_cast<uint16_t>(((5 + options / 4) << 12) | (flags & 0x0fff)));
  Put16(b, 1024);
  Put16(b, 0);  // checksum
  Put16(b, 0);
  for (size_t i = 0; i < options; ++i) b.push_back(1);  // NOPs
  for (size_t i = 0; i < payload; ++i) b.push_back(static_cast<uint8_t>(i));
  return b;
}
inline Bytes Icmp(uint8_t type, uint8_t code) {
  Bytes b = {type, code, 0, 0, 0, 1, 0, 1, 'p', 'i', 'n', 'g'};
  return b;
}

// Offset of the checksum field in an L4 header, or -1.
inline int L4ChecksumOffset(uint8_t proto) {
  switch (proto) {
    case 6: return 16;
    case 17: return 6;
    case 1: return 2;
    case 58: return 2;
    default: return -1;
  }
}

inline void FillL4Checksum(Bytes& l4, uint8_t proto, uint32_t pseudo) {
  int off = L4ChecksumOffset(proto);
  if (off < 0) return;
  l4[off] = l4[off + 1] = 0;
  uint32_t start = proto == 1 ? 0 : pseudo;  // ICMPv4 has no pseudo header
  uint16_t csum = ChecksumFinish(ChecksumAdd(start, l4.data(), l4.size()));
  if (proto == 17 && csum == 0) csum = 0xffff;
  std::memcpy(l4.data() + off, &csum, 2);
}

struct Ip4Opts {
  const uint8_t* src = kIpA;
  const uint8_t* dst = kIpB;
  uint8_t tos = 0;
  uint8_t ttl = 64;
  uint16_t frag = 0;      // flags+offset field
  size_t options = 0;     // bytes of IP options (multiple of 4)
};

inline Bytes Ipv4(uint8_t proto, Bytes l4, const Ip4Opts& o = {}) {
  FillL4Checksum(l4, proto, PseudoHeaderSumIpv4(o.src, o.dst, proto, static_cast<uint32_t>(l4.size())));
  Bytes b;
  size_t ihl = 20 + o.options;
  b.push_back(static_cast<uint8_t>(0x40 | (ihl / 4)));
  b.push_back(o.tos);
  Put16(b, static_cast<uint16_t>(ihl + l4.size()));
  Put16(b, 0x1234);
  Put16(b, o.frag);
  b.push_back(o.ttl);
  b.push_back(proto);
  Put16(b, 0);
  PutBytes(b, o.src, 4);
  PutBytes(b, o.dst, 4);
  for (size_t i = 0; i < o.options; ++i) b.push_back(1);
  uint16_t csum = InternetChecksum(b.data(), b.size());
  std::memcpy(b.data() + 10, &csum, 2);
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

// IPv6 with optional extension headers (each given as (type, body bytes)).
inline Bytes Ipv6(uint8_t proto, Bytes l4, uint8_t tclass = 0, uint8_t hlim = 64,
                  std::vector<std::pair<uint8_t, Bytes>> ext = {}) {
  FillL4Checksum(l4, proto, PseudoHeaderSumIpv6(kIp6A, kIp6B, proto, static_cast<uint32_t>(l4.size())));
  Bytes exts;
  uint8_t first = ext.empty() ? proto : ext[0].first;
  for (size_t i = 0; i < ext.size(); ++i) {
    uint8_t next = i + 1 < ext.size() ? ext[i + 1].first : proto;
    Bytes h = ext[i].second;  // caller provides bytes after next/len
    exts.push_back(next);
    if (ext[i].first == 44) {
      exts.push_back(0);
    } else {
      exts.push_back(static_cast<uint8_t>((h.size() + 2) / 8 - 1));
    }
    exts.insert(exts.end(), h.begin(), h.end());
  }
  Bytes b;
  Put32(b, (6u << 28) | (static_cast<uint32_t>(tclass) << 20) | 0x12345);
  Put16(b, static_cast<uint16_t>(exts.size() + l4.size()));
  b.push_back(first);
  b.push_back(hlim);
  PutBytes(b, kIp6A, 16);
  PutBytes(b, kIp6B, 16);
  b.insert(b.end(), exts.begin(), exts.end());
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

inline Bytes Arp(uint16_t op) {
  Bytes b;
  Put16(b, 1);
  Put16(b, 0x0800);
  b.push_back(6);
  b.push_back(4);
  Put16(b, op);
  PutBytes(b, kMacA, 6);
  PutBytes(b, kIpA, 4);
  PutBytes(b, kMacB, 6);
  PutBytes(b, kIpB, 4);
  return b;
}

inline Bytes Cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Checks every checksum a frame carries by recomputing it from scratch.
// Returns "" if all are right, else what is wrong.
inline std::string VerifyChecksums(const Bytes& f) {
  size_t off = 12;
  uint16_t type = Get16(f, off);
  while (type == 0x8100 || type == 0x88a8) {
    off += 4;
    type = Get16(f, off);
  }
  off += 2;
  if (type == 0x0800) {
    size_t ihl = (f[off] & 0x0f) * 4u;
    if (InternetChecksum(f.data() + off, ihl) != 0) return "ipv4 header checksum";
    uint8_t proto = f[off + 9];
    size_t total = Get16(f, off + 2);
    size_t l4 = off + ihl, l4size = total - ihl;
    if (L4ChecksumOffset(proto) < 0) return "";
    if (proto == 17 && Get16(f, l4 + 6) == 0) return "";
    uint32_t start = proto == 1 ? 0
                                : PseudoHeaderSumIpv4(f.data() + off + 12, f.data() + off + 16,
                                                      proto, static_cast<uint32_t>(l4size));
    if (ChecksumFinish(ChecksumAdd(start, f.data() + l4, l4size)) != 0) return "l4 checksum (ipv4)";
  } else if (type == 0x86dd) {
    uint8_t proto = f[off + 6];
    size_t l4 = off + 40, l4size = Get16(f, off + 4);
    if (L4ChecksumOffset(proto) < 0) return "";
    uint32_t start = PseudoHeaderSumIpv6(f.data() + off + 8, f.data() + off + 24, proto,
                                         static_cast<uint32_t>(l4size));
    if (ChecksumFinish(ChecksumAdd(start, f.data() + l4, l4size)) != 0) return "l4 checksum (ipv6)";
  }
  return "";
}

}  // namespace hsw::testing
