// libFuzzer target: bytes -> a scratch file -> model::read_pth (zip container, records, unpickler).
#include <cstdint>

#include "fuzz_common.hpp"
#include "linalg/error.hpp"
#include "model/pth_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static convdyn::fuzz::ScratchFile file(".pth");
  const std::string& path = file.write(data, size);
  try {
    convdyn::model::PyRef v = convdyn::model::read_pth(path);
    (void)v;
  } catch (const convdyn::Error&) {
    // expected rejection
  }
  return 0;
}
