#include "analysis/detail/eigs.hpp"

#include <algorithm>
#include <cmath>

#include "linalg/dense_eig.hpp"
#include "linalg/krylov_schur.hpp"

namespace convdyn::analysis::detail {

namespace {
// Below this size the dense solve is cheaper than any iteration and is exact; residuals are still computed.
constexpr std::int64_t kDenseBelow = 200;
}  // namespace

linalg::EigResult solve_eigs(const linalg::LinearOperator& op, linalg::Which which, std::int64_t k, double tol,
                             int max_restarts) {
  const std::int64_t n = op.size();
  if (n <= kDenseBelow || k > n - 3) {
    linalg::DenseEigOptions d;
    d.which = which;
    d.k = std::min(k, n);
    d.vectors = true;
    d.max_n = std::max<std::int64_t>(n, kDenseBelow);
    auto r = linalg::dense_eig(op, d);
    // Dense residuals are at rounding level; flag them against the same tolerance as iterative ones.
    r.tol = tol;
    for (Eigen::Index i = 0; i < r.size(); ++i)
      r.converged[i] = r.residuals[i] <= tol * std::max(1.0, std::abs(r.values[i]));
    return r;
  }
  linalg::KrylovSchurOptions ko;
  ko.k = k;
  ko.which = which;
  ko.tol = tol;
  ko.max_restarts = max_restarts;
  return linalg::krylov_schur(op, ko);
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
}

}  // namespace convdyn::analysis::detail
