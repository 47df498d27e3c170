// Second opinion: the same eigenproblem through Spectra's GenEigsSolver (implicitly restarted Arnoldi).
#pragma once
#include <Eigen/Core>

#include "linalg/eig_result.hpp"
#include "linalg/linear_operator.hpp"
#include "linalg/solvers/eig_options.hpp"

namespace convdyn::linalg {

/// Spectra's operator contract (`Scalar`, `rows()`, `cols()`, const `perform_op(x, y)`) over a
/// LinearOperator (detail::apply_raw: one call = one matvec, through the operator's dtype and device).
class SpectraOperator {
 public:
  using Scalar = double;
  explicit SpectraOperator(const LinearOperator& op) : op_(op) {}
  Eigen::Index rows() const { return op_.rows(); }
  Eigen::Index cols() const { return op_.cols(); }
  void perform_op(const double* x_in, double* y_out) const;

 private:
  const LinearOperator& op_;
};

/// Options of `spectra_eigs`: the common block; ncv = 0 means min(max(2k+1, k+20), n); max_restarts is
/// Spectra's maxit.
struct SpectraOptions : EigOptions {};

/// The k eigenvalues of `op` preferred by `opt.which`, by Spectra 1.0 `GenEigsSolver` (a cross-check of
/// `krylov_schur`; CPU, double precision in the Krylov basis whatever the operator's dtype).
///
/// Spectra's own convergence test (Ritz estimate < tol * max(|theta|, eps^(2/3))) is not ours, so all k
/// Ritz pairs it holds (converged or not: the solver is subclassed to reach them) get TRUE residuals
/// through the operator and EigResult's converged flags. `matvecs` counts every operator application of
/// this call (the post-check included), `restarts` is Spectra's `num_iterations()`. Reason: Converged when
/// every flag is set, else MaxRestarts; never throws for non-convergence. Method name "spectra".
///
/// Cost: V (n x ncv) is an Eigen matrix on the CPU; every matvec converts to/from the operator's device and
/// dtype. Throws ValueError for options outside the ranges of check_eig_options.
EigResult spectra_eigs(const LinearOperator& op, const SpectraOptions& opt);

}  // namespace convdyn::linalg
