#include "analysis/detail/eigs.hpp"

#include <algorithm>
#include <cmath>

#include "linalg/solvers/solve.hpp"

namespace convdyn::analysis::detail {

namespace {
// Below this size the dense solve is cheaper than any iteration and is exact; residuals are still computed.
constexpr std::int64_t kDenseBelow = 200;
}  // namespace

linalg::EigResult solve_eigs(const linalg::LinearOperator& op, const linalg::EigOptions& opt,
                             const linalg::KrylovSchurExtras& extras) {
  const std::int64_t n = op.size();
  linalg::SolveOptions s;
  s.common = opt;
  s.krylov_schur = extras;
  if (n <= kDenseBelow || opt.k > n - 3) {
    s.method = linalg::Method::Dense;
    s.common.k = std::min(opt.k, n);
    s.common.vectors = true;
    s.max_dense_n = std::max<std::int64_t>(n, kDenseBelow);
    auto r = linalg::solve(op, s);
    // Dense residuals are at rounding level; flag them against the same tolerance as iterative ones.
    r.flag_converged(opt.tol);
    return r;
  }
  s.method = linalg::Method::KrylovSchur;
  return linalg::solve(op, s);
}

double max_real(const linalg::EigResult& r) {
  double m = -INFINITY;
  for (Eigen::Index i = 0; i < r.size(); ++i) m = std::max(m, r.values[i].real());
  return m;
}

double max_abs(const linalg::EigResult& r) {
  double m = 0;
  for (Eigen::Index i = 0; i < r.size(); ++i) m = std::max(m, std::abs(r.values[i]));
  return m;
}

void write_eigs(ResultsGroup& g, const char* name, const linalg::EigResult& r) {
  auto e = g.group(name);
  e.dataset("eigenvalues", r.values);
  if (r.residuals.size() == r.values.size()) e.dataset("residuals", r.residuals);
  e.attr("method", r.method);
  e.attr("which", linalg::to_string(r.which));
  e.attr("tol", r.tol);
  e.attr("all_converged", r.all_converged());
  e.attr("matvecs", static_cast<long long>(r.matvecs));
  if (!r.message.empty()) e.attr("message", r.message);
}

}  // namespace convdyn::analysis::detail
