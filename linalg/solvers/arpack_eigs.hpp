// Second opinion: the same eigenproblem through ARPACK (arpack-ng dnaupd/dneupd, reverse communication).
#pragma once
#include <cstdint>
#include <string>

#include "linalg/eig_result.hpp"
#include "linalg/linear_operator.hpp"
#include "linalg/solvers/eig_options.hpp"

namespace convdyn::linalg {

/// Options of `arpack_eigs`: the common block; ncv = 0 means min(max(2k+1, k+20), n); max_restarts is
/// ARPACK's iparam(3) (implicit restarts); LM, LR, SR, SM or LI (no shift-invert, so SM is slow).
struct ArpackOptions : EigOptions {};

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
/// honest residuals and reason MaxRestarts. It never throws for non-convergence; an ARPACK error code
/// (e.g. -9999: no Arnoldi factorization could be built) gives reason NumericalFailure with ARPACK's
/// meaning in `message`.
/// `matvecs` counts every operator application of this call (the post-check included); `restarts` is
/// ARPACK's iparam(3) on output (Arnoldi update iterations).
///
/// Not thread-safe: ARPACK keeps its state in Fortran SAVE variables, so one call at a time per process.
/// Throws ValueError for options outside the ranges of check_eig_options, or n beyond 32-bit indices.
EigResult arpack_eigs(const LinearOperator& op, const ArpackOptions& opt);

/// ARPACK's documented meaning of a dnaupd (`routine` "dnaupd") or dneupd ("dneupd") info code.
std::string arpack_info_message(const char* routine, int info);

}  // namespace convdyn::linalg
