#include <ATen/ATen.h>
#include <Eigen/Eigenvalues>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <complex>
#include <vector>

#include "linalg/conv_operator.hpp"
#include "linalg/dense_eig.hpp"
#include "linalg/detail/krylov_schur_decomposition.hpp"
#include "linalg/detail/ordered_schur.hpp"
#include "linalg/error.hpp"
#include "linalg/krylov_schur.hpp"

using namespace convdyn;
using namespace convdyn::linalg;
using cd = std::complex<double>;
namespace ksd = convdyn::linalg::detail;

namespace {

/// y = A x for an explicit (n, n) matrix.
class DenseMatrixOperator final : public LinearOperator {
 public:
  explicit DenseMatrixOperator(const at::Tensor& A, c10::ScalarType dtype = at::kDouble)
      : LinearOperator(A.size(0), dtype, c10::Device(c10::kCPU)), A_(A.to(dtype).contiguous()) {}
  std::string describe() const override { return fmt::format("dense {}x{}", size(), size()); }

 private:
  at::Tensor apply_impl(const at::Tensor& x) const override { return at::mm(x, A_.t()); }
  at::Tensor A_;
};

Eigen::MatrixXd to_eigen(const at::Tensor& t) {
  const auto c = t.to(at::kCPU, at::kDouble).contiguous();
  return Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
      c.data_ptr<double>(), c.size(0), c.size(1));
}

Eigen::VectorXcd dense_eigenvalues(const LinearOperator& op) {
  Eigen::EigenSolver<Eigen::MatrixXd> es(to_eigen(op.to_dense()), /*computeEigenvectors=*/false);
  return es.eigenvalues();
}

double scale_of(const cd& z) { return std::max(1.0, std::abs(z)); }
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

void expect_values_match(const Eigen::VectorXcd& got, const Eigen::VectorXcd& want, double rel) {
  ASSERT_EQ(got.size(), want.size());
  for (Eigen::Index i = 0; i < got.size(); ++i)
    EXPECT_LE(std::abs(got(i) - want(i)), rel * std::abs(want(i)))
        << "value " << i << ": got " << got(i) << ", dense " << want(i);
}

