// Second opinion: the same eigenproblem through Spectra's GenEigsSolver (implicitly restarted Arnoldi).
#pragma once
#include <Eigen/Core>

#include <cstdint>

#include "linalg/eig_result.hpp"
#include "linalg/linear_operator.hpp"
#include "linalg/which.hpp"

namespace convdyn::linalg {

/// Spectra's operator contract (`Scalar`, `rows()`, `cols()`, const `perform_op(x, y)`) over a
/// LinearOperator: x is wrapped as a CPU double tensor (no copy), converted to the operator's dtype and
/// device when they differ, `op.apply`ed, and the result copied back to y as double. One call = one matvec.
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

/// Options of `spectra_eigs`; the same problem as `KrylovSchurOptions`.
struct SpectraOptions {
  std::int64_t k = 10;          ///< wanted eigenvalues (nev), 1 <= k <= n-2
  std::int64_t ncv = 0;         ///< subspace size in [k+2, n]; 0 = auto: min(max(2k+1, k+20), n) (as krylov-schur)
  Which which = Which::LM;      ///< LM, LR, SR, SM or LI (Spectra's LargestMagn, LargestReal, ...)
  double tol = 1e-10;           ///< in (0, 1); passed to Spectra AND used for our converged flags
  int max_iterations = 1000;    ///< Spectra's maxit (restarts), >= 1
  std::uint64_t seed = 0;       ///< start vector: standard normal from std::mt19937_64(seed) (CPU, double)
  bool vectors = false;         ///< return the Ritz vectors (n x k, unit norm) in EigResult::vectors
};

/// The k eigenvalues of `op` preferred by `opt.which`, by Spectra 1.0 `GenEigsSolver` (a cross-check
/// of `krylov_schur`; CPU, double precision in the Krylov basis whatever the operator's dtype).
///
/// Spectra's own convergence test (Ritz estimate < tol * max(|theta|, eps^(2/3))) is not ours, so after
/// it returns, all k Ritz pairs it holds (converged or not: the solver is subclassed to reach them)
/// get TRUE residuals ||A v - lambda v|| (||v|| = 1) through the operator, and
/// `converged[i] = residuals[i] <= tol * max(1, |values[i]|)`. Values are in `which` order (order_by).
/// `matvecs` counts every operator application of this call (the post-check included), `restarts` is
/// Spectra's `num_iterations()`. Reason: Converged when every flag is set, else MaxRestarts; it never
/// throws for non-convergence. Method name "spectra".
///
/// Cost: Spectra keeps V (n x ncv) as an Eigen matrix on the CPU; every matvec converts to/from the
/// operator's device and dtype. Throws ValueError for k outside [1, n-2], ncv outside [k+2, n],
/// tol outside (0, 1), max_iterations < 1.
EigResult spectra_eigs(const LinearOperator& op, const SpectraOptions& opt);

namespace detail {

/// Shared by spectra_eigs, arpack_eigs and arnoldi_qr: the first min(k, m) candidates (values(j),
/// vectors.col(j); vectors n x m, any nonzero norm) in `which` order, normalised to unit norm, with
/// the conjugate partner (conj lambda, conj v) added first for any complex candidate that lacks it, so that
/// a pair split at the k-th position keeps its positive-imaginary member (the order_by convention); with
/// true residuals ||A v - lambda v|| through `op` (in op's dtype; real and imaginary parts as one block)
/// and our converged flags. Fills values, residuals, converged, vectors (when `keep_vectors`), which and
/// tol of `out`; leaves the other fields alone.
void finish_with_true_residuals(const LinearOperator& op, const Eigen::VectorXcd& values,
                                const Eigen::MatrixXcd& vectors, Which which, std::int64_t k, double tol,
                                bool keep_vectors, EigResult& out);

/// Standard normal vector of length n from std::mt19937_64(seed) (as krylov_schur's start vector).
Eigen::VectorXd normal_start(std::int64_t n, std::uint64_t seed);

/// Validates the options the Krylov adaptors share; `name` prefixes the messages ("spectra", "arpack").
/// Throws ValueError for k outside [1, n-2], ncv outside [k+2, n] (0 = automatic), tol outside (0, 1) or
/// max_iterations < 1.
void check_krylov_options(const char* name, std::int64_t n, std::int64_t k, std::int64_t ncv, double tol,
                          int max_iterations);

/// ncv = 0 means min(max(2k+1, k+20), n).
std::int64_t auto_ncv(std::int64_t ncv, std::int64_t k, std::int64_t n);

}  // namespace detail

}  // namespace convdyn::linalg
