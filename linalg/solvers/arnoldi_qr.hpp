// The published CordsNet analysis method (plain Arnoldi + unshifted QR), kept as a baseline, with an
// honest residual check added.
#pragma once
#include <cstdint>

#include "linalg/eig_result.hpp"
#include "linalg/linear_operator.hpp"
#include "linalg/solvers/eig_options.hpp"

namespace convdyn::linalg {

/// Options of `arnoldi_qr`: the common block's k, which, tol (used ONLY for the converged flags: the method has
/// no convergence test), seed (uniform [0, 1) start, normalised) and vectors; ncv and max_restarts do not
/// apply. The defaults of the extras are the published settings; the precision is the operator's dtype
/// (build the operator in float32 to reproduce the published run).
struct ArnoldiQrExtras {
  std::int64_t steps = 300;   ///< Arnoldi steps m, >= 1; clamped to n
  int qr_iters = 5000;        ///< unshifted QR iterations on the m x m Hessenberg, >= 0
};
struct ArnoldiQrOptions : EigOptions, ArnoldiQrExtras {};

/// The published CordsNet method (docs/cordsnet.md, "The published analysis method"), step for step:
/// - m = min(steps, n) Arnoldi steps in the operator's dtype and device from a uniform random
///   non-negative start, modified Gram-Schmidt one basis vector at a time (dot, axpy), no
///   reorthogonalisation and no breakdown guard: only an exactly zero norm stops the loop early (so that
///   nothing is divided by zero), which leaves an m' x m' Hessenberg, m' < m.
/// - `qr_iters` unshifted QR iterations H <- R Q on the m x m Hessenberg (Eigen HouseholderQR, dense, in
///   float when the operator is float32, else double). A similarity transform: it changes the
///   eigenvalues only by accumulated rounding and costs O(qr_iters m^3), independent of n.
/// - Eigen's EigenSolver on the result; the k values first in `which` order are the answer.
///
/// Our addition, so that its error shows: each reported value is matched to the nearest eigenvalue of
/// the ORIGINAL Hessenberg (double precision, eigenvectors y), the Ritz vector V y is formed in the
/// operator's dtype, and the TRUE residual ||A v - lambda v|| (||v|| = 1, lambda the reported value) is
/// computed through the operator; `converged[i] = residuals[i] <= tol * max(1, |values[i]|)`.
/// Reason: Converged when every flag is set, else Breakdown when the loop stopped early, else MaxRestarts
/// (it ran its fixed budget). `restarts` = 0; `matvecs` = m plus the post-check. Method "arnoldi-qr".
///
/// Memory: (m + 1) n elements for V. Throws ValueError for k outside [1, min(steps, n)], steps < 1,
/// qr_iters < 0, tol outside (0, 1).
EigResult arnoldi_qr(const LinearOperator& op, const ArnoldiQrOptions& opt);

}  // namespace convdyn::linalg
