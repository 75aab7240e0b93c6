// OpenFlow codec, part 3 of 5: experimenter messages (ONF bundles in
// OpenFlow 1.3, Nicira's TLV table messages) and OpenFlow 1.4's own bundle
// messages, which carry the same bodies without the experimenter header.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "openflow/ofp_codec_internal.h"

namespace hsw::ofp {

using namespace detail;  // NOLINT(build/namespaces): the codec's own internals

namespace {

constexpr size_t kTlvMapSize = 8;

// A bundle error for a message being decoded: which numbering depends on
// the version it came in.
tl::unexpected<OfpError> BundleFail(uint8_t version, uint16_t onf_code, std::string detail) {
  return tl::unexpected(BundleError(version, onf_code, std::move(detail)));
}

// bundle_id, type, flags (properties, none of which hsw uses, ignored).
OfpResult<MessageBody> DecodeBundleControlBody(Reader& r, uint8_t version) {
  if (r.left() < 8) return BadLen("bundle control");
  BundleControl bc;
  bc.bundle_id = r.U32();
  bc.type = r.U16();
  bc.flags = r.U16();
  if (bc.type > bundle::kDiscardReply) {
    return BundleFail(version, bundle::kErrBadType,
                      fmt::format("bundle control type {} is unknown", bc.type));
  }
  return bc;
}

// bundle_id, pad, flags, then one whole message (properties after it, if
// any, are ignored).
OfpResult<MessageBody> DecodeBundleAddBody(Reader& r, uint8_t version) {
  if (r.left() < 8 + kHeaderSize) return BadLen("bundle add");
  BundleAdd add;
  add.bundle_id = r.U32();
  r.Skip(2);
  add.flags = r.U16();
  auto rest = r.Rest();
  size_t inner = (size_t{rest[2]} << 8) | rest[3];
  if (inner < kHeaderSize || inner > rest.size()) {
    return BundleFail(version, bundle::kErrMsgBadLen, "bundled message length does not fit");
  }
  add.message.assign(rest.begin(), rest.begin() + static_cast<ptrdiff_t>(inner));
  return add;
}

OfpResult<std::vector<TlvMap>> DecodeTlvMaps(Reader& r) {
  if (r.left() % kTlvMapSize) return BadLen("TLV table map list");
  std::vector<TlvMap> maps;
  while (r.left() > 0) {
    TlvMap map;
    map.option_class = r.U16();
    map.option_type = r.U8();
    map.option_len = r.U8();
    map.index = r.U16();
    r.Skip(2);
    // Checked here, as OVS does, so that a bad map is refused whatever the
    // command (and a reply we decode obeys the same limits).
    if (map.option_len % 4 || map.option_len > nx::kTlvMaxOptionLen) {
      return tl::unexpected(NxError(
          nx::kErrBadOptLen, fmt::format("TLV option length {} is not a multiple of 4 up to {}",
                                         map.option_len, nx::kTlvMaxOptionLen)));
    }
    if (map.index >= nx::kTlvMaxFields) {
      return tl::unexpected(
          NxError(nx::kErrBadFieldIdx, fmt::format("tun_metadata{} does not exist (0 to {})",
                                                   map.index, nx::kTlvMaxFields - 1)));
    }
    maps.push_back(map);
  }
  return maps;
}

void EncodeTlvMaps(const std::vector<TlvMap>& maps, std::vector<uint8_t>& out) {
  for (const TlvMap& map : maps) {
    Put16(out, map.option_class);
    Put8(out, map.option_type);
    Put8(out, map.option_len);
    Put16(out, map.index);
    PutZeros(out, 2);
  }
}

OfpResult<MessageBody> DecodeNicira(Reader& r, uint32_t subtype) {
  switch (subtype) {
    case nx::kTlvTableMod: {
      if (r.left() < 8) return BadLen("NXT_TLV_TABLE_MOD");
      TlvTableMod mod;
      mod.command = r.U16();
      r.Skip(6);
      if (mod.command > nx::kTlvClear) {
        return tl::unexpected(NxError(nx::kErrBadCommand,
                                      fmt::format("TLV table command {} is unknown", mod.command)));
      }
      auto maps = DecodeTlvMaps(r);
      if (!maps) return tl::unexpected(maps.error());
      mod.maps = std::move(*maps);
      return mod;
    }
    case nx::kTlvTableRequest:
      if (r.left() != 0) return BadLen("NXT_TLV_TABLE_REQUEST");
      return TlvTableRequest{};
    case nx::kTlvTableReply: {
      if (r.left() < 16) return BadLen("NXT_TLV_TABLE_REPLY");
      TlvTableReply reply;
      reply.max_option_space = r.U32();
      reply.max_fields = r.U16();
      r.Skip(10);
      auto maps = DecodeTlvMaps(r);
      if (!maps) return tl::unexpected(maps.error());
      reply.maps = std::move(*maps);
      return reply;
    }
    default:
      return Fail(err::kBadRequest, err::kBadRequestBadExpType,
                  fmt::format("Nicira experimenter message {} is not supported", subtype));
  }
}

}  // namespace

OfpError BundleError(uint8_t version, uint16_t onf_code, std::string detail) {
  if (version >= kVersion14) {
    return OfpError{err::kBundleFailed, static_cast<uint16_t>(onf_code - bundle::kErrOnfBase),
                    std::move(detail)};
  }
  return OfpError{bundle::kErrorTypeExperimenter, onf_code, std::move(detail),
                  bundle::kOnfExperimenter};
}

OfpError NxError(uint16_t code, std::string detail) {
  return OfpError{bundle::kErrorTypeExperimenter, code, std::move(detail), nx::kExperimenter};
}

namespace detail {

void EncodeBundleControl(uint8_t version, const BundleControl& bc, std::vector<uint8_t>& out) {
  if (version < kVersion14) {
    Put32(out, bundle::kOnfExperimenter);
    Put32(out, bundle::kOnfBundleControl);
  }
  Put32(out, bc.bundle_id);
  Put16(out, bc.type);
  Put16(out, bc.flags);
}

void EncodeBundleAdd(uint8_t version, const BundleAdd& add, size_t max_size,
                     std::vector<uint8_t>& out) {
  if (version < kVersion14) {
    Put32(out, bundle::kOnfExperimenter);
    Put32(out, bundle::kOnfBundleAdd);
  }
  Put32(out, add.bundle_id);
  PutZeros(out, 2);
  Put16(out, add.flags);
  size_t room = max_size > out.size() ? max_size - out.size() : 0;
  PutBytes(out, AsSpan(add.message).first(std::min(add.message.size(), room)));
}

void EncodeTlvTableMod(const TlvTableMod& mod, std::vector<uint8_t>& out) {
  Put32(out, nx::kExperimenter);
  Put32(out, nx::kTlvTableMod);
  Put16(out, mod.command);
  PutZeros(out, 6);
  EncodeTlvMaps(mod.maps, out);
}

void EncodeTlvTableRequest(std::vector<uint8_t>& out) {
  Put32(out, nx::kExperimenter);
  Put32(out, nx::kTlvTableRequest);
}

void EncodeTlvTableReply(const TlvTableReply& reply, std::vector<uint8_t>& out) {
  Put32(out, nx::kExperimenter);
  Put32(out, nx::kTlvTableReply);
  Put32(out, reply.max_option_space);
  Put16(out, reply.max_fields);
  PutZeros(out, 10);
  EncodeTlvMaps(reply.maps, out);
}

OfpResult<MessageBody> DecodeExperimenter(Reader& r, uint8_t version) {
  if (r.left() < 8) return BadLen("EXPERIMENTER");
  uint32_t experimenter = r.U32();
  uint32_t exp_type = r.U32();
  if (experimenter == nx::kExperimenter) return DecodeNicira(r, exp_type);
  if (experimenter != bundle::kOnfExperimenter) {
    return Fail(err::kBadRequest, err::kBadRequestBadExperimenter,
                fmt::format("experimenter 0x{:08x} messages are not supported", experimenter));
  }
  // 1.4 has bundles of its own; the ONF extension is a 1.3 thing (OVS
  // refuses it in 1.4 as well).
  if (version == kVersion13 && exp_type == bundle::kOnfBundleControl) {
    return DecodeBundleControlBody(r, version);
  }
  if (version == kVersion13 && exp_type == bundle::kOnfBundleAdd) {
    return DecodeBundleAddBody(r, version);
  }
  return Fail(err::kBadRequest, err::kBadRequestBadExpType,
              fmt::format("ONF experimenter message {} is not supported in OpenFlow 0x{:02x}",
                          exp_type, version));
}

OfpResult<MessageBody> DecodeBundleControl14(Reader& r) {
  return DecodeBundleControlBody(r, kVersion14);
}

OfpResult<MessageBody> DecodeBundleAdd14(Reader& r) { return DecodeBundleAddBody(r, kVersion14); }

}  // namespace detail

}  // namespace hsw::ofp
