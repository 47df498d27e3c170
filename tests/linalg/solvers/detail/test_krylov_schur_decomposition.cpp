// The Krylov–Schur decomposition: the relation A V = V S + v b^T after expansions, restarts, locking and growth.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "linalg/operators/conv_operator.hpp"
#include "linalg/solvers/detail/krylov_schur_decomposition.hpp"
#include "linalg/support.hpp"

using namespace convdyn;
using namespace convdyn::linalg;
using namespace convdyn::tests;
namespace ksd = convdyn::linalg::detail;

// Parameters: always_twice (CGS2) or single-pass Gram–Schmidt with the DGKS test; the s-step length (1 = one
// vector at a time; 4 and 7 with a Newton shift, 7 not dividing the expansions, so the last block is short).
class KrylovSchurDecompositionRelation : public ::testing::TestWithParam<std::tuple<bool, int>> {};

TEST_P(KrylovSchurDecompositionRelation, HoldsAfterRestartsAndLocking) {
  const auto [always_twice, sstep] = GetParam();
  at::manual_seed(21);
  ConvOperator op(at::randn({6, 6, 3, 3}, at::kDouble), 10, 10);
  const double anorm = to_eigen(op.to_dense()).norm();
  ksd::KrylovSchurDecomposition dec(op, 30, /*seed=*/3, at::Tensor(), 0, always_twice);
  dec.set_sstep(sstep, sstep > 1 ? 0.3 : 0.0);
  // Locking deflates: the residual coefficient b_j of a newly locked column j is dropped, so that column
  // of the relation is off by exactly |b_j| (a unit vector times b_j). Track what was dropped.
  Eigen::VectorXd dropped = Eigen::VectorXd::Zero(30);
  auto check = [&](const std::string& stage) {
    const auto p = dec.size();
    const auto& H = dec.projected();
    const auto V = dec.basis().narrow(0, 0, p + 1);
    EXPECT_LT((V.mm(V.t()) - at::eye(p + 1, at::kDouble)).abs().max().item<double>(), 1e-13) << stage;
    // Row form of A V_p = V_p S + v_p b^T: A v_i = sum_j S(j, i) v_j + b_i v_p.
    Eigen::MatrixXd S = H.topLeftCorner(p, p);
    Eigen::VectorXd b = H.row(p).head(p).transpose();
    at::Tensor St = at::from_blob(S.data(), {p, p}, at::TensorOptions(at::kDouble)).clone();  // = S^T
    at::Tensor bt = at::from_blob(b.data(), {p, 1}, at::TensorOptions(at::kDouble)).clone();
    const auto Vp = V.narrow(0, 0, p);
    const auto err = (op.apply(Vp) - St.mm(Vp) - bt * V[p].unsqueeze(0)).norm(2, {1});
    for (Eigen::Index j = 0; j < p; ++j) {
      const double e = err[j].item<double>();
      if (j < dec.locked()) {
        EXPECT_NEAR(e, std::abs(dropped(j)), 1e-13 * anorm) << stage << ", locked column " << j;
        EXPECT_EQ(dec.deflated()(j), dropped(j));
      } else {
        EXPECT_LT(e, 1e-13 * anorm) << stage << ", column " << j << " of " << p;
      }
    }
    if (stage.find("restart") != std::string::npos || stage == "after locking") {  // quasi-triangular
      for (Eigen::Index j = 0; j < p; ++j)
        for (Eigen::Index i = j + 2; i < p; ++i) ASSERT_EQ(S(i, j), 0.0) << stage;
    }
  };
  auto keep = [&](Eigen::Index p) { return dec.projected()(p, p - 1) != 0.0 ? p + 1 : p; };
  auto restart = [&](Eigen::Index kp, Eigen::Index lock) {
    const auto p = dec.size();
    for (Eigen::Index j = dec.locked(); j < lock; ++j) dropped(j) = dec.projected()(p, j);
    dec.truncate(kp, lock);
  };
  ASSERT_TRUE(dec.expand());
  EXPECT_EQ(dec.size(), 30);
  check("arnoldi");
  dec.schur(Which::LR);
  restart(keep(15), 0);
  check("first restart");
  for (int r = 0; r < 3; ++r) {
    ASSERT_TRUE(dec.expand());
    check("expansion " + std::to_string(r));
    dec.schur(Which::LR);
    const auto lk = std::max(dec.locked(), dec.projected()(4, 3) != 0.0 ? Eigen::Index{5} : Eigen::Index{4});
    restart(keep(16), lk);
    EXPECT_EQ(dec.locked(), lk);
    check("restart with locking " + std::to_string(r));
  }
  // The locked Schur vectors no longer change.
  const auto locked = dec.basis().narrow(0, 0, dec.locked()).clone();
  ASSERT_TRUE(dec.expand());
  dec.schur(Which::LR);
  restart(keep(16), dec.locked());
  EXPECT_TRUE(at::equal(dec.basis().narrow(0, 0, locked.size(0)), locked));
  check("after locking");
  // Growing the subspace (the automatic m grows on a stall) keeps the decomposition.
  dec.reserve(40);
  dec.set_max_size(40);
  EXPECT_EQ(dec.capacity(), 40);
  ASSERT_TRUE(dec.expand());
  EXPECT_EQ(dec.size(), 40);
  check("after growing to 40");
  // The single pass kept the basis orthogonal without falling back to CGS2; its restart check saw it.
  EXPECT_EQ(dec.orthogonality_fallbacks(), 0);
  EXPECT_EQ(dec.always_twice(), always_twice);
  if (sstep > 1) {
    EXPECT_GT(dec.sstep_blocks(), 0);
    EXPECT_EQ(dec.sstep_fallbacks(), 0);
  }
  if (!always_twice) {
    EXPECT_GT(dec.orthogonality_loss(), 0.0);
    EXPECT_LE(dec.orthogonality_loss(), dec.orthogonality_limit());
  }
}

INSTANTIATE_TEST_SUITE_P(GramSchmidt, KrylovSchurDecompositionRelation,
                         ::testing::Combine(::testing::Bool(), ::testing::Values(1, 4, 7)), [](const auto& info) {
                           return std::string(std::get<0>(info.param) ? "Cgs2" : "SinglePassIfNeeded") + "_sstep" +
                                  std::to_string(std::get<1>(info.param));
                         });
