// krylov_schur on layers large or clustered enough to take tens of seconds (ctest label `slow`).
#include <ATen/ATen.h>
#include <Eigen/Eigenvalues>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <complex>
#include <vector>

#include "linalg/error.hpp"
#include "linalg/operators/conv_operator.hpp"
#include "linalg/solvers/dense_eig.hpp"
#include "linalg/solvers/krylov_schur.hpp"
#include "linalg/support.hpp"

using namespace convdyn;
using namespace convdyn::linalg;
using namespace convdyn::tests;

TEST(KrylovSchur, LargeConvLayerResiduals) {
  at::manual_seed(17);
  const std::int64_t C = 16;
  ConvOperator op(at::randn({C, C, 3, 3}, at::kDouble) / std::sqrt(9.0 * C), 56, 56);  // n = 50,176
  KrylovSchurOptions opt;
  opt.k = 6;
  opt.which = Which::LR;
  opt.tol = 1e-8;
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = krylov_schur(op, opt);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.reason, StopReason::Converged);
  expect_residuals_within_tol(r);
  for (Eigen::Index i = 1; i < r.values.size(); ++i)
    EXPECT_GE(r.values(i - 1).real(), r.values(i).real() - 1e-12);
  RecordProperty("seconds", std::to_string(secs));
  std::printf("  n=%lld: %.2f s, %lld matvecs, %lld restarts, max residual %.2e\n",
              static_cast<long long>(op.size()), secs, static_cast<long long>(r.matvecs),
              static_cast<long long>(r.restarts), r.residuals.maxCoeff());
}

// Regression: a random 32x7x7 conv (seed 7) whose rightmost spectrum is a cloud. With m = 41 (2k+1, the
// former default) the restarted iteration converged 20 pairs with residuals <= 1e-10 but skipped an interior
// real eigenvalue 0.8385530180 and the pair 0.8302532769 +- 0.0597792913i (returning the 21st/22nd
// instead). The default subspace (4k) finds them. Search rounds (verify) never claim a complete search for
// a wrong answer: with m = 41 they either find the missed pairs or report the search incomplete.
namespace {
// The 32x7x7 conv (seed 7) with a cloud-shaped right edge, and its `k` rightmost eigenvalues by dense.
at::Tensor clustered_kernel() {
  at::manual_seed(7);
  return at::randn({32, 32, 3, 3}, at::kDouble) / std::sqrt(9.0 * 32);
}
EigResult rightmost_dense(const ConvOperator& op, std::int64_t k) {
  DenseEigOptions dopt;
  dopt.which = Which::LR;
  dopt.k = k;
  return dense_eig(op, dopt);
}
}  // namespace

TEST(KrylovSchur, ClusteredRightEdgeDoesNotSkipInteriorEigenvalues) {
  ConvOperator op(clustered_kernel(), 7, 7);
  const auto dense = rightmost_dense(op, 22);
  ASSERT_NEAR(dense.values(16).real(), 0.8385530180, 1e-9);  // the skipped real eigenvalue
  ASSERT_EQ(dense.values(16).imag(), 0.0);

  auto matches = [&](const EigResult& r) {
    if (r.values.size() != 20) return false;
    for (int i = 0; i < 20; ++i)
      if (!(std::abs(r.values(i) - dense.values(i)) < 1e-9)) return false;
    return true;
  };
  auto certified = [&](const EigResult& r, const char* what) {
    EXPECT_TRUE(r.all_converged()) << what;
    for (Eigen::Index i = 0; i < r.values.size(); ++i)
      EXPECT_LE(r.residuals(i), 1e-10 * std::max(1.0, std::abs(r.values(i)))) << what << " #" << i;
  };
  KrylovSchurOptions o;
  o.k = 20;
  o.which = Which::LR;
  o.tol = 1e-10;
  const auto def = krylov_schur(op, o);
  certified(def, "default m");
  EXPECT_TRUE(matches(def)) << "default m: #16 = " << def.values(16);
  o.sstep = 16;  // the s-step expansion (automatic from n = 4096 on) on the same hard case
  const auto blocked = krylov_schur(op, o);
  certified(blocked, "default m, sstep 16");
  EXPECT_TRUE(matches(blocked)) << "sstep 16: #16 = " << blocked.values(16);
  o.sstep = 0;

  o.verify = true;
  const auto ver = krylov_schur(op, o);
  certified(ver, "default m, verify");
  EXPECT_TRUE(matches(ver));
  EXPECT_GE(ver.search_rounds, 1);
  EXPECT_EQ(ver.search_found, 0);
  EXPECT_TRUE(ver.search_complete);

  o.ncv = 41;
  o.verify = false;
  const auto small = krylov_schur(op, o);
  certified(small, "m = 41");
  EXPECT_FALSE(matches(small)) << "the scenario this test guards no longer occurs; pick a harder operator";
  o.verify = true;
  const auto searched = krylov_schur(op, o);
  certified(searched, "m = 41, verify");
  EXPECT_TRUE(!searched.search_complete || matches(searched))
      << "search rounds claimed a complete search for a wrong answer: #16 = " << searched.values(16);
}

