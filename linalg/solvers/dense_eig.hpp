// Dense eigendecomposition with a size guard: the ground truth for small operators (Eigen on the CPU, or
// cuSOLVER on a GPU, linalg/cuda/cusolver_dense_eig.hpp).
#pragma once
#include <Eigen/Core>

#include <cstdint>
#include <string>

#include "linalg/eig_result.hpp"

namespace convdyn::linalg {

class LinearOperator;

struct DenseEigOptions {
  bool vectors = false;          ///< also compute eigenvectors (about 2-3x the time)
  std::int64_t max_n = 6000;     ///< refuse larger n with a message giving memory and time estimates
                                 ///< (CPU only: on a GPU the device's free memory is the limit)
  Which which = Which::LM;       ///< order of the returned pairs
  std::int64_t k = 0;            ///< keep the first k in `which` order; 0 = all n
  int cuda_device = -1;          ///< >= 0: solve with cusolverDnXgeev on that CUDA device; -1: Eigen on the CPU
};

/// Estimated cost of a dense eigensolve of size n on the CPU, for the size guard and for messages.
struct DenseCost {
  double bytes = 0;    ///< peak memory
  double seconds = 0;  ///< rough time on one core (Eigen's unblocked Hessenberg-QR, ~1 GFLOP/s)
  std::string describe() const;  ///< e.g. "321.3 GB and ~3.2 years"
};
DenseCost dense_cost(std::int64_t n, bool vectors);

/// Eigenvalues (and vectors) of a dense real matrix, ordered by `opt.which`. Residuals ||A v - lambda v|| /
/// ||v|| are computed from the matrix when vectors are requested. Converged flags are all set (a direct
/// method) unless the QR algorithm itself fails: then reason NumericalFailure, no values, and `message`.
/// Throws ValueError when the matrix is not square, holds NaN/Inf, or n > opt.max_n (CPU).
EigResult dense_eig(const Eigen::MatrixXd& a, const DenseEigOptions& opt = {});

/// Materialise `op` (see LinearOperator::to_dense) after the size guard (CPU) or the device check (GPU), then
/// `dense_eig` or `dense_eig_cuda`. With vectors on the CPU path, residuals are recomputed through the
/// operator itself (matrix-free); on the GPU path they come from the matrix.
EigResult dense_eig(const LinearOperator& op, const DenseEigOptions& opt = {});

}  // namespace convdyn::linalg
