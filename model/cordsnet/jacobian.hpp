// Linearisations of the CordsNet dynamics as matrix-free operators: one area's diagonal block, and the
// whole network's one-step map.
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "linalg/operators/conv_operator.hpp"
#include "linalg/linear_operator.hpp"
#include "model/cordsnet/cordsnet.hpp"

namespace convdyn::model {

/// Which linearisation of area l at pre-activation u_l (D = diag(relu'(u_l)), W = area_conv[l]):
enum class JacobianKind {
  MaskedW,     ///< D W
  Continuous,  ///< -I + D W        (T dr/dt = -r + relu(W r + ...))
  Discrete     ///< (1 - alpha) I + alpha D W   (one step r <- (1-alpha) r + alpha relu(...))
};
const char* to_string(JacobianKind k);

/// relu'(u) as a 0/1 tensor of u's dtype: 1 where u > 0, else 0. relu'(0) is taken as 0, as PyTorch's
/// autograd does (threshold_backward), so the mask agrees with autograd Jacobians.
at::Tensor relu_mask(const at::Tensor& u);

/// One area's diagonal Jacobian block, n = C*H*W in the C, H, W flattening of ConvOperator:
/// x -> D W x, -x + D W x or (1-alpha) x + alpha D W x. The transpose uses W^T D (ConvOperator's transpose).
class AreaJacobian final : public linalg::LinearOperator {
 public:
  /// `weight` (C, C, k, k), odd k, zero padding (the recurrent conv). `mask` (C, H, W) of 0/1 values, or
  /// undefined = all ones (every unit active: the linear model). Throws ValueError for bad shapes, a mask
  /// with values other than 0/1, or alpha outside (0, 1] for the Discrete kind.
  AreaJacobian(const at::Tensor& weight, std::int64_t height, std::int64_t width, const at::Tensor& mask,
               JacobianKind kind, double alpha = 0.2, c10::ScalarType dtype = c10::ScalarType::Double,
               c10::Device device = c10::Device(c10::DeviceType::CPU),
               linalg::ConvBackend backend = linalg::ConvBackend::Auto);

  JacobianKind kind() const noexcept { return kind_; }
  double alpha() const noexcept { return alpha_; }
  const linalg::ConvOperator& conv() const noexcept { return *conv_; }
  /// The mask as a (C, H, W) tensor (all ones when constructed with an undefined mask).
  at::Tensor mask() const;
  /// Fraction of active units (mask = 1).
  double active_fraction() const;
  std::string describe() const override;
  bool has_transpose() const override { return true; }

 private:
  at::Tensor apply_impl(const at::Tensor& x) const override;
  at::Tensor apply_transpose_impl(const at::Tensor& x) const override;
  at::Tensor combine(const at::Tensor& x, const at::Tensor& dwx) const;  // per kind

  std::unique_ptr<linalg::ConvOperator> conv_;
  at::Tensor mask_;  // (1, n) or undefined
  JacobianKind kind_;
  double alpha_;
};

/// Jacobian of the whole network's discrete one-step map F at states r (batch 1) with drive inp.
///
/// Derivation. One step updates the areas deepest first, in place:
///     r_l' = (1 - a) r_l + a relu(u_l),  u_l = W_l r_l + b_l + A_l x_l,
/// for l = depth-1 .. 0. When area l is updated, the shallower areas l-1, l-2 have not been updated yet in
/// this step, so x_l reads their OLD values, and r_l itself is old. Hence F_l depends on the old r_l,
/// r_{l-1}, r_{l-2} only (never on deeper areas, never on new values) and
///     dF_l = (1 - a) dr_l + a D_l ( W_l dr_l + A_l dx_l ),   D_l = diag(relu'(u_l)),
///     dx_0 = 0  (inp is a constant),
///     dx_1 = M_0 dr_0                                   (inp_skip(inp) is constant),
///     dx_l = M_{l-1} dr_{l-1} + M_{l-2} dr_{l-2}                  (even l >= 2),
///     dx_l = M_{l-1} dr_{l-1} + S_{(l-3)/2} M_{l-2} dr_{l-2}      (odd l >= 3),
/// with M_m = diag(relu'(r_m)) and A_l, S_i the (strided) area_area and skip_area convs. The matrix is
/// block lower triangular over areas with diagonal blocks (1 - a) I + a D_l W_l (AreaJacobian, Discrete),
/// so its spectrum is the union of the per-area spectra.
///
/// Vector layout: the areas' C_l*H_l*W_l blocks concatenated in area order, n = sum over areas. Runs in
/// the network's dtype and device. The transpose (vector-Jacobian product) is available.
class NetworkJacobian final : public linalg::LinearOperator {
 public:
  /// Throws ValueError unless r are states of batch 1 (and inp, when defined, a drive of batch 1).
  NetworkJacobian(const CordsNet& net, const std::vector<at::Tensor>& r, const at::Tensor& inp, double alpha = 0.2);

  std::int64_t depth() const noexcept { return static_cast<std::int64_t>(shapes_.size()); }
  std::int64_t offset(std::int64_t l) const { return offsets_.at(static_cast<std::size_t>(l)); }
  /// Area l's diagonal block as its own operator ((1 - a) I + a D_l W_l, float64 or the network's dtype).
  std::unique_ptr<AreaJacobian> diagonal_block(std::int64_t l, JacobianKind kind = JacobianKind::Discrete) const;
  /// D_l (C_l, H_l, W_l): relu'(u_l) at the linearisation point.
  const at::Tensor& preactivation_mask(std::int64_t l) const { return d_.at(static_cast<std::size_t>(l)); }
  double alpha() const noexcept { return alpha_; }
  std::string describe() const override;
  bool has_transpose() const override { return true; }

 private:
  at::Tensor apply_impl(const at::Tensor& x) const override;
  at::Tensor apply_transpose_impl(const at::Tensor& x) const override;

  struct Shape { std::int64_t c, h, w; };
  std::vector<Shape> shapes_;
  std::vector<std::int64_t> offsets_, strides_;
  std::vector<at::Tensor> w_, a_, s_, d_, m_;  // area_conv, area_area, skip_area, D_l, M_l (C, H, W)
  std::vector<at::Tensor> w64_;                // recurrent weights, float64 CPU
  double alpha_;
};

}  // namespace convdyn::model