// Both Gram–Schmidt variants on the hard clustered layer above: the same 20 values as dense, certified, with
// matvec counts within 10% (the single pass changes rounding, not the Krylov space).
TEST(KrylovSchur, SinglePassAndCgs2AgreeWithDense) {
  ConvOperator op(clustered_kernel(), 7, 7);
  const auto dense = rightmost_dense(op, 20);
  KrylovSchurOptions o;
  o.k = 20;
  o.which = Which::LR;
  EXPECT_EQ(o.reorthogonalize, Reorthogonalization::IfNeeded);
  std::vector<std::int64_t> matvecs;
  for (auto r : {Reorthogonalization::IfNeeded, Reorthogonalization::Always}) {
    o.reorthogonalize = r;
    const auto res = krylov_schur(op, o);
    ASSERT_TRUE(res.all_converged()) << to_string(r);
    ASSERT_EQ(res.values.size(), 20);
    for (int i = 0; i < 20; ++i) {
      EXPECT_LT(std::abs(res.values(i) - dense.values(i)), 1e-9) << to_string(r) << " #" << i;
      EXPECT_LE(res.residuals(i), 1e-10 * std::max(1.0, std::abs(res.values(i))));
    }
    matvecs.push_back(res.matvecs);
  }
  EXPECT_LE(std::abs(matvecs[0] - matvecs[1]), matvecs[1] / 10) << matvecs[0] << " vs " << matvecs[1];
  EXPECT_EQ(parse_reorthogonalization("always"), Reorthogonalization::Always);
  EXPECT_EQ(parse_reorthogonalization("ifneeded"), Reorthogonalization::IfNeeded);
  EXPECT_THROW(parse_reorthogonalization("twice"), ValueError);
}

// Twelve random 32x7x7 convs (the family of the clustered case above), k = 20, LR, one vector at a time and
// with the s-step expansion: the 20 rightmost eigenvalues of LAPACK's dense eigensolver, none skipped,
// every residual within tol.
TEST(KrylovSchur, TwelveRandomClusteredConvsMissNothing) {
  for (int seed = 0; seed < 12; ++seed) {
    at::manual_seed(100 + seed);
    const ConvOperator op(at::randn({32, 32, 3, 3}, at::kDouble) / std::sqrt(9.0 * 32), 7, 7);
    const at::Tensor all = at::linalg_eigvals(op.to_dense()).contiguous();
    const Eigen::VectorXcd dense =
        select(Eigen::Map<const Eigen::VectorXcd>(reinterpret_cast<const cd*>(all.data_ptr<c10::complex<double>>()),
                                                  all.numel()),
               Which::LR, 20);
    for (std::int64_t sstep : {1, 16}) {
      KrylovSchurOptions o;
      o.k = 20;
      o.which = Which::LR;
      o.sstep = sstep;
      const auto r = krylov_schur(op, o);
      ASSERT_TRUE(r.all_converged()) << "seed " << seed << " sstep " << sstep;
      ASSERT_EQ(r.values.size(), 20);
      for (int i = 0; i < 20; ++i) {
        EXPECT_LT(std::abs(r.values(i) - dense(i)), 1e-9) << "seed " << seed << " sstep " << sstep << " #" << i;
        EXPECT_LE(r.residuals(i), 1e-10 * std::max(1.0, std::abs(r.values(i))));
      }
    }
  }
}
