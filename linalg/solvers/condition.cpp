#include "linalg/solvers/condition.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "linalg/error.hpp"

namespace convdyn::linalg {

TransposedOperator::TransposedOperator(const LinearOperator& a)
    : LinearOperator(a.size(), a.dtype(), a.device()), a_(a) {
  CONVDYN_CHECK(a.has_transpose(), ValueError, "condition numbers need the transpose of {}, which has none",
                a.describe());
}

std::string TransposedOperator::describe() const { return fmt::format("transpose of {}", a_.describe()); }

std::int64_t add_condition_numbers(const LinearOperator& op, EigResult& right, const SolveOptions& opt,
                                   double match_tol) {
  const Eigen::Index k = right.values.size();
  CONVDYN_CHECK(right.vectors.cols() == k && right.vectors.rows() == op.size(), ValueError,
                "condition numbers need the right eigenvectors (compute them with vectors = true)");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  right.condition = Eigen::VectorXd::Constant(k, nan);
  right.error_bound = Eigen::VectorXd::Constant(k, nan);
  if (k == 0) return 0;

  const TransposedOperator at(op);
  SolveOptions lo = opt;
  lo.common.vectors = true;
  if (lo.common.k > 0) lo.common.k = std::min<std::int64_t>(lo.common.k + 2, std::max<std::int64_t>(op.size() - 2, 1));
  if (lo.method == Method::Dense) lo.common.k = 0;  // every eigenvalue: the matching then cannot miss
  lo.krylov_schur.start = at::Tensor();             // a warm start of A is not one of A^T
  const EigResult left = solve(at, lo);
  right.matvecs += left.matvecs;

  std::int64_t unmatched = 0;
  for (Eigen::Index i = 0; i < k; ++i) {
    const std::complex<double> lambda = right.values(i);
    const double radius = match_tol * std::max(1.0, std::abs(lambda));
    Eigen::Index best = -1;
    int within = 0;
    double best_d = std::numeric_limits<double>::infinity();
    for (Eigen::Index j = 0; j < left.values.size(); ++j) {
      const double d = std::abs(left.values(j) - lambda);
      if (d <= radius) ++within;
      if (d < best_d) best_d = d, best = j;
    }
    if (within != 1 || best < 0 || best >= left.vectors.cols()) {
      ++unmatched;
      continue;
    }
    // A^T y = lambda y with A real means y^T A = lambda y^T: the left eigenvector is conj(y), and
    // conj(y)^H x = y^T x (no conjugate).
    const auto x = right.vectors.col(i);
    const auto y = left.vectors.col(best);
    const std::complex<double> yx = (y.transpose() * x)(0, 0);
    if (std::abs(yx) == 0.0) {
      ++unmatched;
      continue;
    }
    right.condition(i) = x.norm() * y.norm() / std::abs(yx);
    if (i < right.residuals.size()) right.error_bound(i) = right.condition(i) * right.residuals(i);
  }
  return unmatched;
}

}  // namespace convdyn::linalg
