// Encoding and decoding of datapath-protocol messages (dpif_protocol.h).
//
// Payloads are a compact binary form: little-endian integers, length-prefixed
// strings and byte vectors, FlowKey as its sizeof(FlowKey) raw bytes (the
// handshake checks that both ends agree on that size), and actions as a
// sequence of (u16 kind, u16 length, value) records so that a newer peer's
// unknown action is reported as an error rather than misread.
//
// Decoding never trusts the input: any truncated, oversized or inconsistent
// field gives an Error naming the message type and the field, never a crash
// or an over-read (a fuzz target checks this).
//
// Reply bodies: a request whose reply carries no data (PortDel, FlowFlush,
// ExecuteBatch) is answered with the same type, kFlagReply and an empty
// payload; it decodes as the request struct with default values.  An error
// reply (header.error != 0) always carries an ErrorReply.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/result.h"
#include "dpif/dpif_protocol.h"

namespace hsw::dpif {

// The message type a body is sent as (e.g. FlowPutBatchReply -> kFlowPut).
MsgType TypeOf(const Body& body);
const char* MsgTypeName(MsgType type);

// One whole message: header (length filled in) + payload.
std::vector<uint8_t> EncodeMessage(const Body& body, uint32_t xid, uint16_t flags = 0,
                                   int32_t error = 0);
// An error reply to a request of type `type`.
std::vector<uint8_t> EncodeErrorReply(MsgType type, uint32_t xid, int32_t error,
                                      const std::string& message);

// Decodes exactly one message; `bytes` must be the whole message (header.length bytes).
Result<Message> DecodeMessage(std::span<const uint8_t> bytes);

// Splits a byte stream into messages.
class MessageReader {
 public:
  void Append(const uint8_t* data, size_t size);
  // The next complete message, std::nullopt if more bytes are needed, or an
  // error if the stream is corrupt (the connection should then be closed).
  Result<std::optional<Message>> Next();
  size_t buffered() const { return buffer_.size() - offset_; }
  // The bytes received and not yet returned as a message (a datapath handing
  // its connections to a successor passes them on).
  std::span<const uint8_t> unread() const {
    return std::span<const uint8_t>(buffer_).subspan(offset_);
  }

 private:
  std::vector<uint8_t> buffer_;
  size_t offset_ = 0;
};

// Actions alone (also used by the datapath to validate a FlowPut).
void EncodeActions(const DpActions& actions, std::vector<uint8_t>& out);
Result<DpActions> DecodeActions(std::span<const uint8_t> bytes);

}  // namespace hsw::dpif
