// Second opinions on the eigenproblem: Spectra, ARPACK and the published CordsNet method (arnoldi-qr),
// each checked against the dense ground truth and against its own honesty (true residuals).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <memory>
#include <string>
#include <vector>

#include "linalg/arnoldi_qr.hpp"
#include "linalg/arpack_eigs.hpp"
#include "linalg/conv_operator.hpp"
#include "linalg/dense_eig.hpp"
#include "linalg/error.hpp"
#include "linalg/spectra_eigs.hpp"

using namespace convdyn;
using namespace convdyn::linalg;
using cd = std::complex<double>;

namespace {

double scale_of(const cd& z) { return std::max(1.0, std::abs(z)); }

/// Fixture-like recurrent conv: random C x C x 3 x 3 kernel ~ randn / sqrt(9 C), zero padding.
std::unique_ptr<ConvOperator> conv(std::int64_t channels, std::int64_t size, std::uint64_t seed,
                                   c10::ScalarType dtype = at::kDouble) {
  at::manual_seed(seed);
  const auto w = at::randn({channels, channels, 3, 3}, at::kDouble) / std::sqrt(9.0 * double(channels));
  return std::make_unique<ConvOperator>(w, size, size, Padding::Zero, dtype);
}

Eigen::MatrixXd dense_matrix(const LinearOperator& op) {
  const auto a = op.to_dense().contiguous();
  return Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
      a.data_ptr<double>(), a.size(0), a.size(1));
}

/// Every value of `got` is within rel of a value of `want` and vice versa (nearest matching: robust to
/// the order of near-ties).
void expect_same_values(const Eigen::VectorXcd& got, const Eigen::VectorXcd& want, double rel,
                        const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  auto nearest = [](const cd& z, const Eigen::VectorXcd& set) {
    double d = INFINITY;
    for (Eigen::Index j = 0; j < set.size(); ++j) d = std::min(d, std::abs(set(j) - z));
    return d;
  };
  for (Eigen::Index i = 0; i < got.size(); ++i) {
    EXPECT_LE(nearest(got(i), want), rel * scale_of(got(i))) << what << ": value " << i << " = " << got(i);
    EXPECT_LE(nearest(want(i), got), rel * scale_of(want(i))) << what << ": dense value " << i << " = " << want(i);
  }
}

void expect_honest_and_converged(const EigResult& r, std::int64_t k, const std::string& what) {
  ASSERT_EQ(r.size(), k) << what;
  ASSERT_EQ(r.residuals.size(), k) << what;
  ASSERT_EQ(r.converged.size(), k) << what;
  for (Eigen::Index i = 0; i < k; ++i) {
    EXPECT_LE(r.residuals(i), r.tol * scale_of(r.values(i))) << what << ": pair " << i;
    EXPECT_TRUE(r.converged(i)) << what << ": pair " << i;
  }
  EXPECT_EQ(r.reason, StopReason::Converged) << what;
}

/// The reported residuals are the residuals of the reported vectors, recomputed from the dense matrix.
void expect_residuals_are_true(const EigResult& r, const Eigen::MatrixXd& A, const std::string& what) {
  ASSERT_EQ(r.vectors.cols(), r.size()) << what;
  for (Eigen::Index i = 0; i < r.size(); ++i) {
    const Eigen::VectorXcd v = r.vectors.col(i);
    EXPECT_NEAR(v.norm(), 1.0, 1e-12) << what;
    const double res = (A.cast<cd>() * v - r.values(i) * v).norm();
    EXPECT_NEAR(r.residuals(i), res, 1e-12 + 1e-6 * res) << what << ": pair " << i;
  }
}

struct Case {
  std::int64_t channels, size;
  Which which;
};
std::string case_name(const testing::TestParamInfo<Case>& info) {
  return fmt::format("C{}_{}x{}_{}", info.param.channels, info.param.size, info.param.size,
                     to_string(info.param.which));
}
const Case kCases[] = {{3, 8, Which::LM}, {3, 8, Which::LR}, {6, 10, Which::LM}, {6, 10, Which::LR}};

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Spectra and ARPACK agree with dense in float64, with true residuals within tol.

class SecondOpinionsMatchDense : public testing::TestWithParam<Case> {};

