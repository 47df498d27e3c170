#include "linalg/solvers/transient_growth.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "linalg/error.hpp"
#include "linalg/operators/symmetric_operators.hpp"

namespace convdyn::linalg {

PowerGramOperator::PowerGramOperator(const LinearOperator& a, std::int64_t p)
    : LinearOperator(a.size(), a.dtype(), a.device()), a_(a), p_(p) {
  CONVDYN_CHECK(a.has_transpose(), ValueError, "(A^p)^T A^p: operator '{}' has no transpose", a.describe());
  CONVDYN_CHECK(p >= 1, ValueError, "(A^p)^T A^p: power {} must be >= 1", p);
}

std::string PowerGramOperator::describe() const { return fmt::format("(A^{0})^T A^{0} of {1}", p_, a_.describe()); }

at::Tensor PowerGramOperator::apply_impl(const at::Tensor& x) const {
  at::Tensor y = x;
  for (std::int64_t i = 0; i < p_; ++i) y = a_.apply(y);
  for (std::int64_t i = 0; i < p_; ++i) y = a_.apply_transpose(y);
  return y;
}

namespace {

/// ||A^t||_2 for each t asked, each computed once.
class NormCurve {
 public:
  NormCurve(const LinearOperator& a, const TransientGrowthOptions& opt, TransientGrowth& out)
      : a_(a), opt_(opt), out_(out) {}
  double operator()(std::int64_t t) {
    if (t == 0) return 1.0;
    auto it = cache_.find(t);
    if (it != cache_.end()) return it->second;
    const PowerGramOperator g(a_, t);
    const auto e = largest_symmetric_eigenvalue(g, opt_.tol, opt_.max_restarts, opt_.extras);
    out_.matvecs += 2 * t * e.matvecs;
    out_.converged = out_.converged && e.converged;
    const double v = std::sqrt(std::max(0.0, e.value));
    cache_.emplace(t, v);
    return v;
  }
  /// The evaluated t with the largest norm, and its evaluated neighbours (itself at either end).
  void bracket(std::int64_t& lo, std::int64_t& best, std::int64_t& hi) const {
    auto top = cache_.begin();
    for (auto it = cache_.begin(); it != cache_.end(); ++it)
      if (it->second > top->second) top = it;
    best = top->first;
    lo = top == cache_.begin() ? best : std::prev(top)->first;
    hi = std::next(top) == cache_.end() ? best : std::next(top)->first;
  }
  void finish() {
    for (const auto& [t, v] : cache_) {
      out_.steps.push_back(t);
      out_.norms.push_back(v);
      if (v > out_.peak) {
        out_.peak = v;
        out_.peak_step = t;
      }
    }
  }

 private:
  const LinearOperator& a_;
  const TransientGrowthOptions& opt_;
  TransientGrowth& out_;
  std::map<std::int64_t, double> cache_;
};

}  // namespace

TransientGrowth transient_growth(const LinearOperator& a, const TransientGrowthOptions& opt) {
  CONVDYN_CHECK(opt.max_steps >= 1, ValueError, "transient growth: max_steps {} must be >= 1", opt.max_steps);
  CONVDYN_CHECK(a.size() >= 3, ValueError, "transient growth: operator too small (n={})", a.size());
  TransientGrowth out;
  NormCurve norm(a, opt, out);
  if (norm(1) <= 1.0) {
    norm.finish();
    return out;
  }
  // Doubling: stop past the peak (a value below the previous one) or at the limit.
  for (std::int64_t t = 1; t < opt.max_steps;) {
    const std::int64_t next = std::min(2 * t, opt.max_steps);
    if (norm(next) < norm(t)) break;
    t = next;
  }
  // Golden-section search for the maximum between the neighbours of the largest value (each t evaluated once).
  std::int64_t lo = 1, best = 1, hi = 1;
  norm.bracket(lo, best, hi);
  const double g = (std::sqrt(5.0) - 1.0) / 2.0;
  auto inner = [&](std::int64_t from, std::int64_t to) {
    return static_cast<std::int64_t>(std::llround(g * static_cast<double>(to - from)));
  };
  std::int64_t c = hi - inner(lo, hi), d = lo + inner(lo, hi);
  while (hi - lo > 3) {
    c = std::clamp(c, lo + 1, hi - 2);
    d = std::clamp(d, c + 1, hi - 1);
    if (norm(c) < norm(d)) {
      lo = c;
      c = d;
      d = std::max(c + 1, lo + inner(lo, hi));
    } else {
      hi = d;
      d = c;
      c = std::min(d - 1, hi - inner(lo, hi));
    }
  }
  for (std::int64_t s = lo; s <= hi; ++s) norm(s);
  norm.bracket(lo, best, hi);
  if (best == opt.max_steps) out.peak_at_limit = norm(opt.max_steps) >= norm(opt.max_steps - 1);
  norm.finish();
  return out;
}

}  // namespace convdyn::linalg
