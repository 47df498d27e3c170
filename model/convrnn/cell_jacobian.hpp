// The state-to-state Jacobian of one ConvRNN cell, d s_{t+1} / d s_t, as a matrix-free operator, and the
// cell's fixed point under a constant drive.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>

#include "linalg/linear_operator.hpp"
#include "model/convrnn/cell.hpp"

namespace convdyn::model {

/// J = d step(x, s, extra) / d s at a fixed (x, s, extra), n = state_channels * H * W, vectors in the
/// state's C, H, W order ([c; h] for lstm / rgc). Exact, no finite differences:
///  - timedecay: J = m I (applied as such; scalar_multiple() returns m);
///  - every other cell: LibTorch autograd on the cell's own step. The constructor records one forward pass
///    y = step(x, s) and the graph of g(w) = J^T w (create_graph); J v is then d<g(w), v>/dw (a second
///    backward pass through that graph, "double backward"), J^T u is one backward pass of y. Both reuse
///    the recorded graphs (retain_graph), so each product costs about one or two backward passes of the
///    cell on one sample; a block of k vectors costs k of them.
/// Runs in the cell's dtype and device. The point is copied; the operator does not depend on the caller's
/// tensors afterwards.
class CellJacobian final : public linalg::LinearOperator {
 public:
  /// x (1, Cin, H, W), s (1, Cs, H, W), extra drives as ConvRNNCell::step. Throws ValueError for bad shapes
  /// (the cell's messages) or a batch other than 1.
  CellJacobian(const ConvRNNCell& cell, const at::Tensor& x, const at::Tensor& s, const CellDrive& extra = {});

  const ConvRNNCell& cell() const noexcept { return cell_; }
  /// m for timedecay (J = m I), nullopt otherwise.
  std::optional<double> scalar_multiple() const;
  /// The linearisation point's state (1, Cs, H, W).
  const at::Tensor& state() const noexcept { return s0_; }
  std::string describe() const override;
  bool has_transpose() const override { return true; }

 private:
  at::Tensor apply_impl(const at::Tensor& v) const override;
  at::Tensor apply_transpose_impl(const at::Tensor& u) const override;

  ConvRNNCell cell_;
  at::Tensor s0_;                 // detached point
  at::Tensor s_, y_, w_, g_;      // autograd: leaf s_, y_ = step(s_), leaf w_, g_ = J^T w_ (with graph)
};

struct CellFixedPointOptions {
  double tol = 1e-10;              ///< converged when ||F(s) - s|| / max(1, ||s||) <= tol (2-norms)
  std::int64_t max_steps = 20000;  ///< "max-steps" after this many applications of F
  double diverge_norm = 1e8;       ///< "diverging" when ||s|| exceeds this or is not finite
};

struct CellFixedPoint {
  at::Tensor state;         ///< last state (1, Cs, H, W)
  double residual = 0;      ///< ||F(s) - s|| / max(1, ||s||) of the last step
  std::int64_t steps = 0;   ///< applications of F
  bool converged = false;
  std::string status;       ///< "converged", "diverging" or "max-steps"
};

/// Iterates s <- step(x, s, extra) from `start` (undefined = the zero state) until the residual is <= tol,
/// the state diverges, or max_steps. x (1, Cin, H, W); undefined x = zero drive. Never throws for
/// non-convergence; ValueError for bad options or shapes. Runs without autograd. Cost: one step per
/// iteration.
CellFixedPoint find_cell_fixed_point(const ConvRNNCell& cell, const at::Tensor& x, const CellDrive& extra = {},
                                     const CellFixedPointOptions& opt = {}, const at::Tensor& start = {});

}  // namespace convdyn::model
