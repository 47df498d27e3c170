#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>

#include "linalg/operators/conv_operator.hpp"
#include "linalg/operators/symmetric_operators.hpp"
#include "linalg/support.hpp"

using namespace convdyn::linalg;
using namespace convdyn::tests;


TEST(SymmetricOperators, NormAndNumericalAbscissaMatchDense) {
  at::manual_seed(3);
  ConvOperator w(at::randn({3, 3, 3, 3}, at::kDouble) * 0.3, 6, 7);
  const Eigen::MatrixXd a = dense_matrix(w);
  const double norm2 = Eigen::JacobiSVD<Eigen::MatrixXd>(a).singularValues()(0);
  const Eigen::MatrixXd s = 0.5 * (a + a.transpose());
  const double omega = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(s).eigenvalues().maxCoeff();

  GramOperator g(w);
  const auto gram = largest_symmetric_eigenvalue(g, 1e-12);
  EXPECT_TRUE(gram.converged);
  EXPECT_NEAR(std::sqrt(gram.value), norm2, 1e-10 * norm2);
  EXPECT_LE(gram.residual, 1e-12 * std::max(1.0, gram.value));

  SymmetricPartOperator sp(w);
  const auto om = largest_symmetric_eigenvalue(sp, 1e-12);
  EXPECT_TRUE(om.converged);
  EXPECT_NEAR(om.value, omega, 1e-10 * std::abs(omega));
  // The dense forms are what they claim.
  EXPECT_LT((dense_matrix(g) - a.transpose() * a).cwiseAbs().maxCoeff(), 1e-12);
  EXPECT_LT((dense_matrix(sp) - s).cwiseAbs().maxCoeff(), 1e-13);
}
