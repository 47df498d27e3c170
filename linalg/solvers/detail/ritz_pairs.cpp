#include "linalg/solvers/detail/ritz_pairs.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "linalg/detail/residuals.hpp"
#include "linalg/error.hpp"

namespace convdyn::linalg::detail {

using Eigen::Index;
using cd = std::complex<double>;

std::int64_t second_opinion_ncv(const EigOptions& opt, std::int64_t n) {
  return opt.ncv == 0 ? std::min<std::int64_t>(std::max<std::int64_t>(2 * opt.k + 1, opt.k + 20), n) : opt.ncv;
}

void finish_with_true_residuals(const LinearOperator& op, const Eigen::VectorXcd& values_in,
                                const Eigen::MatrixXcd& vectors_in, const EigOptions& opt, EigResult& out) {
  const Index n = op.size();
  CONVDYN_ASSERT(vectors_in.rows() == n && vectors_in.cols() == values_in.size(),
                 "vectors {}x{} for {} values of n={}", vectors_in.rows(), vectors_in.cols(), values_in.size(), n);
  // A real operator: (conj lambda, conj v) is a pair as good as (lambda, v). Add the missing partners so
  // that order_by's convention holds whatever the solver handed out.
  std::vector<Index> partner_of;
  for (Index i = 0; i < values_in.size(); ++i) {
    const cd z = values_in(i);
    if (z.imag() == 0.0) continue;
    bool found = false;
    for (Index j = 0; j < values_in.size() && !found; ++j)
      found = j != i && std::abs(values_in(j) - std::conj(z)) <= 1e-10 * std::max(1.0, std::abs(z));
    if (!found) partner_of.push_back(i);
  }
  const Index m0 = values_in.size(), extra = static_cast<Index>(partner_of.size());
  Eigen::VectorXcd values(m0 + extra);
  Eigen::MatrixXcd vectors(n, m0 + extra);
  values.head(m0) = values_in;
  vectors.leftCols(m0) = vectors_in;
  for (Index e = 0; e < extra; ++e) {
    values(m0 + e) = std::conj(values_in(partner_of[static_cast<std::size_t>(e)]));
    vectors.col(m0 + e) = vectors_in.col(partner_of[static_cast<std::size_t>(e)]).conjugate();
  }
  const auto order = order_by(values, opt.which);
  const Index kk = std::min<Index>(opt.k, values.size());
  out.values.resize(kk);
  Eigen::MatrixXcd V(n, kk);
  for (Index i = 0; i < kk; ++i) {
    const Index j = order[static_cast<std::size_t>(i)];
    const double nrm = vectors.col(j).norm();
    out.values(i) = values(j);
    V.col(i) = nrm > 0.0 ? Eigen::VectorXcd(vectors.col(j) / nrm) : Eigen::VectorXcd(vectors.col(j));
  }
  out.residuals = true_residuals(op, out.values, V);
  out.flag_converged(opt.tol);
  if (opt.vectors) out.vectors = std::move(V);
  else out.vectors.resize(0, 0);
  out.which = opt.which;
}

}  // namespace convdyn::linalg::detail
