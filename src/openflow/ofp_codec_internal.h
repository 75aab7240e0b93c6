// Internals shared by the files of the OpenFlow codec (ofp_codec*.cc): the
// bounds-checked Reader, the big-endian writers, and the entry points each
// message family's file offers the dispatcher in ofp_codec.cc.  Not part of
// the module's interface: include ofp_codec.h instead.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "openflow/ofp_codec.h"

namespace hsw::ofp::detail {

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> data) : data_(data) {}

  size_t left() const { return data_.size() - pos_; }
  size_t pos() const { return pos_; }
  bool ok() const { return ok_; }

  uint8_t U8() { return static_cast<uint8_t>(Take(1)); }
  uint16_t U16() { return static_cast<uint16_t>(Take(2)); }
  uint32_t U32() { return static_cast<uint32_t>(Take(4)); }
  uint64_t U64() { return Take(8); }
  void Skip(size_t n) {
    if (n > left()) {
      ok_ = false;
      pos_ = data_.size();
    } else {
      pos_ += n;
    }
  }
  std::span<const uint8_t> Bytes(size_t n) {
    if (n > left()) {
      ok_ = false;
      pos_ = data_.size();
      return {};
    }
    auto out = data_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  std::span<const uint8_t> Rest() { return Bytes(left()); }
  // A fixed-size, NUL-padded string field.
  std::string String(size_t n) {
    auto bytes = Bytes(n);
    size_t len = 0;
    while (len < bytes.size() && bytes[len]) ++len;
    return std::string(bytes.begin(), bytes.begin() + len);
  }

 private:
  uint64_t Take(size_t n) {
    if (n > left()) {
      ok_ = false;
      pos_ = data_.size();
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | data_[pos_ + i];
    pos_ += n;
    return v;
  }

  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

inline void Put8(std::vector<uint8_t>& out, uint8_t v) { out.push_back(v); }
inline void Put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
inline void Put32(std::vector<uint8_t>& out, uint32_t v) {
  Put16(out, static_cast<uint16_t>(v >> 16));
  Put16(out, static_cast<uint16_t>(v));
}
inline void Put64(std::vector<uint8_t>& out, uint64_t v) {
  Put32(out, static_cast<uint32_t>(v >> 32));
  Put32(out, static_cast<uint32_t>(v));
}
inline void PutZeros(std::vector<uint8_t>& out, size_t n) { out.insert(out.end(), n, 0); }
inline void PutBytes(std::vector<uint8_t>& out, std::span<const uint8_t> bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}
inline void PutString(std::vector<uint8_t>& out, const std::string& s, size_t n) {
  size_t len = std::min(s.size(), n - 1);  // always NUL-terminated
  out.insert(out.end(), s.begin(), s.begin() + len);
  PutZeros(out, n - len);
}
inline void Set16(std::vector<uint8_t>& out, size_t offset, uint16_t v) {
  out[offset] = static_cast<uint8_t>(v >> 8);
  out[offset + 1] = static_cast<uint8_t>(v);
}
inline void PadTo8(std::vector<uint8_t>& out, size_t start) {
  size_t len = out.size() - start;
  PutZeros(out, (8 - len % 8) % 8);
}
constexpr size_t RoundUp8(size_t n) { return (n + 7) / 8 * 8; }

inline std::span<const uint8_t> AsSpan(const std::vector<uint8_t>& v) {
  return {v.data(), v.size()};
}

inline tl::unexpected<OfpError> Fail(uint16_t type, uint16_t code, std::string detail) {
  return tl::unexpected(OfpError{type, code, std::move(detail)});
}

inline tl::unexpected<OfpError> BadLen(const char* what) {
  return Fail(err::kBadRequest, err::kBadRequestBadLen, fmt::format("{} has a bad length", what));
}

inline void PutHeader(std::vector<uint8_t>& out, uint8_t version, uint8_t type, uint32_t xid) {
  Put8(out, version);
  Put8(out, type);
  Put16(out, 0);  // length, patched by FinishMessage
  Put32(out, xid);
}
inline void FinishMessage(std::vector<uint8_t>& out, size_t start) {
  Set16(out, start + 2, static_cast<uint16_t>(std::min(out.size() - start, kMaxMessageSize)));
}

// --- Multiparts and port structures (ofp_codec_multipart.cc) ---

// Encodes a multipart reply, split into several messages when needed.
void EncodeMultipartReply(const OfpMessage& m, const MultipartReply& reply, size_t max_size,
                          std::vector<uint8_t>& out);
void EncodeMultipartRequest(const MultipartRequest& req, std::vector<uint8_t>& out);
OfpResult<MessageBody> DecodeMultipartRequest(Reader& r, uint8_t version);
OfpResult<MessageBody> DecodeMultipartReply(Reader& r, uint8_t version);
void EncodePortStatus(uint8_t version, const PortStatus& status, std::vector<uint8_t>& out);
OfpResult<MessageBody> DecodePortStatus(Reader& r, uint8_t version);

// --- Experimenter messages and OpenFlow 1.4 bundles (ofp_codec_experimenter.cc) ---

// The body (after the header) of a bundle control or bundle add message:
// ONF experimenter 230 in OpenFlow 1.3, OFPT_BUNDLE_* in 1.4.
void EncodeBundleControl(uint8_t version, const BundleControl& bc, std::vector<uint8_t>& out);
void EncodeBundleAdd(uint8_t version, const BundleAdd& add, size_t max_size,
                     std::vector<uint8_t>& out);
void EncodeTlvTableMod(const TlvTableMod& mod, std::vector<uint8_t>& out);
void EncodeTlvTableRequest(std::vector<uint8_t>& out);
void EncodeTlvTableReply(const TlvTableReply& reply, std::vector<uint8_t>& out);
OfpResult<MessageBody> DecodeExperimenter(Reader& r, uint8_t version);
OfpResult<MessageBody> DecodeBundleControl14(Reader& r);
OfpResult<MessageBody> DecodeBundleAdd14(Reader& r);

}  // namespace hsw::ofp::detail
