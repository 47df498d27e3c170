// Block power iteration: eigenvectors against dense ground truth, and honest reports where the published
// single-vector method fails (complex dominant pair, no gap).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <complex>
#include <vector>

#include "linalg/operators/conv_operator.hpp"
#include "linalg/solvers/dense_eig.hpp"
#include "linalg/error.hpp"
#include "linalg/solvers/power_iteration.hpp"
#include "linalg/support.hpp"

using namespace convdyn;
using namespace convdyn::linalg;
using namespace convdyn::tests;

namespace {

/// S B S^{-1} with S = I + 0.3 G / sqrt(n) (well conditioned, not orthogonal): the eigenvalues of B,
/// a non-normal matrix. `lead` is placed in the top-left corner of B, the rest of the diagonal is uniform
/// in [-bulk, bulk].
at::Tensor with_spectrum(std::int64_t n, const at::Tensor& lead, double bulk, std::uint64_t seed) {
  at::manual_seed(seed);
  auto B = at::diag(at::rand({n}, at::kDouble) * (2 * bulk) - bulk);
  const auto m = lead.size(0);
  B.narrow(0, 0, m).narrow(1, 0, m).copy_(lead);
  const auto S = at::eye(n, at::kDouble) + 0.3 * at::randn({n, n}, at::kDouble) / std::sqrt(double(n));
  return S.mm(B).mm(at::linalg_inv(S));
}

at::Tensor diag_of(std::vector<double> d) {
  return at::diag(at::tensor(d, at::TensorOptions().dtype(at::kDouble)));
}

/// |<u, v>| for unit vectors: 1 when they span the same line.
double overlap(const Eigen::VectorXcd& u, const Eigen::VectorXcd& v) {
  return std::abs(u.dot(v)) / (u.norm() * v.norm());
}

void expect_phase_normalised(const Eigen::MatrixXcd& v) {
  for (Eigen::Index j = 0; j < v.cols(); ++j) {
    EXPECT_NEAR(v.col(j).norm(), 1.0, 1e-12) << "vector " << j;
    Eigen::Index imax = 0;
    v.col(j).cwiseAbs().maxCoeff(&imax);
    EXPECT_EQ(v(imax, j).imag(), 0.0) << "vector " << j;
    EXPECT_GT(v(imax, j).real(), 0.0) << "vector " << j;
  }
}

void expect_converged_within_tol(const EigResult& r) {
  ASSERT_EQ(r.residuals.size(), r.values.size());
  ASSERT_EQ(r.converged.size(), r.values.size());
  for (Eigen::Index i = 0; i < r.values.size(); ++i) {
    EXPECT_LE(r.residuals(i), r.tol * std::max(1.0, std::abs(r.values(i)))) << "pair " << i;
    EXPECT_TRUE(r.converged(i)) << "pair " << i;
  }
  EXPECT_EQ(r.reason, StopReason::Converged);
}

EigResult dense_vectors(const LinearOperator& op) {
  DenseEigOptions d;
  d.vectors = true;
  d.which = Which::LM;
  return dense_eig(op, d);
}

}  // namespace

TEST(PowerIteration, RealDominantEigenvectorMatchesDense) {
  DenseMatrixOperator op(with_spectrum(100, diag_of({3.0}), 1.0, 1));
  PowerReport rep;
  const auto r = power_iteration(op, PowerOptions{}, &rep);
  ASSERT_EQ(r.values.size(), 1);
  expect_converged_within_tol(r);
  EXPECT_NEAR(r.values(0).real(), 3.0, 1e-10);
  EXPECT_EQ(r.values(0).imag(), 0.0);
  const auto d = dense_vectors(op);
  EXPECT_GT(overlap(r.vectors.col(0), d.vectors.col(0)), 1 - 1e-8);
  expect_phase_normalised(r.vectors);
  EXPECT_EQ(r.method, "power");
  EXPECT_FALSE(rep.complex_dominant || rep.tie || rep.small_gap || rep.fell_back || rep.stagnated) << rep.note;
  EXPECT_EQ(rep.block, 10);
  EXPECT_NEAR(rep.gap_ratio, 1.0 / 3.0, 0.05);  // |lambda_2| is just below the bulk edge 1
  EXPECT_EQ(r.matvecs, r.restarts * 10 + 1);     // b per iteration, plus the final residual apply
}

TEST(PowerIteration, TopThreeWithAGapMatchDense) {
  DenseMatrixOperator op(with_spectrum(100, diag_of({5.0, -4.0, 3.0}), 1.5, 2));
  PowerOptions o;
  o.count = 3;
  const auto r = power_iteration(op, o);
  ASSERT_EQ(r.values.size(), 3);
  expect_converged_within_tol(r);
  const auto d = dense_vectors(op);
  for (Eigen::Index i = 0; i < 3; ++i) {
    EXPECT_NEAR(std::abs(r.values(i) - d.values(i)), 0.0, 1e-9) << i;
    EXPECT_GT(overlap(r.vectors.col(i), d.vectors.col(i)), 1 - 1e-8) << i;
  }
  expect_phase_normalised(r.vectors);
}