TEST_P(SecondOpinionsMatchDense, SpectraTopTen) {
  const auto& c = GetParam();
  const auto op = conv(c.channels, c.size, 100 + static_cast<std::uint64_t>(c.channels));
  const auto dense = dense_eig(*op, {.which = c.which, .k = 10});
  SpectraOptions o;
  o.k = 10;
  o.which = c.which;
  o.tol = 1e-11;
  const auto r = spectra_eigs(*op, o);
  EXPECT_EQ(r.method, "spectra");
  EXPECT_GT(r.matvecs, 0);
  expect_honest_and_converged(r, 10, "spectra");
  expect_same_values(r.values, dense.values, 1e-9, "spectra");
}

TEST_P(SecondOpinionsMatchDense, ArpackTopTen) {
  const auto& c = GetParam();
  const auto op = conv(c.channels, c.size, 100 + static_cast<std::uint64_t>(c.channels));
  const auto dense = dense_eig(*op, {.which = c.which, .k = 10});
  ArpackOptions o;
  o.k = 10;
  o.which = c.which;
  o.tol = 1e-11;
  const auto r = arpack_eigs(*op, o);
  EXPECT_EQ(r.method, "arpack");
  EXPECT_GT(r.matvecs, 0);
  EXPECT_GE(r.restarts, 1);
  expect_honest_and_converged(r, 10, "arpack");
  expect_same_values(r.values, dense.values, 1e-9, "arpack");
}

INSTANTIATE_TEST_SUITE_P(Conv, SecondOpinionsMatchDense, testing::ValuesIn(kCases), case_name);

TEST(SecondOpinions, VectorsAreUnitAndResidualsAreTrue) {
  const auto op = conv(6, 10, 106);
  const auto A = dense_matrix(*op);
  SpectraOptions so;
  so.k = 6;
  so.which = Which::LR;
  so.vectors = true;
  expect_residuals_are_true(spectra_eigs(*op, so), A, "spectra");
  ArpackOptions ao;
  ao.k = 6;
  ao.which = Which::LM;
  ao.vectors = true;
  expect_residuals_are_true(arpack_eigs(*op, ao), A, "arpack");
  ArnoldiQrOptions qo;
  qo.k = 6;
  qo.steps = 15;
  qo.qr_iters = 10;
  qo.vectors = true;
  expect_residuals_are_true(arnoldi_qr(*op, qo), A, "arnoldi-qr");
}

TEST(SecondOpinions, OtherSelectionRulesMatchDense) {
  const auto op = conv(3, 8, 103);
  for (Which w : {Which::SR, Which::LI}) {
    const auto dense = dense_eig(*op, {.which = w, .k = 6});
    SpectraOptions so;
    so.k = 6;
    so.which = w;
    expect_same_values(spectra_eigs(*op, so).values, dense.values, 1e-8, std::string("spectra ") + to_string(w));
    ArpackOptions ao;
    ao.k = 6;
    ao.which = w;
    expect_same_values(arpack_eigs(*op, ao).values, dense.values, 1e-8, std::string("arpack ") + to_string(w));
  }
}

TEST(SecondOpinions, SpectraAdaptorAppliesTheOperatorInItsDtype) {
  for (auto dtype : {at::kDouble, at::kFloat}) {
    const auto op = conv(3, 8, 7, dtype);
    const auto x = at::randn({op->size()}, at::kDouble);
    Eigen::VectorXd y(op->size());
    SpectraOperator(*op).perform_op(x.data_ptr<double>(), y.data());
    const auto want = op->apply(x.to(dtype)).to(at::kDouble);
    EXPECT_EQ(SpectraOperator(*op).rows(), 192);
    for (Eigen::Index i = 0; i < y.size(); ++i) ASSERT_EQ(y(i), want[i].item<double>());
  }
}

// ---------------------------------------------------------------------------------------------------
// Non-convergence is a result: k pairs with honest residuals and reason MaxRestarts.

