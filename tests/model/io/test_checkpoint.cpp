// Checkpoint loading: state-dict discovery, explicit keys, weight normalisation against PyTorch, SHA-256.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "fixture_path.hpp"
#include "linalg/error.hpp"
#include "model/io/checkpoint.hpp"
#include "model/cordsnet/detect.hpp"

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
