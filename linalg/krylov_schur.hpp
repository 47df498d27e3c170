// Restarted Arnoldi with Krylov–Schur restarts (Stewart 2001) for a non-symmetric real LinearOperator.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>

#include "linalg/eig_result.hpp"
#include "linalg/linear_operator.hpp"
#include "linalg/which.hpp"

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
  IfNeeded,  ///< one pass, a second only when the first removed more than 30% of the norm (DGKS; the
             ///< default of ARPACK and SLEPc), with a check of the basis at every restart that falls back
             ///< to Always; half the memory traffic of Always
  Always,    ///< CGS2: two passes for every vector (a third when the second still removes > 30%)
};
/// "ifneeded" | "always"; throws ValueError otherwise.
Reorthogonalization parse_reorthogonalization(const std::string& s);
const char* to_string(Reorthogonalization r);

/// Options of `krylov_schur`; every field has a usable default except (usually) `k`.
struct KrylovSchurOptions {
  std::int64_t k = 10;          ///< wanted eigenvalues (nev), 1 <= k <= n-2
  std::int64_t m = 0;           ///< subspace size (ncv) in [k+2, n]; 0 = auto: min(max(4k, k+40), n)
                                ///< (clustered right edges: fewer matvecs and fewer missed pairs than 2k+1),
                                ///< grown once by half when no further pair converges for 10
                                ///< restarts; a given m is kept
  Which which = Which::LM;      ///< which eigenvalues are wanted (see which.hpp)
  double tol = 1e-10;           ///< pair i is converged when ||A v - lambda v|| <= tol * max(1, |lambda|),
                                ///< ||v|| = 1 (the EigResult definition); in (0, 1)
  int max_restarts = 1000;      ///< >= 0; 0 = a single Arnoldi pass of m steps
  std::uint64_t seed = 0;       ///< start vector: standard normal from std::mt19937_64(seed), generated
                                ///< on the CPU in double precision, then moved to the operator
  at::Tensor start;             ///< optional start vector (n) or (1, n), any device/dtype; overrides seed
  bool verify = false;          ///< after convergence, search the complement of the converged pairs from a
                                ///< fresh start for eigenvalues the restarts missed (see krylov_schur);
                                ///< costs ~1-3x the first convergence; V gets k+16 more rows
  Reorthogonalization reorthogonalize = Reorthogonalization::IfNeeded;  ///< see Reorthogonalization
                                ///< (64x56x56 conv, k = 20: IfNeeded never needed a second pass, and a
                                ///< step's Gram–Schmidt time halved; same matvecs and values as Always)
  bool vectors = false;         ///< return Ritz vectors in EigResult::vectors (CPU, complex double, unit norm)
  std::function<void(const KrylovSchurProgress&)> progress;  ///< optional, once per outer iteration
};

