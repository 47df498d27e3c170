// ConvRNN zoo cells against the numpy reference: one-step updates, outputs, layouts, the linear parts and bad
// variables.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fixture_path.hpp"
#include "linalg/operators/same_conv_operator.hpp"
#include "model/convrnn/support.hpp"
#include "linalg/error.hpp"

using namespace convdyn;
using namespace convdyn::model;
using convdyn::testing::fixture;
using namespace convdyn::tests;
using convdyn::linalg::SameConvOperator;
using convdyn::linalg::conv2d_same;

TEST(ConvRNNCell, StepMatchesReference) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c);
    const auto cell = make_cell(c);
    const auto next = cell.step(expected().get(c + "/x"), expected().get(c + "/s"), case_drive(c));
    const double err = max_abs(next, expected().get(c + "/next"));
    EXPECT_LT(err, 1e-10) << c;
    std::printf("  step %-24s %-60s max |err| %.2e\n", c.c_str(), cell.describe().c_str(), err);
  }
}

TEST(ConvRNNCell, IntersectionRnnOutputDiffersFromState) {
  const auto cell = make_cell("intersectionrnn");
  const auto& x = expected().get("intersectionrnn/x");
  const auto& s = expected().get("intersectionrnn/s");
  EXPECT_LT(max_abs(cell.output(x, s), expected().get("intersectionrnn/output")), 1e-10);
  EXPECT_GT(max_abs(cell.output(x, s), cell.step(x, s)), 1e-3);
}

TEST(ConvRNNCell, StateLayoutsAndKernels) {
  EXPECT_EQ(make_cell("gru").state_layout(), "[h]");
  EXPECT_EQ(make_cell("lstm_k2_ln").state_layout(), "[c; h]");
  EXPECT_EQ(make_cell("lstm_k2_ln").state_channels(), 6);
  EXPECT_EQ(make_cell("lstm_k2_ln").kernel_sizes(), std::vector<std::int64_t>{2});
  EXPECT_EQ(make_cell("lstm_k4_ln").kernel_sizes(), std::vector<std::int64_t>{4});
  EXPECT_TRUE(make_cell("lstm_k3_ln_peep").peepholes());
  EXPECT_TRUE(make_cell("lstm_k3_ln_peep").layer_norm());
  EXPECT_FALSE(make_cell("lstm_k3").layer_norm());
  const auto rgc = make_cell("rgc_intermediate");
  EXPECT_EQ(rgc.state_layout(), "[c; h]");
  EXPECT_EQ(rgc.state_channels(), 3 + 4);
  EXPECT_EQ(rgc.kernel_sizes(), (std::vector<std::int64_t>{1, 2, 3, 7}));
  EXPECT_EQ(rgc.residual_channels(), 2);
  EXPECT_EQ(rgc.feedback_channels(), 2);
  EXPECT_TRUE(make_cell("timedecay").kernel_sizes().empty());
}

TEST(ConvRNNCell, CellTypeFromScope) {
  EXPECT_EQ(cell_type_from_scope("ConvGRUCell/gates/weights"), CellType::GRU);
  EXPECT_EQ(cell_type_from_scope("ConvLSTMCell/peepholes/w_f_diag"), CellType::LSTM);
  EXPECT_EQ(cell_type_from_scope("ConvNormBasicCell/s/bias"), CellType::SimpleRNN);
  EXPECT_EQ(cell_type_from_scope("ConvUGRNNCell/weights"), CellType::UGRNN);
  EXPECT_EQ(cell_type_from_scope("ConvIntersectionRNNCell/bias"), CellType::IntersectionRNN);
  EXPECT_EQ(cell_type_from_scope("ReciprocalGateCell/cell/tau/weights"), CellType::RGCShallow);
  EXPECT_EQ(cell_type_from_scope("ReciprocalGateCell/cell/tau/depthwise_weights"), CellType::RGCIntermediate);
  EXPECT_EQ(cell_type_from_scope("ReciprocalGateCell/cell/input_to_cell_weights"), CellType::RGCIntermediate);
  EXPECT_EQ(cell_type_from_scope("memory_decay"), CellType::TimeDecay);
  EXPECT_FALSE(cell_type_from_scope("pre_0/weights_basenet"));
  EXPECT_FALSE(cell_type_from_scope("post_0/bias"));
}

