// Second opinion: the same eigenproblem through ARPACK (arpack-ng dnaupd/dneupd, reverse communication).
#pragma once
#include <cstdint>
#include <string>

#include "linalg/eig_result.hpp"
#include "linalg/linear_operator.hpp"
#include "linalg/which.hpp"

namespace convdyn::linalg {

/// Options of `arpack_eigs`; the same problem as `KrylovSchurOptions`.
struct ArpackOptions {
  std::int64_t k = 10;          ///< wanted eigenvalues (nev), 1 <= k <= n-2
  std::int64_t ncv = 0;         ///< Arnoldi vectors in [k+2, n]; 0 = auto: min(max(2k+1, k+20), n) (as krylov-schur)
  Which which = Which::LM;      ///< LM, LR, SR, SM or LI (ARPACK's names; no shift-invert, so SM is slow)
  double tol = 1e-10;           ///< in (0, 1); ARPACK's tol AND the tolerance of our converged flags
  int max_iterations = 1000;    ///< ARPACK's iparam(3) (implicit restarts), >= 1
  std::uint64_t seed = 0;       ///< start vector (resid, info=1): standard normal from std::mt19937_64(seed)
  bool vectors = false;         ///< return the Ritz vectors (n x k, unit norm) in EigResult::vectors
};

/// The k eigenvalues of `op` preferred by `opt.which`, by ARPACK's implicitly restarted Arnoldi
/// (dnaupd, mode 1, exact shifts) and dneupd (Ritz vectors, howmny 'A'); CPU, double precision in the
/// Krylov basis whatever the operator's dtype (each matvec converts).
///
/// After ARPACK returns, every pair gets its TRUE residual ||A v - lambda v|| (||v|| = 1) through the
/// operator and `converged[i] = residuals[i] <= tol * max(1, |values[i]|)` (ARPACK's own test is
/// Ritz estimate <= tol * max(eps^(2/3), |theta|)). Values are in `which` order.
/// When dnaupd stops early (info 1: maxiter reached, or 2/3: no shifts could be applied), dneupd would
/// only return the pairs ARPACK counts as converged; instead the Ritz pairs of the final length-ncv
/// factorization (V and H left in workl by dnaupd) are formed here, so that k pairs come back with
/// honest residuals and reason MaxRestarts. It never throws for non-convergence.
/// `matvecs` counts every operator application of this call (the post-check included); `restarts` is
/// ARPACK's iparam(3) on output (Arnoldi update iterations).
///
/// Not thread-safe: ARPACK keeps its state in Fortran SAVE variables, so one call at a time per process.
/// Throws ValueError for k outside [1, n-2], ncv outside [k+2, n], tol outside (0, 1),
/// max_iterations < 1, and for an ARPACK error code (the message quotes ARPACK's meaning).
EigResult arpack_eigs(const LinearOperator& op, const ArpackOptions& opt);

/// ARPACK's documented meaning of a dnaupd (`routine` "dnaupd") or dneupd ("dneupd") info code.
std::string arpack_info_message(const char* routine, int info);

}  // namespace convdyn::linalg
