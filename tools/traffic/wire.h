// hsw-traffic's on-the-wire header: the first 48 bytes of every UDP payload
// that `hsw-traffic send` emits and `hsw-traffic recv` accounts.
//
// Every field is in network byte order so that a capture (tcpdump -X) reads the
// same on any host, and so that sender and receiver may run on different
// machines.  A data packet carries its flow's sequence number; an end marker
// (kFlagEnd) carries, in `seq`, how many data packets the sender put on that
// flow, which is what makes the receiver's loss figure exact instead of a
// guess about the tail of the run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace hsw::traffic {

inline constexpr uint32_t kMagic = 0x48535754;  // "HSWT"
inline constexpr uint8_t kWireVersion = 1;
inline constexpr size_t kHeaderSize = 48;

inline constexpr uint8_t kFlagEnd = 0x1;

struct Header {
  uint8_t flags = 0;
  uint64_t run_id = 0;    // random per sender run: tells runs (and strays) apart
  uint32_t flow = 0;      // 0 .. n_flows-1, one UDP source port each
  uint32_t n_flows = 1;   // lets the receiver wait for every flow's end marker
  uint64_t seq = 0;       // data: 0,1,2... per flow; end marker: packets sent on the flow
  uint64_t send_ns = 0;   // CLOCK_REALTIME at send
  uint64_t total_sent = 0;  // end marker: packets sent over all flows

  bool is_end() const { return flags & kFlagEnd; }
};

// Writes the header into buf[0 .. kHeaderSize).
void EncodeHeader(const Header& header, uint8_t* buf);

// Parses a payload; nullopt when it is too short, has a foreign magic or an
// unknown version (such packets are counted as foreign, never as data).
std::optional<Header> DecodeHeader(const uint8_t* data, size_t size);

}  // namespace hsw::traffic
