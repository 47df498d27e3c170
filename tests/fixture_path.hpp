// Paths of the committed test fixtures (tests/fixtures, see its README) and scratch folders for outputs.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>

namespace convdyn::testing {
inline std::string fixture(const std::string& name) { return std::string(CONVDYN_FIXTURES) + "/" + name; }

/// An empty per-process folder `<tmp>/<name>_<pid>` (tests of one executable may run in parallel processes).
inline std::filesystem::path fresh_out_dir(const std::string& name) {
  namespace fs = std::filesystem;
  auto d = fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
}  // namespace convdyn::testing
