// Transient growth max_t ||A^t||_2 against dense matrix powers: a non-normal stable map (a hump), a conv-based
// discrete map (1 - a) I + a W, a contraction (no growth), a growing map (peak at the limit), bad input.
#include <gtest/gtest.h>

#include <Eigen/SVD>

#include <cmath>

#include "linalg/error.hpp"
#include "linalg/solvers/transient_growth.hpp"
#include "linalg/support.hpp"

using namespace convdyn;
using namespace convdyn::linalg;
using convdyn::tests::DenseMatrixOperator;

namespace {

at::Tensor to_tensor(const Eigen::MatrixXd& m) {
  auto t = at::empty({m.rows(), m.cols()}, at::kDouble);
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) t[i][j] = m(i, j);
  return t;
}

/// ||A^t||_2 for t = 0..T by dense powers and SVDs.
std::vector<double> dense_curve(const Eigen::MatrixXd& a, std::int64_t T) {
  std::vector<double> out{1.0};
  Eigen::MatrixXd p = Eigen::MatrixXd::Identity(a.rows(), a.cols());
  for (std::int64_t t = 1; t <= T; ++t) {
    p = a * p;
    out.push_back(Eigen::JacobiSVD<Eigen::MatrixXd>(p).singularValues()(0));
  }
  return out;
}

/// lambda I + beta * (shift): a Jordan-like block, the classic transiently growing stable map.
Eigen::MatrixXd jordan_like(std::int64_t n, double lambda, double beta) {
  Eigen::MatrixXd a = lambda * Eigen::MatrixXd::Identity(n, n);
  for (std::int64_t i = 0; i + 1 < n; ++i) a(i, i + 1) = beta;
  return a;
}

void expect_peak_of(const Eigen::MatrixXd& a, const TransientGrowth& g, std::int64_t T) {
  const auto curve = dense_curve(a, T);
  std::int64_t best = 0;
  for (std::int64_t t = 0; t <= T; ++t)
    if (curve[t] > curve[best]) best = t;
  EXPECT_TRUE(g.converged);
  EXPECT_EQ(g.peak_step, best);
  EXPECT_NEAR(g.peak, curve[best], 1e-8 * curve[best]);
  ASSERT_EQ(g.steps.size(), g.norms.size());
  for (std::size_t i = 0; i < g.steps.size(); ++i)
    EXPECT_NEAR(g.norms[i], curve[g.steps[i]], 1e-8 * curve[g.steps[i]]) << "t = " << g.steps[i];
}

}  // namespace

TEST(TransientGrowth, PowerGramIsDensePowerGram) {
  const Eigen::MatrixXd a = jordan_like(12, 0.7, 0.6);
  const DenseMatrixOperator op(to_tensor(a), at::kDouble, /*transpose=*/true);
  const PowerGramOperator g(op, 3);
  const Eigen::MatrixXd p = a * a * a;
  EXPECT_LT((tests::dense_matrix(g) - p.transpose() * p).cwiseAbs().maxCoeff(), 1e-12);
}

TEST(TransientGrowth, JordanLikeHumpMatchesDensePowers) {
  // rho = 0.8 < 1 but ||A^t|| rises to ~ 40 before it decays: the peak and where it is.
  const Eigen::MatrixXd a = jordan_like(20, 0.8, 0.5);
  const DenseMatrixOperator op(to_tensor(a), at::kDouble, true);
  TransientGrowthOptions o;
  o.tol = 1e-12;
  o.max_steps = 400;
  const auto g = transient_growth(op, o);
  expect_peak_of(a, g, 400);
  EXPECT_GT(g.peak, 5.0);
  EXPECT_FALSE(g.peak_at_limit);
  EXPECT_GT(g.matvecs, 0);
}

TEST(TransientGrowth, ConvDiscreteMapMatchesDensePowers) {
  // (1 - a) I + a W for a non-normal conv W scaled to max Re lambda = 0.95: stable, and it grows first.
  auto w = tests::conv(3, 5, 11);
  Eigen::MatrixXd W = tests::dense_matrix(*w);
  const double abscissa = tests::dense_eigenvalues(*w).real().maxCoeff();
  ASSERT_GT(abscissa, 0.1);
  W *= 0.95 / abscissa;
  const double alpha = 0.2;
  const Eigen::MatrixXd m = (1 - alpha) * Eigen::MatrixXd::Identity(W.rows(), W.cols()) + alpha * W;
  const DenseMatrixOperator op(to_tensor(m), at::kDouble, true);
  TransientGrowthOptions o;
  o.tol = 1e-12;
  o.max_steps = 300;
  const auto g = transient_growth(op, o);
  expect_peak_of(m, g, 300);
  EXPECT_GT(g.peak, 1.0);  // the case of interest: growth before decay
}

TEST(TransientGrowth, ContractionHasNoGrowth) {
  Eigen::MatrixXd a = jordan_like(10, 0.5, 0.3);  // ||A||_2 <= 0.8
  const DenseMatrixOperator op(to_tensor(a), at::kDouble, true);
  const auto g = transient_growth(op);
  EXPECT_EQ(g.peak, 1.0);
  EXPECT_EQ(g.peak_step, 0);
  ASSERT_EQ(g.steps.size(), 1u);  // ||A|| only
  EXPECT_LT(g.norms[0], 1.0);
}

TEST(TransientGrowth, GrowingMapPeaksAtTheLimit) {
  const Eigen::MatrixXd a = jordan_like(10, 1.01, 0.1);  // rho > 1: unbounded
  const DenseMatrixOperator op(to_tensor(a), at::kDouble, true);
  TransientGrowthOptions o;
  o.tol = 1e-12;
  o.max_steps = 50;  // not a power of two: the limit itself is evaluated
  const auto g = transient_growth(op, o);
  EXPECT_TRUE(g.peak_at_limit);
  EXPECT_EQ(g.peak_step, 50);
  EXPECT_NEAR(g.peak, dense_curve(a, 50)[50], 1e-8 * g.peak);
}

TEST(TransientGrowth, BadInput) {
  const Eigen::MatrixXd a = jordan_like(10, 0.9, 0.5);
  const DenseMatrixOperator no_transpose(to_tensor(a), at::kDouble, false);
  EXPECT_THROW(transient_growth(no_transpose), ValueError);
  const DenseMatrixOperator op(to_tensor(a), at::kDouble, true);
  TransientGrowthOptions o;
  o.max_steps = 0;
  EXPECT_THROW(transient_growth(op, o), ValueError);
  EXPECT_THROW(PowerGramOperator(op, 0), ValueError);
}
