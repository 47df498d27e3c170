// What the Krylov adaptors (Spectra, ARPACK) and the published method share once their iteration is over:
// choosing the reported pairs and certifying them through the operator. Internal to convdyn::linalg.
#pragma once
#include <Eigen/Core>

#include <cstdint>

#include "linalg/eig_result.hpp"
#include "linalg/linear_operator.hpp"
#include "linalg/solvers/eig_options.hpp"

namespace convdyn::linalg::detail {

/// The first min(opt.k, m) candidates (values(j), vectors.col(j); vectors n x m, any nonzero norm) in
/// opt.which order, normalised to unit norm, with the conjugate partner (conj lambda, conj v) added first
/// for any complex candidate that lacks it, so that a pair split at the k-th position keeps its
/// positive-imaginary member (the order_by convention); with true residuals through `op` and converged
/// flags for opt.tol. Fills values, residuals, converged, vectors (when opt.vectors), which and tol of
/// `out`; leaves the other fields alone.
void finish_with_true_residuals(const LinearOperator& op, const Eigen::VectorXcd& values,
                                const Eigen::MatrixXcd& vectors, const EigOptions& opt, EigResult& out);

/// The subspace size of the second opinions: opt.ncv, or min(max(2k+1, k+20), n) when it is 0 (the
/// usual default; scipy's eigs uses 2k+1).
std::int64_t second_opinion_ncv(const EigOptions& opt, std::int64_t n);

}  // namespace convdyn::linalg::detail
