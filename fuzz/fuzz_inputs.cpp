// libFuzzer target: bytes -> a scratch file -> model::read_images (.npy and MNIST IDX, raw or gzip).
//
// Inputs that start with the HDF5 signature are skipped: HDF5 (1.10.8, Debian's libhdf5) is not ours and
// leaks inside its metadata cache on corrupt object headers (H5O_protect via H5Lvisit), found within
// seconds; it would keep this target from ever reaching convdyn's own parsers. read_hdf5 is covered by
// the unit tests (tests/model/io/test_images.cpp).
#include <cstdint>
#include <cstring>

#include "fuzz_common.hpp"
#include "linalg/error.hpp"
#include "model/io/images.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const char kHdf5[] = "\x89HDF\r\n\x1a\n";
  if (size >= 8 && std::memcmp(data, kHdf5, 8) == 0) return -1;  // -1: not added to the corpus
  static convdyn::fuzz::ScratchFile file(".img");
  const std::string& path = file.write(data, size);
  try {
    at::Tensor t = convdyn::model::read_images(path);
    (void)t;
  } catch (const convdyn::Error&) {
    // expected rejection
  }
  return 0;
}
