// Second opinions on the eigenproblem: Spectra and ARPACK (and arnoldi-qr where all three share a check), each against the dense ground truth and against its
// own honesty (true residuals).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <memory>
#include <string>
#include <vector>

#include "linalg/error.hpp"
#include "linalg/solvers/arnoldi_qr.hpp"
#include "linalg/solvers/arpack_eigs.hpp"
#include "linalg/solvers/dense_eig.hpp"
#include "linalg/solvers/spectra_eigs.hpp"
#include "linalg/support.hpp"

using namespace convdyn;
using namespace convdyn::linalg;
using namespace convdyn::tests;

namespace {

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

TEST(SecondOpinions, OneIterationReportsMaxRestartsWithHonestResiduals) {
  const auto op = conv(6, 10, 106);
  const auto A = dense_matrix(*op);
  SpectraOptions so;
  so.k = 10;
  so.ncv = 12;
  so.tol = 1e-12;
  so.max_restarts = 1;
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
  ao.max_restarts = 1;
  ao.vectors = true;
  const auto ra = arpack_eigs(*op, ao);
  EXPECT_EQ(ra.reason, StopReason::MaxRestarts);
  ASSERT_EQ(ra.size(), 10);  // the Ritz pairs of the last factorization, not only ARPACK's converged ones
  EXPECT_FALSE(ra.all_converged());
  expect_residuals_are_true(ra, A, "arpack");
}

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
  EXPECT_THROW(spectra_with([](SpectraOptions& o) { o.max_restarts = 0; }), ValueError);
  EXPECT_THROW(arpack_with([](ArpackOptions& o) { o.k = 0; }), ValueError);
  EXPECT_THROW(arpack_with([](ArpackOptions& o) { o.k = 191; }), ValueError);
  EXPECT_THROW(arpack_with([](ArpackOptions& o) { o.ncv = 11; }), ValueError);
  EXPECT_THROW(arpack_with([](ArpackOptions& o) { o.tol = -1e-3; }), ValueError);
  EXPECT_THROW(arpack_with([](ArpackOptions& o) { o.max_restarts = 0; }), ValueError);
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
