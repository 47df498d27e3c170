#include "linalg/device.hpp"

#include <ATen/Context.h>

#include <cctype>

#include "linalg/error.hpp"

namespace convdyn::linalg {

namespace {
constexpr const char* kForms = "expected cpu, cuda or cuda:N";

bool all_digits(const std::string& s) {
  if (s.empty() || s.size() > 4) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}
}  // namespace

bool torch_built_with_cuda() noexcept {
#if CONVDYN_TORCH_CUDA
  return true;
#else
  return false;
#endif
}

void configure_numerics(c10::Device device) {
  if (!device.is_cuda()) return;
  auto& ctx = at::globalContext();
  ctx.setAllowTF32CuBLAS(false);
  ctx.setAllowTF32CuDNN(false);
  ctx.setBenchmarkCuDNN(true);
}

c10::Device parse_device(const std::string& s) {
  if (s == "cpu") return c10::Device(c10::DeviceType::CPU);
  int index = 0;
  if (s.rfind("cuda:", 0) == 0) {
    const std::string num = s.substr(5);
    CONVDYN_CHECK(all_digits(num), ValueError, "unknown --device '{}' ({})", s, kForms);
    index = std::stoi(num);
  } else {
    CONVDYN_CHECK(s == "cuda", ValueError, "unknown --device '{}' ({})", s, kForms);
  }
  if (!at::hasCUDA()) {
    // hasCUDA() is false both for a CPU-only LibTorch and for a CUDA one on a machine without a GPU.
    CONVDYN_CHECK(torch_built_with_cuda(), DeviceError,
                  "--device {}: this convdyn was built with a CPU-only LibTorch; build against a CUDA LibTorch "
                  "(CMAKE_PREFIX_PATH, see README)",
                  s);
    throw DeviceError(fmt::format("--device {}: no CUDA device available (LibTorch found none)", s));
  }
  const auto count = static_cast<int>(at::getNumGPUs());
  CONVDYN_CHECK(index < count, DeviceError, "--device {}: there {} {} CUDA device{} (cuda:0 to cuda:{})", s,
                count == 1 ? "is" : "are", count, count == 1 ? "" : "s", count - 1);
  const c10::Device d(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(index));
  configure_numerics(d);
  return d;
}

}  // namespace convdyn::linalg
