// krylov_schur against dense ground truth and closed forms, its reports and its option checks.
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

namespace {

const double kPi = std::acos(-1.0);

at::Tensor random_orthogonal(std::int64_t n) {
  return std::get<0>(at::linalg_qr(at::randn({n, n}, at::kDouble)));
}

/// Q (B + N) Q^T: the eigenvalues of the block-diagonal B, made non-normal by a small strictly upper N.
at::Tensor with_spectrum(const at::Tensor& B, double nonnormal) {
  const auto n = B.size(0);
  const auto Q = random_orthogonal(n);
  const auto N = at::triu(at::randn({n, n}, at::kDouble), 2) * (nonnormal / std::sqrt(double(n)));
  return Q.mm(B + N).mm(Q.t());
}

}  // namespace

class KrylovSchurMatchesDense
    : public ::testing::TestWithParam<std::tuple<int, int, Which, int>> {};  // channels, grid, which, sstep

TEST_P(KrylovSchurMatchesDense, TopTenInWhichOrder) {
  const auto [C, hw, which, sstep] = GetParam();
  at::manual_seed(100 + C);
  ConvOperator op(at::randn({C, C, 3, 3}, at::kDouble) / std::sqrt(9.0 * C), hw, hw);
  KrylovSchurOptions opt;
  opt.k = 10;
  opt.which = which;
  opt.tol = 1e-12;
  opt.sstep = sstep;
  const auto r = krylov_schur(op, opt);
  EXPECT_EQ(r.reason, StopReason::Converged);
  EXPECT_EQ(r.method, "krylov-schur");
  EXPECT_EQ(r.which, which);
  EXPECT_EQ(r.tol, 1e-12);
  EXPECT_GT(r.matvecs, 0);
  expect_residuals_within_tol(r);
  expect_values_match(r.values, select(dense_eigenvalues(op), which, 10), 1e-9);
}

// The s-step expansion builds the same Krylov spaces: the same values as dense and as one vector at a time,
// certified, with matvec counts within a few percent (rounding may move a convergence by a restart).
TEST(KrylovSchur, SStepExpansionMatchesOneVectorAtATime) {
  at::manual_seed(131);
  ConvOperator op(at::randn({8, 8, 3, 3}, at::kDouble) / std::sqrt(72.0), 9, 9);  // n = 648
  const auto dense = select(dense_eigenvalues(op), Which::LR, 12);
  KrylovSchurOptions opt;
  opt.k = 12;
  opt.which = Which::LR;
  opt.tol = 1e-11;
  opt.sstep = 1;
  const auto plain = krylov_schur(op, opt);
  for (std::int64_t s : {4, 16}) {
    opt.sstep = s;
    const auto r = krylov_schur(op, opt);
    EXPECT_EQ(r.reason, StopReason::Converged) << s;
    expect_residuals_within_tol(r);
    expect_values_match(r.values, dense, 1e-9);
    EXPECT_LE(std::abs(r.matvecs - plain.matvecs), plain.matvecs / 20 + 16) << s << ": " << r.matvecs << " vs " << plain.matvecs;
  }
  opt.sstep = -1;
  EXPECT_THROW(krylov_schur(op, opt), ValueError);
}

INSTANTIATE_TEST_SUITE_P(Conv, KrylovSchurMatchesDense,
                         ::testing::Combine(::testing::Values(3, 6), ::testing::Values(8, 10),
                                            ::testing::Values(Which::LM, Which::LR), ::testing::Values(1, 16)));

TEST(KrylovSchur, RitzVectorsAreUnitEigenvectors) {
  at::manual_seed(5);
  ConvOperator op(at::randn({3, 3, 3, 3}, at::kDouble) / 5.0, 8, 8);
  KrylovSchurOptions opt;
  opt.k = 8;
  opt.vectors = true;
  const auto r = krylov_schur(op, opt);
  ASSERT_EQ(r.reason, StopReason::Converged);
  ASSERT_EQ(r.vectors.rows(), op.size());
  ASSERT_EQ(r.vectors.cols(), 8);
  const Eigen::MatrixXcd A = to_eigen(op.to_dense()).cast<cd>();
  for (Eigen::Index i = 0; i < 8; ++i) {
    const Eigen::VectorXcd v = r.vectors.col(i);
    EXPECT_NEAR(v.norm(), 1.0, 1e-14);
    const double res = (A * v - r.values(i) * v).norm();
    EXPECT_NEAR(res, r.residuals(i), 1e-14);
    EXPECT_LE(res, 1e-10 * scale_of(r.values(i)));
  }
}

