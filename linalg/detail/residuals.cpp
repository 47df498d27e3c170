#include "linalg/detail/residuals.hpp"

#include <ATen/ATen.h>

#include <cmath>

#include "linalg/detail/eigen_tensor.hpp"
#include "linalg/error.hpp"
#include "linalg/linear_operator.hpp"

namespace convdyn::linalg::detail {

Eigen::VectorXd pair_residuals(const at::Tensor& X, const at::Tensor& AX, const Eigen::VectorXcd& values,
                               const std::vector<RealRows>& rows) {
  const Eigen::Index r = X.size(0), k = values.size();
  CONVDYN_ASSERT(AX.sizes() == X.sizes() && static_cast<Eigen::Index>(rows.size()) == k,
                 "pair residuals: X, AX and {} rows for {} values", rows.size(), k);
  Eigen::VectorXd out(k);
  if (r == 0) return out;
  // A (x + i y) = lambda (x + i y), lambda = a + i c:  A x = a x - c y,  A y = c x + a y.
  Eigen::MatrixXd C = Eigen::MatrixXd::Zero(r, r);
  for (Eigen::Index j = 0; j < k; ++j) {
    const auto [re, im] = rows[static_cast<std::size_t>(j)];
    const double a = values(j).real(), c = values(j).imag();
    C(re, re) = a;
    if (im >= 0) {
      C(re, im) = -c;
      C(im, re) = c;
      C(im, im) = a;
    }
  }
  const at::Tensor R = AX - at::mm(to_tensor(C, X.options()), X);
  const at::Tensor norms = at::stack({R.norm(2, {1}), X.norm(2, {1})}).to(at::kCPU, at::kDouble).contiguous();
  const auto nr = norms.accessor<double, 2>();
  for (Eigen::Index j = 0; j < k; ++j) {
    const auto [re, im] = rows[static_cast<std::size_t>(j)];
    double rn = nr[0][re] * nr[0][re], xn = nr[1][re] * nr[1][re];
    if (im >= 0) {
      rn += nr[0][im] * nr[0][im];
      xn += nr[1][im] * nr[1][im];
    }
    out(j) = xn > 0.0 ? std::sqrt(rn / xn) : INFINITY;
  }
  return out;
}

RealBlock split_real(const Eigen::MatrixXcd& vectors) {
  RealBlock b;
  const Eigen::Index k = vectors.cols();
  Eigen::Index r = 0;
  for (Eigen::Index j = 0; j < k; ++j) {
    RealRows rr{r++, -1};
    if (vectors.col(j).imag().squaredNorm() > 0.0) rr.im = r++;
    b.rows.push_back(rr);
  }
  b.X.resize(r, vectors.rows());
  for (Eigen::Index j = 0; j < k; ++j) {
    const auto& rr = b.rows[static_cast<std::size_t>(j)];
    b.X.row(rr.re) = vectors.col(j).real().transpose();
    if (rr.im >= 0) b.X.row(rr.im) = vectors.col(j).imag().transpose();
  }
  return b;
}

Eigen::VectorXd true_residuals(const LinearOperator& op, const Eigen::VectorXcd& values,
                               const Eigen::MatrixXcd& vectors) {
  if (values.size() == 0) return {};
  RealBlock b = split_real(vectors);
  const at::Tensor X = at::from_blob(b.X.data(), {b.X.rows(), b.X.cols()}, at::TensorOptions().dtype(at::kDouble))
                           .to(op.device(), op.dtype(), /*non_blocking=*/false, /*copy=*/true);
  // In double precision, whatever the operator's dtype: the residual must not add rounding of its own.
  return pair_residuals(X.to(at::kDouble), op.apply(X).to(at::kDouble), values, b.rows);
}

Eigen::VectorXd true_residuals(const Eigen::MatrixXd& a, const Eigen::VectorXcd& values,
                               const Eigen::MatrixXcd& vectors) {
  if (values.size() == 0) return {};
  RealBlock b = split_real(vectors);
  const at::Tensor X = at::from_blob(b.X.data(), {b.X.rows(), b.X.cols()}, at::TensorOptions().dtype(at::kDouble));
  // Rows of A X^T's transpose: (A x)^T = x^T A^T, and the column-major `a` viewed row-major is A^T.
  return pair_residuals(X, at::mm(X, transposed_view(a)), values, b.rows);
}

}  // namespace convdyn::linalg::detail
