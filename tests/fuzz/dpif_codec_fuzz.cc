// Fuzzes the datapath-protocol decoder, which hsw-datapath runs on whatever
// any local client sends and hsw-vswitchd runs on whatever the datapath sends.
// Besides "no crash, no over-read", it checks two properties:
//  * a message that decodes re-encodes to exactly the same bytes (the codec
//    has one encoding per value, so nothing was misread or lost);
//  * MessageReader, fed the same bytes in two pieces, agrees with DecodeMessage.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <variant>
#include <vector>

#include "dpif/dp_actions.h"
#include "dpif/dpif_codec.h"

using namespace hsw::dpif;

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "dpif_codec_fuzz: %s\n", what);
  std::abort();
}

std::vector<uint8_t> Reencode(const Message& msg) {
  if (msg.header.error != 0) {
    return EncodeErrorReply(static_cast<MsgType>(msg.header.type), msg.header.xid,
                            msg.header.error, std::get<ErrorReply>(msg.body).message);
  }
  return EncodeMessage(msg.body, msg.header.xid, msg.header.flags, msg.header.error);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);

  auto msg = DecodeMessage(bytes);
  if (msg) {
    if (Reencode(*msg) != std::vector<uint8_t>(bytes.begin(), bytes.end())) {
      Fail("decoded message does not re-encode to the same bytes");
    }
    // Formatting must cope with whatever actions were accepted.
    if (const auto* put = std::get_if<FlowPutBatch>(&msg->body)) {
      for (const auto& p : put->puts) (void)hsw::FormatDpActions(p.actions);
    }
  } else if (msg.error().message.empty()) {
    Fail("decode error without a message");
  }

  // The stream reader, fed the input in two pieces split at a point the
  // input chooses.
  size_t split = size ? data[0] % (size + 1) : 0;
  MessageReader reader;
  reader.Append(data, split);
  auto early = reader.Next();
  reader.Append(data + split, size - split);
  if (msg) {
    // One valid message: the reader must yield it exactly once, and only
    // once all of its bytes are in.
    if (!early) Fail("reader rejected a valid message's first part");
    if (*early && split != size) Fail("reader yielded a message before all its bytes arrived");
    if (!*early) {
      auto late = reader.Next();
      if (!late || !*late) Fail("reader did not yield a valid message");
    }
    if (reader.buffered() != 0) Fail("reader kept bytes after the only message");
  } else {
    for (int i = 0; i < 1000; ++i) {
      auto next = reader.Next();
      if (!next || !*next) break;
    }
  }

  // Actions alone, as the datapath decodes them to validate a put.
  auto actions = DecodeActions(bytes);
  if (actions) {
    std::vector<uint8_t> again;
    EncodeActions(*actions, again);
    if (again != std::vector<uint8_t>(bytes.begin(), bytes.end())) {
      Fail("decoded actions do not re-encode to the same bytes");
    }
    (void)hsw::FormatDpActions(*actions);
  }
  return 0;
}
