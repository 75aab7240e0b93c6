// A fresh directory under /tmp for one test (or fixture), removed with all
// it holds when the object goes away, so tests leave nothing behind.
//
//   TempDir dir("hsw-journal-test");
//   std::string path = dir.path() + "/flows.journal";
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace hsw::testing {

class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "hsw-test") {
    std::string pattern = "/tmp/" + std::string(prefix) + "-XXXXXX";
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp " + pattern + " failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name, creating nothing.
  std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

}  // namespace hsw::testing