TEST(KrylovSchur, DominantComplexPairIsReturnedAdjacent) {
  at::manual_seed(7);
  const std::int64_t n = 120;
  auto B = at::diag(at::rand({n}, at::kDouble) * 2.0 - 1.0);  // the rest in [-1, 1]
  B.index_put_({0, 0}, 0.5);
  B.index_put_({1, 1}, 0.5);
  B.index_put_({0, 1}, 2.0);
  B.index_put_({1, 0}, -2.0);  // 0.5 +- 2i, |lambda| = 2.06
  DenseMatrixOperator op(with_spectrum(B, 0.3));
  for (std::int64_t sstep : {1, 16}) {
    KrylovSchurOptions opt;
    opt.k = 4;
    opt.which = Which::LM;
    opt.vectors = true;
    opt.sstep = sstep;
    const auto r = krylov_schur(op, opt);
    ASSERT_EQ(r.reason, StopReason::Converged) << sstep;
    EXPECT_LT(std::abs(r.values(0) - cd(0.5, 2.0)), 1e-10);
    EXPECT_LT(std::abs(r.values(1) - cd(0.5, -2.0)), 1e-10);
    EXPECT_LT((r.vectors.col(1) - r.vectors.col(0).conjugate()).norm(), 1e-14);
    expect_residuals_within_tol(r);
    expect_values_match(r.values, select(dense_eigenvalues(op), Which::LM, 4), 1e-9);
  }
}

TEST(KrylovSchur, LargestMagnitudeAndRightmostDiffer) {
  at::manual_seed(8);
  const std::int64_t n = 100;
  auto d = at::rand({n}, at::kDouble) * 1.6 - 0.8;  // [-0.8, 0.8]
  d[0] = -5.0;
  d[1] = 1.0;
  d[2] = 0.95;
  d[3] = 0.9;
  DenseMatrixOperator op(with_spectrum(at::diag(d), 0.2));
  KrylovSchurOptions opt;
  opt.k = 3;
  opt.which = Which::LM;
  const auto lm = krylov_schur(op, opt);
  ASSERT_EQ(lm.reason, StopReason::Converged);
  EXPECT_LT(std::abs(lm.values(0) - cd(-5.0, 0.0)), 1e-10);
  EXPECT_LT(std::abs(lm.values(1) - cd(1.0, 0.0)), 1e-10);
  opt.which = Which::LR;
  const auto lr = krylov_schur(op, opt);
  ASSERT_EQ(lr.reason, StopReason::Converged);
  const cd want[] = {1.0, 0.95, 0.9};
  for (int i = 0; i < 3; ++i) {
    EXPECT_LT(std::abs(lr.values(i) - want[i]), 1e-10) << i;
    EXPECT_GT(lr.values(i).real(), 0.0);
  }
}

TEST(KrylovSchur, CircularConvolutionHasTheDftOfItsKernel) {
  at::manual_seed(9);
  const std::int64_t H = 16, W = 12, ks = 3, c = ks / 2;
  const auto w = at::randn({1, 1, ks, ks}, at::kDouble);
  ConvOperator op(w, H, W, Padding::Circular);
  // conv2d is a cross-correlation: (A x)[i, j] = sum_ab w[a, b] x[i + a - c, j + b - c] (indices mod H, W),
  // so the Fourier mode exp(2 pi i (p i / H + q j / W)) has eigenvalue sum_ab w[a, b] exp(2 pi i (p (a - c)
  // / H + q (b - c) / W)).
  Eigen::VectorXcd exact(H * W);
  const auto wa = w.accessor<double, 4>();
  for (std::int64_t p = 0; p < H; ++p)
    for (std::int64_t q = 0; q < W; ++q) {
      cd s = 0.0;
      for (std::int64_t a = 0; a < ks; ++a)
        for (std::int64_t b = 0; b < ks; ++b)
          s += wa[0][0][a][b] * std::polar(1.0, 2.0 * kPi * (double(p * (a - c)) / H + double(q * (b - c)) / W));
      exact(p * W + q) = s;
    }
  for (Which which : {Which::LM, Which::LR}) {
    KrylovSchurOptions opt;
    opt.k = 8;
    opt.which = which;
    opt.tol = 1e-12;
    const auto r = krylov_schur(op, opt);
    ASSERT_EQ(r.reason, StopReason::Converged) << to_string(which);
    const Eigen::VectorXcd want = select(exact, which, 8);
    for (Eigen::Index i = 0; i < 8; ++i)
      EXPECT_LT(std::abs(r.values(i) - want(i)), 1e-10) << to_string(which) << " " << i;
  }
}

