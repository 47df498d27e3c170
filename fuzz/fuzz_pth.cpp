// libFuzzer target: bytes -> model::read_pth from memory (zip container checks, LibTorch's zip reader,
// records, unpickler). The in-memory entry point shares everything with the file one except the
// FileAdapter, and avoids a scratch file per input.
#include <c10/util/Logging.h>

#include <cstdint>
#include <string>

#include "linalg/error.hpp"
#include "model/io/pth_reader.hpp"

// LibTorch's c10::Error symbolizes a backtrace when it is built (dladdr per frame); read_pth keeps only the
// first line of the message, so skip that work here (about 10% of the run time).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  c10::SetStackTraceFetcher([] { return std::string(); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    convdyn::model::PyRef v = convdyn::model::read_pth(data, size, "<fuzz>");
    (void)v;
  } catch (const convdyn::Error&) {
    // expected rejection
  }
  return 0;
}
