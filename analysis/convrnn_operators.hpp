// The operators of a ConvRNN model-zoo checkpoint that convdyn analyses: each cell layer's state Jacobian at
// its fixed point, and the purely linear recurrent convs inside the cell.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analysis/results.hpp"
#include "linalg/linear_operator.hpp"
#include "model/convrnn/cell_jacobian.hpp"
#include "model/convrnn/model.hpp"

namespace convdyn::analysis {

/// One operator of a zoo model, named as `inspect` prints it and `--layer` accepts it:
///  - "<layer>" (e.g. "conv4"): the cell's state Jacobian d s_{t+1} / d s_t at its fixed point;
///  - "<layer>/<part>" (e.g. "conv4/gates/r/h"): a linear recurrent conv inside the cell (see
///    ConvRNNCell::linear_parts), TF 'SAME' zero padding. Non-square parts (rgc's c <-> h convs when the
///    channel counts differ) are listed but have no spectrum.
struct ConvRNNTarget {
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
std::vector<ConvRNNTarget> convrnn_targets(const model::ConvRNNModel& zoo);

/// The target called `name`; ValueError naming the file and listing the valid names when there is none.
const ConvRNNTarget& find_convrnn_target(const std::vector<ConvRNNTarget>& targets, const std::string& name,
                                 const std::string& path);

/// Where the Jacobian is taken.
struct ConvRNNPoint {
  /// The layer's input x after its pre conv, (Cin, H, W) or (1, Cin, H, W); undefined = 0. rgc cells apply
  /// their input elu to it (x = elu(pre conv), docs/convrnn.md).
  at::Tensor drive;
  std::string drive_name = "zero";  ///< for records, e.g. the --drive file
  model::CellFixedPointOptions fixed_point;
};

/// A built operator and what the results file records about it.
struct ConvRNNOperator {
  std::unique_ptr<linalg::LinearOperator> op;
  LayerInfo info;
  bool has_fixed_point = false;      ///< the Jacobian targets: the fixed-point search ran
  model::CellFixedPoint fixed_point;  ///< its outcome (the Jacobian is taken at the last state)
  std::optional<double> scalar;      ///< timedecay: J = m I
};

/// Builds target `t` of `zoo` in `dtype` on `device` (the cells themselves run in the dtype they were
/// loaded with). For a Jacobian target, first iterates the cell map to its fixed point under the drive;
/// when none is reached the operator is still built at the last state and `fixed_point.converged` says so.
ConvRNNOperator build_convrnn_operator(const model::ConvRNNModel& zoo, const ConvRNNTarget& t, const ConvRNNPoint& point,
                               c10::ScalarType dtype, c10::Device device);

}  // namespace convdyn::analysis
