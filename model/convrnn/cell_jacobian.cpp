#include "model/convrnn/cell_jacobian.hpp"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <cmath>

#include "linalg/error.hpp"

namespace convdyn::model {

namespace {
at::TensorOptions cell_opts(const ConvRNNCell& c) {
  return at::TensorOptions().dtype(c.options().dtype).device(c.options().device);
}
}  // namespace

CellJacobian::CellJacobian(const ConvRNNCell& cell, const at::Tensor& x, const at::Tensor& s, const CellDrive& extra)
    : LinearOperator(cell.state_size(), cell.options().dtype, cell.options().device), cell_(cell) {
  const char* tn = to_string(cell.type());
  CONVDYN_CHECK(s.defined() && s.dim() == 4 && s.size(0) == 1, ValueError,
                "convrnn {} jacobian: the state must have batch size 1", tn);
  CONVDYN_CHECK(!x.defined() || (x.dim() == 4 && x.size(0) == 1), ValueError,
                "convrnn {} jacobian: the input x must have batch size 1", tn);
  auto xx = x.defined() ? x : at::zeros({1, cell.input_channels(), cell.height(), cell.width()}, cell_opts(cell));
  // Validates every shape (also for timedecay, which needs no graph).
  {
    torch::autograd::AutoGradMode off(false);
    cell.step(xx, s, extra);
  }
  s0_ = s.detach().to(device(), dtype()).clone();
  if (cell.type() == CellType::TimeDecay) return;
  torch::autograd::AutoGradMode on(true);
  s_ = s0_.clone().requires_grad_(true);
  CellDrive d{extra.u.defined() ? extra.u.detach() : at::Tensor(), extra.f.defined() ? extra.f.detach() : at::Tensor()};
  y_ = cell.step(xx.detach(), s_, d);
  w_ = at::zeros_like(y_).requires_grad_(true);
  auto g = torch::autograd::grad({y_}, {s_}, {w_}, /*retain_graph=*/true, /*create_graph=*/true, /*allow_unused=*/true);
  g_ = g[0];
}

std::optional<double> CellJacobian::scalar_multiple() const {
  if (cell_.type() == CellType::TimeDecay) return cell_.memory_decay();
  return std::nullopt;
}

std::string CellJacobian::describe() const {
  if (auto m = scalar_multiple()) return fmt::format("timedecay state Jacobian m I, m = {}, n = {}", *m, size());
  return fmt::format("state Jacobian d s'/d s of {} (autograd), n = {}", cell_.describe(), size());
}

at::Tensor CellJacobian::apply_impl(const at::Tensor& v) const {
  if (auto m = scalar_multiple()) return v * *m;
  torch::autograd::AutoGradMode on(true);
  auto out = at::empty_like(v);
  for (std::int64_t r = 0; r < v.size(0); ++r) {
    if (!g_.defined() || !g_.requires_grad()) {  // J = 0 (no path from s to s')
      out[r].zero_();
      continue;
    }
    auto jv = torch::autograd::grad({g_}, {w_}, {v[r].view(s_.sizes())}, /*retain_graph=*/true,
                                    /*create_graph=*/false, /*allow_unused=*/true)[0];
    if (jv.defined()) out[r].copy_(jv.reshape({-1}));
    else out[r].zero_();
  }
  return out;
}

at::Tensor CellJacobian::apply_transpose_impl(const at::Tensor& u) const {
  if (auto m = scalar_multiple()) return u * *m;
  torch::autograd::AutoGradMode on(true);
  auto out = at::empty_like(u);
  for (std::int64_t r = 0; r < u.size(0); ++r) {
    auto jtu = torch::autograd::grad({y_}, {s_}, {u[r].view(y_.sizes())}, /*retain_graph=*/true,
                                     /*create_graph=*/false, /*allow_unused=*/true)[0];
    if (jtu.defined()) out[r].copy_(jtu.reshape({-1}));
    else out[r].zero_();
  }
  return out;
}

CellFixedPoint find_cell_fixed_point(const ConvRNNCell& cell, const at::Tensor& x, const CellDrive& extra,
                                     const CellFixedPointOptions& opt, const at::Tensor& start) {
  CONVDYN_CHECK(opt.tol > 0 && opt.max_steps > 0 && opt.diverge_norm > 0, ValueError,
                "convrnn fixed point: tol={}, max_steps={}, diverge_norm={} must be positive", opt.tol, opt.max_steps,
                opt.diverge_norm);
  torch::autograd::AutoGradMode off(false);
  auto xx = x.defined() ? x : at::zeros({1, cell.input_channels(), cell.height(), cell.width()}, cell_opts(cell));
  CONVDYN_CHECK(xx.dim() == 4 && xx.size(0) == 1, ValueError, "convrnn fixed point: the input x must have batch size 1");
  CellFixedPoint fp;
  auto s = start.defined() ? start.detach().to(cell.options().device, cell.options().dtype) : cell.zero_state();
  fp.status = "max-steps";
  for (std::int64_t k = 1; k <= opt.max_steps; ++k) {
    auto s2 = cell.step(xx, s, extra);
    const double norm = s2.norm().item<double>();
    fp.residual = (s2 - s).norm().item<double>() / std::max(1.0, s.norm().item<double>());
    s = s2;
    fp.steps = k;
    if (!std::isfinite(norm) || norm > opt.diverge_norm || !std::isfinite(fp.residual)) {
      fp.status = "diverging";
      break;
    }
    if (fp.residual <= opt.tol) {
      fp.status = "converged";
      fp.converged = true;
      break;
    }
  }
  fp.state = s;
  return fp;
}

}  // namespace convdyn::model