// {2, -2, +-1.99998} and trials=2 (block 3): the block cannot separate lambda_1 from the cluster in
// max_iters; it must say so quickly instead of running on.
TEST(PowerIteration, NoGapIsReportedWithoutFallback) {
  DenseMatrixOperator op(with_spectrum(100, diag_of({2.0, -2.0, 1.99998, -1.99998}), 1.0, 3));
  PowerOptions o;
  o.trials = 2;
  o.max_iters = 300;
  o.fallback = false;
  PowerReport rep;
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = power_iteration(op, o, &rep);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.0);
  EXPECT_EQ(rep.block, 3);
  EXPECT_FALSE(r.all_converged());
  EXPECT_EQ(r.reason, StopReason::MaxRestarts);
  EXPECT_TRUE(rep.small_gap) << rep.note;
  EXPECT_LT(r.restarts, 300);  // stopped early on the prediction
  EXPECT_FALSE(rep.fell_back);
  EXPECT_EQ(r.method, "power");
  EXPECT_NE(rep.note.find("gap too small"), std::string::npos) << rep.note;
  EXPECT_GT(rep.observed_rate, 0.99);
}

TEST(PowerIteration, NoGapFallsBackToKrylovSchur) {
  DenseMatrixOperator op(with_spectrum(100, diag_of({2.0, -2.0, 1.99998, -1.99998}), 1.0, 3));
  PowerOptions o;
  o.trials = 2;
  o.max_iters = 300;
  PowerReport rep;
  const auto r = power_iteration(op, o, &rep);
  EXPECT_TRUE(rep.small_gap);
  EXPECT_TRUE(rep.fell_back);
  EXPECT_EQ(r.method, "power->krylov-schur");
  EXPECT_NE(rep.note.find("fell back to krylov-schur"), std::string::npos) << rep.note;
  ASSERT_EQ(r.values.size(), 1);
  expect_converged_within_tol(r);
  EXPECT_NEAR(std::abs(r.values(0)), 2.0, 1e-10);
  EXPECT_EQ(r.values(0).imag(), 0.0);
  expect_phase_normalised(r.vectors);
  // The eigenvector is the dense one of the same eigenvalue.
  const auto d = dense_vectors(op);
  for (Eigen::Index j = 0; j < 2; ++j)
    if (std::abs(d.values(j) - r.values(0)) < 1e-8) {
      EXPECT_GT(overlap(r.vectors.col(0), d.vectors.col(j)), 1 - 1e-8);
    }
  EXPECT_GT(r.matvecs, 0);
}

// 2 and -2: single-vector power iteration oscillates forever; a block of 10 separates them.
TEST(PowerIteration, RealTieIsResolvedByTheBlockAndReported) {
  DenseMatrixOperator op(with_spectrum(100, diag_of({2.0, -2.0}), 1.0, 4));
  PowerOptions o;
  o.count = 2;
  PowerReport rep;
  const auto r = power_iteration(op, o, &rep);
  expect_converged_within_tol(r);
  EXPECT_TRUE(rep.tie) << rep.note;
  EXPECT_FALSE(rep.fell_back);
  EXPECT_NEAR(std::abs(r.values(0)), 2.0, 1e-10);
  EXPECT_NEAR(r.values(0).real() + r.values(1).real(), 0.0, 1e-10);
}

TEST(PowerIteration, ComplexDominantPairIsDetectedAndItsVectorReturned) {
  const double c = 2 * std::cos(0.7), s = 2 * std::sin(0.7);
  const auto lead = at::tensor({c, -s, s, c}, at::TensorOptions().dtype(at::kDouble)).reshape({2, 2});
  DenseMatrixOperator op(with_spectrum(100, lead, 1.0, 5));
  PowerReport rep;
  const auto r = power_iteration(op, PowerOptions{}, &rep);
  ASSERT_EQ(r.values.size(), 1);
  expect_converged_within_tol(r);
  EXPECT_TRUE(rep.complex_dominant) << rep.note;
  EXPECT_NE(rep.note.find("complex-conjugate pair"), std::string::npos) << rep.note;
  EXPECT_NEAR(std::abs(r.values(0) - std::polar(2.0, 0.7)), 0.0, 1e-10);  // positive imaginary part first
  EXPECT_GT(r.vectors.col(0).imag().norm(), 0.1);                       // genuinely complex
  expect_phase_normalised(r.vectors);
  const auto d = dense_vectors(op);
  EXPECT_GT(overlap(r.vectors.col(0), d.vectors.col(0)), 1 - 1e-8);

  PowerOptions two;
  two.count = 2;
  const auto r2 = power_iteration(op, two);
  expect_converged_within_tol(r2);
  EXPECT_NEAR(std::abs(r2.values(1) - std::conj(r2.values(0))), 0.0, 1e-10);
}

