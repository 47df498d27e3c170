// Dense eigendecomposition (Eigen) with a size guard: the ground truth for small operators.
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
  Which which = Which::LM;       ///< order of the returned pairs
  std::int64_t k = 0;            ///< keep the first k in `which` order; 0 = all n
};

/// Estimated cost of a dense eigensolve of size n, for the size guard and for messages.
struct DenseCost {
  double bytes = 0;    ///< peak memory
  double seconds = 0;  ///< rough time on one core (Eigen's unblocked Hessenberg-QR, ~1 GFLOP/s)
  std::string describe() const;  ///< e.g. "321.3 GB and ~3.2 years"
};
DenseCost dense_cost(std::int64_t n, bool vectors);

/// Eigenvalues (and vectors) of a dense real matrix, ordered by `opt.which`. Residuals are computed from
/// the matrix when vectors are requested (||A v - lambda v|| / ||v||). Throws ValueError when the matrix
/// is not square, holds NaN/Inf, or n > opt.max_n.
EigResult dense_eig(const Eigen::MatrixXd& a, const DenseEigOptions& opt = {});

/// Materialise `op` (see LinearOperator::to_dense) after the size guard, then `dense_eig`. When vectors
/// are requested, residuals are recomputed through the operator itself (matrix-free).
EigResult dense_eig(const LinearOperator& op, const DenseEigOptions& opt = {});

}  // namespace convdyn::linalg
