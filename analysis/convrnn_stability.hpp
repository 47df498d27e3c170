// Stability of a ConvRNN model-zoo checkpoint's cell layers: the spectral radius of each cell's state Jacobian
// at its fixed point under a constant drive, with ||J||_2 as a local contraction bound.
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "analysis/convrnn_operators.hpp"
#include "analysis/results.hpp"
#include "analysis/verdict.hpp"
#include "model/convrnn/network.hpp"
#include "linalg/eig_result.hpp"
#include "linalg/solvers/krylov_schur.hpp"

namespace convdyn::analysis {

struct ConvRNNStabilityOptions {
  double tol = 1e-10;      ///< eigen-residual tolerance
  std::int64_t k = 6;      ///< largest-magnitude eigenvalues kept per Jacobian
  int max_restarts = 1000;
  /// Condition numbers and error bounds of the largest eigenvalues (a second solve on J^T, by VJPs): a margin
  /// within the bound is UNDECIDED. Off: bounds taken as 0 (for comparisons and timing).
  bool condition = true;
  ConvRNNPoint point;   ///< drive and fixed-point options (one drive for every layer: x = 0 unless given)
  linalg::KrylovSchurExtras krylov_schur;  ///< extras of every iterative solve (e.g. a per-restart hook)
  std::function<void(const std::string&)> progress;  ///< nullptr: silent
};

/// One cell layer's verdict on its discrete-time map s <- F(x, s) at its fixed point.
struct CellStability {
  ConvRNNTarget target;
  std::string cell;                 ///< cell type
  model::CellFixedPoint fixed_point;
  linalg::EigResult largest;        ///< largest-magnitude eigenvalues of J (empty for timedecay)
  double spectral_radius = 0.0;     ///< rho(J): locally stable iff < 1
  double margin = 0.0;              ///< 1 - rho(J)
  double spectral_radius_bound = NAN;  ///< first-order error bound on rho(J) (condition * residual; NaN: none)
  double norm2 = 0.0;               ///< ||J||_2 (Lanczos on J^T J): < 1 certifies local contraction
  bool norm2_converged = false;
  bool contraction = false;
  Verdict verdict = Verdict::Undecided;
  std::string reason;
};

struct ConvRNNStabilityReport {
  std::string family;
  std::string drive;
  std::vector<CellStability> layers;
  Verdict verdict = Verdict::Undecided;
};

/// Verdict per cell layer: timedecay has J = m I, so rho = |m| with no solve; every other cell needs a
/// fixed point (UNDECIDED when none is reached), then STABLE when rho(J) + bound < 1 and UNSTABLE when
/// rho(J) - bound >= 1 (from converged solves; UNDECIDED otherwise, a margin within the eigenvalue error bound
/// among the reasons; a clustered eigenvalue without a bound is judged by its value, and the reason says so). The model: UNSTABLE if any layer is, else UNDECIDED if
/// any is, else STABLE. Each layer is judged on its own (the zoo's feed-forward path and rgc feedback are
/// not linearised jointly).
ConvRNNStabilityReport analyse_convrnn_stability(const model::ConvRNNModel& zoo, const ConvRNNStabilityOptions& opt);

/// The whole network's verdict (docs/convrnn-network.md §6): its state map's fixed point under the constant
/// `image` [1, 3, H, W] (normalised) from rest, then rho of the joint Jacobian with its error bound and ||J||_2,
/// by the same rule as a cell layer; one entry "network" (cell "network"), drive = `image_name`. Unlike the
/// per-layer analysis, the feed-forward path and rgc's feedback edges are linearised jointly.
ConvRNNStabilityReport analyse_zoo_network_stability(const model::ConvRNNNetwork& net, const at::Tensor& image,
                                                     const std::string& image_name,
                                                     const ConvRNNStabilityOptions& opt);

/// Writes /stability for a zoo model (see docs/results-format.md).
void write_convrnn_stability(ResultsWriter& out, const ConvRNNStabilityReport& report);

}  // namespace convdyn::analysis
