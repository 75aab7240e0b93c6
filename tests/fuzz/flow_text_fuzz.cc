// Fuzzes the ovs-ofctl flow-text parser, which hsw-ctl runs on whatever users
// type and whatever flow files they load.  Besides "no crash", it checks that
// whatever parses is printed in a form that parses back to an equal flow, in
// all the forms hsw prints: FormatFlowMod (for every command) and the
// dump-flows line (for additions), with and without port names.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "openflow/flow_text.h"

using namespace hsw::ofp;

namespace {

[[noreturn]] void Fail(const char* what, const std::string& a, const std::string& b) {
  std::fprintf(stderr, "flow_text_fuzz: %s\n  first:  %s\n  second: %s\n", what, a.c_str(),
               b.c_str());
  std::abort();
}

std::optional<uint32_t> TestPortByName(std::string_view name) {
  if (name == "veth1") return 1;
  if (name == "veth2") return 2;
  if (name == "my port") return 7;
  if (name == "42") return 9;
  return std::nullopt;
}

std::optional<std::string> PortNameOf(uint32_t port) {
  switch (port) {
    case 1:
      return "veth1";
    case 2:
      return "veth2";
    case 7:
      return "my port";
    case 9:
      return "42";
    default:
      return std::nullopt;
  }
}

bool Equal(const FlowMod& a, const FlowMod& b) {
  return a.cookie == b.cookie && a.cookie_mask == b.cookie_mask && a.table_id == b.table_id &&
         a.command == b.command && a.idle_timeout == b.idle_timeout &&
         a.hard_timeout == b.hard_timeout && a.priority == b.priority &&
         a.buffer_id == b.buffer_id && a.out_port == b.out_port && a.out_group == b.out_group &&
         a.flags == b.flags && a.match == b.match && a.instructions == b.instructions;
}

void CheckRoundTrip(const FlowMod& fm, const std::string& input, bool named) {
  PortName names = named ? PortName(PortNameOf) : PortName();
  std::string text = FormatFlowMod(fm, names);
  auto again = ParseFlowMod(text, fm.command, TestPortByName);
  if (!again) Fail("formatted flow does not parse", input, text + " : " + again.error().message);
  if (!Equal(fm, *again)) Fail("formatted flow parses differently", input, text);

  if (fm.command == FlowModCommand::kAdd) {
    FlowStats fs;
    fs.table_id = fm.table_id;
    fs.priority = fm.priority;
    fs.cookie = fm.cookie;
    fs.idle_timeout = fm.idle_timeout;
    fs.hard_timeout = fm.hard_timeout;
    fs.flags = fm.flags;
    fs.match = fm.match;
    fs.instructions = fm.instructions;
    fs.duration_sec = 12;
    fs.duration_nsec = 345000000;
    std::string line = FormatFlowStats(fs, names);
    auto from_dump = ParseFlowMod(line, FlowModCommand::kAdd, TestPortByName);
    if (!from_dump) Fail("dump-flows line does not parse", input, line);
    if (!Equal(fm, *from_dump)) Fail("dump-flows line parses differently", input, line);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;  // flows are short; long inputs only slow the search
  std::string input(reinterpret_cast<const char*>(data), size);

  for (FlowModCommand cmd : {FlowModCommand::kAdd, FlowModCommand::kModifyStrict,
                             FlowModCommand::kDelete, FlowModCommand::kDeleteStrict}) {
    auto fm = ParseFlowMod(input, cmd, TestPortByName);
    if (!fm) {
      if (fm.error().message.empty()) Fail("error without a message", input, "");
      continue;
    }
    CheckRoundTrip(*fm, input, false);
    CheckRoundTrip(*fm, input, true);
  }
  (void)ParseFlowStatsRequest(input, TestPortByName);
  (void)ParseFlowFile(input, FlowModCommand::kAdd, TestPortByName);
  if (auto m = ParseMatch(input, TestPortByName)) {
    auto back = ParseMatch(FormatMatch(*m), TestPortByName);
    if (!back || !(*back == *m)) Fail("match does not round-trip", input, FormatMatch(*m));
  }
  return 0;
}