TEST(KrylovSchur, SmallOperatorIsSolvedExactly) {
  at::manual_seed(10);
  DenseMatrixOperator op(at::randn({12, 12}, at::kDouble));
  KrylovSchurOptions opt;
  opt.k = 5;  // m = n = 12: the Krylov space is invariant after one pass
  const auto r = krylov_schur(op, opt);
  EXPECT_EQ(r.reason, StopReason::Converged);
  EXPECT_EQ(r.restarts, 0);
  expect_residuals_within_tol(r);
  expect_values_match(r.values, select(dense_eigenvalues(op), Which::LM, 5), 1e-12);
}

TEST(KrylovSchur, StartVectorInAnInvariantSubspaceBreaksDownAndRecovers) {
  const std::int64_t n = 50;
  DenseMatrixOperator op(at::diag(at::arange(1, n + 1, at::kDouble)));
  KrylovSchurOptions opt;
  opt.k = 3;
  opt.ncv = 10;
  opt.start = at::zeros({n}, at::kDouble);
  opt.start[0] = 1.0;  // A e_0 = e_0: breakdown at the first step
  std::int64_t breakdowns = 0;
  opt.progress = [&](const KrylovSchurProgress& p) { breakdowns = p.breakdowns; };
  const auto r = krylov_schur(op, opt);
  EXPECT_GE(breakdowns, 1);
  ASSERT_EQ(r.reason, StopReason::Converged);
  for (int i = 0; i < 3; ++i) EXPECT_LT(std::abs(r.values(i) - cd(double(n - i), 0.0)), 1e-9 * n) << i;
}

TEST(KrylovSchur, ProgressIsReportedOncePerIteration) {
  at::manual_seed(14);
  ConvOperator op(at::randn({4, 4, 3, 3}, at::kDouble) / 6.0, 8, 8);
  std::vector<KrylovSchurProgress> log;
  KrylovSchurOptions opt;
  opt.k = 6;
  opt.ncv = 14;
  opt.progress = [&](const KrylovSchurProgress& p) { log.push_back(p); };
  const auto r = krylov_schur(op, opt);
  ASSERT_EQ(r.reason, StopReason::Converged);
  ASSERT_EQ(static_cast<std::int64_t>(log.size()), r.restarts + 1);
  for (std::size_t i = 0; i < log.size(); ++i) {
    EXPECT_EQ(log[i].restart, static_cast<int>(i));
    if (i > 0) {
      EXPECT_GT(log[i].matvecs, log[i - 1].matvecs);
    }
  }
  EXPECT_LE(log.back().matvecs, r.matvecs);
  EXPECT_EQ(log.back().converged, 6);
  EXPECT_LE(log.back().worst_estimate, opt.tol);
  // Deterministic for a given seed; a different seed gives the same eigenvalues.
  const auto again = krylov_schur(op, opt);
  EXPECT_EQ(again.values, r.values);
  opt.seed = 99;
  expect_values_match(krylov_schur(op, opt).values, r.values, 1e-10);
}

TEST(KrylovSchur, OneRestartOnAHardProblemReportsMaxRestarts) {
  at::manual_seed(15);
  ConvOperator op(at::randn({6, 6, 3, 3}, at::kDouble), 10, 10);
  KrylovSchurOptions opt;
  opt.k = 10;
  opt.ncv = 22;
  opt.which = Which::LR;
  opt.tol = 1e-14;
  opt.max_restarts = 1;
  EigResult r;
  ASSERT_NO_THROW(r = krylov_schur(op, opt));
  EXPECT_EQ(r.reason, StopReason::MaxRestarts);
  EXPECT_EQ(r.restarts, 1);
  ASSERT_EQ(r.values.size(), 10);
  ASSERT_EQ(r.residuals.size(), 10);
  EXPECT_FALSE(r.all_converged());
  for (Eigen::Index i = 0; i < 10; ++i) {
    EXPECT_TRUE(std::isfinite(r.residuals(i)));
    EXPECT_EQ(r.converged(i), r.residuals(i) <= opt.tol * scale_of(r.values(i)));
  }
}

