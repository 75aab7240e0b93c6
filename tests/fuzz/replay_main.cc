// Replays fuzz inputs through a target's LLVMFuzzerTestOneInput without
// libFuzzer, so that corpora and past crashers run as ctest regression tests
// in every build (g++ has no libFuzzer).  Arguments are files or directories
// (read recursively, in sorted order); a directory that does not exist is
// skipped, since a target may have no regressions yet.  A crash or a failed
// check inside the target fails the test; the file being run is printed
// first so that the culprit is named.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

bool RunFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return false;
  }
  std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::fprintf(stderr, "running %s (%zu bytes)\n", path.c_str(), data.size());
  // A copy of exactly the file's size, so that ASan builds catch over-reads
  // past the end of the input as libFuzzer would.
  std::vector<uint8_t> exact(data);
  LLVMFuzzerTestOneInput(exact.empty() ? nullptr : exact.data(), exact.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  size_t n_files = 0;
  bool ok = true;
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path arg(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      std::vector<std::filesystem::path> files;
      for (const auto& entry : std::filesystem::recursive_directory_iterator(arg, ec)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        ok = RunFile(f) && ok;
        ++n_files;
      }
    } else if (std::filesystem::exists(arg, ec)) {
      ok = RunFile(arg) && ok;
      ++n_files;
    }
  }
  // The empty input is always worth a run: decoders must reject it cleanly.
  LLVMFuzzerTestOneInput(nullptr, 0);
  std::fprintf(stderr, "replayed %zu inputs\n", n_files);
  return ok ? 0 : 1;
}
