// Top eigenvectors by (block) power iteration: the published CordsNet method, made honest.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "linalg/eig_result.hpp"
#include "linalg/linear_operator.hpp"

namespace convdyn::linalg {

/// Reported once per convergence check (every `check_every` iterations).
struct PowerProgress {
  std::int64_t iteration = 0;     ///< block iterations done so far
  std::int64_t converged = 0;     ///< leading wanted pairs whose true residual meets tol
  double worst_residual = 0.0;    ///< max over the p wanted pairs of ||A v - theta v|| / max(1, |theta|)
  double rate = 0.0;              ///< observed residual reduction per iteration (0 until measured)
  std::int64_t matvecs = 0;       ///< operator-vector products in this call so far
};

/// Options of `power_iteration`; every field has a usable default.
struct PowerOptions {
  std::int64_t count = 1;         ///< p: wanted eigenvectors (largest |lambda| first), 1 <= p <= n
  std::int64_t trials = 10;       ///< random starts, applied together as one (b, n) block per iteration;
                                  ///< block size b = min(max(trials, p + 2), n)
  double tol = 1e-8;              ///< pair converged when ||A v - lambda v|| <= tol * max(1, |lambda|), ||v|| = 1;
                                  ///< in (0, 1)
  std::int64_t max_iters = 10000; ///< block iterations (each costs b operator applies), >= 1
  std::int64_t check_every = 10;  ///< Rayleigh-Ritz + true residuals every this many iterations, >= 1
  std::uint64_t seed = 0;         ///< starts: standard normal from std::mt19937_64(seed), generated on the
                                  ///< CPU in double precision, then moved to the operator's device and dtype
  bool fallback = true;           ///< on a failure (see PowerReport) retry with krylov_schur (LM, vectors)
  std::int64_t fallback_max_restarts = 1000;  ///< krylov_schur max_restarts for the fallback
  std::function<void(const PowerProgress&)> progress;  ///< optional, once per convergence check
};

/// What `power_iteration` found out about the problem, beyond the EigResult. `note` is a human-readable
/// summary of everything flagged (empty when there is nothing to say).
struct PowerReport {
  std::int64_t block = 0;         ///< block size b actually used
  bool complex_dominant = false;  ///< lambda_1 is a complex-conjugate pair (|lambda_1| = |lambda_2|): plain
                                  ///< single-vector power iteration (the published method) cannot converge;
                                  ///< the block method returns the complex eigenvector (positive imag first)
  bool tie = false;               ///< |lambda_2| / |lambda_1| > 1 - 1e-6 with lambda_1 real (e.g. 2 and -2):
                                  ///< the published single-vector method cannot converge either
  double gap_ratio = -1.0;        ///< |theta_{p+1}| / |theta_p| from the Ritz values: the convergence factor of
                                  ///< single-vector (deflated) power iteration; -1 when b <= p
  double observed_rate = -1.0;    ///< measured residual reduction per iteration; -1 when not measured
  bool small_gap = false;         ///< stopped early: the predicted iterations to reach tol exceeded max_iters
  std::int64_t predicted_iters = -1;  ///< that prediction (total iterations), when small_gap
  bool stagnated = false;         ///< residual stopped improving above tol (tol below the dtype's rounding?)
  bool fell_back = false;         ///< the returned result comes from krylov_schur
  std::string note;
};

/// The `opt.count` eigenvalues of largest magnitude and their eigenvectors, by block power iteration
/// (subspace iteration) with Rayleigh–Ritz.
///
/// Algorithm. The `trials` random starts, completed to b = min(max(trials, p + 2), n) vectors, form the
/// block X (b, n) on op.device() in op.dtype(). Each iteration orthonormalises the block (Householder QR,
/// at::linalg_qr, which includes the per-trial normalisation of the published method) and applies the
/// operator to all b vectors at once: W = A Q. Every `check_every` iterations, the b x b projection
/// H = Q^T A Q = Q W^T is solved on the CPU in double precision (Eigen), its eigenvalues ordered by
/// magnitude (a conjugate pair adjacent, positive imaginary part first), and the TRUE residuals of the p
/// leading Ritz pairs (theta, v = Q s) computed from W: ||W^T s - theta Q^T s||, no extra applies.
/// Instead of averaging independent trials (which cannot represent a complex pair or several vectors),
/// the trials span a subspace: pair i converges like (|lambda_{b+1}| / |lambda_i|)^iterations, and a
/// dominant complex pair comes out as a conjugate pair of Ritz values with a complex eigenvector.
///
/// Failure detection (PowerReport):
/// - complex dominant pair / real tie (e.g. 2 and -2): reported; not a failure of the block method as long
///   as it converges.
/// - small gap: from the third check on, the worst residual's observed reduction factor per iteration (over
///   the last half of the checks) predicts the iterations still needed; when two checks in a row predict
///   more than max_iters allows, stop early (reason MaxRestarts). This is the block's real rate, at most
///   |lambda_{b+1} / lambda_p|; `gap_ratio` (the single-vector rate) is reported alongside.
/// - stagnation: the same prediction, but with the residual already within 1e3 eps ||H|| of zero (the
///   rounding level of the dtype: tol unattainable); stop, no fallback.
/// With `fallback` (default), a small gap or an unconverged end falls back to krylov_schur (which LM,
/// k = max(p, 2) limited to n - 2, m automatic, the same tol and seed, vectors); its first p pairs are
/// returned with method "power->krylov-schur" and the note says so. Counters include both phases.
///
/// Result: p values in LM order (if the p-th is the first of a pair, its partner is not returned); vectors
/// n x p complex, unit 2-norm, phase-normalised (largest-magnitude component real positive); residuals
/// recomputed through the operator at the end (p real applies, plus one per complex vector);
/// converged[i] = residuals[i] <= tol * max(1, |values[i]|); restarts = block iterations; method "power";
/// reason Converged or MaxRestarts. Non-convergence never throws.
///
/// Cost per iteration: b operator applies, one QR of an (n, b) block (O(n b^2)), a (b, n) x (n, b) GEMM
/// on checks. Memory: about 3 b n elements.
///
/// Throws ValueError for invalid options, naming the parameter and the allowed range: count outside
/// [1, n], trials < 1, tol outside (0, 1), max_iters < 1, check_every < 1, fallback_max_restarts < 0.
EigResult power_iteration(const LinearOperator& op, const PowerOptions& opt, PowerReport* report = nullptr);

}  // namespace convdyn::linalg
