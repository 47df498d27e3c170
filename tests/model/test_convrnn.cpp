// ConvRNN zoo cells against the numpy reference (tests/fixtures/convrnn_reference.py): one-step updates,
// dense state Jacobians, transposes, linear parts, zoo-structure recognition and bad input.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fixture_path.hpp"
#include "linalg/error.hpp"
#include "model/checkpoint.hpp"
#include "model/convrnn_cell.hpp"
#include "model/convrnn_jacobian.hpp"
#include "model/convrnn_model.hpp"
#include "model/same_conv_operator.hpp"

using namespace convdyn;
using namespace convdyn::model;
using convdyn::testing::fixture;

namespace {

const Checkpoint& expected() {
  static const Checkpoint c = load_checkpoint(fixture("convrnn_expected.pth"));
  return c;
}

const std::vector<std::string> kCases = {"timedecay",       "simplernn",       "simplernn_ln", "gru",
                                         "lstm_k2_ln",      "lstm_k3_ln_peep", "lstm_k4_ln",   "lstm_k3",
                                         "ugrnn",           "intersectionrnn", "rgc_shallow",  "rgc_intermediate",
                                         "rgc_intermediate_plain"};

double scalar(const std::string& key) { return expected().get(key).item<double>(); }

std::map<std::string, at::Tensor> case_vars(const std::string& c) {
  std::map<std::string, at::Tensor> vars;
  const std::string p = c + "/var/";
  for (const auto& [k, t] : expected().tensors)
    if (k.compare(0, p.size(), p) == 0) vars[k.substr(p.size())] = t;
  return vars;
}

CellOptions case_options(const std::string& c) {
  CellOptions o;
  o.forget_bias = scalar(c + "/opt/forget_bias");
  o.layer_norm = scalar(c + "/opt/layer_norm") != 0;
  o.channels = expected().get(c + "/s").size(1);  // timedecay (no pre conv in the fixture)
  return o;
}

CellType case_type(const std::string& c) { return static_cast<CellType>(static_cast<int>(scalar(c + "/opt/cell_type"))); }

ConvRNNCell make_cell(const std::string& c, std::map<std::string, at::Tensor> vars = {}) {
  if (vars.empty()) vars = case_vars(c);
  return ConvRNNCell::from_variables(case_type(c), vars, static_cast<std::int64_t>(scalar(c + "/opt/height")),
                                     static_cast<std::int64_t>(scalar(c + "/opt/width")), case_options(c));
}

CellDrive case_drive(const std::string& c) {
  CellDrive d;
  if (expected().has(c + "/u")) d.u = expected().get(c + "/u");
  if (expected().has(c + "/f")) d.f = expected().get(c + "/f");
  return d;
}

double max_abs(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

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

TEST(SameConvOperator, EvenKernelsPadAfterAndTransposeIsAdjoint) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  for (std::int64_t k : {1, 2, 3, 4, 5}) {
    SCOPED_TRACE(k);
    auto w = at::randn({2, 2, k, k}, gen, at::kDouble);
    SameConvOperator op(w, 5, 4);
    auto d = op.to_dense();
    auto dt = op.apply_transpose(at::eye(op.size(), at::kDouble)).t();
    EXPECT_LT(max_abs(dt, d.t()), 1e-13);
  }
  // 2x2 kernel of ones on a 1-channel 3x3 image of ones: pad 0 before, 1 after -> bottom/right edges see less.
  SameConvOperator op(at::ones({1, 1, 2, 2}, at::kDouble), 3, 3);
  auto y = op.apply(at::ones({9}, at::kDouble)).reshape({3, 3});
  EXPECT_DOUBLE_EQ(y[0][0].item<double>(), 4);
  EXPECT_DOUBLE_EQ(y[2][2].item<double>(), 1);
  EXPECT_DOUBLE_EQ(y[0][2].item<double>(), 2);
  EXPECT_THROW(SameConvOperator(at::ones({2, 3, 3, 3}), 3, 3), ValueError);
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

// ---------------------------------------------------------------------------------------------------------
// Zoo structure

namespace {
Checkpoint zoo_from_cases(const std::vector<std::pair<std::string, std::string>>& layer_case) {
  Checkpoint ck;
  ck.path = "in-memory zoo";
  ck.format = "test";
  for (const auto& [layer, c] : layer_case)
    for (const auto& [n, t] : case_vars(c)) ck.tensors["tnn_model/" + layer + "/" + n] = t;
  for (const auto& [n, t] : ck.tensors) ck.names.push_back(n);
  return ck;
}
}  // namespace

TEST(ZooModel, RecognisesLstmShallowConfigFromNamesAndKernels) {
  auto ck = zoo_from_cases({{"conv3", "lstm_k2_ln"}, {"conv4", "lstm_k3_ln_peep"}, {"conv5", "lstm_k4_ln"}});
  ck.tensors["tnn_model/conv3/ConvLSTMCell/weights/Momentum"] = at::zeros({1});
  ck.tensors["global_step"] = at::zeros({}, at::kLong);
  ck.tensors["tnn_model/conv1/pre_0/weights_basenet"] = at::zeros({7, 7, 3, 4});
  ASSERT_TRUE(looks_like_convrnn(ck));
  ZooOptions opt;
  opt.sizes = {{"conv3", {5, 5}}, {"conv4", {5, 5}}, {"conv5", {6, 6}}};
  const auto zoo = load_convrnn(ck, opt);
  EXPECT_EQ(zoo.family, "lstm_shallow");
  ASSERT_EQ(zoo.layer_names(), (std::vector<std::string>{"conv3", "conv4", "conv5"}));
  const std::vector<std::string> cases = {"lstm_k2_ln", "lstm_k3_ln_peep", "lstm_k4_ln"};
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& L = zoo.layers[i];
    EXPECT_EQ(L.type, CellType::LSTM);
    EXPECT_NE(L.config_source.find("lstm_shallow"), std::string::npos);
    EXPECT_DOUBLE_EQ(L.cell.options().forget_bias, scalar(cases[i] + "/opt/forget_bias"));
    EXPECT_EQ(L.geometry_source.rfind("--size", 0), 0u);
    const auto next = L.cell.step(expected().get(cases[i] + "/x"), expected().get(cases[i] + "/s"));
    EXPECT_LT(max_abs(next, expected().get(cases[i] + "/next")), 1e-10);
  }
  EXPECT_TRUE(zoo.layers[1].cell.peepholes());
  EXPECT_THROW(zoo.layer("conv9"), ValueError);
  // Without the override, the shallow geometry (28 for conv3) does not fit conv4's 5x5 peepholes.
  try {
    load_convrnn(ck);
    ADD_FAILURE() << "no exception";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("layer conv4"), std::string::npos) << e.what();
  }
}

