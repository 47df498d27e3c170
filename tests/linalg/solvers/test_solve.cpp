// The solver registry: one list of names, each method reached with the common block and its own extras,
// the same answer as calling the method directly.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>

#include "linalg/error.hpp"
#include "linalg/solvers/arpack_eigs.hpp"
#include "linalg/solvers/solve.hpp"
#include "linalg/solvers/spectra_eigs.hpp"
#include "linalg/support.hpp"

using namespace convdyn;
using namespace convdyn::linalg;
using namespace convdyn::tests;

TEST(Solve, MethodNamesRoundTripAndUnknownOnesListTheChoices) {
  const auto names = method_names();
  ASSERT_EQ(names.size(), all_methods().size());
  EXPECT_EQ(names.front(), "krylov-schur");  // the default comes first
  for (const auto m : all_methods()) EXPECT_EQ(parse_method(to_string(m)), m);
  try {
    parse_method("lanczos");
    FAIL() << "no exception";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("krylov-schur, dense, spectra, arpack, arnoldi-qr"), std::string::npos)
        << e.what();
  }
}

TEST(Solve, EveryMethodAnswersTheSameProblem) {
  const auto op = conv(3, 8, 21);
  SolveOptions o;
  o.common.k = 6;
  o.common.which = Which::LR;
  o.common.tol = 1e-11;
  o.common.vectors = true;
  o.arnoldi_qr.steps = op->size();  // the full space: exact up to rounding
  o.arnoldi_qr.qr_iters = 10;
  o.max_dense_n = op->size();
  o.method = Method::Dense;
  const auto dense = solve(*op, o);
  ASSERT_EQ(dense.size(), 6);
  for (const auto m : all_methods()) {
    o.method = m;
    const auto r = solve(*op, o);
    EXPECT_EQ(r.method, to_string(m));
    EXPECT_EQ(r.which, Which::LR) << to_string(m);
    ASSERT_EQ(r.size(), 6) << to_string(m);
    ASSERT_EQ(r.vectors.cols(), 6) << to_string(m);
    expect_same_values(r.values, dense.values, 1e-8, to_string(m));
  }
}

TEST(Solve, OptionsReachTheMethodAndMatchADirectCall) {
  const auto op = conv(4, 8, 22);
  SolveOptions o;
  o.common.k = 5;
  o.common.which = Which::LM;
  o.common.ncv = 14;
  o.common.seed = 3;
  o.method = Method::Spectra;
  SpectraOptions s;
  s.k = 5;
  s.which = Which::LM;
  s.ncv = 14;
  s.seed = 3;
  const auto via = solve(*op, o), direct = spectra_eigs(*op, s);
  EXPECT_EQ(via.values, direct.values);  // same seed and options: the same numbers to the last bit
  EXPECT_EQ(via.matvecs, direct.matvecs);
  // The common max_restarts is ARPACK's maxiter: one restart is not enough at this tolerance.
  o.method = Method::Arpack;
  o.common.max_restarts = 1;
  o.common.tol = 1e-14;
  const auto one = solve(*op, o);
  EXPECT_EQ(one.reason, StopReason::MaxRestarts);
  o.common.max_restarts = 1000;
  EXPECT_GT(solve(*op, o).matvecs, one.matvecs);
  // Krylov–Schur's extras and the common ncv: an invalid ncv is reported under its common name.
  o.method = Method::KrylovSchur;
  o.common.ncv = 3;
  try {
    solve(*op, o);
    FAIL() << "no exception";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("krylov-schur: ncv=3"), std::string::npos) << e.what();
  }
  // arnoldi-qr's extras: the step count is its whole budget.
  o.method = Method::ArnoldiQr;
  o.common.ncv = 0;
  o.arnoldi_qr.steps = 12;
  o.arnoldi_qr.qr_iters = 0;
  const auto aqr = solve(*op, o);
  EXPECT_GE(aqr.matvecs, 12);
  EXPECT_LE(aqr.matvecs, 12 + 2 * 5);  // plus the residual check
}

TEST(Solve, KZeroMeansAllAndOnlyForDense) {
  const auto op = conv(1, 4, 23);
  SolveOptions o;
  o.common.k = 0;
  o.method = Method::Dense;
  EXPECT_EQ(solve(*op, o).size(), op->size());
  for (const auto m : {Method::KrylovSchur, Method::Spectra, Method::Arpack, Method::ArnoldiQr}) {
    o.method = m;
    EXPECT_THROW(solve(*op, o), ValueError) << to_string(m);
  }
  o.common.k = -1;
  o.method = Method::Dense;
  EXPECT_THROW(solve(*op, o), ValueError);
}
