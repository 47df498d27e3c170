// Ordered real Schur forms of the projected problem: a similarity, in `which` order, locked blocks kept.
#include <ATen/ATen.h>
#include <Eigen/Eigenvalues>
#include <gtest/gtest.h>

#include <complex>
#include <vector>

#include "linalg/solvers/detail/ordered_schur.hpp"
#include "linalg/support.hpp"

using namespace convdyn;
using namespace convdyn::linalg;
using namespace convdyn::tests;
namespace ksd = convdyn::linalg::detail;

TEST(OrderedSchur, IsASimilarityInWhichOrder) {
  at::manual_seed(11);
  const auto A = to_eigen(at::randn({40, 40}, at::kDouble));
  const Eigen::VectorXcd eig = Eigen::EigenSolver<Eigen::MatrixXd>(A, false).eigenvalues();
  for (Which w : {Which::LM, Which::LR, Which::SR, Which::SM, Which::LI}) {
    Eigen::MatrixXd T, U;
    ksd::ordered_schur(A, 0, w, T, U);
    EXPECT_LT((U.transpose() * U - Eigen::MatrixXd::Identity(40, 40)).norm(), 1e-13);
    EXPECT_LT((U.transpose() * A * U - T).norm(), 1e-12 * A.norm()) << to_string(w);
    for (Eigen::Index j = 0; j < 40; ++j)
      for (Eigen::Index i = j + 2; i < 40; ++i) ASSERT_EQ(T(i, j), 0.0);
    for (Eigen::Index j = 0; j + 2 < 40; ++j)  // no two consecutive nonzero subdiagonals
      ASSERT_FALSE(T(j + 1, j) != 0.0 && T(j + 2, j + 1) != 0.0);
    // The block values, both members of each pair, are the eigenvalues in `which` order.
    std::vector<cd> seq;
    for (const auto& b : ksd::schur_blocks(T, 0, 40)) {
      seq.push_back(b.value);
      if (b.size == 2) {
        EXPECT_GT(b.value.imag(), 0.0);
        seq.push_back(std::conj(b.value));
      }
    }
    const Eigen::VectorXcd want = select(eig, w, 0);
    ASSERT_EQ(static_cast<Eigen::Index>(seq.size()), want.size());
    for (Eigen::Index i = 0; i < want.size(); ++i)
      EXPECT_LT(std::abs(seq[static_cast<std::size_t>(i)] - want(i)), 1e-10 * scale_of(want(i)))
          << to_string(w) << " position " << i;
  }
}

TEST(OrderedSchur, LeavesLockedBlockInPlace) {
  at::manual_seed(12);
  Eigen::MatrixXd A = to_eigen(at::randn({30, 30}, at::kDouble));
  Eigen::MatrixXd T0, U0;
  ksd::ordered_schur(A, 0, Which::LR, T0, U0);
  // Lock the leading 7 (or 8, not splitting a pair) columns, scramble the rest, and sort by LM.
  const Eigen::Index lo = T0(7, 6) != 0.0 ? 8 : 7;
  Eigen::MatrixXd S = T0;
  S.bottomRightCorner(30 - lo, 30 - lo) = to_eigen(at::randn({30 - lo, 30 - lo}, at::kDouble));
  Eigen::MatrixXd T, U;
  ksd::ordered_schur(S, lo, Which::LM, T, U);
  EXPECT_EQ(T.topLeftCorner(lo, lo), S.topLeftCorner(lo, lo));
  EXPECT_EQ(U.topLeftCorner(lo, lo), Eigen::MatrixXd::Identity(lo, lo));
  EXPECT_LT((U.transpose() * S * U - T).norm(), 1e-12 * S.norm());
  const auto blocks = ksd::schur_blocks(T, lo, 30);
  for (std::size_t i = 1; i < blocks.size(); ++i)
    EXPECT_GE(std::abs(blocks[i - 1].value) * (1 + 1e-12), std::abs(blocks[i].value));
}

TEST(OrderedSchur, EigenvectorsOfQuasiTriangular) {
  at::manual_seed(13);
  const auto A = to_eigen(at::randn({25, 25}, at::kDouble));
  Eigen::MatrixXd T, U;
  ksd::ordered_schur(A, 0, Which::LR, T, U);
  for (const auto& b : ksd::schur_blocks(T, 0, 25)) {
    const Eigen::VectorXcd y = ksd::schur_eigenvector(T, b);
    EXPECT_NEAR(y.norm(), 1.0, 1e-14);
    EXPECT_LT((T.cast<cd>() * y - b.value * y).norm(), 1e-12 * T.norm()) << b.value;
  }
}