void expect_residuals_within_tol(const EigResult& r) {
  ASSERT_EQ(r.residuals.size(), r.values.size());
  ASSERT_EQ(r.converged.size(), r.values.size());
  for (Eigen::Index i = 0; i < r.values.size(); ++i) {
    EXPECT_LE(r.residuals(i), r.tol * scale_of(r.values(i))) << "pair " << i << " lambda=" << r.values(i);
    EXPECT_TRUE(r.converged(i)) << "pair " << i;
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// The projected problem: ordered real Schur forms.

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

// ---------------------------------------------------------------------------------------------------
// The Krylov–Schur decomposition.

// Parameter: always_twice (CGS2) or single-pass Gram–Schmidt with the DGKS test.
class KrylovSchurDecompositionRelation : public ::testing::TestWithParam<bool> {};

TEST_P(KrylovSchurDecompositionRelation, HoldsAfterRestartsAndLocking) {
  at::manual_seed(21);
  ConvOperator op(at::randn({6, 6, 3, 3}, at::kDouble), 10, 10);
  const double anorm = to_eigen(op.to_dense()).norm();
  ksd::KrylovSchurDecomposition dec(op, 30, /*seed=*/3, at::Tensor(), 0, /*always_twice=*/GetParam());
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
  EXPECT_EQ(dec.always_twice(), GetParam());
  if (!GetParam()) {
    EXPECT_GT(dec.orthogonality_loss(), 0.0);
    EXPECT_LE(dec.orthogonality_loss(), dec.orthogonality_limit());
  }
}

INSTANTIATE_TEST_SUITE_P(GramSchmidt, KrylovSchurDecompositionRelation, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Cgs2" : "SinglePassIfNeeded"; });

// ---------------------------------------------------------------------------------------------------
// The solver against dense ground truth.

class KrylovSchurMatchesDense
    : public ::testing::TestWithParam<std::tuple<int, int, Which>> {};  // channels, grid, which

TEST_P(KrylovSchurMatchesDense, TopTenInWhichOrder) {
  const auto [C, hw, which] = GetParam();
  at::manual_seed(100 + C);
  ConvOperator op(at::randn({C, C, 3, 3}, at::kDouble) / std::sqrt(9.0 * C), hw, hw);
  KrylovSchurOptions opt;
  opt.k = 10;
  opt.which = which;
  opt.tol = 1e-12;
  const auto r = krylov_schur(op, opt);
  EXPECT_EQ(r.reason, StopReason::Converged);
  EXPECT_EQ(r.method, "krylov-schur");
  EXPECT_EQ(r.which, which);
  EXPECT_EQ(r.tol, 1e-12);
  EXPECT_GT(r.matvecs, 0);
  expect_residuals_within_tol(r);
  expect_values_match(r.values, select(dense_eigenvalues(op), which, 10), 1e-9);
}

INSTANTIATE_TEST_SUITE_P(Conv, KrylovSchurMatchesDense,
                         ::testing::Values(std::make_tuple(3, 8, Which::LM), std::make_tuple(3, 8, Which::LR),
                                           std::make_tuple(6, 10, Which::LM),
                                           std::make_tuple(6, 10, Which::LR)));

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
  KrylovSchurOptions opt;
  opt.k = 4;
  opt.which = Which::LM;
  opt.vectors = true;
  const auto r = krylov_schur(op, opt);
  ASSERT_EQ(r.reason, StopReason::Converged);
  EXPECT_LT(std::abs(r.values(0) - cd(0.5, 2.0)), 1e-10);
  EXPECT_LT(std::abs(r.values(1) - cd(0.5, -2.0)), 1e-10);
  EXPECT_LT((r.vectors.col(1) - r.vectors.col(0).conjugate()).norm(), 1e-14);
  expect_residuals_within_tol(r);
  expect_values_match(r.values, select(dense_eigenvalues(op), Which::LM, 4), 1e-9);
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
  opt.m = 10;
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
  opt.m = 14;
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

// ---------------------------------------------------------------------------------------------------
// Failure paths: non-convergence is a result, bad options are errors.

TEST(KrylovSchur, OneRestartOnAHardProblemReportsMaxRestarts) {
  at::manual_seed(15);
  ConvOperator op(at::randn({6, 6, 3, 3}, at::kDouble), 10, 10);
  KrylovSchurOptions opt;
  opt.k = 10;
  opt.m = 22;
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
  EXPECT_THROW(krylov_schur(op, with([](auto& o) { o.m = 11; })), ValueError);
  EXPECT_THROW(krylov_schur(op, with([](auto& o) { o.m = 193; })), ValueError);
  EXPECT_THROW(krylov_schur(op, with([](auto& o) { o.tol = 0.0; })), ValueError);
  EXPECT_THROW(krylov_schur(op, with([](auto& o) { o.tol = 1.0; })), ValueError);
  EXPECT_THROW(krylov_schur(op, with([](auto& o) { o.tol = std::nan(""); })), ValueError);
  EXPECT_THROW(krylov_schur(op, with([](auto& o) { o.max_restarts = -1; })), ValueError);
  EXPECT_THROW(krylov_schur(op, with([](auto& o) { o.start = at::ones({191}, at::kDouble); })), ValueError);
  EXPECT_THROW(krylov_schur(op, with([](auto& o) { o.start = at::zeros({192}, at::kDouble); })), ValueError);
  EXPECT_THROW(krylov_schur(op, with([](auto& o) { o.start = at::full({192}, NAN, at::kDouble); })),
               ValueError);
  try {
    krylov_schur(op, with([](auto& o) { o.m = 5; }));
    FAIL() << "no exception";
  } catch (const ValueError& e) {
    EXPECT_STREQ(e.what(), "krylov-schur: m=5 must be in [k+2, n]=[12, 192] (or 0 for automatic)");
  }
  try {
    krylov_schur(op, with([](auto& o) { o.k = 191; }));
    FAIL() << "no exception";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("dense"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------------
// Single precision: Krylov basis and Gram–Schmidt in float32.

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

// ---------------------------------------------------------------------------------------------------
// Beyond dense reach: residuals only.

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

  o.verify = true;
  const auto ver = krylov_schur(op, o);
  certified(ver, "default m, verify");
  EXPECT_TRUE(matches(ver));
  EXPECT_GE(ver.search_rounds, 1);
  EXPECT_EQ(ver.search_found, 0);
  EXPECT_TRUE(ver.search_complete);

  o.m = 41;
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
