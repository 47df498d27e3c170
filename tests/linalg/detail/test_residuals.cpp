// The one definition of a true residual: against a direct complex computation, for real and complex pairs,
// through an operator and against a dense matrix.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <complex>

#include "linalg/detail/residuals.hpp"
#include "linalg/operators/conv_operator.hpp"
#include "linalg/support.hpp"

using namespace convdyn;
using namespace convdyn::linalg;
using namespace convdyn::tests;

namespace {
/// ||A v - lambda v|| / ||v|| in complex arithmetic, column by column.
Eigen::VectorXd direct(const Eigen::MatrixXd& A, const Eigen::VectorXcd& values, const Eigen::MatrixXcd& V) {
  Eigen::VectorXd r(values.size());
  for (Eigen::Index j = 0; j < values.size(); ++j)
    r(j) = (A.cast<cd>() * V.col(j) - values(j) * V.col(j)).norm() / V.col(j).norm();
  return r;
}
}  // namespace

TEST(Residuals, MatchADirectComplexComputation) {
  at::manual_seed(5);
  const auto op = conv(3, 5, 11);  // n = 75, complex pairs in its spectrum
  const Eigen::MatrixXd A = dense_matrix(*op);
  Eigen::EigenSolver<Eigen::MatrixXd> es(A, true);
  // Exact eigenpairs (residuals at rounding level), perturbed pairs (residuals far from zero), a real and a
  // complex vector, a vector not of unit norm.
  Eigen::VectorXcd values(4);
  Eigen::MatrixXcd V(A.rows(), 4);
  Eigen::Index complex_j = 0, real_j = 0;
  for (Eigen::Index j = 0; j < A.rows(); ++j) (es.eigenvalues()(j).imag() > 0 ? complex_j : real_j) = j;
  values << es.eigenvalues()(complex_j), es.eigenvalues()(real_j), es.eigenvalues()(complex_j) + cd(0.1, 0.2), 0.3;
  V.col(0) = es.eigenvectors().col(complex_j);
  V.col(1) = es.eigenvectors().col(real_j);
  V.col(2) = 3.0 * es.eigenvectors().col(complex_j) + to_eigen(at::randn({A.rows(), 1}, at::kDouble)).cast<cd>();
  V.col(3) = to_eigen(at::randn({A.rows(), 1}, at::kDouble)).cast<cd>();
  ASSERT_GT(V.col(0).imag().norm(), 0.0);
  ASSERT_EQ(V.col(1).imag().norm(), 0.0);
  const Eigen::VectorXd want = direct(A, values, V);
  const Eigen::VectorXd through_op = linalg::detail::true_residuals(*op, values, V);
  const Eigen::VectorXd against_matrix = linalg::detail::true_residuals(A, values, V);
  for (Eigen::Index j = 0; j < 4; ++j) {
    EXPECT_NEAR(through_op(j), want(j), 1e-13 * (1 + want(j))) << j;
    EXPECT_NEAR(against_matrix(j), want(j), 1e-13 * (1 + want(j))) << j;
  }
  EXPECT_LT(want(0), 1e-13);
  EXPECT_GT(want(2), 1e-3);
}

TEST(Residuals, SplitRealGivesOneRowPerRealVectorAndTwoPerComplexOne) {
  Eigen::MatrixXcd V(3, 3);
  V << cd(1, 0), cd(1, 2), cd(0, 0), cd(2, 0), cd(3, -1), cd(0, 1), cd(0, 0), cd(0, 0), cd(5, 0);
  const auto b = linalg::detail::split_real(V);
  ASSERT_EQ(b.X.rows(), 5);
  ASSERT_EQ(b.rows.size(), 3u);
  EXPECT_EQ(b.rows[0].im, -1);
  EXPECT_GE(b.rows[1].im, 0);
  EXPECT_GE(b.rows[2].im, 0);
  for (Eigen::Index j = 0; j < 3; ++j) {
    const auto r = b.rows[static_cast<std::size_t>(j)];
    Eigen::VectorXcd v = b.X.row(r.re).transpose().cast<cd>();
    if (r.im >= 0) v += cd(0, 1) * b.X.row(r.im).transpose().cast<cd>();
    EXPECT_EQ(v, V.col(j)) << j;
  }
}

TEST(Residuals, Float32OperatorIsMeasuredInDoubleOnTheRoundedVector) {
  at::manual_seed(6);
  const auto op32 = conv(2, 6, 12, at::kFloat);
  const auto op64 = conv(2, 6, 12, at::kDouble);
  const Eigen::MatrixXd A = dense_matrix(*op64);
  Eigen::EigenSolver<Eigen::MatrixXd> es(A, true);
  const Eigen::VectorXcd values = es.eigenvalues().head(2);
  const Eigen::MatrixXcd V = es.eigenvectors().leftCols(2);
  const Eigen::VectorXd r32 = linalg::detail::true_residuals(*op32, values, V);
  // Single-precision rounding of the operator, not of the residual formula: ~1e-7, far above double's.
  for (Eigen::Index j = 0; j < 2; ++j) {
    EXPECT_GT(r32(j), 1e-10);
    EXPECT_LT(r32(j), 1e-5);
  }
}