TEST(KrylovSchur, RejectsBadOptions) {
  ConvOperator op(at::randn({3, 3, 3, 3}, at::kDouble), 8, 8);  // n = 192
  auto with = [](auto edit) {
    KrylovSchurOptions o;
    edit(o);
    return o;
  };
  EXPECT_THROW(krylov_schur(op, with([](auto& o) { o.k = 0; })), ValueError);
  EXPECT_THROW(krylov_schur(op, with([](auto& o) { o.k = 191; })), ValueError);  // use dense
  EXPECT_THROW(krylov_schur(op, with([](auto& o) { o.ncv = 11; })), ValueError);
  EXPECT_THROW(krylov_schur(op, with([](auto& o) { o.ncv = 193; })), ValueError);
  EXPECT_THROW(krylov_schur(op, with([](auto& o) { o.tol = 0.0; })), ValueError);
  EXPECT_THROW(krylov_schur(op, with([](auto& o) { o.tol = 1.0; })), ValueError);
  EXPECT_THROW(krylov_schur(op, with([](auto& o) { o.tol = std::nan(""); })), ValueError);
  EXPECT_THROW(krylov_schur(op, with([](auto& o) { o.max_restarts = -1; })), ValueError);
  EXPECT_THROW(krylov_schur(op, with([](auto& o) { o.start = at::ones({191}, at::kDouble); })), ValueError);
  EXPECT_THROW(krylov_schur(op, with([](auto& o) { o.start = at::zeros({192}, at::kDouble); })), ValueError);
  EXPECT_THROW(krylov_schur(op, with([](auto& o) { o.start = at::full({192}, NAN, at::kDouble); })),
               ValueError);
  try {
    krylov_schur(op, with([](auto& o) { o.ncv = 5; }));
    FAIL() << "no exception";
  } catch (const ValueError& e) {
    EXPECT_STREQ(e.what(), "krylov-schur: ncv=5 must be in [k+2, n]=[12, 192] (or 0 for automatic)");
  }
  try {
    krylov_schur(op, with([](auto& o) { o.k = 191; }));
    FAIL() << "no exception";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("dense"), std::string::npos) << e.what();
  }
}

TEST(KrylovSchur, Float32MatchesDenseToSinglePrecision) {
  at::manual_seed(16);
  const auto w = at::randn({3, 3, 3, 3}, at::kDouble) / std::sqrt(27.0);
  ConvOperator op32(w, 8, 8, Padding::Zero, at::kFloat);
  ConvOperator op64(w, 8, 8, Padding::Zero, at::kDouble);
  KrylovSchurOptions opt;
  opt.k = 6;
  opt.tol = 1e-5;
  opt.vectors = true;
  const auto r = krylov_schur(op32, opt);
  ASSERT_EQ(r.reason, StopReason::Converged);
  expect_residuals_within_tol(r);
  const auto want = select(dense_eigenvalues(op64), Which::LM, 6);
  for (Eigen::Index i = 0; i < 6; ++i) EXPECT_LT(std::abs(r.values(i) - want(i)), 1e-4) << i;
}

TEST(KrylovSchur, Float32WithAnUnattainableTolReportsHonestly) {
  at::manual_seed(16);
  ConvOperator op(at::randn({3, 3, 3, 3}, at::kDouble) / std::sqrt(27.0), 8, 8, Padding::Zero, at::kFloat);
  KrylovSchurOptions opt;
  opt.k = 6;
  opt.tol = 1e-12;  // below float32 rounding of ||A v||: cannot be met
  opt.max_restarts = 200;
  EigResult r;
  ASSERT_NO_THROW(r = krylov_schur(op, opt));
  EXPECT_EQ(r.reason, StopReason::MaxRestarts);
  EXPECT_LT(r.restarts, 200);  // stopped on stagnation of the true residuals, not by the cap
  EXPECT_FALSE(r.all_converged());
  for (Eigen::Index i = 0; i < 6; ++i) {
    EXPECT_GT(r.residuals(i), opt.tol);
    EXPECT_LT(r.residuals(i), 1e-5);  // still a float32-accurate pair
  }
}
