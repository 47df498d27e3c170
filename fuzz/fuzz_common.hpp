// Shared helpers of the libFuzzer targets.
//
// Contract of every target: the reader either succeeds or throws a convdyn::Error (an expected rejection
// of bad input). Anything else (another exception type, a crash, a sanitizer report, a leak, a timeout,
// running out of memory) is a finding: other exceptions propagate out of LLVMFuzzerTestOneInput, which
// makes libFuzzer abort ("deadly signal") and save the input.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace convdyn::fuzz {

/// A per-process scratch file (in $TMPDIR or /tmp), rewritten for every input and removed at exit.
class ScratchFile {
 public:
  explicit ScratchFile(const char* suffix) {
    const char* dir = std::getenv("TMPDIR");
    path_ = std::string(dir && *dir ? dir : "/tmp") + "/convdyn-fuzz-" + std::to_string(::getpid()) + suffix;
  }
  ~ScratchFile() { std::remove(path_.c_str()); }
  const std::string& write(const std::uint8_t* data, std::size_t size) {
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    if (!f) std::abort();
    if (size && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
    return path_;
  }

 private:
  std::string path_;
};

}  // namespace convdyn::fuzz
