// The internet checksum (RFC 1071) and its incremental update (RFC 1624).
//
// The datapath rewrites header fields in place (set-field actions) and must
// keep the IPv4, TCP, UDP and ICMPv6 checksums right without summing the whole
// packet again: RFC 1624's HC' = ~(~HC + ~m + m') does that in a few
// instructions per changed word.  Frames that the kernel hands over with a
// partial checksum (CHECKSUM_PARTIAL: the L4 checksum field holds only the
// pseudo-header sum) are completed with CompletePartialChecksum before they
// leave in a form that needs a real checksum.
//
// Byte order: all 16-bit values here are taken exactly as they lie in the
// packet (network order, read with memcpy).  The ones'-complement sum is
// byte-order independent as long as every operand uses the same order, so no
// swapping is needed; results are to be stored back the same way.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hsw {

// 32-bit running ones'-complement sum of `size` bytes (an odd tail byte is
// padded with zero), added to `sum`.  `data` need not be aligned.
uint32_t ChecksumAdd(uint32_t sum, const void* data, size_t size);
// Folds a running sum to 16 bits and complements it: the value to store.
uint16_t ChecksumFinish(uint32_t sum);
// ChecksumFinish(ChecksumAdd(0, data, size)).
uint16_t InternetChecksum(const void* data, size_t size);

// RFC 1624 eqn. 3: the checksum after one 16-bit word changed from `old_word`
// to `new_word`.
uint16_t ChecksumUpdate16(uint16_t checksum, uint16_t old_word, uint16_t new_word);
// The same for a 4-byte value (an IPv4 address), given as the bytes in the packet.
uint16_t ChecksumUpdate32(uint16_t checksum, const uint8_t old_bytes[4],
                          const uint8_t new_bytes[4]);
// The same for any even number of bytes (IPv6 addresses, MAC addresses).
uint16_t ChecksumUpdateBytes(uint16_t checksum, const uint8_t* old_bytes,
                             const uint8_t* new_bytes, size_t size);

// Completes a CHECKSUM_PARTIAL frame: the 16-bit field at csum_start +
// csum_offset holds the pseudo-header sum; sums frame[csum_start, size) and
// stores the final checksum there (0 becomes 0xffff, as UDP requires and TCP
// accepts).  Returns false, changing nothing, if the offsets do not fit.
bool CompletePartialChecksum(uint8_t* frame, size_t size, size_t csum_start, size_t csum_offset);

// The pseudo-header sum (not complemented) for an L4 segment of `l4_size`
// bytes with protocol `proto`, from the IPv4 / IPv6 addresses in the packet.
uint32_t PseudoHeaderSumIpv4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto,
                             uint32_t l4_size);
uint32_t PseudoHeaderSumIpv6(const uint8_t src[16], const uint8_t dst[16], uint8_t proto,
                             uint32_t l4_size);

// CRC32c (Castagnoli), as SCTP uses it: the value to store in the SCTP
// header's checksum field (computed with that field zeroed), in the byte
// order to store with memcpy.
uint32_t SctpCrc32c(const uint8_t* data, size_t size);

}  // namespace hsw
