#include "packet/checksum.h"

#include <arpa/inet.h>

#include <array>
#include <cstring>

namespace hsw {
namespace {

uint32_t Fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint32_t>(sum);
}

}  // namespace

uint32_t ChecksumAdd(uint32_t sum, const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  // A 64-bit accumulator takes 32-bit chunks without overflow for any frame
  // size we handle; the end-around carries are folded at the end.
  uint64_t acc = sum;
  while (size >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    acc += w;
    p += 4;
    size -= 4;
  }
  if (size >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    acc += w;
    p += 2;
    size -= 2;
  }
  if (size) {
    uint8_t tail[2] = {*p, 0};
    uint16_t w;
    std::memcpy(&w, tail, 2);
    acc += w;
  }
  return Fold(acc);
}

uint16_t ChecksumFinish(uint32_t sum) { return static_cast<uint16_t>(~Fold(sum) & 0xffff); }

uint16_t InternetChecksum(const void* data, size_t size) {
  return ChecksumFinish(ChecksumAdd(0, data, size));
}

uint16_t ChecksumUpdate16(uint16_t checksum, uint16_t old_word, uint16_t new_word) {
  uint32_t sum = static_cast<uint16_t>(~checksum);
  sum += static_cast<uint16_t>(~old_word);
  sum += new_word;
  return ChecksumFinish(sum);
}

uint16_t ChecksumUpdateBytes(uint16_t checksum, const uint8_t* old_bytes,
                             const uint8_t* new_bytes, size_t size) {
  uint64_t sum = static_cast<uint16_t>(~checksum);
  for (size_t i = 0; i + 1 < size; i += 2) {
    uint16_t o, n;
    std::memcpy(&o, old_bytes + i, 2);
    std::memcpy(&n, new_bytes + i, 2);
    sum += static_cast<uint16_t>(~o);
    sum += n;
  }
  return ChecksumFinish(Fold(sum));
}

uint16_t ChecksumUpdate32(uint16_t checksum, const uint8_t old_bytes[4],
                          const uint8_t new_bytes[4]) {
  return ChecksumUpdateBytes(checksum, old_bytes, new_bytes, 4);
}

bool CompletePartialChecksum(uint8_t* frame, size_t size, size_t csum_start, size_t csum_offset) {
  if (csum_start > size || csum_offset + 2 > size - csum_start) return false;
  uint16_t csum = ChecksumFinish(ChecksumAdd(0, frame + csum_start, size - csum_start));
  if (csum == 0) csum = 0xffff;
  std::memcpy(frame + csum_start + csum_offset, &csum, 2);
  return true;
}

uint32_t PseudoHeaderSumIpv4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto,
                             uint32_t l4_size) {
  uint32_t sum = ChecksumAdd(0, src, 4);
  sum = ChecksumAdd(sum, dst, 4);
  uint16_t tail[2] = {htons(proto), htons(static_cast<uint16_t>(l4_size))};
  return ChecksumAdd(sum, tail, 4);
}

uint32_t PseudoHeaderSumIpv6(const uint8_t src[16], const uint8_t dst[16], uint8_t proto,
                             uint32_t l4_size) {
  uint32_t sum = ChecksumAdd(0, src, 16);
  sum = ChecksumAdd(sum, dst, 16);
  uint32_t tail[2] = {htonl(l4_size), htonl(proto)};
  return ChecksumAdd(sum, tail, 8);
}

uint32_t SctpCrc32c(const uint8_t* data, size_t size) {
  // Table-driven, reflected polynomial 0x82f63b78.  SCTP rewrites are rare
  // (a set-field on SCTP ports), so no hardware instruction path is needed.
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
  crc = ~crc;
  // RFC 4960 appendix B: the CRC goes on the wire least significant byte first.
  uint32_t out;
  uint8_t bytes[4] = {static_cast<uint8_t>(crc), static_cast<uint8_t>(crc >> 8),
                      static_cast<uint8_t>(crc >> 16), static_cast<uint8_t>(crc >> 24)};
  std::memcpy(&out, bytes, 4);
  return out;
}

}  // namespace hsw
