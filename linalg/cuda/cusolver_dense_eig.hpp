// Dense eigendecomposition on the GPU (cuSOLVER cusolverDnXgeev, float64): the exact cross-check of the
// iterative solvers at full layer size. Eigen-only header: no CUDA and no LibTorch headers.
//
// Compiled when CMake finds the CUDA toolkit (>= 12.6, option CONVDYN_CUDA, macro CONVDYN_HAVE_CUSOLVER);
// it needs the toolkit, not a CUDA LibTorch. Without it the functions below still exist: the first says
// false and the second throws DeviceError, so callers need no #if.
#pragma once
#include <Eigen/Core>

#include "linalg/solvers/dense_eig.hpp"
#include "linalg/eig_result.hpp"
#include "linalg/error.hpp"

namespace convdyn::linalg {

/// Device memory a dense float64 eigensolve of size n needs before cuSOLVER's workspace is known:
/// A (n^2 doubles), the right eigenvectors when `vectors` (n^2 more) and W; the workspace adds about
/// one more n^2 (the caller's guard uses the exact query).
inline double cuda_dense_bytes(std::int64_t n, bool vectors) {
  const double nd = static_cast<double>(n);
  return 8.0 * nd * nd * (vectors ? 2.0 : 1.0) + 16.0 * nd;
}

#if CONVDYN_HAVE_CUSOLVER

/// Whether a CUDA device can be used (cudaGetDeviceCount > 0). Never throws.
bool cuda_dense_available() noexcept;

/// Throws DeviceError unless CUDA device `device` exists: "cuda: no CUDA device available
/// (cudaGetDeviceCount: <reason>)" or "device cuda:N does not exist (M devices)".
void require_cuda_device(int device);

/// Eigenvalues (and right eigenvectors when `opt.vectors`) of the dense real matrix `a` with
/// cusolverDnXgeev on CUDA device `device`, in float64 throughout (dense_eig calls it when
/// DenseEigOptions::cuda_device >= 0). A QR failure is reason NumericalFailure, as in dense_eig. The result is ordered and cut to
/// `opt.k` like `dense_eig`; with vectors, residuals ||A v - lambda v|| / ||v|| are computed on the host
/// from `a` (unit-norm v). `opt.max_n` is not applied (that guard is about CPU time): the limit here is
/// the device's free memory, checked with the exact workspace size before anything is allocated.
///
/// Throws ValueError for a non-square matrix or NaN/Inf entries, DeviceError when no CUDA device is
/// present, `device` is out of range, memory is short (naming what is needed and what is free) or any
/// CUDA/cuSOLVER call fails (one line naming the call and the status).
///
/// Cost: ~25 n^3 flops on the device with vectors, ~10 n^3 without; host-device traffic is 8 n^2 bytes each
/// way per matrix.
EigResult dense_eig_cuda(const Eigen::MatrixXd& a, const DenseEigOptions& opt = {}, int device = 0);

#else

inline bool cuda_dense_available() noexcept { return false; }

[[noreturn]] inline void require_cuda_device(int = 0) {
  throw DeviceError(
      "cuda dense eig: this convdyn was built without the CUDA toolkit (cuSOLVER); configure with "
      "-DCONVDYN_CUDA=ON where /usr/local/cuda (>= 12.6) exists");
}

[[noreturn]] inline EigResult dense_eig_cuda(const Eigen::MatrixXd&, const DenseEigOptions& = {}, int device = 0) {
  require_cuda_device(device);
}

#endif

}  // namespace convdyn::linalg
