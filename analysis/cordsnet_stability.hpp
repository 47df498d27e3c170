// Stability verification of a CordsNet, per area: linear stability, local stability at the model's own
// fixed points, a contraction certificate and a measure of non-normality.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "analysis/results.hpp"
#include "analysis/verdict.hpp"
#include "linalg/eig_result.hpp"
#include "linalg/operators/conv_operator.hpp"
#include "linalg/solvers/krylov_schur.hpp"
#include "linalg/solvers/transient_growth.hpp"

namespace convdyn::model {
struct Checkpoint;
struct Network;
}

namespace convdyn::analysis {

struct StabilityOptions {
  double alpha = 0.2;            ///< dt / T of the discretised dynamics (0.2 in the release)
  double tol = 1e-10;            ///< eigen-residual tolerance of every solve (see EigResult)
  std::int64_t k = 6;            ///< eigenvalues kept per solve (rightmost / largest)
  int max_restarts = 1000;
  c10::ScalarType dtype = c10::ScalarType::Double;        ///< of the operators and eigensolves
  c10::Device device = c10::Device(c10::DeviceType::CPU);  ///< of the operators and eigensolves (the
                                                          ///< fixed-point simulation runs on the CPU in float64)
  /// Krylov–Schur's extras for every iterative solve, and the conv implementation (the bench runs the
  /// plain path next to the default one).
  linalg::KrylovSchurExtras krylov_schur;
  linalg::ConvBackend conv_backend = linalg::ConvBackend::Auto;
  /// Condition numbers and error bounds of the rightmost eigenvalues of W and of the discrete map's largest at
  /// each fixed point (a second solve on the transpose each), used by the verdicts: a margin within the
  /// bound is UNDECIDED. An eigenvalue in a cluster has no condition number (NaN bound): it is judged by its
  /// value, and the reason says so. Off: the bounds are taken as 0, the verdicts of convdyn before the bounds
  /// (for comparisons and timing).
  bool condition = true;
  /// Transient growth of the linear model's discrete map M = (1 - alpha) I + alpha W: max ||M^t||_2 over
  /// 0 <= t <= this many steps (0: not computed). Skipped for an area whose linear regime is UNSTABLE (unbounded).
  std::int64_t transient_max_steps = 512;
  double transient_tol = 1e-8;  ///< residual tolerance of each ||M^t||_2
  // Fixed points
  std::int64_t max_steps = 20000;  ///< time steps allowed to reach a fixed point
  double fixed_point_tol = 1e-10;  ///< ||F(r) - r|| / max(1, ||r||)
  std::function<void(const std::string&)> progress;  ///< nullptr: silent
};

/// One input (zero image or an image) and the analysis at its fixed point, for one area.
struct FixedPointStability {
  std::string input;               ///< "zero" or "image <i>"
  bool reached = false;            ///< a fixed point was reached (else: status says why)
  std::string status;              ///< converged | oscillating | diverging | max-steps
  double residual = 0.0;           ///< ||F(r) - r|| / max(1, ||r||) at the end
  std::int64_t steps = 0;
  double active_fraction = 0.0;    ///< fraction of the area's units with relu' = 1 (D = 1)
  linalg::EigResult masked;        ///< rightmost eigenvalues of D W
  linalg::EigResult discrete;      ///< largest-magnitude eigenvalues of (1 - alpha) I + alpha D W
  double masked_abscissa = 0.0;    ///< max Re of D W (continuous-time stable iff < 1)
  double spectral_radius = 0.0;    ///< of the discrete map (stable iff < 1)
  double spectral_radius_bound = NAN;  ///< first-order error bound on it (condition * residual; NaN: none)
  Verdict verdict = Verdict::Undecided;  ///< compare_with_one(spectral_radius, spectral_radius_bound)
};

/// The three questions a stability verdict answers, kept apart (the area's and the model's verdict combine them).
struct VerdictLevels {
  /// ||W||_2 < 1 (converged): globally stable for every input. One-sided: STABLE or UNDECIDED (no certificate).
  Verdict global = Verdict::Undecided;
  /// The linear regime (every unit active, D = I): max Re lambda(W) against 1, within its error bound.
  Verdict linear = Verdict::Undecided;
  /// Local stability at the analysed inputs' fixed points: the worst of them (UNDECIDED for an unreached one).
  Verdict fixed_points = Verdict::Undecided;
};

struct AreaStability {
  LayerInfo layer;
  linalg::EigResult linear;        ///< rightmost eigenvalues of W (all units active, D = I)
  double abscissa = 0.0;           ///< max Re lambda(W): the linear model is stable iff < 1
  double margin = 0.0;             ///< 1 - abscissa
  double abscissa_bound = NAN;     ///< first-order error bound on the abscissa (condition * residual; NaN: none)
  linalg::EigResult largest;       ///< largest-magnitude eigenvalues of W
  double spectral_radius = 0.0;    ///< max |lambda(W)|
  double norm2 = 0.0;              ///< ||W||_2, largest singular value (Lanczos on W^T W)
  double norm2_residual = 0.0;
  bool norm2_converged = false;
  double numerical_abscissa = 0.0;  ///< omega(W) = lambda_max((W + W^T)/2) (Lanczos)
  double numerical_abscissa_residual = 0.0;
  bool numerical_abscissa_converged = false;
  bool contraction = false;        ///< ||W||_2 < 1 (converged): globally stable for every input
  bool transient_amplification = false;  ///< every Re lambda < 1 but omega >= 1
  /// max_t ||M^t||_2 of M = (1 - alpha) I + alpha W (the linear model's time step); `transient_computed` false
  /// when not asked for or the linear regime is UNSTABLE (the growth is unbounded).
  linalg::TransientGrowth transient;
  bool transient_computed = false;
  std::vector<FixedPointStability> fixed_points;
  VerdictLevels levels;
  Verdict verdict = Verdict::Undecided;
  std::string reason;              ///< one line: why this verdict
};

struct StabilityReport {
  std::vector<AreaStability> areas;
  std::vector<std::string> inputs;  ///< the inputs analysed, in order
  double alpha = 0.2;
  std::int64_t transient_max_steps = 0;  ///< the limit of the transient growth (0: not computed)
  VerdictLevels levels;  ///< each level combined over the areas (combine_verdicts)
  Verdict verdict = Verdict::Undecided;
};

/// Analyses every area of `net`. `images` is [N, C, H, W] (float64) or undefined for the zero input only;
/// the zero input is always analysed first. Non-convergence of a solve or of a fixed point makes the
/// affected verdict UNDECIDED, never a silent answer.
///
/// Verdict of an area: STABLE when ||W||_2 < 1 (a contraction: stable for every input), or when the linear
/// model is stable (max Re lambda(W) + its error bound < 1) and the discrete map is locally stable (spectral
/// radius + its error bound < 1) at every analysed fixed point; UNSTABLE when max Re lambda(W) - bound >= 1 or
/// the spectral radius - bound >= 1 at some fixed point (from converged solves); UNDECIDED otherwise (a margin
/// within the eigenvalue error bound among the reasons). In terms of the levels: STABLE when `global` is, else
/// UNSTABLE when `linear` or `fixed_points` is, else STABLE when both are, else UNDECIDED. The model's verdict:
/// UNSTABLE if any area is, else UNDECIDED if any area is, else STABLE; each level is reported for the model
/// the same way, since the model's verdict alone does not say which question failed (e.g. a linear regime that
/// grows while every analysed fixed point is locally stable). The network's Jacobian is block lower-triangular over
/// areas, so per-area local stability is exact for the whole network.
StabilityReport analyse_stability(const model::Checkpoint& ckpt, const model::Network& net,
                                  const at::Tensor& images, const StabilityOptions& opt);

/// Writes /stability (see docs/results-format.md).
void write_stability(ResultsWriter& out, const StabilityReport& report);

}  // namespace convdyn::analysis
