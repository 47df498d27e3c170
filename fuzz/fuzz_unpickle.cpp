// libFuzzer target: bytes -> model::unpickle (the restricted pickle parser itself).
// Storages are zero tensors of the claimed size, refused above 1e7 elements with a ValueError (the real
// reader bounds them by the file size).
#include <ATen/ATen.h>

#include <cstdint>

#include "linalg/error.hpp"
#include "model/io/pickle.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace convdyn;
  const model::StorageLoader loader = [](const std::string& key, c10::ScalarType dtype, std::int64_t numel) {
    if (numel > 10'000'000) throw ValueError("fuzz: storage '" + key + "' too large");
    return at::zeros({numel}, at::TensorOptions().dtype(dtype));
  };
  try {
    model::PyRef v = model::unpickle(data, size, loader, "fuzz.pkl");
    (void)v;
  } catch (const convdyn::Error&) {
    // expected rejection
  }
  return 0;
}
