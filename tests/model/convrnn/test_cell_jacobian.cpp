// Cell state Jacobians (autograd) against the reference, their transposes, and the cells' fixed points.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fixture_path.hpp"
#include "model/convrnn/support.hpp"
#include "linalg/error.hpp"

using namespace convdyn;
using namespace convdyn::model;
using convdyn::testing::fixture;
using namespace convdyn::tests;

TEST(CellJacobian, DenseMatchesReference) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c);
    const auto cell = make_cell(c);
    CellJacobian J(cell, expected().get(c + "/x"), expected().get(c + "/s"), case_drive(c));
    const auto dense = J.to_dense();
    const double err = max_abs(dense, expected().get(c + "/jac"));
    EXPECT_LT(err, 1e-7) << c;
    std::printf("  jacobian %-22s n %4lld  max |err| %.2e\n", c.c_str(), static_cast<long long>(J.size()), err);
  }
}

TEST(CellJacobian, TransposeIsConsistent) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c);
    const auto cell = make_cell(c);
    CellJacobian J(cell, expected().get(c + "/x"), expected().get(c + "/s"), case_drive(c));
    auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
    auto v = at::randn({3, J.size()}, gen, at::kDouble), u = at::randn({3, J.size()}, gen, at::kDouble);
    auto jv = J.apply(v), jtu = J.apply_transpose(u);
    for (int r = 0; r < 3; ++r) {
      const double a = (jv[r] * u[r]).sum().item<double>(), b = (v[r] * jtu[r]).sum().item<double>();
      EXPECT_NEAR(a, b, 1e-11 * (1 + std::abs(a))) << c;
    }
    // Row r of J^T applied to the identity block is J^T e_r = row r of J.
    auto rows = J.apply_transpose(at::eye(J.size(), at::kDouble));
    EXPECT_LT(max_abs(rows, J.to_dense()), 1e-12) << c;
  }
}

TEST(CellJacobian, TimeDecayIsMTimesIdentity) {
  const auto cell = make_cell("timedecay");
  CellJacobian J(cell, expected().get("timedecay/x"), expected().get("timedecay/s"));
  ASSERT_TRUE(J.scalar_multiple().has_value());
  EXPECT_DOUBLE_EQ(*J.scalar_multiple(), 0.65);
  EXPECT_LT(max_abs(J.to_dense(), at::eye(J.size(), at::kDouble) * 0.65), 1e-15);
  EXPECT_FALSE(CellJacobian(make_cell("gru"), expected().get("gru/x"), expected().get("gru/s")).scalar_multiple());
}

TEST(CellJacobian, Float32MatchesFloat64) {
  auto opt = case_options("lstm_k2_ln");
  opt.dtype = at::kFloat;
  const auto cell = ConvRNNCell::from_variables(CellType::LSTM, case_vars("lstm_k2_ln"), 5, 5, opt);
  CellJacobian J(cell, expected().get("lstm_k2_ln/x"), expected().get("lstm_k2_ln/s"));
  EXPECT_EQ(J.dtype(), at::kFloat);
  EXPECT_LT(max_abs(J.to_dense(), expected().get("lstm_k2_ln/jac")), 1e-4);
}

TEST(CellFixedPoint, ConvergesAndIsAFixedPoint) {
  const auto cell = make_cell("gru");
  const auto fp = find_cell_fixed_point(cell, expected().get("gru/x"));
  ASSERT_TRUE(fp.converged) << fp.status << " residual " << fp.residual;
  EXPECT_LT(max_abs(cell.step(expected().get("gru/x"), fp.state), fp.state), 1e-9);
  CellFixedPointOptions one;
  one.max_steps = 1;
  const auto fp1 = find_cell_fixed_point(cell, expected().get("gru/x"), {}, one);
  EXPECT_FALSE(fp1.converged);
  EXPECT_EQ(fp1.status, "max-steps");
  EXPECT_EQ(fp1.steps, 1);
  // timedecay with m > 1 diverges
  auto vars = case_vars("timedecay");
  vars["memory_decay"] = at::full({1}, 1.5, at::kDouble);
  const auto td = ConvRNNCell::from_variables(CellType::TimeDecay, vars, 5, 5, case_options("timedecay"));
  const auto fpd = find_cell_fixed_point(td, expected().get("timedecay/x"));
  EXPECT_EQ(fpd.status, "diverging");
}
