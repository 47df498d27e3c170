// Restarted Arnoldi with Krylov–Schur restarts (Stewart 2001) for a non-symmetric real LinearOperator: the
// default solver, matrix-free on any device. The design and its measurements: docs/solvers.md.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>

#include "linalg/eig_result.hpp"
#include "linalg/linear_operator.hpp"
#include "linalg/solvers/eig_options.hpp"

namespace convdyn::linalg {

/// Reported once per outer iteration (expansion + convergence test), before the restart.
struct KrylovSchurProgress {
  int restart = 0;                  ///< restarts done so far
  std::int64_t converged = 0;       ///< leading wanted Ritz values that pass the estimate test
  double worst_estimate = 0.0;      ///< max over the wanted Ritz pairs of estimate / max(1, |theta|)
  std::int64_t matvecs = 0;         ///< operator-vector products in this call so far
  std::int64_t breakdowns = 0;      ///< Arnoldi breakdowns so far (a random direction was substituted)
  bool searching = false;           ///< in a search round (KrylovSchurOptions::verify)
};

/// How an Arnoldi vector is orthogonalised against the basis (classical Gram–Schmidt, block GEMVs).
enum class Reorthogonalization {
  IfNeeded,  ///< one pass, a second only when the first removed more than 30% of the norm (DGKS, as ARPACK
             ///< and SLEPc), with a check of the basis at every restart that falls back to Always
  Always,    ///< CGS2: two passes for every vector (a third when the second still removes > 30%)
};
/// "ifneeded" | "always"; throws ValueError otherwise.
Reorthogonalization parse_reorthogonalization(const std::string& s);
const char* to_string(Reorthogonalization r);

/// What krylov_schur takes beyond the common block.
struct KrylovSchurExtras {
  /// Vectors per block Gram–Schmidt (s-step expansion, detail::KrylovSchurDecomposition::set_sstep): the same
  /// Krylov space as one vector at a time, with the basis read once per s vectors. 0 = automatic (16 for
  /// n >= 4096 after the first plain expansion, whose Ritz values give the basis's shift; else 1); 1 = one
  /// vector at a time.
  std::int64_t sstep = 0;
  bool verify = false;          ///< after convergence, search the complement of the converged pairs from a
                                ///< fresh start for eigenvalues the restarts missed (~1-3x the cost)
  Reorthogonalization reorthogonalize = Reorthogonalization::IfNeeded;
  std::function<void(const KrylovSchurProgress&)> progress;  ///< optional, once per outer iteration
  /// Optional start vector (n) or (1, n), any device/dtype; overrides the seed's random one. A warm start
  /// (e.g. Ritz vectors of a related problem with the same eigenvectors) can save most of the matvecs.
  at::Tensor start;
};

/// Options of `krylov_schur`: the common block plus the extras. ncv = 0 means automatic: min(max(4k, k+40),
/// n), grown once by half when no further pair converges for 10 restarts (a given ncv is kept).
/// max_restarts = 0 is allowed: a single Arnoldi pass of ncv steps.
struct KrylovSchurOptions : EigOptions, KrylovSchurExtras {};

/// The k eigenvalues of `op` preferred by `opt.which`.
///
/// The basis V (ncv+1, n) lives on op.device() in op.dtype(); the projected problem is solved on the CPU in
/// double precision (ordered real Schur form, conjugate pairs in 2x2 blocks). Pairs are locked and deflated
/// once their residual estimate is 100x below tol. When every wanted estimate passes, the TRUE residuals
/// ||A v - lambda v|| (||v|| = 1) are computed through the operator; if one fails the tolerance (loss of
/// orthogonality, or an unattainable tol such as 1e-10 in float32) the iteration continues with a 10x
/// stricter estimate threshold, and gives up (MaxRestarts) when two such re-checks in a row fail to halve
/// the worst true residual.
///
/// Result: the k values in `which` order (a conjugate pair adjacent, positive imaginary part first; if the
/// k-th value is the first of a pair, its partner is not returned), true residuals, converged flags, method
/// "krylov-schur", reason Converged, MaxRestarts (restart budget spent or true residuals stagnated above tol)
/// or Breakdown (no new Krylov direction exists). Non-convergence never throws.
///
/// Caveat (any Krylov method): the residuals certify each returned pair, not that no wanted eigenvalue was
/// skipped; `verify` adds search rounds that make a skip much less likely (EigResult::search_* report them).
///
/// Cost per restart: (ncv - p) operator applies, O(ncv n) per step for Gram–Schmidt, one (p x ncv) x (ncv x n)
/// GEMM, O(ncv^3) on the CPU. Memory: (ncv + 1) n elements for V (up to 1.5 ncv + 1 with the automatic
/// size, + k + 16 rows with verify) plus p n for the restart GEMM.
///
/// Throws ValueError for invalid options, naming the parameter and the allowed range (check_eig_options,
/// with max_restarts >= 0), and for a start vector of the wrong length, non-finite or zero.
EigResult krylov_schur(const LinearOperator& op, const KrylovSchurOptions& opt);

}  // namespace convdyn::linalg
