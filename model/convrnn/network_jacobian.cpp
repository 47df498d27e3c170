#include "model/convrnn/network_jacobian.hpp"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <cmath>

#include "linalg/error.hpp"

namespace convdyn::model {

ZooNetworkJacobian::ZooNetworkJacobian(const ConvRNNNetwork& net, const at::Tensor& image, const at::Tensor& z)
    : LinearOperator(net.state_size(), net.model().layers.front().cell.options().dtype,
                     net.model().layers.front().cell.options().device),
      family_(net.family()) {
  CONVDYN_CHECK(z.dim() == 1 && z.size(0) == net.state_size(), ValueError,
                "network jacobian: the point has {} entries, the state {}", z.numel(), net.state_size());
  torch::autograd::AutoGradMode on(true);
  const auto prefix = net.prefix_outputs(image);
  std::vector<at::Tensor> fixed;
  for (const auto& p : prefix) fixed.push_back(p.detach());
  z0_ = z.detach().to(device(), dtype()).clone();
  z_ = z0_.clone().requires_grad_(true);
  y_ = net.state_map(z_, fixed);
  w_ = at::zeros_like(y_).requires_grad_(true);
  g_ = torch::autograd::grad({y_}, {z_}, {w_}, /*retain_graph=*/true, /*create_graph=*/true, /*allow_unused=*/true)[0];
}

std::string ZooNetworkJacobian::describe() const {
  return fmt::format("Jacobian of the {} network's state map (autograd), n = {}", family_, size());
}

at::Tensor ZooNetworkJacobian::apply_impl(const at::Tensor& v) const {
  torch::autograd::AutoGradMode on(true);
  auto out = at::zeros_like(v);
  if (!g_.defined() || !g_.requires_grad()) return out;
  for (std::int64_t r = 0; r < v.size(0); ++r) {
    auto jv = torch::autograd::grad({g_}, {w_}, {v[r]}, /*retain_graph=*/true, /*create_graph=*/false,
                                    /*allow_unused=*/true)[0];
    if (jv.defined()) out[r].copy_(jv);
  }
  return out;
}

at::Tensor ZooNetworkJacobian::apply_transpose_impl(const at::Tensor& u) const {
  torch::autograd::AutoGradMode on(true);
  auto out = at::zeros_like(u);
  for (std::int64_t r = 0; r < u.size(0); ++r) {
    auto jtu = torch::autograd::grad({y_}, {z_}, {u[r]}, /*retain_graph=*/true, /*create_graph=*/false,
                                     /*allow_unused=*/true)[0];
    if (jtu.defined()) out[r].copy_(jtu);
  }
  return out;
}

ZooFixedPoint find_zoo_fixed_point(const ConvRNNNetwork& net, const at::Tensor& image,
                                           const CellFixedPointOptions& opt) {
  CONVDYN_CHECK(opt.tol > 0 && opt.max_steps > 0 && opt.diverge_norm > 0, ValueError,
                "network fixed point: tol={}, max_steps={}, diverge_norm={} must be positive", opt.tol, opt.max_steps,
                opt.diverge_norm);
  torch::autograd::AutoGradMode off(false);
  ZooFixedPoint fp;
  fp.prefix = net.prefix_outputs(image);
  const auto& c = net.model().layers.front().cell.options();
  at::Tensor z = at::zeros({net.state_size()}, at::TensorOptions().dtype(c.dtype).device(c.device));
  fp.status = "max-steps";
  for (std::int64_t k = 1; k <= opt.max_steps; ++k) {
    auto z2 = net.state_map(z, fp.prefix);
    const double norm = z2.norm().item<double>();
    fp.residual = (z2 - z).norm().item<double>() / std::max(1.0, z.norm().item<double>());
    z = z2;
    fp.steps = k;
    if (!std::isfinite(norm) || norm > opt.diverge_norm || !std::isfinite(fp.residual)) {
      fp.status = "diverging";
      break;
    }
    if (fp.residual <= opt.tol) {
      fp.converged = true;
      fp.status = "converged";
      break;
    }
  }
  fp.z = z;
  return fp;
}

}  // namespace convdyn::model