TEST(PowerIteration, Float32WorksWithALooserTol) {
  DenseMatrixOperator op(with_spectrum(100, diag_of({3.0}), 1.0, 1), at::kFloat);
  PowerOptions o;
  o.tol = 1e-5;
  const auto r = power_iteration(op, o);
  expect_converged_within_tol(r);
  EXPECT_NEAR(r.values(0).real(), 3.0, 1e-5);
  DenseMatrixOperator op64(with_spectrum(100, diag_of({3.0}), 1.0, 1));
  const auto d = dense_vectors(op64);
  EXPECT_GT(overlap(r.vectors.col(0), d.vectors.col(0)), 1 - 1e-8);  // error ~ 1e-6 -> 1 - overlap ~ 1e-12
}

TEST(PowerIteration, Float32UnattainableTolStopsAsStagnated) {
  DenseMatrixOperator op(with_spectrum(100, diag_of({3.0}), 1.0, 1), at::kFloat);
  PowerOptions o;
  o.tol = 1e-12;
  PowerReport rep;
  const auto r = power_iteration(op, o, &rep);
  EXPECT_FALSE(r.all_converged());
  EXPECT_TRUE(rep.stagnated) << rep.note;
  EXPECT_FALSE(rep.fell_back);  // krylov-schur in float32 could not reach it either
  EXPECT_LT(r.restarts, 200);
  EXPECT_LT(r.residuals(0), 1e-4);
}

TEST(PowerIteration, OneIterationGivesMaxRestarts) {
  DenseMatrixOperator op(with_spectrum(100, diag_of({3.0}), 1.0, 1));
  PowerOptions o;
  o.max_iters = 1;
  o.fallback = false;
  const auto r = power_iteration(op, o);
  EXPECT_EQ(r.reason, StopReason::MaxRestarts);
  EXPECT_FALSE(r.converged(0));
  EXPECT_EQ(r.restarts, 1);
  EXPECT_GT(r.residuals(0), 1e-8);
}

TEST(PowerIteration, ConvOperatorTopEigenvalueMatchesDense) {
  at::manual_seed(6);
  ConvOperator op(at::randn({3, 3, 3, 3}, at::kDouble) * 0.3, 8, 8);
  PowerOptions o;
  o.count = 2;
  PowerReport rep;
  const auto r = power_iteration(op, o, &rep);
  expect_converged_within_tol(r);
  const auto d = dense_vectors(op);
  for (Eigen::Index i = 0; i < 2; ++i) {
    EXPECT_NEAR(std::abs(r.values(i) - d.values(i)), 0.0, 1e-9) << i << ": " << rep.note;
    EXPECT_GT(overlap(r.vectors.col(i), d.vectors.col(i)), 1 - 1e-8) << i;
  }
}

TEST(PowerIteration, SmallOperatorBlockIsTheWholeSpace) {
  DenseMatrixOperator op(with_spectrum(4, diag_of({3.0, 1.0}), 0.5, 7));
  PowerOptions o;
  o.count = 4;
  PowerReport rep;
  const auto r = power_iteration(op, o, &rep);
  EXPECT_EQ(rep.block, 4);
  expect_converged_within_tol(r);
}

TEST(PowerIteration, InvalidOptionsThrowValueError) {
  DenseMatrixOperator op(with_spectrum(20, diag_of({3.0}), 1.0, 1));
  auto with = [](auto f) {
    PowerOptions o;
    f(o);
    return o;
  };
  EXPECT_THROW(power_iteration(op, with([](PowerOptions& o) { o.count = 0; })), ValueError);
  EXPECT_THROW(power_iteration(op, with([](PowerOptions& o) { o.count = 21; })), ValueError);
  EXPECT_THROW(power_iteration(op, with([](PowerOptions& o) { o.trials = 0; })), ValueError);
  EXPECT_THROW(power_iteration(op, with([](PowerOptions& o) { o.tol = 0; })), ValueError);
  EXPECT_THROW(power_iteration(op, with([](PowerOptions& o) { o.tol = 1; })), ValueError);
  EXPECT_THROW(power_iteration(op, with([](PowerOptions& o) { o.max_iters = 0; })), ValueError);
  EXPECT_THROW(power_iteration(op, with([](PowerOptions& o) { o.check_every = 0; })), ValueError);
  try {
    power_iteration(op, with([](PowerOptions& o) { o.count = 21; }));
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("count=21 must be in [1, n]=[1, 20]"), std::string::npos) << e.what();
  }
}
