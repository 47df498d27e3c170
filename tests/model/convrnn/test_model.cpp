// Recognising a zoo model from its variables (types, depth, geometry, the lstm_shallow config), and the
// committed zoo-shaped TF bundles against the reference.
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

TEST(ConvRNNModel, RecognisesLstmShallowConfigFromNamesAndKernels) {
  auto ck = zoo_from_cases({{"conv3", "lstm_k2_ln"}, {"conv4", "lstm_k3_ln_peep"}, {"conv5", "lstm_k4_ln"}});
  ck.tensors["tnn_model/conv3/ConvLSTMCell/weights/Momentum"] = at::zeros({1});
  ck.tensors["global_step"] = at::zeros({}, at::kLong);
  ck.tensors["tnn_model/conv1/pre_0/weights_basenet"] = at::zeros({7, 7, 3, 4});
  ASSERT_TRUE(looks_like_convrnn(ck));
  ConvRNNOptions opt;
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

TEST(ConvRNNModel, GeometryByDepthAndTypes) {
  auto ck = zoo_from_cases({{"conv4", "gru"}, {"conv5", "gru"}, {"conv8", "gru"}});
  auto zoo = load_convrnn(ck);
  EXPECT_EQ(zoo.family, "gru_intermediate");
  EXPECT_EQ(zoo.layers[0].height, 56);
  EXPECT_EQ(zoo.layers[1].height, 28);
  EXPECT_EQ(zoo.layers[2].height, 7);
  EXPECT_EQ(zoo.layers[2].geometry_source, "intermediate geometry");
  ConvRNNOptions one;
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
TEST(ConvRNNModel, BundlesMatchReference) {
  const auto dir = fixture("convrnn");
  ASSERT_TRUE(std::filesystem::exists(dir + "/expected.pth")) << "the committed zoo bundles are missing: " << dir;
  const auto exp = load_checkpoint(dir + "/expected.pth");
  std::set<std::string> bundles;
  for (const auto& [k, t] : exp.tensors) bundles.insert(k.substr(0, k.find('/')));
  for (const auto& b : bundles) {
    SCOPED_TRACE(b);
    const Checkpoint ck = load_checkpoint(dir + "/" + b + "/model.ckpt");
    ASSERT_TRUE(looks_like_convrnn(ck));
    EXPECT_EQ(ck.format, "tf-bundle");
    ConvRNNOptions opt;  // the spatial size of each layer: that of its expected fixed point (--size)
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
