#include "wire.h"

#include <endian.h>

#include <cstring>

namespace hsw::traffic {
namespace {

void Put16(uint8_t* p, uint16_t v) {
  v = htobe16(v);
  std::memcpy(p, &v, sizeof v);
}
void Put32(uint8_t* p, uint32_t v) {
  v = htobe32(v);
  std::memcpy(p, &v, sizeof v);
}
void Put64(uint8_t* p, uint64_t v) {
  v = htobe64(v);
  std::memcpy(p, &v, sizeof v);
}
uint16_t Get16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return be16toh(v);
}
uint32_t Get32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return be32toh(v);
}
uint64_t Get64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return be64toh(v);
}

}  // namespace

// Layout (offsets in bytes):
//   0 magic u32 | 4 version u8 | 5 flags u8 | 6 header size u16 | 8 run id u64
//  16 flow u32  | 20 n_flows u32 | 24 seq u64 | 32 send_ns u64 | 40 total_sent u64
void EncodeHeader(const Header& h, uint8_t* buf) {
  Put32(buf + 0, kMagic);
  buf[4] = kWireVersion;
  buf[5] = h.flags;
  Put16(buf + 6, kHeaderSize);
  Put64(buf + 8, h.run_id);
  Put32(buf + 16, h.flow);
  Put32(buf + 20, h.n_flows);
  Put64(buf + 24, h.seq);
  Put64(buf + 32, h.send_ns);
  Put64(buf + 40, h.total_sent);
}

std::optional<Header> DecodeHeader(const uint8_t* data, size_t size) {
  if (size < kHeaderSize) return std::nullopt;
  if (Get32(data) != kMagic || data[4] != kWireVersion) return std::nullopt;
  // A later version may grow the header; it must never shrink below ours.
  if (Get16(data + 6) < kHeaderSize) return std::nullopt;
  Header h;
  h.flags = data[5];
  h.run_id = Get64(data + 8);
  h.flow = Get32(data + 16);
  h.n_flows = Get32(data + 20);
  h.seq = Get64(data + 24);
  h.send_ns = Get64(data + 32);
  h.total_sent = Get64(data + 40);
  if (h.n_flows == 0 || h.flow >= h.n_flows) return std::nullopt;
  return h;
}

}  // namespace hsw::traffic
