// Fuzzes the OpenFlow 1.3 and 1.4 decoder, which hsw-vswitchd runs on every
// byte a controller, ovs-ofctl or anyone who can reach a bridge's socket
// sends.  Besides "no crash, no over-read", it checks:
//  * a message that decodes re-encodes to bytes that decode again, and the
//    encoding is then stable (Encode(Decode(Encode(m))) == Encode(m)), so the
//    decoder produced only values the encoder can represent faithfully;
//  * the same holds with the input's version byte switched between 1.3 and
//    1.4, so every seed exercises both versions' layouts (where they differ:
//    ports, port stats, bundles, bundle errors) whatever version it came in;
//  * a bundled message (BUNDLE_ADD_MESSAGE, or ONF's in 1.3) decodes under
//    the same rules as a message of its own, as connmgr does at bundle add;
//  * StreamSplitter, fed the input in two pieces, frames exactly what
//    FrameLength says.
// The seeds in corpus/ofp_decode/ are messages as ovs-ofctl sends them
// (v14_*: in OpenFlow 1.4, as ovs-ofctl -O OpenFlow14 sends them or as hsw
// answers and `ovs-ofctl ofp-print` decodes them).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <variant>
#include <vector>

#include "openflow/ofp_codec.h"

using namespace hsw::ofp;

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "ofp_decode_fuzz: %s\n", what);
  std::abort();
}

// Decodes `bytes`; checks the re-encoding invariants, and recurses once into
// a bundled message.
void CheckMessage(std::span<const uint8_t> bytes, bool nested) {
  auto decoded = Decode(bytes);
  if (decoded) {
    std::vector<uint8_t> first = Encode(*decoded);
    auto again = Decode(first);
    if (!again) Fail("a decoded message does not decode after re-encoding");
    if (Encode(*again) != first) Fail("encoding is not stable");
    if (again->type() != decoded->type()) Fail("the message type changed on re-encoding");
    (void)FormatMessage(*decoded);
    if (const auto* add = std::get_if<BundleAdd>(&decoded->body); add && !nested) {
      CheckMessage(add->message, true);
    }
  } else {
    (void)ErrorName(decoded.error().type, decoded.error().code);
    (void)Encode(MakeErrorReply(decoded.error(), bytes));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> input(data, size);

  CheckMessage(input, false);
  // The other version of the pair hsw speaks.
  if (size >= 1 && (data[0] == kVersion13 || data[0] == kVersion14)) {
    std::vector<uint8_t> other(data, data + size);
    other[0] = data[0] == kVersion13 ? kVersion14 : kVersion13;
    CheckMessage(other, false);
  }
  // Negotiation with whatever HELLO this is, under every allowed-version set.
  if (auto m = Decode(input); m && std::holds_alternative<Hello>(m->body)) {
    for (uint32_t ours : {kSupportedVersions, 1u << kVersion13, 1u << kVersion14}) {
      auto v = NegotiateVersion(m->version, std::get<Hello>(m->body), ours);
      if (v && !(ours & (1u << *v))) Fail("negotiated a version that is not allowed");
    }
  }

  // The pieces on their own, as other callers use them.
  size_t consumed = 0;
  if (auto match = DecodeMatch(input, &consumed); match && consumed > size) {
    Fail("DecodeMatch consumed more than it was given");
  }
  (void)DecodeActions(input, size % 2 == 0);
  (void)DecodeInstructions(input);

  auto length = FrameLength(input);
  StreamSplitter splitter;
  size_t cut = size / 2;
  splitter.Feed(input.first(cut));
  auto early = splitter.Next();
  splitter.Feed(input.subspan(cut));
  auto next = early && early->empty() ? splitter.Next() : early;
  if (length.has_value() != next.has_value()) Fail("splitter and FrameLength disagree on errors");
  if (length && *length > 0 && *length <= size) {
    if (next->size() != *length) Fail("splitter framed a different length");
  }
  return 0;
}
