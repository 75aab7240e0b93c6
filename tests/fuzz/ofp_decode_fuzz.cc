// Fuzzes the OpenFlow 1.3 decoder, which hsw-vswitchd runs on every byte a
// controller, ovs-ofctl or anyone who can reach a bridge's socket sends.
// Besides "no crash, no over-read", it checks:
//  * a message that decodes re-encodes to bytes that decode again, and the
//    encoding is then stable (Encode(Decode(Encode(m))) == Encode(m)), so the
//    decoder produced only values the encoder can represent faithfully;
//  * StreamSplitter, fed the input in two pieces, frames exactly what
//    FrameLength says.
// The seeds in corpus/ofp_decode/ are messages as ovs-ofctl sends them.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "openflow/ofp_codec.h"

using namespace hsw::ofp;

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "ofp_decode_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> input(data, size);

  auto decoded = Decode(input);
  if (decoded) {
    std::vector<uint8_t> first = Encode(*decoded);
    auto again = Decode(first);
    if (!again) Fail("a decoded message does not decode after re-encoding");
    if (Encode(*again) != first) Fail("encoding is not stable");
    (void)FormatMessage(*decoded);
  } else {
    (void)ErrorName(decoded.error().type, decoded.error().code);
    (void)Encode(MakeErrorReply(decoded.error(), input));
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
