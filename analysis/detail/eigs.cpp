#include "analysis/detail/eigs.hpp"

#include <algorithm>
#include <cmath>

#include "linalg/solvers/condition.hpp"
#include "linalg/solvers/solve.hpp"

namespace convdyn::analysis::detail {

namespace {
// Below this size the dense solve is cheaper than any iteration and is exact; residuals are still computed.
constexpr std::int64_t kDenseBelow = 200;
}  // namespace

namespace {
linalg::SolveOptions solve_options(std::int64_t n, const linalg::EigOptions& opt, const linalg::KrylovSchurExtras& extras) {
  linalg::SolveOptions s;
  s.common = opt;
  s.krylov_schur = extras;
  if (n <= kDenseBelow || opt.k > n - 3) {
    s.method = linalg::Method::Dense;
    s.common.k = std::min(opt.k, n);
    s.common.vectors = true;
    s.max_dense_n = std::max<std::int64_t>(n, kDenseBelow);
  } else {
    s.method = linalg::Method::KrylovSchur;
  }
  return s;
}

double bound_at(const linalg::EigResult& r, bool by_real) {
  Eigen::Index best = -1;
  for (Eigen::Index i = 0; i < r.size(); ++i) {
    const double key = by_real ? r.values[i].real() : std::abs(r.values[i]);
    if (best < 0 || key > (by_real ? r.values[best].real() : std::abs(r.values[best]))) best = i;
  }
  if (best < 0 || best >= r.error_bound.size()) return NAN;
  return r.error_bound[best];
}
}  // namespace

linalg::EigResult solve_eigs(const linalg::LinearOperator& op, const linalg::EigOptions& opt,
                             const linalg::KrylovSchurExtras& extras) {
  const auto s = solve_options(op.size(), opt, extras);
  auto r = linalg::solve(op, s);
  // Dense residuals are at rounding level; flag them against the same tolerance as iterative ones.
  if (s.method == linalg::Method::Dense) r.flag_converged(opt.tol);
  return r;
}

linalg::EigResult solve_eigs_with_condition(const linalg::LinearOperator& op, const linalg::EigOptions& opt,
                                            const linalg::KrylovSchurExtras& extras) {
  auto with_vectors = opt;
  with_vectors.vectors = true;
  auto r = solve_eigs(op, with_vectors, extras);
  linalg::add_condition_numbers(op, r, solve_options(op.size(), with_vectors, extras));
  if (!opt.vectors) r.vectors.resize(0, 0);
  return r;
}

double bound_at_max_real(const linalg::EigResult& r) { return bound_at(r, true); }
double bound_at_max_abs(const linalg::EigResult& r) { return bound_at(r, false); }

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
  if (r.condition.size() == r.values.size()) {
    e.dataset("condition", r.condition);
    e.dataset("error_bound", r.error_bound);
  }
  e.attr("method", r.method);
  e.attr("which", linalg::to_string(r.which));
  e.attr("tol", r.tol);
  e.attr("all_converged", r.all_converged());
  e.attr("matvecs", static_cast<long long>(r.matvecs));
  if (!r.message.empty()) e.attr("message", r.message);
}

}  // namespace convdyn::analysis::detail