TEST(ConvRNNCell, BadVariablesAreValueErrors) {
  auto expect_msg = [](auto&& f, const std::string& needle) {
    try {
      f();
      ADD_FAILURE() << "no exception; expected one mentioning " << needle;
    } catch (const ValueError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(needle), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  };
  auto gru = case_vars("gru");
  auto bad = gru;
  bad["ConvGRUCell/candidates/weights"] = at::zeros({3, 3, 5, 2}, at::kDouble);
  expect_msg([&] { ConvRNNCell::from_variables(CellType::GRU, bad, 5, 5); }, "ConvGRUCell/candidates/weights");
  bad = gru;
  bad.erase("ConvGRUCell/gates/bias");
  expect_msg([&] { ConvRNNCell::from_variables(CellType::GRU, bad, 5, 5); }, "missing variable ConvGRUCell/gates/bias");
  bad = gru;
  bad["ConvGRUCell/r_pre/gamma"] = at::ones({3}, at::kDouble);
  expect_msg([&] { ConvRNNCell::from_variables(CellType::GRU, bad, 5, 5); }, "unsupported variable ConvGRUCell/r_pre/gamma");
  bad = gru;
  bad["ConvGRUCell/gates/bias"] = at::full({6}, NAN, at::kDouble);
  expect_msg([&] { ConvRNNCell::from_variables(CellType::GRU, bad, 5, 5); }, "NaN");
  expect_msg([&] { ConvRNNCell::from_variables(CellType::GRU, gru, 0, 5); }, "spatial size");
  // peepholes of the wrong spatial size (the layer's H x W is wrong)
  expect_msg([&] { ConvRNNCell::from_variables(CellType::LSTM, case_vars("lstm_k3_ln_peep"), 7, 7); },
             "ConvLSTMCell/peepholes/w_f_diag");
  // layer norm required but absent
  CellOptions ln;
  ln.layer_norm = true;
  expect_msg([&] { ConvRNNCell::from_variables(CellType::LSTM, case_vars("lstm_k3"), 5, 5, ln); }, "layer norm");
  // intersectionrnn needs Cin = C
  auto irnn = case_vars("intersectionrnn");
  irnn["ConvIntersectionRNNCell/weights"] = at::zeros({3, 3, 7, 12}, at::kDouble);
  expect_msg([&] { ConvRNNCell::from_variables(CellType::IntersectionRNN, irnn, 5, 5); }, "equal");
  // timedecay without a channel count
  expect_msg([&] { ConvRNNCell::from_variables(CellType::TimeDecay, case_vars("timedecay"), 5, 5); }, "channel count");
  // wrong type for the variables
  expect_msg([&] { ConvRNNCell::from_variables(CellType::UGRNN, gru, 5, 5); }, "missing variable ConvUGRNNCell/weights");
  // step with bad shapes
  const auto cell = make_cell("gru");
  expect_msg([&] { cell.step(at::zeros({1, 3, 5, 5}, at::kDouble), expected().get("gru/s")); }, "input x");
  expect_msg([&] { cell.step(expected().get("gru/x"), at::zeros({1, 3, 4, 5}, at::kDouble)); }, "state");
  expect_msg([&] { cell.step(expected().get("gru/x"), expected().get("gru/s"), CellDrive{at::zeros({1, 1, 5, 5}), {}}); },
             "residual");
  expect_msg([&] { CellJacobian(cell, expected().get("gru/x"), at::zeros({2, 3, 5, 5}, at::kDouble)); }, "batch");
}

TEST(LinearParts, SimpleRnnJacobianIsEluMaskTimesWs) {
  // simplernn without layer norm: J = diag(elu'(a)) W_s, elu'(a) = 1 (a > 0) or exp(a) = s' + 1.
  const auto cell = make_cell("simplernn");
  const auto parts = cell.linear_parts();
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].name, "s");
  SameConvOperator W(parts[0].weight, cell.height(), cell.width(), "s");
  const auto next = expected().get("simplernn/next").reshape({-1});
  const auto d = at::where(next > 0, at::ones_like(next), next + 1);
  EXPECT_LT(max_abs(d.unsqueeze(1) * W.to_dense(), expected().get("simplernn/jac")), 1e-7);
}

