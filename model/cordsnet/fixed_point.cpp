#include "model/cordsnet/fixed_point.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "linalg/error.hpp"

namespace convdyn::model {

namespace {

/// max over areas and batch of ||a_l - b_l|| / max(1, ||b_l||); NaN if anything is not finite.
double relative_change(const std::vector<at::Tensor>& next, const std::vector<at::Tensor>& r) {
  double res = 0;
  for (std::size_t l = 0; l < r.size(); ++l) {
    const auto b = r[l].size(0);
    auto d = (next[l] - r[l]).reshape({b, -1}).to(at::kDouble).norm(2, {1});
    auto s = r[l].reshape({b, -1}).to(at::kDouble).norm(2, {1}).clamp_min(1.0);
    const double v = (d / s).max().item<double>();
    if (!std::isfinite(v)) return std::numeric_limits<double>::quiet_NaN();
    res = std::max(res, v);
  }
  return res;
}

double max_norm(const std::vector<at::Tensor>& r) {
  double m = 0;
  for (const auto& t : r) {
    const double v = t.reshape({t.size(0), -1}).to(at::kDouble).norm(2, {1}).max().item<double>();
    if (!std::isfinite(v)) return std::numeric_limits<double>::infinity();
    m = std::max(m, v);
  }
  return m;
}

std::vector<at::Tensor> copy_of(const std::vector<at::Tensor>& r) {
  std::vector<at::Tensor> c;
  for (const auto& t : r) c.push_back(t.clone());
  return c;
}

}  // namespace

double fixed_point_residual(const CordsNet& net, const at::Tensor& inp, const std::vector<at::Tensor>& r,
                            double alpha) {
  auto next = copy_of(r);
  net.step(next, inp, alpha);
  return relative_change(next, r);
}

FixedPoint find_fixed_point(const CordsNet& net, const at::Tensor& inp, std::vector<at::Tensor> start,
                            const FixedPointOptions& opt) {
  CONVDYN_CHECK(opt.alpha > 0 && opt.alpha <= 1, ValueError, "fixed point: alpha={} must be in (0, 1]", opt.alpha);
  CONVDYN_CHECK(opt.max_steps >= 1, ValueError, "fixed point: max_steps={} must be >= 1", opt.max_steps);
  CONVDYN_CHECK(opt.check_every >= 1, ValueError, "fixed point: check_every={} must be >= 1", opt.check_every);
  CONVDYN_CHECK(opt.tol > 0, ValueError, "fixed point: tol={} must be positive", opt.tol);
  CONVDYN_CHECK(opt.stall_checks >= 1, ValueError, "fixed point: stall_checks={} must be >= 1", opt.stall_checks);
  FixedPoint fp;
  fp.state = start.empty() ? net.zero_state(inp.defined() ? inp.size(0) : 1) : std::move(start);
  fp.residual = std::numeric_limits<double>::infinity();
  std::vector<double> history;  // residual at each check
  auto& r = fp.state;
  while (fp.steps < opt.max_steps) {
    const bool check = (fp.steps % opt.check_every) == 0 || fp.steps + 1 == opt.max_steps;
    if (!check) {
      net.step(r, inp, opt.alpha);
      ++fp.steps;
      continue;
    }
    auto prev = copy_of(r);
    net.step(r, inp, opt.alpha);
    ++fp.steps;
    const double res = relative_change(r, prev);
    const double norm = max_norm(r);
    if (!std::isfinite(res) || !(norm <= opt.diverge_norm)) {
      fp.residual = std::isfinite(res) ? res : std::numeric_limits<double>::infinity();
      fp.status = "diverging";
      return fp;
    }
    fp.residual = res;
    if (res <= opt.tol) {
      fp.converged = true;
      fp.status = "converged";
      return fp;
    }
    history.push_back(res);
    const auto w = static_cast<std::size_t>(opt.stall_checks);
    if (history.size() > w) {
      const double before = *std::min_element(history.begin(), history.end() - static_cast<std::ptrdiff_t>(w));
      const double recent = *std::min_element(history.end() - static_cast<std::ptrdiff_t>(w), history.end());
      if (recent >= opt.stall_factor * before) {
        fp.status = "oscillating";
        return fp;
      }
    }
  }
  fp.status = "max-steps";
  return fp;
}

}  // namespace convdyn::model
