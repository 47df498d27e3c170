// The published CordsNet method (arnoldi-qr): reproduces dense on the full space, reports honest residuals
// otherwise.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <memory>
#include <string>
#include <vector>

#include "linalg/error.hpp"
#include "linalg/solvers/arnoldi_qr.hpp"
#include "linalg/solvers/dense_eig.hpp"
#include "linalg/support.hpp"

using namespace convdyn;
using namespace convdyn::linalg;
using namespace convdyn::tests;

TEST(ArnoldiQr, FullSpaceReproducesDense) {
  const auto op = conv(3, 8, 103);
  for (Which w : {Which::LM, Which::LR}) {
    const auto dense = dense_eig(*op, {.which = w, .k = 10});
    ArnoldiQrOptions o;
    o.k = 10;
    o.steps = 1000;  // clamped to n = 192
    o.qr_iters = 20;
    o.which = w;
    o.tol = 1e-8;
    const auto r = arnoldi_qr(*op, o);
    EXPECT_EQ(r.method, "arnoldi-qr");
    EXPECT_EQ(r.restarts, 0);
    EXPECT_GE(r.matvecs, 192);
    expect_same_values(r.values, dense.values, 1e-8, std::string("arnoldi-qr ") + to_string(w));
    for (Eigen::Index i = 0; i < r.size(); ++i) EXPECT_TRUE(r.converged(i)) << i << " res " << r.residuals(i);
  }
}

TEST(ArnoldiQr, ShortRunReportsHonestResiduals) {
  const auto op = conv(6, 10, 106);
  const auto A = dense_matrix(*op);
  ArnoldiQrOptions o;
  o.k = 10;
  o.steps = 20;
  o.qr_iters = 100;
  o.which = Which::LR;
  o.vectors = true;
  const auto r = arnoldi_qr(*op, o);
  ASSERT_EQ(r.size(), 10);
  EXPECT_EQ(r.reason, StopReason::MaxRestarts);
  Eigen::Index unconverged = 0;
  for (Eigen::Index i = 0; i < r.size(); ++i) {
    EXPECT_EQ(r.converged(i), r.residuals(i) <= r.tol * scale_of(r.values(i)));
    unconverged += !r.converged(i);
  }
  EXPECT_GT(unconverged, 0);
  EXPECT_GT(r.residuals.maxCoeff(), 1e-4);  // 20 steps are far from converged on this operator
  expect_residuals_are_true(r, A, "arnoldi-qr");
}

TEST(ArnoldiQr, Float32IsLimitedToSinglePrecision) {
  const auto op64 = conv(3, 8, 103);
  const auto op32 = conv(3, 8, 103, at::kFloat);
  const auto dense = dense_eig(*op64, {.which = Which::LM, .k = 4});
  ArnoldiQrOptions o;
  o.k = 4;
  o.steps = 60;
  o.qr_iters = 50;
  const auto r = arnoldi_qr(*op32, o);
  expect_same_values(r.values, dense.values, 1e-3, "arnoldi-qr float32");
  EXPECT_FALSE(r.all_converged());  // tol 1e-10 is out of reach in float32, and the flags say so
  EXPECT_LT(r.residuals.maxCoeff(), 1e-2);
}

TEST(ArnoldiQr, StopsAtAnExactBreakdown) {
  // The zero operator: the first step gives w = 0 exactly, so the loop stops instead of dividing by 0.
  ConvOperator zero(at::zeros({2, 2, 3, 3}, at::kDouble), 4, 4);
  ArnoldiQrOptions o;
  o.k = 1;
  o.steps = 10;
  const auto r = arnoldi_qr(zero, o);
  ASSERT_EQ(r.size(), 1);
  EXPECT_EQ(r.values(0), cd(0.0, 0.0));
  EXPECT_EQ(r.residuals(0), 0.0);
  EXPECT_TRUE(r.all_converged());
  EXPECT_EQ(r.reason, StopReason::Converged);
  EXPECT_EQ(r.matvecs, 2);  // one Arnoldi step and the residual check
}
