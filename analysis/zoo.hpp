// The operators of a ConvRNN model-zoo checkpoint that convdyn analyses, and the stability of its cell
// layers: each cell's state Jacobian at its fixed point, and the purely linear recurrent convs inside it.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analysis/results.hpp"
#include "analysis/stability.hpp"
#include "linalg/eig_result.hpp"
#include "linalg/linear_operator.hpp"
#include "model/convrnn_jacobian.hpp"
#include "model/convrnn_model.hpp"

namespace convdyn::analysis {

/// One operator of a zoo model, named as `inspect` prints it and `--layer` accepts it:
///  - "<layer>" (e.g. "conv4"): the cell's state Jacobian d s_{t+1} / d s_t at its fixed point;
///  - "<layer>/<part>" (e.g. "conv4/gates/r/h"): a linear recurrent conv inside the cell (see
///    ConvRNNCell::linear_parts), TF 'SAME' zero padding. Non-square parts (rgc's c <-> h convs when the
///    channel counts differ) are listed but have no spectrum.
struct ZooTarget {
  std::string name;
  std::string layer;  ///< the cell layer
  std::string part;   ///< "" for the state Jacobian
  std::string role;   ///< what the operator is, one line
  std::int64_t channels = 0, height = 0, width = 0, kernel = 0;  ///< channels: of the operator's input
  std::int64_t out_channels = 0;
  bool square = true;
  std::int64_t n() const { return channels * height * width; }
};

/// Every target of the model: per cell layer, its Jacobian first, then its linear parts.
std::vector<ZooTarget> zoo_targets(const model::ZooModel& zoo);

/// The target called `name`; ValueError naming the file and listing the valid names when there is none.
const ZooTarget& find_zoo_target(const std::vector<ZooTarget>& targets, const std::string& name,
                                 const std::string& path);

/// Where the Jacobian is taken.
struct ZooPointOptions {
  /// The layer's input x after its pre conv, (Cin, H, W) or (1, Cin, H, W); undefined = 0. rgc cells apply
  /// their input elu to it (x = elu(pre conv), CONVRNN.md).
  at::Tensor drive;
  std::string drive_name = "zero";  ///< for records, e.g. the --drive file
  model::CellFixedPointOptions fixed_point;
};

/// A built operator and what the results file records about it.
struct ZooOperator {
  std::unique_ptr<linalg::LinearOperator> op;
  LayerInfo info;
  bool has_fixed_point = false;      ///< the Jacobian targets: the fixed-point search ran
  model::CellFixedPoint fixed_point;  ///< its outcome (the Jacobian is taken at the last state)
  std::optional<double> scalar;      ///< timedecay: J = m I
};

/// Builds target `t` of `zoo` in `dtype` on `device` (the cells themselves run in the dtype they were
/// loaded with). For a Jacobian target, first iterates the cell map to its fixed point under the drive;
/// when none is reached the operator is still built at the last state and `fixed_point.converged` says so.
ZooOperator build_zoo_operator(const model::ZooModel& zoo, const ZooTarget& t, const ZooPointOptions& point,
                               c10::ScalarType dtype, c10::Device device);

struct ZooStabilityOptions {
  double tol = 1e-10;      ///< eigen-residual tolerance
  std::int64_t k = 6;      ///< largest-magnitude eigenvalues kept per Jacobian
  int max_restarts = 1000;
  ZooPointOptions point;   ///< drive and fixed-point options (one drive for every layer: x = 0 unless given)
  std::function<void(const std::string&)> progress;  ///< nullptr: silent
};

/// One cell layer's verdict on its discrete-time map s <- F(x, s) at its fixed point.
struct CellStability {
  ZooTarget target;
  std::string cell;                 ///< cell type
  model::CellFixedPoint fixed_point;
  linalg::EigResult largest;        ///< largest-magnitude eigenvalues of J (empty for timedecay)
  double spectral_radius = 0.0;     ///< rho(J): locally stable iff < 1
  double margin = 0.0;              ///< 1 - rho(J)
  double norm2 = 0.0;               ///< ||J||_2 (Lanczos on J^T J): < 1 certifies local contraction
  bool norm2_converged = false;
  bool contraction = false;
  Verdict verdict = Verdict::Undecided;
  std::string reason;
};

struct ZooStabilityReport {
  std::string family;
  std::string drive;
  std::vector<CellStability> layers;
  Verdict verdict = Verdict::Undecided;
};

/// Verdict per cell layer: timedecay has J = m I, so rho = |m| with no solve; every other cell needs a
/// fixed point (UNDECIDED when none is reached), then STABLE when rho(J) < 1 and UNSTABLE when rho(J) >= 1
/// (from converged solves; UNDECIDED otherwise). The model: UNSTABLE if any layer is, else UNDECIDED if
/// any is, else STABLE. Each layer is judged on its own (the zoo's feed-forward path and rgc feedback are
/// not linearised jointly).
ZooStabilityReport analyse_zoo_stability(const model::ZooModel& zoo, const ZooStabilityOptions& opt);

/// Writes /stability for a zoo model (see docs/results-format.md).
void write_zoo_stability(ResultsWriter& out, const ZooStabilityReport& report);

}  // namespace convdyn::analysis
