// Fuzzes the journal reader: hsw-vswitchd replays <statedir>/flows.journal at
// start, and a file damaged by a disk, a full filesystem or a hand edit must
// give either records or a clear error -- never a crash, an over-read or a
// start-up that hangs.  Besides that it checks the reader's promises:
//  * on error, the file is left byte for byte as it was (it may be the only
//    copy of the tables);
//  * on success, the file was at most truncated (a torn last record) and
//    opening it again reads the same records with nothing more to repair.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/fd.h"
#include "openflow/flow_text.h"
#include "testlib/temp_dir.h"
#include "vswitchd/flow_journal.h"

using hsw::vswitchd::FlowJournal;

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "flow_journal_fuzz: %s\n", what);
  std::abort();
}

const std::string& Path() {
  // Removed at a normal exit (a static's destructor); after a crash it stays
  // with the last input, for a look.
  static const hsw::testing::TempDir dir("hsw-journal-fuzz");
  static const std::string path = dir / "flows.journal";
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = Path();
  std::string bytes(reinterpret_cast<const char*>(data), size);
  {
    hsw::UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd || !hsw::WriteAll(fd.get(), bytes.data(), bytes.size())) Fail("cannot write input");
  }
  auto opened = FlowJournal::Open(path);
  auto after = hsw::ReadFile(path);
  if (!after) Fail("the journal file disappeared");
  if (!opened) {
    if (*after != bytes) Fail("a failed Open changed the file");
    if (opened.error().message.find(path) == std::string::npos) Fail("error does not name file");
    return 0;
  }
  // An empty input is a missing journal: Open writes a new header.
  if (size > 0 && bytes.compare(0, after->size(), *after) != 0) {
    Fail("Open did more than truncate the file");
  }
  size_t n_records = opened->records.size();
  uint64_t seq = opened->journal->position().seq;
  opened->journal.reset();
  auto again = FlowJournal::Open(path);
  if (!again) Fail("a file Open accepted (and repaired) fails to open again");
  if (!again->note.empty()) Fail("a repaired file needed repair again");
  if (again->records.size() != n_records || again->journal->position().seq != seq) {
    Fail("reopening read different records");
  }
  for (size_t i = 0; i < n_records; ++i) {
    const auto& a = opened->records[i];
    const auto& b = again->records[i];
    if (a.seq != b.seq || a.bridge != b.bridge || a.flow_mods.size() != b.flow_mods.size()) {
      Fail("reopening read a different record");
    }
    for (size_t j = 0; j < a.flow_mods.size(); ++j) {
      if (hsw::ofp::FormatFlowMod(a.flow_mods[j]) != hsw::ofp::FormatFlowMod(b.flow_mods[j])) {
        Fail("reopening read a different flow-mod");
      }
    }
  }
  return 0;
}