TEST(ZooModel, GeometryByDepthAndTypes) {
  auto ck = zoo_from_cases({{"conv4", "gru"}, {"conv5", "gru"}, {"conv8", "gru"}});
  auto zoo = load_convrnn(ck);
  EXPECT_EQ(zoo.family, "gru_intermediate");
  EXPECT_EQ(zoo.layers[0].height, 56);
  EXPECT_EQ(zoo.layers[1].height, 28);
  EXPECT_EQ(zoo.layers[2].height, 7);
  EXPECT_EQ(zoo.layers[2].geometry_source, "intermediate geometry");
  ZooOptions one;
  one.size = std::make_pair<std::int64_t, std::int64_t>(5, 5);
  zoo = load_convrnn(ck, one);
  EXPECT_EQ(zoo.layers[2].height, 5);
  EXPECT_EQ(zoo.layers[2].geometry_source, "--size");

  auto rgc = load_convrnn(zoo_from_cases({{"conv5", "rgc_intermediate"}}));
  EXPECT_EQ(rgc.family, "rgc_intermediate");
  EXPECT_EQ(rgc.layers[0].type, CellType::RGCIntermediate);
  EXPECT_EQ(rgc.layers[0].height, 28);
  auto rgcs = load_convrnn(zoo_from_cases({{"conv3", "rgc_shallow"}, {"conv5", "rgc_shallow"}}));
  EXPECT_EQ(rgcs.family, "rgc_shallow");
  EXPECT_EQ(rgcs.layers[1].height, 7);

  // timedecay: cell layers are the depth's cell layers holding memory_decay; channels from pre_0
  Checkpoint td;
  td.path = "td";
  for (const char* l : {"conv1", "conv2", "conv3", "conv4", "conv5"}) {
    td.tensors[fmt::format("tnn_model/{}/memory_decay", l)] = at::full({1}, 0.25);
    td.tensors[fmt::format("tnn_model/{}/pre_0/weights_basenet", l)] = at::zeros({3, 3, 2, 4});
  }
  auto tz = load_convrnn(td);
  EXPECT_EQ(tz.family, "timedecay_shallow");
  EXPECT_EQ(tz.layer_names(), (std::vector<std::string>{"conv3", "conv4", "conv5"}));
  EXPECT_EQ(tz.layers[0].cell.state_channels(), 4);
  EXPECT_DOUBLE_EQ(tz.layers[0].cell.memory_decay(), 0.25);

  // mixed cell types within a layer
  auto mixed = zoo_from_cases({{"conv3", "gru"}});
  for (const auto& [n, t] : case_vars("ugrnn")) mixed.tensors["tnn_model/conv3/" + n] = t;
  EXPECT_THROW(load_convrnn(mixed), ValueError);
  // not a zoo checkpoint
  Checkpoint other;
  other.tensors["rnn.weight"] = at::zeros({2, 2, 3, 3});
  EXPECT_FALSE(looks_like_convrnn(other));
  EXPECT_THROW(load_convrnn(other), ValueError);
}