TEST(LinearParts, NamesShapesAndEvenKernels) {
  auto names = [](const ConvRNNCell& c) {
    std::vector<std::string> v;
    for (const auto& p : c.linear_parts()) v.push_back(p.name);
    return v;
  };
  EXPECT_EQ(names(make_cell("gru")), (std::vector<std::string>{"gates/r/h", "gates/u/h", "candidates/h"}));
  EXPECT_EQ(names(make_cell("lstm_k4_ln")), (std::vector<std::string>{"i/h", "j/h", "f/h", "o/h"}));
  EXPECT_EQ(names(make_cell("ugrnn")), (std::vector<std::string>{"g/h", "c/h"}));
  EXPECT_EQ(names(make_cell("intersectionrnn")), (std::vector<std::string>{"gh/h", "h/h", "gy/h", "y/h"}));
  EXPECT_EQ(names(make_cell("rgc_shallow")),
            (std::vector<std::string>{"cell/tau", "out/tau", "cell/gate", "out/gate"}));
  EXPECT_TRUE(make_cell("timedecay").linear_parts().empty());
  // The lstm parts are the h columns of the gate kernel: at c = 0, h = 0 perturbations dh enter i as
  // W_i,h * dh, so the part applied through SameConvOperator equals the conv of [0; dh] with the full kernel.
  const auto vars = case_vars("lstm_k4_ln");
  const auto full = vars.at("ConvLSTMCell/weights").permute({3, 2, 0, 1}).contiguous();  // OIHW (4C, Cin+C, 4, 4)
  const auto cell = make_cell("lstm_k4_ln");
  const auto part = cell.linear_parts()[2];  // f/h
  ASSERT_EQ(part.weight.sizes(), (at::IntArrayRef{3, 3, 4, 4}));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  auto dh = at::randn({1, 3, 6, 6}, gen, at::kDouble);
  auto xin = at::cat({at::zeros({1, 4, 6, 6}, at::kDouble), dh}, 1);
  auto want = conv2d_same(xin, full).narrow(1, 6, 3);
  SameConvOperator op(part.weight, 6, 6, "f/h");
  EXPECT_LT(max_abs(op.apply(dh.reshape({-1})), want.reshape({-1})), 1e-12);
  // rgc_intermediate's folded DS7: cell/tau applied = depthwise then pointwise.
  const auto rgc = make_cell("rgc_intermediate");
  const auto rv = case_vars("rgc_intermediate");
  const auto tau = rgc.linear_parts()[0];
  ASSERT_EQ(tau.weight.sizes(), (at::IntArrayRef{3, 3, 7, 7}));
  auto c = at::randn({1, 3, 6, 6}, gen, at::kDouble);
  auto dw = rv.at("ReciprocalGateCell/cell/tau/depthwise_weights").permute({2, 3, 0, 1}).contiguous();
  auto pw = rv.at("ReciprocalGateCell/cell/tau/pointwise_weights").permute({3, 2, 0, 1}).contiguous();
  auto ds = conv2d_same(conv2d_same(c, dw, {}, 3), pw);
  EXPECT_LT(max_abs(SameConvOperator(tau.weight, 6, 6).apply(c.reshape({-1})), ds.reshape({-1})), 1e-12);
}