/// The k eigenvalues of `op` preferred by `opt.which`, by restarted Arnoldi with Krylov–Schur restarts.
///
/// Algorithm (Stewart 2001; the restart and locking scheme of SLEPc's EPSKRYLOVSCHUR):
/// - The basis V (m+1, n) lives on op.device() in op.dtype(); it is expanded by Arnoldi steps with
///   classical Gram–Schmidt as block GEMV passes `h = V w`, `w -= V^T h`: one pass and a second when the
///   norm dropped by more than 30% (opt.reorthogonalize = IfNeeded, the default; max |V V^T - I| of the
///   kept basis is checked at every restart and the solver switches to two passes if it exceeds 1000 eps),
///   or always two (CGS2, Always), a third when needed. A breakdown (||w|| tiny)
///   substitutes a random direction orthogonal to V (counted in KrylovSchurProgress::breakdowns).
/// - The projected m x m problem is solved on the CPU in double precision: real Schur form (Eigen), then
///   reordered by swapping adjacent 1x1/2x2 blocks (LAPACK dlaexc-style: Givens rotation or small Sylvester
///   solve + QR) so that the Ritz values are in `which` order; conjugate pairs stay in 2x2 blocks.
/// - Convergence estimate of a Ritz pair (theta, V y), ||y|| = 1: |b^T y| + sum_j |d_j y_j| (b: the
///   residual row; d: residual coefficients dropped by locking, see below), a bound on the true residual
///   up to rounding. A pair passes when estimate <= tol * max(1, |theta|); nconv = the leading passing
///   wanted pairs, in order.
/// - Locking: leading wanted pairs whose estimate is <= 0.01 * tol * max(1, |theta|) are locked and
///   deflated: their Schur vectors are never changed again and their residual coefficients are dropped
///   from b (into d), so later Schur forms only work on the unlocked part. The 0.01 margin keeps the sum
///   of dropped coefficients well below tol.
/// - Restart: keep p = nconv + max(1, (m - nconv) / 2) (at least k, at most m-1) leading Schur vectors,
///   +-1 so that no conjugate pair is split; one GEMM updates the basis.
/// - When every wanted estimate passes, Ritz vectors are formed and the TRUE residuals
///   ||A v - lambda v|| (||v|| = 1) are computed through the operator (real and imaginary parts as one
///   block). If one fails the tolerance (loss of orthogonality, or an unattainable tol such as 1e-10 with
///   float32), iteration continues with a 10x stricter estimate threshold; when two consecutive such
///   re-checks fail to halve the worst true residual, the solver gives up with reason MaxRestarts.
/// - Search rounds (opt.verify, default off). A thick restart filters the Krylov space towards the Ritz
///   values it already sees; on a cloud-shaped spectrum an eigenvalue inside the cloud but among the k
///   wanted (e.g. a real one between complex pairs of larger |Im|) can stay invisible until the k others
///   have converged, and the iteration would stop without it, every residual <= tol (observed: random
///   32x7x7 and 512x7x7 convs, LR, k = 20, m = 41/60). So after convergence every wanted pair is locked and
///   the iteration restarts from a random vector orthogonal to them: the first active Ritz value is then
///   the best eigenvalue of the complement. When it converges and belongs among the k best, it was
///   missed: it is kept and another round starts; otherwise the answer stands. A round searches up to 4
///   candidate blocks in an active space of m - k vectors and may take as many restarts as the first
///   convergence did (at least 20); when it does not settle, the answer stands with search_complete =
///   false. This catches the failure seen in tests but is not a proof: an eigenvalue can still hide from
///   a round (EigResult::search_* report what happened). The larger default m (4k) made the same misses
///   disappear at a lower cost on the tested operators.
///
/// Result: the k values in `which` order (a conjugate pair adjacent, positive imaginary part first; if
/// the k-th value is the first of a pair, its partner is not returned), `residuals` = true residuals,
/// `converged[i]` = residuals[i] <= tol * max(1, |values[i]|), method "krylov-schur", reason Converged
/// (all k converged), MaxRestarts (max_restarts reached or the true residuals stagnated above tol) or
/// Breakdown (no new Krylov direction could be found). Non-convergence never throws: the best k Ritz
/// pairs are returned with honest residuals and flags.
///
/// When m = n (small operators) the Krylov space becomes invariant and the values are exact to rounding.
/// Cost per restart: (m - p) operator applies, O(m n) per step for Gram–Schmidt (on large conv layers
/// this memory traffic, not the conv, dominates a step: hence the single pass by default), one (p x m) x (m x n) GEMM, and
/// O(m^3) on the CPU. Memory: (m + 1) n elements for V (up to 1.5m + 1 with the automatic m) plus p n for the restart GEMM.
///
/// Throws ValueError for invalid options, naming the parameter and the allowed range: k outside
/// [1, n-2] (use the dense method for k >= n-1), m outside [k+2, n], tol outside (0, 1), negative
/// max_restarts, a start vector of the wrong length, non-finite or zero.
EigResult krylov_schur(const LinearOperator& op, const KrylovSchurOptions& opt);

}  // namespace convdyn::linalg
