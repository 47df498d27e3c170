#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "fixture_path.hpp"
#include "linalg/error.hpp"
#include "model/checkpoint.hpp"
#include "model/network.hpp"

using namespace convdyn;
using namespace convdyn::model;
using convdyn::testing::fixture;

namespace {
// Weights PyTorch computed (torch._weight_norm in float64) for every fixture: '<stem>/<module>.weight'.
const Checkpoint& expected() {
  static const Checkpoint c = load_checkpoint(fixture("expected_weights.pth"));
  return c;
}
}  // namespace

class WeightNorm : public ::testing::TestWithParam<const char*> {};

TEST_P(WeightNorm, MatchesPyTorchInFloat64) {
  const std::string stem = GetParam();
  const auto ckpt = load_checkpoint(fixture(stem + ".pth"));
  int checked = 0;
  for (const auto& name : expected().names) {
    if (name.rfind(stem + "/", 0) != 0) continue;
    std::string module = name.substr(stem.size() + 1);
    module = module.substr(0, module.size() - std::string(".weight").size());
    auto w = resolve_weight(ckpt, module);
    ASSERT_TRUE(w.has_value()) << module;
    const auto& ref = expected().get(name);
    ASSERT_EQ(w->weight.sizes(), ref.sizes()) << module;
    EXPECT_EQ(w->weight.scalar_type(), at::kDouble);
    const double err = (w->weight - ref).abs().max().item<double>();
    EXPECT_LE(err, 1e-14 * std::max(1.0, ref.abs().max().item<double>())) << module;
    ++checked;
  }
  EXPECT_GE(checked, 4) << "no expected weights for " << stem;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, WeightNorm,
                         ::testing::Values("cordsnet_d4_param_module", "cordsnet_d4_legacy_module",
                                           "cordsnet_d4_param_train", "cordsnet_d4_legacy_train",
                                           "cordsnet_d2_plain", "cordsnet_d2_float64"));

TEST(Checkpoint, FindsTheStateDictInTrainingCheckpoints) {
  auto a = load_checkpoint(fixture("cordsnet_d4_param_train.pth"));
  EXPECT_EQ(a.state_key, "model_state_dict");
  EXPECT_EQ(a.stripped_prefix, "module.");
  EXPECT_TRUE(a.has("area_conv.0.parametrizations.weight.original1"));
  auto b = load_checkpoint(fixture("cordsnet_d4_legacy_train.pth"));
  EXPECT_EQ(b.state_key, "state_dict");
  EXPECT_TRUE(b.has("area_conv.3.weight_v"));
  EXPECT_EQ(b.sha256.size(), 64u);
}

TEST(Checkpoint, ExplicitKey) {
  LoadOptions o;
  o.key = "model_state_dict";
  EXPECT_EQ(load_checkpoint(fixture("cordsnet_d4_param_train.pth"), o).state_key, "model_state_dict");
  o.key = "optimizer_state_dict";  // a dict, but no tensors at its top level
  EXPECT_THROW(load_checkpoint(fixture("cordsnet_d4_param_train.pth"), o), ValueError);
  o.key = "nope";
  try {
    load_checkpoint(fixture("cordsnet_d4_param_train.pth"), o);
    ADD_FAILURE();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("'epoch'"), std::string::npos) << e.what();  // lists what exists
  }
}

TEST(Checkpoint, NoStateDict) {
  try {
    load_checkpoint(fixture("bad_no_state_dict.pth"));
    ADD_FAILURE();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("--key"), std::string::npos);
  }
}

TEST(Checkpoint, Sha256OfAKnownString) {
  const auto path = std::string(::testing::TempDir()) + "/convdyn_sha.txt";
  FILE* f = std::fopen(path.c_str(), "wb");
  std::fputs("abc", f);
  std::fclose(f);
  EXPECT_EQ(sha256_file(path), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Network, DetectsCordsNetOfAnyDepth) {
  auto d4 = detect_cordsnet(load_checkpoint(fixture("cordsnet_d4_param_module.pth")));
  ASSERT_TRUE(d4.has_value());
  ASSERT_EQ(d4->layers.size(), 4u);
  const auto& l2 = d4->layer("area_conv.2");
  EXPECT_EQ(l2.channels, 4);
  EXPECT_EQ(l2.height, 4);
  EXPECT_EQ(l2.width, 4);
  EXPECT_EQ(l2.kernel, 3);
  EXPECT_EQ(l2.n(), 64);
  EXPECT_EQ(&d4->layer("area_conv.2.weight"), &l2);
  auto d2 = detect_cordsnet(load_checkpoint(fixture("cordsnet_d2_plain.pth")));
  ASSERT_TRUE(d2.has_value());
  EXPECT_EQ(d2->layers.size(), 2u);
  EXPECT_EQ(d2->layers[1].parametrisation, "plain");
  EXPECT_FALSE(detect_cordsnet(load_checkpoint(fixture("generic_kernels.pth"))).has_value());
}

TEST(Network, UnknownLayerListsTheValidOnes) {
  auto net = detect_cordsnet(load_checkpoint(fixture("cordsnet_d4_param_module.pth")));
  try {
    net->layer("area_conv.9");
    ADD_FAILURE();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("area_conv.0, area_conv.1, area_conv.2, area_conv.3"), std::string::npos)
        << e.what();
  }
}

TEST(Network, GenericKernelByKey) {
  auto ckpt = load_checkpoint(fixture("generic_kernels.pth"));
  auto l = kernel_layer(ckpt, "rnn.weight", 6, 7);
  EXPECT_EQ(l.name, "rnn");
  EXPECT_EQ(l.n(), 5 * 6 * 7);
  EXPECT_EQ(kernel_layer(ckpt, "rnn", 6, 7).n(), 5 * 6 * 7);
  EXPECT_EQ(kernel_layer(ckpt, "big.weight", 4, 4).kernel, 5);
  EXPECT_THROW(kernel_layer(ckpt, "nonsquare.weight", 4, 4), ValueError);
  EXPECT_THROW(kernel_layer(ckpt, "even.weight", 4, 4), ValueError);
  EXPECT_THROW(kernel_layer(ckpt, "rect.weight", 4, 4), ValueError);
  EXPECT_THROW(kernel_layer(ckpt, "vector", 4, 4), ValueError);
  EXPECT_THROW(kernel_layer(ckpt, "nan.weight", 4, 4), ValueError);
  EXPECT_THROW(kernel_layer(ckpt, "missing", 4, 4), ValueError);
  EXPECT_THROW(kernel_layer(ckpt, "rnn.weight", 0, 4), ValueError);
}

TEST(Network, BadWeightsNameTheFileAndTensor) {
  struct Case { const char* file; const char* needle; };
  for (const auto& c : {Case{"bad_nan_weights.pth", "NaN"}, Case{"bad_inf_bias.pth", "Inf"},
                        Case{"bad_even_kernel.pth", "even"}}) {
    try {
      detect_cordsnet(load_checkpoint(fixture(c.file)));
      ADD_FAILURE() << c.file;
    } catch (const ValueError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(c.file), std::string::npos) << msg;
      EXPECT_NE(msg.find(c.needle), std::string::npos) << msg;
    }
  }
}
