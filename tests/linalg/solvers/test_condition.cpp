// Condition numbers and error bounds: closed forms (a Jordan-like 2x2 family, a normal operator), dense
// left/right eigenvectors of a conv, the bound against the actual error, and the unmatched cases.
#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>

#include <cmath>

#include "linalg/error.hpp"
#include "linalg/solvers/condition.hpp"
#include "linalg/solvers/solve.hpp"
#include "linalg/support.hpp"

using namespace convdyn;
using namespace convdyn::linalg;
using convdyn::tests::DenseMatrixOperator;

namespace {

SolveOptions options(Method m, std::int64_t k, Which which = Which::LR) {
  SolveOptions o;
  o.method = m;
  o.common.k = k;
  o.common.which = which;
  o.common.tol = 1e-12;
  o.common.vectors = true;
  return o;
}

EigResult with_condition(const LinearOperator& op, const SolveOptions& o, std::int64_t* unmatched = nullptr) {
  auto r = solve(op, o);
  const auto u = add_condition_numbers(op, r, o);
  if (unmatched) *unmatched = u;
  return r;
}

// [[a, t], [0, b]] on top of a diagonal of smaller values: kappa(a) = kappa(b) = sqrt(1 + (t / (a - b))^2).
at::Tensor jordan_like(double a, double b, double t, std::int64_t n) {
  auto A = at::zeros({n, n}, at::kDouble);
  A[0][0] = a;
  A[0][1] = t;
  A[1][1] = b;
  for (std::int64_t i = 2; i < n; ++i) A[i][i] = -1.0 + 1.5 * double(i) / double(n);  // in (-1, 0.5)
  // A random orthogonal similarity keeps the eigenvalues and the condition numbers (kappa is unitarily
  // invariant) and makes the operator dense.
  at::manual_seed(3);
  const auto Q = std::get<0>(at::linalg_qr(at::randn({n, n}, at::kDouble)));
  return at::mm(at::mm(Q, A), Q.t());
}

}  // namespace

class JordanLike : public ::testing::TestWithParam<std::tuple<Method, double>> {};

