// The zoo network's joint state map under a constant image: its fixed point and its Jacobian at that point
// as a matrix-free operator (docs/convrnn-network.md §6).
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "linalg/linear_operator.hpp"
#include "model/convrnn/cell_jacobian.hpp"
#include "model/convrnn/network.hpp"

namespace convdyn::model {

/// J = dF/dz of the network's state map z' = F(z) (ConvRNNNetwork::state_map) at z, n = state_size(), by
/// LibTorch autograd on the whole map: one recorded forward pass and the graph of J^T w; J v by a second
/// backward pass through it ("double backward"), J^T u by one backward pass. Without feedback J is block
/// lower-triangular over the cell layers (their state Jacobians on the diagonal, zero blocks for the output
/// delays), so its spectrum is the union of the cells' plus zeros; with rgc's feedback edges it is not.
class ZooNetworkJacobian final : public linalg::LinearOperator {
 public:
  /// `image` [1, 3, H, W] (the constant frame), z [n]. The network is copied (it shares its weights).
  ZooNetworkJacobian(const ConvRNNNetwork& net, const at::Tensor& image, const at::Tensor& z);
  std::string describe() const override;
  bool has_transpose() const override { return true; }
  const at::Tensor& point() const noexcept { return z0_; }

 private:
  at::Tensor apply_impl(const at::Tensor& v) const override;
  at::Tensor apply_transpose_impl(const at::Tensor& u) const override;
  std::string family_;
  at::Tensor z0_, z_, y_, w_, g_;
};

struct ZooFixedPoint {
  at::Tensor z;              ///< [n]
  std::vector<at::Tensor> prefix;  ///< the cell-free layers' steady outputs under the image
  double residual = 0;       ///< ||F(z) - z|| / max(1, ||z||)
  std::int64_t steps = 0;
  bool converged = false;
  std::string status;        ///< "converged", "diverging" or "max-steps"
};

/// Iterates z <- F(z) from z = 0 (the network at rest before the image) under the constant `image`
/// [1, 3, H, W]. Never throws for non-convergence. Cost: one step of every cell layer per iteration.
ZooFixedPoint find_zoo_fixed_point(const ConvRNNNetwork& net, const at::Tensor& image,
                                           const CellFixedPointOptions& opt = {});

}  // namespace convdyn::model
