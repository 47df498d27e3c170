// The compute device named on the command line ("cpu", "cuda", "cuda:N") and the numerics settings that
// go with it.
#pragma once
#include <c10/core/Device.h>

#include <string>

namespace convdyn::linalg {

/// Parses "cpu", "cuda" (= "cuda:0") or "cuda:N" for LibTorch tensors, checks it is usable and, for a
/// CUDA device, calls `configure_numerics`. Throws ValueError for any other string (naming the valid
/// forms) and DeviceError when CUDA is asked of a CPU-only LibTorch ("build against a CUDA LibTorch"),
/// when no CUDA device is present, or when N is not below the device count.
c10::Device parse_device(const std::string& s);

/// Whether this convdyn was compiled against a CUDA-enabled LibTorch (CMake: CONVDYN_TORCH_CUDA), whether
/// or not a GPU is present at run time.
bool torch_built_with_cuda() noexcept;

/// Process-wide LibTorch settings for numerical work on `device` (no-op for the CPU):
///  - TF32 off for cuBLAS and cuDNN. On Ampere and later, LibTorch lets float32 matmuls and convolutions
///    run in TF32, i.e. with 10-bit mantissas (~3 decimal digits): a float32 operator would silently lose
///    about four digits, and Krylov residuals would stall far above the requested tolerance.
///  - cuDNN benchmark mode on: the operator applies convolutions of one fixed shape thousands of times,
///    so timing the algorithms once pays back (without it cuDNN picks a slow algorithm for some shapes).
/// Idempotent; called by `parse_device`.
void configure_numerics(c10::Device device);

}  // namespace convdyn::linalg