// Zoo-shaped TF bundles written by make_convrnn_fixtures.py (through tf_bundle_writer.py), read through
// load_checkpoint: fixed point at x = 0 and dense Jacobian against the reference.
TEST(ZooModel, BundlesMatchReference) {
  const auto dir = fixture("convrnn");
  if (!std::filesystem::exists(dir + "/expected.pth")) GTEST_SKIP() << "no zoo bundles in " << dir;
  const auto exp = load_checkpoint(dir + "/expected.pth");
  std::set<std::string> bundles;
  for (const auto& [k, t] : exp.tensors) bundles.insert(k.substr(0, k.find('/')));
  for (const auto& b : bundles) {
    SCOPED_TRACE(b);
    Checkpoint ck;
    try {
      ck = load_checkpoint(dir + "/" + b + "/model.ckpt");
    } catch (const Error& e) {
      GTEST_SKIP() << "the checkpoint reader does not read TF bundles yet: " << e.what();
    }
    ASSERT_TRUE(looks_like_convrnn(ck));
    EXPECT_EQ(ck.format, "tf-bundle");
    ZooOptions opt;  // the spatial size of each layer: that of its expected fixed point (--size)
    for (const auto& [k, t] : exp.tensors) {
      const auto p = b + "/";
      if (k.compare(0, p.size(), p) == 0 && k.size() > 12 && k.compare(k.size() - 12, 12, "/fixed_point") == 0)
        opt.sizes[k.substr(p.size(), k.size() - 12 - p.size())] = {t.size(2), t.size(3)};
    }
    const auto zoo = load_convrnn(ck, opt);
    EXPECT_EQ(zoo.layers.size(), opt.sizes.size());
    EXPECT_EQ(zoo.family.substr(0, zoo.family.rfind('_')), b.substr(0, b.rfind('_')));
    for (const auto& L : zoo.layers) {
      SCOPED_TRACE(L.name);
      const auto key = b + "/" + L.name;
      ASSERT_TRUE(exp.has(key + "/jac"));
      CellFixedPointOptions fo;
      fo.tol = 1e-13;
      const auto fp = find_cell_fixed_point(L.cell, {}, {}, fo);
      EXPECT_TRUE(fp.converged) << fp.status;
      EXPECT_LT(max_abs(fp.state, exp.get(key + "/fixed_point")), 1e-9);
      CellJacobian J(L.cell, {}, fp.state);
      const auto dense = J.to_dense();
      const double err = max_abs(dense, exp.get(key + "/jac"));
      EXPECT_LT(err, 1e-7);
      // spectral radius against the reference's eigenvalues
      const double rho = at::linalg_eigvals(dense).abs().max().item<double>();
      const double rho_ref =
          at::sqrt(exp.get(key + "/eigvals_real").square() + exp.get(key + "/eigvals_imag").square()).max().item<double>();
      EXPECT_NEAR(rho, rho_ref, 1e-7);
      std::printf("  bundle %-26s %-7s %-60s jac max |err| %.2e\n", b.c_str(), L.name.c_str(),
                  L.cell.describe().c_str(), err);
    }
  }
}