TEST(SecondOpinions, OneIterationReportsMaxRestartsWithHonestResiduals) {
  const auto op = conv(6, 10, 106);
  const auto A = dense_matrix(*op);
  SpectraOptions so;
  so.k = 10;
  so.ncv = 12;
  so.tol = 1e-12;
  so.max_iterations = 1;
  so.vectors = true;
  const auto rs = spectra_eigs(*op, so);
  EXPECT_EQ(rs.reason, StopReason::MaxRestarts);
  ASSERT_EQ(rs.size(), 10);
  EXPECT_FALSE(rs.all_converged());
  expect_residuals_are_true(rs, A, "spectra");

  ArpackOptions ao;
  ao.k = 10;
  ao.ncv = 12;
  ao.tol = 1e-12;
  ao.max_iterations = 1;
  ao.vectors = true;
  const auto ra = arpack_eigs(*op, ao);
  EXPECT_EQ(ra.reason, StopReason::MaxRestarts);
  ASSERT_EQ(ra.size(), 10);  // the Ritz pairs of the last factorization, not only ARPACK's converged ones
  EXPECT_FALSE(ra.all_converged());
  expect_residuals_are_true(ra, A, "arpack");
}

// ---------------------------------------------------------------------------------------------------
// The published method: exact in the full space, visibly wrong after a short run.

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

// ---------------------------------------------------------------------------------------------------
// Bad options.

TEST(SecondOpinions, RejectBadOptions) {
  const auto op = conv(3, 8, 103);  // n = 192
  auto spectra_with = [&](auto set) {
    SpectraOptions o;
    set(o);
    return spectra_eigs(*op, o);
  };
  auto arpack_with = [&](auto set) {
    ArpackOptions o;
    set(o);
    return arpack_eigs(*op, o);
  };
  auto qr_with = [&](auto set) {
    ArnoldiQrOptions o;
    o.qr_iters = 1;
    set(o);
    return arnoldi_qr(*op, o);
  };
  EXPECT_THROW(spectra_with([](SpectraOptions& o) { o.k = 0; }), ValueError);
  EXPECT_THROW(spectra_with([](SpectraOptions& o) { o.k = 191; }), ValueError);
  EXPECT_THROW(spectra_with([](SpectraOptions& o) { o.ncv = 11; }), ValueError);
  EXPECT_THROW(spectra_with([](SpectraOptions& o) { o.ncv = 193; }), ValueError);
  EXPECT_THROW(spectra_with([](SpectraOptions& o) { o.tol = 0.0; }), ValueError);
  EXPECT_THROW(spectra_with([](SpectraOptions& o) { o.tol = 1.0; }), ValueError);
  EXPECT_THROW(spectra_with([](SpectraOptions& o) { o.max_iterations = 0; }), ValueError);
  EXPECT_THROW(arpack_with([](ArpackOptions& o) { o.k = 0; }), ValueError);
  EXPECT_THROW(arpack_with([](ArpackOptions& o) { o.k = 191; }), ValueError);
  EXPECT_THROW(arpack_with([](ArpackOptions& o) { o.ncv = 11; }), ValueError);
  EXPECT_THROW(arpack_with([](ArpackOptions& o) { o.tol = -1e-3; }), ValueError);
  EXPECT_THROW(arpack_with([](ArpackOptions& o) { o.max_iterations = 0; }), ValueError);
  EXPECT_THROW(qr_with([](ArnoldiQrOptions& o) { o.steps = 0; }), ValueError);
  EXPECT_THROW(qr_with([](ArnoldiQrOptions& o) { o.k = 0; }), ValueError);
  EXPECT_THROW(qr_with([](ArnoldiQrOptions& o) { o.steps = 5, o.k = 6; }), ValueError);
  EXPECT_THROW(qr_with([](ArnoldiQrOptions& o) { o.qr_iters = -1; }), ValueError);
  EXPECT_THROW(qr_with([](ArnoldiQrOptions& o) { o.tol = 2.0; }), ValueError);
  try {
    spectra_with([](SpectraOptions& o) { o.ncv = 11; });
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("ncv=11 must be in [k+2, n]=[12, 192]"), std::string::npos) << e.what();
  }
}

TEST(SecondOpinions, ArpackErrorCodesHaveTheirMeaning) {
  EXPECT_EQ(arpack_info_message("dnaupd", 1), "maximum number of iterations taken");
  EXPECT_NE(arpack_info_message("dnaupd", -9).find("starting vector is zero"), std::string::npos);
  EXPECT_NE(arpack_info_message("dneupd", -9).find("dtrevc"), std::string::npos);
  EXPECT_EQ(arpack_info_message("dnaupd", -42), "unknown ARPACK error code");
}