TEST_P(JordanLike, ConditionNumbersMatchTheClosedForm) {
  const auto [method, t] = GetParam();
  const double a = 2.0, b = 1.5;
  const DenseMatrixOperator op(jordan_like(a, b, t, 40), at::kDouble, /*transpose=*/true);
  std::int64_t unmatched = -1;
  const auto r = with_condition(op, options(method, 4), &unmatched);
  EXPECT_EQ(unmatched, 0);
  const double kappa = std::sqrt(1.0 + (t / (a - b)) * (t / (a - b)));
  ASSERT_EQ(r.condition.size(), 4);
  EXPECT_NEAR(r.values(0).real(), a, 1e-9 * kappa);
  EXPECT_NEAR(r.values(1).real(), b, 1e-9 * kappa);
  EXPECT_NEAR(r.condition(0), kappa, 1e-6 * kappa);
  EXPECT_NEAR(r.condition(1), kappa, 1e-6 * kappa);
  for (Eigen::Index i = 0; i < 4; ++i) {
    EXPECT_GE(r.condition(i), 1.0 - 1e-12) << i;  // kappa >= 1 always
    EXPECT_DOUBLE_EQ(r.error_bound(i), r.condition(i) * r.residuals(i)) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Condition, JordanLike,
                         ::testing::Combine(::testing::Values(Method::KrylovSchur, Method::Dense, Method::Arpack),
                                            ::testing::Values(0.0, 1.0, 10.0, 100.0)));

TEST(Condition, NormalOperatorHasConditionOne) {
  // Q diag(rotation-scaling blocks, reals) Q^T: normal, with complex pairs and distinct eigenvalues.
  const std::int64_t n = 30;
  auto B = at::zeros({n, n}, at::kDouble);
  for (std::int64_t i = 0; i < 10; ++i) {
    const double r = 0.5 + 0.07 * double(i), th = 0.3 + 0.2 * double(i);
    B[2 * i][2 * i] = r * std::cos(th), B[2 * i][2 * i + 1] = -r * std::sin(th);
    B[2 * i + 1][2 * i] = r * std::sin(th), B[2 * i + 1][2 * i + 1] = r * std::cos(th);
  }
  for (std::int64_t i = 20; i < n; ++i) B[i][i] = -0.9 + 0.13 * double(i - 20);
  at::manual_seed(7);
  const auto Q = std::get<0>(at::linalg_qr(at::randn({n, n}, at::kDouble)));
  const DenseMatrixOperator op(at::mm(at::mm(Q, B), Q.t()), at::kDouble, true);
  for (const Which which : {Which::LR, Which::LM}) {
    std::int64_t unmatched = -1;
    const auto r = with_condition(op, options(Method::KrylovSchur, 6, which), &unmatched);
    EXPECT_EQ(unmatched, 0);
    for (Eigen::Index i = 0; i < r.condition.size(); ++i) EXPECT_NEAR(r.condition(i), 1.0, 1e-9) << i;
  }
}

TEST(Condition, ConvMatchesDenseLeftAndRightVectorsAndTheBoundHolds) {
  const auto op = tests::conv(3, 6, 11);
  const Eigen::MatrixXd A = tests::dense_matrix(*op);
  const auto r = with_condition(*op, options(Method::KrylovSchur, 6));
  Eigen::EigenSolver<Eigen::MatrixXd> right(A), left(A.transpose());
  for (Eigen::Index i = 0; i < r.values.size(); ++i) {
    ASSERT_FALSE(std::isnan(r.condition(i))) << i;
    Eigen::Index jr = 0, jl = 0;
    (right.eigenvalues().array() - r.values(i)).abs().minCoeff(&jr);
    (left.eigenvalues().array() - r.values(i)).abs().minCoeff(&jl);
    const Eigen::VectorXcd x = right.eigenvectors().col(jr), y = left.eigenvectors().col(jl);
    const double kappa = x.norm() * y.norm() / std::abs((y.transpose() * x)(0, 0));
    EXPECT_NEAR(r.condition(i), kappa, 1e-6 * kappa) << i;
    // First-order bound on the eigenvalue's error (the dense value is exact to ~kappa * eps * ||A||).
    EXPECT_LE(std::abs(r.values(i) - right.eigenvalues()(jr)), 2.0 * r.error_bound(i) + 1e-13 * kappa) << i;
  }
  EXPECT_GT(r.condition.maxCoeff(), 1.0 + 1e-6) << "a random conv is not normal";
}

TEST(Condition, MultipleEigenvalueIsUnmatchedNotGuessed) {
  auto D = at::diag(at::tensor({3.0, 3.0, 1.0, 0.5, 0.2, 0.1, -0.3, -0.5}, at::kDouble));
  const DenseMatrixOperator op(D, at::kDouble, true);
  std::int64_t unmatched = 0;
  const auto r = with_condition(op, options(Method::Dense, 3), &unmatched);
  EXPECT_EQ(unmatched, 2);
  EXPECT_TRUE(std::isnan(r.condition(0)) && std::isnan(r.condition(1)) && std::isnan(r.error_bound(0)));
  EXPECT_NEAR(r.condition(2), 1.0, 1e-12);
}

TEST(Condition, NeedsTheTransposeAndTheVectors) {
  const DenseMatrixOperator no_t(at::eye(6, at::kDouble));
  auto o = options(Method::Dense, 2);
  auto r = solve(no_t, o);
  EXPECT_THROW(add_condition_numbers(no_t, r, o), ValueError);
  const DenseMatrixOperator op(at::eye(6, at::kDouble), at::kDouble, true);
  o.common.vectors = false;
  r = solve(op, o);
  EXPECT_THROW(add_condition_numbers(op, r, o), ValueError);
}
